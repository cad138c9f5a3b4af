/* Packs of a CA with an ACME directory: account, orders, challenges, finalization,
 * download and revocation, on top of acme/ (the RFC 8555 client).
 *
 * Everything upstream that a crash must not lose is in the store before the next step:
 * the account (key sealed, URL), each order's URLs and status, and the key of a CSR before
 * the CSR is sent, so a restarted or different worker resumes the same order. Every call
 * that changes state upstream is preceded by worker_lease_held (a worker that lost the job
 * stops). Log lines name the pack and the order URL, never a key or a key authorization. */
#include "worker/acme_jobs.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "acme/acme.h"
#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "core/acme_pack.h"
#include "core/pack_records.h"
#include "core/pack_rules.h"
#include "http/metrics.h"
#include "pki/key_pool.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "worker/http_publish.h"
#include "worker/pack_dns.h"

#define ACME_HTTP_TIMEOUT_MS 10000
/* How long one job waits upstream for an order or authorization before it lets go and
 * comes back later (the job's lease is renewed meanwhile). */
#define ACME_WAIT_BUDGET_US (20 * 1000000LL)
#define ACME_REVOKE_REASON 5 /* cessationOfOperation */
#define ACME_MAX_NAMES PACK_HOSTS_MAX

static const enum store_key_type key_types[2] = {STORE_KEY_ECDSA, STORE_KEY_RSA};

/* ---- the client and the account ---- */

struct session {
    struct acme_pack_job *j;
    enum pack_ca ca;
    const struct app_acme_ca *cfg;
    struct store_acme_account account;
    EVP_PKEY *key;
    struct acme_client *client;
};

static const struct app_acme_ca *ca_config(const struct app *app, enum pack_ca which,
                                           enum pack_ca *ca)
{
    *ca = which;
    if ((int)which < 0 || (int)which >= APP_ACME_CAS)
        return NULL;
    const struct app_acme_ca *c = &app->config.acme.ca[*ca];
    return c->directory ? c : NULL;
}

bool acme_jobs_applies(const struct app *app, const struct store_pack *p)
{
    enum pack_ca ca;
    return ca_config(app, p->certificate_authority, &ca) != NULL;
}

static void account_aad(const struct store_acme_account *a, char *out, size_t size)
{
    snprintf(out, size, "acme-account:%s:%s:%s", a->account_id, pack_ca_name(a->ca),
             a->directory_url);
}

/* The AAD of a pack certificate key, as pack_jobs.c seals it. */
static void cert_aad(const char *cert_id, char out[64])
{
    snprintf(out, 64, "pack-cert:%s", cert_id);
}

static void order_aad(const char *pack_id, enum store_key_type key_type, char *out, size_t size)
{
    snprintf(out, size, "acme-order-key:%s:%s", pack_id, store_key_type_name(key_type));
}

/* Sets validation_errors to one message (the user sees what the upstream said). */
static void set_error(struct acme_pack_job *j, const char *message)
{
    store_pack_errors_clear(j->p);
    store_pack_error_add(j->p, message); /* messages are ACME_PACK_MSG_SIZE at most */
}

/* Reports an upstream failure: validation_errors, a log line, and the back-off the
 * upstream asked for. */
static void report(struct acme_pack_job *j, const char *what, const struct acme_error *err)
{
    char msg[ACME_PACK_MSG_SIZE], line[256], fallback[300];
    acme_error_format(err, line, sizeof line);
    snprintf(fallback, sizeof fallback, "ACME: %s", line);
    acme_pack_problem_message(err->has_problem ? &err->problem : NULL, fallback, msg, sizeof msg);
    set_error(j, msg);
    if (err->retry_after_us > j->retry_at)
        j->retry_at = err->retry_after_us;
    log_msg(LOG_WARN, "pack %s: ACME %s failed: %s", j->p->id, what, line);
}

static bool lease(struct session *s)
{
    return worker_lease_held(s->j->app, s->j->job, s->j->owner);
}

