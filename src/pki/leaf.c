/* Client leaves from a per-CA template (pki.h): the certificate pki_cert_issue makes for a
 * client profile, byte for byte, without an X509 object per leaf.
 *
 * Why: building the X509 (duplicating names and keys into it, adding five extensions
 * through OpenSSL's extension stack, encoding the TBS to sign it and the whole certificate
 * again for its PEM, then reading the serial, SKI and times back out of it) cost as much as
 * a tenth of the RSA signature. Everything but the serial, validity, subject, public key
 * and subjectKeyIdentifier is the same for every leaf of a CA, so it is encoded once.
 *
 * Every value is encoded by OpenSSL (i2d_*); this file only concatenates encodings and
 * writes SEQUENCE / context-tag headers around them with ASN1_put_object. The layout is
 * RFC 5280's TBSCertificate: version [0], serial, signature algorithm, issuer, validity,
 * subject, subjectPublicKeyInfo, extensions [3] (basicConstraints, keyUsage,
 * extendedKeyUsage, subjectKeyIdentifier, authorityKeyIdentifier, then the optional
 * cRLDistributionPoints and authorityInfoAccess: pki_cert_issue's order). */
#include "pki/pki.h"
#include "pki/pki_internal.h"

#include <stdatomic.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/util.h"

/* One encoding made by OpenSSL, owned (OPENSSL_free). */
struct der {
    unsigned char *p;
    int len;
};

struct pki_leaf_template {
    atomic_int refs;
    EVP_PKEY *key; /* the CA's signing key (a reference) */
    const EVP_MD *md;
    /* A signing context initialised once (digest and key fetched, checked and set up):
     * each leaf signs with a copy, which costs a tenth of initialising one. Only copied
     * from, never used itself, so threads share it. NULL: each leaf initialises its own. */
    EVP_MD_CTX *sign_proto;
    const char *signature; /* pki_cert_signature_name of every leaf */
    struct der version;    /* [0] EXPLICIT INTEGER 2 */
    struct der sig_alg;    /* AlgorithmIdentifier, in the TBS and after it */
    struct der issuer;     /* the CA's subject Name */
    struct der pre[2];     /* basicConstraints, keyUsage, EKU clientAuth: [0] EC, [1] RSA */
    struct der post;       /* authorityKeyIdentifier [, cRLDistributionPoints] [, AIA] */
};

static void der_free(struct der *d)
{
    OPENSSL_free(d->p);
    *d = (struct der){0};
}

/* Appends the encoding of ext to d (d grows; a new buffer each time, made once per CA). */
static int der_append_ext(struct der *d, const X509_EXTENSION *ext)
{
    unsigned char *one = NULL;
    int n = ext ? i2d_X509_EXTENSION((X509_EXTENSION *)ext, &one) : -1;
    if (n <= 0)
        return -1;
    unsigned char *grown = OPENSSL_realloc(d->p, (size_t)(d->len + n));
    if (!grown) {
        OPENSSL_free(one);
        return -1;
    }
    memcpy(grown + d->len, one, (size_t)n);
    d->p = grown;
    d->len += n;
    OPENSSL_free(one);
    return 0;
}

/* The issuer's authorityKeyIdentifier for its leaves: its own subjectKeyIdentifier as the
 * keyIdentifier alone (as pki_cert_issue makes it). NULL when the issuer has none. */
static X509_EXTENSION *aki_ext(X509 *issuer)
{
    ASN1_OCTET_STRING *issuer_id = X509_get_ext_d2i(issuer, NID_subject_key_identifier, NULL, NULL);
    AUTHORITY_KEYID *akid = issuer_id ? AUTHORITY_KEYID_new() : NULL;
    X509_EXTENSION *ext = NULL;
    if (akid) {
        akid->keyid = issuer_id;
        issuer_id = NULL;
        ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
    }
    ASN1_OCTET_STRING_free(issuer_id);
    AUTHORITY_KEYID_free(akid);
    return ext;
}

