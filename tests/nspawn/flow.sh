# shellcheck shell=bash
# The steps of a grant's life in the test bed, each narrated (tb_step) and
# checked (PASS/FAIL). demo/run-demo.sh and tests/nspawn/test-*.sh are built
# from these, so the demo shows exactly what the tests assert.
# Source after lib.sh. Every step returns non-zero when its main check failed,
# so callers can skip what depends on it (tb_skip).

# Fails a check without running it.
tb_skip() { tb_fail "$1 (not run: $2)"; }

# tb_need "what" PIECE...: FAIL "what" naming the pieces of the build that are
# not installed (pam nss daemon jitctl unit catalog authority).
tb_need() {
    local what=$1 missing
    shift
    missing=$(tb_missing "$@")
    [ -z "$missing" ] && return 0
    tb_fail "$what (waiting on: $missing not built/installed)"
    return 1
}

tb_now() { date +%s; }
tb_hms() { date -d "@$1" +%H:%M:%S; }

# MESSAGE_ID of an event name, from the catalog installed in the root (or the
# source tree's when it is not installed).
tb_message_id() {
    local cat=$TB_ROOT/usr/lib/systemd/catalog/jitlogin.catalog
    [ -f "$cat" ] || cat=$JIT_SRC/audit/jitlogin.catalog
    awk -v ev="$1" '/^-- [0-9a-f]+$/ {id=$2} $1=="Event:" && $2==ev {print id; exit}' "$cat"
}

# tb_journal_has EVENT FIELD[=VALUE]...: an entry of that MESSAGE_ID with those
# fields is in the container's journal (prints it). Queried as
# `journalctl -o json MESSAGE_ID=<id> [JIT_GRANT_ID=<grant>]`, the rest is
# checked by journal_check.py.
tb_journal_has() {
    local ev=$1 id
    shift
    id=$(tb_message_id "$ev")
    [ -n "$id" ] || { tb_say "no MESSAGE_ID for event $ev in the catalog"; return 1; }
    local arg matches=("MESSAGE_ID=$id")
    for arg in "$@"; do [[ $arg == JIT_GRANT_ID=* ]] && matches+=("$arg"); done
    ct journalctl --sync >/dev/null 2>&1 || true
    ct journalctl --no-pager -o json "${matches[@]}" | python3 "$TB_LIB_DIR/journal_check.py" "JIT_EVENT=$ev" "$@"
}

tb_ct_has_user() { ct getent passwd "$1" >/dev/null 2>&1; }
# Done waiting: USER exists, or the daemon is dead (no point waiting longer).
tb_user_or_dead_daemon() { tb_ct_has_user "$1" || ! ct systemctl is-active --quiet jit-helperd.service; }

# ---------------------------------------------------------------- steps

# A user with no grant (before, or after, their window) cannot log in.
tb_flow_refused() {
    local user=$1 when=$2 out rc
    if [ "$when" = before ]; then
        tb_step "$user has no grant: refused" "getent passwd $user finds nothing; ssh as $user is refused"
        if ct getent passwd "$user" >/dev/null 2>&1; then tb_fail "$user unknown before any grant (getent found: $(ct getent passwd "$user"))"
        else tb_pass "getent passwd $user: no such user"; fi
    else
        tb_step "after the window: $user is refused again" "ssh as $user is refused (no grant in force)"
        out=$(ct getent passwd "$user" 2>&1) && tb_say "getent passwd $user: $out (kept by the retention policy)" ||
            tb_say "getent passwd $user: no such user"
    fi
    # The run's key is the one every grant carries: only jitlogin can refuse it.
    out=$(tb_ssh "$user" 'echo LOGGED-IN' 2>&1 </dev/null)
    rc=$?
    tb_say "ssh $user@127.0.0.1 -> exit $rc: $(echo "$out" | tr -d '\r' | tail -n1)"
    if [ $rc -ne 0 ] && ! grep -q LOGGED-IN <<<"$out"; then tb_pass "ssh login as $user refused"
    else tb_fail "ssh login as $user refused"; return 1; fi
}

