/* X.509 helpers shared by the pki unit suites (header-only, cmocka assertions). */
#ifndef TLSWARD_TESTS_TU_X509_H
#define TLSWARD_TESTS_TU_X509_H

#include <openssl/x509.h>

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

#endif
