#include "snapshot_writer.hpp"

#include "snapshot_format.h"

#include <jit/durable_file.hpp>
#include <jit/names.hpp>

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>
#include <cstddef>
#include <cstring>
#include <set>
#include <string_view>

namespace jit::nss {

namespace {

static_assert(sizeof(jit_nss_header) == 128);

bool id_ok(std::uint32_t id) { return id >= 1000u && id <= 2147483646u; }

bool field_ok(std::string_view s) {
    return s.size() <= JIT_NSS_MAX_STRING && s.find_first_of(std::string_view("\0:\n", 3)) == std::string_view::npos;
}

void align8(std::string& out) { out.resize((out.size() + 7u) & ~std::size_t{7}, '\0'); }

void put32(std::string& out, std::size_t at, std::uint32_t v) { std::memcpy(out.data() + at, &v, 4); }

std::uint32_t append_string(std::string& rec, std::string_view s) {
    auto off = static_cast<std::uint32_t>(rec.size());
    rec.append(s);
    rec.push_back('\0');
    return off;
}

void finish_record(std::string& rec) {
    align8(rec);
    put32(rec, 4, static_cast<std::uint32_t>(rec.size()));
    put32(rec, 0, jit_nss_hash(rec.data() + 4, rec.size() - 4));
}

std::string user_record(const SnapUser& u) {
    std::string rec(sizeof(jit_nss_user_rec), '\0');
    jit_nss_user_rec r{};
    r.uid = u.uid;
    r.gid = u.gid;
    r.ngroups = static_cast<std::uint32_t>(u.groups.size());
    r.groups_off = static_cast<std::uint32_t>(rec.size());  // gids first: 4-aligned
    for (std::uint32_t g : u.groups) rec.append(reinterpret_cast<const char*>(&g), 4);
    r.name_off = append_string(rec, u.name);
    r.gecos_off = append_string(rec, u.gecos);
    r.dir_off = append_string(rec, u.home);
    r.shell_off = append_string(rec, u.shell);
    std::memcpy(rec.data(), &r, sizeof r);
    finish_record(rec);
    return rec;
}

std::string group_record(const SnapGroup& g) {
    std::string rec(sizeof(jit_nss_group_rec), '\0');
    jit_nss_group_rec r{};
    r.gid = g.gid;
    r.nmembers = static_cast<std::uint32_t>(g.members.size());
    r.members_off = static_cast<std::uint32_t>(rec.size());
    rec.resize(rec.size() + 4 * g.members.size(), '\0');
    r.name_off = append_string(rec, g.name);
    for (std::size_t i = 0; i < g.members.size(); i++) {
        std::uint32_t off = append_string(rec, g.members[i]);
        put32(rec, r.members_off + 4 * i, off);
    }
    std::memcpy(rec.data(), &r, sizeof r);
    finish_record(rec);
    return rec;
}

std::uint32_t hash_slots(std::size_t count) {
    std::uint32_t slots = 8;
    while (slots < 2 * count) slots *= 2;
    return slots;
}

// One table (users or groups): records, offsets, ids, name hash.
struct Table {
    std::string records;
    std::vector<std::uint32_t> offsets, ids, hash;
};

template <class Entry, class Encode>
Table build_table(const std::vector<Entry>& entries, std::uint32_t Entry::*id, Encode encode) {
    Table t;
    t.hash.assign(hash_slots(entries.size()), 0);
    const std::uint32_t mask = static_cast<std::uint32_t>(t.hash.size()) - 1;
    for (std::size_t i = 0; i < entries.size(); i++) {
        t.offsets.push_back(static_cast<std::uint32_t>(t.records.size()));
        t.ids.push_back(entries[i].*id);
        t.records += encode(entries[i]);
        std::uint32_t h = jit_nss_hash(entries[i].name.data(), entries[i].name.size());
        while (t.hash[h & mask] != 0) h++;
        t.hash[h & mask] = static_cast<std::uint32_t>(i + 1);
    }
    return t;
}

void append_u32s(std::string& out, const std::vector<std::uint32_t>& v, jit_nss_section& sec) {
    align8(out);
    sec.off = static_cast<std::uint32_t>(out.size());
    sec.size = static_cast<std::uint32_t>(4 * v.size());
    out.append(reinterpret_cast<const char*>(v.data()), 4 * v.size());
}

void append_table(std::string& out, const Table& t, jit_nss_section& recs, jit_nss_section& offs,
                  jit_nss_section& ids, jit_nss_section& hash) {
    align8(out);
    recs.off = static_cast<std::uint32_t>(out.size());
    recs.size = static_cast<std::uint32_t>(t.records.size());
    out += t.records;
    append_u32s(out, t.offsets, offs);
    append_u32s(out, t.ids, ids);
    append_u32s(out, t.hash, hash);
}

void write_header(std::string& out, jit_nss_header h) {
    h.header_checksum = jit_nss_hash(&h, offsetof(jit_nss_header, header_checksum));
    std::memcpy(out.data(), &h, sizeof h);
}

}  // namespace

jit::Result<std::string> encode_snapshot(std::vector<SnapUser> users, std::vector<SnapGroup> groups) {
    if (users.size() > JIT_NSS_MAX_ENTRIES || groups.size() > JIT_NSS_MAX_ENTRIES)
        return make_error("nss.snapshot", "too many entries for one snapshot");
    std::sort(users.begin(), users.end(), [](const SnapUser& a, const SnapUser& b) { return a.uid < b.uid; });
    std::sort(groups.begin(), groups.end(), [](const SnapGroup& a, const SnapGroup& b) { return a.gid < b.gid; });
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < users.size(); i++) {
        const SnapUser& u = users[i];
        if (!is_posix_name(u.name) || !names.insert(u.name).second)
            return make_error("nss.snapshot", "user name '" + u.name + "' is invalid or duplicated");
        if (!id_ok(u.uid) || !id_ok(u.gid) || (i > 0 && users[i - 1].uid == u.uid))
            return make_error("nss.snapshot", "uid/gid of user '" + u.name + "' is invalid or duplicated");
        if (!field_ok(u.gecos) || !field_ok(u.home) || !field_ok(u.shell) || u.groups.size() > JIT_NSS_MAX_GROUPS)
            return make_error("nss.snapshot", "a field of user '" + u.name + "' has a forbidden character or size");
    }
    names.clear();
    for (std::size_t i = 0; i < groups.size(); i++) {
        const SnapGroup& g = groups[i];
        if (!is_posix_name(g.name) || !names.insert(g.name).second)
            return make_error("nss.snapshot", "group name '" + g.name + "' is invalid or duplicated");
        if (!id_ok(g.gid) || (i > 0 && groups[i - 1].gid == g.gid))
            return make_error("nss.snapshot", "gid of group '" + g.name + "' is invalid or duplicated");
        if (g.members.size() > JIT_NSS_MAX_MEMBERS)
            return make_error("nss.snapshot", "group '" + g.name + "' has too many members");
        for (const auto& m : g.members)
            if (!is_posix_name(m)) return make_error("nss.snapshot", "member '" + m + "' of group '" + g.name + "' is invalid");
    }

