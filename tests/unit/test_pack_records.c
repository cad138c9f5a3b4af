/* Unit tests for core/pack_records: the records built into a pack's arrays, and
 * dcv_delegation_records holding one entry per distinct name (an apex and its wildcard
 * share one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/alloc.h"
#include "core/dcv_records.h"
#include "core/pack_records.h"

#define ZONE_ID "023e105f4ecef8ad9ca31a8372d0c353"

static void add_hosts(struct store_pack *p, const char *const *hosts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_non_null(store_pack_host_add(p, hosts[i]));
}

static void test_build_one_delegation_per_name(void **state)
{
    (void)state;
    static const char *const hosts[] = {"example.com", "*.example.com", "www.example.com",
                                        "*.www.example.com"};
    struct store_pack p = {0};
    add_hosts(&p, hosts, 4);
    assert_int_equal(pack_records_build(&p, PACK_METHOD_TXT, "example.com", ZONE_ID), 0);
    assert_int_equal(p.dcv_delegation_record_count, 2);
    assert_string_equal(p.dcv_delegation_records[0].cname, "_acme-challenge.example.com");
    assert_string_equal(p.dcv_delegation_records[0].cname_target,
                        "example.com." ZONE_ID "." DCV_DOMAIN_DEFAULT);
    assert_string_equal(p.dcv_delegation_records[1].cname, "_acme-challenge.www.example.com");
    /* The validation records stay one per host: the check needs every value. */
    assert_int_equal(p.validation_record_count, 4);
    for (int i = 0; i < 4; i++) {
        const struct store_validation_record *r = &p.validation_records[i];
        assert_int_equal(strlen(r->txt_value), DCV_TOKEN_LEN);
        assert_string_equal(r->status, "pending");
        assert_string_equal(r->http_url, "");
        assert_int_equal(r->email_count, 0);
    }
    assert_string_equal(p.validation_records[1].txt_name, "_acme-challenge.example.com");
    store_pack_clear(&p);
}

/* Each method fills its own fields and nothing else. */
static void test_build_fields_per_method(void **state)
{
    (void)state;
    static const char *const hosts[] = {"example.com", "www.example.com"};
    struct store_pack p = {0};
    add_hosts(&p, hosts, 2);
    assert_int_equal(pack_records_build(&p, PACK_METHOD_HTTP, "example.com", ZONE_ID), 0);
    const struct store_validation_record *r = &p.validation_records[1];
    assert_int_equal(strncmp(r->http_url, "http://www.example.com" DCV_HTTP_PATH,
                             strlen("http://www.example.com" DCV_HTTP_PATH)),
                     0);
    assert_int_equal(strlen(r->http_body), 2 * DCV_TOKEN_LEN + 1);
    assert_string_equal(r->txt_name, "");
    assert_int_equal(pack_records_build(&p, PACK_METHOD_EMAIL, "example.com", ZONE_ID), 0);
    r = &p.validation_records[0];
    assert_int_equal(r->email_count, DCV_EMAIL_COUNT);
    assert_string_equal(r->emails[1], "administrator@example.com");
    assert_string_equal(r->http_url, "");
    pack_records_set_status(&p, "active");
    assert_string_equal(p.validation_records[0].status, "active");
    assert_string_equal(p.validation_records[1].status, "active");
    store_pack_clear(&p);
}

/* A pack without hosts, or with one that is not a name, gets nothing (the pack unchanged). */
static void test_build_refuses_bad_hosts(void **state)
{
    (void)state;
    struct store_pack p = {0};
    assert_int_equal(pack_records_build(&p, PACK_METHOD_TXT, "example.com", ZONE_ID), -1);
    assert_non_null(store_pack_host_add(&p, "not a name"));
    assert_int_equal(pack_records_build(&p, PACK_METHOD_TXT, "example.com", ZONE_ID), -1);
    assert_int_equal(p.validation_record_count, 0);
    store_pack_clear(&p);
}

static void test_unique_delegation_in_place(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {{"a", "1"}, {"b", "2"}, {"a", "1"},
                                           {"a", "1"}, {"b", "2"}, {"c", "3"}};
    struct store_pack p = {0};
    for (size_t i = 0; i < 6; i++)
        assert_non_null(store_pack_delegation_add(&p, pairs[i][0], pairs[i][1]));
    pack_records_unique_delegation(&p);
    assert_int_equal(p.dcv_delegation_record_count, 3);
    assert_string_equal(p.dcv_delegation_records[0].cname, "a");
    assert_string_equal(p.dcv_delegation_records[1].cname, "b");
    assert_string_equal(p.dcv_delegation_records[2].cname, "c");
    assert_string_equal(p.dcv_delegation_records[2].cname_target, "3");
    store_pack_clear(&p);
    pack_records_unique_delegation(&p); /* empty: left alone */
    assert_int_equal(p.dcv_delegation_record_count, 0);
}

int main(void)
{
    alloc_install_json();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_one_delegation_per_name),
        cmocka_unit_test(test_build_fields_per_method),
        cmocka_unit_test(test_build_refuses_bad_hosts),
        cmocka_unit_test(test_unique_delegation_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
