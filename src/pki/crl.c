/* Certificate revocation lists for the account client CAs (SPEC §4.8): a v2 CRL, sorted by
 * serial, with a CRL number and an authorityKeyIdentifier, signed by the CA and handed out as
 * DER. */
#include "pki/pki.h"
#include "pki/pki_internal.h"

#include "common/alloc.h"

#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define SERIAL_HEX_MAX 40 /* 20 octets, as pki_cert_serial_hex prints ours */

/* A serial as pki_cert_serial_hex prints it (lowercase or uppercase hex digits only) to an
 * ASN1_INTEGER (ASN1_INTEGER_free), or NULL. */
static ASN1_INTEGER *serial_from_hex(const char *hex)
{
    size_t n = hex ? strlen(hex) : 0;
    if (n == 0 || n > SERIAL_HEX_MAX || strspn(hex, "0123456789abcdefABCDEF") != n)
        return NULL;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    if (BN_hex2bn(&bn, hex) == (int)n)
        serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return serial;
}

/* Adds one revoked entry (serial, revocation date) to the CRL. */
static int add_revoked(X509_CRL *crl, const struct pki_revoked *entry)
{
    int rc = -1;
    ASN1_INTEGER *serial = serial_from_hex(entry->serial_hex);
    ASN1_TIME *when = ASN1_TIME_set(NULL, pki__us_to_time(entry->revoked_on_us));
    X509_REVOKED *rev = X509_REVOKED_new();
    if (!serial || !when || !rev || X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
        X509_REVOKED_set_revocationDate(rev, when) != 1 || X509_CRL_add0_revoked(crl, rev) != 1)
        goto out;
    rev = NULL; /* owned by the CRL now */
    rc = 0;
out:
    X509_REVOKED_free(rev);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    return rc;
}

/* thisUpdate and nextUpdate. */
static int set_times(X509_CRL *crl, int64_t this_update_us, int64_t next_update_us)
{
    ASN1_TIME *t = ASN1_TIME_set(NULL, pki__us_to_time(this_update_us));
    int rc = t && X509_CRL_set1_lastUpdate(crl, t) == 1 &&
                     ASN1_TIME_set(t, pki__us_to_time(next_update_us)) &&
                     X509_CRL_set1_nextUpdate(crl, t) == 1
                 ? 0
                 : -1;
    ASN1_TIME_free(t);
    return rc;
}

/* The CRL number and, read from the CA's subjectKeyIdentifier, the AKI. */
static int add_extensions(X509_CRL *crl, X509 *ca, uint64_t crl_number)
{
    int rc = -1;
    X509_EXTENSION *akid = NULL;
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    if (!number || ASN1_INTEGER_set_uint64(number, crl_number) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    akid = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!akid || X509_CRL_add_ext(crl, akid, -1) != 1)
        goto out;
    rc = 0;
out:
    X509_EXTENSION_free(akid);
    ASN1_INTEGER_free(number);
    return rc;
}

int pki_crl_build(X509 *ca, EVP_PKEY *ca_key, uint64_t crl_number, int64_t this_update_us,
                  int64_t next_update_us, const struct pki_revoked *revoked, size_t count,
                  unsigned char **der, size_t *len)
{
    int rc = -1;
    X509_CRL *crl = NULL;
    unsigned char *buf = NULL;
    *der = NULL;
    *len = 0;
    if (!ca || !ca_key || next_update_us <= this_update_us || (count > 0 && !revoked))
        goto out;
    const EVP_MD *md = pki_key_sign_digest(ca_key);
    if (!md || X509_check_private_key(ca, ca_key) != 1)
        goto out;
    crl = X509_CRL_new();
    if (!crl || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        set_times(crl, this_update_us, next_update_us) != 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        if (add_revoked(crl, &revoked[i]) != 0)
            goto out;
    }
    if (X509_CRL_sort(crl) != 1 || add_extensions(crl, ca, crl_number) != 0 ||
        X509_CRL_sign(crl, ca_key, md) <= 0)
        goto out;
    int n = i2d_X509_CRL(crl, NULL);
    if (n <= 0)
        goto out;
    buf = xmalloc((size_t)n);
    unsigned char *p = buf;
    if (i2d_X509_CRL(crl, &p) != n)
        goto out;
    *der = buf;
    *len = (size_t)n;
    buf = NULL;
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error();
    xfree(buf);
    X509_CRL_free(crl);
    return rc;
}
