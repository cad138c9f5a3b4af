/* API Shield mTLS client certificates (seed 003, SPEC §4.8): CSRs signed by the
 * account's managed client CA; revocation and reactivation are asynchronous (the worker
 * finishes them), as on Cloudflare. */
#include "api/api.h"

#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "http/input.h"
#include "pki/client_ca.h"
#include "pki/local_ca.h"
#include "worker/worker.h"

#define VALIDITY_DEFAULT 3650
#define VALIDITY_MAX 3650

static const char *const list_statuses[] = {
    "all", "active", "pending_reactivation", "pending_revocation", "revoked", NULL};

/* A text member; NULL (an absent or non-UTF-8 value) fails the whole answer as json_pack
 * did. */
static int set_text(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new_nocheck(obj, key, value ? json_string(value) : NULL);
}

/* The API's certificate object, members in Cloudflare's order, set one by one (json_pack
 * parsed its format string for every certificate). NULL when a value is not text. */
static json_t *cert_json(const struct store_client_cert *c, const char *ca_name)
{
    json_t *obj = json_object(), *ca = json_object();
    int bad = !obj || !ca;
    bad |= set_text(ca, "id", c->ca_id);
    bad |= set_text(ca, "name", ca_name);
    bad |= set_text(obj, "id", c->id);
    bad |= set_text(obj, "certificate", c->certificate);
    bad |= json_object_set_new_nocheck(obj, "certificate_authority", ca);
    ca = NULL;
    bad |= set_text(obj, "common_name", c->common_name);
    bad |= set_text(obj, "country", c->country);
    bad |= set_text(obj, "csr", c->csr);
    bad |= json_object_set_new_nocheck(obj, "expires_on", api_time(c->expires_on));
    bad |= set_text(obj, "fingerprint_sha256", c->fingerprint);
    bad |= json_object_set_new_nocheck(obj, "issued_on", api_time(c->issued_on));
    bad |= set_text(obj, "location", c->location);
    bad |= set_text(obj, "organization", c->organization);
    bad |= set_text(obj, "organizational_unit", c->organizational_unit);
    bad |= set_text(obj, "serial_number", c->serial);
    bad |= set_text(obj, "signature", c->signature);
    bad |= set_text(obj, "ski", c->ski);
    bad |= set_text(obj, "state", c->state);
    bad |= set_text(obj, "status", store_cert_status_name(c->status));
    bad |= json_object_set_new_nocheck(obj, "validity_days", json_integer(c->validity_days));
    if (bad) {
        json_decref(ca);
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Answers with one certificate object (NULL: a null result, as before). Rendered into a
 * buffer on the stack and handed over as text, as packs are: jansson's growing buffer and
 * the envelope's second walk over the tree cost more than the rendering itself. */
static void answer(struct request *req, json_t *obj)
{
    char buf[8192];
    size_t n = obj ? json_dumpb(obj, buf, sizeof buf, JSON_COMPACT) : 0;
    if (n == 0 || n >= sizeof buf) {
        request_ok(req, obj);
        return;
    }
    char *text = xmalloc(n + 1);
    memcpy(text, buf, n);
    text[n] = '\0';
    json_decref(obj);
    request_ok_text(req, text, n);
}

/* Fills the certificate's record from the CSR and the leaf issued for it (whose PEM the
 * record takes over). */
static void describe(struct store_client_cert *rec, const struct pki_csr *csr,
                     struct pki_leaf *leaf, const char *csr_pem, int validity_days,
                     const char *zone_id, const char *ca_id, int64_t now)
{
    struct pki_subject subject;
    pki_subject_fields(pki_csr_subject(csr), &subject);
    memset(rec, 0, sizeof *rec);
    util_random_id(rec->id);
    snprintf(rec->zone_id, sizeof rec->zone_id, "%s", zone_id);
    snprintf(rec->ca_id, sizeof rec->ca_id, "%s", ca_id);
    rec->status = STORE_CERT_ACTIVE;
    snprintf(rec->serial, sizeof rec->serial, "%s", leaf->serial);
    snprintf(rec->ski, sizeof rec->ski, "%s", leaf->ski);
    snprintf(rec->signature, sizeof rec->signature, "%s", leaf->signature);
    memcpy(rec->common_name, subject.common_name, sizeof rec->common_name);
    memcpy(rec->country, subject.country, sizeof rec->country);
    memcpy(rec->state, subject.state, sizeof rec->state);
    memcpy(rec->location, subject.locality, sizeof rec->location);
    memcpy(rec->organization, subject.organization, sizeof rec->organization);
    memcpy(rec->organizational_unit, subject.organizational_unit, sizeof rec->organizational_unit);
    rec->csr = xstrdup(csr_pem);
    rec->certificate = leaf->pem;
    leaf->pem = NULL;
    memcpy(rec->fingerprint, leaf->fingerprint, sizeof rec->fingerprint);
    rec->validity_days = validity_days;
    rec->issued_on = leaf->not_before_us;
    rec->expires_on = leaf->not_after_us;
    rec->created_on = rec->modified_on = now;
}

static int decode_create(struct request *req, json_t *body, const char **csr, int *validity)
{
    long long days = VALIDITY_DEFAULT;
    if (input_string(req, body, "csr", "csr", INPUT_REQUIRED, csr) < 0 ||
        input_int(req, body, "validity_days", "validity_days", INPUT_OPTIONAL, 1, VALIDITY_MAX,
                  &days) < 0)
        return -1;
    *validity = (int)days;
    return 0;
}

/* Signs the CSR with the account's CA into *rec; 0 or -1 (recorded). */
static int sign(struct request *req, const struct store_zone *zone, const struct pki_csr *csr,
                const char *csr_pem, int validity, struct store_client_cert *rec,
                struct store_client_ca *ca)
{
    int64_t now = util_now_us();
    struct pki_leaf leaf;
    int rc = client_ca_ensure_signer(req->app, zone->account_id, ca);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "client CA");
        return -1;
    }
    if (client_ca_sign_leaf(req->app, ca, csr, validity, now, &leaf) < 0) {
        request_fail(req, API_E_INTERNAL, NULL);
        return -1;
    }
    describe(rec, csr, &leaf, csr_pem, validity, zone->id, ca->id, now);
    pki_leaf_clear(&leaf);
    return 0;
}

