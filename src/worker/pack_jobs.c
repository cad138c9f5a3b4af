/* The pack.advance job: one step of a certificate pack's lifecycle (SPEC §4.3).
 *
 * The pure state machine (core/pack_state) says what to do for a TICK; this file does it
 * — validation checks, issuance from the built-in CA, deployment to disk, renewal,
 * removal — outside any store transaction, feeds the result back as an event, and
 * commits the resulting step together with the job's completion and its next run. A pack
 * changed by the API meanwhile (optimistic version check) makes the commit fail, and the
 * job simply runs again on the fresh pack. With --dns-update or --dns-hook, the records a
 * check looks for are first published by worker/pack_dns, and deleted again in the commit
 * of the step that ends validation. */
#include "worker/pack_jobs.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "core/pack_records.h"
#include "core/pack_rules.h"
#include "core/pack_state.h"
#include "dcv/dcv.h"
#include "http/metrics.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "pki/seal.h"
#include "worker/acme_jobs.h"
#include "worker/deploy.h"
#include "worker/http_publish.h"
#include "worker/node.h"
#include "worker/pack_dns.h"
#include "worker/worker.h"

#define BRANDING_HOST "sni.tlsward.local"
#define DEPLOY_TIMEOUT_US (3600 * 1000000LL)
#define DNS_CLEANUP_RETRY_US (60 * 1000000LL)
#define ARI_POLL_US (6 * 3600 * 1000000LL)

struct pack_run {
    struct app *app;
    const struct store_job *job;
    const char *owner;
    int64_t now;
    struct store_pack p;
    struct store_zone zone;
    struct store_pack_cert *certs; /* the visible generation */
    int ncerts;
    /* ACME packs: the upstream asked not to be called before (0: no wish), and an invalid
     * authorization ends validation now rather than at its timeout. */
    int64_t retry_at;
    bool give_up;
    int64_t ari_at; /* ACME renewal information: renew at (0: the usual rule) */
};

/* The ACME side's view of this run (worker/acme_jobs). */
static struct acme_pack_job acme_job(struct pack_run *r)
{
    return (struct acme_pack_job){.app = r->app,
                                  .job = r->job,
                                  .owner = r->owner,
                                  .zone = &r->zone,
                                  .p = &r->p,
                                  .now = r->now};
}

/* The AAD binding a sealed pack key to its certificate row. */
static void key_aad(const char *cert_id, char out[64])
{
    snprintf(out, 64, "pack-cert:%s", cert_id);
}

/* ---- validation ---- */

/* What tlsward publishes for HTTP-01 (worker/http_publish.h) follows the pack: its http
 * records while they are being checked, nothing once validation is over. A failure is
 * logged and holds nothing back (the records stay in the API for the user to publish). */
static void publish_http(struct pack_run *r, bool validating)
{
    if (r->app->config.webroot && !worker_lease_held(r->app, r->job, r->owner))
        return; /* files are a side effect: only the lease holder writes them */
    if (validating)
        (void)http_publish_sync(r->app, r->p.id, &r->p);
    else
        (void)http_publish_clear(r->app, r->p.id);
}

/* One pack's checks: its records, then CAA for each host, as one dcv batch. */
struct checks {
    const char **hosts;
    size_t nrecords, nhosts, n;
    struct dcv_check *batch;
    int *record_check; /* per record: index into batch, -1 for an e-mail record */
    char **http_hosts; /* per record: the host of its http_url (or NULL) */
};

/* Splits http://<host>/.well-known/acme-challenge/<token> into a heap host and the token. */
static void http_parts(const char *url, char **host, const char **token)
{
    const char *h = url + (strncmp(url, "http://", 7) == 0 ? 7 : 0), *slash = strchr(h, '/');
    const char *t = strrchr(url, '/');
    *host = slash ? xstrndup(h, (size_t)(slash - h)) : xstrdup(h);
    *token = t ? t + 1 : "";
}

/* Delegated DCV: the cname_target of the delegation record for txt_name, or NULL (a txt
 * pack, whose records are checked where they are named). */
static const char *delegated_target(const struct store_pack *p, const char *txt_name)
{
    if (!p)
        return NULL;
    for (int i = 0; i < p->dcv_delegation_record_count; i++)
        if (strcmp(p->dcv_delegation_records[i].cname, txt_name) == 0)
            return p->dcv_delegation_records[i].cname_target;
    return NULL;
}

