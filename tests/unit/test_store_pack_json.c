/* Unit tests of a pack's arrays and their JSON texts (store/store_pack_json.c): every field
 * survives a round trip; a known pack encodes to exactly the text the columns held when
 * they were the API's JSON (so databases written before read unchanged, and are written
 * back byte for byte); whatever does not fit a bound is refused, never cut short. The
 * store part runs on both backends (<name>_pg). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "testutil.h"

/* Texts as the record builders (core/pack_records, core/acme_pack), the worker and the API
 * wrote them before the store typed them: one of each record form, and the others. */
#define OLD_HOSTS "[\"example.com\",\"*.example.com\",\"www.example.com\"]"
#define OLD_RECORDS                                                                                \
    "[{\"txt_name\":\"_acme-challenge.example.com\",\"txt_value\":\"v1\",\"status\":\"pending\"}," \
    "{\"http_url\":\"http://www.example.com/.well-known/acme-challenge/tok\",\"http_body\":"       \
    "\"tok.thumb\",\"status\":\"active\"},"                                                        \
    "{\"emails\":[\"admin@example.com\",\"administrator@example.com\",\"hostmaster@example.com\"," \
    "\"postmaster@example.com\",\"webmaster@example.com\"],\"status\":\"pending\"}]"
#define OLD_ERRORS                                                                                 \
    "[{\"message\":\"DNS error at _acme-challenge.example.com: \\\"quoted\\\" \\u00e9\"},"         \
    "{\"message\":\"CAA check failed\"}]"
#define OLD_DELEGATION                                                                             \
    "[{\"cname\":\"_acme-challenge.example.com\",\"cname_target\":\"example.com.z.dcv.test\"}]"

static const char *const old_texts[] = {OLD_HOSTS, OLD_RECORDS, OLD_ERRORS, OLD_DELEGATION};

/* The known pack, field by field. */
static void known_pack(struct store_pack *p)
{
    memset(p, 0, sizeof *p);
    assert_non_null(store_pack_host_add(p, "example.com"));
    assert_non_null(store_pack_host_add(p, "*.example.com"));
    assert_non_null(store_pack_host_add(p, "www.example.com"));
    struct store_validation_record *r = store_pack_record_add(p);
    snprintf(r->txt_name, sizeof r->txt_name, "_acme-challenge.example.com");
    snprintf(r->txt_value, sizeof r->txt_value, "v1");
    snprintf(r->status, sizeof r->status, "pending");
    r = store_pack_record_add(p);
    snprintf(r->http_url, sizeof r->http_url,
             "http://www.example.com/.well-known/acme-challenge/tok");
    snprintf(r->http_body, sizeof r->http_body, "tok.thumb");
    snprintf(r->status, sizeof r->status, "active");
    r = store_pack_record_add(p);
    static const char *const locals[] = {"admin", "administrator", "hostmaster", "postmaster",
                                         "webmaster"};
    for (int i = 0; i < 5; i++)
        snprintf(r->emails[i], sizeof r->emails[i], "%s@example.com", locals[i]);
    r->email_count = 5;
    snprintf(r->status, sizeof r->status, "pending");
    assert_non_null(
        store_pack_error_add(p, "DNS error at _acme-challenge.example.com: \"quoted\" \xc3\xa9"));
    assert_non_null(store_pack_error_add(p, "CAA check failed"));
    assert_non_null(
        store_pack_delegation_add(p, "_acme-challenge.example.com", "example.com.z.dcv.test"));
}

/* The known pack encodes to the old texts, byte for byte (jansson writes "é" as is, and
 * so did the old code: both go through json_dumps with the same flags). */
static void test_known_pack_encodes_to_the_old_text(void **state)
{
    (void)state;
    struct store_pack p;
    known_pack(&p);
    assert_pack_text(&p, TU_HOSTS, OLD_HOSTS);
    assert_pack_text(&p, TU_DELEGATION, OLD_DELEGATION);
    assert_pack_text(&p, TU_RECORDS, OLD_RECORDS);
    char *errors = tu_pack_text(&p, TU_ERRORS);
    assert_string_equal(errors, "[{\"message\":\"DNS error at _acme-challenge.example.com: "
                                "\\\"quoted\\\" \xc3\xa9\"},{\"message\":\"CAA check failed\"}]");
    xfree(errors);
    store_pack_clear(&p);
}

/* A new order's pack has no records, errors or delegation records: each encodes to "[]"
 * (what json_dumps makes of an empty array) and decodes back to an empty array. */
