#!/bin/bash
# Builds jitlogin and runs its whole test suite (unit, integration, nspawn).
# Fresh Debian 12 machine, as root:   ./scripts/run-tests.sh
# Env: BUILD_DIR (default ./build), JIT_SKIP_DEPS=1 to skip apt-get,
#      CTEST_ARGS (extra ctest arguments, e.g. "-L unit" or "-E nspawn").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-$PWD/build}

if [ "${JIT_SKIP_DEPS:-0}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "run-tests: installing dependencies needs root (or set JIT_SKIP_DEPS=1)" >&2
    exit 2
  fi
  bash scripts/install-deps.sh
fi

. scripts/ccache-env.sh
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j"$(nproc)"
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-} || {
  rc=$?
  echo "== what failed, once more (from $BUILD_DIR/Testing/Temporary/LastTest.log)"
  python3 scripts/ctest-failures.py "$BUILD_DIR" || true
  exit $rc
}
