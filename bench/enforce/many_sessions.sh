#!/bin/bash
# Many sessions ending at the same second (issue 18; not a test: results in
# docs/performance.md, "## Enforcement: 1,000 sessions ending at once"). Root
# only. On this host (no logind: the /proc fallback ends the sessions), with
# the reference authority and the real jit-helperd: USERS JIT users whose
# grants all end at the same second, PER_USER sessions each, registered as
# pam_jit.so registers them (session_open on the socket) with a leader process
# of the user's uid (a `sleep`: not an sshd session, see the docs); then the
# time from not_after until the last leader is gone, and until the daemon
# tracks no session. many_sessions.py does the sessions and the timing.
#   many_sessions.sh JIT_HELPERD JITCTL [USERS=100] [PER_USER=10] [SETUP_SECONDS=150]
HELPERD=$1 JITCTL=$2 USERS=${3:-100} PER_USER=${4:-10} SETUP=${5:-150}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/integration/lib.sh"
require_root_and_tools setpriv /usr/bin/python3
use_authority || die "no reference authority in tests/authority"
setup_tmp ms
UID0=3005000
helperd_on_authority $UID0-$((UID0 + 999)) "[enforce]\nwarn_before = 2s\nkill_grace = 2s" || die "the reference authority did not start"
helperd_start || die "jit-helperd did not start"
NOT_AFTER=$(( $(date +%s) + SETUP ))
python3 - "http://127.0.0.1:$ADMIN_PORT" "$HOST" "$USERS" "$UID0" "$NOT_AFTER" <<'PY' || die "grants"
import json, sys, urllib.request
url, host, users, uid0, not_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for u in range(users):
    body = {"user": f"msu{u}", "uid": uid0 + u, "not_after": not_after, "reason": "many sessions at once"}
    req = urllib.request.Request(f"{url}/admin/hosts/{host}/grants", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
PY
wait_for --or-die "the grants" 60 allowed "msu$((USERS - 1))"
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $USERS users x $PER_USER sessions, not_after in $(( NOT_AFTER - $(date +%s) )) s"
out=$(python3 "$HERE/many_sessions.py" "$T/helperd.sock" "$JITCTL" "$UID0" "$USERS" "$PER_USER" "$NOT_AFTER") || { echo "$out"; die "run failed"; }
none_tracked() { [[ $(ctl status --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["enforcement"]["sessions"]))') == 0 ]]; }
wait_for 120 none_tracked || die "sessions still tracked 120 s after the last leader was gone"
untracked_at=$(date +%s.%N)
echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin); d["daemon_tracks_none_s"] = round(float(sys.argv[1]) - int(sys.argv[2]), 2)
print(json.dumps(d))' "$untracked_at" "$NOT_AFTER"
echo "session.ended events: $(grep -c 'session.ended' "$T/helperd.log")"
# Writes of enforce.json since the start (registrations and ends; absent before issue 18's batching).
echo "session table writes: $(ctl status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["enforcement"].get("table_writes", "n/a"))')"
helperd_stop TERM || die "jit-helperd did not stop cleanly"
