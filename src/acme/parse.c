/* The pure reading side of the ACME client: problem documents mapped to error codes and
 * one-line messages, Retry-After values, Link headers, the name tables (codes, endpoints,
 * statuses), and the preferred-chain choice. No I/O; unit-tested on canned input. */
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acme/acme.h"
#include "acme/acme_internal.h"
#include "common/alloc.h"
#include "common/text.h"

#define ACME_URN "urn:ietf:params:acme:error:"

const char *acme_code_name(int code)
{
    switch (code) {
#define ACME_X(name, value, text)                                                                  \
    case name:                                                                                     \
        return text;
        ACME_CODE_MAP(ACME_X)
#undef ACME_X
    }
    return "unknown";
}

static const char *const endpoint_names[] = {
#define ACME_X(name, text) [name] = text,
    ACME_ENDPOINT_MAP(ACME_X)
#undef ACME_X
};

const char *acme_endpoint_name(enum acme_endpoint ep)
{
    return (unsigned)ep < ACME_EP_COUNT ? endpoint_names[ep] : "unknown";
}

static const char *const status_names[] = {
#define ACME_X(name, text) [name] = text,
    ACME_STATUS_MAP(ACME_X)
#undef ACME_X
};

const char *acme_status_name(enum acme_status st)
{
    return (unsigned)st < sizeof status_names / sizeof status_names[0] ? status_names[st]
                                                                       : "unknown";
}

enum acme_status acme_status_parse(const char *s)
{
    for (size_t i = 1; s && i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(s, status_names[i]) == 0)
            return (enum acme_status)i;
    }
    return ACME_ST_UNKNOWN;
}

int acme__fail(struct acme_error *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

char *acme__url_member(json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    if (!s || strlen(s) > 2048 || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7)))
        return NULL;
    if (!text_is_safe(s, strlen(s)) || strpbrk(s, " \"<>"))
        return NULL;
    return xstrdup(s);
}

/* A string member, escaped for a log line and cut to size; "" when absent. */
static void copy_text(json_t *obj, const char *name, char *out, size_t size)
{
    const char *s = json_string_value(json_object_get(obj, name));
    out[0] = '\0';
    if (s)
        text_escape(s, strlen(s), out, size, 0);
}

/* The short form of an ACME error type ("rateLimited"); other URIs kept whole. */
static void copy_type(json_t *obj, char *out, size_t size)
{
    copy_text(obj, "type", out, size);
    if (strncmp(out, ACME_URN, strlen(ACME_URN)) == 0)
        memmove(out, out + strlen(ACME_URN), strlen(out) - strlen(ACME_URN) + 1);
}

void acme__problem_from_json(json_t *doc, int http_status, struct acme_problem *p)
{
    memset(p, 0, sizeof *p);
    copy_type(doc, p->type, sizeof p->type);
    copy_text(doc, "detail", p->detail, sizeof p->detail);
    json_int_t st = json_integer_value(json_object_get(doc, "status"));
    p->status = st >= 100 && st <= 599 ? (int)st : http_status;
    json_t *subs = json_object_get(doc, "subproblems");
    size_t i;
    json_t *sub;
    json_array_foreach(subs, i, sub)
    {
        if (p->n_sub == ACME_SUBPROBLEMS_MAX)
            break;
        struct acme_subproblem *s = &p->sub[p->n_sub++];
        copy_type(sub, s->type, sizeof s->type);
        copy_text(sub, "detail", s->detail, sizeof s->detail);
        copy_text(json_object_get(sub, "identifier"), "value", s->identifier, sizeof s->identifier);
    }
}

/* Problem types that decide the code whatever the HTTP status says. */
static const struct {
    const char *type;
    int code;
} type_codes[] = {
    {"badNonce", ACME_E_BAD_NONCE},
    {"accountDoesNotExist", ACME_E_GONE},
    {"rateLimited", ACME_E_RATE_LIMITED},
    {"serverInternal", ACME_E_SERVER},
};

