#!/bin/bash
# expect.sh PHRASE... -- COMMAND...: runs COMMAND and passes when each
# PHRASE appears in its output (standard output and error together) with
# every run of white space taken as one space, so that CMake's line
# wrapping of messages does not matter. Prints the output.
set -u
phrases=()
while (($#)) && [[ $1 != -- ]]; do
    phrases+=("$1")
    shift
done
shift
out=$("$@" 2>&1)
printf '%s\n' "$out"
flat=$(printf '%s' "$out" | tr -s ' \n\t' '   ')
rc=0
for p in "${phrases[@]}"; do
    if [[ $flat != *"$p"* ]]; then
        echo "expect.sh: missing: $p"
        rc=1
    fi
done
exit $rc
