#!/bin/bash
# Start degraded, never crash-loop (issue 12): the real jit-helperd with each
# state file it reads at start made unusable in turn (truncated, garbage, a
# directory where a file belongs). Each time it starts and answers, the file
# is set aside (<file>.corrupt-<time>, kept), a security.alert
# (JIT_ALERT=state_corrupt) names it, and what can be rebuilt is: the grants
# from the next bundle, the uid allocations from the NSS snapshot, the spool.
# Also: the socket's missing directory is created (no RuntimeDirectory=).
#   corrupt_state_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -eo pipefail
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
setup_tmp c

# The socket in a directory that does not exist yet.
helperd_on_authority 3000000-3000100 "" "$T/run/helperd.sock" || die "the reference authority did not start, or admin host add failed"

helperd_start || die "jit-helperd did not start with a missing socket directory"
[ "$(stat -c '%a %u' "$T/run")" = "755 $(id -u)" ] || die "socket directory: $(stat -c '%a %u' "$T/run")"
GID=$(admin grant create --host "$HOST" --user itcora --duration 1h --reason "corrupt state test")
wait_for --or-die "grant visible" 30 lists_grant "$GID"
wait_for --or-die "allowed" 30 allowed itcora
S=$T/state
for f in grants.state nss-uids enforce.json upload/state; do
  wait_for --or-die "$f written" 30 test -s "$S/$f"
done
helperd_stop TERM || die "daemon did not stop cleanly"

# corrupt_and_start FILE HOW: makes $S/FILE unusable (HOW: truncate, garbage,
# directory), starts the daemon, and checks that it answers, the file was set
# aside and the alert names it.
corrupt_and_start() {
  local f=$S/$1 how=$2
  case $how in
    truncate) [ -s "$f" ] || die "$1: nothing to truncate"; truncate -s $(( $(stat -c %s "$f") / 2 )) "$f" ;;
    garbage) printf 'garbage\001\377 not a state file\n' > "$f"; chmod 600 "$f" ;;
    directory) rm -f "$f"; mkdir "$f" ;;
  esac
  : > "$T/helperd.log"
  helperd_start || die "jit-helperd did not start with a $how $1"
  grep "JIT_ALERT=state_corrupt" "$T/helperd.log" | grep -qF "JIT_PATH=$f " \
    || die "no state_corrupt alert for $1 ($how): $(cat "$T/helperd.log")"
  ls "$f".corrupt-* >/dev/null 2>&1 || die "$1 ($how) was not set aside"
  ctl status >/dev/null || die "no answer after a $how $1"
  log "PASS $how $1: set aside, started, answers"
}

corrupt_and_start grants.state truncate
wait_for --or-die "grant back from the authority" 30 allowed itcora
helperd_stop TERM

corrupt_and_start nss-uids garbage
wait_for --or-die "allowed after nss-uids" 30 allowed itcora
wait_for --or-die "nss-uids rewritten" 30 grep -q itcora "$S/nss-uids"
helperd_stop TERM

# Without logind, the sessions of the set-aside enforce.json are found again
# in /proc: a session leader of a managed user (uid in the managed range, no
# grant) is adopted and, having no grant, ended.
LIVE_PID=
if [ "$(id -u)" = 0 ] && grep -q "without logind" "$T/helperd.log" && command -v useradd ssh-keygen >/dev/null; then
  LIVE_USER=itlive$$ LIVE_UID=$(free_uid 3000050 3000100)
  make_client_key
  add_user "$LIVE_USER" "$LIVE_UID" || die "could not add $LIVE_USER"
  runuser -u "$LIVE_USER" -- setsid -f sleep 600
  wait_for --or-die "the user's session leader" 10 pgrep -u "$LIVE_USER" -x sleep
  LIVE_PID=$(pgrep -u "$LIVE_USER" -x sleep)
  PIDS+=("$LIVE_PID")  # killed by cleanup if the test fails
fi
corrupt_and_start enforce.json truncate
allowed itcora || die "not allowed after enforce.json"
if [ -n "$LIVE_PID" ]; then
  wait_for --or-die "the found session ended" 30 not kill -0 "$LIVE_PID"
  grep -q "adopted at start" "$T/helperd.log" || die "the session of $LIVE_USER was not adopted: $(cat "$T/helperd.log")"
  log "PASS enforce.json: a live session found again in /proc and ended (no grant)"
fi
helperd_stop TERM

corrupt_and_start upload/state garbage
helperd_stop TERM
corrupt_and_start upload/state directory
helperd_stop TERM

corrupt_and_start requests garbage
helperd_stop TERM

# A spool file with unreadable records: a copy is kept, the readable events go on.
printf '{"seq": 1, "type"\nnot json at all\n' > "$S/upload/spool-00000000000099999999.jsonl"
chmod 600 "$S/upload/spool-00000000000099999999.jsonl"
: > "$T/helperd.log"
helperd_start || die "jit-helperd did not start with a corrupt spool file"
grep -q "JIT_ALERT=upload.spool_corrupt" "$T/helperd.log" || die "no spool alert: $(cat "$T/helperd.log")"
ls "$S"/upload/spool-00000000000099999999.jsonl.corrupt-* >/dev/null || die "no copy of the corrupt spool file kept"
helperd_stop TERM

# Something else where the spool directory belongs.
rm -rf "$S/upload"; printf 'not a directory\n' > "$S/upload"
: > "$T/helperd.log"
helperd_start || die "jit-helperd did not start with a file at the spool directory"
grep "JIT_ALERT=state_corrupt" "$T/helperd.log" | grep -qF "JIT_PATH=$S/upload " || die "no alert for the spool directory"
[ -d "$S/upload" ] || die "no new spool directory"
allowed itcora || die "not allowed with a new spool"
helperd_stop TERM || die "daemon did not stop cleanly at the end"
log "helperd corrupt state: OK"
