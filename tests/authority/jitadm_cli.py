"""jitadm against jit-authority (C++), as people use it: an engineer's
`request --wait` (plain lines when not a terminal) until an approver decides,
Ctrl-C leaving the request pending, refusals with the rules' reason, roles,
and the action record as CSV.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority JITADM_BIN=build/authority/jitadm \
      python3 -m unittest -v jitadm_cli
"""
import csv
import io
import os
import signal
import subprocess
import time
import unittest

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
        cls.jitadm("carol", "host", "add", "web-01")
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


if __name__ == "__main__":
    unittest.main()
