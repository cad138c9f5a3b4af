/* Unit tests of pki/local_ca: the root and intermediate are what they claim (checked with
 * OpenSSL itself), the persisted form loads back only under the right master key and with
 * its blobs in their places, and an issued pair holds together: both leaves verify to the
 * root through the intermediate for sslserver, exact SANs and CN, fresh keys of the right
 * kinds that match their certificates, the requested window, the chain nginx wants, and
 * the facts reported equal the certificates'; four threads issue at once from one CA and
 * one RSA pool. Each issuance generates an RSA-2048 key (slow under ASan), so the pairs
 * are issued once in the group setup and shared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/util.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "pki/pki.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)

static const char *const HOSTS[] = {"example.com", "*.example.com", "www.example.com"};
#define HOST_COUNT (sizeof HOSTS / sizeof HOSTS[0])

/* Shared by every test: one CA and two pairs issued from it (b through an RSA pool). */
static struct {
    unsigned char master[SEAL_KEY_LEN];
    struct store_local_ca persisted;
    struct local_ca *ca;
    X509 *root, *intermediate;
    int64_t now;
    struct local_ca_pair a, b;
    int pool_before, pool_after; /* RSA pool size around issuing b */
} g;

static X509 *cert_of(const char *pem)
{
    assert_non_null(pem);
    X509 *cert = pki_cert_from_pem(pem, strlen(pem));
    assert_non_null(cert);
    return cert;
}

static EVP_PKEY *key_of(const struct local_ca_leaf *leaf)
{
    assert_non_null(leaf->key_pem);
    assert_int_equal(strlen(leaf->key_pem), leaf->key_len);
    EVP_PKEY *key = pki_key_from_pem(leaf->key_pem, leaf->key_len);
    assert_non_null(key);
    return key;
}

static void common_name_of(X509 *cert, char out[256])
{
    struct pki_subject s;
    pki_subject_fields(X509_get_subject_name(cert), &s);
    memcpy(out, s.common_name, sizeof s.common_name);
}

/* True when the n bytes at hay hold the string needle. */
static bool holds(const unsigned char *hay, size_t n, const char *needle)
{
    size_t len = strlen(needle);
    for (size_t i = 0; i + len <= n; i++) {
        if (memcmp(hay + i, needle, len) == 0)
            return true;
    }
    return false;
}

static struct local_ca_request request(const char *const *hosts, size_t n, const char *cn)
{
    return (struct local_ca_request){
        .hosts = hosts, .host_count = n, .common_name = cn, .validity_days = 90, .now = g.now};
}

static int setup(void **state)
{
    util_random_bytes(g.master, sizeof g.master);
    g.now = util_now_us();
    if (local_ca_create(g.master, g.now, &g.persisted) != 0 ||
        local_ca_load(g.master, &g.persisted, &g.ca) != 0)
        return -1;
    g.root = pki_cert_from_pem(g.persisted.root_pem, strlen(g.persisted.root_pem));
    g.intermediate =
        pki_cert_from_pem(g.persisted.intermediate_pem, strlen(g.persisted.intermediate_pem));
    struct local_ca_request req = request(HOSTS, HOST_COUNT, NULL);
    const char *why = NULL;
    if (!g.root || !g.intermediate || local_ca_issue(g.ca, NULL, &req, &g.a, &why) != 0)
        return -1;
    struct key_pool *pool = key_pool_create(PKI_KEY_RSA_2048, 1);
    g.pool_before = key_pool_refill(pool, 0);
    int rc = local_ca_issue(g.ca, pool, &req, &g.b, &why);
    g.pool_after = key_pool_count(pool);
    key_pool_destroy(pool);
    return rc == 0 && why == NULL ? 0 : -1;
}

static int teardown(void **state)
{
    local_ca_pair_clear(&g.a);
    local_ca_pair_clear(&g.b);
    X509_free(g.root);
    X509_free(g.intermediate);
    local_ca_destroy(g.ca);
    store_local_ca_clear(&g.persisted);
    return 0;
}

/* ---- the CA itself ---- */

