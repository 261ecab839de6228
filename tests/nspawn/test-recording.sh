#!/bin/bash
# Session recording in the nspawn test bed (issue 14; docs/ssh.md "Session
# recording"): helperd.conf `[recording] sessions = on`, so a JIT user's login
# shell is jit-rec-session, which starts tlog-rec-session; the session's
# keystrokes and output land in the container's journal, tlog-play replays
# them, and `jitctl audit --grant G` lists the recordings with the command
# that replays each. The user tries to turn recording off for the next login
# (~/.pam_environment naming a tlog configuration file of their own, read by
# Debian's `pam_env user_readenv=1` in sshd's session): the next session is
# recorded into the journal all the same.
#
# Usage (root): tests/nspawn/test-recording.sh [BUILD_DIR]
# Env: JIT_TB_KEEP=1 (keep the run dir) and the settings in lib.sh. Exit 77
#      when the bed cannot run.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$TB_LIB_DIR/flow.sh"
[ $# -gt 0 ] && JIT_BUILD=$(cd "$1" && pwd)
tb_require_bed
export JIT_TB_RECORDING=on
A=alice

diagnostics() {
    [ "$TB_FAILS" -gt 0 ] && tb_running || return 0
    echo "== diagnostics (failures above)"
    echo "-- jit-helperd journal (last 20):"; ct journalctl -u jit-helperd --no-pager -n 20 -o short-precise 2>&1 | tb_show
    echo "-- sshd / tlog journal (last 30):"; ct journalctl -t sshd -t tlog-rec-session -t jit-rec-session --no-pager -n 30 -o short-precise 2>&1 | tb_show
    for f in "$TB_RUN"/rec-*.out; do [ -f "$f" ] && { echo "-- $f:"; tr -d '\r' < "$f" | tail -n 20 | tb_show; }; done
}
trap 'diagnostics; tb_teardown' EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
tb_up
tb_log "test bed ready in $((SECONDS - T0)) s; recording on"
tb_check_daemon_unit
tb_flow_grant "$A" 600 || { tb_summary; exit 1; }
G=${TB_GRANT[$A]}

tb_step "recording on: $A's login shell is jit-rec-session" "getent passwd $A names /usr/libexec/jitlogin/jit-rec-session"
if [ "$(ct getent passwd "$A" | cut -d: -f7)" = /usr/libexec/jitlogin/jit-rec-session ]; then
    tb_pass "getent passwd $A: shell /usr/libexec/jitlogin/jit-rec-session"
else
    tb_fail "getent passwd $A names jit-rec-session (got: $(ct getent passwd "$A"))"
fi

# Session 1: interactive, on a pty, as an engineer types. The input line and
# the output differ ($((6*7)) typed, 42 printed): each is found where it belongs.
# The engineer then tries to switch recording off for the next login.
tb_step "$A logs in with the grant's key and types commands" \
    "ssh -tt; the session's input and output are recorded by tlog into the journal"
{
    sleep 2
    printf '%s\n' 'echo "rec$((6*7))one"' \
        'printf "%s\n" "TLOG_REC_SESSION_CONF_FILE DEFAULT=$HOME/tlog-off.conf" "JIT_TB_ENV_MARK DEFAULT=read" > ~/.pam_environment' \
        'printf "%s\n" "{\"writer\":\"file\",\"file\":{\"path\":\"$HOME/unrecorded.log\"}}" > ~/tlog-off.conf' \
        'exit'
} | timeout 60 ssh -tt "${TB_SSHO[@]}" "$A@127.0.0.1" > "$TB_RUN/rec-1.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && tr -d '\r' < "$TB_RUN/rec-1.out" | grep -q 'rec42one'; then
    tb_pass "interactive session ran (printed rec42one)"
else
    tb_fail "interactive session ran and printed rec42one (ssh exit $rc)"
fi
if tr -d '\r' < "$TB_RUN/rec-1.out" | grep -q 'Your session is being recorded'; then
    tb_pass "the engineer was told: tlog's notice is on the terminal"
else
    tb_fail "tlog's notice ('Your session is being recorded') on the terminal"
fi

# Session 2: a command (sshd runs `SHELL -c COMMAND`), after ~/.pam_environment
# asked for tlog to write to a file of the user's own.
tb_step "$A's next login, with ~/.pam_environment pointing tlog at a file of theirs" \
    "pam_env reads the file (JIT_TB_ENV_MARK reaches the session), yet the session is recorded into the journal"
out=$(timeout 60 ssh "${TB_SSHO[@]}" "$A@127.0.0.1" 'echo "mark=${JIT_TB_ENV_MARK:-unset}"; echo "rec$((6*7))two"' 2>&1 </dev/null)
rc=$?
tb_say "ssh $A 'echo ...' -> exit $rc: $(tr -d '\r' <<<"$out" | grep -v '^$' | tr '\n' ' ')"
if grep -qx 'mark=read' <<<"$(tr -d '\r' <<<"$out")"; then
    tb_pass "~/.pam_environment was read for the session (the attempt was real)"
else
    tb_fail "~/.pam_environment read for the session (JIT_TB_ENV_MARK=read expected)"
fi
if [ $rc -eq 0 ] && grep -qx 'rec42two' <<<"$(tr -d '\r' <<<"$out")"; then tb_pass "command session ran (printed rec42two)"
else tb_fail "command session ran and printed rec42two (ssh exit $rc)"; fi
if ct test -e "/home/$A/unrecorded.log"; then tb_fail "tlog did not write to the user's file /home/$A/unrecorded.log"
else tb_pass "nothing written to the user's file: the user's tlog settings were not used"; fi

# ---------------------------------------------------------------- the journal
tb_step "the recordings in the container's journal" \
    "journalctl -o json TLOG_USER=$A: the typed line in in_txt, its output in out_txt, tagged with the session id"
ct journalctl --sync >/dev/null 2>&1 || true
sessions=$(ct journalctl --no-pager -o json "MESSAGE_ID=$(tb_message_id session.opened)" "JIT_GRANT_ID=$G" |
           python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l).get("JIT_SESSION_ID","") for l in sys.stdin if l.strip()})))')
