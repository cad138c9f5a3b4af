/* Unit tests of the worker's durable job queue (store/store_jobs.c) on a real store
 * (SQLite, and PostgreSQL as test_store_jobs_pg): scheduling and its merge rule, claiming (due
 * time, max, oldest first, one owner per job, also from concurrent threads), leases and their
 * expiry, retry and drop with their ownership check, stats and next-due, the "rerun" of a job
 * re-scheduled while it is leased (through store_job_drop and through the client CA's CRL job),
 * lease renewal and its failure once taken over, a stale claim of the same owner, the reaper of
 * expired leases, the lanes' claim filter, and the worker's back-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "worker/worker.h"
#include "testutil.h"

#define SEC 1000000LL
#define LEASE (60 * SEC)

static int setup(void **state)
{
    return tu_store_fx_setup(state, "/tmp/tlsward-test-jobs-XXXXXX", 6, false);
}

/* Claims with max 64 and asserts success; returns the count. */
static int claim(struct store *s, const char *owner, int64_t now, int64_t lease,
                 struct store_job *out, int max)
{
    int count = -1;
    assert_int_equal(store_job_claim(s, owner, now, lease, out, max, &count), STORE_OK);
    assert_true(count >= 0 && count <= max);
    return count;
}

static int64_t next_due(struct store *s)
{
    int64_t when = -1;
    assert_int_equal(store_job_next_due(s, &when), STORE_OK);
    return when;
}

static int depth(struct store *s)
{
    int d = -1;
    int64_t lag = -1;
    assert_int_equal(store_job_stats(s, util_now_us(), &d, &lag), STORE_OK);
    return d;
}

/* ---- schedule and claim ---- */

/* A worker asks only "what is due before I would wake anyway?": jobs after that bound are
 * not looked at (0 when none is inside it); a leased job inside it counts from its lease's
 * end, even when that is past the bound. */
static void test_next_due_before_a_bound(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us(), when = -1;
    assert_int_equal(store_job_schedule(s, "test.kind", "soon", t + 10 * SEC), STORE_OK);
    assert_int_equal(store_job_schedule(s, "test.kind", "later", t + 100 * SEC), STORE_OK);
    assert_int_equal(store_job_next_due_before(s, NULL, t + 5 * SEC, &when), STORE_OK);
    assert_int_equal(when, 0); /* nothing inside the bound */
    assert_int_equal(store_job_next_due_before(s, NULL, t + 50 * SEC, &when), STORE_OK);
    assert_int_equal(when, t + 10 * SEC);
    assert_int_equal(store_job_next_due_before(s, NULL, t + 100 * SEC, &when), STORE_OK);
    assert_int_equal(when, t + 10 * SEC);
    assert_int_equal(next_due(s), t + 10 * SEC); /* unbounded: the same earliest job */

    /* "soon" claimed at its due time: it counts from its lease's end, past a bound that
     * only its due time is inside; "later" stays out of that bound. */
    struct store_job job;
    assert_int_equal(claim(s, "owner", t + 10 * SEC, LEASE, &job, 1), 1);
    assert_int_equal(store_job_next_due_before(s, NULL, t + 50 * SEC, &when), STORE_OK);
    assert_int_equal(when, t + 10 * SEC + LEASE);
    assert_int_equal(next_due(s),
                     t + 10 * SEC + LEASE < t + 100 * SEC ? t + 10 * SEC + LEASE : t + 100 * SEC);
}

static void test_schedule_then_claim(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "target-1", t), STORE_OK);
    assert_int_equal(depth(s), 1);

    struct store_job jobs[4];
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 4), 1);
    assert_true(jobs[0].id > 0);
    assert_string_equal(jobs[0].kind, "test.kind");
    assert_string_equal(jobs[0].target, "target-1");
    assert_int_equal(jobs[0].attempts, 1);
    assert_int_equal(jobs[0].next_run_at, t);

    /* Claimed: neither the same owner nor another gets it again under the lease. */
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 4), 0);
    assert_int_equal(claim(s, "owner-b", t + 1, LEASE, jobs, 4), 0);
    assert_int_equal(depth(s), 1); /* still queued until completed */
}

