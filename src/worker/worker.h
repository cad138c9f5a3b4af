/* The lifecycle worker: runs the durable jobs of the store (status transitions, CRL
 * re-signing; later issuance, validation, deployment). One thread inside `serve`, or the
 * whole of `tlsward worker`; several may run against one store (leases keep them apart). */
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

struct job_handler {
    const char *kind;
    job_handler_fn run;
};

/* The table of job kinds (worker/jobs.c). */
extern const struct job_handler worker_handlers[];
extern const int worker_handler_count;

/* Starts the worker thread: it runs due jobs every interval_us, and at once when woken. */
struct worker *worker_start(struct app *app, int64_t interval_us);
/* Asks the worker to look for due jobs now (cheap; called after enqueuing). NULL is a no-op. */
void worker_wake(struct worker *w);
/* Stops at a safe point (between jobs) and joins the thread. */
void worker_stop(struct worker *w);

/* Claims and runs the jobs due now, once; returns how many ran. For `tlsward worker`'s
 * loop and for tests. */
int worker_run_due(struct app *app, const char *owner);

/* True while `owner` still holds the job's lease (it renews it when it does). A handler
 * calls this before each side effect — a deployment, a hook, an upstream call — and
 * stops the job (JOB_DROP is safe: the lease holder completes it) when it is false, so a
 * job never runs its effects twice at once. */
bool worker_lease_held(struct app *app, const struct store_job *job, const char *owner);

/* Back-off before retry number `attempts` (1, 2, 4 … seconds, capped at 5 minutes). */
int64_t worker_backoff_us(int attempts);

#endif