tb_say "session.opened for $G: sessions $sessions"
ct journalctl --no-pager -o json "TLOG_USER=$A" > "$TB_RUN/tlog.json"
check_rec() {  # check_rec INPUT OUTPUT: prints the TLOG_REC id of a recording with both, tagged with a session of the grant
    python3 - "$1" "$2" "$sessions" "$TB_RUN/tlog.json" <<'PY'
import json, sys
want_in, want_out, sessions, path = sys.argv[1], sys.argv[2], set(sys.argv[3].split()), sys.argv[4]
recs = {}
for line in open(path):
    if not line.strip():
        continue
    e = json.loads(line)
    m = json.loads(e["MESSAGE"])
    r = recs.setdefault(e["TLOG_REC"], {"in": "", "out": "", "sessions": set()})
    r["in"] += m.get("in_txt", "")
    r["out"] += m.get("out_txt", "")
    r["sessions"].add(e.get("TLOG_SESSION"))
    r["sessions"].add(e.get("_AUDIT_SESSION"))
for rid, r in recs.items():
    if want_in in r["in"] and want_out in r["out"] and r["sessions"] - {None} <= sessions and r["sessions"] - {None}:
        print(rid)
        sys.exit(0)
print("recordings seen: " + "; ".join(f"{k}: sessions {sorted(x for x in v['sessions'] if x)} in {v['in'][:80]!r} out {v['out'][:80]!r}" for k, v in recs.items()), file=sys.stderr)
sys.exit(1)
PY
}
if rec1=$(check_rec 'echo "rec$((6*7))one"' 'rec42one' 2>"$TB_RUN/check.err"); then
    tb_pass "session 1 recorded: keystrokes (in_txt) and output (out_txt), TLOG_REC=$rec1, session of grant $G"
else
    tb_fail "session 1's keystrokes and output in the journal"; tb_show < "$TB_RUN/check.err"
fi
if rec2=$(check_rec '' 'rec42two' 2>"$TB_RUN/check.err"); then
    tb_pass "session 2 recorded into the journal despite ~/.pam_environment, TLOG_REC=$rec2"
else
    tb_fail "session 2 recorded into the journal"; tb_show < "$TB_RUN/check.err"
fi

tb_step "replay and the audit trail" \
    "tlog-play -r journal -M TLOG_REC=<id> plays session 1 back; jitctl audit --grant $G lists both recordings"
if [ -n "${rec1:-}" ]; then
    # tlog-play reads its keys (pause, quit) from stdin and stops at its end:
    # an open, silent stdin that nobody waits for.
    replay=$(ct timeout 30 tlog-play -r journal -M "TLOG_REC=$rec1" 2>&1 < <(sleep 60) | tr -d '\0')
    if grep -q 'rec42one' <<<"$replay"; then tb_pass "tlog-play -r journal -M TLOG_REC=$rec1 replays the output"
    else tb_fail "tlog-play replays session 1 (got: $(tr -d '\r' <<<"$replay" | tail -n 3 | tr '\n' ' '))"; fi
else
    tb_skip "tlog-play replays session 1" "no recording found"
fi
ct jitctl audit --grant "$G" > "$TB_RUN/audit.out" 2>&1
tb_say "jitctl audit --grant $G (recordings part):"; sed -n '/^Recordings/,$p' "$TB_RUN/audit.out" | tb_show
for rec in ${rec1:-} ${rec2:-}; do
    if grep -qF "replay: tlog-play -r journal -M TLOG_REC=$rec" "$TB_RUN/audit.out"; then
        tb_pass "jitctl audit --grant $G lists recording $rec and how to replay it"
    else
        tb_fail "jitctl audit --grant $G lists recording $rec"
    fi
done
ct jitctl audit --grant "$G" --summary > "$TB_RUN/summary.out" 2>&1
if grep -q '^Recordings (tlog): 2$' "$TB_RUN/summary.out"; then tb_pass "jitctl audit --grant $G --summary: 2 recordings"
else tb_fail "jitctl audit --grant $G --summary counts 2 recordings"; tb_show < "$TB_RUN/summary.out"; fi

printf '\n(total %d s)\n' "$((SECONDS - T0))"
tb_summary
