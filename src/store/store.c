/* The store's backend-neutral core: store_open picks a driver by the location's form,
 * the connection pool, the statement and transaction helpers every store file uses, and
 * users, accounts, tokens and zones.
 *
 * Design
 * - A fixed pool of connections opened up front; a connection is only ever used by the
 *   thread that borrowed it. Each public call borrows one connection (waiting on a
 *   condition variable when all are busy) and returns it.
 * - A read snapshot (store_snapshot_begin) pins one borrowed connection, inside a read
 *   transaction, to the calling thread: every call of that thread on that store then runs
 *   on it (borrowing returns it, giving back keeps it) and sees one state of the database,
 *   until store_snapshot_end. Writes on a pinned connection are refused (see
 *   store__writable).
 * - Statements are the registry's (statements.def), prepared lazily per connection and
 *   reset after every use.
 * - Errors: UNIQUE/PRIMARY KEY violations are STORE_CONFLICT, a missing row (including a
 *   missing referenced row, i.e. a FOREIGN KEY violation) is STORE_NOT_FOUND, anything
 *   else is STORE_ERROR and logged once here. Log lines carry the database's message and
 *   the statement's name, never a value (no secret or hash can reach them). */
#include "store/store.h"

#include "common/alloc.h"
#include "common/dburl.h"
#include "common/log.h"
#include "store/store_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define STORE_POOL_MAX 64

int store_open(const char *location, enum store_open_mode mode, int pool_size, struct store **out)
{
    assert(location && out);
    *out = NULL;
    if (pool_size < 1)
        pool_size = 1;
    if (pool_size > STORE_POOL_MAX)
        pool_size = STORE_POOL_MAX;
    /* A pool of more than one gets one more connection: the group commit's writer (see
     * store__pool_ready), so readers keep every connection asked for. */
    if (pool_size > 1)
        pool_size++;
    if (dburl_is_postgres(location))
        return store__pg_open(location, mode, pool_size, out);
    return store__sqlite_open(location, mode, pool_size, out);
}

bool store_is_remote(const struct store *s)
{
    return s->location && dburl_is_postgres(s->location); /* only PostgreSQL sets it */
}

struct store *store__alloc(int pool_size)
{
    struct store *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->available, NULL);
    store__batch_init(s);
    s->positions = store__positions_create();
    s->conns = xcalloc((size_t)pool_size, sizeof *s->conns);
    s->idle = xcalloc((size_t)pool_size, sizeof *s->idle);
    return s;
}

void store__pool_ready(struct store *s)
{
    /* With more than one connection (store_open added one for it) the first is the group
     * commit's writer (see struct store) and the others serve every other call. */
    int first = s->nconns > 1 ? 1 : 0;
    s->writer = first ? &s->conns[0] : NULL;
    for (int i = first; i < s->nconns; i++)
        s->idle[s->nidle++] = &s->conns[i];
}

void store__free(struct store *s)
{
    xfree(s->location);
    store__positions_destroy(s->positions);
    store__batch_destroy(s);
    pthread_cond_destroy(&s->available);
    pthread_mutex_destroy(&s->lock);
    xfree(s->idle);
    xfree(s->conns);
    xfree(s);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    /* The caller guarantees no call is in flight. Closing in reverse lets SQLite's last
     * connection checkpoint the WAL and remove the -wal file. */
    store__batch_stop(s);
    if (s->before_close)
        s->before_close(s);
    for (int i = s->nconns - 1; i >= 0; i--)
        if (s->conn_close)
            s->conn_close(&s->conns[i]);
    store__free(s);
}

int store_ping(struct store *s)
{
    int version;
    struct conn *c = store__borrow(s);
    int rc = s->schema_version(c, &version);
    store__give_back(s, c);
    return rc;
}

int store_schema_version(struct store *s)
{
    int version = 0;
    struct conn *c = store__borrow(s);
    int rc = s->schema_version(c, &version);
    store__give_back(s, c);
    return rc == STORE_OK ? version : rc;
}

