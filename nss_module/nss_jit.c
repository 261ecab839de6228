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

#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#ifndef JIT_NSS_DB_PATH
#error "JIT_NSS_DB_PATH must be defined by the build"
#endif

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

enum user_key { BY_NAME, BY_ID };

static enum nss_status get_user(enum user_key key, const char *name, uint32_t uid, struct passwd *pw,
                                char *buf, size_t buflen, int *errnop)
{
    struct jit_snap *s;
    struct jit_pw_view v;
    int saved = errno;
    int rc = jit_snap_cache_acquire(&cache, &s);
    if (rc == JIT_SNAP_OK) {
        rc = key == BY_NAME ? jit_snap_user_by_name(s, name, &v) : jit_snap_user_by_uid(s, uid, &v);
        int err = rc == JIT_SNAP_OK ? jit_pack_passwd(&v, pw, buf, buflen) : 0;
        jit_snap_cache_release(&cache, s);
        errno = saved;
        if (rc == JIT_SNAP_OK) return packed(err, errnop);
    }
    errno = saved;
    return fail(rc, errnop);
}

static enum nss_status get_group(enum user_key key, const char *name, uint32_t gid, struct group *gr,
                                 char *buf, size_t buflen, int *errnop)
{
    struct jit_snap *s;
    struct jit_gr_view v;
    int saved = errno;
    int rc = jit_snap_cache_acquire(&cache, &s);
    if (rc == JIT_SNAP_OK) {
        rc = key == BY_NAME ? jit_snap_group_by_name(s, name, &v) : jit_snap_group_by_gid(s, gid, &v);
        int err = rc == JIT_SNAP_OK ? jit_pack_group(&v, gr, buf, buflen) : 0;
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
    if (!jit_name_plausible(name)) return fail(JIT_SNAP_NOTFOUND, errnop);
    return get_user(BY_NAME, name, 0, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
                                           int *errnop)
{
    if (!jit_id_plausible((uint32_t)uid)) return fail(JIT_SNAP_NOTFOUND, errnop);
    return get_user(BY_ID, NULL, (uint32_t)uid, pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                           int *errnop)
{
    if (!jit_name_plausible(name)) return fail(JIT_SNAP_NOTFOUND, errnop);
    return get_group(BY_NAME, name, 0, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_jit_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
                                           int *errnop)
{
    if (!jit_id_plausible((uint32_t)gid)) return fail(JIT_SNAP_NOTFOUND, errnop);
    return get_group(BY_ID, NULL, (uint32_t)gid, gr, buf, buflen, errnop);
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
static struct cursor pwent, grent;

static enum nss_status cursor_set(struct cursor *c)
{
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

static enum nss_status cursor_end(struct cursor *c)
{
    int saved = errno;
    pthread_mutex_lock(&ent_lock);
    jit_snap_cache_release(&cache, c->snap);
    c->snap = NULL;
    c->next = 0;
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_jit_setpwent(int stayopen)
{
    (void)stayopen;
    return cursor_set(&pwent);
}

EXPORT enum nss_status _nss_jit_endpwent(void) { return cursor_end(&pwent); }

EXPORT enum nss_status _nss_jit_setgrent(int stayopen)
{
    (void)stayopen;
    return cursor_set(&grent);
}

EXPORT enum nss_status _nss_jit_endgrent(void) { return cursor_end(&grent); }

EXPORT enum nss_status _nss_jit_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    struct jit_pw_view v;
    int saved = errno;
    enum nss_status status;
    int err_out = 0;
    pthread_mutex_lock(&ent_lock);
    int rc = pwent.snap != NULL ? JIT_SNAP_OK : jit_snap_cache_acquire(&cache, &pwent.snap);
    if (rc != JIT_SNAP_OK) pwent.snap = NULL;
    if (rc == JIT_SNAP_OK) rc = jit_snap_user_at(pwent.snap, pwent.next, &v);
    if (rc == JIT_SNAP_OK) {
        status = packed(jit_pack_passwd(&v, pw, buf, buflen), &err_out);
        if (status == NSS_STATUS_SUCCESS) pwent.next++;
    } else {
        status = fail(rc, &err_out);
    }
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    if (status != NSS_STATUS_SUCCESS) *errnop = err_out;
    return status;
}

EXPORT enum nss_status _nss_jit_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop)
{
    struct jit_gr_view v;
    int saved = errno;
    enum nss_status status;
    int err_out = 0;
    pthread_mutex_lock(&ent_lock);
    int rc = grent.snap != NULL ? JIT_SNAP_OK : jit_snap_cache_acquire(&cache, &grent.snap);
    if (rc != JIT_SNAP_OK) grent.snap = NULL;
    if (rc == JIT_SNAP_OK) rc = jit_snap_group_at(grent.snap, grent.next, &v);
    if (rc == JIT_SNAP_OK) {
        status = packed(jit_pack_group(&v, gr, buf, buflen), &err_out);
        if (status == NSS_STATUS_SUCCESS) grent.next++;
    } else {
        status = fail(rc, &err_out);
    }
    pthread_mutex_unlock(&ent_lock);
    errno = saved;
    if (status != NSS_STATUS_SUCCESS) *errnop = err_out;
    return status;
}
