/* Certificate chains submitted for analysis (SPEC §4.6): parsing a PEM bundle (leaf first,
 * optional intermediates) with its input limits, the trust store (system store plus the
 * PEM files of a directory), and building / verifying a chain with OpenSSL's X509_STORE_CTX
 * according to a bundle method.
 *
 * Conventions as pki.h: 0 or -1, `why` a short static reason; objects returned are owned by
 * the caller. */
#ifndef TLSWARD_PKI_CHAIN_H
#define TLSWARD_PKI_CHAIN_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define PKI_CHAIN_MAX_CERTS 10 /* SPEC §4.6: more certificates than this are refused */
#define PKI_CHAIN_MAX_ERRORS 8 /* distinct verification failures reported */

enum pki_bundle_method { PKI_BUNDLE_UBIQUITOUS, PKI_BUNDLE_OPTIMAL, PKI_BUNDLE_FORCE };

/* "ubiquitous" | "optimal" | "force" → *out; 0 or -1. */
int pki_bundle_method_parse(const char *name, enum pki_bundle_method *out);

/* Parses a PEM bundle of 1..PKI_CHAIN_MAX_CERTS certificates (at most PKI_PEM_MAX bytes).
 * Refuses garbage, a damaged certificate block, any "PRIVATE KEY" block and too many
 * certificates. On success *out holds them in input order (sk_X509_pop_free(.., X509_free)). */
int pki_chain_parse(const char *pem, size_t len, STACK_OF(X509) **out, const char **why);

/* A trust store with the system's default paths and every certificate of every PEM file in
 * trust_dir (NULL or a missing directory: none; unreadable or non-PEM files are skipped).
 * Returns NULL only when OpenSSL fails. X509_STORE_free. */
X509_STORE *pki_trust_store_create(const char *trust_dir);

/* The trust store of a server (SPEC §4.6: read at start-up), kept across requests and
 * rebuilt only when trust_dir changes (a file added, removed or rewritten: the names,
 * sizes and modification times of its entries are compared on each use, which is a few
 * stat calls, not a re-read of the system bundle). Thread-safe. */
struct pki_trust_cache;
struct pki_trust_cache *pki_trust_cache_create(const char *trust_dir);
void pki_trust_cache_destroy(struct pki_trust_cache *c);
/* A reference to the current store (X509_STORE_free it when done), or NULL on failure. */
X509_STORE *pki_trust_cache_get(struct pki_trust_cache *c);

struct pki_chain {
    STACK_OF(X509) *certs; /* the chain to serve, leaf first */
    bool trusted;          /* verification to a trust anchor succeeded */
    const char *errors[PKI_CHAIN_MAX_ERRORS]; /* static strings (OpenSSL's messages) */
    size_t error_count;
};

/* Verifies `given` (leaf first; the rest are untrusted intermediates) against `store` for
 * TLS server use and fills *out with the chain for `method` and the verdict. 0, or -1 when
 * OpenSSL fails (out left empty). */
int pki_chain_build(X509_STORE *store, STACK_OF(X509) *given, enum pki_bundle_method method,
                    struct pki_chain *out);
void pki_chain_clear(struct pki_chain *c);

/* The DNS subjectAltNames of a certificate (heap strings in a heap vector: free each and
 * the vector with xfree); *count 0 and *names NULL when it has none. */
void pki_cert_dns_names(X509 *cert, char ***names, size_t *count);

#endif
