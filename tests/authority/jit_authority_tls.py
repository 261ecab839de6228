"""jit-authority (C++) over TLS: host identity from the client certificate
(CN = host id), isolation by certificate, certificate and token naming
different hosts, an untrusted client CA, and plain http refused off loopback.
People by client certificate (jitadm person add NAME --cert FILE): accepted
and on the record under their name, an unknown certificate refused, a removed
person refused, a host's certificate cannot act as a person nor a person's as
a host. A renewed certificate (POST /admin/people/NAME/cert, jitadm person
cert, jit-authority person-cert): the old one refused at once, the new one
accepted, both SHA-256s on the record.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v jit_authority_tls
"""
import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest

from authority_fixture import UA
from protocol_conformance import CPP_BIN, CppAuthority, payload_of
from test_tls import make_leaf, make_pki

JITADM = os.environ.get("JITADM_BIN", "")


def tls_call(pki, port, method, path, body=None, token=None, cert=None):
    """One HTTPS call to the authority, with pki/CERT.pem as the client certificate when given."""
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
    if cert:
        ctx.load_cert_chain(os.path.join(pki, f"{cert}.pem"), os.path.join(pki, f"{cert}.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        headers = {"User-Agent": UA}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw.strip() and resp.status != 200 or path.startswith("/admin")
                             and raw.strip() else raw)
    finally:
        conn.close()


class TlsAuthority:
    """jit-authority (C++) over TLS with the test PKI (test_tls.make_pki) and
    client_ca set; call() is one HTTPS call with pki/CERT.pem as the client
    certificate (cls.default_cert when not given)."""
    default_cert = None

    @classmethod
    def start(cls, *people):
        """The PKI, client certificates for people ((file name, CN) pairs) and the authority."""
        cls.pki = tempfile.mkdtemp(prefix="jit-authority-cpp-pki-")
        make_pki(cls.pki)
        for name, cn in people:
            make_leaf(cls.pki, name, cn)
        p = lambda n: os.path.join(cls.pki, n)  # noqa: E731
        cls.auth = CppAuthority(extra=f"tls_cert = {p('server.pem')}\ntls_key = {p('server.key')}\n"
                                      f"client_ca = {p('ca.pem')}\n")

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()
        shutil.rmtree(cls.pki, ignore_errors=True)

    @classmethod
    def call(cls, method, path, body=None, token=None, cert="default"):
        cert = cls.default_cert if cert == "default" else cert
        return tls_call(cls.pki, cls.auth.port, method, path, body, token, cert)


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class JitAuthorityTls(TlsAuthority, unittest.TestCase):
    default_cert = "web-01"

    @classmethod
    def setUpClass(cls):
        cls.start()
        cls.host_tokens = {}
        for h in ("web-01", "web-02"):
            cls.host_tokens[h] = cls.call("POST", "/admin/hosts", {"host_id": h}, token=cls.auth.admin_token,
                                          cert=None)[1]["token"]

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

    def test_a_host_that_only_posts_events_keeps_the_revision_it_holds(self):
        # revision_held is the `after` of the host's last poll; a batch of
        # events is not a poll, also when it comes in another second.
        host = "events-only"
        tok = self.call("POST", "/admin/hosts", {"host_id": host}, token=self.auth.admin_token, cert=None)[1]["token"]
        status, body = self.call("GET", f"/v1/hosts/{host}/grants?after=0", token=tok, cert=None)
        self.assertEqual(status, 200)
        rev = json.loads(base64.b64decode(json.loads(body)["payload"]))["revision"]
        self.assertEqual(self.call("GET", f"/v1/hosts/{host}/grants?after={rev}", token=tok, cert=None)[0], 304)

        def held():
            hosts = self.call("GET", "/admin/hosts", token=self.auth.admin_token, cert=None)[1]
            return next(h for h in hosts if h["host_id"] == host)["revision_held"]
        deadline = time.time() + 10  # what the authority saw is written once a second
        while held() != rev and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(held(), rev)
        time.sleep(1.5)
        self.assertEqual(self.call("POST", f"/v1/hosts/{host}/events", {"events": []}, token=tok, cert=None)[0], 204)
        time.sleep(2.5)
        self.assertEqual(held(), rev)

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


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class PeopleByCertificate(TlsAuthority, unittest.TestCase):
    """People authenticate to the admin API with a client certificate bound to them."""

    @classmethod
    def setUpClass(cls):
        cls.start(("alice", "alice"), ("bob", "bob"), ("mallory", "mallory"), ("dave", "web-03"))
        p = lambda n: os.path.join(cls.pki, n)  # noqa: E731
        admin = cls.auth.admin_token
        for h in ("web-01",):
            assert cls.call("POST", "/admin/hosts", {"host_id": h}, token=admin, cert=None)[0] == 201
        cls.bound = {}
        for name, role in (("alice", "requester"), ("bob", "requester"), ("dave", "approver")):
            with open(p(f"{name}.pem"), encoding="utf-8") as f:
                status, body = cls.call("POST", "/admin/people", {"name": name, "role": role, "cert": f.read()},
                                        token=admin, cert=None)
            assert status == 201, (status, body)
            cls.bound[name] = body
        # web-03 registered after dave's certificate (CN=web-03) was bound to him.
        assert cls.call("POST", "/admin/hosts", {"host_id": "web-03"}, token=admin, cert=None)[0] == 201

    def fingerprint(self, name):
        out = openssl_out("x509", "-in", os.path.join(self.pki, f"{name}.pem"), "-noout", "-fingerprint", "-sha256")
        return out.split("=", 1)[1].strip().replace(":", "").lower()

    def test_a_bound_certificate_is_the_person_and_acts_on_the_record(self):
        self.assertEqual(self.bound["alice"]["cert_sha256"], self.fingerprint("alice"))
        self.assertNotIn("token", self.bound["alice"], "a certificate person gets no token unless asked")
        status, me = self.call("GET", "/admin/whoami", cert="alice")
        self.assertEqual((status, me), (200, {"name": "alice", "role": "requester"}))
        status, req = self.call("POST", "/admin/requests",
                                {"host_id": "web-01", "duration_seconds": 600, "reason": "INC-9 by certificate"},
                                cert="alice")
        self.assertEqual(status, 201, req)
        self.assertEqual(req["requested_by"], "alice")
        # an approver by certificate decides it
        status, done = self.call("POST", f"/admin/requests/{req['id']}/approve", {"comment": "ok"}, cert="dave")
        self.assertEqual(status, 200, done)
        self.assertEqual(done["state"], "approved")
        status, actions = self.call("GET", "/admin/actions", token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 200)
        mine = [(a["actor"], a["action"]) for a in actions if a["target"].endswith(req["id"])]
        self.assertIn(("alice", "request.submit"), mine)
        self.assertIn(("dave", "request.approve"), mine)
        added = [a for a in actions if a["action"] == "person.add" and a["target"] == "alice"]
        self.assertEqual(added[0]["detail"]["cert_sha256"], self.fingerprint("alice"))

    def test_an_unknown_certificate_is_refused(self):
        status, body = self.call("GET", "/admin/whoami", cert="mallory")
        self.assertEqual(status, 401, body)
        self.assertIn("not bound to a person", body["message"])
        self.assertEqual(self.call("GET", "/admin/whoami", cert=None)[0], 401)

    def test_a_removed_person_is_refused(self):
        self.assertEqual(self.call("GET", "/admin/whoami", cert="bob")[0], 200)
        status, body = self.call("DELETE", "/admin/people/bob", token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 204, body)
        status, body = self.call("GET", "/admin/whoami", cert="bob")
        self.assertEqual(status, 401, body)
        status, body = self.call("POST", "/admin/requests",
                                 {"host_id": "web-01", "duration_seconds": 600, "reason": "after removal"}, cert="bob")
        self.assertEqual(status, 401, body)
        status, actions = self.call("GET", "/admin/actions", token=self.auth.admin_token, cert=None)
        self.assertIn(("carol", "person.remove", "bob"), [(a["actor"], a["action"], a["target"]) for a in actions])

    def test_a_host_certificate_cannot_act_as_a_person(self):
        status, body = self.call("GET", "/admin/whoami", cert="web-01")
        self.assertEqual(status, 401, body)
        with open(os.path.join(self.pki, "web-01.pem"), encoding="utf-8") as f:
            status, body = self.call("POST", "/admin/people", {"name": "eve", "role": "admin", "cert": f.read()},
                                     token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 422, body)
        self.assertEqual(body["error"], "host_certificate")
        # ... while it still reads its own host's bundles
        self.assertEqual(self.call("GET", "/v1/hosts/web-01/grants?after=0", cert="web-01")[0], 200)

    def test_a_person_certificate_cannot_act_as_a_host(self):
        # dave's certificate says CN=web-03, a registered host: it is still dave's.
        status, body = self.call("GET", "/v1/hosts/web-03/grants?after=0", cert="dave")
        self.assertEqual(status, 403, body)
        self.assertIn("dave", body["message"])
        status, body = self.call("POST", "/v1/hosts/web-03/events", {"events": []}, cert="dave")
        self.assertEqual(status, 403, body)

    def test_certificate_and_token_must_name_the_same_person(self):
        status, body = self.call("GET", "/admin/whoami", token=self.auth.admin_token, cert="alice")
        self.assertEqual(status, 403, body)

    @unittest.skipUnless(JITADM and os.access(JITADM, os.X_OK), "JITADM_BIN not built")
    def test_jitadm_with_a_certificate(self):
        p = lambda n: os.path.join(self.pki, n)  # noqa: E731
        env = dict(os.environ, HOME=self.pki, JITADM_URL=f"https://127.0.0.1:{self.auth.port}")
        env.pop("JITADM_TOKEN_FILE", None)
        run = lambda *a: subprocess.run([JITADM, "--ca", p("ca.pem"), *a], env=env,  # noqa: E731
                                        capture_output=True, text=True, timeout=60)
        out = run("--cert", p("alice.pem"), "--key", p("alice.key"), "whoami")
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "alice (requester)"), out.stderr)
        out = run("--cert", p("mallory.pem"), "--key", p("mallory.key"), "whoami")
        self.assertEqual(out.returncode, 1)
        self.assertIn("not bound to a person", out.stderr)
        # an admin binds a certificate with jitadm, the person lists with it
        token = p("carol.token")
        with open(token, "w", encoding="utf-8") as f:
            f.write(self.auth.admin_token)
        make_leaf(self.pki, "erin", "erin")
        out = run("--token-file", token, "person", "add", "erin", "--role", "approver", "--cert", p("erin.pem"))
        self.assertEqual((out.returncode, out.stdout), (0, ""), out.stderr)
        self.assertIn(self.fingerprint("erin"), out.stderr)
        out = run("--cert", p("erin.pem"), "--key", p("erin.key"), "person", "list")
        self.assertEqual(out.returncode, 1, "an approver cannot list people")
        out = run("--token-file", token, "person", "list")
        self.assertIn("erin", out.stdout)
        self.assertIn(self.fingerprint("erin"), out.stdout)
        out = run("--token-file", token, "person", "remove", "erin")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = run("--cert", p("erin.pem"), "--key", p("erin.key"), "whoami")
        self.assertEqual(out.returncode, 1)
        self.assertIn("401", out.stderr)


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class RebindCertificate(TlsAuthority, unittest.TestCase):
    """A renewed certificate: an admin binds the person to it (POST
    /admin/people/NAME/cert, jitadm person cert, jit-authority person-cert);
    the old one stops working at once, the new one works, and the record has
    who did it with the old and the new SHA-256."""

    @classmethod
    def setUpClass(cls):
        cls.start(("alice", "alice"), ("alice-2027", "alice"), ("bob", "bob"), ("bob-2028", "bob"), ("dave", "dave"),
                  ("dave-2029", "dave"), ("ivan", "ivan"), ("judy", "judy"), ("tess", "tess"), ("spare", "spare"))
        admin = cls.auth.admin_token
        assert cls.call("POST", "/admin/hosts", {"host_id": "web-01"}, token=admin, cert=None)[0] == 201
        for name, role in (("alice", "requester"), ("bob", "requester"), ("dave", "approver"), ("ivan", "requester"),
                           ("judy", "approver")):
            with open(os.path.join(cls.pki, f"{name}.pem"), encoding="utf-8") as f:
                status, body = cls.call("POST", "/admin/people", {"name": name, "role": role, "cert": f.read()},
                                        token=admin, cert=None)
            assert status == 201, (status, body)
        # tess has a token only
        assert cls.call("POST", "/admin/people", {"name": "tess", "role": "requester"}, token=admin, cert=None)[0] == 201

    def pem(self, name):
        with open(os.path.join(self.pki, f"{name}.pem"), encoding="utf-8") as f:
            return f.read()

    fingerprint = PeopleByCertificate.fingerprint

    def rebind(self, name, cert_file, **kw):
        kw.setdefault("token", self.auth.admin_token)
        return self.call("POST", f"/admin/people/{name}/cert", {"cert": self.pem(cert_file)}, cert=kw.pop("cert", None),
                         **kw)

    def whoami(self, cert):
        return self.call("GET", "/admin/whoami", cert=cert)

    def records(self, target):
        status, actions = self.call("GET", "/admin/actions", token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 200)
        return [a for a in actions if a["action"] == "person.cert" and a["target"] == target]

    def test_the_old_certificate_stops_at_once_and_the_new_one_works(self):
        self.assertEqual(self.whoami("alice")[0], 200)
        status, body = self.rebind("alice", "alice-2027")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"name": "alice", "role": "requester", "cert_sha256": self.fingerprint("alice-2027"),
                                "old_cert_sha256": self.fingerprint("alice")})
        status, body = self.whoami("alice")
        self.assertEqual(status, 401, body)
        self.assertEqual(self.whoami("alice-2027"), (200, {"name": "alice", "role": "requester"}))
        rec = self.records("alice")
        self.assertEqual(len(rec), 1, rec)
        self.assertEqual((rec[0]["actor"], rec[0]["source"]), ("carol", "127.0.0.1"))
        self.assertEqual(rec[0]["detail"], {"old_cert_sha256": self.fingerprint("alice"),
                                            "cert_sha256": self.fingerprint("alice-2027")})
        status, people = self.call("GET", "/admin/people", token=self.auth.admin_token, cert=None)
        self.assertEqual({p["name"]: p["cert_sha256"] for p in people}["alice"], self.fingerprint("alice-2027"))

    def test_a_person_with_a_token_only_gets_a_first_certificate(self):
        status, body = self.rebind("tess", "tess")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["old_cert_sha256"], "")
        self.assertEqual(self.whoami("tess"), (200, {"name": "tess", "role": "requester"}))

    def test_what_cannot_be_bound_is_refused_and_changes_nothing(self):
        cases = [("nobody", "spare", 404, "not_found", "person nobody"),
                 ("judy", "ivan", 409, "conflict", "already ivan's"),  # another person's certificate
                 ("ivan", "ivan", 409, "conflict", "already ivan's"),  # the one ivan has
                 ("ivan", "web-01", 422, "host_certificate", "web-01")]  # a host's
        for name, cert, status, code, text in cases:
            with self.subTest(name=name, cert=cert):
                got, body = self.rebind(name, cert)
                self.assertEqual((got, body["error"]), (status, code), body)
                self.assertIn(text, body["message"])
        status, body = self.call("POST", "/admin/people/ivan/cert", {"cert": "-----BEGIN CERTIFICATE-----\nnope\n"},
                                 token=self.auth.admin_token, cert=None)
        self.assertEqual((status, body["error"]), (400, "invalid_request"), body)
        self.assertIn("cert:", body["message"])
        status, body = self.call("POST", "/admin/people/ivan/cert", {}, token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 400, body)
        self.assertIn("cert", body["message"])
        # an approver is no admin, by token or certificate
        status, body = self.rebind("ivan", "spare", token=None, cert="judy")
        self.assertEqual(status, 403, body)
        self.assertEqual(self.whoami("ivan"), (200, {"name": "ivan", "role": "requester"}), "ivan is unchanged")
        self.assertEqual(self.records("ivan"), [])
        self.assertEqual(self.records("judy"), [])

    @unittest.skipUnless(JITADM and os.access(JITADM, os.X_OK), "JITADM_BIN not built")
    def test_jitadm_person_cert(self):
        p = lambda n: os.path.join(self.pki, n)  # noqa: E731
        token = p("carol.token")
        with open(token, "w", encoding="utf-8") as f:
            f.write(self.auth.admin_token)
        env = dict(os.environ, HOME=self.pki, JITADM_URL=f"https://127.0.0.1:{self.auth.port}")
        run = lambda *a: subprocess.run([JITADM, "--ca", p("ca.pem"), "--token-file", token, *a],  # noqa: E731
                                        env=env, capture_output=True, text=True, timeout=60)
        out = run("person", "cert", "bob", "--cert", p("bob-2028.pem"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(self.fingerprint("bob-2028"), out.stdout)
        self.assertIn(self.fingerprint("bob"), out.stdout, "says which certificate it replaced")
        self.assertEqual(self.whoami("bob")[0], 401)
        self.assertEqual(self.whoami("bob-2028"), (200, {"name": "bob", "role": "requester"}))
        # bad input names the file
        out = run("person", "cert", "bob", "--cert", p("missing.pem"))
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"cannot read certificate {p('missing.pem')}", out.stderr)
        out = run("person", "cert", "bob", "--cert", p("bob.key"))
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"certificate {p('bob.key')} is not a PEM certificate", out.stderr)
        out = run("person", "cert", "bob")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--cert", out.stderr)
        out = run("person", "cert", "nobody", "--cert", p("spare.pem"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("404 not_found: person nobody not found", out.stderr)

    def test_console_person_cert_on_the_authority_machine(self):
        # e.g. the only admin's certificate expired: on the authority machine, straight into the database.
        env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
        run = lambda *a: subprocess.run([CPP_BIN, "-c", self.auth.config, *a],  # noqa: E731
                                        env=env, capture_output=True, text=True, timeout=60)
        key = os.path.join(self.pki, "dave.key")
        out = run("person-cert", "dave", "--cert", key)
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"certificate {key}: not a PEM X.509 certificate", out.stderr)
        out = run("person-cert", "dave", "--cert", os.path.join(self.pki, "dave-2029.pem"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(self.fingerprint("dave-2029"), out.stdout)
        self.assertEqual(self.whoami("dave")[0], 401, "the running authority refuses the old one at once")
        self.assertEqual(self.whoami("dave-2029"), (200, {"name": "dave", "role": "approver"}))
        rec = self.records("dave")
        self.assertEqual((rec[-1]["actor"], rec[-1]["source"]), ("local:root", "console"))
        self.assertEqual(rec[-1]["detail"]["old_cert_sha256"], self.fingerprint("dave"))


def openssl_out(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


if __name__ == "__main__":
    unittest.main()
