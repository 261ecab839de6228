#!/bin/bash
# request -> approve -> login -> revoke -> session ended, and extension
# without disconnect, end to end: jit-authority (C++, SQLite), the
# real jit-helperd in /proc-fallback enforcement, a real sshd whose PAM stack
# has pam_jit.so, jitctl and jitadm, all on loopback in a temp dir.
#   extend_with_helperd.sh JIT_AUTHORITY JITADM JIT_HELPERD JITCTL PAM_JIT_SO
# First the whole path with a person's request: bob asks with `jitadm
# request` (as himself), carol approves, bob logs in over ssh, carol revokes,
# bob's session is ended. Then alice is logged in under a short grant; from the host she runs
# `jitctl request --extend --duration 1m --reason …` (PROTOCOL.md §2
# `extends`), carol approves with jitadm: the grant keeps its id, its end moves
# by a minute, the ssh session lives past the old end, is warned again about
# the new end, and is ended at the new end (not before). Root only, exit 77
# when skipped (no sshd, or logind runs here: the nspawn suite covers logind).
AUTHORITY=$1 JITADM=$2 HELPERD=$3 JITCTL=$4 SO=$5
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -o pipefail
require_root_and_tools /usr/sbin/sshd ssh useradd setpriv pgrep /usr/bin/python3
[ -d /run/systemd/system ] && [ -d /run/systemd/seats ] && skip "logind runs here: this test is for the /proc fallback"
[ -f "$SO" ] || die "no module at $SO"
setup_tmp jx
make_client_key
run_names "ext-$TAG" "jit-ext-$TAG"
KEY_ID=jx-$TAG
SHOW_ON_FAIL+=("$T/authority.log" "$T/sshd.log")
ALICE=jx-${TAG}-alice
ALICE_UID=$(free_uid 72000 72499) && add_user "$ALICE" "$ALICE_UID" || exit 1
BOB=jx-${TAG}-bob
BOB_UID=$(free_uid 72500 72999) && add_user "$BOB" "$BOB_UID" || exit 1

source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
jit_authority_init <<EOC
[rule oncall]
groups = it
requesters = *
approvers = carol
approvals = 1
max_duration = 1h
extend = yes
max_extension = 10m
EOC
jit_authority_up || die "jit-authority did not start"
jit_authority_add_host
adm() { "$JITADM" "$@"; }

SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN" '[enforce]\nwarn_before = 8\nkill_grace = 2'
sed -i "s|^\[authority\]|[authority]\ntoken_file = $T/host.token|" "$T/helperd.conf"
helperd_start || die "jit-helperd did not start"
pam_service sshd "$SVC-sshd"
start_sshd "$SVC-sshd" || exit 1

grant_field() {  # grant_field GRANT FIELD: the field of GRANT as the host holds it
  ctl grants --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
for g in (d["grants"] if isinstance(d, dict) else d):
    if g["id"] == sys.argv[1]: print(g[sys.argv[2]]); break' "$1" "$2"
}
lists_grant() { [ -n "$(grant_field "$1" id)" ]; }
running() { kill -0 "$1" 2>/dev/null; }
audit_has() { grep -- "$1" "$T/helperd.log" | grep -q -- "$2"; }

mkfifo "$T/idle" && exec 9<>"$T/idle"
json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# --- request -> approve -> login -> revoke -> session ended ---------------------------
adm person add "$BOB" --role requester >"$T/auth/bob.token" || die "person add"
RID_B=$(JITADM_TOKEN_FILE=$T/auth/bob.token adm --json request "$HOST" --duration 30m --reason "INC-1: logs" | json_field id) \
  || die "jitadm request as bob failed"
adm requests approve "$RID_B" --comment "go" >/dev/null || die "approve failed"
GB=$(adm --json requests show "$RID_B" | json_field grant_id)
wait_for --or-die "bob's approved grant on the host" 20 lists_grant "$GB"
wait_for 15 ssh_as "$BOB" true || die "bob cannot log in with the approved grant: $(cat "$T/ssh.err")"
ssh_bg BOB "$T/idle" "$BOB" 'echo session-started; exec sleep 300'
BOB_PID=$BG_PID
check "bob's session is up" wait_for 10 grep -q session-started "$T/BOB.out"
adm grant revoke "$HOST" "$GB" --reason "incident closed" >/dev/null || die "revoke failed"
check "bob's session ends after the revocation" wait_for 30 not running "$BOB_PID"
check "audit: session.ended (revoked)" wait_for 10 audit_has "session.ended" "JIT_REASON=revoked"
check "bob is refused after the revocation" not ssh_as "$BOB" true

# --- extension without disconnect -----------------------------------------------------
G=$(adm grant create "$HOST" --user "$ALICE" --uid "$ALICE_UID" --duration 25s --reason "extension test") \
  || die "grant create failed"
wait_for --or-die "the grant on the host" 20 lists_grant "$G"
END0=$(grant_field "$G" not_after)
wait_for 15 ssh_as "$ALICE" true || die "alice cannot log in with a grant: $(cat "$T/ssh.err")"
ssh_bg ALICE "$T/idle" "$ALICE" 'echo session-started; exec sleep 300'
ALICE_PID=$BG_PID
check "alice's session is up" wait_for 10 grep -q session-started "$T/ALICE.out"

# From the host, as alice (the kernel's identity): extend by a minute.
out=$(setpriv --reuid="$ALICE_UID" --regid="$ALICE_UID" --clear-groups "$JITCTL" --socket "$SOCK" \
        request --extend --duration 1m --reason "not done yet" --json) || die "jitctl request --extend: $out"
RID=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$out")
shown=$(adm --json requests show "$RID")
[[ $shown == *"\"extends\" : \"$G\""* ]] && pass "the relayed request extends alice's grant" \
  || fail "request at the authority: $shown"
adm requests approve "$RID" --comment "ok, one more minute" >/dev/null || die "approve failed"
END1=$((END0 + 60))
moved() { [ "$(grant_field "$G" not_after)" = "$END1" ]; }
check "the grant keeps its id and its end moves by 1m on the host" wait_for 20 moved
out=$(setpriv --reuid="$ALICE_UID" --regid="$ALICE_UID" --clear-groups "$JITCTL" --socket "$SOCK" request-status "$RID")
[[ $out == *approved* && $out == *"$G"* ]] && pass "request-status: approved, grant $G" || fail "request-status: $out"

# Past the old end (+ kill grace): the session goes on.
while [ "$(date +%s)" -lt $((END0 + 4)) ]; do sleep 0.5; done
check "the session is not interrupted at the old end" running "$ALICE_PID"
check "audit: no grant.ended at the old end" not audit_has "grant.ended" "$G"
# Warned about the new end, then ended at it.
check "the session ends after the new end" wait_for $((END1 - $(date +%s) + 30)) not running "$ALICE_PID"
[ "$(date +%s)" -ge "$END1" ] && pass "not before the new end" || fail "the session ended before the new end ($END1)"
check "audit: session.warned about the new end" audit_has "session.warned" "JIT_NOT_AFTER=$END1"
check "the warning reached alice's terminal" grep -q "jitlogin: access to .* ends at .*grant $G" "$T/ALICE.out"
check "audit: session.ended (window_ended)" wait_for 10 audit_has "session.ended" "JIT_REASON=window_ended"
finish
