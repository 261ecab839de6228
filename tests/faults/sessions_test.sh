#!/bin/bash
# Fault suite, the daemon's session table (issue 18). The real jit-helperd, the
# reference authority, sessions registered as pam_jit.so registers them (a root
# peer on the socket: session_open/session_close, session_burst.py), each with
# a leader process of the JIT user's uid (no logind here: the /proc fallback
# ends them). Through the binaries only: `jitctl status --json`, the table file
# <state.dir>/enforce.json, the audit spool and the authority's event store.
#
# 1. Restart with live sessions: 6 sessions of 3 users whose grants end in
#    ~25 s; jit-helperd stopped (SIGTERM) and started, then killed (SIGKILL)
#    and started: every session still tracked, none ended early, and at
#    not_after every one is ended (its leader gone) without anything else done.
# 2. SIGKILL at random instants during session-table writes, ROUNDS times
#    (JIT_SESSIONS_KILL_ROUNDS, default 16): each round opens 4 sessions and
#    closes 2 of them and one opened before (each a table write), and the
#    daemon is killed 0-SPREAD ms after the first request (SPREAD: 1.75 x the
#    measured time of such a burst).
#    After each kill: enforce.json parses (the old table or the new one, never
#    torn; nothing set aside at the restart); every session whose open the
#    daemon answered is in it and tracked after the restart, and none whose
#    close it answered; every answered close names its session (also one
#    opened before the restart); every session.opened event it answered for is in the
#    spool or at the authority, and every event spooled before the kill still
#    is. At the end the grant is revoked: every tracked session is ended.
#   sessions_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
set -eo pipefail
ROUNDS=${JIT_SESSIONS_KILL_ROUNDS:-16}
[ "$(id -u)" = 0 ] || skip "needs root (leader processes of other uids, session_open is root-only)"
command -v setpriv >/dev/null || skip "needs setpriv"
[ -d /run/systemd/system ] && [ -d /run/systemd/seats ] && skip "logind runs here: this test is for the /proc fallback"
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
setup_tmp fs

helperd_on_authority 3003000-3003999 "[enforce]\nwarn_before = 2s\nkill_grace = 2s" || die "the reference authority did not start"
SHOW_ON_FAIL+=("$T/burst.log")

