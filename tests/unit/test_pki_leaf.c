/* Unit tests of pki/leaf: client leaves built from a per-CA template are byte for byte what
 * pki_cert_issue makes for the same spec (same serial and times fixed), for RSA and EC CA
 * keys, RSA and EC subject keys, with and without the --public-url extensions, with and
 * without the request's encoded key; they verify (X509_verify and a strict chain check for
 * clientAuth); the facts reported with them equal what pki_cert_* read from the
 * certificate; and the CAs the template does not handle are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tu_x509.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/util.h"
#include "pki/pki.h"

#define SEC 1000000LL

static EVP_PKEY *rsa_ca_key, *ec_ca_key, *rsa_leaf_key, *p256, *p384;

static X509_NAME *make_name(const char *cn)
{
    return tu_x509_name("tlsward tests", cn);
}

static X509 *make_ca(EVP_PKEY *key)
{
    X509_NAME *name = make_name("Leaf template CA");
    int64_t now = util_now_us();
    struct pki_cert_spec spec = {.profile = PKI_PROFILE_CA,
                                 .subject_key = key,
                                 .subject = name,
                                 .issuer_key = key,
                                 .not_before_us = now - 60 * SEC,
                                 .not_after_us = 2900000000LL * SEC, /* 2061 */
                                 .path_len = 0};
    X509 *ca = pki_cert_issue(&spec);
    assert_non_null(ca);
    X509_NAME_free(name);
    return ca;
}

/* The TBSCertificate inside a certificate's DER (a pointer into it). */
static void tbs_of(const unsigned char *der, long len, const unsigned char **tbs, long *tbs_len)
{
    const unsigned char *p = der;
    long n = 0;
    int tag = 0, cls = 0;
    assert_int_equal(ASN1_get_object(&p, &n, &tag, &cls, len) & 0x80, 0);
    assert_int_equal(tag, V_ASN1_SEQUENCE);
    const unsigned char *start = p;
    assert_int_equal(ASN1_get_object(&p, &n, &tag, &cls, len - (p - der)) & 0x80, 0);
    assert_int_equal(tag, V_ASN1_SEQUENCE);
    *tbs = start;
    *tbs_len = (long)(p - start) + n;
}

/* Strict chain verification of leaf under ca for clientAuth, at time `at` (µs). */
static void assert_chain_ok(X509 *ca, X509 *leaf, int64_t at)
{
    assert_int_equal(tu_x509_verify(ca, leaf, X509_PURPOSE_SSL_CLIENT, (time_t)(at / SEC)),
                     X509_V_OK);
}

struct leaf_case {
    EVP_PKEY *ca_key, *subject_key;
    bool urls, spki;
    X509_PUBKEY *given_spki; /* a request's, instead of one made here */
    int64_t not_before_us, not_after_us;
    const unsigned char *serial;
};

/* One leaf both ways: same TBS bytes (whole DER for RSA CAs, whose PKCS#1 v1.5 signature
 * is deterministic), verifying, and the same facts. */
