/* Unit tests of the store's domain values (store/store_enums.c, store.h): every value of
 * every enum round-trips through its name, unknown names are refused, an INVALID value is
 * never written, a name no table knows read from the database is an error (never another
 * value), and "live" means the same in C and in SQL. A real SQLite store in a mkdtemp
 * directory; rows are damaged with raw SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/sql_columns.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "testutil.h"

/* ---- name tables ---- */

static const struct store__enum *const tables[] = {
    &store__enum_pack_status, &store__enum_pack_ca,   &store__enum_pack_method,
    &store__enum_pack_type,   &store__enum_zone_type, &store__enum_zone_status,
    &store__enum_cert_status, &store__enum_aop_kind,  &store__enum_aop_status,
    &store__enum_key_type,    &store__enum_job_kind,
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* Every value has a distinct non-empty name that parses back to it; the table ends with
 * NULL; anything else is -1. */
static void test_tables_round_trip(void **state)
{
    (void)state;
    for (size_t t = 0; t < NTABLES; t++) {
        const struct store__enum *e = tables[t];
        assert_true(e->count > 0);
        assert_null(e->names[e->count]);
        for (int v = 0; v < e->count; v++) {
            const char *n = store__enum_name(e, v);
            assert_non_null(n);
            assert_true(n[0] != '\0');
            assert_int_equal(store__enum_parse(e, n), v);
            for (int w = 0; w < v; w++)
                assert_string_not_equal(e->names[w], n);
        }
        assert_null(store__enum_name(e, -1));
        assert_null(store__enum_name(e, e->count));
        static const char *const unknown[] = {"", "ACTIVE", "active ", "bogus", "x.y"};
        for (size_t u = 0; u < sizeof unknown / sizeof unknown[0]; u++)
            assert_int_equal(store__enum_parse(e, unknown[u]), -1);
        assert_int_equal(store__enum_parse(e, NULL), -1);
    }
}

/* The typed functions of store.h agree with their tables, keep today's names (the TEXT the
 * database holds), and refuse unknown names without touching *out. */
static void test_typed_functions(void **state)
{
    (void)state;
#define ROUND_TRIP(type, count)                                                                    \
    for (int v = 0; v < count; v++) {                                                              \
        enum type x = (enum type)(count), y = (enum type)v;                                        \
        assert_int_equal(type##_parse(type##_name(y), &x), 0);                                     \
        assert_int_equal(x, y);                                                                    \
        assert_string_equal(STORE_ENUM_NAME(y), type##_names[v]);                                  \
    }                                                                                              \
    {                                                                                              \
        enum type x = (enum type)0;                                                                \
        assert_int_equal(type##_parse("no such name", &x), -1);                                    \
        assert_int_equal(x, 0);                                                                    \
        assert_string_equal(type##_name((enum type) - 1), "invalid");                              \
    }
    ROUND_TRIP(store_pack_type, STORE_PACK_TYPE_COUNT)
    ROUND_TRIP(store_zone_type, STORE_ZONE_TYPE_COUNT)
    ROUND_TRIP(store_zone_status, STORE_ZONE_STATUS_COUNT)
    ROUND_TRIP(store_cert_status, STORE_CERT_STATUS_COUNT)
    ROUND_TRIP(store_aop_kind, STORE_AOP_KIND_COUNT)
    ROUND_TRIP(store_aop_status, STORE_AOP_STATUS_COUNT)
    ROUND_TRIP(store_key_type, STORE_KEY_TYPE_COUNT)
    ROUND_TRIP(store_job_kind, STORE_JOB_KIND_COUNT)
#undef ROUND_TRIP
    /* The stored names are the ones existing databases and SQL literals hold. */
    assert_string_equal(store_pack_type_name(STORE_PACK_ADVANCED), "advanced");
    assert_string_equal(store_pack_type_name(STORE_PACK_UNIVERSAL), "universal");
    assert_string_equal(store_zone_type_name(STORE_ZONE_FULL), "full");
    assert_string_equal(store_zone_status_name(STORE_ZONE_ACTIVE), "active");
    assert_string_equal(store_cert_status_name(STORE_CERT_PENDING_REVOCATION),
                        "pending_revocation");
    assert_string_equal(store_aop_kind_name(STORE_AOP_HOSTNAME), "hostname");
    assert_string_equal(store_aop_status_name(STORE_AOP_DELETION_TIMED_OUT), "deletion_timed_out");
    assert_string_equal(store_key_type_name(STORE_KEY_ECDSA), "ecdsa");
    assert_string_equal(store_job_kind_name(STORE_JOB_PACK_ADVANCE), "pack.advance");
    assert_string_equal(store_job_kind_name(STORE_JOB_CERT_REACTIVATE), "client_cert.reactivate");
    assert_string_equal(STORE_ENUM_NAME((enum pack_status)PACK_PENDING_VALIDATION),
                        "pending_validation");
    assert_string_equal(STORE_ENUM_NAME((enum pack_ca)PACK_CA_LETS_ENCRYPT), "lets_encrypt");
    assert_string_equal(STORE_ENUM_NAME((enum pack_method)PACK_METHOD_HTTP), "http");
}

/* ---- "live" ---- */

/* The C definition and the SQL fragment agree on every status (and on an unknown one). */
static void test_live_agrees_with_sql(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    struct {
        const char *fragment;
        const char *const *names;
        int count;
    } kinds[] = {
        {PACK_LIVE, pack_status_names, PACK_STATUS_COUNT},
        {AOP_LIVE, store_aop_status_names, STORE_AOP_STATUS_COUNT},
    };
    for (int k = 0; k < 2; k++) {
        char *sql = xasprintf("SELECT %s FROM (SELECT ?1 AS status)", kinds[k].fragment);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        int nlive = 0;
        for (int v = 0; v < kinds[k].count; v++) {
            sqlite3_bind_text(st, 1, kinds[k].names[v], -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            bool in_sql = sqlite3_column_int(st, 0) != 0;
            sqlite3_reset(st);
            bool in_c = k == 0 ? store_pack_live((enum pack_status)v)
                               : store_aop_live((enum store_aop_status)v);
            if (in_sql != in_c)
                fail_msg("%s: C says %d, SQL says %d", kinds[k].names[v], in_c, in_sql);
            nlive += in_c;
        }
        assert_true(nlive > 0 && nlive < kinds[k].count);
        sqlite3_finalize(st);
        xfree(sql);
    }
    /* The sets themselves. */
    assert_true(store_pack_live(PACK_ACTIVE));
    assert_true(store_pack_live(PACK_VALIDATION_TIMED_OUT));
    assert_false(store_pack_live(PACK_PENDING_DELETION));
    assert_false(store_pack_live(PACK_DELETED));
    assert_false(store_pack_live(PACK_DELETION_TIMED_OUT));
    assert_false(store_pack_live(PACK_STATUS_INVALID));
    assert_true(store_aop_live(STORE_AOP_DELETION_TIMED_OUT));
    assert_false(store_aop_live(STORE_AOP_PENDING_DELETION));
    assert_false(store_aop_live(STORE_AOP_DELETED));
    assert_false(store_aop_live(STORE_AOP_STATUS_INVALID));
    sqlite3_close(db);
}

/* ---- unknown values in the database ---- */

static int setup(void **state)
{
    return tu_store_fx_setup(state, "/tmp/tlsward-test-enums-XXXXXX", 2, true);
}

static void raw_exec(const struct tu_store_fx *fx, const char *sql)
{
    tu_store_sql_exec(fx->path, sql, NULL);
}

/* Today an unknown status would pass for "deleted"; now the pack reads as INVALID and
 * the read fails, in a get, a list and the worker's read by id alike. */
static void test_unknown_pack_status_is_an_error(void **state)
{
    struct tu_store_fx *fx = *state;
    char id[STORE_ID_SIZE];
    tu_add_pack(fx->s, fx->zone_id, "pending_validation", util_now_us(), id);
    struct store_pack p;
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, id, &p), STORE_OK);
    assert_int_equal(p.status, PACK_PENDING_VALIDATION);
    assert_int_equal(p.type, STORE_PACK_ADVANCED);
    store_pack_clear(&p);

    char *sql = xasprintf("UPDATE packs SET status = 'frozen' WHERE id = '%s'", id);
    raw_exec(fx, sql);
    xfree(sql);
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, id, &p), STORE_ERROR);
    assert_int_equal(p.status, PACK_STATUS_INVALID);
    assert_null(p.hosts); /* nothing left to free */
    assert_int_equal(p.host_count, 0);
    assert_int_equal(store_pack_by_id(fx->s, id, &p), STORE_ERROR);
    assert_int_not_equal(p.status, PACK_DELETED);
    struct store_pack *list = NULL;
    int count = -1, total = -1;
    struct store_pack_filter f = {.zone_id = fx->zone_id, .include_deleted = true, .limit = 10};
    assert_int_equal(store_pack_list(fx->s, &f, &list, &count, &total), STORE_ERROR);
    assert_null(list);

    /* An unknown CA or method is refused alike; a known value reads again. */
    sql = xasprintf("UPDATE packs SET status = 'active', validation_method = 'carrier_pigeon' "
                    "WHERE id = '%s'",
                    id);
    raw_exec(fx, sql);
    xfree(sql);
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, id, &p), STORE_ERROR);
    assert_int_equal(p.validation_method, PACK_METHOD_INVALID);
    sql = xasprintf("UPDATE packs SET validation_method = 'http' WHERE id = '%s'", id);
    raw_exec(fx, sql);
    xfree(sql);
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, id, &p), STORE_OK);
    assert_int_equal(p.status, PACK_ACTIVE);
    assert_int_equal(p.validation_method, PACK_METHOD_HTTP);
    store_pack_clear(&p);
}

