#!/bin/bash
# The daemon's loop never waits for logind or for a home's archive. The real
# jit-helperd, the reference authority, and python-dbusmock's logind template
# on a private bus (DBUS_SYSTEM_BUS_ADDRESS) that answers every call 5 s late:
#   - a JIT user's logind session is ended on revocation; while TerminateSession
#     is pending, `jitctl check` with pam_jit.so's budget (timeout 1500 ms)
#     keeps answering, for the managed user and for an unmanaged one;
#   - the session is ended once logind answers (session.ended, once,
#     JIT_HOW=terminate-session, confirmed by SessionRemoved);
#   - the first session's home is copied from a skeleton of 250,000 files
#     (nss.skel) on a worker thread: checks are answered while it is copied,
#     and the session_open answer comes once the home is in place;
#   - home retention (0 days) then archives the home the daemon created, which
#     holds a sparse 1 TiB file (`truncate -s 1T`), in a child process
#     (tar --sparse): home.archived, a small archive, and the checks still answer.
# Root only (session_open is root's); exit 77 without dbus-daemon/python3-dbusmock.
# Usage: daemon_nonblocking.sh JIT_HELPERD JITCTL
HELPERD=$1 JITCTL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
require_root_and_tools /usr/bin/python3 dbus-daemon busctl truncate
/usr/bin/python3 -c 'import dbusmock' 2>/dev/null || skip "python3-dbusmock not installed"
use_authority || skip "reference authority not present"
# On tmpfs when there is one: the 200,000-file skeleton below is made, copied
# and removed in seconds there, and in seconds to minutes on this VM's disk.
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then setup_tmp n /dev/shm; else setup_tmp n; fi

# --- logind, 5 s late on every call ------------------------------------------------
dbus-daemon --session --address="unix:path=$T/bus" --nofork --print-address=1 > "$T/bus.addr" 2> "$T/bus.err" &
PIDS+=($!)
wait_for --or-die "dbus-daemon" 10 test -s "$T/bus.addr"
BUS=$(head -1 "$T/bus.addr")
DBUS_SYSTEM_BUS_ADDRESS=$BUS /usr/bin/python3 -m dbusmock --system --template logind -l "$T/calls.log" > "$T/mock.out" 2>&1 &
PIDS+=($!)
wait_for --or-die "logind mock" 10 quiet busctl --address="$BUS" status org.freedesktop.login1

ALICE=jt-${TAG}-alice ALICE_UID=$(free_uid 74000 74999) SID=$((7000 + RANDOM % 1000))
DBUS_SYSTEM_BUS_ADDRESS=$BUS /usr/bin/python3 - "$SID" "$ALICE_UID" "$ALICE" <<'PY' || die "cannot set up the logind mock"
import dbus, os, sys
sid, uid, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bus = dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
mock = dbus.Interface(bus.get_object('org.freedesktop.login1', '/org/freedesktop/login1'), 'org.freedesktop.DBus.Mock')
mock.AddSession(sid, 'seat0', dbus.UInt32(uid), user, True)
M = 'org.freedesktop.login1.Manager'
late = 'import time; time.sleep(5)\n'
known = ('p = "/org/freedesktop/login1/session/" + args[0]\n'
         'if p not in objects: raise dbus.exceptions.DBusException("No session " + args[0], name="org.freedesktop.login1.NoSuchSession")\n')
removed = ('self.RemoveObject(p)\n'
           'self.EmitSignal("org.freedesktop.login1.Manager", "SessionRemoved", "so", [args[0], dbus.ObjectPath(p)])\n')
mock.AddMethod(M, 'ListSessions', '', 'a(susso)', late + 'ret = [(%r, dbus.UInt32(%d), %r, "seat0", dbus.ObjectPath("/org/freedesktop/login1/session/%s"))]' % (sid, uid, user, sid))
mock.AddMethod(M, 'GetSession', 's', 'o', late + known + 'ret = dbus.ObjectPath(p)')
mock.AddMethod(M, 'TerminateSession', 's', '', late + known + removed)
mock.AddMethod(M, 'KillSession', 'ssi', '', late + known + removed)
# The user's end when their last grant is over (Terminator::end_users), as in real logind.
mock.AddMethod(M, 'SetUserLinger', 'ubb', '', '')
mock.AddMethod(M, 'KillUser', 'ui', '', '')
PY

