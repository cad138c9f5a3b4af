/* Unit tests of pki/csr: good RSA and EC requests, tampered signatures, keys the policy
 * refuses, malformed or surplus PEM, the 64 KiB bound, and subject field extraction
 * (UTF-8, BMPString, absent fields, truncation at a character boundary). Every request is
 * built here with OpenSSL's own APIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "pki/pki.h"

/* Keys made once (generation is slow under the sanitizers); filled in by main. */
static EVP_PKEY *rsa2048, *p256, *p384;

static X509_NAME *make_name(const char *cn)
{
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8,
                                                (const unsigned char *)"US", -1, -1, 0),
                     1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"Example Inc", -1, -1, 0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    return name;
}

/* A request for key under name (or a default one), signed with md (NULL for Ed25519). */
static X509_REQ *make_req(EVP_PKEY *key, const EVP_MD *md, const X509_NAME *name)
{
    X509_REQ *req = X509_REQ_new();
    assert_non_null(req);
    X509_NAME *own = name ? NULL : make_name("client.example.com");
    assert_int_equal(X509_REQ_set_subject_name(req, name ? name : own), 1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    assert_true(X509_REQ_sign(req, key, md) > 0);
    X509_NAME_free(own);
    return req;
}

/* DER of a request (OPENSSL_free). */
static unsigned char *req_der(X509_REQ *req, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

/* A PEM block of the given label around der, as a heap string (xfree). */
static char *pem_block(const char *label, const unsigned char *der, size_t der_len, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_true(PEM_write_bio(bio, label, "", der, (long)der_len) > 0);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    char *text = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    return text;
}

/* The PEM text of a fresh request for key (xfree). */
static char *csr_pem(EVP_PKEY *key, const EVP_MD *md, size_t *len)
{
    X509_REQ *req = make_req(key, md, NULL);
    size_t der_len;
    unsigned char *der = req_der(req, &der_len);
    char *pem = pem_block("CERTIFICATE REQUEST", der, der_len, len);
    OPENSSL_free(der);
    X509_REQ_free(req);
    return pem;
}

static void expect_ok(const char *pem, size_t len, EVP_PKEY *key)
{
    struct pki_csr *req = (struct pki_csr *)&req; /* non-NULL sentinel, must be replaced */
    const char *why = "untouched";
    assert_int_equal(pki_csr_parse(pem, len, &req, &why), 0);
    assert_null(why);
    assert_non_null(req);
    assert_int_equal(EVP_PKEY_eq(pki_csr_key(req), key), 1);
    struct pki_subject s;
    pki_subject_fields(pki_csr_subject(req), &s);
    assert_string_equal(s.common_name, "client.example.com");
    pki_csr_free(req);
}

static void expect_refused(const char *pem, size_t len, const char *why_want)
{
    struct pki_csr *req = (struct pki_csr *)&req;
    const char *why = NULL;
    assert_int_equal(pki_csr_parse(pem, len, &req, &why), -1);
    assert_null(req);
    assert_non_null(why);
    assert_string_equal(why, why_want);
    /* why is optional */
    assert_int_equal(pki_csr_parse(pem, len, &req, NULL), -1);
    assert_null(req);
}

static void test_good_requests(void **state)
{
    struct {
        EVP_PKEY *key;
        const EVP_MD *md;
    } cases[] = {
        {rsa2048, EVP_sha256()}, {p256, EVP_sha256()}, {p384, EVP_sha384()}, {p256, EVP_sha384()}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *pem = csr_pem(cases[i].key, cases[i].md, &len);
        expect_ok(pem, len, cases[i].key);
        xfree(pem);
    }
}

/* The old "NEW CERTIFICATE REQUEST" label, CRLF line ends and surrounding blank space. */
static void test_accepted_variants(void **state)
{
    X509_REQ *req = make_req(p256, EVP_sha256(), NULL);
    size_t der_len, len;
    unsigned char *der = req_der(req, &der_len);
    char *pem = pem_block("NEW CERTIFICATE REQUEST", der, der_len, &len);
    expect_ok(pem, len, p256);
    xfree(pem);

    pem = pem_block("CERTIFICATE REQUEST", der, der_len, &len);
    char *crlf = xmalloc(2 * len + 16);
    size_t n = 0;
    memcpy(crlf, " \t\r\n\n", 5);
    n = 5;
    for (size_t i = 0; i < len; i++) {
        if (pem[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = pem[i];
    }
    memcpy(crlf + n, "\r\n \n\t", 5);
    n += 5;
    expect_ok(crlf, n, p256);
    /* No trailing newline at all is fine too. */
    expect_ok(pem, len - 1, p256);
    xfree(crlf);
    xfree(pem);
    OPENSSL_free(der);
    X509_REQ_free(req);
}

/* Flipping one byte of the signature (the last byte of the DER) breaks verification. */
static void test_tampered_signature(void **state)
{
    EVP_PKEY *keys[] = {rsa2048, p256, p384};
    for (size_t i = 0; i < 3; i++) {
        X509_REQ *req = make_req(keys[i], pki_key_sign_digest(keys[i]), NULL);
        size_t der_len, len;
        unsigned char *der = req_der(req, &der_len);
        der[der_len - 1] ^= 0x01;
        char *pem = pem_block("CERTIFICATE REQUEST", der, der_len, &len);
        expect_refused(pem, len, "csr: signature does not verify");
        xfree(pem);
        OPENSSL_free(der);
        X509_REQ_free(req);
    }
}

/* Changing a byte of the signed subject (the 'c' of "client") breaks it as well. */
static void test_tampered_subject(void **state)
{
    X509_REQ *req = make_req(rsa2048, EVP_sha256(), NULL);
    size_t der_len, len;
    unsigned char *der = req_der(req, &der_len);
    unsigned char *at = NULL;
    for (size_t i = 0; i + 18 <= der_len && !at; i++) {
        if (memcmp(der + i, "client.example.com", 18) == 0)
            at = der + i;
    }
    assert_non_null(at);
    *at = 'C';
    char *pem = pem_block("CERTIFICATE REQUEST", der, der_len, &len);
    expect_refused(pem, len, "csr: signature does not verify");
    xfree(pem);
    OPENSSL_free(der);
    X509_REQ_free(req);
}

static void test_key_policy(void **state)
{
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(rsa1024);
    assert_non_null(p521);
    assert_non_null(ed);
    struct {
        EVP_PKEY *key;
        const EVP_MD *md;
        const char *why;
    } cases[] = {
        {rsa1024, EVP_sha256(), "csr: RSA keys must be at least 2048 bits"},
        {p521, EVP_sha512(), "csr: EC keys must use P-256 or P-384"},
        {ed, NULL, "csr: unsupported key type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *pem = csr_pem(cases[i].key, cases[i].md, &len);
        expect_refused(pem, len, cases[i].why);
        xfree(pem);
    }
    EVP_PKEY_free(ed);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(rsa1024);
}

/* A certificate's PEM, made here with OpenSSL (xfree). */
static char *cert_pem(size_t *len)
{
    X509 *cert = X509_new();
    assert_non_null(cert);
    X509_NAME *name = make_name("not a request");
    assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 7), 1);
    assert_int_equal(X509_set_subject_name(cert, name), 1);
    assert_int_equal(X509_set_issuer_name(cert, name), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
    assert_int_equal(X509_set_pubkey(cert, p256), 1);
    assert_true(X509_sign(cert, p256, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *text = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    X509_NAME_free(name);
    X509_free(cert);
    return text;
}

static void test_not_a_request(void **state)
{
    const char *why_pem = "csr: not a PEM certificate request";
    expect_refused(NULL, 0, "csr: empty");
    expect_refused("", 0, "csr: empty");
    expect_refused(" \r\n\t\n", 5, "csr: empty");
    expect_refused("hello world", 11, why_pem);
    expect_refused("-----BEGIN CERTIFICATE REQUEST-----\n", 36, why_pem);
    const char *bad64 = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB*&^%$\n"
                        "-----END CERTIFICATE REQUEST-----\n";
    expect_refused(bad64, strlen(bad64), why_pem);
    /* Valid base64, but not DER of a request. */
    const char *notder = "-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8gd29ybGQ=\n"
                         "-----END CERTIFICATE REQUEST-----\n";
    expect_refused(notder, strlen(notder), why_pem);

    size_t len;
    char *pem = cert_pem(&len);
    expect_refused(pem, len, why_pem);
    xfree(pem);

    /* Explanatory text before the block is not accepted. */
    char *csr = csr_pem(p256, EVP_sha256(), &len);
    char *prefixed = xmalloc(len + 16);
    memcpy(prefixed, "Certificate:\n", 13);
    memcpy(prefixed + 13, csr, len);
    expect_refused(prefixed, len + 13, why_pem);
    xfree(prefixed);
    xfree(csr);

    /* A request followed by extra bytes inside the block. */
    X509_REQ *req = make_req(p256, EVP_sha256(), NULL);
    size_t der_len;
    unsigned char *der = req_der(req, &der_len);
    unsigned char *longer = xmalloc(der_len + 1);
    memcpy(longer, der, der_len);
    longer[der_len] = 0;
    pem = pem_block("CERTIFICATE REQUEST", longer, der_len + 1, &len);
    expect_refused(pem, len, why_pem);
    xfree(pem);
    xfree(longer);

    /* Encapsulated headers (an "encrypted" request) are refused. */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio(bio, "CERTIFICATE REQUEST", "Proc-Type: 4,ENCRYPTED\n", der,
                              (long)der_len) > 0);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    expect_refused(data, (size_t)n, why_pem);
    BIO_free(bio);
    OPENSSL_free(der);
    X509_REQ_free(req);
}

static void test_surplus_data(void **state)
{
    size_t a_len, b_len;
    char *a = csr_pem(p256, EVP_sha256(), &a_len);
    char *b = csr_pem(rsa2048, EVP_sha256(), &b_len);
    char *two = xmalloc(a_len + b_len + 1);
    memcpy(two, a, a_len);
    memcpy(two + a_len, "\n", 1);
    memcpy(two + a_len + 1, b, b_len);
    expect_refused(two, a_len + b_len + 1, "csr: expected exactly one certificate request");

    memcpy(two + a_len, "trailing garbage", 16);
    expect_refused(two, a_len + 16, "csr: unexpected data after the certificate request");
    two[a_len] = '\0'; /* a NUL is not blank space either */
    expect_refused(two, a_len + 1, "csr: unexpected data after the certificate request");
    xfree(two);
    xfree(b);
    xfree(a);
}

/* Blank padding up to the bound is fine; one byte more and the size alone refuses it. */
static void test_size_bound(void **state)
{
    size_t len;
    char *pem = csr_pem(p256, EVP_sha256(), &len);
    char *big = xmalloc(PKI_PEM_MAX + 1);
    memcpy(big, pem, len);
    memset(big + len, ' ', PKI_PEM_MAX + 1 - len);
    expect_ok(big, PKI_PEM_MAX, p256);
    expect_refused(big, PKI_PEM_MAX + 1, "csr: larger than 64 KiB");
    xfree(big);
    xfree(pem);
}

static void add_entry(X509_NAME *name, int nid, int type, const void *bytes, int len)
{
    assert_int_equal(
        X509_NAME_add_entry_by_NID(name, nid, type, (const unsigned char *)bytes, len, -1, 0), 1);
}

static void test_subject_fields(void **state)
{
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, NID_countryName, MBSTRING_UTF8, "CH", -1);
    add_entry(name, NID_stateOrProvinceName, MBSTRING_UTF8, "Zürich", -1);
    add_entry(name, NID_localityName, MBSTRING_UTF8, "東京", -1);
    /* "Ünïcode" as a BMPString (UTF-16BE): converted to UTF-8. */
    static const unsigned char bmp[] = {0x00, 0xdc, 0x00, 'n',  0x00, 0xef, 0x00,
                                        'c',  0x00, 'o',  0x00, 'd',  0x00, 'e'};
    add_entry(name, NID_organizationName, V_ASN1_BMPSTRING, bmp, sizeof bmp);
    add_entry(name, NID_commonName, MBSTRING_UTF8, "first.example.com", -1);
    add_entry(name, NID_commonName, MBSTRING_UTF8, "second.example.com", -1);
    struct pki_subject s;
    memset(&s, 'x', sizeof s);
    pki_subject_fields(name, &s);
    assert_string_equal(s.common_name, "first.example.com");
    assert_string_equal(s.country, "CH");
    assert_string_equal(s.state, "Zürich");
    assert_string_equal(s.locality, "東京");
    assert_string_equal(s.organization, "Ünïcode");
    assert_string_equal(s.organizational_unit, ""); /* absent */
    X509_NAME_free(name);

    memset(&s, 'x', sizeof s);
    pki_subject_fields(NULL, &s);
    assert_string_equal(s.common_name, "");
    assert_string_equal(s.organizational_unit, "");

    name = X509_NAME_new();
    memset(&s, 'x', sizeof s);
    pki_subject_fields(name, &s); /* an empty name */
    assert_string_equal(s.common_name, "");
    assert_string_equal(s.country, "");
    X509_NAME_free(name);
}

/* Values longer than 255 bytes are cut at a character boundary; invalid UTF-8 gives "";
 * an embedded NUL ends the value. */
static void test_subject_bounds(void **state)
{
    char long_value[401];
    for (size_t i = 0; i < 200; i++)
        memcpy(long_value + 2 * i, "é", 2);
    long_value[400] = '\0';
    char ascii[300];
    memset(ascii, 'a', sizeof ascii);
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    /* Raw string types bypass the upper bounds MBSTRING_* conversions would enforce. */
    add_entry(name, NID_commonName, V_ASN1_UTF8STRING, long_value, 400);
    add_entry(name, NID_organizationalUnitName, V_ASN1_UTF8STRING, ascii, sizeof ascii);
    add_entry(name, NID_organizationName, V_ASN1_UTF8STRING, "bad \xff\xfe utf8", 11);
    add_entry(name, NID_localityName, V_ASN1_UTF8STRING, "ab\0cd", 5);
    struct pki_subject s;
    pki_subject_fields(name, &s);
    /* 255 bytes would split the 128th "é": 127 whole characters remain. */
    assert_int_equal(strlen(s.common_name), 254);
    assert_memory_equal(s.common_name, long_value, 254);
    assert_int_equal(strlen(s.organizational_unit), 255);
    assert_string_equal(s.organization, "");
    assert_string_equal(s.locality, "ab");
    X509_NAME_free(name);
}

/* The fields of a parsed request, end to end. */
static void test_subject_from_request(void **state)
{
    X509_NAME *name = X509_NAME_new();
    add_entry(name, NID_commonName, MBSTRING_UTF8, "Bücher GmbH client", -1);
    add_entry(name, NID_organizationalUnitName, MBSTRING_UTF8, "Ops", -1);
    X509_REQ *req = make_req(p384, EVP_sha384(), name);
    size_t der_len, len;
    unsigned char *der = req_der(req, &der_len);
    char *pem = pem_block("CERTIFICATE REQUEST", der, der_len, &len);
    struct pki_csr *parsed = NULL;
    const char *why = NULL;
    assert_int_equal(pki_csr_parse(pem, len, &parsed, &why), 0);
    struct pki_subject s;
    pki_subject_fields(pki_csr_subject(parsed), &s);
    assert_string_equal(s.common_name, "Bücher GmbH client");
    assert_string_equal(s.organizational_unit, "Ops");
    assert_string_equal(s.country, "");
    pki_csr_free(parsed);
    xfree(pem);
    OPENSSL_free(der);
    X509_REQ_free(req);
    X509_NAME_free(name);
}

/* OpenSSL's own verdict on a DER request, as pki_csr_parse reached it before it had a
 * reading of its own: d2i_X509_REQ, the key policy, the self-signature. NULL = accepted. */
static const char *reference_verdict(const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der_len);
    const char *verdict = "csr: not a PEM certificate request";
    const char *key_why = NULL;
    if (req && p == der + der_len) {
        EVP_PKEY *key = X509_REQ_get0_pubkey(req);
        if (!key || !pki_key_acceptable(key, &key_why))
            verdict = key_why ? key_why : "unsupported key type";
        else
            verdict = X509_REQ_verify(req, key) == 1 ? NULL : "csr: signature does not verify";
    }
    X509_REQ_free(req);
    ERR_clear_error();
    return verdict;
}

/* pki_csr_parse agrees with OpenSSL's reading on der: same verdict, and when accepted the
 * same key, subject and SubjectPublicKeyInfo bytes. */
static void expect_same_as_openssl(const unsigned char *der, size_t der_len)
{
    size_t len;
    char *pem = pem_block("CERTIFICATE REQUEST", der, der_len, &len);
    const char *want = reference_verdict(der, der_len);
    struct pki_csr *csr = NULL;
    const char *why = NULL;
    int rc = pki_csr_parse(pem, len, &csr, &why);
    if (want) {
        assert_int_equal(rc, -1);
        /* pki_csr_parse prefixes the key policy's reasons with "csr: ". */
        assert_non_null(why);
        assert_non_null(strstr(why, want));
    } else {
        assert_int_equal(rc, 0);
        const unsigned char *p = der;
        X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)der_len);
        assert_non_null(req);
        assert_int_equal(EVP_PKEY_eq(pki_csr_key(csr), X509_REQ_get0_pubkey(req)), 1);
        assert_int_equal(X509_NAME_cmp(pki_csr_subject(csr), X509_REQ_get_subject_name(req)), 0);
        unsigned char *mine = NULL, *theirs = NULL;
        int n1 = i2d_X509_PUBKEY(pki_csr_spki(csr), &mine);
        int n2 = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &theirs);
        assert_true(n1 > 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(mine, theirs, (size_t)n1);
        OPENSSL_free(mine);
        OPENSSL_free(theirs);
        X509_REQ_free(req);
    }
    pki_csr_free(csr);
    xfree(pem);
}

/* The requests read without OpenSSL's key decoder (RSA, named P-256/P-384 points, also
 * compressed) and those left to d2i_X509_REQ (other curves, explicit parameters, other
 * versions, Ed25519, a point off the curve) all get OpenSSL's verdict, key and bytes. */
static void test_same_verdict_as_openssl(void **state)
{
    EVP_PKEY *compressed = EVP_PKEY_dup(p256);
    assert_non_null(compressed);
    assert_int_equal(EVP_PKEY_set_utf8_string_param(
                         compressed, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
                     1);
    EVP_PKEY *explicit = EVP_PKEY_dup(p384);
    assert_non_null(explicit);
    assert_int_equal(
        EVP_PKEY_set_utf8_string_param(explicit, OSSL_PKEY_PARAM_EC_ENCODING, "explicit"), 1);
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(p521);
    assert_non_null(rsa1024);
    assert_non_null(ed);
    struct {
        EVP_PKEY *key;
        const EVP_MD *md;
        long version;
    } cases[] = {
        {rsa2048, EVP_sha256(), 0},  {p256, EVP_sha256(), 0},
        {p384, EVP_sha384(), 0},     {compressed, EVP_sha256(), 0},
        {explicit, EVP_sha384(), 0}, {p521, EVP_sha512(), 0},
        {rsa1024, EVP_sha256(), 0},  {ed, NULL, 0},
        {p256, EVP_sha256(), 2},     {rsa2048, EVP_sha256(), 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509_REQ *req = make_req(cases[i].key, cases[i].md, NULL);
        if (cases[i].version) {
            assert_int_equal(X509_REQ_set_version(req, cases[i].version), 1);
            assert_true(X509_REQ_sign(req, cases[i].key, cases[i].md) > 0);
        }
        size_t der_len;
        unsigned char *der = req_der(req, &der_len);
        expect_same_as_openssl(der, der_len);
        /* The same request with its signature broken. */
        der[der_len - 1] ^= 0x01;
        expect_same_as_openssl(der, der_len);
        /* And with the last byte of its public key changed (for EC: a point off the curve). */
        X509_PUBKEY *spki = X509_REQ_get_X509_PUBKEY(req);
        const unsigned char *bits = NULL;
        int bits_len = 0;
        assert_int_equal(X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, spki), 1);
        der[der_len - 1] ^= 0x01;
        for (size_t k = 0; k + (size_t)bits_len <= der_len; k++) {
            if (memcmp(der + k, bits, (size_t)bits_len) == 0) {
                der[k + (size_t)bits_len - 1] ^= 0x04;
                break;
            }
        }
        expect_same_as_openssl(der, der_len);
        OPENSSL_free(der);
        X509_REQ_free(req);
    }
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(explicit);
    EVP_PKEY_free(compressed);
}

/* EC keys are made from curve parameters shared by the whole process: threads reading P-256
 * and P-384 requests at once each get their own request's key (no thread sees another's
 * point, none fails). Counted in the thread, asserted here. */
#define PARSE_THREADS 4
#define PARSE_ROUNDS 50

struct parse_job {
    const char *pem[2];
    size_t len[2];
    EVP_PKEY *key[2];
    int good;
};

static void *parse_main(void *arg)
{
    struct parse_job *job = arg;
    for (int i = 0; i < PARSE_ROUNDS; i++) {
        int k = i % 2;
        struct pki_csr *csr = NULL;
        const char *why = NULL;
        if (pki_csr_parse(job->pem[k], job->len[k], &csr, &why) == 0 &&
            EVP_PKEY_eq(pki_csr_key(csr), job->key[k]) == 1)
            job->good++;
        pki_csr_free(csr);
    }
    return NULL;
}

static void test_ec_keys_from_threads(void **state)
{
    (void)state;
    EVP_PKEY *keys[PARSE_THREADS][2];
    char *pems[PARSE_THREADS][2];
    struct parse_job jobs[PARSE_THREADS];
    pthread_t threads[PARSE_THREADS];
    for (int t = 0; t < PARSE_THREADS; t++) {
        keys[t][0] = pki_key_generate(PKI_KEY_EC_P256);
        keys[t][1] = pki_key_generate(PKI_KEY_EC_P384);
        jobs[t] = (struct parse_job){.good = 0};
        for (int k = 0; k < 2; k++) {
            assert_non_null(keys[t][k]);
            pems[t][k] = csr_pem(keys[t][k], k ? EVP_sha384() : EVP_sha256(), &jobs[t].len[k]);
            jobs[t].pem[k] = pems[t][k];
            jobs[t].key[k] = keys[t][k];
        }
    }
    for (int t = 0; t < PARSE_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, parse_main, &jobs[t]), 0);
    for (int t = 0; t < PARSE_THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(jobs[t].good, PARSE_ROUNDS);
        for (int k = 0; k < 2; k++) {
            xfree(pems[t][k]);
            EVP_PKEY_free(keys[t][k]);
        }
    }
}

int main(void)
{
    rsa2048 = pki_key_generate(PKI_KEY_RSA_2048);
    p256 = pki_key_generate(PKI_KEY_EC_P256);
    p384 = pki_key_generate(PKI_KEY_EC_P384);
    if (!rsa2048 || !p256 || !p384)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_requests),        cmocka_unit_test(test_accepted_variants),
        cmocka_unit_test(test_tampered_signature),   cmocka_unit_test(test_tampered_subject),
        cmocka_unit_test(test_key_policy),           cmocka_unit_test(test_not_a_request),
        cmocka_unit_test(test_surplus_data),         cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_subject_fields),       cmocka_unit_test(test_subject_bounds),
        cmocka_unit_test(test_subject_from_request), cmocka_unit_test(test_same_verdict_as_openssl),
        cmocka_unit_test(test_ec_keys_from_threads),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return failed;
}
