#!/bin/bash
# The Debian packages in the nspawn test bed, as a sysadmin meets them
# (docs/packaging.md): a fresh Debian 12 with a local user, a directory user
# (libnss-extrausers) and root.
#   1. install the .debs with no configuration: nothing changes about who can
#      log in; the daemon and its socket are neither enabled nor started; the
#      sshd drop-in and sudo plugin are not in place; jit-ssh and jit-users
#      exist; started by hand without a config it fails loudly;
#   2. configure and enable as README.Debian says (daemon, PAM, and the
#      optional SSH keys and sudo plugin): the three users still log in, with
#      the daemon up, and with it and its socket stopped;
#   3. the grant flow against the installed package (tests/nspawn/flow.sh):
#      refused, granted, ssh login with the grant's key, sudo on the record;
#      with the daemon stopped but its socket listening, a check waits for
#      the daemon the socket starts instead of failing;
#   4. upgrade to a bumped version with that session open: the daemon runs
#      again (restarted), its state is kept, the session still gets its
#      warning and is ended at not_after;
#   5. purge: nsswitch.conf and /etc/pam.d byte for byte as before, nothing of
#      jitlogin left, the three users log in, sudo still runs (the plugin line
#      is commented out) and the sshd drop-in is gone.
#
# Usage (root): tests/nspawn/test-packages.sh DEB_DIR
#   DEB_DIR holds jitlogin_*.deb, libpam-jit_*.deb, libnss-jit_*.deb
#   (tests/packaging/deb_test.sh leaves them there).
# Env: JIT_TB_WINDOW (alice's window, default 120 s: login, sudo and the
#      upgrade happen inside it on a loaded machine) and lib.sh's settings.
# Exit 77 when the bed cannot run or there are no packages.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$TB_LIB_DIR/flow.sh"
DEBS=$(cd "${1:?usage: test-packages.sh DEB_DIR}" 2>/dev/null && pwd) || { echo "SKIP: no package directory $1"; exit 77; }
ls "$DEBS"/jitlogin_*.deb "$DEBS"/libpam-jit_*.deb "$DEBS"/libnss-jit_*.deb >/dev/null 2>&1 ||
    { echo "SKIP: no jitlogin .debs in $DEBS (build them: tests/packaging/deb_test.sh)"; exit 77; }
tb_require_bed

WINDOW=${JIT_TB_WINDOW:-120}
export JIT_TB_WARN_OFFSETS=${JIT_TB_WARN_OFFSETS:-$((WINDOW / 2))s,$((WINDOW / 6 > 3 ? WINDOW / 6 : 3))s}
A=alice        # JIT user: granted, logs in, session open across the upgrade
B=bob          # JIT user with sudo at purge time: the sudoers drop-in exists then
L=$JIT_TB_LOCAL_USER
D=dirops       # a directory user (libnss-extrausers), not in /etc/passwd
WATCHED="/etc/nsswitch.conf /etc/pam.d/*"   # byte for byte the same after purge

diagnostics() {
    [ "$TB_FAILS" -gt 0 ] && tb_running || return 0
    echo "== diagnostics (failures above)"
    echo "-- jit-helperd journal (last 40):"; ct journalctl -u jit-helperd --no-pager -n 40 -o short-precise 2>&1 | tb_show
    echo "-- sshd/su journal (last 20):"; ct journalctl -t sshd -t su --no-pager -n 20 -o short-precise 2>&1 | tb_show
    echo "-- dpkg (last 20):"; tail -n 20 "$TB_RUN/dpkg.log" 2>&1 | tb_show
}
trap 'diagnostics; tb_teardown' EXIT
trap 'exit 130' INT TERM

