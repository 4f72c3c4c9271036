#!/bin/sh
# cli_inputs.sh QUIVER SOURCE_DIR CASE [JSON_VALID] - the quiver tool on
# hostile input files and its conventions (docs/cli.md), one CASE per ctest:
#   fifo        a FIFO given as any input file, or as $QV_CONFIG, is refused
#               at once ("not a regular file", exit 1; the message names
#               $QV_CONFIG); every command runs under a timeout,
#               so that a regression fails instead of hanging; a
#               pseudo-file (/proc) is read to its end, not as empty
#   same-board  one board file under two spellings is one board
#   escape      strings from files (a board's platform, an xclbin's
#               platform) are printed with control characters escaped, in
#               tables and in `devices --json` (DEL, C1 and bidi controls
#               too); the devices table prints a long name whole
#   version     `quiver --version` and `quiver version` print the project
#               version of CMakeLists.txt
#   long-options  --opt=V and --opt V, options before, between and after
#               operands, and `--` give the same result, POSIXLY_CORRECT
#               set or not
#   usage       every subcommand answers --help (exit 0) and refuses an
#               unknown option, a missing value or an empty one (`--graph=`)
#               with a message (exit 2); --config= is "no policy file"
#   stdout      `-` as an output path is standard output, and no file
#               named `-` appears; an output that is a symbolic link or a
#               FIFO is written through, not replaced by a regular file,
#               and xclbin build's temporary is never a planted link nor
#               a file of the user's;
#               a standard output that cannot be written is exit status 1;
#               a write that fails leaves the old file as it was
#   numbers     a number option's value is the whole of it: a blank before
#               or after it, hex, and a value a double cannot hold (1e999,
#               or 1e-400, which strtod made 0: "no deadline") are usage
#               errors (exit 2) naming the option, in every command
#   check-json  `quiver check --json` is valid JSON (JSON_VALID, the
#               library's strict reader) with one verdict per file, names
#               escaped, the bytes of a name that is not UTF-8 in path_hex
set -u
Q=$1
SRC=$2
CASE=$3
JV=${4:-}
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
    expect_refused "xclbin build --bitstream" "$Q" xclbin build -o "$D/o.xclbin" \
        --platform p --kernel 'k(a:int*)' --bitstream "$D/f"
    # A bitstream that is not there is said so ("no such entry" was not).
    timeout 20 "$Q" xclbin build -o "$D/o.xclbin" --platform p --kernel 'k(a:int*)' \
        --bitstream "$D/none.so" >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "xclbin build --bitstream MISSING: exit status not 1"
    grep -q "none.so: error: cannot open: No such file" "$D/out" ||
        fail "xclbin build --bitstream MISSING: $(cat "$D/out")"
    expect_refused "wrap --opencl" "$Q" wrap --catalog "$(dirname "$Q")/../share/quiver/kernels.yaml" \
        --functions vadd -o "$D/w.c" --opencl "vadd=$D/f"
    # $QV_CONFIG naming the FIFO: refused, and the message says where the
    # policy's path came from.
    for cmd in devices "plan --graph $SRC/tests/fuzz/graph/fft8.json"; do
        # shellcheck disable=SC2086
        expect_refused "QV_CONFIG=FIFO $cmd" env QV_CONFIG="$D/f" "$Q" $cmd
        grep -q 'not a regular file (policy from \$QV_CONFIG)' "$D/out" ||
            fail "QV_CONFIG=FIFO $cmd: the message does not name \$QV_CONFIG: $(cat "$D/out")"
    done
    # A policy naming the FIFO as its catalog.
    echo "catalog: f" >"$D/policy.yaml"
    timeout 20 "$Q" check "$D/policy.yaml" >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || fail "policy naming a FIFO: exit status $rc, expected 1"
    grep -q "not a regular file" "$D/out" || fail "policy naming a FIFO: no message"
    # A catalog's xclbins past the size limit (sparse) and in a link loop:
    # each refusal says why, not "too many arguments" nor "does not exist".
    mkdir "$D/x"
    truncate -s 3G "$D/x/big.xclbin" || exit 1
    ln -s loop.xclbin "$D/x/loop.xclbin"
    for k in big loop; do
        printf 'boards: [%s/boards]\nkernels:\n  - name: vadd\n    implements: vadd\n    args:\n      - {name: a, dir: in, type: float, size: n}\n      - {name: n, dir: scalar, type: uint32}\n    builds:\n      - {board: alveo-u250, xclbin: x/%s.xclbin}\n    perf: {ii: 1, latency_cycles: 40, trip_count: n}\n' \
            "$SRC" "$k" >"$D/cat-$k.yaml"
        timeout 20 "$Q" check "$D/cat-$k.yaml" >"$D/out" 2>&1
        [ $? -eq 1 ] || fail "check cat-$k.yaml: exit status not 1"
    done
    timeout 20 "$Q" check "$D/cat-big.yaml" 2>&1 | grep -q "file is larger than" ||
        fail "a 3 GiB xclbin: $("$Q" check "$D/cat-big.yaml" 2>&1)"
    timeout 20 "$Q" check "$D/cat-loop.yaml" 2>&1 | grep -q "cannot be read: Too many levels" ||
        fail "an xclbin in a link loop: $("$Q" check "$D/cat-loop.yaml" 2>&1)"
    # A pseudo-file says 0 bytes whatever it holds: read to its end, its
    # text is judged (it passed as an empty policy).
    if [ -r /proc/self/status ]; then
        timeout 20 "$Q" check /proc/self/status >"$D/out" 2>&1
        [ $? -eq 1 ] || fail "check /proc/self/status: exit status not 1"
        grep -q "cannot tell what kind of file" "$D/out" ||
            fail "check /proc/self/status: $(cat "$D/out")"
    fi
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
    # Two files of one board name: two devices nothing could tell apart.
    cp b.yaml twin.yaml
    timeout 20 "$Q" devices --board b.yaml --board twin.yaml >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || fail "devices with two boards of one name: exit $rc, expected 1"
    grep -q "is described by 'b.yaml' too" "$D/out" || fail "two names: $(cat "$D/out")"
    # ... and a policy listing both: refused by check (and so by the
    # runtime, which loads the policy the same way), at the second item.
    printf 'discovery:\n  boards: [b.yaml, twin.yaml]\n' >"$D/policy2.yaml"
    timeout 20 "$Q" check "$D/policy2.yaml" >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "check: a policy of two boards of one name passed"
    grep -q "policy2.yaml:2:20: .*'twin.yaml' describes board '.*', as 'b.yaml' (line 2, column 12) does" \
        "$D/out" || fail "check, two names: $(cat "$D/out")"
    # A catalog listing one board directory twice: said so, not "defined
    # twice, by d/b.yaml and d/b.yaml".
    mkdir bd && cp b.yaml bd/
    printf 'boards: [bd, bd]\nkernels: []\n' >"$D/cat2.yaml"
    timeout 20 "$Q" check "$D/cat2.yaml" >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "check: a catalog listing one directory twice passed"
    grep -q "is read twice (is its directory, or the file, listed twice?)" "$D/out" ||
        fail "catalog [bd, bd]: $(cat "$D/out")"
    ;;
