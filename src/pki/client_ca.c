/* Managed client CAs: creation, cached signing material, client certificates, CRLs. */
#include "pki/client_ca.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "pki/seal.h"

#define CACHE_MAX 64

/* Unsealed signing material of one CA, with the stored form it was made from: an entry
 * serves a CA only while the store still holds exactly that certificate and sealed key,
 * so a CA replaced or re-keyed under the same id (a restored backup, another node) is
 * never signed for with the old key. Only the sealed key is kept besides the EVP_PKEY. */
struct cached_ca {
    char id[STORE_UUID_SIZE];
    char *cert_pem;
    unsigned char *key_sealed;
    size_t key_sealed_len;
    X509 *cert;
    EVP_PKEY *key;
    struct pki_leaf_template *leaf; /* NULL: this CA's leaves go through pki_cert_issue */
};

/* Threads: the cache is shared by every request thread. The lock covers only the table;
 * unsealing and parsing run outside it. The X509 and EVP_PKEY handed out are referenced,
 * never modified after loading, and used read-only by any number of threads at once
 * (OpenSSL 3 allows signing with one key from several threads). */
struct client_ca_cache {
    pthread_mutex_t lock;
    struct cached_ca entries[CACHE_MAX];
    int count;
    int next_evict;
    unsigned long loads; /* unseals so far, for tests */
};

struct client_ca_cache *client_ca_cache_create(void)
{
    struct client_ca_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void entry_free(struct cached_ca *e)
{
    X509_free(e->cert);
    EVP_PKEY_free(e->key);
    pki_leaf_template_destroy(e->leaf);
    xfree(e->cert_pem);
    xfree(e->key_sealed);
    memset(e, 0, sizeof *e);
}

void client_ca_cache_destroy(struct client_ca_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->count; i++)
        entry_free(&c->entries[i]);
    pthread_mutex_destroy(&c->lock);
    xfree(c);
}

