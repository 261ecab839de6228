#!/bin/bash
# jitlogin, end to end, on this machine: the README's main command.
#
# Fresh Debian 12, as root:   ./demo/run-demo.sh
#
# It installs what it needs (apt-get), builds the project, and runs the whole
# flow INSIDE a throw-away systemd-nspawn container (Debian 12 with real
# systemd, logind and journald) so that this host's PAM, NSS, sshd and users
# are never touched:
#   jit-authority on loopback (jitadm: the host registered with its token)
#   -> jit-helperd (signed long-poll bundles) -> libnss_jit + pam_jit.so in
#   sshd -> a user with no grant is refused -> the engineer asks from her
#   "laptop" with `jitadm request --wait` (a request the rules forbid is
#   refused at once) -> the approver approves with jitadm -> a grant for
#   DEMO_WINDOW seconds, carrying the engineer's SSH key -> ssh login with
#   that key (jit-authorized-keys; nobody writes keys by hand)
#   -> jitctl status / getent -> sudo, and a command the grant does not cover
#   refused, both on the record (sudo audit plugin) -> the warning on the
#   terminal -> the session ended at the window's close -> refused again ->
#   the audit trail (jitctl audit on the host, with the sudo command lines;
#   jitadm actions at the authority).
# Everything it starts is stopped and removed on exit, also on Ctrl-C; what
# stays is the build directory (./build-demo) and the cached container root
# (/var/tmp/jitlogin-testbed/cache, reused by the next run; --purge-cache
# removes it too). See docs/testbed.md.
#
# Options:
#   --build-dir DIR   use (and build into) DIR instead of ./build-demo (a new
#                     build dir is configured without tests and benchmarks)
#   --no-build        use --build-dir as it is (no cmake)
#   --no-deps         skip apt-get (dependencies already installed)
#   --window SECONDS  grant window (default: $DEMO_WINDOW or 120)
#   --purge-cache     also remove the cached container root at the end
# Env: DEMO_WINDOW, DEMO_WARN (warning offsets, default half and a sixth of
#      the window, e.g. "60s,20s"), JIT_TB_SSH_PORT (default 2223 or the next
#      free port), JIT_TB_KEEP=1 (keep the run directory for inspection).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$REPO/build-demo
DO_BUILD=1
DO_DEPS=1
PURGE_CACHE=0
WINDOW=${DEMO_WINDOW:-120}
while [ $# -gt 0 ]; do
    case $1 in
        --build-dir) BUILD_DIR=$2; shift 2 ;;
        --no-build) DO_BUILD=0; shift ;;
        --no-deps) DO_DEPS=0; shift ;;
        --window) WINDOW=$2; shift 2 ;;
        --purge-cache) PURGE_CACHE=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-demo: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $WINDOW in ''|*[!0-9]*) echo "run-demo: --window must be a number of seconds" >&2; exit 2 ;; esac
[ "$WINDOW" -ge 20 ] || { echo "run-demo: the window must be at least 20 s (login, warning, end)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run-demo: run as root (it installs packages and boots a container)" >&2; exit 2; }

export JIT_BUILD=$BUILD_DIR
export JIT_TB_AUTHORITY=jit-authority   # the product's authority, driven with jitadm (tests/nspawn/authority.sh)
export JIT_TB_WARN_OFFSETS=${DEMO_WARN:-$((WINDOW / 2))s,$((WINDOW / 6 > 3 ? WINDOW / 6 : 3))s}
source "$REPO/tests/nspawn/lib.sh"
source "$REPO/tests/nspawn/flow.sh"

USER_J=alice                    # exists only through jitlogin while a grant is in force
T0=$SECONDS
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "${TB_RUN:-}" ]; then
        printf '\n== cleaning up: container, authority, temporary files\n'
        tb_teardown
    fi
    if [ "$PURGE_CACHE" = 1 ]; then rm -rf "$JIT_TB_CACHE"; rmdir "$JIT_TB_HOME" 2>/dev/null; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'printf "\n== interrupted\n"; exit 130' INT TERM

