/* Unit tests of http/router: literal and parameter segments, the more-literal pattern
 * winning wherever it stands in the table, parameter capture and its size bound, trailing
 * and doubled slashes, 405 with an Allow list naming each method once, and unknown paths.
 * Uses its own small route table with dummy handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "http/request.h"
#include "http/router.h"

static void h_items_list(struct request *req)
{
    (void)req;
}
static void h_items_create(struct request *req)
{
    (void)req;
}
static void h_item_get(struct request *req)
{
    (void)req;
}
static void h_item_patch(struct request *req)
{
    (void)req;
}
static void h_pack_get(struct request *req)
{
    (void)req;
}
static void h_pack_delete(struct request *req)
{
    (void)req;
}
static void h_quota_get(struct request *req)
{
    (void)req;
}
static void h_cert_quota(struct request *req)
{
    (void)req;
}
static void h_cert_get(struct request *req)
{
    (void)req;
}
static void h_pair(struct request *req)
{
    (void)req;
}
static void h_root(struct request *req)
{
    (void)req;
}

/* Indices into the table below, so assertions name the route they expect. */
enum {
    R_ITEMS_GET,
    R_ITEMS_POST,
    R_ITEM_GET,
    R_ITEM_PATCH,
    R_PACK_GET, /* parameter pattern listed BEFORE the literal one */
    R_PACK_DELETE,
    R_QUOTA_GET,
    R_CERT_QUOTA, /* literal pattern listed BEFORE the parameter one */
    R_CERT_GET,
    R_PAIR_GET_A, /* two equally literal patterns matching the same paths */
    R_PAIR_POST,
    R_PAIR_GET_B,
    R_HEALTH,
    R_COUNT,
};

static const struct route table[] = {
    [R_ITEMS_GET] = {"GET", "/v4/items", h_items_list, ROUTE_AUTH_REQUIRED, 0},
    [R_ITEMS_POST] = {"POST", "/v4/items", h_items_create, ROUTE_AUTH_REQUIRED, 0},
    [R_ITEM_GET] = {"GET", "/v4/items/:item_id", h_item_get, ROUTE_AUTH_REQUIRED, 0},
    [R_ITEM_PATCH] = {"PATCH", "/v4/items/:item_id", h_item_patch, ROUTE_AUTH_REQUIRED, 0},
    [R_PACK_GET] = {"GET", "/v4/zones/:zone_id/packs/:pack_id", h_pack_get, ROUTE_AUTH_REQUIRED, 0},
    [R_PACK_DELETE] = {"DELETE", "/v4/zones/:zone_id/packs/:pack_id", h_pack_delete,
                       ROUTE_AUTH_REQUIRED, 0},
    [R_QUOTA_GET] = {"GET", "/v4/zones/:zone_id/packs/quota", h_quota_get, ROUTE_AUTH_REQUIRED, 0},
    [R_CERT_QUOTA] = {"GET", "/v4/zones/:zone_id/certs/quota", h_cert_quota, ROUTE_AUTH_REQUIRED,
                      0},
    [R_CERT_GET] = {"GET", "/v4/zones/:zone_id/certs/:cert_id", h_cert_get, ROUTE_AUTH_REQUIRED, 0},
    [R_PAIR_GET_A] = {"GET", "/v4/pair/:a", h_pair, ROUTE_AUTH_REQUIRED, 0},
    [R_PAIR_POST] = {"POST", "/v4/pair/:b", h_pair, ROUTE_AUTH_REQUIRED, 0},
    [R_PAIR_GET_B] = {"GET", "/v4/pair/:c", h_pair, ROUTE_AUTH_REQUIRED, 0},
    [R_HEALTH] = {"GET", "/healthz", h_root, ROUTE_AUTH_NONE, 0},
};

/* Runs router_match on a fresh request; the request is left in *req for inspection. */
static enum router_result match(struct request *req, const char *method, const char *path)
{
    request_init(req, NULL, method, path, NULL, NULL);
    return router_match(table, R_COUNT, method, path, req);
}

static void expect_route(const char *method, const char *path, int want, int params, const char *p0,
                         const char *p1)
{
    struct request req;
    enum router_result rc = match(&req, method, path);
    if (rc != ROUTER_MATCH)
        fail_msg("%s %s: expected route %d, got router result %d", method, path, want, rc);
    assert_ptr_equal(req.route, &table[want]);
    assert_int_equal(router_index(table, req.route), want);
    assert_int_equal(req.param_count, params);
    if (p0)
        assert_string_equal(req.params[0], p0);
    if (p1)
        assert_string_equal(req.params[1], p1);
    request_free(&req);
}

static void expect_no_route(const char *method, const char *path)
{
    struct request req;
    enum router_result rc = match(&req, method, path);
    if (rc != ROUTER_NO_ROUTE)
        fail_msg("%s \"%s\": expected ROUTER_NO_ROUTE, got %d", method, path, rc);
    assert_null(req.route);
    assert_string_equal(req.allow, "");
    request_free(&req);
}

