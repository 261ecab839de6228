"""The approvers' page (jit-authority /ui/) signs people in by the client
certificate bound to them (jitadm person add NAME --cert FILE), with no token
to paste: the same role checks as with a token, the sign-in on the record
(who, when, from where, method "certificate"). A certificate bound to nobody
(unknown, its person removed or rebound) or a host's signs nobody in, and the
page says why; a certificate's session holds only while that certificate is
presented; tokens keep working. HTTPS with client certificates from Python
(http.client, ssl), as a browser does it, including a resumed TLS session.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v web_ui_certificate
"""
import http.client
import os
import re
import ssl
import unittest
import urllib.parse

from jit_authority_tls import TlsAuthority, openssl_out
from protocol_conformance import CPP_BIN


class Browser:
    """A cookie jar and a client certificate (pki/CERT.pem, or none); each
    request on a new connection, resuming the last TLS session when asked."""

    def __init__(self, pki, port, cert=None):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        if cert:
            self.ctx.load_cert_chain(os.path.join(pki, f"{cert}.pem"), os.path.join(pki, f"{cert}.key"))
        self.cookies = {}
        self.tls_session = None
        self.resumed = None

    def request(self, method, path, fields=None, resume=False):
        browser = self

        class Conn(http.client.HTTPSConnection):
            def connect(self):
                http.client.HTTPConnection.connect(self)
                self.sock = browser.ctx.wrap_socket(self.sock, server_hostname=self.host,
                                                    session=browser.tls_session if resume else None)

        conn = Conn("127.0.0.1", self.port, timeout=30)
        try:
            headers = {}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if fields is not None:
                body = urllib.parse.urlencode(fields)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
            self.resumed = conn.sock.session_reused
            self.tls_session = conn.sock.session
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    k, v = value.split(";", 1)[0].split("=", 1)
                    if v:
                        self.cookies[k] = v
                    else:
                        self.cookies.pop(k, None)
            return resp.status, resp.getheader("Location", ""), text
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def csrf(self, page):
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert m, page
        return m.group(1)


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class PageByCertificate(TlsAuthority, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start(("alice", "alice"), ("bob", "bob"), ("dave", "dave"), ("erin", "erin"), ("frank", "frank"),
                  ("frank-renewed", "frank"), ("mallory", "mallory"))
        admin = cls.auth.admin_token
        assert cls.call("POST", "/admin/hosts", {"host_id": "web-01"}, token=admin)[0] == 201
        for name, role in (("alice", "requester"), ("bob", "requester"), ("dave", "approver"), ("erin", "approver"),
                           ("frank", "requester")):
            with open(os.path.join(cls.pki, f"{name}.pem"), encoding="utf-8") as f:
                status, body = cls.call("POST", "/admin/people", {"name": name, "role": role, "cert": f.read()},
                                        token=admin)
            assert status == 201, (status, body)

    def browser(self, cert=None):
        return Browser(self.pki, self.auth.port, cert)

    def fingerprint(self, name):
        out = openssl_out("x509", "-in", os.path.join(self.pki, f"{name}.pem"), "-noout", "-fingerprint", "-sha256")
        return out.split("=", 1)[1].strip().replace(":", "").lower()

    def actions(self, action, target):
        status, actions = self.call("GET", "/admin/actions", token=self.auth.admin_token)
        self.assertEqual(status, 200)
        return [a for a in actions if a["action"] == action and a["target"] == target]

    def signed_in(self, who, cert=None):
        """A browser presenting WHO's certificate (or CERT), signed in by it alone."""
        b = self.browser(cert or who)
        status, location, _ = b.get("/ui/")
        self.assertEqual((status, location), (303, "/ui/login"), "no session yet: to the sign-in page")
        status, location, page = b.get("/ui/login")
        self.assertEqual((status, location), (303, "/ui/"), page)
        self.assertIn("jit_session", b.cookies)
        return b

    def refused(self, cert, why):
        """CERT signs nobody in: the sign-in page says WHY, no session, and asking for it is 401."""
        b = self.browser(cert)
        status, _, page = b.get("/ui/login")
        self.assertEqual(status, 200, page)
        self.assertNotIn("jit_session", b.cookies)
        self.assertIn(why, page)
        self.assertIn(self.fingerprint(cert), page)
        self.assertIn('id="token"', page, "the token form is still there")
        status, _, page = b.request("POST", "/ui/login", {"csrf": b.csrf(page), "with": "certificate"})
        self.assertEqual(status, 401, page)
        self.assertIn(why, page)
        self.assertNotIn("jit_session", b.cookies)
        self.assertEqual(b.get("/ui/")[:2], (303, "/ui/login"))

    def test_a_bound_certificate_signs_in_without_a_token_and_it_is_on_the_record(self):
        b = self.signed_in("dave")
        status, _, page = b.get("/ui/")
        self.assertEqual(status, 200, page)
        self.assertIn("dave (approver)", page)
        rec = self.actions("web.sign_in", "dave")
        self.assertTrue(rec, "the sign-in is recorded")
        self.assertEqual((rec[-1]["actor"], rec[-1]["source"]), ("dave", "127.0.0.1"))
        self.assertEqual(rec[-1]["detail"], {"method": "certificate", "cert_sha256": self.fingerprint("dave")})
        self.assertGreater(rec[-1]["at"], 0)

    def test_the_same_role_checks_as_with_a_token(self):
        alice = self.signed_in("alice")
        self.assertEqual(alice.get("/ui/grants")[0], 403, "a requester does not see the grants page")
        status, req = self.call("POST", "/admin/requests",
                                {"host_id": "web-01", "duration_seconds": 600, "reason": "INC-11 by certificate"},
                                cert="alice")
        self.assertEqual(status, 201, req)
        status, _, page = alice.get("/ui/")
        self.assertNotIn(f"/ui/requests/{req['id']}/approve", page, "no approve button on one's own request")
        status, _, page = alice.request("POST", f"/ui/requests/{req['id']}/approve", {"csrf": alice.csrf(page)})
        self.assertEqual(status, 403, page)
        dave = self.signed_in("dave")
        status, _, page = dave.get("/ui/")
        self.assertIn(f"/ui/requests/{req['id']}/approve", page)
        status, location, _ = dave.request("POST", f"/ui/requests/{req['id']}/approve",
                                           {"csrf": dave.csrf(page), "comment": "by certificate"})
        self.assertEqual((status, location), (303, "/ui/"))
        status, shown = self.call("GET", f"/admin/requests/{req['id']}", token=self.auth.admin_token)
        self.assertEqual((shown["state"], shown["decided_by"]), ("approved", ["dave"]), shown)
        self.assertIn("dave", [a["actor"] for a in self.actions("request.approve", f"web-01/{req['id']}")])

    def test_an_unknown_certificate_signs_nobody_in_and_the_page_says_why(self):
        self.refused("mallory", "bound to nobody here")

    def test_a_host_certificate_signs_nobody_in(self):
        self.refused("web-01", "the certificate of host web-01")

    def test_a_removed_person_is_signed_out_and_cannot_sign_in(self):
        bob = self.signed_in("bob")
        self.assertEqual(bob.get("/ui/")[0], 200)
        status, body = self.call("DELETE", "/admin/people/bob", token=self.auth.admin_token)
        self.assertEqual(status, 204, body)
        self.assertEqual(bob.get("/ui/")[:2], (303, "/ui/login"), "the session ends with the person")
        self.refused("bob", "bound to nobody here")

    def test_a_rebound_person_signs_in_with_the_new_certificate_only(self):
        old = self.signed_in("frank")
        with open(os.path.join(self.pki, "frank-renewed.pem"), encoding="utf-8") as f:
            status, body = self.call("POST", "/admin/people/frank/cert", {"cert": f.read()}, token=self.auth.admin_token)
        self.assertEqual(status, 200, body)
        self.assertEqual(old.get("/ui/")[:2], (303, "/ui/login"), "the old certificate's session ends at once")
        self.refused("frank", "bound to nobody here")
        new = self.signed_in("frank", cert="frank-renewed")
        status, _, page = new.get("/ui/")
        self.assertIn("frank (requester)", page)

    def test_a_certificate_session_holds_only_with_the_certificate(self):
        dave = self.signed_in("dave")
        thief = self.browser(None)
        thief.cookies = dict(dave.cookies)
        self.assertEqual(thief.get("/ui/")[:2], (303, "/ui/login"))
        other = self.browser("erin")
        other.cookies = dict(dave.cookies)
        self.assertEqual(other.get("/ui/")[:2], (303, "/ui/login"))

    def test_a_resumed_tls_session_keeps_the_certificate(self):
        erin = self.signed_in("erin")
        status, _, page = erin.get("/ui/", resume=True)
        self.assertTrue(erin.resumed, "the TLS session was resumed")
        self.assertEqual(status, 200, page)
        self.assertIn("erin (approver)", page)

    def test_sign_out_then_sign_in_again_with_the_certificate_on_request(self):
        b = self.signed_in("erin")
        status, _, page = b.get("/ui/")
        status, location, _ = b.request("POST", "/ui/logout", {"csrf": b.csrf(page)})
        self.assertEqual((status, location), (303, "/ui/login?out=1"))
        status, _, page = b.get("/ui/login?out=1")
        self.assertEqual(status, 200, "signed out: not signed in again at once")
        self.assertNotIn("jit_session", b.cookies)
        self.assertIn("Sign in as erin with your certificate", page)
        status, location, _ = b.request("POST", "/ui/login", {"csrf": b.csrf(page), "with": "certificate"})
        self.assertEqual((status, location), (303, "/ui/"))
        self.assertEqual(b.get("/ui/")[0], 200)

    def test_tokens_keep_working(self):
        b = self.browser(None)
        status, _, page = b.get("/ui/login")
        self.assertEqual(status, 200)
        status, location, _ = b.request("POST", "/ui/login", {"csrf": b.csrf(page), "token": self.auth.admin_token})
        self.assertEqual((status, location), (303, "/ui/"))
        status, _, page = b.get("/ui/")
        self.assertIn("carol (admin)", page)
        self.assertEqual(self.actions("web.sign_in", "carol")[-1]["detail"], {"method": "token"})

    def test_a_token_and_a_certificate_of_different_people_are_refused(self):
        b = self.browser("dave")
        status, _, page = b.get("/ui/login?out=1")  # offers dave's certificate, signs nobody in yet
        status, _, page = b.request("POST", "/ui/login", {"csrf": b.csrf(page), "token": self.auth.admin_token})
        self.assertEqual(status, 403, page)
        self.assertIn("dave", page)
        self.assertNotIn("jit_session", b.cookies)

    def test_a_token_session_ends_when_another_persons_certificate_comes_with_it(self):
        # Signed in by token (carol, no certificate); the same session cookie
        # later comes with dave's certificate: refused and ended, not served as carol.
        b = self.browser(None)
        status, _, page = b.get("/ui/login")
        status, location, _ = b.request("POST", "/ui/login", {"csrf": b.csrf(page), "token": self.auth.admin_token})
        self.assertEqual((status, location), (303, "/ui/"))
        with_dave = self.browser("dave")
        with_dave.cookies = dict(b.cookies)
        status, _, page = with_dave.get("/ui/")
        self.assertEqual(status, 403, page)
        self.assertIn("dave", page)
        self.assertEqual(b.get("/ui/")[:2], (303, "/ui/login"), "the session is over, also without the certificate")


if __name__ == "__main__":
    unittest.main()
