/* Unit tests of pki/key: generation of each kind, PKCS#8 PEM round trips, refusals on bad
 * PEM (garbage, public keys, encrypted keys, oversized input), type names and sizes, the
 * CSR key policy and the signing digest per key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/alloc.h"
#include "pki/pki.h"

/* Keys made once (generation is slow under the sanitizers); filled in by main. */
static EVP_PKEY *rsa2048, *p256, *p384;

static EVP_PKEY *keygen(const char *type, const char *curve)
{
    EVP_PKEY *key =
        curve ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve) : EVP_PKEY_Q_keygen(NULL, NULL, type);
    assert_non_null(key);
    return key;
}

static EVP_PKEY *rsa_keygen(size_t bits)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    assert_non_null(key);
    return key;
}

/* A memory BIO's contents as a heap string (xfree). */
static char *bio_text(BIO *bio, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    *len = (size_t)n;
    return xstrndup(data, (size_t)n);
}

static void test_generate_kinds(void **state)
{
    assert_string_equal(pki_key_type_name(rsa2048), "rsa");
    assert_int_equal(pki_key_bits(rsa2048), 2048);
    assert_true(EVP_PKEY_is_a(rsa2048, "RSA"));
    assert_string_equal(pki_key_type_name(p256), "ecdsa");
    assert_int_equal(pki_key_bits(p256), 256);
    assert_string_equal(pki_key_type_name(p384), "ecdsa");
    assert_int_equal(pki_key_bits(p384), 384);
    /* Two generations give two different keys. */
    EVP_PKEY *again = pki_key_generate(PKI_KEY_EC_P256);
    assert_non_null(again);
    assert_int_not_equal(EVP_PKEY_eq(again, p256), 1);
    EVP_PKEY_free(again);
    assert_null(pki_key_generate((enum pki_key_kind)42));
}

static void assert_pem_round_trip(EVP_PKEY *key)
{
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(pki_key_to_pem(key, &pem, &len), 0);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), len);
    assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0); /* PKCS#8 */
    assert_non_null(strstr(pem, "-----END PRIVATE KEY-----\n"));
    EVP_PKEY *back = pki_key_from_pem(pem, len);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, key), 1);
    assert_string_equal(pki_key_type_name(back), pki_key_type_name(key));
    assert_int_equal(pki_key_bits(back), pki_key_bits(key));
    /* The private half came back too: it signs what the original verifies. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(back, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(back);
    xfree(pem);
}

static void test_pem_round_trip(void **state)
{
    assert_pem_round_trip(rsa2048);
    assert_pem_round_trip(p256);
    assert_pem_round_trip(p384);
}

/* Traditional "EC PRIVATE KEY" / "RSA PRIVATE KEY" blocks load as well (uploads use them). */
static void test_from_pem_traditional(void **state)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, p256, NULL, NULL, 0, NULL, NULL), 1);
    size_t len;
    char *pem = bio_text(bio, &len);
    assert_non_null(strstr(pem, "BEGIN EC PRIVATE KEY"));
    EVP_PKEY *back = pki_key_from_pem(pem, len);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, p256), 1);
    EVP_PKEY_free(back);
    xfree(pem);
    BIO_free(bio);
}

static void test_from_pem_refusals(void **state)
{
    assert_null(pki_key_from_pem(NULL, 0));
    assert_null(pki_key_from_pem("", 0));
    const char *garbage = "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n"
                          "-----END PRIVATE KEY-----\n";
    assert_null(pki_key_from_pem(garbage, strlen(garbage)));
    assert_null(pki_key_from_pem("hello", 5));

    /* A public key is not a private key. */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, p256), 1);
    size_t len;
    char *pem = bio_text(bio, &len);
    assert_null(pki_key_from_pem(pem, len));
    xfree(pem);
    BIO_free(bio);

    /* An encrypted key fails at once instead of asking for a passphrase. */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(
        PEM_write_bio_PKCS8PrivateKey(bio, p256, EVP_aes_256_cbc(), "secret", 6, NULL, NULL), 1);
    pem = bio_text(bio, &len);
    assert_non_null(strstr(pem, "ENCRYPTED PRIVATE KEY"));
    assert_null(pki_key_from_pem(pem, len));
    xfree(pem);
    BIO_free(bio);
}

