/* Unit tests of pki/crl: a CRL with revoked serials parsed back with d2i_X509_CRL and
 * checked field by field (signature, issuer, version, CRL number, AKI, times, entries),
 * used by X509_STORE with CRL checking, the empty CRL, and the inputs it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tu_x509.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/util.h"
#include "pki/pki.h"

#define SEC 1000000LL

/* Keys made once (generation is slow under the sanitizers); filled in by main. */
static EVP_PKEY *rsa_key, *p256, *p384;

static X509_NAME *make_name(const char *cn)
{
    return tu_x509_name(NULL, cn);
}

static X509 *issue(enum pki_profile profile, EVP_PKEY *key, const char *cn, X509 *issuer,
                   EVP_PKEY *issuer_key)
{
    X509_NAME *name = make_name(cn);
    int64_t now = util_now_us();
    struct pki_cert_spec spec = {
        .profile = profile,
        .subject_key = key,
        .subject = name,
        .issuer = issuer,
        .issuer_key = issuer_key,
        .not_before_us = now - 3600 * SEC,
        .not_after_us = now + 86400 * SEC,
        .path_len = 0,
    };
    X509 *cert = pki_cert_issue(&spec);
    assert_non_null(cert);
    X509_NAME_free(name);
    return cert;
}

/* Builds a CRL and parses it back (X509_CRL_free). */
static X509_CRL *build(X509 *ca, EVP_PKEY *ca_key, uint64_t number, int64_t this_us,
                       int64_t next_us, const struct pki_revoked *revoked, size_t count)
{
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(
        pki_crl_build(ca, ca_key, number, this_us, next_us, revoked, count, &der, &len), 0);
    assert_non_null(der);
    assert_true(len > 0);
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    assert_non_null(crl);
    assert_ptr_equal(p, der + len); /* nothing after the CRL */
    xfree(der);
    return crl;
}

/* What every CRL carries: v2, the CA's signature and name, the number, the AKI, the times. */
static void assert_crl_header(X509_CRL *crl, X509 *ca, uint64_t number, int64_t this_us,
                              int64_t next_us)
{
    assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)), 0);
    int crit = -1;
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
    assert_non_null(n);
    assert_int_equal(crit, 0);
    uint64_t got = 0;
    assert_int_equal(ASN1_INTEGER_get_uint64(&got, n), 1);
    assert_true(got == number);
    ASN1_INTEGER_free(n);
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    assert_non_null(akid);
    assert_non_null(akid->keyid);
    assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(ca)), 0);
    AUTHORITY_KEYID_free(akid);
    assert_int_equal(X509_CRL_get_ext_count(crl), 2);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), this_us / SEC), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), next_us / SEC), 0);
}

/* Verifies leaf against ca with the CRL, as a TLS terminator with ssl_crl would. */
static int verify_with_crl(X509 *ca, X509_CRL *crl, X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_add_crl(store, crl), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_X509_STRICT);
    X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return err;
}

static void test_two_revoked(void **state)
{
    struct {
        EVP_PKEY *key;
        int sig_nid;
    } cases[] = {{rsa_key, NID_sha256WithRSAEncryption}, {p384, NID_ecdsa_with_SHA384}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        EVP_PKEY *ca_key = cases[c].key;
        X509 *ca = issue(PKI_PROFILE_CA, ca_key, "CRL CA", NULL, ca_key);
        X509 *leaves[3];
        char serials[3][41];
        for (size_t i = 0; i < 3; i++) {
            leaves[i] = issue(PKI_PROFILE_CLIENT, p256, "client", ca, ca_key);
            pki_cert_serial_hex(leaves[i], serials[i], sizeof serials[i]);
        }
        int64_t now = util_now_us();
        int64_t this_us = (now / SEC - 60) * SEC, next_us = this_us + 7 * 86400 * SEC;
        struct pki_revoked revoked[] = {
            {serials[0], now - 30 * SEC - 123456},
            {serials[2], now - 10 * SEC},
        };
        uint64_t number = (UINT64_C(1) << 40) + 5;
        X509_CRL *crl = build(ca, ca_key, number, this_us, next_us, revoked, 2);
        assert_crl_header(crl, ca, number, this_us, next_us);
        assert_int_equal(X509_CRL_get_signature_nid(crl), cases[c].sig_nid);

        assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
        for (size_t i = 0; i < 2; i++) {
            X509_REVOKED *rev = NULL;
            X509 *leaf = leaves[i == 0 ? 0 : 2];
            assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, leaf), 1);
            assert_non_null(rev);
            assert_int_equal(
                ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(rev), X509_get0_serialNumber(leaf)),
                0);
            time_t when = (time_t)(revoked[i].revoked_on_us / SEC); /* whole seconds */
            assert_int_equal(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(rev), when), 0);
        }
        X509_REVOKED *rev = NULL;
        assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, leaves[1]), 0);

        assert_int_equal(verify_with_crl(ca, crl, leaves[0]), X509_V_ERR_CERT_REVOKED);
        assert_int_equal(verify_with_crl(ca, crl, leaves[1]), X509_V_OK);
        assert_int_equal(verify_with_crl(ca, crl, leaves[2]), X509_V_ERR_CERT_REVOKED);

        X509_CRL_free(crl);
        for (size_t i = 0; i < 3; i++)
            X509_free(leaves[i]);
        X509_free(ca);
    }
}

