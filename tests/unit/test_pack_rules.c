/* Unit tests for core/pack_rules: the enum names, the CA table (every CA x validity x
 * method), and every order rule's accept and reject with the exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/pack_rules.h"

#define APEX "example.com"

static struct pack_hosts out_hosts; /* 13 KiB: not on the test's stack */
static char msg[PACK_RULES_MSG_SIZE];

/* Runs the check on a txt/lets_encrypt/90 order with the given hosts, or the given order. */
static int check(const struct pack_order *o)
{
    memset(&out_hosts, 0x5a, sizeof out_hosts);
    memset(msg, 0, sizeof msg);
    return pack_rules_check_order(o, APEX, &out_hosts, msg, sizeof msg);
}

static struct pack_order order_of(const char *ca, const char *method, int days,
                                  const char *const *hosts, size_t n)
{
    return (struct pack_order){
        .certificate_authority = ca,
        .type = "advanced",
        .validation_method = method,
        .validity_days = days,
        .hosts = hosts,
        .host_count = n,
    };
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_reject(const struct pack_order *o, const char *want)
{
    assert_int_equal(check(o), -1);
    assert_string_equal(msg, want);
    assert_int_equal(out_hosts.count, 0);
}

static void expect_hosts(const char *const *want, size_t n)
{
    assert_int_equal(out_hosts.count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out_hosts.name[i], want[i]);
}

/* ---- names ------------------------------------------------------------------------- */

static void test_enum_names(void **state)
{
    static const char *const cas[] = {"google", "lets_encrypt", "ssl_com", NULL};
    static const char *const methods[] = {"txt", "http", "email", "cname", NULL};
    for (size_t i = 0; i < N(cas); i++) {
        if (!cas[i]) {
            assert_null(pack_ca_names[i]);
            break;
        }
        assert_string_equal(pack_ca_names[i], cas[i]);
        enum pack_ca ca;
        assert_int_equal(pack_ca_parse(cas[i], &ca), 0);
        assert_int_equal(ca, (int)i);
        assert_string_equal(pack_ca_name(ca), cas[i]);
    }
    for (size_t i = 0; i < N(methods); i++) {
        if (!methods[i]) {
            assert_null(pack_method_names[i]);
            break;
        }
        assert_string_equal(pack_method_names[i], methods[i]);
        enum pack_method m;
        assert_int_equal(pack_method_parse(methods[i], &m), 0);
        assert_int_equal(m, (int)i);
        assert_string_equal(pack_method_name(m), methods[i]);
    }
    /* An order names txt, http or email; cname is reached only by PATCH /ssl/verification. */
    static const char *const order_methods[] = {"txt", "http", "email", NULL};
    for (size_t i = 0; i < N(order_methods); i++) {
        if (!order_methods[i])
            assert_null(pack_order_method_names[i]);
        else
            assert_string_equal(pack_order_method_names[i], order_methods[i]);
    }
    assert_string_equal(pack_order_type_names[0], "advanced");
    assert_null(pack_order_type_names[1]);
    static const int days[] = {14, 30, 90, 365, 0};
    for (size_t i = 0; i < N(days); i++)
        assert_int_equal(pack_validity_days[i], days[i]);

    enum pack_ca ca = PACK_CA_SSL_COM;
    enum pack_method m = PACK_METHOD_EMAIL;
    assert_int_equal(pack_ca_parse("digicert", &ca), -1);
    assert_int_equal(pack_ca_parse("Google", &ca), -1); /* names are case-sensitive */
    assert_int_equal(pack_ca_parse("", &ca), -1);
    assert_int_equal(pack_ca_parse(NULL, &ca), -1);
    assert_int_equal(ca, PACK_CA_SSL_COM);
    assert_int_equal(pack_method_parse("dns", &m), -1);
    assert_int_equal(pack_method_parse("TXT", &m), -1);
    assert_int_equal(pack_method_parse(NULL, &m), -1);
    assert_int_equal(m, PACK_METHOD_EMAIL);
}

/* ---- the CA table ------------------------------------------------------------------ */

/* The rules of SPEC §4.2 written out independently of the implementation's table. */
static const struct {
    const char *ca;
    bool days[4];   /* 14, 30, 90, 365 */
    bool method[4]; /* txt, http, email, cname */
    const char *days_msg;
    const char *email_msg;
} ca_expect[] = {
    {"google",
     {true, true, true, false},
     {true, true, false, true},
     "validity_days: google issues only 14, 30 or 90-day certificates",
     "validation_method: google does not offer email validation (only txt or http)"},
    {"lets_encrypt",
     {false, false, true, false},
     {true, true, false, true},
     "validity_days: lets_encrypt issues only 90-day certificates",
     "validation_method: lets_encrypt does not offer email validation (only txt or http)"},
    {"ssl_com", {true, true, true, true}, {true, true, true, true}, NULL, NULL},
};

static void test_ca_table_questions(void **state)
{
    static const int days[] = {14, 30, 90, 365};
    for (size_t c = 0; c < N(ca_expect); c++) {
        enum pack_ca ca;
        assert_int_equal(pack_ca_parse(ca_expect[c].ca, &ca), 0);
        for (size_t d = 0; d < N(days); d++)
            assert_int_equal(pack_ca_allows_validity(ca, days[d]), ca_expect[c].days[d]);
        static const int bad[] = {-90, -1, 0, 1, 7, 13, 15, 29, 31, 60, 89, 91, 180, 364, 366};
        for (size_t b = 0; b < N(bad); b++)
            assert_false(pack_ca_allows_validity(ca, bad[b]));
        for (int m = 0; m < PACK_METHOD_COUNT; m++)
            assert_int_equal(pack_ca_allows_method(ca, (enum pack_method)m),
                             ca_expect[c].method[m]);
    }
}

/* Every CA x validity x method through the whole order check, with the apex alone. */
static void test_ca_validity_method_matrix(void **state)
{
    static const int days[] = {14, 30, 90, 365};
    static const char *const methods[] = {"txt", "http", "email"};
    static const char *const hosts[] = {APEX};
    int accepted = 0;
    for (size_t c = 0; c < N(ca_expect); c++) {
        for (size_t d = 0; d < N(days); d++) {
            for (size_t m = 0; m < N(methods); m++) {
                struct pack_order o =
                    order_of(ca_expect[c].ca, methods[m], days[d], hosts, N(hosts));
                int rc = check(&o);
                bool ok = ca_expect[c].days[d] && ca_expect[c].method[m];
                if (ok) {
                    assert_int_equal(rc, 0);
                    expect_hosts(hosts, 1);
                    accepted++;
                    continue;
                }
                assert_int_equal(rc, -1);
                assert_int_equal(out_hosts.count, 0);
                /* The method is checked before the validity. */
                if (!ca_expect[c].method[m])
                    assert_string_equal(msg, ca_expect[c].email_msg);
                else
                    assert_string_equal(msg, ca_expect[c].days_msg);
            }
        }
    }
    /* google 3x2, lets_encrypt 1x2, ssl_com 4x3 */
    assert_int_equal(accepted, 6 + 2 + 12);
}

/* ---- field rules ------------------------------------------------------------------- */

static void test_type(void **state)
{
    static const char *const hosts[] = {APEX};
    struct pack_order o = order_of("lets_encrypt", "txt", 90, hosts, 1);
    assert_int_equal(check(&o), 0);
    o.type = NULL;
    expect_reject(&o, "type: is required");
    static const char *const bad[] = {"universal", "Advanced", "", "advanced "};
    for (size_t i = 0; i < N(bad); i++) {
        o.type = bad[i];
        expect_reject(&o, "type: must be one of advanced");
    }
}

static void test_unknown_names(void **state)
{
    static const char *const hosts[] = {APEX};
    struct pack_order o = order_of("digicert", "txt", 90, hosts, 1);
    expect_reject(&o, "certificate_authority: must be one of google, lets_encrypt or ssl_com");
    o.certificate_authority = NULL;
    expect_reject(&o, "certificate_authority: is required");

    o = order_of("google", "cname", 90, hosts, 1);
    expect_reject(&o, "validation_method: must be one of txt, http or email");
    o.validation_method = NULL;
    expect_reject(&o, "validation_method: is required");

    static const int bad_days[] = {0, -90, 1, 13, 15, 60, 89, 91, 364, 366, 3650};
    for (size_t i = 0; i < N(bad_days); i++) {
        o = order_of("ssl_com", "txt", bad_days[i], hosts, 1);
        expect_reject(&o, "validity_days: must be one of 14, 30, 90 or 365");
    }
}

static void test_first_problem_wins(void **state)
{
    static const char *const bad_hosts[] = {"a.other.com"};
    /* Everything wrong: the type is reported. */
    struct pack_order o = order_of("digicert", "cname", 7, bad_hosts, 1);
    o.type = "universal";
    expect_reject(&o, "type: must be one of advanced");
    o.type = "advanced";
    expect_reject(&o, "certificate_authority: must be one of google, lets_encrypt or ssl_com");
    o.certificate_authority = "lets_encrypt";
    expect_reject(&o, "validation_method: must be one of txt, http or email");
    o.validation_method = "email";
    expect_reject(
        &o, "validation_method: lets_encrypt does not offer email validation (only txt or http)");
    o.validation_method = "txt";
    expect_reject(&o, "validity_days: must be one of 14, 30, 90 or 365");
    o.validity_days = 30;
    expect_reject(&o, "validity_days: lets_encrypt issues only 90-day certificates");
    o.validity_days = 90;
    expect_reject(&o, "hosts[0]: \"a.other.com\" is not in zone example.com");
}

/* ---- hosts ------------------------------------------------------------------------- */

static void test_hosts_accept_apex_first(void **state)
{
    static const char *const hosts[] = {"www.example.com", "*.example.com", "example.com",
                                        "a.b.example.com", "*.dev.example.com"};
    struct pack_order o = order_of("google", "txt", 30, hosts, N(hosts));
    assert_int_equal(check(&o), 0);
    static const char *const want[] = {"example.com", "www.example.com", "*.example.com",
                                       "a.b.example.com", "*.dev.example.com"};
    expect_hosts(want, N(want));

    /* Apex already first, or last. */
    static const char *const h2[] = {"example.com", "api.example.com"};
    o = order_of("google", "http", 14, h2, N(h2));
    assert_int_equal(check(&o), 0);
    expect_hosts(h2, N(h2));
    static const char *const h3[] = {"api.example.com", "cdn.example.com", "example.com"};
    o = order_of("google", "http", 14, h3, N(h3));
    assert_int_equal(check(&o), 0);
    static const char *const w3[] = {"example.com", "api.example.com", "cdn.example.com"};
    expect_hosts(w3, N(w3));
}

static void test_hosts_normalised(void **state)
{
    static const char *const hosts[] = {"WWW.Example.COM.", "EXAMPLE.com", "*.Example.Com"};
    struct pack_order o = order_of("ssl_com", "txt", 365, hosts, N(hosts));
    assert_int_equal(check(&o), 0);
    static const char *const want[] = {"example.com", "www.example.com", "*.example.com"};
    expect_hosts(want, N(want));

    /* A trailing dot on the apex still counts as the apex. */
    static const char *const h2[] = {"example.com."};
    o = order_of("ssl_com", "txt", 365, h2, 1);
    assert_int_equal(check(&o), 0);
    static const char *const w2[] = {"example.com"};
    expect_hosts(w2, 1);
}

static void test_hosts_empty(void **state)
{
    struct pack_order o = order_of("google", "txt", 90, NULL, 0);
    expect_reject(&o, "hosts: must not be empty");
    static const char *const hosts[] = {APEX};
    o = order_of("google", "txt", 90, hosts, 0);
    expect_reject(&o, "hosts: must not be empty");
}

/* hosts: apex plus n-1 distinct subdomains. */
static char many_names[64][48];
static const char *many[64];

static size_t build_many(size_t n)
{
    many[0] = APEX;
    for (size_t i = 1; i < n; i++) {
        snprintf(many_names[i], sizeof many_names[i], "h%zu.example.com", i);
        many[i] = many_names[i];
    }
    return n;
}

static void test_hosts_50_and_51(void **state)
{
    struct pack_order o = order_of("google", "txt", 90, many, build_many(PACK_HOSTS_MAX));
    assert_int_equal(check(&o), 0);
    assert_int_equal(out_hosts.count, 50);
    assert_string_equal(out_hosts.name[0], "example.com");
    assert_string_equal(out_hosts.name[49], "h49.example.com");

    o = order_of("google", "txt", 90, many, build_many(PACK_HOSTS_MAX + 1));
    expect_reject(&o, "hosts: at most 50 hosts (got 51)");
    o = order_of("google", "txt", 90, many, build_many(64));
    expect_reject(&o, "hosts: at most 50 hosts (got 64)");
}

static void test_hosts_not_in_zone(void **state)
{
    static const struct {
        const char *hosts[3];
        const char *msg;
    } cases[] = {
        {{"example.com", "www.example.com", "a.other.com"},
         "hosts[2]: \"a.other.com\" is not in zone example.com"},
        /* A suffix that is not on a label boundary is another zone. */
        {{"example.com", "badexample.com", "www.example.com"},
         "hosts[1]: \"badexample.com\" is not in zone example.com"},
        {{"com.example", "example.com", "www.example.com"},
         "hosts[0]: \"com.example\" is not in zone example.com"},
        /* The parent of the apex is outside it too. */
        {{"example.com", "*.com", "www.example.com"},
         "hosts[1]: \"*.com\" is not a valid hostname: needs at least two labels after the "
         "wildcard"},
        {{"example.com", "example.com.evil.net", "www.example.com"},
         "hosts[1]: \"example.com.evil.net\" is not in zone example.com"},
        /* The message quotes the host as given. */
        {{"example.com", "WWW.OTHER.COM", "www.example.com"},
         "hosts[1]: \"WWW.OTHER.COM\" is not in zone example.com"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct pack_order o = order_of("google", "txt", 90, cases[i].hosts, 3);
        expect_reject(&o, cases[i].msg);
    }
}

static void test_hosts_invalid(void **state)
{
    static const struct {
        const char *host;
        const char *msg;
    } cases[] = {
        {"bad_host.example.com",
         "hosts[1]: \"bad_host.example.com\" is not a valid hostname: invalid character"},
        {"", "hosts[1]: \"\" is not a valid hostname: empty name"},
        {"a..example.com", "hosts[1]: \"a..example.com\" is not a valid hostname: empty label"},
        {"www.*.example.com", "hosts[1]: \"www.*.example.com\" is not a valid hostname: wildcard "
                              "only allowed as the whole leftmost label"},
        {"192.0.2.1", "hosts[1]: \"192.0.2.1\" is not a valid hostname: IP addresses are not "
                      "hostnames"},
        {"-a.example.com", "hosts[1]: \"-a.example.com\" is not a valid hostname: label starts or "
                           "ends with a hyphen"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *hosts[] = {APEX, cases[i].host};
        struct pack_order o = order_of("google", "txt", 90, hosts, 2);
        expect_reject(&o, cases[i].msg);
    }

    /* An element that was not a JSON string. */
    const char *hosts[] = {APEX, "www.example.com", NULL};
    struct pack_order o = order_of("google", "txt", 90, hosts, 3);
    expect_reject(&o, "hosts[2]: must be a string");
}

static void test_hosts_long_input_bounded(void **state)
{
    static char huge[2000];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    const char *hosts[] = {APEX, huge};
    struct pack_order o = order_of("google", "txt", 90, hosts, 2);
    assert_int_equal(check(&o), -1);
    /* The host is quoted up to 253 characters, then the reason. */
    char want[PACK_RULES_MSG_SIZE];
    snprintf(want, sizeof want, "hosts[1]: \"%.253s\" is not a valid hostname: %s", huge,
             "name longer than 253 characters");
    assert_string_equal(msg, want);
    assert_true(strlen(msg) < sizeof msg - 1);

    /* A tiny message buffer is truncated, never overrun (ASan watches). */
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(pack_rules_check_order(&o, APEX, &out_hosts, small, sizeof small), -1);
    assert_string_equal(small, "hosts[1");
    /* And a zero-sized one is left alone. */
    assert_int_equal(pack_rules_check_order(&o, APEX, &out_hosts, small, 0), -1);
}

static void test_hosts_duplicates(void **state)
{
    static const struct {
        const char *hosts[3];
        const char *msg;
    } cases[] = {
        {{"example.com", "WWW.example.com", "www.example.com."},
         "hosts[2]: \"www.example.com.\" duplicates hosts[1] (www.example.com)"},
        {{"example.com", "www.example.com", "www.example.com"},
         "hosts[2]: \"www.example.com\" duplicates hosts[1] (www.example.com)"},
        {{"www.example.com", "example.com", "Example.Com."},
         "hosts[2]: \"Example.Com.\" duplicates hosts[1] (example.com)"},
        {{"*.example.com", "example.com", "*.EXAMPLE.com"},
         "hosts[2]: \"*.EXAMPLE.com\" duplicates hosts[0] (*.example.com)"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct pack_order o = order_of("google", "txt", 90, cases[i].hosts, 3);
        expect_reject(&o, cases[i].msg);
    }
}

static void test_hosts_apex_missing(void **state)
{
    static const char *const h1[] = {"www.example.com"};
    struct pack_order o = order_of("google", "txt", 90, h1, 1);
    expect_reject(&o, "hosts: must include the zone apex example.com");
    /* Terraform #2171: a wildcard and a subdomain, no apex. */
    static const char *const h2[] = {"*.example.com", "sub.example.com"};
    o = order_of("google", "txt", 90, h2, 2);
    expect_reject(&o, "hosts: must include the zone apex example.com");
    /* The wildcard of the apex is not the apex. */
    static const char *const h3[] = {"*.example.com"};
    o = order_of("google", "txt", 90, h3, 1);
    expect_reject(&o, "hosts: must include the zone apex example.com");
}

static void test_http_wildcard(void **state)
{
    static const char *const hosts[] = {"example.com", "www.example.com", "*.example.com"};
    struct pack_order o = order_of("google", "http", 90, hosts, 3);
    expect_reject(&o, "validation_method: http cannot validate the wildcard host *.example.com");
    static const char *const deep[] = {"*.dev.example.com", "example.com"};
    o = order_of("ssl_com", "http", 365, deep, 2);
    expect_reject(&o,
                  "validation_method: http cannot validate the wildcard host *.dev.example.com");
    /* The same hosts with txt or email are fine. */
    o = order_of("google", "txt", 90, hosts, 3);
    assert_int_equal(check(&o), 0);
    o = order_of("ssl_com", "email", 90, hosts, 3);
    assert_int_equal(check(&o), 0);
    /* http without a wildcard is fine. */
    static const char *const plain[] = {"example.com", "www.example.com"};
    o = order_of("lets_encrypt", "http", 90, plain, 2);
    assert_int_equal(check(&o), 0);
}

static void test_check_method_switch(void **state)
{
    static const char *const hosts[] = {"example.com", "*.example.com"};
    static const char *const plain[] = {"example.com", "www.example.com"};
    msg[0] = '\0';
    assert_int_equal(
        pack_rules_check_method(PACK_CA_GOOGLE, PACK_METHOD_TXT, hosts, 2, msg, sizeof msg), 0);
    assert_int_equal(
        pack_rules_check_method(PACK_CA_GOOGLE, PACK_METHOD_HTTP, plain, 2, msg, sizeof msg), 0);
    assert_int_equal(
        pack_rules_check_method(PACK_CA_SSL_COM, PACK_METHOD_EMAIL, hosts, 2, msg, sizeof msg), 0);
    assert_int_equal(
        pack_rules_check_method(PACK_CA_GOOGLE, PACK_METHOD_HTTP, hosts, 2, msg, sizeof msg), -1);
    assert_string_equal(msg,
                        "validation_method: http cannot validate the wildcard host *.example.com");
    assert_int_equal(
        pack_rules_check_method(PACK_CA_LETS_ENCRYPT, PACK_METHOD_EMAIL, plain, 2, msg, sizeof msg),
        -1);
    assert_string_equal(
        msg, "validation_method: lets_encrypt does not offer email validation (only txt or http)");
}

/* A new pack's id: the milliseconds in front (12 hex), the random bytes behind (20 hex). */
static void test_new_id_layout(void **state)
{
    (void)state;
    const unsigned char random[PACK_ID_RANDOM_BYTES] = {0x00, 0x01, 0x23, 0x45, 0x67,
                                                        0x89, 0xab, 0xcd, 0xef, 0xff};
    char id[33];
    memset(id, 'x', sizeof id);
    pack_rules_new_id(id, 1764892800123456LL, random);
    assert_string_equal(id, "019aebcef47b"
                            "000123456789abcdefff");
    assert_int_equal(strlen(id), 32);
    /* Before the epoch (a clock gone wrong): zeros in front, never a minus sign. */
    pack_rules_new_id(id, -5, random);
    assert_string_equal(id, "000000000000"
                            "000123456789abcdefff");
    pack_rules_new_id(id, 999, random);
    assert_string_equal(id, "000000000000"
                            "000123456789abcdefff");
}

/* Ids of successive orders ascend whatever their random part (so that their index entries
 * are appended), and two orders in the same millisecond differ by their random part. */
static void test_new_id_ascends(void **state)
{
    (void)state;
    unsigned char high[PACK_ID_RANDOM_BYTES], low[PACK_ID_RANDOM_BYTES];
    memset(high, 0xff, sizeof high);
    memset(low, 0x00, sizeof low);
    char a[33], b[33], c[33];
    long long t = 1764892800123000LL;
    pack_rules_new_id(a, t, high);
    pack_rules_new_id(b, t + 1000, low); /* the next millisecond */
    assert_true(strcmp(a, b) < 0);
    pack_rules_new_id(c, t + 999, low); /* still the same millisecond as a */
    assert_int_equal(strncmp(a, c, 12), 0);
    assert_true(strcmp(a, c) != 0);
    /* Every character is lowercase hex, over a spread of times. */
    for (long long us = 0; us < (1LL << 50); us = us * 7 + 1000003) {
        pack_rules_new_id(a, us, high);
        for (int i = 0; i < 32; i++)
            assert_non_null(strchr("0123456789abcdef", a[i]));
        pack_rules_new_id(b, us + 1000, low);
        assert_true(strcmp(a, b) < 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_ca_table_questions),
        cmocka_unit_test(test_ca_validity_method_matrix),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_first_problem_wins),
        cmocka_unit_test(test_hosts_accept_apex_first),
        cmocka_unit_test(test_hosts_normalised),
        cmocka_unit_test(test_hosts_empty),
        cmocka_unit_test(test_hosts_50_and_51),
        cmocka_unit_test(test_hosts_not_in_zone),
        cmocka_unit_test(test_hosts_invalid),
        cmocka_unit_test(test_hosts_long_input_bounded),
        cmocka_unit_test(test_hosts_duplicates),
        cmocka_unit_test(test_hosts_apex_missing),
        cmocka_unit_test(test_http_wildcard),
        cmocka_unit_test(test_check_method_switch),
        cmocka_unit_test(test_new_id_layout),
        cmocka_unit_test(test_new_id_ascends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
