/* The snapshot reader: see snapshot_reader.h. Every read from the mapping
 * goes through a bounds check; nothing here trusts the file. */
#define _GNU_SOURCE /* O_CLOEXEC, st_mtim, CLOCK_MONOTONIC_COARSE also under -std=c11 */
#include "snapshot_reader.h"

#include "snapshot_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct jit_nss_header) == 128, "header layout");
_Static_assert(sizeof(struct jit_nss_user_rec) == 40, "user record layout");
_Static_assert(sizeof(struct jit_nss_group_rec) == 24, "group record layout");

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Section [off, off+size) inside a file of `file_size` bytes, 8-aligned,
 * after the header. */
static int section_ok(const struct jit_nss_section *s, uint64_t file_size)
{
    if (s->off % 8u != 0 || s->off < sizeof(struct jit_nss_header)) return 0;
    return (uint64_t)s->off + (uint64_t)s->size <= file_size;
}

static int slots_ok(uint32_t slots, uint32_t count)
{
    if (slots < 8u || (slots & (slots - 1u)) != 0) return 0;
    if (slots > 4u * JIT_NSS_MAX_ENTRIES) return 0;
    return (uint64_t)slots >= 2u * (uint64_t)count;
}

/* One kind's part of the header (users or groups): its entry count, hash
 * size and four sections, in a file of `file_size` bytes. */
static int kind_ok(uint32_t count, uint32_t slots, const struct jit_nss_section *records,
                   const struct jit_nss_section *offsets, const struct jit_nss_section *ids,
                   const struct jit_nss_section *hash, uint64_t file_size)
{
    if (count > JIT_NSS_MAX_ENTRIES || !slots_ok(slots, count)) return 0;
    if (!section_ok(records, file_size) || !section_ok(offsets, file_size) || !section_ok(ids, file_size) ||
        !section_ok(hash, file_size))
        return 0;
    return offsets->size == 4u * count && ids->size == 4u * count && hash->size == 4u * slots;
}

int jit_snap_from_memory(const void *data, size_t size, struct jit_snap *snap)
{
    struct jit_nss_header h;
    memset(snap, 0, sizeof *snap);
    if (data == NULL || size < sizeof h) return JIT_SNAP_UNAVAIL;
    if (size > JIT_NSS_MAX_FILE_SIZE) return JIT_SNAP_CORRUPT;
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, JIT_NSS_MAGIC, JIT_NSS_MAGIC_LEN) != 0) return JIT_SNAP_CORRUPT;
    if (h.version != JIT_NSS_VERSION || h.header_size != sizeof h) return JIT_SNAP_CORRUPT;
    if (h.file_size != (uint64_t)size) return JIT_SNAP_CORRUPT;
    if (h.header_checksum != jit_nss_hash(data, offsetof(struct jit_nss_header, header_checksum)))
        return JIT_SNAP_CORRUPT;
    if (!kind_ok(h.user_count, h.user_hash_slots, &h.user_records, &h.user_offsets, &h.user_ids, &h.user_hash,
                 size) ||
        !kind_ok(h.group_count, h.group_hash_slots, &h.group_records, &h.group_offsets, &h.group_ids,
                 &h.group_hash, size))
        return JIT_SNAP_CORRUPT;

    snap->base = (const unsigned char *)data;
    snap->size = size;
    snap->user_count = h.user_count;
    snap->group_count = h.group_count;
    snap->user_hash_mask = h.user_hash_slots - 1u;
    snap->group_hash_mask = h.group_hash_slots - 1u;
    snap->urec_off = h.user_records.off;
    snap->urec_size = h.user_records.size;
    snap->uoff_off = h.user_offsets.off;
    snap->uids_off = h.user_ids.off;
    snap->uhash_off = h.user_hash.off;
    snap->grec_off = h.group_records.off;
    snap->grec_size = h.group_records.size;
    snap->goff_off = h.group_offsets.off;
    snap->gids_off = h.group_ids.off;
    snap->ghash_off = h.group_hash.off;
    snap->generation = h.generation;
    snap->superseded = snap->base + offsetof(struct jit_nss_header, superseded);
    return JIT_SNAP_OK;
}

