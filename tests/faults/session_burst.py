#!/usr/bin/python3
"""Registers and closes sessions with jit-helperd as pam_jit.so does (root peer,
socket protocol v1), and SIGKILLs the daemon in the middle (sessions_test.sh).

    session_burst.py SOCKET USER [--open PID]... [--close PID]... [--kill PID --delay-ms MS]

The opens and closes go one after the other (open, open, close, open, close...),
each on its own connection, as fast as the daemon answers; with --kill, the
daemon gets SIGKILL MS milliseconds after the first request was sent, and the
burst goes on until a request fails. Prints one JSON object: "acked_open" and
"acked_close", the pids whose request the daemon answered with status=ok (an
open also with decision=allow; a close also naming the session it closed),
"elapsed_ms" (first request to last answer),
"unmatched_close" (closes answered with an empty session: the daemon did not
know the session), "first_error" and "in_doubt_close" (the close that was
sent when the daemon died, unanswered: it may or may not have taken effect).
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time


def call(path, fields):
    body = "".join(f"{k}={v}\n" for k, v in fields.items())
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(f"JIT1 {len(body)}\n{body}".encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    finally:
        s.close()
    text = out.decode(errors="replace")
    if not text.startswith("JIT1 "):
        raise OSError(f"no answer ({text[:60]!r})")
    return dict(line.split("=", 1) for line in text.split("\n", 1)[1].splitlines() if "=" in line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("user")
    ap.add_argument("--open", type=int, action="append", default=[])
    ap.add_argument("--close", type=int, action="append", default=[])
    ap.add_argument("--kill", type=int)
    ap.add_argument("--delay-ms", type=float, default=0)
    a = ap.parse_args()
    ops = []
    opens, closes = list(a.open), list(a.close)
    # open, open, close, open, close, ...: a close may name a session opened earlier in the burst
    if opens:
        ops.append(("session_open", opens.pop(0)))
    while opens or closes:
        if opens:
            ops.append(("session_open", opens.pop(0)))
        if closes:
            ops.append(("session_close", closes.pop(0)))
    if a.kill:
        killer = threading.Timer(a.delay_ms / 1000.0, lambda: os.kill(a.kill, signal.SIGKILL))
        killer.start()
    acked = {"session_open": [], "session_close": []}
    unmatched = []
    first_error = None
    in_doubt = None  # the request the kill interrupted: it may or may not have taken effect
    t0 = time.monotonic()
    for op, pid in ops:
        try:
            r = call(a.socket, {"op": op, "user": a.user, "service": "sshd", "tty": f"pts/{pid % 1000}",
                                "rhost": "192.0.2.18", "pid": pid})
        except OSError as e:
            first_error = f"{op} {pid}: {e}"
            in_doubt = {"op": op, "pid": pid}
            break
        if r.get("status") == "ok" and op == "session_close" and not r.get("session"):
            unmatched.append(pid)
        elif r.get("status") == "ok" and (op == "session_close" or r.get("decision") == "allow"):
            acked[op].append(pid)
        elif first_error is None:
            first_error = f"{op} {pid}: {r}"
    elapsed_ms = (time.monotonic() - t0) * 1000
    if a.kill:
        killer.join()
    print(json.dumps({"acked_open": acked["session_open"], "acked_close": acked["session_close"],
                      "unmatched_close": unmatched,
                      "first_error": first_error, "in_doubt_close": [in_doubt["pid"]] if in_doubt and
                      in_doubt["op"] == "session_close" else [], "elapsed_ms": round(elapsed_ms, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
