"""HTTPS with mutual TLS: the host API over TLS, client certificates required
(and bound to the host id with --mtls-host-binding), admin API on its own
plain loopback port."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from authority_fixture import UA, AuthorityProcess, decode_envelope, openssl_verify


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_leaf(d, name, cn, ext="extendedKeyUsage=clientAuth\n"):
    """A certificate from d's test CA (a client certificate unless ext says otherwise): NAME.pem, NAME.key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(ext)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and client certificates."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=jit test CA", cwd=d)
    make_leaf(d, "server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    make_leaf(d, "web-01", "web-01")
    make_leaf(d, "web-02", "web-02")
    # a client certificate from a CA the authority does not trust
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2", "-subj", "/CN=web-01", cwd=d)


class MutualTlsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="jit-authority-pki-")
        make_pki(cls.pki)
        p = cls.path
        cls.admin_port_file = os.path.join(cls.pki, "admin-port")
        cls.auth = AuthorityProcess("--tls-cert", p("server.pem"), "--tls-key", p("server.key"),
                                    "--client-ca", p("ca.pem"), "--mtls-host-binding",
                                    "--admin-listen", "127.0.0.1:0", "--admin-port-file", cls.admin_port_file)
        for _ in range(200):  # written right after the host API's port file
            if os.path.exists(cls.admin_port_file):
                break
            time.sleep(0.05)
        with open(cls.admin_port_file) as f:
            cls.admin_port = int(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()
        shutil.rmtree(cls.pki, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.pki, name)

    def https(self, path, client=None, token=True):
        ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        if client:
            ctx.load_cert_chain(self.path(f"{client}.pem"), self.path(f"{client}.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.auth.port, context=ctx, timeout=30)
        try:
            headers = {"User-Agent": UA}
            if token:
                headers["Authorization"] = f"Bearer {self.auth.token}"
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def test_client_certificate_for_the_host_gets_a_verified_bundle(self):
        status, body = self.https("/v1/hosts/web-01/grants?after=0", client="web-01")
        self.assertEqual(status, 200, body)
        _, payload, sig = decode_envelope(body)
        self.assertTrue(openssl_verify(payload, sig))
        self.assertEqual(json.loads(payload)["host_id"], "web-01")

    def test_without_a_client_certificate_the_handshake_fails(self):
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.https("/v1/hosts/web-01/grants?after=0")
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.https("/v1/hosts/web-01/grants?after=0", client="rogue")
        # and the server keeps serving afterwards
        self.assertEqual(self.https("/v1/hosts/web-01/grants?after=0", client="web-01")[0], 200)

    def test_certificate_of_another_host_is_forbidden(self):
        status, body = self.https("/v1/hosts/web-01/grants?after=0", client="web-02")
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error"], "forbidden")

    def test_bearer_token_is_still_required_with_mtls(self):
        status, body = self.https("/v1/hosts/web-01/grants?after=0", client="web-01", token=False)
        self.assertEqual(status, 401, body)

    def test_admin_api_is_on_its_own_port_only(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/admin/status", timeout=30) as r:
            self.assertEqual(json.loads(r.read())["key_id"], "authority-test")
        status, body = self.https("/admin/status", client="web-01")
        self.assertEqual(status, 404, body)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/v1/hosts/web-01/grants?after=0",
                                   timeout=30)
        self.assertEqual(e.exception.code, 404)


if __name__ == "__main__":
    unittest.main()
