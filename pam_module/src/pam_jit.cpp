// pam_jit.so entry points: thin glue between Linux-PAM and module_core.
// Every pam_sm_* catches everything; nothing throws across the C ABI.
#include "module_core.hpp"

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>
#include <unistd.h>

// Built with -fvisibility=hidden; the version script (pam_jit.map) is the
// second fence.
#define JIT_PAM_EXPORT __attribute__((visibility("default")))

namespace {

std::string item(pam_handle_t* pamh, int type) {
    const void* v = nullptr;
    if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || !v) return {};
    return static_cast<const char*>(v);
}

jit::pam::PamItems collect(pam_handle_t* pamh) {
    jit::pam::PamItems it;
    it.user = item(pamh, PAM_USER);
    it.service = item(pamh, PAM_SERVICE);
    it.rhost = item(pamh, PAM_RHOST);
    it.tty = item(pamh, PAM_TTY);
    it.ruser = item(pamh, PAM_RUSER);
    it.pid = static_cast<long>(getpid());
    return it;
}

void log_args(pam_handle_t* pamh, const jit::pam::ModuleArgs& args) {
    for (const std::string& w : args.warnings) pam_syslog(pamh, LOG_WARNING, "%s", w.c_str());
}

int to_pam(jit::pam::Code code) {
    switch (code) {
    case jit::pam::Code::Success: return PAM_SUCCESS;
    case jit::pam::Code::PermDenied: return PAM_PERM_DENIED;
    case jit::pam::Code::Ignore: return PAM_IGNORE;
    case jit::pam::Code::AuthinfoUnavail: return PAM_AUTHINFO_UNAVAIL;
    case jit::pam::Code::SessionErr: return PAM_SESSION_ERR;
    }
    return PAM_SYSTEM_ERR;
}

// PAM_SILENT (the application's "no messages") drops the success notice; a
// refusal is still explained, as the caller would otherwise show only a
// generic failure.
int finish(pam_handle_t* pamh, int flags, const jit::pam::ModuleArgs& args, const jit::pam::Outcome& o) {
    if (!o.log.empty() && (o.log_is_error || args.debug))
        pam_syslog(pamh, o.log_is_error ? LOG_ERR : LOG_INFO, "%s", o.log.c_str());
    if (!o.user_error.empty()) pam_error(pamh, "%s", o.user_error.c_str());
    if (!o.user_info.empty() && !(flags & PAM_SILENT)) pam_info(pamh, "%s", o.user_info.c_str());
    return to_pam(o.code);
}

// A session that must not start is never answered PAM_SESSION_ERR from
// open_session: sudo treats that code as non-fatal and runs the command.
int session(pam_handle_t* pamh, int flags, int argc, const char** argv, bool open) {
    jit::pam::ModuleArgs args = jit::pam::parse_args(argc, argv);
    log_args(pamh, args);
    jit::pam::PamItems it = collect(pamh);
    if (it.user.empty()) {
        pam_syslog(pamh, LOG_ERR, "%s", "no PAM_USER in the session phase");
        return open ? PAM_SYSTEM_ERR : PAM_SESSION_ERR;
    }
    if (const char* xdg = pam_getenv(pamh, "XDG_SESSION_ID")) it.logind_session = xdg;
    return finish(pamh, flags, args, jit::pam::run_session(args, it, open));
}

}  // namespace

extern "C" {

JIT_PAM_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    try {
        jit::pam::ModuleArgs args = jit::pam::parse_args(argc, argv);
        log_args(pamh, args);
        jit::pam::PamItems it = collect(pamh);
        if (it.user.empty()) {
            pam_syslog(pamh, LOG_ERR, "%s", "no PAM_USER in the account phase");
            return PAM_USER_UNKNOWN;
        }
        return finish(pamh, flags, args, jit::pam::run_account(args, it));
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "%s", "internal error in pam_sm_acct_mgmt");
        return PAM_SYSTEM_ERR;
    }
}

JIT_PAM_EXPORT int pam_sm_open_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    try {
        return session(pamh, flags, argc, argv, true);
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "%s", "internal error in pam_sm_open_session");
        return PAM_SYSTEM_ERR;
    }
}

JIT_PAM_EXPORT int pam_sm_close_session(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    try {
        return session(pamh, flags, argc, argv, false);
    } catch (...) {
        pam_syslog(pamh, LOG_CRIT, "%s", "internal error in pam_sm_close_session");
        return PAM_SESSION_ERR;
    }
}

// pam_jit takes no part in authentication: a misplaced "auth" line is harmless.
JIT_PAM_EXPORT int pam_sm_authenticate(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }
JIT_PAM_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }

}  // extern "C"
