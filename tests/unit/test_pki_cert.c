/* Unit tests of pki/cert: self-signed CAs and the client and server leaves they issue,
 * checked with OpenSSL itself (signature, X509_STORE chain verification with purposes and
 * X509_STRICT, each extension), serials, exact validity windows across the UTCTime /
 * GeneralizedTime boundary, fingerprints, signature names, PEM in and out, and the specs
 * pki_cert_issue refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tu_x509.h"

#include <ctype.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/util.h"
#include "pki/pki.h"

#include <openssl/err.h>

#define SEC 1000000LL
#define T_2049_END 2524607999LL /* 2049-12-31T23:59:59Z, the last UTCTime second */

/* Keys made once (generation is slow under the sanitizers); filled in by main. */
static EVP_PKEY *rsa_ca_key, *rsa_leaf_key, *p256, *p384;

static X509_NAME *make_name(const char *cn)
{
    return tu_x509_name("tlsward tests", cn);
}

/* A spec valid from a minute ago for a day. */
static struct pki_cert_spec spec_now(enum pki_profile profile, EVP_PKEY *subject_key,
                                     const X509_NAME *subject, X509 *issuer, EVP_PKEY *issuer_key)
{
    int64_t now = util_now_us();
    return (struct pki_cert_spec){
        .profile = profile,
        .subject_key = subject_key,
        .subject = subject,
        .issuer = issuer,
        .issuer_key = issuer_key,
        .not_before_us = now - 60 * SEC,
        .not_after_us = now + 86400 * SEC,
        .path_len = -1,
    };
}

static X509 *make_ca(EVP_PKEY *key, const char *cn, int path_len)
{
    X509_NAME *name = make_name(cn);
    struct pki_cert_spec spec = spec_now(PKI_PROFILE_CA, key, name, NULL, key);
    spec.path_len = path_len;
    X509 *ca = pki_cert_issue(&spec);
    assert_non_null(ca);
    X509_NAME_free(name);
    return ca;
}

static X509 *make_leaf(enum pki_profile profile, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
                       const char *const *dns, size_t dns_count)
{
    X509_NAME *name = make_name("leaf.example.com");
    struct pki_cert_spec spec = spec_now(profile, key, name, ca, ca_key);
    spec.dns_names = dns;
    spec.dns_count = dns_count;
    X509 *leaf = pki_cert_issue(&spec);
    assert_non_null(leaf);
    X509_NAME_free(name);
    return leaf;
}

/* Chain verification of leaf against the trusted ca, for a purpose, under X509_STRICT, now.
 * Returns the verification error (X509_V_OK on success). */
static int store_verify(X509 *ca, X509 *leaf, int purpose)
{
    return tu_x509_verify(ca, leaf, purpose, 0);
}

static X509_EXTENSION *get_ext(X509 *cert, int nid)
{
    int loc = X509_get_ext_by_NID(cert, nid, -1);
    if (loc < 0)
        return NULL;
    assert_int_equal(X509_get_ext_by_NID(cert, nid, loc), -1); /* exactly one */
    return X509_get_ext(cert, loc);
}

/* Asserts basicConstraints: critical, the CA flag, and the pathlen (-1 = absent). */
static void assert_basic_constraints(X509 *cert, bool ca, long path_len)
{
    X509_EXTENSION *ext = get_ext(cert, NID_basic_constraints);
    assert_non_null(ext);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_int_equal(bc->ca != 0, ca);
    if (path_len < 0)
        assert_null(bc->pathlen);
    else
        assert_int_equal(ASN1_INTEGER_get(bc->pathlen), path_len);
    BASIC_CONSTRAINTS_free(bc);
}

static void assert_key_usage(X509 *cert, uint32_t want)
{
    X509_EXTENSION *ext = get_ext(cert, NID_key_usage);
    assert_non_null(ext);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
    assert_int_equal(X509_get_key_usage(cert), want);
}

/* Asserts the EKU holds exactly the one purpose (NID_undef: no EKU at all). */
static void assert_eku(X509 *cert, int nid)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    if (nid == NID_undef) {
        assert_null(eku);
        return;
    }
    assert_non_null(eku);
    assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
    assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), nid);
    EXTENDED_KEY_USAGE_free(eku);
}

