"""Parsing and limits for everything that reaches the authority from outside.

The limits mirror the host's (policy/include/jit/bundle.hpp, jit::limits) so
that the authority never signs a bundle a conforming host would reject.
"""

import json
import re

from .errors import AuthorityError

HOST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
GRANT_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
POSIX_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
KEY_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
DECIMAL_RE = re.compile(r"[0-9]{1,19}")  # query parameters, Content-Length

MIN_UID = 1000
MAX_UID = 2147483646
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z
MAX_DISPLAY_NAME = 256
MAX_SHELL = 256
MAX_REASON = 1024
MAX_TICKET = 128
MAX_PERSON = 256
MAX_GROUPS = 64
MAX_SUDO_COMMANDS = 128
MAX_SUDO_COMMAND_BYTES = 4096
MAX_SSH_KEYS = 32
MAX_SSH_KEY_BYTES = 16 * 1024
MAX_APPROVERS = 64
MAX_EVENTS_PER_UPLOAD = 10000
MAX_EVENT_BYTES = 64 * 1024

# Field order of a grant in the signed payload: the order of PROTOCOL.md's
# Grant table (and of protocol-vectors/payload.json).
GRANT_FIELDS = (
    "id", "user", "uid", "display_name", "shell", "login", "sudo", "groups",
    "not_before", "not_after", "reason", "ticket", "requested_by", "approved_by",
    "ssh_authorized_keys",
)
REQUIRED_GRANT_FIELDS = ("id", "user", "login", "not_before", "not_after", "reason",
                         "requested_by", "approved_by")


def _bad(where, message):
    raise AuthorityError("invalid_request", f"{where}: {message}")


def _reject_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body, where="body"):
    """Parses a request body strictly: UTF-8, no duplicate keys, no NaN."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AuthorityError("invalid_json", f"{where}: not UTF-8 ({e.reason} at byte {e.start})")
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys,
                          parse_constant=_reject_constant)
    except ValueError as e:
        raise AuthorityError("invalid_json", f"{where}: {e}")


def encode_canonical(obj):
    """Compact UTF-8 JSON, keys in insertion order: the payload byte format."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_host_id(host_id):
    if not isinstance(host_id, str) or not HOST_ID_RE.fullmatch(host_id):
        raise AuthorityError("invalid_host_id",
                             f"host_id {host_id!r} does not match ^[A-Za-z0-9][A-Za-z0-9._-]{{0,127}}$")
    return host_id


def _string(where, value, max_len, allow_empty=False):
    if not isinstance(value, str):
        _bad(where, "must be a string")
    if not value and not allow_empty:
        _bad(where, "must not be empty")
    if len(value.encode("utf-8")) > max_len:
        _bad(where, f"longer than {max_len} bytes")
    if "\0" in value:
        _bad(where, "contains a NUL character")
    return value


def _single_line(where, value, max_len):
    _string(where, value, max_len)
    if any(c in value for c in "\r\n"):
        _bad(where, "must be a single line")
    return value


def _time(where, value):
    if not is_int(value) or not 0 <= value <= MAX_TIME:
        _bad(where, f"must be an integer number of unix seconds in 0..{MAX_TIME}")
    return value


def _uid(where, value):
    if not is_int(value) or not MIN_UID <= value <= MAX_UID:
        _bad(where, f"must be an integer in {MIN_UID}..{MAX_UID}")
    return value


def _posix_name(where, value):
    if not isinstance(value, str) or not POSIX_NAME_RE.fullmatch(value):
        _bad(where, f"{value!r} is not a POSIX name (^[a-z_][a-z0-9_-]{{0,31}}$)")
    return value


def _string_list(where, value, max_count, check):
    if not isinstance(value, list):
        _bad(where, "must be an array")
    if len(value) > max_count:
        _bad(where, f"more than {max_count} entries")
    for i, item in enumerate(value):
        check(f"{where}[{i}]", item)
    return list(value)


