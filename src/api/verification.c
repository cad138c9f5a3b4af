/* SSL verification (seed 004, SPEC §4.4): the validation state of every live pack of a
 * zone, a re-check on demand (?retry=true), and switching a pending pack's method. */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/pack_records.h"
#include "core/pack_rules.h"
#include "core/pack_state.h"
#include "http/input.h"
#include "worker/worker.h"

/* verification_info: the name and target of the pack's first record still pending, or
 * NULL when there is none (validation over, or e-mail records, which have neither). */
static json_t *verification_info(const struct store_pack *p, enum pack_status status)
{
    if (!pack_state_shows_records(status))
        return NULL;
    for (int i = 0; i < p->validation_record_count; i++) {
        const struct store_validation_record *r = &p->validation_records[i];
        const char *name = r->txt_name[0] ? r->txt_name : r->http_url;
        const char *target = r->txt_name[0] ? r->txt_value : r->http_body;
        if (strcmp(r->status, "pending") == 0 && name[0] && target[0])
            return json_pack("{s:s, s:s}", "record_name", name, "record_target", target);
    }
    return NULL;
}

/* The primary certificate's signature; before the first issuance, the one it will have
 * (every pack's primary is its ECDSA certificate). NULL after recording a store failure. */
static const char *primary_signature(struct request *req, const struct store_pack *p, char out[24])
{
    snprintf(out, 24, "ECDSAWithSHA256");
    if (!p->cert_generation)
        return out;
    struct store_pack_cert *certs = NULL;
    int count = 0;
    int rc = store_pack_certs(req->app->store, p->id, p->cert_generation, &certs, &count);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "pack certificates");
        return NULL;
    }
    if (count)
        snprintf(out, 24, "%s", certs[0].signature);
    store_pack_cert_list_free(certs, count);
    return out;
}

/* One element of the verification list, or NULL for packs that are not live (or after a
 * store failure, recorded). */
static json_t *verification_json(struct request *req, const struct store_pack *p)
{
    enum pack_status status = p->status;
    char signature[24];
    const char *certificate_status = pack_state_verification_status(status);
    if (!certificate_status || !primary_signature(req, p, signature))
        return NULL;
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "certificate_status",
                          certificate_status, "cert_pack_uuid", p->id, "signature", signature,
                          "validation_method", pack_method_name(p->validation_method),
                          "verification_status", status == PACK_ACTIVE, "brand_check", 0);
    json_t *info = verification_info(p, status);
    if (info)
        json_object_set_new(v, "verification_info", info);
    return v;
}

/* ?retry=true: packs waiting for validation are checked now. */
static void retry_pending(struct request *req, const struct store_pack *p)
{
    if (p->status == PACK_PENDING_VALIDATION &&
        store_job_schedule(req->app->store, STORE_PACK_JOB, p->id, util_now_us()) == STORE_OK)
        worker_wake(req->app->worker);
}

void verification_get(struct request *req)
{
    static const char *const booleans[] = {"true", "false", NULL};
    struct store_zone zone;
    const char *retry = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_query_enum(req, "retry", booleans, &retry) < 0)
        return;
    json_t *items = json_array();
    struct store_pack_filter f = {.zone_id = zone.id, .limit = 50};
    for (int total = 1; f.offset < total; f.offset += f.limit) {
        struct store_pack *packs = NULL;
        int count = 0;
        int rc = store_pack_list(req->app->store, &f, &packs, &count, &total);
        if (rc != STORE_OK) {
            json_decref(items);
            api_store_failed(req, rc, "verification");
            return;
        }
        for (int i = 0; i < count; i++) {
            json_t *v = verification_json(req, &packs[i]);
            if (v)
                json_array_append_new(items, v);
            if (retry && strcmp(retry, "true") == 0)
                retry_pending(req, &packs[i]);
        }
        store_pack_list_free(packs, count);
        if (request_failed(req)) {
            json_decref(items);
            return;
        }
    }
    request_ok(req, items);
}

