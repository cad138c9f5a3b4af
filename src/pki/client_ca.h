/* The managed client CA of each account (API Shield mTLS): created on first use, its
 * key sealed under the master key, a single level that signs client certificates
 * directly, and its CRL. Unsealed CA keys are cached in memory (per process, at most 64
 * CAs) so signing a client certificate costs one signature, not a decryption and a key
 * parse; an entry is used only while the stored CA (certificate and sealed key) is the one
 * it was made from. Keys at rest stay sealed. */
#ifndef TLSWARD_PKI_CLIENT_CA_H
#define TLSWARD_PKI_CLIENT_CA_H

#include <openssl/x509.h>
#include <stdint.h>

#include "pki/pki.h"
#include "store/store.h"

struct app;
struct client_ca_cache;

/* The API's certificate_authority.name; a CA's subject CN adds the account id. */
#define CLIENT_CA_NAME "tlsward Managed CA for account"
#define CLIENT_CA_CRL_VALIDITY_US (7 * 86400 * 1000000LL) /* nextUpdate: 7 days */
#define CLIENT_CA_CRL_REFRESH_US (2 * 86400 * 1000000LL)  /* re-signed 2 days before */
#define CLIENT_CA_VALIDITY_DAYS (3650 * 3)                /* outlives any leaf it signs */

struct client_ca_cache *client_ca_cache_create(void);
void client_ca_cache_destroy(struct client_ca_cache *cache);
/* How many times a CA key was unsealed into the cache (a miss), for tests. */
unsigned long client_ca_cache_loads(struct client_ca_cache *cache);

/* The account's CA, created (key kind from the configuration) when it has none yet; *out
 * is filled (store_client_ca_clear). 0, or a negative store error. */
int client_ca_ensure(struct app *app, const char *account_id, struct store_client_ca *out);
/* The same without reading the CA's CRL (crl_der NULL): what signing needs. */
int client_ca_ensure_signer(struct app *app, const char *account_id, struct store_client_ca *out);

/* Signs a client certificate for the CSR's subject and key with the CA, valid from now
 * for validity_days. *out: X509_free. 0 or -1 (logged). */
int client_ca_sign(struct app *app, const struct store_client_ca *ca, const struct pki_csr *csr,
                   int validity_days, int64_t now, X509 **out);

/* The same certificate, built from the CA's cached leaf template (pki_leaf_issue), with the
 * facts the API reports. *out: pki_leaf_clear. 0 or -1 (logged). */
int client_ca_sign_leaf(struct app *app, const struct store_client_ca *ca,
                        const struct pki_csr *csr, int validity_days, int64_t now,
                        struct pki_leaf *out);

/* Builds the CA's CRL numbered crl_number over its revocations, valid from now for
 * CLIENT_CA_CRL_VALIDITY_US. *der: xfree. 0 or -1 (logged). */
int client_ca_build_crl(struct app *app, const struct store_client_ca *ca,
                        const struct store_revocation *revoked, int count, uint64_t crl_number,
                        int64_t now, unsigned char **der, size_t *len);

#endif
