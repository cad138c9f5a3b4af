/* A pack's arrays (hosts, validation records, errors, delegation records): the helpers that
 * fill them, and their JSON texts in the packs table. The text of each array is exactly
 * what the API showed when the columns held it as is (so a database written before reads
 * unchanged); only this file reads or writes it. */
#include "store/store_internal.h"

#include <jansson.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

/* ---- the arrays ---- */

int store_field_set(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        return -1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return 0;
}

/* Room for one more element of an array of at most max: its zeroed slot, or NULL. */
static void *grow(void **arr, int *count, int max, size_t size)
{
    if (*count >= max)
        return NULL;
    *arr = xrealloc(*arr, (size_t)(*count + 1) * size);
    char *slot = (char *)*arr + (size_t)*count * size;
    memset(slot, 0, size);
    (*count)++;
    return slot;
}

struct store_host *store_pack_host_add(struct store_pack *p, const char *name)
{
    if (!name || strlen(name) >= STORE_HOST_SIZE)
        return NULL;
    struct store_host *h =
        grow((void **)&p->hosts, &p->host_count, STORE_PACK_HOSTS_MAX, sizeof *h);
    if (h)
        store_field_set(h->name, sizeof h->name, name);
    return h;
}

struct store_validation_record *store_pack_record_add(struct store_pack *p)
{
    return grow((void **)&p->validation_records, &p->validation_record_count,
                STORE_PACK_RECORDS_MAX, sizeof *p->validation_records);
}

struct store_validation_error *store_pack_error_add(struct store_pack *p, const char *message)
{
    if (!message || strlen(message) >= STORE_ERROR_MESSAGE_SIZE)
        return NULL;
    struct store_validation_error *e =
        grow((void **)&p->validation_errors, &p->validation_error_count, STORE_PACK_ERRORS_MAX,
             sizeof *e);
    if (e)
        store_field_set(e->message, sizeof e->message, message);
    return e;
}

struct store_delegation_record *store_pack_delegation_add(struct store_pack *p, const char *cname,
                                                          const char *cname_target)
{
    if (!cname || !cname_target || strlen(cname) >= STORE_RECORD_NAME_SIZE ||
        strlen(cname_target) >= STORE_CNAME_TARGET_SIZE)
        return NULL;
    struct store_delegation_record *d =
        grow((void **)&p->dcv_delegation_records, &p->dcv_delegation_record_count,
             STORE_PACK_RECORDS_MAX, sizeof *d);
    if (d) {
        store_field_set(d->cname, sizeof d->cname, cname);
        store_field_set(d->cname_target, sizeof d->cname_target, cname_target);
    }
    return d;
}

void store_pack_hosts_clear(struct store_pack *p)
{
    xfree(p->hosts);
    p->hosts = NULL;
    p->host_count = 0;
}

void store_pack_records_clear(struct store_pack *p)
{
    xfree(p->validation_records);
    p->validation_records = NULL;
    p->validation_record_count = 0;
}

void store_pack_errors_clear(struct store_pack *p)
{
    xfree(p->validation_errors);
    p->validation_errors = NULL;
    p->validation_error_count = 0;
}

void store_pack_delegation_clear(struct store_pack *p)
{
    xfree(p->dcv_delegation_records);
    p->dcv_delegation_records = NULL;
    p->dcv_delegation_record_count = 0;
}

static void *dup_array(const void *src, int count, size_t size)
{
    if (!src || count <= 0)
        return NULL;
    void *out = xmalloc((size_t)count * size);
    memcpy(out, src, (size_t)count * size);
    return out;
}

void store_pack_copy(struct store_pack *dst, const struct store_pack *src)
{
    *dst = *src;
    dst->hosts = dup_array(src->hosts, src->host_count, sizeof *src->hosts);
    dst->validation_records = dup_array(src->validation_records, src->validation_record_count,
                                        sizeof *src->validation_records);
    dst->validation_errors = dup_array(src->validation_errors, src->validation_error_count,
                                       sizeof *src->validation_errors);
    dst->dcv_delegation_records =
        dup_array(src->dcv_delegation_records, src->dcv_delegation_record_count,
                  sizeof *src->dcv_delegation_records);
}

/* ---- encoding ---- */

/* Adds key: value when value is not empty (the JSON of a record has only its method's
 * fields). */
static void set_nonempty(json_t *obj, const char *key, const char *value)
{
    if (value[0])
        json_object_set_new(obj, key, json_string(value));
}

