# shellcheck shell=bash
# Provisioning, boot and shutdown of the test bed container (sourced by lib.sh).
#
# The container is `systemd-nspawn --boot` of a fresh copy of the cached root:
# real systemd as PID 1 with journald, dbus and logind. It shares the host's
# network namespace, so its sshd listens on 127.0.0.1:$JIT_TB_SSH_PORT and the
# daemon reaches the reference authority on the host's 127.0.0.1.

TB_MULTIARCH=usr/lib/x86_64-linux-gnu
# Where each installed piece is expected (relative to the root); what is
# missing is reported by tb_have/tb_missing and turns the checks that need it
# into failures that name the missing piece.
declare -gA TB_PIECE=(
    [pam]=$TB_MULTIARCH/security/pam_jit.so
    [nss]=$TB_MULTIARCH/libnss_jit.so.2
    [daemon]=usr/sbin/jit-helperd
    [jitctl]=usr/bin/jitctl
    [unit]=lib/systemd/system/jit-helperd.service
    [catalog]=usr/lib/systemd/catalog/jitlogin.catalog
    [sudo_plugin]=usr/libexec/jitlogin/sudo_jit_audit.so
)
tb_have() {
    case $1 in
        authority)
            if [ "$JIT_TB_AUTHORITY" = jit-authority ]; then [ -x "$TB_JIT_AUTHORITY" ] && [ -x "$TB_JITADM" ]
            else [ -x "$JIT_SRC/tests/authority/jit-authority" ]; fi ;;
        *) [ -s "$TB_ROOT/${TB_PIECE[$1]}" ] ;;   # an empty file is not there yet
    esac
}
# Lists the pieces (of those named) that are not installed, e.g. "pam nss".
tb_missing() { local p out=(); for p in "$@"; do tb_have "$p" || out+=("$p"); done; echo "${out[*]}"; }

# cmake --install of the build into the root, then checks every binary's
# libraries resolve inside the root.
tb_install_build() {
    [ -f "$JIT_BUILD/cmake_install.cmake" ] || tb_die "no build at $JIT_BUILD (pass the build directory or set JIT_BUILD)"
    DESTDIR=$TB_ROOT cmake --install "$JIT_BUILD" --prefix /usr >"$TB_RUN/install.log" 2>&1 ||
        { tail -n 20 "$TB_RUN/install.log" >&2; tb_die "cmake --install into the test bed failed"; }
    local p have=() missing=()
    for p in pam nss daemon jitctl unit catalog; do
        if tb_have "$p"; then have+=("$p"); else missing+=("$p"); fi
    done
    tb_log "installed into the root: ${have[*]:-nothing}${missing[*]:+; not built/installed yet: ${missing[*]}}"
    local bin bad=0
    for bin in "/${TB_PIECE[pam]}" "/${TB_PIECE[nss]}" "/${TB_PIECE[jitctl]}" "/${TB_PIECE[daemon]}"; do
        [ -e "$TB_ROOT$bin" ] || continue
        if grep -q 'not found' <<<"$(chroot "$TB_ROOT" ldd "$bin" 2>&1)"; then
            tb_log "ERROR: $bin needs libraries the root lacks (add them to TB_PACKAGES in rootfs.sh):"
            chroot "$TB_ROOT" ldd "$bin" | grep 'not found' >&2
            bad=1
        fi
    done
    [ $bad -eq 0 ] || tb_die "runtime libraries missing in the test bed root"
}

# The container's configuration: the base (below), then nsswitch, PAM, the
# daemon's config and unit. Runs before boot, on the root directory.
tb_configure() {
    local r=$TB_ROOT
    tb_configure_base
    if tb_have nss; then
        sed -i -e 's/^passwd:.*/passwd:         files jit/' -e 's/^group:.*/group:          files jit/' \
            "$r/etc/nsswitch.conf"
    fi
    tb_configure_pam
    tb_configure_daemon
    tb_configure_ssh_keys
    if tb_have catalog; then
        chroot "$r" journalctl --update-catalog || tb_log "WARNING: journalctl --update-catalog failed"
    fi
}