    Table ut = build_table(users, &SnapUser::uid, user_record);
    Table gt = build_table(groups, &SnapGroup::gid, group_record);

    jit_nss_header h{};
    std::memcpy(h.magic, JIT_NSS_MAGIC, JIT_NSS_MAGIC_LEN);
    h.version = JIT_NSS_VERSION;
    h.header_size = sizeof h;
    h.user_count = static_cast<std::uint32_t>(users.size());
    h.group_count = static_cast<std::uint32_t>(groups.size());
    h.user_hash_slots = static_cast<std::uint32_t>(ut.hash.size());
    h.group_hash_slots = static_cast<std::uint32_t>(gt.hash.size());

    std::string out(sizeof h, '\0');
    append_table(out, ut, h.user_records, h.user_offsets, h.user_ids, h.user_hash);
    append_table(out, gt, h.group_records, h.group_offsets, h.group_ids, h.group_hash);
    align8(out);
    if (out.size() > JIT_NSS_MAX_FILE_SIZE) return make_error("nss.snapshot", "snapshot exceeds the 1 GiB limit");
    h.file_size = out.size();
    write_header(out, h);
    return out;
}

void stamp_snapshot(std::string& bytes, std::uint64_t generation, std::int64_t published_at) {
    if (bytes.size() < sizeof(jit_nss_header)) return;
    jit_nss_header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    h.generation = generation;
    h.published_at = published_at;
    write_header(bytes, h);
}

std::uint64_t snapshot_generation(const std::string& bytes) {
    if (bytes.size() < sizeof(jit_nss_header)) return 0;
    jit_nss_header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    if (std::memcmp(h.magic, JIT_NSS_MAGIC, JIT_NSS_MAGIC_LEN) != 0 ||
        h.header_checksum != jit_nss_hash(&h, offsetof(jit_nss_header, header_checksum)))
        return 0;
    return h.generation;
}

jit::Status replace_snapshot_file(const std::string& path, const std::string& bytes, unsigned mode) {
    const int old = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    auto st = durable::write_file_durably(path, bytes,
                                          {.mode = static_cast<mode_t>(mode), .owner_root = ::geteuid() == 0});
    if (old >= 0) {
        char magic[JIT_NSS_MAGIC_LEN];
        const std::uint32_t one = 1;
        if (st && ::pread(old, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
            std::memcmp(magic, JIT_NSS_MAGIC, JIT_NSS_MAGIC_LEN) == 0) {
            // Best effort: readers re-check within JIT_SNAP_RECHECK_NS anyway.
            (void)!::pwrite(old, &one, sizeof one, offsetof(jit_nss_header, superseded));
        }
        ::close(old);
    }
    return st;
}

}  // namespace jit::nss
