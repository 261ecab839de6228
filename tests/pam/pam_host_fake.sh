#!/bin/bash
# pam_jit.so with real consumers (sshd on a loopback port, sudo, pamtester,
# valgrind) against a fake jit-helperd (../integration/fake_helperd.py): the
# module's behaviour as users meet it, independent of the real daemon.
# Root only (exit 77 otherwise). Usage: pam_host_fake.sh PAM_JIT_SO
SO=$1
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
require_root_and_tools /usr/sbin/sshd ssh sudo pamtester useradd /usr/bin/python3
[ -f "$SO" ] || die "no module at $SO"
setup_tmp
make_client_key

ALICE=jt-${TAG}-alice BOB=jt-${TAG}-bob OPS=lo-${TAG}-ops CAROL=jt-${TAG}-carol DAN=jt-${TAG}-dan
add_user "$ALICE" "$(free_uid 70500 70999)" || exit 1
add_user "$BOB" "$(free_uid 70500 70999)" || exit 1
add_user "$CAROL" "$(free_uid 70500 70999)" || exit 1
add_user "$DAN" "$(free_uid 70500 70999)" || exit 1
add_user "$OPS" "$(free_uid 60500 60999)" || exit 1

SOCK=$T/helperd.sock
cat > "$T/decisions.json" <<EOF2
{"$ALICE": {"decision": "allow", "reason": "active_grant", "grant_id": "g-alice",
            "message": "jitlogin: access until 15:30 (in 47 min), grant g-alice"},
 "$BOB":   {"decision": "deny", "reason": "no_grant",
            "message": "jitlogin: no active grant for $BOB on test-host; request one with jitctl request"},
 "$CAROL": {"decision": "allow", "reason": "active_grant", "grant_id": "g-carol", "session": "error",
            "message": "jitlogin: access until 15:30 (in 47 min), grant g-carol"},
 "$DAN":   {"decision": "allow", "reason": "active_grant", "grant_id": "g-dan", "session": "deny",
            "message": "jitlogin: access until 15:30 (in 47 min), grant g-dan"}}
EOF2
/usr/bin/python3 "$HERE/../integration/fake_helperd.py" --socket "$SOCK" --decisions "$T/decisions.json" \
  --log "$T/requests.log" > "$T/fake.out" 2>&1 &
FAKE=$!
PIDS+=($FAKE)
wait_for 5 test -S "$SOCK" || die "the fake jit-helperd did not start: $(cat "$T/fake.out")"

SVC=jit-test-${TAG}
pam_service sshd "$SVC-sshd" timeout_ms=1000
pam_service sudo "$SVC-sudo"
pam_service su-session "$SVC-su"
pam_service sudo-session "$SVC-sudo-s"
etc_file "/etc/sudoers.d/$SVC" 0440 <<EOF2
Defaults:$ALICE pam_service=$SVC-sudo, timestamp_timeout=0
Defaults:$BOB pam_service=$SVC-sudo, timestamp_timeout=0
Defaults:$CAROL pam_service=$SVC-sudo-s, pam_session, timestamp_timeout=0
Defaults:$DAN pam_service=$SVC-sudo-s, pam_session, timestamp_timeout=0
$ALICE ALL=(root) NOPASSWD: /usr/bin/id
$BOB ALL=(root) NOPASSWD: /usr/bin/id
$CAROL ALL=(root) NOPASSWD: /usr/bin/id
$DAN ALL=(root) NOPASSWD: /usr/bin/id
EOF2
visudo -cqf "/etc/sudoers.d/$SVC" || fail "test sudoers file is invalid"

start_sshd "$SVC-sshd" || exit 1

# --- ssh ---------------------------------------------------------------------
ssh_as "$ALICE" 'echo logged-in'
check "ssh: managed user with an allow logs in" grep -qx logged-in "$T/ssh.out"
check "ssh: the user is told when access ends" grep -q "jitlogin: access until 15:30 (in 47 min), grant g-alice" "$T/ssh.err"
check "ssh: check carried service, rhost and tty" \
  grep -q "\"op\": \"check\", \"rhost\": \"127.0.0.1\", \"service\": \"$SVC-sshd\", \"tty\": \"ssh\", \"user\": \"$ALICE\"" "$T/requests.log"
check "ssh: session registered after common-session" grep -q "\"op\": \"session_open\".*\"user\": \"$ALICE\"" "$T/requests.log"
check "ssh: session deregistered at logout" wait_for 2 grep -q "\"op\": \"session_close\".*\"user\": \"$ALICE\"" "$T/requests.log"

ssh_as "$BOB" 'echo logged-in'
check "ssh: denied user does not get a shell" lacks logged-in "$T/ssh.out"
check "ssh: denied user sees the one-line reason" grep -q "jitlogin: no active grant for $BOB on test-host; request one with jitctl request" "$T/ssh.err"
check "ssh: sshd reports the PAM account denial" grep -q "Access denied for user $BOB by PAM account configuration" "$T/sshd.log"

