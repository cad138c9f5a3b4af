/* worker/pack_dns: a pack's TXT records published in a real Knot DNS (tu_knot.h) and
 * deleted exactly, with what was added noted in a real SQLite store; records of the pack's
 * old values are deleted by the next sync; a row noted before a crash is enough to delete
 * its record; delegated (cname) packs publish at their CNAME targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "worker/pack_dns.h"
#include "tu_dnsmasq.h"
#include "tu_knot.h"

#define ZONE "example.test"
#define APEX_NAME "_acme-challenge.example.test"
#define WWW_NAME "_acme-challenge.www.example.test"
#define OWNER "test-owner"

static const char *const zones[] = {ZONE, "dcv.test", NULL};
static const char *const extra[] = {ZONE " _acme-challenge TXT \"someone-elses\"", NULL};

struct fixture {
    struct tu_knot knot;
    char dir[64];
    struct app app;
    struct store_zone zone;
    struct store_pack pack;
    struct store_job job;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    tu_knot_start_or_fail(&f->knot, zones, extra, f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tw-packdns-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *db = xasprintf("%s/tlsward.db", f->dir);
    assert_int_equal(store_open(db, STORE_OPEN_CREATE, 2, &f->app.store), STORE_OK);
    xfree(db);
    tu_knot_publish_to(&f->knot, &f->app.config.dns);
    f->app.config.lease_us = 60 * 1000000LL;
    util_random_id(f->zone.id);
    snprintf(f->zone.name, sizeof f->zone.name, ZONE);
    util_random_id(f->pack.id);
    assert_int_equal(STORE_ENUM_PARSE("txt", &f->pack.validation_method), 0);
    /* A claimed job, so that worker_lease_held answers from the store. */
    int64_t now = util_now_us();
    int n = 0;
    assert_int_equal(store_job_schedule(f->app.store, STORE_PACK_JOB, f->pack.id, now), STORE_OK);
    assert_int_equal(store_job_claim(f->app.store, OWNER, now, 60 * 1000000LL, &f->job, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_knot_stop(&f->knot);
    store_close(f->app.store);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    (void)system(cmd);
    xfree(cmd);
    store_pack_clear(&f->pack);
    xfree(f);
    return 0;
}

static void set_records(struct fixture *f, const char *apex1, const char *apex2, const char *www)
{
    char *json =
        xasprintf("[{\"txt_name\":\"" APEX_NAME "\",\"txt_value\":\"%s\",\"status\":\"pending\"},"
                  "{\"txt_name\":\"" APEX_NAME "\",\"txt_value\":\"%s\",\"status\":\"pending\"},"
                  "{\"txt_name\":\"" WWW_NAME "\",\"txt_value\":\"%s\",\"status\":\"pending\"}]",
                  apex1, apex2, www);
    assert_int_equal(store__pack_json_decode(&f->pack, STORE__PACK_RECORDS, json), STORE_OK);
    xfree(json);
}

/* The TXT values at name joined by ",", in the server's order sorted. */
static char *txt(struct fixture *f, const char *name)
{
    char values[8][128];
    int n = tu_knot_txt(&f->knot, name, values, 8);
    assert_true(n >= 0);
    qsort(values, (size_t)n, sizeof values[0], (int (*)(const void *, const void *))strcmp);
    char *out = xstrdup("");
    for (int i = 0; i < n; i++) {
        char *next = xasprintf("%s%s%s", out, i ? "," : "", values[i]);
        xfree(out);
        out = next;
    }
    return out;
}

static void expect_txt(struct fixture *f, const char *name, const char *joined)
{
    char *got = txt(f, name);
    assert_string_equal(got, joined);
    xfree(got);
}

static int rows(struct fixture *f)
{
    struct store_dns_record *list = NULL;
    int n = 0;
    assert_int_equal(store_dns_records(f->app.store, f->pack.id, &list, &n), STORE_OK);
    xfree(list);
    return n;
}

static void sync_ok(struct fixture *f)
{
    bool lost = true;
    char *message = pack_dns_sync(&f->app, &f->job, OWNER, &f->zone, &f->pack, &lost);
    assert_null(message);
    assert_false(lost);
}

static void test_publish_then_cleanup_exactly(void **state)
{
    struct fixture *f = *state;
    set_records(f, "apex-1", "apex-2", "www-1");
    sync_ok(f);
    expect_txt(f, APEX_NAME, "apex-1,apex-2,someone-elses");
    expect_txt(f, WWW_NAME, "www-1");
    assert_int_equal(rows(f), 3);
    sync_ok(f); /* nothing new: no duplicate, no change */
    expect_txt(f, APEX_NAME, "apex-1,apex-2,someone-elses");
    assert_int_equal(rows(f), 3);

    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), 0);
    expect_txt(f, APEX_NAME, "someone-elses");
    expect_txt(f, WWW_NAME, "");
    assert_int_equal(rows(f), 0);
}