# What every run needs, jitlogin or not: hostname, a local user, sshd on its
# own loopback port with keys from a root-owned directory.
tb_configure_base() {
    local r=$TB_ROOT
    echo "$JIT_TB_HOST_ID" > "$r/etc/hostname"
    printf '127.0.0.1\tlocalhost %s\n' "$JIT_TB_HOST_ID" > "$r/etc/hosts"
    # An ordinary local user: jitlogin must never touch it.
    chroot "$r" useradd -m -s /bin/bash "$JIT_TB_LOCAL_USER"
    chroot "$r" usermod -p '*' "$JIT_TB_LOCAL_USER"

    # sshd on its own loopback port; root's and the local user's keys come
    # from a root-owned directory; JIT users' keys come from their grants
    # (jit-authorized-keys, put in place by jit-ssh-setup below).
    install -d -m 755 "$r/etc/ssh/authorized_keys"
    tb_authorize root
    tb_authorize "$JIT_TB_LOCAL_USER"
    cat > "$r/etc/ssh/sshd_config.d/10-jitlogin-testbed.conf" <<EOF
# The container shares the host's network: never bind :22 or 0.0.0.0.
Port $JIT_TB_SSH_PORT
ListenAddress 127.0.0.1
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
PrintMotd no
PrintLastLog no
EOF
}

# pam_jit.so in sshd and sudo: account before common-account (the decision),
# session after common-session (pam_systemd has set XDG_SESSION_ID by then).
tb_configure_pam() {
    local r=$TB_ROOT
    tb_have pam || return 0
    sed -i -e 's|^@include common-account|account    required     pam_jit.so\n&|' \
           -e 's|^@include common-session$|&\nsession    required     pam_jit.so|' "$r/etc/pam.d/sshd"
    sed -i -e 's|^@include common-account|account    required     pam_jit.so\n&|' \
           -e 's|^@include common-session-noninteractive$|&\nsession    required     pam_jit.so|' "$r/etc/pam.d/sudo"
    # Every sudo command on the record (docs/sudo.md): sudoers' own plugins, then jitlogin's.
    if tb_have sudo_plugin; then
        printf 'Plugin sudoers_policy sudoers.so\nPlugin sudoers_io sudoers.so\nPlugin sudoers_audit sudoers.so\nPlugin jit_audit /%s\n' \
            "${TB_PIECE[sudo_plugin]}" >> "$r/etc/sudo.conf"
    fi
}

# sshd asks jit-helperd for JIT users' keys: the AuthorizedKeysCommandUser and
# the group of every JIT user (the packages create them), then jit-ssh-setup
# writes /etc/ssh/sshd_config.d/50-jitlogin.conf (docs/ssh.md).
tb_configure_ssh_keys() {
    local r=$TB_ROOT out
    [ -x "$r/usr/libexec/jitlogin/jit-ssh-setup" ] || { tb_log "jit-ssh-setup not installed: JIT users have no keys"; return 0; }
    chroot "$r" getent group jit-users >/dev/null || chroot "$r" groupadd --system jit-users
    chroot "$r" getent passwd jit-ssh >/dev/null ||
        chroot "$r" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin jit-ssh
    mkdir -p "$r/run/sshd"
    out=$(chroot "$r" /usr/libexec/jitlogin/jit-ssh-setup 2>&1) || tb_die "jit-ssh-setup in the root failed: $out"
    tb_log "$out"
}

# jit-helperd's config, trusted key and unit (enabled: it starts at boot).
tb_configure_daemon() {
    local r=$TB_ROOT
    tb_write_daemon_config
    if tb_have unit && tb_have daemon; then
        chroot "$r" systemctl enable jit-helperd.service >/dev/null 2>&1 ||
            tb_log "WARNING: systemctl enable jit-helperd.service failed in the root"
    fi
}

# /etc/jit/helperd.conf and the run's authority key in /etc/jit/trusted-keys.
tb_write_daemon_config() {
    local r=$TB_ROOT
    install -d -m 755 "$r/etc/jit" "$r/etc/jit/trusted-keys"
    if [ -f "$TB_RUN/authority/public.pub" ]; then
        install -m 644 "$TB_RUN/authority/public.pub" "$r/etc/jit/trusted-keys/$(cat "$TB_RUN/authority/key_id").pub"
    fi
    # jit-authority: the host's bearer token from `jitadm host add` (root only).
    if [ -s "$TB_RUN/authority/host.token" ]; then
        install -m 600 "$TB_RUN/authority/host.token" "$r/etc/jit/authority.token"
    fi
    tb_write_helperd_conf > "$r/etc/jit/helperd.conf"
    chmod 600 "$r/etc/jit/helperd.conf"
}

