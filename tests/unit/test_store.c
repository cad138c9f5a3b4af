/* Unit tests of the SQLite store (store/sqlite.c): open modes, migrations, CRUD round trips
 * of every record, constraint mapping, zone listing (visibility, filters, order, pages)
 * and concurrent writers on the connection pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "store/migrations.h"
#include "store/store.h"
#include "testutil.h"

#define T0 1700000000000000LL /* a fixed "now" in µs */

struct fixture {
    char *dir;
    char *path;
    struct store *s;
};

static struct fixture *fixture_new(void)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store_path("/tmp/tlsward-test-store-XXXXXX", &fx->dir, &fx->path);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    store_close(fx->s);
    char *cmd = xasprintf("rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    xfree(cmd);
    xfree(fx->path);
    xfree(fx->dir);
    xfree(fx);
}

/* Setup for most tests: a freshly created store with a pool of 4. */
static int setup_store(void **state)
{
    struct fixture *fx = fixture_new();
    if (store_open(fx->path, STORE_OPEN_CREATE, 4, &fx->s) != STORE_OK)
        return -1;
    *state = fx;
    return 0;
}

static int setup_dir(void **state)
{
    *state = fixture_new();
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

/* Deterministic 32-hex identifiers: a prefix nibble for the kind, then a number. */
static void make_id(char out[STORE_ID_SIZE], unsigned kind, unsigned n)
{
    snprintf(out, STORE_ID_SIZE, "%x%031x", kind, n);
}

static void fill_hash(unsigned char h[32], unsigned seed)
{
    for (int i = 0; i < 32; i++)
        h[i] = (unsigned char)(seed * 31 + (unsigned)i * 7);
}

static void add_user(struct store *s, unsigned n, const char *email, int64_t created_on)
{
    struct store_user u = {.created_on = created_on};
    make_id(u.id, 0xa, n);
    snprintf(u.email, sizeof u.email, "%s", email);
    fill_hash(u.key_hash, n);
    assert_int_equal(store_user_create(s, &u), STORE_OK);
}

static void add_account(struct store *s, unsigned n, unsigned owner, const char *name)
{
    struct store_account a = {.created_on = T0 + n};
    make_id(a.id, 0xb, n);
    make_id(a.owner_user_id, 0xa, owner);
    snprintf(a.name, sizeof a.name, "%s", name);
    assert_int_equal(store_account_create(s, &a), STORE_OK);
}

static int add_zone(struct store *s, unsigned n, unsigned account, const char *name,
                    const char *status, int64_t created_on)
{
    struct store_zone z = {.universal_ssl = true,
                           .advanced_quota = 50,
                           .created_on = created_on,
                           .modified_on = created_on};
    make_id(z.id, 0xc, n);
    make_id(z.account_id, 0xb, account);
    snprintf(z.name, sizeof z.name, "%s", name);
    snprintf(z.type, sizeof z.type, "full");
    snprintf(z.status, sizeof z.status, "%s", status);
    return store_zone_create(s, &z);
}

/* Runs one raw SQL query on the store (either backend) and returns the first column of
 * the first row. */
static long long raw_query(const char *path, const char *sql)
{
    return tu_store_sql_int(path, sql, NULL);
}

/* How many tables and indexes the store's schema has. */
static long long schema_objects(const char *path)
{
    return raw_query(path, tu_backend_postgres()
                               ? "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                 "c.relnamespace WHERE n.nspname = current_schema()"
                               : "SELECT count(*) FROM sqlite_schema");
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- open modes and migrations ---- */

static void test_open_create_and_existing(void **state)
{
    TU_SQLITE_ONLY("the database file: its existence, mode and journal mode");
    struct fixture *fx = *state;
    struct store *s = NULL;

    /* EXISTING refuses a missing file and does not create it. */
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 2, &s), STORE_ERROR);
    assert_null(s);
    assert_int_equal(access(fx->path, F_OK), -1);

    /* CREATE on a fresh path: migrated to the latest version, private, in WAL mode. */
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 2, &fx->s), STORE_OK);
    assert_non_null(fx->s);
    assert_true(store_sqlite_schema_latest() >= 1);
    assert_int_equal(store_schema_version(fx->s), store_sqlite_schema_latest());
    assert_int_equal(store_ping(fx->s), STORE_OK);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_int_equal(raw_query(fx->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"),
                     1);
    store_close(fx->s);
    fx->s = NULL;

    /* CREATE refuses the existing file and leaves it intact. */
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 2, &s), STORE_ERROR);
    assert_null(s);
    assert_int_equal(raw_query(fx->path, "PRAGMA user_version"), store_sqlite_schema_latest());

    /* EXISTING opens it. */
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 2, &fx->s), STORE_OK);
    assert_int_equal(store_schema_version(fx->s), store_sqlite_schema_latest());
}

