/* RFC 2136 updates with TSIG through ldns, and the --dns-hook alternative (publish.h). */
#include "dns/publish.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ldns/ldns.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/hook.h"
#include "common/util.h"

#define TSIG_ALGORITHM "hmac-sha256."
#define TSIG_FUDGE 300
#define ZONE_WALK_MAX 128 /* labels of the longest name */

void dns_publish_init(struct dns_publish *d)
{
    memset(d, 0, sizeof *d);
    d->timeout_ms = DNS_PUBLISH_TIMEOUT_MS;
    d->ttl = DNS_PUBLISH_TTL;
    d->hook_timeout_s = DNS_PUBLISH_HOOK_TIMEOUT_S;
}

int dns_publish_set_server(struct dns_publish *d, const char *arg, const char **why)
{
    char host[DNS_PUBLISH_SERVER_SIZE];
    const char *port = "53";
    size_t len = strlen(arg);
    if (len == 0 || len >= sizeof d->server) {
        *why = "expected IP:PORT or [IPv6]:PORT";
        return -1;
    }
    if (arg[0] == '[') {
        const char *end = strchr(arg, ']');
        if (!end || (end[1] && end[1] != ':')) {
            *why = "expected [IPv6]:PORT";
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(end - arg - 1), arg + 1);
        if (end[1])
            port = end + 2;
    } else {
        const char *colon = strchr(arg, ':');
        if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address */
            colon = NULL;
        }
        snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - arg) : (int)len, arg);
        if (colon)
            port = colon + 1;
    }
    long long p;
    if (util_parse_int(port, 1, 65535, &p) < 0) {
        *why = "the port must be 1 to 65535";
        return -1;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM},
                    *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        *why = "expected an IP address (host names are not resolved)";
        return -1;
    }
    memcpy(&d->addr, res->ai_addr, res->ai_addrlen);
    d->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(d->server, sizeof d->server, "%s", arg);
    return 0;
}

static bool base64_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DNS_PUBLISH_SECRET_MAX || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '+' && c != '/' && !(c == '=' && i >= n - 2))
            return false;
    }
    return true;
}

/* A domain name in text: LDH labels and '_' (key names and _acme-challenge), ≤253 bytes. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 254 || (n == 254 && s[253] != '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || ++label > 63)
            return false;
    }
    return true;
}

int dns_publish_set_tsig(struct dns_publish *d, const char *arg, const char **why)
{
    const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2) {
        *why = "expected NAME:hmac-sha256:BASE64";
        return -1;
    }
    size_t name_len = (size_t)(c1 - arg);
    if (name_len == 0 || name_len >= DNS_PUBLISH_NAME_SIZE - 1) {
        *why = "the key name must be a domain name";
        return -1;
    }
    char name[DNS_PUBLISH_NAME_SIZE];
    snprintf(name, sizeof name, "%.*s", (int)name_len, arg);
    if (!name_ok(name)) {
        *why = "the key name must be a domain name";
        return -1;
    }
    if ((size_t)(c2 - c1 - 1) != strlen("hmac-sha256") ||
        strncasecmp(c1 + 1, "hmac-sha256", strlen("hmac-sha256")) != 0) {
        *why = "the only algorithm supported is hmac-sha256";
        return -1;
    }
    if (!base64_ok(c2 + 1)) {
        *why = "the secret must be base64 (at most 256 characters)";
        return -1;
    }
    /* name_len < SIZE - 1 (checked above): there is room for the final dot. Copied by hand,
     * as snprintf here trips -Wformat-truncation in optimised builds. */
    memcpy(d->tsig_name, name, name_len);
    if (name[name_len - 1] != '.')
        d->tsig_name[name_len++] = '.';
    d->tsig_name[name_len] = '\0';
    snprintf(d->tsig_secret, sizeof d->tsig_secret, "%s", c2 + 1);
    return 0;
}

int dns_publish_check(const struct dns_publish *d, const char **why)
{
    if (d->server[0] && !d->tsig_name[0]) {
        *why = "--dns-update needs --dns-tsig (updates are always signed)";
        return -1;
    }
    if (!d->server[0] && d->tsig_name[0]) {
        *why = "--dns-tsig needs --dns-update";
        return -1;
    }
    return 0;
}

bool dns_publish_enabled(const struct dns_publish *d)
{
    return d->server[0] || (d->hook && *d->hook);
}

/* ---- messages ---- */

/* Sends pkt (signed when sign) over TCP and parses the answer into *reply; a signed
 * request needs a response whose TSIG verifies. 0, or -1 with why. */
