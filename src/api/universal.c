/* Universal SSL (SPEC §4.5): every zone with it enabled has one universal pack for
 * [apex, *.apex], validated by TXT, outside the advanced quota. Settings turn it off (the
 * pack goes through pending_deletion) and on (a new pack is ordered). */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/hostname.h"
#include "core/pack_state.h"
#include "http/input.h"
#include "worker/worker.h"

#define UNIVERSAL_CA PACK_CA_LETS_ENCRYPT
#define UNIVERSAL_VALIDITY_DAYS 90

void api_universal_pack(const struct store_zone *zone, int64_t now, struct store_pack *p)
{
    memset(p, 0, sizeof *p);
    util_random_id(p->id);
    snprintf(p->zone_id, sizeof p->zone_id, "%s", zone->id);
    p->type = STORE_PACK_UNIVERSAL;
    p->status = PACK_INITIALIZING;
    p->certificate_authority = UNIVERSAL_CA;
    p->validation_method = PACK_METHOD_TXT;
    p->validity_days = UNIVERSAL_VALIDITY_DAYS;
    /* [apex, *.apex]; an apex of 252-253 characters leaves no room for "*." (a hostname
     * is at most 253), and then the pack covers the apex alone. */
    store_pack_host_add(p, zone->name); /* a zone name always fits */
    if (strlen(zone->name) + 2 <= HOSTNAME_MAX) {
        char wildcard[sizeof zone->name + 2];
        snprintf(wildcard, sizeof wildcard, "*.%s", zone->name);
        store_pack_host_add(p, wildcard);
    }
    p->status_since = p->created_on = p->modified_on = now;
}

void universal_settings_get(struct request *req)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    request_ok(req, json_pack("{s:b}", "enabled", zone.universal_ssl));
}

void universal_settings_patch(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL;
    bool enabled = false;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, true, &body) < 0)
        goto out;
    /* enabled is optional (seed 004): without it (or null) nothing changes. */
    enabled = zone.universal_ssl;
    if (input_bool(req, body, "enabled", "enabled", INPUT_OPTIONAL, &enabled) < 0)
        goto out;
    if (enabled == zone.universal_ssl) {
        request_ok(req, json_pack("{s:b}", "enabled", enabled));
        goto out;
    }
    int64_t now = util_now_us();
    struct store_pack pack = {0};
    if (enabled)
        api_universal_pack(&zone, now, &pack);
    int rc =
        store_zone_set_universal(req->app->store, zone.id, enabled, enabled ? &pack : NULL, now);
    store_pack_clear(&pack);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "universal settings");
        goto out;
    }
    worker_wake(req->app->worker);
    request_ok(req, json_pack("{s:b}", "enabled", enabled));
out:
    json_decref(body);
}