static void checks_prepare(const struct pack_run *r, struct checks *c)
{
    memset(c, 0, sizeof *c);
    const struct store_pack *delegation =
        r->p.validation_method == PACK_METHOD_CNAME ? &r->p : NULL;
    c->hosts = pack_hosts_vector(&r->p, &c->nhosts);
    if (!c->hosts)
        c->nhosts = 0;
    c->nrecords = (size_t)r->p.validation_record_count;
    c->batch = xcalloc(c->nrecords + c->nhosts + 1, sizeof *c->batch);
    c->record_check = xcalloc(c->nrecords + 1, sizeof *c->record_check);
    c->http_hosts = xcalloc(c->nrecords + 1, sizeof *c->http_hosts);
    for (size_t i = 0; i < c->nrecords; i++) {
        const struct store_validation_record *rec = &r->p.validation_records[i];
        struct dcv_check *k = &c->batch[c->n];
        c->record_check[i] = (int)c->n;
        if (rec->txt_name[0] && rec->txt_value[0]) {
            *k = (struct dcv_check){.kind = DCV_CHECK_TXT,
                                    .name = rec->txt_name,
                                    .expected = rec->txt_value,
                                    .target = delegated_target(delegation, rec->txt_name)};
        } else if (rec->http_url[0] && rec->http_body[0]) {
            const char *token;
            http_parts(rec->http_url, &c->http_hosts[i], &token);
            *k = (struct dcv_check){.kind = DCV_CHECK_HTTP,
                                    .host = c->http_hosts[i],
                                    .token = token,
                                    .body = rec->http_body};
        } else {
            c->record_check[i] = -1; /* e-mail: approved by `tlsward dcv approve` */
            continue;
        }
        c->n++;
    }
    for (size_t i = 0; i < c->nhosts; i++)
        c->batch[c->n++] =
            (struct dcv_check){.kind = DCV_CHECK_CAA,
                               .host = c->hosts[i],
                               .ca = pack_ca_name(r->p.certificate_authority),
                               .validation_method = pack_method_name(r->p.validation_method)};
}

static void checks_free(struct checks *c)
{
    for (size_t i = 0; i < c->n; i++)
        xfree(c->batch[i].why);
    for (size_t i = 0; i < c->nrecords; i++)
        xfree(c->http_hosts[i]);
    xfree(c->http_hosts);
    xfree(c->record_check);
    xfree(c->batch);
    xfree(c->hosts);
}

/* Adds a message to the pack's errors unless `unique` and it is already there (hosts
 * sharing a CAA name fail alike). A message longer than an error holds is cut at a
 * character boundary with "..." (the list itself has room for every check). */
static void add_message(struct store_pack *p, const char *message, bool unique)
{
    for (int i = 0; unique && i < p->validation_error_count; i++)
        if (strcmp(p->validation_errors[i].message, message) == 0)
            return;
    if (strlen(message) < STORE_ERROR_MESSAGE_SIZE) {
        store_pack_error_add(p, message);
        return;
    }
    char cut[STORE_ERROR_MESSAGE_SIZE];
    size_t n = sizeof cut - 4;
    while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80)
        n--; /* not inside a UTF-8 sequence */
    memcpy(cut, message, n);
    memcpy(cut + n, "...", 4);
    store_pack_error_add(p, cut);
}

/* Checks every record and the CAA of every host concurrently, under one time budget (a slow
 * DNS server costs one budget per job, not one timeout per host). Record statuses follow
 * their checks (an e-mail record keeps its approval); validation_errors gets the records'
 * messages, then CAA's. Returns the number of failures. */
static int run_checks(struct pack_run *r)
{
    struct checks c;
    checks_prepare(r, &c);
    dcv_check_batch(&r->app->config.dcv, c.batch, c.n);
    store_pack_errors_clear(&r->p);
    int failures = 0;
    for (size_t i = 0; i < c.nrecords; i++) {
        struct store_validation_record *rec = &r->p.validation_records[i];
        if (c.record_check[i] < 0) {
            if (strcmp(rec->status, "active") != 0) {
                add_message(&r->p, "waiting for e-mail approval (tlsward dcv approve)", false);
                failures++;
            }
            continue;
        }
        const struct dcv_check *k = &c.batch[c.record_check[i]];
        store_field_set(rec->status, sizeof rec->status,
                        k->status == DCV_OK ? "active" : "pending");
        if (k->status != DCV_OK) {
            add_message(&r->p, k->why ? k->why : "validation check failed", false);
            failures++;
        }
    }
    for (size_t i = c.n - c.nhosts; i < c.n; i++) {
        if (c.batch[i].status != DCV_OK) {
            add_message(&r->p, c.batch[i].why ? c.batch[i].why : "CAA check failed", true);
            failures++;
        }
    }
    checks_free(&c);
    return failures;
}

/* Validation done. In check mode the records stay stored with the pack (the API shows them
 * only while validation is pending): a renewal checks the same values again, so records
 * left in place keep passing. Auto mode never checks, so it keeps nothing. */
static enum pack_event validated(struct pack_run *r)
{
    if (r->app->config.dcv_mode == DCV_MODE_AUTO)
        store_pack_records_clear(&r->p);
    store_pack_errors_clear(&r->p);
    return PACK_EV_VALIDATED;
}

