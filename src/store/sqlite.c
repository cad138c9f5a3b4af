/* The SQLite backend of store.h.
 *
 * Design
 * - One database file in WAL mode with synchronous=FULL: every commit fsyncs the WAL, so
 *   an acknowledged mutation survives kill -9 and power loss.
 * - A fixed pool of connections opened up front (SQLITE_OPEN_NOMUTEX: a connection is
 *   only ever used by the thread that borrowed it). Each public call borrows one
 *   connection (waiting on a condition variable when all are busy) and returns it.
 *   Concurrent writers from different connections serialise on SQLite's write lock,
 *   waiting up to busy_timeout (10 s).
 * - Statements are data: an enum and a table of SQL, prepared lazily per connection with
 *   SQLITE_PREPARE_PERSISTENT and reset after every use.
 * - Schema changes are the append-only list in migrations.c, applied in one IMMEDIATE
 *   transaction at open and tracked with PRAGMA user_version.
 * - Errors: UNIQUE/PRIMARY KEY violations are STORE_CONFLICT, a missing row (including a
 *   missing referenced row, i.e. a FOREIGN KEY violation) is STORE_NOT_FOUND, anything
 *   else is STORE_ERROR and logged once here. Log lines carry SQLite's message, never a
 *   value (no secret or hash can reach them). */
#include "store/store.h"

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "store/migrations.h"
#include "store/sqlite_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_BUSY_TIMEOUT_MS 10000
#define STORE_POOL_MAX 64

/* ---- the statement table ---- */

#define USER_COLS "id, email, key_hash, created_on"
#define ACCOUNT_COLS "id, name, owner_user_id, created_on"
#define TOKEN_COLS                                                                                 \
    "id, account_id, hash, permissions, zone_scope, expires_on, revoked_on, created_on"
/* A zone being deleted has given its name up (migration 8): its real name is deleting_name. */
#define ZONE_SELECT                                                                                \
    "SELECT z.id, z.account_id, CASE WHEN z.deleting_on <> 0 THEN z.deleting_name ELSE z.name "    \
    "END, z.type, z.status, z.universal_ssl, z.advanced_quota, "                                   \
    "z.created_on, z.modified_on, z.activated_on, a.name, a.owner_user_id, u.email, "              \
    "z.deleting_on "                                                                               \
    "FROM zones z JOIN accounts a ON a.id = z.account_id JOIN users u ON u.id = a.owner_user_id "
/* ?1 account (visibility), ?2 owner user, ?3 zone scope, ?4 name, ?5 account, ?6 status;
 * a NULL parameter disables its condition. */
#define ZONE_FILTER                                                                                \
    "WHERE (?1 IS NULL OR z.account_id = ?1) AND (?2 IS NULL OR a.owner_user_id = ?2) "            \
    "AND (?3 IS NULL OR instr(' ' || ?3 || ' ', ' ' || z.id || ' ') > 0) "                         \
    "AND (?4 IS NULL OR z.name = ?4) AND (?5 IS NULL OR z.account_id = ?5) "                       \
    "AND (?6 IS NULL OR z.status = ?6) AND z.deleting_on = 0 "

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_USER_VERSION,
    ST_USER_INSERT,
    ST_USER_GET,
    ST_USER_BY_EMAIL,
    ST_USER_FIRST,
    ST_ACCOUNT_INSERT,
    ST_ACCOUNT_GET,
    ST_TOKEN_INSERT,
    ST_TOKEN_BY_HASH,
    ST_TOKEN_GET,
    ST_TOKEN_REVOKE,
    ST_ZONE_INSERT,
    ST_ZONE_GET,
    ST_ZONE_GET_ANY,
    ST_ZONE_COUNT,
    ST_ZONE_LIST,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_USER_VERSION] = "PRAGMA user_version",
    [ST_USER_INSERT] = "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4)",
    [ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = ?1",
    [ST_USER_FIRST] = "SELECT " USER_COLS " FROM users ORDER BY created_on, rowid LIMIT 1",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts (" ACCOUNT_COLS ") VALUES (?1, ?2, ?3, ?4)",
    [ST_ACCOUNT_GET] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
    [ST_TOKEN_INSERT] =
        "INSERT INTO tokens (" TOKEN_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_TOKEN_BY_HASH] = "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1",
    [ST_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1",
    [ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked_on = "
                        "CASE WHEN revoked_on = 0 THEN ?2 ELSE revoked_on END WHERE id = ?1",
    [ST_ZONE_INSERT] = "INSERT INTO zones (id, account_id, name, type, status, universal_ssl, "
                       "advanced_quota, created_on, modified_on, activated_on) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_ZONE_GET] = ZONE_SELECT "WHERE z.id = ?1 AND z.deleting_on = 0",
    [ST_ZONE_GET_ANY] = ZONE_SELECT "WHERE z.id = ?1",
    [ST_ZONE_COUNT] =
        "SELECT count(*) FROM zones z JOIN accounts a ON a.id = z.account_id " ZONE_FILTER,
    [ST_ZONE_LIST] = ZONE_SELECT ZONE_FILTER "ORDER BY z.created_on, z.id LIMIT ?7 OFFSET ?8",
};

/* ---- connections and the pool ---- */

/* Logs a failed SQLite call and maps its result code to a store error. */
int store__fail(struct conn *c, int rc, const char *what)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return STORE_CONFLICT;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return STORE_NOT_FOUND;
    log_msg(LOG_ERROR, "store: %s: %s (sqlite %d)", what, c ? sqlite3_errmsg(c->db) : "-", rc);
    return STORE_ERROR;
}

