// File-system calls Swift's Glibc module does not import (GNU extensions and Linux flags).
// Imported by FileFormats only.
#ifndef MELFORGE_FILE_SYSTEM_H
#define MELFORGE_FILE_SYSTEM_H

/// Asks the kernel to start writing the dirty pages of bytes [offset, offset + length) of
/// `fd` to the disk, without waiting for them (Linux's sync_file_range with
/// SYNC_FILE_RANGE_WRITE). A large file written piece by piece then reaches the disk while
/// its writer works on, and the final fsync waits only for the last pieces. Durability
/// still comes from fsync alone. Returns 0, or -1 with errno set; a no-op returning 0 where
/// the call does not exist.
int mf_start_writeback(int fd, long long offset, long long length);

/// Opens a new file without a name in `folder` for writing (Linux's O_TMPFILE): it gets its
/// name from mf_link_unnamed, and if the process dies first the file system frees it, so
/// nothing half-written is ever left behind. Returns the descriptor, or -1 with errno set
/// where the system or the file system cannot (EOPNOTSUPP, EISDIR, EINVAL, ...).
int mf_open_unnamed(const char *folder, unsigned int permissions);

/// Gives the file mf_open_unnamed opened the name `path` (linkat through /proc/self/fd).
/// Fails with EEXIST when `path` exists: a link never replaces a file. Returns 0, or -1
/// with errno set.
int mf_link_unnamed(int fd, const char *path);

#endif
