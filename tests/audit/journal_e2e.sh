#!/bin/bash
# End to end through a real systemd-journald: events emitted by JournalSink are
# read back with journalctl (fields, catalog text) and with jitctl audit
# --directory (timeline, --json, --event, --user, --summary). The journald runs
# in a private mount namespace on tmpfs (technique of testbed/56-journald-standalone.sh),
# so the host's /run and /var are untouched. Without journald's socket the same
# events must appear on stderr (StderrSink).
# usage: journal_e2e.sh AUDIT_EMIT JITCTL CATALOG     (root; exit 77 = skipped)
set -u
EMIT=$1 JITCTL=$2 CATALOG=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mount namespace, journald)"; exit 77; }
[ -x /lib/systemd/systemd-journald ] || { echo "SKIP: no systemd-journald"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
unshare -m true 2>/dev/null || { echo "SKIP: mount namespaces not permitted here"; exit 77; }
# A host journald, if any, is hidden by the private mounts below.
# Mount points created for the namespace are removed afterwards (only those we created).
CREATED=
for d in /run/systemd/journal /run/log /var/log/journal /var/lib/systemd/catalog; do
  [ -d $d ] || CREATED="$d $CREATED"
done
export EMIT JITCTL CATALOG
unshare -m bash -c '
  set -u
  mount --make-rprivate /
  mkdir -p /run/systemd/journal /run/log /var/log/journal /var/lib/systemd/catalog
  for d in /run/systemd/journal /run/log /var/log/journal /var/lib/systemd/catalog; do mount -t tmpfs tmpfs $d; done
  WORK=$(mktemp -d /tmp/jit-journal-e2e.XXXXXX)
  mount -t tmpfs tmpfs $WORK
  trap "umount -l $WORK 2>/dev/null; rmdir $WORK 2>/dev/null" EXIT
  F=0
  fail() { echo "FAIL: $*"; F=1; }

  # 1. No journald: events go to stderr, one line each, never dropped.
  $EMIT g-nojournal 2>$WORK/stderr
  [ "$(grep -c "^jit-audit-test: " $WORK/stderr)" = 10 ] || fail "stderr fallback: expected 10 lines, got: $(cat $WORK/stderr)"
  grep -q "^jit-audit-test: sudo.denied priority=4 .*JIT_COMMAND=/bin/bash .*JIT_REASON=\"command not in grant\"" $WORK/stderr \
    || fail "stderr line format"

  # 2. A private journald.
  /lib/systemd/systemd-journald & J=$!
  for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
  [ -S /run/systemd/journal/socket ] || { echo "FAIL: journald did not start"; kill $J; exit 1; }
  G=g-e2e-$$-$RANDOM
  $EMIT $G alice 2>$WORK/stderr2
  [ -s $WORK/stderr2 ] && fail "JournalSink wrote to stderr: $(cat $WORK/stderr2)"
  journalctl --sync 2>/dev/null || sleep 1
  kill $J; wait $J 2>/dev/null   # closes the files cleanly
  if ls /var/log/journal/*/*.journal >/dev/null 2>&1; then D=/var/log/journal; else D=/run/log/journal; fi

  # journalctl sees the structured fields.
  JC() { journalctl -D $D --no-pager "$@" 2>/dev/null; }
  N=$(JC JIT_GRANT_ID=$G -o json | wc -l)
  [ "$N" = 9 ] || fail "journalctl JIT_GRANT_ID=$G: expected 9 entries, got $N"
  JC MESSAGE_ID=41a97859c7a64c7b943bc6e41bac3319 JIT_GRANT_ID=$G -o json > $WORK/denied.json
  python3 - $WORK/denied.json <<PY || F=1
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
assert len(e) == 1, e
e = e[0]
want = {"JIT_EVENT": "sudo.denied", "PRIORITY": "4", "JIT_USER": "alice", "JIT_UID": "70001",
        "JIT_COMMAND": "/bin/bash", "JIT_RUN_AS": "root", "JIT_DECISION": "deny",
        "JIT_REASON": "command not in grant", "SYSLOG_IDENTIFIER": "jit-audit-test",
        "MESSAGE": "sudo denied", "JIT_BAD_NAME": "sanitized"}
for k, v in want.items():
    assert e.get(k) == v, (k, e.get(k), v)
print("journal fields OK")
PY
  JC MESSAGE_ID=0c0e8f07338b46adb0012c3963442b95 JIT_GRANT_ID=$G -o json | python3 -c "
import json,sys
e=json.loads(sys.stdin.readline())
assert e[\"JIT_REASON\"]==\"patch openssl urgently\", e[\"JIT_REASON\"]
assert e[\"JIT_APPROVED_BY\"]==\"bob,carol\" and e[\"JIT_TICKET\"]==\"CHG-88\"
" || fail "grant.activated fields (newline must be stripped)"

  # The catalog explains entries with -x (catalog database in a tmpfs, host untouched).
  CAT=$WORK/catalog; mkdir -p $CAT; cp /usr/lib/systemd/catalog/*.catalog $CAT/ 2>/dev/null; cp $CATALOG $CAT/jitlogin.catalog
  mount --bind $CAT /usr/lib/systemd/catalog
  journalctl --update-catalog || fail "journalctl --update-catalog"
  JC -x JIT_GRANT_ID=$G JIT_EVENT=session.ended > $WORK/x.txt
  grep -q "Session 4 of alice ended by jitlogin (terminate-session)" $WORK/x.txt || fail "journalctl -x: no catalog subject: $(cat $WORK/x.txt)"
  grep -q "logind.s TerminateSession ended it cleanly" $WORK/x.txt || fail "journalctl -x: no catalog body"

  # jitctl audit reads the same journal by fields.
  $JITCTL audit --directory $D --grant $G --utc > $WORK/timeline || fail "jitctl audit timeline rc"
  [ "$(wc -l < $WORK/timeline)" = 9 ] || fail "timeline lines: $(cat $WORK/timeline)"
  grep -q "sudo.denied .* alice  grant=$G  sudo denied  run_as=root  command=/bin/bash  reason=command not in grant" $WORK/timeline \
    || fail "timeline sudo.denied line: $(cat $WORK/timeline)"
  [ "$($JITCTL audit -D $D --event sudo.denied --grant $G --json | wc -l)" = 1 ] || fail "--event sudo.denied"
  [ "$($JITCTL audit -D $D --event sudo --grant $G --json | wc -l)" = 2 ] || fail "--event sudo"
  [ "$($JITCTL audit -D $D --user mallory --json | wc -l)" = 1 ] || fail "--user mallory"
  [ "$($JITCTL audit -D $D --user alice --until -1h --json | wc -l)" = 0 ] || fail "--until -1h"
  [ "$($JITCTL audit -D $D --user alice --since -1h --json | grep -c "\"JIT_GRANT_ID\":\"$G\"")" = 9 ] || fail "--since -1h"
  FILES=$(ls $D/*/*.journal | sed "s/^/--file /")
  [ "$($JITCTL audit $FILES --grant $G --json | wc -l)" = 9 ] || fail "--file"
  $JITCTL audit -D $D --grant $G --csv > $WORK/csv; [ "$(wc -l < $WORK/csv)" = 10 ] || fail "--csv rows"
  $JITCTL audit -D $D --grant $G --summary > $WORK/summary || fail "summary rc"
  for want in "Grant $G for alice (uid 70001)" "approved by:  bob, carol" "ticket:       CHG-88" \
              "reason:       patch openssl urgently" "Logins: 1 allowed, 0 denied" "sudo: 1 allowed, 1 denied" \
              "allowed  root: /usr/bin/apt-get upgrade" "DENIED   root: /bin/bash  (command not in grant)" \
              "via terminate-session" "warned"; do
    grep -qF "$want" $WORK/summary || fail "summary lacks [$want]: $(cat $WORK/summary)"
  done
  $JITCTL audit -D $D --grant g-does-not-exist --summary >/dev/null && fail "summary of unknown grant must exit non-zero"
  $JITCTL audit -D $D --since yesterdayish >/dev/null 2>&1 && fail "bad --since accepted"
  [ $F = 0 ] && echo "PASS: journald e2e (fields, catalog -x, jitctl audit timeline/json/csv/event/user/since/summary, stderr fallback)"
  exit $F
'
RC=$?
for d in $CREATED; do rmdir $d 2>/dev/null; done
exit $RC
