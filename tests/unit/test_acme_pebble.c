/* The ACME client against a real Pebble (tests/unit/tu_pebble.h): account registration
 * (idempotent per key, onlyReturnExisting), an order for a name and its wildcard answered
 * through dns-01, finalize with a real CSR, the chain and its Link alternate verified with
 * OpenSSL against Pebble's roots, the preferred chain, revocation seen on Pebble's
 * management port, badNonce retried (Pebble rejects 5 % of good nonces), accounts and
 * orders the server does not know, and external account binding on a second Pebble that
 * requires it. Skipped with a message when pebble is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme/acme.h"
#include "common/alloc.h"
#include "pki/pki.h"
#include "tu_pebble.h"

#define WAIT_US (30LL * 1000000)

static const char *const NAMES[] = {"www.tlsward.test", "*.tlsward.test"};

struct fixture {
    struct tu_pebble pebble;
    bool skip;
    EVP_PKEY *key;
    struct acme_client *c;
    int status_count[ACME_EP_COUNT][6]; /* [endpoint][status / 100] */
    char *cert_pem;                     /* the issued chain, for the revocation test */
};

static void count(void *ctx, enum acme_endpoint ep, int status, int64_t us)
{
    struct fixture *f = ctx;
    assert_true(ep < ACME_EP_COUNT);
    f->status_count[ep][status / 100 < 6 ? status / 100 : 0]++;
}

static struct acme_client *client_for(struct fixture *f, EVP_PKEY *key)
{
    struct acme_client_options o = {.directory_url = f->pebble.directory_url,
                                    .ca_file = f->pebble.ca_file,
                                    .timeout_ms = 10000,
                                    .metrics = count,
                                    .metrics_ctx = f};
    struct acme_error err;
    struct acme_client *c = acme_client_create(&o, key, &err);
    assert_non_null(c);
    return c;
}

static int start(void **state, const char *eab_kid, const char *eab_key)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    *state = f;
    int rc = tu_pebble_start(&f->pebble, eab_kid, eab_key);
    if (rc == 1) {
        fprintf(stderr, "pebble is not installed (%s): skipping the ACME integration tests\n",
                TU_PEBBLE_BIN);
        f->skip = true;
        return 0;
    }
    if (rc != 0)
        return -1;
    f->key = acme_key_generate();
    f->c = client_for(f, f->key);
    return 0;
}

static int setup_plain(void **state)
{
    return start(state, NULL, NULL);
}

/* The MAC key as Pebble's example configuration gives it (base64url). */
#define EAB_KID "kid-tlsward"
#define EAB_KEY "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

static int setup_eab(void **state)
{
    return start(state, EAB_KID, EAB_KEY);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    acme_client_destroy(f->c);
    EVP_PKEY_free(f->key);
    xfree(f->cert_pem);
    tu_pebble_stop(&f->pebble);
    xfree(f);
    return 0;
}

static void fail_err(const char *what, const struct acme_error *err)
{
    char line[1024];
    acme_error_format(err, line, sizeof line);
    fail_msg("%s: %s", what, line);
}

#define CHECK(what, call, err)                                                                     \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_err(what, &(err));                                                                \
    } while (0)

static struct fixture *fixture_or_skip(void **state)
{
    struct fixture *f = *state;
    if (f->skip)
        skip();
    return f;
}

static void register_account(struct fixture *f)
{
    if (acme_client_account(f->c))
        return;
    struct acme_error err;
    struct acme_account_options o = {.contact = "mailto:ops@tlsward.test", .terms_agreed = true};
    char *url = NULL;
    CHECK("newAccount", acme_account_register(f->c, &o, &url, &err), err);
    xfree(url);
}

static void test_account(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const struct acme_directory *d;
    struct acme_error err;
    CHECK("directory", acme_client_directory(f->c, &d, &err), err);
    assert_false(d->external_account_required);
    assert_non_null(strstr(d->new_order, "127.0.0.1"));

    /* An unknown key with onlyReturnExisting: the server has no such account. */
    struct acme_account_options lookup = {.only_existing = true};
    assert_int_equal(acme_account_register(f->c, &lookup, NULL, &err), ACME_E_GONE);
    assert_true(err.has_problem);
    assert_string_equal(err.problem.type, "accountDoesNotExist");

    struct acme_account_options o = {.contact = "mailto:ops@tlsward.test", .terms_agreed = true};
    char *url = NULL, *again = NULL, *found = NULL;
    CHECK("newAccount", acme_account_register(f->c, &o, &url, &err), err);
    assert_non_null(url);
    assert_string_equal(acme_client_account(f->c), url);
    /* Idempotent per key, and found by lookup. */
    CHECK("newAccount again", acme_account_register(f->c, &o, &again, &err), err);
    assert_string_equal(again, url);
    CHECK("lookup", acme_account_register(f->c, &lookup, &found, &err), err);
    assert_string_equal(found, url);
    /* A contact that is not one mailto: address is refused before anything is sent. */
    struct acme_account_options bad = {.contact = "ops@tlsward.test", .terms_agreed = true};
    assert_int_equal(acme_account_register(f->c, &bad, NULL, &err), ACME_E_INVALID);
    xfree(found);
    xfree(again);
    xfree(url);
}

