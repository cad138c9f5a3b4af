/* ACME client (RFC 8555) for publicly trusted certificates, with external account binding
 * (RFC 8555 §7.3.4) and renewal information (ARI, RFC 9773). Built on libcurl (HTTP),
 * jansson (JSON) and OpenSSL 3 (keys, JWS signatures, certificates); nothing here parses
 * HTTP, JSON or ASN.1 by hand.
 *
 * Model: one struct acme_client per (ACME directory, account key), used by one thread at a
 * time (the worker). Every network call BLOCKS until the server answered or the client's
 * timeout passed, so call them outside store transactions. The client keeps the directory
 * (fetched on first use), one spare Replay-Nonce and the account URL; a `badNonce` answer
 * is retried inside with the fresh nonce the error carried (ACME_BADNONCE_RETRIES times).
 *
 * Conventions:
 *   - functions return 0 on success or a negative enum acme_code; when they take a
 *     struct acme_error *err (never NULL) it is filled on failure and says what happened;
 *   - structs filled by the client (acme_order, acme_authz, acme_chains, acme_renewal) are
 *     caller-owned storage whose members the client allocates: release them with the
 *     matching _free (which zeroes the struct; calling it on a zeroed struct is fine);
 *   - strings returned through `char **` are heap strings the caller xfree's;
 *   - EVP_PKEY / X509 passed in are borrowed (the client takes its own reference to the
 *     account key);
 *   - nothing this module logs or puts in an error message contains a private key, an EAB
 *     MAC key, or a key authorization (the caller must not log those either). */
#ifndef TLSWARD_ACME_ACME_H
#define TLSWARD_ACME_ACME_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors ---- */

/* What went wrong, grouped by what the caller should do about it. */
#define ACME_CODE_MAP(X)                                                                           \
    X(ACME_OK, 0, "ok")                                                                            \
    /* curl could not talk to the server (DNS, connect, TLS, timeout): back off, retry */          \
    X(ACME_E_TRANSPORT, -1, "transport error")                                                     \
    /* a stored URL answered 404, or the problem was accountDoesNotExist: the server has           \
     * forgotten the account / order; register again or open a new order */                        \
    X(ACME_E_GONE, -2, "not found upstream")                                                       \
    /* rateLimited problem or HTTP 429: back off until err->retry_after_us (or longer) */          \
    X(ACME_E_RATE_LIMITED, -3, "rate limited")                                                     \
    /* HTTP 5xx (incl. serverInternal): back off */                                                \
    X(ACME_E_SERVER, -4, "server error")                                                           \
    /* badNonce still returned after ACME_BADNONCE_RETRIES fresh nonces */                         \
    X(ACME_E_BAD_NONCE, -5, "bad nonce")                                                           \
    /* any other problem document (unauthorized, rejectedIdentifier, caa, malformed,               \
     * externalAccountRequired, ...): final for this request; see err->problem */                  \
    X(ACME_E_PROBLEM, -6, "problem")                                                               \
    /* the server's answer was not what RFC 8555 says (bad JSON, missing fields, too               \
     * large, no Location, an unknown status) */                                                   \
    X(ACME_E_PROTOCOL, -7, "protocol error")                                                       \
    /* the caller's input was refused before anything was sent (bad name, no account URL,          \
     * malformed EAB key, ...) */                                                                  \
    X(ACME_E_INVALID, -8, "invalid argument")                                                      \
    /* acme_order_wait / acme_authz_wait ran out of time before the wanted status */               \
    X(ACME_E_TIMEOUT, -9, "timed out waiting")

enum acme_code {
#define ACME_X(name, value, text) name = value,
    ACME_CODE_MAP(ACME_X)
#undef ACME_X
};

/* Static text for a code ("rate limited"); "unknown" for anything else. */
const char *acme_code_name(int code);

#define ACME_BADNONCE_RETRIES 5
#define ACME_SUBPROBLEMS_MAX 8

/* One subproblem of a compound problem document (RFC 8555 §6.7.1). Strings are
 * NUL-terminated, cut to fit, and escaped (text_escape): safe for a log line. */
struct acme_subproblem {
    char type[96]; /* short form: "urn:ietf:params:acme:error:" cut off ("caa") */
    char detail[256];
    char identifier[256]; /* identifier.value ("*.example.com"), "" when absent */
};

