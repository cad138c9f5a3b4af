/* Unit tests for common/util: RFC 3339 times, durations, bounded integers, identifiers,
 * UUIDs, hex, SHA-256 and constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define SEC 1000000LL

/* 2026-11-22T18:52:28Z, the example in SPEC §3. */
#define T_SPEC (1795373548LL * SEC)

static void expect_format(int64_t us, const char *want)
{
    char buf[UTIL_TIME_LEN];
    util_format_time(us, buf);
    assert_string_equal(buf, want);
    int64_t back = 0;
    assert_int_equal(util_parse_time(buf, &back), 0);
    assert_int_equal(back, us);
}

static void test_format_time(void **state)
{
    expect_format(0, "1970-01-01T00:00:00Z");
    expect_format(T_SPEC, "2026-11-22T18:52:28Z");
    expect_format(T_SPEC + 123456, "2026-11-22T18:52:28.123456Z");
    expect_format(T_SPEC + 1, "2026-11-22T18:52:28.000001Z");
    expect_format(T_SPEC + 500000, "2026-11-22T18:52:28.500000Z");
    expect_format(-1, "1969-12-31T23:59:59.999999Z");
    expect_format(-SEC, "1969-12-31T23:59:59Z");
    expect_format(951782400LL * SEC, "2000-02-29T00:00:00Z");
    expect_format(253402300799LL * SEC + 999999, "9999-12-31T23:59:59.999999Z");
    /* RFC 3339 years are always four digits. */
    expect_format(-62135596800LL * SEC, "0001-01-01T00:00:00Z");
    expect_format(-59011459200LL * SEC, "0100-01-01T00:00:00Z");
    expect_format(-62167219200LL * SEC, "0000-01-01T00:00:00Z");
}

static void test_format_time_round_trip_sweep(void **state)
{
    /* Every ~37 days and an odd number of µs over 1900..2200. */
    for (int64_t us = -2208988800LL * SEC; us < 7258118400LL * SEC; us += 3200000000007LL) {
        char buf[UTIL_TIME_LEN];
        util_format_time(us, buf);
        int64_t back = 0;
        assert_int_equal(util_parse_time(buf, &back), 0);
        assert_int_equal(back, us);
    }
}

struct time_case {
    const char *in;
    int64_t us;
};

static const struct time_case good_times[] = {
    {"2026-11-22T18:52:28Z", T_SPEC},
    {"2026-11-22t18:52:28z", T_SPEC},
    {"2026-11-22T18:52:28+00:00", T_SPEC},
    {"2026-11-22T18:52:28-00:00", T_SPEC},
    {"2026-11-22T19:52:28+01:00", T_SPEC},
    {"2026-11-22T17:52:28-01:00", T_SPEC},
    {"2026-11-23T00:22:28+05:30", T_SPEC},
    {"2026-11-22T06:52:28-12:00", T_SPEC},
    {"2026-11-23T08:52:28+14:00", T_SPEC},
    {"2026-11-22T23:51:28+04:59", T_SPEC},
    {"2026-11-22T18:52:28.1Z", T_SPEC + 100000},
    {"2026-11-22T18:52:28.12Z", T_SPEC + 120000},
    {"2026-11-22T18:52:28.123Z", T_SPEC + 123000},
    {"2026-11-22T18:52:28.123456Z", T_SPEC + 123456},
    {"2026-11-22T18:52:28.1234567Z", T_SPEC + 123456}, /* beyond µs: truncated */
    {"2026-11-22T18:52:28.999999999Z", T_SPEC + 999999},
    {"2026-11-22T18:52:28.000000Z", T_SPEC},
    {"2026-11-22T18:52:28.5+01:00", T_SPEC - 3600 * SEC + 500000},
    {"1970-01-01T00:00:00Z", 0},
    {"1969-12-31T23:59:59.999999Z", -1},
    {"2000-02-29T00:00:00Z", 951782400LL * SEC},
    {"2024-02-29T12:00:00Z", 1709208000LL * SEC},
    {"2038-01-19T03:14:08Z", 2147483648LL * SEC},
    {"9999-12-31T23:59:59Z", 253402300799LL * SEC},
    {"0001-01-01T00:00:00Z", -62135596800LL * SEC},
};

