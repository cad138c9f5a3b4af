/* Unit tests of the client CA and client certificate half of the SQLite store
 * (store/store_client.c, with group commit from store/sqlite_batch.c): CA round trips and
 * their CRL job, certificate round trips, listing (filter, order, windows), the API's
 * status requests and the worker's completions with their jobs, revocations that outlive
 * their zone, CRL replacement with its optimistic check, per-status counts, and
 * concurrent creations sharing commits without one failure undoing the others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL
#define T0 1700000000000000LL /* a fixed "now" in µs */
#define LEASE (60 * SEC)
#define REFRESH (T0 + 5 * 86400 * SEC) /* when the CA's CRL job is first due */

struct fixture {
    char *dir;
    char *path;
    struct store *s;
    char user_id[STORE_ID_SIZE];
    char account_id[STORE_ID_SIZE], account2_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE], zone2_id[STORE_ID_SIZE]; /* both in account */
    char zone3_id[STORE_ID_SIZE];                         /* in account2 */
    char ca_id[STORE_UUID_SIZE];                          /* account's CA */
};

static void make_id(char out[STORE_ID_SIZE], unsigned kind, unsigned n)
{
    snprintf(out, STORE_ID_SIZE, "%x%031x", kind, n);
}

static void add_zone(struct fixture *fx, char *id, unsigned n, const char *account,
                     const char *name)
{
    struct store_zone z = {
        .universal_ssl = true, .advanced_quota = 50, .created_on = T0, .modified_on = T0};
    make_id(z.id, 0xc, n);
    snprintf(z.account_id, sizeof z.account_id, "%s", account);
    snprintf(z.name, sizeof z.name, "%s", name);
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(fx->s, &z), STORE_OK);
    snprintf(id, STORE_ID_SIZE, "%s", z.id);
}

/* Fake CA material: the store does not parse it, so any bytes do (with NULs inside). */
static const unsigned char fake_key[] = {0x00, 0x01, 0xfe, 0x00, 0x7f, 0x80, 0xff, 0x42};
static const unsigned char fake_crl[] = {0x30, 0x82, 0x00, 0x00, 0x01, 0x00, 0xaa};
static const char fake_pem[] = "-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n";

static struct store_client_ca fake_ca(const char *id, const char *account_id)
{
    struct store_client_ca ca = {.cert_pem = (char *)fake_pem,
                                 .key_sealed = (unsigned char *)fake_key,
                                 .key_sealed_len = sizeof fake_key,
                                 .crl_number = 1,
                                 .crl_der = (unsigned char *)fake_crl,
                                 .crl_len = sizeof fake_crl,
                                 .crl_next_update = T0 + 7 * 86400 * SEC,
                                 .created_on = T0};
    snprintf(ca.id, sizeof ca.id, "%s", id);
    snprintf(ca.account_id, sizeof ca.account_id, "%s", account_id);
    snprintf(ca.name, sizeof ca.name, "tlsward Managed CA for account");
    return ca;
}

static struct fixture *fixture_new(bool with_ca)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-client-XXXXXX", 4, &fx->dir, &fx->path, &fx->s);

    struct store_user u = {.created_on = T0};
    make_id(u.id, 0xa, 1);
    snprintf(u.email, sizeof u.email, "owner@example.com");
    assert_int_equal(store_user_create(fx->s, &u), STORE_OK);
    snprintf(fx->user_id, sizeof fx->user_id, "%s", u.id);
    for (unsigned i = 1; i <= 2; i++) {
        struct store_account a = {.created_on = T0};
        make_id(a.id, 0xb, i);
        snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", u.id);
        snprintf(a.name, sizeof a.name, "account %u", i);
        assert_int_equal(store_account_create(fx->s, &a), STORE_OK);
        snprintf(i == 1 ? fx->account_id : fx->account2_id, STORE_ID_SIZE, "%s", a.id);
    }
    add_zone(fx, fx->zone_id, 1, fx->account_id, "one.example");
    add_zone(fx, fx->zone2_id, 2, fx->account_id, "two.example");
    add_zone(fx, fx->zone3_id, 3, fx->account2_id, "three.example");
    if (with_ca) {
        snprintf(fx->ca_id, sizeof fx->ca_id, "11111111-2222-4333-8444-555555555555");
        struct store_client_ca ca = fake_ca(fx->ca_id, fx->account_id);
        assert_int_equal(store_client_ca_create(fx->s, &ca, REFRESH), STORE_OK);
    }
    return fx;
}

static int setup(void **state)
{
    *state = fixture_new(true);
    return 0;
}