unsigned long client_ca_cache_loads(struct client_ca_cache *c)
{
    pthread_mutex_lock(&c->lock);
    unsigned long n = c->loads;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* The associated data binding a sealed CA key to its CA. */
static void key_aad(const char *ca_id, char out[64])
{
    snprintf(out, 64, "client-ca:%s", ca_id);
}

/* Unseals and parses the CA's key and certificate, and checks that they belong together. */
static int load_material(struct app *app, const struct store_client_ca *ca, X509 **cert,
                         EVP_PKEY **key)
{
    char aad[64];
    unsigned char *pem = NULL;
    size_t len = 0;
    key_aad(ca->id, aad);
    *cert = NULL;
    *key = NULL;
    if (seal_decrypt(app->master_key, ca->key_sealed, ca->key_sealed_len, aad, &pem, &len) < 0) {
        log_msg(LOG_ERROR, "client CA %s: its key does not unseal (wrong master key?)", ca->id);
        return -1;
    }
    *key = pki_key_from_pem((const char *)pem, len);
    OPENSSL_cleanse(pem, len);
    xfree(pem);
    *cert = ca->cert_pem ? pki_cert_from_pem(ca->cert_pem, strlen(ca->cert_pem)) : NULL;
    if (*key && *cert && X509_check_private_key(*cert, *key) == 1)
        return 0;
    ERR_clear_error();
    log_msg(LOG_ERROR, "client CA %s: stored key or certificate does not parse or match", ca->id);
    EVP_PKEY_free(*key);
    X509_free(*cert);
    *key = NULL;
    *cert = NULL;
    return -1;
}

/* Whether e was made from exactly the stored CA ca. */
static bool entry_matches(const struct cached_ca *e, const struct store_client_ca *ca)
{
    return strcmp(e->id, ca->id) == 0 && e->key_sealed_len == ca->key_sealed_len &&
           ca->key_sealed && memcmp(e->key_sealed, ca->key_sealed, ca->key_sealed_len) == 0 &&
           ca->cert_pem && strcmp(e->cert_pem, ca->cert_pem) == 0;
}

/* With --public-url, where relying parties fetch the CA's CRL and certificate (xfree);
 * NULL otherwise. */
static void leaf_urls(struct app *app, const struct store_client_ca *ca, char **crl_url,
                      char **issuer_url)
{
    *crl_url = *issuer_url = NULL;
    if (!app->config.public_url)
        return;
    *crl_url =
        xasprintf("%s/pki/accounts/%s/client-ca.crl", app->config.public_url, ca->account_id);
    *issuer_url =
        xasprintf("%s/pki/accounts/%s/client-ca.pem", app->config.public_url, ca->account_id);
}

/* The template of the CA's client leaves, with the URLs --public-url gives them; NULL
 * when the CA is not one the template handles (its leaves then use pki_cert_issue). */
static struct pki_leaf_template *leaf_template(struct app *app, const struct store_client_ca *ca,
                                               X509 *cert, EVP_PKEY *key)
{
    char *crl_url = NULL, *issuer_url = NULL;
    leaf_urls(app, ca, &crl_url, &issuer_url);
    struct pki_leaf_template *t = pki_leaf_template_create(cert, key, crl_url, issuer_url);
    xfree(crl_url);
    xfree(issuer_url);
    return t;
}

/* Borrows (with new references) the cached material of a CA, loading it on a miss; *leaf
 * (when asked for) is the CA's leaf template or NULL (pki_leaf_template_destroy). */
static int cached_material(struct app *app, const struct store_client_ca *ca, X509 **cert,
                           EVP_PKEY **key, struct pki_leaf_template **leaf)
{
    struct client_ca_cache *c = app->client_cas;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->count; i++) {
        if (entry_matches(&c->entries[i], ca)) {
            *cert = c->entries[i].cert;
            *key = c->entries[i].key;
            X509_up_ref(*cert);
            EVP_PKEY_up_ref(*key);
            if (leaf && (*leaf = c->entries[i].leaf))
                pki_leaf_template_up_ref(*leaf);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (load_material(app, ca, cert, key) < 0)
        return -1;
    struct pki_leaf_template *made = leaf_template(app, ca, *cert, *key);
    pthread_mutex_lock(&c->lock);
    c->loads++;
    /* The same CA id's slot when there is one (its material changed): the old key goes. */
    struct cached_ca *slot = NULL;
    for (int i = 0; i < c->count && !slot; i++)
        if (strcmp(c->entries[i].id, ca->id) == 0)
            slot = &c->entries[i];
    if (!slot)
        slot = c->count < CACHE_MAX ? &c->entries[c->count++]
                                    : &c->entries[c->next_evict++ % CACHE_MAX];
    entry_free(slot);
    snprintf(slot->id, sizeof slot->id, "%s", ca->id);
    slot->cert_pem = xstrdup(ca->cert_pem);
    slot->key_sealed = xmalloc(ca->key_sealed_len);
    memcpy(slot->key_sealed, ca->key_sealed, ca->key_sealed_len);
    slot->key_sealed_len = ca->key_sealed_len;
    slot->cert = *cert;
    slot->key = *key;
    slot->leaf = made;
    X509_up_ref(*cert);
    EVP_PKEY_up_ref(*key);
    if (leaf && (*leaf = made))
        pki_leaf_template_up_ref(made);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int client_ca_build_crl(struct app *app, const struct store_client_ca *ca,
                        const struct store_revocation *revoked, int count, uint64_t crl_number,
                        int64_t now, unsigned char **der, size_t *len)
{
    X509 *cert;
    EVP_PKEY *key;
    if (cached_material(app, ca, &cert, &key, NULL) < 0)
        return -1;
    struct pki_revoked *list = xcalloc((size_t)(count ? count : 1), sizeof *list);
    for (int i = 0; i < count; i++)
        list[i] = (struct pki_revoked){revoked[i].serial, revoked[i].revoked_on};
    int rc = pki_crl_build(cert, key, crl_number, now, now + CLIENT_CA_CRL_VALIDITY_US, list,
                           (size_t)count, der, len);
    if (rc < 0)
        log_msg(LOG_ERROR, "client CA %s: cannot build CRL %llu", ca->id,
                (unsigned long long)crl_number);
    xfree(list);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* A prefix of s that is at most max characters of valid UTF-8 without control characters
 * (X.520's upper bound on O is 64 characters), into out; "" when s is not such text. */
static void subject_text(const char *s, size_t max, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, chars = 0;
    out[0] = '\0';
    while (p[n] && chars < max) {
        size_t len = p[n] < 0x80             ? 1
                     : (p[n] & 0xe0) == 0xc0 ? 2
                     : (p[n] & 0xf0) == 0xe0 ? 3
                     : (p[n] & 0xf8) == 0xf0 ? 4
                                             : 0;
        if (len == 0 || (len == 1 && (p[n] < 0x20 || p[n] == 0x7f)) || (len == 2 && p[n] < 0xc2))
            return;
        for (size_t k = 1; k < len; k++)
            if ((p[n + k] & 0xc0) != 0x80)
                return;
        n += len;
        chars++;
    }
    if (n >= size)
        return;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The subject of a new CA: CN "tlsward Managed CA for account <id>" and O the account's
 * name, so that two accounts' CAs never share a name (a terminator matching issuers by
 * name could otherwise take one account's certificates for another's). NULL on failure. */
static X509_NAME *ca_subject(struct app *app, const char *account_id)
{
    struct store_account account;
    char cn[128], org[STORE_NAME_SIZE];
    snprintf(cn, sizeof cn, "%s %s", CLIENT_CA_NAME, account_id);
    org[0] = '\0';
    if (store_account_get(app->store, account_id, &account) == STORE_OK)
        subject_text(account.name, 64, org, sizeof org);
    X509_NAME *name = X509_NAME_new();
    if (!name ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    (const unsigned char *)(org[0] ? org : "tlsward"), -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0)) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

/* Makes the key, self-signed certificate and sealed key of a new CA into *ca. */
static int mint(struct app *app, const char *account_id, int64_t now, struct store_client_ca *ca)
{
    int rc = -1;
    X509 *cert = NULL;
    X509_NAME *name = ca_subject(app, account_id);
    EVP_PKEY *key = pki_key_generate(app->config.client_ca_key);
    char *key_pem = NULL, aad[64];
    size_t key_len = 0, cert_len = 0;
    memset(ca, 0, sizeof *ca);
    util_random_uuid(ca->id);
    snprintf(ca->account_id, sizeof ca->account_id, "%s", account_id);
    snprintf(ca->name, sizeof ca->name, "%s", CLIENT_CA_NAME);
    ca->created_on = now;
    if (!key || !name)
        goto out;
    struct pki_cert_spec spec = {.profile = PKI_PROFILE_CA,
                                 .subject_key = key,
                                 .subject = name,
                                 .issuer_key = key,
                                 .not_before_us = now - 60 * 1000000LL,
                                 .not_after_us =
                                     now + (int64_t)CLIENT_CA_VALIDITY_DAYS * 86400 * 1000000LL,
                                 .path_len = 0};
    key_aad(ca->id, aad);
    if (!(cert = pki_cert_issue(&spec)) || pki_cert_to_pem(cert, &ca->cert_pem, &cert_len) < 0 ||
        pki_key_to_pem(key, &key_pem, &key_len) < 0 ||
        seal_encrypt(app->master_key, key_pem, key_len, aad, &ca->key_sealed, &ca->key_sealed_len) <
            0)
        goto out;
    ca->crl_number = 1;
    ca->crl_next_update = now + CLIENT_CA_CRL_VALIDITY_US;
    rc = pki_crl_build(cert, key, ca->crl_number, now, ca->crl_next_update, NULL, 0, &ca->crl_der,
                       &ca->crl_len);
out:
    if (key_pem) {
        OPENSSL_cleanse(key_pem, key_len);
        xfree(key_pem);
    }
    X509_NAME_free(name);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (rc < 0) {
        log_msg(LOG_ERROR, "cannot create the client CA of account %s", account_id);
        store_client_ca_clear(ca);
    }
    return rc;
}

/* The account's CA read by `read`, created first when the account has none. */
static int ensure(struct app *app, const char *account_id, struct store_client_ca *out,
                  int (*read)(struct store *, const char *, struct store_client_ca *))
{
    int rc = read(app->store, account_id, out);
    if (rc != STORE_NOT_FOUND)
        return rc;
    int64_t now = util_now_us();
    struct store_client_ca fresh;
    if (mint(app, account_id, now, &fresh) < 0)
        return STORE_ERROR;
    rc = store_client_ca_create(app->store, &fresh,
                                now + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US);
    store_client_ca_clear(&fresh);
    if (rc == STORE_OK || rc == STORE_CONFLICT) /* CONFLICT: a concurrent request won */
        rc = read(app->store, account_id, out);
    if (rc == STORE_OK)
        log_msg(LOG_INFO, "created the client CA %s of account %s", out->id, account_id);
    return rc;
}

int client_ca_ensure(struct app *app, const char *account_id, struct store_client_ca *out)
{
    return ensure(app, account_id, out, store_client_ca_by_account);
}

int client_ca_ensure_signer(struct app *app, const char *account_id, struct store_client_ca *out)
{
    return ensure(app, account_id, out, store_client_ca_signer);
}

int client_ca_sign(struct app *app, const struct store_client_ca *ca, const struct pki_csr *csr,
                   int validity_days, int64_t now, X509 **out)
{
    X509 *cert;
    EVP_PKEY *key;
    *out = NULL;
    if (cached_material(app, ca, &cert, &key, NULL) < 0)
        return -1;
    EVP_PKEY *subject_key = pki_csr_key(csr);
    /* Issued "now" to the second: clients compare issued_on with what they sent. */
    int64_t start = now - now % 1000000;
    char *crl_url = NULL, *issuer_url = NULL;
    leaf_urls(app, ca, &crl_url, &issuer_url);
    struct pki_cert_spec spec = {.profile = PKI_PROFILE_CLIENT,
                                 .subject_key = subject_key,
                                 .subject_spki = pki_csr_spki(csr),
                                 .subject = pki_csr_subject(csr),
                                 .issuer = cert,
                                 .issuer_key = key,
                                 .not_before_us = start,
                                 .not_after_us = start + (int64_t)validity_days * 86400 * 1000000LL,
                                 .path_len = -1,
                                 .crl_url = crl_url,
                                 .ca_issuers_url = issuer_url};
    *out = subject_key ? pki_cert_issue(&spec) : NULL;
    xfree(crl_url);
    xfree(issuer_url);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!*out) {
        log_msg(LOG_ERROR, "client CA %s: signing failed", ca->id);
        return -1;
    }
    return 0;
}

int client_ca_sign_leaf(struct app *app, const struct store_client_ca *ca,
                        const struct pki_csr *csr, int validity_days, int64_t now,
                        struct pki_leaf *out)
{
    X509 *cert;
    EVP_PKEY *key;
    struct pki_leaf_template *leaf = NULL;
    memset(out, 0, sizeof *out);
    if (cached_material(app, ca, &cert, &key, &leaf) < 0)
        return -1;
    X509_free(cert);
    EVP_PKEY_free(key);
    int rc = -1;
    EVP_PKEY *subject_key = pki_csr_key(csr);
    int64_t start = now - now % 1000000; /* as client_ca_sign */
    if (leaf && subject_key)
        rc = pki_leaf_issue(leaf, subject_key, pki_csr_spki(csr), pki_csr_subject(csr), start,
                            start + (int64_t)validity_days * 86400 * 1000000LL, NULL, out);
    pki_leaf_template_destroy(leaf);
    if (rc == 0)
        return 0;
    /* A CA the template does not handle (or a leaf it could not make): the general builder,
     * which logs a failure, then the same facts read from its certificate. */
    X509 *x = NULL;
    if (client_ca_sign(app, ca, csr, validity_days, now, &x) < 0)
        return -1;
    rc = pki_cert_to_pem_fingerprint(x, &out->pem, &out->pem_len, out->fingerprint);
    unsigned char *der = NULL;
    int der_len = rc == 0 ? i2d_X509(x, &der) : -1;
    if (der_len > 0) {
        out->der = xmalloc((size_t)der_len);
        memcpy(out->der, der, (size_t)der_len);
        out->der_len = (size_t)der_len;
    }
    OPENSSL_free(der);
    pki_cert_serial_hex(x, out->serial, sizeof out->serial);
    pki_cert_ski_hex(x, out->ski, sizeof out->ski);
    out->signature = pki_cert_signature_name(x);
    out->not_before_us = pki_cert_not_before(x);
    out->not_after_us = pki_cert_not_after(x);
    X509_free(x);
    if (der_len <= 0 || rc != 0) {
        pki_leaf_clear(out);
        return -1;
    }
    return 0;
}