int jit_name_plausible(const char *name)
{
    size_t i;
    if (name == NULL) return 0;
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return 0;
    for (i = 1; name[i] != '\0'; i++) {
        char ch = name[i];
        if (i >= JIT_NSS_MAX_NAME) return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) return 0;
    }
    return 1;
}

int jit_id_plausible(uint32_t id) { return id >= 1000u && id <= 2147483646u; }

/* The NUL-terminated string at rec+off inside a record of `size` bytes, at
 * most `max` characters; NULL if it runs past the record or is too long. */
static const char *rec_string(const unsigned char *rec, uint32_t size, uint32_t off, uint32_t max,
                              size_t *len)
{
    if (off >= size) return NULL;
    size_t room = size - off;
    if (room > (size_t)max + 1u) room = (size_t)max + 1u;
    const unsigned char *nul = memchr(rec + off, '\0', room);
    if (nul == NULL) return NULL;
    *len = (size_t)(nul - (rec + off));
    return (const char *)(rec + off);
}

/* Users and groups are stored alike (snapshot_format.h): a records section,
 * an offset table, an id index and a name hash each. Everything below that
 * is not about one kind's fields works on either, through `enum kind`. */
enum kind { USERS, GROUPS };

/* One kind's sections, as jit_snap_from_memory validated them. */
struct table {
    uint32_t count, hash_mask;
    uint32_t recs_off, recs_size, offs_off, ids_off, hash_off;
};

static struct table table_of(const struct jit_snap *s, enum kind k)
{
    if (k == USERS)
        return (struct table){s->user_count, s->user_hash_mask, s->urec_off, s->urec_size,
                              s->uoff_off,   s->uids_off,       s->uhash_off};
    return (struct table){s->group_count, s->group_hash_mask, s->grec_off, s->grec_size,
                          s->goff_off,    s->gids_off,        s->ghash_off};
}

/* Each kind's fixed record part: its size and where its name_off field is. */
static const struct {
    uint32_t size, name_off_at;
} layout[] = {
    [USERS] = {sizeof(struct jit_nss_user_rec), offsetof(struct jit_nss_user_rec, name_off)},
    [GROUPS] = {sizeof(struct jit_nss_group_rec), offsetof(struct jit_nss_group_rec, name_off)},
};

/* Locates record `index` of kind `k` (offset-table lookup and size checks,
 * not yet the checksum) and reads its name, all a hash probe needs. NULL if
 * the record or its name is corrupt. */
static const unsigned char *named_record(const struct jit_snap *s, enum kind k, uint32_t index,
                                         uint32_t *size_out, const char **name, size_t *name_len)
{
    const struct table t = table_of(s, k);
    const uint32_t min_size = layout[k].size;
    if (index >= t.count) return NULL;
    uint32_t off = rd32(s->base + t.offs_off + 4u * (size_t)index);
    if (off % 8u != 0 || (uint64_t)off + min_size > t.recs_size) return NULL;
    const unsigned char *rec = s->base + t.recs_off + off;
    uint32_t size = rd32(rec + 4);
    if (size < min_size || size % 8u != 0 || (uint64_t)off + size > t.recs_size) return NULL;
    *name = rec_string(rec, size, rd32(rec + layout[k].name_off_at), JIT_NSS_MAX_NAME, name_len);
    if (*name == NULL || *name_len == 0) return NULL;
    *size_out = size;
    return rec;
}

static int checksum_ok(const unsigned char *rec, uint32_t size)
{
    return rd32(rec) == jit_nss_hash(rec + 4, size - 4u);
}

