"""The host API of PROTOCOL.md over HTTP, against a running jit-authority."""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import unittest

from authority_fixture import (AUTHORITY, KEY_ID, TEST_KEY, VECTORS, AuthorityProcess, decode_envelope,
                               openssl_verify)


class HttpTestCase(unittest.TestCase):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.auth = AuthorityProcess(*cls.extra_args)

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()

    def bundle(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.headers["Content-Type"], "application/json")
        envelope, payload, signature = decode_envelope(resp.body)
        self.assertEqual(set(envelope), {"key_id", "payload", "signature"})
        self.assertEqual(envelope["key_id"], KEY_ID)
        self.assertTrue(openssl_verify(payload, signature), "envelope does not verify with openssl")
        return payload, json.loads(payload)

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        body = resp.json()
        self.assertEqual(body["error"], code, body)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"])


class GrantsPollTests(HttpTestCase):
    def test_after_0_answers_at_once_with_revision_1_and_no_grants(self):
        _, p = self.bundle(self.auth.poll("fresh-host", 0, wait=60))
        self.assertEqual((p["type"], p["host_id"], p["revision"], p["grants"], p["revoked"]),
                         ("jit.grants.v1", "fresh-host", 1, [], []))
        self.assertGreater(p["expires_at"], p["issued_at"])

    def test_nothing_newer_gives_304_without_body(self):
        _, p = self.bundle(self.auth.poll("quiet-host", 0))
        resp = self.auth.poll("quiet-host", p["revision"], wait=1)
        self.assertEqual(resp.status, 304)
        self.assertEqual(resp.body, b"")

    def test_same_revision_same_bytes(self):
        first, p = self.bundle(self.auth.poll("same-host", 0))
        again, _ = self.bundle(self.auth.poll("same-host", p["revision"] - 1))
        self.assertEqual(first, again)

    def test_a_change_wakes_a_waiting_poll(self):
        _, p = self.bundle(self.auth.poll("wake-host", 0))
        results = []
        poll = threading.Thread(target=lambda: results.append(self.auth.poll("wake-host", p["revision"], wait=60)))
        poll.start()
        # the poll is waiting (or about to); either way the grant must reach it as a 200
        grant = self.auth.create_grant("wake-host", user="alice")
        poll.join(90)
        self.assertFalse(poll.is_alive())
        _, newer = self.bundle(results[0])
        self.assertGreater(newer["revision"], p["revision"])
        self.assertEqual([g["id"] for g in newer["grants"]], [grant["id"]])

    def test_revisions_are_monotonic_and_revocation_moves_grant_to_revoked(self):
        host = "revoke-host"
        _, p1 = self.bundle(self.auth.poll(host, 0))
        g1 = self.auth.create_grant(host, user="alice")
        g2 = self.auth.create_grant(host, user="bob", uid=70002)
        _, p2 = self.bundle(self.auth.poll(host, p1["revision"]))
        self.assertGreater(p2["revision"], p1["revision"])
        self.assertEqual({g["id"] for g in p2["grants"]}, {g1["id"], g2["id"]})
        self.auth.admin("POST", f"/hosts/{host}/grants/{g1['id']}/revoke", {"by": "carol", "reason": "done early"})
        _, p3 = self.bundle(self.auth.poll(host, p2["revision"]))
        self.assertGreater(p3["revision"], p2["revision"])
        self.assertEqual([g["id"] for g in p3["grants"]], [g2["id"]])
        self.assertEqual([(r["id"], r["by"], r["reason"]) for r in p3["revoked"]],
                         [(g1["id"], "carol", "done early")])

    def test_extension_keeps_the_grant_id(self):
        host = "extend-host"
        g = self.auth.create_grant(host, user="alice")
        for body, expected in [({"extend_by": 600}, g["not_after"] + 600),
                               ({"not_after": g["not_after"] + 7200}, g["not_after"] + 7200)]:
            self.auth.admin("POST", f"/hosts/{host}/grants/{g['id']}/extend", body)
            _, p = self.bundle(self.auth.poll(host, 0))
            self.assertEqual([(x["id"], x["not_after"]) for x in p["grants"]], [(g["id"], expected)])
        resp = self.auth.request("POST", f"/admin/hosts/{host}/grants/{g['id']}/extend", {"not_after": 1})
        self.assertError(resp, 400, "invalid_request")
        resp = self.auth.request("POST", f"/admin/hosts/{host}/grants/{g['id']}/extend",
                                 {"not_after": 1, "extend_by": 1})
        self.assertError(resp, 400, "invalid_request")

    def test_bad_poll_parameters(self):
        base = "/v1/hosts/web-01/grants"
        for query in ("", "?wait=1", "?after=-1", "?after=x", "?after=1.5", "?after=0&wait=61",
                      "?after=0&wait=-1", "?after=0&after=1", "?after=99999999999999999999"):
            with self.subTest(query=query):
                self.assertError(self.auth.request("GET", base + query), 400, "invalid_parameter")
        for host in ("-bad", "bad%20id", "x" * 129, "a%2Fb"):
            with self.subTest(host=host):
                self.assertError(self.auth.request("GET", f"/v1/hosts/{host}/grants?after=0"),
                                 400, "invalid_host_id")

    def test_unknown_path_and_wrong_method(self):
        self.assertError(self.auth.request("GET", "/v1/hosts/web-01/nothing"), 404, "not_found")
        self.assertError(self.auth.request("GET", "/v2/hosts/web-01/grants?after=0"), 404, "not_found")
        resp = self.auth.request("POST", "/v1/hosts/web-01/grants?after=0", b"{}")
        self.assertError(resp, 405, "method_not_allowed")
        self.assertEqual(resp.headers["Allow"], "GET")

    def test_malformed_http_gets_a_json_error(self):
        too_many_headers = b"GET /v1 HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n"
        for raw, status, code in (
                (too_many_headers, " 431 ", "headers_too_large"),
                (b"OPTIONS /v1/hosts/web-01/grants HTTP/1.1\r\nHost: x\r\n\r\n", " 501 ", "not_implemented")):
            with self.subTest(raw=raw[:40]):
                line, body = self.auth.raw(raw)
                self.assertIn(status, line)
                self.assertEqual(json.loads(body)["error"], code)
        # a broken request line is answered HTTP/0.9 style: the JSON error alone
        line, _ = self.auth.raw(b"GET /x HTTP/1.x\r\n\r\n")
        self.assertEqual(json.loads(line)["error"], "invalid_request")

    def test_user_agent_is_required(self):
        self.assertError(self.auth.poll("web-01", 0, ua=None), 400, "missing_user_agent")
        self.assertError(self.auth.poll("web-01", 0, ua="noversion"), 400, "missing_user_agent")


