#!/bin/bash
# The real /bin/su (util-linux) through pam_jit.so, against the real jit-helperd
# fed by the reference authority (tests/authority/jit-authority).
# Root only (exit 77 otherwise, or without unshare/su). Usage: su_real.sh JIT_HELPERD PAM_JIT_SO
#
# su's PAM service names are fixed ("su", and "su-l" for `su -`), so the host's
# /etc/pam.d/su is never edited: every su runs inside a private mount namespace
# (`unshare -m`, private propagation) where a test copy of /etc/pam.d/su with
#   account required pam_jit.so socket=<test socket>
# before the stock lines is bind-mounted over /etc/pam.d/su (and a copy of su-l,
# which on Debian includes su). No `kind=` argument: the daemon classifies the
# real service names itself (su, su-l -> kind su: needs a grant with login: true).
#
# Checked: root and an unprivileged local user (password typed on a pty) su to
# a JIT user with an active grant; refused with the one jitlogin line without a
# grant, with a sudo-only grant, after the window ended and after a revocation;
# a local user jitlogin does not manage is never affected; with jit-helperd
# killed the JIT user is refused ("cannot reach jit-helperd") and the local
# user still works. The host's /etc/pam.d/su and su-l are unchanged afterwards.
HELPERD=$1
SO=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
require_root_and_tools unshare mount runuser useradd usermod /bin/su /usr/bin/python3 openssl
[ -f /etc/pam.d/su ] || skip "no /etc/pam.d/su"
[ -x "$HELPERD" ] || skip "jit-helperd not built ($HELPERD)"
use_authority || skip "reference authority not present"
[ -f "$SO" ] || { echo "no module at $SO" >&2; exit 1; }
unshare -m true 2>/dev/null || skip "cannot create a mount namespace (unshare -m)"
setup_tmp
make_client_key

run_names "su-$TAG" "jit-test-$TAG-su"
HOST_PAM_SUM=$(cat /etc/pam.d/su /etc/pam.d/su-l 2>/dev/null | sha256sum)

# --- users (uid ranges no other host test uses, so they can run at once) ---------
#   A: 1 h grant          B: no grant            C: grant ending during the test
#   D: sudo-only grant    E: 1 h grant, revoked  LOC: local, not managed
#   OPS: unprivileged local caller for the pty runs
A=jt-${TAG}-sa B=jt-${TAG}-sb C=jt-${TAG}-sc D=jt-${TAG}-sd E=jt-${TAG}-se
LOC=lo-${TAG}-sloc OPS=lo-${TAG}-sops
for u in A B C D E; do
  uid=$(free_uid 73000 73499) || exit 1
  add_user "${!u}" "$uid" || exit 1
  eval "${u}_UID=$uid"
done
for u in LOC OPS; do
  uid=$(free_uid 63000 63499) || exit 1
  add_user "${!u}" "$uid" || exit 1
  eval "${u}_UID=$uid"
done
# Passwords for the pty runs (su by a non-root caller authenticates the target).
PW="it-$TAG-$RANDOM$RANDOM"
HASH=$(openssl passwd -6 "$PW") || exit 1
usermod -p "$HASH" "$A" && usermod -p "$HASH" "$B" && usermod -p "$HASH" "$LOC" || exit 1

# --- authority and jit-helperd --------------------------------------------------------
authority_for_host || exit 1
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN"
SHOW_ON_FAIL+=("$T/authority.log")  # setup_tmp added helperd.log
helperd_start || die "jit-helperd did not start"

# --- the test PAM stacks, visible only inside the namespaces below ----------------------
mkdir -p "$T/pam"
{
  echo "# jitlogin su_real.sh test copy of /etc/pam.d/su"
  echo "account required $SO socket=$SOCK"
  cat /etc/pam.d/su
} > "$T/pam/su"
BIND_SUL=""
if [ -f /etc/pam.d/su-l ]; then
  BIND_SUL=$T/pam/su-l
  if grep -Eq '^[[:space:]]*(account[[:space:]]+include[[:space:]]+su|@include[[:space:]]+su)[[:space:]]*$' /etc/pam.d/su-l; then
    cp /etc/pam.d/su-l "$BIND_SUL"   # its account phase is su's (already with pam_jit)
  else
    { echo "account required $SO socket=$SOCK"; cat /etc/pam.d/su-l; } > "$BIND_SUL"
  fi