/* The signature AlgorithmIdentifier OpenSSL writes for this key and digest: the combined
 * OID, with NULL parameters for RSA PKCS#1 v1.5 and none for ECDSA. */
static int sig_alg_der(EVP_PKEY *key, const EVP_MD *md, struct der *out, const char **name)
{
    static const struct {
        const char *type;
        int pkey_nid, ptype;
    } kinds[] = {
        {"RSA", NID_rsaEncryption, V_ASN1_NULL},
        {"EC", NID_X9_62_id_ecPublicKey, V_ASN1_UNDEF},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int sig_nid = NID_undef;
        if (!EVP_PKEY_is_a(key, kinds[i].type) ||
            !OBJ_find_sigid_by_algs(&sig_nid, EVP_MD_get_type(md), kinds[i].pkey_nid))
            continue;
        X509_ALGOR *alg = X509_ALGOR_new();
        if (!alg || !X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid), kinds[i].ptype, NULL) ||
            (out->len = i2d_X509_ALGOR(alg, &out->p)) <= 0) {
            X509_ALGOR_free(alg);
            return -1;
        }
        X509_ALGOR_free(alg);
        *name = pki__signature_name(sig_nid);
        return 0;
    }
    return -1;
}

/* [0] EXPLICIT INTEGER 2 (v3). */
static int version_der(struct der *out)
{
    ASN1_INTEGER *v = ASN1_INTEGER_new();
    int n = v && ASN1_INTEGER_set(v, X509_VERSION_3) == 1 ? i2d_ASN1_INTEGER(v, NULL) : -1;
    if (n > 0) {
        out->len = ASN1_object_size(1, n, 0);
        unsigned char *p = out->p = OPENSSL_malloc((size_t)out->len);
        if (p) {
            ASN1_put_object(&p, 1, n, 0, V_ASN1_CONTEXT_SPECIFIC);
            i2d_ASN1_INTEGER(v, &p);
        }
    }
    ASN1_INTEGER_free(v);
    return out->p ? 0 : -1;
}

struct pki_leaf_template *pki_leaf_template_create(X509 *issuer, EVP_PKEY *issuer_key,
                                                   const char *crl_url, const char *ca_issuers_url)
{
    struct pki_leaf_template *t = xcalloc(1, sizeof *t);
    X509_EXTENSION *aki = NULL, *crl = NULL, *aia = NULL;
    bool ok = false;
    atomic_init(&t->refs, 1);
    if (!issuer || !issuer_key || X509_check_private_key(issuer, issuer_key) != 1 ||
        !(t->md = pki_key_sign_digest(issuer_key)))
        goto out;
    t->key = issuer_key;
    EVP_PKEY_up_ref(issuer_key);
    if (!(t->sign_proto = EVP_MD_CTX_new()) ||
        EVP_DigestSignInit(t->sign_proto, NULL, t->md, NULL, issuer_key) != 1) {
        EVP_MD_CTX_free(t->sign_proto);
        t->sign_proto = NULL;
    }
    if (sig_alg_der(issuer_key, t->md, &t->sig_alg, &t->signature) != 0 ||
        version_der(&t->version) != 0 ||
        (t->issuer.len = i2d_X509_NAME(X509_get_subject_name(issuer), &t->issuer.p)) <= 0)
        goto out;
    for (int rsa = 0; rsa < 2; rsa++) {
        if (der_append_ext(&t->pre[rsa], pki__leaf_ext(LEAF_BC)) != 0 ||
            der_append_ext(&t->pre[rsa], pki__leaf_ext(rsa ? LEAF_KU_RSA : LEAF_KU_EC)) != 0 ||
            der_append_ext(&t->pre[rsa], pki__leaf_ext(LEAF_EKU_CLIENT)) != 0)
            goto out;
    }
    if (!(aki = aki_ext(issuer)) || der_append_ext(&t->post, aki) != 0)
        goto out;
    if (crl_url && (!(crl = pki__crl_dp_ext(crl_url)) || der_append_ext(&t->post, crl) != 0))
        goto out;
    if (ca_issuers_url &&
        (!(aia = pki__ca_issuers_ext(ca_issuers_url)) || der_append_ext(&t->post, aia) != 0))
        goto out;
    ok = true;
out:
    X509_EXTENSION_free(aki);
    X509_EXTENSION_free(crl);
    X509_EXTENSION_free(aia);
    if (!ok) {
        ERR_clear_error();
        pki_leaf_template_destroy(t);
        t = NULL;
    }
    return t;
}

