/* Operations endpoints, unauthenticated as Prometheus and load balancers expect:
 * /healthz (200, or 503 when the store is unusable) and /metrics (counts only). */
#include "api/api.h"

#include "app.h"
#include "common/alloc.h"
#include "http/metrics.h"

#include <string.h>

void ops_healthz(struct request *req)
{
    bool ok = store_ping(req->app->store) == STORE_OK;
    char *body = xstrdup(ok ? "{\"status\":\"ok\"}" : "{\"status\":\"unavailable\"}");
    request_raw(req, ok ? 200 : 503, "application/json", body, strlen(body));
}

void ops_metrics(struct request *req)
{
    char *text;
    size_t len;
    metrics_render(req->app->metrics, &text, &len);
    request_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
