/* The request context and the v4 envelope
 * {"success","errors","messages","result"[,"result_info"]}. */
#include "http/request.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/text.h"
#include "common/util.h"

/* splitmix64's finaliser: a bijection on 64-bit values that scatters neighbours. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A request id: 32 hex digits, unique in the process and across restarts. A request id is
 * not a secret (it is echoed in X-Request-Id and the log), so it does not need the CSPRNG
 * per request, which cost ~7% of a quick GET (a getpid and a DRBG call each time): each
 * thread draws a random 128-bit key once, then ids are its first half followed by the
 * mixed (bijective, so never repeating) sum of the second half and a per-thread counter. */
static void next_request_id(char out[33])
{
    static _Thread_local uint64_t key[2], counter;
    static _Thread_local bool seeded;
    if (!seeded) {
        util_random_bytes(key, sizeof key);
        seeded = true;
    }
    unsigned char raw[16];
    uint64_t halves[2] = {key[0], mix64(key[1] + counter++)};
    memcpy(raw, halves, sizeof raw);
    util_hex(raw, sizeof raw, out);
}

void request_init(struct request *req, struct app *app, const char *method, const char *path,
                  request_lookup_fn lookup, void *lookup_ctx)
{
    memset(req, 0, sizeof *req);
    req->app = app;
    req->method = method;
    req->path = path;
    req->lookup = lookup;
    req->lookup_ctx = lookup_ctx;
    req->status = 200;
    next_request_id(req->request_id);
}

void request_free(struct request *req)
{
    if (req->snapshot) /* admitted, never handled (the client went away) */
        store_snapshot_release(req->app->store, req->snapshot);
    req->snapshot = NULL;
    json_decref(req->result);
    json_decref(req->result_info);
    json_decref(req->messages);
    json_decref(req->errors);
    xfree(req->raw_body);
    xfree(req->body);
    xfree(req->result_text);
    req->result = req->result_info = req->messages = req->errors = NULL;
    req->raw_body = req->body = req->result_text = NULL;
}

const char *request_header(const struct request *req, const char *name)
{
    return req->lookup ? req->lookup(req->lookup_ctx, REQUEST_HEADER, name) : NULL;
}

const char *request_query(const struct request *req, const char *name)
{
    return req->lookup ? req->lookup(req->lookup_ctx, REQUEST_QUERY, name) : NULL;
}

static void drop_result_text(struct request *req)
{
    xfree(req->result_text);
    req->result_text = NULL;
    req->result_text_len = 0;
}

bool request_defer(struct request *req)
{
    if (!req->deferral.hold)
        return false;
    req->deferral.hold(req->deferral.ctx);
    return true;
}

void request_finish(struct request *req)
{
    req->deferral.release(req->deferral.ctx);
}

void request_ok(struct request *req, json_t *result)
{
    drop_result_text(req);
    json_decref(req->result);
    req->result = result ? result : json_null();
    req->status = 200;
}

void request_list(struct request *req, json_t *items, json_t *result_info)
{
    request_ok(req, items);
    json_decref(req->result_info);
    req->result_info = result_info;
}

void request_ok_text(struct request *req, char *text, size_t len)
{
    request_ok(req, NULL);
    req->result_text = text;
    req->result_text_len = len;
}

void request_list_text(struct request *req, char *text, size_t len, json_t *result_info)
{
    request_ok_text(req, text, len);
    json_decref(req->result_info);
    req->result_info = result_info;
}

void request_raw(struct request *req, int status, const char *content_type, char *body, size_t len)
{
    xfree(req->raw_body);
    req->raw_body = body;
    req->raw_len = len;
    req->raw_type = content_type;
    req->status = status;
}

static void append_error(struct request *req, enum api_error e, json_t *error)
{
    if (!req->errors)
        req->errors = json_array();
    /* The first error decides the HTTP status. */
    if (json_array_size(req->errors) == 0)
        req->status = api_error_status(e);
    json_array_append_new(req->errors, error);
}

/* {code, message}. The message is escaped here, the one place every error passes through:
 * handlers put path segments, query values and body fields into messages, and a JSON
 * encoder refuses invalid UTF-8 (the error would vanish). Our own wording is printable
 * ASCII, which escaping leaves as it is. */
static json_t *error_object(enum api_error e, const char *message)
{
    char safe[TEXT_ESCAPED_MAX(512)];
    text_escape(message, strlen(message), safe, sizeof safe, 0);
    json_t *error = json_pack("{s:i, s:s}", "code", api_error_code(e), "message", safe);
    if (!error) /* cannot happen with escaped text; never lose the error anyway */
        error = json_pack("{s:i, s:s}", "code", api_error_code(e), "message", api_error_message(e));
    return error;
}

