/* Unit tests of the rendered-pack cache (api/pack_cache.c) and of GET/list certificate
 * packs through it (api/certificate_packs.c): a hit returns the bytes a fresh rendering
 * gives, a new version, certificate generation or modified_on misses, an entry is stale
 * from its first certificate expiry on, the number of entries and bytes stay bounded, the
 * least recently used entry of a set goes first, and concurrent use is safe. The API tests
 * call the handlers on a real store (either backend, like the store suites) with the cache
 * on and off and compare the envelopes byte for byte; the key read that finds a cached
 * rendering agrees with the row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/pack_cache.h"
#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "http/request.h"
#include "store/store.h"
#include "testutil.h"

#define SEC 1000000LL

/* ---- the cache alone ---- */

static void key(struct store_pack *p, int n, int version)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%032d", n);
    p->version = version;
    p->cert_generation = 1;
    p->modified_on = 1000;
}

static void expect_hit(struct pack_cache *pc, const struct store_pack *p, int64_t now,
                       const char *want)
{
    size_t len = 0;
    char *got = pack_cache_get(pc, p, now, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
    xfree(got);
}

static void expect_miss(struct pack_cache *pc, const struct store_pack *p, int64_t now)
{
    size_t len = 0;
    assert_null(pack_cache_get(pc, p, now, &len));
}

static void test_hit_and_key(void **state)
{
    struct pack_cache *pc = pack_cache_create(64, 1 << 20);
    struct store_pack p;
    key(&p, 1, 3);
    expect_miss(pc, &p, 0);
    pack_cache_put(pc, &p, "{\"id\":1}", 8, INT64_MAX);
    expect_hit(pc, &p, 0, "{\"id\":1}");
    expect_hit(pc, &p, INT64_MAX - 1, "{\"id\":1}");
    /* Each part of the key. */
    struct store_pack q = p;
    q.version = 4;
    expect_miss(pc, &q, 0);
    q = p;
    q.cert_generation = 2;
    expect_miss(pc, &q, 0);
    q = p;
    q.modified_on = 1001;
    expect_miss(pc, &q, 0);
    /* A newer rendering replaces the older one (one entry per pack). */
    pack_cache_put(pc, &q, "{\"id\":2}", 8, INT64_MAX);
    expect_hit(pc, &q, 0, "{\"id\":2}");
    expect_miss(pc, &p, 0);
    assert_int_equal(pack_cache_count(pc), 1);
    assert_int_equal(pack_cache_bytes(pc), 8);
    /* No cache: always a miss, a put is ignored. */
    pack_cache_put(NULL, &p, "x", 1, INT64_MAX);
    expect_miss(NULL, &p, 0);
    pack_cache_destroy(pc);
}

static void test_stale_from_expiry_instant(void **state)
{
    struct pack_cache *pc = pack_cache_create(64, 1 << 20);
    struct store_pack p;
    key(&p, 7, 1);
    pack_cache_put(pc, &p, "[]", 2, 5000);
    expect_hit(pc, &p, 4999, "[]");
    expect_miss(pc, &p, 5000);
    expect_miss(pc, &p, 6000);
    pack_cache_destroy(pc);
}

static void test_bounded_entries_and_bytes(void **state)
{
    struct pack_cache *pc = pack_cache_create(16, 1 << 20);
    struct store_pack p;
    for (int i = 0; i < 1000; i++) {
        key(&p, i, 1);
        pack_cache_put(pc, &p, "{\"a\":1}", 7, INT64_MAX);
        assert_true(pack_cache_count(pc) <= 16);
    }
    assert_true(pack_cache_count(pc) > 0);
    assert_int_equal(pack_cache_bytes(pc), (size_t)pack_cache_count(pc) * 7);
    pack_cache_destroy(pc);

    /* The byte budget: past it, a text is not kept (texts that do not compress). */
    pc = pack_cache_create(64, 100);
    char text[41];
    uint32_t r = 2463534242u;
    for (int i = 0; i < 10; i++) {
        for (int c = 0; c < 40; c++) {
            r ^= r << 13, r ^= r >> 17, r ^= r << 5; /* xorshift: nothing repeats */
            text[c] = (char)('!' + r % 90);
        }
        text[40] = '\0';
        key(&p, i, 1);
        pack_cache_put(pc, &p, text, 40, INT64_MAX);
        assert_true(pack_cache_bytes(pc) <= 100);
    }
    assert_int_equal(pack_cache_count(pc), 2);
    pack_cache_destroy(pc);

    /* One text over the per-entry limit is never kept. */
    pc = pack_cache_create(64, 1 << 30);
    size_t big = PACK_CACHE_ENTRY_MAX + 1;
    char *huge = xmalloc(big + 1);
    memset(huge, 'y', big);
    huge[big] = '\0';
    key(&p, 1, 1);
    pack_cache_put(pc, &p, huge, big, INT64_MAX);
    expect_miss(pc, &p, 0);
    assert_int_equal(pack_cache_count(pc), 0);
    xfree(huge);
    pack_cache_destroy(pc);
}

/* One set of sixteen: the least recently used (stored or hit) goes first. */
static void test_least_recently_used_goes(void **state)
{
    enum { WAYS = 16 };
    struct pack_cache *pc = pack_cache_create(WAYS, 1 << 20);
    struct store_pack p[WAYS + 1];
    for (int i = 0; i < WAYS; i++) {
        key(&p[i], i, 1);
        pack_cache_put(pc, &p[i], "{}", 2, INT64_MAX);
    }
    expect_hit(pc, &p[0], 0, "{}"); /* 1 is now the oldest */
    key(&p[WAYS], WAYS, 1);
    pack_cache_put(pc, &p[WAYS], "{}", 2, INT64_MAX);
    assert_int_equal(pack_cache_count(pc), WAYS);
    expect_miss(pc, &p[1], 0);
    expect_hit(pc, &p[0], 0, "{}");
    for (int i = 2; i <= WAYS; i++)
        expect_hit(pc, &p[i], 0, "{}");
    pack_cache_destroy(pc);
}

/* A pack-like text for pack n: what packs share (names, zone, dates) and what they do not
 * (their ids). */
static int pack_text(char *out, size_t size, int n)
{
    return snprintf(
        out, size,
        "{\"id\":\"%032x\",\"hosts\":[\"h%d.example.com\",\"*.h%d.example.com\"],"
        "\"status\":\"active\",\"type\":\"advanced\",\"certificate_authority\":"
        "\"lets_encrypt\",\"cloudflare_branding\":false,\"validation_method\":\"txt\","
        "\"validity_days\":90,\"primary_certificate\":\"%032x\",\"certificates\":[{"
        "\"id\":\"%032x\",\"status\":\"active\",\"bundle_method\":\"ubiquitous\","
        "\"expires_on\":\"2027-03-05T18:59:26Z\",\"geo_restrictions\":{\"label\":\"us\"},"
        "\"issuer\":\"tlsward Local Issuing CA\",\"priority\":1,\"zone_id\":"
        "\"92beb810dbdb627ffc80a92d2c8613d8\"}]}",
        (unsigned)n * 2654435761u, n, n, (unsigned)n * 40503u, (unsigned)n * 40503u);
}

/* Texts are kept compressed (the budget holds many more packs than their plain size), and
 * every hit is the exact text stored, for many packs. */
static void test_texts_kept_compressed(void **state)
{
    enum { N = 2000 };
    struct pack_cache *pc = pack_cache_create(4 * N, 1 << 20);
    struct store_pack p;
    char text[1024];
    size_t plain = 0;
    for (int i = 0; i < N; i++) {
        key(&p, i, 1);
        int len = pack_text(text, sizeof text, i);
        plain += (size_t)len;
        pack_cache_put(pc, &p, text, (size_t)len, INT64_MAX);
    }
    assert_int_equal(pack_cache_count(pc), N);
    assert_true(pack_cache_bytes(pc) * 3 < plain); /* plain texts would be all of plain */
    for (int i = 0; i < N; i++) {
        key(&p, i, 1);
        pack_text(text, sizeof text, i);
        expect_hit(pc, &p, 0, text);
    }
    /* A replacement is kept compressed too, and read back as the new text. */
    key(&p, 7, 2);
    int len = pack_text(text, sizeof text, 70000);
    pack_cache_put(pc, &p, text, (size_t)len, INT64_MAX);
    expect_hit(pc, &p, 0, text);
    assert_int_equal(pack_cache_count(pc), N);
    pack_cache_destroy(pc);
}

struct hammer {
    struct pack_cache *pc;
    int seed;
};

static void *hammer(void *arg)
{
    struct hammer *h = arg;
    struct store_pack p;
    char text[64];
    for (int i = 0; i < 20000; i++) {
        int n = (i * 7 + h->seed) % 50;
        key(&p, n, i % 3);
        int len = snprintf(text, sizeof text, "{\"n\":%d,\"v\":%d}", n, i % 3);
        size_t got_len;
        char *got = pack_cache_get(h->pc, &p, 0, &got_len);
        if (got) {
            /* A hit is exactly what was stored for this key, never another's text. */
            if (strcmp(got, text) != 0)
                fail_msg("got %s for %s", got, text);
            xfree(got);
        } else {
            pack_cache_put(h->pc, &p, text, (size_t)len, INT64_MAX);
        }
    }
    return NULL;
}

static void test_concurrent_use(void **state)
{
    struct pack_cache *pc = pack_cache_create(32, 1 << 20);
    pthread_t t[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){pc, i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(pack_cache_count(pc) <= 32);
    pack_cache_destroy(pc);
}

/* ---- GET and list through the handlers ---- */

struct fixture {
    char *dir, *path;
    struct app app;
    char account_id[STORE_ID_SIZE], zone_id[STORE_ID_SIZE];
    char packs[3][STORE_ID_SIZE];
    int64_t soon; /* the first certificate expiry of packs[0] */
};

/* Makes certificates of generation gen visible on the pack (one expiring at `first`, the
 * other a day later), with branding as given: a new version of the row. */
static void issue(struct fixture *fx, const char *id, int gen, int64_t first, bool branding)
{
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    struct store_pack_cert c[2];
    tu_pack_cert(&c[0], id, gen, 1, first + 86400 * SEC);
    tu_pack_cert(&c[1], id, gen, 2, first);
    /* The same generation again: only the row changes (its certificates stay). */
    int n = p.cert_generation == gen ? 0 : 2;
    p.cert_generation = gen;
    p.cloudflare_branding = branding;
    assert_int_equal(STORE_ENUM_PARSE("active", &p.status), 0);
    assert_int_equal(
        store_pack_update_with_certs(fx->app.store, &p, c, n, NULL, NULL, 0, util_now_us()),
        STORE_OK);
    store_pack_cert_clear(&c[0]);
    store_pack_cert_clear(&c[1]);
    store_pack_clear(&p);
}

static int setup_api(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_tenant("/tmp/tlsward-test-store-pack-cache-XXXXXX", 2, "example.com", &fx->dir,
                   &fx->path, &fx->app.store, fx->account_id, fx->zone_id);
    int64_t now = util_now_us();
    fx->soon = (now / SEC + 3600) * SEC;
    for (int i = 0; i < 3; i++) {
        tu_add_pack(fx->app.store, fx->zone_id, "pending_issuance", now + i, fx->packs[i]);
        issue(fx, fx->packs[i], 1, i == 0 ? fx->soon : fx->soon + 30 * 86400 * SEC, false);
    }
    fx->app.pack_cache = pack_cache_create(PACK_CACHE_ENTRIES, PACK_CACHE_BYTES);
    *state = fx;
    return 0;
}

static int teardown_api(void **state)
{
    struct fixture *fx = *state;
    pack_cache_destroy(fx->app.pack_cache);
    tu_close_store(fx->app.store, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* Runs a handler as the account's all-powerful token and returns the rendered body,
 * expecting HTTP `want`. */
static char *call_status(struct fixture *fx, void (*handler)(struct request *), const char *pack_id,
                         int want)
{
    struct request req;
    request_init(&req, &fx->app, "GET", "/", NULL, NULL);
    req.principal.kind = PRINCIPAL_TOKEN;
    snprintf(req.principal.id, sizeof req.principal.id, "%s", "token");
    snprintf(req.principal.account_id, sizeof req.principal.account_id, "%s", fx->account_id);
    snprintf(req.params[0], sizeof req.params[0], "%s", fx->zone_id);
    snprintf(req.params[1], sizeof req.params[1], "%s", pack_id ? pack_id : "");
    req.param_count = pack_id ? 2 : 1;
    handler(&req);
    char *text;
    size_t len;
    const char *type;
    request_render(&req, &text, &len, &type);
    assert_string_equal(type, "application/json");
    assert_int_equal(len, strlen(text));
    assert_int_equal(req.status, want);
    request_free(&req);
    return text;
}

static char *call(struct fixture *fx, void (*handler)(struct request *), const char *pack_id)
{
    return call_status(fx, handler, pack_id, 200);
}

/* The body with the cache off, then twice with it on (a miss, then a hit): all the same. */
static char *same_bytes(struct fixture *fx, void (*handler)(struct request *), const char *id)
{
    struct pack_cache *pc = fx->app.pack_cache;
    fx->app.pack_cache = NULL;
    char *fresh = call(fx, handler, id);
    fx->app.pack_cache = pc;
    for (int i = 0; i < 2; i++) {
        char *cached = call(fx, handler, id);
        assert_string_equal(cached, fresh);
        xfree(cached);
    }
    return fresh;
}

/* The envelope request_render writes for a result given as a tree (request_ok or
 * request_list), the way every response was rendered before pre-serialized results. */
static char *tree_envelope(struct fixture *fx, json_t *result, json_t *result_info)
{
    struct request req;
    request_init(&req, &fx->app, "GET", "/", NULL, NULL);
    if (result_info)
        request_list(&req, result, result_info);
    else
        request_ok(&req, result);
    char *text;
    size_t len;
    const char *type;
    request_render(&req, &text, &len, &type);
    request_free(&req);
    return text;
}

/* A pack rendered by api_pack_json into a tree envelope. */
static char *tree_get(struct fixture *fx, const char *id)
{
    struct request req;
    request_init(&req, &fx->app, "GET", "/", NULL, NULL);
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    json_t *obj = api_pack_json(&req, &p);
    assert_non_null(obj);
    store_pack_clear(&p);
    request_free(&req);
    return tree_envelope(fx, obj, NULL);
}

static void test_get_same_bytes_and_invalidation(void **state)
{
    struct fixture *fx = *state;
    char *tree = tree_get(fx, fx->packs[0]);
    char *body = same_bytes(fx, certificate_packs_get, fx->packs[0]);
    assert_string_equal(body, tree); /* the pre-serialized envelope is jansson's own */
    xfree(tree);
    tu_assert_contains(body, "\"cloudflare_branding\":false");
    tu_assert_contains(body, "\"status\":\"active\"");
    xfree(body);
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 1);

    /* An update (new version) shows at once. */
    issue(fx, fx->packs[0], 1, fx->soon, true);
    body = same_bytes(fx, certificate_packs_get, fx->packs[0]);
    tu_assert_contains(body, "\"cloudflare_branding\":true");
    xfree(body);

    /* A renewal: the new generation's certificates, expiring later. */
    issue(fx, fx->packs[0], 2, fx->soon + 86400 * SEC, true);
    body = same_bytes(fx, certificate_packs_get, fx->packs[0]);
    char want[64];
    util_format_time(fx->soon + 86400 * SEC, want);
    tu_assert_contains(body, want);
    xfree(body);

    /* Deleted (the row stays): 404 at once, though a rendering of it is still cached. */
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, fx->packs[0], &p), STORE_OK);
    assert_int_equal(STORE_ENUM_PARSE("deleted", &p.status), 0);
    assert_int_equal(store_pack_update(fx->app.store, &p, NULL, NULL, 0, util_now_us()), STORE_OK);
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 1);
    body = call_status(fx, certificate_packs_get, fx->packs[0], 404);
    tu_assert_contains(body, "\"code\":1472");
    xfree(body);
    store_pack_clear(&p);
}

