/* Certificate packs whose CA has an ACME directory (--acme-directory): the upstream side of
 * the pack job (see acme_jobs.c), and the revocation job of their certificates. */
#ifndef TLSWARD_WORKER_ACME_JOBS_H
#define TLSWARD_WORKER_ACME_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "worker/worker.h"

/* One pack job's view of the pack, shared with pack_jobs.c. */
struct acme_pack_job {
    struct app *app;
    const struct store_job *job;
    const char *owner;
    const struct store_zone *zone;
    struct store_pack *p; /* validation_records / validation_errors are replaced here */
    int64_t now;
    int64_t retry_at; /* out: when the upstream asked to be left alone (0: no wish) */
};

/* True when the pack's CA is sent to an ACME upstream. */
bool acme_jobs_applies(const struct app *app, const struct store_pack *p);

/* CREATE_RECORDS: opens the order (or resumes the stored one, if still usable) and fills
 * validation_records with its real challenge values. 0, or -1 (retry; validation_errors
 * says why, retry_at may be set). */
int acme_jobs_create_records(struct acme_pack_job *j);

/* Before checking: makes validation_records hold the values of the pack's current order
 * (an API restart or method switch wrote fresh local ones; a forgotten order was replaced).
 * 0 unchanged, 1 changed (check again later), -1 failed (validation_errors says why). */
int acme_jobs_sync_records(struct acme_pack_job *j);

/* CHECK_VALIDATION after tlsward's own checks passed (check mode) or at once (auto mode):
 * answers the pending challenges and waits, within a budget, for the order to be ready. */
enum acme_validation { ACME_VALID, ACME_WAIT, ACME_INVALID };
enum acme_validation acme_jobs_validate(struct acme_pack_job *j);

/* ISSUE / RENEW: the ECDSA P-256 then the RSA-2048 certificate, each from its own order
 * (stored, so a crash resumes it). On success certs[0..1] are filled (generation and rows as
 * pack_jobs writes them) and 0 is returned; -1 to retry (validation_errors says why). */
int acme_jobs_issue(struct acme_pack_job *j, int generation, struct store_pack_cert certs[2]);

/* The renewal time the upstream suggests (ARI, RFC 9773) for the served leaf (the first
 * certificate of chain_pem), or 0 when the directory has no renewalInfo or it cannot be
 * asked now (the usual two-thirds rule then applies). A read-only upstream call. */
int64_t acme_jobs_ari_renew_at(struct app *app, const struct store_job *job, const char *owner,
                               const struct store_zone *zone, const struct store_pack *p,
                               const char *chain_pem);

/* A deleted pack: schedules the upstream revocation of each of its certificates (a job of
 * its own per certificate; never blocks the deletion). */
void acme_jobs_pack_deleted(struct app *app, const char *pack_id);

/* The STORE_ACME_REVOKE_JOB handler: revokes one certificate (cessationOfOperation). */
enum job_outcome acme_job_revoke(struct app *app, const struct store_job *job, const char *owner);

#endif
