/* The PostgreSQL driver of the database seam (db.h) and the PostgreSQL store's opening.
 *
 * - libpq, one PGconn per pooled connection. Statements are prepared on a connection the
 *   first time they run there (PQprepare, named after their registry id), with the
 *   parameter types of that first call: 64-bit integers, text and bytea.
 * - Parameters go in binary format (no quoting, no NUL-termination needed); results come
 *   back as text, integers parsed and bytea decoded by libpq.
 * - Write transactions serialise on one advisory lock (TX_WRITE_LOCK), the PostgreSQL
 *   counterpart of SQLite's single writer: the store's check-then-write rules (quotas,
 *   version checks, unique names across a zone's states) stay true between nodes without
 *   a serialisation-failure retry in every caller. Job claims and lease renewals are
 *   single statements outside that lock (claims skip rows other claims hold).
 * - A database restart: an idle connection notices its ended session before use and
 *   reconnects (preparing its statements again); a read or BEGIN that meets a dead
 *   connection is retried once on a new session; a write in flight fails (DB_E_CONN),
 *   and so does the rest of a transaction the break interrupted.
 * - The URI can hold a password: it is never logged; messages name the host only. */
#include "store/store_internal.h"

#include "common/alloc.h"
#include "common/log.h"
#include "store/migrations.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_MAX_PARAMS 32
#define PG_MAX_BLOB_COLS 32 /* bytea columns are decoded only among a row's first 32 */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25
/* How long a statement waits for a lock (SQLite's busy_timeout is the same 10 s). */
#define PG_SESSION_SETUP "SET lock_timeout = '10s'; SET client_min_messages = warning"
/* Session lock held while migrating: nodes starting at once apply each migration once. */
#define PG_MIGRATION_LOCK 7305116202

struct pg_stmt {
    struct db_stmt base;
    int nparams;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    Oid types[PG_MAX_PARAMS];
    uint64_t ints[PG_MAX_PARAMS]; /* network-order storage of integer parameters */
    PGresult *res;
    int row, nrows;
    unsigned char *blobs[PG_MAX_BLOB_COLS]; /* decoded bytea columns of the current row */
    size_t blob_lens[PG_MAX_BLOB_COLS];
};

/* Per connection: which statements are prepared in the current session, the last write's
 * row count and error. */
struct pg_conn {
    bool prepared[STMT__COUNT];
    bool in_tx;       /* between a BEGIN and its COMMIT or ROLLBACK, as the store sees it */
    char sqlstate[6]; /* of the last failure ("" when it had none) */
    int64_t changes;
    char errmsg[256];
};

static struct pg_stmt *pst(struct db_stmt *st)
{
    return (struct pg_stmt *)st;
}

static PGconn *handle(struct conn *c)
{
    return c->db;
}

static struct pg_conn *state(struct conn *c)
{
    return c->priv;
}

static void set_error(struct conn *c, const char *msg)
{
    snprintf(state(c)->errmsg, sizeof state(c)->errmsg, "%s", msg ? msg : "unknown error");
    char *nl = strchr(state(c)->errmsg, '\n');
    if (nl)
        *nl = '\0';
}

/* A failed result as db_rc, remembering its primary message (never DETAIL, which can
 * quote the values of a violated key). */
static int result_error(struct conn *c, const PGresult *res)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    set_error(c, primary ? primary : PQerrorMessage(handle(c)));
    snprintf(state(c)->sqlstate, sizeof state(c)->sqlstate, "%s", code ? code : "");
    if (PQstatus(handle(c)) == CONNECTION_BAD)
        return DB_E_CONN;
    if (!code)
        return DB_ERROR;
    if (strcmp(code, "23505") == 0)
        return DB_E_UNIQUE;
    if (strcmp(code, "23503") == 0)
        return DB_E_FOREIGN;
    if (strcmp(code, "55P03") == 0 || strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0)
        return DB_E_BUSY;
    if (strncmp(code, "08", 2) == 0 || strcmp(code, "57P01") == 0)
        return DB_E_CONN;
    return DB_ERROR;
}

