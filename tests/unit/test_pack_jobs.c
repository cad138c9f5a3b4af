/* Tests of the pack.advance job (worker/pack_jobs.c) driven through worker_run_due, without
 * HTTP: a real SQLite store and data directory in a mkdtemp dir, the built-in CA created,
 * persisted and loaded as `init` and `serve` do, a small RSA key pool. An advanced pack
 * goes initializing → pending_validation (records) → … → active in auto DCV mode, with
 * its ECDSA + RSA certificates in the store and deployed to DATA/deploy/<zone id>/<pack id>
 * (keys 0600, each matching its certificate) and the deploy hook run with its
 * environment; deletion removes the deployment and runs the hook with event delete; check
 * mode against a DNS port nobody answers records the errors and times out; an old
 * certificate is renewed in place (generation 2 deployed, generation 1 pruned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "dcv/dcv.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "pki/seal.h"
#include "store/store.h"
#include "worker/deploy.h"
#include "worker/worker.h"
#include "testutil.h"
#include "tu_dnsmasq.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)
#define ZONE "example.com"
#define HOSTS_JSON "[\"example.com\",\"*.example.com\"]"
#define OWNER "owner"
#define MAX_ROUNDS 12 /* worker_run_due calls before a test gives up */

struct fixture {
    char *dir; /* the data directory (and the database's) */
    char *path;
    struct app app;
    char account_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
};

/* ---- set-up ---- */

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    fx->dir = xstrdup("/tmp/tlsward-test-pack-jobs-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    fx->path = xasprintf("%s/tlsward.db", fx->dir);
    struct app *app = &fx->app;
    if (store_open(fx->path, STORE_OPEN_CREATE, 4, &app->store) != STORE_OK)
        return -1;
    util_random_bytes(app->master_key, sizeof app->master_key);
    app->config.data_dir = fx->dir;
    app->config.dcv_mode = DCV_MODE_AUTO;
    app->config.worker_interval_us = 60 * SEC;
    app->config.validation_timeout_us = 3600 * SEC;
    app->config.issuance_timeout_us = 3600 * SEC;
    dcv_resolver_init(&app->config.dcv);

    /* The CA as `init` makes it; dated a year back so that the renewal test can issue an
     * old certificate from it. */
    int64_t now = util_now_us();
    tu_local_ca(app, now - 365 * DAY);
    app->rsa_keys = key_pool_create(PKI_KEY_RSA_2048, 2);
    assert_non_null(app->rsa_keys);

    tu_add_account(app->store, "packs@example.com", "packs account", fx->account_id);
    struct store_zone z = {
        .universal_ssl = false, .advanced_quota = 50, .created_on = now, .modified_on = now};
    util_random_id(z.id);
    snprintf(z.account_id, sizeof z.account_id, "%s", fx->account_id);
    snprintf(z.name, sizeof z.name, ZONE);
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(app->store, &z), STORE_OK);
    snprintf(fx->zone_id, sizeof fx->zone_id, "%s", z.id);
    *state = fx;
    return 0;
}

/* Removes path and everything below it (symlinks are removed, not followed). */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *child = xasprintf("%s/%s", path, e->d_name);
            remove_tree(child);
            xfree(child);
        }
        closedir(d);
        assert_int_equal(rmdir(path), 0);
    } else {
        assert_int_equal(unlink(path), 0);
    }
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    key_pool_destroy(fx->app.rsa_keys);
    local_ca_destroy(fx->app.local_ca);
    store_close(fx->app.store);
    remove_tree(fx->dir);
    xfree(fx->path);
    xfree(fx->dir);
    xfree(fx);
    return 0;
}

/* What the test DNS server serves; tests change it and call tu_dns_restart. */
static struct {
    struct tu_dns dns;
    bool up;
    char txt[4][64]; /* values at _acme-challenge.example.com ("" = none) */
    bool caa_forbids;
} dns_fx;

static void dns_records(FILE *f, void *ctx)
{
    (void)ctx;
    fprintf(f, "local=/example.com/\nlocal=/com/\n");
    for (size_t i = 0; i < 4; i++) {
        if (dns_fx.txt[i][0])
            fprintf(f, "txt-record=_acme-challenge.example.com,\"%s\"\n", dns_fx.txt[i]);
    }
    if (dns_fx.caa_forbids)
        tu_dns_write_caa(f, "com", 0, "issue", "otherca.example");
}

static int group_setup(void **state)
{
    (void)state;
    if (dcv_global_init() != 0)
        return -1;
    int rc = tu_dns_start(&dns_fx.dns, dns_records, NULL);
    dns_fx.up = rc == 0;
    return rc < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_dns_stop(&dns_fx.dns);
    dcv_global_cleanup();
    return 0;
}

/* ---- helpers ---- */

