/* Unit tests of store_sqlite_to_pg (store/sqlite_to_pg.c, tlsward migrate): a SQLite store
 * populated through the store API (users, accounts, tokens, zones, packs with
 * certificates, a client CA with certificates and revocations, origin-pull certificates
 * and hostnames, jobs, ACME rows, HTTP challenges, DNS records, the built-in CA) is copied
 * into a database of a throwaway PostgreSQL cluster (tu_pg.h) and read back through the
 * store API on both sides: every object must answer the same. Also: the source file is
 * not changed, a database that holds a store is refused, an older source is refused with
 * nothing created, a copy that fails half-way leaves no row behind (and can be run again),
 * and the job ids go on after the highest copied one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "store/migrations.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL
#define T0 1700000000000000LL

/* Bytes every escaping rule of COPY's text format meets: backslash, tab, newline, CR. */
#define AWKWARD "back\\slash\ttab\nnew line\r\"quote\" 'single' \\N \\x00 ü"

/* Enumerated store values are names (text fields) on the branch this suite was written
 * on and enums once typed store values (STORE_ENUM_NAME/STORE_ENUM_PARSE) are in: the
 * suite sets them with SET_NAME, prints them with NAME_OF and passes them with *_arg,
 * so it compiles against either. */
#ifdef STORE_ENUM_NAME
#define SET_NAME(field, name) assert_int_equal(STORE_ENUM_PARSE(name, &(field)), 0)
#define NAME_OF(v) STORE_ENUM_NAME(v)
static enum store_aop_kind aop_kind_arg(const char *name)
{
    enum store_aop_kind v;
    assert_int_equal(STORE_ENUM_PARSE(name, &v), 0);
    return v;
}
static enum pack_ca ca_arg(const char *name)
{
    enum pack_ca v;
    assert_int_equal(STORE_ENUM_PARSE(name, &v), 0);
    return v;
}
static enum store_key_type key_type_arg(const char *name)
{
    enum store_key_type v;
    assert_int_equal(STORE_ENUM_PARSE(name, &v), 0);
    return v;
}
#else
#define SET_NAME(field, name) snprintf(field, sizeof field, "%s", name)
#define NAME_OF(v) (v)
static const char *aop_kind_arg(const char *name)
{
    return name;
}
static const char *ca_arg(const char *name)
{
    return name;
}
static const char *key_type_arg(const char *name)
{
    return name;
}
#endif

static const unsigned char sealed[] = {0x00, 0x5c, 0x09, 0x0a, 0x0d, 0xff, 0x4e, 0x00, 0x78};

struct ids {
    char user[STORE_ID_SIZE], account[STORE_ID_SIZE], token[STORE_ID_SIZE];
    unsigned char token_hash[32];
    char zones[3][STORE_ID_SIZE];
    char packs[4][STORE_ID_SIZE];
    char ca[STORE_UUID_SIZE];
    char client[3][STORE_ID_SIZE];
    char aop[2][STORE_ID_SIZE];
};

struct fixture {
    char *dir, *path, *uri;
    struct ids ids;
};

static void make_id(char out[STORE_ID_SIZE], unsigned kind, unsigned n)
{
    snprintf(out, STORE_ID_SIZE, "%x%031x", kind, n);
}

static void add_zone(struct store *s, struct ids *ids, int i, const char *name, int64_t created)
{
    struct store_zone z = {.universal_ssl = i != 1,
                           .advanced_quota = 7 + i,
                           .created_on = created,
                           .modified_on = created + 1,
                           .activated_on = created + 2};
    make_id(z.id, 0xc, (unsigned)(10 - i)); /* ids sort against creation order */
    snprintf(z.account_id, sizeof z.account_id, "%s", ids->account);
    snprintf(z.name, sizeof z.name, "%s", name);
    SET_NAME(z.type, "full");
    SET_NAME(z.status, "active");
    assert_int_equal(store_zone_create(s, &z), STORE_OK);
    snprintf(ids->zones[i], STORE_ID_SIZE, "%s", z.id);
}

