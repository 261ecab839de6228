"""HTTP(S) front end: the host API of PROTOCOL.md and the loopback admin API.

One ThreadingHTTPServer per listening socket; each connection gets a thread,
so a long poll only holds its own thread (it waits on the state's condition
variable). With TLS the handshake runs in the connection's thread too, so a
slow client cannot stall the accept loop.
"""

import hmac
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import validate
from .admin_api import AdminApi
from .errors import AuthorityError
from .faults import FaultInjector
from .host_api import HostApi

VERSION = "1.0"
MAX_BODY = {"events": 8 * 1024 * 1024, "default": 256 * 1024}
USER_AGENT_RE = re.compile(r"[^\s/]+/\S+.*")
DECIMAL_RE = validate.DECIMAL_RE
HOST_API = "host"
ADMIN_API = "admin"


class Tokens:
    """Bearer tokens from a file: one per line, either `TOKEN` (any host) or
    `HOST_ID TOKEN` (only that host). Blank lines and `#` comments ignored."""

    def __init__(self, path):
        self.path = path
        self.entries = []  # (host_id or None, token)
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) == 1:
                    self.entries.append((None, parts[0]))
                elif len(parts) == 2:
                    self.entries.append((validate.check_host_id(parts[0]), parts[1]))
                else:
                    raise ValueError(f"{path}:{number}: expected 'TOKEN' or 'HOST_ID TOKEN'")
        if not self.entries:
            raise ValueError(f"{path}: no token in file")

    def find(self, presented):
        """The entry whose token matches (compared in constant time), or None."""
        found = None
        for host_id, token in self.entries:
            if hmac.compare_digest(token.encode(), presented.encode()):
                found = (host_id, token)
        return found


class App:
    """What the handlers need: state, faults, authentication and options."""

    def __init__(self, authority, *, tokens=None, admin_tokens=None, mtls_host_binding=False,
                 require_user_agent=True, max_wait=60, quiet=False):
        self.authority = authority
        self.faults = FaultInjector()
        self.tokens = tokens
        self.admin_tokens = admin_tokens
        self.mtls_host_binding = mtls_host_binding
        self.require_user_agent = require_user_agent
        self.max_wait = max_wait
        self.quiet = quiet
        self._log_lock = threading.Lock()

    def log(self, message):
        if self.quiet:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._log_lock:
            print(f"{stamp} jit-authority: {message}", file=sys.stderr, flush=True)


def make_tls_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


class AuthorityHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app, apis, ssl_context=None):
        self.app = app
        self.apis = frozenset(apis)
        self.ssl_context = ssl_context
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.app.log(f"TLS handshake with {client_address[0]}:{client_address[1]} failed: {e}")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()


# (method, path regex, handler method name, api)
SEG = r"([^/]+)"
ROUTES = [
    ("GET", rf"/v1/hosts/{SEG}/grants", "host_grants", HOST_API),
    ("POST", rf"/v1/hosts/{SEG}/requests", "host_request_create", HOST_API),
    ("GET", rf"/v1/hosts/{SEG}/requests/{SEG}", "host_request_get", HOST_API),
    ("DELETE", rf"/v1/hosts/{SEG}/requests/{SEG}", "host_request_cancel", HOST_API),
    ("POST", rf"/v1/hosts/{SEG}/events", "host_events", HOST_API),
    ("GET", r"/admin/status", "admin_status", ADMIN_API),
    ("GET", r"/admin/hosts", "admin_hosts", ADMIN_API),
    ("POST", r"/admin/hosts", "admin_host_add", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}", "admin_host", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}/bundle", "admin_bundle", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/reissue", "admin_reissue", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}/grants", "admin_grants", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/grants", "admin_grant_create", ADMIN_API),
    ("DELETE", rf"/admin/hosts/{SEG}/grants/{SEG}", "admin_grant_delete", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/grants/{SEG}/revoke", "admin_grant_revoke", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/grants/{SEG}/extend", "admin_grant_extend", ADMIN_API),
    ("GET", r"/admin/requests", "admin_requests_all", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}/requests", "admin_requests", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}/requests/{SEG}", "admin_request_get", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/requests/{SEG}/approve", "admin_request_approve", ADMIN_API),
    ("POST", rf"/admin/hosts/{SEG}/requests/{SEG}/deny", "admin_request_deny", ADMIN_API),
    ("GET", rf"/admin/hosts/{SEG}/events", "admin_events", ADMIN_API),
    ("DELETE", rf"/admin/hosts/{SEG}/events", "admin_events_clear", ADMIN_API),
    ("GET", r"/admin/faults", "admin_faults", ADMIN_API),
    ("POST", r"/admin/faults", "admin_fault_add", ADMIN_API),
    ("DELETE", r"/admin/faults", "admin_faults_clear", ADMIN_API),
]
ROUTES = [(m, re.compile(p), name, api) for m, p, name, api in ROUTES]


class _Dropped(Exception):
    """The connection was closed on purpose (fault injection)."""