void pki_leaf_template_up_ref(struct pki_leaf_template *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void pki_leaf_template_destroy(struct pki_leaf_template *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    EVP_MD_CTX_free(t->sign_proto);
    EVP_PKEY_free(t->key);
    der_free(&t->version);
    der_free(&t->sig_alg);
    der_free(&t->issuer);
    der_free(&t->pre[0]);
    der_free(&t->pre[1]);
    der_free(&t->post);
    xfree(t);
}

void pki_leaf_clear(struct pki_leaf *leaf)
{
    xfree(leaf->der);
    xfree(leaf->pem);
    memset(leaf, 0, sizeof *leaf);
}

/* SubjectPublicKeyInfo as two plain fields, encoded like X509_PUBKEY without building
 * one (and without decoding the key). */
typedef struct {
    X509_ALGOR *algor;
    ASN1_BIT_STRING *public_key;
} LEAF_SPKI;

/* clang-format off */
ASN1_SEQUENCE(LEAF_SPKI) = {
    ASN1_SIMPLE(LEAF_SPKI, algor, X509_ALGOR),
    ASN1_SIMPLE(LEAF_SPKI, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(LEAF_SPKI)
/* clang-format on */

/* The leaf's public key as pki_cert_issue writes it: the request's algorithm identifier and
 * key bits (none, NULL or a curve OID as parameters) read in place, or, for other
 * parameters or without a request, the key's own encoding (made holds it). */
struct leaf_key {
    X509_PUBKEY *made;
    X509_ALGOR *algor;    /* borrowed */
    ASN1_BIT_STRING bits; /* points into the request or made; whole octets */
    LEAF_SPKI spki;
};

static int leaf_key_init(struct leaf_key *k, EVP_PKEY *key, X509_PUBKEY *from)
{
    const unsigned char *bits = NULL;
    int bits_len = 0, ptype = V_ASN1_UNDEF;
    memset(k, 0, sizeof *k);
    if (from && X509_PUBKEY_get0_param(NULL, &bits, &bits_len, &k->algor, from) && k->algor &&
        bits_len > 0) {
        X509_ALGOR_get0(NULL, &ptype, NULL, k->algor);
        if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
            bits_len = 0;
    }
    if (bits_len <= 0 && (X509_PUBKEY_set(&k->made, key) != 1 ||
                          !X509_PUBKEY_get0_param(NULL, &bits, &bits_len, &k->algor, k->made) ||
                          !k->algor || bits_len <= 0))
        return -1;
    /* As a copy into a new X509_PUBKEY sets it: no unused bits. */
    k->bits = (ASN1_BIT_STRING){.length = bits_len,
                                .type = V_ASN1_BIT_STRING,
                                .data = (unsigned char *)bits,
                                .flags = ASN1_STRING_FLAG_BITS_LEFT};
    k->spki = (LEAF_SPKI){.algor = k->algor, .public_key = &k->bits};
    return 0;
}

/* The encoding of the key into *p (advanced), or its length with p NULL. */
static int leaf_key_i2d(struct leaf_key *k, unsigned char **p)
{
    return ASN1_item_i2d((ASN1_VALUE *)&k->spki, p, ASN1_ITEM_rptr(LEAF_SPKI));
}

/* subjectKeyIdentifier: SHA-1 over the key bits (RFC 5280 §4.2.1.2, method 1), the digest
 * also returned in md. */
static X509_EXTENSION *ski_ext(const struct leaf_key *k, unsigned char md[SHA_DIGEST_LENGTH])
{
    X509_EXTENSION *ext = NULL;
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    if (ski && SHA1(k->bits.data, (size_t)k->bits.length, md) &&
        ASN1_OCTET_STRING_set(ski, md, SHA_DIGEST_LENGTH) == 1)
        ext = X509V3_EXT_i2d(NID_subject_key_identifier, 0, ski);
    ASN1_OCTET_STRING_free(ski);
    return ext;
}

/* The serial's INTEGER from its 20 bytes, as BN_to_ASN1_INTEGER makes it (the magnitude
 * without leading zero bytes), and its hex as pki_cert_serial_hex prints it. */
static ASN1_INTEGER *serial_integer(const unsigned char raw[PKI__SERIAL_LEN], char hex[41])
{
    size_t skip = 0;
    while (skip < PKI__SERIAL_LEN - 1 && raw[skip] == 0)
        skip++;
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    if (!serial || ASN1_STRING_set(serial, raw + skip, (int)(PKI__SERIAL_LEN - skip)) != 1) {
        ASN1_INTEGER_free(serial);
        return NULL;
    }
    util_hex(raw + skip, PKI__SERIAL_LEN - skip, hex);
    return serial;
}

/* Signs tbs and writes the certificate (SEQUENCE { tbs, algorithm, BIT STRING }) into
 * out->der. */
static int sign_into(const struct pki_leaf_template *t, const unsigned char *tbs, int tbs_len,
                     struct pki_leaf *out)
{
    int rc = -1;
    size_t sig_len = (size_t)EVP_PKEY_get_size(t->key);
    unsigned char *sig = xmalloc(sig_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    bool ready = ctx && t->sign_proto && EVP_MD_CTX_copy_ex(ctx, t->sign_proto) == 1;
    if (!ready && ctx)
        ERR_clear_error();
    if (!ctx || !bits || (!ready && EVP_DigestSignInit(ctx, NULL, t->md, NULL, t->key) != 1) ||
        EVP_DigestSign(ctx, sig, &sig_len, tbs, (size_t)tbs_len) != 1 ||
        ASN1_STRING_set(bits, sig, (int)sig_len) != 1)
        goto out;
    /* No unused bits: the signature is whole octets (as OpenSSL's own signing sets it). */
    bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    int bits_len = i2d_ASN1_BIT_STRING(bits, NULL);
    int content = tbs_len + t->sig_alg.len + bits_len;
    if (bits_len <= 0)
        goto out;
    int total = ASN1_object_size(1, content, V_ASN1_SEQUENCE);
    unsigned char *p = out->der = xmalloc((size_t)total);
    ASN1_put_object(&p, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, tbs, (size_t)tbs_len);
    p += tbs_len;
    memcpy(p, t->sig_alg.p, (size_t)t->sig_alg.len);
    p += t->sig_alg.len;
    i2d_ASN1_BIT_STRING(bits, &p);
    out->der_len = (size_t)total;
    rc = 0;
out:
    ASN1_BIT_STRING_free(bits);
    EVP_MD_CTX_free(ctx);
    xfree(sig);
    return rc;
}

int pki_leaf_issue(const struct pki_leaf_template *t, EVP_PKEY *subject_key,
                   X509_PUBKEY *subject_spki, const X509_NAME *subject, int64_t not_before_us,
                   int64_t not_after_us, const unsigned char *fixed_serial, struct pki_leaf *out)
{
    int rc = -1;
    unsigned char raw[PKI__SERIAL_LEN], md[SHA_DIGEST_LENGTH], fp[32];
    unsigned char *tbs = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *nb = NULL, *na = NULL;
    struct leaf_key key = {0};
    X509_EXTENSION *ski = NULL;
    memset(out, 0, sizeof *out);
    if (!t || !subject_key || !subject || not_after_us <= not_before_us)
        goto out;
    pki__serial_bytes(fixed_serial, raw);
    /* ASN1_TIME_set picks UTCTime through 2049 and GeneralizedTime after (RFC 5280). */
    if (!(serial = serial_integer(raw, out->serial)) ||
        !(nb = ASN1_TIME_set(NULL, pki__us_to_time(not_before_us))) ||
        !(na = ASN1_TIME_set(NULL, pki__us_to_time(not_after_us))) ||
        leaf_key_init(&key, subject_key, subject_spki) != 0 || !(ski = ski_ext(&key, md)))
        goto out;
    X509_NAME *name = (X509_NAME *)subject;
    int serial_len = i2d_ASN1_INTEGER(serial, NULL), nb_len = i2d_ASN1_TIME(nb, NULL),
        na_len = i2d_ASN1_TIME(na, NULL), subject_len = i2d_X509_NAME(name, NULL),
        spki_len = leaf_key_i2d(&key, NULL), ski_len = i2d_X509_EXTENSION(ski, NULL);
    const struct der *pre = &t->pre[EVP_PKEY_is_a(subject_key, "RSA") ? 1 : 0];
    if (serial_len <= 0 || nb_len <= 0 || na_len <= 0 || subject_len <= 0 || spki_len <= 0 ||
        ski_len <= 0)
        goto out;
    int validity = nb_len + na_len;
    int exts = pre->len + ski_len + t->post.len;
    int exts_seq = ASN1_object_size(1, exts, V_ASN1_SEQUENCE);
    int content = t->version.len + serial_len + t->sig_alg.len + t->issuer.len +
                  ASN1_object_size(1, validity, V_ASN1_SEQUENCE) + subject_len + spki_len +
                  ASN1_object_size(1, exts_seq, 3);
    int tbs_len = ASN1_object_size(1, content, V_ASN1_SEQUENCE);
    unsigned char *p = tbs = xmalloc((size_t)tbs_len);
    ASN1_put_object(&p, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, t->version.p, (size_t)t->version.len);
    p += t->version.len;
    i2d_ASN1_INTEGER(serial, &p);
    memcpy(p, t->sig_alg.p, (size_t)t->sig_alg.len);
    p += t->sig_alg.len;
    memcpy(p, t->issuer.p, (size_t)t->issuer.len);
    p += t->issuer.len;
    ASN1_put_object(&p, 1, validity, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    i2d_ASN1_TIME(nb, &p);
    i2d_ASN1_TIME(na, &p);
    i2d_X509_NAME(name, &p);
    leaf_key_i2d(&key, &p);
    ASN1_put_object(&p, 1, exts_seq, 3, V_ASN1_CONTEXT_SPECIFIC);
    ASN1_put_object(&p, 1, exts, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, pre->p, (size_t)pre->len);
    p += pre->len;
    i2d_X509_EXTENSION(ski, &p);
    memcpy(p, t->post.p, (size_t)t->post.len);
    p += t->post.len;
    if (p != tbs + tbs_len || sign_into(t, tbs, tbs_len, out) != 0 ||
        EVP_Digest(out->der, out->der_len, fp, NULL, EVP_sha256(), NULL) != 1)
        goto out;
    pki__der_to_pem(out->der, out->der_len, &out->pem, &out->pem_len);
    util_hex(fp, sizeof fp, out->fingerprint);
    util_hex(md, sizeof md, out->ski);
    out->signature = t->signature;
    out->not_before_us = (int64_t)pki__us_to_time(not_before_us) * 1000000;
    out->not_after_us = (int64_t)pki__us_to_time(not_after_us) * 1000000;
    rc = 0;
out:
    if (rc != 0) {
        ERR_clear_error();
        pki_leaf_clear(out);
    }
    xfree(tbs);
    X509_EXTENSION_free(ski);
    X509_PUBKEY_free(key.made);
    ASN1_TIME_free(na);
    ASN1_TIME_free(nb);
    ASN1_INTEGER_free(serial);
    return rc;
}
