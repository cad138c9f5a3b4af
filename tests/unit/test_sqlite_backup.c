/* store_sqlite_backup (tlsward backup): the copy is one consistent snapshot taken while
 * writers go on, it is checked, it is complete or absent, and it never replaces a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "common/fsutil.h"
#include "testutil.h"

struct fixture {
    char *dir, *path, *out;
    struct store *s;
    char account[STORE_ID_SIZE];
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    fx->dir = xstrdup("/tmp/tlsward-test-backup-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->path = xasprintf("%s/tlsward.db", fx->dir);
    fx->out = xasprintf("%s/snapshot.db", fx->dir);
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 2, &fx->s), STORE_OK);
    tu_add_account(fx->s, "before@example.com", "before-backup", fx->account);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->s)
        store_close(fx->s);
    tu_remove_tree(fx->dir);
    xfree(fx->dir), xfree(fx->path), xfree(fx->out);
    xfree(fx);
    return 0;
}

/* Runs sql on a connection of its own to the database at path. */
static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

/* Files in dir whose name contains part. */
static int count_files(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void test_backup_is_a_working_store(void **state)
{
    struct fixture *fx = *state;
    struct store_backup_result res;
    assert_int_equal(store_sqlite_backup(fx->path, fx->out, NULL, NULL, &res), STORE_OK);
    assert_true(res.pages > 0);
    assert_true(res.checked);
    assert_true(res.integrity_ok);
    assert_int_equal(res.schema_version, store_schema_version(fx->s));
    struct stat st;
    assert_int_equal(stat(fx->out, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_files(fx->dir, ".tmp-"), 0);
    /* The copy opens as a store and holds what was committed. */
    struct store *copy = NULL;
    assert_int_equal(store_open(fx->out, STORE_OPEN_EXISTING, 1, &copy), STORE_OK);
    struct store_account a;
    assert_int_equal(store_account_get(copy, fx->account, &a), STORE_OK);
    assert_string_equal(a.name, "before-backup");
    store_close(copy);
}

struct during {
    struct store *s;
    int calls, last_done, total;
    char written[STORE_ID_SIZE];
};

/* Between two batches of pages: a write on the live store must commit at once. */
static void write_during_copy(int done, int total, void *ctx)
{
    struct during *d = ctx;
    d->calls++;
    d->total = total;
    assert_true(done > d->last_done);
    d->last_done = done;
    if (d->calls == 1) {
        assert_true(done < total); /* the copy is not finished yet */
        tu_add_account(d->s, "during@example.com", "during-backup", d->written);
    }
}

/* A write committed while the copy runs is neither blocked nor seen: the copy is the
 * snapshot of the moment it started (a restarted copy would pick the write up). */
static void test_snapshot_while_writing(void **state)
{
    struct fixture *fx = *state;
    /* About 600 pages of padding, so the copy takes several batches. */
    exec_sql(fx->path, "CREATE TABLE pad (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                       "SELECT i + 1 FROM n WHERE i < 600) INSERT INTO pad SELECT "
                       "randomblob(3500) FROM n;");
    struct during d = {.s = fx->s};
    struct store_backup_result res;
    assert_int_equal(store_sqlite_backup(fx->path, fx->out, write_during_copy, &d, &res), STORE_OK);
    assert_true(d.calls >= 3);
    assert_int_equal(d.last_done, d.total);
    assert_int_equal(res.pages, d.total);
    assert_true(res.integrity_ok);

    struct store_account a;
    assert_int_equal(store_account_get(fx->s, d.written, &a), STORE_OK);
    struct store *copy = NULL;
    assert_int_equal(store_open(fx->out, STORE_OPEN_EXISTING, 1, &copy), STORE_OK);
    assert_int_equal(store_account_get(copy, fx->account, &a), STORE_OK);
    assert_int_equal(store_account_get(copy, d.written, &a), STORE_NOT_FOUND);
    store_close(copy);
}

static void test_existing_destination_is_left_alone(void **state)
{
    struct fixture *fx = *state;
    FILE *f = fopen(fx->out, "w");
    assert_non_null(f);
    fputs("keep me", f);
    fclose(f);
    struct store_backup_result res;
    assert_int_equal(store_sqlite_backup(fx->path, fx->out, NULL, NULL, &res), STORE_CONFLICT);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fsutil_read_file(fx->out, 64, &text, &len), 0);
    assert_string_equal(text, "keep me");
    xfree(text);
    assert_int_equal(count_files(fx->dir, ".tmp-"), 0);
}

static void test_missing_source(void **state)
{
    struct fixture *fx = *state;
    char *missing = xasprintf("%s/nothing.db", fx->dir);
    struct store_backup_result res;
    assert_int_equal(store_sqlite_backup(missing, fx->out, NULL, NULL, &res), STORE_NOT_FOUND);
    assert_int_equal(access(fx->out, F_OK), -1);
    assert_int_equal(access(missing, F_OK), -1); /* not created by the attempt */
    xfree(missing);
}

/* A damaged store copies page for page, fails the check, and leaves no file. */
static void test_corrupt_copy_is_refused(void **state)
{
    struct fixture *fx = *state;
    exec_sql(fx->path, "CREATE TABLE pad (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                       "SELECT i + 1 FROM n WHERE i < 50) INSERT INTO pad SELECT "
                       "randomblob(3500) FROM n; PRAGMA wal_checkpoint(TRUNCATE);");
    store_close(fx->s);
    fx->s = NULL;
    /* Overwrite the middle of the file (b-tree pages of pad) with garbage. */
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    FILE *f = fopen(fx->path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, st.st_size / 2, SEEK_SET), 0);
    for (int i = 0; i < 8192; i++)
        fputc(0x5a, f);
    fclose(f);
    struct store_backup_result res;
    assert_int_equal(store_sqlite_backup(fx->path, fx->out, NULL, NULL, &res), STORE_ERROR);
    assert_true(res.checked);
    assert_false(res.integrity_ok);
    assert_int_equal(access(fx->out, F_OK), -1);
    assert_int_equal(count_files(fx->dir, ".tmp-"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_is_a_working_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_destination_is_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_copy_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
