/* File-system helpers with crash-safety: atomic whole-file writes and directory fsync. */
#ifndef TLSWARD_COMMON_FSUTIL_H
#define TLSWARD_COMMON_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Writes data to path atomically: a temp file in the same directory with `mode`, fsync,
 * rename over path, fsync of the directory. With exclusive, fails (errno EEXIST) when
 * path already exists. Returns 0 or -1 with errno set. */
int fsutil_write_atomic(const char *path, const void *data, size_t n, mode_t mode, int exclusive);
/* Reads a whole file of at most max bytes; *out is NUL-terminated (caller xfree's). 0 or -1. */
int fsutil_read_file(const char *path, size_t max, char **out, size_t *len);
/* fsync of the directory containing path (or of path itself if it is a directory). */
int fsutil_fsync_dir(const char *path);
/* mkdir -p with the given mode for created directories. 0 or -1. */
int fsutil_mkdirs(const char *path, mode_t mode);

#endif
