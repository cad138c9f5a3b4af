/* Deployment of certificate packs to disk, crash-safe and reader-consistent, and the
 * operator's deploy hook (SPEC §4.3, §6).
 *
 * DESIGN
 * ------
 * Each pack's live name <zone>/<pack id> is a relative symlink to an immutable versioned
 * sibling directory .<pack id>.<16 hex>. A deployment never touches a live directory: it
 * creates a fresh one, writes every file into it (all written, then each fsync'd, then
 * the directory: deploy__write_set), creates a temp symlink .<pack id>.<hex>.link to it, fsyncs the
 * zone directory, and rename()s the temp symlink over the live name — the single atomic step — then
 * fsyncs the zone directory again and removes the old set. Whatever instant a crash (kill -9, power
 * loss) hits, the live name names either the old or the new complete set; what remains besides (a
 * half-written directory, a temp symlink, an old directory not yet removed) is named so that
 * deploy_sweep recognises it, and it is swept before the pack's next deployment or removal. The
 * random suffix means a name is never reused, so a reader can never confuse two generations.
 *
 * Everything that changes a zone's directory (deploy, remove, sweep) holds flock() on that
 * directory, which serialises threads and processes alike; a sweep therefore never sees a
 * deployment's work in progress. Zone directories are never removed (an empty one is
 * harmless, and removing it would race with a process about to lock it).
 *
 * Only names this module generates are ever deleted: a symlink target is removed only if it
 * parses as a versioned directory of the same pack, and removal never follows symlinks.
 *
 * The hook runs through common/hook (hook_run), with only PATH and TLSWARD_* in its
 * environment. */
#include "worker/deploy.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/hook.h"
#include "common/log.h"
#include "common/util.h"

#define DEPLOY_DIR_MODE 0755
#define DEPLOY_NAME_MAX 200 /* leaves room for ".<name>.<16 hex>.link" within NAME_MAX */
#define DEPLOY_GEN_BYTES 8
#define DEPLOY_GEN_HEX (2 * DEPLOY_GEN_BYTES)
#define DEPLOY_LINK_SUFFIX ".link"

bool deploy_name_ok(const char *name)
{
    if (!name || name[0] == '\0' || name[0] == '.')
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, len++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return false;
    return len <= DEPLOY_NAME_MAX;
}

char *deploy_pack_path(const char *deploy_root, const char *zone, const char *pack_id)
{
    return xasprintf("%s/%s/%s", deploy_root, zone, pack_id);
}

/* ---- names of versioned directories and temp symlinks ---- */

static int deploy__is_gen(const char *s)
{
    for (int i = 0; i < DEPLOY_GEN_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Parses ".<pack>.<16 hex>" (a versioned directory) or ".<pack>.<16 hex>.link" (a temp
 * symlink). On a match returns 1 with the pack id at name + 1, *pack_len long. */
static int deploy__parse_entry(const char *name, size_t *pack_len, int *is_link)
{
    size_t len = strlen(name), suffix = strlen(DEPLOY_LINK_SUFFIX);
    if (name[0] != '.')
        return 0;
    *is_link = len > suffix && strcmp(name + len - suffix, DEPLOY_LINK_SUFFIX) == 0;
    if (*is_link)
        len -= suffix;
    if (len < 2 + 1 + DEPLOY_GEN_HEX) /* '.', a pack id of at least one character, '.', hex */
        return 0;
    if (name[len - DEPLOY_GEN_HEX - 1] != '.' || !deploy__is_gen(name + len - DEPLOY_GEN_HEX))
        return 0;
    *pack_len = len - DEPLOY_GEN_HEX - 2;
    return name[1] != '.';
}

/* True when entry is a versioned directory name (not a temp symlink) of pack_id. */
static int deploy__is_version_of(const char *entry, const char *pack_id)
{
    size_t pack_len;
    int is_link;
    return deploy__parse_entry(entry, &pack_len, &is_link) && !is_link &&
           pack_len == strlen(pack_id) && memcmp(entry + 1, pack_id, pack_len) == 0;
}

/* ---- directory helpers (relative to a directory fd, never following symlinks) ---- */

/* readlinkat into a fresh string (caller xfree's), or NULL with errno (ENOENT: no such
 * entry; EINVAL: not a symlink). */
static char *deploy__readlink(int dfd, const char *name)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, buf, sizeof buf);
    if (n < 0)
        return NULL;
    if ((size_t)n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return xstrndup(buf, (size_t)n);
}

/* Removes name under dfd: a file or symlink is unlinked, a directory emptied
 * recursively and removed. Symlinks are never followed. A missing entry is success.
 * 0 or -1 with errno. */
static int deploy__remove_tree_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    int rc = 0, saved = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (deploy__remove_tree_at(dirfd(d), e->d_name) != 0 && rc == 0) {
            rc = -1;
            saved = errno;
        }
    }
    closedir(d);
    if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        rc = -1;
        saved = errno;
    }
    errno = saved;
    return rc;
}