static int user_view(const struct jit_snap *s, uint32_t index, struct jit_pw_view *v)
{
    uint32_t size;
    struct jit_nss_user_rec r;
    memset(v, 0, sizeof *v);
    const unsigned char *rec = named_record(s, USERS, index, &size, &v->name, &v->name_len);
    if (rec == NULL || !checksum_ok(rec, size)) return JIT_SNAP_CORRUPT;
    memcpy(&r, rec, sizeof r);
    v->gecos = rec_string(rec, size, r.gecos_off, JIT_NSS_MAX_STRING, &v->gecos_len);
    v->dir = rec_string(rec, size, r.dir_off, JIT_NSS_MAX_STRING, &v->dir_len);
    v->shell = rec_string(rec, size, r.shell_off, JIT_NSS_MAX_STRING, &v->shell_len);
    if (v->gecos == NULL || v->dir == NULL || v->shell == NULL) return JIT_SNAP_CORRUPT;
    if (r.ngroups > JIT_NSS_MAX_GROUPS || r.groups_off % 4u != 0 ||
        (uint64_t)r.groups_off + 4u * (uint64_t)r.ngroups > size)
        return JIT_SNAP_CORRUPT;
    if (!jit_id_plausible(r.uid) || !jit_id_plausible(r.gid)) return JIT_SNAP_CORRUPT;
    v->uid = r.uid;
    v->gid = r.gid;
    v->ngroups = r.ngroups;
    v->groups = rec + r.groups_off;
    return JIT_SNAP_OK;
}

static int group_view(const struct jit_snap *s, uint32_t index, struct jit_gr_view *v)
{
    uint32_t size;
    struct jit_nss_group_rec r;
    memset(v, 0, sizeof *v);
    const unsigned char *rec = named_record(s, GROUPS, index, &size, &v->name, &v->name_len);
    if (rec == NULL || !checksum_ok(rec, size)) return JIT_SNAP_CORRUPT;
    memcpy(&r, rec, sizeof r);
    if (r.nmembers > JIT_NSS_MAX_MEMBERS || r.members_off % 4u != 0 ||
        (uint64_t)r.members_off + 4u * (uint64_t)r.nmembers > size)
        return JIT_SNAP_CORRUPT;
    for (uint32_t i = 0; i < r.nmembers; i++) {
        size_t len;
        const char *m = rec_string(rec, size, rd32(rec + r.members_off + 4u * i), JIT_NSS_MAX_NAME, &len);
        if (m == NULL || len == 0) return JIT_SNAP_CORRUPT;
    }
    if (!jit_id_plausible(r.gid)) return JIT_SNAP_CORRUPT;
    v->gid = r.gid;
    v->nmembers = r.nmembers;
    v->rec = rec;
    v->member_offs = rec + r.members_off;
    return JIT_SNAP_OK;
}

uint32_t jit_pw_group(const struct jit_pw_view *v, uint32_t i) { return rd32(v->groups + 4u * i); }

const char *jit_gr_member(const struct jit_gr_view *v, uint32_t i, size_t *len)
{
    const char *m = (const char *)v->rec + rd32(v->member_offs + 4u * i);
    *len = strlen(m); /* NUL inside the record: checked by group_view */
    return m;
}

/* Open-addressing probe. A valid table reaches an empty slot after at most
 * `count` occupied ones; more means the file is corrupt (and bounds the loop). */
static int find_by_name(const struct jit_snap *s, enum kind k, const char *name, uint32_t *index)
{
    const struct table t = table_of(s, k);
    size_t len = strlen(name);
    uint32_t h = jit_nss_hash(name, len);
    for (uint32_t probe = 0; probe <= t.count; probe++) {
        uint32_t slot = rd32(s->base + t.hash_off + 4u * (size_t)((h + probe) & t.hash_mask));
        if (slot == 0) return JIT_SNAP_NOTFOUND;
        if (slot - 1u >= t.count) return JIT_SNAP_CORRUPT;
        uint32_t size;
        const char *candidate;
        size_t candidate_len;
        if (named_record(s, k, slot - 1u, &size, &candidate, &candidate_len) == NULL) return JIT_SNAP_CORRUPT;
        if (candidate_len == len && memcmp(candidate, name, len) == 0) {
            *index = slot - 1u;
            return JIT_SNAP_OK;
        }
    }
    return JIT_SNAP_CORRUPT;
}