# tb_flow_grant USER SECONDS [SUDO_COMMAND...]: issue, then wait until the
# daemon has accepted the bundle and the NSS module shows the user.
tb_flow_grant() {
    local user=$1 secs=$2
    shift 2
    tb_step "the authority grants $user access for $secs s${1:+ (with sudo $*)}" \
        "jit-helperd fetches the signed bundle at once (long poll); $user then exists through libnss_jit"
    tb_need "grant for $user issued" authority || return 1
    tb_say "operator: jit-authority-admin grant create --host $JIT_TB_HOST_ID --user $user --duration ${secs}s${1:+$(
        printf ' --sudo-command %s' "$@")} --approved-by carol --ticket INC-4242 --reason ..."
    if ! tb_grant "$user" "$secs" "$@"; then tb_fail "grant for $user issued"; return 1; fi
    tb_pass "grant ${TB_GRANT[$user]} for $user issued, window until $(tb_hms "${TB_NOT_AFTER[$user]}")"
    tb_user_appears "$user"
}

# tb_user_appears USER: the daemon has accepted the bundle with USER's grant
# and the NSS module shows the user (within 30 s).
tb_user_appears() {
    local user=$1
    tb_need "$user appears in the container" daemon nss || return 1
    tb_wait 30 tb_user_or_dead_daemon "$user"
    if tb_ct_has_user "$user"; then
        tb_pass "getent passwd $user: $(ct getent passwd "$user")"
    else
        tb_fail "$user appears in getent passwd within 30 s"
        tb_say "daemon's last words:"; ct journalctl -u jit-helperd --no-pager -n 15 -o cat 2>&1 | tb_show
        return 1
    fi
}

# tb_flow_request USER SECONDS [SUDO_COMMAND...] (JIT_TB_AUTHORITY=jit-authority):
# USER asks from their laptop with `jitadm request --wait`, a request the rules
# do not allow is refused at once with their reason, $TB_APPROVER approves,
# USER's jitadm says so and how to log in, and the host gets the grant.
tb_flow_request() {
    local user=$1 secs=$2 out rid pid i args sudo=() cmd
    shift 2
    for cmd in "$@"; do sudo+=(--sudo "$cmd"); done
    tb_step "$user asks for access from her laptop" \
        "jitadm request $JIT_TB_HOST_ID --duration ${secs}s ${*:+--sudo $* }--ssh-key ... --wait: pending until an approver decides; what the rules forbid is refused at once"
    tb_need "$user's request made" authority || return 1
    tb_say "admin $TB_APPROVER, once: jitadm person add $user --role requester (prints $user's personal token)"
    tb_person "$user" || { tb_fail "jitadm person add $user"; return 1; }
    mapfile -t args < <(tb_request_args "$secs")
    tb_say "$user: jitadm request $JIT_TB_HOST_ID --duration ${secs}s --sudo /bin/bash --reason ... (not allowed by the rules)"
    out=$(tb_jitadm "$user" request "$JIT_TB_HOST_ID" "${args[@]}" --sudo /bin/bash 2>&1)
    echo "$out" | tb_show
    if [[ $out == *"not allowed"* ]]; then tb_pass "refused at submission with the rules' reason"
    else tb_fail "a request for sudo /bin/bash refused at submission with the rules' reason"; fi
    tb_say "$user: jitadm request $JIT_TB_HOST_ID --duration ${secs}s ${sudo[*]} --reason \"investigate incident INC-4242 on $JIT_TB_HOST_ID\" --ticket INC-4242 --ssh-key ~/.ssh/id_ed25519.pub --wait"
    tb_jitadm "$user" request "$JIT_TB_HOST_ID" "${args[@]}" "${sudo[@]}" --wait >"$TB_RUN/request-$user.out" 2>&1 &
    pid=$!
    tb_wait 20 grep -q ': pending' "$TB_RUN/request-$user.out"
    tb_show < "$TB_RUN/request-$user.out"
    rid=$(grep -o -m1 'request [a-z]-[0-9a-f]*' "$TB_RUN/request-$user.out" | cut -d' ' -f2)
    if [ -z "$rid" ]; then
        tb_fail "$user's request is pending at the authority"
        kill "$pid" 2>/dev/null
        return 1
    fi
    TB_REQUEST[$user]=$rid
    tb_pass "request $rid is pending at the authority (0 of 1 approvals); $user's jitadm waits"

    tb_step "$TB_APPROVER approves" \
        "jitadm requests list shows $user's request; $TB_APPROVER approves it; $user's jitadm --wait says approved and how to log in"
    tb_say "$TB_APPROVER: jitadm requests list --state pending"
    tb_jitadm "$TB_APPROVER" requests list --state pending 2>&1 | tb_show
    tb_say "$TB_APPROVER: jitadm requests approve $rid --comment \"go ahead, INC-4242\""
    tb_approve "$user" "$rid" >"$TB_RUN/approve-$user.out" 2>&1
    i=$?
    tb_show < "$TB_RUN/approve-$user.out"
    if [ $i -ne 0 ]; then tb_fail "$TB_APPROVER approved $rid"; kill "$pid" 2>/dev/null; return 1; fi
    tb_pass "approved: grant ${TB_GRANT[$user]} for $user, window until $(tb_hms "${TB_NOT_AFTER[$user]}")"
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    wait "$pid" 2>/dev/null
    tb_say "$user's terminal:"
    tb_show < "$TB_RUN/request-$user.out"
    if grep -q "Log in with: ssh $user@$JIT_TB_HOST_ID" "$TB_RUN/request-$user.out"; then
        tb_pass "$user's jitadm --wait: approved, and how to log in"
    else
        tb_fail "$user's jitadm --wait says approved and how to log in"
    fi
    tb_user_appears "$user"
}

