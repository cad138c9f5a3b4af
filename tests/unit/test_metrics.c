/* Unit tests of http/metrics: request counters labelled with method, route pattern and
 * status; cumulative latency histograms ending with +Inf equal to _count; the "unmatched"
 * route; nothing rendered for routes never hit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "http/metrics.h"
#include "http/router.h"
#include "testutil.h"

static void h_dummy(struct request *req)
{
    (void)req;
}

static const struct route routes[] = {
    {"GET", "/client/v4/zones", h_dummy, ROUTE_AUTH_REQUIRED, 0},
    {"POST", "/client/v4/zones", h_dummy, ROUTE_AUTH_REQUIRED, 0},
    {"GET", "/client/v4/zones/:zone_id", h_dummy, ROUTE_AUTH_REQUIRED, 0},
    {"GET", "/healthz", h_dummy, ROUTE_AUTH_NONE, 0},
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

#define LABELS_LIST "method=\"GET\",route=\"/client/v4/zones\""
#define LABELS_GET "method=\"GET\",route=\"/client/v4/zones/:zone_id\""
#define LABELS_UNMATCHED "method=\"\",route=\"unmatched\""

static const char *const bounds[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                     "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                     "1",      "2.5",   "5",      "10",    "+Inf"};
#define BOUND_COUNT (sizeof bounds / sizeof bounds[0])

static char *render(struct metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    metrics_render(m, &text, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample line that starts with `series` followed by a space; fails if the
 * series is absent or appears twice. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *found = NULL;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            fail_msg("unterminated last line in metrics output");
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            if (found)
                fail_msg("series %s appears twice", series);
            found = line + n + 1;
        }
        line = eol + 1;
    }
    if (!found)
        fail_msg("series %s not found in:\n%s", series, text);
    char *end;
    double v = strtod(found, &end);
    assert_true(end != found && *end == '\n');
    return v;
}

/* Reads the histogram of one label set into values[BOUND_COUNT] (in le order) and checks
 * that buckets are cumulative, +Inf is last and equals _count. Returns _count. */
static double histogram(const char *text, const char *labels, double values[BOUND_COUNT])
{
    char series[512];
    /* Every bucket appears, in increasing order of le, +Inf last. */
    const char *prev = text;
    for (size_t b = 0; b < BOUND_COUNT; b++) {
        snprintf(series, sizeof series,
                 "tlsward_http_request_duration_seconds_bucket{%s,le=\"%s\"}", labels, bounds[b]);
        values[b] = sample(text, series);
        const char *at = strstr(text, series);
        assert_true(at > prev || b == 0);
        prev = at;
        if (b > 0 && values[b] < values[b - 1])
            fail_msg("bucket le=%s (%g) below le=%s (%g)", bounds[b], values[b], bounds[b - 1],
                     values[b - 1]);
    }
    snprintf(series, sizeof series, "tlsward_http_request_duration_seconds_count{%s}", labels);
    double count = sample(text, series);
    assert_true(values[BOUND_COUNT - 1] == count);
    return count;
}

static void test_empty_render(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    char *text = render(m);
    tu_assert_contains(text, "# TYPE tlsward_http_requests_total counter\n");
    tu_assert_contains(text, "# TYPE tlsward_http_request_duration_seconds histogram\n");
    tu_assert_contains(text, "# HELP tlsward_http_requests_total ");
    tu_assert_contains(text, "# HELP tlsward_http_request_duration_seconds ");
    /* No samples at all: every line is a comment. */
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(line[0], '#');
    xfree(text);
    metrics_destroy(m);
}

static void test_counters_by_route_and_status(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    metrics_record(m, &routes[0], 200, 300);
    metrics_record(m, &routes[0], 200, 2000);
    metrics_record(m, &routes[0], 400, 100);
    metrics_record(m, &routes[2], 200, 100);
    metrics_record(m, &routes[2], 404, 100);
    metrics_record(m, &routes[2], 404, 100);
    metrics_record(m, &routes[2], 404, 100);
    metrics_record(m, &routes[2], 429, 100);
    char *text = render(m);

    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_LIST ",status=\"200\"}") == 2);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_LIST ",status=\"400\"}") == 1);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_GET ",status=\"200\"}") == 1);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_GET ",status=\"404\"}") == 3);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_GET ",status=\"429\"}") == 1);
    /* Statuses never seen on a route are not rendered. */
    tu_assert_not_contains(text, LABELS_LIST ",status=\"404\"");
    tu_assert_not_contains(text, LABELS_GET ",status=\"400\"");
    tu_assert_not_contains(text, "status=\"500\"");
    xfree(text);
    metrics_destroy(m);
}

