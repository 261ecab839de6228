"""jit-authority's webhooks against local receivers: a request created,
approved, denied and a grant revoked are posted to the hooks of the host's
groups (Slack/Mattermost {"text"} and the plain form), signed with
HMAC-SHA256 over the body; a failing receiver is retried with backoff (the
same delivery id and bytes), and a receiver that hangs delays no decision.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v webhooks_delivery
"""
import hashlib
import hmac
import json
import os
import queue
import shutil
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from protocol_conformance import CPP_BIN, CppAuthority

SECRET = "webhook-secret-0123456789abcdef"
WAIT = 60  # seconds: an upper bound, never a measured duration


class Receiver:
    """An HTTP server recording every POST; `script` says what to answer per path."""

    def __init__(self):
        self.posts = queue.Queue()
        self.script = {}  # path -> list of status codes (then 200)
        self.hold = {}    # path -> threading.Event the handler waits for before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.put((self.path, dict(self.headers), body))
                gate = receiver.hold.get(self.path)
                if gate is not None:
                    gate.wait(WAIT)
                codes = receiver.script.get(self.path) or []
                status = codes.pop(0) if codes else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def next(self, path, about):
        """The next POST to `path` whose body names `about` (others are kept for later)."""
        kept = []
        try:
            while True:
                got = self.posts.get(timeout=WAIT)
                if got[0] == path and about.encode() in got[2]:
                    return got
                kept.append(got)
        finally:
            for k in kept:
                self.posts.put(k)

    def stop(self):
        for gate in self.hold.values():
            gate.set()
        self.server.shutdown()
        self.server.server_close()