/* A valid key padded to just over PKI_PEM_MAX is refused for its size alone. */
static void test_from_pem_size_bound(void **state)
{
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(pki_key_to_pem(p256, &pem, &len), 0);
    char *big = xmalloc(PKI_PEM_MAX + 1);
    memcpy(big, pem, len);
    memset(big + len, '\n', PKI_PEM_MAX + 1 - len);
    EVP_PKEY *at_limit = pki_key_from_pem(big, PKI_PEM_MAX);
    assert_non_null(at_limit);
    EVP_PKEY_free(at_limit);
    assert_null(pki_key_from_pem(big, PKI_PEM_MAX + 1));
    xfree(big);
    xfree(pem);
}

static void expect_policy(EVP_PKEY *key, bool ok, const char *why_want)
{
    const char *why = "untouched";
    assert_int_equal(pki_key_acceptable(key, &why), ok);
    if (ok)
        assert_null(why);
    else
        assert_string_equal(why, why_want);
    assert_int_equal(pki_key_acceptable(key, NULL), ok); /* why is optional */
}

static void test_policy(void **state)
{
    expect_policy(rsa2048, true, NULL);
    expect_policy(p256, true, NULL);
    expect_policy(p384, true, NULL);

    EVP_PKEY *rsa1024 = rsa_keygen(1024);
    expect_policy(rsa1024, false, "RSA keys must be at least 2048 bits");
    EVP_PKEY_free(rsa1024);

    EVP_PKEY *p521 = keygen("EC", "P-521");
    expect_policy(p521, false, "EC keys must use P-256 or P-384");
    assert_string_equal(pki_key_type_name(p521), "ecdsa");
    assert_int_equal(pki_key_bits(p521), 521);
    EVP_PKEY_free(p521);

    EVP_PKEY *k1 = keygen("EC", "secp256k1");
    expect_policy(k1, false, "EC keys must use P-256 or P-384");
    EVP_PKEY_free(k1);

    EVP_PKEY *ed = keygen("ED25519", NULL);
    expect_policy(ed, false, "unsupported key type");
    assert_string_equal(pki_key_type_name(ed), "unknown");
    EVP_PKEY_free(ed);

    EVP_PKEY *pss = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    assert_int_equal(EVP_PKEY_generate(ctx, &pss), 1);
    EVP_PKEY_CTX_free(ctx);
    expect_policy(pss, false, "unsupported key type");
    EVP_PKEY_free(pss);

    expect_policy(NULL, false, "unsupported key type");
}

static void test_sign_digest(void **state)
{
    assert_ptr_equal(pki_key_sign_digest(rsa2048), EVP_sha256());
    assert_ptr_equal(pki_key_sign_digest(p256), EVP_sha256());
    assert_ptr_equal(pki_key_sign_digest(p384), EVP_sha384());
    EVP_PKEY *ed = keygen("ED25519", NULL);
    assert_null(pki_key_sign_digest(ed));
    EVP_PKEY_free(ed);
    EVP_PKEY *p521 = keygen("EC", "P-521");
    assert_null(pki_key_sign_digest(p521));
    EVP_PKEY_free(p521);
}

int main(void)
{
    rsa2048 = pki_key_generate(PKI_KEY_RSA_2048);
    p256 = pki_key_generate(PKI_KEY_EC_P256);
    p384 = pki_key_generate(PKI_KEY_EC_P384);
    if (!rsa2048 || !p256 || !p384)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_kinds),       cmocka_unit_test(test_pem_round_trip),
        cmocka_unit_test(test_from_pem_traditional), cmocka_unit_test(test_from_pem_refusals),
        cmocka_unit_test(test_from_pem_size_bound),  cmocka_unit_test(test_policy),
        cmocka_unit_test(test_sign_digest),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    return failed;
}
