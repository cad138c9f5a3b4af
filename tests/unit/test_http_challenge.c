/* Tests of tlsward's HTTP-01 publication: the responder (http/challenge.c) as a real
 * libmicrohttpd daemon on a free 127.0.0.1 port, fetched with libcurl; the publisher
 * (worker/http_publish.c) writing the store's http_challenges rows and --webroot files; and
 * the pack job keeping both in step (records created → served and written; validation over
 * → 404 and files gone), with the job's own HTTP check answered by the responder (hosts
 * mapped to 127.0.0.1 by dnsmasq). A real SQLite store in a mkdtemp data directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "core/dcv_records.h"
#include "dcv/dcv.h"
#include "http/challenge.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "pki/seal.h"
#include "store/store.h"
#include "worker/http_publish.h"
#include "worker/worker.h"
#include "testutil.h"
#include "tu_dnsmasq.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)
#define OWNER "owner"
#define TOKEN_A "tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define TOKEN_B "tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define BODY_A TOKEN_A ".thumbprintAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define BODY_B TOKEN_B ".thumbprintBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

struct fixture {
    char *dir;  /* the data directory */
    char *web;  /* a --webroot */
    char *path; /* the database */
    struct app app;
    char zone_id[STORE_ID_SIZE];
    struct http_challenge_server *responder;
    int port;
};

static struct tu_dns dns;
static bool dns_up;

static void dns_records(FILE *f, void *ctx)
{
    (void)ctx;
    fprintf(f, "local=/example.com/\nlocal=/com/\n");
    fprintf(f, "host-record=example.com,127.0.0.1\nhost-record=www.example.com,127.0.0.1\n");
}

static int group_setup(void **state)
{
    (void)state;
    if (dcv_global_init() != 0)
        return -1;
    int rc = tu_dns_start(&dns, dns_records, NULL);
    dns_up = rc == 0;
    return rc < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_dns_stop(&dns);
    dcv_global_cleanup();
    return 0;
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    struct app *app = &fx->app;
    tu_temp_store("/tmp/tlsward-test-http01-XXXXXX", 4, &fx->dir, &fx->path, &app->store);
    fx->web = xasprintf("%s/web", fx->dir);
    assert_int_equal(mkdir(fx->web, 0700), 0);
    util_random_bytes(app->master_key, sizeof app->master_key);
    app->config.data_dir = fx->dir;
    app->config.dcv_mode = DCV_MODE_CHECK;
    app->config.worker_interval_us = 60 * SEC;
    app->config.validation_timeout_us = 3600 * SEC;
    app->config.issuance_timeout_us = 3600 * SEC;
    dcv_resolver_init(&app->config.dcv);

    int64_t now = util_now_us();
    /* Dated back, so that the renewal test can issue an old certificate from it. */
    tu_local_ca(app, now - 365 * DAY);
    app->rsa_keys = key_pool_create(PKI_KEY_RSA_2048, 1);

    char account_id[STORE_ID_SIZE];
    tu_add_account(app->store, "http01@example.com", "http01", account_id);
    struct store_zone z = {.advanced_quota = 50, .created_on = now, .modified_on = now};
    util_random_id(z.id);
    snprintf(z.account_id, sizeof z.account_id, "%s", account_id);
    snprintf(z.name, sizeof z.name, "example.com");
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(app->store, &z), STORE_OK);
    snprintf(fx->zone_id, sizeof fx->zone_id, "%s", z.id);

    /* The responder starts before any pack exists: every pack below is "created after". */
    assert_int_equal(http_challenge_start(app->store, "127.0.0.1:0", &fx->responder), 0);
    fx->port = http_challenge_port(fx->responder);
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    http_challenge_stop(fx->responder);
    key_pool_destroy(fx->app.rsa_keys);
    local_ca_destroy(fx->app.local_ca);
    store_close(fx->app.store);
    tu_remove_tree(fx->dir);
    xfree(fx->path);
    xfree(fx->web);
    xfree(fx->dir);
    xfree(fx);
    return 0;
}

/* ---- helpers ---- */

