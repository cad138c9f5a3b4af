/* Unit tests for the ACME part of the SQLite store (store_acme.c): one account row per
 * (account, CA, directory) with a concurrent creator losing cleanly, an order row replaced
 * in place and forgotten, and the revocation of a deleted pack's certificates scheduled once
 * per certificate not yet revoked. */
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
#include "common/util.h"
#include "store/store.h"
#include "testutil.h"

#define T0 (1700000000LL * 1000000LL)
#define DIR_URL "https://acme.test/dir"

/* The first column of the first row of sql with $1 bound to arg (may be NULL); -1 when
 * there is no row. Either backend (testutil.h). */
static long long raw_int(const struct tu_store_fx *fx, const char *sql, const char *arg)
{
    return tu_store_sql_int(fx->path, sql, arg);
}

/* A store with an account, a zone and an initializing pack in it. */
static int setup(void **state)
{
    tu_store_fx_setup(state, "/tmp/tlsward-test-store-acme-XXXXXX", 4, true);
    struct tu_store_fx *fx = *state;
    tu_add_pack(fx->s, fx->zone_id, "initializing", T0, fx->pack_id);
    return 0;
}

static void test_account_create_conflict_and_url(void **state)
{
    struct tu_store_fx *fx = *state;
    unsigned char key1[] = {1, 2, 3}, key2[] = {9, 9};
    struct store_acme_account a = {
        .key_sealed = key1, .key_sealed_len = sizeof key1, .created_on = T0};
    snprintf(a.account_id, sizeof a.account_id, "%s", fx->account_id);
    a.ca = PACK_CA_LETS_ENCRYPT;
    snprintf(a.directory_url, sizeof a.directory_url, DIR_URL);
    struct store_acme_account got;
    assert_int_equal(
        store_acme_account_get(fx->s, fx->account_id, PACK_CA_LETS_ENCRYPT, DIR_URL, &got),
        STORE_NOT_FOUND);
    assert_int_equal(store_acme_account_create(fx->s, &a), STORE_OK);
    /* A second creator (another worker) loses and keeps the first key. */
    struct store_acme_account b = a;
    b.key_sealed = key2;
    b.key_sealed_len = sizeof key2;
    assert_int_equal(store_acme_account_create(fx->s, &b), STORE_CONFLICT);
    assert_int_equal(
        store_acme_account_get(fx->s, fx->account_id, PACK_CA_LETS_ENCRYPT, DIR_URL, &got),
        STORE_OK);
    assert_int_equal(got.key_sealed_len, sizeof key1);
    assert_memory_equal(got.key_sealed, key1, sizeof key1);
    assert_string_equal(got.account_url, "");
    store_acme_account_clear(&got);
    snprintf(a.account_url, sizeof a.account_url, "https://acme.test/acct/7");
    assert_int_equal(store_acme_account_set_url(fx->s, &a, T0 + 5), STORE_OK);
    assert_int_equal(
        store_acme_account_get(fx->s, fx->account_id, PACK_CA_LETS_ENCRYPT, DIR_URL, &got),
        STORE_OK);
    assert_string_equal(got.account_url, "https://acme.test/acct/7");
    assert_int_equal(got.updated_on, T0 + 5);
    store_acme_account_clear(&got);
    /* Another CA or directory is another account. */
    assert_int_equal(store_acme_account_get(fx->s, fx->account_id, PACK_CA_GOOGLE, DIR_URL, &got),
                     STORE_NOT_FOUND);
    assert_int_equal(store_acme_account_get(fx->s, fx->account_id, PACK_CA_LETS_ENCRYPT,
                                            "https://other/dir", &got),
                     STORE_NOT_FOUND);
}

