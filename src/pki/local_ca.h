/* The built-in certificate authority that issues certificate packs (SPEC §4.3, §5): an
 * ECDSA P-384 root, self-signed, that signs one ECDSA P-256 intermediate (pathlen 0), which
 * signs every leaf. It is created once per data directory; its keys are sealed under the
 * master key, each bound (aad) to its role and its certificate.
 *
 * Storage is the caller's: local_ca_create fills a struct store_local_ca (PEM texts and
 * sealed blobs) to save as is with store_local_ca_create, and local_ca_load turns the row
 * read back (store_local_ca_get) into the in-memory CA (unsealed intermediate key, parsed
 * certificates) to cache. A loaded CA is read-only, so any number of threads may issue
 * from it at once. */
#ifndef TLSWARD_PKI_LOCAL_CA_H
#define TLSWARD_PKI_LOCAL_CA_H

#include <stddef.h>
#include <stdint.h>

#include "pki/key_pool.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "store/store.h"

#define LOCAL_CA_ROOT_NAME "tlsward Local Root CA"
#define LOCAL_CA_INTERMEDIATE_NAME "tlsward Local Issuing CA"
#define LOCAL_CA_ROOT_VALIDITY_DAYS 7305         /* 20 years */
#define LOCAL_CA_INTERMEDIATE_VALIDITY_DAYS 3652 /* 10 years */
#define LOCAL_CA_MAX_HOSTS 64                    /* SPEC's 50 hosts plus a branding host */

/* The loaded CA (opaque, read-only once loaded). */
struct local_ca;

/* Makes a new root and intermediate, valid from a minute before now, into *out (zeroed
 * first; store_local_ca_clear it): PEM certificates, keys sealed (seal_encrypt'ed PKCS#8
 * PEM), created_on = now. 0 or -1 (logged). */
int local_ca_create(const unsigned char master_key[SEAL_KEY_LEN], int64_t now,
                    struct store_local_ca *out);

/* Parses and unseals a persisted CA and checks it holds together (each key matches its
 * certificate, the intermediate is signed by the root). The root key is checked, then
 * dropped: only the intermediate key stays in memory. *ca: local_ca_destroy. 0, or -1
 * (logged) on a wrong master key, a tampered or swapped blob, or a broken chain. */
int local_ca_load(const unsigned char master_key[SEAL_KEY_LEN],
                  const struct store_local_ca *persisted, struct local_ca **ca);
void local_ca_destroy(struct local_ca *ca);

/* The root certificate in PEM (GET /pki/accounts/{account_id}/ca.pem) and the
 * intermediate; borrowed, valid until local_ca_destroy. */
const char *local_ca_root_pem(const struct local_ca *ca);
const char *local_ca_intermediate_pem(const struct local_ca *ca);

/* Where the intermediate is published, DER (RFC 5280's form for caIssuers over HTTP),
 * without credentials: one built-in CA serves every account. */
#define LOCAL_CA_INTERMEDIATE_PATH "/pki/intermediate.crt"
/* With a public URL (--public-url, no trailing slash), every leaf issued afterwards
 * carries an authorityInfoAccess caIssuers URI <url>/pki/intermediate.crt; NULL removes
 * it. Call before issuing from other threads. There is no CRL distribution point: the
 * built-in intermediate publishes no CRL. */
void local_ca_set_public_url(struct local_ca *ca, const char *public_url);

/* What to issue: the hosts become the DNS subjectAltNames in order; the Common Name is
 * common_name (e.g. the branding host) or, when NULL, hosts[0]. A common_name missing from
 * the hosts is appended to the SANs (a CN is always one of the SANs, as the CA/B Baseline
 * Requirements demand); a Common Name over 64 characters (the X.509 bound) is left out and
 * the subject is empty. Valid from now (to the second) for validity_days. */
struct local_ca_request {
    const char *const *hosts; /* already normalised (lowercase, no trailing dot) */
    size_t host_count;        /* 1 .. LOCAL_CA_MAX_HOSTS */
    const char *common_name;  /* NULL: hosts[0] */
    int validity_days;        /* >= 1; the leaf may not outlive the intermediate */
    int64_t now;
};

/* One issued certificate. Heap strings (xfree) released by local_ca_pair_clear. */
struct local_ca_leaf {
    enum pki_key_kind key_kind; /* PKI_KEY_EC_P256 or PKI_KEY_RSA_2048 */
    const char *key_type;       /* "ecdsa" or "rsa" (static) */
    char *key_pem;              /* unencrypted PKCS#8: SECRET, the caller seals it */
    size_t key_len;
    char *cert_pem;     /* the leaf */
    char *chain_pem;    /* leaf then intermediate, no root (nginx's ssl_certificate) */
    char serial[41];    /* lowercase hex */
    const char *issuer; /* LOCAL_CA_INTERMEDIATE_NAME (static) */
    /* pki_cert_signature_name of the leaf (static): the intermediate's algorithm,
     * "ECDSAWithSHA256" for both leaves, the RSA one included. */
    const char *signature;
    int64_t not_before, not_after; /* µs since the epoch */
};

/* The two certificates of a pack, each on a fresh key. */
struct local_ca_pair {
    struct local_ca_leaf ecdsa; /* ECDSA P-256 key */
    struct local_ca_leaf rsa;   /* RSA-2048 key */
};

/* Issues the pack's pair (PKI_PROFILE_SERVER) from the intermediate: the ECDSA key is
 * generated here, the RSA key taken from rsa_pool (an RSA-2048 pool, or NULL to generate
 * inline). *out is zeroed first; local_ca_pair_clear it. 0, or -1 with *why saying what
 * was wrong with the request or that issuance failed. */
int local_ca_issue(const struct local_ca *ca, struct key_pool *rsa_pool,
                   const struct local_ca_request *req, struct local_ca_pair *out, const char **why);
/* Frees the pair's strings, wiping the private keys first. */
void local_ca_pair_clear(struct local_ca_pair *pair);

#endif