static void test_root(void **state)
{
    char cn[256];
    EVP_PKEY *pub = X509_get0_pubkey(g.root);
    assert_string_equal(pki_key_type_name(pub), "ecdsa");
    assert_int_equal(pki_key_bits(pub), 384);
    /* Self-signed: its own issuer, and its signature verifies under its own key. */
    assert_int_equal(X509_check_issued(g.root, g.root), X509_V_OK);
    assert_int_equal(X509_verify(g.root, pub), 1);
    assert_int_equal(X509_check_ca(g.root), 1);
    assert_true(X509_get_extension_flags(g.root) & EXFLAG_CA);
    assert_true(X509_get_key_usage(g.root) & KU_KEY_CERT_SIGN);
    assert_int_equal(X509_get_pathlen(g.root), -1);
    common_name_of(g.root, cn);
    assert_string_equal(cn, LOCAL_CA_ROOT_NAME);
    assert_string_equal(pki_cert_signature_name(g.root), "ECDSAWithSHA384");
    const int64_t start = g.now - g.now % SEC;
    assert_int_equal(pki_cert_not_after(g.root), start + LOCAL_CA_ROOT_VALIDITY_DAYS * DAY);
    assert_int_equal(pki_cert_not_before(g.root), start - 60 * SEC);
    /* Published as stored. */
    assert_string_equal(local_ca_root_pem(g.ca), g.persisted.root_pem);
    assert_string_equal(local_ca_intermediate_pem(g.ca), g.persisted.intermediate_pem);
}

static void test_intermediate(void **state)
{
    char cn[256];
    EVP_PKEY *pub = X509_get0_pubkey(g.intermediate);
    assert_string_equal(pki_key_type_name(pub), "ecdsa");
    assert_int_equal(pki_key_bits(pub), 256);
    assert_int_equal(X509_check_issued(g.root, g.intermediate), X509_V_OK);
    assert_int_equal(X509_verify(g.intermediate, X509_get0_pubkey(g.root)), 1);
    assert_int_not_equal(X509_verify(g.intermediate, pub), 1); /* not self-signed */
    assert_int_equal(X509_check_ca(g.intermediate), 1);
    assert_int_equal(X509_get_pathlen(g.intermediate), 0);
    common_name_of(g.intermediate, cn);
    assert_string_equal(cn, LOCAL_CA_INTERMEDIATE_NAME);
    const int64_t start = g.now - g.now % SEC;
    assert_int_equal(pki_cert_not_after(g.intermediate),
                     start + LOCAL_CA_INTERMEDIATE_VALIDITY_DAYS * DAY);
    assert_int_equal(pki_cert_not_before(g.intermediate), start - 60 * SEC);
    assert_true(pki_cert_not_after(g.intermediate) < pki_cert_not_after(g.root));

    /* And it chains to the root under X509_STRICT. */
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, g.root), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, g.intermediate, NULL), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

/* ---- the persisted form ---- */

static int try_load(const unsigned char *master, const struct store_local_ca *p)
{
    struct local_ca *ca = (struct local_ca *)1;
    int rc = local_ca_load(master, p, &ca);
    if (rc == 0) {
        assert_non_null(ca);
        local_ca_destroy(ca);
    } else {
        assert_null(ca);
    }
    return rc;
}

static void test_persisted_round_trip(void **state)
{
    assert_int_equal(g.persisted.created_on, g.now);
    assert_true(g.persisted.root_key_sealed_len > SEAL_OVERHEAD);
    assert_true(g.persisted.intermediate_key_sealed_len > SEAL_OVERHEAD);
    /* No plaintext key in a blob. */
    assert_false(
        holds(g.persisted.root_key_sealed, g.persisted.root_key_sealed_len, "PRIVATE KEY"));
    assert_false(holds(g.persisted.intermediate_key_sealed, g.persisted.intermediate_key_sealed_len,
                       "PRIVATE KEY"));

    /* The right master key loads it (again), and the loaded CA signs leaves (setup). */
    assert_int_equal(try_load(g.master, &g.persisted), 0);

    unsigned char wrong[SEAL_KEY_LEN];
    memcpy(wrong, g.master, sizeof wrong);
    wrong[7] ^= 0x01;
    assert_int_equal(try_load(wrong, &g.persisted), -1);
}