static int exchange(const struct dns_publish *d, ldns_pkt *pkt, bool sign, ldns_pkt **reply,
                    char *why, size_t why_size)
{
    ldns_buffer *qbin = NULL;
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    int rc = -1;
    *reply = NULL;
    ldns_pkt_set_random_id(pkt);
    if (sign && ldns_pkt_tsig_sign(pkt, d->tsig_name, d->tsig_secret, TSIG_FUDGE, TSIG_ALGORITHM,
                                   NULL) != LDNS_STATUS_OK) {
        util_why(why, why_size, "cannot sign the DNS message with key %s", d->tsig_name);
        goto out;
    }
    qbin = ldns_buffer_new(LDNS_MAX_PACKETLEN);
    if (!qbin || ldns_pkt2buffer_wire(qbin, pkt) != LDNS_STATUS_OK) {
        util_why(why, why_size, "cannot encode the DNS message");
        goto out;
    }
    struct timeval tv = {.tv_sec = d->timeout_ms / 1000, .tv_usec = (d->timeout_ms % 1000) * 1000};
    ldns_status st = ldns_tcp_send(&wire, qbin, &d->addr, d->addr_len, tv, &wire_len);
    if (st != LDNS_STATUS_OK || !wire) {
        util_why(why, why_size, "DNS server %s did not answer: %s", d->server,
                 ldns_get_errorstr_by_id(st));
        goto out;
    }
    if (ldns_wire2pkt(reply, wire, wire_len) != LDNS_STATUS_OK) {
        util_why(why, why_size, "DNS server %s sent an answer that does not parse", d->server);
        goto out;
    }
    if (ldns_pkt_id(*reply) != ldns_pkt_id(pkt)) {
        util_why(why, why_size, "DNS server %s answered another message", d->server);
        goto out;
    }
    if (sign) {
        const ldns_rr *tsig = ldns_pkt_tsig(pkt);
        const ldns_rdf *mac = tsig ? ldns_rr_rdf(tsig, 3) : NULL;
        if (!ldns_pkt_tsig_verify(*reply, wire, wire_len, d->tsig_name, d->tsig_secret, mac)) {
            ldns_pkt_rcode rcode = ldns_pkt_get_rcode(*reply);
            if (rcode != LDNS_RCODE_NOERROR)
                util_why(why, why_size,
                         "DNS server %s refused the update (%s): TSIG key %s not accepted",
                         d->server, rcode == LDNS_RCODE_NOTAUTH ? "NOTAUTH" : "error",
                         d->tsig_name);
            else
                util_why(why, why_size, "the answer of DNS server %s has no valid TSIG", d->server);
            goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0 && *reply) {
        ldns_pkt_free(*reply);
        *reply = NULL;
    }
    free(wire);
    ldns_buffer_free(qbin);
    return rc;
}

static const char *rcode_name(ldns_pkt_rcode rcode)
{
    ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
    return t ? t->name : "error";
}

/* The owner (text, with its final dot) of the first SOA of list, or false. */
static bool soa_owner(const ldns_rr_list *list, char out[DNS_PUBLISH_NAME_SIZE])
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(list, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA)
            continue;
        char *s = ldns_rdf2str(ldns_rr_owner(rr));
        if (!s)
            return false;
        snprintf(out, DNS_PUBLISH_NAME_SIZE, "%s", s);
        free(s);
        return true;
    }
    return false;
}

/* The zone of `name` as the server says in one SOA answer: 1 found, 0 not here, -1 error. */
static int soa_at(const struct dns_publish *d, const char *name, char zone[DNS_PUBLISH_NAME_SIZE],
                  char *why, size_t why_size)
{
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    if (!qname) {
        util_why(why, why_size, "%s is not a domain name", name);
        return -1;
    }
    ldns_pkt *q = ldns_pkt_query_new(qname, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0), *a = NULL;
    int rc = exchange(d, q, false, &a, why, why_size);
    if (rc == 0) {
        ldns_pkt_rcode rcode = ldns_pkt_get_rcode(a);
        rc = 0;
        if ((rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN) &&
            (soa_owner(ldns_pkt_answer(a), zone) || soa_owner(ldns_pkt_authority(a), zone)))
            rc = 1;
        ldns_pkt_free(a);
    }
    ldns_pkt_free(q);
    return rc;
}

int dns_publish_zone_of(const struct dns_publish *d, const char *name,
                        char zone[DNS_PUBLISH_NAME_SIZE], char *why, size_t why_size)
{
    if (!d->server[0] || !name_ok(name)) {
        util_why(why, why_size, d->server[0] ? "%s is not a domain name" : "%s: no --dns-update",
                 name);
        return -1;
    }
    const char *at = name;
    for (int i = 0; i < ZONE_WALK_MAX && *at && strcmp(at, ".") != 0; i++) {
        int rc = soa_at(d, at, zone, why, why_size);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
        const char *dot = strchr(at, '.');
        if (!dot)
            break;
        at = dot + 1;
    }
    util_why(why, why_size, "no zone on DNS server %s holds %s", d->server, name);
    return -1;
}

