/* Unit tests of group commit (store/store_batch.c) on a real store (SQLite, and PostgreSQL
 * as test_store_batch_pg): a lone write is its own batch; writes queued behind a commit in
 * progress are all committed by the next leader in one transaction; a failing write in a
 * batch undoes only its own work and gets its own error; waiters are woken only when
 * their write is done (no herd), and then the whole batch is readable from another
 * connection (acknowledged after the commit, even though the next leader is woken first);
 * and the counters say so. Asynchronous writes are committed by the store's committer
 * thread, together with synchronous ones queued beside them; each is told its own result
 * exactly once, after its batch is readable elsewhere; the committer stops with the store.
 * On SQLite, a pool's WAL is checkpointed by a background thread, off every commit's
 * path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "store/store.h"
#include "testutil.h"

#define T0 1700000000000000LL
#define WRITERS 24        /* queued behind the gate */
#define WAIT_ROUNDS 20000 /* bounded polls of 1 ms while waiting for threads to queue */

static int setup(void **state)
{
    return tu_store_fx_setup(state, "/tmp/tlsward-test-batch-XXXXXX", 4, false);
}

/* One write: schedules a job named after it, then fails when asked to (after writing, so
 * the rollback of its savepoint is what keeps the job out). */
struct write {
    struct store *s;
    char target[32];
    int fail_with; /* STORE_OK: succeed */
    int rc;
    int depth_after; /* due jobs another connection reads right after a successful return */
    pthread_t thread;
};

static int write_fn(struct conn *c, void *ctx)
{
    struct write *w = ctx;
    int rc = store__job_schedule(c, STORE_JOB_PACK_ADVANCE, w->target, T0, T0);
    return rc != STORE_OK ? rc : w->fail_with;
}

/* The gate: the first batch's only write, which holds its transaction open until every
 * other writer has queued behind it (bounded: the test fails if they never do). */
struct gate {
    struct store *s;
    atomic_bool entered;
    int want_queued;
    bool all_queued;
};

static int gate_fn(struct conn *c, void *ctx)
{
    struct gate *g = ctx;
    atomic_store(&g->entered, true);
    struct store_batch_stats st;
    for (int i = 0; i < WAIT_ROUNDS; i++) {
        store_batch_stats(g->s, &st);
        if (st.queued >= g->want_queued) {
            g->all_queued = true;
            break;
        }
        usleep(1000);
    }
    return store__job_schedule(c, STORE_JOB_PACK_ADVANCE, "gate", T0, T0);
}

static void *gate_main(void *arg)
{
    struct gate *g = arg;
    assert_int_equal(store__batch(g->s, gate_fn, g), STORE_OK);
    return NULL;
}

static void *write_main(void *arg)
{
    struct write *w = arg;
    w->rc = store__batch(w->s, write_fn, w);
    int64_t lag;
    w->depth_after = -1;
    if (w->rc == STORE_OK && store_job_stats(w->s, T0 + 1, &w->depth_after, &lag) != STORE_OK)
        w->depth_after = -2;
    return NULL;
}

/* Starts the gate's batch (want: the writes it waits for) and waits until it is inside. */
static void open_gate(struct store *s, struct gate *g, int want, pthread_t *thread)
{
    *g = (struct gate){.s = s, .want_queued = want};
    assert_int_equal(pthread_create(thread, NULL, gate_main, g), 0);
    for (int i = 0; i < WAIT_ROUNDS && !atomic_load(&g->entered); i++)
        usleep(1000);
    assert_true(atomic_load(&g->entered));
}

/* The result every third write of five fails with (with_failures), else STORE_OK. */
static int planned_rc(int i, bool with_failures)
{
    return with_failures && i % 5 == 3 ? STORE_CONFLICT : STORE_OK;
}