/* An RFC 7807 problem document as the server sent it (same string rules as above). */
struct acme_problem {
    char type[96]; /* short form as above; a non-ACME type URI is kept whole */
    char detail[512];
    int status;   /* the document's "status" member, else the HTTP status, else 0 */
    size_t n_sub; /* subproblems kept (at most ACME_SUBPROBLEMS_MAX) */
    struct acme_subproblem sub[ACME_SUBPROBLEMS_MAX];
};

/* A failure as reported to the caller. Plain value, no allocation. */
struct acme_error {
    int code;         /* enum acme_code */
    int http_status;  /* 0 when no HTTP response was received */
    bool has_problem; /* problem below is filled */
    struct acme_problem problem;
    int64_t retry_after_us; /* absolute wall-clock µs from Retry-After, 0 if none */
    const char *endpoint;   /* static endpoint name ("newOrder"), NULL if none */
    char message[256];      /* transport/protocol reason when there is no problem */
};

/* One line for a user or a log: "rateLimited: too many orders (status 429); dns
 * www.example.com: caa: CAA forbids ...". Never contains secrets. Writes at most size
 * bytes (NUL-terminated, cut on a character boundary); returns the length written. */
size_t acme_error_format(const struct acme_error *err, char *out, size_t size);

/* Fills err from a problem document body (application/problem+json) and the HTTP status,
 * mapping it to a code: accountDoesNotExist or a 404 → ACME_E_GONE, rateLimited or 429 →
 * ACME_E_RATE_LIMITED, 5xx → ACME_E_SERVER, badNonce → ACME_E_BAD_NONCE, anything else
 * ACME_E_PROBLEM. A body that is not a problem document still gives a code from the status.
 * Returns err->code. (Pure; used by the client and by the unit tests.) */
int acme_problem_parse(const char *body, size_t len, int http_status, struct acme_error *err);

/* Parses a Retry-After value, delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2026
 * 07:28:00 GMT"), into an absolute wall-clock time in µs (now_us + delta for seconds).
 * Delta-seconds are capped at 1 day. Returns 0, or -1 for anything else (garbage, negative,
 * empty). */
int acme_retry_after_parse(const char *value, int64_t now_us, int64_t *at_us);

/* --------------------------------------------------------------- metrics ---- */

/* Every kind of request the client makes, for metrics (route-like names, no URLs). */
#define ACME_ENDPOINT_MAP(X)                                                                       \
    X(ACME_EP_DIRECTORY, "directory")                                                              \
    X(ACME_EP_NEW_NONCE, "newNonce")                                                               \
    X(ACME_EP_NEW_ACCOUNT, "newAccount")                                                           \
    X(ACME_EP_NEW_ORDER, "newOrder")                                                               \
    X(ACME_EP_ORDER, "order")                                                                      \
    X(ACME_EP_AUTHZ, "authorization")                                                              \
    X(ACME_EP_CHALLENGE, "challenge")                                                              \
    X(ACME_EP_FINALIZE, "finalize")                                                                \
    X(ACME_EP_CERTIFICATE, "certificate")                                                          \
    X(ACME_EP_REVOKE, "revokeCert")                                                                \
    X(ACME_EP_RENEWAL_INFO, "renewalInfo")

enum acme_endpoint {
#define ACME_X(name, text) name,
    ACME_ENDPOINT_MAP(ACME_X)
#undef ACME_X
        ACME_EP_COUNT
};

const char *acme_endpoint_name(enum acme_endpoint ep);

/* Called once per HTTP exchange (every retry counts), on the calling thread, after the
 * response: http_status is 0 for a transport error. */
typedef void (*acme_metrics_fn)(void *ctx, enum acme_endpoint ep, int http_status,
                                int64_t duration_us);

/* ---------------------------------------------------------- account keys ---- */

/* A fresh ECDSA P-256 account key (EVP_PKEY_free). Aborts if OpenSSL cannot make one. */
EVP_PKEY *acme_key_generate(void);
/* Unencrypted PKCS#8 PEM of the key in *pem and *len (xfree; the caller seals it before storing
 * and should wipe it). 0 or -1. */