/* The key read that finds a cached rendering reads what the whole row says. */
static void test_pack_key_matches_row(void **state)
{
    struct fixture *fx = *state;
    struct store_pack full, key;
    assert_int_equal(store_pack_by_id(fx->app.store, fx->packs[2], &full), STORE_OK);
    assert_int_equal(store_pack_get_key(fx->app.store, fx->zone_id, fx->packs[2], &key), STORE_OK);
    assert_string_equal(key.id, full.id);
    assert_string_equal(key.zone_id, full.zone_id);
    assert_int_equal(key.status, full.status);
    assert_int_equal(key.cert_generation, full.cert_generation);
    assert_int_equal(key.version, full.version);
    assert_int_equal(key.modified_on, full.modified_on);
    assert_int_equal(key.host_count, 0);
    char other[STORE_ID_SIZE];
    util_random_id(other);
    assert_int_equal(store_pack_get_key(fx->app.store, other, fx->packs[2], &key), STORE_NOT_FOUND);
    assert_int_equal(store_pack_get_key(fx->app.store, fx->zone_id, other, &key), STORE_NOT_FOUND);
    store_pack_clear(&full);
}

/* The entry is valid until the first certificate expiry it shows, not a moment longer:
 * from then on that certificate renders "expired". */
static void test_get_entry_stale_at_first_expiry(void **state)
{
    struct fixture *fx = *state;
    xfree(call(fx, certificate_packs_get, fx->packs[0]));
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, fx->packs[0], &p), STORE_OK);
    size_t len;
    char *text = pack_cache_get(fx->app.pack_cache, &p, fx->soon - 1, &len);
    assert_non_null(text);
    xfree(text);
    assert_null(pack_cache_get(fx->app.pack_cache, &p, fx->soon, &len));
    store_pack_clear(&p);
}

