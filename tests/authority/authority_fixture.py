"""Starts jit-authority as a subprocess for tests, and talks HTTP to it."""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AUTHORITY = os.path.join(HERE, "jit-authority")
ADMIN = os.path.join(HERE, "jit-authority-admin")
# A copy of PROTOCOL.md's protocol-vectors/, so the tests run from a clone alone.
VECTORS = os.path.join(HERE, "vectors")
TEST_KEY = os.path.join(VECTORS, "authority-test.key")
TEST_PUB = os.path.join(VECTORS, "authority-test.pub")
KEY_ID = "authority-test"
UA = "jit-authority-tests/1.0"
TOKEN = "test-token-0123456789"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def openssl_verify(payload, signature, public_key=TEST_PUB):
    """Verifies with the openssl command line alone, like PROTOCOL.md says."""
    with tempfile.TemporaryDirectory() as d:
        data, sig = os.path.join(d, "payload"), os.path.join(d, "sig")
        with open(data, "wb") as f:
            f.write(payload)
        with open(sig, "wb") as f:
            f.write(signature)
        proc = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", public_key,
                               "-rawin", "-in", data, "-sigfile", sig], capture_output=True)
        return proc.returncode == 0


def decode_envelope(body):
    envelope = json.loads(body)
    payload = base64.b64decode(envelope["payload"], validate=True)
    signature = base64.b64decode(envelope["signature"], validate=True)
    return envelope, payload, signature


class AuthorityProcess:
    """jit-authority on 127.0.0.1:0 in a temporary directory; stop() with SIGTERM."""

    def __init__(self, *extra, token=True, admin_token=None, tmpdir=None, key=TEST_KEY, key_id=KEY_ID):
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="jit-authority-test-")
        self.own_tmp = tmpdir is None
        self.port_file = os.path.join(self.tmp, "port")
        self.token = TOKEN if token else None
        self.admin_token = admin_token
        args = [AUTHORITY, "--listen", "127.0.0.1:0", "--key", key, "--key-id", key_id,
                "--port-file", self.port_file, "--quiet"]
        if token:
            args += ["--token-file", self._write("tokens", f"{TOKEN}\nweb-02 bound-token-web-02\n")]
        if admin_token:
            args += ["--admin-token-file", self._write("admin-token", admin_token + "\n")]
        args += list(extra)
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log_path = os.path.join(self.tmp, "authority.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()

    def _write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _wait_for_port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jit-authority exited with {self.proc.returncode}: {self.read_log()}")
            if os.path.exists(self.port_file):
                with open(self.port_file, encoding="ascii") as f:
                    return int(f.readline())  # jit-authority (C++) writes one line per listener
            time.sleep(0.05)
        raise RuntimeError("jit-authority did not write its port file")

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None, token="default", ua=UA, timeout=90):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = {}
            if ua is not None:
                h["User-Agent"] = ua
            if token == "default":
                token = self.token if path.startswith("/v1/") else self.admin_token
            if token:
                h["Authorization"] = f"Bearer {token}"
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            if body is not None:
                h["Content-Type"] = "application/json"
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def raw(self, data):
        """Sends raw bytes; returns (status line, rest) of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0].decode(), body

    def poll(self, host, after, wait=0, **kw):
        return self.request("GET", f"/v1/hosts/{host}/grants?after={after}&wait={wait}", **kw)

    def admin(self, method, path, body=None):
        resp = self.request(method, "/admin" + path, body=body)
        if resp.status >= 400:
            raise AssertionError(f"admin {method} {path}: {resp}")
        return resp.json() if resp.body.strip() else None

    def create_grant(self, host, **fields):
        body = {"user": "alice", "uid": 70001, "duration_seconds": 3600, "reason": "test"}
        body.update(fields)
        return self.admin("POST", f"/hosts/{host}/grants", body)["grant"]

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