/* Asserts SKI present, printed by pki_cert_ski_hex, and the AKI is exactly keyid = the
 * issuer's SKI. */
static void assert_key_ids(X509 *cert, X509 *issuer)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    assert_non_null(ski);
    assert_int_equal(ASN1_STRING_length(ski), 20); /* SHA-1 of the public key */
    char want[41], got[41];
    util_hex(ASN1_STRING_get0_data(ski), 20, want);
    pki_cert_ski_hex(cert, got, sizeof got);
    assert_string_equal(got, want);

    AUTHORITY_KEYID *akid = X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL);
    assert_non_null(akid);
    assert_non_null(akid->keyid);
    assert_null(akid->issuer);
    assert_null(akid->serial);
    assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(issuer)), 0);
    AUTHORITY_KEYID_free(akid);
}

static void test_ca_self_signed(void **state)
{
    struct {
        EVP_PKEY *key;
        int path_len;
    } cases[] = {{rsa_ca_key, 0}, {p256, -1}, {p384, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509 *ca = make_ca(cases[i].key, "tlsward Managed CA for account", cases[i].path_len);
        assert_int_equal(X509_get_version(ca), X509_VERSION_3);
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(ca), X509_get_subject_name(ca)), 0);
        assert_int_equal(X509_verify(ca, cases[i].key), 1);
        assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
        assert_true(X509_check_ca(ca) >= 1);
        assert_basic_constraints(ca, true, cases[i].path_len);
        assert_key_usage(ca, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
        assert_eku(ca, NID_undef);
        assert_key_ids(ca, ca); /* a self-signed AKI names its own SKI */
        assert_null(get_ext(ca, NID_subject_alt_name));
        assert_int_equal(store_verify(ca, ca, X509_PURPOSE_ANY), X509_V_OK);
        /* keyCertSign + cRLSign only: a CA is not usable as a client certificate itself. */
        assert_int_equal(store_verify(ca, ca, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
        X509_free(ca);
    }
}

static void test_client_leaf(void **state)
{
    X509 *ca = make_ca(rsa_ca_key, "Client CA", 0);
    struct {
        EVP_PKEY *key;
        uint32_t usage;
    } cases[] = {{p256, KU_DIGITAL_SIGNATURE},
                 {p384, KU_DIGITAL_SIGNATURE},
                 {rsa_leaf_key, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509 *leaf = make_leaf(PKI_PROFILE_CLIENT, cases[i].key, ca, rsa_ca_key, NULL, 0);
        assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
        assert_int_equal(X509_verify(leaf, rsa_ca_key), 1);
        assert_int_not_equal(X509_verify(leaf, p256), 1); /* another key: 0 or -1 */
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)), 0);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), cases[i].key), 1);
        assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
        assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_SSL_SERVER),
                         X509_V_ERR_INVALID_PURPOSE);
        assert_basic_constraints(leaf, false, -1);
        assert_key_usage(leaf, cases[i].usage);
        assert_eku(leaf, NID_client_auth);
        assert_key_ids(leaf, ca);
        assert_null(get_ext(leaf, NID_subject_alt_name));
        assert_int_equal(X509_get_ext_count(leaf), 5);
        X509_free(leaf);
    }
    /* A leaf does not verify against an unrelated CA with the same name. */
    X509 *other = make_ca(p256, "Client CA", 0);
    X509 *leaf = make_leaf(PKI_PROFILE_CLIENT, p384, ca, rsa_ca_key, NULL, 0);
    assert_int_not_equal(store_verify(other, leaf, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    X509_free(leaf);
    X509_free(other);
    X509_free(ca);
}

/* The URI of a leaf's cRLDistributionPoints (first full name) or caIssuers; "" if none. */
static void crl_uri(X509 *cert, char *out, size_t size)
{
    out[0] = '\0';
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    if (dps && sk_DIST_POINT_num(dps) == 1) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
        GENERAL_NAME *g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
        assert_int_equal(g->type, GEN_URI);
        snprintf(out, size, "%s",
                 (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
    }
    CRL_DIST_POINTS_free(dps);
}

static void ca_issuers_uri(X509 *cert, char *out, size_t size)
{
    out[0] = '\0';
    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
    if (aia && sk_ACCESS_DESCRIPTION_num(aia) == 1) {
        ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
        assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_ca_issuers);
        assert_int_equal(ad->location->type, GEN_URI);
        snprintf(out, size, "%s",
                 (const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier));
    }
    AUTHORITY_INFO_ACCESS_free(aia);
}

/* With crl_url / ca_issuers_url a leaf names where its CRL and issuer are published (as
 * URIs, the characters kept literally); without them it carries neither extension; a URL
 * that is not printable ASCII is refused rather than encoded. */
static void test_leaf_publication_urls(void **state)
{
    (void)state;
    X509 *ca = make_ca(rsa_ca_key, "Client CA", 0);
    X509_NAME *name = make_name("leaf.example.com");
    const char *dns[] = {"leaf.example.com"};
    char got[256];
    for (int profile = PKI_PROFILE_CLIENT; profile <= PKI_PROFILE_SERVER; profile++) {
        struct pki_cert_spec spec = spec_now(profile, p256, name, ca, rsa_ca_key);
        spec.dns_names = dns;
        spec.dns_count = 1;
        spec.crl_url = "http://pki.test/pki/accounts/a,b=c/client-ca.crl";
        spec.ca_issuers_url = "https://pki.test:8443/x/client-ca.pem";
        X509 *leaf = pki_cert_issue(&spec);
        assert_non_null(leaf);
        crl_uri(leaf, got, sizeof got);
        assert_string_equal(got, "http://pki.test/pki/accounts/a,b=c/client-ca.crl");
        ca_issuers_uri(leaf, got, sizeof got);
        assert_string_equal(got, "https://pki.test:8443/x/client-ca.pem");
        assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_ANY), X509_V_OK);
        X509_free(leaf);
        spec.crl_url = NULL;
        leaf = pki_cert_issue(&spec);
        crl_uri(leaf, got, sizeof got);
        assert_string_equal(got, "");
        assert_null(get_ext(leaf, NID_crl_distribution_points));
        ca_issuers_uri(leaf, got, sizeof got);
        assert_string_equal(got, "https://pki.test:8443/x/client-ca.pem");
        X509_free(leaf);
        spec.ca_issuers_url = "http://pki.test/a b";
        assert_null(pki_cert_issue(&spec));
    }
    X509_NAME_free(name);
    X509_free(ca);
}

