/* Unit tests of worker/deploy: files, modes and contents of a deployed pack; the symlink
 * swap; a reader that must never see a .crt and .key of different generations while the
 * writer swaps; crash leftovers (simulated, and a real kill -9 mid-deployment) that the
 * sweep removes and no reader ever sees; removal; refusal of unsafe names; the hook's
 * environment, failure report, output bound, and timeout kill of its whole process group
 * with nothing left unreaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "worker/deploy.h"
#include "testutil.h"

#define ZONE "example.com"
#define ZONE_ID "0123456789abcdef0123456789abcdef"
#define ACCOUNT_ID "fedcba9876543210fedcba9876543210"
#define PACK "3f0c3b8e9a1d4c2b8e7f6a5d4c3b2a19"
#define FILLER 9000 /* bytes after the header line: more than a page, so torn reads show */

struct fixture {
    char *tmp;  /* mkdtemp directory, removed afterwards */
    char *root; /* tmp/deploy, not created: deploy_pack must create it */
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    f->tmp = xstrdup("/tmp/tlsward-test-deploy-XXXXXX");
    if (!mkdtemp(f->tmp)) {
        xfree(f->tmp);
        xfree(f);
        return -1;
    }
    f->root = xasprintf("%s/deploy", f->tmp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_remove_tree(f->tmp);
    xfree(f->root);
    xfree(f->tmp);
    xfree(f);
    return 0;
}

/* ---- helpers ---- */

/* The four files of one generation: "gen N <kind>\n" then FILLER bytes. Caller frees with
 * free_gen. Both files of a pair start with the same "gen N" so a reader can compare. */
struct gen {
    char *data[4];
    struct deploy_files files[4];
};

static void make_gen(struct gen *g, int n)
{
    static const char *names[4] = {"ecdsa.crt", "ecdsa.key", "rsa.crt", "rsa.key"};
    for (int i = 0; i < 4; i++) {
        char head[64];
        int h = snprintf(head, sizeof head, "gen %d %s\n", n, names[i]);
        g->data[i] = xmalloc((size_t)h + FILLER);
        memcpy(g->data[i], head, (size_t)h);
        memset(g->data[i] + h, 'a' + i, FILLER);
        int is_key = strstr(names[i], ".key") != NULL;
        g->files[i] = (struct deploy_files){.name = names[i],
                                            .data = g->data[i],
                                            .len = (size_t)h + FILLER,
                                            .mode = is_key ? DEPLOY_KEY_MODE : DEPLOY_CERT_MODE};
    }
}

static void free_gen(struct gen *g)
{
    for (int i = 0; i < 4; i++)
        xfree(g->data[i]);
}

static int deploy_gen(const char *root, const char *zone, const char *pack, int n)
{
    struct gen g;
    make_gen(&g, n);
    char why[512] = "";
    int rc = deploy_pack(root, zone, pack, g.files, 4, why, sizeof why);
    if (rc != 0)
        print_message("deploy_pack: %s\n", why);
    free_gen(&g);
    return rc;
}

/* The generation number a file's header names, or -1 when the file is not a complete
 * file of the given kind. */
static int file_gen(const char *data, size_t len, const char *name)
{
    int n = -1, used = 0;
    char kind[32];
    if (sscanf(data, "gen %d %31s%n", &n, kind, &used) != 2 || strcmp(kind, name) != 0)
        return -1;
    if (len != (size_t)used + 1 + FILLER)
        return -1;
    return n;
}

/* Entries of dir other than . and .., sorted, joined with spaces. Caller frees. */
static char *list_dir(const char *dir)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    assert_true(n >= 0);
    char *out = xstrdup("");
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
            char *next = xasprintf("%s%s%s", out, *out ? " " : "", list[i]->d_name);
            xfree(out);
            out = next;
        }
        free(list[i]);
    }
    free(list);
    return out;
}

static int count_entries(const char *dir)
{
    char *l = list_dir(dir);
    int n = 0;
    for (char *p = l; *p; n++) {
        char *sp = strchr(p, ' ');
        p = sp ? sp + 1 : p + strlen(p);
    }
    xfree(l);
    return n;
}

