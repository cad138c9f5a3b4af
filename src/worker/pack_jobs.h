/* The certificate-pack job of the worker (see pack_jobs.c). */
#ifndef TLSWARD_WORKER_PACK_JOBS_H
#define TLSWARD_WORKER_PACK_JOBS_H

#include "worker/worker.h"

enum job_outcome pack_job_advance(struct app *app, const struct store_job *job, const char *owner);

#endif
