/* Small shared helpers: clocks and RFC 3339 times, durations, identifiers, hex, bounded
 * integer parsing. No I/O beyond reading the clock and the CSPRNG. */
#ifndef TLSWARD_COMMON_UTIL_H
#define TLSWARD_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UTIL_ID_LEN 32   /* Cloudflare identifiers: 32 lowercase hex characters */
#define UTIL_TIME_LEN 40 /* buffer size for util_format_time */

/* The CLOCK_REALTIME instant `us` microseconds from now, as pthread_cond_timedwait takes
 * it (a condition variable with default attributes waits on that clock). */
struct timespec util_deadline_in(int64_t us);
/* Wall clock in microseconds since the Unix epoch. */
int64_t util_now_us(void);
/* Monotonic clock in microseconds (for measuring durations). */
int64_t util_mono_us(void);

/* RFC 3339 UTC with 'Z'; sub-seconds printed only when non-zero (…:28.123456Z). */
void util_format_time(int64_t us, char out[UTIL_TIME_LEN]);
/* Parses RFC 3339 (…Z or ±hh:mm, optional fraction). Returns 0 or -1. */
int util_parse_time(const char *s, int64_t *us_out);

/* Parses "1500ms", "30s", "5m", "24h", "7d" (a bare number is seconds) into µs. 0 or -1. */
int util_parse_duration(const char *s, int64_t *us_out);

/* Parses a whole decimal integer within [min, max]; rejects signs where min >= 0,
 * blanks, trailing junk and overflow. Returns 0 or -1. */
int util_parse_int(const char *s, long long min, long long max, long long *out);

/* Fills buf with n bytes from the CSPRNG; aborts if the CSPRNG fails (nothing sane to do). */
void util_random_bytes(void *buf, size_t n);
/* A fresh 32-hex-character identifier, NUL-terminated. */
void util_random_id(char out[UTIL_ID_LEN + 1]);
/* A random RFC 4122 version-4 UUID (36 characters), NUL-terminated. */
void util_random_uuid(char out[37]);
/* True when s is exactly 32 lowercase hex characters. */
bool util_is_id(const char *s);

/* Checks a base URL given in configuration (--public-url): http:// or https://, a host,
 * printable ASCII without spaces, quotes, backslashes, '?' or '#', at most
 * UTIL_PUBLIC_URL_MAX bytes. Trailing slashes are cut off in place, so paths can be
 * appended with "/pki/...". 0, or -1 with *why saying what is wrong. */
#define UTIL_PUBLIC_URL_MAX 512
int util_public_url(char *url, const char **why);

/* Formats a failure reason into why (why_size bytes), or does nothing when the caller
 * passed no buffer (why NULL or why_size 0): the shape of every `char *why, size_t
 * why_size` out-parameter. */
void util_why(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* SHA-256 of a string (tokens and keys are stored only as this). */
void util_sha256(const void *data, size_t n, unsigned char out[32]);
/* Constant-time equality of two equal-length buffers. */
bool util_secure_equal(const void *a, const void *b, size_t n);

#endif