static void test_not_due_not_claimed(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "later", t + 3600 * SEC), STORE_OK);
    struct store_job jobs[2];
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 2), 0);
    assert_int_equal(claim(s, "owner-a", t + 3600 * SEC - 1, LEASE, jobs, 2), 0);
    /* Due exactly at next_run_at. */
    assert_int_equal(claim(s, "owner-a", t + 3600 * SEC, LEASE, jobs, 2), 1);
    assert_string_equal(jobs[0].target, "later");
    assert_int_equal(jobs[0].next_run_at, t + 3600 * SEC);
}

static void test_claim_respects_max_oldest_first(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    /* Inserted newest first, so "oldest first" cannot be insertion order. */
    for (int i = 4; i >= 0; i--) {
        char target[16];
        snprintf(target, sizeof target, "t%d", i);
        assert_int_equal(store_job_schedule(s, "test.kind", target, t - (10 - i) * SEC), STORE_OK);
    }
    struct store_job jobs[8];
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 2), 2);
    bool seen[5] = {false};
    for (int i = 0; i < 2; i++) {
        int n = -1;
        assert_int_equal(sscanf(jobs[i].target, "t%d", &n), 1);
        assert_true(n == 0 || n == 1); /* the two oldest */
        assert_false(seen[n]);
        seen[n] = true;
    }
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 1), 1);
    assert_string_equal(jobs[0].target, "t2");
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 8), 2);
    assert_int_equal(claim(s, "owner-a", t, LEASE, jobs, 8), 0);
}

static void test_schedule_existing_moves_earlier_never_later(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us() + 3600 * SEC;
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t + 100 * SEC), STORE_OK);
    assert_int_equal(next_due(s), t + 100 * SEC);

    /* Later: ignored. */
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t + 200 * SEC), STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + 100 * SEC);

    /* Earlier: moves. */
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t + 50 * SEC), STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + 50 * SEC);

    /* The same target under another kind is another job. */
    assert_int_equal(store_job_schedule(s, "other.kind", "x", t + 500 * SEC), STORE_OK);
    assert_int_equal(depth(s), 2);

    struct store_job jobs[4];
    assert_int_equal(claim(s, "owner-a", t + 50 * SEC - 1, LEASE, jobs, 4), 0);
    assert_int_equal(claim(s, "owner-a", t + 50 * SEC, LEASE, jobs, 4), 1);
    assert_string_equal(jobs[0].kind, "test.kind");
    assert_int_equal(jobs[0].next_run_at, t + 50 * SEC);
    assert_int_equal(jobs[0].attempts, 1);
}

/* ---- owners and leases ---- */

static void test_two_owners_never_share_a_job(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    for (int i = 0; i < 10; i++) {
        char target[16];
        snprintf(target, sizeof target, "t%d", i);
        assert_int_equal(store_job_schedule(s, "test.kind", target, t - SEC), STORE_OK);
    }
    struct store_job a[16], b[16], c[16];
    int na = claim(s, "owner-a", t, LEASE, a, 4);
    int nb = claim(s, "owner-b", t, LEASE, b, 16);
    assert_int_equal(na, 4);
    assert_int_equal(nb, 6);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            assert_true(a[i].id != b[j].id);
    for (int j = 1; j < nb; j++)
        for (int k = 0; k < j; k++)
            assert_true(b[j].id != b[k].id);
    assert_int_equal(claim(s, "owner-c", t, LEASE, c, 16), 0);
}

#define CONC_THREADS 4
#define CONC_JOBS 200

struct claimer {
    struct store *s;
    pthread_barrier_t *start;
    char owner[16];
    int64_t now;
    int64_t ids[CONC_JOBS];
    int count;
    int errors;    /* claims that did not return STORE_OK */
    int overflows; /* more jobs than fit (cannot happen unless a job is claimed twice) */
};

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    pthread_barrier_wait(c->start);
    for (;;) {
        struct store_job jobs[7];
        int n = 0;
        if (store_job_claim(c->s, c->owner, c->now, LEASE, jobs, 7, &n) != STORE_OK) {
            c->errors++;
            if (c->errors > 100)
                break;
            continue;
        }
        if (n == 0)
            break; /* nothing is left unleased: no lease is given back in this test */
        for (int i = 0; i < n; i++) {
            if (c->count == CONC_JOBS)
                c->overflows++;
            else
                c->ids[c->count++] = jobs[i].id;
        }
        if (c->overflows)
            break; /* jobs handed out twice: stop rather than spin */
    }
    return NULL;
}

