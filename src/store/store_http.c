/* The HTTP-01 challenges tlsward publishes (store.h, table http_challenges): written by the
 * worker (worker/http_publish.c), read per request by the challenge responder. */
#include "store/store_internal.h"

#include <string.h>

#include "common/alloc.h"

/* A pack publishes at most one challenge per host; the cap only bounds a damaged table. */
#define CHALLENGES_MAX 1024


int store_http_challenges_of(struct store *s, const char *pack_id,
                             struct store_http_challenge **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_HTTP_OF);
    int rc = STORE_ERROR, cap = 0, step = DB_DONE;
    int b = st ? store__bind_str(st, 1, pack_id) : DB_ERROR;
    if (b == DB_OK) {
        while (*count < CHALLENGES_MAX && (step = db_step(st)) == DB_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 4;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            struct store_http_challenge *h = &(*out)[(*count)++];
            store__col_text(st, 0, h->token, sizeof h->token);
            store__col_text(st, 1, h->body, sizeof h->body);
        }
        rc = step == DB_DONE || step == DB_ROW ? STORE_OK
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
        struct db_stmt *st = store__prepare(c, a->put ? STMT_HTTP_PUT : STMT_HTTP_DROP);
        int b = st ? DB_OK : DB_ERROR;
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
    struct db_stmt *st = store__prepare(c, STMT_HTTP_BODY);
    int b = st ? store__bind_str(st, 1, token) : DB_OK;
    int rc = store__read(c, st, b, "http challenge get");
    if (rc == STORE_OK)
        store__col_text(st, 0, body, STORE_HTTP_BODY_MAX + 1);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
