#!/bin/bash
# Runs a command with libnss_jit.so.2 installed in nsswitch.conf, without
# touching the host: everything happens in a private mount namespace.
#
#   nss-namespace.sh --module BUILD/nss_module/libnss_jit.so.2 --db-dir DIR \
#       [--order "files jit"] [--passwd FILE] [--group FILE] -- COMMAND [ARGS...]
#
# Inside the namespace:
#   /etc/nsswitch.conf   a copy of the host's with "passwd: <order>",
#                        "group: <order>" (default order: "files jit")
#   <libdir>/libnss_jit.so.2   the given module (overlay over the libc dir, so
#                        glibc's dlopen("libnss_jit.so.2") finds it, also for
#                        programs that ignore LD_LIBRARY_PATH: sshd, sudo)
#   /var/lib/jit         DIR, bind-mounted (the module reads /var/lib/jit/nss.db;
#                        the file must be root-owned and not group/world writable)
#   /etc/passwd, /etc/group   replaced by FILE when given (benchmarks)
# Everything else (network, processes, other files) is the host's. The mounts
# disappear with the namespace when COMMAND exits; its exit status is returned.
# Needs root and unshare(1); exits 77 (ctest SKIP) otherwise.
set -euo pipefail

if [ "${1:-}" = --inside ]; then
  shift
  module=$1 db_dir=$2 order=$3 passwd=$4 group=$5 stage=$6
  shift 6
  libdir=$(dirname "$(readlink -f "$(ldd /bin/true | awk '/libc\.so\.6/ {print $3}')")")
  mkdir -p "$stage/lib" "$stage/etc"
  cp "$module" "$stage/lib/libnss_jit.so.2"
  chmod 0644 "$stage/lib/libnss_jit.so.2"
  if ! mount -t overlay jit-nss-lib -o "lowerdir=$stage/lib:$libdir" "$libdir"; then
    echo "nss-namespace: overlayfs is not available here; skipping" >&2
    exit 77
  fi
  sed -E -e "s/^(passwd|group):.*/\1: $order/" -e '/^initgroups:/d' /etc/nsswitch.conf >"$stage/etc/nsswitch.conf"
  grep -q '^passwd:' "$stage/etc/nsswitch.conf" || echo "passwd: $order" >>"$stage/etc/nsswitch.conf"
  grep -q '^group:' "$stage/etc/nsswitch.conf" || echo "group: $order" >>"$stage/etc/nsswitch.conf"
  mount --bind "$stage/etc/nsswitch.conf" /etc/nsswitch.conf
  if [ -d /var/lib/jit ]; then
    mount --bind "$db_dir" /var/lib/jit
  else
    # No /var/lib/jit on this host: give /var/lib an overlay with an empty
    # jit/ directory to mount on (the host's /var/lib stays untouched).
    mkdir -p "$stage/varlib/jit"
    mount -t overlay jit-nss-varlib -o "lowerdir=$stage/varlib:/var/lib" /var/lib
    mount --bind "$db_dir" /var/lib/jit
  fi
  [ -z "$passwd" ] || mount --bind "$passwd" /etc/passwd
  [ -z "$group" ] || mount --bind "$group" /etc/group
  exec "$@"
fi

usage() { echo "usage: $0 --module SO --db-dir DIR [--order 'files jit'] [--passwd F] [--group F] -- CMD..." >&2; exit 2; }
module= db_dir= order="files jit" passwd= group=
while [ $# -gt 0 ]; do
  case $1 in
    --module) module=$(readlink -f "$2"); shift 2 ;;
    --db-dir) db_dir=$(readlink -f "$2"); shift 2 ;;
    --order) order=$2; shift 2 ;;
    --passwd) passwd=$(readlink -f "$2"); shift 2 ;;
    --group) group=$(readlink -f "$2"); shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ -n "$module" ] && [ -n "$db_dir" ] && [ $# -gt 0 ] || usage
[ -f "$module" ] || { echo "nss-namespace: no module at $module" >&2; exit 2; }
[ -d "$db_dir" ] || { echo "nss-namespace: no directory $db_dir" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
  echo "nss-namespace: needs root and unshare(1); skipping" >&2
  exit 77
fi
if [ -e /var/run/nscd/socket ]; then
  echo "nss-namespace: nscd is running; its cache would answer instead of the module" >&2
  exit 77
fi
if ! unshare --mount --propagation private true 2>/dev/null; then
  echo "nss-namespace: cannot create a mount namespace here (container without CAP_SYS_ADMIN?); skipping" >&2
  exit 77
fi
stage=$(mktemp -d /tmp/jit-nss-ns.XXXXXX)
trap 'rm -rf "$stage"' EXIT
set +e
unshare --mount --propagation private -- "$0" --inside "$module" "$db_dir" "$order" "$passwd" "$group" "$stage" "$@"
rc=$?
set -e
exit $rc
