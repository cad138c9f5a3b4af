/* Validation record generation for certificate packs: base64url values from the CSPRNG,
 * TXT/HTTP/e-mail records per host, and the delegation CNAMEs. No I/O. */
#include "core/dcv_records.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char b64url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *const email_locals[DCV_EMAIL_COUNT] = {
    "admin", "administrator", "hostmaster", "postmaster", "webmaster",
};

_Static_assert((4 * DCV_RANDOM_BYTES + 2) / 3 == DCV_TOKEN_LEN, "43 characters for 32 bytes");

size_t dcv_base64url(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    assert(o == (4 * n + 2) / 3);
    return o;
}

void dcv_random_token(char out[DCV_TOKEN_SIZE])
{
    unsigned char raw[DCV_RANDOM_BYTES];
    util_random_bytes(raw, sizeof raw);
    size_t len = dcv_base64url(raw, sizeof raw, out);
    assert(len == DCV_TOKEN_LEN);
    (void)len;
}

/* host without a leading "*.": the name a wildcard is validated at. */
static const char *base_name(const char *host)
{
    return strncmp(host, "*.", 2) == 0 ? host + 2 : host;
}

void dcv_txt_name(const char *host, char out[DCV_NAME_SIZE])
{
    assert(strlen(host) <= HOSTNAME_MAX);
    snprintf(out, DCV_NAME_SIZE, "%s%s", DCV_TXT_PREFIX, base_name(host));
}

void dcv_emails(const char *apex, char out[DCV_EMAIL_COUNT][DCV_EMAIL_SIZE])
{
    assert(strlen(apex) <= HOSTNAME_MAX);
    for (size_t i = 0; i < DCV_EMAIL_COUNT; i++)
        snprintf(out[i], DCV_EMAIL_SIZE, "%s@%s", email_locals[i], apex);
}

int dcv_record_init(struct dcv_record *r, enum pack_method method, const char *host,
                    const char *apex)
{
    assert(r && host && apex);
    assert(strlen(host) <= HOSTNAME_MAX);
    memset(r, 0, sizeof *r);
    r->method = method;
    snprintf(r->host, sizeof r->host, "%s", host);

    switch (method) {
    case PACK_METHOD_TXT:
    case PACK_METHOD_CNAME: /* the TXT values, published at the delegated CNAME target */
        dcv_txt_name(host, r->txt_name);
        dcv_random_token(r->txt_value);
        return 0;
    case PACK_METHOD_HTTP: {
        if (base_name(host) != host)
            return -1; /* http-01 cannot prove control of a wildcard */
        char token[DCV_TOKEN_SIZE], thumbprint[DCV_TOKEN_SIZE];
        dcv_random_token(token);
        dcv_random_token(thumbprint);
        snprintf(r->http_url, sizeof r->http_url, "http://%s%s%s", host, DCV_HTTP_PATH, token);
        snprintf(r->http_body, sizeof r->http_body, "%s.%s", token, thumbprint);
        return 0;
    }
    case PACK_METHOD_EMAIL:
        dcv_emails(apex, r->emails);
        return 0;
    case PACK_METHOD_INVALID:
    case PACK_METHOD_COUNT:
        break;
    }
    assert(!"unknown validation method");
    return -1;
}

int dcv_records_build(struct dcv_record *out, enum pack_method method, const char *const *hosts,
                      size_t n, const char *apex)
{
    for (size_t i = 0; i < n; i++)
        if (dcv_record_init(&out[i], method, hosts[i], apex) < 0)
            return -1;
    return 0;
}

void dcv_delegation_init(struct dcv_delegation *d, const char *host, const char *zone_id,
                         const char *dcv_domain)
{
    assert(d && host && zone_id);
    if (!dcv_domain)
        dcv_domain = DCV_DOMAIN_DEFAULT;
    assert(strlen(host) <= HOSTNAME_MAX && strlen(zone_id) <= UTIL_ID_LEN &&
           strlen(dcv_domain) <= DCV_DOMAIN_MAX);
    dcv_txt_name(host, d->cname);
    snprintf(d->cname_target, sizeof d->cname_target, "%s.%s.%s", base_name(host), zone_id,
             dcv_domain);
}

bool dcv_token_valid(const char *token)
{
    size_t n = 0;
    for (; token[n]; n++) {
        char c = token[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || n == DCV_TOKEN_MAX)
            return false;
    }
    return n > 0;
}