static void test_concurrent_claims_each_job_once(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    for (int i = 0; i < CONC_JOBS; i++) {
        char target[16];
        snprintf(target, sizeof target, "job-%d", i);
        assert_int_equal(store_job_schedule(s, "test.kind", target, t - CONC_JOBS + i), STORE_OK);
    }
    assert_int_equal(depth(s), CONC_JOBS);

    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, CONC_THREADS), 0);
    struct claimer *cl = xcalloc(CONC_THREADS, sizeof *cl);
    pthread_t th[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++) {
        cl[i].s = s;
        cl[i].start = &start;
        cl[i].now = t;
        snprintf(cl[i].owner, sizeof cl[i].owner, "owner-%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, claimer_main, &cl[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);

    /* Job ids are 1..200 (INTEGER PRIMARY KEY on a fresh table); each seen exactly once. */
    int seen[CONC_JOBS + 1] = {0};
    int total = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        assert_int_equal(cl[i].errors, 0);
        assert_int_equal(cl[i].overflows, 0);
        for (int j = 0; j < cl[i].count; j++) {
            assert_true(cl[i].ids[j] >= 1 && cl[i].ids[j] <= CONC_JOBS);
            seen[cl[i].ids[j]]++;
        }
        total += cl[i].count;
    }
    assert_int_equal(total, CONC_JOBS);
    for (int id = 1; id <= CONC_JOBS; id++)
        assert_int_equal(seen[id], 1);
    xfree(cl);
}

static void test_lease_expiry_makes_job_claimable_again(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    struct store_job a, b;
    assert_int_equal(claim(s, "owner-a", t, 10 * SEC, &a, 1), 1);
    assert_int_equal(a.attempts, 1);

    /* While a holds the lease, b gets nothing; the lease ends at t + 10 s exactly. */
    assert_int_equal(claim(s, "owner-b", t + 5 * SEC, 10 * SEC, &b, 1), 0);
    assert_int_equal(claim(s, "owner-b", t + 10 * SEC - 1, 10 * SEC, &b, 1), 0);
    assert_int_equal(claim(s, "owner-b", t + 10 * SEC, 10 * SEC, &b, 1), 1);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.attempts, 2);
    assert_string_equal(b.target, "x");

    /* a lost the lease: neither its retry nor its drop may touch the job. */
    assert_int_equal(store_job_retry(s, &a, "owner-a", t + 1), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &a, "owner-a", t + 11 * SEC), STORE_CONFLICT);
    assert_int_equal(depth(s), 1);
    assert_int_equal(claim(s, "owner-c", t + 15 * SEC, 10 * SEC, &b, 1), 0); /* b still holds it */

    /* And after b's lease too: attempts 3. */
    assert_int_equal(claim(s, "owner-c", t + 20 * SEC, 10 * SEC, &b, 1), 1);
    assert_int_equal(b.attempts, 3);
}

static void test_retry_moves_job_and_keeps_attempts(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    struct store_job j;
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);
    assert_int_equal(store_job_retry(s, &j, "owner-a", t + 30 * SEC), STORE_OK);
    assert_int_equal(depth(s), 1);
    /* The lease is released (next_due is the retry time, not the lease end t + 60 s). */
    assert_int_equal(next_due(s), t + 30 * SEC);

    assert_int_equal(claim(s, "owner-b", t + 30 * SEC - 1, LEASE, &j, 1), 0);
    assert_int_equal(claim(s, "owner-b", t + 30 * SEC, LEASE, &j, 1), 1);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(j.next_run_at, t + 30 * SEC);

    /* A retry can also move a job earlier than it was. */
    assert_int_equal(store_job_retry(s, &j, "owner-b", t + 5 * SEC), STORE_OK);
    assert_int_equal(next_due(s), t + 5 * SEC);
    assert_int_equal(claim(s, "owner-a", t + 5 * SEC, LEASE, &j, 1), 1);
    assert_int_equal(j.attempts, 3);
}

