/* libFuzzer target: the snapshot reader on arbitrary bytes. Whatever the
 * input, validation, lookups, enumeration and packing into small and large
 * buffers must neither crash nor read outside the input (ASan/UBSan). */
#include "nss_pack.h"
#include "snapshot_reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void pack_user(const struct jit_pw_view *v)
{
    static char small[48], large[16384];
    struct passwd pw;
    (void)jit_pack_passwd(v, &pw, small, sizeof small);
    if (jit_pack_passwd(v, &pw, large, sizeof large) == 0 && strlen(pw.pw_name) != v->name_len) abort();
    for (uint32_t i = 0; i < v->ngroups; i++) (void)jit_pw_group(v, i);
}

static void pack_group(const struct jit_gr_view *v)
{
    static char small[64];
    static char large[1 << 20];
    struct group gr;
    (void)jit_pack_group(v, &gr, small, sizeof small);
    (void)jit_pack_group(v, &gr, large, sizeof large);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader gets page-aligned memory from mmap; give it 8-aligned memory. */
    void *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    struct jit_snap s;
    if (jit_snap_from_memory(copy, size, &s) == JIT_SNAP_OK) {
        static const char *names[] = {"alice", "bob", "carol", "u0", "u1", "u17", "root", "_x", "team"};
        struct jit_pw_view pv;
        struct jit_gr_view gv;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (jit_snap_user_by_name(&s, names[i], &pv) == JIT_SNAP_OK) pack_user(&pv);
            if (jit_snap_group_by_name(&s, names[i], &gv) == JIT_SNAP_OK) pack_group(&gv);
        }
        static const uint32_t ids[] = {1000, 5000, 70000, 70001, 70002, 90000, 100000, 100017, 2147483646u};
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            if (jit_snap_user_by_uid(&s, ids[i], &pv) == JIT_SNAP_OK) pack_user(&pv);
            if (jit_snap_group_by_gid(&s, ids[i], &gv) == JIT_SNAP_OK) pack_group(&gv);
        }
        for (uint32_t i = 0; i < 256; i++) {
            int a = jit_snap_user_at(&s, i, &pv);
            if (a == JIT_SNAP_OK) {
                pack_user(&pv);
                /* What enumeration returns must be found again by name and uid. */
                char name[40];
                memcpy(name, pv.name, pv.name_len + 1);
                struct jit_pw_view again;
                if (jit_snap_user_by_name(&s, name, &again) == JIT_SNAP_OK && again.uid != pv.uid &&
                    jit_snap_user_by_uid(&s, again.uid, &again) == JIT_SNAP_OK && strcmp(again.name, name) == 0)
                    abort(); /* two records with one name answering differently: never */
            }
            int b = jit_snap_group_at(&s, i, &gv);
            if (b == JIT_SNAP_OK) pack_group(&gv);
            if (a == JIT_SNAP_NOTFOUND && b == JIT_SNAP_NOTFOUND) break;
        }
    }
    free(copy);
    return 0;
}
