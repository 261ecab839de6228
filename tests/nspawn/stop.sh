#!/bin/bash
# Stops a test bed started by boot.sh and removes its run directory.
# Usage (root): tests/nspawn/stop.sh [RUN_DIR]     (default: the latest run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tb_load_run "${1:-}"
tb_teardown
tb_log "test bed stopped"