/* --dns-update/--dns-hook: puts the pack's TXT records in DNS before they are checked.
 * NULL, or a heap message naming a record that could not be published. */
static char *publish_records(struct pack_run *r)
{
    bool lost = false;
    return pack_dns_sync(r->app, r->job, r->owner, &r->zone, &r->p, &lost);
}

/* Adds a publication failure to the checks' messages (when the checks failed); frees it. */
static void report_unpublished(struct pack_run *r, char *message, bool failed)
{
    if (message && failed)
        add_message(&r->p, message, true);
    xfree(message);
}

/* An ACME pack: tlsward's own checks first in check mode (a record not yet published never
 * costs a failed authorization upstream), then the upstream's validation. */
static enum pack_event check_acme_validation(struct pack_run *r)
{
    struct acme_pack_job j = acme_job(r);
    if (r->app->config.dcv_mode == DCV_MODE_CHECK) {
        /* The records checked must be the order's (new values are published, then seen). */
        int sync = acme_jobs_sync_records(&j);
        r->retry_at = j.retry_at;
        if (sync != 0)
            return PACK_EV_VALIDATION_FAILED;
    }
    /* The upstream validates for real in either mode: publish what it will look for
     * (--dns-update/--dns-hook, the HTTP-01 responder, --webroot) before answering. */
    publish_http(r, true);
    char *unpublished = publish_records(r);
    bool failed = r->app->config.dcv_mode == DCV_MODE_CHECK && run_checks(r) != 0;
    report_unpublished(r, unpublished, failed);
    if (failed)
        return PACK_EV_VALIDATION_FAILED;
    enum acme_validation v = acme_jobs_validate(&j);
    r->retry_at = j.retry_at;
    if (v == ACME_VALID)
        return validated(r);
    r->give_up = v == ACME_INVALID;
    return PACK_EV_VALIDATION_FAILED;
}

static enum pack_event check_validation(struct pack_run *r)
{
    if (acme_jobs_applies(r->app, &r->p))
        return check_acme_validation(r);
    if (r->app->config.dcv_mode == DCV_MODE_AUTO)
        return validated(r);
    publish_http(r, true); /* records the API changed are served before they are checked */
    char *unpublished = publish_records(r);
    bool failed = run_checks(r) != 0;
    report_unpublished(r, unpublished, failed);
    return failed ? PACK_EV_VALIDATION_FAILED : validated(r);
}

/* Before a renewal in check mode, domain control and CAA are checked again (a domain that
 * moved away stops getting certificates). A pack validated before its records were kept
 * (or in auto mode) gets records now; they fail until published. True to go on. */
static bool renewal_checks_pass(struct pack_run *r)
{
    /* An ACME renewal is a new order: the upstream validates it (acme_jobs_issue). */
    if (r->app->config.dcv_mode == DCV_MODE_AUTO || acme_jobs_applies(r->app, &r->p))
        return true;
    enum pack_method method = r->p.validation_method;
    if (r->p.validation_record_count == 0 &&
        pack_records_build_dcv(&r->p, method, r->zone.name, r->zone.id, r->app->config.dcv_domain) <
            0)
        return false;
    publish_http(r, true); /* withdrawn again when the step commits */
    char *unpublished = publish_records(r);
    bool failed = run_checks(r) != 0;
    report_unpublished(r, unpublished, failed);
    if (!failed)
        return true;
    log_msg(LOG_WARN, "pack %s: renewal checks failed (see its validation_errors)", r->p.id);
    return false;
}

/* ---- issuance ---- */

/* Fills a certificate row from an issued leaf, sealing its key. */
static int to_row(const struct pack_run *r, const struct local_ca_leaf *leaf, int generation,
                  int priority, struct store_pack_cert *c)
{
    char aad[64];
    memset(c, 0, sizeof *c);
    util_random_id(c->id);
    memcpy(c->pack_id, r->p.id, sizeof c->pack_id);
    c->generation = generation;
    c->priority = priority;
    if (store_key_type_parse(leaf->key_type, &c->key_type) < 0) /* pki names ecdsa or rsa */
        c->key_type = STORE_KEY_TYPE_INVALID;                   /* refused by the store */
    /* Cloudflare's vocabulary names the certificate's key type here. */
    snprintf(c->signature, sizeof c->signature, "%s",
             priority == 1 ? "ECDSAWithSHA256" : "SHA256WithRSA");
    snprintf(c->issuer, sizeof c->issuer, "%s", leaf->issuer);
    snprintf(c->serial, sizeof c->serial, "%s", leaf->serial);
    c->chain_pem = xstrdup(leaf->chain_pem);
    c->not_before = leaf->not_before;
    c->expires_on = leaf->not_after;
    c->uploaded_on = c->modified_on = r->now;
    key_aad(c->id, aad);
    return seal_encrypt(r->app->master_key, leaf->key_pem, leaf->key_len, aad, &c->key_sealed,
                        &c->key_sealed_len);
}

