#!/usr/bin/python3
"""Many sessions ending at the same second (bench/enforce/many_sessions.sh).

    many_sessions.py SOCKET JITCTL UID0 USERS PER_USER NOT_AFTER

Starts USERS x PER_USER leader processes (`sleep`, as uid UID0+u, no passwd
entry needed), registers each as a session of user msu<u> with jit-helperd as
pam_jit.so does (session_open, root peer), then waits for NOT_AFTER (unix
seconds: every grant ends then) and polls every 5 ms until no leader is left
(reaped or a zombie), while asking `jitctl status` once a second (is the
daemon answering?). Prints one JSON object with the timings.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "../../tests/faults"))
from session_burst import call  # noqa: E402  (the socket protocol client of the fault suite)


def main():
    sock, jitctl, uid0, users, per_user, not_after = sys.argv[1:]
    uid0, users, per_user, not_after = int(uid0), int(users), int(per_user), int(not_after)
    t0 = time.time()
    leaders = []
    for u in range(users):
        for _ in range(per_user):
            p = subprocess.Popen(["setpriv", f"--reuid={uid0 + u}", f"--regid={uid0 + u}", "--clear-groups",
                                  "sleep", "3600"], stdin=subprocess.DEVNULL)
            leaders.append((u, p))
    # setpriv execs sleep: wait until every leader runs as its uid
    for u, p in leaders:
        while os.stat(f"/proc/{p.pid}").st_uid != uid0 + u:
            time.sleep(0.001)
    t_spawned = time.time()
    open_ms = []
    for u, p in leaders:
        a = time.monotonic()
        r = call(sock, {"op": "session_open", "user": f"msu{u}", "service": "sshd", "tty": f"pts/{p.pid % 10000}",
                        "rhost": "192.0.2.18", "pid": p.pid})
        open_ms.append((time.monotonic() - a) * 1000)
        if r.get("decision") != "allow":
            print(json.dumps({"error": f"session_open for msu{u} pid {p.pid}: {r}"}))
            return 1
    t_registered = time.time()
    if t_registered >= not_after - 1:
        print(json.dumps({"error": f"setup took too long: registered {t_registered - not_after:.1f} s after not_after - 1"}))
        return 1
    alive = {p.pid: p for _, p in leaders}
    gone_at = []
    status_ms = []
    next_status = time.time()
    while alive and time.time() < not_after + 300:
        now = time.time()
        for pid in list(alive):
            if alive[pid].poll() is not None:
                del alive[pid]
                gone_at.append(now)
        if now >= next_status:
            a = time.monotonic()
            subprocess.run([jitctl, "--socket", sock, "status"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=30)
            status_ms.append(((time.monotonic() - a) * 1000, now >= not_after))
            next_status = now + 1
        time.sleep(0.005)
    early = [t for t in gone_at if t < not_after]
    late = sorted(t - not_after for t in gone_at if t >= not_after)
    open_ms.sort()
    out = {
        "sessions": len(leaders),
        "spawn_s": round(t_spawned - t0, 2),
        "register_s": round(t_registered - t_spawned, 2),
        "session_open_ms_p50": round(open_ms[len(open_ms) // 2], 2),
        "session_open_ms_max": round(open_ms[-1], 2),
        "ended_before_not_after": len(early),
        "left_after_300s": len(alive),
        "first_gone_s": round(late[0], 3) if late else None,
        "half_gone_s": round(late[len(late) // 2], 3) if late else None,
        "last_gone_s": round(late[-1], 3) if late else None,
        "jitctl_status_ms_max_during": round(max([ms for ms, after in status_ms if after] or [0]), 1),
    }
    for _, p in leaders:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(json.dumps(out))
    return 0 if not early and not alive else 1


if __name__ == "__main__":
    sys.exit(main())
