/* File-system helpers with crash-safety: atomic whole-file writes (temp file in the same
 * directory, fsync, rename, fsync of the directory), whole-file reads with a size cap,
 * directory fsync and mkdir -p.
 *
 * Why each step of fsutil_write_atomic exists: the temp file lives in the target's
 * directory so rename() stays within one file system (atomic); the data is fsync'd before
 * the rename so the new name never points at unwritten blocks after a crash; the directory
 * is fsync'd after it so the rename itself survives power loss. The exclusive variant
 * uses renameat2(RENAME_NOREPLACE) where the kernel and file system support it, otherwise
 * link() (which also refuses an existing target) followed by unlink() of the temp name. */
#include "common/fsutil.h"

#include "common/alloc.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* The directory part of path as a fresh string: "." for a bare name, "/" for "/x". */
static char *fsutil__dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Writes all n bytes, retrying on EINTR and short writes. 0 or -1 with errno. */
static int fsutil__write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Renames tmp to path, failing with EEXIST when path exists. 0 or -1 with errno. */
static int fsutil__rename_noreplace(const char *tmp, const char *path)
{
#ifdef SYS_renameat2
    if (syscall(SYS_renameat2, AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    /* ENOSYS: old kernel; EINVAL: file system without RENAME_NOREPLACE. Anything else is
     * a real answer (EEXIST included). */
    if (errno != ENOSYS && errno != EINVAL)
        return -1;
#endif
    if (link(tmp, path) != 0)
        return -1;
    /* The target now exists with the full content; a failure to drop the temp name is
     * reported by the caller's cleanup, which unlinks it again. */
    (void)unlink(tmp);
    return 0;
}

int fsutil_write_atomic(const char *path, const void *data, size_t n, mode_t mode, int exclusive)
{
    char *dir = fsutil__dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    unsigned char rnd[8];
    char rnd_hex[2 * sizeof rnd + 1];
    util_random_bytes(rnd, sizeof rnd);
    util_hex(rnd, sizeof rnd, rnd_hex);
    char *tmp = xasprintf("%s/.%s.tmp.%ld.%s", dir, base, (long)getpid(), rnd_hex);
    int rc = -1, saved = 0, fd = -1, tmp_exists = 0;

    if (*base == '\0') {
        saved = EISDIR;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (fd < 0) {
        saved = errno;
        goto out;
    }
    tmp_exists = 1;
    /* open() applied the umask; the caller asked for exactly `mode`. */
    if (fchmod(fd, mode & 07777) != 0 || fsutil__write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        saved = errno;
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        saved = errno;
        goto out;
    }
    if (exclusive ? fsutil__rename_noreplace(tmp, path) != 0 : rename(tmp, path) != 0) {
        saved = errno;
        goto out;
    }
    tmp_exists = !exclusive ? 0 : (access(tmp, F_OK) == 0);
    if (fsutil_fsync_dir(dir) != 0) {
        saved = errno;
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        (void)unlink(tmp);
    xfree(tmp);
    xfree(dir);
    if (rc != 0)
        errno = saved;
    return rc;
}

int fsutil_read_file(const char *path, size_t max, char **out, size_t *len)
{
    if (max == SIZE_MAX) /* keep max + 1 representable */
        max--;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 4096 < max + 1 ? 4096 : max + 1, used = 0;
    char *buf = xmalloc(cap);
    int saved = 0;
    for (;;) {
        if (used == cap) {
            if (cap > max) { /* cap is max + 1 and full: the file is larger than max */
                saved = EFBIG;
                goto fail;
            }
            cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            saved = errno;
            goto fail;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    if (used > max) {
        saved = EFBIG;
        goto fail;
    }
    close(fd);
    if (used == cap)
        buf = xrealloc(buf, used + 1);
    buf[used] = '\0';
    *out = buf;
    if (len)
        *len = used;
    return 0;
fail:
    close(fd);
    xfree(buf);
    errno = saved;
    return -1;
}

int fsutil_fsync_dir(const char *path)
{
    struct stat st;
    char *dir =
        (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ? xstrdup(path) : fsutil__dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    xfree(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some file systems cannot fsync a directory (EINVAL); their metadata is as durable
     * as it gets, so this is not a failure. */
    if (rc != 0 && saved != EINVAL) {
        errno = saved;
        return -1;
    }
    return 0;
}

int fsutil_mkdirs(const char *path, mode_t mode)
{
    if (*path == '\0') {
        errno = ENOENT;
        return -1;
    }
    char *p = xstrdup(path);
    int rc = 0;
    /* Create every prefix ending before a '/', then the whole path. */
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char saved_c = *q;
        *q = '\0';
        if (mkdir(p, mode) != 0) {
            struct stat st;
            if (errno != EEXIST || stat(p, &st) != 0) {
                rc = -1;
            } else if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                rc = -1;
            }
        }
        *q = saved_c;
        if (rc != 0 || saved_c == '\0')
            break;
        while (q[1] == '/') /* collapse "a//b" */
            q++;
        if (q[1] == '\0') /* trailing slash */
            break;
    }
    int saved = errno;
    xfree(p);
    errno = saved;
    return rc;
}
