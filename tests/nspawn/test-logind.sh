#!/bin/bash
# End to end in the nspawn test bed, with real systemd-logind and journald
# (issues 5 and 6): a grant's whole life for a user who exists only through
# libnss_jit, sessions ended through logind TerminateSession at not_after and
# at early revocation, a local user left alone, then the audit trail in the
# container's journal (MESSAGE_IDs, fields, catalog, jitctl audit --summary).
#
# Usage (root): tests/nspawn/test-logind.sh [BUILD_DIR]
# Env: JIT_TB_WINDOW (alice's window, default 40 s), JIT_TB_KEEP=1 (keep the
#      run dir), and the settings in lib.sh. Exit 77 when the bed cannot run.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$TB_LIB_DIR/flow.sh"
[ $# -gt 0 ] && JIT_BUILD=$(cd "$1" && pwd)
tb_require_bed

WINDOW=${JIT_TB_WINDOW:-40}
# A long grace: session.ended must come when the session is gone (logind's
# SessionRemoved, sshd's session_close), within 10 s (tb_flow_ended), not
# kill_grace later (issue 12).
export JIT_TB_KILL_GRACE=${JIT_TB_KILL_GRACE:-60}
export JIT_TB_WARN_OFFSETS=${JIT_TB_WARN_OFFSETS:-$((WINDOW / 2))s,$((WINDOW / 6 > 3 ? WINDOW / 6 : 3))s}
A=alice     # grant with sudo /usr/bin/id; its window runs out
B=bob       # grant without sudo; revoked early
C=carl      # grant for sudo only (login: false): no key is served, his ssh login is refused
L=$JIT_TB_LOCAL_USER

diagnostics() {
    [ "$TB_FAILS" -gt 0 ] && tb_running || return 0
    echo "== diagnostics (failures above)"
    echo "-- jit-helperd journal (last 40):"; ct journalctl -u jit-helperd --no-pager -n 40 -o short-precise 2>&1 | tb_show
    echo "-- sshd/sudo journal (last 20):"; ct journalctl -t sshd -t sudo --no-pager -n 20 -o short-precise 2>&1 | tb_show
    echo "-- authority log (last 15):"; tail -n 15 "$TB_RUN/authority/authority.log" 2>&1 | tb_show
}
trap 'diagnostics; tb_teardown' EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
tb_up
tb_log "test bed ready in $((SECONDS - T0)) s; window $WINDOW s, warnings at $JIT_TB_WARN_OFFSETS before the end"

tb_check_daemon_unit
tb_flow_refused "$A" before
granted_a=0; granted_b=0
tb_flow_grant "$A" "$WINDOW" /usr/bin/id && granted_a=1
tb_flow_grant "$B" 600 && granted_b=1

in_a=0; in_b=0; in_l=0
if [ $granted_a = 1 ]; then tb_flow_login a "$A" && in_a=1; else tb_skip "$A logs in" "no grant in force"; fi
if [ $granted_b = 1 ]; then tb_flow_login b "$B" && in_b=1; else tb_skip "$B logs in" "no grant in force"; fi
tb_flow_login l "$L" && in_l=1

if [ $granted_a = 1 ]; then tb_flow_status "$A"; tb_flow_sudo_allowed "$A"; fi
tb_flow_no_login "$C"
[ $granted_b = 1 ] && tb_flow_sudo_denied "$B"

if [ $in_b = 1 ]; then tb_flow_ended b "$B" revoked; else tb_skip "revocation ends $B's session" "$B never logged in"; fi

if [ $in_a = 1 ]; then
    tb_flow_warning a "$A"
    tb_flow_ended a "$A" expired
else
    tb_skip "warning on $A's terminal" "$A never logged in"
    tb_skip "$A's session ended at not_after" "$A never logged in"
fi
if [ $in_l = 1 ]; then tb_flow_local_untouched l "$L"; else tb_skip "local user untouched" "$L could not log in"; fi
# after the window (or right away when it never opened)
[ $granted_a = 1 ] && [ "$(tb_now)" -lt "${TB_NOT_AFTER[$A]}" ] && sleep $((${TB_NOT_AFTER[$A]} - $(tb_now) + 1))
tb_flow_refused "$A" after
tb_flow_refused "$B" after

# ---------------------------------------------------------------- audit (issue 6)
tb_step "audit events in the container's journal" \
    "journalctl -o json MESSAGE_ID=<id> JIT_GRANT_ID=<grant> finds each event with its fields"
audit_event() {   # audit_event USER EVENT FIELD[=VALUE]...
    local user=$1 ev=$2
    shift 2
    if [ -z "${TB_GRANT[$user]:-}" ]; then tb_skip "journal: $ev for $user" "no grant"; return; fi
    if tb_journal_has "$ev" "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_USER=$user" "$@"; then
        tb_pass "journal: $ev for $user (${TB_GRANT[$user]}) with $*"
    else
        tb_fail "journal: $ev for $user (${TB_GRANT[$user]}) with $*"
    fi
}
if tb_need "audit events" daemon pam catalog; then
    SA=$(tb_session_id a)
    SB=$(tb_session_id b)
    audit_event "$A" grant.activated JIT_NOT_AFTER="${TB_NOT_AFTER[$A]}" JIT_APPROVED_BY=carol JIT_TICKET=INC-4242 JIT_REASON
    audit_event "$A" login.allowed JIT_DECISION=allow JIT_SERVICE=sshd JIT_RHOST=127.0.0.1 JIT_UID JIT_NOT_AFTER \
        JIT_APPROVED_BY=carol JIT_TICKET=INC-4242
    audit_event "$A" session.opened JIT_SESSION_ID="$SA" JIT_SERVICE=sshd JIT_TTY
    audit_event "$A" sudo.allowed JIT_DECISION=allow JIT_SERVICE=sudo JIT_UID
    audit_event "$A" session.warned JIT_SESSION_ID="$SA" JIT_SECONDS_LEFT JIT_NOT_AFTER
    audit_event "$A" session.ended JIT_SESSION_ID="$SA" JIT_HOW=terminate-session
    audit_event "$A" grant.ended JIT_NOT_AFTER="${TB_NOT_AFTER[$A]}"
    audit_event "$B" sudo.denied JIT_DECISION=deny JIT_SERVICE=sudo JIT_REASON=no_sudo
    audit_event "$B" grant.revoked JIT_REVOKED_BY=carol
    audit_event "$B" session.ended JIT_SESSION_ID="$SB" JIT_HOW=terminate-session
    # Nothing about the local user, ever.
    # Captured, not piped into grep -q: with pipefail, grep -q leaving early
    # gives journalctl SIGPIPE, and the failing pipeline would read as "none".
    if ! local_events=$(ct journalctl --no-pager -o json "JIT_USER=$L"); then tb_fail "journalctl for local user $L failed"
    elif [ -n "$local_events" ]; then tb_fail "no jitlogin event names local user $L: ${local_events:0:300}"
    else tb_pass "no jitlogin event names local user $L"; fi
    tb_step "the catalog explains the events" "journalctl -x shows jitlogin's catalog text for session.ended"
    out=$(ct journalctl -x --no-pager "MESSAGE_ID=$(tb_message_id session.ended)" 2>&1)
    echo "$out" | tail -n 8 | tb_show
    grep -q 'Defined-By: jitlogin' <<<"$out" && tb_pass "journalctl -x shows the jitlogin catalog entry" ||
        tb_fail "journalctl -x shows the jitlogin catalog entry"
fi
if [ $in_a = 1 ]; then tb_flow_audit_story "$A"; else tb_skip "jitctl audit --summary" "$A never logged in"; fi

tb_log "test-logind finished in $((SECONDS - T0)) s"
tb_summary
