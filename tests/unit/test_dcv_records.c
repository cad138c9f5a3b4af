/* Unit tests for core/dcv_records: the base64url encoder (RFC 4648 vectors and OpenSSL as
 * a reference), token shape and randomness, TXT/HTTP/e-mail records (formats, lengths,
 * apex and wildcard sharing a txt_name), and the delegation CNAMEs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "core/dcv_records.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define APEX "example.com"
#define ZONE_ID "023e105f4ecef8ad9ca31a8372d0c353"

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void assert_token(const char *t)
{
    assert_int_equal(strlen(t), DCV_TOKEN_LEN);
    assert_int_equal(strspn(t, url_alphabet), DCV_TOKEN_LEN);
    /* 32 bytes are 256 bits; the 43rd character carries 4 of them and two zero bits, so it
     * is one of the 16 characters whose index is a multiple of 4. */
    const char *pos = strchr(url_alphabet, t[DCV_TOKEN_LEN - 1]);
    assert_non_null(pos);
    assert_int_equal((pos - url_alphabet) % 4, 0);
}

/* ---- base64url --------------------------------------------------------------------- */

static void test_base64url_vectors(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        /* RFC 4648 §10 (no padding in base64url without '=') */
        {"", 0, ""},
        {"f", 1, "Zg"},
        {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"},
        /* The two characters that differ from base64: '+' -> '-', '/' -> '_'. */
        {"\xfb\xff", 2, "-_8"},
        {"\xff\xff\xff", 3, "____"},
        {"\xfb\xef\xbe", 3, "----"},
        {"\x00\x00\x00", 3, "AAAA"},
        {"\x00", 1, "AA"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char out[16];
        memset(out, 'x', sizeof out);
        size_t len = dcv_base64url(cases[i].in, cases[i].n, out);
        assert_int_equal(len, strlen(cases[i].out));
        assert_string_equal(out, cases[i].out);
    }
}

/* Against OpenSSL's EVP_EncodeBlock with the alphabet translated and padding stripped, for
 * every length 0..96 and random contents. */
static void test_base64url_matches_openssl(void **state)
{
    for (int n = 0; n <= 96; n++) {
        for (int round = 0; round < 8; round++) {
            unsigned char in[96];
            util_random_bytes(in, sizeof in);
            char mine[4 * 96 / 3 + 8];
            unsigned char ref[4 * 96 / 3 + 8];
            size_t len = dcv_base64url(in, (size_t)n, mine);
            int rlen = EVP_EncodeBlock(ref, in, n);
            while (rlen > 0 && ref[rlen - 1] == '=')
                rlen--;
            ref[rlen] = '\0';
            for (int i = 0; i < rlen; i++)
                ref[i] = ref[i] == '+' ? '-' : ref[i] == '/' ? '_' : ref[i];
            assert_int_equal(len, (size_t)rlen);
            assert_int_equal(len, (4 * (size_t)n + 2) / 3);
            assert_string_equal(mine, (const char *)ref);
        }
    }
}

static void test_random_token(void **state)
{
    enum { COUNT = 200 };
    char(*tokens)[DCV_TOKEN_SIZE] = xcalloc(COUNT, DCV_TOKEN_SIZE);
    for (int i = 0; i < COUNT; i++) {
        dcv_random_token(tokens[i]);
        assert_token(tokens[i]);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tokens[i], tokens[j]);
    }
    /* Over 200 tokens every alphabet character shows up (8600 draws of 64): a constant or
     * narrow encoder would not. */
    for (size_t c = 0; c < 64; c++) {
        bool seen = false;
        for (int i = 0; i < COUNT && !seen; i++)
            seen = memchr(tokens[i], url_alphabet[c], DCV_TOKEN_LEN - 1) != NULL;
        if (!seen)
            fail_msg("character %c never produced", url_alphabet[c]);
    }
    xfree(tokens);
}

