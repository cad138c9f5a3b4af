/* Group commit (both backends).
 *
 * With synchronous=FULL every COMMIT waits for an fsync, so one transaction per request
 * caps write throughput at the disk's fsync rate. Instead, concurrent writers queue their
 * work and one of them, the leader, commits everything queued in one transaction, each
 * item in its own SAVEPOINT (an item's failure undoes only its own work). Items arriving
 * while it commits form the next batch, so under load a batch holds every writer that
 * waited for the previous fsync.
 *
 * Hand-off. Each waiting writer sleeps on a word of its own (its item's state, a futex).
 * When a leader has committed it first wakes the oldest queued writer, if any, to lead the
 * next batch (whose transaction then runs while this one's writers are answered), then
 * exactly the writers of its batch (their result is set; an item is acknowledged only
 * after its commit). Nobody else wakes up: with one shared condition and a broadcast, 32
 * writers woke on every commit to find they were not done. A woken writer needs no lock:
 * with a condition variable signalled under the queue's lock, each one woke only to sleep
 * again on that lock (two more context switches per write under load). A lone writer
 * finds no leader and commits at once, so batching adds no latency. */
#include "store/store_internal.h"

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    _Atomic int state; /* an item_state; its owner sleeps on it while ITEM_QUEUED */
    struct batch_item *next;
};

_Static_assert(sizeof(_Atomic int) == sizeof(int), "an item's state is a futex word");

/* Sets an item's state (once it leaves ITEM_QUEUED) and wakes its owner. The owner may
 * return as soon as the state is stored (the item lives on its stack): nothing of the item
 * is read after it, and a wake-up that then finds nobody waiting there does nothing. */
static void item_release(struct batch_item *it, enum item_state state)
{
    int *word = (int *)&it->state;
    atomic_store_explicit(&it->state, (int)state, memory_order_release);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps until the item leaves ITEM_QUEUED (its result, or the lead, is then visible). */
static enum item_state item_wait(struct store *s, struct batch_item *it)
{
    int state;
    while ((state = atomic_load_explicit(&it->state, memory_order_acquire)) == ITEM_QUEUED) {
        syscall(SYS_futex, (int *)&it->state, FUTEX_WAIT_PRIVATE, ITEM_QUEUED, NULL, NULL, 0);
        if (atomic_load_explicit(&it->state, memory_order_acquire) == ITEM_QUEUED) {
            pthread_mutex_lock(&s->batch_lock); /* a wake-up nobody meant for it */
            s->batch_stats.idle_wakeups++;
            pthread_mutex_unlock(&s->batch_lock);
        }
    }
    return (enum item_state)state;
}

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

/* After a batch's commit: passes the lead to the oldest queued item, if any, so the next
 * batch begins, then reports every item of the batch but the leader's own. */
static void finish(struct store *s, struct batch_item *head, struct batch_item *self)
{
    pthread_mutex_lock(&s->batch_lock);
    struct batch_item *next_leader = s->batch_head;
    if (!next_leader)
        s->batch_leader = false;
    pthread_mutex_unlock(&s->batch_lock);
    /* Queued, it stays the queue's head until its owner, the only one who takes the
     * queue while batch_leader is set, wakes up as leader. */
    if (next_leader)
        item_release(next_leader, ITEM_LEAD);
    for (struct batch_item *it = head, *next; it; it = next) {
        next = it->next; /* read first: a finished item's owner may return at once */
        if (it != self)
            item_release(it, ITEM_DONE);
    }
}

int store__batch(struct store *s, store_batch_fn fn, void *ctx)
{
    /* Checked here, not only on the connection: another thread may lead the batch. */
    if (store__writable(s, "batched write") != STORE_OK)
        return STORE_ERROR;
    struct batch_item item = {.fn = fn, .ctx = ctx, .state = ITEM_QUEUED};
    pthread_mutex_lock(&s->batch_lock);
    if (s->batch_tail)
        s->batch_tail->next = &item;
    else
        s->batch_head = &item;
    s->batch_tail = &item;
    s->batch_queued++;
    if (!s->batch_leader) {
        s->batch_leader = true; /* nobody commits: lead now (the queue was empty) */
        atomic_store_explicit(&item.state, ITEM_LEAD, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->batch_lock);
    if (item_wait(s, &item) == ITEM_LEAD) {
        pthread_mutex_lock(&s->batch_lock);
        struct batch_item *head = take_all(s); /* this item is its head */
        pthread_mutex_unlock(&s->batch_lock);
        run_batch(s, head);
        finish(s, head, &item);
    }
    return item.rc;
}
