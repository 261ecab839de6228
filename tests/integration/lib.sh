# Shared helpers for pam_jit's host-level tests (sourced, not run).
# Everything created here carries the run's unique tag ($TAG) and is removed by
# cleanup(): users, /etc/pam.d/jit-test-e-*, /etc/sudoers.d/jit-test-e-*, servers.
# Exit code 77 = skipped (ctest SKIP_RETURN_CODE). Safe under `set -e` too.

set -u
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PASSES=0
FAILS=0
TAG="e$$"
T=""
PIDS=()
USERS_CREATED=()
ETC_FILES=()
SHOW_ON_FAIL=()   # files whose tail cleanup() prints when the run fails (setup_tmp adds helperd.log)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
pass() { PASSES=$((PASSES + 1)); log "PASS $*"; }
fail() { FAILS=$((FAILS + 1)); log "FAIL $*"; }
skip() { log "SKIP $*"; exit 77; }
die() { fail "$*"; exit 1; }  # a failure later steps cannot go on from
check() {  # check "description" command...  (passes when the command succeeds)
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

require_root_and_tools() {
  [ "$(id -u)" = 0 ] || skip "needs root"
  local t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || skip "needs $t"; done
}

cleanup() {
  local rc=$?
  set +e
  local p u f shown=" "
  if [ "$rc" -ne 0 ]; then
    for f in "${SHOW_ON_FAIL[@]}"; do
      [[ $shown == *" $f "* ]] && continue  # each file once
      shown+="$f "
      [ -f "$f" ] && { log "--- last lines of $f"; tail -n 100 "$f" >&2; }
    done
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for u in "${USERS_CREATED[@]}"; do
    userdel -f -r "$u" >/dev/null 2>&1
  done
  for f in "${ETC_FILES[@]}"; do rm -f "$f"; done
  [ -n "$T" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$T"
  exit $rc
}

# setup_tmp [PREFIX [BASE]]: the run's temp dir $T (under BASE, default /tmp),
# removed at exit; with PREFIX, TAG becomes PREFIX<pid>.
setup_tmp() {
  [ -z "${1:-}" ] || TAG=$1$$
  T=$(mktemp -d "${2:-/tmp}/jit-it-${TAG}-XXXXXX")
  chmod 755 "$T"
  SHOW_ON_FAIL+=("$T/helperd.log")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

# reap PID: waits for PID (kill it first to stop it) and drops it from the PIDS
# cleanup() kills; returns PID's exit status.
reap() {
  local p rc keep=()
  wait "$1" 2>/dev/null && rc=0 || rc=$?
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return $rc
}

# add_user NAME UID: a local user with a key in ~/.ssh/authorized_keys and no password.
add_user() {
  local name=$1 uid=$2
  getent passwd "$name" >/dev/null && { log "user $name exists already"; return 1; }
  useradd -m -u "$uid" -s /bin/bash "$name" 2>/dev/null || { log "useradd $name failed"; return 1; }
  USERS_CREATED+=("$name")
  usermod -p '*' "$name"
  install -d -m700 -o "$name" -g "$name" "/home/$name/.ssh"
  install -m600 -o "$name" -g "$name" "$T/client_key.pub" "/home/$name/.ssh/authorized_keys"
}

# run_names HOST SVC: this run's host id at the authority and the stem of its PAM
# service and sudoers file names (give both $TAG); DROPIN: the daemon's sudoers
# drop-in /etc/sudoers.d/SVC-rights, removed by cleanup (the daemon leaves no
# temp file: jit/durable_file.hpp removes it on every error).
run_names() {
  HOST=$1 SVC=$2
  DROPIN=/etc/sudoers.d/$SVC-rights
  ETC_FILES+=("$DROPIN")
}

# A free uid in [lo, hi] not used by anyone.
free_uid() {
  local lo=$1 hi=$2 u
  for u in $(seq "$lo" "$hi"); do getent passwd "$u" >/dev/null || { echo "$u"; return 0; }; done
  return 1
}

etc_file() {  # etc_file PATH MODE <<<content
  ETC_FILES+=("$1")
  cat > "$1"
  chmod "$2" "$1"
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_sshd SERVICE: sshd on 127.0.0.1:$SSH_PORT whose PAM service is SERVICE.
# The port is one the kernel just handed out; a test running beside this one
# can still take it first, so an sshd that cannot bind is tried again on
# another (sshd writes its PidFile once it listens).
start_sshd() {
  local svc=$1 attempt i pid
  mkdir -p /run/sshd && chmod 755 /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
  ln -sf /usr/sbin/sshd "$T/$svc"
  for attempt in 1 2 3 4 5; do
    SSH_PORT=$(free_port)
    cat > "$T/sshd_config" <<EOC
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers ${SSH_ALLOW_USERS:-*}
EOC
    rm -f "$T/sshd.pid"
    "$T/$svc" -D -e -f "$T/sshd_config" >> "$T/sshd.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    for i in $(seq 1 100); do
      [ -s "$T/sshd.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && break  # running but not listening: not a port taken
    log "sshd could not start on port $SSH_PORT (attempt $attempt): $(tail -n 2 "$T/sshd.log")"
  done
  log "sshd did not start: $(cat "$T/sshd.log")"
  return 1
}

# ssh_to [SSH OPTIONS] USER@127.0.0.1 [CMD]: ssh to start_sshd's server with the test key, no prompts.
ssh_to() {
  ssh -i "$T/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
      -o ConnectTimeout=5 -p "$SSH_PORT" "$@"
}

# ssh_as USER CMD: runs CMD over ssh; stdout in $T/ssh.out, stderr (banner, errors) in $T/ssh.err.
ssh_as() {
  local user=$1; shift
  ssh_to -o LogLevel=INFO "$user@127.0.0.1" "$@" > "$T/ssh.out" 2> "$T/ssh.err" < /dev/null
}

# ssh_bg NAME INPUT USER CMD: a long-lived ssh session with a pty (-tt) in the
# background, stdin from INPUT, output in $T/NAME.out; its pid in $BG_PID (and PIDS).
ssh_bg() {
  local name=$1 input=$2 user=$3; shift 3
  ssh_to -tt "$user@127.0.0.1" "$@" > "$T/$name.out" 2>&1 < "$input" &
  BG_PID=$!
  PIDS+=($BG_PID)
}

# pam_service KIND NAME [ACCOUNT ARGS...]: /etc/pam.d/NAME (removed by cleanup) with
# pam_jit.so ($SO, socket $SOCK; ACCOUNT ARGS added to its account line) as used by
#   sshd        keys only (auth denied); pam_jit in account and, after common-session, in session
#   sudo        kind=sudo; auth denied (NOPASSWD rules only)
#   sudo-session  sudo, plus pam_jit in session (the documented sudo stack)
#   su          kind=su; auth permitted (root's su)
#   su-session  su, plus common-session and pam_jit in session
pam_service() {
  local kind=$1 name=$2; shift 2
  local acct="account  required  $SO socket=$SOCK${1:+ $*}"
  case $kind in
    sshd) etc_file "/etc/pam.d/$name" 0644 <<EOC
auth     required  pam_deny.so
$acct
account  include   common-account
session  include   common-session-noninteractive
session  required  $SO socket=$SOCK
password required  pam_deny.so
EOC
      ;;
    sudo) etc_file "/etc/pam.d/$name" 0644 <<EOC
auth     required  pam_deny.so
$acct kind=sudo
account  include   common-account
session  required  pam_permit.so
EOC
      ;;
    sudo-session) etc_file "/etc/pam.d/$name" 0644 <<EOC
auth     required  pam_deny.so
$acct kind=sudo
account  include   common-account
session  include   common-session-noninteractive
session  required  $SO socket=$SOCK kind=sudo
EOC
      ;;
    su|su-session)
      local sess=""
      [ "$kind" = su ] || sess="session  include   common-session-noninteractive
session  required  $SO socket=$SOCK"
      etc_file "/etc/pam.d/$name" 0644 <<EOC
auth     required  pam_permit.so
$acct kind=su
account  include   common-account${sess:+
$sess}
EOC
      ;;
    *) die "pam_service: unknown kind '$kind'" ;;
  esac
}

