/* Unit tests of the start-up move from the name-keyed deploy layout to the id-keyed one
 * (worker/deploy_migrate.c), on a real temporary tree and a real store: two accounts'
 * zones of one name sharing the old directory each get their own, origin-pull files
 * follow their certificates, a move interrupted between its two renames is finished,
 * and what cannot be resolved in the store stays where it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "pki/seal.h"
#include "store/store.h"
#include "worker/aop_jobs.h"
#include "worker/deploy.h"
#include "worker/deploy_migrate.h"
#include "testutil.h"

#define ZONE "example.com" /* both accounts' zones are named so */

struct fixture {
    char *dir, *root, *old_dir;
    struct store *s;
    char account_id[STORE_ID_SIZE], account2_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE], zone2_id[STORE_ID_SIZE];
};

static void add_account(struct fixture *fx, const char *user_id, char *id_out)
{
    struct store_account a = {.created_on = util_now_us()};
    util_random_id(a.id);
    snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", user_id);
    snprintf(a.name, sizeof a.name, "tenant");
    assert_int_equal(store_account_create(fx->s, &a), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", a.id);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    fx->dir = xstrdup("/tmp/tlsward-test-deploy-migrate-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/deploy", fx->dir);
    fx->old_dir = xasprintf("%s/%s", fx->root, ZONE);
    char *path = xasprintf("%s/tlsward.db", fx->dir);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, 2, &fx->s), STORE_OK);
    xfree(path);
    struct store_user u = {.created_on = util_now_us()};
    util_random_id(u.id);
    snprintf(u.email, sizeof u.email, "owner@example.net");
    assert_int_equal(store_user_create(fx->s, &u), STORE_OK);
    add_account(fx, u.id, fx->account_id);
    add_account(fx, u.id, fx->account2_id);
    tu_add_zone(fx->s, fx->account_id, ZONE, fx->zone_id);
    tu_add_zone(fx->s, fx->account2_id, ZONE, fx->zone2_id);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->s);
    tu_remove_tree(fx->dir);
    xfree(fx->old_dir);
    xfree(fx->root);
    xfree(fx->dir);
    xfree(fx);
    return 0;
}

/* A pack of zone_id in the store (unless in_store is false), deployed in the OLD layout
 * (under the zone's name) with files whose contents name the pack. */
static void old_pack(struct fixture *fx, const char *zone_id, bool in_store, char *id_out)
{
    int64_t now = util_now_us();
    struct store_pack p = {
        .validity_days = 90, .status_since = now, .created_on = now, .modified_on = now};
    util_random_id(p.id);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    if (in_store) {
        snprintf(p.zone_id, sizeof p.zone_id, "%s", zone_id);
        assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
        assert_int_equal(STORE_ENUM_PARSE("active", &p.status), 0);
        assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
        assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
        tu_pack_set(&p, TU_HOSTS, "[\"" ZONE "\"]");
        assert_int_equal(store_pack_create(fx->s, &p), STORE_OK);
        store_pack_clear(&p);
    }
    char *crt = xasprintf("crt of %s", id_out), *key = xasprintf("key of %s", id_out);
    struct deploy_files files[] = {{"ecdsa.crt", crt, strlen(crt), DEPLOY_CERT_MODE},
                                   {"ecdsa.key", key, strlen(key), DEPLOY_KEY_MODE}};
    char why[256] = "";
    if (deploy_pack(fx->root, ZONE, id_out, files, 2, why, sizeof why) != 0)
        fail_msg("deploy_pack: %s", why);
    xfree(crt);
    xfree(key);
}

