/* Token-bucket limits keyed by a string, in memory, per process. Two users: requests per
 * credential (--rate-limit N/DURATION, default 1200/5m; keys are token or user ids) and
 * failed authentications per client address (--auth-fail-limit, default 60/1m; keys from
 * ratelimit_address_key). A bucket per key: capacity N, refilled continuously at N per
 * window, so a burst of N is allowed and the long-run rate is N per window. The table is
 * bounded (RATELIMIT_MAX_KEYS): keys may come from unauthenticated clients. */
#ifndef TLSWARD_HTTP_RATELIMIT_H
#define TLSWARD_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Buckets kept at most. Past it, buckets that have refilled completely (the same as no
 * bucket) are dropped; if all are still in use, a new key is not tracked (allowed). */
#define RATELIMIT_MAX_KEYS 65536

struct ratelimit;

/* count 0 disables limiting (ratelimit_take always allows). */
struct ratelimit *ratelimit_create(long count, int64_t window_us);
void ratelimit_destroy(struct ratelimit *rl);

/* Takes one request for key at time now_us (monotonic). Returns true if allowed; when
 * refused, *retry_after_s is the whole seconds (>= 1) until one request is allowed again. */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s);

/* Like ratelimit_take but takes nothing: true when key has a request left (an unknown key
 * has all of them); otherwise false with *retry_after_s as for ratelimit_take. */
bool ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_us, long *retry_after_s);

/* The key of a client address: the IPv4 address, or the /64 prefix of an IPv6 address (one
 * host usually holds a whole /64, so counting single addresses would let it rotate through
 * them); an IPv4-mapped IPv6 address counts as its IPv4 address. "" for other families. */
#define RATELIMIT_ADDRESS_KEY_SIZE 64
void ratelimit_address_key(const struct sockaddr *sa, char out[RATELIMIT_ADDRESS_KEY_SIZE]);

/* Parses "1200/5m" (or "0") into count and window. 0 or -1. */
int ratelimit_parse(const char *spec, long *count, int64_t *window_us);

#endif