/* Runs a session-level command outside the statement registry. */
static int simple_exec(struct conn *c, const char *sql)
{
    PGresult *res = PQexec(handle(c), sql);
    ExecStatusType status = PQresultStatus(res);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? DB_OK : result_error(c, res);
    PQclear(res);
    return rc;
}

/* A broken connection is re-established (outside a transaction only: a transaction the
 * break interrupted is lost, and its caller has already been told). */
static int ensure_connected(struct conn *c)
{
    if (PQstatus(handle(c)) == CONNECTION_OK)
        return DB_OK;
    PQreset(handle(c));
    if (PQstatus(handle(c)) != CONNECTION_OK) {
        set_error(c, PQerrorMessage(handle(c)));
        return DB_E_CONN;
    }
    memset(state(c)->prepared, 0, sizeof state(c)->prepared);
    log_msg(LOG_INFO, "store: reconnected to PostgreSQL");
    return simple_exec(c, PG_SESSION_SETUP);
}

static const struct db_driver pg_driver;

/* Between units of work a pool connection expects nothing from the server; what arrives
 * anyway is mostly the end of the session (a restart, an administrator's termination: a
 * last message, then the close). Reading it now marks the connection bad before a
 * statement is sent into it, so the statement goes to a new session instead of failing. */
static void notice_closed(struct conn *c)
{
    for (int i = 0; i < 2 && PQstatus(handle(c)) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(handle(c)), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            return;
        PQconsumeInput(handle(c));
    }
}

static struct db_stmt *pg_prepare(struct conn *c, enum stmt_id id)
{
    if (stmt_param_count(id) > PG_MAX_PARAMS) {
        set_error(c, "too many parameters");
        return NULL;
    }
    struct pg_stmt *s = xcalloc(1, sizeof *s);
    s->base = (struct db_stmt){.drv = &pg_driver, .c = c, .id = id};
    s->nparams = stmt_param_count(id);
    c->stmts[id] = &s->base;
    return &s->base;
}

static int bind_param(struct db_stmt *st, int i, Oid type, const void *p, int len)
{
    struct pg_stmt *s = pst(st);
    if (i < 1 || i > s->nparams)
        return DB_ERROR;
    s->types[i - 1] = type;
    s->values[i - 1] = p;
    s->lengths[i - 1] = len;
    return DB_OK;
}

static int pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    if (i < 1 || i > PG_MAX_PARAMS)
        return DB_ERROR;
    uint64_t u = (uint64_t)v;
    uint64_t be = ((uint64_t)htonl((uint32_t)u) << 32) | htonl((uint32_t)(u >> 32));
    pst(st)->ints[i - 1] = be;
    return bind_param(st, i, PG_OID_INT8, &pst(st)->ints[i - 1], 8);
}

static int pg_bind_text(struct db_stmt *st, int i, const char *s, int len)
{
    if (!s) /* SQL NULL, as sqlite3_bind_text binds it */
        return bind_param(st, i, PG_OID_TEXT, NULL, 0);
    return bind_param(st, i, PG_OID_TEXT, s, len < 0 ? (int)strlen(s) : len);
}

static int pg_bind_blob(struct db_stmt *st, int i, const void *p, size_t len)
{
    /* NULL p is SQL NULL (as in SQLite). */
    return bind_param(st, i, PG_OID_BYTEA, p, p ? (int)len : 0);
}

/* A NULL text: PostgreSQL cannot always infer a parameter's type from its uses ("?1 IS
 * NULL OR x = ?1"), and the store's optional values are text, or blobs (db_bind_blob
 * with NULL binds a NULL bytea). */
static int pg_bind_null(struct db_stmt *st, int i)
{
    return bind_param(st, i, PG_OID_TEXT, NULL, 0);
}