# --- the daemon ----------------------------------------------------------------------
HOST=web-01
authority_for_host || die "the reference authority did not start"
mkdir -p "$T/home" && chmod 755 "$T/home"
HELPERD_UIDS=74000-74999
# A skeleton that takes seconds to copy: 500 directories of 500 empty files.
mkdir -m 0755 "$T/skel"
/usr/bin/python3 -c '
import os, sys
for i in range(500):
    d = os.path.join(sys.argv[1], "d%03d" % i)
    os.mkdir(d)
    for j in range(500):
        open(os.path.join(d, "f%03d" % j), "w").close()' "$T/skel" || die "skeleton"
helperd_config "$T/helperd.sock" "" "[nss]\nhome_base = $T/home\ncreate_home = yes\nskel = $T/skel\n[enforce]\nkill_grace = 5\nhome_retention = 0d\nhome_retention_action = archive"
sed -i '0,/^create_home = no$/{/^create_home = no$/d}' "$T/helperd.conf"  # the one set below wins
HELPERD_WRAP="env DBUS_SYSTEM_BUS_ADDRESS=$BUS"
helperd_start || die "jit-helperd did not start"
grep -q "through systemd-logind" "$T/helperd.log" || die "the daemon did not pick logind: $(cat "$T/helperd.log")"

G=$(grant "$ALICE" "$ALICE_UID" --duration 1h) || die "grant"
wait_for --or-die "grant visible" 30 lists_grant "$G"

# The session as pam_jit.so registers it (root peer), its leader a process of ours.
sleep 600 & LEADER=$!
PIDS+=($LEADER)
# session_op OP [HOME]: with HOME, also says whether HOME existed when the answer came.
session_op() {
  /usr/bin/python3 - "$HELPERD_SOCK" "$1" "$ALICE" "$LEADER" "$SID" "${2:-}" <<'PY'
import os, socket, sys
path, op, user, pid, sid, home = sys.argv[1:]
body = "op=%s\nuser=%s\nservice=sshd\ntty=pts/9\nrhost=192.0.2.7\npid=%s\nlogind_session=%s\n" % (op, user, pid, sid)
s = socket.socket(socket.AF_UNIX); s.settimeout(120); s.connect(path)
s.sendall(("JIT1 %d\n%s" % (len(body), body)).encode())
out = b""
while True:
    d = s.recv(65536)
    if not d: break
    out += d
if home: print("home_at_answer=%s" % ("yes" if os.path.isdir(home) else "no"))
print(out.decode())
PY
}

# check_answers_while CMD...: jitctl check with PAM's budget, every 0.2 s, for
# as long as CMD succeeds; every one must be answered (0 allow/ignore, 10
# deny), never 3 (no answer in time). At least one round.
check_answers_while() {
  local n=0 rc user
  ANSWERED=0
  while [ "$n" = 0 ] || "$@"; do
    for user in "$ALICE" lo-nobody-$TAG; do
      ctl check "$user" --timeout-ms 1500 > "$T/check.out" 2>&1; rc=$?
      { [ "$rc" = 0 ] || [ "$rc" = 10 ]; } || { fail "check $user not answered in 1500 ms (exit $rc): $(cat "$T/check.out")"; return 1; }
      n=$((n + 1))
    done
    sleep 0.2
  done
  log "$n checks answered within 1500 ms each"
  ANSWERED=$n
}
before() { [ "$(date +%s)" -lt "$1" ]; }
check_answers() { check_answers_while before $(( $(date +%s) + $1 )); }  # check_answers SECONDS
copying() { compgen -G "$T/home/.jit-home-*" > /dev/null; }

t_open=$(date +%s.%N)
session_op session_open "$T/home/$ALICE" > "$T/open.out" & OPEN=$!
if wait_for 10 copying; then
  check "PAM-budget checks answered while the first session's home is copied" check_answers_while copying
  # A loop held by the copy answers the first round's checks only once the
  # copy is done, and then nothing is being copied any more: one round, two
  # checks, however long the copy takes. A free loop answers round after round.
  check "...and answered during the copy, not after it (more than one round: $ANSWERED checks)" test "$ANSWERED" -ge 4