static int find_by_id(const struct jit_snap *s, enum kind k, uint32_t id, uint32_t *index)
{
    const struct table t = table_of(s, k);
    uint32_t lo = 0, hi = t.count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        uint32_t v = rd32(s->base + t.ids_off + 4u * (size_t)mid);
        if (v == id) {
            *index = mid;
            return JIT_SNAP_OK;
        }
        if (v < id)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return JIT_SNAP_NOTFOUND;
}

/* The index of the entry asked for: by `name` when it is not NULL (already
 * checked plausible), else by `id`. */
static int find(const struct jit_snap *s, enum kind k, const char *name, uint32_t id, uint32_t *index)
{
    return name != NULL ? find_by_name(s, k, name, index) : find_by_id(s, k, id, index);
}

/* Whether the full view (its name and id) is the entry that was asked for. */
static int is_asked(const char *name, uint32_t id, const char *view_name, size_t view_name_len, uint32_t view_id)
{
    if (name != NULL) return view_name_len == strlen(name) && strcmp(view_name, name) == 0;
    return view_id == id;
}

static int user_lookup(const struct jit_snap *s, const char *name, uint32_t uid, struct jit_pw_view *out)
{
    uint32_t index;
    int rc = find(s, USERS, name, uid, &index);
    if (rc == JIT_SNAP_OK) rc = user_view(s, index, out);
    if (rc == JIT_SNAP_OK && !is_asked(name, uid, out->name, out->name_len, out->uid)) return JIT_SNAP_CORRUPT;
    return rc;
}

static int group_lookup(const struct jit_snap *s, const char *name, uint32_t gid, struct jit_gr_view *out)
{
    uint32_t index;
    int rc = find(s, GROUPS, name, gid, &index);
    if (rc == JIT_SNAP_OK) rc = group_view(s, index, out);
    if (rc == JIT_SNAP_OK && !is_asked(name, gid, out->name, out->name_len, out->gid)) return JIT_SNAP_CORRUPT;
    return rc;
}

int jit_snap_user_by_name(const struct jit_snap *s, const char *name, struct jit_pw_view *out)
{
    return jit_name_plausible(name) ? user_lookup(s, name, 0, out) : JIT_SNAP_NOTFOUND;
}

int jit_snap_user_by_uid(const struct jit_snap *s, uint32_t uid, struct jit_pw_view *out)
{
    return user_lookup(s, NULL, uid, out);
}

int jit_snap_user_at(const struct jit_snap *s, uint32_t index, struct jit_pw_view *out)
{
    return index < s->user_count ? user_view(s, index, out) : JIT_SNAP_NOTFOUND;
}

int jit_snap_group_by_name(const struct jit_snap *s, const char *name, struct jit_gr_view *out)
{
    return jit_name_plausible(name) ? group_lookup(s, name, 0, out) : JIT_SNAP_NOTFOUND;
}

int jit_snap_group_by_gid(const struct jit_snap *s, uint32_t gid, struct jit_gr_view *out)
{
    return group_lookup(s, NULL, gid, out);
}

int jit_snap_group_at(const struct jit_snap *s, uint32_t index, struct jit_gr_view *out)
{
    return index < s->group_count ? group_view(s, index, out) : JIT_SNAP_NOTFOUND;
}

