#!/bin/bash
# Integration: authority/jit-authority (C++, SQLite) + the real jit-helperd +
# jitctl + jitadm, all on loopback in a temp dir (root only; exit 77 = skipped).
#   helperd_with_jit_authority.sh JIT_AUTHORITY JITADM JIT_HELPERD JITCTL
# Checks: a host registered with `jitadm host add` gets its first bundle with
# its token; `jitctl request` (as another user: the kernel's identity) reaches
# the authority, a request the rules refuse shows their reason in jitctl; an
# approval with jitadm puts the grant on the host; a revocation removes it;
# `kill -9` of the authority while approvals and grants are being written
# loses nothing acknowledged and the host never sees a rollback; another
# host's bundle is refused with 403.
AUTHORITY=$1 JITADM=$2 HELPERD=$3 JITCTL=$4
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -eo pipefail
[ "$(id -u)" = 0 ] || skip "needs root (jit-helperd manages accounts)"
command -v setpriv >/dev/null && getent passwd nobody >/dev/null || skip "needs setpriv and the user nobody"
setup_tmp ja
HOST=web-$TAG KEY_ID=ja-$TAG
SHOW_ON_FAIL+=("$T/authority.log" "$T/writer.err")

source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
jit_authority_init <<EOC
[rule relay]
groups = it
requesters = nobody dora
approvers = carol
approvals = 1
max_duration = 2h
sudo = /usr/bin/id
EOC
jit_authority_up || die "jit-authority did not start"
jit_authority_add_host
adm() { "$JITADM" "$@"; }
adm host add "other-$TAG" >"$T/other.token" || die "second host"
adm person add dora --role requester >"$T/auth/dora.token" || die "person add"
HELPERD_UIDS=3000000-3000100 HELPERD_STATE_BY_DAEMON=1
jit_helperd_up "$T/helperd.sock" "" "[nss]\nhome_base = $T/home"
pass "first bundle"

# Another host's bundle, with this host's token: 403.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/host.token")" -A it/1 \
  "http://127.0.0.1:$AUTH_PORT/v1/hosts/other-$TAG/grants?after=0")
[ "$code" = 403 ] && pass "another host's bundle is 403" || fail "another host's bundle: $code"

ctl_as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$JITCTL" --socket "$HELPERD_SOCK" "$@"; }
# The rules refuse: the engineer sees why.
set +e; out=$(ctl_as_nobody request --reason "too long" --duration 5h 2>&1); set -e
[[ $out == *"at most 2 h"* ]] && pass "jitctl request shows the rules' reason" || fail "refused request: $out"

ctl_as_nobody request --reason "integration via jit-authority" --duration 30m --json >"$T/request.json" \
  || die "request relay failed: $(cat "$T/request.json")"
RID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/request.json")
adm --json requests show "$RID" >"$T/request.show"
grep -q '"requested_by" : "nobody"' "$T/request.show" && pass "requester is the kernel's identity" \
  || fail "request at the authority: $(cat "$T/request.show")"