else fail "the copy of the skeleton was seen under way"; fi
wait "$OPEN" || die "session_open failed"
grep -q "decision=allow" "$T/open.out" || die "session_open: $(cat "$T/open.out")"
log "session_open answered $(python3 -c "import time; print(f'{time.time() - $t_open:.1f}')") s after it was asked (the home copied meanwhile)"
check "session_open answered once the home was in place" grep -qx "home_at_answer=yes" "$T/open.out"
check "the home holds the skeleton" test -e "$T/home/$ALICE/d499/f499"
check "home.created" grep -q "home.created" "$T/helperd.log"
rm -rf "$T/home/$ALICE"/d[0-9]*  # the archive below is about the sparse file
truncate -s 1T "$T/home/$ALICE/huge" || die "truncate"

admin grant revoke --host "$HOST" --by carol --reason "slow logind test" "$G" >/dev/null || die "revoke"
wait_for --or-die "TerminateSession sent" 30 grep -q "TerminateSession \"$SID\"" "$T/calls.log"
check "PAM-budget checks answered while logind is 5 s late" check_answers 7
ended_lines() { grep -c "session\.ended.*$ALICE\|$ALICE.*session\.ended" "$T/helperd.log"; }
check "the session is ended once logind answers" wait_for 20 grep -q "session\.ended" "$T/helperd.log"
check "ended politely, confirmed (JIT_HOW=terminate-session)" grep -q "session\.ended.*terminate-session" "$T/helperd.log"

# --- retention of a home with a sparse 1 TiB file ------------------------------------------
check "the home is archived (tar --sparse, in a child)" wait_for 30 grep -q "home.archived" "$T/helperd.log"
check "PAM-budget checks answered after the archive" check_answers 1
check "the home is gone" not test -e "$T/home/$ALICE"
ARCHIVE=$(ls "$T/state/home-archives/"*.tar.gz 2>/dev/null | head -1)
check "the archive exists" test -n "$ARCHIVE"
[ -z "$ARCHIVE" ] || check "the archive is small (holes are not stored)" test "$(stat -c %s "$ARCHIVE")" -lt 1048576
check "session.ended once" test "$(grep -c "session\.ended" "$T/helperd.log")" = 1
check "no gone_at_start" lacks gone_at_start "$T/helperd.log"

# --- the daemon stops 1 s after deciding to end a session -------------------------------
# The decision is on disk before TerminateSession goes out; the daemon is stopped
# while logind (5 s late) has not answered; the session is gone when it comes
# back (here: its leader ends, as logind's TerminateSession would have made it).
# The trail says jitlogin ended it, once, not "ended while jit-helperd was not
# running" (gone_at_start).
SID2=$((SID + 1))
DBUS_SYSTEM_BUS_ADDRESS=$BUS /usr/bin/python3 - "$SID2" "$ALICE_UID" "$ALICE" <<'PY' || die "cannot add a second mock session"
import dbus, os, sys
sid, uid, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bus = dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
mock = dbus.Interface(bus.get_object('org.freedesktop.login1', '/org/freedesktop/login1'), 'org.freedesktop.DBus.Mock')
mock.AddSession(sid, 'seat0', dbus.UInt32(uid), user, True)
PY
G2=$(grant "$ALICE" "$ALICE_UID" --duration 1h) || die "second grant"
wait_for --or-die "second grant visible" 30 lists_grant "$G2"
sleep 600 & LEADER=$!
PIDS+=($LEADER)
SID=$SID2 session_op session_open > "$T/open2.out" || die "second session_open failed"
grep -q "decision=allow" "$T/open2.out" || die "second session_open: $(cat "$T/open2.out")"
admin grant revoke --host "$HOST" --by carol --reason "stop inside the gap" "$G2" >/dev/null || die "revoke 2"
wait_for --or-die "TerminateSession for the second session" 30 grep -q "TerminateSession \"$SID2\"" "$T/calls.log"
sleep 1
helperd_stop TERM
ended2() { grep "session\.ended" "$T/helperd.log" | grep -c "JIT_SESSION_ID=$SID2\b"; }
BEFORE=$(ended2)
kill "$LEADER"; reap "$LEADER"
helperd_start || die "jit-helperd did not restart"
check "after the restart the end is confirmed: session.ended" wait_for 20 test "$(ended2)" -ge 1
check "session.ended for the session once over both runs" test "$(ended2)" = 1
if [ "$BEFORE" = 0 ]; then
  check "... by the restarted daemon, which says so" grep -q "session\.ended.*confirmed after jit-helperd restarted" "$T/helperd.log"
else
  log "note: logind answered before the stop took effect; the end was confirmed in the first run"
fi
check "the trail never says it ended while jit-helperd was not running" lacks gone_at_start "$T/helperd.log"
finish
