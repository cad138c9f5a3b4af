/* The zone deletion job of the worker (see zone_jobs.c). */
#ifndef TLSWARD_WORKER_ZONE_JOBS_H
#define TLSWARD_WORKER_ZONE_JOBS_H

#include "worker/worker.h"

/* STORE_ZONE_DELETE_JOB (target: the zone id): removes each pack's deployment as a DELETE
 * of the pack would (hook with TLSWARD_EVENT=delete), the zone's origin-pull files, its
 * deploy directory, and finally its rows. Safe to resume at any point. */
enum job_outcome zone_job_delete(struct app *app, const struct store_job *job, const char *owner);

#endif