/* A signed certificate's write, handed to the group commit with its answer ready. */
struct cert_write {
    struct request *req;
    struct store_client_cert rec;
};

/* On the thread that committed the write: a failure replaces the answer, then the answer
 * goes (request_finish; nothing touches req after it). */
static void cert_written(void *ctx, int rc)
{
    struct cert_write *w = ctx;
    struct request *req = w->req;
    if (rc != STORE_OK)
        api_store_failed(req, rc, "client certificate create");
    store_client_cert_clear(&w->rec);
    xfree(w);
    request_finish(req);
}

/* Stores the certificate and answers with it, acknowledged only once it is durable. The
 * answer is rendered before the commit, and where the server allows it the write is handed
 * over: the committing thread sends the answer, so this thread does not sleep through the
 * commit and no thread has to be woken to answer. Takes over *rec's heap fields either
 * way; nothing may touch req after this returns. */
static void store_and_answer(struct request *req, struct store_client_cert *rec,
                             const char *ca_name)
{
    answer(req, cert_json(rec, ca_name));
    if (request_defer(req)) {
        struct cert_write *w = xmalloc(sizeof *w);
        w->req = req;
        w->rec = *rec;
        memset(rec, 0, sizeof *rec);
        store_client_cert_create_async(req->app->store, &w->rec, cert_written, w);
        return;
    }
    int rc = store_client_cert_create(req->app->store, rec);
    if (rc != STORE_OK)
        api_store_failed(req, rc, "client certificate create");
    store_client_cert_clear(rec);
}

