#!/usr/bin/env bash
# bootstrap.sh - set up a fresh Debian 12 machine (as root) and build Quiver.
#
#   bash tools/bootstrap.sh demo      install what is missing, build, run the demo
#   bash tools/bootstrap.sh test      install, build with -Werror, run every test,
#                                     the install check, and the suite again under
#                                     address+undefined sanitizers
#   bash tools/bootstrap.sh sanitize  the suite under address+undefined, then thread
#   bash tools/bootstrap.sh install-check [DIR]  only the install check, of build/
#                                     or DIR (already built)
#
# Build trees: build/ (release), build-asan/, build-tsan/. JOBS sets the
# parallelism (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

# locales: the sources localedef makes a decimal-comma locale from, for the
# tests of files written and read under a program's locale (none is generated
# here; the tests make theirs in a scratch directory).
PACKAGES=(cmake make gcc pkg-config libc6-dev
          libhwloc-dev libmetis-dev libzmq3-dev libyaml-dev libexpat1-dev libcmocka-dev
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          libxrt-dev libxrt1 libstarpu-dev locales)

install_deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "== installing: ${missing[*]}"
        if [ "$(id -u)" != 0 ]; then
            echo "bootstrap: run as root to install packages" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# build DIR [cmake options...]
build() {
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$ROOT/$dir" -DQV_WERROR=ON "$@" >/dev/null
    cmake --build "$ROOT/$dir" -j "$JOBS"
}

# ctest_in DIR [ctest options...]
ctest_in() {
    local dir=$1
    shift
    # Tests keep their caches inside the build tree, never in $HOME.
    XDG_CACHE_HOME="$ROOT/$dir/cache" STARPU_HOME="$ROOT/$dir/starpu-home" \
        ctest --test-dir "$ROOT/$dir" --output-on-failure --timeout 300 -j "$JOBS" "$@"
}

