#!/usr/bin/env bash
# run-wrapped.sh - one checked run of offload-wrapped, for the ctests:
#
#   run-wrapped.sh WRAPPED COMPARE POLICY EXPECTED OUT WHERE [offload options...]
#
# Runs WRAPPED (offload-wrapped) with the policy POLICY, every call of fir,
# fft and mag offered to the runtime (QUIVER_WRAP_MIN_BYTES=0) and kept to
# the device classes WHERE (QUIVER_WRAP_WHERE; "all" for no limit), writing
# OUT; then COMPARE (offload-compare) against EXPECTED, the plain program's
# output for the same options. Exits 0 when the outputs agree and, with
# WHERE one class, a device of that class ran tasks; 77 (skipped) when no
# device of that class exists; else 1 (2: bad arguments).
set -euo pipefail
if (($# < 6)); then
    sed -n '4p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
wrapped=$1 compare=$2 policy=$3 expected=$4 out=$5 where=$6
shift 6
env=(QV_CONFIG="$policy" QUIVER_WRAP_MIN_BYTES=0 QUIVER_WRAP_STATS=1)
[ "$where" = all ] || env+=(QUIVER_WRAP_WHERE="$where")
env "${env[@]}" "$wrapped" "$@" --out "$out" 2>"$out.log"
cat "$out.log"
"$compare" "$expected" "$out"
[ "$where" = all ] && exit 0
# "quiver wrap: device 1 NAME (gpu, opencl): 16 tasks"
if ! grep -q "^quiver wrap: device [0-9]* .* ($where, [a-z]*): [0-9]* tasks" "$out.log"; then
    echo "run-wrapped: no $where device: skipped"
    exit 77
fi
grep -q "^quiver wrap: device [0-9]* .* ($where, [a-z]*): [1-9][0-9]* tasks" "$out.log" ||
    { echo "run-wrapped: the $where device ran no task" >&2; exit 1; }
echo "run-wrapped: the $where device ran tasks; the output is the plain program's"
