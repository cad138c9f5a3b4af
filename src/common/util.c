/* Shared helpers: clocks, RFC 3339, durations, integers, identifiers, hashing. */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t util_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void util_format_time(int64_t us, char out[UTIL_TIME_LEN])
{
    time_t secs = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm = {0};
    gmtime_r(&secs, &tm);
    /* Not strftime's %Y: glibc does not pad years below 1000 to the four digits RFC 3339
     * requires. */
    int n = snprintf(out, UTIL_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || n >= UTIL_TIME_LEN)
        return;
    if (frac)
        snprintf(out + n, UTIL_TIME_LEN - (size_t)n, ".%06ldZ", frac);
    else
        snprintf(out + n, UTIL_TIME_LEN - (size_t)n, "Z");
}

/* Reads exactly `digits` decimal digits. */
static int read_digits(const char **p, int digits, int *out)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += digits;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400; /* floor; y is -1 for 0000-01 and 0000-02 */
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int util_parse_time(const char *s, int64_t *us_out)
{
    const char *p = s;
    int year, mon, day, hour, min, sec;
    if (read_digits(&p, 4, &year) || expect(&p, '-') || read_digits(&p, 2, &mon) ||
        expect(&p, '-') || read_digits(&p, 2, &day))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (read_digits(&p, 2, &hour) || expect(&p, ':') || read_digits(&p, 2, &min) ||
        expect(&p, ':') || read_digits(&p, 2, &sec))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 60)
        return -1;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int scale = 100000, ndigits = 0;
        while (isdigit((unsigned char)*p)) {
            if (ndigits < 6)
                frac_us += (*p - '0') * scale;
            scale /= 10;
            ndigits++;
            p++;
        }
        if (ndigits == 0)
            return -1;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (read_digits(&p, 2, &oh) || expect(&p, ':') || read_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    /* Plain arithmetic rather than timegm(), whose error value (-1) is also the valid
     * answer for 1969-12-31T23:59:59Z. */
    int64_t t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    *us_out = (t - (int64_t)offset_min * 60) * 1000000 + frac_us;
    return 0;
}

int util_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    if (min >= 0 && !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int util_parse_duration(const char *s, int64_t *us_out)
{
    static const struct {
        const char *suffix;
        int64_t us;
    } units[] = {{"ms", 1000},           {"s", 1000000},         {"m", 60 * 1000000LL},
                 {"h", 3600 * 1000000LL}, {"d", 86400 * 1000000LL}, {"", 1000000}};
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].us)
                return -1;
            *us_out = v * units[i].us;
            return 0;
        }
    }
    return -1;
}

void util_random_bytes(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fprintf(stderr, "tlsward: CSPRNG failure\n");
        abort();
    }
}

void util_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void util_random_id(char out[UTIL_ID_LEN + 1])
{
    unsigned char raw[UTIL_ID_LEN / 2];
    util_random_bytes(raw, sizeof raw);
    util_hex(raw, sizeof raw, out);
}

void util_random_uuid(char out[37])
{
    unsigned char b[16];
    util_random_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    char hex[33];
    util_hex(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool util_is_id(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++) {
        if (i >= UTIL_ID_LEN || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return i == UTIL_ID_LEN;
}

void util_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "tlsward: SHA-256 failure\n");
        abort();
    }
}

bool util_secure_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int util_public_url(char *url, const char **why)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    const char *host = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    if (!host) {
        *why = "expected an http:// or https:// URL";
        return -1;
    }
    if (len > UTIL_PUBLIC_URL_MAX) {
        *why = "longer than 512 bytes";
        return -1;
    }
    if (!*host || *host == '/' || *host == ':' || *host == '@') {
        *why = "the URL has no host";
        return -1;
    }
    /* Characters a certificate's IA5String URI and a relying party both take literally. */
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\^`{|}?#", c)) {
            *why = "the URL may hold only printable ASCII, without spaces, quotes, a query or "
                   "a fragment";
            return -1;
        }
    }
    return 0;
}

void util_why(char *why, size_t why_size, const char *fmt, ...)
{
    if (!why || why_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

struct timespec util_deadline_in(int64_t us)
{
    struct timespec d;
    clock_gettime(CLOCK_REALTIME, &d);
    d.tv_sec += us / 1000000;
    d.tv_nsec += (long)(us % 1000000) * 1000;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    return d;
}