/* ---- records ----------------------------------------------------------------------- */

static void assert_empty_except(const struct dcv_record *r, enum pack_method m)
{
    if (m != PACK_METHOD_TXT) {
        assert_string_equal(r->txt_name, "");
        assert_string_equal(r->txt_value, "");
    }
    if (m != PACK_METHOD_HTTP) {
        assert_string_equal(r->http_url, "");
        assert_string_equal(r->http_body, "");
    }
    if (m != PACK_METHOD_EMAIL)
        for (int i = 0; i < DCV_EMAIL_COUNT; i++)
            assert_string_equal(r->emails[i], "");
}

static void test_txt_name(void **state)
{
    static const struct {
        const char *host, *name;
    } cases[] = {
        {"example.com", "_acme-challenge.example.com"},
        {"*.example.com", "_acme-challenge.example.com"},
        {"www.example.com", "_acme-challenge.www.example.com"},
        {"*.dev.example.com", "_acme-challenge.dev.example.com"},
        {"a.b.c.example.com", "_acme-challenge.a.b.c.example.com"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char name[DCV_NAME_SIZE];
        dcv_txt_name(cases[i].host, name);
        assert_string_equal(name, cases[i].name);
    }
}

static void test_txt_record(void **state)
{
    struct dcv_record r;
    memset(&r, 0x7f, sizeof r);
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_TXT, "www.example.com", APEX), 0);
    assert_int_equal(r.method, PACK_METHOD_TXT);
    assert_string_equal(r.host, "www.example.com");
    assert_string_equal(r.txt_name, "_acme-challenge.www.example.com");
    assert_token(r.txt_value);
    assert_empty_except(&r, PACK_METHOD_TXT);

    /* The same host again: same name, a fresh value. */
    struct dcv_record again;
    assert_int_equal(dcv_record_init(&again, PACK_METHOD_TXT, "www.example.com", APEX), 0);
    assert_string_equal(again.txt_name, r.txt_name);
    assert_string_not_equal(again.txt_value, r.txt_value);
}

static void test_apex_and_wildcard_share_txt_name(void **state)
{
    static const char *const hosts[] = {"example.com", "*.example.com", "www.example.com",
                                        "*.www.example.com"};
    struct dcv_record *recs = xcalloc(N(hosts), sizeof *recs);
    assert_int_equal(dcv_records_build(recs, PACK_METHOD_TXT, hosts, N(hosts), APEX), 0);
    for (size_t i = 0; i < N(hosts); i++) {
        assert_string_equal(recs[i].host, hosts[i]);
        assert_token(recs[i].txt_value);
        assert_empty_except(&recs[i], PACK_METHOD_TXT);
    }
    /* One name, two values, for each host and its wildcard. */
    assert_string_equal(recs[0].txt_name, "_acme-challenge.example.com");
    assert_string_equal(recs[1].txt_name, "_acme-challenge.example.com");
    assert_string_equal(recs[2].txt_name, "_acme-challenge.www.example.com");
    assert_string_equal(recs[3].txt_name, "_acme-challenge.www.example.com");
    assert_string_not_equal(recs[0].txt_value, recs[1].txt_value);
    assert_string_not_equal(recs[2].txt_value, recs[3].txt_value);
    for (size_t i = 0; i < N(hosts); i++)
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(recs[i].txt_value, recs[j].txt_value);
    xfree(recs);
}