static void test_reopen_keeps_data_and_schema(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 3, &fx->s), STORE_OK);
    int version = store_schema_version(fx->s);
    if (!tu_backend_postgres())
        assert_int_equal(version, store_sqlite_schema_latest());
    add_user(fx->s, 1, "alice@example.com", T0);
    store_close(fx->s);
    fx->s = NULL;
    long long objects = schema_objects(fx->path);
    assert_true(objects >= 4);

    /* Re-opening twice applies nothing again (a re-applied CREATE TABLE would fail the
     * open) and keeps every row. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 3, &fx->s), STORE_OK);
        assert_int_equal(store_schema_version(fx->s), version);
        struct store_user u;
        assert_int_equal(store_user_by_email(fx->s, "alice@example.com", &u), STORE_OK);
        store_close(fx->s);
        fx->s = NULL;
        assert_int_equal(schema_objects(fx->path), objects);
        assert_int_equal(raw_query(fx->path, "SELECT count(*) FROM users"), 1);
    }
}

static void test_existing_empty_file_is_migrated(void **state)
{
    TU_SQLITE_ONLY("an empty file");
    struct fixture *fx = *state;
    FILE *f = fopen(fx->path, "w"); /* version 0: an empty database */
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 1, &fx->s), STORE_OK);
    assert_int_equal(store_schema_version(fx->s), store_sqlite_schema_latest());
    add_user(fx->s, 1, "a@example.com", T0);
}

static void test_existing_refuses_newer_or_foreign(void **state)
{
    TU_SQLITE_ONLY("PRAGMA user_version and a file that is not a database");
    struct fixture *fx = *state;
    struct store *s = NULL;
    char *sql = xasprintf("PRAGMA user_version = %d", store_sqlite_schema_latest() + 1);
    raw_exec(fx->path, sql);
    xfree(sql);
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 1, &s), STORE_ERROR);
    assert_null(s);
    /* Nothing was applied to it. */
    assert_int_equal(raw_query(fx->path, "SELECT count(*) FROM sqlite_schema"), 0);
    assert_int_equal(raw_query(fx->path, "PRAGMA user_version"), store_sqlite_schema_latest() + 1);

    /* A file that is not a database. */
    char *junk = xasprintf("%s/junk.db", fx->dir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    assert_int_equal(store_open(junk, STORE_OPEN_EXISTING, 1, &s), STORE_ERROR);
    assert_null(s);
    xfree(junk);
}

/* ---- users ---- */

static void test_user_crud(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    struct store_user u, got;

    assert_int_equal(store_user_first(s, &got), STORE_NOT_FOUND);

    /* Inserted second but created first: "first" follows created_on. */
    add_user(s, 2, "bob@example.com", T0 + 10);
    add_user(s, 1, "alice@example.com", T0);

    memset(&u, 0, sizeof u);
    make_id(u.id, 0xa, 1);
    snprintf(u.email, sizeof u.email, "alice@example.com");
    fill_hash(u.key_hash, 1);
    u.created_on = T0;

    memset(&got, 0x5a, sizeof got);
    assert_int_equal(store_user_get(s, u.id, &got), STORE_OK);
    assert_string_equal(got.id, u.id);
    assert_string_equal(got.email, u.email);
    assert_memory_equal(got.key_hash, u.key_hash, 32);
    assert_int_equal(got.created_on, u.created_on);

    memset(&got, 0, sizeof got);
    assert_int_equal(store_user_by_email(s, "alice@example.com", &got), STORE_OK);
    assert_string_equal(got.id, u.id);
    assert_memory_equal(got.key_hash, u.key_hash, 32);
    /* E-mail addresses compare case-insensitively. */
    assert_int_equal(store_user_by_email(s, "Alice@Example.COM", &got), STORE_OK);
    assert_string_equal(got.id, u.id);

    assert_int_equal(store_user_first(s, &got), STORE_OK);
    assert_string_equal(got.id, u.id);

    /* Unknown. */
    char unknown[STORE_ID_SIZE];
    make_id(unknown, 0xa, 99);
    assert_int_equal(store_user_get(s, unknown, &got), STORE_NOT_FOUND);
    assert_int_equal(store_user_by_email(s, "nobody@example.com", &got), STORE_NOT_FOUND);

    /* Duplicate e-mail (any case) and duplicate id. */
    struct store_user dup = u;
    make_id(dup.id, 0xa, 3);
    assert_int_equal(store_user_create(s, &dup), STORE_CONFLICT);
    snprintf(dup.email, sizeof dup.email, "ALICE@example.com");
    assert_int_equal(store_user_create(s, &dup), STORE_CONFLICT);
    dup = u;
    snprintf(dup.email, sizeof dup.email, "carol@example.com");
    assert_int_equal(store_user_create(s, &dup), STORE_CONFLICT);
    assert_int_equal(store_user_by_email(s, "carol@example.com", &got), STORE_NOT_FOUND);

    /* A user created later with an equal created_on is not "first". */
    add_user(s, 4, "dave@example.com", T0);
    assert_int_equal(store_user_first(s, &got), STORE_OK);
    assert_string_equal(got.id, u.id);
}

