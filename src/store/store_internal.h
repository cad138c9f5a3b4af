/* Internals shared by the store's files: the connection pool, statement helpers and
 * transactions over the database seam (db.h), used alike by the SQLite driver
 * (db_sqlite.c) and the PostgreSQL driver (db_pg.c). Nothing outside src/store/
 * includes it. */
#ifndef TLSWARD_STORE_STORE_INTERNAL_H
#define TLSWARD_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/store.h"

/* One pooled connection: the driver's handle and the statements prepared on it. */
struct conn {
    struct store *s;
    void *db;                           /* sqlite3 * or PGconn * */
    struct db_stmt *stmts[STMT__COUNT]; /* each prepared on first use */
    void *priv;                         /* the driver's per-connection state */
};

struct batch_item;

struct store {
    const struct db_driver *drv;
    /* Driver hooks outside the statement interface. */
    void (*conn_close)(struct conn *c);
    int (*schema_version)(struct conn *c, int *version);
    int (*listener_open)(struct store *s, struct store_listener **out); /* NULL: none */
    /* Where the store is; a PostgreSQL URI may hold a password: never log it. */
    char *location;

    pthread_mutex_t lock;
    pthread_cond_t available;
    struct conn *conns; /* nconns opened connections */
    int nconns;
    struct conn **idle; /* stack of idle connections */
    int nidle;

    /* Group commit (store_batch.c): queued writes, whether a leader is committing, and
     * the counters store_batch_stats reports (all under batch_lock). */
    pthread_mutex_t batch_lock;
    struct batch_item *batch_head, *batch_tail;
    bool batch_leader;
    int batch_queued;
    struct store_batch_stats batch_stats; /* but wait_us: batch_wait_us */
    _Atomic uint64_t batch_wait_us;       /* added by each write as it returns */
    /* The committer thread, started by the first asynchronous write: it leads whenever
     * only asynchronous writes wait (they have no thread of their own to lead), and commits
     * until the queue is empty. Under batch_lock: wanted (it leads now), stop. */
    pthread_t committer;
    pthread_cond_t committer_wake;
    bool committer_started, committer_wanted, committer_stop;

    /* Position maps of deep list pages (store_positions.c). */
    struct store__positions *positions;

    /* The connection every group commit runs on (store_batch.c): kept out of the pool, so
     * the only writer's page cache stays warm from one batch to the next (a connection
     * that another one wrote behind drops its whole cache) and a batch never waits for a
     * reader to give a connection back. NULL with a pool of one (the batch borrows it). */
    struct conn *writer;
    /* Driver hooks: run by store_close before any connection closes (SQLite: stops the
     * WAL checkpointer), and the checkpoint counters. NULL: nothing to do, all zero. */
    void (*before_close)(struct store *s);
    void (*checkpoint_stats)(struct store *s, struct store_checkpoint_stats *out);
    void *driver_state;
};

/* A store with room for pool_size connections (none opened yet), and its release. */
struct store *store__alloc(int pool_size);
void store__free(struct store *s);
/* Makes the opened connections 0..nconns-1 available to borrowers. */
void store__pool_ready(struct store *s);

/* Pool. */
struct conn *store__borrow(struct store *s);
void store__give_back(struct store *s, struct conn *c);

/* Read snapshots (store_snapshot_begin): whether c is the calling thread's pinned
 * connection; whether the calling thread holds a snapshot on s; STORE_OK unless it does
 * (then the refused write `what` is logged and STORE_ERROR returned). */
bool store__pinned(const struct conn *c);
bool store__in_snapshot(const struct store *s);
int store__writable(const struct store *s, const char *what);

/* Statements: prepared once per connection; reset after every use. */
struct db_stmt *store__prepare(struct conn *c, enum stmt_id id);
void store__reset(struct db_stmt *st);
/* Runs a parameterless statement (BEGIN, COMMIT, SAVEPOINT...). */
int store__exec(struct conn *c, enum stmt_id id, const char *what);
int store__step_row(struct conn *c, struct db_stmt *st, const char *what);
int store__step_done(struct conn *c, struct db_stmt *st, const char *what);
/* A bound write; with must_change, NOT_FOUND when it touched no row. */
int store__write(struct conn *c, struct db_stmt *st, int bind_rc, bool must_change,
                 const char *what);
/* A bound single-row read: OK with the row current, NOT_FOUND, or an error. */
int store__read(struct conn *c, struct db_stmt *st, int bind_rc, const char *what);
/* Maps (and logs, for real errors) a driver result code to a store error. */
int store__fail(struct conn *c, int rc, const char *what);
/* Rows touched by the connection's last write. */
int64_t db_changes(struct conn *c);