escape)
    # A name the command cannot write, and a file xclbin info cannot read.
    timeout 20 "$Q" graph gen qr --nt 2 -o "/nonexistent/a$ESC[2Jb" >"$D/out" 2>&1
    grep -q "$ESC" "$D/out" && fail "graph gen -o: an escape character reached the output"
    grep -qF 'a\x1B[2Jb' "$D/out" || fail "graph gen -o: not escaped: $(cat "$D/out")"
    printf 'junk' >"$D/x$ESC[2J.xclbin"
    timeout 20 "$Q" xclbin info "$D/x$ESC[2J.xclbin" >"$D/out" 2>&1
    grep -q "$ESC" "$D/out" && fail "xclbin info: an escape character reached the output"
    grep -qF 'x\x1B[2J.xclbin' "$D/out" || fail "xclbin info: not escaped: $(cat "$D/out")"
    # (Named apart from the default policy's emulated U250: two boards of
    # one name are refused.)
    sed -e 's/^platform:.*/platform: "xilinx\\e[2Jplat"/' -e 's/^name:.*/name: esc-emu/' \
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
    # A bad --prototype is echoed escaped, the caret under the error's
    # column of the escaped text.
    timeout 20 "$Q" wrap --catalog "$(dirname "$Q")/../share/quiver/kernels.yaml" \
        --functions vadd --prototype "$(printf 'void vadd(int \033[2J x, @)')" -o "$D/w.c" \
        >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "wrap with a bad --prototype: exit status not 1"
    grep -q "$ESC" "$D/out" && fail "wrap --prototype: an escape character reached the output"
    grep -qF '  void vadd(int \x1B[2J x, @)' "$D/out" ||
        fail "wrap --prototype: not echoed escaped: $(cat "$D/out")"
    grep -qx '                ^' "$D/out" || fail "wrap --prototype: caret misplaced: $(cat "$D/out")"
    # A catalog path that would end the generated file's header comment
    # (a backslash-newline splice between '*' and '/'): escaped, no code.
    W=$(printf '%s/x*\\\n/ int evil = 1; /*' "$D")
    mkdir -p "$W" && cp -r "$(dirname "$Q")/../share/quiver/." "$W/"
    timeout 20 "$Q" wrap --catalog "$W/kernels.yaml" --functions fir -o "$D/w.c" \
        >"$D/out" 2>&1 || fail "wrap --catalog ODD: $(cat "$D/out")"
    sed -n 3p "$D/w.c" | grep -qF 'x*\\n/ int evil = 1; /*_kernels.yaml: do not edit.' ||
        fail "wrap: the catalog path is not one escaped line: $(head -5 "$D/w.c")"
    # keygen's DIR in its report (only where CURVE is there to make keys).
    if timeout 20 "$Q" keygen "$D/k$ESC[2J" >"$D/out" 2>&1; then
        grep -q "$ESC" "$D/out" && fail "keygen: an escape character reached the output"
        grep -qF 'k\x1B[2J/server.key' "$D/out" || fail "keygen: DIR not escaped: $(cat "$D/out")"
    fi
    # An existing DIR that others may write: keys made, and a warning that
    # quiverd refuses it (anyone could authorize a key there).
    mkdir "$D/shared" && chmod 0777 "$D/shared"
    if timeout 20 "$Q" keygen "$D/shared" >"$D/out" 2>&1; then
        grep -q "writable by its group or others (mode 0777); quiverd refuses" "$D/out" ||
            fail "keygen into a 0777 DIR: no warning: $(cat "$D/out")"
    fi
    # An empty DIR (an unset variable in a script) is a usage error.
    timeout 20 "$Q" keygen "" >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "keygen '': exit status not 2: $(cat "$D/out")"
    grep -q "DIR is empty" "$D/out" || fail "keygen '': no reason given: $(cat "$D/out")"
    # A name in a bad file, quoted in the error of quiver check.
    timeout 20 "$Q" check "$SRC/tests/config/bad/catalog-board-escape.yaml" >"$D/out" 2>&1
    grep -q "$ESC" "$D/out" && fail "check: an escape character reached the output"
    grep -qF "unknown board 'alveo\\x1B[2Ju250\\n'" "$D/out" || fail "check: name not escaped"
    # devices --json escapes as the table does: DEL, a C1 control (U+0085),
    # a bidi override (U+202E) and mark (U+061C) in a board's platform.
    [ -n "$JV" ] || { echo "escape needs JSON_VALID" >&2; exit 2; }
    sed 's/^platform:.*/platform: "a\\x7Fb\\x85c\\u202Ed\\e[2Je\\u061Cf"/' \
        "$SRC/boards/emu/u50-emu.yaml" >"$D/ctl.yaml"
    QV_CONFIG= timeout 20 "$Q" devices --json --board "$D/ctl.yaml" >"$D/out.json" 2>"$D/err" ||
        fail "devices --json --board ctl.yaml failed: $(cat "$D/err")"
    "$JV" "$D/out.json" || fail "devices --json: not valid JSON"
    grep -qF '"detail": "a\u007Fb\u0085c\u202Ed\u001B[2Je\u061Cf"' "$D/out.json" ||
        fail "devices --json: DEL, C1 or bidi control not escaped"
    grep alveo-u50-emu "$D/out.json" | LC_ALL=C grep -q "$(printf '[\177\302\342\033\330]')" &&
        fail "devices --json: a control character reached the output"
    # What was typed is echoed escaped too: getopt_long's own messages
    # (opterr), an operand, an option's value.
    E=$(printf 'a\033[2Jb')
    set -f # $args split at spaces, its [2J no pattern
    for args in "plan --$E" "plan -$(printf '\001')" "plan --graph g $E" "graph gen $E -o x" \
        "xclbin build --mode $E" "plan --algo $E" "xclbin nope$E" "$E" \
        "plan --objective $E" "plan --deadline $E" "devices --probe-ms $E" \
        "xclbin build --bank $E" "xclbin build -o x --platform p --kernel $E"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" $args >"$D/out" 2>&1
        [ $? -eq 2 ] || fail "quiver $args: exit status not 2"
        LC_ALL=C grep -q "$(printf '[\001\033]')" "$D/out" &&
            fail "quiver $args: a control character reached the output: $(cat -v "$D/out")"
        grep -qF -e 'a\x1B[2Jb' -e "'\x01'" "$D/out" || fail "quiver $args: not echoed: $(cat "$D/out")"
    done
    set +f
    # The table prints a name whole, as qv_device_get gives it.
    long=alveo-u50-emu-named-long-enough-for-two-columns
    sed "s/^name:.*/name: $long/" "$SRC/boards/emu/u50-emu.yaml" >"$D/long.yaml"
    QV_CONFIG= timeout 20 "$Q" devices --board "$D/long.yaml" >"$D/out" 2>&1 ||
        fail "devices --board long.yaml failed"
    grep -q " $long  *1 " "$D/out" || fail "devices: the long name is cut: $(cat "$D/out")"
    ;;
