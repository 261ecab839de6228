#!/bin/bash
# NSS lookups while the snapshot is republished (issue 18): jit_nss_churn in a
# private mount namespace (tests/nss/nss-namespace.sh: nsswitch "passwd: files
# jit", "group: files jit", the build's libnss_jit.so.2, /var/lib/jit a temp
# dir; the host is not touched). Root only (exit 77 otherwise).
#
#   bench/nss/run-churn.sh BUILD_DIR [jit_nss_churn options]
#       default: 1,000,000 lookups, 8 threads, 200 users, a new generation every 100 ms
# Exit status: jit_nss_churn's (0: no wrong or torn answer).
set -euo pipefail
build=$(readlink -f "$1")
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
churn=$build/bench/nss/jit_nss_churn
module=$build/nss_module/libnss_jit.so.2
for f in "$churn" "$module"; do [ -e "$f" ] || { echo "missing $f (build with bench)" >&2; exit 2; }; done
[ "$(id -u)" = 0 ] || { echo "run-churn: needs root (private mount namespace)" >&2; exit 77; }
if ldd "$module" | grep -q libasan; then echo "run-churn: sanitizer build of the module; skipping" >&2; exit 77; fi
work=$(mktemp -d /tmp/jit-nss-churn.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -m 0755 "$work/db"
mkdir -m 0700 "$work/state"
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, glibc $(ldd --version | head -1 | awk '{print $NF}')"
"$src/tests/nss/nss-namespace.sh" --module "$module" --db-dir "$work/db" --order "files jit" -- \
  "$churn" --state-dir "$work/state" "$@"
