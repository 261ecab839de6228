#!/bin/bash
# Enforcement on this host (no logind: the /proc fallback): the reference
# authority, the real jit-helperd and a real sshd on a loopback port whose PAM
# stack has pam_jit.so in account and session. Shows, as a user sees it:
#   - a live ssh session of a JIT user (pty, plus a setsid'd background job) is
#     warned and then ended at not_after, and the user is refused afterwards;
#   - a live session of another JIT user is ended at once when the authority
#     revokes the grant early (long poll), with who/why in the audit trail;
#   - a session of a local user jitlogin does not manage is untouched;
#   - all of it across a restart of jit-helperd mid-window (the table is durable).
# Root only (exit 77 otherwise). Usage: host_sessions.sh JIT_HELPERD PAM_JIT_SO [JITCTL]
# Shares tests/integration/lib.sh (names carry this run's tag "f<pid>").
HELPERD=$1
SO=$2
JITCTL=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
require_root_and_tools /usr/sbin/sshd ssh useradd pgrep /usr/bin/python3 openssl
[ -x "$HELPERD" ] || skip "jit-helperd not built ($HELPERD)"
use_authority || skip "reference authority not present"
[ -f "$SO" ] || die "no module at $SO"
[ -d /run/systemd/system ] && [ -d /run/systemd/seats ] && skip "logind runs here: this test is for the fallback (the nspawn suite covers logind)"
setup_tmp f
make_client_key

run_names "enf-$TAG" "jit-test-$TAG"

ALICE=jt-${TAG}-alice BOB=jt-${TAG}-bob OPS=lo-${TAG}-ops
ALICE_UID=$(free_uid 71000 71499) && add_user "$ALICE" "$ALICE_UID" || exit 1
BOB_UID=$(free_uid 71500 71999) && add_user "$BOB" "$BOB_UID" || exit 1
OPS_UID=$(free_uid 61000 61499) && add_user "$OPS" "$OPS_UID" || exit 1

authority_for_host || exit 1
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN" '[enforce]\nwarn_before = 8\nkill_grace = 2'
helperd_start || die "jit-helperd did not start"

pam_service sshd "$SVC-sshd"
start_sshd "$SVC-sshd" || exit 1

# bg_ssh USER NAME CMD: a long-lived ssh session with a pty, its pid in NAME_PID. Its
# stdin is a FIFO that stays open and silent (like an idle user at the keyboard).
mkfifo "$T/idle" && exec 9<>"$T/idle"
bg_ssh() { ssh_bg "$2" "$T/idle" "$1" "${@:3}"; printf -v "$2_PID" %s "$BG_PID"; }
running() { kill -0 "$1" 2>/dev/null; }
no_procs_of() { ! pgrep -u "$1" >/dev/null; }
session_users() { /usr/bin/python3 -c 'import json,sys; print(" ".join(s["user"] for s in json.load(open(sys.argv[1]))["sessions"]))' "$T/state/enforce.json"; }
has_session_of() { session_users | grep -qw -- "$1"; }
audit_has() { grep -- "$1" "$T/helperd.log" | grep -q -- "$2"; }  # a line with $1 that also has $2

# --- a session ended at not_after, warned first ---------------------------------------
ALICE_END=$(( $(date +%s) + 14 ))
G_ALICE=$(grant "$ALICE" "$ALICE_UID" --not-after "$ALICE_END") || exit 1
G_BOB=$(grant "$BOB" "$BOB_UID" --duration 1h) || exit 1
wait_for 15 ssh_as "$ALICE" true || { fail "alice cannot log in with a grant: $(cat "$T/ssh.err")"; }
bg_ssh "$ALICE" ALICE 'setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo session-started; exec sleep 300'
bg_ssh "$BOB" BOB 'echo session-started; exec sleep 300'
bg_ssh "$OPS" OPS 'echo session-started; exec sleep 300'
check "alice's session is up" wait_for 10 grep -q session-started "$T/ALICE.out"
check "bob's session is up" wait_for 10 grep -q session-started "$T/BOB.out"
check "the local user's session is up" wait_for 10 grep -q session-started "$T/OPS.out"
two_sleeps() { [ "$(pgrep -u "$1" -c -x sleep)" -ge 2 ]; }
check "alice's setsid'd background job runs" wait_for 5 two_sleeps "$ALICE"
check "the daemon's session table lists alice" wait_for 5 has_session_of "$ALICE"
check "... and bob" has_session_of "$BOB"
if [ -n "$JITCTL" ]; then
  ctl status > "$T/status.txt" 2>&1
  check "jitctl status shows the fallback" grep -q "ends sessions via fallback" "$T/status.txt"
  check "... and alice's session under her grant" grep -q "$ALICE grant $G_ALICE" "$T/status.txt"
fi

# The daemon restarts mid-window: the session table comes back from the state dir.
helperd_stop; rm -f "$SOCK"
helperd_start || die "jit-helperd did not restart"
if [ -n "$JITCTL" ]; then
  jitctl_lists() { ctl status 2>/dev/null | grep -q "^  $1 grant "; }
  check "after a restart jit-helperd still tracks alice's session" wait_for 5 jitctl_lists "$ALICE"
  check "... and bob's" jitctl_lists "$BOB"
fi

# Liveness bounds below are generous (not performance checks: bench/enforce measures those).
check "alice's session ends after not_after" wait_for $(( ALICE_END - $(date +%s) + 30 )) not running "$ALICE_PID"
[ "$(date +%s)" -ge "$ALICE_END" ] && pass "not before not_after" || fail "alice's session ended before not_after"
check "the warning reached alice's terminal" grep -q "jitlogin: access to $HOST ends at .*grant $G_ALICE" "$T/ALICE.out"
check "nothing of alice survives (setsid'd job included)" wait_for 10 no_procs_of "$ALICE"
check "audit: session.warned for alice" audit_has "session.warned" "$G_ALICE"
check "audit: grant.ended for alice" audit_has "grant.ended" "$G_ALICE"
check "audit: session.ended (fallback-kill, window_ended)" wait_for 10 audit_has "session.ended" "JIT_HOW=fallback-kill.*JIT_REASON=window_ended\|JIT_REASON=window_ended.*JIT_HOW=fallback-kill"
check "alice is refused after the window" not ssh_as "$ALICE" true
check "bob's session (another grant) is untouched" running "$BOB_PID"
check "the local user's session is untouched" running "$OPS_PID"

# --- early revocation over the long poll ------------------------------------------------
admin grant revoke --host "$HOST" --by carol --reason "incident closed" "$G_BOB" >/dev/null || fail "revoke"
check "bob's session ends after the revocation" wait_for 30 not running "$BOB_PID"
check "audit: grant.revoked with who and why" audit_has "grant.revoked" "JIT_REVOKED_BY=carol"
check "audit: session.ended (revoked)" wait_for 10 audit_has "session.ended" "JIT_REASON=revoked"
check "bob is refused after the revocation" not ssh_as "$BOB" true
check "the local user's session is still untouched" running "$OPS_PID"
no_sessions() { test -z "$(session_users)"; }
check "the session table is empty (ended ones removed; the local user's is never tracked)" wait_for 10 no_sessions

finish