static void test_empty_arrays_encode_as_before(void **state)
{
    (void)state;
    struct store_pack p;
    memset(&p, 0, sizeof p);
    static const enum store__pack_array empty[] = {STORE__PACK_RECORDS, STORE__PACK_ERRORS,
                                                   STORE__PACK_DELEGATION};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        char *text = store__pack_json_encode(&p, empty[i]);
        assert_non_null(text);
        json_t *arr = json_array();
        char *jansson = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        assert_string_equal(text, jansson);
        assert_string_equal(text, "[]");
        free(jansson);
        struct store_pack back;
        memset(&back, 0, sizeof back);
        assert_int_equal(store__pack_json_decode(&back, empty[i], text), STORE_OK);
        assert_int_equal(back.validation_record_count + back.validation_error_count +
                             back.dcv_delegation_record_count,
                         0);
        store_pack_clear(&back);
        xfree(text);
    }
}

/* Decoding the old texts gives every field of the known pack, and encoding that gives the
 * text back (the escaped \u00e9 comes back as the character itself, as json_dumps wrote it). */
static void test_old_text_round_trips_every_field(void **state)
{
    (void)state;
    struct store_pack want, got = {0};
    known_pack(&want);
    for (int a = 0; a < 4; a++)
        tu_pack_set(&got, (enum store__pack_array)a, old_texts[a]);
    assert_int_equal(got.host_count, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(got.hosts[i].name, want.hosts[i].name);
    assert_int_equal(got.validation_record_count, 3);
    assert_memory_equal(got.validation_records, want.validation_records,
                        3 * sizeof *got.validation_records);
    assert_int_equal(got.validation_error_count, 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(got.validation_errors[i].message, want.validation_errors[i].message);
    assert_int_equal(got.dcv_delegation_record_count, 1);
    assert_string_equal(got.dcv_delegation_records[0].cname, want.dcv_delegation_records[0].cname);
    assert_string_equal(got.dcv_delegation_records[0].cname_target,
                        want.dcv_delegation_records[0].cname_target);
    for (int a = 0; a < 4; a++) {
        char *x = tu_pack_text(&got, (enum store__pack_array)a);
        char *y = tu_pack_text(&want, (enum store__pack_array)a);
        assert_string_equal(x, y);
        xfree(x);
        xfree(y);
    }
    /* A copy is deep: clearing the original leaves it whole. */
    struct store_pack copy;
    store_pack_copy(&copy, &got);
    store_pack_clear(&got);
    assert_string_equal(copy.validation_records[2].emails[4], "webmaster@example.com");
    assert_string_equal(copy.hosts[1].name, "*.example.com");
    store_pack_clear(&copy);
    store_pack_clear(&want);
    /* Empty and NULL are the empty array. */
    tu_pack_set(&got, TU_RECORDS, NULL);
    assert_int_equal(got.validation_record_count, 0);
    assert_pack_text(&got, TU_RECORDS, "[]");
}

/* Fields at their largest: each fills its buffer to the last byte and survives. */
static void test_largest_fields_round_trip(void **state)
{
    (void)state;
    struct store_pack p = {0}, got = {0};
    struct store_validation_record *r = store_pack_record_add(&p);
    memset(r->txt_name, 'n', sizeof r->txt_name - 1);
    memset(r->txt_value, 'v', sizeof r->txt_value - 1);
    memset(r->http_url, 'u', sizeof r->http_url - 1);
    memset(r->http_body, 'b', sizeof r->http_body - 1);
    for (int i = 0; i < STORE_RECORD_EMAILS_MAX; i++)
        memset(r->emails[i], 'a' + i, sizeof r->emails[i] - 1);
    r->email_count = STORE_RECORD_EMAILS_MAX;
    memset(r->status, 's', sizeof r->status - 1);
    char *text = tu_pack_text(&p, TU_RECORDS);
    tu_pack_set(&got, TU_RECORDS, text);
    xfree(text);
    assert_int_equal(got.validation_record_count, 1);
    assert_memory_equal(got.validation_records, p.validation_records, sizeof *r);
    store_pack_clear(&p);
    store_pack_clear(&got);
}

/* Too many elements, too long a value, a wrong type or an unknown member: refused (the
 * array is left empty, the read fails), never truncated or dropped. */
static void test_decode_refuses_what_does_not_fit(void **state)
{
    (void)state;
    struct store_pack p = {0};
    /* 51 hosts fit, 52 do not. */
    char *hosts = xstrdup("[");
    for (int i = 0; i <= STORE_PACK_HOSTS_MAX; i++) {
        char *next = xasprintf("%s%s\"h%d.example.com\"", hosts, i ? "," : "", i);
        xfree(hosts);
        hosts = next;
        char *text = xasprintf("%s]", hosts);
        int rc = store__pack_json_decode(&p, STORE__PACK_HOSTS, text);
        xfree(text);
        assert_int_equal(rc, i < STORE_PACK_HOSTS_MAX ? STORE_OK : STORE_ERROR);
        assert_int_equal(p.host_count, i < STORE_PACK_HOSTS_MAX ? i + 1 : 0);
    }
    xfree(hosts);
    char longest[STORE_HOST_SIZE + 8];
    memset(longest, 'a', STORE_HOST_SIZE);
    longest[STORE_HOST_SIZE] = '\0'; /* one byte more than a host holds */
    char *text = xasprintf("[\"%s\"]", longest);
    assert_int_equal(store__pack_json_decode(&p, STORE__PACK_HOSTS, text), STORE_ERROR);
    xfree(text);
    longest[STORE_HOST_SIZE - 1] = '\0';
    text = xasprintf("[\"%s\"]", longest);
    assert_int_equal(store__pack_json_decode(&p, STORE__PACK_HOSTS, text), STORE_OK);
    xfree(text);

    static const struct {
        enum store__pack_array a;
        const char *text;
    } bad[] = {
        {STORE__PACK_HOSTS, "not json"},
        {STORE__PACK_HOSTS, "{}"},
        {STORE__PACK_HOSTS, "[1]"},
        {STORE__PACK_RECORDS, "[{\"txt_name\":\"a\",\"extra\":\"b\"}]"},
        {STORE__PACK_RECORDS, "[{\"txt_name\":1}]"},
        {STORE__PACK_RECORDS, "[\"a\"]"},
        {STORE__PACK_RECORDS, "[{\"emails\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"]}]"},
        {STORE__PACK_RECORDS, "[{\"emails\":[1]}]"},
        {STORE__PACK_RECORDS, "[{\"status\":\"much-too-long-status\"}]"},
        {STORE__PACK_ERRORS, "[{\"message\":\"m\",\"code\":1}]"},
        {STORE__PACK_ERRORS, "[{}]"},
        {STORE__PACK_DELEGATION, "[{\"cname\":\"c\"}]"},
        {STORE__PACK_DELEGATION, "[{\"cname\":\"c\",\"cname_target\":null}]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(store__pack_json_decode(&p, bad[i].a, bad[i].text), STORE_ERROR);
        assert_int_equal(p.validation_record_count + p.validation_error_count +
                             p.dcv_delegation_record_count,
                         0);
    }
    store_pack_clear(&p);
}

/* The helpers refuse past a bound; encoding refuses a count past it. */
static void test_add_and_encode_refuse_past_the_bounds(void **state)
{
    (void)state;
    struct store_pack p = {0};
    for (int i = 0; i < STORE_PACK_RECORDS_MAX; i++)
        assert_non_null(store_pack_record_add(&p));
    assert_null(store_pack_record_add(&p));
    for (int i = 0; i < STORE_PACK_ERRORS_MAX; i++)
        assert_non_null(store_pack_error_add(&p, "m"));
    assert_null(store_pack_error_add(&p, "m"));
    char big[STORE_ERROR_MESSAGE_SIZE + 1];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    store_pack_errors_clear(&p);
    assert_null(store_pack_error_add(&p, big));
    assert_int_equal(p.validation_error_count, 0);
    assert_null(store_pack_host_add(&p, big));
    assert_null(store_pack_delegation_add(&p, "c", big));
    assert_null(store_pack_delegation_add(&p, big, "t"));
    assert_int_equal(p.dcv_delegation_record_count, 0);
    char dst[4];
    assert_int_equal(store_field_set(dst, sizeof dst, "abc"), 0);
    assert_int_equal(store_field_set(dst, sizeof dst, "abcd"), -1);
    assert_string_equal(dst, "abc");
    /* A count past the bound (a caller writing the arrays by hand) is not encoded. */
    p.validation_record_count = STORE_PACK_RECORDS_MAX + 1;
    assert_null(store__pack_json_encode(&p, STORE__PACK_RECORDS));
    p.validation_record_count = STORE_PACK_RECORDS_MAX;
    store_pack_clear(&p);
}

/* ---- in the store (both backends) ---- */

static int setup(void **state)
{
    return tu_store_fx_setup(state, "/tmp/tlsward-test-packjson-XXXXXX", 2, true);
}

static const char *const columns[] = {"hosts", "validation_records", "validation_errors",
                                      "dcv_delegation_records"};

/* Whether a column of the one pack holds exactly text. */
static bool column_is(const struct tu_store_fx *fx, int a, const char *text)
{
    char *sql = xasprintf("SELECT count(*) FROM packs WHERE %s = $1", columns[a]);
    long long n = tu_store_sql_int(fx->path, sql, text);
    xfree(sql);
    return n == 1;
}

/* A row holding the old texts (as a database written before has them) reads as the known
 * pack, and a write of it puts the same bytes back; a row whose text does not fit is a
 * read error, not a pack with records missing. */
static void test_old_rows_read_and_write_back_unchanged(void **state)
{
    struct tu_store_fx *fx = *state;
    int64_t now = util_now_us();
    char id[STORE_ID_SIZE];
    tu_add_pack(fx->s, fx->zone_id, "pending_validation", now, id);
    assert_true(column_is(fx, TU_HOSTS, "[\"example.com\"]"));
    assert_true(column_is(fx, TU_RECORDS, "[]"));

    static const char *const escaped_errors =
        "[{\"message\":\"DNS error at _acme-challenge.example.com: \\\"quoted\\\" \xc3\xa9\"},"
        "{\"message\":\"CAA check failed\"}]";
    const char *const texts[] = {OLD_HOSTS, OLD_RECORDS, escaped_errors, OLD_DELEGATION};
    for (int a = 0; a < 4; a++) {
        char *sql = xasprintf("UPDATE packs SET %s = $1", columns[a]);
        assert_int_equal(tu_store_sql_exec(fx->path, sql, texts[a]), 1);
        xfree(sql);
    }
    struct store_pack got, want;
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    known_pack(&want);
    assert_int_equal(got.host_count, 3);
    assert_int_equal(got.validation_record_count, 3);
    assert_memory_equal(got.validation_records, want.validation_records,
                        3 * sizeof *got.validation_records);
    assert_string_equal(got.validation_errors[0].message, want.validation_errors[0].message);
    assert_string_equal(got.dcv_delegation_records[0].cname_target, "example.com.z.dcv.test");
    store_pack_clear(&want);

    /* Written back (a status change): the texts are the same bytes. */
    assert_int_equal(store_pack_update(fx->s, &got, NULL, NULL, 0, now), STORE_OK);
    store_pack_clear(&got);
    for (int a = 0; a < 4; a++)
        assert_true(column_is(fx, a, texts[a]));

    /* A record with a member this build does not know: the read fails, nothing is lost. */
    assert_int_equal(tu_store_sql_exec(fx->path, "UPDATE packs SET validation_records = $1",
                                       "[{\"txt_name\":\"a\",\"later\":\"x\"}]"),
                     1);
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_ERROR);
    assert_null(got.hosts);
    assert_null(got.validation_records);
}