static int setup_no_ca(void **state)
{
    *state = fixture_new(false);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    tu_close_store(fx->s, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* A certificate whose every field is distinct and derived from n; csr and certificate are
 * heap (store_client_cert_clear). */
static void fill_cert(struct store_client_cert *c, unsigned n, const char *zone_id,
                      const char *ca_id, const char *status, int64_t created_on)
{
    memset(c, 0, sizeof *c);
    make_id(c->id, 0xd, n);
    snprintf(c->zone_id, sizeof c->zone_id, "%s", zone_id);
    snprintf(c->ca_id, sizeof c->ca_id, "%s", ca_id);
    assert_int_equal(STORE_ENUM_PARSE(status, &c->status), 0);
    snprintf(c->serial, sizeof c->serial, "%040x", n * 7919u + 1);
    snprintf(c->fingerprint, sizeof c->fingerprint, "%064x", n * 104729u + 3);
    snprintf(c->ski, sizeof c->ski, "%040x", n * 31u + 5);
    snprintf(c->signature, sizeof c->signature, "ECDSAWithSHA256");
    /* The longest a subject field may be: 255 bytes, from a unique prefix. */
    memset(c->common_name, 'a' + (int)(n % 26), sizeof c->common_name - 1);
    char prefix[16];
    int len = snprintf(prefix, sizeof prefix, "cn-%08u-", n);
    memcpy(c->common_name, prefix, (size_t)len);
    snprintf(c->country, sizeof c->country, "C%u", n % 100);
    snprintf(c->state, sizeof c->state, "state %u", n);
    snprintf(c->location, sizeof c->location, "location %u", n);
    snprintf(c->organization, sizeof c->organization, "Organisation \xc3\xa9t\xc3\xa9 %u", n);
    snprintf(c->organizational_unit, sizeof c->organizational_unit, "unit %u", n);
    c->csr = xasprintf(
        "-----BEGIN CERTIFICATE REQUEST-----\ncsr %u\n-----END CERTIFICATE REQUEST-----\n", n);
    c->certificate =
        xasprintf("-----BEGIN CERTIFICATE-----\ncert %u\n-----END CERTIFICATE-----\n", n);
    c->validity_days = 100 + (int)n;
    c->issued_on = T0 + (int64_t)n * 11;
    c->expires_on = T0 + (int64_t)n * 13 + 86400 * SEC;
    c->revoked_on = 0;
    c->created_on = created_on;
    c->modified_on = created_on + 17;
}

static void assert_cert_equal(const struct store_client_cert *a, const struct store_client_cert *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->zone_id, b->zone_id);
    assert_string_equal(a->ca_id, b->ca_id);
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->serial, b->serial);
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_string_equal(a->ski, b->ski);
    assert_string_equal(a->signature, b->signature);
    assert_string_equal(a->common_name, b->common_name);
    assert_string_equal(a->country, b->country);
    assert_string_equal(a->state, b->state);
    assert_string_equal(a->location, b->location);
    assert_string_equal(a->organization, b->organization);
    assert_string_equal(a->organizational_unit, b->organizational_unit);
    assert_non_null(a->csr);
    assert_non_null(b->csr);
    assert_string_equal(a->csr, b->csr);
    assert_non_null(a->certificate);
    assert_non_null(b->certificate);
    assert_string_equal(a->certificate, b->certificate);
    assert_int_equal(a->validity_days, b->validity_days);
    assert_int_equal(a->issued_on, b->issued_on);
    assert_int_equal(a->expires_on, b->expires_on);
    assert_int_equal(a->revoked_on, b->revoked_on);
    assert_int_equal(a->created_on, b->created_on);
    assert_int_equal(a->modified_on, b->modified_on);
}

/* Creates certificate n and returns it (still holding its heap fields) in *out. */
static void add_cert(struct fixture *fx, struct store_client_cert *out, unsigned n,
                     const char *zone_id, const char *status, int64_t created_on)
{
    fill_cert(out, n, zone_id, fx->ca_id, status, created_on);
    assert_int_equal(store_client_cert_create(fx->s, out), STORE_OK);
}

static void assert_ca_equal(const struct store_client_ca *a, const struct store_client_ca *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->account_id, b->account_id);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->cert_pem, b->cert_pem);
    assert_int_equal(a->key_sealed_len, b->key_sealed_len);
    assert_memory_equal(a->key_sealed, b->key_sealed, a->key_sealed_len);
    assert_int_equal(a->crl_number, b->crl_number);
    assert_int_equal(a->crl_len, b->crl_len);
    assert_memory_equal(a->crl_der, b->crl_der, a->crl_len);
    assert_int_equal(a->crl_next_update, b->crl_next_update);
    assert_int_equal(a->created_on, b->created_on);
}

static int depth(struct store *s)
{
    int d = -1;
    int64_t lag = 0;
    assert_int_equal(store_job_stats(s, T0, &d, &lag), STORE_OK);
    return d;
}

static int64_t next_due(struct store *s)
{
    int64_t when = -1;
    assert_int_equal(store_job_next_due(s, &when), STORE_OK);
    return when;
}

static int claim(struct store *s, const char *owner, int64_t now, struct store_job *out, int max)
{
    int n = -1;
    assert_int_equal(store_job_claim(s, owner, now, LEASE, out, max, &n), STORE_OK);
    return n;
}

static int revocation_count(struct store *s, const char *ca_id, const char *serial,
                            int64_t *revoked_on)
{
    struct store_revocation *r = NULL;
    int n = -1, found = 0;
    assert_int_equal(store_client_ca_revocations(s, ca_id, &r, &n), STORE_OK);
    for (int i = 0; i < n; i++) {
        if (serial && strcmp(r[i].serial, serial) == 0) {
            found++;
            if (revoked_on)
                *revoked_on = r[i].revoked_on;
        }
    }
    xfree(r);
    return serial ? found : n;
}

/* ---- client CAs ---- */

static void test_ca_create_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca = fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", fx->account_id);
    ca.crl_number = 0x123456789aULL; /* wider than 32 bits */
    ca.crl_next_update = T0 + 123;
    ca.created_on = T0 + 7;
    assert_int_equal(store_client_ca_create(fx->s, &ca, T0 + 3600 * SEC), STORE_OK);

    struct store_client_ca got;
    assert_int_equal(store_client_ca_by_account(fx->s, fx->account_id, &got), STORE_OK);
    assert_ca_equal(&got, &ca);
    store_client_ca_clear(&got);
    assert_null(got.cert_pem);
    assert_null(got.key_sealed);
    assert_null(got.crl_der);
    assert_int_equal(store_client_ca_get(fx->s, ca.id, &got), STORE_OK);
    assert_ca_equal(&got, &ca);
    store_client_ca_clear(&got);

    /* No CA yet for account2; unknown ids. */
    assert_int_equal(store_client_ca_by_account(fx->s, fx->account2_id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_client_ca_get(fx->s, "00000000-0000-4000-8000-000000000000", &got),
                     STORE_NOT_FOUND);

    /* It has no revocations. */
    struct store_revocation *r = NULL;
    int n = -1;
    assert_int_equal(store_client_ca_revocations(fx->s, ca.id, &r, &n), STORE_OK);
    assert_int_equal(n, 0);
    xfree(r);
}

/* What signing reads on every request: the CA as stored, but no CRL (it grows with every
 * revocation); NOT_FOUND for an account without a CA. */