class AuthTests(HttpTestCase):
    def test_bearer_token_required(self):
        self.assertError(self.auth.poll("web-01", 0, token=None), 401, "unauthorized")
        resp = self.auth.poll("web-01", 0, token="wrong")
        self.assertError(resp, 401, "unauthorized")
        self.assertIn("Bearer", resp.headers["WWW-Authenticate"])
        self.assertError(self.auth.request("GET", "/v1/hosts/web-01/grants?after=0",
                                           headers={"Authorization": "Basic eDp5"}, token=None),
                         401, "unauthorized")
        # authentication comes before anything else, even for unknown paths and bad input
        self.assertError(self.auth.request("GET", "/v1/nothing", token=None), 401, "unauthorized")
        self.assertError(self.auth.request("POST", "/v1/hosts/web-01/events", b"{", token=None),
                         401, "unauthorized")
        self.bundle(self.auth.poll("web-01", 0))

    def test_host_bound_token_only_serves_its_host(self):
        self.bundle(self.auth.poll("web-02", 0, token="bound-token-web-02"))
        self.assertError(self.auth.poll("web-01", 0, token="bound-token-web-02"), 403, "forbidden")


class RequestRelayTests(HttpTestCase):
    BODY = {"user": "alice", "uid": 70001, "login": True,
            "sudo": {"run_as": "root", "commands": ["/usr/bin/apt-get"]},
            "duration_seconds": 3600, "reason": "patch openssl", "ticket": "CHG-88"}

    def test_request_approve_flow(self):
        host = "req-host"
        _, p = self.bundle(self.auth.poll(host, 0))
        resp = self.auth.request("POST", f"/v1/hosts/{host}/requests", self.BODY)
        self.assertEqual(resp.status, 201, resp)
        created = resp.json()
        self.assertEqual((created["state"], created["approvals_required"]), ("pending", 1))
        rid = created["id"]
        self.assertEqual(resp.headers["Location"], f"/v1/hosts/{host}/requests/{rid}")
        status = self.auth.request("GET", f"/v1/hosts/{host}/requests/{rid}").json()
        self.assertEqual(status["state"], "pending")
        pending = self.auth.admin("GET", f"/hosts/{host}/requests?state=pending")["requests"]
        self.assertEqual([r["id"] for r in pending], [rid])
        self.assertEqual(pending[0]["request"]["reason"], "patch openssl")
        self.assertEqual(self.auth.request("POST", f"/admin/hosts/{host}/requests/{rid}/approve",
                                           {"by": "alice"}).status, 409)
        self.auth.admin("POST", f"/hosts/{host}/requests/{rid}/approve", {"by": "bob"})
        status = self.auth.request("GET", f"/v1/hosts/{host}/requests/{rid}").json()
        self.assertEqual((status["state"], status["decided_by"]), ("approved", ["bob"]))
        _, p2 = self.bundle(self.auth.poll(host, p["revision"]))
        self.assertEqual([(g["id"], g["user"], g["approved_by"]) for g in p2["grants"]],
                         [(status["grant_id"], "alice", ["bob"])])

    def test_deny_and_cancel(self):
        host = "deny-host"
        rid = self.auth.request("POST", f"/v1/hosts/{host}/requests", self.BODY).json()["id"]
        self.auth.admin("POST", f"/hosts/{host}/requests/{rid}/deny", {"by": "bob", "message": "not today"})
        status = self.auth.request("GET", f"/v1/hosts/{host}/requests/{rid}").json()
        self.assertEqual((status["state"], status["decided_by"], status["message"]),
                         ("denied", ["bob"], "not today"))
        rid2 = self.auth.request("POST", f"/v1/hosts/{host}/requests", self.BODY).json()["id"]
        self.assertEqual(self.auth.request("DELETE", f"/v1/hosts/{host}/requests/{rid2}").json()["state"],
                         "cancelled")
        self.assertError(self.auth.request("GET", f"/v1/hosts/other-host/requests/{rid}"), 404, "not_found")

    def test_bad_request_bodies(self):
        path = "/v1/hosts/req-host/requests"
        self.assertError(self.auth.request("POST", path, b"{not json"), 400, "invalid_json")
        self.assertError(self.auth.request("POST", path, dict(self.BODY, user="Root!")), 400, "invalid_request")
        self.assertError(self.auth.request("POST", path, dict(self.BODY, duration_seconds="1h")),
                         400, "invalid_request")
        self.assertError(self.auth.request("POST", path, b""), 400, "invalid_json")
        for framing in (b"", b"Transfer-Encoding: chunked\r\n"):
            status, body = self.auth.raw(
                b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n"
                b"Authorization: Bearer " + self.auth.token.encode() + b"\r\n" + framing +
                b"Connection: close\r\n\r\n")
            self.assertIn(" 411 ", status)
            self.assertEqual(json.loads(body)["error"], "length_required")
        self.assertError(self.auth.request("POST", path, b"x" * (300 * 1024)), 413, "payload_too_large")


