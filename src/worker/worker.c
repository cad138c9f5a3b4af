/* The lifecycle worker.
 *
 * DESIGN
 * ------
 * Work lives in the store as jobs (kind, target, next_run_at), never in memory, so a
 * restarted process resumes everything.
 *
 * Lanes. Each job kind belongs to a lane (worker/jobs.c's lane table; kinds not in it go
 * to the general lane). Every lane has its own threads, which claim only the lane's
 * kinds, oldest due first:
 *   - general: validation, issuance, deployment, deletions; a pool of --worker-threads
 *     threads (default 4), so one tenant's slow DNS holds one thread, not the queue;
 *   - revocation: revocations, reactivations and CRL re-signing; one thread of its own,
 *     so a revocation never waits behind validation or issuance (an expired CRL would
 *     make TLS terminators refuse every client).
 * A lane thread loops: claim ONE due job of its lane (a job is claimed only when it is
 * about to run), run its handler, repeat; with nothing due it sleeps until its lane's
 * next job is due, the interval elapses, or an API request wakes every thread
 * (worker_wake, after it enqueued a job). General thread 0 tops up the RSA key pool when
 * idle; the pool's size (--rsa-key-pool) covers bursts of orders. (A second refilling
 * thread doubled the CPU key generation takes after every start; with it, a lease test of
 * two workers on 2 cores flaked once.) With PostgreSQL a listener thread (worker/job_listener.c)
 * also wakes every thread when a commit on any node made a job due (LISTEN/NOTIFY).
 *
 * Leases. A job is claimed under a short lease (--lease, default 15 s) that a heartbeat
 * thread renews every lease/3 for every job running in this worker. A renewal that fails
 * because the lease is no longer ours (CONFLICT), or that could not be made before the
 * lease ran out, marks the job lost: worker_lease_held() then answers false and the
 * handler stops before its next side effect. A dead process stops renewing, so its jobs
 * become claimable within one lease; a restarted process is a new owner. Handlers do slow
 * work (signing, network) outside any store transaction and then commit their status
 * change together with the job's completion, which checks the lease owner, so a job's
 * effect is committed at most once.
 *
 * A handler that fails transiently gets a retry with exponential back-off. Stopping sets
 * a flag every lane thread checks between jobs: jobs in progress finish (the heartbeat
 * keeps their leases until then), a job claimed but not started is given back at once,
 * then the lane threads and last the heartbeat are joined.
 *
 * Locking: w->lock guards the stop flags, the wake-up counter and every thread's record
 * of its running job (struct running), which the heartbeat reads and marks. Store calls
 * are never made under it. */
#include "worker/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "pki/key_pool.h"
#include "worker/deploy.h"
#include "worker/deploy_migrate.h"
#include "worker/job_listener.h"
#include "worker/node.h"

#include <sys/stat.h>
#include <unistd.h>

#define BACKOFF_CAP_US (300 * 1000000LL)
#define RUN_DUE_MAX 256             /* worker_run_due: jobs run in one call at most */
#define CLAIM_ERROR_PAUSE_US 200000 /* after a failed claim, before the next try */
#define KEY_REFILL_THREADS 1        /* general threads that top up the RSA key pool */

/* The job a thread is running, as the heartbeat and worker_lease_held see it. Guarded by
 * *lock (the worker's, or worker_run_due's own). */
struct running {
    pthread_mutex_t *lock;
    bool busy;    /* a job is running */
    bool lost;    /* its lease is gone: stop before the next side effect */
    unsigned seq; /* claim counter: a late renewal result of an older claim is ignored */
    struct store_job job;
    const char *owner;
    int64_t lease_us;
    int64_t lease_until; /* as far as this process knows */
};

struct lane_thread {
    struct worker *w;
    enum worker_lane lane;
    int index; /* within its lane */
    pthread_t thread;
    struct running run;
};

struct lane {
    const char *kinds[32];
    struct store_job_filter filter;
};

struct worker {
    struct app *app;
    int64_t interval_us, lease_us;
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* lane threads wait here */
    pthread_cond_t beat_wake; /* the heartbeat waits here */
    unsigned wakeups;         /* bumped by worker_wake */
    bool stopping;            /* lane threads: finish the job in hand, then return */
    bool beat_stopping;       /* the heartbeat: return (once the lanes are joined) */
    pthread_t heartbeat;
    struct lane lanes[WORKER_LANE_COUNT];
    int nthreads;
    struct lane_thread *threads;
    char owner[STORE_OWNER_SIZE];
    /* Wake-ups from commits in other processes (PostgreSQL), or NULL. */
    struct job_listener *listener;
    struct node_runner *node; /* this process as a node of the store (worker/node.h) */
};

