/* Position maps: deep list pages by keyset seeks instead of OFFSET walks.
 *
 * A list ordered by (created_on, id) (a zone's packs, in one of its three forms) is paged
 * with page/per_page, i.e. an offset. OFFSET N makes the database step over N index
 * entries, so page 2000 of 100,000 packs cost 40 times page 50. A position map holds the
 * key of every STORE__POS_STEP-th row of one list: the page at offset o is then read from
 * the key of row (o / STEP) * STEP on with OFFSET o % STEP, an index seek and under STEP
 * skipped entries whatever o is, with exactly the rows OFFSET would give.
 *
 * Rules
 * - A map is valid for one version of its list's owner (zones.packs_version, bumped by
 *   triggers in the same transaction as any change that can add, remove or move a row of
 *   the list). The caller reads that version, the map's key and the page in one read
 *   transaction, so a map whose version matches describes the very snapshot the page is
 *   read from; any other map is rebuilt. Maps are filled lazily, up to the position asked
 *   for, by walking the list's covering index from the last key known (in the caller's
 *   transaction too).
 * - Memory is bounded: STORE__POS_MAPS maps (the least recently used goes), each of at
 *   most STORE__POS_ENTRIES keys; past that a page seeks from the last key and walks the
 *   rest with OFFSET (slower, same answer).
 * - One mutex guards the maps; it is never held while the database is read. */
#include "store/store_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

#define STORE__POS_MAPS 16
#define STORE__POS_ENTRIES 8192 /* 8192 keys of 48 bytes: 384 KiB, 1M rows at step 128 */

struct pos_map {
    int list; /* the pager's list id; 0: an empty slot */
    char scope[STORE_ID_SIZE];
    int64_t version;
    struct store__pos_key *keys; /* keys[i]: the key of row i * STORE__POS_STEP */
    int n, cap;
    bool complete; /* the list ends before row n * STORE__POS_STEP */
    uint64_t used;
};

struct store__positions {
    pthread_mutex_t lock;
    struct pos_map maps[STORE__POS_MAPS];
    uint64_t tick;
};

struct store__positions *store__positions_create(void)
{
    struct store__positions *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void store__positions_destroy(struct store__positions *p)
{
    if (!p)
        return;
    for (int i = 0; i < STORE__POS_MAPS; i++)
        xfree(p->maps[i].keys);
    pthread_mutex_destroy(&p->lock);
    xfree(p);
}

/* The map of (list, scope), or NULL. Under the lock. */
static struct pos_map *find(struct store__positions *p, int list, const char *scope)
{
    for (int i = 0; i < STORE__POS_MAPS; i++)
        if (p->maps[i].list == list && strcmp(p->maps[i].scope, scope) == 0)
            return &p->maps[i];
    return NULL;
}

/* A slot for a new map of (list, scope): an empty one or the least recently used. */
static struct pos_map *claim(struct store__positions *p, int list, const char *scope)
{
    struct pos_map *m = &p->maps[0];
    for (int i = 0; i < STORE__POS_MAPS && m->list; i++)
        if (!p->maps[i].list || p->maps[i].used < m->used)
            m = &p->maps[i];
    m->list = list;
    snprintf(m->scope, sizeof m->scope, "%s", scope);
    m->n = 0;
    m->complete = false;
    return m;
}

static void map_append(struct pos_map *m, const struct store__pos_key *k)
{
    assert(m->n < STORE__POS_ENTRIES);
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        if (m->cap > STORE__POS_ENTRIES)
            m->cap = STORE__POS_ENTRIES;
        m->keys = xrealloc(m->keys, (size_t)m->cap * sizeof *m->keys);
    }
    m->keys[m->n++] = *k;
}

/* The walk's result: keys of rows (first + i) * STEP, i = 0..n-1 (room for want - first + 1). */
struct walk {
    int first, n;
    struct store__pos_key *keys;
    bool complete;
};

/* Keys read by one statement at most: a walk of the whole list is a series of short index
 * range scans (PostgreSQL plans a long one as a sequential scan and a sort). */
#define WALK_CHUNK_KEYS 64

/* One statement of a walk: from `from` (inclusive; NULL: the list's start) at most nkeys
 * keys, those of rows 0, STEP, 2 * STEP... into keys[], *got of them; *ended when the list
 * ended first. STORE_NOT_FOUND for a key that cannot be held (an id longer than ids). */
