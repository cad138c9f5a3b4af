/* Zones (SPEC §4.1): enough of Cloudflare's Zones API for the SSL API to stand on —
 * create, list with filters and pagination, get, delete (hides the zone at once; a
 * worker job removes what it deployed and then its rows). */
#include "api/api.h"

#include <ctype.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/hostname.h"
#include "http/auth.h"
#include "http/input.h"
#include "worker/worker.h"

#define ZONE_DEFAULT_QUOTA 50

/* Cloudflare's permission strings for what this credential may do on the zone. */
static json_t *zone_permissions(unsigned bits)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{PERM_ZONE_READ, "#zone:read"}, {PERM_ZONE_WRITE, "#zone:edit"},
                 {PERM_SSL_READ, "#ssl:read"},   {PERM_SSL_WRITE, "#ssl:edit"}};
    json_t *list = json_array();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (bits & names[i].bit)
            json_array_append_new(list, json_string(names[i].name));
    return list;
}

static json_t *name_servers(const struct app_config *cfg)
{
    json_t *list = json_array();
    for (int i = 0; i < cfg->name_server_count; i++)
        json_array_append_new(list, json_string(cfg->name_servers[i]));
    return list;
}

/* Cloudflare's zone object. */
static json_t *zone_json(const struct request *req, const struct store_zone *z)
{
    json_t *plan = json_pack("{s:s, s:s, s:b, s:s, s:b, s:s, s:b, s:b, s:s, s:i}", "id",
                             "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name", "Free Website",
                             "can_subscribe", 0, "currency", "USD", "externally_managed", 0,
                             "frequency", "", "is_subscribed", 1, "legacy_discount", 0,
                             "legacy_id", "free", "price", 0);
    json_t *meta = json_pack("{s:b, s:i, s:b, s:b, s:i, s:b, s:i}", "cdn_only", 0,
                             "custom_certificate_quota", 0, "dns_only", 0, "foundation_dns", 0,
                             "page_rule_quota", 3, "phishing_detected", 0, "step", 2);
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:i, s:o, s:o, s:n, s:n, s:n,"
                     " s:{s:s, s:s}, s:{s:s, s:s, s:s, s:n}, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "id", z->id, "name", z->name, "status", store_zone_status_name(z->status),
                     "paused", 0, "type", store_zone_type_name(z->type), "development_mode", 0,
                     "name_servers", name_servers(&req->app->config), "original_name_servers",
                     json_array(), "original_registrar", "original_dnshost", "vanity_name_servers",
                     "account", "id", z->account_id, "name", z->account_name, "owner", "id",
                     z->owner_user_id, "type", "user", "email", z->owner_email, "name",
                     "permissions", zone_permissions(req->principal.permissions), "plan", plan,
                     "meta", meta, "created_on", api_time(z->created_on), "modified_on",
                     api_time(z->modified_on), "activated_on", api_time(z->activated_on));
}

/* Validates a zone name: a hostname of at least two labels, no wildcard. */
static int parse_zone_name(struct request *req, const char *raw, char out[HOSTNAME_SIZE])
{
    const char *why = NULL;
    if (hostname_normalize(raw, HOSTNAME_REQUIRE_DOT, out, &why) == 0)
        return 0;
    request_fail(req, API_E_INVALID, "name: \"%.253s\" is not a valid domain name (%s)", raw, why);
    return -1;
}

/* Checks that the caller may create zones in this account: a token of that account not
 * limited to some zones, or the user owning it. Unknown and foreign accounts look alike. */
static int usable_account(struct request *req, const char *account_id, struct store_account *acct)
{
    int rc = util_is_id(account_id) ? store_account_get(req->app->store, account_id, acct)
                                    : STORE_NOT_FOUND;
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        api_store_failed(req, rc, "account lookup");
        return -1;
    }
    if (rc == STORE_OK && auth_can_use_account(&req->principal, acct) &&
        !req->principal.zone_scope[0])
        return 0;
    request_fail(req, API_E_FORBIDDEN, "Unauthorized to access requested resource: account %.64s",
                 account_id);
    return -1;
}

static int decode_create(struct request *req, json_t *body, const char **name,
                         const char **account_id, const char **type)
{
    json_t *account = NULL;
    if (input_string(req, body, "name", "name", INPUT_REQUIRED, name) < 0 ||
        input_object(req, body, "account", "account", INPUT_REQUIRED, &account) < 0 ||
        input_string(req, account, "id", "account.id", INPUT_REQUIRED, account_id) < 0 ||
        input_enum(req, body, "type", "type", INPUT_OPTIONAL, store_zone_type_names, type) < 0)
        return -1;
    return 0;
}

