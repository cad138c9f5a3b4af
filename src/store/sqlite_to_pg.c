/* store_sqlite_to_pg: moves a SQLite store into an empty PostgreSQL database (tlsward
 * migrate).
 *
 * How
 * - The source is opened read-only on a connection of its own and one read transaction
 *   is held for the whole copy: every table is read from the same snapshot, even while a
 *   server still writes (WAL readers block no writer). It must be at this build's schema
 *   version: the two schemas match only there. The database file is never written; the
 *   -wal and -shm files a reader needs are removed again when nobody else has the store
 *   open (tidy_side_files).
 * - The destination's schema is made by store_open(STORE_OPEN_CREATE), which refuses a
 *   database that already holds a store; the rows then go over on one libpq connection
 *   in one transaction, so a failure leaves no row behind.
 * - Tables are copied parents first (from each table's foreign keys), with COPY FROM
 *   STDIN in text format: values travel as data, never as SQL. Table and column names
 *   come from the source's schema and are quoted as identifiers on both sides.
 * - Each table's triggers are off while it is copied (the pack counters would update
 *   one zone row per pack), so the zone counters are recomputed from the packs after;
 *   the jobs id sequence moves past the highest copied id. The transaction commits only when
 * count(*) of every table agrees on both sides.
 * - Nothing is logged: a failure's reason goes back in out->reason for the caller's one
 *   line, with the databases' primary messages only (never a DETAIL or CONTEXT, which
 *   quote values) and never the URI. */
#include "store/store.h"

#include "common/alloc.h"
#include "store/migrations.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIGRATE_BUSY_MS 10000
#define MIGRATE_COLUMNS_MAX 64
#define MIGRATE_FLUSH_BYTES (256 * 1024) /* COPY data sent in chunks of about this size */

static const char sql_hold_snapshot[] = "BEGIN; SELECT count(*) FROM sqlite_schema;";
static const char sql_end_snapshot[] = "COMMIT";
static const char sql_user_version[] = "PRAGMA user_version";
static const char sql_tidy[] = "PRAGMA query_only = ON; SELECT count(*) FROM sqlite_schema;";
static const char sql_tables[] = "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
                                 "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid";
static const char sql_parents[] = "SELECT \"table\" FROM pragma_foreign_key_list(?1)";
static const char sql_columns[] = "SELECT name FROM pragma_table_info(?1) ORDER BY cid";
static const char pg_session[] = "SET client_min_messages = warning";
static const char pg_has_schema_table[] = "SELECT to_regclass('tlsward_schema') IS NOT NULL";
static const char pg_schema_rows[] = "SELECT count(*) FROM tlsward_schema";
static const char pg_recount[] =
    "UPDATE zones SET "
    "live_packs = (SELECT count(*) FROM packs WHERE packs.zone_id = zones.id "
    "AND packs.status <> 'deleted'), "
    "active_packs = (SELECT count(*) FROM packs WHERE packs.zone_id = zones.id "
    "AND packs.status = 'active'), "
    "advanced_used = (SELECT count(*) FROM packs WHERE packs.zone_id = zones.id "
    "AND packs.type = 'advanced' "
    "AND packs.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out'))";
static const char pg_job_sequence[] =
    "SELECT setval(pg_get_serial_sequence('jobs', 'id'), coalesce(max(id), 0) + 1, false) "
    "FROM jobs";

struct table {
    char name[STORE_MIGRATE_NAME_SIZE];
    char *parents[STORE_MIGRATE_TABLES_MAX];
    int nparents;
    bool placed;
};

/* A growing byte buffer for one table's COPY data. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* "name" with inner quotes doubled: an SQL identifier on both backends. */
static void quote_ident(struct buf *b, const char *name)
{
    buf_add(b, "\"", 1);
    for (const char *p = name; *p; p++) {
        buf_add(b, p, 1);
        if (*p == '"')
            buf_add(b, "\"", 1);
    }
    buf_add(b, "\"", 1);
}

