/* Unit tests of the request pipeline (http/pipeline, http/auth) over the REAL route table
 * (api/routes.c) and handlers, with a real SQLite store in a temporary directory: the
 * order route → credentials → rate limit → permission → body limit → handler (the first four
 * decided before any body is read), the failed-authentication limit per client address, every
 * authentication error of SPEC §3, token verify, zone visibility (foreign zones look
 * exactly like unknown ones), zone create/get/delete/list, 405 with Allow, 413, 429 and
 * /healthz. Requests are fake (headers from a lookup callback), responses are rendered
 * and parsed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/permission.h"
#include "http/metrics.h"
#include "http/pipeline.h"
#include "http/ratelimit.h"
#include "http/request.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL

/* Bearer secrets: 40 alphanumerics each (valid token68). */
#define S_ALL "AllPermissionsTokenSecret000000000000001"
#define S_READ "ZoneReadOnlyTokenSecret00000000000000002"
#define S_SCOPED "ZoneScopedTokenSecret0000000000000000003"
#define S_EXPIRED "ExpiredTokenSecret0000000000000000000004"
#define S_REVOKED "RevokedTokenSecret0000000000000000000005"
#define S_B "OtherAccountTokenSecret00000000000000006"
#define S_FUTURE "ExpiresLaterTokenSecret00000000000000007"
#define S_SSL "SslOnlyTokenSecret0000000000000000000008"
#define S_UNKNOWN "NeverIssuedTokenSecret000000000000000009"
_Static_assert(sizeof S_ALL == 41 && sizeof S_READ == 41 && sizeof S_SCOPED == 41 &&
                   sizeof S_EXPIRED == 41 && sizeof S_REVOKED == 41 && sizeof S_B == 41 &&
                   sizeof S_FUTURE == 41 && sizeof S_SSL == 41 && sizeof S_UNKNOWN == 41,
               "bearer secrets are 40 characters");

/* Global keys (37 hex) and e-mails of the two users. */
#define EMAIL_1 "owner@example.com"
#define KEY_1 "0123456789abcdef0123456789abcdef01234"
#define EMAIL_2 "other@example.org"
#define KEY_2 "fedcba9876543210fedcba9876543210fedcb"

#define ZONES "/client/v4/zones"
#define VERIFY "/client/v4/user/tokens/verify"

#define BEARER(secret)                                                                             \
    ((const struct tu_kv[]){{REQUEST_HEADER, "Authorization", "Bearer " secret}, {0}})
#define AUTHZ(value) ((const struct tu_kv[]){{REQUEST_HEADER, "Authorization", value}, {0}})
#define GLOBAL(email, key)                                                                         \
    ((const struct tu_kv[]){                                                                       \
        {REQUEST_HEADER, "X-Auth-Email", email}, {REQUEST_HEADER, "X-Auth-Key", key}, {0}})

struct fixture {
    char dir[64];
    char *db_path;
    struct app app;
    char user_1[STORE_ID_SIZE], user_2[STORE_ID_SIZE];
    char account_a[STORE_ID_SIZE], account_b[STORE_ID_SIZE];
    char tok_all[STORE_ID_SIZE], tok_read[STORE_ID_SIZE], tok_scoped[STORE_ID_SIZE],
        tok_expired[STORE_ID_SIZE], tok_revoked[STORE_ID_SIZE], tok_b[STORE_ID_SIZE],
        tok_future[STORE_ID_SIZE], tok_ssl[STORE_ID_SIZE];
    char zone_alpha[STORE_ID_SIZE], zone_beta[STORE_ID_SIZE], zone_gamma[STORE_ID_SIZE];
    int64_t future_expiry;
    char client_key[64]; /* the client address key given to every request */
};

/* One rendered response. */
struct resp {
    int status;
    char *text;       /* the rendered body */
    const char *type; /* its content type */
    json_t *env;      /* the parsed body when it is JSON, else NULL */
    char allow[64];
    long retry_after;
    char request_id[33];
};

static void resp_free(struct resp *r)
{
    xfree(r->text);
    json_decref(r->env);
    memset(r, 0, sizeof *r);
}

/* Runs one request through the pipeline and renders it. body may be NULL. */
static void call(struct fixture *fx, const char *method, const char *path,
                 const struct tu_kv *headers, const char *body, bool too_large, struct resp *out)
{
    struct request req;
    memset(out, 0, sizeof *out);
    request_init(&req, &fx->app, method, path, tu_lookup, (void *)headers);
    snprintf(req.client_key, sizeof req.client_key, "%s", fx->client_key);
    if (body) {
        req.body = xstrdup(body);
        req.body_len = strlen(body);
    }
    pipeline_run(&req, api_routes, api_route_count, too_large);
    char *text;
    size_t len;
    request_render(&req, &text, &len, &out->type);
    out->text = xstrndup(text, len);
    xfree(text);
    out->status = req.status;
    memcpy(out->allow, req.allow, sizeof out->allow);
    out->retry_after = req.retry_after;
    memcpy(out->request_id, req.request_id, sizeof out->request_id);
    if (strcmp(out->type, "application/json") == 0) {
        json_error_t err;
        out->env = json_loads(out->text, JSON_REJECT_DUPLICATES, &err);
        if (!out->env)
            fail_msg("%s %s: body is not JSON: %s", method, path, out->text);
    }
    request_free(&req);
}

/* Asserts an envelope failure with this status and these codes (0-terminated). */
static void expect_failure(const struct resp *r, int status, const int *codes)
{
    if (r->status != status)
        fail_msg("expected HTTP %d, got %d: %s", status, r->status, r->text);
    assert_non_null(r->env);
    tu_assert_failure(r->env, codes);
}

static void expect_success(const struct resp *r)
{
    if (r->status != 200)
        fail_msg("expected HTTP 200, got %d: %s", r->status, r->text);
    assert_non_null(r->env);
    assert_true(json_is_true(json_object_get(r->env, "success")));
    assert_int_equal(json_array_size(json_object_get(r->env, "errors")), 0);
}

static const char *result_string(const struct resp *r, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(r->env, "result"), key));
    if (!v)
        fail_msg("result.%s missing in %s", key, r->text);
    return v;
}

/* Asserts the 6003 / error_chain [6111] shape of a malformed Authorization header. */
static void expect_auth_format(const struct resp *r)
{
    expect_failure(r, 400, (const int[]){6003, 0});
    json_t *e = json_array_get(json_object_get(r->env, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "Invalid request headers");
    json_t *chain = json_object_get(e, "error_chain");
    assert_int_equal(json_array_size(chain), 1);
    json_t *c = json_array_get(chain, 0);
    assert_int_equal(json_integer_value(json_object_get(c, "code")), 6111);
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "Invalid format for Authorization header");
}

