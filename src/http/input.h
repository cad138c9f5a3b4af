/* Decoding request input: the JSON body (size and depth bounded), typed fields that
 * reject wrong types by name, and pagination parameters. Every failure records a 400/1004
 * naming the field or parameter and returns -1; the handler then just returns. */
#ifndef TLSWARD_HTTP_INPUT_H
#define TLSWARD_HTTP_INPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "http/request.h"

#define INPUT_JSON_MAX_DEPTH 32

/* Parses the body as a JSON object into *out (caller json_decref's). An empty body counts
 * as {} when empty_ok. */
int input_json_object(struct request *req, bool empty_ok, json_t **out);

enum input_presence { INPUT_OPTIONAL, INPUT_REQUIRED };

/* Field getters. `label` is the name used in messages ("account.id"). Absent optional
 * fields leave *out untouched and return 0; JSON null counts as absent. */
int input_string(struct request *req, json_t *obj, const char *key, const char *label,
                 enum input_presence presence, const char **out);
int input_object(struct request *req, json_t *obj, const char *key, const char *label,
                 enum input_presence presence, json_t **out);
int input_bool(struct request *req, json_t *obj, const char *key, const char *label,
               enum input_presence presence, bool *out);
int input_int(struct request *req, json_t *obj, const char *key, const char *label,
              enum input_presence presence, long long min, long long max, long long *out);
/* An array of at most `max` strings; *out (borrowed from obj) and *count. Elements that
 * are not strings are named by index ("hosts[3]: must be a string"). */
int input_string_array(struct request *req, json_t *obj, const char *key, const char *label,
                       enum input_presence presence, size_t max, const char ***out,
                       size_t *count);
/* A string that must be one of `choices` (NULL-terminated). */
int input_enum(struct request *req, json_t *obj, const char *key, const char *label,
               enum input_presence presence, const char *const *choices, const char **out);

/* A query parameter that, if present, must be one of choices; *out stays NULL if absent. */
int input_query_enum(struct request *req, const char *name, const char *const *choices,
                     const char **out);

/* Pagination: page >= 1 (default 1), per_page 1..50 (default 20). */
#define INPUT_PER_PAGE_DEFAULT 20
#define INPUT_PER_PAGE_MAX 50
struct paging {
    int page, per_page;
};
int input_paging(struct request *req, struct paging *p);
/* Either page/per_page or, when `limit` or `offset` is given, limit (1..50, default 20) and
 * offset (>= 0): the window to read and the paging to report (page = offset/limit + 1). */
struct window {
    struct paging paging;
    int offset, limit;
};
int input_window(struct request *req, struct window *w);
/* result_info for a page of `count` items out of `total`. */
json_t *input_result_info(const struct paging *p, int count, int total);

/* Nesting depth of a JSON text (brackets outside strings); used before parsing. */
int input_json_depth(const char *text, size_t len);

#endif