/* Loads or creates the (tlsward account, CA, directory) ACME account key. */
static int load_account(struct session *s)
{
    struct acme_pack_job *j = s->j;
    char aad[STORE_ACME_URL_SIZE + 96];
    int rc = store_acme_account_get(j->app->store, j->zone->account_id, s->ca, s->cfg->directory,
                                    &s->account);
    if (rc == STORE_NOT_FOUND) {
        EVP_PKEY *key = acme_key_generate();
        char *pem = NULL;
        size_t len = 0;
        struct store_acme_account a = {.created_on = j->now, .updated_on = j->now};
        snprintf(a.account_id, sizeof a.account_id, "%s", j->zone->account_id);
        a.ca = s->ca;
        snprintf(a.directory_url, sizeof a.directory_url, "%s", s->cfg->directory);
        account_aad(&a, aad, sizeof aad);
        rc = acme_key_to_pem(key, &pem, &len) == 0 &&
                     seal_encrypt(j->app->master_key, pem, len, aad, &a.key_sealed,
                                  &a.key_sealed_len) == 0
                 ? store_acme_account_create(j->app->store, &a)
                 : STORE_ERROR;
        if (pem)
            OPENSSL_cleanse(pem, len);
        xfree(pem);
        EVP_PKEY_free(key);
        store_acme_account_clear(&a);
        if (rc == STORE_OK || rc == STORE_CONFLICT) /* CONFLICT: another worker made it */
            rc = store_acme_account_get(j->app->store, j->zone->account_id, s->ca,
                                        s->cfg->directory, &s->account);
    }
    if (rc != STORE_OK)
        return -1;
    unsigned char *pem = NULL;
    size_t len = 0;
    account_aad(&s->account, aad, sizeof aad);
    if (seal_decrypt(j->app->master_key, s->account.key_sealed, s->account.key_sealed_len, aad,
                     &pem, &len) < 0)
        return -1;
    s->key = acme_key_from_pem((const char *)pem, len);
    OPENSSL_cleanse(pem, len);
    xfree(pem);
    return s->key ? 0 : -1;
}

/* Registers (again): a new account upstream for the stored key, its URL kept. */
static int register_account(struct session *s)
{
    const struct app_acme_ca *cfg = s->cfg;
    struct acme_account_options o = {.contact = s->j->app->config.acme.contact,
                                     .terms_agreed = true,
                                     .eab_kid = cfg->eab_kid[0] ? cfg->eab_kid : NULL,
                                     .eab_hmac = cfg->eab_hmac[0] ? cfg->eab_hmac : NULL};
    struct acme_error err = {0};
    char *url = NULL;
    if (!lease(s))
        return -1;
    if (acme_account_register(s->client, &o, &url, &err) < 0) {
        report(s->j, "account registration", &err);
        return -1;
    }
    snprintf(s->account.account_url, sizeof s->account.account_url, "%s", url);
    xfree(url);
    log_msg(LOG_INFO, "pack %s: ACME account %s registered at %s", s->j->p->id,
            s->account.account_url, s->cfg->directory);
    return store_acme_account_set_url(s->j->app->store, &s->account, s->j->now) == STORE_OK ? 0
                                                                                            : -1;
}

/* Every exchange with the upstream, for the metrics (the client calls it). */
static void count_request(void *ctx, enum acme_endpoint ep, int http_status, int64_t duration_us)
{
    (void)duration_us;
    metrics_acme_request(ctx, (int)ep, acme_endpoint_name(ep), http_status);
}

static int session_open(struct acme_pack_job *j, struct session *s)
{
    memset(s, 0, sizeof *s);
    s->j = j;
    s->cfg = ca_config(j->app, j->p->certificate_authority, &s->ca);
    if (!s->cfg || load_account(s) < 0) {
        set_error(j, "ACME: cannot load the ACME account key (see the log)");
        log_msg(LOG_ERROR, "pack %s: cannot load or create its ACME account key", j->p->id);
        return -1;
    }
    struct acme_client_options o = {.directory_url = s->cfg->directory,
                                    .ca_file = j->app->config.acme.ca_file,
                                    .timeout_ms = ACME_HTTP_TIMEOUT_MS,
                                    .metrics = count_request,
                                    .metrics_ctx = j->app->metrics};
    struct acme_error err = {0};
    s->client = acme_client_create(&o, s->key, &err);
    if (!s->client) {
        report(j, "client set-up", &err);
        return -1;
    }
    if (s->account.account_url[0]) {
        acme_client_set_account(s->client, s->account.account_url);
        return 0;
    }
    return register_account(s);
}

static void session_close(struct session *s)
{
    acme_client_destroy(s->client);
    EVP_PKEY_free(s->key);
    store_acme_account_clear(&s->account);
}

/* ---- orders ---- */

/* The pack's hosts as ACME names (wildcards kept as "*."). */
static const char **pack_names(const struct store_pack *p, size_t *n)
{
    const char **hosts = pack_hosts_vector(p, n);
    if (hosts && *n > ACME_MAX_NAMES) {
        xfree(hosts);
        return NULL;
    }
    return hosts;
}

