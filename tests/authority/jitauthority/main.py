"""jit-authority: start the reference authority (test and demo use only)."""

import argparse
import ipaddress
import os
import signal
import sys
import threading

from .server import ADMIN_API, HOST_API, App, AuthorityHTTPServer, Tokens, make_tls_context
from .errors import AuthorityError
from .signing import Signer, SigningError
from .state import Authority

DESCRIPTION = """\
Reference central authority for jitlogin: signed long-poll grant bundles,
request relay and event upload (PROTOCOL.md), plus an admin API under /admin/.
For tests and demos only: it listens on loopback and keeps its state in memory
(optionally in a JSON file)."""


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected ADDRESS:PORT, e.g. 127.0.0.1:0")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: the address must be an IPv4 loopback address")
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(
            f"{value!r}: refusing to listen on a non-loopback address (this is a test authority)")
    return str(address), int(port)


def positive_int(value):
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return int(value)


def non_negative_int(value):
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a non-negative integer")
    return int(value)


def build_parser():
    p = argparse.ArgumentParser(prog="jit-authority", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8443),
                   help="loopback ADDRESS:PORT for the host API (port 0: any free port; default 127.0.0.1:8443)")
    p.add_argument("--port-file", help="write the bound port of --listen here (atomically) once listening")
    p.add_argument("--admin-listen", type=parse_listen,
                   help="serve the admin API on this separate plain-HTTP loopback address; without it the "
                        "admin API shares --listen (not allowed with TLS)")
    p.add_argument("--admin-port-file", help="write the bound port of --admin-listen here")
    p.add_argument("--key", required=True, help="Ed25519 private key (PEM) that signs bundles")
    p.add_argument("--key-id", required=True, help="key_id put in every envelope")
    p.add_argument("--token-file", help="require a bearer token on the host API: lines 'TOKEN' or 'HOST_ID TOKEN'")
    p.add_argument("--admin-token-file", help="require this bearer token on the admin API")
    p.add_argument("--tls-cert", help="serve the host API over HTTPS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="private key of --tls-cert")
    p.add_argument("--client-ca", help="require a client certificate signed by this CA (mTLS)")
    p.add_argument("--mtls-host-binding", action="store_true",
                   help="with --client-ca: the client certificate's CN must equal the host_id in the path")
    p.add_argument("--state", help="persist state in this JSON file; a restart keeps revisions monotonic")
    p.add_argument("--bundle-ttl", type=positive_int, default=900,
                   help="seconds from issued_at to expires_at (default 900)")
    p.add_argument("--reissue-after", type=positive_int,
                   help="issue a new revision this many seconds after the last one even if nothing "
                        "changed (default: half of --bundle-ttl)")
    p.add_argument("--approvals-required", type=non_negative_int, default=1,
                   help="approvals an access request needs (0: approve at once; default 1)")
    p.add_argument("--request-ttl", type=positive_int, default=3600,
                   help="seconds a request stays pending before it expires (default 3600)")
    p.add_argument("--max-request-duration", type=positive_int, default=7 * 86400,
                   help="largest duration_seconds a request may ask for (default 604800)")
    p.add_argument("--revoked-retention", type=positive_int, default=86400,
                   help="seconds a revocation stays listed in 'revoked' (default 86400)")
    p.add_argument("--max-wait", type=non_negative_int, default=60,
                   help="hold long polls at most this long even if the host asks for more (default 60)")
    p.add_argument("--no-require-user-agent", dest="require_user_agent", action="store_false",
                   help="accept host requests without 'User-Agent: impl/version'")
    p.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    return p


def check_options(p, args):
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        p.error("--client-ca needs --tls-cert/--tls-key")
    if args.mtls_host_binding and not args.client_ca:
        p.error("--mtls-host-binding needs --client-ca")
    if args.tls_cert and not args.admin_listen:
        p.error("with TLS, give --admin-listen: the admin API is plain HTTP on its own loopback port")
    if args.admin_port_file and not args.admin_listen:
        p.error("--admin-port-file needs --admin-listen")
    if args.reissue_after is not None and args.reissue_after >= args.bundle_ttl:
        p.error("--reissue-after must be below --bundle-ttl")
    if args.bundle_ttl < 2:
        p.error("--bundle-ttl must be at least 2")


def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_options(p, args)
    try:
        signer = Signer(args.key, args.key_id)
        tokens = Tokens(args.token_file) if args.token_file else None
        admin_tokens = Tokens(args.admin_token_file) if args.admin_token_file else None
        tls = make_tls_context(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    except (SigningError, OSError, ValueError) as e:
        print(f"jit-authority: {e}", file=sys.stderr)
        return 2

    app = App(None, tokens=tokens, admin_tokens=admin_tokens, mtls_host_binding=args.mtls_host_binding,
              require_user_agent=args.require_user_agent, max_wait=args.max_wait, quiet=args.quiet)
    authority = Authority(signer, bundle_ttl=args.bundle_ttl, reissue_after=args.reissue_after,
                          approvals_required=args.approvals_required, request_ttl=args.request_ttl,
                          revoked_retention=args.revoked_retention,
                          max_request_duration=args.max_request_duration,
                          state_path=args.state, log=app.log)
    app.authority = authority
    try:
        if authority.load():
            app.log(f"state restored from {args.state}")
    except (OSError, ValueError, KeyError, TypeError, AuthorityError) as e:
        print(f"jit-authority: cannot load state {args.state}: {e}", file=sys.stderr)
        return 2

    servers = []
    try:
        apis = {HOST_API} if args.admin_listen else {HOST_API, ADMIN_API}
        servers.append(AuthorityHTTPServer(args.listen, app, apis, tls))
        if args.admin_listen:
            servers.append(AuthorityHTTPServer(args.admin_listen, app, {ADMIN_API}))
    except OSError as e:
        print(f"jit-authority: cannot listen: {e}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    scheme = "https" if tls else "http"
    port = servers[0].server_address[1]
    app.log(f"host API on {scheme}://{args.listen[0]}:{port}/v1/ (key_id {args.key_id})")
    if args.admin_listen:
        app.log(f"admin API on http://{args.admin_listen[0]}:{servers[1].server_address[1]}/admin/")
    # --admin-port-file last: once it exists, both ports are known and served.
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.admin_port_file:
        write_port_file(args.admin_port_file, servers[1].server_address[1])

    while not stop.wait(0.5):
        try:
            authority.tick()
        except Exception as e:  # keep serving; the next tick retries
            app.log(f"housekeeping failed: {e}")

    app.log("stopping")
    authority.close()
    for s in servers:
        s.shutdown()
        s.server_close()
    signer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
