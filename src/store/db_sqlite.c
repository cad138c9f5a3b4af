/* The SQLite driver of the database seam (db.h) and the SQLite store's opening.
 *
 * - One database file in WAL mode with synchronous=FULL: every commit fsyncs the WAL, so
 *   an acknowledged mutation survives kill -9 and power loss.
 * - Connections are opened with SQLITE_OPEN_NOMUTEX: a connection is only ever used by
 *   the thread that borrowed it. Concurrent writers from different connections (and
 *   processes) serialise on SQLite's write lock, waiting up to busy_timeout (10 s).
 * - Statements are prepared with SQLITE_PREPARE_PERSISTENT, once per connection.
 * - Schema changes are the append-only list in migrations.c, applied in one IMMEDIATE
 *   transaction at open and tracked with PRAGMA user_version.
 * - WAL checkpoints, with a pool of connections (a server): not in a commit. SQLite's own
 *   auto-checkpoint runs in the commit that fills the WAL past 1,000 pages, and with
 *   synchronous=FULL it copies them into the database file and fsyncs it right there, so
 *   every ~15th group commit (and every write queued behind it) waited for that. Instead a
 *   commit's WAL hook wakes a checkpointer thread with a connection of its own, which
 *   copies the bulk in PASSIVE checkpoints beside the writers. The WAL can only start over
 *   (and stop growing) when a write transaction begins right after a checkpoint that
 *   copied all of it, which a checkpointer racing the next batch rarely achieves: so once
 *   it has copied all but a short tail (STORE_WAL_TAIL_PAGES), the commit that sees it
 *   copies that tail itself (a few pages and the fsync of a file already synced), and the
 *   next batch restarts the WAL. Durability is the commit's WAL fsync, as before: a
 *   checkpoint copies committed frames and never removes one not yet in the database
 *   file. The WAL stays bounded: a commit that finds it past STORE_WAL_INLINE_PAGES (the
 *   checkpointer lagging far behind) checkpoints all of it. */
#include "store/store_internal.h"

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "store/migrations.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_BUSY_TIMEOUT_MS 10000
/* Page cache of one connection, in KiB (a string: it goes into the PRAGMA). */
#define STORE_CACHE_KIB "1024"
/* All SQLite memory of the process (caches, schemas, statements): past this SQLite reuses
 * its cache pages instead of allocating more. A soft bound: no allocation fails. */
#define STORE_SOFT_HEAP_LIMIT (16LL * 1024 * 1024)
/* WAL pages after a commit that wake the checkpointer (SQLite's auto-checkpoint default),
 * and past which the committing connection checkpoints itself (the WAL's bound, ~64 MiB). */
#define STORE_WAL_WAKE_PAGES 1000
#define STORE_WAL_INLINE_PAGES 16000
/* A tail of the WAL not yet copied that a commit copies itself (a few batches' pages). */
#define STORE_WAL_TAIL_PAGES 256

struct sqlite_stmt {
    struct db_stmt base;
    sqlite3_stmt *st;
};

static sqlite3_stmt *raw(struct db_stmt *st)
{
    return ((struct sqlite_stmt *)st)->st;
}

static sqlite3 *handle(struct conn *c)
{
    return c->db;
}

/* SQLite result codes (extended codes are on) as db_rc. */
static int map_rc(int rc)
{
    switch (rc) {
    case SQLITE_OK:
        return DB_OK;
    case SQLITE_ROW:
        return DB_ROW;
    case SQLITE_DONE:
        return DB_DONE;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return DB_E_UNIQUE;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return DB_E_FOREIGN;
    }
    return (rc & 0xff) == SQLITE_BUSY ? DB_E_BUSY : DB_ERROR;
}

static const struct db_driver sqlite_driver;

static struct db_stmt *sq_prepare(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(handle(c), stmt_sqlite_sql(id), -1, SQLITE_PREPARE_PERSISTENT, &st,
                                NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    struct sqlite_stmt *s = xcalloc(1, sizeof *s);
    s->base = (struct db_stmt){.drv = &sqlite_driver, .c = c, .id = id};
    s->st = st;
    c->stmts[id] = &s->base;
    return &s->base;
}

static int sq_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    return map_rc(sqlite3_bind_int64(raw(st), i, v));
}

