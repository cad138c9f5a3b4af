/* CAA authorization: the RFC 8659 tree climb and property rules and the RFC 8657
 * parameters, as a pure decision over record sets someone else looked up (see caa.h).
 * Messages are bounded, one line, values quoted and escaped, records listed sorted so the
 * same RRset always gives the same message whatever order the server returns it in. */
#include "core/caa.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/text.h"

#define VALUE_SHOWN_MAX 100 /* bytes of one value quoted in a message */
#define RECORDS_SHOWN_MAX 5 /* records listed before "and N more" */

static const struct {
    const char *ca, *identity;
} ca_identities[] = {
    {"lets_encrypt", "letsencrypt.org"},
    {"google", "pki.goog"},
    {"ssl_com", "ssl.com"},
};

/* Tags whose meaning we know; an unknown one marked critical forbids issuance. The
 * contact and mail/VMC tags are not about TLS issuance, but understood (and ignored). */
static const char *const known_tags[] = {
    "issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone",
};

static const struct {
    const char *name;
    enum caa_method method;
} method_names[] = {
    {"txt", CAA_METHOD_DNS01},
    {"cname", CAA_METHOD_DNS01}, /* delegated: still a TXT record at the end of the CNAME */
    {"http", CAA_METHOD_HTTP01},
    {"email", CAA_METHOD_EMAIL},
};

static const char *const method_labels[] = {
    [CAA_METHOD_DNS01] = "dns-01",
    [CAA_METHOD_HTTP01] = "http-01",
    [CAA_METHOD_EMAIL] = "ca-email",
};

const char *caa_ca_identity(const char *ca)
{
    for (size_t i = 0; ca && i < sizeof ca_identities / sizeof ca_identities[0]; i++) {
        if (strcmp(ca_identities[i].ca, ca) == 0)
            return ca_identities[i].identity;
    }
    return NULL;
}

int caa_method_parse(const char *validation_method, enum caa_method *out)
{
    for (size_t i = 0; validation_method && i < sizeof method_names / sizeof method_names[0]; i++) {
        if (strcmp(method_names[i].name, validation_method) == 0) {
            *out = method_names[i].method;
            return 0;
        }
    }
    return -1;
}

const char *caa_method_label(enum caa_method m)
{
    assert(m >= CAA_METHOD_DNS01 && m <= CAA_METHOD_EMAIL);
    return method_labels[m];
}

size_t caa_climb(const char *host, const char **names, size_t max)
{
    if (strncmp(host, "*.", 2) == 0)
        host += 2;
    size_t n = 0;
    for (const char *p = host; p && *p && n < max;) {
        names[n++] = p;
        p = strchr(p, '.');
        if (p)
            p++;
    }
    return n;
}

/* ---- parsing ---- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)); `extra` is another inner byte
 * allowed besides "-" (none for RFC 8659 labels). */
static bool is_label(const char *s, size_t len, char extra)
{
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 1; i + 1 < len; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && (!extra || s[i] != extra))
            return false;
    }
    return true;
}

/* issuer-domain-name = label *("." label) */
static bool is_domain(const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!is_label(s + start, i - start, 0))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* Trims WSP on both sides of [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len && is_wsp(**s))
        (*s)++, (*len)--;
    while (*len && is_wsp((*s)[*len - 1]))
        (*len)--;
}

/* parameter = tag *WSP "=" *WSP value; value = *(%x21-3A / %x3C-7E) */
static int parse_param(const char *s, size_t len, struct caa_param *p)
{
    const char *eq = memchr(s, '=', len);
    if (!eq)
        return -1;
    const char *key = s, *val = eq + 1;
    size_t key_len = (size_t)(eq - s), val_len = len - key_len - 1;
    trim(&key, &key_len);
    trim(&val, &val_len);
    if (!is_label(key, key_len, 0))
        return -1;
    for (size_t i = 0; i < val_len; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c < 0x21 || c > 0x7e || c == ';')
            return -1;
    }
    *p = (struct caa_param){.key = key, .key_len = key_len, .value = val, .value_len = val_len};
    return 0;
}

