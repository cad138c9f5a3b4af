/* Unit tests of http/ratelimit: a burst of N allowed then refused with Retry-After, refill
 * over (fake) time given as now_us, the cap on refill, independent keys, count 0 meaning
 * unlimited, checking without taking, the bound on the number of keys, client address keys
 * (IPv4, IPv6 /64, mapped), and the "N/DURATION" parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <stdatomic.h>
#include <stdio.h>

#include "http/ratelimit.h"

#define SEC 1000000LL
#define T0 (1000LL * SEC) /* an arbitrary monotonic "now" */

/* Takes n requests for key at now; asserts they are all allowed. */
static void take_ok(struct ratelimit *rl, const char *key, int64_t now, int n)
{
    for (int i = 0; i < n; i++) {
        long retry = -5;
        if (!ratelimit_take(rl, key, now, &retry))
            fail_msg("request %d of %d for %s refused", i + 1, n, key);
    }
}

/* Asserts one refused request and returns its retry_after. */
static long take_refused(struct ratelimit *rl, const char *key, int64_t now)
{
    long retry = -5;
    assert_false(ratelimit_take(rl, key, now, &retry));
    assert_true(retry >= 1);
    return retry;
}

static void test_burst_then_refused(void **state)
{
    struct ratelimit *rl = ratelimit_create(3, 60 * SEC);
    take_ok(rl, "token-a", T0, 3);
    /* One request comes back every 20 s (3 per minute). */
    assert_int_equal(take_refused(rl, "token-a", T0), 20);
    assert_int_equal(take_refused(rl, "token-a", T0), 20);
    ratelimit_destroy(rl);
}

static void test_retry_after_counts_down_and_is_at_least_one(void **state)
{
    struct ratelimit *rl = ratelimit_create(3, 60 * SEC);
    take_ok(rl, "k", T0, 3);
    assert_int_equal(take_refused(rl, "k", T0 + 5 * SEC), 15);
    assert_int_equal(take_refused(rl, "k", T0 + 10 * SEC + SEC / 2), 10);
    /* Less than a second to go still says 1, never 0. */
    assert_int_equal(take_refused(rl, "k", T0 + 19 * SEC + 900000), 1);
    ratelimit_destroy(rl);

    /* The default 1200/5m refills one request every 250 ms: Retry-After rounds up to 1. */
    rl = ratelimit_create(1200, 300 * SEC);
    take_ok(rl, "k", T0, 1200);
    assert_int_equal(take_refused(rl, "k", T0), 1);
    ratelimit_destroy(rl);
}

static void test_refill_over_time(void **state)
{
    struct ratelimit *rl = ratelimit_create(3, 60 * SEC);
    take_ok(rl, "k", T0, 3);
    take_refused(rl, "k", T0 + 19 * SEC);
    /* After 21 s one request is back, and only one. */
    take_ok(rl, "k", T0 + 21 * SEC, 1);
    take_refused(rl, "k", T0 + 21 * SEC);
    /* After a further 41 s (62 s in all, 3.1 requests refilled minus the one used), two. */
    take_ok(rl, "k", T0 + 62 * SEC, 2);
    take_refused(rl, "k", T0 + 62 * SEC);
    ratelimit_destroy(rl);
}

static void test_refill_is_capped_at_count(void **state)
{
    struct ratelimit *rl = ratelimit_create(3, 60 * SEC);
    take_ok(rl, "k", T0, 1);
    /* An hour idle refills to the burst size, not to 60 requests. */
    take_ok(rl, "k", T0 + 3600 * SEC, 3);
    assert_int_equal(take_refused(rl, "k", T0 + 3600 * SEC), 20);
    ratelimit_destroy(rl);
}

static void test_refused_requests_do_not_consume(void **state)
{
    struct ratelimit *rl = ratelimit_create(2, 10 * SEC);
    take_ok(rl, "k", T0, 2);
    for (int i = 0; i < 100; i++)
        take_refused(rl, "k", T0 + SEC);
    /* 5 s per request: at T0+5.5 s one is back despite the 100 refusals. */
    take_ok(rl, "k", T0 + 5 * SEC + SEC / 2, 1);
    ratelimit_destroy(rl);
}