/* A leaf whose public key is copied from a CSR's encoding (subject_spki) carries exactly
 * that key, for RSA and EC alike, and verifies like one built from the EVP_PKEY once
 * encoded and read back. */
static void test_leaf_from_csr_spki(void **state)
{
    X509 *ca = make_ca(rsa_ca_key, "Client CA", 0);
    EVP_PKEY *keys[] = {p256, p384, rsa_leaf_key};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        X509_REQ *csr = X509_REQ_new();
        assert_non_null(csr);
        assert_int_equal(X509_REQ_set_pubkey(csr, keys[i]), 1);
        X509_NAME *name = make_name("from-csr.example.com");
        struct pki_cert_spec spec = spec_now(PKI_PROFILE_CLIENT, keys[i], name, ca, rsa_ca_key);
        spec.subject_spki = X509_REQ_get_X509_PUBKEY(csr);
        X509 *leaf = pki_cert_issue(&spec);
        assert_non_null(leaf);
        /* The contract: the key is there in encoded form only (see pki.h). */
        assert_null(X509_get0_pubkey(leaf));
        ERR_clear_error();
        assert_int_equal(X509_verify(leaf, rsa_ca_key), 1);
        assert_key_ids(leaf, ca);
        /* Encoded and read back, it is a normal certificate for that key. */
        unsigned char *der = NULL;
        int len = i2d_X509(leaf, &der);
        assert_true(len > 0);
        const unsigned char *p = der;
        X509 *back = d2i_X509(NULL, &p, len);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(back), keys[i]), 1);
        assert_int_equal(store_verify(ca, back, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
        X509_free(back);
        OPENSSL_free(der);
        X509_free(leaf);
        X509_NAME_free(name);
        X509_REQ_free(csr);
    }
    X509_free(ca);
}