struct conn *store__borrow(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->nidle == 0)
        pthread_cond_wait(&s->available, &s->lock);
    struct conn *c = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->lock);
    return c;
}

void store__give_back(struct store *s, struct conn *c)
{
    pthread_mutex_lock(&s->lock);
    assert(s->nidle < s->nconns);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->available);
    pthread_mutex_unlock(&s->lock);
}

/* The connection's cached statement for `sql` (a string constant: the cache is keyed by
 * its address), prepared on first use; NULL (logged) on error. */
sqlite3_stmt *store__prepare(struct conn *c, const char *sql)
{
    for (int i = 0; i < c->ncached; i++)
        if (c->cached_sql[i] == sql)
            return c->cached[i];
    if (c->ncached == STORE_STMT_CACHE) {
        log_msg(LOG_ERROR, "store: statement cache full (raise STORE_STMT_CACHE)");
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        store__fail(c, rc, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    c->cached_sql[c->ncached] = sql;
    c->cached[c->ncached++] = st;
    return st;
}

static sqlite3_stmt *store__stmt(struct conn *c, enum stmt id)
{
    return store__prepare(c, stmt_sql[id]);
}

/* Readies a statement for the next use (its errors were already reported by step). */
void store__reset(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Steps a statement expected to return at most one row: OK on a row, NOT_FOUND on none. */
int store__step_row(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    return store__fail(c, rc, what);
}

/* Steps a statement that returns no row (an INSERT, UPDATE, DELETE, BEGIN...). */
int store__step_done(struct conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? STORE_OK : store__fail(c, rc, what);
}

/* Runs a parameterless cached statement (BEGIN, COMMIT, ROLLBACK, SAVEPOINT...). */
int store__exec_sql(struct conn *c, const char *sql, const char *what)
{
    sqlite3_stmt *st = store__prepare(c, sql);
    int rc = st ? store__step_done(c, st, what) : STORE_ERROR;
    store__reset(st);
    return rc;
}

static int store__exec(struct conn *c, enum stmt id, const char *what)
{
    return store__exec_sql(c, stmt_sql[id], what);
}

/* ---- binding and reading columns ---- */

/* Binds a fixed-size struct field, never reading past its end. */
int store__bind_field(sqlite3_stmt *st, int i, const char *field, size_t size)
{
    return sqlite3_bind_text(st, i, field, (int)strnlen(field, size), SQLITE_STATIC);
}

/* Binds a NUL-terminated string, or NULL (disabling an optional filter) for NULL or "". */
int store__bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (!s || !*s)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int store__bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Copies a text column into a fixed-size field, truncating rather than overflowing. */
void store__col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Copies a blob column of the expected size; anything else (corruption) reads as zeros. */
void store__col_blob(sqlite3_stmt *st, int i, unsigned char *dst, size_t size)
{
    const void *b = sqlite3_column_blob(st, i);
    if (b && (size_t)sqlite3_column_bytes(st, i) == size)
        memcpy(dst, b, size);
    else
        memset(dst, 0, size);
}

char *store__col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

unsigned char *store__col_blobdup(sqlite3_stmt *st, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(st, i);
    *len = b ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (!b)
        return NULL;
    unsigned char *copy = xmalloc(*len);
    memcpy(copy, b, *len);
    return copy;
}

int store__query_int64(struct store *s, const char *sql, const char *what, int64_t *out)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql);
    int rc = store__read(c, st, SQLITE_OK, what);
    if (rc == STORE_OK)
        *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store__begin_immediate(struct conn *c)
{
    return store__exec_sql(c, "BEGIN IMMEDIATE", "begin");
}

int store__commit(struct conn *c)
{
    return store__exec_sql(c, "COMMIT", "commit");
}

void store__rollback(struct conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        store__exec_sql(c, "ROLLBACK", "rollback");
}

static void user_from_row(sqlite3_stmt *st, struct store_user *u)
{
    memset(u, 0, sizeof *u);
    store__col_text(st, 0, u->id, sizeof u->id);
    store__col_text(st, 1, u->email, sizeof u->email);
    store__col_blob(st, 2, u->key_hash, sizeof u->key_hash);
    u->created_on = sqlite3_column_int64(st, 3);
}

static void account_from_row(sqlite3_stmt *st, struct store_account *a)
{
    memset(a, 0, sizeof *a);
    store__col_text(st, 0, a->id, sizeof a->id);
    store__col_text(st, 1, a->name, sizeof a->name);
    store__col_text(st, 2, a->owner_user_id, sizeof a->owner_user_id);
    a->created_on = sqlite3_column_int64(st, 3);
}

static void token_from_row(sqlite3_stmt *st, struct store_token *t)
{
    memset(t, 0, sizeof *t);
    store__col_text(st, 0, t->id, sizeof t->id);
    store__col_text(st, 1, t->account_id, sizeof t->account_id);
    store__col_blob(st, 2, t->hash, sizeof t->hash);
    t->permissions = (unsigned)sqlite3_column_int64(st, 3);
    store__col_text(st, 4, t->zone_scope, sizeof t->zone_scope);
    t->expires_on = sqlite3_column_int64(st, 5);
    t->revoked_on = sqlite3_column_int64(st, 6);
    t->created_on = sqlite3_column_int64(st, 7);
}

static void zone_from_row(sqlite3_stmt *st, struct store_zone *z)
{
    memset(z, 0, sizeof *z);
    store__col_text(st, 0, z->id, sizeof z->id);
    store__col_text(st, 1, z->account_id, sizeof z->account_id);
    store__col_text(st, 2, z->name, sizeof z->name);
    store__col_text(st, 3, z->type, sizeof z->type);
    store__col_text(st, 4, z->status, sizeof z->status);
    z->universal_ssl = sqlite3_column_int(st, 5) != 0;
    z->advanced_quota = sqlite3_column_int(st, 6);
    z->created_on = sqlite3_column_int64(st, 7);
    z->modified_on = sqlite3_column_int64(st, 8);
    z->activated_on = sqlite3_column_int64(st, 9);
    store__col_text(st, 10, z->account_name, sizeof z->account_name);
    store__col_text(st, 11, z->owner_user_id, sizeof z->owner_user_id);
    store__col_text(st, 12, z->owner_email, sizeof z->owner_email);
    z->deleting_on = sqlite3_column_int64(st, 13);
}

/* ---- one-statement calls ---- */

/* Borrows a connection and its statement `id`; *st is NULL when preparing failed. */
static struct conn *store__begin_call(struct store *s, enum stmt id, sqlite3_stmt **st)
{
    struct conn *c = store__borrow(s);
    *st = store__stmt(c, id);
    return c;
}

static void store__end_call(struct store *s, struct conn *c, sqlite3_stmt *st)
{
    store__reset(st);
    store__give_back(s, c);
}

/* Runs a bound write statement; with must_change, NOT_FOUND when it touched no row. */
int store__write(struct conn *c, sqlite3_stmt *st, int bind_rc, bool must_change,
                        const char *what)
{
    if (!st)
        return STORE_ERROR;
    if (bind_rc != SQLITE_OK)
        return store__fail(c, bind_rc, what);
    int rc = store__step_done(c, st, what);
    if (rc == STORE_OK && must_change && sqlite3_changes(c->db) == 0)
        rc = STORE_NOT_FOUND;
    return rc;
}

/* Runs a bound single-row query; OK with the row current, NOT_FOUND, or an error. */
int store__read(struct conn *c, sqlite3_stmt *st, int bind_rc, const char *what)
{
    if (!st)
        return STORE_ERROR;
    if (bind_rc != SQLITE_OK)
        return store__fail(c, bind_rc, what);
    return store__step_row(c, st, what);
}

/* ---- opening and migrating ---- */

/* Runs a PRAGMA that returns one text value and copies it into out. */
static int store__pragma_text(struct conn *c, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store__col_text(st, 0, out, size);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : store__fail(c, rc, sql);
}

static int store__user_version(struct conn *c, int *version)
{
    sqlite3_stmt *st = store__stmt(c, ST_USER_VERSION);
    int rc = st ? store__step_row(c, st, "read schema version") : STORE_ERROR;
    if (rc == STORE_OK)
        *version = sqlite3_column_int(st, 0);
    else if (rc == STORE_NOT_FOUND)
        rc = store__fail(c, SQLITE_ERROR, "read schema version");
    store__reset(st);
    return rc;
}

/* Brings the schema to the latest version in one IMMEDIATE transaction (so two processes
 * opening the same file at once cannot both apply a migration). */
static int store__migrate(struct conn *c, const char *path)
{
    int latest = store_sqlite_schema_latest(), from = 0;
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store__fail(c, rc, "begin migrations");
    rc = store__user_version(c, &from);
    if (rc != STORE_OK)
        goto fail;
    if (from > latest) {
        log_msg(LOG_ERROR, "store: %s has schema version %d, newer than this tlsward (%d)", path,
                from, latest);
        rc = STORE_ERROR;
        goto fail;
    }
    for (int v = from + 1; v <= latest; v++) {
        int src = sqlite3_exec(c->db, store_sqlite_migration_sql(v), NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            log_msg(LOG_ERROR, "store: migration %d failed: %s", v, sqlite3_errmsg(c->db));
            rc = STORE_ERROR;
            goto fail;
        }
    }
    if (from < latest) {
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", latest);
        int src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = store__fail(c, src, "set schema version");
            goto fail;
        }
    }
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = store__fail(c, rc, "commit migrations");
        goto fail;
    }
    if (from < latest)
        log_msg(LOG_INFO, "store: migrated %s from schema version %d to %d", path, from, latest);
    return STORE_OK;
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void store__conn_close(struct conn *c)
{
    for (int i = 0; i < c->ncached; i++)
        sqlite3_finalize(c->cached[i]);
    c->ncached = 0;
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        log_msg(LOG_ERROR, "store: close: %s", sqlite3_errmsg(c->db));
    c->db = NULL;
}

/* Opens one connection and sets its per-connection options; `first` also switches the
 * file to WAL (a persistent setting). */
static int store__conn_open(struct conn *c, const char *path, int flags, bool first)
{
    memset(c, 0, sizeof *c);
    int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store: cannot open %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        return STORE_ERROR;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    rc = sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        /* An 8 MiB page cache per connection: listing a large zone walks megabytes of
         * index. (A memory map was tried: little faster, and it counts the whole file in
         * the process's RSS.) */
        rc = sqlite3_exec(c->db,
                          "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; "
                          "PRAGMA cache_size = -8192;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store__fail(c, rc, path);
    if (first) {
        char mode[16];
        rc = store__pragma_text(c, "PRAGMA journal_mode = WAL", mode, sizeof mode);
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
static int store__create_file(const char *path)
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

static void store__remove_files(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *p = xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        xfree(p);
    }
}

int store_open(const char *path, enum store_open_mode mode, int pool_size, struct store **out)
{
    assert(path && out);
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        log_msg(LOG_ERROR, "store: SQLite was built without thread support");
        return STORE_ERROR;
    }
    if (pool_size < 1)
        pool_size = 1;
    if (pool_size > STORE_POOL_MAX)
        pool_size = STORE_POOL_MAX;
    if (mode == STORE_OPEN_CREATE && store__create_file(path) != STORE_OK)
        return STORE_ERROR;

    struct store *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->available, NULL);
    store__batch_init(s);
    s->conns = xcalloc((size_t)pool_size, sizeof *s->conns);
    s->idle = xcalloc((size_t)pool_size, sizeof *s->idle);
    int flags = SQLITE_OPEN_READWRITE | (mode == STORE_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);
    int rc = STORE_OK;
    for (int i = 0; i < pool_size && rc == STORE_OK; i++) {
        rc = store__conn_open(&s->conns[i], path, flags, i == 0);
        s->nconns = i + 1; /* closed by store_close even when it failed half-way */
        if (rc == STORE_OK && i == 0)
            rc = store__migrate(&s->conns[0], path);
    }
    if (rc != STORE_OK) {
        store_close(s);
        if (mode == STORE_OPEN_CREATE) /* the file is ours and useless: allow a retry */
            store__remove_files(path);
        return STORE_ERROR;
    }
    for (int i = 0; i < s->nconns; i++)
        s->idle[s->nidle++] = &s->conns[i];
    *out = s;
    return STORE_OK;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    /* The caller guarantees no call is in flight; close the WAL's last user last so it
     * checkpoints and removes the -wal file. */
    for (int i = s->nconns - 1; i >= 0; i--)
        store__conn_close(&s->conns[i]);
    store__batch_destroy(s);
    pthread_cond_destroy(&s->available);
    pthread_mutex_destroy(&s->lock);
    xfree(s->idle);
    xfree(s->conns);
    xfree(s);
}

int store_ping(struct store *s)
{
    int version;
    struct conn *c = store__borrow(s);
    int rc = store__user_version(c, &version);
    store__give_back(s, c);
    return rc;
}

int store_schema_version(struct store *s)
{
    int version = 0;
    struct conn *c = store__borrow(s);
    int rc = store__user_version(c, &version);
    store__give_back(s, c);
    return rc == STORE_OK ? version : rc;
}

/* ---- users ---- */

int store_user_create(struct store *s, const struct store_user *u)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_USER_INSERT, &st);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_field(st, 1, u->id, sizeof u->id);
        b = b ? b : store__bind_field(st, 2, u->email, sizeof u->email);
        b = b ? b : sqlite3_bind_blob(st, 3, u->key_hash, sizeof u->key_hash, SQLITE_STATIC);
        b = b ? b : sqlite3_bind_int64(st, 4, u->created_on);
        rc = store__write(c, st, b, false, "user create");
    }
    store__end_call(s, c, st);
    return rc;
}