/* Keys in the order the record builders have always written them. */
static json_t *record_json(const struct store_validation_record *r)
{
    json_t *obj = json_object();
    set_nonempty(obj, "txt_name", r->txt_name);
    set_nonempty(obj, "txt_value", r->txt_value);
    set_nonempty(obj, "http_url", r->http_url);
    set_nonempty(obj, "http_body", r->http_body);
    if (r->email_count > 0) {
        json_t *emails = json_array();
        for (int i = 0; i < r->email_count && i < STORE_RECORD_EMAILS_MAX; i++)
            json_array_append_new(emails, json_string(r->emails[i]));
        json_object_set_new(obj, "emails", emails);
    }
    set_nonempty(obj, "status", r->status);
    return obj;
}

static json_t *array_json(const struct store_pack *p, enum store__pack_array a)
{
    json_t *arr = json_array();
    switch (a) {
    case STORE__PACK_HOSTS:
        for (int i = 0; i < p->host_count; i++)
            json_array_append_new(arr, json_string(p->hosts[i].name));
        break;
    case STORE__PACK_RECORDS:
        for (int i = 0; i < p->validation_record_count; i++)
            json_array_append_new(arr, record_json(&p->validation_records[i]));
        break;
    case STORE__PACK_ERRORS:
        for (int i = 0; i < p->validation_error_count; i++)
            json_array_append_new(arr,
                                  json_pack("{s:s}", "message", p->validation_errors[i].message));
        break;
    case STORE__PACK_DELEGATION:
        for (int i = 0; i < p->dcv_delegation_record_count; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s}", "cname",
                                                 p->dcv_delegation_records[i].cname, "cname_target",
                                                 p->dcv_delegation_records[i].cname_target));
        break;
    }
    return arr;
}

static const int array_max[] = {
    [STORE__PACK_HOSTS] = STORE_PACK_HOSTS_MAX,
    [STORE__PACK_RECORDS] = STORE_PACK_RECORDS_MAX,
    [STORE__PACK_ERRORS] = STORE_PACK_ERRORS_MAX,
    [STORE__PACK_DELEGATION] = STORE_PACK_RECORDS_MAX,
};
static const char *const array_name[] = {
    [STORE__PACK_HOSTS] = "hosts",
    [STORE__PACK_RECORDS] = "validation_records",
    [STORE__PACK_ERRORS] = "validation_errors",
    [STORE__PACK_DELEGATION] = "dcv_delegation_records",
};

static int array_count(const struct store_pack *p, enum store__pack_array a)
{
    switch (a) {
    case STORE__PACK_HOSTS:
        return p->host_count;
    case STORE__PACK_RECORDS:
        return p->validation_record_count;
    case STORE__PACK_ERRORS:
        return p->validation_error_count;
    case STORE__PACK_DELEGATION:
        return p->dcv_delegation_record_count;
    }
    return 0;
}

char *store__pack_json_encode(const struct store_pack *p, enum store__pack_array a)
{
    int n = array_count(p, a);
    if (n < 0 || n > array_max[a]) {
        log_msg(LOG_ERROR, "store: pack %s has %d %s (at most %d)", p->id, n, array_name[a],
                array_max[a]);
        return NULL;
    }
    /* A new order's records, errors and delegation records are all empty: the text
     * jansson would make of an empty array, without building one. */
    if (n == 0)
        return xstrdup("[]");
    json_t *arr = array_json(p, a);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* ---- decoding ---- */

/* A string member into a field: 0 (absent leaves it empty), or -1 (not a string, or too
 * long). */
static int take_string(json_t *obj, const char *key, char *dst, size_t size)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    return json_is_string(v) ? store_field_set(dst, size, json_string_value(v)) : -1;
}