static void expect_method(const char *method, const char *path, const char *allow)
{
    struct request req;
    enum router_result rc = match(&req, method, path);
    if (rc != ROUTER_METHOD)
        fail_msg("%s %s: expected ROUTER_METHOD, got %d", method, path, rc);
    assert_null(req.route);
    assert_string_equal(req.allow, allow);
    request_free(&req);
}

static void test_literal_match(void **state)
{
    expect_route("GET", "/v4/items", R_ITEMS_GET, 0, NULL, NULL);
    expect_route("POST", "/v4/items", R_ITEMS_POST, 0, NULL, NULL);
    expect_route("GET", "/healthz", R_HEALTH, 0, NULL, NULL);
}

static void test_literal_is_case_sensitive(void **state)
{
    expect_no_route("GET", "/v4/ITEMS");
    expect_no_route("GET", "/V4/items");
}

static void test_parameter_capture(void **state)
{
    expect_route("GET", "/v4/items/abc123", R_ITEM_GET, 1, "abc123", NULL);
    expect_route("PATCH", "/v4/items/x", R_ITEM_PATCH, 1, "x", NULL);
    expect_route("GET", "/v4/zones/z1/packs/p9", R_PACK_GET, 2, "z1", "p9");
    expect_route("DELETE", "/v4/zones/z1/packs/p9", R_PACK_DELETE, 2, "z1", "p9");
    /* A parameter takes any non-empty segment, including characters such as ':' or '.'. */
    expect_route("GET", "/v4/items/:item_id", R_ITEM_GET, 1, ":item_id", NULL);
    expect_route("GET", "/v4/items/a.b-c_d", R_ITEM_GET, 1, "a.b-c_d", NULL);
}

static void test_more_literal_wins_after_parameter(void **state)
{
    /* The parameter pattern is listed first; "quota" must still win. */
    expect_route("GET", "/v4/zones/z1/packs/quota", R_QUOTA_GET, 1, "z1", NULL);
    expect_route("GET", "/v4/zones/z1/packs/quotas", R_PACK_GET, 2, "z1", "quotas");
}

static void test_more_literal_wins_before_parameter(void **state)
{
    /* The literal pattern is listed first; it must win and the parameter one still work. */
    expect_route("GET", "/v4/zones/z1/certs/quota", R_CERT_QUOTA, 1, "z1", NULL);
    expect_route("GET", "/v4/zones/z1/certs/c7", R_CERT_GET, 2, "z1", "c7");
}

static void test_more_literal_decides_the_resource(void **state)
{
    /* DELETE exists only on the parameter pattern; the literal one is the resource, so
     * DELETE .../packs/quota is a method error naming only the literal route's method. */
    expect_method("DELETE", "/v4/zones/z1/packs/quota", "GET");
}

static void test_params_reset_between_matches(void **state)
{
    struct request req;
    assert_int_equal(match(&req, "GET", "/v4/zones/z1/packs/p9"), ROUTER_MATCH);
    assert_int_equal(req.param_count, 2);
    assert_int_equal(router_match(table, R_COUNT, "GET", "/v4/items", &req), ROUTER_MATCH);
    assert_ptr_equal(req.route, &table[R_ITEMS_GET]);
    assert_int_equal(req.param_count, 0);
    request_free(&req);
}

static void test_trailing_slash_ignored(void **state)
{
    expect_route("GET", "/v4/items/", R_ITEMS_GET, 0, NULL, NULL);
    expect_route("GET", "/v4/items/abc/", R_ITEM_GET, 1, "abc", NULL);
    expect_route("GET", "/v4/zones/z1/packs/quota/", R_QUOTA_GET, 1, "z1", NULL);
    expect_route("GET", "/healthz/", R_HEALTH, 0, NULL, NULL);
}

static void test_double_slash_is_no_route(void **state)
{
    expect_no_route("GET", "//v4/items");
    expect_no_route("GET", "/v4//items");
    expect_no_route("GET", "/v4/items//abc");
    expect_no_route("GET", "/v4/zones//packs/p9");
    expect_no_route("GET", "/v4/zones/z1//packs/p9");
    expect_no_route("GET", "//");
}

static void test_double_trailing_slash_is_no_route(void **state)
{
    /* Regression test (bug fixed in e51741d): split_path used to strip one
     * trailing slash and stop at the shortened end, so "/v4/items//" was routed to
     * "/v4/items" instead of being refused like every other "//". */
    expect_no_route("GET", "/v4/items//");
    expect_no_route("GET", "/v4/items/abc//");
}

static void test_missing_leading_slash_is_no_route(void **state)
{
    expect_no_route("GET", "v4/items");
    expect_no_route("GET", "healthz");
    expect_no_route("GET", "");
}

static void test_parameter_size_bound(void **state)
{
    char path[512], id[REQUEST_PARAM_SIZE + 1];
    /* REQUEST_PARAM_SIZE - 1 characters fit with their NUL. */
    memset(id, 'a', REQUEST_PARAM_SIZE - 1);
    id[REQUEST_PARAM_SIZE - 1] = '\0';
    snprintf(path, sizeof path, "/v4/items/%s", id);
    expect_route("GET", path, R_ITEM_GET, 1, id, NULL);

    /* REQUEST_PARAM_SIZE characters do not: no route (not a truncated match). */
    memset(id, 'a', REQUEST_PARAM_SIZE);
    id[REQUEST_PARAM_SIZE] = '\0';
    snprintf(path, sizeof path, "/v4/items/%s", id);
    expect_no_route("GET", path);
    expect_no_route("PUT", path);
    snprintf(path, sizeof path, "/v4/zones/%s/packs/quota", id);
    expect_no_route("GET", path);
}

