/* Authenticated Origin Pulls (seed 002, SPEC §4.9): client certificates the proxy presents
 * to origins, zone-level and per hostname, uploaded with their keys (sealed at rest, never
 * returned); the worker deploys them (initializing → pending_deployment → active) and
 * removes them (pending_deletion → deleted). Per-hostname certificates are bound to
 * hostnames by associations whose `status` is the certificate's status. */
#include "api/api.h"

#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/hostname.h"
#include "http/input.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "worker/aop_jobs.h"
#include "worker/worker.h"

#define KIND_ZONE STORE_AOP_ZONE
#define KIND_HOST STORE_AOP_HOSTNAME
#define CONFIG_MAX 100 /* associations per PUT */
#define ZONE_CERTS_MAX 10 /* live zone-level certificates per zone (as hostname ones) */
#define RSA_BITS_MAX 8192

static json_t *cert_json(const struct store_aop_cert *c)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:s, s:o}", "id", c->id, "certificate", c->certificate,
        "expires_on", api_time(c->expires_on), "issuer", c->issuer, "signature", c->signature,
        "status", store_aop_status_name(c->status), "uploaded_on", api_time(c->uploaded_on));
    if (c->kind == KIND_HOST)
        json_object_set_new(o, "serial_number", json_string(c->serial));
    return o;
}

/* An association with its certificate's fields; status mirrors the certificate's. */
static json_t *assoc_json(const struct store_aop_hostname *h, const struct store_aop_cert *c)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:o, s:s, s:o, s:s, s:s, s:s, s:o, s:o}",
                     "hostname", h->hostname, "cert_id", h->cert_id, "enabled", h->enabled != 0,
                     "status", store_aop_status_name(c->status), "cert_status",
                     store_aop_status_name(c->status), "created_at", api_time(h->created_at),
                     "updated_at", api_time(h->updated_at), "certificate", c->certificate,
                     "expires_on", api_time(c->expires_on), "issuer", c->issuer, "serial_number",
                     c->serial, "signature", c->signature, "cert_uploaded_on",
                     api_time(c->uploaded_on), "cert_updated_at", api_time(c->updated_on));
}

/* Every DNS name of the certificate must be in the zone; 0 or -1 (recorded). */
static int check_names(struct request *req, X509 *cert, const char *apex)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS)
            continue;
        const char *dns = (const char *)ASN1_STRING_get0_data(g->d.dNSName), *why = NULL;
        char host[HOSTNAME_SIZE];
        if ((size_t)ASN1_STRING_length(g->d.dNSName) != strlen(dns) ||
            hostname_normalize(dns, HOSTNAME_ALLOW_WILDCARD, host, &why) < 0 ||
            !hostname_in_zone(host, apex)) {
            request_fail(req, API_E_INVALID, "certificate: hostname %.253s is not in zone %s",
                         dns, apex);
            rc = -1;
        }
    }
    GENERAL_NAMES_free(names);
    return rc;
}

/* True when a PEM text carries a private key block of any kind ("-----BEGIN PRIVATE
 * KEY-----", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", ...). The
 * `certificate` field is stored and returned as it is, so a key in it would leak. */
static bool pem_has_private_key(const char *pem)
{
    static const char begin[] = "-----BEGIN ", label_end[] = "PRIVATE KEY-----";
    for (const char *p = pem; (p = strstr(p, begin)) != NULL; p += sizeof begin - 1) {
        const char *eol = strchr(p, '\n');
        size_t line = eol ? (size_t)(eol - p) : strlen(p);
        while (line && (p[line - 1] == '\r' || p[line - 1] == ' ' || p[line - 1] == '\t'))
            line--;
        size_t tail = sizeof label_end - 1;
        if (line >= sizeof begin - 1 + tail && memcmp(p + line - tail, label_end, tail) == 0)
            return true;
    }
    return false;
}

/* The certificate's key must be one we accept for client certificates (RSA 2048 to 8192
 * bits, EC P-256 or P-384); 0 or -1 (recorded, naming the field). */