/* Issues the ECDSA + RSA pair of generation `generation` into certs[2]. */
static int issue(struct pack_run *r, int generation, struct store_pack_cert certs[2])
{
    if (acme_jobs_applies(r->app, &r->p)) {
        struct acme_pack_job j = acme_job(r);
        int rc = acme_jobs_issue(&j, generation, certs);
        r->retry_at = j.retry_at;
        return rc;
    }
    size_t n;
    const char **hosts = pack_hosts_vector(&r->p, &n), *why = NULL;
    struct local_ca_request req = {.hosts = hosts,
                                   .host_count = n,
                                   .common_name = r->p.cloudflare_branding ? BRANDING_HOST : NULL,
                                   .validity_days = r->p.validity_days,
                                   .now = r->now};
    struct local_ca_pair pair;
    memset(certs, 0, 2 * sizeof *certs);
    int rc = hosts ? local_ca_issue(r->app->local_ca, r->app->rsa_keys, &req, &pair, &why) : -1;
    if (rc == 0) {
        if (to_row(r, &pair.ecdsa, generation, 1, &certs[0]) < 0 ||
            to_row(r, &pair.rsa, generation, 2, &certs[1]) < 0)
            rc = -1;
        local_ca_pair_clear(&pair);
    }
    if (rc != 0) {
        log_msg(LOG_WARN, "pack %s: issuance failed: %s", r->p.id, why ? why : "sealing failed");
        store_pack_cert_clear(&certs[0]);
        store_pack_cert_clear(&certs[1]);
    }
    xfree(hosts);
    return rc;
}

/* ---- deployment ---- */

static void deploy_env(const struct pack_run *r, const char *const *hosts, size_t n,
                       const char *dir, enum deploy_event event, struct deploy_env *env)
{
    *env = (struct deploy_env){.zone = r->zone.name,
                               .pack_id = r->p.id,
                               .hosts = hosts,
                               .n_hosts = n,
                               .dir = dir,
                               .event = event,
                               .zone_id = r->zone.id,
                               .account_id = r->zone.account_id};
}

/* Runs --deploy-hook for the pack; 0 when there is none or it succeeded. */
static int run_hook(const struct pack_run *r, enum deploy_event event)
{
    if (!r->app->config.deploy_hook)
        return 0;
    size_t n;
    char why[512], *root = xasprintf("%s/deploy", r->app->config.data_dir);
    char *dir = deploy_pack_path(root, r->zone.id, r->p.id);
    const char **hosts = pack_hosts_vector(&r->p, &n);
    struct deploy_env env;
    deploy_env(r, hosts, n, dir, event, &env);
    int rc =
        deploy_run_hook(r->app->config.deploy_hook, &env, DEPLOY_HOOK_TIMEOUT_S, why, sizeof why);
    if (rc < 0)
        log_msg(LOG_WARN, "pack %s: deploy hook failed: %s", r->p.id, why);
    xfree(hosts);
    xfree(dir);
    xfree(root);
    return rc;
}

/* True when the pack's zone has left the API since the job read it (a zone deletion). */
static bool zone_deleting(const struct pack_run *r)
{
    struct store_zone z;
    return store_zone_get(r->app->store, r->zone.id, &z) == STORE_NOT_FOUND;
}

/* Writes {ecdsa,rsa}.{crt,key} of certs atomically (no hook). */
static int deploy_files(struct pack_run *r, const struct store_pack_cert *certs, int n)
{
    struct deploy_files files[4];
    unsigned char *keys[2] = {NULL, NULL};
    size_t key_len[2] = {0, 0};
    int count = 0, rc = 0;
    for (int i = 0; i < n && i < 2 && rc == 0; i++) {
        char aad[64];
        key_aad(certs[i].id, aad);
        rc = seal_decrypt(r->app->master_key, certs[i].key_sealed, certs[i].key_sealed_len, aad,
                          &keys[i], &key_len[i]);
        const char *kind = certs[i].priority == 1 ? "ecdsa" : "rsa";
        files[count++] =
            (struct deploy_files){kind[0] == 'e' ? "ecdsa.crt" : "rsa.crt", certs[i].chain_pem,
                                  strlen(certs[i].chain_pem), DEPLOY_CERT_MODE};
        files[count++] = (struct deploy_files){kind[0] == 'e' ? "ecdsa.key" : "rsa.key",
                                               (const char *)keys[i], key_len[i], DEPLOY_KEY_MODE};
    }
    char why[512] = "", *root = xasprintf("%s/deploy", r->app->config.data_dir);
    if (rc == 0 && n == 2)
        rc = deploy_pack(root, r->zone.id, r->p.id, files, (size_t)count, why, sizeof why);
    else
        rc = -1;
    if (rc == 0 && zone_deleting(r)) {
        /* The zone went while we wrote: its deletion job may already have removed this
         * pack, so take back what we just deployed rather than leave keys behind. */
        (void)deploy_remove(root, r->zone.id, r->p.id, why, sizeof why);
        snprintf(why, sizeof why, "zone %s is being deleted", r->zone.id);
        rc = -1;
    }
    if (rc < 0)
        log_msg(LOG_WARN, "pack %s: deployment failed: %s", r->p.id, why[0] ? why : "keys");
    for (int i = 0; i < 2; i++) {
        if (keys[i])
            OPENSSL_cleanse(keys[i], key_len[i]);
        xfree(keys[i]);
    }
    xfree(root);
    return rc;
}