static void test_retry_and_drop_by_non_owner_conflict(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    struct store_job j, other;
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);

    assert_int_equal(store_job_retry(s, &j, "owner-b", t + SEC), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &j, "owner-b", t), STORE_CONFLICT);
    assert_int_equal(store_job_retry(s, &j, "", t + SEC), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &j, "", t), STORE_CONFLICT);

    /* Nothing changed: still queued, still a's (b cannot claim it, next due = lease end). */
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + LEASE);
    assert_int_equal(claim(s, "owner-b", t + SEC, LEASE, &other, 1), 0);

    /* A job id that does not exist. */
    struct store_job ghost = j;
    ghost.id = j.id + 1000;
    assert_int_equal(store_job_retry(s, &ghost, "owner-a", t), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &ghost, "owner-a", t), STORE_CONFLICT);

    /* The owner may. */
    assert_int_equal(store_job_drop(s, &j, "owner-a", t), STORE_OK);
    assert_int_equal(depth(s), 0);
}

static void test_drop_deletes(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    assert_int_equal(store_job_schedule(s, "test.kind", "y", t + 3600 * SEC), STORE_OK);
    struct store_job j;
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);
    assert_string_equal(j.target, "x");
    assert_int_equal(store_job_drop(s, &j, "owner-a", t), STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + 3600 * SEC); /* only y is left */
    /* Dropping again: it is gone. */
    assert_int_equal(store_job_drop(s, &j, "owner-a", t), STORE_CONFLICT);
    /* Far in the future (every lease long expired) only y can be claimed. */
    struct store_job all[4];
    assert_int_equal(claim(s, "owner-z", t + 86400 * SEC, LEASE, all, 4), 1);
    assert_string_equal(all[0].target, "y");
    /* Scheduling x again makes a fresh job. */
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);
    assert_string_equal(j.target, "x");
    assert_int_equal(j.attempts, 1);
}

static void test_stats_depth_and_lag(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    int d = -1;
    int64_t lag = -1;
    assert_int_equal(store_job_stats(s, t, &d, &lag), STORE_OK);
    assert_int_equal(d, 0);
    assert_int_equal(lag, 0);

    assert_int_equal(store_job_schedule(s, "test.kind", "a", t - 5 * SEC), STORE_OK);
    assert_int_equal(store_job_schedule(s, "test.kind", "b", t - 2 * SEC), STORE_OK);
    assert_int_equal(store_job_schedule(s, "test.kind", "c", t + 10 * SEC), STORE_OK);
    assert_int_equal(store_job_stats(s, t, &d, &lag), STORE_OK);
    assert_int_equal(d, 3);
    assert_int_equal(lag, 5 * SEC);

    /* Seen from before anything was due: every job counts, none waits. */
    assert_int_equal(store_job_stats(s, t - 10 * SEC, &d, &lag), STORE_OK);
    assert_int_equal(d, 3);
    assert_int_equal(lag, 0);

    /* The oldest done: the lag is b's. */
    struct store_job j;
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);
    assert_string_equal(j.target, "a");
    assert_int_equal(store_job_drop(s, &j, "owner-a", t), STORE_OK);
    assert_int_equal(store_job_stats(s, t, &d, &lag), STORE_OK);
    assert_int_equal(d, 2);
    assert_int_equal(lag, 2 * SEC);

    /* Later, c is due too but b is still the oldest. */
    assert_int_equal(store_job_stats(s, t + 20 * SEC, &d, &lag), STORE_OK);
    assert_int_equal(d, 2);
    assert_int_equal(lag, 22 * SEC);
}

static void test_next_due(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(next_due(s), 0);
    assert_int_equal(store_job_schedule(s, "test.kind", "a", t + 100 * SEC), STORE_OK);
    assert_int_equal(next_due(s), t + 100 * SEC);
    assert_int_equal(store_job_schedule(s, "test.kind", "b", t + 50 * SEC), STORE_OK);
    assert_int_equal(next_due(s), t + 50 * SEC);

    /* A leased job is not due again before its lease ends. */
    struct store_job j;
    assert_int_equal(claim(s, "owner-a", t + 50 * SEC, 200 * SEC, &j, 1), 1);
    assert_string_equal(j.target, "b");
    assert_int_equal(next_due(s), t + 100 * SEC);
    assert_int_equal(store_job_retry(s, &j, "owner-a", t + 70 * SEC), STORE_OK);
    assert_int_equal(next_due(s), t + 70 * SEC);
}