static void check_case(X509 *ca, const struct leaf_case *c)
{
    static const char crl[] = "https://tlsward.example/pki/accounts/a1/client-ca.crl";
    static const char aia[] = "https://tlsward.example/pki/accounts/a1/client-ca.pem";
    X509_NAME *subject = make_name("leaf.example.com");
    X509_PUBKEY *spki = NULL;
    if (c->spki)
        assert_int_equal(X509_PUBKEY_set(&spki, c->subject_key), 1);
    X509_PUBKEY *use_spki = c->given_spki ? c->given_spki : spki;
    struct pki_cert_spec spec = {.profile = PKI_PROFILE_CLIENT,
                                 .subject_key = c->subject_key,
                                 .subject_spki = spki,
                                 .subject = subject,
                                 .issuer = ca,
                                 .issuer_key = c->ca_key,
                                 .not_before_us = c->not_before_us,
                                 .not_after_us = c->not_after_us,
                                 .path_len = -1,
                                 .crl_url = c->urls ? crl : NULL,
                                 .ca_issuers_url = c->urls ? aia : NULL,
                                 .fixed_serial = c->serial};
    X509 *want = pki_cert_issue(&spec);
    assert_non_null(want);
    unsigned char *want_der = NULL;
    int want_len = i2d_X509(want, &want_der);
    assert_true(want_len > 0);

    struct pki_leaf_template *t =
        pki_leaf_template_create(ca, c->ca_key, c->urls ? crl : NULL, c->urls ? aia : NULL);
    assert_non_null(t);
    struct pki_leaf leaf;
    assert_int_equal(pki_leaf_issue(t, c->subject_key, use_spki, subject, c->not_before_us,
                                    c->not_after_us, c->serial, &leaf),
                     0);
    const unsigned char *a, *b;
    long a_len, b_len;
    tbs_of(want_der, want_len, &a, &a_len);
    tbs_of(leaf.der, (long)leaf.der_len, &b, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, (size_t)a_len);
    if (EVP_PKEY_is_a(c->ca_key, "RSA")) {
        assert_int_equal(leaf.der_len, (size_t)want_len);
        assert_memory_equal(leaf.der, want_der, leaf.der_len);
    }

    const unsigned char *p = leaf.der;
    X509 *got = d2i_X509(NULL, &p, (long)leaf.der_len);
    assert_non_null(got);
    assert_ptr_equal(p, leaf.der + leaf.der_len);
    assert_int_equal(X509_verify(got, c->ca_key), 1);
    assert_chain_ok(ca, got, c->not_before_us + 2 * SEC);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(got), c->subject_key), 1);

    /* The facts equal what pki_cert_* read from the certificate. */
    char pem_fp[65], serial[41], ski[41];
    char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(pki_cert_to_pem_fingerprint(got, &pem, &pem_len, pem_fp), 0);
    assert_string_equal(leaf.pem, pem);
    assert_int_equal(leaf.pem_len, pem_len);
    assert_string_equal(leaf.fingerprint, pem_fp);
    pki_cert_serial_hex(got, serial, sizeof serial);
    assert_string_equal(leaf.serial, serial);
    pki_cert_ski_hex(got, ski, sizeof ski);
    assert_string_equal(leaf.ski, ski);
    assert_string_equal(leaf.signature, pki_cert_signature_name(got));
    assert_true(leaf.not_before_us == pki_cert_not_before(got));
    assert_true(leaf.not_after_us == pki_cert_not_after(got));

    xfree(pem);
    X509_free(got);
    pki_leaf_clear(&leaf);
    pki_leaf_template_destroy(t);
    OPENSSL_free(want_der);
    X509_free(want);
    X509_PUBKEY_free(spki);
    X509_NAME_free(subject);
}

/* Every combination of CA key, subject key, URLs and encoded key, at a time that gives
 * UTCTime and one that gives GeneralizedTime (after 2049), with a random serial and one
 * whose leading zero bytes are dropped (and whose first kept byte needs a sign octet). */
static void test_same_bytes_as_pki_cert_issue(void **state)
{
    (void)state;
    static const unsigned char zeros[20] = {0x00, 0x00, 0x80, 0x01, 0x02, 0x03, 0x04,
                                            0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                            0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11};
    static const unsigned char all_zero[20] = {0};
    unsigned char random_serial[20];
    util_random_bytes(random_serial, sizeof random_serial);
    EVP_PKEY *ca_keys[] = {rsa_ca_key, ec_ca_key};
    EVP_PKEY *subjects[] = {p256, p384, rsa_leaf_key};
    int64_t now = util_now_us() / SEC * SEC;
    const int64_t late = 2600000000LL * SEC; /* 2052: GeneralizedTime */
    const unsigned char *serials[] = {random_serial, zeros, all_zero};
    int cases = 0;
    for (size_t k = 0; k < 2; k++) {
        X509 *ca = make_ca(ca_keys[k]);
        for (size_t s = 0; s < 3; s++) {
            for (int urls = 0; urls < 2; urls++) {
                for (int spki = 0; spki < 2; spki++) {
                    for (int when = 0; when < 2; when++) {
                        struct leaf_case c = {
                            .ca_key = ca_keys[k],
                            .subject_key = subjects[s],
                            .urls = urls,
                            .spki = spki,
                            .not_before_us = when ? late : now - 1234567,
                            .not_after_us = when ? late + 30 * 86400 * SEC : now + 86400 * SEC,
                            .serial = serials[(s + (size_t)urls + (size_t)when) % 3]};
                        check_case(ca, &c);
                        cases++;
                    }
                }
            }
        }
        X509_free(ca);
    }
    assert_int_equal(cases, 48);
}