void store_checkpoint_stats(struct store *s, struct store_checkpoint_stats *out)
{
    *out = (struct store_checkpoint_stats){0};
    if (s->checkpoint_stats)
        s->checkpoint_stats(s, out);
}

int store_listener_open(struct store *s, struct store_listener **out)
{
    *out = NULL;
    return s->listener_open ? s->listener_open(s, out) : STORE_OK;
}

/* ---- connections, statements and errors ---- */

int store__fail(struct conn *c, int rc, const char *what)
{
    if (rc == DB_E_UNIQUE)
        return STORE_CONFLICT;
    if (rc == DB_E_FOREIGN)
        return STORE_NOT_FOUND;
    log_msg(LOG_ERROR, "store: %s: %s (%s %d)", what, c && c->s ? c->s->drv->errmsg(c) : "-",
            c && c->s ? c->s->drv->name : "db", rc);
    return STORE_ERROR;
}

/* The calling thread's read snapshot, if any: its store and pinned connection. A thread
 * holds at most one; a request is served by one thread from begin to end. */
static _Thread_local struct {
    struct store *s;
    struct conn *c;
} pinned;

struct conn *store__borrow(struct store *s)
{
    if (pinned.c && pinned.s == s)
        return pinned.c;
    pthread_mutex_lock(&s->lock);
    while (s->nidle == 0)
        pthread_cond_wait(&s->available, &s->lock);
    struct conn *c = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->lock);
    return c;
}

void store__give_back(struct store *s, struct conn *c)
{
    if (c == pinned.c)
        return; /* stays pinned until store_snapshot_end */
    pthread_mutex_lock(&s->lock);
    assert(s->nidle < s->nconns);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->available);
    pthread_mutex_unlock(&s->lock);
}

bool store__pinned(const struct conn *c)
{
    return c && c == pinned.c;
}

bool store__in_snapshot(const struct store *s)
{
    return pinned.c && pinned.s == s;
}

/* A write inside a read snapshot is a programming error: on PostgreSQL the transaction is
 * READ ONLY and would fail anyway, on SQLite it would silently turn the snapshot into a
 * write transaction holding the write lock for the rest of the request. Refused loudly on
 * both, so a handler that writes under a read-only route shows up as a 500 in the tests. */
int store__writable(const struct store *s, const char *what)
{
    if (!store__in_snapshot(s))
        return STORE_OK;
    log_msg(LOG_ERROR, "store: %s inside a read snapshot (a read-only request wrote)", what);
    return STORE_ERROR;
}

int store_snapshot_begin(struct store *s)
{
    if (pinned.c) {
        log_msg(LOG_ERROR, "store: nested read snapshot");
        return STORE_ERROR;
    }
    struct conn *c = store__borrow(s);
    int rc = store__exec(c, STMT_TX_BEGIN_READ, "snapshot begin");
    if (rc != STORE_OK) {
        store__give_back(s, c);
        return rc;
    }
    pinned.s = s;
    pinned.c = c;
    return STORE_OK;
}

struct store_snapshot *store_snapshot_suspend(struct store *s)
{
    if (!store__in_snapshot(s))
        return NULL;
    struct conn *c = pinned.c;
    pinned.s = NULL;
    pinned.c = NULL;
    return (struct store_snapshot *)c;
}

int store_snapshot_resume(struct store *s, struct store_snapshot *snap)
{
    struct conn *c = (struct conn *)snap;
    if (!c || c->s != s || pinned.c) {
        log_msg(LOG_ERROR, "store: cannot resume a read snapshot here");
        return STORE_ERROR;
    }
    pinned.s = s;
    pinned.c = c;
    return STORE_OK;
}

void store_snapshot_release(struct store *s, struct store_snapshot *snap)
{
    struct conn *c = (struct conn *)snap;
    if (!c)
        return;
    assert(c != pinned.c);
    /* Read-only: committing and rolling back are the same; a failed statement may have
     * ended the transaction already. */
    if (c->s->drv->in_transaction(c) && store__commit(c) != STORE_OK)
        store__rollback(c);
    store__give_back(s, c);
}