/* ---- accounts ---- */

static void test_account_crud(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    add_user(s, 1, "alice@example.com", T0);

    struct store_account a = {.created_on = T0 + 5}, got;
    make_id(a.id, 0xb, 1);
    make_id(a.owner_user_id, 0xa, 1);
    snprintf(a.name, sizeof a.name, "Alice's Account");
    assert_int_equal(store_account_create(s, &a), STORE_OK);

    memset(&got, 0x5a, sizeof got);
    assert_int_equal(store_account_get(s, a.id, &got), STORE_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.name, "Alice's Account");
    assert_string_equal(got.owner_user_id, a.owner_user_id);
    assert_int_equal(got.created_on, T0 + 5);

    /* Duplicate id. */
    assert_int_equal(store_account_create(s, &a), STORE_CONFLICT);
    /* An owner that does not exist. */
    struct store_account orphan = a;
    make_id(orphan.id, 0xb, 2);
    make_id(orphan.owner_user_id, 0xa, 42);
    assert_int_equal(store_account_create(s, &orphan), STORE_NOT_FOUND);
    assert_int_equal(store_account_get(s, orphan.id, &got), STORE_NOT_FOUND);

    /* A name filling the whole field without a terminator is stored bounded, read back
     * NUL-terminated: no overflow either way. */
    struct store_account full = a;
    make_id(full.id, 0xb, 3);
    memset(full.name, 'x', sizeof full.name);
    assert_int_equal(store_account_create(s, &full), STORE_OK);
    assert_int_equal(store_account_get(s, full.id, &got), STORE_OK);
    assert_int_equal(strlen(got.name), sizeof got.name - 1);
    assert_int_equal(got.name[0], 'x');
}

/* ---- tokens ---- */