static void test_list_same_bytes_and_cached(void **state)
{
    struct fixture *fx = *state;
    char *body = same_bytes(fx, certificate_packs_list, NULL);
    for (int i = 0; i < 3; i++)
        tu_assert_contains(body, fx->packs[i]);
    tu_assert_contains(body, "\"result_info\":{");
    /* The same result and result_info as trees give the same bytes. */
    json_t *env = json_loads(body, 0, NULL);
    assert_non_null(env);
    char *tree = tree_envelope(fx, json_incref(json_object_get(env, "result")),
                               json_incref(json_object_get(env, "result_info")));
    assert_string_equal(body, tree);
    xfree(tree);
    json_decref(env);
    xfree(body);
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 3);
    /* A GET of a listed pack is served from what the list rendered, byte for byte. */
    xfree(same_bytes(fx, certificate_packs_get, fx->packs[1]));
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 3);
}

/* The list body with the cache off (every pack rendered from its own read). */
static char *list_uncached(struct fixture *fx)
{
    struct pack_cache *pc = fx->app.pack_cache;
    fx->app.pack_cache = NULL;
    char *body = call(fx, certificate_packs_list, NULL);
    fx->app.pack_cache = pc;
    return body;
}

/* A page of cached and uncached packs renders the bytes of one-by-one rendering, and a
 * pack changed between two lists is rendered again (the others stay cached). */
