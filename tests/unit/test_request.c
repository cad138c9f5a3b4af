/* Unit tests of http/request: the rendered v4 envelope (parsed back with jansson) for
 * results, lists and failures, the first error deciding the HTTP status, the zone and
 * Authorization-format error shapes, raw bodies, header/query lookup and request ids;
 * deferred outcomes: refused where the server set up nothing, and otherwise one hold and
 * one release per deferral, with a failure set by the finisher replacing a rendered answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "http/api_error.h"
#include "http/request.h"
#include "testutil.h"

static void new_request(struct request *req)
{
    request_init(req, NULL, "GET", "/client/v4/x", NULL, NULL);
}

static void test_init_defaults(void **state)
{
    struct request req;
    int dummy;
    request_init(&req, NULL, "POST", "/p", tu_lookup, &dummy);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/p");
    assert_int_equal(req.status, 200);
    assert_null(req.route);
    assert_int_equal(req.param_count, 0);
    assert_null(req.body);
    assert_int_equal(req.body_len, 0);
    assert_int_equal(req.principal.kind, PRINCIPAL_NONE);
    assert_false(request_failed(&req));
    assert_string_equal(req.allow, "");
    assert_int_equal(req.retry_after, 0);
    assert_ptr_equal(req.lookup_ctx, &dummy);
    request_free(&req);
}

static void test_success_envelope_exact(void **state)
{
    struct request req;
    new_request(&req);
    request_ok(&req, json_pack("{s:s, s:i}", "id", "abc", "n", 3));
    assert_false(request_failed(&req));
    assert_int_equal(req.status, 200);
    char *text = tu_render_text(&req, "application/json");
    assert_string_equal(text, "{\"success\":true,\"errors\":[],\"messages\":[],"
                              "\"result\":{\"id\":\"abc\",\"n\":3}}");
    xfree(text);
    request_free(&req);
}

static void test_success_envelope_parsed(void **state)
{
    struct request req;
    new_request(&req);
    request_ok(&req, json_pack("{s:s}", "id", "abc"));
    json_t *env = tu_render_json(&req);
    tu_assert_success(env, 0);
    assert_int_equal(json_object_size(env), 4);
    assert_null(json_object_get(env, "result_info"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(env, "result"), "id")),
                        "abc");
    json_decref(env);
    request_free(&req);
}

static void test_success_null_result(void **state)
{
    struct request req;
    new_request(&req);
    request_ok(&req, NULL);
    json_t *env = tu_render_json(&req);
    tu_assert_success(env, 0);
    assert_true(json_is_null(json_object_get(env, "result")));
    json_decref(env);
    request_free(&req);
}

static void test_request_ok_replaces_result(void **state)
{
    struct request req;
    new_request(&req);
    request_ok(&req, json_string("first"));
    request_ok(&req, json_string("second"));
    json_t *env = tu_render_json(&req);
    assert_string_equal(json_string_value(json_object_get(env, "result")), "second");
    json_decref(env);
    request_free(&req);
}

static void test_list_envelope(void **state)
{
    struct request req;
    new_request(&req);
    json_t *items = json_pack("[{s:i}, {s:i}]", "id", 1, "id", 2);
    json_t *info = json_pack("{s:i, s:i, s:i, s:i, s:i}", "page", 1, "per_page", 20, "count", 2,
                             "total_count", 2, "total_pages", 1);
    request_list(&req, items, info);
    assert_int_equal(req.status, 200);
    json_t *env = tu_render_json(&req);
    tu_assert_success(env, 0);
    assert_int_equal(json_object_size(env), 5);
    json_t *result = json_object_get(env, "result");
    assert_true(json_is_array(result));
    assert_int_equal(json_array_size(result), 2);
    json_t *ri = json_object_get(env, "result_info");
    assert_true(json_is_object(ri));
    assert_int_equal(json_integer_value(json_object_get(ri, "page")), 1);
    assert_int_equal(json_integer_value(json_object_get(ri, "per_page")), 20);
    assert_int_equal(json_integer_value(json_object_get(ri, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(ri, "total_count")), 2);
    assert_int_equal(json_integer_value(json_object_get(ri, "total_pages")), 1);
    json_decref(env);
    request_free(&req);
}

static void test_messages_rendered(void **state)
{
    struct request req;
    new_request(&req);
    request_ok(&req, json_object());
    req.messages = json_pack("[{s:i, s:s}]", "code", 10000, "message", "hello");
    json_t *env = tu_render_json(&req);
    tu_assert_success(env, 1);
    json_t *m = json_array_get(json_object_get(env, "messages"), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "code")), 10000);
    assert_string_equal(json_string_value(json_object_get(m, "message")), "hello");
    json_decref(env);
    request_free(&req);
}

static void test_failure_envelope(void **state)
{
    struct request req;
    new_request(&req);
    request_fail(&req, API_E_INVALID, "name: must be %s (got %d)", "a string", 42);
    assert_true(request_failed(&req));
    assert_int_equal(req.status, 400);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){1004, 0});
    assert_int_equal(json_object_size(env), 4);
    assert_int_equal(json_array_size(json_object_get(env, "messages")), 0);
    assert_string_equal(tu_error_message(env, 0), "name: must be a string (got 42)");
    /* Exactly code and message. */
    assert_int_equal(json_object_size(json_array_get(json_object_get(env, "errors"), 0)), 2);
    json_decref(env);
    request_free(&req);
}

