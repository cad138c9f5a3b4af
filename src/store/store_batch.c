/* Group commit (both backends).
 *
 * With synchronous=FULL every COMMIT waits for an fsync, so one transaction per request
 * caps write throughput at the disk's fsync rate. Instead, concurrent writers queue their
 * work and one of them, the leader, commits everything queued in one transaction, each
 * item in its own SAVEPOINT (an item's failure undoes only its own work). Items arriving
 * while it commits form the next batch, so under load a batch holds every writer that
 * waited for the previous fsync.
 *
 * Hand-off. Each waiting writer sleeps on a semaphore of its own. When a leader has
 * committed it wakes exactly the writers of its batch (their result is set; an item is
 * acknowledged only after its commit), then, if more are queued, wakes only the oldest of
 * them to lead the next batch. Nobody else wakes up: with one shared condition and a
 * broadcast, 32 writers woke on every commit to find they were not done. The wake-ups are
 * posted after the leader has let go of the queue's lock: with a condition variable they
 * had to be signalled under it, and every woken writer then blocked on that lock once more
 * before it could return (a second futex sleep and wake per write). A semaphore may be
 * posted outside any lock and destroyed as soon as its wait returns (glibc guarantees
 * both), so the leader reads what it needs of an item before posting it, and never
 * touches it after. A lone writer finds no leader and commits at once, so batching adds no
 * latency. */
#include "store/store_internal.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"

enum item_state {
    ITEM_QUEUED, /* waiting in the queue */
    ITEM_LEAD,   /* woken to commit the queue (it is its head) */
    ITEM_DONE,   /* committed or failed: rc is its result */
};

struct batch_item {
    store_batch_fn fn;
    void *ctx;
    int rc;
    _Atomic enum item_state state;
    sem_t wake; /* posted once, when state leaves ITEM_QUEUED */
    struct batch_item *next;
};

void store__batch_init(struct store *s)
{
    pthread_mutex_init(&s->batch_lock, NULL);
    s->batch_head = s->batch_tail = NULL;
    s->batch_leader = false;
    s->batch_queued = 0;
    s->batch_stats = (struct store_batch_stats){0};
    atomic_init(&s->batch_wait_us, 0);
}

void store__batch_destroy(struct store *s)
{
    /* What load did to the batches, for whoever measures it (said only when writes did
     * wait for one another: a CLI command's single writes are not news). */
    struct store_batch_stats st;
    store_batch_stats(s, &st);
    if (st.batches > 0)
        log_msg(st.largest > 1 ? LOG_INFO : LOG_DEBUG,
                "store: group commit: %llu writes in %llu transactions (largest %d); a write "
                "waited %llu us for its result, a commit took %llu us (means)",
                (unsigned long long)st.items, (unsigned long long)st.batches, st.largest,
                (unsigned long long)(st.items ? st.wait_us / st.items : 0),
                (unsigned long long)(st.commit_us / st.batches));
    pthread_mutex_destroy(&s->batch_lock);
}

void store_batch_stats(struct store *s, struct store_batch_stats *out)
{
    pthread_mutex_lock(&s->batch_lock);
    *out = s->batch_stats;
    out->queued = s->batch_queued;
    pthread_mutex_unlock(&s->batch_lock);
    out->wait_us = atomic_load(&s->batch_wait_us);
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

/* Commits a chain of items in one transaction; every item's rc is set. Returns the
 * transaction's duration in µs. */
static int64_t run_batch(struct store *s, struct batch_item *head)
{
    /* One leader at a time: the writer connection is never used by two threads. */
    struct conn *c = s->writer ? s->writer : store__borrow(s);
    int64_t began = util_mono_us();
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
    int64_t took = util_mono_us() - began;
    if (c != s->writer)
        store__give_back(s, c);
    return took;
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

/* Passes the lead to the oldest queued item, if any (batch_lock held); returns it, to be
 * woken once the lock is released. */
static struct batch_item *pass_lead(struct store *s)
{
    struct batch_item *next = s->batch_head;
    if (next)
        atomic_store(&next->state, ITEM_LEAD);
    else
        s->batch_leader = false;
    return next;
}

/* Wakes the next leader first (its batch's work and fsync can start while this one's
 * writers are being woken), then every item of the committed batch but the leader's own
 * (no lock held). An item's owner may return as soon as it is posted: read first. */
static void wake_batch(struct batch_item *head, struct batch_item *self,
                       struct batch_item *next_leader)
{
    if (next_leader)
        sem_post(&next_leader->wake);
    for (struct batch_item *it = head, *next; it; it = next) {
        next = it->next;
        if (it == self)
            continue;
        atomic_store(&it->state, ITEM_DONE);
        sem_post(&it->wake);
    }
}

/* Sleeps until the item is posted: once, when its state leaves ITEM_QUEUED. Only that post
 * ends the wait (an interrupted wait sleeps again), so no post can come after it returned
 * and destroyed the semaphore. */
static void wait_turn(struct batch_item *item)
{
    while (sem_wait(&item->wake) != 0)
        if (errno != EINTR) {
            log_msg(LOG_ERROR, "store: group commit: sem_wait failed");
            abort(); /* cannot happen with a valid semaphore */
        }
}

int store__batch(struct store *s, store_batch_fn fn, void *ctx)
{
    /* Checked here, not only on the connection: another thread may lead the batch. */
    if (store__writable(s, "batched write") != STORE_OK)
        return STORE_ERROR;
    int64_t queued_at = util_mono_us();
    struct batch_item item = {.fn = fn, .ctx = ctx, .state = ITEM_QUEUED};
    sem_init(&item.wake, 0, 0);
    pthread_mutex_lock(&s->batch_lock);
    if (s->batch_tail)
        s->batch_tail->next = &item;
    else
        s->batch_head = &item;
    s->batch_tail = &item;
    s->batch_queued++;
    bool lead_now = !s->batch_leader;
    if (lead_now) {
        s->batch_leader = true; /* nobody commits: lead now (the queue was empty) */
        atomic_store(&item.state, ITEM_LEAD);
    }
    pthread_mutex_unlock(&s->batch_lock);
    if (!lead_now)
        wait_turn(&item);
    if (atomic_load(&item.state) == ITEM_LEAD) {
        pthread_mutex_lock(&s->batch_lock);
        struct batch_item *head = take_all(s); /* this item is its head */
        pthread_mutex_unlock(&s->batch_lock);
        int64_t took = run_batch(s, head);
        pthread_mutex_lock(&s->batch_lock);
        s->batch_stats.commit_us += (uint64_t)took;
        struct batch_item *next_leader = pass_lead(s);
        pthread_mutex_unlock(&s->batch_lock);
        wake_batch(head, &item, next_leader);
    }
    sem_destroy(&item.wake);
    atomic_fetch_add(&s->batch_wait_us, (uint64_t)(util_mono_us() - queued_at));
    return item.rc;
}