/* First deployment: the files, then the hook; either failing is retried (the files are
 * written again, which is harmless). */
static int deploy(struct pack_run *r, const struct store_pack_cert *certs, int n)
{
    int rc = deploy_files(r, certs, n);
    return rc == 0 ? run_hook(r, DEPLOY_EVENT_DEPLOY) : rc;
}

/* The files, then what this node recorded of them, then the hook; the caller holds
 * node_lock(p.id). */
static int remove_here(struct pack_run *r, bool upstream)
{
    char why[512], *root = xasprintf("%s/deploy", r->app->config.data_dir);
    int rc = deploy_remove(root, r->zone.id, r->p.id, why, sizeof why);
    xfree(root);
    if (rc < 0)
        log_msg(LOG_WARN, "pack %s: removing its deployment failed: %s", r->p.id, why);
    if (rc == 0 && upstream) /* upstream certificates are revoked by jobs of their own */
        acme_jobs_pack_deleted(r->app, r->p.id);
    if (rc == 0)
        node_forget(r->app, r->p.id);
    return rc == 0 ? run_hook(r, DEPLOY_EVENT_DELETE) : rc;
}

static int remove_deployment(struct pack_run *r)
{
    node_lock(r->app, r->p.id);
    int rc = remove_here(r, true);
    node_unlock(r->app, r->p.id);
    return rc;
}

int pack_job_remove_here(struct app *app, const struct store_zone *zone, const struct store_pack *p)
{
    struct pack_run r = {.app = app, .now = util_now_us(), .p = *p, .zone = *zone};
    return remove_here(&r, false); /* r.p borrows p's heap fields: nothing to clear */
}

int pack_job_deploy_here(struct app *app, const struct store_zone *zone, const struct store_pack *p,
                         const struct store_pack_cert *certs, int n)
{
    struct pack_run r = {.app = app, .now = util_now_us(), .p = *p, .zone = *zone};
    if (deploy_files(&r, certs, n) < 0)
        return -1;
    return run_hook(&r, DEPLOY_EVENT_DEPLOY) < 0 ? PACK_DEPLOY_HOOK_FAILED : 0;
}

int pack_job_remove_deployment(struct app *app, const struct store_job *job, const char *owner,
                               const struct store_zone *zone, const struct store_pack *p)
{
    struct pack_run r = {
        .app = app, .job = job, .owner = owner, .now = util_now_us(), .p = *p, .zone = *zone};
    publish_http(&r, false);
    /* A zone's deletion takes its packs' published records with it (a failure is logged,
     * and never holds the deletion up). */
    (void)pack_dns_cleanup(app, job, owner, p->id);
    return remove_deployment(&r); /* r.p borrows p's heap fields: nothing to clear */
}

/* ---- the step ---- */

static bool renewing(enum pack_status s)
{
    return s == PACK_ACTIVE || s == PACK_PENDING_EXPIRATION;
}

/* True when the served certificate does not carry what cloudflare_branding asks for
 * (PATCH changed it on an active pack): it must be re-issued now. */
static bool branding_mismatch(const struct pack_run *r)
{
    X509 *leaf = pki_cert_from_pem(r->certs[0].chain_pem, strlen(r->certs[0].chain_pem));
    if (!leaf)
        return false;
    struct pki_subject subject;
    pki_subject_fields(X509_get_subject_name(leaf), &subject);
    X509_free(leaf);
    return r->p.cloudflare_branding != (strcmp(subject.common_name, BRANDING_HOST) == 0);
}

