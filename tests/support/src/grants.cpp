#include <jit/test/grants.hpp>

namespace jit::test {

Grant grant(std::string id, std::string user, UnixTime nb, UnixTime na, bool login) {
    Grant g;
    g.id = std::move(id);
    g.user = std::move(user);
    g.login = login;
    g.not_before = nb;
    g.not_after = na;
    g.reason = "test";
    g.requested_by = "tester";
    return g;
}

Grant sudo_grant(std::string id, std::string user, UnixTime nb, UnixTime na, std::string run_as) {
    Grant g = grant(std::move(id), std::move(user), nb, na, false);
    g.sudo = SudoRule{std::move(run_as), {"ALL"}};
    return g;
}

}  // namespace jit::test
