/* Knot DNS for unit tests: knotd (Debian package knot) in the foreground on a free
 * 127.0.0.1 port picked at run time, its run directory, storage and zone files under a
 * temp dir, a TSIG key (hmac-sha256) and an ACL allowing updates signed with it. Each zone
 * has an SOA (negative TTL 1 s), NS, explicit `@` and `www` A records and `* A 127.0.0.1`
 * (a TXT at _acme-challenge.www would otherwise hide the wildcard for www).
 * tu_knot_txt reads the TXT values at a name with ldns. Header-only; include after
 * <cmocka.h>. */
#ifndef TLSWARD_TESTS_UNIT_TU_KNOT_H
#define TLSWARD_TESTS_UNIT_TU_KNOT_H

#include <ldns/ldns.h>

#include "common/alloc.h"
#include "dns/publish.h"
#include "tu_daemon.h"

#define TU_KNOT_KEY "tlsward-test"
#define TU_KNOT_SECRET "dGxzd2FyZC10ZXN0LXRzaWcta2V5LTMyLWJ5dGVzISE="
#define TU_KNOT_BINARY "/usr/sbin/knotd"
#define TU_KNOT_TSIG TU_KNOT_KEY ":hmac-sha256:" TU_KNOT_SECRET /* --dns-tsig */

struct tu_knot {
    char dir[64];
    char log[128];
    pid_t pid;
    int port;
    char server[32]; /* "127.0.0.1:PORT" */
};

static inline void tu_knot_write_zone(const char *dir, const char *zone, const char *const *extra)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.zone", dir, zone);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "$ORIGIN %s.\n$TTL 60\n", zone);
    fprintf(f, "@ SOA ns.%s. hostmaster.%s. 1 60 60 600 1\n", zone, zone);
    fprintf(f, "@ NS ns.%s.\nns A 127.0.0.1\n@ A 127.0.0.1\nwww A 127.0.0.1\n* A 127.0.0.1\n",
            zone);
    /* extra: "<zone> <record line>", written to that zone's file only. */
    size_t zlen = strlen(zone);
    for (int i = 0; extra && extra[i]; i++)
        if (strncmp(extra[i], zone, zlen) == 0 && extra[i][zlen] == ' ')
            fprintf(f, "%s\n", extra[i] + zlen + 1);
    fclose(f);
}

/* Starts knotd serving zones (NULL-terminated), each with the lines of extra (NULL or
 * NULL-terminated "<zone> <record line>") meant for it. 0 once it answers on TCP, -1 if
 * knotd is missing or did not come up (its log is printed). */
static inline int tu_knot_start_with(struct tu_knot *k, const char *const *zones,
                                     const char *const *extra)
{
    memset(k, 0, sizeof *k);
    if (access(TU_KNOT_BINARY, X_OK) != 0)
        return -1;
    snprintf(k->dir, sizeof k->dir, "/tmp/tw-knot-XXXXXX");
    if (!mkdtemp(k->dir))
        return -1;
    snprintf(k->log, sizeof k->log, "%s/knot.log", k->dir);
    if ((k->port = tu_free_port()) < 0)
        return -1;
    snprintf(k->server, sizeof k->server, "127.0.0.1:%d", k->port);
    char conf[160];
    snprintf(conf, sizeof conf, "%s/knot.conf", k->dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "server:\n    rundir: %s\n    listen: 127.0.0.1@%d\n", k->dir, k->port);
    fprintf(f, "database:\n    storage: %s\n", k->dir);
    fprintf(f, "key:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\n", TU_KNOT_KEY,
            TU_KNOT_SECRET);
    fprintf(f, "acl:\n  - id: update\n    key: %s\n    action: update\n", TU_KNOT_KEY);
    fprintf(f,
            "template:\n  - id: default\n    storage: %s\n    file: \"%%s.zone\"\n"
            "    acl: update\n    zonefile-sync: -1\n",
            k->dir);
    fprintf(f, "zone:\n");
    for (int i = 0; zones[i]; i++) {
        fprintf(f, "  - domain: %s\n", zones[i]);
        tu_knot_write_zone(k->dir, zones[i], extra);
    }
    fprintf(f, "log:\n  - target: stderr\n    any: info\n");
    fclose(f);
    char *argv[] = {TU_KNOT_BINARY, "-c", conf, NULL};
    k->pid = tu_daemon_spawn(k->log, argv, NULL);
    if (k->pid < 0) {
        k->pid = 0;
        return -1;
    }
    if (tu_daemon_wait(&k->pid, &k->port, 1, 250) == 0) /* 5 s */
        return 0;
    tu_daemon_print_log(k->log);
    return -1;
}

static inline int tu_knot_start(struct tu_knot *k, const char *const *zones)
{
    return tu_knot_start_with(k, zones, NULL);
}

/* A test set-up's start: knotd as tu_knot_start_with, or the test fails (fixture, the
 * set-up's allocation holding k, is freed first). */
static inline void tu_knot_start_or_fail(struct tu_knot *k, const char *const *zones,
                                         const char *const *extra, void *fixture)
{
    if (tu_knot_start_with(k, zones, extra) < 0) {
        xfree(fixture);
        fail_msg("knotd did not start (Debian package knot; scripts/deps.sh installs it)");
    }
}

/* Points d (initialised here) at k's server with k's TSIG key, as --dns-update and
 * --dns-tsig would. */
static inline void tu_knot_publish_to(const struct tu_knot *k, struct dns_publish *d)
{
    const char *why = NULL;
    dns_publish_init(d);
    assert_int_equal(dns_publish_set_server(d, k->server, &why), 0);
    assert_int_equal(dns_publish_set_tsig(d, TU_KNOT_TSIG, &why), 0);
}

static inline void tu_knot_stop(struct tu_knot *k)
{
    tu_daemon_stop(&k->pid);
    tu_daemon_remove_dir(k->dir);
}

/* The TXT values at name (one string per record, the first string only), sorted as the
 * server sends them, into values[0..max). Returns the count, or -1 on a DNS error. */
static inline int tu_knot_txt(const struct tu_knot *k, const char *name, char values[][128],
                              int max)
{
    ldns_resolver *res = ldns_resolver_new();
    ldns_rdf *ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "127.0.0.1");
    ldns_resolver_push_nameserver(res, ns);
    ldns_rdf_deep_free(ns);
    ldns_resolver_set_port(res, (uint16_t)k->port);
    ldns_resolver_set_recursive(res, false);
    ldns_resolver_set_usevc(res, true);
    ldns_rdf *qname = ldns_dname_new_frm_str(name);
    ldns_pkt *p = ldns_resolver_query(res, qname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0);
    int n = -1;
    if (p && (ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR ||
              ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN)) {
        n = 0;
        ldns_rr_list *ans = ldns_pkt_answer(p);
        for (size_t i = 0; i < ldns_rr_list_rr_count(ans) && n < max; i++) {
            ldns_rr *rr = ldns_rr_list_rr(ans, i);
            if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_rd_count(rr) < 1)
                continue;
            const ldns_rdf *s = ldns_rr_rdf(rr, 0);
            size_t len = ldns_rdf_size(s) - 1; /* a length byte, then the string */
            if (len >= 128)
                len = 127;
            memcpy(values[n], ldns_rdf_data(s) + 1, len);
            values[n][len] = '\0';
            n++;
        }
    }
    ldns_pkt_free(p);
    ldns_rdf_deep_free(qname);
    ldns_resolver_deep_free(res);
    return n;
}

#endif