static char *zone_path(const struct fixture *f, const char *zone)
{
    return xasprintf("%s/%s", f->root, zone);
}

/* The target of the pack's symlink (asserting that it is one). Caller frees. */
static char *live_target(const struct fixture *f, const char *zone, const char *pack)
{
    char *link = deploy_pack_path(f->root, zone, pack);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char buf[4096];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    xfree(link);
    return xstrdup(buf);
}

/* Reads name through the pack's symlink and returns its generation (asserting it is
 * complete). */
static int live_gen(const struct fixture *f, const char *zone, const char *pack, const char *name)
{
    char *dir = deploy_pack_path(f->root, zone, pack);
    char *path = xasprintf("%s/%s", dir, name);
    xfree(dir);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fsutil_read_file(path, 1 << 20, &data, &len), 0);
    int g = file_gen(data, len, name);
    assert_true(g >= 0);
    xfree(data);
    xfree(path);
    return g;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ---- files, modes, swap ---- */

static void test_files_and_modes(void **state)
{
    struct fixture *f = *state;
    mode_t old_umask = umask(077); /* modes must not depend on the umask */
    struct gen g;
    make_gen(&g, 1);
    char why[256] = "";
    assert_int_equal(deploy_pack(f->root, ZONE, PACK, g.files, 4, why, sizeof why), 0);
    umask(old_umask);

    char *target = live_target(f, ZONE, PACK);
    assert_int_equal(target[0], '.'); /* relative sibling: the data dir can move */
    assert_null(strchr(target, '/'));
    assert_int_equal(strncmp(target + 1, PACK ".", strlen(PACK) + 1), 0);
    char *zpath = zone_path(f, ZONE);
    char *vdir = xasprintf("%s/%s", zpath, target);
    assert_int_equal(mode_of(vdir), 0755);
    char *want = xasprintf("%s %s", target, PACK); /* nothing else in the zone directory */
    char *have = list_dir(zpath);
    assert_string_equal(have, want);
    xfree(have);
    have = list_dir(vdir); /* exactly the four files, no temp files */
    assert_string_equal(have, "ecdsa.crt ecdsa.key rsa.crt rsa.key");
    xfree(have);

    char *dir = deploy_pack_path(f->root, ZONE, PACK);
    for (int i = 0; i < 4; i++) {
        char *path = xasprintf("%s/%s", dir, g.files[i].name);
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(fsutil_read_file(path, 1 << 20, &data, &len), 0);
        assert_int_equal(len, g.files[i].len);
        assert_memory_equal(data, g.files[i].data, len);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, strstr(path, ".key") ? 0600 : 0644);
        xfree(data);
        xfree(path);
    }
    free_gen(&g);
    xfree(dir);
    xfree(want);
    xfree(vdir);
    xfree(zpath);
    xfree(target);
}