static void test_method_not_allowed(void **state)
{
    expect_method("DELETE", "/v4/items", "GET, POST");
    expect_method("PUT", "/v4/items/", "GET, POST");
    expect_method("POST", "/v4/items/abc", "GET, PATCH");
    expect_method("POST", "/v4/zones/z1/packs/p9", "GET, DELETE");
    expect_method("POST", "/healthz", "GET");
    /* Methods are case-sensitive (RFC 9110 §9.1). */
    expect_method("get", "/v4/items", "GET, POST");
}

static void test_allow_lists_each_method_once(void **state)
{
    /* Three equally literal patterns, two of them GET. */
    expect_method("DELETE", "/v4/pair/x", "GET, POST");
    expect_route("POST", "/v4/pair/x", R_PAIR_POST, 1, "x", NULL);
    struct request req;
    assert_int_equal(match(&req, "GET", "/v4/pair/x"), ROUTER_MATCH);
    assert_string_equal(req.route->method, "GET");
    assert_string_equal(req.params[0], "x");
    request_free(&req);
}

static void test_unknown_path(void **state)
{
    expect_no_route("GET", "/");
    expect_no_route("GET", "/v4");
    expect_no_route("GET", "/v4/nothing");
    expect_no_route("GET", "/v4/items/abc/extra");
    expect_no_route("GET", "/v4/zones/z1/packs");
    expect_no_route("GET", "/v4/zones/z1/packs/p9/more");
    expect_no_route("DELETE", "/unknown");
    expect_no_route("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s");
}

static void test_allow_cleared_by_later_lookup(void **state)
{
    struct request req;
    assert_int_equal(match(&req, "PUT", "/v4/items"), ROUTER_METHOD);
    assert_string_equal(req.allow, "GET, POST");
    assert_int_equal(router_match(table, R_COUNT, "GET", "/nowhere", &req), ROUTER_NO_ROUTE);
    assert_string_equal(req.allow, "");
    request_free(&req);
}

static void test_empty_table(void **state)
{
    struct request req;
    request_init(&req, NULL, "GET", "/v4/items", NULL, NULL);
    assert_int_equal(router_match(table, 0, "GET", "/v4/items", &req), ROUTER_NO_ROUTE);
    request_free(&req);
}

/* Which of the API's routes the server runs off its event threads: every write, and the
 * one read that scans whole tables (/metrics); quick reads stay on the event threads. */
static void api_route_blocking(const char *method, const char *path, bool may_block)
{
    struct request req;
    request_init(&req, NULL, method, path, NULL, NULL);
    assert_int_equal(router_match(api_routes, api_route_count, method, path, &req), ROUTER_MATCH);
    if (api_route_may_block(req.route) != may_block)
        fail_msg("%s %s: may block %d, expected %d", method, path, !may_block, may_block);
    request_free(&req);
}

static void test_api_routes_that_may_block(void **state)
{
    (void)state;
    const char *zone = "/client/v4/zones/0123456789abcdef0123456789abcdef";
    char path[256];
    api_route_blocking("GET", "/metrics", true);
    api_route_blocking("GET", "/healthz", false);
    api_route_blocking("GET", "/client/v4/zones", false);
    api_route_blocking("POST", "/client/v4/zones", true);
    snprintf(path, sizeof path, "%s/ssl/certificate_packs/0123456789abcdef0123456789abcdef", zone);
    api_route_blocking("GET", path, false);
    api_route_blocking("PATCH", path, true);
    api_route_blocking("DELETE", path, true);
    snprintf(path, sizeof path, "%s/ssl/certificate_packs/order", zone);
    api_route_blocking("POST", path, true);
    snprintf(path, sizeof path, "%s/client_certificates", zone);
    api_route_blocking("POST", path, true);
    api_route_blocking("GET", path, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_literal_is_case_sensitive),
        cmocka_unit_test(test_parameter_capture),
        cmocka_unit_test(test_more_literal_wins_after_parameter),
        cmocka_unit_test(test_more_literal_wins_before_parameter),
        cmocka_unit_test(test_more_literal_decides_the_resource),
        cmocka_unit_test(test_params_reset_between_matches),
        cmocka_unit_test(test_trailing_slash_ignored),
        cmocka_unit_test(test_double_slash_is_no_route),
        cmocka_unit_test(test_double_trailing_slash_is_no_route),
        cmocka_unit_test(test_missing_leading_slash_is_no_route),
        cmocka_unit_test(test_parameter_size_bound),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_allow_lists_each_method_once),
        cmocka_unit_test(test_unknown_path),
        cmocka_unit_test(test_allow_cleared_by_later_lookup),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_api_routes_that_may_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