/* A pack with more hosts than the bound is refused at the write (nothing stored). */
static void test_write_refuses_an_array_past_its_bound(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store_pack p;
    tu_pack_init(&p, fx->zone_id, "initializing", util_now_us());
    for (int i = 0; i < STORE_PACK_ERRORS_MAX; i++)
        assert_non_null(store_pack_error_add(&p, "m"));
    p.validation_error_count++; /* by hand, past the bound (the array has room: see below) */
    p.validation_errors = xrealloc(p.validation_errors,
                                   (size_t)p.validation_error_count * sizeof *p.validation_errors);
    snprintf(p.validation_errors[STORE_PACK_ERRORS_MAX].message, 4, "m");
    assert_int_equal(store_pack_create(fx->s, &p), STORE_ERROR);
    assert_int_equal(tu_store_sql_int(fx->path, "SELECT count(*) FROM packs", NULL), 0);
    store_pack_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_pack_encodes_to_the_old_text),
        cmocka_unit_test(test_empty_arrays_encode_as_before),
        cmocka_unit_test(test_old_text_round_trips_every_field),
        cmocka_unit_test(test_largest_fields_round_trip),
        cmocka_unit_test(test_decode_refuses_what_does_not_fit),
        cmocka_unit_test(test_add_and_encode_refuse_past_the_bounds),
        cmocka_unit_test_setup_teardown(test_old_rows_read_and_write_back_unchanged, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_refuses_an_array_past_its_bound, setup,
                                        tu_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
