# jit-authority for the shell tests that run it beside a real jit-helperd
# (helperd_with_jit_authority.sh, extend_with_helperd.sh,
# web_ui_with_helperd.sh). Sourced after tests/integration/lib.sh; uses its
# T, PIDS, die and wait_for, and the caller's AUTHORITY, JITADM, HOST, KEY_ID.

# jit_authority_init: $T/auth/authority.conf with the [authority] section on
# loopback and group `it` = $HOST, then the caller's rules (stdin); the
# database initialised, its public key trusted in $T/keys, an admin `carol`
# (token in $T/auth/carol.token).
jit_authority_init() {
  mkdir -p "$T/auth" "$T/keys" && chmod 700 "$T/auth"
  {
    cat <<EOC
[authority]
database = $T/auth/authority.db
listen = 127.0.0.1:0
signing_key = $T/auth/signing.key
key_id = $KEY_ID

[group it]
hosts = $HOST

EOC
    cat
  } >"$T/auth/authority.conf"
  "$AUTHORITY" -c "$T/auth/authority.conf" --init >/dev/null || die "jit-authority --init failed"
  cp "$T/auth/signing.key.pub" "$T/keys/$KEY_ID.pub"
  "$AUTHORITY" -c "$T/auth/authority.conf" add-person carol --role admin >"$T/auth/carol.token" ||
    die "add-person failed"
}

# jit_authority_up: starts it (AUTH_PID, AUTH_PORT); the first start pins the
# port it got in the config, so a restart keeps the host's URL. jitadm then
# talks to it as carol.
jit_authority_up() {
  rm -f "$T/auth/port"
  "$AUTHORITY" -c "$T/auth/authority.conf" --port-file "$T/auth/port" >>"$T/authority.log" 2>&1 &
  AUTH_PID=$!
  PIDS+=($AUTH_PID)
  wait_for 20 test -s "$T/auth/port" || return 1
  AUTH_PORT=$(head -1 "$T/auth/port")
  sed -i "s|^listen = .*|listen = 127.0.0.1:$AUTH_PORT|" "$T/auth/authority.conf"
  export JITADM_URL=http://127.0.0.1:$AUTH_PORT JITADM_TOKEN_FILE=$T/auth/carol.token
}

# jit_authority_add_host: registers $HOST; its bearer token in $T/host.token.
jit_authority_add_host() {
  "$JITADM" host add "$HOST" >"$T/host.token" && chmod 600 "$T/host.token" || die "jitadm host add failed"
}

# jit_helperd_up SOCK DROPIN EXTRA: the real jit-helperd (helperd_config of
# tests/integration/lib.sh) polling this authority with $T/host.token, started
# and holding its first bundle. has_revision N asks it (revision, lists_grant:
# tests/integration/lib.sh).
has_revision() { [ "$(revision 2>/dev/null || echo 0)" -ge "$1" ]; }
jit_helperd_up() {
  helperd_config "$1" "$2" "${3:-}"
  sed -i "s|^\[authority\]|[authority]\ntoken_file = $T/host.token|" "$T/helperd.conf"
  HELPERD_READY="quiet ctl status"
  helperd_start || die "jit-helperd did not start"
  wait_for --or-die "first bundle from jit-authority" 30 has_revision 1
}
