# shellcheck shell=bash
# The authority on the host's loopback, for the daemon inside the container
# (sourced by lib.sh). JIT_TB_AUTHORITY picks which:
#   reference      tests/authority/jit-authority, the Python reference; grants
#                  are created and revoked with jit-authority-admin (admin API
#                  on its own loopback port). The scenario tests' default.
#   jit-authority  the product: $JIT_BUILD/authority/jit-authority (SQLite),
#                  driven with jitadm as people would: the host registered
#                  with `jitadm host add` (its token in the container), an
#                  engineer's `jitadm request`, an approver's approval. The
#                  demo's.
# Either signs bundles with a key made for this run; the public half goes into
# the container's trusted-keys directory as <key_id>.pub.

JIT_TB_AUTHORITY=${JIT_TB_AUTHORITY:-reference}
TB_AUTHORITY=${TB_AUTHORITY:-$JIT_SRC/tests/authority/jit-authority}
TB_JIT_AUTHORITY=${TB_JIT_AUTHORITY:-$JIT_BUILD/authority/jit-authority}
TB_JITADM=${TB_JITADM:-$JIT_BUILD/authority/jitadm}
TB_APPROVER=carol                  # the approver (and admin) at the authority

tb_authority_start() {
    local a=$TB_RUN/authority i
    mkdir -p "$a"
    chmod 700 "$a"
    echo "jitbed-${TB_RUN##*.}" > "$a/key_id"
    if [ "$JIT_TB_AUTHORITY" = jit-authority ]; then tb_jit_authority_start; return; fi
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

# jit-authority (the product) for this run: a configuration with one rule (any
# person may ask for this host, $TB_APPROVER approves, sudo /usr/bin/id), the
# database and key (--init), the first admin, the daemon on a loopback port,
# the host registered (its token in $a/host.token, for the container).
tb_jit_authority_start() {
    local a=$TB_RUN/authority i
    if ! tb_have authority; then
        tb_log "jit-authority not built ($TB_JIT_AUTHORITY, $TB_JITADM): grants cannot be issued"
        return 0
    fi
    cat > "$a/authority.conf" <<EOC
# jitlogin test bed (tests/nspawn/authority.sh)
[authority]
database = $a/authority.db
listen = 127.0.0.1:${JIT_TB_AUTH_PORT:-0}
signing_key = $a/signing.key
key_id = $(cat "$a/key_id")

[group bed]
hosts = $JIT_TB_HOST_ID

[rule bed-oncall]
groups = bed
requesters = *
approvers = $TB_APPROVER
approvals = 1
max_duration = 4h
sudo = /usr/bin/id
EOC
    "$TB_JIT_AUTHORITY" -c "$a/authority.conf" --init >"$a/init.log" 2>&1 ||
        { cat "$a/init.log" >&2; tb_die "jit-authority --init failed"; }
    cp "$a/signing.key.pub" "$a/public.pub"
    "$TB_JIT_AUTHORITY" -c "$a/authority.conf" add-person "$TB_APPROVER" --role admin > "$a/$TB_APPROVER.token" ||
        tb_die "jit-authority add-person $TB_APPROVER failed"
    chmod 600 "$a/$TB_APPROVER.token"
    setsid "$TB_JIT_AUTHORITY" -c "$a/authority.conf" --port-file "$a/port" >"$a/authority.log" 2>&1 </dev/null &
    echo $! > "$a/pid"
    for i in $(seq 1 100); do
        [ -s "$a/port" ] && break
        kill -0 "$(cat "$a/pid")" 2>/dev/null || { cat "$a/authority.log" >&2; tb_die "jit-authority exited"; }
        sleep 0.1
    done
    [ -s "$a/port" ] || tb_die "jit-authority did not start listening"
    JIT_TB_AUTH_PORT=$(head -1 "$a/port")
    echo "JIT_TB_AUTH_PORT=$JIT_TB_AUTH_PORT" >> "$TB_RUN/env"
    tb_jitadm "$TB_APPROVER" host add "$JIT_TB_HOST_ID" > "$a/host.token" || tb_die "jitadm host add $JIT_TB_HOST_ID failed"
    chmod 600 "$a/host.token"
    tb_log "jit-authority on http://127.0.0.1:$JIT_TB_AUTH_PORT (key_id $(cat "$a/key_id"); host $JIT_TB_HOST_ID registered)"
}

# tb_jitadm PERSON ARGS...: jitadm as PERSON (their token) against this run's jit-authority.
tb_jitadm() {
    local who=$1
    shift
    JITADM_URL=http://127.0.0.1:$JIT_TB_AUTH_PORT JITADM_TOKEN_FILE=$TB_RUN/authority/$who.token "$TB_JITADM" "$@"
}

# tb_person USER: USER is a person (requester) at jit-authority, with a token.
tb_person() {
    local t=$TB_RUN/authority/$1.token
    [ -s "$t" ] && return 0
    tb_jitadm "$TB_APPROVER" person add "$1" --role requester > "$t" && chmod 600 "$t"
}

# tb_json FIELD: FIELD of the JSON object on stdin.
tb_json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

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
# jit-authority: TB_REQUEST[user]=the id of USER's last request.
declare -gA TB_REQUEST=()

# tb_grant USER SECONDS [--no-login] [SUDO_COMMAND...]   e.g. tb_grant alice 40 /usr/bin/id
# Issues a grant starting now, as an operator would (reference: one admin
# call; jit-authority: USER's request, approved by $TB_APPROVER); sets
# TB_GRANT[USER] and TB_NOT_AFTER[USER].
tb_grant() {
    local user=$1 secs=$2 out cmd sudo=() ask=()
    shift 2
    if [ "$JIT_TB_AUTHORITY" = jit-authority ]; then
        for cmd in "$@"; do
            if [ "$cmd" = --no-login ]; then ask+=(--no-login); else ask+=(--sudo "$cmd"); fi
        done
        tb_request "$user" "$secs" "${ask[@]}" >/dev/null || return 1
        tb_approve "$user" >/dev/null
        return
    fi
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

# The jitadm request options of this run's requests: a reason, a ticket and the run's SSH key.
tb_request_args() {
    printf '%s\n' --duration "${1}s" --reason "investigate incident INC-4242 on $JIT_TB_HOST_ID" --ticket INC-4242 \
        --ssh-key "$TB_KEY.pub"
}

# tb_request USER SECONDS [jitadm request options...]: USER (a person at
# jit-authority, added when new) asks for SECONDS on this host; prints the
# request id and sets TB_REQUEST[USER].
tb_request() {
    local user=$1 secs=$2 out args
    shift 2
    tb_person "$user" || { tb_log "jitadm person add $user failed"; return 1; }
    mapfile -t args < <(tb_request_args "$secs")
    out=$(tb_jitadm "$user" --json request "$JIT_TB_HOST_ID" "${args[@]}" "$@" 2>&1) ||
        { tb_log "jitadm request as $user failed: $out"; return 1; }
    TB_REQUEST[$user]=$(tb_json id <<<"$out") || return 1
    echo "${TB_REQUEST[$user]}"
}

# tb_approve USER [REQUEST_ID]: $TB_APPROVER approves USER's request (prints
# jitadm's answer); sets TB_GRANT[USER] and TB_NOT_AFTER[USER] from the authority.
tb_approve() {
    local user=$1 rid=${2:-${TB_REQUEST[$1]:-}} gid
    [ -n "$rid" ] || { tb_log "no request of $user to approve"; return 1; }
    tb_jitadm "$TB_APPROVER" requests approve "$rid" --comment "go ahead, INC-4242" || return 1
    gid=$(tb_jitadm "$TB_APPROVER" --json requests show "$rid" | tb_json grant_id) || return 1
    [ -n "$gid" ] || return 1
    TB_GRANT[$user]=$gid
    TB_NOT_AFTER[$user]=$(tb_jitadm "$TB_APPROVER" --json grant list "$JIT_TB_HOST_ID" | python3 -c '
import json, sys
for g in json.load(sys.stdin):
    if g["id"] == sys.argv[1]: print(g["not_after"])' "$gid")
    [ -n "${TB_NOT_AFTER[$user]}" ]
}

# tb_revoke USER REASON: revokes USER's grant of this run at the authority.
tb_revoke() {
    if [ "$JIT_TB_AUTHORITY" = jit-authority ]; then
        tb_jitadm "$TB_APPROVER" grant revoke "$JIT_TB_HOST_ID" "${TB_GRANT[$1]}" --reason "$2" >/dev/null
        return
    fi
    tb_authority_admin grant revoke --host "$JIT_TB_HOST_ID" --by carol --reason "$2" "${TB_GRANT[$1]}" >/dev/null
}
