// Long-poll server on libmicrohttpd (epoll, one internal thread, suspend/
// resume) for bench/authority: GET /poll?host=H holds until POST /wake?host=H
// (or /wake?all=1) answers it, or 60 s pass (304). Prints its port on stdout.
#include <microhttpd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::mutex g_mu;
std::unordered_multimap<std::string, MHD_Connection*> g_waiting;

MHD_Result reply(MHD_Connection* c, unsigned status, const char* body) {
    MHD_Response* r = MHD_create_response_from_buffer(std::strlen(body), const_cast<char*>(body),
                                                      MHD_RESPMEM_PERSISTENT);
    MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

MHD_Result handle(void*, MHD_Connection* c, const char* url, const char* method, const char*,
                  const char*, size_t* upload_size, void** state) {
    // First call: headers only. Second call for a held poll: after resume.
    if (*state == nullptr) {
        *state = reinterpret_cast<void*>(1);
        if (std::strcmp(method, "POST") == 0) return MHD_YES;
    }
    if (*upload_size != 0) { *upload_size = 0; return MHD_YES; }
    if (std::strcmp(url, "/poll") == 0) {
        if (*state == reinterpret_cast<void*>(2)) return reply(c, 200, "woken\n");
        const char* host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "host");
        *state = reinterpret_cast<void*>(2);
        std::lock_guard lock(g_mu);
        g_waiting.emplace(host ? host : "", c);
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    if (std::strcmp(url, "/wake") == 0) {
        const char* host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "host");
        std::vector<MHD_Connection*> wake;
        {
            std::lock_guard lock(g_mu);
            if (host == nullptr) {
                for (auto& [h, conn] : g_waiting) wake.push_back(conn);
                g_waiting.clear();
            } else {
                auto [b, e] = g_waiting.equal_range(host);
                for (auto it = b; it != e; ++it) wake.push_back(it->second);
                g_waiting.erase(host);
            }
        }
        for (MHD_Connection* w : wake) MHD_resume_connection(w);
        return reply(c, 200, "ok\n");
    }
    return reply(c, 404, "no\n");
}

}  // namespace

int main() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    MHD_Daemon* d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, nullptr,
        nullptr, &handle, nullptr, MHD_OPTION_CONNECTION_LIMIT, 30000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_END);
    if (d == nullptr) { std::perror("MHD_start_daemon"); return 1; }
    const MHD_DaemonInfo* info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    std::printf("%u\n", static_cast<unsigned>(info->port));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