static void test_token_crud(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    add_user(s, 1, "alice@example.com", T0);
    add_account(s, 1, 1, "acct");

    struct store_token t = {.permissions = 0x80000005u, .expires_on = T0 + 1000, .created_on = T0};
    make_id(t.id, 0xd, 1);
    make_id(t.account_id, 0xb, 1);
    fill_hash(t.hash, 77);
    /* The largest scope: STORE_SCOPE_MAX ids separated by spaces. */
    size_t pos = 0;
    for (unsigned i = 0; i < STORE_SCOPE_MAX; i++) {
        char id[STORE_ID_SIZE];
        make_id(id, 0xc, i);
        pos += (size_t)snprintf(t.zone_scope + pos, sizeof t.zone_scope - pos, "%s%s", i ? " " : "",
                                id);
    }
    assert_true(pos < sizeof t.zone_scope);
    assert_int_equal(store_token_create(s, &t), STORE_OK);

    struct store_token got;
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(store_token_get(s, t.id, &got), STORE_OK);
    assert_string_equal(got.id, t.id);
    assert_string_equal(got.account_id, t.account_id);
    assert_memory_equal(got.hash, t.hash, 32);
    assert_int_equal(got.permissions, 0x80000005u);
    assert_string_equal(got.zone_scope, t.zone_scope);
    assert_int_equal(got.expires_on, T0 + 1000);
    assert_int_equal(got.revoked_on, 0);
    assert_int_equal(got.created_on, T0);

    /* By hash. */
    memset(&got, 0, sizeof got);
    assert_int_equal(store_token_by_hash(s, t.hash, &got), STORE_OK);
    assert_string_equal(got.id, t.id);
    assert_string_equal(got.zone_scope, t.zone_scope);
    unsigned char other[32];
    fill_hash(other, 78);
    assert_int_equal(store_token_by_hash(s, other, &got), STORE_NOT_FOUND);

    /* A second token with an empty scope, never expiring. */
    struct store_token t2 = {.permissions = 1, .created_on = T0 + 1};
    make_id(t2.id, 0xd, 2);
    make_id(t2.account_id, 0xb, 1);
    fill_hash(t2.hash, 78);
    assert_int_equal(store_token_create(s, &t2), STORE_OK);
    assert_int_equal(store_token_by_hash(s, other, &got), STORE_OK);
    assert_string_equal(got.id, t2.id);
    assert_string_equal(got.zone_scope, "");
    assert_int_equal(got.expires_on, 0);

    /* Duplicate hash, duplicate id, unknown account. */
    struct store_token dup = t2;
    make_id(dup.id, 0xd, 3);
    assert_int_equal(store_token_create(s, &dup), STORE_CONFLICT);
    dup = t2;
    fill_hash(dup.hash, 79);
    assert_int_equal(store_token_create(s, &dup), STORE_CONFLICT);
    make_id(dup.id, 0xd, 4);
    make_id(dup.account_id, 0xb, 9);
    assert_int_equal(store_token_create(s, &dup), STORE_NOT_FOUND);

    /* Revoke: the first time sticks; unknown ids are NOT_FOUND. */
    assert_int_equal(store_token_revoke(s, t.id, T0 + 500), STORE_OK);
    assert_int_equal(store_token_get(s, t.id, &got), STORE_OK);
    assert_int_equal(got.revoked_on, T0 + 500);
    assert_int_equal(store_token_revoke(s, t.id, T0 + 900), STORE_OK);
    assert_int_equal(store_token_by_hash(s, t.hash, &got), STORE_OK); /* still returned */
    assert_int_equal(got.revoked_on, T0 + 500);
    assert_int_equal(store_token_get(s, t2.id, &got), STORE_OK); /* others untouched */
    assert_int_equal(got.revoked_on, 0);
    char unknown[STORE_ID_SIZE];
    make_id(unknown, 0xd, 99);
    assert_int_equal(store_token_revoke(s, unknown, T0), STORE_NOT_FOUND);
    assert_int_equal(store_token_get(s, unknown, &got), STORE_NOT_FOUND);
}

/* ---- zones ---- */

