/* Copies snapshot views into the caller's struct passwd / struct group and
 * buffer, the NSS way: every returned pointer points into `buf`; ERANGE when
 * the buffer is too small (nothing partial is returned). */
#ifndef JIT_NSS_PACK_H
#define JIT_NSS_PACK_H

#include "snapshot_reader.h"

#include <grp.h>
#include <pwd.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0 or ERANGE */
int jit_pack_passwd(const struct jit_pw_view *v, struct passwd *pw, char *buf, size_t buflen);
int jit_pack_group(const struct jit_gr_view *v, struct group *gr, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif

#endif
