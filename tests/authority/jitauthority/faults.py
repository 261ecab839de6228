"""Fault injection for the host-facing endpoints, set through the admin API.

A rule applies to the next `count` matching calls of one endpoint (grants,
requests or events), optionally for one host only:

- error:       answer `status` (default 503) with {"error": "injected_fault"},
               before doing anything;
- drop-before: close the connection without an answer, before doing anything;
- drop-after:  do the work (store events, create the request, pick the
               bundle), then close the connection without an answer: the
               client cannot know it succeeded (tests at-least-once delivery);
- delay:       wait `seconds` before doing the work and answering normally;
- envelope:    (grants only) answer 200 with the given `envelope` bytes at once,
               whatever `after` says: serves forged, stale, rolled-back or
               foreign bundles to test that the host rejects them.
"""

import json
import threading

from .errors import AuthorityError
from .validate import HOST_ID_RE, is_int

ENDPOINTS = ("grants", "requests", "events")
MODES = ("error", "drop-before", "drop-after", "delay", "envelope")
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


class FaultInjector:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self.fired = {e: 0 for e in ENDPOINTS}

    @staticmethod
    def parse_rule(body):
        def bad(message):
            raise AuthorityError("invalid_request", f"fault: {message}")
        if not isinstance(body, dict):
            bad("must be an object")
        unknown = set(body) - {"endpoint", "mode", "count", "status", "seconds", "host", "envelope"}
        if unknown:
            bad(f"unknown field(s) {sorted(unknown)}")
        rule = {"endpoint": body.get("endpoint"), "mode": body.get("mode"),
                "count": body.get("count", 1), "host": body.get("host")}
        if rule["endpoint"] not in ENDPOINTS:
            bad(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if rule["mode"] not in MODES:
            bad(f"mode must be one of {', '.join(MODES)}")
        if not is_int(rule["count"]) or rule["count"] < 1:
            bad("count must be a positive integer")
        if rule["host"] is not None and (not isinstance(rule["host"], str)
                                         or not HOST_ID_RE.fullmatch(rule["host"])):
            bad("host must be a host id")
        if rule["mode"] == "error":
            rule["status"] = body.get("status", 503)
            if not is_int(rule["status"]) or not 400 <= rule["status"] <= 599:
                bad("status must be an HTTP error status 400..599")
        if rule["mode"] == "delay":
            seconds = body.get("seconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
                    or not 0 < seconds <= 120:
                bad("delay needs seconds in (0, 120]")
            rule["seconds"] = seconds
        if rule["mode"] == "envelope":
            if rule["endpoint"] != "grants":
                bad("mode envelope is only for endpoint grants")
            envelope = body.get("envelope")
            if isinstance(envelope, dict):
                envelope = json.dumps(envelope, separators=(",", ":"))
            if not isinstance(envelope, str) or not 0 < len(envelope) <= MAX_ENVELOPE_BYTES:
                bad("mode envelope needs envelope: the served text (a string or a JSON object)")
            rule["envelope"] = envelope
        return rule

    def add(self, body):
        rule = self.parse_rule(body)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, endpoint, host_id):
        """The first rule matching this call, with its count used up by one."""
        with self._lock:
            for rule in self._rules:
                if rule["endpoint"] == endpoint and rule["host"] in (None, host_id):
                    rule["count"] -= 1
                    if rule["count"] == 0:
                        self._rules.remove(rule)
                    self.fired[endpoint] += 1
                    return dict(rule)
            return None

    def list(self):
        with self._lock:
            return {"rules": [dict(r) for r in self._rules], "fired": dict(self.fired)}

    def clear(self):
        with self._lock:
            self._rules.clear()
