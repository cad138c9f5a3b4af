/* Unit tests of zone deletion: the store's request (store/store_zone_delete.c: the zone
 * hidden from every reader, its name free again, its client certificates revoked into the
 * CA's list, the CRL and deletion jobs scheduled) and the worker's zone.delete job
 * (worker/zone_jobs.c) on a real data directory: each pack removed with the delete hook,
 * origin-pull files removed, another account's zone of the same name untouched, progress
 * kept across a failed run, and nothing done once the lease is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "store/store.h"
#include "worker/aop_jobs.h"
#include "worker/deploy.h"
#include "worker/worker.h"
#include "worker/zone_jobs.h"
#include "testutil.h"

#define SEC 1000000LL
#define ZONE "example.com"
#define OWNER "owner"
#define MAX_ROUNDS 10

struct fixture {
    char *dir, *root, *hook_log;
    struct app app;
    char account_id[STORE_ID_SIZE], account2_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE], zone2_id[STORE_ID_SIZE]; /* both named ZONE */
    char ca_id[STORE_UUID_SIZE];
};

static void add_account(struct fixture *fx, const char *user_id, const char *name, char *id_out)
{
    struct store_account a = {.created_on = util_now_us()};
    util_random_id(a.id);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", user_id);
    snprintf(a.name, sizeof a.name, "%s", name);
    assert_int_equal(store_account_create(fx->app.store, &a), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", a.id);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    fx->dir = xstrdup("/tmp/tlsward-test-zone-delete-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/deploy", fx->dir);
    fx->hook_log = xasprintf("%s/hook.log", fx->dir);
    char *path = xasprintf("%s/tlsward.db", fx->dir);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, 4, &fx->app.store), STORE_OK);
    xfree(path);
    util_random_bytes(fx->app.master_key, sizeof fx->app.master_key);
    fx->app.config.data_dir = fx->dir;
    struct store_user u = {.created_on = util_now_us()};
    util_random_id(u.id);
    snprintf(u.email, sizeof u.email, "owner@example.net");
    assert_int_equal(store_user_create(fx->app.store, &u), STORE_OK);
    add_account(fx, u.id, "tenant one", fx->account_id);
    add_account(fx, u.id, "tenant two", fx->account2_id);
    tu_add_zone(fx->app.store, fx->account_id, ZONE, fx->zone_id);
    tu_add_zone(fx->app.store, fx->account2_id, ZONE, fx->zone2_id);

    static const unsigned char fake[] = {0x30, 0x03, 0x01, 0x02, 0x03};
    struct store_client_ca ca = {.cert_pem = "-----BEGIN CERTIFICATE-----\nx\n-----END "
                                             "CERTIFICATE-----\n",
                                 .key_sealed = (unsigned char *)fake,
                                 .key_sealed_len = sizeof fake,
                                 .crl_number = 1,
                                 .crl_der = (unsigned char *)fake,
                                 .crl_len = sizeof fake,
                                 .created_on = util_now_us()};
    snprintf(fx->ca_id, sizeof fx->ca_id, "11111111-2222-4333-8444-555555555555");
    snprintf(ca.id, sizeof ca.id, "%s", fx->ca_id);
    snprintf(ca.account_id, sizeof ca.account_id, "%s", fx->account_id);
    snprintf(ca.name, sizeof ca.name, "test CA");
    /* Its refresh is far off, so the only CRL job due is one a deletion schedules. */
    assert_int_equal(store_client_ca_create(fx->app.store, &ca, util_now_us() + 3600 * SEC),
                     STORE_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->app.store);
    tu_remove_tree(fx->dir);
    xfree((char *)fx->app.config.deploy_hook);
    xfree(fx->hook_log);
    xfree(fx->root);
    xfree(fx->dir);
    xfree(fx);
    return 0;
}

/* ---- helpers ---- */

static void add_cert(struct fixture *fx, const char *zone_id, const char *status, unsigned n,
                     struct store_client_cert *c)
{
    memset(c, 0, sizeof *c);
    util_random_id(c->id);
    snprintf(c->zone_id, sizeof c->zone_id, "%s", zone_id);
    snprintf(c->ca_id, sizeof c->ca_id, "%s", fx->ca_id);
    assert_int_equal(STORE_ENUM_PARSE(status, &c->status), 0);
    snprintf(c->serial, sizeof c->serial, "%040x", n);
    snprintf(c->signature, sizeof c->signature, "ECDSAWithSHA256");
    c->csr = xstrdup("csr");
    c->certificate = xstrdup("certificate");
    c->validity_days = 30;
    c->created_on = c->modified_on = c->issued_on = util_now_us();
    assert_int_equal(store_client_cert_create(fx->app.store, c), STORE_OK);
    store_client_cert_clear(c);
}