static void test_ca_signer_read_leaves_out_the_crl(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca = fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", fx->account_id);
    ca.crl_number = 7;
    assert_int_equal(store_client_ca_create(fx->s, &ca, T0 + 3600 * SEC), STORE_OK);

    struct store_client_ca got;
    assert_int_equal(store_client_ca_signer(fx->s, fx->account_id, &got), STORE_OK);
    assert_null(got.crl_der);
    assert_int_equal(got.crl_len, 0);
    assert_string_equal(got.id, ca.id);
    assert_string_equal(got.account_id, ca.account_id);
    assert_string_equal(got.name, ca.name);
    assert_string_equal(got.cert_pem, ca.cert_pem);
    assert_int_equal(got.key_sealed_len, ca.key_sealed_len);
    assert_memory_equal(got.key_sealed, ca.key_sealed, ca.key_sealed_len);
    assert_int_equal(got.crl_number, 7);
    assert_int_equal(got.crl_next_update, ca.crl_next_update);
    assert_int_equal(got.created_on, ca.created_on);
    store_client_ca_clear(&got);
    assert_int_equal(store_client_ca_signer(fx->s, fx->account2_id, &got), STORE_NOT_FOUND);
}

static void test_ca_second_for_account_conflicts(void **state)
{
    struct fixture *fx = *state; /* account already has fx->ca_id */
    int before = depth(fx->s);
    struct store_client_ca other = fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-000000000002", fx->account_id);
    assert_int_equal(store_client_ca_create(fx->s, &other, T0 + SEC), STORE_CONFLICT);
    struct store_client_ca got;
    assert_int_equal(store_client_ca_get(fx->s, other.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_client_ca_by_account(fx->s, fx->account_id, &got), STORE_OK);
    assert_string_equal(got.id, fx->ca_id);
    store_client_ca_clear(&got);
    /* The failed creation scheduled nothing. */
    assert_int_equal(depth(fx->s), before);
    assert_int_equal(next_due(fx->s), REFRESH);

    /* The same id for another account: refused too. */
    struct store_client_ca same_id = fake_ca(fx->ca_id, fx->account2_id);
    assert_int_equal(store_client_ca_create(fx->s, &same_id, T0 + SEC), STORE_CONFLICT);
    assert_int_equal(store_client_ca_by_account(fx->s, fx->account2_id, &got), STORE_NOT_FOUND);

    /* An account that does not exist. */
    struct store_client_ca orphan =
        fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-000000000003", "ffffffffffffffffffffffffffffffff");
    assert_int_equal(store_client_ca_create(fx->s, &orphan, T0 + SEC), STORE_NOT_FOUND);
    assert_int_equal(depth(fx->s), before);
}

static void test_ca_create_schedules_crl_job(void **state)
{
    struct fixture *fx = *state;
    struct store_client_ca ca = fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", fx->account_id);
    int64_t refresh = T0 + 4 * 86400 * SEC;
    assert_int_equal(store_client_ca_create(fx->s, &ca, refresh), STORE_OK);
    assert_int_equal(depth(fx->s), 1);
    assert_int_equal(next_due(fx->s), refresh);
    struct store_job j[4];
    assert_int_equal(claim(fx->s, "w", refresh - 1, j, 4), 0);
    assert_int_equal(claim(fx->s, "w", refresh, j, 4), 1);
    assert_string_equal(j[0].kind, "client_ca.crl");
    assert_string_equal(j[0].target, ca.id);
    assert_int_equal(j[0].next_run_at, refresh);
    assert_int_equal(j[0].attempts, 1);
}

/* ---- client certificates ---- */

static void test_cert_create_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, got;
    fill_cert(&c, 42, fx->zone_id, fx->ca_id, "active", T0 + 5);
    c.revoked_on = T0 + 99; /* stored as given */
    assert_int_equal(strlen(c.common_name), sizeof c.common_name - 1);
    assert_int_equal(strlen(c.fingerprint), 64);
    assert_int_equal(store_client_cert_create(fx->s, &c), STORE_OK);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_cert_equal(&got, &c);
    store_client_cert_clear(&got);
    assert_null(got.csr);
    assert_null(got.certificate);

    /* Wrong zone (same account, other account) and unknown id. */
    memset(&got, 0, sizeof got);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone2_id, c.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone3_id, c.id, &got), STORE_NOT_FOUND);
    char unknown[STORE_ID_SIZE];
    make_id(unknown, 0xd, 43);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, unknown, &got), STORE_NOT_FOUND);
    assert_null(got.csr);

    /* The same id again: CONFLICT, the first stays. */
    struct store_client_cert dup;
    fill_cert(&dup, 42, fx->zone2_id, fx->ca_id, "revoked", T0 + 6);
    snprintf(dup.common_name, sizeof dup.common_name, "someone else");
    assert_int_equal(store_client_cert_create(fx->s, &dup), STORE_CONFLICT);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_cert_equal(&got, &c);
    store_client_cert_clear(&got);
    store_client_cert_clear(&dup);

    /* A zone or CA that does not exist. */
    fill_cert(&dup, 44, "ffffffffffffffffffffffffffffffff", fx->ca_id, "active", T0);
    assert_int_equal(store_client_cert_create(fx->s, &dup), STORE_NOT_FOUND);
    store_client_cert_clear(&dup);
    fill_cert(&dup, 45, fx->zone_id, "00000000-0000-4000-8000-000000000000", "active", T0);
    assert_int_equal(store_client_cert_create(fx->s, &dup), STORE_NOT_FOUND);
    store_client_cert_clear(&dup);
    store_client_cert_clear(&c);
}

/* The list of zone_id with the given filter; asserts success and returns *count. */
static int list(struct fixture *fx, const char *zone_id, const char *status, int offset, int limit,
                struct store_client_cert **out, int *total)
{
    enum store_cert_status wanted;
    if (status)
        assert_int_equal(STORE_ENUM_PARSE(status, &wanted), 0);
    struct store_client_cert_filter f = {
        .zone_id = zone_id, .status = status ? &wanted : NULL, .offset = offset, .limit = limit};
    int count = -1;
    assert_int_equal(store_client_cert_list(fx->s, &f, out, &count, total), STORE_OK);
    assert_non_null(*out);
    assert_true(count >= 0 && count <= limit);
    return count;
}