def _sudo(where, value):
    if not isinstance(value, dict):
        _bad(where, 'must be an object {"run_as": NAME, "commands": [...]}')
    unknown = set(value) - {"run_as", "commands"}
    if unknown:
        _bad(where, f"unknown field(s) {sorted(unknown)}")
    if "run_as" not in value:
        _bad(where + ".run_as", "is required")
    if "commands" not in value:
        _bad(where + ".commands", "is required")
    run_as = _posix_name(where + ".run_as", value["run_as"])

    def command(w, c):
        _single_line(w, c, MAX_SUDO_COMMAND_BYTES)
        if c != "ALL" and not c.startswith("/"):
            _bad(w, f'{c!r} must be "ALL" or an absolute path')

    commands = _string_list(where + ".commands", value["commands"], MAX_SUDO_COMMANDS, command)
    if not commands:
        _bad(where + ".commands", "must not be empty")
    return {"run_as": run_as, "commands": commands}


def _ssh_key(where, value):
    _single_line(where, value, MAX_SSH_KEY_BYTES)
    if len(value.split()) < 2:
        _bad(where, "is not an OpenSSH public key line (TYPE BASE64 [COMMENT])")


def _person(where, value):
    _single_line(where, value, MAX_PERSON)


def validate_grant(grant, where="grant"):
    """Checks a complete grant against PROTOCOL.md's table; returns it with
    its fields in payload order. Unknown fields are refused (typos would
    otherwise silently vanish)."""
    if not isinstance(grant, dict):
        _bad(where, "must be an object")
    unknown = set(grant) - set(GRANT_FIELDS)
    if unknown:
        _bad(where, f"unknown field(s) {sorted(unknown)}")
    for field in REQUIRED_GRANT_FIELDS:
        if field not in grant:
            _bad(f"{where}.{field}", "is required")
    g = grant
    if not isinstance(g["id"], str) or not GRANT_ID_RE.fullmatch(g["id"]):
        _bad(f"{where}.id", f"{g['id']!r} does not match ^[A-Za-z0-9._-]{{1,64}}$")
    _posix_name(f"{where}.user", g["user"])
    if "uid" in g:
        _uid(f"{where}.uid", g["uid"])
    if "display_name" in g:
        _single_line(f"{where}.display_name", g["display_name"], MAX_DISPLAY_NAME)
        if ":" in g["display_name"]:
            _bad(f"{where}.display_name", "must not contain ':'")
    if "shell" in g:
        _single_line(f"{where}.shell", g["shell"], MAX_SHELL)
        if not g["shell"].startswith("/") or ":" in g["shell"]:
            _bad(f"{where}.shell", "must be an absolute path without ':'")
    if not isinstance(g["login"], bool):
        _bad(f"{where}.login", "must be true or false")
    if "sudo" in g:
        g = dict(g, sudo=_sudo(f"{where}.sudo", g["sudo"]))
    if "groups" in g:
        _string_list(f"{where}.groups", g["groups"], MAX_GROUPS, _posix_name)
        if len(set(g["groups"])) != len(g["groups"]):
            _bad(f"{where}.groups", "lists a group twice")
    _time(f"{where}.not_before", g["not_before"])
    _time(f"{where}.not_after", g["not_after"])
    if g["not_after"] <= g["not_before"]:
        _bad(f"{where}.not_after", f"must be greater than not_before ({g['not_before']})")
    _string(f"{where}.reason", g["reason"], MAX_REASON)
    if "ticket" in g:
        _single_line(f"{where}.ticket", g["ticket"], MAX_TICKET)
    _person(f"{where}.requested_by", g["requested_by"])
    _string_list(f"{where}.approved_by", g["approved_by"], MAX_APPROVERS, _person)
    if "ssh_authorized_keys" in g:
        _string_list(f"{where}.ssh_authorized_keys", g["ssh_authorized_keys"], MAX_SSH_KEYS, _ssh_key)
    return {field: g[field] for field in GRANT_FIELDS if field in g}


