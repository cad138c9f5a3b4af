/* Unit tests of Authenticated Origin Pulls: the SQLite store half (store/store_aop.c:
 * certificates with their per-kind limit, listing without deleted rows, the DELETE request
 * and the worker's completions with their jobs, hostname associations, the zone setting)
 * and the worker's job (worker/aop_jobs.c) writing and removing the deploy files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "store/store.h"
#include "worker/aop_jobs.h"
#include "worker/worker.h"
#include "testutil.h"

#define SEC 1000000LL
#define LEASE (60 * SEC)

struct fixture {
    char *dir;
    struct app app;
    char zone_id[STORE_ID_SIZE], zone2_id[STORE_ID_SIZE];
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    char *path;
    tu_temp_store("/tmp/tlsward-test-aop-XXXXXX", 4, &fx->dir, &path, &fx->app.store);
    xfree(path);
    util_random_bytes(fx->app.master_key, sizeof fx->app.master_key);
    fx->app.config.data_dir = fx->dir;
    int64_t now = util_now_us();
    struct store_user u = {.created_on = now};
    util_random_id(u.id);
    snprintf(u.email, sizeof u.email, "owner@example.com");
    assert_int_equal(store_user_create(fx->app.store, &u), STORE_OK);
    struct store_account a = {.created_on = now};
    util_random_id(a.id);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", u.id);
    snprintf(a.name, sizeof a.name, "account");
    assert_int_equal(store_account_create(fx->app.store, &a), STORE_OK);
    tu_add_zone(fx->app.store, a.id, "aop.example", fx->zone_id);
    tu_add_zone(fx->app.store, a.id, "other.example", fx->zone2_id);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->app.store);
    char *cmd = xasprintf("rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    xfree(cmd);
    xfree(fx->dir);
    xfree(fx);
    return 0;
}

/* A record of `kind` in zone_id with a real sealed key (what the API stores). */
static void make_cert(struct fixture *fx, const char *zone_id, const char *kind,
                      struct store_aop_cert *c)
{
    memset(c, 0, sizeof *c);
    util_random_id(c->id);
    snprintf(c->zone_id, sizeof c->zone_id, "%s", zone_id);
    assert_int_equal(STORE_ENUM_PARSE(kind, &c->kind), 0);
    assert_int_equal(STORE_ENUM_PARSE("initializing", &c->status), 0);
    snprintf(c->issuer, sizeof c->issuer, "Test CA");
    snprintf(c->serial, sizeof c->serial, "0a1b");
    snprintf(c->signature, sizeof c->signature, "ECDSAWithSHA256");
    c->certificate = xstrdup("-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n");
    char aad[64];
    snprintf(aad, sizeof aad, AOP_KEY_AAD_FMT, c->id);
    static const char key[] = "-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n";
    assert_int_equal(
        seal_encrypt(fx->app.master_key, key, strlen(key), aad, &c->key_sealed, &c->key_sealed_len),
        0);
    c->expires_on = util_now_us() + 86400 * SEC;
    c->uploaded_on = c->updated_on = util_now_us();
}

static void status_is(struct fixture *fx, const char *id, const char *want)
{
    struct store_aop_cert c;
    assert_int_equal(store_aop_cert_get(fx->app.store, NULL, STORE_AOP_KIND_INVALID, id, &c),
                     STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(c.status), want);
    store_aop_cert_clear(&c);
}

