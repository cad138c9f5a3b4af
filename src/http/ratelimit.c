/* Token buckets in a chained hash table guarded by one mutex, at most RATELIMIT_MAX_KEYS of
 * them: a bucket that has refilled to capacity carries no information and is dropped when
 * room is needed. */
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
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
    size_t keys;
    int64_t swept_us; /* last drop_full: at most one sweep a second, whatever the load */
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

static struct bucket *find(struct ratelimit *rl, const char *key)
{
    for (struct bucket *b = rl->slots[hash_key(key)]; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            return b;
    return NULL;
}

/* Brings a bucket's tokens up to now (a clock going backwards grants nothing). */
static void refill(const struct ratelimit *rl, struct bucket *b, int64_t now_us)
{
    if (now_us <= b->updated_us)
        return;
    b->tokens += (double)(now_us - b->updated_us) * ((double)rl->count / (double)rl->window_us);
    if (b->tokens > (double)rl->count)
        b->tokens = (double)rl->count;
    b->updated_us = now_us;
}

/* Drops every bucket that is full again at now_us. */
static void drop_full(struct ratelimit *rl, int64_t now_us)
{
    for (size_t i = 0; i < RATELIMIT_BUCKETS; i++) {
        for (struct bucket **link = &rl->slots[i]; *link;) {
            struct bucket *b = *link;
            refill(rl, b, now_us);
            if (b->tokens >= (double)rl->count) {
                *link = b->next;
                xfree(b->key);
                xfree(b);
                rl->keys--;
            } else {
                link = &b->next;
            }
        }
    }
}

/* The key's bucket, created full; NULL when the table is full of buckets in use. */
static struct bucket *find_or_add(struct ratelimit *rl, const char *key, int64_t now_us)
{
    struct bucket *b = find(rl, key);
    if (b)
        return b;
    if (rl->keys >= RATELIMIT_MAX_KEYS && (rl->swept_us == 0 || now_us - rl->swept_us >= 1000000)) {
        rl->swept_us = now_us;
        drop_full(rl, now_us);
    }
    if (rl->keys >= RATELIMIT_MAX_KEYS)
        return NULL;
    size_t slot = hash_key(key);
    b = xcalloc(1, sizeof *b);
    b->key = xstrdup(key);
    b->tokens = (double)rl->count;
    b->updated_us = now_us;
    b->next = rl->slots[slot];
    rl->slots[slot] = b;
    rl->keys++;
    return b;
}

/* Whole seconds (>= 1) until b has one request again. */
static long seconds_to_next(const struct ratelimit *rl, const struct bucket *b)
{
    double per_us = (double)rl->count / (double)rl->window_us;
    long s = (long)ceil((1.0 - b->tokens) / per_us / 1e6);
    return s < 1 ? 1 : s;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s)
{
    if (rl->count <= 0)
        return true;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = find_or_add(rl, key, now_us);
    bool allowed = true;
    if (b) {
        refill(rl, b, now_us);
        allowed = b->tokens >= 1.0;
        if (allowed)
            b->tokens -= 1.0;
        else
            *retry_after_s = seconds_to_next(rl, b);
    }
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}

bool ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s)
{
    if (rl->count <= 0)
        return true;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = find(rl, key);
    bool allowed = true;
    if (b) {
        refill(rl, b, now_us);
        allowed = b->tokens >= 1.0;
        if (!allowed)
            *retry_after_s = seconds_to_next(rl, b);
    }
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}

void ratelimit_address_key(const struct sockaddr *sa, char out[RATELIMIT_ADDRESS_KEY_SIZE])
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
                  RATELIMIT_ADDRESS_KEY_SIZE);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            inet_ntop(AF_INET, &a->s6_addr[12], out, RATELIMIT_ADDRESS_KEY_SIZE);
            return;
        }
        struct in6_addr prefix = {0};
        memcpy(prefix.s6_addr, a->s6_addr, 8);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &prefix, text, sizeof text);
        snprintf(out, RATELIMIT_ADDRESS_KEY_SIZE, "%s/64", text);
    }
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
