"""The approvers' page signs a person in by the client certificate a real
browser presents: headless Chromium, the certificate and its key in
Chromium's own NSS store ($HOME/.pki/nssdb, imported with pk12util as a
person would import alice.p12), and the AutoSelectCertificateForUrls policy
so that it presents it without asking (docs/authority.md).

Chromium reads policies only from /etc/chromium/policies/managed. The test
mounts its own /etc/chromium in a private mount namespace (ctest starts it
under `unshare --mount`): no browser outside the test ever sees the policy,
and the machine's /etc is not written. Without such a namespace (or as
non-root) it skips.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority \\
      ./private_mounts.sh /usr/bin/python3 -m unittest -v web_ui_browser_certificate
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from jit_authority_tls import TlsAuthority
from protocol_conformance import CPP_BIN
from web_ui_browser import CHROMEDRIVER, CHROMIUM, HAVE_SELENIUM, WAIT, chromium

if HAVE_SELENIUM:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait


def private_mounts():
    """True when this process has a mount namespace other than the one it was
    started from (JIT_OUTER_MNT_NS, as the ctest command passes it) or init's."""
    try:
        mine = os.readlink("/proc/self/ns/mnt")
        outer = os.environ.get("JIT_OUTER_MNT_NS") or os.readlink("/proc/1/ns/mnt")
        return mine != outer
    except OSError:
        return False


def why_not():
    if not (HAVE_SELENIUM and CPP_BIN and os.access(CPP_BIN, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
            and os.access(CHROMIUM, os.X_OK)):
        return "needs jit-authority, chromium, chromium-driver and python3-selenium"
    if not (shutil.which("certutil") and shutil.which("pk12util")):
        return "needs certutil and pk12util (libnss3-tools)"
    if os.geteuid() != 0 or not private_mounts():
        return "needs root in a private mount namespace (unshare --mount) to give Chromium a policy"
    return ""


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60, **kw)


@unittest.skipIf(why_not(), why_not())
class CertificateInChromium(TlsAuthority, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start(("alice", "alice"), ("mallory", "mallory"))
        admin = cls.auth.admin_token
        with open(os.path.join(cls.pki, "alice.pem"), encoding="utf-8") as f:
            status, body = cls.call("POST", "/admin/people", {"name": "alice", "role": "requester", "cert": f.read()},
                                    token=admin, cert=None)
        assert status == 201, (status, body)
        # This test's /etc/chromium: the machine's files, and the policy.
        cls.etc = tempfile.mkdtemp(prefix="jit-etc-chromium-")
        cls.addClassCleanup(shutil.rmtree, cls.etc, True)
        if os.path.isdir("/etc/chromium"):
            shutil.copytree("/etc/chromium", cls.etc, dirs_exist_ok=True)
        os.makedirs(os.path.join(cls.etc, "policies", "managed"), exist_ok=True)
        rule = {"pattern": f"https://127.0.0.1:{cls.auth.port}", "filter": {"ISSUER": {"CN": "jit test CA"}}}
        with open(os.path.join(cls.etc, "policies", "managed", "jit-test.json"), "w", encoding="utf-8") as f:
            json.dump({"AutoSelectCertificateForUrls": [json.dumps(rule)]}, f)
        os.makedirs("/etc/chromium", exist_ok=True)
        run("mount", "--bind", cls.etc, "/etc/chromium")
        cls.addClassCleanup(subprocess.run, ["umount", "/etc/chromium"], check=False)

    def home_with(self, cert):
        """A HOME whose NSS store trusts the test CA and, when CERT is given, holds CERT's certificate and key."""
        home = tempfile.mkdtemp(prefix="jit-chromium-home-")
        self.addCleanup(shutil.rmtree, home, True)
        db = "sql:" + os.path.join(home, ".pki", "nssdb")
        os.makedirs(os.path.join(home, ".pki", "nssdb"))
        run("certutil", "-N", "-d", db, "--empty-password")
        run("certutil", "-A", "-d", db, "-n", "jit test CA", "-t", "C,,", "-i", os.path.join(self.pki, "ca.pem"))
        if cert:
            p12 = os.path.join(home, f"{cert}.p12")
            run("openssl", "pkcs12", "-export", "-in", os.path.join(self.pki, f"{cert}.pem"),
                "-inkey", os.path.join(self.pki, f"{cert}.key"), "-out", p12, "-passout", "pass:")
            run("pk12util", "-i", p12, "-d", db, "-W", "")
        return home

    def browser(self, cert):
        home = self.home_with(cert)
        drv = chromium(os.path.join(home, "profile"), home=home)
        self.addCleanup(drv.quit)
        # Without a certificate chosen (no policy) Chromium would wait for a
        # choice no one makes: the load fails in WAIT seconds instead.
        drv.set_page_load_timeout(WAIT)
        return drv

    def page_text(self, drv, want):
        try:
            WebDriverWait(drv, WAIT, poll_frequency=0.1).until(
                lambda d: want in d.find_element(By.TAG_NAME, "body").text)
        except TimeoutException:
            self.fail(f"{want!r} not seen within {WAIT} s at {drv.current_url}:\n"
                      f"{drv.find_element(By.TAG_NAME, 'body').text}")

    def sign_ins(self, name):
        status, actions = self.call("GET", "/admin/actions", token=self.auth.admin_token, cert=None)
        self.assertEqual(status, 200)
        return [a for a in actions if a["action"] == "web.sign_in" and a["target"] == name]

    def test_a_bound_certificate_in_the_browser_signs_in_by_opening_the_page(self):
        drv = self.browser("alice")
        drv.get(f"https://127.0.0.1:{self.auth.port}/ui/")
        self.page_text(drv, "alice (requester)")
        self.assertTrue(drv.current_url.endswith("/ui/"), drv.current_url)
        fingerprint = run("openssl", "x509", "-in", os.path.join(self.pki, "alice.pem"), "-noout", "-fingerprint",
                          "-sha256").stdout.split("=", 1)[1].strip().replace(":", "").lower()
        self.assertEqual(self.sign_ins("alice")[-1]["detail"], {"method": "certificate", "cert_sha256": fingerprint})

    def test_a_certificate_bound_to_nobody_signs_nobody_in_and_the_page_says_why(self):
        drv = self.browser("mallory")
        drv.get(f"https://127.0.0.1:{self.auth.port}/ui/")
        self.page_text(drv, "bound to nobody here")
        self.assertIn("/ui/login", drv.current_url)
        self.assertTrue(drv.find_elements(By.ID, "token"), "the token form is offered")
        self.assertEqual(self.sign_ins("mallory"), [])

    def test_without_a_certificate_the_token_form_is_offered(self):
        drv = self.browser(None)
        drv.get(f"https://127.0.0.1:{self.auth.port}/ui/")
        self.page_text(drv, "token")
        self.assertIn("/ui/login", drv.current_url)
        self.assertTrue(drv.find_elements(By.ID, "token"))


if __name__ == "__main__":
    unittest.main()