static void test_cert_list(void **state)
{
    struct fixture *fx = *state;
    /* Ten certificates created out of order; n = 3..5 share one created_on (ordered by id). */
    static const struct {
        unsigned n;
        int64_t created;
        const char *status;
    } rows[] = {
        {9, T0 + 90, "active"}, {1, T0 + 10, "revoked"},
        {5, T0 + 30, "active"}, {3, T0 + 30, "pending_revocation"},
        {4, T0 + 30, "active"}, {7, T0 + 70, "revoked"},
        {2, T0 + 20, "active"}, {8, T0 + 80, "pending_reactivation"},
        {6, T0 + 60, "active"}, {10, T0 + 100, "active"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct store_client_cert c;
        add_cert(fx, &c, rows[i].n, fx->zone_id, rows[i].status, rows[i].created);
        store_client_cert_clear(&c);
    }
    /* Noise in other zones. */
    for (unsigned n = 100; n < 103; n++) {
        struct store_client_cert c;
        add_cert(fx, &c, n, n == 100 ? fx->zone2_id : fx->zone3_id, "active", T0 + 1);
        store_client_cert_clear(&c);
    }

    struct store_client_cert *l;
    int total = -1;
    /* Everything, in (created_on, id) order: n = 1..10. */
    int count = list(fx, fx->zone_id, NULL, 0, 50, &l, &total);
    assert_int_equal(count, 10);
    assert_int_equal(total, 10);
    for (int i = 0; i < count; i++) {
        struct store_client_cert want;
        fill_cert(&want, (unsigned)i + 1, fx->zone_id, fx->ca_id, STORE_ENUM_NAME(l[i].status),
                  l[i].created_on);
        assert_cert_equal(&l[i], &want); /* every field, not only the order */
        store_client_cert_clear(&want);
    }
    store_client_cert_list_free(l, count);

    /* Status filter: active = 2, 4, 5, 6, 9, 10. */
    static const unsigned active[] = {2, 4, 5, 6, 9, 10};
    count = list(fx, fx->zone_id, "active", 0, 50, &l, &total);
    assert_int_equal(count, 6);
    assert_int_equal(total, 6);
    for (int i = 0; i < count; i++) {
        char id[STORE_ID_SIZE];
        make_id(id, 0xd, active[i]);
        assert_string_equal(l[i].id, id);
        assert_string_equal(STORE_ENUM_NAME(l[i].status), "active");
    }
    store_client_cert_list_free(l, count);
    count = list(fx, fx->zone_id, "revoked", 0, 50, &l, &total);
    assert_int_equal(count, 2);
    assert_int_equal(total, 2);
    store_client_cert_list_free(l, count);
    /* A status no table knows cannot even be asked for: the typed filter has no value for
     * it (the API refuses the name with a 400 first). */
    enum store_cert_status none;
    assert_int_equal(STORE_ENUM_PARSE("no_such_status", &none), -1);

    /* Windows: offset 2, limit 3 → n = 3, 4, 5 with the full total. */
    count = list(fx, fx->zone_id, NULL, 2, 3, &l, &total);
    assert_int_equal(count, 3);
    assert_int_equal(total, 10);
    for (int i = 0; i < count; i++) {
        char id[STORE_ID_SIZE];
        make_id(id, 0xd, (unsigned)i + 3);
        assert_string_equal(l[i].id, id);
    }
    store_client_cert_list_free(l, count);
    /* Filtered window: active offset 4 limit 10 → 9, 10. */
    count = list(fx, fx->zone_id, "active", 4, 10, &l, &total);
    assert_int_equal(count, 2);
    assert_int_equal(total, 6);
    char id9[STORE_ID_SIZE], id10[STORE_ID_SIZE];
    make_id(id9, 0xd, 9);
    make_id(id10, 0xd, 10);
    assert_string_equal(l[0].id, id9);
    assert_string_equal(l[1].id, id10);
    store_client_cert_list_free(l, count);
    /* The last partial page, exactly at the end, and past it. */
    count = list(fx, fx->zone_id, NULL, 9, 5, &l, &total);
    assert_int_equal(count, 1);
    assert_string_equal(l[0].id, id10);
    store_client_cert_list_free(l, count);
    count = list(fx, fx->zone_id, NULL, 10, 5, &l, &total);
    assert_int_equal(count, 0);
    assert_int_equal(total, 10);
    store_client_cert_list_free(l, count);
    count = list(fx, fx->zone_id, NULL, 1000, 5, &l, &total);
    assert_int_equal(count, 0);
    assert_int_equal(total, 10);
    store_client_cert_list_free(l, count);
    /* limit 1 walks the list one by one. */
    for (int i = 0; i < 10; i++) {
        count = list(fx, fx->zone_id, NULL, i, 1, &l, &total);
        assert_int_equal(count, 1);
        char id[STORE_ID_SIZE];
        make_id(id, 0xd, (unsigned)i + 1);
        assert_string_equal(l[0].id, id);
        store_client_cert_list_free(l, count);
    }
    /* Other zones see only theirs; an empty zone lists nothing. */
    count = list(fx, fx->zone2_id, NULL, 0, 50, &l, &total);
    assert_int_equal(count, 1);
    assert_int_equal(total, 1);
    store_client_cert_list_free(l, count);
    count = list(fx, "ffffffffffffffffffffffffffffffff", NULL, 0, 50, &l, &total);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    store_client_cert_list_free(l, count);

    /* Bad windows are refused. */
    struct store_client_cert_filter bad = {.zone_id = fx->zone_id, .offset = 0, .limit = 0};
    assert_int_equal(store_client_cert_list(fx->s, &bad, &l, &count, &total), STORE_ERROR);
    assert_null(l);
    bad = (struct store_client_cert_filter){.zone_id = fx->zone_id, .offset = -1, .limit = 5};
    assert_int_equal(store_client_cert_list(fx->s, &bad, &l, &count, &total), STORE_ERROR);
    assert_null(l);
}

static void test_cert_request_active_to_pending_revocation(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, out;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    int64_t t1 = T0 + 10 * SEC;
    assert_int_equal(store_client_cert_request(fx->s, fx->zone_id, c.id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               t1, &out),
                     STORE_OK);
    /* The updated certificate: status and modified_on change, nothing else. */
    struct store_client_cert want = c;
    assert_int_equal(STORE_ENUM_PARSE("pending_revocation", &want.status), 0);
    want.modified_on = t1;
    assert_cert_equal(&out, &want);
    store_client_cert_clear(&out);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_cert_equal(&got, &want);
    store_client_cert_clear(&got);

    /* A revoke job for it, due at t1 (besides the CA's CRL job). */
    assert_int_equal(depth(fx->s), 2);
    assert_int_equal(next_due(fx->s), t1);
    struct store_job j[4];
    assert_int_equal(claim(fx->s, "w", t1, j, 4), 1);
    assert_string_equal(j[0].kind, "client_cert.revoke");
    assert_string_equal(j[0].target, c.id);
    assert_int_equal(j[0].next_run_at, t1);
    store_client_cert_clear(&c);
}

static void test_cert_request_wrong_status_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, out;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    int before = depth(fx->s);
    assert_int_equal(store_client_cert_request(fx->s, fx->zone_id, c.id,
                                               STORE_CERT_PENDING_REVOCATION,
                                               STORE_CERT_PENDING_REACTIVATION,
                                               STORE_JOB_CERT_REACTIVATE, T0 + SEC, &out),
                     STORE_CONFLICT);
    /* *out holds the unchanged certificate, whole. */
    assert_cert_equal(&out, &c);
    store_client_cert_clear(&out);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_cert_equal(&got, &c);
    store_client_cert_clear(&got);
    /* Nothing was scheduled. */
    assert_int_equal(depth(fx->s), before);
    assert_int_equal(next_due(fx->s), REFRESH);

    /* A second request after a first succeeded: CONFLICT too, with the current state. */
    assert_int_equal(store_client_cert_request(fx->s, fx->zone_id, c.id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               T0 + 2 * SEC, &out),
                     STORE_OK);
    store_client_cert_clear(&out);
    assert_int_equal(store_client_cert_request(fx->s, fx->zone_id, c.id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               T0 + 3 * SEC, &out),
                     STORE_CONFLICT);
    assert_string_equal(STORE_ENUM_NAME(out.status), "pending_revocation");
    assert_int_equal(out.modified_on, T0 + 2 * SEC);
    store_client_cert_clear(&out);
    assert_int_equal(next_due(fx->s), T0 + 2 * SEC); /* the job was not moved either */
    store_client_cert_clear(&c);
}

