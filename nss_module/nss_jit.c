/* libnss_jit.so.2: the glibc NSS entry points (service "jit"). Thin: each
 * one rejects what cannot be ours before any syscall, takes a reference on
 * the current snapshot mapping, looks up, packs into the caller's buffer.
 * errno is restored on every path; *errnop is set only as NSS requires:
 *   NOTFOUND/ENOENT  no such entry         UNAVAIL/ENOENT  no usable snapshot
 *   TRYAGAIN/ERANGE  buffer too small      TRYAGAIN/ENOMEM out of memory
 */
#define _GNU_SOURCE /* O_CLOEXEC, st_mtim, CLOCK_MONOTONIC_COARSE also under -std=c11 */
#include "nss_pack.h"
#include "snapshot_reader.h"

#include <jit/paths.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>


#define EXPORT __attribute__((visibility("default")))

static struct jit_snap_cache cache = JIT_SNAP_CACHE_INIT(JIT_NSS_DB_PATH, 0);

#ifdef JIT_NSS_TEST_HOOKS
/* Only in the test build of the module (never installed): point it at a
 * test snapshot owned by the test's user. */
static char test_path[4096];
EXPORT void jit_nss_test_configure(const char *path, uid_t owner)
{
    jit_snap_cache_reset(&cache);
    pthread_mutex_lock(&cache.lock);
    snprintf(test_path, sizeof test_path, "%s", path);
    cache.path = test_path;
    cache.owner = owner;
    pthread_mutex_unlock(&cache.lock);
}
#endif

