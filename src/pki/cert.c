/* Certificates: the builder for tlsward's three profiles (client leaf, server leaf, CA) and
 * the facts the API reports about any certificate (PEM, SHA-256 fingerprint, serial, SKI,
 * signature name in Cloudflare's vocabulary, validity in µs). Extensions are made by
 * OpenSSL's X509V3 code; the only structure built by hand is the list of DNS names. */
#include "pki/pki.h"
#include "pki/pki_internal.h"

#include "common/alloc.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

void pki__serial_bytes(const unsigned char *fixed, unsigned char raw[PKI__SERIAL_LEN])
{
    if (fixed)
        memcpy(raw, fixed, PKI__SERIAL_LEN);
    else
        util_random_bytes(raw, PKI__SERIAL_LEN);
    raw[0] &= 0x7f;
    bool zero = true;
    for (size_t i = 0; i < PKI__SERIAL_LEN && zero; i++)
        zero = raw[i] == 0;
    if (zero)
        raw[PKI__SERIAL_LEN - 1] = 1;
}

/* Sets the serial: 20 random bytes (or the spec's fixed ones) made positive and non-zero. */
static int set_serial(X509 *cert, const unsigned char *fixed)
{
    unsigned char raw[PKI__SERIAL_LEN];
    pki__serial_bytes(fixed, raw);
    BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
    int rc = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ? 0 : -1;
    BN_free(bn);
    return rc;
}

/* Adds one extension given in OpenSSL's configuration syntax (values made here, never
 * from input). */
static int add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int rc = ext && X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* A DNS name goes into an IA5String: printable ASCII without spaces, and not empty. */
static bool dns_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        if (*p < 0x21 || *p > 0x7e)
            return false;
    }
    return true;
}

/* subjectAltName with the DNS names; critical when the subject is empty (RFC 5280
 * §4.2.1.6). Built from GENERAL_NAMEs so a name is never parsed as configuration. */
static int add_dns_names(X509 *cert, const struct pki_cert_spec *spec)
{
    int rc = -1;
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    if (!names || spec->dns_count == 0 || !spec->dns_names)
        goto out;
    for (size_t i = 0; i < spec->dns_count; i++) {
        const char *dns = spec->dns_names[i];
        if (!dns_name_ok(dns))
            goto out;
        GENERAL_NAME *gen = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        if (!gen || !ia5 || ASN1_STRING_set(ia5, dns, (int)strlen(dns)) != 1) {
            GENERAL_NAME_free(gen);
            ASN1_IA5STRING_free(ia5);
            goto out;
        }
        GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
        if (!sk_GENERAL_NAME_push(names, gen)) {
            GENERAL_NAME_free(gen);
            goto out;
        }
    }
    int critical = X509_NAME_entry_count(spec->subject) == 0;
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names, critical, X509V3_ADD_DEFAULT) != 1)
        goto out;
    rc = 0;
out:
    GENERAL_NAMES_free(names);
    return rc;
}

/* A URI GeneralName, or NULL (for a value dns_name_ok refuses too). */
static GENERAL_NAME *uri_name(const char *url)
{
    GENERAL_NAME *gen = dns_name_ok(url) ? GENERAL_NAME_new() : NULL;
    ASN1_IA5STRING *ia5 = gen ? ASN1_IA5STRING_new() : NULL;
    if (!ia5 || ASN1_STRING_set(ia5, url, (int)strlen(url)) != 1) {
        GENERAL_NAME_free(gen);
        ASN1_IA5STRING_free(ia5);
        return NULL;
    }
    GENERAL_NAME_set0_value(gen, GEN_URI, ia5);
    return gen;
}

/* cRLDistributionPoints with one full-name URI (RFC 5280 §4.2.1.13). Built from structures,
 * not configuration syntax, so no character of the URL is ever interpreted. */
X509_EXTENSION *pki__crl_dp_ext(const char *url)
{
    X509_EXTENSION *ext = NULL;
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    GENERAL_NAME *gen = uri_name(url);
    if (!dps || !dp || !gen || !(dp->distpoint = DIST_POINT_NAME_new()))
        goto out;
    dp->distpoint->type = 0; /* fullName */
    if (!(dp->distpoint->name.fullname = sk_GENERAL_NAME_new_null()) ||
        !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gen))
        goto out;
    gen = NULL;
    if (!sk_DIST_POINT_push(dps, dp))
        goto out;
    dp = NULL;
    ext = X509V3_EXT_i2d(NID_crl_distribution_points, 0, dps);