/* Binding and reading columns. */
int store__bind_field(struct db_stmt *st, int i, const char *field, size_t size);
int store__bind_opt(struct db_stmt *st, int i, const char *s);
int store__bind_str(struct db_stmt *st, int i, const char *s);
void store__col_text(struct db_stmt *st, int i, char *dst, size_t size);
void store__col_blob(struct db_stmt *st, int i, unsigned char *dst, size_t size);
/* A heap copy of a text/blob column (xfree); NULL for SQL NULL. */
char *store__col_strdup(struct db_stmt *st, int i);
unsigned char *store__col_blobdup(struct db_stmt *st, int i, size_t *len);

/* Runs a parameterless query returning one integer (an aggregate); SQL NULL reads as 0. */
int store__query_int64(struct store *s, enum stmt_id id, const char *what, int64_t *out);

/* An ad hoc query (not in the registry) returning one integer, ?1 bound to arg unless
 * NULL: for tests and for tlsward migrate's row counts. NOT_FOUND when no row. */
int store__query_int64_arg(struct store *s, const char *sql, const char *arg, int64_t *out);

/* Column descriptors (store_rows.c, tables in store_cols.c): one entry per column of a
 * `*_COLS` list of sql_columns.h, in its order, saying where the column lives in the
 * record struct. store__row_read and store__bind_cols then replace positional code, and a
 * unit test holds each table to its SQL list. */
enum store__col_kind {
    STORE__COL_TEXT,      /* char field[size] (bound up to its NUL, read truncated) */
    STORE__COL_HEAP_TEXT, /* char * (heap, xfree); if_null is bound for a NULL pointer */
    STORE__COL_BLOB,      /* unsigned char field[size]: exactly size bytes */
    STORE__COL_HEAP_BLOB, /* unsigned char * (heap) and its size_t length at len_offset */
    STORE__COL_INT,       /* int or unsigned */
    STORE__COL_INT64,     /* int64_t or uint64_t */
    STORE__COL_BOOL,      /* bool, stored 0/1 */
    STORE__COL_ENUM,      /* an enum of store.h, stored as its name from `names` */
};

/* An enum's name table (store_enums.c): names[0..count-1] for the values 0..count-1. */
struct store__enum {
    const char *what; /* for logs: "pack status" */
    const char *const *names;
    int count;
};
extern const struct store__enum store__enum_pack_status, store__enum_pack_ca,
    store__enum_pack_method, store__enum_pack_type, store__enum_zone_type, store__enum_zone_status,
    store__enum_cert_status, store__enum_aop_kind, store__enum_aop_status, store__enum_key_type,
    store__enum_job_kind;
/* The value of `name` in the table, or -1 (INVALID) for NULL or an unknown name. */
int store__enum_parse(const struct store__enum *e, const char *name);
/* The name of v, or NULL for a value outside the table (INVALID). */
const char *store__enum_name(const struct store__enum *e, int v);
/* Reads an enum column: its value, or -1 (INVALID) with a log line naming the table for a
 * name this build does not know. */
int store__col_enum(struct db_stmt *st, int i, const struct store__enum *e);
/* Binds v's name; DB_ERROR (logged) for a value outside the table: never stored. */
int store__bind_enum(struct db_stmt *st, int i, const struct store__enum *e, int v);
struct store__col {
    const char *name; /* as in the SQL list */
    enum store__col_kind kind;
    size_t offset, size;
    size_t len_offset;   /* HEAP_BLOB */
    const char *if_null; /* HEAP_TEXT: bound instead of a NULL pointer (NULL: SQL NULL) */
    const struct store__enum *names; /* ENUM */
};
#define STORE__COL_AS(T, f, col, k)                                                                \
    {                                                                                              \
        .name = col, .kind = STORE__COL_##k, .offset = offsetof(T, f), .size = sizeof(((T *)0)->f) \
    }
#define STORE__COL(T, f, k) STORE__COL_AS(T, f, #f, k)
#define STORE__COL_ENUM_AS(T, f, col, table)                                                       \
    {                                                                                              \
        .name = col, .kind = STORE__COL_ENUM, .offset = offsetof(T, f),                            \
        .size = sizeof(((T *)0)->f), .names = &store__enum_##table                                 \
    }
#define STORE__COL_ENUM(T, f, table) STORE__COL_ENUM_AS(T, f, #f, table)
#define STORE__COL_HEAP_BLOB(T, f, len)                                                            \
    {                                                                                              \
        .name = #f, .kind = STORE__COL_HEAP_BLOB, .offset = offsetof(T, f),                        \
        .size = sizeof(((T *)0)->f), .len_offset = offsetof(T, len)                                \
    }

