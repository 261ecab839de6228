#!/bin/bash
# An ssh login of a user that exists only through libnss_jit, with the
# distribution's own sshd PAM stack (/etc/pam.d/sshd, unmodified: pam_unix's
# account phase accepts the "*" password field), key authentication, a home
# made by jit::enforce::create_home from /etc/skel. sshd listens on 127.0.0.1
# inside a private mount namespace (tests/nss/nss-namespace.sh).
#   ssh_login_test.sh TOOL MODULE [SANITIZED]
set -euo pipefail
tool=$1 module=$2 sanitized=${3:-0}
here=$(cd "$(dirname "$0")" && pwd)
[ "$sanitized" = 1 ] && { echo "SKIP: sanitizer build"; exit 77; }
if [ "$(id -u)" -ne 0 ] || ! command -v ssh >/dev/null || [ ! -x /usr/sbin/sshd ]; then
  echo "SKIP: needs root, ssh and sshd"; exit 77
fi
work=$(mktemp -d /tmp/jit-nss-ssh.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -m 0755 "$work/db" "$work/home" "$work/keys"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
for u in u0 u1 nogrant; do install -m 0644 "$work/client_key.pub" "$work/keys/$u"; done
T=$(date +%s)
cat >"$work/payload.json" <<JSON
{"type":"jit.grants.v1","host_id":"test-host","revision":1,"issued_at":$T,"expires_at":$((T+3600)),
 "grants":[
  {"id":"g0","user":"u0","login":true,"groups":["adm"],"not_before":$((T-60)),"not_after":$((T+3600)),
   "reason":"r","requested_by":"x","approved_by":[]},
  {"id":"g1","user":"u1","login":false,"not_before":$((T-60)),"not_after":$((T+3600)),
   "reason":"r","requested_by":"x","approved_by":[]}
 ],"revoked":[]}
JSON
"$tool" --db "$work/db/nss.db" --state-dir "$work/state" --home-base "$work/home" --now "$T" \
  --payload "$work/payload.json" --create-home u0 >"$work/publish.out"
cat >"$work/sshd_config.base" <<CONF
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/keys/%u
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
# the test directory lives under /tmp (sticky, world-writable): relax the path check
StrictModes no
CONF
cat >"$work/inside.sh" <<'SCRIPT'
set -u
work=$1
source "$2/../integration/lib.sh"  # free_port
mkdir -p /run/sshd
# A port the kernel just handed out and released; another test running beside
# this one can still take it first, so a failed bind tries another (sshd writes
# its PidFile only once it listens).
for _ in 1 2 3 4 5; do
  port=$(free_port)
  { echo "Port $port"; cat "$work/sshd_config.base"; } >"$work/sshd_config"
  /usr/sbin/sshd -D -e -f "$work/sshd_config" >>"$work/sshd.log" 2>&1 &
  sshd=$!
  for _ in $(seq 50); do [ -s "$work/sshd.pid" ] && break; kill -0 "$sshd" 2>/dev/null || break; sleep 0.1; done
  [ -s "$work/sshd.pid" ] && break
  wait "$sshd" 2>/dev/null
done
opts=(-i "$work/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
      -o ConnectTimeout=5 -o LogLevel=ERROR -p "$port")
echo "u0: $(ssh "${opts[@]}" u0@127.0.0.1 'id -un; id -Gn; pwd; echo $SHELL; ls -a ~ | grep -c bashrc' 2>&1 | tr '\n' ' ')"
echo "u1: $(ssh "${opts[@]}" u1@127.0.0.1 'id -un' 2>&1 | tr '\n' ' ')"
echo "nogrant: $(ssh "${opts[@]}" nogrant@127.0.0.1 'id -un' 2>&1 | tr '\n' ' ')"
kill "$sshd"; wait "$sshd" 2>/dev/null
exit 0
SCRIPT
out=$("$here/nss-namespace.sh" --module "$module" --db-dir "$work/db" -- bash "$work/inside.sh" "$work" "$here") || {
  r=$?; [ $r -eq 77 ] && echo "SKIP: no private mount namespace here"; exit $r; }
echo "$out"
fail=0
expect() { if grep -qE "$2" <<<"$out"; then echo "ok   $1"; else echo "FAIL $1 (wanted /$2/)"; fail=1; fi; }
expect "u0 logs in with a shell, its window group and its home" "^u0: u0 u0 adm $work/home/u0 /bin/bash 1 \$"
expect "u1 (login:false) gets no shell" "^u1: .*This account is currently not available"
expect "a user without a grant cannot log in" "^nogrant: .*Permission denied"
[ $fail -eq 0 ] || { echo "--- sshd log"; cat "$work/sshd.log"; }
exit $fail