/* The running job of the calling thread, for worker_lease_held: a handler's signature
 * carries no worker, so the lane thread (or worker_run_due) publishes it here while the
 * handler runs. Thread-local: each thread sees only its own job. */
static _Thread_local struct running *current;

int64_t worker_backoff_us(int attempts)
{
    int64_t us = 1000000;
    for (int i = 1; i < attempts && us < BACKOFF_CAP_US; i++)
        us *= 2;
    return us < BACKOFF_CAP_US ? us : BACKOFF_CAP_US;
}

static int64_t lease_of(const struct app *app)
{
    return app->config.lease_us >= WORKER_LEASE_MIN_US ? app->config.lease_us
                                                       : WORKER_LEASE_DEFAULT_US;
}

/* Records the result of a renewal made at `now` for claim `seq` of r (ignored when that
 * claim has ended meanwhile); true when it found the lease lost. */
static bool renewed(struct running *r, unsigned seq, int rc, int64_t now)
{
    bool lost = false;
    pthread_mutex_lock(r->lock);
    if (r->busy && r->seq == seq) {
        if (rc == STORE_OK)
            r->lease_until = now + r->lease_us;
        else if (rc == STORE_CONFLICT || now >= r->lease_until)
            lost = r->lost = true;
    }
    pthread_mutex_unlock(r->lock);
    return lost;
}

bool worker_lease_held(struct app *app, const struct store_job *job, const char *owner)
{
    struct running *r = current;
    bool mine = false, lost = false;
    unsigned seq = 0;
    int64_t lease = lease_of(app), until = 0;
    if (r) {
        pthread_mutex_lock(r->lock);
        mine = r->busy && r->job.id == job->id && strcmp(r->owner, owner) == 0;
        if (mine) {
            lost = r->lost;
            seq = r->seq;
            lease = r->lease_us;
        }
        pthread_mutex_unlock(r->lock);
    }
    if (lost)
        return false;
    /* The heartbeat may not have noticed yet: ask the store, which also renews. */
    int64_t now = util_now_us();
    int rc = store_job_renew(app->store, job, owner, now, lease);
    if (!mine)
        return rc == STORE_OK;
    renewed(r, seq, rc, now);
    pthread_mutex_lock(r->lock);
    lost = r->lost;
    until = r->lease_until;
    pthread_mutex_unlock(r->lock);
    /* A store error is not a loss while the lease we know of still runs. */
    return !lost && (rc == STORE_OK || now < until);
}

/* NULL for a kind this build does not run (STORE_JOB_INVALID: another build's). */
static const struct job_handler *find_handler(enum store_job_kind kind)
{
    for (int i = 0; i < worker_handler_count; i++)
        if (worker_handlers[i].kind == kind)
            return &worker_handlers[i];
    return NULL;
}

/* Runs a claimed job through its handler (r describes it) and records the outcome. */
static void run_job(struct app *app, struct running *r)
{
    const struct store_job *job = &r->job;
    const char *owner = r->owner;
    const struct job_handler *h = find_handler(job->kind_id);
    current = r;
    enum job_outcome outcome = h ? h->run(app, job, owner) : JOB_DROP;
    current = NULL;
    if (!h)
        log_msg(LOG_WARN, "worker: dropping job %lld of unknown kind %s", (long long)job->id,
                job->kind);
    pthread_mutex_lock(r->lock);
    bool lost = r->lost;
    pthread_mutex_unlock(r->lock);
    int64_t now = util_now_us();
    if (lost && outcome != JOB_DONE) {
        /* Never complete a job whose lease we lost: give it back if it is still ours (its
         * lease ran out but nobody took it), else its new holder finishes it. */
        log_msg(LOG_WARN, "worker: lost the lease of %s %s; leaving it to the next claim",
                job->kind, job->target);
        store_job_retry(app->store, job, owner, now);
    } else if (outcome == JOB_RETRY) {
        int64_t delay = worker_backoff_us(job->attempts);
        log_msg(LOG_WARN, "worker: %s %s failed (attempt %d); retrying in %lld s", job->kind,
                job->target, job->attempts, (long long)(delay / 1000000));
        store_job_retry(app->store, job, owner, now + delay);
    } else if (outcome == JOB_DROP) {
        store_job_drop(app->store, job, owner, now);
    } else if (outcome == JOB_AGAIN) {
        store_job_retry(app->store, job, owner, now);
    }
}