out:
    GENERAL_NAME_free(gen);
    DIST_POINT_free(dp);
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    return ext;
}

/* authorityInfoAccess with one caIssuers URI (RFC 5280 §4.2.2.1). */
X509_EXTENSION *pki__ca_issuers_ext(const char *url)
{
    X509_EXTENSION *ext = NULL;
    AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
    ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
    GENERAL_NAME *gen = uri_name(url);
    if (!aia || !ad || !gen)
        goto out;
    ASN1_OBJECT_free(ad->method);
    ad->method = OBJ_nid2obj(NID_ad_ca_issuers);
    GENERAL_NAME_free(ad->location);
    ad->location = gen;
    gen = NULL;
    if (!sk_ACCESS_DESCRIPTION_push(aia, ad))
        goto out;
    ad = NULL;
    ext = X509V3_EXT_i2d(NID_info_access, 0, aia);
out:
    GENERAL_NAME_free(gen);
    ACCESS_DESCRIPTION_free(ad);
    sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
    return ext;
}

/* Adds an extension made by one of the two above (NULL: failed). */
static int add_made_ext(X509 *cert, X509_EXTENSION *ext)
{
    int rc = ext && X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* The leaves' extensions that never vary: each made once per process by OpenSSL's
 * configuration code from the same text as before, then copied into every leaf. Parsing
 * the text again for each certificate cost a tenth of what signing a client certificate
 * costs besides the signature. Only read after they are made, by any number of threads. */
static const struct {
    int nid;
    const char *value;
} leaf_ext_conf[LEAF_EXTS] = {
    [LEAF_BC] = {NID_basic_constraints, "critical,CA:FALSE"},
    [LEAF_KU_EC] = {NID_key_usage, "critical,digitalSignature"},
    [LEAF_KU_RSA] = {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
    [LEAF_EKU_CLIENT] = {NID_ext_key_usage, "clientAuth"},
    [LEAF_EKU_SERVER] = {NID_ext_key_usage, "serverAuth"},
};
static X509_EXTENSION *leaf_exts[LEAF_EXTS]; /* NULL: made per certificate instead */
static pthread_once_t leaf_exts_once = PTHREAD_ONCE_INIT;

static void leaf_exts_make(void)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; i < LEAF_EXTS; i++)
        leaf_exts[i] =
            X509V3_EXT_conf_nid(NULL, &ctx, leaf_ext_conf[i].nid, leaf_ext_conf[i].value);
    ERR_clear_error();
}

const X509_EXTENSION *pki__leaf_ext(enum leaf_ext which)
{
    pthread_once(&leaf_exts_once, leaf_exts_make);
    return leaf_exts[which];
}

/* Adds the constant leaf extension `which`. */
static int add_leaf_ext(X509 *cert, X509V3_CTX *ctx, enum leaf_ext which)
{
    pthread_once(&leaf_exts_once, leaf_exts_make);
    if (leaf_exts[which])
        return X509_add_ext(cert, leaf_exts[which], -1) == 1 ? 0 : -1;
    return add_conf_ext(cert, ctx, leaf_ext_conf[which].nid, leaf_ext_conf[which].value);
}

/* A leaf's subjectKeyIdentifier and authorityKeyIdentifier, as the configuration values
 * "hash" and "keyid:always" make them when the issuer has a subjectKeyIdentifier (ours
 * always do): SHA-1 over the leaf's public key bits (RFC 5280 §4.2.1.2, method 1), and the
 * issuer's own identifier as keyIdentifier alone. Made directly, without OpenSSL fetching a
 * digest and decoding the certificate's extensions for each leaf. 1 when the issuer has no
 * usable identifier (the caller then asks the configuration code), 0 done, -1 failed. */