static void test_swap_replaces_set_and_removes_old(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 1), 0);
    char *t1 = live_target(f, ZONE, PACK);
    assert_int_equal(live_gen(f, ZONE, PACK, "ecdsa.crt"), 1);
    assert_int_equal(live_gen(f, ZONE, PACK, "rsa.key"), 1);

    /* Another pack of the zone is not affected by this pack's swaps. */
    assert_int_equal(deploy_gen(f->root, ZONE, "otherpack", 7), 0);

    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 2), 0);
    char *t2 = live_target(f, ZONE, PACK);
    assert_string_not_equal(t1, t2);
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "ecdsa.key" : "rsa.crt";
        assert_int_equal(live_gen(f, ZONE, PACK, name), 2);
    }
    char *zpath = zone_path(f, ZONE);
    char *old = xasprintf("%s/%s", zpath, t1);
    struct stat st;
    assert_int_equal(lstat(old, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(count_entries(zpath), 4); /* two packs: link + directory each */
    assert_int_equal(live_gen(f, ZONE, "otherpack", "ecdsa.crt"), 7);

    char *dir = deploy_pack_path(f->root, ZONE, PACK);
    char *expect = xasprintf("%s/" ZONE "/" PACK, f->root);
    assert_string_equal(dir, expect);
    xfree(expect);
    xfree(dir);
    xfree(old);
    xfree(zpath);
    xfree(t2);
    xfree(t1);
}

/* A failed deployment (a file name given twice) changes nothing and leaves nothing. */
static void test_failed_deploy_leaves_old_set(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 1), 0);
    char *t1 = live_target(f, ZONE, PACK);
    struct gen g;
    make_gen(&g, 2);
    g.files[3].name = "ecdsa.crt";
    char why[256] = "";
    assert_int_equal(deploy_pack(f->root, ZONE, PACK, g.files, 4, why, sizeof why), -1);
    assert_non_null(strstr(why, "ecdsa.crt"));
    assert_null(strstr(why, "gen 2")); /* never file contents */
    assert_int_equal(deploy_pack(f->root, ZONE, PACK, g.files, 0, why, sizeof why), -1);
    free_gen(&g);
    char *t = live_target(f, ZONE, PACK);
    assert_string_equal(t, t1);
    assert_int_equal(live_gen(f, ZONE, PACK, "rsa.key"), 1);
    char *zpath = zone_path(f, ZONE);
    assert_int_equal(count_entries(zpath), 2);
    xfree(zpath);
    xfree(t);
    xfree(t1);
}

/* ---- a reader during 200 swaps ---- */

struct reader {
    const char *live;
    atomic_int stop;
    atomic_int pairs, retries, mismatches, torn, gaps;
};

static int read_at(int dfd, const char *name, char *buf, size_t cap, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    ssize_t r;
    while (used < cap - 1 && (r = read(fd, buf + used, cap - 1 - used)) > 0)
        used += (size_t)r;
    close(fd);
    buf[used] = '\0';
    *len = used;
    return 0;
}

/* Resolves the symlink once (like a server that opens the directory), then reads the
 * crt and key of both pairs. An old set can vanish under it (ENOENT): try again. */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    static const char *pairs[2][2] = {{"ecdsa.crt", "ecdsa.key"}, {"rsa.crt", "rsa.key"}};
    char *a = xmalloc(2 * FILLER), *b = xmalloc(2 * FILLER);
    while (!atomic_load(&r->stop)) {
        int dfd = open(r->live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            /* The live name must never be missing (the swap is one rename), though the set
             * it named may vanish between the readlink and the open. */
            if (errno == ENOENT && faccessat(AT_FDCWD, r->live, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
                atomic_fetch_add(&r->gaps, 1);
            else
                atomic_fetch_add(&r->retries, 1);
            continue;
        }
        for (int p = 0; p < 2; p++) {
            size_t la, lb;
            if (read_at(dfd, pairs[p][0], a, 2 * FILLER, &la) != 0 ||
                read_at(dfd, pairs[p][1], b, 2 * FILLER, &lb) != 0) {
                atomic_fetch_add(&r->retries, 1);
                continue;
            }
            int ga = file_gen(a, la, pairs[p][0]), gb = file_gen(b, lb, pairs[p][1]);
            if (ga < 0 || gb < 0)
                atomic_fetch_add(&r->torn, 1);
            else if (ga != gb)
                atomic_fetch_add(&r->mismatches, 1);
            else
                atomic_fetch_add(&r->pairs, 1);
        }
        close(dfd);
    }
    xfree(a);
    xfree(b);
    return NULL;
}

static void test_reader_never_sees_mixed_pair(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 0), 0);
    char *live = deploy_pack_path(f->root, ZONE, PACK);
    struct reader r = {.live = live};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
    for (int n = 1; n <= 200; n++)
        assert_int_equal(deploy_gen(f->root, ZONE, PACK, n), 0);
    atomic_store(&r.stop, 1);
    pthread_join(t, NULL);
    print_message("reader: %d matching pairs, %d retries\n", atomic_load(&r.pairs),
                  atomic_load(&r.retries));
    assert_int_equal(atomic_load(&r.mismatches), 0);
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_int_equal(atomic_load(&r.gaps), 0);
    assert_true(atomic_load(&r.pairs) > 0);
    assert_int_equal(live_gen(f, ZONE, PACK, "ecdsa.key"), 200);
    char *zpath = zone_path(f, ZONE);
    assert_int_equal(count_entries(zpath), 2);
    xfree(zpath);
    xfree(live);
}

