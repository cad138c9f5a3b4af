/* The start-up move of a name-keyed deploy tree to the id-keyed layout (see
 * deploy_migrate.h).
 *
 * DESIGN
 * ------
 * Old layout: DATA/deploy/<zone name>/{<pack id> -> .<pack id>.<hex>/, origin-pull/…}.
 * A zone name always has a dot and a zone id never does, so the directories to move are
 * told apart by name alone. Nothing is keyed by the old directory's name: each pack and
 * certificate is looked up by its own id, which tells its zone (two accounts' zones of one
 * name shared the old directory, and each gets its own again).
 *
 * A pack moves in two renames under the flock()s of both zone directories (old first,
 * then new: the same order everywhere, and deployments only ever take one): its versioned
 * set first, then the live symlink (its target is relative, so it resolves in the new
 * directory). A crash between them leaves the symlink in the old directory naming a set
 * already in the new one; the next start sees that and moves just the symlink. The sweep
 * that a starting worker runs afterwards never meets a half-moved pack, because this step
 * runs first. Origin-pull files move key first, then certificate, so a reader of the new
 * directory that finds a certificate also finds its key. */
#include "worker/deploy_migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "worker/aop_jobs.h"
#include "worker/deploy.h"

#define MIGRATE_DIR_MODE 0755

struct migrate {
    const char *root;
    struct store *store;
    int moved, failed;
};

/* The names in a directory (not "." or ".."), collected before anything moves. NULL when
 * the directory cannot be read (errno set). *n gets the count; free with free_names. */
static char **list_names(const char *path, int *n)
{
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return NULL;
    char **names = xcalloc(1, sizeof *names);
    int cap = 1;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            cap *= 2;
            names = xrealloc(names, (size_t)cap * sizeof *names);
        }
        names[(*n)++] = xstrdup(e->d_name);
    }
    closedir(d);
    return names;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        xfree(names[i]);
    xfree(names);
}

static void left(struct migrate *m, const char *zone_name, const char *what, const char *why)
{
    log_msg(LOG_WARN, "deploy upgrade: leaving %s/%s/%s: %s", m->root, zone_name, what, why);
    m->failed++;
}

/* True when target is ".<pack_id>.<something>": a set deploy_pack() made for this pack. */
static bool set_of(const char *target, const char *pack_id)
{
    size_t n = strlen(pack_id);
    return target[0] == '.' && strncmp(target + 1, pack_id, n) == 0 && target[n + 1] == '.' &&
           target[n + 2] != '\0' && !strchr(target, '/');
}

