/* Automatic SSL/TLS (SPEC §4.7, seed 004): the zone setting ssl_automatic_mode ("auto" or
 * "custom") and the deprecated SSL/TLS recommendation that reports it. tlsward runs no
 * scanner; next_scheduled_scan is the next midnight UTC while the mode is "auto". */
#include "api/api.h"

#include <string.h>

#include "app.h"
#include "common/util.h"
#include "http/input.h"

#define DAY_US (86400LL * 1000000LL)

static const char *const ssl_modes[] = {"auto", "custom", NULL};

/* The setting object `id` for the visible zone; NULL after recording a failure. */
static json_t *ssl_mode_json(struct request *req, const struct store_zone *zone, const char *id,
                             bool editable)
{
    char value[STORE_SSL_MODE_SIZE];
    int64_t modified_on = 0;
    int rc = store_zone_ssl_mode_get(req->app->store, zone->id, value, &modified_on);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "ssl automatic mode");
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "id", id, "value", value, "editable", editable,
                          "modified_on", api_time(modified_on));
    if (strcmp(value, "auto") == 0) {
        int64_t now = util_now_us();
        json_object_set_new(o, "next_scheduled_scan", api_time(now - now % DAY_US + DAY_US));
    }
    return o;
}

void zone_settings_ssl_mode_get(struct request *req)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    json_t *o = ssl_mode_json(req, &zone, "ssl_automatic_mode", true);
    if (o)
        request_ok(req, o);
}

void zone_settings_ssl_mode_patch(struct request *req)
{
    struct store_zone zone;
    json_t *body = NULL;
    const char *value = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0 ||
        input_enum(req, body, "value", "value", INPUT_REQUIRED, ssl_modes, &value) < 0)
        goto out;
    int rc = store_zone_ssl_mode_set(req->app->store, zone.id, value, util_now_us());
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "ssl automatic mode");
        goto out;
    }
    json_t *o = ssl_mode_json(req, &zone, "ssl_automatic_mode", true);
    if (o)
        request_ok(req, o);
out:
    json_decref(body);
}

/* Seed 004 gives the recommendation the automatic mode's enum ("auto" | "custom"), not an
 * SSL mode: Cloudflare retired the Recommender for Automatic SSL/TLS and the endpoint now
 * reports that setting. tlsward does the same; it cannot be changed here (editable false:
 * the route has no write method — PATCH ssl_automatic_mode changes it). */
void zone_settings_ssl_recommendation_get(struct request *req)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    json_t *o = ssl_mode_json(req, &zone, "ssl_recommendation", false);
    if (o)
        request_ok(req, o);
}