/* A restarted or switched validation has new values: the old ones go at the next sync. */
static void test_new_values_replace_old(void **state)
{
    struct fixture *f = *state;
    set_records(f, "apex-1", "apex-2", "www-1");
    sync_ok(f);
    set_records(f, "apex-1", "apex-3", "www-2");
    sync_ok(f);
    expect_txt(f, APEX_NAME, "apex-1,apex-3,someone-elses");
    expect_txt(f, WWW_NAME, "www-2");
    assert_int_equal(rows(f), 3);
    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), 0);
    expect_txt(f, APEX_NAME, "someone-elses");
}

/* A crash right after the add: the row (noted first) still leads cleanup to the record. */
static void test_row_noted_before_crash_is_cleaned(void **state)
{
    struct fixture *f = *state;
    struct store_dns_record r = {.published = false};
    snprintf(r.pack_id, sizeof r.pack_id, "%s", f->pack.id);
    snprintf(r.name, sizeof r.name, WWW_NAME);
    snprintf(r.value, sizeof r.value, "added-then-crashed");
    snprintf(r.zone, sizeof r.zone, ZONE);
    assert_int_equal(store_dns_record_intent(f->app.store, &r, util_now_us()), STORE_OK);
    char why[256];
    assert_int_equal(dns_publish_txt_add(&f->app.config.dns, ZONE ".", WWW_NAME,
                                         "added-then-crashed", why, sizeof why),
                     0);
    expect_txt(f, WWW_NAME, "added-then-crashed");
    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), 0);
    expect_txt(f, WWW_NAME, "");
    assert_int_equal(rows(f), 0);
}

/* DNS down: cleanup fails and keeps its rows, so a later call can delete the records. */
static void test_cleanup_failure_keeps_rows(void **state)
{
    struct fixture *f = *state;
    set_records(f, "apex-1", "apex-2", "www-1");
    sync_ok(f);
    struct tu_knot saved = f->knot;
    kill(f->knot.pid, SIGSTOP);
    f->app.config.dns.timeout_ms = 300;
    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), -1);
    assert_int_equal(rows(f), 3);
    kill(saved.pid, SIGCONT);
    f->app.config.dns.timeout_ms = DNS_PUBLISH_TIMEOUT_MS;
    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), 0);
    assert_int_equal(rows(f), 0);
    expect_txt(f, APEX_NAME, "someone-elses");
}

/* A pack delegated by CNAME: its values go to the targets, in the DCV zone. */
static void test_cname_pack_publishes_at_targets(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(STORE_ENUM_PARSE("cname", &f->pack.validation_method), 0);
    set_records(f, "apex-1", "apex-2", "www-1");
    assert_int_equal(
        store__pack_json_decode(
            &f->pack, STORE__PACK_DELEGATION,
            "[{\"cname\":\"" APEX_NAME "\",\"cname_target\":\"example.test.z.dcv.test\"},"
            "{\"cname\":\"" WWW_NAME "\",\"cname_target\":\"www.example.test.z.dcv.test\"}]"),
        STORE_OK);
    f->app.config.dcv_domain = "dcv.test";
    sync_ok(f);
    expect_txt(f, "example.test.z.dcv.test", "apex-1,apex-2");
    expect_txt(f, "www.example.test.z.dcv.test", "www-1");
    expect_txt(f, APEX_NAME, "someone-elses");
    struct store_dns_record *list = NULL;
    int n = 0;
    assert_int_equal(store_dns_records(f->app.store, f->pack.id, &list, &n), STORE_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_equal(list[i].zone, "dcv.test"); /* what a hook is told */
    xfree(list);
    assert_int_equal(pack_dns_cleanup(&f->app, &f->job, OWNER, f->pack.id), 0);
    expect_txt(f, "example.test.z.dcv.test", "");
}

/* A lost lease stops before any DNS change. */
static void test_lost_lease_changes_nothing(void **state)
{
    struct fixture *f = *state;
    set_records(f, "apex-1", "apex-2", "www-1");
    bool lost = false;
    char *message = pack_dns_sync(&f->app, &f->job, "someone-else", &f->zone, &f->pack, &lost);
    assert_true(lost);
    xfree(message);
    expect_txt(f, APEX_NAME, "someone-elses");
    expect_txt(f, WWW_NAME, "");
}

static void test_wanted(void **state)
{
    (void)state;
    assert_true(pack_dns_wanted(PACK_PENDING_VALIDATION, 0));
    assert_false(pack_dns_wanted(PACK_PENDING_ISSUANCE, 0));
    assert_false(pack_dns_wanted(PACK_VALIDATION_TIMED_OUT, 0));
    assert_false(pack_dns_wanted(PACK_PENDING_DELETION, 0));
    assert_false(pack_dns_wanted(PACK_DELETED, 0));
    assert_false(pack_dns_wanted(PACK_ACTIVE, 0));
    assert_true(pack_dns_wanted(PACK_ACTIVE, 1)); /* a renewal still to succeed */
    assert_true(pack_dns_wanted(PACK_PENDING_EXPIRATION, 2));
    assert_false(pack_dns_wanted(PACK_EXPIRED, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_then_cleanup_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_values_replace_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_noted_before_crash_is_cleaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_failure_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cname_pack_publishes_at_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_lease_changes_nothing, setup, teardown),
        cmocka_unit_test(test_wanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
