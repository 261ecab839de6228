"""The authority's state machine, driven with a fake clock (no HTTP, no sleeps)."""

import json
import os
import tempfile
import threading
import unittest

from authority_fixture import TEST_KEY, decode_envelope, openssl_verify
from jitauthority import validate
from jitauthority.errors import AuthorityError
from jitauthority.signing import Signer
from jitauthority.state import Authority


class Clock:
    def __init__(self, now=1_800_000_000):
        self.now = now

    def __call__(self):
        return self.now


class StateTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.signer = Signer(TEST_KEY, "authority-test")

    @classmethod
    def tearDownClass(cls):
        cls.signer.close()

    def make(self, **kw):
        self.clock = Clock()
        kw.setdefault("bundle_ttl", 900)
        return Authority(self.signer, clock=self.clock, **kw)

    def bundle(self, authority, host, after=0):
        result = authority.wait_for_bundle(host, after, 0)
        self.assertIsNotNone(result, f"no bundle newer than {after}")
        revision, body = result
        envelope, payload, signature = decode_envelope(body)
        self.assertTrue(openssl_verify(payload, signature), "envelope does not verify")
        self.assertEqual(envelope["key_id"], "authority-test")
        return revision, payload, json.loads(payload)


class RevisionTests(StateTestCase):
    def test_first_bundle_is_revision_1_with_no_grants(self):
        a = self.make()
        revision, _, p = self.bundle(a, "web-01")
        self.assertEqual(revision, 1)
        self.assertEqual((p["type"], p["host_id"], p["revision"], p["grants"], p["revoked"]),
                         ("jit.grants.v1", "web-01", 1, [], []))
        self.assertEqual(p["expires_at"] - p["issued_at"], 900)

    def test_nothing_newer_gives_none_and_a_revision_keeps_its_bytes(self):
        a = self.make()
        _, first, _ = self.bundle(a, "web-01")
        self.assertIsNone(a.wait_for_bundle("web-01", 1, 0))
        self.clock.now += 10
        _, again, _ = self.bundle(a, "web-01")
        self.assertEqual(first, again)

    def test_every_change_is_a_new_higher_revision(self):
        a = self.make()
        a.add_host("web-01")
        g = a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})["grant"]
        self.assertEqual(self.bundle(a, "web-01")[0], 2)
        a.change_grant_window("web-01", g["id"], g["not_after"] + 60)
        self.assertEqual(self.bundle(a, "web-01")[0], 3)
        a.revoke_grant("web-01", g["id"], "carol", "done")
        self.assertEqual(self.bundle(a, "web-01")[0], 4)
        self.assertEqual(a.reissue("web-01"), 5)

    def test_tick_reissues_at_half_life_with_the_same_grants(self):
        a = self.make(bundle_ttl=100)
        a.create_grant("web-01", {"user": "alice", "duration_seconds": 600, "reason": "r"})
        rev, _, before = self.bundle(a, "web-01")
        self.clock.now += 49
        a.tick()
        self.assertIsNone(a.wait_for_bundle("web-01", rev, 0))
        self.clock.now += 1
        a.tick()
        new_rev, _, after = self.bundle(a, "web-01", rev)
        self.assertEqual(new_rev, rev + 1)
        self.assertEqual(after["grants"], before["grants"])
        self.assertEqual(after["issued_at"], before["issued_at"] + 50)
        self.assertLess(after["issued_at"], before["expires_at"])

    def test_a_waiting_poll_is_woken_by_a_change(self):
        a = self.make()
        a.add_host("web-01")
        results = []
        poll = threading.Thread(target=lambda: results.append(a.wait_for_bundle("web-01", 1, 60)))
        poll.start()
        a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})
        poll.join(30)
        self.assertFalse(poll.is_alive(), "the poll was not woken by the new grant")
        self.assertEqual(results[0][0], 2)

    def test_close_ends_waiting_polls(self):
        a = self.make()
        a.add_host("web-01")
        errors = []

        def poll():
            try:
                a.wait_for_bundle("web-01", 1, 60)
            except AuthorityError as e:
                errors.append(e.code)
        t = threading.Thread(target=poll)
        t.start()
        a.close()
        t.join(30)
        self.assertEqual(errors, ["shutting_down"])