struct reply {
    long status;
    char body[1024];
    size_t len;
    char type[64];
    char allow[64];
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t take = size * n;
    if (r->len + take >= sizeof r->body)
        return 0;
    memcpy(r->body + r->len, data, take);
    r->len += take;
    r->body[r->len] = '\0';
    return take;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t len = size * n;
    if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0) {
        size_t k = len - 7;
        while (k && (data[6 + k] == '\r' || data[6 + k] == '\n'))
            k--;
        snprintf(r->allow, sizeof r->allow, "%.*s", (int)k, data + 7);
    }
    return len;
}

/* One request to the responder (method "GET", "HEAD", "POST"…); path as sent. */
static struct reply fetch(const struct fixture *fx, const char *method, const char *path)
{
    struct reply r = {0};
    char *url = xasprintf("http://127.0.0.1:%d%s", fx->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r.type, sizeof r.type, "%s", type ? type : "");
    curl_easy_cleanup(c);
    xfree(url);
    return r;
}

static void assert_served(const struct fixture *fx, const char *token, const char *body)
{
    char *path = xasprintf(DCV_HTTP_PATH "%s", token);
    struct reply r = fetch(fx, "GET", path);
    xfree(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, body);
    assert_string_equal(r.type, "text/plain");
}

static void assert_not_found(const struct fixture *fx, const char *path)
{
    struct reply r = fetch(fx, "GET", path);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.type, "text/plain");
}

static void assert_token_404(const struct fixture *fx, const char *token)
{
    char *path = xasprintf(DCV_HTTP_PATH "%s", token);
    assert_not_found(fx, path);
    xfree(path);
}

static char *records_json(int n, const char *const *tokens, const char *const *bodies)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char *url = xasprintf("http://h%d.example.com" DCV_HTTP_PATH "%s", i, tokens[i]);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "http_url", url, "http_body",
                                             bodies[i], "status", "pending"));
        xfree(url);
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* A pack of the zone in `status` validating by `method` with `records` (JSON text). */
static void add_pack(struct fixture *fx, const char *status, const char *method, const char *hosts,
                     const char *records, char id[STORE_ID_SIZE])
{
    int64_t now = util_now_us();
    struct store_pack p = {
        .validity_days = 90, .status_since = now, .created_on = now, .modified_on = now};
    util_random_id(p.id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", fx->zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE(status, &p.status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE(method, &p.validation_method), 0);
    tu_pack_set(&p, TU_HOSTS, hosts);
    tu_pack_set(&p, TU_RECORDS, records);
    assert_int_equal(store_pack_create(fx->app.store, &p), STORE_OK);
    snprintf(id, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

/* http_publish_sync / http_publish_records for records written as JSON. */
static int sync_json(struct app *app, const char *id, const char *records)
{
    struct store_pack p = {0};
    tu_pack_set(&p, TU_RECORDS, records);
    int rc = http_publish_sync(app, id, &p);
    store_pack_clear(&p);
    return rc;
}

static void records_of_json(const char *records, struct store_http_challenge **list, int *n)
{
    struct store_pack p = {0};
    tu_pack_set(&p, TU_RECORDS, records);
    http_publish_records(&p, list, n);
    store_pack_clear(&p);
}

static char *webroot_file(const struct fixture *fx, const char *token)
{
    return xasprintf("%s/" HTTP_PUBLISH_DIR "/%s", fx->web, token);
}

static void assert_file(const struct fixture *fx, const char *token, const char *body)
{
    char *path = webroot_file(fx, token), *text = NULL;
    size_t len = 0;
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(fsutil_read_file(path, 4096, &text, &len), 0);
    assert_string_equal(text, body);
    xfree(text);
    xfree(path);
}

static void assert_no_file(const struct fixture *fx, const char *token)
{
    char *path = webroot_file(fx, token);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    xfree(path);
}

static void assert_dir_mode(const char *path, mode_t want)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, want);
}

/* Names in a directory, other than . and .. */
static int entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* ---- the responder ---- */

static void test_serves_pending_tokens_and_404_otherwise(void **state)
{
    struct fixture *fx = *state;
    const char *tokens[] = {TOKEN_A, TOKEN_B}, *bodies[] = {BODY_A, BODY_B};
    char *records = records_json(2, tokens, bodies), id[STORE_ID_SIZE];
    assert_token_404(fx, TOKEN_A); /* nothing published yet */
    add_pack(fx, "pending_validation", "http", "[\"h0.example.com\",\"h1.example.com\"]", records,
             id);
    assert_int_equal(sync_json(&fx->app, id, records), 0);

    assert_served(fx, TOKEN_A, BODY_A);
    assert_served(fx, TOKEN_B, BODY_B);
    struct reply head = fetch(fx, "HEAD", DCV_HTTP_PATH TOKEN_A);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.len, 0);

    /* Unknown, malformed and oversized tokens; other paths. */
    assert_token_404(fx, "tokenCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC");
    assert_token_404(fx, "a.b");
    assert_token_404(fx, TOKEN_A "/x");
    assert_token_404(fx, "%2e%2e");
    char longest[DCV_TOKEN_MAX + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_token_404(fx, longest);
    assert_not_found(fx, "/");
    assert_not_found(fx, DCV_HTTP_PATH);
    assert_not_found(fx, "/.well-known/acme-challenge" TOKEN_A);
    assert_not_found(fx, "/client/v4/zones");

    /* Other methods: 405 naming GET and HEAD, nothing served. */
    struct reply post = fetch(fx, "POST", DCV_HTTP_PATH TOKEN_A);
    assert_int_equal(post.status, 405);
    assert_string_equal(post.allow, "GET, HEAD");
    assert_null(strstr(post.body, BODY_A));
    assert_int_equal(fetch(fx, "DELETE", DCV_HTTP_PATH TOKEN_A).status, 405);

    /* Cleared: 404. */
    assert_int_equal(http_publish_clear(&fx->app, id), 0);
    assert_token_404(fx, TOKEN_A);
    assert_token_404(fx, TOKEN_B);
    xfree(records);
}

/* The rows index the packs; the pack decides: a pack moved off http, or deleted, or whose
 * records no longer hold the body, is not served even while its row remains. */
static void test_the_pack_row_decides(void **state)
{
    struct fixture *fx = *state;
    const char *tokens[] = {TOKEN_A}, *bodies[] = {BODY_A};
    char *records = records_json(1, tokens, bodies), id[STORE_ID_SIZE];
    add_pack(fx, "pending_validation", "http", "[\"h0.example.com\"]", records, id);
    assert_int_equal(sync_json(&fx->app, id, records), 0);
    assert_served(fx, TOKEN_A, BODY_A);

    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
    assert_token_404(fx, TOKEN_A);

    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("http", &p.validation_method), 0);
    assert_int_equal(STORE_ENUM_PARSE("pending_deletion", &p.status), 0);
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
    assert_token_404(fx, TOKEN_A);
    xfree(records);
}

