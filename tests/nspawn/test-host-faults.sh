#!/bin/bash
# Host faults in the nspawn test bed (issue 18, docs/reliability.md "Host
# faults"): the real jit-helperd as a unit, real logind, dbus and journald,
# and one fault per case. Each case says what the user sees and what is kept.
#
#   logind_restart  systemctl restart systemd-logind while a JIT user's session
#                   is live: still tracked, warned and ended at not_after
#                   through logind; the daemon keeps its pid and answers.
#   bus_gone        dbus stopped (socket gone) while the daemon runs, then back:
#                   the daemon keeps its pid; PAM checks (an ssh login) and
#                   jitctl checks are answered; the session is warned and ended
#                   at not_after by signalling its processes (JIT_HOW
#                   fallback-kill) with a security.alert logind_unreachable;
#                   once dbus is back, the next session ends through logind
#                   again (the daemon opened a new connection).
#   hidepid         /proc remounted hidepid=2, then hidepid=invisible,gid=adm,
#                   inside the container; the daemon restarted under it: the session
#                   is still tracked; with the bus gone too, the daemon finds
#                   and ends the user's processes itself at not_after.
#   many_procs      10,000 processes of one JIT user (forked in the session) at
#                   not_after: all gone, jitctl checks answered all along; the
#                   time from not_after to the last process gone is printed
#                   (docs/performance.md), not asserted.
#                   JIT_TB_MANY_FALLBACK=1: with the bus gone, so the daemon
#                   itself finds and kills them (ctest nspawn.host.many_procs_fallback).
#   many_sessions   JIT_TB_SESSIONS (default 1000) logind sessions of one JIT
#                   user, opened through PAM (systemd-run -p PAMName=jit-many,
#                   a stack with pam_jit.so and pam_systemd), all ending at
#                   not_after: none early, all ended through logind, each
#                   audited once, checks answered meanwhile; the times from
#                   not_after until logind, the processes and jit-helperd's
#                   table are empty are printed (docs/performance.md).
#   clock_set       clock_settime(CLOCK_REALTIME, now) twice: the daemon's
#                   TFD_TIMER_CANCEL_ON_SET timerfd fires each time, it
#                   re-evaluates and says so with the re-armed wake-up.
#   user_manager    a JIT user starts a unit under their own user manager
#                   (systemd-run --user: in user@UID.service, not in the
#                   session) and lingers (loginctl enable-linger): at
#                   not_after the session ends, and so do the lingering, the
#                   user manager and the unit (user.ended, terminate-user).
#
# Usage (root): tests/nspawn/test-host-faults.sh CASE [BUILD_DIR]
# Env: JIT_TB_WINDOW (the window, default 40 s), JIT_TB_MANY (default 10000),
#      JIT_TB_SESSIONS (default 1000) and JIT_TB_SESSIONS_SETUP (the window of
#      many_sessions, default 60 + SESSIONS/4 s),
#      JIT_TB_DAEMON_DROPIN (a drop-in for the daemon's unit, to see a case
#      fail), JIT_TB_KEEP=1, and the settings in lib.sh. Exit 77 when the bed
#      cannot run.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$TB_LIB_DIR/flow.sh"
CASE=${1:?usage: test-host-faults.sh CASE [BUILD_DIR]}
shift
[ $# -gt 0 ] && JIT_BUILD=$(cd "$1" && pwd)
case $CASE in logind_restart|bus_gone|hidepid|many_procs|many_sessions|clock_set|user_manager) ;; *) tb_die "unknown case $CASE" ;; esac
tb_require_bed

WINDOW=${JIT_TB_WINDOW:-40}
MANY=${JIT_TB_MANY:-10000}
export JIT_TB_KILL_GRACE=${JIT_TB_KILL_GRACE:-5}
export JIT_TB_WARN_OFFSETS=${JIT_TB_WARN_OFFSETS:-$((WINDOW / 2))s,8s}
A=alice
B=bob

