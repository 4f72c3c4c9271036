#!/bin/sh
# names.sh QUIVER SHARE_DIR CC INCLUDE_DIR - quiver wrap for functions whose
# names meet the generated file's own: f and f_cpu, f_args, f_cl or
# f_range (each wrapped function's helpers were qv_wrap_<f>_cpu..., the
# wrapper of f_cpu qv_wrap_f_cpu), and functions named as the wrapper
# library's calls (call, range, declare: qv_wrap_call...). The file must
# compile with -Wall -Wextra -Werror, with and without OpenCL sources.
set -u
Q=$1 SHARE=$2 CC=$3 INC=$4
D=$(mktemp -d "${TMPDIR:-/tmp}/qvwrapn.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
X=$SHARE/bitstreams/emu/xilinx_u250_gen3x16_xdma_4_1_202210_1/vadd.xclbin
names="vadd vadd_cpu vadd_args vadd_cl vadd_range call range declare declare_all arg fn"
{
    echo "boards: [$SHARE/boards/emu]"
    echo "kernels:"
    for f in $names; do
        cat <<YAML
  - name: $f
    implements: $f
    args:
      - {name: a,   dir: in,     type: float, size: n}
      - {name: b,   dir: in,     type: float, size: n}
      - {name: out, dir: out,    type: float, size: n}
      - {name: n,   dir: scalar, type: uint32}
    builds: [{board: alveo-u250-emu, xclbin: $X}]
    perf: {clock_mhz: 300, ii: 1, latency_cycles: 70, trip_count: n}
YAML
    done
} >"$D/cat.yaml"
list=$(echo $names | tr ' ' ',')
fails=0
printf '__kernel void k(__global const float *a) { (void)a; }\n' >"$D/k.cl"
for extra in "" "--opencl vadd=$D/k.cl" "--defer"; do
    # shellcheck disable=SC2086
    timeout 20 "$Q" wrap --catalog "$D/cat.yaml" --functions "$list" $extra -o "$D/w.c" ||
        { echo "FAIL: wrap $extra"; fails=1; continue; }
    "$CC" -std=c11 -Wall -Wextra -Werror -c -I"$INC" "$D/w.c" -o "$D/w.o" ||
        { echo "FAIL: the file of wrap $extra does not compile"; fails=1; }
done
exit $fails
