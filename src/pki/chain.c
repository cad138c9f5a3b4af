/* Chains submitted to POST /ssl/analyze (SPEC §4.6): the PEM bundle's limits, the trust
 * store, and chain building per bundle method, all through OpenSSL (no hand-written ASN.1;
 * the only text inspection is the search for a "PRIVATE KEY" marker, refused before any
 * parsing so that a key pasted by mistake is never decoded). */
#include "pki/chain.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "pki/pki.h"

int pki_bundle_method_parse(const char *name, enum pki_bundle_method *out)
{
    static const char *const names[] = {
        [PKI_BUNDLE_UBIQUITOUS] = "ubiquitous",
        [PKI_BUNDLE_OPTIMAL] = "optimal",
        [PKI_BUNDLE_FORCE] = "force",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (enum pki_bundle_method)i;
            return 0;
        }
    return -1;
}

/* True when the text holds "PRIVATE KEY" (any PEM private key: PKCS#8, RSA, EC, encrypted). */
static bool has_private_key(const char *pem, size_t len)
{
    static const char marker[] = "PRIVATE KEY";
    const size_t m = sizeof marker - 1;
    for (size_t i = 0; i + m <= len; i++)
        if (pem[i] == 'P' && memcmp(pem + i, marker, m) == 0)
            return true;
    return false;
}

int pki_chain_parse(const char *pem, size_t len, STACK_OF(X509) **out, const char **why)
{
    *out = NULL;
    if (len > PKI_PEM_MAX) {
        *why = "PEM larger than 64 KiB";
        return -1;
    }
    if (has_private_key(pem, len)) {
        *why = "contains a private key; send certificates only";
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    int rc = -1;
    if (!bio || !certs) {
        *why = "cannot be read";
        goto out;
    }
    ERR_clear_error();
    for (;;) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!cert)
            break;
        if (sk_X509_num(certs) == PKI_CHAIN_MAX_CERTS) {
            X509_free(cert);
            *why = "more than 10 certificates";
            goto out;
        }
        if (!sk_X509_push(certs, cert)) {
            X509_free(cert);
            *why = "cannot be read";
            goto out;
        }
    }
    /* The loop ends at the end of the text (no further BEGIN line) or at a damaged block. */
    unsigned long err = ERR_peek_last_error();
    bool clean_end = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
    if (!clean_end) {
        *why = "not a valid PEM certificate";
        goto out;
    }
    if (sk_X509_num(certs) == 0) {
        *why = "no PEM certificate found";
        goto out;
    }
    *out = certs;
    certs = NULL;
    rc = 0;
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    return rc;
}

X509_STORE *pki_trust_store_create(const char *trust_dir)
{
    X509_STORE *store = X509_STORE_new();
    if (!store)
        return NULL;
    /* A missing system bundle is not an error: the store then holds DATA/trust alone. */
    X509_STORE_set_default_paths(store);
    ERR_clear_error();
    DIR *dir = trust_dir ? opendir(trust_dir) : NULL;
    if (!dir)
        return store;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", trust_dir, e->d_name);
        struct stat st;
        /* Each certificate of the file becomes a trust anchor; files that are not PEM
         * certificates are skipped. */
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            X509_STORE_load_file(store, path);
        ERR_clear_error();
        xfree(path);
    }
    closedir(dir);
    return store;
}

struct pki_trust_cache {
    pthread_mutex_t lock;
    char *dir;
    X509_STORE *store;
    uint64_t fingerprint; /* of the directory's entries when store was built */
};

/* A cheap summary of what trust_dir holds: every entry's name, size and mtime hashed
 * (FNV-1a), so adding, removing or rewriting a file changes it. */
static uint64_t dir_fingerprint(const char *dir_path)
{
    uint64_t h = 1469598103934665603ULL;
    DIR *dir = opendir(dir_path);
    if (!dir)
        return 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir_path, e->d_name);
        struct stat st;
        uint64_t parts[3] = {0, 0, 0};
        if (stat(path, &st) == 0) {
            parts[0] = (uint64_t)st.st_size;
            parts[1] = (uint64_t)st.st_mtim.tv_sec;
            parts[2] = (uint64_t)st.st_mtim.tv_nsec;
        }
        xfree(path);
        /* Order-independent across entries: combine each entry's own hash by addition. */
        uint64_t eh = 1469598103934665603ULL;
        for (const char *p = e->d_name; *p; p++)
            eh = (eh ^ (unsigned char)*p) * 1099511628211ULL;
        for (int i = 0; i < 3; i++)
            eh = (eh ^ parts[i]) * 1099511628211ULL;
        h += eh;
    }
    closedir(dir);
    return h;
}

