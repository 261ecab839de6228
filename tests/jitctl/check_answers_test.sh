#!/bin/bash
# `jitctl check` against a stand-in daemon (tests/integration/fake_helperd.py):
# its exit code follows the decision (0 allow or not managed, 10 deny), and an
# answer without a valid decision is an error (1), never "allowed".
# Usage: check_answers_test.sh JITCTL FAKE_HELPERD
set -u
JITCTL=$1
FAKE=$2
WORK=$(mktemp -d /tmp/jitctl-check-test.XXXXXX)
FAKE_PID=""
trap '[ -n "$FAKE_PID" ] && kill "$FAKE_PID"; rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cat > "$WORK/decisions.json" <<'EOJ'
{"alice": {"decision": "allow", "reason": "active_grant", "grant_id": "g-1"},
 "bob": {"decision": "deny", "reason": "no_grant", "message": "jitlogin: no active grant for bob"},
 "carl": {"decision": "maybe"},
 "dana": {"decision": ""}}
EOJ
/usr/bin/python3 "$FAKE" --socket "$WORK/s.sock" --decisions "$WORK/decisions.json" --log "$WORK/requests.log" \
  > "$WORK/fake.out" 2>&1 &
FAKE_PID=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/fake.out" 2>/dev/null && break; sleep 0.05; done

expect() {  # expect RC USER
    "$JITCTL" --socket "$WORK/s.sock" check "$2" > "$WORK/out" 2> "$WORK/err"
    local rc=$?
    [ "$rc" = "$1" ] || fail "jitctl check $2 exited $rc, expected $1 (stdout: $(cat "$WORK/out"); stderr: $(cat "$WORK/err"))"
}
expect 0 alice
expect 10 bob
expect 0 nobody-managed
expect 1 carl
grep -q "no valid decision ('maybe')" "$WORK/err" || fail "the invalid decision is named: $(cat "$WORK/err")"
expect 1 dana

[ "$failures" = 0 ] && echo "all jitctl check cases passed"
[ "$failures" = 0 ]