/* Runs a user query whose only parameter is a string. */
static int store__user_query(struct store *s, enum stmt id, const char *arg, struct store_user *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, id, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, arg) : SQLITE_OK, "user get");
    if (rc == STORE_OK)
        user_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_user_get(struct store *s, const char *id, struct store_user *out)
{
    return store__user_query(s, ST_USER_GET, id, out);
}

int store_user_by_email(struct store *s, const char *email, struct store_user *out)
{
    return store__user_query(s, ST_USER_BY_EMAIL, email, out);
}

int store_user_first(struct store *s, struct store_user *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_USER_FIRST, &st);
    int rc = store__read(c, st, SQLITE_OK, "first user");
    if (rc == STORE_OK)
        user_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

/* ---- accounts ---- */

int store_account_create(struct store *s, const struct store_account *a)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_ACCOUNT_INSERT, &st);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_field(st, 1, a->id, sizeof a->id);
        b = b ? b : store__bind_field(st, 2, a->name, sizeof a->name);
        b = b ? b : store__bind_field(st, 3, a->owner_user_id, sizeof a->owner_user_id);
        b = b ? b : sqlite3_bind_int64(st, 4, a->created_on);
        rc = store__write(c, st, b, false, "account create");
    }
    store__end_call(s, c, st);
    return rc;
}

