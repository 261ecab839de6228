#!/bin/bash
# End to end on this host: reference authority (tests/authority/jit-authority)
# + the real jit-helperd (temp config, state, socket, sudoers drop-in) + a real
# sshd on a loopback port with a PAM stack containing pam_jit.so, sudo with its
# own PAM service, pamtester for su and the account phase.
# Root only (exit 77 otherwise). Usage: pam_real_daemon.sh JIT_HELPERD PAM_JIT_SO [JITCTL]
#
# Test users are local accounts (uids in the managed range, keys in
# ~/.ssh/authorized_keys). Logging in as a user that exists only through
# libnss_jit (grant ssh_authorized_keys via AuthorizedKeysCommand) is a later
# integration step.
HELPERD=$1
SO=$2
HERE=$(cd "$(dirname "$0")" && pwd)
JITCTL=${3:-$(dirname "$HELPERD")/../jitctl/jitctl}
source "$HERE/lib.sh"
require_root_and_tools /usr/sbin/sshd ssh sudo pamtester useradd visudo /usr/bin/python3 openssl
[ -x "$HELPERD" ] || skip "jit-helperd not built ($HELPERD)"
use_authority || skip "reference authority not present"
[ -f "$SO" ] || { echo "no module at $SO" >&2; exit 1; }
setup_tmp
make_client_key

run_names "it-$TAG" "jit-test-$TAG"

# --- users --------------------------------------------------------------------
ALICE=jt-${TAG}-alice BOB=jt-${TAG}-bob CAROL=jt-${TAG}-carol DAVE=jt-${TAG}-dave OPS=lo-${TAG}-ops
for u in ALICE BOB CAROL DAVE; do
  uid=$(free_uid 70500 70999) || exit 1
  add_user "${!u}" "$uid" || exit 1
  eval "${u}_UID=$uid"
done
add_user "$OPS" "$(free_uid 60500 60999)" || exit 1

# --- authority and jit-helperd ----------------------------------------------------
authority_for_host || exit 1
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN"
"$HELPERD" --config "$T/helperd.conf" --check-config > "$T/check-config.log" 2>&1 \
  || { cat "$T/check-config.log" >&2; fail "jit-helperd --check-config"; exit 1; }
helperd_start || { fail "jit-helperd did not start"; exit 1; }

# --- PAM services, sudoers (pam_service only; the rights come from the daemon) ----
pam_service sshd "$SVC-sshd"
pam_service sudo "$SVC-sudo"
pam_service su "$SVC-su"
# A static rule for bob stands for a rule left behind: pam_jit must still refuse.
etc_file "/etc/sudoers.d/$SVC-pam" 0440 <<EOF2
Defaults:$ALICE, $BOB, $CAROL, $DAVE pam_service=$SVC-sudo, timestamp_timeout=0
$BOB ALL=(root) NOPASSWD: /usr/bin/id
EOF2
visudo -cqf "/etc/sudoers.d/$SVC-pam" || { fail "test sudoers file"; exit 1; }
start_sshd "$SVC-sshd" || exit 1

# --- grants -----------------------------------------------------------------------
G_ALICE=$(grant "$ALICE" "$ALICE_UID" --duration 1h --sudo-command /usr/bin/id) || exit 1
G_CAROL=$(grant "$CAROL" "$CAROL_UID" --duration 1h --no-login --sudo-command "/usr/bin/id -u") || exit 1
DAVE_END=$(( $(date +%s) + 12 ))
G_DAVE=$(grant "$DAVE" "$DAVE_UID" --not-after "$DAVE_END" --sudo-command /usr/bin/id) || exit 1
log "grants: alice $G_ALICE, carol $G_CAROL, dave $G_DAVE (ends $(date -d @$DAVE_END +%T))"
wait_for 15 quiet pamtester "$SVC-su" "$DAVE" acct_mgmt || fail "daemon did not pick up the bundle: $(tail -5 "$T/helperd.log")"

# dave's short window: log in now, check the refusal after it ends (below).
ssh_as "$DAVE" 'echo logged-in'
check "window: login inside the window" grep -qx logged-in "$T/ssh.out"

# --- ssh ------------------------------------------------------------------------------
ssh_as "$ALICE" 'echo logged-in'
check "ssh: user with a grant logs in with a key" grep -qx logged-in "$T/ssh.out"
check "ssh: told when access ends" grep -Eq "jitlogin: access until ([0-9]{4}-[0-9]{2}-[0-9]{2} )?[0-9]{2}:[0-9]{2} \(in (59 min|1 h)\), grant $G_ALICE" "$T/ssh.err"
ssh_as "$BOB" 'echo logged-in'
check "ssh: user without a grant is refused" lacks logged-in "$T/ssh.out"
check "ssh: ...with the reason" grep -q "jitlogin: no active grant for $BOB on $HOST; request one with 'jitctl request'" "$T/ssh.err"
ssh_as "$CAROL" 'echo logged-in'
check "ssh: sudo-only grant cannot log in" grep -q "jitlogin: grant $G_CAROL for $CAROL does not allow login" "$T/ssh.err"
ssh_as "$OPS" 'echo logged-in'
check "ssh: local user unaffected" grep -qx logged-in "$T/ssh.out"

