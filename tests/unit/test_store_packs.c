/* Unit tests of the built-in CA, certificate packs and their certificates in the SQLite
 * store (store/store_packs.c, store.h): round trips of every field, the scheduled
 * pack.advance job, the advanced quota, listing windows, optimistic updates with and
 * without a claimed job, certificate generations and their pruning, status counts, a zone
 * created with its universal pack, Universal SSL on/off, and the cascade of a zone's
 * deletion. A real store in a mkdtemp directory; the job queue and the certificate table
 * are inspected with raw SQL where the interface has no reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/migrations.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL
#define T0 (1700000000LL * SEC) /* a fixed "now" for rows written by the tests */

struct fixture {
    char *dir;
    char *path;
    struct store *s;
    char account_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
};

/* ---- raw SQL on the database file ---- */

/* The first column of the first row of sql with $1 bound to arg (may be NULL); -1 when
 * there is no row. Either backend (testutil.h). */
static long long raw_int(const struct fixture *fx, const char *sql, const char *arg)
{
    return tu_store_sql_int(fx->path, sql, arg);
}

/* The pack.advance job of a pack: its next_run_at, or -1 when there is none. */
static long long job_due(const struct fixture *fx, const char *pack_id)
{
    return raw_int(fx, "SELECT next_run_at FROM jobs WHERE kind = 'pack.advance' AND target = $1",
                   pack_id);
}

static long long job_count(const struct fixture *fx, const char *pack_id)
{
    return raw_int(fx, "SELECT count(*) FROM jobs WHERE kind = 'pack.advance' AND target = $1",
                   pack_id);
}

static long long cert_rows(const struct fixture *fx, const char *pack_id)
{
    return raw_int(fx, "SELECT count(*) FROM pack_certificates WHERE pack_id = $1", pack_id);
}

/* ---- fixtures ---- */

static void make_zone(struct store_zone *z, const char *account_id, const char *name, int64_t at)
{
    *z = (struct store_zone){
        .universal_ssl = true, .advanced_quota = 50, .created_on = at, .modified_on = at};
    util_random_id(z->id);
    snprintf(z->account_id, sizeof z->account_id, "%s", account_id);
    snprintf(z->name, sizeof z->name, "%s", name);
    assert_int_equal(STORE_ENUM_PARSE("full", &z->type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z->status), 0);
}

static void add_zone(struct fixture *fx, const char *name, char *id_out)
{
    struct store_zone z;
    make_zone(&z, fx->account_id, name, T0);
    assert_int_equal(store_zone_create(fx->s, &z), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", z.id);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-store-packs-XXXXXX", 4, &fx->dir, &fx->path, &fx->s);
    tu_add_account(fx->s, "packs@example.com", "packs account", fx->account_id);
    add_zone(fx, "example.com", fx->zone_id);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    tu_close_store(fx->s, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* A pack of zone_id with heap JSON fields (store_pack_clear it). */
static void make_pack(struct store_pack *p, const char *zone_id, const char *type,
                      const char *status, int64_t created_on)
{
    *p = (struct store_pack){.validity_days = 90,
                             .status_since = created_on,
                             .created_on = created_on,
                             .modified_on = created_on};
    util_random_id(p->id);
    snprintf(p->zone_id, sizeof p->zone_id, "%s", zone_id);
    assert_int_equal(STORE_ENUM_PARSE(type, &p->type), 0);
    assert_int_equal(STORE_ENUM_PARSE(status, &p->status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p->certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p->validation_method), 0);
    tu_pack_set(p, TU_HOSTS, "[\"example.com\",\"*.example.com\"]");
}

/* Creates a pack and returns its id in id_out. */
static int add_pack(struct fixture *fx, const char *zone_id, const char *type, const char *status,
                    int64_t created_on, char *id_out)
{
    struct store_pack p;
    make_pack(&p, zone_id, type, status, created_on);
    int rc = store_pack_create(fx->s, &p);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
    return rc;
}

/* Claims exactly the one due job (the pack's) as owner. */
static void claim_one(struct fixture *fx, const char *owner, const char *pack_id,
                      struct store_job *job)
{
    int count = 0;
    struct store_job jobs[4];
    assert_int_equal(store_job_claim(fx->s, owner, util_now_us(), 60 * SEC, jobs, 4, &count),
                     STORE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(jobs[0].kind, STORE_PACK_JOB);
    assert_string_equal(jobs[0].target, pack_id);
    *job = jobs[0];
}

/* Removes a pack's pending job, so that later scheduling shows. */
static void drain_job(struct fixture *fx, const char *pack_id)
{
    assert_int_equal(tu_store_sql_exec(fx->path, "DELETE FROM jobs WHERE target = $1", pack_id), 1);
    assert_int_equal(job_count(fx, pack_id), 0);
}

/* a: read back from the store; b: as written. */
static void assert_pack_equal(const struct store_pack *a, const struct store_pack *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->zone_id, b->zone_id);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->status_since, b->status_since);
    assert_int_equal(a->certificate_authority, b->certificate_authority);
    assert_int_equal(a->validation_method, b->validation_method);
    assert_int_equal(a->validity_days, b->validity_days);
    assert_int_equal(a->cloudflare_branding, b->cloudflare_branding);
    for (int k = 0; k < 4; k++) {
        char *want = tu_pack_text(b, (enum store__pack_array)k);
        assert_pack_text(a, (enum store__pack_array)k, want);
        xfree(want);
    }
    assert_int_equal(a->check_failures, b->check_failures);
    assert_int_equal(a->renewal_failures, b->renewal_failures);
    assert_int_equal(a->cert_generation, b->cert_generation);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->created_on, b->created_on);
    assert_int_equal(a->modified_on, b->modified_on);
}

/* A certificate row of generation gen (store_pack_cert_clear it): the shared fixture's,
 * with a serial, chain, sealed key and times that differ per generation and priority, so
 * a mixed-up column shows. */
static void make_cert(struct store_pack_cert *c, const char *pack_id, int gen, int priority)
{
    tu_pack_cert(c, pack_id, gen, priority, T0 + (90LL * 86400 + gen) * SEC);
    snprintf(c->serial, sizeof c->serial, "%02x%02x0123456789abcdef", gen, priority);
    xfree(c->chain_pem);
    c->chain_pem = xasprintf("-----BEGIN CERTIFICATE-----\ngen%d prio%d\n"
                             "-----END CERTIFICATE-----\n",
                             gen, priority);
    xfree(c->key_sealed);
    c->key_sealed_len = 5 + (size_t)priority;
    c->key_sealed = xmalloc(c->key_sealed_len);
    for (size_t i = 0; i < c->key_sealed_len; i++)
        c->key_sealed[i] = (unsigned char)(i == 1 ? 0 : 0xa0 + gen * 16 + priority + (int)i);
    c->not_before = T0 + gen * SEC;
    c->uploaded_on = T0 + 10 * SEC + gen;
    c->modified_on = T0 + 20 * SEC + gen;
}