static const char *const bad_times[] = {
    "",
    "2026",
    "2026-11-22",
    "2026-11-22T18:52",
    "2026-11-22T18:52:28",  /* no offset */
    "2026-11-22 18:52:28Z", /* space instead of T */
    "2026-11-22T18:52:28ZZ",
    "2026-11-22T18:52:28Z ",
    " 2026-11-22T18:52:28Z",
    "2026-11-22T18:52:28.Z", /* empty fraction */
    "2026-11-22T18:52:28,5Z",
    "2026-11-22T18:52:28+01",
    "2026-11-22T18:52:28+0100",
    "2026-11-22T18:52:28+24:00",
    "2026-11-22T18:52:28+01:60",
    "2026-11-22T18:52:28+1:00",
    "2026-11-22T24:00:00Z",
    "2026-11-22T18:60:00Z",
    "2026-11-22T18:52:61Z",
    "2026-00-22T18:52:28Z",
    "2026-13-22T18:52:28Z",
    "2026-11-00T18:52:28Z",
    "2026-11-32T18:52:28Z",
    "2026-02-29T00:00:00Z", /* not a leap year */
    "2026-02-30T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "26-11-22T18:52:28Z",
    "2026-1-22T18:52:28Z",
    "2026-11-2T18:52:28Z",
    "+2026-11-22T18:52:28Z",
    "-2026-11-22T18:52:28Z",
    "2026-11-22T18:52:28.-1Z",
    "2026/11/22T18:52:28Z",
    "2026-11-22T18-52-28Z",
    "yyyy-mm-ddThh:mm:ssZ",
    "1795373548",
    "2026-11-22T18:52:28\0Z",
};

static void test_parse_time(void **state)
{
    for (size_t i = 0; i < sizeof good_times / sizeof good_times[0]; i++) {
        int64_t us = 42;
        int rc = util_parse_time(good_times[i].in, &us);
        if (rc != 0 || us != good_times[i].us)
            print_error("good_times[%zu] \"%s\": rc %d us %lld\n", i, good_times[i].in, rc,
                        (long long)us);
        assert_int_equal(rc, 0);
        assert_int_equal(us, good_times[i].us);
    }
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        int64_t us = 42;
        int rc = util_parse_time(bad_times[i], &us);
        if (rc != -1)
            print_error("bad_times[%zu] \"%s\" accepted\n", i, bad_times[i]);
        assert_int_equal(rc, -1);
        assert_int_equal(us, 42); /* untouched on failure */
    }
}

static void test_parse_time_leap_second(void **state)
{
    /* RFC 3339 allows :60; it is read as the first second of the next minute. */
    int64_t us = 0;
    assert_int_equal(util_parse_time("2016-12-31T23:59:60Z", &us), 0);
    assert_int_equal(us, 1483228800LL * SEC);
}

struct duration_case {
    const char *in;
    int64_t us;
};

static const struct duration_case good_durations[] = {
    {"0", 0},
    {"0s", 0},
    {"0ms", 0},
    {"1", SEC},
    {"30", 30 * SEC},
    {"1500ms", 1500000},
    {"1ms", 1000},
    {"30s", 30 * SEC},
    {"5m", 300 * SEC},
    {"24h", 86400 * SEC},
    {"7d", 7 * 86400 * SEC},
    {"007s", 7 * SEC},
    /* The largest of each unit that fits in int64 µs. */
    {"9223372036854775ms", 9223372036854775000LL},
    {"9223372036854s", 9223372036854LL * SEC},
    {"9223372036854", 9223372036854LL * SEC},
    {"153722867280m", 153722867280LL * 60 * SEC},
    {"2562047788h", 2562047788LL * 3600 * SEC},
    {"106751991d", 106751991LL * 86400 * SEC},
};

static const char *const bad_durations[] = {
    "",
    "s",
    "ms",
    "-1s",
    "+1s",
    " 1s",
    "1s ",
    "1 s",
    "1S",
    "1M",
    "1sec",
    "1min",
    "1w",
    "1y",
    "1.5s",
    "1e3",
    "0x10",
    "1h30m",
    "1s1",
    "abc",
    "9223372036854776ms", /* one past the largest of each unit */
    "9223372036855",
    "9223372036855s",
    "153722867281m",
    "2562047789h",
    "106751992d",
    "9223372036854775807",
    "9223372036854775808", /* overflows strtoll */
    "99999999999999999999999d",
};