int store_account_get(struct store *s, const char *id, struct store_account *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_ACCOUNT_GET, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : SQLITE_OK, "account get");
    if (rc == STORE_OK)
        account_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

/* ---- tokens ---- */

int store_token_create(struct store *s, const struct store_token *t)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_TOKEN_INSERT, &st);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_field(st, 1, t->id, sizeof t->id);
        b = b ? b : store__bind_field(st, 2, t->account_id, sizeof t->account_id);
        b = b ? b : sqlite3_bind_blob(st, 3, t->hash, sizeof t->hash, SQLITE_STATIC);
        b = b ? b : sqlite3_bind_int64(st, 4, (sqlite3_int64)t->permissions);
        b = b ? b : store__bind_field(st, 5, t->zone_scope, sizeof t->zone_scope);
        b = b ? b : sqlite3_bind_int64(st, 6, t->expires_on);
        b = b ? b : sqlite3_bind_int64(st, 7, t->revoked_on);
        b = b ? b : sqlite3_bind_int64(st, 8, t->created_on);
        rc = store__write(c, st, b, false, "token create");
    }
    store__end_call(s, c, st);
    return rc;
}

int store_token_by_hash(struct store *s, const unsigned char hash[32], struct store_token *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_TOKEN_BY_HASH, &st);
    int b = st ? sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC) : SQLITE_OK;
    int rc = store__read(c, st, b, "token by hash");
    if (rc == STORE_OK)
        token_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_token_get(struct store *s, const char *id, struct store_token *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_TOKEN_GET, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : SQLITE_OK, "token get");
    if (rc == STORE_OK)
        token_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_token_revoke(struct store *s, const char *id, int64_t now)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, ST_TOKEN_REVOKE, &st);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : sqlite3_bind_int64(st, 2, now);
        rc = store__write(c, st, b, true, "token revoke");
    }
    store__end_call(s, c, st);
    return rc;
}

