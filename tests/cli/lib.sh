# shellcheck shell=bash
# tests/cli/lib.sh - the small harness the CLI tests (tests/cli/test_*.sh)
# source. Each test case ends in t_ok or t_fail; the script ends with
# t_summary, whose RESULT line tests/run adds up.
#
#   t_ok NAME                   a passed case
#   t_fail NAME MSG             a failed case, with why
#   t_check NAME CMD...         passes when CMD exits 0; shows its output if not
#   t_check_fails NAME RE CMD...  passes when CMD exits non-zero and its output
#                               (stdout + stderr) matches the extended regex RE
#   t_expect NAME RC RE CMD...  the same for exit status RC (or "nonzero");
#                               the output is left in $t_out
#   t_summary SUITE             prints "RESULT SUITE passed=N failed=M" and
#                               exits 1 when anything failed, else 0
#
# Programs are taken from $JEN1_BUILD (default build), scratch files go under
# $JEN1_TEST_TMP (default $JEN1_BUILD/tmp); tests run from the repository root.

JEN1_BUILD=${JEN1_BUILD:-build}
JEN1_TEST_TMP=${JEN1_TEST_TMP:-$JEN1_BUILD/tmp}
mkdir -p "$JEN1_TEST_TMP"

t_passed=0
t_failed=0

t_ok() {
    t_passed=$((t_passed + 1))
    echo "ok   $1"
}

t_fail() {
    t_failed=$((t_failed + 1))
    echo "FAIL $1: $2"
}

# Indented, at most 20 lines: enough to see why without flooding the log.
t_show_output() {
    printf '%s\n' "$1" | head -n 20 | sed 's/^/    /'
}

t_check() {
    local name=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        t_ok "$name"
    else
        t_fail "$name" "'$*' exited $rc"
        t_show_output "$out"
    fi
}

# t_expect NAME WANT RE CMD...: CMD exits WANT (a status, or "nonzero") and
# its output (stdout + stderr) matches the extended regex RE. The output is
# left in $t_out for further checks.
t_expect() {
    local name=$1 want=$2 pattern=$3 rc=0
    shift 3
    t_out=$("$@" 2>&1) || rc=$?
    if { [ "$want" = nonzero ] && [ "$rc" -eq 0 ]; } || { [ "$want" != nonzero ] && [ "$rc" -ne "$want" ]; }; then
        t_fail "$name" "'$*' exited $rc, expected $want"
        t_show_output "$t_out"
    elif ! grep -Eq -- "$pattern" <<<"$t_out"; then
        t_fail "$name" "'$*' exited $rc without output matching /$pattern/"
        t_show_output "$t_out"
    else
        t_ok "$name"
    fi
}

t_check_fails() {
    local name=$1 pattern=$2
    shift 2
    t_expect "$name" nonzero "$pattern" "$@"
}

t_summary() {
    echo "RESULT $1 passed=$t_passed failed=$t_failed"
    [ "$t_failed" -eq 0 ] && exit 0
    exit 1
}
