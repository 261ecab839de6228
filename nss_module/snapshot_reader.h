/* Reads the JIT NSS snapshot (snapshot_format.h) as untrusted input. Shared
 * by libnss_jit.so.2, the tests and the fuzzer. Plain C11: no allocation on
 * the lookup path, no environment, no global constructors.
 *
 * A struct jit_snap is one validated, immutable mapping. Lookups return views
 * whose pointers point into the mapping and stay valid while the snapshot is
 * held. Every offset is checked before use; a record that fails its checks
 * makes the lookup answer JIT_SNAP_CORRUPT, never a wrong entry.
 */
#ifndef JIT_NSS_SNAPSHOT_READER_H
#define JIT_NSS_SNAPSHOT_READER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

enum jit_snap_status {
    JIT_SNAP_OK = 0,
    JIT_SNAP_NOTFOUND = 1,
    JIT_SNAP_UNAVAIL = 2, /* missing, unreadable, wrong owner/mode, short */
    JIT_SNAP_CORRUPT = 3, /* structurally invalid (treat like UNAVAIL) */
    JIT_SNAP_NOMEM = 4
};

struct jit_snap {
    const unsigned char *base;
    size_t size;
    int mapped;             /* 1: munmap on free; 0: caller's memory */
    unsigned refs;          /* owned by struct jit_snap_cache */
    dev_t dev;              /* identity of the mapped file */
    ino_t ino;
    struct timespec mtim;
    struct timespec ctim;
    /* header fields, copied and validated */
    uint32_t user_count, group_count;
    uint32_t user_hash_mask, group_hash_mask;
    uint32_t urec_off, urec_size, uoff_off, uids_off, uhash_off;
    uint32_t grec_off, grec_size, goff_off, gids_off, ghash_off;
    uint64_t generation;
    const unsigned char *superseded; /* the header's flag, inside the mapping */
    int64_t checked_ns;              /* CLOCK_MONOTONIC_COARSE of the last stat() */
};

/* How long a mapping is trusted without stat() when the publisher has not
 * marked it superseded. */
#define JIT_SNAP_RECHECK_NS 1000000000LL

struct jit_pw_view {
    uint32_t uid, gid;
    const char *name, *gecos, *dir, *shell;
    size_t name_len, gecos_len, dir_len, shell_len;
    uint32_t ngroups;
    const unsigned char *groups; /* u32[ngroups], read with jit_pw_group() */
};

struct jit_gr_view {
    uint32_t gid;
    const char *name;
    size_t name_len;
    uint32_t nmembers;
    const unsigned char *rec;         /* the record; members via jit_gr_member() */
    const unsigned char *member_offs; /* u32[nmembers] */
};

/* Validates `size` bytes at `data` as a snapshot (header, sections, indexes;
 * records are checked when read). Does not copy: `data` must outlive `snap`. */
int jit_snap_from_memory(const void *data, size_t size, struct jit_snap *snap);

/* Opens `path` (no symlink), checks it is a regular file owned by `owner`
 * and not group/world writable, maps and validates it. */
int jit_snap_open(const char *path, uid_t owner, struct jit_snap **out);
void jit_snap_free(struct jit_snap *snap);

int jit_snap_user_by_name(const struct jit_snap *s, const char *name, struct jit_pw_view *out);
int jit_snap_user_by_uid(const struct jit_snap *s, uint32_t uid, struct jit_pw_view *out);
/* Enumeration in uid order; JIT_SNAP_NOTFOUND past the end. */
int jit_snap_user_at(const struct jit_snap *s, uint32_t index, struct jit_pw_view *out);
uint32_t jit_pw_group(const struct jit_pw_view *v, uint32_t i);

int jit_snap_group_by_name(const struct jit_snap *s, const char *name, struct jit_gr_view *out);
int jit_snap_group_by_gid(const struct jit_snap *s, uint32_t gid, struct jit_gr_view *out);
int jit_snap_group_at(const struct jit_snap *s, uint32_t index, struct jit_gr_view *out);
/* Member i (validated when the view was made). */
const char *jit_gr_member(const struct jit_gr_view *v, uint32_t i, size_t *len);

/* 1 if `name` could be a JIT user or group name (^[a-z_][a-z0-9_-]{0,31}$),
 * checked without any syscall; 0 otherwise. */
int jit_name_plausible(const char *name);
/* 1 if `id` could be a JIT uid/gid (1000..2147483646). */
int jit_id_plausible(uint32_t id);

/* The mapping shared by all threads of a process, kept alive by reference
 * counts while lookups and enumerations use it. It is replaced when the file
 * at `path` changes: at once when the publisher marked the mapped file
 * superseded (checked without a syscall), otherwise within
 * JIT_SNAP_RECHECK_NS (one stat() then). */
struct jit_snap_cache {
    pthread_mutex_t lock;
    const char *path;
    uid_t owner;
    struct jit_snap *current;
};
#define JIT_SNAP_CACHE_INIT(path, owner) {PTHREAD_MUTEX_INITIALIZER, (path), (owner), NULL}

/* On JIT_SNAP_OK, *out holds a reference: give it back with release. */
int jit_snap_cache_acquire(struct jit_snap_cache *c, struct jit_snap **out);
void jit_snap_cache_release(struct jit_snap_cache *c, struct jit_snap *s);
/* Drops the current mapping (tests; the next acquire maps again). */
void jit_snap_cache_reset(struct jit_snap_cache *c);

#ifdef __cplusplus
}
#endif

#endif