static void test_zone_crud(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    add_user(s, 1, "alice@example.com", T0);
    add_user(s, 2, "bob@example.com", T0);
    add_account(s, 1, 1, "Alice's Account");
    add_account(s, 2, 2, "Bob's Account");

    struct store_zone z = {.universal_ssl = false,
                           .advanced_quota = 7,
                           .created_on = T0,
                           .modified_on = T0 + 1,
                           .activated_on = T0 + 2};
    make_id(z.id, 0xc, 1);
    make_id(z.account_id, 0xb, 1);
    /* A 253-character name: the longest hostname. */
    memset(z.name, 'a', 253);
    for (int i = 63; i < 253; i += 64)
        z.name[i] = '.';
    snprintf(z.type, sizeof z.type, "partial");
    snprintf(z.status, sizeof z.status, "active");
    /* Fields create ignores. */
    snprintf(z.account_name, sizeof z.account_name, "ignored");
    assert_int_equal(store_zone_create(s, &z), STORE_OK);

    struct store_zone got;
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(store_zone_get(s, z.id, &got), STORE_OK);
    assert_string_equal(got.id, z.id);
    assert_string_equal(got.account_id, z.account_id);
    assert_int_equal(strlen(got.name), 253);
    assert_string_equal(got.name, z.name);
    assert_string_equal(got.type, "partial");
    assert_string_equal(got.status, "active");
    assert_false(got.universal_ssl);
    assert_int_equal(got.advanced_quota, 7);
    assert_int_equal(got.created_on, T0);
    assert_int_equal(got.modified_on, T0 + 1);
    assert_int_equal(got.activated_on, T0 + 2);
    assert_string_equal(got.account_name, "Alice's Account");
    char owner[STORE_ID_SIZE];
    make_id(owner, 0xa, 1);
    assert_string_equal(got.owner_user_id, owner);
    assert_string_equal(got.owner_email, "alice@example.com");

    /* Same name, same account: conflict. Same name in another account: fine. */
    assert_int_equal(add_zone(s, 2, 1, "example.com", "active", T0), STORE_OK);
    assert_int_equal(add_zone(s, 3, 1, "example.com", "active", T0), STORE_CONFLICT);
    assert_int_equal(add_zone(s, 4, 2, "example.com", "active", T0), STORE_OK);
    assert_int_equal(store_zone_get(s, "c0000000000000000000000000000004", &got), STORE_OK);
    assert_true(got.universal_ssl);
    assert_int_equal(got.advanced_quota, 50);
    assert_string_equal(got.owner_email, "bob@example.com");
    assert_string_equal(got.account_name, "Bob's Account");
    /* Duplicate id; unknown account. */
    assert_int_equal(add_zone(s, 2, 2, "other.com", "active", T0), STORE_CONFLICT);
    assert_int_equal(add_zone(s, 5, 9, "other.com", "active", T0), STORE_NOT_FOUND);

    /* Delete: the zone is gone from every reader at once, but its deletion job still
     * reads it, under its real name. */
    assert_int_equal(store_zone_delete_request(s, z.id, T0 + 1), STORE_OK);
    assert_int_equal(store_zone_get(s, z.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_zone_get_any(s, z.id, &got), STORE_OK);
    assert_string_equal(got.name, z.name);
    assert_int_equal(got.deleting_on, T0 + 1);
    assert_int_equal(store_zone_delete_request(s, z.id, T0 + 2), STORE_NOT_FOUND);
    /* The name is free again at once, before the rows are gone. */
    assert_int_equal(store_zone_delete_request(s, "c0000000000000000000000000000002", T0),
                     STORE_OK);
    assert_int_equal(add_zone(s, 3, 1, "example.com", "active", T0), STORE_OK);
    assert_int_equal(store_zone_delete_finish(s, NULL, NULL, z.id, T0 + 3), STORE_OK);
    assert_int_equal(store_zone_get_any(s, z.id, &got), STORE_NOT_FOUND);
    assert_int_equal(store_zone_delete_finish(s, NULL, NULL, z.id, T0 + 3), STORE_NOT_FOUND);
}

/* ---- zone list ---- */

/* Lists with f and checks the ids (by number, kind 0xc) in order and the total. */
static void assert_list(struct store *s, const struct store_zone_filter *f, int total,
                        const unsigned *ids, int n)
{
    struct store_zone *zones = (void *)1;
    int count = -1, tot = -1;
    assert_int_equal(store_zone_list(s, f, &zones, &count, &tot), STORE_OK);
    assert_non_null(zones);
    assert_int_equal(tot, total);
    assert_int_equal(count, n);
    for (int i = 0; i < n; i++) {
        char id[STORE_ID_SIZE];
        make_id(id, 0xc, ids[i]);
        assert_string_equal(zones[i].id, id);
        assert_true(zones[i].owner_email[0] != '\0'); /* the join fields are filled */
        assert_true(zones[i].account_name[0] != '\0');
    }
    xfree(zones);
}

/* Users 1 (accounts 1, 2) and 2 (account 3); zones 1..6, see below. */
static void seed_zones(struct store *s)
{
    add_user(s, 1, "alice@example.com", T0);
    add_user(s, 2, "bob@example.com", T0);
    add_account(s, 1, 1, "a1");
    add_account(s, 2, 1, "a2");
    add_account(s, 3, 2, "a3");
    assert_int_equal(add_zone(s, 1, 1, "one.com", "active", T0 + 1), STORE_OK);
    assert_int_equal(add_zone(s, 2, 1, "two.com", "pending", T0 + 2), STORE_OK);
    assert_int_equal(add_zone(s, 3, 1, "three.com", "active", T0 + 3), STORE_OK);
    assert_int_equal(add_zone(s, 4, 2, "one.com", "active", T0 + 4), STORE_OK);
    assert_int_equal(add_zone(s, 5, 3, "one.com", "active", T0 + 5), STORE_OK);
    assert_int_equal(add_zone(s, 6, 3, "six.com", "active", T0 + 6), STORE_OK);
}

static void test_zone_list_visibility(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    seed_zones(s);
    char a1[STORE_ID_SIZE], a3[STORE_ID_SIZE], u1[STORE_ID_SIZE], u2[STORE_ID_SIZE];
    make_id(a1, 0xb, 1);
    make_id(a3, 0xb, 3);
    make_id(u1, 0xa, 1);
    make_id(u2, 0xa, 2);

    struct store_zone_filter f = {.who.account_id = a1, .limit = 50};
    assert_list(s, &f, 3, (const unsigned[]){1, 2, 3}, 3);
    f = (struct store_zone_filter){.who.account_id = a3, .limit = 50};
    assert_list(s, &f, 2, (const unsigned[]){5, 6}, 2);
    f = (struct store_zone_filter){.who.owner_user_id = u1, .limit = 50};
    assert_list(s, &f, 4, (const unsigned[]){1, 2, 3, 4}, 4);
    f = (struct store_zone_filter){.who.owner_user_id = u2, .limit = 50};
    assert_list(s, &f, 2, (const unsigned[]){5, 6}, 2);

    /* Zone scope: only the listed ids, and never outside the account. */
    char scope[4 * STORE_ID_SIZE + 4];
    char z1[STORE_ID_SIZE], z3[STORE_ID_SIZE], z5[STORE_ID_SIZE];
    make_id(z1, 0xc, 1);
    make_id(z3, 0xc, 3);
    make_id(z5, 0xc, 5);
    snprintf(scope, sizeof scope, "%s %s %s", z3, z5, z1);
    f = (struct store_zone_filter){.who = {.account_id = a1, .zone_scope = scope}, .limit = 50};
    assert_list(s, &f, 2, (const unsigned[]){1, 3}, 2);
    f.who.zone_scope = ""; /* "" = no restriction */
    assert_list(s, &f, 3, (const unsigned[]){1, 2, 3}, 3);
    f.who.zone_scope = z5; /* a zone of another account */
    assert_list(s, &f, 0, NULL, 0);
    /* A prefix of an id does not match. */
    char prefix[STORE_ID_SIZE];
    snprintf(prefix, sizeof prefix, "%.31s", z1);
    f.who.zone_scope = prefix;
    assert_list(s, &f, 0, NULL, 0);
    /* Scope with a global-key owner. */
    f = (struct store_zone_filter){.who = {.owner_user_id = u1, .zone_scope = scope}, .limit = 50};
    assert_list(s, &f, 2, (const unsigned[]){1, 3}, 2);

    /* Unknown viewer: nothing. Nobody: refused (fail closed). */
    char nobody[STORE_ID_SIZE];
    make_id(nobody, 0xa, 99);
    f = (struct store_zone_filter){.who.owner_user_id = nobody, .limit = 50};
    assert_list(s, &f, 0, NULL, 0);
    f = (struct store_zone_filter){.limit = 50};
    struct store_zone *zones = NULL;
    int count = -1, total = -1;
    assert_int_equal(store_zone_list(s, &f, &zones, &count, &total), STORE_ERROR);
    assert_null(zones);
    assert_int_equal(count, 0);
    xfree(zones);
}

static void test_zone_list_filters(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    seed_zones(s);
    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE], a3[STORE_ID_SIZE], u1[STORE_ID_SIZE];
    make_id(a1, 0xb, 1);
    make_id(a2, 0xb, 2);
    make_id(a3, 0xb, 3);
    make_id(u1, 0xa, 1);

    struct store_zone_filter f = {.who.owner_user_id = u1, .name = "one.com", .limit = 50};
    assert_list(s, &f, 2, (const unsigned[]){1, 4}, 2);
    f.account_id = a2;
    assert_list(s, &f, 1, (const unsigned[]){4}, 1);
    f.name = NULL;
    assert_list(s, &f, 1, (const unsigned[]){4}, 1);
    f.account_id = a3; /* an account the viewer cannot see */
    assert_list(s, &f, 0, NULL, 0);
    f.account_id = NULL;
    f.status = "pending";
    assert_list(s, &f, 1, (const unsigned[]){2}, 1);
    f.status = "active";
    assert_list(s, &f, 3, (const unsigned[]){1, 3, 4}, 3);
    f.name = "two.com";
    assert_list(s, &f, 0, NULL, 0);
    f = (struct store_zone_filter){.who.account_id = a1,
                                   .account_id = a1,
                                   .name = "three.com",
                                   .status = "active",
                                   .limit = 50};
    assert_list(s, &f, 1, (const unsigned[]){3}, 1);
    f.name = "THREE.com"; /* names are normalised by the caller; exact match here */
    assert_list(s, &f, 0, NULL, 0);
}