static void order_to_row(const struct acme_order *o, const char *pack_id,
                         enum store_key_type key_type, int64_t now, struct store_acme_order *row)
{
    size_t len = 0;
    for (size_t i = 0; i < o->n_authz; i++)
        len += strlen(o->authz_urls[i]) + 1;
    row->authz_urls = xcalloc(1, len + 1);
    for (size_t i = 0; i < o->n_authz; i++) {
        strcat(row->authz_urls, o->authz_urls[i]);
        strcat(row->authz_urls, "\n");
    }
    snprintf(row->pack_id, sizeof row->pack_id, "%s", pack_id);
    row->key_type = key_type;
    snprintf(row->order_url, sizeof row->order_url, "%s", o->url);
    snprintf(row->finalize_url, sizeof row->finalize_url, "%s", o->finalize_url);
    snprintf(row->certificate_url, sizeof row->certificate_url, "%s",
             o->certificate_url ? o->certificate_url : "");
    snprintf(row->status, sizeof row->status, "%s", acme_status_name(o->status));
    row->expires_on = o->expires_us;
    row->updated_on = now;
    if (!row->created_on)
        row->created_on = now;
}

/* Saves what the upstream said of the order into the stored row (keeping its key). */
static int save_order(struct session *s, const struct acme_order *o, struct store_acme_order *row,
                      enum store_key_type key_type)
{
    xfree(row->authz_urls);
    row->authz_urls = NULL;
    order_to_row(o, s->j->p->id, key_type, s->j->now, row);
    return store_acme_order_put(s->j->app->store, row) == STORE_OK ? 0 : -1;
}

/* Opens a new order for the pack's hosts (the stored one, if any, is replaced). */
static int new_order(struct session *s, enum store_key_type key_type, struct acme_order *o,
                     struct store_acme_order *row)
{
    size_t n;
    const char **names = pack_names(s->j->p, &n);
    struct acme_error err = {0};
    int rc = -1;
    if (!names || !lease(s))
        goto out;
    acme_order_free(o);
    rc = acme_order_new(s->client, names, n, o, &err);
    if (rc == ACME_E_GONE) { /* the upstream forgot the account: register again */
        if (register_account(s) < 0)
            goto out;
        rc = lease(s) ? acme_order_new(s->client, names, n, o, &err) : -1;
    }
    if (rc < 0) {
        if (err.code) /* an upstream answer (not a lost lease) */
            report(s->j, "newOrder", &err);
        rc = -1;
        goto out;
    }
    store_acme_order_clear(row);
    memset(row, 0, sizeof *row);
    rc = save_order(s, o, row, key_type);
    log_msg(LOG_INFO, "pack %s: opened ACME %s order %s", s->j->p->id,
            store_key_type_name(key_type), o->url);
out:
    xfree(names);
    return rc;
}

/* The stored order for key_type if the upstream still has it in a usable state, else a new
 * one. 0 with *o filled and *row the stored row, or -1 (reported). */
static int current_order(struct session *s, enum store_key_type key_type, struct acme_order *o,
                         struct store_acme_order *row)
{
    struct acme_error err = {0};
    memset(o, 0, sizeof *o);
    int rc = store_acme_order_get(s->j->app->store, s->j->p->id, key_type, row);
    if (rc == STORE_NOT_FOUND)
        return new_order(s, key_type, o, row);
    if (rc != STORE_OK)
        return -1;
    rc = acme_order_get(s->client, row->order_url, o, &err);
    if (rc == ACME_E_GONE) {
        log_msg(LOG_INFO, "pack %s: ACME order %s is unknown upstream; opening a new one",
                s->j->p->id, row->order_url);
        /* A forgotten order usually means a forgotten account too (a restarted CA). */
        if (register_account(s) < 0)
            return -1;
        return new_order(s, key_type, o, row);
    }
    if (rc < 0) {
        report(s->j, "order", &err);
        return -1;
    }
    const char *st = acme_status_name(o->status);
    switch (acme_pack_resume(row->order_url, row->status, st, o->expires_us, util_now_us())) {
    case ACME_RESUME_NEW_ORDER:
        return new_order(s, key_type, o, row);
    default:
        log_msg(LOG_INFO, "pack %s: resuming ACME %s order %s (%s)", s->j->p->id,
                store_key_type_name(key_type), o->url ? o->url : row->order_url, st);
        if (!o->url) /* the order object does not repeat its own URL */
            o->url = xstrdup(row->order_url);
        return save_order(s, o, row, key_type);
    }
}

/* ---- challenges ---- */

