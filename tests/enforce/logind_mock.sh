#!/bin/bash
# Runs enforce_logind_test against python-dbusmock's logind template on a
# private dbus-daemon (no root, nothing system-wide), then checks the D-Bus
# calls logind received. Exit 77 (skip) without dbus-daemon or python3-dbusmock.
# Usage: logind_mock.sh ENFORCE_LOGIND_TEST
BIN=$1
command -v dbus-daemon >/dev/null || exit 77
/usr/bin/python3 -c 'import dbusmock' 2>/dev/null || exit 77
D=$(mktemp -d /tmp/jit-logind-mock-XXXXXX)
DB="" MK=""
cleanup() { [ -n "$MK" ] && kill "$MK" 2>/dev/null; [ -n "$DB" ] && kill "$DB" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
# A session bus's policy, with the system bus's limit of pending replies per
# connection lowered to 16 (the system bus: 128), so that a burst of calls
# meets it (MockLogind.ManyCallsAtOnceWaitTheirTurnUnderTheBusLimit).
cat > "$D/bus.conf" <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_replies_per_connection">16</limit>
</busconfig>
CONF
dbus-daemon --config-file="$D/bus.conf" --address="unix:path=$D/bus" --nofork --print-address=1 > "$D/addr" 2> "$D/daemon.err" &
DB=$!
for i in $(seq 100); do [ -s "$D/addr" ] && break; sleep 0.05; done
ADDR=$(head -1 "$D/addr")
[ -n "$ADDR" ] || { echo "dbus-daemon did not start: $(cat "$D/daemon.err")" >&2; exit 1; }
DBUS_SYSTEM_BUS_ADDRESS=$ADDR /usr/bin/python3 -m dbusmock --system --template logind -l "$D/calls.log" > "$D/mock.out" 2>&1 &
MK=$!
for i in $(seq 100); do
  busctl --address="$ADDR" status org.freedesktop.login1 >/dev/null 2>&1 && break; sleep 0.05
done
# Like real logind: KillSession is (ssi); GetSession/TerminateSession answer
# NoSuchSession for unknown ids; session 7 goes away on TerminateSession,
# session 8 ignores it and only KillSession removes it; a session that goes
# away is announced with the SessionRemoved signal.
DBUS_SYSTEM_BUS_ADDRESS=$ADDR /usr/bin/python3 - <<'PY' || exit 1
import dbus, os
bus = dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
obj = bus.get_object('org.freedesktop.login1', '/org/freedesktop/login1')
mock = dbus.Interface(obj, 'org.freedesktop.DBus.Mock')
mock.AddSession('7', 'seat0', dbus.UInt32(70001), 'alice', True)
mock.AddSession('8', 'seat0', dbus.UInt32(70002), 'bob', True)
M = 'org.freedesktop.login1.Manager'
# Session 6: logind refuses to act on it (AccessDenied), as without CAP_KILL.
known = ('if args[0] == "6": raise dbus.exceptions.DBusException("Permission denied", name="org.freedesktop.DBus.Error.AccessDenied")\n'
         'p = "/org/freedesktop/login1/session/" + args[0]\n'
         'if p not in objects: raise dbus.exceptions.DBusException("No session " + args[0], name="org.freedesktop.login1.NoSuchSession")\n')
mock.AddMethod(M, 'GetSession', 's', 'o', known + 'ret = dbus.ObjectPath(p)')
removed = 'self.RemoveObject(p); self.EmitSignal("org.freedesktop.login1.Manager", "SessionRemoved", "so", [args[0], dbus.ObjectPath(p)])\n'
mock.AddMethod(M, 'TerminateSession', 's', '', known + 'if args[0] == "7":\n  ' + removed.replace('\n', '\n  ').rstrip())
mock.AddMethod(M, 'KillSession', 'ssi', '', known + removed)
# Users with no session (a lingering user manager; a system account), for the
# end of a user's last grant (MockLogind.ALastGrantsEndEndsTheUserManagerToo):
# carol (70005) stays listed after TerminateUser, so the hard step follows;
# dave (70006) keeps a grant; sysd (uid 999) is a system account.
mock.AddUser(dbus.UInt32(70005), 'carol', False)
mock.AddUser(dbus.UInt32(70006), 'dave', False)
mock.AddUser(dbus.UInt32(999), 'sysd', False)
mock.AddMethod(M, 'SetUserLinger', 'ubb', '', '')
mock.AddMethod(M, 'TerminateUser', 'u', '', '')
mock.AddMethod(M, 'KillUser', 'ui', '', '')
PY
JIT_TEST_LOGIND_BUS=$ADDR "$BIN"
rc=$?
[ $rc -eq 0 ] || exit $rc
fails=0
for want in 'TerminateSession "7"' 'TerminateSession "8"' 'KillSession "8" "all" 9' 'GetSession "8"'; do
  grep -q "$want" "$D/calls.log" || { echo "FAIL: logind never saw $want" >&2; fails=1; }
done
for want in 'SetUserLinger 70005 False False' 'TerminateUser 70005' 'KillUser 70005 9'; do
  grep -q "$want" "$D/calls.log" || { echo "FAIL: logind never saw $want" >&2; fails=1; }
done
grep -Eq '(SetUserLinger|TerminateUser|KillUser) (70006|999)\b' "$D/calls.log" &&
  { echo "FAIL: a user with a grant in force, or a system account, was ended" >&2; fails=1; }
grep -q 'KillSession "7"' "$D/calls.log" && { echo "FAIL: session 7 ended politely but was killed" >&2; fails=1; }
# Session 7's end is confirmed by SessionRemoved, not by asking after the grace.
grep -q 'GetSession "7"' "$D/calls.log" && { echo "FAIL: session 7 was asked about after SessionRemoved" >&2; fails=1; }
[ $fails -eq 0 ] && echo "logind calls: TerminateSession, SessionRemoved, GetSession, KillSession(all, 9), SetUserLinger, TerminateUser, KillUser as expected"
exit $fails
