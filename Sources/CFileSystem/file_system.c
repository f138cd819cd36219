#define _GNU_SOURCE
#include "file_system.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int mf_start_writeback(int fd, long long offset, long long length) {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

int mf_open_unnamed(const char *folder, unsigned int permissions) {
#if defined(__linux__) && defined(O_TMPFILE)
    return open(folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)permissions);
#else
    (void)folder; (void)permissions;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

int mf_link_unnamed(int fd, const char *path) {
#if defined(__linux__)
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
#else
    (void)fd; (void)path;
    errno = EOPNOTSUPP;
    return -1;
#endif
}
