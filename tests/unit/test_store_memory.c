/* Unit tests of the SQLite store's memory bounds (store/db_sqlite.c): every pooled
 * connection has a small page cache (1 MiB), and SQLite's memory in the process is under a
 * soft heap limit (16 MiB), so a server with a pool of 20 connections cannot hold 160 MiB
 * of cached pages after a list load over a large store (it did, at 8 MiB each). Then,
 * after paging through a zone of 8,000 packs on every connection at once, SQLite's
 * memory stays under that limit. SQLite only (the PostgreSQL store caches nothing of its
 * own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store.h"
#include "testutil.h"

#define POOL 6
#define MIB (1024LL * 1024)

struct fixture {
    char *dir, *path;
    struct store *s;
    char account_id[STORE_ID_SIZE], zone_id[STORE_ID_SIZE];
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-store-memory-XXXXXX", POOL, &fx->dir, &fx->path, &fx->s);
    tu_add_account(fx->s, "memory@example.com", "memory account", fx->account_id);
    tu_add_zone(fx->s, fx->account_id, "memory.example", fx->zone_id);
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

static void test_small_cache_per_connection_and_a_process_limit(void **state)
{
    TU_SQLITE_ONLY("SQLite's page cache");
    struct fixture *fx = *state;
    assert_int_equal(sqlite3_soft_heap_limit64(-1), 16 * MIB);
    /* Every connection of the pool (all borrowed at once, so each is a different one). */
    struct conn *c[POOL];
    for (int i = 0; i < POOL; i++)
        c[i] = store__borrow(fx->s);
    for (int i = 0; i < POOL; i++) {
        int64_t kib = 0;
        assert_int_equal(c[i]->s->drv->query_int(c[i], "PRAGMA cache_size", NULL, &kib), DB_ROW);
        assert_int_equal(kib, -1024); /* negative: KiB */
        /* Temporary files (a savepoint's statement journal past 64 KiB) stay in memory:
         * written to /var/tmp, they doubled the pwrites of a batch of orders. 2: MEMORY. */
        int64_t temp_store = 0;
        assert_int_equal(c[i]->s->drv->query_int(c[i], "PRAGMA temp_store", NULL, &temp_store),
                         DB_ROW);
        assert_int_equal(temp_store, 2);
    }
    for (int i = 0; i < POOL; i++)
        store__give_back(fx->s, c[i]);
}

/* Pages through the zone's live list, 50 at a time. */
static void *pager(void *arg)
{
    struct fixture *fx = arg;
    for (int round = 0; round < 2; round++) {
        int total = 1;
        for (int off = 0; off < total; off += 50) {
            struct store_pack_filter f = {.zone_id = fx->zone_id, .offset = off, .limit = 50};
            struct store_pack *list = NULL;
            int count = 0;
            if (store_pack_list(fx->s, &f, &list, &count, &total) != STORE_OK)
                return (void *)1;
            store_pack_list_free(list, count);
        }
    }
    return NULL;
}

static void test_memory_bounded_after_a_list_load(void **state)
{
    TU_SQLITE_ONLY("SQLite's page cache");
    struct fixture *fx = *state;
    /* 8000 packs of five 208-byte hosts each: a store of about 10 MiB, which 8 MiB caches
     * on each of the connections would mostly hold (the pager threads read it whole). */
    assert_int_equal(
        tu_store_sql_exec(
            fx->path,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000), "
            "h(x) AS (SELECT '\"' || replace(hex(zeroblob(100)), '0', 'a') || '.example\"') "
            "INSERT INTO packs (id, zone_id, type, status, status_since, certificate_authority, "
            "validation_method, validity_days, cloudflare_branding, hosts, validation_records, "
            "validation_errors, dcv_delegation_records, created_on, modified_on) "
            "SELECT 'm' || i, $1, 'advanced', 'active', 1, 'lets_encrypt', 'txt', 90, 0, "
            "'[' || x || ',' || x || ',' || x || ',' || x || ',' || x || ']', '[]', '[]', "
            "'[]', i, i FROM n, h",
            fx->zone_id),
        8000);
    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &(sqlite3_int64){0}, &(sqlite3_int64){0}, 1);
    pthread_t t[POOL];
    for (int i = 0; i < POOL; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pager, fx), 0);
    for (int i = 0; i < POOL; i++) {
        void *rc = NULL;
        assert_int_equal(pthread_join(t[i], &rc), 0);
        assert_null(rc);
    }
    sqlite3_int64 now = 0, high = 0;
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &high, 0), SQLITE_OK);
    print_message("SQLite memory: %lld KiB now, %lld KiB at most\n", (long long)now / 1024,
                  (long long)high / 1024);
    assert_true(now <= 16 * MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_cache_per_connection_and_a_process_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded_after_a_list_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