int acme_key_to_pem(EVP_PKEY *key, char **pem, size_t *len);
/* The key back from PEM, or NULL when it is not a P-256 private key. */
EVP_PKEY *acme_key_from_pem(const char *pem, size_t len);

/* ---------------------------------------------------------------- client ---- */

struct acme_client_options {
    const char *directory_url; /* https://… (copied) */
    const char *ca_file;       /* PEM bundle to trust instead of the system store, or NULL */
    long timeout_ms;           /* per HTTP exchange; 0 → 30000 */
    const char *user_agent;    /* NULL → "tlsward/<version>" */
    acme_metrics_fn metrics;   /* optional */
    void *metrics_ctx;
};

struct acme_client;

/* A client for one directory and one ES256 account key (borrowed: the client up-refs it).
 * No I/O yet. NULL when the options are unusable (no directory URL, a key that is not
 * P-256, a missing CA file), with the reason in err. acme_client_destroy(NULL) is a no-op. */
struct acme_client *acme_client_create(const struct acme_client_options *opts, EVP_PKEY *key,
                                       struct acme_error *err);
void acme_client_destroy(struct acme_client *c);

/* What the directory offers (borrowed from the client, valid until destroy). */
struct acme_directory {
    char *new_nonce, *new_account, *new_order, *revoke_cert, *key_change;
    char *renewal_info;             /* NULL when the server has no ARI */
    char *terms_of_service;         /* meta.termsOfService, or NULL */
    bool external_account_required; /* meta.externalAccountRequired */
};

/* Fetches the directory if it has not been fetched yet (every call below does this
 * itself). On success *dir points to the client's copy. */
int acme_client_directory(struct acme_client *c, const struct acme_directory **dir,
                          struct acme_error *err);

/* --------------------------------------------------------------- account ---- */

struct acme_account_options {
    const char *contact;  /* "mailto:ops@example.com", or NULL for none */
    bool terms_agreed;    /* termsOfServiceAgreed */
    const char *eab_kid;  /* EAB key identifier, or NULL for no binding */
    const char *eab_hmac; /* its MAC key, base64url as the CA issued it */
    bool only_existing;   /* onlyReturnExisting: look up, never create */
};

/* newAccount (RFC 8555 §7.3). Idempotent per key: an existing account answers 200 with its
 * URL. On success the account URL is kept in the client and copied to *url_out when
 * url_out is not NULL (xfree; the caller stores it). With only_existing and no account
 * for this key: ACME_E_PROBLEM with problem.type "accountDoesNotExist" mapped to
 * ACME_E_GONE. */
int acme_account_register(struct acme_client *c, const struct acme_account_options *o,
                          char **url_out, struct acme_error *err);

/* Uses a stored account URL (copied) for kid-signed requests; NULL forgets it. A request
 * that answers ACME_E_GONE with accountDoesNotExist means the caller registers again. */
void acme_client_set_account(struct acme_client *c, const char *account_url);
/* The account URL in use (borrowed), or NULL. */
const char *acme_client_account(const struct acme_client *c);

/* ---------------------------------------------------------------- orders ---- */

#define ACME_STATUS_MAP(X)                                                                         \
    X(ACME_ST_UNKNOWN, "unknown")                                                                  \
    X(ACME_ST_PENDING, "pending")                                                                  \
    X(ACME_ST_READY, "ready")                                                                      \
    X(ACME_ST_PROCESSING, "processing")                                                            \
    X(ACME_ST_VALID, "valid")                                                                      \
    X(ACME_ST_INVALID, "invalid")                                                                  \
    X(ACME_ST_DEACTIVATED, "deactivated")                                                          \
    X(ACME_ST_EXPIRED, "expired")                                                                  \
    X(ACME_ST_REVOKED, "revoked")

enum acme_status {
#define ACME_X(name, text) name,
    ACME_STATUS_MAP(ACME_X)
#undef ACME_X
};

const char *acme_status_name(enum acme_status st);
/* ACME_ST_UNKNOWN for anything not in the table. */
enum acme_status acme_status_parse(const char *s);

struct acme_order {
    char *url; /* the order's URL (Location of newOrder) */
    enum acme_status status;
    int64_t expires_us; /* 0 when absent */
    size_t n_names;
    char **names; /* dns identifiers, wildcards as "*.example.com" */
    size_t n_authz;
    char **authz_urls;
    char *finalize_url;
    char *certificate_url; /* once valid, else NULL */
    bool has_error;
    struct acme_problem error; /* the order's "error" member */
    int64_t retry_after_us;    /* Retry-After on this response (absolute µs), 0 if none */
};
void acme_order_free(struct acme_order *o);

