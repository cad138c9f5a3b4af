/* Unit tests of the zone settings half of the SQLite store (store/store_settings.c): the
 * Automatic SSL/TLS mode's default and creation time, changes that move modified_on, the
 * same value that does not, per-zone independence, and unknown zones. */
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
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL
#define T0 1700000000000000LL /* zone creation, µs */

struct fixture {
    char *dir, *path;
    struct store *s;
    char zone_id[STORE_ID_SIZE], zone2_id[STORE_ID_SIZE];
};

static void make_id(char out[STORE_ID_SIZE], unsigned kind, unsigned n)
{
    snprintf(out, STORE_ID_SIZE, "%x%031x", kind, n);
}

static void add_zone(struct fixture *fx, char *id, unsigned n, const char *account,
                     const char *name)
{
    struct store_zone z = {
        .universal_ssl = true, .advanced_quota = 50, .created_on = T0 + n, .modified_on = T0 + n};
    make_id(z.id, 0xc, n);
    snprintf(z.account_id, sizeof z.account_id, "%s", account);
    snprintf(z.name, sizeof z.name, "%s", name);
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(fx->s, &z), STORE_OK);
    snprintf(id, STORE_ID_SIZE, "%s", z.id);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    fx->dir = xstrdup("/tmp/tlsward-test-zone-settings-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->path = xasprintf("%s/tlsward.db", fx->dir);
    assert_int_equal(store_open(fx->path, STORE_OPEN_CREATE, 2, &fx->s), STORE_OK);
    struct store_user u = {.created_on = T0};
    make_id(u.id, 0xa, 1);
    snprintf(u.email, sizeof u.email, "owner@example.com");
    assert_int_equal(store_user_create(fx->s, &u), STORE_OK);
    struct store_account a = {.created_on = T0};
    make_id(a.id, 0xb, 1);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", u.id);
    snprintf(a.name, sizeof a.name, "account");
    assert_int_equal(store_account_create(fx->s, &a), STORE_OK);
    add_zone(fx, fx->zone_id, 1, a.id, "one.example");
    add_zone(fx, fx->zone2_id, 2, a.id, "two.example");
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

static void expect_mode(struct fixture *fx, const char *zone_id, const char *value, int64_t on)
{
    char got[STORE_SSL_MODE_SIZE];
    int64_t modified_on = -1;
    assert_int_equal(store_zone_ssl_mode_get(fx->s, zone_id, got, &modified_on), STORE_OK);
    assert_string_equal(got, value);
    assert_int_equal(modified_on, on);
}

static void test_default_is_auto_since_creation(void **state)
{
    struct fixture *fx = *state;
    expect_mode(fx, fx->zone_id, "auto", T0 + 1);
    expect_mode(fx, fx->zone2_id, "auto", T0 + 2);
}

static void test_changes_move_modified_on(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(store_zone_ssl_mode_set(fx->s, fx->zone_id, "custom", T0 + 10 * SEC),
                     STORE_OK);
    expect_mode(fx, fx->zone_id, "custom", T0 + 10 * SEC);
    /* The same value again is no change. */
    assert_int_equal(store_zone_ssl_mode_set(fx->s, fx->zone_id, "custom", T0 + 20 * SEC),
                     STORE_OK);
    expect_mode(fx, fx->zone_id, "custom", T0 + 10 * SEC);
    assert_int_equal(store_zone_ssl_mode_set(fx->s, fx->zone_id, "auto", T0 + 30 * SEC), STORE_OK);
    expect_mode(fx, fx->zone_id, "auto", T0 + 30 * SEC);
    /* The other zone is untouched, and the zone row itself is intact. */
    expect_mode(fx, fx->zone2_id, "auto", T0 + 2);
    struct store_zone z;
    assert_int_equal(store_zone_get(fx->s, fx->zone_id, &z), STORE_OK);
    assert_string_equal(z.name, "one.example");
    assert_int_equal(z.modified_on, T0 + 1);
}

static void test_unknown_zone(void **state)
{
    struct fixture *fx = *state;
    char unknown[STORE_ID_SIZE], got[STORE_SSL_MODE_SIZE] = "";
    make_id(unknown, 0xc, 99);
    int64_t on = 0;
    assert_int_equal(store_zone_ssl_mode_get(fx->s, unknown, got, &on), STORE_NOT_FOUND);
    assert_int_equal(store_zone_ssl_mode_set(fx->s, unknown, "custom", T0), STORE_NOT_FOUND);
    /* A deleted zone is unknown too, from the request on. */
    assert_int_equal(store_zone_delete_request(fx->s, fx->zone2_id, T0), STORE_OK);
    assert_int_equal(store_zone_ssl_mode_get(fx->s, fx->zone2_id, got, &on), STORE_NOT_FOUND);
    assert_int_equal(store_zone_ssl_mode_set(fx->s, fx->zone2_id, "auto", T0), STORE_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_is_auto_since_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_move_modified_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_zone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
