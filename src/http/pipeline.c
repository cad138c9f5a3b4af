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

static int route_request(struct request *req, const struct route *routes, size_t route_count)
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
    return 0;
}

/* True for the methods whose handlers read a body (every one of them decodes it with
 * input_json_object). */
static bool takes_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* GET and HEAD handlers only read (a write under them is refused by the store and shows
 * as a 500 in the tests), so such a request runs in one read snapshot of the store, from
 * its credential to its response: one connection borrowed and one transaction per request
 * instead of one per lookup, and lookups that agree with each other (a pack and its
 * certificates from the same commit). */
static bool read_only(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* A body is on its way: the snapshot is then not held while it arrives (a slow upload
 * would keep a pooled connection busy); the handler gets its own. */
static bool announces_body(const struct request *req)
{
    const char *length = request_header(req, "Content-Length");
    return (length && strcmp(length, "0") != 0) || request_header(req, "Transfer-Encoding");
}

/* Begins a snapshot for a read-only request. When that fails the request runs without
 * (each lookup then fails or succeeds on its own, with the same errors as ever). */
static bool snapshot_begin(struct request *req)
{
    if (!req->app || !req->app->store || !read_only(req->method))
        return false;
    return store_snapshot_begin(req->app->store) == STORE_OK;
}

/* The server calls pipeline_admit and pipeline_handle in different callbacks, which a
 * thread pool may run on different threads with other connections' callbacks in between:
 * the snapshot is suspended into the request in between (not left pinned to the thread),
 * and resumed by pipeline_handle (or released by request_free if it never comes). */
int pipeline_admit(struct request *req, const struct route *routes, size_t route_count)
{
    if (route_request(req, routes, route_count) < 0)
        return -1;
    bool needs_auth = req->route->auth != ROUTE_AUTH_NONE;
    if (needs_auth && enforce_failure_limit(req) < 0)
        return -1; /* before the snapshot too: a refusal costs no store work at all */
    bool began = !announces_body(req) && snapshot_begin(req);
    int rc = 0;
    if (needs_auth && (authenticate(req) < 0 || enforce_rate_limit(req) < 0 || authorise(req) < 0))
        rc = -1;
    if (began) {
        if (rc == 0)
            req->snapshot = store_snapshot_suspend(req->app->store);
        else
            store_snapshot_end(req->app->store);
    }
    return rc;
}

/* An oversized body answers 413 where the body is checked: after the zone and the object
 * (a 2 MiB PATCH of an unknown pack is 404, like any bad body there). A route that takes no
 * body has no such step, so it answers 413 at once. */
static void handle(struct request *req, bool body_too_large)
{
    if (body_too_large && !takes_body(req->method)) {
        request_fail(req, API_E_TOO_LARGE, "request body larger than %d bytes", REQUEST_BODY_MAX);
        return;
    }
    req->body_too_large = body_too_large;
    req->route->handler(req);
}

void pipeline_handle(struct request *req, bool body_too_large)
{
    bool began;
    if (req->snapshot) {
        struct store_snapshot *snap = req->snapshot;
        req->snapshot = NULL;
        began = store_snapshot_resume(req->app->store, snap) == STORE_OK;
        if (!began)
            store_snapshot_release(req->app->store, snap);
    } else {
        began = snapshot_begin(req);
    }
    handle(req, body_too_large);
    if (began)
        store_snapshot_end(req->app->store);
}

void pipeline_run(struct request *req, const struct route *routes, size_t route_count,
                  bool body_too_large)
{
    if (pipeline_admit(req, routes, route_count) == 0)
        pipeline_handle(req, body_too_large);
}
