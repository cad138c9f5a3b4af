/* Shared helpers for the HTTP-layer unit tests: a fake header/query source for
 * request_init, and rendering a request's envelope into parsed JSON with assertions on
 * its shape; and fixture pieces (temp store, local CA, user and account, zone, removing a
 * tree). Header-only (static inline) so each test executable stays self-contained.
 * Include after <cmocka.h>. */
#ifndef TLSWARD_TESTS_UNIT_TESTUTIL_H
#define TLSWARD_TESTS_UNIT_TESTUTIL_H

#include <dirent.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <stdio.h>
#include <sys/stat.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "http/request.h"
#include "pki/local_ca.h"
#include "pki/seal.h"
#include "store/store.h"
#include "tu_pg.h"

/* One fake header or query argument. An array of these ends with a NULL key. */
struct tu_kv {
    enum request_lookup_kind kind;
    const char *key;
    const char *value;
};

/* request_lookup_fn over a struct tu_kv array; header names are case-insensitive (RFC
 * 9110), query names are not. */
static inline const char *tu_lookup(void *ctx, enum request_lookup_kind kind, const char *key)
{
    const struct tu_kv *kv = ctx;
    for (; kv && kv->key; kv++) {
        if (kv->kind != kind)
            continue;
        if (kind == REQUEST_HEADER ? strcasecmp(kv->key, key) == 0 : strcmp(kv->key, key) == 0)
            return kv->value;
    }
    return NULL;
}

/* Renders req and returns the text (caller xfree's); asserts the content type. */
static inline char *tu_render_text(struct request *req, const char *want_type)
{
    char *out = NULL;
    size_t len = 0;
    const char *type = NULL;
    request_render(req, &out, &len, &type);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    assert_non_null(type);
    if (want_type)
        assert_string_equal(type, want_type);
    return out;
}

/* Renders req's envelope and parses it (caller json_decref's). Asserts that it is a JSON
 * object with the four envelope members of the right types. */
static inline json_t *tu_render_json(struct request *req)
{
    char *text = tu_render_text(req, "application/json");
    json_error_t err;
    json_t *env = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!env)
        fail_msg("rendered body is not JSON (%s): %s", err.text, text);
    xfree(text);
    assert_true(json_is_object(env));
    assert_true(json_is_boolean(json_object_get(env, "success")));
    assert_true(json_is_array(json_object_get(env, "errors")));
    assert_true(json_is_array(json_object_get(env, "messages")));
    assert_non_null(json_object_get(env, "result"));
    return env;
}

/* Asserts a failure envelope: success false, result null, no result_info, and exactly
 * the given error codes in order (codes ends with 0). */
static inline void tu_assert_failure(json_t *env, const int *codes)
{
    assert_true(json_is_false(json_object_get(env, "success")));
    assert_true(json_is_null(json_object_get(env, "result")));
    assert_null(json_object_get(env, "result_info"));
    json_t *errors = json_object_get(env, "errors");
    size_t n = 0;
    while (codes[n])
        n++;
    assert_int_equal(json_array_size(errors), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(errors, i);
        assert_true(json_is_object(e));
        assert_int_equal(json_integer_value(json_object_get(e, "code")), codes[i]);
        assert_true(json_is_string(json_object_get(e, "message")));
        assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
    }
}

/* The message of errors[i]. */
static inline const char *tu_error_message(json_t *env, size_t i)
{
    json_t *e = json_array_get(json_object_get(env, "errors"), i);
    assert_non_null(e);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    return m;
}

/* Asserts a success envelope: success true, errors [] and messages of the given size. */
static inline void tu_assert_success(json_t *env, size_t messages)
{
    assert_true(json_is_true(json_object_get(env, "success")));
    assert_int_equal(json_array_size(json_object_get(env, "errors")), 0);
    assert_int_equal(json_array_size(json_object_get(env, "messages")), messages);
}

/* Asserts that haystack contains needle, printing both when it does not. */
static inline void tu_assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected to find \"%s\" in \"%s\"", needle, haystack);
}

static inline void tu_assert_not_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle))
        fail_msg("did not expect \"%s\" in \"%s\"", needle, haystack);
}

/* Removes a test store (the database and its -wal/-shm/-journal side files; nothing for a
 * PostgreSQL URI, whose cluster goes at exit) and the temporary directory that held it,
 * which must then be empty. */