static int sq_bind_text(struct db_stmt *st, int i, const char *s, int len)
{
    return map_rc(sqlite3_bind_text(raw(st), i, s, len, SQLITE_STATIC));
}

static int sq_bind_blob(struct db_stmt *st, int i, const void *p, size_t len)
{
    return map_rc(sqlite3_bind_blob(raw(st), i, p, (int)len, SQLITE_STATIC));
}

static int sq_bind_null(struct db_stmt *st, int i)
{
    return map_rc(sqlite3_bind_null(raw(st), i));
}

static int sq_step(struct db_stmt *st)
{
    return map_rc(sqlite3_step(raw(st)));
}

static void sq_reset(struct db_stmt *st)
{
    sqlite3_reset(raw(st));
    sqlite3_clear_bindings(raw(st));
}

static int64_t sq_col_int64(struct db_stmt *st, int i)
{
    return sqlite3_column_int64(raw(st), i);
}

static const char *sq_col_text(struct db_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(raw(st), i);
}

static const void *sq_col_blob(struct db_stmt *st, int i)
{
    return sqlite3_column_blob(raw(st), i);
}

static size_t sq_col_bytes(struct db_stmt *st, int i)
{
    return (size_t)sqlite3_column_bytes(raw(st), i);
}

static bool sq_col_null(struct db_stmt *st, int i)
{
    return sqlite3_column_type(raw(st), i) == SQLITE_NULL;
}

static int64_t sq_changes(struct conn *c)
{
    return sqlite3_changes(handle(c));
}

/* IMMEDIATE: the write lock is taken at BEGIN, so a transaction never fails half-way
 * because another connection started writing. */
static int sq_begin_write(struct conn *c)
{
    struct db_stmt *st = store__prepare(c, STMT_TX_BEGIN_WRITE);
    if (!st)
        return DB_ERROR;
    int rc = sq_step(st);
    sq_reset(st);
    return rc == DB_DONE ? DB_OK : rc;
}

static bool sq_in_transaction(struct conn *c)
{
    return !sqlite3_get_autocommit(handle(c));
}

static const char *sq_errmsg(struct conn *c)
{
    return c->db ? sqlite3_errmsg(handle(c)) : "no connection";
}

static int sq_query_int(struct conn *c, const char *sql, const char *arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(handle(c), sql, -1, &st, NULL);
    if (rc == SQLITE_OK && arg)
        rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return map_rc(rc);
}

static const struct db_driver sqlite_driver = {
    .name = "sqlite",
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .reset = sq_reset,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .col_bytes = sq_col_bytes,
    .col_null = sq_col_null,
    .changes = sq_changes,
    .begin_write = sq_begin_write,
    .in_transaction = sq_in_transaction,
    .errmsg = sq_errmsg,
    .query_int = sq_query_int,
};

/* ---- opening and migrating ---- */

static int sq_fail(struct conn *c, int rc, const char *what)
{
    return store__fail(c, map_rc(rc), what);
}