static struct pack_facts facts_of(const struct pack_run *r, enum pack_status status)
{
    const struct app_config *cfg = &r->app->config;
    struct pack_facts f = {.status = status,
                           .now_us = r->now,
                           .entered_us = r->p.status_since,
                           .failures =
                               renewing(status) ? r->p.renewal_failures : r->p.check_failures,
                           .timeouts = pack_timeouts_default()};
    f.timeouts.validation_us = cfg->validation_timeout_us;
    f.timeouts.issuance_us = cfg->issuance_timeout_us;
    f.timeouts.deployment_us = DEPLOY_TIMEOUT_US;
    if (r->ncerts) {
        f.not_before_us = r->certs[0].not_before;
        f.not_after_us = r->certs[0].expires_on;
        f.reissue = renewing(status) && branding_mismatch(r);
        if (renewing(status) && r->ari_at && r->now >= r->ari_at)
            f.reissue = true; /* the upstream's renewal window says now */
    }
    return f;
}

/* Once validation is over (validated, timed out, deleted) the records tlsward published
 * are deleted, while the job's lease is still held. 0, or -1 when one is left. */
static int cleanup_records(struct pack_run *r, enum pack_status status, int renewal_failures)
{
    if (!dns_publish_enabled(&r->app->config.dns) || pack_dns_wanted(status, renewal_failures))
        return 0;
    return pack_dns_cleanup(r->app, r->job, r->owner, r->p.id);
}

/* Commits a step (with new certificates, if any) and completes or reschedules the job. */
static enum job_outcome commit(struct pack_run *r, const struct pack_step *step,
                               const struct store_pack_cert *certs, int ncerts)
{
    r->p.status = step->status;
    if (step->entered)
        r->p.status_since = r->now;
    if (renewing(step->status))
        r->p.renewal_failures = step->failures;
    else
        r->p.check_failures = step->failures;
    int64_t next = step->next_us == PACK_STATE_NEVER ? 0 : step->next_us;
    publish_http(r, step->status == PACK_PENDING_VALIDATION);
    if (cleanup_records(r, step->status, r->p.renewal_failures) < 0 && next == 0)
        next = r->now + DNS_CLEANUP_RETRY_US; /* a pack at rest comes back to retry it */
    int64_t elapsed = util_now_us() - r->now;
    if (next > r->now && elapsed > 0 && acme_jobs_applies(r->app, &r->p))
        next += elapsed;            /* a back-off counts from the end of a slow upstream call */
    if (next && next < r->retry_at) /* the upstream's Retry-After: never sooner */
        next = r->retry_at;
    /* Look again when the upstream's renewal window says so (a window already open is
     * honoured by the next tick the state machine plans: its back-off stays intact). */
    if (step->status == PACK_ACTIVE && r->ari_at > r->now && (!next || next > r->ari_at))
        next = r->ari_at;
    /* An upstream with renewal information is asked again every few hours (its window may
     * move earlier, e.g. before a mass revocation). */
    if (step->status == PACK_ACTIVE && r->ari_at && next > r->now + ARI_POLL_US)
        next = r->now + ARI_POLL_US;
    int rc = store_pack_update_with_certs(r->app->store, &r->p, certs, ncerts, r->job, r->owner,
                                          next, r->now);
    if (rc == STORE_CONFLICT) /* the API changed the pack meanwhile: redo on a fresh read */
        return JOB_AGAIN;
    return rc == STORE_OK ? JOB_DONE : JOB_RETRY;
}

/* Feeds a result event back; a refused event means the pack moved on: run again. */
static enum job_outcome conclude(struct pack_run *r, enum pack_status status, enum pack_event ev,
                                 int64_t not_before, int64_t not_after,
                                 const struct store_pack_cert *certs, int ncerts)
{
    struct pack_facts f = facts_of(r, status);
    if (r->give_up) /* an invalid ACME authorization: validation is over */
        f.timeouts.validation_us = 1;
    if (not_after) {
        f.not_before_us = not_before;
        f.not_after_us = not_after;
    }
    struct pack_step step;
    if (pack_state_next(&f, ev, &step) < 0)
        return JOB_AGAIN; /* the pack moved on (e.g. was deleted): look again */
    return commit(r, &step, certs, ncerts);
}

/* ---- several nodes (worker/node.h) ---- */

/* Keeps the pack as it is and looks again soon: other live nodes have not deployed the
 * generation yet (the last one to do so makes the job due at once). */
static enum job_outcome wait_for_nodes(struct pack_run *r, enum pack_status status,
                                       const struct store_pack_cert *certs, int ncerts)
{
    struct pack_step wait = {.status = status,
                             .action = PACK_ACT_NONE,
                             .failures =
                                 renewing(status) ? r->p.renewal_failures : r->p.check_failures,
                             .next_us = r->now + node_recheck_us(r->app)};
    return commit(r, &wait, certs, ncerts);
}

/* pending_deployment: deploy here (unless this node already has the generation), then
 * active once every live node has it. */