/* ---- crash leftovers ---- */

static void write_file(const char *path, const char *data)
{
    assert_int_equal(fsutil_write_atomic(path, data, strlen(data), 0600, 0), 0);
}

/* Creates what crashes at each step of deploy_pack leave in zpath for pack:
 * a half-written versioned directory (a partial file and an fsutil temp file), a complete
 * directory with its temp symlink (crash just before the rename), and an old directory not
 * yet removed (crash just after it). Returns how many entries that is (4). */
static int make_leftovers(const char *zpath, const char *pack)
{
    char *half = xasprintf("%s/.%s.00000000000000a1", zpath, pack);
    assert_int_equal(mkdir(half, 0755), 0);
    char *p = xasprintf("%s/ecdsa.crt", half);
    write_file(p, "gen 99 ecdsa.crt\npartial");
    xfree(p);
    p = xasprintf("%s/.ecdsa.key.tmp.123.0011223344556677", half);
    write_file(p, "gen 99");
    xfree(p);

    char *full = xasprintf("%s/.%s.00000000000000b2", zpath, pack);
    assert_int_equal(mkdir(full, 0755), 0);
    static const char *names[4] = {"ecdsa.crt", "ecdsa.key", "rsa.crt", "rsa.key"};
    for (int i = 0; i < 4; i++) {
        p = xasprintf("%s/%s", full, names[i]);
        write_file(p, "gen 98");
        xfree(p);
    }
    char *link = xasprintf("%s/.%s.00000000000000b2.link", zpath, pack);
    assert_int_equal(symlink(strrchr(full, '/') + 1, link), 0);

    char *stale = xasprintf("%s/.%s.00000000000000c3", zpath, pack);
    assert_int_equal(mkdir(stale, 0755), 0);
    p = xasprintf("%s/ecdsa.crt", stale);
    write_file(p, "gen 97");
    xfree(p);
    xfree(half);
    xfree(full);
    xfree(link);
    xfree(stale);
    return 4;
}

static void test_sweep_removes_crash_leftovers(void **state)
{
    struct fixture *f = *state;
    char why[256] = "";
    assert_int_equal(deploy_sweep(f->root, NULL, NULL, why, sizeof why), 0); /* no root yet */
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 1), 0);
    assert_int_equal(deploy_gen(f->root, ZONE, "otherpack", 5), 0);
    char *zpath = zone_path(f, ZONE);
    char *before = list_dir(zpath);
    int made = make_leftovers(zpath, PACK);
    /* Things tlsward does not create are never touched. */
    char *foreign = xasprintf("%s/.keepme", zpath);
    write_file(foreign, "operator's");
    char *odd = xasprintf("%s/.%s.00000000000000d4", zpath, PACK); /* a file, not a dir */
    write_file(odd, "operator's");

    /* Leftovers never become visible: the live name still shows generation 1. */
    assert_int_equal(live_gen(f, ZONE, PACK, "ecdsa.crt"), 1);
    assert_int_equal(live_gen(f, ZONE, PACK, "rsa.key"), 1);

    /* A sweep of another pack touches none of this pack's leftovers. */
    assert_int_equal(deploy_sweep(f->root, ZONE, "otherpack", why, sizeof why), 0);
    assert_int_equal(deploy_sweep(f->root, ZONE, PACK, why, sizeof why), made);
    assert_int_equal(unlink(foreign), 0);
    assert_int_equal(unlink(odd), 0);
    char *after = list_dir(zpath);
    assert_string_equal(after, before);
    assert_int_equal(live_gen(f, ZONE, PACK, "ecdsa.key"), 1);
    assert_int_equal(live_gen(f, ZONE, "otherpack", "rsa.crt"), 5);
    assert_int_equal(deploy_sweep(f->root, ZONE, PACK, why, sizeof why), 0);

    /* The whole root: leftovers of a deleted pack in another zone too. */
    char *z2 = zone_path(f, "example.org");
    assert_int_equal(fsutil_mkdirs(z2, 0755), 0);
    made = make_leftovers(z2, "gonepack") + make_leftovers(zpath, PACK);
    assert_int_equal(deploy_sweep(f->root, NULL, NULL, why, sizeof why), made);
    assert_int_equal(count_entries(z2), 0);
    xfree(after);
    after = list_dir(zpath);
    assert_string_equal(after, before);

    /* deploy_pack sweeps its own pack's leftovers first. */
    make_leftovers(zpath, PACK);
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 2), 0);
    assert_int_equal(count_entries(zpath), 4);
    assert_int_equal(live_gen(f, ZONE, PACK, "rsa.crt"), 2);

    xfree(z2);
    xfree(odd);
    xfree(foreign);
    xfree(after);
    xfree(before);
    xfree(zpath);
}