static void cert_status_is(struct fixture *fx, const struct store_client_cert *c, const char *want)
{
    struct store_client_cert got;
    assert_int_equal(store_client_cert_get(fx->app.store, c->zone_id, c->id, &got), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(got.status), want);
    store_client_cert_clear(&got);
}

static bool revoked(struct fixture *fx, const char *serial)
{
    struct store_revocation *list = NULL;
    int n = 0;
    assert_int_equal(store_client_ca_revocations(fx->app.store, fx->ca_id, &list, &n), STORE_OK);
    bool found = false;
    for (int i = 0; i < n; i++)
        found = found || strcmp(list[i].serial, serial) == 0;
    xfree(list);
    return found;
}

/* A live pack of zone_id created at `created_on` (list order), deployed with fake files. */
static void add_deployed_pack(struct fixture *fx, const char *zone_id, int64_t created_on,
                              char *id_out)
{
    struct store_pack p = {.validity_days = 90,
                           .status_since = created_on,
                           .created_on = created_on,
                           .modified_on = created_on};
    util_random_id(p.id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &p.status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    tu_pack_set(&p, TU_HOSTS, "[\"" ZONE "\",\"*." ZONE "\"]");
    assert_int_equal(store_pack_create(fx->app.store, &p), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
    struct deploy_files files[] = {{"ecdsa.crt", "crt", 3, DEPLOY_CERT_MODE},
                                   {"ecdsa.key", "key", 3, DEPLOY_KEY_MODE}};
    char why[256] = "";
    if (deploy_pack(fx->root, zone_id, id_out, files, 2, why, sizeof why) != 0)
        fail_msg("deploy_pack: %s", why);
}

/* An origin-pull file as the aop job writes it; returns its path (xfree). */
static char *add_origin_pull_file(struct fixture *fx, const char *zone_id, const char *ext)
{
    char id[UTIL_ID_LEN + 1];
    util_random_id(id);
    char *path = aop_deploy_path(fx->dir, zone_id, STORE_AOP_ZONE, id, ext);
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(fsutil_mkdirs(dir, 0755), 0);
    assert_int_equal(fsutil_write_atomic(path, "x", 1, 0600, 0), 0);
    xfree(dir);
    return path;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *pack_path(struct fixture *fx, const char *zone_id, const char *pack_id)
{
    return deploy_pack_path(fx->root, zone_id, pack_id);
}

/* The hook appends "<event> <pack> <zone name> <zone id> <account id>" to hook_log; it
 * fails for the pack named in DATA/fail-pack while that file exists. */
static void set_hook(struct fixture *fx)
{
    fx->app.config.deploy_hook = xasprintf(
        "echo \"$TLSWARD_EVENT $TLSWARD_PACK_ID $TLSWARD_ZONE $TLSWARD_ZONE_ID "
        "$TLSWARD_ACCOUNT_ID\" >> '%s'; "
        "! [ -e '%s/fail-pack' ] || [ \"$(cat '%s/fail-pack')\" != \"$TLSWARD_PACK_ID\" ]",
        fx->hook_log, fx->dir, fx->dir);
}

/* How many lines of the hook log are exactly `line`. */
static int hook_lines(struct fixture *fx, const char *line)
{
    char *text = NULL;
    if (fsutil_read_file(fx->hook_log, 1 << 20, &text, NULL) != 0)
        return 0;
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += len)
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            n++;
    xfree(text);
    return n;
}

/* Claims every job due now for another owner with a long lease, so that a test's worker
 * runs only the jobs scheduled after this point (the packs' own jobs are not its subject). */
static void park_due_jobs(struct fixture *fx)
{
    struct store_job jobs[16];
    int count = 0;
    assert_int_equal(
        store_job_claim(fx->app.store, "parked", util_now_us(), 3600 * SEC, jobs, 16, &count),
        STORE_OK);
}

static int run_until_idle(struct fixture *fx)
{
    int total = 0, ran, rounds = 0;
    while ((ran = worker_run_due(&fx->app, OWNER)) > 0) {
        total += ran;
        assert_true(++rounds < MAX_ROUNDS);
    }
    return total;
}

/* ---- the request ---- */

static void test_request_hides_zone_and_revokes_its_certificates(void **state)
{
    struct fixture *fx = *state;
    struct store_client_cert active, pending_rev, pending_react, done, other;
    add_cert(fx, fx->zone_id, "active", 1, &active);
    add_cert(fx, fx->zone_id, "pending_revocation", 2, &pending_rev);
    add_cert(fx, fx->zone_id, "pending_reactivation", 3, &pending_react);
    add_cert(fx, fx->zone_id, "revoked", 4, &done);
    add_cert(fx, fx->zone2_id, "active", 5, &other);
    park_due_jobs(fx);
    int64_t now = util_now_us();

    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, now), STORE_OK);

    /* Hidden from every reader but the deletion job's. */
    struct store_zone z;
    assert_int_equal(store_zone_get(fx->app.store, fx->zone_id, &z), STORE_NOT_FOUND);
    assert_int_equal(store_zone_get_any(fx->app.store, fx->zone_id, &z), STORE_OK);
    assert_string_equal(z.name, ZONE);
    assert_int_equal(z.deleting_on, now);
    struct store_zone_filter f = {.who = {.account_id = fx->account_id}, .limit = 50};
    struct store_zone *list = NULL;
    int count = -1, total = -1;
    assert_int_equal(store_zone_list(fx->app.store, &f, &list, &count, &total), STORE_OK);
    assert_int_equal(total, 0);
    xfree(list);
    f.name = ZONE;
    f.who = (struct store_visibility){.account_id = fx->account2_id};
    assert_int_equal(store_zone_list(fx->app.store, &f, &list, &count, &total), STORE_OK);
    assert_int_equal(total, 1); /* the other tenant's zone of that name is not affected */
    assert_string_equal(list[0].id, fx->zone2_id);
    xfree(list);
    char mode[STORE_SSL_MODE_SIZE];
    int64_t on;
    bool enabled;
    assert_int_equal(store_zone_ssl_mode_get(fx->app.store, fx->zone_id, mode, &on),
                     STORE_NOT_FOUND);
    assert_int_equal(store_aop_settings_get(fx->app.store, fx->zone_id, &enabled), STORE_NOT_FOUND);
    assert_int_equal(store_zone_set_quota(fx->app.store, fx->zone_id, 3), STORE_NOT_FOUND);
    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, now + 1),
                     STORE_NOT_FOUND);

    /* Every certificate not yet revoked is revoked, into the CA's list. */
    cert_status_is(fx, &active, "revoked");
    cert_status_is(fx, &pending_rev, "revoked");
    cert_status_is(fx, &pending_react, "revoked");
    cert_status_is(fx, &other, "active");
    assert_true(revoked(fx, active.serial));
    assert_true(revoked(fx, pending_rev.serial));
    assert_true(revoked(fx, pending_react.serial));
    assert_false(revoked(fx, done.serial)); /* revoked before: not this request's doing */
    assert_false(revoked(fx, other.serial));

    /* The CRL's re-signing and the deletion job are due now. */
    struct store_job jobs[8];
    count = 0;
    assert_int_equal(store_job_claim(fx->app.store, "t", now, 60 * SEC, jobs, 8, &count), STORE_OK);
    assert_int_equal(count, 2);
    bool crl = false, zone = false;
    for (int i = 0; i < count; i++) {
        crl = crl ||
              (strcmp(jobs[i].kind, STORE_CRL_JOB) == 0 && strcmp(jobs[i].target, fx->ca_id) == 0);
        zone = zone || (strcmp(jobs[i].kind, STORE_ZONE_DELETE_JOB) == 0 &&
                        strcmp(jobs[i].target, fx->zone_id) == 0);
    }
    assert_true(crl && zone);

    /* The account may create the name again at once. */
    char again[STORE_ID_SIZE];
    tu_add_zone(fx->app.store, fx->account_id, ZONE, again);
    assert_int_equal(store_zone_get(fx->app.store, again, &z), STORE_OK);
}

