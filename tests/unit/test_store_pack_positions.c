/* Unit tests of deep pack-list pages (store/store_positions.c behind store_pack_list): a
 * zone of a few thousand packs, many sharing a created_on (ordered by id then), is paged
 * through in each of its three lists (active only, live, all) and every page must hold
 * exactly the rows an OFFSET over the list gives, as a model of the rows kept here says:
 * first, deep, last, partial and past-the-end pages, then again after inserts, deletes
 * and status changes made between the calls (through this store, raw SQL, and a second
 * store on the same database as another process would), which must invalidate the
 * cached position maps; and pages read while another thread inserts, each of which must
 * match its own total (one snapshot). Also the per-zone pack-list version the maps hang
 * on. Either backend (testutil.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "testutil.h"

#define NPACKS 3000
#define MODEL_MAX (NPACKS + 64)

enum kind { ACTIVE, LIVE, ALL };

struct row {
    long long created_on;
    char id[STORE_ID_SIZE];
    char status[32];
};

struct fixture {
    char *dir, *path;
    struct store *s;
    char account_id[STORE_ID_SIZE], zone_id[STORE_ID_SIZE];
    struct row rows[MODEL_MAX]; /* every pack of the zone, in no order */
    int n;
};

/* Seeds NPACKS packs in one statement (the triggers keep the counters and the version):
 * created_on 1000 + i / 7, so runs of seven share one, and ids descending with i, so each
 * run is ordered by id against insertion order; every 5th deleted, every 3rd pending. */
static const char seed_sql[] =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
    "INSERT INTO packs (id, zone_id, type, status, status_since, certificate_authority, "
    "validation_method, validity_days, cloudflare_branding, hosts, validation_records, "
    "validation_errors, dcv_delegation_records, created_on, modified_on) "
    "SELECT 'p' || (100000 - i), $1, 'advanced', CASE WHEN i % 5 = 0 THEN 'deleted' "
    "WHEN i % 3 = 0 THEN 'pending_validation' ELSE 'active' END, 1, 'lets_encrypt', 'txt', 90, "
    "0, '[\"a.example\"]', '[]', '[]', '[]', 1000 + i / 7, 1000 + i / 7 FROM n";

static const char *seed_status(int i)
{
    return i % 5 == 0 ? "deleted" : i % 3 == 0 ? "pending_validation" : "active";
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-positions-XXXXXX", 4, &fx->dir, &fx->path, &fx->s);
    tu_add_account(fx->s, "positions@example.com", "positions account", fx->account_id);
    tu_add_zone(fx->s, fx->account_id, "positions.example", fx->zone_id);
    /* The zone's universal pack, if it has one, goes: the model starts empty. */
    tu_store_sql_exec(fx->path, "DELETE FROM packs WHERE zone_id = $1", fx->zone_id);
    assert_int_equal(tu_store_sql_exec(fx->path, seed_sql, fx->zone_id), NPACKS);
    for (int i = 1; i <= NPACKS; i++) {
        struct row *r = &fx->rows[fx->n++];
        r->created_on = 1000 + i / 7;
        snprintf(r->id, sizeof r->id, "p%d", 100000 - i);
        snprintf(r->status, sizeof r->status, "%s", seed_status(i));
    }
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

/* ---- the model ---- */

static bool in_list(const struct row *r, enum kind k)
{
    return k == ALL || (k == LIVE && strcmp(r->status, "deleted") != 0) ||
           (k == ACTIVE && strcmp(r->status, "active") == 0);
}

/* List order: created_on, then id byte by byte (SQLite's BINARY, PostgreSQL's "C"). */
static int by_key(const void *a, const void *b)
{
    const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
    if (x->created_on != y->created_on)
        return x->created_on < y->created_on ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The list k in order into out[] (pointers into the model); its length. */
static int model_list(struct fixture *fx, enum kind k, const struct row **out)
{
    int n = 0;
    for (int i = 0; i < fx->n; i++)
        if (in_list(&fx->rows[i], k))
            out[n++] = &fx->rows[i];
    qsort(out, (size_t)n, sizeof *out, by_key);
    return n;
}

static struct row *model_find(struct fixture *fx, const char *id)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->rows[i].id, id) == 0)
            return &fx->rows[i];
    fail_msg("no pack %s in the model", id);
    return NULL;
}