/* The first column of the first row of sql with ?1 bound to arg; -1 without a row. */
static long long raw_int(const struct fixture *fx, const char *sql, const char *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    long long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The pack's pack.advance job: its next_run_at, or -1 when it has none. */
static long long job_due(const struct fixture *fx, const char *pack_id)
{
    return raw_int(fx, "SELECT next_run_at FROM jobs WHERE kind = 'pack.advance' AND target = ?1",
                   pack_id);
}

/* Creates an advanced pack of the zone in `status` (txt, 90 days) and returns its id. */
/* An array of a pack as its JSON text (the store's encoding), kept until a few later
 * calls: the assertions below read packs as the API shows them. */
static const char *pack_text(const struct store_pack *p, enum store__pack_array a)
{
    static char *ring[16];
    static int next;
    int slot = next++ % 16;
    xfree(ring[slot]);
    ring[slot] = tu_pack_text(p, a);
    return ring[slot];
}

static void add_pack(struct fixture *fx, const char *status, char *id_out)
{
    int64_t now = util_now_us();
    struct store_pack p = {
        .validity_days = 90, .status_since = now, .created_on = now, .modified_on = now};
    util_random_id(p.id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", fx->zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE(status, &p.status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    tu_pack_set(&p, TU_HOSTS, HOSTS_JSON);
    assert_int_equal(store_pack_create(fx->app.store, &p), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

static void get_pack(struct fixture *fx, const char *id, struct store_pack *p)
{
    assert_int_equal(store_pack_get(fx->app.store, fx->zone_id, id, p), STORE_OK);
}

static void assert_status(struct fixture *fx, const char *id, const char *status)
{
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), status);
    store_pack_clear(&p);
}

/* Asserts the records of a txt pack for HOSTS_JSON: two pending records at the apex's
 * _acme-challenge name with distinct 43-character values. */
static void assert_txt_records(const char *records)
{
    json_t *arr = json_loads(records, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    const char *values[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(arr, i);
        assert_string_equal(json_string_value(json_object_get(r, "txt_name")),
                            "_acme-challenge.example.com");
        values[i] = json_string_value(json_object_get(r, "txt_value"));
        assert_non_null(values[i]);
        assert_int_equal(strlen(values[i]), 43);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "pending");
    }
    assert_string_not_equal(values[0], values[1]);
    json_decref(arr);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (fsutil_read_file(path, 1 << 20, &text, &len) != 0)
        fail_msg("cannot read %s", path);
    return text;
}

static X509 *parse_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    assert_non_null(b);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static int chain_length(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        n++;
        X509_free(x);
    }
    BIO_free(b);
    return n;
}

static EVP_PKEY *load_key_file(const char *path)
{
    char *pem = read_text(path);
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    OPENSSL_cleanse(pem, strlen(pem));
    xfree(pem);
    assert_non_null(k);
    return k;
}

static void assert_mode(const char *path, mode_t want)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, want);
}

/* The CN of a name, into buf. */
static void name_cn(const X509_NAME *name, char *buf, int size)
{
    buf[0] = '\0';
    assert_true(X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, buf, size) > 0);
}

/* Hex serial of a certificate, lower-case, without leading zeros. */
static void cert_serial(X509 *x, char *out, size_t size)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = BN_bn2hex(bn);
    const char *p = hex;
    while (*p == '0' && p[1])
        p++;
    snprintf(out, size, "%s", p);
    for (char *c = out; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
    OPENSSL_free(hex);
    BN_free(bn);
}

static const char *strip_zeros(const char *s)
{
    while (*s == '0' && s[1])
        s++;
    return s;
}

/* The chain is leaf + the local issuing CA (no root) and verifies up to the local root. */
static void assert_chain_verifies(struct fixture *fx, const char *chain_pem)
{
    BIO *b = BIO_new_mem_buf(chain_pem, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    X509 *inter = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(leaf);
    assert_non_null(inter);
    X509 *want_inter = parse_cert(local_ca_intermediate_pem(fx->app.local_ca));
    X509 *root = parse_cert(local_ca_root_pem(fx->app.local_ca));
    assert_int_equal(X509_cmp(inter, want_inter), 0);
    X509_STORE *trust = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(trust, root), 1);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, inter);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, trust, leaf, untrusted), 1);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fail_msg("chain does not verify: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(trust);
    X509_free(root);
    X509_free(want_inter);
    X509_free(inter);
    X509_free(leaf);
}

/* The certificates of the pack's generation `gen` are the ECDSA (priority 1) and RSA
 * (priority 2) pair for HOSTS_JSON from the local issuing CA, valid 90 days. */
