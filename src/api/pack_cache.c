/* The rendered-pack cache (see pack_cache.h). A pack maps to one set by a hash of its id;
 * a set holds PACK_CACHE_WAYS entries, each the key, a stale instant and a heap text. A hit
 * copies the text out under the set's lock, so a concurrent replacement never frees what a
 * reader is using. */
#include "api/pack_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"

#define PACK_CACHE_WAYS 4

struct entry {
    char id[STORE_ID_SIZE]; /* "" : empty */
    int version, cert_generation;
    int64_t modified_on, stale_at;
    uint64_t used; /* the set's clock at the last hit or store: LRU within the set */
    char *text;
    size_t len;
};

struct set {
    pthread_mutex_t lock;
    uint64_t clock;
    struct entry e[PACK_CACHE_WAYS];
};

struct pack_cache {
    struct set *sets;
    size_t nsets;
    size_t max_bytes;
    atomic_size_t bytes;
    atomic_int count;
};

struct pack_cache *pack_cache_create(int entries, size_t max_bytes)
{
    struct pack_cache *pc = xcalloc(1, sizeof *pc);
    pc->nsets =
        entries > PACK_CACHE_WAYS ? ((size_t)entries + PACK_CACHE_WAYS - 1) / PACK_CACHE_WAYS : 1;
    pc->sets = xcalloc(pc->nsets, sizeof *pc->sets);
    for (size_t i = 0; i < pc->nsets; i++)
        pthread_mutex_init(&pc->sets[i].lock, NULL);
    pc->max_bytes = max_bytes;
    return pc;
}

void pack_cache_destroy(struct pack_cache *pc)
{
    if (!pc)
        return;
    for (size_t i = 0; i < pc->nsets; i++) {
        for (int w = 0; w < PACK_CACHE_WAYS; w++)
            xfree(pc->sets[i].e[w].text);
        pthread_mutex_destroy(&pc->sets[i].lock);
    }
    xfree(pc->sets);
    xfree(pc);
}

/* FNV-1a of the id (ids are random, so any mixing spreads them). */
static struct set *set_of(struct pack_cache *pc, const char *id)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return &pc->sets[h % pc->nsets];
}

static struct entry *find(struct set *st, const char *id)
{
    for (int w = 0; w < PACK_CACHE_WAYS; w++)
        if (st->e[w].id[0] && strcmp(st->e[w].id, id) == 0)
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
    if (!e->id[0])
        return;
    atomic_fetch_sub(&pc->bytes, e->len);
    atomic_fetch_sub(&pc->count, 1);
    xfree(e->text);
    memset(e, 0, sizeof *e);
}

char *pack_cache_get(struct pack_cache *pc, const struct store_pack *p, int64_t now, size_t *len)
{
    if (!pc)
        return NULL;
    struct set *st = set_of(pc, p->id);
    char *copy = NULL;
    pthread_mutex_lock(&st->lock);
    struct entry *e = find(st, p->id);
    if (e && same_rendering(e, p) && now < e->stale_at) {
        copy = xmalloc(e->len + 1);
        memcpy(copy, e->text, e->len + 1);
        *len = e->len;
        e->used = ++st->clock;
    }
    pthread_mutex_unlock(&st->lock);
    return copy;
}

void pack_cache_put(struct pack_cache *pc, const struct store_pack *p, const char *text, size_t len,
                    int64_t stale_at)
{
    if (!pc || !p->id[0] || len > PACK_CACHE_ENTRY_MAX)
        return;
    struct set *st = set_of(pc, p->id);
    pthread_mutex_lock(&st->lock);
    struct entry *e = find(st, p->id);
    if (!e) { /* an empty way, else the least recently used one */
        e = &st->e[0];
        for (int w = 0; w < PACK_CACHE_WAYS && e->id[0]; w++)
            if (!st->e[w].id[0] || st->e[w].used < e->used)
                e = &st->e[w];
    }
    drop(pc, e);
    /* The byte budget is shared by all sets: over it, this text is simply not kept. */
    if (atomic_fetch_add(&pc->bytes, len) + len <= pc->max_bytes) {
        memcpy(e->id, p->id, sizeof e->id);
        e->id[sizeof e->id - 1] = '\0';
        e->version = p->version;
        e->cert_generation = p->cert_generation;
        e->modified_on = p->modified_on;
        e->stale_at = stale_at;
        e->text = xmalloc(len + 1);
        memcpy(e->text, text, len);
        e->text[len] = '\0';
        e->len = len;
        e->used = ++st->clock;
        atomic_fetch_add(&pc->count, 1);
    } else {
        atomic_fetch_sub(&pc->bytes, len);
    }
    pthread_mutex_unlock(&st->lock);
}

int pack_cache_count(struct pack_cache *pc)
{
    return pc ? atomic_load(&pc->count) : 0;
}

size_t pack_cache_bytes(struct pack_cache *pc)
{
    return pc ? atomic_load(&pc->bytes) : 0;
}