static void assert_cert_equal(const struct store_pack_cert *a, const struct store_pack_cert *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->pack_id, b->pack_id);
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->key_type, b->key_type);
    assert_string_equal(a->signature, b->signature);
    assert_string_equal(a->issuer, b->issuer);
    assert_string_equal(a->serial, b->serial);
    assert_string_equal(a->chain_pem, b->chain_pem);
    assert_int_equal(a->key_sealed_len, b->key_sealed_len);
    assert_memory_equal(a->key_sealed, b->key_sealed, a->key_sealed_len);
    assert_int_equal(a->not_before, b->not_before);
    assert_int_equal(a->expires_on, b->expires_on);
    assert_int_equal(a->uploaded_on, b->uploaded_on);
    assert_int_equal(a->modified_on, b->modified_on);
}

/* ---- the built-in CA ---- */

static void test_local_ca_round_trip_and_conflict(void **state)
{
    struct fixture *fx = *state;
    struct store_local_ca got;
    assert_int_equal(store_local_ca_get(fx->s, &got), STORE_NOT_FOUND);

    /* Blobs with a NUL inside: stored as bytes, not strings. */
    unsigned char root_key[] = {1, 0, 2, 3, 0xff}, inter_key[] = {9, 8, 0, 7};
    struct store_local_ca ca = {.root_pem = xstrdup("ROOT PEM\n"),
                                .intermediate_pem = xstrdup("INTERMEDIATE PEM\n"),
                                .root_key_sealed = xmalloc(sizeof root_key),
                                .intermediate_key_sealed = xmalloc(sizeof inter_key),
                                .root_key_sealed_len = sizeof root_key,
                                .intermediate_key_sealed_len = sizeof inter_key,
                                .created_on = T0 + 42};
    memcpy(ca.root_key_sealed, root_key, sizeof root_key);
    memcpy(ca.intermediate_key_sealed, inter_key, sizeof inter_key);
    assert_int_equal(store_local_ca_create(fx->s, &ca), STORE_OK);

    assert_int_equal(store_local_ca_get(fx->s, &got), STORE_OK);
    assert_string_equal(got.root_pem, "ROOT PEM\n");
    assert_string_equal(got.intermediate_pem, "INTERMEDIATE PEM\n");
    assert_int_equal(got.root_key_sealed_len, sizeof root_key);
    assert_memory_equal(got.root_key_sealed, root_key, sizeof root_key);
    assert_int_equal(got.intermediate_key_sealed_len, sizeof inter_key);
    assert_memory_equal(got.intermediate_key_sealed, inter_key, sizeof inter_key);
    assert_int_equal(got.created_on, T0 + 42);
    store_local_ca_clear(&got);
    assert_null(got.root_pem);

    /* One CA per store: a second is refused and the first stays. */
    struct store_local_ca other = {.root_pem = xstrdup("OTHER ROOT"),
                                   .intermediate_pem = xstrdup("OTHER INTERMEDIATE"),
                                   .root_key_sealed = xmalloc(1),
                                   .intermediate_key_sealed = xmalloc(1),
                                   .root_key_sealed_len = 1,
                                   .intermediate_key_sealed_len = 1,
                                   .created_on = T0 + 99};
    other.root_key_sealed[0] = other.intermediate_key_sealed[0] = 0x55;
    assert_int_equal(store_local_ca_create(fx->s, &other), STORE_CONFLICT);
    assert_int_equal(store_local_ca_get(fx->s, &got), STORE_OK);
    assert_string_equal(got.root_pem, "ROOT PEM\n");
    assert_int_equal(got.created_on, T0 + 42);
    store_local_ca_clear(&got);
    store_local_ca_clear(&other);
    store_local_ca_clear(&ca);
}

/* ---- create and read ---- */

static void test_pack_round_trip_every_field(void **state)
{
    struct fixture *fx = *state;
    struct store_pack p;
    make_pack(&p, fx->zone_id, "advanced", "pending_validation", T0 + 100);
    p.status_since = T0 + 150;
    assert_int_equal(STORE_ENUM_PARSE("ssl_com", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("http", &p.validation_method), 0);
    p.validity_days = 365;
    p.cloudflare_branding = true;
    tu_pack_set(&p, TU_RECORDS,
                "[{\"http_url\":\"http://example.com/.well-known/acme-"
                "challenge/tok\",\"http_body\":\"body\",\"status\":\"pending\"}]");
    tu_pack_set(&p, TU_ERRORS, "[{\"message\":\"HTTP check got 404 \\u00e9\"}]");
    tu_pack_set(&p, TU_DELEGATION,
                "[{\"cname\":\"_acme-challenge.example.com\",\"cname_target\":\"x.dcv\"}]");
    p.check_failures = 3;
    p.renewal_failures = 2;
    p.cert_generation = 4;
    p.version = 7;
    p.modified_on = T0 + 200;
    assert_int_equal(store_pack_create(fx->s, &p), STORE_OK);

    struct store_pack got;
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, p.id, &got), STORE_OK);
    assert_pack_equal(&got, &p);
    store_pack_clear(&got);
    assert_null(got.hosts);
    assert_int_equal(store_pack_by_id(fx->s, p.id, &got), STORE_OK);
    assert_pack_equal(&got, &p);
    store_pack_clear(&got);

    /* Scheduled for the worker at created_on. */
    assert_int_equal(job_count(fx, p.id), 1);
    assert_int_equal(job_due(fx, p.id), T0 + 100);

    /* Another zone's id, or an unknown pack: not found. */
    char other_zone[STORE_ID_SIZE], unknown[STORE_ID_SIZE];
    add_zone(fx, "other.example", other_zone);
    assert_int_equal(store_pack_get(fx->s, other_zone, p.id, &got), STORE_NOT_FOUND);
    util_random_id(unknown);
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, unknown, &got), STORE_NOT_FOUND);
    assert_int_equal(store_pack_by_id(fx->s, unknown, &got), STORE_NOT_FOUND);

    /* The same id twice is a conflict. */
    assert_int_equal(store_pack_create(fx->s, &p), STORE_CONFLICT);
    store_pack_clear(&p);
}

static void test_pack_null_json_fields_read_as_empty_arrays(void **state)
{
    struct fixture *fx = *state;
    struct store_pack p, got;
    make_pack(&p, fx->zone_id, "universal", "initializing", T0);
    assert_null(p.validation_records);
    assert_int_equal(store_pack_create(fx->s, &p), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, p.id, &got), STORE_OK);
    assert_pack_text(&got, TU_HOSTS, "[\"example.com\",\"*.example.com\"]");
    assert_int_equal(got.validation_record_count, 0);
    assert_int_equal(got.validation_error_count, 0);
    assert_int_equal(got.dcv_delegation_record_count, 0);
    assert_pack_text(&got, TU_RECORDS, "[]");
    assert_pack_text(&got, TU_ERRORS, "[]");
    assert_pack_text(&got, TU_DELEGATION, "[]");
    assert_false(got.cloudflare_branding);
    store_pack_clear(&got);
    store_pack_clear(&p);
}

static void test_pack_create_unknown_zone(void **state)
{
    struct fixture *fx = *state;
    char zone[STORE_ID_SIZE], id[STORE_ID_SIZE];
    util_random_id(zone);
    assert_int_equal(add_pack(fx, zone, "advanced", "initializing", T0, id), STORE_NOT_FOUND);
    assert_int_equal(job_count(fx, id), 0);
    assert_int_equal(add_pack(fx, zone, "universal", "initializing", T0, id), STORE_NOT_FOUND);
    assert_int_equal(job_count(fx, id), 0);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM packs", NULL), 0);
}

/* ---- the advanced quota ---- */