/* ---- the job ---- */

static void test_job_removes_packs_files_and_rows(void **state)
{
    struct fixture *fx = *state;
    set_hook(fx);
    int64_t t = util_now_us();
    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE], b1[STORE_ID_SIZE];
    add_deployed_pack(fx, fx->zone_id, t, a1);
    add_deployed_pack(fx, fx->zone_id, t + 1, a2);
    add_deployed_pack(fx, fx->zone2_id, t, b1);
    char *a_key = add_origin_pull_file(fx, fx->zone_id, "key");
    char *b_key = add_origin_pull_file(fx, fx->zone2_id, "key");
    park_due_jobs(fx);

    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, util_now_us()),
                     STORE_OK);
    assert_int_equal(run_until_idle(fx), 1);

    /* Each pack of the zone: removed, and the hook ran once with delete. */
    for (int i = 0; i < 2; i++) {
        const char *id = i ? a2 : a1;
        char *line = xasprintf("delete %s " ZONE " %s %s", id, fx->zone_id, fx->account_id);
        assert_int_equal(hook_lines(fx, line), 1);
        xfree(line);
        struct store_pack p;
        assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_NOT_FOUND);
    }
    char *zone_dir = xasprintf("%s/%s", fx->root, fx->zone_id);
    assert_false(exists(zone_dir));
    assert_false(exists(a_key));
    struct store_zone z;
    assert_int_equal(store_zone_get_any(fx->app.store, fx->zone_id, &z), STORE_NOT_FOUND);

    /* The other account's zone of the same name keeps its pack, files and rows. */
    char *b_path = pack_path(fx, fx->zone2_id, b1);
    assert_true(exists(b_path));
    char *b_crt = xasprintf("%s/ecdsa.crt", b_path);
    assert_true(exists(b_crt));
    assert_true(exists(b_key));
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, b1, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    store_pack_clear(&p);
    assert_int_equal(store_zone_get(fx->app.store, fx->zone2_id, &z), STORE_OK);
    char *line = xasprintf("delete %s " ZONE " %s %s", b1, fx->zone2_id, fx->account2_id);
    assert_int_equal(hook_lines(fx, line), 0);
    xfree(line);
    xfree(b_crt);
    xfree(b_path);
    xfree(zone_dir);
    xfree(a_key);
    xfree(b_key);
}