/* The challenges of the order for the pack's method, into records. */
static int build_records(struct session *s, const struct acme_order *o)
{
    enum pack_method method = s->j->p->validation_method;
    enum acme_challenge_type want =
        method == PACK_METHOD_HTTP ? ACME_CHALL_HTTP01 : ACME_CHALL_DNS01;
    size_t n = o->n_authz, m = 0; /* authorizations; challenges to publish */
    struct acme_authz *authz = xcalloc(n + 1, sizeof *authz);
    struct acme_pack_challenge *ch = xcalloc(n + 1, sizeof *ch);
    char **keyauth = xcalloc(n + 1, sizeof *keyauth);
    char msg[ACME_PACK_MSG_SIZE];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct acme_error err = {0};
        if (acme_authz_get(s->client, o->authz_urls[i], &authz[i], &err) < 0) {
            report(s->j, "authorization", &err);
            rc = -1;
            break;
        }
        const struct acme_challenge *c = acme_authz_challenge(&authz[i], want);
        /* An authorization the CA already holds valid (reused from an earlier order,
         * perhaps validated by another method) needs no challenge, and may list only
         * the one that validated it: nothing to publish for it. */
        if ((!c || !c->token) && authz[i].status == ACME_ST_VALID)
            continue;
        if (!c || !c->token) {
            snprintf(msg, sizeof msg, "ACME: the CA offers no %s challenge for %s",
                     acme_pack_challenge_type(method), authz[i].identifier);
            set_error(s->j, msg);
            rc = -1;
            break;
        }
        keyauth[i] = acme_key_authorization(s->client, c->token);
        ch[m++] = (struct acme_pack_challenge){
            authz[i].identifier, authz[i].wildcard, c->token, keyauth[i],
            authz[i].status == ACME_ST_VALID ? "valid" : acme_status_name(c->status)};
    }
    if (rc == 0 && acme_pack_records(method, ch, m, s->j->p, msg, sizeof msg) < 0) {
        set_error(s->j, msg);
        rc = -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (keyauth[i])
            OPENSSL_cleanse(keyauth[i], strlen(keyauth[i]));
        xfree(keyauth[i]);
        acme_authz_free(&authz[i]);
    }
    xfree(keyauth);
    xfree(ch);
    xfree(authz);
    return rc;
}

/* The values of a records text, in order, joined ("name=value|..."): what the user must
 * publish, whatever the records' statuses say. Heap. */
static char *record_values(const struct store_pack *p)
{
    char *out = xstrdup("");
    for (int i = 0; i < p->validation_record_count; i++) {
        const struct store_validation_record *r = &p->validation_records[i];
        const char *keys[] = {"txt_name", "txt_value", "http_url", "http_body"};
        const char *values[] = {r->txt_name, r->txt_value, r->http_url, r->http_body};
        for (size_t k = 0; k < 4; k++) {
            if (!values[k][0])
                continue;
            char *next = xasprintf("%s%s=%s|", out, keys[k], values[k]);
            xfree(out);
            out = next;
        }
    }
    return out;
}

int acme_jobs_sync_records(struct acme_pack_job *j)
{
    struct session s;
    struct acme_order o = {0};
    struct store_acme_order row = {0};
    char *before = record_values(j->p), *after = NULL;
    int rc = session_open(j, &s) == 0 ? current_order(&s, key_types[0], &o, &row) : -1;
    if (rc == 0 && o.status == ACME_ST_PENDING && (rc = build_records(&s, &o)) == 0) {
        after = record_values(j->p);
        rc = strcmp(before, after) != 0;
        if (rc)
            log_msg(LOG_INFO, "pack %s: validation records follow ACME order %s", j->p->id, o.url);
    }
    xfree(before);
    xfree(after);
    acme_order_free(&o);
    store_acme_order_clear(&row);
    session_close(&s);
    return rc;
}

int acme_jobs_create_records(struct acme_pack_job *j)
{
    struct session s;
    struct acme_order o = {0};
    struct store_acme_order row = {0};
    int rc = session_open(j, &s) == 0 ? current_order(&s, key_types[0], &o, &row) : -1;
    if (rc == 0)
        rc = build_records(&s, &o);
    acme_order_free(&o);
    store_acme_order_clear(&row);
    session_close(&s);
    return rc;
}

/* Answers every pending challenge of the order and waits for it to be ready (or valid).
 * ACME_VALID, ACME_WAIT (time ran out or the upstream is busy) or ACME_INVALID. */
