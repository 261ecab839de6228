#!/bin/bash
# Builds the RPMs from rpm/jitlogin.spec on this Debian machine, with Debian's
# rpm and the Fedora macros the spec needs from rpm/macros.debian (--nodeps:
# the BuildRequires name Fedora packages, which an rpm database on Debian
# does not hold), then checks them: rpm's own unpackaged-files check (the
# build fails on any installed file %files does not list), `rpm -qlp` of each
# package against tests/packaging/rpm-files.txt, modes, scriptlets, rpmlint.
#   rpm_test.sh SOURCE_DIR OUT_DIR      (the .rpms are left in OUT_DIR)
set -uo pipefail
src=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pkg_require rpmbuild rpm rpmlint pandoc
work=$(pkg_workdir "$out") || pkg_fail "work directory $out.work"
trap 'rm -rf "$work"' EXIT
pkg_use_ccache
version=$(sed -n 's/^Version: *//p' "$src/rpm/jitlogin.spec")
top=$work/rpmbuild
mkdir -p "$top/SOURCES"
pkg_copy_tree "$src" "$work/jitlogin-$version"
tar -C "$work" -czf "$top/SOURCES/jitlogin-$version.tar.gz" "jitlogin-$version"

echo "== rpmbuild -bb rpm/jitlogin.spec"
if ! rpmbuild -bb --nodeps --load "$src/rpm/macros.debian" --define "_topdir $top" \
        --define "_smp_mflags -j$(nproc)" "$src/rpm/jitlogin.spec" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log"
    pkg_fail "rpmbuild -bb"
    pkg_done
fi
pkg_pass "rpmbuild -bb (no unpackaged files)"
mkdir -p "$out"
rm -f "$out"/*.rpm
cp "$top"/RPMS/*/*.rpm "$out"/

echo "== rpm -qlp against tests/packaging/rpm-files.txt"
for pkg in jitlogin jitlogin-pam jitlogin-nss jit-authority; do
    rpmfile=$(ls "$out/$pkg-$version"-*.rpm)
    want=$(awk -v p="$pkg" '$1 == p { print $2 }' "$here/rpm-files.txt" | sort)
    got=$(rpm -qlp "$rpmfile" 2>/dev/null | sort)
    if [ "$want" = "$got" ]; then pkg_pass "$pkg: $(wc -l <<<"$got") files as listed"
    else pkg_fail "$pkg: rpm -qlp differs from rpm-files.txt (< listed, > in the package):"; diff <(echo "$want") <(echo "$got"); fi
done
# modes that must not drift from the unit (StateDirectoryMode=0711)
line=$(rpm -qlvp "$(ls "$out/jitlogin-$version"-*.x86_64.rpm)" 2>/dev/null | awk '$NF == "/var/lib/jit" { print $1, $3, $4 }')
[ "$line" = "drwx--x--x root root" ] && pkg_pass "/var/lib/jit: $line" || pkg_fail "/var/lib/jit is '$line', want drwx--x--x root root"
line=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$(ls "$out/jit-authority-$version"-*.rpm)" 2>/dev/null |
    awk '$4 == "/var/lib/jit-authority" { print $1, $2, $3 }')
[ "$line" = "drwx------ jit-authority jit-authority" ] && pkg_pass "/var/lib/jit-authority: $line" ||
    pkg_fail "/var/lib/jit-authority is '$line', want drwx------ jit-authority jit-authority (the unit's StateDirectoryMode=0700, User=)"
scripts=$(rpm -qp --scripts "$(ls "$out/jit-authority-$version"-*.rpm)" 2>/dev/null)
grep -q "useradd -r -g jit-authority" <<<"$scripts" && pkg_pass "jit-authority: %pre creates the jit-authority user" ||
    pkg_fail "jit-authority: no useradd in %pre"
scripts=$(rpm -qp --scripts "$(ls "$out/jitlogin-nss-$version"-*.rpm)" 2>/dev/null)
grep -q "jit-nsswitch add" <<<"$scripts" && grep -q "jit-nsswitch remove" <<<"$scripts" &&
    pkg_pass "jitlogin-nss: %post adds and %preun removes jit in nsswitch.conf" || pkg_fail "jitlogin-nss scriptlets: $scripts"
scripts=$(rpm -qp --scripts "$(ls "$out/jitlogin-$version"-*.x86_64.rpm)" 2>/dev/null)
grep -q "try-restart jit-helperd.service" <<<"$scripts" && pkg_pass "jitlogin: restarts the daemon after an upgrade" ||
    pkg_fail "jitlogin: no try-restart in the scriptlets"
grep -q "try-restart.*jit-helperd.socket" <<<"$scripts" && pkg_fail "jitlogin: an upgrade restarts the socket unit (PAM checks would fail meanwhile)" ||
    pkg_pass "jitlogin: the socket unit is not restarted by an upgrade"
grep -q "useradd -r -g jit-ssh" <<<"$scripts" && grep -q "groupadd -r jit-users" <<<"$scripts" &&
    pkg_pass "jitlogin: %pre creates jit-ssh and jit-users" || pkg_fail "jitlogin: %pre does not create jit-ssh and jit-users"
for unit in jit-helperd.socket jit-helperd.service; do
    grep -Eq "systemctl( --[a-z-]+)* (enable|start|restart) ([^ ]+ )*$unit" <<<"$scripts" && pkg_fail "jitlogin: a scriptlet enables or starts $unit"
done
rpm -qp --qf '%{LICENSE}\n' "$out"/*.rpm 2>/dev/null | sort -u | grep -qx 'Apache-2.0' && pkg_pass "License: Apache-2.0" || pkg_fail "License tag"

echo "== rpmlint"
if rpmlint -r "$src/rpm/jitlogin.rpmlintrc" "$out"/*.rpm "$src/rpm/jitlogin.spec" >"$work/rpmlint.log" 2>&1; then
    pkg_pass "rpmlint: $(tail -n 1 "$work/rpmlint.log")"
else
    cat "$work/rpmlint.log"
    pkg_fail "rpmlint reports errors"
fi
grep -E ': W: ' "$work/rpmlint.log" && pkg_fail "rpmlint warnings not explained in rpm/jitlogin.rpmlintrc"
pkg_done
