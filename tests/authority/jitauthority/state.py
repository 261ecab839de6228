"""The authority's state: per-host revisions and signed bundles, grants,
access requests and uploaded audit events.

Every public method takes the one lock; long polls wait on the condition
variable tied to it and are woken by every new revision. Every change to what a
host may do publishes a new revision (PROTOCOL.md §1): revisions start at 1,
only ever grow (also across restarts when a state file is used), and each
revision's payload bytes and envelope are built once and then served as is.
"""

import json
import os
import secrets
import threading
import time

from . import validate
from .errors import AuthorityError

PAYLOAD_TYPE = "jit.grants.v1"
STATE_FORMAT = "jit-authority-state.v1"
REQUEST_STATES = ("pending", "approved", "denied", "expired", "cancelled")


class HostState:
    def __init__(self, host_id):
        self.host_id = host_id
        self.revision = 0
        self.issued_at = 0
        self.expires_at = 0
        self.payload = b""
        self.envelope = b""
        self.grants = {}        # id -> grant, in payload field order
        self.revoked = []       # {"id", "at", "by", "reason"}
        self.events = {}        # seq -> event as first received
        self.event_stats = {"uploads": 0, "received": 0, "duplicates": 0, "conflicts": 0}
        self.last_poll = None   # {"at", "after", "wait", "user_agent"}

    def summary(self):
        return {
            "host_id": self.host_id,
            "revision": self.revision,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "grants": len(self.grants),
            "revoked": len(self.revoked),
            "events": len(self.events),
            "last_poll": self.last_poll,
        }