static void test_clock_going_backwards_grants_nothing(void **state)
{
    struct ratelimit *rl = ratelimit_create(2, 10 * SEC);
    take_ok(rl, "k", T0, 2);
    take_refused(rl, "k", T0 - 60 * SEC);
    ratelimit_destroy(rl);
}

static void test_keys_are_independent(void **state)
{
    struct ratelimit *rl = ratelimit_create(2, 300 * SEC);
    take_ok(rl, "token-a", T0, 2);
    take_refused(rl, "token-a", T0);
    take_ok(rl, "token-b", T0, 2);
    take_refused(rl, "token-b", T0);
    take_refused(rl, "token-a", T0);
    /* Many keys (more than the hash table's slots, so chains form) each get their own
     * bucket. */
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        take_ok(rl, key, T0, 2);
    }
    for (int i = 0; i < 3000; i += 97) {
        snprintf(key, sizeof key, "k%d", i);
        take_refused(rl, key, T0);
    }
    ratelimit_destroy(rl);
}

static void test_count_zero_is_unlimited(void **state)
{
    struct ratelimit *rl = ratelimit_create(0, 1);
    take_ok(rl, "k", T0, 100000);
    ratelimit_destroy(rl);

    rl = ratelimit_create(0, 300 * SEC);
    take_ok(rl, "k", 0, 5000);
    ratelimit_destroy(rl);
}

/* Many threads on one key at one instant: exactly `count` requests get through. */
struct race {
    struct ratelimit *rl;
    atomic_int allowed;
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 500; i++) {
        long retry = 0;
        if (ratelimit_take(r->rl, "shared", T0, &retry))
            atomic_fetch_add(&r->allowed, 1);
    }
    return NULL;
}

static void test_concurrent_takes(void **state)
{
    enum { THREADS = 8 };
    struct race r = {.rl = ratelimit_create(1000, 300 * SEC)};
    atomic_init(&r.allowed, 0);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, race_thread, &r), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(atomic_load(&r.allowed), 1000); /* of 4000 attempts */
    ratelimit_destroy(r.rl);
}

static void test_destroy_null(void **state)
{
    ratelimit_destroy(NULL);
}

static void test_parse_valid(void **state)
{
    long count = -1;
    int64_t window = -1;
    assert_int_equal(ratelimit_parse("1200/5m", &count, &window), 0);
    assert_int_equal(count, 1200);
    assert_int_equal(window, 300 * SEC);

    assert_int_equal(ratelimit_parse("0", &count, &window), 0);
    assert_int_equal(count, 0);

    assert_int_equal(ratelimit_parse("10/30s", &count, &window), 0);
    assert_int_equal(count, 10);
    assert_int_equal(window, 30 * SEC);

    assert_int_equal(ratelimit_parse("5/1h", &count, &window), 0);
    assert_int_equal(count, 5);
    assert_int_equal(window, 3600 * SEC);

    assert_int_equal(ratelimit_parse("7/1500ms", &count, &window), 0);
    assert_int_equal(count, 7);
    assert_int_equal(window, 1500000);

    assert_int_equal(ratelimit_parse("3/10", &count, &window), 0); /* bare number: seconds */
    assert_int_equal(count, 3);
    assert_int_equal(window, 10 * SEC);

    assert_int_equal(ratelimit_parse("1/1d", &count, &window), 0);
    assert_int_equal(count, 1);
    assert_int_equal(window, 86400 * SEC);
}

static void test_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "",       "abc",
        "/5m",    "10/",
        "10/0s",  "10/0",
        "-1/5m",  "10/5x",
        "10/5m ", " 10/5m",
        "1200",   "1.5/5m",
        "10/-5m", "ten/5m",
        "+10/5m", "10//5m",
        "10/m",   "1200/5m/1s",
        "0/",     "00",
        "1 /5m",  "9999999999999/5m",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long count = 4242;
        int64_t window = 4242;
        if (ratelimit_parse(bad[i], &count, &window) != -1)
            fail_msg("ratelimit_parse accepted \"%s\" (count %ld, window %lld)", bad[i], count,
                     (long long)window);
    }
}