/* ---- seeding ---- */

static void hash_of(const char *secret, unsigned char out[32])
{
    util_sha256(secret, strlen(secret), out);
}

static int seed_user(struct fixture *fx, char id[STORE_ID_SIZE], const char *email, const char *key)
{
    struct store_user u = {.created_on = util_now_us()};
    util_random_id(u.id);
    snprintf(u.email, sizeof u.email, "%s", email);
    hash_of(key, u.key_hash);
    memcpy(id, u.id, STORE_ID_SIZE);
    return store_user_create(fx->app.store, &u);
}

static int seed_account(struct fixture *fx, char id[STORE_ID_SIZE], const char *name,
                        const char *owner)
{
    struct store_account a = {.created_on = util_now_us()};
    util_random_id(a.id);
    snprintf(a.name, sizeof a.name, "%s", name);
    memcpy(a.owner_user_id, owner, STORE_ID_SIZE);
    memcpy(id, a.id, STORE_ID_SIZE);
    return store_account_create(fx->app.store, &a);
}

static int seed_token(struct fixture *fx, char id[STORE_ID_SIZE], const char *account,
                      const char *secret, unsigned perms, const char *scope, int64_t expires_on,
                      int64_t revoked_on)
{
    struct store_token t = {.permissions = perms,
                            .expires_on = expires_on,
                            .revoked_on = revoked_on,
                            .created_on = util_now_us()};
    util_random_id(t.id);
    memcpy(t.account_id, account, STORE_ID_SIZE);
    hash_of(secret, t.hash);
    snprintf(t.zone_scope, sizeof t.zone_scope, "%s", scope ? scope : "");
    memcpy(id, t.id, STORE_ID_SIZE);
    return store_token_create(fx->app.store, &t);
}

static int seed_zone(struct fixture *fx, char id[STORE_ID_SIZE], const char *account,
                     const char *name, int64_t created)
{
    struct store_zone z = {.universal_ssl = true,
                           .advanced_quota = 50,
                           .created_on = created,
                           .modified_on = created,
                           .activated_on = created};
    util_random_id(z.id);
    memcpy(z.account_id, account, STORE_ID_SIZE);
    snprintf(z.name, sizeof z.name, "%s", name);
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    memcpy(id, z.id, STORE_ID_SIZE);
    return store_zone_create(fx->app.store, &z);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/tlsward-test-pipeline-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    fx->db_path = xasprintf("%s/tlsward.db", fx->dir);
    if (store_open(fx->db_path, STORE_OPEN_CREATE, 2, &fx->app.store) != STORE_OK)
        return -1;
    fx->app.ratelimit = ratelimit_create(0, 1); /* unlimited unless a test swaps it */
    fx->app.metrics = metrics_create(api_routes, api_route_count);
    fx->app.config.name_servers[0] = "ns1.tlsward.test";
    fx->app.config.name_servers[1] = "ns2.tlsward.test";
    fx->app.config.name_server_count = 2;

    int64_t now = util_now_us();
    fx->future_expiry = (now / SEC + 86400) * SEC; /* whole seconds: exact RFC 3339 */
    int rc = 0;
    rc |= seed_user(fx, fx->user_1, EMAIL_1, KEY_1);
    rc |= seed_user(fx, fx->user_2, EMAIL_2, KEY_2);
    rc |= seed_account(fx, fx->account_a, "Account A", fx->user_1);
    rc |= seed_account(fx, fx->account_b, "Account B", fx->user_2);
    rc |= seed_zone(fx, fx->zone_alpha, fx->account_a, "alpha.example", now - 3 * SEC);
    rc |= seed_zone(fx, fx->zone_beta, fx->account_a, "beta.example", now - 2 * SEC);
    rc |= seed_zone(fx, fx->zone_gamma, fx->account_b, "gamma.example", now - 1 * SEC);
    rc |= seed_token(fx, fx->tok_all, fx->account_a, S_ALL, PERM_ALL, NULL, 0, 0);
    rc |= seed_token(fx, fx->tok_read, fx->account_a, S_READ, PERM_ZONE_READ, NULL, 0, 0);
    rc |= seed_token(fx, fx->tok_scoped, fx->account_a, S_SCOPED, PERM_ALL, fx->zone_alpha, 0, 0);
    rc |= seed_token(fx, fx->tok_expired, fx->account_a, S_EXPIRED, PERM_ALL, NULL, now - 60 * SEC,
                     0);
    rc |= seed_token(fx, fx->tok_revoked, fx->account_a, S_REVOKED, PERM_ALL, NULL, 0,
                     now - 60 * SEC);
    rc |= seed_token(fx, fx->tok_b, fx->account_b, S_B, PERM_ALL, NULL, 0, 0);
    rc |= seed_token(fx, fx->tok_future, fx->account_a, S_FUTURE, PERM_ZONE_READ, NULL,
                     fx->future_expiry, 0);
    rc |= seed_token(fx, fx->tok_ssl, fx->account_a, S_SSL, PERM_SSL_READ | PERM_SSL_WRITE, NULL, 0,
                     0);
    if (rc != STORE_OK)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->app.store);
    ratelimit_destroy(fx->app.ratelimit);
    metrics_destroy(fx->app.metrics);
    char *cmd = xasprintf("rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    xfree(cmd);
    xfree(fx->db_path);
    xfree(fx);
    return rc == 0 ? 0 : -1;
}

/* The zone ids of a list response, in order, space-separated (for compact assertions). */
static void list_ids(const struct resp *r, char *out, size_t size)
{
    json_t *items = json_object_get(r->env, "result");
    assert_true(json_is_array(items));
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(items, i), "id"));
        assert_non_null(id);
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "", id);
        assert_true(used < size);
    }
}

static long long result_info_int(const struct resp *r, const char *key)
{
    json_t *v = json_object_get(json_object_get(r->env, "result_info"), key);
    if (!json_is_integer(v))
        fail_msg("result_info.%s missing in %s", key, r->text);
    return json_integer_value(v);
}

/* ---- operations endpoints ---- */

static void test_healthz(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", "/healthz", NULL, NULL, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json");
    assert_string_equal(r.text, "{\"status\":\"ok\"}");
    assert_true(util_is_id(r.request_id));
    resp_free(&r);
}

