/* Internals shared by the SQLite backend's files (sqlite.c: connections, pool, users,
 * accounts, tokens, zones; sqlite_batch.c: group commit; sqlite_jobs.c: the job queue;
 * sqlite_client.c: client CAs and certificates). Nothing outside src/store/ includes it. */
#ifndef TLSWARD_STORE_SQLITE_INTERNAL_H
#define TLSWARD_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* Distinct statements a connection may hold; above the ~90 the store uses today, so a new
 * statement never fails at run time (issue 12 replaces this with a compile-time registry). */
#define STORE_STMT_CACHE 192

/* One pooled connection with its prepared statements, keyed by the SQL constant's address. */
struct conn {
    sqlite3 *db;
    const char *cached_sql[STORE_STMT_CACHE];
    sqlite3_stmt *cached[STORE_STMT_CACHE];
    int ncached;
};

struct batch_item;

struct store {
    pthread_mutex_t lock;
    pthread_cond_t available;
    struct conn *conns; /* nconns opened connections */
    int nconns;
    struct conn **idle; /* stack of idle connections */
    int nidle;

    /* Group commit (sqlite_batch.c): queued writes and whether a leader is committing. */
    pthread_mutex_t batch_lock;
    pthread_cond_t batch_done;
    struct batch_item *batch_head, *batch_tail;
    bool batch_leader;
};

/* Pool. */
struct conn *store__borrow(struct store *s);
void store__give_back(struct store *s, struct conn *c);

/* Statements: prepared once per connection; reset after every use. */
sqlite3_stmt *store__prepare(struct conn *c, const char *sql);
void store__reset(sqlite3_stmt *st);
int store__exec_sql(struct conn *c, const char *sql, const char *what);
int store__step_row(struct conn *c, sqlite3_stmt *st, const char *what);
int store__step_done(struct conn *c, sqlite3_stmt *st, const char *what);
/* A bound write; with must_change, NOT_FOUND when it touched no row. */
int store__write(struct conn *c, sqlite3_stmt *st, int bind_rc, bool must_change,
                 const char *what);
/* A bound single-row read: OK with the row current, NOT_FOUND, or an error. */
int store__read(struct conn *c, sqlite3_stmt *st, int bind_rc, const char *what);
/* Maps (and logs, for real errors) a SQLite result code to a store error. */
int store__fail(struct conn *c, int rc, const char *what);

/* Binding and reading columns. */
int store__bind_field(sqlite3_stmt *st, int i, const char *field, size_t size);
int store__bind_opt(sqlite3_stmt *st, int i, const char *s);
int store__bind_str(sqlite3_stmt *st, int i, const char *s);
void store__col_text(sqlite3_stmt *st, int i, char *dst, size_t size);
void store__col_blob(sqlite3_stmt *st, int i, unsigned char *dst, size_t size);
/* A heap copy of a text/blob column (xfree); NULL for SQL NULL. */
char *store__col_strdup(sqlite3_stmt *st, int i);
unsigned char *store__col_blobdup(sqlite3_stmt *st, int i, size_t *len);

/* Runs a parameterless query returning one integer (an aggregate); SQL NULL reads as 0. */
int store__query_int64(struct store *s, const char *sql, const char *what, int64_t *out);

/* Transactions on a borrowed connection. */
int store__begin_immediate(struct conn *c);
int store__commit(struct conn *c);
void store__rollback(struct conn *c);

/* Group commit: runs fn(c, ctx) inside a transaction shared with other concurrent
 * callers (each in its own savepoint, so one failure does not undo the others); returns
 * fn's result once the shared transaction is durably committed (or its error). */
typedef int (*store_batch_fn)(struct conn *c, void *ctx);
int store__batch(struct store *s, store_batch_fn fn, void *ctx);
void store__batch_init(struct store *s);
void store__batch_destroy(struct store *s);

/* Inserts a pack and schedules its job (sqlite_packs.c), inside a caller's transaction. */
struct store_pack;
int store__pack_insert(struct conn *c, const struct store_pack *p);

/* Jobs (sqlite_jobs.c), for use inside a caller's transaction. */
int store__job_schedule(struct conn *c, const char *kind, const char *target, int64_t run_at,
                        int64_t now);
/* Completes a claimed job: deleted (reschedule_at 0) or moved to reschedule_at, unless it
 * was re-requested while it ran (then due now). CONFLICT if `owner` no longer holds it. */
int store__job_complete(struct conn *c, const struct store_job *job, const char *owner,
                        int64_t reschedule_at, int64_t now);

/* Client certificates (sqlite_client.c), inside a caller's transaction. Revokes one
 * certificate: status revoked, its serial in the CA's revocation list, the CA's CRL job
 * scheduled now. */
int store__client_cert_revoke(struct conn *c, const char *id, const char *ca_id, const char *serial,
                              const char *crl_job_kind, int64_t now);
/* Revokes (as above) every certificate of the zone that is not revoked yet. */
int store__zone_revoke_client_certs(struct conn *c, const char *zone_id, const char *crl_job_kind,
                                    int64_t now);

#endif