/* Zones: the same rule, in a get and a list. */
static void test_unknown_zone_values(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store_zone z;
    assert_int_equal(store_zone_get(fx->s, fx->zone_id, &z), STORE_OK);
    assert_int_equal(z.type, STORE_ZONE_FULL);
    assert_int_equal(z.status, STORE_ZONE_ACTIVE);
    char *sql = xasprintf("UPDATE zones SET type = 'fractal' WHERE id = '%s'", fx->zone_id);
    raw_exec(fx, sql);
    xfree(sql);
    assert_int_equal(store_zone_get(fx->s, fx->zone_id, &z), STORE_ERROR);
    assert_int_equal(z.type, STORE_ZONE_TYPE_INVALID);
    struct store_zone *zones = NULL;
    int count = -1, total = -1;
    struct store_zone_filter f = {.who.account_id = fx->account_id, .limit = 10};
    assert_int_equal(store_zone_list(fx->s, &f, &zones, &count, &total), STORE_ERROR);
}

/* An INVALID value (or one out of range) is never written: the write fails, nothing is
 * stored. */
static void test_invalid_value_is_never_written(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store_pack p;
    tu_pack_init(&p, fx->zone_id, "initializing", util_now_us());
    p.status = PACK_STATUS_INVALID;
    assert_int_equal(store_pack_create(fx->s, &p), STORE_ERROR);
    p.status = PACK_INITIALIZING;
    p.certificate_authority = (enum pack_ca)PACK_CA_COUNT;
    assert_int_equal(store_pack_create(fx->s, &p), STORE_ERROR);
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, p.id, &p), STORE_NOT_FOUND);
}