version)
    want=$(sed -n 's/^project(quiver VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
    [ -n "$want" ] || fail "no project version in CMakeLists.txt"
    out=$("$Q" --version) || fail "--version: exit $?"
    [ "$out" = "quiver $want" ] || fail "--version printed '$out', expected 'quiver $want'"
    out=$("$Q" version) || fail "version: exit $?"
    [ "$out" = "quiver $want" ] || fail "version printed '$out'"
    ;;
long-options)
    # The same graph whatever the spelling and order.
    "$Q" graph gen qr --nt 3 -o - >"$D/a" || fail "gen qr --nt 3 -o -"
    cp "$D/a" "$D/qr"
    for args in "--nt=3 -o - qr" "-o - qr --nt=3" "--output=- --nt 3 qr" \
        "--nt=3 --output - -- qr"; do
        # shellcheck disable=SC2086
        "$Q" graph gen $args >"$D/b" 2>"$D/err" || fail "gen $args: exit $?"
        cmp -s "$D/a" "$D/b" || fail "gen $args: another graph"
    done
    "$Q" graph import "$SRC/tests/fuzz/dax/corpus/good-five-jobs.xml" -o - >"$D/a" 2>&1 ||
        fail "graph import WORKFLOW -o -: exit $?"
    grep -q '"format": "quiver-graph"' "$D/a" || fail "graph import: no graph"
    "$Q" graph import --output=- "$SRC/tests/fuzz/dax/corpus/good-five-jobs.xml" >"$D/b" 2>&1
    cmp -s "$D/a" "$D/b" || fail "import: -o after and --output= before differ"
    # check: an option after the files still counts.
    B="$SRC/boards/emu/u50-emu.yaml"
    out=$("$Q" check "$B" -q) || fail "check FILE -q: exit $?"
    [ -z "$out" ] || fail "check FILE -q printed '$out'"
    out=$("$Q" check --quiet -- "$B") || fail "check --quiet -- FILE: exit $?"
    [ -z "$out" ] || fail "check --quiet -- FILE printed '$out'"
    # POSIXLY_CORRECT does not stop the options at the first operand.
    out=$(POSIXLY_CORRECT=1 "$Q" check "$B" -q) || fail "POSIXLY_CORRECT: check FILE -q: exit $?"
    [ -z "$out" ] || fail "POSIXLY_CORRECT: check FILE -q printed '$out'"
    POSIXLY_CORRECT=1 "$Q" graph gen qr --nt 3 -o - >"$D/b" 2>"$D/err" ||
        fail "POSIXLY_CORRECT: gen qr --nt 3 -o -: $(cat "$D/err")"
    cmp -s "$D/qr" "$D/b" || fail "POSIXLY_CORRECT: gen qr --nt 3 -o -: another graph"
    POSIXLY_CORRECT=1 "$Q" graph gen --nt 3 qr -o - -- >"$D/b" 2>"$D/err" ||
        fail "POSIXLY_CORRECT: gen --nt 3 qr -o - --: $(cat "$D/err")"
    cmp -s "$D/qr" "$D/b" || fail "POSIXLY_CORRECT: gen --nt 3 qr -o - --: another graph"
    # Operands before and after `--` keep their order.
    out=$("$Q" check "$B" -q -- -x.yaml 2>&1)
    [ "$out" = "-x.yaml: error: cannot open: No such file or directory" ] ||
        fail "check B -q -- -x.yaml: '$out'"
    "$Q" devices --board="$B" --json >"$D/a" 2>&1 || fail "devices --board=B --json"
    "$Q" devices --json --board "$B" >"$D/b" 2>&1 || fail "devices --json --board B"
    grep -q '"backend": "emu"' "$D/a" || fail "devices --board=B: no emulated board"
    # The free memory of the host moves between runs: compare the boards.
    [ "$(grep -c emu "$D/a")" = "$(grep -c emu "$D/b")" ] ||
        fail "devices: --board=B and --board B differ"
    ;;
