/* A bounded cache of rendered certificate packs: the serialized JSON of a pack's API
 * object, keyed by the pack's id and by what changes whenever anything rendered changes
 * (the row's version, which every update of a pack bumps, its certificate generation and
 * modified_on), and valid until the first instant the rendering depends on the clock
 * (a certificate's status turns "expired" at its expires_on).
 *
 * Memory is bounded whatever the number of packs: a fixed number of entries (16-way sets,
 * least recently used out first) and a byte budget for the stored texts, which are kept
 * compressed (a text over the per-entry limit is not kept). Thread safe: one lock per set. */
#ifndef TLSWARD_API_PACK_CACHE_H
#define TLSWARD_API_PACK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Sized so that a zone of 100,000 packs (~1.3 KB of text each, ~150 bytes compressed) stays
 * rendered: a list page is then 50 copies instead of 50 renderings, which cost ~30 us each
 * (jansson's trees and the certificates' read). 64 bytes an entry (10 MiB) and the texts'
 * budget keep the process under 64 MB with any number of packs (60.5 MB measured with a
 * 100,000-pack zone all cached, ~145 bytes a text). */
#define PACK_CACHE_ENTRIES 163840
#define PACK_CACHE_BYTES (16u << 20)     /* all stored texts together */
#define PACK_CACHE_ENTRY_MAX (64u << 10) /* one text */

struct pack_cache;

/* A cache of about `entries` packs (rounded up to whole sets) and `max_bytes` of text. */
struct pack_cache *pack_cache_create(int entries, size_t max_bytes);
void pack_cache_destroy(struct pack_cache *pc);

/* A heap copy (xfree) of p's rendered text if the cache holds it for p's id, version,
 * certificate generation and modified_on and `now` is before its stale instant; else NULL.
 * NULL cache: always NULL. */
char *pack_cache_get(struct pack_cache *pc, const struct store_pack *p, int64_t now, size_t *len);

/* Keeps a copy of p's rendered text, valid while now < stale_at (INT64_MAX: no clock
 * dependence). Replaces an older rendering of the same pack. */
void pack_cache_put(struct pack_cache *pc, const struct store_pack *p, const char *text, size_t len,
                    int64_t stale_at);

/* Entries and stored (compressed) bytes held (for tests and metrics). */
int pack_cache_count(struct pack_cache *pc);
size_t pack_cache_bytes(struct pack_cache *pc);

#endif