# tracked: "user:pid" of every session the daemon tracks, sorted; fails while
# the daemon does not answer or reports no enforcement yet (just started).
tracked() {
  local out
  out=$(status_json | python3 -c '
import json, sys
for s in json.load(sys.stdin)["enforcement"]["sessions"]: print("%s:%s" % (s["user"], s["pid"]))' 2>/dev/null) || return 1
  sort <<<"$out" | sed '/^$/d'
}
tracks_exactly() { [ "$(tracked)" = "$1" ]; }
# table_pids FILE: the pids in a session table file; fails unless it parses.
table_pids() { python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
for s in t["sessions"]: print(s["pid"])' "$1" | sort -n; }
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
none_tracked() { local t; t=$(tracked) && [ -z "$t" ]; }
all_gone() { local p; for p in "$@"; do ! alive "$p" || return 1; done; }
runs_as() { [ "$(stat -c %u "/proc/$1" 2>/dev/null)" = "$2" ]; }  # runs_as PID UID (after setpriv's exec)
# leader UID: a process of that uid (no passwd entry needed), its pid in LEADER.
leader() {
  setpriv --reuid "$1" --regid "$1" --clear-groups -- sleep 3600 </dev/null >/dev/null 2>&1 &
  LEADER=$!
  PIDS+=($LEADER)
  wait_for 5 runs_as "$LEADER" "$1" || die "leader of uid $1 did not start"
}
burst() { python3 "$HERE/session_burst.py" "$T/helperd.sock" "$@" 2>>"$T/burst.log"; }
json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$1"; }
restart() {  # restart SIGNAL
  helperd_stop "$1" || [ "$1" = KILL ] || die "jit-helperd did not stop on SIG$1"
  : >"$T/helperd.log"
  helperd_start || die "jit-helperd did not start after SIG$1"
  ! grep -q "state_corrupt\|corrupt-\|set aside" "$T/helperd.log" || die "a state file was set aside after SIG$1: $(grep -m1 'corrupt\|set aside' "$T/helperd.log")"
}

helperd_start || die "jit-helperd did not start"

# --- 1. restart with live sessions --------------------------------------------
WINDOW=25
NOT_AFTER=
for n in 1 2 3; do
  na=$(admin --json grant create --host "$HOST" --user "itsa$n" --uid $((3003000 + n)) --duration "${WINDOW}s" \
         --reason "restart with live sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["not_after"])')
  [ -n "$NOT_AFTER" ] || NOT_AFTER=$na   # the earliest of the three
done
wait_for --or-die "itsa1..3 granted" 30 allowed itsa3
LEADERS=() EXPECT=()
for n in 1 2 3; do
  for k in 1 2; do
    leader $((3003000 + n))
    out=$(burst "itsa$n" --open "$LEADER")
    [ "$(json_get acked_open <<<"$out")" = "$LEADER" ] || die "session_open for itsa$n was not answered: $out"
    LEADERS+=("$LEADER") EXPECT+=("itsa$n:$LEADER")
  done
done
want=$(printf '%s\n' "${EXPECT[@]}" | sort)
wait_for 10 tracks_exactly "$want" || die "6 sessions opened, tracked: $(tracked | tr '\n' ' ')"
restart TERM
wait_for 10 tracks_exactly "$want" || die "after a restart (SIGTERM) the sessions tracked are: $(tracked | tr '\n' ' ')"
restart KILL
wait_for 10 tracks_exactly "$want" || die "after SIGKILL and a start the sessions tracked are: $(tracked | tr '\n' ' ')"
for p in "${LEADERS[@]}"; do alive "$p" || die "session leader $p was ended before not_after"; done
[ "$(date +%s)" -lt "$NOT_AFTER" ] || die "test setup: the restarts took longer than the window"
pass "6 live sessions tracked across a restart and a SIGKILL, none ended early ($(( NOT_AFTER - $(date +%s) )) s left)"
wait_for --or-die "every session ended after not_after" $(( WINDOW + 30 )) all_gone "${LEADERS[@]}"
ENDED=$(date +%s.%N)
(( $(date +%s) >= NOT_AFTER )) || die "sessions ended before not_after"
wait_for 15 none_tracked || die "sessions still tracked after the window: $(tracked | tr "\n" " ")"
ended_events_at_least() { [ "$(grep -c "session.ended" "$T/helperd.log" || true)" -ge "$1" ]; }
wait_for 10 ended_events_at_least 6 || die "expected a session.ended event per session, found $(grep -c session.ended "$T/helperd.log")"
pass "all 6 ended by the restarted daemon, the last gone $(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) - int(sys.argv[2])))' "$ENDED" "$NOT_AFTER") s after not_after (warn 2 s, grace 2 s)"

# --- 2. SIGKILL during session-table writes -----------------------------------
U=itsb U_UID=3003100
GID=$(admin --json grant create --host "$HOST" --user "$U" --uid $U_UID --duration 2h --reason "kill -9 during table writes" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["id"])')
wait_for --or-die "$U granted" 30 allowed "$U"

spool_events() { cat "$T/state/upload/"spool-*.jsonl 2>/dev/null || true; }
uploaded_events() { admin --json events list --host "$HOST"; }
# opened_pids: pids of session.opened events for $U in the spool and at the authority.
opened_pids() {
  { spool_events; uploaded_events | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]: print(json.dumps(e))'; } | python3 -c '
import json, sys
for line in sys.stdin:
    try: e = json.loads(line)
    except Exception: continue
    e = e.get("event", e) if isinstance(e.get("event"), dict) else e
    if e.get("type") == "session.opened" and e.get("user") == sys.argv[1]: print(e.get("pid"))' "$U" | sort -u
}
spool_seqs() { spool_events | python3 -c '
import json, sys
for line in sys.stdin:
    try: print(json.loads(line)["seq"])
    except Exception: pass' | sort -n; }
uploaded_seqs() { uploaded_events | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]: print(e["seq"])' | sort -n; }

# Calibration: the time a whole burst takes without a kill (first request to last answer).
OPEN=()   # pids of sessions the daemon answered for and that were not closed
for k in 1 2 3 4; do leader $U_UID; OPEN+=("$LEADER"); done
out=$(burst "$U" $(printf -- '--open %s ' "${OPEN[@]}") --close "${OPEN[0]}")
[ "$(json_get acked_open <<<"$out" | wc -w)" = 4 ] && [ "$(json_get acked_close <<<"$out")" = "${OPEN[0]}" ] || die "calibration burst: $out"
kill "${OPEN[0]}"; OPEN=("${OPEN[@]:1}")
SPREAD_MS=$(python3 -c 'import sys; print(int(float(sys.argv[1]) * 7 / 5 * 7 / 4) + 2)' "$(json_get elapsed_ms <<<"$out")")
log "calibration: 5 requests answered in $(json_get elapsed_ms <<<"$out") ms; a round's 7 take ~7/5 of it; kills spread over 0-$SPREAD_MS ms"
ACKED_OPEN_TOTAL=0 ACKED_CLOSE_TOTAL=0 KILLED_MIDWAY=0
for round in $(seq 1 "$ROUNDS"); do
  new=()
  for k in 1 2 3 4; do leader $U_UID; new+=("$LEADER"); done
  # Closes: two of this burst's own sessions (opened a moment before in the
  # same burst) and the oldest one still open (opened before the last restart).
  close=("${new[0]}" "${new[1]}" "${OPEN[0]}")
  delay=$(( RANDOM % (SPREAD_MS + 1) ))
  out=$(burst "$U" $(printf -- '--open %s ' "${new[@]}") $(printf -- '--close %s ' "${close[@]}") --kill "$HELPERD_PID" --delay-ms "$delay")
  reap "$HELPERD_PID" || true
  acked_open=$(json_get acked_open <<<"$out") acked_close=$(json_get acked_close <<<"$out")
  # Every close names its session, also one opened before the last restart
  # (the session table is the one on disk, reloaded at start).
  unmatched=$(json_get unmatched_close <<<"$out")
  [ -z "$unmatched" ] || die "round $round: session_close of $unmatched answered without naming a session (not in the restarted daemon's table)"
  # A close sent but not answered (the kill came while the daemon handled it)
  # may or may not have removed its session: either table is right. Its
  # session has ended like the others (the leader goes below).
  in_doubt=$(json_get in_doubt_close <<<"$out")
  n_open=$(wc -w <<<"$acked_open") n_close=$(wc -w <<<"$acked_close")
  ACKED_OPEN_TOTAL=$((ACKED_OPEN_TOTAL + n_open)) ACKED_CLOSE_TOTAL=$((ACKED_CLOSE_TOTAL + n_close))
  (( n_open + n_close == 7 || n_open + n_close == 0 )) || KILLED_MIDWAY=$((KILLED_MIDWAY + 1))
  spooled_before=$(spool_seqs | tr '\n' ' ')
  # The table on disk: parses, holds every answered open and no answered close.
  pids=" $(table_pids "$T/state/enforce.json" | tr '\n' ' ') " || die "round $round: enforce.json does not parse: $(head -c 300 "$T/state/enforce.json")"
  for p in "${OPEN[@]}" $acked_open; do
    [[ " $acked_close $in_doubt " == *" $p "* ]] && continue
    [[ $pids == *" $p "* ]] || die "round $round (kill at $delay ms): session $p was answered but is not in enforce.json"
  done
  for p in $acked_close; do
    [[ $pids != *" $p "* ]] || die "round $round (kill at $delay ms): session $p was closed (answered) but is still in enforce.json"
  done
  # The sessions whose close was answered (or sent) have ended (their sshd is gone).
  for p in $acked_close $in_doubt; do kill "$p" 2>/dev/null || true; done
  restart KILL
  keep=()
  for p in "${OPEN[@]}" $acked_open; do [[ " $acked_close $in_doubt " == *" $p "* ]] || keep+=("$p"); done
  # A session whose open was sent but not answered may be tracked or not (pam_jit
  # got no answer): it stays alive, and is ended with the grant if it is tracked.
  OPEN=("${keep[@]}")
  wait_for --or-die "round $round: the restarted daemon reports its sessions" 10 quiet tracked
  now_tracked=" $(tracked | sed 's/^[^:]*://' | tr '\n' ' ') "
  for p in "${OPEN[@]}"; do
    [[ $now_tracked == *" $p "* ]] || die "round $round: session $p untracked after the restart (tracked:$now_tracked)"
  done
  for p in $acked_close; do
    [[ $now_tracked != *" $p "* ]] || die "round $round: session $p closed but tracked again after the restart"
  done
  have_opened=" $(opened_pids | tr '\n' ' ') "
  for p in $acked_open; do
    [[ $have_opened == *" $p "* ]] || die "round $round: the session.opened event of $p (answered) was lost"
  done
  have=" $(spool_seqs | tr '\n' ' ') $(uploaded_seqs | tr '\n' ' ') "
  for s in $spooled_before; do
    [[ $have == *" $s "* ]] || die "round $round: audit event seq $s was lost"
  done
done
log "$ROUNDS kills: $ACKED_OPEN_TOTAL opens and $ACKED_CLOSE_TOTAL closes answered before the kill, $KILLED_MIDWAY bursts cut midway"
pass "$ROUNDS rounds of SIGKILL during session-table writes: the table never torn, no answered session untracked, no event lost"

# Everything tracked is still ended: revoke the grant.
ALL=($(tracked | grep "^$U:" | sed 's/^[^:]*://'))
[ "${#ALL[@]}" -ge "${#OPEN[@]}" ] || die "fewer sessions tracked (${#ALL[@]}) than open (${#OPEN[@]})"
admin grant revoke --host "$HOST" "$GID" --by sessions_test >/dev/null || die "revoke failed"
wait_for --or-die "every tracked session ended at the revocation" 60 all_gone "${ALL[@]}"
pass "the revocation ended all ${#ALL[@]} tracked sessions"
helperd_stop TERM || die "jit-helperd did not stop cleanly"
finish