fi
chmod 644 "$T/pam/su" ${BIND_SUL:+"$BIND_SUL"}

# in_ns CMD...: CMD in a private mount namespace with the test stacks over su and su-l.
in_ns() {
  unshare -m --propagation private -- /bin/sh -c '
    mount --bind "$1" /etc/pam.d/su || exit 125
    if [ -n "$2" ]; then mount --bind "$2" /etc/pam.d/su-l || exit 125; fi
    shift 2; exec "$@"' in_ns "$T/pam/su" "$BIND_SUL" "$@"
}

# A pty for su's password prompt: runs ARGV, answers "Password:" with $SU_PW,
# copies everything su wrote to the terminal to stdout, exits with su's status.
cat > "$T/pty_su.py" <<'EOF2'
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, sent, deadline = b"", False, time.monotonic() + 20  # hang guard, not an assertion
while True:
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL); out += b"\n[pty_su: timed out]\n"; break
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and b"assword:" in out:
        os.write(fd, os.environ["SU_PW"].encode() + b"\n"); sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out.replace(b"\r\n", b"\n"))
sys.exit(os.waitstatus_to_exitcode(status))
EOF2
chmod 644 "$T/pty_su.py"

# su_root TARGET [plain]: root runs `su - TARGET -c id` (PAM service su-l), or with
# "plain" `su TARGET -c id` (service su); stdout $T/su.out, stderr $T/su.err, status $SU_RC.
su_root() {
  local login=-
  [ "${2:-}" = plain ] && login=""
  in_ns /bin/su $login "$1" -c id > "$T/su.out" 2> "$T/su.err" < /dev/null
  SU_RC=$?
}
# su_pty CALLER TARGET: CALLER runs `su - TARGET -c id` on a pty typing the password;
# everything on the terminal in $T/su.out (and $T/su.err, for the same checks), status $SU_RC.
su_pty() {
  in_ns runuser -u "$1" -- env SU_PW="$PW" /usr/bin/python3 "$T/pty_su.py" /bin/su - "$2" -c id \
    > "$T/su.out" 2> "$T/su.err" < /dev/null
  SU_RC=$?
  cat "$T/su.out" >> "$T/su.err"
}
allowed() {  # allowed UID: su succeeded and ran id as UID
  [ "$SU_RC" = 0 ] && grep -q "^uid=$1(" "$T/su.out" && return 0
  log "  su status $SU_RC; out: $(cat "$T/su.out"); err: $(cat "$T/su.err")"; return 1
}
refused() {  # refused LINE: su failed, id did not run, exactly one jitlogin line and it is LINE (a regex)
  if [ "$SU_RC" != 0 ] && lacks "uid=" "$T/su.out" && [ "$(grep -c '^jitlogin: ' "$T/su.err")" = 1 ] \
     && grep -Eq "^jitlogin: $1\$" "$T/su.err"; then return 0; fi
  log "  su status $SU_RC; out: $(cat "$T/su.out"); err: $(cat "$T/su.err")"; return 1
}

# --- grants --------------------------------------------------------------------------
G_A=$(grant "$A" "$A_UID" --duration 1h) || exit 1
C_END=$(( $(date +%s) + 10 ))
G_C=$(grant "$C" "$C_UID" --not-after "$C_END") || exit 1
G_D=$(grant "$D" "$D_UID" --duration 1h --no-login --sudo-command /usr/bin/id) || exit 1
G_E=$(grant "$E" "$E_UID" --duration 1h) || exit 1
log "grants: $A $G_A, $C $G_C (ends $(date -d @"$C_END" +%T)), $D $G_D, $E $G_E"
ready() { su_root "$E"; [ "$SU_RC" = 0 ]; }
wait_for 15 ready || die "daemon did not pick up the bundle (last su: $(cat "$T/su.err"))"

