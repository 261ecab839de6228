#!/bin/bash
# jit-authorized-keys' cost per key offered (process start included) side by
# side with a plain authorized_keys file, with the real jit-helperd fed by the
# reference authority (a grant with one key). Root only. Prints a Markdown
# table (docs/performance.md, "SSH keys").
#   bench/ssh/run.sh BUILD_DIR [ITERATIONS]
# The authority runs at SCHED_IDLE (a real authority is another machine).
BUILD=${1:?usage: run.sh BUILD_DIR [ITERATIONS]}
ITER=${2:-5000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HELPERD=$BUILD/helperd/jit-helperd
AKC=$BUILD/ssh/jit-authorized-keys
BENCH=$BUILD/bench/ssh/ssh_bench
source "$SRC/tests/integration/lib.sh"
require_root_and_tools ssh-keygen /usr/bin/python3 "$HELPERD" "$AKC" "$BENCH"
use_authority || skip "reference authority not present"
setup_tmp sb
run_names "sshbench-$TAG" "jit-test-$TAG"
authority_for_host || exit 1
chrt -a --idle -p 0 "$AUTH_PID" >/dev/null || { log "chrt --idle on the authority ($AUTH_PID) failed"; exit 1; }
helperd_config "$T/helperd.sock" ""
sed -i -e "s|^db_path = .*|db_path = $T/nss.db|" "$T/helperd.conf"
helperd_start || exit 1
ssh-keygen -q -t ed25519 -N '' -C bench -f "$T/key"
cp "$T/key.pub" "$T/authorized_keys"
USER_NAME=sb$$
grant "$USER_NAME" "$(free_uid 72000 72999)" --duration 2h --ssh-key "$(cat "$T/key.pub")" >/dev/null || exit 1
has_key() { "$AKC" --socket "$T/helperd.sock" "$USER_NAME" | grep -q '^expiry-time='; }
wait_for 15 has_key || { log "daemon did not serve the key"; exit 1; }
log "host: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $ITER iterations each, interleaved"
"$BENCH" --command "$AKC" --socket "$T/helperd.sock" --user "$USER_NAME" --keys-file "$T/authorized_keys" \
  --iterations "$ITER"