/* A DER CSR for the names, with a fresh P-256 key. */
static unsigned char *make_csr(size_t *len)
{
    EVP_PKEY *k = acme_key_generate();
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_version(req, 0);
    X509_REQ_set_pubkey(req, k);
    X509_NAME *name = X509_REQ_get_subject_name(req);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)NAMES[0], -1, -1,
                               0);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char san[256];
    snprintf(san, sizeof san, "DNS:%s,DNS:%s", NAMES[0], NAMES[1]);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    assert_non_null(ext);
    sk_X509_EXTENSION_push(exts, ext);
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    assert_true(n > 0);
    unsigned char *out = xmalloc((size_t)n);
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    return out;
}

/* Verifies a PEM chain (leaf first) against a PEM root with OpenSSL; returns the leaf. */
static X509 *verify_chain(const char *chain_pem, const char *root_pem)
{
    X509_STORE *store = X509_STORE_new();
    BIO *rb = BIO_new_mem_buf(root_pem, -1);
    X509 *root = PEM_read_bio_X509(rb, NULL, NULL, NULL);
    assert_non_null(root);
    X509_STORE_add_cert(store, root);
    BIO *cb = BIO_new_mem_buf(chain_pem, -1);
    X509 *leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    assert_non_null(leaf);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
        sk_X509_push(untrusted, x);
    assert_true(sk_X509_num(untrusted) >= 1);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, untrusted);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fail_msg("chain does not verify: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    BIO_free(cb);
    BIO_free(rb);
    X509_free(root);
    X509_STORE_free(store);
    return leaf;
}

/* The subject CN of a PEM certificate. */
static void subject_cn(const char *pem, char *out, size_t size)
{
    X509 *x = pki_cert_from_pem(pem, strlen(pem));
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)size);
    X509_free(x);
}