/* A real crash: a child deploys in a loop and is killed with SIGKILL at a random moment.
 * The live name must always show one complete generation, and the sweep then leaves
 * exactly that set. */
static void test_kill9_mid_deploy(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 0), 0);
    char *zpath = zone_path(f, ZONE);
    int last = 0;
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int n = 1000 * (round + 1);; n++)
                if (deploy_gen(f->root, ZONE, PACK, n) != 0)
                    _exit(1);
        }
        unsigned char r;
        util_random_bytes(&r, 1);
        struct timespec ts = {.tv_nsec = (long)(1 + r % 40) * 1000000L};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st)); /* it was still deploying, not failed */

        int g = live_gen(f, ZONE, PACK, "ecdsa.crt");
        assert_int_equal(live_gen(f, ZONE, PACK, "ecdsa.key"), g);
        assert_int_equal(live_gen(f, ZONE, PACK, "rsa.crt"), g);
        assert_int_equal(live_gen(f, ZONE, PACK, "rsa.key"), g);
        assert_true(g == last || g >= 1000 * (round + 1));
        last = g;
        char why[256] = "";
        assert_true(deploy_sweep(f->root, ZONE, PACK, why, sizeof why) >= 0);
        assert_int_equal(count_entries(zpath), 2);
        assert_int_equal(live_gen(f, ZONE, PACK, "rsa.key"), g);
    }
    xfree(zpath);
}

/* ---- remove ---- */

static void test_remove(void **state)
{
    struct fixture *f = *state;
    char why[256] = "";
    /* Nothing deployed: success. */
    assert_int_equal(deploy_remove(f->root, ZONE, PACK, why, sizeof why), 0);
    assert_int_equal(deploy_gen(f->root, ZONE, PACK, 1), 0);
    assert_int_equal(deploy_gen(f->root, ZONE, "otherpack", 2), 0);
    char *zpath = zone_path(f, ZONE);
    make_leftovers(zpath, PACK);
    char *target = live_target(f, ZONE, PACK);
    assert_int_equal(deploy_remove(f->root, ZONE, PACK, why, sizeof why), 0);
    char *left = list_dir(zpath); /* only the other pack remains */
    char *other = live_target(f, ZONE, "otherpack");
    char *want = xasprintf("%s otherpack", other);
    assert_string_equal(left, want);
    assert_int_equal(live_gen(f, ZONE, "otherpack", "ecdsa.key"), 2);
    /* Again: still success. */
    assert_int_equal(deploy_remove(f->root, ZONE, PACK, why, sizeof why), 0);
    assert_int_equal(deploy_remove(f->root, "never.example", PACK, why, sizeof why), 0);

    /* A real directory where the symlink should be is not ours: refused, untouched. */
    char *real = deploy_pack_path(f->root, ZONE, "realdir");
    assert_int_equal(mkdir(real, 0755), 0);
    char *inside = xasprintf("%s/ecdsa.crt", real);
    write_file(inside, "operator's");
    assert_int_equal(deploy_remove(f->root, ZONE, "realdir", why, sizeof why), -1);
    assert_non_null(strstr(why, "not a symlink"));
    assert_int_equal(deploy_gen(f->root, ZONE, "realdir", 1), -1);
    assert_int_equal(access(inside, F_OK), 0);
    assert_int_equal(count_entries(zpath), 3);

    xfree(inside);
    xfree(real);
    xfree(want);
    xfree(other);
    xfree(left);
    xfree(target);
    xfree(zpath);
}

