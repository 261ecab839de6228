# shellcheck shell=bash
# The cached Debian root of the test bed (sourced by lib.sh).
#
# debootstrap (minbase + the packages below) takes ~70 s; the result is packed
# as $JIT_TB_CACHE/rootfs-<suite>-<key>.tar.zst and restored in ~1 s by later
# runs. <key> hashes the package list and tb_build_rootfs, so changing either
# rebuilds; older tarballs are removed then.

# Runtime libraries are what `ldd` shows for pam_jit.so, libnss_jit.so.2,
# jit-helperd and jitctl (tb_check_libs verifies it after every install).
# libnss-extrausers gives the package test (test-packages.sh) a directory
# user: one glibc finds through NSS, not in /etc/passwd. tlog records JIT
# users' sessions when recording is on (test-recording.sh).
TB_PACKAGES=(systemd systemd-sysv dbus libpam-systemd openssh-server sudo procps iproute2 less
             libcurl4 libjsoncpp25 libssl3 libsystemd0 libpam0g libnss-extrausers tlog)

# First non-security archive URI that apt is configured with on this host.
tb_apt_mirror() {
    { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
      grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
        awk '{print $2}' | { grep -v -e security -e '^https://packages' || true; } | head -n1
}

tb_rootfs_tarball() {
    local key
    key=$( { declare -f tb_build_rootfs; echo "$JIT_TB_SUITE ${TB_PACKAGES[*]}"; } | sha256sum | cut -c1-12)
    echo "$JIT_TB_CACHE/rootfs-$JIT_TB_SUITE-$key.tar.zst"
}

# Builds the cached tarball unless it exists. Safe against concurrent runs (flock).
tb_build_rootfs() {
    local tarball mirror tmp t0=$SECONDS
    tarball=$(tb_rootfs_tarball)
    mkdir -p "$JIT_TB_CACHE"
    exec 8>"$JIT_TB_CACHE/.lock"
    flock 8
    if [ -f "$tarball" ]; then
        exec 8>&-
        return 0
    fi
    mirror=${JIT_TB_MIRROR:-$(tb_apt_mirror)}
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    tmp=$(mktemp -d "$JIT_TB_CACHE/build.XXXXXX")
    tb_log "building the test bed root: debootstrap $JIT_TB_SUITE from $mirror (about a minute)"
    local pkgs
    pkgs=$(IFS=,; echo "${TB_PACKAGES[*]}")
    if ! debootstrap --variant=minbase --include="$pkgs" "$JIT_TB_SUITE" "$tmp/root" "$mirror" \
            >"$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2
        rm -rf "$tmp"
        exec 8>&-
        tb_die "debootstrap failed"
    fi
    local r=$tmp/root
    echo 'LANG=C.UTF-8' > "$r/etc/default/locale"                 # silences pam_env
    # A quick, quiet boot: no console getty, no periodic jobs.
    rm -f "$r"/etc/systemd/system/getty.target.wants/getty@tty1.service \
          "$r"/etc/systemd/system/multi-user.target.wants/e2scrub_reap.service \
          "$r"/etc/systemd/system/timers.target.wants/*.timer
    mkdir -p "$r/var/log/journal"           # persistent journal: readable from the host with journalctl -D
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*_Packages
    tar --zstd -cpf "$tmp/rootfs.tar.zst" -C "$r" --numeric-owner .
    find "$JIT_TB_CACHE" -maxdepth 1 -name "rootfs-$JIT_TB_SUITE-*.tar.zst" -delete
    mv "$tmp/rootfs.tar.zst" "$tarball"
    rm -rf "$tmp"
    exec 8>&-
    tb_log "test bed root cached: $tarball ($(du -h "$tarball" | cut -f1), built in $((SECONDS - t0)) s)"
}

# Unpacks the cached root into $TB_ROOT (a fresh copy per run), on a tmpfs
# by default: unpacking ~180 MB of small files to disk takes 1-20 s depending
# on the machine's I/O load, into memory well under a second, and removal is
# an umount (JIT_TB_TMPFS=0: plain directory).
tb_restore_rootfs() {
    local tarball
    tarball=$(tb_rootfs_tarball)
    [ -f "$tarball" ] || tb_build_rootfs
    mkdir -p "$TB_ROOT"
    if [ "${JIT_TB_TMPFS:-1}" = 1 ]; then
        mount -t tmpfs -o "size=${JIT_TB_TMPFS_SIZE:-1g},mode=755" jitlogin-testbed "$TB_ROOT" ||
            tb_die "cannot mount a tmpfs on $TB_ROOT (JIT_TB_TMPFS=0 unpacks to disk)"
    fi
    tar --zstd -xpf "$tarball" -C "$TB_ROOT" --numeric-owner
}

# Undoes tb_restore_rootfs's mount; with JIT_TB_KEEP=1 the container's journal
# is copied to $TB_RUN/journal first (read it with journalctl -D).
tb_release_rootfs() {
    local i
    mountpoint -q "$TB_ROOT" 2>/dev/null || return 0
    if [ "$JIT_TB_KEEP" = 1 ] && [ -d "$TB_ROOT/var/log/journal" ]; then
        cp -a "$TB_ROOT/var/log/journal" "$TB_RUN/journal"
    fi
    for i in $(seq 1 20); do umount "$TB_ROOT" 2>/dev/null && return 0; sleep 0.2; done
    tb_log "WARNING: $TB_ROOT is still busy; detaching it (umount -l)"
    umount -l "$TB_ROOT"
}
