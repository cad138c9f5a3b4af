/* The pre-generated key pool (key_pool.h): a mutex-protected stack of keys, filled by
 * idle callers and emptied by issuers, with generation always done unlocked. */
#include "pki/key_pool.h"

#include <assert.h>
#include <stdbool.h>
#include <pthread.h>

#include "common/alloc.h"
#include "common/log.h"

struct key_pool {
    pthread_mutex_t lock;
    enum pki_key_kind kind;
    int capacity;
    int count;   /* keys ready in keys[0 .. count) */
    int pending; /* slots reserved by refills that are generating now */
    EVP_PKEY *keys[KEY_POOL_MAX];
};

struct key_pool *key_pool_create(enum pki_key_kind kind, int capacity)
{
    assert(capacity >= 1 && capacity <= KEY_POOL_MAX);
    struct key_pool *pool = xcalloc(1, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    pool->kind = kind;
    pool->capacity = capacity;
    return pool;
}

void key_pool_destroy(struct key_pool *pool)
{
    if (!pool)
        return;
    assert(pool->pending == 0);
    for (int i = 0; i < pool->count; i++)
        EVP_PKEY_free(pool->keys[i]); /* frees private components with BN_clear_free */
    pthread_mutex_destroy(&pool->lock);
    xfree(pool);
}

enum pki_key_kind key_pool_kind(const struct key_pool *pool)
{
    return pool->kind;
}

EVP_PKEY *key_pool_take(struct key_pool *pool)
{
    EVP_PKEY *key = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->count > 0) {
        key = pool->keys[--pool->count];
        pool->keys[pool->count] = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    return key ? key : pki_key_generate(pool->kind);
}

/* Reserves one free slot for a generation in progress; false when the pool is full
 * counting the keys other refills are making. */
static bool reserve_slot(struct key_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    bool ok = pool->count + pool->pending < pool->capacity;
    if (ok)
        pool->pending++;
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

/* Ends a reservation, storing key (NULL: the generation failed). */
static void fill_slot(struct key_pool *pool, EVP_PKEY *key)
{
    pthread_mutex_lock(&pool->lock);
    assert(pool->pending > 0);
    pool->pending--;
    if (key) {
        assert(pool->count < pool->capacity);
        pool->keys[pool->count++] = key;
    }
    pthread_mutex_unlock(&pool->lock);
}

int key_pool_refill(struct key_pool *pool, int max)
{
    int added = 0;
    while ((max <= 0 || added < max) && reserve_slot(pool)) {
        EVP_PKEY *key = pki_key_generate(pool->kind);
        fill_slot(pool, key);
        if (!key) {
            log_msg(LOG_ERROR, "key pool: key generation failed");
            return -1;
        }
        added++;
    }
    return added;
}

int key_pool_count(struct key_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    int n = pool->count;
    pthread_mutex_unlock(&pool->lock);
    return n;
}
