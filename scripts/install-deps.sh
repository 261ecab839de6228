#!/bin/bash
# Installs everything jitlogin needs to build, test and run its demo on a
# fresh Debian 12 machine (as root). Used by .ci/run, scripts/run-tests.sh and
# demo/run-demo.sh. Safe to run again; waits for a busy dpkg lock.
#   Env: JIT_APT_UPDATE=0 to skip `apt-get update` (the caller just ran it).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install-deps: needs root (apt-get)" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

PACKAGES=(
  # build
  cmake make g++ pkg-config ccache
  libpam0g-dev libcurl4-openssl-dev libjsoncpp-dev libsystemd-dev libssl-dev libcli11-dev
  # jit-authority (authority/): its databases and its HTTP server; bench/authority also measures libmicrohttpd
  libsqlite3-dev libpq-dev libevent-dev libmicrohttpd-dev
  # the two-replica test of jit-authority starts its own PostgreSQL 15 cluster
  postgresql
  # the approvers' web page is tested in headless Chromium through WebDriver (tests/authority/web_ui_browser.py)
  chromium chromium-driver python3-selenium
  # ...and signed in by a client certificate from Chromium's own NSS store (web_ui_browser_certificate.py)
  libnss3-tools
  # tests, benchmarks, fuzzing, sanitizers
  libgtest-dev libgmock-dev libbenchmark-dev valgrind clang libclang-rt-14-dev
  # real PAM/NSS consumers and their test doubles
  openssh-server openssh-client sudo pamtester libpam-wrapper libnss-wrapper libnss-extrausers python3-dbusmock dbus systemd
  # the reference authority (Python, Ed25519 through the openssl CLI)
  python3 openssl
  # man pages (cmake/Manpages.cmake) and their rendering test (tests/docs)
  pandoc groff-base man-db
  # the packages and their tests (tests/packaging): .deb, .rpm, their linters
  dpkg-dev debhelper fakeroot lintian rpm rpmlint
  # the nspawn test bed (tests/nspawn, demo/): a debootstrapped Debian 12 booted with systemd-nspawn
  debootstrap systemd-container zstd util-linux procps
)

if [ "${JIT_APT_UPDATE:-1}" != 0 ]; then
  "${APT[@]}" update -qq
fi
"${APT[@]}" install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "install-deps: ${#PACKAGES[@]} packages present"
