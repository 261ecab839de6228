#!/bin/bash
# Integration: reference authority + jit-helperd (temp config, loopback http,
# temp state/socket/NSS paths, no sudoers) + jitctl.
#   integration_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
# Checks: status/grants/check reflect a grant created at the authority;
# revocation shows up through the long poll; the daemon restarted with the
# authority down serves the stored state; SIGHUP with a broken config keeps
# the old one; check-config names file/line/key; request relay uses the
# caller's kernel identity.
set -euo pipefail
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
T=$(mktemp -d /tmp/jit-helperd-it.XXXXXX)
chmod 755 "$T"
AUTH_PID= DAEMON_PID=
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  [ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null && wait "$AUTH_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- daemon log" >&2; cat "$T"/daemon*.log >&2 || true; exit 1; }
# Waits (bounded) until the command succeeds.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "timed out waiting for: $what"
}

mkdir -p "$T/keys"  # the state dir is created by the daemon
openssl genpkey -algorithm ed25519 -out "$T/authority.key" 2>/dev/null
openssl pkey -in "$T/authority.key" -pubout -out "$T/keys/it-key.pub"
chmod 600 "$T/authority.key"; chmod 644 "$T/keys/it-key.pub"

start_authority() {
  rm -f "$T/port"
  "$AUTH_DIR/jit-authority" --listen "127.0.0.1:${1:-0}" --port-file "$T/port" --key "$T/authority.key" \
      --key-id it-key --state "$T/authority.json" --approvals-required 1 --quiet >"$T/authority.log" 2>&1 &
  AUTH_PID=$!
  wait_for "authority port file" test -s "$T/port"
}
admin() { "$AUTH_DIR/jit-authority-admin" --port-file "$T/port" "$@"; }
ctl() { "$JITCTL" --socket "$T/helperd.sock" "$@"; }

start_authority
PORT=$(cat "$T/port")
admin host add web-01 >/dev/null

cat >"$T/helperd.conf" <<CONF
[authority]
url = http://127.0.0.1:$PORT
host_id = web-01
trusted_keys_dir = $T/keys
poll_wait = 20
backoff_max = 2
[socket]
path = $T/helperd.sock
[state]
dir = $T/state
[access]
managed_uid_min = 3000000
managed_uid_max = 3000100
[nss]
db_path = $T/nss.db
home_base = $T/home
create_home = no
[sudo]
dropin_path =
CONF

"$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null || fail "valid config refused"
ctl check-config --config "$T/helperd.conf" >/dev/null || fail "jitctl check-config refused a valid config"

start_daemon() {
  "$HELPERD" --config "$T/helperd.conf" >>"$T/daemon.log" 2>&1 &
  DAEMON_PID=$!
  wait_for "daemon answering" "$JITCTL" --socket "$T/helperd.sock" status
}
has_revision() { ctl status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["revision"] >= int(sys.argv[1]) else 1)' "$1"; }
decision() { ctl check "$1" --json ${2:+--service "$2"} | python3 -c 'import json,sys; print(json.load(sys.stdin)["decision"])'; }

start_daemon
wait_for "first bundle" has_revision 1
grep -q "plain http" "$T/daemon.log" || fail "no warning about plain http"

# No grant yet: italice is unknown, so not managed (PAM_IGNORE).
[ "$(decision italice)" = ignore ] || fail "italice should be unmanaged before any grant"

GID=$(admin grant create --host web-01 --user italice --duration 1h --reason "integration test" --sudo-command /usr/bin/id)
wait_for "grant visible" sh -c "'$JITCTL' --socket '$T/helperd.sock' grants | grep -q '$GID'"
[ "$(decision italice)" = allow ] || fail "italice should be allowed with grant $GID"
[ "$(decision italice sudo)" = allow ] || fail "italice sudo should be allowed"
ctl check italice >"$T/out" || fail "jitctl check exit code for allow"
grep -q "access until" "$T/out" || fail "check does not show the PAM message: $(cat "$T/out")"
ctl status >"$T/status" || fail "jitctl status failed"
grep -q "1 active" "$T/status" || fail "status does not count the grant: $(cat "$T/status")"
grep -q "127.0.0.1:$PORT" "$T/status" || fail "status does not show the authority URL"
# The NSS snapshot was published to the configured temp path (never /var/lib/jit).
[ -s "$T/nss.db" ] || fail "no NSS snapshot at $T/nss.db"