/* n synchronous writers, each on its own thread, targets prefix0, prefix1, ... */
static void start_writers(struct store *s, struct write *w, int n, const char *prefix,
                          bool with_failures)
{
    for (int i = 0; i < n; i++) {
        w[i] = (struct write){.s = s, .fail_with = planned_rc(i, with_failures)};
        snprintf(w[i].target, sizeof w[i].target, "%s%d", prefix, i);
        assert_int_equal(pthread_create(&w[i].thread, NULL, write_main, &w[i]), 0);
    }
}

static void join_writers(struct write *w, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
}

/* The jobs the store holds, by target (claimed: every one is due). */
static int count_jobs(struct store *s, const char *target)
{
    struct store_job jobs[64];
    int count = 0, found = 0;
    static int round;
    char owner[32];
    snprintf(owner, sizeof owner, "counter-%d", round++);
    assert_int_equal(store_job_claim(s, owner, T0 + 1, 1000000, jobs, 64, &count), STORE_OK);
    for (int i = 0; i < count; i++)
        if (!target || strcmp(jobs[i].target, target) == 0)
            found++;
    for (int i = 0; i < count; i++) /* give them back for the next count */
        assert_int_equal(store_job_retry(s, &jobs[i], owner, T0), STORE_OK);
    return found;
}

static void test_lone_write(void **state)
{
    struct tu_store_fx *fx = *state;
    struct write w = {.s = fx->s, .target = "lone"};
    assert_int_equal(store__batch(fx->s, write_fn, &w), STORE_OK);
    struct store_batch_stats st;
    store_batch_stats(fx->s, &st);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.items, 1);
    assert_int_equal(st.largest, 1);
    assert_int_equal(st.queued, 0);
    /* A lone write leads its own batch: it waits for exactly its own transaction. */
    assert_true(st.commit_us > 0);
    assert_true(st.wait_us >= st.commit_us);
    assert_int_equal(count_jobs(fx->s, "lone"), 1);
}

static void test_queued_writes_commit_together(void **state)
{
    struct tu_store_fx *fx = *state;
    struct gate g;
    pthread_t gate;
    open_gate(fx->s, &g, WRITERS, &gate);
    struct write w[WRITERS];
    start_writers(fx->s, w, WRITERS, "w", true);
    join_writers(w, WRITERS);
    assert_int_equal(pthread_join(gate, NULL), 0);
    /* The gate's transaction stayed open until every writer had queued. */
    assert_true(g.all_queued);

    struct store_batch_stats st;
    store_batch_stats(fx->s, &st);
    /* The gate alone, then everything that queued behind it in one transaction. */
    assert_int_equal(st.items, WRITERS + 1);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.largest, WRITERS);
    assert_int_equal(st.queued, 0);
    /* Each batch's leader waited for its whole transaction (it queued before BEGIN and
     * returns after COMMIT), so the writes' waits add up to at least the commits' time. */
    assert_true(st.commit_us > 0);
    assert_true(st.wait_us >= st.commit_us);

    int ok = 0, ok_total = 0;
    for (int i = 0; i < WRITERS; i++)
        ok_total += planned_rc(i, true) == STORE_OK;
    for (int i = 0; i < WRITERS; i++) {
        int want = planned_rc(i, true);
        assert_int_equal(w[i].rc, want); /* each write's own result */
        /* Acknowledged only once its batch (the gate's job, then every other successful
         * write) was committed: another connection already saw all of it. */
        if (want == STORE_OK)
            assert_int_equal(w[i].depth_after, ok_total + 1);
        assert_int_equal(count_jobs(fx->s, w[i].target), want == STORE_OK ? 1 : 0);
        ok += want == STORE_OK;
    }
    assert_int_equal(count_jobs(fx->s, "gate"), 1);
    assert_int_equal(count_jobs(fx->s, NULL), ok + 1);
}

/* One asynchronous write and what its completion saw. */
struct async_write {
    struct write w;
    atomic_int done_calls;
    int rc;
    int depth_at_done; /* due jobs another connection reads in the completion */
    pthread_t done_on;
};

