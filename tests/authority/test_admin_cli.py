"""jit-authority-admin, the CLI the daemon tests and the demo drive."""

import json
import os
import subprocess
import tempfile
import unittest

from authority_fixture import ADMIN, TEST_KEY, VECTORS, AuthorityProcess, decode_envelope, openssl_verify
from jitauthority.admin_cli import parse_duration, parse_time


class CliTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.auth = AuthorityProcess(admin_token="cli-admin-token")
        cls.token_file = os.path.join(cls.auth.tmp, "admin-token")

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()

    def cli(self, *args, ok=True):
        proc = subprocess.run([ADMIN, "--port-file", self.auth.port_file, "--token-file", self.token_file,
                               *args], capture_output=True, text=True, timeout=60)
        if ok:
            self.assertEqual(proc.returncode, 0, f"{args}: {proc.stderr}")
        return proc

    def grants(self, host):
        resp = self.auth.poll(host, 0)
        _, payload, sig = decode_envelope(resp.body)
        self.assertTrue(openssl_verify(payload, sig))
        return json.loads(payload)


class GrantCliTests(CliTestCase):
    def test_create_extend_revoke(self):
        host = "cli-host"
        gid = self.cli("grant", "create", "--host", host, "--user", "alice", "--uid", "70001",
                       "--sudo-command", "/usr/bin/apt-get", "--sudo-command", "/usr/bin/systemctl restart nginx",
                       "--group", "adm", "--duration", "30m", "--reason", "INC-1: disk", "--ticket", "INC-1",
                       "--requested-by", "alice", "--approved-by", "bob",
                       "--ssh-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL alice@laptop").stdout.strip()
        p = self.grants(host)
        self.assertEqual(len(p["grants"]), 1)
        g = p["grants"][0]
        self.assertEqual(g["id"], gid)
        self.assertEqual((g["user"], g["uid"], g["login"], g["groups"], g["approved_by"], g["ticket"]),
                         ("alice", 70001, True, ["adm"], ["bob"], "INC-1"))
        self.assertEqual(g["sudo"], {"run_as": "root",
                                     "commands": ["/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"]})
        self.assertEqual(g["not_after"] - g["not_before"], 1800)

        self.cli("grant", "extend", "--host", host, gid, "--add", "1h")
        self.assertEqual(self.grants(host)["grants"][0]["not_after"], g["not_after"] + 3600)
        self.cli("grant", "extend", "--host", host, gid, "--not-after", str(g["not_before"] + 60))
        self.assertEqual(self.grants(host)["grants"][0]["not_after"], g["not_before"] + 60)

        out = json.loads(self.cli("grant", "revoke", "--host", host, gid, "--by", "carol",
                                  "--reason", "done early").stdout)
        self.assertEqual(out["revoked"]["id"], gid)
        p = self.grants(host)
        self.assertEqual(p["grants"], [])
        self.assertEqual([(r["id"], r["by"], r["reason"]) for r in p["revoked"]], [(gid, "carol", "done early")])
        listed = json.loads(self.cli("grant", "list", "--host", host).stdout)
        self.assertEqual((listed["grants"], listed["revoked"][0]["id"]), ([], gid))

    def test_explicit_window_and_id(self):
        host = "cli-window"
        self.cli("grant", "create", "--host", host, "--user", "bob", "--id", "g-demo",
                 "--not-before", "1790000000", "--not-after", "2026-11-27T18:00:00Z", "--no-login")
        g = self.grants(host)["grants"][0]
        self.assertEqual((g["id"], g["login"], g["not_before"]), ("g-demo", False, 1790000000))
        self.assertEqual(g["not_after"], 1795802400)

    def test_errors_exit_non_zero_with_the_reason(self):
        proc = self.cli("grant", "create", "--host", "cli-err", "--user", "Not Valid", ok=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("grant.user", proc.stderr)
        proc = self.cli("grant", "revoke", "--host", "cli-err", "g-missing", ok=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("not_found", proc.stderr)
        proc = subprocess.run([ADMIN, "--port-file", self.auth.port_file, "status"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("unauthorized", proc.stderr)


class RequestEventFaultCliTests(CliTestCase):
    def test_request_approve_and_deny(self):
        host = "cli-req"
        rid = self.auth.request("POST", f"/v1/hosts/{host}/requests",
                                {"user": "alice", "duration_seconds": 600, "reason": "r"}).json()["id"]
        pending = json.loads(self.cli("request", "list", "--host", host, "--state", "pending").stdout)
        self.assertEqual([r["id"] for r in pending["requests"]], [rid])
        gid = self.cli("request", "approve", "--host", host, rid, "--by", "bob").stdout.strip()
        self.assertEqual([g["id"] for g in self.grants(host)["grants"]], [gid])
        rid2 = self.auth.request("POST", f"/v1/hosts/{host}/requests",
                                 {"user": "alice", "duration_seconds": 600, "reason": "r"}).json()["id"]
        self.cli("request", "deny", "--host", host, rid2, "--by", "bob", "--message", "no")
        shown = json.loads(self.cli("request", "show", "--host", host, rid2).stdout)
        self.assertEqual((shown["state"], shown["message"]), ("denied", "no"))

    def test_events_and_faults(self):
        host = "cli-events"
        self.cli("fault", "set", "--endpoint", "events", "--mode", "error", "--count", "1", "--host", host)
        self.assertEqual(len(json.loads(self.cli("fault", "list").stdout)["rules"]), 1)
        body = {"events": [{"seq": 1, "type": "x"}]}
        self.assertEqual(self.auth.request("POST", f"/v1/hosts/{host}/events", body).status, 503)
        self.assertEqual(self.auth.request("POST", f"/v1/hosts/{host}/events", body).status, 204)
        listed = json.loads(self.cli("events", "list", "--host", host).stdout)
        self.assertEqual([e["seq"] for e in listed["events"]], [1])
        self.cli("events", "clear", "--host", host)
        self.assertEqual(json.loads(self.cli("events", "list", "--host", host).stdout)["count"], 0)
        envelope_file = os.path.join(VECTORS, "envelope.json")
        self.cli("fault", "set", "--endpoint", "grants", "--mode", "envelope", "--envelope-file", envelope_file,
                 "--host", "cli-forged")
        with open(envelope_file, "rb") as f:
            self.assertEqual(self.auth.poll("cli-forged", 0).body, f.read().strip())
        self.cli("fault", "set", "--endpoint", "grants", "--mode", "error", "--count", "5")
        self.cli("fault", "clear")
        self.assertEqual(json.loads(self.cli("fault", "list").stdout)["rules"], [])

    def test_hosts_bundle_reissue_status(self):
        host = "cli-hosts"
        self.cli("host", "add", host)
        before = json.loads(self.cli("host", "show", host).stdout)["revision"]
        after = json.loads(self.cli("reissue", "--host", host).stdout)["revision"]
        self.assertEqual(after, before + 1)
        jumped = json.loads(self.cli("reissue", "--host", host, "--min-revision", "50").stdout)["revision"]
        self.assertEqual(jumped, 50)
        after = json.loads(self.cli("reissue", "--host", host).stdout)["revision"]
        self.assertEqual(after, 51)
        envelope = self.cli("bundle", "--host", host, "--envelope").stdout
        _, payload, sig = decode_envelope(envelope.encode())
        self.assertTrue(openssl_verify(payload, sig))
        self.assertEqual(json.loads(payload)["revision"], after)
        self.assertIn(host, [h["host_id"] for h in json.loads(self.cli("host", "list").stdout)["hosts"]])
        self.assertEqual(json.loads(self.cli("status").stdout)["key_id"], "authority-test")


class LocalCommandTests(unittest.TestCase):
    def run_cli(self, *args):
        proc = subprocess.run([ADMIN, *args], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def test_envelope_and_decode_reproduce_the_vector(self):
        out = self.run_cli("envelope", "--key", TEST_KEY, "--key-id", "authority-test",
                           os.path.join(VECTORS, "payload.json"))
        with open(os.path.join(VECTORS, "envelope.json")) as f:
            self.assertEqual(json.loads(out), json.load(f))
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(out)
            f.flush()
            with open(os.path.join(VECTORS, "payload.json")) as vec:
                self.assertEqual(self.run_cli("decode", f.name), vec.read() + "\n")

    def test_genkey_writes_a_usable_pair(self):
        with tempfile.TemporaryDirectory() as d:
            key, pub = os.path.join(d, "k.pem"), os.path.join(d, "demo.pub")
            self.run_cli("genkey", "--private", key, "--public", pub)
            out = self.run_cli("envelope", "--key", key, "--key-id", "demo", os.path.join(VECTORS, "payload.json"))
            _, payload, sig = decode_envelope(out.encode())
            self.assertTrue(openssl_verify(payload, sig, public_key=pub))
            self.assertFalse(openssl_verify(payload, sig))  # not the test key

    def test_time_and_duration_parsing(self):
        self.assertEqual([parse_duration(x) for x in ("3600", "90s", "15m", "1h30m", "2d")],
                         [3600, 90, 900, 5400, 172800])
        now = 1_800_000_000
        self.assertEqual([parse_time(x, now) for x in ("now", "now+1h", "+10m", "-10m", "1764250000",
                                                        "2025-11-27T13:26:40Z")],
                         [now, now + 3600, now + 600, now - 600, 1764250000, 1764250000])
        for bad in ("", "0", "1x", "h"):
            with self.subTest(bad=bad), self.assertRaises(Exception):
                parse_duration(bad)
        with self.assertRaises(Exception):
            parse_time("yesterday", now)


if __name__ == "__main__":
    unittest.main()
