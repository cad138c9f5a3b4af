/* Request counters and latency histograms in Prometheus text format. */
#include "http/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

static const int status_codes[] = {200, 400, 401, 403, 404, 405, 413, 429, 500, 503};
#define STATUS_COUNT (sizeof status_codes / sizeof status_codes[0])
#define STATUS_OTHER STATUS_COUNT

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,   5,     10};
#define BUCKET_COUNT (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct route_metrics {
    atomic_uint_fast64_t by_status[STATUS_COUNT + 1];
    /* Non-cumulative, summed when rendered; the extra last one holds slower requests. The
     * count is derived from them so a scrape is consistent under concurrent updates. */
    atomic_uint_fast64_t buckets[BUCKET_COUNT + 1];
    atomic_uint_fast64_t micros_sum;
};

struct metrics {
    const struct route *routes;
    size_t route_count;
    struct route_metrics *per_route; /* route_count + 1: the last is "no route" */
    struct route_metrics issuance;   /* certificate issuance durations (buckets, sum) */
    /* ACME upstream: requests by endpoint and status class (0: none, 1..5: 1xx..5xx, 6:
     * other), orders by outcome, time to issue. */
    _Atomic(const char *) acme_names[METRICS_ACME_ENDPOINTS];
    atomic_uint_fast64_t acme_requests[METRICS_ACME_ENDPOINTS][7];
    atomic_uint_fast64_t acme_orders[3];
    struct route_metrics acme_issuance;
};

static const char *const acme_outcomes[3] = {"valid", "invalid", "failed"};

void metrics_acme_request(struct metrics *m, int endpoint, const char *name, int http_status)
{
    if (!m || endpoint < 0 || endpoint >= METRICS_ACME_ENDPOINTS)
        return;
    int cls = http_status == 0                          ? 0
              : http_status >= 100 && http_status < 600 ? http_status / 100
                                                        : 6;
    atomic_store(&m->acme_names[endpoint], name);
    atomic_fetch_add(&m->acme_requests[endpoint][cls], 1);
}

void metrics_acme_order(struct metrics *m, const char *outcome)
{
    for (int i = 0; m && i < 3; i++)
        if (strcmp(outcome, acme_outcomes[i]) == 0)
            atomic_fetch_add(&m->acme_orders[i], 1);
}

struct metrics *metrics_create(const struct route *routes, size_t route_count)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->routes = routes;
    m->route_count = route_count;
    m->per_route = xcalloc(route_count + 1, sizeof *m->per_route);
    return m;
}

void metrics_destroy(struct metrics *m)
{
    if (!m)
        return;
    xfree(m->per_route);
    xfree(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < STATUS_COUNT; i++)
        if (status_codes[i] == status)
            return i;
    return STATUS_OTHER;
}

/* Adds one observation to a histogram's buckets and sum. */
static void observe(struct route_metrics *rm, int64_t micros)
{
    double seconds = (double)micros / 1e6;
    size_t b = 0;
    while (b < BUCKET_COUNT && seconds > bucket_bounds[b])
        b++;
    atomic_fetch_add(&rm->buckets[b], 1);
    atomic_fetch_add(&rm->micros_sum, (uint_fast64_t)(micros > 0 ? micros : 0));
}

void metrics_record(struct metrics *m, const struct route *route, int status, int64_t micros)
{
    size_t idx = route ? router_index(m->routes, route) : m->route_count;
    struct route_metrics *rm = &m->per_route[idx];
    atomic_fetch_add(&rm->by_status[status_slot(status)], 1);
    observe(rm, micros);
}

void metrics_observe_issuance(struct metrics *m, int64_t micros)
{
    if (m)
        observe(&m->issuance, micros);
}

void metrics_observe_acme_issuance(struct metrics *m, int64_t micros)
{
    if (m)
        observe(&m->acme_issuance, micros);
}

/* A growable text buffer for the exposition. */
struct text {
    char *data;
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 64);
        t->data = xrealloc(t->data, t->cap);
    }
}

static void route_labels(const struct metrics *m, size_t idx, char *out, size_t size)
{
    if (idx == m->route_count)
        snprintf(out, size, "method=\"\",route=\"unmatched\"");
    else
        snprintf(out, size, "method=\"%s\",route=\"%s\"", m->routes[idx].method,
                 m->routes[idx].pattern);
}

