#!/bin/bash
# Nothing blocks the daemon's loop: the real jit-helperd whose NSS never
# answers for one user (an LD_PRELOAD shim holds getpwnam_r for that name, like
# a hung SSSD/LDAP). While that lookup hangs, other questions are answered;
# the hung question gets error=nss_timeout within its bound (two thirds of
# pam.timeout_ms); and the daemon stops on SIGTERM without waiting for NSS.
#   nss_hang_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR SHIM
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3 SHIM=$4
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -eo pipefail
use_authority "$AUTH_DIR" || skip "no jit-authority-admin in $AUTH_DIR (to make a trusted key)"
[ -f "$SHIM" ] || die "no shim $SHIM"
setup_tmp nh

HOST=web-01
mkdir -p "$T/keys"
"$ADMIN" genkey --private "$T/signing.key" --public "$T/keys/nh-$TAG.pub" >/dev/null || die "genkey failed"
AUTH_URL=http://127.0.0.1:9  # no authority: the daemon answers from what it has (no bundle)
helperd_config "$T/helperd.sock" ""
# Root asks about any user; anyone else only about themselves (their own name hangs then).
if [ "$(id -u)" = 0 ]; then HANG=nsshang$$; else HANG=$(id -un); fi
HELPERD_WRAP="env LD_PRELOAD=$SHIM JIT_TEST_NSS_HANG=$HANG JIT_TEST_NSS_HELD=$T/held JIT_TEST_NSS_RELEASE=$T/release \
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
helperd_start || die "jit-helperd did not start"
# Whatever happens, let the held lookup go at the end (the shim gives up after 120 s anyway).
trap 'touch "$T/release"; cleanup' EXIT

ctl check "$HANG" > "$T/hung.out" 2>&1 &
HUNG=$!
PIDS+=($HUNG)
wait_for --or-die "the lookup of $HANG is held in NSS" 10 test -e "$T/held"

# Meanwhile: answered (with the loop blocked in getpwnam_r these time out).
check "status answered while a lookup hangs" timeout 5 "$JITCTL" --socket "$HELPERD_SOCK" status
check "grants answered while a lookup hangs" timeout 5 "$JITCTL" --socket "$HELPERD_SOCK" grants
if [ "$(id -u)" = 0 ]; then
  check "root's check answered while a lookup hangs" timeout 5 "$JITCTL" --socket "$HELPERD_SOCK" check root
fi

# The hung check: an error answer (nss_timeout) within its bound, not the client's timeout.
rc=0
wait "$HUNG" || rc=$?
if [ "$rc" -ne 0 ] && grep -q nss_timeout "$T/hung.out"; then
  pass "the hung check is answered error=nss_timeout"
else
  fail "the hung check (rc $rc): $(cat "$T/hung.out")"
fi
test ! -e "$T/release" || die "released too early"

# A clean stop while the lookup still hangs: the daemon does not wait for NSS.
ctl check "$HANG" > /dev/null 2>&1 &
PIDS+=($!)
kill -TERM "$HELPERD_PID"
stopped() { ! kill -0 "$HELPERD_PID" 2>/dev/null; }
if wait_for 15 stopped; then
  rc=0
  wait "$HELPERD_PID" || rc=$?
  check "jit-helperd exits 0 on SIGTERM while a lookup hangs" test "$rc" -eq 0
  check "the stop says a lookup thread was left in NSS" grep -q "still inside NSS at stop" "$T/helperd.log"
else
  fail "jit-helperd did not stop within 15 s while a lookup hangs"
fi
touch "$T/release"
finish
