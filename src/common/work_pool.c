/* Thread pool with one FIFO queue, grown on demand up to its size: a submission that finds
 * no idle thread starts one, so an idle server has few threads (and starts and stops
 * quickly) while a burst of blocked requests gets a thread each. One condition variable,
 * signalled once per item, so a submission wakes at most one idle thread (no thundering
 * herd); a stop broadcasts. */
#define _GNU_SOURCE /* pthread_setname_np: names show in top and perf */
#include "common/work_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/alloc.h"
#include "common/log.h"

struct work_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct work_item *head, *tail;
    size_t backlog;
    bool stopping;
    int idle;     /* threads waiting for an item */
    int nthreads; /* started */
    int max_threads;
    char name[11];
    pthread_t *threads;
};

/* The next item, or NULL once the pool stops with an empty queue. */
static struct work_item *take(struct work_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->idle++;
    while (!p->head && !p->stopping)
        pthread_cond_wait(&p->ready, &p->lock);
    p->idle--;
    struct work_item *it = p->head;
    if (it) {
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        p->backlog--;
    }
    pthread_mutex_unlock(&p->lock);
    return it;
}

static void *run(void *arg)
{
    struct work_pool *p = arg;
    struct work_item *it;
    while ((it = take(p)) != NULL)
        it->fn(it);
    return NULL;
}

/* Starts one more thread; the caller holds the lock. False when none could start. */
static bool add_thread_locked(struct work_pool *p)
{
    if (pthread_create(&p->threads[p->nthreads], NULL, run, p) != 0)
        return false;
    char thread_name[16]; /* the kernel's limit, with the NUL */
    snprintf(thread_name, sizeof thread_name, "%s-%d", p->name, p->nthreads % 1000);
    pthread_setname_np(p->threads[p->nthreads], thread_name);
    p->nthreads++;
    return true;
}

struct work_pool *work_pool_start(int max_threads, const char *name)
{
    struct work_pool *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    p->max_threads = max_threads > 0 ? max_threads : 1;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->threads = xcalloc((size_t)p->max_threads, sizeof *p->threads);
    pthread_mutex_lock(&p->lock);
    bool started = add_thread_locked(p);
    pthread_mutex_unlock(&p->lock);
    if (!started) {
        log_msg(LOG_ERROR, "%s: cannot start a thread", name);
        work_pool_stop(p);
        return NULL;
    }
    return p;
}

void work_pool_submit(struct work_pool *p, struct work_item *item, work_fn fn)
{
    item->fn = fn;
    item->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = item;
    else
        p->head = item;
    p->tail = item;
    p->backlog++;
    /* Every idle thread may already have been signalled for an earlier item: start another
     * thread when the queue is longer than the idle threads can take. */
    if ((size_t)p->idle < p->backlog && p->nthreads < p->max_threads && !add_thread_locked(p) &&
        p->nthreads == 0)
        log_msg(LOG_ERROR, "%s: cannot start a thread", p->name);
    pthread_mutex_unlock(&p->lock);
    /* Signalled after the lock is let go: a thread woken while it was still held ran at
     * once on the other core only to sleep again on the lock, a second futex round trip
     * per item. The item is queued already, so no wake-up can be missed. */
    pthread_cond_signal(&p->ready);
}

size_t work_pool_backlog(struct work_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->backlog;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void work_pool_stop(struct work_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->lock);
    xfree(p->threads);
    xfree(p);
}