static void assert_pack_certs(struct fixture *fx, const char *id, int gen,
                              struct store_pack_cert **out)
{
    struct store_pack_cert *certs = NULL;
    int n = -1;
    assert_int_equal(store_pack_certs(fx->app.store, id, gen, &certs, &n), STORE_OK);
    assert_int_equal(n, 2);
    static const char *const types[2] = {"ecdsa", "rsa"};
    static const char *const sigs[2] = {"ECDSAWithSHA256", "SHA256WithRSA"};
    static const int pkey_ids[2] = {EVP_PKEY_EC, EVP_PKEY_RSA};
    for (int i = 0; i < 2; i++) {
        struct store_pack_cert *c = &certs[i];
        assert_string_equal(c->pack_id, id);
        assert_int_equal(c->generation, gen);
        assert_int_equal(c->priority, i + 1);
        assert_string_equal(STORE_ENUM_NAME(c->key_type), types[i]);
        assert_string_equal(c->signature, sigs[i]);
        assert_string_equal(c->issuer, "tlsward Local Issuing CA");
        assert_int_equal(c->expires_on - c->not_before, 90 * DAY);
        assert_true(c->key_sealed_len > 0);
        assert_int_equal(chain_length(c->chain_pem), 2); /* leaf + intermediate, no root */
        assert_chain_verifies(fx, c->chain_pem);
        X509 *leaf = parse_cert(c->chain_pem);
        char cn[256], serial[64];
        name_cn(X509_get_issuer_name(leaf), cn, sizeof cn);
        assert_string_equal(cn, "tlsward Local Issuing CA");
        assert_int_equal(X509_check_host(leaf, "example.com", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(leaf, "www.example.com", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(leaf, "example.org", 0, 0, NULL), 0);
        assert_int_equal(EVP_PKEY_base_id(X509_get0_pubkey(leaf)), pkey_ids[i]);
        cert_serial(leaf, serial, sizeof serial);
        assert_string_equal(strip_zeros(c->serial), serial);
        X509_free(leaf);
    }
    assert_string_not_equal(certs[0].serial, certs[1].serial);
    if (out)
        *out = certs;
    else
        store_pack_cert_list_free(certs, n);
}

static char *deploy_dir(const struct fixture *fx, const char *id)
{
    return xasprintf("%s/deploy/%s/%s", fx->dir, fx->zone_id, id);
}

/* Versioned directories of the pack in the zone's deploy directory (".<id>.<hex>"). */
static int versioned_dirs(const struct fixture *fx, const char *id)
{
    char *zone_dir = xasprintf("%s/deploy/%s", fx->dir, fx->zone_id);
    char *prefix = xasprintf(".%s.", id);
    DIR *d = opendir(zone_dir);
    int n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                n++;
        closedir(d);
    }
    xfree(prefix);
    xfree(zone_dir);
    return n;
}

/* The pack's deployment holds exactly `certs` (ECDSA then RSA): each .crt is the stored
 * chain, each .key (0600) the private key of its certificate. */
static void assert_deployed(struct fixture *fx, const char *id, const struct store_pack_cert *certs)
{
    char *dir = deploy_dir(fx, id);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* swapped in atomically */
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(versioned_dirs(fx, id), 1);
    static const char *const kinds[2] = {"ecdsa", "rsa"};
    for (int i = 0; i < 2; i++) {
        char *crt = xasprintf("%s/%s.crt", dir, kinds[i]);
        char *key = xasprintf("%s/%s.key", dir, kinds[i]);
        assert_mode(crt, 0644);
        assert_mode(key, 0600);
        char *chain = read_text(crt);
        assert_string_equal(chain, certs[i].chain_pem);
        X509 *leaf = parse_cert(chain);
        EVP_PKEY *k = load_key_file(key);
        assert_int_equal(X509_check_private_key(leaf, k), 1);
        assert_int_equal(EVP_PKEY_base_id(k), i == 0 ? EVP_PKEY_EC : EVP_PKEY_RSA);
        if (i == 1)
            assert_int_equal(EVP_PKEY_get_bits(k), 2048);
        EVP_PKEY_free(k);
        X509_free(leaf);
        xfree(chain);
        xfree(key);
        xfree(crt);
    }
    /* Nothing else in the set. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    assert_int_equal(files, 4);
    xfree(dir);
}

/* A deploy hook appending its environment to DATA/hook-<event>.env. */
static void set_hook(struct fixture *fx, char **hook)
{
    *hook = xasprintf("env >> \"%s/hook-$TLSWARD_EVENT.env\"", fx->dir);
    fx->app.config.deploy_hook = *hook;
}

/* The hook's recorded environment for `event` (NULL when it never ran). */
static char *hook_env(const struct fixture *fx, const char *event)
{
    char *path = xasprintf("%s/hook-%s.env", fx->dir, event);
    char *text = NULL;
    size_t len = 0;
    if (fsutil_read_file(path, 1 << 20, &text, &len) != 0)
        text = NULL;
    xfree(path);
    return text;
}

/* How many lines of text are exactly `line`. */
static int count_lines(const char *text, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && strncmp(p, line, len) == 0)
            n++;
        p = end ? end + 1 : p + l;
    }
    return n;
}