/* The DER of ext equals what OpenSSL's configuration code makes of `value` for that nid. */
static void assert_ext_as_configured(X509 *leaf, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, leaf, NULL, NULL, 0);
    X509_EXTENSION *want = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(want);
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_X509_EXTENSION(want, &a), blen = i2d_X509_EXTENSION(get_ext(leaf, nid), &b);
    assert_true(alen > 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, (size_t)alen);
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_EXTENSION_free(want);
}

/* Leaves' constant extensions and key identifiers are made without OpenSSL's configuration
 * code (once per process, or directly): byte for byte what that code makes, for each key
 * type and both leaf profiles, signed by an RSA and an EC CA, in the same order. */
static void test_leaf_extensions_as_configured(void **state)
{
    (void)state;
    EVP_PKEY *ca_keys[] = {rsa_ca_key, p384};
    EVP_PKEY *keys[] = {p256, p384, rsa_leaf_key};
    const char *dns[] = {"leaf.example.com"};
    static const int order[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                NID_subject_key_identifier, NID_authority_key_identifier};
    for (size_t c = 0; c < 2; c++) {
        X509 *ca = make_ca(ca_keys[c], "Client CA", 0);
        for (size_t i = 0; i < 3; i++) {
            for (int profile = PKI_PROFILE_CLIENT; profile <= PKI_PROFILE_SERVER; profile++) {
                bool rsa = keys[i] == rsa_leaf_key;
                X509 *leaf = make_leaf(profile, keys[i], ca, ca_keys[c], dns, 1);
                for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
                    assert_int_equal(
                        OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(leaf, (int)k))),
                        order[k]);
                assert_ext_as_configured(leaf, ca, NID_basic_constraints, "critical,CA:FALSE");
                assert_ext_as_configured(leaf, ca, NID_key_usage,
                                         rsa ? "critical,digitalSignature,keyEncipherment"
                                             : "critical,digitalSignature");
                assert_ext_as_configured(leaf, ca, NID_ext_key_usage,
                                         profile == PKI_PROFILE_CLIENT ? "clientAuth"
                                                                       : "serverAuth");
                assert_ext_as_configured(leaf, ca, NID_subject_key_identifier, "hash");
                assert_ext_as_configured(leaf, ca, NID_authority_key_identifier, "keyid:always");
                assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_ANY), X509_V_OK);
                X509_free(leaf);
            }
        }
        X509_free(ca);
    }
}