/* Marks r as running `job`, claimed at `now`. */
static void start_running(struct running *r, const struct store_job *job, int64_t now)
{
    pthread_mutex_lock(r->lock);
    r->busy = true;
    r->lost = false;
    r->seq++;
    r->job = *job;
    r->lease_until = now + r->lease_us;
    pthread_mutex_unlock(r->lock);
}

static void stop_running(struct running *r)
{
    pthread_mutex_lock(r->lock);
    r->busy = false;
    pthread_mutex_unlock(r->lock);
}

int worker_run_due(struct app *app, const char *owner)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct running r = {.lock = &lock, .owner = owner, .lease_us = lease_of(app)};
    /* Jobs due when the call began: one that asks to run again (or is scheduled by a job
     * of this call) waits for the next call, as a test expects. */
    int64_t start = util_now_us();
    int ran = 0;
    struct store_job job;
    for (int count = 0; ran < RUN_DUE_MAX; ran++) {
        if (store_job_claim(app->store, owner, start, r.lease_us, &job, 1, &count) != STORE_OK ||
            count == 0)
            break;
        start_running(&r, &job, start);
        run_job(app, &r);
        stop_running(&r);
    }
    pthread_mutex_destroy(&lock);
    return ran;
}

/* ---- the threads ---- */

static bool stopping(struct worker *w, unsigned *wakeups)
{
    pthread_mutex_lock(&w->lock);
    bool stop = w->stopping;
    if (wakeups)
        *wakeups = w->wakeups;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

/* Claims one due job of t's lane and runs it: 1 if one ran, 0 if none was due, -1 when
 * the claim failed. A job claimed while the worker is stopping is given back unrun. */
static int run_one(struct lane_thread *t)
{
    struct worker *w = t->w;
    struct store_job job;
    int count = 0;
    int64_t now = util_now_us();
    if (store_job_claim_filtered(w->app->store, &w->lanes[t->lane].filter, w->owner, now,
                                 w->lease_us, &job, 1, &count) != STORE_OK)
        return -1;
    if (count == 0)
        return 0;
    if (stopping(w, NULL)) {
        store_job_retry(w->app->store, &job, w->owner, job.next_run_at);
        return 0;
    }
    start_running(&t->run, &job, now);
    run_job(w->app, &t->run);
    stop_running(&t->run);
    return 1;
}

/* How long t may sleep: until its lane's next job is due, at most the interval. */
static int64_t sleep_us(struct lane_thread *t)
{
    struct worker *w = t->w;
    int64_t next = 0, now = util_now_us();
    if (store_job_next_due_before(w->app->store, &w->lanes[t->lane].filter, now + w->interval_us,
                                  &next) != STORE_OK ||
        next == 0)
        return w->interval_us;
    int64_t wait = next - now;
    return wait < 0 ? 0 : wait < w->interval_us ? wait : w->interval_us;
}

/* Sleeps up to `us`, or until a wake-up after the one counted in `seen`, or a stop. */
static void wait_for_work(struct worker *w, unsigned seen, int64_t us)
{
    struct timespec deadline = util_deadline_in(us);
    pthread_mutex_lock(&w->lock);
    while (w->wakeups == seen && !w->stopping &&
           pthread_cond_timedwait(&w->wake, &w->lock, &deadline) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w->lock);
}

static void *lane_main(void *arg)
{
    struct lane_thread *t = arg;
    struct worker *w = t->w;
    bool refills = t->lane == WORKER_LANE_GENERAL && t->index < KEY_REFILL_THREADS;
    unsigned seen;
    while (!stopping(w, &seen)) {
        /* Keep going while there is work; when idle, top up the RSA key pool one key at a
         * time (so a stop or new work is noticed within one key), then sleep. */
        int ran = run_one(t);
        if (ran > 0)
            continue;
        if (ran == 0 && refills && w->app->rsa_keys && key_pool_refill(w->app->rsa_keys, 1) > 0)
            continue;
        int64_t us = sleep_us(t);
        wait_for_work(w, seen, ran < 0 && us < CLAIM_ERROR_PAUSE_US ? CLAIM_ERROR_PAUSE_US : us);
    }
    return NULL;
}

/* One heartbeat: renews the lease of every job running in w, outside the lock. */
static void beat(struct worker *w)
{
    struct renewal {
        struct running *r;
        unsigned seq;
        struct store_job job;
    } snap[WORKER_THREADS_MAX + WORKER_LANE_COUNT];
    int n = 0;
    pthread_mutex_lock(&w->lock);
    assert(w->nthreads <= (int)(sizeof snap / sizeof snap[0]));
    for (int i = 0; i < w->nthreads; i++) {
        struct running *r = &w->threads[i].run;
        if (r->busy && !r->lost)
            snap[n++] = (struct renewal){r, r->seq, r->job};
    }
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < n; i++) {
        int64_t now = util_now_us();
        int rc = store_job_renew(w->app->store, &snap[i].job, w->owner, now, w->lease_us);
        if (renewed(snap[i].r, snap[i].seq, rc, now))
            log_msg(LOG_WARN, "worker: lost the lease of %s %s (%s): stopping it", snap[i].job.kind,
                    snap[i].job.target,
                    rc == STORE_CONFLICT ? "taken over" : "store unavailable until it ran out");
    }
}

