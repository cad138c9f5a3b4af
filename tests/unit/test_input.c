/* Unit tests of http/input: the JSON body (empty, malformed, non-object, duplicate keys,
 * the nesting bound and brackets inside strings), typed field getters and the messages
 * naming their label, integer bounds, enums listing their choices, pagination from query
 * parameters and result_info. Query parameters come from a fake lookup callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "http/input.h"
#include "http/request.h"
#include "testutil.h"

/* A request with the given body (NULL = none) and query parameters (may be NULL). */
static void new_request(struct request *req, const char *body, const struct tu_kv *query)
{
    request_init(req, NULL, "POST", "/client/v4/x", tu_lookup, (void *)query);
    if (body) {
        req->body = xstrdup(body);
        req->body_len = strlen(body);
    }
}

/* Asserts that req failed with exactly one 400/1004 whose message contains `needle`. */
static void expect_1004(struct request *req, const char *needle)
{
    assert_true(request_failed(req));
    assert_int_equal(req->status, 400);
    json_t *env = tu_render_json(req);
    tu_assert_failure(env, (const int[]){1004, 0});
    tu_assert_contains(tu_error_message(env, 0), needle);
    json_decref(env);
}

/* ---- input_json_object ---- */

static void test_json_object_ok(void **state)
{
    struct request req;
    json_t *obj = NULL;
    new_request(&req, "{\"name\":\"example.com\",\"n\":1}", NULL);
    assert_int_equal(input_json_object(&req, false, &obj), 0);
    assert_false(request_failed(&req));
    assert_true(json_is_object(obj));
    assert_string_equal(json_string_value(json_object_get(obj, "name")), "example.com");
    json_decref(obj);
    request_free(&req);
}

static void test_json_object_empty_body(void **state)
{
    struct request req;
    json_t *obj = NULL;

    new_request(&req, NULL, NULL);
    assert_int_equal(input_json_object(&req, true, &obj), 0);
    assert_false(request_failed(&req));
    assert_true(json_is_object(obj));
    assert_int_equal(json_object_size(obj), 0);
    json_decref(obj);
    request_free(&req);

    new_request(&req, NULL, NULL);
    obj = json_object(); /* must be reset to NULL, not leaked into */
    json_t *keep = obj;
    assert_int_equal(input_json_object(&req, false, &obj), -1);
    assert_null(obj);
    expect_1004(&req, "request body");
    json_decref(keep);
    request_free(&req);

    /* A zero-length (but allocated) body behaves like no body. */
    new_request(&req, "", NULL);
    assert_int_equal(input_json_object(&req, false, &obj), -1);
    assert_null(obj);
    expect_1004(&req, "not valid JSON");
    request_free(&req);
}

static void test_json_object_malformed(void **state)
{
    static const char *const bad[] = {
        "{",   "{\"a\":}",           "{\"a\":1,}",  "{'a':1}",
        "nul", "{\"a\":1} trailing", "{\"a\":1}{}", "{\"a\":tru}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct request req;
        json_t *obj = NULL;
        new_request(&req, bad[i], NULL);
        assert_int_equal(input_json_object(&req, true, &obj), -1);
        assert_null(obj);
        expect_1004(&req, "request body is not valid JSON");
        request_free(&req);
    }
}

static void test_json_object_not_an_object(void **state)
{
    static const char *const arrays[] = {"[]", "[{\"a\":1}]", " [1, 2] "};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        struct request req;
        json_t *obj = NULL;
        new_request(&req, arrays[i], NULL);
        assert_int_equal(input_json_object(&req, false, &obj), -1);
        assert_null(obj);
        expect_1004(&req, "request body must be a JSON object");
        request_free(&req);
    }
    /* Scalars are refused too; jansson (without JSON_DECODE_ANY) already rejects them as
     * a top-level value, so the message is its parse error rather than "must be a JSON
     * object". Either way: one 400/1004 about the request body. */
    static const char *const scalars[] = {"\"text\"", "42", "true", "null"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        struct request req;
        json_t *obj = NULL;
        new_request(&req, scalars[i], NULL);
        assert_int_equal(input_json_object(&req, true, &obj), -1);
        assert_null(obj);
        expect_1004(&req, "request body ");
        request_free(&req);
    }
}