static enum job_outcome deploy_step(struct pack_run *r, enum pack_status status)
{
    int generation = r->p.cert_generation;
    node_lock(r->app, r->p.id);
    int rc = node_has(r->app, r->p.id, generation) ? 0 : deploy(r, r->certs, r->ncerts);
    if (rc == 0)
        node_record(r->app, STORE_NODE_KIND_PACK, r->p.id, r->zone.id, generation, false);
    node_unlock(r->app, r->p.id);
    bool all = true;
    if (rc == 0 && node_all_deployed(r->app, r->p.id, generation, false, &all) < 0)
        return JOB_RETRY;
    if (rc < 0)
        node_note_failure(r->p.id, r->now + worker_backoff_us(r->job->attempts));
    if (rc == 0 && !all)
        return wait_for_nodes(r, status, NULL, 0);
    return conclude(r, status, rc == 0 ? PACK_EV_DEPLOYED : PACK_EV_DEPLOY_FAILED,
                    r->ncerts ? r->certs[0].not_before : 0, r->ncerts ? r->certs[0].expires_on : 0,
                    NULL, 0);
}

/* A renewal issued while other nodes were live is stored beside the visible generation
 * (generation + 1) and shown once every live node has deployed it; meanwhile each node
 * keeps serving the old set until its sync pass swaps the new one in. */
static enum job_outcome finish_renewal(struct pack_run *r, enum pack_status status,
                                       const struct store_pack_cert *next, int nnext)
{
    int generation = r->p.cert_generation + 1;
    node_lock(r->app, r->p.id);
    int rc = node_has(r->app, r->p.id, generation) ? 0 : deploy_files(r, next, nnext);
    if (rc == 0 && !node_has(r->app, r->p.id, generation)) {
        if (run_hook(r, DEPLOY_EVENT_DEPLOY) < 0)
            log_msg(LOG_WARN, "pack %s: renewed and deployed, but the deploy hook failed", r->p.id);
        node_record(r->app, STORE_NODE_KIND_PACK, r->p.id, r->zone.id, generation, false);
    }
    node_unlock(r->app, r->p.id);
    bool all = false;
    if (rc < 0 || node_all_deployed(r->app, r->p.id, generation, false, &all) < 0)
        return JOB_RETRY;
    if (!all)
        return wait_for_nodes(r, status, NULL, 0);
    r->p.cert_generation = generation;
    log_msg(LOG_INFO, "pack %s: renewal deployed on every live node", r->p.id);
    return conclude(r, status, PACK_EV_RENEWED, next[0].not_before, next[0].expires_on, NULL, 0);
}

/* ISSUE (first issuance: visible at once) or RENEW (issue and deploy; visible once
 * deployed, the old set staying in place until then). */
static enum job_outcome issue_and_maybe_deploy(struct pack_run *r, enum pack_status status,
                                               bool renew)
{
    struct store_pack_cert certs[2];
    int generation = r->p.cert_generation + 1;
    int64_t started = util_mono_us();
    bool issued = issue(r, generation, certs) == 0;
    if (issued)
        metrics_observe_issuance(r->app->metrics, util_mono_us() - started);
    /* A renewal counts once the new set is swapped in on disk, so the API never shows a
     * certificate other than the one served; a failing hook is only reported. With other
     * live nodes it counts once they have swapped it in too (finish_renewal). */
    if (issued && renew)
        node_lock(r->app, r->p.id);
    bool ok = issued && (!renew || deploy_files(r, certs, 2) == 0);
    if (ok && renew && run_hook(r, DEPLOY_EVENT_DEPLOY) < 0)
        log_msg(LOG_WARN, "pack %s: renewed and deployed, but the deploy hook failed", r->p.id);
    bool others_done = true;
    if (ok && renew && node_all_deployed(r->app, r->p.id, generation, true, &others_done) < 0)
        others_done = true; /* the store will not say: count as on one node */
    enum job_outcome out;
    if (ok && !others_done) {
        out = wait_for_nodes(r, status, certs, 2); /* stored, not yet visible */
    } else {
        if (ok)
            r->p.cert_generation = generation;
        enum pack_event ev = renew ? (ok ? PACK_EV_RENEWED : PACK_EV_RENEW_FAILED)
                                   : (ok ? PACK_EV_ISSUED : PACK_EV_ISSUE_FAILED);
        out = conclude(r, status, ev, ok ? certs[0].not_before : 0, ok ? certs[0].expires_on : 0,
                       ok ? certs : NULL, ok ? 2 : 0);
    }
    if (ok && renew && out == JOB_DONE)
        node_record(r->app, STORE_NODE_KIND_PACK, r->p.id, r->zone.id, generation, false);
    if (issued && renew)
        node_unlock(r->app, r->p.id);
    store_pack_cert_clear(&certs[0]);
    store_pack_cert_clear(&certs[1]);
    return out;
}