static void test_cert_request_unknown(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, out;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    int before = depth(fx->s);
    char unknown[STORE_ID_SIZE];
    make_id(unknown, 0xd, 2);
    assert_int_equal(store_client_cert_request(fx->s, fx->zone_id, unknown, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               T0 + SEC, &out),
                     STORE_NOT_FOUND);
    assert_null(out.csr);
    assert_null(out.certificate);
    store_client_cert_clear(&out);
    /* The right id through the wrong zone. */
    assert_int_equal(store_client_cert_request(fx->s, fx->zone2_id, c.id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               T0 + SEC, &out),
                     STORE_NOT_FOUND);
    assert_null(out.csr);
    store_client_cert_clear(&out);
    assert_int_equal(depth(fx->s), before);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "active");
    store_client_cert_clear(&got);
    store_client_cert_clear(&c);
}

/* Requests revocation of c at t and claims the jobs due at t for owner: the revoke job
 * for c must be among them (others, such as a CRL job, stay leased by owner). */
static struct store_job request_revoke(struct fixture *fx, const struct store_client_cert *c,
                                       int64_t t, const char *owner)
{
    struct store_client_cert out;
    assert_int_equal(store_client_cert_request(fx->s, c->zone_id, c->id, STORE_CERT_ACTIVE,
                                               STORE_CERT_PENDING_REVOCATION, STORE_JOB_CERT_REVOKE,
                                               t, &out),
                     STORE_OK);
    store_client_cert_clear(&out);
    struct store_job j[8];
    int n = claim(fx->s, owner, t, j, 8), found = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(j[i].kind, "client_cert.revoke") == 0 && strcmp(j[i].target, c->id) == 0) {
            assert_int_equal(found, -1);
            found = i;
        }
    }
    assert_true(found >= 0);
    assert_int_equal(j[found].next_run_at, t);
    assert_int_equal(j[found].attempts, 1);
    return j[found];
}

static void test_cert_complete_revokes(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, other;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    add_cert(fx, &other, 2, fx->zone_id, "active", T0);
    int64_t t1 = T0 + 10 * SEC, t2 = T0 + 20 * SEC;
    struct store_job job = request_revoke(fx, &c, t1, "w1");
    assert_int_equal(store_client_cert_complete(fx->s, &job, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t2),
                     STORE_OK);

    struct store_client_cert got, want = c;
    assert_int_equal(STORE_ENUM_PARSE("revoked", &want.status), 0);
    want.revoked_on = t2;
    want.modified_on = t2;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_cert_equal(&got, &want);
    store_client_cert_clear(&got);
    /* The other certificate is untouched. */
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, other.id, &got), STORE_OK);
    assert_cert_equal(&got, &other);
    store_client_cert_clear(&got);

    /* The CA's revocation list has exactly this serial, at t2. */
    int64_t when = 0;
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 1);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, c.serial, &when), 1);
    assert_int_equal(when, t2);

    /* The revoke job is gone; the CA's CRL job moved from REFRESH to t2. */
    assert_int_equal(depth(fx->s), 1);
    assert_int_equal(next_due(fx->s), t2);
    struct store_job j[4];
    assert_int_equal(claim(fx->s, "w2", t2, j, 4), 1);
    assert_string_equal(j[0].kind, "client_ca.crl");
    assert_string_equal(j[0].target, fx->ca_id);
    /* Completing the same job again: it is gone. */
    assert_int_equal(store_client_cert_complete(fx->s, &job, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t2 + 1),
                     STORE_CONFLICT);
    store_client_cert_clear(&c);
    store_client_cert_clear(&other);
}