@unittest.skipUnless(CPP_BIN and os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class Webhooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        cls.addClassCleanup(cls.rx.stop)
        cls.tmp = tempfile.mkdtemp(prefix="jit-webhooks-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        secret = os.path.join(cls.tmp, "hook.secret")
        with open(secret, "w", encoding="utf-8") as f:
            f.write(SECRET + "\n")
        extra = f"""
[group web-hooks]
hosts = web-*
webhook = {cls.rx.url('/slack')} {cls.rx.url('/flaky')}
webhook_secret_file = {secret}

[group web-plain]
hosts = web-*
webhook = {cls.rx.url('/plain')}
webhook_format = plain
webhook_secret_file = {secret}

[group db]
hosts = db-*
webhook = {cls.rx.url('/db')}
webhook_format = plain

[rule db]
groups = db
requesters = *
approvers = *
"""
        cls.auth = CppAuthority(tmpdir=cls.tmp, extra=extra)
        cls.addClassCleanup(cls.auth.stop)
        cls.auth.admin("POST", "/hosts", {"host_id": "web-01"})
        cls.auth.admin("POST", "/hosts", {"host_id": "db-01"})

    def ask(self, host="web-01", reason="INC-7: disk full"):
        resp = self.auth.request("POST", "/admin/requests", {"host_id": host, "duration_seconds": 1800,
                                                               "reason": reason, "ticket": "INC-7"})
        self.assertEqual(resp.status, 201, resp)
        return resp.json()["id"]

    def person(self, name, role="approver"):
        resp = self.auth.request("POST", "/admin/people", {"name": name, "role": role})
        if resp.status == 409:
            return self.tokens[name]
        self.assertEqual(resp.status, 201, resp)
        Webhooks.tokens = getattr(Webhooks, "tokens", {})
        Webhooks.tokens[name] = resp.json()["token"]
        return Webhooks.tokens[name]

    def verify(self, headers, body):
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.assertTrue(hmac.compare_digest(headers["X-Jit-Signature"], want), headers)

    def test_created_approved_denied_revoked_reach_both_forms_signed(self):
        dave = self.person("dave")
        rid = self.ask()
        path, headers, body = self.rx.next("/slack", rid)
        self.verify(headers, body)
        self.assertEqual(headers["X-Jit-Event"], "request.created")
        text = json.loads(body)["text"]
        self.assertIn("carol asks for login as carol on web-01 for 30 min", text)
        self.assertIn("INC-7: disk full", text)
        self.assertIn(rid, text)
        path, headers, body = self.rx.next("/plain", rid)
        self.verify(headers, body)
        plain = json.loads(body)
        self.assertEqual(plain["event"], "request.created")
        self.assertEqual(plain["request"]["id"], rid)
        self.assertEqual(plain["request"]["request"]["reason"], "INC-7: disk full")

        resp = self.auth.request("POST", f"/admin/requests/{rid}/approve", {"comment": "go"}, token=dave)
        self.assertEqual(resp.status, 200, resp)
        grant = resp.json()["grant_id"]
        _, headers, body = self.rx.next("/plain", grant)
        self.assertEqual(headers["X-Jit-Event"], "request.approved")
        self.assertEqual(json.loads(body)["request"]["approvals"][0]["comment"], "go")
        _, headers, body = self.rx.next("/slack", grant)
        self.assertIn("approved by dave", json.loads(body)["text"])

        self.auth.admin("POST", f"/hosts/web-01/grants/{grant}/revoke", {"reason": "done"})
        _, headers, body = self.rx.next("/plain", '"reason":"done"')
        self.assertEqual(headers["X-Jit-Event"], "grant.revoked")
        self.assertEqual(json.loads(body)["grant"]["reason"], "done")
        self.verify(headers, body)

        rid2 = self.ask(reason="INC-8")
        self.rx.next("/plain", rid2)
        self.auth.request("POST", f"/admin/requests/{rid2}/deny", {"comment": "not now"}, token=dave)
        _, headers, body = self.rx.next("/plain", "not now")
        self.assertEqual(headers["X-Jit-Event"], "request.denied")
        self.assertEqual(json.loads(body)["request"]["message"], "not now")

    def test_per_group_a_db_host_reaches_only_the_db_hook_unsigned(self):
        rid = self.ask("db-01", "INC-9")
        path, headers, body = self.rx.next("/db", rid)
        self.assertEqual(json.loads(body)["request"]["id"], rid)
        self.assertNotIn("X-Jit-Signature", headers, "the db group names no secret")
        self.assertEqual(json.loads(body)["host_id"], "db-01")

    def test_a_failing_receiver_is_retried_and_a_hanging_one_blocks_no_decision(self):
        dave = self.person("dave")
        gate = threading.Event()
        self.rx.hold["/flaky"] = gate
        self.rx.script["/flaky"] = [500, 503]
        rid = self.ask(reason="INC-10: retry")
        first = self.rx.next("/flaky", rid)  # held: the receiver has not answered
        # The decision does not wait for the hanging receiver.
        resp = self.auth.request("POST", f"/admin/requests/{rid}/approve", {"comment": "ok"}, token=dave, timeout=WAIT)
        self.assertEqual(resp.status, 200, resp)
        self.assertFalse(gate.is_set())
        del self.rx.hold["/flaky"]
        gate.set()  # now it answers 500, then 503, then 200
        second = self.rx.next("/flaky", rid)
        third = self.rx.next("/flaky", rid)
        self.assertEqual(first[1]["X-Jit-Delivery"], second[1]["X-Jit-Delivery"])
        self.assertEqual(first[2], second[2], "a retry sends the same bytes")
        self.assertEqual(second[1]["X-Jit-Delivery"], third[1]["X-Jit-Delivery"])
        self.assertEqual(first[1]["X-Jit-Event"], "request.created")
        approved = self.rx.next("/flaky", rid)  # in order, after the retried one
        self.assertEqual(approved[1]["X-Jit-Event"], "request.approved")
        log = self.auth.read_log()
        self.assertIn("failed (HTTP 500); retry 1", log)
        self.assertIn("failed (HTTP 503); retry 2", log)


if __name__ == "__main__":
    unittest.main()