/* Moves a pack to `status` through store_pack_update (no job). */
static void set_status(struct fixture *fx, const char *id, const char *status)
{
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE(status, &p.status), 0);
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
}

/* Lists packs with f and asserts STORE_OK, the total, and the page: n packs and, when ids
 * is not NULL, their ids in order. Returns the page (caller store_pack_list_free's it). */
static struct store_pack *expect_list(struct fixture *fx, const struct store_pack_filter *f,
                                      int total, int n, const char *const *ids)
{
    struct store_pack *list = NULL;
    int count = -1, got_total = -1;
    assert_int_equal(store_pack_list(fx->s, f, &list, &count, &got_total), STORE_OK);
    assert_int_equal(got_total, total);
    assert_int_equal(count, n);
    assert_non_null(list);
    for (int i = 0; ids && i < n; i++)
        assert_string_equal(list[i].id, ids[i]);
    return list;
}

/* expect_list when the ids are all there is to check. */
static void expect_ids(struct fixture *fx, const struct store_pack_filter *f, int total, int n,
                       const char *const *ids)
{
    store_pack_list_free(expect_list(fx, f, total, n, ids), n);
}

/* A keys-only list reads, for the same page, the same id, zone, status, certificate
 * generation, version and modification time as a full one, and nothing else (no arrays). */
static void test_list_keys_only(void **state)
{
    struct fixture *fx = *state;
    char ids[5][STORE_ID_SIZE];
    const char *statuses[] = {"initializing", "active", "pending_validation", "active", "deleted"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(add_pack(fx, fx->zone_id, "advanced", statuses[i], T0 + i, ids[i]),
                         STORE_OK);
    set_status(fx, ids[0], "pending_validation"); /* a version and modified_on of its own */
    struct store_pack_filter f = {.zone_id = fx->zone_id, .limit = 50, .include_deleted = true};
    struct store_pack *full = expect_list(fx, &f, 5, 5, NULL);
    f.keys_only = true;
    struct store_pack *keys = expect_list(fx, &f, 5, 5, NULL);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(keys[i].id, full[i].id);
        assert_string_equal(keys[i].zone_id, full[i].zone_id);
        assert_int_equal(keys[i].status, full[i].status);
        assert_int_equal(keys[i].cert_generation, full[i].cert_generation);
        assert_int_equal(keys[i].version, full[i].version);
        assert_true(keys[i].modified_on == full[i].modified_on);
        assert_int_equal(keys[i].host_count, 0);
        assert_null(keys[i].hosts);
        assert_true(full[i].host_count > 0);
    }
    assert_int_not_equal(full[0].version, full[1].version);
    store_pack_list_free(full, 5);
    store_pack_list_free(keys, 5);
}

/* A listed page (the rows kept as read, arrays decoded on demand) holds, once decoded, the
 * very packs of the full list's page, deep pages included. */
static void test_list_listed_decodes_to_full(void **state)
{
    struct fixture *fx = *state;
    enum { N = 140 }; /* past one step of the position map */
    char ids[N][STORE_ID_SIZE];
    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, N), STORE_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(add_pack(fx, fx->zone_id, "advanced", i % 3 ? "active" : "initializing",
                                  T0 + i, ids[i]),
                         STORE_OK);
    set_status(fx, ids[1], "pending_validation");
    for (int page = 0; page < 3; page++) {
        struct store_pack_filter f = {
            .zone_id = fx->zone_id, .offset = page * 60, .limit = 60, .include_deleted = true};
        int n = page < 2 ? 60 : N - 120;
        struct store_pack *full = expect_list(fx, &f, N, n, NULL);
        struct store_pack_listed *listed = NULL;
        int count = -1, total = -1;
        assert_int_equal(store_pack_list_listed(fx->s, &f, &listed, &count, &total), STORE_OK);
        assert_int_equal(count, n);
        assert_int_equal(total, N);
        for (int i = 0; i < n; i++) {
            struct store_pack *k = &listed[i].pack;
            assert_string_equal(k->id, full[i].id);
            assert_int_equal(k->status, full[i].status);
            assert_int_equal(k->version, full[i].version);
            assert_true(k->modified_on == full[i].modified_on);
            assert_null(k->hosts); /* not decoded yet */
            assert_non_null(listed[i].texts[0]);
            /* Decode every other one: the rest are freed undecoded. */
            if (i % 2)
                continue;
            assert_int_equal(store_pack_listed_decode(&listed[i]), STORE_OK);
            assert_null(listed[i].texts[0]);
            assert_int_equal(k->host_count, full[i].host_count);
            assert_true(k->host_count > 0);
            for (int h = 0; h < k->host_count; h++)
                assert_string_equal(k->hosts[h].name, full[i].hosts[h].name);
            assert_int_equal(k->type, full[i].type);
            assert_int_equal(k->certificate_authority, full[i].certificate_authority);
            assert_int_equal(k->validation_method, full[i].validation_method);
            assert_int_equal(k->validity_days, full[i].validity_days);
            assert_true(k->created_on == full[i].created_on);
            assert_int_equal(k->validation_record_count, full[i].validation_record_count);
            assert_int_equal(k->dcv_delegation_record_count, full[i].dcv_delegation_record_count);
        }
        store_pack_listed_free(listed, count);
        store_pack_list_free(full, n);
    }
}

/* The default list: active packs only, its total from the per-zone counter the triggers of
 * migration 8 keep, through every way a pack enters or leaves "active". */
static void test_list_active_only(void **state)
{
    struct fixture *fx = *state;
    char ids[4][STORE_ID_SIZE];
    for (int i = 0; i < 4; i++)
        assert_int_equal(add_pack(fx, fx->zone_id, "advanced", i == 1 ? "active" : "initializing",
                                  T0 + i, ids[i]),
                         STORE_OK);
    set_status(fx, ids[2], "active");
    set_status(fx, ids[3], "active");
    set_status(fx, ids[3], "pending_deletion");
    char other[STORE_ID_SIZE], o1[STORE_ID_SIZE];
    add_zone(fx, "other-active.example", other);
    assert_int_equal(add_pack(fx, other, "advanced", "active", T0, o1), STORE_OK);

    struct store_pack_filter f = {.zone_id = fx->zone_id, .limit = 50, .active_only = true};
    expect_ids(fx, &f, 2, 2, (const char *[]){ids[1], ids[2]});

    /* A page past the first, and the counter after leaving active (to expired, deleted). */
    f.offset = 1;
    f.limit = 1;
    expect_ids(fx, &f, 2, 1, (const char *[]){ids[2]});
    set_status(fx, ids[1], "expired");
    set_status(fx, ids[2], "deleted");
    f.offset = 0;
    expect_ids(fx, &f, 0, 0, NULL);

    /* The live list still has every pack but the deleted one. */
    f = (struct store_pack_filter){.zone_id = fx->zone_id, .limit = 50};
    expect_ids(fx, &f, 3, 3, NULL);
    f = (struct store_pack_filter){.zone_id = other, .limit = 50, .active_only = true};
    expect_ids(fx, &f, 1, 1, (const char *[]){o1});
}

