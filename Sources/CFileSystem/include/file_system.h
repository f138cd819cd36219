// File-system calls Swift's Glibc module does not import (GNU extensions). Imported by
// FileFormats only.
#ifndef MELFORGE_FILE_SYSTEM_H
#define MELFORGE_FILE_SYSTEM_H

/// Asks the kernel to start writing the dirty pages of bytes [offset, offset + length) of
/// `fd` to the disk, without waiting for them (Linux's sync_file_range with
/// SYNC_FILE_RANGE_WRITE). A large file written piece by piece then reaches the disk while
/// its writer works on, and the final fsync waits only for the last pieces. Durability
/// still comes from fsync alone. Returns 0, or -1 with errno set; a no-op returning 0 where
/// the call does not exist.
int mf_start_writeback(int fd, long long offset, long long length);

#endif
