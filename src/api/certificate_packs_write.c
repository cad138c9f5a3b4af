/* Certificate packs (SPEC §4.2), write side: order, PATCH (restart validation,
 * cloudflare_branding) and DELETE. Status rules come from core/pack_state (one table), so
 * an operation refused here is refused with the status error (400/1406). */
#include "api/api.h"

#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/rand_pool.h"
#include "common/util.h"
#include "core/acme_pack.h"
#include "core/pack_records.h"
#include "core/pack_rules.h"
#include "core/pack_state.h"
#include "http/input.h"
#include "worker/worker.h"

#define PACK_CHANGE_ATTEMPTS 8

struct order_input {
    const char *ca, *type, *method; /* names, checked by core/pack_rules */
    enum pack_ca ca_id;
    enum pack_method method_id;
    long long validity;
    bool branding;
    const char **hosts;
    size_t host_count;
};

static int decode_order(struct request *req, json_t *body, struct order_input *in)
{
    /* The names come from the rules table (core/pack_rules), defined once. */
    if (input_enum(req, body, "certificate_authority", "certificate_authority", INPUT_REQUIRED,
                   pack_ca_names, &in->ca) < 0 ||
        input_enum(req, body, "type", "type", INPUT_REQUIRED, pack_order_type_names, &in->type) <
            0 ||
        input_enum(req, body, "validation_method", "validation_method", INPUT_REQUIRED,
                   pack_order_method_names, &in->method) < 0 ||
        input_int(req, body, "validity_days", "validity_days", INPUT_REQUIRED, 1, 3650,
                  &in->validity) < 0 ||
        input_bool(req, body, "cloudflare_branding", "cloudflare_branding", INPUT_OPTIONAL,
                   &in->branding) < 0)
        return -1;
    return input_string_array(req, body, "hosts", "hosts", INPUT_REQUIRED, PACK_HOSTS_MAX * 4,
                              &in->hosts, &in->host_count);
}

/* The normalised hosts into the pack, apex first (as pack_rules returns them); -1 when
 * they do not fit (pack_rules allows no more than a pack holds). */
static int set_hosts(struct store_pack *p, const struct pack_hosts *hosts)
{
    for (size_t i = 0; i < hosts->count; i++)
        if (!store_pack_host_add(p, hosts->name[i]))
            return -1;
    return 0;
}

/* 1450: no allocation at all, or the allocation used up. */
static void quota_failed(struct request *req, const char *zone_id)
{
    int allocated = 0, used = 0;
    store_pack_quota(req->app->store, zone_id, &allocated, &used);
    if (allocated == 0)
        request_fail(req, API_E_QUOTA,
                     "Advanced Certificate Manager required: zone %s has no "
                     "advanced certificate pack allocation",
                     zone_id);
    else
        request_fail(req, API_E_QUOTA,
                     "Advanced Certificate Manager quota exhausted: %d of %d "
                     "used",
                     used, allocated);
}

static void order_pack(struct request *req, const struct store_zone *zone,
                       const struct order_input *in, const struct pack_hosts *hosts)
{
    int64_t now = util_now_us();
    struct store_pack p = {.validity_days = (int)in->validity,
                           .cloudflare_branding = in->branding,
                           .status_since = now,
                           .created_on = now,
                           .modified_on = now};
    unsigned char random[PACK_ID_RANDOM_BYTES];
    rand_pool_bytes(random, sizeof random);
    pack_rules_new_id(p.id, now, random);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", zone->id);
    p.type = STORE_PACK_ADVANCED;
    p.status = PACK_INITIALIZING;
    p.certificate_authority = in->ca_id;
    p.validation_method = in->method_id;
    int rc = set_hosts(&p, hosts) < 0 ? STORE_ERROR : store_pack_create(req->app->store, &p);
    if (rc == STORE_OK) {
        worker_wake(req->app->worker);
        json_t *obj = api_pack_json(req, &p);
        if (obj)
            request_ok(req, obj);
    } else if (rc == STORE_QUOTA) {
        quota_failed(req, zone->id);
    } else {
        api_store_failed(req, rc, "pack create");
    }
    store_pack_clear(&p);
}

int api_acme_method_refused(struct request *req, enum pack_ca ca, enum pack_method method)
{
    if (ca < 0 || (int)ca >= APP_ACME_CAS || !req->app->config.acme.ca[ca].directory)
        return 0;
    const char *why = acme_pack_method_refusal(method);
    if (!why)
        return 0;
    request_fail(req, API_E_INVALID, "%s", why);
    return -1;
}

void certificate_packs_order(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL;
    struct order_input in = {0};
    /* On the stack (~13 KiB of a thread's 8 MiB): from the heap, a block this size made
     * malloc consolidate its free lists on most orders. */
    struct pack_hosts hosts;
    hosts.count = 0;
    char why[PACK_RULES_MSG_SIZE];
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0 ||
        decode_order(req, body, &in) < 0)
        goto out;
    struct pack_order order = {in.ca,    in.type,      in.method, (int)in.validity,
                               in.hosts, in.host_count};
    if (pack_rules_check_order(&order, zone.name, &hosts, why, sizeof why) < 0) {
        request_fail(req, API_E_INVALID, "%s", why);
        goto out;
    }
    /* The rules accepted both names: they parse. */
    if (pack_ca_parse(in.ca, &in.ca_id) < 0 || pack_method_parse(in.method, &in.method_id) < 0) {
        request_fail(req, API_E_INTERNAL, NULL);
        goto out;
    }
    if (api_acme_method_refused(req, in.ca_id, in.method_id) < 0)
        goto out;
    order_pack(req, &zone, &in, &hosts);