static inline void tu_remove_store(const char *path, const char *dir)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; !strstr(path, "://") && i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *f = xasprintf("%s%s", path, suffixes[i]);
        unlink(f);
        xfree(f);
    }
    for (int i = 0; i < 2; i++) { /* left by a worker started on dir (a node) */
        char *f = xasprintf("%s/%s", dir, i ? "node.lock" : "node.id");
        unlink(f);
        xfree(f);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Removes a file or a directory tree (test cleanup; errors ignored). */
static inline void tu_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *child = xasprintf("%s/%s", path, e->d_name);
            tu_remove_tree(child);
            xfree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* The backend the store fixtures use: TLSWARD_TEST_BACKEND=postgres (CMake registers each
 * test_store* suite a second time as <name>_pg with it) or sqlite (unset: the default). */
static inline bool tu_backend_postgres(void)
{
    const char *b = getenv("TLSWARD_TEST_BACKEND");
    if (!b || !*b || strcmp(b, "sqlite") == 0)
        return false;
    if (strcmp(b, "postgres") != 0)
        fail_msg("TLSWARD_TEST_BACKEND=%s: expected sqlite or postgres", b);
    return true;
}

/* A fresh directory from template ("...XXXXXX") and where a new store goes: on SQLite
 * *path is the database file in it (not created yet); on PostgreSQL *path is the URI of a
 * fresh empty database of the test's throwaway cluster (tu_pg.h) and the directory stays
 * empty. tu_temp_store also creates the store there (pool connections).
 * *dir and *path are the caller's to xfree. */
static inline void tu_temp_store_path(const char *template, char **dir, char **path)
{
    *dir = xstrdup(template);
    assert_non_null(mkdtemp(*dir));
    *path = tu_backend_postgres() ? tu_pg_database() : xasprintf("%s/tlsward.db", *dir);
}

static inline void tu_temp_store(const char *template, int pool, char **dir, char **path,
                                 struct store **s)
{
    tu_temp_store_path(template, dir, path);
    assert_int_equal(store_open(*path, STORE_OPEN_CREATE, pool, s), STORE_OK);
}

/* Closes a store from tu_temp_store, removes its files (or leaves a PostgreSQL database
 * to the cluster's teardown) and frees the two strings. */
static inline void tu_close_store(struct store *s, char *path, char *dir)
{
    store_close(s);
    tu_remove_store(path, dir);
    xfree(path);
    xfree(dir);
}

/* Raw SQL on a test store, past the store API (to look at or disturb what it wrote), on
 * either backend: path is a SQLite file or a PostgreSQL URI (tu_temp_store's *path). sql
 * is portable and names its one optional text parameter $1 (SQLite reads $1 as a named
 * parameter, the first and only one). tu_store_sql_int: the first column of the first row
 * as an integer, -1 when there is no row. tu_store_sql_exec: the rows changed. */
static inline long long tu_store_sql(const char *path, const char *sql, const char *arg,
                                     bool changes)
{
    long long v = -1;
    if (strstr(path, "://")) {
        PGconn *c = PQconnectdb(path);
        if (PQstatus(c) != CONNECTION_OK)
            fail_msg("tu_store_sql: %s", PQerrorMessage(c));
        PGresult *r = PQexecParams(c, sql, arg ? 1 : 0, NULL, &arg, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            fail_msg("tu_store_sql: %s: %s", sql, PQerrorMessage(c));
        if (changes)
            v = strtoll(PQcmdTuples(r), NULL, 10);
        else if (PQntuples(r) > 0)
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("tu_store_sql: %s: %s", sql, sqlite3_errmsg(db));
    if (arg)
        assert_int_equal(sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && !changes)
        v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("tu_store_sql: %s: %s", sql, sqlite3_errmsg(db));
    if (changes)
        v = sqlite3_changes(db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static inline long long tu_store_sql_int(const char *path, const char *sql, const char *arg)
{
    return tu_store_sql(path, sql, arg, false);
}

static inline long long tu_store_sql_exec(const char *path, const char *sql, const char *arg)
{
    return tu_store_sql(path, sql, arg, true);
}

/* Skips the calling test on PostgreSQL: it is about the SQLite file itself (why). */
#define TU_SQLITE_ONLY(why)                                                                        \
    do {                                                                                           \
        if (tu_backend_postgres()) {                                                               \
            print_message("skipped on PostgreSQL: %s\n", why);                                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The local CA as `init` makes it (valid from not_before), stored and loaded into
 * app->local_ca under app->master_key. */
static inline void tu_local_ca(struct app *app, int64_t not_before)
{
    struct store_local_ca made, persisted;
    assert_int_equal(local_ca_create(app->master_key, not_before, &made), 0);
    assert_int_equal(store_local_ca_create(app->store, &made), STORE_OK);
    store_local_ca_clear(&made);
    assert_int_equal(store_local_ca_get(app->store, &persisted), STORE_OK);
    assert_int_equal(local_ca_load(app->master_key, &persisted, &app->local_ca), 0);
    store_local_ca_clear(&persisted);
}

/* Issues a pair from app->local_ca for hosts (n of them) as of `at`, 90 days, and turns it
 * into generation `gen` rows of pack id (ECDSA first), the keys sealed as the worker seals
 * them. The rows and pair are the caller's to clear. */
static inline void tu_issue_rows(const struct app *app, const char *id, const char *const *hosts,
                                 size_t n, int gen, int64_t at, struct store_pack_cert rows[2],
                                 struct local_ca_pair *pair)
{
    struct local_ca_request req = {.hosts = hosts, .host_count = n, .validity_days = 90, .now = at};
    const char *why = NULL;
    assert_int_equal(local_ca_issue(app->local_ca, app->rsa_keys, &req, pair, &why), 0);
    const struct local_ca_leaf *leaves[2] = {&pair->ecdsa, &pair->rsa};
    for (int i = 0; i < 2; i++) {
        struct store_pack_cert *c = &rows[i];
        memset(c, 0, sizeof *c);
        util_random_id(c->id);
        snprintf(c->pack_id, sizeof c->pack_id, "%s", id);
        c->generation = gen;
        c->priority = i + 1;
        assert_int_equal(STORE_ENUM_PARSE(leaves[i]->key_type, &c->key_type), 0);
        snprintf(c->signature, sizeof c->signature, "%s",
                 i == 0 ? "ECDSAWithSHA256" : "SHA256WithRSA");
        snprintf(c->issuer, sizeof c->issuer, "%s", leaves[i]->issuer);
        snprintf(c->serial, sizeof c->serial, "%s", leaves[i]->serial);
        c->chain_pem = xstrdup(leaves[i]->chain_pem);
        c->not_before = leaves[i]->not_before;
        c->expires_on = leaves[i]->not_after;
        c->uploaded_on = c->modified_on = at;
        char aad[64];
        assert_true(snprintf(aad, sizeof aad, "pack-cert:%s", c->id) < (int)sizeof aad);
        assert_int_equal(seal_encrypt(app->master_key, leaves[i]->key_pem, leaves[i]->key_len, aad,
                                      &c->key_sealed, &c->key_sealed_len),
                         0);
    }
}

/* Creates a user (email) and an account (name) it owns; the account's id goes to id_out. */
static inline void tu_add_account(struct store *s, const char *email, const char *name,
                                  char *id_out)
{
    int64_t now = util_now_us();
    struct store_user u = {.created_on = now};
    util_random_id(u.id);
    snprintf(u.email, sizeof u.email, "%s", email);
    assert_int_equal(store_user_create(s, &u), STORE_OK);
    struct store_account a = {.created_on = now};
    util_random_id(a.id);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", u.id);
    snprintf(a.name, sizeof a.name, "%s", name);
    assert_int_equal(store_account_create(s, &a), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", a.id);
}

/* Creates an active "full" zone `name` in the account; its id goes to id_out. */
static inline void tu_add_zone(struct store *s, const char *account_id, const char *name,
                               char *id_out)
{
    int64_t now = util_now_us();
    struct store_zone z = {
        .universal_ssl = true, .advanced_quota = 50, .created_on = now, .modified_on = now};
    util_random_id(z.id);
    snprintf(z.account_id, sizeof z.account_id, "%s", account_id);
    snprintf(z.name, sizeof z.name, "%s", name);
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(s, &z), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", z.id);
}

/* A pack's arrays from and as their JSON text (the store's own encoding), so tests can
 * write packs the way the API shows them. */
#include "store/store_internal.h"
#define TU_HOSTS STORE__PACK_HOSTS
#define TU_RECORDS STORE__PACK_RECORDS
#define TU_ERRORS STORE__PACK_ERRORS
#define TU_DELEGATION STORE__PACK_DELEGATION
static inline void tu_pack_set(struct store_pack *p, enum store__pack_array a, const char *json)
{
    assert_int_equal(store__pack_json_decode(p, a, json), STORE_OK);
}
/* The array's JSON text: heap (xfree). */
static inline char *tu_pack_text(const struct store_pack *p, enum store__pack_array a)
{
    char *text = store__pack_json_encode(p, a);
    assert_non_null(text);
    return text;
}
/* The array as a JSON value (json_decref). */
static inline json_t *tu_pack_json(const struct store_pack *p, enum store__pack_array a)
{
    char *text = tu_pack_text(p, a);
    json_t *v = json_loads(text, 0, NULL);
    xfree(text);
    assert_non_null(v);
    return v;
}
#define assert_pack_text(p, a, want)                                                               \
    do {                                                                                           \
        char *tu_text_ = tu_pack_text(p, a);                                                       \
        assert_string_equal(tu_text_, want);                                                       \
        xfree(tu_text_);                                                                           \
    } while (0)

/* An account (owned by a new user) and a zone `zone` in it, on a fresh temporary store
 * (tu_temp_store): the tenant most store suites start from. */
static inline void tu_temp_tenant(const char *template, int pool, const char *zone, char **dir,
                                  char **path, struct store **s, char *account_id, char *zone_id)
{
    tu_temp_store(template, pool, dir, path, s);
    tu_add_account(*s, "tenant@example.com", "tenant", account_id);
    tu_add_zone(*s, account_id, zone, zone_id);
}

/* The fixture of the store suites that need no more: a temporary store and, with tenant,
 * an account and a zone "example.com" in it (and room for the id of a pack the suite adds).
 * tu_store_fx_setup is the body of a cmocka setup (template and pool as tu_temp_store's);
 * tu_store_fx_teardown undoes it. */
struct tu_store_fx {
    char *dir, *path;
    struct store *s;
    char account_id[STORE_ID_SIZE], zone_id[STORE_ID_SIZE], pack_id[STORE_ID_SIZE];
};

static inline int tu_store_fx_setup(void **state, const char *template, int pool, bool tenant)
{
    struct tu_store_fx *fx = xcalloc(1, sizeof *fx);
    if (tenant)
        tu_temp_tenant(template, pool, "example.com", &fx->dir, &fx->path, &fx->s, fx->account_id,
                       fx->zone_id);
    else
        tu_temp_store(template, pool, &fx->dir, &fx->path, &fx->s);
    *state = fx;
    return 0;
}

static inline int tu_store_fx_teardown(void **state)
{
    struct tu_store_fx *fx = *state;
    tu_close_store(fx->s, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* A pack as an order makes it (advanced, Let's Encrypt, TXT, 90 days) in zone_id, with
 * the given status (its name) since created_on, not written and without hosts: for a test
 * that completes or breaks it before the write. */
static inline void tu_pack_init(struct store_pack *p, const char *zone_id, const char *status,
                                int64_t created_on)
{
    memset(p, 0, sizeof *p);
    util_random_id(p->id);
    snprintf(p->zone_id, sizeof p->zone_id, "%s", zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p->type), 0);
    assert_int_equal(STORE_ENUM_PARSE(status, &p->status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p->certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p->validation_method), 0);
    p->validity_days = 90;
    p->status_since = p->created_on = p->modified_on = created_on;
}

/* A certificate row of generation gen for pack_id (priority 1: ECDSA, 2: RSA), 90 days up
 * to expires_on, with a placeholder chain and sealed key: store_pack_cert_clear it. */
static inline void tu_pack_cert(struct store_pack_cert *c, const char *pack_id, int gen,
                                int priority, int64_t expires_on)
{
    memset(c, 0, sizeof *c);
    util_random_id(c->id);
    snprintf(c->pack_id, sizeof c->pack_id, "%s", pack_id);
    c->generation = gen;
    c->priority = priority;
    assert_int_equal(STORE_ENUM_PARSE(priority == 1 ? "ecdsa" : "rsa", &c->key_type), 0);
    snprintf(c->signature, sizeof c->signature, "%s",
             priority == 1 ? "ECDSAWithSHA256" : "SHA256WithRSA");
    snprintf(c->issuer, sizeof c->issuer, "tlsward Local Issuing CA");
    snprintf(c->serial, sizeof c->serial, "%02x%02x", gen, priority);
    c->chain_pem = xasprintf("gen%d prio%d", gen, priority);
    c->key_sealed_len = 4;
    c->key_sealed = xcalloc(1, 4);
    c->not_before = expires_on - 90LL * 86400 * 1000000;
    c->expires_on = expires_on;
    c->uploaded_on = c->modified_on = c->not_before;
}

/* Writes such a pack for the one host example.com; its id goes to id_out. */
static inline void tu_add_pack(struct store *s, const char *zone_id, const char *status,
                               int64_t created_on, char *id_out)
{
    struct store_pack p;
    tu_pack_init(&p, zone_id, status, created_on);
    tu_pack_set(&p, TU_HOSTS, "[\"example.com\"]");
    assert_int_equal(store_pack_create(s, &p), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

#endif
