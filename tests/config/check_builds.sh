#!/bin/sh
# `quiver check` opens a catalog's builds: a catalog whose argument type
# disagrees with its xclbin (out: double for the kernel's float*), one
# whose build is for another board's platform (the U250 build for an
# emulated U280) and one that names a kernel the xclbin does not hold are
# refused with the catalog's file, line and what differs, and so is a
# policy that names such a catalog; the shipped catalog passes. An
# emulated board's build that is not what the board runs is refused for
# what is wrong with it: an hw_emu or hardware build, an sw_emu build
# without its host library, one whose BITSTREAM is not a shared library
# (each was "not an emulation build").
# usage: check_builds.sh QUIVER SHARE_DIR
set -u
quiver=$1
share=$(cd "$2" && pwd) || exit 1
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
x=$share/bitstreams/emu/xilinx_u250_gen3x16_xdma_4_1_202210_1/vadd.xclbin
cat > "$d/u280-emu.yaml" <<YAML
name: my-u280-emu
kind: fpga
platform: xilinx_u280_gen3x16_xdma_1_202211_1
emulation: true
clock_mhz: 300
memory: [{type: HBM2, size: 8 GiB}]
link: {bandwidth_gbs: 12, latency_us: 2}
YAML
catalog() { # FILE KERNEL OUT_TYPE BOARD [XCLBIN]
    cat > "$1" <<YAML
boards: [$share/boards/emu, $d/u280-emu.yaml]
kernels:
  - name: $2
    implements: vadd
    args:
      - {name: a, dir: in, type: float, size: n}
      - {name: b, dir: in, type: float, size: n}
      - {name: out, dir: out, type: $3, size: n}
      - {name: n, dir: scalar, type: uint32}
    builds: [{board: $4, xclbin: ${5:-$x}}]
    perf: {clock_mhz: 300, ii: 1, latency_cycles: 70, trip_count: n}
    resources: {lut: 5000, ff: 7000, dsp: 2, bram: 7, uram: 0}
YAML
}
fail=0
expect() { # FILE PATTERN
    out=$("$quiver" check "$1" 2>&1)
    rc=$?
    if [ $rc -ne 1 ] || ! printf '%s\n' "$out" | grep -q -- "$2"; then
        echo "check_builds: $1: exit $rc, expected 1 and '$2'; got: $out"
        fail=1
    fi
}
catalog "$d/type.yaml" vadd double alveo-u250-emu
expect "$d/type.yaml" "type.yaml:10:.*argument 2 of kernel 'vadd' is 'out' (float\*.*(double).*another type"
catalog "$d/plat.yaml" vadd float my-u280-emu
expect "$d/plat.yaml" "was built for platform xilinx_u250_gen3x16_xdma_4_1_202210_1; board my-u280-emu"
catalog "$d/name.yaml" vsub float alveo-u250-emu
expect "$d/name.yaml" "does not hold kernel 'vsub'"
build() { # OUT MODE [BITSTREAM]
    "$quiver" xclbin build -o "$1" --mode "$2" ${3:+--bitstream "$3"} \
        --platform xilinx_u250_gen3x16_xdma_4_1_202210_1 \
        --kernel 'vadd(a:const float*, b:const float*, out:float*, n:uint32_t)' ||
        { echo "check_builds: xclbin build $2 failed"; fail=1; }
}
build "$d/nolib.xclbin" sw_emu
catalog "$d/nolib.yaml" vadd float alveo-u250-emu "$d/nolib.xclbin"
expect "$d/nolib.yaml" "nolib.xclbin is an sw_emu build without the host library of kernel 'vadd': it has no BITSTREAM section, which emulated board alveo-u250-emu loads the kernel from"
build "$d/hwemu.xclbin" hw_emu
catalog "$d/hwemu.yaml" vadd float alveo-u250-emu "$d/hwemu.xclbin"
expect "$d/hwemu.yaml" "hwemu.xclbin is an hw_emu build (XCLBIN_HW_EMU) of kernel 'vadd'; emulated board alveo-u250-emu runs sw_emu builds"
build "$d/hw.xclbin" hw
catalog "$d/hw.yaml" vadd float alveo-u250-emu "$d/hw.xclbin"
expect "$d/hw.yaml" "hw.xclbin is a hardware build (XCLBIN_FLAT) of kernel 'vadd'; emulated board alveo-u250-emu runs sw_emu builds"
printf 'not a library\n' > "$d/text.so"
build "$d/text.xclbin" sw_emu "$d/text.so"
catalog "$d/text.yaml" vadd float alveo-u250-emu "$d/text.xclbin"
expect "$d/text.yaml" "text.xclbin: the BITSTREAM section of this sw_emu build is not a shared library"
# A policy naming such a catalog: its check opens the builds too (it
# passed while the catalog's own check failed).
printf 'catalog: type.yaml\n' > "$d/policy.yaml"
expect "$d/policy.yaml" "policy.yaml:1:10: error: catalog: 'type.yaml' has a build its board would refuse: .*type.yaml:10:.*another type"
catalog "$d/good.yaml" vadd float alveo-u250-emu
printf 'catalog: good.yaml\n' > "$d/policy-good.yaml"
"$quiver" check -q "$d/policy-good.yaml" || { echo "check_builds: a right policy was refused"; fail=1; }
"$quiver" check -q "$d/good.yaml" || { echo "check_builds: a right catalog was refused"; fail=1; }
"$quiver" check -q "$share/kernels.yaml" || fail=1
exit $fail