static void test_cert_complete_by_non_owner_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    int64_t t1 = T0 + 10 * SEC, t2 = T0 + 20 * SEC;
    struct store_job job = request_revoke(fx, &c, t1, "w1");
    assert_int_equal(store_client_cert_complete(fx->s, &job, "w2", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t2),
                     STORE_CONFLICT);
    /* Nothing changed: status, revocations, the CRL job (still at REFRESH: the earliest due
     * is the end of w1's lease), the revoke job (still w1's). */
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_revocation");
    assert_int_equal(got.revoked_on, 0);
    assert_int_equal(got.modified_on, t1);
    store_client_cert_clear(&got);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 0);
    assert_int_equal(depth(fx->s), 2);
    assert_int_equal(next_due(fx->s), t1 + LEASE);

    /* After the lease passes to w2, w1 cannot complete either, but w2 can. */
    struct store_job taken[4];
    assert_int_equal(claim(fx->s, "w2", t1 + LEASE, taken, 4), 1);
    assert_int_equal(taken[0].id, job.id);
    assert_int_equal(store_client_cert_complete(fx->s, &job, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t2),
                     STORE_CONFLICT);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 0);
    assert_int_equal(store_client_cert_complete(fx->s, &taken[0], "w2",
                                                STORE_CERT_PENDING_REVOCATION, STORE_CERT_REVOKED,
                                                t2),
                     STORE_OK);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, c.serial, NULL), 1);
    store_client_cert_clear(&c);
}

static void test_cert_complete_wrong_status_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert c, out;
    add_cert(fx, &c, 1, fx->zone_id, "active", T0);
    int64_t t1 = T0 + 10 * SEC;
    struct store_job job = request_revoke(fx, &c, t1, "w1");
    /* Reactivated while the worker holds the revoke job. */
    assert_int_equal(store_client_cert_request(
                         fx->s, fx->zone_id, c.id, STORE_CERT_PENDING_REVOCATION,
                         STORE_CERT_PENDING_REACTIVATION, STORE_JOB_CERT_REACTIVATE, t1 + 1, &out),
                     STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(out.status), "pending_reactivation");
    store_client_cert_clear(&out);
    assert_int_equal(store_client_cert_complete(fx->s, &job, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, t1 + 2),
                     STORE_CONFLICT);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_reactivation");
    assert_int_equal(got.revoked_on, 0);
    store_client_cert_clear(&got);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 0);
    /* CA job, revoke job (not completed: still w1's to drop), reactivate job. */
    assert_int_equal(depth(fx->s), 3);
    assert_int_equal(store_job_drop(fx->s, &job, "w1", t1 + 3), STORE_OK);
    assert_int_equal(depth(fx->s), 2);

    /* The reactivation completes: active again, the CRL job scheduled, no revocation. */
    struct store_job j[4];
    assert_int_equal(claim(fx->s, "w1", t1 + 4, j, 4), 1);
    assert_string_equal(j[0].kind, "client_cert.reactivate");
    assert_int_equal(store_client_cert_complete(fx->s, &j[0], "w1", STORE_CERT_PENDING_REACTIVATION,
                                                STORE_CERT_ACTIVE, t1 + 5),
                     STORE_OK);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, c.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "active");
    assert_int_equal(got.revoked_on, 0);
    assert_int_equal(got.modified_on, t1 + 5);
    store_client_cert_clear(&got);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 0);
    assert_int_equal(depth(fx->s), 1);
    assert_int_equal(next_due(fx->s), t1 + 5);
    store_client_cert_clear(&c);
}

static void test_cert_complete_after_zone_deleted(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert a, b, elsewhere;
    add_cert(fx, &a, 1, fx->zone_id, "active", T0);
    add_cert(fx, &b, 2, fx->zone_id, "active", T0);
    add_cert(fx, &elsewhere, 3, fx->zone2_id, "active", T0);
    /* a is revoked completely. */
    struct store_job ja = request_revoke(fx, &a, T0 + SEC, "w1");
    assert_int_equal(store_client_cert_complete(fx->s, &ja, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, T0 + 2 * SEC),
                     STORE_OK);
    /* b's revocation is under way when its zone goes: the deletion revokes it at once (a
     * pending revocation is never dropped), so the worker's half finds nothing to do. */
    struct store_job jb = request_revoke(fx, &b, T0 + 3 * SEC, "w1");
    assert_int_equal(store_zone_delete_request(fx->s, fx->zone_id, T0 + 3 * SEC + 1), STORE_OK);
    assert_int_equal(store_client_cert_complete(fx->s, &jb, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, T0 + 4 * SEC),
                     STORE_CONFLICT);
    assert_int_equal(store_zone_delete_finish(fx->s, NULL, NULL, fx->zone_id, T0 + 4 * SEC),
                     STORE_OK);
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, a.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, b.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_client_cert_get(fx->s, fx->zone2_id, elsewhere.id, &got), STORE_OK);
    store_client_cert_clear(&got);
    assert_int_equal(store_client_cert_complete(fx->s, &jb, "w1", STORE_CERT_PENDING_REVOCATION,
                                                STORE_CERT_REVOKED, T0 + 5 * SEC),
                     STORE_NOT_FOUND);
    /* The CA and both revocations stay (the published CRL must keep them). */
    struct store_client_ca ca;
    assert_int_equal(store_client_ca_get(fx->s, fx->ca_id, &ca), STORE_OK);
    store_client_ca_clear(&ca);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, NULL, NULL), 2);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, a.serial, NULL), 1);
    assert_int_equal(revocation_count(fx->s, fx->ca_id, b.serial, NULL), 1);
    /* The deletion removed b's job with its certificate. */
    assert_int_equal(store_job_drop(fx->s, &jb, "w1", T0 + 6 * SEC), STORE_CONFLICT);
    long long counts[1];
    static const char *const revoked[] = {"revoked"};
    assert_int_equal(store_client_cert_count_by_status(fx->s, revoked, 1, counts), STORE_OK);
    assert_int_equal(counts[0], 0);
    store_client_cert_clear(&a);
    store_client_cert_clear(&b);
    store_client_cert_clear(&elsewhere);
}