/* Keeps the first reason a migration failed, for the caller to print (first line only). */
static void why(struct store_migrate_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void why(struct store_migrate_result *out, const char *fmt, ...)
{
    if (out->reason[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->reason[strcspn(out->reason, "\n")] = '\0';
}

static void why_pg(struct store_migrate_result *out, const char *what, PGconn *pg,
                   const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    why(out, "%s: %s", what, primary ? primary : PQerrorMessage(pg));
}

static void why_sqlite(struct store_migrate_result *out, const char *what, sqlite3 *db)
{
    why(out, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Runs a command that returns nothing (or rows nobody reads) on the destination. */
static int pg_exec(struct store_migrate_result *out, PGconn *pg, const char *sql, const char *what)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? STORE_OK : STORE_ERROR;
    if (rc != STORE_OK)
        why_pg(out, what, pg, res);
    PQclear(res);
    return rc;
}

/* The first column of a one-row SQLite query, ?1 bound to arg unless NULL. */
static int sqlite_int(sqlite3 *db, const char *sql, const char *arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && arg)
        rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : STORE_ERROR;
}

/* The text column 0 of every row of sql (?1 bound to arg), up to max of them. */
static int sqlite_names(struct store_migrate_result *res, sqlite3 *db, const char *sql,
                        const char *arg, char **out, int max, int *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && arg)
        rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name || strlen(name) >= STORE_MIGRATE_NAME_SIZE || *n >= max) {
            why(res, "unexpected schema (too many or too long names)");
            rc = SQLITE_ERROR;
            break;
        }
        out[(*n)++] = xstrdup(name);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        why_sqlite(res, "cannot read the source's schema", db);
        for (int i = 0; i < *n; i++)
            xfree(out[i]);
        *n = 0;
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* The source's tables, ordered so that each comes after the tables it references. */
static int load_tables(struct store_migrate_result *out, sqlite3 *db, struct table *t, int *n)
{
    char *names[STORE_MIGRATE_TABLES_MAX];
    int count = 0;
    if (sqlite_names(out, db, sql_tables, NULL, names, STORE_MIGRATE_TABLES_MAX, &count) !=
        STORE_OK)
        return STORE_ERROR;
    struct table *all = xcalloc((size_t)count + 1, sizeof *all);
    int rc = STORE_OK;
    for (int i = 0; i < count; i++) {
        snprintf(all[i].name, sizeof all[i].name, "%s", names[i]);
        xfree(names[i]);
        if (rc == STORE_OK)
            rc = sqlite_names(out, db, sql_parents, all[i].name, all[i].parents,
                              STORE_MIGRATE_TABLES_MAX, &all[i].nparents);
    }
    /* Repeatedly place every table whose parents are placed (or are itself). */
    *n = 0;
    for (bool progress = true; rc == STORE_OK && progress && *n < count;) {
        progress = false;
        for (int i = 0; i < count; i++) {
            bool ready = !all[i].placed;
            for (int p = 0; ready && p < all[i].nparents; p++) {
                if (strcmp(all[i].parents[p], all[i].name) == 0)
                    continue;
                for (int j = 0; j < count; j++)
                    if (strcmp(all[j].name, all[i].parents[p]) == 0 && !all[j].placed)
                        ready = false;
            }
            if (ready) {
                all[i].placed = true;
                snprintf(t[(*n)++].name, sizeof t->name, "%s", all[i].name);
                progress = true;
            }
        }
    }
    if (rc == STORE_OK && *n < count) {
        why(out, "the source's foreign keys form a cycle");
        rc = STORE_ERROR;
    }
    for (int i = 0; i < count; i++)
        for (int p = 0; p < all[i].nparents; p++)
            xfree(all[i].parents[p]);
    xfree(all);
    return rc;
}

/* One value in COPY's text format: \N for NULL, blobs as bytea hex, text with backslash,
 * tab, newline and carriage return escaped. A NUL inside a text is refused (PostgreSQL
 * text cannot hold it). */
static int copy_value(struct buf *b, sqlite3_stmt *st, int i)
{
    char num[40];
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        buf_str(b, "\\N");
        return 0;
    case SQLITE_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, i));
        buf_str(b, num);
        return 0;
    case SQLITE_FLOAT:
        snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, i));
        buf_str(b, num);
        return 0;
    case SQLITE_BLOB: {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        buf_str(b, "\\\\x");
        for (int k = 0; k < n; k++) {
            char h[2] = {hex[p[k] >> 4], hex[p[k] & 15]};
            buf_add(b, h, 2);
        }
        return 0;
    }
    default: {
        const char *p = (const char *)sqlite3_column_text(st, i);
        int n = sqlite3_column_bytes(st, i);
        for (int k = 0; k < n; k++) {
            const char *esc = p[k] == '\\'   ? "\\\\"
                              : p[k] == '\t' ? "\\t"
                              : p[k] == '\n' ? "\\n"
                              : p[k] == '\r' ? "\\r"
                                             : NULL;
            if (p[k] == '\0')
                return -1;
            if (esc)
                buf_str(b, esc);
            else
                buf_add(b, &p[k], 1);
        }
        return 0;
    }
    }
}

