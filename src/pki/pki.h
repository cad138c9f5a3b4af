/* OpenSSL 3 wrappers for everything tlsward does with keys and certificates: key
 * generation and PEM, CSR parsing with signature and key-policy checks, a certificate
 * builder, certificate facts (fingerprint, serial, SKI, signature name, times) and CRLs.
 * No hand-written ASN.1: every encoding goes through OpenSSL.
 *
 * Conventions: functions return 0 or -1; on -1 a `why` out-parameter (when present) points
 * to a short static reason naming the problem ("signature does not verify"). Objects
 * returned as pointers are owned by the caller (EVP_PKEY_free, X509_free, ...). Strings
 * returned through `char **` are heap strings (xfree). */
#ifndef TLSWARD_PKI_PKI_H
#define TLSWARD_PKI_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKI_PEM_MAX (64 * 1024) /* SPEC §9: PEM inputs are bounded to 64 KiB */

/* ---- keys ---- */
enum pki_key_kind { PKI_KEY_RSA_2048, PKI_KEY_EC_P256, PKI_KEY_EC_P384 };
EVP_PKEY *pki_key_generate(enum pki_key_kind kind);
/* Unencrypted PKCS#8 PEM (callers seal it before storing). */
int pki_key_to_pem(EVP_PKEY *key, char **pem, size_t *len);
EVP_PKEY *pki_key_from_pem(const char *pem, size_t len);
/* "rsa" or "ecdsa", and the size in bits (2048, 256, 384...). */
const char *pki_key_type_name(EVP_PKEY *key);
int pki_key_bits(EVP_PKEY *key);
/* Key policy for client CSRs: RSA >= 2048 bits, or EC on P-256 / P-384. */
bool pki_key_acceptable(EVP_PKEY *key, const char **why);
/* The digest tlsward signs certificates and CRLs with under this key: SHA-256 for RSA and
 * EC P-256, SHA-384 for EC P-384; NULL for any other key (tlsward does not sign with it). */
const EVP_MD *pki_key_sign_digest(EVP_PKEY *key);

/* ---- CSRs ---- */
/* A client's certificate request, read and checked. */
struct pki_csr;
/* Parses one PEM CSR (<= PKI_PEM_MAX), verifies its self-signature and applies the key
 * policy. On success *out is the request (pki_csr_free). */
int pki_csr_parse(const char *pem, size_t len, struct pki_csr **out, const char **why);
void pki_csr_free(struct pki_csr *csr);
/* The request's subject, public key and SubjectPublicKeyInfo as encoded in the request
 * (for pki_cert_spec.subject_spki); all borrowed, valid until pki_csr_free. */
const X509_NAME *pki_csr_subject(const struct pki_csr *csr);
EVP_PKEY *pki_csr_key(const struct pki_csr *csr);
X509_PUBKEY *pki_csr_spki(const struct pki_csr *csr);

/* Subject fields as strings ("" when absent), each at most 255 bytes of UTF-8. */
struct pki_subject {
    char common_name[256];
    char country[256];
    char state[256];
    char locality[256];
    char organization[256];
    char organizational_unit[256];
};
void pki_subject_fields(const X509_NAME *name, struct pki_subject *out);
/* How the API names an issuer (SPEC §4.6): its Common Name, or its Organization when it has
 * no CN. Returns a field of *issuer (filled from the name). */
const char *pki_issuer_display(const X509_NAME *name, struct pki_subject *issuer);

/* ---- certificates ---- */
enum pki_profile {
    PKI_PROFILE_CLIENT, /* CA:FALSE, digitalSignature(+keyEncipherment for RSA), EKU clientAuth */
    PKI_PROFILE_SERVER, /* CA:FALSE, digitalSignature(+keyEncipherment for RSA), EKU serverAuth,
                           SANs */
    PKI_PROFILE_CA,     /* CA:TRUE (pathlen as given, -1 = none), keyCertSign + cRLSign */
};

struct pki_cert_spec {
    enum pki_profile profile;
    EVP_PKEY *subject_key; /* public key to certify (borrowed) */
    /* Optional: the same key as encoded in a CSR (borrowed). Copying it verbatim spares
     * OpenSSL 3.0's re-encode/decode of subject_key (a fifth of a client certificate's
     * cost). The certificate returned then holds the key in encoded form only:
     * X509_get0_pubkey() on it is NULL until it is encoded and read back (d2i/PEM). */
    X509_PUBKEY *subject_spki;
    const X509_NAME *subject; /* borrowed */
    X509 *issuer;             /* NULL: self-signed (issuer_key must match subject_key) */
    EVP_PKEY *issuer_key;     /* signs the certificate (borrowed) */
    int64_t not_before_us, not_after_us;
    const char *const *dns_names; /* SERVER: subjectAltName DNS entries */
    size_t dns_count;
    int path_len; /* CA only; -1 for no pathLenConstraint */
    /* Leaves only, optional (NULL: left out): a cRLDistributionPoints URI and an
     * authorityInfoAccess caIssuers URI where relying parties fetch the CRL and the issuer.
     * http(s) URLs of printable ASCII (validated configuration, never request input). */
    const char *crl_url;
    const char *ca_issuers_url;
    /* Tests only: 20 bytes to make the serial from instead of random ones (NULL). */
    const unsigned char *fixed_serial;
};
/* Builds and signs a certificate: version 3, a serial of 20 random bytes made positive
 * (top bit cleared, never zero), the validity window, the profile's basicConstraints /
 * keyUsage / extendedKeyUsage, subjectKeyIdentifier and (when issued by another
 * certificate, or self-signed) authorityKeyIdentifier. SHA-256 (ECDSA with P-384 keys uses
 * SHA-384). Returns NULL on failure. */
