#!/usr/bin/python3
"""A stand-in for jit-helperd for pam_jit's unit-level host tests.

Speaks the local framing of ipc/include/jit/ipc.hpp ("JIT1 <len>\\n" + key=value
lines) on a unix socket. Answers op=check from a JSON file re-read on every
request: {"USER": {"decision": "allow|deny|ignore", "message": "...",
"grant_id": "...", "reason": "..."}}; users not in the file get decision=ignore.
op=explain (jitctl check) is answered like op=check; any "decision" is sent as written.
op=session_open answers decision=allow (registered) or deny like jit-helperd, session_close
status=ok (managed=no, decision=ignore for ignored users). A user's "session" key
overrides session_open's answer: "error" (status=error, error=internal) or
"deny" (decision=deny although check allowed: the window closed in between).
Every request is appended as one JSON line to --log.
"""
import argparse
import json
import os
import socket
import sys


def unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            i += 1
            out.append("\\" if v[i] == "\\" else "\n")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def escape(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def read_frame(conn):
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    header, _, rest = data.partition(b"\n")
    magic, length = header.decode().split(" ")
    assert magic == "JIT1"
    length = int(length)
    while len(rest) < length:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        rest += chunk
    msg = {}
    for line in rest[:length].decode().split("\n")[:-1]:
        k, _, v = line.partition("=")
        msg[k] = unescape(v)
    return msg


def encode(msg):
    body = "".join(f"{k}={escape(str(v))}\n" for k, v in sorted(msg.items())).encode()
    return b"JIT1 %d\n" % len(body) + body


def answer(req, decisions):
    op = req.get("op")
    user = req.get("user", "")
    d = decisions.get(user)
    if op in ("check", "explain"):
        if d is None:
            return {"status": "ok", "decision": "ignore", "reason": "not_managed", "managed": "no"}
        out = {"status": "ok", "decision": d["decision"], "reason": d.get("reason", ""),
               "message": d.get("message", ""), "grant_id": d.get("grant_id", ""), "managed": "yes"}
        return out
    if op in ("session_open", "session_close"):
        if d is None:
            return {"status": "ok", "managed": "no", "decision": "ignore"}
        if op == "session_close":
            return {"status": "ok", "session": "1"}
        if d.get("session") == "error":
            return {"status": "error", "error": "internal", "message": "session table unavailable"}
        if d.get("session") == "deny":
            return {"status": "ok", "managed": "yes", "decision": "deny", "reason": "window_ended",
                    "message": "jitlogin: access window ended"}
        # As jit-helperd: a session is registered (decision=allow) only inside a window.
        if d["decision"] != "allow":
            return {"status": "ok", "managed": "yes", "decision": "deny", "reason": d.get("reason", ""),
                    "message": d.get("message", "")}
        return {"status": "ok", "managed": "yes", "decision": "allow", "session": "1",
                "grant_id": d.get("grant_id", "")}
    return {"status": "error", "error": "unknown_op", "message": f"unknown op '{op}'"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--decisions", required=True)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a.socket)
    os.chmod(a.socket, 0o666)
    s.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        with conn:
            conn.settimeout(2)
            try:
                req = read_frame(conn)
            except (OSError, ValueError, AssertionError):
                continue
            if req is None:
                continue
            with open(a.log, "a") as f:
                f.write(json.dumps(req, sort_keys=True) + "\n")
            with open(a.decisions) as f:
                decisions = json.load(f)
            conn.sendall(encode(answer(req, decisions)))


if __name__ == "__main__":
    sys.exit(main())
