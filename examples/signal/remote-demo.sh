#!/usr/bin/env bash
# remote-demo.sh - the signal demo with one more board: a second emulated
# Alveo U250, served by quiverd on loopback (plain, an ipc:// socket) and
# used by the runtime as a remote board beside the local one.
#
#   remote-demo.sh QUIVER_SIGNAL QUIVERD QUIVER SHARE OUT [quiver-signal options...]
#
# QUIVER_SIGNAL, QUIVERD and QUIVER are the three programs, SHARE the
# share/quiver directory of their build or install (the default policy, the
# catalog, boards/). Writes into OUT the remote board file (remote-u250.yaml)
# and a policy (quiver-remote.yaml) that is the default platform plus that
# board, starts the daemon, waits until `quiver devices` finds it
# reachable, runs quiver-signal on the policy (its output under OUT), and
# stops the daemon with SIGTERM, whether the demo passed or not. The FFT
# stage is kept to the remote board (--where fft=remote). Exits 0 when
# quiver-signal passed its check and the remote board ran tasks; else
# quiver-signal's status, or 1 (2: bad arguments).
set -euo pipefail
if (($# < 5)); then
    sed -n '6p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
signal=$1 quiverd=$2 quiver=$3 share=$4 out=$5
shift 5
for p in "$signal" "$quiverd" "$quiver"; do
    [ -x "$p" ] || { echo "remote-demo: $p: not an executable program" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
share=$(cd "$share" && pwd)

# The socket lives in a private directory: a short path (ipc:// paths are
# limited to about 100 bytes) that no other user can reach.
sock=$(mktemp -d "${TMPDIR:-/tmp}/quiver-demo.XXXXXX")
endpoint=ipc://$sock/quiverd.sock
daemon=
stop() {
    if [ -n "$daemon" ]; then
        kill -TERM "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$sock"
}
trap stop EXIT
trap 'exit 130' INT TERM

# The remote board: the daemon's U250 seen through loopback. Its link is
# the socket's, not the card's PCIe (the runtime measures it as it runs).
cat >"$out/remote-u250.yaml" <<EOF
# Written by remote-demo.sh: the emulated U250 that quiverd serves at
# $endpoint, plain (loopback only).
name: remote-u250-emu
kind: remote
vendor: AMD
memory:
  - {type: DDR4, size: 16 GiB, count: 4, bandwidth_gbs: 19.25}
link: {bandwidth_gbs: 2.0, latency_us: 60}
cost_per_hour: 1.65
remote:
  endpoint: $endpoint
  board: $share/boards/emu/u250-emu.yaml
EOF
# The default platform (share/quiver/quiver.yaml) plus the remote board.
cat >"$out/quiver-remote.yaml" <<EOF
# Written by remote-demo.sh: the default policy's platform (CPU, OpenCL,
# the local emulated U250) and one remote board served by quiverd.
catalog: $share/kernels.yaml
scheduler: heft
devices: [cpu, gpu, fpga, remote]
discovery:
  rescan_interval_ms: 5000
  boards: [$share/boards/emu/u250-emu.yaml, $out/remote-u250.yaml]
log:
  level: warn
EOF

"$quiverd" --board "$share/boards/emu/u250-emu.yaml" --catalog "$share/kernels.yaml" \
    --listen "$endpoint" --allow-plain --log "$out/quiverd.log" &
daemon=$!
# A remote board whose daemon does not answer when the runtime starts is not
# opened: wait until it does (10 s at most). Each probe waits up to 1 s for
# the hello's answer: under ThreadSanitizer it takes more than 200 ms.
up=0
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
    if ! kill -0 "$daemon" 2>/dev/null; then
        echo "remote-demo: quiverd exited; its log:" >&2
        cat "$out/quiverd.log" >&2 || true
        daemon=
        exit 1
    fi
    if "$quiver" devices --json --probe-ms=1000 --config="$out/quiver-remote.yaml" 2>/dev/null |
        grep -q '"reachable": true'; then
        up=1
        break
    fi
    sleep 0.2
done
if ((!up)); then
    echo "remote-demo: quiverd does not answer at $endpoint; its log:" >&2
    cat "$out/quiverd.log" >&2 || true
    exit 1
fi
echo "quiverd (pid $daemon) serves the emulated U250 at $endpoint"
# The FFTs go to the remote board (--where fft=remote, qv_func_set_where):
# on loopback it is the local U250's twin one socket further away, so once
# the models have measured both, the scheduler alone never picks it.
"$signal" --config "$out/quiver-remote.yaml" --where fft=remote --out "$out" "$@" |
    tee "$out/signal.txt"
# The demo is about the remote board: it must have run tasks.
if ! grep -E -q '^device [0-9]+: remote-u250-emu +remote +[1-9][0-9]* tasks' "$out/signal.txt"; then
    echo "remote-demo: the remote board ran no task" >&2
    exit 1
fi
