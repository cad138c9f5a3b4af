/* Unit tests for core/acme_pack: records built from an order's challenges, problem
 * documents as validation_errors messages, the worker's reaction to an answer, and what a
 * stored order means when a job resumes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "core/acme_pack.h"
#include "store/store_internal.h"

/* RFC 8555 §8.1's example shape: a token and a thumbprint joined by ".". */
#define KEYAUTH_A                                                                                  \
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define KEYAUTH_B                                                                                  \
    "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

/* acme_pack_records' records as the API shows them (a JSON array), or NULL when refused;
 * a refusal leaves the pack's records as they were. */
static json_t *acme_records_json(enum pack_method method, const struct acme_pack_challenge *ch,
                                 size_t n, char *msg, size_t size)
{
    struct store_pack p = {0};
    json_t *out = NULL;
    if (acme_pack_records(method, ch, n, &p, msg, size) == 0) {
        char *text = store__pack_json_encode(&p, STORE__PACK_RECORDS);
        out = json_loads(text, 0, NULL);
        free(text);
    } else {
        assert_int_equal(p.validation_record_count, 0);
    }
    store_pack_clear(&p);
    return out;
}

/* More challenges than a pack holds records for, or a value too long for its field: refused. */
static void test_records_refuse_what_does_not_fit(void **state)
{
    (void)state;
    char msg[ACME_PACK_MSG_SIZE], token[400];
    struct acme_pack_challenge many[STORE_PACK_RECORDS_MAX + 1];
    for (size_t i = 0; i < STORE_PACK_RECORDS_MAX + 1; i++)
        many[i] = (struct acme_pack_challenge){"example.com", false, "t", "t.k", NULL};
    assert_null(
        acme_records_json(PACK_METHOD_TXT, many, STORE_PACK_RECORDS_MAX + 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "authorizations"));
    json_t *full =
        acme_records_json(PACK_METHOD_TXT, many, STORE_PACK_RECORDS_MAX, msg, sizeof msg);
    assert_int_equal(json_array_size(full), STORE_PACK_RECORDS_MAX);
    json_decref(full);
    memset(token, 'a', sizeof token - 1);
    token[sizeof token - 1] = '\0';
    struct acme_pack_challenge longer[] = {{"example.com", false, token, token, NULL}};
    assert_null(acme_records_json(PACK_METHOD_HTTP, longer, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "does not fit"));
}

static void test_email_refused_others_allowed(void **state)
{
    (void)state;
    assert_non_null(strstr(acme_pack_method_refusal(PACK_METHOD_EMAIL), "ACME has no e-mail"));
    assert_null(acme_pack_method_refusal(PACK_METHOD_TXT));
    assert_null(acme_pack_method_refusal(PACK_METHOD_HTTP));
    assert_string_equal(acme_pack_challenge_type(PACK_METHOD_TXT), "dns-01");
    assert_string_equal(acme_pack_challenge_type(PACK_METHOD_HTTP), "http-01");
    assert_null(acme_pack_challenge_type(PACK_METHOD_EMAIL));
}

/* base64url(SHA-256("abc")) is a known value (FIPS 180-2 example, re-encoded). */
static void test_dns01_value_is_base64url_sha256(void **state)
{
    (void)state;
    char v[44];
    acme_pack_dns01_value("abc", v);
    assert_string_equal(v, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    assert_int_equal(strlen(v), 43);
}

static void test_txt_records_from_challenges(void **state)
{
    (void)state;
    /* An apex and its wildcard: one name, two values (as the API shows them). */
    struct acme_pack_challenge ch[] = {
        {"example.com", false, "tokA", KEYAUTH_A, "pending"},
        {"example.com", true, "tokB", KEYAUTH_B, "valid"},
    };
    char msg[ACME_PACK_MSG_SIZE], want_a[44], want_b[44];
    json_t *r = acme_records_json(PACK_METHOD_TXT, ch, 2, msg, sizeof msg);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 2);
    acme_pack_dns01_value(KEYAUTH_A, want_a);
    acme_pack_dns01_value(KEYAUTH_B, want_b);
    json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
    assert_string_equal(json_string_value(json_object_get(a, "txt_name")),
                        "_acme-challenge.example.com");
    assert_string_equal(json_string_value(json_object_get(b, "txt_name")),
                        "_acme-challenge.example.com");
    assert_string_equal(json_string_value(json_object_get(a, "txt_value")), want_a);
    assert_string_equal(json_string_value(json_object_get(b, "txt_value")), want_b);
    assert_string_not_equal(want_a, want_b);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(b, "status")), "active");
    /* Nothing of the key authorization itself is shown for dns-01. */
    char *text = json_dumps(r, JSON_COMPACT);
    assert_null(strstr(text, "9jg46WB3rR"));
    free(text);
    json_decref(r);
}

