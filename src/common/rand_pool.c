/* A thread's block of CSPRNG output, handed out in small pieces (rand_pool.h). */
#include "common/rand_pool.h"

#include <pthread.h>
#include <string.h>

#include "common/util.h"

static _Thread_local struct {
    unsigned char bytes[RAND_POOL_BLOCK];
    size_t left; /* the unused bytes are the last `left` of the block */
} pool;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a forked child (which has only the forking thread): drop what is left, so that the
 * child and its parent never hand out the same bytes. */
static void child_drop(void)
{
    memset(pool.bytes, 0, sizeof pool.bytes);
    pool.left = 0;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, child_drop);
}

void rand_pool_bytes(void *buf, size_t n)
{
    if (n == 0)
        return;
    if (n > RAND_POOL_BLOCK / 4) {
        util_random_bytes(buf, n);
        return;
    }
    pthread_once(&atfork_once, register_atfork);
    if (pool.left < n) {
        util_random_bytes(pool.bytes, sizeof pool.bytes);
        pool.left = sizeof pool.bytes;
    }
    unsigned char *from = pool.bytes + (sizeof pool.bytes - pool.left);
    memcpy(buf, from, n);
    memset(from, 0, n); /* given once: nothing handed out stays behind */
    pool.left -= n;
}
