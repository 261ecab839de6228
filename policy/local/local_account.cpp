// See jit/local_account.hpp.
#include <jit/local_account.hpp>

#include <cerrno>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace jit {
namespace {

constexpr std::size_t kFirstBuffer = 16384;
constexpr int kMaxGroups = 65536;

// getpwnam_r(3): 0, ENOENT, ESRCH, EBADF and EPERM all mean "not found".
bool means_not_found(int rc) { return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM; }

// Calls lookup(buf, size) with a buffer that doubles on ERANGE up to
// kMaxNssEntryBuffer; returns the last return code (ERANGE when even the
// largest buffer was too small).
template <typename Lookup>
int with_growing_buffer(std::vector<char>& buf, Lookup lookup) {
    if (buf.size() < kFirstBuffer) buf.resize(kFirstBuffer);
    for (;;) {
        errno = 0;
        int rc = lookup(buf.data(), buf.size());
        if (rc == -1 && errno == ERANGE) rc = ERANGE;  // some NSS layers (nss_wrapper) say it through errno
        if (rc != ERANGE || buf.size() >= kMaxNssEntryBuffer) return rc;
        buf.resize(buf.size() * 2);
    }
}

}  // namespace

LocalAccount lookup_local_account(const std::string& user) {
    LocalAccount acct;
    std::vector<char> buf;
    passwd pw{};
    passwd* res = nullptr;
    const int rc = with_growing_buffer(buf, [&](char* b, std::size_t n) {
        return getpwnam_r(user.c_str(), &pw, b, n, &res);
    });
    if (rc != 0 || !res) {
        acct.lookup_failed = !means_not_found(rc);
        return acct;
    }
    acct.uid = pw.pw_uid;
    const gid_t primary = pw.pw_gid;
    int n = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), primary, gids.data(), &n) < 0) {
        // n now holds the number needed.
        if (n > kMaxGroups) {
            acct.lookup_failed = true;
            n = kMaxGroups;
        }
        gids.resize(std::size_t(n));
        if (getgrouplist(user.c_str(), primary, gids.data(), &n) < 0) {
            acct.lookup_failed = true;  // the list grew in between, or more than kMaxGroups
            n = int(gids.size());
        }
    }
    gids.resize(std::size_t(n));
    for (gid_t g : gids) {
        group gr{};
        group* gres = nullptr;
        const int grc = with_growing_buffer(buf, [&](char* b, std::size_t size) {
            return getgrgid_r(g, &gr, b, size, &gres);
        });
        if (grc == 0 && gres)
            acct.groups.emplace_back(gr.gr_name);
        else if (!means_not_found(grc))
            acct.lookup_failed = true;  // a group we could not read may be a managed one
    }
    return acct;
}

std::optional<std::string> user_name_of(uid_t uid) {
    std::vector<char> buf;
    passwd pw{};
    passwd* res = nullptr;
    const int rc = with_growing_buffer(buf, [&](char* b, std::size_t n) { return getpwuid_r(uid, &pw, b, n, &res); });
    if (rc != 0 || !res) return std::nullopt;
    return std::string(pw.pw_name);
}

std::optional<gid_t> gid_of_group(const std::string& name, bool* failed) {
    std::vector<char> buf;
    group gr{};
    group* res = nullptr;
    const int rc = with_growing_buffer(buf, [&](char* b, std::size_t n) { return getgrnam_r(name.c_str(), &gr, b, n, &res); });
    if (failed) *failed = !means_not_found(rc);
    if (rc != 0 || !res) return std::nullopt;
    return gr.gr_gid;
}

}  // namespace jit
