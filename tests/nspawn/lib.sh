# shellcheck shell=bash
# jitlogin nspawn test bed: shared settings and helpers. Source it, don't run it.
#
# A run ("TB_RUN" directory) holds a fresh copy of the cached Debian 12 root,
# the project's build installed into it, the client ssh key, the reference
# authority's state and every log. See docs/testbed.md.
#
# Used by tests/nspawn/{build-rootfs,boot,stop}.sh, the scenario tests and
# demo/run-demo.sh (through flow.sh).

# ---------------------------------------------------------------- settings
TB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JIT_SRC=${JIT_SRC:-$(cd "$TB_LIB_DIR/../.." && pwd)}
JIT_BUILD=${JIT_BUILD:-$JIT_SRC/build}
JIT_TB_HOME=${JIT_TB_HOME:-/var/tmp/jitlogin-testbed}     # run dirs live here
JIT_TB_CACHE=${JIT_TB_CACHE:-$JIT_TB_HOME/cache}          # cached rootfs tarballs
JIT_TB_SUITE=${JIT_TB_SUITE:-bookworm}
JIT_TB_MACHINE=${JIT_TB_MACHINE:-jitlogin-tb}
JIT_TB_HOST_ID=${JIT_TB_HOST_ID:-jitbed}                   # container hostname = host_id in bundles
JIT_TB_SSH_PORT=${JIT_TB_SSH_PORT:-}                       # empty: first free port from 2223
JIT_TB_AUTH_PORT=${JIT_TB_AUTH_PORT:-}                     # empty: any free port (the authority picks)
JIT_TB_KEEP=${JIT_TB_KEEP:-0}                              # 1: keep the run dir after stop
JIT_TB_LOCAL_USER=${JIT_TB_LOCAL_USER:-localops}           # an ordinary /etc/passwd user in the root

# ---------------------------------------------------------------- logging
tb_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
tb_die() { tb_log "FATAL: $*"; exit 1; }

# Exits 77 (ctest SKIP_RETURN_CODE) when the bed cannot run here.
tb_require_bed() {
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: the nspawn test bed needs root" >&2; exit 77; }
    local tool
    for tool in systemd-nspawn debootstrap zstd nsenter ssh ssh-keygen python3 openssl; do
        command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed (scripts/install-deps.sh)" >&2; exit 77; }
    done
}

# ---------------------------------------------------------------- checks
# Every check prints one PASS/FAIL line; TB_FAILS counts failures, TB_RESULTS
# keeps the lines for the summary.
TB_FAILS=0
TB_CHECKS=0
TB_RESULTS=()
if [ -t 1 ]; then TB_GREEN=$'\e[32m' TB_RED=$'\e[31m' TB_BOLD=$'\e[1m' TB_OFF=$'\e[0m'
else TB_GREEN='' TB_RED='' TB_BOLD='' TB_OFF=''; fi
tb_pass() { TB_CHECKS=$((TB_CHECKS + 1)); TB_RESULTS+=("PASS  $*"); printf '  %sPASS%s %s\n' "$TB_GREEN" "$TB_OFF" "$*"; }
tb_fail() { TB_CHECKS=$((TB_CHECKS + 1)); TB_FAILS=$((TB_FAILS + 1)); TB_RESULTS+=("FAIL  $*"); printf '  %sFAIL%s %s\n' "$TB_RED" "$TB_OFF" "$*"; }
tb_summary() {
    local line
    printf '\n== summary: %d checks, %d failed\n' "$TB_CHECKS" "$TB_FAILS"
    for line in "${TB_RESULTS[@]}"; do printf '   %s\n' "$line"; done
    [ "$TB_FAILS" -eq 0 ]
}
# Narration: a numbered step with what should happen.
TB_STEP=0
tb_step() {
    TB_STEP=$((TB_STEP + 1))
    printf '\n%s== Step %d: %s%s\n' "$TB_BOLD" "$TB_STEP" "$1" "$TB_OFF"
    [ -n "${2:-}" ] && printf '   expected: %s\n' "$2"
    return 0
}
tb_say() { printf '   %s\n' "$*"; }
# Indents command output under a step.
tb_show() { sed 's/^/   | /'; }

# Polls `cmd` every 0.2 s for up to SECS seconds: tb_wait SECS cmd...
tb_wait() {
    local secs=$1 i
    shift
    for i in $(seq 1 $((secs * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}

# ---------------------------------------------------------------- ports
tb_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
tb_pick_port() {
    local p=$1
    while ! tb_port_free "$p"; do p=$((p + 1)); [ "$p" -lt $(($1 + 100)) ] || return 1; done
    echo "$p"
}

# ---------------------------------------------------------------- the run
# Creates TB_RUN and fixes the ports for this run.
tb_new_run() {
    mkdir -p "$JIT_TB_HOME"
    TB_RUN=$(mktemp -d "$JIT_TB_HOME/run.XXXXXX")
    chmod 755 "$TB_RUN"
    TB_ROOT=$TB_RUN/rootfs
    TB_KEY=$TB_RUN/client_key
    if [ -z "$JIT_TB_SSH_PORT" ]; then JIT_TB_SSH_PORT=$(tb_pick_port 2223) || tb_die "no free port for sshd"; fi
    tb_port_free "$JIT_TB_SSH_PORT" || tb_die "port $JIT_TB_SSH_PORT is in use (set JIT_TB_SSH_PORT)"
    TB_CGROUP=jitlogin-tb-${TB_RUN##*.}
    tb_set_ssh_options
    ssh-keygen -q -t ed25519 -N '' -C jitlogin-testbed -f "$TB_KEY"
    # What stop.sh and a later shell need to find this run again.
    cat > "$TB_RUN/env" <<EOF
TB_RUN=$TB_RUN
TB_ROOT=$TB_ROOT
TB_KEY=$TB_KEY
TB_CGROUP=$TB_CGROUP
JIT_TB_SSH_PORT=$JIT_TB_SSH_PORT
EOF
    ln -sfn "$TB_RUN" "$JIT_TB_HOME/current"
}

# Loads a run created earlier (boot.sh in another shell): TB_RUN or .../current.
tb_load_run() {
    local run=${1:-${TB_RUN:-$JIT_TB_HOME/current}}
    [ -f "$run/env" ] || tb_die "no test bed run at $run"
    # shellcheck disable=SC1091
    source "$run/env"
    tb_set_ssh_options
}

# ssh client options for the container's sshd (throw-away host keys, the
# run's client key, no prompts, a dead connection noticed within ~6 s).
tb_set_ssh_options() {
    TB_SSHO=(-i "$TB_KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
             -o LogLevel=ERROR -o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=3
             -p "$JIT_TB_SSH_PORT")
}

# ---------------------------------------------------------------- container access
ct_leader() { cat "$TB_RUN/leader.pid"; }                 # host PID of the container's systemd
ct() { nsenter -t "$(ct_leader)" -a "$@"; }               # run as root inside the container
# ssh into the container: tb_ssh USER [ssh args / remote command...]
tb_ssh() { local user=$1; shift; ssh "${TB_SSHO[@]}" "$user@127.0.0.1" "$@"; }
tb_running() { [ -f "$TB_RUN/nspawn.pid" ] && kill -0 "$(cat "$TB_RUN/nspawn.pid")" 2>/dev/null; }

source "$TB_LIB_DIR/rootfs.sh"
source "$TB_LIB_DIR/container.sh"
source "$TB_LIB_DIR/authority.sh"
source "$TB_LIB_DIR/sessions.sh"