int caa_parse_issue(const char *value, size_t len, struct caa_issue_value *out)
{
    memset(out, 0, sizeof *out);
    const char *semi = memchr(value, ';', len);
    const char *issuer = value;
    size_t issuer_len = semi ? (size_t)(semi - value) : len;
    trim(&issuer, &issuer_len);
    if (issuer_len && !is_domain(issuer, issuer_len))
        return -1;
    out->issuer = issuer_len ? issuer : NULL;
    out->issuer_len = issuer_len;
    if (!semi)
        return 0;

    /* ";" *WSP [parameters *WSP]: an empty parameter list is fine, empty ones between
     * semicolons are not. */
    const char *p = semi + 1, *end = value + len;
    size_t rest = (size_t)(end - p);
    trim(&p, &rest);
    if (rest == 0)
        return 0;
    end = p + rest;
    while (p <= end) {
        const char *next = memchr(p, ';', (size_t)(end - p));
        size_t seg = next ? (size_t)(next - p) : (size_t)(end - p);
        if (out->nparams == CAA_PARAMS_MAX || parse_param(p, seg, &out->params[out->nparams]) < 0)
            return -1;
        out->nparams++;
        if (!next)
            break;
        p = next + 1;
    }
    return 0;
}

/* ---- deciding ---- */

static bool tag_is(const struct caa_record *r, const char *tag)
{
    return r->tag_len == strlen(tag) && strncasecmp(r->tag, tag, r->tag_len) == 0;
}

static bool tag_known(const struct caa_record *r)
{
    for (size_t i = 0; i < sizeof known_tags / sizeof known_tags[0]; i++) {
        if (tag_is(r, known_tags[i]))
            return true;
    }
    return false;
}

static bool key_is(const struct caa_param *p, const char *key)
{
    return p->key_len == strlen(key) && strncasecmp(p->key, key, p->key_len) == 0;
}

/* validationmethods = label *("," label), compared case-insensitively. -1: malformed. */
static int lists_method(const struct caa_param *p, const char *label)
{
    size_t start = 0, want = strlen(label);
    bool found = false;
    for (size_t i = 0; i <= p->value_len; i++) {
        if (i < p->value_len && p->value[i] != ',')
            continue;
        const char *l = p->value + start;
        size_t len = i - start;
        if (!is_label(l, len, '_'))
            return -1;
        found = found || (len == want && strncasecmp(l, label, len) == 0);
        start = i + 1;
    }
    return found ? 1 : 0;
}

/* Why a record naming the CA still does not authorize it. */
enum refusal { R_NONE, R_METHOD, R_ACCOUNT, R_MALFORMED };

/* Whether the parameters of a record naming the CA permit this request. */
static enum refusal params_permit(const struct caa_issue_value *v, const struct caa_request *req)
{
    for (size_t i = 0; i < v->nparams; i++) {
        const struct caa_param *p = &v->params[i];
        if (key_is(p, "validationmethods")) {
            int listed = lists_method(p, caa_method_label(req->method));
            if (listed < 0)
                return R_MALFORMED;
            if (!listed)
                return R_METHOD;
        } else if (key_is(p, "accounturi")) {
            if (!req->account_uri || strlen(req->account_uri) != p->value_len ||
                memcmp(req->account_uri, p->value, p->value_len) != 0)
                return R_ACCOUNT;
        }
        /* Any other parameter is the issuer's own business: ignored. */
    }
    return R_NONE;
}

static bool names_identity(const struct caa_issue_value *v, const struct caa_request *req)
{
    for (size_t i = 0; v->issuer && i < req->identity_count; i++) {
        const char *id = req->identities[i];
        if (id && strlen(id) == v->issuer_len && strncasecmp(id, v->issuer, v->issuer_len) == 0)
            return true;
    }
    return false;
}

/* A bounded message under construction. */
struct text {
    char *buf;
    size_t size, len;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = (size_t)n < t->size - t->len ? t->len + (size_t)n : t->size - 1;
}

/* Appends bytes quoted (text_quote), at most VALUE_SHOWN_MAX of them shown. */
static void text_quoted(struct text *t, const char *data, size_t len)
{
    char q[TEXT_QUOTED_MAX(VALUE_SHOWN_MAX)];
    text_quote(data, len, VALUE_SHOWN_MAX, q, sizeof q);
    text_add(t, "%s", q);
}

/* A record in presentation format: 0 issue "value". Tags are shown escaped like values
 * (they come from the network), without quotes when they are plain. */
static void text_record(struct text *t, const struct caa_record *r)
{
    text_add(t, "%u ", r->flags & 0xffu);
    bool plain = r->tag_len > 0 && r->tag_len <= VALUE_SHOWN_MAX;
    for (size_t i = 0; plain && i < r->tag_len; i++)
        plain = is_alnum(r->tag[i]);
    if (plain)
        text_add(t, "%.*s ", (int)r->tag_len, r->tag);
    else {
        text_quoted(t, r->tag, r->tag_len);
        text_add(t, " ");
    }
    text_quoted(t, r->value, r->value_len);
}