/* ---- zones ---- */

struct zone_create_args {
    const struct store_zone *z;
    const struct store_pack *universal;
};

static int zone_insert(struct conn *c, const struct store_zone *z)
{
    sqlite3_stmt *st = store__stmt(c, ST_ZONE_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_field(st, 1, z->id, sizeof z->id);
        b = b ? b : store__bind_field(st, 2, z->account_id, sizeof z->account_id);
        b = b ? b : store__bind_field(st, 3, z->name, sizeof z->name);
        b = b ? b : store__bind_field(st, 4, z->type, sizeof z->type);
        b = b ? b : store__bind_field(st, 5, z->status, sizeof z->status);
        b = b ? b : sqlite3_bind_int(st, 6, z->universal_ssl ? 1 : 0);
        b = b ? b : sqlite3_bind_int(st, 7, z->advanced_quota);
        b = b ? b : sqlite3_bind_int64(st, 8, z->created_on);
        b = b ? b : sqlite3_bind_int64(st, 9, z->modified_on);
        b = b ? b : sqlite3_bind_int64(st, 10, z->activated_on);
        rc = store__write(c, st, b, false, "zone create");
    }
    store__reset(st);
    return rc;
}

static int zone_create_fn(struct conn *c, void *ctx)
{
    const struct zone_create_args *a = ctx;
    int rc = zone_insert(c, a->z);
    return rc == STORE_OK && a->universal ? store__pack_insert(c, a->universal) : rc;
}

