# expect.sh - shared by the shell tests that feed llmscale bad input.
# Source it after setting BIN (the binary) and T (a scratch directory) and
# zeroing pass/fail. A test may redefine run_case to expand shorthands.

# run_case CMD...: run with a time limit and no stdin; sets rc
run_case() {
    timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
}

# report_fail NAME WHY: print the failure with the first stderr lines
report_fail() {
    fail=$((fail + 1))
    echo "FAIL - $1: $2 $(head -n 3 "$T/err" | tr '\n' '|')"
}

# sanitizer_hit: true if stderr holds a sanitizer report
sanitizer_hit() {
    grep -q -e 'AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' -e 'UndefinedBehaviorSanitizer' "$T/err"
}

# expect_error NAME CMD...: exit 1, exactly one stderr line "llmscale: error: ..."
expect_error() {
    name=$1
    shift
    run_case "$@"
    lines=$(wc -l <"$T/err" | tr -d ' ')
    first=$(head -n 1 "$T/err")
    if sanitizer_hit; then
        report_fail "$name" "sanitizer report (exit $rc):"
    elif [ "$rc" -eq 124 ]; then
        report_fail "$name" "timed out after 60 s:"
    elif [ "$rc" -ge 128 ]; then
        report_fail "$name" "killed by signal $((rc - 128)) (exit $rc):"
    elif [ "$rc" -ne 1 ]; then
        report_fail "$name" "exit $rc, expected 1:"
    elif [ "$lines" -ne 1 ] || [ "$(wc -c <"$T/err" | tr -d ' ')" -ne $((${#first} + 1)) ]; then
        report_fail "$name" "$lines stderr lines, expected exactly 1:"
    elif [ "${first#llmscale: error: }" = "$first" ]; then
        report_fail "$name" "stderr does not start with 'llmscale: error: ':"
    else
        pass=$((pass + 1))
        echo "ok - $name"
        [ -z "${VERBOSE:-}" ] || echo "     $first"
    fi
}

# expect_ok NAME CMD...: exit 0, no sanitizer report
expect_ok() {
    name=$1
    shift
    run_case "$@"
    if sanitizer_hit; then
        report_fail "$name" "sanitizer report (exit $rc):"
    elif [ "$rc" -ne 0 ]; then
        report_fail "$name" "exit $rc, expected 0:"
    else
        pass=$((pass + 1))
        echo "ok - $name"
    fi
}

# le32 N: the 4 little-endian bytes of the int32 N (negative: two's complement)
le32() {
    v=$1
    for k in 0 8 16 24; do
        # shellcheck disable=SC2059 # the format is the octal escape of one byte
        printf "\\$(printf %03o $(((v >> k) & 255)))"
    done
}
# le16 N: the 2 little-endian bytes of the uint16 N
le16() {
    # shellcheck disable=SC2059
    printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))"
}
