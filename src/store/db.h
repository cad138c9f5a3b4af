/* The database seam under the store: everything in src/store/ except the two drivers talks
 * to the database through these calls, so one body of store logic (the SQL, the
 * transactions, the invariants) runs on SQLite and on PostgreSQL alike.
 *
 * - Statements come from the registry (store/statements.def): an enum id, one SQL text
 *   per backend. A connection prepares each statement at most once, in a slot of its own
 *   array sized STMT__COUNT at compile time, so no statement can fail for lack of room.
 * - Parameters are numbered ?1..?N in the SQLite text; the PostgreSQL driver rewrites
 *   them as $1..$N.
 * - Values are 64-bit integers, text and blobs; booleans are stored as 0/1 integers on
 *   both backends, so a column reads the same everywhere.
 * - Nothing here logs: errors come back as enum db_rc, and db_errmsg() says why. */
#ifndef TLSWARD_STORE_DB_H
#define TLSWARD_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/statements.h"

enum db_rc {
    DB_OK = 0,
    DB_ROW = 100,      /* db_step: a row is current */
    DB_DONE = 101,     /* db_step: no (more) rows */
    DB_ERROR = -1,     /* anything else; db_errmsg() has the reason */
    DB_E_UNIQUE = -2,  /* a UNIQUE or PRIMARY KEY constraint refused the write */
    DB_E_FOREIGN = -3, /* a FOREIGN KEY constraint: the referenced row does not exist */
    DB_E_BUSY = -4,    /* locked beyond the busy timeout */
    DB_E_CONN = -5,    /* the connection to the database server is gone */
};

struct conn;
struct db_stmt;

/* What a backend implements (store/db_sqlite.c, store/db_pg.c). */
struct db_driver {
    const char *name;
    /* The connection's statement `id`, prepared on first use; NULL on failure. */
    struct db_stmt *(*prepare)(struct conn *c, enum stmt_id id);
    int (*bind_int64)(struct db_stmt *st, int i, int64_t v);
    /* len < 0: NUL-terminated. The text must stay valid until the statement is reset. */
    int (*bind_text)(struct db_stmt *st, int i, const char *s, int len);
    int (*bind_blob)(struct db_stmt *st, int i, const void *p, size_t len); /* p NULL: NULL */
    int (*bind_null)(struct db_stmt *st, int i);                            /* a NULL text */
    int (*step)(struct db_stmt *st); /* DB_ROW, DB_DONE or an error */
    void (*reset)(struct db_stmt *st);
    int64_t (*col_int64)(struct db_stmt *st, int i);
    const char *(*col_text)(struct db_stmt *st, int i); /* NULL for SQL NULL */
    const void *(*col_blob)(struct db_stmt *st, int i); /* NULL for SQL NULL */
    size_t (*col_bytes)(struct db_stmt *st, int i);
    bool (*col_null)(struct db_stmt *st, int i);
    int64_t (*changes)(struct conn *c); /* rows touched by the last write */
    /* Transactions: begin_write takes the database's write lock for the transaction. */
    int (*begin_write)(struct conn *c);
    bool (*in_transaction)(struct conn *c);
    const char *(*errmsg)(struct conn *c);
    /* An ad hoc query outside the registry (tests, migrate's row counts): ?1 bound to
     * arg when arg is not NULL; the first column of the first row into *out. DB_ROW,
     * DB_DONE (no row) or an error. */
    int (*query_int)(struct conn *c, const char *sql, const char *arg, int64_t *out);
};

/* A prepared statement of one connection (the drivers extend it). */
struct db_stmt {
    const struct db_driver *drv;
    struct conn *c;
    enum stmt_id id;
};

static inline int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    return st->drv->bind_int64(st, i, v);
}
static inline int db_bind_text(struct db_stmt *st, int i, const char *s, int len)
{
    return st->drv->bind_text(st, i, s, len);
}
static inline int db_bind_blob(struct db_stmt *st, int i, const void *p, size_t len)
{
    return st->drv->bind_blob(st, i, p, len);
}
static inline int db_bind_null(struct db_stmt *st, int i)
{
    return st->drv->bind_null(st, i);
}
static inline int db_step(struct db_stmt *st)
{
    return st->drv->step(st);
}
static inline int64_t db_col_int64(struct db_stmt *st, int i)
{
    return st->drv->col_int64(st, i);
}
static inline int db_col_int(struct db_stmt *st, int i)
{
    return (int)st->drv->col_int64(st, i);
}
static inline const char *db_col_text(struct db_stmt *st, int i)
{
    return st->drv->col_text(st, i);
}
static inline const void *db_col_blob(struct db_stmt *st, int i)
{
    return st->drv->col_blob(st, i);
}
static inline size_t db_col_bytes(struct db_stmt *st, int i)
{
    return st->drv->col_bytes(st, i);
}
static inline bool db_col_is_null(struct db_stmt *st, int i)
{
    return st->drv->col_null(st, i);
}

#endif
