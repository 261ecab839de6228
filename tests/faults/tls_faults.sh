#!/bin/bash
# Fault suite, TLS to the authority (issue 18): the real jit-helperd polls the
# reference authority over HTTPS (ca_file = a test CA); the authority is
# restarted, same port and state, with a bad server certificate:
#   expired       signed by the right CA, valid for 127.0.0.1, notAfter yesterday
#   wrong name    signed by the right CA, valid now, but for other.example only
#   foreign       (unknown CA) valid for 127.0.0.1, signed by another CA
# and each time a grant is created meanwhile. In every case: the daemon refuses
# the connection (nothing taken from it: the new grant is not allowed), keeps
# its grants (the user granted before is still allowed, same revision), says so
# in `jitctl status` (sync.last_result names the certificate problem) and in the
# journal (one security.alert JIT_ALERT=authority_tls per distinct error, not
# one per poll), and answers on its socket throughout. With the good
# certificate back, it catches up (the grant made meanwhile is allowed).
#   tls_faults.sh JIT_HELPERD JITCTL AUTHORITY_DIR
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
set -eo pipefail
command -v openssl >/dev/null || skip "no openssl"
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
setup_tmp ft
SHOW_ON_FAIL+=("$T/authority.log")
HOST=web-01

# --- certificates: a test CA (openssl ca, so that notBefore/notAfter can be in the past)
mkdir -p "$T/pki/db"
(
cd "$T/pki"
: >db/index.txt && echo 01 >db/serial
cat >ca.cnf <<'EOF'
[ca]
default_ca = jit
[jit]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = default
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
EOF
mkca() { openssl req -x509 -newkey ed25519 -nodes -keyout "$1.key" -out "$1.pem" -days 30 -subj "/CN=$1 test CA" 2>/dev/null; }
# mkcert NAME CA SUBJECT SAN START END (openssl ca dates: YYYYMMDDHHMMSSZ)
mkcert() {
  openssl req -newkey ed25519 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
  printf 'subjectAltName=%s\n' "$4" >"$1.ext"
  openssl ca -batch -config ca.cnf -cert "$2.pem" -keyfile "$2.key" -in "$1.csr" -out "$1.pem" \
    -startdate "$5" -enddate "$6" -extfile "$1.ext" >"$1.log" 2>&1 || { cat "$1.log" >&2; return 1; }
  chmod 600 "$1.key"
}
at() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
mkca ca; mkca otherca
mkcert good ca "/CN=127.0.0.1" "IP:127.0.0.1" "$(at '-1 day')" "$(at '+2 days')" || die "certificate"
mkcert expired ca "/CN=127.0.0.1" "IP:127.0.0.1" "$(at '-60 days')" "$(at '-1 day')" || die "certificate"
mkcert wrongname ca "/CN=other.example" "DNS:other.example" "$(at '-1 day')" "$(at '+2 days')" || die "certificate"
mkcert foreign otherca "/CN=127.0.0.1" "IP:127.0.0.1" "$(at '-1 day')" "$(at '+2 days')" || die "certificate"
# The fixture itself: each bad certificate fails verification for the reason its case names.
openssl verify -CAfile ca.pem good.pem >/dev/null 2>&1 || die "test setup: good.pem does not verify"
[[ $(openssl verify -CAfile ca.pem expired.pem 2>&1) == *"certificate has expired"* ]] || die "test setup: expired.pem"
openssl verify -CAfile ca.pem -verify_ip 127.0.0.1 wrongname.pem >/dev/null 2>&1 && die "test setup: wrongname.pem matches 127.0.0.1"
openssl verify -CAfile ca.pem wrongname.pem >/dev/null 2>&1 || die "test setup: wrongname.pem is not from the CA"
) || exit 1

