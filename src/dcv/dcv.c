/* Domain-control validation checks: TXT and CAA lookups through c-ares, the HTTP challenge
 * fetch through libcurl with its host name resolved by the same c-ares resolver.
 *
 * Each check opens its own c-ares channel and drives it synchronously (poll on the sockets
 * c-ares reports through its socket-state callback) until the answer arrives or the
 * resolver's deadline passes, then cancels what is left. Nothing here is shared between
 * calls, so checks on different threads never meet. Messages are meant for a pack's
 * validation_errors: bounded, values quoted, the same for the same answer (TXT and CAA
 * values are listed sorted, so a round-robin server does not make them flap). */
#include "dcv/dcv.h"

#include <arpa/inet.h>
#include <ares.h>
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/util.h"
#include "core/hostname.h"

#define DNS_CLASS_IN 1
#define DNS_TYPE_TXT 16
#define DNS_TYPE_CAA 257
#define DNS_MAX_SOCKS 16       /* one UDP and one TCP socket per server; resolv.conf has <= 3 */
#define CAA_FLAG_CRITICAL 0x80 /* RFC 8659 §4.1: bit 0 of the flags octet */

#define MSG_MAX 1024      /* a whole message; longer ones are cut */
#define MSG_VALUE_MAX 100 /* one quoted value in a message */
#define MSG_VALUES_MAX 5  /* values listed before "and N more" */

/* ---- messages ---------------------------------------------------------------------- */

/* A bounded message under construction (truncated, never overflowing). */
struct msg {
    char buf[MSG_MAX];
    size_t len;
};

