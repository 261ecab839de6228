#!/bin/bash
# jit-helperd over HTTPS against the reference authority: server verification
# with ca_file, mTLS client certificate, bearer token; a wrong CA and a missing
# client certificate get no bundle.
#   tls_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -eo pipefail
command -v openssl >/dev/null || skip "no openssl"
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
setup_tmp tls
SHOW_ON_FAIL+=("$T/authority.log")
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
mkdir keys auth
openssl genpkey -algorithm ed25519 -out signing.key 2>/dev/null
openssl pkey -in signing.key -pubout -out keys/tls-key.pub
echo "s3cret-token-123" >token; chmod 600 token
echo "web-01 s3cret-token-123" >authority-tokens

# The authority over TLS (authority_start speaks plain http); lib's admin reads auth/admin-port.
"$AUTHORITY" --listen 127.0.0.1:0 --port-file auth/port --admin-listen 127.0.0.1:0 --admin-port-file auth/admin-port \
  --key signing.key --key-id tls-key --tls-cert server.pem --tls-key server.key --client-ca ca.pem \
  --mtls-host-binding --token-file authority-tokens --quiet >authority.log 2>&1 &
PIDS+=($!)
wait_for --or-die "authority" 30 test -s auth/admin-port
HOST=web-01 AUTH_URL=https://127.0.0.1:$(cat auth/port)
admin host add "$HOST" >/dev/null

HELPERD_STATE_BY_DAEMON=1 HELPERD_READY="quiet ctl status"
config() {  # CA CLIENT_CERT(yes/no): $T/helperd.conf against the https authority
  local client=""
  [ "$2" = no ] || client="\nclient_cert = $T/client.pem\nclient_key = $T/client.key"
  helperd_config "$T/helperd.sock" "" "[authority]\nca_file = $T/$1.pem\ntoken_file = $T/token\nupload_events = no$client"
}
run_daemon() { rm -rf "$T/state"; helperd_start || die "jit-helperd did not start"; }
stop_daemon() { helperd_stop || true; }
sync_json() { ctl status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['sync']['$1'])"; }
failed_once() { [ "$(sync_json consecutive_failures)" -ge 1 ]; }
has_bundle() { grep -q '"have_bundle" : true' <<<"$(ctl status --json)"; }
lists_grant() { grep -q "$1" <<<"$(ctl grants)"; }

# 1. Everything right: the bundle arrives and a grant shows up.
config ca yes
"$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null || die "good config refused"
run_daemon
wait_for --or-die "bundle over https+mTLS+token" 30 has_bundle
GID=$(admin grant create --host web-01 --user tlsuser --duration 1h --reason "tls test")
wait_for --or-die "grant over https" 30 lists_grant "$GID"
lacks "plain http" "$T/helperd.log" || die "https must not warn about plain http"
stop_daemon

# 2. The server certificate is not from the configured CA: verification fails, no bundle.
config otherca yes
run_daemon
wait_for --or-die "a failed attempt" 30 failed_once
out=$(ctl status --json) || die "jitctl status failed"
grep -q '"have_bundle" : false' <<<"$out" || die "bundle accepted despite a wrong CA: $out"
out=$(sync_json last_result) || die "no sync.last_result"
grep -qi "certificate\|SSL" <<<"$out" || die "wrong CA: unexpected error $out"
stop_daemon

# 3. No client certificate: the authority refuses the TLS handshake or the request.
config ca no
run_daemon
wait_for --or-die "a failed attempt" 30 failed_once
out=$(ctl status --json) || die "jitctl status failed"
grep -q '"have_bundle" : false' <<<"$out" || die "bundle served without a client certificate: $out"
stop_daemon
log "helperd TLS: OK"
