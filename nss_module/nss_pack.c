#define _GNU_SOURCE /* O_CLOEXEC, st_mtim, CLOCK_MONOTONIC_COARSE also under -std=c11 */
#include "nss_pack.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct packer {
    char *cur;
    size_t left;
};

static char *put(struct packer *p, const char *s, size_t len)
{
    if (p->left < len + 1u) return NULL;
    char *dst = p->cur;
    memcpy(dst, s, len);
    dst[len] = '\0';
    p->cur += len + 1u;
    p->left -= len + 1u;
    return dst;
}

int jit_pack_passwd(const struct jit_pw_view *v, struct passwd *pw, char *buf, size_t buflen)
{
    struct packer p = {buf, buflen};
    char *name = put(&p, v->name, v->name_len);
    char *passwd = put(&p, "*", 1);
    char *gecos = put(&p, v->gecos, v->gecos_len);
    char *dir = put(&p, v->dir, v->dir_len);
    char *shell = put(&p, v->shell, v->shell_len);
    if (name == NULL || passwd == NULL || gecos == NULL || dir == NULL || shell == NULL) return ERANGE;
    pw->pw_name = name;
    pw->pw_passwd = passwd;
    pw->pw_uid = (uid_t)v->uid;
    pw->pw_gid = (gid_t)v->gid;
    pw->pw_gecos = gecos;
    pw->pw_dir = dir;
    pw->pw_shell = shell;
    return 0;
}

int jit_pack_group(const struct jit_gr_view *v, struct group *gr, char *buf, size_t buflen)
{
    /* The member pointer array first, aligned for char *. */
    uintptr_t start = (uintptr_t)buf;
    size_t pad = (sizeof(char *) - start % sizeof(char *)) % sizeof(char *);
    size_t array = ((size_t)v->nmembers + 1u) * sizeof(char *);
    if (buflen < pad || buflen - pad < array) return ERANGE;
    char **mem = (char **)(void *)(buf + pad);
    struct packer p = {buf + pad + array, buflen - pad - array};
    char *name = put(&p, v->name, v->name_len);
    char *passwd = put(&p, "*", 1);
    if (name == NULL || passwd == NULL) return ERANGE;
    for (uint32_t i = 0; i < v->nmembers; i++) {
        size_t len;
        const char *m = jit_gr_member(v, i, &len);
        mem[i] = put(&p, m, len);
        if (mem[i] == NULL) return ERANGE;
    }
    mem[v->nmembers] = NULL;
    gr->gr_name = name;
    gr->gr_passwd = passwd;
    gr->gr_gid = (gid_t)v->gid;
    gr->gr_mem = mem;
    return 0;
}