static void test_metrics_endpoint(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    metrics_record(fx->app.metrics, &api_routes[0], 200, 100);
    call(fx, "GET", "/metrics", NULL, NULL, false, &r);
    assert_int_equal(r.status, 200);
    assert_null(r.env);
    assert_int_equal(strncmp(r.type, "text/plain", 10), 0);
    tu_assert_contains(r.text, "# TYPE tlsward_http_requests_total counter\n");
    tu_assert_contains(r.text, "tlsward_http_requests_total{method=\"GET\",route=\"/healthz\","
                               "status=\"200\"} ");
    resp_free(&r);
}

/* ---- authentication ---- */

static void test_no_credentials(void **state)
{
    struct fixture *fx = *state;
    static const struct tu_kv only_email[] = {{REQUEST_HEADER, "X-Auth-Email", EMAIL_1}, {0}};
    static const struct tu_kv only_key[] = {{REQUEST_HEADER, "X-Auth-Key", KEY_1}, {0}};
    const struct tu_kv *cases[] = {NULL, only_email, only_key, GLOBAL("", KEY_1),
                                   GLOBAL(EMAIL_1, "")};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        call(fx, "GET", ZONES, cases[i], NULL, false, &r);
        expect_failure(&r, 400, (const int[]){9106, 0});
        assert_string_equal(tu_error_message(r.env, 0),
                            "Missing X-Auth-Key, X-Auth-Email or Authorization headers");
        resp_free(&r);
    }
    /* Token verify needs a bearer token: without any, the same 9106. */
    struct resp r;
    call(fx, "GET", VERIFY, NULL, NULL, false, &r);
    expect_failure(&r, 400, (const int[]){9106, 0});
    resp_free(&r);
}

static void test_malformed_authorization(void **state)
{
    struct fixture *fx = *state;
    static const char *const bad[] = {
        "Basic x",        "Bearer",       "Bearer ", "Bearer a b",   "Bearer " S_ALL " extra",
        "Bearer  " S_ALL, "Token " S_ALL, "",        "Bearer" S_ALL, "Bearer abc\"def",
        "Bearer =abc",    "Bearer a=b",
    };
    static const char *const paths[] = {ZONES, VERIFY};
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            const struct tu_kv headers[] = {{REQUEST_HEADER, "Authorization", bad[i]},
                                            /* the legacy pair does not rescue it */
                                            {REQUEST_HEADER, "X-Auth-Email", EMAIL_1},
                                            {REQUEST_HEADER, "X-Auth-Key", KEY_1},
                                            {0}};
            struct resp r;
            call(fx, "GET", paths[p], headers, NULL, false, &r);
            if (r.status != 400)
                fail_msg("Authorization \"%s\" on %s: HTTP %d %s", bad[i], paths[p], r.status,
                         r.text);
            expect_auth_format(&r);
            resp_free(&r);
        }
    }
}

static void test_bearer_scheme_is_case_insensitive(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", ZONES, AUTHZ("bearer " S_ALL), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);
    call(fx, "GET", ZONES, AUTHZ("BEARER " S_ALL), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);
}

static void test_invalid_tokens(void **state)
{
    struct fixture *fx = *state;
    const struct tu_kv *cases[] = {BEARER(S_UNKNOWN), BEARER(S_REVOKED), BEARER(S_EXPIRED),
                                   /* a token68 with padding, never issued */
                                   BEARER("abc=="), BEARER("a.b-c_d~e+f/g")};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        call(fx, "GET", ZONES, cases[i], NULL, false, &r);
        expect_failure(&r, 403, (const int[]){9109, 0});
        assert_string_equal(tu_error_message(r.env, 0), "Invalid access token");
        resp_free(&r);
        /* The same on a mutation: credentials are checked before permissions. */
        call(fx, "DELETE", ZONES "/0123456789abcdef0123456789abcdef", cases[i], NULL, false, &r);
        expect_failure(&r, 403, (const int[]){9109, 0});
        assert_string_equal(tu_error_message(r.env, 0), "Invalid access token");
        resp_free(&r);
    }
}

static void test_verify_invalid_tokens(void **state)
{
    struct fixture *fx = *state;
    const struct tu_kv *cases[] = {BEARER(S_UNKNOWN), BEARER(S_REVOKED), BEARER(S_EXPIRED)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct resp r;
        call(fx, "GET", VERIFY, cases[i], NULL, false, &r);
        expect_failure(&r, 401, (const int[]){1000, 0});
        assert_string_equal(tu_error_message(r.env, 0), "Invalid API Token");
        resp_free(&r);
    }
}

static void test_verify_valid_token(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", VERIFY, BEARER(S_ALL), NULL, false, &r);
    expect_success(&r);
    json_t *messages = json_object_get(r.env, "messages");
    assert_int_equal(json_array_size(messages), 1);
    json_t *m = json_array_get(messages, 0);
    assert_int_equal(json_integer_value(json_object_get(m, "code")), 10000);
    assert_string_equal(json_string_value(json_object_get(m, "message")),
                        "This API Token is valid and active");
    assert_string_equal(result_string(&r, "id"), fx->tok_all);
    assert_string_equal(result_string(&r, "status"), "active");
    /* A token that never expires has no expires_on. */
    assert_null(json_object_get(json_object_get(r.env, "result"), "expires_on"));
    resp_free(&r);

    /* Any valid token verifies, whatever its permissions; expires_on when it has one. */
    call(fx, "GET", VERIFY, BEARER(S_FUTURE), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), fx->tok_future);
    char when[UTIL_TIME_LEN];
    util_format_time(fx->future_expiry, when);
    assert_string_equal(result_string(&r, "expires_on"), when);
    resp_free(&r);

    call(fx, "GET", VERIFY, BEARER(S_SSL), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), fx->tok_ssl);
    resp_free(&r);
}

static void test_global_key(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", ZONES, GLOBAL(EMAIL_1, KEY_1), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);

    /* (With a trailing slash this time.) The user sees the zones of the accounts it owns, not the
     * other user's. */
    call(fx, "GET", ZONES "/", GLOBAL(EMAIL_1, KEY_1), NULL, false, &r);
    expect_success(&r);
    char ids[4096];
    list_ids(&r, ids, sizeof ids);
    tu_assert_contains(ids, fx->zone_alpha);
    tu_assert_contains(ids, fx->zone_beta);
    tu_assert_not_contains(ids, fx->zone_gamma);
    resp_free(&r);

    call(fx, "GET", ZONES "/", GLOBAL(EMAIL_2, KEY_2), NULL, false, &r);
    expect_success(&r);
    list_ids(&r, ids, sizeof ids);
    assert_string_equal(ids, fx->zone_gamma);
    resp_free(&r);

    const struct tu_kv *wrong[] = {
        GLOBAL(EMAIL_1, KEY_2), GLOBAL(EMAIL_2, KEY_1), GLOBAL("nobody@example.com", KEY_1),
        GLOBAL(EMAIL_1, "0123456789abcdef0123456789abcdef01235"), GLOBAL(EMAIL_1, S_ALL)};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        call(fx, "GET", ZONES, wrong[i], NULL, false, &r);
        expect_failure(&r, 403, (const int[]){9103, 0});
        assert_string_equal(tu_error_message(r.env, 0), "Unknown X-Auth-Key or X-Auth-Email");
        resp_free(&r);
    }
}