/* Sends what the buffer holds as COPY data. */
static int flush(PGconn *pg, struct buf *b)
{
    int rc = b->len ? PQputCopyData(pg, b->p, (int)b->len) : 1;
    b->len = 0;
    return rc == 1 ? 0 : -1;
}

/* Runs ALTER TABLE "table" <action> on the destination. */
static int alter_table(struct store_migrate_result *out, PGconn *pg, const char *table,
                       const char *action)
{
    struct buf q = {0};
    buf_str(&q, "ALTER TABLE ");
    quote_ident(&q, table);
    buf_str(&q, action);
    buf_add(&q, "", 1);
    int rc = pg_exec(out, pg, q.p, "ALTER TABLE");
    xfree(q.p);
    return rc;
}

/* Copies one table: SELECT every column on the source, COPY into the same columns. *rows:
 * how many rows went. The table's own triggers are off meanwhile (foreign keys stay on):
 * the pack counters, updated row by row on one zone row, made 50,000 packs take a
 * minute, and the rows need no job notification (the counters are recomputed after). */
static int copy_table(struct store_migrate_result *out, sqlite3 *db, PGconn *pg, const char *table,
                      int64_t *rows)
{
    char *cols[MIGRATE_COLUMNS_MAX];
    int ncols = 0;
    *rows = 0;
    if (sqlite_names(out, db, sql_columns, table, cols, MIGRATE_COLUMNS_MAX, &ncols) != STORE_OK)
        return STORE_ERROR;
    if (ncols == 0) {
        why(out, "no columns");
        return STORE_ERROR;
    }
    struct buf sel = {0}, copy = {0}, data = {0};
    buf_str(&sel, "SELECT ");
    buf_str(&copy, "COPY ");
    quote_ident(&copy, table);
    buf_str(&copy, " (");
    for (int i = 0; i < ncols; i++) {
        if (i) {
            buf_str(&sel, ", ");
            buf_str(&copy, ", ");
        }
        quote_ident(&sel, cols[i]);
        quote_ident(&copy, cols[i]);
        xfree(cols[i]);
    }
    buf_str(&sel, " FROM ");
    quote_ident(&sel, table);
    buf_str(&copy, ") FROM STDIN");
    buf_add(&sel, "", 1);
    buf_add(&copy, "", 1);

    int rc = STORE_ERROR;
    sqlite3_stmt *st = NULL;
    PGresult *res = NULL;
    if (sqlite3_prepare_v2(db, sel.p, -1, &st, NULL) != SQLITE_OK) {
        why_sqlite(out, "cannot read the table", db);
        goto out;
    }
    if (alter_table(out, pg, table, " DISABLE TRIGGER USER") != STORE_OK)
        goto out;
    res = PQexec(pg, copy.p);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        why_pg(out, "cannot start COPY", pg, res);
        goto out;
    }
    PQclear(res);
    res = NULL;
    int src_rc = SQLITE_DONE;
    bool ok = true;
    while (ok && (src_rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncols && ok; i++) {
            if (i)
                buf_add(&data, "\t", 1);
            if (copy_value(&data, st, i) != 0) {
                why(out, "a text value holds a NUL byte, which PostgreSQL cannot store");
                ok = false;
            }
        }
        buf_add(&data, "\n", 1);
        (*rows)++;
        if (ok && data.len >= MIGRATE_FLUSH_BYTES && flush(pg, &data) != 0) {
            why_pg(out, "COPY", pg, NULL);
            ok = false;
        }
    }
    if (ok && src_rc != SQLITE_DONE) {
        why_sqlite(out, "cannot read the table", db);
        ok = false;
    }
    if (ok && flush(pg, &data) != 0) {
        why_pg(out, "COPY", pg, NULL);
        ok = false;
    }
    /* Ending with an error message aborts the COPY (and so the transaction). */
    if (PQputCopyEnd(pg, ok ? NULL : "tlsward migrate gave up") != 1)
        ok = false;
    res = PQgetResult(pg);
    if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
        why_pg(out, "COPY", pg, res);
        ok = false;
    }
    if (ok && strtoll(PQcmdTuples(res), NULL, 10) != *rows) {
        why(out, "COPY took another number of rows than were sent");
        ok = false;
    }
    for (PGresult *more; (more = PQgetResult(pg)) != NULL;)
        PQclear(more);
    if (ok && alter_table(out, pg, table, " ENABLE TRIGGER USER") != STORE_OK)
        ok = false;
    rc = ok ? STORE_OK : STORE_ERROR;
