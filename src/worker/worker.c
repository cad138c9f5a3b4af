/* The lifecycle worker.
 *
 * DESIGN
 * ------
 * Work lives in the store as jobs (kind, target, next_run_at), never in memory, so a
 * restarted process resumes everything. A worker thread loops: claim the due jobs under a
 * lease (LEASE_US), run each job's handler, sleep until the next job is due, the interval
 * elapses, or an API request wakes it (worker_wake, after it enqueued a job). Handlers do
 * slow work (signing, network) outside any store transaction and then commit their
 * status change together with the job's completion, atomically. If the process dies, the
 * lease expires and another worker (or the restarted one) claims the job again; because
 * completion checks the lease owner, a job's effect is committed at most once.
 * A handler that fails transiently gets a retry with exponential back-off.
 * Stopping sets a flag checked between jobs: a job in progress always finishes first. */
#include "worker/worker.h"

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

#include <sys/stat.h>

#define LEASE_US (60 * 1000000LL)
#define CLAIM_BATCH 32
#define BACKOFF_CAP_US (300 * 1000000LL)

struct worker {
    struct app *app;
    int64_t interval_us;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool woken, stopping;
    char owner[STORE_OWNER_SIZE];
};

int64_t worker_backoff_us(int attempts)
{
    int64_t us = 1000000;
    for (int i = 1; i < attempts && us < BACKOFF_CAP_US; i++)
        us *= 2;
    return us < BACKOFF_CAP_US ? us : BACKOFF_CAP_US;
}

bool worker_lease_held(struct app *app, const struct store_job *job, const char *owner)
{
    return store_job_renew(app->store, job, owner, util_now_us(), LEASE_US) == STORE_OK;
}

static const struct job_handler *find_handler(const char *kind)
{
    for (int i = 0; i < worker_handler_count; i++)
        if (strcmp(worker_handlers[i].kind, kind) == 0)
            return &worker_handlers[i];
    return NULL;
}

static void run_job(struct app *app, const struct store_job *job, const char *owner)
{
    const struct job_handler *h = find_handler(job->kind);
    enum job_outcome outcome = h ? h->run(app, job, owner) : JOB_DROP;
    if (!h)
        log_msg(LOG_WARN, "worker: dropping job %lld of unknown kind %s", (long long)job->id,
                job->kind);
    int64_t now = util_now_us();
    if (outcome == JOB_RETRY) {
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

static bool stopping(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    bool stop = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

/* Claims the due jobs and runs them, checking `stop` (may be NULL) before each one: the
 * jobs not started are given back at once rather than left to their lease. */
static int run_due(struct app *app, const char *owner, struct worker *stop)
{
    struct store_job jobs[CLAIM_BATCH];
    int count = 0;
    if (store_job_claim(app->store, owner, util_now_us(), LEASE_US, jobs, CLAIM_BATCH, &count) !=
        STORE_OK)
        return 0;
    for (int i = 0; i < count; i++) {
        if (stop && stopping(stop))
            store_job_retry(app->store, &jobs[i], owner, jobs[i].next_run_at);
        else
            run_job(app, &jobs[i], owner);
    }
    return count;
}

int worker_run_due(struct app *app, const char *owner)
{
    return run_due(app, owner, NULL);
}

/* How long to sleep: until the next job is due, at most the interval. */
static int64_t sleep_us(struct worker *w)
{
    int64_t next = 0, now = util_now_us();
    if (store_job_next_due(w->app->store, &next) != STORE_OK || next == 0)
        return w->interval_us;
    int64_t wait = next - now;
    return wait < 0 ? 0 : wait < w->interval_us ? wait : w->interval_us;
}

static void wait_for_work(struct worker *w, int64_t us)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += us / 1000000;
    deadline.tv_nsec += (long)(us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->woken && !w->stopping &&
           pthread_cond_timedwait(&w->wake, &w->lock, &deadline) != ETIMEDOUT)
        ;
    w->woken = false;
    pthread_mutex_unlock(&w->lock);
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

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    /* Before any job runs: move a deploy tree of the old name-keyed layout to zone ids. */
    deploy_migrate_at_start(w->app);
    sweep_deployments(w);
    store_pack_recheck_pending(w->app->store, util_now_us());
    while (!stopping(w)) {
        /* Keep going while there is work; when idle, top up the RSA key pool one key at a
         * time (so a stop or new work is noticed within one key), then sleep. */
        if (run_due(w->app, w->owner, w) > 0)
            continue;
        if (w->app->rsa_keys && key_pool_refill(w->app->rsa_keys, 1) > 0)
            continue;
        wait_for_work(w, sleep_us(w));
    }
    return NULL;
}

struct worker *worker_start(struct app *app, int64_t interval_us)
{
    struct worker *w = xcalloc(1, sizeof *w);
    w->app = app;
    w->interval_us = interval_us > 0 ? interval_us : 1000000;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    /* The lease owner: unique per worker instance, so a restarted process is a new owner. */
    char id[UTIL_ID_LEN + 1];
    util_random_id(id);
    snprintf(w->owner, sizeof w->owner, "worker-%s", id);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        log_msg(LOG_ERROR, "worker: cannot start its thread");
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        xfree(w);
        return NULL;
    }
    log_msg(LOG_INFO, "worker started (%s, interval %lld ms)", w->owner,
            (long long)(w->interval_us / 1000));
    return w;
}

void worker_wake(struct worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->woken = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    xfree(w);
}