static void test_json_object_duplicate_keys(void **state)
{
    struct request req;
    json_t *obj = NULL;
    new_request(&req, "{\"name\":\"a.com\",\"name\":\"b.com\"}", NULL);
    assert_int_equal(input_json_object(&req, false, &obj), -1);
    assert_null(obj);
    expect_1004(&req, "request body is not valid JSON");
    request_free(&req);

    /* Nested duplicates too. */
    new_request(&req, "{\"account\":{\"id\":\"1\",\"id\":\"2\"}}", NULL);
    assert_int_equal(input_json_object(&req, false, &obj), -1);
    assert_null(obj);
    request_free(&req);
}

/* {"a":{"a":...{}...}} with `depth` objects, optionally with `pad` (a member value placed
 * in the innermost object). Caller xfree's. */
static char *nested_objects(int depth, const char *pad)
{
    size_t cap = (size_t)depth * 8 + strlen(pad) + 16;
    char *s = xmalloc(cap);
    size_t n = 0;
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, i + 1 < depth ? "{\"a\":" : "{");
    n += (size_t)snprintf(s + n, cap - n, "%s", pad);
    for (int i = 0; i < depth; i++)
        s[n++] = '}';
    s[n] = '\0';
    return s;
}

static int parse_depth(int depth, const char *pad)
{
    char *body = nested_objects(depth, pad);
    struct request req;
    json_t *obj = NULL;
    new_request(&req, body, NULL);
    int rc = input_json_object(&req, false, &obj);
    if (rc == 0) {
        assert_false(request_failed(&req));
        assert_true(json_is_object(obj));
    } else {
        assert_null(obj);
        expect_1004(&req, "nested deeper than 32 levels");
    }
    json_decref(obj);
    request_free(&req);
    xfree(body);
    return rc;
}

static void test_json_depth_limit(void **state)
{
    assert_int_equal(parse_depth(1, ""), 0);
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, ""), 0);
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH + 1, ""), -1);
    assert_int_equal(parse_depth(500, ""), -1);

    /* Arrays count as levels too: 31 objects + 1 array = 32 ok, + 2 arrays = 33 refused. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH - 1, "\"x\":[1]"), 0);
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH - 1, "\"x\":[[1]]"), -1);
}

static void test_json_depth_ignores_brackets_in_strings(void **state)
{
    /* 32 real levels plus many brackets inside strings: accepted. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, "\"s\":\"[[[[[[[[{{{{{{{{[[[[{{{{\""), 0);
    /* An escaped quote does not end the string. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, "\"s\":\"\\\"[[[[[[[[{{{{{{{{\""), 0);
    /* An escaped backslash before the closing quote does end it. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, "\"s\":\"\\\\\",\"t\":\"{{{{{{\""), 0);
    /* Closing brackets inside strings must not hide a real 33rd level. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, "\"s\":\"]]]]]]]]}}}}}}}}\",\"t\":{}"), -1);
    /* Brackets in keys are strings too. */
    assert_int_equal(parse_depth(INPUT_JSON_MAX_DEPTH, "\"[[[[{{{{\":1"), 0);
}

static void test_json_depth_function(void **state)
{
    assert_int_equal(input_json_depth("", 0), 0);
    assert_int_equal(input_json_depth("1", 1), 0);
    assert_int_equal(input_json_depth("{}", 2), 1);
    assert_int_equal(input_json_depth("{\"a\":[{}],\"b\":[]}", 17), 3);
    assert_int_equal(input_json_depth("[\"[[[\"]", 7), 1);
    assert_int_equal(input_json_depth("[\"\\\"[\"]", 7), 1);
    /* The length bounds the scan. */
    assert_int_equal(input_json_depth("[[[[", 2), 2);
}

/* ---- field getters ---- */

static const char *const fields_json =
    "{\"s\":\"str\",\"n\":5,\"b\":true,\"f\":false,\"o\":{\"id\":\"abc\"},\"z\":null,"
    "\"r\":1.5,\"neg\":-3,\"a\":[1],\"big\":9223372036854775807,\"e\":\"\"}";

