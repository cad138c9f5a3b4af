/* Tests of several worker nodes on one store (worker/node.c, store_node_*): two nodes A and
 * B share one SQLite store, each with its own data dir (deploy tree) and node id. The
 * store calls (registration, liveness, deployment records, what to deploy and remove); a
 * pack waiting in pending_deployment until every live node deployed it, a dead node no
 * longer counting; a renewal visible only once deployed everywhere; the sync pass
 * catching a node up and removing a deleted pack. Real store, real deploy trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "core/pack_state.h"
#include "store/store.h"
#include "worker/node.h"
#include "worker/worker.h"
#include "testutil.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)
#define OWNER "owner"
#define MAX_ROUNDS 12

struct fixture {
    char *dir, *path; /* the store's directory (also node A's data dir) */
    char *dir_b;      /* node B's data dir */
    struct app a, b;  /* two nodes: same store, same master key, own data dirs */
    char account_id[STORE_ID_SIZE], zone_id[STORE_ID_SIZE];
};

static void become_node(struct app *app, const char *id, int64_t heartbeat_at)
{
    snprintf(app->node_id, sizeof app->node_id, "%s", id);
    assert_int_equal(store_node_register(app->store, id, id, heartbeat_at), STORE_OK);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-nodes-XXXXXX", 4, &fx->dir, &fx->path, &fx->a.store);
    fx->dir_b = xstrdup("/tmp/tlsward-test-nodes-b-XXXXXX");
    assert_non_null(mkdtemp(fx->dir_b));
    struct app *a = &fx->a;
    util_random_bytes(a->master_key, sizeof a->master_key);
    a->config.data_dir = fx->dir;
    a->config.dcv_mode = DCV_MODE_AUTO;
    a->config.worker_interval_us = 60 * SEC;
    a->config.validation_timeout_us = 3600 * SEC;
    a->config.issuance_timeout_us = 3600 * SEC;
    dcv_resolver_init(&a->config.dcv);
    tu_local_ca(a, util_now_us() - 365 * DAY);
    a->rsa_keys = key_pool_create(PKI_KEY_RSA_2048, 2);
    fx->b = fx->a;
    fx->b.config.data_dir = fx->dir_b;
    tu_add_account(a->store, "nodes@example.com", "nodes", fx->account_id);
    tu_add_zone(a->store, fx->account_id, "example.com", fx->zone_id);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    key_pool_destroy(fx->a.rsa_keys);
    local_ca_destroy(fx->a.local_ca);
    store_close(fx->a.store);
    tu_remove_tree(fx->dir);
    tu_remove_tree(fx->dir_b);
    xfree(fx->path);
    xfree(fx->dir);
    xfree(fx->dir_b);
    xfree(fx);
    return 0;
}

/* ---- helpers ---- */