/* A job kind of another build is claimable (the queue keeps any kind) and reads as
 * STORE_JOB_INVALID with its name kept; this build's kinds read as themselves. */
static void test_job_kinds(void **state)
{
    struct tu_store_fx *fx = *state;
    int64_t t = util_now_us();
    assert_int_equal(store_job_schedule(fx->s, "some.future.kind", "a", t - 2000000), STORE_OK);
    assert_int_equal(store_job_schedule(fx->s, STORE_AOP_JOB, "b", t - 1000000), STORE_OK);
    struct store_job jobs[4];
    int n = 0;
    assert_int_equal(store_job_claim(fx->s, "w", t, 60000000, jobs, 4, &n), STORE_OK);
    /* Other jobs (the zone's) may come too; these two are among them. */
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(jobs[i].target, "a") == 0) {
            assert_string_equal(jobs[i].kind, "some.future.kind");
            assert_int_equal(jobs[i].kind_id, STORE_JOB_INVALID);
            seen |= 1;
        } else if (strcmp(jobs[i].target, "b") == 0) {
            assert_string_equal(jobs[i].kind, "aop.advance");
            assert_int_equal(jobs[i].kind_id, STORE_JOB_AOP_ADVANCE);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_round_trip),
        cmocka_unit_test(test_typed_functions),
        cmocka_unit_test(test_live_agrees_with_sql),
        cmocka_unit_test_setup_teardown(test_unknown_pack_status_is_an_error, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_zone_values, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_value_is_never_written, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_job_kinds, setup, tu_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
