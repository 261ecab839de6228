"""PROTOCOL.md §1-§4, the authority side, run against either implementation:

  JIT_AUTHORITY_IMPL=python  tests/authority/jit-authority (the reference)
  JIT_AUTHORITY_IMPL=cpp     authority/jit-authority (JIT_AUTHORITY_BIN)

Only what the protocol says is tested here; each implementation's own
behaviour (admin API, faults, storage) has its own tests. An implementation
is started, given hosts web-01 and web-02 with a token bound to each, and
driven through a small adapter for the few operator actions (grant, revoke,
approve, restart) whose admin API differs.

  cd tests/authority && JIT_AUTHORITY_IMPL=cpp JIT_AUTHORITY_BIN=build/authority/jit-authority \
      python3 -m unittest -v protocol_conformance
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from authority_fixture import (ADMIN, AUTHORITY, KEY_ID, TEST_KEY, TEST_PUB, UA, AuthorityProcess, Response,
                               decode_envelope, openssl_verify)

IMPL = os.environ.get("JIT_AUTHORITY_IMPL", "python")
CPP_BIN = os.environ.get("JIT_AUTHORITY_BIN", "")
HOSTS = ("web-01", "web-02")

CPP_CONFIG = """
[authority]
database = {database}
listen = 127.0.0.1:0
signing_key = {tmp}/signing.key
key_id = {key_id}
bundle_ttl = {ttl}
{extra}

[group web]
hosts = web-*