void client_certificates_create(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL;
    const char *csr_pem = NULL, *why = NULL;
    int validity = VALIDITY_DEFAULT;
    struct pki_csr *csr = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0 ||
        decode_create(req, body, &csr_pem, &validity) < 0)
        goto out;
    if (pki_csr_parse(csr_pem, strlen(csr_pem), &csr, &why) < 0) {
        request_fail(req, API_E_INVALID, "%s", why);
        goto out;
    }
    struct store_client_cert rec = {0};
    struct store_client_ca ca = {0};
    if (sign(req, &zone, csr, csr_pem, validity, &rec, &ca) == 0)
        store_and_answer(req, &rec, ca.name); /* the last use of req */
    store_client_cert_clear(&rec);
    store_client_ca_clear(&ca);
out:
    pki_csr_free(csr);
    json_decref(body);
}

void client_certificates_list(struct request *req)
{
    struct store_zone zone;
    struct window w;
    const char *status = NULL;
    enum store_cert_status wanted;
    if (api_visible_zone(req, &zone) < 0 || input_window(req, &w) < 0 ||
        input_query_enum(req, "status", list_statuses, &status) < 0)
        return;
    /* "all" (or no status) is no filter; every other accepted name is a status. */
    bool filtered = status && store_cert_status_parse(status, &wanted) == 0;
    struct store_client_cert_filter f = {.zone_id = zone.id,
                                         .status = filtered ? &wanted : NULL,
                                         .offset = w.offset,
                                         .limit = w.limit};
    struct store_client_cert *certs = NULL;
    int count = 0, total = 0;
    int rc = store_client_cert_list(req->app->store, &f, &certs, &count, &total);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "client certificate list");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(items, cert_json(&certs[i], CLIENT_CA_NAME));
    store_client_cert_list_free(certs, count);
    request_list(req, items, input_result_info(&w.paging, count, total));
}

/* Loads the certificate named by the route's second parameter in a visible zone. */
static int visible_cert(struct request *req, struct store_zone *zone,
                        struct store_client_cert *cert)
{
    if (api_visible_zone(req, zone) < 0)
        return -1;
    const char *id = req->params[1];
    int rc = util_is_id(id) ? store_client_cert_get(req->app->store, zone->id, id, cert)
                            : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND)
        request_fail(req, API_E_NOT_FOUND, "Client certificate %.64s not found", id);
    else if (rc != STORE_OK)
        api_store_failed(req, rc, "client certificate get");
    return rc == STORE_OK ? 0 : -1;
}

void client_certificates_get(struct request *req)
{
    struct store_zone zone;
    struct store_client_cert cert;
    if (visible_cert(req, &zone, &cert) < 0)
        return;
    answer(req, cert_json(&cert, CLIENT_CA_NAME));
    store_client_cert_clear(&cert);
}

/* Starts an asynchronous transition from → to, finished by a `job` job. */
static void transition(struct request *req, enum store_cert_status from, enum store_cert_status to,
                       enum store_job_kind job, const char *verb)
{
    struct store_zone zone;
    struct store_client_cert cert;
    if (visible_cert(req, &zone, &cert) < 0)
        return;
    char id[STORE_ID_SIZE];
    memcpy(id, cert.id, sizeof id);
    store_client_cert_clear(&cert);
    int rc = store_client_cert_request(req->app->store, zone.id, id, from, to, job, util_now_us(),
                                       &cert);
    if (rc == STORE_OK) {
        worker_wake(req->app->worker);
        answer(req, cert_json(&cert, CLIENT_CA_NAME));
    } else if (rc == STORE_CONFLICT) {
        request_fail(req, API_E_BAD_STATUS,
                     "Client certificate %s is %s: only certificates in status %s can be %s", id,
                     store_cert_status_name(cert.status), store_cert_status_name(from), verb);
    } else if (rc == STORE_NOT_FOUND) {
        request_fail(req, API_E_NOT_FOUND, "Client certificate %s not found", id);
    } else {
        api_store_failed(req, rc, "client certificate transition");
    }
    store_client_cert_clear(&cert);
}