static void test_http_record(void **state)
{
    static const char prefix[] = "http://www.example.com/.well-known/acme-challenge/";
    struct dcv_record r;
    memset(&r, 0x7f, sizeof r);
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_HTTP, "www.example.com", APEX), 0);
    assert_int_equal(r.method, PACK_METHOD_HTTP);
    assert_string_equal(r.host, "www.example.com");
    assert_int_equal(strncmp(r.http_url, prefix, strlen(prefix)), 0);
    const char *token = r.http_url + strlen(prefix);
    assert_token(token);
    /* body = <token>.<43 characters> */
    assert_int_equal(strlen(r.http_body), 2 * DCV_TOKEN_LEN + 1);
    assert_int_equal(strncmp(r.http_body, token, DCV_TOKEN_LEN), 0);
    assert_int_equal(r.http_body[DCV_TOKEN_LEN], '.');
    assert_token(r.http_body + DCV_TOKEN_LEN + 1);
    assert_string_not_equal(r.http_body + DCV_TOKEN_LEN + 1, token);
    assert_empty_except(&r, PACK_METHOD_HTTP);

    /* The apex itself. */
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_HTTP, APEX, APEX), 0);
    assert_int_equal(strncmp(r.http_url, "http://example.com/.well-known/acme-challenge/", 46), 0);
    assert_int_equal(strlen(r.http_url), 46 + DCV_TOKEN_LEN);

    /* Fresh token each time. */
    struct dcv_record again;
    assert_int_equal(dcv_record_init(&again, PACK_METHOD_HTTP, APEX, APEX), 0);
    assert_string_not_equal(again.http_url, r.http_url);
    assert_string_not_equal(again.http_body, r.http_body);
}

static void test_http_refuses_wildcard(void **state)
{
    struct dcv_record r;
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_HTTP, "*.example.com", APEX), -1);
    assert_string_equal(r.http_url, "");
    static const char *const hosts[] = {"example.com", "*.example.com"};
    struct dcv_record recs[2];
    assert_int_equal(dcv_records_build(recs, PACK_METHOD_HTTP, hosts, 2, APEX), -1);
    /* txt and email accept the same hosts. */
    assert_int_equal(dcv_records_build(recs, PACK_METHOD_TXT, hosts, 2, APEX), 0);
    assert_int_equal(dcv_records_build(recs, PACK_METHOD_EMAIL, hosts, 2, APEX), 0);
}

static void test_email_record(void **state)
{
    static const char *const want[DCV_EMAIL_COUNT] = {
        "admin@example.com",      "administrator@example.com", "hostmaster@example.com",
        "postmaster@example.com", "webmaster@example.com",
    };
    static const char *const hosts[] = {"example.com", "www.example.com", "*.a.example.com"};
    struct dcv_record recs[N(hosts)];
    memset(recs, 0x7f, sizeof recs);
    assert_int_equal(dcv_records_build(recs, PACK_METHOD_EMAIL, hosts, N(hosts), APEX), 0);
    /* One record per host, each with the apex's addresses. */
    for (size_t h = 0; h < N(hosts); h++) {
        assert_int_equal(recs[h].method, PACK_METHOD_EMAIL);
        assert_string_equal(recs[h].host, hosts[h]);
        for (int i = 0; i < DCV_EMAIL_COUNT; i++)
            assert_string_equal(recs[h].emails[i], want[i]);
        assert_empty_except(&recs[h], PACK_METHOD_EMAIL);
    }
    char emails[DCV_EMAIL_COUNT][DCV_EMAIL_SIZE];
    dcv_emails("sub.example.org", emails);
    assert_string_equal(emails[0], "admin@sub.example.org");
    assert_string_equal(emails[4], "webmaster@sub.example.org");
}

/* ---- delegation -------------------------------------------------------------------- */