/* ---- names ---- */

static void test_refuses_unsafe_names(void **state)
{
    struct fixture *f = *state;
    static const char *bad[] = {"", ".", "..", ".hidden", "a/b", "../x", "/abs", "x/", "new\nline"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(deploy_name_ok(bad[i]));
    assert_false(deploy_name_ok(NULL));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(deploy_name_ok(longname));
    assert_true(deploy_name_ok("example.com"));
    assert_true(deploy_name_ok("*.example.com"));
    assert_true(deploy_name_ok(PACK));
    assert_true(deploy_name_ok("ecdsa.crt"));

    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(deploy_gen(f->root, bad[i], PACK, 1), -1);
        assert_int_equal(deploy_gen(f->root, ZONE, bad[i], 1), -1);
        assert_int_equal(deploy_remove(f->root, bad[i], PACK, why, sizeof why), -1);
        assert_int_equal(strncmp(why, "deploy: refusing", 16), 0);
        assert_int_equal(deploy_remove(f->root, ZONE, bad[i], why, sizeof why), -1);
        assert_int_equal(deploy_sweep(f->root, bad[i], NULL, why, sizeof why), -1);
        assert_int_equal(deploy_sweep(f->root, ZONE, bad[i], why, sizeof why), -1);
    }
    struct gen g;
    make_gen(&g, 1);
    g.files[1].name = "../../escape.key";
    assert_int_equal(deploy_pack(f->root, ZONE, PACK, g.files, 4, why, sizeof why), -1);
    g.files[1].name = ".hidden.key";
    assert_int_equal(deploy_pack(f->root, ZONE, PACK, g.files, 4, why, sizeof why), -1);
    free_gen(&g);
    /* Nothing at all was created (not even the deploy root). */
    assert_int_equal(count_entries(f->tmp), 0);
}

/* ---- the hook ---- */

static struct deploy_env sample_env(const char *dir, enum deploy_event event)
{
    static const char *hosts[] = {"example.com", "*.example.com", "www.example.com"};
    return (struct deploy_env){.zone = ZONE, .pack_id = PACK, .hosts = hosts, .n_hosts = 3,
                               .dir = dir, .event = event, .zone_id = ZONE_ID,
                               .account_id = ACCOUNT_ID};
}

static char *slurp(const char *path)
{
    char *data = NULL;
    assert_int_equal(fsutil_read_file(path, 1 << 20, &data, NULL), 0);
    return data;
}