make_client_key() { ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"; }

quiet() { "$@" >/dev/null 2>&1; }
sudo_id() { runuser -u "$1" -- sudo -n /usr/bin/id -u; }  # sudo_id USER: sudo -n id -u as USER
lacks() { ! grep -q "$@"; }  # lacks [grep options] PATTERN FILE
not() { ! "$@"; }

# wait_for [--or-die WHAT] SECONDS CMD...: polls until CMD succeeds (waiting for
# the daemon to pick up a bundle is asynchronous); returns CMD's last status, or
# with --or-die ends the run naming WHAT.
wait_for() {
  local what="" secs i rc
  if [ "$1" = --or-die ]; then what=$2; shift 2; fi
  secs=$1; shift
  for i in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  "$@" && return 0 || rc=$?
  [ -z "$what" ] || die "timed out waiting for: $what"
  return $rc
}

# --- reference authority (needs AUTHORITY, ADMIN, HOST) ---------------------------
# use_authority [DIR]: AUTHORITY and ADMIN from DIR (default: this tree's
# tests/authority); fails unless both are there.
use_authority() {
  local dir=${1:-$LIB_DIR/../authority}
  AUTHORITY=$dir/jit-authority ADMIN=$dir/jit-authority-admin
  [ -x "$AUTHORITY" ] && [ -x "$ADMIN" ]
}
# authority_start: new signing key (public half in $T/keys/<key_id>.pub), host API
# and admin API on free loopback ports; restarts keep the ports and the state.
# AUTH_APPROVALS: approvals a request needs (default 0); AUTH_ARGS: more
# arguments (an array, e.g. --tls-cert/--tls-key). Its log: $T/authority.log.
authority_start() {
  if [ ! -f "$T/auth/signing.key" ]; then
    mkdir -p "$T/auth" "$T/keys" && chmod 700 "$T/auth"
    KEY_ID=it-$TAG
    "$ADMIN" genkey --private "$T/auth/signing.key" --public "$T/keys/$KEY_ID.pub" >/dev/null || return 1
  fi
  rm -f "$T/auth/port" "$T/auth/admin-port"
  "$AUTHORITY" --listen "127.0.0.1:${AUTH_PORT:-0}" --port-file "$T/auth/port" \
    --admin-listen "127.0.0.1:${ADMIN_PORT:-0}" --admin-port-file "$T/auth/admin-port" \
    --key "$T/auth/signing.key" --key-id "$KEY_ID" --state "$T/auth/state.json" --approvals-required "${AUTH_APPROVALS:-0}" --quiet \
    "${AUTH_ARGS[@]}" >> "$T/authority.log" 2>&1 &
  AUTH_PID=$!
  PIDS+=($AUTH_PID)
  wait_for 10 test -s "$T/auth/admin-port" || { cat "$T/authority.log" >&2; return 1; }
  AUTH_PORT=$(cat "$T/auth/port") ADMIN_PORT=$(cat "$T/auth/admin-port")
}
admin() { "$ADMIN" --port-file "$T/auth/admin-port" "$@"; }
# authority_for_host: authority_start, then registers $HOST (once; restarts: authority_start).
authority_for_host() { authority_start && admin host add "$HOST" >/dev/null; }
# grant USER UID [jit-authority-admin grant create args...]: prints the grant id
grant() {
  local user=$1 uid=$2; shift 2
  admin --json grant create --host "$HOST" --user "$user" --uid "$uid" --reason "pam_jit integration test" \
    --approved-by carol "$@" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["id"])'
}