/* newOrder for n dns names (lowercase host names, wildcards as "*." names; at most 100).
 * On success *out is the new order. */
int acme_order_new(struct acme_client *c, const char *const *names, size_t n,
                   struct acme_order *out, struct acme_error *err);
/* POST-as-GET of a stored order URL. A 404 is ACME_E_GONE (open a new order). */
int acme_order_get(struct acme_client *c, const char *url, struct acme_order *out,
                   struct acme_error *err);
/* Finalizes a ready order with a DER CSR; *out is the order as the server answered
 * (processing or valid). */
int acme_order_finalize(struct acme_client *c, const struct acme_order *order,
                        const unsigned char *csr_der, size_t csr_len, struct acme_order *out,
                        struct acme_error *err);
/* Polls an order until its status is `want` (or valid when want is ready and the server
 * moved on), honouring Retry-After (else 1 s, at least 50 ms, at most the time left), for
 * at most max_wait_us. An order that becomes invalid ends with ACME_E_PROBLEM and its error
 * in err->problem. ACME_E_TIMEOUT when time ran out (*out holds the last state). */
int acme_order_wait(struct acme_client *c, const char *url, enum acme_status want,
                    int64_t max_wait_us, struct acme_order *out, struct acme_error *err);

/* -------------------------------------------------------- authorizations ---- */

enum acme_challenge_type {
    ACME_CHALL_OTHER,
    ACME_CHALL_HTTP01,
    ACME_CHALL_DNS01,
    ACME_CHALL_TLSALPN01
};

struct acme_challenge {
    enum acme_challenge_type type;
    char *type_name; /* as sent ("dns-01") */
    char *url;
    char *token; /* NULL for types without one */
    enum acme_status status;
    bool has_error;
    struct acme_problem error;
};

struct acme_authz {
    char *url;
    char *identifier; /* the dns value without "*." */
    bool wildcard;
    enum acme_status status;
    int64_t expires_us;
    size_t n_challenges;
    struct acme_challenge *challenges;
    int64_t retry_after_us; /* as in acme_order */
};
void acme_authz_free(struct acme_authz *a);

/* POST-as-GET of an authorization URL. */
int acme_authz_get(struct acme_client *c, const char *url, struct acme_authz *out,
                   struct acme_error *err);
/* The challenge of that type in a, or NULL (borrowed from a). */
const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a,
                                                  enum acme_challenge_type type);
/* Tells the server a challenge is ready (POST "{}"). When out is not NULL it gets the
 * challenge as answered (caller acme_challenge_free). */
int acme_challenge_answer(struct acme_client *c, const char *url, struct acme_challenge *out,
                          struct acme_error *err);
void acme_challenge_free(struct acme_challenge *ch);
/* Polls an authorization until it is valid (0) or invalid (ACME_E_PROBLEM with the failed
 * challenge's error in err->problem), like acme_order_wait. */
int acme_authz_wait(struct acme_client *c, const char *url, int64_t max_wait_us,
                    struct acme_authz *out, struct acme_error *err);

/* The key authorization "token.thumbprint" (RFC 8555 §8.1) for this client's key, heap
 * (xfree). SECRET-ish: served to http-01, never logged. NULL for a token that is not
 * base64url or longer than 256 characters. */
char *acme_key_authorization(const struct acme_client *c, const char *token);
/* The dns-01 TXT value: base64url(SHA-256(key authorization)), 43 characters + NUL. 0 or
 * -1 (bad token). */
int acme_dns01_value(const struct acme_client *c, const char *token, char out[44]);

/* ----------------------------------------------------------- certificates ---- */

/* Downloaded chains: [0] is the default (the certificate URL), then each Link
 * rel="alternate" chain in the order the server listed them. PEM as sent: leaf first. */
struct acme_chains {
    size_t n;
    char **pem;
};
void acme_chains_free(struct acme_chains *ch);

/* Downloads the default chain and, when with_alternates, every alternate (at most 8). */
int acme_cert_download(struct acme_client *c, const char *cert_url, bool with_alternates,
                       struct acme_chains *out, struct acme_error *err);