X509 *pki_cert_issue(const struct pki_cert_spec *spec);

int pki_cert_to_pem(X509 *cert, char **pem, size_t *len);
/* The first certificate of a PEM text. */
X509 *pki_cert_from_pem(const char *pem, size_t len);
/* pki_cert_to_pem and pki_cert_fingerprint from one DER encoding of the certificate. */
int pki_cert_to_pem_fingerprint(X509 *cert, char **pem, size_t *len, char fingerprint[65]);
/* Lowercase hex of SHA-256 over the DER (64 chars + NUL). */
void pki_cert_fingerprint(X509 *cert, char out[65]);
/* Lowercase hex of the serial number, without leading zero bytes; *out has >= 41 bytes. */
void pki_cert_serial_hex(X509 *cert, char *out, size_t size);
/* Lowercase hex of the subjectKeyIdentifier ("" if absent); *out has >= 41 bytes. */
void pki_cert_ski_hex(X509 *cert, char *out, size_t size);
/* Cloudflare's vocabulary: "SHA256WithRSA", "ECDSAWithSHA256", "ECDSAWithSHA384", ... */
const char *pki_cert_signature_name(X509 *cert);
/* notBefore / notAfter in µs since the epoch. */
int64_t pki_cert_not_before(X509 *cert);
int64_t pki_cert_not_after(X509 *cert);

/* ---- client leaves from a per-CA template ---- */
/* What makes a CA's client leaves the same except for their subject, key, serial and
 * validity: the issuer name, the signature algorithm, the constant extensions (with the
 * CA's key identifier and the optional CRL / caIssuers URLs), the signing key. Each leaf's
 * TBSCertificate is then the concatenation of encodings OpenSSL makes (the template's,
 * made once, and the leaf's own), signed once; the certificate is byte for byte what
 * pki_cert_issue makes for the same spec (PKI_PROFILE_CLIENT), without building an X509
 * object per leaf. Read-only once made, shared by threads; reference-counted. */
struct pki_leaf_template;
/* NULL when the CA is not one the template path handles (no subjectKeyIdentifier, a key
 * tlsward does not sign with, key and certificate not matching): use pki_cert_issue. */
struct pki_leaf_template *pki_leaf_template_create(X509 *issuer, EVP_PKEY *issuer_key,
                                                   const char *crl_url, const char *ca_issuers_url);
void pki_leaf_template_up_ref(struct pki_leaf_template *t);
void pki_leaf_template_destroy(struct pki_leaf_template *t); /* drops one reference */

/* A client leaf and the facts the API reports about it, from what was built. */
struct pki_leaf {
    unsigned char *der; /* xfree */
    size_t der_len;
    char *pem; /* as PEM_write_bio_X509; xfree */
    size_t pem_len;
    char serial[41];                     /* as pki_cert_serial_hex */
    char ski[41];                        /* as pki_cert_ski_hex */
    char fingerprint[65];                /* as pki_cert_fingerprint */
    const char *signature;               /* as pki_cert_signature_name (static) */
    int64_t not_before_us, not_after_us; /* as pki_cert_not_before / _after */
};
/* Issues a client leaf for subject and subject_key (subject_spki: as in pki_cert_spec,
 * optional) valid over [not_before_us, not_after_us]; fixed_serial as in pki_cert_spec.
 * 0, or -1 (*out cleared). */
int pki_leaf_issue(const struct pki_leaf_template *t, EVP_PKEY *subject_key,
                   X509_PUBKEY *subject_spki, const X509_NAME *subject, int64_t not_before_us,
                   int64_t not_after_us, const unsigned char *fixed_serial, struct pki_leaf *out);
void pki_leaf_clear(struct pki_leaf *leaf);

/* ---- CRLs ---- */
struct pki_revoked {
    const char *serial_hex; /* as pki_cert_serial_hex */
    int64_t revoked_on_us;
};
/* A v2 CRL signed by the CA: thisUpdate, nextUpdate, the revoked entries, a CRL number
 * extension and an authorityKeyIdentifier. *der (xfree) holds the DER encoding. */
int pki_crl_build(X509 *ca, EVP_PKEY *ca_key, uint64_t crl_number, int64_t this_update_us,
                  int64_t next_update_us, const struct pki_revoked *revoked, size_t count,
                  unsigned char **der, size_t *len);

#endif
