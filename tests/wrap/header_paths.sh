#!/bin/sh
# header_paths.sh QUIVER CATALOG CC INCLUDE_DIR - quiver wrap --header with
# paths an #include "..." must carry as they are: a UTF-8 directory name
# gives a file that compiles (it was written with C string escapes, which
# #include does not have), and a path that reaches a quote only once
# resolved (a link to a directory named a"b) is refused.
set -u
Q=$1 CAT=$2 CC=$3 INC=$4
D=$(mktemp -d "${TMPDIR:-/tmp}/qvwrap.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
fails=0
mkdir "$D/données" "$D/a\"b"
for dir in "données" "a\"b"; do
    printf 'void vadd(const float *a, const float *b, float *out, unsigned n);\n' \
        >"$D/$dir/dsp.h"
done
ln -s "$D/a\"b" "$D/plain"
timeout 20 "$Q" wrap --catalog "$CAT" --functions vadd --header "$D/données/dsp.h" \
    -o "$D/w.c" || { echo "FAIL: wrap with a UTF-8 header path"; fails=1; }
"$CC" -std=c11 -fsyntax-only -I"$INC" "$D/w.c" ||
    { echo "FAIL: the file for a UTF-8 header path does not compile"; fails=1; }
timeout 20 "$Q" wrap --catalog "$CAT" --functions vadd --header "$D/plain/dsp.h" \
    -o "$D/never.c" 2>"$D/err"
rc=$?
[ $rc -eq 2 ] || { echo "FAIL: a header reaching a quote through a link: exit $rc"; fails=1; }
grep -q 'a"b/dsp.h): a quote, a backslash or a control character' "$D/err" ||
    { echo "FAIL: the refusal does not name the resolved path: $(cat "$D/err")"; fails=1; }
[ -e "$D/never.c" ] && { echo "FAIL: a refused wrap wrote its file"; fails=1; }
exit $fails
