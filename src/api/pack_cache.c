/* The rendered-pack cache (see pack_cache.h). A pack maps to one set by a hash of its id;
 * a set holds PACK_CACHE_WAYS entries, each the key, a stale instant and the stored text. A
 * hit copies the text out under the set's lock, so a concurrent replacement never frees what
 * a reader is using.
 *
 * Texts are kept LZ4-compressed against a dictionary: the renderings of packs share most of
 * their bytes (member names, the zone id, the CA, the hosts, the dates), so a 1.3 KB pack is
 * kept in ~150 bytes and a zone of 100,000 packs stays whole in less memory than a sixth of
 * them took as plain text. The dictionary is the first PACK_CACHE_DICT_TEXTS texts stored
 * (those stay plain); it never changes after, so every entry decodes with the dictionary it
 * was encoded with. A text that does not shrink is kept as is. Compressing costs ~1 us (once
 * per rendering, which costs ~30 us), decompressing ~0.3 us (per hit). */
#include "api/pack_cache.h"

#include <lz4.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"

#define PACK_CACHE_WAYS 16
#define PACK_CACHE_LOCKS 256
#define PACK_CACHE_DICT_TEXTS 4
#define PACK_CACHE_DICT_MAX (16u << 10)
#define PACK_CACHE_STACK_TEXT (8u << 10) /* longer texts are kept plain */
#define PACK_ID_BYTES 16

/* 64 bytes: the id as its 16 bytes (ids are 32 hex digits), the largest members first. */
struct entry {
    int64_t modified_on, stale_at;
    unsigned char *data; /* NULL: an empty way */
    int version, cert_generation;
    uint32_t used; /* the set's clock at the last hit or store: LRU within the set */
    uint32_t len;  /* of the text */
    uint32_t size; /* of what is stored (len when plain) */
    unsigned char id[PACK_ID_BYTES];
    bool compressed;
};

/* A set is guarded by one of PACK_CACHE_LOCKS mutexes (set index modulo that), not a
 * mutex of its own: the sets are then plain zeroed memory that the kernel maps in on first
 * use, instead of ~10 MB written at start-up to initialise 10,240 mutexes. */
struct set {
    uint32_t clock;
    struct entry e[PACK_CACHE_WAYS];
};

struct pack_cache {
    struct set *sets;
    size_t nsets;
    pthread_mutex_t locks[PACK_CACHE_LOCKS];
    size_t max_bytes;
    atomic_size_t bytes;
    atomic_int count;
    /* The dictionary: filled under dict_lock until dict_ready, read-only after. */
    pthread_mutex_t dict_lock;
    atomic_bool dict_ready;
    int dict_texts;
    char *dict;
    size_t dict_len;
    LZ4_stream_t *dict_stream; /* the dictionary loaded: copied for each compression */
};

struct pack_cache *pack_cache_create(int entries, size_t max_bytes)
{
    struct pack_cache *pc = xcalloc(1, sizeof *pc);
    pc->nsets =
        entries > PACK_CACHE_WAYS ? ((size_t)entries + PACK_CACHE_WAYS - 1) / PACK_CACHE_WAYS : 1;
    pc->sets = xcalloc(pc->nsets, sizeof *pc->sets);
    for (int i = 0; i < PACK_CACHE_LOCKS; i++)
        pthread_mutex_init(&pc->locks[i], NULL);
    pc->max_bytes = max_bytes;
    pthread_mutex_init(&pc->dict_lock, NULL);
    pc->dict = xmalloc(PACK_CACHE_DICT_MAX);
    return pc;
}

static void drop(struct pack_cache *pc, struct entry *e);

void pack_cache_destroy(struct pack_cache *pc)
{
    if (!pc)
        return;
    /* Not walked when empty: reading sets never used would map in all their pages. */
    for (size_t i = 0; atomic_load(&pc->count) > 0 && i < pc->nsets; i++)
        for (int w = 0; w < PACK_CACHE_WAYS; w++)
            drop(pc, &pc->sets[i].e[w]);
    for (int i = 0; i < PACK_CACHE_LOCKS; i++)
        pthread_mutex_destroy(&pc->locks[i]);
    xfree(pc->sets);
    pthread_mutex_destroy(&pc->dict_lock);
    xfree(pc->dict_stream);
    xfree(pc->dict);
    xfree(pc);
}