class GrantTests(StateTestCase):
    def test_revoked_grant_leaves_grants_and_is_listed_in_revoked(self):
        a = self.make()
        keep = a.create_grant("web-01", {"user": "bob", "duration_seconds": 60, "reason": "r"})["grant"]
        gone = a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})["grant"]
        a.revoke_grant("web-01", gone["id"], "carol", "done early")
        _, _, p = self.bundle(a, "web-01")
        self.assertEqual([g["id"] for g in p["grants"]], [keep["id"]])
        self.assertEqual(p["revoked"], [{"id": gone["id"], "at": self.clock.now, "by": "carol",
                                         "reason": "done early"}])
        with self.assertRaises(AuthorityError) as e:
            a.revoke_grant("web-01", gone["id"], "carol", "again")
        self.assertEqual(e.exception.code, "not_found")

    def test_revocations_age_out_after_the_retention(self):
        a = self.make(revoked_retention=100)
        g = a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})["grant"]
        a.revoke_grant("web-01", g["id"], "carol", "x")
        self.clock.now += 100
        a.reissue("web-01")
        self.assertEqual(self.bundle(a, "web-01")[2]["revoked"], [])

    def test_extension_keeps_the_id_and_moves_not_after(self):
        a = self.make()
        g = a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})["grant"]
        a.change_grant_window("web-01", g["id"], g["not_after"] + 3600)
        grants = self.bundle(a, "web-01")[2]["grants"]
        self.assertEqual(len(grants), 1)
        self.assertEqual(grants[0]["id"], g["id"])
        self.assertEqual(grants[0]["not_after"], g["not_after"] + 3600)
        with self.assertRaisesRegex(AuthorityError, "not_after"):
            a.change_grant_window("web-01", g["id"], g["not_before"])

    def test_admin_grant_defaults_and_full_fields(self):
        a = self.make()
        g = a.create_grant("web-01", {
            "id": "g-full", "user": "alice", "uid": 70001, "display_name": "Alice L", "shell": "/bin/bash",
            "login": True, "sudo": {"run_as": "root", "commands": ["/usr/bin/apt-get"]}, "groups": ["adm"],
            "not_before": self.clock.now, "not_after": self.clock.now + 60, "reason": "r", "ticket": "T-1",
            "requested_by": "alice", "approved_by": ["bob"],
            "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL alice@laptop"]})["grant"]
        self.assertEqual(list(g), list(validate.GRANT_FIELDS))
        minimal = a.create_grant("web-01", {"user": "bob", "reason": "r", "duration_seconds": 5})["grant"]
        self.assertEqual((minimal["login"], minimal["requested_by"], minimal["approved_by"],
                          minimal["not_after"] - minimal["not_before"]), (True, "bob", [], 5))
        self.assertRegex(minimal["id"], r"^g-[0-9a-f]{8}$")

    def test_conflicting_ids_and_uids_are_refused(self):
        a = self.make()
        a.create_grant("web-01", {"id": "g-1", "user": "alice", "uid": 70001, "duration_seconds": 5, "reason": "r"})
        cases = [
            {"id": "g-1", "user": "bob", "duration_seconds": 5, "reason": "r"},
            {"user": "alice", "uid": 70002, "duration_seconds": 5, "reason": "r"},
            {"user": "bob", "uid": 70001, "duration_seconds": 5, "reason": "r"},
        ]
        for body in cases:
            with self.subTest(body=body), self.assertRaises(AuthorityError) as e:
                a.create_grant("web-01", body)
            self.assertEqual(e.exception.code, "conflict")
        # the same user with the same uid in a second grant is fine
        a.create_grant("web-01", {"user": "alice", "uid": 70001, "duration_seconds": 5, "reason": "r"})

    def test_hosts_are_independent(self):
        a = self.make()
        a.create_grant("web-01", {"user": "alice", "duration_seconds": 5, "reason": "r"})
        self.assertEqual(self.bundle(a, "db-01")[2]["grants"], [])
        self.assertEqual(len(self.bundle(a, "web-01")[2]["grants"]), 1)