void store_snapshot_end(struct store *s)
{
    store_snapshot_release(s, store_snapshot_suspend(s));
}

/* The connection's statement `id`, prepared on first use; NULL (logged) on error. */
struct db_stmt *store__prepare(struct conn *c, enum stmt_id id)
{
    if (c->stmts[id])
        return c->stmts[id];
    struct db_stmt *st = c->s->drv->prepare(c, id);
    if (!st)
        store__fail(c, DB_ERROR, stmt_name(id));
    return st;
}

/* Readies a statement for the next use (its errors were already reported by step). */
void store__reset(struct db_stmt *st)
{
    if (st)
        st->drv->reset(st);
}

int64_t db_changes(struct conn *c)
{
    return c->s->drv->changes(c);
}

/* Steps a statement expected to return at most one row: OK on a row, NOT_FOUND on none. */
int store__step_row(struct conn *c, struct db_stmt *st, const char *what)
{
    int rc = db_step(st);
    if (rc == DB_ROW)
        return STORE_OK;
    if (rc == DB_DONE)
        return STORE_NOT_FOUND;
    return store__fail(c, rc, what);
}

/* Steps a statement that returns no row (an INSERT, UPDATE, DELETE, BEGIN...). */
int store__step_done(struct conn *c, struct db_stmt *st, const char *what)
{
    int rc = db_step(st);
    return rc == DB_DONE || rc == DB_ROW ? STORE_OK : store__fail(c, rc, what);
}

int store__exec(struct conn *c, enum stmt_id id, const char *what)
{
    struct db_stmt *st = store__prepare(c, id);
    int rc = st ? store__step_done(c, st, what) : STORE_ERROR;
    store__reset(st);
    return rc;
}

/* Runs a bound write statement; with must_change, NOT_FOUND when it touched no row. */
int store__write(struct conn *c, struct db_stmt *st, int bind_rc, bool must_change,
                 const char *what)
{
    if (!st || store__writable(c->s, what) != STORE_OK)
        return STORE_ERROR;
    if (bind_rc != DB_OK)
        return store__fail(c, bind_rc, what);
    int rc = store__step_done(c, st, what);
    if (rc == STORE_OK && must_change && db_changes(c) == 0)
        rc = STORE_NOT_FOUND;
    return rc;
}

/* Runs a bound single-row query; OK with the row current, NOT_FOUND, or an error. */
int store__read(struct conn *c, struct db_stmt *st, int bind_rc, const char *what)
{
    if (!st)
        return STORE_ERROR;
    if (bind_rc != DB_OK)
        return store__fail(c, bind_rc, what);
    return store__step_row(c, st, what);
}

int store__query_int64(struct store *s, enum stmt_id id, const char *what, int64_t *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, id);
    int rc = store__read(c, st, DB_OK, what);
    if (rc == STORE_OK)
        *out = db_col_is_null(st, 0) ? 0 : db_col_int64(st, 0);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store__query_int64_arg(struct store *s, const char *sql, const char *arg, int64_t *out)
{
    struct conn *c = store__borrow(s);
    int rc = s->drv->query_int(c, sql, arg, out);
    store__give_back(s, c);
    if (rc == DB_ROW)
        return STORE_OK;
    return rc == DB_DONE ? STORE_NOT_FOUND : store__fail(c, rc, "query");
}

int store__begin_immediate(struct conn *c)
{
    if (store__writable(c->s, "write transaction") != STORE_OK)
        return STORE_ERROR;
    int rc = c->s->drv->begin_write(c);
    return rc == DB_OK ? STORE_OK : store__fail(c, rc, "begin");
}

int store__commit(struct conn *c)
{
    return store__exec(c, STMT_TX_COMMIT, "commit");
}

void store__rollback(struct conn *c)
{
    if (c->s->drv->in_transaction(c))
        store__exec(c, STMT_TX_ROLLBACK, "rollback");
}

/* ---- binding and reading columns ---- */

