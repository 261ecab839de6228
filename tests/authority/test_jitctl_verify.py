"""Envelopes signed by the authority are accepted by the project's own
verifier, `jitctl bundle verify` (the same code path as jit-helperd).

CMake passes the binary in JITCTL; without it these tests skip."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from authority_fixture import KEY_ID, TEST_PUB, AuthorityProcess

JITCTL = os.environ.get("JITCTL")


@unittest.skipUnless(JITCTL and os.access(JITCTL, os.X_OK), "JITCTL is not set to a jitctl binary")
class JitctlVerifyTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.auth = AuthorityProcess()
        cls.tmp = tempfile.mkdtemp(prefix="jit-authority-jitctl-")
        cls.keys = os.path.join(cls.tmp, "trusted-keys")
        os.mkdir(cls.keys, 0o755)
        shutil.copy(TEST_PUB, os.path.join(cls.keys, KEY_ID + ".pub"))
        os.chmod(os.path.join(cls.keys, KEY_ID + ".pub"), 0o644)

    @classmethod
    def tearDownClass(cls):
        cls.auth.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fetch(self, host, after=0):
        resp = self.auth.poll(host, after)
        self.assertEqual(resp.status, 200, resp)
        envelope = json.loads(resp.body)
        path = os.path.join(self.tmp, f"{host}-{after}.json")
        with open(path, "wb") as f:
            f.write(resp.body)

        return path, json.loads(base64.b64decode(envelope["payload"]))

    def verify(self, path, host, now, *extra):
        return subprocess.run([JITCTL, "bundle", "verify", path, "--trusted-keys", self.keys,
                               "--host-id", host, "--now", str(now), *extra],
                              capture_output=True, text=True, timeout=60)

    def assertAccepted(self, path, host, now, *extra):
        proc = self.verify(path, host, now, *extra)
        self.assertEqual(proc.returncode, 0, f"jitctl rejected our bundle:\n{proc.stdout}{proc.stderr}")

    def test_bundles_through_a_grant_lifecycle_are_accepted(self):
        host = "jitctl-host"
        path, p = self.fetch(host)
        self.assertAccepted(path, host, p["issued_at"])
        self.auth.create_grant(host, **{
            "user": "alice", "uid": 70001, "display_name": "Alice Liddell — ops", "shell": "/bin/bash",
            "sudo": {"run_as": "root", "commands": ["/usr/bin/apt-get", "/usr/bin/systemctl restart nginx"]},
            "groups": ["adm"], "ticket": "INC-1", "approved_by": ["bob"], "reason": "disk full ✓",
            "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILfwxCtBxM5rAS7R6nTsvCiDdxc5uS4FplvTRfqQzg/4 a@b"]})
        g = self.auth.create_grant(host, user="bob", uid=70002, login=False,
                                   sudo={"run_as": "root", "commands": ["ALL"]})
        self.auth.admin("POST", f"/hosts/{host}/grants/{g['id']}/extend", {"extend_by": 60})
        rid = self.auth.request("POST", f"/v1/hosts/{host}/requests",
                                {"user": "carol", "duration_seconds": 600, "reason": "r"}).json()["id"]
        self.auth.admin("POST", f"/hosts/{host}/requests/{rid}/approve", {"by": "dave"})
        self.auth.admin("POST", f"/hosts/{host}/grants/{g['id']}/revoke", {"by": "eve", "reason": "done"})
        previous = path
        path, p2 = self.fetch(host, p["revision"])
        self.assertEqual(len(p2["grants"]), 2)
        self.assertEqual(len(p2["revoked"]), 1)
        self.assertAccepted(path, host, p2["issued_at"])
        self.assertAccepted(path, host, p2["issued_at"], "--previous", previous)
        # the verifier really checks: a rollback and the wrong host are rejected
        self.assertNotEqual(self.verify(previous, host, p2["issued_at"], "--previous", path).returncode, 0)
        self.assertNotEqual(self.verify(path, "other-host", p2["issued_at"]).returncode, 0)

    def test_tampered_payload_is_rejected(self):

        host = "jitctl-tamper"
        path, p = self.fetch(host)
        with open(path) as f:
            envelope = json.load(f)
        p["revision"] += 1
        envelope["payload"] = base64.b64encode(json.dumps(p, separators=(",", ":")).encode()).decode()
        with open(path, "w") as f:
            json.dump(envelope, f)
        self.assertEqual(self.verify(path, host, p["issued_at"]).returncode, 1)


if __name__ == "__main__":
    unittest.main()