static void test_global_key_zone_access(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    struct resp r;
    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "GET", path, GLOBAL(EMAIL_1, KEY_1), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), fx->zone_alpha);
    resp_free(&r);
    /* The other user cannot see it. */
    call(fx, "GET", path, GLOBAL(EMAIL_2, KEY_2), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    resp_free(&r);
}

/* ---- permissions ---- */

static void test_permission_denied(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char path[128];

    call(
        fx, "POST", ZONES, BEARER(S_READ),
        "{\"name\":\"readonly.example\",\"account\":{\"id\":\"0123456789abcdef0123456789abcdef\"}}",
        false, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    assert_string_equal(tu_error_message(r.env, 0), "Unauthorized to access requested resource");
    resp_free(&r);

    /* Reading is allowed to the same token, and the refused create left nothing behind. */
    const struct tu_kv by_name[] = {{REQUEST_HEADER, "Authorization", "Bearer " S_READ},
                                    {REQUEST_QUERY, "name", "readonly.example"},
                                    {0}};
    call(fx, "GET", ZONES, by_name, NULL, false, &r);
    expect_success(&r);
    assert_int_equal(json_array_size(json_object_get(r.env, "result")), 0);
    resp_free(&r);

    /* DELETE needs zone:write; refused before the zone is even looked up, so an existing
     * and an unknown zone get the same 403 (no existence leak). */
    snprintf(path, sizeof path, ZONES "/%s", fx->zone_beta);
    call(fx, "DELETE", path, BEARER(S_READ), NULL, false, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    resp_free(&r);
    call(fx, "DELETE", ZONES "/ffffffffffffffffffffffffffffffff", BEARER(S_READ), NULL, false, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    resp_free(&r);
    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &r);
    expect_success(&r); /* still there */
    resp_free(&r);

    /* ssl:* permissions do not include zone:read. */
    call(fx, "GET", ZONES, BEARER(S_SSL), NULL, false, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    assert_string_equal(tu_error_message(r.env, 0), "Unauthorized to access requested resource");
    resp_free(&r);
}

/* ---- zones ---- */

static char *create_body(const char *name, const char *account)
{
    return xasprintf("{\"name\":\"%s\",\"account\":{\"id\":\"%s\"}}", name, account);
}

static void test_zone_lifecycle(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char *body = create_body("lifecycle.example", fx->account_a);
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    xfree(body);
    expect_success(&r);
    char id[STORE_ID_SIZE];
    snprintf(id, sizeof id, "%s", result_string(&r, "id"));
    assert_true(util_is_id(id));
    assert_string_equal(result_string(&r, "name"), "lifecycle.example");
    assert_string_equal(result_string(&r, "status"), "active");
    assert_string_equal(result_string(&r, "type"), "full");
    json_t *result = json_object_get(r.env, "result");
    json_t *account = json_object_get(result, "account");
    assert_string_equal(json_string_value(json_object_get(account, "id")), fx->account_a);
    assert_string_equal(json_string_value(json_object_get(account, "name")), "Account A");
    json_t *ns = json_object_get(result, "name_servers");
    assert_int_equal(json_array_size(ns), 2);
    assert_string_equal(json_string_value(json_array_get(ns, 0)), "ns1.tlsward.test");
    assert_string_equal(json_string_value(json_array_get(ns, 1)), "ns2.tlsward.test");
    json_t *owner = json_object_get(result, "owner");
    assert_string_equal(json_string_value(json_object_get(owner, "id")), fx->user_1);
    assert_string_equal(json_string_value(json_object_get(owner, "email")), EMAIL_1);
    assert_true(json_is_string(json_object_get(result, "created_on")));
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, ZONES "/%s", id);
    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), id);
    assert_string_equal(result_string(&r, "name"), "lifecycle.example");
    resp_free(&r);

    /* A single trailing slash is the same resource. */
    snprintf(path, sizeof path, ZONES "/%s/", id);
    call(fx, "GET", path, BEARER(S_READ), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), id);
    resp_free(&r);

    snprintf(path, sizeof path, ZONES "/%s", id);
    call(fx, "DELETE", path, BEARER(S_ALL), NULL, false, &r);
    expect_success(&r);
    assert_string_equal(result_string(&r, "id"), id);
    assert_int_equal(json_object_size(json_object_get(r.env, "result")), 1);
    resp_free(&r);

    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    resp_free(&r);
    call(fx, "DELETE", path, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    resp_free(&r);
}

static void test_create_with_global_key(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char *body = create_body("Global-Key.Example", fx->account_a);
    call(fx, "POST", ZONES, GLOBAL(EMAIL_1, KEY_1), body, false, &r);
    xfree(body);
    expect_success(&r);
    assert_string_equal(result_string(&r, "name"), "global-key.example"); /* lower-cased */
    resp_free(&r);

    /* A user cannot create zones in another user's account. */
    body = create_body("global-key.example", fx->account_b);
    call(fx, "POST", ZONES, GLOBAL(EMAIL_1, KEY_1), body, false, &r);
    xfree(body);
    expect_failure(&r, 403, (const int[]){9109, 0});
    resp_free(&r);
}

/* Replaces every occurrence of `from` in s by `to` (same length or shorter); in place. */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    assert_true(tl <= fl);
    for (char *p = strstr(s, from); p; p = strstr(p + tl, from)) {
        memcpy(p, to, tl);
        memmove(p + tl, p + fl, strlen(p + fl) + 1);
    }
}