static void msg_add(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void msg_add(struct msg *m, const char *fmt, ...)
{
    if (m->len >= sizeof m->buf - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, sizeof m->buf - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len += (size_t)n < sizeof m->buf - m->len ? (size_t)n : sizeof m->buf - 1 - m->len;
}

/* Appends data as a double-quoted string: '"' and '\' escaped, bytes outside printable
 * ASCII as \xNN, cut after MSG_VALUE_MAX bytes with "...". */
static void msg_add_quoted(struct msg *m, const unsigned char *data, size_t len)
{
    msg_add(m, "\"");
    for (size_t i = 0; i < len && i < MSG_VALUE_MAX; i++) {
        unsigned char c = data[i];
        if (c == '"' || c == '\\')
            msg_add(m, "\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            msg_add(m, "\\x%02x", c);
        else
            msg_add(m, "%c", c);
    }
    msg_add(m, len > MSG_VALUE_MAX ? "...\"" : "\"");
}

/* A byte string seen in an answer (TXT or CAA value), listed sorted in messages. */
struct value {
    unsigned char *data;
    size_t len;
};

static int value_cmp(const void *a, const void *b)
{
    const struct value *x = a, *y = b;
    int c = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Hands the message to the caller and returns status. */
static enum dcv_status msg_finish(struct msg *m, enum dcv_status status, char **why)
{
    *why = xstrdup(m->buf);
    return status;
}

/* ---- set-up ------------------------------------------------------------------------ */

int dcv_global_init(void)
{
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
        return -1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ares_library_cleanup();
        return -1;
    }
    return 0;
}

void dcv_global_cleanup(void)
{
    curl_global_cleanup();
    ares_library_cleanup();
}

void dcv_resolver_init(struct dcv_resolver *r)
{
    *r = (struct dcv_resolver){
        .dns_server = "",
        .http_port = DCV_DEFAULT_HTTP_PORT,
        .dns_timeout_ms = DCV_DEFAULT_TIMEOUT_MS,
        .http_timeout_ms = DCV_DEFAULT_TIMEOUT_MS,
    };
}

int dcv_resolver_set_dns(struct dcv_resolver *r, const char *server, const char **why)
{
    const char *addr = server, *port = NULL;
    size_t alen;
    int family = AF_INET;

    if (!server || !*server) {
        *why = "empty DNS resolver address";
        return -1;
    }
    const char *colon = strchr(server, ':');
    if (server[0] == '[') { /* [IPv6] or [IPv6]:PORT */
        const char *close = strchr(server, ']');
        if (!close || (close[1] != '\0' && close[1] != ':')) {
            *why = "expected [IPv6]:PORT";
            return -1;
        }
        addr = server + 1;
        alen = (size_t)(close - addr);
        port = close[1] == ':' ? close + 2 : NULL;
        family = AF_INET6;
    } else if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address */
        alen = strlen(server);
        family = AF_INET6;
    } else {
        alen = colon ? (size_t)(colon - server) : strlen(server);
        port = colon ? colon + 1 : NULL;
    }

    char ip[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    if (alen == 0 || alen >= sizeof ip) {
        *why = "not an IP address";
        return -1;
    }
    memcpy(ip, addr, alen);
    ip[alen] = '\0';
    if (inet_pton(family, ip, bin) != 1) {
        *why = "not an IP address";
        return -1;
    }
    long long p = 53;
    if (port && util_parse_int(port, 1, 65535, &p) != 0) {
        *why = "port must be 1..65535";
        return -1;
    }
    snprintf(r->dns_server, sizeof r->dns_server, family == AF_INET6 ? "[%s]:%lld" : "%s:%lld", ip,
             p);
    return 0;
}

/* ---- DNS: one synchronous c-ares channel per lookup -------------------------------- */

/* The sockets c-ares wants watched, kept up to date by its socket-state callback. */
struct dns_io {
    struct pollfd fds[DNS_MAX_SOCKS];
    int n;
};

static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_io *io = data;
    int i = 0;
    while (i < io->n && io->fds[i].fd != fd)
        i++;
    if (!readable && !writable) {
        if (i < io->n)
            io->fds[i] = io->fds[--io->n];
        return;
    }
    if (i == io->n) {
        if (io->n == DNS_MAX_SOCKS)
            return; /* not watched: that server's queries time out */
        io->n++;
        io->fds[i].fd = fd;
    }
    io->fds[i].events = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
}

/* Opens a channel on r's server (or the system's), without search domains, retrying
 * within r's DNS timeout. Returns an ARES_ status. */
static int dns_open(const struct dcv_resolver *r, struct dns_io *io, ares_channel *ch)
{
    char lookups[] = "b"; /* DNS only: a configured resolver is the whole truth */
    struct ares_options o = {
        /* NOCHECKRESP: a REFUSED or SERVFAIL answer is reported as such, not retried
         * into "Could not contact DNS servers", which would mislead the operator. */
        .flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP,
        .timeout = r->dns_timeout_ms / 3 > 50 ? r->dns_timeout_ms / 3 : 50,
        .tries = 2,
        .ndomains = 0,
        .sock_state_cb = dns_sock_state,
        .sock_state_cb_data = io,
        .lookups = lookups,
    };
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS |
               ARES_OPT_SOCK_STATE_CB;
    if (r->dns_server[0])
        mask |= ARES_OPT_LOOKUPS;
    io->n = 0;
    int rc = ares_init_options(ch, &o, mask);
    if (rc != ARES_SUCCESS)
        return rc;
    if (r->dns_server[0]) {
        rc = ares_set_servers_ports_csv(*ch, r->dns_server);
        if (rc != ARES_SUCCESS)
            ares_destroy(*ch);
    }
    return rc;
}

/* Runs ch until *done or the deadline (monotonic µs); at the deadline the outstanding
 * queries are cancelled, which completes them with ARES_ECANCELLED. */
static void dns_wait(ares_channel ch, struct dns_io *io, const bool *done, int64_t deadline)
{
    while (!*done) {
        int64_t left = deadline - util_mono_us();
        if (left <= 0) {
            ares_cancel(ch);
            break;
        }
        struct timeval max = {.tv_sec = left / 1000000, .tv_usec = left % 1000000}, tv;
        struct timeval *next = ares_timeout(ch, &max, &tv);
        int ms = (int)(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
        struct pollfd fds[DNS_MAX_SOCKS];
        int n = io->n;
        memcpy(fds, io->fds, sizeof fds[0] * (size_t)n);
        int rc = poll(fds, (nfds_t)n, ms);
        if (rc < 0 && errno != EINTR) {
            ares_cancel(ch);
            break;
        }
        if (rc <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts, retries */
            continue;
        }
        for (int i = 0; i < n; i++) {
            short ev = fds[i].revents;
            if (!ev)
                continue;
            ares_process_fd(ch, (ev & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
                            (ev & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
        }
    }
}

/* The answer to one query: the raw message (caller xfree's buf) when status is success. */
struct dns_answer {
    bool done;
    int status;
    unsigned char *buf;
    int len;
};

static void dns_query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_answer *a = arg;
    a->done = true;
    a->status = status;
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        a->buf = xmalloc((size_t)alen);
        memcpy(a->buf, abuf, (size_t)alen);
        a->len = alen;
    }
}

/* Queries `type` records at name. Returns an ARES_ status: ARES_SUCCESS with a->buf set,
 * ARES_ENODATA / ARES_ENOTFOUND when there are none / the name does not exist, a
 * cancellation at the deadline reported as ARES_ETIMEOUT. */
static int dns_query(const struct dcv_resolver *r, const char *name, int type, struct dns_answer *a)
{
    struct dns_io io;
    ares_channel ch;
    *a = (struct dns_answer){0};
    int rc = dns_open(r, &io, &ch);
    if (rc != ARES_SUCCESS)
        return rc;
    ares_query(ch, name, DNS_CLASS_IN, type, dns_query_done, a);
    dns_wait(ch, &io, &a->done, util_mono_us() + (int64_t)r->dns_timeout_ms * 1000);
    ares_destroy(ch); /* completes anything left while `a` is still alive */
    if (a->status == ARES_ECANCELLED || a->status == ARES_EDESTRUCTION)
        a->status = ARES_ETIMEOUT;
    if (a->status == ARES_SUCCESS && !a->buf)
        a->status = ARES_ENODATA;
    return a->status;
}

static bool dns_is_absent(int status)
{
    return status == ARES_ENODATA || status == ARES_ENOTFOUND;
}

/* ---- TXT --------------------------------------------------------------------------- */

/* The concatenated strings of the TXT record starting at *node; advances *node to the next
 * record. Caller xfree's; *len gets the length (values may hold NUL bytes). */
static unsigned char *txt_record(const struct ares_txt_ext **node, size_t *len)
{
    const struct ares_txt_ext *end = (*node)->next;
    size_t total = (*node)->length;
    while (end && !end->record_start) {
        total += end->length;
        end = end->next;
    }
    unsigned char *out = xmalloc(total + 1);
    size_t off = 0;
    for (const struct ares_txt_ext *t = *node; t != end; t = t->next) {
        memcpy(out + off, t->txt, t->length);
        off += t->length;
    }
    out[total] = '\0';
    *len = total;
    *node = end;
    return out;
}

enum dcv_status dcv_check_txt(const struct dcv_resolver *r, const char *name, const char *expected,
                              char **why)
{
    assert(r && name && expected && why);
    struct msg m = {.len = 0};
    struct dns_answer a;
    int st = dns_query(r, name, DNS_TYPE_TXT, &a);
    struct ares_txt_ext *txt = NULL;
    if (st == ARES_SUCCESS)
        st = ares_parse_txt_reply_ext(a.buf, a.len, &txt);
    xfree(a.buf);
    if (dns_is_absent(st)) {
        msg_add(&m, "no TXT records at %s", name);
        return msg_finish(&m, DCV_FAILED, why);
    }
    if (st != ARES_SUCCESS) {
        msg_add(&m, "DNS error at %s: %s", name, ares_strerror(st));
        return msg_finish(&m, DCV_ERROR, why);
    }

    size_t n = 0, cap = 8, want = strlen(expected);
    struct value *seen = xmalloc(cap * sizeof *seen);
    bool found = false;
    for (const struct ares_txt_ext *t = txt; t;) {
        if (n == cap)
            seen = xrealloc(seen, (cap *= 2) * sizeof *seen);
        seen[n].data = txt_record(&t, &seen[n].len);
        found = found || (seen[n].len == want && memcmp(seen[n].data, expected, want) == 0);
        n++;
    }
    ares_free_data(txt);

    enum dcv_status status = DCV_OK;
    if (!found) {
        qsort(seen, n, sizeof *seen, value_cmp);
        msg_add(&m, "TXT record not found at %s; saw ", name);
        for (size_t i = 0; i < n && i < MSG_VALUES_MAX; i++) {
            msg_add(&m, i ? ", " : "");
            msg_add_quoted(&m, seen[i].data, seen[i].len);
        }
        if (n > MSG_VALUES_MAX)
            msg_add(&m, " and %zu more", n - MSG_VALUES_MAX);
        status = msg_finish(&m, DCV_FAILED, why);
    }
    for (size_t i = 0; i < n; i++)
        xfree(seen[i].data);
    xfree(seen);
    return status;
}

/* ---- CAA --------------------------------------------------------------------------- */

/* Issuer domain names by certificate_authority. */
static const struct {
    const char *ca;
    const char *issuer;
} caa_issuers[] = {
    {"lets_encrypt", "letsencrypt.org"},
    {"google", "pki.goog"},
    {"ssl_com", "ssl.com"},
};

/* Our own local CA's issuer domain: a CAA record naming it allows every pack. */
#define CAA_OWN_ISSUER "tlsward.local"

/* Property tags a CA is expected to understand; an unknown one marked critical forbids
 * issuance (RFC 8659 §4.5). */
static const char *const caa_known_tags[] = {
    "issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone",
};

const char *dcv_caa_issuer(const char *ca)
{
    for (size_t i = 0; ca && i < sizeof caa_issuers / sizeof caa_issuers[0]; i++) {
        if (strcmp(caa_issuers[i].ca, ca) == 0)
            return caa_issuers[i].issuer;
    }
    return NULL;
}

static bool caa_tag_is(const struct ares_caa_reply *c, const char *tag)
{
    return c->plength == strlen(tag) &&
           strncasecmp((const char *)c->property, tag, c->plength) == 0;
}

/* True when the issue/issuewild value names `issuer`: the issuer domain name is what
 * precedes the first ';', surrounding blanks ignored (RFC 8659 §4.2); parameters are not
 * interpreted. */
static bool caa_value_allows(const struct ares_caa_reply *c, const char *issuer)
{
    const char *v = (const char *)c->value;
    size_t len = c->length;
    const char *semi = memchr(v, ';', len);
    if (semi)
        len = (size_t)(semi - v);
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    return len == strlen(issuer) && strncasecmp(v, issuer, len) == 0;
}

/* Judges the CAA RRset found at `name` (RFC 8659 §4.2/4.3): issuewild rules a wildcard
 * host when present, issue otherwise; no relevant property means no restriction. */
static enum dcv_status caa_judge(const struct ares_caa_reply *caa, const char *name, bool wildcard,
                                 const char *ca, const char *issuer, char **why)
{
    struct msg m = {.len = 0};
    bool has_issuewild = false;
    for (const struct ares_caa_reply *c = caa; c; c = c->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof caa_known_tags / sizeof caa_known_tags[0]; i++)
            known = known || caa_tag_is(c, caa_known_tags[i]);
        if (!known && (c->critical & CAA_FLAG_CRITICAL)) {
            msg_add(&m, "CAA record at %s has an unknown critical property ", name);
            msg_add_quoted(&m, c->property, c->plength);
            return msg_finish(&m, DCV_FAILED, why);
        }
        has_issuewild = has_issuewild || caa_tag_is(c, "issuewild");
    }
    const char *tag = wildcard && has_issuewild ? "issuewild" : "issue";

    size_t relevant = 0;
    for (const struct ares_caa_reply *c = caa; c; c = c->next) {
        if (!caa_tag_is(c, tag))
            continue;
        if (caa_value_allows(c, issuer) || caa_value_allows(c, CAA_OWN_ISSUER))
            return DCV_OK;
        relevant++;
    }
    if (relevant == 0)
        return DCV_OK;

    /* Listed sorted, so a server rotating the RRset does not change the message. */
    struct value *vals = xmalloc(relevant * sizeof *vals);
    size_t n = 0;
    for (const struct ares_caa_reply *c = caa; c; c = c->next) {
        if (caa_tag_is(c, tag))
            vals[n++] = (struct value){.data = c->value, .len = c->length};
    }
    qsort(vals, n, sizeof *vals, value_cmp);
    msg_add(&m, "CAA record at %s forbids %s (allows: ", name, ca);
    for (size_t i = 0; i < n && i < MSG_VALUES_MAX; i++) {
        msg_add(&m, i ? ", " : "");
        msg_add_quoted(&m, vals[i].data, vals[i].len);
    }
    if (n > MSG_VALUES_MAX)
        msg_add(&m, " and %zu more", n - MSG_VALUES_MAX);
    msg_add(&m, ")");
    xfree(vals);
    return msg_finish(&m, DCV_FAILED, why);
}

enum dcv_status dcv_check_caa(const struct dcv_resolver *r, const char *host, const char *apex,
                              const char *ca, char **why)
{
    assert(r && host && apex && why);
    struct msg m = {.len = 0};
    const char *issuer = dcv_caa_issuer(ca);
    if (!issuer) {
        msg_add(&m, "CAA check: unknown certificate authority \"%s\"", ca ? ca : "");
        return msg_finish(&m, DCV_ERROR, why);
    }
    bool wildcard = strncmp(host, "*.", 2) == 0;
    const char *name = wildcard ? host + 2 : host;
    if (!hostname_in_zone(name, apex)) {
        msg_add(&m, "CAA check: %s is not in zone %s", host, apex);
        return msg_finish(&m, DCV_ERROR, why);
    }

    for (;;) {
        struct dns_answer a;
        int st = dns_query(r, name, DNS_TYPE_CAA, &a);
        struct ares_caa_reply *caa = NULL;
        if (st == ARES_SUCCESS)
            st = ares_parse_caa_reply(a.buf, a.len, &caa);
        xfree(a.buf);
        if (st == ARES_SUCCESS) {
            enum dcv_status status = caa_judge(caa, name, wildcard, ca, issuer, why);
            ares_free_data(caa);
            return status;
        }
        if (!dns_is_absent(st)) {
            msg_add(&m, "DNS error at %s: %s", name, ares_strerror(st));
            return msg_finish(&m, DCV_ERROR, why);
        }
        if (strcasecmp(name, apex) == 0)
            return DCV_OK; /* no CAA anywhere up to the apex */
        name = strchr(name, '.');
        assert(name); /* hostname_in_zone: the apex is a suffix after a dot */
        name++;
    }
}

/* ---- HTTP -------------------------------------------------------------------------- */

/* The outcome of one ares_getaddrinfo (caller ares_freeaddrinfo's ai). */
struct dns_addrs {
    bool done;
    int status;
    struct ares_addrinfo *ai;
};

static void dns_addrs_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct dns_addrs *d = arg;
    d->done = true;
    d->status = status;
    d->ai = res;
}

/* The addresses of host, resolved through r, as CURLOPT_RESOLVE wants them
 * ("1.2.3.4,[::1]") into out. Returns an ARES_ status. */
static int http_resolve(const struct dcv_resolver *r, const char *host, int64_t deadline, char *out,
                        size_t outsz)
{
    struct dns_io io;
    ares_channel ch;
    struct dns_addrs d = {0};
    int rc = dns_open(r, &io, &ch);
    if (rc != ARES_SUCCESS)
        return rc;
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    ares_getaddrinfo(ch, host, NULL, &hints, dns_addrs_done, &d);
    int64_t dns_deadline = util_mono_us() + (int64_t)r->dns_timeout_ms * 1000;
    dns_wait(ch, &io, &d.done, dns_deadline < deadline ? dns_deadline : deadline);
    ares_destroy(ch);
    if (d.status == ARES_ECANCELLED || d.status == ARES_EDESTRUCTION)
        d.status = ARES_ETIMEOUT;

    size_t len = 0;
    out[0] = '\0';
    for (struct ares_addrinfo_node *n = d.ai ? d.ai->nodes : NULL; n; n = n->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        const void *src =
            n->ai_family == AF_INET6
                ? (const void *)&((struct sockaddr_in6 *)(void *)n->ai_addr)->sin6_addr
                : (const void *)&((struct sockaddr_in *)(void *)n->ai_addr)->sin_addr;
        if (!inet_ntop(n->ai_family, src, ip, sizeof ip))
            continue;
        int w = snprintf(out + len, outsz - len, n->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                         len ? "," : "", ip);
        if (w < 0 || (size_t)w >= outsz - len) {
            out[len] = '\0'; /* enough addresses already */
            break;
        }
        len += (size_t)w;
    }
    if (d.ai)
        ares_freeaddrinfo(d.ai);
    if (d.status == ARES_SUCCESS && len == 0)
        d.status = ARES_ENODATA;
    return d.status;
}

/* Response body collected up to DCV_HTTP_BODY_MAX. */
struct http_body {
    char data[DCV_HTTP_BODY_MAX];
    size_t len;
    bool too_big;
};

static size_t http_body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_body *b = userdata;
    size_t n = size * nmemb;
    if (n > sizeof b->data - b->len) {
        b->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when data (len bytes), trimmed of surrounding whitespace, equals the trimmed s. */
static bool trimmed_equal(const char *data, size_t len, const char *s)
{
    size_t slen = strlen(s);
    while (len && is_blank(*data))
        data++, len--;
    while (len && is_blank(data[len - 1]))
        len--;
    while (slen && is_blank(*s))
        s++, slen--;
    while (slen && is_blank(s[slen - 1]))
        slen--;
    return len == slen && memcmp(data, s, len) == 0;
}

/* Host names and tokens go into a URL and a CURLOPT_RESOLVE line: letters, digits and the
 * few punctuation marks they may hold, nothing that could add a port, path or user. */
static bool http_host_ok(const char *host)
{
    if (!*host)
        return false;
    for (const char *p = host; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    }
    return true;
}

static bool http_token_ok(const char *token)
{
    if (!*token)
        return false;
    for (const char *p = token; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    }
    return true;
}

/* Where a redirect may go: an http URL on the checked host, on the default port or ours.
 * On success *next is the URL to fetch, moved to our port (caller curl_free's); otherwise
 * the reason is added to m and DCV_FAILED returned. */
static enum dcv_status http_redirect_target(const struct dcv_resolver *r, const char *host,
                                            const char *location, char **next, struct msg *m)
{
    enum dcv_status status = DCV_FAILED;
    char *scheme = NULL, *to_host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (!u)
        abort(); /* out of memory: the alloc.h policy */
    if (curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &to_host, 0) != CURLUE_OK) {
        msg_add(m, " was redirected to an invalid URL");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0) {
        msg_add(m, " was redirected to a non-HTTP URL %.*s", MSG_VALUE_MAX * 2, location);
        goto out;
    }
    long long p = DCV_DEFAULT_HTTP_PORT;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
        util_parse_int(port, 1, 65535, &p) != 0)
        p = -1;
    if (strcasecmp(to_host, host) != 0 || (p != DCV_DEFAULT_HTTP_PORT && p != r->http_port)) {
        msg_add(m, " was redirected off-host to %.*s", MSG_VALUE_MAX * 2, location);
        goto out;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", r->http_port);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_set(u, CURLUPART_PORT, portstr, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, next, 0) != CURLUE_OK) {
        msg_add(m, " was redirected to an invalid URL");
        goto out;
    }
    status = DCV_OK;
out:
    curl_free(scheme);
    curl_free(to_host);
    curl_free(port);
    curl_url_cleanup(u);
    return status;
}

/* Adds why a transfer failed to m and returns the status it means. */
static enum dcv_status http_transfer_error(const struct dcv_resolver *r, CURLcode rc,
                                           const struct http_body *body, struct msg *m)
{
    if (body->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        msg_add(m, " body exceeds %d KiB", DCV_HTTP_BODY_MAX / 1024);
        return DCV_FAILED;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        if (r->http_timeout_ms % 1000 == 0)
            msg_add(m, " timed out after %d s", r->http_timeout_ms / 1000);
        else
            msg_add(m, " timed out after %d ms", r->http_timeout_ms);
        return DCV_ERROR;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        msg_add(m, " could not connect: %s", curl_easy_strerror(rc));
        return DCV_ERROR;
    }
    msg_add(m, " failed: %s", curl_easy_strerror(rc));
    return DCV_ERROR;
}

/* Fetches url and follows same-host redirects; the outcome goes into m (which already
 * names the URL) and the return value. */
static enum dcv_status http_fetch(const struct dcv_resolver *r, CURL *curl, const char *host,
                                  const char *url, const char *expected, int64_t deadline,
                                  struct msg *m)
{
    struct http_body *body = xmalloc(sizeof *body);
    char *next = NULL;
    enum dcv_status status = DCV_ERROR;
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_body_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    for (int hop = 0;; hop++) {
        int64_t left_ms = (deadline - util_mono_us()) / 1000;
        if (left_ms <= 0) {
            status = http_transfer_error(r, CURLE_OPERATION_TIMEDOUT, body, m);
            break;
        }
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left_ms);
        body->len = 0;
        body->too_big = false;
        CURLcode rc = curl_easy_perform(curl);
        if (rc != CURLE_OK) {
            status = http_transfer_error(r, rc, body, m);
            break;
        }
        long code = 0;
        char *location = NULL;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
        if (code >= 300 && code < 400 && location) {
            if (hop == DCV_HTTP_MAX_REDIRECTS) {
                msg_add(m, " was redirected more than %d times", DCV_HTTP_MAX_REDIRECTS);
                status = DCV_FAILED;
                break;
            }
            curl_free(next);
            next = NULL;
            status = http_redirect_target(r, host, location, &next, m);
            if (status != DCV_OK)
                break;
            curl_easy_setopt(curl, CURLOPT_URL, next);
            continue;
        }
        if (code != 200) {
            msg_add(m, " got %ld", code);
            status = DCV_FAILED;
        } else if (!trimmed_equal(body->data, body->len, expected)) {
            msg_add(m, " body did not match");
            status = DCV_FAILED;
        } else {
            status = DCV_OK;
        }
        break;
    }
    curl_free(next);
    xfree(body);
    return status;
}

