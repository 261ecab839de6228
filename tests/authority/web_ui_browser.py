"""The approvers' page (jit-authority /ui/) in a real browser: headless
Chromium driven through WebDriver (Debian's chromium, chromium-driver,
python3-selenium). Sign in with a personal token, see a request made with
jitadm appear live, approve it (the host's next bundle carries the grant), a
second operator's open page shows the decision without a reload, deny with a
comment the requester reads in jitadm, revoke and extend, a POST without the
CSRF token is refused, a requester has no approve button and is refused.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority JITADM_BIN=build/authority/jitadm \
      /usr/bin/python3 -m unittest -v web_ui_browser

JIT_SCREENSHOT_DIR=docs/screenshots saves a screenshot of each page there
(docs/authority.md shows them).
"""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from authority_fixture import decode_envelope
from protocol_conformance import CPP_BIN, CppAuthority

JITADM = os.environ.get("JITADM_BIN", "")
SHOTS = os.environ.get("JIT_SCREENSHOT_DIR", "")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    HAVE_SELENIUM = True
except ImportError:  # the skip below names what is missing
    HAVE_SELENIUM = False

WAIT = 30  # seconds: an upper bound for a page to show something, never a measured duration


def chromium(profile, width=1200, height=900, home=None):
    """Headless Chromium with a fresh profile directory, nothing fetched from outside;
    with HOME, run with that home (its .pki/nssdb is Chromium's certificate store)."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    env = dict(os.environ, HOME=home) if home else None
    return webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER, env=env), options=opts)


def available():
    return (HAVE_SELENIUM and CPP_BIN and JITADM and os.access(CPP_BIN, os.X_OK) and os.access(JITADM, os.X_OK)
            and os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK))


@unittest.skipUnless(available(), "needs jit-authority, jitadm, chromium, chromium-driver and python3-selenium")
class ApproversPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.auth = CppAuthority()
        cls.addClassCleanup(cls.auth.cleanup)
        cls.base = f"http://localhost:{cls.auth.port}"
        cls.tokens = {"carol": cls.auth.admin_token}
        cls.token_files = {"carol": os.path.join(cls.auth.tmp, "admin.token")}
        cls.host_token = cls.jitadm("carol", "host", "add", "web-01").stdout.strip()
        for name, role in (("alice", "requester"), ("dave", "approver"), ("erin", "approver")):
            token = cls.jitadm("carol", "person", "add", name, "--role", role).stdout.strip()
            path = os.path.join(cls.auth.tmp, f"{name}.token")
            with open(path, "w", encoding="utf-8") as f:
                f.write(token)
            cls.tokens[name] = token
            cls.token_files[name] = path

    @classmethod
    def jitadm(cls, who, *args, check=True):
        env = dict(os.environ, JITADM_URL=f"http://127.0.0.1:{cls.auth.port}", JITADM_TOKEN_FILE=cls.token_files[who])
        return subprocess.run([JITADM, *args], env=env, capture_output=True, text=True, timeout=60, check=check)

    def ask(self, who="alice", reason="INC-7: disk full on web-01", *extra):
        out = self.jitadm(who, "--json", "request", "web-01", "--duration", "30m", "--reason", reason,
                          "--ticket", "INC-7", *extra).stdout
        return json.loads(out)["id"]

    # -- the browser ------------------------------------------------------
    def browser(self, width=1200, height=900):
        profile = tempfile.mkdtemp(prefix="jit-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        drv = chromium(profile, width, height)
        self.addCleanup(drv.quit)
        return drv

    def wait(self, drv, cond, what):
        try:
            # A live refresh may replace the element being read: read again.
            return WebDriverWait(drv, WAIT, poll_frequency=0.1,
                                 ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
                                     lambda d: cond(d))
        except TimeoutException:
            self.fail(f"{what}: not seen within {WAIT} s; page: {drv.current_url}\n"
                      f"{drv.find_element(By.TAG_NAME, 'body').text}")

    def sign_in(self, who, width=1200):
        drv = self.browser(width=width)
        drv.get(self.base + "/ui/")
        self.wait(drv, lambda d: "/ui/login" in d.current_url, "the sign-in page for a visitor without a session")
        field = drv.find_element(By.ID, "token")
        field.send_keys(self.tokens[who])
        field.send_keys(Keys.ENTER)  # keyboard only
        self.wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "h1") and
                  d.find_element(By.CSS_SELECTOR, "h1").text == "Requests", f"{who}'s requests page")
        self.wait(drv, lambda d: d.execute_script("return document.body.dataset.live") == "on", "the live stream")
        drv.execute_script("window.jitNoReload = 'still here'")
        return drv

    def not_reloaded(self, drv):
        self.assertEqual(drv.execute_script("return window.jitNoReload"), "still here", "the page was reloaded")

    def shot(self, drv, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            drv.save_screenshot(os.path.join(SHOTS, name))

    def card(self, drv, rid):
        found = drv.find_elements(By.ID, f"req-{rid}")
        return found[0] if found else None

    def host_payload(self):
        resp = self.auth.poll("web-01", 0, token=self.host_token)
        self.assertEqual(resp.status, 200)
        _, payload, _ = decode_envelope(resp.body)
        return json.loads(payload)

    def session_post(self, drv, path, fields):
        """A POST with this browser's session cookie but from outside the page (no Origin)."""
        cookie = drv.get_cookie("jit_session")
        self.assertIsNotNone(cookie, "the session cookie")
        conn = http.client.HTTPConnection("127.0.0.1", self.auth.port, timeout=30)
        try:
            conn.request("POST", path, body=urllib.parse.urlencode(fields),
                         headers={"Cookie": f"jit_session={cookie['value']}",
                                  "Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    # -- the tests --------------------------------------------------------
    def test_approve_in_the_browser_the_host_gets_the_grant_and_another_operator_sees_it_live(self):
        dave = self.sign_in("dave")
        carol = self.sign_in("carol")
        rid = self.ask("alice", "INC-7: disk full on web-01", "--sudo", "/usr/bin/systemctl restart nginx")
        # A new request appears on both open pages without a reload.
        for drv in (carol, dave):
            self.wait(drv, lambda d: self.card(d, rid) is not None and self.card(d, rid).tag_name == "article",
                      "the new request on an open page")
            self.not_reloaded(drv)
        card = self.card(carol, rid)
        for text in ("alice asks for login + sudo /usr/bin/systemctl restart nginx", "web-01", "30 min", "INC-7: disk full on web-01", "INC-7", "anyone",
                     "0 of 1"):
            self.assertIn(text, card.text)
        self.shot(carol, "authority-web-requests.png")
        comment = carol.find_element(By.ID, f"comment-{rid}")
        comment.send_keys("go ahead")
        card.find_element(By.CSS_SELECTOR, "button.approve").click()
        self.wait(carol, lambda d: "Approved " + rid in d.find_element(By.TAG_NAME, "main").text, "the approval notice")
        # The other operator's page shows the decision at once, without a reload.
        self.wait(dave, lambda d: self.card(d, rid) is not None and self.card(d, rid).tag_name == "tr"
                  and "approved" in self.card(d, rid).text, "carol's decision on dave's page")
        self.not_reloaded(dave)
        self.assertIn("carol", self.card(dave, rid).text)
        # The host's next bundle carries the grant.
        shown = json.loads(self.jitadm("alice", "--json", "requests", "show", rid).stdout)
        self.assertEqual(shown["state"], "approved")
        self.assertEqual(shown["approvals"][0]["comment"], "go ahead")
        grants = {g["id"]: g for g in self.host_payload()["grants"]}
        self.assertIn(shown["grant_id"], grants)
        self.assertEqual(grants[shown["grant_id"]]["approved_by"], ["carol"])

        # Grants: the countdown runs, extend and revoke with a reason.
        carol.get(self.base + "/ui/grants")
        row = self.wait(carol, lambda d: d.find_elements(By.ID, f"grant-{shown['grant_id']}"), "the grant row")[0]
        left = row.find_element(By.CSS_SELECTOR, ".until")
        first = left.text
        self.wait(carol, lambda d: left.text != first, "the countdown ticking")
        self.shot(carol, "authority-web-grants.png")
        before = grants[shown["grant_id"]]["not_after"]
        row.find_element(By.CSS_SELECTOR, "form[action$='/extend'] button").click()
        self.wait(carol, lambda d: "Extended " + shown["grant_id"] in d.find_element(By.TAG_NAME, "main").text,
                  "the extension notice")
        extended = {g["id"]: g for g in self.host_payload()["grants"]}[shown["grant_id"]]
        self.assertEqual(extended["not_after"], before + 3600)
        reason = carol.find_element(By.ID, f"reason-{shown['grant_id']}")
        reason.send_keys("done with INC-7")
        reason.send_keys(Keys.ENTER)
        self.wait(carol, lambda d: "Revoked " + shown["grant_id"] in d.find_element(By.TAG_NAME, "main").text,
                  "the revocation notice")
        payload = self.host_payload()
        self.assertNotIn(shown["grant_id"], [g["id"] for g in payload["grants"]])
        revoked = {r["id"]: r for r in payload["revoked"]}
        self.assertEqual(revoked[shown["grant_id"]]["reason"], "done with INC-7")
        self.assertEqual(revoked[shown["grant_id"]]["by"], "carol")

        # Hosts and the audit record (search and CSV).
        carol.get(self.base + "/ui/hosts")
        self.wait(carol, lambda d: d.find_elements(By.ID, "host-web-01"), "web-01 on the hosts page")
        self.assertIn("web-01", carol.find_element(By.ID, "host-web-01").text)
        self.shot(carol, "authority-web-hosts.png")
        carol.get(self.base + "/ui/audit?" + urllib.parse.urlencode({"grant": rid}))
        text = self.wait(carol, lambda d: d.find_element(By.TAG_NAME, "main").text, "the audit page")
        self.assertIn("request.approve", text)
        self.assertIn("request.submit", text)
        self.assertNotIn("grant.revoke", text, "the search for the request leaves other targets out")
        self.shot(carol, "authority-web-audit.png")
        href = carol.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("href")
        csv_text = carol.execute_async_script(
            "fetch(arguments[0]).then(r => r.text()).then(arguments[1])", href)
        self.assertTrue(csv_text.startswith("record,at,host,actor_or_user,source,action_or_type,target,detail\n"))
        self.assertIn(f"action,", csv_text)
        self.assertIn(f"web-01/{rid}", csv_text)

    def test_deny_with_a_comment_the_requester_reads(self):
        dave = self.sign_in("dave")
        rid = self.ask(reason="INC-8: want to look around")
        self.wait(dave, lambda d: self.card(d, rid) is not None, "the request")
        dave.find_element(By.ID, f"comment-{rid}").send_keys("use the read-only dashboard")
        self.card(dave, rid).find_element(By.CSS_SELECTOR, "button.deny").click()
        self.wait(dave, lambda d: "Denied " + rid in d.find_element(By.TAG_NAME, "main").text, "the denial notice")
        out = self.jitadm("alice", "requests", "show", rid).stdout
        self.assertIn("denied", out)
        self.assertIn("use the read-only dashboard", out)

    def test_a_post_without_the_csrf_token_is_refused(self):
        carol = self.sign_in("carol")
        rid = self.ask(reason="INC-9: csrf")
        self.wait(carol, lambda d: self.card(d, rid) is not None, "the request")
        status, body = self.session_post(carol, f"/ui/requests/{rid}/approve", {"comment": "forged"})
        self.assertEqual(status, 403, body)
        self.assertIn("CSRF", body)
        status, _ = self.session_post(carol, f"/ui/requests/{rid}/approve", {"comment": "forged", "csrf": "0" * 64})
        self.assertEqual(status, 403)
        # From the page itself, with the token's field removed.
        carol.execute_script("document.querySelector('#req-' + arguments[0] + ' input[name=csrf]').remove()", rid)
        self.card(carol, rid).find_element(By.CSS_SELECTOR, "button.approve").click()
        self.wait(carol, lambda d: "403 csrf" in d.find_element(By.TAG_NAME, "body").text, "the refusal page")
        self.assertEqual(json.loads(self.jitadm("carol", "--json", "requests", "show", rid).stdout)["state"], "pending")
        # The token is what makes it work: the same POST with it goes through.
        carol.get(self.base + "/ui/")
        token = carol.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
        status, _ = self.session_post(carol, f"/ui/requests/{rid}/deny", {"comment": "with token", "csrf": token})
        self.assertEqual(status, 303)
        self.assertEqual(json.loads(self.jitadm("carol", "--json", "requests", "show", rid).stdout)["state"], "denied")

    def test_a_requester_cannot_approve_their_own_request(self):
        erin = self.sign_in("erin", width=420)  # a phone's width
        rid = self.ask("erin", "INC-10: erin's own")
        self.wait(erin, lambda d: self.card(d, rid) is not None, "erin's own request")
        card = self.card(erin, rid)
        self.assertEqual(card.find_elements(By.CSS_SELECTOR, "button.approve"), [], "no approve button on one's own request")
        self.assertIn("Your own request", card.text)
        self.shot(erin, "authority-web-phone.png")
        token = erin.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
        status, body = self.session_post(erin, f"/ui/requests/{rid}/approve", {"csrf": token})
        self.assertEqual(status, 403, body)
        self.assertIn("approval_refused", body)
        r = self.jitadm("erin", "requests", "approve", rid, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("403 approval_refused", r.stderr)
        self.assertEqual(json.loads(self.jitadm("erin", "--json", "requests", "show", rid).stdout)["state"], "pending")

    def test_sign_in_cookie_and_headers(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.auth.port, timeout=30)
        try:
            conn.request("GET", "/ui/login")
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            csp = resp.getheader("Content-Security-Policy")
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            login = resp.getheader("Set-Cookie").split(";")[0]
            conn.request("POST", "/ui/login", body=urllib.parse.urlencode(
                {"csrf": login.split("=", 1)[1], "token": self.tokens["dave"]}),
                headers={"Cookie": login, "Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 303)
            cookies = [v for k, v in resp.getheaders() if k.lower() == "set-cookie" and v.startswith("jit_session=")]
            self.assertEqual(len(cookies), 1)
            for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
                self.assertIn(flag, cookies[0])
            conn.request("POST", "/ui/login", body=urllib.parse.urlencode({"csrf": "x", "token": self.tokens["dave"]}),
                         headers={"Cookie": login, "Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 403, "a sign-in form from elsewhere")
        finally:
            conn.close()
        drv = self.browser()
        drv.get(self.base + "/ui/login")
        self.shot(drv, "authority-web-login.png")
        drv.find_element(By.ID, "token").send_keys("jit_" + "0" * 64 + Keys.ENTER)
        self.wait(drv, lambda d: "Unknown token" in d.find_element(By.TAG_NAME, "body").text, "the refusal")


if __name__ == "__main__":
    unittest.main()
