#!/bin/bash
# Users jitlogin does not manage are never blocked, with jit-helperd running or
# stopped; sudo is decided for the invoking user and the target.
# Root only (exit 77 otherwise). Usage: directory_users.sh JIT_HELPERD PAM_JIT_SO
#
# Directory users (as SSSD/LDAP/AD serve them: john.smith, alice@corp.example,
# Bob, and dir-<tag> whose name a grant could carry) come from libnss-extrausers,
# not /etc/passwd. Everything runs in private mount namespaces (`unshare -m`)
# where test copies are bind-mounted over
#   /etc/nsswitch.conf     passwd/group/shadow: files extrausers
#   /var/lib/extrausers    the directory users
#   /etc/passwd            the host's, plus a 5,000-byte line before the admin's
#   /etc/pam.d/su, sudo    the stock stacks with pam_jit.so in account and session
# (real service names: no kind=, pam_jit classifies them as the daemon does);
# jit-helperd runs in such a namespace too, so it sees the same users. The
# host's files are never edited.
#
# Checked, daemon running and daemon stopped: pamtester (account + session) and
# root's su for each directory user; the admin after the long passwd line (the
# module used to spin forever on it). sudo both ways, both phases: an admin's
# `sudo -u <JIT user>` is a su to that user (allowed in her login window,
# registered as her session), a JIT user's `sudo` is hers (registered as her
# session, though sudo's session phase names root).
HELPERD=$1
SO=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
require_root_and_tools unshare mount runuser useradd visudo sudo pamtester timeout /bin/su /usr/bin/python3
[ -x "$HELPERD" ] || skip "jit-helperd not built ($HELPERD)"
use_authority || skip "reference authority not present"
[ -f "$SO" ] || { echo "no module at $SO" >&2; exit 1; }
[ -d /var/lib/extrausers ] && { [ -e /usr/lib/libnss_extrausers.so.2 ] || [ -e /lib/x86_64-linux-gnu/libnss_extrausers.so.2 ]; } \
  || skip "needs libnss-extrausers"
[ -f /etc/pam.d/su ] && [ -f /etc/pam.d/sudo ] || skip "no /etc/pam.d/su or sudo"
unshare -m true 2>/dev/null || skip "cannot create a mount namespace (unshare -m)"
setup_tmp
make_client_key
run_names "dir-$TAG" "jit-test-$TAG-dir"

# --- local users -------------------------------------------------------------------
#   LOGIN: JIT user, login-only grant     SUDOER: JIT user, grant with sudo
#   NOGRANT: JIT user without a grant      OPS: local admin (sudo ALL), not managed
LOGIN=jt-${TAG}-dl SUDOER=jt-${TAG}-ds NOGRANT=jt-${TAG}-dn OPS=lo-${TAG}-dadm
for u in LOGIN SUDOER NOGRANT; do
  uid=$(free_uid 74000 74499) || exit 1
  add_user "${!u}" "$uid" || exit 1
  eval "${u}_UID=$uid"
done
OPS_UID=$(free_uid 64000 64499) || exit 1
add_user "$OPS" "$OPS_UID" || exit 1
# The host's files are never edited. Other users in /etc/passwd may come and go
# meanwhile (other tests on a shared machine): compare this run's lines only,
# and check that none of the test's own (namespace-only) lines leaked into it.
HOST_SUM=$(cat /etc/nsswitch.conf /etc/pam.d/su /etc/pam.d/sudo | sha256sum)
passwd_mine() { grep -F -- "$TAG" /etc/passwd | sort; }
PASSWD_MINE=$(passwd_mine)
host_unchanged() {
  [ "$(cat /etc/nsswitch.conf /etc/pam.d/su /etc/pam.d/sudo | sha256sum)" = "$HOST_SUM" ] || return 1
  [ "$(passwd_mine)" = "$PASSWD_MINE" ] || return 1
  local u
  for u in "${DIR_USERS[@]}"; do ! grep -q -- "^$u:" /etc/passwd || return 1; done
}

