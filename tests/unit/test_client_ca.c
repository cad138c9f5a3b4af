/* Unit tests of pki/client_ca's signing material cache: one unseal per CA however many
 * certificates it signs; a CA replaced under the same id (another certificate and sealed
 * key) is signed for with the new key at once, and switching back loads the old one again;
 * a stored key that does not match its certificate is refused; the key is never on disk
 * unsealed; and many threads signing with one cached key at once all get certificates
 * that verify; leaves made from a CA's cached template follow the same rules. A real
 * SQLite store and CSRs built here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "pki/client_ca.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "store/store.h"
#include "testutil.h"

#define THREADS 4
#define PER_THREAD 25

struct fixture {
    char *dir;
    char *path;
    struct app app;
    char account_id[STORE_ID_SIZE];
    struct pki_csr *csr;
};

/* A parsed CSR for a fresh P-256 key (pki_csr_free). */
static struct pki_csr *make_csr(void)
{
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256);
    X509_REQ *req = X509_REQ_new();
    assert_non_null(key);
    assert_non_null(req);
    X509_NAME *name = X509_REQ_get_subject_name(req);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)"cache client", -1, -1, 0),
                     1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
    char *pem = NULL;
    long len = BIO_get_mem_data(bio, &pem);
    struct pki_csr *csr = NULL;
    const char *why = NULL;
    assert_int_equal(pki_csr_parse(pem, (size_t)len, &csr, &why), 0);
    BIO_free(bio);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return csr;
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-client-ca-XXXXXX", 4, &fx->dir, &fx->path, &fx->app.store);
    util_random_bytes(fx->app.master_key, sizeof fx->app.master_key);
    fx->app.client_cas = client_ca_cache_create();
    fx->app.config.client_ca_key = PKI_KEY_RSA_2048;
    tu_add_account(fx->app.store, "ca@example.com", "cache account", fx->account_id);
    fx->csr = make_csr();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    pki_csr_free(fx->csr);
    client_ca_cache_destroy(fx->app.client_cas);
    tu_close_store(fx->app.store, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

static X509 *parse_cert(const char *pem)
{
    X509 *cert = pki_cert_from_pem(pem, strlen(pem));
    assert_non_null(cert);
    return cert;
}

/* Signs the fixture's CSR with ca and asserts the certificate is issued and signed by
 * ca's certificate (and, when other is given, not by that one). */
static void sign_and_check(struct fixture *fx, const struct store_client_ca *ca,
                           const struct store_client_ca *other)
{
    X509 *cert = NULL;
    assert_int_equal(client_ca_sign(&fx->app, ca, fx->csr, 30, util_now_us(), &cert), 0);
    assert_non_null(cert);
    X509 *ca_cert = parse_cert(ca->cert_pem);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca_cert)), 1);
    assert_int_equal(X509_check_issued(ca_cert, cert), X509_V_OK);
    if (other) {
        X509 *other_cert = parse_cert(other->cert_pem);
        assert_int_not_equal(X509_verify(cert, X509_get0_pubkey(other_cert)), 1);
        X509_free(other_cert);
    }
    /* The same through the CA's cached leaf template: signed by ca, never by other. */
    struct pki_leaf leaf;
    assert_int_equal(client_ca_sign_leaf(&fx->app, ca, fx->csr, 30, util_now_us(), &leaf), 0);
    const unsigned char *p = leaf.der;
    X509 *from_leaf = d2i_X509(NULL, &p, (long)leaf.der_len);
    assert_non_null(from_leaf);
    assert_int_equal(X509_verify(from_leaf, X509_get0_pubkey(ca_cert)), 1);
    assert_int_equal(X509_check_issued(ca_cert, from_leaf), X509_V_OK);
    if (other) {
        X509 *other_cert = parse_cert(other->cert_pem);
        assert_int_not_equal(X509_verify(from_leaf, X509_get0_pubkey(other_cert)), 1);
        X509_free(other_cert);
    }
    X509_free(from_leaf);
    pki_leaf_clear(&leaf);
    X509_free(ca_cert);
    X509_free(cert);
}

/* The CA in *ca under the same id with a new key and self-signed certificate (as a
 * restored backup or another node would leave it): heap fields replaced. Without a
 * subjectKeyIdentifier when no_ski (a CA made elsewhere). */
