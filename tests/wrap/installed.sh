#!/bin/bash
# installed.sh BUILD_DIR: quiver_wrap() from an installed package. Installs
# the build to a temporary prefix, builds tests/wrap/app on its own with
# find_package(quiver) (the helper, the installed quiver tool and catalog),
# runs the wrapped program with no configuration (the installed default
# policy) and checks that its calls ran in the runtime and that its output
# equals the unwrapped program's within a float tolerance.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quiver-wrap-installed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/wrap/app" -B "$tmp/app" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
cmake --build "$tmp/app" 2>&1 | grep -v '^\[' || true
test -x "$tmp/app/wrap_app"
libdir=$(dirname "$(find "$tmp/prefix" -name 'libquiver.so' | head -n 1)")
unset QV_CONFIG
export XDG_CACHE_HOME=$tmp/cache LD_LIBRARY_PATH=$libdir
"$tmp/app/wrap_app_plain" "$tmp/ref.bin" basic
QUIVER_WRAP_STATS=1 QUIVER_WRAP_MIN_BYTES=0 "$tmp/app/wrap_app" "$tmp/got.bin" basic \
    2>"$tmp/stats.log"
cat "$tmp/stats.log"
grep -q "quiver wrap: fir: 1 calls: 1 to the runtime" "$tmp/stats.log"
grep -q "quiver wrap: vadd: 1 calls: 1 to the runtime" "$tmp/stats.log"
paste <(od -An -v -f -w4 "$tmp/ref.bin") <(od -An -v -f -w4 "$tmp/got.bin") | awk '
    { d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (m < 1) m = 1
      if (d > 1e-4 * m) { bad++; if (bad <= 5) print "value " NR-1 ": " $2 ", expected " $1 } }
    END { if (NR == 0 || bad) { print bad+0 " of " NR " values differ"; exit 1 }
          print NR " values equal within 1e-4" }'
"$tmp/app/wrap_app_record" "$tmp/rec.bin" basic
cmp "$tmp/ref.bin" "$tmp/rec.bin"
echo "wrap installed: ok"
