/* Unit tests of acme/parse.c: problem documents mapped to codes (with RFC 8555 §6.7.1's
 * compound example), the one-line error message (escaped, bounded), Retry-After in both
 * forms and garbage, Link header alternates, the topmost issuer of a chain and the
 * preferred-chain choice, and the status/endpoint name tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "acme/acme.h"
#include "common/alloc.h"
#include "pki/pki.h"

static int parse(const char *body, int status, struct acme_error *err)
{
    return acme_problem_parse(body, body ? strlen(body) : 0, status, err);
}

static void test_problem_compound(void **state)
{
    const char *doc = "{\"type\":\"urn:ietf:params:acme:error:malformed\","
                      "\"detail\":\"Some of the identifiers requested were rejected\","
                      "\"subproblems\":["
                      "{\"type\":\"urn:ietf:params:acme:error:malformed\","
                      "\"detail\":\"Invalid underscore in DNS name \\\"_example.org\\\"\","
                      "\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
                      "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
                      "\"detail\":\"This CA will not issue for \\\"example.net\\\"\","
                      "\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}";
    struct acme_error err;
    assert_int_equal(parse(doc, 400, &err), ACME_E_PROBLEM);
    assert_true(err.has_problem);
    assert_string_equal(err.problem.type, "malformed");
    assert_string_equal(err.problem.detail, "Some of the identifiers requested were rejected");
    assert_int_equal(err.problem.status, 400);
    assert_int_equal(err.problem.n_sub, 2);
    assert_string_equal(err.problem.sub[0].identifier, "_example.org");
    assert_string_equal(err.problem.sub[1].type, "rejectedIdentifier");
    assert_string_equal(err.problem.sub[1].identifier, "example.net");
    char line[512];
    acme_error_format(&err, line, sizeof line);
    assert_string_equal(line, "malformed: Some of the identifiers requested were rejected "
                              "(status 400); _example.org: malformed: Invalid underscore in "
                              "DNS name \"_example.org\"; example.net: rejectedIdentifier: "
                              "This CA will not issue for \"example.net\"");
}

static void test_problem_codes(void **state)
{
    static const struct {
        const char *body;
        int status;
        int code;
        const char *type;
    } cases[] = {
        {"{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"JWS has an invalid "
         "anti-replay nonce\"}",
         400, ACME_E_BAD_NONCE, "badNonce"},
        {"{\"type\":\"urn:ietf:params:acme:error:accountDoesNotExist\"}", 400, ACME_E_GONE,
         "accountDoesNotExist"},
        {"{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"status\":429}", 429,
         ACME_E_RATE_LIMITED, "rateLimited"},
        {"{\"type\":\"urn:ietf:params:acme:error:serverInternal\"}", 500, ACME_E_SERVER,
         "serverInternal"},
        {"{\"type\":\"urn:ietf:params:acme:error:unauthorized\"}", 403, ACME_E_PROBLEM,
         "unauthorized"},
        {"{\"type\":\"urn:ietf:params:acme:error:externalAccountRequired\"}", 400, ACME_E_PROBLEM,
         "externalAccountRequired"},
        {"{\"type\":\"about:blank\",\"detail\":\"x\"}", 400, ACME_E_PROBLEM, "about:blank"},
        {"{\"type\":\"urn:ietf:params:acme:error:malformed\"}", 404, ACME_E_GONE, "malformed"},
        {"", 404, ACME_E_GONE, NULL},
        {"<html>busy</html>", 503, ACME_E_SERVER, NULL},
        {NULL, 429, ACME_E_RATE_LIMITED, NULL},
        {"{\"detail\":\"no type\"}", 400, ACME_E_PROTOCOL, NULL},
        {"[1,2]", 400, ACME_E_PROTOCOL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct acme_error err;
        assert_int_equal(parse(cases[i].body, cases[i].status, &err), cases[i].code);
        assert_int_equal(err.code, cases[i].code);
        assert_int_equal(err.http_status, cases[i].status);
        assert_int_equal(err.has_problem, cases[i].type != NULL);
        if (cases[i].type)
            assert_string_equal(err.problem.type, cases[i].type);
    }
}

static void test_error_line_is_safe_and_bounded(void **state)
{
    /* A detail with a newline, a control byte and a long tail: one escaped line, cut. */
    char body[2048];
    char tail[1200];
    memset(tail, 'x', sizeof tail - 1);
    tail[sizeof tail - 1] = '\0';
    snprintf(body, sizeof body,
             "{\"type\":\"urn:ietf:params:acme:error:caa\",\"detail\":\"line1\\nline2\\u0007 "
             "\\u00e9t\\u00e9 %s\"}",
             tail);
    struct acme_error err;
    assert_int_equal(parse(body, 403, &err), ACME_E_PROBLEM);
    char line[1024];
    size_t n = acme_error_format(&err, line, sizeof line);
    assert_int_equal(n, strlen(line));
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\a'));
    assert_non_null(strstr(line, "caa: line1\\x0aline2\\x07 \xc3\xa9t\xc3\xa9 xxx"));
    /* A buffer that ends inside "é" drops the partial character. */
    char small[16];
    n = acme_error_format(&err, small, sizeof small);
    assert_true(n < sizeof small);
    assert_int_equal(strlen(small), n);
    char tiny[26]; /* "caa: line1\x0aline2\x07 é" is 25 bytes with the é cut at 24 */
    n = acme_error_format(&err, tiny, sizeof tiny);
    assert_int_equal(n, 24);
    assert_string_equal(tiny, "caa: line1\\x0aline2\\x07 ");
    /* Without a problem document: the code, the reason, the status, the endpoint. */
    memset(&err, 0, sizeof err);
    err.code = ACME_E_TRANSPORT;
    err.endpoint = "newOrder";
    snprintf(err.message, sizeof err.message, "Couldn't connect to server");
    acme_error_format(&err, line, sizeof line);
    assert_string_equal(line, "transport error: Couldn't connect to server [newOrder]");
}

