/* Certificate packs (seeds 000, 001, 004; SPEC §4.2): read side — the pack object, list,
 * get and quota. Ordering, PATCH and DELETE are in certificate_packs_write.c. */
#include "api/api.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api/pack_cache.h"
#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/pack_records.h"
#include "core/pack_state.h"
#include "http/input.h"

/* ---- the pack's arrays, as the API shows them (one function per array) ---- */

static json_t *hosts_json(const struct store_pack *p)
{
    json_t *arr = json_array();
    for (int i = 0; i < p->host_count; i++)
        json_array_append_new(arr, json_string(p->hosts[i].name));
    return arr;
}

/* Each record has the fields of its method only (empty ones are left out). */
static json_t *records_json(const struct store_pack *p)
{
    json_t *arr = json_array();
    for (int i = 0; i < p->validation_record_count; i++) {
        const struct store_validation_record *r = &p->validation_records[i];
        json_t *obj = json_object();
        const struct {
            const char *key, *value;
        } fields[] = {{"txt_name", r->txt_name},
                      {"txt_value", r->txt_value},
                      {"http_url", r->http_url},
                      {"http_body", r->http_body}};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (fields[f].value[0])
                json_object_set_new(obj, fields[f].key, json_string(fields[f].value));
        if (r->email_count > 0) {
            json_t *emails = json_array();
            for (int e = 0; e < r->email_count && e < STORE_RECORD_EMAILS_MAX; e++)
                json_array_append_new(emails, json_string(r->emails[e]));
            json_object_set_new(obj, "emails", emails);
        }
        if (r->status[0])
            json_object_set_new(obj, "status", json_string(r->status));
        json_array_append_new(arr, obj);
    }
    return arr;
}

static json_t *errors_json(const struct store_pack *p)
{
    json_t *arr = json_array();
    for (int i = 0; i < p->validation_error_count; i++)
        json_array_append_new(arr, json_pack("{s:s}", "message", p->validation_errors[i].message));
    return arr;
}

/* Rows written before delegation records were made unique may hold an apex and its
 * wildcard twice: a cname already shown is left out. */
static json_t *delegation_json(const struct store_pack *p)
{
    json_t *arr = json_array();
    for (int i = 0; i < p->dcv_delegation_record_count; i++) {
        const struct store_delegation_record *d = &p->dcv_delegation_records[i];
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(p->dcv_delegation_records[j].cname, d->cname) == 0;
        if (!seen)
            json_array_append_new(
                arr, json_pack("{s:s, s:s}", "cname", d->cname, "cname_target", d->cname_target));
    }
    return arr;
}

/* An object of constant (ASCII) keys, set in the order given without jansson's per-key
 * UTF-8 check; NULL (all values released) when a value is NULL, as json_pack fails. */
struct member {
    const char *key;
    json_t *value; /* taken */
};
static json_t *object_of(const struct member *m, size_t n)
{
    bool complete = true;
    for (size_t i = 0; i < n; i++)
        complete = complete && m[i].value;
    json_t *obj = complete ? json_object() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (obj)
            json_object_set_new_nocheck(obj, m[i].key, m[i].value);
        else
            json_decref(m[i].value);
    }
    return obj;
}

/* One element of certificates[] (seed 000); its status is its own (core/pack_state). Built
 * member by member: no json_pack format to parse on every rendering. */
static json_t *certificate_json(const struct store_pack *p, enum pack_status status,
                                const struct store_pack_cert *c, json_t *hosts, int64_t now)
{
    const char *cert_status = pack_state_certificate_status(status, c->expires_on, now);
    json_t *geo = json_object();
    json_object_set_new_nocheck(geo, "label", json_string("us"));
    const struct member m[] = {
        {"id", json_string(c->id)},
        {"hosts", json_incref(hosts)},
        {"status", json_string(cert_status)},
        {"bundle_method", json_string("ubiquitous")},
        {"expires_on", api_time(c->expires_on)},
        {"geo_restrictions", geo},
        {"issuer", json_string(c->issuer)},
        {"modified_on", api_time(c->modified_on)},
        {"priority", json_integer(c->priority)},
        {"signature", json_string(c->signature)},
        {"uploaded_on", api_time(c->uploaded_on)},
        {"zone_id", json_string(p->zone_id)},
    };
    return object_of(m, sizeof m / sizeof m[0]);
}

/* Adds certificates[] (always: [] before the first issuance, as the SDK types require it)
 * and, once there is one, primary_certificate. */