int acme_problem_parse(const char *body, size_t len, int http_status, struct acme_error *err)
{
    memset(err, 0, sizeof *err);
    err->http_status = http_status;
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (json_is_object(doc) && json_is_string(json_object_get(doc, "type"))) {
        err->has_problem = true;
        acme__problem_from_json(doc, http_status, &err->problem);
    }
    json_decref(doc);
    err->code = 0;
    for (size_t i = 0; err->has_problem && i < sizeof type_codes / sizeof type_codes[0]; i++) {
        if (strcmp(err->problem.type, type_codes[i].type) == 0)
            err->code = type_codes[i].code;
    }
    if (err->code == 0) {
        if (http_status == 404)
            err->code = ACME_E_GONE;
        else if (http_status == 429)
            err->code = ACME_E_RATE_LIMITED;
        else if (http_status >= 500)
            err->code = ACME_E_SERVER;
        else if (err->has_problem)
            err->code = ACME_E_PROBLEM;
        else
            acme__fail(err, ACME_E_PROTOCOL, "HTTP %d without a problem document", http_status);
    }
    return err->code;
}

/* Appends printf text to out at *pos, never past size (the result stays NUL-terminated). */
__attribute__((format(printf, 4, 5))) static void append(char *out, size_t size, size_t *pos,
                                                         const char *fmt, ...)
{
    if (*pos + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *pos, size - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos = *pos + (size_t)n < size ? *pos + (size_t)n : size - 1;
}

size_t acme_error_format(const struct acme_error *err, char *out, size_t size)
{
    size_t pos = 0;
    if (size == 0)
        return 0;
    out[0] = '\0';
    if (err->has_problem) {
        const struct acme_problem *p = &err->problem;
        append(out, size, &pos, "%s", p->type);
        if (p->detail[0])
            append(out, size, &pos, ": %s", p->detail);
        if (p->status)
            append(out, size, &pos, " (status %d)", p->status);
        for (size_t i = 0; i < p->n_sub; i++) {
            const struct acme_subproblem *s = &p->sub[i];
            append(out, size, &pos, "; %s%s%s", s->identifier, s->identifier[0] ? ": " : "",
                   s->type);
            if (s->detail[0])
                append(out, size, &pos, ": %s", s->detail);
        }
    } else {
        append(out, size, &pos, "%s", acme_code_name(err->code));
        if (err->message[0])
            append(out, size, &pos, ": %s", err->message);
        if (err->http_status)
            append(out, size, &pos, " (HTTP %d)", err->http_status);
    }
    if (err->endpoint)
        append(out, size, &pos, " [%s]", err->endpoint);
    /* Cut on a character boundary: drop a trailing partial UTF-8 sequence. */
    size_t end = pos;
    while (end > 0 && ((unsigned char)out[end - 1] & 0xc0) == 0x80)
        end--;
    if (end > 0 && (unsigned char)out[end - 1] >= 0xc0) {
        unsigned char lead = (unsigned char)out[end - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (pos - (end - 1) < need)
            pos = end - 1;
    }
    out[pos] = '\0';
    return pos;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"), the form RFC 9110 §5.6.7 tells
 * senders to use; the obsolete forms are refused. */
static int parse_http_date(const char *s, int64_t *us)
{
    char wd[4], mon[4];
    int day, year, h, m, sec, end = 0;
    if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wd, &day, mon, &year, &h, &m,
               &sec, &end) != 7 ||
        end == 0 || s[end] != '\0' || strlen(s) != 29)
        return -1;
    int mi = -1, wi = -1;
    for (int i = 0; i < 12; i++)
        mi = strcmp(mon, months[i]) == 0 ? i : mi;
    for (int i = 0; i < 7; i++)
        wi = strcmp(wd, weekdays[i]) == 0 ? i : wi;
    if (mi < 0 || wi < 0 || day < 1 || day > 31 || year < 1970 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mi,
                    .tm_mday = day,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day) /* 31 Feb normalised into March: refuse */
        return -1;
    *us = (int64_t)t * 1000000;
    return 0;
}

int acme_retry_after_parse(const char *value, int64_t now_us, int64_t *at_us)
{
    if (!value || !*value || strlen(value) > 64)
        return -1;
    if (value[0] >= '0' && value[0] <= '9') {
        long long secs = 0;
        for (const char *p = value; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            if (secs < 86400)
                secs = secs * 10 + (*p - '0');
        }
        if (secs > 86400)
            secs = 86400; /* a day is the longest wait we take from a server */
        *at_us = now_us + secs * 1000000;
        return 0;
    }
    return parse_http_date(value, at_us);
}

/* Skips optional white space. */
static const char *ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Does a rel value (a space-separated list) contain "alternate"? */
static bool rel_has_alternate(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && v[i] == ' ')
            i++;
        size_t start = i;
        while (i < n && v[i] != ' ')
            i++;
        if (i - start == 9 && strncasecmp(v + start, "alternate", 9) == 0)
            return true;
    }
    return false;
}