class Handler(HostApi, AdminApi, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "jit-authority/" + VERSION

    def version_string(self):
        return self.server_version
    timeout = 30  # for reading a request; long polls wait on the condition, not the socket

    # ---- plumbing -------------------------------------------------------------

    @property
    def app(self):
        return self.server.app

    @property
    def authority(self):
        return self.server.app.authority

    def log_message(self, fmt, *args):
        self.app.log(f"{self.client_address[0]} {fmt % args}")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self._dispatch("HEAD")

    # Errors detected by http.server itself (bad request line, headers too
    # large, unknown method) are JSON too, like every other error.
    BASE_ERROR_CODES = {400: "invalid_request", 408: "request_timeout", 414: "uri_too_long",
                        431: "headers_too_large", 501: "not_implemented", 505: "http_version_not_supported"}

    def send_error(self, code, message=None, explain=None):
        error = AuthorityError(self.BASE_ERROR_CODES.get(code, "invalid_request"),
                               message or explain or self.responses.get(code, ("error",))[0], status=code)
        self.close_connection = True
        body = validate.encode_canonical(error.to_json()) + b"\n"
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _send(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status, obj, headers=()):
        self._send(status, validate.encode_canonical(obj) + b"\n", headers=headers)

    def _send_error(self, error, headers=()):
        headers = tuple(headers) + tuple(getattr(error, "headers", ()))
        if not self._body_read and (self.headers.get("Content-Length", "0").strip() not in ("", "0")
                                    or "Transfer-Encoding" in self.headers):
            self.close_connection = True  # the unread body would be taken for the next request
        if error.status == 401:
            headers = tuple(headers) + (("WWW-Authenticate", 'Bearer realm="jit-authority"'),)
        if error.status >= 500:
            headers = tuple(headers) + (("Retry-After", "1"),)
        self._send_json(error.status, error.to_json(), headers)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped()

    def _read_body(self, kind="default"):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise AuthorityError("length_required", "chunked bodies are not accepted; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            raise AuthorityError("length_required", "a request body with Content-Length is required")
        if not DECIMAL_RE.fullmatch(length.strip()):
            raise AuthorityError("invalid_request", f"Content-Length {length!r} is not a number")
        length = int(length)
        if length > MAX_BODY[kind]:
            self.close_connection = True
            raise AuthorityError("payload_too_large", f"body of {length} bytes exceeds {MAX_BODY[kind]}")
        self._body_read = True
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise AuthorityError("invalid_request", "body shorter than Content-Length")
        return body

    def _json_body(self, kind="default", optional=False):
        body = self._read_body(kind)
        if optional and not body.strip():
            return {}
        return validate.parse_json(body)

    def _query(self, allowed):
        params = parse_qs(self.url.query, keep_blank_values=True)
        for name, values in params.items():
            if name in allowed and len(values) > 1:
                raise AuthorityError("invalid_parameter", f"query parameter {name!r} given twice")
        return {name: values[0] for name, values in params.items() if name in allowed}

    # ---- authentication ---------------------------------------------------------

    def _bearer(self):
        value = self.headers.get("Authorization")
        if value is None:
            return None
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthorityError("unauthorized", "Authorization must be 'Bearer TOKEN'")
        return token.strip()

    def _authenticate_host(self):
        """Checks every configured credential; returns the token's host binding."""
        if self.app.tokens is None:
            return None
        token = self._bearer()
        if token is None:
            raise AuthorityError("unauthorized", "a bearer token is required")
        entry = self.app.tokens.find(token)
        if entry is None:
            raise AuthorityError("unauthorized", "the bearer token is not valid")
        return entry[0]

    def _authorize_host(self, bound_host, host_id):
        if bound_host is not None and bound_host != host_id:
            raise AuthorityError("forbidden", f"this token is for host {bound_host!r}, not {host_id!r}")
        if self.app.mtls_host_binding and isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert() or {}
            names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
            if host_id not in names:
                raise AuthorityError("forbidden", f"client certificate {names} is not for host {host_id!r}")

    def _authenticate_admin(self):
        if self.app.admin_tokens is None:
            return
        token = self._bearer()
        if token is None or self.app.admin_tokens.find(token) is None:
            raise AuthorityError("unauthorized", "the admin API needs the admin bearer token")

    # ---- dispatch ---------------------------------------------------------------

    def _dispatch(self, method):
        self._body_read = False
        try:
            self.url = urlsplit(self.path)
            path = self.url.path
            is_host = path.startswith("/v1/") and HOST_API in self.server.apis
            is_admin = path.startswith("/admin/") and ADMIN_API in self.server.apis
            bound_host = None
            if is_host:
                bound_host = self._authenticate_host()
                ua = self.headers.get("User-Agent", "")
                if self.app.require_user_agent and not USER_AGENT_RE.fullmatch(ua):
                    raise AuthorityError("missing_user_agent",
                                         "every request must carry User-Agent: <implementation>/<version>")
            elif is_admin:
                self._authenticate_admin()
            else:
                raise AuthorityError("not_found", f"no such endpoint {path}")
            allowed = []
            for route_method, pattern, name, api in ROUTES:
                if api not in self.server.apis:
                    continue
                match = pattern.fullmatch(path)
                if not match:
                    continue
                if route_method != method:
                    allowed.append(route_method)
                    continue
                args = [unquote(a) for a in match.groups()]
                if api == HOST_API:
                    validate.check_host_id(args[0])
                    self._authorize_host(bound_host, args[0])
                elif args and name.startswith("admin_") and "/hosts/" in path:
                    validate.check_host_id(args[0])
                getattr(self, name)(*args)
                return
            if allowed:
                error = AuthorityError("method_not_allowed",
                                       f"{method} is not allowed on {path} (allowed: {', '.join(allowed)})")
                error.headers = (("Allow", ", ".join(allowed)),)
                raise error
            raise AuthorityError("not_found", f"no such endpoint {path}")
        except _Dropped:
            self.app.log(f"{self.client_address[0]} {method} {self.path}: connection dropped (injected fault)")
        except AuthorityError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug: answer 500 and keep serving
            self.app.log(f"internal error on {method} {self.path}: {traceback.format_exc()}")
            self._send_error(AuthorityError("internal_error", f"internal error: {type(e).__name__}"))
