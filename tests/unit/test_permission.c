/* Unit tests for core/permission: names to bits (write implies read), the allows check,
 * and formatting back to names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/permission.h"

static void test_parse_each(void **state)
{
    static const struct {
        const char *name;
        unsigned bits;
    } cases[] = {
        {"ssl:read", PERM_SSL_READ},
        {"ssl:write", PERM_SSL_WRITE | PERM_SSL_READ},
        {"zone:read", PERM_ZONE_READ},
        {"zone:write", PERM_ZONE_WRITE | PERM_ZONE_READ},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned bits = 0;
        assert_int_equal(permission_parse(cases[i].name, &bits), 0);
        assert_int_equal(bits, cases[i].bits);
    }
}

static void test_parse_accumulates(void **state)
{
    unsigned bits = 0;
    assert_int_equal(permission_parse("ssl:read", &bits), 0);
    assert_int_equal(permission_parse("zone:write", &bits), 0);
    assert_int_equal(bits, PERM_SSL_READ | PERM_ZONE_READ | PERM_ZONE_WRITE);
    assert_int_equal(permission_parse("ssl:write", &bits), 0);
    assert_int_equal(bits, PERM_ALL);
    /* Parsing the same name twice changes nothing. */
    assert_int_equal(permission_parse("ssl:write", &bits), 0);
    assert_int_equal(bits, PERM_ALL);
}

static void test_parse_unknown(void **state)
{
    static const char *const bad[] = {
        "",
        "ssl",
        "zone",
        "read",
        "write",
        "ssl:",
        ":read",
        "SSL:READ",
        "Ssl:read",
        "ssl:read ",
        " ssl:read",
        "ssl:readx",
        "ssl:rea",
        "ssl:write,zone:read",
        "ssl:admin",
        "dns:read",
        "ssl-read",
        "ssl::read",
        "zone:read\n",
        "ssl:read\x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned bits = PERM_ZONE_READ;
        if (permission_parse(bad[i], &bits) != -1)
            print_error("bad[%zu] \"%s\" accepted\n", i, bad[i]);
        assert_int_equal(permission_parse(bad[i], &bits), -1);
        assert_int_equal(bits, PERM_ZONE_READ); /* untouched on failure */
    }
}

static void test_allows(void **state)
{
    assert_true(permission_allows(PERM_ALL, PERM_SSL_WRITE));
    assert_true(permission_allows(PERM_ALL, PERM_ALL));
    assert_true(permission_allows(PERM_SSL_READ, PERM_SSL_READ));
    assert_true(permission_allows(PERM_SSL_READ | PERM_SSL_WRITE, PERM_SSL_READ));
    assert_true(permission_allows(PERM_NONE, PERM_NONE));
    assert_true(permission_allows(PERM_SSL_READ, PERM_NONE));
    assert_false(permission_allows(PERM_NONE, PERM_SSL_READ));
    assert_false(permission_allows(PERM_SSL_READ, PERM_SSL_WRITE));
    assert_false(permission_allows(PERM_SSL_READ | PERM_SSL_WRITE, PERM_ZONE_READ));
    assert_false(permission_allows(PERM_ZONE_READ | PERM_ZONE_WRITE, PERM_SSL_READ));
    assert_false(permission_allows(PERM_SSL_READ, PERM_SSL_READ | PERM_ZONE_READ));

    /* A parsed write always allows the read of its family, never the other family. */
    unsigned bits = 0;
    assert_int_equal(permission_parse("ssl:write", &bits), 0);
    assert_true(permission_allows(bits, PERM_SSL_READ));
    assert_true(permission_allows(bits, PERM_SSL_WRITE));
    assert_false(permission_allows(bits, PERM_ZONE_READ));
    bits = 0;
    assert_int_equal(permission_parse("zone:write", &bits), 0);
    assert_true(permission_allows(bits, PERM_ZONE_READ));
    assert_false(permission_allows(bits, PERM_SSL_READ));
    /* A read never allows the write. */
    bits = 0;
    assert_int_equal(permission_parse("zone:read", &bits), 0);
    assert_false(permission_allows(bits, PERM_ZONE_WRITE));
}

static void test_format(void **state)
{
    char out[64];
    permission_format(PERM_NONE, out, sizeof out);
    assert_string_equal(out, "");
    permission_format(PERM_SSL_READ, out, sizeof out);
    assert_string_equal(out, "ssl:read");
    permission_format(PERM_SSL_READ | PERM_SSL_WRITE, out, sizeof out);
    assert_string_equal(out, "ssl:read,ssl:write");
    permission_format(PERM_ZONE_WRITE | PERM_SSL_READ, out, sizeof out);
    assert_string_equal(out, "ssl:read,zone:write");
    permission_format(PERM_ALL, out, sizeof out);
    assert_string_equal(out, "ssl:read,ssl:write,zone:read,zone:write");
    /* Bits that name no permission are ignored. */
    permission_format(PERM_ZONE_READ | 0x100u, out, sizeof out);
    assert_string_equal(out, "zone:read");
}

static void test_format_round_trip(void **state)
{
    /* Every combination that parsing can produce formats back to names that parse to it. */
    for (unsigned bits = 0; bits <= PERM_ALL; bits++) {
        char out[64];
        permission_format(bits, out, sizeof out);
        unsigned back = 0;
        char copy[64];
        memcpy(copy, out, sizeof copy);
        for (char *name = copy, *comma; *name; name = comma + 1) {
            comma = strchr(name, ',');
            if (comma)
                *comma = '\0';
            assert_int_equal(permission_parse(name, &back), 0);
            if (!comma)
                break;
        }
        unsigned implied = bits;
        if (bits & PERM_SSL_WRITE)
            implied |= PERM_SSL_READ;
        if (bits & PERM_ZONE_WRITE)
            implied |= PERM_ZONE_READ;
        assert_int_equal(back, implied);
    }
}

static void test_format_truncates_whole_names(void **state)
{
    /* A short buffer never ends in half a name and is always terminated. */
    char out[64];
    const char *full = "ssl:read,ssl:write,zone:read,zone:write";
    for (size_t size = 1; size <= strlen(full) + 1; size++) {
        memset(out, 'Z', sizeof out);
        permission_format(PERM_ALL, out, size);
        size_t len = strlen(out);
        assert_true(len < size);
        assert_memory_equal(out, full, len); /* a prefix of the full list… */
        assert_true(len == 0 || full[len] == ',' || full[len] == '\0'); /* …of whole names */
        assert_int_equal(out[size], 'Z');                               /* nothing past size */
    }
    permission_format(PERM_ALL, out, strlen(full) + 1);
    assert_string_equal(out, full);
    permission_format(PERM_ALL, out, strlen("ssl:read,ssl:write") + 1);
    assert_string_equal(out, "ssl:read,ssl:write");
    permission_format(PERM_ALL, out, strlen("ssl:read") + 1);
    assert_string_equal(out, "ssl:read");
    permission_format(PERM_ALL, out, strlen("ssl:read"));
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_each),
        cmocka_unit_test(test_parse_accumulates),
        cmocka_unit_test(test_parse_unknown),
        cmocka_unit_test(test_allows),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_truncates_whole_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