/* Binds a fixed-size struct field, never reading past its end. */
int store__bind_field(struct db_stmt *st, int i, const char *field, size_t size)
{
    return db_bind_text(st, i, field, (int)strnlen(field, size));
}

/* Binds a NUL-terminated string, or NULL (disabling an optional filter) for NULL or "". */
int store__bind_opt(struct db_stmt *st, int i, const char *s)
{
    if (!s || !*s)
        return db_bind_null(st, i);
    return db_bind_text(st, i, s, -1);
}

int store__bind_str(struct db_stmt *st, int i, const char *s)
{
    return db_bind_text(st, i, s, -1);
}

/* Copies a text column into a fixed-size field, truncating rather than overflowing. */
void store__col_text(struct db_stmt *st, int i, char *dst, size_t size)
{
    const char *t = db_col_text(st, i);
    size_t n = t ? db_col_bytes(st, i) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Copies a blob column of the expected size; anything else (corruption) reads as zeros. */
void store__col_blob(struct db_stmt *st, int i, unsigned char *dst, size_t size)
{
    const void *b = db_col_blob(st, i);
    if (b && db_col_bytes(st, i) == size)
        memcpy(dst, b, size);
    else
        memset(dst, 0, size);
}

char *store__col_strdup(struct db_stmt *st, int i)
{
    const char *t = db_col_text(st, i);
    return t ? xstrndup(t, db_col_bytes(st, i)) : NULL;
}

unsigned char *store__col_blobdup(struct db_stmt *st, int i, size_t *len)
{
    const void *b = db_col_blob(st, i);
    *len = b ? db_col_bytes(st, i) : 0;
    if (!b)
        return NULL;
    unsigned char *copy = xmalloc(*len ? *len : 1);
    memcpy(copy, b, *len);
    return copy;
}

static int user_from_row(struct db_stmt *st, struct store_user *u)
{
    memset(u, 0, sizeof *u);
    return store__row_read(st, 0, store__user_cols, store__user_ncols, u);
}

static int account_from_row(struct db_stmt *st, struct store_account *a)
{
    memset(a, 0, sizeof *a);
    return store__row_read(st, 0, store__account_cols, store__account_ncols, a);
}

static int token_from_row(struct db_stmt *st, struct store_token *t)
{
    memset(t, 0, sizeof *t);
    return store__row_read(st, 0, store__token_cols, store__token_ncols, t);
}

static int zone_from_row(struct db_stmt *st, struct store_zone *z)
{
    memset(z, 0, sizeof *z);
    return store__row_read(st, 0, store__zone_read_cols, store__zone_read_ncols, z);
}

/* ---- one-statement calls ---- */

/* Borrows a connection and its statement `id`; *st is NULL when preparing failed. */
static struct conn *store__begin_call(struct store *s, enum stmt_id id, struct db_stmt **st)
{
    struct conn *c = store__borrow(s);
    *st = store__prepare(c, id);
    return c;
}

static void store__end_call(struct store *s, struct conn *c, struct db_stmt *st)
{
    store__reset(st);
    store__give_back(s, c);
}

/* Inserts one record through its statement and descriptor table, in autocommit. */
static int insert_row(struct store *s, enum stmt_id id, const struct store__col *cols, int ncols,
                      const void *obj, const char *what)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, id, &st);
    int rc = st ? store__write(c, st, store__bind_cols(st, 1, cols, ncols, obj), false, what)
                : STORE_ERROR;
    store__end_call(s, c, st);
    return rc;
}

/* ---- users ---- */

int store_user_create(struct store *s, const struct store_user *u)
{
    return insert_row(s, STMT_USER_INSERT, store__user_cols, store__user_ncols, u, "user create");
}

/* Runs a user query whose only parameter is a string. */
static int store__user_query(struct store *s, enum stmt_id id, const char *arg,
                             struct store_user *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, id, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, arg) : DB_OK, "user get");
    if (rc == STORE_OK)
        rc = user_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_user_get(struct store *s, const char *id, struct store_user *out)
{
    return store__user_query(s, STMT_USER_GET, id, out);
}

