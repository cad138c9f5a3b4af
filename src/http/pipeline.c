/* The shared request pipeline. Order matters and is Cloudflare's: an unknown route is
 * reported before credentials are looked at, credentials before the rate limit, the rate
 * limit before permissions, and the permission check does not depend on whether the target
 * exists (no existence leak). All of that needs only the request line and headers, so the
 * server runs it before reading a body: nobody gets an upload buffered without credentials.
 *
 * Failed authentication is limited per client address (a token bucket of --auth-fail-limit,
 * the same limiter as --rate-limit). Once an address has used up its failures, every request
 * from it that needs credentials is answered 429 before its credentials are looked at, a
 * valid one too. Letting valid credentials through would answer 429 to a wrong guess and 200
 * to a right one, so the limit would not slow guessing at all, and the answer (and its
 * timing) would depend on the credential; refusing them all keeps the answer independent of
 * it and costs no hashing or store lookup. The price: a valid client behind the same address
 * as a misbehaving one waits too, for as long as failures keep coming (one failure is
 * forgiven every window/N; Retry-After says when). */
#include "http/pipeline.h"

#include <string.h>

#include "app.h"
#include "store/store.h"
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

/* 429 when the client's address has no failed authentication left. */
static int enforce_failure_limit(struct request *req)
{
    struct ratelimit *rl = req->app->auth_failures;
    long retry_after = 0;
    if (!rl || !req->client_key[0] ||
        ratelimit_check(rl, req->client_key, util_mono_us(), &retry_after))
        return 0;
    req->retry_after = retry_after;
    request_fail(req, API_E_RATE_LIMITED, NULL);
    return -1;
}

/* Counts a failed authentication against the client's address. A store failure (500) is
 * ours, not the client's, and does not count. */
static void count_failure(struct request *req)
{
    struct ratelimit *rl = req->app->auth_failures;
    long retry_after;
    if (rl && req->client_key[0] && req->status != 500)
        ratelimit_take(rl, req->client_key, util_mono_us(), &retry_after);
}

static int authenticate(struct request *req)
{
    if (enforce_failure_limit(req) < 0)
        return -1;
    int rc = req->route->auth == ROUTE_AUTH_VERIFY ? auth_authenticate_token(req)
                                                   : auth_authenticate(req);
    if (rc < 0)
        count_failure(req);
    return rc;
}

static int authorise(struct request *req)
{
    if (permission_allows(req->principal.permissions, req->route->permission))
        return 0;
    request_fail(req, API_E_FORBIDDEN, NULL);
    return -1;
}

int pipeline_admit(struct request *req, const struct route *routes, size_t route_count)
{
    switch (router_match(routes, route_count, req->method, req->path, req)) {
    case ROUTER_NO_ROUTE:
        request_fail(req, API_E_NO_ROUTE, NULL);
        return -1;
    case ROUTER_METHOD:
        request_fail(req, API_E_METHOD, "Method %s not allowed for %s", req->method, req->path);
        return -1;
    case ROUTER_MATCH:
        break;
    }
    if (req->route->auth == ROUTE_AUTH_NONE)
        return 0;
    if (authenticate(req) < 0 || enforce_rate_limit(req) < 0 || authorise(req) < 0)
        return -1;
    return 0;
}

/* True for the methods whose handlers read a body (every one of them decodes it with
 * input_json_object). */
static bool takes_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* An oversized body answers 413 where the body is checked: after the zone and the object
 * (a 2 MiB PATCH of an unknown pack is 404, like any bad body there). A route that takes no
 * body has no such step, so it answers 413 at once. */
/* GET and HEAD handlers only read (a write under them is refused by the store and shows
 * as a 500 in the tests), so each runs in one read snapshot of the store: one connection
 * borrowed and one transaction per request instead of one per lookup, and lookups that
 * agree with each other (a pack and its certificates from the same commit). */
static bool read_only(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Begins the request's snapshot unless it has one. When that fails the request runs
 * without (each lookup then fails or succeeds on its own, with the same errors as ever). */
static bool snapshot_begin(struct request *req)
{
    if (req->snapshot || !req->app || !req->app->store || !read_only(req->method))
        return false;
    req->snapshot = store_snapshot_begin(req->app->store) == STORE_OK;
    return req->snapshot;
}

static void snapshot_end(struct request *req, bool began)
{
    if (!began)
        return;
    store_snapshot_end(req->app->store);
    req->snapshot = false;
}

static void handle(struct request *req, bool body_too_large)
{
    if (body_too_large && !takes_body(req->method)) {
        request_fail(req, API_E_TOO_LARGE, "request body larger than %d bytes", REQUEST_BODY_MAX);
        return;
    }
    req->body_too_large = body_too_large;
    req->route->handler(req);
}

/* The server calls this in a later callback than pipeline_admit, which a thread pool may
 * run on another thread, with other connections' callbacks in between: a snapshot cannot
 * be held across the two, so admission (one lookup: the credential) runs on its own. */
void pipeline_handle(struct request *req, bool body_too_large)
{
    bool began = snapshot_begin(req);
    handle(req, body_too_large);
    snapshot_end(req, began);
}

/* Here the whole request is on one thread: one snapshot covers admission and handler. */
void pipeline_run(struct request *req, const struct route *routes, size_t route_count,
                  bool body_too_large)
{
    bool began = snapshot_begin(req);
    if (pipeline_admit(req, routes, route_count) == 0)
        pipeline_handle(req, body_too_large);
    snapshot_end(req, began);
}