/* ---- rerun: re-scheduled while leased ---- */

static void test_rescheduled_while_leased_reruns_after_drop(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t), STORE_OK);
    struct store_job j, again;
    assert_int_equal(claim(s, "owner-a", t, LEASE, &j, 1), 1);

    /* Requested again while a runs it (even for later): still one job, and not
     * claimable by anyone else while the lease holds. */
    assert_int_equal(store_job_schedule(s, "test.kind", "x", t + 3600 * SEC), STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(claim(s, "owner-b", util_now_us(), LEASE, &again, 1), 0);

    /* a completes it: because of the rerun it stays queued, due now, fresh attempts. */
    int64_t done_at = util_now_us();
    assert_int_equal(store_job_drop(s, &j, "owner-a", done_at), STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), done_at);
    assert_int_equal(claim(s, "owner-b", done_at, LEASE, &again, 1), 1);
    assert_int_equal(again.id, j.id);
    assert_int_equal(again.attempts, 1);
    assert_int_equal(again.next_run_at, done_at);

    /* The claim consumed the rerun: the next completion deletes it. */
    assert_int_equal(store_job_drop(s, &again, "owner-b", util_now_us()), STORE_OK);
    assert_int_equal(depth(s), 0);
}

/* Users, account, zone and client CA for the CRL path. */
static void make_client_ca(struct store *s, int64_t t, int64_t refresh_at, char *ca_id,
                           char *zone_id)
{
    char account_id[STORE_ID_SIZE];
    tu_add_account(s, "jobs@example.com", "jobs account", account_id);
    tu_add_zone(s, account_id, "jobs.example", zone_id);

    unsigned char key[4] = {1, 2, 3, 4}, crl[3] = {5, 6, 7};
    struct store_client_ca ca = {.cert_pem = (char *)"-----BEGIN CERTIFICATE-----\n",
                                 .key_sealed = key,
                                 .key_sealed_len = sizeof key,
                                 .crl_number = 1,
                                 .crl_der = crl,
                                 .crl_len = sizeof crl,
                                 .crl_next_update = t + 7 * 86400 * SEC,
                                 .created_on = t};
    util_random_uuid(ca.id);
    snprintf(ca.account_id, sizeof ca.account_id, "%s", account_id);
    snprintf(ca.name, sizeof ca.name, "jobs CA");
    assert_int_equal(store_client_ca_create(s, &ca, refresh_at), STORE_OK);
    snprintf(ca_id, STORE_UUID_SIZE, "%s", ca.id);
}

