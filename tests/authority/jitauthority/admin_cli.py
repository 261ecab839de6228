"""jit-authority-admin: drive a running jit-authority through its admin API,
and a few local helpers (key generation, signing an arbitrary payload)."""

import argparse
import base64
import datetime
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

from . import signing

DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


class CliError(Exception):
    pass


def parse_duration(text):
    """'3600', '90s', '15m', '1h30m', '2d' -> seconds (> 0)."""
    match = DURATION_RE.fullmatch(text.strip()) if text.strip() else None
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 3600, 90s, 15m, 1h30m, 2d)")
    d, h, m, s = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be positive")
    return seconds


def parse_time(text, now=None):
    """Unix seconds, 'now', 'now+1h'/'+1h', 'now-10m'/'-10m', or ISO 8601 UTC."""
    now = int(time.time()) if now is None else now
    t = text.strip()
    if t.isdigit():
        return int(t)
    if t == "now":
        return now
    if t.startswith("now"):
        t = t[3:]
    if t[:1] in "+-" and len(t) > 1:
        delta = parse_duration(t[1:])
        return now + delta if t[0] == "+" else now - delta
    try:
        stamp = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (unix seconds, now, now+1h, -10m, 2026-11-27T18:00:00Z)")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return int(stamp.timestamp())


class Client:
    def __init__(self, url, token=None, timeout=30):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("User-Agent", "jit-authority-admin/1.0")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
                raise CliError(f"{e.code} {err.get('error')}: {err.get('message')}")
            except (ValueError, AttributeError):
                raise CliError(f"HTTP {e.code} from {self.url}{path}")
        except (urllib.error.URLError, OSError) as e:
            raise CliError(f"cannot reach the authority at {self.url}: {e}")
        return json.loads(raw) if raw.strip() else None


def resolve_url(args):
    if args.url:
        return args.url
    if args.port_file:
        try:
            with open(args.port_file, encoding="ascii") as f:
                return f"http://127.0.0.1:{int(f.read().strip())}"
        except (OSError, ValueError) as e:
            raise CliError(f"cannot read the port from {args.port_file}: {e}")
    env = os.environ.get("JIT_AUTHORITY_URL")
    if env:
        return env
    raise CliError("say where the authority is: --url, --port-file or JIT_AUTHORITY_URL")