# tb_flow_authority_record USER: what the authority keeps (jit-authority):
# every person's action with who, when and from where.
tb_flow_authority_record() {
    local user=$1 out missing=() want
    tb_step "the authority's record" \
        "jitadm actions: $user's request and $TB_APPROVER's approval, with who, when and from where"
    tb_need "the authority's record" authority || return 1
    tb_say "$TB_APPROVER: jitadm actions --format csv   (shown without the detail column)"
    out=$(tb_jitadm "$TB_APPROVER" actions --format csv 2>&1)
    python3 -c 'import csv, sys, time
for r in csv.DictReader(sys.stdin):
    print("%s  %-11s %-10s %-19s %s" % (time.strftime("%H:%M:%S", time.gmtime(int(r["at"]))), r["actor"], r["source"],
                                         r["action"], r["target"]))' \
        <<<"$out" 2>&1 | tb_show
    for want in "$user,127.0.0.1,request.submit" "$TB_APPROVER,127.0.0.1,request.approve" "grant.from_request"; do
        grep -qF -- "$want" <<<"$out" || missing+=("$want")
    done
    if [ ${#missing[@]} -eq 0 ]; then tb_pass "the authority's record has $user's request and $TB_APPROVER's approval, with who and from where"
    else tb_fail "the authority's record lacks: ${missing[*]}"; return 1; fi
}

# tb_flow_no_login USER: a grant for sudo only (login: false). USER exists,
# but no key is served for a grant without login, so sshd refuses before PAM.
tb_flow_no_login() {
    local user=$1 out rc
    tb_step "$user holds a sudo-only grant (login: false): no SSH key is served, the login is refused" \
        "$user exists in getent passwd; jit-authorized-keys prints nothing for $user; ssh is refused"
    tb_need "grant for $user issued" authority || return 1
    if ! tb_grant "$user" 600 --no-login /usr/bin/id; then tb_fail "grant for $user issued"; return 1; fi
    tb_need "$user appears in the container" daemon nss || return 1
    tb_wait 30 tb_user_or_dead_daemon "$user"
    if tb_ct_has_user "$user"; then tb_pass "getent passwd $user: $(ct getent passwd "$user")"
    else tb_fail "$user appears in getent passwd within 30 s"; return 1; fi
    out=$(ct /usr/libexec/jitlogin/jit-authorized-keys "$user" 2>&1)
    if [ -z "$out" ]; then tb_pass "jit-authorized-keys $user: no key (the grant does not allow login)"
    else tb_fail "jit-authorized-keys $user prints nothing (printed: $out)"; fi
    out=$(tb_ssh "$user" 'echo LOGGED-IN' 2>&1 </dev/null)
    rc=$?
    tb_say "ssh $user@127.0.0.1 -> exit $rc: $(echo "$out" | tr -d '\r' | tail -n1)"
    if [ $rc -ne 0 ] && ! grep -q LOGGED-IN <<<"$out"; then tb_pass "ssh login as $user refused"
    else tb_fail "ssh login as $user refused"; return 1; fi
}

# tb_flow_login TAG USER [COMMAND]: an ssh session with a pty; a logind
# session; a home. COMMAND: what the session runs (tb_session_start).
tb_flow_login() {
    local tag=$1 user=$2 sid home
    tb_step "$user logs in over ssh (a JIT user with the key its grant carries)" \
        "a logind session opens for $user; $user's home exists"
    if ! tb_session_start "$tag" "$user" "${3:-}"; then
        tb_fail "ssh session of $user opened"
        tb_session_out "$tag" | tail -n 5 | tb_show
        return 1
    fi
    sid=$(tb_session_id "$tag")
    tb_pass "ssh session of $user opened (logind session $sid, $(tb_session_tty "$tag"))"
    if [ -n "$sid" ] && ct loginctl list-sessions --no-legend | awk -v s="$sid" -v u="$user" '$1==s && $3==u {f=1} END {exit !f}'
    then tb_pass "loginctl list-sessions shows session $sid of $user"
    else tb_fail "loginctl list-sessions shows session '$sid' of $user"; fi
    home=$(ct getent passwd "$user" | cut -d: -f6)
    if [ -n "$home" ] && [ "$(ct stat -c %U "$home" 2>/dev/null)" = "$user" ]; then tb_pass "home $home exists, owned by $user"
    else tb_fail "home '${home:-?}' of $user exists and is owned by $user"; fi
    return 0
}

# What an administrator sees on the host while the grant is in force.
tb_flow_status() {
    local user=$1 out
    tb_step "jitctl status and getent passwd show $user" "the grant ${TB_GRANT[$user]} and $user's passwd entry"
    out=$(ct getent passwd "$user" 2>&1) && tb_pass "getent passwd $user: $out" || tb_fail "getent passwd $user"
    ct id "$user" 2>&1 | tb_show
    tb_need "jitctl status shows the grant" jitctl || return 1
    out=$(ct jitctl status 2>&1)
    echo "$out" | tb_show
    if grep -q -- "${TB_GRANT[$user]}" <<<"$out" || grep -q -- "${TB_GRANT[$user]}" <<<"$(ct jitctl grants 2>/dev/null)"; then
        tb_pass "jitctl status/grants show grant ${TB_GRANT[$user]} of $user"
    else
        tb_fail "jitctl status/grants show grant ${TB_GRANT[$user]} of $user"
    fi
}

# sudo inside the window: what the grant allows works, the rest is refused.
tb_flow_sudo_allowed() {
    local user=$1 out
    tb_step "$user runs a granted command with sudo" "sudo -n /usr/bin/id -u prints 0"
    # On a terminal, as an engineer would: the record names the tty.
    out=$(ssh -tt "${TB_SSHO[@]}" "$user@127.0.0.1" 'sudo -n /usr/bin/id -u' 2>&1 </dev/null)
    tb_say "sudo -n /usr/bin/id -u -> $(echo "$out" | tr -d '\r' | tail -n1)"
    if [ "$(echo "$out" | tr -d '\r' | tail -n1)" = 0 ]; then tb_pass "sudo allowed for $user"
    else tb_fail "sudo allowed for $user"; return 1; fi
    tb_flow_sudo_record "$user"
}

# tb_flow_sudo_record USER: jitlogin's sudo audit plugin (docs/sudo.md) puts
# the command sudo ran, and one the sudoers policy refuses (which never
# reaches pam_jit.so), in the journal with their command lines.
tb_flow_sudo_record() {
    local user=$1 out
    tb_step "$user tries a command the grant does not cover" \
        "sudo -n /usr/bin/passwd is refused; the journal has sudo.command \"/usr/bin/id -u\" and sudo.refused \"/usr/bin/passwd\""
    tb_need "sudo commands on the record" daemon sudo_plugin || return 1
    out=$(tb_ssh "$user" 'sudo -n /usr/bin/passwd' 2>&1 </dev/null)
    tb_say "sudo -n /usr/bin/passwd -> $(echo "$out" | tr -d '\r' | tail -n1)"
    if tb_wait 10 tb_journal_has sudo.command "JIT_GRANT_ID=${TB_GRANT[$user]}" >/dev/null 2>&1 &&
        tb_journal_has sudo.command "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_USER=$user" "JIT_COMMAND=/usr/bin/id -u" \
            JIT_RUN_AS=root JIT_CWD JIT_TTY; then
        tb_pass "journal: sudo.command \"/usr/bin/id -u\" as root for $user, with cwd and tty"
    else tb_fail "journal: sudo.command with JIT_COMMAND=\"/usr/bin/id -u\" for $user"; fi
    if tb_wait 10 tb_journal_has sudo.refused "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_COMMAND=/usr/bin/passwd" \
            "JIT_USER=$user" JIT_REASON >/dev/null 2>&1; then
        tb_pass "journal: sudo.refused \"/usr/bin/passwd\" for $user, with sudo's reason"
    else tb_fail "journal: sudo.refused with JIT_COMMAND=/usr/bin/passwd for $user"; return 1; fi
}

# tb_flow_sudo_denied USER: USER's grant has no sudo; a sudoers rule that
# predates jitlogin (/etc/sudoers.d/50-testbed-legacy) would allow /usr/bin/id,
# so sudo reaches PAM and pam_jit.so must refuse.
tb_flow_sudo_denied() {
    local user=$1 out
    tb_step "$user (grant without sudo) tries sudo through a legacy sudoers rule" \
        "pam_jit.so refuses: sudo fails with a PAM account error"
    printf '%s ALL=(root) NOPASSWD: /usr/bin/id\n' "$user" > "$TB_ROOT/etc/sudoers.d/50-testbed-legacy"
    chmod 440 "$TB_ROOT/etc/sudoers.d/50-testbed-legacy"
    out=$(tb_ssh "$user" 'sudo -n /usr/bin/id -u' 2>&1 </dev/null)
    tb_say "sudo -n /usr/bin/id -u -> $(echo "$out" | tr -d '\r' | tail -n1)"
    rm -f "$TB_ROOT/etc/sudoers.d/50-testbed-legacy"
    if [ "$(echo "$out" | tr -d '\r' | tail -n1)" != 0 ]; then tb_pass "sudo refused for $user"
    else tb_fail "sudo refused for $user"; return 1; fi
}

# The notice before the window closes, on the session's own terminal.
tb_flow_warning() {
    local tag=$1 user=$2 wait line
    tb_step "the warning reaches $user's terminal" \
        "before $(tb_hms "${TB_NOT_AFTER[$user]}") a 'jitlogin: ...' line appears in the ssh session"
    wait=$((${TB_NOT_AFTER[$user]} - $(tb_now) + 3))
    [ $wait -gt 3 ] || wait=3
    if tb_session_wait_for "$tag" "jitlogin:" "$wait"; then
        line=$(tb_session_later "$tag" | grep -m1 'jitlogin:')
        tb_say "on the terminal at $(date +%H:%M:%S): $line"
        tb_pass "warning shown on $user's terminal"
        grep -q -- "${TB_GRANT[$user]}" <<<"$line" && tb_pass "the warning names grant ${TB_GRANT[$user]}" ||
            tb_fail "the warning names grant ${TB_GRANT[$user]}"
    else
        tb_fail "warning shown on $user's terminal before the window closed"
        return 1
    fi
}

# tb_flow_ended TAG USER HOW: the ssh session ends (within 30 s of not_after,
# or of the revocation), logind forgets it, the daemon says so in the journal.
tb_flow_ended() {
    local tag=$1 user=$2 cause=$3 sid deadline t_end
    sid=$(tb_session_id "$tag")
    if [ "$cause" = revoked ]; then
        tb_step "the authority revokes $user's grant early" \
            "jit-helperd gets the new bundle at once and ends session $sid through logind TerminateSession"
        tb_revoke "$user" "jitlogin test bed: incident closed early" &&
            tb_pass "grant ${TB_GRANT[$user]} revoked at the authority at $(date +%H:%M:%S)" ||
            { tb_fail "grant ${TB_GRANT[$user]} revoked at the authority"; return 1; }
        deadline=30
    else
        tb_step "the window closes at $(tb_hms "${TB_NOT_AFTER[$user]}"): $user's session is ended" \
            "jit-helperd ends logind session $sid through TerminateSession; the ssh client exits"
        deadline=$((${TB_NOT_AFTER[$user]} - $(tb_now) + 30))
    fi
    if tb_session_wait_gone "$tag" "$deadline"; then
        t_end=$(tb_now)
        tb_pass "ssh session of $user closed at $(tb_hms "$t_end")$([ "$cause" = expired ] &&
            echo " ($((t_end - ${TB_NOT_AFTER[$user]})) s after not_after)")"
        tb_session_out "$tag" | tail -n 2 | tb_show
    else
        tb_fail "ssh session of $user closed within $deadline s"
        return 1
    fi
    if tb_logind_wait_gone "$sid" 10; then tb_pass "logind session $sid gone from loginctl list-sessions"
    else tb_fail "logind session $sid gone from loginctl list-sessions"; fi
    if tb_wait 10 tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_SESSION_ID=$sid" \
            JIT_HOW=terminate-session >/dev/null 2>&1; then
        tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" "JIT_SESSION_ID=$sid" JIT_HOW=terminate-session
        tb_pass "journal: jit-helperd ended session $sid through TerminateSession (within 10 s of its end; kill_grace is ${JIT_TB_KILL_GRACE:-5} s)"
    else
        tb_journal_has session.ended "JIT_GRANT_ID=${TB_GRANT[$user]}" 2>&1 | tb_show
        tb_fail "journal: session.ended for session $sid with JIT_HOW=terminate-session within 10 s of its end"
    fi
}

# A session of an ordinary local user outlives every JIT window.
tb_flow_local_untouched() {
    local tag=$1 user=$2 sid
    sid=$(tb_session_id "$tag")
    tb_step "$user (a local user) is untouched" "$user's session $sid is still open; getent passwd $user unchanged"
    tb_session_alive "$tag" && tb_logind_has "$sid" && tb_pass "session $sid of local user $user still open" ||
        tb_fail "session $sid of local user $user still open"
}

# The audit trail of a grant, as an auditor reads it.
tb_flow_audit_story() {
    local user=$1 out
    tb_step "the audit trail of grant ${TB_GRANT[$user]}" "jitctl audit tells who asked, who approved, logins, sudo, warnings and how the session ended"
    tb_need "jitctl audit --grant ${TB_GRANT[$user]} --summary" jitctl || return 1
    ct journalctl --sync >/dev/null 2>&1 || true
    tb_say "jitctl audit --grant ${TB_GRANT[$user]}:"
    ct jitctl audit --grant "${TB_GRANT[$user]}" 2>&1 | tb_show
    tb_say "jitctl audit --grant ${TB_GRANT[$user]} --summary:"
    out=$(ct jitctl audit --grant "${TB_GRANT[$user]}" --summary 2>&1)
    echo "$out" | tb_show
    local want missing=()
    for want in "${TB_GRANT[$user]}" "$user" carol INC-4242 "investigate incident" terminate-session \
                "ran      root: /usr/bin/id -u" "REFUSED  root: /usr/bin/passwd"; do
        grep -qiF -- "$want" <<<"$out" || missing+=("$want")
    done
    if [ ${#missing[@]} -eq 0 ]; then tb_pass "the summary names the grant, user, approver, ticket, reason, the sudo commands and how the session ended"
    else tb_fail "the summary lacks: ${missing[*]}"; return 1; fi
}