static int record_from_json(json_t *obj, struct store_validation_record *r)
{
    static const char *const known[] = {"txt_name",  "txt_value", "http_url",
                                        "http_body", "emails",    "status"};
    if (!json_is_object(obj))
        return -1;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(known[k], key) != 0)
            k++;
        if (k == sizeof known / sizeof known[0])
            return -1; /* a member this build would drop: refused, not lost */
    }
    if (take_string(obj, "txt_name", r->txt_name, sizeof r->txt_name) < 0 ||
        take_string(obj, "txt_value", r->txt_value, sizeof r->txt_value) < 0 ||
        take_string(obj, "http_url", r->http_url, sizeof r->http_url) < 0 ||
        take_string(obj, "http_body", r->http_body, sizeof r->http_body) < 0 ||
        take_string(obj, "status", r->status, sizeof r->status) < 0)
        return -1;
    json_t *emails = json_object_get(obj, "emails");
    if (!emails)
        return 0;
    if (!json_is_array(emails) || json_array_size(emails) > STORE_RECORD_EMAILS_MAX)
        return -1;
    size_t i;
    json_array_foreach(emails, i, v)
    {
        if (!json_is_string(v) ||
            store_field_set(r->emails[i], sizeof r->emails[i], json_string_value(v)) < 0)
            return -1;
        r->email_count++;
    }
    return 0;
}

static int element_from_json(struct store_pack *p, enum store__pack_array a, json_t *v)
{
    switch (a) {
    case STORE__PACK_HOSTS:
        return json_is_string(v) && store_pack_host_add(p, json_string_value(v)) ? 0 : -1;
    case STORE__PACK_RECORDS: {
        struct store_validation_record *r = store_pack_record_add(p);
        return r ? record_from_json(v, r) : -1;
    }
    case STORE__PACK_ERRORS: {
        json_t *m = json_object_get(v, "message");
        return json_is_object(v) && json_object_size(v) == 1 && json_is_string(m) &&
                       store_pack_error_add(p, json_string_value(m))
                   ? 0
                   : -1;
    }
    case STORE__PACK_DELEGATION: {
        json_t *c = json_object_get(v, "cname"), *t = json_object_get(v, "cname_target");
        return json_is_object(v) && json_object_size(v) == 2 && json_is_string(c) &&
                       json_is_string(t) &&
                       store_pack_delegation_add(p, json_string_value(c), json_string_value(t))
                   ? 0
                   : -1;
    }
    }
    return -1;
}

static void array_clear(struct store_pack *p, enum store__pack_array a)
{
    switch (a) {
    case STORE__PACK_HOSTS:
        store_pack_hosts_clear(p);
        break;
    case STORE__PACK_RECORDS:
        store_pack_records_clear(p);
        break;
    case STORE__PACK_ERRORS:
        store_pack_errors_clear(p);
        break;
    case STORE__PACK_DELEGATION:
        store_pack_delegation_clear(p);
        break;
    }
}

int store__pack_json_decode(struct store_pack *p, enum store__pack_array a, const char *text)
{
    array_clear(p, a);
    json_t *arr = json_loads(text ? text : "[]", 0, NULL);
    int rc = json_is_array(arr) && json_array_size(arr) <= (size_t)array_max[a] ? 0 : -1;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (rc == 0)
            rc = element_from_json(p, a, v);
    }
    json_decref(arr);
    if (rc < 0) {
        array_clear(p, a);
        log_msg(LOG_ERROR, "store: pack %s: its %s do not fit this build", p->id, array_name[a]);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* ---- rows ---- */

static char **row_text(struct store__pack_row *row, enum store__pack_array a)
{
    switch (a) {
    case STORE__PACK_HOSTS:
        return &row->hosts;
    case STORE__PACK_RECORDS:
        return &row->validation_records;
    case STORE__PACK_ERRORS:
        return &row->validation_errors;
    case STORE__PACK_DELEGATION:
        break;
    }
    return &row->dcv_delegation_records;
}

int store__pack_row_encode(struct store__pack_row *row, const struct store_pack *p)
{
    memset(row, 0, sizeof *row);
    row->p = *p;
    for (int a = 0; a < STORE__PACK_ARRAYS; a++) {
        if (!(*row_text(row, a) = store__pack_json_encode(p, a))) {
            store__pack_row_texts_free(row);
            return STORE_ERROR;
        }
    }
    return STORE_OK;
}

int store__pack_row_decode(struct store__pack_row *row, struct store_pack *out)
{
    int rc = STORE_OK;
    for (int a = 0; a < STORE__PACK_ARRAYS && rc == STORE_OK; a++)
        rc = store__pack_json_decode(&row->p, a, *row_text(row, a));
    store__pack_row_texts_free(row);
    *out = row->p;
    return rc;
}

void store__pack_row_texts_free(struct store__pack_row *row)
{
    for (int a = 0; a < STORE__PACK_ARRAYS; a++) {
        xfree(*row_text(row, a));
        *row_text(row, a) = NULL;
    }
}
