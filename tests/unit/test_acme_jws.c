/* Unit tests of acme/jws.c: base64url (RFC 4648 §10 vectors, strict decoding), the JWK
 * thumbprint against RFC 7638 §3.1's example, ES256 JWS (protected header, raw R‖S
 * signature that OpenSSL verifies once converted back to DER), the EAB binding (RFC 8555
 * §7.3.4: header alg/kid/url, payload = the account JWK, HMAC-SHA256 that verifies), key
 * authorizations and dns-01 values, and the account key PEM helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <string.h>

#include "acme/acme.h"
#include "common/alloc.h"

static EVP_PKEY *key; /* one P-256 account key for the whole file */

/* Decodes a base64url field of a JSON object into a NUL-terminated heap buffer. */
static char *field_decoded(json_t *obj, const char *name, size_t *len_out)
{
    const char *s = json_string_value(json_object_get(obj, name));
    assert_non_null(s);
    unsigned char *raw = NULL;
    size_t len = 0;
    assert_int_equal(acme_b64url_decode(s, &raw, &len), 0);
    char *out = xmalloc(len + 1);
    memcpy(out, raw, len);
    out[len] = '\0';
    xfree(raw);
    if (len_out)
        *len_out = len;
    return out;
}

static void test_b64url_vectors(void **state)
{
    static const char *const vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char *e = acme_b64url(vec[i][0], strlen(vec[i][0]));
        assert_string_equal(e, vec[i][1]);
        xfree(e);
        unsigned char *d = NULL;
        size_t len = 99;
        assert_int_equal(acme_b64url_decode(vec[i][1], &d, &len), 0);
        assert_int_equal(len, strlen(vec[i][0]));
        assert_memory_equal(d, vec[i][0], len);
        xfree(d);
    }
    /* The two characters that differ from standard base64. */
    const unsigned char raw[] = {0xfb, 0xff};
    char *e = acme_b64url(raw, 2);
    assert_string_equal(e, "-_8");
    xfree(e);
    static const char *const bad[] = {"Zg==", "Z", "a+b/", "Zh", "Zm9v YmFy", "Zm9vY!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *d = NULL;
        size_t len = 0;
        assert_int_equal(acme_b64url_decode(bad[i], &d, &len), -1);
        assert_null(d);
    }
}

/* The RSA key of RFC 7638 §3.1 from its JWK members. */
static EVP_PKEY *rfc7638_key(void)
{
    static const char n64[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
        "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw";
    unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    assert_int_equal(acme_b64url_decode(n64, &n, &nlen), 0);
    assert_int_equal(acme_b64url_decode("AQAB", &e, &elen), 0);
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    xfree(n);
    xfree(e);
    return pkey;
}

static void test_thumbprint_rfc7638(void **state)
{
    EVP_PKEY *rsa = rfc7638_key();
    char thumb[44];
    assert_int_equal(acme_jwk_thumbprint(rsa, thumb), 0);
    assert_string_equal(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    EVP_PKEY_free(rsa);
}

static void test_jwk_p256(void **state)
{
    json_t *jwk = acme_jwk(key);
    assert_non_null(jwk);
    assert_int_equal(json_object_size(jwk), 4); /* only the required members */
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
    size_t xl = 0, yl = 0;
    xfree(field_decoded(jwk, "x", &xl));
    xfree(field_decoded(jwk, "y", &yl));
    assert_int_equal(xl, 32); /* coordinates keep their leading zero bytes */
    assert_int_equal(yl, 32);
    /* The thumbprint is SHA-256 of the sorted, compact members. */
    char *canon = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\""));
    unsigned char md[32];
    EVP_Digest(canon, strlen(canon), md, NULL, EVP_sha256(), NULL);
    char *want = acme_b64url(md, 32), thumb[44];
    assert_int_equal(acme_jwk_thumbprint(key, thumb), 0);
    assert_string_equal(thumb, want);
    xfree(want);
    xfree(canon);
    json_decref(jwk);
}