[rule anyone]
groups = web
requesters = *
approvers = *
approvals = 1
max_duration = 7d
sudo = ALL
extend = yes
max_extension = 7d
"""


class CppAuthority(AuthorityProcess):
    """authority/jit-authority with a SQLite database in a temp dir; same
    request()/poll() helpers as the reference's fixture."""

    def __init__(self, ttl=900, tmpdir=None, extra="", database=None, admin_token=None):  # pylint: disable=super-init-not-called
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="jit-authority-cpp-")
        self.own_tmp = tmpdir is None
        self.port_file = os.path.join(self.tmp, "port")
        self.config = os.path.join(self.tmp, "authority.conf")
        fresh = not os.path.exists(self.config)
        if fresh:
            with open(self.config, "w", encoding="utf-8") as f:
                f.write(CPP_CONFIG.format(tmp=self.tmp, key_id=KEY_ID, ttl=ttl, extra=extra,
                                          database=database or f"{self.tmp}/authority.db"))
            key = os.path.join(self.tmp, "signing.key")
            shutil.copyfile(TEST_KEY, key)
            os.chmod(key, 0o600)
            init = subprocess.run([CPP_BIN, "-c", self.config, "--init"], capture_output=True, text=True)
            if init.returncode != 0:
                raise RuntimeError(f"jit-authority --init: exit {init.returncode}: {init.stderr}")
            self.admin_token = admin_token or subprocess.run(
                [CPP_BIN, "-c", self.config, "add-person", "carol", "--role", "admin"],
                check=True, capture_output=True, text=True).stdout.strip()
            with open(os.path.join(self.tmp, "admin.token"), "w", encoding="utf-8") as f:
                f.write(self.admin_token)
        else:
            with open(os.path.join(self.tmp, "admin.token"), encoding="utf-8") as f:
                self.admin_token = f.read()
        self.token = None
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log_path = os.path.join(self.tmp, "authority.log")
        self.log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen([CPP_BIN, "-c", self.config, "--port-file", self.port_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()


class Impl:
    """What a test needs from an implementation beyond PROTOCOL.md."""

    def __init__(self, ttl=900):
        self.ttl = ttl
        self.tokens = {}
        self.tmp = tempfile.mkdtemp(prefix="jit-conformance-")
        self.auth = None
        self.start(first=True)

    def start(self, first=False):
        if IMPL == "cpp":
            self.auth = CppAuthority(ttl=self.ttl, tmpdir=self.tmp)
            if first:
                for h in HOSTS:
                    self.tokens[h] = self.admin("POST", "/hosts", {"host_id": h})["token"]
        else:
            if first:
                self.tokens = {h: f"token-of-{h}-0123456789" for h in HOSTS}
                with open(os.path.join(self.tmp, "tokens"), "w", encoding="utf-8") as f:
                    f.write("".join(f"{h} {t}\n" for h, t in self.tokens.items()))
            self.auth = AuthorityProcess("--token-file", os.path.join(self.tmp, "tokens"), "--state",
                                         os.path.join(self.tmp, "state.json"), "--bundle-ttl", str(self.ttl),
                                         token=False, tmpdir=self.tmp)

    def restart(self):
        self.auth.stop()
        self.start()

    def kill(self):
        self.auth.proc.send_signal(signal.SIGKILL)
        self.auth.proc.wait()
        self.auth.log.close()

    def admin(self, method, path, body=None):
        resp = self.auth.request(method, "/admin" + path, body=body, token=self.auth.admin_token)
        if resp.status >= 400:
            raise AssertionError(f"admin {method} {path}: {resp}")
        return resp.json() if resp.body.strip() else None

    def create_grant(self, host, **fields):
        body = {"user": "alice", "uid": 70001, "duration_seconds": 3600, "reason": "conformance"}
        body.update(fields)
        return self.admin("POST", f"/hosts/{host}/grants", body)["grant"]

    def revoke(self, host, grant_id):
        self.admin("POST", f"/hosts/{host}/grants/{grant_id}/revoke", {"by": "carol", "reason": "done"})

    def approve(self, host, request_id):
        if IMPL == "cpp":
            return self.admin("POST", f"/requests/{request_id}/approve", {"comment": "ok"})
        return self.admin("POST", f"/hosts/{host}/requests/{request_id}/approve", {"by": "carol"})

    def host(self, method, host, path, body=None, as_host=None, **kw):
        return self.auth.request(method, f"/v1/hosts/{host}{path}", body=body, token=self.tokens[as_host or host], **kw)

    def poll(self, host, after, wait=0, as_host=None):
        return self.host("GET", host, f"/grants?after={after}&wait={wait}", as_host=as_host)

    def close(self):
        self.auth.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def payload_of(resp):
    envelope, payload, signature = decode_envelope(resp.body)
    assert envelope["key_id"] == KEY_ID, envelope
    assert openssl_verify(payload, signature, TEST_PUB), "signature does not verify"
    return json.loads(payload)


@unittest.skipIf(IMPL == "cpp" and not os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
class Conformance(unittest.TestCase):
    ttl = 900

    def setUp(self):
        self.impl = Impl(ttl=self.ttl)
        self.addCleanup(self.impl.close)

    def current(self, host="web-01"):
        resp = self.impl.poll(host, 0)
        self.assertEqual(resp.status, 200, resp)
        return payload_of(resp), resp.body

    # §1
    def test_after_zero_gets_a_signed_bundle_at_once(self):
        p, _ = self.current()
        self.assertEqual(p["type"], "jit.grants.v1")
        self.assertEqual(p["host_id"], "web-01")
        self.assertGreaterEqual(p["revision"], 1)
        self.assertGreater(p["expires_at"], p["issued_at"])
        self.assertEqual(p["grants"], [])

    def test_a_revision_is_always_served_with_the_same_bytes(self):
        _, first = self.current()
        _, again = self.current()
        self.assertEqual(first, again)

    def test_wait_zero_answers_304_at_once_when_nothing_is_newer(self):
        p, _ = self.current()
        resp = self.impl.poll("web-01", p["revision"], wait=0)
        self.assertEqual(resp.status, 304)
        self.assertEqual(resp.body, b"")

    def test_a_change_answers_a_held_poll(self):
        p, _ = self.current()
        result = {}
        poller = threading.Thread(target=lambda: result.update(r=self.impl.poll("web-01", p["revision"], wait=30)))
        poller.start()
        time.sleep(0.5)  # let the poll be held (the test holds either way)
        grant = self.impl.create_grant("web-01")
        poller.join(40)
        resp = result["r"]
        self.assertEqual(resp.status, 200, resp)
        q = payload_of(resp)
        self.assertGreater(q["revision"], p["revision"])
        self.assertEqual([g["id"] for g in q["grants"]], [grant["id"]])
        self.assertEqual(q["host_id"], "web-01")

    def test_the_payload_is_the_complete_set_and_revoked_grants_leave_it(self):
        a = self.impl.create_grant("web-01")
        b = self.impl.create_grant("web-01", user="bob", uid=70002)
        p, _ = self.current()
        self.assertEqual(sorted(g["id"] for g in p["grants"]), sorted([a["id"], b["id"]]))
        self.impl.revoke("web-01", a["id"])
        q, _ = self.current()
        self.assertGreater(q["revision"], p["revision"])
        self.assertEqual([g["id"] for g in q["grants"]], [b["id"]])
        self.assertIn(a["id"], [r["id"] for r in q.get("revoked", [])])

    def test_bad_parameters_are_400(self):
        for query in ("after=-1", "after=abc", "after=9223372036854775808", "after=0&wait=61", "after=0&wait=x",
                      "wait=1", "after=1.5"):
            resp = self.impl.host("GET", "web-01", "/grants?" + query)
            self.assertEqual(resp.status, 400, (query, resp))
            self.assertIn("error", resp.json())
        resp = self.impl.auth.request("GET", "/v1/hosts/-bad/grants?after=0", token=self.impl.tokens["web-01"])
        self.assertIn(resp.status, (400, 403), resp)  # malformed id: 400 (or 403 when checked as another host)

    def test_a_host_reads_and_posts_only_for_itself(self):
        self.assertEqual(self.impl.poll("web-02", 0, as_host="web-01").status, 403)
        events = {"events": [{"seq": 1, "time": 1764250123, "type": "login.allowed", "user": "alice"}]}
        self.assertEqual(self.impl.host("POST", "web-02", "/events", events, as_host="web-01").status, 403)
        ask = {"user": "alice", "duration_seconds": 600, "reason": "x"}
        self.assertEqual(self.impl.host("POST", "web-02", "/requests", ask, as_host="web-01").status, 403)
        resp = self.impl.auth.request("GET", "/v1/hosts/web-01/grants?after=0", token=None)
        self.assertEqual(resp.status, 401)
        resp = self.impl.auth.request("GET", "/v1/hosts/web-01/grants?after=0", token="not-a-token")
        self.assertEqual(resp.status, 401)

    # §2
    def test_request_relay_pending_then_approved_then_in_the_bundle(self):
        ask = {"user": "alice", "uid": 70001, "login": True, "duration_seconds": 3600, "reason": "patch openssl",
               "ticket": "CHG-88", "sudo": {"run_as": "root", "commands": ["/usr/bin/apt-get"]}}
        resp = self.impl.host("POST", "web-01", "/requests", ask)
        self.assertEqual(resp.status, 201, resp)
        r = resp.json()
        self.assertEqual(r["state"], "pending")
        self.assertGreaterEqual(r["approvals_required"], 1)
        self.assertEqual(self.impl.host("GET", "web-01", f"/requests/{r['id']}").json()["state"], "pending")
        self.impl.approve("web-01", r["id"])
        view = self.impl.host("GET", "web-01", f"/requests/{r['id']}").json()
        self.assertEqual(view["state"], "approved")
        p, _ = self.current()
        grant = [g for g in p["grants"] if g["id"] == view["grant_id"]]
        self.assertEqual(len(grant), 1, p)
        self.assertEqual(grant[0]["user"], "alice")
        self.assertEqual(grant[0]["sudo"]["commands"], ["/usr/bin/apt-get"])
        self.assertEqual(grant[0]["not_after"] - grant[0]["not_before"], 3600)
        self.assertEqual(self.impl.host("GET", "web-02", f"/requests/{r['id']}", as_host="web-02").status, 404)

    @unittest.skipIf(IMPL == "python", "the reference authority does not implement §2 extends (it ignores the field)")
    def test_extends_moves_not_after_and_keeps_the_id(self):
        g = self.impl.create_grant("web-01")
        ask = {"user": "alice", "duration_seconds": 1800, "reason": "more time", "extends": g["id"]}
        r = self.impl.host("POST", "web-01", "/requests", ask).json()
        self.impl.approve("web-01", r["id"])
        p, _ = self.current()
        self.assertEqual([x["id"] for x in p["grants"]], [g["id"]])
        self.assertEqual(p["grants"][0]["not_after"], g["not_after"] + 1800)
        for bad in ("g-unknown", g["id"]):
            body = dict(ask, extends=bad, user="bob" if bad == g["id"] else "alice")
            resp = self.impl.host("POST", "web-01", "/requests", body)
            self.assertEqual(resp.status, 422, resp)
            self.assertIn("message", resp.json())

    # §3
    def test_events_are_acknowledged_and_duplicates_ignored(self):
        batch = {"events": [{"seq": 1, "time": 1764250123, "type": "login.allowed", "user": "alice"},
                            {"seq": 2, "time": 1764250124, "type": "login.denied", "user": "bob"}]}
        self.assertEqual(self.impl.host("POST", "web-01", "/events", batch).status, 204)
        self.assertEqual(self.impl.host("POST", "web-01", "/events", batch).status, 204)
        self.assertEqual(self.impl.host("POST", "web-01", "/events", {"events": [{"seq": "x"}]}).status, 400)
        self.assertEqual(self.impl.host("POST", "web-01", "/events", b"{not json").status, 400)

    # §4
    def test_a_body_over_the_limit_is_413(self):
        # Headers only: an authority may answer 413 from Content-Length alone
        # and close before reading the body.
        head = (f"POST /v1/hosts/web-01/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n"
                f"Authorization: Bearer {self.impl.tokens['web-01']}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {9 * 1024 * 1024}\r\n\r\n")
        status, _ = self.impl.auth.raw(head.encode())
        self.assertIn(" 413 ", status + " ")

    def test_revisions_survive_a_restart_without_reuse(self):
        self.impl.create_grant("web-01")
        p, before = self.current()
        self.impl.restart()
        q, after = self.current()
        self.assertGreaterEqual(q["revision"], p["revision"])
        if q["revision"] == p["revision"]:
            self.assertEqual(after, before)
        self.impl.create_grant("web-01", user="bob", uid=70002)
        r, _ = self.current()
        self.assertGreater(r["revision"], q["revision"])


class Heartbeat(Conformance.__base__):
    """A short bundle lifetime: a fresh revision comes by halfway."""

    def setUp(self):
        self.impl = Impl(ttl=4)
        self.addCleanup(self.impl.close)

    @unittest.skipIf(IMPL == "cpp" and not os.access(CPP_BIN, os.X_OK), "JIT_AUTHORITY_BIN not built")
    def test_a_new_revision_before_expiry_even_without_change(self):
        resp = self.impl.poll("web-01", 0)
        p = payload_of(resp)
        resp = self.impl.poll("web-01", p["revision"], wait=30)
        self.assertEqual(resp.status, 200, resp)
        q = payload_of(resp)
        self.assertGreater(q["revision"], p["revision"])
        self.assertEqual(q["grants"], p["grants"])
        self.assertLess(q["issued_at"], p["expires_at"])


if __name__ == "__main__":
    unittest.main()
