/* The Authenticated Origin Pulls job of the worker (see aop_jobs.c). */
#ifndef TLSWARD_WORKER_AOP_JOBS_H
#define TLSWARD_WORKER_AOP_JOBS_H

#include <stdbool.h>

#include "worker/worker.h"

/* The AAD a certificate's sealed key is bound to: "aop-key:<cert id>". */
#define AOP_KEY_AAD_FMT "aop-key:%s"

/* How long a deployment or removal may keep failing before its certificate is
 * deployment_timed_out / deletion_timed_out. */
#define AOP_STEP_TIMEOUT_US (3600 * 1000000LL)

/* Advances one origin-pull certificate (STORE_AOP_JOB, target: its id) a step:
 * initializing → pending_deployment; pending_deployment → files written → active (or
 * deployment_timed_out); pending_deletion → files removed → deleted (or
 * deletion_timed_out). */
enum job_outcome aop_job_advance(struct app *app, const struct store_job *job, const char *owner);

/* "<data_dir>/deploy/<zone id>/origin-pull/<zone|hostnames>/<cert id>.<ext>" (caller
 * xfree's). */
char *aop_deploy_path(const char *data_dir, const char *zone_id, const char *kind,
                      const char *cert_id, const char *ext);

/* True for the names written under origin-pull/{zone,hostnames}/: "<32 hex>.crt" and
 * "<32 hex>.key". */
bool aop_deploy_name_ok(const char *name);

/* This node's own copy of an active certificate (worker/node.c's sync pass): writes its
 * files; and removes them by (zone id, kind, id). 0 or -1 (logged). The caller holds
 * node_lock(id). */
struct store_aop_cert;
int aop_job_deploy_here(struct app *app, const struct store_aop_cert *c);
int aop_job_remove_here(struct app *app, const char *zone_id, const char *kind, const char *id);

#endif