int store_zone_create(struct store *s, const struct store_zone *z)
{
    return store_zone_create_with_pack(s, z, NULL);
}

int store_zone_create_with_pack(struct store *s, const struct store_zone *z,
                                const struct store_pack *universal)
{
    struct zone_create_args a = {z, universal};
    return store__batch(s, zone_create_fn, &a);
}

static int zone_get(struct store *s, enum stmt which, const char *id, struct store_zone *out)
{
    sqlite3_stmt *st;
    struct conn *c = store__begin_call(s, which, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : SQLITE_OK, "zone get");
    if (rc == STORE_OK)
        zone_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_zone_get(struct store *s, const char *id, struct store_zone *out)
{
    return zone_get(s, ST_ZONE_GET, id, out);
}

int store_zone_get_any(struct store *s, const char *id, struct store_zone *out)
{
    return zone_get(s, ST_ZONE_GET_ANY, id, out);
}

/* Binds ?1..?6 of ZONE_FILTER. */
static int bind_zone_filter(sqlite3_stmt *st, const struct store_zone_filter *f)
{
    int b = store__bind_opt(st, 1, f->who.account_id);
    b = b ? b : store__bind_opt(st, 2, f->who.owner_user_id);
    b = b ? b : store__bind_opt(st, 3, f->who.zone_scope);
    b = b ? b : store__bind_opt(st, 4, f->name);
    b = b ? b : store__bind_opt(st, 5, f->account_id);
    b = b ? b : store__bind_opt(st, 6, f->status);
    return b;
}

/* *total = the number of zones matching the filter. */
static int store__zone_count(struct conn *c, const struct store_zone_filter *f, int *total)
{
    sqlite3_stmt *st = store__stmt(c, ST_ZONE_COUNT);
    int rc = store__read(c, st, st ? bind_zone_filter(st, f) : SQLITE_OK, "zone count");
    if (rc == STORE_OK)
        *total = sqlite3_column_int(st, 0);
    else if (rc == STORE_NOT_FOUND) /* count(*) always returns a row */
        rc = store__fail(c, SQLITE_ERROR, "zone count");
    store__reset(st);
    return rc;
}

/* Reads up to cap zones of the page f->offset.. into zones[], *count of them. */
static int store__zone_rows(struct conn *c, const struct store_zone_filter *f,
                            struct store_zone *zones, int cap, int *count)
{
    sqlite3_stmt *st = store__stmt(c, ST_ZONE_LIST);
    if (!st)
        return STORE_ERROR;
    int rc = STORE_OK;
    int b = bind_zone_filter(st, f);
    b = b ? b : sqlite3_bind_int(st, 7, cap);
    b = b ? b : sqlite3_bind_int(st, 8, f->offset);
    if (b != SQLITE_OK) {
        rc = store__fail(c, b, "zone list");
    } else {
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW && *count < cap)
            zone_from_row(st, &zones[(*count)++]);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = store__fail(c, src, "zone list");
    }
    store__reset(st);
    return rc;
}

