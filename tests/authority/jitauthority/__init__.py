"""Reference central authority for jitlogin (test and demo use only).

Implements /work/shared/PROTOCOL.md (docs/protocol.md in the repository):
signed long-poll grant bundles, request relay and audit-event upload, plus a
loopback admin API. Modules:

- errors:    AuthorityError, the one error type with a stable code
- validate:  parsing and limits for grants, requests and events
- signing:   Ed25519 signing through the openssl command-line tool
- state:     hosts, revisions, grants, requests, events; persistence
- faults:    fault injection for the host-facing endpoints
- server:    the HTTP(S) server: sockets, TLS, authentication, routing
- host_api:  the host endpoints of PROTOCOL.md (with fault injection)
- admin_api: the loopback admin endpoints
- main:      command-line entry point of jit-authority
- admin_cli: jit-authority-admin, the admin client
"""