static void async_done(void *ctx, int rc)
{
    struct async_write *a = ctx;
    a->rc = rc;
    a->done_on = pthread_self();
    int64_t lag;
    a->depth_at_done = -1;
    if (rc == STORE_OK && store_job_stats(a->w.s, T0 + 1, &a->depth_at_done, &lag) != STORE_OK)
        a->depth_at_done = -2;
    atomic_fetch_add(&a->done_calls, 1);
}

#define ASYNC_WRITERS 12
#define SYNC_WRITERS 4

/* n asynchronous writes from this thread, targets prefix0, prefix1, ... */
static void submit_async(struct store *s, struct async_write *a, int n, const char *prefix,
                         bool with_failures)
{
    for (int i = 0; i < n; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].w = (struct write){.s = s, .fail_with = planned_rc(i, with_failures)};
        snprintf(a[i].w.target, sizeof a[i].w.target, "%s%d", prefix, i);
        store__batch_async(s, write_fn, &a[i].w, async_done, &a[i]);
    }
}

/* Waits (bounded) until every asynchronous write has been told its result. */
static void wait_async(struct async_write *a, int n)
{
    for (int round = 0; round < WAIT_ROUNDS; round++) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += atomic_load(&a[i].done_calls) > 0;
        if (done == n)
            return;
        usleep(1000);
    }
    fail_msg("asynchronous writes were not all told their result");
}

static void test_async_writes_commit_with_sync_ones(void **state)
{
    struct tu_store_fx *fx = *state;
    struct gate g;
    pthread_t gate;
    open_gate(fx->s, &g, ASYNC_WRITERS + SYNC_WRITERS, &gate);
    static struct async_write a[ASYNC_WRITERS];
    submit_async(fx->s, a, ASYNC_WRITERS, "a", true);
    struct write w[SYNC_WRITERS];
    start_writers(fx->s, w, SYNC_WRITERS, "s", false);
    join_writers(w, SYNC_WRITERS);
    assert_int_equal(pthread_join(gate, NULL), 0);
    assert_true(g.all_queued);
    wait_async(a, ASYNC_WRITERS);

    /* The gate alone, then every queued write, of both kinds, in one transaction. */
    struct store_batch_stats st;
    store_batch_stats(fx->s, &st);
    assert_int_equal(st.items, 1 + ASYNC_WRITERS + SYNC_WRITERS);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.largest, ASYNC_WRITERS + SYNC_WRITERS);
    assert_int_equal(st.queued, 0);

    int ok_total = 1 + SYNC_WRITERS; /* the gate and the synchronous writes */
    for (int i = 0; i < ASYNC_WRITERS; i++)
        ok_total += planned_rc(i, true) == STORE_OK;
    for (int i = 0; i < SYNC_WRITERS; i++) {
        assert_int_equal(w[i].rc, STORE_OK);
        assert_int_equal(w[i].depth_after, ok_total);
        assert_int_equal(count_jobs(fx->s, w[i].target), 1);
    }
    for (int i = 0; i < ASYNC_WRITERS; i++) {
        int want = planned_rc(i, true);
        assert_int_equal(atomic_load(&a[i].done_calls), 1);
        assert_int_equal(a[i].rc, want); /* its own result; a failure undid only its job */
        /* Told only once the whole batch was readable elsewhere. */
        if (want == STORE_OK)
            assert_int_equal(a[i].depth_at_done, ok_total);
        assert_int_equal(count_jobs(fx->s, a[i].w.target), want == STORE_OK ? 1 : 0);
    }
    assert_int_equal(count_jobs(fx->s, NULL), ok_total);
}

/* With nobody leading, an asynchronous write is committed by the committer thread, never
 * by its caller; closing the store lets the committer finish what is queued, then stops
 * it, and every write is in the file. */
