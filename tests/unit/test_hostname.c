/* Unit tests for core/hostname: a table of accepted names with their normalised form, a
 * table of rejected names with the reason given, and hostname_in_zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/hostname.h"

#define W HOSTNAME_ALLOW_WILDCARD
#define D HOSTNAME_REQUIRE_DOT

/* Names built at run time for the boundary cases. */
static char label63[64], label64[65];
static char name253[HOSTNAME_SIZE], name254[256], name253_dot[256], name254_dot[257];

/* n bytes of "aaa…a.aaa…a" with labels of 63 characters and a last label filling up. */
static void build_name(char *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t left = n - i;
        size_t take = left > 63 ? 63 : left;
        if (left > 63 && left - 63 == 1)
            take = 61; /* never leave a one-byte tail ending in a dot */
        memset(out + i, 'a', take);
        i += take;
        if (i < n)
            out[i++] = '.';
    }
    out[n] = '\0';
}

static int setup_names(void **state)
{
    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';
    build_name(name253, 253);
    build_name(name254, 254);
    snprintf(name253_dot, sizeof name253_dot, "%s.", name253);
    snprintf(name254_dot, sizeof name254_dot, "%s.", name254);
    return 0;
}

struct good_case {
    const char *in;
    int flags;
    const char *out; /* NULL: same as in */
};

static const struct good_case good[] = {
    {"example.com", 0, NULL},
    {"example.com", D, NULL},
    {"example.com", W | D, NULL},
    {"a.b.c.example.com", D, NULL},
    {"localhost", 0, NULL},
    {"a", 0, NULL},
    {"x1", 0, NULL},
    {"1a.com", D, NULL},
    {"123.example.com", D, NULL},
    {"example.com1", D, NULL},
    {"example.c0m", D, NULL},
    {"a-b.example.com", D, NULL},
    {"a--b.example.com", D, NULL}, /* "--" in positions 2-3, not 3-4 */
    {"ab-cd.example.com", D, NULL},
    {"abc--d.example.com", D, NULL}, /* "--" in positions 4-5 */
    {"0.example.com", D, NULL},
    {"EXAMPLE.COM", D, "example.com"},
    {"WwW.ExAmPlE.CoM", D, "www.example.com"},
    {"example.com.", D, "example.com"},
    {"Example.Com.", 0, "example.com"},
    {"*.example.com", W, NULL},
    {"*.example.com", W | D, NULL},
    {"*.EXAMPLE.com.", W | D, "*.example.com"},
    {"*.com", W, NULL},
    {"*.a.b.example.com", W | D, NULL},
    {"xn--bcher-kva.example", D, NULL},
    {"XN--BCHER-KVA.example", D, "xn--bcher-kva.example"},
    {"www.xn--bcher-kva.com", D, NULL},
    {"xn--a.com", D, NULL},
    {"xn--80ak6aa92e.com", D, NULL},
    {"example.xn--p1ai", D, NULL},
    {"1.2.3.com", D, NULL},
    {"a.b.c.d", D, NULL},
    {"z9.y8", D, NULL},
};

struct bad_case {
    const char *in;
    int flags;
    const char *why;
};