out:
    PQclear(res);
    sqlite3_finalize(st);
    xfree(sel.p);
    xfree(copy.p);
    xfree(data.p);
    return rc;
}

/* count(*) of the table on both sides: STORE_OK when they agree (and equal `rows`). */
static int verify_count(struct store_migrate_result *out, sqlite3 *db, PGconn *pg,
                        const char *table, int64_t rows)
{
    struct buf q = {0};
    buf_str(&q, "SELECT count(*) FROM ");
    quote_ident(&q, table);
    buf_add(&q, "", 1);
    int64_t src = -1, dst = -2;
    int rc = sqlite_int(db, q.p, NULL, &src);
    if (rc != STORE_OK)
        why_sqlite(out, "cannot count the source's rows", db);
    PGresult *res = rc == STORE_OK ? PQexec(pg, q.p) : NULL;
    if (rc == STORE_OK && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        dst = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else if (rc == STORE_OK) {
        why_pg(out, "cannot count the destination's rows", pg, res);
        rc = STORE_ERROR;
    }
    PQclear(res);
    xfree(q.p);
    if (rc == STORE_OK && (src != dst || src != rows)) {
        why(out, "%lld rows in SQLite, %lld in PostgreSQL", (long long)src, (long long)dst);
        out->count_mismatch = true;
        rc = STORE_ERROR;
    }
    return rc;
}

/* The copy proper, inside the destination transaction; out names a failing table. */
static int copy_all(sqlite3 *db, PGconn *pg, const struct table *t, int n,
                    store_migrate_progress_fn progress, void *ctx, struct store_migrate_result *out)
{
    for (int i = 0; i < n; i++) {
        int64_t rows = 0;
        if (copy_table(out, db, pg, t[i].name, &rows) != STORE_OK) {
            snprintf(out->failed_table, sizeof out->failed_table, "%s", t[i].name);
            return STORE_ERROR;
        }
        snprintf(out->tables[i].name, sizeof out->tables[i].name, "%s", t[i].name);
        out->tables[i].rows = rows;
        out->ntables = i + 1;
        if (progress)
            progress(t[i].name, rows, ctx);
    }
    if (pg_exec(out, pg, pg_recount, "recounting the zones' packs") != STORE_OK ||
        pg_exec(out, pg, pg_job_sequence, "moving the job id sequence") != STORE_OK)
        return STORE_ERROR;
    for (int i = 0; i < n; i++) {
        if (verify_count(out, db, pg, t[i].name, out->tables[i].rows) != STORE_OK) {
            snprintf(out->failed_table, sizeof out->failed_table, "%s", t[i].name);
            return STORE_ERROR;
        }
    }
    return STORE_OK;
}

/* Whether the database already holds a store (as store_open sees it: a schema version). */
static int holds_store(struct store_migrate_result *out, PGconn *pg, bool *holds)
{
    PGresult *res = PQexec(pg, pg_has_schema_table);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? STORE_OK : STORE_ERROR;
    bool table = rc == STORE_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (rc != STORE_OK)
        why_pg(out, "cannot look at the database", pg, res);
    PQclear(res);
    *holds = false;
    if (rc != STORE_OK || !table)
        return rc;
    res = PQexec(pg, pg_schema_rows);
    rc = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? STORE_OK : STORE_ERROR;
    if (rc == STORE_OK)
        *holds = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    else
        why_pg(out, "cannot look at the database", pg, res);
    PQclear(res);
    return rc;
}

/* Whether every table of the destination store is empty: the schema alone, as a migrate
 * that failed after creating it leaves it, so the user can simply run migrate again. */
static int store_empty(struct store_migrate_result *out, PGconn *pg, const struct table *t, int n,
                       bool *empty)
{
    *empty = true;
    int rc = STORE_OK;
    for (int i = 0; i < n && rc == STORE_OK && *empty; i++) {
        struct buf q = {0};
        buf_str(&q, "SELECT EXISTS (SELECT 1 FROM ");
        quote_ident(&q, t[i].name);
        buf_add(&q, ")", 2);
        PGresult *res = PQexec(pg, q.p);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            *empty = strcmp(PQgetvalue(res, 0, 0), "f") == 0;
        else {
            why_pg(out, "cannot look at the database's store", pg, res);
            rc = STORE_ERROR;
        }
        PQclear(res);
        xfree(q.p);
    }
    return rc;
}

/* Connects, refuses a database that holds a store with rows, creates the schema
 * (store_open) unless it is there and empty, then copies in one transaction. */
static int to_pg(sqlite3 *db, const char *uri, const struct table *t, int n,
                 store_migrate_progress_fn progress, void *ctx, struct store_migrate_result *out)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {uri, "10", "tlsward-migrate", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        why(out, "cannot connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return STORE_ERROR;
    }
    bool holds = false, empty = false;
    int rc = pg_exec(out, pg, pg_session, "session setup");
    if (rc == STORE_OK)
        rc = holds_store(out, pg, &holds);
    if (rc == STORE_OK && holds)
        rc = store_empty(out, pg, t, n, &empty);
    if (rc == STORE_OK && holds && !empty)
        rc = STORE_CONFLICT;
    if (rc == STORE_OK) {
        /* The schema is made exactly as a node makes it; a store created meanwhile by
         * someone else is still refused here (and rows copied meanwhile into an empty one
         * make this copy fail on their keys). */
        struct store *s = NULL;
        rc = store_open(uri, holds ? STORE_OPEN_EXISTING : STORE_OPEN_CREATE, 1, &s);
        if (rc == STORE_ERROR)
            why(out, "cannot create the schema (see the log line above)");
        store_close(s);
    }
    if (rc == STORE_OK)
        rc = pg_exec(out, pg, "BEGIN", "BEGIN");
    if (rc == STORE_OK) {
        rc = copy_all(db, pg, t, n, progress, ctx, out);
        if (rc == STORE_OK)
            rc = pg_exec(out, pg, "COMMIT", "COMMIT");
        else
            pg_exec(out, pg, "ROLLBACK", "ROLLBACK");
    }
    PQfinish(pg);
    return rc;
}

/* Whether path + suffix exists; with size, also its size. */
static bool side_file(const char *db_path, const char *suffix, off_t *size)
{
    char *path = xasprintf("%s%s", db_path, suffix);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (exists && size)
        *size = sb.st_size;
    xfree(path);
    return exists;
}

/* A read-only connection has to create the -wal and -shm files of a WAL database nobody
 * has open, and cannot remove them (SQLite removes them when the last connection closes,
 * and only a writer may). So when they did not exist before and the log is still empty, a
 * read-write connection reads one row and closes: as the last connection it removes them
 * without writing to the database file (an empty log has nothing to copy back). If a
 * server opened the store meanwhile, this one is not the last and nothing happens. */
static void tidy_side_files(const char *db_path)
{
    off_t wal_size = -1;
    if (!side_file(db_path, "-wal", &wal_size) || wal_size != 0)
        return;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, MIGRATE_BUSY_MS);
        sqlite3_exec(db, sql_tidy, NULL, NULL, NULL);
    }
    sqlite3_close(db);
}

