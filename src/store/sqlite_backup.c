/* store_sqlite_backup: a consistent online snapshot of a SQLite store (tlsward backup).
 *
 * How
 * - The source is opened on a connection of its own (never through a struct store: the
 *   server that owns the store may be running in another process) and a read transaction
 *   is held on it for the whole copy. In WAL mode a reader blocks no writer, and every
 *   step of SQLite's online backup then reads the same snapshot: without that hold, a
 *   write by another process between two steps restarts the copy from page 1, and a busy
 *   server could keep it restarting forever.
 * - Pages are copied STORE_BACKUP_STEP_PAGES at a time into a temp file next to the
 *   destination, so the progress callback can report on a large store.
 * - The copy is then checked from disk with PRAGMA integrity_check on a fresh read-only
 *   connection, fsync'd, and linked to the final name: link() refuses an existing file
 *   atomically (rename would replace it), then the temp name goes and the directory is
 *   fsync'd. Any failure removes the temp file: a backup is complete or absent.
 * - Log lines name SQLite's error, never a value from the store. */
#include "store/store.h"

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_BACKUP_STEP_PAGES 256
#define STORE_BACKUP_BUSY_MS 10000 /* as the store's own busy_timeout */

static const char sql_hold_snapshot[] = "BEGIN; SELECT count(*) FROM sqlite_schema;";
static const char sql_end_snapshot[] = "COMMIT";
static const char sql_integrity[] = "PRAGMA integrity_check(20)";
static const char sql_user_version[] = "PRAGMA user_version";

/* "file:" URI for path with everything but [A-Za-z0-9/._-] percent-encoded and
 * immutable=1: the check reads the file alone and creates no -wal/-shm beside it
 * (caller xfree's). */
static char *immutable_uri(const char *path)
{
    static const char prefix[] = "file:", suffix[] = "?immutable=1";
    size_t cap = sizeof prefix + 3 * strlen(path) + sizeof suffix;
    char *uri = xmalloc(cap);
    size_t n = (size_t)snprintf(uri, cap, "%s", prefix);
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                     (*s >= '0' && *s <= '9') || strchr("/._-", *s);
        n += (size_t)snprintf(uri + n, cap - n, plain ? "%c" : "%%%02X", *s);
    }
    snprintf(uri + n, cap - n, "%s", suffix);
    return uri;
}

/* Runs PRAGMA integrity_check and reads user_version on the finished copy: STORE_OK when
 * the check says exactly "ok", STORE_ERROR (logged with its first finding) otherwise. */
static int check_copy(const char *path, int *schema_version, bool *checked)
{
    char *uri = immutable_uri(path);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = STORE_ERROR;
    int src = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, sql_integrity, -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *verdict = (const char *)sqlite3_column_text(st, 0);
        bool ok = verdict && strcmp(verdict, "ok") == 0 && sqlite3_step(st) == SQLITE_DONE;
        if (!ok)
            log_msg(LOG_ERROR, "backup: the copy fails PRAGMA integrity_check: %.200s",
                    verdict ? verdict : "-");
        src = ok ? SQLITE_OK : SQLITE_CORRUPT;
        *checked = true;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, sql_user_version, -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        *schema_version = sqlite3_column_int(st, 0);
        rc = STORE_OK;
    } else if (src != SQLITE_CORRUPT) {
        log_msg(LOG_ERROR, "backup: cannot check the copy: %s (sqlite %d)",
                db ? sqlite3_errmsg(db) : "-", src);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    xfree(uri);
    return rc;
}

/* Copies the held snapshot of src into dst_path, STORE_BACKUP_STEP_PAGES at a time. */
static int copy_pages(sqlite3 *src, const char *dst_path, store_backup_progress_fn progress,
                      void *ctx, int *pages)
{
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", src, "main") : NULL;
    if (!b) {
        log_msg(LOG_ERROR, "backup: cannot start the copy: %s", dst ? sqlite3_errmsg(dst) : "-");
        sqlite3_close(dst);
        return STORE_ERROR;
    }
    /* Only the destination can be busy (the source snapshot is held), and nothing else
     * uses it: a bounded wait. */
    int busy_ms = 0;
    do {
        rc = sqlite3_backup_step(b, STORE_BACKUP_STEP_PAGES);
        int total = sqlite3_backup_pagecount(b);
        if (progress && (rc == SQLITE_OK || rc == SQLITE_DONE))
            progress(total - sqlite3_backup_remaining(b), total, ctx);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            busy_ms += sqlite3_sleep(10);
    } while (rc == SQLITE_OK ||
             ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy_ms < STORE_BACKUP_BUSY_MS));
    *pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
        log_msg(LOG_ERROR, "backup: copy failed: %s (sqlite %d)", sqlite3_errstr(rc), rc);
    if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_DONE)
        rc = SQLITE_IOERR;
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

/* fsync of a finished file. */
static int sync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

int store_sqlite_backup(const char *db_path, const char *out_path,
                        store_backup_progress_fn progress, void *ctx,
                        struct store_backup_result *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(db_path, &st) != 0)
        return STORE_NOT_FOUND;
    if (lstat(out_path, &st) == 0)
        return STORE_CONFLICT;
    char *tmp = xasprintf("%s.tmp-XXXXXX", out_path);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        log_msg(LOG_ERROR, "backup: cannot create a file next to the destination: %s",
                strerror(errno));
        xfree(tmp);
        return STORE_ERROR;
    }
    close(fd);

    sqlite3 *src = NULL;
    int rc = STORE_ERROR;
    /* Read-write like the server's connections, though it writes no row: a read-only
     * reader of a WAL database with no server running would leave an empty -wal and -shm
     * behind, where this one, the last to close, checkpoints and removes them. */
    int src_rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READWRITE, NULL);
    if (src_rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, STORE_BACKUP_BUSY_MS);
        src_rc = sqlite3_exec(src, sql_hold_snapshot, NULL, NULL, NULL);
    }
    if (src_rc != SQLITE_OK)
        log_msg(LOG_ERROR, "backup: cannot read the store: %s (sqlite %d)",
                src ? sqlite3_errmsg(src) : "-", src_rc);
    else
        rc = copy_pages(src, tmp, progress, ctx, &out->pages);
    if (src)
        sqlite3_exec(src, sql_end_snapshot, NULL, NULL, NULL);
    sqlite3_close(src);

    if (rc == STORE_OK) {
        rc = check_copy(tmp, &out->schema_version, &out->checked);
        out->integrity_ok = rc == STORE_OK;
    }
    if (rc == STORE_OK && (chmod(tmp, 0600) != 0 || sync_file(tmp) != 0)) {
        log_msg(LOG_ERROR, "backup: cannot sync the copy: %s", strerror(errno));
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK && link(tmp, out_path) != 0) {
        if (errno == EEXIST) {
            rc = STORE_CONFLICT; /* created meanwhile: left alone */
        } else {
            log_msg(LOG_ERROR, "backup: cannot create the destination: %s", strerror(errno));
            rc = STORE_ERROR;
        }
    }
    unlink(tmp);
    if (rc == STORE_OK && fsutil_fsync_dir(out_path) != 0) {
        log_msg(LOG_ERROR, "backup: cannot sync the destination directory: %s", strerror(errno));
        unlink(out_path);
        rc = STORE_ERROR;
    }
    xfree(tmp);
    return rc;
}
