/* One API request as handlers see it: what came in (method, path, route parameters,
 * headers and query through a lookup callback, body), who sent it, and what goes out
 * (status, envelope parts or a raw body). It knows nothing of libmicrohttpd, so the whole
 * pipeline can run in unit tests without sockets.
 *
 * Ownership: the request owns every json_t it holds and its body; request_free releases
 * them. Handlers record the outcome with request_ok/request_list/request_fail and return. */
#ifndef TLSWARD_HTTP_REQUEST_H
#define TLSWARD_HTTP_REQUEST_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/permission.h"
#include "http/api_error.h"
#include "store/store.h"

struct app;
struct route;

#define REQUEST_MAX_PARAMS 4
#define REQUEST_PARAM_SIZE 256
#define REQUEST_BODY_MAX (1024 * 1024) /* SPEC §9: bodies over 1 MiB get 413 */

enum request_lookup_kind { REQUEST_HEADER, REQUEST_QUERY };
/* Returns the first value of a header or query argument, or NULL. */
typedef const char *(*request_lookup_fn)(void *ctx, enum request_lookup_kind kind, const char *key);

enum principal_kind { PRINCIPAL_NONE, PRINCIPAL_TOKEN, PRINCIPAL_USER };

/* Who is calling: a bearer token (scoped to one account) or a global-key user. */
struct principal {
    enum principal_kind kind;
    char id[STORE_ID_SIZE];         /* token id, or user id */
    char account_id[STORE_ID_SIZE]; /* token's account ("" for users) */
    unsigned permissions;           /* PERM_* bits; users have PERM_ALL */
    char zone_scope[STORE_SCOPE_SIZE];
    int64_t expires_on; /* tokens: 0 = never */
};

struct request {
    struct app *app;
    const char *method;
    const char *path;
    const struct route *route;
    char params[REQUEST_MAX_PARAMS][REQUEST_PARAM_SIZE]; /* path parameters, in order */
    int param_count;
    request_lookup_fn lookup;
    void *lookup_ctx;
    char *body;
    size_t body_len;
    /* The body exceeded REQUEST_BODY_MAX and was dropped: decoding it answers 413, at the
     * point where a handler reads its body (after its zone and object checks). */
    bool body_too_large;
    char request_id[33];
    char client_key[64]; /* the client's address as ratelimit_address_key gives it; "" unknown */
    struct principal principal;
    /* The request's read snapshot of the store between pipeline_admit and
     * pipeline_handle (http/pipeline.c); request_free ends one still held. */
    struct store_snapshot *snapshot;

    /* Outcome. */
    int status;
    json_t *result;      /* success payload (may be JSON null) */
    json_t *result_info; /* lists only */
    json_t *messages;    /* array */
    json_t *errors;      /* array; non-empty means failure */
    char allow[64];      /* Allow header for 405 */
    long retry_after;    /* seconds, for 429; 0 = absent */
    /* A pre-serialized result (compact JSON, owned), rendered in place of `result`. */
    char *result_text;
    size_t result_text_len;
    /* A non-envelope body (healthz, metrics, PEM): owned, with its content type. */
    char *raw_body;
    size_t raw_len;
    const char *raw_type;

    /* Set by the server where a handler may finish after it returns (request_defer); all
     * NULL elsewhere. */
    struct request_deferral {
        void (*hold)(void *ctx);    /* one more party must finish before the answer goes */
        void (*release)(void *ctx); /* one party has finished; the last one sends it */
        void *ctx;
    } deferral;
};

/* Deferred outcomes. A handler whose outcome waits for another thread (a write handed to
 * the group commit) sets its outcome as if that will succeed, calls request_defer, hands
 * the work over and returns without touching req again. Whoever finishes the work may
 * change the outcome (a failure), then calls request_finish, after which it must not
 * touch req either: the answer goes once both the handler and the work are done, in
 * either order. request_defer is false where the server cannot wait (the handler must
 * then finish in place). */
bool request_defer(struct request *req);
void request_finish(struct request *req);

/* Initialises a request (fresh request id); the strings must outlive it. */
void request_init(struct request *req, struct app *app, const char *method, const char *path,
                  request_lookup_fn lookup, void *lookup_ctx);
void request_free(struct request *req);

const char *request_header(const struct request *req, const char *name);
const char *request_query(const struct request *req, const char *name);

/* Success with a result (ownership of result passes to the request). */
void request_ok(struct request *req, json_t *result);
/* Success of a list: result array plus result_info (both owned by the request). */
void request_list(struct request *req, json_t *items, json_t *result_info);
/* Success with a result already serialized as compact JSON (text: owned by the request
 * from now on), as json_dumps(JSON_COMPACT) would have written it: the envelope is the
 * same bytes as with request_ok. */
void request_ok_text(struct request *req, char *text, size_t len);
/* The same for a list: the items array as compact JSON text, and result_info (owned). */
void request_list_text(struct request *req, char *text, size_t len, json_t *result_info);
/* A raw success body (not the envelope); takes ownership of body. */
void request_raw(struct request *req, int status, const char *content_type, char *body, size_t len);

/* Failure with one error from the table; fmt (may be NULL for the default message) is the
 * message naming the field or object at fault. Calling it again appends another error. */
void request_fail(struct request *req, enum api_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 6003 with error_chain [6111], the shape Cloudflare uses for a malformed Authorization. */
void request_fail_auth_format(struct request *req);
/* The 7003 + 7000 pair for a zone that is malformed, unknown or not visible. */
void request_fail_zone(struct request *req, const char *zone_id);
bool request_failed(const struct request *req);

/* Renders the envelope (or returns the raw body): *out is a heap string (caller frees). */
void request_render(struct request *req, char **out, size_t *len, const char **content_type);

#endif