static void test_job_resumes_without_redoing_finished_packs(void **state)
{
    struct fixture *fx = *state;
    set_hook(fx);
    int64_t t = util_now_us();
    char a1[STORE_ID_SIZE], a2[STORE_ID_SIZE];
    add_deployed_pack(fx, fx->zone_id, t, a1);
    add_deployed_pack(fx, fx->zone_id, t + 1, a2);
    char *flag = xasprintf("%s/fail-pack", fx->dir);
    assert_int_equal(fsutil_write_atomic(flag, a2, strlen(a2), 0600, 0), 0);
    park_due_jobs(fx);
    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, util_now_us()),
                     STORE_OK);

    /* The hook fails on a2: a1 is finished and recorded, the zone stays for a retry. */
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, a1, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "deleted");
    store_pack_clear(&p);
    assert_int_equal(store_pack_by_id(fx->app.store, a2, &p), STORE_OK);
    assert_string_not_equal(STORE_ENUM_NAME(p.status), "deleted");
    store_pack_clear(&p);
    struct store_zone z;
    assert_int_equal(store_zone_get_any(fx->app.store, fx->zone_id, &z), STORE_OK);
    char *a2_path = pack_path(fx, fx->zone_id, a2);
    assert_false(exists(a2_path)); /* its files went before the hook failed */

    /* Fixed; the retry (made due now) finishes a2 only. */
    assert_int_equal(unlink(flag), 0);
    assert_int_equal(
        store_job_schedule(fx->app.store, STORE_ZONE_DELETE_JOB, fx->zone_id, util_now_us()),
        STORE_OK);
    assert_int_equal(worker_run_due(&fx->app, OWNER), 1);
    char *l1 = xasprintf("delete %s " ZONE " %s %s", a1, fx->zone_id, fx->account_id);
    char *l2 = xasprintf("delete %s " ZONE " %s %s", a2, fx->zone_id, fx->account_id);
    assert_int_equal(hook_lines(fx, l1), 1);
    assert_int_equal(hook_lines(fx, l2), 2); /* the failed run and the retry */
    assert_int_equal(store_zone_get_any(fx->app.store, fx->zone_id, &z), STORE_NOT_FOUND);
    xfree(l1);
    xfree(l2);
    xfree(a2_path);
    xfree(flag);
}

static void test_job_without_lease_does_nothing(void **state)
{
    struct fixture *fx = *state;
    set_hook(fx);
    char a1[STORE_ID_SIZE];
    add_deployed_pack(fx, fx->zone_id, util_now_us(), a1);
    park_due_jobs(fx);
    assert_int_equal(store_zone_delete_request(fx->app.store, fx->zone_id, util_now_us()),
                     STORE_OK);
    /* Claimed under a lease that expires at once: another worker may hold it by now. */
    struct store_job jobs[4];
    int count = 0;
    assert_int_equal(store_job_claim(fx->app.store, OWNER, util_now_us(), 1, jobs, 4, &count),
                     STORE_OK);
    assert_int_equal(count, 1);
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(zone_job_delete(&fx->app, &jobs[0], OWNER), JOB_DROP);
    char *path = pack_path(fx, fx->zone_id, a1);
    assert_true(exists(path));
    assert_false(exists(fx->hook_log));
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, a1, &p), STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(p.status), "active");
    store_pack_clear(&p);
    xfree(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_hides_zone_and_revokes_its_certificates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_removes_packs_files_and_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_resumes_without_redoing_finished_packs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_without_lease_does_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
