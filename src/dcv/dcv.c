/* Domain-control validation checks: TXT and CAA lookups through c-ares, the HTTP challenge
 * fetch through libcurl with its host name resolved by the same c-ares resolver and every
 * connection's address vetted by the SSRF guard.
 *
 * Each check opens its own c-ares channel and drives it synchronously (poll on the sockets
 * c-ares reports through its socket-state callback) until the answers arrive or the
 * resolver's deadline passes, then cancels what is left; a CAA check puts the queries for
 * every name up to the TLD in flight at once. Nothing here is shared between calls, so
 * checks on different threads never meet: dcv_check_batch runs one job's checks on a few
 * threads under one deadline. Messages are meant for a pack's validation_errors: bounded,
 * values quoted, the same for the same answer (TXT and CAA values are listed sorted, so a
 * round-robin server does not make them flap). */
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
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/text.h"
#include "common/util.h"
#include "core/caa.h"

#define DNS_CLASS_IN 1
#define DNS_TYPE_TXT 16
#define DNS_TYPE_CAA 257
#define DNS_MAX_SOCKS 16 /* one UDP and one TCP socket per server; resolv.conf has <= 3 */

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

/* Appends data quoted (text_quote), at most MSG_VALUE_MAX bytes of it shown. */
static void msg_add_quoted(struct msg *m, const unsigned char *data, size_t len)
{
    char q[TEXT_QUOTED_MAX(MSG_VALUE_MAX)];
    text_quote((const char *)data, len, MSG_VALUE_MAX, q, sizeof q);
    msg_add(m, "%s", q);
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
        .allow_private = false,
        .caa_identity = DCV_DEFAULT_CAA_IDENTITY,
        .budget_ms = DCV_DEFAULT_BUDGET_MS,
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

/* Runs ch until no query is *pending or the deadline (monotonic µs); at the deadline the
 * outstanding queries are cancelled, which completes them with ARES_ECANCELLED. */
static void dns_wait(ares_channel ch, struct dns_io *io, const int *pending, int64_t deadline)
{
    while (*pending > 0) {
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

/* The answer to one query: the raw message (caller xfree's buf) when status is success.
 * pending counts the queries of a channel still outstanding; each answer takes one off. */
struct dns_answer {
    int *pending;
    int status;
    unsigned char *buf;
    int len;
};

static void dns_query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_answer *a = arg;
    (*a->pending)--;
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
    int pending = 1;
    *a = (struct dns_answer){.pending = &pending};
    int rc = dns_open(r, &io, &ch);
    if (rc != ARES_SUCCESS)
        return rc;
    ares_query(ch, name, DNS_CLASS_IN, type, dns_query_done, a);
    dns_wait(ch, &io, &pending, util_mono_us() + (int64_t)r->dns_timeout_ms * 1000);
    ares_destroy(ch); /* completes anything left while `a` is still alive */
    a->pending = NULL;
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

static bool http_host_ok(const char *host);

/* ---- CAA --------------------------------------------------------------------------- */

/* The records of one answer as core/caa wants them (borrowing the reply's bytes). */
static struct caa_record *caa_records(const struct ares_caa_reply *reply, size_t *count)
{
    size_t n = 0;
    for (const struct ares_caa_reply *c = reply; c; c = c->next)
        n++;
    struct caa_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    n = 0;
    for (const struct ares_caa_reply *c = reply; c; c = c->next)
        recs[n++] = (struct caa_record){.flags = (unsigned)c->critical,
                                        .tag = (const char *)c->property,
                                        .tag_len = c->plength,
                                        .value = (const char *)c->value,
                                        .value_len = c->length};
    *count = n;
    return recs;
}

enum dcv_status dcv_check_caa(const struct dcv_resolver *r, const char *host, const char *ca,
                              const char *validation_method, char **why)
{
    assert(r && host && why);
    struct msg m = {.len = 0};
    struct caa_request req = {.ca = ca, .wildcard = strncmp(host, "*.", 2) == 0};
    req.identities[0] = caa_ca_identity(ca);
    if (!req.identities[0]) {
        msg_add(&m, "CAA check: unknown certificate authority \"%s\"", ca ? ca : "");
        return msg_finish(&m, DCV_ERROR, why);
    }
    req.identity_count = 1;
    /* Every pack is issued by the local CA, which answers to its own identity too. */
    if (r->caa_identity && r->caa_identity[0])
        req.identities[req.identity_count++] = r->caa_identity;
    if (caa_method_parse(validation_method, &req.method) < 0) {
        msg_add(&m, "CAA check: unknown validation method \"%s\"",
                validation_method ? validation_method : "");
        return msg_finish(&m, DCV_ERROR, why);
    }
    if (!http_host_ok(req.wildcard ? host + 2 : host)) {
        msg_add(&m, "CAA check: invalid host name");
        return msg_finish(&m, DCV_ERROR, why);
    }

    /* Every name from the host up to the TLD at once, on one channel, one deadline. */
    const char *names[CAA_NAMES_MAX];
    size_t n = caa_climb(host, names, CAA_NAMES_MAX);
    struct dns_answer *answers = xcalloc(n, sizeof *answers);
    struct dns_io io;
    ares_channel ch;
    int pending = (int)n;
    int st = dns_open(r, &io, &ch);
    if (st != ARES_SUCCESS) {
        xfree(answers);
        msg_add(&m, "DNS error at %s: %s", names[0], ares_strerror(st));
        return msg_finish(&m, DCV_ERROR, why);
    }
    for (size_t i = 0; i < n; i++) {
        answers[i].pending = &pending;
        ares_query(ch, names[i], DNS_CLASS_IN, DNS_TYPE_CAA, dns_query_done, &answers[i]);
    }
    dns_wait(ch, &io, &pending, util_mono_us() + (int64_t)r->dns_timeout_ms * 1000);
    ares_destroy(ch);

    /* The sets up to the first non-empty one; an error before it decides nothing. */
    struct caa_set *sets = xcalloc(n, sizeof *sets);
    struct ares_caa_reply **replies = xcalloc(n, sizeof *replies);
    enum dcv_status status = DCV_OK;
    size_t used = 0;
    for (size_t i = 0; i < n && status == DCV_OK; i++, used++) {
        sets[i].name = names[i];
        st = answers[i].status;
        if (st == ARES_ECANCELLED || st == ARES_EDESTRUCTION)
            st = ARES_ETIMEOUT;
        if (st == ARES_SUCCESS && answers[i].buf)
            st = ares_parse_caa_reply(answers[i].buf, answers[i].len, &replies[i]);
        else if (st == ARES_SUCCESS)
            st = ARES_ENODATA;
        if (st == ARES_SUCCESS) {
            sets[i].records = caa_records(replies[i], &sets[i].count);
            if (sets[i].count) {
                used++;
                break;
            }
        } else if (!dns_is_absent(st)) {
            msg_add(&m, "DNS error at %s: %s", names[i], ares_strerror(st));
            status = msg_finish(&m, DCV_ERROR, why);
        }
    }
    if (status == DCV_OK) {
        char reason[CAA_REASON_SIZE];
        if (caa_decide(sets, used, &req, reason) < 0) {
            msg_add(&m, "%s", reason);
            status = msg_finish(&m, DCV_FAILED, why);
        }
    }
    for (size_t i = 0; i < n; i++) {
        xfree((void *)sets[i].records);
        if (replies[i])
            ares_free_data(replies[i]);
        xfree(answers[i].buf);
    }
    xfree(replies);
    xfree(sets);
    xfree(answers);
    return status;
}

/* ---- HTTP -------------------------------------------------------------------------- */

/* The outcome of one ares_getaddrinfo (caller ares_freeaddrinfo's ai). */
struct dns_addrs {
    int pending;
    int status;
    struct ares_addrinfo *ai;
};

static void dns_addrs_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct dns_addrs *d = arg;
    d->pending--;
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
    struct dns_addrs d = {.pending = 1};
    int rc = dns_open(r, &io, &ch);
    if (rc != ARES_SUCCESS)
        return rc;
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    ares_getaddrinfo(ch, host, NULL, &hints, dns_addrs_done, &d);
    int64_t dns_deadline = util_mono_us() + (int64_t)r->dns_timeout_ms * 1000;
    dns_wait(ch, &io, &d.pending, dns_deadline < deadline ? dns_deadline : deadline);
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

/* ---- the address guard (SSRF) ---------------------------------------------------------- */

/* IPv4 ranges that are not the public Internet, as (network, prefix length, what). */
static const struct {
    uint32_t net;
    int bits;
    const char *kind;
} v4_blocked[] = {
    {0x00000000, 8, "unspecified"},     /* 0/8, "this network" */
    {0x0a000000, 8, "private"},         /* 10/8 */
    {0x64400000, 10, "shared (CGNAT)"}, /* 100.64/10 */
    {0x7f000000, 8, "loopback"},        /* 127/8 */
    {0xa9fe0000, 16, "link-local"},     /* 169.254/16 */
    {0xac100000, 12, "private"},        /* 172.16/12 */
    {0xc0a80000, 16, "private"},        /* 192.168/16 */
    {0xe0000000, 4, "multicast"},       /* 224/4 */
    {0xf0000000, 4, "reserved"},        /* 240/4, broadcast included */
};

static const char *v4_class(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4_blocked / sizeof v4_blocked[0]; i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_blocked[i].bits);
        if ((a & mask) == v4_blocked[i].net)
            return v4_blocked[i].kind;
    }
    return NULL;
}

const char *dcv_address_class(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return v4_class(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6)
        return "non-IP";
    const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    static const unsigned char zero[12] = {0},
                               mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
    if (memcmp(b, zero, 12) == 0) { /* ::, ::1, and the old IPv4-compatible ::a.b.c.d */
        if (v4 == 0)
            return "unspecified";
        if (v4 == 1)
            return "loopback";
        return v4_class(v4);
    }
    /* An IPv4 address in IPv6 clothes reaches the IPv4 address. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_class(v4);
    if ((b[0] & 0xfe) == 0xfc)
        return "unique-local"; /* fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local"; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "site-local"; /* fec0::/10, deprecated but never public */
    if (b[0] == 0xff)
        return "multicast";
    return NULL;
}

/* What the socket callback saw: the first address it refused. */
struct http_guard {
    bool allow_private;
    char refused[INET6_ADDRSTRLEN];
    const char *kind;
};

/* curl's CURLOPT_OPENSOCKETFUNCTION: the one place a connection is made, so the address
 * test runs on exactly the address connected to, on every redirect hop. */
static curl_socket_t http_open_socket(void *clientp, curlsocktype purpose,
                                      struct curl_sockaddr *addr)
{
    struct http_guard *g = clientp;
    (void)purpose;
    const char *kind = g->allow_private ? NULL : dcv_address_class(&addr->addr);
    if (kind) {
        if (!g->kind) {
            const void *src =
                addr->family == AF_INET6
                    ? (const void *)&((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr
                    : (const void *)&((struct sockaddr_in *)(void *)&addr->addr)->sin_addr;
            if (!inet_ntop(addr->family, src, g->refused, sizeof g->refused))
                snprintf(g->refused, sizeof g->refused, "?");
            g->kind = kind;
        }
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
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
                                           const struct http_body *body,
                                           const struct http_guard *guard, const char *host,
                                           struct msg *m)
{
    if (guard->kind && rc == CURLE_COULDNT_CONNECT) {
        msg_add(m,
                " refused to connect to %s (%s address of %s); --dcv-allow-private allows "
                "non-public addresses",
                guard->refused, guard->kind, host);
        return DCV_FAILED;
    }
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
                                  const struct http_guard *guard, struct msg *m)
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
            status = http_transfer_error(r, CURLE_OPERATION_TIMEDOUT, body, guard, host, m);
            break;
        }
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left_ms);
        body->len = 0;
        body->too_big = false;
        CURLcode rc = curl_easy_perform(curl);
        if (rc != CURLE_OK) {
            status = http_transfer_error(r, rc, body, guard, host, m);
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
    struct http_guard guard = {.allow_private = r->allow_private};
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &guard);

    enum dcv_status status = http_fetch(r, curl, host, url, expected_body, deadline, &guard, &m);

    curl_easy_cleanup(curl);
    curl_slist_free_all(resolve);
    xfree(url);
    xfree(pin);
    if (status == DCV_OK)
        return DCV_OK;
    return msg_finish(&m, status, why);
}