static void test_advanced_quota(void **state)
{
    struct fixture *fx = *state;
    int allocated = -1, used = -1;
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(allocated, 50);
    assert_int_equal(used, 0);

    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, 2), STORE_OK);
    char unknown[STORE_ID_SIZE];
    util_random_id(unknown);
    assert_int_equal(store_zone_set_quota(fx->s, unknown, 2), STORE_NOT_FOUND);
    struct store_zone z;
    assert_int_equal(store_zone_get(fx->s, fx->zone_id, &z), STORE_OK);
    assert_int_equal(z.advanced_quota, 2);

    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE], a3[STORE_ID_SIZE], u1[STORE_ID_SIZE],
        u2[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 1, a1), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "universal", "initializing", T0 + 2, u1), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "active", T0 + 3, a2), STORE_OK);
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(allocated, 2);
    assert_int_equal(used, 2);

    /* Full: the third advanced pack is refused and leaves nothing behind. */
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 4, a3),
                     STORE_QUOTA);
    struct store_pack got;
    assert_int_equal(store_pack_by_id(fx->s, a3, &got), STORE_NOT_FOUND);
    assert_int_equal(job_count(fx, a3), 0);
    /* Universal packs do not count and are not limited. */
    assert_int_equal(add_pack(fx, fx->zone_id, "universal", "initializing", T0 + 5, u2), STORE_OK);

    /* Another zone's quota is its own. */
    char other[STORE_ID_SIZE], o1[STORE_ID_SIZE];
    add_zone(fx, "other.example", other);
    assert_int_equal(add_pack(fx, other, "advanced", "initializing", T0 + 6, o1), STORE_OK);
    assert_int_equal(store_pack_quota(fx->s, other, &allocated, &used), STORE_OK);
    assert_int_equal(allocated, 50);
    assert_int_equal(used, 1);

    /* pending_deletion frees the slot at once. */
    set_status(fx, a1, "pending_deletion");
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 1);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 7, a3), STORE_OK);
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 2);
    char a4[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 8, a4),
                     STORE_QUOTA);
    /* ... and deleted keeps it free. */
    set_status(fx, a1, "deleted");
    set_status(fx, a2, "deleted");
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 1);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 9, a4), STORE_OK);

    /* A lowered allocation below the usage refuses new packs without touching old ones. */
    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, 1), STORE_OK);
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(allocated, 1);
    assert_int_equal(used, 2);
    char a5[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 10, a5),
                     STORE_QUOTA);
    assert_int_equal(store_pack_quota(fx->s, unknown, &allocated, &used), STORE_NOT_FOUND);
}

/* The zone's advanced_used counter (the quota check reads it instead of counting the
 * zone's packs) equals a count of its packs that use the allocation. */
static void expect_advanced_used(const struct fixture *fx, long long want)
{
    assert_int_equal(raw_int(fx, "SELECT advanced_used FROM zones WHERE id = $1", fx->zone_id),
                     want);
    assert_int_equal(raw_int(fx,
                             "SELECT count(*) FROM packs WHERE zone_id = $1 AND type = 'advanced' "
                             "AND status NOT IN ('pending_deletion', 'deleted', "
                             "'deletion_timed_out')",
                             fx->zone_id),
                     want);
}

/* The counter through every way a pack starts or stops using the allocation: created
 * (advanced only), moved to and back from a status that frees it, and its row removed. */
static void test_advanced_used_counter(void **state)
{
    struct fixture *fx = *state;
    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE], a3[STORE_ID_SIZE], u1[STORE_ID_SIZE];
    expect_advanced_used(fx, 0);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 1, a1), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "active", T0 + 2, a2), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "universal", "active", T0 + 3, u1), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "deleted", T0 + 4, a3), STORE_OK);
    expect_advanced_used(fx, 2);
    set_status(fx, a1, "deletion_timed_out");
    expect_advanced_used(fx, 1);
    set_status(fx, a1, "pending_deletion"); /* between two freeing statuses: no change */
    expect_advanced_used(fx, 1);
    set_status(fx, a3, "active"); /* back in use (not a real transition, but counted) */
    expect_advanced_used(fx, 2);
    set_status(fx, u1, "deleted"); /* a universal pack never counts */
    expect_advanced_used(fx, 2);
    assert_int_equal(tu_store_sql_exec(fx->path, "DELETE FROM packs WHERE id = $1", a2), 1);
    expect_advanced_used(fx, 1);
    int allocated = -1, used = -1;
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 1);
}

/* A store made before the counter existed gets it filled in by its migration (and then
 * kept by the merged zone-counter triggers of the next one). */
static void test_advanced_used_migration(void **state)
{
    TU_SQLITE_ONLY("rolls a SQLite file back three schema versions");
    struct fixture *fx = *state;
    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE], a3[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + 1, a1), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "active", T0 + 2, a2), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "deleted", T0 + 3, a3), STORE_OK);
    store_close(fx->s);
    fx->s = NULL;
    /* Back to version 14 (before the counter): undo migrations 15 to 17, which run again. */
    const char *undo[] = {"DROP TRIGGER packs_zone_insert", "DROP TRIGGER packs_zone_delete",
                          "DROP TRIGGER packs_zone_update",
                          "ALTER TABLE zones DROP COLUMN advanced_used",
                          "DROP INDEX pack_certificates_shown"};
    for (size_t i = 0; i < sizeof undo / sizeof undo[0]; i++)
        tu_store_sql_exec(fx->path, undo[i], NULL);
    char *pragma = xasprintf("PRAGMA user_version = %d", 14);
    tu_store_sql_exec(fx->path, pragma, NULL);
    xfree(pragma);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 4, &fx->s), STORE_OK);
    expect_advanced_used(fx, 2);
}

/* The zone counters (live, active, advanced used, list version) are kept by one trigger
 * per event on packs, so an order's INSERT rewrites its zone's row once under the group
 * commit's writer, not once per counter. The counters' values are what the other tests
 * of this file check. */
static void test_zone_counters_one_trigger_per_event(void **state)
{
    struct fixture *fx = *state;
    const char *sql = tu_backend_postgres()
                          ? "SELECT count(*) FROM pg_trigger "
                            "WHERE tgrelid = 'packs'::regclass AND NOT tgisinternal"
                          : "SELECT count(*) FROM sqlite_master "
                            "WHERE type = 'trigger' AND tbl_name = 'packs'";
    /* SQLite: INSERT, DELETE, UPDATE; PostgreSQL: INSERT OR DELETE, UPDATE. */
    assert_int_equal(raw_int(fx, sql, NULL), tu_backend_postgres() ? 2 : 3);
}

#define RACERS 8

struct racer {
    struct fixture *fx;
    int rc;
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    char id[STORE_ID_SIZE];
    r->rc = add_pack(r->fx, r->fx->zone_id, "advanced", "initializing", util_now_us(), id);
    return NULL;
}

/* Concurrent orders never overshoot the allocation (each check and insert is atomic). */
static void test_advanced_quota_concurrent(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, 3), STORE_OK);
    pthread_t threads[RACERS];
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){fx, 1};
        assert_int_equal(pthread_create(&threads[i], NULL, race_create, &racers[i]), 0);
    }
    int ok = 0, quota = 0;
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        ok += racers[i].rc == STORE_OK;
        quota += racers[i].rc == STORE_QUOTA;
    }
    assert_int_equal(ok, 3);
    assert_int_equal(quota, RACERS - 3);
    int allocated, used;
    assert_int_equal(store_pack_quota(fx->s, fx->zone_id, &allocated, &used), STORE_OK);
    assert_int_equal(used, 3);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM packs WHERE zone_id = $1", fx->zone_id), 3);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM jobs", NULL), 3);
}