static int add_leaf_key_ids(X509 *cert, X509 *issuer)
{
    ASN1_OCTET_STRING *issuer_id = X509_get_ext_d2i(issuer, NID_subject_key_identifier, NULL, NULL);
    if (!issuer_id) {
        ERR_clear_error();
        return 1;
    }
    int rc = -1;
    const unsigned char *bits = NULL;
    int bits_len = 0;
    unsigned char md[SHA_DIGEST_LENGTH];
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    if (!ski || !akid ||
        !X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, X509_get_X509_PUBKEY(cert)) ||
        bits_len <= 0 || !SHA1(bits, (size_t)bits_len, md) ||
        ASN1_OCTET_STRING_set(ski, md, sizeof md) != 1)
        goto out;
    akid->keyid = issuer_id;
    issuer_id = NULL;
    if (X509_add1_ext_i2d(cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) == 1 &&
        X509_add1_ext_i2d(cert, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1)
        rc = 0;
out:
    ASN1_OCTET_STRING_free(issuer_id);
    ASN1_OCTET_STRING_free(ski);
    AUTHORITY_KEYID_free(akid);
    return rc;
}

/* basicConstraints, keyUsage, extendedKeyUsage, SKI, AKI and (server) subjectAltName. The
 * SKI is added before the AKI: a self-signed certificate's AKI is read from its own SKI. */
static int add_extensions(X509 *cert, const struct pki_cert_spec *spec)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, spec->issuer ? spec->issuer : cert, cert, NULL, NULL, 0);
    bool rsa = EVP_PKEY_is_a(spec->subject_key, "RSA");
    char ca_constraints[64];
    int key_ids = 1; /* 1: still to be added by the configuration code */

    switch (spec->profile) {
    case PKI_PROFILE_CLIENT:
    case PKI_PROFILE_SERVER:
        if (add_leaf_ext(cert, &ctx, LEAF_BC) != 0 ||
            add_leaf_ext(cert, &ctx, rsa ? LEAF_KU_RSA : LEAF_KU_EC) != 0 ||
            add_leaf_ext(cert, &ctx,
                         spec->profile == PKI_PROFILE_CLIENT ? LEAF_EKU_CLIENT : LEAF_EKU_SERVER) !=
                0)
            return -1;
        if (spec->issuer && (key_ids = add_leaf_key_ids(cert, spec->issuer)) < 0)
            return -1;
        break;
    case PKI_PROFILE_CA:
        if (spec->path_len < 0)
            snprintf(ca_constraints, sizeof ca_constraints, "critical,CA:TRUE");
        else
            snprintf(ca_constraints, sizeof ca_constraints, "critical,CA:TRUE,pathlen:%d",
                     spec->path_len);
        if (add_conf_ext(cert, &ctx, NID_basic_constraints, ca_constraints) != 0 ||
            add_conf_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
            return -1;
        break;
    default:
        return -1;
    }
    if (key_ids == 1 &&
        (add_conf_ext(cert, &ctx, NID_subject_key_identifier, "hash") != 0 ||
         add_conf_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") != 0))
        return -1;
    if (spec->profile == PKI_PROFILE_SERVER && add_dns_names(cert, spec) != 0)
        return -1;
    if (spec->profile != PKI_PROFILE_CA &&
        ((spec->crl_url && add_made_ext(cert, pki__crl_dp_ext(spec->crl_url)) != 0) ||
         (spec->ca_issuers_url &&
          add_made_ext(cert, pki__ca_issuers_ext(spec->ca_issuers_url)) != 0)))
        return -1;
    return 0;
}

/* The spec's own consistency: keys present, a window that is not empty, the signing key
 * matching the issuer (or, self-signed, the subject). */
static bool spec_ok(const struct pki_cert_spec *spec)
{
    if (!spec || !spec->subject_key || !spec->subject || !spec->issuer_key)
        return false;
    if (spec->not_after_us <= spec->not_before_us || spec->path_len < -1)
        return false;
    if (spec->issuer)
        return X509_check_private_key(spec->issuer, spec->issuer_key) == 1;
    return EVP_PKEY_eq(spec->subject_key, spec->issuer_key) == 1;
}

/* Copies an encoded public key (algorithm, parameters, key bits) into the certificate.
 * Only parameter types we can duplicate exactly are handled (none/NULL for RSA, a curve
 * OID for EC); -1 otherwise, and the caller falls back to X509_set_pubkey. */
static int copy_spki(X509 *cert, X509_PUBKEY *from)
{
    ASN1_OBJECT *alg_obj = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0, ptype = V_ASN1_UNDEF;
    X509_ALGOR *alg = NULL;
    const void *pval = NULL;
    const ASN1_OBJECT *obj = NULL;
    if (!X509_PUBKEY_get0_param(&alg_obj, &bits, &bits_len, &alg, from) || !alg || bits_len <= 0)
        return -1;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    ASN1_OBJECT *param = NULL;
    if (ptype == V_ASN1_OBJECT) {
        if (!(param = OBJ_dup(pval)))
            return -1;
    } else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
        return -1;
    }
    ASN1_OBJECT *alg_copy = OBJ_dup(alg_obj);
    unsigned char *bits_copy = OPENSSL_memdup(bits, (size_t)bits_len);
    if (!alg_copy || !bits_copy ||
        !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), alg_copy, ptype, param, bits_copy,
                                bits_len)) {
        ASN1_OBJECT_free(alg_copy);
        ASN1_OBJECT_free(param);
        OPENSSL_free(bits_copy);
        return -1;
    }
    return 0;
}