diagnostics() {
    [ "$TB_FAILS" -gt 0 ] && tb_running || return 0
    echo "== diagnostics (failures above)"
    echo "-- jit-helperd journal (last 40):"; ct journalctl -u jit-helperd --no-pager -n 40 -o short-precise 2>&1 | tb_show
    echo "-- logind/dbus/sshd journal (last 20):"
    ct journalctl -u systemd-logind -u dbus -t sshd --no-pager -n 20 -o short-precise 2>&1 | tb_show
}
trap 'diagnostics; tb_teardown' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
daemon_pid() { ct systemctl show -p MainPID --value jit-helperd.service 2>/dev/null; }
daemon_restarts() { ct systemctl show -p NRestarts --value jit-helperd.service 2>/dev/null; }
# The daemon answers a decision over its socket (what pam_jit.so asks).
daemon_answers() {
    local out
    out=$(ct timeout 15 jitctl check "$1" 2>&1)
    grep -Eq "\((login|sudo)\): (allow|deny) " <<<"$out"
}
# Same process as at the start, never restarted, answering.
check_daemon_kept() {
    local when=$1 pid
    pid=$(daemon_pid)
    if [ "$pid" = "$DPID" ] && [ "$(daemon_restarts)" = 0 ]; then
        tb_pass "jit-helperd still runs as pid $pid, never restarted ($when)"
    else
        tb_fail "jit-helperd still runs as pid $DPID, never restarted ($when): MainPID=$pid NRestarts=$(daemon_restarts)"
    fi
    if daemon_answers "$A"; then tb_pass "jit-helperd answers a decision over its socket ($when)"
    else tb_fail "jit-helperd answers a decision over its socket ($when): $(ct timeout 15 jitctl check "$A" 2>&1 | head -n1)"; fi
}
# Session $1 (logind id or pid key) is in the daemon's table (jitctl status --json).
tracked() {
    ct jitctl status --json 2>/dev/null | python3 -c '
import json, sys
want = sys.argv[1]
s = json.load(sys.stdin).get("enforcement", {}).get("sessions", [])
sys.exit(0 if any(want in (x.get("logind_session"), x.get("key")) for x in s) else 1)' "$1"
}
check_tracked() {
    if tracked "$1"; then tb_pass "session $1 is in jit-helperd's table ($2)"
    else tb_fail "session $1 is in jit-helperd's table ($2)"; fi
}
# The processes of $A's session: everything of the user's uid ($AUID: the name
# may no longer resolve after the window) but the user manager.
# Both print "?" when the container could not be asked (never a vacuous 0).
session_procs() {
    local out
    out=$(ct ps -e -o uid=,args= 2>/dev/null) && [ -n "$out" ] || { echo "?"; return; }
    awk -v u="$AUID" '$1 == u' <<<"$out" | grep -Ev 'systemd --user|\(sd-pam\)' | grep -c .
}
sleepers() { local n; n=$(ct pgrep -c -u "$AUID" -x sleep); echo "${n:-?}"; }
# tb_session_end_by TAG USER HOW: the ssh client exits by not_after + 30 s,
# and the journal has session.ended with that JIT_HOW.
session_ended_by() {
    local tag=$1 user=$2 how=$3 sid deadline
    sid=$(tb_session_id "$tag")
    deadline=$((${TB_NOT_AFTER[$user]} - $(tb_now) + 30))
    if tb_session_wait_gone "$tag" "$deadline"; then
        tb_pass "ssh session of $user closed at $(tb_hms "$(tb_now)") ($(($(tb_now) - ${TB_NOT_AFTER[$user]})) s after not_after)"
    else
        tb_fail "ssh session of $user closed within 30 s of not_after"; return 1
    fi
    if tb_wait 15 tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_HOW=$how" >/dev/null 2>&1; then
        tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_HOW=$how" JIT_STEP
        tb_pass "journal: session.ended for $user's session ${sid:-?} with JIT_HOW=$how"
    else
        tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" 2>&1 | tb_show
        tb_fail "journal: session.ended for $user's session ${sid:-?} with JIT_HOW=$how"; return 1
    fi
}
bus_stop() {
    ct systemctl stop dbus.socket dbus.service
    if ! ct busctl --system status >/dev/null 2>&1; then
        tb_pass "the system bus is gone (dbus.socket and dbus.service stopped: busctl cannot connect)"
    else
        tb_fail "the system bus is gone"
    fi
}
bus_start() {
    ct systemctl start dbus.socket dbus.service systemd-logind.service
    if tb_wait 15 ct busctl --system status org.freedesktop.login1 >/dev/null 2>&1; then
        tb_pass "the system bus is back, with logind on it"
    else tb_fail "the system bus is back, with logind on it"; fi
}
# A prober inside the container asks the daemon for a decision in a loop
# (jitctl check: the socket request pam_jit.so makes; exit 0 allow, 10 deny,
# 3 no answer within 5 s), each line "start_ns end_ns exit", from
# probe_start to probe_stop; probe_report WHILE checks every one was answered.
probe_start() {
    probe=$TB_RUN/probe.log
    ct rm -f /run/jit-probe-stop
    ct sh -c "while [ ! -e /run/jit-probe-stop ]; do s=\$(date +%s%N); jitctl check $A >/dev/null 2>&1; rc=\$?; echo \"\$s \$(date +%s%N) \$rc\"; done" \
        > "$probe" 2>&1 </dev/null &
    prober=$!
}
probe_stop() { ct touch /run/jit-probe-stop; wait "$prober" 2>/dev/null; }
probe_report() {
    local checks unanswered slowest
    read -r checks unanswered slowest < <(awk 'NF == 3 { n++; if ($3 != 0 && $3 != 10) bad++; d = ($2 - $1) / 1e6; if (d > m) m = d }
                                               END { printf "%d %d %.0f\n", n, bad, m }' "$probe")
    if [ "${checks:-0}" -gt 0 ] && [ "$unanswered" = 0 ]; then
        tb_pass "jit-helperd answered all $checks socket checks made from 3 s before not_after until $1 (slowest ${slowest} ms, a figure)"
    else
        tb_fail "jit-helperd answered every socket check while $1 ($unanswered of ${checks:-0} unanswered)"
        grep -Ev ' (0|10)$' "$probe" | head -n 5 | tb_show
    fi
}
alert_logged() {
    local out
    tb_wait 15 tb_journal_has security.alert JIT_ALERT=logind_unreachable JIT_ERROR >/dev/null 2>&1 &&
        out=$(tb_journal_has security.alert JIT_ALERT=logind_unreachable JIT_ERROR) && echo "$out"
}

# ---------------------------------------------------------------- the bed
T0=$SECONDS
tb_new_run
tb_restore_rootfs
tb_install_build
tb_authority_start
tb_configure
# JIT_TB_DAEMON_DROPIN: a drop-in for jit-helperd.service (its text), to see a
# case fail when the daemon is weakened (e.g. "[Service]\nProcSubset=all": it
# then shares the container's /proc).
if [ -n "${JIT_TB_DAEMON_DROPIN:-}" ]; then
    mkdir -p "$TB_ROOT/etc/systemd/system/jit-helperd.service.d"
    printf '%b\n' "$JIT_TB_DAEMON_DROPIN" > "$TB_ROOT/etc/systemd/system/jit-helperd.service.d/90-test.conf"
    tb_log "jit-helperd.service drop-in: $(tr '\n' ' ' < "$TB_ROOT/etc/systemd/system/jit-helperd.service.d/90-test.conf")"
fi
tb_boot
tb_log "test bed ready in $((SECONDS - T0)) s; case $CASE, window $WINDOW s"
tb_check_daemon_unit
DPID=$(daemon_pid)
tb_say "jit-helperd runs as pid $DPID in the container"

# What $A's session runs in the bus_gone and hidepid cases: a job that leaves
# the session's process tree and ignores the hangup (setsid nohup), as a user
# trying to outlive the window would; only a scan of /proc finds it.
ESCAPER='setsid nohup sleep 100003 >/dev/null 2>&1 < /dev/null & exec sleep 100000'
login_a() {   # grant A for SECS, log in (session a) running COMMAND; sets SA
    tb_flow_grant "$A" "$1" || { tb_summary; exit 1; }
    tb_flow_login a "$A" "${2:-}" || { tb_summary; exit 1; }
    SA=$(tb_session_id a)
    AUID=$(ct id -u "$A")
    tb_wait 10 tracked "$SA"
    check_tracked "$SA" "after login"
    if [ "${2:-}" = "$ESCAPER" ]; then
        if tb_wait 10 eval 'ct pgrep -u "$AUID" -f "sleep 100003" >/dev/null'; then
            tb_pass "$A's setsid nohup job runs (pid $(ct pgrep -u "$AUID" -f "sleep 100003"), session of its own)"
        else tb_fail "$A's setsid nohup job runs"; fi
    fi
}

case $CASE in
# ---------------------------------------------------------------- logind restarted
logind_restart)
    login_a "$WINDOW"
    tb_step "systemd-logind is restarted while $A's session $SA is live" \
        "logind comes back with the session; jit-helperd keeps it, keeps running and answering"
    ct systemctl restart systemd-logind.service && tb_pass "systemctl restart systemd-logind" ||
        tb_fail "systemctl restart systemd-logind"
    tb_wait 15 tb_logind_has "$SA" && tb_pass "logind lists session $SA again after its restart" ||
        tb_fail "logind lists session $SA again after its restart"
    check_tracked "$SA" "after logind's restart"
    check_daemon_kept "after logind's restart"
    tb_flow_warning a "$A"
    tb_flow_ended a "$A" expired
    check_daemon_kept "after the end"
    ;;