class EventUploadTests(HttpTestCase):
    def upload(self, host, seqs):
        return self.auth.request("POST", f"/v1/hosts/{host}/events",
                                 {"events": [{"seq": s, "type": "login.allowed", "user": "alice"} for s in seqs]})

    def listed(self, host):
        return self.auth.admin("GET", f"/hosts/{host}/events")

    def test_events_are_stored_once(self):
        host = "events-host"
        self.assertEqual(self.upload(host, [1, 2, 3]).status, 204)
        self.assertEqual(self.upload(host, [3, 4]).status, 204)
        self.assertEqual(self.upload(host, [1, 2, 3, 4]).status, 204)
        got = self.listed(host)
        self.assertEqual([e["seq"] for e in got["events"]], [1, 2, 3, 4])
        self.assertEqual((got["received"], got["duplicates"]), (9, 5))

    def test_bad_upload_stores_nothing(self):
        host = "events-bad"
        resp = self.auth.request("POST", f"/v1/hosts/{host}/events", {"events": [{"seq": 1}, {"noseq": 2}]})
        self.assertError(resp, 400, "invalid_request")
        self.assertIn("events[1].seq", resp.json()["message"])
        self.upload(host, [5])
        self.assertEqual([e["seq"] for e in self.listed(host)["events"]], [5])

    def test_drop_after_store_then_retry_loses_and_duplicates_nothing(self):
        host = "events-drop"
        self.auth.admin("POST", "/faults", {"endpoint": "events", "mode": "drop-after", "host": host})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.upload(host, [1, 2])  # no answer: the connection closes
        self.assertEqual([x["seq"] for x in self.listed(host)["events"]], [1, 2])  # stored before the drop
        self.assertEqual(self.upload(host, [1, 2]).status, 204)  # the host's retry
        got = self.listed(host)
        self.assertEqual([x["seq"] for x in got["events"]], [1, 2])
        self.assertEqual(got["duplicates"], 2)

    def test_injected_503_for_the_next_n_uploads(self):
        host = "events-503"
        self.auth.admin("POST", "/hosts", {"host_id": host})
        self.auth.admin("POST", "/faults", {"endpoint": "events", "mode": "error", "count": 2, "host": host})
        for _ in range(2):
            resp = self.upload(host, [1])
            self.assertError(resp, 503, "injected_fault")
            self.assertIn("Retry-After", resp.headers)
        self.assertEqual(self.listed(host)["count"], 0)
        self.assertEqual(self.upload(host, [1]).status, 204)
        self.assertEqual(self.listed(host)["count"], 1)

    def test_drop_before_on_grants_and_requests(self):
        host = "grants-drop"
        self.auth.admin("POST", "/faults", {"endpoint": "grants", "mode": "drop-before", "host": host})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.auth.poll(host, 0)
        self.bundle(self.auth.poll(host, 0))
        faults = self.auth.admin("GET", "/faults")
        self.assertEqual(faults["rules"], [])
        self.assertGreaterEqual(faults["fired"]["grants"], 1)

    def test_envelope_fault_serves_given_bytes_once(self):
        host = "forged-host"
        with open(os.path.join(VECTORS, "envelope-tampered.json"), "rb") as f:
            forged = f.read().strip()
        _, p = self.bundle(self.auth.poll(host, 0))
        self.auth.admin("POST", "/faults", {"endpoint": "grants", "mode": "envelope", "host": host,
                                            "envelope": forged.decode()})
        resp = self.auth.poll(host, p["revision"], wait=1)  # served at once, whatever after says
        self.assertEqual((resp.status, resp.body), (200, forged))
        self.assertEqual(self.auth.poll(host, p["revision"], wait=1).status, 304)

    def test_reissue_with_a_revision_floor(self):
        host = "floor-host"
        self.bundle(self.auth.poll(host, 0))
        self.assertEqual(self.auth.admin("POST", f"/hosts/{host}/reissue", {"min_revision": 100})["revision"], 100)
        _, p = self.bundle(self.auth.poll(host, 99))
        self.assertEqual(p["revision"], 100)
        self.assertEqual(self.auth.admin("POST", f"/hosts/{host}/reissue", {"min_revision": 5})["revision"], 101)
        self.assertError(self.auth.request("POST", f"/admin/hosts/{host}/reissue", {"min_revision": -1}),
                         400, "invalid_request")

    def test_bad_fault_rules(self):
        for body in ({"endpoint": "nope", "mode": "error"}, {"endpoint": "events", "mode": "explode"},
                     {"endpoint": "events", "mode": "error", "count": 0},
                     {"endpoint": "events", "mode": "delay"},
                     {"endpoint": "events", "mode": "envelope", "envelope": "{}"},
                     {"endpoint": "grants", "mode": "envelope"}):
            with self.subTest(body=body):
                self.assertError(self.auth.request("POST", "/admin/faults", body), 400, "invalid_request")


