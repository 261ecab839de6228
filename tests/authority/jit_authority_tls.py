"""jit-authority (C++) over TLS: host identity from the client certificate
(CN = host id), isolation by certificate, certificate and token naming
different hosts, an untrusted client CA, and plain http refused off loopback.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v jit_authority_tls
"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

from authority_fixture import UA
from protocol_conformance import CPP_BIN, CppAuthority, payload_of
from test_tls import make_pki


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class JitAuthorityTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="jit-authority-cpp-pki-")
        make_pki(cls.pki)
        p = lambda n: os.path.join(cls.pki, n)  # noqa: E731
        cls.auth = CppAuthority(extra=f"tls_cert = {p('server.pem')}\ntls_key = {p('server.key')}\n"
                                      f"client_ca = {p('ca.pem')}\n")
        cls.host_tokens = {}
        for h in ("web-01", "web-02"):
            cls.host_tokens[h] = cls.call("POST", "/admin/hosts", {"host_id": h}, token=cls.auth.admin_token,
                                          cert=None)[1]["token"]

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()
        shutil.rmtree(cls.pki, ignore_errors=True)

    @classmethod
    def call(cls, method, path, body=None, token=None, cert="web-01"):
        ctx = ssl.create_default_context(cafile=os.path.join(cls.pki, "ca.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(cls.pki, f"{cert}.pem"), os.path.join(cls.pki, f"{cert}.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", cls.auth.port, context=ctx, timeout=30)
        try:
            headers = {"User-Agent": UA}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip() and resp.status != 200 or path.startswith("/admin")
                                 else raw)
        finally:
            conn.close()

    def test_the_certificate_names_the_host(self):
        status, body = self.call("GET", "/v1/hosts/web-01/grants?after=0")
        self.assertEqual(status, 200)

        class R:  # payload_of wants .body
            pass
        r = R()
        r.body = body
        self.assertEqual(payload_of(r)["host_id"], "web-01")

    def test_a_certificate_reads_only_its_own_host(self):
        self.assertEqual(self.call("GET", "/v1/hosts/web-02/grants?after=0")[0], 403)
        self.assertEqual(self.call("GET", "/v1/hosts/web-02/grants?after=0", cert="web-02")[0], 200)

    def test_certificate_and_token_must_name_the_same_host(self):
        status, body = self.call("GET", "/v1/hosts/web-01/grants?after=0", token=self.host_tokens["web-02"])
        self.assertEqual(status, 403, body)

    def test_no_credential_is_401(self):
        self.assertEqual(self.call("GET", "/v1/hosts/web-01/grants?after=0", cert=None)[0], 401)

    def test_a_certificate_from_another_ca_is_refused(self):
        try:
            status, _ = self.call("GET", "/v1/hosts/web-01/grants?after=0", cert="rogue")
        except (ssl.SSLError, ConnectionError):
            return  # refused in the handshake
        self.assertEqual(status, 401)

    def test_plain_http_is_refused_off_loopback(self):
        tmp = tempfile.mkdtemp(prefix="jit-authority-plain-")
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, "a.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"[authority]\ndatabase = {tmp}/a.db\nsigning_key = {tmp}/k\nkey_id = k\nlisten = 0.0.0.0:0\n")
        subprocess.run([CPP_BIN, "-c", conf, "--init"], check=True, capture_output=True)
        proc = subprocess.run([CPP_BIN, "-c", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("refusing plain http on 0.0.0.0:0", proc.stderr)


if __name__ == "__main__":
    unittest.main()
