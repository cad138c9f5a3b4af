/* Client CSRs (SPEC §4.8): one bounded PEM block holding a PKCS#10 request whose
 * self-signature verifies under its own public key and whose key meets the policy, and the
 * subject fields the API echoes back, converted to bounded UTF-8.
 *
 * Reading a request is on the signing path of every client certificate, so the common
 * case is read without OpenSSL 3.0's provider decoder: d2i_X509_REQ decodes the public
 * key through OSSL_DECODER, whose set-up alone costs more than checking the request's
 * signature. The fast reading decodes the same PKCS#10 structure with OpenSSL's ASN.1
 * templates, keeps SubjectPublicKeyInfo as encoded and builds the key from its parameters
 * (RSA n and e, or a named P-256/P-384 point). Any request it does not handle (other
 * algorithms or curves, explicit parameters, a version other than v1, encodings OpenSSL's
 * INTEGER reader refuses) goes through d2i_X509_REQ as before, so what is accepted and
 * the reason for a refusal do not depend on which reading ran. */
#include "pki/pki.h"

#include <pthread.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "common/alloc.h"

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

/* PKCS#10 (RFC 2986) as OpenSSL's X509_REQ templates define it, except that
 * SubjectPublicKeyInfo is two plain fields: no key is decoded while reading. */
typedef struct {
    X509_ALGOR *algor;
    ASN1_BIT_STRING *public_key;
} CSR_SPKI;

typedef struct {
    ASN1_ENCODING enc; /* the bytes as received, which the signature covers */
    ASN1_INTEGER *version;
    X509_NAME *subject;
    CSR_SPKI *spki;
    STACK_OF(X509_ATTRIBUTE) * attributes;
} CSR_INFO;

typedef struct {
    CSR_INFO *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} CSR;

/* RSAPublicKey (RFC 8017), read with the BIGNUM type as OpenSSL's own RSA decoder does. */
typedef struct {
    BIGNUM *n;
    BIGNUM *e;
} CSR_RSA_KEY;

/* clang-format off */
ASN1_SEQUENCE(CSR_SPKI) = {
    ASN1_SIMPLE(CSR_SPKI, algor, X509_ALGOR),
    ASN1_SIMPLE(CSR_SPKI, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_SPKI)

ASN1_SEQUENCE_enc(CSR_INFO, enc, NULL) = {
    ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
    ASN1_IMP_SET_OF(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(CSR_INFO, CSR_INFO)

ASN1_SEQUENCE(CSR) = {
    ASN1_SIMPLE(CSR, info, CSR_INFO),
    ASN1_SIMPLE(CSR, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(CSR, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR)

ASN1_SEQUENCE(CSR_RSA_KEY) = {
    ASN1_SIMPLE(CSR_RSA_KEY, n, BIGNUM),
    ASN1_SIMPLE(CSR_RSA_KEY, e, BIGNUM),
} static_ASN1_SEQUENCE_END(CSR_RSA_KEY)

/* One request, read either way: fast (templates above) or req (d2i_X509_REQ). */
struct pki_csr {
    CSR *fast;
    X509_REQ *req;
    X509_PUBKEY *spki; /* fast: made here, key not decoded; req: borrowed from req */
    EVP_PKEY *key;     /* NULL when OpenSSL cannot decode the key */
};
/* clang-format on */

void pki_csr_free(struct pki_csr *csr)
{
    if (!csr)
        return;
    if (csr->fast)
        X509_PUBKEY_free(csr->spki);
    ASN1_item_free((ASN1_VALUE *)csr->fast, ASN1_ITEM_rptr(CSR));
    X509_REQ_free(csr->req);
    EVP_PKEY_free(csr->key);
    xfree(csr);
}

const X509_NAME *pki_csr_subject(const struct pki_csr *csr)
{
    return csr->fast ? csr->fast->info->subject : X509_REQ_get_subject_name(csr->req);
}

EVP_PKEY *pki_csr_key(const struct pki_csr *csr)
{
    return csr->key;
}

X509_PUBKEY *pki_csr_spki(const struct pki_csr *csr)
{
    return csr->spki;
}

/* A public key of the given type from its parameters; NULL when OpenSSL refuses them. */
static EVP_PKEY *key_from_params(const char *type, const OSSL_PARAM *params)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* An RSA key from the RSAPublicKey in bits; NULL when it is not exactly one. */
static EVP_PKEY *rsa_key(const unsigned char *bits, int len)
{
    EVP_PKEY *key = NULL;
    const unsigned char *p = bits;
    CSR_RSA_KEY *rsa = (CSR_RSA_KEY *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(CSR_RSA_KEY));
    OSSL_PARAM_BLD *bld = rsa && p == bits + len ? OSSL_PARAM_BLD_new() : NULL;
    OSSL_PARAM *params = NULL;
    if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, rsa->n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, rsa->e) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)))
        key = key_from_params("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    ASN1_item_free((ASN1_VALUE *)rsa, ASN1_ITEM_rptr(CSR_RSA_KEY));
    return key;
}

/* Domain parameters of the two curves a CSR key may use, made once per process and only
 * read afterwards (any number of threads may copy from them at once). Building a key from
 * its curve's name makes a new EC_GROUP each time (Montgomery set-up, modular inverses),
 * which cost as much as the rest of reading a request; copying the parameters from a
 * ready key does not. They are the same for the whole process, hence static. */
static EVP_PKEY *curve_params[2]; /* P-256, P-384; NULL when OpenSSL refused to make one */
static pthread_once_t curve_params_once = PTHREAD_ONCE_INIT;

static void curve_params_make(void)
{
    static const char *const groups[2] = {"P-256", "P-384"};
    for (size_t i = 0; i < 2; i++) {
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)groups[i], 0),
            OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &curve_params[i], EVP_PKEY_KEY_PARAMETERS,
                              (OSSL_PARAM *)params) != 1)
            curve_params[i] = NULL;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
}