class Authority:
    def __init__(self, signer, *, clock=time.time, bundle_ttl=900, reissue_after=None,
                 approvals_required=1, request_ttl=3600, revoked_retention=86400,
                 max_request_duration=7 * 86400, state_path=None, log=None):
        if bundle_ttl < 2:
            raise ValueError("bundle lifetime must be at least 2 seconds")
        if reissue_after is None:
            reissue_after = bundle_ttl // 2
        if not 1 <= reissue_after < bundle_ttl:
            raise ValueError("re-issue interval must be at least 1 second and below the bundle lifetime")
        if approvals_required < 0:
            raise ValueError("approvals required must be >= 0")
        self.signer = signer
        self.clock = clock
        self.bundle_ttl = bundle_ttl
        self.reissue_after = reissue_after
        self.approvals_required = approvals_required
        self.request_ttl = request_ttl
        self.revoked_retention = revoked_retention
        self.max_request_duration = max_request_duration
        self.state_path = state_path
        self.log = log or (lambda message: None)
        self.cond = threading.Condition(threading.Lock())
        self.hosts = {}
        self.requests = {}      # id -> record (see _request_view for the public part)
        self.next_request = 1
        self.closed = False
        self.started_at = self.now()

    # ---- time, ids, publishing ------------------------------------------------

    def now(self):
        return int(self.clock())

    def _new_grant_id(self):
        while True:
            grant_id = "g-" + secrets.token_hex(4)
            if not self._grant_id_used(grant_id):
                return grant_id

    def _grant_id_used(self, grant_id):
        for host in self.hosts.values():
            if grant_id in host.grants or any(r["id"] == grant_id for r in host.revoked):
                return True
        return False

    def _host(self, host_id, create=True):
        validate.check_host_id(host_id)
        host = self.hosts.get(host_id)
        if host is None:
            if not create:
                raise AuthorityError("not_found", f"unknown host {host_id!r}")
            host = HostState(host_id)
            self.hosts[host_id] = host
            self._publish(host, "new host")
        return host

    def _build_payload(self, host, revision, issued_at):
        return validate.encode_canonical({
            "type": PAYLOAD_TYPE,
            "host_id": host.host_id,
            "revision": revision,
            "issued_at": issued_at,
            "expires_at": issued_at + self.bundle_ttl,
            "grants": list(host.grants.values()),
            "revoked": list(host.revoked),
        })

    def _publish(self, host, why, min_revision=0):
        """Signs the host's current grants as the next revision (at least
        min_revision) and wakes polls."""
        now = self.now()
        host.revoked = [r for r in host.revoked if r["at"] + self.revoked_retention > now]
        revision = max(host.revision + 1, min_revision)
        payload = self._build_payload(host, revision, now)
        envelope = self.signer.envelope(payload)
        host.revision, host.issued_at, host.expires_at = revision, now, now + self.bundle_ttl
        host.payload, host.envelope = payload, envelope
        self.log(f"host {host.host_id}: revision {revision} ({why}, {len(host.grants)} grants)")
        self.cond.notify_all()
        self._save()

    # ---- §1 grants -----------------------------------------------------------

    def wait_for_bundle(self, host_id, after, wait, user_agent=""):
        """The envelope of a revision > after, or None when none appeared
        within `wait` seconds (-> 304). Returns (revision, envelope bytes)."""
        deadline = time.monotonic() + wait
        with self.cond:
            host = self._host(host_id)
            host.last_poll = {"at": self.now(), "after": after, "wait": wait, "user_agent": user_agent}
            if after > host.revision:
                self.log(f"host {host_id}: polls with after={after} beyond revision {host.revision}")
            while host.revision <= after:
                if self.closed:
                    raise AuthorityError("shutting_down", "the authority is shutting down")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)
            return host.revision, host.envelope

    def current_bundle(self, host_id):
        with self.cond:
            host = self._host(host_id, create=False)
            return {
                "revision": host.revision,
                "envelope": json.loads(host.envelope),
                "payload": json.loads(host.payload),
            }

    def reissue(self, host_id, min_revision=0):
        """A new revision now; min_revision lets an operator jump past a
        revision a host already holds (e.g. after the state file was lost)."""
        with self.cond:
            host = self._host(host_id)
            self._publish(host, "forced re-issue", min_revision)
            return host.revision

    def add_host(self, host_id):
        with self.cond:
            return self._host(host_id).summary()

    def list_hosts(self):
        with self.cond:
            return [h.summary() for h in self.hosts.values()]

    def host_summary(self, host_id):
        with self.cond:
            return self._host(host_id, create=False).summary()

    # ---- grants (admin) -------------------------------------------------------

    def _check_identity(self, host, grant):
        """A user keeps one uid on a host, and a uid names one user."""
        for other in host.grants.values():
            if other["id"] == grant["id"]:
                continue
            if other["user"] == grant["user"] and "uid" in other and "uid" in grant \
                    and other["uid"] != grant["uid"]:
                raise AuthorityError("conflict", f"user {grant['user']!r} already has uid "
                                     f"{other['uid']} in grant {other['id']} on {host.host_id}")
            if "uid" in other and other.get("uid") == grant.get("uid") \
                    and other["user"] != grant["user"]:
                raise AuthorityError("conflict", f"uid {grant['uid']} already belongs to "
                                     f"{other['user']!r} in grant {other['id']} on {host.host_id}")

    def create_grant(self, host_id, body):
        with self.cond:
            host = self._host(host_id)
            grant = validate.grant_from_admin(body, self.now(), self._new_grant_id())
            if self._grant_id_used(grant["id"]):
                raise AuthorityError("conflict", f"grant id {grant['id']!r} is already used")
            self._check_identity(host, grant)
            host.grants[grant["id"]] = grant
            self._publish(host, f"grant {grant['id']} for {grant['user']} created")
            return {"grant": grant, "revision": host.revision}

    def _grant(self, host, grant_id):
        grant = host.grants.get(grant_id)
        if grant is None:
            raise AuthorityError("not_found", f"no current grant {grant_id!r} on host {host.host_id!r}")
        return grant

    def revoke_grant(self, host_id, grant_id, by, reason):
        with self.cond:
            host = self._host(host_id, create=False)
            self._grant(host, grant_id)
            del host.grants[grant_id]
            host.revoked.append({"id": grant_id, "at": self.now(), "by": by, "reason": reason})
            self._publish(host, f"grant {grant_id} revoked by {by}")
            return {"revoked": host.revoked[-1], "revision": host.revision}

    def delete_grant(self, host_id, grant_id):
        with self.cond:
            host = self._host(host_id, create=False)
            self._grant(host, grant_id)
            del host.grants[grant_id]
            self._publish(host, f"grant {grant_id} deleted")
            return {"deleted": grant_id, "revision": host.revision}

    def change_grant_window(self, host_id, grant_id, not_after):
        """Extension (or shortening): same id, new not_after."""
        with self.cond:
            host = self._host(host_id, create=False)
            grant = dict(self._grant(host, grant_id), not_after=not_after)
            grant = validate.validate_grant(grant)
            host.grants[grant_id] = grant
            self._publish(host, f"grant {grant_id} now ends at {not_after}")
            return {"grant": grant, "revision": host.revision}

    def grant_not_after(self, host_id, grant_id):
        with self.cond:
            return self._grant(self._host(host_id, create=False), grant_id)["not_after"]

    def list_grants(self, host_id):
        with self.cond:
            host = self._host(host_id, create=False)
            return {"host_id": host_id, "revision": host.revision,
                    "grants": list(host.grants.values()), "revoked": list(host.revoked)}

    # ---- §2 requests ----------------------------------------------------------

    @staticmethod
    def _request_view(record):
        view = {"id": record["id"], "state": record["state"],
                "approvals_required": record["approvals_required"]}
        if record.get("grant_id"):
            view["grant_id"] = record["grant_id"]
        view["decided_by"] = list(record["decided_by"])
        view["approved_by"] = list(record["approvals"])
        if record.get("message"):
            view["message"] = record["message"]
        return view

    def _admin_request_view(self, record):
        view = self._request_view(record)
        view.update(host_id=record["host_id"], created_at=record["created_at"],
                    expires_at=record["expires_at"], request=record["request"])
        return view

    def _request(self, host_id, request_id):
        record = self.requests.get(request_id)
        if record is None or record["host_id"] != host_id:
            raise AuthorityError("not_found", f"no request {request_id!r} for host {host_id!r}")
        return record

    def submit_request(self, host_id, body):
        with self.cond:
            host = self._host(host_id)
            req = validate.validate_access_request(body, self.max_request_duration)
            now = self.now()
            request_id = f"r-{self.next_request}"
            self.next_request += 1
            record = {"id": request_id, "host_id": host_id, "state": "pending",
                      "approvals_required": self.approvals_required, "approvals": [],
                      "decided_by": [], "grant_id": None, "message": "",
                      "created_at": now, "expires_at": now + self.request_ttl, "request": req}
            self.requests[request_id] = record
            self.log(f"host {host_id}: request {request_id} by {req['user']} ({req['reason']!r})")
            if record["approvals_required"] == 0:
                try:
                    self._grant_request(host, record, "auto-approved")
                except AuthorityError as e:  # e.g. a uid conflict: the request cannot be granted
                    record.update(state="denied", decided_by=["authority"], message=e.message)
                    self._save()
            else:
                self._save()
            return self._request_view(record)

    def get_request(self, host_id, request_id, admin=False):
        with self.cond:
            record = self._request(host_id, request_id)
            return self._admin_request_view(record) if admin else self._request_view(record)

    def list_requests(self, host_id=None, state=None):
        with self.cond:
            if state is not None and state not in REQUEST_STATES:
                raise AuthorityError("invalid_parameter", f"state must be one of {', '.join(REQUEST_STATES)}")
            return [self._admin_request_view(r) for r in self.requests.values()
                    if (host_id is None or r["host_id"] == host_id)
                    and (state is None or r["state"] == state)]

    def _pending(self, record):
        if record["state"] != "pending":
            raise AuthorityError("conflict", f"request {record['id']} is {record['state']}, not pending")

    def _grant_request(self, host, record, message, approvals=()):
        req = record["request"]
        approvals = list(approvals)
        now = self.now()
        grant = {"id": self._new_grant_id(), "user": req["user"]}
        for field in ("uid", "login", "sudo", "groups"):
            if field in req:
                grant[field] = req[field]
        grant.update(not_before=now, not_after=now + req["duration_seconds"], reason=req["reason"])
        if "ticket" in req:
            grant["ticket"] = req["ticket"]
        grant.update(requested_by=req["user"], approved_by=approvals)
        if "ssh_authorized_keys" in req:
            grant["ssh_authorized_keys"] = req["ssh_authorized_keys"]
        grant = validate.validate_grant(grant)
        self._check_identity(host, grant)
        host.grants[grant["id"]] = grant
        record.update(state="approved", grant_id=grant["id"], approvals=approvals,
                      decided_by=list(approvals), message=message)
        self._publish(host, f"request {record['id']} approved as grant {grant['id']}")

    def approve_request(self, host_id, request_id, by):
        with self.cond:
            host = self._host(host_id, create=False)
            record = self._request(host_id, request_id)
            self._pending(record)
            validate.validate_revocation_note({"by": by}, "approval")
            if by == record["request"]["user"]:
                raise AuthorityError("conflict", f"{by!r} requested {request_id} and cannot approve it")
            if by in record["approvals"]:
                raise AuthorityError("conflict", f"{by!r} already approved {request_id}")
            approvals = record["approvals"] + [by]
            if len(approvals) >= record["approvals_required"]:
                # the approval counts only if the grant can be made (no uid conflict)
                self._grant_request(host, record, f"approved by {', '.join(approvals)}", approvals)
            else:
                record["approvals"] = approvals
                self._save()
            return self._admin_request_view(record)

    def deny_request(self, host_id, request_id, by, message):
        with self.cond:
            record = self._request(host_id, request_id)
            self._pending(record)
            record.update(state="denied", decided_by=[by], message=message or f"denied by {by}")
            self._save()
            return self._admin_request_view(record)

    def cancel_request(self, host_id, request_id, by):
        with self.cond:
            record = self._request(host_id, request_id)
            self._pending(record)
            record.update(state="cancelled", decided_by=[by], message=f"cancelled by {by}")
            self._save()
            return self._request_view(record)

    # ---- §3 events ------------------------------------------------------------

    def add_events(self, host_id, events):
        """Stores events de-duplicated by (host, seq); the first copy wins."""
        with self.cond:
            host = self._host(host_id)
            stats = host.event_stats
            stats["uploads"] += 1
            stored = 0
            new = []
            for event in events:
                stats["received"] += 1
                old = host.events.get(event["seq"])
                if old is None:
                    host.events[event["seq"]] = event
                    stored += 1
                    new.append(event)
                else:
                    stats["duplicates"] += 1
                    if old != event:
                        stats["conflicts"] += 1
                        self.log(f"host {host_id}: event seq {event['seq']} re-sent with different content")
            self._append_events(host_id, new)
            self._save()
            return stored

    def list_events(self, host_id):
        with self.cond:
            host = self._host(host_id, create=False)
            seqs = sorted(host.events)
            return {"host_id": host_id, "count": len(seqs), **host.event_stats,
                    "events": [host.events[s] for s in seqs]}

    def clear_events(self, host_id):
        with self.cond:
            host = self._host(host_id, create=False)
            host.events.clear()
            host.event_stats = {k: 0 for k in host.event_stats}
            self._rewrite_events()
            self._save()

    # ---- housekeeping ----------------------------------------------------------

    def tick(self):
        """Re-issues bundles that reached half-life and expires stale requests."""
        with self.cond:
            now = self.now()
            for host in self.hosts.values():
                if now >= host.issued_at + self.reissue_after:
                    self._publish(host, "periodic re-issue")
            expired = False
            for record in self.requests.values():
                if record["state"] == "pending" and now >= record["expires_at"]:
                    record.update(state="expired", message="no decision before the request expired")
                    expired = True
            if expired:
                self._save()

    def close(self):
        """Wakes every waiting long poll so that shutdown does not wait for them."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            self._save()

    def status(self):
        with self.cond:
            return {"key_id": self.signer.key_id, "started_at": self.started_at, "now": self.now(),
                    "bundle_ttl": self.bundle_ttl, "reissue_after": self.reissue_after,
                    "approvals_required": self.approvals_required,
                    "hosts": [h.summary() for h in self.hosts.values()],
                    "pending_requests": sum(r["state"] == "pending" for r in self.requests.values())}

    # ---- persistence -----------------------------------------------------------
    # The state file holds hosts, grants and requests (rewritten whole, atomically,
    # on every change); uploaded events go to "<state>.events", one JSON line
    # {"host_id", "event"} per stored event, appended: a busy host uploading
    # thousands of events a second must not make every upload rewrite them all.

    def _events_path(self):
        return f"{self.state_path}.events"

    def _append_events(self, host_id, events):
        if not self.state_path or not events:
            return
        data = "".join(json.dumps({"host_id": host_id, "event": e}, separators=(",", ":")) + "\n" for e in events)
        fd = os.open(self._events_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rewrite_events(self):
        if not self.state_path:
            return
        tmp = f"{self._events_path()}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for host in self.hosts.values():
                for seq in sorted(host.events):
                    line = json.dumps({"host_id": host.host_id, "event": host.events[seq]}, separators=(",", ":"))
                    f.write(line.encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self._events_path())

    def _load_events(self):
        path = self._events_path()
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # the last append was cut short (crash): its events were never acknowledged
                line = validate.parse_json(raw, f"{path} line {number}")
                if not isinstance(line, dict) or not isinstance(line.get("event"), dict):
                    raise ValueError(f"{path} line {number}: not an event record")
                host_id = validate.check_host_id(line.get("host_id"))
                host = self.hosts.setdefault(host_id, HostState(host_id))
                host.events.setdefault(line["event"].get("seq"), line["event"])

    def _save(self):
        if not self.state_path:
            return
        doc = {"format": STATE_FORMAT, "next_request": self.next_request,
               "requests": list(self.requests.values()), "hosts": []}
        for host in self.hosts.values():
            doc["hosts"].append({
                "host_id": host.host_id, "revision": host.revision,
                "grants": list(host.grants.values()), "revoked": host.revoked,
                "event_stats": host.event_stats})
        tmp = f"{self.state_path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(doc, indent=1).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.state_path)

    def load(self):
        """Restores a saved state. Every host then gets a fresh revision (one
        above the saved one) so that revisions stay monotonic across restarts
        and no revision is ever signed with two different payloads."""
        if not self.state_path or not os.path.exists(self.state_path):
            return False
        with open(self.state_path, "rb") as f:
            doc = validate.parse_json(f.read(), self.state_path)
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.state_path}: not a {STATE_FORMAT} file")
        with self.cond:
            self.next_request = int(doc["next_request"])
            self.requests = {r["id"]: r for r in doc["requests"]}
            for saved in doc["hosts"]:
                host = HostState(validate.check_host_id(saved["host_id"]))
                host.revision = int(saved["revision"])
                host.grants = {g["id"]: validate.validate_grant(g) for g in saved["grants"]}
                host.revoked = list(saved["revoked"])
                host.events = {e["seq"]: e for e in saved.get("events", [])}  # files written before the events log
                host.event_stats = dict(saved["event_stats"])
                self.hosts[host.host_id] = host
            self._load_events()
            for host in self.hosts.values():
                self._publish(host, "restart")
        return True
