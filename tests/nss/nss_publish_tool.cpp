// jit-nss-publish-tool: publishes an NSS snapshot with the real UserDb,
// for the script-level tests and the benchmarks (never installed).
//
//   jit_nss_publish_tool --db F --state-dir D --now T [--retention S]
//       [--passwd F] [--group F] [--home-base D] [--uid-min N] [--uid-max N]
//       (--payload FILE | --synthetic N [--groups g1,g2]) [--create-home USER]...
//
// --payload: a jit.grants.v1 payload (PROTOCOL.md), parsed by the project's
// strict parser. --synthetic N: users u0..u(N-1), each with one login grant
// active at --now. Prints each published user and each warning; exit 0 on
// success, 1 on error, 2 on usage.
#include <jit/bundle.hpp>
#include <jit/enforce/home.hpp>
#include <jit/nss_user_db.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

int usage(const char* why) {
    std::cerr << "jit_nss_publish_tool: " << why << "\n";
    return 2;
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    jit::nss::NssPolicy policy;
    std::string payload_file;
    long synthetic = -1;
    std::vector<std::string> synthetic_groups, homes;
    jit::UnixTime now = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "--quiet") {
            quiet = true;
            continue;
        }
        if (i + 1 >= argc) return usage(("missing value for " + arg).c_str());
        std::string v = argv[++i];
        if (arg == "--db") policy.db_path = v;
        else if (arg == "--state-dir") policy.state_dir = v;
        else if (arg == "--now") now = std::atoll(v.c_str());
        else if (arg == "--retention") policy.retention_seconds = std::atoll(v.c_str());
        else if (arg == "--passwd") policy.passwd_file = v;
        else if (arg == "--group") policy.group_file = v;
        else if (arg == "--home-base") policy.home_base = v;
        else if (arg == "--uid-min") policy.uid_min = static_cast<std::uint32_t>(std::atol(v.c_str()));
        else if (arg == "--uid-max") policy.uid_max = static_cast<std::uint32_t>(std::atol(v.c_str()));
        else if (arg == "--payload") payload_file = v;
        else if (arg == "--synthetic") synthetic = std::atol(v.c_str());
        else if (arg == "--groups") synthetic_groups = split_commas(v);
        else if (arg == "--create-home") homes.push_back(v);
        else return usage(("unknown option " + arg).c_str());
    }
    if (now <= 0) return usage("--now is required");
    if (payload_file.empty() == (synthetic < 0)) return usage("exactly one of --payload and --synthetic");

    std::vector<jit::Grant> grants;
    if (!payload_file.empty()) {
        std::ifstream in(payload_file, std::ios::binary);
        if (!in) return usage(("cannot read " + payload_file).c_str());
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto payload = jit::parse_payload(bytes);
        if (!payload) {
            std::cerr << "payload: " << payload.error().code << ": " << payload.error().message << "\n";
            return 1;
        }
        grants = payload->grants;
    } else {
        grants.reserve(static_cast<std::size_t>(synthetic));
        for (long i = 0; i < synthetic; i++) {
            jit::Grant g;
            g.id = "g" + std::to_string(i);
            g.user = "u" + std::to_string(i);
            g.login = true;
            g.display_name = "Synthetic User " + std::to_string(i);
            g.groups = synthetic_groups;
            g.not_before = now - 60;
            g.not_after = now + 3600;
            grants.push_back(std::move(g));
        }
    }

    auto pub = jit::nss::UserDb::open(policy);
    if (!pub) {
        std::cerr << "open: " << pub.error().code << ": " << pub.error().message << "\n";
        return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    auto st = pub->publish(grants, now);
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& w : pub->warnings()) std::cout << "warning " << w.code << " " << w.user << ": " << w.message << "\n";
    if (!st) {
        std::cerr << "publish: " << st.error().code << ": " << st.error().message << "\n";
        return 1;
    }
    if (!quiet)
        for (const auto& u : pub->published())
            std::cout << "user " << u.name << " " << u.uid << " " << u.shell << (u.retained ? " retained" : "") << "\n";
    for (const auto& user : homes) {
        // As jit-helperd makes it at the first session: with the publisher's uid.
        auto uid = pub->uid_of(user);
        if (!uid) {
            std::cerr << "create_home " << user << ": no uid is known for JIT user " << user << "\n";
            return 1;
        }
        auto made = jit::enforce::create_home(pub->home_of(user), *uid, *uid);
        if (!made) {
            std::cerr << "create_home " << user << ": " << made.error().message << "\n";
            return 1;
        }
        std::cout << "home " << user << (*made ? " created" : " exists") << "\n";
    }
    std::cout << "published " << pub->published().size() << " users in " << elapsed << " s"
              << (pub->last_publish_wrote() ? "" : " (unchanged)") << "; next change "
              << pub->next_change(grants, now) << "\n";
    return 0;
}