# install_check [BUILD_DIR]: what a user gets from `cmake --install`. Installs
# to a temporary prefix; builds examples/link-installed against it both ways
# (find_package(quiver) and pkg-config quiver) and runs it with no
# configuration (QV_CONFIG unset): it must see the CPU, the OpenCL device and
# the emulated U250 of the installed default policy and run the catalog's
# vadd on the board. Then copies the prefix elsewhere and, with the source
# and build trees hidden where the system allows (unshare), runs the copy's
# quiver-signal and `quiver devices`: they find libquiver by RUNPATH and
# share/quiver relative to themselves.
install_check() {
    local build=${1:-build}
    [[ $build == /* ]] || build=$ROOT/$build
    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/quiver-install.XXXXXX")
    tmp=$(cd "$tmp" && pwd -P)
    local prefix=$tmp/prefix
    echo "== install check: cmake --install to $prefix"
    cmake --install "$build" --prefix "$prefix" >/dev/null
    test -f "$prefix/share/quiver/quiver.yaml"
    ls "$prefix"/share/quiver/bitstreams/emu/*/vadd.xclbin >/dev/null
    echo "== install check: find_package(quiver) and pkg-config quiver, no configuration"
    cmake -S "$ROOT/examples/link-installed" -B "$tmp/link" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
    cmake --build "$tmp/link" >/dev/null
    local libdir
    libdir=$(dirname "$(find "$prefix" -name 'libquiver.so' | head -n 1)")
    (
        unset QV_CONFIG
        cd "$tmp"
        XDG_CACHE_HOME="$tmp/cache" LD_LIBRARY_PATH="$libdir" \
            "$tmp/link/hello_quiver" --default-platform
        local pc
        pc=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs quiver)
        # shellcheck disable=SC2086
        cc -std=c11 -Wall -Werror "$ROOT/examples/link-installed/main.c" $pc \
            -o "$tmp/link/hello_quiver_pc"
        XDG_CACHE_HOME="$tmp/cache" LD_LIBRARY_PATH="$libdir" "$tmp/link/hello_quiver_pc"
    )
    echo "== install check: quiver_add_emu_kernel() of the package (examples/emu-kernel)"
    cmake -S "$ROOT/examples/emu-kernel" -B "$tmp/emu" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
    cmake --build "$tmp/emu" >/dev/null
    (cd "$tmp" && XDG_CACHE_HOME="$tmp/cache" LD_LIBRARY_PATH="$libdir" \
        "$tmp/emu/quiver-emu-kernel" "$tmp/emu/saxpy-policy.yaml")
    echo "== install check: a copy of the prefix, without LD_LIBRARY_PATH or QV_CONFIG"
    cp -a "$prefix" "$tmp/moved"
    local run=(env -u QV_CONFIG -u LD_LIBRARY_PATH XDG_CACHE_HOME="$tmp/cache" QV_LOG=info)
    local hide=()
    if unshare -r -m true 2>/dev/null; then
        hide=(unshare -r -m sh -c 'mount -t tmpfs none "$0" && exec "$@"' "$ROOT")
        echo "   (source and build trees hidden under a tmpfs)"
    fi
    (
        cd "$tmp"
        "${hide[@]}" "${run[@]}" "$tmp/moved/bin/quiver-signal" --frames 8 --out "$tmp/out" \
            2>"$tmp/signal.log"
        # The policy it read is the copy's own.
        grep -q "runtime policy $tmp/moved/" "$tmp/signal.log" ||
            { cat "$tmp/signal.log"; echo "install check: the copy did not read its own policy" >&2; exit 1; }
        "${hide[@]}" "${run[@]}" "$tmp/moved/bin/quiver" devices | tee "$tmp/devices.txt"
        grep -q "alveo-u250-emu" "$tmp/devices.txt"
        "${hide[@]}" "${run[@]}" "$tmp/moved/bin/quiver" plan --graph "$tmp/out/signal.qvg.json" \
            --platform "$tmp/moved/share/quiver/platforms/ws8-gpu-2fpga.yaml" >/dev/null
    )
    rm -rf "$tmp"
}

# The build must not write into the source tree: what git sees (untracked
# and ignored files outside build*/) before and after.
source_snapshot() {
    if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$ROOT" status --porcelain --ignored --untracked-files=all |
            grep -v -E '^(\?\?|!!) (build[^/]*|_install[^/]*)/' || true
    fi
}

case "${1:-}" in
demo)
    install_deps
    build build
    # No --config: the programs read the build tree's default policy
    # (build/share/quiver/quiver.yaml), as installed ones read their own.
    echo "== demo 1: a signal chain on the CPU, OpenCL (PoCL) and an emulated Alveo U250"
    XDG_CACHE_HOME="$ROOT/build/cache" "$ROOT/build/examples/signal/quiver-signal" \
        --out "$ROOT/build/demo"
    echo
    echo "== demo 2: the signal chain again, with a second emulated U250 served by quiverd on loopback"
    XDG_CACHE_HOME="$ROOT/build/cache" bash "$ROOT/examples/signal/remote-demo.sh" \
        "$ROOT/build/examples/signal/quiver-signal" "$ROOT/build/host/tools/quiverd/quiverd" \
        "$ROOT/build/host/quiver" "$ROOT/build/share/quiver" "$ROOT/build/demo/remote"
    echo
    echo "== demo 3: a tiled Cholesky factorisation on the CPU and OpenCL"
    XDG_CACHE_HOME="$ROOT/build/cache" "$ROOT/build/examples/cholesky/quiver-cholesky" \
        --out "$ROOT/build/demo"
    # On a fresh machine that run was the first: each function was tried on
    # every device and PoCL built its kernels. A program run again keeps both.
    echo
    echo "== demo 3 again: the performance models and PoCL's kernels of the run above kept"
    XDG_CACHE_HOME="$ROOT/build/cache" "$ROOT/build/examples/cholesky/quiver-cholesky" \
        --out "$ROOT/build/demo"
    echo
    echo "== demo 4: a program written without Quiver, profiled, wrapped and run on the CPU, OpenCL and the emulated U250"
    XDG_CACHE_HOME="$ROOT/build/cache" bash "$ROOT/examples/offload/offload-demo.sh" \
        "$ROOT/build/examples/offload" "$ROOT/build/host/quiver" "$ROOT/build/demo/offload"
    ;;
test)
    install_deps
    before=$(source_snapshot)
    echo "== build (warnings are errors)"
    build build
    echo "== tests (the install check among them: ctest -R install_check)"
    ctest_in build
    after=$(source_snapshot)
    if [ "$before" != "$after" ]; then
        echo "bootstrap: the build or the tests wrote into the source tree:" >&2
        diff <(echo "$before") <(echo "$after") >&2 || true
        exit 1
    fi
    echo "== tests under address+undefined sanitizers"
    build build-asan -DQV_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DQV_BUILD_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" ctest_in build-asan
    ;;
sanitize)
    install_deps
    build build-asan -DQV_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DQV_BUILD_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" ctest_in build-asan
    build build-tsan -DQV_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug -DQV_BUILD_BENCH=OFF
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$ROOT/tests/tsan.supp" \
        ctest_in build-tsan
    ;;
install-check)
    install_check "${2:-build}"
    ;;
*)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
