# shellcheck shell=bash
# Long-lived ssh sessions into the container (sourced by lib.sh).
#
# tb_session_start TAG USER [COMMAND] opens `ssh -tt` (a real pty, so terminal
# warnings reach it) running a shell that prints its logind session id and then
# waits (or runs COMMAND, a shell command line, in its place).
# Its output is $TB_RUN/sessions/TAG.out; when the client exits, its exit
# status is appended as "ssh_exit=N".

tb_sessions_dir() { mkdir -p "$TB_RUN/sessions"; echo "$TB_RUN/sessions"; }

# Starts a session; returns 0 once the remote shell reported its session id,
# 1 if ssh exited first (refused) or nothing came within 20 s.
tb_session_start() {
    local tag=$1 user=$2 cmd=${3:-exec sleep 100000} d i
    d=$(tb_sessions_dir)
    rm -f "$d/$tag".*
    # stdin: a fifo kept open by a sleeper, so the pty stays open until the
    # session is ended from the other side.
    mkfifo "$d/$tag.in"
    ( sleep 100000 > "$d/$tag.in" ) </dev/null >/dev/null 2>&1 &
    echo $! > "$d/$tag.holder"
    ( ssh -tt "${TB_SSHO[@]}" "$user@127.0.0.1" \
          'echo "XDG_SESSION_ID=$XDG_SESSION_ID"; echo "TTY=$(tty)"; echo "HOME=$HOME PWD=$(pwd)"; '"$cmd" \
          < "$d/$tag.in" > "$d/$tag.out" 2>&1 &
      echo $! > "$d/$tag.pid"
      wait $!
      echo "ssh_exit=$?" >> "$d/$tag.out" ) </dev/null >/dev/null 2>&1 &
    for i in $(seq 1 50); do [ -s "$d/$tag.pid" ] && break; sleep 0.02; done
    for i in $(seq 1 200); do
        grep -q '^XDG_SESSION_ID=' "$d/$tag.out" 2>/dev/null && return 0
        grep -q '^ssh_exit=' "$d/$tag.out" 2>/dev/null && return 1
        sleep 0.1
    done
    return 1
}
tb_session_out() { tr -d '\r' < "$TB_RUN/sessions/$1.out" 2>/dev/null; }
tb_session_id() { tb_session_out "$1" | sed -n 's/^XDG_SESSION_ID=//p' | head -n1; }
tb_session_tty() { tb_session_out "$1" | sed -n 's/^TTY=//p' | head -n1; }
tb_session_alive() { kill -0 "$(cat "$TB_RUN/sessions/$1.pid" 2>/dev/null || echo 0)" 2>/dev/null; }
tb_session_gone() { ! tb_session_alive "$1"; }
# Waits up to $2 seconds for the ssh client of session $1 to exit.
tb_session_wait_gone() { tb_wait "$2" tb_session_gone "$1"; }
# What reached the terminal after the shell started (not sshd's login
# messages, e.g. pam_jit's "access until" notice).
tb_session_later() { tb_session_out "$1" | sed -n '/^HOME=/,$p' | tail -n +2; }
# Waits up to $3 seconds for text $2 (fixed string) to reach session $1's
# terminal after its shell started.
# (Output captured, not piped into grep -q: under pipefail, grep -q leaving
# early can give the writer SIGPIPE and fail the pipeline although it matched.)
tb_session_shows() { local out; out=$(tb_session_later "$1") && grep -qF -- "$2" <<<"$out"; }
tb_session_wait_for() { tb_wait "$3" tb_session_shows "$1" "$2"; }
# Is logind session $1 listed in the container?
tb_logind_has() {
    local out
    out=$(ct loginctl list-sessions --no-legend 2>/dev/null) && awk -v id="$1" '$1 == id { found = 1 } END { exit !found }' <<<"$out"
}
tb_logind_lacks() { ! tb_logind_has "$1"; }
tb_logind_wait_gone() { tb_wait "$2" tb_logind_lacks "$1"; }
# Kills every session client and stdin holder this run started.
tb_sessions_kill() {
    local f
    [ -d "$TB_RUN/sessions" ] || return 0
    for f in "$TB_RUN"/sessions/*.pid "$TB_RUN"/sessions/*.holder; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    return 0
}
