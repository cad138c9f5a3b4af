/* Unit tests of common/fsutil: atomic writes (content, mode, exclusivity, no temp files
 * left), whole-file reads with a cap, directory fsync and mkdir -p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "testutil.h"

/* Each test gets a fresh directory under /tmp, removed (recursively) afterwards. */
static int setup_dir(void **state)
{
    char *dir = xstrdup("/tmp/tlsward-test-fsutil-XXXXXX");
    if (!mkdtemp(dir)) {
        xfree(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    tu_remove_tree(*state);
    xfree(*state);
    return 0;
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void assert_file_is(const char *path, const char *content, mode_t mode)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fsutil_read_file(path, 1 << 20, &data, &len), 0);
    assert_int_equal(len, strlen(content));
    assert_memory_equal(data, content, len);
    assert_int_equal(data[len], '\0');
    xfree(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
}

static void test_write_atomic_content_and_mode(void **state)
{
    char *path = xasprintf("%s/file.txt", (char *)*state);
    mode_t old = umask(022); /* the mode must be exact despite the umask */
    assert_int_equal(fsutil_write_atomic(path, "hello\n", 6, 0640, 0), 0);
    assert_file_is(path, "hello\n", 0640);
    /* Non-exclusive replaces the content and the mode. */
    assert_int_equal(fsutil_write_atomic(path, "second version", 14, 0600, 0), 0);
    assert_file_is(path, "second version", 0600);
    /* Group-writable mode survives a 022 umask. */
    assert_int_equal(fsutil_write_atomic(path, "x", 1, 0660, 0), 0);
    assert_file_is(path, "x", 0660);
    umask(old);
    assert_int_equal(count_entries(*state), 1); /* no temp file left behind */
    xfree(path);
}

static void test_write_atomic_empty_and_large(void **state)
{
    char *path = xasprintf("%s/empty", (char *)*state);
    assert_int_equal(fsutil_write_atomic(path, "", 0, 0600, 0), 0);
    assert_file_is(path, "", 0600);
    xfree(path);

    /* 3 MiB of a pattern: exercises the write loop and the read growth. */
    size_t n = 3u << 20;
    char *big = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    path = xasprintf("%s/big", (char *)*state);
    assert_int_equal(fsutil_write_atomic(path, big, n, 0600, 1), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fsutil_read_file(path, n, &data, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(data, big, n);
    xfree(data);
    xfree(big);
    xfree(path);
    assert_int_equal(count_entries(*state), 2);
}

static void test_write_atomic_exclusive(void **state)
{
    char *path = xasprintf("%s/key", (char *)*state);
    assert_int_equal(fsutil_write_atomic(path, "first", 5, 0600, 1), 0);
    errno = 0;
    assert_int_equal(fsutil_write_atomic(path, "second", 6, 0600, 1), -1);
    assert_int_equal(errno, EEXIST);
    assert_file_is(path, "first", 0600);        /* untouched */
    assert_int_equal(count_entries(*state), 1); /* the temp file was removed */

    /* An existing directory entry of any kind counts (here a dangling symlink). */
    char *link_path = xasprintf("%s/dangling", (char *)*state);
    assert_int_equal(symlink("/nonexistent/target", link_path), 0);
    errno = 0;
    assert_int_equal(fsutil_write_atomic(link_path, "x", 1, 0600, 1), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(count_entries(*state), 2);
    xfree(link_path);
    xfree(path);
}

static void test_write_atomic_missing_dir(void **state)
{
    char *path = xasprintf("%s/no/such/dir/file", (char *)*state);
    errno = 0;
    assert_int_equal(fsutil_write_atomic(path, "x", 1, 0600, 0), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(count_entries(*state), 0);
    xfree(path);
}

static void test_write_atomic_relative_path(void **state)
{
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(*state), 0);
    assert_int_equal(fsutil_write_atomic("bare-name", "abc", 3, 0644, 1), 0);
    assert_int_equal(chdir(cwd), 0);
    char *path = xasprintf("%s/bare-name", (char *)*state);
    assert_file_is(path, "abc", 0644);
    assert_int_equal(count_entries(*state), 1);
    xfree(path);
}

static void test_read_file_limits(void **state)
{
    char *path = xasprintf("%s/f", (char *)*state);
    assert_int_equal(fsutil_write_atomic(path, "0123456789", 10, 0600, 0), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fsutil_read_file(path, 10, &data, &len), 0); /* exactly max is fine */
    assert_int_equal(len, 10);
    assert_string_equal(data, "0123456789");
    xfree(data);
    data = NULL;
    errno = 0;
    assert_int_equal(fsutil_read_file(path, 9, &data, &len), -1); /* one over */
    assert_int_equal(errno, EFBIG);
    assert_null(data);
    char *missing = xasprintf("%s/missing", (char *)*state);
    errno = 0;
    assert_int_equal(fsutil_read_file(missing, 100, &data, &len), -1);
    assert_int_equal(errno, ENOENT);
    xfree(missing);
    xfree(path);
}

static void test_fsync_dir(void **state)
{
    assert_int_equal(fsutil_fsync_dir(*state), 0); /* a directory itself */
    char *file = xasprintf("%s/not-yet-created", (char *)*state);
    assert_int_equal(fsutil_fsync_dir(file), 0); /* the directory containing it */
    xfree(file);
    errno = 0;
    assert_int_equal(fsutil_fsync_dir("/nonexistent-tlsward/dir/file"), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_mkdirs(void **state)
{
    char *deep = xasprintf("%s/a/b//c/", (char *)*state);
    mode_t old = umask(0);
    assert_int_equal(fsutil_mkdirs(deep, 0750), 0);
    umask(old);
    struct stat st;
    char *c = xasprintf("%s/a/b/c", (char *)*state);
    assert_int_equal(stat(c, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    char *a = xasprintf("%s/a", (char *)*state);
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    /* Idempotent. */
    assert_int_equal(fsutil_mkdirs(deep, 0750), 0);
    assert_int_equal(fsutil_mkdirs(*state, 0700), 0);

    /* A file in the way is ENOTDIR. */
    char *file = xasprintf("%s/a/file", (char *)*state);
    assert_int_equal(fsutil_write_atomic(file, "x", 1, 0600, 0), 0);
    char *under = xasprintf("%s/sub", file);
    errno = 0;
    assert_int_equal(fsutil_mkdirs(under, 0700), -1);
    assert_int_equal(errno, ENOTDIR);
    errno = 0;
    assert_int_equal(fsutil_mkdirs(file, 0700), -1);
    assert_int_equal(errno, ENOTDIR);
    xfree(under);
    xfree(file);
    xfree(a);
    xfree(c);
    xfree(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic_content_and_mode, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_atomic_empty_and_large, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_atomic_exclusive, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_atomic_missing_dir, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_atomic_relative_path, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_file_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_fsync_dir, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
