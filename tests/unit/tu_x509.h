/* X.509 helpers shared by the pki unit suites (header-only, cmocka assertions). */
#ifndef TLSWARD_TESTS_TU_X509_H
#define TLSWARD_TESTS_TU_X509_H

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <time.h>

/* A name of O=org (left out when org is NULL) and CN=cn. */
static inline X509_NAME *tu_x509_name(const char *org, const char *cn)
{
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    if (org)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                    (const unsigned char *)org, -1, -1, 0),
                         1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    return name;
}

/* Chain verification of leaf against the trusted ca for a purpose, under X509_STRICT, at
 * `at` (seconds since the epoch; 0: now). Returns the verification error (X509_V_OK on
 * success). */
static inline int tu_x509_verify(X509 *ca, X509 *leaf, int purpose, time_t at)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    if (at)
        X509_STORE_CTX_set_time(ctx, 0, at);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    assert_int_equal(ok == 1, err == X509_V_OK);
    return err;
}

#endif