static void add_pack(struct fixture *fx, const char *status, char *id_out)
{
    int64_t now = util_now_us();
    struct store_pack p = {
        .validity_days = 90, .status_since = now, .created_on = now, .modified_on = now};
    util_random_id(p.id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", fx->zone_id);
    p.type = STORE_PACK_ADVANCED;
    assert_int_equal(pack_status_parse(status, &p.status), 0);
    p.certificate_authority = PACK_CA_LETS_ENCRYPT;
    p.validation_method = PACK_METHOD_TXT;
    tu_pack_set(&p, TU_HOSTS, "[\"example.com\",\"*.example.com\"]");
    assert_int_equal(store_pack_create(fx->a.store, &p), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

static void get_pack(struct fixture *fx, const char *id, struct store_pack *p)
{
    assert_int_equal(store_pack_get(fx->a.store, fx->zone_id, id, p), STORE_OK);
}

/* Runs node A's due jobs until the pack is in status (or MAX_ROUNDS pass). */
static void run_until(struct fixture *fx, const char *id, const char *status)
{
    for (int i = 0; i < MAX_ROUNDS; i++) {
        struct store_pack p;
        get_pack(fx, id, &p);
        bool there = strcmp(pack_status_name(p.status), status) == 0;
        store_pack_clear(&p);
        if (there)
            return;
        worker_run_due(&fx->a, OWNER);
    }
    fail_msg("pack %s did not reach %s", id, status);
}

/* The deployed ecdsa.crt of the pack in a node's data dir, or NULL. */
static char *deployed(const char *data_dir, const char *zone_id, const char *id)
{
    char *path = xasprintf("%s/deploy/%s/%s/ecdsa.crt", data_dir, zone_id, id), *text = NULL;
    size_t len = 0;
    if (fsutil_read_file(path, 1 << 20, &text, &len) != 0)
        text = NULL;
    xfree(path);
    return text;
}

static int64_t job_due(struct fixture *fx, const char *id)
{
    int64_t next = 0;
    struct store_job_filter f = {.kinds = (const char *const[]){STORE_PACK_JOB}, .nkinds = 1};
    (void)id; /* the only pack job in these tests */
    assert_int_equal(store_job_next_due_filtered(fx->a.store, &f, &next), STORE_OK);
    return next;
}

static void set_status(struct fixture *fx, const char *id, const char *status)
{
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_int_equal(pack_status_parse(status, &p.status), 0);
    assert_int_equal(store_pack_update(fx->a.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    store_pack_clear(&p);
}

/* ---- the store calls ---- */

static void test_store_calls(void **state)
{
    struct fixture *fx = *state;
    struct store *s = fx->a.store;
    int64_t now = util_now_us();
    char a[STORE_ID_SIZE], b[STORE_ID_SIZE], pack[STORE_ID_SIZE];
    util_random_id(a);
    util_random_id(b);
    assert_int_equal(store_node_heartbeat(s, a, now), STORE_NOT_FOUND);
    assert_int_equal(store_node_register(s, a, "a", now), STORE_OK);
    assert_int_equal(store_node_register(s, b, "b", now - 100 * SEC), STORE_OK);
    assert_int_equal(store_node_register(s, a, "a2", now), STORE_OK); /* a restart */
    int n = -1;
    assert_int_equal(store_node_live_count(s, now - 60 * SEC, &n), STORE_OK);
    assert_int_equal(n, 1); /* b's heartbeat is too old */
    assert_int_equal(store_node_heartbeat(s, b, now), STORE_OK);
    assert_int_equal(store_node_live_count(s, now - 60 * SEC, &n), STORE_OK);
    assert_int_equal(n, 2);

    add_pack(fx, "pending_deployment", pack);
    int gen = -1;
    assert_int_equal(store_node_deployment_get(s, a, pack, &gen), STORE_NOT_FOUND);
    assert_int_equal(store_node_missing(s, pack, 1, now - 60 * SEC, NULL, &n), STORE_OK);
    assert_int_equal(n, 2);
    struct store_node_deployment d = {.kind = STORE_NODE_KIND_PACK, .generation = 1};
    snprintf(d.object_id, sizeof d.object_id, "%s", pack);
    snprintf(d.zone_id, sizeof d.zone_id, "%s", fx->zone_id);
    assert_int_equal(store_node_deployment_put(s, a, &d, false, now), STORE_OK);
    assert_int_equal(store_node_deployment_get(s, a, pack, &gen), STORE_OK);
    assert_int_equal(gen, 1);
    assert_int_equal(store_node_missing(s, pack, 1, now - 60 * SEC, NULL, &n), STORE_OK);
    assert_int_equal(n, 1); /* b */
    assert_int_equal(store_node_missing(s, pack, 1, now - 60 * SEC, b, &n), STORE_OK);
    assert_int_equal(n, 0); /* b left out */
    assert_int_equal(store_node_missing(s, pack, 2, now - 60 * SEC, NULL, &n), STORE_OK);
    assert_int_equal(n, 2); /* nobody has generation 2 */
    assert_int_equal(store_node_missing(s, pack, 1, now + SEC, NULL, &n), STORE_OK);
    assert_int_equal(n, 0); /* no node live at all */

    /* Recording with wake_pack makes the pack's job due now. */
    int64_t next = 0;
    struct store_job_filter f = {.kinds = (const char *const[]){STORE_PACK_JOB}, .nkinds = 1};
    assert_int_equal(store_node_deployment_put(s, b, &d, true, now + 5 * SEC), STORE_OK);
    assert_int_equal(store_job_next_due_filtered(s, &f, &next), STORE_OK);
    assert_true(next > 0 && next <= now + 5 * SEC);
    assert_int_equal(store_node_missing(s, pack, 1, now - 60 * SEC, NULL, &n), STORE_OK);
    assert_int_equal(n, 0);

    assert_int_equal(store_node_deployment_delete(s, b, pack), STORE_OK);
    assert_int_equal(store_node_deployment_get(s, b, pack, &gen), STORE_NOT_FOUND);
    assert_int_equal(store_node_deployment_delete(s, b, pack), STORE_OK); /* nothing: fine */

    /* What to deploy: packs with certificates only; what is recorded is left out. */
    struct store_node_deployment *list = NULL;
    assert_int_equal(store_node_todo(s, b, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 0); /* the pack has no certificates yet */
    xfree(list);
    struct store_pack_cert rows[2];
    struct local_ca_pair pair;
    static const char *const hosts[] = {"example.com", "*.example.com"};
    tu_issue_rows(&fx->a, pack, hosts, 2, 1, now, rows, &pair);
    local_ca_pair_clear(&pair);
    struct store_pack p;
    get_pack(fx, pack, &p);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(s, &p, rows, 2, NULL, NULL, 0, now), STORE_OK);
    store_pack_clear(&p);
    assert_int_equal(store_node_todo(s, b, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].object_id, pack);
    assert_string_equal(list[0].kind, STORE_NODE_KIND_PACK);
    assert_string_equal(list[0].zone_id, fx->zone_id);
    assert_int_equal(list[0].generation, 1);
    xfree(list);
    assert_int_equal(store_node_todo(s, a, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 0); /* a has generation 1 */
    xfree(list);

    /* What to remove: nothing while the pack lives; then the deleted pack. */
    assert_int_equal(store_node_stale(s, a, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    xfree(list);
    set_status(fx, pack, "deleted");
    assert_int_equal(store_node_stale(s, a, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].object_id, pack);
    xfree(list);
    assert_int_equal(store_node_todo(s, b, 10, &list, &n), STORE_OK);
    assert_int_equal(n, 0); /* a deleted pack is deployed nowhere */
    xfree(list);
    store_pack_cert_clear(&rows[0]);
    store_pack_cert_clear(&rows[1]);
}

/* ---- activation waits for every live node ---- */

static void test_active_once_every_live_node_deployed(void **state)
{
    struct fixture *fx = *state;
    int64_t now = util_now_us();
    become_node(&fx->a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now);
    become_node(&fx->b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", now);
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    run_until(fx, id, "pending_deployment");

    /* A deploys, B has not: the pack waits, and is looked at again within a heartbeat. */
    assert_int_equal(worker_run_due(&fx->a, OWNER), 1);
    struct store_pack p;
    get_pack(fx, id, &p);
    assert_string_equal(pack_status_name(p.status), "pending_deployment");
    store_pack_clear(&p);
    char *on_a = deployed(fx->dir, fx->zone_id, id), *on_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_non_null(on_a);
    assert_null(on_b);
    int64_t due = job_due(fx, id);
    assert_true(due > now && due <= util_now_us() + node_recheck_us(&fx->a));
    assert_int_equal(worker_run_due(&fx->a, OWNER), 0); /* nothing due until then */

    /* B's sync pass deploys the same certificate and makes the job due at once. */
    assert_int_equal(node_sync(&fx->b), 1);
    on_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_non_null(on_b);
    assert_string_equal(on_a, on_b);
    assert_true(job_due(fx, id) <= util_now_us());
    assert_int_equal(node_sync(&fx->b), 0); /* nothing more to do */
    assert_int_equal(worker_run_due(&fx->a, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(pack_status_name(p.status), "active");
    store_pack_clear(&p);
    xfree(on_a);
    xfree(on_b);

    /* Deleted: each node removes its own copy (A by the pack's job, B by its sync). */
    set_status(fx, id, "pending_deletion");
    assert_int_equal(store_job_schedule(fx->a.store, STORE_PACK_JOB, id, util_now_us()), STORE_OK);
    run_until(fx, id, "deleted");
    assert_null(deployed(fx->dir, fx->zone_id, id));
    assert_non_null(on_b = deployed(fx->dir_b, fx->zone_id, id));
    xfree(on_b);
    assert_int_equal(node_sync(&fx->b), 1);
    assert_null(deployed(fx->dir_b, fx->zone_id, id));
    int gen;
    assert_int_equal(store_node_deployment_get(fx->a.store, fx->b.node_id, id, &gen),
                     STORE_NOT_FOUND);
}

static void test_dead_node_does_not_count(void **state)
{
    struct fixture *fx = *state;
    int64_t now = util_now_us();
    become_node(&fx->a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now);
    /* B's last heartbeat is older than the liveness window: it no longer counts. */
    become_node(&fx->b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", now - NODE_LIVENESS_DEFAULT_US - SEC);
    char id[STORE_ID_SIZE];
    add_pack(fx, "initializing", id);
    run_until(fx, id, "active");
    assert_null(deployed(fx->dir_b, fx->zone_id, id));
    /* Back alive (a heartbeat), it catches up by itself. */
    assert_int_equal(store_node_heartbeat(fx->a.store, fx->b.node_id, util_now_us()), STORE_OK);
    assert_int_equal(node_sync(&fx->b), 1);
    char *on_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_non_null(on_b);
    xfree(on_b);
}

/* ---- a renewal counts once deployed everywhere ---- */

static void test_renewal_waits_for_every_live_node(void **state)
{
    struct fixture *fx = *state;
    int64_t now = util_now_us();
    become_node(&fx->a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now);
    become_node(&fx->b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", now);
    char id[STORE_ID_SIZE];
    add_pack(fx, "active", id);
    /* Generation 1, 80 days old (inside the renewal window), deployed on both nodes. */
    struct store_pack_cert old[2];
    struct local_ca_pair pair;
    static const char *const hosts[] = {"example.com", "*.example.com"};
    tu_issue_rows(&fx->a, id, hosts, 2, 1, now - 80 * DAY, old, &pair);
    local_ca_pair_clear(&pair);
    struct store_pack p;
    get_pack(fx, id, &p);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->a.store, &p, old, 2, NULL, NULL, now, now),
                     STORE_OK);
    store_pack_clear(&p);
    assert_int_equal(node_sync(&fx->a), 1);
    assert_int_equal(node_sync(&fx->b), 1);
    char *old_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_string_equal(old_b, old[0].chain_pem);

    /* A renews: generation 2 is stored and deployed on A, but the pack still shows 1. */
    assert_int_equal(worker_run_due(&fx->a, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(pack_status_name(p.status), "active");
    assert_int_equal(p.cert_generation, 1);
    store_pack_clear(&p);
    struct store_pack_cert *next = NULL;
    int n = 0;
    assert_int_equal(store_pack_certs(fx->a.store, id, 2, &next, &n), STORE_OK);
    assert_int_equal(n, 2);
    char *on_a = deployed(fx->dir, fx->zone_id, id), *on_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_string_equal(on_a, next[0].chain_pem);
    assert_string_equal(on_b, old[0].chain_pem); /* B still serves the old set */
    xfree(on_a);
    xfree(on_b);
    assert_int_equal(worker_run_due(&fx->a, OWNER), 0); /* waits; no second renewal */

    /* B swaps the new set in; the next run shows generation 2 and drops generation 1. */
    assert_int_equal(node_sync(&fx->b), 1);
    on_b = deployed(fx->dir_b, fx->zone_id, id);
    assert_string_equal(on_b, next[0].chain_pem);
    xfree(on_b);
    assert_int_equal(worker_run_due(&fx->a, OWNER), 1);
    get_pack(fx, id, &p);
    assert_string_equal(pack_status_name(p.status), "active");
    assert_int_equal(p.cert_generation, 2);
    assert_int_equal(p.renewal_failures, 0);
    store_pack_clear(&p);
    struct store_pack_cert *gone = NULL;
    assert_int_equal(store_pack_certs(fx->a.store, id, 1, &gone, &n), STORE_OK);
    assert_int_equal(n, 0);
    xfree(gone);
    store_pack_cert_list_free(next, 2);
    xfree(old_b);
    store_pack_cert_clear(&old[0]);
    store_pack_cert_clear(&old[1]);
}

/* One node alone renews in one run, as before there were nodes. */
static void test_single_node_renews_at_once(void **state)
{
    struct fixture *fx = *state;
    int64_t now = util_now_us();
    become_node(&fx->a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now);
    char id[STORE_ID_SIZE];
    add_pack(fx, "active", id);
    struct store_pack_cert old[2];
    struct local_ca_pair pair;
    static const char *const hosts[] = {"example.com", "*.example.com"};
    tu_issue_rows(&fx->a, id, hosts, 2, 1, now - 80 * DAY, old, &pair);
    local_ca_pair_clear(&pair);
    struct store_pack p;
    get_pack(fx, id, &p);
    p.cert_generation = 1;
    assert_int_equal(store_pack_update_with_certs(fx->a.store, &p, old, 2, NULL, NULL, now, now),
                     STORE_OK);
    store_pack_clear(&p);
    assert_int_equal(worker_run_due(&fx->a, OWNER), 1);
    get_pack(fx, id, &p);
    assert_int_equal(p.cert_generation, 2);
    store_pack_clear(&p);
    int gen = 0;
    assert_int_equal(store_node_deployment_get(fx->a.store, fx->a.node_id, id, &gen), STORE_OK);
    assert_int_equal(gen, 2);
    assert_int_equal(node_sync(&fx->a), 0); /* the job recorded what it deployed */
    store_pack_cert_clear(&old[0]);
    store_pack_cert_clear(&old[1]);
}

static void test_node_id_file(void **state)
{
    struct fixture *fx = *state;
    char first[STORE_ID_SIZE], again[STORE_ID_SIZE];
    assert_int_equal(node_id_load(fx->dir_b, first), 0);
    assert_true(util_is_id(first));
    assert_int_equal(node_id_load(fx->dir_b, again), 0);
    assert_string_equal(first, again);
    char *path = xasprintf("%s/node.id", fx->dir_b);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(unlink(path), 0); /* a wiped data dir is a new node */
    assert_int_equal(node_id_load(fx->dir_b, again), 0);
    assert_string_not_equal(first, again);
    assert_int_equal(fsutil_write_atomic(path, "not an id\n", 10, 0600, 0), 0);
    assert_int_equal(node_id_load(fx->dir_b, again), -1);
    xfree(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active_once_every_live_node_deployed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_node_does_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_waits_for_every_live_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_node_renews_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_id_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