/* The hook ran exactly once with `event` and the pack's environment. */
static void assert_hook_ran_once(struct fixture *fx, const char *id, const char *event)
{
    char *env = hook_env(fx, event);
    if (!env)
        fail_msg("the deploy hook did not run for event %s", event);
    char *line = xasprintf("TLSWARD_EVENT=%s", event);
    assert_int_equal(count_lines(env, line), 1);
    xfree(line);
    assert_int_equal(count_lines(env, "TLSWARD_ZONE=" ZONE), 1);
    line = xasprintf("TLSWARD_ZONE_ID=%s", fx->zone_id);
    assert_int_equal(count_lines(env, line), 1);
    xfree(line);
    line = xasprintf("TLSWARD_ACCOUNT_ID=%s", fx->account_id);
    assert_int_equal(count_lines(env, line), 1);
    xfree(line);
    line = xasprintf("TLSWARD_PACK_ID=%s", id);
    assert_int_equal(count_lines(env, line), 1);
    xfree(line);
    assert_int_equal(count_lines(env, "TLSWARD_HOSTS=example.com *.example.com"), 1);
    line = xasprintf("TLSWARD_DIR=%s/deploy/%s/%s", fx->dir, fx->zone_id, id);
    assert_int_equal(count_lines(env, line), 1);
    xfree(line);
    xfree(env);
}

/* Runs the worker until the pack is in `status`, at most MAX_ROUNDS times, recording the
 * statuses seen after each run in seen[] (may be NULL); *nseen is the number of runs. */
static void run_until(struct fixture *fx, const char *id, const char *status,
                      char seen[][STORE_PACK_STATUS_SIZE], int *nseen)
{
    *nseen = 0;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
        struct store_pack p;
        get_pack(fx, id, &p);
        if (seen)
            snprintf(seen[*nseen], STORE_PACK_STATUS_SIZE, "%s", STORE_ENUM_NAME(p.status));
        (*nseen)++;
        bool done = strcmp(STORE_ENUM_NAME(p.status), status) == 0;
        store_pack_clear(&p);
        if (done)
            return;
    }
    fail_msg("pack %s did not reach %s in %d rounds", id, status, MAX_ROUNDS);
}

/* ---- tests ---- */

static void test_auto_mode_reaches_active_and_deploys(void **state)
{
    struct fixture *fx = *state;
    char *hook;
    set_hook(fx, &hook);
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);

    /* First step: records are created and shown while validation is pending. */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_validation");
    assert_txt_records(pack_text(&p, TU_RECORDS));
    json_t *deleg = json_loads(pack_text(&p, TU_DELEGATION), 0, NULL);
    assert_int_equal(json_array_size(deleg), 1); /* the apex and its wildcard share one name */
    const char *target =
        json_string_value(json_object_get(json_array_get(deleg, 0), "cname_target"));
    assert_non_null(target);
    assert_non_null(strstr(target, fx->zone_id));
    json_decref(deleg);
    assert_string_equal(pack_text(&p, TU_ERRORS), "[]");
    assert_int_equal(p.cert_generation, 0);
    assert_true(p.version >= 1);
    int64_t validation_since = p.status_since;
    store_pack_clear(&p);
    assert_null(hook_env(fx, "deploy"));

    /* Then on to active, one working status per run. */
    char seen[MAX_ROUNDS][STORE_PACK_STATUS_SIZE];
    int nseen = 0;
    run_until(fx, id, "active", seen, &nseen);
    assert_int_equal(nseen, 3);
    assert_string_equal(seen[0], "pending_issuance");
    assert_string_equal(seen[1], "pending_deployment");
    assert_string_equal(seen[2], "active");

    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_int_equal(p.cert_generation, 1);
    assert_string_equal(pack_text(&p, TU_RECORDS), "[]");
    assert_string_equal(pack_text(&p, TU_ERRORS), "[]");
    assert_int_equal(p.check_failures, 0);
    assert_int_equal(p.renewal_failures, 0);
    assert_true(p.status_since >= validation_since);
    assert_string_equal(pack_text(&p, TU_HOSTS), HOSTS_JSON);
    store_pack_clear(&p);

    struct store_pack_cert *certs = NULL;
    assert_pack_certs(fx, id, 1, &certs);
    assert_deployed(fx, id, certs);
    assert_hook_ran_once(fx, id, "deploy");
    assert_null(hook_env(fx, "delete"));

    /* At rest until the renewal window: two thirds of 90 days (= 30 days before expiry). */
    assert_int_equal(job_due(fx, id), certs[0].not_before + 60 * DAY);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 0);
    store_pack_cert_list_free(certs, 2);
    xfree(hook);
}

/* Drives a new pack to active (auto mode). */
static void make_active(struct fixture *fx, char *id)
{
    add_pack(fx, "initializing", id);
    int nseen;
    run_until(fx, id, "active", NULL, &nseen);
}