void request_fail(struct request *req, enum api_error e, const char *fmt, ...)
{
    char message[512];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
    } else {
        snprintf(message, sizeof message, "%s", api_error_message(e));
    }
    append_error(req, e, error_object(e, message));
}

void request_fail_auth_format(struct request *req)
{
    json_t *error = error_object(API_E_BAD_HEADERS, api_error_message(API_E_BAD_HEADERS));
    json_t *chain = json_array();
    json_array_append_new(
        chain, error_object(API_E_BAD_AUTH_FORMAT, api_error_message(API_E_BAD_AUTH_FORMAT)));
    json_object_set_new(error, "error_chain", chain);
    append_error(req, API_E_BAD_HEADERS, error);
}

void request_fail_zone(struct request *req, const char *zone_id)
{
    request_fail(req, API_E_ZONE_ROUTE,
                 "Could not route to /zones/%s, perhaps your object identifier is invalid?",
                 zone_id);
    request_fail(req, API_E_NO_ROUTE, NULL);
}

bool request_failed(const struct request *req)
{
    return req->errors && json_array_size(req->errors) > 0;
}

/* The success envelope around a pre-serialized result: the head (success, errors,
 * messages) as jansson writes it, then "result" and "result_info" in the order and compact
 * form request_render's own tree gets them, so the bytes are the same. False only when out
 * of memory (the caller then renders the tree way). */
static bool render_text(struct request *req, char **out, size_t *len)
{
    json_t *head = json_object();
    json_object_set_new(head, "success", json_true());
    json_object_set_new(head, "errors", json_array());
    json_object_set_new(head, "messages",
                        req->messages ? json_incref(req->messages) : json_array());
    char *h = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    char *info = req->result_info ? json_dumps(req->result_info, JSON_COMPACT) : NULL;
    if (!h || (req->result_info && !info)) {
        xfree(h);
        xfree(info);
        return false;
    }
    static const char k_result[] = ",\"result\":", k_info[] = ",\"result_info\":";
    size_t hl = strlen(h) - 1; /* without its closing brace */
    size_t il = info ? strlen(info) : 0;
    size_t n =
        hl + sizeof k_result - 1 + req->result_text_len + (info ? sizeof k_info - 1 + il : 0) + 1;
    char *buf = xmalloc(n + 1), *p = buf;
    memcpy(p, h, hl), p += hl;
    memcpy(p, k_result, sizeof k_result - 1), p += sizeof k_result - 1;
    memcpy(p, req->result_text, req->result_text_len), p += req->result_text_len;
    if (info) {
        memcpy(p, k_info, sizeof k_info - 1), p += sizeof k_info - 1;
        memcpy(p, info, il), p += il;
    }
    *p++ = '}';
    *p = '\0';
    xfree(h);
    xfree(info);
    *out = buf;
    *len = n;
    return true;
}

void request_render(struct request *req, char **out, size_t *len, const char **content_type)
{
    if (req->raw_body && !request_failed(req)) {
        *out = req->raw_body;
        *len = req->raw_len;
        *content_type = req->raw_type;
        req->raw_body = NULL;
        return;
    }
    /* A failure always carries at least one error: a handler that set an error status
     * without recording why is a bug, reported as what it is rather than as an empty list. */
    if (!request_failed(req) && req->status >= 400)
        request_fail(req, API_E_INTERNAL, NULL);
    bool ok = !request_failed(req);
    if (ok && req->result_text && render_text(req, out, len)) {
        *content_type = "application/json";
        return;
    }
    json_t *env = json_object();
    json_object_set_new(env, "success", json_boolean(ok));
    json_object_set_new(env, "errors", ok ? json_array() : json_incref(req->errors));
    json_object_set_new(env, "messages", req->messages ? json_incref(req->messages) : json_array());
    json_object_set_new(env, "result", ok && req->result ? json_incref(req->result) : json_null());
    if (ok && req->result_info)
        json_object_set(env, "result_info", req->result_info);
    *out = json_dumps(env, JSON_COMPACT);
    if (!*out) /* only out of memory; still answer with a well-formed envelope */
        *out = xstrdup("{\"success\":false,\"errors\":[{\"code\":10500,\"message\":"
                       "\"Internal server error\"}],\"messages\":[],\"result\":null}");
    *len = strlen(*out);
    *content_type = "application/json";
    json_decref(env);
}
