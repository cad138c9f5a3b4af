/* The ACME client's HTTP handling against a scripted ACME server (libmicrohttpd on a free
 * 127.0.0.1 port, plain HTTP) for what Pebble never sends: Retry-After on 503 (HTTP-date)
 * and 429 (seconds) surfaced in the error, Retry-After on a processing order honoured by
 * the wait loop, badNonce retried a bounded number of times, one nonce per request (reused
 * from the previous answer, newNonce asked only when none is left), the JWS each POST
 * carries (url, nonce, kid, content type), an oversized body, a newAccount without
 * Location, a directory without newOrder, and the metrics callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "acme/acme.h"
#include "common/alloc.h"
#include "common/util.h"

/* What the scripted server answers on the order-creation path. */
enum mode { M_OK, M_503_DATE, M_429_SECONDS, M_BADNONCE, M_HUGE, M_NO_LOCATION };

struct server {
    struct MHD_Daemon *d;
    int port;
    char base[64];
    enum mode mode;
    bool directory_without_order;
    bool without_nonce; /* the next reply carries no Replay-Nonce (as Boulder's directory) */
    int nonce_counter;  /* Replay-Nonce values handed out: n1, n2, ... */
    int head_nonce;     /* HEAD /nonce requests */
    int posts;          /* POSTs seen */
    int order_polls;    /* POST-as-GET of /order/1 */
    char last_nonce_sent[32];
    char last_jws_nonce[32];
    char last_jws_url[128];
    char last_jws_kid[128];
    char last_content_type[64];
    int metrics[ACME_EP_COUNT];
};

static struct server S;

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type,
                             const char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    if (!S.without_nonce) {
        snprintf(S.last_nonce_sent, sizeof S.last_nonce_sent, "n%d", ++S.nonce_counter);
        MHD_add_response_header(r, "Replay-Nonce", S.last_nonce_sent);
    }
    S.without_nonce = false;
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result json_reply(struct MHD_Connection *conn, int status, const char *body,
                                  const char *const *headers)
{
    return reply(conn, status, status >= 400 ? "application/problem+json" : "application/json",
                 body, strlen(body), headers);
}

/* Records the protected header of a POSTed flattened JWS. */
static void record_jws(const char *body, size_t len)
{
    json_t *jws = json_loadb(body, len, 0, NULL);
    const char *prot = json_string_value(json_object_get(jws, "protected"));
    unsigned char *raw = NULL;
    size_t rl = 0;
    if (prot && acme_b64url_decode(prot, &raw, &rl) == 0) {
        json_t *h = json_loadb((char *)raw, rl, 0, NULL);
        snprintf(S.last_jws_nonce, sizeof S.last_jws_nonce, "%s",
                 json_string_value(json_object_get(h, "nonce")));
        snprintf(S.last_jws_url, sizeof S.last_jws_url, "%s",
                 json_string_value(json_object_get(h, "url")));
        const char *kid = json_string_value(json_object_get(h, "kid"));
        snprintf(S.last_jws_kid, sizeof S.last_jws_kid, "%s", kid ? kid : "");
        json_decref(h);
        xfree(raw);
    }
    json_decref(jws);
}