usage)
    for cmd in version check devices "graph gen" "graph import" "xclbin info" \
        "xclbin build" "xclbin entry" plan; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" $cmd --help >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 0 ] || fail "$cmd --help: exit $rc"
        grep -q "usage: quiver" "$D/out" || fail "$cmd --help: no usage"
        # shellcheck disable=SC2086
        timeout 20 "$Q" $cmd --no-such-option x >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "$cmd --no-such-option: exit $rc, expected 2"
        grep -q "no-such-option" "$D/out" || fail "$cmd: the unknown option is not named"
    done
    for cmd in "graph gen qr --nt" "graph import x --accel" "xclbin build --kernel" \
        "xclbin entry --kernel" "devices --board" "plan --graph"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" $cmd >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "$cmd (no value): exit $rc, expected 2"
    done
    # A missing option or an unknown command: one line naming it, then
    # the pointer to --help (cli.md), not the whole usage.
    for args in "xclbin entry --kernel k(a:int*)|missing -o" \
        "xclbin entry --kernel k(a:int*) --kernel j(a:int*) -o -|given twice: an entry file" \
        "xclbin build -o x --kernel k(a:int*)|are required" \
        "no-such-command|unknown command 'no-such-command'"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" ${args%%|*} >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "${args%%|*}: exit $rc, expected 2"
        grep -q "${args#*|}" "$D/out" && grep -q "^Try 'quiver.*--help'\.$" "$D/out" &&
            [ "$(wc -l <"$D/out")" -eq 2 ] || fail "${args%%|*}: $(cat "$D/out")"
    done
    # An empty program name is a usage error; a directory is said to be one.
    timeout 20 "$Q" profile -- '' >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 2 ] && grep -q "an empty program name" "$D/out" ||
        fail "profile -- '': exit $rc, $(cat "$D/out")"
    mkdir -p "$D/dird"
    timeout 20 "$Q" profile --out "$D/pout" -- "$D/dird" >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "cannot run .*dird: it is a directory" "$D/out" ||
        fail "profile -- DIR: exit $rc, $(cat "$D/out")"
    # A malformed SOURCE_DATE_EPOCH ends an xclbin build (it was taken as 0).
    SOURCE_DATE_EPOCH=garbage timeout 20 "$Q" xclbin build -o "$D/x.xclbin" --platform p \
        --kernel 'k(a:int*)' >"$D/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "SOURCE_DATE_EPOCH 'garbage': expected seconds" "$D/out" ||
        fail "SOURCE_DATE_EPOCH=garbage: exit $rc, $(cat "$D/out")"
    # An empty value names no file: a usage error naming the option.
    G=$SRC/tests/fuzz/graph/fft8.json
    P=$SRC/boards/platforms/workstation.yaml
    for args in "--graph=" "--graph=$G --platform=" "--graph=$G --platform=$P --json=" \
        "--graph=$G --platform=$P --dot=" "--graph=$G --platform=$P --catalog="; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" plan $args >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "plan $args: exit $rc, expected 2"
        grep -q "needs a value, not ''" "$D/out" || fail "plan $args: $(cat "$D/out")"
    done
    # One --cus per --kernel: a second one is refused, not the last kept.
    timeout 20 "$Q" xclbin build -o "$D/c.xclbin" --platform p --kernel 'k(a:int*)' \
        --cus 2 --cus 3 >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "xclbin build --cus 2 --cus 3: exit status not 2"
    grep -q "given twice" "$D/out" || fail "xclbin build --cus twice: $(cat "$D/out")"
    timeout 20 "$Q" xclbin build -o "$D/c.xclbin" --platform p --kernel 'k(a:int*)' \
        --cus 2 --kernel 'j(a:int*)' --cus 3 >"$D/out" 2>&1 ||
        fail "xclbin build, a --cus for each of two kernels: $(cat "$D/out")"
    # graph gen's whole-number options take no fraction nor hex.
    for args in "qr --nt 2.5" "random --n 0x10" "random --n 16 --seed 1.7"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" graph gen $args -o - >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "graph gen $args: exit $rc, expected 2"
        grep -q "wants a whole number" "$D/out" || fail "graph gen $args: $(cat "$D/out")"
    done
    # An --accel rule the import cannot apply: a usage error naming it.
    for rule in gpu:1:inf:1 cpu:1:2:1 gpu:1e-300:1e-300:1; do
        timeout 20 "$Q" graph import "$SRC/tests/fuzz/dax/corpus/good-five-jobs.xml" \
            --accel "$rule" -o - >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "graph import --accel $rule: exit $rc, expected 2"
        grep -q -- "--accel wants" "$D/out" || fail "graph import --accel $rule: $(cat "$D/out")"
    done
    # A graph whose tasks cost nothing: no speedup to tell, and not "no
    # single unit can run every task", which is false.
    printf '{"format": "quiver-graph", "version": 1, "name": "z", "nodes": [{"id": 0, "function": "f", "cost_us": {"cpu": 0}}], "edges": []}\n' >"$D/zero.json"
    timeout 20 "$Q" plan --graph="$D/zero.json" --platform="$P" >"$D/out" 2>&1 ||
        fail "plan of a graph that costs nothing: $(cat "$D/out")"
    grep -q "no speedup to tell" "$D/out" || fail "plan, zero cost: $(cat "$D/out")"
    # One class, or one CU's argument, given twice: refused (the last won).
    timeout 20 "$Q" graph import "$SRC/tests/fuzz/dax/corpus/good-five-jobs.xml" \
        --accel gpu:1:1:1 --accel gpu:2:2:1 -o - >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "graph import --accel gpu twice: exit status not 2"
    grep -q "class 'gpu' twice" "$D/out" || fail "--accel twice: $(cat "$D/out")"
    timeout 20 "$Q" xclbin build -o - --platform p --kernel 'k(a:int*)' --bank DDR4:16G \
        --bank DDR4:16G --sp k_1.a:0 --sp k_1.a:1 >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "xclbin build --sp twice: exit status not 2"
    grep -q "sp gives k_1.a twice" "$D/out" || fail "--sp twice: $(cat "$D/out")"
    timeout 20 "$Q" profile --size n=1 --size n=2 -- /bin/true >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "profile --size n twice: exit status not 2"
    grep -q "that name has a --size already" "$D/out" || fail "--size twice: $(cat "$D/out")"
    timeout 20 "$Q" profile --size n=0x10 -- /bin/true >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "profile --size n=0x10: exit status not 2"
    # --json and --dot naming one file, by one name or two: refused,
    # nothing written (the JSON overwrote the DOT).
    for args in "--json=$D/o --dot=$D/o" "--json=$D/o --dot=$D/./o"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" plan --graph=$G --platform=$P $args >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "plan $args: exit $rc, expected 2"
        grep -q "name one file" "$D/out" || fail "plan $args: $(cat "$D/out")"
        [ -e "$D/o" ] && fail "plan $args wrote $D/o"
    done
    # An output naming an input, by one name or two: refused, the input
    # untouched (the plan was written over its graph).
    cp "$G" "$D/g.json"
    for args in "--json=$D/g.json" "--dot=$D/./g.json"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" plan --graph="$D/g.json" --platform=$P $args >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "plan --graph=g.json $args: exit $rc, expected 2"
        grep -q "names the file --graph reads" "$D/out" ||
            fail "plan --graph=g.json $args: $(cat "$D/out")"
        cmp -s "$G" "$D/g.json" || fail "plan --graph=g.json $args changed the graph"
    done
    # Nor over a file it reads unnamed: the policy (--config or
    # $QV_CONFIG), a platform's board file (each was replaced by the plan).
    printf 'scheduler: heft\n' >"$D/pol.yaml"
    cp "$D/pol.yaml" "$D/pol.orig"
    cp "$(dirname "$Q")/../share/quiver/boards/emu/u50-emu.yaml" "$D/u50.yaml"
    cp "$D/u50.yaml" "$D/u50.orig"
    printf 'platform: pb\nresources:\n  - {name: c, class: cpu, units: 2}\n  - {name: f, class: fpga, board: u50.yaml}\n' >"$D/pb.yaml"
    for run in "plan --graph=$G --config=$D/pol.yaml --json=$D/pol.yaml" \
               "plan --graph=$G --dot=$D/./pol.yaml" \
               "plan --graph=$G --platform=$D/pb.yaml --json=$D/u50.yaml"; do
        # shellcheck disable=SC2086
        QV_CONFIG=$D/pol.yaml timeout 20 "$Q" $run >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "$run: exit $rc, expected 2"
        grep -q "which planning reads: it would be overwritten" "$D/out" ||
            fail "$run: $(cat "$D/out")"
    done
    cmp -s "$D/pol.yaml" "$D/pol.orig" || fail "plan --json over its policy changed it"
    cmp -s "$D/u50.yaml" "$D/u50.orig" || fail "plan --json over a board file changed it"
    # The other commands that write: an output over an input they read
    # (or, for xclbin entry, the header the output includes) is refused
    # too, by one name or through a link (the catalog was replaced by C).
    printf '<adag></adag>\n' >"$D/wf.xml"
    printf 'not a bitstream\n' >"$D/bs.bin"
    printf 'int x;\n' >"$D/v.h"
    cp "$D/wf.xml" "$D/wf.orig"
    cp "$D/bs.bin" "$D/bs.orig"
    cp "$D/v.h" "$D/v.orig"
    ln -sf wf.xml "$D/wf-link.xml"
    cp "$(dirname "$Q")/../share/quiver/kernels.yaml" "$D/kk.yaml"
    cp "$D/kk.yaml" "$D/kk.orig"
    for cmd in "wrap --catalog $D/kk.yaml --functions vadd -o $D/kk.yaml" \
               "graph import $D/wf.xml -o $D/./wf.xml" \
               "graph import $D/wf.xml -o $D/wf-link.xml" \
               "xclbin build -o $D/bs.bin --platform p --kernel k(a:int*) --bitstream $D/bs.bin" \
               "xclbin entry --kernel k(a:int*) --header $D/v.h -o $D/v.h"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" $cmd >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "$cmd: exit $rc, expected 2"
        grep -q "it would be overwritten" "$D/out" || fail "$cmd: $(cat "$D/out")"
    done
    cmp -s "$D/kk.yaml" "$D/kk.orig" || fail "wrap -o over its catalog changed it"
    cmp -s "$D/wf.xml" "$D/wf.orig" || fail "graph import -o over its workflow changed it"
    cmp -s "$D/bs.bin" "$D/bs.orig" || fail "xclbin build -o over its bitstream changed it"
    cmp -s "$D/v.h" "$D/v.orig" || fail "xclbin entry -o over its header changed it"
    timeout 20 "$Q" check '' >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "check '': exit status not 2"
    grep -q "names no file" "$D/out" || fail "check '': $(cat "$D/out")"
    timeout 20 "$Q" graph gen qr -o '' >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "graph gen qr -o '': exit status not 2"
    grep -q "option '-o' needs a value" "$D/out" || fail "graph gen -o '': $(cat "$D/out")"
    timeout 20 "$Q" devices --board= >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "devices --board=: exit status not 2"
    # --config= is no policy file, as QV_CONFIG="".
    timeout 20 "$Q" devices --config= >"$D/out" 2>&1 || fail "devices --config=: $(cat "$D/out")"
    # A header name that would break the #include it goes into.
    timeout 20 "$Q" xclbin entry --kernel 'k(a:int*)' --header 'a"b.h' -o - >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "xclbin entry --header 'a\"b.h': exit status not 2"
    # A C keyword as the kernel's or an argument's name would not compile.
    for sig in 'int(a:int*)' 'k(for:int*)' '_Bool(a:int*)'; do
        timeout 20 "$Q" xclbin entry --kernel "$sig" -o - >"$D/out" 2>&1
        [ $? -eq 2 ] || fail "xclbin entry --kernel '$sig': exit status not 2"
        grep -q "a C keyword" "$D/out" || fail "xclbin entry --kernel '$sig': $(cat "$D/out")"
    done
    # Standard input that is no xclbin is refused at its first bytes.
    timeout 5 "$Q" xclbin info - </dev/zero >"$D/out" 2>&1
    [ $? -eq 1 ] || fail "xclbin info - </dev/zero: exit status not 1 within 5 s"
    grep -q "not an xclbin file" "$D/out" || fail "xclbin info - </dev/zero: $(cat "$D/out")"
    # A deadline of 1e300 us is printed whole (in exponent form).
    timeout 20 "$Q" plan --graph "$G" --platform "$P" --objective cost --deadline 1e300 \
        >"$D/out" 2>&1 || fail "plan --deadline 1e300: $(cat "$D/out")"
    grep -q "deadline 2.78e+290 h" "$D/out" || fail "plan --deadline 1e300: $(grep deadline "$D/out")"
    # An HLS type of a given size is a type.
    timeout 20 "$Q" xclbin build -o "$D/w.xclbin" --platform p \
        --kernel 'k(w:ap_uint<512>@64, a:int*)' >"$D/out" 2>&1 ||
        fail "xclbin build ap_uint<512>@64: $(cat "$D/out")"
    # Names and types go into generated C: only identifiers and C types.
    for k in 'v-1(a:int)' '(a:int)' 'v(:int)' 'v(a b:int)' 'v(a:int, a:int)' \
        'v(a:int)evil(@4)' 'v(a:int/*@4)' 'k */ int injected; /*(a:int)'; do
        for cmd in "xclbin entry -o -" "xclbin build -o $D/bad.xclbin --platform p"; do
            # shellcheck disable=SC2086
            timeout 20 "$Q" $cmd --kernel "$k" >"$D/out" 2>&1
            [ $? -eq 2 ] || fail "$cmd --kernel '$k': exit status not 2"
            grep -q "not a C\|given twice" "$D/out" || fail "$cmd --kernel '$k': $(cat "$D/out")"
        done
    done
    timeout 20 "$Q" --no-such-option >"$D/out" 2>&1
    [ $? -eq 2 ] || fail "quiver --no-such-option: exit status not 2"
    grep -q "unknown option '--no-such-option'" "$D/out" || fail "quiver --no-such-option: message"
    ;;