static const struct bad_case bad[] = {
    {"", 0, "empty name"},
    {".", 0, "empty name"},
    {"..", 0, "empty label"},
    {".example.com", D, "empty label"},
    {"example..com", D, "empty label"},
    {"example.com..", D, "empty label"},
    {"a.", D, "needs at least two labels"},
    {"localhost", D, "needs at least two labels"},
    {"LOCALHOST.", D, "needs at least two labels"},
    {"exa mple.com", D, "invalid character"},
    {" example.com", D, "invalid character"},
    {"example.com ", D, "invalid character"},
    {"exam_ple.com", D, "invalid character"},
    {"example.com/", D, "invalid character"},
    {"user@example.com", D, "invalid character"},
    {"example.com:443", D, "invalid character"},
    {"ex\tample.com", D, "invalid character"},
    {"-example.com", D, "label starts or ends with a hyphen"},
    {"example-.com", D, "label starts or ends with a hyphen"},
    {"example.-com", D, "label starts or ends with a hyphen"},
    {"example.com-", D, "label starts or ends with a hyphen"},
    {"-", 0, "label starts or ends with a hyphen"},
    {"xn--", 0, "label starts or ends with a hyphen"},
    {"xn--.com", D, "label starts or ends with a hyphen"},
    {"xn---.com", D, "label starts or ends with a hyphen"},
    {"xn--a_b.com", D, "invalid character"},
    {"ab--cd.example.com", D, "reserved label (\"--\" in positions 3 and 4)"},
    {"XY--z.example.com", D, "reserved label (\"--\" in positions 3 and 4)"},
    {"www.zz--top.com", D, "reserved label (\"--\" in positions 3 and 4)"},
    {"b\xc3\xbc"
     "cher.example",
     D, "IDNs must be given as A-labels (xn--)"},
    {"\xe4\xbe\x8b\xe3\x81\x88.jp", D, "IDNs must be given as A-labels (xn--)"},
    {"example.\xd1\x80\xd1\x84", D, "IDNs must be given as A-labels (xn--)"},
    {"\xff", 0, "IDNs must be given as A-labels (xn--)"},
    {"*.example.com", 0, "wildcard not allowed here"},
    {"*.example.com", D, "wildcard not allowed here"},
    {"*", 0, "wildcard not allowed here"},
    {"www.*.example.com", D, "wildcard not allowed here"},
    {"www.*.example.com", W | D, "wildcard only allowed as the whole leftmost label"},
    {"*.*.example.com", W | D, "wildcard only allowed as the whole leftmost label"},
    {"example.*", W, "wildcard only allowed as the whole leftmost label"},
    {"w*.example.com", W | D, "wildcard only allowed as the whole leftmost label"},
    {"*w.example.com", W | D, "wildcard only allowed as the whole leftmost label"},
    {"**.example.com", W | D, "wildcard only allowed as the whole leftmost label"},
    {"*", W, "wildcard needs a name after it"},
    {"*.", W, "wildcard needs a name after it"},
    {"*", W | D, "wildcard needs a name after it"},
    {"*.com", W | D, "needs at least two labels after the wildcard"},
    {"*.COM.", W | D, "needs at least two labels after the wildcard"},
    {"*..com", W, "empty label"},
    {"1.2.3.4", 0, "IP addresses are not hostnames"},
    {"1.2.3.4", D, "IP addresses are not hostnames"},
    {"192.168.0.1.", D, "IP addresses are not hostnames"},
    {"256.256.256.256", D, "IP addresses are not hostnames"},
    {"127.1", D, "IP addresses are not hostnames"},
    {"2130706433", 0, "IP addresses are not hostnames"},
    {"::1", 0, "IP addresses are not hostnames"},
    {"2001:db8::1", D, "IP addresses are not hostnames"},
    {"::ffff:192.0.2.1", D, "IP addresses are not hostnames"},
    {"[::1]", 0, "invalid character"},
    {"*.1.2.3.4", W | D, "last label must not be all digits"},
    {"example.123", D, "last label must not be all digits"},
    {"a.1", 0, "last label must not be all digits"},
    {"0x7f.1", 0, "last label must not be all digits"},
    {"1.2.3.04", D, "IP addresses are not hostnames"},
};

static void test_good_table(void **state)
{
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char out[HOSTNAME_SIZE];
        const char *why = NULL;
        int rc = hostname_normalize(good[i].in, good[i].flags, out, &why);
        if (rc != 0)
            print_error("good[%zu] \"%s\" flags %d rejected: %s\n", i, good[i].in, good[i].flags,
                        why);
        assert_int_equal(rc, 0);
        assert_string_equal(out, good[i].out ? good[i].out : good[i].in);
        /* Normalising a normalised name changes nothing. */
        char again[HOSTNAME_SIZE];
        assert_int_equal(hostname_normalize(out, good[i].flags, again, &why), 0);
        assert_string_equal(again, out);
    }
}

static void test_bad_table(void **state)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[HOSTNAME_SIZE];
        memset(out, 'Z', sizeof out);
        const char *why = NULL;
        int rc = hostname_normalize(bad[i].in, bad[i].flags, out, &why);
        if (rc != -1)
            print_error("bad[%zu] \"%s\" flags %d accepted as \"%s\"\n", i, bad[i].in, bad[i].flags,
                        out);
        assert_int_equal(rc, -1);
        assert_non_null(why);
        if (strcmp(why, bad[i].why) != 0)
            print_error("bad[%zu] \"%s\"\n", i, bad[i].in);
        assert_string_equal(why, bad[i].why);
        assert_string_equal(out, ""); /* nothing half-written is left behind */
    }
}