# ---------------------------------------------------------------- the bus gone
bus_gone)
    tb_flow_grant "$B" $((WINDOW + 45)) || { tb_summary; exit 1; }
    login_a "$WINDOW" "$ESCAPER"
    tb_step "the system bus goes away while $A's session $SA is live" \
        "jit-helperd keeps running; PAM and socket checks are answered; nothing hangs"
    bus_stop
    check_daemon_kept "bus gone"
    out=$(tb_ssh "$B" 'echo PAM-ANSWERED' 2>&1 </dev/null)
    if grep -q PAM-ANSWERED <<<"$out"; then tb_pass "ssh login of $B with the bus gone: pam_jit.so's account check answered (allowed)"
    else tb_fail "ssh login of $B with the bus gone: $(echo "$out" | tr -d '\r' | tail -n1)"; fi
    tb_step "the window closes with the bus still gone" \
        "$A is warned on the terminal; at not_after jit-helperd signals the session's processes itself (fallback-kill) and raises security.alert logind_unreachable"
    tb_flow_warning a "$A"
    session_ended_by a "$A" fallback-kill
    n=$(session_procs)
    [ "$n" = 0 ] && tb_pass "no process of $A's session is left (nor the setsid nohup job)" || { tb_fail "no process of $A's session is left ($n left)"; ct ps -u "$AUID" -o pid,args | tb_show; }
    alert_logged && tb_pass "journal: security.alert JIT_ALERT=logind_unreachable names what failed" ||
        tb_fail "journal: security.alert JIT_ALERT=logind_unreachable"
    check_daemon_kept "after the end, bus still gone"
    tb_step "the system bus comes back" "$B's next session is ended through logind again (jit-helperd opened a new connection)"
    bus_start
    tb_flow_login b "$B"
    SB=$(tb_session_id b)
    if [ -n "$SB" ] && tb_wait 10 tracked "$SB"; then tb_pass "$B's session has logind id $SB and is tracked"
    else tb_fail "$B's session has a logind id and is tracked (XDG_SESSION_ID='$SB')"; fi
    session_ended_by b "$B" terminate-session
    tb_logind_wait_gone "$SB" 10 && tb_pass "logind session $SB gone" || tb_fail "logind session $SB gone"
    check_daemon_kept "after the bus came back"
    ;;
