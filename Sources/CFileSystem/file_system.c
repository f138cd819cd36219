#define _GNU_SOURCE
#include "file_system.h"

#include <fcntl.h>

int mf_start_writeback(int fd, long long offset, long long length) {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}