stdout)
    cd "$D" || exit 1
    "$Q" graph gen lu --nt 2 -o - >"$D/g.json" || fail "graph gen -o -"
    grep -q '"format": "quiver-graph"' "$D/g.json" || fail "graph gen -o -: no graph on stdout"
    "$Q" xclbin build -o - --platform p --kernel 'k(a:int*, n:int)' >"$D/x.xclbin" ||
        fail "xclbin build -o -"
    "$Q" xclbin info - <"$D/x.xclbin" >"$D/out" || fail "xclbin info - (stdin)"
    grep -q "platform:  p" "$D/out" || fail "xclbin info -: not the built file"
    "$Q" xclbin entry --kernel 'k(a:int*, n:int)' -o - >"$D/out" || fail "xclbin entry -o -"
    grep -q "void k__emu(const uint64_t \*args)" "$D/out" || fail "xclbin entry -o -: no entry"
    "$Q" plan --graph "$D/g.json" --platform "$SRC/boards/platforms/workstation.yaml" \
        --dot - >"$D/out" || fail "plan --dot -"
    grep -q "digraph" "$D/out" || fail "plan --dot -: no graph on stdout"
    [ -e "$D/-" ] && fail "a file named '-' was written"
    # An output that is a symbolic link or a FIFO is written through.
    ln -s x.xclbin "$D/link.xclbin"
    "$Q" xclbin build -o "$D/link.xclbin" --platform q --kernel 'k(a:int*)' ||
        fail "xclbin build -o LINK"
    [ -L "$D/link.xclbin" ] || fail "xclbin build -o LINK replaced the link"
    "$Q" xclbin info "$D/x.xclbin" | grep -q "platform:  q" || fail "xclbin build -o LINK: target not written"
    # A link to a file not there yet (through a second link): that file
    # is made, the links kept, as a shell's redirection does.
    mkdir "$D/sub" || exit 1
    ln -s sub/dl2.json "$D/dl.json"
    ln -s ../made.json "$D/sub/dl2.json"
    "$Q" plan --graph "$D/g.json" --platform "$SRC/boards/platforms/workstation.yaml" \
        --json "$D/dl.json" >/dev/null || fail "plan --json DANGLING-LINK"
    [ -L "$D/dl.json" ] && [ -L "$D/sub/dl2.json" ] || fail "plan --json DANGLING-LINK replaced a link"
    grep -q '"makespan_us"' "$D/made.json" || fail "plan --json DANGLING-LINK: target not written"
    mkfifo "$D/p" || exit 1
    timeout 20 cat "$D/p" >"$D/from-fifo" &
    timeout 20 "$Q" xclbin build -o "$D/p" --platform q --kernel 'k(a:int*)' ||
        fail "xclbin build -o FIFO"
    wait
    [ -p "$D/p" ] || fail "xclbin build -o FIFO replaced the FIFO"
    cmp -s "$D/x.xclbin" "$D/from-fifo" || fail "xclbin build -o FIFO: not the file"
    # The temporary beside the output is never followed: a link planted
    # under its name does not lead the write to another file.
    echo keep >"$D/victim"
    ln -s victim "$D/y.xclbin.tmp"
    "$Q" xclbin build -o "$D/y.xclbin" --platform q --kernel 'k(a:int*)' ||
        fail "xclbin build -o y.xclbin with a planted y.xclbin.tmp"
    [ "$(cat "$D/victim")" = keep ] || fail "xclbin build wrote through a planted link"
    cmp -s "$D/x.xclbin" "$D/y.xclbin" || fail "xclbin build -o y.xclbin: not the file"
    # Nor is a file of that name the build's to delete, and an output it
    # replaces keeps its mode (the temporary is a mkstemp name of its own).
    echo notes >"$D/z.xclbin.tmp"
    echo old >"$D/z.xclbin"
    chmod 600 "$D/z.xclbin"
    "$Q" xclbin build -o "$D/z.xclbin" --platform q --kernel 'k(a:int*)' ||
        fail "xclbin build -o z.xclbin beside a z.xclbin.tmp"
    [ "$(cat "$D/z.xclbin.tmp" 2>/dev/null)" = notes ] || fail "xclbin build deleted z.xclbin.tmp"
    cmp -s "$D/x.xclbin" "$D/z.xclbin" || fail "xclbin build -o z.xclbin: not the file"
    [ "$(stat -c %a "$D/z.xclbin")" = 600 ] || fail "xclbin build: the output's mode not kept"
    ls -a "$D" | grep -q quiver-out && fail "xclbin build left its temporary"
    # A write that fails leaves the old file whole and no temporary, and
    # says why (a full disk; here a file size limit with SIGXFSZ ignored,
    # EFBIG): a plan's --json on a full tmpfs was left truncated.
    "$Q" graph gen cholesky --nt 2 -o "$D/keep.json" || fail "graph gen -o keep.json"
    cp "$D/keep.json" "$D/keep.orig"
    (ulimit -f 1 && trap '' XFSZ && exec "$Q" graph gen cholesky --nt 12 -o "$D/keep.json") \
        2>"$D/err"
    rc=$?
    [ $rc -eq 1 ] || fail "graph gen past the file size limit: exit $rc, expected 1"
    grep -q "error writing $D/keep.json: File too large" "$D/err" ||
        fail "graph gen past the file size limit: $(cat "$D/err")"
    cmp -s "$D/keep.json" "$D/keep.orig" || fail "a failed write changed the old file"
    ls -a "$D" | grep -q quiver-out && fail "a failed write left its temporary"
    # A name near NAME_MAX is written (its temporary is no longer than it).
    long=$(printf '%0250d' 0).json
    "$Q" graph gen cholesky --nt 2 -o "$D/$long" 2>"$D/err" || fail "graph gen -o LONG: $(cat "$D/err")"
    rm -f "$D/$long"
    # Standard output that cannot be written is exit status 1, with a message.
    if [ -w /dev/full ]; then
        for cmd in "--version" "check --json $SRC/boards/emu/u50-emu.yaml" "devices --json" \
            "xclbin info $D/x.xclbin" "xclbin build -o - --platform q --kernel k(a:int*)"; do
            # shellcheck disable=SC2086
            timeout 20 "$Q" $cmd >/dev/full 2>"$D/err"
            rc=$?
            [ $rc -eq 1 ] || fail "$cmd >/dev/full: exit $rc, expected 1"
            grep -q "error writing standard output" "$D/err" || fail "$cmd >/dev/full: no message"
        done
        # A failing command says it too (its errors went to standard output).
        printf 'kind: fpga\nplatfrom: x\n' >"$D/bad.yaml"
        timeout 20 "$Q" check --json "$D/bad.yaml" >/dev/full 2>"$D/err"
        rc=$?
        [ $rc -eq 1 ] || fail "check --json BAD >/dev/full: exit $rc, expected 1"
        grep -q "error writing standard output" "$D/err" ||
            fail "check --json BAD >/dev/full: no message"
        timeout 20 "$Q" graph gen cholesky --nt 2 -o /dev/stdout >/dev/full 2>"$D/err"
        [ "$(wc -l <"$D/err")" -eq 1 ] || fail "-o /dev/stdout >/dev/full: not one message: $(cat "$D/err")"
    fi
    # A file replaced keeps its owner (as root, where one can be given).
    if [ "$(id -u)" -eq 0 ] && chown nobody "$D/keep.json" 2>/dev/null; then
        "$Q" graph gen cholesky --nt 1 -o "$D/keep.json" 2>"$D/err" || fail "-o OWNED: $(cat "$D/err")"
        [ "$(stat -c %U "$D/keep.json")" = nobody ] || fail "-o OWNED: owner now $(stat -c %U "$D/keep.json")"
    fi
    # Our own descriptors as outputs (/dev/stdout, /dev/fd/N, the file
    # standard output is) are written through: what a shell appends to
    # keeps its lines.
    for o in /dev/stdout /dev/fd/1 /proc/self/fd/1; do
        echo KEEP >"$D/log"
        "$Q" graph gen cholesky --nt 2 -o "$o" >>"$D/log" 2>"$D/err" || fail "-o $o: $(cat "$D/err")"
        [ "$(head -n 1 "$D/log")" = KEEP ] || fail "-o $o >> FILE: the file lost its lines"
        grep -q '"format": "quiver-graph"' "$D/log" || fail "-o $o >> FILE: no graph"
    done
    # plan's JSON to /dev/stdout is the whole of standard output, as with '-'
    # (the summary it prints when the JSON goes to a file came after it).
    if [ -n "$JV" ]; then
        "$Q" plan --graph "$SRC/tests/fuzz/graph/fft8.json" \
            --platform "$SRC/boards/platforms/workstation.yaml" --json /dev/stdout >"$D/p.json" \
            2>"$D/err" || fail "plan --json /dev/stdout: $(cat "$D/err")"
        "$JV" "$D/p.json" || fail "plan --json /dev/stdout: not valid JSON"
    fi
    echo KEEP >"$D/log"
    "$Q" graph gen cholesky --nt 2 -o /dev/stderr 2>>"$D/log" || fail "-o /dev/stderr"
    [ "$(head -n 1 "$D/log")" = KEEP ] || fail "-o /dev/stderr 2>> FILE: the file lost its lines"
    grep -q '"format": "quiver-graph"' "$D/log" || fail "-o /dev/stderr 2>> FILE: no graph"
    ;;