/* ---- checks ---- */

static struct store_pack_filter filter_of(struct fixture *fx, enum kind k, int offset, int limit)
{
    return (struct store_pack_filter){.zone_id = fx->zone_id,
                                      .active_only = k == ACTIVE,
                                      .include_deleted = k == ALL,
                                      .offset = offset,
                                      .limit = limit};
}

/* The page at offset/limit of list k is exactly the model's window, and the total its
 * length. */
static void expect_page(struct fixture *fx, enum kind k, int offset, int limit)
{
    static const struct row *want[MODEL_MAX];
    int total = model_list(fx, k, want);
    struct store_pack_filter f = filter_of(fx, k, offset, limit);
    struct store_pack *list = NULL;
    int count = -1, got_total = -1;
    assert_int_equal(store_pack_list(fx->s, &f, &list, &count, &got_total), STORE_OK);
    int expect = offset >= total ? 0 : total - offset < limit ? total - offset : limit;
    if (got_total != total || count != expect)
        fail_msg("list %d offset %d limit %d: total %d count %d, want %d and %d", k, offset, limit,
                 got_total, count, total, expect);
    for (int i = 0; i < count; i++) {
        const struct row *w = want[offset + i];
        if (strcmp(list[i].id, w->id) != 0 || list[i].created_on != w->created_on)
            fail_msg("list %d offset %d limit %d: row %d is %s@%lld, want %s@%lld", k, offset,
                     limit, i, list[i].id, (long long)list[i].created_on, w->id, w->created_on);
    }
    store_pack_list_free(list, count);
}

/* Pages of every list at the edges of the map's steps, deep, last and past the end. */
static void expect_all_lists(struct fixture *fx)
{
    static const struct row *tmp[MODEL_MAX];
    for (enum kind k = ACTIVE; k <= ALL; k++) {
        int total = model_list(fx, k, tmp);
        const int offsets[] = {0,          1,         127,   128,       129,        255,  256,
                               300,        1000,      1023,  1024,      1025,       1337, total / 2,
                               total - 50, total - 1, total, total + 1, total + 500};
        for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
            if (offsets[i] < 0)
                continue;
            expect_page(fx, k, offsets[i], 50);
            expect_page(fx, k, offsets[i], 1);
        }
        /* Every page of 50 in turn, as a client paging through. */
        for (int off = 0; off <= total; off += 50)
            expect_page(fx, k, off, 50);
        /* Last page partial with an odd page size. */
        expect_page(fx, k, (total / 7) * 7, 7);
    }
}

static long long list_version(struct fixture *fx)
{
    return tu_store_sql_int(fx->path, "SELECT packs_version FROM zones WHERE id = $1", fx->zone_id);
}

/* ---- tests ---- */

static void test_pages_equal_offset_answers(void **state)
{
    struct fixture *fx = *state;
    expect_all_lists(fx);
    /* A second round is served from the maps the first one built. */
    expect_all_lists(fx);
}

/* Adds a pack through the store at created_on with the given id (model too). */
static void add_pack(struct fixture *fx, long long created_on, const char *id, const char *status)
{
    struct store_pack p = {.validity_days = 90,
                           .status_since = created_on,
                           .created_on = created_on,
                           .modified_on = created_on};
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", fx->zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE(status, &p.status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    tu_pack_set(&p, TU_HOSTS, "[\"b.example\"]");
    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, 100000), STORE_OK);
    assert_int_equal(store_pack_create(fx->s, &p), STORE_OK);
    store_pack_clear(&p);
    assert_true(fx->n < MODEL_MAX);
    struct row *r = &fx->rows[fx->n++];
    r->created_on = created_on;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->status, sizeof r->status, "%s", status);
}