/* Once per lease: gives up the leases dead workers left behind (store_job_reap). */
static void reap(struct worker *w)
{
    int reaped = 0;
    if (store_job_reap(w->app->store, util_now_us(), &reaped) == STORE_OK && reaped > 0)
        log_msg(LOG_INFO,
                "worker: %d job lease(s) ran out without their holder; the jobs wait "
                "for the next claim",
                reaped);
}

static void *heartbeat_main(void *arg)
{
    struct worker *w = arg;
    unsigned beats = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->beat_stopping) {
        struct timespec deadline = util_deadline_in(w->lease_us / 3);
        while (!w->beat_stopping &&
               pthread_cond_timedwait(&w->beat_wake, &w->lock, &deadline) != ETIMEDOUT)
            ;
        if (w->beat_stopping)
            break;
        pthread_mutex_unlock(&w->lock);
        beat(w);
        if (++beats % 3 == 0)
            reap(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum worker_lane worker_lane_of(const char *kind)
{
    enum store_job_kind k;
    if (store_job_kind_parse(kind, &k) < 0)
        return WORKER_LANE_GENERAL; /* another build's kind */
    for (int i = 0; i < worker_lane_count; i++)
        if (worker_lanes[i].kind == k)
            return worker_lanes[i].lane;
    return WORKER_LANE_GENERAL;
}

/* Each lane's filter, from the lane table: a lane takes its own kinds; the general lane
 * takes every kind no other lane has (kinds it does not know included). */
static void build_lanes(struct worker *w)
{
    for (int l = 0; l < WORKER_LANE_COUNT; l++) {
        struct lane *lane = &w->lanes[l];
        lane->filter.exclude = l == WORKER_LANE_GENERAL;
        lane->filter.kinds = lane->kinds;
        for (int i = 0; i < worker_lane_count; i++) {
            bool own = (int)worker_lanes[i].lane == l;
            if (l == WORKER_LANE_GENERAL ? own : !own)
                continue;
            assert(lane->filter.nkinds < (int)(sizeof lane->kinds / sizeof lane->kinds[0]));
            lane->kinds[lane->filter.nkinds++] = store_job_kind_name(worker_lanes[i].kind);
        }
    }
}

/* Removes what a crash mid-deployment can leave in DATA/deploy (never a live set). */
static void sweep_deployments(struct worker *w)
{
    if (!w->app->config.data_dir)
        return;
    char why[256], *root = xasprintf("%s/deploy", w->app->config.data_dir);
    struct stat st;
    if (stat(root, &st) == 0 && deploy_sweep(root, NULL, NULL, why, sizeof why) < 0)
        log_msg(LOG_WARN, "worker: sweeping %s failed: %s", root, why);
    xfree(root);
}

/* A worker with a data dir is a node: its id from DATA/node.id, registered in the store
 * under --node-name (default the host name). Without that it still runs its jobs, but
 * its deployments are not counted per node. */
static void become_node(struct app *app)
{
    char id[STORE_ID_SIZE], host[STORE_NODE_NAME_SIZE] = "";
    const char *name = app->config.node_name;
    if (!app->config.data_dir)
        return;
    if (!name) {
        if (gethostname(host, sizeof host - 1) < 0)
            host[0] = '\0';
        name = host[0] ? host : "node";
    }
    if (node_id_load(app->config.data_dir, id) < 0 ||
        store_node_register(app->store, id, name, util_now_us()) != STORE_OK) {
        log_msg(LOG_ERROR, "worker: cannot register as a node of the store; deployments on "
                           "other nodes are not waited for");
        return;
    }
    memcpy(app->node_id, id, sizeof id);
    log_msg(LOG_INFO, "worker: node %s registered", id);
}

/* Stops and joins the first `started` lane threads, then the heartbeat if it runs. */
static void join_all(struct worker *w, int started, bool heartbeat)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < started; i++)
        pthread_join(w->threads[i].thread, NULL);
    /* Only now: the heartbeat keeps the leases of the jobs finishing above. */
    pthread_mutex_lock(&w->lock);
    w->beat_stopping = true;
    pthread_cond_signal(&w->beat_wake);
    pthread_mutex_unlock(&w->lock);
    if (heartbeat)
        pthread_join(w->heartbeat, NULL);
}