struct fields {
    struct request req;
    json_t *obj;
};

static int setup_fields(void **state)
{
    struct fields *f = xcalloc(1, sizeof *f);
    json_error_t err;
    f->obj = json_loads(fields_json, 0, &err);
    if (!f->obj)
        return -1;
    request_init(&f->req, NULL, "POST", "/", NULL, NULL);
    *state = f;
    return 0;
}

static int teardown_fields(void **state)
{
    struct fields *f = *state;
    request_free(&f->req);
    json_decref(f->obj);
    xfree(f);
    return 0;
}

/* Gives the fixture a fresh request (the previous outcome is discarded). */
static struct request *fresh(struct fields *f)
{
    request_free(&f->req);
    request_init(&f->req, NULL, "POST", "/", NULL, NULL);
    return &f->req;
}

static void test_input_string(void **state)
{
    struct fields *f = *state;
    const char *out = "untouched";

    assert_int_equal(input_string(fresh(f), f->obj, "s", "x.s", INPUT_REQUIRED, &out), 0);
    assert_string_equal(out, "str");
    assert_false(request_failed(&f->req));

    assert_int_equal(input_string(fresh(f), f->obj, "e", "x.e", INPUT_REQUIRED, &out), 0);
    assert_string_equal(out, "");

    out = "untouched";
    assert_int_equal(input_string(fresh(f), f->obj, "missing", "x.m", INPUT_OPTIONAL, &out), 0);
    assert_string_equal(out, "untouched");
    assert_false(request_failed(&f->req));

    assert_int_equal(input_string(fresh(f), f->obj, "z", "x.z", INPUT_OPTIONAL, &out), 0);
    assert_string_equal(out, "untouched");
    assert_false(request_failed(&f->req));

    assert_int_equal(input_string(fresh(f), f->obj, "missing", "account.id", INPUT_REQUIRED, &out),
                     -1);
    expect_1004(&f->req, "account.id: is required");
    assert_string_equal(out, "untouched");

    assert_int_equal(input_string(fresh(f), f->obj, "z", "account.id", INPUT_REQUIRED, &out), -1);
    expect_1004(&f->req, "account.id: is required");

    static const char *const wrong[] = {"n", "b", "o", "r", "a"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        assert_int_equal(
            input_string(fresh(f), f->obj, wrong[i], "account.id", INPUT_OPTIONAL, &out), -1);
        expect_1004(&f->req, "account.id: must be a string");
        assert_string_equal(out, "untouched");
    }
}

static void test_input_object(void **state)
{
    struct fields *f = *state;
    json_t *out = NULL;

    assert_int_equal(input_object(fresh(f), f->obj, "o", "account", INPUT_REQUIRED, &out), 0);
    assert_true(json_is_object(out));
    assert_string_equal(json_string_value(json_object_get(out, "id")), "abc");
    assert_false(request_failed(&f->req));

    out = NULL;
    assert_int_equal(input_object(fresh(f), f->obj, "missing", "account", INPUT_OPTIONAL, &out), 0);
    assert_null(out);
    assert_int_equal(input_object(fresh(f), f->obj, "z", "account", INPUT_OPTIONAL, &out), 0);
    assert_null(out);

    assert_int_equal(input_object(fresh(f), f->obj, "missing", "account", INPUT_REQUIRED, &out),
                     -1);
    expect_1004(&f->req, "account: is required");

    assert_int_equal(input_object(fresh(f), f->obj, "s", "account", INPUT_REQUIRED, &out), -1);
    expect_1004(&f->req, "account: must be an object");
    assert_int_equal(input_object(fresh(f), f->obj, "a", "account", INPUT_OPTIONAL, &out), -1);
    expect_1004(&f->req, "account: must be an object");
    assert_null(out);
}