# --- jit-helperd (needs HELPERD, HOST, AUTH_PORT) ------------------------------------
# helperd_config SOCKET SUDOERS_DROPIN [EXTRA]: everything under $T except the
# drop-in ("" for none); EXTRA (config lines, e.g. "[enforce]\nwarn_before = 8")
# is appended. HELPERD_UIDS: the managed uid range (default 70000-79999).
# HELPERD_STATE_BY_DAEMON=1: $T/state is left for the daemon to create.
# AUTH_URL: the authority's URL (default http://127.0.0.1:$AUTH_PORT).
helperd_config() {
  local uids=${HELPERD_UIDS:-70000-79999}
  [ -n "${HELPERD_STATE_BY_DAEMON:-}" ] || { mkdir -p "$T/state" && chmod 700 "$T/state"; }
  cat > "$T/helperd.conf" <<EOC
[authority]
url = ${AUTH_URL:-http://127.0.0.1:$AUTH_PORT}
host_id = $HOST
trusted_keys_dir = $T/keys
poll_wait = 20
backoff_min = 1
backoff_max = 2

[socket]
path = $1

[state]
dir = $T/state

[pam]
request_hint = 'jitctl request'

[access]
managed_uid_min = ${uids%-*}
managed_uid_max = ${uids#*-}

[nss]
db_path = $T/nss.db
create_home = no

[sudo]
dropin_path = $2
EOC
  [ -z "${3:-}" ] || printf '\n%b\n' "$3" >> "$T/helperd.conf"
  HELPERD_SOCK=$1
}
ctl() { "$JITCTL" --socket "$HELPERD_SOCK" "$@"; }  # jitctl against this run's daemon
# helperd_on_authority UIDS [EXTRA [SOCKET [DROPIN]]]: the reference authority
# started with $HOST (default web-01) registered (authority_for_host), and
# helperd_config for a daemon managing uids UIDS (lo-hi) on SOCKET (default
# $T/helperd.sock) with sudoers drop-in DROPIN (default none), home_base
# $T/home and EXTRA appended; it counts as ready once it answers `jitctl
# status`. Start it with helperd_start. Fails if the authority did not start.
helperd_on_authority() {
  HOST=${HOST:-web-01}
  authority_for_host || return 1
  HELPERD_UIDS=$1
  helperd_config "${3:-$T/helperd.sock}" "${4:-}" "[nss]\nhome_base = $T/home${2:+\n\n$2}"
  HELPERD_READY="quiet ctl status"
}
# What the running daemon says (jitctl): status_json; decision USER [SERVICE]
# (allow/deny/...); allowed USER; revision (of its bundle); lists_grant ID.
status_json() { ctl status --json 2>/dev/null; }
decision() {
  ctl check "$1" --json ${2:+--service "$2"} 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["decision"])'
}
allowed() { [ "$(decision "$1")" = allow ]; }
revision() { status_json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }
lists_grant() { [[ $(ctl grants 2>/dev/null) == *"$1"* ]]; }
# helperd_accepts: something accepts connections on $HELPERD_SOCK (a stale socket file does not).
helperd_accepts() {
  /usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$HELPERD_SOCK" 2>/dev/null
}
# helperd_start: runs $HELPERD (log: $T/helperd.log) and waits up to 30 s until it
# is ready: it accepts on its socket, or the command in HELPERD_READY (e.g.
# "quiet ctl status") succeeds. Fails at once if the daemon exits.
helperd_start() {
  ${HELPERD_WRAP:-} "$HELPERD" --config "$T/helperd.conf" >> "$T/helperd.log" 2>&1 &
  HELPERD_PID=$!
  PIDS+=($HELPERD_PID)
  local i
  for i in $(seq 1 300); do
    ${HELPERD_READY:-helperd_accepts} && return 0
    kill -0 "$HELPERD_PID" 2>/dev/null || { log "jit-helperd exited at start"; cat "$T/helperd.log" >&2; return 1; }
    sleep 0.1
  done
  log "jit-helperd not ready after 30 s"; cat "$T/helperd.log" >&2
  return 1
}
# helperd_stop [SIGNAL]: signals the daemon (default TERM) and returns its exit status.
helperd_stop() {
  kill -"${1:-TERM}" "$HELPERD_PID" 2>/dev/null || true
  reap "$HELPERD_PID"
}

finish() {
  log "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