static void test_deletion_removes_deployment(void **state)
{
    struct fixture *fx = *state;
    char *hook;
    set_hook(fx, &hook);
    char id[STORE_ID_SIZE];
    make_active(fx, id);
    char *dir = deploy_dir(fx, id);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_int_equal(versioned_dirs(fx, id), 1);

    /* DELETE as the API does it: pending_deletion with its job due now. */
    struct store_pack p;
    get_pack(fx, id, &p);
    int64_t now = util_now_us();
    assert_int_equal(STORE_ENUM_PARSE("pending_deletion", &p.status), 0);
    p.status_since = now;
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, now, now), STORE_OK);
    store_pack_clear(&p);
    int allocated, used;
    assert_int_equal(store_pack_quota(fx->app.store, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 0);

    int nseen;
    run_until(fx, id, "deleted", NULL, &nseen);
    assert_int_equal(nseen, 1);
    assert_int_equal(lstat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(versioned_dirs(fx, id), 0);
    assert_hook_ran_once(fx, id, "delete");
    assert_hook_ran_once(fx, id, "deploy"); /* the earlier deployment, not again */
    assert_int_equal(job_due(fx, id), -1);  /* nothing left to do */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 0);
    /* The certificates stay in the store (the pack is still listed with status=all). */
    get_pack(fx, id, &p);
    assert_int_equal(p.cert_generation, 1);
    store_pack_clear(&p);
    xfree(dir);
    xfree(hook);
}

/* A UDP port on 127.0.0.1 that nobody listens on (bound, then closed). */
static int closed_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_check_mode_errors_then_times_out(void **state)
{
    struct fixture *fx = *state;
    struct app_config *cfg = &fx->app.config;
    cfg->dcv_mode = DCV_MODE_CHECK;
    const char *why = NULL;
    char server[32];
    snprintf(server, sizeof server, "127.0.0.1:%d", closed_udp_port());
    assert_int_equal(dcv_resolver_set_dns(&cfg->dcv, server, &why), 0);
    cfg->dcv.dns_timeout_ms = 300;
    cfg->validation_timeout_us = 2 * SEC;

    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    assert_status(fx, id, "pending_validation");

    /* One check: it fails, the errors say where it looked, the pack waits. */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_validation");
    assert_int_equal(p.check_failures, 1);
    assert_txt_records(pack_text(&p, TU_RECORDS)); /* still pending, still shown */
    json_t *errors = json_loads(pack_text(&p, TU_ERRORS), 0, NULL);
    assert_true(json_is_array(errors));
    /* One per record, then CAA (checked at the same time): example.com and *.example.com
     * look up the same names and fail alike, so once. */
    assert_int_equal(json_array_size(errors), 3);
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const char *m = json_string_value(json_object_get(json_array_get(errors, i), "message"));
        assert_non_null(m);
        const char *prefix =
            i < 2 ? "DNS error at _acme-challenge.example.com: " : "DNS error at example.com: ";
        if (strncmp(m, prefix, strlen(prefix)) != 0 || strlen(m) == strlen(prefix))
            fail_msg("unexpected validation error: %s", m);
    }
    json_decref(errors);
    int64_t deadline = p.status_since + cfg->validation_timeout_us;
    assert_int_equal(p.cert_generation, 0);
    store_pack_clear(&p);
    /* Due again after a back-off, but never after the deadline. */
    long long due = job_due(fx, id);
    assert_true(due > util_now_us() - 2 * SEC);
    assert_true(due <= deadline);

    /* Past the deadline: validation_timed_out, at rest, nothing issued. */
    int64_t stop = util_now_us() + 10 * SEC;
    for (;;) {
        worker_run_due(&fx->app, OWNER);
        get_pack(fx, id, &p);
        bool done = strcmp(STORE_ENUM_NAME(p.status), "pending_validation") != 0;
        if (done || util_now_us() > stop)
            break;
        store_pack_clear(&p);
        usleep(100 * 1000);
    }
    assert_string_equal(STORE_ENUM_NAME(p.status), "validation_timed_out");
    assert_true(p.status_since >= deadline);
    assert_int_equal(p.cert_generation, 0);
    store_pack_clear(&p);
    assert_int_equal(job_due(fx, id), -1);
    struct store_pack_cert *certs = NULL;
    int n = -1;
    assert_int_equal(store_pack_certs(fx->app.store, id, 1, &certs, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_pack_cert_list_free(certs, n);
    char *dir = deploy_dir(fx, id);
    struct stat st;
    assert_int_equal(lstat(dir, &st), -1);
    xfree(dir);
}

/* Issues a pair as of `at` and turns it into generation `gen` rows of pack id, with the
 * keys sealed as the worker seals them. */
static void old_certs(struct fixture *fx, const char *id, int gen, int64_t at,
                      struct store_pack_cert rows[2], struct local_ca_pair *pair)
{
    static const char *const hosts[] = {"example.com", "*.example.com"};
    tu_issue_rows(&fx->app, id, hosts, 2, gen, at, rows, pair);
}

static void test_renewal_in_place(void **state)
{
    struct fixture *fx = *state;
    char *hook;
    set_hook(fx, &hook);
    int64_t now = util_now_us();
    char id[STORE_ID_SIZE];
    add_pack(fx, "active", id);

    /* Generation 1: issued 80 days ago (10 days left, well inside the renewal window),
     * deployed as a previous run would have left it. */
    struct store_pack_cert old[2];
    struct local_ca_pair pair;
    old_certs(fx, id, 1, now - 80 * DAY, old, &pair);
    assert_int_equal(old[0].expires_on - now <= 10 * DAY, true);
    struct deploy_files files[4] = {
        {"ecdsa.crt", pair.ecdsa.chain_pem, strlen(pair.ecdsa.chain_pem), DEPLOY_CERT_MODE},
        {"ecdsa.key", pair.ecdsa.key_pem, pair.ecdsa.key_len, DEPLOY_KEY_MODE},
        {"rsa.crt", pair.rsa.chain_pem, strlen(pair.rsa.chain_pem), DEPLOY_CERT_MODE},
        {"rsa.key", pair.rsa.key_pem, pair.rsa.key_len, DEPLOY_KEY_MODE},
    };
    char why[256] = "", *root = xasprintf("%s/deploy", fx->dir);
    if (deploy_pack(root, fx->zone_id, id, files, 4, why, sizeof why) != 0)
        fail_msg("deploy_pack: %s", why);
    xfree(root);
    assert_deployed(fx, id, old);
    local_ca_pair_clear(&pair);

    struct store_pack p;
    get_pack(fx, id, &p);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->app.store, &p, old, 2, NULL, NULL, now, now),
                     STORE_OK);
    int64_t active_since = p.status_since;
    store_pack_clear(&p);

    /* One run renews: generation 2 issued on fresh keys and deployed, the pack active. */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_int_equal(p.status_since, active_since); /* active throughout */
    assert_int_equal(p.cert_generation, 2);
    assert_int_equal(p.renewal_failures, 0);
    store_pack_clear(&p);
    struct store_pack_cert *fresh = NULL;
    assert_pack_certs(fx, id, 2, &fresh);
    assert_true(fresh[0].not_before >= now - SEC);
    for (int i = 0; i < 2; i++) {
        assert_string_not_equal(fresh[i].serial, old[i].serial);
        X509 *a = parse_cert(fresh[i].chain_pem), *b = parse_cert(old[i].chain_pem);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)), 0);
        X509_free(a);
        X509_free(b);
    }
    assert_deployed(fx, id, fresh); /* the new set, the old directory gone */
    assert_hook_ran_once(fx, id, "deploy");

    /* Generation 1 is pruned; the job waits for the new certificate's window. */
    struct store_pack_cert *list = NULL;
    int n = -1;
    assert_int_equal(store_pack_certs(fx->app.store, id, 1, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_pack_cert_list_free(list, n);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM pack_certificates WHERE pack_id = ?1", id),
                     2);
    assert_int_equal(job_due(fx, id), fresh[0].not_before + 60 * DAY);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 0);

    store_pack_cert_list_free(fresh, 2);
    store_pack_cert_clear(&old[0]);
    store_pack_cert_clear(&old[1]);
    xfree(hook);
}