static void test_server_leaf(void **state)
{
    X509 *ca = make_ca(p384, "Server CA", -1);
    const char *dns[] = {"www.example.com", "example.com", "*.example.com"};
    X509 *leaf = make_leaf(PKI_PROFILE_SERVER, rsa_leaf_key, ca, p384, dns, 3);
    assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
    assert_basic_constraints(leaf, false, -1);
    assert_key_usage(leaf, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    assert_eku(leaf, NID_server_auth);
    assert_key_ids(leaf, ca);

    X509_EXTENSION *ext = get_ext(leaf, NID_subject_alt_name);
    assert_non_null(ext);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 0); /* the subject is not empty */
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    assert_int_equal(sk_GENERAL_NAME_num(names), 3);
    for (int i = 0; i < 3; i++) {
        int type;
        ASN1_IA5STRING *value = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, i), &type);
        assert_int_equal(type, GEN_DNS);
        assert_int_equal(ASN1_STRING_length(value), strlen(dns[i]));
        assert_memory_equal(ASN1_STRING_get0_data(value), dns[i], strlen(dns[i]));
    }
    GENERAL_NAMES_free(names);
    assert_int_equal(X509_check_host(leaf, "www.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "api.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(leaf, "example.org", 0, 0, NULL), 0);
    X509_free(leaf);

    /* An empty subject makes the subjectAltName critical. */
    X509_NAME *empty = X509_NAME_new();
    struct pki_cert_spec spec = spec_now(PKI_PROFILE_SERVER, p256, empty, ca, p384);
    spec.dns_names = dns;
    spec.dns_count = 1;
    leaf = pki_cert_issue(&spec);
    assert_non_null(leaf);
    ext = get_ext(leaf, NID_subject_alt_name);
    assert_non_null(ext);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
    assert_key_usage(leaf, KU_DIGITAL_SIGNATURE);
    assert_int_equal(store_verify(ca, leaf, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    X509_free(leaf);
    X509_NAME_free(empty);
    X509_free(ca);
}

/* The serial as a BIGNUM (BN_free). */
static BIGNUM *serial_bn(X509 *cert)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    assert_non_null(bn);
    return bn;
}

static void test_serials(void **state)
{
    X509 *ca = make_ca(p256, "Serial CA", -1);
    enum { N = 32 };
    X509 *certs[N];
    for (size_t i = 0; i < N; i++) {
        certs[i] = make_leaf(PKI_PROFILE_CLIENT, p384, ca, p256, NULL, 0);
        const ASN1_INTEGER *serial = X509_get0_serialNumber(certs[i]);
        assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER); /* positive */
        BIGNUM *bn = serial_bn(certs[i]);
        assert_false(BN_is_zero(bn));
        assert_false(BN_is_negative(bn));
        assert_true(BN_num_bytes(bn) <= 20);
        assert_true(BN_num_bits(bn) <= 159); /* top bit cleared */
        /* The DER encoding, sign octet included, fits 20 octets. */
        unsigned char *der = NULL;
        int der_len = i2d_ASN1_INTEGER(serial, &der);
        assert_true(der_len > 2 && der_len <= 22);
        OPENSSL_free(der);

        char *want = BN_bn2hex(bn);
        for (char *p = want; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        char got[41];
        pki_cert_serial_hex(certs[i], got, sizeof got);
        assert_string_equal(got, want);
        assert_true(strlen(got) <= 40);
        assert_true(strncmp(got, "00", 2) != 0);
        OPENSSL_free(want);
        BN_free(bn);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(certs[j])), 0);
    }
    for (size_t i = 0; i < N; i++)
        X509_free(certs[i]);
    X509_free(ca);
}

/* pki_cert_serial_hex and pki_cert_ski_hex on hand-set values and small buffers. */
static void test_hex_facts(void **state)
{
    X509 *cert = X509_new();
    assert_non_null(cert);
    char out[41];
    struct {
        long value;
        const char *hex;
    } cases[] = {{0, "0"}, {1, "01"}, {0xabc, "0abc"}, {0x7f00ff, "7f00ff"}, {-5, "-05"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), cases[i].value), 1);
        pki_cert_serial_hex(cert, out, sizeof out);
        assert_string_equal(out, cases[i].hex);
    }
    /* Truncated to whole bytes that fit, always terminated. */
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x123456), 1);
    pki_cert_serial_hex(cert, out, 5);
    assert_string_equal(out, "1234");
    pki_cert_serial_hex(cert, out, 4);
    assert_string_equal(out, "12");
    pki_cert_serial_hex(cert, out, 1);
    assert_string_equal(out, "");
    /* No SKI extension: "". */
    memset(out, 'x', sizeof out);
    pki_cert_ski_hex(cert, out, sizeof out);
    assert_string_equal(out, "");
    X509_free(cert);
}

