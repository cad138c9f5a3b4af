/* Prometheus metrics: requests by route and status, and a latency histogram per route.
 * Lock-free counters (C11 atomics) indexed by route, so recording costs a few adds.
 * Labels carry route patterns, never ids or secrets. */
#ifndef TLSWARD_HTTP_METRICS_H
#define TLSWARD_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http/router.h"

struct metrics;

/* The route table is borrowed and must outlive the metrics. */
struct metrics *metrics_create(const struct route *routes, size_t route_count);
void metrics_destroy(struct metrics *m);

/* Records one finished request; route NULL means no route matched. */
void metrics_record(struct metrics *m, const struct route *route, int status, int64_t micros);

/* Records how long one certificate issuance took (the worker). */
void metrics_observe_issuance(struct metrics *m, int64_t micros);

/* ACME (the worker's upstream calls): one HTTP exchange with `endpoint` (index < 
 * METRICS_ACME_ENDPOINTS and its static name), by status class (0: no response); one
 * order's outcome ("valid", "invalid", "failed": a static string of those three); and the
 * time from opening a pack's issuance to both certificates in hand. */
#define METRICS_ACME_ENDPOINTS 16
void metrics_acme_request(struct metrics *m, int endpoint, const char *name, int http_status);
void metrics_acme_order(struct metrics *m, const char *outcome);
void metrics_observe_acme_issuance(struct metrics *m, int64_t micros);

/* Renders the Prometheus text exposition; caller xfree's *out. */
void metrics_render(struct metrics *m, char **out, size_t *len);

#endif