static enum job_outcome perform(struct pack_run *r, enum pack_status status,
                                const struct pack_step *step)
{
    enum pack_method method = PACK_METHOD_TXT;
    switch (step->action) {
    case PACK_ACT_NONE:
        return commit(r, step, NULL, 0);
    case PACK_ACT_CREATE_RECORDS:
        if (acme_jobs_applies(r->app, &r->p)) {
            struct acme_pack_job j = acme_job(r);
            if (acme_jobs_create_records(&j) == 0)
                return commit(r, step, NULL, 0);
            /* The upstream said no (or nothing): keep the status, show why, back off. */
            r->retry_at = j.retry_at;
            struct pack_step wait = {
                .status = status, .action = PACK_ACT_NONE, .failures = r->p.check_failures + 1};
            wait.next_us = r->now + pack_state_backoff_us(wait.failures);
            return commit(r, &wait, NULL, 0);
        }
        method = r->p.validation_method;
        if (pack_records_build_dcv(&r->p, method, r->zone.name, r->zone.id,
                                   r->app->config.dcv_domain) < 0)
            return JOB_RETRY;
        return commit(r, step, NULL, 0);
    case PACK_ACT_CHECK_VALIDATION:
        return conclude(r, status, check_validation(r), 0, 0, NULL, 0);
    case PACK_ACT_ISSUE:
        return issue_and_maybe_deploy(r, status, false);
    case PACK_ACT_RENEW:
        if (!renewal_checks_pass(r))
            return conclude(r, status, PACK_EV_RENEW_FAILED, 0, 0, NULL, 0);
        return issue_and_maybe_deploy(r, status, true);
    case PACK_ACT_DEPLOY:
        return deploy_step(r, status);
    case PACK_ACT_REMOVE_DEPLOYMENT:
        return conclude(r, status,
                        remove_deployment(r) == 0 ? PACK_EV_REMOVED : PACK_EV_REMOVE_FAILED, 0, 0,
                        NULL, 0);
    case PACK_ACT_COUNT:
        break;
    }
    return JOB_DROP;
}

static enum job_outcome advance(struct pack_run *r)
{
    enum pack_status status = r->p.status; /* the store reads no unknown status */
    if (r->p.cert_generation && store_pack_certs(r->app->store, r->p.id, r->p.cert_generation,
                                                 &r->certs, &r->ncerts) != STORE_OK)
        return JOB_RETRY;
    if (renewing(status) && !r->ncerts) {
        /* The state machine needs the served certificate of a live pack; a row without one
         * is damaged (not a state tlsward writes): report it rather than guess. */
        log_msg(LOG_ERROR, "pack %s is %s but has no certificates of generation %d", r->p.id,
                pack_status_name(r->p.status), r->p.cert_generation);
        return JOB_DROP;
    }
    if (renewing(status) && r->now < r->certs[0].expires_on) {
        /* A renewal stored while waiting for the other nodes (finish_renewal); once the
         * served certificate has run out the usual rules (expired) apply instead. */
        struct store_pack_cert *next = NULL;
        int nnext = 0;
        if (store_pack_certs(r->app->store, r->p.id, r->p.cert_generation + 1, &next, &nnext) !=
            STORE_OK)
            return JOB_RETRY;
        enum job_outcome out = nnext == 2 ? finish_renewal(r, status, next, nnext) : JOB_DONE;
        store_pack_cert_list_free(next, nnext);
        if (nnext == 2)
            return out;
    }
    bool leftover = cleanup_records(r, status, r->p.renewal_failures) < 0;
    /* Only a served certificate asks (a deployment never waits for the upstream). */
    if (r->ncerts && renewing(status) && acme_jobs_applies(r->app, &r->p))
        r->ari_at = acme_jobs_ari_renew_at(r->app, r->job, r->owner, &r->zone, &r->p,
                                           r->certs[0].chain_pem);
    struct pack_facts f = facts_of(r, status);
    struct pack_step step;
    if (pack_state_next(&f, PACK_EV_TICK, &step) < 0) /* a status at rest: nothing to do */
        return leftover ? JOB_RETRY : JOB_DROP;       /* but to retry the DNS cleanup */
    return perform(r, status, &step);
}

enum job_outcome pack_job_advance(struct app *app, const struct store_job *job, const char *owner)
{
    struct pack_run r = {.app = app, .job = job, .owner = owner, .now = util_now_us()};
    int rc = store_pack_by_id(app->store, job->target, &r.p);
    if (rc == STORE_OK)
        rc = store_zone_get(app->store, r.p.zone_id, &r.zone);
    enum job_outcome out = rc == STORE_OK          ? advance(&r)
                           : rc == STORE_NOT_FOUND ? JOB_DROP
                                                   : JOB_RETRY;

    store_pack_cert_list_free(r.certs, r.ncerts);
    store_pack_clear(&r.p);
    return out;
}
