#!/bin/bash
# SSH keys and certificates from the grant, end to end on this host: the
# reference authority, the real jit-helperd, users that exist only through
# libnss_jit (private mount namespace: tests/nss/nss-namespace.sh), a real sshd
# wired by jit-ssh-setup (AuthorizedKeysCommand jit-authorized-keys, Match
# Group jit-users with AuthorizedKeysFile none) and pam_jit.so in its account
# phase. Root only (77 = skipped).
#   ssh_keys_test.sh JIT_HELPERD PAM_JIT_SO JIT_AUTHORIZED_KEYS JIT_SSH_SETUP NSS_MODULE
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
  db=$(mktemp -d /tmp/jit-ssh-db.XXXXXX) && chmod 0755 "$db"
  # The AuthorizedKeysCommandUser and the group of every JIT user: in production
  # the packages create jit-ssh and jit-users. Here existing unprivileged
  # accounts stand in for them: the test must not write /etc/passwd or
  # /etc/group (a rename there detaches bind mounts in every other namespace).
  export KEYS_USER=nobody USERS_GROUP=nogroup
  "$SRC/tests/nss/nss-namespace.sh" --module "$5" --db-dir "$db" -- "$0" --inside "$db" "$@"
  rc=$?
  rm -rf "$db"
  exit $rc
fi
shift
DB=$1 HELPERD=$2 SO=$3 AKC=$4 SETUP=$5
source "$SRC/tests/integration/lib.sh"
require_root_and_tools /usr/sbin/sshd ssh ssh-keygen /usr/bin/python3
use_authority || skip "reference authority not present"
setup_tmp ssh
SHOW_ON_FAIL+=("$T/sshd.log")
run_names "ssh-$TAG" "jit-test-$TAG"
# sshd runs the command only from a root-owned path no one else can write to.
BIN=/run/jit-ssh-test-$TAG
mkdir -m 0755 "$BIN"
ETC_FILES+=("$BIN/jit-authorized-keys" "$BIN/cat-captured")
EXTRA_DIRS=("$BIN")
cleanup_ssh() { local rc=$?; rm -rf "${EXTRA_DIRS[@]}"; (exit $rc); cleanup; }
trap cleanup_ssh EXIT
install -m 0755 "$AKC" "$BIN/jit-authorized-keys"

ssh-keygen -q -t ed25519 -N '' -C grant-key -f "$T/grant_key"
ssh-keygen -q -t ed25519 -N '' -C other-key -f "$T/other_key"
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/ca"
ssh-keygen -q -t ed25519 -N '' -C cert-key -f "$T/cert_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"

ALICE=ja$$ BOB=jb$$ MAL=jm$$
ALICE_UID=$(free_uid 70900 70999) || die "no free uid"
BOB_UID=$((ALICE_UID + 1)) MAL_UID=$((ALICE_UID + 2))  # the publisher skips any that are local
authority_for_host || die "authority"
SOCK=$T/helperd.sock
helperd_config "$SOCK" "" "[ssh]\nkey_options = no-agent-forwarding,no-X11-forwarding\nkeys_command_user = $KEYS_USER\nusers_group = $USERS_GROUP"
# retention: bob still exists after his window, so what refuses him is the key.
sed -i -e "s|^db_path = .*|db_path = $DB/nss.db\nretention = 1h|" "$T/helperd.conf"
helperd_start || die "jit-helperd did not start"
pam_service sshd "$SVC-sshd"

