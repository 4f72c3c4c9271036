#!/bin/sh
# spaced_path.sh QUIVER PROFILE_LIB WORK CATALOG - quiver profile installed
# under a directory whose path has a space and a colon, which ld.so would
# split LD_PRELOAD at: the program is still profiled, and the link that
# carries the library is gone afterwards.
set -u
Q=$1 LIB=$2 WORK=$3 CAT=$4
D=$(mktemp -d "${TMPDIR:-/tmp}/qvprof.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/my tools:x/host"
cp "$Q" "$LIB" "$D/my tools:x/host/" || exit 1
before=$(ls -d /tmp/quiver-preload.* 2>/dev/null | wc -l)
cd "$D" || exit 1
timeout 60 "$D/my tools:x/host/$(basename "$Q")" profile --out p --catalog "$CAT" \
    -- "$WORK" >"$D/out" 2>&1
rc=$?
fails=0
[ $rc -eq 0 ] || { echo "FAIL: exit $rc: $(cat "$D/out")"; fails=1; }
grep -q "Call paths" "$D/out" || { echo "FAIL: no profile: $(cat "$D/out")"; fails=1; }
after=$(ls -d /tmp/quiver-preload.* 2>/dev/null | wc -l)
[ "$after" -le "$before" ] || { echo "FAIL: the preload link's directory was left"; fails=1; }
exit $fails