# A user of a directory service, as glibc sees one: libnss-extrausers' files.
tb_directory_user() {
    local r=$TB_ROOT u=$1 id=$2
    install -d -m 755 "$r/var/lib/extrausers"
    echo "$u:x:$id:$id:Directory user:/home/$u:/bin/bash" >> "$r/var/lib/extrausers/passwd"
    echo "$u:x:$id:" >> "$r/var/lib/extrausers/group"
    echo "$u:*:19000:0:99999:7:::" >> "$r/var/lib/extrausers/shadow"
    chmod 640 "$r/var/lib/extrausers/shadow"
    sed -i -e 's/^\(passwd\|group\):.*/&  extrausers/' -e 's/^shadow:.*/& extrausers/' "$r/etc/nsswitch.conf"
    install -d -m 700 -o "$id" -g "$id" "$r/home/$u"
    tb_authorize "$u"
}

# logs_in USER WHEN: ssh as USER runs a command, and su to USER passes PAM's
# account phase (su as root skips authentication, not account).
logs_in() {
    local user=$1 when=$2 out
    out=$(tb_ssh "$user" 'id -un' 2>&1 </dev/null | tr -d '\r' | tail -n1)
    [ "$out" = "$user" ] && tb_pass "$when: ssh as $user works" || tb_fail "$when: ssh as $user works (got: $out)"
    [ "$user" = root ] && return 0
    out=$(ct su -s /bin/sh -c 'id -un' "$user" 2>&1 | tail -n1)
    [ "$out" = "$user" ] && tb_pass "$when: su $user works" || tb_fail "$when: su $user works (got: $out)"
}
everyone_logs_in() { local u; for u in root "$L" "$D"; do logs_in "$u" "$1"; done; }

# dpkg inside the container, through sh (globs are the container's); its
# output in $TB_RUN/dpkg.log.
ct_dpkg() {
    echo "# dpkg $*" >> "$TB_RUN/dpkg.log"
    ct env DEBIAN_FRONTEND=noninteractive sh -c "dpkg $*" >>"$TB_RUN/dpkg.log" 2>&1
}
unchanged() { ct sha256sum --quiet -c /root/before.sums >/dev/null 2>&1; }
main_pid() { ct systemctl show -p MainPID --value jit-helperd.service; }