# --- sshd wired by jit-ssh-setup ----------------------------------------------------
PORT=$(free_port)
mkdir -m 0755 "$T/sshd_config.d"
mkdir -p /run/sshd
write_sshd_config() {  # write_sshd_config FILE [EXTRA LINES]
  cat > "$1" <<EOC
Include $T/sshd_config.d/*.conf
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
TrustedUserCAKeys $T/ca.pub
${2:-}
EOC
}
write_sshd_config "$T/sshd_config"
write_sshd_config "$T/sshd_config_taken" "AuthorizedKeysCommand /bin/true %u
AuthorizedKeysCommandUser nobody"
# The command sshd runs: jit-authorized-keys with this run's socket.
printf '#!/bin/sh\nexec %s --socket %s "$@"\n' "$BIN/jit-authorized-keys" "$SOCK" > "$BIN/keys-command"
chmod 0755 "$BIN/keys-command"
setup() { "$SETUP" --template "$SRC/packaging/sshd_config.d/50-jitlogin.conf" --command "$BIN/keys-command" \
  --dropin-dir "$T/sshd_config.d" --user "$KEYS_USER" --group "$USERS_GROUP" "$@"; }
setup --sshd-config "$T/sshd_config_taken" > "$T/setup.out" 2>&1
check "setup: refuses when the host has its own AuthorizedKeysCommand" \
  grep -q "sshd already has 'AuthorizedKeysCommand /bin/true %u'" "$T/setup.out"
check "setup: ...and writes nothing" test ! -e "$T/sshd_config.d/50-jitlogin.conf"
setup --sshd-config "$T/sshd_config" --group no-such-group-$$ > "$T/setup.out" 2>&1
check "setup: refuses a users group that does not exist" grep -q "the group 'no-such-group-$$'" "$T/setup.out"
setup --sshd-config "$T/sshd_config" > "$T/setup.out" 2>&1 || fail "setup: $(cat "$T/setup.out")"
check "setup: drop-in written" grep -q "^AuthorizedKeysCommand $BIN/keys-command %u$" "$T/sshd_config.d/50-jitlogin.conf"
check "setup: run again, same result (its own drop-in is not 'the host's')" quiet setup --sshd-config "$T/sshd_config"

start_sshd_with() {  # start_sshd_with CONFIG
  ln -sf /usr/sbin/sshd "$T/$SVC-sshd"
  "$T/$SVC-sshd" -D -e -f "$1" >> "$T/sshd.log" 2>&1 &
  SSHD_PID=$!
  PIDS+=($SSHD_PID)
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || die "sshd did not start"
}
stop_sshd() { kill "$SSHD_PID"; reap "$SSHD_PID"; }
start_sshd_with "$T/sshd_config"
login() {  # login USER KEY [ssh options]: "in" on success
  local user=$1 key=$2; shift 2
  ssh -i "$key" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR -p "$PORT" "$@" "$user@127.0.0.1" 'echo in' 2>>"$T/ssh.err" < /dev/null
}
logs_in() { [ "$(login "$@")" = in ]; }

# --- grants -----------------------------------------------------------------------------
NOW=$(date +%s)
BOB_NB=$((NOW + 15)) BOB_NA=$((NOW + 30))
ALICE_NA=$((NOW + 3600))
grant "$ALICE" "$ALICE_UID" --not-after "$ALICE_NA" --ssh-key "$(cat "$T/grant_key.pub")" >/dev/null || die "grant alice"
grant "$BOB" "$BOB_UID" --not-before "$BOB_NB" --not-after "$BOB_NA" --ssh-key "$(cat "$T/grant_key.pub")" >/dev/null || die "grant bob"
# bob exists before his login window (a sudo-only grant): what refuses him then is the key.
grant "$BOB" "$BOB_UID" --duration 1h --no-login --sudo-command /usr/bin/id >/dev/null || die "grant bob (sudo only)"
wait_for --or-die "the daemon holds the grants" 15 bash -c "getent passwd $ALICE >/dev/null && getent passwd $BOB >/dev/null"
keys_of() { runuser -u "$KEYS_USER" -- "$BIN/jit-authorized-keys" --socket "$SOCK" "$@"; }
ssh-keygen -q -s "$T/ca" -I "alice-cert" -n "$ALICE,$BOB" -V -5m:+1h "$T/cert_key.pub"

# --- alice: inside her window ---------------------------------------------------------------
check "keys: the grant's key logs in" logs_in "$ALICE" "$T/grant_key"
check "keys: no other key does" not logs_in "$ALICE" "$T/other_key"
keys_of "$ALICE" > "$T/alice.keys"
check "keys: one line, expiry-time at the window's end, host options, the grant's key" \
  test "$(cat "$T/alice.keys")" = "expiry-time=\"$(date -u -d @$((ALICE_NA - 1)) +%Y%m%d%H%M%S)Z\",no-agent-forwarding,no-X11-forwarding $(cat "$T/grant_key.pub")"
runuser -u daemon -- "$BIN/jit-authorized-keys" --socket "$SOCK" "$ALICE" > "$T/other.keys" 2>"$T/other.err"
check "keys: another user may not ask for alice's keys" test ! -s "$T/other.keys"
check "keys: ...and is told why (exit 0 for sshd)" grep -q "forbidden" "$T/other.err"
EXTRA_DIRS+=("/home/$ALICE")
install -d -m 0700 -o "$ALICE_UID" -g "$ALICE_UID" "/home/$ALICE" "/home/$ALICE/.ssh"
install -m 0600 -o "$ALICE_UID" -g "$ALICE_UID" "$T/other_key.pub" "/home/$ALICE/.ssh/authorized_keys"
check "home keys: a key planted in ~/.ssh/authorized_keys is refused" not logs_in "$ALICE" "$T/other_key"
check "certificate: accepted inside the window" logs_in "$ALICE" "$T/cert_key" -o CertificateFile="$T/cert_key-cert.pub"

# --- bob: before, inside and after his window ------------------------------------------------
check "window: no key served before not_before" test -z "$(keys_of "$BOB")"
check "window: refused before not_before" not logs_in "$BOB" "$T/grant_key"
check "certificate: refused before not_before" not logs_in "$BOB" "$T/cert_key" -o CertificateFile="$T/cert_key-cert.pub"
while [ "$(date +%s)" -lt "$BOB_NB" ]; do sleep 0.2; done
check "window: the grant's key logs in inside it" logs_in "$BOB" "$T/grant_key"
check "certificate: accepted inside the window" logs_in "$BOB" "$T/cert_key" -o CertificateFile="$T/cert_key-cert.pub"
"$BIN/jit-authorized-keys" --socket "$SOCK" "$BOB" > "$T/bob.captured"
check "window: bob's line ends at his window's last second" \
  grep -q "^expiry-time=\"$(date -u -d @$((BOB_NA - 1)) +%Y%m%d%H%M%S)Z\"" "$T/bob.captured"
while [ "$(date +%s)" -lt "$BOB_NA" ]; do sleep 0.2; done
check "window: no key served after not_after" test -z "$(keys_of "$BOB")"
check "window: refused after not_after" not logs_in "$BOB" "$T/grant_key"
check "certificate: refused after not_after" not logs_in "$BOB" "$T/cert_key" -o CertificateFile="$T/cert_key-cert.pub"

# --- the daemon is down after the window: expiry-time alone stops the key --------------------
# An sshd that serves the line jit-authorized-keys printed inside the window
# (as a copy or cache would) and has no pam_jit: sshd itself refuses it.
helperd_stop
keys_of "$ALICE" > "$T/down.keys" 2> "$T/down.err"
down_rc=$?
check "daemon down: jit-authorized-keys prints nothing (fail closed)" test ! -s "$T/down.keys"
check "daemon down: ...exits 0 for sshd" test "$down_rc" = 0
printf '#!/bin/sh\nexec cat %s\n' "$T/bob.captured" > "$BIN/cat-captured"; chmod 0755 "$BIN/cat-captured"
stop_sshd
write_sshd_config "$T/sshd_config_captured" "AuthorizedKeysCommand $BIN/cat-captured
AuthorizedKeysCommandUser root
LogLevel DEBUG"
sed -i "/^Include/d" "$T/sshd_config_captured"
ln -sf /usr/sbin/sshd "$T/$SVC-sshd"
"$T/$SVC-sshd" -D -e -o "PidFile=$T/sshd2.pid" -f "$T/sshd_config_captured" >> "$T/sshd.log" 2>&1 &
SSHD_PID=$!; PIDS+=($SSHD_PID)
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || die "sshd (captured) did not start"
check "daemon down: the captured line is refused after the window" not logs_in "$BOB" "$T/grant_key"
check "daemon down: ...because sshd saw it expired" grep -q "entry expired at" "$T/sshd.log"
stop_sshd

# --- a malformed key line never reaches sshd -------------------------------------------------
helperd_start || die "jit-helperd restart"
start_sshd_with "$T/sshd_config"
check "daemon up again: alice logs in" logs_in "$ALICE" "$T/grant_key"
rejected() { ctl status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["sync"]["bundles_rejected"] > 0 else 1)'; }
JITCTL=$(dirname "$HELPERD")/../jitctl/jitctl
grant "$MAL" "$MAL_UID" --duration 1h --ssh-key "command=\"/bin/sh\" $(cat "$T/grant_key.pub")" >/dev/null || die "grant mallory"
check "malformed: the bundle carrying it is rejected" wait_for 15 rejected
keys_of "$MAL" > "$T/mal.keys"
check "malformed: nothing served" test ! -s "$T/mal.keys"
check "malformed: the line is not in sshd's input" not logs_in "$MAL" "$T/grant_key"

# --- the test can fail: with home keys allowed, the planted key works ------------------------
stop_sshd
setup --sshd-config "$T/sshd_config" --allow-home-keys > "$T/setup.out" 2>&1 || fail "setup --allow-home-keys"
start_sshd_with "$T/sshd_config"
check "home keys allowed by the host: the planted key logs in" logs_in "$ALICE" "$T/other_key"
finish
