/* The TXT check of delegated DCV (validation method cname): the user points
 * _acme-challenge.<host> once, by CNAME, at a name in tlsward's DCV domain, where tlsward
 * publishes the TXT values itself. The check follows exactly one CNAME: the owner must be
 * a CNAME to the expected target, the target must not be a CNAME itself, and the TXT
 * values are read at the target (from the same answer when the resolver is recursive and
 * followed the CNAME, else by a second query). Queries and parsing go through ldns, which
 * shows every record of the answer section (c-ares's TXT parser hides the CNAME). */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/text.h"
#include "common/util.h"
#include "dcv/dcv.h"

#define SEEN_MAX 5 /* values listed in a message before "and N more" */
#define SEEN_VALUE_MAX 100

/* A resolver for r's server ("" = the system's), with r's timeout. NULL on failure. */
static ldns_resolver *resolver_for(const struct dcv_resolver *r)
{
    ldns_resolver *res = NULL;
    if (!r->dns_server[0])
        return ldns_resolver_new_frm_file(&res, NULL) == LDNS_STATUS_OK ? res : NULL;
    char host[DCV_SERVER_SIZE];
    long long port = 53; /* the address was checked when --dns-resolver was parsed */
    const char *colon = strrchr(r->dns_server, ':');
    if (r->dns_server[0] == '[') {
        const char *end = strchr(r->dns_server, ']');
        snprintf(host, sizeof host, "%.*s", end ? (int)(end - r->dns_server - 1) : 0,
                 r->dns_server + 1);
        if (end && end[1] == ':' && util_parse_int(end + 2, 1, 65535, &port) < 0)
            return NULL;
    } else if (colon && colon == strchr(r->dns_server, ':')) { /* IPv4:PORT */
        snprintf(host, sizeof host, "%.*s", (int)(colon - r->dns_server), r->dns_server);
        if (util_parse_int(colon + 1, 1, 65535, &port) < 0)
            return NULL;
    } else {
        snprintf(host, sizeof host, "%s", r->dns_server);
    }
    ldns_rdf *addr =
        ldns_rdf_new_frm_str(strchr(host, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, host);
    res = ldns_resolver_new();
    if (!addr || !res || ldns_resolver_push_nameserver(res, addr) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(addr);
        ldns_resolver_deep_free(res);
        return NULL;
    }
    ldns_rdf_deep_free(addr);
    ldns_resolver_set_port(res, (uint16_t)port);
    return res;
}

/* TXT query at name; the answer (caller ldns_pkt_free's) or NULL with why. */
static ldns_pkt *query_txt(const struct dcv_resolver *r, const char *name, char **why)
{
    ldns_resolver *res = resolver_for(r);
    if (!res) {
        *why = xasprintf("DNS error at %s: no resolver", name);
        return NULL;
    }
    int ms = r->dns_timeout_ms > 0 ? r->dns_timeout_ms : DCV_DEFAULT_TIMEOUT_MS;
    ldns_resolver_set_timeout(res,
                              (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000});
    ldns_resolver_set_retry(res, 1);
    ldns_resolver_set_recursive(res, true);
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    ldns_pkt *p = NULL;
    ldns_status st =
        qname ? ldns_resolver_send(&p, res, qname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD)
              : LDNS_STATUS_DOMAINNAME_OVERFLOW;
    if (st != LDNS_STATUS_OK || !p) {
        *why = xasprintf("DNS error at %s: %s", name, ldns_get_errorstr_by_id(st));
        ldns_pkt_free(p);
        p = NULL;
    } else if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR &&
               ldns_pkt_get_rcode(p) != LDNS_RCODE_NXDOMAIN) {
        ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(p));
        *why = xasprintf("DNS error at %s: %s", name, t ? t->name : "server failure");
        ldns_pkt_free(p);
        p = NULL;
    }
    ldns_rdf_deep_free(qname);
    ldns_resolver_deep_free(res);
    return p;
}

static bool same_name(const ldns_rdf *a, const char *b)
{
    ldns_rdf *rb = ldns_dname_new_frm_str(b);
    bool same = rb && ldns_dname_compare(a, rb) == 0;
    ldns_rdf_deep_free(rb);
    return same;
}

