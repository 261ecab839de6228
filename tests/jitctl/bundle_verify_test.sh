#!/bin/bash
# CLI tests of `jitctl bundle verify` on the protocol test vectors.
# Usage: bundle_verify_test.sh JITCTL VECTORS_DIR
set -u
JITCTL=$1
VECTORS=$2
WORK=$(mktemp -d /tmp/jitctl-bundle-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Trust anchors must not be writable by others: use a private copy.
mkdir -m 700 "$WORK/keys"
install -m 644 "$VECTORS/authority-test.pub" "$WORK/keys/authority-test.pub"
KEYS="$WORK/keys"
NOW=1764250300   # inside the vector's window (issued 1764250000, expires 1764250900)
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run EXPECTED_RC ARGS...: runs jitctl, keeps stdout/stderr in $OUT/$ERR.
run() {
    local expected=$1; shift
    "$JITCTL" "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
    if [ "$RC" -ne "$expected" ]; then
        fail "jitctl $* exited $RC, expected $expected"; echo "  stdout: $OUT"; echo "  stderr: $ERR"
        return 1
    fi
    return 0
}
expect_out() { grep -qF -- "$1" <<<"$OUT" || fail "stdout lacks '$1' (case: $CASE)"; }
expect_err() { grep -qF -- "$1" <<<"$ERR" || fail "stderr lacks '$1' (case: $CASE)"; }

CASE="accepts the vector"
if run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW; then
    expect_out "revision 42"
    expect_out "g-7f3a"; expect_out "g-88aa"
    expect_out "alice"; expect_out "bob"
    expect_out "as root: /usr/bin/apt-get; /usr/bin/systemctl restart nginx"
    expect_out "2025-11-27 13:26:40"   # window start in local time (TZ=UTC)
    expect_out "active, ends in 55 min"
    expect_out "INC-1234: disk full on web-01"
    [ -z "$ERR" ] || fail "unexpected stderr with --host-id: $ERR"
fi

CASE="json output"
if run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW --json; then
    python3 - "$WORK/out" <<'PY' || fail "JSON output does not describe the vector"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["accepted"] is True and d["revision"] == 42 and d["host_id"] == "web-01", d
assert [g["id"] for g in d["grants"]] == ["g-7f3a", "g-88aa"], d["grants"]
a = d["grants"][0]
assert a["user"] == "alice" and a["uid"] == 70001 and a["sudo"]["run_as"] == "root", a
assert a["not_before"]["unix"] == 1764250000 and a["state"] == "active", a
assert a["approved_by"] == ["bob"] and a["groups"] == ["adm"], a
assert d["grants"][1]["uid"] is None and d["grants"][1]["sudo"] is None
assert d["stale"] is False and d["host_id_checked"] is True
PY
fi

CASE="stdin"
if run 0 bundle verify - --trusted-keys "$KEYS" --host-id web-01 --now $NOW <"$VECTORS/envelope.json"; then
    expect_out "revision 42"
fi

CASE="tampered"
if run 1 bundle verify "$VECTORS/envelope-tampered.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW; then
    expect_err "bundle rejected by rule 1 (signature)"
    [ -z "$OUT" ] || fail "tampered envelope printed grants: $OUT"
fi

CASE="tampered json"
if run 1 bundle verify "$VECTORS/envelope-tampered.json" --trusted-keys "$KEYS" --now $NOW --json; then
    # an error is one line of JSON
    expect_out '"accepted":false'; expect_out '"code":"signature"'; expect_out '"rule":1'
    [ "$(wc -l <"$WORK/out")" = 1 ] || fail "the rejection is not one line (case: $CASE)"
fi

CASE="host id from payload"
if run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --now $NOW; then
    expect_err "taken from the payload"
fi

CASE="wrong host"
run 1 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-02 --now $NOW \
    && { expect_err "web-02"; expect_err "rule 2 (host_id)"; }

CASE="rollback"
run 1 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW --after-revision 43 \
    && { expect_err "rollback"; expect_err "rule 3"; }

CASE="equal revision without previous bytes"
run 1 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW --after-revision 42 \
    && expect_err "fork"

CASE="equal revision, identical bytes"
run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW \
    --previous "$VECTORS/envelope.json"

CASE="newer revision"
run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now $NOW --after-revision 41

CASE="issued in the future"
run 1 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now 1764249699 \
    && { expect_err "issued_at"; expect_err "rule 4"; }
CASE="issued exactly at the skew limit"
run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now 1764249700

CASE="stale"
run 0 bundle verify "$VECTORS/envelope.json" --trusted-keys "$KEYS" --host-id web-01 --now 1764250901 && expect_out "STALE"

CASE="unknown key"
mkdir -m 700 "$WORK/otherkeys"
sed 's/authority-test/authority-other/' "$VECTORS/envelope.json" >"$WORK/renamed.json"
run 1 bundle verify "$WORK/renamed.json" --trusted-keys "$KEYS" --now $NOW && expect_err "authority-other"

CASE="garbage input"
printf '{"key_id":"authority-test","payload":"e30","signature":"x"}' >"$WORK/truncated.json"
run 1 bundle verify "$WORK/truncated.json" --trusted-keys "$KEYS" --now $NOW && expect_err "base64"

CASE="missing key directory"
run 2 bundle verify "$VECTORS/envelope.json" --trusted-keys "$WORK/nonexistent" --now $NOW && expect_err "nonexistent"
CASE="empty key directory"
run 2 bundle verify "$VECTORS/envelope.json" --trusted-keys "$WORK/otherkeys" --now $NOW && expect_err "no trusted keys"
CASE="missing envelope file"
run 2 bundle verify "$WORK/nope.json" --trusted-keys "$KEYS" --now $NOW && expect_err "nope.json"

CASE="help"
run 0 --help && { expect_out "bundle"; expect_out "jitctl"; }
if run 0 bundle verify --help; then
    for word in ENVELOPE --trusted-keys --host-id --after-revision --previous --now --json "Exit status"; do
        expect_out "$word"
    done
fi
CASE="usage error"
"$JITCTL" bundle verify "$VECTORS/envelope.json" >/dev/null 2>&1 && fail "missing --trusted-keys accepted"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all jitctl bundle verify checks passed"
