/* Unit tests for core/pack_records: the JSON records of a pack, and dcv_delegation_records
 * holding one entry per distinct name (an apex and its wildcard share one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "common/alloc.h"
#include "core/pack_records.h"

#define ZONE_ID "023e105f4ecef8ad9ca31a8372d0c353"

/* The cname of every entry of a delegation text, joined by spaces. */
static void cnames(const char *text, char *out, size_t size)
{
    json_t *arr = json_loads(text, 0, NULL), *d;
    size_t i;
    out[0] = '\0';
    assert_true(json_is_array(arr));
    json_array_foreach(arr, i, d)
    {
        assert_int_equal(json_object_size(d), 2);
        strncat(out, json_string_value(json_object_get(d, "cname")), size - strlen(out) - 2);
        strcat(out, " ");
    }
    json_decref(arr);
}

static void test_build_one_delegation_per_name(void **state)
{
    (void)state;
    char *records = NULL, *delegation = NULL, names[1024];
    assert_int_equal(pack_records_build("[\"example.com\",\"*.example.com\",\"www.example.com\","
                                        "\"*.www.example.com\"]",
                                        PACK_METHOD_TXT, "example.com", ZONE_ID, &records,
                                        &delegation),
                     0);
    cnames(delegation, names, sizeof names);
    assert_string_equal(names, "_acme-challenge.example.com _acme-challenge.www.example.com ");
    /* The validation records stay one per host: the check needs every value. */
    json_t *recs = json_loads(records, 0, NULL);
    assert_int_equal(json_array_size(recs), 4);
    json_decref(recs);
    xfree(records);
    xfree(delegation);
}

static void test_unique_delegation_in_place(void **state)
{
    (void)state;
    json_t *arr = json_loads("[{\"cname\":\"a\",\"cname_target\":\"1\"},"
                             "{\"cname\":\"b\",\"cname_target\":\"2\"},"
                             "{\"cname\":\"a\",\"cname_target\":\"1\"},"
                             "{\"cname\":\"a\",\"cname_target\":\"1\"},"
                             "{\"cname\":\"b\",\"cname_target\":\"2\"},"
                             "{\"cname\":\"c\",\"cname_target\":\"3\"}]",
                             0, NULL);
    pack_records_unique_delegation(arr);
    char *text = json_dumps(arr, JSON_COMPACT);
    assert_string_equal(text, "[{\"cname\":\"a\",\"cname_target\":\"1\"},{\"cname\":\"b\","
                              "\"cname_target\":\"2\"},{\"cname\":\"c\",\"cname_target\":\"3\"}]");
    xfree(text);
    json_decref(arr);
    /* Not an array, an empty one, entries without a cname: left alone. */
    pack_records_unique_delegation(NULL);
    json_t *obj = json_object();
    pack_records_unique_delegation(obj);
    json_decref(obj);
    arr = json_loads("[{},{},{\"x\":1}]", 0, NULL);
    pack_records_unique_delegation(arr);
    assert_int_equal(json_array_size(arr), 3);
    json_decref(arr);
}

int main(void)
{
    alloc_install_json();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_one_delegation_per_name),
        cmocka_unit_test(test_unique_delegation_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