static void test_persisted_tampering(void **state)
{
    /* The two sealed keys swapped: each aad names its role and certificate. */
    struct store_local_ca p = g.persisted;
    p.root_key_sealed = g.persisted.intermediate_key_sealed;
    p.root_key_sealed_len = g.persisted.intermediate_key_sealed_len;
    p.intermediate_key_sealed = g.persisted.root_key_sealed;
    p.intermediate_key_sealed_len = g.persisted.root_key_sealed_len;
    assert_int_equal(try_load(g.master, &p), -1);

    /* A flipped ciphertext byte. */
    unsigned char *copy = xmalloc(g.persisted.intermediate_key_sealed_len);
    memcpy(copy, g.persisted.intermediate_key_sealed, g.persisted.intermediate_key_sealed_len);
    copy[20] ^= 0x40;
    p = g.persisted;
    p.intermediate_key_sealed = copy;
    assert_int_equal(try_load(g.master, &p), -1);
    xfree(copy);

    /* Pieces of another CA under the same master key: its intermediate is not signed by
     * this root; its sealed key does not open for this certificate. */
    struct store_local_ca other;
    assert_int_equal(local_ca_create(g.master, g.now, &other), 0);
    p = g.persisted;
    p.intermediate_pem = other.intermediate_pem;
    assert_int_equal(try_load(g.master, &p), -1);
    p = g.persisted;
    p.intermediate_key_sealed = other.intermediate_key_sealed;
    p.intermediate_key_sealed_len = other.intermediate_key_sealed_len;
    assert_int_equal(try_load(g.master, &p), -1);
    assert_int_equal(try_load(g.master, &other), 0);
    store_local_ca_clear(&other);
    assert_null(other.root_pem);

    /* Missing pieces. */
    p = g.persisted;
    p.root_pem = NULL;
    assert_int_equal(try_load(g.master, &p), -1);
    p = g.persisted;
    p.intermediate_key_sealed = NULL;
    p.intermediate_key_sealed_len = 0;
    assert_int_equal(try_load(g.master, &p), -1);
}

/* ---- an issued pair ---- */

/* Chain verification of leaf against the trusted root with the intermediate untrusted,
 * for TLS servers, under X509_STRICT. Returns the verification error. */
static int verify_leaf(X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_true(sk_X509_push(untrusted, g.intermediate) > 0);
    assert_int_equal(X509_STORE_add_cert(store, g.root), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    if (ok == 1)
        assert_int_equal(sk_X509_num(X509_STORE_CTX_get0_chain(ctx)), 3);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    return ok == 1 ? X509_V_OK : (err ? err : -1);
}

static void test_pair_verifies(void **state)
{
    const struct local_ca_leaf *leaves[] = {&g.a.ecdsa, &g.a.rsa, &g.b.ecdsa, &g.b.rsa};
    for (size_t i = 0; i < 4; i++) {
        X509 *leaf = cert_of(leaves[i]->cert_pem);
        int err = verify_leaf(leaf);
        if (err != X509_V_OK)
            fail_msg("leaf %zu: %s", i, X509_verify_cert_error_string(err));
        assert_int_equal(X509_check_ca(leaf), 0);
        /* The wildcard covers one label, and only one. */
        assert_int_equal(X509_check_host(leaf, "example.com", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(leaf, "api.example.com", 0, 0, NULL), 1);
        assert_int_not_equal(X509_check_host(leaf, "a.b.example.com", 0, 0, NULL), 1);
        assert_int_not_equal(X509_check_host(leaf, "example.org", 0, 0, NULL), 1);
        X509_free(leaf);
    }
}

/* Asserts the leaf's DNS SANs are exactly want[0..n), in order, and nothing else. */
static void assert_sans(X509 *cert, const char *const *want, size_t n)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    assert_int_equal(sk_GENERAL_NAME_num(names), (int)n);
    for (size_t i = 0; i < n; i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(names, (int)i);
        int type = -1;
        const ASN1_STRING *value = GENERAL_NAME_get0_value(gen, &type);
        assert_int_equal(type, GEN_DNS);
        assert_int_equal(ASN1_STRING_length(value), (int)strlen(want[i]));
        assert_memory_equal(ASN1_STRING_get0_data(value), want[i], strlen(want[i]));
    }
    GENERAL_NAMES_free(names);
}

static void test_pair_names(void **state)
{
    char cn[256];
    const struct local_ca_leaf *leaves[] = {&g.a.ecdsa, &g.a.rsa};
    for (size_t i = 0; i < 2; i++) {
        X509 *leaf = cert_of(leaves[i]->cert_pem);
        assert_sans(leaf, HOSTS, HOST_COUNT);
        common_name_of(leaf, cn);
        assert_string_equal(cn, HOSTS[0]);
        /* The issuer is the intermediate, by name and by key identifier. */
        assert_int_equal(
            X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(g.intermediate)), 0);
        assert_int_equal(X509_check_issued(g.intermediate, leaf), X509_V_OK);
        X509_free(leaf);
    }
}