static void test_issue(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    register_account(f);
    struct acme_error err;
    struct acme_order order, ready, fin, valid;
    CHECK("newOrder", acme_order_new(f->c, NAMES, 2, &order, &err), err);
    assert_int_equal(order.status, ACME_ST_PENDING);
    assert_int_equal(order.n_names, 2);
    assert_int_equal(order.n_authz, 2);
    assert_non_null(order.url);

    /* Each authorization: dns-01 offered with a token, a 43-character TXT value; one of
     * them is the wildcard (identifier without "*."). */
    int wildcards = 0;
    for (size_t i = 0; i < order.n_authz; i++) {
        struct acme_authz a, done;
        CHECK("authz", acme_authz_get(f->c, order.authz_urls[i], &a, &err), err);
        assert_string_equal(a.identifier, a.wildcard ? "tlsward.test" : "www.tlsward.test");
        wildcards += a.wildcard;
        const struct acme_challenge *ch = acme_authz_challenge(&a, ACME_CHALL_DNS01);
        assert_non_null(ch);
        assert_non_null(ch->token);
        assert_int_equal(ch->status, ACME_ST_PENDING);
        char txt[44];
        assert_int_equal(acme_dns01_value(f->c, ch->token, txt), 0);
        assert_int_equal(strlen(txt), 43);
        struct acme_challenge answered;
        CHECK("challenge", acme_challenge_answer(f->c, ch->url, &answered, &err), err);
        assert_string_equal(answered.type_name, "dns-01");
        acme_challenge_free(&answered);
        CHECK("authz wait", acme_authz_wait(f->c, a.url, WAIT_US, &done, &err), err);
        assert_int_equal(done.status, ACME_ST_VALID);
        acme_authz_free(&done);
        acme_authz_free(&a);
    }
    assert_int_equal(wildcards, 1);

    CHECK("order ready", acme_order_wait(f->c, order.url, ACME_ST_READY, WAIT_US, &ready, &err),
          err);
    assert_int_equal(ready.status, ACME_ST_READY);
    size_t csr_len;
    unsigned char *csr = make_csr(&csr_len);
    CHECK("finalize", acme_order_finalize(f->c, &ready, csr, csr_len, &fin, &err), err);
    assert_true(fin.status == ACME_ST_PROCESSING || fin.status == ACME_ST_VALID);
    CHECK("order valid", acme_order_wait(f->c, order.url, ACME_ST_VALID, WAIT_US, &valid, &err),
          err);
    assert_non_null(valid.certificate_url);

    /* The default chain and its alternate, each verified against its Pebble root. */
    struct acme_chains chains;
    CHECK("download", acme_cert_download(f->c, valid.certificate_url, true, &chains, &err), err);
    assert_int_equal(chains.n, 2);
    char *root0 = tu_pebble_fetch(&f->pebble, "/roots/0");
    char *root1 = tu_pebble_fetch(&f->pebble, "/roots/1");
    assert_non_null(root0);
    assert_non_null(root1);
    X509 *leaf = verify_chain(chains.pem[0], root0);
    X509 *alt_leaf = verify_chain(chains.pem[1], root1);
    assert_int_equal(X509_cmp(leaf, alt_leaf), 0); /* the same certificate, another chain */
    assert_int_equal(X509_check_host(leaf, NAMES[0], 0, 0, NULL), 1);
    X509_free(alt_leaf);
    X509_free(leaf);

    /* The preferred chain is picked by the topmost issuer's CN, else the default. */
    char cn0[256], cn1[256];
    subject_cn(root0, cn0, sizeof cn0);
    subject_cn(root1, cn1, sizeof cn1);
    assert_string_not_equal(cn0, cn1);
    char *pem = NULL;
    CHECK("preferred alternate", acme_cert_fetch(f->c, valid.certificate_url, cn1, &pem, &err),
          err);
    assert_string_equal(pem, chains.pem[1]);
    xfree(pem);
    CHECK("preferred default", acme_cert_fetch(f->c, valid.certificate_url, cn0, &pem, &err), err);
    assert_string_equal(pem, chains.pem[0]);
    xfree(pem);
    CHECK("unknown preferred",
          acme_cert_fetch(f->c, valid.certificate_url, "No Such CA", &pem, &err), err);
    assert_string_equal(pem, chains.pem[0]);
    f->cert_pem = pem;

    free(root1);
    free(root0);
    acme_chains_free(&chains);
    xfree(csr);
    acme_order_free(&valid);
    acme_order_free(&fin);
    acme_order_free(&ready);
    acme_order_free(&order);
}

static void test_revoke(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    if (!f->cert_pem)
        fail_msg("test_issue did not leave a certificate");
    X509 *leaf = pki_cert_from_pem(f->cert_pem, strlen(f->cert_pem));
    unsigned char *der = NULL;
    int n = i2d_X509(leaf, &der);
    char serial[64], path[128];
    pki_cert_serial_hex(leaf, serial, sizeof serial);
    snprintf(path, sizeof path, "/cert-status-by-serial/%s", serial);
    char *before = tu_pebble_fetch(&f->pebble, path);
    assert_non_null(before);
    assert_non_null(strstr(before, "\"Valid\""));
    struct acme_error err;
    CHECK("revoke", acme_revoke(f->c, der, (size_t)n, 5, &err), err);
    char *after = tu_pebble_fetch(&f->pebble, path);
    assert_non_null(after);
    assert_non_null(strstr(after, "\"Revoked\""));
    /* Twice: the server says it is already revoked. */
    assert_int_equal(acme_revoke(f->c, der, (size_t)n, 5, &err), ACME_E_PROBLEM);
    assert_string_equal(err.problem.type, "alreadyRevoked");
    assert_int_equal(acme_revoke(f->c, der, (size_t)n, 7, &err), ACME_E_INVALID);
    free(after);
    free(before);
    OPENSSL_free(der);
    X509_free(leaf);
}

/* Pebble rejects 5 % of good nonces with badNonce; the client retries inside, so a long
 * run of POST-as-GET requests all succeed while some 400 answers were seen. */
static void test_bad_nonce_retried(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    register_account(f);
    struct acme_error err;
    struct acme_order order;
    const char *one[] = {"nonce.tlsward.test"};
    CHECK("newOrder", acme_order_new(f->c, one, 1, &order, &err), err);
    int before = f->status_count[ACME_EP_ORDER][4];
    int i;
    for (i = 0; i < 1000 && f->status_count[ACME_EP_ORDER][4] == before; i++) {
        struct acme_order again;
        CHECK("order get", acme_order_get(f->c, order.url, &again, &err), err);
        assert_string_equal(again.names[0], one[0]);
        acme_order_free(&again);
    }
    assert_true(f->status_count[ACME_EP_ORDER][4] > before); /* badNonce seen, and retried */
    acme_order_free(&order);
}

