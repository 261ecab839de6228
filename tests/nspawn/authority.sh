# shellcheck shell=bash
# The reference authority (tests/authority/jit-authority) on the host's loopback.
tb_authority_start() { mkdir -p "$TB_RUN/authority"; }
tb_authority_stop() { :; }
