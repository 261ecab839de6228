#!/bin/bash
# Integration: reference authority + jit-helperd (temp config, loopback http,
# temp state/socket/NSS paths, no sudoers) + jitctl.
#   integration_test.sh JIT_HELPERD JITCTL AUTHORITY_DIR
# Checks: status/grants/check reflect a grant created at the authority, as
# bounded by [limits] (the clamping rule named);
# jitctl check's exit codes; revocation shows up through the long poll; the
# daemon restarted with the authority down serves the stored state; SIGHUP
# with a broken config keeps the old one, with a good one applies what it may
# and names the restart-only keys; check-config names file/line/key; a bad
# config is exit 78 for the daemon too; request relay uses the caller's kernel
# identity; a non-socket file at socket.path is refused and left alone.
HELPERD=$1 JITCTL=$2 AUTH_DIR=$3
source "$(cd "$(dirname "$0")" && pwd)/../integration/lib.sh"
set -eo pipefail
use_authority "$AUTH_DIR" || die "no reference authority in $AUTH_DIR"
setup_tmp h

HOST=web-01 AUTH_APPROVALS=1
authority_for_host || die "the reference authority did not start, or admin host add failed"

# No sudoers drop-in; the state dir is created by the daemon.
HELPERD_UIDS=3000000-3000100 HELPERD_STATE_BY_DAEMON=1
# [limits] max_window: every 1 h grant below is clamped to 30 min (docs/config.md).
helperd_config "$T/helperd.sock" "" "[nss]\nhome_base = $T/home\n[limits]\nmax_window = 30m"

"$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null || die "valid config refused"
ctl check-config --config "$T/helperd.conf" >/dev/null || die "jitctl check-config refused a valid config"

HELPERD_READY="quiet ctl status"  # ready: the daemon answers
has_revision() { ctl status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["revision"] >= int(sys.argv[1]) else 1)' "$1"; }
not_allowed() { [ "$(decision "$1" 2>/dev/null)" != allow ]; }
# check_rc WANT ARGS...: `jitctl check ARGS` exits WANT (jitctl(1), EXIT STATUS:
# 0 allow or not managed, 10 deny, 1 the daemon refused, 3 unreachable,
# 2 command line); its output in $T/check.out and $T/check.err.
check_rc() {
  local want=$1 rc; shift
  set +e; ctl check "$@" >"$T/check.out" 2>"$T/check.err"; rc=$?; set -e
  [ "$rc" = "$want" ] || die "jitctl check $*: exit $rc, expected $want: $(cat "$T/check.out" "$T/check.err")"
}

helperd_start || die "jit-helperd did not start"
wait_for --or-die "first bundle" 30 quiet has_revision 1
grep -q "plain http" "$T/helperd.log" || die "no warning about plain http"

# No grant yet: italice is unknown, so not managed (PAM_IGNORE).
[ "$(decision italice)" = ignore ] || die "italice should be unmanaged before any grant"
check_rc 0 italice
grep -q ": ignore (not_managed)" "$T/check.out" || die "check of an unmanaged user: $(cat "$T/check.out")"

GID=$(admin grant create --host web-01 --user italice --duration 1h --reason "integration test" --sudo-command /usr/bin/id)
wait_for --or-die "grant visible" 30 lists_grant "$GID"
[ "$(decision italice)" = allow ] || die "italice should be allowed with grant $GID"
[ "$(decision italice sudo)" = allow ] || die "italice sudo should be allowed"
check_rc 0 italice
grep -q ": allow (active_grant)" "$T/check.out" || die "check of an allowed user: $(cat "$T/check.out")"
grep -q "access until" "$T/check.out" || die "check does not show the PAM message: $(cat "$T/check.out")"
grep -q "(limits.max_window on this host)" "$T/check.out" || die "check does not name the clamping rule: $(cat "$T/check.out")"
grep -q "^host limits: limits.max_window: clamped not_after " "$T/check.out" || die "check does not show the host limits: $(cat "$T/check.out")"
ctl grants | grep -q "host limit: limits.max_window: clamped" || die "grants does not show the host limit: $(ctl grants)"
grep -q "grant.limited" "$T/helperd.log" || die "no grant.limited event in the daemon's log"
check_rc 0 italice --service sudo --json
grep -q '"decision" *: *"allow"' "$T/check.out" || die "check --json of an allowed sudo: $(cat "$T/check.out")"
ctl status >"$T/status" || die "jitctl status failed"
grep -q "1 active" "$T/status" || die "status does not count the grant: $(cat "$T/status")"
grep -q "127.0.0.1:$AUTH_PORT" "$T/status" || die "status does not show the authority URL"
# The NSS snapshot was published to the configured temp path (never /var/lib/jit).
[ -s "$T/nss.db" ] || die "no NSS snapshot at $T/nss.db"