static void test_routes_never_hit_are_absent(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    metrics_record(m, &routes[0], 200, 100);
    char *text = render(m);
    tu_assert_not_contains(text, "method=\"POST\"");
    tu_assert_not_contains(text, "/client/v4/zones/:zone_id");
    tu_assert_not_contains(text, "/healthz");
    tu_assert_not_contains(text, "unmatched");
    xfree(text);
    metrics_destroy(m);
}

static void test_unmatched_route(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    metrics_record(m, NULL, 400, 50);
    metrics_record(m, NULL, 400, 50);
    metrics_record(m, NULL, 405, 50);
    char *text = render(m);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_UNMATCHED ",status=\"400\"}") ==
                2);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_UNMATCHED ",status=\"405\"}") ==
                1);
    double values[BOUND_COUNT];
    assert_true(histogram(text, LABELS_UNMATCHED, values) == 3);
    /* No route was hit. */
    tu_assert_not_contains(text, "/client/v4");
    xfree(text);
    metrics_destroy(m);
}

static void test_other_status(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    metrics_record(m, &routes[3], 418, 10);
    metrics_record(m, &routes[3], 201, 10);
    metrics_record(m, &routes[3], 503, 10);
    char *text = render(m);
    assert_true(sample(text, "tlsward_http_requests_total{method=\"GET\",route=\"/healthz\","
                             "status=\"other\"}") == 2);
    assert_true(sample(text, "tlsward_http_requests_total{method=\"GET\",route=\"/healthz\","
                             "status=\"503\"}") == 1);
    tu_assert_not_contains(text, "status=\"418\"");
    xfree(text);
    metrics_destroy(m);
}

static void test_histogram_cumulative(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    const struct route *r = &routes[2];
    metrics_record(m, r, 200, 300);      /* 0.0003 s: le 0.0005 */
    metrics_record(m, r, 200, 500);      /* exactly 0.0005 s: le 0.0005 (le is <=) */
    metrics_record(m, r, 200, 2000);     /* 0.002 s: le 0.0025 */
    metrics_record(m, r, 200, 20000);    /* 0.02 s: le 0.025 */
    metrics_record(m, r, 404, 700000);   /* 0.7 s: le 1 */
    metrics_record(m, r, 500, 20000000); /* 20 s: only +Inf */
    char *text = render(m);
    double v[BOUND_COUNT];
    assert_true(histogram(text, LABELS_GET, v) == 6);
    static const double want[BOUND_COUNT] = {2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 6};
    for (size_t b = 0; b < BOUND_COUNT; b++)
        if (v[b] != want[b])
            fail_msg("le=%s: got %g, want %g", bounds[b], v[b], want[b]);
    double sum = sample(text, "tlsward_http_request_duration_seconds_sum{" LABELS_GET "}");
    assert_true(sum > 20.72279 && sum < 20.72281); /* 20.722800 s */
    /* Only the route that was hit has a histogram. */
    tu_assert_not_contains(text, "tlsward_http_request_duration_seconds_count{" LABELS_LIST "}");
    xfree(text);
    metrics_destroy(m);
}

static void test_histograms_are_per_route(void **state)
{
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    for (int i = 0; i < 10; i++)
        metrics_record(m, &routes[0], 200, 100);
    metrics_record(m, &routes[1], 200, 3000000);
    metrics_record(m, NULL, 400, 100);
    char *text = render(m);
    double v[BOUND_COUNT];
    assert_true(histogram(text, LABELS_LIST, v) == 10);
    assert_true(v[0] == 10);
    assert_true(histogram(text, "method=\"POST\",route=\"/client/v4/zones\"", v) == 1);
    assert_true(v[11] == 0 && v[12] == 1); /* 3 s: above 2.5, within 5 */
    assert_true(histogram(text, LABELS_UNMATCHED, v) == 1);
    xfree(text);
    metrics_destroy(m);
}

