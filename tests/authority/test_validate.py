"""Input validation: every bad input is refused with a message naming the field."""

import unittest

from jitauthority import validate
from jitauthority.errors import AuthorityError

GOOD = {"id": "g-1", "user": "alice", "login": True, "not_before": 100, "not_after": 200,
        "reason": "r", "requested_by": "alice", "approved_by": []}


class GrantValidationTests(unittest.TestCase):
    def test_good_grant_passes_in_payload_order(self):
        g = validate.validate_grant(dict(reversed(list(GOOD.items()))))
        self.assertEqual(list(g), [f for f in validate.GRANT_FIELDS if f in GOOD])

    def test_bad_fields_are_named(self):
        cases = {
            "id": ("bad id!", "grant.id"),
            "user": ("Alice", "grant.user"),
            "uid": (999, "grant.uid"),
            "login": (1, "grant.login"),
            "not_after": (100, "grant.not_after"),
            "not_before": (-1, "grant.not_before"),
            "reason": ("", "grant.reason"),
            "approved_by": ("bob", "grant.approved_by"),
            "display_name": ("a:b", "grant.display_name"),
            "shell": ("bash", "grant.shell"),
            "groups": (["adm", "adm"], "grant.groups"),
            "sudo": ({"run_as": "root", "commands": ["apt-get"]}, "grant.sudo.commands[0]"),
            "ticket": ("x" * 129, "grant.ticket"),
            "ssh_authorized_keys": (["onlyoneword"], "grant.ssh_authorized_keys[0]"),
            "surprise": (1, "unknown field"),
        }
        for field, (value, where) in cases.items():
            with self.subTest(field=field), self.assertRaises(AuthorityError) as e:
                validate.validate_grant(dict(GOOD, **{field: value}))
            self.assertIn(where, e.exception.message)
            self.assertEqual(e.exception.status, 400)

    def test_booleans_are_not_integers(self):
        with self.assertRaisesRegex(AuthorityError, "grant.uid"):
            validate.validate_grant(dict(GOOD, uid=True))

    def test_missing_required_field(self):
        for field in validate.REQUIRED_GRANT_FIELDS:
            g = dict(GOOD)
            del g[field]
            with self.subTest(field=field), self.assertRaisesRegex(AuthorityError, f"grant.{field}: is required"):
                validate.validate_grant(g)


class RequestValidationTests(unittest.TestCase):
    def test_request_fields(self):
        ok = {"user": "alice", "duration_seconds": 60, "reason": "r", "future_field": 1}
        self.assertEqual(validate.validate_access_request(ok, 3600),
                         {"user": "alice", "login": True, "duration_seconds": 60, "reason": "r"})
        bad = [({"duration_seconds": 60, "reason": "r"}, "request.user"),
               (dict(ok, duration_seconds=0), "request.duration_seconds"),
               (dict(ok, duration_seconds=3601), "request.duration_seconds"),
               (dict(ok, uid="70001"), "request.uid"),
               (dict(ok, sudo={"run_as": "root"}), "request.sudo.commands"),
               ({"user": "alice", "duration_seconds": 60}, "request.reason"),
               ([], "request")]
        for body, where in bad:
            with self.subTest(body=body), self.assertRaisesRegex(AuthorityError, where):
                validate.validate_access_request(body, 3600)


class EventValidationTests(unittest.TestCase):
    def test_events(self):
        self.assertEqual(validate.validate_events({"events": [{"seq": 0}, {"seq": 5, "x": 1}]}),
                         [{"seq": 0}, {"seq": 5, "x": 1}])
        for body, where in [({}, "body"), ({"events": {}}, "events"), ({"events": [1]}, r"events\[0\]"),
                            ({"events": [{"seq": 1}, {"type": "x"}]}, r"events\[1\].seq"),
                            ({"events": [{"seq": -1}]}, r"events\[0\].seq"),
                            ({"events": [{"seq": 1.0}]}, r"events\[0\].seq")]:
            with self.subTest(body=body), self.assertRaisesRegex(AuthorityError, where):
                validate.validate_events(body)


class JsonTests(unittest.TestCase):
    def test_strict_json(self):
        self.assertEqual(validate.parse_json(b'{"a":1}'), {"a": 1})
        for body in (b'{"a":1,"a":2}', b'{"a":NaN}', b"\xff", b"{", b""):
            with self.subTest(body=body), self.assertRaises(AuthorityError) as e:
                validate.parse_json(body)
            self.assertEqual(e.exception.code, "invalid_json")

    def test_host_id(self):
        for good in ("a", "web-01", "A.b_c-1", "x" * 128):
            validate.check_host_id(good)
        for bad in ("", "-a", ".a", "a/b", "a b", "x" * 129, "a\n", "ü"):
            with self.subTest(bad=bad), self.assertRaises(AuthorityError):
                validate.check_host_id(bad)


if __name__ == "__main__":
    unittest.main()