/* Verifies a flattened ES256 JWS with OpenSSL: R‖S back to DER, then EVP_DigestVerify. */
static void verify_es256(json_t *jws, EVP_PKEY *pub)
{
    const char *prot = json_string_value(json_object_get(jws, "protected"));
    const char *pay = json_string_value(json_object_get(jws, "payload"));
    assert_non_null(prot);
    assert_non_null(pay);
    size_t siglen = 0;
    unsigned char *raw = (unsigned char *)field_decoded(jws, "signature", &siglen);
    assert_int_equal(siglen, 64); /* raw R‖S, not DER */
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(sig, &der);
    assert_true(derlen > 0);
    char *input = xasprintf("%s.%s", prot, pay);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(
        EVP_DigestVerify(md, der, (size_t)derlen, (unsigned char *)input, strlen(input)), 1);
    /* One flipped byte of the signing input no longer verifies. */
    input[0] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, der, (size_t)derlen, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    xfree(input);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    xfree(raw);
}

static void test_jws_with_jwk(void **state)
{
    char *text = acme_jws_sign(key, NULL, "nonce-1", "https://ca.test/acme/new-acct",
                               "{\"termsOfServiceAgreed\":true}");
    assert_non_null(text);
    json_t *jws = json_loads(text, 0, NULL);
    assert_non_null(jws);
    assert_int_equal(json_object_size(jws), 3);
    char *hdr_text = field_decoded(jws, "protected", NULL);
    json_t *hdr = json_loads(hdr_text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(hdr, "nonce")), "nonce-1");
    assert_string_equal(json_string_value(json_object_get(hdr, "url")),
                        "https://ca.test/acme/new-acct");
    assert_null(json_object_get(hdr, "kid"));
    json_t *jwk = acme_jwk(key);
    assert_true(json_equal(json_object_get(hdr, "jwk"), jwk));
    char *payload = field_decoded(jws, "payload", NULL);
    assert_string_equal(payload, "{\"termsOfServiceAgreed\":true}");
    verify_es256(jws, key);
    xfree(payload);
    json_decref(jwk);
    json_decref(hdr);
    xfree(hdr_text);
    json_decref(jws);
    xfree(text);
}

static void test_jws_with_kid_post_as_get(void **state)
{
    /* Many signatures: a short R or S (leading zero byte) must still be 32 bytes each. */
    for (int i = 0; i < 50; i++) {
        char *text = acme_jws_sign(key, "https://ca.test/acme/acct/1", "n2",
                                   "https://ca.test/acme/order/7", NULL);
        assert_non_null(text);
        json_t *jws = json_loads(text, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(jws, "payload")), "");
        char *hdr_text = field_decoded(jws, "protected", NULL);
        json_t *hdr = json_loads(hdr_text, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
                            "https://ca.test/acme/acct/1");
        assert_null(json_object_get(hdr, "jwk"));
        verify_es256(jws, key);
        json_decref(hdr);
        xfree(hdr_text);
        json_decref(jws);
        xfree(text);
    }
    /* Without a nonce or with a non-P-256 key there is nothing to sign. */
    assert_null(acme_jws_sign(key, NULL, NULL, "https://ca.test/x", NULL));
    EVP_PKEY *rsa = rfc7638_key();
    assert_null(acme_jws_sign(rsa, NULL, "n", "https://ca.test/x", NULL));
    EVP_PKEY_free(rsa);
}