out:
    xfree(in.hosts);
    json_decref(body);
}

int api_pack_change(struct request *req, struct store_zone *zone, struct store_pack *p,
                    api_pack_change_fn change, void *ctx)
{
    /* The worker saves packs too: a version conflict means it moved the pack between our
     * read and our write. Re-read and re-apply (the change re-checks the status), a few
     * times; only a pack that keeps changing gives up. */
    for (int attempt = 0; attempt < PACK_CHANGE_ATTEMPTS; attempt++) {
        if (api_visible_pack(req, zone, p) < 0)
            return -1;
        if (change(req, zone, p, ctx) < 0) {
            store_pack_clear(p);
            return -1;
        }
        int64_t now = util_now_us();
        int rc = store_pack_update(req->app->store, p, NULL, NULL, now, now);
        if (rc == STORE_OK) {
            p->version++;
            p->modified_on = now;
            worker_wake(req->app->worker);
            return 0;
        }
        store_pack_clear(p);
        if (rc != STORE_CONFLICT) {
            api_store_failed(req, rc, "pack update");
            return -1;
        }
    }
    request_fail(req, API_E_BAD_STATUS, "Certificate pack %s keeps changing; try again",
                 req->params[1]);
    return -1;
}

static void status_error(struct request *req, const struct store_pack *p, const char *what)
{
    request_fail(req, API_E_BAD_STATUS, "Certificate pack %s is %s: %s", p->id,
                 pack_status_name(p->status), what);
}

static int delete_change(struct request *req, const struct store_zone *zone, struct store_pack *p,
                         void *ctx)
{
    enum pack_status status = p->status;
    if (p->type == STORE_PACK_UNIVERSAL) {
        status_error(req, p, "the universal pack is removed by disabling Universal SSL");
        return -1;
    }
    if (!pack_state_can_delete(status)) {
        status_error(req, p, "it is already being deleted");
        return -1;
    }
    p->status = PACK_PENDING_DELETION;
    p->status_since = util_now_us();
    p->check_failures = 0;
    return 0;
}

void certificate_packs_delete(struct request *req)
{
    struct store_zone zone;
    struct store_pack p;
    if (api_pack_change(req, &zone, &p, delete_change, NULL) < 0)
        return;
    request_ok(req, json_pack("{s:s}", "id", p.id));
    store_pack_clear(&p);
}

int api_pack_new_records(struct request *req, const struct store_zone *zone, struct store_pack *p,
                         enum pack_method method)
{
    if (pack_records_build_dcv(p, method, zone->name, zone->id, req->app->config.dcv_domain) < 0) {
        request_fail(req, API_E_INTERNAL, NULL);
        return -1;
    }
    store_pack_errors_clear(p);
    p->validation_method = method;
    p->status = PACK_PENDING_VALIDATION;
    p->status_since = util_now_us();
    p->check_failures = 0;
    return 0;
}

struct patch_input {
    bool has_branding, branding;
};

/* validation_timed_out → pending_validation with fresh records; cloudflare_branding on a
 * live pack (an active one is re-issued in place by the worker, which sees the served
 * certificate no longer matches, SPEC §4.2). */
static int patch_change(struct request *req, const struct store_zone *zone, struct store_pack *p,
                        void *ctx)
{
    const struct patch_input *in = ctx;
    enum pack_status status = p->status;
    enum pack_method method = p->validation_method;
    if (pack_state_can_restart(status)) {
        if (api_pack_new_records(req, zone, p, method) < 0)
            return -1;
    } else if (!(in->has_branding && pack_state_can_rebrand(status))) {
        status_error(req, p,
                     "only a validation_timed_out pack can be restarted, and "
                     "cloudflare_branding changed on a live pack");
        return -1;
    }
    if (in->has_branding)
        p->cloudflare_branding = in->branding;
    return 0;
}

int api_pack_exists(struct request *req)
{
    struct store_zone zone;
    struct store_pack p;
    if (api_visible_pack(req, &zone, &p) < 0)
        return -1;
    store_pack_clear(&p);
    return 0;
}

void certificate_packs_patch(struct request *req)
{
    struct store_zone zone;
    struct store_pack p;
    json_t *body = NULL;
    struct patch_input in = {0};
    if (api_pack_exists(req) < 0 || input_json_object(req, true, &body) < 0)
        return;
    /* null counts as absent (as for every optional field): it never clears the branding. */
    json_t *branding = json_object_get(body, "cloudflare_branding");
    in.has_branding = branding && !json_is_null(branding);
    int rc = input_bool(req, body, "cloudflare_branding", "cloudflare_branding", INPUT_OPTIONAL,
                        &in.branding);
    json_decref(body);
    if (rc < 0 || api_pack_change(req, &zone, &p, patch_change, &in) < 0)
        return;
    json_t *obj = api_pack_json(req, &p);
    if (obj)
        request_ok(req, obj);
    store_pack_clear(&p);
}