static void test_list_hits_and_misses_same_bytes(void **state)
{
    struct fixture *fx = *state;
    xfree(call(fx, certificate_packs_get, fx->packs[1])); /* one hit, two misses */
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 1);
    char *fresh = list_uncached(fx);
    char *mixed = call(fx, certificate_packs_list, NULL);
    assert_string_equal(mixed, fresh);
    xfree(mixed);
    xfree(fresh);
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 3);

    issue(fx, fx->packs[2], 1, fx->soon + 30 * 86400 * SEC, true); /* a new version */
    fresh = list_uncached(fx);
    tu_assert_contains(fresh, "\"cloudflare_branding\":true");
    char *again = call(fx, certificate_packs_list, NULL);
    assert_string_equal(again, fresh);
    xfree(again);
    /* And once more, all three from the cache. */
    again = call(fx, certificate_packs_list, NULL);
    assert_string_equal(again, fresh);
    xfree(again);
    xfree(fresh);
    assert_int_equal(pack_cache_count(fx->app.pack_cache), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_key),
        cmocka_unit_test(test_stale_from_expiry_instant),
        cmocka_unit_test(test_bounded_entries_and_bytes),
        cmocka_unit_test(test_texts_kept_compressed),
        cmocka_unit_test(test_least_recently_used_goes),
        cmocka_unit_test(test_concurrent_use),
        cmocka_unit_test_setup_teardown(test_get_same_bytes_and_invalidation, setup_api,
                                        teardown_api),
        cmocka_unit_test_setup_teardown(test_get_entry_stale_at_first_expiry, setup_api,
                                        teardown_api),
        cmocka_unit_test_setup_teardown(test_list_same_bytes_and_cached, setup_api, teardown_api),
        cmocka_unit_test_setup_teardown(test_pack_key_matches_row, setup_api, teardown_api),
        cmocka_unit_test_setup_teardown(test_list_hits_and_misses_same_bytes, setup_api,
                                        teardown_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