static void test_foreign_zone_looks_unknown(void **state)
{
    struct fixture *fx = *state;
    char path[128], unknown[STORE_ID_SIZE];
    struct resp foreign, missing;

    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "GET", path, BEARER(S_B), NULL, false, &foreign);
    expect_failure(&foreign, 400, (const int[]){7003, 7000, 0});
    char want[160];
    snprintf(want, sizeof want,
             "Could not route to /zones/%s, perhaps your object identifier is invalid?",
             fx->zone_alpha);
    assert_string_equal(tu_error_message(foreign.env, 0), want);
    assert_string_equal(tu_error_message(foreign.env, 1), "No route for that URI");

    util_random_id(unknown);
    snprintf(path, sizeof path, ZONES "/%s", unknown);
    call(fx, "GET", path, BEARER(S_B), NULL, false, &missing);
    expect_failure(&missing, 400, (const int[]){7003, 7000, 0});

    /* Byte for byte the same once the id is replaced. */
    replace_all(foreign.text, fx->zone_alpha, "ID");
    replace_all(missing.text, unknown, "ID");
    assert_string_equal(foreign.text, missing.text);
    resp_free(&foreign);
    resp_free(&missing);

    /* A malformed id gets the same shape. */
    call(fx, "GET", ZONES "/not-an-id", BEARER(S_B), NULL, false, &missing);
    expect_failure(&missing, 400, (const int[]){7003, 7000, 0});
    tu_assert_contains(tu_error_message(missing.env, 0), "/zones/not-an-id,");
    resp_free(&missing);

    /* Nor can the other account delete it. */
    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "DELETE", path, BEARER(S_B), NULL, false, &foreign);
    expect_failure(&foreign, 400, (const int[]){7003, 7000, 0});
    resp_free(&foreign);
    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &foreign);
    expect_success(&foreign);
    resp_free(&foreign);
}

static void test_scoped_token(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char ids[4096], path[128];

    call(fx, "GET", ZONES, BEARER(S_SCOPED), NULL, false, &r);
    expect_success(&r);
    list_ids(&r, ids, sizeof ids);
    assert_string_equal(ids, fx->zone_alpha);
    assert_int_equal(result_info_int(&r, "count"), 1);
    assert_int_equal(result_info_int(&r, "total_count"), 1);
    assert_int_equal(result_info_int(&r, "total_pages"), 1);
    resp_free(&r);

    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "GET", path, BEARER(S_SCOPED), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);

    snprintf(path, sizeof path, ZONES "/%s", fx->zone_beta);
    call(fx, "GET", path, BEARER(S_SCOPED), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    resp_free(&r);

    /* A zone-scoped token cannot create zones, even in its own account. */
    char *body = create_body("scoped-create.example", fx->account_a);
    call(fx, "POST", ZONES, BEARER(S_SCOPED), body, false, &r);
    xfree(body);
    expect_failure(&r, 403, (const int[]){9109, 0});
    resp_free(&r);
}

static void test_list_filters_and_paging(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char ids[4096];

    /* Account B holds exactly one zone. */
    call(fx, "GET", ZONES, BEARER(S_B), NULL, false, &r);
    expect_success(&r);
    list_ids(&r, ids, sizeof ids);
    assert_string_equal(ids, fx->zone_gamma);
    assert_int_equal(result_info_int(&r, "page"), 1);
    assert_int_equal(result_info_int(&r, "per_page"), 20);
    resp_free(&r);

    /* Oldest first: alpha then beta (both seeded before any zone the tests create). */
    struct {
        const char *page;
        const char *want;
    } pages[] = {{"1", fx->zone_alpha}, {"2", fx->zone_beta}};
    for (size_t i = 0; i < 2; i++) {
        const struct tu_kv q[] = {{REQUEST_HEADER, "Authorization", "Bearer " S_READ},
                                  {REQUEST_QUERY, "per_page", "1"},
                                  {REQUEST_QUERY, "page", pages[i].page},
                                  {0}};
        call(fx, "GET", ZONES, q, NULL, false, &r);
        expect_success(&r);
        list_ids(&r, ids, sizeof ids);
        assert_string_equal(ids, pages[i].want);
        assert_int_equal(result_info_int(&r, "count"), 1);
        assert_true(result_info_int(&r, "total_count") >= 2);
        resp_free(&r);
    }

    const struct tu_kv by_name[] = {{REQUEST_HEADER, "Authorization", "Bearer " S_READ},
                                    {REQUEST_QUERY, "name", "BETA.example"},
                                    {0}};
    call(fx, "GET", ZONES, by_name, NULL, false, &r);
    expect_success(&r);
    list_ids(&r, ids, sizeof ids);
    assert_string_equal(ids, fx->zone_beta);
    resp_free(&r);

    const struct tu_kv bad[] = {{REQUEST_HEADER, "Authorization", "Bearer " S_READ},
                                {REQUEST_QUERY, "per_page", "51"},
                                {0}};
    call(fx, "GET", ZONES, bad, NULL, false, &r);
    expect_failure(&r, 400, (const int[]){1004, 0});
    tu_assert_contains(tu_error_message(r.env, 0), "per_page");
    resp_free(&r);
}

static void test_duplicate_zone(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    char *body = create_body("dup.example", fx->account_a);
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    expect_success(&r);
    resp_free(&r);
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    xfree(body);
    expect_failure(&r, 400, (const int[]){1061, 0});
    tu_assert_contains(tu_error_message(r.env, 0), "dup.example");
    resp_free(&r);

    /* Names are compared normalised. */
    body = create_body("DUP.Example", fx->account_a);
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    xfree(body);
    expect_failure(&r, 400, (const int[]){1061, 0});
    resp_free(&r);

    /* An already seeded zone. */
    body = create_body("alpha.example", fx->account_a);
    call(fx, "POST", ZONES, GLOBAL(EMAIL_1, KEY_1), body, false, &r);
    xfree(body);
    expect_failure(&r, 400, (const int[]){1061, 0});
    resp_free(&r);

    /* The same name in another account is a different zone. */
    body = create_body("dup.example", fx->account_b);
    call(fx, "POST", ZONES, BEARER(S_B), body, false, &r);
    xfree(body);
    expect_success(&r);
    char path[128];
    snprintf(path, sizeof path, ZONES "/%s", result_string(&r, "id"));
    resp_free(&r);
    call(fx, "DELETE", path, BEARER(S_B), NULL, false, &r); /* keep account B as seeded */
    expect_success(&r);
    resp_free(&r);
}

static void expect_create_1004(struct fixture *fx, const char *body, const char *needle)
{
    struct resp r;
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    if (r.status != 400)
        fail_msg("body %s: HTTP %d %s", body ? body : "(none)", r.status, r.text);
    expect_failure(&r, 400, (const int[]){1004, 0});
    tu_assert_contains(tu_error_message(r.env, 0), needle);
    resp_free(&r);
}