static void test_create_get_list(void **state)
{
    struct fixture *fx = *state;
    struct store_aop_cert a, b, got;
    make_cert(fx, fx->zone_id, "zone", &a);
    make_cert(fx, fx->zone_id, "hostname", &b);
    assert_int_equal(store_aop_cert_create(fx->app.store, &a, 0), STORE_OK);
    assert_int_equal(store_aop_cert_create(fx->app.store, &b, 10), STORE_OK);
    assert_int_equal(store_aop_cert_get(fx->app.store, fx->zone_id, STORE_AOP_ZONE, a.id, &got),
                     STORE_OK);
    assert_string_equal(got.certificate, a.certificate);
    assert_int_equal(got.key_sealed_len, a.key_sealed_len);
    assert_memory_equal(got.key_sealed, a.key_sealed, a.key_sealed_len);
    assert_string_equal(STORE_ENUM_NAME(got.status), "initializing");
    assert_int_equal(got.expires_on, a.expires_on);
    store_aop_cert_clear(&got);
    /* The kind and the zone are part of the key. */
    assert_int_equal(store_aop_cert_get(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME, a.id, &got),
                     STORE_NOT_FOUND);
    assert_int_equal(store_aop_cert_get(fx->app.store, fx->zone2_id, STORE_AOP_ZONE, a.id, &got),
                     STORE_NOT_FOUND);
    struct store_aop_cert *list;
    int n;
    assert_int_equal(store_aop_cert_list(fx->app.store, fx->zone_id, STORE_AOP_ZONE, &list, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, a.id);
    store_aop_cert_list_free(list, n);
    assert_int_equal(store_aop_cert_list(fx->app.store, fx->zone2_id, STORE_AOP_ZONE, &list, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    store_aop_cert_list_free(list, n);
    /* Each creation scheduled its job. */
    struct store_job jobs[4];
    int count = 0;
    assert_int_equal(store_job_claim(fx->app.store, "t", util_now_us() + SEC, LEASE, jobs, 4, &count),
                     STORE_OK);
    assert_int_equal(count, 2);
    assert_string_equal(jobs[0].kind, STORE_AOP_JOB);
    store_aop_cert_clear(&a);
    store_aop_cert_clear(&b);
}

static void test_hostname_limit(void **state)
{
    struct fixture *fx = *state;
    char first[STORE_ID_SIZE];
    for (int i = 0; i < STORE_AOP_HOSTNAME_CERTS_MAX; i++) {
        struct store_aop_cert c;
        make_cert(fx, fx->zone_id, "hostname", &c);
        if (i == 0)
            memcpy(first, c.id, sizeof first);
        assert_int_equal(store_aop_cert_create(fx->app.store, &c, STORE_AOP_HOSTNAME_CERTS_MAX),
                         STORE_OK);
        store_aop_cert_clear(&c);
    }
    struct store_aop_cert c, out;
    make_cert(fx, fx->zone_id, "hostname", &c);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c, STORE_AOP_HOSTNAME_CERTS_MAX),
                     STORE_QUOTA);
    assert_int_equal(store_aop_cert_get(fx->app.store, NULL, STORE_AOP_KIND_INVALID, c.id, &out),
                     STORE_NOT_FOUND);
    /* Other zones and other kinds are not counted; a deletion frees a place. */
    struct store_aop_cert z;
    make_cert(fx, fx->zone_id, "zone", &z);
    assert_int_equal(store_aop_cert_create(fx->app.store, &z, 0), STORE_OK);
    store_aop_cert_clear(&z);
    assert_int_equal(store_aop_cert_delete_request(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME,
                                                   first, util_now_us(), &out),
                     STORE_OK);
    store_aop_cert_clear(&out);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c, STORE_AOP_HOSTNAME_CERTS_MAX),
                     STORE_OK);
    store_aop_cert_clear(&c);
}

