#!/bin/bash
# Fault suite, the daemon killed (issue 18): jit-helperd gets SIGKILL at a
# random instant after the authority changed the bundle — while it accepts
# the bundle, stores grants.state, publishes the NSS snapshot and the
# sudoers drop-in, writes the session table and the upload spool — repeated
# JIT_KILL9_ROUNDS times (default 16). After each kill:
#   (the kill lands 0-130 % of the measured time to publish the drop-in after
#   the authority answered: see change_and_kill.py)
#   - the sudoers drop-in is the old or the new one: visudo accepts it, and it
#     is byte-identical to a version the daemon published, or (a version it
#     was killed right after publishing) names exactly the sudo grants of a
#     revision the authority served;
#   - the NSS snapshot answers (real getent through libnss_jit.so.2 in a
#     private mount namespace, when MODULE is given and loadable);
#   - the daemon starts again on what was left with no state_corrupt alert,
#     and its revision is the one before the kill or a later one: nothing
#     torn, nothing set aside, nothing rolled back;
#   - it allows exactly the users whose grants are in force and nobody else
#     (no wrong allow after a restart);
#   - the audit spool loses nothing: every event sequence number the killed
#     daemon had spooled is still there or already at the authority.
#   kill9_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR [NSS_MODULE]
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3 MODULE=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
set -eo pipefail
ROUNDS=${JIT_KILL9_ROUNDS:-16}
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
command -v visudo >/dev/null || skip "needs visudo"
setup_tmp k9

mkdir -m 0755 "$T/nssdir" "$T/sudoers.d"
DROPIN=$T/sudoers.d/jit-rights
helperd_on_authority 3000000-3001000 "" "$T/helperd.sock" "$DROPIN" || die "the reference authority did not start"
sed -i "s|^db_path = .*|db_path = $T/nssdir/nss.db|" "$T/helperd.conf"
admin_url=http://127.0.0.1:$(cat "$T/auth/admin-port")