static void test_create_invalid_body(void **state)
{
    struct fixture *fx = *state;
    char *body;
    expect_create_1004(fx, NULL, "request body");
    expect_create_1004(fx, "{\"name\":", "request body is not valid JSON");
    expect_create_1004(fx, "[]", "request body must be a JSON object");
    expect_create_1004(fx, "{}", "name: is required");
    expect_create_1004(fx, "{\"name\":5}", "name: must be a string");
    expect_create_1004(fx, "{\"name\":\"x.example\"}", "account: is required");
    expect_create_1004(fx, "{\"name\":\"x.example\",\"account\":\"abc\"}",
                       "account: must be an object");
    expect_create_1004(fx, "{\"name\":\"x.example\",\"account\":{}}", "account.id: is required");
    expect_create_1004(fx, "{\"name\":\"x.example\",\"account\":{\"id\":7}}",
                       "account.id: must be a string");
    body = xasprintf("{\"name\":\"x.example\",\"account\":{\"id\":\"%s\"},\"type\":\"bogus\"}",
                     fx->account_a);
    expect_create_1004(fx, body, "type: must be one of full, partial, secondary or internal");
    xfree(body);
    body = create_body("not a domain", fx->account_a);
    expect_create_1004(fx, body, "name: \"not a domain\" is not a valid domain name");
    xfree(body);
    body = create_body("*.wild.example", fx->account_a);
    expect_create_1004(fx, body, "name:");
    xfree(body);
    body = create_body("localhost", fx->account_a);
    expect_create_1004(fx, body, "name:");
    xfree(body);
}

static void test_create_in_foreign_or_unknown_account(void **state)
{
    struct fixture *fx = *state;
    const char *accounts[] = {fx->account_b, "0123456789abcdef0123456789abcdef", "nope"};
    for (size_t i = 0; i < 3; i++) {
        char *body = create_body("foreign.example", accounts[i]);
        struct resp r;
        call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
        xfree(body);
        expect_failure(&r, 403, (const int[]){9109, 0});
        tu_assert_contains(tu_error_message(r.env, 0), accounts[i]);
        resp_free(&r);
    }
}

/* ---- pipeline-level errors ---- */

static void test_body_too_large(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "POST", ZONES, BEARER(S_ALL), NULL, true, &r);
    expect_failure(&r, 413, (const int[]){10413, 0});
    resp_free(&r);
    /* Decided after the checks made on the headers: an unknown route, missing or invalid
     * credentials and a missing permission answer first (the body was never read). */
    call(fx, "POST", ZONES, NULL, NULL, true, &r);
    expect_failure(&r, 400, (const int[]){9106, 0});
    resp_free(&r);
    call(fx, "POST", ZONES, BEARER(S_UNKNOWN), NULL, true, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    resp_free(&r);
    call(fx, "POST", "/client/v4/nowhere", NULL, NULL, true, &r);
    expect_failure(&r, 400, (const int[]){7000, 0});
    resp_free(&r);
    call(fx, "POST", ZONES, BEARER(S_READ), NULL, true, &r);
    expect_failure(&r, 403, (const int[]){9109, 0});
    assert_string_equal(tu_error_message(r.env, 0), "Unauthorized to access requested resource");
    resp_free(&r);
    /* A handler checks its zone and object before its body: an oversized PATCH of a pack in
     * an invisible zone is 7003, of an unknown pack 404, and only of a known object 413. */
    char path[256];
    snprintf(path, sizeof path, ZONES "/%s/ssl/certificate_packs/%032d", fx->zone_gamma, 0);
    call(fx, "PATCH", path, BEARER(S_ALL), NULL, true, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    resp_free(&r);
    snprintf(path, sizeof path, ZONES "/%s/ssl/certificate_packs/%032d", fx->zone_alpha, 0);
    call(fx, "PATCH", path, BEARER(S_ALL), NULL, true, &r);
    expect_failure(&r, 404, (const int[]){1472, 0});
    resp_free(&r);
    snprintf(path, sizeof path, ZONES "/%s/settings/ssl_automatic_mode", fx->zone_alpha);
    call(fx, "PATCH", path, BEARER(S_ALL), NULL, true, &r);
    expect_failure(&r, 413, (const int[]){10413, 0});
    resp_free(&r);
    /* A route without a body step answers 413 at once. */
    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "GET", path, BEARER(S_ALL), NULL, true, &r);
    expect_failure(&r, 413, (const int[]){10413, 0});
    resp_free(&r);
}

/* pipeline_admit decides from the request line and headers alone: a refused request never
 * reaches its handler, an admitted one has nothing recorded yet. */
static void test_admit_before_body(void **state)
{
    struct fixture *fx = *state;
    struct request req;
    request_init(&req, &fx->app, "POST", ZONES, tu_lookup, (void *)BEARER(S_ALL));
    assert_int_equal(pipeline_admit(&req, api_routes, api_route_count), 0);
    assert_false(request_failed(&req));
    assert_null(req.result);
    assert_string_equal(req.principal.id, fx->tok_all);
    /* The body arrives afterwards; then the handler runs. */
    char *body = create_body("admitted.example", fx->account_a);
    req.body = body;
    req.body_len = strlen(body);
    pipeline_handle(&req, false);
    assert_int_equal(req.status, 200);
    assert_false(request_failed(&req));
    request_free(&req);

    /* Refused on its headers: the outcome is recorded, and no handler ran (the zone of a
     * full, valid body given afterwards is never created). */
    request_init(&req, &fx->app, "POST", ZONES, tu_lookup, (void *)BEARER(S_UNKNOWN));
    assert_int_equal(pipeline_admit(&req, api_routes, api_route_count), -1);
    assert_true(request_failed(&req));
    assert_int_equal(req.status, 403);
    request_free(&req);

    struct resp r;
    const struct tu_kv by_name[] = {{REQUEST_HEADER, "Authorization", "Bearer " S_ALL},
                                    {REQUEST_QUERY, "name", "admitted.example"},
                                    {0}};
    call(fx, "GET", ZONES, by_name, NULL, false, &r);
    expect_success(&r);
    assert_int_equal(json_array_size(json_object_get(r.env, "result")), 1);
    resp_free(&r);
}