int store_zone_list(struct store *s, const struct store_zone_filter *f, struct store_zone **out,
                    int *count, int *total)
{
    *out = NULL;
    *count = 0;
    *total = 0;
    /* Fail closed: a caller that forgot to say who is looking must not see every zone. */
    if (!f->who.account_id && !f->who.owner_user_id) {
        log_msg(LOG_ERROR, "store: zone list without visibility");
        return STORE_ERROR;
    }
    if (f->limit < 1 || f->offset < 0) {
        log_msg(LOG_ERROR, "store: zone list with a bad window (offset %d, limit %d)", f->offset,
                f->limit);
        return STORE_ERROR;
    }
    struct conn *c = store__borrow(s);
    int rc = store__exec(c, ST_BEGIN, "zone list begin");
    struct store_zone *zones = NULL;
    if (rc == STORE_OK) {
        /* Count and page in one read transaction: both come from the same snapshot, so
         * the page holds exactly min(limit, total - offset) zones. */
        rc = store__zone_count(c, f, total);
        if (rc == STORE_OK && *total > f->offset) {
            int cap = *total - f->offset < f->limit ? *total - f->offset : f->limit;
            zones = xcalloc((size_t)cap, sizeof *zones);
            rc = store__zone_rows(c, f, zones, cap, count);
        }
        if (rc == STORE_OK)
            rc = store__exec(c, ST_COMMIT, "zone list commit");
        if (rc != STORE_OK)
            store__exec(c, ST_ROLLBACK, "zone list rollback");
    }
    store__give_back(s, c);
    if (rc != STORE_OK) {
        xfree(zones);
        *count = 0;
        *total = 0;
        return rc;
    }
    *out = zones ? zones : xcalloc(1, sizeof **out);
    return STORE_OK;
}