/* Claims the one due job and checks it targets id. */
static struct store_job claim(struct fixture *fx, const char *id)
{
    struct store_job job;
    int count = 0;
    assert_int_equal(
        store_job_claim(fx->app.store, "t", util_now_us() + SEC, LEASE, &job, 1, &count),
        STORE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(job.target, id);
    return job;
}

static void test_transitions(void **state)
{
    struct fixture *fx = *state;
    struct store_aop_cert c, out;
    make_cert(fx, fx->zone_id, "hostname", &c);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c, 10), STORE_OK);
    struct store_job job = claim(fx, c.id);
    int64_t now = util_now_us();
    assert_int_equal(store_aop_cert_advance(fx->app.store, &job, "t", STORE_AOP_ACTIVE,
                                            STORE_AOP_DELETED, 0, now),
                     STORE_CONFLICT);
    assert_int_equal(store_aop_cert_advance(fx->app.store, &job, "t", STORE_AOP_INITIALIZING,
                                            STORE_AOP_PENDING_DEPLOYMENT, now, now),
                     STORE_OK);
    status_is(fx, c.id, "pending_deployment");
    job = claim(fx, c.id); /* rescheduled, due now */
    assert_int_equal(store_aop_cert_advance(fx->app.store, &job, "t", STORE_AOP_PENDING_DEPLOYMENT,
                                            STORE_AOP_ACTIVE, 0, now),
                     STORE_OK);
    status_is(fx, c.id, "active");
    int count = 1;
    assert_int_equal(store_job_claim(fx->app.store, "t", now + SEC, LEASE, &job, 1, &count),
                     STORE_OK);
    assert_int_equal(count, 0);

    /* An association to it goes away with the certificate. */
    struct store_aop_hostname h = {.enabled = 1};
    snprintf(h.hostname, sizeof h.hostname, "www.aop.example");
    memcpy(h.cert_id, c.id, sizeof h.cert_id);
    assert_int_equal(store_aop_hostnames_put(fx->app.store, fx->zone_id, &h, 1, now), STORE_OK);

    assert_int_equal(store_aop_cert_delete_request(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME,
                                                   c.id, now, &out),
                     STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(out.status), "pending_deletion");
    store_aop_cert_clear(&out);
    assert_int_equal(store_aop_cert_delete_request(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME,
                                                   c.id, now, &out),
                     STORE_CONFLICT);
    assert_string_equal(STORE_ENUM_NAME(out.status), "pending_deletion");
    store_aop_cert_clear(&out);
    job = claim(fx, c.id);
    assert_int_equal(store_aop_cert_advance(fx->app.store, &job, "t", STORE_AOP_PENDING_DELETION,
                                            STORE_AOP_DELETED, 0, now),
                     STORE_OK);
    status_is(fx, c.id, "deleted");
    struct store_aop_hostname got;
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone_id, h.hostname, &got),
                     STORE_NOT_FOUND);
    assert_int_equal(store_aop_cert_delete_request(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME,
                                                   c.id, now, &out),
                     STORE_CONFLICT);
    assert_string_equal(STORE_ENUM_NAME(out.status), "deleted");
    store_aop_cert_clear(&out);
    assert_int_equal(
        store_aop_cert_delete_request(fx->app.store, fx->zone_id, STORE_AOP_ZONE, c.id, now, &out),
        STORE_NOT_FOUND);
    /* Deleted certificates stay readable but leave the list. */
    struct store_aop_cert *list;
    int n;
    assert_int_equal(store_aop_cert_list(fx->app.store, fx->zone_id, STORE_AOP_HOSTNAME, &list, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    store_aop_cert_list_free(list, n);
    store_aop_cert_clear(&c);
}

static void test_associations(void **state)
{
    struct fixture *fx = *state;
    struct store_aop_cert c1, c2;
    make_cert(fx, fx->zone_id, "hostname", &c1);
    make_cert(fx, fx->zone_id, "hostname", &c2);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c1, 10), STORE_OK);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c2, 10), STORE_OK);
    struct store_aop_hostname ch[2] = {{.enabled = 1}, {.enabled = 0}}, got;
    snprintf(ch[0].hostname, sizeof ch[0].hostname, "a.aop.example");
    snprintf(ch[1].hostname, sizeof ch[1].hostname, "b.aop.example");
    memcpy(ch[0].cert_id, c1.id, STORE_ID_SIZE);
    memcpy(ch[1].cert_id, c1.id, STORE_ID_SIZE);
    int64_t t1 = util_now_us();
    assert_int_equal(store_aop_hostnames_put(fx->app.store, fx->zone_id, ch, 2, t1), STORE_OK);
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone_id, "a.aop.example", &got),
                     STORE_OK);
    assert_int_equal(got.enabled, 1);
    assert_string_equal(got.cert_id, c1.id);
    assert_int_equal(got.created_at, t1);
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone_id, "b.aop.example", &got),
                     STORE_OK);
    assert_int_equal(got.enabled, 0);
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone2_id, "a.aop.example", &got),
                     STORE_NOT_FOUND);
    /* Update: another certificate, disabled; created_at stays. Then remove b. */
    ch[0].enabled = 0;
    memcpy(ch[0].cert_id, c2.id, STORE_ID_SIZE);
    ch[1].enabled = -1;
    assert_int_equal(store_aop_hostnames_put(fx->app.store, fx->zone_id, ch, 2, t1 + SEC),
                     STORE_OK);
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone_id, "a.aop.example", &got),
                     STORE_OK);
    assert_int_equal(got.enabled, 0);
    assert_string_equal(got.cert_id, c2.id);
    assert_int_equal(got.created_at, t1);
    assert_int_equal(got.updated_at, t1 + SEC);
    assert_int_equal(store_aop_hostname_get(fx->app.store, fx->zone_id, "b.aop.example", &got),
                     STORE_NOT_FOUND);
    store_aop_cert_clear(&c1);
    store_aop_cert_clear(&c2);
}