/* ---- listing ---- */

static void test_list_order_windows_and_deleted(void **state)
{
    struct fixture *fx = *state;
    /* Created out of order; two share a created_on (then the id decides). */
    char ids[5][STORE_ID_SIZE];
    static const int64_t at[5] = {T0 + 30, T0 + 10, T0 + 20, T0 + 20, T0 + 40};
    for (int i = 0; i < 5; i++)
        assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", at[i], ids[i]),
                         STORE_OK);
    set_status(fx, ids[0], "deleted");
    char other[STORE_ID_SIZE], o1[STORE_ID_SIZE];
    add_zone(fx, "other.example", other);
    assert_int_equal(add_pack(fx, other, "advanced", "initializing", T0, o1), STORE_OK);

    /* Expected order of the live ones: ids[1], the lower of ids[2]/ids[3], the other, ids[4]. */
    const char *tie_lo = strcmp(ids[2], ids[3]) < 0 ? ids[2] : ids[3];
    const char *tie_hi = tie_lo == ids[2] ? ids[3] : ids[2];
    const char *live[4] = {ids[1], tie_lo, tie_hi, ids[4]};
    const char *all[5] = {ids[1], tie_lo, tie_hi, ids[0], ids[4]};

    struct store_pack_filter f = {.zone_id = fx->zone_id, .offset = 0, .limit = 50};
    struct store_pack *list = expect_list(fx, &f, 4, 4, live);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(list[i].zone_id, fx->zone_id);
        assert_pack_text(&list[i], TU_HOSTS, "[\"example.com\",\"*.example.com\"]");
    }
    store_pack_list_free(list, 4);

    f.include_deleted = true;
    list = expect_list(fx, &f, 5, 5, all);
    assert_string_equal(STORE_ENUM_NAME(list[3].status), "deleted");
    store_pack_list_free(list, 5);

    /* Windows: total counts every match, the page holds the window. */
    f = (struct store_pack_filter){.zone_id = fx->zone_id, .offset = 1, .limit = 2};
    expect_ids(fx, &f, 4, 2, live + 1);
    f.offset = 3;
    expect_ids(fx, &f, 4, 1, live + 3);
    f.offset = 4;
    expect_ids(fx, &f, 4, 0, NULL);

    /* A zone without packs, and a bad window. */
    char empty[STORE_ID_SIZE];
    add_zone(fx, "empty.example", empty);
    f = (struct store_pack_filter){.zone_id = empty, .offset = 0, .limit = 10};
    expect_ids(fx, &f, 0, 0, NULL);
    int count = -1, total = -1;
    f.limit = 0;
    assert_int_equal(store_pack_list(fx->s, &f, &list, &count, &total), STORE_ERROR);
    assert_null(list);
    assert_int_equal(count, 0);
    f.limit = 1;
    f.offset = -1;
    assert_int_equal(store_pack_list(fx->s, &f, &list, &count, &total), STORE_ERROR);
    assert_null(list);
}

/* ---- updates ---- */

static void test_update_version_check(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0, id), STORE_OK);
    drain_job(fx, id);

    struct store_pack p, stale, got;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, id, &stale), STORE_OK);
    assert_int_equal(p.version, 0);

    /* Every mutable field is written; identity fields are not. */
    assert_int_equal(STORE_ENUM_PARSE("pending_validation", &p.status), 0);
    p.status_since = T0 + 5;
    assert_int_equal(STORE_ENUM_PARSE("http", &p.validation_method), 0);
    p.cloudflare_branding = true;
    tu_pack_set(&p, TU_HOSTS, "[\"example.com\"]");
    tu_pack_set(&p, TU_RECORDS, "[{\"txt_name\":\"a\",\"txt_value\":\"b\"}]");
    tu_pack_set(&p, TU_ERRORS, "[{\"message\":\"m\"}]");
    tu_pack_set(&p, TU_DELEGATION, "[{\"cname\":\"c\",\"cname_target\":\"t\"}]");
    p.check_failures = 4;
    p.renewal_failures = 5;
    p.cert_generation = 6;
    assert_int_equal(STORE_ENUM_PARSE("universal", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("google", &p.certificate_authority), 0);
    p.validity_days = 14;
    p.created_on = T0 + 999;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, 0, T0 + 77), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_validation");
    assert_int_equal(got.status_since, T0 + 5);
    assert_string_equal(STORE_ENUM_NAME(got.validation_method), "http");
    assert_true(got.cloudflare_branding);
    assert_pack_text(&got, TU_HOSTS, "[\"example.com\"]");
    assert_pack_text(&got, TU_RECORDS, "[{\"txt_name\":\"a\",\"txt_value\":\"b\"}]");
    assert_pack_text(&got, TU_ERRORS, "[{\"message\":\"m\"}]");
    assert_pack_text(&got, TU_DELEGATION, "[{\"cname\":\"c\",\"cname_target\":\"t\"}]");
    assert_int_equal(got.check_failures, 4);
    assert_int_equal(got.renewal_failures, 5);
    assert_int_equal(got.cert_generation, 6);
    assert_int_equal(got.version, 1);
    assert_int_equal(got.modified_on, T0 + 77);
    assert_string_equal(STORE_ENUM_NAME(got.type), "advanced");
    assert_string_equal(STORE_ENUM_NAME(got.certificate_authority), "lets_encrypt");
    assert_int_equal(got.validity_days, 90);
    assert_int_equal(got.created_on, T0);
    store_pack_clear(&got);
    /* No job, reschedule 0: nothing scheduled. */
    assert_int_equal(job_count(fx, id), 0);

    /* The copy read before that update is stale: refused, nothing written, no job. */
    assert_int_equal(STORE_ENUM_PARSE("pending_deletion", &stale.status), 0);
    assert_int_equal(store_pack_update(fx->s, &stale, NULL, NULL, T0 + 1, T0 + 88), STORE_CONFLICT);
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_validation");
    assert_int_equal(got.version, 1);
    assert_int_equal(got.modified_on, T0 + 77);
    store_pack_clear(&got);
    assert_int_equal(job_count(fx, id), 0);
    store_pack_clear(&stale);

    /* The current version goes through and bumps it again; reschedule_at schedules. */
    p.version = 1;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, T0 + 500, T0 + 99), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    assert_int_equal(got.version, 2);
    store_pack_clear(&got);
    assert_int_equal(job_due(fx, id), T0 + 500);
    /* An earlier reschedule moves the job earlier, a later one does not move it back. */
    p.version = 2;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, T0 + 400, T0 + 99), STORE_OK);
    assert_int_equal(job_due(fx, id), T0 + 400);
    p.version = 3;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, T0 + 600, T0 + 99), STORE_OK);
    assert_int_equal(job_due(fx, id), T0 + 400);

    /* An unknown pack is a conflict too (it is gone since it was read). */
    util_random_id(p.id);
    p.version = 0;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, 0, T0), STORE_CONFLICT);
    assert_int_equal(job_count(fx, p.id), 0);
    store_pack_clear(&p);
}