class AdminApiTests(HttpTestCase):
    def test_hosts_status_bundle_reissue_and_last_poll(self):
        host = "admin-host"
        self.auth.admin("POST", "/hosts", {"host_id": host})
        _, p = self.bundle(self.auth.poll(host, 0))
        shown = self.auth.admin("GET", f"/hosts/{host}")
        self.assertEqual((shown["revision"], shown["last_poll"]["after"]), (p["revision"], 0))
        self.assertEqual(shown["last_poll"]["user_agent"], "jit-authority-tests/1.0")
        rev = self.auth.admin("POST", f"/hosts/{host}/reissue")["revision"]
        self.assertEqual(rev, p["revision"] + 1)
        current = self.auth.admin("GET", f"/hosts/{host}/bundle")
        self.assertEqual(current["payload"]["revision"], rev)
        polled, _ = self.bundle(self.auth.poll(host, p["revision"]))
        _, served, _ = decode_envelope(json.dumps(current["envelope"]).encode())
        self.assertEqual(served, polled)
        self.assertIn(host, [h["host_id"] for h in self.auth.admin("GET", "/hosts")["hosts"]])
        self.assertEqual(self.auth.admin("GET", "/status")["key_id"], KEY_ID)

    def test_delete_removes_without_revocation_record(self):
        host = "delete-host"
        g = self.auth.create_grant(host)
        self.auth.admin("DELETE", f"/hosts/{host}/grants/{g['id']}")
        _, p = self.bundle(self.auth.poll(host, 0))
        self.assertEqual((p["grants"], p["revoked"]), ([], []))
        self.assertError(self.auth.request("DELETE", f"/admin/hosts/{host}/grants/{g['id']}"), 404, "not_found")

    def test_bad_admin_input(self):
        self.assertError(self.auth.request("POST", "/admin/hosts/web-01/grants", {"user": "alice"}),
                         400, "invalid_request")
        self.assertError(self.auth.request("GET", "/admin/hosts/never-seen"), 404, "not_found")
        self.assertError(self.auth.request("GET", "/admin/requests?state=bogus"), 400, "invalid_parameter")