static enum MHD_Result on_post(struct MHD_Connection *conn, const char *url, const char *body,
                               size_t len)
{
    S.posts++;
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    snprintf(S.last_content_type, sizeof S.last_content_type, "%s", ct ? ct : "");
    record_jws(body, len);
    char loc[128];
    if (strcmp(url, "/new-acct") == 0) {
        snprintf(loc, sizeof loc, "%s/acct/1", S.base);
        const char *h[] = {"Location", loc, NULL};
        return json_reply(conn, 201, "{\"status\":\"valid\"}", S.mode == M_NO_LOCATION ? NULL : h);
    }
    if (strcmp(url, "/new-order") == 0) {
        switch (S.mode) {
        case M_503_DATE: {
            const char *h[] = {"Retry-After", "Wed, 21 Oct 2037 07:28:00 GMT", NULL};
            return json_reply(conn, 503,
                              "{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
                              "\"detail\":\"maintenance\"}",
                              h);
        }
        case M_429_SECONDS: {
            const char *h[] = {"Retry-After", "30", NULL};
            return json_reply(conn, 429,
                              "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
                              "\"detail\":\"too many new orders\"}",
                              h);
        }
        case M_BADNONCE:
            return json_reply(conn, 400,
                              "{\"type\":\"urn:ietf:params:acme:error:badNonce\","
                              "\"detail\":\"stale\"}",
                              NULL);
        case M_HUGE: {
            size_t n = 2 * 1024 * 1024;
            char *big = xmalloc(n);
            memset(big, ' ', n);
            enum MHD_Result rc = reply(conn, 201, "application/json", big, n, NULL);
            xfree(big);
            return rc;
        }
        default:
            break;
        }
    }
    if (strcmp(url, "/new-order") == 0 || strcmp(url, "/order/1") == 0) {
        if (strcmp(url, "/order/1") == 0)
            S.order_polls++;
        /* processing twice, with Retry-After: 0, then valid. */
        bool processing = strcmp(url, "/order/1") == 0 && S.order_polls <= 2;
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"status\":\"%s\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
                 "\"authorizations\":[\"%s/authz/1\"],\"finalize\":\"%s/finalize/1\"%s%s%s}",
                 strcmp(url, "/new-order") == 0 ? "pending"
                 : processing                   ? "processing"
                                                : "valid",
                 S.base, S.base, processing ? "" : ",\"certificate\":\"", processing ? "" : S.base,
                 processing ? "" : "/cert/1\"");
        snprintf(loc, sizeof loc, "%s/order/1", S.base);
        const char *h[] = {"Location", loc, processing ? "Retry-After" : NULL, "0", NULL};
        return json_reply(conn, strcmp(url, "/new-order") == 0 ? 201 : 200, doc, h);
    }
    return json_reply(conn, 404, "{\"type\":\"urn:ietf:params:acme:error:malformed\"}", NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    if (strcmp(method, "POST") == 0) {
        struct upload *u = *con_cls;
        if (!u) {
            *con_cls = xcalloc(1, sizeof *u);
            return MHD_YES;
        }
        if (*upload_size) {
            u->data = xrealloc(u->data, u->len + *upload_size + 1);
            memcpy(u->data + u->len, upload, *upload_size);
            u->len += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        return on_post(conn, url, u->data ? u->data : "", u->len);
    }
    if (strcmp(url, "/dir") == 0) {
        S.without_nonce = true;
        char body[1024];
        if (!S.directory_without_order) {
            snprintf(body, sizeof body,
                     "{\"newNonce\":\"%s/nonce\",\"newAccount\":\"%s/new-acct\","
                     "\"newOrder\":\"%s/new-order\",\"revokeCert\":\"%s/revoke\","
                     "\"renewalInfo\":\"%s/ari/\",\"meta\":{\"externalAccountRequired\":true}}",
                     S.base, S.base, S.base, S.base, S.base);
        } else {
            snprintf(body, sizeof body,
                     "{\"newNonce\":\"%s/nonce\",\"newAccount\":\"%s/new-acct\","
                     "\"revokeCert\":\"%s/revoke\"}",
                     S.base, S.base, S.base);
        }
        return json_reply(conn, 200, body, NULL);
    }
    if (strcmp(url, "/nonce") == 0) {
        S.head_nonce++;
        return reply(conn, 200, NULL, "", 0, NULL);
    }
    if (strncmp(url, "/ari/", 5) == 0) {
        const char *h[] = {"Retry-After", "21600", NULL};
        return json_reply(conn, 200,
                          "{\"suggestedWindow\":{\"start\":\"2037-01-02T04:00:00Z\","
                          "\"end\":\"2037-01-03T04:00:00Z\"}}",
                          h);
    }
    return json_reply(conn, 404, "{\"type\":\"urn:ietf:params:acme:error:malformed\"}", NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct upload *u = *con_cls;
    if (u) {
        xfree(u->data);
        xfree(u);
        *con_cls = NULL;
    }
}

static int setup(void **state)
{
    memset(&S, 0, sizeof S);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED,
                           completed, NULL, MHD_OPTION_END);
    assert_non_null(S.d);
    S.port = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(S.base, sizeof S.base, "http://127.0.0.1:%d", S.port);
    return 0;
}

static int teardown(void **state)
{
    MHD_stop_daemon(S.d);
    return 0;
}

static void metric(void *ctx, enum acme_endpoint ep, int status, int64_t us)
{
    S.metrics[ep]++;
}

static struct acme_client *client(EVP_PKEY *k)
{
    char dir[96];
    snprintf(dir, sizeof dir, "%s/dir", S.base);
    struct acme_client_options o = {.directory_url = dir, .timeout_ms = 10000, .metrics = metric};
    struct acme_error err;
    struct acme_client *c = acme_client_create(&o, k, &err);
    assert_non_null(c);
    return c;
}

static void test_flow_nonces_and_jws(void **state)
{
    S.mode = M_OK;
    EVP_PKEY *k = acme_key_generate();
    struct acme_client *c = client(k);
    struct acme_error err;
    const struct acme_directory *d;
    assert_int_equal(acme_client_directory(c, &d, &err), 0);
    assert_true(d->external_account_required);
    assert_non_null(d->renewal_info);
    struct acme_account_options ao = {.terms_agreed = true};
    char *acct = NULL;
    assert_int_equal(acme_account_register(c, &ao, &acct, &err), 0);
    assert_int_equal(S.head_nonce, 1); /* the first POST needed a nonce */
    assert_string_equal(S.last_content_type, "application/jose+json");
    assert_string_equal(S.last_jws_kid, ""); /* newAccount is signed with the jwk */
    char want_url[128];
    snprintf(want_url, sizeof want_url, "%s/acct/1", S.base);
    assert_string_equal(acct, want_url);

    /* The next POST spends the nonce of the previous answer, without asking newNonce. */
    char previous[32];
    snprintf(previous, sizeof previous, "%s", S.last_nonce_sent);
    const char *names[] = {"a.test"};
    struct acme_order o, w;
    assert_int_equal(acme_order_new(c, names, 1, &o, &err), 0);
    assert_int_equal(S.head_nonce, 1);
    assert_string_equal(S.last_jws_nonce, previous);
    assert_string_equal(S.last_jws_kid, acct);
    snprintf(want_url, sizeof want_url, "%s/new-order", S.base);
    assert_string_equal(S.last_jws_url, want_url);
    assert_int_equal(o.status, ACME_ST_PENDING);

    /* Processing with Retry-After: 0 twice, then valid: three polls, well within bounds. */
    int64_t t0 = util_mono_us();
    assert_int_equal(acme_order_wait(c, o.url, ACME_ST_VALID, 20LL * 1000000, &w, &err), 0);
    assert_true(util_mono_us() - t0 < 10LL * 1000000);
    assert_int_equal(S.order_polls, 3);
    assert_int_equal(w.status, ACME_ST_VALID);
    assert_non_null(w.certificate_url);

    /* ARI: the body and its Retry-After. */
    struct acme_renewal r;
    int64_t before = util_now_us();
    assert_int_equal(acme_ari_get(c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &r, &err), 0);
    assert_true(r.retry_after_us >= before + 21600LL * 1000000);
    assert_true(r.start_us < r.end_us);
    assert_int_equal(acme_ari_get(c, "../../etc", &r, &err), ACME_E_INVALID);

    assert_int_equal(S.metrics[ACME_EP_DIRECTORY], 1);
    assert_int_equal(S.metrics[ACME_EP_NEW_NONCE], 1);
    assert_int_equal(S.metrics[ACME_EP_NEW_ACCOUNT], 1);
    assert_int_equal(S.metrics[ACME_EP_ORDER], 3);
    assert_int_equal(S.metrics[ACME_EP_RENEWAL_INFO], 1);
    acme_order_free(&w);
    acme_order_free(&o);
    xfree(acct);
    acme_client_destroy(c);
    EVP_PKEY_free(k);
}

static struct acme_client *registered(EVP_PKEY *k)
{
    struct acme_client *c = client(k);
    char url[128];
    snprintf(url, sizeof url, "%s/acct/1", S.base);
    acme_client_set_account(c, url);
    return c;
}

static void test_retry_after_on_errors(void **state)
{
    EVP_PKEY *k = acme_key_generate();
    struct acme_client *c = registered(k);
    struct acme_error err;
    struct acme_order o;
    const char *names[] = {"a.test"};

    S.mode = M_503_DATE;
    assert_int_equal(acme_order_new(c, names, 1, &o, &err), ACME_E_SERVER);
    assert_int_equal(err.http_status, 503);
    assert_int_equal(err.retry_after_us, 2139722880LL * 1000000); /* 2037-10-21T07:28:00Z */
    assert_string_equal(err.endpoint, "newOrder");
    char line[256];
    acme_error_format(&err, line, sizeof line);
    assert_string_equal(line, "serverInternal: maintenance (status 503) [newOrder]");

    S.mode = M_429_SECONDS;
    int64_t before = util_now_us();
    assert_int_equal(acme_order_new(c, names, 1, &o, &err), ACME_E_RATE_LIMITED);
    assert_true(err.retry_after_us >= before + 30LL * 1000000);
    assert_true(err.retry_after_us <= util_now_us() + 30LL * 1000000);
    assert_string_equal(err.problem.type, "rateLimited");

    /* badNonce every time: one try and ACME_BADNONCE_RETRIES retries, then the error. */
    S.mode = M_BADNONCE;
    int posts = S.posts;
    assert_int_equal(acme_order_new(c, names, 1, &o, &err), ACME_E_BAD_NONCE);
    assert_int_equal(S.posts - posts, 1 + ACME_BADNONCE_RETRIES);

    S.mode = M_HUGE;
    assert_int_equal(acme_order_new(c, names, 1, &o, &err), ACME_E_PROTOCOL);
    assert_string_equal(err.message, "response too large");
    acme_client_destroy(c);

    /* newAccount without a Location. */
    S.mode = M_NO_LOCATION;
    c = client(k);
    struct acme_account_options ao = {.terms_agreed = true};
    assert_int_equal(acme_account_register(c, &ao, NULL, &err), ACME_E_PROTOCOL);
    assert_null(acme_client_account(c));
    acme_client_destroy(c);

    /* A directory without newOrder is refused. */
    S.directory_without_order = true;
    c = client(k);
    const struct acme_directory *d;
    assert_int_equal(acme_client_directory(c, &d, &err), ACME_E_PROTOCOL);
    S.directory_without_order = false;
    acme_client_destroy(c);
    EVP_PKEY_free(k);
    S.mode = M_OK;
}

int main(void)
{
    alloc_install_json();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_nonces_and_jws),
        cmocka_unit_test(test_retry_after_on_errors),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