numbers)
    K='k(a:int*)'
    G="$SRC/tests/fuzz/graph/fft8.json"
    P="$SRC/tests/partition/catalog/platform.yaml"
    W="$SRC/tests/fuzz/dax/corpus/good-five-jobs.xml"
    PL="plan --graph $G --platform $P"
    XB="xclbin build -o $D/x.xclbin --platform p"
    # "OPTION|ARGS" (| splits, as the values hold blanks): each refused.
    while IFS='|' read -r opt args; do
        [ -n "$opt" ] || continue
        eval "set -- $args"
        timeout 20 "$Q" "$@" >"$D/out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || fail "quiver $args: exit status $rc, expected 2: $(cat "$D/out")"
        grep -q -e "$opt" "$D/out" || fail "quiver $args: the option is not named: $(cat "$D/out")"
    done <<EOF
--deadline|$PL --objective cost --deadline 1e-400
--deadline|$PL --deadline 1e999
--deadline|$PL --deadline ' 5'
--deadline|$PL --deadline '5 '
--deadline|$PL --deadline 0x10
--objective|$PL --objective ' 0.5'
--objective|$PL --objective '0.5 '
--objective|$PL --objective 1e-400
--density|graph gen random --density ' 0.5' -o -
--ccr|graph gen fft --ccr 1e-400 -o -
--heterogeneity|graph gen fft --heterogeneity 0x1p-1 -o -
--accel|graph import $W -o $D/w.json --accel 'gpu: 0.5:16:1'
--accel|graph import $W -o $D/w.json --accel 'gpu:0.5:16:1e-400'
--accel|graph import $W -o $D/w.json --accel 'gpu:0.5:16:0x1p-1'
--accel|graph import $W -o $D/w.json --accel 'gpu:0.5:16:1:'
--probe-ms|devices --probe-ms ' 5'
--top|profile --top ' 5' -- true
--wait-children|profile --wait-children ' 5' -- true
--wait-children|profile --wait-children 1e-400 -- true
--cus|$XB --kernel '$K' --cus ' 2'
--timestamp|$XB --kernel '$K' --timestamp '	5'
--kernel|$XB --kernel 'k(w:ap_uint<512>@ 64, a:int*)'
EOF
    # What they take, they still take (0: no deadline; a subnormal is no 0).
    for args in "--objective 0.5 --deadline 0" "--objective cost --deadline 1e-310" \
        "--objective=+1 --deadline=1.5e3"; do
        # shellcheck disable=SC2086
        timeout 20 "$Q" plan --graph "$G" --platform "$P" $args >"$D/out" 2>&1 ||
            fail "plan $args: $(cat "$D/out")"
    done
    timeout 20 "$Q" graph gen random --density 0.5 --ccr 1e-310 -o - >"$D/out" 2>&1 ||
        fail "graph gen --density 0.5 --ccr 1e-310: $(cat "$D/out")"
    ;;