int jit_snap_open(const char *path, uid_t owner, struct jit_snap **out)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) return errno == ENOMEM ? JIT_SNAP_NOMEM : JIT_SNAP_UNAVAIL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != owner ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size < (off_t)sizeof(struct jit_nss_header) ||
        (uint64_t)st.st_size > JIT_NSS_MAX_FILE_SIZE) {
        close(fd);
        return JIT_SNAP_UNAVAIL;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return JIT_SNAP_UNAVAIL;
    struct jit_snap *s = malloc(sizeof *s);
    if (s == NULL) {
        munmap(map, size);
        return JIT_SNAP_NOMEM;
    }
    int rc = jit_snap_from_memory(map, size, s);
    if (rc != JIT_SNAP_OK) {
        munmap(map, size);
        free(s);
        return rc;
    }
    s->mapped = 1;
    s->refs = 0;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->mtim = st.st_mtim;
    s->ctim = st.st_ctim;
    *out = s;
    return JIT_SNAP_OK;
}

void jit_snap_free(struct jit_snap *s)
{
    if (s == NULL) return;
    if (s->mapped) munmap((void *)s->base, s->size);
    free(s);
}

static int same_file(const struct jit_snap *s, const struct stat *st)
{
    return s->dev == st->st_dev && s->ino == st->st_ino && (off_t)s->size == st->st_size &&
           s->mtim.tv_sec == st->st_mtim.tv_sec && s->mtim.tv_nsec == st->st_mtim.tv_nsec &&
           s->ctim.tv_sec == st->st_ctim.tv_sec && s->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* Called with the lock held. */
static void unref_locked(struct jit_snap *s)
{
    if (s != NULL && --s->refs == 0) jit_snap_free(s);
}

static void drop_current_locked(struct jit_snap_cache *c)
{
    struct jit_snap *old = c->current;
    c->current = NULL;
    unref_locked(old);
}

/* Whether the mapped file may have been replaced: the publisher marked it
 * superseded, or the last stat() is older than JIT_SNAP_RECHECK_NS (catches
 * replacement by other means, removal, chmod/chown). No syscall otherwise:
 * CLOCK_MONOTONIC_COARSE is served by the vDSO. */
static int needs_check(const struct jit_snap *s, int64_t now)
{
    if (__atomic_load_n((const uint32_t *)(const void *)s->superseded, __ATOMIC_ACQUIRE) != 0) return 1;
    return now - s->checked_ns >= JIT_SNAP_RECHECK_NS || now < s->checked_ns;
}

static int64_t coarse_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return INT64_MIN;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int jit_snap_cache_acquire(struct jit_snap_cache *c, struct jit_snap **out)
{
    struct stat st;
    int rc = JIT_SNAP_OK;
    pthread_mutex_lock(&c->lock);
    const int64_t now = coarse_now();
    if (c->current != NULL && now != INT64_MIN && !needs_check(c->current, now)) {
        /* fast path: the mapping is current */
    } else if (stat(c->path, &st) != 0) {
        drop_current_locked(c);
        rc = errno == ENOMEM ? JIT_SNAP_NOMEM : JIT_SNAP_UNAVAIL;
    } else if (c->current != NULL && same_file(c->current, &st)) {
        c->current->checked_ns = now;
    } else {
        struct jit_snap *fresh = NULL;
        drop_current_locked(c);
        rc = jit_snap_open(c->path, c->owner, &fresh);
        if (rc == JIT_SNAP_OK) {
            fresh->refs = 1; /* the cache's own reference */
            fresh->checked_ns = now;
            c->current = fresh;
        }
    }
    if (rc == JIT_SNAP_OK) {
        c->current->refs++;
        *out = c->current;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void jit_snap_cache_release(struct jit_snap_cache *c, struct jit_snap *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&c->lock);
    unref_locked(s);
    pthread_mutex_unlock(&c->lock);
}

void jit_snap_cache_reset(struct jit_snap_cache *c)
{
    pthread_mutex_lock(&c->lock);
    drop_current_locked(c);
    pthread_mutex_unlock(&c->lock);
}
