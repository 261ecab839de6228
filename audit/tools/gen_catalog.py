#!/usr/bin/env python3
"""Writes audit/jitlogin.catalog. The MESSAGE_IDs must match audit/src/events.cpp
(tests/audit checks it). Run: python3 audit/tools/gen_catalog.py > audit/jitlogin.catalog"""

DOC = "file:///usr/share/doc/jitlogin/audit.md"

E = [
("3899d54c9b634a09a7434274580c4a8d", "bundle.accepted", "jitlogin accepted grants bundle revision @JIT_REVISION@",
 """The helper daemon received a grants bundle from the central authority, verified
its Ed25519 signature, host id, revision and validity window, and made it the
state in force. It holds @JIT_COUNT@ grant(s).

Grants that appear or change in this bundle are followed by grant.activated /
grant.ended / grant.revoked entries. No action is needed."""),
("a5a4781781304e0d87ccac8a40962d5a", "bundle.rejected", "jitlogin rejected a grants bundle: @JIT_RULE@",
 """A bundle from the authority failed the check @JIT_RULE@ and was rejected:
@JIT_REASON@

The previously accepted bundle stays in force unchanged. A bad signature, a
host id that is not ours, or a revision lower than the last accepted one can
mean a misconfigured authority, a wrong trusted key, or an attempt to replay or
forge grants. Compare the key_id and host_id with /etc/jit/, and ask the
authority's operators whether they rotated keys. Repeated rejections make this
host stale (see stale.begin)."""),
("ddbc4aa11bc945b2b9bebbca6ef530e8", "stale.begin", "jitlogin's view of its grants is stale",
 """The last accepted bundle (revision @JIT_REVISION@) expired and no newer bundle
has been accepted since. Revocations made at the authority may not have reached
this host. Depending on host policy, grants are either still honoured until
their own not_after or suspended.

Check that jit-helperd can reach the authority (jitctl status, the daemon's
log) and that bundles are not being rejected (bundle.rejected)."""),
("ec268deae7164652abdaa409705a62d5", "stale.end", "jitlogin's view of its grants is fresh again",
 """A newer bundle (revision @JIT_REVISION@) was accepted after a stale period.
Normal enforcement resumed. No action is needed; review what happened while
the host was stale if revocations were pending."""),
("0c0e8f07338b46adb0012c3963442b95", "grant.activated", "Access window opened for @JIT_USER@ (grant @JIT_GRANT_ID@)",
 """Grant @JIT_GRANT_ID@ for @JIT_USER@ became active: the window runs until
@JIT_NOT_AFTER@ (unix time). Requested by @JIT_REQUESTED_BY@, approved by
@JIT_APPROVED_BY@, ticket @JIT_TICKET@, reason: @JIT_REASON@

From now on the user may log in and use sudo as the grant allows. Use
"jitctl audit --grant @JIT_GRANT_ID@ --summary" for the full story."""),
("8bd8057cbab345bd8dde03fa201f5514", "grant.ended", "Access window closed for @JIT_USER@ (grant @JIT_GRANT_ID@)",
 """Grant @JIT_GRANT_ID@ for @JIT_USER@ ended (@JIT_CAUSE@): its not_after passed,
or the grant is no longer in the authority's bundle. The user can no longer log in or use sudo
through it, and any remaining sessions are ended (session.ended). No action is
needed."""),
("6caee379623249859edf7b8c606477f3", "grant.revoked", "Grant @JIT_GRANT_ID@ for @JIT_USER@ revoked early",
 """The authority revoked grant @JIT_GRANT_ID@ for @JIT_USER@ before its window
ended (by @JIT_REVOKED_BY@: @JIT_REASON@). Access was removed at once and open
sessions are ended. If the revocation was unexpected, ask the person who revoked
it; an early revocation can be the response to a security incident."""),
("b24d26c8935c4c16b29dff80fceaaa3f", "grant.limited", "Host limits changed grant @JIT_GRANT_ID@ for @JIT_USER@: @JIT_RULE@",
 """The authority signed grant @JIT_GRANT_ID@ for @JIT_USER@, but this host's
helperd.conf [limits] do not allow all of it. @JIT_RULE@ @JIT_ACTION@
@JIT_DETAIL@. What the grant gives on this host (login, sudo, groups, shell,
window) is the bounded grant; `jitctl check @JIT_USER@` shows it.

Requested by @JIT_REQUESTED_BY@, approved by @JIT_APPROVED_BY@. A grant that
asks for more than the host allows can be an honest mistake at the authority
or a sign that the authority or its signing key is misused: compare it with
the request and ask the approvers. Loosen [limits] only on purpose."""),
("120618d6696549a890d9e471f2228379", "login.allowed", "Login allowed for @JIT_USER@ via @JIT_SERVICE@",
 """@JIT_USER@ was allowed to log in through @JIT_SERVICE@ (from @JIT_RHOST@,
tty @JIT_TTY@) under grant @JIT_GRANT_ID@, valid until @JIT_NOT_AFTER@.
Approved by @JIT_APPROVED_BY@, ticket @JIT_TICKET@. No action is needed."""),
("8292b43e6b924241b0ec2f28576705f9", "login.denied", "Login denied for @JIT_USER@ via @JIT_SERVICE@",
 """jitlogin refused a login by @JIT_USER@ through @JIT_SERVICE@ (from
@JIT_RHOST@): @JIT_REASON@

Usual reasons: no active grant (the window has not begun or has ended), the
grant does not allow logins, the host's view is stale and policy suspends
grants, or the helper daemon could not be reached (jitlogin fails closed for
the users it manages). If the user should have access, check
"jitctl explain @JIT_USER@" and the grants at the authority. Many denials from
one remote host may be an attack."""),
("ad2564f42606432fac88efed9ee994c6", "sudo.allowed", "sudo allowed for @JIT_USER@",
 """@JIT_USER@ ran "@JIT_COMMAND@" as @JIT_RUN_AS@ with sudo under grant
@JIT_GRANT_ID@ (valid until @JIT_NOT_AFTER@, approved by @JIT_APPROVED_BY@).
No action is needed; this entry is the audit record of the privileged command."""),
("41a97859c7a64c7b943bc6e41bac3319", "sudo.denied", "sudo denied for @JIT_USER@",
 """jitlogin refused sudo for @JIT_USER@ (command "@JIT_COMMAND@" as
@JIT_RUN_AS@): @JIT_REASON@

The grant may not include sudo, may not include this command, or may have
ended. If the user needs the command, they should request a grant that covers
it ("jitctl request"). Repeated attempts at commands outside the grant deserve
a look."""),
("f5b219969ea448fe976d5566967d593a", "sudo.command", 'sudo ran "@JIT_COMMAND@" for @JIT_USER@',
 """sudo ran "@JIT_COMMAND@" as @JIT_RUN_AS@ for the JIT user @JIT_USER@, in
@JIT_CWD@ on @JIT_TTY@, under grant @JIT_GRANT_ID@. jitlogin's sudo audit
plugin reports every command sudo runs or refuses; no action is needed, this
entry is the record of the privileged command."""),
("0d6bbb1604f54291be4a01b0805c096a", "sudo.refused", 'sudo refused "@JIT_COMMAND@" for @JIT_USER@',
 """sudo refused to run "@JIT_COMMAND@" as @JIT_RUN_AS@ for the JIT user
@JIT_USER@ (in @JIT_CWD@ on @JIT_TTY@): @JIT_REASON@. The sudoers policy or
pam_jit.so said no; the command did not run. Repeated attempts at commands
outside the grant deserve a look."""),
("480eb14a026c4aa4a846510037ffc3c8", "su.allowed", "su allowed for @JIT_USER@",
 """su involving the JIT user @JIT_USER@ (target @JIT_RUN_AS@) was allowed under
grant @JIT_GRANT_ID@. No action is needed."""),
("339919e208ea449cbb74a66ff9207d0f", "su.denied", "su denied for @JIT_USER@",
 """jitlogin refused su involving the JIT user @JIT_USER@ (target @JIT_RUN_AS@):
@JIT_REASON@

A JIT user may only be switched to while a grant allowing logins is active."""),
("a5a0d1fe3a4f41af9c7863da1699bfd4", "session.opened", "Session @JIT_SESSION_ID@ opened for @JIT_USER@",
 """A session (@JIT_SESSION_ID@, service @JIT_SERVICE@, tty @JIT_TTY@) opened for
@JIT_USER@ under grant @JIT_GRANT_ID@. jitlogin tracks it and ends it when the
window closes at @JIT_NOT_AFTER@. No action is needed."""),
("4d98845ccd86497a9e7360923652049a", "session.warned", "@JIT_USER@ warned: access ends in @JIT_SECONDS_LEFT@ s",
 """The terminals of @JIT_USER@'s session @JIT_SESSION_ID@ were told that grant
@JIT_GRANT_ID@ ends in @JIT_SECONDS_LEFT@ seconds. The user should save their
work or request an extension. No operator action is needed."""),
("680fbea583c546a88884a010a0d66fdf", "session.ended", "Session @JIT_SESSION_ID@ of @JIT_USER@ ended by jitlogin (@JIT_HOW@)",
 """jitlogin ended session @JIT_SESSION_ID@ of @JIT_USER@ because grant
@JIT_GRANT_ID@ ended or was revoked. How: @JIT_HOW@

terminate-session: systemd-logind's TerminateSession ended it cleanly.
kill-session: processes survived the grace period and logind sent SIGKILL.
fallback-kill: logind was not available and jitlogin killed the session's
processes itself.

If this entry is followed by a security.alert about surviving processes,
inspect the host: a process escaped the session."""),
("2c9a8251ca0b426ea12efdf3bf171491", "session.closed", "Session @JIT_SESSION_ID@ of @JIT_USER@ closed",
 """Session @JIT_SESSION_ID@ of @JIT_USER@ (grant @JIT_GRANT_ID@) closed, by
logout or after being ended by jitlogin. No action is needed."""),
("ecb8b930637d4d37813fa1a022ef0260", "user.ended", "What @JIT_USER@ left running outside a session was ended by jitlogin (@JIT_HOW@)",
 """The last grant of the JIT user @JIT_USER@ (uid @JIT_UID@) ended. Processes
under the user's own systemd manager (user@UID.service: systemd-run --user,
systemctl --user units) are in no login session, and a lingering
user's manager outlives every session, so ending the sessions does not reach
them. jitlogin switched the user's lingering off and asked systemd-logind to
end the user (step polite: TerminateUser), then, after the grace, to kill what
was left (step hard: KillUser with SIGKILL). How: @JIT_HOW@

A JIT_ERROR means logind did not do it: inspect the user's processes
(loginctl user-status @JIT_UID@) and end them by hand."""),
("c9d9cc31ebf84b958ba61f0f2d928b8c", "home.created", "Home directory created for @JIT_USER@",
 """A home directory @JIT_PATH@ was created for the JIT user @JIT_USER@ (uid
@JIT_UID@). No action is needed."""),
("3ffefc68a69041358935a8fd59495c70", "home.archived", "Home directory of @JIT_USER@ archived",
 """After grant @JIT_GRANT_ID@ ended, the home directory of @JIT_USER@ was
archived to @JIT_PATH@ according to host policy. It is kept for the configured
retention period and can be inspected there."""),
("120aefd0f23c4aa29ac33f89848834fc", "home.deleted", "Home directory of @JIT_USER@ deleted",
 """The home directory (or archive) @JIT_PATH@ of @JIT_USER@ was deleted because
its retention period ended. This is permanent."""),
("64c2cf9b78664401af00e6da8d44bf54", "daemon.started", "jit-helperd started",
 """The jitlogin helper daemon started (pid @JIT_PID@). It enforces the last
accepted grants bundle (revision @JIT_REVISION@) and fetches newer ones from
the authority. Until it has a bundle, JIT users are denied."""),
("5f659febee2c44d0b3252f5b79135ca6", "daemon.stopped", "jit-helperd stopped",
 """The jitlogin helper daemon stopped (@JIT_REASON@). While it is down, PAM
denies every JIT-managed user (users jitlogin does not manage are unaffected),
and windows are not enforced by the daemon. If this was not a planned stop or
restart, check "systemctl status jit-helperd"."""),
("317a4be23f9b4a67bd73d3a4f5fdac27", "config.reloaded", "jit-helperd reloaded its configuration",
 """The helper daemon re-read @JIT_PATH@. @JIT_REASON@ Check "jitctl check-config"
if the reload was unexpected."""),
("e70327af4fc14841b2f5fecc57d1b5fd", "request.relayed", "Access request by @JIT_USER@ relayed to the authority",
 """@JIT_USER@ (uid @JIT_UID@, taken from the kernel, not from the request) asked
for access; the request was relayed to the authority as @JIT_REQUEST_ID@.
Reason: @JIT_REASON@, ticket @JIT_TICKET@. Approvers decide at the authority."""),
("3fe89612a86a4db69f6c3d417e26ca24", "request.decided", "Access request @JIT_REQUEST_ID@ of @JIT_USER@: @JIT_STATE@",
 """The authority decided request @JIT_REQUEST_ID@ by @JIT_USER@: @JIT_STATE@
(by @JIT_APPROVED_BY@). An approved request arrives as grant @JIT_GRANT_ID@ in
the next bundle."""),
("115bade1397d42b0936a1f934ae6383d", "security.alert", "jitlogin security alert: @JIT_ALERT@",
 """jitlogin detected something an operator must look at: @JIT_ALERT@.
@JIT_REASON@

Some kinds: upload.queue_full (the authority has not acknowledged audit
events for a long time and the oldest were dropped from the upload queue; they
are still in this journal), upload.spool_failed / upload.spool_corrupt (the
upload spool under /var/lib/jit/upload could not be written or read),
state_corrupt (a state file under /var/lib/jit could not be used at start: it
was moved aside to JIT_ARCHIVE, kept for you to inspect, and the daemon started
from what it could rebuild, JIT_REASON says what), state_refused /
state_write_failed (the daemon's stored grants), callback_failed (a bug: an
exception reached the event loop; the daemon kept running), peer_rate_limited
(a local user, JIT_UID, sent more access requests than allowed; further ones
are refused until the budget recovers), publish_failed (NSS snapshot or sudoers drop-in not written),
config_reload_failed, plain_http (the authority is reached without TLS),
sudoers.rule_left_out (a grant's sudo rule or command could not be written
safely and was left out: its holder's sudo fails; the message names the grant),
nss.* (a grant's user cannot be published through NSS),
home.create_failed, home_retention, enforce_state, recording.shell_missing
(session recording is on but its shell, JIT_PATH, cannot be run: JIT users
cannot log in until it is installed), user_end (what a JIT user left running
outside a session could not be ended when their last grant ended). JIT_ERROR
and JIT_PATH give
details. Investigate before the situation hides evidence."""),
]

print("#  jitlogin: just-in-time login. journald catalog, one entry per MESSAGE_ID.")
print("#  Generated by audit/tools/gen_catalog.py; ids are defined in audit/src/events.cpp.")
print("#  See " + DOC)
for mid, name, subject, body in E:
    print()
    print("-- " + mid)
    print("Subject: " + subject)
    print("Defined-By: jitlogin")
    print("Documentation: " + DOC)
    print()
    print(body)
    print()
    print("Event: " + name + " (JIT_EVENT=" + name + ").")
