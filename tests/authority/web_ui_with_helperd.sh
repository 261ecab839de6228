#!/bin/bash
# Integration: the approvers' page with a real host, from request to ssh
# login. jit-authority (C++, SQLite) + the real jit-helperd + jitctl + a real
# sshd on a loopback port with pam_jit.so + headless Chromium (root only;
# exit 77 = skipped).
#   web_ui_with_helperd.sh JIT_AUTHORITY JITADM JIT_HELPERD JITCTL PAM_JIT_SO
# An engineer (a local user in the managed range, with an ssh key) cannot log
# in; they ask on the host with `jitctl request`; an operator approves it on
# the page (tests/authority/web_ui_decide.py); the host receives the grant,
# `jitctl request-status` says approved and the engineer logs in over ssh. A
# second request is denied on the page with a comment, and the engineer's
# `jitctl request-status` shows it.
AUTHORITY=$1 JITADM=$2 HELPERD=$3 JITCTL=$4 SO=$5
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
set -eo pipefail
require_root_and_tools setpriv /usr/sbin/sshd ssh useradd /usr/bin/python3
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && /usr/bin/python3 -c 'import selenium' 2>/dev/null \
  || skip "needs chromium, chromium-driver and python3-selenium"
[ -f "$SO" ] || die "no pam_jit module at $SO"
setup_tmp jw
make_client_key
run_names "web-$TAG" "jit-web-$TAG"
KEY_ID=jw-$TAG
ENG=jw-$TAG-eng
add_user "$ENG" "$(free_uid 70500 70999)" || die "cannot add the engineer's account"
SHOW_ON_FAIL+=("$T/authority.log" "$T/sshd.log")

source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
jit_authority_init <<EOC
[rule relay]
groups = it
requesters = $ENG
approvers = carol
approvals = 1
max_duration = 2h
EOC
jit_authority_up || die "jit-authority did not start"
jit_authority_add_host

HELPERD_STATE_BY_DAEMON=1
SOCK=$T/helperd.sock
jit_helperd_up "$SOCK" "$DROPIN"

pam_service sshd "$SVC-sshd"
start_sshd "$SVC-sshd" || die "sshd did not start"
ssh_as "$ENG" 'echo logged-in' || true
grep -qx logged-in "$T/ssh.out" && fail "the engineer logged in before any grant" || pass "no grant, no ssh login"

ctl_as_eng() { setpriv --reuid="$ENG" --regid="$ENG" --clear-groups "$JITCTL" --socket "$HELPERD_SOCK" "$@"; }
request_id() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
decide() { (cd "$HERE" && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 web_ui_decide.py "$JITADM_URL" "$T/auth/carol.token" "$@"); }

# Approve on the page: the host gets the grant.
RID=$(ctl_as_eng request --reason "INC-11: via the page" --duration 30m --json | request_id) \
  || die "jitctl request failed"
decide "$RID" approve "go ahead" >"$T/decide.out" 2>&1 || die "the page did not approve: $(cat "$T/decide.out")"
grep -q "$ENG asks for login" "$T/decide.out" && pass "the page shows the request made on the host" \
  || fail "the request card: $(cat "$T/decide.out")"
GID=$("$JITADM" --json requests show "$RID" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant_id"])')
wait_for --or-die "the grant approved on the page on the host" 30 lists_grant "$GID"
out=$(ctl_as_eng request-status "$RID") || die "request-status failed: $out"
[[ $out == *approved* && $out == *carol* ]] && pass "approved on the page: the host has grant $GID" \
  || fail "request-status: $out"
ssh_as "$ENG" 'echo logged-in' || true
grep -qx logged-in "$T/ssh.out" && pass "the engineer logs in over ssh with the grant approved on the page" \
  || fail "ssh after the approval: $(cat "$T/ssh.err")"

# Deny on the page with a comment: the engineer reads it in jitctl.
RID=$(ctl_as_eng request --reason "INC-12: look around" --duration 30m --json | request_id) \
  || die "jitctl request failed"
decide "$RID" deny "use the read-only dashboard" >"$T/decide.out" 2>&1 \
  || die "the page did not deny: $(cat "$T/decide.out")"
out=$(ctl_as_eng request-status "$RID") || die "request-status failed: $out"
[[ $out == *denied* && $out == *"use the read-only dashboard"* ]] && pass "denied on the page: jitctl shows the comment" \
  || fail "request-status after the denial: $out"
finish
