#!/bin/bash
# NSS benchmark: lookups through glibc with libnss_jit vs nss_files holding
# the same number of entries, at several sizes; publish time. Root only
# (private mount namespaces via tests/nss/nss-namespace.sh; the host's
# /etc/nsswitch.conf, /etc/passwd and /var/lib/jit are not touched).
#
#   bench/nss/run-bench.sh BUILD_DIR [SIZE...]      (default sizes: 10 1000 10000 100000)
#
# Configurations, each in its own namespace:
#   files+jit  nsswitch "passwd: files jit", the host's /etc/passwd (deployment)
#   jit        nsswitch "passwd: jit" (the module alone, through glibc)
#   dlopen     the module's _nss_jit_* entry points called directly
#   files      nsswitch "passwd: files" with SIZE extra entries in a test
#              /etc/passwd and /etc/group (what the module replaces)
#   files-host nsswitch "passwd: files", the host's files (baseline for the
#              cost the module adds to names it does not know)
set -euo pipefail
build=$(readlink -f "$1")
shift
sizes=${*:-10 1000 10000 100000}
src=$(cd "$(dirname "$0")/../.." && pwd)
ns=$src/tests/nss/nss-namespace.sh
tool=$build/tests/nss/jit_nss_publish_tool
bench=$build/bench/nss/jit_nss_bench
module=$build/nss_module/libnss_jit.so.2
for f in "$tool" "$bench" "$module"; do [ -x "$f" ] || [ -f "$f" ] || { echo "missing $f (build with tests and bench)" >&2; exit 2; }; done
work=$(mktemp -d /tmp/jit-nss-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
now=1800000000
local_name=daemon   # in every Debian /etc/passwd; never a JIT user

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, glibc $(ldd --version | head -1 | awk '{print $NF}')"
"$ns" --module "$module" --db-dir "$work" --order files -- \
  "$bench" --label "files-host" "$local_name" nosuchuser
for n in $sizes; do
  rm -rf "$work/db" "$work/state"
  mkdir -m 0755 "$work/db"
  out=$("$tool" --db "$work/db/nss.db" --state-dir "$work/state" --now $now --uid-min 100000 --uid-max 299999 \
        --synthetic "$n" --groups adm --quiet)
  echo "publish/$n ${out#published }"
  out=$("$tool" --db "$work/db/nss.db" --state-dir "$work/state" --now $((now + 1)) --uid-min 100000 --uid-max 299999 \
        --synthetic "$n" --groups adm --quiet)
  echo "republish-unchanged/$n ${out#published }"
  { cat /etc/passwd; seq 0 $((n - 1)) | awk '{printf "f%d:x:%d:%d::/home/f%d:/bin/sh\n", $1, 200000+$1, 200000+$1, $1}'; } >"$work/passwd"
  { cat /etc/group; seq 0 $((n - 1)) | awk '{printf "g%d:x:%d:f%d\n", $1, 200000+$1, $1}'; } >"$work/group"
  hit=u$((n / 2))
  files_hit=f$((n / 2))
  # nss_files scans the whole file per call: fewer iterations at large sizes.
  files_iter=$(( n >= 10000 ? 300 : 5000 ))
  "$ns" --module "$module" --db-dir "$work/db" --order "files jit" -- \
    "$bench" --label "files+jit/$n" "$hit" nosuchuser "$local_name"
  "$ns" --module "$module" --db-dir "$work/db" --order "jit" -- \
    "$bench" --label "jit/$n" "$hit" nosuchuser
  "$ns" --module "$module" --db-dir "$work/db" --order "jit" -- \
    "$bench" --label "dlopen/$n" --dlopen "$module" "$hit" nosuchuser "$local_name"
  "$ns" --module "$module" --db-dir "$work/db" --order files --passwd "$work/passwd" --group "$work/group" -- \
    "$bench" --label "files/$n" --iterations "$files_iter" "$files_hit" nosuchuser
done