# ---------------------------------------------------------------- /proc hidden
hidepid)
    login_a "$WINDOW" "$ESCAPER"
    tb_step "/proc is remounted hidepid=2 inside the container" \
        "other users' processes are hidden from ordinary users; jit-helperd (root) still sees $A's session"
    # Each "cannot see" below is checked to be seeing before the remount, so
    # that a command that fails for another reason cannot pass for hidepid.
    seen_by_local() { ct runuser -u "$JIT_TB_LOCAL_USER" -- ps -e -o user= | grep -c "^$A\$"; }
    seen=$(seen_by_local)
    [ "$seen" -gt 0 ] && tb_pass "before: $JIT_TB_LOCAL_USER sees $seen processes of $A" ||
        tb_fail "before the remount, $JIT_TB_LOCAL_USER sees $A's processes (saw ${seen:-none})"
    ct mount -o remount,hidepid=2 /proc && tb_pass "mount -o remount,hidepid=2 /proc" || tb_fail "mount -o remount,hidepid=2 /proc"
    seen=$(seen_by_local)
    [ "$seen" = 0 ] && tb_pass "$JIT_TB_LOCAL_USER no longer sees $A's processes (hidepid in force)" ||
        tb_fail "hidepid in force: $JIT_TB_LOCAL_USER still sees $seen processes of $A"
    check_tracked "$SA" "hidepid=2"
    # gid= matters: without it (gid 0) root sees everything through its group.
    # With gid=adm, a root process without CAP_SYS_PTRACE (as jit-helperd's
    # unit runs it) no longer sees other users' processes in this /proc.
    tb_step "/proc is remounted hidepid=invisible,gid=adm and jit-helperd restarts under it" \
        "root without CAP_SYS_PTRACE no longer sees $A's processes in /proc; the restarted daemon (its own /proc instance) finds session $SA alive and keeps it"
    job=$(ct pgrep -u "$AUID" -f "sleep 100003")
    if [ -n "$job" ] && ct setpriv --bounding-set=-sys_ptrace -- test -e "/proc/$job/stat"; then
        tb_pass "before: root without CAP_SYS_PTRACE sees $A's job (pid $job) under hidepid=2 (group 0)"
    else tb_fail "before the remount, root without CAP_SYS_PTRACE sees $A's job (pid ${job:-?})"; fi
    ct mount -o remount,hidepid=invisible,gid=adm /proc && tb_pass "mount -o remount,hidepid=invisible,gid=adm /proc" ||
        tb_fail "mount -o remount,hidepid=invisible,gid=adm /proc"
    if [ -n "$job" ] && ! ct setpriv --bounding-set=-sys_ptrace -- test -e "/proc/$job/stat"; then
        tb_pass "root without CAP_SYS_PTRACE cannot see $A's job (pid $job) in the container's /proc"
    else tb_fail "root without CAP_SYS_PTRACE cannot see $A's job (pid ${job:-?}) in the container's /proc"; fi
    ct systemctl restart jit-helperd.service && tb_pass "systemctl restart jit-helperd" || tb_fail "systemctl restart jit-helperd"
    DPID=$(daemon_pid)
    tb_wait 10 tracked "$SA"
    check_tracked "$SA" "after the daemon restarted under hidepid=invisible,gid=adm"
    if tb_journal_has session.closed "JIT_GRANT_ID=${TB_GRANT[$A]}" >/dev/null 2>&1; then
        tb_fail "no session.closed for $A's live session (the restarted daemon thought it gone)"
    else tb_pass "no session.closed for $A's live session"; fi
    tb_step "the bus goes away too: at not_after jit-helperd must find $A's processes in /proc itself" \
        "the session is ended by signalling its processes (fallback-kill); nothing of it is left; nothing crashed"
    bus_stop
    tb_flow_warning a "$A"
    session_ended_by a "$A" fallback-kill
    n=$(session_procs)
    [ "$n" = 0 ] && tb_pass "no process of $A's session is left (nor the setsid nohup job)" || { tb_fail "no process of $A's session is left ($n left)"; ct ps -u "$AUID" -o pid,args | tb_show; }
    check_daemon_kept "after the end under hidepid=invisible,gid=adm"
    ;;
