#include <jit/helperd/daemon.hpp>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace jit::helperd {

LocalAccount SystemAccounts::lookup(const std::string& user) {
    LocalAccount acct;
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* res = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res) return acct;
    acct.uid = pw.pw_uid;
    int n = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), pw.pw_gid, gids.data(), &n) < 0) {
        if (n > 65536) n = 65536;
        gids.resize(std::size_t(n));
        if (getgrouplist(user.c_str(), pw.pw_gid, gids.data(), &n) < 0) n = 0;
    }
    gids.resize(std::size_t(n));
    std::vector<char> gbuf(16384);
    for (gid_t g : gids) {
        group gr{};
        group* gres = nullptr;
        if (getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &gres) == 0 && gres) acct.groups.emplace_back(gr.gr_name);
    }
    return acct;
}

std::optional<std::string> SystemAccounts::name_of(uid_t uid) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* res = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) != 0 || !res) return std::nullopt;
    return std::string(pw.pw_name);
}

}  // namespace jit::helperd
