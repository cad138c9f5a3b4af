/* The PostgreSQL test fixture itself (tests/unit/tu_pg.h): a cluster starts as the right
 * user on a loopback port, hands out separate empty databases reachable by their URI, and
 * leaves neither its directory nor its shared-memory segment behind, whether it is
 * stopped cleanly or its postmaster was killed; and testutil's raw SQL helpers, which the
 * store suites use on either backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

/* The single value of a one-row, one-column query on conn (caller xfree's). */
static char *query_text(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    char *v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static PGconn *connect_uri(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", uri, PQerrorMessage(c));
    return c;
}

/* Asserts that the cluster left nothing: its temp dir and its SysV segment are gone. */
static void assert_cleaned(const char *dir, int shmid)
{
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
    assert_int_equal(errno, ENOENT);
    assert_false(tu_pg_shm_exists(shmid));
}

static void test_two_databases_then_clean_stop(void **state)
{
    struct tu_pg pg;
    assert_int_equal(tu_pg_start(&pg), 0);
    assert_true(pg.pid > 0);
    assert_true(pg.port > 0);
    assert_true(tu_pg_shm_exists(pg.shmid));
    /* The socket and data directories belong to the cluster's user, not to root. */
    struct stat st;
    uid_t uid;
    gid_t gid;
    tu_pg_owner(&uid, &gid);
    assert_int_equal(stat(pg.data, &st), 0);
    assert_int_equal(st.st_uid, uid);

    char *a = tu_pg_create_database(&pg), *b = tu_pg_create_database(&pg);
    char want[96];
    snprintf(want, sizeof want, "postgresql://postgres@127.0.0.1:%d/t_1", pg.port);
    assert_string_equal(a, want);
    assert_string_not_equal(a, b);

    PGconn *ca = connect_uri(a), *cb = connect_uri(b);
    char *version = query_text(ca, "SELECT version()");
    if (strncmp(version, "PostgreSQL 15.", 14) != 0)
        fail_msg("expected PostgreSQL 15, got %s", version);
    xfree(version);
    /* Two separate, empty databases: a table made in one is not in the other. */
    PGresult *r = PQexec(ca, "CREATE TABLE only_in_a (x int)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char *in_b = query_text(cb, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'");
    char *in_a = query_text(ca, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'");
    assert_string_equal(in_b, "0");
    assert_string_equal(in_a, "1");
    char *db = query_text(cb, "SELECT current_database()");
    assert_string_equal(db, "t_2");
    xfree(db), xfree(in_a), xfree(in_b);
    /* Stopping with clients still connected must not wait for them (fast shutdown). */
    char dir[64];
    snprintf(dir, sizeof dir, "%s", pg.dir);
    int shmid = pg.shmid;
    tu_pg_stop(&pg);
    assert_int_equal(pg.pid, 0);
    assert_cleaned(dir, shmid);
    PQfinish(ca);
    PQfinish(cb);
    xfree(a), xfree(b);
}

/* A postmaster killed with SIGKILL leaves its children and segment; stop removes both. */
static void test_killed_cluster_is_cleaned(void **state)
{
    struct tu_pg pg;
    assert_int_equal(tu_pg_start(&pg), 0);
    char dir[64];
    snprintf(dir, sizeof dir, "%s", pg.dir);
    int shmid = pg.shmid;
    tu_pg_kill(&pg);
    /* The kill leaves the segment behind (the children hold it, and nobody removes it):
     * there is something to clean up. */
    assert_true(tu_pg_shm_exists(shmid));
    tu_pg_stop(&pg);
    assert_cleaned(dir, shmid);
}

/* The shared cluster: one per process, each call a new database. */
static void test_shared_cluster(void **state)
{
    char *a = tu_pg_database(), *b = tu_pg_database();
    assert_string_not_equal(a, b);
    assert_true(tu_pg_shared()->pid > 0);
    PGconn *c = connect_uri(b);
    char *one = query_text(c, "SELECT 1");
    assert_string_equal(one, "1");
    xfree(one);
    PQfinish(c);
    xfree(a), xfree(b);
}

/* testutil's raw SQL helpers speak to a PostgreSQL URI as they do to a SQLite file, with
 * the same $1 text. */
static void test_store_sql_helpers_both_backends(void **state)
{
    char *dir = xstrdup("/tmp/tlsward-test-tu-pg-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char *file = xasprintf("%s/raw.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    sqlite3_close(db);
    char *uri = tu_pg_database();
    const char *targets[] = {file, uri};
    for (int i = 0; i < 2; i++) {
        const char *t = targets[i];
        assert_int_equal(tu_store_sql_exec(t, "CREATE TABLE jobs (target TEXT, n INTEGER)", NULL),
                         0);
        for (int k = 0; k < 3; k++)
            assert_int_equal(
                tu_store_sql_exec(t, "INSERT INTO jobs VALUES ($1, 7)", k < 2 ? "a" : "b"), 1);
        assert_int_equal(tu_store_sql_int(t, "SELECT count(*) FROM jobs WHERE target = $1", "a"),
                         2);
        assert_int_equal(tu_store_sql_int(t, "SELECT n FROM jobs WHERE target = $1", "b"), 7);
        assert_int_equal(tu_store_sql_int(t, "SELECT n FROM jobs WHERE target = $1", "z"), -1);
        assert_int_equal(tu_store_sql_exec(t, "DELETE FROM jobs WHERE target = $1", "a"), 2);
        assert_int_equal(tu_store_sql_int(t, "SELECT count(*) FROM jobs", NULL), 1);
    }
    xfree(uri), xfree(file);
    tu_remove_tree(dir);
    xfree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_databases_then_clean_stop),
        cmocka_unit_test(test_killed_cluster_is_cleaned),
        cmocka_unit_test(test_shared_cluster),
        cmocka_unit_test(test_store_sql_helpers_both_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
