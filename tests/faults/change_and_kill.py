#!/usr/bin/python3
"""Changes a host's bundle at the reference authority, then SIGKILLs a pid (kill9_test.sh).

    change_and_kill.py ADMIN_URL HOST create USER CMD | revoke GRANT_ID
                       --state FILE --dropin FILE (--kill PID --delay-ms MS | --measure)

create: a login + sudo grant (CMD) for USER, 1 h; prints the grant id.
revoke: revokes GRANT_ID.
--kill PID --delay-ms MS: SIGKILL to PID MS milliseconds after the authority
answered (the daemon's long poll wakes at that moment).
--measure: no kill; prints on stderr the milliseconds until FILE's revision
line changed and until the drop-in changed (mtime), 5 s at most.
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.request


def call(url, method, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def stored_revision(path):
    try:
        with open(path, "rb") as f:
            for line in f.read(4096).split(b"\n"):
                if line.startswith(b"revision="):
                    return line
    except OSError:
        return None
    return None


def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("host")
    ap.add_argument("op", choices=("create", "revoke"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--state", required=True)
    ap.add_argument("--dropin", required=True)
    ap.add_argument("--kill", type=int)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--measure", action="store_true")
    a = ap.parse_args()
    rev0, mt0 = stored_revision(a.state), mtime(a.dropin)
    base = f"{a.url}/admin/hosts/{a.host}/grants"
    if a.op == "create":
        user, cmd = a.args
        out = call(base, "POST", {"user": user, "duration_seconds": 3600, "reason": "kill -9 round",
                                  "sudo": {"run_as": "root", "commands": [cmd]}})
    else:
        out = call(f"{base}/{a.args[0]}/revoke", "POST", {"by": "kill9", "reason": "kill -9 round"})
    t0 = time.monotonic()
    if a.kill:
        time.sleep(a.delay_ms / 1000.0)
        os.kill(a.kill, signal.SIGKILL)
    elif a.measure:
        t_state = t_dropin = None
        while time.monotonic() - t0 < 5 and (t_state is None or t_dropin is None):
            now = (time.monotonic() - t0) * 1000
            if t_state is None and stored_revision(a.state) != rev0:
                t_state = now
            if t_dropin is None and mtime(a.dropin) != mt0:
                t_dropin = now
            time.sleep(0.0005)
        print(f"{t_state or 5000:.1f} {t_dropin or 5000:.1f}", file=sys.stderr)
    if a.op == "create":
        print(out["grant"]["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