static void test_delegation(void **state)
{
    static const struct {
        const char *host, *domain, *cname, *target;
    } cases[] = {
        {"example.com", NULL, "_acme-challenge.example.com",
         "example.com." ZONE_ID ".dcv.tlsward.local"},
        {"*.example.com", NULL, "_acme-challenge.example.com",
         "example.com." ZONE_ID ".dcv.tlsward.local"},
        {"www.example.com", NULL, "_acme-challenge.www.example.com",
         "www.example.com." ZONE_ID ".dcv.tlsward.local"},
        {"www.example.com", "dcv-corp.internal", "_acme-challenge.www.example.com",
         "www.example.com." ZONE_ID ".dcv-corp.internal"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct dcv_delegation d;
        memset(&d, 0x7f, sizeof d);
        dcv_delegation_init(&d, cases[i].host, ZONE_ID, cases[i].domain);
        assert_string_equal(d.cname, cases[i].cname);
        assert_string_equal(d.cname_target, cases[i].target);
    }
    assert_string_equal(DCV_DOMAIN_DEFAULT, "dcv.tlsward.local");
}

/* ---- the largest inputs fit --------------------------------------------------------- */

static void test_longest_host_fits(void **state)
{
    /* 253 bytes: four labels of 63 and a dot-separated tail, ending in ".com". */
    char host[HOSTNAME_SIZE];
    memset(host, 'a', HOSTNAME_MAX);
    host[63] = host[127] = host[191] = host[249] = '.';
    memcpy(host + 250, "com", 3);
    host[HOSTNAME_MAX] = '\0';
    assert_int_equal(strlen(host), 253);
    char wild[HOSTNAME_SIZE];
    snprintf(wild, sizeof wild, "*.%s", host + 64); /* a wildcard of the parent */

    struct dcv_record r;
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_TXT, host, host), 0);
    assert_int_equal(strlen(r.txt_name), 16 + 253);
    assert_int_equal(strcmp(r.txt_name + 16, host), 0);
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_HTTP, host, host), 0);
    assert_int_equal(strlen(r.http_url), 7 + 253 + 28 + DCV_TOKEN_LEN);
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_EMAIL, host, host), 0);
    assert_int_equal(strlen(r.emails[1]), 14 + 253);
    assert_int_equal(dcv_record_init(&r, PACK_METHOD_TXT, wild, host), 0);
    assert_string_equal(r.txt_name + 16, host + 64);

    char domain[DCV_DOMAIN_MAX + 1];
    memcpy(domain, host, sizeof domain);
    struct dcv_delegation d;
    dcv_delegation_init(&d, host, ZONE_ID, domain);
    assert_int_equal(strlen(d.cname_target), 253 + 1 + 32 + 1 + 253);
    assert_int_equal(strncmp(d.cname_target, host, 253), 0);
    assert_string_equal(d.cname_target + 253 + 1 + 32 + 1, domain);
}

/* Tokens served by the responder or written under --webroot: base64url, 1 to 128. */
static void test_token_valid(void **state)
{
    (void)state;
    char token[DCV_TOKEN_SIZE];
    dcv_random_token(token);
    assert_true(dcv_token_valid(token));
    assert_true(dcv_token_valid("a"));
    assert_true(dcv_token_valid("AZaz09-_"));
    char longest[DCV_TOKEN_MAX + 2];
    memset(longest, 'x', DCV_TOKEN_MAX);
    longest[DCV_TOKEN_MAX] = '\0';
    assert_true(dcv_token_valid(longest));
    longest[DCV_TOKEN_MAX] = 'x';
    longest[DCV_TOKEN_MAX + 1] = '\0';
    assert_false(dcv_token_valid(longest));
    static const char *const bad[] = {"",   ".",   "..",   "a/b",      "a.b",
                                      "a=", "a b", "a%2f", "\xc3\xa9", "a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(dcv_token_valid(bad[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_vectors),
        cmocka_unit_test(test_base64url_matches_openssl),
        cmocka_unit_test(test_random_token),
        cmocka_unit_test(test_txt_name),
        cmocka_unit_test(test_txt_record),
        cmocka_unit_test(test_apex_and_wildcard_share_txt_name),
        cmocka_unit_test(test_http_record),
        cmocka_unit_test(test_http_refuses_wildcard),
        cmocka_unit_test(test_email_record),
        cmocka_unit_test(test_delegation),
        cmocka_unit_test(test_longest_host_fits),
        cmocka_unit_test(test_token_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
