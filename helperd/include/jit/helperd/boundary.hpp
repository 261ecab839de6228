// The C boundary: every callback that C code (sd-event, sd-bus, libcurl)
// makes into the daemon's C++ runs inside at_c_boundary(). An exception that
// unwound through libsystemd's or libcurl's C frames would abort the daemon
// (and with it every PAM answer and every window's enforcement); here it is
// caught, reported as a security.alert (JIT_ALERT=callback_failed, JIT_ERROR
// = the exception's text, JIT_REASON = the callback's name) and the loop goes on.
#pragma once

#include <jit/audit.hpp>

#include <exception>
#include <type_traits>
#include <utility>

namespace jit::helperd {

// Where boundary faults are reported (and the alert limit below starts
// afresh). App sets the daemon's sink at start and clears it before the sink
// goes; without one they go to stderr. The loop's thread only.
void set_boundary_sink(audit::Sink* sink);

// Reports one caught exception. Alerts for one `where` are limited to one per
// kBoundaryAlertIntervalMs (JIT_COUNT: the faults since the last alert), so a
// callback that throws at every turn cannot flood the journal. Never throws.
void report_boundary_fault(const char* where, const char* what) noexcept;
inline constexpr long kBoundaryAlertIntervalMs = 10000;

// Runs f(); an exception is reported and `on_fault` returned instead.
// `on_fault` is what the C caller should see: 0 for sd-event (a negative
// return would disable the event source: the listening socket would stop
// accepting), -1 for libcurl's callbacks.
template <class F>
int at_c_boundary(const char* where, F&& f, int on_fault = 0) noexcept {
    try {
        if constexpr (std::is_void_v<decltype(std::forward<F>(f)())>) {
            std::forward<F>(f)();
            return 0;
        } else {
            return std::forward<F>(f)();
        }
    } catch (const std::exception& e) {
        report_boundary_fault(where, e.what());
    } catch (...) {
        report_boundary_fault(where, "an exception that is not a std::exception");
    }
    return on_fault;
}

}  // namespace jit::helperd
