#!/bin/sh
# pam_jit.so must export exactly its pam_sm_* entry points (version script + hidden visibility).
set -eu
so=$1
got=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
want="pam_sm_acct_mgmt pam_sm_authenticate pam_sm_close_session pam_sm_open_session pam_sm_setcred "
if [ "$got" != "$want" ]; then
  echo "pam_jit.so exports: '$got'" >&2
  echo "expected:           '$want'" >&2
  exit 1
fi
echo "exports OK: $got"