enum dcv_status dcv_check_http(const struct dcv_resolver *r, const char *host, const char *token,
                               const char *expected_body, char **why)
{
    assert(r && host && token && expected_body && why);
    int64_t deadline = util_mono_us() + (int64_t)r->http_timeout_ms * 1000;
    struct msg m = {.len = 0};
    msg_add(&m, "HTTP check of http://%s/.well-known/acme-challenge/%s", host, token);
    if (!http_host_ok(host) || !http_token_ok(token)) {
        msg_add(&m, " is not a valid challenge URL");
        return msg_finish(&m, DCV_ERROR, why);
    }

    char addrs[512];
    int st = http_resolve(r, host, deadline, addrs, sizeof addrs);
    if (st != ARES_SUCCESS) {
        msg_add(&m, " could not resolve %s: %s", host, ares_strerror(st));
        return msg_finish(&m, dns_is_absent(st) ? DCV_FAILED : DCV_ERROR, why);
    }

    char *pin = xasprintf("%s:%d:%s", host, r->http_port, addrs);
    char *url = xasprintf("http://%s:%d/.well-known/acme-challenge/%s", host, r->http_port, token);
    struct curl_slist *resolve = curl_slist_append(NULL, pin);
    CURL *curl = curl_easy_init();
    if (!curl || !resolve)
        abort(); /* out of memory: the alloc.h policy */
    curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never through http_proxy */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* followed by hand, same host only */
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)DCV_HTTP_BODY_MAX);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tlsward-dcv/" TLSWARD_VERSION);

    enum dcv_status status = http_fetch(r, curl, host, url, expected_body, deadline, &m);

    curl_easy_cleanup(curl);
    curl_slist_free_all(resolve);
    xfree(url);
    xfree(pin);
    if (status == DCV_OK)
        return DCV_OK;
    return msg_finish(&m, status, why);
}