# Audit events reach the authority through the upload queue.
events_have() { [[ $(admin events list --host web-01 2>/dev/null) == *"$1"* ]]; }
wait_for --or-die "events uploaded" 30 events_have bundle.accepted

# Revocation reaches the daemon through the long poll (no restart, no waiting for poll_wait).
admin grant revoke --host web-01 "$GID" >/dev/null
wait_for --or-die "revocation" 30 not_allowed italice
set +e; ctl check italice >/dev/null; rc=$?; set -e
[ "$rc" = 10 ] || [ "$(decision italice)" = ignore ] || die "revoked: unexpected exit $rc"

# A new grant, then the authority goes down and the daemon restarts: stored state is served.
GID2=$(admin grant create --host web-01 --user itbob --duration 1h --reason "restart test")
wait_for --or-die "second grant" 30 lists_grant "$GID2"
# itbob may log in but has no sudo right: deny is exit 10, with --json too.
check_rc 0 itbob
check_rc 10 itbob --service sudo
grep -q ": deny (no_sudo)" "$T/check.out" || die "check of a denied sudo: $(cat "$T/check.out")"
check_rc 10 itbob --kind sudo --json
grep -q '"decision" *: *"deny"' "$T/check.out" || die "check --json of a denied sudo: $(cat "$T/check.out")"
# The daemon refuses the question: exit 1, with its error code.
check_rc 1 itbob --kind bogus
grep -q "jit-helperd refused: bad_request" "$T/check.err" || die "check --kind bogus: $(cat "$T/check.err")"
# The command line is not understood: 2 (USER is missing).
check_rc 2
kill "$AUTH_PID"; reap "$AUTH_PID" || true
helperd_stop TERM || die "daemon did not exit cleanly on SIGTERM"
grep -q "daemon.stopped" "$T/helperd.log" || die "no daemon.stopped event"
helperd_start || die "jit-helperd did not start again"
[ "$(decision itbob)" = allow ] || die "restart with authority down: stored grant not served"
out=$(ctl status) || die "jitctl status failed with the authority down"
grep -q "error" <<<"$out" || die "status should report the failing authority: $out"

# SIGHUP with a broken config keeps the running one.
cp "$T/helperd.conf" "$T/helperd.conf.good"
printf '[authority]\npoll_wait = 99\n' >>"$T/helperd.conf"
kill -HUP "$HELPERD_PID"
wait_for --or-die "reload failure logged" 30 grep -q "config_reload_failed" "$T/helperd.log"
[ "$(decision itbob)" = allow ] || die "broken reload dropped state"
set +e; out=$(ctl check-config --config "$T/helperd.conf" 2>&1); rc=$?; set -e
[ "$rc" = 1 ] || die "check-config exit $rc for a bad config"
BAD_LINE=$(( $(wc -l < "$T/helperd.conf.good") + 2 ))  # the appended poll_wait
grep -q "helperd.conf:$BAD_LINE: key 'authority.poll_wait'" <<<"$out" || die "check-config message: $out"
set +e; "$HELPERD" --check-config --config "$T/helperd.conf" >/dev/null 2>"$T/check-config.err"; rc=$?; set -e
[ "$rc" = 78 ] || die "jit-helperd --check-config exit $rc for a bad config"
grep -qF "$T/helperd.conf:$BAD_LINE: key 'authority.poll_wait': " "$T/check-config.err" \
    || die "--check-config message: $(cat "$T/check-config.err")"