static void test_retry_after(void **state)
{
    const int64_t now = 1700000000LL * 1000000;
    int64_t at = 0;
    assert_int_equal(acme_retry_after_parse("120", now, &at), 0);
    assert_int_equal(at, now + 120LL * 1000000);
    assert_int_equal(acme_retry_after_parse("0", now, &at), 0);
    assert_int_equal(at, now);
    assert_int_equal(acme_retry_after_parse("99999999999999999999", now, &at), 0);
    assert_int_equal(at, now + 86400LL * 1000000); /* capped at a day */
    assert_int_equal(acme_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", now, &at), 0);
    assert_int_equal(at, 1445412480LL * 1000000);
    assert_int_equal(acme_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &at), 0);
    assert_int_equal(at, 784111777LL * 1000000);
    static const char *const bad[] = {
        "",
        "soon",
        "-5",
        "12a",
        "1.5",
        " 12",
        "Wed, 31 Feb 2015 07:28:00 GMT", /* no such day */
        "Wed, 21 Oct 2015 07:28:00 UTC",
        "Wednesday, 21-Oct-15 07:28:00 GMT",
        "Wed Oct 21 07:28:00 2015",
        "Wed, 21 Oct 2015 07:28:00 GMT junk",
        "Wed, 21 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 25:28:00 GMT",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        at = 42;
        assert_int_equal(acme_retry_after_parse(bad[i], now, &at), -1);
        assert_int_equal(at, 42);
    }
    assert_int_equal(acme_retry_after_parse(NULL, now, &at), -1);
}

static void test_link_alternates(void **state)
{
    const char *values[] = {
        "<https://ca.test/acme/cert/1/1>;rel=\"alternate\", <https://ca.test/dir>;rel=\"index\"",
        "<https://ca.test/acme/cert/1/2> ; rel=alternate",
        "<https://ca.test/up>;rel=\"up\"",
        "<https://ca.test/acme/cert/1/3>;title=\"rel=alternate\";rel=\"up Alternate\"",
        "<https://ca.test/t>;title=\"rel=alternate, x\"",
        "garbage, <https://ca.test/never>;rel=alternate",
        "<https://ca.test/acme/cert/1/4>; rel=\"alternate\"; type=\"x\", <https://ca.test/acme/"
        "cert/1/5>;rel=alternate",
    };
    char *urls[8];
    size_t n = acme_link_alternates(values, sizeof values / sizeof values[0], urls, 8);
    assert_int_equal(n, 5);
    assert_string_equal(urls[0], "https://ca.test/acme/cert/1/1");
    assert_string_equal(urls[1], "https://ca.test/acme/cert/1/2");
    assert_string_equal(urls[2], "https://ca.test/acme/cert/1/3");
    assert_string_equal(urls[3], "https://ca.test/acme/cert/1/4");
    assert_string_equal(urls[4], "https://ca.test/acme/cert/1/5");
    for (size_t i = 0; i < n; i++)
        xfree(urls[i]);
    /* Bounded by max. */
    n = acme_link_alternates(values, 2, urls, 1);
    assert_int_equal(n, 1);
    xfree(urls[0]);
}

/* A root "CN", an intermediate under it and a leaf under that: PEM of leaf + intermediate,
 * the form an ACME server sends (no root). */