# A bundle worth the time: 300 grants, half of them with sudo, created in one go.
python3 - "$admin_url" "$HOST" <<'PY'
import json, sys, urllib.request
url, host = sys.argv[1], sys.argv[2]
for i in range(300):
    body = {"user": f"itbulk{i}", "duration_seconds": 7200, "reason": "kill -9 suite bulk"}
    if i % 2 == 0:
        body["sudo"] = {"run_as": "root", "commands": [f"/usr/bin/id -u {i}"]}
    req = urllib.request.Request(f"{url}/admin/hosts/{host}/grants", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
PY
admin grant create --host "$HOST" --user itdora --duration 2h --reason "always in force" --sudo-command /usr/bin/id >/dev/null

helperd_start || die "jit-helperd did not start"
is_allowed() { [ "$(decision "$1")" = allow ]; }
wait_for --or-die "first bundle" 30 is_allowed itdora
cp "$DROPIN" "$T/sudoers.v0"
KNOWN_SUDOERS=("$(sha256sum <"$DROPIN")")

ns_getent() {  # ns_getent USER: getent passwd USER through the module, against $T/nssdir
  "$HERE/../nss/nss-namespace.sh" --module "$MODULE" --db-dir "$T/nssdir" -- getent passwd "$1" >/dev/null 2>&1
}
GETENT=no
if [ -n "$MODULE" ] && [ "$(id -u)" = 0 ] && ! ldd "$MODULE" 2>/dev/null | grep -q libasan && ns_getent itdora; then
  GETENT=yes
else
  log "NSS snapshot checked by the daemon's restart only (no loadable module or no root)"
fi

# spool_seqs: the seq of every event in the upload spool files.
spool_seqs() {
  { cat "$T/state/upload/"spool-*.jsonl 2>/dev/null || true; } | python3 -c '
import json, sys
for line in sys.stdin:
    try: print(json.loads(line)["seq"])
    except Exception: pass' | sort -n
}
uploaded_seqs() { admin --json events list --host "$HOST" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]: print(e["seq"])' | sort -n; }

IN_FORCE=(itdora)     # users with a grant in force (besides the bulk ones)
REVOKED=()
# Where each kill landed: before grants.state was replaced, between it and the
# sudoers drop-in, after both.
KILLED_BEFORE=0 KILLED_BETWEEN=0 KILLED_AFTER=0
stored_revision() { sed -n 's/^revision=//p' "$T/state/grants.state"; }
change() {  # change create USER CMD | revoke GRANT_ID, then the kill/measure options
  python3 "$HERE/change_and_kill.py" "$admin_url" "$HOST" "$@" --state "$T/state/grants.state" --dropin "$DROPIN"
}
# Calibration: how long from the authority's answer until the drop-in is
# rewritten (two changes, no kill); the kills are then spread over 0-130 % of it.
cal_gid=$(change create itcal "/usr/bin/id -u" --measure 2>"$T/cal.1")
wait_for --or-die "calibration grant" 30 is_allowed itcal
change revoke "$cal_gid" --measure 2>"$T/cal.2" >/dev/null
wait_for --or-die "calibration revocation" 30 not is_allowed itcal
SPREAD_MS=$(cat "$T/cal.1" "$T/cal.2" | awk '{ if ($2 > m) m = $2 } END { printf "%d", m * 1.3 + 5 }')
log "calibration: state stored / drop-in published after (ms): $(cat "$T/cal.1" "$T/cal.2" | tr '\n' ';'), kills spread over 0-$SPREAD_MS ms"
cp "$DROPIN" "$T/sudoers.now"
for round in $(seq 1 "$ROUNDS"); do
  before=$(revision)
  delay=$(( RANDOM % (SPREAD_MS + 1) ))
  # The change: a new sudo grant, or the revocation of the last one; SIGKILL
  # `delay` ms after the authority answered: while the long poll wakes, the
  # bundle is verified, stored and published.
  if (( round % 2 )); then
    user=itk$round
    change create "$user" "/usr/bin/id -g $round" --kill "$HELPERD_PID" --delay-ms "$delay" >"$T/gid.$round"
    IN_FORCE+=("$user") CHANGED=$user
  else
    prev=itk$((round - 1))
    change revoke "$(cat "$T/gid.$((round - 1))")" --kill "$HELPERD_PID" --delay-ms "$delay" >/dev/null
    keep=(); for u in "${IN_FORCE[@]}"; do [ "$u" = "$prev" ] || keep+=("$u"); done
    IN_FORCE=("${keep[@]}") CHANGED=$prev
    REVOKED+=("$prev")
  fi
  reap "$HELPERD_PID" || true
  spooled_before_kill=$(spool_seqs | tr '\n' ' ')   # what the killed daemon left on disk
  if [ "$(stored_revision)" -le "$before" ]; then KILLED_BEFORE=$((KILLED_BEFORE + 1))
  elif cmp -s "$DROPIN" "$T/sudoers.now"; then KILLED_BETWEEN=$((KILLED_BETWEEN + 1))
  else KILLED_AFTER=$((KILLED_AFTER + 1)); fi

  # The drop-in: parses, and is a complete rendering.
  visudo -cqf "$DROPIN" || die "round $round: the sudoers drop-in does not parse: $(tail -3 "$DROPIN")"
  sum=$(sha256sum <"$DROPIN")
  if [[ " ${KNOWN_SUDOERS[*]} " != *" $sum "* ]]; then
    # A version published just before the kill: it names itdora and the last bulk sudo rule.
    grep -q "itdora" "$DROPIN" && grep -q "itbulk298" "$DROPIN" \
      || die "round $round: the sudoers drop-in is incomplete: $(wc -l <"$DROPIN") lines"
    KNOWN_SUDOERS+=("$sum")
  fi
  # A temp file left by the kill is harmless: sudo's #includedir skips names with a dot.
  for f in $(ls -A "$T/sudoers.d"); do
    [ "$f" = jit-rights ] || [[ $f == *.* ]] || die "round $round: $f in sudoers.d would be read by sudo"
  done
  if [ "$GETENT" = yes ]; then
    ns_getent itdora || die "round $round: the NSS snapshot does not answer for itdora after the kill"
    ns_getent itbulk299 || die "round $round: the NSS snapshot does not answer for itbulk299 after the kill"
  fi

  : >"$T/helperd.log"
  helperd_start || die "round $round: jit-helperd did not start after SIGKILL"
  ! grep -q "state_corrupt\|corrupt-" "$T/helperd.log" || die "round $round: a state file was torn: $(grep corrupt "$T/helperd.log")"
  after=$(revision)
  [ "$after" -ge "$before" ] || die "round $round: revision went back from $before to $after"
  if (( round % 2 )); then
    wait_for --or-die "round $round: caught up ($CHANGED allowed)" 30 is_allowed "$CHANGED"
  else
    wait_for --or-die "round $round: caught up ($CHANGED revoked)" 30 not is_allowed "$CHANGED"
  fi
  # Nothing wrongly allowed: the previous round's user is gone when revoked.
  for u in itdora itbulk0 itbulk299 "${IN_FORCE[@]}"; do
    [ -z "$u" ] || [ "$(decision "$u")" = allow ] || die "round $round: $u in force but not allowed"
  done
  for u in "${REVOKED[@]}"; do
    [ "$(decision "$u")" != allow ] || die "round $round: $u was revoked but is allowed"
  done
  # Nothing lost from the audit spool: each seq spooled before the kill is in
  # the spool now or at the authority.
  have=" $(spool_seqs | tr '\n' ' ') $(uploaded_seqs | tr '\n' ' ') "
  for s in $spooled_before_kill; do
    [[ $have == *" $s "* ]] || die "round $round: audit event seq $s was lost"
  done
  cp "$DROPIN" "$T/sudoers.now"; KNOWN_SUDOERS+=("$(sha256sum <"$DROPIN")")
done
helperd_stop TERM || die "daemon did not stop cleanly at the end"
log "kills before grants.state was replaced: $KILLED_BEFORE, between it and the drop-in: $KILLED_BETWEEN, after both: $KILLED_AFTER; sudoers versions seen: ${#KNOWN_SUDOERS[@]}"
pass "$ROUNDS rounds of SIGKILL during bundle acceptance and publication: nothing torn, nothing lost, nothing wrongly allowed"
finish