/* Checks the method against the pack's CA and hosts; 0 or -1 (1004 recorded). */
static int method_allowed(struct request *req, const struct store_pack *p, enum pack_method m)
{
    enum pack_ca ca = p->certificate_authority;
    size_t n;
    char why[PACK_RULES_MSG_SIZE];
    const char **hosts = pack_hosts_vector(p, &n);
    int rc = hosts ? pack_rules_check_method(ca, m, hosts, n, why, sizeof why) : -1;
    if (rc < 0)
        request_fail(req, API_E_INVALID, "%s", hosts ? why : "validation_method: bad hosts");
    else
        rc = api_acme_method_refused(req, ca, m);
    xfree(hosts);
    return rc;
}

/* A pending (or timed-out) pack switches to `method` with fresh records. */
static int switch_change(struct request *req, const struct store_zone *zone, struct store_pack *p,
                         void *ctx)
{
    enum pack_method method = *(const enum pack_method *)ctx;
    if (!pack_state_can_switch_method(p->status)) {
        request_fail(req, API_E_BAD_STATUS,
                     "Certificate pack %s is %s: the validation method "
                     "changes only while validation is pending or timed out",
                     p->id, pack_status_name(p->status));
        return -1;
    }
    return api_pack_new_records(req, zone, p, method);
}

/* Asks the worker to look at the pack now: its validation is checked at once if pending
 * (for a pack past validation the step is whatever its status calls for). 0 or -1. */
static int check_now(struct request *req, const struct store_pack *p)
{
    if (!pack_state_verification_status(p->status)) {
        request_fail(req, API_E_BAD_STATUS,
                     "Certificate pack %s is %s: there is no validation to check", p->id,
                     pack_status_name(p->status));
        return -1;
    }
    int rc = store_job_schedule(req->app->store, STORE_PACK_JOB, p->id, util_now_us());
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "verification check");
        return -1;
    }
    worker_wake(req->app->worker);
    return 0;
}

/* PATCH /ssl/verification/{id} {validation_method?}: an immediate validation check of any
 * live pack; a method other than the pack's switches it (pending or timed-out validation
 * only, with fresh records), and a timed-out validation restarts with fresh records. */
void verification_patch(struct request *req)
{
    static const char *const methods[] = {"http", "txt", "email", "cname", NULL};
    struct store_zone zone;
    struct store_pack p;
    json_t *body = NULL;
    const char *name = NULL;
    enum pack_method method;
    bool have_pack = false;
    if (api_visible_pack(req, &zone, &p) < 0)
        return;
    have_pack = true;
    if (input_json_object(req, true, &body) < 0 ||
        input_enum(req, body, "validation_method", "validation_method", INPUT_OPTIONAL, methods,
                   &name) < 0)
        goto out;
    /* cname: delegated DCV through dcv_delegation_records, with the TXT values published
     * by tlsward at the CNAME targets. */
    if (name)
        pack_method_parse(name, &method); /* every name of `methods` is a method */
    enum pack_status status = p.status;
    bool same = !name || method == p.validation_method;
    /* A timed-out validation is checked again only by restarting it (fresh records);
     * otherwise the same method keeps the records the user may have published. */
    if (same && !pack_state_can_restart(status)) {
        if (check_now(req, &p) == 0)
            request_ok(req, json_pack("{s:s, s:s}", "status", pack_status_name(p.status),
                                      "validation_method", pack_method_name(p.validation_method)));
        goto out;
    }
    if (same)
        method = p.validation_method;
    if (method_allowed(req, &p, method) < 0)
        goto out;
    store_pack_clear(&p);
    have_pack = false;
    if (api_pack_change(req, &zone, &p, switch_change, &method) == 0) {
        have_pack = true;
        request_ok(req, json_pack("{s:s, s:s}", "status", pack_status_name(p.status),
                                  "validation_method", pack_method_name(p.validation_method)));
    }
out:
    if (have_pack)
        store_pack_clear(&p);
    json_decref(body);
}