static void test_large_output_grows_buffer(void **state)
{
    /* Many routes with long patterns force the text buffer past its first allocation. */
    enum { N = 60 };
    struct route many[N];
    char patterns[N][200];
    for (int i = 0; i < N; i++) {
        snprintf(patterns[i], sizeof patterns[i],
                 "/client/v4/zones/:zone_id/a-rather-long-resource-name-%03d/:id/sub", i);
        many[i] = (struct route){"GET", patterns[i], h_dummy, ROUTE_AUTH_REQUIRED, 0};
    }
    struct metrics *m = metrics_create(many, N);
    for (int i = 0; i < N; i++)
        metrics_record(m, &many[i], 200, 1000 * i);
    char *text = render(m);
    assert_true(strlen(text) > 4096);
    char labels[300];
    for (int i = 0; i < N; i += 7) {
        assert_true(snprintf(labels, sizeof labels, "method=\"GET\",route=\"%s\"", patterns[i]) <
                    (int)sizeof labels);
        double v[BOUND_COUNT];
        assert_true(histogram(text, labels, v) == 1);
    }
    xfree(text);
    metrics_destroy(m);
}

struct recorder {
    struct metrics *m;
    int64_t micros;
};

static void *record_thread(void *arg)
{
    const struct recorder *r = arg;
    for (int i = 0; i < 5000; i++)
        metrics_record(r->m, &routes[0], 200, r->micros);
    return NULL;
}

static void test_concurrent_records(void **state)
{
    enum { THREADS = 4 };
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    struct recorder rec[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        rec[i] = (struct recorder){m, i % 2 ? 100 : 30000}; /* le 0.0005 / le 0.05 */
        assert_int_equal(pthread_create(&threads[i], NULL, record_thread, &rec[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    char *text = render(m);
    assert_true(sample(text, "tlsward_http_requests_total{" LABELS_LIST ",status=\"200\"}") ==
                20000);
    double v[BOUND_COUNT];
    assert_true(histogram(text, LABELS_LIST, v) == 20000);
    assert_true(v[0] == 10000 && v[5] == 10000 && v[6] == 20000);
    xfree(text);
    metrics_destroy(m);
}

static void test_acme_series(void **state)
{
    (void)state;
    struct metrics *m = metrics_create(routes, ROUTE_COUNT);
    metrics_acme_request(m, 3, "newOrder", 201);
    metrics_acme_request(m, 3, "newOrder", 201);
    metrics_acme_request(m, 3, "newOrder", 0);
    metrics_acme_request(m, 7, "finalize", 503);
    metrics_acme_request(m, METRICS_ACME_ENDPOINTS, "ignored", 200); /* out of range */
    metrics_acme_order(m, "valid");
    metrics_acme_order(m, "bogus");
    metrics_observe_acme_issuance(m, 1500000);
    char *text = render(m);
    tu_assert_contains(text, "tlsward_acme_requests_total{endpoint=\"newOrder\",status=\"2xx\"} 2\n");
    tu_assert_contains(text, "tlsward_acme_requests_total{endpoint=\"newOrder\",status=\"none\"} 1\n");
    tu_assert_contains(text, "tlsward_acme_requests_total{endpoint=\"finalize\",status=\"5xx\"} 1\n");
    tu_assert_contains(text, "tlsward_acme_orders_total{outcome=\"valid\"} 1\n");
    tu_assert_contains(text, "tlsward_acme_issuance_duration_seconds_bucket{le=\"2.5\"} 1\n");
    assert_null(strstr(text, "ignored"));
    assert_null(strstr(text, "outcome=\"invalid\""));
    xfree(text);
    metrics_destroy(m);
}

static void test_destroy_null(void **state)
{
    metrics_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_render),
        cmocka_unit_test(test_counters_by_route_and_status),
        cmocka_unit_test(test_routes_never_hit_are_absent),
        cmocka_unit_test(test_unmatched_route),
        cmocka_unit_test(test_other_status),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_histograms_are_per_route),
        cmocka_unit_test(test_large_output_grows_buffer),
        cmocka_unit_test(test_concurrent_records),
        cmocka_unit_test(test_acme_series),
        cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
