/* Unit tests for dcv/dcv: the TXT, CAA and HTTP checks against real servers on loopback.
 *
 * The group set-up starts dnsmasq (tests/unit/tu_dnsmasq.h) with TXT records, CAA records
 * and the A records mapping the HTTP test hosts to 127.0.0.1. It also starts a tiny
 * HTTP server on a thread (127.0.0.1, random port) that answers canned responses by path.
 * The tear-down stops both. Tests needing DNS are skipped, with a message, only when the
 * dnsmasq binary is missing. Every failure message is asserted exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h"
#include "dcv/dcv.h"
#include "tu_dnsmasq.h"

#define CHALLENGE "/.well-known/acme-challenge/"
#define GOOD_BODY "the-key-authorization"

/* ---- the HTTP server ---------------------------------------------------------------- */

struct http_server {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    char last_host[256]; /* Host header of the last request, under lock */
    int requests;        /* requests served, under lock */
};

/* One canned response: status, Location (or NULL), body (or NULL for a generated one). */
static void http_send(int fd, const char *status, const char *location, const char *body,
                      size_t len, bool with_length)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nConnection: close\r\n", status);
    if (location)
        n += snprintf(head + n, sizeof head - (size_t)n, "Location: %s\r\n", location);
    if (with_length)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n)
        return;
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client gave up (the size cap): fine */
        off += (size_t)w;
    }
}

/* Answers one request by its path under /.well-known/acme-challenge/. */
static void http_answer(struct http_server *s, int fd, const char *token)
{
    char loc[256];
    if (strcmp(token, "good") == 0) {
        http_send(fd, "200 OK", NULL, GOOD_BODY "\r\n", strlen(GOOD_BODY) + 2, true);
    } else if (strcmp(token, "padded") == 0) {
        http_send(fd, "200 OK", NULL, " \t" GOOD_BODY "\n\n", strlen(GOOD_BODY) + 4, true);
    } else if (strcmp(token, "wrong") == 0) {
        http_send(fd, "200 OK", NULL, "something-else", 14, true);
    } else if (strcmp(token, "created") == 0) {
        http_send(fd, "201 Created", NULL, GOOD_BODY, strlen(GOOD_BODY), true);
    } else if (strcmp(token, "big") == 0 || strcmp(token, "big-nolength") == 0 ||
               strcmp(token, "exact") == 0) {
        size_t len = strcmp(token, "exact") == 0 ? DCV_HTTP_BODY_MAX : 70000;
        char *body = xmalloc(len);
        memset(body, 'x', len);
        http_send(fd, "200 OK", NULL, body, len, strcmp(token, "big-nolength") != 0);
        xfree(body);
    } else if (strcmp(token, "redirect") == 0) {
        http_send(fd, "302 Found", CHALLENGE "good", NULL, 0, true);
    } else if (strcmp(token, "redirect-absolute") == 0) {
        snprintf(loc, sizeof loc, "http://WWW.example.com:%d" CHALLENGE "good", s->port);
        http_send(fd, "301 Moved Permanently", loc, NULL, 0, true);
    } else if (strcmp(token, "redirect-port80") == 0) {
        http_send(fd, "307 Temporary Redirect", "http://www.example.com" CHALLENGE "good#frag",
                  NULL, 0, true);
    } else if (strcmp(token, "redirect-offhost") == 0) {
        snprintf(loc, sizeof loc, "http://other.example.net:%d" CHALLENGE "good", s->port);
        http_send(fd, "302 Found", loc, NULL, 0, true);
    } else if (strcmp(token, "redirect-otherport") == 0) {
        http_send(fd, "302 Found", "http://www.example.com:1" CHALLENGE "good", NULL, 0, true);
    } else if (strcmp(token, "redirect-https") == 0) {
        http_send(fd, "308 Permanent Redirect", "https://www.example.com" CHALLENGE "good", NULL, 0,
                  true);
    } else if (strncmp(token, "chain", 5) == 0) { /* chainN: N redirects, then good */
        int n = atoi(token + 5);
        if (n <= 1)
            snprintf(loc, sizeof loc, CHALLENGE "good");
        else
            snprintf(loc, sizeof loc, CHALLENGE "chain%d", n - 1);
        http_send(fd, "302 Found", loc, NULL, 0, true);
    } else if (strcmp(token, "slow") == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 3000); /* until the client hangs up */
    } else {
        http_send(fd, "404 Not Found", NULL, "not found", 9, true);
    }
}

