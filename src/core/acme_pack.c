/* Pure decisions between a certificate pack and its ACME order (see acme_pack.h). */
#include "core/acme_pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "core/dcv_records.h"

#define PROBLEM_PREFIX "urn:ietf:params:acme:error:"

const char *acme_pack_method_refusal(enum pack_method method)
{
    /* RFC 8555 defines DNS and HTTP challenges only: an e-mail approval would never reach
     * the upstream, so the order is refused up front rather than left pending forever. */
    return method == PACK_METHOD_EMAIL
               ? "validation_method: ACME has no e-mail validation method; use txt or http"
               : NULL;
}

const char *acme_pack_challenge_type(enum pack_method method)
{
    switch (method) {
    case PACK_METHOD_TXT:
    case PACK_METHOD_CNAME: /* delegated DCV: the dns-01 value, at the CNAME's target */
        return "dns-01";
    case PACK_METHOD_HTTP:
        return "http-01";
    default:
        return NULL;
    }
}

void acme_pack_dns01_value(const char *key_authorization, char out[44])
{
    unsigned char digest[32];
    util_sha256(key_authorization, strlen(key_authorization), digest);
    dcv_base64url(digest, sizeof digest, out);
}

/* Records sort by identifier, the wildcard after its base name, then token. */
static int challenge_cmp(const void *a, const void *b)
{
    const struct acme_pack_challenge *x = a, *y = b;
    int c = strcmp(x->identifier, y->identifier);
    if (c == 0)
        c = (int)x->wildcard - (int)y->wildcard;
    return c != 0 ? c : strcmp(x->token, y->token);
}

int acme_pack_records(enum pack_method method, const struct acme_pack_challenge *in, size_t n,
                      struct store_pack *out, char *msg, size_t msg_size)
{
    if (!acme_pack_challenge_type(method)) {
        snprintf(msg, msg_size, "%s", acme_pack_method_refusal(PACK_METHOD_EMAIL));
        return -1;
    }
    if (n > STORE_PACK_RECORDS_MAX) {
        snprintf(msg, msg_size, "the order has %zu authorizations (at most %d)", n,
                 STORE_PACK_RECORDS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct acme_pack_challenge *c = &in[i];
        if (!c->identifier || !*c->identifier || !c->token || !*c->token || !c->key_authorization ||
            !*c->key_authorization) {
            snprintf(msg, msg_size, "challenge %zu of the order lacks its identifier or token", i);
            return -1;
        }
    }
    /* RFC 8555 gives the authorizations of an order no order, and a CA may list them
     * differently on every fetch (Pebble shuffles them): sorted, the same order gives the same
     * records, so a re-fetch is not mistaken for new values to publish. */
    struct acme_pack_challenge *ch = xcalloc(n + 1, sizeof *ch);
    if (n)
        memcpy(ch, in, n * sizeof *ch);
    qsort(ch, n, sizeof *ch, challenge_cmp);
    struct store_pack built = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct acme_pack_challenge *c = &ch[i];
        const char *status = c->status && strcmp(c->status, "valid") == 0 ? "active" : "pending";
        struct store_validation_record *r = store_pack_record_add(&built);
        if (method != PACK_METHOD_HTTP) {
            char value[44], *name = xasprintf("%s%s", DCV_TXT_PREFIX, c->identifier);
            acme_pack_dns01_value(c->key_authorization, value);
            rc = store_field_set(r->txt_name, sizeof r->txt_name, name) < 0 ||
                         store_field_set(r->txt_value, sizeof r->txt_value, value) < 0
                     ? -1
                     : 0;
            xfree(name);
        } else {
            char *url = xasprintf("http://%s%s%s", c->identifier, DCV_HTTP_PATH, c->token);
            rc =
                store_field_set(r->http_url, sizeof r->http_url, url) < 0 ||
                        store_field_set(r->http_body, sizeof r->http_body, c->key_authorization) < 0
                    ? -1
                    : 0;
            xfree(url);
        }
        store_field_set(r->status, sizeof r->status, status);
        if (rc < 0)
            snprintf(msg, msg_size, "the challenge for %.253s does not fit a validation record",
                     c->identifier);
    }
    xfree(ch);
    if (rc == 0) {
        store_pack_records_clear(out);
        out->validation_records = built.validation_records;
        out->validation_record_count = built.validation_record_count;
    } else {
        store_pack_clear(&built);
    }
    return rc;
}

