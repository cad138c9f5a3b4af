/* Table-driven routing: (method, path pattern) → handler. Patterns are '/'-separated
 * segments where ":name" matches one non-empty segment and is captured in order. When two
 * patterns match, the one with more literal segments wins, so ".../certificate_packs/quota"
 * beats ".../certificate_packs/:id" wherever it stands in the table. */
#ifndef TLSWARD_HTTP_ROUTER_H
#define TLSWARD_HTTP_ROUTER_H

#include <stddef.h>

#include "http/request.h"

enum route_auth {
    ROUTE_AUTH_NONE,     /* public: /healthz, /metrics, /pki/... */
    ROUTE_AUTH_REQUIRED, /* bearer token or global key, then `permission` */
    ROUTE_AUTH_VERIFY,   /* bearer token only, 401/1000 when invalid (token verify) */
};

typedef void (*route_handler_fn)(struct request *req);

struct route {
    const char *method;
    const char *pattern;
    route_handler_fn handler;
    enum route_auth auth;
    unsigned permission; /* PERM_* bits the credential needs */
};

enum router_result { ROUTER_MATCH = 0, ROUTER_NO_ROUTE = -1, ROUTER_METHOD = -2 };

/* Finds the route for method+path. On ROUTER_MATCH, sets req->route and req->params; on
 * ROUTER_METHOD, fills req->allow with the methods the path accepts ("GET, POST"). A single
 * trailing slash is ignored. */
enum router_result router_match(const struct route *table, size_t count, const char *method,
                                const char *path, struct request *req);

/* The index of a route in its table (for per-route metrics). */
size_t router_index(const struct route *table, const struct route *r);

#endif
