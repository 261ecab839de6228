#!/bin/bash
# The catalog parses with journalctl's own parser (in a throw-away --root, so the
# host's catalog database is untouched) and has an entry for every event type.
# usage: catalog_test.sh AUDIT_TABLE_BINARY CATALOG_FILE
set -u
TABLE=$1 CATALOG=$2
command -v journalctl >/dev/null || { echo "SKIP: no journalctl"; exit 77; }
ROOT=$(mktemp -d /tmp/jit-catalog-test.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/usr/lib/systemd/catalog"
cp "$CATALOG" "$ROOT/usr/lib/systemd/catalog/jitlogin.catalog"
if ! journalctl --root="$ROOT" --update-catalog 2>"$ROOT/err"; then
  echo "FAIL: journalctl --update-catalog rejected the catalog:"; cat "$ROOT/err"; exit 1
fi
if [ -s "$ROOT/err" ]; then echo "FAIL: journalctl complained:"; cat "$ROOT/err"; exit 1; fi
journalctl --root="$ROOT" --list-catalog >"$ROOT/list" || { echo "FAIL: --list-catalog"; exit 1; }
F=0 N=0
while read -r id name; do
  N=$((N+1))
  if ! grep -q "^$id jitlogin: " "$ROOT/list"; then echo "FAIL: no catalog entry for $name ($id)"; F=1; continue; fi
  journalctl --root="$ROOT" --dump-catalog "$id" >"$ROOT/entry"
  grep -q "^Defined-By: jitlogin$" "$ROOT/entry" || { echo "FAIL: $name: no Defined-By"; F=1; }
  grep -q "^Documentation: " "$ROOT/entry" || { echo "FAIL: $name: no Documentation"; F=1; }
  grep -q "JIT_EVENT=$name)" "$ROOT/entry" || { echo "FAIL: $name: entry $id describes another event"; F=1; }
done < <("$TABLE" ids)
EXTRA=$(grep -c ' jitlogin: ' "$ROOT/list")
[ "$EXTRA" = "$N" ] || { echo "FAIL: catalog has $EXTRA jitlogin entries, code has $N event types"; F=1; }
[ $N -gt 0 ] || { echo "FAIL: no event types listed"; F=1; }
[ $F = 0 ] && echo "PASS: $N catalog entries parse and match the event table"
exit $F
