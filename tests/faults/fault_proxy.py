#!/usr/bin/python3
"""A fault-injecting HTTP proxy in front of the reference authority (tests only).

    fault_proxy.py --upstream PORT --port-file F --mode-file F --log F [--listen-port P]

Listens on 127.0.0.1 (a free port, written to --port-file once it serves; a
second listener, "the other host" a redirect points to, on the port in
F.other). Every request is forwarded to the authority on 127.0.0.1:PORT,
except calls of the grants endpoint (.../grants?...) while --mode-file says
otherwise. The mode file holds one word, re-read on every request:

  pass      forward (the default, also when the file is missing)
  garbage   200 with a body of bytes that are not an envelope
  truncate  the authority's answer cut in half, with a Content-Length that
            matches the half (a well-formed HTTP answer, a truncated envelope)
  short     the authority's answer with its full Content-Length, half the
            body, then the connection closed (a transfer cut off)
  huge      200, Content-Length 100 MiB, bytes sent until the client hangs up
  huge-nolength
            the same without Content-Length (the body ends when the
            connection does), so only the reader's own cap can stop it
  redirect  302 to the same path on the other listener (another host:port)
  5xx       503 with a JSON error
  file PATH 200 with the bytes of PATH (a pre-signed envelope: bench/load)

One line per grants call goes to --log: "MODE BYTES_SENT"; the other listener
logs "OTHER PATH" for every request it gets (a redirect that was followed).
"""

import argparse
import http.client
import http.server
import os
import re
import sys
import threading

HUGE = 100 * 1024 * 1024
CHUNK = b'{"payload":"' + b"A" * (64 * 1024 - 13) + b'"'


class State:
    upstream = 0
    mode_file = ""
    log_file = ""
    other_port = 0
    lock = threading.Lock()

    @classmethod
    def mode(cls):
        try:
            with open(cls.mode_file) as f:
                return f.read().strip() or "pass"
        except FileNotFoundError:
            return "pass"

    @classmethod
    def log(cls, line):
        with cls.lock, open(cls.log_file, "a") as f:
            f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _body_in(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else None

    def _upstream(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", State.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, [(k, v) for k, v in r.getheaders()
                          if k.lower() not in ("content-length", "connection", "transfer-encoding")], data

    def _answer(self, status, headers, data, length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, with_length):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if with_length:
            self.send_header("Content-Length", str(HUGE))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < HUGE:
                self.wfile.write(CHUNK)
                sent += len(CHUNK)
        except OSError:
            pass
        self.close_connection = True
        return sent

    def _handle(self):
        body = self._body_in()
        mode = State.mode() if "/grants" in self.path else "pass"
        arg = ""
        if " " in mode:
            mode, arg = mode.split(None, 1)
        sent = 0
        if mode == "pass":
            status, headers, data = self._upstream(body)
            self._answer(status, headers, data)
            sent = len(data)
        elif mode == "garbage":
            data = b"\x00\xff<html>not an envelope</html>\x7f" * 64
            self._answer(200, [("Content-Type", "application/json")], data)
            sent = len(data)
        elif mode in ("truncate", "short"):
            # after=0: the authority answers at once with its current envelope.
            self.path = re.sub(r"after=[0-9]+", "after=0", self.path)
            status, headers, data = self._upstream(body)
            half = data[: len(data) // 2]
            if mode == "truncate":
                self._answer(status, headers, half)
            else:
                self._answer(status, headers, half, length=len(data))
                self.close_connection = True
            sent = len(half)
        elif mode in ("huge", "huge-nolength"):
            sent = self._stream(mode == "huge")
        elif mode == "redirect":
            self._answer(302, [("Location", f"http://127.0.0.2:{State.other_port}{self.path}")], b"")
        elif mode == "file":
            with open(arg, "rb") as f:
                data = f.read()
            self._answer(200, [("Content-Type", "application/json")], data)
            sent = len(data)
        elif mode == "5xx":
            self._answer(503, [("Content-Type", "application/json"), ("Retry-After", "1")],
                         b'{"error":"injected_fault","message":"5xx storm"}')
        else:
            self._answer(500, [], f"fault_proxy: unknown mode {mode}".encode())
        if "/grants" in self.path:
            State.log(f"{mode} {sent}")

    do_GET = do_POST = do_DELETE = _handle


class Other(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _handle(self):
        State.log(f"OTHER {self.path}")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _handle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--listen-port", type=int, default=0, help="the port to listen on (default: a free one)")
    a = ap.parse_args()
    State.upstream, State.mode_file, State.log_file = a.upstream, a.mode_file, a.log
    other = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Other)
    State.other_port = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.listen_port), Proxy)
    srv.daemon_threads = True
    for path, port in ((a.port_file + ".other", State.other_port), (a.port_file, srv.server_address[1])):
        with open(path + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(path + ".tmp", path)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