/* The order of checks, one row per pair of competing failures: the earlier check answers. */
static void test_order_of_checks(void **state)
{
    struct fixture *fx = *state;
    struct ratelimit *unlimited = fx->app.ratelimit;
    fx->app.ratelimit = ratelimit_create(3, 300 * SEC);
    struct resp r;
    /* Use up S_READ's budget (three requests); other tokens keep theirs. */
    for (int i = 0; i < 3; i++) {
        call(fx, "GET", ZONES, BEARER(S_READ), NULL, false, &r);
        expect_success(&r);
        resp_free(&r);
    }

    char zone[128];
    snprintf(zone, sizeof zone, ZONES "/%s", fx->zone_alpha);
    const struct {
        const char *what, *method, *path;
        const struct tu_kv *headers;
        int status, code;
    } rows[] = {
        {"unknown route before missing credentials", "GET", "/client/v4/nothing", NULL, 400, 7000},
        {"unknown route before an invalid token", "POST", "/client/v4/nothing", BEARER(S_UNKNOWN),
         400, 7000},
        {"unknown route before the rate limit", "GET", "/client/v4/nothing", BEARER(S_READ), 400,
         7000},
        {"wrong method before missing credentials", "PUT", ZONES, NULL, 405, 10405},
        {"wrong method before an invalid token", "PATCH", zone, BEARER(S_UNKNOWN), 405, 10405},
        {"wrong method before the rate limit", "PUT", ZONES, BEARER(S_READ), 405, 10405},
        {"missing credentials", "DELETE", zone, NULL, 400, 9106},
        {"malformed Authorization", "DELETE", zone, AUTHZ("Basic x"), 400, 6003},
        {"invalid token before permission", "POST", ZONES, BEARER(S_UNKNOWN), 403, 9109},
        {"unknown global key before permission", "DELETE", zone, GLOBAL(EMAIL_2, KEY_1), 403, 9103},
        {"invalid token on verify", "GET", VERIFY, BEARER(S_REVOKED), 401, 1000},
        {"rate limit before permission", "POST", ZONES, BEARER(S_READ), 429, 971},
        {"rate limit before the zone lookup", "GET", ZONES "/0123", BEARER(S_READ), 429, 971},
        {"permission before the zone lookup", "DELETE", ZONES "/0123", BEARER(S_SSL), 403, 9109},
        {"permission before the body", "POST", ZONES, BEARER(S_SSL), 403, 9109},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        call(fx, rows[i].method, rows[i].path, rows[i].headers, "{not json", false, &r);
        if (r.status != rows[i].status ||
            json_integer_value(json_object_get(json_array_get(json_object_get(r.env, "errors"), 0),
                                               "code")) != rows[i].code)
            fail_msg("%s: expected %d/%d, got %d %s", rows[i].what, rows[i].status, rows[i].code,
                     r.status, r.text);
        resp_free(&r);
    }
    ratelimit_destroy(fx->app.ratelimit);
    fx->app.ratelimit = unlimited;
}

/* Failed authentication per client address: N failures, then 429 for every request of the
 * address that needs credentials (a valid one too), until the budget refills. */
static void test_auth_failure_limit(void **state)
{
    struct fixture *fx = *state;
    fx->app.auth_failures = ratelimit_create(3, 60 * SEC);
    snprintf(fx->client_key, sizeof fx->client_key, "192.0.2.1");
    struct resp r;

    /* Three failures of different kinds are answered as usual. */
    call(fx, "GET", ZONES, NULL, NULL, false, &r);
    expect_failure(&r, 400, (const int[]){9106, 0});
    resp_free(&r);
    call(fx, "GET", ZONES, AUTHZ("Basic x"), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){6003, 0});
    resp_free(&r);
    call(fx, "GET", VERIFY, BEARER(S_UNKNOWN), NULL, false, &r);
    expect_failure(&r, 401, (const int[]){1000, 0});
    resp_free(&r);

    /* The fourth is 429, with Retry-After (one failure is forgiven every 20 s). */
    call(fx, "GET", ZONES, BEARER(S_UNKNOWN), NULL, false, &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    assert_true(r.retry_after >= 1 && r.retry_after <= 20);
    resp_free(&r);
    call(fx, "GET", ZONES, GLOBAL(EMAIL_1, "0000000000000000000000000000000000000"), NULL, false,
         &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    resp_free(&r);
    /* A valid token from the same address too: the answer must not depend on the credential. */
    call(fx, "GET", ZONES, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    resp_free(&r);
    /* Routes come first, and routes without credentials are not limited. */
    call(fx, "GET", "/client/v4/nothing", BEARER(S_UNKNOWN), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7000, 0});
    resp_free(&r);
    call(fx, "GET", "/healthz", NULL, NULL, false, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    /* Another address is not affected. */
    snprintf(fx->client_key, sizeof fx->client_key, "192.0.2.2");
    call(fx, "GET", ZONES, BEARER(S_ALL), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);

    /* Successes and permission refusals are not failed authentications. */
    snprintf(fx->client_key, sizeof fx->client_key, "2001:db8::/64");
    for (int i = 0; i < 5; i++) {
        call(fx, "GET", ZONES, BEARER(S_READ), NULL, false, &r);
        expect_success(&r);
        resp_free(&r);
        call(fx, "POST", ZONES, BEARER(S_READ), "{}", false, &r);
        expect_failure(&r, 403, (const int[]){9109, 0});
        assert_string_equal(tu_error_message(r.env, 0),
                            "Unauthorized to access requested resource");
        resp_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        call(fx, "GET", ZONES, GLOBAL(EMAIL_2, KEY_1), NULL, false, &r);
        expect_failure(&r, 403, (const int[]){9103, 0});
        resp_free(&r);
    }
    call(fx, "GET", ZONES, GLOBAL(EMAIL_2, KEY_1), NULL, false, &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    resp_free(&r);

    /* An unknown address (no key) is never limited. */
    fx->client_key[0] = '\0';
    for (int i = 0; i < 5; i++) {
        call(fx, "GET", ZONES, BEARER(S_UNKNOWN), NULL, false, &r);
        expect_failure(&r, 403, (const int[]){9109, 0});
        resp_free(&r);
    }

    ratelimit_destroy(fx->app.auth_failures);
    fx->app.auth_failures = NULL;
}

/* Outside text in an error message is escaped: the error is never lost and stays valid
 * UTF-8 on one line. */
static void test_unsafe_text_in_messages(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", ZONES "/\xff\n\x01", BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7003, 7000, 0});
    assert_string_equal(tu_error_message(r.env, 0),
                        "Could not route to /zones/\\xff\\x0a\\x01, perhaps your object "
                        "identifier is invalid?");
    resp_free(&r);
    char path[160];
    snprintf(path, sizeof path, ZONES "/%s/client_certificates/\xc0\xaf\xed\xa0\x80",
             fx->zone_alpha);
    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(json_array_size(json_object_get(r.env, "errors")), 1);
    tu_assert_contains(tu_error_message(r.env, 0), "\\xc0\\xaf\\xed\\xa0\\x80");
    resp_free(&r);
    /* A body field with a newline and a C1 control (valid JSON, valid UTF-8). */
    char *body =
        xasprintf("{\"name\":\"a\\nb\\u0085c\",\"account\":{\"id\":\"%s\"}}", fx->account_a);
    call(fx, "POST", ZONES, BEARER(S_ALL), body, false, &r);
    xfree(body);
    expect_failure(&r, 400, (const int[]){1004, 0});
    tu_assert_contains(tu_error_message(r.env, 0), "a\\x0ab\\u0085c");
    resp_free(&r);
    /* Invalid UTF-8 in the body: jansson's own message quotes the bytes. */
    call(fx, "POST", ZONES, BEARER(S_ALL), "{\"name\":\"\xff\xfe\"}", false, &r);
    expect_failure(&r, 400, (const int[]){1004, 0});
    resp_free(&r);
}

/* A handler that sets an error status without an error still produces one. */
static void test_failure_always_has_an_error(void **state)
{
    struct fixture *fx = *state;
    struct request req;
    request_init(&req, &fx->app, "GET", ZONES, NULL, NULL);
    req.status = 400;
    json_t *env = tu_render_json(&req);
    assert_false(json_is_true(json_object_get(env, "success")));
    assert_int_equal(json_array_size(json_object_get(env, "errors")), 1);
    json_decref(env);
    request_free(&req);
}

static void test_unknown_route(void **state)
{
    struct fixture *fx = *state;
    static const char *const paths[] = {
        "/client/v4/nothing", "/client/v4/zones/a/b",  "/client/v4", "/", "client/v4/zones",
        "/client/v4//zones",  "/client/v4/user/tokens"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct resp r;
        /* Before credentials: no 9106 even without any. */
        call(fx, "GET", paths[i], NULL, NULL, false, &r);
        expect_failure(&r, 400, (const int[]){7000, 0});
        assert_string_equal(tu_error_message(r.env, 0), "No route for that URI");
        assert_string_equal(r.allow, "");
        resp_free(&r);
        call(fx, "GET", paths[i], BEARER(S_ALL), NULL, false, &r);
        expect_failure(&r, 400, (const int[]){7000, 0});
        resp_free(&r);
    }
}

static void test_double_trailing_slash_is_unknown_route(void **state)
{
    /* Regression (fixed in e51741d): "/client/v4/zones//" used to be served as the zone
     * list (200), while every other "//" is "No route for that URI". */
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "GET", ZONES "//", BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7000, 0});
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, ZONES "/%s//", fx->zone_alpha);
    call(fx, "GET", path, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 400, (const int[]){7000, 0});
    resp_free(&r);
}