static void test_input_bool(void **state)
{
    struct fields *f = *state;
    bool out = false;

    assert_int_equal(input_bool(fresh(f), f->obj, "b", "enabled", INPUT_REQUIRED, &out), 0);
    assert_true(out);
    assert_int_equal(input_bool(fresh(f), f->obj, "f", "enabled", INPUT_REQUIRED, &out), 0);
    assert_false(out);

    out = true;
    assert_int_equal(input_bool(fresh(f), f->obj, "missing", "enabled", INPUT_OPTIONAL, &out), 0);
    assert_true(out);
    assert_int_equal(input_bool(fresh(f), f->obj, "z", "enabled", INPUT_OPTIONAL, &out), 0);
    assert_true(out);

    assert_int_equal(
        input_bool(fresh(f), f->obj, "missing", "settings.enabled", INPUT_REQUIRED, &out), -1);
    expect_1004(&f->req, "settings.enabled: is required");

    static const char *const wrong[] = {"s", "n", "o", "e"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        assert_int_equal(
            input_bool(fresh(f), f->obj, wrong[i], "settings.enabled", INPUT_OPTIONAL, &out), -1);
        expect_1004(&f->req, "settings.enabled: must be a boolean");
    }
}

static void test_input_int(void **state)
{
    struct fields *f = *state;
    long long out = 0;

    assert_int_equal(input_int(fresh(f), f->obj, "n", "validity_days", INPUT_REQUIRED, 1, 10, &out),
                     0);
    assert_int_equal(out, 5);
    /* Bounds are inclusive. */
    assert_int_equal(input_int(fresh(f), f->obj, "n", "v", INPUT_REQUIRED, 5, 5, &out), 0);
    assert_int_equal(input_int(fresh(f), f->obj, "neg", "v", INPUT_REQUIRED, -3, 0, &out), 0);
    assert_int_equal(out, -3);
    assert_int_equal(input_int(fresh(f), f->obj, "big", "v", INPUT_REQUIRED, 0, LLONG_MAX, &out),
                     0);
    assert_int_equal(out, LLONG_MAX);

    out = 77;
    assert_int_equal(input_int(fresh(f), f->obj, "missing", "v", INPUT_OPTIONAL, 1, 10, &out), 0);
    assert_int_equal(out, 77);
    assert_int_equal(input_int(fresh(f), f->obj, "z", "v", INPUT_OPTIONAL, 1, 10, &out), 0);
    assert_int_equal(out, 77);

    assert_int_equal(input_int(fresh(f), f->obj, "n", "validity_days", INPUT_REQUIRED, 6, 10, &out),
                     -1);
    expect_1004(&f->req, "validity_days: must be an integer from 6 to 10");
    assert_int_equal(out, 77);
    assert_int_equal(input_int(fresh(f), f->obj, "n", "validity_days", INPUT_REQUIRED, 1, 4, &out),
                     -1);
    expect_1004(&f->req, "validity_days: must be an integer from 1 to 4");
    assert_int_equal(input_int(fresh(f), f->obj, "neg", "v", INPUT_REQUIRED, 0, 10, &out), -1);
    expect_1004(&f->req, "v: must be an integer from 0 to 10");

    /* Not integers: a real, a numeric string, a boolean. */
    static const char *const wrong[] = {"r", "s", "b"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        assert_int_equal(
            input_int(fresh(f), f->obj, wrong[i], "validity_days", INPUT_OPTIONAL, 0, 100, &out),
            -1);
        expect_1004(&f->req, "validity_days: must be an integer");
    }

    assert_int_equal(
        input_int(fresh(f), f->obj, "missing", "validity_days", INPUT_REQUIRED, 0, 100, &out), -1);
    expect_1004(&f->req, "validity_days: is required");
    assert_int_equal(out, 77);
}

static const char *const zone_types[] = {"full", "partial", "secondary", NULL};

