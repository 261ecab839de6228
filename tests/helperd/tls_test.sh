#!/bin/bash
# jit-helperd over HTTPS against the reference authority: server verification
# with ca_file, mTLS client certificate, bearer token; a wrong CA and a missing
# client certificate get no bundle.
#   tls_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
set -euo pipefail
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }
T=$(mktemp -d /tmp/jit-helperd-tls.XXXXXX)
AUTH_PID= DAEMON_PID=
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  [ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null && wait "$AUTH_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$T"/daemon*.log "$T/authority.log" >&2 || true; exit 1; }
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "timed out waiting for: $what"
}
cd "$T"
mkca() {  # name
  openssl req -x509 -newkey ed25519 -nodes -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=$1" 2>/dev/null
}
mkcert() {  # name ca subject san
  openssl req -newkey ed25519 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
  printf 'subjectAltName=%s\n' "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
  chmod 600 "$1.key"
}
mkca ca; mkca otherca
mkcert server ca "/CN=127.0.0.1" "IP:127.0.0.1"
mkcert client ca "/CN=web-01" "DNS:web-01"
mkdir keys
openssl genpkey -algorithm ed25519 -out signing.key 2>/dev/null
openssl pkey -in signing.key -pubout -out keys/tls-key.pub
echo "s3cret-token-123" >token; chmod 600 token
echo "web-01 s3cret-token-123" >authority-tokens

"$AUTH_DIR/jit-authority" --listen 127.0.0.1:0 --port-file port --admin-listen 127.0.0.1:0 --admin-port-file admin-port \
  --key signing.key --key-id tls-key --tls-cert server.pem --tls-key server.key --client-ca ca.pem \
  --mtls-host-binding --token-file authority-tokens --quiet >authority.log 2>&1 &
AUTH_PID=$!
wait_for "authority" test -s admin-port
PORT=$(cat port)
admin() { "$AUTH_DIR/jit-authority-admin" --port-file "$T/admin-port" "$@"; }
admin host add web-01 >/dev/null

config() {  # file ca client(yes/no)
  cat >"$1" <<CONF
[authority]
url = https://127.0.0.1:$PORT
host_id = web-01
trusted_keys_dir = $T/keys
ca_file = $T/$2.pem
token_file = $T/token
poll_wait = 20
backoff_max = 2
upload_events = no
[socket]
path = $T/helperd.sock
[state]
dir = $T/state
[nss]
db_path = $T/nss.db
create_home = no
[sudo]
dropin_path =
CONF
  if [ "$3" = yes ]; then
    sed -i "s|^token_file.*|&\nclient_cert = $T/client.pem\nclient_key = $T/client.key|" "$1"
  fi
}
ctl() { "$JITCTL" --socket "$T/helperd.sock" "$@"; }
run_daemon() {  # config log
  rm -rf "$T/state"
  "$HELPERD" --config "$1" >"$2" 2>&1 &
  DAEMON_PID=$!
  wait_for "daemon answering" ctl status
}
stop_daemon() { kill "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=; }
sync_json() { ctl status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['sync']['$1'])"; }
failed_once() { [ "$(sync_json consecutive_failures)" -ge 1 ]; }
has_bundle() { grep -q '"have_bundle" : true' <<<"$(ctl status --json)"; }
lists_grant() { grep -q "$1" <<<"$(ctl grants)"; }

# 1. Everything right: the bundle arrives and a grant shows up.
config good.conf ca yes
"$HELPERD" --check-config --config good.conf >/dev/null || fail "good config refused"
run_daemon good.conf daemon-good.log
wait_for "bundle over https+mTLS+token" has_bundle
GID=$(admin grant create --host web-01 --user tlsuser --duration 1h --reason "tls test")
wait_for "grant over https" lists_grant "$GID"
grep -q "plain http" daemon-good.log && fail "https must not warn about plain http"
stop_daemon

# 2. The server certificate is not from the configured CA: verification fails, no bundle.
config wrongca.conf otherca yes
run_daemon wrongca.conf daemon-wrongca.log
wait_for "a failed attempt" failed_once
ctl status --json | grep -q '"have_bundle" : false' || fail "bundle accepted despite a wrong CA"
sync_json last_result | grep -qi "certificate\|SSL" || fail "wrong CA: unexpected error $(sync_json last_result)"
stop_daemon

# 3. No client certificate: the authority refuses the TLS handshake or the request.
config nocert.conf ca no
run_daemon nocert.conf daemon-nocert.log
wait_for "a failed attempt" failed_once
ctl status --json | grep -q '"have_bundle" : false' || fail "bundle served without a client certificate"
stop_daemon
echo "helperd TLS: OK"