static void test_zone_list_order_and_pages(void **state)
{
    struct store *s = ((struct fixture *)*state)->s;
    add_user(s, 1, "alice@example.com", T0);
    add_account(s, 1, 1, "a1");
    /* Inserted out of order; ties on created_on are broken by id. */
    static const struct {
        unsigned n;
        int64_t at;
    } zs[] = {{7, T0 + 30}, {3, T0 + 10}, {9, T0 + 20}, {1, T0 + 20},
              {8, T0 + 10}, {2, T0 + 40}, {5, T0 + 10}};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "z%u.example.com", zs[i].n);
        assert_int_equal(add_zone(s, zs[i].n, 1, name, "active", zs[i].at), STORE_OK);
    }
    const unsigned order[] = {3, 5, 8, 1, 9, 7, 2};
    char a1[STORE_ID_SIZE];
    make_id(a1, 0xb, 1);
    struct store_zone_filter f = {.who.account_id = a1, .limit = 50};
    assert_list(s, &f, 7, order, 7);

    /* Windows of 3: full, full, partial, then past the end. */
    f.limit = 3;
    f.offset = 0;
    assert_list(s, &f, 7, order, 3);
    f.offset = 3;
    assert_list(s, &f, 7, order + 3, 3);
    f.offset = 6;
    assert_list(s, &f, 7, order + 6, 1);
    f.offset = 7;
    assert_list(s, &f, 7, NULL, 0);
    f.offset = 1000;
    assert_list(s, &f, 7, NULL, 0);
    f.offset = 2;
    f.limit = 1;
    assert_list(s, &f, 7, order + 2, 1);
    /* With a filter, the total is the filtered count. */
    f = (struct store_zone_filter){.who.account_id = a1, .name = "z9.example.com", .limit = 1};
    assert_list(s, &f, 1, (const unsigned[]){9}, 1);

    /* A bad window is refused. */
    struct store_zone *zones = NULL;
    int count, total;
    f = (struct store_zone_filter){.who.account_id = a1, .limit = 0};
    assert_int_equal(store_zone_list(s, &f, &zones, &count, &total), STORE_ERROR);
    f = (struct store_zone_filter){.who.account_id = a1, .limit = 1, .offset = -1};
    assert_int_equal(store_zone_list(s, &f, &zones, &count, &total), STORE_ERROR);
    xfree(zones);
}

