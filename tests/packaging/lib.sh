# shellcheck shell=bash
# Shared by the package tests (tests/packaging/*_test.sh): a clean copy of
# the source tree to build packages from, and PASS/FAIL bookkeeping.

PKG_FAILS=0
pkg_pass() { echo "  PASS $*"; }
pkg_fail() { echo "  FAIL $*"; PKG_FAILS=$((PKG_FAILS + 1)); }
pkg_done() { [ "$PKG_FAILS" -eq 0 ] && echo "all checks passed" || { echo "$PKG_FAILS check(s) failed"; exit 1; }; }

# pkg_copy_tree SRC DEST: the files git knows (tracked, or new and not
# ignored) without build output, i.e. what a fresh clone with the working
# tree's changes holds; a plain copy without .git when SRC is no checkout.
pkg_copy_tree() {
    local src=$1 dest=$2
    mkdir -p "$dest"
    if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        # (files deleted in the working tree are listed but left out)
        (cd "$src" && git ls-files -co --exclude-standard -z |
            grep -zv -e '^build' -e '^obj-' -e '^debian/\.debhelper/' |
            while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
            tar -cf - --null --no-recursion -T -) | tar -xf - -C "$dest"
    else
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . | tar -xf - -C "$dest"
    fi
}

# Skips (exit 77) without the named tools.
pkg_require() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed (scripts/install-deps.sh)"; exit 77; }
    done
}

# pkg_workdir OUT: a fresh work directory at a fixed place beside OUT (OUT.work,
# removed when the test ends). Fixed, not mktemp: the compiler command lines
# of the package build carry its path (dpkg-buildflags' -ffile-prefix-map, the
# -I options), and with the same path every time ccache can answer a rebuild.
pkg_workdir() {
    local w=$1.work
    rm -rf "$w" && mkdir -p "$w" && echo "$w"
}

# The package builds compile the whole project again (without tests and
# benchmarks), through ccache when it is installed:
#  - under .ci/run and scripts/run-tests.sh, scripts/ccache-env.sh has set
#    CMAKE_<LANG>_COMPILER_LAUNCHER=ccache and CCACHE_BASEDIR=<the source
#    tree>, CCACHE_NOHASHDIR=1; the package trees are copied to OUT.work
#    inside the build directory, so under CCACHE_BASEDIR, and the RPM build,
#    whose flags are the main build's (RelWithDebInfo, rpm/macros.debian),
#    finds the main build's objects in the cache. The .deb is compiled with
#    dpkg-buildflags' flags: its first build compiles;
#  - otherwise Debian's compiler links (/usr/lib/ccache) come first in PATH,
#    so a second build of an unchanged tree costs links only.
pkg_use_ccache() {
    [ "${JIT_NO_CCACHE:-0}" != 1 ] && command -v ccache >/dev/null 2>&1 || return 0
    if [ -n "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ]; then
        echo "(compilers through $CMAKE_CXX_COMPILER_LAUNCHER, CCACHE_BASEDIR=${CCACHE_BASEDIR:-unset})"
    elif [ -d /usr/lib/ccache ]; then
        export PATH=/usr/lib/ccache:$PATH
        echo "(compilers through /usr/lib/ccache)"
    fi
}