class RequestTests(StateTestCase):
    BODY = {"user": "alice", "uid": 70001, "login": True,
            "sudo": {"run_as": "root", "commands": ["/usr/bin/apt-get"]},
            "duration_seconds": 3600, "reason": "patch openssl", "ticket": "CHG-88"}

    def test_approved_request_becomes_a_grant_in_the_next_bundle(self):
        a = self.make()
        view = a.submit_request("web-01", dict(self.BODY))
        self.assertEqual(view, {"id": "r-1", "state": "pending", "approvals_required": 1,
                                "decided_by": [], "approved_by": []})
        rev = self.bundle(a, "web-01")[0]
        a.approve_request("web-01", "r-1", "bob")
        status = a.get_request("web-01", "r-1")
        self.assertEqual((status["state"], status["decided_by"]), ("approved", ["bob"]))
        _, _, p = self.bundle(a, "web-01", rev)
        self.assertEqual(len(p["grants"]), 1)
        g = p["grants"][0]
        self.assertEqual(g["id"], status["grant_id"])
        self.assertEqual((g["user"], g["uid"], g["sudo"], g["ticket"], g["requested_by"], g["approved_by"]),
                         ("alice", 70001, self.BODY["sudo"], "CHG-88", "alice", ["bob"]))
        self.assertEqual(g["not_after"] - g["not_before"], 3600)

    def test_two_approvals_required_and_no_self_approval(self):
        a = self.make(approvals_required=2)
        a.submit_request("web-01", dict(self.BODY))
        for by in ("alice",):
            with self.assertRaisesRegex(AuthorityError, "cannot approve"):
                a.approve_request("web-01", "r-1", by)
        self.assertEqual(a.approve_request("web-01", "r-1", "bob")["state"], "pending")
        with self.assertRaisesRegex(AuthorityError, "already approved"):
            a.approve_request("web-01", "r-1", "bob")
        self.assertEqual(a.approve_request("web-01", "r-1", "carol")["state"], "approved")
        with self.assertRaisesRegex(AuthorityError, "not pending"):
            a.deny_request("web-01", "r-1", "dave", "no")

    def test_an_approval_that_cannot_become_a_grant_is_not_counted(self):
        a = self.make()
        a.create_grant("web-01", {"user": "alice", "uid": 70002, "duration_seconds": 60, "reason": "r"})
        a.submit_request("web-01", dict(self.BODY))  # alice as uid 70001: conflicts
        with self.assertRaises(AuthorityError) as e:
            a.approve_request("web-01", "r-1", "bob")
        self.assertEqual(e.exception.code, "conflict")
        status = a.get_request("web-01", "r-1")
        self.assertEqual((status["state"], status["approved_by"]), ("pending", []))

    def test_auto_approval_with_zero_approvals(self):
        a = self.make(approvals_required=0)
        view = a.submit_request("web-01", dict(self.BODY))
        self.assertEqual(view["state"], "approved")
        self.assertEqual(self.bundle(a, "web-01")[2]["grants"][0]["approved_by"], [])
        conflicting = a.submit_request("web-01", dict(self.BODY, uid=70009))
        self.assertEqual(conflicting["state"], "denied")
        self.assertIn("uid", conflicting["message"])

    def test_deny_cancel_and_expiry(self):
        a = self.make(request_ttl=100)
        for _ in range(3):
            a.submit_request("web-01", dict(self.BODY))
        a.deny_request("web-01", "r-1", "bob", "not now")
        a.cancel_request("web-01", "r-2", "alice")
        self.clock.now += 100
        a.tick()
        states = [a.get_request("web-01", f"r-{i}")["state"] for i in (1, 2, 3)]
        self.assertEqual(states, ["denied", "cancelled", "expired"])
        self.assertEqual(a.get_request("web-01", "r-1")["message"], "not now")
        self.assertEqual(self.bundle(a, "web-01")[2]["grants"], [])

    def test_a_request_belongs_to_its_host(self):
        a = self.make()
        a.submit_request("web-01", dict(self.BODY))
        with self.assertRaises(AuthorityError) as e:
            a.get_request("db-01", "r-1")
        self.assertEqual(e.exception.code, "not_found")