/* An EC key on the named curve (P-256 or P-384) from the encoded point in bits: the curve's
 * parameters copied, then the point decoded (and checked to lie on the curve) by OpenSSL.
 * Built from the curve's name, as before, when the copy is not available. */
static EVP_PKEY *ec_key(int curve_nid, const unsigned char *bits, int len)
{
    bool p256 = curve_nid == NID_X9_62_prime256v1;
    pthread_once(&curve_params_once, curve_params_make);
    EVP_PKEY *params = curve_params[p256 ? 0 : 1];
    if (params) {
        EVP_PKEY *key = EVP_PKEY_new();
        if (key && EVP_PKEY_copy_parameters(key, params) == 1 &&
            EVP_PKEY_set1_encoded_public_key(key, bits, (size_t)len) == 1)
            return key;
        EVP_PKEY_free(key);
        return NULL;
    }
    const char *group = p256 ? "P-256" : "P-384";
    const OSSL_PARAM from_name[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)bits, (size_t)len),
        OSSL_PARAM_construct_end()};
    return key_from_params("EC", from_name);
}

/* The key of a SubjectPublicKeyInfo that the fast reading handles: rsaEncryption (with
 * NULL or absent parameters) or id-ecPublicKey on the named curve P-256 or P-384. */
static EVP_PKEY *spki_key(const CSR_SPKI *spki)
{
    const ASN1_OBJECT *alg = NULL;
    const void *pval = NULL;
    int ptype = V_ASN1_UNDEF;
    X509_ALGOR_get0(&alg, &ptype, &pval, spki->algor);
    const unsigned char *bits = ASN1_STRING_get0_data(spki->public_key);
    int len = ASN1_STRING_length(spki->public_key);
    if (len <= 0)
        return NULL;
    switch (OBJ_obj2nid(alg)) {
    case NID_rsaEncryption:
        return ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF ? rsa_key(bits, len) : NULL;
    case NID_X9_62_id_ecPublicKey: {
        int curve = ptype == V_ASN1_OBJECT ? OBJ_obj2nid(pval) : NID_undef;
        return curve == NID_X9_62_prime256v1 || curve == NID_secp384r1 ? ec_key(curve, bits, len)
                                                                       : NULL;
    }
    default:
        return NULL;
    }
}