static void set_status_raw(struct fixture *fx, const char *path, const char *id, const char *status)
{
    char *sql = xasprintf("UPDATE packs SET status = '%s' WHERE id = $1", status);
    assert_int_equal(tu_store_sql_exec(path, sql, id), 1);
    xfree(sql);
    snprintf(model_find(fx, id)->status, sizeof fx->rows[0].status, "%s", status);
}

static void delete_raw(struct fixture *fx, const char *id)
{
    assert_int_equal(tu_store_sql_exec(fx->path, "DELETE FROM packs WHERE id = $1", id), 1);
    struct row *r = model_find(fx, id);
    *r = fx->rows[--fx->n];
}

static void test_changes_between_calls(void **state)
{
    struct fixture *fx = *state;
    expect_all_lists(fx); /* maps built */

    /* Inserts early in the order (before every map key past the first), a tie of an
     * existing created_on sorting before and after its run, and at the end. */
    add_pack(fx, 1001, "p0", "active");
    add_pack(fx, 1001, "pz", "active");
    add_pack(fx, 500, "a-first", "active");
    add_pack(fx, 5000, "z-last", "initializing");
    expect_all_lists(fx);

    /* A delete deep in the list and one early. */
    delete_raw(fx, "p97001");
    delete_raw(fx, "p99989");
    expect_all_lists(fx);

    /* Status changes: into and out of active, into deleted, out of deleted. */
    set_status_raw(fx, fx->path, "p99001", "active");  /* i 999: was pending */
    set_status_raw(fx, fx->path, "p99002", "expired"); /* i 998: was active */
    set_status_raw(fx, fx->path, "p99004", "deleted"); /* i 996: was pending */
    set_status_raw(fx, fx->path, "p99005", "active");  /* i 995: was deleted */
    expect_all_lists(fx);
}

/* Another process (here a second store on the same database) changes the zone: this
 * store's maps must not be used for the new snapshot. */
static void test_change_by_another_store(void **state)
{
    struct fixture *fx = *state;
    expect_all_lists(fx);
    struct store *other = NULL;
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 1, &other), STORE_OK);
    struct store *mine = fx->s;
    fx->s = other;
    add_pack(fx, 900, "b-early", "active");
    fx->s = mine;
    store_close(other);
    expect_all_lists(fx);
}

/* The version moves with every change of which packs a list holds, and only then. */
static void test_version_follows_membership(void **state)
{
    struct fixture *fx = *state;
    long long v0 = list_version(fx);
    assert_true(v0 >= NPACKS); /* one bump per seeded pack */
    add_pack(fx, 2000, "v-new", "initializing");
    long long v1 = list_version(fx);
    assert_true(v1 > v0);
    set_status_raw(fx, fx->path, "v-new", "active");
    long long v2 = list_version(fx);
    assert_true(v2 > v1);
    /* A change of other columns leaves the lists and their version as they are. */
    assert_int_equal(
        tu_store_sql_exec(fx->path, "UPDATE packs SET check_failures = 3 WHERE id = $1", "v-new"),
        1);
    assert_int_equal(list_version(fx), v2);
    delete_raw(fx, "v-new");
    assert_true(list_version(fx) > v2);
    expect_page(fx, ACTIVE, 1024, 50);
}

/* ---- concurrent changes ---- */

#define FRONT_INSERTS 40

struct race {
    struct fixture *fx;
    const struct row *orig[MODEL_MAX]; /* the seeded list (ALL), in order */
    int norig;
    atomic_int done;
    int pages_checked;
    pthread_mutex_t failure_lock; /* the first failure wins */
    atomic_int failed;
    char failure[256];
};

static void race_fail(struct race *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void race_fail(struct race *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->failure_lock);
    if (!atomic_load(&r->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->failure, sizeof r->failure, fmt, ap);
        va_end(ap);
        atomic_store(&r->failed, 1);
    }
    pthread_mutex_unlock(&r->failure_lock);
}

