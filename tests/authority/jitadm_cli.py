"""jitadm against jit-authority (C++), as people use it: an engineer's
`request --wait` (plain lines when not a terminal) until an approver decides,
Ctrl-C leaving the request pending, refusals with the rules' reason, roles,
the action record as CSV, `--ssh-key` into the grant's ssh_authorized_keys,
`request --extend` (the grant keeps its id, its end moves) and `keys`.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority JITADM_BIN=build/authority/jitadm \
      python3 -m unittest -v jitadm_cli
"""
import csv
import io
import json
import os
import signal
import subprocess
import time
import unittest

from authority_fixture import decode_envelope
from protocol_conformance import CPP_BIN, CppAuthority

JITADM = os.environ.get("JITADM_BIN", "")


@unittest.skipUnless(CPP_BIN and JITADM and os.access(CPP_BIN, os.X_OK) and os.access(JITADM, os.X_OK),
                     "JIT_AUTHORITY_BIN / JITADM_BIN not built")
class Jitadm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.auth = CppAuthority()
        cls.addClassCleanup(cls.auth.cleanup)
        cls.tokens = {"carol": os.path.join(cls.auth.tmp, "admin.token")}
        cls.host_token = cls.jitadm("carol", "host", "add", "web-01").stdout.strip()
        for name, role in (("alice", "requester"), ("dave", "approver")):
            path = os.path.join(cls.auth.tmp, f"{name}.token")
            with open(path, "w", encoding="utf-8") as f:
                f.write(cls.jitadm("carol", "person", "add", name, "--role", role).stdout)
            cls.tokens[name] = path

    @classmethod
    def env(cls, who):
        return dict(os.environ, JITADM_URL=f"http://127.0.0.1:{cls.auth.port}", JITADM_TOKEN_FILE=cls.tokens[who])

    @classmethod
    def jitadm(cls, who, *args, check=True):
        return subprocess.run([JITADM, *args], env=cls.env(who), capture_output=True, text=True, timeout=60,
                              check=check)

    def start_wait(self):
        proc = subprocess.Popen([JITADM, "request", "web-01", "--duration", "30m", "--reason", "INC-7", "--wait"],
                                env=self.env("alice"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # "request r-… on web-01: pending (…)"
        self.assertIn("pending", first)
        return proc, first.split()[1]

    def test_request_wait_follows_until_approved_and_says_how_to_log_in(self):
        proc, rid = self.start_wait()
        self.jitadm("dave", "requests", "approve", rid, "--comment", "go")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn(f"request {rid}: approved", out)
        self.assertIn("approved by dave", out)
        self.assertIn("ssh alice@web-01", out)
        self.assertNotIn("\r", out, "plain lines when stdout is not a terminal")

    def test_ctrl_c_leaves_the_request_pending_and_says_how_to_check(self):
        proc, rid = self.start_wait()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 130)
        self.assertIn(f"jitadm requests show {rid}", out)
        shown = self.jitadm("alice", "--json", "requests", "show", rid).stdout
        self.assertIn('"state" : "pending"', shown)

    def test_refusals_carry_the_reason(self):
        r = self.jitadm("alice", "request", "web-01", "--duration", "30d", "--reason", "x", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("422 duration: access may last at most 7 d", r.stderr)
        r = self.jitadm("alice", "host", "add", "web-09", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("403 forbidden: alice is a requester; this needs admin", r.stderr)
        proc, rid = self.start_wait()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        r = self.jitadm("alice", "requests", "approve", rid, check=False)
        self.assertIn("403", r.stderr)

    def test_every_action_is_exported_as_csv(self):
        proc, rid = self.start_wait()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        self.jitadm("dave", "requests", "deny", rid, "--comment", "not now")
        rows = list(csv.DictReader(io.StringIO(self.jitadm("carol", "actions", "--format", "csv").stdout)))
        deny = [r for r in rows if r["action"] == "request.deny" and r["target"] == f"web-01/{rid}"]
        self.assertEqual(len(deny), 1, rows)
        self.assertEqual(deny[0]["actor"], "dave")
        self.assertEqual(deny[0]["source"], "127.0.0.1")
        self.assertIn("not now", deny[0]["detail"])

    def approved_grant(self, *args):
        rid = json.loads(self.jitadm("alice", "--json", "request", "web-01", *args).stdout)["id"]
        self.jitadm("dave", "requests", "approve", rid, "--comment", "ok")
        shown = json.loads(self.jitadm("alice", "--json", "requests", "show", rid).stdout)
        self.assertEqual(shown["state"], "approved")
        grants = json.loads(self.jitadm("carol", "--json", "grant", "list", "web-01").stdout)
        return rid, next(g for g in grants if g["id"] == shown["grant_id"])

    def test_ssh_key_goes_into_the_grants_ssh_authorized_keys(self):
        key = os.path.join(self.auth.tmp, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", key], check=True)
        with open(key + ".pub", encoding="utf-8") as f:
            pub = f.read().strip()
        _, grant = self.approved_grant("--duration", "1h", "--reason", "INC-8", "--ssh-key", key + ".pub")
        self.assertEqual(grant["ssh_authorized_keys"], [pub])
        # What the host is sent: the signed bundle carries it too.
        resp = self.auth.poll("web-01", 0, token=self.host_token)
        self.assertEqual(resp.status, 200, resp)
        grants = {g["id"]: g for g in json.loads(decode_envelope(resp.body)[1])["grants"]}
        self.assertEqual(grants[grant["id"]]["ssh_authorized_keys"], [pub])

    def test_request_extend_keeps_the_grant_id_and_moves_its_end(self):
        _, grant = self.approved_grant("--duration", "30m", "--reason", "INC-9")
        rid = json.loads(self.jitadm("alice", "--json", "request", "web-01", "--extend", grant["id"], "--duration", "15m",
                                     "--reason", "not done").stdout)["id"]
        self.assertEqual(json.loads(self.jitadm("dave", "--json", "requests", "show", rid).stdout)["extends"], grant["id"])
        self.jitadm("dave", "requests", "approve", rid, "--comment", "ok")
        grants = json.loads(self.jitadm("carol", "--json", "grant", "list", "web-01").stdout)
        after = [g for g in grants if g["id"] == grant["id"]]
        self.assertEqual(len(after), 1, grants)
        self.assertEqual(after[0]["not_after"], grant["not_after"] + 900)
        self.assertEqual(after[0]["state"], "active")

    def test_keys_names_the_key_in_use(self):
        out = self.jitadm("dave", "keys").stdout
        self.assertIn("signing key in use: ", out)
        keys = json.loads(self.jitadm("dave", "--json", "keys").stdout)
        self.assertIn("BEGIN PUBLIC KEY", keys["public_key"])
        self.assertEqual(set(keys["latest_bundles_by_key"]), {keys["key_id"]})


if __name__ == "__main__":
    unittest.main()