ssh_as "$OPS" 'echo logged-in'
check "ssh: user jitlogin ignores logs in" grep -qx logged-in "$T/ssh.out"
check "ssh: ...and is told nothing by jitlogin" lacks jitlogin "$T/ssh.err"

# --- sudo --------------------------------------------------------------------
out=$(sudo_id "$ALICE" 2>"$T/sudo.err")
check "sudo -n: allowed user runs the command" test "$out" = 0
check "sudo -n: no success notice (sudo prints it on stdout)" lacks jitlogin "$T/sudo.err"
check "sudo: check sent with kind=sudo for the invoking user" \
  grep -q "\"kind\": \"sudo\".*\"service\": \"$SVC-sudo\".*\"user\": \"$ALICE\"" "$T/requests.log"
out=$(sudo_id "$BOB" 2>&1)
check "sudo -n: denied user is refused" lacks -x 0 <<<"$out"
check "sudo -n: denied user sees the reason" grep -q "jitlogin: no active grant for $BOB" <<<"$out"

# --- su (pamtester on an su-like service) and the account phase ----------------
check "pamtester su: allowed" quiet pamtester -I ruser=root "$SVC-su" "$ALICE" acct_mgmt
out=$(pamtester -I ruser=root "$SVC-su" "$BOB" acct_mgmt 2>&1)
check "pamtester su: denied with the message" grep -q "jitlogin: no active grant for $BOB" <<<"$out"
check "pamtester su: denied is an error" not quiet pamtester "$SVC-su" "$BOB" acct_mgmt
check "pamtester: account+session for a managed user" \
  quiet pamtester -I rhost=192.0.2.1 -I tty=pts/9 "$SVC-su" "$ALICE" acct_mgmt open_session close_session

# --- a session that could not be registered never runs --------------------------
# The account phase allowed; session_open then failed (an error answer: CAROL) or
# was refused (the window closed in between: DAN). With `session required
# pam_jit.so` nothing of the session may run untracked.
for u in "$CAROL" "$DAN"; do
  ssh_as "$u" 'echo logged-in'
  check "ssh: the account phase allowed $u (the refusal is the session's)" grep -q "Accepted publickey for $u " "$T/sshd.log"
  check "ssh: no shell when the session was not registered ($u)" lacks logged-in "$T/ssh.out"
  check "ssh: sshd saw the session refused ($u)" grep -q "pam_open_session(): Permission denied" "$T/sshd.log"
  out=$(sudo_id "$u" 2>&1)
  check "sudo: the command does not run when its session was not registered ($u)" lacks -x 0 <<<"$out"
  check "su: open_session fails when the session was not registered ($u)" \
    not quiet pamtester -I ruser=root "$SVC-su" "$u" acct_mgmt open_session
done

# --- valgrind: the module inside pamtester -------------------------------------
# Every error valgrind finds in the process counts, wherever it is (pam_jit,
# libpam, the other modules of the stack, glibc): invalid reads/writes, use of
# uninitialised values (with their origin), and definitely, indirectly and
# possibly lost memory. No suppression file is needed: the whole stack (account
# + common-session + pam_jit's session) runs clean on Debian 12. "Still
# reachable" blocks are not errors (libstdc++'s emergency EH pool, dlopen'd
# modules' static data). If a system library ever needs one, add it to a
# tests/pam/valgrind.supp with a comment saying why, and pass --suppressions.
if command -v valgrind >/dev/null; then
  for u in "$ALICE" "$BOB"; do
    want=0; [ "$u" = "$BOB" ] && want=1  # pamtester fails on the denied account
    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
      --show-leak-kinds=definite,indirect,possible --track-origins=yes --num-callers=30 --error-exitcode=99 \
      --log-file="$T/valgrind-$u.log" pamtester -I rhost=192.0.2.1 "$SVC-su" "$u" acct_mgmt open_session close_session \
      >/dev/null 2>&1
    rc=$?
    if [ $rc -eq $want ] && grep -q "ERROR SUMMARY: 0 errors from 0 contexts" "$T/valgrind-$u.log"; then
      pass "valgrind: no memory errors or leaks in the process ($u, rc=$rc)"
    else
      fail "valgrind ($u, rc=$rc, expected $want): $(cat "$T/valgrind-$u.log")"
    fi
  done
fi

# --- the daemon goes away ----------------------------------------------------
kill "$FAKE"; reap "$FAKE"; rm -f "$SOCK"
ssh_as "$ALICE" 'echo logged-in'
check "daemon down: JIT user refused" lacks logged-in "$T/ssh.out"
check "daemon down: JIT user told why" grep -q "jitlogin: cannot reach jit-helperd; access for JIT users is refused" "$T/ssh.err"
ssh_as "$OPS" 'echo logged-in'
check "daemon down: local user still logs in" grep -qx logged-in "$T/ssh.out"
out=$(sudo_id "$ALICE" 2>&1)
check "daemon down: sudo refused for JIT user" grep -q "cannot reach jit-helperd" <<<"$out"
check "daemon down: root's account phase unaffected" quiet pamtester "$SVC-su" root acct_mgmt
finish
