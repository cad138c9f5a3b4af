/* A small thread-safe pool of pre-generated private keys of one kind, so that a slow
 * generation (RSA-2048: ~100-200 ms) is done while the worker is idle rather than while a
 * certificate waits for it. Keys in the pool live only in memory (never stored, never
 * sealed); each key is handed out once and then belongs to the taker.
 *
 * Threads: key_pool_take and key_pool_refill may be called from any number of threads at
 * once. Generation runs outside the lock; a refill reserves its slots first, so concurrent
 * refills never generate more keys than the pool holds. */
#ifndef TLSWARD_PKI_KEY_POOL_H
#define TLSWARD_PKI_KEY_POOL_H

#include <openssl/evp.h>

#include "pki/pki.h"

#define KEY_POOL_MAX 64 /* upper bound on a pool's capacity */

struct key_pool;

/* An empty pool for up to capacity (1..KEY_POOL_MAX) keys of the given kind. */
struct key_pool *key_pool_create(enum pki_key_kind kind, int capacity);
/* Frees the pool and the keys it still holds. No take or refill may be running. */
void key_pool_destroy(struct key_pool *pool);

enum pki_key_kind key_pool_kind(const struct key_pool *pool);

/* A key nobody else has been or will be given: a pooled one when there is one, otherwise
 * one generated now, in the caller's thread. Caller EVP_PKEY_free's. NULL only when
 * generation fails. */
EVP_PKEY *key_pool_take(struct key_pool *pool);

/* Generates keys into the free slots, at most max of them (max <= 0: until full). Meant
 * for an idle worker; returns the number of keys added (0 when already full), or -1 when
 * a generation failed. */
int key_pool_refill(struct key_pool *pool, int max);

/* The number of keys ready to be taken now. */
int key_pool_count(struct key_pool *pool);

#endif
