/* Helpers shared by the resource handlers: zone visibility, store failures, times. */
#include "api/api.h"

#include "app.h"
#include "common/log.h"
#include "common/util.h"
#include "http/auth.h"

int api_visible_zone(struct request *req, struct store_zone *zone)
{
    const char *zone_id = req->params[0];
    if (!util_is_id(zone_id)) {
        request_fail_zone(req, zone_id);
        return -1;
    }
    int rc = store_zone_get(req->app->store, zone_id, zone);
    if (rc == STORE_OK && auth_can_see_zone(&req->principal, zone))
        return 0;
    if (rc == STORE_OK || rc == STORE_NOT_FOUND)
        request_fail_zone(req, zone_id);
    else
        api_store_failed(req, rc, "zone lookup");
    return -1;
}

void api_store_failed(struct request *req, int rc, const char *what)
{
    log_msg(LOG_ERROR, "request %s: store error %d during %s", req->request_id, rc, what);
    request_fail(req, API_E_INTERNAL, NULL);
}

json_t *api_time(int64_t us)
{
    if (!us)
        return json_null();
    char buf[UTIL_TIME_LEN];
    util_format_time(us, buf);
    return json_string(buf);
}
