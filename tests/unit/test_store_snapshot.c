/* Unit tests of read snapshots (store_snapshot_begin/end, store/store.c) on either backend:
 * the pinned connection serves every call of the thread (a pool of one does not deadlock
 * and is free again afterwards), a commit by another connection is not seen until the
 * snapshot ends (the pack/certificates race: a renewal's swap and prune between reading
 * the pack and reading its certificates), lists run inside it, and writes are refused. */
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

#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL
#define T0 (1700000000LL * SEC)

/* Makes the pack's certificates generation `gen` visible (and prunes older ones), as a
 * renewal does, in one transaction. */
static void swap_generation(struct store *s, const char *pack_id, int gen)
{
    struct store_pack p;
    assert_int_equal(store_pack_by_id(s, pack_id, &p), STORE_OK);
    struct store_pack_cert certs[2];
    tu_pack_cert(&certs[0], pack_id, gen, 1, T0 + (90LL * 86400 + gen) * SEC);
    tu_pack_cert(&certs[1], pack_id, gen, 2, T0 + (90LL * 86400 + gen) * SEC);
    p.cert_generation = gen;
    assert_int_equal(store_pack_update_with_certs(s, &p, certs, 2, NULL, NULL, 0, T0 + gen),
                     STORE_OK);
    store_pack_cert_clear(&certs[0]);
    store_pack_cert_clear(&certs[1]);
    store_pack_clear(&p);
}

static int setup(void **state)
{
    tu_store_fx_setup(state, "/tmp/tlsward-test-snapshot-XXXXXX", 2, true);
    struct tu_store_fx *fx = *state;
    tu_add_pack(fx->s, fx->zone_id, "active", T0, fx->pack_id);
    swap_generation(fx->s, fx->pack_id, 1);
    return 0;
}

/* With a pool of one connection, calls inside a snapshot would wait forever for a
 * connection if they did not run on the pinned one; after the end it is free again. */
static void test_pinned_connection_serves_every_call(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store *one;
    assert_int_equal(store_open(fx->path, STORE_OPEN_EXISTING, 1, &one), STORE_OK);
    assert_int_equal(store_snapshot_begin(one), STORE_OK);
    struct store_zone z;
    struct store_pack p;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_zone_get(one, fx->zone_id, &z), STORE_OK);
        assert_int_equal(store_pack_get(one, fx->zone_id, fx->pack_id, &p), STORE_OK);
        store_pack_clear(&p);
    }
    /* A list pages in its own read transaction outside a snapshot, in the snapshot's here. */
    struct store_pack_filter f = {.zone_id = fx->zone_id, .active_only = true, .limit = 10};
    struct store_pack *list = NULL;
    int count = 0, total = 0;
    assert_int_equal(store_pack_list(one, &f, &list, &count, &total), STORE_OK);
    assert_int_equal(count, 1);
    assert_int_equal(total, 1);
    store_pack_list_free(list, count);
    /* One snapshot per thread. */
    assert_int_equal(store_snapshot_begin(one), STORE_ERROR);
    store_snapshot_end(one);
    assert_int_equal(store_zone_get(one, fx->zone_id, &z), STORE_OK);
    assert_int_equal(store_snapshot_begin(one), STORE_OK);
    store_snapshot_end(one);
    store_snapshot_end(one); /* without a snapshot: nothing */
    assert_int_equal(store_schema_version(one) > 0, true);
    store_close(one);
}

struct renewal {
    struct store *s;
    const char *pack_id;
    int gen;
};

static void *renew(void *arg)
{
    struct renewal *r = arg;
    swap_generation(r->s, r->pack_id, r->gen);
    return NULL;
}

/* The race GET pack had: the pack row read, then a renewal commits generation 2 and
 * prunes generation 1, then the certificates of generation 1 are read. In a snapshot the
 * second read still sees generation 1 whole; after it, the new state. */
static void test_commit_between_reads_is_not_seen(void **state)
{
    struct tu_store_fx *fx = *state;
    assert_int_equal(store_snapshot_begin(fx->s), STORE_OK);
    struct store_pack p;
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, fx->pack_id, &p), STORE_OK);
    assert_int_equal(p.cert_generation, 1);

    pthread_t t;
    struct renewal r = {fx->s, fx->pack_id, 2};
    assert_int_equal(pthread_create(&t, NULL, renew, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0); /* committed on the other connection */

    struct store_pack_cert *certs = NULL;
    int count = 0;
    assert_int_equal(store_pack_certs(fx->s, fx->pack_id, p.cert_generation, &certs, &count),
                     STORE_OK);
    assert_int_equal(count, 2);
    assert_int_equal(certs[0].generation, 1);
    store_pack_cert_list_free(certs, count);
    struct store_pack again;
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, fx->pack_id, &again), STORE_OK);
    assert_int_equal(again.cert_generation, 1);
    assert_int_equal(again.version, p.version);
    store_pack_clear(&again);
    store_snapshot_end(fx->s);

    /* Outside: generation 2 only, generation 1 pruned. */
    assert_int_equal(store_pack_get(fx->s, fx->zone_id, fx->pack_id, &again), STORE_OK);
    assert_int_equal(again.cert_generation, 2);
    assert_true(again.version > p.version);
    store_pack_clear(&again);
    assert_int_equal(store_pack_certs(fx->s, fx->pack_id, 1, &certs, &count), STORE_OK);
    assert_int_equal(count, 0);
    store_pack_cert_list_free(certs, count);
    store_pack_clear(&p);
}

/* A write inside a snapshot (a read-only request that writes) is refused and changes
 * nothing, whether it runs on the connection or goes through group commit. */
static void test_writes_refused_inside(void **state)
{
    struct tu_store_fx *fx = *state;
    struct store_token tok = {.permissions = 1, .created_on = T0};
    util_random_id(tok.id);
    snprintf(tok.account_id, sizeof tok.account_id, "%s", fx->account_id);
    util_random_bytes(tok.hash, sizeof tok.hash);
    assert_int_equal(store_token_create(fx->s, &tok), STORE_OK);

    assert_int_equal(store_snapshot_begin(fx->s), STORE_OK);
    assert_int_equal(store_token_revoke(fx->s, tok.id, T0 + 1), STORE_ERROR);
    struct store_zone z = {.universal_ssl = true, .created_on = T0, .modified_on = T0};
    util_random_id(z.id);
    snprintf(z.account_id, sizeof z.account_id, "%s", fx->account_id);
    snprintf(z.name, sizeof z.name, "other.example");
    assert_int_equal(STORE_ENUM_PARSE("full", &z.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &z.status), 0);
    assert_int_equal(store_zone_create(fx->s, &z), STORE_ERROR);
    assert_int_equal(store_job_schedule(fx->s, STORE_PACK_JOB, fx->pack_id, T0), STORE_ERROR);
    store_snapshot_end(fx->s);

    struct store_token got;
    assert_int_equal(store_token_get(fx->s, tok.id, &got), STORE_OK);
    assert_int_equal(got.revoked_on, 0);
    struct store_zone gz;
    assert_int_equal(store_zone_get(fx->s, z.id, &gz), STORE_NOT_FOUND);
    /* After the snapshot, writes work again. */
    assert_int_equal(store_token_revoke(fx->s, tok.id, T0 + 1), STORE_OK);
    assert_int_equal(store_zone_create(fx->s, &z), STORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pinned_connection_serves_every_call, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_commit_between_reads_is_not_seen, setup,
                                        tu_store_fx_teardown),
        cmocka_unit_test_setup_teardown(test_writes_refused_inside, setup, tu_store_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
