/* The ACME client's conversation with the server (RFC 8555): one libcurl easy handle per
 * client, the directory, Replay-Nonce bookkeeping, signed POSTs with the badNonce retry,
 * accounts (with EAB), orders, authorizations, challenges, certificates and revocation.
 *
 * Nonces: every response may carry a Replay-Nonce; the client keeps the latest one and
 * spends it on the next POST (a nonce is good for one request), asking newNonce only when
 * it has none. A badNonce answer carries a fresh nonce, so the retry uses it at once.
 *
 * Everything here blocks on the network; see acme.h for the threading rule. */
#include <curl/curl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "acme/acme_internal.h"
#include "common/alloc.h"
#include "common/util.h"

#define NONCE_MAX 256
#define NAMES_MAX 100
#define CHALLENGES_MAX 16

struct acme_client {
    char *directory_url;
    char *ca_file;
    long timeout_ms;
    char *user_agent;
    acme_metrics_fn metrics;
    void *metrics_ctx;
    EVP_PKEY *key;
    char thumbprint[44];
    CURL *curl;
    bool have_directory;
    struct acme_directory dir;
    char *nonce;
    char *account_url;
};

/* ------------------------------------------------------------------ HTTP ---- */

void acme__resp_free(struct acme__resp *r)
{
    xfree(r->body);
    xfree(r->location);
    for (size_t i = 0; i < r->n_links; i++)
        xfree(r->links[i]);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct acme__resp *r = ctx;
    size_t n = size * nmemb;
    if (n > ACME__BODY_MAX - r->len)
        return 0; /* too large: curl stops with CURLE_WRITE_ERROR */
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->body = xrealloc(r->body, r->cap);
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* The latest value of a response header, or NULL (from curl's own header store). */
static const char *header(CURL *curl, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    /* index 0 is the first of several; take the last one sent */
    if (h->amount > 1)
        curl_easy_header(curl, name, h->amount - 1, CURLH_HEADER, -1, &h);
    return h->value;
}

/* A nonce is base64url, non-empty and bounded (RFC 8555 §6.5.1). */
static bool nonce_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NONCE_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static void read_headers(struct acme_client *c, struct acme__resp *r)
{
    const char *nonce = header(c->curl, "Replay-Nonce");
    if (nonce_ok(nonce)) {
        xfree(c->nonce);
        c->nonce = xstrdup(nonce);
    }
    const char *loc = header(c->curl, "Location");
    if (loc && strlen(loc) <= 2048)
        r->location = xstrdup(loc);
    const char *ra = header(c->curl, "Retry-After");
    if (ra)
        acme_retry_after_parse(ra, util_now_us(), &r->retry_after_us);
    struct curl_header *h = NULL;
    const char *values[ACME__LINKS_MAX * 2];
    size_t n = 0;
    if (curl_easy_header(c->curl, "Link", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
        size_t amount = h->amount;
        for (size_t i = 0; i < amount && n < sizeof values / sizeof values[0]; i++) {
            if (curl_easy_header(c->curl, "Link", i, CURLH_HEADER, -1, &h) == CURLHE_OK)
                values[n++] = h->value;
        }
    }
    r->n_links = acme_link_alternates(values, n, r->links, ACME__LINKS_MAX);
}

enum method { M_GET, M_HEAD, M_POST };

/* One HTTP exchange. 0 for a 2xx; otherwise err says why (with the problem document). */
static int http(struct acme_client *c, enum acme_endpoint ep, enum method m, const char *url,
                const char *body, const char *accept, struct acme__resp *r, struct acme_error *err)
{
    memset(r, 0, sizeof *r);
    memset(err, 0, sizeof *err);
    CURL *h = c->curl;
    curl_easy_reset(h);
    struct curl_slist *hdrs = NULL;
    char accept_hdr[96];
    snprintf(accept_hdr, sizeof accept_hdr, "Accept: %s", accept ? accept : "application/json");
    hdrs = curl_slist_append(hdrs, accept_hdr);
    if (m == M_POST)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (m == M_HEAD)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (m == M_POST) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    int64_t t0 = util_mono_us();
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (c->metrics)
        c->metrics(c->metrics_ctx, ep, cc == CURLE_OK ? (int)r->status : 0, util_mono_us() - t0);
    if (cc != CURLE_OK) {
        acme__fail(err, cc == CURLE_WRITE_ERROR ? ACME_E_PROTOCOL : ACME_E_TRANSPORT, "%s",
                   cc == CURLE_WRITE_ERROR ? "response too large" : curl_easy_strerror(cc));
        err->endpoint = acme_endpoint_name(ep);
        return err->code;
    }
    read_headers(c, r);
    if (r->status >= 200 && r->status < 300)
        return 0;
    acme_problem_parse(r->body, r->len, (int)r->status, err);
    err->retry_after_us = r->retry_after_us;
    err->endpoint = acme_endpoint_name(ep);
    return err->code;
}

int acme__get(struct acme_client *c, enum acme_endpoint ep, const char *url,
              struct acme__resp *resp, struct acme_error *err)
{
    return http(c, ep, M_GET, url, NULL, NULL, resp, err);
}

/* The body as a JSON object, or ACME_E_PROTOCOL. */
static int body_json(const struct acme__resp *r, json_t **out, struct acme_error *err,
                     enum acme_endpoint ep)
{
    *out = r->len ? json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (json_is_object(*out))
        return 0;
    json_decref(*out);
    *out = NULL;
    err->endpoint = acme_endpoint_name(ep);
    return acme__fail(err, ACME_E_PROTOCOL, "the answer is not a JSON object");
}

/* ------------------------------------------------------------- directory ---- */

static void directory_free(struct acme_directory *d)
{
    xfree(d->new_nonce);
    xfree(d->new_account);
    xfree(d->new_order);
    xfree(d->revoke_cert);
    xfree(d->key_change);
    xfree(d->renewal_info);
    xfree(d->terms_of_service);
    memset(d, 0, sizeof *d);
}

int acme_client_directory(struct acme_client *c, const struct acme_directory **dir,
                          struct acme_error *err)
{
    memset(err, 0, sizeof *err);
    if (!c->have_directory) {
        struct acme__resp r;
        json_t *doc = NULL;
        int rc = acme__get(c, ACME_EP_DIRECTORY, c->directory_url, &r, err);
        if (rc == 0)
            rc = body_json(&r, &doc, err, ACME_EP_DIRECTORY);
        acme__resp_free(&r);
        if (rc)
            return rc;
        struct acme_directory *d = &c->dir;
        d->new_nonce = acme__url_member(doc, "newNonce");
        d->new_account = acme__url_member(doc, "newAccount");
        d->new_order = acme__url_member(doc, "newOrder");
        d->revoke_cert = acme__url_member(doc, "revokeCert");
        d->key_change = acme__url_member(doc, "keyChange");
        d->renewal_info = acme__url_member(doc, "renewalInfo");
        json_t *meta = json_object_get(doc, "meta");
        d->terms_of_service = acme__url_member(meta, "termsOfService");
        d->external_account_required =
            json_is_true(json_object_get(meta, "externalAccountRequired"));
        json_decref(doc);
        if (!d->new_nonce || !d->new_account || !d->new_order || !d->revoke_cert) {
            directory_free(d);
            err->endpoint = acme_endpoint_name(ACME_EP_DIRECTORY);
            return acme__fail(err, ACME_E_PROTOCOL, "the directory lacks a required URL");
        }
        c->have_directory = true;
    }
    if (dir)
        *dir = &c->dir;
    return 0;
}

/* ---------------------------------------------------------------- client ---- */

struct acme_client *acme_client_create(const struct acme_client_options *opts, EVP_PKEY *key,
                                       struct acme_error *err)
{
    memset(err, 0, sizeof *err);
    char thumb[44];
    if (!opts || !opts->directory_url ||
        (strncmp(opts->directory_url, "https://", 8) != 0 &&
         strncmp(opts->directory_url, "http://", 7) != 0)) {
        acme__fail(err, ACME_E_INVALID, "the directory URL must be http(s)");
        return NULL;
    }
    if (!key || acme_jwk_thumbprint(key, thumb) != 0 || !EVP_PKEY_is_a(key, "EC")) {
        acme__fail(err, ACME_E_INVALID, "the account key must be ECDSA P-256");
        return NULL;
    }
    if (opts->ca_file && access(opts->ca_file, R_OK) != 0) {
        acme__fail(err, ACME_E_INVALID, "cannot read the ACME CA file");
        return NULL;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        acme__fail(err, ACME_E_TRANSPORT, "curl_easy_init failed");
        return NULL;
    }
    struct acme_client *c = xcalloc(1, sizeof *c);
    c->curl = curl;
    c->directory_url = xstrdup(opts->directory_url);
    c->ca_file = opts->ca_file ? xstrdup(opts->ca_file) : NULL;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    c->user_agent = xstrdup(opts->user_agent ? opts->user_agent : "tlsward/" TLSWARD_VERSION);
    c->metrics = opts->metrics;
    c->metrics_ctx = opts->metrics_ctx;
    EVP_PKEY_up_ref(key);
    c->key = key;
    memcpy(c->thumbprint, thumb, sizeof thumb);
    return c;
}

void acme_client_destroy(struct acme_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    directory_free(&c->dir);
    EVP_PKEY_free(c->key);
    xfree(c->directory_url);
    xfree(c->ca_file);
    xfree(c->user_agent);
    xfree(c->nonce);
    xfree(c->account_url);
    xfree(c);
}

void acme_client_set_account(struct acme_client *c, const char *account_url)
{
    xfree(c->account_url);
    c->account_url = account_url ? xstrdup(account_url) : NULL;
}

const char *acme_client_account(const struct acme_client *c)
{
    return c->account_url;
}

char *acme_key_authorization(const struct acme_client *c, const char *token)
{
    return acme__key_authorization(c->thumbprint, token);
}

int acme_dns01_value(const struct acme_client *c, const char *token, char out[44])
{
    char *ka = acme_key_authorization(c, token);
    if (!ka)
        return -1;
    int rc = acme__dns01_value(ka, out);
    OPENSSL_cleanse(ka, strlen(ka));
    xfree(ka);
    return rc;
}

/* --------------------------------------------------------- signed POSTs ---- */

static int fresh_nonce(struct acme_client *c, struct acme_error *err)
{
    if (c->nonce)
        return 0;
    struct acme__resp r;
    int rc = http(c, ACME_EP_NEW_NONCE, M_HEAD, c->dir.new_nonce, NULL, NULL, &r, err);
    acme__resp_free(&r);
    if (rc == 0 && !c->nonce) {
        err->endpoint = acme_endpoint_name(ACME_EP_NEW_NONCE);
        return acme__fail(err, ACME_E_PROTOCOL, "newNonce sent no Replay-Nonce");
    }
    return rc;
}

/* A JWS POST (payload NULL: POST-as-GET), signed with the jwk when use_jwk, else with the
 * account URL as kid. badNonce is retried with the nonce that came with it. */
static int post(struct acme_client *c, enum acme_endpoint ep, const char *url, const char *payload,
                bool use_jwk, const char *accept, struct acme__resp *r, struct acme_error *err)
{
    memset(r, 0, sizeof *r);
    int rc = acme_client_directory(c, NULL, err);
    if (rc)
        return rc;
    if (!use_jwk && !c->account_url)
        return acme__fail(err, ACME_E_INVALID, "no account URL (register first)");
    for (int attempt = 0;; attempt++) {
        rc = fresh_nonce(c, err);
        if (rc)
            return rc;
        char *nonce = c->nonce;
        c->nonce = NULL; /* spent, whatever happens */
        char *jws = acme_jws_sign(c->key, use_jwk ? NULL : c->account_url, nonce, url, payload);
        xfree(nonce);
        if (!jws)
            return acme__fail(err, ACME_E_INVALID, "could not sign the request");
        rc = http(c, ep, M_POST, url, jws, accept, r, err);
        xfree(jws);
        if (rc != ACME_E_BAD_NONCE || attempt >= ACME_BADNONCE_RETRIES)
            return rc;
        acme__resp_free(r);
    }
}

/* POST and parse the JSON answer. */
static int post_json(struct acme_client *c, enum acme_endpoint ep, const char *url,
                     const char *payload, bool use_jwk, struct acme__resp *r, json_t **doc,
                     struct acme_error *err)
{
    *doc = NULL;
    int rc = post(c, ep, url, payload, use_jwk, NULL, r, err);
    if (rc == 0)
        rc = body_json(r, doc, err, ep);
    return rc;
}

static char *dumps(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return s;
}

/* --------------------------------------------------------------- account ---- */

int acme_account_register(struct acme_client *c, const struct acme_account_options *o,
                          char **url_out, struct acme_error *err)
{
    const struct acme_directory *d;
    int rc = acme_client_directory(c, &d, err);
    if (rc)
        return rc;
    json_t *req = json_object();
    if (o->terms_agreed)
        json_object_set_new(req, "termsOfServiceAgreed", json_true());
    if (o->only_existing)
        json_object_set_new(req, "onlyReturnExisting", json_true());
    if (o->contact) {
        if (strncmp(o->contact, "mailto:", 7) != 0 || strlen(o->contact) > 320 ||
            strpbrk(o->contact, ", \r\n")) {
            json_decref(req);
            return acme__fail(err, ACME_E_INVALID, "contact must be one mailto: address");
        }
        json_object_set_new(req, "contact", json_pack("[s]", o->contact));
    }
    if (o->eab_kid) {
        unsigned char *mac = NULL;
        size_t mac_len = 0;
        if (!o->eab_hmac || acme_b64url_decode(o->eab_hmac, &mac, &mac_len) != 0 || mac_len == 0) {
            xfree(mac);
            json_decref(req);
            return acme__fail(err, ACME_E_INVALID, "the EAB MAC key is not base64url");
        }
        json_t *eab = acme_eab_jws(c->key, o->eab_kid, mac, mac_len, d->new_account);
        OPENSSL_cleanse(mac, mac_len);
        xfree(mac);
        if (!eab) {
            json_decref(req);
            return acme__fail(err, ACME_E_INVALID, "could not build the EAB binding");
        }
        json_object_set_new(req, "externalAccountBinding", eab);
    }
    char *payload = dumps(req);
    struct acme__resp r;
    rc = post(c, ACME_EP_NEW_ACCOUNT, d->new_account, payload, true, NULL, &r, err);
    xfree(payload);
    if (rc == 0 && !r.location) {
        err->endpoint = acme_endpoint_name(ACME_EP_NEW_ACCOUNT);
        rc = acme__fail(err, ACME_E_PROTOCOL, "newAccount sent no Location");
    }
    if (rc == 0) {
        acme_client_set_account(c, r.location);
        if (url_out)
            *url_out = xstrdup(r.location);
    }
    acme__resp_free(&r);
    return rc;
}

/* ---------------------------------------------------------------- orders ---- */

static void problem_member(json_t *obj, bool *has, struct acme_problem *p)
{
    json_t *e = json_object_get(obj, "error");
    *has = json_is_object(e);
    if (*has)
        acme__problem_from_json(e, 0, p);
}

static int64_t time_member(json_t *obj, const char *name)
{
    int64_t us = 0;
    const char *s = json_string_value(json_object_get(obj, name));
    if (s && util_parse_time(s, &us) != 0)
        us = 0;
    return us;
}

void acme_order_free(struct acme_order *o)
{
    xfree(o->url);
    for (size_t i = 0; i < o->n_names; i++)
        xfree(o->names[i]);
    xfree(o->names);
    for (size_t i = 0; i < o->n_authz; i++)
        xfree(o->authz_urls[i]);
    xfree(o->authz_urls);
    xfree(o->finalize_url);
    xfree(o->certificate_url);
    memset(o, 0, sizeof *o);
}

static int order_from_json(json_t *doc, const char *url, struct acme_order *o,
                           struct acme_error *err)
{
    memset(o, 0, sizeof *o);
    o->url = xstrdup(url);
    o->status = acme_status_parse(json_string_value(json_object_get(doc, "status")));
    o->expires_us = time_member(doc, "expires");
    json_t *ids = json_object_get(doc, "identifiers");
    json_t *authz = json_object_get(doc, "authorizations");
    o->finalize_url = acme__url_member(doc, "finalize");
    o->certificate_url = acme__url_member(doc, "certificate");
    problem_member(doc, &o->has_error, &o->error);
    if (o->status == ACME_ST_UNKNOWN || !json_is_array(authz) || !o->finalize_url ||
        json_array_size(authz) > NAMES_MAX || json_array_size(ids) > NAMES_MAX)
        goto bad;
    o->names = xcalloc(json_array_size(ids) + 1, sizeof *o->names);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *s = json_string_value(json_object_get(v, "value"));
        if (!s || strlen(s) > 255)
            goto bad;
        o->names[o->n_names++] = xstrdup(s);
    }
    o->authz_urls = xcalloc(json_array_size(authz) + 1, sizeof *o->authz_urls);
    json_array_foreach(authz, i, v)
    {
        json_t *wrap = json_pack("{s:O}", "u", v);
        char *u = acme__url_member(wrap, "u");
        json_decref(wrap);
        if (!u)
            goto bad;
        o->authz_urls[o->n_authz++] = u;
    }
    return 0;
bad:
    acme_order_free(o);
    err->endpoint = acme_endpoint_name(ACME_EP_ORDER);
    return acme__fail(err, ACME_E_PROTOCOL, "the order object is malformed");
}

/* A dns name we may put in an order: [*.]labels of letters, digits, '-' and '.'. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    return n > 0 && n <= 253 && *p &&
           strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-.") == strlen(p);
}

int acme_order_new(struct acme_client *c, const char *const *names, size_t n,
                   struct acme_order *out, struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    const struct acme_directory *d;
    int rc = acme_client_directory(c, &d, err);
    if (rc)
        return rc;
    if (n == 0 || n > NAMES_MAX)
        return acme__fail(err, ACME_E_INVALID, "an order needs 1 to %d names", NAMES_MAX);
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !name_ok(names[i])) {
            json_decref(ids);
            return acme__fail(err, ACME_E_INVALID, "not a dns name for an order");
        }
        json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value", names[i]));
    }
    char *payload = dumps(json_pack("{s:o}", "identifiers", ids));
    struct acme__resp r;
    json_t *doc;
    rc = post_json(c, ACME_EP_NEW_ORDER, d->new_order, payload, false, &r, &doc, err);
    xfree(payload);
    if (rc == 0 && !r.location) {
        err->endpoint = acme_endpoint_name(ACME_EP_NEW_ORDER);
        rc = acme__fail(err, ACME_E_PROTOCOL, "newOrder sent no Location");
    }
    if (rc == 0) {
        rc = order_from_json(doc, r.location, out, err);
        out->retry_after_us = r.retry_after_us;
    }
    json_decref(doc);
    acme__resp_free(&r);
    return rc;
}

int acme_order_get(struct acme_client *c, const char *url, struct acme_order *out,
                   struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    struct acme__resp r;
    json_t *doc;
    int rc = post_json(c, ACME_EP_ORDER, url, NULL, false, &r, &doc, err);
    if (rc == 0) {
        rc = order_from_json(doc, url, out, err);
        out->retry_after_us = r.retry_after_us;
    }
    json_decref(doc);
    acme__resp_free(&r);
    return rc;
}

int acme_order_finalize(struct acme_client *c, const struct acme_order *order,
                        const unsigned char *csr_der, size_t csr_len, struct acme_order *out,
                        struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    if (!order->finalize_url || !csr_der || csr_len == 0 || csr_len > 16384)
        return acme__fail(err, ACME_E_INVALID, "finalize needs an order and a DER CSR");
    char *csr64 = acme_b64url(csr_der, csr_len);
    char *payload = dumps(json_pack("{s:s}", "csr", csr64));
    xfree(csr64);
    struct acme__resp r;
    json_t *doc;
    int rc = post_json(c, ACME_EP_FINALIZE, order->finalize_url, payload, false, &r, &doc, err);
    xfree(payload);
    if (rc == 0) {
        rc = order_from_json(doc, order->url, out, err);
        out->retry_after_us = r.retry_after_us;
    }
    json_decref(doc);
    acme__resp_free(&r);
    return rc;
}

/* How long to sleep before the next poll: the server's Retry-After when it sent one, else
 * 250 ms doubling to 2 s; never past the deadline. 0 when the deadline has passed. */
static int64_t poll_delay(int64_t retry_after_us, int round, int64_t deadline_mono)
{
    int64_t left = deadline_mono - util_mono_us();
    if (left <= 0)
        return 0;
    int64_t d = 250000LL << (round < 3 ? round : 3);
    if (retry_after_us)
        d = retry_after_us - util_now_us();
    if (d < 50000)
        d = 50000;
    return d < left ? d : left;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int acme_order_wait(struct acme_client *c, const char *url, enum acme_status want,
                    int64_t max_wait_us, struct acme_order *out, struct acme_error *err)
{
    int64_t deadline = util_mono_us() + max_wait_us;
    memset(out, 0, sizeof *out);
    for (int round = 0;; round++) {
        acme_order_free(out);
        int rc = acme_order_get(c, url, out, err);
        if (rc)
            return rc;
        if (out->status == want || (want == ACME_ST_READY && out->status == ACME_ST_VALID))
            return 0;
        if (out->status == ACME_ST_INVALID || out->status == ACME_ST_EXPIRED ||
            out->status == ACME_ST_DEACTIVATED) {
            memset(err, 0, sizeof *err);
            err->code = ACME_E_PROBLEM;
            err->endpoint = acme_endpoint_name(ACME_EP_ORDER);
            err->has_problem = out->has_error;
            err->problem = out->error;
            if (!out->has_error)
                acme__fail(err, ACME_E_PROBLEM, "the order is %s", acme_status_name(out->status));
            return ACME_E_PROBLEM;
        }
        int64_t d = poll_delay(out->retry_after_us, round, deadline);
        if (d == 0)
            return acme__fail(err, ACME_E_TIMEOUT, "the order is still %s",
                              acme_status_name(out->status));
        sleep_us(d);
    }
}

/* -------------------------------------------------------- authorizations ---- */

void acme_challenge_free(struct acme_challenge *ch)
{
    xfree(ch->type_name);
    xfree(ch->url);
    xfree(ch->token);
    memset(ch, 0, sizeof *ch);
}

void acme_authz_free(struct acme_authz *a)
{
    xfree(a->url);
    xfree(a->identifier);
    for (size_t i = 0; i < a->n_challenges; i++)
        acme_challenge_free(&a->challenges[i]);
    xfree(a->challenges);
    memset(a, 0, sizeof *a);
}

static const struct {
    const char *name;
    enum acme_challenge_type type;
} challenge_types[] = {
    {"http-01", ACME_CHALL_HTTP01},
    {"dns-01", ACME_CHALL_DNS01},
    {"tls-alpn-01", ACME_CHALL_TLSALPN01},
};

static int challenge_from_json(json_t *v, struct acme_challenge *ch)
{
    memset(ch, 0, sizeof *ch);
    const char *type = json_string_value(json_object_get(v, "type"));
    const char *token = json_string_value(json_object_get(v, "token"));
    ch->url = acme__url_member(v, "url");
    if (!type || strlen(type) > 64 || !ch->url || (token && strlen(token) > 256)) {
        acme_challenge_free(ch);
        return -1;
    }
    ch->type_name = xstrdup(type);
    for (size_t i = 0; i < sizeof challenge_types / sizeof challenge_types[0]; i++) {
        if (strcmp(type, challenge_types[i].name) == 0)
            ch->type = challenge_types[i].type;
    }
    ch->token = token ? xstrdup(token) : NULL;
    ch->status = acme_status_parse(json_string_value(json_object_get(v, "status")));
    problem_member(v, &ch->has_error, &ch->error);
    return 0;
}

static int authz_from_json(json_t *doc, const char *url, struct acme_authz *a,
                           struct acme_error *err)
{
    memset(a, 0, sizeof *a);
    a->url = xstrdup(url);
    json_t *id = json_object_get(doc, "identifier");
    const char *value = json_string_value(json_object_get(id, "value"));
    json_t *chs = json_object_get(doc, "challenges");
    a->status = acme_status_parse(json_string_value(json_object_get(doc, "status")));
    a->expires_us = time_member(doc, "expires");
    a->wildcard = json_is_true(json_object_get(doc, "wildcard"));
    if (!value || strlen(value) > 255 || a->status == ACME_ST_UNKNOWN || !json_is_array(chs) ||
        json_array_size(chs) > CHALLENGES_MAX)
        goto bad;
    a->identifier = xstrdup(value);
    a->challenges = xcalloc(json_array_size(chs) + 1, sizeof *a->challenges);
    size_t i;
    json_t *v;
    json_array_foreach(chs, i, v)
    {
        if (challenge_from_json(v, &a->challenges[a->n_challenges]) != 0)
            goto bad;
        a->n_challenges++;
    }
    return 0;
bad:
    acme_authz_free(a);
    err->endpoint = acme_endpoint_name(ACME_EP_AUTHZ);
    return acme__fail(err, ACME_E_PROTOCOL, "the authorization object is malformed");
}

int acme_authz_get(struct acme_client *c, const char *url, struct acme_authz *out,
                   struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    struct acme__resp r;
    json_t *doc;
    int rc = post_json(c, ACME_EP_AUTHZ, url, NULL, false, &r, &doc, err);
    if (rc == 0) {
        rc = authz_from_json(doc, url, out, err);
        out->retry_after_us = r.retry_after_us;
    }
    json_decref(doc);
    acme__resp_free(&r);
    return rc;
}

const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a,
                                                  enum acme_challenge_type type)
{
    for (size_t i = 0; i < a->n_challenges; i++) {
        if (a->challenges[i].type == type)
            return &a->challenges[i];
    }
    return NULL;
}

int acme_challenge_answer(struct acme_client *c, const char *url, struct acme_challenge *out,
                          struct acme_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    struct acme__resp r;
    json_t *doc;
    int rc = post_json(c, ACME_EP_CHALLENGE, url, "{}", false, &r, &doc, err);
    if (rc == 0 && out && challenge_from_json(doc, out) != 0) {
        err->endpoint = acme_endpoint_name(ACME_EP_CHALLENGE);
        rc = acme__fail(err, ACME_E_PROTOCOL, "the challenge object is malformed");
    }
    json_decref(doc);
    acme__resp_free(&r);
    return rc;
}

int acme_authz_wait(struct acme_client *c, const char *url, int64_t max_wait_us,
                    struct acme_authz *out, struct acme_error *err)
{
    int64_t deadline = util_mono_us() + max_wait_us;
    memset(out, 0, sizeof *out);
    for (int round = 0;; round++) {
        acme_authz_free(out);
        int rc = acme_authz_get(c, url, out, err);
        if (rc)
            return rc;
        if (out->status == ACME_ST_VALID)
            return 0;
        if (out->status != ACME_ST_PENDING) {
            memset(err, 0, sizeof *err);
            err->endpoint = acme_endpoint_name(ACME_EP_AUTHZ);
            for (size_t i = 0; i < out->n_challenges && !err->has_problem; i++) {
                if (out->challenges[i].has_error) {
                    err->has_problem = true;
                    err->problem = out->challenges[i].error;
                }
            }
            if (!err->has_problem)
                acme__fail(err, ACME_E_PROBLEM, "the authorization for %s is %s", out->identifier,
                           acme_status_name(out->status));
            err->code = ACME_E_PROBLEM;
            return ACME_E_PROBLEM;
        }
        int64_t d = poll_delay(out->retry_after_us, round, deadline);
        if (d == 0)
            return acme__fail(err, ACME_E_TIMEOUT, "the authorization is still pending");
        sleep_us(d);
    }
}

/* ----------------------------------------------------------- certificates ---- */

void acme_chains_free(struct acme_chains *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        xfree(ch->pem[i]);
    xfree(ch->pem);
    memset(ch, 0, sizeof *ch);
}

/* POST-as-GET of one chain: its PEM in *pem, and its alternates in r->links. */
static int get_chain(struct acme_client *c, const char *url, char **pem, struct acme__resp *r,
                     struct acme_error *err)
{
    int rc =
        post(c, ACME_EP_CERTIFICATE, url, NULL, false, "application/pem-certificate-chain", r, err);
    if (rc == 0 && (!r->body || !strstr(r->body, "-----BEGIN CERTIFICATE-----"))) {
        err->endpoint = acme_endpoint_name(ACME_EP_CERTIFICATE);
        rc = acme__fail(err, ACME_E_PROTOCOL, "the certificate answer is not a PEM chain");
    }
    if (rc == 0)
        *pem = xstrdup(r->body);
    return rc;
}

int acme_cert_download(struct acme_client *c, const char *cert_url, bool with_alternates,
                       struct acme_chains *out, struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    out->pem = xcalloc(ACME__LINKS_MAX + 1, sizeof *out->pem);
    struct acme__resp r;
    int rc = get_chain(c, cert_url, &out->pem[0], &r, err);
    if (rc == 0)
        out->n = 1;
    for (size_t i = 0; rc == 0 && with_alternates && i < r.n_links; i++) {
        struct acme__resp ra;
        rc = get_chain(c, r.links[i], &out->pem[out->n], &ra, err);
        if (rc == 0)
            out->n++;
        acme__resp_free(&ra);
    }
    acme__resp_free(&r);
    if (rc)
        acme_chains_free(out);
    return rc;
}

int acme_cert_fetch(struct acme_client *c, const char *cert_url, const char *preferred, char **pem,
                    struct acme_error *err)
{
    struct acme_chains ch;
    bool want_alt = preferred && *preferred;
    int rc = acme_cert_download(c, cert_url, false, &ch, err);
    if (rc)
        return rc;
    char cn[256];
    if (want_alt && (acme_chain_top_issuer(ch.pem[0], strlen(ch.pem[0]), cn, sizeof cn) != 0 ||
                     strcmp(cn, preferred) != 0)) {
        acme_chains_free(&ch);
        rc = acme_cert_download(c, cert_url, true, &ch, err);
        if (rc)
            return rc;
    }
    size_t i = acme_chain_pick(&ch, preferred);
    *pem = ch.pem[i];
    ch.pem[i] = NULL;
    acme_chains_free(&ch);
    return 0;
}

int acme_revoke(struct acme_client *c, const unsigned char *cert_der, size_t len, int reason,
                struct acme_error *err)
{
    const struct acme_directory *d;
    int rc = acme_client_directory(c, &d, err);
    if (rc)
        return rc;
    if (!cert_der || len == 0 || len > 65536 || reason < 0 || reason > 10 || reason == 7)
        return acme__fail(err, ACME_E_INVALID, "revocation needs a DER certificate and a reason");
    char *cert64 = acme_b64url(cert_der, len);
    char *payload = dumps(json_pack("{s:s, s:i}", "certificate", cert64, "reason", reason));
    xfree(cert64);
    struct acme__resp r;
    rc = post(c, ACME_EP_REVOKE, d->revoke_cert, payload, false, NULL, &r, err);
    xfree(payload);
    acme__resp_free(&r);
    return rc;
}