static enum nss_status fail(int rc, int *errnop)
{
    switch (rc) {
    case JIT_SNAP_NOTFOUND:
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    case JIT_SNAP_NOMEM:
        *errnop = ENOMEM;
        return NSS_STATUS_TRYAGAIN;
    default: /* JIT_SNAP_UNAVAIL, JIT_SNAP_CORRUPT */
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
}

static enum nss_status packed(int err, int *errnop)
{
    if (err == 0) return NSS_STATUS_SUCCESS;
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
}

/* The passwd and group databases are served by the same code: they differ
 * only in the reader's lookups and in the packing, chosen here by `db`. */
enum db { PASSWD, GROUP };
enum key { BY_NAME, BY_ID, AT_INDEX };
union view {
    struct jit_pw_view pw;
    struct jit_gr_view gr;
};

/* The entry of `db` by `name`, by id `n`, or at enumeration index `n`. */
static int find(enum db db, enum key key, const struct jit_snap *s, const char *name, uint32_t n, union view *v)
{
    if (db == PASSWD) {
        if (key == BY_NAME) return jit_snap_user_by_name(s, name, &v->pw);
        return key == BY_ID ? jit_snap_user_by_uid(s, n, &v->pw) : jit_snap_user_at(s, n, &v->pw);
    }
    if (key == BY_NAME) return jit_snap_group_by_name(s, name, &v->gr);
    return key == BY_ID ? jit_snap_group_by_gid(s, n, &v->gr) : jit_snap_group_at(s, n, &v->gr);
}

/* `result` is the caller's struct passwd (PASSWD) or struct group (GROUP). */
static int pack(enum db db, const union view *v, void *result, char *buf, size_t buflen)
{
    return db == PASSWD ? jit_pack_passwd(&v->pw, result, buf, buflen) : jit_pack_group(&v->gr, result, buf, buflen);
}

static enum nss_status get_entry(enum db db, enum key key, const char *name, uint32_t id, void *result, char *buf,
                                 size_t buflen, int *errnop)
{
    /* what cannot be ours is answered before any syscall */
    if (key == BY_NAME ? !jit_name_plausible(name) : !jit_id_plausible(id)) return fail(JIT_SNAP_NOTFOUND, errnop);
    struct jit_snap *s;
    union view v;
    int saved = errno;
    int rc = jit_snap_cache_acquire(&cache, &s);
    if (rc == JIT_SNAP_OK) {
        rc = find(db, key, s, name, id, &v);
        int err = rc == JIT_SNAP_OK ? pack(db, &v, result, buf, buflen) : 0;
        jit_snap_cache_release(&cache, s);
        errno = saved;
        if (rc == JIT_SNAP_OK) return packed(err, errnop);
    }
    errno = saved;
    return fail(rc, errnop);
}

EXPORT enum nss_status _nss_jit_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                           int *errnop)
{
    return get_entry(PASSWD, BY_NAME, name, 0, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
                                           int *errnop)
{
    return get_entry(PASSWD, BY_ID, NULL, (uint32_t)uid, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                           int *errnop)
{
    return get_entry(GROUP, BY_NAME, name, 0, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
                                           int *errnop)
{
    return get_entry(GROUP, BY_ID, NULL, (uint32_t)gid, gr, buf, buflen, errnop);
}

/* Adds the user's window groups to the list glibc is building (grows it
 * within `limit`, skips the primary group and duplicates). */
EXPORT enum nss_status _nss_jit_initgroups_dyn(const char *user, gid_t group, long int *start,
                                               long int *size, gid_t **groupsp, long int limit,
                                               int *errnop)
{
    if (!jit_name_plausible(user)) return fail(JIT_SNAP_NOTFOUND, errnop);
    struct jit_snap *s;
    struct jit_pw_view v;
    int saved = errno;
    int rc = jit_snap_cache_acquire(&cache, &s);
    if (rc != JIT_SNAP_OK) {
        errno = saved;
        return fail(rc, errnop);
    }
    rc = jit_snap_user_by_name(s, user, &v);
    enum nss_status status = NSS_STATUS_SUCCESS;
    if (rc != JIT_SNAP_OK) {
        status = fail(rc, errnop);
        v.ngroups = 0;
    }
    for (uint32_t i = 0; i < v.ngroups; i++) {
        gid_t gid = (gid_t)jit_pw_group(&v, i);
        int dup = gid == group;
        for (long int j = 0; j < *start && !dup; j++) dup = (*groupsp)[j] == gid;
        if (dup) continue;
        if (*start == *size) {
            if (limit > 0 && *size >= limit) break; /* glibc's maximum reached */
            long int grow = *size > 0 ? *size * 2 : 8;
            if (limit > 0 && grow > limit) grow = limit;
            gid_t *bigger = realloc(*groupsp, (size_t)grow * sizeof(gid_t));
            if (bigger == NULL) {
                jit_snap_cache_release(&cache, s);
                errno = saved;
                *errnop = ENOMEM;
                return NSS_STATUS_TRYAGAIN;
            }
            *groupsp = bigger;
            *size = grow;
        }
        (*groupsp)[(*start)++] = gid;
    }
    jit_snap_cache_release(&cache, s);
    errno = saved;
    return status;
}

/* Enumeration: one cursor per database for the process, pinned to the
 * snapshot that was current at set*ent (a republish does not move it). */
struct cursor {
    struct jit_snap *snap;
    uint32_t next;
};
static pthread_mutex_t ent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cursor cursors[2]; /* [PASSWD], [GROUP] */

static enum nss_status cursor_set(enum db db)
{
    struct cursor *c = &cursors[db];
    int saved = errno;
    pthread_mutex_lock(&ent_lock);
    jit_snap_cache_release(&cache, c->snap);
    c->snap = NULL;
    c->next = 0;
    int rc = jit_snap_cache_acquire(&cache, &c->snap);
    if (rc != JIT_SNAP_OK) c->snap = NULL;
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    return rc == JIT_SNAP_OK ? NSS_STATUS_SUCCESS : NSS_STATUS_UNAVAIL;
}

static enum nss_status cursor_end(enum db db)
{
    struct cursor *c = &cursors[db];
    int saved = errno;
    pthread_mutex_lock(&ent_lock);
    jit_snap_cache_release(&cache, c->snap);
    c->snap = NULL;
    c->next = 0;
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    return NSS_STATUS_SUCCESS;
}

/* The next entry of `db` into `result`; the cursor advances only when the
 * entry was returned (ERANGE: the caller retries the same one). */
static enum nss_status cursor_next(enum db db, void *result, char *buf, size_t buflen, int *errnop)
{
    struct cursor *c = &cursors[db];
    union view v;
    int saved = errno;
    enum nss_status status;
    int err_out = 0;
    pthread_mutex_lock(&ent_lock);
    int rc = c->snap != NULL ? JIT_SNAP_OK : jit_snap_cache_acquire(&cache, &c->snap);
    if (rc != JIT_SNAP_OK) c->snap = NULL;
    if (rc == JIT_SNAP_OK) rc = find(db, AT_INDEX, c->snap, NULL, c->next, &v);
    if (rc == JIT_SNAP_OK) {
        status = packed(pack(db, &v, result, buf, buflen), &err_out);
        if (status == NSS_STATUS_SUCCESS) c->next++;
    } else {
        status = fail(rc, &err_out);
    }
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    if (status != NSS_STATUS_SUCCESS) *errnop = err_out;
    return status;
}

EXPORT enum nss_status _nss_jit_setpwent(int stayopen)
{
    (void)stayopen;
    return cursor_set(PASSWD);
}

EXPORT enum nss_status _nss_jit_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    return cursor_next(PASSWD, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_endpwent(void) { return cursor_end(PASSWD); }

EXPORT enum nss_status _nss_jit_setgrent(int stayopen)
{
    (void)stayopen;
    return cursor_set(GROUP);
}

EXPORT enum nss_status _nss_jit_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop)
{
    return cursor_next(GROUP, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_endgrent(void) { return cursor_end(GROUP); }
