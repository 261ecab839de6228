# shellcheck shell=bash
# The reference authority (tests/authority/jit-authority) on the host's
# loopback, for the daemon inside the container (sourced by lib.sh).
#
# It signs bundles with a key made for this run; the public half goes into the
# container's trusted-keys directory. Grants are created and revoked through
# its admin API (plain HTTP on its own loopback port).

TB_AUTHORITY=${TB_AUTHORITY:-$JIT_SRC/tests/authority/jit-authority}

tb_authority_start() {
    local a=$TB_RUN/authority i
    mkdir -p "$a"
    chmod 700 "$a"
    echo "jitbed-${TB_RUN##*.}" > "$a/key_id"
    openssl genpkey -algorithm ed25519 -out "$a/signing.key" 2>/dev/null || tb_die "openssl genpkey ed25519 failed"
    openssl pkey -in "$a/signing.key" -pubout -out "$a/public.pem" 2>/dev/null || tb_die "openssl pkey -pubout failed"
    if ! tb_have authority; then
        tb_log "reference authority not present ($TB_AUTHORITY): grants cannot be issued"
        return 0
    fi
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

# tb_admin METHOD PATH [JSON] -> response body on stdout; fails on HTTP >= 400.
tb_admin() {
    local method=$1 path=$2 body=${3:-} port
    port=$(cat "$TB_RUN/authority/admin-port" 2>/dev/null) || { tb_log "no reference authority running"; return 1; }
    curl -sS --fail-with-body --max-time 10 -X "$method" -H 'Content-Type: application/json' \
        ${body:+--data "$body"} "http://127.0.0.1:$port$path"
}

# Grants issued in this run: TB_GRANT[user]=id, TB_NOT_AFTER[user]=unix time.
declare -gA TB_GRANT=() TB_NOT_AFTER=()

# tb_grant USER SECONDS [SUDO_COMMANDS_JSON]  e.g. tb_grant alice 40 '["/usr/bin/id"]'
# Issues a grant starting now; sets TB_GRANT[USER] and TB_NOT_AFTER[USER].
tb_grant() {
    local user=$1 secs=$2 sudo=${3:-} body out
    body=$(python3 -c '
import json, sys
user, secs, sudo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
g = {"user": user, "login": True, "duration_seconds": secs,
     "display_name": user.capitalize() + " (jitlogin test bed)",
     "reason": "jitlogin test bed: investigate incident INC-" + user,
     "ticket": "INC-4242", "requested_by": user, "approved_by": ["carol"]}
if sudo:
    g["sudo"] = {"run_as": "root", "commands": json.loads(sudo)}
print(json.dumps(g))' "$user" "$secs" "$sudo") || return 1
    out=$(tb_admin POST "/admin/hosts/$JIT_TB_HOST_ID/grants" "$body") || { tb_log "grant for $user failed: $out"; return 1; }
    TB_GRANT[$user]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["id"])' <<<"$out")
    TB_NOT_AFTER[$user]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"]["not_after"])' <<<"$out")
}

# tb_revoke USER REASON: revokes USER's grant of this run at the authority.
tb_revoke() {
    tb_admin POST "/admin/hosts/$JIT_TB_HOST_ID/grants/${TB_GRANT[$1]}/revoke" \
        "$(python3 -c 'import json,sys; print(json.dumps({"by": "carol", "reason": sys.argv[1]}))' "$2")" >/dev/null
}