int store_user_by_email(struct store *s, const char *email, struct store_user *out)
{
    return store__user_query(s, STMT_USER_BY_EMAIL, email, out);
}

int store_user_first(struct store *s, struct store_user *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, STMT_USER_FIRST, &st);
    int rc = store__read(c, st, DB_OK, "first user");
    if (rc == STORE_OK)
        rc = user_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

/* ---- accounts ---- */

int store_account_create(struct store *s, const struct store_account *a)
{
    return insert_row(s, STMT_ACCOUNT_INSERT, store__account_cols, store__account_ncols, a,
                      "account create");
}

int store_account_get(struct store *s, const char *id, struct store_account *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, STMT_ACCOUNT_GET, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : DB_OK, "account get");
    if (rc == STORE_OK)
        rc = account_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

/* ---- tokens ---- */

int store_token_create(struct store *s, const struct store_token *t)
{
    return insert_row(s, STMT_TOKEN_INSERT, store__token_cols, store__token_ncols, t,
                      "token create");
}

int store_token_by_hash(struct store *s, const unsigned char hash[32], struct store_token *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, STMT_TOKEN_BY_HASH, &st);
    int b = st ? db_bind_blob(st, 1, hash, 32) : DB_OK;
    int rc = store__read(c, st, b, "token by hash");
    if (rc == STORE_OK)
        rc = token_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_token_get(struct store *s, const char *id, struct store_token *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, STMT_TOKEN_GET, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : DB_OK, "token get");
    if (rc == STORE_OK)
        rc = token_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_token_revoke(struct store *s, const char *id, int64_t now)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, STMT_TOKEN_REVOKE, &st);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : db_bind_int64(st, 2, now);
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
    struct db_stmt *st = store__prepare(c, STMT_ZONE_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_cols(st, 1, store__zone_cols, store__zone_ncols, z);
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

static int zone_get(struct store *s, enum stmt_id which, const char *id, struct store_zone *out)
{
    struct db_stmt *st;
    struct conn *c = store__begin_call(s, which, &st);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, id) : DB_OK, "zone get");
    if (rc == STORE_OK)
        rc = zone_from_row(st, out);
    store__end_call(s, c, st);
    return rc;
}

int store_zone_get(struct store *s, const char *id, struct store_zone *out)
{
    return zone_get(s, STMT_ZONE_GET, id, out);
}

int store_zone_get_any(struct store *s, const char *id, struct store_zone *out)
{
    return zone_get(s, STMT_ZONE_GET_ANY, id, out);
}

/* Binds ?1..?6 of ZONE_FILTER. */
static int bind_zone_filter(struct db_stmt *st, const struct store_zone_filter *f)
{
    int b = store__bind_opt(st, 1, f->who.account_id);
    b = b ? b : store__bind_opt(st, 2, f->who.owner_user_id);
    b = b ? b : store__bind_opt(st, 3, f->who.zone_scope);
    b = b ? b : store__bind_opt(st, 4, f->name);
    b = b ? b : store__bind_opt(st, 5, f->account_id);
    if (b == DB_OK)
        b = f->status ? store__bind_enum(st, 6, &store__enum_zone_status, *f->status)
                      : db_bind_null(st, 6);
    return b;
}

static int bind_zone_filter_cb(struct db_stmt *st, const void *f)
{
    return bind_zone_filter(st, f);
}

static int zone_row_cb(struct db_stmt *st, void *row)
{
    return zone_from_row(st, row);
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
    static const struct store__pager pager = {.what = "zone list",
                                              .count_id = STMT_ZONE_COUNT,
                                              .page_id = STMT_ZONE_LIST,
                                              .nparams = 6,
                                              .bind = bind_zone_filter_cb,
                                              .row_size = sizeof(struct store_zone),
                                              .read_row = zone_row_cb};
    void *rows;
    int rc = store__page(s, &pager, f, f->offset, f->limit, &rows, count, total);
    *out = rows;
    return rc;
}