static void test_hook_environment(void **state)
{
    struct fixture *f = *state;
    setenv("TLSWARD_TEST_SECRET", "must-not-leak", 1);
    char *out = xasprintf("%s/env.txt", f->tmp);
    char *hook = xasprintf("env > '%s'", out);
    struct deploy_env env = sample_env("/data/deploy/" ZONE "/" PACK, DEPLOY_EVENT_DEPLOY);
    char why[256] = "";
    assert_int_equal(deploy_run_hook(hook, &env, 10, why, sizeof why), 0);
    char *text = slurp(out);
    const char *want[] = {"TLSWARD_ZONE=example.com\n",
                          "TLSWARD_PACK_ID=" PACK "\n",
                          "TLSWARD_HOSTS=example.com *.example.com www.example.com\n",
                          "TLSWARD_DIR=/data/deploy/example.com/" PACK "\n",
                          "TLSWARD_EVENT=deploy\n",
                          "TLSWARD_ZONE_ID=" ZONE_ID "\n",
                          "TLSWARD_ACCOUNT_ID=" ACCOUNT_ID "\n",
                          "PATH="};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(text, want[i]))
            fail_msg("missing %s in:\n%s", want[i], text);
    /* Only PATH, TLSWARD_* and what the shell itself adds (PWD). */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "TLSWARD_", 8) != 0 && strncmp(line, "PATH=", 5) != 0 &&
            strncmp(line, "PWD=", 4) != 0 && strncmp(line, "SHLVL=", 6) != 0 &&
            strncmp(line, "_=", 2) != 0 && strncmp(line, "OLDPWD=", 7) != 0)
            fail_msg("unexpected variable in the hook's environment: %s", line);
    xfree(text);

    env = sample_env("/gone", DEPLOY_EVENT_DELETE);
    env.n_hosts = 1;
    assert_int_equal(deploy_run_hook(hook, &env, 10, why, sizeof why), 0);
    text = slurp(out);
    assert_non_null(strstr(text, "TLSWARD_EVENT=delete\n"));
    assert_non_null(strstr(text, "TLSWARD_HOSTS=example.com\n"));
    assert_null(strstr(text, "must-not-leak"));
    xfree(text);
    unsetenv("TLSWARD_TEST_SECRET");

    /* A server ignores SIGPIPE and blocks signals in its threads; the hook starts with the
     * defaults (neither ignored nor blocked, as its own programs expect). */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigset_t term, old_mask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
    /* exec: look at the program the hook runs, not at dash, which blocks every signal
     * for a moment around its own forks. */
    char *sig_hook = xasprintf("exec grep -E '^Sig(Ign|Blk)' /proc/self/status > '%s'", out);
    assert_int_equal(deploy_run_hook(sig_hook, &env, 10, why, sizeof why), 0);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
    text = slurp(out);
    unsigned long long blocked = 1, ignored = 1;
    if (sscanf(text, "SigBlk:\t%llx\nSigIgn:\t%llx", &blocked, &ignored) != 2)
        fail_msg("unexpected signal state: %s", text);
    assert_int_equal(blocked, 0);
    assert_int_equal(ignored & 0x7fffffffULL, 0); /* signals 1-31 (above: libc-internal) */
    xfree(text);
    xfree(sig_hook);

    /* A descriptor the process forgot to mark close-on-exec does not reach the hook. */
    int leaky = open("/dev/null", O_RDONLY);
    assert_true(leaky >= 0);
    assert_int_equal(dup2(leaky, 100), 100);
    assert_int_equal(
        deploy_run_hook("[ -e /proc/$$/fd/100 ] && exit 9; exit 0", &env, 10, why, sizeof why), 0);
    close(100);
    close(leaky);

    /* stdin is /dev/null: a hook that reads it does not hang. */
    assert_int_equal(deploy_run_hook("cat; exit 0", &env, 10, why, sizeof why), 0);
    /* No hook: nothing to do. */
    assert_int_equal(deploy_run_hook(NULL, &env, 10, why, sizeof why), 0);
    assert_int_equal(deploy_run_hook("", &env, 10, why, sizeof why), 0);
    xfree(hook);
    xfree(out);
}