/* The reason why the pack's live name could not be read as a symlink (err from readlink). */
static void deploy__why_link(char *why, size_t why_size, const char *zone, const char *pack_id,
                             int err)
{
    if (err == EINVAL) /* we never replace or delete what tlsward did not create */
        util_why(why, why_size, "deploy: %s/%s exists and is not a symlink; refusing", zone,
                 pack_id);
    else
        util_why(why, why_size, "deploy: cannot read %s/%s: %s", zone, pack_id, strerror(err));
}

/* Opens the zone directory and takes its exclusive flock() (blocking). Returns the fd,
 * which holds the lock until closed, or -1 with errno. */
static int deploy__lock_zone(const char *zpath)
{
    int fd = open(zpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    return fd;
}

int deploy_lock_dir(const char *path)
{
    return deploy__lock_zone(path);
}

/* The sweep of one locked zone directory; pack_id NULL sweeps every pack. Returns how many
 * entries it removed, or -1 with why. */
static int deploy__sweep_locked(int zfd, const char *zone, const char *pack_id, char *why,
                                size_t why_size)
{
    int lfd = openat(zfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own read position */
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        util_why(why, why_size, "deploy: cannot list %s: %s", zone, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    /* Collect first, act after: no removal while the directory is being read. */
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t pack_len;
        int is_link;
        if (!deploy__parse_entry(e->d_name, &pack_len, &is_link))
            continue;
        if (pack_id && (pack_len != strlen(pack_id) || memcmp(e->d_name + 1, pack_id, pack_len)))
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[count++] = xstrdup(e->d_name);
    }
    closedir(d);

    int removed = 0, rc = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = names[i];
        size_t pack_len;
        int is_link;
        (void)deploy__parse_entry(name, &pack_len, &is_link);
        struct stat st;
        if (fstatat(zfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (is_link ? !S_ISLNK(st.st_mode) : !S_ISDIR(st.st_mode)) {
            log_msg(LOG_WARN, "deploy: leaving %s/%s alone: not what tlsward creates", zone, name);
            continue;
        }
        if (!is_link) { /* keep the directory the pack's live symlink names */
            char *pack = xstrndup(name + 1, pack_len);
            char *live = deploy__readlink(zfd, pack);
            int keep = live && strcmp(live, name) == 0;
            xfree(live);
            xfree(pack);
            if (keep)
                continue;
        }
        if (deploy__remove_tree_at(zfd, name) != 0) {
            util_why(why, why_size, "deploy: cannot remove leftover %s/%s: %s", zone, name,
                     strerror(errno));
            rc = -1;
            continue;
        }
        log_msg(LOG_INFO, "deploy: removed %s/%s left by an interrupted deployment", zone, name);
        removed++;
    }
    for (size_t i = 0; i < count; i++)
        xfree(names[i]);
    xfree(names);
    return rc == 0 ? removed : -1;
}

/* ---- deploy, remove, sweep ---- */

/* A refused name as it may appear in a message: at most 64 bytes, control characters
 * replaced, so that a hostile name cannot forge log lines. */
static const char *deploy__shown(const char *name, char out[72])
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p && o < 64; p++)
        out[o++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
    out[o] = '\0';
    return out;
}

/* Checks the zone, pack and file names; 0 or -1 with why. */
static int deploy__check_names(const char *zone, const char *pack_id,
                               const struct deploy_files *files, size_t n, char *why,
                               size_t why_size)
{
    char shown[72];
    if (!deploy_name_ok(zone)) {
        util_why(why, why_size, "deploy: refusing zone name \"%s\"", deploy__shown(zone, shown));
        return -1;
    }
    if (!deploy_name_ok(pack_id)) {
        util_why(why, why_size, "deploy: refusing pack id \"%s\"", deploy__shown(pack_id, shown));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!deploy_name_ok(files[i].name)) {
            util_why(why, why_size, "deploy: refusing file name \"%s\"",
                     deploy__shown(files[i].name, shown));
            return -1;
        }
        assert(files[i].data || files[i].len == 0);
    }
    return 0;
}

/* Creates a fresh versioned directory of pack_id in zfd; its name goes to out. 0 or -1. */
static int deploy__make_version(int zfd, const char *pack_id, char **out)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char rnd[DEPLOY_GEN_BYTES];
        char hex[DEPLOY_GEN_HEX + 1];
        util_random_bytes(rnd, sizeof rnd);
        util_hex(rnd, sizeof rnd, hex);
        char *name = xasprintf(".%s.%s", pack_id, hex);
        if (mkdirat(zfd, name, DEPLOY_DIR_MODE) == 0) {
            /* mkdir applied the umask; servers running as another user must traverse it. */
            if (fchmodat(zfd, name, DEPLOY_DIR_MODE, 0) != 0) {
                int saved = errno;
                (void)unlinkat(zfd, name, AT_REMOVEDIR);
                xfree(name);
                errno = saved;
                return -1;
            }
            *out = name;
            return 0;
        }
        int saved = errno;
        xfree(name);
        if (saved != EEXIST) {
            errno = saved;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Writes all n bytes; 0, or -1 with errno. */
static int deploy__write_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the files of a new set into its fresh directory `version` of zfd, then makes them
 * durable: every file created (exclusively: a name given twice fails) and written first,
 * then each fsync'd, then the directory. The set becomes visible only through the symlink
 * swap that follows, so a file needs no rename of its own (a crash before the swap leaves
 * a directory the sweep removes), and writing all of them before the first fsync lets one
 * file-system journal commit carry every file: the other fsyncs find their data already
 * on disk. (A rename and a directory fsync per file made a deployment ten journal
 * commits, the slowest step between an order and its active pack.) 0, or -1 with errno
 * and *failed the index of the file that failed (n: the directory). */
static int deploy__write_set(int zfd, const char *version, const struct deploy_files *files,
                             size_t n, size_t *failed)
{
    int dfd = openat(zfd, version, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        *failed = n;
        return -1;
    }
    int *fds = xcalloc(n ? n : 1, sizeof *fds);
    size_t opened = 0;
    int rc = 0, saved = 0;
    for (size_t i = 0; i < n && rc == 0; i++, opened++) {
        mode_t mode = files[i].mode & 07777;
        fds[i] =
            openat(dfd, files[i].name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        /* fchmod: open() applied the umask, the caller asked for exactly `mode`. */
        if (fds[i] < 0 || fchmod(fds[i], mode) != 0 ||
            deploy__write_all(fds[i], files[i].data, files[i].len) != 0) {
            saved = errno;
            *failed = i;
            rc = -1;
        }
    }
    for (size_t i = 0; i < opened; i++) {
        if (rc == 0 && fsync(fds[i]) != 0) {
            saved = errno;
            *failed = i;
            rc = -1;
        }
        if (fds[i] >= 0 && close(fds[i]) != 0 && rc == 0) {
            saved = errno;
            *failed = i;
            rc = -1;
        }
    }
    if (rc == 0 && fsync(dfd) != 0 && errno != EINVAL) {
        saved = errno; /* EINVAL: a file system that cannot fsync a directory */
        *failed = n;
        rc = -1;
    }
    close(dfd);
    xfree(fds);
    errno = saved;
    return rc;
}

int deploy_pack(const char *deploy_root, const char *zone, const char *pack_id,
                const struct deploy_files *files, size_t n, char *why, size_t why_size)
{
    if (deploy__check_names(zone, pack_id, files, n, why, why_size) != 0)
        return -1;
    if (n == 0) {
        util_why(why, why_size, "deploy: %s/%s: no files to deploy", zone, pack_id);
        return -1;
    }
    char *zpath = xasprintf("%s/%s", deploy_root, zone);
    char *version = NULL, *link_name = NULL, *old = NULL;
    int rc = -1, zfd = -1, swapped = 0;

    if (fsutil_mkdirs(zpath, DEPLOY_DIR_MODE) != 0 || (zfd = deploy__lock_zone(zpath)) < 0) {
        util_why(why, why_size, "deploy: cannot open %s: %s", zpath, strerror(errno));
        goto out;
    }
    old = deploy__readlink(zfd, pack_id);
    if (!old && errno != ENOENT) {
        deploy__why_link(why, why_size, zone, pack_id, errno);
        goto out;
    }
    char sweep_why[256];
    if (deploy__sweep_locked(zfd, zone, pack_id, sweep_why, sizeof sweep_why) < 0)
        log_msg(LOG_WARN, "%s", sweep_why); /* leftovers only cost space */

    if (deploy__make_version(zfd, pack_id, &version) != 0) {
        util_why(why, why_size, "deploy: cannot create a directory in %s: %s", zpath,
                 strerror(errno));
        goto out;
    }
    size_t failed = 0;
    if (deploy__write_set(zfd, version, files, n, &failed) != 0) {
        util_why(why, why_size, "deploy: cannot write %s/%s/%s: %s", zone, pack_id,
                 failed < n ? files[failed].name : ".", strerror(errno));
        goto out;
    }
    link_name = xasprintf("%s%s", version, DEPLOY_LINK_SUFFIX);
    if (symlinkat(version, zfd, link_name) != 0) {
        util_why(why, why_size, "deploy: cannot create a symlink in %s: %s", zpath,
                 strerror(errno));
        xfree(link_name);
        link_name = NULL;
        goto out;
    }
    /* The new directory's entry and the temp symlink are durable before the swap. */
    if (fsutil_fsync_dir(zpath) != 0) {
        util_why(why, why_size, "deploy: fsync %s: %s", zpath, strerror(errno));
        goto out;
    }
    if (renameat(zfd, link_name, zfd, pack_id) != 0) {
        util_why(why, why_size, "deploy: cannot swap %s/%s: %s", zone, pack_id, strerror(errno));
        goto out;
    }
    swapped = 1;
    if (fsutil_fsync_dir(zpath) != 0) {
        /* The swap is visible but may not survive power loss: report it so it is retried;
         * the old directory stays for the sweep. */
        util_why(why, why_size, "deploy: fsync %s: %s", zpath, strerror(errno));
        goto out;
    }
    if (old) {
        if (!deploy__is_version_of(old, pack_id))
            log_msg(LOG_WARN,
                    "deploy: %s/%s pointed at %s, which tlsward did not create; "
                    "leaving it",
                    zone, pack_id, old);
        else if (deploy__remove_tree_at(zfd, old) != 0)
            log_msg(LOG_WARN,
                    "deploy: cannot remove the previous set %s/%s: %s (the sweep "
                    "will retry)",
                    zone, old, strerror(errno));
    }
    rc = 0;
out:
    if (rc != 0 && zfd >= 0 && !swapped) {
        if (link_name)
            (void)unlinkat(zfd, link_name, 0);
        if (version)
            (void)deploy__remove_tree_at(zfd, version);
    }
    if (zfd >= 0)
        close(zfd); /* releases the lock */
    xfree(link_name);
    xfree(version);
    xfree(old);
    xfree(zpath);
    return rc;
}

int deploy_remove(const char *deploy_root, const char *zone, const char *pack_id, char *why,
                  size_t why_size)
{
    if (deploy__check_names(zone, pack_id, NULL, 0, why, why_size) != 0)
        return -1;
    char *zpath = xasprintf("%s/%s", deploy_root, zone);
    char *target = NULL;
    int rc = -1;
    int zfd = deploy__lock_zone(zpath);
    if (zfd < 0) {
        if (errno == ENOENT)
            rc = 0; /* never deployed: nothing to remove */
        else
            util_why(why, why_size, "deploy: cannot open %s: %s", zpath, strerror(errno));
        goto out;
    }
    target = deploy__readlink(zfd, pack_id);
    if (!target && errno != ENOENT) {
        deploy__why_link(why, why_size, zone, pack_id, errno);
        goto out;
    }
    if (target) {
        /* The symlink goes first: from then on no reader can reach the set being removed. */
        if (unlinkat(zfd, pack_id, 0) != 0 || fsutil_fsync_dir(zpath) != 0) {
            util_why(why, why_size, "deploy: cannot remove %s/%s: %s", zone, pack_id,
                     strerror(errno));
            goto out;
        }
        if (deploy__is_version_of(target, pack_id) && deploy__remove_tree_at(zfd, target) != 0) {
            util_why(why, why_size, "deploy: cannot remove %s/%s: %s", zone, target,
                     strerror(errno));
            goto out;
        }
    }
    if (deploy__sweep_locked(zfd, zone, pack_id, why, why_size) < 0)
        goto out;
    rc = 0;
out:
    if (zfd >= 0)
        close(zfd);
    xfree(target);
    xfree(zpath);
    return rc;
}

/* Sweeps one zone under its lock. A missing zone directory has nothing to sweep. */
static int deploy__sweep_zone(const char *deploy_root, const char *zone, const char *pack_id,
                              char *why, size_t why_size)
{
    char *zpath = xasprintf("%s/%s", deploy_root, zone);
    int zfd = deploy__lock_zone(zpath), rc;
    if (zfd < 0) {
        rc = errno == ENOENT ? 0 : -1;
        if (rc)
            util_why(why, why_size, "deploy: cannot open %s: %s", zpath, strerror(errno));
    } else {
        rc = deploy__sweep_locked(zfd, zone, pack_id, why, why_size);
        close(zfd);
    }
    xfree(zpath);
    return rc;
}

int deploy_sweep(const char *deploy_root, const char *zone, const char *pack_id, char *why,
                 size_t why_size)
{
    char shown[72];
    if (zone && !deploy_name_ok(zone)) {
        util_why(why, why_size, "deploy: refusing zone name \"%s\"", deploy__shown(zone, shown));
        return -1;
    }
    if (pack_id && !deploy_name_ok(pack_id)) {
        util_why(why, why_size, "deploy: refusing pack id \"%s\"", deploy__shown(pack_id, shown));
        return -1;
    }
    if (zone)
        return deploy__sweep_zone(deploy_root, zone, pack_id, why, why_size);

    DIR *d = opendir(deploy_root);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        util_why(why, why_size, "deploy: cannot list %s: %s", deploy_root, strerror(errno));
        return -1;
    }
    int total = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (!deploy_name_ok(e->d_name) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        int r = deploy__sweep_zone(deploy_root, e->d_name, pack_id, why, why_size);
        if (r < 0)
            rc = -1;
        else
            total += r;
    }
    closedir(d);
    return rc == 0 ? total : -1;
}

/* ---- the hook ---- */

/* The hook's TLSWARD_* variables ("NAME=value"). Caller frees every string and the array. */
static char **deploy__hook_vars(const struct deploy_env *env)
{
    size_t hosts_len = 1, o = 0;
    for (size_t i = 0; i < env->n_hosts; i++)
        hosts_len += strlen(env->hosts[i]) + 1;
    char *hosts = xmalloc(hosts_len);
    for (size_t i = 0; i < env->n_hosts; i++) {
        size_t len = strlen(env->hosts[i]);
        if (i)
            hosts[o++] = ' ';
        memcpy(hosts + o, env->hosts[i], len);
        o += len;
    }
    hosts[o] = '\0';
    char **vars = xcalloc(8, sizeof *vars);
    vars[0] = xasprintf("TLSWARD_ZONE=%s", env->zone ? env->zone : "");
    vars[1] = xasprintf("TLSWARD_PACK_ID=%s", env->pack_id ? env->pack_id : "");
    vars[2] = xasprintf("TLSWARD_HOSTS=%s", hosts);
    vars[3] = xasprintf("TLSWARD_DIR=%s", env->dir ? env->dir : "");
    vars[4] =
        xasprintf("TLSWARD_EVENT=%s", env->event == DEPLOY_EVENT_DELETE ? "delete" : "deploy");
    vars[5] = xasprintf("TLSWARD_ZONE_ID=%s", env->zone_id ? env->zone_id : "");
    vars[6] = xasprintf("TLSWARD_ACCOUNT_ID=%s", env->account_id ? env->account_id : "");
    xfree(hosts);
    return vars;
}

int deploy_run_hook(const char *hook, const struct deploy_env *env, int timeout_s, char *why,
                    size_t why_size)
{
    if (!hook || !*hook)
        return 0;
    assert(env && timeout_s > 0);
    char **vars = deploy__hook_vars(env);
    int rc = hook_run(hook, (const char *const *)vars, "deploy hook", timeout_s, why, why_size);
    for (char **v = vars; *v; v++)
        xfree(*v);
    xfree(vars);
    return rc;
}