# The daemon itself, started on that file, exits 78 (EX_CONFIG: the unit's
# RestartPreventExitStatus) with the same problem, before touching anything;
# the running daemon is not disturbed. Also for a trusted-key directory that is not there.
set +e; timeout 30 "$HELPERD" --config "$T/helperd.conf" >/dev/null 2>"$T/bad-start.err"; rc=$?; set -e
[ "$rc" = 78 ] || die "jit-helperd on a bad config: exit $rc, expected 78: $(cat "$T/bad-start.err")"
[ "$(cat "$T/bad-start.err")" = "jit-helperd: $(cat "$T/check-config.err")" ] \
    || die "jit-helperd on a bad config: '$(cat "$T/bad-start.err")', --check-config said '$(cat "$T/check-config.err")'"
sed "s|^trusted_keys_dir = .*|trusted_keys_dir = $T/no-such-keys|" "$T/helperd.conf.good" >"$T/nokeys.conf"
set +e; timeout 30 "$HELPERD" --config "$T/nokeys.conf" >/dev/null 2>"$T/bad-start.err"; rc=$?; set -e
[ "$rc" = 78 ] || die "jit-helperd without its trusted keys: exit $rc, expected 78: $(cat "$T/bad-start.err")"
[[ $(cat "$T/bad-start.err") == "jit-helperd: $T/nokeys.conf:"*"key 'authority.trusted_keys_dir': $T/no-such-keys"* ]] \
    || die "jit-helperd without its trusted keys: $(cat "$T/bad-start.err")"
set +e; "$HELPERD" --check-config --config "$T/nokeys.conf" >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 78 ] || die "jit-helperd --check-config without trusted keys: exit $rc"
kill -0 "$HELPERD_PID" 2>/dev/null || die "the running daemon died"
[ "$(decision itbob)" = allow ] || die "the running daemon lost state while a bad one started"

