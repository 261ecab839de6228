#!/bin/bash
# Boots the test bed by hand (the tests and the demo do this themselves):
# a fresh copy of the cached root with the build installed, the reference
# authority on the host's loopback, jit-helperd running as a unit inside.
# Usage (root): tests/nspawn/boot.sh [BUILD_DIR]      Then: tests/nspawn/stop.sh
# Afterwards, in a shell:  source tests/nspawn/lib.sh; tb_load_run; ct loginctl
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] && JIT_BUILD=$(cd "$1" && pwd)
tb_require_bed
trap 'tb_teardown' ERR INT TERM
tb_up
trap - ERR INT TERM
echo "test bed up: TB_RUN=$TB_RUN  ssh: ssh -i $TB_KEY -p $JIT_TB_SSH_PORT root@127.0.0.1"