adm requests approve "$RID" --comment "go ahead" >/dev/null || die "approve failed"
GID=$(adm --json requests show "$RID" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant_id"])')
wait_for --or-die "approved grant on the host" 30 lists_grant "$GID"
out=$(ctl_as_nobody request-status "$RID") || die "request-status failed: $out"
[[ $out == *approved* ]] && pass "approved grant reached the host" || fail "request-status: $out"

adm grant revoke "$HOST" "$GID" --reason "done" >/dev/null || die "revoke failed"
gone() { ! lists_grant "$1"; }
wait_for --or-die "revocation on the host" 30 gone "$GID"
pass "revocation reached the host"

# Signing key rotation without downtime (docs/authority.md, "Rotating the
# signing key"): publish the new public key to the host, switch the authority
# (SIGHUP, same process, the host's long poll is not broken), retire the old.
KEY2=ja2-$TAG
"$AUTHORITY" -c "$T/auth/authority.conf" new-key "$T/auth/signing2.key" >/dev/null || die "new-key failed"
[ "$(stat -c %a "$T/auth/signing2.key")" = 600 ] && pass "new-key writes the private key 0600" || fail "new key mode"
cp "$T/auth/signing2.key.pub" "$T/keys/$KEY2.pub"
kill -HUP "$HELPERD_PID"                       # 1. publish: the host trusts both keys
wait_for --or-die "jit-helperd reloaded the trusted keys" 20 grep -q "config.reloaded" "$T/helperd.log"
sed -i -e "s|^signing_key = .*|signing_key = $T/auth/signing2.key|" -e "s|^key_id = .*|key_id = $KEY2|" "$T/auth/authority.conf"
before=$(revision)
kill -HUP "$AUTH_PID"                          # 2. switch: the authority signs with the new key
accepted_with_new_key() { grep "bundle.accepted" "$T/helperd.log" | grep -q "JIT_KEY_ID=$KEY2"; }
wait_for --or-die "the host accepted a bundle signed with the new key" 30 accepted_with_new_key
kill -0 "$AUTH_PID" && pass "the authority switched keys without a restart" || fail "jit-authority died on SIGHUP"
[ "$(revision)" -gt "$before" ] && pass "the switch is a new revision" || fail "revision did not move"
host_holds_new_key() {
  adm --json keys | /usr/bin/python3 -c 'import json,sys; k=json.load(sys.stdin); sys.exit(not (k["key_id"]==sys.argv[1] and sys.argv[2] not in k["hosts_behind"] and set(k["latest_bundles_by_key"])=={sys.argv[1]}))' "$KEY2" "$HOST"
}
wait_for --or-die "jitadm keys: every bundle re-signed, the host holds one" 30 host_holds_new_key
pass "jitadm keys shows the host on the new key"
rm "$T/keys/$KEY_ID.pub"                       # 3. retire the old key on the host
kill -HUP "$HELPERD_PID"
GROT=$(adm grant create "$HOST" --user itrot --duration 1h --reason "after rotation") || die "grant after rotation"
wait_for --or-die "a grant signed with the new key alone reaches the host" 30 lists_grant "$GROT"
helperd_stop; helperd_start || die "jit-helperd did not restart with only the new key"
wait_for 20 lists_grant "$GROT" && pass "after a restart the host re-verifies its stored bundle with the new key" \
  || fail "stored bundle not accepted after retiring the old key: $(tail -5 "$T/helperd.log")"
grep -q "bundle.rejected" "$T/helperd.log" && fail "a bundle was rejected during the rotation" \
  || pass "no bundle was rejected during the rotation"

# kill -9 while grants are created and requests approved, three times.
acked=()
for round in 1 2 3; do
  # Alternately a direct grant and a request approved by carol: the grant id
  # is written only once the authority has acknowledged it.
  (for i in $(seq 1 200); do
     adm grant create "$HOST" --user "itk$round" --duration 1h --reason "crash $round.$i" 2>/dev/null || break
     rid=$(JITADM_TOKEN_FILE=$T/auth/dora.token adm --json request "$HOST" --duration 1h --reason "crash $round.$i" 2>>"$T/writer.err" \
           | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null) || break
     out=$(adm requests approve "$rid" 2>>"$T/writer.err") || break
     [[ $out =~ \(grant\ (g-[0-9a-f]+)\) ]] && echo "${BASH_REMATCH[1]}"
   done) >"$T/acked.$round" &
  writer=$!
  sleep 1.$((round * 3))
  kill -9 "$AUTH_PID"; reap "$AUTH_PID" || true
  wait "$writer" || true
  acked+=($(cat "$T/acked.$round"))
  jit_authority_up || die "jit-authority did not restart after kill -9 (round $round)"
done
adm --json grant list "$HOST" >"$T/grants.after"
missing=0
for g in "${acked[@]}"; do grep -q "\"$g\"" "$T/grants.after" || { missing=$((missing + 1)); log "lost: $g"; }; done
[ "${#acked[@]}" -gt 0 ] || die "no grant was acknowledged before the kills"
log "acknowledged before the kills: ${acked[*]}"
[ "$missing" = 0 ] && pass "kill -9: all ${#acked[@]} acknowledged grants kept" || fail "kill -9 lost $missing grants"
LAST=${acked[-1]}
wait_for --or-die "host caught up after the restarts" 30 lists_grant "$LAST"
if grep -q "bundle.rejected" "$T/helperd.log"; then
  fail "the host rejected a bundle (rollback or fork?): $(grep bundle.rejected "$T/helperd.log" | head -3)"
else
  pass "the host accepted every bundle across the kills (no rollback, no fork)"
fi
finish