/* Reads one request (headers only), records its Host, answers it. */
static void http_serve_one(struct http_server *s, int fd)
{
    char req[8192];
    size_t len = 0;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (len < sizeof req - 1) {
        ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[512] = "";
    if (sscanf(req, "GET %511s HTTP/1.1", path) != 1)
        return;
    const char *host = strstr(req, "\r\nHost: ");
    pthread_mutex_lock(&s->lock);
    s->requests++;
    s->last_host[0] = '\0';
    if (host)
        sscanf(host + 8, "%255[^\r]", s->last_host);
    pthread_mutex_unlock(&s->lock);
    const char *token =
        strncmp(path, CHALLENGE, strlen(CHALLENGE)) == 0 ? path + strlen(CHALLENGE) : "";
    http_answer(s, fd, token);
}

static void *http_thread(void *arg)
{
    struct http_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        http_serve_one(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static void http_start(struct http_server *s)
{
    memset(s, 0, sizeof *s);
    s->fd = tu_bind_loopback(SOCK_STREAM, 0, &s->port);
    assert_true(s->fd >= 0);
    assert_int_equal(listen(s->fd, 16), 0);
    pthread_mutex_init(&s->lock, NULL);
    atomic_store(&s->stop, false);
    assert_int_equal(pthread_create(&s->thread, NULL, http_thread, s), 0);
}

static void http_stop(struct http_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

/* ---- the DNS server ----------------------------------------------------------------- */

/* The records of the test DNS server (tests/unit/tu_dnsmasq.h). */
static void write_records(FILE *f, void *ctx)
{
    (void)ctx;
    /* Authoritative-style answers (NXDOMAIN for unknown names) under these domains; every
     * other name is refused, as no upstream server is configured. */
    fprintf(f, "local=/example.com/\nlocal=/example.net/\nlocal=/example.org/\n");
    /* The TLDs too: a CAA lookup climbs to them. */
    fprintf(f, "local=/com/\nlocal=/net/\nlocal=/org/\n");
    /* A records of the HTTP test hosts. */
    fprintf(f, "host-record=www.example.com,127.0.0.1\n"
               "host-record=other.example.net,127.0.0.1\n");
    /* TXT. */
    fprintf(f, "txt-record=_acme-challenge.found.example.com,\"good-value\"\n"
               "txt-record=_acme-challenge.mismatch.example.com,\"def\"\n"
               "txt-record=_acme-challenge.mismatch.example.com,\"abc\"\n"
               "txt-record=_acme-challenge.example.com,\"apex-value\"\n"
               "txt-record=_acme-challenge.example.com,\"wildcard-value\"\n"
               "txt-record=_acme-challenge.multi.example.com,\"part-one\",\"part-two\"\n"
               "txt-record=_acme-challenge.quoted.example.com,\"say \\\"hi\\\"\"\n"
               "host-record=_acme-challenge.absent.example.com,127.0.0.2\n");
    for (int i = 1; i <= 7; i++)
        fprintf(f, "txt-record=_acme-challenge.many.example.com,\"v%d\"\n", i);
    /* CAA under example.com: one name per case. */
    tu_dns_write_caa(f, "caa-allow.example.com", 0, "issue", "letsencrypt.org");
    tu_dns_write_caa(f, "caa-deny.example.com", 0, "issue", "digicert.com");
    tu_dns_write_caa(f, "caa-two.example.com", 0, "issue", "digicert.com");
    tu_dns_write_caa(f, "caa-two.example.com", 0, "issue", "sectigo.com; account=42");
    tu_dns_write_caa(f, "caa-params.example.com", 0, "issue",
                     " LetsEncrypt.org ; validationmethods=dns-01");
    tu_dns_write_caa(f, "caa-none.example.com", 0, "issue", ";");
    tu_dns_write_caa(f, "caa-own.example.com", 0, "issue", "tlsward.local");
    tu_dns_write_caa(f, "caa-iodef.example.com", 0, "iodef", "mailto:security@example.com");
    tu_dns_write_caa(f, "caa-critical.example.com", 128, "tbs", "unknown");
    tu_dns_write_caa(f, "caa-critical.example.com", 0, "issue", "letsencrypt.org");
    tu_dns_write_caa(f, "caa-noncritical.example.com", 0, "tbs", "unknown");
    tu_dns_write_caa(f, "caa-noncritical.example.com", 0, "issue", "letsencrypt.org");
    tu_dns_write_caa(f, "wild.example.com", 0, "issue", "letsencrypt.org");
    tu_dns_write_caa(f, "wild.example.com", 0, "issuewild", "pki.goog");
    tu_dns_write_caa(f, "wildfallback.example.com", 0, "issue", "letsencrypt.org");
    /* CAA at the apex example.org, inherited by names below it; a closer name wins. */
    tu_dns_write_caa(f, "example.org", 0, "issue", "digicert.com");
    tu_dns_write_caa(f, "closer.example.org", 0, "issue", "letsencrypt.org");
    /* CAA at example.net: above the apex of a zone shop.example.net, and still ruling it. */
    tu_dns_write_caa(f, "example.net", 0, "issue", "digicert.com");
}

/* ---- fixture ------------------------------------------------------------------------ */

static struct {
    struct http_server http;
    struct tu_dns dns;
    struct dcv_resolver r; /* pointed at both */
} fx;

static int setup(void **state)
{
    if (dcv_global_init() != 0)
        return -1;
    http_start(&fx.http);
    dcv_resolver_init(&fx.r);
    fx.r.http_port = fx.http.port;
    fx.r.allow_private = true; /* the test hosts live on 127.0.0.1 */

    int rc = tu_dns_start(&fx.dns, write_records, NULL);
    if (rc == 1)
        return 0; /* dnsmasq missing: the DNS tests skip themselves */
    if (rc != 0)
        return -1;
    char server[32];
    tu_dns_address(&fx.dns, server);
    const char *why = NULL;
    if (dcv_resolver_set_dns(&fx.r, server, &why) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    tu_dns_stop(&fx.dns);
    http_stop(&fx.http);
    dcv_global_cleanup();
    return 0;
}

#define REQUIRE_DNS()                                                                              \
    do {                                                                                           \
        if (!fx.dns.binary) {                                                                      \
            print_message("dnsmasq not installed (package dnsmasq-base, see "                      \
                          "scripts/deps.sh): skipping\n");                                         \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* What a check returned: its status and message (NULL on a pass). */
struct outcome {
    enum dcv_status status;
    char *why;
};

static struct outcome txt(const char *name, const char *expected)
{
    struct outcome o = {0};
    o.status = dcv_check_txt(&fx.r, name, expected, &o.why);
    return o;
}

static struct outcome caa_by(const char *host, const char *ca, const char *method)
{
    struct outcome o = {0};
    o.status = dcv_check_caa(&fx.r, host, ca, method, &o.why);
    return o;
}

/* The zone apex no longer matters (the climb goes to the TLD): kept in the calls to show
 * which zone a host belongs to. */
static struct outcome caa(const char *host, const char *apex, const char *ca)
{
    (void)apex;
    return caa_by(host, ca, "txt");
}

static struct outcome http_with(const struct dcv_resolver *r, const char *host, const char *token)
{
    struct outcome o = {0};
    o.status = dcv_check_http(r, host, token, GOOD_BODY, &o.why);
    return o;
}

static struct outcome http(const char *host, const char *token)
{
    return http_with(&fx.r, host, token);
}

/* Asserts a passing check (and no message). */
static void assert_pass(struct outcome o)
{
    if (o.status != DCV_OK)
        fail_msg("expected the check to pass, got %d: %s", o.status, o.why ? o.why : "(none)");
    assert_null(o.why);
}

/* Asserts a failing check with exactly this status and message; frees the message. */
static void assert_fail(struct outcome o, enum dcv_status want, const char *msg)
{
    if (!o.why)
        fail_msg("expected \"%s\", got status %d without a message", msg, o.status);
    if (strcmp(o.why, msg) != 0)
        fail_msg("message\n  got:  %s\n  want: %s", o.why, msg);
    assert_int_equal(o.status, want);
    xfree(o.why);
}

/* A fresh resolver (*r) pointed at a DNS server that never answers (tu_dns_silent); returns
 * the server's socket, for the caller to close. */
static int silent_dns(struct dcv_resolver *r)
{
    char server[32];
    int fd = tu_dns_silent(server);
    dcv_resolver_init(r);
    const char *reason = NULL;
    assert_int_equal(dcv_resolver_set_dns(r, server, &reason), 0);
    return fd;
}

/* ---- resolver settings -------------------------------------------------------------- */

static void test_resolver_defaults(void **state)
{
    struct dcv_resolver r;
    dcv_resolver_init(&r);
    assert_string_equal(r.dns_server, "");
    assert_int_equal(r.http_port, 80);
    assert_int_equal(r.dns_timeout_ms, 5000);
    assert_int_equal(r.http_timeout_ms, 5000);
    assert_int_equal(r.budget_ms, 10000);
    assert_false(r.allow_private);
    assert_string_equal(r.caa_identity, "tlsward.local");
}

static void test_resolver_set_dns(void **state)
{
    static const struct {
        const char *in, *out;
    } good[] = {
        {"127.0.0.1:5353", "127.0.0.1:5353"},
        {"10.0.0.1", "10.0.0.1:53"},
        {"[::1]:5353", "[::1]:5353"},
        {"[::1]", "[::1]:53"},
        {"::1", "[::1]:53"},
        {"2001:db8::53", "[2001:db8::53]:53"},
        {"192.0.2.1:65535", "192.0.2.1:65535"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct dcv_resolver r;
        dcv_resolver_init(&r);
        const char *why = NULL;
        if (dcv_resolver_set_dns(&r, good[i].in, &why) != 0)
            fail_msg("%s refused: %s", good[i].in, why);
        assert_string_equal(r.dns_server, good[i].out);
    }
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "empty DNS resolver address"},         {"dns.example.com:53", "not an IP address"},
        {"dns.example.com", "not an IP address"},   {":53", "not an IP address"},
        {"1.2.3:53", "not an IP address"},          {"1.2.3.4:0", "port must be 1..65535"},
        {"1.2.3.4:65536", "port must be 1..65535"}, {"1.2.3.4:", "port must be 1..65535"},
        {"1.2.3.4:53x", "port must be 1..65535"},   {"[::1", "expected [IPv6]:PORT"},
        {"[::1]x", "expected [IPv6]:PORT"},         {"[]:53", "not an IP address"},
        {"[1.2.3.4]:53", "not an IP address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dcv_resolver r;
        dcv_resolver_init(&r);
        const char *why = NULL;
        if (dcv_resolver_set_dns(&r, bad[i].in, &why) == 0)
            fail_msg("%s accepted as %s", bad[i].in, r.dns_server);
        assert_string_equal(why, bad[i].why);
        assert_string_equal(r.dns_server, "");
    }
}

/* ---- TXT ---------------------------------------------------------------------------- */

static void test_txt_found(void **state)
{
    REQUIRE_DNS();
    assert_pass(txt("_acme-challenge.found.example.com", "good-value"));
    /* Names are case-insensitive in DNS. */
    assert_pass(txt("_ACME-challenge.Found.example.COM", "good-value"));
}

static void test_txt_mismatch(void **state)
{
    REQUIRE_DNS();
    assert_fail(txt("_acme-challenge.found.example.com", "other"), DCV_FAILED,
                "TXT record not found at _acme-challenge.found.example.com; saw \"good-value\"");
    /* Two records, listed sorted whatever order the server gives. */
    assert_fail(txt("_acme-challenge.mismatch.example.com", "xyz"), DCV_FAILED,
                "TXT record not found at _acme-challenge.mismatch.example.com; saw \"abc\", "
                "\"def\"");
    /* Values are compared exactly: no trimming, no case folding. */
    assert_fail(txt("_acme-challenge.found.example.com", "Good-value"), DCV_FAILED,
                "TXT record not found at _acme-challenge.found.example.com; saw \"good-value\"");
    assert_fail(txt("_acme-challenge.found.example.com", "good-value "), DCV_FAILED,
                "TXT record not found at _acme-challenge.found.example.com; saw \"good-value\"");
}

static void test_txt_multiple_values(void **state)
{
    REQUIRE_DNS();
    /* The apex and its wildcard share one name with two values: each is accepted. */
    assert_pass(txt("_acme-challenge.example.com", "apex-value"));
    assert_pass(txt("_acme-challenge.example.com", "wildcard-value"));
    assert_fail(txt("_acme-challenge.example.com", "stale"), DCV_FAILED,
                "TXT record not found at _acme-challenge.example.com; saw \"apex-value\", "
                "\"wildcard-value\"");
    /* Seven values: five listed, then a count. */
    assert_fail(txt("_acme-challenge.many.example.com", "v8"), DCV_FAILED,
                "TXT record not found at _acme-challenge.many.example.com; saw \"v1\", \"v2\", "
                "\"v3\", \"v4\", \"v5\" and 2 more");
    assert_pass(txt("_acme-challenge.many.example.com", "v7"));
}

static void test_txt_multi_string_record(void **state)
{
    REQUIRE_DNS();
    /* One record of two strings is one value, the strings concatenated. */
    assert_pass(txt("_acme-challenge.multi.example.com", "part-onepart-two"));
    assert_fail(txt("_acme-challenge.multi.example.com", "part-one"), DCV_FAILED,
                "TXT record not found at _acme-challenge.multi.example.com; saw "
                "\"part-onepart-two\"");
}

static void test_txt_value_quoted_in_message(void **state)
{
    REQUIRE_DNS();
    assert_pass(txt("_acme-challenge.quoted.example.com", "say \"hi\""));
    assert_fail(txt("_acme-challenge.quoted.example.com", "x"), DCV_FAILED,
                "TXT record not found at _acme-challenge.quoted.example.com; saw "
                "\"say \\\"hi\\\"\"");
}

static void test_txt_absent(void **state)
{
    REQUIRE_DNS();
    /* The name exists (an A record) but has no TXT. */
    assert_fail(txt("_acme-challenge.absent.example.com", "v"), DCV_FAILED,
                "no TXT records at _acme-challenge.absent.example.com");
}

static void test_txt_nxdomain(void **state)
{
    REQUIRE_DNS();
    assert_fail(txt("_acme-challenge.nowhere.example.com", "v"), DCV_FAILED,
                "no TXT records at _acme-challenge.nowhere.example.com");
}

static void test_txt_dns_error(void **state)
{
    REQUIRE_DNS();
    /* dnsmasq has no upstream for this domain and refuses the query. */
    assert_fail(txt("_acme-challenge.www.unserved.test", "v"), DCV_ERROR,
                "DNS error at _acme-challenge.www.unserved.test: DNS server refused query");
}

static void test_txt_timeout(void **state)
{
    /* A UDP socket that never answers: the lookup ends at the resolver's timeout. */
    struct dcv_resolver r;
    int fd = silent_dns(&r);
    r.dns_timeout_ms = 300;

    struct outcome o = {0};
    int64_t t0 = util_mono_us();
    o.status = dcv_check_txt(&r, "_acme-challenge.www.example.com", "v", &o.why);
    int64_t took = util_mono_us() - t0;
    close(fd);
    assert_fail(o, DCV_ERROR,
                "DNS error at _acme-challenge.www.example.com: Timeout while contacting DNS "
                "servers");
    assert_true(took >= 250 * 1000);
    assert_true(took < 2000 * 1000);
}

/* ---- CAA ---------------------------------------------------------------------------- */

/* "… forbids CA (identity, tlsward.local): RECORDS" as core/caa words it. */
#define FORBIDS(name, ca, ident, records)                                                          \
    "CAA record at " name " forbids " ca " (" ident ", tlsward.local): " records

static void test_caa_allow(void **state)
{
    REQUIRE_DNS();
    assert_pass(caa("caa-allow.example.com", "example.com", "lets_encrypt"));
    /* Issuer domain compared case-insensitively, blanks ignored, validationmethods
     * honoured (dns-01 is the txt method). */
    assert_pass(caa("caa-params.example.com", "example.com", "lets_encrypt"));
    /* Our own issuer domain allows every CA of ours. */
    assert_pass(caa("caa-own.example.com", "example.com", "google"));
    assert_pass(caa("caa-own.example.com", "example.com", "ssl_com"));
    /* Only iodef, no issue property: no restriction. */
    assert_pass(caa("caa-iodef.example.com", "example.com", "google"));
    /* An unknown property without the critical flag is ignored. */
    assert_pass(caa("caa-noncritical.example.com", "example.com", "lets_encrypt"));
}

static void test_caa_identity_setting(void **state)
{
    REQUIRE_DNS();
    /* --caa-identity changes which name means the local CA. */
    struct dcv_resolver saved = fx.r;
    fx.r.caa_identity = "pki.internal.example";
    assert_fail(caa("caa-own.example.com", "example.com", "google"), DCV_FAILED,
                "CAA record at caa-own.example.com forbids google (pki.goog, "
                "pki.internal.example): 0 issue \"tlsward.local\"");
    fx.r.caa_identity = NULL;
    assert_fail(caa("caa-own.example.com", "example.com", "google"), DCV_FAILED,
                "CAA record at caa-own.example.com forbids google (pki.goog): 0 issue "
                "\"tlsward.local\"");
    fx.r = saved;
}

static void test_caa_validationmethods(void **state)
{
    REQUIRE_DNS();
    assert_pass(caa_by("caa-params.example.com", "lets_encrypt", "txt"));
    assert_pass(caa_by("caa-params.example.com", "lets_encrypt", "cname"));
    assert_fail(caa_by("caa-params.example.com", "lets_encrypt", "http"), DCV_FAILED,
                "CAA record at caa-params.example.com forbids lets_encrypt with validation "
                "method http-01: 0 issue \" LetsEncrypt.org ; validationmethods=dns-01\"");
    assert_fail(caa_by("caa-params.example.com", "lets_encrypt", "email"), DCV_FAILED,
                "CAA record at caa-params.example.com forbids lets_encrypt with validation "
                "method ca-email: 0 issue \" LetsEncrypt.org ; validationmethods=dns-01\"");
}

static void test_caa_deny(void **state)
{
    REQUIRE_DNS();
    assert_fail(caa("caa-deny.example.com", "example.com", "lets_encrypt"), DCV_FAILED,
                FORBIDS("caa-deny.example.com", "lets_encrypt", "letsencrypt.org",
                        "0 issue \"digicert.com\""));
    assert_fail(
        caa("caa-allow.example.com", "example.com", "google"), DCV_FAILED,
        FORBIDS("caa-allow.example.com", "google", "pki.goog", "0 issue \"letsencrypt.org\""));
    /* Values listed sorted, whatever order the server gives. */
    assert_fail(caa("caa-two.example.com", "example.com", "ssl_com"), DCV_FAILED,
                FORBIDS("caa-two.example.com", "ssl_com", "ssl.com",
                        "0 issue \"digicert.com\", 0 issue \"sectigo.com; account=42\""));
    /* issue ";" allows nobody. */
    assert_fail(
        caa("caa-none.example.com", "example.com", "lets_encrypt"), DCV_FAILED,
        FORBIDS("caa-none.example.com", "lets_encrypt", "letsencrypt.org", "0 issue \";\""));
    /* An unknown critical property forbids issuance even beside a matching issue. */
    assert_fail(caa("caa-critical.example.com", "example.com", "lets_encrypt"), DCV_FAILED,
                "CAA record at caa-critical.example.com has an unknown critical property: "
                "128 tbs \"unknown\"");
}

static void test_caa_issuewild(void **state)
{
    REQUIRE_DNS();
    /* A wildcard host is ruled by issuewild when present... */
    assert_pass(caa("*.wild.example.com", "example.com", "google"));
    assert_fail(
        caa("*.wild.example.com", "example.com", "lets_encrypt"), DCV_FAILED,
        FORBIDS("wild.example.com", "lets_encrypt", "letsencrypt.org", "0 issuewild \"pki.goog\""));
    /* ...while the plain name is ruled by issue alone. */
    assert_pass(caa("wild.example.com", "example.com", "lets_encrypt"));
    assert_fail(caa("wild.example.com", "example.com", "google"), DCV_FAILED,
                FORBIDS("wild.example.com", "google", "pki.goog", "0 issue \"letsencrypt.org\""));
    /* Without issuewild, a wildcard falls back to issue. */
    assert_pass(caa("*.wildfallback.example.com", "example.com", "lets_encrypt"));
    assert_fail(
        caa("*.wildfallback.example.com", "example.com", "ssl_com"), DCV_FAILED,
        FORBIDS("wildfallback.example.com", "ssl_com", "ssl.com", "0 issue \"letsencrypt.org\""));
}

static void test_caa_none(void **state)
{
    REQUIRE_DNS();
    /* No CAA at the host nor above it up to the TLD: a name with other records, one that
     * does not exist, a wildcard. */
    assert_pass(caa("www.example.com", "example.com", "ssl_com"));
    assert_pass(caa("a.b.nowhere.example.com", "example.com", "ssl_com"));
    assert_pass(caa("*.example.com", "example.com", "google"));
    assert_pass(caa("example.com", "example.com", "lets_encrypt"));
}

static void test_caa_above_the_apex(void **state)
{
    REQUIRE_DNS();
    /* The climb does not stop at a zone apex: example.net's records rule the zone
     * shop.example.net too (a parent's forbidding record is not ignored). */
    assert_fail(
        caa("www.example.net", "example.net", "lets_encrypt"), DCV_FAILED,
        FORBIDS("example.net", "lets_encrypt", "letsencrypt.org", "0 issue \"digicert.com\""));
    assert_fail(
        caa("www.shop.example.net", "shop.example.net", "lets_encrypt"), DCV_FAILED,
        FORBIDS("example.net", "lets_encrypt", "letsencrypt.org", "0 issue \"digicert.com\""));
    assert_fail(caa("*.shop.example.net", "shop.example.net", "google"), DCV_FAILED,
                FORBIDS("example.net", "google", "pki.goog", "0 issue \"digicert.com\""));
}

static void test_caa_inherited(void **state)
{
    REQUIRE_DNS();
    /* Nothing at a.b.example.org nor b.example.org: the apex's records rule. */
    assert_fail(
        caa("a.b.example.org", "example.org", "lets_encrypt"), DCV_FAILED,
        FORBIDS("example.org", "lets_encrypt", "letsencrypt.org", "0 issue \"digicert.com\""));
    assert_fail(caa("*.example.org", "example.org", "google"), DCV_FAILED,
                FORBIDS("example.org", "google", "pki.goog", "0 issue \"digicert.com\""));
    assert_fail(caa("example.org", "example.org", "ssl_com"), DCV_FAILED,
                FORBIDS("example.org", "ssl_com", "ssl.com", "0 issue \"digicert.com\""));
    /* The closest name with records wins over its parent. */
    assert_pass(caa("closer.example.org", "example.org", "lets_encrypt"));
    assert_pass(caa("x.closer.example.org", "example.org", "lets_encrypt"));
}

static void test_caa_errors(void **state)
{
    REQUIRE_DNS();
    assert_fail(caa("www.unserved.test", "unserved.test", "lets_encrypt"), DCV_ERROR,
                "DNS error at www.unserved.test: DNS server refused query");
    assert_fail(caa("www.example.com", "example.com", "digicert"), DCV_ERROR,
                "CAA check: unknown certificate authority \"digicert\"");
    assert_fail(caa_by("www.example.com", "google", "carrier-pigeon"), DCV_ERROR,
                "CAA check: unknown validation method \"carrier-pigeon\"");
    assert_fail(caa("www/x.example.com", "example.com", "google"), DCV_ERROR,
                "CAA check: invalid host name");
}

/* ---- HTTP --------------------------------------------------------------------------- */

static int http_requests(void)
{
    pthread_mutex_lock(&fx.http.lock);
    int n = fx.http.requests;
    pthread_mutex_unlock(&fx.http.lock);
    return n;
}

static void test_http_ok(void **state)
{
    REQUIRE_DNS();
    pthread_mutex_lock(&fx.http.lock);
    fx.http.last_host[0] = '\0';
    pthread_mutex_unlock(&fx.http.lock);
    assert_pass(http("www.example.com", "good"));
    /* Reached our server through the name the test DNS server maps to 127.0.0.1. */
    char host[64];
    snprintf(host, sizeof host, "www.example.com:%d", fx.http.port);
    pthread_mutex_lock(&fx.http.lock);
    assert_string_equal(fx.http.last_host, host);
    pthread_mutex_unlock(&fx.http.lock);
    /* Surrounding whitespace in the body does not matter. */
    assert_pass(http("www.example.com", "padded"));
}

static void test_http_wrong_body(void **state)
{
    REQUIRE_DNS();
    assert_fail(http("www.example.com", "wrong"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/wrong body did "
                "not match");
    /* 64 KiB exactly is within the cap (and simply the wrong body). */
    assert_fail(http("www.example.com", "exact"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/exact body did "
                "not match");
}

static void test_http_status(void **state)
{
    REQUIRE_DNS();
    assert_fail(http("www.example.com", "missing"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/missing got 404");
    /* Only 200 counts, even with the right body. */
    assert_fail(http("www.example.com", "created"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/created got 201");
}

static void test_http_oversized(void **state)
{
    REQUIRE_DNS();
    assert_fail(http("www.example.com", "big"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/big body "
                "exceeds 64 KiB");
    /* Without a Content-Length the transfer is cut while reading. */
    assert_fail(http("www.example.com", "big-nolength"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/big-nolength "
                "body exceeds 64 KiB");
}

static void test_http_redirect_same_host(void **state)
{
    REQUIRE_DNS();
    assert_pass(http("www.example.com", "redirect"));
    assert_pass(http("www.example.com", "redirect-absolute"));
    /* An absolute URL without a port means port 80, i.e. the DCV port. */
    assert_pass(http("www.example.com", "redirect-port80"));
    /* Three redirects are followed, a fourth is not. */
    int before = http_requests();
    assert_pass(http("www.example.com", "chain3"));
    assert_int_equal(http_requests(), before + 4);
    assert_fail(http("www.example.com", "chain4"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/chain4 was "
                "redirected more than 3 times");
}

static void test_http_redirect_off_host(void **state)
{
    REQUIRE_DNS();
    char want[256];
    snprintf(want, sizeof want,
             "HTTP check of http://www.example.com/.well-known/acme-challenge/redirect-offhost "
             "was redirected off-host to http://other.example.net:%d/.well-known/acme-challenge/"
             "good",
             fx.http.port);
    int before = http_requests();
    assert_fail(http("www.example.com", "redirect-offhost"), DCV_FAILED, want);
    /* The other host (served by the same server) was never asked. */
    assert_int_equal(http_requests(), before + 1);

    assert_fail(http("www.example.com", "redirect-otherport"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/"
                "redirect-otherport was redirected off-host to "
                "http://www.example.com:1/.well-known/acme-challenge/good");
    assert_fail(http("www.example.com", "redirect-https"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/redirect-https "
                "was redirected to a non-HTTP URL "
                "https://www.example.com/.well-known/acme-challenge/good");
}

static void test_http_unresolvable(void **state)
{
    REQUIRE_DNS();
    assert_fail(http("nohost.example.com", "good"), DCV_FAILED,
                "HTTP check of http://nohost.example.com/.well-known/acme-challenge/good could "
                "not resolve nohost.example.com: Domain name not found");
}

static void test_http_connect_refused(void **state)
{
    REQUIRE_DNS();
    /* A port nobody listens on (bound, then closed). */
    int port = tu_free_port();
    assert_true(port > 0);
    struct dcv_resolver r = fx.r;
    r.http_port = port;
    assert_fail(http_with(&r, "www.example.com", "good"), DCV_ERROR,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/good could not "
                "connect: Couldn't connect to server");
}

static void test_http_timeout(void **state)
{
    REQUIRE_DNS();
    struct dcv_resolver r = fx.r;
    r.http_timeout_ms = 300;
    int64_t t0 = util_mono_us();
    struct outcome o = http_with(&r, "www.example.com", "slow");
    int64_t took = util_mono_us() - t0;
    assert_fail(o, DCV_ERROR,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/slow timed out "
                "after 300 ms");
    assert_true(took < 2000 * 1000);
}

static void test_http_bad_input(void **state)
{
    assert_fail(http("www.example.com", "../etc"), DCV_ERROR,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/../etc is not a "
                "valid challenge URL");
    assert_fail(http("*.example.com", "good"), DCV_ERROR,
                "HTTP check of http://*.example.com/.well-known/acme-challenge/good is not a "
                "valid challenge URL");
}

/* ---- the address guard ---------------------------------------------------------------- */

static const char *class_of(const char *ip)
{
    struct sockaddr_storage ss = {0};
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return dcv_address_class((const struct sockaddr *)&ss);
}

static void test_address_class(void **state)
{
    static const struct {
        const char *ip, *kind; /* kind NULL: public */
    } cases[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"10.1.2.3", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.32.0.1", NULL},
        {"172.15.255.255", NULL},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "link-local"}, /* cloud metadata */
        {"100.64.0.1", "shared (CGNAT)"},
        {"100.127.255.255", "shared (CGNAT)"},
        {"100.128.0.1", NULL},
        {"0.0.0.0", "unspecified"},
        {"224.0.0.1", "multicast"},
        {"255.255.255.255", "reserved"},
        {"8.8.8.8", NULL},
        {"192.0.2.1", NULL}, /* documentation, but routable as far as we are concerned */
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.0.0.1", "private"},
        {"::ffff:169.254.1.1", "link-local"},
        {"::ffff:8.8.8.8", NULL},
        {"::127.0.0.1", "loopback"}, /* IPv4-compatible */
        {"64:ff9b::192.168.0.1", "private"},
        {"64:ff9b::8.8.8.8", NULL},
        {"fc00::1", "unique-local"},
        {"fd12:3456::1", "unique-local"},
        {"fe80::1", "link-local"},
        {"febf::1", "link-local"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"2001:db8::1", NULL},
        {"2606:4700::1111", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = class_of(cases[i].ip);
        if ((got == NULL) != (cases[i].kind == NULL) || (got && strcmp(got, cases[i].kind) != 0))
            fail_msg("%s: got %s, want %s", cases[i].ip, got ? got : "public",
                     cases[i].kind ? cases[i].kind : "public");
    }
}

static void test_http_private_refused(void **state)
{
    REQUIRE_DNS();
    struct dcv_resolver r = fx.r;
    r.allow_private = false;
    int before = http_requests();
    assert_fail(http_with(&r, "www.example.com", "good"), DCV_FAILED,
                "HTTP check of http://www.example.com/.well-known/acme-challenge/good refused to "
                "connect to 127.0.0.1 (loopback address of www.example.com); "
                "--dcv-allow-private allows non-public addresses");
    assert_int_equal(http_requests(), before); /* never connected */
    /* With the flag it passes (the same check as test_http_ok). */
    r.allow_private = true;
    assert_pass(http_with(&r, "www.example.com", "good"));
    assert_int_equal(http_requests(), before + 1);
}

/* ---- batches ------------------------------------------------------------------------ */

static void test_batch_results(void **state)
{
    REQUIRE_DNS();
    struct dcv_check checks[] = {
        {.kind = DCV_CHECK_TXT,
         .name = "_acme-challenge.found.example.com",
         .expected = "good-value"},
        {.kind = DCV_CHECK_TXT, .name = "_acme-challenge.found.example.com", .expected = "nope"},
        {.kind = DCV_CHECK_HTTP, .host = "www.example.com", .token = "good", .body = GOOD_BODY},
        {.kind = DCV_CHECK_CAA,
         .host = "caa-deny.example.com",
         .ca = "lets_encrypt",
         .validation_method = "txt"},
        {.kind = DCV_CHECK_CAA,
         .host = "caa-allow.example.com",
         .ca = "lets_encrypt",
         .validation_method = "txt"},
    };
    dcv_check_batch(&fx.r, checks, 5);
    assert_int_equal(checks[0].status, DCV_OK);
    assert_null(checks[0].why);
    assert_int_equal(checks[1].status, DCV_FAILED);
    assert_string_equal(checks[1].why,
                        "TXT record not found at _acme-challenge.found.example.com; saw "
                        "\"good-value\"");
    assert_int_equal(checks[2].status, DCV_OK);
    assert_int_equal(checks[3].status, DCV_FAILED);
    assert_string_equal(checks[3].why, FORBIDS("caa-deny.example.com", "lets_encrypt",
                                               "letsencrypt.org", "0 issue \"digicert.com\""));
    assert_int_equal(checks[4].status, DCV_OK);
    for (size_t i = 0; i < 5; i++)
        xfree(checks[i].why);
    dcv_check_batch(&fx.r, NULL, 0); /* nothing to do is fine */
}

static void test_batch_budget(void **state)
{
    /* A DNS server that never answers, many checks each allowed 5 s: the whole batch ends
     * at its 1 s budget, not after checks x timeout. */
    struct dcv_resolver r;
    int fd = silent_dns(&r);
    r.budget_ms = 1000;
    enum { N = 100 };
    static struct dcv_check checks[N];
    static char names[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "h%d.example.com", i);
        if (i % 2)
            checks[i] =
                (struct dcv_check){.kind = DCV_CHECK_TXT, .name = names[i], .expected = "v"};
        else
            checks[i] = (struct dcv_check){.kind = DCV_CHECK_CAA,
                                           .host = names[i],
                                           .ca = "google",
                                           .validation_method = "txt"};
    }
    int64_t t0 = util_mono_us();
    dcv_check_batch(&r, checks, N);
    int64_t took = util_mono_us() - t0;
    close(fd);
    for (int i = 0; i < N; i++) {
        assert_int_equal(checks[i].status, DCV_ERROR);
        assert_non_null(checks[i].why);
        bool timeout = strstr(checks[i].why, "Timeout while contacting DNS servers") ||
                       strstr(checks[i].why, "timed out (the job's 1000 ms budget ran out)");
        if (!timeout)
            fail_msg("check %d: %s", i, checks[i].why);
        xfree(checks[i].why);
    }
    /* Sequentially this would take 100 x 5 s; allow generous slack over the 1 s budget. */
    if (took > 4000 * 1000)
        fail_msg("the batch took %lld ms", (long long)(took / 1000));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolver_defaults),
        cmocka_unit_test(test_resolver_set_dns),
        cmocka_unit_test(test_txt_found),
        cmocka_unit_test(test_txt_mismatch),
        cmocka_unit_test(test_txt_multiple_values),
        cmocka_unit_test(test_txt_multi_string_record),
        cmocka_unit_test(test_txt_value_quoted_in_message),
        cmocka_unit_test(test_txt_absent),
        cmocka_unit_test(test_txt_nxdomain),
        cmocka_unit_test(test_txt_dns_error),
        cmocka_unit_test(test_txt_timeout),
        cmocka_unit_test(test_caa_allow),
        cmocka_unit_test(test_caa_identity_setting),
        cmocka_unit_test(test_caa_validationmethods),
        cmocka_unit_test(test_caa_above_the_apex),
        cmocka_unit_test(test_caa_deny),
        cmocka_unit_test(test_caa_issuewild),
        cmocka_unit_test(test_caa_none),
        cmocka_unit_test(test_caa_inherited),
        cmocka_unit_test(test_caa_errors),
        cmocka_unit_test(test_http_ok),
        cmocka_unit_test(test_http_wrong_body),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_http_oversized),
        cmocka_unit_test(test_http_redirect_same_host),
        cmocka_unit_test(test_http_redirect_off_host),
        cmocka_unit_test(test_http_unresolvable),
        cmocka_unit_test(test_http_connect_refused),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_bad_input),
        cmocka_unit_test(test_address_class),
        cmocka_unit_test(test_http_private_refused),
        cmocka_unit_test(test_batch_results),
        cmocka_unit_test(test_batch_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