static void drop_row_blobs(struct pg_stmt *s)
{
    for (int i = 0; i < PG_MAX_BLOB_COLS; i++) {
        if (s->blobs[i])
            PQfreemem(s->blobs[i]);
        s->blobs[i] = NULL;
    }
}

/* Prepares with the first call's parameter types (see pg_bind_null). */
static int prepare(struct conn *c, struct pg_stmt *s, const char *name)
{
    PGresult *res = PQprepare(handle(c), name, stmt_pg_sql(s->base.id), s->nparams, s->types);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? DB_OK : result_error(c, res);
    PQclear(res);
    return rc;
}

static int execute(struct db_stmt *st)
{
    struct pg_stmt *s = pst(st);
    struct conn *c = st->c;
    bool ends_tx = st->id == STMT_TX_COMMIT || st->id == STMT_TX_ROLLBACK;
    if (!state(c)->in_tx)
        notice_closed(c);
    if (PQstatus(handle(c)) != CONNECTION_OK) {
        /* Reconnecting inside a transaction would run the rest of it, COMMIT included,
         * in a fresh session: the lost part would look committed. Fail until it ends. */
        if (state(c)->in_tx) {
            if (ends_tx)
                state(c)->in_tx = false;
            set_error(c, "the connection to PostgreSQL was lost in a transaction");
            return DB_E_CONN;
        }
        int rc = ensure_connected(c);
        if (rc != DB_OK)
            return rc;
    }
    if (ends_tx)
        state(c)->in_tx = false;
    char name[16];
    snprintf(name, sizeof name, "t%d", (int)st->id);
    if (!state(c)->prepared[st->id]) {
        int rc = prepare(c, s, name);
        if (rc != DB_OK)
            return rc;
        state(c)->prepared[st->id] = true;
    }
    int formats[PG_MAX_PARAMS];
    for (int i = 0; i < s->nparams; i++)
        formats[i] = 1;
    s->res = PQexecPrepared(handle(c), name, s->nparams, s->values, s->lengths, formats, 0);
    s->row = -1;
    s->nrows = 0;
    ExecStatusType status = PQresultStatus(s->res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        return result_error(c, s->res);
    if (st->id == STMT_TX_BEGIN_WRITE || st->id == STMT_TX_BEGIN_READ)
        state(c)->in_tx = true;
    const char *tuples = PQcmdTuples(s->res);
    state(c)->changes = tuples && *tuples ? strtoll(tuples, NULL, 10) : 0;
    s->nrows = status == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
    return DB_OK;
}

/* A statement outside a transaction that failed because the connection was gone (the
 * server restarted since its last use) is run once more on a new connection when it
 * cannot have changed anything: a read or a BEGIN, or any statement the server refused
 * by ending the session (admin or crash shutdown: it was not run, or rolled back). A
 * connection that just broke is not enough for a write: it may have committed before
 * the reply was lost. */
static bool retryable(struct db_stmt *st)
{
    const char *sql = stmt_pg_sql(st->id), *code = state(st->c)->sqlstate;
    if (state(st->c)->in_tx)
        return false;
    return strncmp(sql, "SELECT", 6) == 0 || strncmp(sql, "BEGIN", 5) == 0 ||
           strcmp(code, "57P01") == 0 || strcmp(code, "57P02") == 0;
}

static int pg_step(struct db_stmt *st)
{
    struct pg_stmt *s = pst(st);
    if (!s->res) {
        int rc = execute(st);
        if (rc == DB_E_CONN && retryable(st)) {
            PQclear(s->res);
            s->res = NULL;
            rc = execute(st); /* on a new connection */
        }
        if (rc != DB_OK)
            return rc;
    }
    drop_row_blobs(s);
    if (s->row + 1 >= s->nrows) {
        s->row = s->nrows;
        return DB_DONE;
    }
    s->row++;
    return DB_ROW;
}

static void pg_reset(struct db_stmt *st)
{
    struct pg_stmt *s = pst(st);
    drop_row_blobs(s);
    PQclear(s->res);
    s->res = NULL;
    memset(s->values, 0, sizeof s->values);
    memset(s->lengths, 0, sizeof s->lengths);
}

static bool pg_col_null(struct db_stmt *st, int i)
{
    struct pg_stmt *s = pst(st);
    return !s->res || s->row < 0 || s->row >= s->nrows || i >= PQnfields(s->res) ||
           PQgetisnull(s->res, s->row, i);
}

static int64_t pg_col_int64(struct db_stmt *st, int i)
{
    if (pg_col_null(st, i))
        return 0;
    const char *v = PQgetvalue(pst(st)->res, pst(st)->row, i);
    if (v[0] == 't' && !v[1]) /* a boolean expression */
        return 1;
    if (v[0] == 'f' && !v[1])
        return 0;
    return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct db_stmt *st, int i)
{
    return pg_col_null(st, i) ? NULL : PQgetvalue(pst(st)->res, pst(st)->row, i);
}

static const void *pg_col_blob(struct db_stmt *st, int i)
{
    struct pg_stmt *s = pst(st);
    if (pg_col_null(st, i) || i >= PG_MAX_BLOB_COLS)
        return NULL;
    if (!s->blobs[i]) {
        const unsigned char *text = (const unsigned char *)PQgetvalue(s->res, s->row, i);
        s->blobs[i] = PQunescapeBytea(text, &s->blob_lens[i]);
    }
    return s->blobs[i];
}

/* The length of the column as last read: decoded bytes for a blob, else the text's. */
static size_t pg_col_bytes(struct db_stmt *st, int i)
{
    struct pg_stmt *s = pst(st);
    if (pg_col_null(st, i))
        return 0;
    if (i < PG_MAX_BLOB_COLS && s->blobs[i])
        return s->blob_lens[i];
    return (size_t)PQgetlength(s->res, s->row, i);
}

static int64_t pg_changes(struct conn *c)
{
    return state(c)->changes;
}

static int run_registered(struct conn *c, enum stmt_id id)
{
    struct db_stmt *st = store__prepare(c, id);
    if (!st)
        return DB_ERROR;
    int rc = pg_step(st);
    pg_reset(st);
    return rc == DB_ROW || rc == DB_DONE ? DB_OK : rc;
}

static int pg_begin_write(struct conn *c)
{
    int rc = run_registered(c, STMT_TX_BEGIN_WRITE);
    return rc == DB_OK ? run_registered(c, STMT_TX_WRITE_LOCK) : rc;
}

static bool pg_in_transaction(struct conn *c)
{
    return state(c)->in_tx;
}

static const char *pg_errmsg(struct conn *c)
{
    return state(c)->errmsg;
}

static int pg_query_int(struct conn *c, const char *sql, const char *arg, int64_t *out)
{
    notice_closed(c);
    int rc = ensure_connected(c);
    if (rc != DB_OK)
        return rc;
    int nparams = 0;
    char *text = stmt_renumber(sql, &nparams);
    const char *values[1] = {arg};
    PGresult *res = PQexecParams(handle(c), text, arg ? 1 : 0, NULL, values, NULL, NULL, 0);
    xfree(text);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = result_error(c, res);
    } else if (PQntuples(res) == 0) {
        rc = DB_DONE;
    } else {
        const char *v = PQgetvalue(res, 0, 0);
        *out = PQgetisnull(res, 0, 0) ? 0
                                      : (v[0] == 't'   ? 1
                                         : v[0] == 'f' ? 0
                                                       : strtoll(v, NULL, 10));
        rc = DB_ROW;
    }
    PQclear(res);
    return rc;
}