# /etc/jit/helperd.conf for the test bed: the authority on the host's loopback
# over plain http (allowed for loopback only), warnings scaled to short windows
# by JIT_TB_WARN_OFFSETS (durations before not_after, comma-separated).
tb_write_helperd_conf() {
    cat <<EOF
# jitlogin test bed (tests/nspawn/container.sh)
[authority]
url = http://127.0.0.1:$JIT_TB_AUTH_PORT
host_id = $JIT_TB_HOST_ID
trusted_keys_dir = /etc/jit/trusted-keys
$([ -s "$TB_ROOT/etc/jit/authority.token" ] && echo "token_file = /etc/jit/authority.token")

[enforce]
warn_before = ${JIT_TB_WARN_OFFSETS:-20s,8s}
kill_grace = ${JIT_TB_KILL_GRACE:-5}
EOF
    # JIT_TB_RECORDING=on: JIT users' sessions recorded with tlog (test-recording.sh).
    # (The shell named: the build may be configured for another prefix than
    # the /usr it is installed into here.)
    if [ "${JIT_TB_RECORDING:-off}" = on ]; then
        printf '\n[recording]\nsessions = on\nshell = %s\n' "${JIT_TB_REC_SHELL:-/usr/libexec/jitlogin/jit-rec-session}"
    fi
}

# Puts the run's client key in /etc/ssh/authorized_keys/USER (any user,
# including JIT users that do not exist yet).
tb_authorize() { install -m 644 "$TB_KEY.pub" "$TB_ROOT/etc/ssh/authorized_keys/$1"; }

# Host prerequisites that a systemd PID 1 would have created; nspawn wants
# them. What this run creates under /run/systemd is noted in
# $TB_RUN/host-created and removed again by tb_host_restore.
tb_host_prereqs() {
    local i=/run/systemd/inaccessible d
    for d in /run/systemd /run/systemd/inaccessible /run/systemd/nspawn; do
        [ -e "$d" ] || echo "$d" >> "$TB_RUN/host-created"
    done
    mkdir -p "$i"
    [ -e "$i/reg" ]  || install -m 0000 /dev/null "$i/reg"
    [ -e "$i/dir" ]  || install -d -m 0000 "$i/dir"
    [ -e "$i/fifo" ] || mkfifo -m 0000 "$i/fifo"
    [ -e "$i/chr" ]  || mknod -m 0000 "$i/chr" c 0 0
    [ -e "$i/blk" ]  || mknod -m 0000 "$i/blk" b 0 0
}

# Removes what tb_host_prereqs (and nspawn) created under /run/systemd, unless
# another systemd-nspawn still runs.
tb_host_restore() {
    local d
    [ -s "$TB_RUN/host-created" ] || return 0
    pgrep -x systemd-nspawn >/dev/null && return 0
    while read -r d; do
        case $d in
            /run/systemd/inaccessible) rm -rf "$d" ;;
            /run/systemd/nspawn) find "$d" -depth -type d -empty -delete 2>/dev/null ;;
            /run/systemd) rmdir "$d" 2>/dev/null ;;
        esac
    done < <(tac "$TB_RUN/host-created")
    rm -f "$TB_RUN/host-created"
    return 0
}

