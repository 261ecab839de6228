#!/bin/bash
# Fault suite, the state directory (issue 18): jit-helperd with its state dir
# (grants.state, nss-uids, enforce.json, the upload spool, the NSS snapshot)
# on a tiny tmpfs that fills up, then the same mount read-only.
#   state_dir_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
# Full disk, daemon running:
#   a new bundle is accepted and served from memory (the user it grants is
#   allowed by PAM), with a security.alert naming the file that could not be
#   written; the last good grants.state and NSS snapshot stay byte for byte,
#   no temp file is left behind; the daemon keeps answering. Once space is
#   back, the next change is stored and a restart serves it.
# Read-only, daemon running: the same (alert, served from memory, old files kept).
# Read-only at start: the daemon starts on the stored state without the upload
# spool (alert), answers, and serves new bundles from memory (alert).
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
set -eo pipefail
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
[ "$(id -u)" = 0 ] || skip "needs root (mount)"
setup_tmp sd
S=$T/state
mkdir -m 0700 "$S"
mount -t tmpfs -o size=512k,mode=0700 jit-faults-state "$S" 2>/dev/null || skip "cannot mount a tmpfs"
unmount_all() { while mountpoint -q "$S"; do umount -l "$S" || break; done; }
trap 'rc=$?; set +e; unmount_all; (exit $rc); cleanup' EXIT

helperd_on_authority 3000000-3000100 || die "the reference authority did not start"
sed -i "s|^db_path = .*|db_path = $S/nss.db|" "$T/helperd.conf"
alive() { kill -0 "$HELPERD_PID" 2>/dev/null || die "jit-helperd died"; }
sums() { sha256sum "$S/grants.state" "$S/nss.db" | awk '{print $1}' | tr '\n' ' '; }
no_temp_files() { ! ls -A "$S" | grep -q '^\.tmp\.'; }

admin grant create --host "$HOST" --user itdora --duration 1h --reason "state dir faults" >/dev/null
helperd_start || die "jit-helperd did not start"
wait_for --or-die "itdora allowed" 30 allowed itdora
wait_for --or-die "state written" 30 test -s "$S/grants.state"
wait_for --or-die "snapshot written" 30 test -s "$S/nss.db"

# --- full -------------------------------------------------------------------------
GOOD=$(sums)
dd if=/dev/zero of="$S/filler" bs=4k 2>/dev/null || true   # until ENOSPC
[ "$(df --output=avail "$S" | tail -1)" -le 4 ] || die "test setup: the tmpfs is not full: $(df "$S")"
: >"$T/helperd.log"
admin grant create --host "$HOST" --user itemil --duration 1h --reason "disk full" >/dev/null
wait_for --or-die "full: itemil allowed (served from memory)" 30 allowed itemil
wait_for --or-die "full: alert for grants.state" 30 grep -q "JIT_ALERT=state_write_failed" "$T/helperd.log"
grep "JIT_ALERT=state_write_failed" "$T/helperd.log" | grep -qF "JIT_PATH=$S/grants.state" || die "full: the alert does not name grants.state"
grep -q "JIT_ALERT=publish_failed" "$T/helperd.log" || die "full: no alert for the NSS snapshot"
allowed itdora || die "full: itdora's grant lost"
[ "$(sums)" = "$GOOD" ] || die "full: the last good grants.state or nss.db changed"
no_temp_files || die "full: temp files left: $(ls -A "$S")"
alive; ctl status >/dev/null || die "full: status does not answer"
pass "state dir full: new bundle served from memory with an alert; last good grants.state and nss.db kept; answers"

rm -f "$S/filler"
admin grant create --host "$HOST" --user itfay --duration 1h --reason "space back" >/dev/null
wait_for --or-die "space back: itfay allowed" 30 allowed itfay
changed_from() { [ "$(sums)" != "$1" ]; }
wait_for --or-die "space back: grants.state rewritten" 30 changed_from "$GOOD"
helperd_stop TERM || die "daemon did not stop cleanly"
kill "$AUTH_PID"; reap "$AUTH_PID" || true     # the restart must serve what was stored
: >"$T/helperd.log"
helperd_start || die "no restart after the disk was full"
for u in itdora itemil itfay; do allowed $u || die "space back: $u not served from the stored state"; done
pass "space back: the next change stored, a restart with the authority down serves it"

# --- read-only, running ---------------------------------------------------------------
authority_start || die "the authority did not restart"
# A restarted authority issues a new revision: wait until the daemon has it
# stored, so that nothing is legitimately being written when the dir turns read-only.
auth_revision() { admin --json host show "$HOST" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }
# The daemon answers its socket between bundles only (one loop): once status
# shows the revision, grants.state and the snapshot of that bundle are written.
daemon_revision() { ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }
current() { [ "$(daemon_revision)" = "$(auth_revision)" ] && [ "$(sed -n 's/^revision=//p' "$S/grants.state")" = "$(auth_revision)" ]; }
wait_for --or-die "the restarted authority's revision stored" 30 current
GOOD=$(sums)
# A read-only bind mount over the directory: the daemon's open files stay as
# they are, everything it creates or renames there from now on gets EROFS.
mount --bind "$S" "$S" && mount -o remount,bind,ro "$S" || die "cannot make the state dir read-only"
touch "$S/probe" 2>/dev/null && die "test setup: the state dir is still writable"
: >"$T/helperd.log"
admin grant create --host "$HOST" --user itgus --duration 1h --reason "read-only" >/dev/null
wait_for --or-die "read-only: itgus allowed (served from memory)" 30 allowed itgus
wait_for --or-die "read-only: alert" 30 grep -q "JIT_ALERT=state_write_failed" "$T/helperd.log"
[ "$(sums)" = "$GOOD" ] || die "read-only: files changed"
alive
pass "state dir read-only while running: served from memory with an alert, files kept"

# --- read-only at start ----------------------------------------------------------------
# The upload spool cannot even be locked: the daemon starts without it (a
# security.alert says so; events still reach the journal) rather than exit
# and be restarted in a loop with every JIT user locked out.
helperd_stop TERM || die "daemon did not stop cleanly on a read-only state dir"
: >"$T/helperd.log"
helperd_start || die "read-only at start: jit-helperd did not start: $(tail -5 "$T/helperd.log")"
for u in itdora itemil itfay; do allowed $u || die "read-only start: $u not served from the stored state"; done
grep "JIT_ALERT=upload_unavailable" "$T/helperd.log" | grep -qF "JIT_PATH=$S/upload" \
  || die "read-only start: no alert for the upload spool: $(cat "$T/helperd.log")"
admin grant create --host "$HOST" --user ithal --duration 1h --reason "read-only start" >/dev/null
wait_for --or-die "read-only start: ithal allowed (served from memory)" 30 allowed ithal
grep -q "JIT_ALERT=state_write_failed" "$T/helperd.log" || die "read-only start: no alert for grants.state"
alive
pass "state dir read-only at start: started on the stored state with alerts (upload spool, grants.state), answers, catches up in memory"
helperd_stop TERM || true
finish
