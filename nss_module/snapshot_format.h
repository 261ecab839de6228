/* The on-disk format of the JIT NSS snapshot (/var/lib/jit/nss.db), shared by
 * the writer (helperd/nss, C++) and the reader (snapshot_reader.c, C11).
 * docs/nss.md describes it for humans; this header is normative.
 *
 * Layout (host byte order; the file never leaves the host that wrote it):
 *
 *   header                      struct jit_nss_header at offset 0
 *   user records                variable-size struct jit_nss_user_rec + strings + gids
 *   user offsets                u32[user_count]: record offset (relative to the
 *                               user-records section), ordered by uid ascending:
 *                               this is also the enumeration order
 *   user ids                    u32[user_count]: the uid of each entry, same
 *                               order (binary search for getpwuid)
 *   user name hash              u32[user_hash_slots], open addressing with
 *                               linear probing on jit_nss_hash(name); 0 = empty,
 *                               otherwise 1 + index into user offsets
 *   group records / offsets / ids / name hash: the same for groups (by gid)
 *
 * Replacement: write a new file, fsync, rename it over the path, fsync the
 * directory, then set `superseded` in the old file (see the header).
 *
 * Every section starts at a multiple of 8 and lies inside the file; the file
 * size equals header.file_size. Each record begins with a checksum of its
 * own bytes, so corruption is detected where it is read, without scanning
 * the whole file when it is mapped.
 */
#ifndef JIT_NSS_SNAPSHOT_FORMAT_H
#define JIT_NSS_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JIT_NSS_MAGIC "JITNSSDB" /* 8 bytes, no NUL stored */
#define JIT_NSS_MAGIC_LEN 8
#define JIT_NSS_VERSION 1u

/* Limits the reader enforces (and the writer respects). */
#define JIT_NSS_MAX_FILE_SIZE (1024u * 1024u * 1024u) /* 1 GiB */
#define JIT_NSS_MAX_ENTRIES (16u * 1024u * 1024u)
#define JIT_NSS_MAX_NAME 32u        /* POSIX login name, without NUL */
#define JIT_NSS_MAX_STRING 4096u    /* gecos, home, shell, without NUL */
#define JIT_NSS_MAX_GROUPS 1024u    /* supplementary gids per user */
#define JIT_NSS_MAX_MEMBERS 65536u  /* members per group record */

struct jit_nss_section {
    uint32_t off;  /* from the start of the file, multiple of 8 */
    uint32_t size; /* bytes */
};

struct jit_nss_header {
    char magic[JIT_NSS_MAGIC_LEN];
    uint32_t version;      /* JIT_NSS_VERSION */
    uint32_t header_size;  /* sizeof(struct jit_nss_header) */
    uint64_t file_size;    /* must equal the file's st_size */
    uint64_t generation;   /* increases with every publish (informational) */
    int64_t published_at;  /* unix seconds (informational) */
    uint32_t user_count;
    uint32_t group_count;
    uint32_t user_hash_slots;  /* power of two, >= 2 * user_count, >= 8 */
    uint32_t group_hash_slots; /* power of two, >= 2 * group_count, >= 8 */
    struct jit_nss_section user_records;
    struct jit_nss_section user_offsets; /* size == 4 * user_count */
    struct jit_nss_section user_ids;     /* size == 4 * user_count */
    struct jit_nss_section user_hash;    /* size == 4 * user_hash_slots */
    struct jit_nss_section group_records;
    struct jit_nss_section group_offsets;
    struct jit_nss_section group_ids;
    struct jit_nss_section group_hash;
    uint32_t header_checksum; /* jit_nss_hash over the bytes before this field */
    /* 0 while this file is the current snapshot. The publisher sets it to 1,
     * in place, in the file it has just replaced (after the rename), so that
     * processes still mapping the old file notice the replacement without a
     * syscall. Not covered by the checksum. */
    uint32_t superseded;
};

/* A passwd entry. Strings are NUL-terminated and lie inside the record;
 * offsets are relative to the record start. The password field is always
 * "*" and is not stored. */
struct jit_nss_user_rec {
    uint32_t checksum; /* jit_nss_hash over bytes [4, size) of the record */
    uint32_t size;     /* whole record, multiple of 8 */
    uint32_t uid;
    uint32_t gid;
    uint32_t name_off;
    uint32_t gecos_off;
    uint32_t dir_off;
    uint32_t shell_off;
    uint32_t ngroups;    /* supplementary gids for initgroups */
    uint32_t groups_off; /* u32[ngroups], multiple of 4 */
};

/* A group entry. The password field is always "*" and is not stored. */
struct jit_nss_group_rec {
    uint32_t checksum; /* jit_nss_hash over bytes [4, size) of the record */
    uint32_t size;     /* whole record, multiple of 8 */
    uint32_t gid;
    uint32_t name_off;
    uint32_t nmembers;
    uint32_t members_off; /* u32[nmembers] offsets (relative to the record) of member names */
};

/* 32-bit FNV-1a: the name hash and the checksums. */
static inline uint32_t jit_nss_hash(const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

#ifdef __cplusplus
}
#endif

#endif