/* A request's own encoded key (pki_csr_spki, as the API passes it) gives the same bytes
 * as pki_cert_issue copying it. */
static void test_key_from_a_request(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {p256, p384, rsa_leaf_key};
    X509 *ca = make_ca(rsa_ca_key);
    int64_t now = util_now_us() / SEC * SEC;
    unsigned char serial[20];
    util_random_bytes(serial, sizeof serial);
    for (size_t i = 0; i < 3; i++) {
        X509_REQ *req = X509_REQ_new();
        assert_non_null(req);
        assert_int_equal(X509_REQ_set_pubkey(req, keys[i]), 1);
        assert_true(X509_REQ_sign(req, keys[i],
                                  EVP_PKEY_is_a(keys[i], "RSA") || i == 0 ? EVP_sha256()
                                                                          : EVP_sha384()) > 0);
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
        char *pem = NULL;
        long len = BIO_get_mem_data(bio, &pem);
        struct pki_csr *csr = NULL;
        assert_int_equal(pki_csr_parse(pem, (size_t)len, &csr, NULL), 0);
        struct leaf_case c = {.ca_key = rsa_ca_key,
                              .subject_key = pki_csr_key(csr),
                              .given_spki = pki_csr_spki(csr),
                              .urls = i == 1,
                              .not_before_us = now,
                              .not_after_us = now + 86400 * SEC,
                              .serial = serial};
        check_case(ca, &c);
        pki_csr_free(csr);
        BIO_free(bio);
        X509_REQ_free(req);
    }
    X509_free(ca);
}

/* Two leaves from one template differ in serial (random) and verify independently. */
static void test_random_serials(void **state)
{
    (void)state;
    X509 *ca = make_ca(rsa_ca_key);
    struct pki_leaf_template *t = pki_leaf_template_create(ca, rsa_ca_key, NULL, NULL);
    assert_non_null(t);
    X509_NAME *subject = make_name("twice.example.com");
    int64_t now = util_now_us();
    struct pki_leaf a, b;
    assert_int_equal(pki_leaf_issue(t, p256, NULL, subject, now, now + 86400 * SEC, NULL, &a), 0);
    assert_int_equal(pki_leaf_issue(t, p256, NULL, subject, now, now + 86400 * SEC, NULL, &b), 0);
    assert_string_not_equal(a.serial, b.serial);
    assert_string_not_equal(a.fingerprint, b.fingerprint);
    /* Whole bytes, no leading zero byte, positive (top bit clear) when all 20 are there. */
    size_t n = strlen(a.serial);
    assert_true(n <= 40 && n % 2 == 0 && strncmp(a.serial, "00", 2) != 0);
    assert_true(n < 40 || (a.serial[0] >= '0' && a.serial[0] <= '7'));
    pki_leaf_clear(&a);
    pki_leaf_clear(&b);
    X509_NAME_free(subject);
    pki_leaf_template_destroy(t);
    X509_free(ca);
}

/* Threads share one template (and its signing context, copied per leaf): every leaf made
 * concurrently verifies under the CA. */
struct signer {
    struct pki_leaf_template *t;
    int ok;
};

static void *sign_many(void *arg)
{
    struct signer *s = arg;
    X509_NAME *subject = X509_NAME_new();
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)"t", -1, -1, 0);
    int64_t now = util_now_us();
    for (int i = 0; i < 15; i++) {
        struct pki_leaf leaf;
        if (pki_leaf_issue(s->t, i % 2 ? p256 : rsa_leaf_key, NULL, subject, now, now + 86400 * SEC,
                           NULL, &leaf) != 0)
            continue;
        const unsigned char *p = leaf.der;
        X509 *x = d2i_X509(NULL, &p, (long)leaf.der_len);
        if (x && X509_verify(x, rsa_ca_key) == 1)
            s->ok++;
        X509_free(x);
        pki_leaf_clear(&leaf);
    }
    X509_NAME_free(subject);
    return NULL;
}