static void test_input_enum(void **state)
{
    struct fields *f = *state;
    json_t *obj =
        json_pack("{s:s, s:s, s:i, s:n}", "ok", "partial", "bad", "Full", "num", 1, "nul");
    const char *out = "untouched";

    assert_int_equal(input_enum(fresh(f), obj, "ok", "type", INPUT_REQUIRED, zone_types, &out), 0);
    assert_string_equal(out, "partial");

    out = "untouched";
    assert_int_equal(input_enum(fresh(f), obj, "missing", "type", INPUT_OPTIONAL, zone_types, &out),
                     0);
    assert_string_equal(out, "untouched");
    assert_int_equal(input_enum(fresh(f), obj, "nul", "type", INPUT_OPTIONAL, zone_types, &out), 0);
    assert_string_equal(out, "untouched");
    assert_false(request_failed(&f->req));

    /* Case matters; the message lists every choice. */
    assert_int_equal(input_enum(fresh(f), obj, "bad", "type", INPUT_OPTIONAL, zone_types, &out),
                     -1);
    expect_1004(&f->req, "type: must be one of full, partial or secondary");
    assert_string_equal(out, "untouched");

    static const char *const two[] = {"rsa", "ecdsa", NULL};
    assert_int_equal(input_enum(fresh(f), obj, "bad", "key_type", INPUT_OPTIONAL, two, &out), -1);
    expect_1004(&f->req, "key_type: must be one of rsa or ecdsa");

    static const char *const one[] = {"only", NULL};
    assert_int_equal(input_enum(fresh(f), obj, "bad", "kind", INPUT_OPTIONAL, one, &out), -1);
    expect_1004(&f->req, "kind: must be one of only");

    assert_int_equal(input_enum(fresh(f), obj, "num", "type", INPUT_OPTIONAL, zone_types, &out),
                     -1);
    expect_1004(&f->req, "type: must be a string");

    assert_int_equal(input_enum(fresh(f), obj, "missing", "type", INPUT_REQUIRED, zone_types, &out),
                     -1);
    expect_1004(&f->req, "type: is required");
    json_decref(obj);
}

static void test_input_query_enum(void **state)
{
    static const char *const statuses[] = {"active", "pending", NULL};
    const char *out = "x";
    struct request req;

    new_request(&req, NULL, (const struct tu_kv[]){{REQUEST_QUERY, "status", "pending"}, {0}});
    assert_int_equal(input_query_enum(&req, "status", statuses, &out), 0);
    assert_string_equal(out, "pending");
    request_free(&req);

    new_request(&req, NULL, NULL);
    assert_int_equal(input_query_enum(&req, "status", statuses, &out), 0);
    assert_null(out);
    assert_false(request_failed(&req));
    request_free(&req);

    new_request(&req, NULL, (const struct tu_kv[]){{REQUEST_QUERY, "status", "gone"}, {0}});
    assert_int_equal(input_query_enum(&req, "status", statuses, &out), -1);
    assert_null(out);
    expect_1004(&req, "status: must be one of active or pending");
    request_free(&req);

    /* A header of the same name is not a query parameter. */
    new_request(&req, NULL, (const struct tu_kv[]){{REQUEST_HEADER, "status", "gone"}, {0}});
    assert_int_equal(input_query_enum(&req, "status", statuses, &out), 0);
    assert_null(out);
    request_free(&req);
}

/* ---- pagination ---- */

static int paging_with(const char *page, const char *per_page, struct paging *p, char *message,
                       size_t message_size)
{
    struct tu_kv q[3] = {{0}};
    int n = 0;
    if (page)
        q[n++] = (struct tu_kv){REQUEST_QUERY, "page", page};
    if (per_page)
        q[n++] = (struct tu_kv){REQUEST_QUERY, "per_page", per_page};
    struct request req;
    new_request(&req, NULL, q);
    int rc = input_paging(&req, p);
    if (rc < 0) {
        assert_int_equal(req.status, 400);
        json_t *env = tu_render_json(&req);
        tu_assert_failure(env, (const int[]){1004, 0});
        snprintf(message, message_size, "%s", tu_error_message(env, 0));
        json_decref(env);
    } else {
        assert_false(request_failed(&req));
    }
    request_free(&req);
    return rc;
}

static void test_paging_defaults(void **state)
{
    struct paging p = {-7, -7};
    char msg[256];
    assert_int_equal(paging_with(NULL, NULL, &p, msg, sizeof msg), 0);
    assert_int_equal(p.page, 1);
    assert_int_equal(p.per_page, 20);
    assert_int_equal(INPUT_PER_PAGE_DEFAULT, 20);
    assert_int_equal(INPUT_PER_PAGE_MAX, 50);
}