static void test_ca_replace_crl(void **state)
{
    struct fixture *fx = *state;
    struct store_job j[4];
    assert_int_equal(claim(fx->s, "w1", REFRESH, j, 4), 1);
    struct store_job job = j[0];
    assert_string_equal(job.kind, "client_ca.crl");

    static const unsigned char der2[] = {0x30, 0x02, 0x00, 0x02, 0x99};
    int64_t next2 = REFRESH + 7 * 86400 * SEC, refresh2 = REFRESH + 5 * 86400 * SEC;
    assert_int_equal(store_client_ca_replace_crl(fx->s, &job, "w1", 1, 2, der2, sizeof der2, next2,
                                                 refresh2, REFRESH + 1),
                     STORE_OK);
    struct store_client_ca got, want = fake_ca(fx->ca_id, fx->account_id);
    want.crl_number = 2;
    want.crl_der = (unsigned char *)der2;
    want.crl_len = sizeof der2;
    want.crl_next_update = next2;
    assert_int_equal(store_client_ca_get(fx->s, fx->ca_id, &got), STORE_OK);
    assert_ca_equal(&got, &want);
    store_client_ca_clear(&got);
    /* The job is due again at refresh2, with its attempts reset. */
    assert_int_equal(depth(fx->s), 1);
    assert_int_equal(next_due(fx->s), refresh2);
    assert_int_equal(claim(fx->s, "w1", refresh2 - 1, j, 4), 0);
    assert_int_equal(claim(fx->s, "w1", refresh2, j, 4), 1);
    assert_int_equal(j[0].id, job.id);
    assert_int_equal(j[0].attempts, 1);
    job = j[0];

    /* A stale expected number: CONFLICT, CRL 2 stays, the job is not completed. */
    static const unsigned char der3[] = {0x30, 0x03};
    assert_int_equal(store_client_ca_replace_crl(fx->s, &job, "w1", 1, 3, der3, sizeof der3,
                                                 next2 + 1, refresh2 + 1, refresh2 + 1),
                     STORE_CONFLICT);
    assert_int_equal(store_client_ca_get(fx->s, fx->ca_id, &got), STORE_OK);
    assert_ca_equal(&got, &want);
    store_client_ca_clear(&got);
    assert_int_equal(next_due(fx->s), refresh2 + LEASE); /* still leased by w1 */

    /* The right number from a worker that does not hold the job: CONFLICT, and the CRL it
     * would have stored is rolled back with it. */
    assert_int_equal(store_client_ca_replace_crl(fx->s, &job, "w2", 2, 3, der3, sizeof der3,
                                                 next2 + 1, refresh2 + 1, refresh2 + 1),
                     STORE_CONFLICT);
    assert_int_equal(store_client_ca_get(fx->s, fx->ca_id, &got), STORE_OK);
    assert_ca_equal(&got, &want);
    store_client_ca_clear(&got);

    /* w1 with the right number. */
    assert_int_equal(store_client_ca_replace_crl(fx->s, &job, "w1", 2, 3, der3, sizeof der3,
                                                 next2 + 1, refresh2 + 5, refresh2 + 1),
                     STORE_OK);
    assert_int_equal(store_client_ca_get(fx->s, fx->ca_id, &got), STORE_OK);
    assert_int_equal(got.crl_number, 3);
    assert_int_equal(got.crl_len, sizeof der3);
    assert_memory_equal(got.crl_der, der3, sizeof der3);
    store_client_ca_clear(&got);
    assert_int_equal(next_due(fx->s), refresh2 + 5);
}

static void test_cert_count_by_status(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *zone; /* 1, 2, 3 */
        const char *status;
    } rows[] = {{"1", "active"},
                {"2", "active"},
                {"1", "pending_revocation"},
                {"1", "revoked"},
                {"2", "pending_revocation"},
                {"1", "active"}};
    struct store_client_ca ca2 = fake_ca("aaaaaaaa-bbbb-4ccc-8ddd-000000000009", fx->account2_id);
    assert_int_equal(store_client_ca_create(fx->s, &ca2, REFRESH), STORE_OK);
    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct store_client_cert c;
        add_cert(fx, &c, i + 1, rows[i].zone[0] == '1' ? fx->zone_id : fx->zone2_id, rows[i].status,
                 T0);
        store_client_cert_clear(&c);
    }
    struct store_client_cert c3;
    fill_cert(&c3, 50, fx->zone3_id, ca2.id, "active", T0);
    assert_int_equal(store_client_cert_create(fx->s, &c3), STORE_OK);
    store_client_cert_clear(&c3);

    static const char *const statuses[] = {"active", "pending_revocation", "revoked",
                                           "pending_reactivation", "bogus"};
    long long counts[5] = {-1, -1, -1, -1, -1};
    assert_int_equal(store_client_cert_count_by_status(fx->s, statuses, 5, counts), STORE_OK);
    assert_int_equal(counts[0], 4); /* across zones and accounts */
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[3], 0);
    assert_int_equal(counts[4], 0);
    /* n = 0 touches nothing. */
    long long untouched = 77;
    assert_int_equal(store_client_cert_count_by_status(fx->s, statuses, 0, &untouched), STORE_OK);
    assert_int_equal(untouched, 77);
}

/* ---- group commit ---- */

#define GC_THREADS 8
#define GC_PER_THREAD 50
#define GC_PREEXISTING 20

struct creator {
    struct fixture *fx;
    pthread_barrier_t *start;
    int thread;
    bool with_duplicates; /* every fifth create reuses a pre-existing id */
    bool same_id;         /* every thread creates the one id 0xd…999999 */
    int ok, conflict, other, unexpected;
};