struct pki_trust_cache *pki_trust_cache_create(const char *trust_dir)
{
    struct pki_trust_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->dir = xstrdup(trust_dir);
    c->fingerprint = dir_fingerprint(c->dir);
    c->store = pki_trust_store_create(c->dir);
    return c;
}

void pki_trust_cache_destroy(struct pki_trust_cache *c)
{
    if (!c)
        return;
    X509_STORE_free(c->store);
    pthread_mutex_destroy(&c->lock);
    xfree(c->dir);
    xfree(c);
}

X509_STORE *pki_trust_cache_get(struct pki_trust_cache *c)
{
    uint64_t now = dir_fingerprint(c->dir);
    pthread_mutex_lock(&c->lock);
    if (!c->store || now != c->fingerprint) {
        X509_STORE *fresh = pki_trust_store_create(c->dir);
        if (fresh) {
            X509_STORE_free(c->store);
            c->store = fresh;
            c->fingerprint = now;
        }
    }
    X509_STORE *store = c->store;
    if (store && !X509_STORE_up_ref(store))
        store = NULL;
    pthread_mutex_unlock(&c->lock);
    return store;
}

/* Records every distinct failure and lets verification go on, so that the response can list
 * them all (an expired leaf and a missing issuer are both reported); the verdict is then
 * "no failure recorded", not X509_verify_cert's return value. */
static int record_failure(int ok, X509_STORE_CTX *ctx)
{
    if (ok)
        return 1;
    struct pki_chain *c = X509_STORE_CTX_get_app_data(ctx);
    const char *msg = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    for (size_t i = 0; i < c->error_count; i++)
        if (c->errors[i] == msg)
            return 1;
    if (c->error_count < PKI_CHAIN_MAX_ERRORS)
        c->errors[c->error_count++] = msg;
    return 1;
}

/* Why the two building methods differ in more than the root:
 * - ubiquitous turns off X509_V_FLAG_TRUSTED_FIRST, so OpenSSL follows the given
 *   intermediates as far as they go (through cross-signs towards the oldest root) before it
 *   looks for an anchor: the longest chain, the one that old clients with old roots accept.
 *   The root it ends in is included, so the caller sees which anchor the chain relies on.
 * - optimal keeps trusted-first: the first certificate found in the trust store ends the
 *   chain (the shortest), and the self-signed root is dropped because no client needs to be
 *   sent a root it must already trust — fewer bytes in every handshake.
 * - force serves the input exactly as given; it is still verified for `trusted`. */
int pki_chain_build(X509_STORE *store, STACK_OF(X509) *given, enum pki_bundle_method method,
                    struct pki_chain *out)
{
    *out = (struct pki_chain){0};
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = NULL;
    int rc = -1;
    if (!ctx || sk_X509_num(given) < 1)
        goto out;
    X509 *leaf = sk_X509_value(given, 0);
    untrusted = sk_X509_new_null();
    if (!untrusted)
        goto out;
    for (int i = 1; i < sk_X509_num(given); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(given, i)))
            goto out;
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
        goto out;
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (method == PKI_BUNDLE_UBIQUITOUS)
        X509_VERIFY_PARAM_clear_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_TRUSTED_FIRST);
    X509_STORE_CTX_set_app_data(ctx, out);
    X509_STORE_CTX_set_verify_cb(ctx, record_failure);
    int ok = X509_verify_cert(ctx);
    if (ok < 0)
        goto out;
    out->trusted = ok == 1 && out->error_count == 0;
    if (out->trusted == false && out->error_count == 0)
        out->errors[out->error_count++] =
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));

    if (method == PKI_BUNDLE_FORCE) {
        out->certs = X509_chain_up_ref(given);
    } else {
        out->certs = X509_STORE_CTX_get1_chain(ctx);
        int n = out->certs ? sk_X509_num(out->certs) : 0;
        if (method == PKI_BUNDLE_OPTIMAL && n > 1 &&
            (X509_get_extension_flags(sk_X509_value(out->certs, n - 1)) & EXFLAG_SS))
            X509_free(sk_X509_pop(out->certs));
    }
    if (!out->certs) {
        pki_chain_clear(out);
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    return rc;
}

void pki_chain_clear(struct pki_chain *c)
{
    sk_X509_pop_free(c->certs, X509_free);
    *c = (struct pki_chain){0};
}

void pki_cert_dns_names(X509 *cert, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int n = sans ? sk_GENERAL_NAME_num(sans) : 0;
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(sans, i);
        if (gen->type != GEN_DNS)
            continue;
        const ASN1_IA5STRING *ia5 = gen->d.dNSName;
        if (!*names)
            *names = xcalloc((size_t)n, sizeof **names);
        (*names)[(*count)++] = xstrndup((const char *)ASN1_STRING_get0_data(ia5),
                                        (size_t)ASN1_STRING_length(ia5));
    }
    GENERAL_NAMES_free(sans);
    ERR_clear_error();
}