/* The record of `type` owned by `owner` in the answer section, or NULL. */
static const ldns_rr *find_rr(const ldns_pkt *p, const char *owner, ldns_rr_type type, size_t from)
{
    const ldns_rr_list *ans = ldns_pkt_answer(p);
    for (size_t i = from; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) == type && same_name(ldns_rr_owner(rr), owner))
            return rr;
    }
    return NULL;
}

/* The concatenated strings of a TXT record (heap, NUL-terminated; *len its length). */
static char *txt_value(const ldns_rr *rr, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
        total += ldns_rdf_size(ldns_rr_rdf(rr, i)) - 1;
    char *out = xmalloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *s = ldns_rr_rdf(rr, i);
        memcpy(out + o, ldns_rdf_data(s) + 1, ldns_rdf_size(s) - 1);
        o += ldns_rdf_size(s) - 1;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Looks for `expected` among the TXT records at target in p. */
static enum dcv_status verdict(const ldns_pkt *p, const char *name, const char *target,
                               const char *expected, char **why)
{
    const ldns_rr_list *ans = ldns_pkt_answer(p);
    size_t n = 0, cap = ldns_rr_list_rr_count(ans) + 1, want = strlen(expected);
    char **seen = xcalloc(cap, sizeof *seen);
    bool found = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || !same_name(ldns_rr_owner(rr), target))
            continue;
        size_t len;
        seen[n] = txt_value(rr, &len);
        found = found || (len == want && memcmp(seen[n], expected, want) == 0);
        n++;
    }
    enum dcv_status status = DCV_OK;
    if (!found) {
        qsort(seen, n, sizeof *seen, str_cmp);
        char list[SEEN_MAX * (TEXT_QUOTED_MAX(SEEN_VALUE_MAX) + 2) + 32] = "";
        size_t o = 0;
        for (size_t i = 0; i < n && i < SEEN_MAX; i++) {
            char q[TEXT_QUOTED_MAX(SEEN_VALUE_MAX)];
            text_quote(seen[i], strlen(seen[i]), SEEN_VALUE_MAX, q, sizeof q);
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", q);
        }
        if (n > SEEN_MAX)
            snprintf(list + o, sizeof list - o, " and %zu more", n - SEEN_MAX);
        *why = n ? xasprintf("TXT record not found at %s (the CNAME target of %s); saw %s", target,
                             name, list)
                 : xasprintf("no TXT records at %s (the CNAME target of %s)", target, name);
        status = DCV_FAILED;
    }
    for (size_t i = 0; i < n; i++)
        xfree(seen[i]);
    xfree(seen);
    return status;
}

enum dcv_status dcv_check_txt_delegated(const struct dcv_resolver *r, const char *name,
                                        const char *target, const char *expected, char **why)
{
    ldns_pkt *p = query_txt(r, name, why), *second = NULL;
    if (!p)
        return DCV_ERROR;
    enum dcv_status status = DCV_FAILED;
    const ldns_rr *cname = find_rr(p, name, LDNS_RR_TYPE_CNAME, 0);
    if (!cname) {
        *why =
            xasprintf("no CNAME at %s: delegated validation needs %s CNAME %s", name, name, target);
        goto out;
    }
    if (!same_name(ldns_rr_rdf(cname, 0), target)) {
        char *to = ldns_rdf2str(ldns_rr_rdf(cname, 0));
        char *shown = text_escape_dup(to ? to : "?", 0);
        *why = xasprintf("CNAME at %s points to %s, not to %s", name, shown, target);
        xfree(shown);
        free(to);
        goto out;
    }
    const ldns_pkt *at = p;
    if (!find_rr(p, target, LDNS_RR_TYPE_TXT, 0) && !find_rr(p, target, LDNS_RR_TYPE_CNAME, 0)) {
        /* A server that did not follow the CNAME (an authoritative one): ask the target. */
        second = query_txt(r, target, why);
        if (!second) {
            status = DCV_ERROR;
            goto out;
        }
        at = second;
    }
    if (find_rr(at, target, LDNS_RR_TYPE_CNAME, 0)) {
        *why = xasprintf("%s is itself a CNAME: delegated validation follows exactly one CNAME "
                         "(from %s)",
                         target, name);
        goto out;
    }
    status = verdict(at, name, target, expected, why);
out:
    ldns_pkt_free(second);
    ldns_pkt_free(p);
    return status;
}
