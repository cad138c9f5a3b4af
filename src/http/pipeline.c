/* The shared request pipeline. Order matters and is Cloudflare's: an unknown route is
 * reported before credentials are looked at, credentials before permissions, and the
 * permission check does not depend on whether the target exists (no existence leak). */
#include "http/pipeline.h"

#include "app.h"
#include "common/util.h"
#include "http/auth.h"
#include "http/ratelimit.h"

/* Rate limiting keys on the credential, so each token (or user) has its own budget. */
static int enforce_rate_limit(struct request *req)
{
    struct ratelimit *rl = req->app->ratelimit;
    long retry_after = 0;
    if (!rl || ratelimit_take(rl, req->principal.id, util_mono_us(), &retry_after))
        return 0;
    req->retry_after = retry_after;
    request_fail(req, API_E_RATE_LIMITED, NULL);
    return -1;
}

static int authorise(struct request *req)
{
    if (permission_allows(req->principal.permissions, req->route->permission))
        return 0;
    request_fail(req, API_E_FORBIDDEN, NULL);
    return -1;
}

void pipeline_run(struct request *req, const struct route *routes, size_t route_count,
                  bool body_too_large)
{
    if (body_too_large) {
        request_fail(req, API_E_TOO_LARGE, "request body larger than %d bytes", REQUEST_BODY_MAX);
        return;
    }
    switch (router_match(routes, route_count, req->method, req->path, req)) {
    case ROUTER_NO_ROUTE:
        request_fail(req, API_E_NO_ROUTE, NULL);
        return;
    case ROUTER_METHOD:
        request_fail(req, API_E_METHOD, "Method %s not allowed for %s", req->method, req->path);
        return;
    case ROUTER_MATCH:
        break;
    }
    if (req->route->auth != ROUTE_AUTH_NONE) {
        int rc = req->route->auth == ROUTE_AUTH_VERIFY ? auth_authenticate_token(req)
                                                       : auth_authenticate(req);
        if (rc < 0 || enforce_rate_limit(req) < 0 || authorise(req) < 0)
            return;
    }
    req->route->handler(req);
}