static int set_public_key(X509 *cert, const struct pki_cert_spec *spec)
{
    if (spec->subject_spki && copy_spki(cert, spec->subject_spki) == 0)
        return 0;
    return X509_set_pubkey(cert, spec->subject_key) == 1 ? 0 : -1;
}

X509 *pki_cert_issue(const struct pki_cert_spec *spec)
{
    X509 *cert = NULL;
    bool ok = false;
    if (!spec_ok(spec))
        goto out;
    const EVP_MD *md = pki_key_sign_digest(spec->issuer_key);
    if (!md)
        goto out;
    cert = X509_new();
    if (!cert || X509_set_version(cert, X509_VERSION_3) != 1 ||
        set_serial(cert, spec->fixed_serial) != 0)
        goto out;
    const X509_NAME *issuer_name =
        spec->issuer ? X509_get_subject_name(spec->issuer) : spec->subject;
    if (X509_set_issuer_name(cert, issuer_name) != 1 ||
        X509_set_subject_name(cert, spec->subject) != 1)
        goto out;
    /* ASN1_TIME_set picks UTCTime through 2049 and GeneralizedTime after (RFC 5280). */
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), pki__us_to_time(spec->not_before_us)) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), pki__us_to_time(spec->not_after_us)))
        goto out;
    if (set_public_key(cert, spec) != 0 || add_extensions(cert, spec) != 0)
        goto out;
    if (X509_sign(cert, spec->issuer_key, md) <= 0)
        goto out;
    ok = true;
out:
    if (!ok) {
        ERR_clear_error();
        X509_free(cert);
        cert = NULL;
    }
    return cert;
}

int pki_cert_to_pem(X509 *cert, char **pem, size_t *len)
{
    int rc = -1;
    *pem = NULL;
    *len = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_X509(bio, cert) == 1)
        rc = pki__bio_to_string(bio, pem, len);

    BIO_free(bio);
    return rc;
}

X509 *pki_cert_from_pem(const char *pem, size_t len)
{
    X509 *cert = NULL;
    BIO *bio = pki__pem_reader(pem, len);
    if (bio)
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    if (!cert)
        ERR_clear_error();
    BIO_free(bio);
    return cert;
}

/* The PEM text of a DER certificate, as PEM_write_bio_X509 writes it (64 base64
 * characters a line), made straight into one string. *pem: xfree. */
void pki__der_to_pem(const unsigned char *der, size_t len, char **pem, size_t *pem_len)
{
    static const char begin[] = "-----BEGIN " PEM_STRING_X509 "-----\n";
    static const char end[] = "-----END " PEM_STRING_X509 "-----\n";
    size_t lines = (len + 47) / 48;
    size_t cap = sizeof begin - 1 + lines * 65 + sizeof end; /* 64 characters and \n */
    char *out = xmalloc(cap);
    size_t at = sizeof begin - 1;
    memcpy(out, begin, at);
    for (size_t done = 0; done < len; done += 48) {
        size_t n = len - done < 48 ? len - done : 48;
        at += (size_t)EVP_EncodeBlock((unsigned char *)out + at, der + done, (int)n);
        out[at++] = '\n';
    }
    memcpy(out + at, end, sizeof end); /* with its NUL */
    *pem = out;
    *pem_len = at + sizeof end - 1;
}