# --- directory users (extrausers), outside the managed range -------------------------
DIRUSER=dir-${TAG}
DIR_USERS=(john.smith alice@corp.example Bob "$DIRUSER")
mkdir -p "$T/ns/extrausers"
uid=64500
for u in "${DIR_USERS[@]}"; do
  getent passwd "$u" >/dev/null && skip "a user named $u exists on this host"
  uid=$(free_uid "$uid" 64999) || exit 1
  echo "$u:*:$uid:$uid:directory user:/nonexistent:/bin/sh" >> "$T/ns/extrausers/passwd"
  echo "g$uid:x:$uid:" >> "$T/ns/extrausers/group"
  echo "$u:*:19000:0:99999:7:::" >> "$T/ns/extrausers/shadow"
  [ "$u" = "$DIRUSER" ] && DIRUSER_UID=$uid
  uid=$((uid + 1))
done
chmod 644 "$T/ns/extrausers/passwd" "$T/ns/extrausers/group"
chmod 640 "$T/ns/extrausers/shadow"
sed -E 's/^(passwd|group|shadow):(.*)$/\1:\2 extrausers/' /etc/nsswitch.conf > "$T/ns/nsswitch.conf"
# A 5,000-byte passwd line just before the admin's (a long GECOS, as some sites have).
LONG="lx-$TAG:*:$(free_uid 64000 64499):65534:$(head -c 5000 /dev/zero | tr '\0' g):/nonexistent:/usr/sbin/nologin"
awk -v long="$LONG" -v admin="$OPS" -F: '$1 == admin { print long } { print }' /etc/passwd > "$T/ns/passwd"
check "setup: the 5,000-byte line is right before the admin's" \
  test "$(grep -A1 "^lx-$TAG:" "$T/ns/passwd" | cut -d: -f1 | tr '\n' ' ')" = "lx-$TAG $OPS "

# --- authority and jit-helperd (in a namespace: it sees the directory users) ----------
authority_for_host || exit 1
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN"
JIT="$SO socket=$SOCK nss_db=$T/nss.db"
{ echo "account required $JIT"; cat /etc/pam.d/su; echo "session required $JIT"; } > "$T/ns/su"
{ echo "account required $JIT"; cat /etc/pam.d/sudo; echo "session required $JIT"; } > "$T/ns/sudo"
etc_file "/etc/pam.d/$SVC" 0644 <<EOC
auth     required  pam_permit.so
account  required  $JIT
account  include   common-account
session  include   common-session-noninteractive
session  required  $JIT
EOC
chmod 644 "$T/ns/su" "$T/ns/sudo" "$T/ns/nsswitch.conf" "$T/ns/passwd"
etc_file "/etc/sudoers.d/$SVC" 0440 <<EOC
Defaults:$OPS, $LOGIN, $SUDOER, $NOGRANT timestamp_timeout=0, !use_pty
$OPS ALL=(ALL) NOPASSWD: ALL
EOC
visudo -cqf "/etc/sudoers.d/$SVC" || die "test sudoers file"

NS_SETUP='T=$1; shift
mount --bind "$T/ns/nsswitch.conf" /etc/nsswitch.conf &&
mount --bind "$T/ns/extrausers" /var/lib/extrausers &&
mount --bind "$T/ns/passwd" /etc/passwd &&
mount --bind "$T/ns/su" /etc/pam.d/su &&
mount --bind "$T/ns/sudo" /etc/pam.d/sudo || exit 125
exec "$@"'
in_ns() { unshare -m --propagation private -- /bin/sh -c "$NS_SETUP" in_ns "$T" "$@"; }
ns_exec() { exec unshare -m --propagation private -- /bin/sh -c "$NS_SETUP" in_ns "$T" "$@"; }
HELPERD_WRAP=ns_exec helperd_start || die "jit-helperd did not start"

check "namespace: directory users resolve inside" in_ns getent passwd john.smith Bob "$DIRUSER"
check "namespace: ...and not outside" not getent passwd john.smith

# pam USER: pamtester account + session (hang guard only: the assertion is the status).
pam() { in_ns timeout 20 pamtester "$SVC" "$1" acct_mgmt open_session close_session > "$T/pam.out" 2>&1; }
# su_to USER: root's plain su (service su) to USER runs id.
su_to() { in_ns timeout 20 /bin/su -s /bin/sh "$1" -c 'id -u' > "$T/su.out" 2>&1 < /dev/null; }
# sudo_as CALLER [sudo args]: CALLER runs sudo -n ARGS id -u; output in $T/sudo.out.
sudo_as() { local c=$1; shift; in_ns timeout 20 runuser -u "$c" -- sudo -n "$@" /usr/bin/id -u > "$T/sudo.out" 2>&1 < /dev/null; }
said() { grep -q "$@" "$T/sudo.out" || { log "  sudo said: $(cat "$T/sudo.out")"; return 1; }; }
not_blocked() {  # not_blocked USER: pamtester and su work, nothing from jitlogin
  pam "$1" || { log "  pamtester: $(cat "$T/pam.out")"; return 1; }
  su_to "$1" || { log "  su: $(cat "$T/su.out")"; return 1; }
  lacks jitlogin: "$T/pam.out" && lacks jitlogin: "$T/su.out"
}