static void test_update_with_claimed_job(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0, id), STORE_OK);
    struct store_job job;
    claim_one(fx, "w1", id, &job);
    assert_int_equal(job.attempts, 1);

    /* Completed with reschedule 0: the job is gone. */
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("validation_timed_out", &p.status), 0);
    assert_int_equal(store_pack_update(fx->s, &p, &job, "w1", 0, util_now_us()), STORE_OK);
    assert_int_equal(job_count(fx, id), 0);
    store_pack_clear(&p);

    /* Completed with a reschedule: due then, lease released, attempts reset. */
    assert_int_equal(store_job_schedule(fx->s, STORE_PACK_JOB, id, T0), STORE_OK);
    claim_one(fx, "w1", id, &job);
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    assert_int_equal(p.version, 1);
    int64_t later = util_now_us() + 3600 * SEC;
    assert_int_equal(store_pack_update(fx->s, &p, &job, "w1", later, util_now_us()), STORE_OK);
    assert_int_equal(job_count(fx, id), 1);
    assert_int_equal(job_due(fx, id), later);
    assert_int_equal(
        raw_int(fx,
                "SELECT CASE WHEN lease_owner = '' AND lease_until = 0 AND attempts = 0 "
                "THEN 1 ELSE 0 END FROM jobs WHERE target = $1",
                id),
        1);
    store_pack_clear(&p);

    /* Scheduled again while held (an API change meanwhile): completing with 0 keeps it,
     * due now, so the change is not lost. */
    assert_int_equal(store_job_schedule(fx->s, STORE_PACK_JOB, id, T0), STORE_OK);
    claim_one(fx, "w1", id, &job);
    int64_t before = util_now_us();
    assert_int_equal(store_job_schedule(fx->s, STORE_PACK_JOB, id, before), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    int64_t now = util_now_us();
    assert_int_equal(store_pack_update(fx->s, &p, &job, "w1", 0, now), STORE_OK);
    assert_int_equal(job_count(fx, id), 1);
    assert_int_equal(job_due(fx, id), now);
    store_pack_clear(&p);
}

static void test_update_job_held_by_another_owner(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "pending_issuance", T0, id), STORE_OK);
    struct store_job job;
    claim_one(fx, "w1", id, &job);

    struct store_pack p, got;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("pending_deployment", &p.status), 0);
    p.cert_generation = 1;
    struct store_pack_cert certs[2];
    make_cert(&certs[0], id, 1, 1);
    make_cert(&certs[1], id, 1, 2);
    assert_int_equal(
        store_pack_update_with_certs(fx->s, &p, certs, 2, &job, "w2", 0, util_now_us()),
        STORE_CONFLICT);
    assert_int_equal(store_pack_update(fx->s, &p, &job, "w2", 0, util_now_us()), STORE_CONFLICT);

    /* Nothing written: pack, certificates, job (still w1's). */
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_issuance");
    assert_int_equal(got.version, 0);
    assert_int_equal(got.cert_generation, 0);
    store_pack_clear(&got);
    assert_int_equal(cert_rows(fx, id), 0);
    assert_int_equal(job_count(fx, id), 1);
    assert_int_equal(raw_int(fx,
                             "SELECT CASE WHEN lease_owner = 'w1' THEN 1 ELSE 0 END FROM jobs "
                             "WHERE target = $1",
                             id),
                     1);

    /* The holder's commit goes through. */
    assert_int_equal(
        store_pack_update_with_certs(fx->s, &p, certs, 2, &job, "w1", 0, util_now_us()), STORE_OK);
    assert_int_equal(cert_rows(fx, id), 2);
    assert_int_equal(job_count(fx, id), 0);
    store_pack_cert_clear(&certs[0]);
    store_pack_cert_clear(&certs[1]);
    store_pack_clear(&p);
}

/* ---- certificates ---- */

/* What a rendering reads of a generation's certificates: the same rows by priority, with
 * the fields the API shows and none of the chain, sealed key or serial. */
static void test_certs_shown_match_certs(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "pending_issuance", T0, id), STORE_OK);
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);
    struct store_pack_cert g1[2];
    make_cert(&g1[0], id, 1, 2); /* inserted RSA first */
    make_cert(&g1[1], id, 1, 1);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->s, &p, g1, 2, NULL, NULL, 0, T0), STORE_OK);
    struct store_pack_cert *full = NULL, *shown = NULL;
    int nfull = -1, nshown = -1;
    assert_int_equal(store_pack_certs(fx->s, id, 1, &full, &nfull), STORE_OK);
    assert_int_equal(store_pack_certs_shown(fx->s, id, 1, &shown, &nshown), STORE_OK);
    assert_int_equal(nshown, 2);
    assert_int_equal(nshown, nfull);
    for (int i = 0; i < nshown; i++) {
        assert_string_equal(shown[i].id, full[i].id);
        assert_string_equal(shown[i].pack_id, id);
        assert_int_equal(shown[i].generation, 1);
        assert_int_equal(shown[i].priority, i + 1);
        assert_string_equal(shown[i].signature, full[i].signature);
        assert_string_equal(shown[i].issuer, full[i].issuer);
        assert_true(shown[i].expires_on == full[i].expires_on);
        assert_true(shown[i].uploaded_on == full[i].uploaded_on);
        assert_true(shown[i].modified_on == full[i].modified_on);
        assert_null(shown[i].chain_pem);
        assert_null(shown[i].key_sealed);
        assert_string_equal(shown[i].serial, "");
        assert_non_null(full[i].chain_pem);
    }
    store_pack_cert_list_free(full, nfull);
    store_pack_cert_list_free(shown, nshown);
    /* A generation with none: an empty list. */
    assert_int_equal(store_pack_certs_shown(fx->s, id, 2, &shown, &nshown), STORE_OK);
    assert_int_equal(nshown, 0);
    assert_null(shown);
    store_pack_cert_clear(&g1[0]);
    store_pack_cert_clear(&g1[1]);
    store_pack_clear(&p);
}