# ---------------------------------------------------------------- 10,000 processes
many_procs)
    # The user forks MANY sleeps inside the session (bash, in 10 parallel
    # loops), prints MANY-READY, then waits.
    login_a "$((WINDOW + 100))" \
        "for j in 0 1 2 3 4 5 6 7 8 9; do ( for i in \$(seq $((MANY / 10))); do sleep 100000 & done; wait ) & done; while [ \$(pgrep -c -u \$(id -u) -x sleep) -lt $MANY ]; do sleep 1; done; echo MANY-READY; exec sleep 100000"
    tb_step "$A forks $MANY processes in the session" "all $MANY run before not_after"
    if tb_session_wait_for a MANY-READY $((${TB_NOT_AFTER[$A]} - $(tb_now) - 5)); then
        tb_pass "$A runs $(sleepers) sleep processes ($(tb_hms "$(tb_now)"), window ends $(tb_hms "${TB_NOT_AFTER[$A]}"))"
    else
        tb_fail "$A's $MANY processes started before the window's end (have $(sleepers))"
    fi
    how=terminate-session
    if [ "${JIT_TB_MANY_FALLBACK:-0}" = 1 ]; then bus_stop; how=fallback-kill; fi
    tb_step "the window closes at $(tb_hms "${TB_NOT_AFTER[$A]}") with $MANY processes in the session" \
        "all gone ($how); jit-helperd answers every check while they are ended"
    last=""
    sleep $((${TB_NOT_AFTER[$A]} - $(tb_now) - 3 > 0 ? ${TB_NOT_AFTER[$A]} - $(tb_now) - 3 : 0))
    probe_start
    t_gone=""
    while [ $(($(tb_now) - ${TB_NOT_AFTER[$A]})) -lt 120 ]; do
        n=$(sleepers)
        [ "$n" != "$last" ] && tb_say "$(date +%H:%M:%S.%N | cut -c1-12): $n sleep processes of $A"
        last=$n
        if [ "$n" = 0 ] && [ "$(tb_now)" -ge "${TB_NOT_AFTER[$A]}" ]; then t_gone=$(date +%s.%N); break; fi
        sleep 0.2
    done
    probe_stop
    if [ -n "$t_gone" ]; then
        tb_pass "all $MANY processes of $A gone, $(python3 -c "print(f'{$t_gone - ${TB_NOT_AFTER[$A]}:.1f}')") s after not_after (figure, not asserted)"
    else tb_fail "all $MANY processes of $A gone within 120 s of not_after ($last left)"; fi
    probe_report "the processes were ended"
    session_ended_by a "$A" "$how"
    check_daemon_kept "after the end"
    ;;
# ---------------------------------------------------------------- many logind sessions
many_sessions)
    # N logind sessions of $A, each opened through PAM as a login opens one:
    # a unit systemd starts with PAMName=jit-many and User=$A (systemd runs
    # the account stack, pam_jit.so's check, then the session stack:
    # pam_systemd's logind session and pam_jit.so's registration), running
    # one sleep. All belong to one grant, so all end at the same second.
    N=${JIT_TB_SESSIONS:-1000}
    SETUP=${JIT_TB_SESSIONS_SETUP:-$((60 + N / 4))}
    ct sh -c 'cat > /etc/pam.d/jit-many' <<'PAM'