static void worker_free(struct worker *w)
{
    pthread_cond_destroy(&w->beat_wake);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    xfree(w->threads);
    xfree(w);
}

static void wake_from_store(void *arg)
{
    worker_wake(arg);
}

struct worker *worker_start(struct app *app, int64_t interval_us)
{
    struct worker *w = xcalloc(1, sizeof *w);
    w->app = app;
    w->interval_us = interval_us > 0 ? interval_us : 1000000;
    w->lease_us = lease_of(app);
    int general =
        app->config.worker_threads > 0 ? app->config.worker_threads : WORKER_THREADS_DEFAULT;
    general = general < WORKER_THREADS_MAX ? general : WORKER_THREADS_MAX;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->beat_wake, NULL);
    build_lanes(w);
    /* The lease owner: unique per worker instance, so a restarted process is a new owner. */
    char id[UTIL_ID_LEN + 1];
    util_random_id(id);
    snprintf(w->owner, sizeof w->owner, "worker-%s", id);

    /* Before any job runs: move a deploy tree of the old name-keyed layout to zone ids, clean
     * up after a crash, and re-check pending validations. */
    deploy_migrate_at_start(app);
    sweep_deployments(w);
    store_pack_recheck_pending(app->store, util_now_us());
    become_node(app);

    w->nthreads = general + (WORKER_LANE_COUNT - 1);
    w->threads = xcalloc((size_t)w->nthreads, sizeof *w->threads);
    for (int i = 0; i < w->nthreads; i++) {
        struct lane_thread *t = &w->threads[i];
        t->w = w;
        t->lane = i < general ? WORKER_LANE_GENERAL : (enum worker_lane)(i - general + 1);
        t->index = i < general ? i : 0;
        t->run = (struct running){.lock = &w->lock, .owner = w->owner, .lease_us = w->lease_us};
    }
    bool beating = pthread_create(&w->heartbeat, NULL, heartbeat_main, w) == 0;
    int started = 0;
    while (beating && started < w->nthreads &&
           pthread_create(&w->threads[started].thread, NULL, lane_main, &w->threads[started]) == 0)
        started++;
    if (started < w->nthreads) {
        log_msg(LOG_ERROR, "worker: cannot start its threads");
        join_all(w, started, beating);
        worker_free(w);
        return NULL;
    }
    w->listener = job_listener_start(app->store, wake_from_store, w);
    w->node = node_start(app, w->interval_us); /* its first sync pass catches up at once */
    log_msg(LOG_INFO, "worker started (%s, interval %lld ms, lease %lld ms, %d general threads)",
            w->owner, (long long)(w->interval_us / 1000), (long long)(w->lease_us / 1000), general);
    return w;
}

void worker_wake(struct worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->wakeups++;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
    if (!w)
        return;
    job_listener_stop(w->listener); /* first: it calls worker_wake */
    node_stop(w->node);             /* a sync pass in progress finishes its object first */
    join_all(w, w->nthreads, true);
    worker_free(w);
}