/* An ACME order opened while a pack is issued or renewed (the RSA one, a renewal's) has
 * challenges the pack's records never showed: they are served while the pack is being issued
 * or is active, but a pending pack still serves only what its records hold. */
static void test_issuance_orders_are_served_outside_the_records(void **state)
{
    struct fixture *fx = *state;
    const char *tokens[] = {TOKEN_A}, *bodies[] = {BODY_A};
    const char *order_tokens[] = {TOKEN_B}, *order_bodies[] = {BODY_B};
    char *records = records_json(1, tokens, bodies), id[STORE_ID_SIZE];
    char *order = records_json(1, order_tokens, order_bodies);
    add_pack(fx, "pending_validation", "http", "[\"h0.example.com\"]", records, id);
    assert_int_equal(sync_json(&fx->app, id, order), 0);
    assert_token_404(fx, TOKEN_B); /* pending: the records decide */

    static const char *const issuing[] = {"pending_issuance", "active", "pending_expiration"};
    for (size_t i = 0; i < sizeof issuing / sizeof issuing[0]; i++) {
        struct store_pack p;
        assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
        assert_int_equal(STORE_ENUM_PARSE(issuing[i], &p.status), 0);
        assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()),
                         STORE_OK);
        store_pack_clear(&p);
        assert_served(fx, TOKEN_B, BODY_B);
    }
    assert_int_equal(http_publish_clear(&fx->app, id), 0); /* answered: withdrawn */
    assert_token_404(fx, TOKEN_B);

    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("pending_issuance", &p.status), 0);
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
    assert_int_equal(sync_json(&fx->app, id, order), 0);
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
    assert_token_404(fx, TOKEN_B); /* a pack moved off http serves nothing */
    xfree(order);
    xfree(records);
}

/* ---- the webroot ---- */