static void test_pair_keys(void **state)
{
    X509 *ec_cert = cert_of(g.a.ecdsa.cert_pem), *rsa_cert = cert_of(g.a.rsa.cert_pem);
    EVP_PKEY *ec_key = key_of(&g.a.ecdsa), *rsa_key = key_of(&g.a.rsa);
    assert_int_equal(g.a.ecdsa.key_kind, PKI_KEY_EC_P256);
    assert_string_equal(g.a.ecdsa.key_type, "ecdsa");
    assert_string_equal(g.a.rsa.key_type, "rsa");
    assert_string_equal(pki_key_type_name(ec_key), "ecdsa");
    assert_int_equal(pki_key_bits(ec_key), 256);
    assert_int_equal(g.a.rsa.key_kind, PKI_KEY_RSA_2048);
    assert_string_equal(pki_key_type_name(rsa_key), "rsa");
    assert_int_equal(pki_key_bits(rsa_key), 2048);
    assert_int_equal(X509_check_private_key(ec_cert, ec_key), 1);
    assert_int_equal(X509_check_private_key(rsa_cert, rsa_key), 1);
    assert_int_not_equal(X509_check_private_key(ec_cert, rsa_key), 1);
    assert_int_not_equal(X509_check_private_key(rsa_cert, ec_key), 1);
    /* Leaf keys are not CA keys. */
    assert_int_not_equal(X509_check_private_key(g.intermediate, ec_key), 1);
    assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(g.root), ec_key), 1);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(rsa_key);
    X509_free(ec_cert);
    X509_free(rsa_cert);
}

static void test_pair_facts(void **state)
{
    const int64_t start = g.now - g.now % SEC;
    const struct local_ca_leaf *leaves[] = {&g.a.ecdsa, &g.a.rsa};
    for (size_t i = 0; i < 2; i++) {
        const struct local_ca_leaf *l = leaves[i];
        X509 *leaf = cert_of(l->cert_pem);
        char serial[41];
        pki_cert_serial_hex(leaf, serial, sizeof serial);
        assert_string_equal(l->serial, serial);
        assert_true(strlen(serial) >= 32 && strlen(serial) <= 40);
        assert_string_equal(l->issuer, "tlsward Local Issuing CA");
        assert_string_equal(l->signature, pki_cert_signature_name(leaf));
        /* Signed by the ECDSA P-256 intermediate, whatever the leaf's own key. */
        assert_string_equal(l->signature, "ECDSAWithSHA256");
        /* Exactly the requested window, from now to the second. */
        assert_int_equal(l->not_before, start);
        assert_int_equal(l->not_after, start + 90 * DAY);
        assert_int_equal(pki_cert_not_before(leaf), l->not_before);
        assert_int_equal(pki_cert_not_after(leaf), l->not_after);
        X509_free(leaf);
    }
}

