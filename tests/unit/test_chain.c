/* Unit tests of pki/chain: a root → intermediate → leaf hierarchy made with pki_cert_issue,
 * the root written into a temporary trust directory; each bundle method's chain and
 * verdict, a missing intermediate and an unknown root (untrusted, with OpenSSL's message),
 * and the inputs pki_chain_parse refuses (garbage, damaged blocks, private keys, more than
 * ten certificates, over 64 KiB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "pki/chain.h"
#include "pki/pki.h"

#define SEC 1000000LL

/* Made once in main (key generation is slow under the sanitizers). */
static EVP_PKEY *root_key, *int_key, *leaf_key, *other_key;
static X509 *root, *inter, *leaf, *other_root;
static char trust_dir[] = "/tmp/test_chain.XXXXXX";
static char empty_dir[] = "/tmp/test_chain_empty.XXXXXX";

static X509 *issue(enum pki_profile profile, EVP_PKEY *key, const char *cn, X509 *ca,
                   EVP_PKEY *ca_key)
{
    static const char *const dns[] = {"example.com", "*.example.com"};
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1, -1, 0),
                     1);
    int64_t now = util_now_us();
    struct pki_cert_spec spec = {
        .profile = profile,
        .subject_key = key,
        .subject = name,
        .issuer = ca,
        .issuer_key = ca_key,
        .not_before_us = now - 60 * SEC,
        .not_after_us = now + 86400 * SEC,
        .dns_names = profile == PKI_PROFILE_SERVER ? dns : NULL,
        .dns_count = profile == PKI_PROFILE_SERVER ? 2 : 0,
        .path_len = -1,
    };
    X509 *cert = pki_cert_issue(&spec);
    assert_non_null(cert);
    X509_NAME_free(name);
    return cert;
}

static char *pem_of(X509 *cert)
{
    char *pem;
    size_t len;
    assert_int_equal(pki_cert_to_pem(cert, &pem, &len), 0);
    return pem;
}

static STACK_OF(X509) *stack_of(X509 *a, X509 *b, X509 *c)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *v[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (v[i]) {
            X509_up_ref(v[i]);
            sk_X509_push(sk, v[i]);
        }
    return sk;
}

/* Builds the chain of `given` against `dir` and checks its certificates one by one. */
static void check_chain(const char *dir, STACK_OF(X509) *given, enum pki_bundle_method m,
                        bool trusted, X509 *const *want, int want_count, const char *error)
{
    X509_STORE *store = pki_trust_store_create(dir);
    assert_non_null(store);
    struct pki_chain c;
    assert_int_equal(pki_chain_build(store, given, m, &c), 0);
    assert_int_equal(c.trusted, trusted);
    assert_int_equal(sk_X509_num(c.certs), want_count);
    for (int i = 0; i < want_count; i++)
        assert_int_equal(X509_cmp(sk_X509_value(c.certs, i), want[i]), 0);
    if (error) {
        assert_true(c.error_count >= 1);
        assert_string_equal(c.errors[0], error);
    } else {
        assert_int_equal(c.error_count, 0);
    }
    pki_chain_clear(&c);
    X509_STORE_free(store);
    sk_X509_pop_free(given, X509_free);
}

static void test_ubiquitous_includes_root(void **state)
{
    X509 *want[] = {leaf, inter, root};
    check_chain(trust_dir, stack_of(leaf, inter, NULL), PKI_BUNDLE_UBIQUITOUS, true, want, 3,
                NULL);
}

static void test_optimal_excludes_root(void **state)
{
    X509 *want[] = {leaf, inter};
    check_chain(trust_dir, stack_of(leaf, inter, NULL), PKI_BUNDLE_OPTIMAL, true, want, 2, NULL);
    /* The root sent along is dropped too. */
    check_chain(trust_dir, stack_of(leaf, inter, root), PKI_BUNDLE_OPTIMAL, true, want, 2, NULL);
}

static void test_force_as_given(void **state)
{
    X509 *want[] = {leaf, other_root, inter};
    check_chain(trust_dir, stack_of(leaf, other_root, inter), PKI_BUNDLE_FORCE, true, want, 3,
                NULL);
    X509 *alone[] = {leaf};
    check_chain(trust_dir, stack_of(leaf, NULL, NULL), PKI_BUNDLE_FORCE, false, alone, 1,
                "unable to get local issuer certificate");
}