# Audit events reach the authority through the upload queue.
wait_for "events uploaded" sh -c "'$AUTH_DIR/jit-authority-admin' --port-file '$T/port' events list --host web-01 | grep -q bundle.accepted"

# Revocation reaches the daemon through the long poll (no restart, no waiting for poll_wait).
admin grant revoke --host web-01 "$GID" >/dev/null
wait_for "revocation" sh -c "[ \"\$('$JITCTL' --socket '$T/helperd.sock' check italice --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"decision\"])')\" != allow ]"
set +e; ctl check italice >/dev/null; rc=$?; set -e
[ "$rc" = 10 ] || [ "$(decision italice)" = ignore ] || fail "revoked: unexpected exit $rc"

# A new grant, then the authority goes down and the daemon restarts: stored state is served.
GID2=$(admin grant create --host web-01 --user itbob --duration 1h --reason "restart test")
wait_for "second grant" sh -c "'$JITCTL' --socket '$T/helperd.sock' grants | grep -q '$GID2'"
kill "$AUTH_PID"; wait "$AUTH_PID" 2>/dev/null || true; AUTH_PID=
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || fail "daemon did not exit cleanly on SIGTERM"; DAEMON_PID=
grep -q "daemon.stopped" "$T/daemon.log" || fail "no daemon.stopped event"
start_daemon
[ "$(decision itbob)" = allow ] || fail "restart with authority down: stored grant not served"
ctl status | grep -q "error" || fail "status should report the failing authority"

# SIGHUP with a broken config keeps the running one.
cp "$T/helperd.conf" "$T/helperd.conf.good"
printf '[authority]\npoll_wait = 99\n' >>"$T/helperd.conf"
kill -HUP "$DAEMON_PID"
wait_for "reload failure logged" grep -q "config_reload_failed" "$T/daemon.log"
[ "$(decision itbob)" = allow ] || fail "broken reload dropped state"
set +e; out=$(ctl check-config --config "$T/helperd.conf" 2>&1); rc=$?; set -e
[ "$rc" = 1 ] || fail "check-config exit $rc for a bad config"
echo "$out" | grep -q "helperd.conf:2[0-9]: key 'authority.poll_wait'" || fail "check-config message: $out"
set +e; "$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 78 ] || fail "jit-helperd --check-config exit $rc for a bad config"
cp "$T/helperd.conf.good" "$T/helperd.conf"
kill -HUP "$DAEMON_PID"
wait_for "reload logged" grep -q "config.reloaded" "$T/daemon.log"

# Authority back (same port): the daemon catches up.
start_authority "$PORT"
GID3=$(admin grant create --host web-01 --user itcarol --duration 1h --reason "after outage")
wait_for "catch up after outage" sh -c "'$JITCTL' --socket '$T/helperd.sock' grants | grep -q '$GID3'"

# Request relay: the identity is the caller's uid, whatever it claims.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getent passwd nobody >/dev/null; then
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$JITCTL" --socket "$T/helperd.sock" \
      request --reason "integration relay" --duration 30m --json >"$T/request.json" || fail "request relay failed: $(cat "$T/request.json")"
  RID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/request.json")
  admin request show --host web-01 "$RID" >"$T/request.show" 2>&1 || true
  grep -q nobody "$T/request.show" || fail "authority did not record the request as nobody: $(cat "$T/request.show")"
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$JITCTL" --socket "$T/helperd.sock" request-status "$RID" | grep -q pending \
      || fail "request-status"
  # An unprivileged peer may not ask about someone else.
  set +e; setpriv --reuid=nobody --regid=nogroup --clear-groups "$JITCTL" --socket "$T/helperd.sock" check itcarol >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" = 1 ] || fail "nobody could check another user (exit $rc)"
fi

# The daemon is gone: jitctl says so with exit code 3.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=
set +e; ctl status >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 3 ] || fail "jitctl status without daemon: exit $rc, expected 3"
echo "helperd integration: OK"
