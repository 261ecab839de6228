"""The host-facing endpoints of PROTOCOL.md (§1 grants, §2 requests, §3
events), as methods mixed into the HTTP handler; fault injection applies here."""

import time

from . import validate
from .errors import AuthorityError

DECIMAL_RE = validate.DECIMAL_RE


class HostApi:
    def _fault(self, endpoint, host_id):
        """Applies the fault rules that act before the work; returns the rule."""
        rule = self.app.faults.take(endpoint, host_id)
        if rule is None:
            return None
        self.app.log(f"fault injected on {endpoint} for {host_id}: {rule['mode']}")
        if rule["mode"] == "error":
            raise AuthorityError("injected_fault", f"fault injected by the admin ({rule['status']})",
                                 status=rule["status"])
        if rule["mode"] == "drop-before":
            self._drop()
        if rule["mode"] == "delay":
            time.sleep(rule["seconds"])
        return rule

    @staticmethod
    def _after_work(rule):
        return rule is not None and rule["mode"] == "drop-after"


    def host_grants(self, host_id):
        query = self._query(("after", "wait"))
        if "after" not in query:
            raise AuthorityError("invalid_parameter", "query parameter 'after' is required")
        if not DECIMAL_RE.fullmatch(query["after"]) or int(query["after"]) >= 2 ** 63:
            raise AuthorityError("invalid_parameter", f"after={query['after']!r} is not a revision (0 or more)")
        wait = query.get("wait", "0")
        if not DECIMAL_RE.fullmatch(wait) or int(wait) > 60:
            raise AuthorityError("invalid_parameter", f"wait={wait!r} must be an integer 0..60")
        rule = self._fault("grants", host_id)
        if rule is not None and rule["mode"] == "envelope":
            self._send(200, rule["envelope"].encode("utf-8"), headers=(("X-Jit-Injected", "envelope"),))
            return
        result = self.authority.wait_for_bundle(host_id, int(query["after"]),
                                                min(int(wait), self.app.max_wait),
                                                self.headers.get("User-Agent", ""))
        if self._after_work(rule):
            self._drop()
        if result is None:
            self._send(304)
            return
        revision, envelope = result
        self._send(200, envelope, headers=(("X-Jit-Revision", str(revision)),))

    def host_request_create(self, host_id):
        body = self._json_body()
        rule = self._fault("requests", host_id)
        view = self.authority.submit_request(host_id, body)
        if self._after_work(rule):
            self._drop()
        self._send_json(201, view, headers=(("Location", f"/v1/hosts/{host_id}/requests/{view['id']}"),))

    def host_request_get(self, host_id, request_id):
        rule = self._fault("requests", host_id)
        view = self.authority.get_request(host_id, request_id)
        if self._after_work(rule):
            self._drop()
        self._send_json(200, view)

    def host_request_cancel(self, host_id, request_id):
        view = self.authority.cancel_request(host_id, request_id, "host " + host_id)
        self._send_json(200, view)

    def host_events(self, host_id):
        events = validate.validate_events(self._json_body("events"))
        rule = self._fault("events", host_id)
        self.authority.add_events(host_id, events)
        if self._after_work(rule):
            self._drop()
        self._send(204)
