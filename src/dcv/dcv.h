/* Domain-control validation checks for `--dcv-mode check`: the DNS TXT check (ACME dns-01
 * style), the HTTP check (http-01 style, never to non-public addresses unless allowed) and
 * the CAA check (RFC 8659 + RFC 8657, decided by core/caa). DNS goes through c-ares, HTTP
 * through libcurl.
 *
 * Every call is synchronous, meant for the worker thread, and bounded by the resolver's
 * timeouts; calls on different threads are independent (each makes its own c-ares channel
 * and curl handle). dcv_check_batch runs the checks of one job concurrently under one
 * budget. dcv_global_init() must have run first. */
#ifndef TLSWARD_DCV_DCV_H
#define TLSWARD_DCV_DCV_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

#define DCV_SERVER_SIZE 64 /* "[IPv6]:PORT" fits */
#define DCV_DEFAULT_HTTP_PORT 80
#define DCV_DEFAULT_TIMEOUT_MS 5000
#define DCV_HTTP_BODY_MAX (64 * 1024) /* larger challenge responses are refused */
#define DCV_HTTP_MAX_REDIRECTS 3
#define DCV_DEFAULT_BUDGET_MS 10000 /* every check of one job together */
#define DCV_DEFAULT_CAA_IDENTITY "tlsward.local"
#define DCV_BATCH_THREADS 128 /* checks in flight at once: a 50-host pack has 100 */

/* Outcome of a check. */
enum dcv_status {
    DCV_OK = 0,      /* the check passed */
    DCV_FAILED = -1, /* the answer was missing or wrong (the record is not in place yet) */
    DCV_ERROR = -2,  /* the check could not run: DNS error, network error, timeout */
};

/* Where and how the checks look. Caller-owned; fill it with dcv_resolver_init and change
 * fields afterwards (tests shorten the timeouts). */
struct dcv_resolver {
    char dns_server[DCV_SERVER_SIZE]; /* "IP:PORT" of --dns-resolver; "" = system resolver */
    int http_port;                    /* --dcv-http-port */
    int dns_timeout_ms;               /* whole DNS lookup, retries included */
    int http_timeout_ms;              /* whole HTTP check: resolving, redirects, body */
    bool allow_private;               /* --dcv-allow-private: HTTP DCV may reach loopback,
                                         private, link-local… addresses */
    const char *caa_identity;         /* --caa-identity: the local CA's issuer domain name */
    int budget_ms;                    /* dcv_check_batch: the whole batch's deadline */
};

/* Process-wide set-up of c-ares and libcurl: call once from main before any thread starts
 * checks, and dcv_global_cleanup once at exit. dcv_global_init returns 0 or -1. */
int dcv_global_init(void);
void dcv_global_cleanup(void);

/* Defaults: system resolver, HTTP port 80, 5 s timeouts, a 10 s batch budget, no private
 * addresses, CAA identity tlsward.local. */
void dcv_resolver_init(struct dcv_resolver *r);

/* Sets the DNS server from "--dns-resolver": "IPv4:PORT", "[IPv6]:PORT", or a bare
 * address (port 53). Host names are refused (the resolver must not need a resolver).
 * Returns 0, or -1 with a static reason in *why and r unchanged. */
int dcv_resolver_set_dns(struct dcv_resolver *r, const char *server, const char **why);

/* TXT check: passes when any TXT record at `name` equals `expected` (strings of one
 * multi-string record are concatenated first). On anything but DCV_OK, *why receives a
 * message for validation_errors (caller xfree's), e.g.
 *   TXT record not found at _acme-challenge.www.example.com; saw "abc", "def"
 *   no TXT records at _acme-challenge.www.example.com
 *   DNS error at _acme-challenge.www.example.com: Timeout while contacting DNS servers */
enum dcv_status dcv_check_txt(const struct dcv_resolver *r, const char *name, const char *expected,
                              char **why);

/* The TXT check of delegated DCV: `name` (_acme-challenge.<host>) must be a CNAME to
 * `target` (not a chain: exactly one CNAME is followed), and a TXT record at target must
 * equal `expected`. Messages as dcv_check_txt's, naming the CNAME when it is missing or
 * points elsewhere. (src/dcv/delegated.c) */
enum dcv_status dcv_check_txt_delegated(const struct dcv_resolver *r, const char *name,
                                        const char *target, const char *expected, char **why);

/* HTTP check: GET http://<host>:<http_port>/.well-known/acme-challenge/<token>, with
 * host resolved (A/AAAA) through r's DNS server. Passes on a 200 whose body, trimmed of
 * surrounding whitespace, equals `expected_body`. Follows at most 3 redirects, and only
 * to http URLs on the same host; bodies over 64 KiB are refused. Unless r->allow_private,
 * it never connects to an address dcv_address_class names (tested on the address of each
 * connection curl opens, redirects included). Messages name the URL as published in the
 * validation record (no port), e.g.
 *   HTTP check of http://www.example.com/.well-known/acme-challenge/TOKEN got 404
 *   HTTP check of http://www.example.com/.well-known/acme-challenge/TOKEN refused to
 *   connect to 127.0.0.1 (loopback address of www.example.com); --dcv-allow-private …
 * On anything but DCV_OK, *why receives the message (caller xfree's). */
enum dcv_status dcv_check_http(const struct dcv_resolver *r, const char *host, const char *token,
                               const char *expected_body, char **why);

/* CAA check (RFC 8659 with RFC 8657's parameters): looks up CAA at host (without its
 * "*.") and every parent up to the top-level domain, all at once, and lets core/caa decide
 * on the closest non-empty set, for the CA's identity (lets_encrypt -> letsencrypt.org …)
 * and r->caa_identity (the local CA issues every pack), the host's wildcard-ness and the
 * pack's validation_method (txt, http, email, cname). A DNS error at or below the closest
 * set fails the check (as RFC 8659 asks). On anything but DCV_OK, *why receives the
 * message (caller xfree's), e.g.
 *   CAA record at example.com forbids lets_encrypt (letsencrypt.org, tlsward.local):
 *   0 issue "digicert.com" */
enum dcv_status dcv_check_caa(const struct dcv_resolver *r, const char *host, const char *ca,
                              const char *validation_method, char **why);

/* Why an address is not one HTTP DCV connects to without --dcv-allow-private: "loopback",
 * "private", "link-local", "unique-local", "unspecified", "shared (CGNAT)", "multicast",
 * "reserved", "site-local" (IPv4-mapped, IPv4-compatible and NAT64 forms judged by their
 * IPv4 address), or NULL for a public one. */
const char *dcv_address_class(const struct sockaddr *sa);

/* One check of a batch. Fill kind and its inputs (borrowed); the batch sets status and,
 * on anything but DCV_OK, why (caller xfree's). */
enum dcv_check_kind { DCV_CHECK_TXT, DCV_CHECK_HTTP, DCV_CHECK_CAA };
struct dcv_check {
    enum dcv_check_kind kind;
    const char *name, *expected;        /* TXT */
    const char *target;                 /* TXT of delegated DCV: the CNAME target, or NULL */
    const char *host, *token, *body;    /* HTTP (host also for CAA) */
    const char *ca, *validation_method; /* CAA */
    enum dcv_status status;
    char *why;
};

/* Runs checks[0..n) concurrently (up to DCV_BATCH_THREADS at a time), all under one
 * deadline r->budget_ms from now: each check's own timeouts are cut to what is left, and
 * a check not started by the deadline fails as timed out (DCV_ERROR). */
void dcv_check_batch(const struct dcv_resolver *r, struct dcv_check *checks, size_t n);

#endif