void client_certificates_delete(struct request *req)
{
    transition(req, STORE_CERT_ACTIVE, STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
               "revoked");
}

void client_certificates_reactivate(struct request *req)
{
    json_t *body;
    bool reactivate = true;
    struct store_zone zone;
    struct store_client_cert cert;
    /* The certificate first: an unknown one is a 404 whatever the body says. */
    if (visible_cert(req, &zone, &cert) < 0)
        return;
    store_client_cert_clear(&cert);
    if (input_json_object(req, true, &body) < 0)
        return;
    int rc = input_bool(req, body, "reactivate", "reactivate", INPUT_OPTIONAL, &reactivate);
    json_decref(body);
    if (rc < 0)
        return;
    if (!reactivate) {
        request_fail(req, API_E_INVALID, "reactivate: only true is supported (or leave it out)");
        return;
    }
    transition(req, STORE_CERT_PENDING_REVOCATION, STORE_CERT_PENDING_REACTIVATION,
               STORE_JOB_CERT_REACTIVATE, "reactivated");
}

/* The CA of the account named by the route's first parameter, for publication. */
static int published_ca(struct request *req, struct store_client_ca *ca)
{
    const char *account_id = req->params[0];
    int rc = util_is_id(account_id) ? store_client_ca_by_account(req->app->store, account_id, ca)
                                    : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND)
        request_fail(req, API_E_NOT_FOUND, "No client CA for account %.64s", account_id);
    else if (rc != STORE_OK)
        api_store_failed(req, rc, "client CA get");
    return rc == STORE_OK ? 0 : -1;
}

/* The built-in CA's root, published under every account (SPEC §5) so clients can trust
 * what packs are issued from. */
void pki_local_ca_pem(struct request *req)
{
    struct store_account account;
    const char *account_id = req->params[0];
    int rc = util_is_id(account_id) ? store_account_get(req->app->store, account_id, &account)
                                    : STORE_NOT_FOUND;
    if (rc != STORE_OK) {
        if (rc == STORE_NOT_FOUND)
            request_fail(req, API_E_NOT_FOUND, "Account %.64s not found", account_id);
        else
            api_store_failed(req, rc, "account get");
        return;
    }
    char *pem = xstrdup(local_ca_root_pem(req->app->local_ca));
    request_raw(req, 200, "application/x-pem-file", pem, strlen(pem));
}

/* The built-in CA's intermediate in DER, where issued pack certificates point relying
 * parties (authorityInfoAccess caIssuers) when --public-url is set. */
void pki_local_ca_intermediate(struct request *req)
{
    const char *pem = local_ca_intermediate_pem(req->app->local_ca);
    X509 *cert = pki_cert_from_pem(pem, strlen(pem));
    unsigned char *der = NULL;
    int len = cert ? i2d_X509(cert, &der) : -1;
    X509_free(cert);
    if (len <= 0) {
        api_store_failed(req, STORE_ERROR, "intermediate certificate encoding");
        return;
    }
    char *body = xmalloc((size_t)len);
    memcpy(body, der, (size_t)len);
    OPENSSL_free(der);
    request_raw(req, 200, "application/pkix-cert", body, (size_t)len);
}

void pki_client_ca_pem(struct request *req)
{
    struct store_client_ca ca;
    if (published_ca(req, &ca) < 0)
        return;
    request_raw(req, 200, "application/x-pem-file", ca.cert_pem, strlen(ca.cert_pem));
    ca.cert_pem = NULL; /* now owned by the request */
    store_client_ca_clear(&ca);
}

void pki_client_ca_crl(struct request *req)
{
    struct store_client_ca ca;
    if (published_ca(req, &ca) < 0)
        return;
    request_raw(req, 200, "application/pkix-crl", (char *)ca.crl_der, ca.crl_len);
    ca.crl_der = NULL;
    store_client_ca_clear(&ca);
}
