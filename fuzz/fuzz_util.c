/* libFuzzer target for the parsers in common/util: util_parse_time, util_parse_duration
 * and util_parse_int on the input as a NUL-terminated string. Checks the results against
 * the contracts: parsed times survive a format/parse round trip, durations are never
 * negative, integers stay inside their bounds. */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the instants RFC 3339 can write. */
#define MIN_RFC3339_US (-62167219200LL * 1000000)
#define MAX_RFC3339_US (253402300799LL * 1000000 + 999999)

static void fuzz_time(const char *s)
{
    int64_t us = 0;
    if (util_parse_time(s, &us) != 0)
        return;
    /* An offset can push a valid local time just outside the four-digit years in UTC. */
    assert(us >= MIN_RFC3339_US - 24LL * 3600 * 1000000 &&
           us <= MAX_RFC3339_US + 24LL * 3600 * 1000000);
    if (us < MIN_RFC3339_US || us > MAX_RFC3339_US)
        return;
    char buf[UTIL_TIME_LEN];
    util_format_time(us, buf);
    int64_t back = 0;
    assert(util_parse_time(buf, &back) == 0);
    assert(back == us);
    char again[UTIL_TIME_LEN];
    util_format_time(back, again);
    assert(strcmp(buf, again) == 0);
}

static void fuzz_duration(const char *s)
{
    int64_t us = -1;
    if (util_parse_duration(s, &us) == 0)
        assert(us >= 0);
}

static void fuzz_int(const char *s)
{
    static const struct {
        long long min, max;
    } bounds[] = {
        {0, 10}, {1, 50}, {-10, 10}, {0, LLONG_MAX}, {LLONG_MIN, LLONG_MAX}, {LLONG_MIN, -1},
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        long long v = 0;
        if (util_parse_int(s, bounds[i].min, bounds[i].max, &v) != 0)
            continue;
        assert(v >= bounds[i].min && v <= bounds[i].max);
        assert(*s != ' ' && *s != '\t' && *s != '\n');
        if (bounds[i].min >= 0)
            assert(*s >= '0' && *s <= '9');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_time(s);
    fuzz_duration(s);
    fuzz_int(s);
    free(s);
    return 0;
}