static void expect_window(int64_t not_before_us, int64_t not_after_us, int nb_type, int na_type)
{
    X509_NAME *name = make_name("window");
    struct pki_cert_spec spec = spec_now(PKI_PROFILE_CA, p256, name, NULL, p256);
    spec.not_before_us = not_before_us;
    spec.not_after_us = not_after_us;
    X509 *cert = pki_cert_issue(&spec);
    assert_non_null(cert);
    /* Certificates hold whole seconds: the fraction is dropped, nothing else. */
    int64_t nb_s = not_before_us / SEC, na_s = not_after_us / SEC;
    assert_int_equal(pki_cert_not_before(cert), nb_s * SEC);
    assert_int_equal(pki_cert_not_after(cert), na_s * SEC);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), (time_t)nb_s), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), (time_t)na_s), 0);
    assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(cert)), nb_type);
    assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(cert)), na_type);
    /* And it survives an encode / decode. */
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(pki_cert_to_pem(cert, &pem, &len), 0);
    X509 *back = pki_cert_from_pem(pem, len);
    assert_non_null(back);
    assert_int_equal(pki_cert_not_before(back), nb_s * SEC);
    assert_int_equal(pki_cert_not_after(back), na_s * SEC);
    X509_free(back);
    xfree(pem);
    X509_free(cert);
    X509_NAME_free(name);
}

static void test_validity_exact(void **state)
{
    const int utc = V_ASN1_UTCTIME, gen = V_ASN1_GENERALIZEDTIME;
    /* 2023-11-14T22:13:20.5Z for 3650 days. */
    expect_window(1700000000LL * SEC + 500000, (1700000000LL + 3650 * 86400) * SEC, utc, utc);
    /* The last UTCTime second, and the first GeneralizedTime one (RFC 5280 §4.1.2.5). */
    expect_window(T_2049_END * SEC - 10 * SEC, T_2049_END * SEC, utc, utc);
    expect_window(T_2049_END * SEC, (T_2049_END + 1) * SEC, utc, gen);
    /* 2100-01-01T00:00:00Z, and a window entirely after 2049. */
    expect_window(1700000000LL * SEC, 4102444800LL * SEC, utc, gen);
    expect_window(4102444800LL * SEC, 4102444801LL * SEC + 999999, gen, gen);
}

static void test_fingerprint(void **state)
{
    X509 *ca = make_ca(rsa_ca_key, "Fingerprint CA", -1);
    unsigned char *der = NULL;
    int n = i2d_X509(ca, &der);
    assert_true(n > 0);
    unsigned char md[32];
    util_sha256(der, (size_t)n, md);
    char want[65], got[65];
    util_hex(md, 32, want);
    pki_cert_fingerprint(ca, got);
    assert_string_equal(got, want);
    assert_int_equal(strlen(got), 64);
    /* From one encoding: the same fingerprint and the same PEM text as pki_cert_to_pem. */
    char *pem = NULL, *pem_alone = NULL, both[65];
    size_t len = 0, len_alone = 0;
    assert_int_equal(pki_cert_to_pem_fingerprint(ca, &pem, &len, both), 0);
    assert_string_equal(both, want);
    assert_int_equal(pki_cert_to_pem(ca, &pem_alone, &len_alone), 0);
    assert_int_equal(len, len_alone);
    assert_string_equal(pem, pem_alone);
    xfree(pem);
    xfree(pem_alone);
    /* Leaves of every key type and both CA kinds: DER lengths that end mid-line and, with
     * enough of them, on a line's end; the text is always PEM_write_bio_X509's. */
    EVP_PKEY *ca_keys[] = {rsa_ca_key, p384};
    EVP_PKEY *keys[] = {p256, p384, rsa_leaf_key};
    for (size_t c = 0; c < 2; c++) {
        X509 *issuer = make_ca(ca_keys[c], "Fingerprint CA", 0);
        for (size_t i = 0; i < 3; i++) {
            for (int round = 0; round < 8; round++) {
                X509 *leaf = make_leaf(PKI_PROFILE_CLIENT, keys[i], issuer, ca_keys[c], NULL, 0);
                assert_int_equal(pki_cert_to_pem_fingerprint(leaf, &pem, &len, both), 0);
                assert_int_equal(pki_cert_to_pem(leaf, &pem_alone, &len_alone), 0);
                assert_int_equal(len, strlen(pem));
                assert_int_equal(len, len_alone);
                assert_string_equal(pem, pem_alone);
                pki_cert_fingerprint(leaf, got);
                assert_string_equal(both, got);
                xfree(pem);
                xfree(pem_alone);
                X509_free(leaf);
            }
        }
        X509_free(issuer);
    }
    OPENSSL_free(der);
    X509_free(ca);
}