static void test_parse_duration(void **state)
{
    for (size_t i = 0; i < sizeof good_durations / sizeof good_durations[0]; i++) {
        int64_t us = -42;
        int rc = util_parse_duration(good_durations[i].in, &us);
        if (rc != 0 || us != good_durations[i].us)
            print_error("good_durations[%zu] \"%s\": rc %d us %lld\n", i, good_durations[i].in, rc,
                        (long long)us);
        assert_int_equal(rc, 0);
        assert_int_equal(us, good_durations[i].us);
    }
    for (size_t i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
        int64_t us = -42;
        int rc = util_parse_duration(bad_durations[i], &us);
        if (rc != -1)
            print_error("bad_durations[%zu] \"%s\" accepted\n", i, bad_durations[i]);
        assert_int_equal(rc, -1);
        assert_int_equal(us, -42);
    }
    int64_t us;
    assert_int_equal(util_parse_duration(NULL, &us), -1);
}

static void test_parse_int(void **state)
{
    long long v = 0;
    assert_int_equal(util_parse_int("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(util_parse_int("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(util_parse_int("1", 1, 50, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(util_parse_int("50", 1, 50, &v), 0);
    assert_int_equal(v, 50);
    assert_int_equal(util_parse_int("007", 0, 10, &v), 0);
    assert_int_equal(v, 7);

    /* Bounds are inclusive, and outside them nothing is written. */
    v = 99;
    assert_int_equal(util_parse_int("0", 1, 50, &v), -1);
    assert_int_equal(util_parse_int("51", 1, 50, &v), -1);
    assert_int_equal(util_parse_int("11", 0, 10, &v), -1);
    assert_int_equal(v, 99);

    /* Signs: rejected when min >= 0, allowed otherwise. */
    assert_int_equal(util_parse_int("+5", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("-5", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("-0", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(util_parse_int("+5", -10, 10, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(util_parse_int("-11", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("-", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("+", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("--5", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("+-5", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("- 5", -10, 10, &v), -1);

    /* Blanks and junk. */
    v = 99;
    assert_int_equal(util_parse_int(NULL, 0, 10, &v), -1);
    assert_int_equal(util_parse_int("", 0, 10, &v), -1);
    assert_int_equal(util_parse_int(" ", 0, 10, &v), -1);
    assert_int_equal(util_parse_int(" 5", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("\t5", -10, 10, &v), -1);
    assert_int_equal(util_parse_int(" -5", -10, 10, &v), -1);
    assert_int_equal(util_parse_int("5 ", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("5\n", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("5a", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("a5", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("0x5", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("5.0", 0, 10, &v), -1);
    assert_int_equal(util_parse_int("1e1", 0, 100, &v), -1);
    assert_int_equal(v, 99);

    /* Overflow, at and beyond the edges of long long. */
    assert_int_equal(util_parse_int("9223372036854775807", 0, LLONG_MAX, &v), 0);
    assert_true(v == LLONG_MAX);
    assert_int_equal(util_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
    assert_true(v == LLONG_MIN);
    assert_int_equal(util_parse_int("9223372036854775808", 0, LLONG_MAX, &v), -1);
    assert_int_equal(util_parse_int("-9223372036854775809", LLONG_MIN, 0, &v), -1);
    assert_int_equal(util_parse_int("99999999999999999999999999", 0, LLONG_MAX, &v), -1);
    assert_int_equal(util_parse_int("4294967296", 0, 4294967295LL, &v), -1);
    assert_int_equal(util_parse_int("4294967295", 0, 4294967295LL, &v), 0);
    assert_true(v == 4294967295LL);
}

static bool all_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static void test_random_id(void **state)
{
    char a[UTIL_ID_LEN + 1], b[UTIL_ID_LEN + 1];
    util_random_id(a);
    util_random_id(b);
    assert_int_equal(strlen(a), UTIL_ID_LEN);
    assert_int_equal(strlen(b), UTIL_ID_LEN);
    assert_true(all_lower_hex(a, UTIL_ID_LEN));
    assert_true(all_lower_hex(b, UTIL_ID_LEN));
    assert_string_not_equal(a, b);
    assert_true(util_is_id(a));
    assert_true(util_is_id(b));
}

static void test_is_id(void **state)
{
    assert_true(util_is_id("0123456789abcdef0123456789abcdef"));
    assert_true(util_is_id("00000000000000000000000000000000"));
    assert_true(util_is_id("ffffffffffffffffffffffffffffffff"));
    assert_false(util_is_id(""));
    assert_false(util_is_id("0123456789abcdef0123456789abcde"));   /* 31 */
    assert_false(util_is_id("0123456789abcdef0123456789abcdef0")); /* 33 */
    assert_false(util_is_id("0123456789ABCDEF0123456789abcdef"));  /* upper case */
    assert_false(util_is_id("0123456789abcdef0123456789abcdeg"));
    assert_false(util_is_id("0123456789abcdef-123456789abcdef"));
    assert_false(util_is_id(" 123456789abcdef0123456789abcdef"));
    assert_false(util_is_id("0123456789abcdef0123456789abcde "));
    assert_false(util_is_id("023e105f-4ecd-4e8e-99b7-d2b6c4f3a4c1"));
}

static void test_random_uuid(void **state)
{
    char a[37], b[37];
    util_random_uuid(a);
    util_random_uuid(b);
    assert_string_not_equal(a, b);
    for (int round = 0; round < 64; round++) {
        char u[37];
        util_random_uuid(u);
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else
                assert_true(all_lower_hex(u + i, 1));
        }
        assert_int_equal(u[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
    }
}

static void test_hex_and_sha256(void **state)
{
    char out[2 * 32 + 1];
    util_hex((const unsigned char *)"\x00\x01\xab\xff", 4, out);
    assert_string_equal(out, "0001abff");
    util_hex((const unsigned char *)"", 0, out);
    assert_string_equal(out, "");

    unsigned char digest[32];
    util_sha256("", 0, digest);
    util_hex(digest, sizeof digest, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    util_sha256("abc", 3, digest);
    util_hex(digest, sizeof digest, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_secure_equal(void **state)
{
    assert_true(util_secure_equal("abc", "abc", 3));
    assert_false(util_secure_equal("abc", "abd", 3));
    assert_false(util_secure_equal("abc", "xbc", 3));
    assert_true(util_secure_equal("abc", "abd", 2)); /* only n bytes compared */
    assert_true(util_secure_equal("x", "y", 0));
    unsigned char a[64], b[64];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(util_secure_equal(a, b, sizeof a));
    b[63] ^= 1;
    assert_false(util_secure_equal(a, b, sizeof a));
    b[63] ^= 1;
    b[0] ^= 0x80;
    assert_false(util_secure_equal(a, b, sizeof a));
}

static void test_clocks(void **state)
{
    int64_t now = util_now_us();
    assert_true(now > 1600000000LL * SEC); /* after 2020 */
    int64_t m1 = util_mono_us();
    int64_t m2 = util_mono_us();
    assert_true(m2 >= m1);
}

static void test_public_url(void **state)
{
    (void)state;
    const char *why = NULL;
    const struct {
        const char *in, *out;
    } good[] = {
        {"http://pki.test", "http://pki.test"},
        {"https://pki.example.net/", "https://pki.example.net"},
        {"https://pki.example.net:8443/tlsward///", "https://pki.example.net:8443/tlsward"},
        {"http://127.0.0.1:9", "http://127.0.0.1:9"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", good[i].in);
        assert_int_equal(util_public_url(buf, &why), 0);
        assert_string_equal(buf, good[i].out);
    }
    const char *bad[] = {"",
                         "/",
                         "pki.test",
                         "ftp://pki.test",
                         "http://",
                         "http:///x",
                         "https://",
                         "http://pki test",
                         "http://pki.test/?q=1",
                         "http://pki.test/#f",
                         "http://pki.test/\"x",
                         "http://p\x01ki",
                         "http://pki.t\xc3\xa9st",
                         "HTTP://pki.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", bad[i]);
        why = NULL;
        assert_int_equal(util_public_url(buf, &why), -1);
        assert_non_null(why);
    }
    char longer[UTIL_PUBLIC_URL_MAX + 16];
    memset(longer, 'a', sizeof longer - 1);
    memcpy(longer, "http://", 7);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(util_public_url(longer, &why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_url),
        cmocka_unit_test(test_format_time),    cmocka_unit_test(test_format_time_round_trip_sweep),
        cmocka_unit_test(test_parse_time),     cmocka_unit_test(test_parse_time_leap_second),
        cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_random_id),      cmocka_unit_test(test_is_id),
        cmocka_unit_test(test_random_uuid),    cmocka_unit_test(test_hex_and_sha256),
        cmocka_unit_test(test_secure_equal),   cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
