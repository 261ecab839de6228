# The paths and defaults every part of jitlogin must agree on, written once
# into the generated header jit/paths.h (cmake/paths.h.in) that the targets
# get through the jit_paths interface library.
set(JIT_HELPERD_CONFIG_PATH "/etc/jit/helperd.conf")
set(JIT_TRUSTED_KEYS_DIR "/etc/jit/trusted-keys")
set(JIT_SOCKET_PATH "/run/jit/helperd.sock")
set(JIT_STATE_DIR "/var/lib/jit")
set(JIT_NSS_DB_PATH "${JIT_STATE_DIR}/nss.db" CACHE STRING
    "Snapshot path compiled into libnss_jit.so.2 (and jit-helperd's default nss.db_path)")
set(JIT_SUDOERS_PATH "/etc/sudoers.d/jitlogin")
set(JIT_REC_SESSION_PATH "${CMAKE_INSTALL_FULL_LIBEXECDIR}/jitlogin/jit-rec-session")
set(JIT_DEFAULT_UID_MIN 70000)
set(JIT_DEFAULT_UID_MAX 79999)
set(JIT_PAM_TIMEOUT_MS 1500)

configure_file(${CMAKE_CURRENT_LIST_DIR}/paths.h.in ${PROJECT_BINARY_DIR}/generated/jit/paths.h @ONLY)
add_library(jit_paths INTERFACE)
target_include_directories(jit_paths INTERFACE ${PROJECT_BINARY_DIR}/generated)