/* A copy of cert re-signed by key with md (md NULL for Ed25519). */
static X509 *resign(X509 *cert, EVP_PKEY *key, const EVP_MD *md)
{
    X509 *copy = X509_dup(cert);
    assert_non_null(copy);
    assert_true(X509_sign(copy, key, md) > 0);
    return copy;
}

static void test_signature_names(void **state)
{
    X509 *rsa_ca = make_ca(rsa_ca_key, "RSA CA", -1);
    X509 *p256_ca = make_ca(p256, "P-256 CA", -1);
    X509 *p384_ca = make_ca(p384, "P-384 CA", -1);
    assert_string_equal(pki_cert_signature_name(rsa_ca), "SHA256WithRSA");
    assert_string_equal(pki_cert_signature_name(p256_ca), "ECDSAWithSHA256");
    assert_string_equal(pki_cert_signature_name(p384_ca), "ECDSAWithSHA384");

    /* A leaf's name follows its issuer's key, not its own. */
    X509 *leaf = make_leaf(PKI_PROFILE_CLIENT, rsa_leaf_key, p384_ca, p384, NULL, 0);
    assert_string_equal(pki_cert_signature_name(leaf), "ECDSAWithSHA384");
    X509_free(leaf);
    leaf = make_leaf(PKI_PROFILE_CLIENT, p384, rsa_ca, rsa_ca_key, NULL, 0);
    assert_string_equal(pki_cert_signature_name(leaf), "SHA256WithRSA");
    X509_free(leaf);

    /* Names for signatures tlsward does not make itself. */
    X509 *other = resign(rsa_ca, rsa_ca_key, EVP_sha384());
    assert_string_equal(pki_cert_signature_name(other), "SHA384WithRSA");
    X509_free(other);
    other = resign(rsa_ca, rsa_ca_key, EVP_sha512());
    assert_string_equal(pki_cert_signature_name(other), "unknown");
    X509_free(other);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    other = resign(rsa_ca, ed, NULL);
    assert_string_equal(pki_cert_signature_name(other), "unknown");
    X509_free(other);
    EVP_PKEY_free(ed);

    X509_free(p384_ca);
    X509_free(p256_ca);
    X509_free(rsa_ca);
}

static void test_pem(void **state)
{
    X509 *a = make_ca(p256, "PEM A", -1);
    X509 *b = make_ca(p384, "PEM B", -1);
    char *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    assert_int_equal(pki_cert_to_pem(a, &pa, &la), 0);
    assert_int_equal(pki_cert_to_pem(b, &pb, &lb), 0);
    assert_int_equal(strlen(pa), la);
    assert_true(strncmp(pa, "-----BEGIN CERTIFICATE-----\n", 28) == 0);

    /* The first certificate of a PEM text, with text before it allowed. */
    char *both = xasprintf("subject=PEM A\n%s%s", pa, pb);
    X509 *first = pki_cert_from_pem(both, strlen(both));
    assert_non_null(first);
    assert_int_equal(X509_cmp(first, a), 0);
    X509_free(first);
    xfree(both);

    assert_null(pki_cert_from_pem(NULL, 0));
    assert_null(pki_cert_from_pem("", 0));
    assert_null(pki_cert_from_pem("garbage", 7));
    assert_null(pki_cert_from_pem(pa, la / 2)); /* cut short */
    char *big = xmalloc(PKI_PEM_MAX + 1);
    memcpy(big, pa, la);
    memset(big + la, '\n', PKI_PEM_MAX + 1 - la);
    first = pki_cert_from_pem(big, PKI_PEM_MAX);
    assert_non_null(first);
    X509_free(first);
    assert_null(pki_cert_from_pem(big, PKI_PEM_MAX + 1));
    xfree(big);
    xfree(pb);
    xfree(pa);
    X509_free(b);
    X509_free(a);
}