static void expect_ok(const char *in, int flags, const char *want)
{
    char out[HOSTNAME_SIZE];
    const char *why = NULL;
    int rc = hostname_normalize(in, flags, out, &why);
    if (rc != 0)
        print_error("\"%s\" rejected: %s\n", in, why);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void expect_bad(const char *in, int flags, const char *reason)
{
    char out[HOSTNAME_SIZE];
    const char *why = NULL;
    assert_int_equal(hostname_normalize(in, flags, out, &why), -1);
    assert_string_equal(why, reason);
}

static void test_label_length_boundary(void **state)
{
    char name[128];
    snprintf(name, sizeof name, "%s.com", label63);
    expect_ok(name, HOSTNAME_REQUIRE_DOT, name);
    snprintf(name, sizeof name, "www.%s.com", label63);
    expect_ok(name, HOSTNAME_REQUIRE_DOT, name);
    snprintf(name, sizeof name, "example.%s", label63);
    expect_ok(name, HOSTNAME_REQUIRE_DOT, name);
    expect_ok(label63, 0, label63);

    snprintf(name, sizeof name, "%s.com", label64);
    expect_bad(name, HOSTNAME_REQUIRE_DOT, "label longer than 63 characters");
    snprintf(name, sizeof name, "www.%s.com", label64);
    expect_bad(name, HOSTNAME_REQUIRE_DOT, "label longer than 63 characters");
    snprintf(name, sizeof name, "example.%s", label64);
    expect_bad(name, HOSTNAME_REQUIRE_DOT, "label longer than 63 characters");
    expect_bad(label64, 0, "label longer than 63 characters");

    /* An A-label is held to the same 63 bytes. */
    char idn[80];
    snprintf(idn, sizeof idn, "xn--%.59s.com", label63);
    expect_ok(idn, HOSTNAME_REQUIRE_DOT, idn);
    snprintf(idn, sizeof idn, "xn--%.60s.com", label64);
    expect_bad(idn, HOSTNAME_REQUIRE_DOT, "label longer than 63 characters");
}

static void test_name_length_boundary(void **state)
{
    assert_int_equal(strlen(name253), 253);
    assert_int_equal(strlen(name254), 254);
    expect_ok(name253, HOSTNAME_REQUIRE_DOT, name253);
    /* The trailing dot does not count towards the 253. */
    expect_ok(name253_dot, HOSTNAME_REQUIRE_DOT, name253);
    expect_bad(name254, HOSTNAME_REQUIRE_DOT, "name longer than 253 characters");
    expect_bad(name254_dot, HOSTNAME_REQUIRE_DOT, "name longer than 253 characters");

    /* A 253-byte wildcard name: "*." + 251 bytes. */
    char wild[HOSTNAME_SIZE + 2];
    wild[0] = '*';
    wild[1] = '.';
    build_name(wild + 2, 251);
    assert_int_equal(strlen(wild), 253);
    expect_ok(wild, HOSTNAME_ALLOW_WILDCARD | HOSTNAME_REQUIRE_DOT, wild);
    char wild254[260];
    snprintf(wild254, sizeof wild254, "*.%s", name253 + 1);
    assert_int_equal(strlen(wild254), 254);
    expect_bad(wild254, HOSTNAME_ALLOW_WILDCARD, "name longer than 253 characters");

    /* Very long input is refused by length, not copied. */
    static char huge[100000];
    memset(huge, 'a', sizeof huge - 1);
    expect_bad(huge, 0, "name longer than 253 characters");
}

static void test_null_and_why(void **state)
{
    char out[HOSTNAME_SIZE];
    const char *why = NULL;
    assert_int_equal(hostname_normalize(NULL, 0, out, &why), -1);
    assert_string_equal(why, "empty name");
    /* why may be NULL when the caller does not want the reason. */
    assert_int_equal(hostname_normalize("bad..name", 0, out, NULL), -1);
    assert_int_equal(hostname_normalize("good.name", 0, out, NULL), 0);
    assert_string_equal(out, "good.name");
    /* Unknown flag bits are ignored. */
    assert_int_equal(hostname_normalize("good.name", 0x100, out, NULL), 0);
}

static void test_every_ascii_byte(void **state)
{
    /* Only letters, digits and hyphen are valid in a label (and '*' as a wildcard, '.' as
     * the separator). */
    for (int c = 1; c < 128; c++) {
        char in[16];
        snprintf(in, sizeof in, "a%cb.com", c);
        char out[HOSTNAME_SIZE];
        const char *why = NULL;
        int rc = hostname_normalize(in, HOSTNAME_ALLOW_WILDCARD, out, &why);
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.';
        if ((rc == 0) != ok)
            print_error("byte 0x%02x: rc %d\n", c, rc);
        assert_int_equal(rc == 0, ok);
    }
}

struct zone_case {
    const char *host, *apex;
    bool in;
};

static const struct zone_case zones[] = {
    {"example.com", "example.com", true},
    {"www.example.com", "example.com", true},
    {"a.b.c.example.com", "example.com", true},
    {"*.example.com", "example.com", true},
    {"*.www.example.com", "example.com", true},
    {"badexample.com", "example.com", false},
    {"wwwexample.com", "example.com", false},
    {"example.com", "www.example.com", false},
    {"example.co", "example.com", false},
    {"example.com.au", "example.com", false},
    {"example.org", "example.com", false},
    {"com", "example.com", false},
    {".example.com", "example.com", true}, /* not normalised, but on a dot boundary */
    {"example.com", "", false},
    {"", "example.com", false},
    {"", "", false},
    {"www.example.com", "com", true},
    {"www.example.com", "ample.com", false},
};

static void test_in_zone(void **state)
{
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        bool got = hostname_in_zone(zones[i].host, zones[i].apex);
        if (got != zones[i].in)
            print_error("zones[%zu] \"%s\" in \"%s\": got %d\n", i, zones[i].host, zones[i].apex,
                        got);
        assert_int_equal(got, zones[i].in);
    }
    assert_false(hostname_in_zone(NULL, "example.com"));
    assert_false(hostname_in_zone("example.com", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_table),
        cmocka_unit_test(test_bad_table),
        cmocka_unit_test(test_label_length_boundary),
        cmocka_unit_test(test_name_length_boundary),
        cmocka_unit_test(test_null_and_why),
        cmocka_unit_test(test_every_ascii_byte),
        cmocka_unit_test(test_in_zone),
    };
    return cmocka_run_group_tests(tests, setup_names, NULL);
}