static void test_webroot_files_follow_the_records(void **state)
{
    struct fixture *fx = *state;
    fx->app.config.webroot = fx->web;
    char *other = xasprintf("%s/index.html", fx->web);
    assert_int_equal(fsutil_write_atomic(other, "hi", 2, 0600, 0), 0);
    mode_t old_mask = umask(077); /* the modes below are exact, whatever the umask */

    const char *tokens[] = {TOKEN_A, TOKEN_B}, *bodies[] = {BODY_A, BODY_B};
    char *both = records_json(2, tokens, bodies), *only_b = records_json(1, tokens + 1, bodies + 1);
    char id[STORE_ID_SIZE];
    add_pack(fx, "pending_validation", "http", "[\"h0.example.com\",\"h1.example.com\"]", both, id);
    assert_int_equal(sync_json(&fx->app, id, both), 0);
    umask(old_mask);
    char *wk = xasprintf("%s/.well-known", fx->web),
         *dir = xasprintf("%s/" HTTP_PUBLISH_DIR, fx->web);
    assert_dir_mode(wk, 0755);
    assert_dir_mode(dir, 0755);
    assert_file(fx, TOKEN_A, BODY_A);
    assert_file(fx, TOKEN_B, BODY_B);
    assert_int_equal(entries(dir), 2); /* no temporary file left behind */

    /* Synced again (a later check): nothing changes. New records: the old token's file goes. */
    assert_int_equal(sync_json(&fx->app, id, both), 0);
    assert_int_equal(entries(dir), 2);
    assert_int_equal(sync_json(&fx->app, id, only_b), 0);
    assert_no_file(fx, TOKEN_A);
    assert_file(fx, TOKEN_B, BODY_B);

    /* Validation over: every file of the pack goes, and nothing else in the webroot. */
    assert_int_equal(http_publish_clear(&fx->app, id), 0);
    assert_no_file(fx, TOKEN_B);
    assert_int_equal(entries(dir), 0);
    assert_int_equal(entries(fx->web), 2); /* index.html and .well-known */
    assert_int_equal(access(other, F_OK), 0);
    struct store_http_challenge *left;
    int nleft;
    assert_int_equal(store_http_challenges_of(fx->app.store, id, &left, &nleft), STORE_OK);
    assert_int_equal(nleft, 0);
    xfree(wk);
    xfree(dir);
    xfree(both);
    xfree(only_b);
    xfree(other);
}

/* Records with no http part or unfit tokens are never published (no file outside the
 * directory, whatever a record says). */
static void test_unfit_records_are_skipped(void **state)
{
    (void)state;
    const char *records =
        "[{\"txt_name\":\"_acme-challenge.example.com\",\"txt_value\":\"v\"},"
        "{\"http_url\":\"http://a.example.com/.well-known/acme-challenge/../../etc\","
        "\"http_body\":\"x\"},"
        "{\"http_url\":\"http://a.example.com/.well-known/acme-challenge/ok_-1\","
        "\"http_body\":\"line\\nbreak\"},"
        "{\"http_url\":\"http://a.example.com/.well-known/acme-challenge/ok_-2\","
        "\"http_body\":\"ok_-2.t\"}]";
    struct store_http_challenge *list;
    int n;
    records_of_json(records, &list, &n);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].token, "ok_-2");
    assert_string_equal(list[0].body, "ok_-2.t");
    xfree(list);
    http_publish_records(NULL, &list, &n);
    assert_int_equal(n, 0);
    assert_null(list);
}

/* ---- the pack job ---- */

/* The worker publishes into the fixture's webroot and checks through the test DNS server,
 * with the hosts' "port 80" being tlsward's own responder. */
static void use_own_responder(struct fixture *fx)
{
    struct app_config *cfg = &fx->app.config;
    cfg->webroot = fx->web;
    char server[32];
    const char *why = NULL;
    tu_dns_address(&dns, server);
    assert_int_equal(dcv_resolver_set_dns(&cfg->dcv, server, &why), 0);
    cfg->dcv.http_port = fx->port;
    cfg->dcv.allow_private = true;
}