# SIGHUP with a good config (docs/config.md): pam.timeout_ms is re-read and
# applied; socket.mode is read only at start, so the socket keeps its mode and
# config.reloaded names the key; the grants in force stay.
pam_timeout() { ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pam_timeout_ms"])'; }
[ "$(pam_timeout)" = 1500 ] || die "pam.timeout_ms before the reload: $(pam_timeout)"
[ "$(stat -c %a "$HELPERD_SOCK")" = 666 ] || die "socket mode before the reload: $(stat -c %a "$HELPERD_SOCK")"
REV_BEFORE=$(revision)
sed -e 's/^\[pam\]$/[pam]\ntimeout_ms = 777/' -e 's/^\[socket\]$/[socket]\nmode = 0660/' \
    "$T/helperd.conf.good" >"$T/helperd.conf"
grep -qx "timeout_ms = 777" "$T/helperd.conf" && grep -qx "mode = 0660" "$T/helperd.conf" || die "test setup: config not edited"
kill -HUP "$HELPERD_PID"
wait_for --or-die "reload logged" 30 grep -q "config.reloaded" "$T/helperd.log"
grep "config.reloaded" "$T/helperd.log" >"$T/reloaded"
grep -q 'JIT_REASON="not applied until a restart: socket.mode"' "$T/reloaded" \
    || die "config.reloaded does not name socket.mode as restart-only: $(cat "$T/reloaded")"
[ "$(pam_timeout)" = 777 ] || die "pam.timeout_ms not applied by SIGHUP: $(pam_timeout)"
[ "$(stat -c %a "$HELPERD_SOCK")" = 666 ] || die "socket.mode applied without a restart: $(stat -c %a "$HELPERD_SOCK")"
[ "$(revision)" = "$REV_BEFORE" ] || die "revision changed by the reload: $(revision), was $REV_BEFORE"
[ "$(decision itbob)" = allow ] || die "reload dropped the grant of itbob"

# Authority back (same port): the daemon catches up.
authority_start || die "the reference authority did not restart"  # same ports, same state
GID3=$(admin grant create --host web-01 --user itcarol --duration 1h --reason "after outage")
wait_for --or-die "catch up after outage" 30 lists_grant "$GID3"

# Request relay: the identity is the caller's uid, whatever it claims.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getent passwd nobody >/dev/null; then
  ctl_as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$JITCTL" --socket "$HELPERD_SOCK" "$@"; }
  ctl_as_nobody request --reason "integration relay" --duration 30m --json >"$T/request.json" || die "request relay failed: $(cat "$T/request.json")"
  RID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/request.json")
  admin request show --host web-01 "$RID" >"$T/request.show" 2>&1 || true
  grep -q nobody "$T/request.show" || die "authority did not record the request as nobody: $(cat "$T/request.show")"
  out=$(ctl_as_nobody request-status "$RID") || die "request-status failed: $out"
  grep -q pending <<<"$out" || die "request-status does not say pending: $out"
  # A slow authority: the relayed request outlives the socket's io_timeout_ms
  # (2 s) and jitctl's usual 5 s; both wait for relays as long as the relay may take.
  admin fault set --endpoint requests --mode delay --seconds 6 --count 1 >/dev/null
  ctl_as_nobody request --reason "slow authority" --duration 30m --json >"$T/request-slow.json" \
    || die "request relay through a slow authority failed: $(cat "$T/request-slow.json")"
  grep -q '"id"' "$T/request-slow.json" || die "no request id through a slow authority: $(cat "$T/request-slow.json")"
  # An unprivileged peer may not ask about someone else.
  set +e; ctl_as_nobody check itcarol >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" = 1 ] || die "nobody could check another user (exit $rc)"
fi

# refused_start CONF LINE: jit-helperd --config CONF exits 1 at start, and
# its standard error is exactly LINE.
refused_start() {
  local rc
  set +e; timeout 30 "$HELPERD" --config "$1" >/dev/null 2>"$T/refused.err"; rc=$?; set -e
  [ "$rc" = 1 ] || die "jit-helperd --config $1: exit $rc, expected 1: $(cat "$T/refused.err")"
  grep -qxF "$2" "$T/refused.err" || die "jit-helperd --config $1: $(cat "$T/refused.err"), expected: $2"
}

# A second jit-helperd started by mistake is refused before it publishes
# anything, and the first goes on: with the same configuration at the upload
# spool's lock, with its own state dir at the live socket.
nss_before=$(stat -c '%i %Y' "$T/nss.db")
mkdir -p "$T/state2" && chmod 700 "$T/state2"
sed "s|^dir = $T/state\$|dir = $T/state2|" "$T/helperd.conf" >"$T/second.conf"
grep -qx "dir = $T/state2" "$T/second.conf" || die "test setup: state.dir not set"
for conf in helperd second; do
  if [ "$conf" = helperd ]; then
    expected="jit-helperd: the audit upload spool $T/state/upload is in use by another process"
  else
    expected="jit-helperd: $HELPERD_SOCK is in use: another jit-helperd is listening on it; refusing to take it over"
  fi
  refused_start "$T/$conf.conf" "$expected"
  [ "$(stat -c '%i %Y' "$T/nss.db")" = "$nss_before" ] || die "the refused second daemon ($conf.conf) rewrote the NSS snapshot"
  ctl status >/dev/null || die "the first daemon stopped answering after a second one ($conf.conf) was refused"
done

# The daemon is gone: jitctl says so with exit code 3.
helperd_stop TERM || true
set +e; ctl status >/dev/null 2>&1; rc=$?; set -e
[ "$rc" = 3 ] || die "jitctl status without daemon: exit $rc, expected 3"
check_rc 3 itbob
grep -q "jit-helperd is not reachable at $HELPERD_SOCK" "$T/check.err" || die "check without daemon: $(cat "$T/check.err")"

# A file that is not a socket at socket.path is refused (docs/config.md): the
# daemon exits 1 naming the path and leaves the file as it was; a symlink too.
printf 'precious data\n' >"$T/not-a-socket"
before=$(stat -c '%i %s %Y %a %h' "$T/not-a-socket") sum=$(sha256sum <"$T/not-a-socket")
ln -s "$T/not-a-socket" "$T/link.sock"
for target in "$T/not-a-socket" "$T/link.sock"; do
  sed "s|^path = .*|path = $target|" "$T/helperd.conf" >"$T/notsock.conf"
  grep -qx "path = $target" "$T/notsock.conf" || die "test setup: socket.path not set"
  refused_start "$T/notsock.conf" "jit-helperd: $target exists and is not a socket; refusing to replace it"
  [ "$(stat -c '%i %s %Y %a %h' "$T/not-a-socket")" = "$before" ] && [ "$(sha256sum <"$T/not-a-socket")" = "$sum" ] \
      || die "the file at $target was changed"
done
[ -L "$T/link.sock" ] && [ "$(readlink "$T/link.sock")" = "$T/not-a-socket" ] || die "the symlink at socket.path was changed"
log "helperd integration: OK"
