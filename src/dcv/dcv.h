/* Domain-control validation checks for `--dcv-mode check` (SPEC §4.3): the DNS TXT check
 * (ACME dns-01 style), the HTTP check (http-01 style) and the CAA check (RFC 8659,
 * simplified as Cloudflare does). DNS goes through c-ares, HTTP through libcurl.
 *
 * Every call is synchronous, meant for the worker thread, and bounded by the resolver's
 * timeouts; calls on different threads are independent (each makes its own c-ares channel
 * and curl handle). dcv_global_init() must have run first. */
#ifndef TLSWARD_DCV_DCV_H
#define TLSWARD_DCV_DCV_H

#include <stdbool.h>

#define DCV_SERVER_SIZE 64 /* "[IPv6]:PORT" fits */
#define DCV_DEFAULT_HTTP_PORT 80
#define DCV_DEFAULT_TIMEOUT_MS 5000
#define DCV_HTTP_BODY_MAX (64 * 1024) /* larger challenge responses are refused */
#define DCV_HTTP_MAX_REDIRECTS 3

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
};

/* Process-wide set-up of c-ares and libcurl: call once from main before any thread starts
 * checks, and dcv_global_cleanup once at exit. dcv_global_init returns 0 or -1. */
int dcv_global_init(void);
void dcv_global_cleanup(void);

/* Defaults: system resolver, HTTP port 80, 5 s timeouts. */
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

/* HTTP check: GET http://<host>:<http_port>/.well-known/acme-challenge/<token>, with
 * host resolved (A/AAAA) through r's DNS server. Passes on a 200 whose body, trimmed of
 * surrounding whitespace, equals `expected_body`. Follows at most 3 redirects, and only
 * to http URLs on the same host; bodies over 64 KiB are refused. Messages name the URL
 * as published in the validation record (no port), e.g.
 *   HTTP check of http://www.example.com/.well-known/acme-challenge/TOKEN got 404
 * On anything but DCV_OK, *why receives the message (caller xfree's). */
enum dcv_status dcv_check_http(const struct dcv_resolver *r, const char *host, const char *token,
                               const char *expected_body, char **why);

/* The CAA issuer domain of a pack's certificate_authority ("lets_encrypt" ->
 * "letsencrypt.org", "google" -> "pki.goog", "ssl_com" -> "ssl.com"), or NULL. */
const char *dcv_caa_issuer(const char *ca);

/* CAA check (RFC 8659 §3, simplified): host and apex normalised as hostname_normalize
 * gives them, host at or below apex. Looks for CAA records at host (without its "*."),
 * then its parents, stopping at the first name that has any and at the apex. Passes when
 * no name has CAA records, or when the records found have no issue property (issuewild
 * first for a wildcard host, falling back to issue), or when one of them names the CA's
 * issuer domain or "tlsward.local". A DNS error fails the check (as RFC 8659 asks). On
 * anything but DCV_OK, *why receives the message (caller xfree's), e.g.
 *   CAA record at example.com forbids lets_encrypt (allows: "digicert.com") */
enum dcv_status dcv_check_caa(const struct dcv_resolver *r, const char *host, const char *apex,
                              const char *ca, char **why);

#endif