# --- the reference authority over TLS; restarts keep its ports and state.
tls_authority() {  # tls_authority CERT: (re)starts the authority serving pki/CERT.pem
  if [ -n "${AUTH_PID:-}" ]; then kill "$AUTH_PID" 2>/dev/null || true; reap "$AUTH_PID" || true; fi
  AUTH_ARGS=(--tls-cert "$T/pki/$1.pem" --tls-key "$T/pki/$1.key")
  authority_start || die "the authority did not start with $1.pem"
}
tls_authority good
admin host add "$HOST" >/dev/null || die "host add"
AUTH_URL=https://127.0.0.1:$AUTH_PORT
HELPERD_UIDS=3002000-3002100
helperd_config "$T/helperd.sock" "" "[nss]\nhome_base = $T/home"
sed -i "s|^\[authority\]|[authority]\nca_file = $T/pki/ca.pem\nupload_events = no|" "$T/helperd.conf"
# Short long polls and timeouts, so that each fault is met within seconds.
sed -i 's/^poll_wait = 20$/poll_wait = 2\nconnect_timeout = 1/' "$T/helperd.conf"
grep -qx "connect_timeout = 1" "$T/helperd.conf" || die "test setup: config not edited"
HELPERD_READY="quiet ctl status"

sync_field() { status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sync"][sys.argv[1]])' "$1"; }
last_result_has() { [[ $(sync_field last_result 2>/dev/null) == *"$1"* ]]; }
failures_at_least() { [ "$(sync_field consecutive_failures 2>/dev/null || echo 0)" -ge "$1" ]; }
alerts() { grep "security.alert" "$T/helperd.log" | grep -c "JIT_ALERT=authority_tls" || true; }

helperd_start || die "jit-helperd did not start"
admin grant create --host "$HOST" --user itdora --duration 2h --reason "granted before the faults" >/dev/null
wait_for --or-die "itdora granted over https" 30 allowed itdora
REV=$(revision)
lacks "authority_tls" "$T/helperd.log" || die "an authority_tls alert with a good certificate"
pass "good certificate: bundle taken over https (revision $REV)"

# bad_certificate CERT USER EXPECT: the authority now serves CERT; a grant for
# USER is made meanwhile. EXPECT: what sync.last_result must name.
bad_certificate() {
  local cert=$1 user=$2 expect=$3 before after
  before=$(alerts)
  tls_authority "$cert"
  admin grant create --host "$HOST" --user "$user" --duration 2h --reason "made while the certificate is $cert" >/dev/null
  wait_for --or-die "$cert: status names '$expect'" 30 last_result_has "$expect"
  # Several polls with the bad certificate (backoff 1-2 s): still one alert.
  local f0; f0=$(sync_field consecutive_failures)
  wait_for --or-die "$cert: three more refused polls" 30 failures_at_least $((f0 + 3))
  allowed itdora || die "$cert: itdora, granted before, is no longer allowed"
  [ "$(decision "$user")" != allow ] || die "$cert: $user was allowed from an authority whose certificate did not verify"
  [ "$(revision)" = "$REV" ] || die "$cert: revision moved from $REV to $(revision)"
  after=$(alerts)
  [ "$after" -eq $((before + 1)) ] ||
    die "$cert: expected one security.alert JIT_ALERT=authority_tls, found $((after - before)): $(grep authority_tls "$T/helperd.log" | tail -3)"
  grep "JIT_ALERT=authority_tls" "$T/helperd.log" | tail -1 | grep -q "$expect" ||
    die "$cert: the alert does not name '$expect': $(grep authority_tls "$T/helperd.log" | tail -1)"
  pass "$cert: refused ($(sync_field last_result)); itdora kept, $user not allowed, one alert"
}
bad_certificate expired itexp "certificate has expired"
bad_certificate wrongname itname "no alternative certificate subject name matches"
bad_certificate foreign itca "unable to get local issuer certificate"

# The good certificate back: the daemon catches up with every grant made meanwhile.
tls_authority good
for u in itexp itname itca; do wait_for --or-die "good certificate again: $u allowed" 30 allowed "$u"; done
allowed itdora || die "itdora lost after the recovery"
[ "$(revision)" -gt "$REV" ] || die "no newer revision after the recovery"
pass "good certificate again: caught up to revision $(revision)"
helperd_stop TERM || die "jit-helperd did not stop cleanly"
finish
