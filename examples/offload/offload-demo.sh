#!/usr/bin/env bash
# offload-demo.sh - the steps of docs/profile.md on examples/offload, a
# program written without Quiver, numbered as there: 1 profile it, 3 wrap
# its hot functions (step 2, mag's kernel, is made at build time by
# quiver_add_emu_kernel), 4 run it on the CPU, OpenCL (PoCL) and the emulated board twice (on a fresh
# machine the first run is cold, the second warm); then the outputs
# compared and the predicted speedup beside the measured ones.
#
#   offload-demo.sh BIN QUIVER OUT [offload options...]
#
# BIN is the build directory of examples/offload: the programs offload,
# offload-instrumented, offload-wrapped and offload-compare, and catalog/
# (the package's kernel catalog plus the mag kernel made by
# quiver_add_emu_kernel(), and a policy that names it). QUIVER is the quiver
# tool. Everything goes under OUT: the outputs and logs, profile/ (quiver
# profile's reports), wrap.c (the interposers, as quiver_wrap() generated
# them for offload-wrapped). The options go to every run of the program
# (default: --seed 1 --frames 32 --n 4096 --taps 64). Exits 0 when each
# step ran and each wrapped run's output equals the plain one's; else 1
# (2: bad arguments).
set -euo pipefail
if (($# < 3)); then
    sed -n '8p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
bin=$1 quiver=$2 out=$3
shift 3
opts=("$@")
((${#opts[@]})) || opts=(--seed 1 --frames 32 --n 4096 --taps 64)
for p in offload offload-instrumented offload-wrapped offload-compare; do
    [ -x "$bin/$p" ] || { echo "offload-demo: $bin/$p: not an executable program" >&2; exit 2; }
done
[ -x "$quiver" ] || { echo "offload-demo: $quiver: not an executable program" >&2; exit 2; }
catalog=$bin/catalog/kernels.yaml policy=$bin/catalog/quiver.yaml
[ -f "$catalog" ] && [ -f "$policy" ] ||
    { echo "offload-demo: $bin/catalog: no catalog and policy (build examples/offload)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

# now: microseconds since the epoch. took LOG: the program's own "took X ms".
now() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
took() { sed -n 's/.* took \([0-9.]*\) ms.*/\1/p' "$1"; }

echo "-- the program as it is: offload ${opts[*]}"
t0=$(now)
"$bin/offload" "${opts[@]}" --out "$out/plain.txt" | tee "$out/plain.log"
t1=$(now)
plain_us=$((t1 - t0))

echo
echo "-- step 1, profile: the same source built with -finstrument-functions (and record-only"
echo "   interposers that note each call's n and taps), run under quiver profile"
echo "   quiver profile --catalog catalog/kernels.yaml --out $out/profile -- offload-instrumented ..."
"$quiver" profile --catalog "$catalog" --out "$out/profile" -- \
    "$bin/offload-instrumented" "${opts[@]}" --out "$out/instrumented.txt" >"$out/profile.log"
# The report: its head, the emulated U250's prediction, the hot functions.
sed -n '/^Predicted/q;p' "$out/profile/report.txt"
grep -E '^Predicted|^  alveo-u250-emu ' "$out/profile/report.txt"
sed -n '/^Hot functions/,/^$/p' "$out/profile/report.txt"
sed -n '/^On alveo-u250-emu /,/^$/p' "$out/profile/report.txt"
echo "   (the whole report: $out/profile/report.txt; the call graph: callgraph.dot, offload.dot)"
"$bin/offload-compare" "$out/plain.txt" "$out/instrumented.txt" >/dev/null ||
    { echo "offload-demo: the instrumented program's output differs" >&2; exit 1; }
# The cost of the instrumentation: the profiled run's wall time (the
# report's first line) and its loop's, against the plain run's.
inst_ms=$(sed -n 's/^  exit status [0-9]*[^,]*, \([0-9.]*\) ms,.*/\1/p' "$out/profile/report.txt")
awk -v p="$plain_us" -v i="$inst_ms" -v lp="$(took "$out/plain.log")" \
    -v li="$(took "$out/profile.log")" 'BEGIN {
    printf "   instrumented: the whole program %.1f ms against %.1f ms plain (%.2fx), its loop %.1f ms against %.1f ms (%.2fx)\n",
           i, p / 1000, (p > 0 ? i * 1000 / p : 0), li, lp, (lp > 0 ? li / lp : 0) }'

echo
echo "-- step 2, a kernel for mag: made when the example was built (quiver_add_emu_kernel"
echo "   in examples/offload/CMakeLists.txt), with the catalog $catalog that names it"

echo
echo "-- step 3, wrap: interposers for fir, fft and mag (linked with -Wl,--wrap=fir,--wrap=fft,--wrap=mag)"
echo "   quiver wrap --catalog catalog/kernels.yaml --functions fir,fft,mag -o $out/wrap.c"
"$quiver" wrap --catalog "$catalog" --functions fir,fft,mag -o "$out/wrap.c"
echo "   ($(wc -l <"$out/wrap.c") lines of C; offload-wrapped is main.c and dsp.c unchanged, linked with"
echo "   such a file and libquiver by quiver_wrap(offload_wrapped FUNCTIONS fir fft mag ...))"

echo
echo "-- step 4, run: offload-wrapped on the CPU, OpenCL (PoCL) and the emulated U250"
echo "   QV_CONFIG=catalog/quiver.yaml QUIVER_WRAP_MIN_BYTES=16384 QUIVER_WRAP_STATS=1 offload-wrapped ..."
# run_wrapped NAME: offload-wrapped into $out/NAME.txt (its output in
# NAME.log), compared with the plain run's output (compare-NAME.log); its
# wall time in us into wall_us.
run_wrapped() {
    local t0 t1
    t0=$(now)
    QV_CONFIG=$policy QUIVER_WRAP_MIN_BYTES=16384 QUIVER_WRAP_STATS=1 \
        "$bin/offload-wrapped" "${opts[@]}" --out "$out/$1.txt" 2>&1 | tee "$out/$1.log"
    t1=$(now)
    wall_us=$((t1 - t0))
    "$bin/offload-compare" "$out/plain.txt" "$out/$1.txt" | tee "$out/compare-$1.log"
    grep -q ': OK$' "$out/compare-$1.log" || exit 1
}
run_wrapped wrapped
wrapped_us=$wall_us

# On a fresh machine the run above was cold: the first calls of each
# function tried every device and PoCL built its kernels. Once more, as a
# program run again on this machine runs: the models and PoCL's kernel
# cache warm.
echo
echo "-- step 4 again: the same command; the runtime's models and PoCL's kernels are kept"
run_wrapped warm
warm_us=$wall_us

echo
echo "-- predicted against measured"
grep -E '^  alveo-u250-emu ' "$out/profile/report.txt" |
    sed 's/^ */   predicted by quiver profile, the program on /'
awk -v p="$plain_us" -v w="$wrapped_us" -v ww="$warm_us" -v lp="$(took "$out/plain.log")" \
    -v lw="$(took "$out/wrapped.log")" -v lww="$(took "$out/warm.log")" 'BEGIN {
    printf "   measured here, the whole program: %.1f ms plain; wrapped, %.1f ms the first run (%.2fx), %.1f ms the second (%.2fx)\n",
           p / 1000, w / 1000, (w > 0 ? p / w : 0), ww / 1000, (ww > 0 ? p / ww : 0)
    printf "   measured here, its fir/fft/mag loop: %.1f ms plain; wrapped, %.1f ms the first run (%.2fx), %.1f ms the second (%.2fx)\n",
           lp, lw, (lw > 0 ? lp / lw : 0), lww, (lww > 0 ? lp / lww : 0) }'
echo "   The board is emulated: its kernels run as C on this machine's CPU, beside the"
echo "   runtime's copies and threads, so the measured figures are this machine's, not"
echo "   a card's; the prediction is the card's model (the catalog's cycle counts, the"
echo "   board file's link) against the times the profile measured here."