static void rekey_ex(struct fixture *fx, struct store_client_ca *ca, bool no_ski)
{
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256);
    assert_non_null(key);
    X509_NAME *name = X509_NAME_new();
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)"replacement CA", -1, -1, 0),
                     1);
    int64_t now = util_now_us();
    struct pki_cert_spec spec = {.profile = PKI_PROFILE_CA,
                                 .subject_key = key,
                                 .subject = name,
                                 .issuer_key = key,
                                 .not_before_us = now - 60 * 1000000LL,
                                 .not_after_us = now + 86400 * 1000000LL,
                                 .path_len = 0};
    X509 *cert = pki_cert_issue(&spec);
    assert_non_null(cert);
    if (no_ski) {
        X509_EXTENSION_free(
            X509_delete_ext(cert, X509_get_ext_by_NID(cert, NID_subject_key_identifier, -1)));
        X509_EXTENSION_free(
            X509_delete_ext(cert, X509_get_ext_by_NID(cert, NID_authority_key_identifier, -1)));
        assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    }
    char *key_pem = NULL, aad[64];
    size_t key_len = 0, cert_len = 0;
    xfree(ca->cert_pem);
    xfree(ca->key_sealed);
    assert_int_equal(pki_cert_to_pem(cert, &ca->cert_pem, &cert_len), 0);
    assert_int_equal(pki_key_to_pem(key, &key_pem, &key_len), 0);
    snprintf(aad, sizeof aad, "client-ca:%s", ca->id);
    assert_int_equal(seal_encrypt(fx->app.master_key, key_pem, key_len, aad, &ca->key_sealed,
                                  &ca->key_sealed_len),
                     0);
    xfree(key_pem);
    X509_free(cert);
    X509_NAME_free(name);
    EVP_PKEY_free(key);
}

static void rekey(struct fixture *fx, struct store_client_ca *ca)
{
    rekey_ex(fx, ca, false);
}

/* A deep copy of the heap fields, so two versions of one CA can be kept side by side. */
static struct store_client_ca copy_ca(const struct store_client_ca *ca)
{
    struct store_client_ca out = *ca;
    out.cert_pem = xstrdup(ca->cert_pem);
    out.key_sealed = xmalloc(ca->key_sealed_len);
    memcpy(out.key_sealed, ca->key_sealed, ca->key_sealed_len);
    out.crl_der = NULL;
    out.crl_len = 0;
    return out;
}

/* One unseal serves every later signature of the same stored CA. */
static void test_hit_after_first_load(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &ca), STORE_OK);
    assert_null(ca.crl_der);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 0);
    for (int i = 0; i < 5; i++)
        sign_and_check(fx, &ca, NULL);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 1);
    /* Read again from the store (new heap copies of the same bytes): still a hit. */
    struct store_client_ca again;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &again), STORE_OK);
    assert_string_equal(again.id, ca.id);
    sign_and_check(fx, &again, NULL);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 1);
    store_client_ca_clear(&again);
    store_client_ca_clear(&ca);
}

/* A CA replaced under the same id: the next signature uses the new key, never the cached
 * old one; going back to the old stored material loads it again. */
static void test_replaced_ca_invalidates(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca old_ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &old_ca), STORE_OK);
    sign_and_check(fx, &old_ca, NULL);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 1);

    struct store_client_ca new_ca = copy_ca(&old_ca);
    rekey(fx, &new_ca);
    assert_string_equal(new_ca.id, old_ca.id);
    sign_and_check(fx, &new_ca, &old_ca);
    sign_and_check(fx, &new_ca, &old_ca);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 2);

    sign_and_check(fx, &old_ca, &new_ca);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 3);
    store_client_ca_clear(&new_ca);
    store_client_ca_clear(&old_ca);
}

/* A CA without a subjectKeyIdentifier (made elsewhere): the leaf template refuses it and
 * so does the general builder (a leaf's authorityKeyIdentifier needs it), so both ways
 * refuse to sign, with nothing handed out. */
static void test_ca_without_ski_refused_both_ways(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &ca), STORE_OK);
    struct store_client_ca bare = copy_ca(&ca);
    rekey_ex(fx, &bare, true);
    struct pki_leaf leaf;
    assert_int_equal(client_ca_sign_leaf(&fx->app, &bare, fx->csr, 30, util_now_us(), &leaf), -1);
    assert_null(leaf.der);
    assert_null(leaf.pem);
    X509 *cert = NULL;
    assert_int_equal(client_ca_sign(&fx->app, &bare, fx->csr, 30, util_now_us(), &cert), -1);
    assert_null(cert);
    /* The account's own CA still signs both ways. */
    sign_and_check(fx, &ca, &bare);
    store_client_ca_clear(&bare);
    store_client_ca_clear(&ca);
}