int store_sqlite_to_pg(const char *db_path, const char *uri, store_migrate_progress_fn progress,
                       void *ctx, struct store_migrate_result *out)
{
    memset(out, 0, sizeof *out);
    out->expected_version = store_sqlite_schema_latest();
    struct stat sb;
    if (stat(db_path, &sb) != 0)
        return STORE_NOT_FOUND;
    char where[256];
    if (!store_pg_describe(uri, where, sizeof where)) {
        why(out, "the PostgreSQL URL cannot be parsed");
        return STORE_ERROR;
    }
    bool had_side_files = side_file(db_path, "-wal", NULL) || side_file(db_path, "-shm", NULL);
    sqlite3 *db = NULL;
    struct table *t = xcalloc(STORE_MIGRATE_TABLES_MAX, sizeof *t);
    int n = 0;
    int rc = STORE_ERROR;
    int64_t version = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        why_sqlite(out, "cannot open the SQLite store", db);
        goto out;
    }
    sqlite3_busy_timeout(db, MIGRATE_BUSY_MS);
    if (sqlite3_exec(db, sql_hold_snapshot, NULL, NULL, NULL) != SQLITE_OK) {
        why_sqlite(out, "cannot read the SQLite store", db);
        goto out;
    }
    if (sqlite_int(db, sql_user_version, NULL, &version) != STORE_OK) {
        why_sqlite(out, "cannot read the schema version", db);
        goto out;
    }
    out->source_version = (int)version;
    if (version != out->expected_version) {
        out->old_schema = true;
        goto out;
    }
    if (load_tables(out, db, t, &n) != STORE_OK)
        goto out;
    rc = to_pg(db, uri, t, n, progress, ctx, out);
out:
    if (db)
        sqlite3_exec(db, sql_end_snapshot, NULL, NULL, NULL);
    sqlite3_close(db);
    if (!had_side_files)
        tidy_side_files(db_path);
    xfree(t);
    return rc;
}