class EventTests(StateTestCase):
    def test_events_are_deduplicated_by_host_and_seq(self):
        a = self.make()
        a.add_events("web-01", [{"seq": 1, "type": "a"}, {"seq": 2, "type": "b"}])
        a.add_events("web-01", [{"seq": 2, "type": "b"}, {"seq": 3, "type": "c"}, {"seq": 3, "type": "c"}])
        a.add_events("web-01", [{"seq": 1, "type": "changed"}])
        a.add_events("db-01", [{"seq": 1, "type": "other host"}])
        listed = a.list_events("web-01")
        self.assertEqual([e["seq"] for e in listed["events"]], [1, 2, 3])
        self.assertEqual(listed["events"][0]["type"], "a")
        self.assertEqual((listed["received"], listed["duplicates"], listed["conflicts"]), (6, 3, 1))
        self.assertEqual(a.list_events("db-01")["count"], 1)


class PersistenceTests(StateTestCase):
    def test_restart_keeps_grants_requests_events_and_revisions_monotonic(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            a = self.make(state_path=path)
            g = a.create_grant("web-01", {"user": "alice", "duration_seconds": 60, "reason": "r"})["grant"]
            a.submit_request("web-01", dict(RequestTests.BODY))
            a.add_events("web-01", [{"seq": 7}])
            rev = self.bundle(a, "web-01")[0]
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)

            b = Authority(self.signer, clock=self.clock, state_path=path)
            self.assertTrue(b.load())
            new_rev, _, p = self.bundle(b, "web-01", rev)
            self.assertGreater(new_rev, rev)
            self.assertEqual([x["id"] for x in p["grants"]], [g["id"]])
            self.assertEqual(b.get_request("web-01", "r-1")["state"], "pending")
            self.assertEqual(b.submit_request("web-01", dict(RequestTests.BODY))["id"], "r-2")
            b.add_events("web-01", [{"seq": 7}])
            self.assertEqual(b.list_events("web-01")["count"], 1)

    def test_events_are_appended_not_rewritten_and_survive_restart(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            a = self.make(state_path=path)
            a.add_events("web-01", [{"seq": 1, "type": "a"}, {"seq": 2, "type": "b"}])
            a.add_events("web-01", [{"seq": 2, "type": "b"}, {"seq": 3, "type": "c"}])
            a.add_events("db-01", [{"seq": 1, "type": "other"}])
            with open(path, "rb") as f:
                self.assertNotIn(b'"type"', f.read())  # events are not in the state file
            with open(path + ".events", "rb") as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 4)  # the duplicate seq 2 was not appended again
            self.assertEqual(os.stat(path + ".events").st_mode & 0o777, 0o600)
            # A crash in the middle of an append leaves a cut line: ignored.
            with open(path + ".events", "ab") as f:
                f.write(b'{"host_id":"web-01","event":{"seq":4')
            b = Authority(self.signer, clock=self.clock, state_path=path)
            self.assertTrue(b.load())
            self.assertEqual([e["type"] for e in b.list_events("web-01")["events"]], ["a", "b", "c"])
            self.assertEqual(b.list_events("db-01")["count"], 1)
            b.clear_events("web-01")
            c = Authority(self.signer, clock=self.clock, state_path=path)
            self.assertTrue(c.load())
            self.assertEqual(c.list_events("web-01")["count"], 0)
            self.assertEqual(c.list_events("db-01")["events"][0]["type"], "other")

    def test_state_files_with_events_inside_still_load(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            a = self.make(state_path=path)
            a.add_events("web-01", [{"seq": 5, "type": "old"}])
            os.unlink(path + ".events")
            with open(path) as f:
                doc = json.load(f)
            doc["hosts"][0]["events"] = [{"seq": 5, "type": "old"}]  # as written before the events log
            with open(path, "w") as f:
                json.dump(doc, f)
            b = Authority(self.signer, clock=self.clock, state_path=path)
            self.assertTrue(b.load())
            self.assertEqual(b.list_events("web-01")["events"], [{"seq": 5, "type": "old"}])

    def test_a_corrupt_events_log_is_an_error_naming_the_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            a = self.make(state_path=path)
            a.add_events("web-01", [{"seq": 1}])
            with open(path + ".events", "ab") as f:
                f.write(b'[1, 2]\n')
            b = Authority(self.signer, clock=self.clock, state_path=path)
            with self.assertRaises(ValueError) as e:
                b.load()
            self.assertIn(path + ".events line 2", str(e.exception))


if __name__ == "__main__":
    unittest.main()