/* Reads columns first_col.. of the current row into obj's fields, n descriptors (obj's
 * other fields are left as they are). STORE_OK, or STORE_ERROR (logged) when a value
 * cannot be represented. */
int store__row_read(struct db_stmt *st, int first_col, const struct store__col *desc, int n,
                    void *obj);
/* Binds obj's fields to parameters first_param.. of st, n descriptors: DB_OK or the
 * driver's error. */
int store__bind_cols(struct db_stmt *st, int first_param, const struct store__col *desc, int n,
                     const void *obj);

/* The descriptor tables (store_cols.c), each with its length. */
#define STORE__COLS(name)                                                                          \
    extern const struct store__col store__##name##_cols[];                                         \
    extern const int store__##name##_ncols
STORE__COLS(user);
STORE__COLS(account);
STORE__COLS(token);
STORE__COLS(zone);      /* ZONE_COLS: what an insert writes */
STORE__COLS(zone_read); /* ZONE_READ_COLS: the select list of ZONE_SELECT */
STORE__COLS(pack);
STORE__COLS(pack_update); /* PACK_UPDATE_COLS, from ?3 of PACKS_PACK_UPDATE */
STORE__COLS(pack_cert);
STORE__COLS(pack_cert_shown); /* PACK_CERT_SHOWN_COLS: a certificate as rendered */
STORE__COLS(pack_key);        /* PACK_KEY_COLS: a pack's cache key */
STORE__COLS(client_ca);
STORE__COLS(client_cert);
STORE__COLS(aop_cert);
STORE__COLS(aop_host);
STORE__COLS(acme_account);
STORE__COLS(acme_order);
STORE__COLS(acme_cert);
#undef STORE__COLS

/* Every table with the SQL list it must match, for the unit test. */
struct store__col_list {
    const char *macro; /* the sql_columns.h macro's name */
    const char *sql;   /* its text */
    const struct store__col *cols;
    const int *ncols;
};
extern const struct store__col_list store__col_lists[];
extern const int store__ncol_lists;

/* One page of a list (store_rows.c): a count statement and a page statement sharing the
 * filter parameters ?1..?nparams (the page statement's LIMIT is ?nparams+1, its OFFSET
 * ?nparams+2), both run in one read transaction, so the page holds exactly
 * min(limit, total - offset) rows of the same snapshot. */
struct store__pager {
    const char *what; /* for logs */
    enum stmt_id count_id, page_id;
    int nparams;
    int (*bind)(struct db_stmt *st, const void *filter);
    /* The count statement may return no row (its parent row is gone): a total of 0. */
    bool no_count_row_is_zero;
    size_t row_size;
    /* Reads the current row into `row` (zeroed): STORE_OK or an error. */
    int (*read_row)(struct db_stmt *st, void *row);
    void (*clear_row)(void *row); /* frees a row's heap fields; NULL: none */
    /* Keyset seeks for deep pages (store_positions.c); NULL: OFFSET only. */
    const struct store__seek *seek;
};

/* A list in (created_on, id) order that store__page may read from a key on. Its statements
 * take the pager's filter parameters ?1..?n, then: version_id nothing more (one row: the
 * version of the list, bumped in the same transaction as any change to which rows it holds
 * or their keys; no row: page with OFFSET); keys_id the key (?n+1 created_on, ?n+2 id) to
 * start from (inclusive) and LIMIT ?n+3, returning (created_on, id) in list order;
 * seek_id the same start key, LIMIT ?n+3 and OFFSET ?n+4, returning the page statement's
 * columns. */
struct store__seek {
    int list; /* a number of its own (non-zero) per list: names its maps */
    enum stmt_id version_id, keys_id, seek_id;
    const char *(*scope)(const void *filter); /* the filter's owner, e.g. the zone id */
};
/* Rows between two keys of a position map. */
#define STORE__POS_STEP 128
struct store__pos_key {
    int64_t created_on;
    char id[STORE_ID_SIZE];
};
struct store__positions *store__positions_create(void);
void store__positions_destroy(struct store__positions *p);
/* Inside the caller's read transaction, with the list's version read in it: the key of
 * the row at position *at (a multiple of STORE__POS_STEP, 0 < *at <= offset) to read the
 * page at offset from. STORE_NOT_FOUND: no key to seek from (page with OFFSET). */
int store__positions_key(struct conn *c, const struct store__pager *pg, const void *filter,
                         int64_t version, int offset, struct store__pos_key *key, int *at);