T0=$SECONDS
tb_new_run
tb_restore_rootfs
tb_authority_start
tb_configure_base
tb_directory_user "$D" 5001
install -d "$TB_ROOT/root/debs"
cp "$DEBS"/jitlogin_*.deb "$DEBS"/libpam-jit_*.deb "$DEBS"/libnss-jit_*.deb "$TB_ROOT/root/debs/"
# The same packages with a higher version, for the upgrade.
install -d "$TB_ROOT/root/debs-next"
for deb in "$TB_ROOT"/root/debs/*.deb; do
    x=$(mktemp -d "$TB_RUN/deb.XXXXXX")
    dpkg-deb -R "$deb" "$x"
    sed -i -E 's/^Version: (.*)$/Version: \1+tbnext1/; s/\(= ([^)]*)\)/(= \1+tbnext1)/g' "$x/DEBIAN/control"
    dpkg-deb -b "$x" "$TB_ROOT/root/debs-next/" >/dev/null
    rm -rf "$x"
done
tb_boot
ct sh -c "sha256sum $WATCHED > /root/before.sums"
ct sh -c "sha256sum /etc/sudo.conf > /root/sudo.sums"
nss_before=$(ct grep '^passwd:' /etc/nsswitch.conf)
tb_log "test bed ready in $((SECONDS - T0)) s; packages: $(cd "$TB_ROOT/root/debs" && echo *.deb)"

# ---------------------------------------------------------------- 1. install
tb_step "install the packages on a host with no jitlogin configuration" \
    "dpkg -i succeeds; PAM unchanged; the daemon neither enabled nor started; every user logs in as before"
if ct_dpkg -i /root/debs/jitlogin_*.deb /root/debs/libpam-jit_*.deb /root/debs/libnss-jit_*.deb; then
    tb_pass "dpkg -i jitlogin libpam-jit libnss-jit"
else
    tb_fail "dpkg -i jitlogin libpam-jit libnss-jit"; tail -n 20 "$TB_RUN/dpkg.log" | tb_show
fi
ct dpkg -L jitlogin libpam-jit libnss-jit 2>/dev/null | sort -u > "$TB_RUN/installed-paths"
ct sh -c 'grep -l pam_jit /etc/pam.d/* 2>/dev/null' | grep -q . && tb_fail "PAM unchanged: pam_jit is in $(ct sh -c 'grep -l pam_jit /etc/pam.d/*' | tr '\n' ' ')" ||
    tb_pass "PAM unchanged: no /etc/pam.d file names pam_jit"
line=$(ct grep '^passwd:' /etc/nsswitch.conf)
[ "$line" = "${nss_before/files/files jit}" ] && tb_pass "nsswitch.conf: '$nss_before' became '$line'" ||
    tb_fail "nsswitch.conf: '$nss_before' became '$line'"
[ "$(ct systemctl is-enabled jit-helperd.service 2>/dev/null)" = disabled ] && tb_pass "jit-helperd.service is not enabled" ||
    tb_fail "jit-helperd.service is not enabled (is: $(ct systemctl is-enabled jit-helperd.service 2>&1))"
ct systemctl is-active --quiet jit-helperd.service && tb_fail "jit-helperd is not running" || tb_pass "jit-helperd is not running"
ct sh -c 'sha256sum --quiet -c /root/sudo.sums' >/dev/null 2>&1 && tb_pass "/etc/sudo.conf unchanged (the sudo plugin is not switched on)" ||
    tb_fail "/etc/sudo.conf changed by the install"
[ -e "$TB_ROOT/etc/ssh/sshd_config.d/50-jitlogin.conf" ] && tb_fail "no sshd drop-in after install (found 50-jitlogin.conf)" ||
    tb_pass "no sshd drop-in after install"
[ "$(ct systemctl is-enabled jit-helperd.socket 2>/dev/null)" = disabled ] && ! ct systemctl is-active --quiet jit-helperd.socket &&
    tb_pass "jit-helperd.socket neither enabled nor listening" ||
    tb_fail "jit-helperd.socket neither enabled nor listening (is: $(ct systemctl is-enabled jit-helperd.socket 2>&1), $(ct systemctl is-active jit-helperd.socket 2>&1))"
if ct getent passwd jit-ssh >/dev/null && ct getent group jit-users >/dev/null; then
    tb_pass "system user jit-ssh and group jit-users created: $(ct getent passwd jit-ssh)"
else tb_fail "system user jit-ssh and group jit-users created"; fi
everyone_logs_in "installed, not configured"

tb_step "start the daemon with no configuration" "it fails loudly: systemctl status says failed, the journal names the missing file"
ct systemctl start jit-helperd.service >/dev/null 2>&1 && tb_fail "systemctl start without a config fails" ||
    tb_pass "systemctl start without a config fails"
[ "$(ct systemctl is-failed jit-helperd.service)" = failed ] && tb_pass "systemctl is-failed: failed" ||
    tb_fail "systemctl is-failed: $(ct systemctl is-failed jit-helperd.service)"
journal_names_config() { local out; out=$(ct journalctl -u jit-helperd --no-pager -o cat 2>&1) && grep -q /etc/jit/helperd.conf <<<"$out"; }
tb_wait 5 journal_names_config &&
    tb_pass "the journal names /etc/jit/helperd.conf" || tb_fail "the journal names /etc/jit/helperd.conf"
ct systemctl status jit-helperd.service --no-pager 2>&1 | head -n 4 | tb_show
ct systemctl stop jit-helperd.socket
ct systemctl reset-failed jit-helperd.service jit-helperd.socket
everyone_logs_in "daemon failed, not configured"

# ---------------------------------------------------------------- 2. enable
tb_step "configure and enable jitlogin (README.Debian)" \
    "jitctl check-config && systemctl enable --now jit-helperd && pam-auth-update --enable jit"
tb_write_daemon_config
if ct sh -c 'jitctl check-config && systemctl enable --now jit-helperd && pam-auth-update --enable jit' 2>&1 | tb_show; then
    tb_pass "enabled"
else
    tb_fail "enabled"
fi
ct systemctl is-active --quiet jit-helperd.service && tb_pass "jit-helperd is running" || tb_fail "jit-helperd is running"
ct systemctl is-active --quiet jit-helperd.socket &&
    tb_pass "jit-helperd.socket listening with it (Requires=)" || tb_fail "jit-helperd.socket listening with it (Requires=)"
tb_step "switch on SSH keys from grants and sudo on the record (README.Debian step 4)" \
    "/usr/libexec/jitlogin/jit-ssh-setup && systemctl reload ssh; the four Plugin lines in /etc/sudo.conf"
if ct sh -c '/usr/libexec/jitlogin/jit-ssh-setup && systemctl reload ssh' 2>&1 | tb_show; then tb_pass "jit-ssh-setup of the installed package"
else tb_fail "jit-ssh-setup of the installed package"; fi
printf 'Plugin sudoers_policy sudoers.so\nPlugin sudoers_io sudoers.so\nPlugin sudoers_audit sudoers.so\nPlugin jit_audit /usr/libexec/jitlogin/sudo_jit_audit.so\n' \
    >> "$TB_ROOT/etc/sudo.conf"
grep -Pq '^account\trequired\t+pam_jit.so' "$TB_ROOT/etc/pam.d/common-account" && tb_pass "common-account: account required pam_jit.so" ||
    tb_fail "common-account lacks 'account required pam_jit.so'"
if awk '/pam_systemd.so/ {s=NR} /pam_jit.so/ {j=NR; r=($2=="required")} END {exit !(s && j > s && r)}' "$TB_ROOT/etc/pam.d/common-session"
then tb_pass "common-session: session required pam_jit.so after pam_systemd"
else tb_fail "common-session: session required pam_jit.so after pam_systemd"; grep -n pam_ "$TB_ROOT/etc/pam.d/common-session" | tb_show; fi
everyone_logs_in "enabled, daemon running"
ct systemctl stop jit-helperd.socket jit-helperd.service
ct systemctl is-active --quiet jit-helperd.service && tb_fail "jit-helperd and its socket stopped" || tb_pass "jit-helperd and its socket stopped"
everyone_logs_in "enabled, daemon stopped"
ct systemctl start jit-helperd.service

# ---------------------------------------------------------------- 3. the flow
tb_flow_refused "$A" before
in_a=0
if tb_flow_grant "$A" "$WINDOW" /usr/bin/id && tb_flow_login a "$A"; then
    in_a=1
    tb_flow_sudo_allowed "$A"
fi

tb_step "the daemon stops while its socket listens (as during a restart); $A is checked meanwhile" \
    "su $A passes: the check waits in the socket's backlog, systemd starts jit-helperd, it answers"
if [ $in_a = 1 ]; then
    ct systemctl stop jit-helperd.service
    ct systemctl is-active --quiet jit-helperd.service && tb_fail "jit-helperd stopped" || tb_pass "jit-helperd stopped, jit-helperd.socket $(ct systemctl is-active jit-helperd.socket)"
    out=$(ct su -s /bin/sh -c 'id -un' "$A" 2>&1 | tail -n1)
    [ "$out" = "$A" ] && tb_pass "su $A while the daemon was down: allowed (got: $out)" ||
        tb_fail "su $A while the daemon was down: allowed (got: $out)"
    ct systemctl is-active --quiet jit-helperd.service && tb_pass "jit-helperd started by its socket" ||
        tb_fail "jit-helperd started by its socket"
else
    tb_skip "a check during a restart waits" "$A never logged in"
fi

# ---------------------------------------------------------------- 4. upgrade
tb_step "upgrade to a bumped version while $A's session is open" \
    "the daemon is restarted and runs the new package; grants and the session table are kept; $A's session still ends on time"
pid_before=$(main_pid)
state_before=$(ct sha256sum /var/lib/jit/grants.state 2>/dev/null | cut -d' ' -f1)
if ct_dpkg -i /root/debs-next/*.deb; then tb_pass "dpkg -i of version $(ct dpkg-query -W -f '${Version}' jitlogin)"
else tb_fail "dpkg -i of the bumped packages"; tail -n 20 "$TB_RUN/dpkg.log" | tb_show; fi
if tb_wait 20 ct systemctl is-active --quiet jit-helperd.service; then
    pid_after=$(main_pid)
    [ "$pid_after" != "$pid_before" ] && tb_pass "jit-helperd running again after the upgrade (pid $pid_before -> $pid_after)" ||
        tb_fail "jit-helperd was restarted by the upgrade (pid still $pid_before)"
else
    tb_fail "jit-helperd running after the upgrade"
fi
[ -n "$state_before" ] && [ "$(ct sha256sum /var/lib/jit/grants.state | cut -d' ' -f1)" = "$state_before" ] &&
    tb_pass "grants.state kept across the upgrade" || tb_fail "grants.state kept across the upgrade"
if [ $in_a = 1 ]; then
    tb_session_alive a && tb_pass "$A's session survived the upgrade" || tb_fail "$A's session survived the upgrade"
    ct jitctl status 2>/dev/null | grep -q "^  $A grant ${TB_GRANT[$A]}" && tb_pass "the restarted daemon still tracks $A's session" ||
        tb_fail "the restarted daemon still tracks $A's session"
    tb_flow_warning a "$A"
    tb_flow_ended a "$A" expired
else
    tb_skip "$A's session ends on time after the upgrade" "$A never logged in"
fi

# ---------------------------------------------------------------- 5. purge
tb_flow_grant "$B" 600 /usr/bin/id
tb_wait 15 test -s "$TB_ROOT/etc/sudoers.d/jitlogin" && tb_say "the daemon wrote /etc/sudoers.d/jitlogin for $B"
tb_step "purge the packages" \
    "nsswitch.conf and /etc/pam.d byte for byte as before install; /etc/jit, /var/lib/jit, the sudoers drop-in gone; users log in"
if ct_dpkg --purge jitlogin libpam-jit libnss-jit; then tb_pass "dpkg --purge jitlogin libpam-jit libnss-jit"
else tb_fail "dpkg --purge"; tail -n 20 "$TB_RUN/dpkg.log" | tb_show; fi
ct pgrep -x jit-helperd >/dev/null && tb_fail "no jit-helperd process after purge" || tb_pass "no jit-helperd process after purge"
if unchanged; then tb_pass "nsswitch.conf and /etc/pam.d/* identical to before install"
else tb_fail "nsswitch.conf and /etc/pam.d/* identical to before install"; ct sha256sum -c /root/before.sums 2>&1 | grep -v ': OK' | tb_show; fi
left=()
for p in /etc/jit /var/lib/jit /etc/sudoers.d/jitlogin /run/jit /etc/ssh/sshd_config.d/50-jitlogin.conf; do
    [ -e "$TB_ROOT$p" ] && left+=("$p")
done
while read -r p; do
    [ -n "$p" ] && [ -e "$TB_ROOT$p" ] && [ ! -d "$TB_ROOT$p" ] && left+=("$p")
done < "$TB_RUN/installed-paths"
[ -d "$TB_ROOT/usr/libexec/jitlogin" ] && left+=(/usr/libexec/jitlogin)
[ ${#left[@]} -eq 0 ] && tb_pass "nothing of jitlogin left ($(wc -l < "$TB_RUN/installed-paths") package paths checked)" ||
    tb_fail "left after purge: ${left[*]}"
everyone_logs_in "purged"
out=$(ct sudo -n -u "$L" id -un 2>&1 | tail -n1)
[ "$out" = "$L" ] && tb_pass "sudo still runs after purge (the jit_audit line commented out: $(ct grep -c '^# jitlogin removed: Plugin jit_audit' /etc/sudo.conf))" ||
    tb_fail "sudo still runs after purge (got: $out)"

tb_log "test-packages finished in $((SECONDS - T0)) s"
tb_summary