/* What each RFC 8555 §6.7 problem type means to the user, and what the worker does. */
static const struct {
    const char *type; /* after PROBLEM_PREFIX */
    const char *meaning;
    enum acme_pack_reaction reaction;
} problems[] = {
    {"accountDoesNotExist", "the ACME account is unknown upstream", ACME_REACT_REREGISTER},
    {"unauthorized", "the CA refused to issue", ACME_REACT_FAIL},
    {"rateLimited", "the CA's rate limit was reached", ACME_REACT_BACK_OFF},
    {"serverInternal", "the CA had an internal error", ACME_REACT_BACK_OFF},
    {"badNonce", "the CA rejected a nonce", ACME_REACT_BACK_OFF},
    {"dns", "the CA could not resolve a DNS name", ACME_REACT_FAIL},
    {"connection", "the CA could not connect to the host", ACME_REACT_FAIL},
    {"incorrectResponse", "the CA found a wrong challenge response", ACME_REACT_FAIL},
    {"caa", "a CAA record forbids this CA", ACME_REACT_FAIL},
    {"rejectedIdentifier", "the CA will not issue for a name", ACME_REACT_FAIL},
    {"unsupportedIdentifier", "the CA does not support a name", ACME_REACT_FAIL},
    {"externalAccountRequired", "the CA requires external account binding (--acme-eab)",
     ACME_REACT_FAIL},
    {"orderNotReady", "the order was not ready to finalize", ACME_REACT_NEW_ORDER},
    {"badCSR", "the CA rejected the certificate request", ACME_REACT_FAIL},
    {"malformed", "the CA found a request malformed", ACME_REACT_FAIL},
    {"tls", "the CA's TLS connection to the host failed", ACME_REACT_FAIL},
    {"badRevocationReason", "the CA refused the revocation reason", ACME_REACT_FAIL},
    {"alreadyRevoked", "the certificate was already revoked", ACME_REACT_FAIL},
    {"userActionRequired", "the CA requires an action of the account holder", ACME_REACT_FAIL},
};

/* Accepts the short form ("caa", as acme/ keeps it) and the full URN. */
static int problem_index(const char *type)
{
    if (!type)
        return -1;
    if (strncmp(type, PROBLEM_PREFIX, sizeof PROBLEM_PREFIX - 1) == 0)
        type += sizeof PROBLEM_PREFIX - 1;
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++)
        if (strcmp(problems[i].type, type) == 0)
            return (int)i;
    return -1;
}

/* Appends to out (size bytes, NUL-terminated); silently truncates. */
static void append(char *out, size_t size, size_t *len, const char *s)
{
    if (*len + 1 >= size)
        return;
    int n = snprintf(out + *len, size - *len, "%s", s);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

/* Control characters from the upstream become spaces: the message is shown as one line. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            *s = ' ';
}

void acme_pack_problem_message(const struct acme_problem *problem, const char *fallback, char *out,
                               size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    if (!problem || (!problem->type[0] && !problem->detail[0])) {
        append(out, size, &len, fallback ? fallback : "the ACME server gave no reason");
        sanitize(out);
        return;
    }
    int i = problem_index(problem->type);
    append(out, size, &len, "ACME: ");
    append(out, size, &len,
           i >= 0             ? problems[i].meaning
           : problem->type[0] ? problem->type
                              : "problem");
    if (problem->detail[0]) {
        append(out, size, &len, ": ");
        append(out, size, &len, problem->detail);
    }
    for (size_t k = 0; k < problem->n_sub && k < ACME_SUBPROBLEMS_MAX; k++) {
        const struct acme_subproblem *sub = &problem->sub[k];
        append(out, size, &len, "; ");
        append(out, size, &len, sub->identifier[0] ? sub->identifier : "?");
        append(out, size, &len, ": ");
        append(out, size, &len, sub->detail[0] ? sub->detail : sub->type[0] ? sub->type : "failed");
    }
    sanitize(out);
}

enum acme_pack_reaction acme_pack_reaction(int http_status, const char *problem_type)
{
    int i = problem_index(problem_type);
    if (i >= 0 && problems[i].reaction != ACME_REACT_FAIL)
        return problems[i].reaction;
    /* A stored URL the upstream no longer knows (a restarted test CA, an expired order). */
    if (http_status == 404)
        return ACME_REACT_NEW_ORDER;
    if (http_status == 429 || http_status >= 500 || http_status == 0)
        return ACME_REACT_BACK_OFF;
    return ACME_REACT_FAIL;
}

enum acme_pack_resume acme_pack_resume(const char *order_url, const char *stored_status,
                                       const char *upstream_status, int64_t expires_us,
                                       int64_t now_us)
{
    if (!order_url || !*order_url)
        return ACME_RESUME_NEW_ORDER;
    const char *status = upstream_status ? upstream_status : stored_status;
    if (!status || !*status)
        return ACME_RESUME_POLL;
    if (strcmp(status, "valid") == 0)
        return ACME_RESUME_DOWNLOAD; /* a valid order's certificate outlives its expiry */
    if (expires_us && now_us >= expires_us)
        return ACME_RESUME_NEW_ORDER;
    if (strcmp(status, "invalid") == 0)
        return ACME_RESUME_FAILED;
    if (strcmp(status, "ready") == 0)
        return ACME_RESUME_FINALIZE;
    if (strcmp(status, "pending") == 0 || strcmp(status, "processing") == 0)
        return ACME_RESUME_POLL;
    return ACME_RESUME_NEW_ORDER; /* a status RFC 8555 does not define */
}

int64_t acme_pack_ari_renew_at(int64_t start_us, int64_t end_us, const char *pack_id)
{
    if (end_us <= start_us)
        return start_us;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = pack_id ? pack_id : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    uint64_t span = (uint64_t)(end_us - start_us);
    return start_us + (int64_t)(h % span);
}