static enum acme_validation answer_and_wait(struct session *s, struct acme_order *o)
{
    enum pack_method method = s->j->p->validation_method;
    enum acme_challenge_type want =
        method == PACK_METHOD_HTTP ? ACME_CHALL_HTTP01 : ACME_CHALL_DNS01;
    struct acme_error err = {0};
    if (o->status == ACME_ST_PENDING) {
        for (size_t i = 0; i < o->n_authz; i++) {
            struct acme_authz a = {0};
            if (acme_authz_get(s->client, o->authz_urls[i], &a, &err) < 0) {
                report(s->j, "authorization", &err);
                return err.code == ACME_E_PROBLEM ? ACME_INVALID : ACME_WAIT;
            }
            const struct acme_challenge *c = acme_authz_challenge(&a, want);
            if (a.status == ACME_ST_PENDING && c && c->status == ACME_ST_PENDING) {
                if (!lease(s)) {
                    acme_authz_free(&a);
                    return ACME_WAIT;
                }
                if (acme_challenge_answer(s->client, c->url, NULL, &err) < 0) {
                    report(s->j, "challenge", &err);
                    acme_authz_free(&a);
                    return err.code == ACME_E_PROBLEM ? ACME_INVALID : ACME_WAIT;
                }
            } else if (a.status == ACME_ST_INVALID) {
                err = (struct acme_error){.code = ACME_E_PROBLEM};
                if (c && c->has_error) {
                    err.has_problem = true;
                    err.problem = c->error;
                }
                report(s->j, "authorization", &err);
                acme_authz_free(&a);
                return ACME_INVALID;
            }
            acme_authz_free(&a);
        }
    }
    struct acme_order now = {0};
    int rc = acme_order_wait(s->client, o->url, ACME_ST_READY, ACME_WAIT_BUDGET_US, &now, &err);
    enum acme_validation out = ACME_VALID;
    if (rc == ACME_E_PROBLEM) {
        report(s->j, "validation", &err);
        out = ACME_INVALID;
    } else if (rc < 0) {
        report(s->j, "order", &err);
        out = ACME_WAIT;
    } else {
        o->status = now.status;
    }
    acme_order_free(&now);
    return out;
}

enum acme_validation acme_jobs_validate(struct acme_pack_job *j)
{
    struct session s;
    struct acme_order o = {0};
    struct store_acme_order row = {0};
    enum acme_validation out = ACME_WAIT;
    if (session_open(j, &s) == 0 && current_order(&s, key_types[0], &o, &row) == 0) {
        out = o.status == ACME_ST_INVALID ? ACME_INVALID : answer_and_wait(&s, &o);
        if (out == ACME_VALID) {
            snprintf(row.status, sizeof row.status, "%s", acme_status_name(o.status));
            store_acme_order_put(j->app->store, &row);
        } else if (out == ACME_INVALID) {
            metrics_acme_order(j->app->metrics, "invalid");
            /* A PATCH restart must open a new order, not resume this dead one. */
            store_acme_order_delete(j->app->store, j->p->id);
        }
    }
    acme_order_free(&o);
    store_acme_order_clear(&row);
    session_close(&s);
    return out;
}

/* ---- issuance ---- */

/* An order opened at issuance (the RSA one, or any order of a renewal) has challenges of its
 * own that the pack's records never showed: tlsward publishes them itself while they are
 * answered (http-01: its responder and --webroot; dns-01: --dns-update/--dns-hook) and
 * withdraws them right after. The pack's records are left as they were. true when something
 * was published (the caller then calls withdraw_order_records). */
static bool publish_order_records(struct session *s, const struct acme_order *o)
{
    struct app *app = s->j->app;
    enum pack_method method = s->j->p->validation_method;
    /* dns-01 for txt packs at _acme-challenge.<host>, for delegated (cname) packs at the
     * target the user's CNAME points to: pack_dns_sync knows both. */
    bool dns = (method == PACK_METHOD_TXT || method == PACK_METHOD_CNAME) &&
               dns_publish_enabled(&app->config.dns);
    if ((method != PACK_METHOD_HTTP && !dns) || o->status != ACME_ST_PENDING || !lease(s))
        return false;
    struct store_validation_record *saved = s->j->p->validation_records;
    int saved_count = s->j->p->validation_record_count;
    s->j->p->validation_records = NULL;
    s->j->p->validation_record_count = 0;
    bool published = build_records(s, o) == 0;
    if (published && method == PACK_METHOD_HTTP) {
        published = http_publish_sync(app, s->j->p->id, s->j->p) == 0;
    } else if (published) {
        bool lost = false;
        char *why = pack_dns_sync(app, s->j->job, s->j->owner, s->j->zone, s->j->p, &lost);
        if (why)
            log_msg(LOG_WARN, "pack %s: %s", s->j->p->id, why);
        published = !lost; /* even a partial publication is withdrawn */
        xfree(why);
    }
    store_pack_records_clear(s->j->p);
    s->j->p->validation_records = saved;
    s->j->p->validation_record_count = saved_count;
    return published;
}

static void withdraw_order_records(struct session *s)
{
    if (!lease(s))
        return;
    if (s->j->p->validation_method == PACK_METHOD_HTTP)
        (void)http_publish_clear(s->j->app, s->j->p->id);
    else
        (void)pack_dns_cleanup(s->j->app, s->j->job, s->j->owner, s->j->p->id);
}

