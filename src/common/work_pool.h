/* A pool of threads for blocking work (signing, waiting for a group commit, a query
 * over the network), so that the HTTP event threads never wait on it.
 *
 * Items are intrusive: the caller embeds a struct work_item in its own object and keeps it
 * alive until the item's function has run. Items run in submission order, each exactly once,
 * on whichever thread is free. */
#ifndef TLSWARD_COMMON_WORK_POOL_H
#define TLSWARD_COMMON_WORK_POOL_H

#include <stddef.h>

struct work_item;
typedef void (*work_fn)(struct work_item *item);

struct work_item {
    work_fn fn;
    struct work_item *next; /* the pool's queue */
};

struct work_pool;

/* A pool of up to max_threads threads (at least 1), started as items need them: one at
 * once, another whenever an item is queued while no idle thread is left for it. NULL when
 * not even one thread could be started. name (up to 10 characters) names the threads. */
struct work_pool *work_pool_start(int max_threads, const char *name);
/* Queues item->fn(item). */
void work_pool_submit(struct work_pool *pool, struct work_item *item, work_fn fn);
/* Items queued and not yet started (for tests and metrics). */
size_t work_pool_backlog(struct work_pool *pool);
/* Runs what is queued, then joins the threads and frees the pool. NULL is a no-op. */
void work_pool_stop(struct work_pool *pool);

#endif