static char *make_chain(EVP_PKEY *k, const char *root_cn)
{
    X509_NAME *rn = X509_NAME_new(), *in = X509_NAME_new(), *ln = X509_NAME_new();
    X509_NAME_add_entry_by_txt(rn, "CN", MBSTRING_UTF8, (const unsigned char *)root_cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_UTF8, (const unsigned char *)"Inter", -1, -1, 0);
    X509_NAME_add_entry_by_txt(ln, "CN", MBSTRING_UTF8, (const unsigned char *)"leaf", -1, -1, 0);
    int64_t now = 1700000000LL * 1000000, later = now + 86400LL * 1000000;
    struct pki_cert_spec rs = {.profile = PKI_PROFILE_CA,
                               .subject_key = k,
                               .subject = rn,
                               .issuer_key = k,
                               .not_before_us = now,
                               .not_after_us = later,
                               .path_len = -1};
    X509 *root = pki_cert_issue(&rs);
    struct pki_cert_spec is = rs;
    is.subject = in;
    is.issuer = root;
    X509 *inter = pki_cert_issue(&is);
    const char *names[] = {"leaf.test"};
    struct pki_cert_spec ls = {.profile = PKI_PROFILE_SERVER,
                               .subject_key = k,
                               .subject = ln,
                               .issuer = inter,
                               .issuer_key = k,
                               .not_before_us = now,
                               .not_after_us = later,
                               .dns_names = names,
                               .dns_count = 1};
    X509 *leaf = pki_cert_issue(&ls);
    assert_non_null(root);
    assert_non_null(inter);
    assert_non_null(leaf);
    char *a, *b;
    size_t al, bl;
    pki_cert_to_pem(leaf, &a, &al);
    pki_cert_to_pem(inter, &b, &bl);
    char *pem = xasprintf("%s%s", a, b);
    xfree(a);
    xfree(b);
    X509_free(leaf);
    X509_free(inter);
    X509_free(root);
    X509_NAME_free(rn);
    X509_NAME_free(in);
    X509_NAME_free(ln);
    return pem;
}

static void test_chain_pick(void **state)
{
    EVP_PKEY *k = pki_key_generate(PKI_KEY_EC_P256);
    struct acme_chains ch = {.n = 3, .pem = xcalloc(3, sizeof(char *))};
    ch.pem[0] = make_chain(k, "Root X1");
    ch.pem[1] = make_chain(k, "Root Y2");
    ch.pem[2] = make_chain(k, "Root \xc3\x9c"); /* a UTF-8 CN */
    char cn[64];
    assert_int_equal(acme_chain_top_issuer(ch.pem[1], strlen(ch.pem[1]), cn, sizeof cn), 0);
    assert_string_equal(cn, "Root Y2");
    assert_int_equal(acme_chain_top_issuer(ch.pem[1], strlen(ch.pem[1]), cn, 4), -1);
    assert_int_equal(acme_chain_top_issuer("junk", 4, cn, sizeof cn), -1);
    assert_int_equal(acme_chain_pick(&ch, "Root Y2"), 1);
    assert_int_equal(acme_chain_pick(&ch, "Root X1"), 0);
    assert_int_equal(acme_chain_pick(&ch, "Root \xc3\x9c"), 2);
    assert_int_equal(acme_chain_pick(&ch, "root y2"), 0); /* exact match, else the default */
    assert_int_equal(acme_chain_pick(&ch, "Nobody"), 0);
    assert_int_equal(acme_chain_pick(&ch, NULL), 0);
    assert_int_equal(acme_chain_pick(&ch, ""), 0);
    acme_chains_free(&ch);
    assert_int_equal(ch.n, 0);
    EVP_PKEY_free(k);
}

static void test_names(void **state)
{
    assert_string_equal(acme_status_name(ACME_ST_PROCESSING), "processing");
    assert_int_equal(acme_status_parse("ready"), ACME_ST_READY);
    assert_int_equal(acme_status_parse("Ready"), ACME_ST_UNKNOWN);
    assert_int_equal(acme_status_parse("unknown"), ACME_ST_UNKNOWN);
    assert_int_equal(acme_status_parse(NULL), ACME_ST_UNKNOWN);
    assert_string_equal(acme_endpoint_name(ACME_EP_NEW_ORDER), "newOrder");
    assert_string_equal(acme_endpoint_name(ACME_EP_COUNT), "unknown");
    assert_string_equal(acme_code_name(ACME_E_RATE_LIMITED), "rate limited");
    assert_string_equal(acme_code_name(-99), "unknown");
}

int main(void)
{
    alloc_install_json();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_compound),
        cmocka_unit_test(test_problem_codes),
        cmocka_unit_test(test_error_line_is_safe_and_bounded),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_link_alternates),
        cmocka_unit_test(test_chain_pick),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