static void test_missing_intermediate(void **state)
{
    X509 *want[] = {leaf};
    check_chain(trust_dir, stack_of(leaf, NULL, NULL), PKI_BUNDLE_UBIQUITOUS, false, want, 1,
                "unable to get local issuer certificate");
    check_chain(trust_dir, stack_of(leaf, NULL, NULL), PKI_BUNDLE_OPTIMAL, false, want, 1,
                "unable to get local issuer certificate");
}

static void test_untrusted_root(void **state)
{
    X509 *want[] = {leaf, inter};
    check_chain(empty_dir, stack_of(leaf, inter, NULL), PKI_BUNDLE_UBIQUITOUS, false, want, 2,
                "unable to get local issuer certificate");
    X509 *with_root[] = {leaf, inter, root};
    check_chain(empty_dir, stack_of(leaf, inter, root), PKI_BUNDLE_UBIQUITOUS, false, with_root,
                3, "self-signed certificate in certificate chain");
    /* A directory that does not exist is an empty one. */
    check_chain("/nonexistent/trust", stack_of(leaf, inter, NULL), PKI_BUNDLE_UBIQUITOUS, false,
                want, 2, "unable to get local issuer certificate");
}

static void expect_refused(const char *pem, const char *why_part)
{
    STACK_OF(X509) *certs = (STACK_OF(X509) *)1;
    const char *why = NULL;
    assert_int_equal(pki_chain_parse(pem, strlen(pem), &certs, &why), -1);
    assert_null(certs);
    assert_non_null(why);
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static void test_parse(void **state)
{
    char *l = pem_of(leaf), *i = pem_of(inter);
    char *both = xasprintf("junk before\n%s\n%s", l, i);
    STACK_OF(X509) *certs = NULL;
    const char *why = NULL;
    assert_int_equal(pki_chain_parse(both, strlen(both), &certs, &why), 0);
    assert_int_equal(sk_X509_num(certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), leaf), 0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), inter), 0);
    sk_X509_pop_free(certs, X509_free);

    expect_refused("", "no PEM certificate");
    expect_refused("hello world", "no PEM certificate");
    expect_refused("-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n",
                   "not a valid PEM certificate");
    char *damaged = xasprintf("%s%s", l, "-----BEGIN CERTIFICATE-----\nMIIB\n");
    expect_refused(damaged, "not a valid PEM certificate");

    char *key_pem;
    size_t key_len;
    assert_int_equal(pki_key_to_pem(leaf_key, &key_pem, &key_len), 0);
    char *with_key = xasprintf("%s%s", l, key_pem);
    expect_refused(with_key, "private key");
    expect_refused("-----BEGIN EC PRIVATE KEY-----\n", "private key");

    size_t size = 11 * strlen(l) + 1;
    char *eleven = xcalloc(1, size), *ten = xcalloc(1, size);
    for (int n = 0; n < 11; n++) {
        strcat(eleven, l);
        if (n < 10)
            strcat(ten, l);
    }
    expect_refused(eleven, "more than 10");
    assert_int_equal(pki_chain_parse(ten, strlen(ten), &certs, &why), 0);
    assert_int_equal(sk_X509_num(certs), 10);
    sk_X509_pop_free(certs, X509_free);

    char *big = xmalloc(PKI_PEM_MAX + 2);
    memset(big, ' ', PKI_PEM_MAX + 1);
    big[PKI_PEM_MAX + 1] = '\0';
    memcpy(big, l, strlen(l));
    expect_refused(big, "64 KiB");

    xfree(big);
    xfree(ten);
    xfree(eleven);
    xfree(with_key);
    xfree(key_pem);
    xfree(damaged);
    xfree(both);
    xfree(i);
    xfree(l);
}