static void add_pack(struct store *s, struct ids *ids, int i, const char *zone, const char *status,
                     int64_t created)
{
    struct store_pack p = {.validity_days = 90,
                           .status_since = created,
                           .cloudflare_branding = i == 0,
                           .created_on = created,
                           .modified_on = created};
    make_id(p.id, 0xe, (unsigned)(created - T0)); /* created is unique per pack */
    snprintf(p.zone_id, sizeof p.zone_id, "%s", zone);
    SET_NAME(p.type, "advanced");
    SET_NAME(p.status, status);
    SET_NAME(p.certificate_authority, "lets_encrypt");
    SET_NAME(p.validation_method, "txt");
    tu_pack_set(&p, TU_HOSTS, "[\"example.com\",\"*.example.com\"]");
    assert_non_null(store_pack_error_add(&p, AWKWARD)); /* its JSON text escapes some */
    assert_int_equal(store_pack_create(s, &p), STORE_OK);
    snprintf(ids->packs[i], STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

/* Generation 1 of pack i (two certificates), through an update as the worker does it. */
static void add_pack_certs(struct store *s, const char *pack_id)
{
    struct store_pack p;
    assert_int_equal(store_pack_by_id(s, pack_id, &p), STORE_OK);
    p.cert_generation = 1;
    struct store_pack_cert c[2];
    for (int k = 0; k < 2; k++) {
        memset(&c[k], 0, sizeof c[k]);
        make_id(c[k].id, 0xf, (unsigned)k + 1);
        snprintf(c[k].pack_id, sizeof c[k].pack_id, "%s", pack_id);
        c[k].generation = 1;
        c[k].priority = k + 1;
        SET_NAME(c[k].key_type, k ? "rsa" : "ecdsa");
        snprintf(c[k].signature, sizeof c[k].signature, "%s",
                 k ? "SHA256WithRSA" : "ECDSAWithSHA256");
        snprintf(c[k].issuer, sizeof c[k].issuer, "tlsward Local Issuing CA");
        snprintf(c[k].serial, sizeof c[k].serial, "0a0b0c%d", k);
        c[k].chain_pem = xasprintf("-----BEGIN CERTIFICATE-----\nMII%d\r\n-----END "
                                   "CERTIFICATE-----\n",
                                   k);
        c[k].key_sealed_len = sizeof sealed - (size_t)k;
        c[k].key_sealed = xmalloc(c[k].key_sealed_len);
        memcpy(c[k].key_sealed, sealed + k, c[k].key_sealed_len);
        c[k].not_before = T0 + k;
        c[k].expires_on = T0 + 90 * 86400 * SEC + k;
        c[k].uploaded_on = c[k].modified_on = T0 + 5 + k;
    }
    assert_int_equal(store_pack_update_with_certs(s, &p, c, 2, NULL, NULL, 0, T0), STORE_OK);
    store_pack_cert_clear(&c[0]);
    store_pack_cert_clear(&c[1]);
    store_pack_clear(&p);
}

static void add_client_cert(struct store *s, struct ids *ids, int i, const char *zone)
{
    struct store_client_cert c = {.validity_days = 365,
                                  .issued_on = T0 + i,
                                  .expires_on = T0 + 365 * 86400 * SEC,
                                  .created_on = T0 + i,
                                  .modified_on = T0 + i};
    make_id(c.id, 0xd, (unsigned)i + 1);
    snprintf(c.zone_id, sizeof c.zone_id, "%s", zone);
    snprintf(c.ca_id, sizeof c.ca_id, "%s", ids->ca);
    SET_NAME(c.status, "active");
    snprintf(c.serial, sizeof c.serial, "5e%d", i);
    snprintf(c.fingerprint, sizeof c.fingerprint, "%064d", i);
    snprintf(c.ski, sizeof c.ski, "51%d", i);
    snprintf(c.signature, sizeof c.signature, "SHA256WithRSA");
    snprintf(c.common_name, sizeof c.common_name, "client %d", i);
    snprintf(c.organization, sizeof c.organization, "%s", AWKWARD);
    c.csr = xstrdup("-----BEGIN CERTIFICATE REQUEST-----\nMIIcsr\n-----END CERTIFICATE "
                    "REQUEST-----\n");
    c.certificate = xstrdup("-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n");
    assert_int_equal(store_client_cert_create(s, &c), STORE_OK);
    snprintf(ids->client[i], STORE_ID_SIZE, "%s", c.id);
    store_client_cert_clear(&c);
}

static void add_aop(struct store *s, struct ids *ids, int i, const char *kind)
{
    struct store_aop_cert c = {.expires_on = T0 + 1000 * SEC,
                               .uploaded_on = T0 + i,
                               .updated_on = T0 + i,
                               .key_sealed = (unsigned char *)sealed,
                               .key_sealed_len = sizeof sealed};
    make_id(c.id, 0xa, (unsigned)i + 1);
    snprintf(c.zone_id, sizeof c.zone_id, "%s", ids->zones[0]);
    SET_NAME(c.kind, kind);
    SET_NAME(c.status, "initializing");
    snprintf(c.issuer, sizeof c.issuer, "Origin Pull CA");
    snprintf(c.serial, sizeof c.serial, "a0%d", i);
    snprintf(c.signature, sizeof c.signature, "ECDSAWithSHA256");
    c.certificate = "-----BEGIN CERTIFICATE-----\nMIIaop\n-----END CERTIFICATE-----\n";
    assert_int_equal(store_aop_cert_create(s, &c, 10), STORE_OK);
    snprintf(ids->aop[i], STORE_ID_SIZE, "%s", c.id);
}

/* Fills a SQLite store with a bit of everything, through the store API alone. */
static void populate(struct store *s, struct ids *ids)
{
    struct store_user u = {.created_on = T0};
    make_id(u.id, 0x1, 1);
    snprintf(u.email, sizeof u.email, "Owner@Example.com");
    memcpy(u.key_hash, sealed, sizeof sealed);
    assert_int_equal(store_user_create(s, &u), STORE_OK);
    snprintf(ids->user, sizeof ids->user, "%s", u.id);
    struct store_account a = {.created_on = T0};
    make_id(a.id, 0x2, 1);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", u.id);
    snprintf(a.name, sizeof a.name, "%s", AWKWARD);
    assert_int_equal(store_account_create(s, &a), STORE_OK);
    snprintf(ids->account, sizeof ids->account, "%s", a.id);

    add_zone(s, ids, 0, "alpha.example", T0 + 30);
    add_zone(s, ids, 1, "beta.example", T0 + 10);
    add_zone(s, ids, 2, "gamma.example", T0 + 20);
    struct store_token t = {.permissions = 0x5a5, .expires_on = T0 + 99, .created_on = T0};
    make_id(t.id, 0x3, 1);
    snprintf(t.account_id, sizeof t.account_id, "%s", a.id);
    for (int i = 0; i < 32; i++)
        t.hash[i] = (unsigned char)(i * 37 + 1);
    t.hash[3] = 0;
    snprintf(t.zone_scope, sizeof t.zone_scope, "%s %s", ids->zones[0], ids->zones[1]);
    assert_int_equal(store_token_create(s, &t), STORE_OK);
    snprintf(ids->token, sizeof ids->token, "%s", t.id);
    memcpy(ids->token_hash, t.hash, 32);

    add_pack(s, ids, 0, ids->zones[0], "active", T0 + 1);
    add_pack(s, ids, 1, ids->zones[0], "pending_validation", T0 + 2);
    add_pack(s, ids, 2, ids->zones[0], "deleted", T0 + 3);
    add_pack(s, ids, 3, ids->zones[1], "active", T0 + 4);
    add_pack_certs(s, ids->packs[0]);
    assert_int_equal(store_zone_ssl_mode_set(s, ids->zones[1], "custom", T0 + 50), STORE_OK);

    snprintf(ids->ca, sizeof ids->ca, "11111111-2222-4333-8444-555555555555");
    static const unsigned char crl[] = {0x30, 0x82, 0x00, 0x5c, 0x0a, 0x09, 0xff};
    struct store_client_ca ca = {.cert_pem = "-----BEGIN CERTIFICATE-----\nMIIca\n-----END "
                                             "CERTIFICATE-----\n",
                                 .key_sealed = (unsigned char *)sealed,
                                 .key_sealed_len = sizeof sealed,
                                 .crl_number = 3,
                                 .crl_der = (unsigned char *)crl,
                                 .crl_len = sizeof crl,
                                 .crl_next_update = T0 + 7 * 86400 * SEC,
                                 .created_on = T0};
    snprintf(ca.id, sizeof ca.id, "%s", ids->ca);
    snprintf(ca.account_id, sizeof ca.account_id, "%s", a.id);
    snprintf(ca.name, sizeof ca.name, "tlsward Managed CA");
    assert_int_equal(store_client_ca_create(s, &ca, T0 + 86400 * SEC), STORE_OK);
    add_client_cert(s, ids, 0, ids->zones[0]);
    add_client_cert(s, ids, 1, ids->zones[0]);
    add_client_cert(s, ids, 2, ids->zones[2]);

    add_aop(s, ids, 0, "zone");
    add_aop(s, ids, 1, "hostname");
    struct store_aop_hostname h = {.enabled = 1};
    snprintf(h.hostname, sizeof h.hostname, "www.alpha.example");
    snprintf(h.cert_id, sizeof h.cert_id, "%s", ids->aop[1]);
    assert_int_equal(store_aop_hostnames_put(s, ids->zones[0], &h, 1, T0 + 7), STORE_OK);
    assert_int_equal(store_aop_settings_set(s, ids->zones[0], true), STORE_OK);

    struct store_local_ca lca = {.root_pem = "root pem\n",
                                 .intermediate_pem = "intermediate pem\n",
                                 .root_key_sealed = (unsigned char *)sealed,
                                 .root_key_sealed_len = sizeof sealed,
                                 .intermediate_key_sealed = (unsigned char *)sealed + 1,
                                 .intermediate_key_sealed_len = sizeof sealed - 1,
                                 .created_on = T0};
    assert_int_equal(store_local_ca_create(s, &lca), STORE_OK);

    struct store_acme_account aa = {.key_sealed = (unsigned char *)sealed,
                                    .key_sealed_len = sizeof sealed,
                                    .created_on = T0,
                                    .updated_on = T0};
    snprintf(aa.account_id, sizeof aa.account_id, "%s", a.id);
    SET_NAME(aa.ca, "lets_encrypt");
    snprintf(aa.directory_url, sizeof aa.directory_url, "https://acme.test/dir");
    assert_int_equal(store_acme_account_create(s, &aa), STORE_OK);
    struct store_acme_order o = {.authz_urls = "https://acme.test/a/1\nhttps://acme.test/a/2",
                                 .expires_on = T0 + 9,
                                 .created_on = T0,
                                 .updated_on = T0};
    snprintf(o.pack_id, sizeof o.pack_id, "%s", ids->packs[1]);
    SET_NAME(o.key_type, "ecdsa");
    snprintf(o.order_url, sizeof o.order_url, "https://acme.test/o/1");
    snprintf(o.finalize_url, sizeof o.finalize_url, "https://acme.test/f/1");
    snprintf(o.status, sizeof o.status, "pending");
    assert_int_equal(store_acme_order_put(s, &o), STORE_OK); /* key_sealed NULL */
    struct store_acme_cert ac = {.leaf_pem = "leaf\n", .created_on = T0};
    make_id(ac.cert_id, 0x4, 1);
    snprintf(ac.pack_id, sizeof ac.pack_id, "%s", ids->packs[0]);
    snprintf(ac.account_id, sizeof ac.account_id, "%s", a.id);
    SET_NAME(ac.ca, "lets_encrypt");
    snprintf(ac.serial, sizeof ac.serial, "ac01");
    assert_int_equal(store_acme_cert_create(s, &ac), STORE_OK);

    struct store_http_challenge hc = {.token = "tok-1", .body = "tok-1.thumb"};
    assert_int_equal(store_http_challenges_put(s, ids->packs[1], &hc, 1), STORE_OK);
    struct store_dns_record r = {.published = false};
    snprintf(r.pack_id, sizeof r.pack_id, "%s", ids->packs[1]);
    snprintf(r.name, sizeof r.name, "_acme-challenge.alpha.example");
    snprintf(r.value, sizeof r.value, "txt-value");
    snprintf(r.zone, sizeof r.zone, "alpha.example");
    assert_int_equal(store_dns_record_intent(s, &r, T0), STORE_OK);

    assert_int_equal(store_job_schedule(s, "test.kind", "target\t1", T0 + 123), STORE_OK);
    /* Zone 2 is being deleted: its client certificate is revoked into the CA's list. */
    assert_int_equal(store_zone_delete_request(s, ids->zones[2], T0 + 60), STORE_OK);
}

/* ---- a canonical text of everything the store API shows ---- */

static void put(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *line = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    char *joined = xasprintf("%s%s\n", *out ? *out : "", line);
    xfree(line);
    xfree(*out);
    *out = joined;
}

static void put_hex(char **out, const char *what, const unsigned char *p, size_t n)
{
    char *hex = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", p[i]);
    hex[2 * n] = '\0';
    put(out, "%s[%zu]=%s", what, n, p ? hex : "NULL");
    xfree(hex);
}

static void dump_packs(struct store *s, char **out, const char *zone, bool active_only,
                       bool include_deleted)
{
    struct store_pack_filter f = {.zone_id = zone,
                                  .active_only = active_only,
                                  .include_deleted = include_deleted,
                                  .limit = 50};
    struct store_pack *list = NULL;
    int count = 0, total = 0;
    assert_int_equal(store_pack_list(s, &f, &list, &count, &total), STORE_OK);
    put(out, "packs %s active_only=%d deleted=%d count=%d total=%d", zone, active_only,
        include_deleted, count, total);
    for (int i = 0; i < count; i++) {
        struct store_pack *p = &list[i];
        char *texts[4];
        for (int a = 0; a < 4; a++)
            texts[a] = tu_pack_text(p, (enum store__pack_array)a);
        put(out, " pack %s %s %s %s %lld %s %s %d %d %s %s %s %s %d %d %d %d %lld %lld", p->id,
            p->zone_id, NAME_OF(p->type), NAME_OF(p->status), (long long)p->status_since,
            NAME_OF(p->certificate_authority), NAME_OF(p->validation_method), p->validity_days,
            p->cloudflare_branding, texts[TU_HOSTS], texts[TU_RECORDS], texts[TU_ERRORS],
            texts[TU_DELEGATION], p->check_failures, p->renewal_failures, p->cert_generation,
            p->version, (long long)p->created_on, (long long)p->modified_on);
        for (int a = 0; a < 4; a++)
            xfree(texts[a]);
        struct store_pack_cert *certs = NULL;
        int n = 0;
        assert_int_equal(store_pack_certs(s, p->id, p->cert_generation, &certs, &n), STORE_OK);
        for (int k = 0; k < n; k++) {
            struct store_pack_cert *c = &certs[k];
            put(out, "  cert %s %d %d %s %s %s %s %s %lld %lld %lld %lld", c->id, c->generation,
                c->priority, NAME_OF(c->key_type), c->signature, c->issuer, c->serial, c->chain_pem,
                (long long)c->not_before, (long long)c->expires_on, (long long)c->uploaded_on,
                (long long)c->modified_on);
            put_hex(out, "  key", c->key_sealed, c->key_sealed_len);
        }
        store_pack_cert_list_free(certs, n);
    }
    store_pack_list_free(list, count);
}

static void dump_zone(struct store *s, char **out, const char *zone_id)
{
    struct store_zone z;
    int rc = store_zone_get_any(s, zone_id, &z);
    assert_int_equal(rc, STORE_OK);
    put(out, "zone %s %s %s %s %s %d %d %lld %lld %lld %s %s %s %lld", z.id, z.account_id, z.name,
        NAME_OF(z.type), NAME_OF(z.status), z.universal_ssl, z.advanced_quota,
        (long long)z.created_on, (long long)z.modified_on, (long long)z.activated_on,
        z.account_name, z.owner_user_id, z.owner_email, (long long)z.deleting_on);
    char mode[STORE_SSL_MODE_SIZE] = "";
    int64_t mode_on = 0;
    bool aop = false;
    if (z.deleting_on == 0) {
        assert_int_equal(store_zone_ssl_mode_get(s, zone_id, mode, &mode_on), STORE_OK);
        assert_int_equal(store_aop_settings_get(s, zone_id, &aop), STORE_OK);
        int allocated = 0, used = 0;
        assert_int_equal(store_pack_quota(s, zone_id, &allocated, &used), STORE_OK);
        put(out, " ssl_mode %s %lld aop %d quota %d/%d", mode, (long long)mode_on, aop, used,
            allocated);
    }
    dump_packs(s, out, zone_id, true, false);
    dump_packs(s, out, zone_id, false, false);
    dump_packs(s, out, zone_id, false, true);
    struct store_client_cert_filter cf = {.zone_id = zone_id, .limit = 50};
    struct store_client_cert *certs = NULL;
    int count = 0, total = 0;
    assert_int_equal(store_client_cert_list(s, &cf, &certs, &count, &total), STORE_OK);
    put(out, " client certs count=%d total=%d", count, total);
    for (int i = 0; i < count; i++) {
        struct store_client_cert *c = &certs[i];
        put(out, "  %s %s %s %s %s %s %s %s %s %s %s %d %lld %lld %lld %lld %lld", c->id, c->ca_id,
            NAME_OF(c->status), c->serial, c->fingerprint, c->ski, c->common_name, c->organization,
            c->csr, c->certificate, c->signature, c->validity_days, (long long)c->issued_on,
            (long long)c->expires_on, (long long)c->revoked_on, (long long)c->created_on,
            (long long)c->modified_on);
    }
    store_client_cert_list_free(certs, count);
    for (int k = 0; k < 2 && z.deleting_on == 0; k++) {
        struct store_aop_cert *aops = NULL;
        int n = 0;
        assert_int_equal(
            store_aop_cert_list(s, zone_id, aop_kind_arg(k ? "hostname" : "zone"), &aops, &n),
            STORE_OK);
        for (int i = 0; i < n; i++) {
            put(out, " aop %s %s %s %s %s %s %s %lld %lld %lld", aops[i].id, NAME_OF(aops[i].kind),
                NAME_OF(aops[i].status), aops[i].issuer, aops[i].serial, aops[i].signature,
                aops[i].certificate, (long long)aops[i].expires_on, (long long)aops[i].uploaded_on,
                (long long)aops[i].updated_on);
            put_hex(out, "  key", aops[i].key_sealed, aops[i].key_sealed_len);
        }
        store_aop_cert_list_free(aops, n);
    }
}

/* Everything the store API shows about the populated objects, as text. */
static char *dump(struct store *s, const struct ids *ids)
{
    char *out = NULL;
    struct store_user u;
    assert_int_equal(store_user_by_email(s, "Owner@Example.com", &u), STORE_OK);
    put(&out, "user %s %s %lld", u.id, u.email, (long long)u.created_on);
    put_hex(&out, " key_hash", u.key_hash, sizeof u.key_hash);
    struct store_account a;
    assert_int_equal(store_account_get(s, ids->account, &a), STORE_OK);
    put(&out, "account %s %s %s %lld", a.id, a.name, a.owner_user_id, (long long)a.created_on);
    struct store_token t;
    assert_int_equal(store_token_by_hash(s, ids->token_hash, &t), STORE_OK);
    put(&out, "token %s %s %u [%s] %lld %lld %lld", t.id, t.account_id, t.permissions, t.zone_scope,
        (long long)t.expires_on, (long long)t.revoked_on, (long long)t.created_on);

    struct store_zone_filter zf = {.who.account_id = ids->account, .limit = 50};
    struct store_zone *zones = NULL;
    int count = 0, total = 0;
    assert_int_equal(store_zone_list(s, &zf, &zones, &count, &total), STORE_OK);
    put(&out, "zone list count=%d total=%d", count, total);
    for (int i = 0; i < count; i++)
        put(&out, " %s %s", zones[i].id, zones[i].name);
    xfree(zones);
    for (int i = 0; i < 3; i++)
        dump_zone(s, &out, ids->zones[i]);

    struct store_client_ca ca;
    assert_int_equal(store_client_ca_by_account(s, ids->account, &ca), STORE_OK);
    put(&out, "ca %s %s %s %llu %lld %lld", ca.id, ca.name, ca.cert_pem,
        (unsigned long long)ca.crl_number, (long long)ca.crl_next_update, (long long)ca.created_on);
    put_hex(&out, " key", ca.key_sealed, ca.key_sealed_len);
    put_hex(&out, " crl", ca.crl_der, ca.crl_len);
    store_client_ca_clear(&ca);
    struct store_revocation *revs = NULL;
    assert_int_equal(store_client_ca_revocations(s, ids->ca, &revs, &count), STORE_OK);
    for (int i = 0; i < count; i++)
        put(&out, " revoked %s %lld", revs[i].serial, (long long)revs[i].revoked_on);
    xfree(revs);

    struct store_aop_hostname h;
    assert_int_equal(store_aop_hostname_get(s, ids->zones[0], "www.alpha.example", &h), STORE_OK);
    put(&out, "aop hostname %s %s %d %lld %lld", h.hostname, h.cert_id, h.enabled,
        (long long)h.created_at, (long long)h.updated_at);

    struct store_local_ca lca;
    assert_int_equal(store_local_ca_get(s, &lca), STORE_OK);
    put(&out, "local ca %s %s %lld", lca.root_pem, lca.intermediate_pem, (long long)lca.created_on);
    put_hex(&out, " root", lca.root_key_sealed, lca.root_key_sealed_len);
    put_hex(&out, " intermediate", lca.intermediate_key_sealed, lca.intermediate_key_sealed_len);
    store_local_ca_clear(&lca);

    struct store_acme_account aa;
    assert_int_equal(store_acme_account_get(s, ids->account, ca_arg("lets_encrypt"),
                                            "https://acme.test/dir", &aa),
                     STORE_OK);
    put(&out, "acme account [%s] %lld %lld", aa.account_url, (long long)aa.created_on,
        (long long)aa.updated_on);
    put_hex(&out, " key", aa.key_sealed, aa.key_sealed_len);
    store_acme_account_clear(&aa);
    struct store_acme_order o;
    assert_int_equal(store_acme_order_get(s, ids->packs[1], key_type_arg("ecdsa"), &o), STORE_OK);
    put(&out, "acme order %s %s %s [%s] %s %lld", o.order_url, o.authz_urls, o.finalize_url,
        o.certificate_url, o.status, (long long)o.expires_on);
    put_hex(&out, " key", o.key_sealed, o.key_sealed_len);
    store_acme_order_clear(&o);
    struct store_acme_cert ac;
    char cert_id[STORE_ID_SIZE];
    make_id(cert_id, 0x4, 1);
    assert_int_equal(store_acme_cert_get(s, cert_id, &ac), STORE_OK);
    put(&out, "acme cert %s %s %s %lld %lld", ac.pack_id, ac.serial, ac.leaf_pem,
        (long long)ac.revoked_on, (long long)ac.created_on);
    store_acme_cert_clear(&ac);

    struct store_http_challenge *hc = NULL;
    assert_int_equal(store_http_challenges_of(s, ids->packs[1], &hc, &count), STORE_OK);
    for (int i = 0; i < count; i++)
        put(&out, "http %s %s", hc[i].token, hc[i].body);
    xfree(hc);
    struct store_dns_record *dns = NULL;
    assert_int_equal(store_dns_records(s, ids->packs[1], &dns, &count), STORE_OK);
    for (int i = 0; i < count; i++)
        put(&out, "dns %s %s %s %d", dns[i].name, dns[i].value, dns[i].zone, dns[i].published);
    xfree(dns);

    int depth = 0;
    int64_t lag = 0, next = 0;
    assert_int_equal(store_job_stats(s, T0, &depth, &lag), STORE_OK);
    assert_int_equal(store_job_next_due(s, &next), STORE_OK);
    put(&out, "jobs depth=%d next=%lld", depth, (long long)next);
    return out;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    struct store *s = NULL;
    fx->dir = xstrdup("/tmp/tlsward-test-mig-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->path = xasprintf("%s/tlsward.db", fx->dir);
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 2, &s), STORE_OK);
    populate(s, &fx->ids);
    store_close(s);
    fx->uri = tu_pg_database();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    tu_remove_tree(fx->dir);
    xfree(fx->dir);
    xfree(fx->path);
    xfree(fx->uri);
    xfree(fx);
    return 0;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *p = xmalloc((size_t)n);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static char *dump_of(const char *location, const struct ids *ids)
{
    struct store *s = NULL;
    assert_int_equal(store_open(location, STORE_OPEN_EXISTING, 1, &s), STORE_OK);
    char *d = dump(s, ids);
    store_close(s);
    return d;
}

struct progress_log {
    int calls;
    char last[STORE_MIGRATE_NAME_SIZE];
};

static void on_table(const char *table, int64_t rows, void *ctx)
{
    struct progress_log *p = ctx;
    p->calls++;
    snprintf(p->last, sizeof p->last, "%s", table);
    assert_true(rows >= 0);
}

/* ---- tests ---- */

static void test_everything_reads_back_the_same(void **state)
{
    struct fixture *fx = *state;
    char *before = dump_of(fx->path, &fx->ids);
    size_t len0 = 0, len1 = 0;
    unsigned char *bytes0 = read_file(fx->path, &len0);

    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    struct progress_log log = {0};
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, on_table, &log, res), STORE_OK);

    /* The source is unchanged, byte for byte. */
    unsigned char *bytes1 = read_file(fx->path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(bytes0, bytes1, len0);
    /* ... and the reader's -wal and -shm files are gone again (nobody else had it open). */
    for (int i = 0; i < 2; i++) {
        char *side = xasprintf("%s%s", fx->path, i ? "-shm" : "-wal");
        assert_int_equal(access(side, F_OK), -1);
        xfree(side);
    }

    /* Every table, with the source's row count on both sides. */
    assert_int_equal(res->ntables, log.calls);
    assert_true(res->ntables >= 17);
    bool saw_packs = false, saw_certs = false;
    for (int i = 0; i < res->ntables; i++) {
        char *q = xasprintf("SELECT count(*) FROM %s", res->tables[i].name);
        assert_int_equal(tu_store_sql_int(fx->path, q, NULL), res->tables[i].rows);
        assert_int_equal(tu_store_sql_int(fx->uri, q, NULL), res->tables[i].rows);
        xfree(q);
        if (strcmp(res->tables[i].name, "packs") == 0) {
            saw_packs = true;
            assert_int_equal(res->tables[i].rows, 4);
        }
        /* Parents first: a pack's certificates after the packs. */
        if (strcmp(res->tables[i].name, "pack_certificates") == 0) {
            assert_true(saw_packs);
            saw_certs = true;
            assert_int_equal(res->tables[i].rows, 2);
        }
    }
    assert_true(saw_certs);
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM client_ca_revocations", NULL),
                     1);

    /* Through the store API, PostgreSQL answers what SQLite answered. */
    char *after = dump_of(fx->uri, &fx->ids);
    assert_string_equal(after, before);
    tu_assert_contains(after, AWKWARD);
    tu_assert_contains(after, "active_only=1 deleted=0 count=1 total=1"); /* active_packs */
    tu_assert_contains(after, "active_only=0 deleted=0 count=2 total=2"); /* live_packs */

    /* New jobs get ids after the copied ones. */
    struct store *s = NULL;
    assert_int_equal(store_open(fx->uri, STORE_OPEN_EXISTING, 1, &s), STORE_OK);
    long long max_id = tu_store_sql_int(fx->uri, "SELECT max(id) FROM jobs", NULL);
    assert_int_equal(store_job_schedule(s, "test.kind", "after-migrate", T0), STORE_OK);
    assert_true(tu_store_sql_int(fx->uri, "SELECT id FROM jobs WHERE target = 'after-migrate'",
                                 NULL) > max_id);
    /* The triggers, off during the copy, are on again: a new active pack is counted. */
    struct ids more = fx->ids;
    add_pack(s, &more, 3, fx->ids.zones[0], "active", T0 + 99);
    struct store_pack_filter f = {.zone_id = fx->ids.zones[0], .active_only = true, .limit = 50};
    struct store_pack *list = NULL;
    int count = 0, total = 0;
    assert_int_equal(store_pack_list(s, &f, &list, &count, &total), STORE_OK);
    assert_int_equal(total, 2);
    store_pack_list_free(list, count);
    store_close(s);

    xfree(before);
    xfree(after);
    xfree(bytes0);
    xfree(bytes1);
    xfree(res);
}