/* Each hex digit's value plus one (0: not a digit of an id). */
static const unsigned char hex_plus_one[256] = {
    ['0'] = 1, ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* A pack id's 16 bytes: false for an id that is not 32 hex digits (never cached). */
static bool id_bytes(const char *id, unsigned char out[PACK_ID_BYTES])
{
    const unsigned char *s = (const unsigned char *)id;
    for (int i = 0; i < PACK_ID_BYTES; i++) {
        unsigned hi = hex_plus_one[s[2 * i]], lo = hi ? hex_plus_one[s[2 * i + 1]] : 0;
        if (!lo)
            return false;
        out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return s[2 * PACK_ID_BYTES] == '\0';
}

/* FNV-1a of the id (ids are random, so any mixing spreads them). */
static struct set *set_of(struct pack_cache *pc, const unsigned char id[PACK_ID_BYTES],
                          pthread_mutex_t **lock)
{
    uint64_t h = 1469598103934665603u;
    for (int i = 0; i < PACK_ID_BYTES; i++)
        h = (h ^ id[i]) * 1099511628211u;
    size_t index = h % pc->nsets;
    *lock = &pc->locks[index % PACK_CACHE_LOCKS];
    return &pc->sets[index];
}

static struct entry *find(struct set *st, const unsigned char id[PACK_ID_BYTES])
{
    for (int w = 0; w < PACK_CACHE_WAYS; w++)
        if (st->e[w].data && memcmp(st->e[w].id, id, PACK_ID_BYTES) == 0)
            return &st->e[w];
    return NULL;
}

static bool same_rendering(const struct entry *e, const struct store_pack *p)
{
    return e->version == p->version && e->cert_generation == p->cert_generation &&
           e->modified_on == p->modified_on;
}

static void drop(struct pack_cache *pc, struct entry *e)
{
    if (!e->data)
        return;
    atomic_fetch_sub(&pc->bytes, e->size);
    atomic_fetch_sub(&pc->count, 1);
    xfree(e->data);
    memset(e, 0, sizeof *e);
}

/* e's text as a heap copy (NUL-terminated), or NULL if it does not decode (never: the
 * cache wrote it). */
static char *text_of(struct pack_cache *pc, const struct entry *e)
{
    char *text = xmalloc((size_t)e->len + 1);
    if (!e->compressed) {
        memcpy(text, e->data, e->len);
    } else if (LZ4_decompress_safe_usingDict((const char *)e->data, text, (int)e->size, (int)e->len,
                                             pc->dict, (int)pc->dict_len) != (int)e->len) {
        xfree(text);
        return NULL;
    }
    text[e->len] = '\0';
    return text;
}

char *pack_cache_get(struct pack_cache *pc, const struct store_pack *p, int64_t now, size_t *len)
{
    unsigned char id[PACK_ID_BYTES];
    if (!pc || !id_bytes(p->id, id))
        return NULL;
    pthread_mutex_t *lock;
    struct set *st = set_of(pc, id, &lock);
    char *copy = NULL;
    pthread_mutex_lock(lock);
    struct entry *e = find(st, id);
    if (e && same_rendering(e, p) && now < e->stale_at && (copy = text_of(pc, e))) {
        *len = e->len;
        e->used = ++st->clock;
    }
    pthread_mutex_unlock(lock);
    return copy;
}

/* Adds text to the dictionary while it is being collected: true if it was (the text is
 * then kept plain). */
static bool collecting(struct pack_cache *pc, const char *text, size_t len)
{
    if (atomic_load_explicit(&pc->dict_ready, memory_order_acquire))
        return false;
    pthread_mutex_lock(&pc->dict_lock);
    bool was_collecting = !atomic_load_explicit(&pc->dict_ready, memory_order_relaxed);
    if (was_collecting) {
        if (len <= PACK_CACHE_DICT_MAX - pc->dict_len) {
            memcpy(pc->dict + pc->dict_len, text, len);
            pc->dict_len += len;
            pc->dict_texts++;
        }
        if (pc->dict_texts >= PACK_CACHE_DICT_TEXTS || pc->dict_len == PACK_CACHE_DICT_MAX) {
            pc->dict_stream =
                LZ4_initStream(xmalloc(sizeof *pc->dict_stream), sizeof *pc->dict_stream);
            LZ4_loadDict(pc->dict_stream, pc->dict, (int)pc->dict_len);
            atomic_store_explicit(&pc->dict_ready, true, memory_order_release);
        }
    }
    pthread_mutex_unlock(&pc->dict_lock);
    return was_collecting;
}

/* What to store for text: a compressed copy when the dictionary is ready and it shrinks
 * the text, else a plain one; either of exactly its size (no slack for the heap to keep).
 * The work space is on the stack: ~1 us a text would go to the allocator otherwise. */
static unsigned char *stored_form(struct pack_cache *pc, const char *text, size_t len,
                                  uint32_t *size, bool *compressed)
{
    *compressed = false;
    unsigned char *out = NULL;
    int n = (int)len;
    if (len <= PACK_CACHE_STACK_TEXT && !collecting(pc, text, len)) {
        char buf[LZ4_COMPRESSBOUND(PACK_CACHE_STACK_TEXT)];
        LZ4_stream_t work = *pc->dict_stream; /* the loaded dictionary, reused */
        n = LZ4_compress_fast_continue(&work, text, buf, (int)len, (int)sizeof buf, 1);
        if (n > 0 && (size_t)n < len) {
            out = xmalloc((size_t)n);
            memcpy(out, buf, (size_t)n);
            *compressed = true;
        } else {
            n = (int)len;
        }
    }
    if (!out) {
        out = xmalloc(len ? len : 1);
        memcpy(out, text, len);
    }
    *size = (uint32_t)n;
    return out;
}

void pack_cache_put(struct pack_cache *pc, const struct store_pack *p, const char *text, size_t len,
                    int64_t stale_at)
{
    unsigned char id[PACK_ID_BYTES];
    if (!pc || !id_bytes(p->id, id) || len > PACK_CACHE_ENTRY_MAX)
        return;
    /* Encoded outside the set's lock: readers of the set never wait for it. */
    uint32_t size;
    bool compressed;
    unsigned char *data = stored_form(pc, text, len, &size, &compressed);
    pthread_mutex_t *lock;
    struct set *st = set_of(pc, id, &lock);
    pthread_mutex_lock(lock);
    struct entry *e = find(st, id);
    if (!e) { /* an empty way, else the least recently used one */
        e = &st->e[0];
        for (int w = 0; w < PACK_CACHE_WAYS && e->data; w++)
            if (!st->e[w].data || st->e[w].used < e->used)
                e = &st->e[w];
    }
    drop(pc, e);
    /* The byte budget is shared by all sets: over it, this text is simply not kept. */
    if (atomic_fetch_add(&pc->bytes, size) + size <= pc->max_bytes) {
        memcpy(e->id, id, sizeof e->id);
        e->version = p->version;
        e->cert_generation = p->cert_generation;
        e->modified_on = p->modified_on;
        e->stale_at = stale_at;
        e->compressed = compressed;
        e->data = data;
        data = NULL;
        e->len = (uint32_t)len;
        e->size = size;
        e->used = ++st->clock;
        atomic_fetch_add(&pc->count, 1);
    } else {
        atomic_fetch_sub(&pc->bytes, size);
    }
    pthread_mutex_unlock(lock);
    xfree(data);
}

int pack_cache_count(struct pack_cache *pc)
{
    return pc ? atomic_load(&pc->count) : 0;
}

size_t pack_cache_bytes(struct pack_cache *pc)
{
    return pc ? atomic_load(&pc->bytes) : 0;
}
