#!/bin/bash
# libnss_jit.so.2 exports exactly its NSS entry points (nm -D --defined-only).
set -eu
lib=$1
sanitized=${2:-0}   # 1: ASan/UBSan build, whose runtime adds constructors
expected="_nss_jit_endgrent
_nss_jit_endpwent
_nss_jit_getgrent_r
_nss_jit_getgrgid_r
_nss_jit_getgrnam_r
_nss_jit_getpwent_r
_nss_jit_getpwnam_r
_nss_jit_getpwuid_r
_nss_jit_initgroups_dyn
_nss_jit_setgrent
_nss_jit_setpwent"
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
if [ "$actual" != "$expected" ]; then
  echo "unexpected exports of $lib:" >&2
  diff -u <(echo "$expected") <(echo "$actual") >&2 || true
  exit 1
fi
# No C++ runtime, no constructors: the module is plain C.
if objdump -p "$lib" | grep -q 'NEEDED.*libstdc++'; then
  echo "$lib links libstdc++" >&2
  exit 1
fi
# .init_array holds only the toolchain's frame_dummy (8 bytes): no constructors of ours.
init_size=$(( 16#$(readelf -SW "$lib" | awk '$2 == ".init_array" {print $6}') ))
if [ "$sanitized" != 1 ] && [ "${init_size:-0}" -gt 8 ]; then
  echo "$lib has constructors (.init_array is $init_size bytes)" >&2
  exit 1
fi
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = libnss_jit.so.2 ] || { echo "SONAME is '$soname', expected libnss_jit.so.2" >&2; exit 1; }
echo "exports OK: $(echo "$actual" | wc -l) symbols"