static int add_certificates(struct request *req, const struct store_pack *p,
                            enum pack_status status, json_t *obj, json_t *hosts, int64_t now,
                            int64_t *stale_at)
{
    struct store_pack_cert *certs = NULL;
    int count = 0;
    int rc = p->cert_generation ? store_pack_certs_shown(req->app->store, p->id, p->cert_generation,
                                                         &certs, &count)
                                : STORE_OK;
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "pack certificates");
        return -1;
    }
    json_t *list = json_array();
    for (int i = 0; i < count; i++) {
        json_array_append_new(list, certificate_json(p, status, &certs[i], hosts, now));
        /* A certificate not expired yet shows another status from its expires_on on. */
        if (certs[i].expires_on > now && certs[i].expires_on < *stale_at)
            *stale_at = certs[i].expires_on;
    }
    if (count)
        json_object_set_new(obj, "primary_certificate", json_string(certs[0].id));
    json_object_set_new(obj, "certificates", list);
    store_pack_cert_list_free(certs, count);
    return 0;
}

/* Sets key to a JSON array (taking it) unless it is empty (Cloudflare leaves them out). */
static void set_if_any(json_t *obj, const char *key, json_t *v)
{
    if (json_array_size(v))
        json_object_set_new(obj, key, v);
    else
        json_decref(v);
}

/* The pack's API object as of `now`; *stale_at is lowered to the first instant after which
 * the same rows would render differently (INT64_MAX when none). */
static json_t *pack_json_at(struct request *req, const struct store_pack *p, int64_t now,
                            int64_t *stale_at)
{
    enum pack_status status = p->status;
    json_t *hosts = hosts_json(p);
    const struct member m[] = {
        {"id", json_string(p->id)},
        {"hosts", json_incref(hosts)},
        {"status", json_string(pack_status_name(status))},
        {"type", json_string(store_pack_type_name(p->type))},
        {"certificate_authority", json_string(pack_ca_name(p->certificate_authority))},
        {"cloudflare_branding", json_boolean(p->cloudflare_branding)},
        {"validation_method", json_string(pack_method_name(p->validation_method))},
        {"validity_days", json_integer(p->validity_days)},
    };
    json_t *obj = object_of(m, sizeof m / sizeof m[0]);
    if (!obj) {
        json_decref(hosts);
        api_store_failed(req, STORE_ERROR, "pack rendering");
        return NULL;
    }
    /* The store may keep the records after validation (renewals re-check them); the API
     * shows them only while they are what the user has to publish. */
    if (pack_state_shows_records(status))
        set_if_any(obj, "validation_records", records_json(p));
    set_if_any(obj, "dcv_delegation_records", delegation_json(p));
    set_if_any(obj, "validation_errors", errors_json(p));
    if (add_certificates(req, p, status, obj, hosts, now, stale_at) < 0) {
        json_decref(obj);
        obj = NULL;
    }
    json_decref(hosts);
    return obj;
}

json_t *api_pack_json(struct request *req, const struct store_pack *p)
{
    int64_t stale_at = INT64_MAX;
    return pack_json_at(req, p, util_now_us(), &stale_at);
}

char *api_pack_text(struct request *req, const struct store_pack *p, size_t *len)
{
    struct pack_cache *cache = req->app->pack_cache;
    int64_t now = util_now_us(), stale_at = INT64_MAX;
    char *text = pack_cache_get(cache, p, now, len);
    if (text)
        return text;
    json_t *obj = pack_json_at(req, p, now, &stale_at);
    if (!obj)
        return NULL;
    /* Into a buffer on the stack first: jansson's own growing buffer and final copy cost a
     * few allocations per rendering. */
    char buf[8192];
    size_t n = json_dumpb(obj, buf, sizeof buf, JSON_COMPACT);
    if (n > 0 && n < sizeof buf) {
        text = xmalloc(n + 1);
        memcpy(text, buf, n);
        text[n] = '\0';
    } else {
        text = json_dumps(obj, JSON_COMPACT);
    }
    json_decref(obj);
    if (!text) {
        api_store_failed(req, STORE_ERROR, "pack rendering"); /* only out of memory */
        return NULL;
    }
    *len = strlen(text);
    pack_cache_put(cache, p, text, *len, stale_at);
    return text;
}

/* The route's pack in a zone already known visible (404/1472 otherwise). */
static int pack_in_zone(struct request *req, const struct store_zone *zone, struct store_pack *pack)
{
    const char *id = req->params[1];
    int rc = util_is_id(id) ? store_pack_get(req->app->store, zone->id, id, pack) : STORE_NOT_FOUND;
    /* A deleted pack is gone from the API, as on Cloudflare (the row may stay). */
    if (rc == STORE_OK && pack->status == PACK_DELETED) {
        store_pack_clear(pack);
        rc = STORE_NOT_FOUND;
    }
    if (rc == STORE_NOT_FOUND)
        request_fail(req, API_E_NOT_FOUND, "Certificate pack %.64s not found", id);
    else if (rc != STORE_OK)
        api_store_failed(req, rc, "pack get");
    return rc == STORE_OK ? 0 : -1;
}

int api_visible_pack(struct request *req, struct store_zone *zone, struct store_pack *pack)
{
    if (api_visible_zone(req, zone) < 0)
        return -1;
    return pack_in_zone(req, zone, pack);
}