check-json)
    [ -n "$JV" ] || { echo "check-json needs JSON_VALID" >&2; exit 2; }
    printf 'kind: fpga\nplatfrom: x\n' >"$D/bad.yaml"
    # A file name with a quote, a backslash and an escape character.
    N=$(printf '%s/a"b\\c\033d.yaml' "$D")
    cp "$SRC/boards/emu/u50-emu.yaml" "$N"
    timeout 20 "$Q" check --json "$SRC/boards/emu/u50-emu.yaml" "$D/bad.yaml" "$N" \
        >"$D/out.json" 2>"$D/err"
    rc=$?
    [ $rc -eq 1 ] || fail "check --json with a bad file: exit $rc, expected 1"
    [ -s "$D/err" ] && fail "check --json wrote to stderr: $(cat "$D/err")"
    "$JV" "$D/out.json" || fail "check --json: not valid JSON"
    [ "$(grep -c '"path": ' "$D/out.json")" -eq 3 ] || fail "check --json: not 3 verdicts"
    grep -q '"kind": "board", "ok": true, "file": "[^"]*u50-emu.yaml", "line": null, "column": null, "message": null}' \
        "$D/out.json" || fail "check --json: no ok verdict for u50-emu.yaml"
    grep -qF '"kind": "board", "ok": false, "file": "'"$D"'/bad.yaml", "line": 2, "column": 1, "message": "unknown key '"'platfrom'"' in board; did you mean '"'platform'"'?"}' \
        "$D/out.json" || fail "check --json: no verdict with line and column for bad.yaml"
    grep -qF 'a\"b\\c\u001Bd.yaml' "$D/out.json" || fail "check --json: name not escaped"
    grep -q "$ESC" "$D/out.json" && fail "check --json: an escape character in the output"
    # A bad file whose name needs escaping: "file" is the argument, as "path".
    printf 'kind: fpga\nplatfrom: x\n' >"$N.bad"
    timeout 20 "$Q" check --json "$N.bad" "$N.none" >"$D/out.json" 2>"$D/err"
    "$JV" "$D/out.json" || fail "check --json of bad escaped names: not valid JSON"
    [ "$(grep -c '"path": "\([^"]\|\\"\)*", "kind": "[a-z]*", "ok": false, "file": "\([^"]\|\\"\)*"' "$D/out.json")" -eq 2 ] ||
        fail "check --json: no 2 bad verdicts: $(cat "$D/out.json")"
    sed -n 's/.*"path": \(".*"\), "kind".*"file": \(".*"\), "line".*/\1 \2/p' "$D/out.json" |
        while read -r a b; do
            [ "$a" = "$b" ] || echo "path $a, file $b"
        done >"$D/differ"
    [ -s "$D/differ" ] && fail "check --json: file is not path: $(cat "$D/differ")"
    # A path past the 1023 bytes of a qv_diag's file: "file" is the whole
    # path, as "path" (it was cut at 1023 bytes).
    L=$D
    for i in 1 2 3 4 5 6; do
        L=$L/$(printf "%0200d" "$i")
    done
    mkdir -p "$L" && printf 'kind: fpga\nplatfrom: x\n' >"$L/bad.yaml"
    timeout 20 "$Q" check --json "$L/bad.yaml" >"$D/out.json" 2>"$D/err"
    "$JV" "$D/out.json" || fail "check --json of a long path: not valid JSON"
    grep -qF '"file": "'"$L"'/bad.yaml", "line": 2' "$D/out.json" ||
        fail "check --json: file of a long path is not the whole path: $(cat "$D/out.json")"
    # A name that is not UTF-8: its bytes in path_hex, and \xFF as text in
    # path and file (\u00FF was the JSON of the file named U+00FF, another,
    # valid name); a UTF-8 name has no path_hex.
    grep -q path_hex "$D/out.json" && fail "check --json: path_hex for a UTF-8 name"
    X=$(printf '%s/a\377b.yaml' "$D")
    printf 'kind: fpga\nplatfrom: x\n' >"$X"
    timeout 20 "$Q" check --json "$X" >"$D/out.json" 2>"$D/err"
    "$JV" "$D/out.json" || fail "check --json of a name not UTF-8: not valid JSON"
    H=$(printf '%s' "$X" | od -An -tx1 | tr -d ' \n')
    grep -qF '"path": "'"$D"'/a\\xFFb.yaml", "path_hex": "'"$H"'", "kind": "board", "ok": false, "file": "'"$D"'/a\\xFFb.yaml", "line": 2' "$D/out.json" ||
        fail "check --json: a name not UTF-8 without its bytes: $(cat "$D/out.json")"
    grep -q 'u00FF' "$D/out.json" && fail "check --json: \\xFF written as U+00FF"
    # An empty file passes as the default policy, and is said to be empty
    # (a board truncated to nothing read as "ok (policy)").
    : >"$D/empty.yaml"
    timeout 20 "$Q" check "$D/empty.yaml" >"$D/out" 2>&1 || fail "check EMPTY: $(cat "$D/out")"
    grep -q "ok (policy; the file is empty: every setting at its default)" "$D/out" ||
        fail "check EMPTY: $(cat "$D/out")"
    timeout 20 "$Q" check --json -q "$SRC/boards/emu/u50-emu.yaml" >"$D/out.json"
    [ "$(cat "$D/out.json")" = "[]" ] || fail "check --json -q of a good file is not []"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
[ $fails -eq 0 ] && echo "ok: $CASE"
exit $((fails != 0))
