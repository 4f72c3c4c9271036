#!/usr/bin/env bash
# bootstrap.sh - set up a fresh Debian 12 machine (as root) and build Quiver.
#
#   bash tools/bootstrap.sh demo      install what is missing, build, run the demo
#   bash tools/bootstrap.sh test      install, build with -Werror, run every test,
#                                     the install check, and the suite again under
#                                     address+undefined sanitizers
#   bash tools/bootstrap.sh sanitize  the suite under address+undefined, then thread
#
# Build trees: build/ (release), build-asan/, build-tsan/. JOBS sets the
# parallelism (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

PACKAGES=(cmake make gcc pkg-config libc6-dev
          libhwloc-dev libmetis-dev libzmq3-dev libyaml-dev libexpat1-dev libcmocka-dev
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          libxrt-dev libxrt1 libstarpu-dev)

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

# An application outside this tree links the installed library both ways.
install_check() {
    local prefix=$ROOT/build/_install
    echo "== install check: find_package(quiver) and pkg-config quiver"
    rm -rf "$prefix" "$ROOT/build/link-installed"
    cmake --install "$ROOT/build" --prefix "$prefix" >/dev/null
    cmake -S "$ROOT/examples/link-installed" -B "$ROOT/build/link-installed" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
    cmake --build "$ROOT/build/link-installed" >/dev/null
    LD_LIBRARY_PATH="$prefix/lib" "$ROOT/build/link-installed/hello_quiver"
    local pc
    pc=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs quiver)
    # shellcheck disable=SC2086
    cc -std=c11 -Wall -Werror "$ROOT/examples/link-installed/main.c" $pc \
        -o "$ROOT/build/link-installed/hello_quiver_pc"
    LD_LIBRARY_PATH="$prefix/lib" "$ROOT/build/link-installed/hello_quiver_pc"
}

case "${1:-}" in
demo)
    install_deps
    build build
    echo "== demo 1: a signal chain on the CPU, OpenCL (PoCL) and an emulated Alveo U250"
    XDG_CACHE_HOME="$ROOT/build/cache" "$ROOT/build/examples/signal/signal" \
        --config "$ROOT/config/quiver.yaml" --out "$ROOT/build/demo"
    echo
    echo "== demo 2: a tiled Cholesky factorisation on the CPU and OpenCL"
    XDG_CACHE_HOME="$ROOT/build/cache" "$ROOT/build/examples/cholesky/cholesky" \
        --out "$ROOT/build/demo"
    ;;
test)
    install_deps
    echo "== build (warnings are errors)"
    build build
    echo "== tests"
    ctest_in build
    install_check
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
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest_in build-tsan
    ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