static const struct db_driver pg_driver = {
    .name = "postgresql",
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .reset = pg_reset,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_bytes = pg_col_bytes,
    .col_null = pg_col_null,
    .changes = pg_changes,
    .begin_write = pg_begin_write,
    .in_transaction = pg_in_transaction,
    .errmsg = pg_errmsg,
    .query_int = pg_query_int,
};

/* ---- opening and migrating ---- */

static int pg_schema_version(struct conn *c, int *version)
{
    notice_closed(c);
    if (ensure_connected(c) != DB_OK)
        return store__fail(c, DB_E_CONN, "schema version");
    PGresult *res = PQexec(handle(c), "SELECT max(version) FROM tlsward_schema");
    if (PQstatus(handle(c)) != CONNECTION_OK && ensure_connected(c) == DB_OK) {
        PQclear(res); /* a read: once more on the new session */
        res = PQexec(handle(c), "SELECT max(version) FROM tlsward_schema");
    }
    int rc = STORE_OK;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        *version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    else
        rc = store__fail(c, result_error(c, res), "schema version");
    PQclear(res);
    return rc;
}

/* Applies the missing migrations in one transaction under a session advisory lock, so
 * nodes starting together never apply one twice. With `create`, a database that already
 * holds a store is refused (STORE_CONFLICT). */
