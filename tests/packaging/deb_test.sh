#!/bin/bash
# Builds the Debian packages from a clean copy of the tree, as a packager
# would (`dpkg-buildpackage -us -uc -b`, debhelper compat 13, which fails on
# any installed file no debian/*.install lists), then checks them: lintian
# with no error and no warning (the overrides in debian/*.lintian-overrides
# each say why), and what each package holds.
#   deb_test.sh SOURCE_DIR OUT_DIR      (the .debs are left in OUT_DIR)
# DEB_BUILD_OPTIONS defaults to "nocheck noautodbgsym parallel=<cores>":
# debian/rules says why the package build runs no tests; the -dbgsym packages
# are not needed to test the packages and compressing their debug info costs
# minutes.
set -uo pipefail
src=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pkg_require dpkg-buildpackage dh lintian fakeroot pandoc
work=$(pkg_workdir "$out") || pkg_fail "work directory $out.work"
trap 'rm -rf "$work"' EXIT
pkg_use_ccache
pkg_copy_tree "$src" "$work/jitlogin"
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-"nocheck noautodbgsym parallel=$(nproc)"}
echo "== dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
if ! (cd "$work/jitlogin" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log"
    pkg_fail "dpkg-buildpackage"
    pkg_done
fi
pkg_pass "dpkg-buildpackage -us -uc -b"
grep -E "dh_missing|warning" "$work/build.log" | grep -v -- "-Wformat\|^ *cd \|c++ " | head -n 10

mkdir -p "$out"
rm -f "$out"/*.deb
cp "$work"/*.deb "$out"/
rm -f "$out"/*-dbgsym_*.deb
changes=$(ls "$work"/*.changes)

echo "== lintian"
if lintian --fail-on error,warning --info "$changes" >"$work/lintian.log" 2>&1; then
    pkg_pass "lintian: no error, no warning$(grep -c '^[IP]:' "$work/lintian.log" | sed 's/^0$//; s/.\+/ (& info\/pedantic notes)/')"
else
    cat "$work/lintian.log"
    pkg_fail "lintian reports errors or warnings"
fi

echo "== contents"
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# has PACKAGE MODE OWNER PATH: the .deb holds PATH with that mode and owner
has() {
    local deb line
    deb=$(ls "$out/$1"_*.deb)
    line=$(dpkg-deb -c "$deb" | awk -v p="./$4" '$6 == p { print $1, $2 }')
    if [ "$line" = "$2 $3" ]; then pkg_pass "$1: $4 ($2 $3)"; else pkg_fail "$1: $4 is '${line:-missing}', want '$2 $3'"; fi
}
has libpam-jit -rw-r--r-- root/root "usr/lib/$arch/security/pam_jit.so"
has libpam-jit -rw-r--r-- root/root usr/share/pam-configs/jit
has libpam-jit -rw-r--r-- root/root usr/share/man/man8/pam_jit.8.gz
has libnss-jit -rw-r--r-- root/root "usr/lib/$arch/libnss_jit.so.2"
has libnss-jit -rwxr-xr-x root/root usr/libexec/jitlogin/jit-nsswitch
has libnss-jit -rw-r--r-- root/root usr/share/man/man8/libnss_jit.8.gz
has jitlogin -rwxr-xr-x root/root usr/sbin/jit-helperd
has jitlogin -rwxr-xr-x root/root usr/bin/jitctl
has jitlogin -rw-r--r-- root/root lib/systemd/system/jit-helperd.service
has jitlogin -rw-r--r-- root/root usr/lib/systemd/catalog/jitlogin.catalog
has jitlogin -rw-r--r-- root/root usr/share/man/man1/jitctl.1.gz
has jitlogin -rw-r--r-- root/root usr/share/man/man5/helperd.conf.5.gz
has jitlogin -rw-r--r-- root/root usr/share/man/man8/jit-helperd.8.gz
has jitlogin -rw-r--r-- root/root usr/share/bash-completion/completions/jitctl
# (dh_compress compresses documents over 4 KiB: either name)
has_doc() { if dpkg-deb -c "$(ls "$out/$1"_*.deb)" | awk '{print $6}' | grep -qx "\./$2\(\.gz\)\?"; then pkg_pass "$1: $2"; else pkg_fail "$1: $2 missing"; fi; }
has_doc jitlogin usr/share/doc/jitlogin/config.md
has jitlogin -rw-r--r-- root/root usr/share/doc/jitlogin/copyright
has jitlogin -rw-r--r-- root/root lib/systemd/system/jit-helperd.socket
has jitlogin -rw-r--r-- root/root usr/lib/sysusers.d/jitlogin.conf
has jitlogin -rwxr-xr-x root/root usr/libexec/jitlogin/jit-authorized-keys
has jitlogin -rwxr-xr-x root/root usr/libexec/jitlogin/jit-ssh-setup
has jitlogin -rwxr-xr-x root/root usr/libexec/jitlogin/jit-rec-session
has jitlogin -rwxr-xr-x root/root usr/libexec/jitlogin/sudo_jit_audit.so
has jitlogin -rw-r--r-- root/root usr/share/jitlogin/sshd_config.d/50-jitlogin.conf
has jitlogin -rw-r--r-- root/root usr/share/man/man8/jit-authorized-keys.8.gz
has_doc jitlogin usr/share/doc/jitlogin/ssh.md
has_doc jitlogin usr/share/doc/jitlogin/sudo.md
has jit-authority -rwxr-xr-x root/root usr/sbin/jit-authority
has jit-authority -rwxr-xr-x root/root usr/bin/jitadm
has jit-authority -rw-r--r-- root/root lib/systemd/system/jit-authority.service
has jit-authority -rw-r--r-- root/root usr/lib/sysusers.d/jit-authority.conf
has_doc jit-authority usr/share/doc/jit-authority/authority.md
has jit-authority -rw-r--r-- root/root usr/share/man/man8/jit-authority.8.gz
has jit-authority -rw-r--r-- root/root usr/share/man/man1/jitadm.1.gz
# Installed inert: no maintainer script enables or starts a unit (debhelper's
# was-enabled re-enable on upgrade aside: nspawn.packages checks that), puts the sshd
# drop-in in place or names the sudo plugin; the accounts are created.
for pkg in jitlogin jit-authority; do
    x=$work/ctl-$pkg
    dpkg-deb -e "$(ls "$out/${pkg}"_*.deb)" "$x"
    if grep -Eh 'systemctl (--[a-z-]+ )*(enable|start)|deb-systemd-invoke (--[a-z-]+ )*start|jit-ssh-setup|sudo\.conf' "$x"/postinst "$x"/preinst 2>/dev/null |
        grep -v '^ *#\|echo'; then
        pkg_fail "$pkg: a maintainer script enables or starts something (above)"
    else
        pkg_pass "$pkg: postinst enables and starts nothing"
    fi
    grep -q "systemd-sysusers $pkg.conf" "$x/postinst" && pkg_pass "$pkg: postinst creates its system accounts" ||
        pkg_fail "$pkg: postinst does not run systemd-sysusers $pkg.conf"
done
# An upgrade restarts the daemon, never its socket (which holds the
# connections made meanwhile).
grep -q 'try-restart.*jit-helperd.socket\|restart.*jit-helperd.socket' "$work/ctl-jitlogin/postinst" &&
    pkg_fail "jitlogin: postinst restarts jit-helperd.socket" || pkg_pass "jitlogin: postinst never restarts jit-helperd.socket"
# The profile is off until the administrator enables it (docs/packaging.md).
prof=$(dpkg-deb --fsys-tarfile "$(ls "$out"/libpam-jit_*.deb)" | tar -xO ./usr/share/pam-configs/jit)
grep -qx 'Default: no' <<<"$prof" && pkg_pass "pam-configs/jit: Default: no" || pkg_fail "pam-configs/jit is not 'Default: no'"
grep -Pq '^\trequired\tpam_jit.so$' <<<"$(sed -n '/^Session:/,$p' <<<"$prof")" &&
    pkg_pass "pam-configs/jit: session required pam_jit.so" || pkg_fail "pam-configs/jit: the session line is not 'required'"
# Every page the unit's Documentation= names is in the package.
unit=$(dpkg-deb --fsys-tarfile "$(ls "$out"/jitlogin_*.deb)" | tar -xO ./lib/systemd/system/jit-helperd.service)
for doc in $(sed -n 's/^Documentation=//p' <<<"$unit"); do
    case $doc in
        man:*) p=${doc#man:}; n=${p%(*}; s=${p#*(}; s=${s%)}; path=usr/share/man/man$s/$n.$s.gz ;;
        file:/*) path=${doc#file:/} ;;
        *) pkg_fail "Documentation=$doc: neither man: nor file:"; continue ;;
    esac
    dpkg-deb -c "$(ls "$out"/jitlogin_*.deb)" | awk '{print $6}' | grep -qx "./$path" &&
        pkg_pass "Documentation=$doc is installed" || pkg_fail "Documentation=$doc: $path is not in the package"
done
# Nothing from the build machine leaks into the packages.
for deb in "$out"/*.deb; do
    if dpkg-deb -c "$deb" | awk '{print $6}' | grep -E '^\./usr/local/|/tmp/' ; then pkg_fail "$(basename "$deb") holds /usr/local or /tmp paths"; fi
done
pkg_done
