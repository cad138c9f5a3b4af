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

/* This node's own deployment of a pack (worker/node.c's sync pass): writes the n
 * certificates under DATA/deploy/<zone id>/<pack id> and runs the deploy hook. 0,
 * -1 when the files could not be written, PACK_DEPLOY_HOOK_FAILED when only the hook
 * failed (logged). The caller holds node_lock(p->id). */
#define PACK_DEPLOY_HOOK_FAILED (-2)
int pack_job_deploy_here(struct app *app, const struct store_zone *zone,
                         const struct store_pack *p, const struct store_pack_cert *certs, int n);
/* Removes this node's deployment of the pack and runs the hook with TLSWARD_EVENT=delete
 * (nothing upstream: the pack's own job does that once). 0 or -1 (logged). The caller
 * holds node_lock(p->id). */
int pack_job_remove_here(struct app *app, const struct store_zone *zone,
                         const struct store_pack *p);

#endif