static void test_paging_valid(void **state)
{
    struct paging p;
    char msg[256];
    assert_int_equal(paging_with("3", "10", &p, msg, sizeof msg), 0);
    assert_int_equal(p.page, 3);
    assert_int_equal(p.per_page, 10);
    assert_int_equal(paging_with(NULL, "50", &p, msg, sizeof msg), 0);
    assert_int_equal(p.page, 1);
    assert_int_equal(p.per_page, 50);
    assert_int_equal(paging_with(NULL, "1", &p, msg, sizeof msg), 0);
    assert_int_equal(p.per_page, 1);
    assert_int_equal(paging_with("7", NULL, &p, msg, sizeof msg), 0);
    assert_int_equal(p.page, 7);
    assert_int_equal(p.per_page, 20);
}

static void test_paging_bad_per_page(void **state)
{
    static const char *const bad[] = {
        "0", "51", "abc", "-1", "1 ", " 1", "", "+5", "1.0", "99999999999999999999", "5a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct paging p;
        char msg[256] = "";
        if (paging_with(NULL, bad[i], &p, msg, sizeof msg) != -1)
            fail_msg("per_page=\"%s\" was accepted", bad[i]);
        tu_assert_contains(msg, "per_page");
        assert_string_equal(msg, "per_page: must be an integer from 1 to 50");
    }
}

static void test_paging_bad_page(void **state)
{
    static const char *const bad[] = {"0", "-1", "abc", "", "2 ", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct paging p;
        char msg[256] = "";
        if (paging_with(bad[i], "10", &p, msg, sizeof msg) != -1)
            fail_msg("page=\"%s\" was accepted", bad[i]);
        tu_assert_contains(msg, "page: must be an integer from 1 to ");
        tu_assert_not_contains(msg, "per_page");
    }
}

static void expect_result_info(int page, int per_page, int count, int total, int pages)
{
    struct paging p = {page, per_page};
    json_t *ri = input_result_info(&p, count, total);
    assert_true(json_is_object(ri));
    assert_int_equal(json_object_size(ri), 5);
    assert_int_equal(json_integer_value(json_object_get(ri, "page")), page);
    assert_int_equal(json_integer_value(json_object_get(ri, "per_page")), per_page);
    assert_int_equal(json_integer_value(json_object_get(ri, "count")), count);
    assert_int_equal(json_integer_value(json_object_get(ri, "total_count")), total);
    assert_int_equal(json_integer_value(json_object_get(ri, "total_pages")), pages);
    json_decref(ri);
}

static void test_result_info(void **state)
{
    expect_result_info(1, 20, 0, 0, 1);   /* empty list: one (empty) page */
    expect_result_info(1, 10, 10, 25, 3); /* 25 items, 10 a page */
    expect_result_info(3, 10, 5, 25, 3);
    expect_result_info(4, 10, 0, 25, 3);  /* past the last page */
    expect_result_info(1, 10, 10, 20, 2); /* exact multiple */
    expect_result_info(1, 10, 1, 1, 1);
    expect_result_info(1, 50, 50, 51, 2);
    expect_result_info(2, 1, 1, 3, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object_ok),
        cmocka_unit_test(test_json_object_empty_body),
        cmocka_unit_test(test_json_object_malformed),
        cmocka_unit_test(test_json_object_not_an_object),
        cmocka_unit_test(test_json_object_duplicate_keys),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_depth_ignores_brackets_in_strings),
        cmocka_unit_test(test_json_depth_function),
        cmocka_unit_test_setup_teardown(test_input_string, setup_fields, teardown_fields),
        cmocka_unit_test_setup_teardown(test_input_object, setup_fields, teardown_fields),
        cmocka_unit_test_setup_teardown(test_input_bool, setup_fields, teardown_fields),
        cmocka_unit_test_setup_teardown(test_input_int, setup_fields, teardown_fields),
        cmocka_unit_test_setup_teardown(test_input_enum, setup_fields, teardown_fields),
        cmocka_unit_test(test_input_query_enum),
        cmocka_unit_test(test_paging_defaults),
        cmocka_unit_test(test_paging_valid),
        cmocka_unit_test(test_paging_bad_per_page),
        cmocka_unit_test(test_paging_bad_page),
        cmocka_unit_test(test_result_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