static int walk_chunk(struct conn *c, const struct store__pager *pg, const void *filter,
                      const struct store__pos_key *from, int nkeys, struct store__pos_key *keys,
                      int *got, bool *ended)
{
    struct db_stmt *st = store__prepare(c, pg->seek->keys_id);
    if (!st)
        return STORE_ERROR;
    int n = pg->nparams;
    int64_t rows = (int64_t)(nkeys - 1) * STORE__POS_STEP + 1;
    int b = pg->bind(st, filter);
    b = b ? b : db_bind_int64(st, n + 1, from ? from->created_on : INT64_MIN);
    b = b ? b : db_bind_text(st, n + 2, from ? from->id : "", -1);
    b = b ? b : db_bind_int64(st, n + 3, rows);
    int rc = b ? store__fail(c, b, pg->what) : STORE_OK, step = DB_DONE;
    int64_t r = 0;
    *got = 0;
    while (rc == STORE_OK && (step = db_step(st)) == DB_ROW) {
        if (r % STORE__POS_STEP == 0) {
            const char *id = db_col_text(st, 1);
            size_t len = db_col_bytes(st, 1);
            struct store__pos_key *k = &keys[(*got)++];
            if (!id || len >= sizeof k->id) {
                rc = STORE_NOT_FOUND;
                break;
            }
            k->created_on = db_col_int64(st, 0);
            memcpy(k->id, id, len + 1);
        }
        r++;
    }
    if (rc == STORE_OK && step != DB_ROW && step != DB_DONE)
        rc = store__fail(c, step, pg->what);
    store__reset(st);
    *ended = r < rows;
    return rc;
}

/* Walks the list from `from` (the key of row first * STEP; NULL: from the start, first 0)
 * until the key of row want * STEP is known or the list ends, in chunks that each start
 * at the last key found. STORE_OK, or walk_chunk's error. */
static int walk(struct conn *c, const struct store__pager *pg, const void *filter,
                const struct store__pos_key *from, int first, int want, struct walk *w)
{
    int target = want - first + 1, rc = STORE_OK;
    struct store__pos_key start;
    if (from)
        start = *from;
    w->first = first;
    w->n = 0;
    w->complete = false;
    while (rc == STORE_OK && w->n < target && !w->complete) {
        /* A chunk's first key is its start: found again, kept once. */
        int base = w->n > 0 ? w->n - 1 : 0;
        int nkeys = target - base < WALK_CHUNK_KEYS ? target - base : WALK_CHUNK_KEYS;
        int got = 0;
        rc = walk_chunk(c, pg, filter, from || w->n > 0 ? &start : NULL, nkeys, w->keys + base,
                        &got, &w->complete);
        w->n = base + got;
        if (got == 0) /* an empty list, or the start row is gone: nothing further */
            w->complete = true;
        else
            start = w->keys[w->n - 1];
    }
    return rc;
}

/* Keeps what the walk learnt, if the map it extended is still the one in the cache (or the
 * walk started from the list's first row). Under the lock. */
static void remember(struct store__positions *p, const struct store__pager *pg, const char *scope,
                     int64_t version, const struct walk *w)
{
    struct pos_map *m = find(p, pg->seek->list, scope);
    if (!m || m->version != version || m->n < w->first) {
        if (w->first != 0)
            return;
        if (!m)
            m = claim(p, pg->seek->list, scope);
        m->version = version;
        m->n = 0;
    }
    for (int i = m->n - w->first; i < w->n && m->n < STORE__POS_ENTRIES; i++)
        map_append(m, &w->keys[i]);
    m->complete = w->complete && m->n == w->first + w->n;
    m->used = ++p->tick;
}

int store__positions_key(struct conn *c, const struct store__pager *pg, const void *filter,
                         int64_t version, int offset, struct store__pos_key *key, int *at)
{
    struct store__positions *p = c->s->positions;
    const char *scope = pg->seek->scope(filter);
    int want = offset / STORE__POS_STEP;
    if (want >= STORE__POS_ENTRIES)
        want = STORE__POS_ENTRIES - 1;
    assert(want > 0);

    struct store__pos_key from;
    int first = 0;
    pthread_mutex_lock(&p->lock);
    struct pos_map *m = find(p, pg->seek->list, scope);
    if (m && m->version == version) {
        m->used = ++p->tick;
        if (want < m->n || (m->complete && m->n > 0)) {
            int i = want < m->n ? want : m->n - 1;
            *key = m->keys[i];
            *at = i * STORE__POS_STEP;
            pthread_mutex_unlock(&p->lock);
            return STORE_OK;
        }
        if (m->n > 0) {
            first = m->n - 1;
            from = m->keys[first];
        }
    }
    pthread_mutex_unlock(&p->lock);

    struct walk w = {.keys = xmalloc((size_t)(want - first + 1) * sizeof *w.keys)};
    int rc = walk(c, pg, filter, first ? &from : NULL, first, want, &w);
    if (rc == STORE_OK && w.n == 0) /* the list is empty in this snapshot */
        rc = STORE_NOT_FOUND;
    if (rc == STORE_OK) {
        *key = w.keys[w.n - 1];
        *at = (w.first + w.n - 1) * STORE__POS_STEP;
        pthread_mutex_lock(&p->lock);
        remember(p, pg, scope, version, &w);
        pthread_mutex_unlock(&p->lock);
    }
    xfree(w.keys);
    return rc;
}