static void test_async_writes_committed_by_the_committer(void **state)
{
    struct tu_store_fx *fx = *state;
    static struct async_write a[ASYNC_WRITERS];
    submit_async(fx->s, a, ASYNC_WRITERS, "c", false);
    store_close(fx->s); /* completions run before it returns */
    fx->s = NULL;
    for (int i = 0; i < ASYNC_WRITERS; i++) {
        assert_int_equal(atomic_load(&a[i].done_calls), 1);
        assert_int_equal(a[i].rc, STORE_OK);
        assert_false(pthread_equal(a[i].done_on, pthread_self()));
    }
    assert_int_equal(tu_store_sql_int(fx->path, "SELECT count(*) FROM jobs", NULL), ASYNC_WRITERS);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 4, &fx->s), STORE_OK);
}

/* Many jobs in one write, so that a few hundred commits fill the WAL. */
struct bulk {
    int round;
};

static int bulk_fn(struct conn *c, void *ctx)
{
    struct bulk *b = ctx;
    int rc = STORE_OK;
    for (int i = 0; i < 40 && rc == STORE_OK; i++) {
        char target[48];
        snprintf(target, sizeof target, "bulk-%05d-%02d-padding-the-row", b->round % 100000, i);
        rc = store__job_schedule(c, STORE_JOB_PACK_ADVANCE, target, T0, T0);
    }
    return rc;
}

/* A SQLite store with a pool checkpoints its WAL in the background, not in a commit:
 * commits that fill the WAL past its checkpoint threshold (1,000 pages) wake the
 * checkpointer, which copies the bulk; a commit then copies the short tail left, so the
 * WAL starts over and its file stays near the threshold's size; no commit had to copy the
 * whole WAL; every write is there after the store is closed. (SQLite's own auto-checkpoint
 * would have copied all of it inside those commits, counted nowhere.) */
static void test_wal_checkpointed_in_background(void **state)
{
    TU_SQLITE_ONLY("the WAL is SQLite's");
    struct tu_store_fx *fx = *state;
    struct store_checkpoint_stats cs = {0};
    int rounds = 0;
    for (; rounds < 5000 && (cs.background < 2 || cs.tail < 2); rounds++) {
        struct bulk b = {rounds};
        assert_int_equal(store__batch(fx->s, bulk_fn, &b), STORE_OK);
        store_checkpoint_stats(fx->s, &cs);
    }
    assert_true(cs.background >= 2);
    assert_true(cs.tail >= 2);
    assert_int_equal(cs.inline_, 0);
    /* The WAL started over: its file never held much more than the threshold's pages
     * (each a 24-byte frame header and a 4 KiB page). */
    char *wal = xasprintf("%s-wal", fx->path);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    xfree(wal);
    assert_true(st.st_size < 1300LL * (4096 + 24));
    store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(tu_store_sql_int(fx->path, "SELECT count(*) FROM jobs", NULL), rounds * 40);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 4, &fx->s), STORE_OK);
}

/* With a pool of one (a CLI command) there is no checkpointer: SQLite checkpoints as it
 * always did. */
static void test_no_checkpointer_with_one_connection(void **state)
{
    TU_SQLITE_ONLY("the WAL is SQLite's");
    struct tu_store_fx *fx = *state;
    store_close(fx->s);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 1, &fx->s), STORE_OK);
    for (int round = 0; round < 400; round++) {
        struct bulk b = {round};
        assert_int_equal(store__batch(fx->s, bulk_fn, &b), STORE_OK);
    }
    struct store_checkpoint_stats cs;
    store_checkpoint_stats(fx->s, &cs);
    assert_int_equal(cs.background, 0);
    assert_int_equal(cs.tail, 0);
    assert_int_equal(cs.inline_, 0);
    assert_int_equal(tu_store_sql_int(fx->path, "SELECT count(*) FROM jobs", NULL), 400 * 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lone_write, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_queued_writes_commit_together, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_async_writes_commit_with_sync_ones, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_async_writes_committed_by_the_committer, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointed_in_background, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_checkpointer_with_one_connection, setup,
                                        tu_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
