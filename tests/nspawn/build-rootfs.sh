#!/bin/bash
# Builds the cached Debian 12 root of the test bed unless it is already cached.
# Usage (root): tests/nspawn/build-rootfs.sh      Env: JIT_TB_CACHE, JIT_TB_MIRROR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tb_require_bed
tb_build_rootfs
tb_rootfs_tarball
