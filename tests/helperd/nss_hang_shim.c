/* LD_PRELOAD shim for nss_hang_test.sh: getpwnam_r(3) for the user named in
 * JIT_TEST_NSS_HANG does not return (a directory that does not answer) until
 * the file named in JIT_TEST_NSS_RELEASE exists (at most 120 s); it creates
 * the file named in JIT_TEST_NSS_HELD when it starts waiting. Every other
 * call goes to the real getpwnam_r. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*getpwnam_r_fn)(const char*, struct passwd*, char*, size_t, struct passwd**);

int getpwnam_r(const char* name, struct passwd* pwd, char* buf, size_t size, struct passwd** result) {
    const char* hang = getenv("JIT_TEST_NSS_HANG");
    if (hang && strcmp(name, hang) == 0) {
        const char* held = getenv("JIT_TEST_NSS_HELD");
        const char* release = getenv("JIT_TEST_NSS_RELEASE");
        if (held) {
            int fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) close(fd);
        }
        const struct timespec step = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 12000 && !(release && access(release, F_OK) == 0); ++i) nanosleep(&step, NULL);
    }
    getpwnam_r_fn real = (getpwnam_r_fn)dlsym(RTLD_NEXT, "getpwnam_r");
    if (!real) return ENOSYS;
    return real(name, pwd, buf, size, result);
}