static void test_gone(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    register_account(f);
    struct acme_error err;
    struct acme_order order;
    const char *one[] = {"gone.tlsward.test"};
    CHECK("newOrder", acme_order_new(f->c, one, 1, &order, &err), err);
    /* A stored order URL the server does not know. */
    char *missing = xasprintf("%sx", order.url);
    struct acme_order o2;
    assert_int_equal(acme_order_get(f->c, missing, &o2, &err), ACME_E_GONE);
    assert_int_equal(err.http_status, 404);
    xfree(missing);
    acme_order_free(&order);

    /* A stored account URL the server has forgotten (a new key, someone else's URL). */
    EVP_PKEY *k = acme_key_generate();
    struct acme_client *c2 = client_for(f, k);
    char *forgotten = xasprintf("%s424242", acme_client_account(f->c));
    acme_client_set_account(c2, forgotten);
    xfree(forgotten);
    assert_int_equal(acme_order_new(c2, one, 1, &o2, &err), ACME_E_GONE);
    assert_string_equal(err.problem.type, "accountDoesNotExist");
    /* Without any account URL nothing is sent. */
    acme_client_set_account(c2, NULL);
    assert_int_equal(acme_order_new(c2, one, 1, &o2, &err), ACME_E_INVALID);
    const char *bad[] = {"UPPER.test"};
    acme_client_set_account(c2, "https://127.0.0.1:1/x");
    assert_int_equal(acme_order_new(c2, bad, 1, &o2, &err), ACME_E_INVALID);
    acme_client_destroy(c2);
    EVP_PKEY_free(k);
    /* A transport error names the endpoint. */
    struct acme_client_options o = {.directory_url = "https://127.0.0.1:1/dir",
                                    .ca_file = f->pebble.ca_file};
    k = acme_key_generate();
    c2 = acme_client_create(&o, k, &err);
    const struct acme_directory *d;
    assert_int_equal(acme_client_directory(c2, &d, &err), ACME_E_TRANSPORT);
    acme_client_destroy(c2);
    EVP_PKEY_free(k);
    /* Metrics saw every endpoint used so far. */
    assert_true(f->status_count[ACME_EP_DIRECTORY][2] >= 1);
    assert_true(f->status_count[ACME_EP_NEW_NONCE][2] >= 1);
    assert_true(f->status_count[ACME_EP_NEW_ORDER][2] >= 1);
    assert_true(f->status_count[ACME_EP_ORDER][4] >= 1);
}

static void test_eab_required(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const struct acme_directory *d;
    struct acme_error err;
    CHECK("directory", acme_client_directory(f->c, &d, &err), err);
    assert_true(d->external_account_required);
    struct acme_account_options o = {.contact = "mailto:ops@tlsward.test", .terms_agreed = true};
    assert_int_equal(acme_account_register(f->c, &o, NULL, &err), ACME_E_PROBLEM);
    assert_string_equal(err.problem.type, "externalAccountRequired");
    /* The wrong MAC key: refused by the server. */
    o.eab_kid = EAB_KID;
    o.eab_hmac = "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH";
    assert_int_equal(acme_account_register(f->c, &o, NULL, &err), ACME_E_PROBLEM);
    assert_null(acme_client_account(f->c));
    /* A MAC key that is not base64url: refused before anything is sent. */
    o.eab_hmac = "not base64!";
    assert_int_equal(acme_account_register(f->c, &o, NULL, &err), ACME_E_INVALID);
    /* The right one. */
    o.eab_hmac = EAB_KEY;
    char *url = NULL;
    CHECK("newAccount with EAB", acme_account_register(f->c, &o, &url, &err), err);
    assert_non_null(url);
    struct acme_order order;
    const char *one[] = {"eab.tlsward.test"};
    CHECK("newOrder", acme_order_new(f->c, one, 1, &order, &err), err);
    acme_order_free(&order);
    xfree(url);
}

int main(void)
{
    alloc_install_json();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_account), cmocka_unit_test(test_issue),
        cmocka_unit_test(test_revoke),  cmocka_unit_test(test_bad_nonce_retried),
        cmocka_unit_test(test_gone),
    };
    const struct CMUnitTest eab[] = {
        cmocka_unit_test(test_eab_required),
    };
    int rc = cmocka_run_group_tests_name("pebble", plain, setup_plain, teardown);
    rc += cmocka_run_group_tests_name("pebble_eab", eab, setup_eab, teardown);
    curl_global_cleanup();
    return rc;
}
