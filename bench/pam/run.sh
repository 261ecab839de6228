#!/bin/bash
# pam_jit account latency vs pam_unix, with the real jit-helperd fed by the
# reference authority. Root only (pam_unix reads /etc/shadow). Prints a
# Markdown table (see docs/performance.md, "PAM (pam_jit account)").
#   bench/pam/run.sh BUILD_DIR [ITERATIONS]
# JIT_BENCH_NICE=1 runs jit-helperd and the driver at nice -10 (useful when
# other work loads the machine: it measures our code, not the run queue).
# JIT_BENCH_UPLOAD=0 turns the audit upload off (authority.upload_events = no).
# The authority (a Python process) runs at SCHED_IDLE: a real authority is
# another machine, and here it gets only the CPU time the host would leave
# idle, so that its work on the uploaded events is not counted as the host's.
# JIT_BENCH_AUTHORITY_IDLE=0 runs it at normal priority, sharing the two cores.
# JIT_BENCH_HOGS=N runs N busy loops (nice 0) during the measurement: a
# saturated machine.
# JIT_BENCH_HALT_POLL_NS=N (a diagnostic of the machine, not of jitlogin): sets
# the guest's idle polling, /sys/module/haltpoll/parameters/guest_halt_poll_ns,
# to N for the run and puts the old value back at exit. These VMs boot with 0
# (an idle vCPU halts at once and takes 20-180 us to wake); the kernel's
# default is 200000. Only on a guest with the haltpoll cpuidle driver.
BUILD=${1:?usage: run.sh BUILD_DIR [ITERATIONS]}
ITER=${2:-20000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HELPERD=$BUILD/helperd/jit-helperd
SO=$BUILD/pam_module/pam_jit.so
BENCH=$BUILD/bench/pam/pam_bench
source "$SRC/tests/integration/lib.sh"
NICE=""
[ -n "${JIT_BENCH_NICE:-}" ] && NICE="nice -n -10" && HELPERD_WRAP=$NICE
require_root_and_tools useradd /usr/bin/python3 "$HELPERD" "$BENCH"
use_authority || skip "reference authority not present"
setup_tmp b
HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
if [ -n "${JIT_BENCH_HALT_POLL_NS:-}" ]; then
  [[ $JIT_BENCH_HALT_POLL_NS =~ ^[0-9]+$ ]] || { log "JIT_BENCH_HALT_POLL_NS: not a number: $JIT_BENCH_HALT_POLL_NS"; exit 2; }
  [ -w "$HALT_POLL" ] || skip "JIT_BENCH_HALT_POLL_NS: $HALT_POLL not writable (no haltpoll cpuidle driver?)"
  OLD_HALT_POLL=$(cat "$HALT_POLL")
  trap 'rc=$?; echo "$OLD_HALT_POLL" > "$HALT_POLL"; (exit $rc); cleanup' EXIT
  echo "$JIT_BENCH_HALT_POLL_NS" > "$HALT_POLL"
fi
# The daemon always publishes a sudoers drop-in: run_names gives it a unique,
# cleaned-up name (never the default /etc/sudoers.d/jitlogin).
run_names "bench-$TAG" "jit-test-$TAG"
USER_NAME=jt-$TAG-bench
uid=$(free_uid 70500 70999) || exit 1
useradd -M -u "$uid" -s /usr/sbin/nologin "$USER_NAME" 2>/dev/null || exit 1
USERS_CREATED+=("$USER_NAME")
usermod -p '*' "$USER_NAME"

authority_for_host || exit 1
if [ "${JIT_BENCH_AUTHORITY_IDLE:-1}" != 0 ]; then
  chrt -a --idle -p 0 "$AUTH_PID" >/dev/null || { log "chrt --idle on the authority ($AUTH_PID) failed"; exit 1; }
fi
helperd_config "$T/helperd.sock" "$DROPIN"
[ "${JIT_BENCH_UPLOAD:-1}" = 0 ] && sed -i 's/^\[authority\]$/[authority]\nupload_events = no/' "$T/helperd.conf"
helperd_start || exit 1
grant "$USER_NAME" "$uid" --duration 2h >/dev/null || exit 1

mkdir -p "$T/pam"
echo "account required $SO socket=$T/helperd.sock" > "$T/pam/bench-jit"
echo "account required pam_unix.so" > "$T/pam/bench-unix"
# wait until the daemon has the bundle (the bench fails on any non-success)
wait_for 15 quiet "$BENCH" --confdir "$T/pam" --user "$USER_NAME" --iterations 1 --warmup 0 || { log "daemon not ready"; exit 1; }
for _ in $(seq 1 "${JIT_BENCH_HOGS:-0}"); do
  /bin/sh -c 'while :; do :; done' &
  PIDS+=($!)
done
log "host: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $ITER iterations each, interleaved${NICE:+, $NICE}$([ "${JIT_BENCH_UPLOAD:-1}" = 0 ] && echo ", audit upload off")${JIT_BENCH_HOGS:+, $JIT_BENCH_HOGS busy loops}; authority $(chrt -p "$AUTH_PID" | sed -n 's/.*scheduling policy: //p'); guest_halt_poll_ns $(cat "$HALT_POLL" 2>/dev/null || echo n/a)"
$NICE "$BENCH" --confdir "$T/pam" --user "$USER_NAME" --iterations "$ITER" --socket "$T/helperd.sock"