static void test_hook_failure_reports_output(void **state)
{
    (void)state;
    struct deploy_env env = sample_env("/d", DEPLOY_EVENT_DEPLOY);
    char why[8192] = "";
    assert_int_equal(deploy_run_hook("echo first line; echo 'nginx: [emerg] bad' >&2; exit 3", &env,
                                     10, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "status 3"));
    assert_non_null(strstr(why, "first line"));
    assert_non_null(strstr(why, "nginx: [emerg] bad"));
    assert_null(strchr(why, '\n')); /* one log line */

    assert_int_equal(deploy_run_hook("exit 1", &env, 10, why, sizeof why), -1);
    assert_non_null(strstr(why, "(no output)"));
    assert_int_equal(deploy_run_hook("kill -TERM $$", &env, 10, why, sizeof why), -1);
    assert_non_null(strstr(why, "signal 15"));
    assert_int_equal(deploy_run_hook("no-such-command-tlsward", &env, 10, why, sizeof why), -1);
    assert_non_null(strstr(why, "status 127"));

    /* Lots of output: only the tail is kept. */
    assert_int_equal(deploy_run_hook("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); "
                                     "done; echo THE-END >&2; exit 2",
                                     &env, 20, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "THE-END"));
    assert_null(strstr(why, "line 1 "));
    assert_true(strlen(why) <= DEPLOY_HOOK_OUTPUT_MAX + 128);
    /* A small why buffer is filled, never overrun. */
    char small[16];
    assert_int_equal(deploy_run_hook("exit 4", &env, 10, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
    /* Every hook above was reaped. */
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Reaps every child (orphans re-parented to this subreaper included) within 5 s; each must
 * have died of SIGKILL. Returns how many; asserts that none is left. */
static int reap_all_killed(void)
{
    int n = 0;
    int64_t until = util_mono_us() + 5000000;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w < 0) {
            assert_int_equal(errno, ECHILD);
            return n;
        }
        if (w == 0) {
            assert_true(util_mono_us() < until);
            struct timespec ts = {.tv_nsec = 10000000};
            nanosleep(&ts, NULL);
            continue;
        }
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
        n++;
    }
}

static void test_hook_timeout_kills_group(void **state)
{
    struct fixture *f = *state;
    /* Orphans re-parent to this process, so we can see that they were killed. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    char *pidfile = xasprintf("%s/bg.pid", f->tmp), *shfile = xasprintf("%s/sh.pid", f->tmp);
    char *hook = xasprintf("echo $$ > '%s'; echo started; "
                           "sh -c 'sleep 30 & echo $! > \"%s\"; sleep 30'",
                           shfile, pidfile);
    struct deploy_env env = sample_env("/d", DEPLOY_EVENT_DEPLOY);
    char why[8192] = "";
    int64_t t0 = util_mono_us();
    assert_int_equal(deploy_run_hook(hook, &env, 1, why, sizeof why), -1);
    int64_t took = util_mono_us() - t0;
    assert_true(took >= 900000 && took < 5000000);
    assert_non_null(strstr(why, "timed out after 1 s"));
    assert_non_null(strstr(why, "started"));

    /* The hook's own shell was reaped by deploy_run_hook: no zombie of it is left. */
    char *text = slurp(shfile);
    text[strcspn(text, "\n")] = '\0';
    long long sh = 0;
    assert_int_equal(util_parse_int(text, 1, 1 << 30, &sh), 0);
    errno = 0;
    assert_int_equal(waitpid((pid_t)sh, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    xfree(text);

    text = slurp(pidfile);
    text[strcspn(text, "\n")] = '\0';
    long long bg = 0;
    assert_int_equal(util_parse_int(text, 1, 1 << 30, &bg), 0);
    /* The inner sh and the sleeps, unless the inner sh, dying, reaped its background sleep
     * itself (the kernel lets a wait in progress collect a zombie before the kill lands). */
    assert_true(reap_all_killed() >= 1);
    errno = 0; /* gone: killed, and reaped by us or its parent */
    assert_int_equal(kill((pid_t)bg, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    xfree(text);
    xfree(hook);
    xfree(shfile);
    xfree(pidfile);
}

/* A successful hook that leaves a background process holding its output returns at
 * once, and its exit is what counts. */
static void test_hook_background_child_does_not_block(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    char *pidfile = xasprintf("%s/bg.pid", f->tmp);
    char *hook = xasprintf("sleep 30 & echo $! > '%s'; exit 0", pidfile);
    struct deploy_env env = sample_env("/d", DEPLOY_EVENT_DEPLOY);
    char why[256] = "";
    int64_t t0 = util_mono_us();
    assert_int_equal(deploy_run_hook(hook, &env, 20, why, sizeof why), 0);
    assert_true(util_mono_us() - t0 < 3000000);
    char *text = slurp(pidfile);
    text[strcspn(text, "\n")] = '\0';
    long long bg = 0;
    assert_int_equal(util_parse_int(text, 1, 1 << 30, &bg), 0);
    assert_int_equal(kill((pid_t)bg, SIGKILL), 0);
    assert_int_equal(reap_all_killed(), 1);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    xfree(text);
    xfree(hook);
    xfree(pidfile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_replaces_set_and_removes_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_deploy_leaves_old_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_never_sees_mixed_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_removes_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_mid_deploy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_unsafe_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_failure_reports_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_background_child_does_not_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
