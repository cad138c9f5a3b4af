/* The local CA (local_ca.h): creating the root and intermediate, loading them back from
 * their persisted form, and issuing a pack's ECDSA + RSA pair from the intermediate. All
 * certificate building goes through pki_cert_issue; all sealing through seal.h. */
#include "pki/local_ca.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/log.h"

#define US_PER_DAY (86400 * 1000000LL)
#define CA_BACKDATE_US (60 * 1000000LL) /* CA certificates start a minute early */
#define CN_MAX 64                       /* ub-common-name (RFC 5280 appendix A) */
#define AAD_MAX 128

struct local_ca {
    X509 *root;
    X509 *intermediate;
    EVP_PKEY *intermediate_key;
    char *root_pem;
    char *intermediate_pem;
    char *ca_issuers_url; /* NULL, or where leaves say their issuer is published */
};

/* The roles a sealed key can have; its aad names the role and the certificate it
 * belongs to, so a blob moved to the other role or to another CA does not open. */
static const char *const ROLE_ROOT = "root";
static const char *const ROLE_INTERMEDIATE = "intermediate";

static void key_aad(const char *role, X509 *cert, char out[AAD_MAX])
{
    char fp[65];
    pki_cert_fingerprint(cert, fp);
    snprintf(out, AAD_MAX, "local-ca:%s:%s", role, fp);
}

/* A subject "O=tlsward, CN=<cn>"; with cn NULL, an empty one. NULL on failure. */
static X509_NAME *make_name(const char *org, const char *cn)
{
    X509_NAME *name = X509_NAME_new();
    if (!name)
        return NULL;
    if ((org && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org,
                                            -1, -1, 0)) ||
        (cn && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                           -1, 0))) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

static void wipe_free(char *secret, size_t len)
{
    if (!secret)
        return;
    OPENSSL_cleanse(secret, len);
    xfree(secret);
}

/* Seals key (PKCS#8 PEM) for the role of cert. 0 or -1. */
static int seal_key(const unsigned char master_key[SEAL_KEY_LEN], EVP_PKEY *key, const char *role,
                    X509 *cert, unsigned char **sealed, size_t *sealed_len)
{
    char *pem = NULL, aad[AAD_MAX];
    size_t len = 0;
    key_aad(role, cert, aad);
    int rc = pki_key_to_pem(key, &pem, &len);
    if (rc == 0)
        rc = seal_encrypt(master_key, pem, len, aad, sealed, sealed_len);
    wipe_free(pem, len);
    return rc;
}

/* Unseals the key of the role of cert and checks that it is cert's key. NULL on failure,
 * with *why set. */
