#!/bin/bash
# Real programs (getent, id, stat) against libnss_jit.so.2 through glibc, in a
# private mount namespace (nss-namespace.sh): users exist exactly while their
# grants allow, local accounts are untouched, a missing snapshot breaks nothing.
#   getent_test.sh TOOL MODULE
set -euo pipefail
tool=$1 module=$2 sanitized=${3:-0}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$sanitized" = 1 ]; then
  echo "SKIP: sanitizer build: getent/id cannot load an ASan-instrumented module"; exit 77
fi
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
  echo "SKIP: needs root and unshare"; exit 77
fi
work=$(mktemp -d /tmp/jit-nss-getent.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -m 0755 "$work/db"
fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; fail=1; fi
}
ns() { "$here/nss-namespace.sh" --module "$module" --db-dir "$work/db" -- "$@"; }
# rc CMD...: the exit status of a command run in the namespace
rc() { set +e; ns "$@" >/dev/null 2>&1; local r=$?; set -e; echo $r; }

T=1800000000   # a fixed "now": the module does not read the clock, the publisher does
cat >"$work/payload.json" <<JSON
{"type":"jit.grants.v1","host_id":"test-host","revision":1,"issued_at":$T,"expires_at":$((T+86400)),
 "grants":[
  {"id":"g-alice","user":"alice","display_name":"Alice Liddell","login":true,"groups":["adm"],
   "not_before":$((T-60)),"not_after":$((T+3600)),"reason":"r","requested_by":"x","approved_by":["y"]},
  {"id":"g-bob","user":"jitbob","login":false,"not_before":$((T-60)),"not_after":$((T+3600)),
   "reason":"r","requested_by":"x","approved_by":[]},
  {"id":"g-carol","user":"carol","login":true,"not_before":$((T+7200)),"not_after":$((T+9000)),
   "reason":"r","requested_by":"x","approved_by":[]},
  {"id":"g-root","user":"root","login":true,"not_before":$((T-60)),"not_after":$((T+3600)),
   "reason":"a local name: never shadowed","requested_by":"x","approved_by":[]}
 ],"revoked":[]}
JSON
publish() {  # publish NOW
  "$tool" --db "$work/db/nss.db" --state-dir "$work/state" --home-base /home --retention 600 \
    --uid-min 70000 --uid-max 79999 --now "$1" --payload "$work/payload.json" >"$work/publish.out"
}

"$here/nss-namespace.sh" --module "$module" --db-dir "$work/db" -- true || {
  r=$?; [ $r -eq 77 ] && echo "SKIP: no private mount namespace here"; exit $r; }
publish $T
grep -q 'warning user.local_name root' "$work/publish.out" || { echo "FAIL no warning for root"; fail=1; }
uid=$(awk '$1 == "user" && $2 == "alice" {print $3}' "$work/publish.out")
[ -n "$uid" ] || { echo "FAIL alice not published"; cat "$work/publish.out"; exit 1; }

check "getent passwd alice" "alice:*:$uid:$uid:Alice Liddell:/home/alice:/bin/bash" "$(ns getent passwd alice)"
check "getent passwd by uid" "alice" "$(ns getent passwd "$uid" | cut -d: -f1)"
check "getent group alice (primary group)" "alice:*:$uid:" "$(ns getent group alice)"
check "getent group by gid" "alice" "$(ns getent group "$uid" | cut -d: -f1)"
check "id alice shows the window group" "uid=$uid(alice) gid=$uid(alice) groups=$uid(alice),4(adm)" "$(ns id alice)"
check "login:false user has nologin" "/usr/sbin/nologin" "$(ns getent passwd jitbob | cut -d: -f7)"
check "getent group adm stays nss_files' answer" "$(getent group adm)" "$(ns getent group adm)"
check "root is the host's root" "$(getent passwd root)" "$(ns getent passwd root)"
check "enumeration lists files then jit users" "$(getent passwd | wc -l) + alice jitbob" \
  "$(ns getent passwd | head -n "$(getent passwd | wc -l)" | wc -l) + $(ns getent passwd | tail -n 2 | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
check "group enumeration includes the primary groups" "alice jitbob" "$(ns getent group | tail -n 2 | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
check "a user with no grant is unknown" 2 "$(rc getent passwd mallory)"
check "a user whose window has not started is unknown" 2 "$(rc getent passwd carol)"
check "a name that cannot be ours is unknown" 2 "$(rc getent passwd 'Not-A-Name')"
touch "$work/owned"
chown "$uid:$uid" "$work/owned"
check "ls/stat show the owner's name" "alice:alice" "$(ns stat -c %U:%G "$work/owned")"
check "the host itself does not know alice" 2 "$(set +e; getent passwd alice >/dev/null; echo $?)"

# Window over: retention keeps a nologin entry without the window groups.
publish $((T + 3600))
check "retained: nologin shell" "alice:*:$uid:$uid:Alice Liddell:/home/alice:/usr/sbin/nologin" "$(ns getent passwd alice)"
check "retained: no window groups" "uid=$uid(alice) gid=$uid(alice) groups=$uid(alice)" "$(ns id alice)"
# Retention over: gone; files keep their uid, shown as a number.
publish $((T + 3600 + 600))
check "after retention the user is gone" 2 "$(rc getent passwd alice)"
check "after retention stat shows the bare uid" "$uid" "$(ns stat -c %u "$work/owned")"
check "carol's window starts later (id: no such user)" 1 "$(rc id carol)"
publish $((T + 7200))
check "carol exists in her window, alice keeps her uid" "carol" "$(ns getent passwd carol | cut -d: -f1)"
carol_uid=$(ns id -u carol)
[ "$carol_uid" != "$uid" ] || { echo "FAIL carol got alice's uid"; fail=1; }

# A missing or corrupt snapshot: JIT users unknown, local users unaffected.
mv "$work/db/nss.db" "$work/nss.db.saved"
check "missing snapshot: JIT user unknown" 2 "$(rc getent passwd carol)"
check "missing snapshot: root still resolves" "$(getent passwd root)" "$(ns getent passwd root)"
head -c 200 "$work/nss.db.saved" >"$work/db/nss.db"
check "truncated snapshot: JIT user unknown" 2 "$(rc getent passwd carol)"
check "truncated snapshot: id root works" "$(id root)" "$(ns id root)"
cp "$work/nss.db.saved" "$work/db/nss.db"
chmod 0666 "$work/db/nss.db"
check "world-writable snapshot is not trusted" 2 "$(rc getent passwd carol)"
chmod 0644 "$work/db/nss.db"
check "restored snapshot answers again" "carol" "$(ns getent passwd carol | cut -d: -f1)"

exit $fail