# --- sudo ------------------------------------------------------------------------------
check "sudoers: drop-in published by jit-helperd" grep -q "^$ALICE ALL=(root) NOTBEFORE=[0-9]*Z NOTAFTER=[0-9]*Z NOPASSWD: /usr/bin/id$" "$DROPIN"
check "sudoers: drop-in is 0440 root:root and valid" bash -c "[ \"\$(stat -c %a:%U:%G '$DROPIN')\" = 440:root:root ] && visudo -cqf '$DROPIN'"
out=$(sudo_id "$ALICE" 2>"$T/sudo.err")
check "sudo -n: grant with sudo works" test "$out" = 0
out=$(sudo_id "$CAROL" 2>"$T/sudo.err")
check "sudo -n: sudo-only grant with arguments works" test "$out" = 0
out=$(sudo_id "$BOB" 2>&1)
check "sudo -n: without a grant refused even with a sudoers rule" lacks -x 0 <<<"$out"
check "sudo -n: ...with the reason" grep -q "jitlogin: no active sudo grant for $BOB on $HOST" <<<"$out"

# --- su (pamtester on an su service) -----------------------------------------------------
check "su: target with a login grant allowed" quiet pamtester -I ruser=root "$SVC-su" "$ALICE" acct_mgmt
out=$(pamtester -I ruser=root "$SVC-su" "$BOB" acct_mgmt 2>&1)
check "su: target without a grant refused with the reason" grep -q "jitlogin: no active grant for $BOB" <<<"$out"
check "su: root unaffected" quiet pamtester "$SVC-su" root acct_mgmt

# --- the window ends ------------------------------------------------------------------------
while [ "$(date +%s)" -le "$DAVE_END" ]; do sleep 0.2; done
ssh_as "$DAVE" 'echo logged-in'
check "window: new login after not_after refused" lacks logged-in "$T/ssh.out"
check "window: ...told the window ended" grep -q "jitlogin: access window ended at .*, grant $G_DAVE" "$T/ssh.err"
check "window: sudo rule removed from the drop-in" wait_for 5 lacks "^$DAVE " "$DROPIN"
out=$(sudo_id "$DAVE" 2>&1)
check "window: sudo refused after not_after" lacks -x 0 <<<"$out"

# --- valgrind: pam_jit inside pamtester against the real daemon --------------------------------
if command -v valgrind >/dev/null; then
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file="$T/vg.log" \
    pamtester -I rhost=192.0.2.1 "$SVC-su" "$ALICE" acct_mgmt >/dev/null 2>&1
  [ $? -eq 0 ] && [ ! -s "$T/vg.log" ] && pass "valgrind: clean against the real daemon" || fail "valgrind: $(cat "$T/vg.log")"
fi

# --- jitctl status: the audit upload backlog --------------------------------------------------
# Every decision above is an audit event; the group commit (upload_sync_ms, 1 s by
# default) syncs and sends them, and the reference authority acknowledges.
upload_acked() {
  ctl status --json | python3 -c '
import json, sys
u = json.load(sys.stdin)["upload"]
sys.exit(0 if u["enabled"] and u["acked_through"] > 0 and u["pending"] == 0 and u["unsynced"] == 0 else 1)'
}
check "status: audit events uploaded and acknowledged" wait_for 10 upload_acked
ctl status > "$T/status.out" 2>&1
check "status: ...shown to the operator" grep -Eq "^audit upload: 0 event\(s\) not yet acknowledged by the authority, acknowledged through seq [1-9]" "$T/status.out"
admin events list --host "$HOST" > "$T/events.out" 2>&1
check "status: ...the authority has them" grep -q "$ALICE" "$T/events.out"

# --- the daemon dies ------------------------------------------------------------------------
helperd_stop KILL
ssh_as "$ALICE" 'echo logged-in'
check "daemon killed: JIT user refused" lacks logged-in "$T/ssh.out"
check "daemon killed: ...told why" grep -q "jitlogin: cannot reach jit-helperd; access for JIT users is refused" "$T/ssh.err"
ssh_as "$OPS" 'echo logged-in'
check "daemon killed: local user still logs in" grep -qx logged-in "$T/ssh.out"

# --- authority down at start: the stored state is served -----------------------------------------
kill "$AUTH_PID"; reap "$AUTH_PID"
rm -f "$SOCK"
helperd_start || fail "jit-helperd restart"
ssh_as "$ALICE" 'echo logged-in'
check "restart without authority: grants served from disk" grep -qx logged-in "$T/ssh.out"
ssh_as "$BOB" 'echo logged-in'
check "restart without authority: no grant still refused" lacks logged-in "$T/ssh.out"

finish