class AdminTokenTests(HttpTestCase):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.auth = AuthorityProcess(admin_token="admin-secret")

    def test_admin_token_required_and_host_token_is_not_enough(self):
        self.assertError(self.auth.request("GET", "/admin/status", token=None), 401, "unauthorized")
        self.assertError(self.auth.request("GET", "/admin/status", token=self.auth.token), 401, "unauthorized")
        self.assertEqual(self.auth.request("GET", "/admin/status").status, 200)


class ReissueTests(HttpTestCase):
    extra_args = ("--bundle-ttl", "20", "--reissue-after", "1")

    def test_a_new_revision_comes_before_expiry_even_without_changes(self):
        host = "ttl-host"
        g = self.auth.create_grant(host)
        _, p = self.bundle(self.auth.poll(host, 0))
        _, newer = self.bundle(self.auth.poll(host, p["revision"], wait=30))
        self.assertGreater(newer["revision"], p["revision"])
        self.assertEqual(newer["grants"], p["grants"])
        self.assertEqual([x["id"] for x in newer["grants"]], [g["id"]])
        self.assertEqual(newer["expires_at"] - newer["issued_at"], 20)
        self.assertLess(newer["issued_at"], p["expires_at"])


class LifecycleTests(unittest.TestCase):
    def test_sigterm_exits_cleanly_even_with_a_poll_waiting(self):
        auth = AuthorityProcess()
        self.addCleanup(auth.cleanup)
        auth.poll("web-01", 0)
        results = []

        def poll():
            try:
                results.append(auth.poll("web-01", 1, wait=60).status)
            except OSError as e:
                results.append(e)
        t = threading.Thread(target=poll)
        t.start()
        self.assertEqual(auth.stop(), 0, auth.read_log())
        t.join(30)
        self.assertFalse(t.is_alive())

    def test_restart_with_state_file_keeps_revisions_monotonic(self):
        with tempfile.TemporaryDirectory() as tmp:
            state = os.path.join(tmp, "state.json")
            first = AuthorityProcess("--state", state, tmpdir=tmp)
            g = first.create_grant("web-01")
            first.request("POST", "/v1/hosts/web-01/events", {"events": [{"seq": 1}]})
            _, before, _ = decode_envelope(first.poll("web-01", 0).body)
            rev = json.loads(before)["revision"]
            self.assertEqual(first.stop(), 0)

            second = AuthorityProcess("--state", state, tmpdir=tmp)
            self.addCleanup(second.stop)
            resp = second.poll("web-01", rev, wait=0)
            self.assertEqual(resp.status, 200, resp)
            _, after, sig = decode_envelope(resp.body)
            self.assertTrue(openssl_verify(after, sig))
            p = json.loads(after)
            self.assertGreater(p["revision"], rev)
            self.assertEqual([x["id"] for x in p["grants"]], [g["id"]])
            self.assertEqual(second.admin("GET", "/hosts/web-01/events")["count"], 1)

    def test_refuses_non_loopback_and_bad_options(self):
        for args in (["--listen", "0.0.0.0:0"], ["--listen", "192.168.1.1:0"], ["--listen", "[::]:0"],
                     ["--listen", "127.0.0.1:0", "--tls-cert", "x"],
                     ["--listen", "127.0.0.1:0", "--bundle-ttl", "10", "--reissue-after", "10"]):
            with self.subTest(args=args):
                proc = subprocess.run([AUTHORITY, "--key", TEST_KEY, "--key-id", KEY_ID] + args,
                                      capture_output=True, text=True, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("jit-authority", proc.stderr)

    def test_port_file_names_a_listening_loopback_port(self):
        auth = AuthorityProcess()
        self.addCleanup(auth.cleanup)
        with socket.create_connection(("127.0.0.1", auth.port), timeout=10):
            pass


if __name__ == "__main__":
    unittest.main()
