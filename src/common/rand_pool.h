/* Random bytes for identifiers made on a hot path (a new pack's id on every order), from
 * the CSPRNG a block at a time. OpenSSL's DRBG costs about 5 us a call whatever the size
 * asked (a getpid system call for its fork check, its cipher set up again, a lock), which
 * was ~2.5 % of an order's CPU for 10 bytes. Each thread keeps its own block, so no lock
 * is taken; bytes handed out are wiped from the block; a forked child starts with an
 * empty block (it never hands out what its parent will). */
#ifndef TLSWARD_COMMON_RAND_POOL_H
#define TLSWARD_COMMON_RAND_POOL_H

#include <stddef.h>

/* Block size: a request larger than a quarter of it goes to the CSPRNG directly. */
#define RAND_POOL_BLOCK 1024

/* Fills buf with n bytes from the CSPRNG (through this thread's block); aborts if the
 * CSPRNG fails, as util_random_bytes does. */
void rand_pool_bytes(void *buf, size_t n);

#endif