/* Downloads what is needed and returns in *pem (xfree) the chain whose topmost issuer CN
 * is `preferred` (exact, case-sensitive), else the default chain. preferred NULL or "":
 * the default chain, without fetching alternates. */
int acme_cert_fetch(struct acme_client *c, const char *cert_url, const char *preferred, char **pem,
                    struct acme_error *err);

/* revokeCert (RFC 8555 §7.6) for a DER certificate, signed with the account (kid; needs an
 * account URL). reason is an RFC 5280 CRLReason code (0..10 except 7; 5 is
 * cessationOfOperation). An already revoked certificate answers alreadyRevoked
 * (ACME_E_PROBLEM with that type; callers may treat it as done). */
int acme_revoke(struct acme_client *c, const unsigned char *cert_der, size_t len, int reason,
                struct acme_error *err);

/* ------------------------------------------------------------------- ARI ---- */

struct acme_renewal {
    int64_t start_us, end_us; /* suggestedWindow */
    int64_t retry_after_us;   /* when to ask again (absolute), 0 if not sent */
    char *explanation_url;    /* or NULL */
};
void acme_renewal_free(struct acme_renewal *r);

/* The ARI CertID of a leaf: base64url(AKI keyIdentifier) "." base64url(serial DER content
 * octets, a leading 0x00 kept). Heap (xfree), or NULL when the leaf has no AKI keyid. */
char *acme_ari_cert_id(X509 *leaf);
/* GET renewalInfo/<certid>. ACME_E_INVALID when the directory has no renewalInfo. */
int acme_ari_get(struct acme_client *c, const char *cert_id, struct acme_renewal *out,
                 struct acme_error *err);
/* Parses a renewalInfo body (pure). start must be before end. 0 or -1. */
int acme_ari_parse(const char *body, size_t len, struct acme_renewal *out);
/* A uniformly random time in [start, end); when the window is already over, now. */
int64_t acme_ari_pick(const struct acme_renewal *r, int64_t now_us);

/* ------------------------------------------------- building blocks (pure) ---- */
/* Exposed for the unit tests and for the callers that need one piece. */

/* Base64url without padding (RFC 4648 §5). Encode: heap string (xfree). Decode: 0 with
 * *out (xfree) and *len, or -1 on any character outside the alphabet, padding or a bad
 * length. */
char *acme_b64url(const void *data, size_t len);
int acme_b64url_decode(const char *s, unsigned char **out, size_t *len);

/* The public JWK of a P-256 key as jansson object {"crv","kty","x","y"} (json_decref), and
 * its RFC 7638 thumbprint (base64url SHA-256 of the canonical JSON, 43 chars + NUL) —
 * RSA keys are accepted by the thumbprint too (for the RFC 7638 §3.1 test vector). */
json_t *acme_jwk(EVP_PKEY *key);
int acme_jwk_thumbprint(EVP_PKEY *key, char out[44]);

/* A flattened JWS (RFC 7515 §7.2.2) {"protected","payload","signature"} as compact JSON
 * text (xfree): alg ES256, nonce, url, and kid when kid is not NULL, else the jwk.
 * payload NULL means POST-as-GET (empty payload). NULL on failure. */
char *acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                    const char *payload);
/* The externalAccountBinding object (RFC 8555 §7.3.4): a JWS with alg HS256, kid = eab_kid,
 * url, payload = the account key's JWK, MAC'd with mac_key (json_decref). NULL on failure. */
json_t *acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid, const unsigned char *mac_key,
                     size_t mac_len, const char *url);

/* The rel="alternate" URLs of one or more Link header values (each a comma-separated
 * list), in order; at most max kept. Returns how many were written to urls (each xfree). */
size_t acme_link_alternates(const char *const *values, size_t n_values, char **urls, size_t max);
/* The CN of the issuer of the last certificate in a PEM chain, into out (size bytes).
 * 0 or -1 (no certificate, no CN). */
int acme_chain_top_issuer(const char *pem, size_t len, char *out, size_t size);
/* The index in chains of the first one whose top issuer CN equals preferred, else 0. */
size_t acme_chain_pick(const struct acme_chains *chains, const char *preferred);

#endif