G_LOGIN=$(grant "$LOGIN" "$LOGIN_UID" --duration 1h) || exit 1
G_SUDOER=$(grant "$SUDOER" "$SUDOER_UID" --duration 1h --sudo-command /usr/bin/id) || exit 1
log "grants: $LOGIN $G_LOGIN (login), $SUDOER $G_SUDOER (login + sudo /usr/bin/id)"
wait_for 15 pam "$LOGIN" || die "the daemon did not pick up the bundle: $(cat "$T/pam.out")"
wait_for --or-die "the sudoers drop-in" 15 grep -q "^$SUDOER " "$DROPIN"

# --- daemon running -------------------------------------------------------------------
for u in "${DIR_USERS[@]}"; do
  check "daemon up: directory user $u not blocked (pamtester account+session, su)" not_blocked "$u"
done
check "daemon up: admin after the 5,000-byte passwd line not blocked" not_blocked "$OPS"
check "daemon up: JIT user with a grant passes (pamtester)" pam "$LOGIN"
check "daemon up: JIT user without a grant refused (pamtester)" not pam "$NOGRANT"

sudo_as "$OPS" -u "$LOGIN"
check "sudo: admin's sudo -u <JIT user in her login window> runs as her" said -x "$LOGIN_UID"
check "sudo: ...and registered as her session" grep -q "session opened for $LOGIN via sudo" "$T/helperd.log"
sudo_as "$OPS" -u "$NOGRANT"
check "sudo: admin's sudo -u <JIT user without a grant> refused like su" said "^jitlogin: no active grant for $NOGRANT on $HOST"
check "sudo: ...and the command did not run" lacks -x "$NOGRANT_UID" "$T/sudo.out"
sudo_as "$OPS" -u "$DIRUSER"
check "sudo: admin's sudo -u <directory user> works" said -x "$DIRUSER_UID"
sudo_as "$OPS"
check "sudo: admin's sudo to root works" said -x 0
sudo_as "$SUDOER"
check "sudo: JIT user's own sudo works" said -x 0
check "sudo: ...her session is registered as hers (PAM_USER was root)" grep -q "session opened for $SUDOER via sudo" "$T/helperd.log"
sudo_as "$LOGIN" -u "$LOGIN"
check "sudo: a login-only JIT user's sudo is refused as hers" said "^jitlogin: grant $G_LOGIN for $LOGIN does not allow sudo"
check "sudo: ...and the command did not run" lacks -x "$LOGIN_UID" "$T/sudo.out"

# --- daemon stopped --------------------------------------------------------------------
helperd_stop TERM
for u in "${DIR_USERS[@]}"; do
  check "daemon down: directory user $u not blocked (pamtester account+session, su)" not_blocked "$u"
done
check "daemon down: admin after the 5,000-byte passwd line not blocked" not_blocked "$OPS"
pam "$LOGIN"
check "daemon down: JIT user refused" grep -q "jitlogin: cannot reach jit-helperd" "$T/pam.out"
sudo_as "$OPS" -u "$LOGIN"
check "daemon down: admin's sudo -u <JIT user> refused" said "^jitlogin: cannot register the session with jit-helperd; session refused"
check "daemon down: ...and the command did not run" lacks -x "$LOGIN_UID" "$T/sudo.out"
sudo_as "$SUDOER"
check "daemon down: JIT user's sudo refused" said "^jitlogin: cannot reach jit-helperd"
check "daemon down: ...and the command did not run" lacks -x 0 "$T/sudo.out"
sudo_as "$OPS"
check "daemon down: admin's sudo to root works" said -x 0
sudo_as "$OPS" -u "$DIRUSER"
check "daemon down: admin's sudo -u <directory user> works" said -x "$DIRUSER_UID"

check "host: passwd (this run's lines), nsswitch.conf, pam.d/su and sudo unchanged" host_unchanged
finish
