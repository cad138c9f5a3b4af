/* Group commit (both backends).
 *
 * With synchronous=FULL every COMMIT waits for an fsync, so one transaction per request
 * caps write throughput at the disk's fsync rate. Instead, concurrent writers queue their
 * work; the first one to find no commit in progress becomes the leader, takes everything
 * queued, runs each item in its own SAVEPOINT inside one transaction, commits once, and
 * wakes the others with their results. Items arriving meanwhile form the next batch. A
 * lone writer is its own leader at once, so batching adds no latency. */
#include "store/store_internal.h"

#include "common/log.h"

#define BATCH_MAX 256

struct batch_item {
    store_batch_fn fn;
    void *ctx;
    int rc;
    bool done;
    struct batch_item *next;
};

void store__batch_init(struct store *s)
{
    pthread_mutex_init(&s->batch_lock, NULL);
    pthread_cond_init(&s->batch_done, NULL);
    s->batch_head = s->batch_tail = NULL;
    s->batch_leader = false;
}

void store__batch_destroy(struct store *s)
{
    pthread_cond_destroy(&s->batch_done);
    pthread_mutex_destroy(&s->batch_lock);
}

/* Runs one item in a savepoint so its failure (a constraint) undoes only its own work. */
static int run_item(struct conn *c, struct batch_item *it)
{
    int rc = store__exec(c, STMT_TX_SAVEPOINT, "savepoint");
    if (rc != STORE_OK)
        return rc;
    rc = it->fn(c, it->ctx);
    if (rc != STORE_OK)
        store__exec(c, STMT_TX_ROLLBACK_TO, "rollback to savepoint");
    int released = store__exec(c, STMT_TX_RELEASE, "release savepoint");
    return rc != STORE_OK ? rc : released;
}

/* Commits a chain of items in one transaction; every item's rc is set. */
static void run_batch(struct store *s, struct batch_item *head)
{
    struct conn *c = store__borrow(s);
    int rc = store__begin_immediate(c);
    for (struct batch_item *it = head; it; it = it->next)
        it->rc = rc == STORE_OK ? run_item(c, it) : rc;
    if (rc == STORE_OK)
        rc = store__commit(c);
    if (rc != STORE_OK) {
        store__rollback(c);
        for (struct batch_item *it = head; it; it = it->next)
            if (it->rc == STORE_OK)
                it->rc = STORE_ERROR; /* nothing of this batch is durable */
    }
    store__give_back(s, c);
}

/* Detaches up to BATCH_MAX queued items (called with batch_lock held). */
static struct batch_item *take_batch(struct store *s)
{
    struct batch_item *head = s->batch_head, *last = head;
    for (int n = 1; last && last->next && n < BATCH_MAX; n++)
        last = last->next;
    s->batch_head = last ? last->next : NULL;
    if (!s->batch_head)
        s->batch_tail = NULL;
    if (last)
        last->next = NULL;
    return head;
}

int store__batch(struct store *s, store_batch_fn fn, void *ctx)
{
    /* Checked here, not only on the connection: another thread may lead the batch. */
    if (store__writable(s, "batched write") != STORE_OK)
        return STORE_ERROR;
    struct batch_item item = {.fn = fn, .ctx = ctx};
    pthread_mutex_lock(&s->batch_lock);
    if (s->batch_tail)
        s->batch_tail->next = &item;
    else
        s->batch_head = &item;
    s->batch_tail = &item;
    while (!item.done) {
        if (s->batch_leader) {
            pthread_cond_wait(&s->batch_done, &s->batch_lock);
            continue;
        }
        s->batch_leader = true;
        struct batch_item *head = take_batch(s);
        pthread_mutex_unlock(&s->batch_lock);
        run_batch(s, head);
        pthread_mutex_lock(&s->batch_lock);
        for (struct batch_item *it = head, *next; it; it = next) {
            next = it->next; /* read first: a finished item's owner may return at once */
            it->done = true;
        }
        s->batch_leader = false;
        pthread_cond_broadcast(&s->batch_done);
    }
    pthread_mutex_unlock(&s->batch_lock);
    return item.rc;
}
