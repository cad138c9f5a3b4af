/* The lifecycle worker: runs the durable jobs of the store (status transitions, CRL
 * re-signing, validation, issuance, deployment). A few threads inside `serve` (lanes and a
 * lease heartbeat; the design is at the top of worker/worker.c), or the whole of
 * `tlsward worker`; several may run against one store (leases keep them apart). */
#ifndef TLSWARD_WORKER_WORKER_H
#define TLSWARD_WORKER_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct app;
struct worker;

/* What a job handler did. */
enum job_outcome {
    JOB_DONE,  /* the handler's own transition completed the job */
    JOB_RETRY, /* transient failure: try again after a back-off */
    JOB_DROP,  /* nothing to do any more (target gone or already moved on) */
    JOB_AGAIN, /* the target changed while the job ran (an API write): run again now */
};

typedef enum job_outcome (*job_handler_fn)(struct app *app, const struct store_job *job,
                                           const char *owner);

/* The worker's lanes: each lane has its own threads, which claim only the lane's kinds,
 * so work of one lane never waits behind another's. A kind's lane is in the lane table;
 * a kind missing from it runs in the general lane. */
enum worker_lane {
    WORKER_LANE_GENERAL = 0, /* validation, issuance, deployment, deletions (a pool) */
    WORKER_LANE_REVOCATION,  /* revocations, reactivations, CRL re-signing (one thread) */
    WORKER_LANE_COUNT
};

struct job_handler {
    enum store_job_kind kind;
    job_handler_fn run;
};

/* A kind that runs outside the general lane. */
struct job_lane {
    enum store_job_kind kind;
    enum worker_lane lane;
};

#define WORKER_LEASE_DEFAULT_US (15 * 1000000LL) /* --lease */
#define WORKER_LEASE_MIN_US 1000000LL
#define WORKER_LEASE_MAX_US (3600 * 1000000LL)
#define WORKER_THREADS_DEFAULT 4 /* --worker-threads: the general lane's pool */
#define WORKER_THREADS_MAX 32

/* The table of job kinds (worker/jobs.c). */
extern const struct job_handler worker_handlers[];
extern const int worker_handler_count;
/* The table of lanes other than the general one, by kind (worker/jobs.c). */
extern const struct job_lane worker_lanes[];
extern const int worker_lane_count;
/* The lane of a job kind (the general lane for a kind not in worker_lanes). */
enum worker_lane worker_lane_of(const char *kind);

/* Starts the worker's threads (app->config.worker_threads in the general lane, one in the
 * revocation lane, one heartbeat renewing the leases of running jobs every lease/3, the
 * lease being app->config.lease_us; 0 means the defaults): they run due jobs every
 * interval_us, and at once when woken. */
struct worker *worker_start(struct app *app, int64_t interval_us);
/* Asks the worker to look for due jobs now (cheap; called after enqueuing). NULL is a no-op. */
void worker_wake(struct worker *w);
/* Stops at a safe point: jobs in progress finish, claimed ones not started are given
 * back, and every thread is joined. */
void worker_stop(struct worker *w);

/* Claims and runs, one at a time in the calling thread, the jobs (of every lane) due when
 * it is called; returns how many ran. For tests. */
int worker_run_due(struct app *app, const char *owner);

/* True while `owner` still holds the job's lease (it renews it when it does; false at
 * once when the heartbeat found the lease lost). A handler
 * calls this before each side effect — a deployment, a hook, an upstream call — and
 * stops the job (JOB_DROP is safe: the lease holder completes it) when it is false, so a
 * job never runs its effects twice at once. */
bool worker_lease_held(struct app *app, const struct store_job *job, const char *owner);

/* Back-off before retry number `attempts` (1, 2, 4 … seconds, capped at 5 minutes). */
int64_t worker_backoff_us(int attempts);

#endif
