/* Per-credential rate limiting (SPEC §3: --rate-limit N/DURATION, default 1200/5m).
 * A token bucket per key: capacity N, refilled continuously at N per window, so a burst
 * of N is allowed and the long-run rate is N per window. In memory, per process. */
#ifndef TLSWARD_HTTP_RATELIMIT_H
#define TLSWARD_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

/* count 0 disables limiting (ratelimit_take always allows). */
struct ratelimit *ratelimit_create(long count, int64_t window_us);
void ratelimit_destroy(struct ratelimit *rl);

/* Takes one request for key at time now_us (monotonic). Returns true if allowed; when
 * refused, *retry_after_s is the whole seconds (>= 1) until one request is allowed again. */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s);

/* Parses "1200/5m" (or "0") into count and window. 0 or -1. */
int ratelimit_parse(const char *spec, long *count, int64_t *window_us);

#endif