static void test_eab(void **state)
{
    /* The MAC key of Pebble's example configuration, base64url as a CA hands it out. */
    const char *mac64 = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    unsigned char *mac = NULL;
    size_t mac_len = 0;
    assert_int_equal(acme_b64url_decode(mac64, &mac, &mac_len), 0);
    assert_int_equal(mac_len, 48);
    json_t *eab = acme_eab_jws(key, "kid-1", mac, mac_len, "https://ca.test/acme/new-acct");
    assert_non_null(eab);
    char *hdr_text = field_decoded(eab, "protected", NULL);
    json_t *hdr = json_loads(hdr_text, 0, NULL);
    assert_int_equal(json_object_size(hdr), 3);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "HS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "kid-1");
    assert_string_equal(json_string_value(json_object_get(hdr, "url")),
                        "https://ca.test/acme/new-acct");
    assert_null(json_object_get(hdr, "nonce")); /* the inner JWS has no nonce */
    char *payload = field_decoded(eab, "payload", NULL);
    json_t *pjwk = json_loads(payload, 0, NULL), *jwk = acme_jwk(key);
    assert_true(json_equal(pjwk, jwk));
    /* HMAC-SHA256 over "protected.payload" with the decoded key. */
    char *input = xasprintf("%s.%s", json_string_value(json_object_get(eab, "protected")),
                            json_string_value(json_object_get(eab, "payload")));
    unsigned char want[32];
    size_t wl = 0;
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac, mac_len,
                              (unsigned char *)input, strlen(input), want, sizeof want, &wl));
    size_t sl = 0;
    char *sig = field_decoded(eab, "signature", &sl);
    assert_int_equal(sl, 32);
    assert_memory_equal(sig, want, 32);
    xfree(sig);
    xfree(input);
    json_decref(jwk);
    json_decref(pjwk);
    xfree(payload);
    json_decref(hdr);
    xfree(hdr_text);
    json_decref(eab);
    assert_null(acme_eab_jws(key, "kid-1", mac, 0, "https://ca.test/x"));
    xfree(mac);
}

static void test_key_authorization(void **state)
{
    struct acme_error err;
    struct acme_client_options o = {.directory_url = "https://127.0.0.1:1/dir"};
    struct acme_client *c = acme_client_create(&o, key, &err);
    assert_non_null(c);
    char thumb[44];
    assert_int_equal(acme_jwk_thumbprint(key, thumb), 0);
    const char *token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    char *ka = acme_key_authorization(c, token);
    char *want = xasprintf("%s.%s", token, thumb);
    assert_string_equal(ka, want);
    char dns[44];
    assert_int_equal(acme_dns01_value(c, token, dns), 0);
    assert_int_equal(strlen(dns), 43);
    unsigned char md[32];
    EVP_Digest(ka, strlen(ka), md, NULL, EVP_sha256(), NULL);
    char *dwant = acme_b64url(md, 32);
    assert_string_equal(dns, dwant);
    /* A token that is not base64url (a path, a dot) gets no key authorization. */
    assert_null(acme_key_authorization(c, "../etc/passwd"));
    assert_null(acme_key_authorization(c, ""));
    assert_int_equal(acme_dns01_value(c, "a.b", dns), -1);
    xfree(dwant);
    xfree(want);
    xfree(ka);
    acme_client_destroy(c);
    /* Only a P-256 key makes a client. */
    EVP_PKEY *rsa = rfc7638_key();
    assert_null(acme_client_create(&o, rsa, &err));
    assert_int_equal(err.code, ACME_E_INVALID);
    EVP_PKEY_free(rsa);
    o.directory_url = "ftp://x/dir";
    assert_null(acme_client_create(&o, key, &err));
}

static void test_key_pem(void **state)
{
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(acme_key_to_pem(key, &pem, &len), 0);
    EVP_PKEY *back = acme_key_from_pem(pem, len);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, key), 1);
    EVP_PKEY_free(back);
    xfree(pem);
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    assert_int_equal(acme_key_to_pem(rsa, &pem, &len), 0);
    assert_null(acme_key_from_pem(pem, len)); /* an RSA key is not an account key here */
    xfree(pem);
    EVP_PKEY_free(rsa);
}

int main(void)
{
    alloc_install_json();
    key = acme_key_generate();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_jwk_p256),
        cmocka_unit_test(test_jws_with_jwk),
        cmocka_unit_test(test_jws_with_kid_post_as_get),
        cmocka_unit_test(test_eab),
        cmocka_unit_test(test_key_authorization),
        cmocka_unit_test(test_key_pem),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(key);
    return rc;
}