static EVP_PKEY *unseal_key(const unsigned char master_key[SEAL_KEY_LEN],
                            const unsigned char *sealed, size_t sealed_len, const char *role,
                            X509 *cert, const char **why)
{
    char aad[AAD_MAX];
    unsigned char *pem = NULL;
    size_t len = 0;
    key_aad(role, cert, aad);
    if (!sealed || seal_decrypt(master_key, sealed, sealed_len, aad, &pem, &len) < 0) {
        *why = "key does not unseal (wrong master key, or a blob not of this certificate)";
        return NULL;
    }
    EVP_PKEY *key = pki_key_from_pem((const char *)pem, len);
    wipe_free((char *)pem, len);
    if (!key) {
        *why = "key does not parse";
    } else if (X509_check_private_key(cert, key) != 1) {
        *why = "key does not match its certificate";
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

/* A CA certificate on key: self-signed when issuer is NULL. NULL on failure. */
static X509 *make_ca_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                          int path_len, int64_t now, int validity_days)
{
    X509_NAME *name = make_name("tlsward", cn);
    if (!name)
        return NULL;
    struct pki_cert_spec spec = {
        .profile = PKI_PROFILE_CA,
        .subject_key = key,
        .subject = name,
        .issuer = issuer,
        .issuer_key = issuer ? issuer_key : key,
        .not_before_us = now - CA_BACKDATE_US,
        .not_after_us = now + (int64_t)validity_days * US_PER_DAY,
        .path_len = path_len,
    };
    X509 *cert = pki_cert_issue(&spec);
    X509_NAME_free(name);
    return cert;
}

int local_ca_create(const unsigned char master_key[SEAL_KEY_LEN], int64_t now,
                    struct store_local_ca *out)
{
    int rc = -1;
    size_t len = 0;
    X509 *root = NULL, *inter = NULL;
    memset(out, 0, sizeof *out);
    out->created_on = now;
    EVP_PKEY *root_key = pki_key_generate(PKI_KEY_EC_P384);
    EVP_PKEY *inter_key = pki_key_generate(PKI_KEY_EC_P256);
    if (!root_key || !inter_key)
        goto out;
    root = make_ca_cert(root_key, LOCAL_CA_ROOT_NAME, NULL, NULL, -1, now,
                        LOCAL_CA_ROOT_VALIDITY_DAYS);
    inter = root ? make_ca_cert(inter_key, LOCAL_CA_INTERMEDIATE_NAME, root, root_key, 0, now,
                                LOCAL_CA_INTERMEDIATE_VALIDITY_DAYS)
                 : NULL;
    if (!inter || pki_cert_to_pem(root, &out->root_pem, &len) < 0 ||
        pki_cert_to_pem(inter, &out->intermediate_pem, &len) < 0 ||
        seal_key(master_key, root_key, ROLE_ROOT, root, &out->root_key_sealed,
                 &out->root_key_sealed_len) < 0 ||
        seal_key(master_key, inter_key, ROLE_INTERMEDIATE, inter, &out->intermediate_key_sealed,
                 &out->intermediate_key_sealed_len) < 0)
        goto out;
    rc = 0;
out:
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(inter_key);
    EVP_PKEY_free(root_key);
    if (rc < 0) {
        log_msg(LOG_ERROR, "cannot create the local CA");
        store_local_ca_clear(out);
    }
    return rc;
}

/* Parses the certificates of p into ca and checks them against each other and the keys.
 * 0, or -1 with *why set. */
static int load_checked(const unsigned char master_key[SEAL_KEY_LEN],
                        const struct store_local_ca *p, struct local_ca *ca, const char **why)
{
    if (!p->root_pem || !p->intermediate_pem ||
        !(ca->root = pki_cert_from_pem(p->root_pem, strlen(p->root_pem))) ||
        !(ca->intermediate = pki_cert_from_pem(p->intermediate_pem, strlen(p->intermediate_pem)))) {
        *why = "a certificate does not parse";
        return -1;
    }
    EVP_PKEY *root_pub = X509_get0_pubkey(ca->root);
    if (!root_pub || X509_check_issued(ca->root, ca->intermediate) != X509_V_OK ||
        X509_verify(ca->intermediate, root_pub) != 1) {
        *why = "the intermediate is not signed by the root";
        return -1;
    }
    /* The root key is only needed to re-sign an intermediate: check it, then drop it. */
    EVP_PKEY *root_key = unseal_key(master_key, p->root_key_sealed, p->root_key_sealed_len,
                                    ROLE_ROOT, ca->root, why);
    if (!root_key)
        return -1;
    EVP_PKEY_free(root_key);
    ca->intermediate_key =
        unseal_key(master_key, p->intermediate_key_sealed, p->intermediate_key_sealed_len,
                   ROLE_INTERMEDIATE, ca->intermediate, why);
    if (!ca->intermediate_key)
        return -1;
    ca->root_pem = xstrdup(p->root_pem);
    ca->intermediate_pem = xstrdup(p->intermediate_pem);
    return 0;
}

int local_ca_load(const unsigned char master_key[SEAL_KEY_LEN],
                  const struct store_local_ca *persisted, struct local_ca **ca)
{
    const char *why = NULL;
    struct local_ca *loaded = xcalloc(1, sizeof *loaded);
    *ca = NULL;
    if (load_checked(master_key, persisted, loaded, &why) < 0) {
        log_msg(LOG_ERROR, "cannot load the local CA: %s", why);
        local_ca_destroy(loaded);
        return -1;
    }
    *ca = loaded;
    return 0;
}

void local_ca_destroy(struct local_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->root);
    X509_free(ca->intermediate);
    EVP_PKEY_free(ca->intermediate_key);
    xfree(ca->root_pem);
    xfree(ca->intermediate_pem);
    xfree(ca->ca_issuers_url);
    xfree(ca);
}

void local_ca_set_public_url(struct local_ca *ca, const char *public_url)
{
    xfree(ca->ca_issuers_url);
    ca->ca_issuers_url =
        public_url ? xasprintf("%s%s", public_url, LOCAL_CA_INTERMEDIATE_PATH) : NULL;
}

const char *local_ca_root_pem(const struct local_ca *ca)
{
    return ca->root_pem;
}

const char *local_ca_intermediate_pem(const struct local_ca *ca)
{
    return ca->intermediate_pem;
}

/* ---- issuance ---- */

/* The subject and the SAN list of a request (sans: hosts, plus the CN when missing).
 * 0, or -1 with *why set. */
static int request_names(const struct local_ca_request *req, X509_NAME **subject, const char **sans,
                         size_t *san_count, const char **why)
{
    if (!req->hosts || req->host_count == 0 || req->host_count > LOCAL_CA_MAX_HOSTS) {
        *why = "no hosts, or too many";
        return -1;
    }
    const char *cn = req->common_name ? req->common_name : req->hosts[0];
    bool cn_listed = false;
    for (size_t i = 0; i < req->host_count; i++) {
        if (!req->hosts[i] || !*req->hosts[i]) {
            *why = "empty host name";
            return -1;
        }
        sans[i] = req->hosts[i];
        cn_listed = cn_listed || (cn && strcasecmp(cn, req->hosts[i]) == 0);
    }
    *san_count = req->host_count;
    if (!cn || !*cn) {
        *why = "empty common name";
        return -1;
    }
    if (!cn_listed)
        sans[(*san_count)++] = cn;
    *subject = make_name(NULL, strlen(cn) <= CN_MAX ? cn : NULL);
    if (!*subject) {
        *why = "common name not encodable";
        return -1;
    }
    return 0;
}

