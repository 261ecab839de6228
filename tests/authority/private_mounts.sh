#!/bin/sh
# private_mounts.sh COMMAND...: runs COMMAND in a mount namespace of its own
# when this process may make one (root), so that what it mounts there (a
# browser policy over /etc/chromium) is seen by nothing else; else as it is
# (the command then skips what needs the namespace). The namespace it came
# from is in JIT_OUTER_MNT_NS, so the command can tell which it got.
JIT_OUTER_MNT_NS=$(readlink /proc/self/ns/mnt)
export JIT_OUTER_MNT_NS
if unshare --mount --propagation private true 2>/dev/null; then
  exec unshare --mount --propagation private "$@"
fi
exec "$@"