/* What a server's deferral hooks saw. */
struct holds {
    int held, released;
};

static void hold(void *ctx)
{
    ((struct holds *)ctx)->held++;
}

static void release(void *ctx)
{
    ((struct holds *)ctx)->released++;
}

static void test_defer_refused_without_a_server(void **state)
{
    struct request req;
    new_request(&req);
    assert_false(request_defer(&req)); /* the handler must finish in place */
    request_free(&req);
}

static void test_defer_and_finish(void **state)
{
    struct request req;
    struct holds h = {0};
    new_request(&req);
    req.deferral = (struct request_deferral){hold, release, &h};
    /* A handler's answer, ready before the work it waits for. */
    char *text = xstrdup("{\"id\":\"x\"}");
    request_ok_text(&req, text, strlen(text));
    assert_true(request_defer(&req));
    assert_int_equal(h.held, 1);
    assert_int_equal(h.released, 0);
    /* The work failed: its finisher's error replaces the answer. */
    request_fail(&req, API_E_INTERNAL, NULL);
    request_finish(&req);
    assert_int_equal(h.released, 1);
    assert_int_equal(req.status, 500);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){api_error_code(API_E_INTERNAL), 0});
    assert_true(json_is_null(json_object_get(env, "result")));
    json_decref(env);
    request_free(&req);
}

static void test_failure_default_message(void **state)
{
    struct request req;
    new_request(&req);
    request_fail(&req, API_E_MISSING_AUTH, NULL);
    assert_int_equal(req.status, 400);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){9106, 0});
    assert_string_equal(tu_error_message(env, 0),
                        "Missing X-Auth-Key, X-Auth-Email or Authorization headers");
    json_decref(env);
    request_free(&req);
}

static void test_failure_hides_result_and_result_info(void **state)
{
    struct request req;
    new_request(&req);
    request_list(&req, json_pack("[i]", 1), json_pack("{s:i}", "page", 1));
    request_fail(&req, API_E_INTERNAL, NULL);
    assert_int_equal(req.status, 500);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){10500, 0});
    json_decref(env);
    request_free(&req);
}

static void test_first_error_decides_status(void **state)
{
    struct request req;
    new_request(&req);
    request_fail(&req, API_E_NOT_FOUND, "certificate pack %s not found", "abc");
    request_fail(&req, API_E_INVALID, NULL);
    request_fail(&req, API_E_INTERNAL, NULL);
    assert_int_equal(req.status, 404);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){1472, 1004, 10500, 0});
    assert_string_equal(tu_error_message(env, 0), "certificate pack abc not found");
    assert_string_equal(tu_error_message(env, 1), "Invalid request");
    json_decref(env);
    request_free(&req);

    new_request(&req);
    request_fail(&req, API_E_RATE_LIMITED, NULL);
    request_fail(&req, API_E_TOO_LARGE, NULL);
    assert_int_equal(req.status, 429);
    request_free(&req);
}

