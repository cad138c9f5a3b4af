/* Token buckets in a chained hash table guarded by one mutex. Keys are credential ids
 * (token ids, user ids), so the table grows only with credentials that authenticated. */
#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"

#define RATELIMIT_BUCKETS 1024

struct bucket {
    struct bucket *next;
    char *key;
    double tokens;
    int64_t updated_us;
};

struct ratelimit {
    long count;
    int64_t window_us;
    pthread_mutex_t lock;
    struct bucket *slots[RATELIMIT_BUCKETS];
};

struct ratelimit *ratelimit_create(long count, int64_t window_us)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->count = count;
    rl->window_us = window_us > 0 ? window_us : 1;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < RATELIMIT_BUCKETS; i++) {
        struct bucket *b = rl->slots[i];
        while (b) {
            struct bucket *next = b->next;
            xfree(b->key);
            xfree(b);
            b = next;
        }
    }
    pthread_mutex_destroy(&rl->lock);
    xfree(rl);
}

static size_t hash_key(const char *key)
{
    size_t h = 5381; /* djb2: keys are random ids, any spread is fine */
    for (; *key; key++)
        h = h * 33 + (unsigned char)*key;
    return h % RATELIMIT_BUCKETS;
}

static struct bucket *find_or_add(struct ratelimit *rl, const char *key, int64_t now_us)
{
    size_t slot = hash_key(key);
    for (struct bucket *b = rl->slots[slot]; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            return b;
    struct bucket *b = xcalloc(1, sizeof *b);
    b->key = xstrdup(key);
    b->tokens = (double)rl->count;
    b->updated_us = now_us;
    b->next = rl->slots[slot];
    rl->slots[slot] = b;
    return b;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s)
{
    if (rl->count <= 0)
        return true;
    double per_us = (double)rl->count / (double)rl->window_us;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = find_or_add(rl, key, now_us);
    if (now_us > b->updated_us) {
        b->tokens += (double)(now_us - b->updated_us) * per_us;
        if (b->tokens > (double)rl->count)
            b->tokens = (double)rl->count;
        b->updated_us = now_us;
    }
    bool allowed = b->tokens >= 1.0;
    if (allowed)
        b->tokens -= 1.0;
    else
        *retry_after_s = (long)ceil((1.0 - b->tokens) / per_us / 1e6);
    pthread_mutex_unlock(&rl->lock);
    if (!allowed && *retry_after_s < 1)
        *retry_after_s = 1;
    return allowed;
}

int ratelimit_parse(const char *spec, long *count, int64_t *window_us)
{
    if (strcmp(spec, "0") == 0) {
        *count = 0;
        *window_us = 1;
        return 0;
    }
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || slash - spec > 12)
        return -1;
    char number[16];
    memcpy(number, spec, (size_t)(slash - spec));
    number[slash - spec] = '\0';
    long long n;
    if (util_parse_int(number, 0, 100000000, &n) < 0 || util_parse_duration(slash + 1, window_us) < 0 ||
        *window_us <= 0)
        return -1;
    *count = (long)n;
    return 0;
}