static void test_crl_job_rescheduled_while_leased_reruns(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    int64_t refresh_at = t + 3600 * SEC;
    char ca_id[STORE_UUID_SIZE], zone_id[STORE_ID_SIZE];
    make_client_ca(s, t, refresh_at, ca_id, zone_id);

    /* A worker takes the CRL job when it falls due (its lease runs past the real now). */
    struct store_job crl_job, rv;
    assert_int_equal(claim(s, "owner-a", refresh_at, LEASE, &crl_job, 1), 1);
    assert_string_equal(crl_job.kind, "client_ca.crl");
    assert_string_equal(crl_job.target, ca_id);

    /* Meanwhile a certificate is revoked, which schedules the CRL job now. */
    struct store_client_cert c = {.validity_days = 1,
                                  .issued_on = t,
                                  .expires_on = t + 86400 * SEC,
                                  .created_on = t,
                                  .modified_on = t,
                                  .csr = (char *)"csr",
                                  .certificate = (char *)"cert"};
    util_random_id(c.id);
    snprintf(c.zone_id, sizeof c.zone_id, "%s", zone_id);
    snprintf(c.ca_id, sizeof c.ca_id, "%s", ca_id);
    assert_int_equal(STORE_ENUM_PARSE("active", &c.status), 0);
    snprintf(c.serial, sizeof c.serial, "0badc0de");
    assert_int_equal(store_client_cert_create(s, &c), STORE_OK);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_request(s, zone_id, c.id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               t + SEC, &got),
                     STORE_OK);
    store_client_cert_clear(&got);
    assert_int_equal(claim(s, "owner-b", t + SEC, LEASE, &rv, 1), 1);
    assert_string_equal(rv.kind, "client_cert.revoke");
    assert_int_equal(store_client_cert_complete(s, &rv, "owner-b", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t + 2 * SEC),
                     STORE_OK);
    /* Still a's until its lease ends. */
    assert_int_equal(claim(s, "owner-b", t + 2 * SEC, LEASE, &rv, 1), 0);

    /* a stores the CRL it built before the revocation: the job must run again at once,
     * not at the refresh time, so the revocation gets into a CRL. */
    unsigned char der[2] = {9, 9};
    int64_t done_at = t + 3 * SEC;
    assert_int_equal(store_client_ca_replace_crl(s, &crl_job, "owner-a", 1, 2, der, sizeof der,
                                                 t + 7 * 86400 * SEC, t + 5 * 86400 * SEC, done_at),
                     STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), done_at);
    struct store_job again;
    assert_int_equal(claim(s, "owner-c", done_at, LEASE, &again, 1), 1);
    assert_int_equal(again.id, crl_job.id);
    assert_int_equal(again.attempts, 1);

    /* Without a rerun, completing it moves it to the refresh time. */
    assert_int_equal(store_client_ca_replace_crl(s, &again, "owner-c", 2, 3, der, sizeof der,
                                                 t + 7 * 86400 * SEC, t + 5 * 86400 * SEC,
                                                 done_at + SEC),
                     STORE_OK);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + 5 * 86400 * SEC);
}

/* ---- back-off ---- */

/* ---- lease renewal (the heartbeat's store call) ---- */

static void test_renew_extends_lease(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "renewed", t), STORE_OK);
    struct store_job job;
    assert_int_equal(claim(s, "owner-a", t, 10 * SEC, &job, 1), 1);
    /* Renewed at t + 5 s for 10 s: the lease now ends at t + 15 s, not t + 10 s. */
    assert_int_equal(store_job_renew(s, &job, "owner-a", t + 5 * SEC, 10 * SEC), STORE_OK);
    struct store_job other;
    assert_int_equal(claim(s, "owner-b", t + 12 * SEC, LEASE, &other, 1), 0);
    assert_int_equal(next_due(s), t + 15 * SEC);
    /* Only the holder renews: another owner's renewal changes nothing. */
    assert_int_equal(store_job_renew(s, &job, "owner-b", t + 6 * SEC, 60 * SEC), STORE_CONFLICT);
    assert_int_equal(next_due(s), t + 15 * SEC);
    assert_int_equal(claim(s, "owner-b", t + 15 * SEC, LEASE, &other, 1), 1);
    assert_int_equal(other.id, job.id);
}

static void test_renew_after_takeover_conflicts(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "taken", t), STORE_OK);
    struct store_job a, b;
    assert_int_equal(claim(s, "owner-a", t, 2 * SEC, &a, 1), 1);
    /* a missed its renewals (a stalled or dead process): at the lease's end it is too late,
     * even before anyone else claimed the job. */
    assert_int_equal(store_job_renew(s, &a, "owner-a", t + 2 * SEC, 2 * SEC), STORE_CONFLICT);
    assert_int_equal(claim(s, "owner-b", t + 3 * SEC, 2 * SEC, &b, 1), 1);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.attempts, 2);
    /* b took it over: a's renewal fails, b's works; a can neither retry nor drop it. */
    assert_int_equal(store_job_renew(s, &a, "owner-a", t + 3 * SEC + 1, 2 * SEC), STORE_CONFLICT);
    assert_int_equal(store_job_renew(s, &b, "owner-b", t + 4 * SEC, 2 * SEC), STORE_OK);
    assert_int_equal(store_job_retry(s, &a, "owner-a", t), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &a, "owner-a", t + 4 * SEC), STORE_CONFLICT);
    assert_int_equal(depth(s), 1);
    assert_int_equal(next_due(s), t + 6 * SEC);
}