static void test_certs_generations_and_prune(void **state)
{
    struct fixture *fx = *state;
    char id[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "pending_issuance", T0, id), STORE_OK);
    struct store_pack p, got;
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_OK);

    /* Generation 1, inserted RSA first: read back by priority. */
    struct store_pack_cert g1[2], g2[2];
    make_cert(&g1[0], id, 1, 2);
    make_cert(&g1[1], id, 1, 1);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->s, &p, g1, 2, NULL, NULL, 0, T0), STORE_OK);
    struct store_pack_cert *list = NULL;
    int count = -1;
    assert_int_equal(store_pack_certs(fx->s, id, 1, &list, &count), STORE_OK);
    assert_int_equal(count, 2);
    assert_cert_equal(&list[0], &g1[1]);
    assert_cert_equal(&list[1], &g1[0]);
    assert_int_equal(list[0].priority, 1);
    assert_string_equal(STORE_ENUM_NAME(list[0].key_type), "ecdsa");
    store_pack_cert_list_free(list, count);
    assert_int_equal(store_pack_certs(fx->s, id, 2, &list, &count), STORE_OK);
    assert_int_equal(count, 0);
    store_pack_cert_list_free(list, count);

    /* Generation 2 staged while 1 stays visible: both kept. */
    make_cert(&g2[0], id, 2, 1);
    make_cert(&g2[1], id, 2, 2);
    p.version = 1;
    assert_int_equal(store_pack_update_with_certs(fx->s, &p, g2, 2, NULL, NULL, 0, T0), STORE_OK);
    assert_int_equal(cert_rows(fx, id), 4);

    /* The same (pack, generation, key type) again: refused as a whole. */
    struct store_pack_cert dup;
    make_cert(&dup, id, 2, 1);
    p.version = 2;
    assert_int_equal(STORE_ENUM_PARSE("active", &p.status), 0);
    assert_int_equal(store_pack_update_with_certs(fx->s, &p, &dup, 1, NULL, NULL, 0, T0),
                     STORE_CONFLICT);
    assert_int_equal(store_pack_by_id(fx->s, id, &got), STORE_OK);
    assert_int_equal(got.version, 2);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_issuance");
    store_pack_clear(&got);
    assert_int_equal(cert_rows(fx, id), 4);
    store_pack_cert_clear(&dup);

    /* Generation 2 made visible: 1 is pruned, 2 stays whole. */
    p.cert_generation = 2;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, 0, T0), STORE_OK);
    assert_int_equal(cert_rows(fx, id), 2);
    assert_int_equal(store_pack_certs(fx->s, id, 1, &list, &count), STORE_OK);
    assert_int_equal(count, 0);
    store_pack_cert_list_free(list, count);
    assert_int_equal(store_pack_certs(fx->s, id, 2, &list, &count), STORE_OK);
    assert_int_equal(count, 2);
    assert_cert_equal(&list[0], &g2[0]);
    assert_cert_equal(&list[1], &g2[1]);
    store_pack_cert_list_free(list, count);

    /* Inserting and making visible in one call prunes in the same transaction. */
    struct store_pack_cert g3[2];
    make_cert(&g3[0], id, 3, 1);
    make_cert(&g3[1], id, 3, 2);
    p.version = 3;
    p.cert_generation = 3;
    assert_int_equal(store_pack_update_with_certs(fx->s, &p, g3, 2, NULL, NULL, 0, T0), STORE_OK);
    assert_int_equal(cert_rows(fx, id), 2);
    assert_int_equal(
        raw_int(fx, "SELECT min(generation) FROM pack_certificates WHERE pack_id = $1", id), 3);
    /* Another pack's certificates are untouched by this pack's pruning. */
    char other[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "pending_issuance", T0, other),
                     STORE_OK);
    struct store_pack q;
    assert_int_equal(store_pack_by_id(fx->s, other, &q), STORE_OK);
    struct store_pack_cert o1;
    make_cert(&o1, other, 1, 1);
    q.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->s, &q, &o1, 1, NULL, NULL, 0, T0), STORE_OK);
    p.version = 4;
    assert_int_equal(store_pack_update(fx->s, &p, NULL, NULL, 0, T0), STORE_OK);
    assert_int_equal(cert_rows(fx, other), 1);
    assert_int_equal(cert_rows(fx, id), 2);

    store_pack_cert_clear(&o1);
    store_pack_clear(&q);
    for (int i = 0; i < 2; i++) {
        store_pack_cert_clear(&g1[i]);
        store_pack_cert_clear(&g2[i]);
        store_pack_cert_clear(&g3[i]);
    }
    assert_null(g1[0].chain_pem);
    assert_null(g1[0].key_sealed);
    store_pack_clear(&p);
}

static void test_count_by_status(void **state)
{
    struct fixture *fx = *state;
    static const char *const statuses[] = {"initializing", "active", "deleted", "expired"};
    long long counts[4] = {-1, -1, -1, -1};
    assert_int_equal(store_pack_count_by_status(fx->s, statuses, 4, counts), STORE_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(counts[i], 0);

    char id[STORE_ID_SIZE], other[STORE_ID_SIZE];
    add_zone(fx, "other.example", other);
    for (int i = 0; i < 3; i++)
        assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0 + i, id),
                         STORE_OK);
    assert_int_equal(add_pack(fx, other, "universal", "initializing", T0, id), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "universal", "active", T0, id), STORE_OK);
    assert_int_equal(add_pack(fx, other, "advanced", "active", T0, id), STORE_OK);
    assert_int_equal(add_pack(fx, other, "advanced", "pending_validation", T0, id), STORE_OK);
    set_status(fx, id, "deleted");
    assert_int_equal(store_pack_count_by_status(fx->s, statuses, 4, counts), STORE_OK);
    assert_int_equal(counts[0], 4); /* every zone */
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[3], 0);
    /* A subset, in another order. */
    static const char *const two[] = {"deleted", "initializing"};
    long long c2[2] = {0, 0};
    assert_int_equal(store_pack_count_by_status(fx->s, two, 2, c2), STORE_OK);
    assert_int_equal(c2[0], 1);
    assert_int_equal(c2[1], 4);
}

/* ---- zones with packs ---- */

static void test_zone_create_with_pack(void **state)
{
    struct fixture *fx = *state;
    struct store_zone z;
    make_zone(&z, fx->account_id, "universal.example", T0);
    struct store_pack p;
    make_pack(&p, z.id, "universal", "initializing", T0 + 3);
    tu_pack_set(&p, TU_HOSTS, "[\"universal.example\",\"*.universal.example\"]");
    assert_int_equal(store_zone_create_with_pack(fx->s, &z, &p), STORE_OK);
    struct store_zone gz;
    assert_int_equal(store_zone_get(fx->s, z.id, &gz), STORE_OK);
    assert_string_equal(gz.name, "universal.example");
    struct store_pack got;
    assert_int_equal(store_pack_get(fx->s, z.id, p.id, &got), STORE_OK);
    assert_pack_equal(&got, &p);
    store_pack_clear(&got);
    assert_int_equal(job_due(fx, p.id), T0 + 3);
    store_pack_clear(&p);

    /* A second zone of that name in the account: neither zone nor pack nor job. */
    struct store_zone dup;
    make_zone(&dup, fx->account_id, "universal.example", T0);
    make_pack(&p, dup.id, "universal", "initializing", T0);
    assert_int_equal(store_zone_create_with_pack(fx->s, &dup, &p), STORE_CONFLICT);
    assert_int_equal(store_zone_get(fx->s, dup.id, &gz), STORE_NOT_FOUND);
    assert_int_equal(store_pack_by_id(fx->s, p.id, &got), STORE_NOT_FOUND);
    assert_int_equal(job_count(fx, p.id), 0);
    store_pack_clear(&p);

    /* A pack whose insert fails (its id taken) undoes the zone too. */
    struct store_zone z2;
    make_zone(&z2, fx->account_id, "second.example", T0);
    char taken[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "initializing", T0, taken), STORE_OK);
    make_pack(&p, z2.id, "universal", "initializing", T0);
    snprintf(p.id, sizeof p.id, "%s", taken);
    assert_int_equal(store_zone_create_with_pack(fx->s, &z2, &p), STORE_CONFLICT);
    assert_int_equal(store_zone_get(fx->s, z2.id, &gz), STORE_NOT_FOUND);
    assert_int_equal(store_pack_by_id(fx->s, taken, &got), STORE_OK);
    assert_string_equal(got.zone_id, fx->zone_id);
    store_pack_clear(&got);
    store_pack_clear(&p);

    /* Without a pack it is a plain zone create. */
    make_zone(&z2, fx->account_id, "plain.example", T0);
    assert_int_equal(store_zone_create_with_pack(fx->s, &z2, NULL), STORE_OK);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM packs WHERE zone_id = $1", z2.id), 0);
}

