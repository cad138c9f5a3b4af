/* The certificate-pack job of the worker (see pack_jobs.c). */
#ifndef TLSWARD_WORKER_PACK_JOBS_H
#define TLSWARD_WORKER_PACK_JOBS_H

#include "worker/worker.h"

enum job_outcome pack_job_advance(struct app *app, const struct store_job *job, const char *owner);

/* Removes the pack's deployment (DATA/deploy/<zone id>/<pack id>) and then runs the deploy
 * hook with TLSWARD_EVENT=delete, exactly as a DELETE of the pack does; the zone deletion
 * job uses it for each pack of the zone. 0, or -1 (logged) when either step failed. */
int pack_job_remove_deployment(struct app *app, const struct store_job *job, const char *owner,
                               const struct store_zone *zone, const struct store_pack *p);

#endif