static void test_stale_claim_of_same_owner_conflicts(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "again", t), STORE_OK);
    struct store_job first, second;
    assert_int_equal(claim(s, "owner-a", t, 2 * SEC, &first, 1), 1);
    /* The same worker stalled past its lease and claimed the job again: a new claim
     * (attempt 2) with the same owner. The first claim must act no more. */
    assert_int_equal(claim(s, "owner-a", t + 3 * SEC, 2 * SEC, &second, 1), 1);
    assert_int_equal(second.id, first.id);
    assert_int_equal(second.attempts, first.attempts + 1);
    assert_int_equal(store_job_renew(s, &first, "owner-a", t + 3 * SEC + 1, 2 * SEC),
                     STORE_CONFLICT);
    assert_int_equal(store_job_retry(s, &first, "owner-a", t), STORE_CONFLICT);
    assert_int_equal(store_job_drop(s, &first, "owner-a", t + 4 * SEC), STORE_CONFLICT);
    assert_int_equal(depth(s), 1);
    /* The current claim still works. */
    assert_int_equal(store_job_renew(s, &second, "owner-a", t + 4 * SEC, 2 * SEC), STORE_OK);
    assert_int_equal(store_job_drop(s, &second, "owner-a", t + 4 * SEC), STORE_OK);
    assert_int_equal(depth(s), 0);
}

static void test_reap_gives_up_expired_leases(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(s, "test.kind", "dead", t), STORE_OK);
    assert_int_equal(store_job_schedule(s, "test.kind", "alive", t), STORE_OK);
    struct store_job dead, alive;
    assert_int_equal(claim(s, "owner-dead", t, 2 * SEC, &dead, 1), 1);
    assert_int_equal(claim(s, "owner-alive", t, 60 * SEC, &alive, 1), 1);
    int reaped = -1;
    assert_int_equal(store_job_reap(s, t + 1 * SEC, &reaped), STORE_OK);
    assert_int_equal(reaped, 0); /* nothing has run out yet */
    int depth_now = -1;
    int64_t lag = -1;
    assert_int_equal(store_job_reap(s, t + 3 * SEC, &reaped), STORE_OK);
    assert_int_equal(reaped, 1); /* only the dead holder's lease */
    assert_int_equal(store_job_stats(s, t + 3 * SEC, &depth_now, &lag), STORE_OK);
    assert_int_equal(depth_now, 2);
    assert_true(lag >= 3 * SEC); /* the reaped job waits again */
    /* The reaped job goes to the next claim; its old holder can no longer complete it. */
    struct store_job next;
    assert_int_equal(claim(s, "owner-b", t + 3 * SEC, 10 * SEC, &next, 1), 1);
    assert_string_equal(next.target, "dead");
    assert_int_equal(store_job_drop(s, &dead, "owner-dead", t + 4 * SEC), STORE_CONFLICT);
    assert_int_equal(store_job_renew(s, &alive, "owner-alive", t + 4 * SEC, 60 * SEC), STORE_OK);
}

/* ---- lanes: the claim filter ---- */

static const char *const revocation_kinds[] = {"client_cert.revoke", "client_cert.reactivate",
                                               "client_ca.crl"};
static const struct store_job_filter revocation_lane = {revocation_kinds, 3, false};
static const struct store_job_filter general_lane = {revocation_kinds, 3, true};

/* Claims one job through f at t and returns its target ("" when none was due). */
static const char *claim_one(struct store *s, const struct store_job_filter *f, int64_t t,
                             struct store_job *job)
{
    int n = -1;
    assert_int_equal(store_job_claim_filtered(s, f, "owner-a", t, LEASE, job, 1, &n), STORE_OK);
    assert_true(n == 0 || n == 1);
    return n ? job->target : "";
}