/* One Link value: "<url>; rel=\"alternate\", <url2>; rel=up". RFC 8288 §3. */
static size_t links_of(const char *p, char **urls, size_t n, size_t max)
{
    while (*p && n < max) {
        p = ows(p);
        while (*p == ',')
            p = ows(p + 1);
        if (*p != '<')
            break;
        const char *close = strchr(p, '>');
        if (!close)
            break;
        const char *url = p + 1;
        size_t url_len = (size_t)(close - url);
        bool alternate = false;
        p = close + 1;
        /* Parameters up to the next comma outside quotes. */
        while (*p && *p != ',') {
            p = ows(p);
            if (*p != ';')
                break;
            p = ows(p + 1);
            const char *name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                p++;
            size_t name_len = (size_t)(p - name);
            p = ows(p);
            const char *val = p;
            size_t val_len = 0;
            if (*p == '=') {
                p = ows(p + 1);
                if (*p == '"') {
                    val = ++p;
                    while (*p && *p != '"')
                        p++;
                    val_len = (size_t)(p - val);
                    if (*p == '"')
                        p++;
                } else {
                    val = p;
                    while (*p && *p != ';' && *p != ',' && *p != ' ')
                        p++;
                    val_len = (size_t)(p - val);
                }
            }
            if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 &&
                rel_has_alternate(val, val_len))
                alternate = true;
            p = ows(p);
        }
        while (*p && *p != ',')
            p++; /* junk after a bad parameter: skip to the next link */
        if (alternate && url_len > 0 && url_len <= 2048 && text_is_safe(url, url_len))
            urls[n++] = xstrndup(url, url_len);
    }
    return n;
}

size_t acme_link_alternates(const char *const *values, size_t n_values, char **urls, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_values && n < max; i++) {
        if (values[i])
            n = links_of(values[i], urls, n, max);
    }
    return n;
}

int acme_chain_top_issuer(const char *pem, size_t len, char *out, size_t size)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *last = NULL, *x;
    int rc = -1;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_free(last);
        last = x;
    }
    if (!last)
        goto out;
    X509_NAME *issuer = X509_get_issuer_name(last);
    int idx = X509_NAME_get_index_by_NID(issuer, NID_commonName, -1);
    if (idx < 0)
        goto out;
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, idx)));
    if (n < 0)
        goto out;
    if ((size_t)n < size) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
out:
    X509_free(last);
    BIO_free(bio);
    return rc;
}

size_t acme_chain_pick(const struct acme_chains *chains, const char *preferred)
{
    char cn[256];
    for (size_t i = 0; preferred && *preferred && i < chains->n; i++) {
        if (acme_chain_top_issuer(chains->pem[i], strlen(chains->pem[i]), cn, sizeof cn) == 0 &&
            strcmp(cn, preferred) == 0)
            return i;
    }
    return 0;
}