static void test_second_migrate_is_refused(void **state)
{
    struct fixture *fx = *state;
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, NULL, NULL, res), STORE_OK);
    long long jobs = tu_store_sql_int(fx->uri, "SELECT count(*) FROM jobs", NULL);
    assert_true(jobs > 0);
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, NULL, NULL, res), STORE_CONFLICT);
    assert_int_equal(res->ntables, 0);
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM jobs", NULL), jobs);
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM zones", NULL), 3);
    xfree(res);
}

static void test_older_source_is_refused(void **state)
{
    struct fixture *fx = *state;
    char *pragma = xasprintf("PRAGMA user_version = %d", store_sqlite_schema_latest() - 1);
    tu_store_sql_exec(fx->path, pragma, NULL);
    xfree(pragma);
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, NULL, NULL, res), STORE_ERROR);
    assert_true(res->old_schema);
    assert_int_equal(res->source_version, store_sqlite_schema_latest() - 1);
    assert_int_equal(res->expected_version, store_sqlite_schema_latest());
    /* Nothing was created in the destination. */
    assert_int_equal(tu_store_sql_int(fx->uri,
                                      "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                                      NULL),
                     0);
    xfree(res);
}

static void test_failed_copy_leaves_no_row(void **state)
{
    struct fixture *fx = *state;
    /* A NUL inside a text: SQLite keeps it, PostgreSQL text cannot. */
    assert_int_equal(
        tu_store_sql_exec(fx->path, "UPDATE zones SET type = 'fu' || char(0) || 'll' WHERE id = $1",
                          fx->ids.zones[1]),
        1);
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, NULL, NULL, res), STORE_ERROR);
    assert_string_equal(res->failed_table, "zones");
    assert_false(res->count_mismatch);
    tu_assert_contains(res->reason, "NUL byte");
    /* users and accounts were copied before zones: rolled back with the rest. */
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM users", NULL), 0);
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM accounts", NULL), 0);
    assert_int_equal(tu_store_sql_int(fx->uri, "SELECT count(*) FROM zones", NULL), 0);

    /* The schema stayed, empty: once the source is fixed, migrate simply runs again. */
    char *before = NULL;
    assert_int_equal(tu_store_sql_exec(fx->path, "UPDATE zones SET type = 'full' WHERE id = $1",
                                       fx->ids.zones[1]),
                     1);
    before = dump_of(fx->path, &fx->ids);
    assert_int_equal(store_sqlite_to_pg(fx->path, fx->uri, NULL, NULL, res), STORE_OK);
    char *after = dump_of(fx->uri, &fx->ids);
    assert_string_equal(after, before);
    xfree(before);
    xfree(after);
    xfree(res);
}