static void test_dns_names_and_methods(void **state)
{
    char **names;
    size_t count;
    pki_cert_dns_names(leaf, &names, &count);
    assert_int_equal(count, 2);
    assert_string_equal(names[0], "example.com");
    assert_string_equal(names[1], "*.example.com");
    for (size_t n = 0; n < count; n++)
        xfree(names[n]);
    xfree(names);
    pki_cert_dns_names(root, &names, &count);
    assert_int_equal(count, 0);
    assert_null(names);

    enum pki_bundle_method m;
    assert_int_equal(pki_bundle_method_parse("optimal", &m), 0);
    assert_int_equal(m, PKI_BUNDLE_OPTIMAL);
    assert_int_equal(pki_bundle_method_parse("force", &m), 0);
    assert_int_equal(m, PKI_BUNDLE_FORCE);
    assert_int_equal(pki_bundle_method_parse("ubiquitous", &m), 0);
    assert_int_equal(m, PKI_BUNDLE_UBIQUITOUS);
    assert_int_equal(pki_bundle_method_parse("Optimal", &m), -1);
    assert_int_equal(pki_bundle_method_parse(NULL, &m), -1);
}

/* The hierarchy, and the trust directory with the root (plus a file that is not PEM, which
 * the store must skip). */
/* Whether leaf+inter verifies against the cache's current store. */
static bool cache_trusts(struct pki_trust_cache *cache)
{
    X509_STORE *store = pki_trust_cache_get(cache);
    assert_non_null(store);
    struct pki_chain c;
    STACK_OF(X509) *given = stack_of(leaf, inter, NULL);
    assert_int_equal(pki_chain_build(store, given, PKI_BUNDLE_UBIQUITOUS, &c), 0);
    bool trusted = c.trusted;
    pki_chain_clear(&c);
    sk_X509_pop_free(given, X509_free);
    X509_STORE_free(store);
    return trusted;
}

/* The cache keeps one store and rebuilds it when a file appears in, or leaves, its dir. */
static void test_trust_cache_reloads(void **state)
{
    char dir[] = "/tmp/test_chain_cache.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct pki_trust_cache *cache = pki_trust_cache_create(dir);
    assert_false(cache_trusts(cache));
    X509_STORE *a = pki_trust_cache_get(cache), *b = pki_trust_cache_get(cache);
    assert_ptr_equal(a, b); /* unchanged directory: the same store */
    X509_STORE_free(a);
    X509_STORE_free(b);

    char *path = xasprintf("%s/root.pem", dir), *pem = pem_of(root);
    assert_int_equal(fsutil_write_atomic(path, pem, strlen(pem), 0644, 1), 0);
    assert_true(cache_trusts(cache)); /* picked up without a new cache */
    assert_int_equal(unlink(path), 0);
    assert_false(cache_trusts(cache));

    pki_trust_cache_destroy(cache);
    xfree(pem);
    xfree(path);
    assert_int_equal(rmdir(dir), 0);
}

static int group_setup(void **state)
{
    root = issue(PKI_PROFILE_CA, root_key, "Test Root", NULL, root_key);
    inter = issue(PKI_PROFILE_CA, int_key, "Test Intermediate", root, root_key);
    leaf = issue(PKI_PROFILE_SERVER, leaf_key, "example.com", inter, int_key);
    other_root = issue(PKI_PROFILE_CA, other_key, "Other Root", NULL, other_key);
    char *pem = pem_of(root);
    char *path = xasprintf("%s/root.pem", trust_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(pem, f);
    fclose(f);
    xfree(path);
    path = xasprintf("%s/README", trust_dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    xfree(path);
    xfree(pem);
    return 0;
}

static int group_teardown(void **state)
{
    char *path = xasprintf("%s/root.pem", trust_dir);
    unlink(path);
    xfree(path);
    path = xasprintf("%s/README", trust_dir);
    unlink(path);
    xfree(path);
    rmdir(trust_dir);
    rmdir(empty_dir);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    X509_free(other_root);
    return 0;
}

int main(void)
{
    root_key = pki_key_generate(PKI_KEY_EC_P256);
    int_key = pki_key_generate(PKI_KEY_EC_P256);
    leaf_key = pki_key_generate(PKI_KEY_EC_P256);
    other_key = pki_key_generate(PKI_KEY_EC_P256);
    if (!root_key || !int_key || !leaf_key || !other_key || !mkdtemp(trust_dir) ||
        !mkdtemp(empty_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ubiquitous_includes_root),
        cmocka_unit_test(test_optimal_excludes_root),
        cmocka_unit_test(test_force_as_given),
        cmocka_unit_test(test_missing_intermediate),
        cmocka_unit_test(test_untrusted_root),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_dns_names_and_methods),
        cmocka_unit_test(test_trust_cache_reloads),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    return rc;
}