/* A TXT value we put on the wire: printable ASCII without quotes or backslashes. */
static bool value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > DNS_PUBLISH_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' || v[i] == '\\')
            return false;
    return true;
}

/* One signed update of zone holding the single change `name ttl class TXT "value"`. */
static int update(const struct dns_publish *d, const char *zone, const char *name,
                  const char *value, bool add, char *why, size_t why_size)
{
    if (!d->server[0] || !d->tsig_name[0]) {
        util_why(why, why_size, "no --dns-update/--dns-tsig configured");
        return -1;
    }
    if (!name_ok(zone) || !name_ok(name) || !value_ok(value)) {
        util_why(why, why_size, "refusing to publish a malformed record at %s", name);
        return -1;
    }
    int rc = -1;
    ldns_rr *rr = ldns_rr_new();
    ldns_rr_list *changes = ldns_rr_list_new();
    ldns_pkt *u = NULL, *a = NULL;
    ldns_rdf *owner = ldns_dname_new_frm_str(name), *zone_rdf = ldns_dname_new_frm_str(zone);
    ldns_rdf *txt = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, value);
    if (!rr || !changes || !owner || !zone_rdf || !txt) {
        util_why(why, why_size, "cannot build the update of %s", name);
        ldns_rr_free(rr);
        ldns_rdf_deep_free(owner);
        ldns_rdf_deep_free(zone_rdf);
        ldns_rdf_deep_free(txt);
        goto out;
    }
    ldns_rr_set_owner(rr, owner);
    ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
    /* Adding: class IN with a TTL; deleting one record of a set: class NONE, TTL 0. */
    ldns_rr_set_class(rr, add ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE);
    ldns_rr_set_ttl(rr, add ? (uint32_t)d->ttl : 0);
    ldns_rr_push_rdf(rr, txt);
    ldns_rr_list_push_rr(changes, rr);
    u = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL, changes, NULL);
    if (!u) {
        util_why(why, why_size, "cannot build the update of %s", name);
        goto out;
    }
    if (exchange(d, u, true, &a, why, why_size) < 0)
        goto out;
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(a);
    if (rcode != LDNS_RCODE_NOERROR) {
        util_why(why, why_size, "DNS server %s answered %s to %s TXT at %s in zone %s", d->server,
                 rcode_name(rcode), add ? "adding" : "deleting", name, zone);
        goto out;
    }
    rc = 0;
out:
    ldns_pkt_free(a);
    ldns_pkt_free(u);
    ldns_rr_list_deep_free(changes);
    return rc;
}

int dns_publish_txt_add(const struct dns_publish *d, const char *zone, const char *name,
                        const char *value, char *why, size_t why_size)
{
    return update(d, zone, name, value, true, why, why_size);
}

int dns_publish_txt_delete(const struct dns_publish *d, const char *zone, const char *name,
                           const char *value, char *why, size_t why_size)
{
    return update(d, zone, name, value, false, why, why_size);
}

static int run_hook(const struct dns_publish *d, enum dns_publish_event event,
                    const char *zone_name, const char *name, const char *value, const char *pack_id,
                    char *why, size_t why_size)
{
    char *vars[6] = {
        xasprintf("TLSWARD_EVENT=%s", event == DNS_PUBLISH_PRESENT ? "present" : "cleanup"),
        xasprintf("TLSWARD_RECORD_NAME=%s", name),
        xasprintf("TLSWARD_RECORD_VALUE=%s", value),
        xasprintf("TLSWARD_ZONE=%s", zone_name ? zone_name : ""),
        xasprintf("TLSWARD_PACK_ID=%s", pack_id ? pack_id : ""),
        NULL};
    int rc =
        hook_run(d->hook, (const char *const *)vars, "dns hook", d->hook_timeout_s, why, why_size);
    for (int i = 0; vars[i]; i++)
        xfree(vars[i]);
    return rc;
}

int dns_publish_record(const struct dns_publish *d, enum dns_publish_event event,
                       const char *zone_name, const char *name, const char *value,
                       const char *pack_id, char *why, size_t why_size)
{
    if (d->server[0]) {
        char zone[DNS_PUBLISH_NAME_SIZE];
        if (dns_publish_zone_of(d, name, zone, why, why_size) < 0)
            return -1;
        return event == DNS_PUBLISH_PRESENT
                   ? dns_publish_txt_add(d, zone, name, value, why, why_size)
                   : dns_publish_txt_delete(d, zone, name, value, why, why_size);
    }
    if (d->hook && *d->hook)
        return run_hook(d, event, zone_name, name, value, pack_id, why, why_size);
    return 0;
}