static void test_error_table_statuses(void **state)
{
    static const struct {
        enum api_error e;
        int status, code;
    } rows[] = {
        {API_E_MISSING_AUTH, 400, 9106},    {API_E_BAD_HEADERS, 400, 6003},
        {API_E_BAD_AUTH_FORMAT, 400, 6111}, {API_E_INVALID_TOKEN, 403, 9109},
        {API_E_VERIFY_INVALID, 401, 1000},  {API_E_UNKNOWN_KEY, 403, 9103},
        {API_E_FORBIDDEN, 403, 9109},       {API_E_ZONE_ROUTE, 400, 7003},
        {API_E_NO_ROUTE, 400, 7000},        {API_E_METHOD, 405, 10405},
        {API_E_NOT_FOUND, 404, 1472},       {API_E_INVALID, 400, 1004},
        {API_E_ZONE_EXISTS, 400, 1061},     {API_E_BAD_STATUS, 400, 1406},
        {API_E_QUOTA, 400, 1450},           {API_E_TOO_LARGE, 413, 10413},
        {API_E_RATE_LIMITED, 429, 971},     {API_E_INTERNAL, 500, 10500},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct request req;
        new_request(&req);
        request_fail(&req, rows[i].e, NULL);
        assert_int_equal(req.status, rows[i].status);
        json_t *env = tu_render_json(&req);
        tu_assert_failure(env, (const int[]){rows[i].code, 0});
        assert_string_equal(tu_error_message(env, 0), api_error_message(rows[i].e));
        json_decref(env);
        request_free(&req);
    }
}

static void test_fail_zone(void **state)
{
    const char *id = "0123456789abcdef0123456789abcdef";
    struct request req;
    new_request(&req);
    request_fail_zone(&req, id);
    assert_int_equal(req.status, 400);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){7003, 7000, 0});
    assert_string_equal(tu_error_message(env, 0),
                        "Could not route to /zones/0123456789abcdef0123456789abcdef, perhaps "
                        "your object identifier is invalid?");
    assert_string_equal(tu_error_message(env, 1), "No route for that URI");
    json_decref(env);
    request_free(&req);
}

static void test_fail_zone_long_id(void **state)
{
    /* A route parameter can be up to REQUEST_PARAM_SIZE - 1 bytes; the message keeps it. */
    char id[REQUEST_PARAM_SIZE];
    memset(id, 'z', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    struct request req;
    new_request(&req);
    request_fail_zone(&req, id);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){7003, 7000, 0});
    tu_assert_contains(tu_error_message(env, 0), id);
    json_decref(env);
    request_free(&req);
}

static void test_fail_auth_format(void **state)
{
    struct request req;
    new_request(&req);
    request_fail_auth_format(&req);
    assert_int_equal(req.status, 400);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){6003, 0});
    json_t *e = json_array_get(json_object_get(env, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "Invalid request headers");
    json_t *chain = json_object_get(e, "error_chain");
    assert_true(json_is_array(chain));
    assert_int_equal(json_array_size(chain), 1);
    json_t *c = json_array_get(chain, 0);
    assert_int_equal(json_integer_value(json_object_get(c, "code")), 6111);
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "Invalid format for Authorization header");
    json_decref(env);
    request_free(&req);
}

static void test_raw_body(void **state)
{
    struct request req;
    new_request(&req);
    static const char bytes[] = "line one\n\0binary";
    char *body = xmalloc(sizeof bytes);
    memcpy(body, bytes, sizeof bytes);
    request_raw(&req, 200, "text/plain; charset=utf-8", body, sizeof bytes - 1);
    assert_int_equal(req.status, 200);
    assert_false(request_failed(&req));
    char *out;
    size_t len;
    const char *type;
    request_render(&req, &out, &len, &type);
    assert_int_equal(len, sizeof bytes - 1);
    assert_memory_equal(out, bytes, len);
    assert_string_equal(type, "text/plain; charset=utf-8");
    xfree(out); /* ownership passed to the caller */
    request_free(&req);
}

static void test_raw_body_with_status(void **state)
{
    struct request req;
    new_request(&req);
    request_raw(&req, 503, "application/json", xstrdup("{\"status\":\"unavailable\"}"), 24);
    assert_int_equal(req.status, 503);
    char *out = tu_render_text(&req, "application/json");
    assert_string_equal(out, "{\"status\":\"unavailable\"}");
    xfree(out);
    request_free(&req);
}

static void test_raw_body_replaced_and_freed(void **state)
{
    struct request req;
    new_request(&req);
    request_raw(&req, 200, "text/plain", xstrdup("one"), 3);
    request_raw(&req, 200, "text/plain", xstrdup("two"), 3);
    char *out = tu_render_text(&req, "text/plain");
    assert_string_equal(out, "two");
    xfree(out);
    request_free(&req);

    /* Never rendered: request_free releases it (ASan's leak checker would say otherwise). */
    new_request(&req);
    request_raw(&req, 200, "text/plain", xstrdup("unrendered"), 10);
    request_free(&req);
}