static void test_pair_chain(void **state)
{
    const struct local_ca_leaf *leaves[] = {&g.a.ecdsa, &g.a.rsa};
    for (size_t i = 0; i < 2; i++) {
        const char *chain = leaves[i]->chain_pem;
        assert_non_null(chain);
        assert_memory_equal(chain, leaves[i]->cert_pem, strlen(leaves[i]->cert_pem));
        BIO *bio = BIO_new_mem_buf(chain, -1);
        X509 *certs[3] = {NULL, NULL, NULL};
        int n = 0;
        X509 *c;
        while (n < 3 && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
            certs[n++] = c;
        assert_int_equal(n, 2); /* no root */
        X509 *leaf = cert_of(leaves[i]->cert_pem);
        assert_int_equal(X509_cmp(certs[0], leaf), 0);
        assert_int_equal(X509_cmp(certs[1], g.intermediate), 0);
        X509_free(leaf);
        X509_free(certs[0]);
        X509_free(certs[1]);
        BIO_free(bio);
    }
}

static void test_issuances_differ(void **state)
{
    /* b took its RSA key from the pool. */
    assert_int_equal(g.pool_before, 1);
    assert_int_equal(g.pool_after, 0);

    const struct local_ca_leaf *all[] = {&g.a.ecdsa, &g.a.rsa, &g.b.ecdsa, &g.b.rsa};
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = i + 1; j < 4; j++) {
            assert_string_not_equal(all[i]->serial, all[j]->serial);
            assert_string_not_equal(all[i]->key_pem, all[j]->key_pem);
        }
    }
    EVP_PKEY *ka = key_of(&g.a.ecdsa), *kb = key_of(&g.b.ecdsa);
    assert_int_not_equal(EVP_PKEY_eq(ka, kb), 1);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    ka = key_of(&g.a.rsa), kb = key_of(&g.b.rsa);
    assert_int_not_equal(EVP_PKEY_eq(ka, kb), 1);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
}

/* ---- Common Name variants (one issuance each) ---- */

static void test_branding_common_name(void **state)
{
    static const char *const hosts[] = {"example.com", "*.example.com", "sni.tlsward.local"};
    struct local_ca_request req = request(hosts, 3, "sni.tlsward.local");
    struct local_ca_pair pair;
    const char *why = "unset";
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), 0);
    assert_null(why);
    char cn[256];
    X509 *ec = cert_of(pair.ecdsa.cert_pem), *rsa = cert_of(pair.rsa.cert_pem);
    common_name_of(ec, cn);
    assert_string_equal(cn, "sni.tlsward.local");
    common_name_of(rsa, cn);
    assert_string_equal(cn, "sni.tlsward.local");
    assert_sans(ec, hosts, 3); /* already listed: the SANs are the hosts exactly */
    assert_sans(rsa, hosts, 3);
    assert_int_equal(verify_leaf(rsa), X509_V_OK);
    X509_free(ec);
    X509_free(rsa);
    local_ca_pair_clear(&pair);
    assert_null(pair.rsa.key_pem);
}

static void test_unlisted_and_long_common_names(void **state)
{
    /* A Common Name missing from the hosts joins the SANs, last; a first host over 64
     * characters cannot be a Common Name: the subject is empty. */
    static const char *const hosts[] = {"www.example.com", "example.com"};
    static const char *const want[] = {"www.example.com", "example.com", "sni.tlsward.local"};
    struct local_ca_request req = request(hosts, 2, "sni.tlsward.local");
    struct local_ca_pair pair;
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, NULL), 0);
    X509 *ec = cert_of(pair.ecdsa.cert_pem);
    char cn[256];
    common_name_of(ec, cn);
    assert_string_equal(cn, "sni.tlsward.local");
    assert_sans(ec, want, 3);
    assert_int_equal(verify_leaf(ec), X509_V_OK);
    X509_free(ec);
    local_ca_pair_clear(&pair);

    static const char *const longer[] = {
        "a-very-long-label-that-goes-on-and-on-and-on-and-on.sub.example.com"};
    assert_true(strlen(longer[0]) > 64);
    req = request(longer, 1, NULL);
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, NULL), 0);
    X509 *rsa = cert_of(pair.rsa.cert_pem);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(rsa)), 0);
    assert_sans(rsa, longer, 1);
    assert_int_equal(verify_leaf(rsa), X509_V_OK);
    X509_free(rsa);
    local_ca_pair_clear(&pair);
}

