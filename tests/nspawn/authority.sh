# shellcheck shell=bash
# The reference authority (tests/authority/jit-authority) on the host's
# loopback, for the daemon inside the container (sourced by lib.sh).
#
# It signs bundles with a key made for this run; the public half goes into the
# container's trusted-keys directory as <key_id>.pub. Grants are created and
# revoked with jit-authority-admin (admin API on its own loopback port).

TB_AUTHORITY=${TB_AUTHORITY:-$JIT_SRC/tests/authority/jit-authority}

tb_authority_start() {
    local a=$TB_RUN/authority i
    mkdir -p "$a"
    chmod 700 "$a"
    echo "jitbed-${TB_RUN##*.}" > "$a/key_id"
    if ! tb_have authority; then
        tb_log "reference authority not present ($TB_AUTHORITY): grants cannot be issued"
        return 0
    fi
    "$JIT_SRC/tests/authority/jit-authority-admin" genkey --private "$a/signing.key" --public "$a/public.pub" \
        >/dev/null || tb_die "jit-authority-admin genkey failed"
    setsid "$TB_AUTHORITY" --listen "127.0.0.1:${JIT_TB_AUTH_PORT:-0}" --port-file "$a/port" \
        --admin-listen 127.0.0.1:0 --admin-port-file "$a/admin-port" \
        --key "$a/signing.key" --key-id "$(cat "$a/key_id")" --state "$a/state.json" \
        --approvals-required 0 >"$a/authority.log" 2>&1 </dev/null &
    echo $! > "$a/pid"
    for i in $(seq 1 100); do
        [ -s "$a/port" ] && [ -s "$a/admin-port" ] && break
        kill -0 "$(cat "$a/pid")" 2>/dev/null || { cat "$a/authority.log" >&2; tb_die "the reference authority exited"; }
        sleep 0.1
    done
    [ -s "$a/port" ] || tb_die "the reference authority did not start listening"
    JIT_TB_AUTH_PORT=$(cat "$a/port")
    echo "JIT_TB_AUTH_PORT=$JIT_TB_AUTH_PORT" >> "$TB_RUN/env"
    tb_log "reference authority on http://127.0.0.1:$JIT_TB_AUTH_PORT (admin :$(cat "$a/admin-port"), key_id $(cat "$a/key_id"))"
}

tb_authority_stop() {
    local a=$TB_RUN/authority p i
    p=$(cat "$a/pid" 2>/dev/null || true)
    [ -n "$p" ] || return 0
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null || true
        for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$a/pid"
}

tb_authority_admin() {
    "$JIT_SRC/tests/authority/jit-authority-admin" --port-file "$TB_RUN/authority/admin-port" "$@"
}

# Grants issued in this run: TB_GRANT[user]=id, TB_NOT_AFTER[user]=unix time.
declare -gA TB_GRANT=() TB_NOT_AFTER=()

# tb_grant USER SECONDS [--no-login] [SUDO_COMMAND...]   e.g. tb_grant alice 40 /usr/bin/id
# Issues a grant starting now with jit-authority-admin, as an operator would;
# sets TB_GRANT[USER] and TB_NOT_AFTER[USER].
tb_grant() {
    local user=$1 secs=$2 out cmd sudo=()
    shift 2
    for cmd in "$@"; do
        if [ "$cmd" = --no-login ]; then sudo+=(--no-login); else sudo+=(--sudo-command "$cmd"); fi
    done
    out=$(tb_authority_admin --json grant create --host "$JIT_TB_HOST_ID" --user "$user" --duration "${secs}s" \
          --display-name "${user^} (jitlogin test bed)" --reason "investigate incident INC-4242 on $JIT_TB_HOST_ID" \
          --ticket INC-4242 --requested-by "$user" --approved-by carol "${sudo[@]}" \
          --ssh-key "$(cat "$TB_KEY.pub")" 2>&1) ||
        { tb_log "grant for $user failed: $out"; return 1; }
    TB_GRANT[$user]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["id"])' <<<"$out") || return 1
    TB_NOT_AFTER[$user]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["not_after"])' <<<"$out")
}

# tb_revoke USER REASON: revokes USER's grant of this run at the authority.
tb_revoke() {
    tb_authority_admin grant revoke --host "$JIT_TB_HOST_ID" --by carol --reason "$2" "${TB_GRANT[$1]}" >/dev/null
}