/* A DER CSR for names, signed by key: CN = the first name (if it fits), every name a SAN. */
static int make_csr(EVP_PKEY *key, const char *const *names, size_t n, unsigned char **der,
                    size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subject = X509_NAME_new();
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    int rc = -1;
    if (!req || !subject || !sans || !exts || n == 0)
        goto out;
    if (strlen(names[0]) <= 64)
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)names[0],
                                   -1, -1, 0);
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, names[i], -1);
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        sk_GENERAL_NAME_push(sans, g);
    }
    X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
    if (!ext)
        goto out;
    sk_X509_EXTENSION_push(exts, ext);
    int len_der = 0;
    if (X509_REQ_set_version(req, 0) == 1 && X509_REQ_set_subject_name(req, subject) == 1 &&
        X509_REQ_set_pubkey(req, key) == 1 && X509_REQ_add_extensions(req, exts) == 1 &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0 && (len_der = i2d_X509_REQ(req, NULL)) > 0) {
        *der = xcalloc(1, (size_t)len_der);
        unsigned char *p = *der;
        i2d_X509_REQ(req, &p);
        *len = (size_t)len_der;
        rc = 0;
    }
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(sans);
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return rc;
}

/* The key of this order's CSR: the stored one (a crash after finalize), else a new one,
 * sealed into the order row before the CSR leaves. NULL on failure. */