static void test_expired_certificate(void **state)
{
    struct fixture *fx = *state;
    int64_t now = util_now_us();
    char id[STORE_ID_SIZE];
    add_pack(fx, "active", id);
    /* Issued 91 days ago for 90 days: expired yesterday. */
    struct store_pack_cert old[2];
    struct local_ca_pair pair;
    old_certs(fx, id, 1, now - 91 * DAY, old, &pair);
    local_ca_pair_clear(&pair);
    assert_true(old[0].expires_on < now);
    struct store_pack p;
    get_pack(fx, id, &p);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->app.store, &p, old, 2, NULL, NULL, now, now),
                     STORE_OK);
    store_pack_clear(&p);

    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "expired");
    assert_int_equal(p.cert_generation, 1);
    assert_true(p.status_since >= now);
    store_pack_clear(&p);
    assert_int_equal(job_due(fx, id), -1); /* at rest */
    struct store_pack_cert *list = NULL;
    int n = -1;
    assert_int_equal(store_pack_certs(fx->app.store, id, 1, &list, &n), STORE_OK);
    assert_int_equal(n, 2);
    store_pack_cert_list_free(list, n);
    store_pack_cert_clear(&old[0]);
    store_pack_cert_clear(&old[1]);
}

static void test_failing_hook_is_retried(void **state)
{
    struct fixture *fx = *state;
    fx->app.config.deploy_hook = "exit 3";
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    int nseen;
    run_until(fx, id, "pending_deployment", NULL, &nseen);

    /* The files are written, the hook fails: not active, retried after a back-off. */
    int64_t before = util_now_us();
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_deployment");
    assert_int_equal(p.check_failures, 1);
    int64_t since = p.status_since;
    store_pack_clear(&p);
    long long due = job_due(fx, id);
    assert_true(due >= before + SEC);
    assert_true(due <= util_now_us() + SEC);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 0); /* not yet */

    /* Once the hook works, the retry deploys and the pack goes active. */
    char *hook;
    set_hook(fx, &hook);
    int64_t stop = util_now_us() + 10 * SEC;
    while (worker_run_due(&fx->app, OWNER) == 0 && util_now_us() < stop)
        usleep(50 * 1000);
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_true(p.status_since > since);
    assert_int_equal(p.renewal_failures, 0);
    store_pack_clear(&p);
    struct store_pack_cert *certs = NULL;
    assert_pack_certs(fx, id, 1, &certs);
    assert_deployed(fx, id, certs);
    assert_hook_ran_once(fx, id, "deploy");
    store_pack_cert_list_free(certs, 2);
    xfree(hook);
}