static int check_cert_key(struct request *req, X509 *cert)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    const char *why = NULL;
    if (!pub) {
        request_fail(req, API_E_INVALID, "certificate: its public key cannot be read");
        return -1;
    }
    if (!pki_key_acceptable(pub, &why)) {
        request_fail(req, API_E_INVALID, "certificate: %s", why);
        return -1;
    }
    if (strcmp(pki_key_type_name(pub), "rsa") == 0 && pki_key_bits(pub) > RSA_BITS_MAX) {
        request_fail(req, API_E_INVALID, "certificate: RSA keys must be at most %d bits",
                     RSA_BITS_MAX);
        return -1;
    }
    return 0;
}

/* Decodes and checks an upload, filling rec (id, facts, PEM, sealed key). 0 or -1
 * (recorded); nothing is stored here. */
static int decode_upload(struct request *req, const struct store_zone *zone,
                         enum store_aop_kind kind, struct store_aop_cert *rec)
{
    json_t *body = NULL;
    const char *cert_pem = NULL, *key_pem = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char *pkcs8 = NULL;
    size_t pkcs8_len = 0;
    int rc = -1;
    int64_t now = util_now_us();
    if (input_json_object(req, false, &body) < 0 ||
        input_string(req, body, "certificate", "certificate", INPUT_REQUIRED, &cert_pem) < 0 ||
        input_string(req, body, "private_key", "private_key", INPUT_REQUIRED, &key_pem) < 0)
        goto out;
    if (strlen(cert_pem) > PKI_PEM_MAX || strlen(key_pem) > PKI_PEM_MAX) {
        request_fail(req, API_E_INVALID, "%s: larger than 64 KiB",
                     strlen(cert_pem) > PKI_PEM_MAX ? "certificate" : "private_key");
        goto out;
    }
    if (pem_has_private_key(cert_pem)) {
        request_fail(req, API_E_INVALID, "certificate must not contain a private key");
        goto out;
    }
    if (!(cert = pki_cert_from_pem(cert_pem, strlen(cert_pem)))) {
        request_fail(req, API_E_INVALID, "certificate: not a PEM certificate");
        goto out;
    }
    if (check_cert_key(req, cert) < 0)
        goto out;
    if (!(key = pki_key_from_pem(key_pem, strlen(key_pem)))) {
        request_fail(req, API_E_INVALID, "private_key: not a PEM private key");
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        request_fail(req, API_E_INVALID, "private_key: does not match the certificate");
        goto out;
    }
    if (pki_cert_not_after(cert) <= now) {
        char when[UTIL_TIME_LEN];
        util_format_time(pki_cert_not_after(cert), when);
        request_fail(req, API_E_INVALID, "certificate: expired on %s", when);
        goto out;
    }
    if (kind == KIND_HOST && check_names(req, cert, zone->name) < 0)
        goto out;