static void test_issue_refusals(void **state)
{
    X509 *ca = make_ca(rsa_ca_key, "Refusing CA", -1);
    X509_NAME *name = make_name("refused");
    const char *good_dns[] = {"ok.example.com"};
    struct pki_cert_spec base = spec_now(PKI_PROFILE_CLIENT, p256, name, ca, rsa_ca_key);
    struct pki_cert_spec s;

    assert_null(pki_cert_issue(NULL));
    s = base, s.subject_key = NULL;
    assert_null(pki_cert_issue(&s));
    s = base, s.subject = NULL;
    assert_null(pki_cert_issue(&s));
    s = base, s.issuer_key = NULL;
    assert_null(pki_cert_issue(&s));
    s = base, s.not_after_us = s.not_before_us; /* empty window */
    assert_null(pki_cert_issue(&s));
    s = base, s.issuer_key = p384; /* does not match the issuer certificate */
    assert_null(pki_cert_issue(&s));
    s = base, s.issuer = NULL; /* self-signed, but signed by another key */
    assert_null(pki_cert_issue(&s));
    s = base, s.profile = (enum pki_profile)42;
    assert_null(pki_cert_issue(&s));
    s = base, s.profile = PKI_PROFILE_CA, s.path_len = -2;
    assert_null(pki_cert_issue(&s));
    s = base, s.profile = PKI_PROFILE_SERVER; /* no DNS names */
    assert_null(pki_cert_issue(&s));
    s.dns_count = 1; /* a count without names */
    assert_null(pki_cert_issue(&s));
    const char *bad_dns[][2] = {{"ok.example.com", ""},
                                {"ok.example.com", NULL},
                                {"with space.example.com", "ok.example.com"},
                                {"ok.example.com", "b\xc3\xa9.example.com"}};
    for (size_t i = 0; i < sizeof bad_dns / sizeof bad_dns[0]; i++) {
        s = base, s.profile = PKI_PROFILE_SERVER, s.dns_names = bad_dns[i], s.dns_count = 2;
        assert_null(pki_cert_issue(&s));
    }
    s = base, s.profile = PKI_PROFILE_SERVER, s.dns_names = good_dns, s.dns_count = 1;
    X509 *ok = pki_cert_issue(&s);
    assert_non_null(ok);
    X509_free(ok);
    /* A name is never read as configuration: this is one odd DNS entry, not two. */
    const char *odd[] = {"x.example.com,DNS:evil.example"};
    s.dns_names = odd;
    ok = pki_cert_issue(&s);
    assert_non_null(ok);
    GENERAL_NAMES *names = X509_get_ext_d2i(ok, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    assert_int_equal(sk_GENERAL_NAME_num(names), 1);
    GENERAL_NAMES_free(names);
    X509_free(ok);

    /* tlsward does not sign with Ed25519 (nor P-521). */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    s = base, s.profile = PKI_PROFILE_CA, s.subject_key = ed, s.issuer = NULL, s.issuer_key = ed;
    assert_null(pki_cert_issue(&s));
    EVP_PKEY_free(ed);
    X509_NAME_free(name);
    X509_free(ca);
}

int main(void)
{
    rsa_ca_key = pki_key_generate(PKI_KEY_RSA_2048);
    rsa_leaf_key = pki_key_generate(PKI_KEY_RSA_2048);
    p256 = pki_key_generate(PKI_KEY_EC_P256);
    p384 = pki_key_generate(PKI_KEY_EC_P384);
    if (!rsa_ca_key || !rsa_leaf_key || !p256 || !p384)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_self_signed),
        cmocka_unit_test(test_client_leaf),
        cmocka_unit_test(test_leaf_publication_urls),
        cmocka_unit_test(test_leaf_from_csr_spki),
        cmocka_unit_test(test_leaf_extensions_as_configured),
        cmocka_unit_test(test_server_leaf),
        cmocka_unit_test(test_serials),
        cmocka_unit_test(test_hex_facts),
        cmocka_unit_test(test_validity_exact),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_signature_names),
        cmocka_unit_test(test_pem),
        cmocka_unit_test(test_issue_refusals),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(rsa_ca_key);
    EVP_PKEY_free(rsa_leaf_key);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return failed;
}