/* ---- concurrency ---- */

#define WRITERS 4
#define ZONES_PER_WRITER 50

struct writer {
    struct store *s;
    unsigned index;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (unsigned i = 0; i < ZONES_PER_WRITER; i++) {
        unsigned n = w->index * 1000 + i;
        char name[64];
        snprintf(name, sizeof name, "w%u-z%u.example.com", w->index, i);
        if (add_zone(w->s, n, 1, name, "active", T0 + i) != STORE_OK) {
            w->failures++;
            continue;
        }
        struct store_zone got;
        char id[STORE_ID_SIZE];
        make_id(id, 0xc, n);
        if (store_zone_get(w->s, id, &got) != STORE_OK || strcmp(got.name, name) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture *fx = *state;
    /* Fewer connections than threads, so borrowing also has to wait. */
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 3, &fx->s), STORE_OK);
    add_user(fx->s, 1, "alice@example.com", T0);
    add_account(fx->s, 1, 1, "a1");

    pthread_t threads[WRITERS];
    struct writer writers[WRITERS];
    for (unsigned i = 0; i < WRITERS; i++) {
        writers[i] = (struct writer){.s = fx->s, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
    }
    for (unsigned i = 0; i < WRITERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(writers[i].failures, 0);
    }

    char a1[STORE_ID_SIZE];
    make_id(a1, 0xb, 1);
    struct store_zone_filter f = {.who.account_id = a1, .limit = 1000};
    struct store_zone *zones = NULL;
    int count, total;
    assert_int_equal(store_zone_list(fx->s, &f, &zones, &count, &total), STORE_OK);
    assert_int_equal(total, WRITERS * ZONES_PER_WRITER);
    assert_int_equal(count, WRITERS * ZONES_PER_WRITER);
    for (int i = 1; i < count; i++) /* ordered by (created_on, id) */
        assert_true(zones[i - 1].created_on < zones[i].created_on ||
                    (zones[i - 1].created_on == zones[i].created_on &&
                     strcmp(zones[i - 1].id, zones[i].id) < 0));
    xfree(zones);

    /* Every acknowledged write is on disk for a fresh opener. */
    store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(raw_query(fx->path, "SELECT count(*) FROM zones"), WRITERS * ZONES_PER_WRITER);
}

/* ---- PostgreSQL: the server ends the store's connections (a restart, a failover) ---- */

/* Ends every other session of the test's database, as a server restart would, and waits
 * until they are gone (termination is asynchronous). */
static void terminate_sessions(const char *uri)
{
    tu_store_sql_int(uri,
                     "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                     NULL);
    long long left = -1;
    for (int i = 0; i < 250 && left != 0; i++) {
        left = tu_store_sql_int(uri,
                                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()",
                                NULL);
        if (left)
            usleep(20 * 1000);
    }
    assert_int_equal(left, 0);
}

static void test_pg_connections_come_back(void **state)
{
    if (!tu_backend_postgres()) {
        print_message("PostgreSQL only: SQLite has no server to lose\n");
        skip();
    }
    struct fixture *fx = *state;
    struct store_user got;
    add_user(fx->s, 1, "alice@example.com", T0);
    /* A read after the break is retried on a new connection: the caller sees no error. */
    terminate_sessions(fx->path);
    assert_int_equal(store_user_by_email(fx->s, "alice@example.com", &got), STORE_OK);
    assert_string_equal(got.email, "alice@example.com");
    /* So is the BEGIN of a write: it changed nothing yet. */
    terminate_sessions(fx->path);
    add_user(fx->s, 2, "bob@example.com", T0 + 1);
    assert_int_equal(store_user_by_email(fx->s, "bob@example.com", &got), STORE_OK);
    terminate_sessions(fx->path);
    assert_int_equal(store_ping(fx->s), STORE_OK);
}

static void test_pg_listener_hears_jobs_and_comes_back(void **state)
{
    if (!tu_backend_postgres()) {
        struct store_listener *l = (struct store_listener *)state; /* any non-NULL value */
        assert_int_equal(store_listener_open(((struct fixture *)*state)->s, &l), STORE_OK);
        assert_null(l); /* SQLite: no cross-process wake-ups */
        return;
    }
    struct fixture *fx = *state;
    struct store_listener *l = NULL;
    assert_int_equal(store_listener_open(fx->s, &l), STORE_OK);
    assert_non_null(l);
    assert_int_equal(store_listener_drain(l), 0); /* nothing yet */
    assert_int_equal(store_job_schedule(fx->s, "test.kind", "t1", T0), STORE_OK);
    struct pollfd p = {.fd = store_listener_fd(l), .events = POLLIN};
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(store_listener_drain(l), 1);
    assert_int_equal(store_listener_drain(l), 0);
    /* The server drops the listener's session: draining reports the loss, then listens
     * again and says work may be due (notifications may have been missed). */
    terminate_sessions(fx->path);
    int rc = 0;
    for (int i = 0; i < 3 && rc != 1; i++) { /* the session's last message, then its end */
        p.fd = store_listener_fd(l);
        assert_int_equal(poll(&p, 1, 5000), 1);
        rc = store_listener_drain(l);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(store_job_schedule(fx->s, "test.kind", "t2", T0), STORE_OK);
    p.fd = store_listener_fd(l);
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(store_listener_drain(l), 1);
    store_listener_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_create_and_existing, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_schema, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_existing_empty_file_is_migrated, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_existing_refuses_newer_or_foreign, setup_dir,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_crud, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_account_crud, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_token_crud, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_zone_crud, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_zone_list_visibility, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_zone_list_filters, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_zone_list_order_and_pages, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_pg_connections_come_back, setup_store, teardown),
        cmocka_unit_test_setup_teardown(test_pg_listener_hears_jobs_and_comes_back, setup_store,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
