/* Request body and query decoding with per-field errors. */
#include "http/input.h"

#include <limits.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"

int input_json_depth(const char *text, size_t len)
{
    int depth = 0, max = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return max;
}

int input_json_object(struct request *req, bool empty_ok, json_t **out)
{
    *out = NULL;
    if (req->body_too_large) {
        request_fail(req, API_E_TOO_LARGE, "request body larger than %d bytes", REQUEST_BODY_MAX);
        return -1;
    }
    if (req->body_len == 0 && empty_ok) {
        *out = json_object();
        return 0;
    }
    if (input_json_depth(req->body, req->body_len) > INPUT_JSON_MAX_DEPTH) {
        request_fail(req, API_E_INVALID, "request body: JSON nested deeper than %d levels",
                     INPUT_JSON_MAX_DEPTH);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(req->body ? req->body : "", req->body_len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        request_fail(req, API_E_INVALID, "request body is not valid JSON: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        request_fail(req, API_E_INVALID, "request body must be a JSON object");
        return -1;
    }
    *out = root;
    return 0;
}

/* Fetches a field; 1 if present (non-null), 0 if absent, -1 if required and absent. */
static int field(struct request *req, json_t *obj, const char *key, const char *label,
                 enum input_presence presence, json_t **value)
{
    *value = json_object_get(obj, key);
    if (*value && !json_is_null(*value))
        return 1;
    if (presence == INPUT_REQUIRED) {
        request_fail(req, API_E_INVALID, "%s: is required", label);
        return -1;
    }
    return 0;
}

static int wrong_type(struct request *req, const char *label, const char *expected)
{
    request_fail(req, API_E_INVALID, "%s: must be %s", label, expected);
    return -1;
}

int input_string(struct request *req, json_t *obj, const char *key, const char *label,
                 enum input_presence presence, const char **out)
{
    json_t *v;
    int rc = field(req, obj, key, label, presence, &v);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return wrong_type(req, label, "a string");
    *out = json_string_value(v);
    return 0;
}

int input_object(struct request *req, json_t *obj, const char *key, const char *label,
                 enum input_presence presence, json_t **out)
{
    json_t *v;
    int rc = field(req, obj, key, label, presence, &v);
    if (rc <= 0)
        return rc;
    if (!json_is_object(v))
        return wrong_type(req, label, "an object");
    *out = v;
    return 0;
}

int input_bool(struct request *req, json_t *obj, const char *key, const char *label,
               enum input_presence presence, bool *out)
{
    json_t *v;
    int rc = field(req, obj, key, label, presence, &v);
    if (rc <= 0)
        return rc;
    if (!json_is_boolean(v))
        return wrong_type(req, label, "a boolean");
    *out = json_is_true(v);
    return 0;
}

int input_int(struct request *req, json_t *obj, const char *key, const char *label,
              enum input_presence presence, long long min, long long max, long long *out)
{
    json_t *v;
    int rc = field(req, obj, key, label, presence, &v);
    if (rc <= 0)
        return rc;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        request_fail(req, API_E_INVALID, "%s: must be an integer from %lld to %lld", label, min,
                     max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int input_string_array(struct request *req, json_t *obj, const char *key, const char *label,
                       enum input_presence presence, size_t max, const char ***out,
                       size_t *count)
{
    json_t *v;
    int rc = field(req, obj, key, label, presence, &v);
    *out = NULL;
    *count = 0;
    if (rc <= 0)
        return rc;
    if (!json_is_array(v))
        return wrong_type(req, label, "an array of strings");
    if (json_array_size(v) > max) {
        request_fail(req, API_E_INVALID, "%s: at most %zu entries", label, max);
        return -1;
    }
    const char **items = xcalloc(json_array_size(v) + 1, sizeof *items);
    for (size_t i = 0; i < json_array_size(v); i++) {
        items[i] = json_string_value(json_array_get(v, i));
        if (!items[i]) {
            xfree(items);
            request_fail(req, API_E_INVALID, "%s[%zu]: must be a string", label, i);
            return -1;
        }
    }
    *out = items;
    *count = json_array_size(v);
    return 0;
}

/* "a, b or c" for messages. */
static void describe_choices(const char *const *choices, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; choices[i] && used < size; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        int n = snprintf(out + used, size - used, "%s%s", sep, choices[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

static bool in_choices(const char *value, const char *const *choices)
{
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(value, choices[i]) == 0)
            return true;
    return false;
}

static int not_a_choice(struct request *req, const char *label, const char *const *choices)
{
    char list[256];
    describe_choices(choices, list, sizeof list);
    request_fail(req, API_E_INVALID, "%s: must be one of %s", label, list);
    return -1;
}

int input_enum(struct request *req, json_t *obj, const char *key, const char *label,
               enum input_presence presence, const char *const *choices, const char **out)
{
    const char *value = NULL;
    if (input_string(req, obj, key, label, presence, &value) < 0)
        return -1;
    if (!value)
        return 0;
    if (!in_choices(value, choices))
        return not_a_choice(req, label, choices);
    *out = value;
    return 0;
}

int input_query_enum(struct request *req, const char *name, const char *const *choices,
                     const char **out)
{
    const char *value = request_query(req, name);
    *out = NULL;
    if (!value)
        return 0;
    if (!in_choices(value, choices))
        return not_a_choice(req, name, choices);
    *out = value;
    return 0;
}

/* One integer query parameter within [min, max]. */
static int query_int(struct request *req, const char *name, long long min, long long max,
                     int fallback, int *out)
{
    const char *value = request_query(req, name);
    long long n;
    if (!value) {
        *out = fallback;
        return 0;
    }
    if (util_parse_int(value, min, max, &n) < 0) {
        request_fail(req, API_E_INVALID, "%s: must be an integer from %lld to %lld", name, min,
                     max);
        return -1;
    }
    *out = (int)n;
    return 0;
}

int input_paging(struct request *req, struct paging *p)
{
    if (query_int(req, "page", 1, INT_MAX / INPUT_PER_PAGE_MAX, 1, &p->page) < 0)
        return -1;
    return query_int(req, "per_page", 1, INPUT_PER_PAGE_MAX, INPUT_PER_PAGE_DEFAULT,
                     &p->per_page);
}

int input_window(struct request *req, struct window *w)
{
    if (!request_query(req, "limit") && !request_query(req, "offset")) {
        if (input_paging(req, &w->paging) < 0)
            return -1;
        w->limit = w->paging.per_page;
        w->offset = (w->paging.page - 1) * w->paging.per_page;
        return 0;
    }
    if (query_int(req, "limit", 1, INPUT_PER_PAGE_MAX, INPUT_PER_PAGE_DEFAULT, &w->limit) < 0 ||
        query_int(req, "offset", 0, INT_MAX - INPUT_PER_PAGE_MAX, 0, &w->offset) < 0)
        return -1;
    w->paging.per_page = w->limit;
    w->paging.page = w->offset / w->limit + 1;
    return 0;
}

json_t *input_result_info(const struct paging *p, int count, int total)
{
    /* Cloudflare reports one (empty) page for an empty list. */
    int pages = total > 0 ? (total + p->per_page - 1) / p->per_page : 1;
    return json_pack("{s:i, s:i, s:i, s:i, s:i}", "page", p->page, "per_page", p->per_page,
                     "count", count, "total_count", total, "total_pages", pages);
}