static void test_failure_overrides_raw_body(void **state)
{
    struct request req;
    new_request(&req);
    request_raw(&req, 200, "text/plain", xstrdup("raw"), 3);
    request_fail(&req, API_E_INTERNAL, NULL);
    json_t *env = tu_render_json(&req);
    tu_assert_failure(env, (const int[]){10500, 0});
    json_decref(env);
    request_free(&req);
}

static void test_request_ids(void **state)
{
    struct request a, b;
    new_request(&a);
    new_request(&b);
    assert_int_equal(strlen(a.request_id), 32);
    assert_true(util_is_id(a.request_id));
    assert_true(util_is_id(b.request_id));
    assert_string_not_equal(a.request_id, b.request_id);
    request_free(&a);
    request_free(&b);
}

/* Ids drawn in a row on one thread and on another thread never repeat. */
#define MANY_IDS 20000
static char many_ids[2 * MANY_IDS][33];

static void *draw_ids(void *arg)
{
    char(*out)[33] = arg;
    for (int i = 0; i < MANY_IDS; i++) {
        struct request r;
        new_request(&r);
        memcpy(out[i], r.request_id, sizeof out[i]);
        request_free(&r);
    }
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_request_ids_unique(void **state)
{
    pthread_t other;
    assert_int_equal(pthread_create(&other, NULL, draw_ids, many_ids[MANY_IDS]), 0);
    draw_ids(many_ids[0]);
    pthread_join(other, NULL);
    qsort(many_ids, 2 * MANY_IDS, sizeof many_ids[0], compare_ids);
    for (int i = 0; i < 2 * MANY_IDS; i++) {
        assert_true(util_is_id(many_ids[i]));
        if (i)
            assert_string_not_equal(many_ids[i - 1], many_ids[i]);
    }
}

static void test_header_and_query_lookup(void **state)
{
    const struct tu_kv kv[] = {
        {REQUEST_HEADER, "Authorization", "Bearer x"},
        {REQUEST_QUERY, "page", "2"},
        {REQUEST_QUERY, "Authorization", "from-query"},
        {0, NULL, NULL},
    };
    struct request req;
    request_init(&req, NULL, "GET", "/", tu_lookup, (void *)kv);
    assert_string_equal(request_header(&req, "Authorization"), "Bearer x");
    assert_string_equal(request_header(&req, "authorization"), "Bearer x");
    assert_null(request_header(&req, "page"));
    assert_string_equal(request_query(&req, "page"), "2");
    assert_string_equal(request_query(&req, "Authorization"), "from-query");
    assert_null(request_query(&req, "per_page"));
    request_free(&req);

    /* No lookup callback: nothing is present. */
    request_init(&req, NULL, "GET", "/", NULL, NULL);
    assert_null(request_header(&req, "Authorization"));
    assert_null(request_query(&req, "page"));
    request_free(&req);
}

static void test_free_releases_body_and_is_idempotent(void **state)
{
    struct request req;
    new_request(&req);
    req.body = xstrdup("{\"a\":1}");
    req.body_len = 7;
    request_ok(&req, json_object());
    request_fail(&req, API_E_INVALID, NULL);
    req.messages = json_array();
    request_free(&req);
    assert_null(req.body);
    assert_null(req.result);
    assert_null(req.errors);
    request_free(&req); /* safe twice */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults),
        cmocka_unit_test(test_success_envelope_exact),
        cmocka_unit_test(test_success_envelope_parsed),
        cmocka_unit_test(test_success_null_result),
        cmocka_unit_test(test_request_ok_replaces_result),
        cmocka_unit_test(test_list_envelope),
        cmocka_unit_test(test_messages_rendered),
        cmocka_unit_test(test_failure_envelope),
        cmocka_unit_test(test_defer_refused_without_a_server),
        cmocka_unit_test(test_defer_and_finish),
        cmocka_unit_test(test_failure_default_message),
        cmocka_unit_test(test_failure_hides_result_and_result_info),
        cmocka_unit_test(test_first_error_decides_status),
        cmocka_unit_test(test_error_table_statuses),
        cmocka_unit_test(test_fail_zone),
        cmocka_unit_test(test_fail_zone_long_id),
        cmocka_unit_test(test_fail_auth_format),
        cmocka_unit_test(test_raw_body),
        cmocka_unit_test(test_raw_body_with_status),
        cmocka_unit_test(test_raw_body_replaced_and_freed),
        cmocka_unit_test(test_failure_overrides_raw_body),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_request_ids_unique),
        cmocka_unit_test(test_header_and_query_lookup),
        cmocka_unit_test(test_free_releases_body_and_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