/* *out (xfree, after clear_row on each of the *count rows) holds the page; *total counts
 * every match. A bad window (limit < 1, offset < 0) is STORE_ERROR. */
int store__page(struct store *s, const struct store__pager *pg, const void *filter, int offset,
                int limit, void **out, int *count, int *total);

/* Transactions on a borrowed connection. A write transaction holds the database's write
 * lock from its start, so the store's check-then-write invariants (quotas, versions)
 * hold between processes and nodes. */
int store__begin_immediate(struct conn *c);
int store__commit(struct conn *c);
void store__rollback(struct conn *c);

/* The backends' openers (store_open picks one by the location's form). */
int store__sqlite_open(const char *path, enum store_open_mode mode, int pool_size,
                       struct store **out);
int store__pg_open(const char *uri, enum store_open_mode mode, int pool_size, struct store **out);

/* Group commit: runs fn(c, ctx) inside a transaction shared with other concurrent
 * callers (each in its own savepoint, so one failure does not undo the others); returns
 * fn's result once the shared transaction is durably committed (or its error). */
typedef int (*store_batch_fn)(struct conn *c, void *ctx);
int store__batch(struct store *s, store_batch_fn fn, void *ctx);
/* The same without waiting: done(done_ctx, rc) is called once the shared transaction has
 * ended (rc as store__batch returns it), on the thread that committed it: the store's
 * committer thread, a synchronous writer that led the batch, or the caller's own before
 * this returns (a refused write, or no committer could be started: then the write commits
 * in place). ctx must stay valid until done has been called. */
void store__batch_async(struct store *s, store_batch_fn fn, void *ctx, store_done_fn done,
                        void *done_ctx);
void store__batch_init(struct store *s);
/* Lets the committer commit what is queued, then stops it (store_close, before any
 * connection closes). A write after it starts the committer again. */
void store__batch_stop(struct store *s);
void store__batch_destroy(struct store *s);

/* A pack's arrays as the JSON texts of its columns (store_pack_json.c). */
enum store__pack_array {
    STORE__PACK_HOSTS,
    STORE__PACK_RECORDS,
    STORE__PACK_ERRORS,
    STORE__PACK_DELEGATION,
};
#define STORE__PACK_ARRAYS 4
/* The JSON text of one array (heap), or NULL (logged) when its count is over the bound. */
char *store__pack_json_encode(const struct store_pack *p, enum store__pack_array a);
/* Replaces one array of p by the elements of text (NULL reads as "[]"): STORE_OK, or
 * STORE_ERROR (logged; the array is then empty) for a text that is not such an array, has
 * more elements or longer values than the bounds, or members this build does not know. */
int store__pack_json_decode(struct store_pack *p, enum store__pack_array a, const char *text);
/* A packs row as the descriptor tables (store_cols.c) see it: the pack and its four texts. */
struct store__pack_row {
    struct store_pack p;
    char *hosts, *validation_records, *validation_errors, *dcv_delegation_records;
};
/* Fills row from p (a shallow copy and the encoded texts): STORE_OK or STORE_ERROR. */
int store__pack_row_encode(struct store__pack_row *row, const struct store_pack *p);
/* Decodes row's texts into row->p, frees them and moves the pack to *out (whose arrays
 * are then owned by out, also on error). */
int store__pack_row_decode(struct store__pack_row *row, struct store_pack *out);
void store__pack_row_texts_free(struct store__pack_row *row);

/* Inserts a pack and schedules its job (store_packs.c), inside a caller's transaction. */
struct store_pack;
int store__pack_insert(struct conn *c, const struct store_pack *p);

/* Jobs (store_jobs.c), for use inside a caller's transaction. */
int store__job_schedule(struct conn *c, enum store_job_kind kind, const char *target,
                        int64_t run_at, int64_t now);
/* Completes a claimed job: deleted (reschedule_at 0) or moved to reschedule_at, unless it
 * was re-requested while it ran (then due now). CONFLICT if `owner` no longer holds it. */
int store__job_complete(struct conn *c, const struct store_job *job, const char *owner,
                        int64_t reschedule_at, int64_t now);

/* Client certificates (store_client.c), inside a caller's transaction. Revokes one
 * certificate: status revoked, its serial in the CA's revocation list, the CA's CRL job
 * scheduled now. */
int store__client_cert_revoke(struct conn *c, const char *id, const char *ca_id, const char *serial,
                              int64_t now);
/* Revokes (as above) every certificate of the zone that is not revoked yet. */
int store__zone_revoke_client_certs(struct conn *c, const char *zone_id, int64_t now);

#endif