printf '%sjitlogin demo%s: a %s s grant, end to end, inside a throw-away systemd-nspawn container\n' "$TB_BOLD" "$TB_OFF" "$WINDOW"
printf 'warnings at %s before the window closes; this host stays untouched.\n' "$JIT_TB_WARN_OFFSETS"

tb_step "prepare: dependencies, build, container root" \
    "apt packages present; the project builds; a cached Debian 12 root (about a minute the first time)"
if [ "$DO_DEPS" = 1 ]; then
    if bash "$REPO/scripts/install-deps.sh" 2>&1 | tb_show; then tb_pass "dependencies installed"
    else tb_fail "dependencies installed (scripts/install-deps.sh)"; tb_summary; exit 1; fi
fi
tb_require_bed
if [ "$DO_BUILD" = 1 ]; then
    tb_say "building into $BUILD_DIR (cmake, $(nproc) jobs)"
    # A new build dir gets only the product (no tests, no benchmarks: half the
    # build time); an existing one keeps its own options.
    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    [ -f "$BUILD_DIR/CMakeCache.txt" ] || opts+=(-DJIT_BUILD_TESTS=OFF -DJIT_BUILD_BENCH=OFF)
    mkdir -p "$BUILD_DIR"
    if cmake -S "$REPO" -B "$BUILD_DIR" "${opts[@]}" >"$BUILD_DIR/demo-build.log" 2>&1 &&
        cmake --build "$BUILD_DIR" -j"$(nproc)" >>"$BUILD_DIR/demo-build.log" 2>&1; then
        tb_pass "project built in $BUILD_DIR"
    else
        tail -n 30 "$BUILD_DIR/demo-build.log" | tb_show
        tb_fail "project built (log: $BUILD_DIR/demo-build.log)"; tb_summary; exit 1
    fi
fi
tb_build_rootfs && tb_pass "container root ready ($(tb_rootfs_tarball))" || { tb_fail "container root"; tb_summary; exit 1; }

tb_step "boot the test bed" \
    "jit-authority on 127.0.0.1 with the host registered, container booted with systemd, jit-helperd running as a unit, sshd on a loopback port"
tb_up
if ! tb_running; then tb_fail "container booted"; tb_summary; exit 1; fi
tb_pass "container '$JIT_TB_HOST_ID' up; sshd on 127.0.0.1:$JIT_TB_SSH_PORT; jit-authority on 127.0.0.1:$JIT_TB_AUTH_PORT"
tb_say "authority: jit-authority -c authority.conf --init; jit-authority add-person $TB_APPROVER --role admin; jitadm host add $JIT_TB_HOST_ID"
tb_say "host: /etc/jit/helperd.conf [authority] url, host_id, token_file = /etc/jit/authority.token; the signing key in /etc/jit/trusted-keys"
tb_check_daemon_unit
tb_say "nsswitch: $(grep '^passwd:' "$TB_ROOT/etc/nsswitch.conf")"
tb_say "sshd PAM: $(grep -n 'pam_jit' "$TB_ROOT/etc/pam.d/sshd" | tr '\n' ' ')"

ok=1
tb_flow_refused "$USER_J" before || ok=0
tb_flow_request "$USER_J" "$WINDOW" /usr/bin/id || ok=0
if [ $ok = 1 ] && tb_flow_login demo "$USER_J"; then
    tb_flow_status "$USER_J"
    tb_flow_sudo_allowed "$USER_J"
    tb_flow_warning demo "$USER_J"
    tb_flow_ended demo "$USER_J" expired
    tb_flow_refused "$USER_J" after
    tb_flow_audit_story "$USER_J"
    tb_flow_authority_record "$USER_J"
else
    tb_skip "login, warning, end of session, audit" "the steps above failed"
fi

printf '\n(total %d s)\n' "$((SECONDS - T0))"
if tb_summary; then
    printf '%sDEMO PASSED%s: every step behaved as expected (%d checks)\n' "$TB_GREEN" "$TB_OFF" "$TB_CHECKS"
else
    printf '%sDEMO FAILED%s: %d of %d checks failed (see FAIL lines above)\n' "$TB_RED" "$TB_OFF" "$TB_FAILS" "$TB_CHECKS"
    exit 1
fi