    struct pki_subject issuer;
    const char *issuer_name = pki_issuer_display(X509_get_issuer_name(cert), &issuer);
    memset(rec, 0, sizeof *rec);
    util_random_id(rec->id);
    snprintf(rec->zone_id, sizeof rec->zone_id, "%s", zone->id);
    rec->kind = kind;
    rec->status = STORE_AOP_INITIALIZING;
    snprintf(rec->issuer, sizeof rec->issuer, "%s", issuer_name);
    pki_cert_serial_hex(cert, rec->serial, sizeof rec->serial);
    snprintf(rec->signature, sizeof rec->signature, "%s", pki_cert_signature_name(cert));
    rec->expires_on = pki_cert_not_after(cert);
    rec->uploaded_on = rec->updated_on = now;
    char aad[64];
    snprintf(aad, sizeof aad, AOP_KEY_AAD_FMT, rec->id);
    if (pki_key_to_pem(key, &pkcs8, &pkcs8_len) < 0 ||
        seal_encrypt(req->app->master_key, pkcs8, pkcs8_len, aad, &rec->key_sealed,
                     &rec->key_sealed_len) < 0) {
        request_fail(req, API_E_INTERNAL, NULL);
        goto out;
    }
    rec->certificate = xstrdup(cert_pem);
    rc = 0;
out:
    if (pkcs8) {
        OPENSSL_cleanse(pkcs8, pkcs8_len);
        xfree(pkcs8);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    json_decref(body);
    return rc;
}

static void create(struct request *req, enum store_aop_kind kind)
{
    struct store_zone zone;
    struct store_aop_cert rec = {0};
    if (api_visible_zone(req, &zone) < 0 || decode_upload(req, &zone, kind, &rec) < 0)
        goto out;
    bool host = kind == KIND_HOST;
    int max = host ? STORE_AOP_HOSTNAME_CERTS_MAX : ZONE_CERTS_MAX;
    int rc = store_aop_cert_create(req->app->store, &rec, max);
    if (rc == STORE_OK) {
        worker_wake(req->app->worker);
        request_ok(req, cert_json(&rec));
    } else if (rc == STORE_QUOTA) {
        request_fail(req, API_E_INVALID,
                     "certificate: at most %d %s certificates per zone are allowed; delete one "
                     "first",
                     max, host ? "hostname" : "zone-level");
    } else {
        api_store_failed(req, rc, "aop certificate create");
    }
out:
    store_aop_cert_clear(&rec);
}

static void list(struct request *req, enum store_aop_kind kind)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    struct store_aop_cert *certs = NULL;
    int count = 0;
    int rc = store_aop_cert_list(req->app->store, zone.id, kind, &certs, &count);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "aop certificate list");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(items, cert_json(&certs[i]));
    store_aop_cert_list_free(certs, count);
    struct paging one = {.page = 1, .per_page = count > 0 ? count : 1};
    request_list(req, items, input_result_info(&one, count, count));
}

static void not_found(struct request *req, const char *id)
{
    request_fail(req, API_E_NOT_FOUND, "Certificate %.64s not found", id);
}

static void get(struct request *req, enum store_aop_kind kind)
{
    struct store_zone zone;
    struct store_aop_cert c;
    if (api_visible_zone(req, &zone) < 0)
        return;
    const char *id = req->params[1];
    int rc = util_is_id(id) ? store_aop_cert_get(req->app->store, zone.id, kind, id, &c)
                            : STORE_NOT_FOUND;
    if (rc == STORE_OK)
        request_ok(req, cert_json(&c));
    else if (rc == STORE_NOT_FOUND)
        not_found(req, id);
    else
        api_store_failed(req, rc, "aop certificate get");
    if (rc == STORE_OK)
        store_aop_cert_clear(&c);
}

static void delete (struct request *req, enum store_aop_kind kind)
{
    struct store_zone zone;
    struct store_aop_cert c;
    if (api_visible_zone(req, &zone) < 0)
        return;
    const char *id = req->params[1];
    if (!util_is_id(id)) {
        not_found(req, id);
        return;
    }
    int rc = store_aop_cert_delete_request(req->app->store, zone.id, kind, id, util_now_us(), &c);
    if (rc == STORE_OK) {
        worker_wake(req->app->worker);
        request_ok(req, cert_json(&c));
    } else if (rc == STORE_CONFLICT) {
        request_fail(req, API_E_BAD_STATUS, "Certificate %s is %s: it cannot be deleted again", id,
                     store_aop_status_name(c.status));
    } else if (rc == STORE_NOT_FOUND) {
        not_found(req, id);
    } else {
        api_store_failed(req, rc, "aop certificate delete");
    }
    store_aop_cert_clear(&c);
}

