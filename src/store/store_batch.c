/* Group commit (both backends).
 *
 * With synchronous=FULL every COMMIT waits for an fsync, so one transaction per request
 * caps write throughput at the disk's fsync rate. Instead, concurrent writers queue their
 * work and one of them, the leader, commits everything queued in one transaction, each
 * item in its own SAVEPOINT (an item's failure undoes only its own work). Items arriving
 * while it commits form the next batch, so under load a batch holds every writer that
 * waited for the previous fsync.
 *
 * Hand-off. Each waiting writer sleeps on a condition variable of its own. When a leader
 * has committed it wakes exactly the writers of its batch (their result is set; an item
 * is acknowledged only after its commit), then, if more are queued, wakes only the oldest
 * of them to lead the next batch. Nobody else wakes up: with one shared condition and a
 * broadcast, 32 writers woke on every commit to find they were not done. A lone writer
 * finds no leader and commits at once, so batching adds no latency. */
#include "store/store_internal.h"

#include "common/log.h"

enum item_state {
    ITEM_QUEUED, /* waiting in the queue */
    ITEM_LEAD,   /* woken to commit the queue (it is its head) */
    ITEM_DONE,   /* committed or failed: rc is its result */
};

struct batch_item {
    store_batch_fn fn;
    void *ctx;
    int rc;
    enum item_state state;
    pthread_cond_t wake; /* signalled once, when state leaves ITEM_QUEUED */
    struct batch_item *next;
};

void store__batch_init(struct store *s)
{
    pthread_mutex_init(&s->batch_lock, NULL);
    s->batch_head = s->batch_tail = NULL;
    s->batch_leader = false;
    s->batch_queued = 0;
    s->batch_stats = (struct store_batch_stats){0};
}

void store__batch_destroy(struct store *s)
{
    /* What load did to the batches, for whoever measures it (said only when writes did
     * wait for one another: a CLI command's single writes are not news). */
    if (s->batch_stats.batches > 0)
        log_msg(s->batch_stats.largest > 1 ? LOG_INFO : LOG_DEBUG,
                "store: group commit: %llu writes in %llu transactions (largest %d)",
                (unsigned long long)s->batch_stats.items,
                (unsigned long long)s->batch_stats.batches, s->batch_stats.largest);
    pthread_mutex_destroy(&s->batch_lock);
}

void store_batch_stats(struct store *s, struct store_batch_stats *out)
{
    pthread_mutex_lock(&s->batch_lock);
    *out = s->batch_stats;
    out->queued = s->batch_queued;
    pthread_mutex_unlock(&s->batch_lock);
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
    /* One leader at a time: the writer connection is never used by two threads. */
    struct conn *c = s->writer ? s->writer : store__borrow(s);
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
    if (c != s->writer)
        store__give_back(s, c);
}

/* Detaches the whole queue (batch_lock held); counts it as one batch. */
static struct batch_item *take_all(struct store *s)
{
    struct batch_item *head = s->batch_head;
    int n = s->batch_queued;
    s->batch_head = s->batch_tail = NULL;
    s->batch_queued = 0;
    s->batch_stats.batches++;
    s->batch_stats.items += (uint64_t)n;
    if (n > s->batch_stats.largest)
        s->batch_stats.largest = n;
    return head;
}

/* Reports every item of a committed batch but the leader's own (batch_lock held), then
 * passes the lead to the oldest queued item, if any. */
static void finish(struct store *s, struct batch_item *head, struct batch_item *self)
{
    for (struct batch_item *it = head, *next; it; it = next) {
        next = it->next; /* read first: a finished item's owner may return at once */
        it->state = ITEM_DONE;
        if (it != self)
            pthread_cond_signal(&it->wake);
    }
    if (s->batch_head) {
        s->batch_head->state = ITEM_LEAD;
        pthread_cond_signal(&s->batch_head->wake);
    } else {
        s->batch_leader = false;
    }
}

int store__batch(struct store *s, store_batch_fn fn, void *ctx)
{
    /* Checked here, not only on the connection: another thread may lead the batch. */
    if (store__writable(s, "batched write") != STORE_OK)
        return STORE_ERROR;
    struct batch_item item = {.fn = fn, .ctx = ctx, .state = ITEM_QUEUED};
    pthread_cond_init(&item.wake, NULL);
    pthread_mutex_lock(&s->batch_lock);
    if (s->batch_tail)
        s->batch_tail->next = &item;
    else
        s->batch_head = &item;
    s->batch_tail = &item;
    s->batch_queued++;
    if (!s->batch_leader) {
        s->batch_leader = true; /* nobody commits: lead now (the queue was empty) */
        item.state = ITEM_LEAD;
    }
    while (item.state == ITEM_QUEUED) {
        pthread_cond_wait(&item.wake, &s->batch_lock);
        if (item.state == ITEM_QUEUED)
            s->batch_stats.idle_wakeups++; /* a spurious wake-up: nobody signalled */
    }
    if (item.state == ITEM_LEAD) {
        struct batch_item *head = take_all(s); /* this item is its head */
        pthread_mutex_unlock(&s->batch_lock);
        run_batch(s, head);
        pthread_mutex_lock(&s->batch_lock);
        finish(s, head, &item);
    }
    pthread_mutex_unlock(&s->batch_lock);
    pthread_cond_destroy(&item.wake);
    return item.rc;
}
