/* Client CSRs (SPEC §4.8): one bounded PEM block holding a PKCS#10 request whose
 * self-signature verifies under its own public key and whose key meets the policy, and the
 * subject fields the API echoes back, converted to bounded UTF-8. */
#include "pki/pki.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#define WHY_NOT_PEM "csr: not a PEM certificate request"

/* pki_key_acceptable's reasons, as the CSR parser reports them. */
#define CSR_REASON(text)                                                                           \
    {                                                                                              \
        text, "csr: " text                                                                         \
    }
static const struct {
    const char *key, *csr;
} key_reasons[] = {
    CSR_REASON("RSA keys must be at least 2048 bits"),
    CSR_REASON("EC keys must use P-256 or P-384"),
    CSR_REASON("unsupported key type"),
};

static const char *csr_key_reason(const char *key_why)
{
    for (size_t i = 0; i < sizeof key_reasons / sizeof key_reasons[0]; i++) {
        if (key_why && strcmp(key_why, key_reasons[i].key) == 0)
            return key_reasons[i].csr;
    }
    return "csr: unsupported key type";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* The offset of the first non-whitespace byte of s[from, len), or len. */
static size_t skip_space(const char *s, size_t from, size_t len)
{
    while (from < len && is_space(s[from]))
        from++;
    return from;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

int pki_csr_parse(const char *pem, size_t len, X509_REQ **out, const char **why)
{
    const char *reason = WHY_NOT_PEM;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    X509_REQ *req = NULL;
    *out = NULL;

    if (pem && len > PKI_PEM_MAX) {
        reason = "csr: larger than 64 KiB";
        goto out;
    }
    size_t start = pem ? skip_space(pem, 0, len) : 0;
    if (!pem || start == len) {
        reason = "csr: empty";
        goto out;
    }
    /* The block must open the text: no explanatory text before it. */
    if (!starts_with(pem + start, len - start, "-----BEGIN "))
        goto out;
    bio = BIO_new_mem_buf(pem + start, (int)(len - start));
    if (!bio || PEM_read_bio(bio, &name, &header, &der, &der_len) != 1)
        goto out;
    if (strcmp(name, PEM_STRING_X509_REQ) != 0 && strcmp(name, PEM_STRING_X509_REQ_OLD) != 0)
        goto out;
    if (header[0] != '\0') /* Proc-Type / DEK-Info have no place in a CSR */
        goto out;
    /* A read-only memory BIO advances past what PEM_read_bio consumed: the rest must be
     * blank. */
    char *rest = NULL;
    long rest_len = BIO_get_mem_data(bio, &rest);
    if (rest_len > 0) {
        size_t next = skip_space(rest, 0, (size_t)rest_len);
        if (next < (size_t)rest_len) {
            reason = starts_with(rest + next, (size_t)rest_len - next, "-----BEGIN ")
                         ? "csr: expected exactly one certificate request"
                         : "csr: unexpected data after the certificate request";
            goto out;
        }
    }
    const unsigned char *p = der;
    req = d2i_X509_REQ(NULL, &p, der_len);
    if (!req || p != der + der_len)
        goto out;
    EVP_PKEY *key = X509_REQ_get0_pubkey(req); /* NULL when the algorithm is unknown */
    const char *key_why = NULL;
    if (!key || !pki_key_acceptable(key, &key_why)) {
        reason = csr_key_reason(key_why);
        goto out;
    }
    /* The policy comes first so no effort is spent verifying with a key we refuse. */
    if (X509_REQ_verify(req, key) != 1) {
        reason = "csr: signature does not verify";
        goto out;
    }
    *out = req;
    req = NULL;
    reason = NULL;
out:
    if (reason)
        ERR_clear_error(); /* bad input is expected; leave no stale OpenSSL errors behind */
    X509_REQ_free(req);
    OPENSSL_free(der);
    OPENSSL_free(header);
    OPENSSL_free(name);
    BIO_free(bio);
    if (why)
        *why = reason;
    return reason ? -1 : 0;
}

/* Copies the first entry of `nid` in `name` into out (size bytes) as UTF-8, truncated at a
 * character boundary and at any embedded NUL; "" when absent or not convertible. */
static void copy_field(const X509_NAME *name, int nid, char *out, size_t size)
{
    out[0] = '\0';
    int loc = X509_NAME_get_index_by_NID(name, nid, -1);
    if (loc < 0)
        return;
    const ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, loc));
    unsigned char *utf8 = NULL;
    int n = value ? ASN1_STRING_to_UTF8(&utf8, value) : -1;
    if (n < 0) {
        ERR_clear_error();
        return;
    }
    size_t len = strnlen((const char *)utf8, (size_t)n);
    if (len > size - 1) {
        len = size - 1;
        while (len > 0 && (utf8[len] & 0xC0) == 0x80) /* never split a sequence */
            len--;
    }
    memcpy(out, utf8, len);
    out[len] = '\0';
    OPENSSL_free(utf8);
}

void pki_subject_fields(const X509_NAME *name, struct pki_subject *out)
{
    static const struct {
        int nid;
        size_t offset;
    } fields[] = {
        {NID_commonName, offsetof(struct pki_subject, common_name)},
        {NID_countryName, offsetof(struct pki_subject, country)},
        {NID_stateOrProvinceName, offsetof(struct pki_subject, state)},
        {NID_localityName, offsetof(struct pki_subject, locality)},
        {NID_organizationName, offsetof(struct pki_subject, organization)},
        {NID_organizationalUnitName, offsetof(struct pki_subject, organizational_unit)},
    };
    _Static_assert(sizeof out->common_name == 256, "every field is 256 bytes");
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char *field = (char *)out + fields[i].offset;
        if (name)
            copy_field(name, fields[i].nid, field, sizeof out->common_name);
        else
            field[0] = '\0';
    }
}