void aop_zone_certs_create(struct request *req) { create(req, KIND_ZONE); }
void aop_zone_certs_list(struct request *req) { list(req, KIND_ZONE); }
void aop_zone_certs_get(struct request *req) { get(req, KIND_ZONE); }
void aop_zone_certs_delete(struct request *req) { delete(req, KIND_ZONE); }
void aop_hostname_certs_create(struct request *req) { create(req, KIND_HOST); }
void aop_hostname_certs_list(struct request *req) { list(req, KIND_HOST); }
void aop_hostname_certs_get(struct request *req) { get(req, KIND_HOST); }
void aop_hostname_certs_delete(struct request *req) { delete(req, KIND_HOST); }

void aop_settings_get(struct request *req)
{
    struct store_zone zone;
    bool enabled = false;
    if (api_visible_zone(req, &zone) < 0)
        return;
    int rc = store_aop_settings_get(req->app->store, zone.id, &enabled);
    if (rc != STORE_OK)
        api_store_failed(req, rc, "aop settings get");
    else
        request_ok(req, json_pack("{s:b}", "enabled", enabled));
}

void aop_settings_put(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL;
    bool enabled = false;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0 ||
        input_bool(req, body, "enabled", "enabled", INPUT_REQUIRED, &enabled) < 0)
        goto out;
    int rc = store_aop_settings_set(req->app->store, zone.id, enabled);
    if (rc != STORE_OK)
        api_store_failed(req, rc, "aop settings set");
    else
        request_ok(req, json_pack("{s:b}", "enabled", enabled));
out:
    json_decref(body);
}

/* Decodes config[i] into *h: the hostname (normalised, in the zone), the certificate id
 * and enabled (-1 for null: a removal). The certificates are checked by
 * check_assoc_certs. 0 or -1 (recorded). */
static int decode_assoc(struct request *req, const struct store_zone *zone, json_t *item,
                        size_t i, struct store_aop_hostname *h)
{
    char label[48];
    const char *hostname = NULL, *cert_id = NULL, *why = NULL;
    bool enabled = false;
    if (!json_is_object(item)) {
        request_fail(req, API_E_INVALID, "config[%zu]: must be an object", i);
        return -1;
    }
    snprintf(label, sizeof label, "config[%zu].hostname", i);
    if (input_string(req, item, "hostname", label, INPUT_REQUIRED, &hostname) < 0)
        return -1;
    if (hostname_normalize(hostname, 0, h->hostname, &why) < 0 ||
        !hostname_in_zone(h->hostname, zone->name)) {
        request_fail(req, API_E_INVALID, "%s: %.253s is %s", label, hostname,
                     why ? why : "not in the zone");
        return -1;
    }
    snprintf(label, sizeof label, "config[%zu].cert_id", i);
    if (input_string(req, item, "cert_id", label, INPUT_REQUIRED, &cert_id) < 0)
        return -1;
    snprintf(h->cert_id, sizeof h->cert_id, "%.32s", cert_id);
    json_t *e = json_object_get(item, "enabled");
    snprintf(label, sizeof label, "config[%zu].enabled", i);
    if (!e) {
        request_fail(req, API_E_INVALID, "%s: required (true, false, or null to remove)", label);
        return -1;
    }
    if (json_is_null(e)) {
        h->enabled = -1;
        return 0;
    }
    if (input_bool(req, item, "enabled", label, INPUT_REQUIRED, &enabled) < 0)
        return -1;
    h->enabled = enabled;
    return 0;
}

/* The certificates the config associates (removals name none), in the order of checks:
 * with `want_live` false, each must exist (404/1472, before the rest of the body is
 * judged); with it true, each must be live, not being deleted (1406, after). 0 or -1
 * (recorded). */