static void test_job_of_vanished_pack_is_dropped(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    /* The zone is deleted: its pack's job, due first, finds the zone gone and is dropped
     * without deploying anything; the zone's deletion job then removes the rows. */
    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, util_now_us()),
                     STORE_OK);
    assert_true(job_due(fx, id) > 0);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 2);
    assert_int_equal(job_due(fx, id), -1);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 0);
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_NOT_FOUND);
    char *dir = xasprintf("%s/deploy", fx->dir);
    struct stat st;
    assert_int_equal(lstat(dir, &st), -1); /* nothing was ever deployed */
    xfree(dir);
}

/* ---- check mode against a real DNS server (tests/unit/tu_dnsmasq.h) ---- */

#define REQUIRE_DNS()                                                                              \
    do {                                                                                           \
        if (!dns_fx.up) {                                                                          \
            print_message("dnsmasq not installed (package dnsmasq-base): skipping\n");             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void publish(void)
{
    assert_int_equal(tu_dns_restart(&dns_fx.dns), 0);
}

/* Points the fixture's worker at the test DNS server, in check mode, the server serving no
 * TXT and no CAA record. */
static void use_dns(struct fixture *fx)
{
    char server[32];
    const char *why = NULL;
    tu_dns_address(&dns_fx.dns, server);
    fx->app.config.dcv_mode = DCV_MODE_CHECK;
    assert_int_equal(dcv_resolver_set_dns(&fx->app.config.dcv, server, &why), 0);
    memset(dns_fx.txt, 0, sizeof dns_fx.txt);
    dns_fx.caa_forbids = false;
    publish();
}

/* Sets the TXT values the server is to serve (not yet published) to the two txt_value of a
 * validation_records JSON array. */
static void set_txt_values(const char *records_json)
{
    json_t *recs = json_loads(records_json, 0, NULL);
    for (size_t i = 0; i < 2; i++)
        snprintf(dns_fx.txt[i], sizeof dns_fx.txt[i], "%s",
                 json_string_value(json_object_get(json_array_get(recs, i), "txt_value")));
    json_decref(recs);
}

/* Writes p back with its job due now, and clears it. */
static void save_due_now(struct fixture *fx, struct store_pack *p)
{
    int64_t now = util_now_us();
    assert_int_equal(store_pack_update(fx->app.store, p, NULL, NULL, now, now), STORE_OK);
    store_pack_clear(p);
}

/* The pack's validation_errors messages joined by "|". */
static char *error_messages(const struct store_pack *p)
{
    json_t *errors = json_loads(pack_text(p, TU_ERRORS), 0, NULL);
    assert_true(json_is_array(errors));
    char *out = xstrdup("");
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        char *next = xasprintf("%s%s%s", out, i ? "|" : "",
                               json_string_value(json_object_get(e, "message")));
        xfree(out);
        out = next;
    }
    json_decref(errors);
    return out;
}

/* Gives the pack an old generation (10 days left) so that its renewal is due now. */
static void make_renewal_due(struct fixture *fx, const char *id)
{
    int64_t now = util_now_us();
    struct store_pack p;
    get_pack(fx, id, &p);
    struct store_pack_cert old[2];
    struct local_ca_pair pair;
    old_certs(fx, id, p.cert_generation + 1, now - 80 * DAY, old, &pair);
    local_ca_pair_clear(&pair);
    p.cert_generation++;
    assert_int_equal(store_pack_update_with_certs(fx->app.store, &p, old, 2, NULL, NULL, now, now),
                     STORE_OK);
    store_pack_clear(&p);
    store_pack_cert_clear(&old[0]);
    store_pack_cert_clear(&old[1]);
}

static void test_renewal_rechecks_dcv_and_caa(void **state)
{
    REQUIRE_DNS();
    struct fixture *fx = *state;
    use_dns(fx);

    /* Validated in check mode with its two TXT values published. */
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_txt_records(pack_text(&p, TU_RECORDS));
    set_txt_values(pack_text(&p, TU_RECORDS));
    char *kept = xstrdup(pack_text(&p, TU_RECORDS));
    store_pack_clear(&p);
    publish();
    int nseen;
    run_until(fx, id, "active", NULL, &nseen);

    /* The record values stay stored with the pack (marked active) for renewals. */
    get_pack(fx, id, &p);
    assert_int_equal(p.cert_generation, 1);
    assert_string_equal(pack_text(&p, TU_ERRORS), "[]");
    json_t *recs = json_loads(pack_text(&p, TU_RECORDS), 0, NULL);
    json_t *before = json_loads(kept, 0, NULL);
    assert_int_equal(json_array_size(recs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(recs, i);
        assert_string_equal(
            json_string_value(json_object_get(r, "txt_value")),
            json_string_value(json_object_get(json_array_get(before, i), "txt_value")));
        assert_string_equal(json_string_value(json_object_get(r, "status")), "active");
    }
    json_decref(before);
    json_decref(recs);
    store_pack_clear(&p);

    /* Renewal due, but the TXT records were removed: no renewal, a failure recorded with
     * the reason, the pack still active on its old certificate. */
    make_renewal_due(fx, id);
    memset(dns_fx.txt, 0, sizeof dns_fx.txt);
    publish();
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_int_equal(p.cert_generation, 2);
    assert_int_equal(p.renewal_failures, 1);
    char *msgs = error_messages(&p);
    assert_string_equal(msgs, "no TXT records at _acme-challenge.example.com|"
                              "no TXT records at _acme-challenge.example.com");
    xfree(msgs);
    store_pack_clear(&p);
    assert_true(job_due(fx, id) > util_now_us()); /* retried after a back-off */

    /* Records back, but a CAA record at the TLD forbids the CA: still no renewal. */
    get_pack(fx, id, &p);
    set_txt_values(kept);
    dns_fx.caa_forbids = true;
    publish();
    save_due_now(fx, &p);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    get_pack(fx, id, &p);
    assert_int_equal(p.cert_generation, 2);
    assert_int_equal(p.renewal_failures, 2);
    msgs = error_messages(&p);
    assert_string_equal(msgs, "CAA record at com forbids lets_encrypt (letsencrypt.org, "
                              "tlsward.local): 0 issue \"otherca.example\"");
    xfree(msgs);

    /* Everything in place: renewed (generation 3), failures and errors cleared. */
    dns_fx.caa_forbids = false;
    publish();
    save_due_now(fx, &p);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_int_equal(p.cert_generation, 3);
    assert_int_equal(p.renewal_failures, 0);
    assert_string_equal(pack_text(&p, TU_ERRORS), "[]");
    store_pack_clear(&p);
    assert_pack_certs(fx, id, 3, NULL);
    xfree(kept);
}

static void test_renewal_failures_lead_to_pending_expiration(void **state)
{
    REQUIRE_DNS();
    struct fixture *fx = *state;
    /* Validated in auto mode (nothing kept), renewed in check mode: records are made at the
     * renewal, nobody publishes them, and the failures pile up. */
    char id[STORE_ID_SIZE];
    make_active(fx, id);
    use_dns(fx);
    make_renewal_due(fx, id);
    struct store_pack p;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
        get_pack(fx, id, &p);
        assert_int_equal(p.renewal_failures, i);
        assert_int_equal(p.cert_generation, 2);
        assert_string_equal(STORE_ENUM_NAME(p.status), i < 3 ? "active" : "pending_expiration");
        assert_txt_records(pack_text(&p, TU_RECORDS));
        save_due_now(fx, &p);
    }
}

/* A pack of `n` hosts h0.example.com … (plus the apex) in `status`. */
static void add_big_pack(struct fixture *fx, int n, char *id_out)
{
    json_t *hosts = json_array();
    json_array_append_new(hosts, json_string("example.com"));
    for (int i = 1; i < n; i++) {
        char host[32];
        snprintf(host, sizeof host, "h%d.example.com", i);
        json_array_append_new(hosts, json_string(host));
    }
    add_pack(fx, "initializing", id_out);
    struct store_pack p;
    get_pack(fx, id_out, &p);
    char *text = json_dumps(hosts, JSON_COMPACT);
    tu_pack_set(&p, TU_HOSTS, text);
    free(text);
    json_decref(hosts);
    save_due_now(fx, &p);
}

static void test_many_hosts_one_budget(void **state)
{
    struct fixture *fx = *state;
    struct app_config *cfg = &fx->app.config;
    char server[32];
    int fd = tu_dns_silent(server);
    const char *why = NULL;
    cfg->dcv_mode = DCV_MODE_CHECK;
    assert_int_equal(dcv_resolver_set_dns(&cfg->dcv, server, &why), 0);
    cfg->dcv.budget_ms = 2000; /* each lookup keeps its own 5 s */

    char id[STORE_ID_SIZE];
    add_big_pack(fx, 50, id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1); /* records */
    int64_t t0 = util_mono_us();
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1); /* the check */
    int64_t took = util_mono_us() - t0;
    close(fd);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_validation");
    json_t *errors = json_loads(pack_text(&p, TU_ERRORS), 0, NULL);
    /* 50 records and (deduplicated) CAA failures, every one a timeout. */
    assert_true(json_array_size(errors) >= 51);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!strstr(m, "Timeout while contacting DNS servers") && !strstr(m, "budget ran out"))
            fail_msg("not a timeout: %s", m);
    }
    json_decref(errors);
    store_pack_clear(&p);
    /* 100 lookups of 5 s each, one after the other, would take minutes: the job ends
     * around its 2 s budget (bound kept generous for a loaded machine). */
    if (took > 8 * SEC)
        fail_msg("the check took %lld ms", (long long)(took / 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auto_mode_reaches_active_and_deploys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deletion_removes_deployment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_mode_errors_then_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_hook_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_of_vanished_pack_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_rechecks_dcv_and_caa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_failures_lead_to_pending_expiration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_hosts_one_budget, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
