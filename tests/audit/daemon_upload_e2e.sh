#!/bin/bash
# jit-helperd + the reference authority: every audit event the daemon emits
# (its stderr sink on this journald-less host) reaches the authority exactly
# once, across a kill -9 while an upload is in flight (the authority stores the
# batch after its injected delay; the host never saw the 204) and a restart.
#   daemon_upload_e2e.sh JIT_HELPERD JITCTL AUTHORITY_DIR      (exit 77 = skipped)
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -o pipefail
use_authority "$AUTH_DIR" || skip "no reference authority"
setup_tmp u

HOST=web-up AUTH_APPROVALS=1
authority_for_host || die "the reference authority did not start, or admin host add failed"
HELPERD_UIDS=3000200-3000300
helperd_config "$T/helperd.sock" "" "[authority]\nupload_events = yes\n[nss]\nhome_base = $T/home"
HELPERD_READY="quiet ctl status"  # ready: the daemon answers

# Event lines of the daemon's StderrSink, in order: their event names.
local_events() { grep -oE '^jit-helperd: [a-z_]+\.[a-z_]+ priority=[0-7] ' "$T/helperd.log" | awk '{print $2}'; }
# The authority's stored events for the host: "seq type" lines; exit 1 unless seqs are 1..N.
remote_events() {
  admin events list --host web-up | python3 -c '
import json, sys
d = json.load(sys.stdin)
seqs = [e["seq"] for e in d["events"]]
for e in d["events"]: print(e["seq"], e["type"])
sys.exit(0 if seqs == list(range(1, len(seqs) + 1)) else 1)'
}
# Converged: the authority holds exactly the daemon's local events, in order, once each.
converged() {
  local a b
  a=$(local_events) || return 1
  b=$(remote_events | awk '{print $2}') || return 1
  [ -n "$a" ] && [ "$a" = "$b" ]
}

"$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null 2>&1 \
  || skip "this jit-helperd has no authority.upload_events"
helperd_start || die "jit-helperd did not start"
wait_for --or-die "first events uploaded" 30 converged

# An upload held by the authority (stored after 3 s), and the daemon killed meanwhile.
admin fault set --endpoint events --mode delay --seconds 3 --host web-up >/dev/null || die "fault set"
GID=$(admin grant create --host web-up --user upalice --duration 1h --reason "upload e2e") || die "grant create"
no_faults() { admin fault list 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)["rules"] else 1)' 2>/dev/null; }
wait_for --or-die "the delayed upload reached the authority" 30 no_faults
helperd_stop KILL
sleep 3.5   # the authority finishes storing the batch the host never saw acknowledged
BEFORE=$(admin events list --host web-up | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')

helperd_start || die "jit-helperd did not start again"
wait_for --or-die "everything uploaded after the restart" 30 converged
DUPS=$(admin events list --host web-up | python3 -c 'import json,sys; print(json.load(sys.stdin)["duplicates"])')
[ "$DUPS" -gt 0 ] || die "expected the unacknowledged batch to be re-sent (duplicates=$DUPS, stored before restart=$BEFORE)"
REMOTE=$(remote_events) || die "authority seqs are not 1..N: $REMOTE"
grep -q "grant.activated" <<<"$REMOTE" || die "grant.activated of $GID not uploaded"
N=$(wc -l <<<"$REMOTE")
pass "$N daemon events at the authority exactly once across kill -9 in flight ($DUPS re-sent duplicates ignored)"
finish
