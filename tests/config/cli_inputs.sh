#!/bin/sh
# cli_inputs.sh QUIVER SOURCE_DIR CASE - the quiver tool on hostile input
# files, one CASE per ctest:
#   fifo        a FIFO given as any input file is refused at once ("not a
#               regular file", exit 1); every command runs under a timeout,
#               so that a regression fails instead of hanging
#   same-board  one board file under two spellings is one board
#   escape      strings from files (a board's platform, an xclbin's
#               platform) are printed with control characters escaped
set -u
Q=$1
SRC=$2
CASE=$3
D=$(mktemp -d "${TMPDIR:-/tmp}/qvcli.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
ESC=$(printf '\033')
fails=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# expect_refused WHAT COMMAND...: exit status 1 (not 124, the timeout) and
# the message "<fifo>: ... not a regular file".
expect_refused() {
    what=$1
    shift
    timeout 20 "$@" >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 124 ] && fail "$what: blocked (killed after 20 s)"
    [ $rc -eq 1 ] || fail "$what: exit status $rc, expected 1"
    grep -q "$D/f.*not a regular file" "$D/out" || {
        fail "$what: no 'not a regular file' message"
        cat "$D/out" >&2
    }
}

case $CASE in
fifo)
    mkfifo "$D/f" || exit 1
    expect_refused "check" "$Q" check "$D/f"
    expect_refused "plan --graph" "$Q" plan --graph "$D/f" \
        --platform "$SRC/boards/platforms/workstation.yaml"
    expect_refused "plan --platform" "$Q" plan \
        --graph "$SRC/tests/fuzz/graph/fft8.json" --platform "$D/f"
    expect_refused "devices --board" "$Q" devices --board "$D/f"
    expect_refused "xclbin info" "$Q" xclbin info "$D/f"
    # A policy naming the FIFO as its catalog.
    echo "catalog: f" >"$D/policy.yaml"
    timeout 20 "$Q" check "$D/policy.yaml" >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || fail "policy naming a FIFO: exit status $rc, expected 1"
    grep -q "not a regular file" "$D/out" || fail "policy naming a FIFO: no message"
    ;;
same-board)
    cp "$SRC/boards/emu/u50-emu.yaml" "$D/b.yaml"
    ln -s b.yaml "$D/link.yaml"
    cd "$D" || exit 1
    for other in ./b.yaml link.yaml "$D/b.yaml"; do
        timeout 20 "$Q" devices --board b.yaml --board "$other" >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 1 ] || fail "devices --board b.yaml --board $other: exit $rc, expected 1"
        grep -q "board file listed twice" "$D/out" || fail "$other: no 'listed twice'"
    done
    printf 'discovery:\n  boards: [b.yaml, ./b.yaml]\n' >"$D/policy.yaml"
    timeout 20 "$Q" check "$D/policy.yaml" >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "check: a policy listing one board twice passed"
    grep -q "is the same file as 'b.yaml'" "$D/out" || fail "check: no 'same file' message"
    ;;
escape)
    sed 's/^platform:.*/platform: "xilinx\\e[2Jplat"/' \
        "$SRC/boards/emu/u250-emu.yaml" >"$D/esc.yaml"
    timeout 20 "$Q" devices --board "$D/esc.yaml" >"$D/out" 2>&1 ||
        fail "devices --board esc.yaml failed"
    grep -q "$ESC" "$D/out" && fail "devices: an escape character reached the output"
    grep -qF 'xilinx\x1B[2Jplat' "$D/out" || fail "devices: the platform is not shown escaped"
    # An xclbin whose platform (VBNV, at 304 + 48) holds an escape sequence.
    cp "$SRC/tests/fuzz/xclbin/corpus/vadd-hw.xclbin" "$D/x.xclbin"
    printf 'p\033[2Jq\000' | dd of="$D/x.xclbin" bs=1 seek=352 conv=notrunc 2>/dev/null
    timeout 20 "$Q" xclbin info "$D/x.xclbin" >"$D/out" 2>&1 || fail "xclbin info failed"
    grep -q "$ESC" "$D/out" && fail "xclbin info: an escape character reached the output"
    grep -qF 'platform:  p\x1B[2Jq' "$D/out" || fail "xclbin info: platform not escaped"
    # A name in a bad file, quoted in the error of quiver check.
    timeout 20 "$Q" check "$SRC/tests/config/bad/catalog-board-escape.yaml" >"$D/out" 2>&1
    grep -q "$ESC" "$D/out" && fail "check: an escape character reached the output"
    grep -qF "unknown board 'alveo\\x1B[2Ju250\\n'" "$D/out" || fail "check: name not escaped"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
[ $fails -eq 0 ] && echo "ok: $CASE"
exit $((fails != 0))
