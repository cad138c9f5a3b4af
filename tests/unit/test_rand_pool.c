/* Unit tests for common/rand_pool: small draws from a thread's block of CSPRNG output are
 * all different (across refills of the block), large ones go to the CSPRNG directly, other
 * threads and a forked child never hand out the bytes this thread will. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rand_pool.h"

#define DRAW 10
#define DRAWS 1000 /* ~10 blocks of 1 KiB: every refill path */

static unsigned char draws[DRAWS][DRAW];

static int cmp_draw(const void *a, const void *b)
{
    return memcmp(a, b, DRAW);
}

static void test_small_draws_differ(void **state)
{
    (void)state;
    for (int i = 0; i < DRAWS; i++)
        rand_pool_bytes(draws[i], DRAW);
    qsort(draws, DRAWS, DRAW, cmp_draw);
    for (int i = 1; i < DRAWS; i++)
        assert_int_not_equal(memcmp(draws[i - 1], draws[i], DRAW), 0);
    /* Not a block of zeros handed out (what the pool wipes behind it). */
    static const unsigned char zero[DRAW];
    for (int i = 0; i < DRAWS; i++)
        assert_int_not_equal(memcmp(draws[i], zero, DRAW), 0);
}

/* Sizes around the direct-draw bound and a whole block: filled, and two draws differ. */
static void test_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, RAND_POOL_BLOCK / 4, RAND_POOL_BLOCK / 4 + 1, RAND_POOL_BLOCK,
                                   3 * RAND_POOL_BLOCK};
    static unsigned char a[3 * RAND_POOL_BLOCK], b[3 * RAND_POOL_BLOCK];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        if (n < 8)
            continue;
        memset(a, 0, n);
        memset(b, 0, n);
        rand_pool_bytes(a, n);
        rand_pool_bytes(b, n);
        assert_int_not_equal(memcmp(a, b, n), 0);
    }
    unsigned char one = 0;
    rand_pool_bytes(&one, 1);
    rand_pool_bytes(NULL, 0); /* nothing asked, nothing written */
}

static void *draw_in_thread(void *arg)
{
    rand_pool_bytes(arg, 16);
    return NULL;
}

/* Another thread has its own block: what it gets is not what this thread gets next. */
static void test_threads_differ(void **state)
{
    (void)state;
    unsigned char mine[16], theirs[16];
    rand_pool_bytes(mine, 4); /* this thread's block is filled */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, draw_in_thread, theirs), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    rand_pool_bytes(mine, sizeof mine);
    assert_int_not_equal(memcmp(mine, theirs, sizeof mine), 0);
}

/* A forked child starts with an empty block: its next bytes are not its parent's next. */
static void test_fork_child_differs(void **state)
{
    (void)state;
    unsigned char warm[4], parent[16], child[16];
    rand_pool_bytes(warm, sizeof warm); /* the parent's block holds unused bytes */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char got[16];
        rand_pool_bytes(got, sizeof got);
        ssize_t w = write(fds[1], got, sizeof got);
        _exit(w == (ssize_t)sizeof got ? 0 : 1);
    }
    close(fds[1]);
    ssize_t r = read(fds[0], child, sizeof child);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(r, (ssize_t)sizeof child);
    rand_pool_bytes(parent, sizeof parent);
    assert_int_not_equal(memcmp(parent, child, sizeof parent), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_draws_differ),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_threads_differ),
        cmocka_unit_test(test_fork_child_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