def grant_from_admin(body, now, new_id):
    """Builds a grant from an admin create request: the Grant table's fields
    plus conveniences (duration_seconds instead of not_after; defaults for
    id, login, not_before, requested_by, approved_by)."""
    if not isinstance(body, dict):
        _bad("grant", "must be an object")
    g = dict(body)
    duration = g.pop("duration_seconds", None)
    g.setdefault("id", new_id)
    g.setdefault("login", True)
    g.setdefault("not_before", now)
    if duration is not None:
        if "not_after" in g:
            _bad("grant", "give not_after or duration_seconds, not both")
        if not is_int(duration) or duration <= 0:
            _bad("grant.duration_seconds", "must be a positive integer")
        if is_int(g["not_before"]):
            g["not_after"] = g["not_before"] + duration
    if "user" in g and isinstance(g["user"], str):
        g.setdefault("requested_by", g["user"])
    g.setdefault("approved_by", [])
    return validate_grant(g)


def validate_revocation_note(body, where):
    """{"by": ..., "reason": ...} for revoke/deny; both optional strings."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        _bad(where, "must be an object")
    by = body.get("by", "admin")
    reason = body.get("reason", body.get("message", ""))
    _person(f"{where}.by", by)
    _string(f"{where}.reason", reason, MAX_REASON, allow_empty=True)
    return by, reason


def validate_access_request(body, max_duration):
    """POST /v1/hosts/{h}/requests. Unknown fields are ignored (PROTOCOL.md
    allows optional extensions an older peer ignores)."""
    if not isinstance(body, dict):
        _bad("request", "must be a JSON object")
    if "user" not in body:
        _bad("request.user", "is required")
    req = {"user": _posix_name("request.user", body["user"])}
    if "uid" in body:
        req["uid"] = _uid("request.uid", body["uid"])
    login = body.get("login", True)
    if not isinstance(login, bool):
        _bad("request.login", "must be true or false")
    req["login"] = login
    if "sudo" in body and body["sudo"] is not None:
        req["sudo"] = _sudo("request.sudo", body["sudo"])
    if "groups" in body:
        req["groups"] = _string_list("request.groups", body["groups"], MAX_GROUPS, _posix_name)
    if "ssh_authorized_keys" in body:
        req["ssh_authorized_keys"] = _string_list(
            "request.ssh_authorized_keys", body["ssh_authorized_keys"], MAX_SSH_KEYS, _ssh_key)
    if "duration_seconds" not in body:
        _bad("request.duration_seconds", "is required")
    duration = body["duration_seconds"]
    if not is_int(duration) or not 1 <= duration <= max_duration:
        _bad("request.duration_seconds", f"must be an integer in 1..{max_duration}")
    req["duration_seconds"] = duration
    if "reason" not in body:
        _bad("request.reason", "is required")
    req["reason"] = _string("request.reason", body["reason"], MAX_REASON)
    if "ticket" in body:
        req["ticket"] = _single_line("request.ticket", body["ticket"], MAX_TICKET)
    return req


def validate_events(body):
    """POST /v1/hosts/{h}/events: {"events": [{"seq": N, ...}, ...]}.
    All-or-nothing: one bad event rejects the upload before anything is stored."""
    if not isinstance(body, dict) or "events" not in body:
        _bad("body", 'must be an object {"events": [...]}')
    events = body["events"]
    if not isinstance(events, list):
        _bad("events", "must be an array")
    if len(events) > MAX_EVENTS_PER_UPLOAD:
        _bad("events", f"more than {MAX_EVENTS_PER_UPLOAD} events in one upload")
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            _bad(f"events[{i}]", "must be an object")
        if "seq" not in event:
            _bad(f"events[{i}].seq", "is required")
        if not is_int(event["seq"]) or not 0 <= event["seq"] < 2 ** 63:
            _bad(f"events[{i}].seq", "must be a non-negative 64-bit integer")
        if len(encode_canonical(event)) > MAX_EVENT_BYTES:
            _bad(f"events[{i}]", f"larger than {MAX_EVENT_BYTES} bytes")
    return events