static void test_check_takes_nothing(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_create(2, 60 * SEC);
    long retry = -5;
    /* An unknown key has its whole budget, and checking does not create or spend it. */
    for (int i = 0; i < 10; i++)
        assert_true(ratelimit_check(rl, "ip", T0, &retry));
    take_ok(rl, "ip", T0, 1);
    assert_true(ratelimit_check(rl, "ip", T0, &retry));
    take_ok(rl, "ip", T0, 1);
    assert_false(ratelimit_check(rl, "ip", T0, &retry));
    assert_int_equal(retry, 30);
    assert_false(ratelimit_check(rl, "ip", T0 + 29 * SEC, &retry));
    assert_int_equal(retry, 1);
    assert_true(ratelimit_check(rl, "ip", T0 + 31 * SEC, &retry));
    ratelimit_destroy(rl);

    rl = ratelimit_create(0, 1);
    assert_true(ratelimit_check(rl, "ip", T0, &retry));
    ratelimit_destroy(rl);
}

/* Past RATELIMIT_MAX_KEYS, refilled buckets make room; buckets in use are kept (a client
 * cannot flush its own bucket by sending many other keys), and an untracked new key is
 * allowed. */
static void test_key_table_is_bounded(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_create(2, 60 * SEC);
    char key[32];
    take_ok(rl, "spent", T0, 2);
    for (int i = 0; i < RATELIMIT_MAX_KEYS - 1; i++) {
        snprintf(key, sizeof key, "k%d", i);
        take_ok(rl, key, T0, 1); /* each bucket in use (1 of 2 left) */
    }
    /* Full of buckets in use: a new key is allowed but not tracked. */
    take_ok(rl, "new", T0, 5);
    take_refused(rl, "spent", T0);
    /* A minute later every bucket is full again: the sweep frees them, new keys are tracked
     * and limited again, and the spent key's budget is back (it had refilled). */
    take_ok(rl, "new", T0 + 61 * SEC, 2);
    take_refused(rl, "new", T0 + 61 * SEC);
    take_ok(rl, "spent", T0 + 61 * SEC, 2);
    take_refused(rl, "spent", T0 + 61 * SEC);
    ratelimit_destroy(rl);
}

static struct sockaddr_in v4(const char *text)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
    return sa;
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
    return sa;
}

static void test_address_keys(void **state)
{
    (void)state;
    char key[RATELIMIT_ADDRESS_KEY_SIZE];
    struct sockaddr_in a = v4("127.0.0.1");
    ratelimit_address_key((struct sockaddr *)&a, key);
    assert_string_equal(key, "127.0.0.1");
    a = v4("203.0.113.255");
    ratelimit_address_key((struct sockaddr *)&a, key);
    assert_string_equal(key, "203.0.113.255");
    /* Every address of one /64 is one key; the next /64 is another. */
    struct sockaddr_in6 b = v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    ratelimit_address_key((struct sockaddr *)&b, key);
    assert_string_equal(key, "2001:db8:1:2::/64");
    b = v6("2001:db8:1:2::1");
    ratelimit_address_key((struct sockaddr *)&b, key);
    assert_string_equal(key, "2001:db8:1:2::/64");
    b = v6("2001:db8:1:3::1");
    ratelimit_address_key((struct sockaddr *)&b, key);
    assert_string_equal(key, "2001:db8:1:3::/64");
    b = v6("::1");
    ratelimit_address_key((struct sockaddr *)&b, key);
    assert_string_equal(key, "::/64");
    /* An IPv4-mapped address is the IPv4 client it is. */
    b = v6("::ffff:192.0.2.7");
    ratelimit_address_key((struct sockaddr *)&b, key);
    assert_string_equal(key, "192.0.2.7");
    /* Anything else: no key. */
    struct sockaddr other = {.sa_family = AF_UNIX};
    ratelimit_address_key(&other, key);
    assert_string_equal(key, "");
    ratelimit_address_key(NULL, key);
    assert_string_equal(key, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_retry_after_counts_down_and_is_at_least_one),
        cmocka_unit_test(test_refill_over_time),
        cmocka_unit_test(test_refill_is_capped_at_count),
        cmocka_unit_test(test_refused_requests_do_not_consume),
        cmocka_unit_test(test_clock_going_backwards_grants_nothing),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_count_zero_is_unlimited),
        cmocka_unit_test(test_concurrent_takes),
        cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_check_takes_nothing),
        cmocka_unit_test(test_key_table_is_bounded),
        cmocka_unit_test(test_address_keys),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
