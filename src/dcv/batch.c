/* dcv_check_batch (declared in dcv.h): one job's checks run concurrently on a few threads
 * under one deadline, so a slow DNS server costs a job one budget, not one timeout per
 * host. Each thread takes the next unclaimed check; a check starts with its timeouts cut to
 * what is left of the budget, and one not started by the deadline fails as timed out. */
#include "dcv/dcv.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/alloc.h"
#include "common/util.h"

struct batch {
    const struct dcv_resolver *r;
    struct dcv_check *checks;
    size_t n;
    atomic_size_t next; /* the next check nobody has taken */
    int64_t deadline;   /* monotonic µs */
};

static int min_int(int a, int64_t b)
{
    return b < a ? (int)b : a;
}

/* Runs one check with its timeouts cut to what is left of the budget. */
static void batch_run_one(const struct batch *b, struct dcv_check *c)
{
    int64_t left_ms = (b->deadline - util_mono_us()) / 1000;
    if (left_ms <= 0) {
        c->status = DCV_ERROR;
        if (c->kind == DCV_CHECK_TXT)
            c->why = xasprintf("TXT check at %s timed out (the job's %d ms budget ran out)",
                               c->name, b->r->budget_ms);
        else if (c->kind == DCV_CHECK_HTTP)
            c->why = xasprintf("HTTP check of http://%s/.well-known/acme-challenge/%s timed out "
                               "(the job's %d ms budget ran out)",
                               c->host, c->token, b->r->budget_ms);
        else
            c->why = xasprintf("CAA check of %s timed out (the job's %d ms budget ran out)",
                               c->host, b->r->budget_ms);
        return;
    }
    struct dcv_resolver r = *b->r;
    r.dns_timeout_ms = min_int(r.dns_timeout_ms, left_ms);
    r.http_timeout_ms = min_int(r.http_timeout_ms, left_ms);
    switch (c->kind) {
    case DCV_CHECK_TXT:
        c->status = c->target
                        ? dcv_check_txt_delegated(&r, c->name, c->target, c->expected, &c->why)
                        : dcv_check_txt(&r, c->name, c->expected, &c->why);
        break;
    case DCV_CHECK_HTTP:
        c->status = dcv_check_http(&r, c->host, c->token, c->body, &c->why);
        break;
    case DCV_CHECK_CAA:
        c->status = dcv_check_caa(&r, c->host, c->ca, c->validation_method, &c->why);
        break;
    }
}

static void *batch_thread(void *arg)
{
    struct batch *b = arg;
    for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;)
        batch_run_one(b, &b->checks[i]);
    return NULL;
}

void dcv_check_batch(const struct dcv_resolver *r, struct dcv_check *checks, size_t n)
{
    assert(r && (checks || n == 0));
    struct batch b = {.r = r,
                      .checks = checks,
                      .n = n,
                      .deadline = util_mono_us() + (int64_t)r->budget_ms * 1000};
    atomic_init(&b.next, 0);
    for (size_t i = 0; i < n; i++) {
        checks[i].status = DCV_ERROR;
        checks[i].why = NULL;
    }
    pthread_t threads[DCV_BATCH_THREADS];
    size_t started = 0, want = n < DCV_BATCH_THREADS ? n : DCV_BATCH_THREADS;
    /* The calling thread takes part too, so a batch runs even if no thread can start. */
    for (; started + 1 < want; started++) {
        if (pthread_create(&threads[started], NULL, batch_thread, &b) != 0)
            break;
    }
    batch_thread(&b);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}