/* Delegated DCV (cname) is dns-01 too: the same TXT value under the user's own name, which
 * the pack view pairs with the CNAME target the value is published at. */
static void test_cname_records_are_dns01(void **state)
{
    (void)state;
    assert_null(acme_pack_method_refusal(PACK_METHOD_CNAME));
    assert_string_equal(acme_pack_challenge_type(PACK_METHOD_CNAME), "dns-01");
    struct acme_pack_challenge ch[] = {{"www.example.com", false, "tokA", KEYAUTH_A, NULL}};
    char msg[ACME_PACK_MSG_SIZE] = "", want[44];
    json_t *r = acme_records_json(PACK_METHOD_CNAME, ch, 1, msg, sizeof msg);
    assert_non_null(r);
    assert_string_equal(msg, "");
    acme_pack_dns01_value(KEYAUTH_A, want);
    json_t *a = json_array_get(r, 0);
    assert_string_equal(json_string_value(json_object_get(a, "txt_name")),
                        "_acme-challenge.www.example.com");
    assert_string_equal(json_string_value(json_object_get(a, "txt_value")), want);
    assert_null(json_object_get(a, "http_url"));
    json_decref(r);
}

/* A CA may list an order's authorizations in any order on each fetch (Pebble shuffles
 * them): the records come out the same, or a re-fetch would look like new values. */
static void test_records_do_not_follow_the_authz_order(void **state)
{
    (void)state;
    struct acme_pack_challenge a[] = {
        {"www.example.com", false, "tokC", KEYAUTH_A, NULL},
        {"example.com", true, "tokB", KEYAUTH_B, NULL},
        {"example.com", false, "tokA", KEYAUTH_A, NULL},
    };
    struct acme_pack_challenge b[] = {a[1], a[2], a[0]};
    char msg[ACME_PACK_MSG_SIZE];
    json_t *ra = acme_records_json(PACK_METHOD_TXT, a, 3, msg, sizeof msg);
    json_t *rb = acme_records_json(PACK_METHOD_TXT, b, 3, msg, sizeof msg);
    assert_true(json_equal(ra, rb));
    char want_b[44];
    acme_pack_dns01_value(KEYAUTH_B, want_b);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ra, 1), "txt_value")),
                        want_b); /* the wildcard right after its base name */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ra, 2), "txt_name")),
                        "_acme-challenge.www.example.com");
    json_decref(ra);
    json_decref(rb);
}

static void test_http_records_from_challenges(void **state)
{
    (void)state;
    struct acme_pack_challenge ch[] = {{"www.example.com", false, "tokA", KEYAUTH_A, NULL}};
    char msg[ACME_PACK_MSG_SIZE];
    json_t *r = acme_records_json(PACK_METHOD_HTTP, ch, 1, msg, sizeof msg);
    assert_non_null(r);
    json_t *a = json_array_get(r, 0);
    assert_string_equal(json_string_value(json_object_get(a, "http_url")),
                        "http://www.example.com/.well-known/acme-challenge/tokA");
    assert_string_equal(json_string_value(json_object_get(a, "http_body")), KEYAUTH_A);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "pending");
    json_decref(r);
}

static void test_records_refuse_email_and_incomplete_challenges(void **state)
{
    (void)state;
    char msg[ACME_PACK_MSG_SIZE];
    struct acme_pack_challenge ok[] = {{"example.com", false, "t", KEYAUTH_A, NULL}};
    assert_null(acme_records_json(PACK_METHOD_EMAIL, ok, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "e-mail"));
    struct acme_pack_challenge bad[] = {{"example.com", false, NULL, KEYAUTH_A, NULL}};
    assert_null(acme_records_json(PACK_METHOD_TXT, bad, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "challenge 0"));
    json_t *none = acme_records_json(PACK_METHOD_TXT, NULL, 0, msg, sizeof msg);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
}

static void test_problem_message_with_subproblems(void **state)
{
    (void)state;
    struct acme_problem p = {
        .type = "caa", .detail = "issuance forbidden", .status = 403, .n_sub = 2};
    strcpy(p.sub[0].identifier, "www.example.com");
    strcpy(p.sub[0].detail, "CAA record for example.com forbids issuance");
    strcpy(p.sub[1].identifier, "");
    strcpy(p.sub[1].type, "dns");
    char out[512];
    acme_pack_problem_message(&p, NULL, out, sizeof out);
    assert_string_equal(out,
                        "ACME: a CAA record forbids this CA: issuance forbidden; "
                        "www.example.com: CAA record for example.com forbids issuance; ?: dns");
}