static void test_threads_share_a_template(void **state)
{
    (void)state;
    X509 *ca = make_ca(rsa_ca_key);
    struct pki_leaf_template *t = pki_leaf_template_create(ca, rsa_ca_key, NULL, NULL);
    assert_non_null(t);
    pthread_t threads[4];
    struct signer signers[4];
    for (int i = 0; i < 4; i++) {
        signers[i] = (struct signer){.t = t};
        assert_int_equal(pthread_create(&threads[i], NULL, sign_many, &signers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(signers[i].ok, 15);
    }
    pki_leaf_template_destroy(t);
    X509_free(ca);
}

/* A template is refused for a CA it cannot reproduce pki_cert_issue for, and a leaf for a
 * spec pki_cert_issue refuses. */
static void test_refusals(void **state)
{
    (void)state;
    X509 *ca = make_ca(rsa_ca_key);
    /* The key does not match the certificate. */
    assert_null(pki_leaf_template_create(ca, ec_ca_key, NULL, NULL));
    assert_null(pki_leaf_template_create(NULL, rsa_ca_key, NULL, NULL));
    /* A URL that is not printable ASCII. */
    assert_null(pki_leaf_template_create(ca, rsa_ca_key, "https://a b/crl", NULL));
    /* A CA without a subjectKeyIdentifier. */
    X509 *bare = X509_dup(ca);
    assert_non_null(bare);
    int loc = X509_get_ext_by_NID(bare, NID_subject_key_identifier, -1);
    assert_true(loc >= 0);
    X509_EXTENSION_free(X509_delete_ext(bare, loc));
    assert_true(X509_sign(bare, rsa_ca_key, EVP_sha256()) > 0);
    assert_null(pki_leaf_template_create(bare, rsa_ca_key, NULL, NULL));
    X509_free(bare);

    struct pki_leaf_template *t = pki_leaf_template_create(ca, rsa_ca_key, NULL, NULL);
    assert_non_null(t);
    X509_NAME *subject = make_name("refused.example.com");
    struct pki_leaf leaf;
    int64_t now = util_now_us();
    assert_int_equal(pki_leaf_issue(t, p256, NULL, subject, now, now, NULL, &leaf), -1);
    assert_null(leaf.der);
    assert_int_equal(pki_leaf_issue(t, NULL, NULL, subject, now, now + SEC, NULL, &leaf), -1);
    assert_int_equal(pki_leaf_issue(t, p256, NULL, NULL, now, now + SEC, NULL, &leaf), -1);
    /* A reference taken and dropped leaves the template usable. */
    pki_leaf_template_up_ref(t);
    pki_leaf_template_destroy(t);
    assert_int_equal(pki_leaf_issue(t, p256, NULL, subject, now, now + SEC, NULL, &leaf), 0);
    pki_leaf_clear(&leaf);
    X509_NAME_free(subject);
    pki_leaf_template_destroy(t);
    X509_free(ca);
    ERR_clear_error();
}

int main(void)
{
    rsa_ca_key = pki_key_generate(PKI_KEY_RSA_2048);
    ec_ca_key = pki_key_generate(PKI_KEY_EC_P256);
    rsa_leaf_key = pki_key_generate(PKI_KEY_RSA_2048);
    p256 = pki_key_generate(PKI_KEY_EC_P256);
    p384 = pki_key_generate(PKI_KEY_EC_P384);
    if (!rsa_ca_key || !ec_ca_key || !rsa_leaf_key || !p256 || !p384)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_pki_cert_issue),
        cmocka_unit_test(test_key_from_a_request),
        cmocka_unit_test(test_random_serials),
        cmocka_unit_test(test_threads_share_a_template),
        cmocka_unit_test(test_refusals),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(rsa_ca_key);
    EVP_PKEY_free(ec_ca_key);
    EVP_PKEY_free(rsa_leaf_key);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return failed;
}
