/* The job kinds the worker knows, and their handlers. A handler does its slow part
 * first, then one store call that commits the transition and completes the job. */
#include "worker/worker.h"

#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "pki/client_ca.h"
#include "worker/aop_jobs.h"
#include "worker/acme_jobs.h"
#include "worker/pack_jobs.h"
#include "worker/zone_jobs.h"

/* Maps the result of a transition that completes its job to the handler's outcome. */
static enum job_outcome outcome_of(int rc)
{
    switch (rc) {
    case STORE_OK: return JOB_DONE;
    case STORE_NOT_FOUND: /* the certificate is gone (its zone was deleted) */
    case STORE_CONFLICT:  /* it moved on (reactivated while pending revocation) */
        return JOB_DROP;
    default: return JOB_RETRY;
    }
}

/* pending_revocation → revoked; the CA's CRL job is scheduled in the same transaction. */
static enum job_outcome revoke_client_cert(struct app *app, const struct store_job *job,
                                           const char *owner)
{
    return outcome_of(store_client_cert_complete(
        app->store, job, owner, STORE_CERT_PENDING_REVOCATION, STORE_CERT_REVOKED, util_now_us()));
}

/* pending_reactivation → active (and a fresh CRL, as for every change of revocation state). */
static enum job_outcome reactivate_client_cert(struct app *app, const struct store_job *job,
                                               const char *owner)
{
    return outcome_of(store_client_cert_complete(
        app->store, job, owner, STORE_CERT_PENDING_REACTIVATION, STORE_CERT_ACTIVE, util_now_us()));
}

/* Re-signs the CA's CRL over its current revocations; due again before it goes stale. */
static enum job_outcome refresh_crl(struct app *app, const struct store_job *job,
                                    const char *owner)
{
    struct store_client_ca ca;
    int rc = store_client_ca_get(app->store, job->target, &ca);
    if (rc == STORE_NOT_FOUND)
        return JOB_DROP;
    if (rc != STORE_OK)
        return JOB_RETRY;
    struct store_revocation *revoked = NULL;
    int count = 0;
    unsigned char *der = NULL;
    size_t len = 0;
    int64_t now = util_now_us();
    enum job_outcome outcome = JOB_RETRY;
    if (store_client_ca_revocations(app->store, ca.id, &revoked, &count) == STORE_OK &&
        client_ca_build_crl(app, &ca, revoked, count, ca.crl_number + 1, now, &der, &len) == 0) {
        rc = store_client_ca_replace_crl(app->store, job, owner, ca.crl_number, ca.crl_number + 1,
                                         der, len, now + CLIENT_CA_CRL_VALIDITY_US,
                                         now + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US,
                                         now);
        outcome = rc == STORE_OK ? JOB_DONE : JOB_RETRY;
        if (rc == STORE_OK)
            log_msg(LOG_INFO, "client CA %s: CRL %llu signed (%d revoked)", ca.id,
                    (unsigned long long)(ca.crl_number + 1), count);
    }
    xfree(der);
    xfree(revoked);
    store_client_ca_clear(&ca);
    return outcome;
}

const struct job_handler worker_handlers[] = {
    {STORE_JOB_CERT_REVOKE, revoke_client_cert},
    {STORE_JOB_CERT_REACTIVATE, reactivate_client_cert},
    {STORE_JOB_CRL, refresh_crl},
    {STORE_JOB_PACK_ADVANCE, pack_job_advance},
    {STORE_JOB_AOP_ADVANCE, aop_job_advance},
    {STORE_JOB_ZONE_DELETE, zone_job_delete},
    {STORE_JOB_ACME_REVOKE, acme_job_revoke},
};

const int worker_handler_count = sizeof worker_handlers / sizeof worker_handlers[0];

/* The lanes (see worker/worker.c): kinds listed here run in their lane's own threads;
 * every other kind, known or not, runs in the general lane. Revocation work has a lane
 * of its own so it never waits behind validation or issuance: a stale CRL makes TLS
 * terminators refuse every client. */
const struct job_lane worker_lanes[] = {
    {STORE_JOB_CERT_REVOKE, WORKER_LANE_REVOCATION},
    {STORE_JOB_CERT_REACTIVATE, WORKER_LANE_REVOCATION},
    {STORE_JOB_CRL, WORKER_LANE_REVOCATION},
};

const int worker_lane_count = sizeof worker_lanes / sizeof worker_lanes[0];