static void test_problem_message_unknown_type_fallback_and_truncation(void **state)
{
    (void)state;
    struct acme_problem p = {.type = "urn:example:weird", .detail = "line1\nline2"};
    char out[512], tiny[16];
    acme_pack_problem_message(&p, NULL, out, sizeof out);
    assert_string_equal(out, "ACME: urn:example:weird: line1 line2");
    acme_pack_problem_message(NULL, "order failed", out, sizeof out);
    assert_string_equal(out, "order failed");
    struct acme_problem empty = {0};
    acme_pack_problem_message(&empty, NULL, out, sizeof out);
    assert_string_equal(out, "the ACME server gave no reason");
    acme_pack_problem_message(&p, NULL, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_reactions(void **state)
{
    (void)state;
    assert_int_equal(acme_pack_reaction(400, "accountDoesNotExist"), ACME_REACT_REREGISTER);
    assert_int_equal(acme_pack_reaction(400, "urn:ietf:params:acme:error:accountDoesNotExist"),
                     ACME_REACT_REREGISTER);
    assert_int_equal(acme_pack_reaction(429, "rateLimited"), ACME_REACT_BACK_OFF);
    assert_int_equal(acme_pack_reaction(503, NULL), ACME_REACT_BACK_OFF);
    assert_int_equal(acme_pack_reaction(0, NULL), ACME_REACT_BACK_OFF);
    assert_int_equal(acme_pack_reaction(404, NULL), ACME_REACT_NEW_ORDER);
    assert_int_equal(acme_pack_reaction(403, "unauthorized"), ACME_REACT_FAIL);
    assert_int_equal(acme_pack_reaction(403, "caa"), ACME_REACT_FAIL);
    assert_int_equal(acme_pack_reaction(400, "externalAccountRequired"), ACME_REACT_FAIL);
}

static void test_resume_decisions(void **state)
{
    (void)state;
    const int64_t now = 1000, later = 2000, earlier = 500;
    assert_int_equal(acme_pack_resume(NULL, NULL, NULL, 0, now), ACME_RESUME_NEW_ORDER);
    assert_int_equal(acme_pack_resume("", "pending", NULL, 0, now), ACME_RESUME_NEW_ORDER);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "pending", NULL, later, now),
                     ACME_RESUME_POLL);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "pending", "ready", later, now),
                     ACME_RESUME_FINALIZE);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "ready", "processing", later, now),
                     ACME_RESUME_POLL);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "processing", "valid", earlier, now),
                     ACME_RESUME_DOWNLOAD); /* a valid order is downloaded even past expiry */
    assert_int_equal(acme_pack_resume("https://ca/o/1", "pending", "invalid", later, now),
                     ACME_RESUME_FAILED);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "pending", NULL, earlier, now),
                     ACME_RESUME_NEW_ORDER);
    assert_int_equal(acme_pack_resume("https://ca/o/1", "pending", "bogus", later, now),
                     ACME_RESUME_NEW_ORDER);
}

static void test_ari_renew_at_inside_window_and_stable(void **state)
{
    (void)state;
    const int64_t start = 1000000, end = 5000000;
    int64_t a = acme_pack_ari_renew_at(start, end, "pack-a");
    assert_true(a >= start && a < end);
    assert_int_equal(acme_pack_ari_renew_at(start, end, "pack-a"), a); /* every worker agrees */
    int spread = 0;
    char id[16];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "pack-%d", i);
        int64_t t = acme_pack_ari_renew_at(start, end, id);
        assert_true(t >= start && t < end);
        spread += t != a;
    }
    assert_true(spread > 10); /* packs do not all renew at one instant */
    assert_int_equal(acme_pack_ari_renew_at(end, start, "x"), end);     /* reversed window */
    assert_int_equal(acme_pack_ari_renew_at(start, start, "x"), start); /* empty window */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_refused_others_allowed),
        cmocka_unit_test(test_dns01_value_is_base64url_sha256),
        cmocka_unit_test(test_txt_records_from_challenges),
        cmocka_unit_test(test_records_refuse_what_does_not_fit),
        cmocka_unit_test(test_cname_records_are_dns01),
        cmocka_unit_test(test_records_do_not_follow_the_authz_order),
        cmocka_unit_test(test_http_records_from_challenges),
        cmocka_unit_test(test_records_refuse_email_and_incomplete_challenges),
        cmocka_unit_test(test_problem_message_with_subproblems),
        cmocka_unit_test(test_problem_message_unknown_type_fallback_and_truncation),
        cmocka_unit_test(test_reactions),
        cmocka_unit_test(test_resume_decisions),
        cmocka_unit_test(test_ari_renew_at_inside_window_and_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