/* Certifies key for the names and fills *leaf (key, leaf, chain and facts). 0 or -1. */
static int issue_leaf(const struct local_ca *ca, EVP_PKEY *key, enum pki_key_kind kind,
                      const X509_NAME *subject, const char *const *sans, size_t san_count,
                      int64_t not_before, int64_t not_after, struct local_ca_leaf *leaf)
{
    size_t len = 0;
    struct pki_cert_spec spec = {
        .profile = PKI_PROFILE_SERVER,
        .subject_key = key,
        .subject = subject,
        .issuer = ca->intermediate,
        .issuer_key = ca->intermediate_key,
        .not_before_us = not_before,
        .not_after_us = not_after,
        .dns_names = sans,
        .dns_count = san_count,
        .path_len = -1,
        .ca_issuers_url = ca->ca_issuers_url,
    };
    X509 *cert = pki_cert_issue(&spec);
    if (!cert || pki_cert_to_pem(cert, &leaf->cert_pem, &len) < 0 ||
        pki_key_to_pem(key, &leaf->key_pem, &leaf->key_len) < 0) {
        X509_free(cert);
        return -1;
    }
    leaf->key_kind = kind;
    leaf->key_type = pki_key_type_name(key);
    leaf->chain_pem = xasprintf("%s%s", leaf->cert_pem, ca->intermediate_pem);
    pki_cert_serial_hex(cert, leaf->serial, sizeof leaf->serial);
    leaf->issuer = LOCAL_CA_INTERMEDIATE_NAME;
    leaf->signature = pki_cert_signature_name(cert);
    leaf->not_before = pki_cert_not_before(cert);
    leaf->not_after = pki_cert_not_after(cert);
    X509_free(cert);
    return 0;
}

int local_ca_issue(const struct local_ca *ca, struct key_pool *rsa_pool,
                   const struct local_ca_request *req, struct local_ca_pair *out, const char **why)
{
    int rc = -1;
    const char *sans[LOCAL_CA_MAX_HOSTS + 1];
    size_t san_count = 0;
    X509_NAME *subject = NULL;
    EVP_PKEY *ec_key = NULL, *rsa_key = NULL;
    const char *reason = NULL;
    assert(!rsa_pool || key_pool_kind(rsa_pool) == PKI_KEY_RSA_2048);
    memset(out, 0, sizeof *out);

    /* Whole seconds: the certificate holds no more, and the caller reports these times. */
    int64_t start = req->now - req->now % 1000000;
    int64_t end = start + (int64_t)req->validity_days * US_PER_DAY;
    if (req->validity_days < 1) {
        reason = "validity must be at least one day";
        goto out;
    }
    if (end > pki_cert_not_after(ca->intermediate)) {
        reason = "the certificate would outlive the local issuing CA";
        goto out;
    }
    if (request_names(req, &subject, sans, &san_count, &reason) < 0)
        goto out;
    reason = "issuance failed";
    ec_key = pki_key_generate(PKI_KEY_EC_P256);
    rsa_key = rsa_pool ? key_pool_take(rsa_pool) : pki_key_generate(PKI_KEY_RSA_2048);
    if (!ec_key || !rsa_key ||
        issue_leaf(ca, ec_key, PKI_KEY_EC_P256, subject, sans, san_count, start, end, &out->ecdsa) <
            0 ||
        issue_leaf(ca, rsa_key, PKI_KEY_RSA_2048, subject, sans, san_count, start, end, &out->rsa) <
            0)
        goto out;
    reason = NULL;
    rc = 0;
out:
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    X509_NAME_free(subject);
    if (rc < 0) {
        log_msg(LOG_WARN, "local CA: cannot issue for %s: %s",
                req->host_count && req->hosts && req->hosts[0] ? req->hosts[0] : "(no host)",
                reason);
        local_ca_pair_clear(out);
    }
    if (why)
        *why = reason;
    return rc;
}

static void leaf_clear(struct local_ca_leaf *leaf)
{
    wipe_free(leaf->key_pem, leaf->key_len);
    xfree(leaf->cert_pem);
    xfree(leaf->chain_pem);
    memset(leaf, 0, sizeof *leaf);
}

void local_ca_pair_clear(struct local_ca_pair *pair)
{
    leaf_clear(&pair->ecdsa);
    leaf_clear(&pair->rsa);
}