int pki_cert_to_pem_fingerprint(X509 *cert, char **pem, size_t *len, char fingerprint[65])
{
    int rc = -1;
    unsigned char *der = NULL, md[32];
    int der_len = i2d_X509(cert, &der);
    *pem = NULL;
    *len = 0;
    fingerprint[0] = '\0';
    /* The same text as PEM_write_bio_X509, from the one encoding. */
    if (der_len > 0 && EVP_Digest(der, (size_t)der_len, md, NULL, EVP_sha256(), NULL) == 1) {
        pki__der_to_pem(der, (size_t)der_len, pem, len);
        util_hex(md, sizeof md, fingerprint);
        rc = 0;
    }
    OPENSSL_free(der);
    return rc;
}

void pki_cert_fingerprint(X509 *cert, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32)
        util_hex(md, n, out);
}

/* Lowercase hex of bytes into out (size bytes), truncated to whole bytes that fit. */
static void hex_bounded(const unsigned char *bytes, size_t n, char *out, size_t size)
{
    if (size == 0)
        return;
    if (n > (size - 1) / 2)
        n = (size - 1) / 2;
    util_hex(bytes, n, out);
}

void pki_cert_serial_hex(X509 *cert, char *out, size_t size)
{
    if (size == 0)
        return;
    out[0] = '\0';
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    if (!serial)
        return;
    /* The content octets are the magnitude, big-endian; the sign is in the type. */
    const unsigned char *bytes = ASN1_STRING_get0_data(serial);
    size_t n = (size_t)ASN1_STRING_length(serial);
    while (n > 0 && bytes[0] == 0) {
        bytes++;
        n--;
    }
    if (n == 0) {
        snprintf(out, size, "0");
        return;
    }
    size_t at = 0;
    if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER && size > 1)
        out[at++] = '-';
    hex_bounded(bytes, n, out + at, size - at);
}

void pki_cert_ski_hex(X509 *cert, char *out, size_t size)
{
    if (size == 0)
        return;
    out[0] = '\0';
    /* Only this extension is decoded: X509_get0_subject_key_id would first hash the whole
     * certificate and decode every extension (OpenSSL's extension cache). Absent or
     * repeated, there is none, as there. */
    ASN1_OCTET_STRING *ski = X509_get_ext_d2i(cert, NID_subject_key_identifier, NULL, NULL);
    if (ski)
        hex_bounded(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski), out, size);
    ASN1_OCTET_STRING_free(ski);
    ERR_clear_error();
}

const char *pki__signature_name(int sig_nid)
{
    static const struct {
        int pkey_nid, md_nid;
        const char *name;
    } names[] = {
        {NID_rsaEncryption, NID_sha256, "SHA256WithRSA"},
        {NID_rsaEncryption, NID_sha384, "SHA384WithRSA"},
        {NID_X9_62_id_ecPublicKey, NID_sha256, "ECDSAWithSHA256"},
        {NID_X9_62_id_ecPublicKey, NID_sha384, "ECDSAWithSHA384"},
    };
    int md_nid = NID_undef, pkey_nid = NID_undef;
    if (!OBJ_find_sigid_algs(sig_nid, &md_nid, &pkey_nid))
        return "unknown";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].pkey_nid == pkey_nid && names[i].md_nid == md_nid)
            return names[i].name;
    }
    return "unknown";
}

const char *pki_cert_signature_name(X509 *cert)
{
    return pki__signature_name(X509_get_signature_nid(cert));
}

/* An ASN1_TIME as µs since the epoch (0 if unreadable). The day/second difference from
 * 1970-01-01 is OpenSSL's own calendar arithmetic, valid for Generalized times too. */
static int64_t time_to_us(const ASN1_TIME *t)
{
    static const struct tm epoch = {.tm_year = 70, .tm_mon = 0, .tm_mday = 1};
    struct tm tm;
    int days = 0, secs = 0;
    /* ASN1_TIME_to_tm reads the clock when given NULL: never let it. */
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !OPENSSL_gmtime_diff(&days, &secs, &epoch, &tm))
        return 0;
    return ((int64_t)days * 86400 + secs) * 1000000;
}

int64_t pki_cert_not_before(X509 *cert)
{
    return time_to_us(X509_get0_notBefore(cert));
}

int64_t pki_cert_not_after(X509 *cert)
{
    return time_to_us(X509_get0_notAfter(cert));
}