static void test_settings(void **state)
{
    struct fixture *fx = *state;
    bool on = true;
    assert_int_equal(store_aop_settings_get(fx->app.store, fx->zone_id, &on), STORE_OK);
    assert_false(on);
    assert_int_equal(store_aop_settings_set(fx->app.store, fx->zone_id, true), STORE_OK);
    assert_int_equal(store_aop_settings_set(fx->app.store, fx->zone_id, true), STORE_OK);
    assert_int_equal(store_aop_settings_get(fx->app.store, fx->zone_id, &on), STORE_OK);
    assert_true(on);
    assert_int_equal(store_aop_settings_get(fx->app.store, fx->zone2_id, &on), STORE_OK);
    assert_false(on);
    assert_int_equal(store_aop_settings_set(fx->app.store, "0123456789abcdef0123456789abcdef",
                                            true),
                     STORE_NOT_FOUND);
}

static void run_all(struct fixture *fx)
{
    for (int i = 0; i < 10 && worker_run_due(&fx->app, "test-worker") > 0; i++)
        ;
}

static void file_mode_is(const char *path, mode_t mode)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, mode);
}

static void test_worker_deploys_and_removes(void **state)
{
    struct fixture *fx = *state;
    const char *kinds[] = {"zone", "hostname"};
    for (int k = 0; k < 2; k++) {
        struct store_aop_cert c, out;
        make_cert(fx, fx->zone_id, kinds[k], &c);
        assert_int_equal(store_aop_cert_create(fx->app.store, &c, 0), STORE_OK);
        run_all(fx);
        status_is(fx, c.id, "active");
        char *key = aop_deploy_path(fx->dir, fx->zone_id, c.kind, c.id, "key");
        char *crt = aop_deploy_path(fx->dir, fx->zone_id, c.kind, c.id, "crt");
        char *want = xasprintf("%s/deploy/%s/origin-pull/%s/%s.crt", fx->dir, fx->zone_id,
                               k == 0 ? "zone" : "hostnames", c.id);
        assert_string_equal(crt, want);
        xfree(want);
        file_mode_is(key, 0600);
        file_mode_is(crt, 0644);
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(fsutil_read_file(crt, 65536, &text, &len), 0);
        assert_string_equal(text, c.certificate);
        xfree(text);
        assert_int_equal(fsutil_read_file(key, 65536, &text, &len), 0);
        assert_non_null(strstr(text, "BEGIN PRIVATE KEY"));
        xfree(text);

        assert_int_equal(store_aop_cert_delete_request(fx->app.store, fx->zone_id, c.kind, c.id,
                                                       util_now_us(), &out),
                         STORE_OK);
        store_aop_cert_clear(&out);
        run_all(fx);
        status_is(fx, c.id, "deleted");
        assert_int_not_equal(access(key, F_OK), 0);
        assert_int_not_equal(access(crt, F_OK), 0);
        xfree(key);
        xfree(crt);
        store_aop_cert_clear(&c);
    }
}

/* A deployment that keeps failing (DATA/deploy is a file, so no directory can be made)
 * is retried while young and times out once it has been pending for AOP_STEP_TIMEOUT_US. */
static void test_worker_deployment_times_out(void **state)
{
    struct fixture *fx = *state;
    char *deploy = xasprintf("%s/deploy", fx->dir);
    assert_int_equal(fsutil_write_atomic(deploy, "x", 1, 0644, 1), 0);
    struct store_aop_cert c;
    make_cert(fx, fx->zone_id, "zone", &c);
    assert_int_equal(store_aop_cert_create(fx->app.store, &c, 0), STORE_OK);

    /* Entered pending_deployment two hours ago (the claimed job completed at that time). */
    int64_t past = util_now_us() - 2 * AOP_STEP_TIMEOUT_US;
    struct store_job job;
    int n = 0;
    assert_int_equal(store_job_claim(fx->app.store, "w", util_now_us(), 60 * SEC, &job, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_aop_cert_advance(fx->app.store, &job, "w", STORE_AOP_INITIALIZING,
                                            STORE_AOP_PENDING_DEPLOYMENT, past, past),
                     STORE_OK);
    assert_int_equal(worker_run_due(&fx->app, "test-worker"), 1);
    status_is(fx, c.id, "deployment_timed_out");

    /* A young failing deployment is only retried. */
    struct store_aop_cert d;
    make_cert(fx, fx->zone_id, "zone", &d);
    assert_int_equal(store_aop_cert_create(fx->app.store, &d, 0), STORE_OK);
    assert_int_equal(worker_run_due(&fx->app, "test-worker"), 1); /* → pending_deployment */
    assert_int_equal(worker_run_due(&fx->app, "test-worker"), 1); /* deploy fails */
    status_is(fx, d.id, "pending_deployment");
    store_aop_cert_clear(&c);
    store_aop_cert_clear(&d);
    xfree(deploy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostname_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_associations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_deploys_and_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_deployment_times_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
