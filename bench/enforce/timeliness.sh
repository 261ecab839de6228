#!/bin/bash
# Enforcement timeliness (not a test; results go to docs/performance.md,
# "## Enforcement timeliness"). Root only. On this host (no logind: the /proc
# fallback), with the reference authority, the real jit-helperd and a real
# sshd + pam_jit.so on loopback, it measures N times each:
#   expiry:     not_after  -> every process of the user's ssh session is gone
#   revocation: the admin call that makes the authority publish a revocation
#               returns   -> the session is gone (delivered by the long poll)
# Usage: timeliness.sh JIT_HELPERD PAM_JIT_SO [N=20]
HELPERD=$1
SO=$2
N=${3:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/integration/lib.sh"
require_root_and_tools /usr/sbin/sshd ssh useradd /usr/bin/python3
use_authority || die "no reference authority in tests/authority"
setup_tmp fb
make_client_key
run_names "enfb-$TAG" "jit-bench-$TAG"
U=jb-${TAG}
U_UID=$(free_uid 72000 72999) && add_user "$U" "$U_UID" || exit 1
authority_for_host || exit 1
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN" '[enforce]\nwarn_before = 1\nkill_grace = 2'
helperd_start || exit 1
pam_service sshd "$SVC-sshd"
start_sshd "$SVC-sshd" || exit 1

# wait_gone UID: polls /proc every 2 ms; prints the wall time (float seconds)
# when no process of UID is left; fails (prints nothing) after 60 s.
WAIT_GONE='
import os, sys, time
uid = int(sys.argv[1])
def alive():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = os.stat("/proc/" + p)
                if st.st_uid == uid:
                    with open("/proc/" + p + "/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            return True
            except OSError:
                pass
    return False
deadline = time.time() + 60
while alive():
    if time.time() >= deadline:
        sys.exit("still running after 60 s")
    time.sleep(0.002)
print("%.6f" % time.time())
'
start_session() {
  ssh_bg s /dev/zero "$U" 'echo up; exec sleep 300'
  SPID=$BG_PID
  wait_for 10 grep -q up "$T/s.out"
}
: > "$T/expiry.txt"; : > "$T/revocation.txt"
TIMEOUTS=0
for i in $(seq 1 "$N"); do
  END=$(( $(date +%s) + 4 ))
  g=$(grant "$U" "$U_UID" --not-after "$END") || exit 1
  wait_for 10 ssh_as "$U" true
  start_session || { log "session $i did not start"; continue; }
  if gone=$(/usr/bin/python3 -c "$WAIT_GONE" "$U_UID"); then
    python3 -c "print('%.6f' % ($gone - $END))" >> "$T/expiry.txt"
  else
    log "expiry $i: the session was not ended within 60 s (not counted as a sample)"; TIMEOUTS=$((TIMEOUTS + 1))
  fi
  reap "$SPID"
  admin grant delete --host "$HOST" "$g" >/dev/null 2>&1
done
for i in $(seq 1 "$N"); do
  g=$(grant "$U" "$U_UID" --duration 1h) || exit 1
  wait_for 10 ssh_as "$U" true
  start_session || { log "session $i did not start"; continue; }
  sleep 0.5
  admin grant revoke --host "$HOST" --by bench --reason bench "$g" >/dev/null
  t0=$(date +%s.%N)
  if gone=$(/usr/bin/python3 -c "$WAIT_GONE" "$U_UID"); then
    python3 -c "print('%.6f' % ($gone - $t0))" >> "$T/revocation.txt"
  else
    log "revocation $i: the session was not ended within 60 s (not counted as a sample)"; TIMEOUTS=$((TIMEOUTS + 1))
  fi
  reap "$SPID"
done
summary='
import sys
for name in sys.argv[1:]:
    xs = sorted(float(l) for l in open(name) if l.strip())
    if not xs:
        print(name, "no samples"); continue
    def q(p): return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
    print("%-12s n=%d min=%.3f p50=%.3f p90=%.3f p99=%.3f max=%.3f (seconds)" % (name.rsplit("/",1)[1][:-4], len(xs), xs[0], q(.5), q(.9), q(.99), xs[-1]))
'
/usr/bin/python3 -c "$summary" "$T/expiry.txt" "$T/revocation.txt"
if [ "$TIMEOUTS" -gt 0 ]; then
  log "$TIMEOUTS session(s) were not ended within 60 s"
  exit 1
fi