# Boots the container and waits for its sshd and for systemd to settle.
tb_boot() {
    local h np leader i t0=$SECONDS
    tb_host_prereqs
    # nspawn needs a cgroup of its own on a host whose PID 1 is not systemd
    # (hybrid hierarchy here: name=systemd v1 + cgroup2 under unified/).
    for h in systemd unified; do [ -d "/sys/fs/cgroup/$h" ] && mkdir -p "/sys/fs/cgroup/$h/$TB_CGROUP"; done
    TB_CG="$TB_CGROUP" TB_ROOTDIR="$TB_ROOT" TB_M="$JIT_TB_MACHINE" setsid bash -c '
        for h in systemd unified; do
            [ -d /sys/fs/cgroup/$h/$TB_CG ] && echo $$ > /sys/fs/cgroup/$h/$TB_CG/cgroup.procs
        done
        exec systemd-nspawn -q -D "$TB_ROOTDIR" --boot --register=no --keep-unit --console=passive -M "$TB_M"
    ' >"$TB_RUN/console.log" 2>&1 </dev/null &
    np=$!
    echo "$np" > "$TB_RUN/nspawn.pid"
    for i in $(seq 1 300); do
        tb_ssh root true 2>/dev/null && break
        kill -0 "$np" 2>/dev/null || { tail -n 30 "$TB_RUN/console.log" >&2; tb_die "systemd-nspawn exited during boot"; }
        sleep 0.2
    done
    # The container's PID 1 is nspawn's child whose comm is "systemd" (the
    # first child is a short-lived helper).
    leader=$(ps -o pid=,comm= --ppid "$np" | awk '$2=="systemd"{print $1}')
    [ -n "$leader" ] || tb_die "no systemd child of systemd-nspawn ($np)"
    echo "$leader" > "$TB_RUN/leader.pid"
    tb_ssh root true 2>/dev/null || tb_die "sshd in the container did not answer on 127.0.0.1:$JIT_TB_SSH_PORT"
    local state
    state=$(ct systemctl is-system-running --wait 2>/dev/null || true)
    if [ "$state" != running ]; then
        tb_log "container is '$state'; failed units:"
        ct systemctl --failed --no-legend --no-pager >&2 || true
    fi
    tb_log "container up in $((SECONDS - t0)) s (systemd pid $leader, sshd 127.0.0.1:$JIT_TB_SSH_PORT)"
}

# PASS when the packaged jit-helperd.service runs the daemon in the container.
tb_check_daemon_unit() {
    if ! tb_have unit || ! tb_have daemon; then
        tb_fail "jit-helperd.service active in the container (waiting on: $(tb_missing daemon unit) not built/installed)"
    elif ct systemctl is-active --quiet jit-helperd.service; then
        tb_pass "jit-helperd.service active in the container"
    else
        tb_fail "jit-helperd.service active in the container"
        ct systemctl status jit-helperd.service --no-pager 2>&1 | tail -n 8 | tb_show
    fi
}

# Clean shutdown (nspawn turns SIGTERM into a systemd poweroff), then the
# cgroups go. Idempotent.
tb_stop_container() {
    local np h i
    np=$(cat "$TB_RUN/nspawn.pid" 2>/dev/null || true)
    if [ -n "$np" ] && kill -0 "$np" 2>/dev/null; then
        kill -TERM "$np"
        for i in $(seq 1 150); do kill -0 "$np" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$np" 2>/dev/null; then
            tb_log "container did not power off in 15 s: killing it"
            kill -KILL "$np" 2>/dev/null || true
        fi
    fi
    for h in systemd unified; do
        local cg=/sys/fs/cgroup/$h/$TB_CGROUP
        [ -d "$cg" ] || continue
        # anything left over (nspawn killed hard) dies with its cgroup
        find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        for i in $(seq 1 20); do find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null; [ -d "$cg" ] || break; sleep 0.1; done
    done
    rm -f "$TB_RUN/nspawn.pid" "$TB_RUN/leader.pid"
}

# Everything a run started, in reverse: sessions, container, authority, run dir.
tb_teardown() {
    [ -n "${TB_RUN:-}" ] && [ -d "$TB_RUN" ] || return 0
    local t0=$SECONDS
    tb_sessions_kill
    tb_stop_container
    tb_release_rootfs
    tb_host_restore
    local t1=$SECONDS
    tb_authority_stop
    [ $((SECONDS - t0)) -le 5 ] || tb_log "teardown slow: container $((t1 - t0)) s, authority $((SECONDS - t1)) s"
    if [ "$JIT_TB_KEEP" = 1 ]; then
        tb_log "kept $TB_RUN (JIT_TB_KEEP=1; container journal: journalctl -D $TB_RUN/journal)"
    elif grep -q " $TB_RUN" /proc/mounts; then
        tb_log "WARNING: something is still mounted under $TB_RUN; not removing it"
    else
        rm -rf --one-file-system "$TB_RUN"
        [ "$(readlink "$JIT_TB_HOME/current" 2>/dev/null)" = "$TB_RUN" ] && rm -f "$JIT_TB_HOME/current"
    fi
    TB_RUN=
}

# The whole bring-up used by the tests and the demo.
tb_up() {
    tb_new_run
    tb_restore_rootfs
    tb_install_build
    tb_authority_start
    tb_configure
    tb_boot
}