static void test_claim_filter_by_lane(void **state)
{
    struct store *s = ((struct tu_store_fx *)*state)->s;
    int64_t t = util_now_us();
    static const struct {
        const char *kind, *target;
        int age_s;
    } jobs[] = {
        {"pack.advance", "p1", 6},       {"zone.delete", "z1", 5},
        {"client_cert.revoke", "r1", 4}, {"some.future.kind", "u1", 3},
        {"client_ca.crl", "c1", 2},      {"client_cert.reactivate", "a1", 1},
        {"pack.advance", "p2", 0},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
        assert_int_equal(
            store_job_schedule(s, jobs[i].kind, jobs[i].target, t - jobs[i].age_s * SEC), STORE_OK);
    int64_t when = 0;
    assert_int_equal(store_job_next_due_filtered(s, &revocation_lane, &when), STORE_OK);
    assert_int_equal(when, t - 4 * SEC);
    assert_int_equal(store_job_next_due_filtered(s, &general_lane, &when), STORE_OK);
    assert_int_equal(when, t - 6 * SEC);

    /* The revocation lane takes only its kinds, oldest due first, though older work of
     * other kinds is due. */
    struct store_job job;
    assert_string_equal(claim_one(s, &revocation_lane, t, &job), "r1");
    assert_string_equal(job.kind, "client_cert.revoke");
    assert_string_equal(claim_one(s, &revocation_lane, t, &job), "c1");
    assert_string_equal(claim_one(s, &revocation_lane, t, &job), "a1");
    assert_string_equal(claim_one(s, &revocation_lane, t, &job), "");
    /* Its jobs are all leased: its next due is their lease's end. */
    assert_int_equal(store_job_next_due_filtered(s, &revocation_lane, &when), STORE_OK);
    assert_int_equal(when, t + LEASE);

    /* The general lane takes everything else, unknown kinds included. */
    assert_string_equal(claim_one(s, &general_lane, t, &job), "p1");
    assert_string_equal(claim_one(s, &general_lane, t, &job), "z1");
    assert_string_equal(claim_one(s, &general_lane, t, &job), "u1");
    assert_string_equal(job.kind, "some.future.kind");
    assert_string_equal(claim_one(s, &general_lane, t, &job), "p2");
    assert_string_equal(claim_one(s, &general_lane, t, &job), "");
    assert_int_equal(depth(s), 7);

    /* The lane table agrees: revocation work in its lane, the rest (unknown too) general. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(worker_lane_of(revocation_kinds[i]), WORKER_LANE_REVOCATION);
    assert_int_equal(worker_lane_of("pack.advance"), WORKER_LANE_GENERAL);
    assert_int_equal(worker_lane_of("aop.advance"), WORKER_LANE_GENERAL);
    assert_int_equal(worker_lane_of("zone.delete"), WORKER_LANE_GENERAL);
    assert_int_equal(worker_lane_of("some.future.kind"), WORKER_LANE_GENERAL);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(worker_backoff_us(1), 1 * SEC);
    assert_int_equal(worker_backoff_us(2), 2 * SEC);
    assert_int_equal(worker_backoff_us(3), 4 * SEC);
    assert_int_equal(worker_backoff_us(4), 8 * SEC);
    assert_int_equal(worker_backoff_us(8), 128 * SEC);
    assert_int_equal(worker_backoff_us(9), 256 * SEC);
    assert_int_equal(worker_backoff_us(10), 300 * SEC); /* 512 s capped */
    assert_int_equal(worker_backoff_us(11), 300 * SEC);
    assert_int_equal(worker_backoff_us(64), 300 * SEC);
    assert_int_equal(worker_backoff_us(1000), 300 * SEC);
    assert_int_equal(worker_backoff_us(INT_MAX), 300 * SEC);
    /* Never decreasing. */
    for (int i = 1; i < 40; i++)
        assert_true(worker_backoff_us(i + 1) >= worker_backoff_us(i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schedule_then_claim, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_next_due_before_a_bound, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_due_not_claimed, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_claim_respects_max_oldest_first, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_schedule_existing_moves_earlier_never_later, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_two_owners_never_share_a_job, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims_each_job_once, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry_makes_job_claimable_again, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_moves_job_and_keeps_attempts, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_and_drop_by_non_owner_conflict, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_drop_deletes, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_stats_depth_and_lag, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_next_due, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_rescheduled_while_leased_reruns_after_drop, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_crl_job_rescheduled_while_leased_reruns, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_renew_extends_lease, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_renew_after_takeover_conflicts, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_claim_of_same_owner_conflicts, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reap_gives_up_expired_leases, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_claim_filter_by_lane, setup, tu_store_fx_teardown),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
