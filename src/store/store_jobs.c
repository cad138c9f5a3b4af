/* The worker's durable job queue (see store.h for the contract).
 *
 * Claiming is one UPDATE … RETURNING statement, so two workers (threads, processes or
 * nodes) can never claim the same job: SQLite serialises writers, PostgreSQL locks the
 * claimed rows (claims skip each other's rows: FOR UPDATE SKIP LOCKED), and the statement
 * only takes rows whose lease is free. A claim is (owner, attempt): renewal, retry and
 * completion check both, the last inside the caller's transaction, so a worker whose
 * lease expired and was taken over cannot also commit. */
#include "store/store_internal.h"

#include "common/log.h"
#include "common/util.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Schedules a job of kind `kind` (a name: the queue keeps any). */
static int schedule_named(struct conn *c, const char *kind, const char *target, int64_t run_at,
                          int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_JOBS_SCHEDULE);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, kind);
        b = b ? b : store__bind_str(st, 2, target);
        b = b ? b : db_bind_int64(st, 3, run_at);
        b = b ? b : db_bind_int64(st, 4, now);
        rc = store__write(c, st, b, false, "job schedule");
    }
    store__reset(st);
    return rc;
}

int store__job_schedule(struct conn *c, enum store_job_kind kind, const char *target,
                        int64_t run_at, int64_t now)
{
    const char *name = store__enum_name(&store__enum_job_kind, kind);
    assert(name);
    return schedule_named(c, name, target, run_at, now);
}

int store__job_complete(struct conn *c, const struct store_job *job, const char *owner,
                        int64_t reschedule_at, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_JOBS_LEASE_RERUN);
    int b = st ? db_bind_int64(st, 1, job->id) : DB_OK;
    b = b || !st ? b : store__bind_str(st, 2, owner);
    b = b || !st ? b : db_bind_int64(st, 3, job->attempts);
    int rc = store__read(c, st, b, "job lease");
    bool rerun = rc == STORE_OK && db_col_int(st, 0) != 0;
    store__reset(st);
    if (rc == STORE_NOT_FOUND)
        return STORE_CONFLICT; /* the lease went to another worker */
    if (rc != STORE_OK)
        return rc;
    if (!reschedule_at && !rerun) {
        st = store__prepare(c, STMT_JOBS_DELETE);
        rc = store__write(c, st, st ? db_bind_int64(st, 1, job->id) : DB_OK, false, "job delete");
    } else {
        st = store__prepare(c, STMT_JOBS_RESCHEDULE);
        b = st ? db_bind_int64(st, 1, job->id) : DB_OK;
        b = b || !st ? b : db_bind_int64(st, 2, rerun ? now : reschedule_at);
        rc = store__write(c, st, b, false, "job reschedule");
    }
    store__reset(st);
    return rc;
}

/* Runs fn inside one IMMEDIATE transaction on a borrowed connection. */
static int in_transaction(struct store *s, int (*fn)(struct conn *, void *), void *ctx)
{
    struct conn *c = store__borrow(s);
    int rc = store__begin_immediate(c);
    if (rc == STORE_OK)
        rc = fn(c, ctx);
    if (rc == STORE_OK)
        rc = store__commit(c);
    if (rc != STORE_OK)
        store__rollback(c);
    store__give_back(s, c);
    return rc;
}

struct schedule_args {
    const char *kind, *target;
    int64_t run_at, now;
};

static int schedule_tx(struct conn *c, void *ctx)
{
    struct schedule_args *a = ctx;
    return schedule_named(c, a->kind, a->target, a->run_at, a->now);
}

int store_job_schedule(struct store *s, const char *kind, const char *target, int64_t run_at)
{
    struct schedule_args a = {kind, target, run_at, util_now_us()};
    return in_transaction(s, schedule_tx, &a);
}

/* The comma-wrapped kind list of a filter (",a,b,"; "," for none) into buf; -1 if it does
 * not fit (a lane lists a handful of short kinds, so that is a programming error). */
static int filter_list(const struct store_job_filter *f, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, ",");
    for (int i = 0; f && i < f->nkinds; i++) {
        assert(!strchr(f->kinds[i], ','));
        int n = snprintf(buf + len, size - len, "%s,", f->kinds[i]);
        if (n < 0 || (size_t)n >= size - len)
            return -1;
        len += (size_t)n;
    }
    return 0;
}

/* Binds a filter as (list, exclude) at parameters i and i + 1; no filter takes every kind. */
static int bind_filter(struct db_stmt *st, int i, const char *list,
                       const struct store_job_filter *f)
{
    int b = store__bind_str(st, i, list);
    return b ? b : db_bind_int64(st, i + 1, f ? f->exclude : 1);
}

int store_job_claim(struct store *s, const char *owner, int64_t now, int64_t lease_us,
                    struct store_job *out, int max, int *count)
{
    return store_job_claim_filtered(s, NULL, owner, now, lease_us, out, max, count);
}