static int migrate(struct conn *c, bool create)
{
    char lock[80];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", (long long)PG_MIGRATION_LOCK);
    int rc = simple_exec(c, lock);
    if (rc != DB_OK)
        return store__fail(c, rc, "migration lock");
    int from = 0, latest = store_pg_schema_latest();
    rc = simple_exec(c, "CREATE TABLE IF NOT EXISTS tlsward_schema (version BIGINT NOT NULL)");
    rc = rc == DB_OK ? (pg_schema_version(c, &from) == STORE_OK ? DB_OK : DB_ERROR) : rc;
    int out = STORE_OK;
    if (rc != DB_OK) {
        out = store__fail(c, rc, "schema table");
    } else if (create && from > 0) {
        log_msg(LOG_ERROR, "store: the PostgreSQL database already holds a tlsward store");
        out = STORE_CONFLICT;
    } else if (from > latest) {
        log_msg(LOG_ERROR,
                "store: the PostgreSQL store has schema version %d, newer than this "
                "tlsward (%d)",
                from, latest);
        out = STORE_ERROR;
    } else if (from < latest) {
        rc = simple_exec(c, "BEGIN");
        for (int v = from + 1; v <= latest && rc == DB_OK; v++) {
            rc = simple_exec(c, store_pg_migration_sql(v));
            if (rc != DB_OK)
                log_msg(LOG_ERROR, "store: PostgreSQL migration %d failed: %s", v, pg_errmsg(c));
        }
        char set[96];
        snprintf(set, sizeof set,
                 "DELETE FROM tlsward_schema; INSERT INTO tlsward_schema "
                 "VALUES (%d)",
                 latest);
        rc = rc == DB_OK ? simple_exec(c, set) : rc;
        rc = rc == DB_OK ? simple_exec(c, "COMMIT") : rc;
        if (rc != DB_OK) {
            simple_exec(c, "ROLLBACK");
            out = STORE_ERROR;
        } else {
            log_msg(LOG_INFO, "store: PostgreSQL schema migrated from version %d to %d", from,
                    latest);
        }
    }
    snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%lld)", (long long)PG_MIGRATION_LOCK);
    simple_exec(c, lock);
    return out;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < STMT__COUNT; i++) {
        if (c->stmts[i]) {
            pg_reset(c->stmts[i]);
            xfree(c->stmts[i]);
            c->stmts[i] = NULL;
        }
    }
    if (c->db)
        PQfinish(handle(c));
    c->db = NULL;
    xfree(c->priv);
    c->priv = NULL;
}

bool store_pg_describe(const char *uri, char *out, size_t size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &err);
    PQfreemem(err); /* it may quote the password */
    if (!opts) {
        snprintf(out, size, "?");
        return false;
    }
    const char *host = NULL, *port = NULL, *dbname = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    snprintf(out, size, "%.100s:%.20s/%.100s", host && *host ? host : "localhost",
             port && *port ? port : "5432", dbname && *dbname ? dbname : "");
    PQconninfoFree(opts);
    return true;
}