static void render_requests(const struct metrics *m, struct text *t)
{
    text_printf(t, "# HELP tlsward_http_requests_total HTTP requests by route and status.\n"
                   "# TYPE tlsward_http_requests_total counter\n");
    for (size_t r = 0; r <= m->route_count; r++) {
        char labels[256];
        route_labels(m, r, labels, sizeof labels);
        for (size_t s = 0; s <= STATUS_COUNT; s++) {
            uint_fast64_t n = atomic_load(&m->per_route[r].by_status[s]);
            if (!n)
                continue;
            if (s == STATUS_OTHER)
                text_printf(t, "tlsward_http_requests_total{%s,status=\"other\"} %llu\n", labels,
                            (unsigned long long)n);
            else
                text_printf(t, "tlsward_http_requests_total{%s,status=\"%d\"} %llu\n", labels,
                            status_codes[s], (unsigned long long)n);
        }
    }
}

/* One histogram's series (buckets, +Inf, sum, count) under `name` with `labels`. */
static void render_histogram(struct text *t, const char *name, const char *labels,
                             const struct route_metrics *rm)
{
    unsigned long long snapshot[BUCKET_COUNT + 1], count = 0;
    for (size_t b = 0; b <= BUCKET_COUNT; b++)
        count += snapshot[b] = atomic_load(&rm->buckets[b]);
    if (!count)
        return;
    const char *sep = labels[0] ? "," : "";
    unsigned long long cumulative = 0;
    for (size_t b = 0; b < BUCKET_COUNT; b++) {
        cumulative += snapshot[b];
        text_printf(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bucket_bounds[b],
                    cumulative);
    }
    text_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, count);
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    text_printf(t, "%s_sum%s%s%s %.6f\n", name, open, labels, close,
                (double)atomic_load(&rm->micros_sum) / 1e6);
    text_printf(t, "%s_count%s%s%s %llu\n", name, open, labels, close, count);
}

static void render_latency(const struct metrics *m, struct text *t)
{
    text_printf(t, "# HELP tlsward_http_request_duration_seconds Request latency by route.\n"
                   "# TYPE tlsward_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= m->route_count; r++) {
        char labels[256];
        route_labels(m, r, labels, sizeof labels);
        render_histogram(t, "tlsward_http_request_duration_seconds", labels, &m->per_route[r]);
    }
}

static void render_issuance(const struct metrics *m, struct text *t)
{
    text_printf(t, "# HELP tlsward_issuance_duration_seconds Time to issue a pack's certificates.\n"
                   "# TYPE tlsward_issuance_duration_seconds histogram\n");
    render_histogram(t, "tlsward_issuance_duration_seconds", "", &m->issuance);
}

static void render_acme(struct metrics *m, struct text *t)
{
    static const char *const classes[7] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    text_printf(t, "# HELP tlsward_acme_requests_total ACME requests by endpoint and status.\n"
                   "# TYPE tlsward_acme_requests_total counter\n");
    for (int e = 0; e < METRICS_ACME_ENDPOINTS; e++) {
        const char *name = atomic_load(&m->acme_names[e]);
        for (int c = 0; name && c < 7; c++) {
            uint_fast64_t n = atomic_load(&m->acme_requests[e][c]);
            if (n)
                text_printf(t, "tlsward_acme_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n",
                            name, classes[c], (unsigned long long)n);
        }
    }
    text_printf(t, "# HELP tlsward_acme_orders_total ACME orders by outcome.\n"
                   "# TYPE tlsward_acme_orders_total counter\n");
    for (int i = 0; i < 3; i++) {
        uint_fast64_t n = atomic_load(&m->acme_orders[i]);
        if (n)
            text_printf(t, "tlsward_acme_orders_total{outcome=\"%s\"} %llu\n", acme_outcomes[i],
                        (unsigned long long)n);
    }
    text_printf(t, "# HELP tlsward_acme_issuance_duration_seconds Time to issue a pack's "
                   "certificates through ACME.\n"
                   "# TYPE tlsward_acme_issuance_duration_seconds histogram\n");
    render_histogram(t, "tlsward_acme_issuance_duration_seconds", "", &m->acme_issuance);
}

void metrics_render(struct metrics *m, char **out, size_t *len)
{
    struct text t = {.data = xmalloc(4096), .len = 0, .cap = 4096};
    t.data[0] = '\0';
    render_requests(m, &t);
    render_latency(m, &t);
    render_issuance(m, &t);
    render_acme(m, &t);
    *out = t.data;
    *len = t.len;
}