/* Without status, only active packs are listed (Cloudflare's default); "all" lists every
 * pack that is not deleted. */
static const char *const list_statuses[] = {"all", NULL};
static const char *const deploy_values[] = {"staging", "production", NULL};

/* The list's items as JSON text: "[" a "," b ... "]", as jansson writes an array. */
struct text_buf {
    char *data;
    size_t len, cap;
};

/* Appends one item (text) or, with text NULL, the closing bracket. */
static void text_buf_item(struct text_buf *b, const char *text, size_t len)
{
    size_t need = b->len + len + 2 + 1;
    if (need > b->cap) {
        b->cap = need > 2 * b->cap ? need : 2 * b->cap;
        b->data = xrealloc(b->data, b->cap);
    }
    char sep = b->len == 0 ? '[' : text ? ',' : ']';
    b->data[b->len++] = sep;
    if (!text) {
        if (b->len == 1)
            b->data[b->len++] = ']';
        b->data[b->len] = '\0';
        return;
    }
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/* A listed pack's rendering: the cached text, else its arrays decoded from the row the page
 * has read and rendered (the list and the certificates' reads share the request's read
 * snapshot, so they are the rows listed). */
static char *listed_pack_text(struct request *req, struct store_pack_listed *l, size_t *len)
{
    char *text = pack_cache_get(req->app->pack_cache, &l->pack, util_now_us(), len);
    if (text)
        return text;
    if (store_pack_listed_decode(l) != STORE_OK) {
        api_store_failed(req, STORE_ERROR, "listed pack");
        return NULL;
    }
    return api_pack_text(req, &l->pack, len);
}

void certificate_packs_list(struct request *req)
{
    struct store_zone zone;
    struct paging paging;
    const char *status = NULL, *deploy = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_paging(req, &paging) < 0 ||
        input_query_enum(req, "status", list_statuses, &status) < 0 ||
        input_query_enum(req, "deploy", deploy_values, &deploy) < 0)
        return;
    struct text_buf items = {0};
    int count = 0, total = 0;
    /* Only production packs exist (no staging_* statuses are ever entered). */
    if (!deploy || strcmp(deploy, "production") == 0) {
        struct store_pack_filter f = {.zone_id = zone.id,
                                      .active_only = status == NULL,
                                      .offset = (paging.page - 1) * paging.per_page,
                                      .limit = paging.per_page};
        struct store_pack_listed *packs = NULL;
        int rc = store_pack_list_listed(req->app->store, &f, &packs, &count, &total);
        if (rc != STORE_OK) {
            api_store_failed(req, rc, "pack list");
            return;
        }
        /* The first pack the store fails on fails the request: one error, not one a pack. */
        for (int i = 0; i < count && !request_failed(req); i++) {
            size_t len;
            char *text = listed_pack_text(req, &packs[i], &len);
            if (text)
                text_buf_item(&items, text, len);
            xfree(text);
        }
        store_pack_listed_free(packs, count);
        if (request_failed(req)) {
            xfree(items.data);
            return;
        }
    }
    text_buf_item(&items, NULL, 0); /* closes the array ("[]" when empty) */
    request_list_text(req, items.data, items.len, input_result_info(&paging, count, total));
}

/* The cached rendering of the route's pack, found from the row's key alone (decoding the
 * whole row costs more than the rest of a cached GET); NULL when not cached, or when the
 * pack is not plainly there (the full path then answers exactly as without a cache). */
static char *cached_pack(struct request *req, const struct store_zone *zone, size_t *len)
{
    const char *id = req->params[1];
    struct store_pack key;
    if (!req->app->pack_cache || !util_is_id(id) ||
        store_pack_get_key(req->app->store, zone->id, id, &key) != STORE_OK ||
        key.status == PACK_DELETED)
        return NULL;
    return pack_cache_get(req->app->pack_cache, &key, util_now_us(), len);
}

void certificate_packs_get(struct request *req)
{
    struct store_zone zone;
    struct store_pack pack;
    size_t len;
    if (api_visible_zone(req, &zone) < 0)
        return;
    char *text = cached_pack(req, &zone, &len);
    if (text) {
        request_ok_text(req, text, len);
        return;
    }
    if (pack_in_zone(req, &zone, &pack) < 0)
        return;
    text = api_pack_text(req, &pack, &len);
    if (text)
        request_ok_text(req, text, len);
    store_pack_clear(&pack);
}

void certificate_packs_quota(struct request *req)
{
    struct store_zone zone;
    int allocated = 0, used = 0;
    if (api_visible_zone(req, &zone) < 0)
        return;
    int rc = store_pack_quota(req->app->store, zone.id, &allocated, &used);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "pack quota");
        return;
    }
    request_ok(req, json_pack("{s:{s:i, s:i}}", "advanced", "allocated", allocated, "used", used));
}