/* Moves one pack's symlink and set from the locked old directory (ofd) to its zone's. */
static void move_pack(struct migrate *m, const char *zone_name, int ofd, const char *pack_id)
{
    struct store_pack p;
    int rc = store_pack_by_id(m->store, pack_id, &p);
    if (rc != STORE_OK) {
        left(m, zone_name, pack_id,
             rc == STORE_NOT_FOUND ? "no such certificate pack in the store" : "store error");
        return;
    }
    char zone_id[STORE_ID_SIZE], target[256];
    memcpy(zone_id, p.zone_id, sizeof zone_id);
    store_pack_clear(&p);
    ssize_t len = readlinkat(ofd, pack_id, target, sizeof target - 1);
    if (len < 0) {
        left(m, zone_name, pack_id, errno == EINVAL ? "not a symlink" : strerror(errno));
        return;
    }
    target[len] = '\0';
    if (!set_of(target, pack_id)) {
        left(m, zone_name, pack_id, "its symlink names something tlsward did not create");
        return;
    }
    char *npath = xasprintf("%s/%s", m->root, zone_id), *opath = NULL;
    int nfd = -1;
    struct stat st;
    if (!util_is_id(zone_id) || fsutil_mkdirs(npath, MIGRATE_DIR_MODE) != 0 ||
        (nfd = deploy_lock_dir(npath)) < 0) {
        left(m, zone_name, pack_id, "cannot create or lock its zone's directory");
        goto out;
    }
    if (fstatat(nfd, pack_id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        left(m, zone_name, pack_id, "its zone's directory already holds a deployment of it");
        goto out;
    }
    if (fstatat(ofd, target, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (renameat(ofd, target, nfd, target) != 0) {
            left(m, zone_name, target, strerror(errno));
            goto out;
        }
    } else if (fstatat(nfd, target, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        left(m, zone_name, pack_id, "the set its symlink names is missing");
        goto out;
    } /* else: moved by a start that was interrupted; only the symlink is left to move */
    /* The set's new entry is durable before the symlink follows it. */
    if (fsutil_fsync_dir(npath) != 0 || renameat(ofd, pack_id, nfd, pack_id) != 0) {
        left(m, zone_name, pack_id, strerror(errno));
        goto out;
    }
    opath = xasprintf("%s/%s", m->root, zone_name);
    (void)fsutil_fsync_dir(npath);
    (void)fsutil_fsync_dir(opath);
    log_msg(LOG_INFO, "deploy upgrade: moved pack %s from %s/ to %s/", pack_id, zone_name, zone_id);
    m->moved++;
out:
    if (nfd >= 0)
        close(nfd);
    xfree(opath);
    xfree(npath);
}

/* Moves one origin-pull file (kind: "zone" or "hostnames") to its certificate's zone. */
static void move_origin_pull_file(struct migrate *m, const char *zone_name, const char *kind,
                                  const char *file)
{
    char id[UTIL_ID_LEN + 1], *what = xasprintf("origin-pull/%s/%s", kind, file);
    memcpy(id, file, UTIL_ID_LEN);
    id[UTIL_ID_LEN] = '\0';
    struct store_aop_cert c;
    int rc = store_aop_cert_get(m->store, NULL, STORE_AOP_KIND_INVALID, id, &c);
    if (rc != STORE_OK) {
        left(m, zone_name, what,
             rc == STORE_NOT_FOUND ? "no such origin-pull certificate in the store"
                                   : "store error");
        xfree(what);
        return;
    }
    char *from = xasprintf("%s/%s/%s", m->root, zone_name, what);
    char *to = xasprintf("%s/%s/%s", m->root, c.zone_id, what);
    char *dir = xasprintf("%s/%s/origin-pull/%s", m->root, c.zone_id, kind);
    store_aop_cert_clear(&c);
    if (fsutil_mkdirs(dir, MIGRATE_DIR_MODE) != 0 || rename(from, to) != 0 ||
        fsutil_fsync_dir(dir) != 0) {
        left(m, zone_name, what, strerror(errno));
    } else {
        m->moved++;
    }
    xfree(dir);
    xfree(to);
    xfree(from);
    xfree(what);
}

/* origin-pull/{zone,hostnames}/ of one old directory: keys first, then certificates. */
static void move_origin_pull(struct migrate *m, const char *zone_name)
{
    static const char *const kinds[] = {"zone", "hostnames"};
    static const char *const exts[] = {".key", ".crt"};
    for (size_t k = 0; k < 2; k++) {
        char *dir = xasprintf("%s/%s/origin-pull/%s", m->root, zone_name, kinds[k]);
        int n = 0;
        char **names = list_names(dir, &n);
        for (size_t x = 0; x < 2; x++)
            for (int i = 0; i < n; i++)
                if (aop_deploy_name_ok(names[i]) && strcmp(names[i] + UTIL_ID_LEN, exts[x]) == 0)
                    move_origin_pull_file(m, zone_name, kinds[k], names[i]);
        for (int i = 0; i < n; i++)
            if (!aop_deploy_name_ok(names[i]))
                left(m, zone_name, names[i], "not a file tlsward writes to origin-pull/");
        free_names(names, n);
        (void)fsutil_fsync_dir(dir);
        (void)rmdir(dir); /* only when emptied */
        xfree(dir);
    }
    char *dir = xasprintf("%s/%s/origin-pull", m->root, zone_name);
    (void)rmdir(dir);
    xfree(dir);
}

/* Everything under one name-keyed directory. */
static void move_zone_dir(struct migrate *m, const char *zone_name)
{
    char *opath = xasprintf("%s/%s", m->root, zone_name), why[256];
    int ofd = deploy_lock_dir(opath), n = 0;
    char **names = ofd >= 0 ? list_names(opath, &n) : NULL;
    if (!names) {
        left(m, zone_name, "", strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (names[i][0] == '.') /* a pack's set (moved with its symlink) or a leftover */
            continue;
        if (strcmp(names[i], "origin-pull") == 0)
            move_origin_pull(m, zone_name);
        else if (util_is_id(names[i]))
            move_pack(m, zone_name, ofd, names[i]);
        else
            left(m, zone_name, names[i], "not something tlsward deploys");
    }
    close(ofd);
    ofd = -1;
    /* What is left of ours (sets no symlink names: leftovers of a crash) is swept. */
    if (deploy_sweep(m->root, zone_name, NULL, why, sizeof why) < 0)
        log_msg(LOG_WARN, "deploy upgrade: %s", why);
    /* Not empty: what stays there was logged above, one line each. */
    if (rmdir(opath) != 0 && errno != ENOENT && errno != ENOTEMPTY)
        log_msg(LOG_WARN, "deploy upgrade: leaving %s: %s", opath, strerror(errno));
out:
    if (ofd >= 0)
        close(ofd);
    free_names(names, n);
    xfree(opath);
}

int deploy_migrate(const char *deploy_root, struct store *s, int *failed)
{
    struct migrate m = {.root = deploy_root, .store = s};
    int n = 0;
    char **names = list_names(deploy_root, &n);
    if (!names && errno != ENOENT) {
        log_msg(LOG_WARN, "deploy upgrade: cannot list %s: %s", deploy_root, strerror(errno));
        m.failed++;
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        char *path = xasprintf("%s/%s", deploy_root, names[i]);
        /* Zone names have a dot, ids do not: an id directory is already the new layout. */
        bool old = deploy_name_ok(names[i]) && strchr(names[i], '.') && lstat(path, &st) == 0 &&
                   S_ISDIR(st.st_mode);
        xfree(path);
        if (old)
            move_zone_dir(&m, names[i]);
    }
    free_names(names, n);
    if (failed)
        *failed = m.failed;
    return m.moved;
}

void deploy_migrate_at_start(struct app *app)
{
    if (!app->config.data_dir)
        return;
    char *root = xasprintf("%s/deploy", app->config.data_dir);
    int failed = 0, moved = deploy_migrate(root, app->store, &failed);
    if (moved || failed)
        log_msg(LOG_INFO,
                "deploy upgrade: moved %d item(s) to zone-id directories under %s; "
                "%d left in place (see above)",
                moved, root, failed);
    xfree(root);
}