/* Runs a PRAGMA that returns one text value and copies it into out. */
static int pragma_text(struct conn *c, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(handle(c), sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, size, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : sq_fail(c, rc, sql);
}

static int sq_schema_version(struct conn *c, int *version)
{
    char text[16];
    int rc = pragma_text(c, "PRAGMA user_version", text, sizeof text);
    if (rc == STORE_OK)
        *version = atoi(text);
    return rc;
}

/* Brings the schema to the latest version in one IMMEDIATE transaction (so two processes
 * opening the same file at once cannot both apply a migration). */
static int migrate(struct conn *c, const char *path)
{
    int latest = store_sqlite_schema_latest(), from = 0;
    int rc = sqlite3_exec(handle(c), "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, "begin migrations");
    rc = sq_schema_version(c, &from);
    if (rc != STORE_OK)
        goto fail;
    if (from > latest) {
        log_msg(LOG_ERROR, "store: %s has schema version %d, newer than this tlsward (%d)", path,
                from, latest);
        rc = STORE_ERROR;
        goto fail;
    }
    for (int v = from + 1; v <= latest; v++) {
        int src = sqlite3_exec(handle(c), store_sqlite_migration_sql(v), NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            log_msg(LOG_ERROR, "store: migration %d failed: %s", v, sqlite3_errmsg(handle(c)));
            rc = STORE_ERROR;
            goto fail;
        }
    }
    if (from < latest) {
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", latest);
        int src = sqlite3_exec(handle(c), sql, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = sq_fail(c, src, "set schema version");
            goto fail;
        }
    }
    rc = sqlite3_exec(handle(c), "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(c, rc, "commit migrations");
        goto fail;
    }
    if (from < latest)
        log_msg(LOG_INFO, "store: migrated %s from schema version %d to %d", path, from, latest);
    return STORE_OK;
fail:
    sqlite3_exec(handle(c), "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < STMT__COUNT; i++) {
        if (c->stmts[i]) {
            sqlite3_finalize(raw(c->stmts[i]));
            xfree(c->stmts[i]);
            c->stmts[i] = NULL;
        }
    }
    if (c->db && sqlite3_close(handle(c)) != SQLITE_OK)
        log_msg(LOG_ERROR, "store: close: %s", sqlite3_errmsg(handle(c)));
    c->db = NULL;
}

/* Opens one connection and sets its per-connection options; `first` also switches the
 * file to WAL (a persistent setting). */
static int conn_open(struct store *s, struct conn *c, const char *path, int flags, bool first)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    c->db = db;
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store: cannot open %s: %s", path,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return STORE_ERROR;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        /* A small page cache per connection (STORE_CACHE_KIB): the pool has one connection
         * per server thread, and 8 MiB each held 160 MiB after a list load over 100,000
         * packs without making it faster, as deep pages are index seeks now
         * (store_positions.c) and a miss is a read from the kernel's page cache. The
         * process-wide soft heap limit (store__sqlite_open) bounds them all together. (A
         * memory map was tried: little faster, and it counts the whole file in the
         * process's RSS.)
         * Temporary files in memory: every write of a group commit runs in a savepoint,
         * whose statement journal (the pages it may have to restore) SQLite moves to a
         * file in /var/tmp past 64 KiB. About half of the order batches got there (an
         * index split makes one order touch more than 16 pages), and from then on every
         * page of every later write in the transaction was written to that file as well
         * as to the WAL: 8.4 pwrites per order instead of 4.5, and ~12% more CPU. Such a
         * journal is only ever a batch's pages; the sorts of our queries use indexes. */
        rc = sqlite3_exec(db,
                          "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; "
                          "PRAGMA cache_size = -" STORE_CACHE_KIB "; PRAGMA temp_store = MEMORY;",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, path);
    if (first) {
        char mode[16];
        rc = pragma_text(c, "PRAGMA journal_mode = WAL", mode, sizeof mode);
        if (rc != STORE_OK)
            return rc;
        if (strcmp(mode, "wal") != 0) {
            log_msg(LOG_ERROR, "store: %s: cannot switch to WAL (journal mode %s)", path, mode);
            return STORE_ERROR;
        }
    }
    return STORE_OK;
}

/* Creates an empty database file exclusively (O_EXCL: an existing file is never reused)
 * with mode 0600; SQLite gives its -wal and -shm files the same mode. */
static int create_file(const char *path)
{
    char *wal = xasprintf("%s-wal", path);
    struct stat st;
    int stale = lstat(wal, &st) == 0;
    xfree(wal);
    if (stale) { /* an old WAL would be replayed into the new database */
        log_msg(LOG_ERROR, "store: %s-wal exists; refusing to create %s", path, path);
        return STORE_ERROR;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_msg(LOG_ERROR, "store: cannot create %s: %s", path, strerror(errno));
        return STORE_ERROR;
    }
    close(fd);
    if (fsutil_fsync_dir(path) != 0) {
        log_msg(LOG_ERROR, "store: cannot fsync the directory of %s: %s", path, strerror(errno));
        unlink(path);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static void remove_files(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *p = xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        xfree(p);
    }
}

/* ---- the WAL checkpointer (pools of more than one connection) ---- */

struct checkpointer {
    sqlite3 *db; /* its own connection, used by its thread only */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool pending, stopping; /* under lock */
    atomic_bool running;
    /* The WAL's cycles: one more each time a commit finds it smaller than the last one
     * did (it started over). copied: the cycle (high 32 bits) and the pages of the WAL
     * (low 32) that the last checkpoint had copied; from an earlier cycle it means none. */
    atomic_uint cycle;
    atomic_int last_pages;
    atomic_uint_fast64_t copied;
    atomic_uint_fast64_t background, tail, inline_;
};

/* A PASSIVE checkpoint on db (never waits for a reader or a writer: what it cannot copy
 * yet is copied by the next one); records how far it got. BUSY (another connection or
 * process checkpoints) is no error. */
static void checkpoint(struct checkpointer *cp, sqlite3 *db, const char *name)
{
    int log = 0, copied = 0;
    uint64_t cycle = atomic_load(&cp->cycle);
    int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK)
        atomic_store(&cp->copied, cycle << 32 | (uint32_t)(copied > 0 ? copied : 0));
    else if ((rc & 0xff) != SQLITE_BUSY)
        log_msg(LOG_WARN, "store: WAL checkpoint: %s", sqlite3_errmsg(db));
}

/* After every commit of a pool connection (SQLite calls it with the WAL's page count). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct checkpointer *cp = arg;
    if (atomic_exchange(&cp->last_pages, pages) > pages)
        atomic_fetch_add(&cp->cycle, 1);
    if (pages < STORE_WAL_WAKE_PAGES)
        return SQLITE_OK;
    uint64_t last = atomic_load(&cp->copied);
    int copied = (uint32_t)(last >> 32) == atomic_load(&cp->cycle) ? (int)(uint32_t)last : 0;
    if (copied > pages)
        copied = 0; /* copied from a WAL that has started over since */
    if (pages >= STORE_WAL_INLINE_PAGES) {
        checkpoint(cp, db, name);
        atomic_fetch_add(&cp->inline_, 1);
    } else if (copied > 0 && pages - copied <= STORE_WAL_TAIL_PAGES && !atomic_load(&cp->running)) {
        checkpoint(cp, db, name);
        atomic_fetch_add(&cp->tail, 1);
    } else if (pages - copied >= STORE_WAL_WAKE_PAGES && !atomic_load(&cp->running)) {
        pthread_mutex_lock(&cp->lock);
        if (!cp->pending) {
            cp->pending = true;
            pthread_cond_signal(&cp->wake);
        }
        pthread_mutex_unlock(&cp->lock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct checkpointer *cp = arg;
    pthread_mutex_lock(&cp->lock);
    for (;;) {
        while (!cp->pending && !cp->stopping)
            pthread_cond_wait(&cp->wake, &cp->lock);
        if (cp->stopping)
            break;
        cp->pending = false;
        atomic_store(&cp->running, true);
        pthread_mutex_unlock(&cp->lock);
        checkpoint(cp, cp->db, NULL);
        atomic_fetch_add(&cp->background, 1);
        pthread_mutex_lock(&cp->lock);
        atomic_store(&cp->running, false);
    }
    pthread_mutex_unlock(&cp->lock);
    return NULL;
}

static void checkpointer_stop(struct store *s)
{
    struct checkpointer *cp = s->driver_state;
    if (!cp)
        return;
    for (int i = 0; i < s->nconns; i++)
        if (s->conns[i].db)
            sqlite3_wal_hook(handle(&s->conns[i]), NULL, NULL);
    pthread_mutex_lock(&cp->lock);
    cp->stopping = true;
    pthread_cond_signal(&cp->wake);
    pthread_mutex_unlock(&cp->lock);
    pthread_join(cp->thread, NULL);
    if (atomic_load(&cp->background) > 0) /* for whoever measures (as group commit's line) */
        log_msg(LOG_INFO,
                "store: WAL checkpoints: %llu in the background, %llu tails and %llu whole "
                "in a commit",
                (unsigned long long)atomic_load(&cp->background),
                (unsigned long long)atomic_load(&cp->tail),
                (unsigned long long)atomic_load(&cp->inline_));
    sqlite3_close(cp->db);
    pthread_cond_destroy(&cp->wake);
    pthread_mutex_destroy(&cp->lock);
    xfree(cp);
    s->driver_state = NULL;
}

static void checkpointer_stats(struct store *s, struct store_checkpoint_stats *out)
{
    struct checkpointer *cp = s->driver_state;
    if (!cp)
        return;
    out->background = atomic_load(&cp->background);
    out->tail = atomic_load(&cp->tail);
    out->inline_ = atomic_load(&cp->inline_);
}

/* Starts the checkpointer and hooks every pool connection's commits to it. On failure the
 * store keeps SQLite's auto-checkpoint (the commits checkpoint, as with a pool of one). */
static void checkpointer_start(struct store *s, const char *path)
{
    struct checkpointer *cp = xcalloc(1, sizeof *cp);
    int rc = sqlite3_open_v2(path, &cp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(cp->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_WARN, "store: no WAL checkpointer (%s): commits checkpoint",
                cp->db ? sqlite3_errmsg(cp->db) : sqlite3_errstr(rc));
        sqlite3_close(cp->db);
        xfree(cp);
        return;
    }
    pthread_mutex_init(&cp->lock, NULL);
    pthread_cond_init(&cp->wake, NULL);
    if (pthread_create(&cp->thread, NULL, checkpointer_main, cp) != 0) {
        log_msg(LOG_WARN, "store: no WAL checkpointer thread: commits checkpoint");
        sqlite3_close(cp->db);
        pthread_cond_destroy(&cp->wake);
        pthread_mutex_destroy(&cp->lock);
        xfree(cp);
        return;
    }
    s->driver_state = cp;
    s->before_close = checkpointer_stop;
    s->checkpoint_stats = checkpointer_stats;
    for (int i = 0; i < s->nconns; i++) /* replaces SQLite's auto-checkpoint hook */
        sqlite3_wal_hook(handle(&s->conns[i]), wal_hook, cp);
}

int store__sqlite_open(const char *path, enum store_open_mode mode, int pool_size,
                       struct store **out)
{
    if (!sqlite3_threadsafe()) {
        log_msg(LOG_ERROR, "store: SQLite was built without thread support");
        return STORE_ERROR;
    }
    if (mode == STORE_OPEN_CREATE && create_file(path) != STORE_OK)
        return STORE_ERROR;
    /* Process-wide; only ever lowered to ours (a caller that set a smaller one keeps it). */
    sqlite3_int64 limit = sqlite3_soft_heap_limit64(-1);
    if (limit == 0 || limit > STORE_SOFT_HEAP_LIMIT)
        sqlite3_soft_heap_limit64(STORE_SOFT_HEAP_LIMIT);

    struct store *s = store__alloc(pool_size);
    s->drv = &sqlite_driver;
    s->conn_close = conn_close;
    s->schema_version = sq_schema_version;
    int flags = SQLITE_OPEN_READWRITE | (mode == STORE_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);
    int rc = STORE_OK;
    for (int i = 0; i < pool_size && rc == STORE_OK; i++) {
        rc = conn_open(s, &s->conns[i], path, flags, i == 0);
        s->nconns = i + 1; /* closed by store_close even when it failed half-way */
        if (rc == STORE_OK && i == 0)
            rc = migrate(&s->conns[0], path);
    }
    if (rc != STORE_OK) {
        store_close(s);
        if (mode == STORE_OPEN_CREATE) /* the file is ours and useless: allow a retry */
            remove_files(path);
        return STORE_ERROR;
    }
    if (pool_size > 1)
        checkpointer_start(s, path);
    store__pool_ready(s);
    *out = s;
    return STORE_OK;
}