/* A stored certificate that does not belong to the sealed key is refused, not cached. */
static void test_mismatched_material_refused(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &ca), STORE_OK);
    struct store_client_ca other = copy_ca(&ca);
    rekey(fx, &other);
    /* The old key with the new certificate. */
    struct store_client_ca mixed = copy_ca(&ca);
    xfree(mixed.cert_pem);
    mixed.cert_pem = xstrdup(other.cert_pem);
    X509 *cert = (X509 *)&cert;
    assert_int_equal(client_ca_sign(&fx->app, &mixed, fx->csr, 30, util_now_us(), &cert), -1);
    assert_null(cert);
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 0);
    /* The genuine pair still signs. */
    sign_and_check(fx, &ca, NULL);
    store_client_ca_clear(&mixed);
    store_client_ca_clear(&other);
    store_client_ca_clear(&ca);
}

/* Reads a whole file into a heap buffer (xfree); NULL when it does not exist. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            buf = xrealloc(buf, cap);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* After the CA is made and has signed, neither the database nor its WAL holds a private
 * key in the clear (PEM or the PKCS#8 DER of the cached key). */
static void test_key_never_stored_unsealed(void **state)
{
    struct fixture *fx = *state;
    if (tu_backend_postgres())
        skip();
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &ca), STORE_OK);
    for (int i = 0; i < 3; i++)
        sign_and_check(fx, &ca, NULL);
    /* The key as the cache holds it: unseal the stored copy here. */
    char aad[64];
    snprintf(aad, sizeof aad, "client-ca:%s", ca.id);
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(
        seal_decrypt(fx->app.master_key, ca.key_sealed, ca.key_sealed_len, aad, &pem, &pem_len), 0);
    EVP_PKEY *key = pki_key_from_pem((const char *)pem, pem_len);
    assert_non_null(key);
    unsigned char *der = NULL;
    int der_len = i2d_PrivateKey(key, &der);
    assert_true(der_len > 64);
    char *wal = xasprintf("%s-wal", fx->path);
    const char *files[] = {fx->path, wal};
    for (size_t f = 0; f < 2; f++) {
        size_t n = 0;
        unsigned char *bytes = slurp(files[f], &n);
        if (!bytes)
            continue;
        assert_false(contains(bytes, n, "PRIVATE KEY"));
        /* A 32-byte window of the DER key (its modulus and exponents) never appears. */
        char window[33];
        memcpy(window, der + der_len / 2, 32);
        window[32] = '\0';
        bool found = false;
        for (size_t i = 0; i + 32 <= n && !found; i++)
            found = memcmp(bytes + i, window, 32) == 0;
        assert_false(found);
        xfree(bytes);
    }
    xfree(wal);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    OPENSSL_cleanse(pem, pem_len);
    xfree(pem);
    store_client_ca_clear(&ca);
}

struct signer {
    struct fixture *fx;
    const struct store_client_ca *ca;
    int verified;
};

static void *sign_many(void *arg)
{
    struct signer *s = arg;
    X509 *ca_cert = pki_cert_from_pem(s->ca->cert_pem, strlen(s->ca->cert_pem));
    for (int i = 0; i < PER_THREAD && ca_cert; i++) {
        X509 *cert = NULL;
        if (client_ca_sign(&s->fx->app, s->ca, s->fx->csr, 30, util_now_us(), &cert) == 0 &&
            X509_verify(cert, X509_get0_pubkey(ca_cert)) == 1)
            s->verified++;
        X509_free(cert);
    }
    X509_free(ca_cert);
    return NULL;
}

/* Several threads sign at once with the one cached key (the request threads of a loaded
 * server): every certificate verifies and the key was unsealed once. */
static void test_concurrent_signing(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure_signer(&fx->app, fx->account_id, &ca), STORE_OK);
    sign_and_check(fx, &ca, NULL);
    pthread_t threads[THREADS];
    struct signer signers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        signers[i] = (struct signer){.fx = fx, .ca = &ca};
        assert_int_equal(pthread_create(&threads[i], NULL, sign_many, &signers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(signers[i].verified, PER_THREAD);
    }
    assert_int_equal(client_ca_cache_loads(fx->app.client_cas), 1);
    store_client_ca_clear(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_after_first_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_ca_invalidates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_without_ski_refused_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatched_material_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_never_stored_unsealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_signing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