static void test_pack_job_publishes_checks_itself_and_withdraws(void **state)
{
    struct fixture *fx = *state;
    if (!dns_up)
        skip();
    use_own_responder(fx);

    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", "http", "[\"example.com\",\"www.example.com\"]", NULL, id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1); /* records created */
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_validation");
    struct store_http_challenge *recs;
    int n;
    http_publish_records(&p, &recs, &n);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_int_equal(strlen(recs[i].token), DCV_TOKEN_LEN);
        assert_served(fx, recs[i].token, recs[i].body);
        assert_file(fx, recs[i].token, recs[i].body);
    }
    store_pack_clear(&p);

    /* The check fetches from the responder itself and passes; validation is over. */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "pending_issuance");
    store_pack_clear(&p);
    for (int i = 0; i < n; i++) {
        assert_token_404(fx, recs[i].token);
        assert_no_file(fx, recs[i].token);
    }
    xfree(recs);
}

/* A pack that times out stops being served and its files go. */
static void test_timed_out_pack_is_withdrawn(void **state)
{
    struct fixture *fx = *state;
    struct app_config *cfg = &fx->app.config;
    cfg->webroot = fx->web;
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", "http", "[\"example.com\"]", NULL, id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    struct store_http_challenge *recs;
    int n;
    http_publish_records(&p, &recs, &n);
    store_pack_clear(&p);
    assert_int_equal(n, 1);
    assert_served(fx, recs[0].token, recs[0].body);
    assert_file(fx, recs[0].token, recs[0].body);

    cfg->validation_timeout_us = 1000; /* the next tick times it out, before any check */
    usleep(2000);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "validation_timed_out");
    store_pack_clear(&p);
    assert_token_404(fx, recs[0].token);
    assert_no_file(fx, recs[0].token);
    xfree(recs);
}

/* Gives an active pack of hosts example.com + www.example.com an old generation (10 days
 * left), so that its renewal is due now. */
static void make_renewal_due(struct fixture *fx, const char *id)
{
    static const char *const hosts[] = {"example.com", "www.example.com"};
    int64_t now = util_now_us(), at = now - 80 * DAY;
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    struct local_ca_pair pair;
    struct store_pack_cert rows[2];
    tu_issue_rows(&fx->app, id, hosts, 2, p.cert_generation + 1, at, rows, &pair);
    local_ca_pair_clear(&pair);
    p.cert_generation++;
    assert_int_equal(store_pack_update_with_certs(fx->app.store, &p, rows, 2, NULL, NULL, now, now),
                     STORE_OK);
    store_pack_clear(&p);
    store_pack_cert_clear(&rows[0]);
    store_pack_cert_clear(&rows[1]);
}

/* In check mode a renewal checks the records kept from validation again: tlsward publishes
 * them for that check (nobody else serves them here, so the renewal passes only through
 * its own responder) and withdraws them once the step is done. */
static void test_renewal_republishes_for_its_check(void **state)
{
    struct fixture *fx = *state;
    if (!dns_up)
        skip();
    use_own_responder(fx);

    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", "http", "[\"example.com\",\"www.example.com\"]", NULL, id);
    struct store_pack p = {0};
    for (int round = 0; round < 8; round++) {
        worker_run_due(&fx->app, OWNER);
        store_pack_clear(&p);
        assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
        if (strcmp(STORE_ENUM_NAME(p.status), "active") == 0)
            break;
    }
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    int generation = p.cert_generation;
    struct store_http_challenge *recs;
    int n;
    http_publish_records(&p, &recs, &n); /* kept for renewals */
    store_pack_clear(&p);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_token_404(fx, recs[i].token);
        assert_no_file(fx, recs[i].token);
    }

    make_renewal_due(fx, id);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    assert_int_equal(p.renewal_failures, 0);
    assert_int_equal(p.cert_generation, generation + 2); /* the old one, then the renewed */
    store_pack_clear(&p);
    for (int i = 0; i < n; i++) {
        assert_token_404(fx, recs[i].token);
        assert_no_file(fx, recs[i].token);
    }
    xfree(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serves_pending_tokens_and_404_otherwise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_pack_row_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issuance_orders_are_served_outside_the_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_webroot_files_follow_the_records, setup, teardown),
        cmocka_unit_test(test_unfit_records_are_skipped),
        cmocka_unit_test_setup_teardown(test_pack_job_publishes_checks_itself_and_withdraws, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timed_out_pack_is_withdrawn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_republishes_for_its_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
