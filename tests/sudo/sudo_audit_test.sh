#!/bin/bash
# Every sudo command on the record, end to end on this host: the reference
# authority, the real jit-helperd, a JIT user that exists only through
# libnss_jit, the real sudo with jitlogin's audit plugin (sudo.conf and the
# module in a private mount namespace) and pam_jit.so in sudo's account phase.
# A command sudo ran and one sudoers refused (which never reaches pam_jit) both
# become audit events with their command lines. Root only (77 = skipped).
#   sudo_audit_test.sh JIT_HELPERD PAM_JIT_SO SUDO_PLUGIN NSS_MODULE
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
  db=$(mktemp -d /tmp/jit-sudo-db.XXXXXX) && chmod 0755 "$db"
  "$SRC/tests/nss/nss-namespace.sh" --module "$4" --db-dir "$db" -- "$0" --inside "$db" "$@"
  rc=$?
  rm -rf "$db"
  exit $rc
fi
shift
DB=$1 HELPERD=$2 SO=$3 PLUGIN=$4
source "$SRC/tests/integration/lib.sh"
require_root_and_tools sudo visudo runuser /usr/bin/python3
use_authority || skip "reference authority not present"
setup_tmp sudo
run_names "sudo-$TAG" "jit-test-$TAG"
# sudo loads a plugin only from a root-owned path no one else can write to.
BIN=/run/jit-sudo-test-$TAG
mkdir -m 0755 "$BIN"
cleanup_sudo() { local rc=$?; rm -rf "$BIN"; (exit $rc); cleanup; }
trap cleanup_sudo EXIT
install -m 0644 "$PLUGIN" "$BIN/sudo_jit_audit.so"

authority_for_host || die "authority"
SOCK=$T/helperd.sock
helperd_config "$SOCK" "$DROPIN"
sed -i -e "s|^db_path = .*|db_path = $DB/nss.db|" "$T/helperd.conf"
helperd_start || die "jit-helperd did not start"
pam_service sudo "$SVC-sudo"

# sudo.conf as docs/sudo.md says: sudoers' own plugins, then jitlogin's.
cat > "$T/sudo.conf" <<EOC
Plugin sudoers_policy sudoers.so
Plugin sudoers_io sudoers.so
Plugin sudoers_audit sudoers.so
Plugin jit_audit $BIN/sudo_jit_audit.so socket=$SOCK timeout_ms=2000
EOC
mount --bind "$T/sudo.conf" /etc/sudo.conf || skip "cannot bind-mount /etc/sudo.conf"

ALICE=sa$$
ALICE_UID=$(free_uid 71000 71099) || die "no free uid"
etc_file "/etc/sudoers.d/$SVC-pam" 0440 <<EOF2
Defaults:$ALICE pam_service=$SVC-sudo, timestamp_timeout=0
EOF2
visudo -cqf "/etc/sudoers.d/$SVC-pam" || die "test sudoers file"
G=$(grant "$ALICE" "$ALICE_UID" --duration 1h --sudo-command "/usr/bin/id") || die "grant"
wait_for --or-die "the daemon publishes alice's sudo rule" 15 grep -q "^$ALICE " "$DROPIN"
wait_for --or-die "alice exists" 15 bash -c "getent passwd $ALICE >/dev/null"

out=$(cd /tmp && runuser -u "$ALICE" -- sudo -n /usr/bin/id -u 2>&1)
check "sudo: the granted command runs" test "$out" = 0
out=$(runuser -u "$ALICE" -- sudo -n /usr/bin/passwd 2>&1)
check "sudo: a command outside the grant is refused by sudoers" lacks -q "^0$" <<<"$out"
recorded() { grep -q "^jit-helperd: $1 .*JIT_USER=$ALICE .*JIT_COMMAND=\"\?$2\"\? " "$T/helperd.log"; }
check "audit: sudo.command with the command line" wait_for 5 recorded sudo.command '/usr/bin/id -u'
check "audit: ...the run-as user, cwd and grant" \
  grep -q "^jit-helperd: sudo.command .*JIT_RUN_AS=root .*JIT_CWD=/tmp .*JIT_GRANT_ID=$G" "$T/helperd.log"
check "audit: sudo.refused for the command sudoers refused" wait_for 5 recorded sudo.refused /usr/bin/passwd
# sudoers asks for a password for a command no NOPASSWD rule covers: with -n
# that ends as sudo's error "authentication failure", which is the reason kept.
check "audit: ...with sudo's reason" grep -Eq "^jit-helperd: sudo.refused .*JIT_COMMAND=/usr/bin/passwd .*JIT_REASON=\"?[a-z]" "$T/helperd.log"

# Arguments a shell would mangle stay readable and whole.
runuser -u "$ALICE" -- sudo -n /usr/bin/id -u "it's" $'two\nlines' >/dev/null 2>&1
check "audit: odd arguments quoted, control characters escaped" \
  grep -qF "JIT_COMMAND=\"/usr/bin/id -u \$'it\\\\'s' \$'two\\\\x0alines'\"" "$T/helperd.log"

# Root (not managed) is not recorded by jitlogin, and is never slowed or
# stopped by it: with the daemon gone, root's sudo still runs at once.
sudo -n /usr/bin/true
check "root: not a jitlogin record" lacks -q "sudo.command .*JIT_USER=root" "$T/helperd.log"
helperd_stop
check "daemon down: root's sudo still runs" sudo -n /usr/bin/true
out=$(runuser -u "$ALICE" -- sudo -n /usr/bin/id -u 2>&1)
check "daemon down: alice's sudo is refused (pam_jit fails closed)" lacks -q "^0$" <<<"$out"
finish