static int record_cmp(const void *a, const void *b)
{
    const struct caa_record *x = *(const struct caa_record *const *)a;
    const struct caa_record *y = *(const struct caa_record *const *)b;
    size_t n = x->value_len < y->value_len ? x->value_len : y->value_len;
    int c = memcmp(x->value, y->value, n);
    if (c)
        return c;
    if (x->value_len != y->value_len)
        return x->value_len < y->value_len ? -1 : 1;
    n = x->tag_len < y->tag_len ? x->tag_len : y->tag_len;
    c = memcmp(x->tag, y->tag, n);
    if (c)
        return c;
    if (x->tag_len != y->tag_len)
        return x->tag_len < y->tag_len ? -1 : 1;
    return (x->flags > y->flags) - (x->flags < y->flags);
}

/* Lists records (sorted, capped) after ": ". */
static void text_records(struct text *t, const struct caa_record **list, size_t n)
{
    qsort(list, n, sizeof *list, record_cmp);
    text_add(t, ": ");
    for (size_t i = 0; i < n && i < RECORDS_SHOWN_MAX; i++) {
        if (i)
            text_add(t, ", ");
        text_record(t, list[i]);
    }
    if (n > RECORDS_SHOWN_MAX)
        text_add(t, " and %zu more", n - RECORDS_SHOWN_MAX);
}

static void text_identities(struct text *t, const struct caa_request *req)
{
    text_add(t, " (");
    for (size_t i = 0; i < req->identity_count; i++)
        text_add(t, "%s%s", i ? ", " : "", req->identities[i] ? req->identities[i] : "");
    text_add(t, ")");
}

int caa_decide(const struct caa_set *sets, size_t nsets, const struct caa_request *req,
               char reason[CAA_REASON_SIZE])
{
    assert(req && reason);
    reason[0] = '\0';
    const struct caa_set *set = NULL;
    for (size_t i = 0; i < nsets && !set; i++) {
        if (sets[i].count)
            set = &sets[i];
    }
    if (!set)
        return 0; /* no CAA anywhere up to the TLD */

    struct text t = {.buf = reason, .size = CAA_REASON_SIZE};
    bool has_issuewild = false;
    for (size_t i = 0; i < set->count; i++) {
        const struct caa_record *r = &set->records[i];
        if ((r->flags & CAA_FLAG_CRITICAL) && !tag_known(r)) {
            text_add(&t, "CAA record at %s has an unknown critical property", set->name);
            text_records(&t, &r, 1);
            return -1;
        }
        has_issuewild = has_issuewild || tag_is(r, "issuewild");
    }
    const char *tag = req->wildcard && has_issuewild ? "issuewild" : "issue";

    const struct caa_record **ruling = xcalloc(set->count, sizeof *ruling);
    const struct caa_record **naming = xcalloc(set->count, sizeof *naming);
    size_t nruling = 0, nnaming = 0;
    enum refusal why = R_NONE;
    int verdict = -1;
    for (size_t i = 0; i < set->count; i++) {
        const struct caa_record *r = &set->records[i];
        if (!tag_is(r, tag))
            continue;
        ruling[nruling++] = r;
        struct caa_issue_value v;
        if (caa_parse_issue(r->value, r->value_len, &v) < 0 || !names_identity(&v, req))
            continue; /* malformed or another issuer: does not authorize us */
        enum refusal refused = params_permit(&v, req);
        if (refused == R_NONE) {
            verdict = 0;
            break;
        }
        naming[nnaming++] = r;
        if (why == R_NONE || refused == R_METHOD)
            why = refused;
    }
    if (verdict == 0 || nruling == 0) {
        verdict = 0;
        reason[0] = '\0';
    } else if (nnaming) {
        text_add(&t, "CAA record at %s forbids %s ", set->name, req->ca ? req->ca : "");
        if (why == R_METHOD)
            text_add(&t, "with validation method %s", caa_method_label(req->method));
        else if (why == R_ACCOUNT)
            text_add(&t, "without the ACME account it names");
        else
            text_add(&t, "(malformed parameters)");
        text_records(&t, naming, nnaming);
    } else {
        text_add(&t, "CAA record at %s forbids %s", set->name, req->ca ? req->ca : "");
        text_identities(&t, req);
        text_records(&t, ruling, nruling);
    }
    xfree(naming);
    xfree(ruling);
    return verdict;
}