static void test_empty(void **state)
{
    X509 *ca = issue(PKI_PROFILE_CA, p256, "Empty CRL CA", NULL, p256);
    X509 *leaf = issue(PKI_PROFILE_CLIENT, p384, "client", ca, p256);
    int64_t this_us = 1700000000LL * SEC, next_us = util_now_us() + 86400 * SEC;
    X509_CRL *crl = build(ca, p256, 1, this_us, next_us, NULL, 0);
    assert_crl_header(crl, ca, 1, this_us, next_us);
    assert_int_equal(X509_CRL_get_signature_nid(crl), NID_ecdsa_with_SHA256);
    /* RFC 5280 §5.1.2.6: with no entries, revokedCertificates is absent. */
    STACK_OF(X509_REVOKED) *list = X509_CRL_get_REVOKED(crl);
    assert_true(list == NULL || sk_X509_REVOKED_num(list) == 0);
    assert_int_equal(verify_with_crl(ca, crl, leaf), X509_V_OK);
    X509_CRL_free(crl);

    /* CRL number 0, and nextUpdate after 2049 (GeneralizedTime). */
    crl = build(ca, p256, 0, this_us, 4102444800LL * SEC, NULL, 0);
    assert_crl_header(crl, ca, 0, this_us, 4102444800LL * SEC);
    assert_int_equal(ASN1_STRING_type(X509_CRL_get0_nextUpdate(crl)), V_ASN1_GENERALIZEDTIME);
    X509_CRL_free(crl);
    X509_free(leaf);
    X509_free(ca);
}

/* Serials are read as hex in either case, leading zeros or not; entries come out sorted. */
static void test_serial_forms(void **state)
{
    X509 *ca = issue(PKI_PROFILE_CA, p256, "Serial CA", NULL, p256);
    struct pki_revoked revoked[] = {
        {"0a", 1}, {"FF00", 2}, {"7", 3}, {"7fffffffffffffffffffffffffffffffffffffff", 4}};
    X509_CRL *crl = build(ca, p256, 9, 10 * SEC, 20 * SEC, revoked, 4);
    STACK_OF(X509_REVOKED) *list = X509_CRL_get_REVOKED(crl);
    assert_int_equal(sk_X509_REVOKED_num(list), 4);
    const char *want[] = {"07", "0A", "FF00", "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"};
    for (int i = 0; i < 4; i++) {
        const ASN1_INTEGER *serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(list, i));
        BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
        char *hex = BN_bn2hex(bn);
        assert_string_equal(hex, want[i]);
        OPENSSL_free(hex);
        BN_free(bn);
    }
    X509_CRL_free(crl);
    X509_free(ca);
}

static void expect_refused(X509 *ca, EVP_PKEY *key, int64_t this_us, int64_t next_us,
                           const struct pki_revoked *revoked, size_t count)
{
    unsigned char *der = (unsigned char *)&der;
    size_t len = 99;
    assert_int_equal(pki_crl_build(ca, key, 1, this_us, next_us, revoked, count, &der, &len), -1);
    assert_null(der);
    assert_int_equal(len, 0);
}

static void test_refusals(void **state)
{
    X509 *ca = issue(PKI_PROFILE_CA, p256, "Refusing CA", NULL, p256);
    int64_t t = 1700000000LL * SEC;
    expect_refused(NULL, p256, t, t + SEC, NULL, 0);
    expect_refused(ca, NULL, t, t + SEC, NULL, 0);
    expect_refused(ca, p384, t, t + SEC, NULL, 0); /* not the CA's key */
    expect_refused(ca, p256, t, t, NULL, 0);       /* nextUpdate must follow thisUpdate */
    expect_refused(ca, p256, t, t - SEC, NULL, 0);
    expect_refused(ca, p256, t, t + SEC, NULL, 1);
    const char *bad[] = {"",     "xyz",   "-01",
                         "0x1f", "12 34", "123456789012345678901234567890123456789012"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pki_revoked revoked[] = {{"01", t}, {bad[i], t}};
        expect_refused(ca, p256, t, t + SEC, revoked, 2);
    }
    struct pki_revoked null_serial[] = {{NULL, t}};
    expect_refused(ca, p256, t, t + SEC, null_serial, 1);

    /* tlsward does not sign with P-521. */
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    assert_non_null(p521);
    expect_refused(ca, p521, t, t + SEC, NULL, 0);
    EVP_PKEY_free(p521);
    X509_free(ca);
}

int main(void)
{
    rsa_key = pki_key_generate(PKI_KEY_RSA_2048);
    p256 = pki_key_generate(PKI_KEY_EC_P256);
    p384 = pki_key_generate(PKI_KEY_EC_P384);
    if (!rsa_key || !p256 || !p384)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_revoked),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_serial_forms),
        cmocka_unit_test(test_refusals),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return failed;
}