static void test_zone_set_universal(void **state)
{
    struct fixture *fx = *state;
    struct store_zone z;
    make_zone(&z, fx->account_id, "u.example", T0);
    struct store_pack u;
    make_pack(&u, z.id, "universal", "active", T0);
    assert_int_equal(store_zone_create_with_pack(fx->s, &z, &u), STORE_OK);
    /* An advanced pack of the zone, untouched by Universal SSL. */
    char adv[STORE_ID_SIZE];
    assert_int_equal(add_pack(fx, z.id, "advanced", "active", T0, adv), STORE_OK);
    drain_job(fx, u.id);
    drain_job(fx, adv);

    /* Already on: nothing changes, even with a pack given. */
    struct store_pack extra;
    make_pack(&extra, z.id, "universal", "initializing", T0 + 1);
    assert_int_equal(store_zone_set_universal(fx->s, z.id, true, &extra, T0 + 1), STORE_OK);
    struct store_pack got;
    assert_int_equal(store_pack_by_id(fx->s, extra.id, &got), STORE_NOT_FOUND);
    assert_int_equal(job_count(fx, extra.id), 0);
    store_pack_clear(&extra);

    /* Off: the live universal pack goes pending_deletion, its job due now. */
    assert_int_equal(store_zone_set_universal(fx->s, z.id, false, NULL, T0 + 50), STORE_OK);
    struct store_zone gz;
    assert_int_equal(store_zone_get(fx->s, z.id, &gz), STORE_OK);
    assert_false(gz.universal_ssl);
    assert_int_equal(store_pack_by_id(fx->s, u.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_deletion");
    assert_int_equal(got.status_since, T0 + 50);
    assert_int_equal(got.modified_on, T0 + 50);
    assert_int_equal(got.version, 1);
    store_pack_clear(&got);
    assert_int_equal(job_due(fx, u.id), T0 + 50);
    assert_int_equal(store_pack_by_id(fx->s, adv, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "active");
    assert_int_equal(got.version, 0);
    store_pack_clear(&got);
    assert_int_equal(job_count(fx, adv), 0);

    /* Off again: nothing changes. */
    drain_job(fx, u.id);
    assert_int_equal(store_zone_set_universal(fx->s, z.id, false, NULL, T0 + 60), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, u.id, &got), STORE_OK);
    assert_int_equal(got.version, 1);
    assert_int_equal(got.status_since, T0 + 50);
    store_pack_clear(&got);
    assert_int_equal(job_count(fx, u.id), 0);

    /* On: the given pack is inserted with its job; the retired one stays retired. */
    struct store_pack u2;
    make_pack(&u2, z.id, "universal", "initializing", T0 + 70);
    assert_int_equal(store_zone_set_universal(fx->s, z.id, true, &u2, T0 + 70), STORE_OK);
    assert_int_equal(store_zone_get(fx->s, z.id, &gz), STORE_OK);
    assert_true(gz.universal_ssl);
    assert_int_equal(store_pack_get(fx->s, z.id, u2.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.type), "universal");
    assert_string_equal(STORE_ENUM_NAME(got.status), "initializing");
    store_pack_clear(&got);
    assert_int_equal(job_due(fx, u2.id), T0 + 70);
    assert_int_equal(store_pack_by_id(fx->s, u.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_deletion");
    store_pack_clear(&got);

    /* On again: no second universal pack. */
    make_pack(&extra, z.id, "universal", "initializing", T0 + 80);
    assert_int_equal(store_zone_set_universal(fx->s, z.id, true, &extra, T0 + 80), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, extra.id, &got), STORE_NOT_FOUND);
    store_pack_clear(&extra);

    /* Off with the new one still initializing retires it too (not the deleted one again). */
    set_status(fx, u.id, "deleted");
    drain_job(fx, u2.id);
    assert_int_equal(store_zone_set_universal(fx->s, z.id, false, NULL, T0 + 90), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, u2.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "pending_deletion");
    store_pack_clear(&got);
    assert_int_equal(store_pack_by_id(fx->s, u.id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), "deleted");
    store_pack_clear(&got);
    assert_int_equal(job_count(fx, u.id), 0);
    assert_int_equal(job_due(fx, u2.id), T0 + 90);

    /* An unknown zone: nothing happens. */
    char unknown[STORE_ID_SIZE];
    util_random_id(unknown);
    make_pack(&extra, unknown, "universal", "initializing", T0);
    assert_int_equal(store_zone_set_universal(fx->s, unknown, true, &extra, T0), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, extra.id, &got), STORE_NOT_FOUND);
    store_pack_clear(&extra);
    store_pack_clear(&u2);
    store_pack_clear(&u);
}

static void test_zone_delete_cascades(void **state)
{
    struct fixture *fx = *state;
    char doomed[STORE_ID_SIZE], a[STORE_ID_SIZE], b[STORE_ID_SIZE], keep[STORE_ID_SIZE];
    add_zone(fx, "doomed.example", doomed);
    assert_int_equal(add_pack(fx, doomed, "advanced", "pending_issuance", T0, a), STORE_OK);
    assert_int_equal(add_pack(fx, doomed, "universal", "initializing", T0, b), STORE_OK);
    assert_int_equal(add_pack(fx, fx->zone_id, "advanced", "pending_issuance", T0, keep), STORE_OK);
    struct store_pack p;
    struct store_pack_cert certs[2];
    const char *with_certs[2] = {a, keep};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_pack_by_id(fx->s, with_certs[i], &p), STORE_OK);
        p.cert_generation = 1;
        make_cert(&certs[0], with_certs[i], 1, 1);
        make_cert(&certs[1], with_certs[i], 1, 2);
        assert_int_equal(store_pack_update_with_certs(fx->s, &p, certs, 2, NULL, NULL, 0, T0),
                         STORE_OK);
        store_pack_cert_clear(&certs[0]);
        store_pack_cert_clear(&certs[1]);
        store_pack_clear(&p);
    }
    assert_int_equal(cert_rows(fx, a), 2);

    assert_int_equal(store_zone_delete_request(fx->s, doomed, T0), STORE_OK);
    assert_int_equal(store_zone_delete_finish(fx->s, NULL, NULL, doomed, T0), STORE_OK);
    assert_int_equal(store_pack_by_id(fx->s, a, &p), STORE_NOT_FOUND);
    assert_int_equal(store_pack_by_id(fx->s, b, &p), STORE_NOT_FOUND);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM packs WHERE zone_id = $1", doomed), 0);
    assert_int_equal(cert_rows(fx, a), 0);
    struct store_pack_cert *list = NULL;
    int count = -1;
    assert_int_equal(store_pack_certs(fx->s, a, 1, &list, &count), STORE_OK);
    assert_int_equal(count, 0);
    store_pack_cert_list_free(list, count);
    /* The other zone keeps its pack and certificates. */
    assert_int_equal(store_pack_by_id(fx->s, keep, &p), STORE_OK);
    store_pack_clear(&p);
    assert_int_equal(cert_rows(fx, keep), 2);
    assert_int_equal(store_zone_delete_request(fx->s, doomed, T0), STORE_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_ca_round_trip_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_round_trip_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_null_json_fields_read_as_empty_arrays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pack_create_unknown_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advanced_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advanced_quota_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advanced_used_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advanced_used_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_counters_one_trigger_per_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_windows_and_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_version_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_with_claimed_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_job_held_by_another_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certs_generations_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_active_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_keys_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_listed_decodes_to_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certs_shown_match_certs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_create_with_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_set_universal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_delete_cascades, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