static void test_missing_source(void **state)
{
    struct fixture *fx = *state;
    char *missing = xasprintf("%s/absent.db", fx->dir);
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    assert_int_equal(store_sqlite_to_pg(missing, fx->uri, NULL, NULL, res), STORE_NOT_FOUND);
    assert_int_equal(access(missing, F_OK), -1);
    xfree(missing);
    xfree(res);
}

static void test_describe_hides_credentials(void **state)
{
    (void)state;
    char out[256];
    store_pg_describe("postgresql://alice:s3cret@db.example:6543/tlsward?sslmode=require", out,
                      sizeof out);
    assert_string_equal(out, "db.example:6543/tlsward");
    store_pg_describe("postgres://bob:pw@10.0.0.1/store", out, sizeof out);
    assert_string_equal(out, "10.0.0.1:5432/store");
    store_pg_describe("postgres://carol:pw%40x@h:1/d?password=other", out, sizeof out);
    tu_assert_not_contains(out, "pw");
    tu_assert_not_contains(out, "other");
    /* libpq's parse errors quote the whole URI: such a URI is refused, not described. */
    assert_false(store_pg_describe("postgresql://u:pw-in-error@[::1/db", out, sizeof out));
    assert_string_equal(out, "?");
}

static void test_unparsable_url_is_refused_quietly(void **state)
{
    struct fixture *fx = *state;
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    assert_int_equal(
        store_sqlite_to_pg(fx->path, "postgresql://u:pw-in-error@h/db?bad=1", NULL, NULL, res),
        STORE_ERROR);
    tu_assert_contains(res->reason, "cannot be parsed");
    tu_assert_not_contains(res->reason, "pw-in-error");
    xfree(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_everything_reads_back_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_migrate_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_source_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_copy_leaves_no_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_source, setup, teardown),
        cmocka_unit_test(test_describe_hides_credentials),
        cmocka_unit_test_setup_teardown(test_unparsable_url_is_refused_quietly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