static int conn_open(struct store *s, struct conn *c, const char *uri)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->priv = xcalloc(1, sizeof(struct pg_conn));
    /* connect_timeout unless the URI sets one: a dead server must not hang a start. */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {uri, "10", "tlsward", NULL};
    c->db = PQconnectdbParams(keys, vals, 1);
    if (!c->db || PQstatus(handle(c)) != CONNECTION_OK) {
        char where[256];
        store_pg_describe(uri, where, sizeof where);
        set_error(c, c->db ? PQerrorMessage(handle(c)) : "out of memory");
        log_msg(LOG_ERROR, "store: cannot connect to PostgreSQL at %s: %s", where, pg_errmsg(c));
        return STORE_ERROR;
    }
    int rc = simple_exec(c, PG_SESSION_SETUP);
    return rc == DB_OK ? STORE_OK : store__fail(c, rc, "session setup");
}

/* ---- the job listener (LISTEN tlsward_jobs on a connection of its own) ---- */

struct store_listener {
    PGconn *conn;
    bool listening;
};

static bool listen_on(struct store_listener *l)
{
    PGresult *res = PQexec(l->conn, "LISTEN tlsward_jobs");
    l->listening = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return l->listening;
}

static int listener_open(struct store *s, struct store_listener **out)
{
    struct store_listener *l = xcalloc(1, sizeof *l);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {s->location, "10", "tlsward-listener", NULL};
    l->conn = PQconnectdbParams(keys, vals, 1);
    if (!l->conn || PQstatus(l->conn) != CONNECTION_OK || !listen_on(l)) {
        log_msg(LOG_ERROR, "store: cannot listen for jobs: %s",
                l->conn ? PQerrorMessage(l->conn) : "out of memory");
        store_listener_close(l);
        return STORE_ERROR;
    }
    *out = l;
    return STORE_OK;
}

int store_listener_fd(struct store_listener *l)
{
    return l->listening && PQstatus(l->conn) == CONNECTION_OK ? PQsocket(l->conn) : -1;
}

/* A new session that listens again; 1 (notifications sent meanwhile are lost: look for
 * due work) or STORE_ERROR. */
static int listen_again(struct store_listener *l)
{
    PQreset(l->conn);
    if (PQstatus(l->conn) != CONNECTION_OK || !listen_on(l))
        return STORE_ERROR;
    log_msg(LOG_INFO, "store: listening for jobs again");
    return 1;
}

int store_listener_drain(struct store_listener *l)
{
    if (!l->listening || PQstatus(l->conn) != CONNECTION_OK)
        return listen_again(l);
    if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK) {
        l->listening = false;
        return listen_again(l);
    }
    int n = 0;
    for (PGnotify *note; (note = PQnotifies(l->conn)) != NULL; n++)
        PQfreemem(note);
    return n > 0;
}

void store_listener_close(struct store_listener *l)
{
    if (!l)
        return;
    if (l->conn)
        PQfinish(l->conn);
    xfree(l);
}

int store__pg_open(const char *uri, enum store_open_mode mode, int pool_size, struct store **out)
{
    struct store *s = store__alloc(pool_size);
    s->drv = &pg_driver;
    s->conn_close = conn_close;
    s->schema_version = pg_schema_version;
    s->listener_open = listener_open;
    s->location = xstrdup(uri);
    int rc = STORE_OK;
    for (int i = 0; i < pool_size && rc == STORE_OK; i++) {
        rc = conn_open(s, &s->conns[i], uri);
        s->nconns = i + 1;
        if (rc == STORE_OK && i == 0)
            rc = migrate(&s->conns[0], mode == STORE_OPEN_CREATE);
    }
    if (rc != STORE_OK) {
        store_close(s);
        return rc == STORE_CONFLICT ? STORE_CONFLICT : STORE_ERROR;
    }
    store__pool_ready(s);
    *out = s;
    return STORE_OK;
}