static void *creator_main(void *arg)
{
    struct creator *cr = arg;
    pthread_barrier_wait(cr->start);
    int iterations = cr->same_id ? 1 : GC_PER_THREAD;
    for (int i = 0; i < iterations; i++) {
        bool dup = cr->with_duplicates && i % 5 == 0;
        unsigned n = cr->same_id ? 999999
                     : dup       ? (unsigned)((cr->thread * GC_PER_THREAD + i) % GC_PREEXISTING)
                                 : (unsigned)(1000 + cr->thread * GC_PER_THREAD + i);
        struct store_client_cert c;
        fill_cert(&c, n, cr->fx->zone_id, cr->fx->ca_id, "active", T0 + cr->thread * 1000 + i);
        if (dup)
            snprintf(c.common_name, sizeof c.common_name, "duplicate");
        int rc = store_client_cert_create(cr->fx->s, &c);
        store_client_cert_clear(&c);
        if (rc == STORE_OK)
            cr->ok++;
        else if (rc == STORE_CONFLICT)
            cr->conflict++;
        else
            cr->other++;
        if (!cr->same_id && (rc == STORE_CONFLICT) != dup)
            cr->unexpected++;
    }
    return NULL;
}

static void run_creators(struct fixture *fx, struct creator *cr, bool dups, bool same_id)
{
    pthread_barrier_t start;
    pthread_t th[GC_THREADS];
    assert_int_equal(pthread_barrier_init(&start, NULL, GC_THREADS), 0);
    for (int i = 0; i < GC_THREADS; i++) {
        cr[i] = (struct creator){
            .fx = fx, .start = &start, .thread = i, .with_duplicates = dups, .same_id = same_id};
        assert_int_equal(pthread_create(&th[i], NULL, creator_main, &cr[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
}

static int zone_total(struct fixture *fx)
{
    struct store_client_cert *l;
    int total = -1;
    int count = list(fx, fx->zone_id, NULL, 0, 1, &l, &total);
    store_client_cert_list_free(l, count);
    return total;
}

static void test_group_commit_all_land(void **state)
{
    struct fixture *fx = *state;
    struct creator cr[GC_THREADS];
    run_creators(fx, cr, false, false);
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(cr[i].ok, GC_PER_THREAD);
        assert_int_equal(cr[i].conflict, 0);
        assert_int_equal(cr[i].other, 0);
    }
    static const char *const active[] = {"active"};
    long long n = -1;
    assert_int_equal(store_client_cert_count_by_status(fx->s, active, 1, &n), STORE_OK);
    assert_int_equal(n, GC_THREADS * GC_PER_THREAD);
    assert_int_equal(zone_total(fx), GC_THREADS * GC_PER_THREAD);
    /* Each one whole. */
    for (int t = 0; t < GC_THREADS; t++) {
        for (int i = 0; i < GC_PER_THREAD; i += 7) {
            struct store_client_cert want, got;
            fill_cert(&want, (unsigned)(1000 + t * GC_PER_THREAD + i), fx->zone_id, fx->ca_id,
                      "active", T0 + t * 1000 + i);
            assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, want.id, &got), STORE_OK);
            assert_cert_equal(&got, &want);
            store_client_cert_clear(&got);
            store_client_cert_clear(&want);
        }
    }
}

static void test_group_commit_failures_do_not_undo_others(void **state)
{
    struct fixture *fx = *state;
    for (unsigned n = 0; n < GC_PREEXISTING; n++) {
        struct store_client_cert c;
        add_cert(fx, &c, n, fx->zone_id, "active", T0 - 1000);
        store_client_cert_clear(&c);
    }
    struct creator cr[GC_THREADS];
    run_creators(fx, cr, true, false);
    int fresh = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(cr[i].unexpected, 0);
        assert_int_equal(cr[i].other, 0);
        assert_int_equal(cr[i].conflict, GC_PER_THREAD / 5);
        fresh += cr[i].ok;
    }
    assert_int_equal(fresh, GC_THREADS * GC_PER_THREAD * 4 / 5);
    assert_int_equal(zone_total(fx), GC_PREEXISTING + fresh);
    /* Every fresh one is present; the originals were not overwritten. */
    for (int t = 0; t < GC_THREADS; t++) {
        for (int i = 0; i < GC_PER_THREAD; i++) {
            if (i % 5 == 0)
                continue;
            char id[STORE_ID_SIZE];
            make_id(id, 0xd, (unsigned)(1000 + t * GC_PER_THREAD + i));
            struct store_client_cert got;
            assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, id, &got), STORE_OK);
            store_client_cert_clear(&got);
        }
    }
    for (unsigned n = 0; n < GC_PREEXISTING; n++) {
        struct store_client_cert want, got;
        fill_cert(&want, n, fx->zone_id, fx->ca_id, "active", T0 - 1000);
        assert_int_equal(store_client_cert_get(fx->s, fx->zone_id, want.id, &got), STORE_OK);
        assert_cert_equal(&got, &want);
        store_client_cert_clear(&got);
        store_client_cert_clear(&want);
    }

    /* All threads racing for one new id: exactly one wins. */
    run_creators(fx, cr, false, true);
    int ok = 0, conflict = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        assert_int_equal(cr[i].other, 0);
        ok += cr[i].ok;
        conflict += cr[i].conflict;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, GC_THREADS - 1);
    assert_int_equal(zone_total(fx), GC_PREEXISTING + fresh + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_create_round_trip, setup_no_ca, teardown),
        cmocka_unit_test_setup_teardown(test_ca_signer_read_leaves_out_the_crl, setup_no_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ca_second_for_account_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_create_schedules_crl_job, setup_no_ca, teardown),
        cmocka_unit_test_setup_teardown(test_cert_create_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_request_active_to_pending_revocation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cert_request_wrong_status_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_request_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_complete_revokes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_complete_by_non_owner_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_complete_wrong_status_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_complete_after_zone_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_replace_crl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_count_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_all_land, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_failures_do_not_undo_others, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
