#!/bin/bash
# jitctl's command-line conventions, as a script meets them: a command line it
# does not understand exits 2 with one message (an unknown first word is
# called an unknown command); with --json every error is one line of JSON on
# standard output; --help and --version exit 0.
#   cli_test.sh PATH/TO/jitctl
set -uo pipefail
jitctl=$1
work=$(mktemp -d /tmp/jitctl-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
# expect RC 'STDERR REGEX' ARGS...: exit status and standard error
expect() {
    local want=$1 pattern=$2 rc
    shift 2
    "$jitctl" "$@" >"$work/out" 2>"$work/err"
    rc=$?
    if [ "$rc" != "$want" ]; then echo "FAIL jitctl $*: exit $rc, want $want ($(cat "$work/err"))"; fails=$((fails + 1)); return 1; fi
    if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$work/err"; then echo "FAIL jitctl $*: stderr '$(cat "$work/err")' lacks /$pattern/"; fails=$((fails + 1)); return 1; fi
    echo "ok   jitctl $* -> $rc"
}
# json_error CODE: standard output is exactly one line, a JSON object with that "error"
json_error() {
    local lines
    lines=$(wc -l <"$work/out")
    if [ "$lines" != 1 ] || ! python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); assert d["error"]==sys.argv[2], d; assert d["message"]' "$work/out" "$1"; then
        echo "FAIL --json error is not one JSON line with error=$1:"; cat "$work/out"; fails=$((fails + 1))
    fi
}

expect 2 "^jitctl: unknown command 'frobnicate'" frobnicate
expect 2 "unknown command 'frobnicate'" frobnicate --json && json_error usage
expect 2 "^jitctl: .*subcommand is required"
expect 2 "^jitctl: .*required" check
expect 2 "^jitctl: .*--bogus" status --bogus
expect 2 "^jitctl: .*--bogus" status --bogus --json && json_error usage
expect 2 "not a duration" --socket "$work/none.sock" request --reason x --duration soon --json && json_error usage
expect 2 "^jitctl: audit: --since" audit --since garbage --json && json_error usage
expect 3 "^jitctl: jit-helperd is not reachable" --socket "$work/none.sock" status --json && json_error unreachable
expect 3 "not reachable" --socket "$work/none.sock" grants --json && json_error unreachable
expect 2 "^jitctl: " bundle verify "$work/missing.json" --trusted-keys "$work" --json && json_error cannot_check
expect 0 "" --version
expect 0 "" --help

[ $fails -eq 0 ] && echo "jitctl CLI conventions ok" || { echo "$fails failure(s)"; exit 1; }
