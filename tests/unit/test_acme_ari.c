/* Unit tests of acme/ari.c (RFC 9773): the CertID of RFC 9773 §4.1's example (AKI
 * 69:88:5B:... and serial 00:87:65:43:21, whose leading zero byte must stay), a leaf without
 * an AKI, the renewalInfo body on canned JSON (good, reversed, missing, malformed), and the
 * random renewal time inside the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/x509v3.h>
#include <string.h>

#include "acme/acme.h"
#include "common/alloc.h"
#include "common/util.h"

/* An (unsigned) certificate with just a serial and, when aki is not NULL, an AKI keyid. */
static X509 *cert_with(const unsigned char *serial, int serial_len, const unsigned char *aki,
                       int aki_len)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_bin2bn(serial, serial_len, NULL);
    ASN1_INTEGER *s = BN_to_ASN1_INTEGER(bn, NULL);
    X509_set_serialNumber(x, s);
    ASN1_INTEGER_free(s);
    BN_free(bn);
    if (aki) {
        AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
        akid->keyid = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(akid->keyid, aki, aki_len);
        assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0), 1);
        AUTHORITY_KEYID_free(akid);
    }
    return x;
}

static const unsigned char rfc_aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};

static void test_cert_id_rfc9773(void **state)
{
    /* Serial 0x87654321: DER needs a 0x00 first since the top bit is set. */
    const unsigned char serial[] = {0x87, 0x65, 0x43, 0x21};
    X509 *x = cert_with(serial, sizeof serial, rfc_aki, sizeof rfc_aki);
    char *id = acme_ari_cert_id(x);
    assert_non_null(id);
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    xfree(id);
    X509_free(x);
    /* A serial without its top bit set gets no extra byte. */
    const unsigned char small[] = {0x12, 0x34};
    x = cert_with(small, sizeof small, rfc_aki, sizeof rfc_aki);
    id = acme_ari_cert_id(x);
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.EjQ");
    xfree(id);
    X509_free(x);
    /* No AKI: no CertID. */
    x = cert_with(small, sizeof small, NULL, 0);
    assert_null(acme_ari_cert_id(x));
    X509_free(x);
}

static int64_t t(const char *s)
{
    int64_t us = 0;
    assert_int_equal(util_parse_time(s, &us), 0);
    return us;
}

static int parse(const char *body, struct acme_renewal *r)
{
    return acme_ari_parse(body, strlen(body), r);
}

static void test_parse_window(void **state)
{
    struct acme_renewal r;
    assert_int_equal(parse("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
                           "\"end\":\"2025-01-03T04:00:00Z\"},"
                           "\"explanationURL\":\"https://acme.example.com/docs/ari\"}",
                           &r),
                     0);
    assert_int_equal(r.start_us, t("2025-01-02T04:00:00Z"));
    assert_int_equal(r.end_us, t("2025-01-03T04:00:00Z"));
    assert_string_equal(r.explanation_url, "https://acme.example.com/docs/ari");
    assert_int_equal(r.retry_after_us, 0);
    acme_renewal_free(&r);
    assert_null(r.explanation_url);
    static const char *const bad[] = {
        "{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:"
        "00Z\"}}", /* reversed */
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-02T04:00:"
        "00Z\"}}", /* empty */
        "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}",
        "{\"suggestedWindow\":{\"start\":\"yesterday\",\"end\":\"2025-01-02T04:00:00Z\"}}",
        "{\"suggestedWindow\":[]}",
        "{}",
        "not json",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &r), -1);
        assert_int_equal(r.start_us, 0);
        assert_null(r.explanation_url);
    }
}

static void test_pick(void **state)
{
    struct acme_renewal r = {.start_us = t("2025-01-02T04:00:00Z"),
                             .end_us = t("2025-01-03T04:00:00Z")};
    const int64_t before = t("2024-12-01T00:00:00Z");
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (int i = 0; i < 2000; i++) {
        int64_t at = acme_ari_pick(&r, before);
        assert_true(at >= r.start_us && at < r.end_us);
        min = at < min ? at : min;
        max = at > max ? at : max;
    }
    /* Uniform over a day: 2000 draws land in the first and the last tenth (a failure has
     * probability 2 * 0.9^2000, about 1e-91). */
    const int64_t tenth = (r.end_us - r.start_us) / 10;
    assert_true(min < r.start_us + tenth);
    assert_true(max > r.end_us - tenth);
    /* Inside the window: from now to the end. */
    const int64_t mid = t("2025-01-02T16:00:00Z");
    for (int i = 0; i < 200; i++) {
        int64_t at = acme_ari_pick(&r, mid);
        assert_true(at >= mid && at < r.end_us);
    }
    /* The window is over: renew now. */
    const int64_t after = t("2025-02-01T00:00:00Z");
    assert_int_equal(acme_ari_pick(&r, after), after);
}

static void test_get_without_renewal_info(void **state)
{
    /* A client whose directory cannot be fetched reports a transport error, not a crash. */
    EVP_PKEY *k = acme_key_generate();
    struct acme_client_options o = {.directory_url = "https://127.0.0.1:1/dir", .timeout_ms = 2000};
    struct acme_error err;
    struct acme_client *c = acme_client_create(&o, k, &err);
    assert_non_null(c);
    struct acme_renewal r;
    assert_int_equal(acme_ari_get(c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &r, &err),
                     ACME_E_TRANSPORT);
    assert_string_equal(err.endpoint, "directory");
    acme_client_destroy(c);
    EVP_PKEY_free(k);
}

int main(void)
{
    alloc_install_json();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cert_id_rfc9773),
        cmocka_unit_test(test_parse_window),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_get_without_renewal_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