void zones_create(struct request *req)
{
    json_t *body;
    if (input_json_object(req, false, &body) < 0)
        return;
    const char *raw_name = NULL, *account_id = NULL, *type = "full";
    char name[HOSTNAME_SIZE];
    struct store_account account;
    if (decode_create(req, body, &raw_name, &account_id, &type) < 0 ||
        parse_zone_name(req, raw_name, name) < 0 || usable_account(req, account_id, &account) < 0)
        goto out;

    int64_t now = util_now_us();
    struct store_zone zone = {.universal_ssl = true, .advanced_quota = ZONE_DEFAULT_QUOTA,
                              .created_on = now, .modified_on = now, .activated_on = now};
    util_random_id(zone.id);
    memcpy(zone.account_id, account.id, sizeof zone.account_id);
    snprintf(zone.name, sizeof zone.name, "%s", name);
    store_zone_type_parse(type, &zone.type); /* decode_create accepted only these names */
    zone.status = STORE_ZONE_ACTIVE;

    /* A new zone has Universal SSL: its pack is ordered in the same transaction. */
    struct store_pack universal;
    api_universal_pack(&zone, now, &universal);
    int rc = store_zone_create_with_pack(req->app->store, &zone, &universal);
    store_pack_clear(&universal);
    if (rc == STORE_OK)
        worker_wake(req->app->worker);
    if (rc == STORE_CONFLICT) {
        request_fail(req, API_E_ZONE_EXISTS, "%s already exists", name);
        goto out;
    }
    if (rc == STORE_OK)
        rc = store_zone_get(req->app->store, zone.id, &zone);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "zone create");
        goto out;
    }
    request_ok(req, zone_json(req, &zone));
out:
    json_decref(body);
}

/* A query parameter given as "account.id" or, as some clients encode it, "account[id]". */
static const char *nested_query(struct request *req, const char *dotted, const char *bracketed)
{
    const char *v = request_query(req, dotted);
    return v ? v : request_query(req, bracketed);
}

/* The optional `name` filter, lower-cased as zone names are stored. */
static int name_filter(struct request *req, char out[HOSTNAME_SIZE], const char **filter)
{
    const char *raw = request_query(req, "name");
    *filter = NULL;
    if (!raw)
        return 0;
    size_t len = strlen(raw);
    if (len > HOSTNAME_MAX + 1) {
        request_fail(req, API_E_INVALID, "name: longer than %d characters", HOSTNAME_MAX);
        return -1;
    }
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)raw[i]);
    *filter = out;
    return 0;
}

void zones_list(struct request *req)
{
    struct paging paging;
    struct store_zone_filter filter = {.who = auth_visibility(&req->principal),
                                       .account_id = nested_query(req, "account.id", "account[id]")};
    char name[HOSTNAME_SIZE + 1];
    const char *status = NULL;
    enum store_zone_status wanted;
    if (input_paging(req, &paging) < 0 || name_filter(req, name, &filter.name) < 0 ||
        input_query_enum(req, "status", store_zone_status_names, &status) < 0)
        return;
    if (status && store_zone_status_parse(status, &wanted) == 0)
        filter.status = &wanted;
    filter.offset = (paging.page - 1) * paging.per_page;
    filter.limit = paging.per_page;

    struct store_zone *zones = NULL;
    int count = 0, total = 0;
    int rc = store_zone_list(req->app->store, &filter, &zones, &count, &total);
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "zone list");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(items, zone_json(req, &zones[i]));
    xfree(zones);
    request_list(req, items, input_result_info(&paging, count, total));
}

void zones_get(struct request *req)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    request_ok(req, zone_json(req, &zone));
}

/* Deleting a zone is a durable job (worker/zone_jobs.c): the request only hides the zone,
 * revokes its client certificates and schedules the job, in one transaction. */
void zones_delete(struct request *req)
{
    struct store_zone zone;
    if (api_visible_zone(req, &zone) < 0)
        return;
    int rc = store_zone_delete_request(req->app->store, zone.id, util_now_us());
    if (rc == STORE_NOT_FOUND) { /* deleted concurrently: same answer as unknown */
        request_fail_zone(req, zone.id);
        return;
    }
    if (rc != STORE_OK) {
        api_store_failed(req, rc, "zone delete");
        return;
    }
    worker_wake(req->app->worker);
    request_ok(req, json_pack("{s:s}", "id", zone.id));
}