/* ---- concurrency: one loaded CA, one RSA pool, several issuing threads ---- */

#define ISSUERS 4

struct issuer_arg {
    struct key_pool *pool;
    pthread_barrier_t *start;
    int rc;
    struct local_ca_pair pair;
};

static void *issue_thread(void *p)
{
    struct issuer_arg *arg = p;
    struct local_ca_request req = request(HOSTS, HOST_COUNT, NULL);
    pthread_barrier_wait(arg->start);
    arg->rc = local_ca_issue(g.ca, arg->pool, &req, &arg->pair, NULL);
    return NULL;
}

static void test_concurrent_issuance(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_RSA_2048, 2);
    assert_int_equal(key_pool_refill(pool, 0), 2); /* two pooled, two generated inline */
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, ISSUERS), 0);
    struct issuer_arg args[ISSUERS];
    pthread_t threads[ISSUERS];
    for (int i = 0; i < ISSUERS; i++) {
        args[i] = (struct issuer_arg){.pool = pool, .start = &start, .rc = -2};
        assert_int_equal(pthread_create(&threads[i], NULL, issue_thread, &args[i]), 0);
    }
    for (int i = 0; i < ISSUERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].rc, 0);
    }
    assert_int_equal(key_pool_count(pool), 0);
    const struct local_ca_leaf *all[2 * ISSUERS];
    for (int i = 0; i < ISSUERS; i++) {
        all[2 * i] = &args[i].pair.ecdsa;
        all[2 * i + 1] = &args[i].pair.rsa;
    }
    for (int i = 0; i < 2 * ISSUERS; i++) {
        X509 *leaf = cert_of(all[i]->cert_pem);
        assert_int_equal(verify_leaf(leaf), X509_V_OK);
        X509_free(leaf);
        for (int j = i + 1; j < 2 * ISSUERS; j++) {
            assert_string_not_equal(all[i]->serial, all[j]->serial);
            assert_string_not_equal(all[i]->key_pem, all[j]->key_pem);
        }
    }
    for (int i = 0; i < ISSUERS; i++)
        local_ca_pair_clear(&args[i].pair);
    pthread_barrier_destroy(&start);
    key_pool_destroy(pool);
}

/* Requests refused before any key is generated. */
static void test_refusals(void **state)
{
    struct local_ca_pair pair;
    const char *why = NULL;
    struct local_ca_request req = request(HOSTS, HOST_COUNT, NULL);

    req.validity_days = 0;
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);
    assert_null(pair.ecdsa.cert_pem);
    assert_null(pair.rsa.key_pem);

    why = NULL;
    req.validity_days = LOCAL_CA_INTERMEDIATE_VALIDITY_DAYS + 1; /* outlives the issuer */
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);

    why = NULL;
    req = request(HOSTS, 0, NULL);
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);

    const char *many[LOCAL_CA_MAX_HOSTS + 1];
    for (size_t i = 0; i < LOCAL_CA_MAX_HOSTS + 1; i++)
        many[i] = "example.com";
    why = NULL;
    req = request(many, LOCAL_CA_MAX_HOSTS + 1, NULL);
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);

    static const char *const empty[] = {"example.com", ""};
    why = NULL;
    req = request(empty, 2, NULL);
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);

    why = NULL;
    req = request(HOSTS, HOST_COUNT, "");
    assert_int_equal(local_ca_issue(g.ca, NULL, &req, &pair, &why), -1);
    assert_non_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_intermediate),
        cmocka_unit_test(test_persisted_round_trip),
        cmocka_unit_test(test_persisted_tampering),
        cmocka_unit_test(test_pair_verifies),
        cmocka_unit_test(test_pair_names),
        cmocka_unit_test(test_pair_keys),
        cmocka_unit_test(test_pair_facts),
        cmocka_unit_test(test_pair_chain),
        cmocka_unit_test(test_issuances_differ),
        cmocka_unit_test(test_branding_common_name),
        cmocka_unit_test(test_unlisted_and_long_common_names),
        cmocka_unit_test(test_concurrent_issuance),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