static void front_id(char *out, size_t size, int j)
{
    snprintf(out, size, "f%05d", j);
}

/* Inserts FRONT_INSERTS packs, each before every other (created_on decreasing). */
static void *front_writer(void *arg)
{
    struct race *r = arg;
    for (int j = 0; j < FRONT_INSERTS; j++) {
        struct store_pack p = {.validity_days = 90, .created_on = 999 - j, .modified_on = 1};
        front_id(p.id, sizeof p.id, j);
        snprintf(p.zone_id, sizeof p.zone_id, "%s", r->fx->zone_id);
        STORE_ENUM_PARSE("advanced", &p.type);
        STORE_ENUM_PARSE("initializing", &p.status);
        STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority);
        STORE_ENUM_PARSE("txt", &p.validation_method);
        tu_pack_set(&p, TU_HOSTS, "[\"f.example\"]");
        int rc = store_pack_create(r->fx->s, &p);
        store_pack_clear(&p);
        if (rc != STORE_OK) {
            race_fail(r, "insert %d: %d", j, rc);
            break;
        }
    }
    atomic_store(&r->done, 1);
    return NULL;
}

/* Deep pages of the whole list while the writer inserts at its front: with its own total
 * T, a page must hold at position p the insert number T - N0 - 1 - p (p < T - N0) or the
 * seeded pack number p - (T - N0): a page, map or total from another snapshot would not. */
static void *deep_reader(void *arg)
{
    struct race *r = arg;
    unsigned seed = 7;
    for (int n = 0; (!atomic_load(&r->done) || n < 200) && n < 20000 && !atomic_load(&r->failed);
         n++) {
        int offset = 128 + (int)(rand_r(&seed) % (unsigned)(r->norig - 128));
        struct store_pack_filter f = {
            .zone_id = r->fx->zone_id, .include_deleted = true, .offset = offset, .limit = 50};
        struct store_pack *list = NULL;
        int count = 0, total = 0;
        if (store_pack_list(r->fx->s, &f, &list, &count, &total) != STORE_OK) {
            race_fail(r, "list at %d failed", offset);
            break;
        }
        int k = total - r->norig;
        int expect = total - offset < 50 ? total - offset : 50;
        if (k < 0 || k > FRONT_INSERTS || count != expect)
            race_fail(r, "offset %d: count %d of total %d", offset, count, total);
        for (int i = 0; i < count && !atomic_load(&r->failed); i++) {
            int pos = offset + i;
            char want[STORE_ID_SIZE];
            if (pos < k)
                front_id(want, sizeof want, k - 1 - pos);
            else
                snprintf(want, sizeof want, "%s", r->orig[pos - k]->id);
            if (strcmp(list[i].id, want) != 0)
                race_fail(r, "total %d offset %d row %d: %s, want %s", total, offset, i, list[i].id,
                          want);
        }
        store_pack_list_free(list, count);
        __atomic_add_fetch(&r->pages_checked, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_pages_consistent_with_concurrent_inserts(void **state)
{
    struct fixture *fx = *state;
    struct race *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->failure_lock, NULL);
    r->fx = fx;
    r->norig = model_list(fx, ALL, r->orig);
    assert_int_equal(store_zone_set_quota(fx->s, fx->zone_id, 100000), STORE_OK);
    expect_page(fx, ALL, r->norig - 1, 50); /* the map exists before the inserts */
    pthread_t readers[3], writer;
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&readers[i], NULL, deep_reader, r), 0);
    assert_int_equal(pthread_create(&writer, NULL, front_writer, r), 0);
    assert_int_equal(pthread_join(writer, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(readers[i], NULL), 0);
    if (atomic_load(&r->failed))
        fail_msg("%s", r->failure);
    assert_true(r->pages_checked >= 600);
    pthread_mutex_destroy(&r->failure_lock);
    xfree(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pages_equal_offset_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_between_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_by_another_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_follows_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_consistent_with_concurrent_inserts, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