int store_job_claim_filtered(struct store *s, const struct store_job_filter *f, const char *owner,
                             int64_t now, int64_t lease_us, struct store_job *out, int max,
                             int *count)
{
    *count = 0;
    assert(max > 0);
    char list[STORE_JOB_FILTER_SIZE];
    if (filter_list(f, list, sizeof list) < 0)
        return STORE_ERROR;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_JOBS_CLAIM);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, owner);
        b = b ? b : db_bind_int64(st, 2, now + lease_us);
        b = b ? b : db_bind_int64(st, 3, now);
        b = b ? b : db_bind_int64(st, 4, max);
        b = b ? b : bind_filter(st, 5, list, f);
        rc = b ? store__fail(c, b, "job claim") : STORE_OK;
        int step;
        /* Stepping to the end completes the UPDATE (in autocommit: one transaction). */
        while (rc == STORE_OK && (step = db_step(st)) == DB_ROW) {
            if (*count == max)
                continue;
            struct store_job *j = &out[(*count)++];
            memset(j, 0, sizeof *j);
            j->id = db_col_int64(st, 0);
            store__col_text(st, 1, j->kind, sizeof j->kind);
            /* A kind of another build stays claimable (its name is kept); the worker
             * sees it as STORE_JOB_INVALID. */
            j->kind_id = (enum store_job_kind)store__enum_parse(&store__enum_job_kind, j->kind);
            if (j->kind_id == STORE_JOB_INVALID)
                log_msg(LOG_WARN, "store: job %lld has a kind this build does not know",
                        (long long)j->id);
            store__col_text(st, 2, j->target, sizeof j->target);
            j->attempts = db_col_int(st, 3);
            j->next_run_at = db_col_int64(st, 4);
        }
        if (rc == STORE_OK && step != DB_DONE) {
            rc = store__fail(c, step, "job claim");
            *count = 0;
        }
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* A write only the job's lease holder may make: ?1 the job, ?2 the owner, ?3... the n
 * values, then the claim's attempt number (owner and attempt together name one claim: a
 * worker that lost a lease and claimed the job again must not act on the old claim).
 * Changing no row means the claim is no longer held: STORE_CONFLICT. */
static int holder_write(struct store *s, enum stmt_id sql, const struct store_job *job,
                        const char *owner, const int64_t *values, int n, const char *what)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR;
    if (st) {
        int b = db_bind_int64(st, 1, job->id);
        b = b ? b : store__bind_str(st, 2, owner);
        for (int i = 0; i < n && !b; i++)
            b = db_bind_int64(st, 3 + i, values[i]);
        b = b ? b : db_bind_int64(st, 3 + n, job->attempts);
        rc = store__write(c, st, b, true, what);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc == STORE_NOT_FOUND ? STORE_CONFLICT : rc;
}

int store_job_retry(struct store *s, const struct store_job *job, const char *owner,
                    int64_t next_run_at)
{
    return holder_write(s, STMT_JOBS_RETRY, job, owner, (const int64_t[]){next_run_at}, 1,
                        "job retry");
}

int store_job_renew(struct store *s, const struct store_job *job, const char *owner, int64_t now,
                    int64_t lease_us)
{
    return holder_write(s, STMT_JOBS_RENEW, job, owner, (const int64_t[]){now + lease_us, now}, 2,
                        "job renew");
}

struct drop_args {
    const struct store_job *job;
    const char *owner;
    int64_t now;
};

static int drop_tx(struct conn *c, void *ctx)
{
    struct drop_args *a = ctx;
    return store__job_complete(c, a->job, a->owner, 0, a->now);
}

int store_job_drop(struct store *s, const struct store_job *job, const char *owner, int64_t now)
{
    struct drop_args a = {job, owner, now};
    return in_transaction(s, drop_tx, &a);
}

int store_job_stats(struct store *s, int64_t now, int *depth, int64_t *lag_us)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_JOBS_STATS);
    int rc = store__read(c, st, st ? db_bind_int64(st, 1, now) : DB_OK, "job stats");
    if (rc == STORE_OK) {
        *depth = db_col_int(st, 0);
        bool any_due = !db_col_is_null(st, 1);
        *lag_us = any_due ? now - db_col_int64(st, 1) : 0;
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_job_next_due(struct store *s, int64_t *when)
{
    return store_job_next_due_filtered(s, NULL, when);
}

int store_job_next_due_filtered(struct store *s, const struct store_job_filter *f, int64_t *when)
{
    return store_job_next_due_before(s, f, INT64_MAX, when);
}

static int bind_next_due(struct db_stmt *st, const char *list, const struct store_job_filter *f,
                         int64_t before)
{
    int b = bind_filter(st, 1, list, f);
    return b ? b : db_bind_int64(st, 3, before);
}

int store_job_next_due_before(struct store *s, const struct store_job_filter *f, int64_t before,
                              int64_t *when)
{
    char list[STORE_JOB_FILTER_SIZE];
    if (filter_list(f, list, sizeof list) < 0)
        return STORE_ERROR;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_JOBS_NEXT_DUE);
    int rc = store__read(c, st, st ? bind_next_due(st, list, f, before) : DB_OK, "job next due");
    if (rc == STORE_OK)
        *when = db_col_is_null(st, 0) ? 0 : db_col_int64(st, 0);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_job_reap(struct store *s, int64_t now, int *count)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_JOBS_REAP);
    int rc = store__write(c, st, st ? db_bind_int64(st, 1, now) : DB_OK, false, "job reap");
    *count = rc == STORE_OK ? (int)db_changes(c) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