account    required   pam_jit.so
@include common-account
@include common-session
session    required   pam_jit.so
PAM
    # Logind sessions of $A; "?" when loginctl could not be asked (never a vacuous 0).
    a_sessions() {
        local out
        out=$(ct loginctl list-sessions --no-legend 2>/dev/null) || { echo "?"; return; }
        awk -v u="$A" '$3 == u { n++ } END { print n + 0 }' <<<"$out"
    }
    # Sessions in jit-helperd's table (its count: the listing is cut to fit
    # one message); "?" when the daemon did not answer (never a vacuous 0).
    a_tracked() {
        ct jitctl status --json 2>/dev/null | python3 -c '
import json, sys
try: s = json.load(sys.stdin)
except ValueError: s = {}
print(s["sessions"] if "enforcement" in s and isinstance(s.get("sessions"), int) else "?")'
    }
    tb_flow_grant "$A" "$SETUP" || { tb_summary; exit 1; }
    AUID=$(ct id -u "$A")
    tb_step "$N logind sessions of $A open (systemd-run -p PAMName=jit-many -p User=$A sleep)" \
        "pam_jit.so allows each; all $N are in logind and in jit-helperd's table before not_after"
    t0=$(date +%s.%N)
    ct sh -c "for i in \$(seq $N); do systemd-run --quiet --no-block --unit=jit-many-\$i -p PAMName=jit-many -p User=$A /bin/sleep 100000 || echo systemd-run \$i failed; done" 2>&1 | head -n 5 | tb_show
    # Settled: no start job of them left, and each unit either failed (its PAM
    # stack refused) or runs sleep (a unit runs from its fork on: while its
    # PAM stack is at work its process is not sleep yet).
    units() { ct systemctl list-units --all --plain --no-legend 'jit-many-*' 2>/dev/null | awk -v s="$1" '$4 == s { n++ } END { print n + 0 }'; }
    settled=""
    while [ "$(tb_now)" -lt $((${TB_NOT_AFTER[$A]} - 5)) ]; do
        if ! ct systemctl list-jobs --no-legend 2>/dev/null | grep -q 'jit-many-' &&
            [ "$(units running)" = "$(sleepers)" ]; then settled=$(date +%s.%N); break; fi
        sleep 1
    done
    running=$(units running) refused=$(units failed)
    [ -n "$settled" ] && tb_say "all $N units settled $(python3 -c "print(f'{$settled - $t0:.1f}')") s after the first was asked for: $running running, $refused failed (a figure)"
    if [ -n "$settled" ] && [ "$running" = "$N" ]; then
        tb_pass "pam_jit.so allowed all $N sessions of $A (each unit runs its sleep)"
    else
        tb_fail "pam_jit.so allowed all $N sessions of $A (running $running, failed $refused$([ -n "$settled" ] || echo ', not settled before not_after'))"
        ct journalctl --no-pager -o cat | grep 'pam_jit(jit-many' | sort | uniq -c | sort -rn | head -n 3 | tb_show
    fi
    # Every session that runs is in jit-helperd's table ($A is the only user
    # with sessions here). Under a burst logind may not register them all
    # (pam_systemd, optional in common-session, then logs "Failed to create
    # session: No buffer space available"): jit-helperd tracks those by their
    # leader pid, and ends them by signals.
    tb_wait 30 eval '[ "$(a_tracked)" = "$running" ]'
    OPEN=$(a_sessions) TRACKED=$(a_tracked)
    if [ "$running" -gt 0 ] && [ "$TRACKED" = "$running" ]; then
        tb_pass "all $running sessions of $A are in jit-helperd's table ($OPEN of them registered with logind)"
    else tb_fail "all $running sessions of $A in jit-helperd's table (table $TRACKED; logind has $OPEN)"; fi
    [ "$OPEN" = "$running" ] || ct journalctl --no-pager -o cat | grep 'pam_systemd(jit-many' | sort | uniq -c | head -n 3 | tb_show
    tb_step "the window closes at $(tb_hms "${TB_NOT_AFTER[$A]}") with $TRACKED sessions open" \
        "none ends early; all end (through logind where logind has them) and leave the table; jit-helperd answers every check meanwhile"
    sleep $((${TB_NOT_AFTER[$A]} - $(tb_now) - 3 > 0 ? ${TB_NOT_AFTER[$A]} - $(tb_now) - 3 : 0))
    n=$(sleepers)
    [ "$n" = "$TRACKED" ] && tb_pass "3 s before not_after all $TRACKED sessions still run" ||
        tb_fail "3 s before not_after all $TRACKED sessions still run ($n sleep processes)"
    probe_start
    t_logind="" t_procs="" t_table="" last=""
    while [ $(($(tb_now) - ${TB_NOT_AFTER[$A]})) -lt 180 ]; do
        now=$(date +%s.%N)
        ns=$(a_sessions) np=$(sleepers) nt=$(a_tracked)
        [ "$ns $np $nt" != "$last" ] && tb_say "$(date +%H:%M:%S.%N | cut -c1-12): logind $ns sessions, $np sleep processes, table $nt"
        last="$ns $np $nt"
        if [ "$(tb_now)" -ge "${TB_NOT_AFTER[$A]}" ]; then
            [ -z "$t_logind" ] && [ "$ns" = 0 ] && t_logind=$now
            [ -z "$t_procs" ] && [ "$np" = 0 ] && t_procs=$now
            [ -z "$t_table" ] && [ "$nt" = 0 ] && t_table=$now
            [ -n "$t_logind" ] && [ -n "$t_procs" ] && [ -n "$t_table" ] && break
        fi
        sleep 0.2
    done
    probe_stop
    after() { python3 -c "print(f'{$1 - ${TB_NOT_AFTER[$A]}:.1f}')"; }
    if [ -n "$t_logind" ] && [ -n "$t_procs" ]; then
        tb_pass "all $TRACKED sessions of $A ended: the last left logind $(after "$t_logind") s and the last process was gone $(after "$t_procs") s after not_after (figures, not asserted)"
    else tb_fail "all $TRACKED sessions of $A ended within 180 s of not_after (logind $(a_sessions), processes $(sleepers))"; fi
    if [ -n "$t_table" ]; then tb_pass "jit-helperd's table had none of them $(after "$t_table") s after not_after (figure)"
    else tb_fail "jit-helperd's table empty of $A's sessions within 180 s ($(a_tracked) left)"; fi
    probe_report "the sessions were ended"
    # One session.ended per session in the table (none lost, none twice); those
    # with a logind session ended through logind (a session pam_systemd could
    # not register with logind, optional in common-session, is ended by signals).
    ct journalctl --sync >/dev/null 2>&1 || true
    read -r ended by_logind < <(ct journalctl --no-pager -o json "MESSAGE_ID=$(tb_message_id session.ended)" \
        "JIT_GRANT_ID=${TB_GRANT[$A]}" | python3 -c '
import json, sys
e = [json.loads(l) for l in sys.stdin if l.strip()]
print(len(e), sum(1 for x in e if x.get("JIT_HOW") == "terminate-session"))')
    [ "$ended" = "$TRACKED" ] && [ "$by_logind" = "$OPEN" ] &&
        tb_pass "journal: $TRACKED session.ended events for grant ${TB_GRANT[$A]}, the $OPEN logind sessions' JIT_HOW=terminate-session" ||
        tb_fail "journal: $TRACKED session.ended events for grant ${TB_GRANT[$A]}, the $OPEN logind sessions' through logind (have ${ended:-?}, ${by_logind:-?} through logind)"
    check_daemon_kept "after the end"
    ;;
# ---------------------------------------------------------------- the clock set
clock_set)
    login_a 600
    tb_step "CLOCK_REALTIME is set to its own value, twice" \
        "each clock_settime fires jit-helperd's TFD_TIMER_CANCEL_ON_SET timerfd: it re-evaluates, re-arms and logs the next wake-up"
    clock_lines() { ct journalctl -u jit-helperd --no-pager -o cat | grep "the system clock was set"; }
    for round in 1 2; do
        # The host's clock is the container's: set to what it reads (moves it by microseconds).
        python3 -c 'import time; time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME))' &&
            tb_say "clock_settime(CLOCK_REALTIME, now) done at $(date +%H:%M:%S.%N | cut -c1-12)"
        # One line per setting: the timerfd was armed again after the first.
        if tb_wait 10 eval '[ "$(clock_lines | grep -c .)" -ge $round ]'; then
            line=$(clock_lines | sed -n "${round}p")
            tb_say "journal: $line"
            tb_pass "set $round: jit-helperd noticed the clock change (journal line $round)"
            # The wake-up it re-armed: in the future, at the latest not_after.
            wake=$(sed -n 's/.*wake-up at \([0-9]*\) .*/\1/p' <<<"$line")
            if [ -n "$wake" ] && [ "$wake" -gt "$(tb_now)" ] && [ "$wake" -le "${TB_NOT_AFTER[$A]}" ]; then
                tb_pass "set $round: the wake-up is re-armed for $(tb_hms "$wake") (before not_after $(tb_hms "${TB_NOT_AFTER[$A]}"))"
            else tb_fail "set $round: a wake-up re-armed between now and not_after: $line"; fi
        else
            tb_fail "set $round: jit-helperd logged the clock change within 10 s ($(clock_lines | grep -c .) lines)"
        fi
        sleep 2
    done
    n=$(clock_lines | grep -c .)
    if [ "$n" = 2 ]; then tb_pass "exactly two clock changes noticed for two settings"
    else
        # Another step of the clock (the host's, an NTP step) shows here as an extra line.
        tb_fail "two clock changes noticed for two settings (saw $n)"
        ct journalctl -u jit-helperd --no-pager -o short-precise | grep "the system clock was set" | tb_show
    fi
    check_tracked "$SA" "after the clock was set"
    check_daemon_kept "after the clock was set"
    ;;