static int check_assoc_certs(struct request *req, const struct store_zone *zone, json_t *config,
                             bool want_live)
{
    json_t *item;
    size_t i;
    json_array_foreach(config, i, item) {
        json_t *e = json_object_get(item, "enabled");
        const char *cert_id = json_string_value(json_object_get(item, "cert_id"));
        if (!cert_id || !e || json_is_null(e))
            continue; /* a removal, or a body error judged later */
        struct store_aop_cert c;
        int rc = util_is_id(cert_id)
                     ? store_aop_cert_get(req->app->store, zone->id, KIND_HOST, cert_id, &c)
                     : STORE_NOT_FOUND;
        if (rc == STORE_NOT_FOUND) {
            request_fail(req, API_E_NOT_FOUND, "config[%zu].cert_id: certificate %.64s not found",
                         i, cert_id);
            return -1;
        }
        if (rc != STORE_OK) {
            api_store_failed(req, rc, "aop certificate get");
            return -1;
        }
        bool live = store_aop_live(c.status);
        if (want_live && !live)
            request_fail(req, API_E_BAD_STATUS,
                         "config[%zu].cert_id: certificate %s is %s: it cannot be associated", i,
                         c.id, store_aop_status_name(c.status));
        store_aop_cert_clear(&c);
        if (want_live && !live)
            return -1;
    }
    return 0;
}

/* The association's object after a PUT: its current row, or (removed) enabled null. */
static json_t *put_result(struct request *req, const struct store_zone *zone,
                          const struct store_aop_hostname *h)
{
    struct store_aop_hostname now;
    struct store_aop_cert c;
    if (store_aop_hostname_get(req->app->store, zone->id, h->hostname, &now) != STORE_OK)
        return json_pack("{s:s, s:s, s:n, s:s}", "hostname", h->hostname, "cert_id", h->cert_id,
                         "enabled", "status", "deleted");
    if (store_aop_cert_get(req->app->store, zone->id, KIND_HOST, now.cert_id, &c) != STORE_OK)
        return NULL;
    json_t *o = assoc_json(&now, &c);
    store_aop_cert_clear(&c);
    return o;
}

void aop_hostnames_put(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL, *config = NULL;
    struct store_aop_hostname *changes = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0)
        goto out;
    config = json_object_get(body, "config");
    if (!json_is_array(config) || json_array_size(config) > CONFIG_MAX) {
        request_fail(req, API_E_INVALID, "config: must be an array of at most %d associations",
                     CONFIG_MAX);
        goto out;
    }
    size_t n = json_array_size(config);
    changes = xcalloc(n ? n : 1, sizeof *changes);
    if (check_assoc_certs(req, &zone, config, false) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (decode_assoc(req, &zone, json_array_get(config, i), i, &changes[i]) < 0)
            goto out;
    if (check_assoc_certs(req, &zone, config, true) < 0)
        goto out;
    int rc = store_aop_hostnames_put(req->app->store, zone.id, changes, (int)n, util_now_us());
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "aop hostnames put");
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = put_result(req, &zone, &changes[i]);
        if (!o) {
            json_decref(items);
            api_store_failed(req, STORE_ERROR, "aop hostnames read back");
            goto out;
        }
        json_array_append_new(items, o);
    }
    struct paging one = {.page = 1, .per_page = n > 0 ? (int)n : 1};
    request_list(req, items, input_result_info(&one, (int)n, (int)n));
out:
    xfree(changes);
    json_decref(body);
}

void aop_hostnames_get(struct request *req)
{
    struct store_zone zone;
    struct store_aop_hostname h;
    struct store_aop_cert c;
    char host[HOSTNAME_SIZE];
    const char *why = NULL;
    if (api_visible_zone(req, &zone) < 0)
        return;
    const char *name = req->params[1];
    int rc = hostname_normalize(name, 0, host, &why) < 0
                 ? STORE_NOT_FOUND
                 : store_aop_hostname_get(req->app->store, zone.id, host, &h);
    if (rc == STORE_OK)
        rc = store_aop_cert_get(req->app->store, zone.id, KIND_HOST, h.cert_id, &c);
    if (rc == STORE_OK) {
        request_ok(req, assoc_json(&h, &c));
        store_aop_cert_clear(&c);
    } else if (rc == STORE_NOT_FOUND) {
        request_fail(req, API_E_NOT_FOUND, "Hostname %.253s not found", name);
    } else {
        api_store_failed(req, rc, "aop hostname get");
    }
}
