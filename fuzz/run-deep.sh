#!/bin/bash
# Deep fuzzing runs (issue 18; not in CI: CI keeps the short runs of
# fuzz/*/CMakeLists.txt). Each libFuzzer target runs up to RUNS executions
# (default 10,000,000) or SECONDS (default 0 = no time limit), on one core
# (JIT_FUZZ_CPU, default 0: two streams of targets can run on cores 0 and 1), niced,
# with the same dictionary and input size as its short run, from the corpus kept
# in the repository; new inputs go to a work corpus under BUILD/deep-corpus/TARGET,
# merged back afterwards (docs/reliability.md, "Fuzzing to depth"):
#   BUILD/fuzz/DIR/TARGET -merge=1 -max_len=N fuzz/DIR/CORPUS BUILD/deep-corpus/TARGET
# One summary line per target on stdout:
#   TARGET executions=N seconds=S exec_per_s=R corpus=C result=ok|interrupted|CRASH
# Build first:
#   cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJIT_FUZZ=ON -DJIT_BUILD_BENCH=OFF \
#         -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
#   cmake --build build-fuzz -j1 --target fuzzers
# Then:  fuzz/run-deep.sh build-fuzz [RUNS] [SECONDS] [TARGET...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd); RUNS=${2:-10000000}; SECS=${3:-0}; shift $(( $# < 3 ? $# : 3 ))
CPU=${JIT_FUZZ_CPU:-0}
[[ $CPU =~ ^[0-9]+$ ]] || { echo "run-deep.sh: JIT_FUZZ_CPU=$CPU is not a CPU number" >&2; exit 2; }
# target  folder[:corpus folder, default corpus]  max_len  dictionary
TABLE="fuzz_policy policy 65536 policy.dict
fuzz_bundle_accept policy:accept-corpus 4096 policy.dict
fuzz_nss_snapshot nss 16384 -
fuzz_ipc ipc 70000 ipc.dict
fuzz_config config 8192 config.dict
fuzz_daemon_ops daemon 4096 daemon.dict
fuzz_pam_args pam 2048 pam.dict
fuzz_ssh_keys ssh 4096 -
fuzz_sudo_audit sudo 8192 -
fuzz_authority_request authority 4096 authority.dict
fuzz_authority_config authority:config-corpus 8192 authority_config.dict"
want=" $* "
while read -r target dir max_len dict; do
  corpus=corpus; [[ $dir != *:* ]] || { corpus=${dir#*:}; dir=${dir%%:*}; }
  [ $# = 0 ] || [[ $want == *" $target "* ]] || continue
  exe=$BUILD/fuzz/$dir/$target
  [ -x "$exe" ] || { echo "$target: not built ($exe)" >&2; continue; }
  work=$BUILD/deep-corpus/$target
  mkdir -p "$work"
  seeds=()
  [ ! -d "$SRC/fuzz/$dir/$corpus" ] || seeds+=("$SRC/fuzz/$dir/$corpus")
  [ "$dir" != nss ] || seeds+=("$BUILD/fuzz/nss/seeds")  # made by the real writer (ctest -R fuzz_nss_seeds)
  opts=(-runs="$RUNS" -max_len="$max_len" -timeout=10 -print_final_stats=1)
  [ "$SECS" = 0 ] || opts+=(-max_total_time="$SECS")
  [ "$dict" = - ] || opts+=(-dict="$SRC/fuzz/$dir/$dict")
  log=$BUILD/deep-corpus/$target.log
  start=$(date +%s)
  set +e
  (cd "$BUILD/deep-corpus" && nice -n 19 taskset -c "$CPU" "$exe" "${opts[@]}" "$work" "${seeds[@]}") >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  case $rc in
    0) result=ok ;;
    72) result="interrupted (SIGINT; libFuzzer's exit 72), no finding" ;;  # -interrupted_exitcode
    *) result="CRASH (exit $rc, see $log)" ;;
  esac
  echo "$target executions=${execs:-?} seconds=$secs exec_per_s=${rate:-?} corpus=$(ls "$work" | wc -l) result=$result"
done <<<"$TABLE"
