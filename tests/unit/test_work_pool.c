/* Unit tests of common/work_pool: every submitted item runs exactly once; one thread runs
 * items in submission order; items run concurrently on several threads (proved by items
 * that wait for each other, which one thread could never finish); stop runs what is still
 * queued before it returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common/work_pool.h"

#define ITEMS 1000

struct counted {
    struct work_item item;
    atomic_int *runs; /* this item's run count */
    int index;
    int *order;       /* where the single thread records the order */
    atomic_int *next; /* next free slot of order */
};

static void count_run(struct work_item *it)
{
    struct counted *c = (struct counted *)it;
    atomic_fetch_add(c->runs, 1);
    if (c->order)
        c->order[atomic_fetch_add(c->next, 1)] = c->index;
}

static void test_every_item_runs_once(void **state)
{
    (void)state;
    static struct counted items[ITEMS];
    static atomic_int runs[ITEMS];
    struct work_pool *p = work_pool_start(4, "test");
    assert_non_null(p);
    for (int i = 0; i < ITEMS; i++) {
        atomic_init(&runs[i], 0);
        items[i] = (struct counted){.runs = &runs[i], .index = i};
        work_pool_submit(p, &items[i].item, count_run);
    }
    work_pool_stop(p); /* runs the backlog before returning */
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(atomic_load(&runs[i]), 1);
}

static void test_one_thread_keeps_order(void **state)
{
    (void)state;
    static struct counted items[ITEMS];
    static atomic_int runs[ITEMS];
    static int order[ITEMS];
    atomic_int next = 0;
    struct work_pool *p = work_pool_start(1, "test");
    assert_non_null(p);
    for (int i = 0; i < ITEMS; i++) {
        atomic_init(&runs[i], 0);
        items[i] = (struct counted){.runs = &runs[i], .index = i, .order = order, .next = &next};
        work_pool_submit(p, &items[i].item, count_run);
    }
    work_pool_stop(p);
    assert_int_equal(atomic_load(&next), ITEMS);
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(order[i], i);
}

/* N items that each wait until all N have started: only N threads at once finish them. */
#define RENDEZVOUS 8
struct rendezvous {
    struct work_item item;
    pthread_mutex_t *lock;
    pthread_cond_t *all_in;
    int *arrived;
};

static void meet(struct work_item *it)
{
    struct rendezvous *r = (struct rendezvous *)it;
    pthread_mutex_lock(r->lock);
    if (++*r->arrived == RENDEZVOUS)
        pthread_cond_broadcast(r->all_in);
    while (*r->arrived < RENDEZVOUS)
        pthread_cond_wait(r->all_in, r->lock);
    pthread_mutex_unlock(r->lock);
}

static void test_items_run_concurrently(void **state)
{
    (void)state;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t all_in = PTHREAD_COND_INITIALIZER;
    int arrived = 0;
    struct rendezvous items[RENDEZVOUS];
    struct work_pool *p = work_pool_start(RENDEZVOUS, "test");
    assert_non_null(p);
    for (int i = 0; i < RENDEZVOUS; i++) {
        items[i] = (struct rendezvous){.lock = &lock, .all_in = &all_in, .arrived = &arrived};
        work_pool_submit(p, &items[i].item, meet);
    }
    work_pool_stop(p); /* would hang if the items ran one after another */
    assert_int_equal(arrived, RENDEZVOUS);
    assert_int_equal(work_pool_backlog(p = work_pool_start(1, "test")), 0);
    work_pool_stop(p);
}

static void test_stop_null_is_noop(void **state)
{
    (void)state;
    work_pool_stop(NULL);
    struct work_pool *p = work_pool_start(0, "test"); /* at least one thread */
    assert_non_null(p);
    work_pool_stop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_runs_once),
        cmocka_unit_test(test_one_thread_keeps_order),
        cmocka_unit_test(test_items_run_concurrently),
        cmocka_unit_test(test_stop_null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