static void test_method_not_allowed(void **state)
{
    struct fixture *fx = *state;
    struct resp r;
    call(fx, "PUT", ZONES, BEARER(S_ALL), "{}", false, &r);
    expect_failure(&r, 405, (const int[]){10405, 0});
    assert_string_equal(r.allow, "GET, POST");
    resp_free(&r);

    /* Before credentials too. */
    call(fx, "DELETE", ZONES, NULL, NULL, false, &r);
    expect_failure(&r, 405, (const int[]){10405, 0});
    assert_string_equal(r.allow, "GET, POST");
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, ZONES "/%s", fx->zone_alpha);
    call(fx, "PATCH", path, BEARER(S_ALL), "{}", false, &r);
    expect_failure(&r, 405, (const int[]){10405, 0});
    assert_string_equal(r.allow, "GET, DELETE");
    resp_free(&r);

    call(fx, "POST", VERIFY, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 405, (const int[]){10405, 0});
    assert_string_equal(r.allow, "GET");
    resp_free(&r);

    call(fx, "POST", "/healthz", NULL, NULL, false, &r);
    expect_failure(&r, 405, (const int[]){10405, 0});
    assert_string_equal(r.allow, "GET");
    resp_free(&r);
}

static void test_rate_limit(void **state)
{
    struct fixture *fx = *state;
    struct ratelimit *unlimited = fx->app.ratelimit;
    fx->app.ratelimit = ratelimit_create(2, 300 * SEC);
    struct resp r;

    for (int i = 0; i < 2; i++) {
        call(fx, "GET", ZONES, BEARER(S_ALL), NULL, false, &r);
        expect_success(&r);
        assert_int_equal(r.retry_after, 0);
        resp_free(&r);
    }
    call(fx, "GET", ZONES, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    assert_string_equal(tu_error_message(r.env, 0),
                        "Please wait and consider throttling your request speed");
    assert_true(r.retry_after >= 1);
    assert_true(r.retry_after <= 150); /* one request back every 150 s */
    resp_free(&r);

    /* The budget is per credential: another token, and the global key, still pass. */
    call(fx, "GET", ZONES, BEARER(S_READ), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);
    call(fx, "GET", ZONES, GLOBAL(EMAIL_1, KEY_1), NULL, false, &r);
    expect_success(&r);
    resp_free(&r);

    /* The limited token stays limited, on other routes too. */
    call(fx, "GET", VERIFY, BEARER(S_ALL), NULL, false, &r);
    expect_failure(&r, 429, (const int[]){971, 0});
    resp_free(&r);

    /* Unauthenticated routes are not limited. */
    call(fx, "GET", "/healthz", NULL, NULL, false, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    ratelimit_destroy(fx->app.ratelimit);
    fx->app.ratelimit = unlimited;
}

static void test_request_ids_differ(void **state)
{
    struct fixture *fx = *state;
    struct resp a, b;
    call(fx, "GET", "/healthz", NULL, NULL, false, &a);
    call(fx, "GET", "/healthz", NULL, NULL, false, &b);
    assert_true(util_is_id(a.request_id));
    assert_true(util_is_id(b.request_id));
    assert_string_not_equal(a.request_id, b.request_id);
    resp_free(&a);
    resp_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_malformed_authorization),
        cmocka_unit_test(test_bearer_scheme_is_case_insensitive),
        cmocka_unit_test(test_invalid_tokens),
        cmocka_unit_test(test_verify_invalid_tokens),
        cmocka_unit_test(test_verify_valid_token),
        cmocka_unit_test(test_global_key),
        cmocka_unit_test(test_global_key_zone_access),
        cmocka_unit_test(test_permission_denied),
        cmocka_unit_test(test_zone_lifecycle),
        cmocka_unit_test(test_create_with_global_key),
        cmocka_unit_test(test_foreign_zone_looks_unknown),
        cmocka_unit_test(test_scoped_token),
        cmocka_unit_test(test_list_filters_and_paging),
        cmocka_unit_test(test_duplicate_zone),
        cmocka_unit_test(test_create_invalid_body),
        cmocka_unit_test(test_create_in_foreign_or_unknown_account),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_admit_before_body),
        cmocka_unit_test(test_order_of_checks),
        cmocka_unit_test(test_auth_failure_limit),
        cmocka_unit_test(test_unsafe_text_in_messages),
        cmocka_unit_test(test_failure_always_has_an_error),
        cmocka_unit_test(test_unknown_route),
        cmocka_unit_test(test_double_trailing_slash_is_unknown_route),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_request_ids_differ),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
