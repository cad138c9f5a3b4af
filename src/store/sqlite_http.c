/* The HTTP-01 challenges tlsward publishes (store.h, table http_challenges): written by the
 * worker (worker/http_publish.c), read per request by the challenge responder. */
#include "store/sqlite_internal.h"

#include <string.h>

#include "common/alloc.h"

/* A pack publishes at most one challenge per host; the cap only bounds a damaged table. */
#define CHALLENGES_MAX 1024

static const char sql_of[] =
    "SELECT token, body FROM http_challenges WHERE pack_id = ?1 ORDER BY token";
static const char sql_put[] =
    "INSERT INTO http_challenges (token, pack_id, body) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (token) DO UPDATE SET pack_id = excluded.pack_id, body = excluded.body";
static const char sql_drop[] = "DELETE FROM http_challenges WHERE pack_id = ?1 AND token = ?2";
/* The row is an index; the pack row is the truth: a pack that left validation by http (API
 * method switch, deletion, time-out) or whose pending records changed stops serving at once.
 * While a pack is issued or renewed, an ACME order opened then (the RSA one, a renewal's)
 * has challenges its records never showed: those rows live only while they are answered
 * (acme_jobs), so they are served without being in the records. */
static const char sql_body[] =
    "SELECT c.body FROM http_challenges c JOIN packs p ON p.id = c.pack_id "
    "WHERE c.token = ?1 AND p.validation_method = 'http' "
    "AND (p.status IN ('pending_issuance', 'active', 'pending_expiration') "
    "OR (p.status = 'pending_validation' AND instr(p.validation_records, c.body) > 0))";

int store_http_challenges_of(struct store *s, const char *pack_id,
                             struct store_http_challenge **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_of);
    int rc = STORE_ERROR, cap = 0, step = SQLITE_DONE;
    int b = st ? store__bind_str(st, 1, pack_id) : SQLITE_ERROR;
    if (b == SQLITE_OK) {
        while (*count < CHALLENGES_MAX && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 4;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            struct store_http_challenge *h = &(*out)[(*count)++];
            store__col_text(st, 0, h->token, sizeof h->token);
            store__col_text(st, 1, h->body, sizeof h->body);
        }
        rc = step == SQLITE_DONE || step == SQLITE_ROW ? STORE_OK
                                                       : store__fail(c, step, "http challenges");
    }
    store__reset(st);
    store__give_back(s, c);
    if (rc != STORE_OK) {
        xfree(*out);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

struct write_args {
    const char *pack_id;
    const struct store_http_challenge *list;
    int n;
    bool put;
};

static int write_fn(struct conn *c, void *ctx)
{
    const struct write_args *a = ctx;
    int rc = STORE_OK;
    for (int i = 0; i < a->n && rc == STORE_OK; i++) {
        sqlite3_stmt *st = store__prepare(c, a->put ? sql_put : sql_drop);
        int b = st ? SQLITE_OK : SQLITE_ERROR;
        if (a->put) {
            b = b ? b : store__bind_str(st, 1, a->list[i].token);
            b = b ? b : store__bind_str(st, 2, a->pack_id);
            b = b ? b : store__bind_str(st, 3, a->list[i].body);
        } else {
            b = b ? b : store__bind_str(st, 1, a->pack_id);
            b = b ? b : store__bind_str(st, 2, a->list[i].token);
        }
        rc = store__write(c, st, b, false, a->put ? "http challenge put" : "http challenge drop");
        store__reset(st);
    }
    return rc;
}

int store_http_challenges_put(struct store *s, const char *pack_id,
                              const struct store_http_challenge *list, int n)
{
    struct write_args a = {pack_id, list, n, true};
    return n ? store__batch(s, write_fn, &a) : STORE_OK;
}

int store_http_challenges_drop(struct store *s, const char *pack_id,
                               const struct store_http_challenge *list, int n)
{
    struct write_args a = {pack_id, list, n, false};
    return n ? store__batch(s, write_fn, &a) : STORE_OK;
}

int store_http_challenge_body(struct store *s, const char *token,
                              char body[STORE_HTTP_BODY_MAX + 1])
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_body);
    int b = st ? store__bind_str(st, 1, token) : SQLITE_OK;
    int rc = store__read(c, st, b, "http challenge get");
    if (rc == STORE_OK)
        store__col_text(st, 0, body, STORE_HTTP_BODY_MAX + 1);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