static EVP_PKEY *order_key(struct session *s, int which, struct store_acme_order *row)
{
    char aad[128];
    order_aad(s->j->p->id, key_types[which], aad, sizeof aad);
    if (row->key_sealed) {
        unsigned char *pem = NULL;
        size_t len = 0;
        if (seal_decrypt(s->j->app->master_key, row->key_sealed, row->key_sealed_len, aad, &pem,
                         &len) < 0)
            return NULL;
        EVP_PKEY *k = pki_key_from_pem((const char *)pem, len);
        OPENSSL_cleanse(pem, len);
        xfree(pem);
        return k;
    }
    EVP_PKEY *k =
        which == 0 ? pki_key_generate(PKI_KEY_EC_P256) : key_pool_take(s->j->app->rsa_keys);
    char *pem = NULL;
    size_t len = 0;
    int rc = k && pki_key_to_pem(k, &pem, &len) == 0 &&
                     seal_encrypt(s->j->app->master_key, pem, len, aad, &row->key_sealed,
                                  &row->key_sealed_len) == 0 &&
                     store_acme_order_put(s->j->app->store, row) == STORE_OK
                 ? 0
                 : -1;
    if (pem)
        OPENSSL_cleanse(pem, len);
    xfree(pem);
    if (rc < 0) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* Fills a pack certificate row from a downloaded chain and its key. */
static int cert_row(struct session *s, int which, int generation, const char *chain, EVP_PKEY *key,
                    struct store_pack_cert *c)
{
    X509 *leaf = pki_cert_from_pem(chain, strlen(chain));
    char *pem = NULL, aad[64];
    size_t len = 0;
    if (!leaf)
        return -1;
    struct pki_subject issuer;
    memset(c, 0, sizeof *c);
    util_random_id(c->id);
    snprintf(c->pack_id, sizeof c->pack_id, "%s", s->j->p->id);
    c->generation = generation;
    c->priority = which + 1;
    c->key_type = key_types[which];
    snprintf(c->signature, sizeof c->signature, "%s",
             which == 0 ? "ECDSAWithSHA256" : "SHA256WithRSA");
    snprintf(c->issuer, sizeof c->issuer, "%s",
             pki_issuer_display(X509_get_issuer_name(leaf), &issuer));
    pki_cert_serial_hex(leaf, c->serial, sizeof c->serial);
    c->chain_pem = xstrdup(chain);
    c->not_before = pki_cert_not_before(leaf);
    c->expires_on = pki_cert_not_after(leaf);
    c->uploaded_on = c->modified_on = s->j->now;
    X509_free(leaf);
    cert_aad(c->id, aad);
    int rc = pki_key_to_pem(key, &pem, &len) == 0 &&
                     seal_encrypt(s->j->app->master_key, pem, len, aad, &c->key_sealed,
                                  &c->key_sealed_len) == 0
                 ? 0
                 : -1;
    if (pem)
        OPENSSL_cleanse(pem, len);
    xfree(pem);
    return rc;
}

/* Records the certificate for a later revocation (leaf only). */
static void remember_cert(struct session *s, const struct store_pack_cert *c)
{
    X509 *leaf = pki_cert_from_pem(c->chain_pem, strlen(c->chain_pem));
    char *pem = NULL;
    size_t len = 0;
    if (leaf && pki_cert_to_pem(leaf, &pem, &len) == 0) {
        struct store_acme_cert row = {.leaf_pem = pem, .created_on = s->j->now};
        snprintf(row.cert_id, sizeof row.cert_id, "%s", c->id);
        snprintf(row.pack_id, sizeof row.pack_id, "%s", c->pack_id);
        snprintf(row.account_id, sizeof row.account_id, "%s", s->j->zone->account_id);
        row.ca = s->ca;
        snprintf(row.serial, sizeof row.serial, "%s", c->serial);
        if (store_acme_cert_create(s->j->app->store, &row) != STORE_OK)
            log_msg(LOG_WARN, "pack %s: could not record certificate %s for revocation", c->pack_id,
                    c->serial);
    }
    xfree(pem);
    X509_free(leaf);
}

/* Drives one order (stored or new) to a downloaded chain. 0 with *c filled, or -1. */
static int issue_one(struct session *s, int which, int generation, struct store_pack_cert *c)
{
    struct acme_order o = {0}, done = {0};
    struct store_acme_order row = {0};
    struct acme_error err = {0};
    EVP_PKEY *key = NULL;
    char *chain = NULL;
    int rc = -1;
    size_t n = 0;
    const char **names = pack_names(s->j->p, &n);
    if (!names || current_order(s, key_types[which], &o, &row) < 0)
        goto out;
    if (o.status == ACME_ST_INVALID) { /* a dead order is never retried: open a new one */
        log_msg(LOG_INFO, "pack %s: ACME %s order %s is invalid", s->j->p->id,
                store_key_type_name(key_types[which]), row.order_url);
        if (new_order(s, key_types[which], &o, &row) < 0)
            goto out;
    }
    if (o.status == ACME_ST_PENDING || o.status == ACME_ST_READY) {
        bool published = publish_order_records(s, &o);
        enum acme_validation v = answer_and_wait(s, &o);
        if (published)
            withdraw_order_records(s);
        if (v != ACME_VALID)
            goto out;
    }
    if (o.status == ACME_ST_READY) {
        unsigned char *csr = NULL;
        size_t csr_len = 0;
        if (!(key = order_key(s, which, &row)) || make_csr(key, names, n, &csr, &csr_len) < 0 ||
            !lease(s)) {
            xfree(csr);
            goto out;
        }
        int f = acme_order_finalize(s->client, &o, csr, csr_len, &done, &err);
        xfree(csr);
        if (f < 0) {
            report(s->j, "finalize", &err);
            goto out;
        }
        acme_order_free(&done);
        o.status = ACME_ST_PROCESSING;
    }
    if (o.status == ACME_ST_PROCESSING) {
        if (acme_order_wait(s->client, o.url, ACME_ST_VALID, ACME_WAIT_BUDGET_US, &done, &err) <
            0) {
            report(s->j, "order", &err);
            goto out;
        }
        acme_order_free(&o);
        o = done;
        memset(&done, 0, sizeof done);
        if (!o.url)
            o.url = xstrdup(row.order_url);
        save_order(s, &o, &row, key_types[which]);
    }
    if (o.status != ACME_ST_VALID || !o.certificate_url) {
        set_error(s->j, "ACME: the order did not become valid");
        goto out;
    }
    if (!key && !(key = order_key(s, which, &row)))
        goto out;
    if (acme_cert_fetch(s->client, o.certificate_url,
                        s->cfg->preferred_chain[0] ? s->cfg->preferred_chain : NULL, &chain,
                        &err) < 0) {
        report(s->j, "certificate download", &err);
        goto out;
    }
    rc = cert_row(s, which, generation, chain, key, c);
    if (rc == 0) {
        metrics_acme_order(s->j->app->metrics, "valid");
        remember_cert(s, c);
        log_msg(LOG_INFO, "pack %s: ACME %s certificate %s issued by order %s", s->j->p->id,
                store_key_type_name(key_types[which]), c->serial, o.url);
    }
out:
    xfree(chain);
    EVP_PKEY_free(key);
    acme_order_free(&o);
    acme_order_free(&done);
    store_acme_order_clear(&row);
    xfree(names);
    return rc;
}

int acme_jobs_issue(struct acme_pack_job *j, int generation, struct store_pack_cert certs[2])
{
    struct session s;
    memset(certs, 0, 2 * sizeof *certs);
    int64_t started = util_mono_us();
    int rc = session_open(j, &s);
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = issue_one(&s, i, generation, &certs[i]);
    if (rc == 0) {
        metrics_observe_acme_issuance(j->app->metrics, util_mono_us() - started);
        store_acme_order_delete(j->app->store, j->p->id); /* the next issuance opens new ones */
    } else {
        store_pack_cert_clear(&certs[0]);
        store_pack_cert_clear(&certs[1]);
    }
    session_close(&s);
    return rc;
}

/* ---- renewal information ---- */

int64_t acme_jobs_ari_renew_at(struct app *app, const struct store_job *job, const char *owner,
                               const struct store_zone *zone, const struct store_pack *p,
                               const char *chain_pem)
{
    struct acme_pack_job j = {.app = app,
                              .job = job,
                              .owner = owner,
                              .zone = zone,
                              .p = (struct store_pack *)p,
                              .now = util_now_us()};
    enum pack_ca ca;
    const struct app_acme_ca *cfg = ca_config(app, p->certificate_authority, &ca);
    if (!cfg || !chain_pem)
        return 0;
    /* A private client: this call must not touch the pack's validation_errors. */
    struct store_pack copy = *p;
    copy.validation_errors = NULL; /* shares p's other arrays, which this call only reads */
    copy.validation_error_count = 0;
    j.p = &copy;
    struct session s;
    int64_t at = 0;
    const struct acme_directory *dir = NULL;
    struct acme_error err = {0};
    X509 *leaf = pki_cert_from_pem(chain_pem, strlen(chain_pem));
    char *cert_id = leaf ? acme_ari_cert_id(leaf) : NULL;
    if (cert_id && session_open(&j, &s) == 0) {
        struct acme_renewal r = {0};
        if (acme_client_directory(s.client, &dir, &err) == 0 && dir->renewal_info &&
            acme_ari_get(s.client, cert_id, &r, &err) == 0)
            at = acme_pack_ari_renew_at(r.start_us, r.end_us, p->id);
        acme_renewal_free(&r);
    }
    session_close(&s);
    store_pack_errors_clear(&copy);
    xfree(cert_id);
    X509_free(leaf);
    return at;
}

/* ---- revocation ---- */

void acme_jobs_pack_deleted(struct app *app, const char *pack_id)
{
    int n = 0;
    if (store_acme_certs_revoke_pack(app->store, pack_id, &n) != STORE_OK)
        log_msg(LOG_WARN, "pack %s: could not schedule the revocation of its ACME certificates",
                pack_id);
    else if (n)
        log_msg(LOG_INFO, "pack %s: revoking %d ACME certificate(s) upstream", pack_id, n);
}

enum job_outcome acme_job_revoke(struct app *app, const struct store_job *job, const char *owner)
{
    struct store_acme_cert c;
    if (store_acme_cert_get(app->store, job->target, &c) != STORE_OK)
        return JOB_DROP;
    enum job_outcome out = JOB_RETRY;
    enum pack_ca ca;
    const struct app_acme_ca *cfg = ca_config(app, c.ca, &ca);
    if (c.revoked_on || !cfg) {
        if (!cfg)
            log_msg(LOG_WARN, "certificate %s: %s has no --acme-directory any more; not revoked",
                    c.serial, pack_ca_name(c.ca));
        store_acme_cert_clear(&c);
        return JOB_DROP;
    }
    struct store_zone zone = {0};
    struct store_pack p = {0};
    snprintf(zone.account_id, sizeof zone.account_id, "%s", c.account_id);
    snprintf(p.id, sizeof p.id, "%s", c.pack_id);
    p.certificate_authority = ca;
    struct acme_pack_job j = {
        .app = app, .job = job, .owner = owner, .zone = &zone, .p = &p, .now = util_now_us()};
    struct session s;
    X509 *leaf = pki_cert_from_pem(c.leaf_pem, strlen(c.leaf_pem));
    unsigned char *der = NULL;
    int len = leaf ? i2d_X509(leaf, &der) : -1;
    if (len > 0 && session_open(&j, &s) == 0 && lease(&s)) {
        struct acme_error err = {0};
        int rc = acme_revoke(s.client, der, (size_t)len, ACME_REVOKE_REASON, &err);
        if (rc == 0 || (rc == ACME_E_PROBLEM && strcmp(err.problem.type, "alreadyRevoked") == 0)) {
            store_acme_cert_set_revoked(app->store, c.cert_id, util_now_us());
            log_msg(LOG_INFO, "pack %s: certificate %s revoked upstream", c.pack_id, c.serial);
            out = JOB_DROP; /* done: the job is not needed any more */
        } else {
            char line[256];
            acme_error_format(&err, line, sizeof line);
            log_msg(LOG_WARN, "pack %s: revoking certificate %s failed (will retry): %s", c.pack_id,
                    c.serial, line);
        }
        session_close(&s);
    } else if (len > 0) {
        session_close(&s);
    }
    OPENSSL_free(der);
    X509_free(leaf);
    store_pack_clear(&p);
    store_acme_cert_clear(&c);
    return out;
}
