"""The loopback admin API (/admin/...), as methods mixed into the HTTP handler."""

from . import validate
from .errors import AuthorityError


class AdminApi:

    def admin_status(self):
        self._send_json(200, self.authority.status())

    def admin_hosts(self):
        self._send_json(200, {"hosts": self.authority.list_hosts()})

    def admin_host_add(self):
        body = self._json_body()
        if not isinstance(body, dict) or "host_id" not in body:
            raise AuthorityError("invalid_request", 'body must be {"host_id": ID}')
        self._send_json(201, self.authority.add_host(body["host_id"]))

    def admin_host(self, host_id):
        self._send_json(200, self.authority.host_summary(host_id))

    def admin_bundle(self, host_id):
        self._send_json(200, self.authority.current_bundle(host_id))

    def admin_reissue(self, host_id):
        body = self._json_body(optional=True)
        if not isinstance(body, dict) or set(body) - {"min_revision"}:
            raise AuthorityError("invalid_request", 'reissue: body must be {} or {"min_revision": N}')
        floor = body.get("min_revision", 0)
        if not validate.is_int(floor) or not 0 <= floor < 2 ** 63:
            raise AuthorityError("invalid_request", "reissue.min_revision: must be a non-negative integer")
        self._send_json(200, {"host_id": host_id, "revision": self.authority.reissue(host_id, floor)})

    def admin_grants(self, host_id):
        self._send_json(200, self.authority.list_grants(host_id))

    def admin_grant_create(self, host_id):
        self._send_json(201, self.authority.create_grant(host_id, self._json_body()))

    def admin_grant_delete(self, host_id, grant_id):
        self._send_json(200, self.authority.delete_grant(host_id, grant_id))

    def admin_grant_revoke(self, host_id, grant_id):
        by, reason = validate.validate_revocation_note(self._json_body(optional=True), "revoke")
        self._send_json(200, self.authority.revoke_grant(host_id, grant_id, by, reason))

    def admin_grant_extend(self, host_id, grant_id):
        body = self._json_body()
        given = [k for k in ("not_after", "duration_seconds", "extend_by") if k in body] \
            if isinstance(body, dict) else []
        if len(given) != 1 or set(body) != set(given):
            raise AuthorityError("invalid_request",
                                 "extend: give exactly one of not_after, duration_seconds, extend_by")
        value = body[given[0]]
        if not validate.is_int(value):
            raise AuthorityError("invalid_request", f"extend.{given[0]}: must be an integer")
        if given[0] == "not_after":
            not_after = value
        elif given[0] == "duration_seconds":
            not_after = self.authority.now() + value
        else:
            not_after = self.authority.grant_not_after(host_id, grant_id) + value
        self._send_json(200, self.authority.change_grant_window(host_id, grant_id, not_after))

    def admin_requests_all(self):
        query = self._query(("host", "state"))
        self._send_json(200, {"requests": self.authority.list_requests(query.get("host"), query.get("state"))})

    def admin_requests(self, host_id):
        query = self._query(("state",))
        self._send_json(200, {"requests": self.authority.list_requests(host_id, query.get("state"))})

    def admin_request_get(self, host_id, request_id):
        self._send_json(200, self.authority.get_request(host_id, request_id, admin=True))

    def admin_request_approve(self, host_id, request_id):
        by, _ = validate.validate_revocation_note(self._json_body(optional=True), "approve")
        self._send_json(200, self.authority.approve_request(host_id, request_id, by))

    def admin_request_deny(self, host_id, request_id):
        by, message = validate.validate_revocation_note(self._json_body(optional=True), "deny")
        self._send_json(200, self.authority.deny_request(host_id, request_id, by, message))

    def admin_events(self, host_id):
        self._send_json(200, self.authority.list_events(host_id))

    def admin_events_clear(self, host_id):
        self.authority.clear_events(host_id)
        self._send(204)

    def admin_faults(self):
        self._send_json(200, self.app.faults.list())

    def admin_fault_add(self):
        self._send_json(201, self.app.faults.add(self._json_body()))

    def admin_faults_clear(self):
        self.app.faults.clear()
        self._send(204)
