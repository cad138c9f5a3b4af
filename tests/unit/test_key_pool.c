/* Unit tests of pki/key_pool: an empty pool still hands out keys, refills stop at the
 * capacity, every key handed out is distinct (never given twice), keys are of the pool's
 * kind, and four threads taking and refilling at once neither overfill the pool nor share
 * a key. EC P-256 pools stand in for RSA where only the pool logic is under test (RSA
 * generation is slow under the sanitizers); one RSA-2048 pool checks the real use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "pki/key_pool.h"
#include "pki/pki.h"

#define THREADS 4
#define ROUNDS 12 /* takes per thread */
#define SPKI_MAX 256

/* The DER public key of key, as a comparable value. */
struct spki {
    unsigned char der[SPKI_MAX];
    int len;
};

static void spki_of(EVP_PKEY *key, struct spki *out)
{
    unsigned char *p = out->der;
    int len = i2d_PUBKEY(key, NULL);
    assert_true(len > 0 && len <= SPKI_MAX);
    out->len = i2d_PUBKEY(key, &p);
    assert_int_equal(out->len, len);
}

static void assert_all_distinct(const struct spki *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (keys[i].len == keys[j].len && memcmp(keys[i].der, keys[j].der, keys[i].len) == 0)
                fail_msg("keys %zu and %zu are the same key", i, j);
        }
    }
}

static void assert_p256(EVP_PKEY *key)
{
    assert_non_null(key);
    assert_string_equal(pki_key_type_name(key), "ecdsa");
    assert_int_equal(pki_key_bits(key), 256);
}

static void test_empty_pool_generates(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_EC_P256, 3);
    assert_int_equal(key_pool_kind(pool), PKI_KEY_EC_P256);
    assert_int_equal(key_pool_count(pool), 0);
    EVP_PKEY *a = key_pool_take(pool), *b = key_pool_take(pool);
    assert_p256(a);
    assert_p256(b);
    assert_int_not_equal(EVP_PKEY_eq(a, b), 1);
    assert_int_equal(key_pool_count(pool), 0);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    key_pool_destroy(pool);
}

static void test_refill_to_capacity(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_EC_P256, 3);
    assert_int_equal(key_pool_refill(pool, 1), 1);
    assert_int_equal(key_pool_count(pool), 1);
    assert_int_equal(key_pool_refill(pool, 0), 2); /* max <= 0: until full */
    assert_int_equal(key_pool_count(pool), 3);
    assert_int_equal(key_pool_refill(pool, 0), 0); /* full: nothing to do */
    assert_int_equal(key_pool_refill(pool, 5), 0);

    /* Three pooled keys, then one generated inline: four distinct keys. */
    struct spki seen[4];
    for (int i = 0; i < 4; i++) {
        EVP_PKEY *key = key_pool_take(pool);
        assert_p256(key);
        spki_of(key, &seen[i]);
        EVP_PKEY_free(key);
        assert_int_equal(key_pool_count(pool), i < 3 ? 2 - i : 0);
    }
    assert_all_distinct(seen, 4);

    /* Refilled after being emptied; destroy frees what is left (ASan checks). */
    assert_int_equal(key_pool_refill(pool, 2), 2);
    assert_int_equal(key_pool_count(pool), 2);
    key_pool_destroy(pool);
    key_pool_destroy(NULL);
}

static void test_rsa_pool(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_RSA_2048, 1);
    assert_int_equal(key_pool_refill(pool, 0), 1);
    assert_int_equal(key_pool_count(pool), 1);
    EVP_PKEY *key = key_pool_take(pool);
    assert_non_null(key);
    assert_string_equal(pki_key_type_name(key), "rsa");
    assert_int_equal(pki_key_bits(key), 2048);
    assert_int_equal(key_pool_count(pool), 0);
    EVP_PKEY_free(key);
    key_pool_destroy(pool);
}

struct worker_arg {
    struct key_pool *pool;
    pthread_barrier_t *start;
    int refilled;      /* concurrent-refill test: keys this thread added */
    int over_capacity; /* take/refill test: times the pool was seen over capacity */
    int failures;      /* take returned NULL or refill -1 */
    struct spki taken[ROUNDS];
};

/* All threads refill an empty pool at the same moment. */
static void *refill_thread(void *p)
{
    struct worker_arg *arg = p;
    pthread_barrier_wait(arg->start);
    arg->refilled = key_pool_refill(arg->pool, 0);
    return NULL;
}

static void test_concurrent_refill_never_overfills(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_EC_P256, 4);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    struct worker_arg args[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){.pool = pool, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, refill_thread, &args[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_true(args[i].refilled >= 0);
        total += args[i].refilled;
    }
    assert_int_equal(total, 4);
    assert_int_equal(key_pool_count(pool), 4);
    pthread_barrier_destroy(&start);
    key_pool_destroy(pool);
}

/* Each thread takes ROUNDS keys, refilling one key before every other take. */
static void *take_thread(void *p)
{
    struct worker_arg *arg = p;
    pthread_barrier_wait(arg->start);
    for (int i = 0; i < ROUNDS; i++) {
        if (i % 2 == 0 && key_pool_refill(arg->pool, 1) < 0)
            arg->failures++;
        int n = key_pool_count(arg->pool);
        if (n < 0 || n > 2)
            arg->over_capacity++;
        EVP_PKEY *key = key_pool_take(arg->pool);
        if (!key) {
            arg->failures++;
            continue;
        }
        unsigned char *der = arg->taken[i].der;
        int len = i2d_PUBKEY(key, NULL);
        if (len > 0 && len <= SPKI_MAX)
            arg->taken[i].len = i2d_PUBKEY(key, &der);
        else
            arg->failures++;
        EVP_PKEY_free(key);
    }
    return NULL;
}

static void test_four_threads_take_and_refill(void **state)
{
    struct key_pool *pool = key_pool_create(PKI_KEY_EC_P256, 2);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    struct worker_arg *args = xcalloc(THREADS, sizeof *args);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].pool = pool;
        args[i].start = &start;
        assert_int_equal(pthread_create(&threads[i], NULL, take_thread, &args[i]), 0);
    }
    struct spki *all = xcalloc(THREADS * ROUNDS, sizeof *all);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
        assert_int_equal(args[i].over_capacity, 0);
        memcpy(&all[i * ROUNDS], args[i].taken, sizeof args[i].taken);
    }
    /* No key was handed to two takers, whether pooled or generated inline. */
    assert_all_distinct(all, THREADS * ROUNDS);
    int left = key_pool_count(pool);
    assert_true(left >= 0 && left <= 2);
    xfree(all);
    xfree(args);
    pthread_barrier_destroy(&start);
    key_pool_destroy(pool); /* frees the keys left over */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_pool_generates),
        cmocka_unit_test(test_refill_to_capacity),
        cmocka_unit_test(test_rsa_pool),
        cmocka_unit_test(test_concurrent_refill_never_overfills),
        cmocka_unit_test(test_four_threads_take_and_refill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