# ---------------------------------------------------------------- the user manager, lingering
user_manager)
    # The unit outlives the session's scope: it runs under user@UID.service.
    login_a "$WINDOW" 'systemd-run --user --quiet --unit=jit-outlive sleep 100007; exec sleep 100000'
    tb_step "$A starts a unit under their own user manager (systemd-run --user) and lingers" \
        "the unit runs in user@UID.service, outside session $SA's scope; lingering keeps that manager after the last session"
    outlive() { ct pgrep -u "$AUID" -f "sleep 100007"; }
    if tb_wait 15 eval 'outlive >/dev/null'; then
        pid=$(outlive | head -n1)
        cg=$(ct cat "/proc/$pid/cgroup" 2>/dev/null)
        if grep -q "user@$AUID.service" <<<"$cg"; then
            tb_pass "$A's systemd-run --user unit runs (pid $pid) in user@$AUID.service, outside the session's scope ($cg)"
        else tb_fail "$A's systemd-run --user unit runs in user@$AUID.service (cgroup: ${cg:-?})"; fi
    else
        tb_fail "$A's systemd-run --user unit runs"
        tb_session_out a | tail -n 5 | tb_show
    fi
    # Where polkitd runs, any user may switch lingering on for themselves
    # (org.freedesktop.login1.set-self-linger); the bed has no polkitd, so root does it.
    if ct loginctl enable-linger "$A" && ct test -e "/var/lib/systemd/linger/$A"; then
        tb_pass "lingering is on for $A (/var/lib/systemd/linger/$A)"
    else tb_fail "lingering is on for $A"; fi
    tb_flow_ended a "$A" expired
    tb_step "$A's last grant is over: lingering, the user manager and the unit end too" \
        "jit-helperd switches lingering off and ends the user through logind (SetUserLinger, TerminateUser): user.ended"
    if tb_wait 20 tb_journal_has user.ended "JIT_USER=$A" "JIT_UID=$AUID" JIT_HOW=terminate-user >/dev/null 2>&1; then
        tb_journal_has user.ended "JIT_USER=$A" "JIT_UID=$AUID" JIT_HOW=terminate-user
        tb_pass "journal: user.ended for $A (uid $AUID) with JIT_HOW=terminate-user"
        if tb_journal_has user.ended "JIT_USER=$A" JIT_ERROR >/dev/null 2>&1; then
            tb_fail "user.ended for $A without JIT_ERROR: $(tb_journal_has user.ended "JIT_USER=$A" JIT_ERROR 2>&1 | head -n 3)"
        else tb_pass "user.ended for $A carries no JIT_ERROR (logind did both steps)"; fi
    else
        tb_fail "journal: user.ended for $A (uid $AUID) with JIT_HOW=terminate-user"
        tb_journal_has user.ended 2>&1 | tb_show
    fi
    if tb_wait 30 eval '! outlive >/dev/null'; then
        tb_pass "the systemd-run --user unit is gone $(($(tb_now) - ${TB_NOT_AFTER[$A]})) s after not_after"
    else tb_fail "the systemd-run --user unit is gone within 30 s of the session's end (pid $(outlive | head -n1) runs)"; fi
    if ! ct test -e "/var/lib/systemd/linger/$A"; then
        tb_pass "lingering is off for $A"
    elif ! ct getent passwd "$A" >/dev/null; then
        # nss.retention = 0: $A no longer resolves, so logind could not switch
        # lingering off (it looks the user up) and starts no manager for them
        # either. user.ended says so; a restart of logind (which starts the
        # managers of lingering users) shows it.
        if tb_journal_has user.ended "JIT_USER=$A" 2>/dev/null | grep -q "cannot look $A up"; then
            tb_pass "lingering left on, and user.ended says why: $A no longer resolves (nss.retention = 0)"
        else tb_fail "user.ended says why lingering was left on for $A"; fi
        ct systemctl restart systemd-logind.service
        sleep 3
        if ! ct systemctl is-active --quiet "user@$AUID.service" && ! outlive >/dev/null; then
            tb_pass "after a restart of logind no manager of $A starts ($(ct systemctl is-active "user@$AUID.service" 2>&1)), nothing of $A runs"
        else tb_fail "after a restart of logind no manager of $A starts ($(ct systemctl is-active "user@$AUID.service" 2>&1))"; fi
    else
        tb_fail "lingering is off for $A (/var/lib/systemd/linger/$A still there, and $A still resolves)"
    fi
    if tb_wait 30 eval '! ct systemctl is-active --quiet "user@$AUID.service"'; then
        tb_pass "user@$AUID.service is no longer active ($(ct systemctl is-active "user@$AUID.service" 2>&1))"
    else tb_fail "user@$AUID.service stopped ($(ct systemctl is-active "user@$AUID.service" 2>&1))"; fi
    check_daemon_kept "after the end"
    ;;
esac

tb_log "test-host-faults $CASE finished in $((SECONDS - T0)) s"
tb_summary