# --- the namespace is private ------------------------------------------------------------
check "namespace: test stack bind-mounted inside" in_ns grep -q "pam_jit.so socket=$SOCK" /etc/pam.d/su
check "namespace: host's /etc/pam.d/su untouched" lacks -F "$SOCK" /etc/pam.d/su

# --- with a grant ---------------------------------------------------------------------------
su_root "$C"
check "window: root su to a user inside the window" allowed "$C_UID"
su_root "$A"
check "grant: root su - to a JIT user with a grant runs id" allowed "$A_UID"
check "grant: ...told when access ends" grep -Eq "^jitlogin: access until ([0-9]{4}-[0-9]{2}-[0-9]{2} )?[0-9]{2}:[0-9]{2} \((in 59 min|in 1 h)\), grant $G_A\$" "$T/su.err" "$T/su.out"
su_root "$A" plain
check "grant: root plain su (service su) runs id" allowed "$A_UID"
su_pty "$OPS" "$A"
check "grant: unprivileged user su - with the target's password (pty) runs id" allowed "$A_UID"

# --- refused ------------------------------------------------------------------------------
su_root "$B"
check "no grant: root su refused with the one jitlogin line" refused "no active grant for $B on $HOST; request one with 'jitctl request'"
su_root "$B" plain
check "no grant: root plain su (service su) refused with the line" refused "no active grant for $B on $HOST; request one with 'jitctl request'"
su_pty "$OPS" "$B"
check "no grant: unprivileged su with the right password refused with the line" refused "no active grant for $B on $HOST; request one with 'jitctl request'"
su_root "$D"
check "sudo-only grant: su refused (su needs login)" refused "grant $G_D for $D does not allow login"

# --- a local user jitlogin does not manage ------------------------------------------------------
su_root "$LOC"
check "local user: root su works" allowed "$LOC_UID"
su_pty "$OPS" "$LOC"
check "local user: unprivileged su with the password (pty) works" allowed "$LOC_UID"
check "local user: no jitlogin line" lacks "jitlogin:" "$T/su.err"

# --- revocation -----------------------------------------------------------------------------------
admin grant revoke --host "$HOST" --by carol --reason "su_real test" "$G_E" >/dev/null || fail "revoke $G_E"
revoked() { su_root "$E"; [ "$SU_RC" != 0 ]; }
wait_for 15 revoked
check "revoked: su refused with the one jitlogin line" refused "no active grant for $E on $HOST; request one with 'jitctl request'"

# --- the window ends ------------------------------------------------------------------------------
while [ "$(date +%s)" -le "$C_END" ]; do sleep 0.2; done
su_root "$C"
check "window: su after not_after refused, told the window ended" refused "access window ended at .*, grant $G_C"

# --- the daemon dies --------------------------------------------------------------------------------
helperd_stop KILL
su_root "$A"
check "daemon killed: su to the JIT user refused" refused "cannot reach jit-helperd; access for JIT users is refused"
su_pty "$OPS" "$A"
check "daemon killed: unprivileged su to the JIT user refused" refused "cannot reach jit-helperd; access for JIT users is refused"
su_root "$LOC"
check "daemon killed: root su to the local user works" allowed "$LOC_UID"
su_pty "$OPS" "$LOC"
check "daemon killed: unprivileged su to the local user works" allowed "$LOC_UID"

# The daemon saw the real service names and classified them as su.
check "audit: decisions for service su-l recorded as su" grep -q "su allowed for $A via su-l: active_grant" "$T/helperd.log"
check "audit: decisions for service su recorded as su" grep -q "su denied for $B via su: no_grant" "$T/helperd.log"
check "audit: the pty runs carried the caller as ruser" grep -q "su allowed for $A via su-l: active_grant.* JIT_RUSER=$OPS " "$T/helperd.log"
check "host: /etc/pam.d/su and su-l unchanged" test "$(cat /etc/pam.d/su /etc/pam.d/su-l 2>/dev/null | sha256sum)" = "$HOST_PAM_SUM"
finish