static void test_order_put_replace_delete(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store_acme_order o = {.created_on = T0, .updated_on = T0, .expires_on = T0 + 100};
    snprintf(o.pack_id, sizeof o.pack_id, "%s", fx->pack_id);
    assert_int_equal(STORE_ENUM_PARSE("ecdsa", &o.key_type), 0);
    snprintf(o.order_url, sizeof o.order_url, "https://acme.test/order/1");
    snprintf(o.finalize_url, sizeof o.finalize_url, "https://acme.test/order/1/finalize");
    snprintf(o.status, sizeof o.status, "pending");
    o.authz_urls = xstrdup("https://acme.test/authz/a\nhttps://acme.test/authz/b\n");
    assert_int_equal(store_acme_order_put(fx->s, &o), STORE_OK);
    struct store_acme_order got;
    assert_int_equal(store_acme_order_get(fx->s, fx->pack_id, STORE_KEY_ECDSA, &got), STORE_OK);
    assert_string_equal(got.order_url, "https://acme.test/order/1");
    assert_string_equal(got.authz_urls, o.authz_urls);
    assert_string_equal(got.status, "pending");
    assert_null(got.key_sealed);
    assert_int_equal(got.expires_on, T0 + 100);
    store_acme_order_clear(&got);
    /* The same key type is replaced in place: one row, the new state and its key. */
    unsigned char key[] = {7, 7, 7};
    o.key_sealed = key;
    o.key_sealed_len = sizeof key;
    snprintf(o.status, sizeof o.status, "valid");
    snprintf(o.certificate_url, sizeof o.certificate_url, "https://acme.test/cert/1");
    assert_int_equal(store_acme_order_put(fx->s, &o), STORE_OK);
    assert_int_equal(
        raw_int(fx, "SELECT count(*) FROM acme_orders WHERE pack_id = $1", fx->pack_id), 1);
    assert_int_equal(store_acme_order_get(fx->s, fx->pack_id, STORE_KEY_ECDSA, &got), STORE_OK);
    assert_string_equal(got.status, "valid");
    assert_string_equal(got.certificate_url, "https://acme.test/cert/1");
    assert_int_equal(got.key_sealed_len, sizeof key);
    store_acme_order_clear(&got);
    assert_int_equal(store_acme_order_get(fx->s, fx->pack_id, STORE_KEY_RSA, &got),
                     STORE_NOT_FOUND);
    assert_int_equal(store_acme_order_delete(fx->s, fx->pack_id), STORE_OK);
    assert_int_equal(store_acme_order_get(fx->s, fx->pack_id, STORE_KEY_ECDSA, &got),
                     STORE_NOT_FOUND);
    xfree(o.authz_urls);
}

static void add_cert(struct tu_store_fx *fx, char *id_out)
{
    struct store_acme_cert c = {.leaf_pem = "-----BEGIN CERTIFICATE-----\n", .created_on = T0};
    util_random_id(c.cert_id);
    snprintf(c.pack_id, sizeof c.pack_id, "%s", fx->pack_id);
    snprintf(c.account_id, sizeof c.account_id, "%s", fx->account_id);
    c.ca = PACK_CA_LETS_ENCRYPT;
    snprintf(c.serial, sizeof c.serial, "00ab");
    assert_int_equal(store_acme_cert_create(fx->s, &c), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", c.cert_id);
}

static void test_revocation_scheduled_once_per_unrevoked_cert(void **state)
{
    struct tu_store_fx *fx = *state;
    char a[STORE_ID_SIZE], b[STORE_ID_SIZE];
    add_cert(fx, a);
    add_cert(fx, b);
    assert_int_equal(store_acme_cert_set_revoked(fx->s, b, T0 + 1), STORE_OK);
    int n = -1;
    assert_int_equal(store_acme_certs_revoke_pack(fx->s, fx->pack_id, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        raw_int(fx, "SELECT count(*) FROM jobs WHERE kind = 'acme.revoke' AND target = $1", a), 1);
    assert_int_equal(
        raw_int(fx, "SELECT count(*) FROM jobs WHERE kind = 'acme.revoke' AND target = $1", b), 0);
    struct store_acme_cert got;
    assert_int_equal(store_acme_cert_get(fx->s, b, &got), STORE_OK);
    assert_int_equal(got.revoked_on, T0 + 1);
    assert_string_equal(got.serial, "00ab");
    assert_string_equal(got.account_id, fx->account_id);
    store_acme_cert_clear(&got);
    assert_int_equal(store_acme_cert_set_revoked(fx->s, "nope", T0), STORE_NOT_FOUND);
}

/* A zone's deletion leaves no upstream certificate of its packs unrevoked: its last step
 * schedules a revocation for each one still unrevoked (one the job did not see, stored while
 * it ran, included), and the certificate rows outlive the zone for those jobs. */
static void test_zone_deletion_schedules_revocations(void **state)
{
    struct tu_store_fx *fx = *state;
    char a[STORE_ID_SIZE], b[STORE_ID_SIZE];
    add_cert(fx, a);
    add_cert(fx, b);
    assert_int_equal(store_acme_cert_set_revoked(fx->s, b, T0 + 1), STORE_OK);
    assert_int_equal(store_zone_delete_request(fx->s, fx->zone_id, T0 + 2), STORE_OK);
    assert_int_equal(store_zone_delete_finish(fx->s, NULL, NULL, fx->zone_id, T0 + 3), STORE_OK);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM zones WHERE id = $1", fx->zone_id), 0);
    assert_int_equal(
        raw_int(fx, "SELECT next_run_at FROM jobs WHERE kind = 'acme.revoke' AND target = $1", a),
        T0 + 3);
    assert_int_equal(
        raw_int(fx, "SELECT count(*) FROM jobs WHERE kind = 'acme.revoke' AND target = $1", b), 0);
    struct store_acme_cert got;
    assert_int_equal(store_acme_cert_get(fx->s, a, &got), STORE_OK);
    assert_int_equal(got.revoked_on, 0);
    store_acme_cert_clear(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_account_create_conflict_and_url, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_order_put_replace_delete, setup, tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_revocation_scheduled_once_per_unrevoked_cert, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_zone_deletion_schedules_revocations, setup,
                                        tu_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