def read_token(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                return line.split()[-1]
    raise CliError(f"{path}: no token in file")


def emit(obj):
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def hosts_path(host, *rest):
    return "/admin/hosts/" + host + "".join("/" + r for r in rest)


# ---- commands -------------------------------------------------------------------

def cmd_grant_create(client, a):
    body = {"user": a.user, "login": a.login, "reason": a.reason}
    if a.id:
        body["id"] = a.id
    if a.uid is not None:
        body["uid"] = a.uid
    for field in ("display_name", "shell", "ticket", "requested_by"):
        if getattr(a, field) is not None:
            body[field] = getattr(a, field)
    if a.sudo_command:
        body["sudo"] = {"run_as": a.sudo_run_as, "commands": a.sudo_command}
    if a.group:
        body["groups"] = a.group
    if a.not_before is not None:
        body["not_before"] = a.not_before
    if a.not_after is not None:
        body["not_after"] = a.not_after
    else:
        body["duration_seconds"] = a.duration
    body["approved_by"] = a.approved_by or []
    keys = list(a.ssh_key or [])
    for path in a.ssh_key_file or []:
        with open(path, encoding="utf-8") as f:
            keys += [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if keys:
        body["ssh_authorized_keys"] = keys
    result = client.call("POST", hosts_path(a.host, "grants"), body)
    if a.json:
        emit(result)
    else:
        print(result["grant"]["id"])


def cmd_grant_revoke(client, a):
    emit(client.call("POST", hosts_path(a.host, "grants", a.grant_id, "revoke"),
                     {"by": a.by, "reason": a.reason}))


def cmd_grant_extend(client, a):
    if a.not_after is not None:
        body = {"not_after": a.not_after}
    elif a.duration is not None:
        body = {"duration_seconds": a.duration}
    else:
        body = {"extend_by": a.add}
    emit(client.call("POST", hosts_path(a.host, "grants", a.grant_id, "extend"), body))


def cmd_grant_delete(client, a):
    emit(client.call("DELETE", hosts_path(a.host, "grants", a.grant_id)))


def cmd_grant_list(client, a):
    emit(client.call("GET", hosts_path(a.host, "grants")))


def cmd_request_list(client, a):
    query = "?state=" + a.state if a.state else ""
    if a.host:
        emit(client.call("GET", hosts_path(a.host, "requests") + query))
    else:
        emit(client.call("GET", "/admin/requests" + query))


def cmd_request_show(client, a):
    emit(client.call("GET", hosts_path(a.host, "requests", a.request_id)))


def cmd_request_approve(client, a):
    result = client.call("POST", hosts_path(a.host, "requests", a.request_id, "approve"), {"by": a.by})
    if a.json:
        emit(result)
    else:
        print(result.get("grant_id") or result["state"])


def cmd_request_deny(client, a):
    emit(client.call("POST", hosts_path(a.host, "requests", a.request_id, "deny"),
                     {"by": a.by, "message": a.message}))


def cmd_events_list(client, a):
    emit(client.call("GET", hosts_path(a.host, "events")))


def cmd_events_clear(client, a):
    client.call("DELETE", hosts_path(a.host, "events"))


def cmd_fault_set(client, a):
    body = {"endpoint": a.endpoint, "mode": a.mode, "count": a.count}
    if a.host:
        body["host"] = a.host
    if a.mode == "error":
        body["status"] = a.status
    if a.mode == "delay":
        body["seconds"] = a.seconds
    if a.mode == "envelope":
        if not a.envelope_file:
            raise CliError("--mode envelope needs --envelope-file")
        with open(a.envelope_file, encoding="utf-8") as f:
            body["envelope"] = f.read().strip()
    emit(client.call("POST", "/admin/faults", body))


def cmd_fault_list(client, a):
    emit(client.call("GET", "/admin/faults"))


def cmd_fault_clear(client, a):
    client.call("DELETE", "/admin/faults")


def cmd_host_list(client, a):
    emit(client.call("GET", "/admin/hosts"))


def cmd_host_add(client, a):
    emit(client.call("POST", "/admin/hosts", {"host_id": a.host_id}))


def cmd_host_show(client, a):
    emit(client.call("GET", hosts_path(a.host_id)))


def cmd_bundle(client, a):
    result = client.call("GET", hosts_path(a.host, "bundle"))
    if a.envelope:
        print(json.dumps(result["envelope"], separators=(",", ":")))
    else:
        emit(result)


def cmd_reissue(client, a):
    emit(client.call("POST", hosts_path(a.host, "reissue"),
                     {"min_revision": a.min_revision} if a.min_revision else None))


def cmd_status(client, a):
    emit(client.call("GET", "/admin/status"))


def cmd_genkey(a):
    signing.generate_key_pair(a.private, a.public)
    print(f"private key: {a.private}\npublic key:  {a.public}")


def cmd_envelope(a):
    """Signs any bytes as an envelope (for tests that need odd bundles)."""
    with open(a.payload, "rb") as f:
        payload = f.read()
    signer = signing.Signer(a.key, a.key_id)
    try:
        sys.stdout.write(signing.make_envelope(a.key_id, payload, signer.sign(payload)).decode() + "\n")
    finally:
        signer.close()


def cmd_decode(a):
    with open(a.envelope, "rb") as f:
        envelope = json.loads(f.read())
    sys.stdout.write(base64.b64decode(envelope["payload"], validate=True).decode("utf-8") + "\n")


LOCAL_COMMANDS = (cmd_genkey, cmd_envelope, cmd_decode)


# ---- argument parsing -----------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(
        prog="jit-authority-admin",
        description="Admin client of the jitlogin reference authority (tests and demos).",
        epilog="Times: unix seconds, now, now+1h, -10m, 2026-11-27T18:00:00Z. "
               "Durations: 3600, 90s, 15m, 1h30m, 2d.")
    p.add_argument("--url", help="admin base URL, e.g. http://127.0.0.1:8080 (or JIT_AUTHORITY_URL)")
    p.add_argument("--port-file", help="read the admin port from this file (jit-authority --port-file "
                                       "or --admin-port-file)")
    p.add_argument("--token-file", default=os.environ.get("JIT_AUTHORITY_ADMIN_TOKEN_FILE"),
                   help="admin bearer token file (or JIT_AUTHORITY_ADMIN_TOKEN_FILE)")
    p.add_argument("--json", action="store_true", help="print full JSON where a command prints an id")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def group(name, help_text):
        g = sub.add_parser(name, help=help_text).add_subparsers(dest="action", required=True, metavar="ACTION")
        return g

    def host_arg(cmd, required=True):
        cmd.add_argument("--host", required=required, help="host id")

    grant = group("grant", "create, revoke, extend, delete, list grants")
    c = grant.add_parser("create", help="create a grant; prints its id")
    host_arg(c)
    c.add_argument("--user", required=True)
    c.add_argument("--uid", type=int)
    c.add_argument("--id", help="grant id (default: generated g-XXXXXXXX)")
    c.add_argument("--no-login", dest="login", action="store_false", help="grant sudo/groups without login")
    c.add_argument("--sudo-command", action="append", metavar="CMD",
                   help='"ALL" or an absolute path with optional arguments; repeat; gives sudo')
    c.add_argument("--sudo-run-as", default="root")
    c.add_argument("--group", action="append", metavar="GROUP", help="supplementary group; repeat")
    c.add_argument("--not-before", type=parse_time)
    window = c.add_mutually_exclusive_group()
    window.add_argument("--not-after", type=parse_time)
    window.add_argument("--duration", type=parse_duration, default=3600, help="default 1h")
    c.add_argument("--reason", default="granted with jit-authority-admin")
    c.add_argument("--ticket")
    c.add_argument("--requested-by", help="default: the user")
    c.add_argument("--approved-by", action="append", metavar="NAME", help="repeat")
    c.add_argument("--display-name")
    c.add_argument("--shell")
    c.add_argument("--ssh-key", action="append", metavar="LINE", help="OpenSSH public key line; repeat")
    c.add_argument("--ssh-key-file", action="append", metavar="FILE", help="file of public key lines")
    c.set_defaults(func=cmd_grant_create)

    c = grant.add_parser("revoke", help="end a grant early (listed in 'revoked')")
    host_arg(c)
    c.add_argument("grant_id")
    c.add_argument("--by", default="admin")
    c.add_argument("--reason", default="")
    c.set_defaults(func=cmd_grant_revoke)

    c = grant.add_parser("extend", help="move a grant's not_after (same id)")
    host_arg(c)
    c.add_argument("grant_id")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--not-after", type=parse_time, help="new end time")
    how.add_argument("--duration", type=parse_duration, help="new end = now + DURATION")
    how.add_argument("--add", type=parse_duration, help="new end = old end + DURATION")
    c.set_defaults(func=cmd_grant_extend)

    c = grant.add_parser("delete", help="remove a grant without a revocation record")
    host_arg(c)
    c.add_argument("grant_id")
    c.set_defaults(func=cmd_grant_delete)

    c = grant.add_parser("list", help="current grants and revocations of a host")
    host_arg(c)
    c.set_defaults(func=cmd_grant_list)

    request = group("request", "list, show, approve, deny access requests")
    c = request.add_parser("list")
    host_arg(c, required=False)
    c.add_argument("--state", choices=("pending", "approved", "denied", "expired", "cancelled"))
    c.set_defaults(func=cmd_request_list)
    c = request.add_parser("show")
    host_arg(c)
    c.add_argument("request_id")
    c.set_defaults(func=cmd_request_show)
    c = request.add_parser("approve", help="approve; prints the grant id once approved")
    host_arg(c)
    c.add_argument("request_id")
    c.add_argument("--by", required=True, help="approver (not the requester)")
    c.set_defaults(func=cmd_request_approve)
    c = request.add_parser("deny")
    host_arg(c)
    c.add_argument("request_id")
    c.add_argument("--by", required=True)
    c.add_argument("--message", default="")
    c.set_defaults(func=cmd_request_deny)

    events = group("events", "list or clear uploaded audit events")
    c = events.add_parser("list")
    host_arg(c)
    c.set_defaults(func=cmd_events_list)
    c = events.add_parser("clear")
    host_arg(c)
    c.set_defaults(func=cmd_events_clear)

    fault = group("fault", "fault injection on the host API")
    c = fault.add_parser("set", help="fail the next COUNT calls of an endpoint")
    c.add_argument("--endpoint", required=True, choices=("grants", "requests", "events"))
    c.add_argument("--mode", required=True, choices=("error", "drop-before", "drop-after", "delay", "envelope"))
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--status", type=int, default=503, help="HTTP status for --mode error")
    c.add_argument("--seconds", type=float, default=5.0, help="for --mode delay")
    c.add_argument("--envelope-file", help="for --mode envelope (endpoint grants): serve this file's text as is")
    host_arg(c, required=False)
    c.set_defaults(func=cmd_fault_set)
    c = fault.add_parser("list")
    c.set_defaults(func=cmd_fault_list)
    c = fault.add_parser("clear")
    c.set_defaults(func=cmd_fault_clear)

    host = group("host", "list, add, show hosts")
    c = host.add_parser("list")
    c.set_defaults(func=cmd_host_list)
    c = host.add_parser("add")
    c.add_argument("host_id")
    c.set_defaults(func=cmd_host_add)
    c = host.add_parser("show", help="revision, counts, last poll (its 'after' is what the host accepted)")
    c.add_argument("host_id")
    c.set_defaults(func=cmd_host_show)

    c = sub.add_parser("bundle", help="the current signed bundle of a host")
    host_arg(c)
    c.add_argument("--envelope", action="store_true", help="print only the envelope, as served")
    c.set_defaults(func=cmd_bundle)
    c = sub.add_parser("reissue", help="publish a new revision now")
    host_arg(c)
    c.add_argument("--min-revision", type=int, default=0,
                   help="jump to at least this revision (a host that holds a higher one never updates)")
    c.set_defaults(func=cmd_reissue)
    c = sub.add_parser("status", help="key id, timings, hosts")
    c.set_defaults(func=cmd_status)

    c = sub.add_parser("genkey", help="(local) generate an Ed25519 key pair with openssl")
    c.add_argument("--private", required=True, help="private key PEM to write (0600)")
    c.add_argument("--public", required=True, help="public key PEM to write, e.g. TRUSTED_DIR/KEY_ID.pub")
    c.set_defaults(func=cmd_genkey)
    c = sub.add_parser("envelope", help="(local) sign a payload file and print its envelope")
    c.add_argument("--key", required=True)
    c.add_argument("--key-id", required=True)
    c.add_argument("payload")
    c.set_defaults(func=cmd_envelope)
    c = sub.add_parser("decode", help="(local) print the payload of an envelope file")
    c.add_argument("envelope")
    c.set_defaults(func=cmd_decode)
    return p


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    try:
        if args.func in LOCAL_COMMANDS:
            args.func(args)
        else:
            client = Client(resolve_url(args), read_token(args.token_file))
            args.func(client, args)
    except (CliError, signing.SigningError, OSError, ValueError) as e:
        print(f"jit-authority-admin: {e}", file=sys.stderr)
        return 1
    return 0