/* An origin-pull certificate of zone_id in the store, its two files in the OLD layout. */
static void old_origin_pull(struct fixture *fx, const char *zone_id, const char *kind, char *id_out)
{
    struct store_aop_cert c = {.expires_on = util_now_us() + 86400000000LL,
                               .uploaded_on = util_now_us(),
                               .updated_on = util_now_us()};
    util_random_id(c.id);
    snprintf(c.zone_id, sizeof c.zone_id, "%s", zone_id);
    assert_int_equal(STORE_ENUM_PARSE(kind, &c.kind), 0);
    assert_int_equal(STORE_ENUM_PARSE("active", &c.status), 0);
    c.certificate = xstrdup("pem");
    c.key_sealed = (unsigned char *)xstrdup("sealed");
    c.key_sealed_len = 6;
    assert_int_equal(store_aop_cert_create(fx->s, &c, 0), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", c.id);
    store_aop_cert_clear(&c);
    const char *sub = strcmp(kind, "zone") == 0 ? "zone" : "hostnames";
    char *dir = xasprintf("%s/origin-pull/%s", fx->old_dir, sub);
    assert_int_equal(fsutil_mkdirs(dir, 0755), 0);
    for (int i = 0; i < 2; i++) {
        char *path = xasprintf("%s/%s.%s", dir, id_out, i ? "crt" : "key");
        assert_int_equal(fsutil_write_atomic(path, id_out, strlen(id_out), i ? 0644 : 0600, 0), 0);
        xfree(path);
    }
    xfree(dir);
}

static void assert_file(const char *path, const char *want)
{
    char *text = NULL;
    if (fsutil_read_file(path, 4096, &text, NULL) != 0)
        fail_msg("cannot read %s", path);
    assert_string_equal(text, want);
    xfree(text);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The pack is live under its zone id: a symlink to a set holding its own files. */
static void assert_pack_moved(struct fixture *fx, const char *zone_id, const char *pack_id)
{
    char *live = deploy_pack_path(fx->root, zone_id, pack_id);
    struct stat st;
    assert_int_equal(lstat(live, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char *crt = xasprintf("%s/ecdsa.crt", live), *key = xasprintf("%s/ecdsa.key", live);
    char *want_crt = xasprintf("crt of %s", pack_id), *want_key = xasprintf("key of %s", pack_id);
    assert_file(crt, want_crt);
    assert_file(key, want_key);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, DEPLOY_KEY_MODE);
    char *old = deploy_pack_path(fx->root, ZONE, pack_id);
    assert_false(exists(old));
    xfree(old);
    xfree(want_crt);
    xfree(want_key);
    xfree(crt);
    xfree(key);
    xfree(live);
}

static void assert_origin_pull_moved(struct fixture *fx, const char *zone_id, const char *kind,
                                     const char *id)
{
    for (int i = 0; i < 2; i++) {
        enum store_aop_kind k;
        assert_int_equal(STORE_ENUM_PARSE(kind, &k), 0);
        char *path = aop_deploy_path(fx->dir, zone_id, k, id, i ? "crt" : "key");
        assert_file(path, id);
        xfree(path);
    }
}

static void test_two_tenants_of_one_name_are_separated(void **state)
{
    struct fixture *fx = *state;
    char pa[STORE_ID_SIZE], pb[STORE_ID_SIZE], za[STORE_ID_SIZE], hb[STORE_ID_SIZE];
    old_pack(fx, fx->zone_id, true, pa);
    old_pack(fx, fx->zone2_id, true, pb);
    old_origin_pull(fx, fx->zone_id, "zone", za);
    old_origin_pull(fx, fx->zone2_id, "hostname", hb);
    int failed = -1;
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 2 + 4);
    assert_int_equal(failed, 0);
    assert_pack_moved(fx, fx->zone_id, pa);
    assert_pack_moved(fx, fx->zone2_id, pb);
    assert_origin_pull_moved(fx, fx->zone_id, "zone", za);
    assert_origin_pull_moved(fx, fx->zone2_id, "hostname", hb);
    /* Each tenant's directory holds only its own. */
    char *wrong = deploy_pack_path(fx->root, fx->zone2_id, pa);
    assert_false(exists(wrong));
    xfree(wrong);
    assert_false(exists(fx->old_dir)); /* emptied, then removed */

    /* The moved sets are ordinary deployments now: removal works, and a second start
     * has nothing to do. */
    char why[256] = "";
    assert_int_equal(deploy_remove(fx->root, fx->zone_id, pa, why, sizeof why), 0);
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 0);
    assert_int_equal(failed, 0);
    assert_pack_moved(fx, fx->zone2_id, pb);
}

static void test_interrupted_move_is_finished(void **state)
{
    struct fixture *fx = *state;
    char pa[STORE_ID_SIZE];
    old_pack(fx, fx->zone_id, true, pa);
    /* A start killed between the two renames: the set is in the new directory, the
     * symlink still in the old one. */
    char *link = deploy_pack_path(fx->root, ZONE, pa), target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    char *new_dir = xasprintf("%s/%s", fx->root, fx->zone_id);
    assert_int_equal(fsutil_mkdirs(new_dir, 0755), 0);
    char *from = xasprintf("%s/%s", fx->old_dir, target);
    char *to = xasprintf("%s/%s", new_dir, target);
    assert_int_equal(rename(from, to), 0);

    int failed = -1;
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 1);
    assert_int_equal(failed, 0);
    assert_pack_moved(fx, fx->zone_id, pa);
    xfree(to);
    xfree(from);
    xfree(new_dir);
    xfree(link);
}

static void test_what_cannot_be_resolved_stays(void **state)
{
    struct fixture *fx = *state;
    char known[STORE_ID_SIZE], unknown[STORE_ID_SIZE];
    old_pack(fx, fx->zone_id, true, known);
    old_pack(fx, fx->zone_id, false, unknown); /* its row is gone */
    char *stray = xasprintf("%s/notes.txt", fx->old_dir);
    assert_int_equal(fsutil_write_atomic(stray, "mine", 4, 0644, 0), 0);
    char orphan[UTIL_ID_LEN + 1];
    util_random_id(orphan);
    char *orphan_dir = xasprintf("%s/origin-pull/zone", fx->old_dir);
    assert_int_equal(fsutil_mkdirs(orphan_dir, 0755), 0);
    char *orphan_key = xasprintf("%s/%s.key", orphan_dir, orphan);
    assert_int_equal(fsutil_write_atomic(orphan_key, "k", 1, 0600, 0), 0);

    int failed = -1;
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 1);
    assert_int_equal(failed, 3); /* the unknown pack, the stray file, the orphan key */
    assert_pack_moved(fx, fx->zone_id, known);
    /* Left in place, intact, for the operator to see. */
    char *left = deploy_pack_path(fx->root, ZONE, unknown), *crt = xasprintf("%s/ecdsa.crt", left);
    char *want = xasprintf("crt of %s", unknown);
    assert_file(crt, want);
    assert_file(stray, "mine");
    assert_file(orphan_key, "k");
    /* Still the same on the next start. */
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 0);
    assert_int_equal(failed, 3);
    assert_file(crt, want);
    xfree(want);
    xfree(crt);
    xfree(left);
    xfree(orphan_key);
    xfree(orphan_dir);
    xfree(stray);
}

static void test_no_tree_is_nothing_to_do(void **state)
{
    struct fixture *fx = *state;
    int failed = -1;
    assert_int_equal(deploy_migrate(fx->root, fx->s, &failed), 0);
    assert_int_equal(failed, 0);
    assert_false(exists(fx->root));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_tenants_of_one_name_are_separated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_move_is_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_cannot_be_resolved_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_tree_is_nothing_to_do, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
