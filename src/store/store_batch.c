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
 * latency.
 *
 * Asynchronous writes (store__batch_async). A caller that has something better to do than
 * sleep until its commit (a request handler: its answer is ready, and the committing thread
 * can hand it to the connection) queues its write with a completion instead. Such a write
 * has no thread to lead a batch, so the store has one of its own: the committer. It is
 * asked to lead when an asynchronous write finds nobody leading, and when a leader is done
 * and only asynchronous writes wait; it then commits batch after batch until the queue is
 * empty, waking the synchronous writers in its batches as any leader does. Under load it
 * never sleeps between batches, so no hand-off of the lead is paid per batch either. A
 * synchronous leader still passes the lead to the oldest synchronous writer when there is
 * one: its own wait stays bounded by its batch. */
#include "store/store_internal.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/alloc.h"
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
    sem_t wake; /* synchronous: posted once, when state leaves ITEM_QUEUED */
    /* Asynchronous (heap, freed once done has run): told the result. NULL: synchronous. */
    store_done_fn done;
    void *done_ctx;
    int64_t queued_at;
    struct batch_item *next;
};

static void *committer_main(void *arg);

void store__batch_init(struct store *s)
{
    pthread_mutex_init(&s->batch_lock, NULL);
    s->batch_head = s->batch_tail = NULL;
    s->batch_leader = false;
    s->batch_queued = 0;
    s->batch_stats = (struct store_batch_stats){0};
    atomic_init(&s->batch_wait_us, 0);
    pthread_cond_init(&s->committer_wake, NULL);
    s->committer_started = s->committer_wanted = s->committer_stop = false;
}

/* Starts the committer if it is not running (batch_lock held); false when it cannot be. */
static bool committer_ensure(struct store *s)
{
    if (s->committer_started)
        return true;
    s->committer_stop = false;
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        log_msg(LOG_WARN, "store: no committer thread: asynchronous writes commit in place");
        return false;
    }
    s->committer_started = true;
    return true;
}

void store__batch_stop(struct store *s)
{
    pthread_mutex_lock(&s->batch_lock);
    bool started = s->committer_started;
    s->committer_stop = true;
    pthread_cond_signal(&s->committer_wake);
    pthread_mutex_unlock(&s->batch_lock);
    if (started)
        pthread_join(s->committer, NULL);
    pthread_mutex_lock(&s->batch_lock);
    s->committer_started = false;
    pthread_mutex_unlock(&s->batch_lock);
}

void store__batch_destroy(struct store *s)
{
    store__batch_stop(s); /* done already by store_close; here for stores it never opened */
    pthread_cond_destroy(&s->committer_wake);
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

/* Detaches the whole queue (batch_lock held); counts it as one batch. A leader woken for its
 * own write takes every write queued before it too. */
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

/* Passes the lead on (batch_lock held): to the oldest synchronous writer queued, returned
 * to be woken once the lock is released; else, when asynchronous writes wait, to the
 * committer (signalled here, NULL returned); else to nobody. */
static struct batch_item *pass_lead(struct store *s)
{
    for (struct batch_item *it = s->batch_head; it; it = it->next)
        if (!it->done) {
            atomic_store(&it->state, ITEM_LEAD);
            return it;
        }
    if (s->batch_head) { /* only asynchronous writes: they exist only with a committer */
        s->committer_wanted = true;
        pthread_cond_signal(&s->committer_wake);
    } else {
        s->batch_leader = false;
    }
    return NULL;
}

/* Wakes the next leader first (its batch's work and fsync can start while this one's
 * writers are being woken), then every item of the committed batch but the leader's own
 * (no lock held): a synchronous one is posted, an asynchronous one told its result and
 * freed. An item's owner may return as soon as it is posted: read first. */
static void wake_batch(struct store *s, struct batch_item *head, struct batch_item *self,
                       struct batch_item *next_leader)
{
    if (next_leader)
        sem_post(&next_leader->wake);
    for (struct batch_item *it = head, *next; it; it = next) {
        next = it->next;
        if (it == self)
            continue;
        if (it->done) {
            atomic_fetch_add(&s->batch_wait_us, (uint64_t)(util_mono_us() - it->queued_at));
            it->done(it->done_ctx, it->rc);
            xfree(it);
            continue;
        }
        atomic_store(&it->state, ITEM_DONE);
        sem_post(&it->wake);
    }
}

/* Appends an item to the queue (batch_lock held). */
static void enqueue(struct store *s, struct batch_item *item)
{
    if (s->batch_tail)
        s->batch_tail->next = item;
    else
        s->batch_head = item;
    s->batch_tail = item;
    s->batch_queued++;
}

/* The committer: leads when asked, batch after batch until nothing is queued. */
static void *committer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->batch_lock);
    for (;;) {
        while (!s->committer_wanted && !s->committer_stop)
            pthread_cond_wait(&s->committer_wake, &s->batch_lock);
        if (!s->committer_wanted)
            break; /* stopping, and nothing was handed over */
        while (s->batch_head) {
            struct batch_item *head = take_all(s);
            pthread_mutex_unlock(&s->batch_lock);
            int64_t took = run_batch(s, head);
            pthread_mutex_lock(&s->batch_lock);
            s->batch_stats.commit_us += (uint64_t)took;
            pthread_mutex_unlock(&s->batch_lock);
            wake_batch(s, head, NULL, NULL);
            pthread_mutex_lock(&s->batch_lock);
        }
        s->committer_wanted = false;
        s->batch_leader = false;
    }
    pthread_mutex_unlock(&s->batch_lock);
    return NULL;
}

void store__batch_async(struct store *s, store_batch_fn fn, void *ctx, store_done_fn done,
                        void *done_ctx)
{
    if (store__writable(s, "batched write") != STORE_OK) {
        done(done_ctx, STORE_ERROR);
        return;
    }
    struct batch_item *item = xmalloc(sizeof *item); /* every field set just below */
    *item = (struct batch_item){.fn = fn,
                                .ctx = ctx,
                                .state = ITEM_QUEUED,
                                .done = done,
                                .done_ctx = done_ctx,
                                .queued_at = util_mono_us()};
    pthread_mutex_lock(&s->batch_lock);
    bool queued = committer_ensure(s);
    if (queued) {
        enqueue(s, item);
        if (!s->batch_leader) { /* nobody commits: the committer leads */
            s->batch_leader = true;
            s->committer_wanted = true;
            pthread_cond_signal(&s->committer_wake);
        }
    }
    pthread_mutex_unlock(&s->batch_lock);
    if (!queued) {
        xfree(item);
        done(done_ctx, store__batch(s, fn, ctx));
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
    enqueue(s, &item);
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
        struct batch_item *head = take_all(s); /* this item is in it */
        pthread_mutex_unlock(&s->batch_lock);
        int64_t took = run_batch(s, head);
        pthread_mutex_lock(&s->batch_lock);
        s->batch_stats.commit_us += (uint64_t)took;
        struct batch_item *next_leader = pass_lead(s);
        pthread_mutex_unlock(&s->batch_lock);
        wake_batch(s, head, &item, next_leader);
    }
    sem_destroy(&item.wake);
    atomic_fetch_add(&s->batch_wait_us, (uint64_t)(util_mono_us() - queued_at));
    return item.rc;
}