/* The SubjectPublicKeyInfo as an X509_PUBKEY holding the encoded fields only (the
 * certificate builder copies them verbatim). */
static X509_PUBKEY *spki_copy(const CSR_SPKI *spki)
{
    const ASN1_OBJECT *alg = NULL;
    const void *pval = NULL;
    int ptype = V_ASN1_UNDEF, len = ASN1_STRING_length(spki->public_key);
    X509_ALGOR_get0(&alg, &ptype, &pval, spki->algor);
    X509_PUBKEY *out = X509_PUBKEY_new();
    ASN1_OBJECT *alg_copy = OBJ_dup(alg);
    ASN1_OBJECT *param = ptype == V_ASN1_OBJECT ? OBJ_dup(pval) : NULL;
    unsigned char *bits = OPENSSL_memdup(ASN1_STRING_get0_data(spki->public_key), (size_t)len);
    if (!out || !alg_copy || (ptype == V_ASN1_OBJECT && !param) || !bits ||
        !X509_PUBKEY_set0_param(out, alg_copy, ptype, param, bits, len)) {
        X509_PUBKEY_free(out);
        ASN1_OBJECT_free(alg_copy);
        ASN1_OBJECT_free(param);
        OPENSSL_free(bits);
        return NULL;
    }
    return out;
}

/* The fast reading of the DER request; NULL when it does not handle this request. */
static struct pki_csr *read_fast(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    CSR *fast = (CSR *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(CSR));
    EVP_PKEY *key = NULL;
    X509_PUBKEY *spki = NULL;
    if (!fast || p != der + len || ASN1_INTEGER_get(fast->info->version) != 0 ||
        !(key = spki_key(fast->info->spki)) || !(spki = spki_copy(fast->info->spki))) {
        EVP_PKEY_free(key);
        ASN1_item_free((ASN1_VALUE *)fast, ASN1_ITEM_rptr(CSR));
        ERR_clear_error();
        return NULL;
    }
    struct pki_csr *csr = xcalloc(1, sizeof *csr);
    *csr = (struct pki_csr){.fast = fast, .spki = spki, .key = key};
    return csr;
}

/* OpenSSL's own reading (d2i_X509_REQ), for every request read_fast leaves. NULL when the
 * DER is not exactly one request; the key is NULL when its algorithm is unknown. */
static struct pki_csr *read_full(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, len);
    if (!req || p != der + len) {
        X509_REQ_free(req);
        return NULL;
    }
    struct pki_csr *csr = xcalloc(1, sizeof *csr);
    csr->req = req;
    csr->spki = X509_REQ_get_X509_PUBKEY(req);
    csr->key = X509_REQ_get_pubkey(req);
    return csr;
}

/* 1 when the request's self-signature verifies under its key. */
static int verify_self(const struct pki_csr *csr)
{
    if (csr->req)
        return X509_REQ_verify(csr->req, csr->key);
    return ASN1_item_verify(ASN1_ITEM_rptr(CSR_INFO), csr->fast->sig_alg, csr->fast->signature,
                            csr->fast->info, csr->key);
}

int pki_csr_parse(const char *pem, size_t len, struct pki_csr **out, const char **why)
{
    const char *reason = WHY_NOT_PEM;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    struct pki_csr *csr = NULL;
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
    if (!(csr = read_fast(der, der_len)) && !(csr = read_full(der, der_len)))
        goto out;
    const char *key_why = NULL;
    if (!csr->key || !pki_key_acceptable(csr->key, &key_why)) {
        reason = csr_key_reason(key_why);
        goto out;
    }
    /* The policy comes first so no effort is spent verifying with a key we refuse. */
    if (verify_self(csr) != 1) {
        reason = "csr: signature does not verify";
        goto out;
    }
    *out = csr;
    csr = NULL;
    reason = NULL;
out:
    if (reason)
        ERR_clear_error(); /* bad input is expected; leave no stale OpenSSL errors behind */
    pki_csr_free(csr);
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
