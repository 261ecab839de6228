#!/bin/bash
# jit-helperd + the reference authority: every audit event the daemon emits
# (its stderr sink on this journald-less host) reaches the authority exactly
# once, across a kill -9 while an upload is in flight (the authority stores the
# batch after its injected delay; the host never saw the 204) and a restart.
#   daemon_upload_e2e.sh JIT_HELPERD JITCTL AUTHORITY_DIR      (exit 77 = skipped)
set -uo pipefail
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
[ -x "$AUTH_DIR/jit-authority" ] || { echo "SKIP: no reference authority"; exit 77; }
T=$(mktemp -d /tmp/jit-upload-daemon-e2e.XXXXXX)
chmod 755 "$T"
AUTH_PID= DAEMON_PID=
cleanup() {
  [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  [ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null && wait "$AUTH_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- daemon log" >&2; tail -n 40 "$T/daemon.log" >&2; exit 1; }
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "timed out waiting for: $what"
}

mkdir -p "$T/keys" "$T/state"
openssl genpkey -algorithm ed25519 -out "$T/authority.key" 2>/dev/null
openssl pkey -in "$T/authority.key" -pubout -out "$T/keys/up-key.pub"
chmod 600 "$T/authority.key"; chmod 644 "$T/keys/up-key.pub"
"$AUTH_DIR/jit-authority" --listen 127.0.0.1:0 --port-file "$T/port" --key "$T/authority.key" \
    --key-id up-key --quiet >"$T/authority.log" 2>&1 &
AUTH_PID=$!
wait_for "authority port file" test -s "$T/port"
PORT=$(cat "$T/port")
admin() { "$AUTH_DIR/jit-authority-admin" --port-file "$T/port" "$@"; }
ctl() { "$JITCTL" --socket "$T/helperd.sock" "$@"; }
admin host add web-up >/dev/null || fail "admin host add"

cat >"$T/helperd.conf" <<CONF
[authority]
url = http://127.0.0.1:$PORT
host_id = web-up
trusted_keys_dir = $T/keys
poll_wait = 20
backoff_max = 2
upload_events = yes
[socket]
path = $T/helperd.sock
[state]
dir = $T/state
[access]
managed_uid_min = 3000200
managed_uid_max = 3000300
[nss]
db_path = $T/nss.db
home_base = $T/home
create_home = no
[sudo]
dropin_path =
CONF

start_daemon() {
  "$HELPERD" --config "$T/helperd.conf" >>"$T/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 300); do
    ctl status >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "jit-helperd exited at start"
    sleep 0.1
  done
  fail "timed out waiting for the daemon to answer"
}
# Event lines of the daemon's StderrSink, in order: their event names.
local_events() { grep -oE '^jit-helperd: [a-z_]+\.[a-z_]+ priority=[0-7] ' "$T/daemon.log" | awk '{print $2}'; }
# The authority's stored events for the host: "seq type" lines; exit 1 unless seqs are 1..N.
remote_events() {
  admin events list --host web-up | python3 -c '
import json, sys
d = json.load(sys.stdin)
seqs = [e["seq"] for e in d["events"]]
for e in d["events"]: print(e["seq"], e["type"])
sys.exit(0 if seqs == list(range(1, len(seqs) + 1)) else 1)'
}
# Converged: the authority holds exactly the daemon's local events, in order, once each.
converged() {
  local a b
  a=$(local_events) || return 1
  b=$(remote_events | awk '{print $2}') || return 1
  [ -n "$a" ] && [ "$a" = "$b" ]
}

"$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null 2>&1 \
  || { echo "SKIP: this jit-helperd has no authority.upload_events"; exit 77; }
start_daemon
wait_for "first events uploaded" converged

# An upload held by the authority (stored after 3 s), and the daemon killed meanwhile.
admin fault set --endpoint events --mode delay --seconds 3 --host web-up >/dev/null || fail "fault set"
GID=$(admin grant create --host web-up --user upalice --duration 1h --reason "upload e2e") || fail "grant create"
wait_for "the delayed upload reached the authority" sh -c \
  "'$AUTH_DIR/jit-authority-admin' --port-file '$T/port' fault list | python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)[\"rules\"] else 1)'"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
sleep 3.5   # the authority finishes storing the batch the host never saw acknowledged
BEFORE=$(admin events list --host web-up | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')

start_daemon
wait_for "everything uploaded after the restart" converged
DUPS=$(admin events list --host web-up | python3 -c 'import json,sys; print(json.load(sys.stdin)["duplicates"])')
[ "$DUPS" -gt 0 ] || fail "expected the unacknowledged batch to be re-sent (duplicates=$DUPS, stored before restart=$BEFORE)"
REMOTE=$(remote_events) || fail "authority seqs are not 1..N: $REMOTE"
grep -q "grant.activated" <<<"$REMOTE" || fail "grant.activated of $GID not uploaded"
N=$(wc -l <<<"$REMOTE")
echo "PASS: $N daemon events at the authority exactly once across kill -9 in flight ($DUPS re-sent duplicates ignored)"
