/* Route matching over a static table. */
#include "http/router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_SEGMENTS 16

struct segments {
    const char *start[MAX_SEGMENTS];
    size_t len[MAX_SEGMENTS];
    int count;
};

/* Splits "/a/b/c" into segments; -1 if too many or an empty inner segment ("//"). */
static int split_path(const char *path, struct segments *out)
{
    out->count = 0;
    if (path[0] != '/')
        return -1;
    const char *p = path + 1;
    size_t total = strlen(path);
    if (total > 1 && path[total - 1] == '/')
        total--; /* one trailing slash is ignored */
    if (total > 1 && path[total - 1] == '/')
        return -1; /* a second one would be an empty segment */
    const char *end = path + total;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash ? slash : end;
        if (seg_end == p || out->count == MAX_SEGMENTS)
            return -1;
        out->start[out->count] = p;
        out->len[out->count] = (size_t)(seg_end - p);
        out->count++;
        p = slash ? slash + 1 : end;
    }
    return 0;
}

/* Matches one pattern; returns the number of literal segments, or -1. Captures parameters
 * into req only when req is non-NULL. */
static int match_pattern(const char *pattern, const struct segments *path, struct request *req)
{
    struct segments pat;
    if (split_path(pattern, &pat) < 0 || pat.count != path->count)
        return -1;
    int literals = 0, params = 0;
    for (int i = 0; i < pat.count; i++) {
        if (pat.start[i][0] == ':') {
            if (params == REQUEST_MAX_PARAMS || path->len[i] >= REQUEST_PARAM_SIZE)
                return -1;
            if (req) {
                memcpy(req->params[params], path->start[i], path->len[i]);
                req->params[params][path->len[i]] = '\0';
            }
            params++;
            continue;
        }
        if (pat.len[i] != path->len[i] || memcmp(pat.start[i], path->start[i], pat.len[i]) != 0)
            return -1;
        literals++;
    }
    if (req)
        req->param_count = params;
    return literals;
}

static void add_allowed(char *allow, size_t size, const char *method)
{
    if (strstr(allow, method))
        return;
    size_t used = strlen(allow);
    snprintf(allow + used, size - used, "%s%s", used ? ", " : "", method);
}

enum router_result router_match(const struct route *table, size_t count, const char *method,
                                const char *path, struct request *req)
{
    struct segments segs;
    req->allow[0] = '\0';
    if (split_path(path, &segs) < 0)
        return ROUTER_NO_ROUTE;

    /* The best pattern decides the resource; the methods of equally good ones form Allow. */
    int best = -1;
    const struct route *found = NULL;
    for (size_t i = 0; i < count; i++) {
        int score = match_pattern(table[i].pattern, &segs, NULL);
        if (score < 0 || score < best)
            continue;
        if (score > best) {
            best = score;
            found = NULL;
            req->allow[0] = '\0';
        }
        add_allowed(req->allow, sizeof req->allow, table[i].method);
        if (strcmp(table[i].method, method) == 0)
            found = &table[i];
    }
    if (best < 0)
        return ROUTER_NO_ROUTE;
    if (!found)
        return ROUTER_METHOD;
    req->route = found;
    match_pattern(found->pattern, &segs, req);
    return ROUTER_MATCH;
}

size_t router_index(const struct route *table, const struct route *r)
{
    return (size_t)(r - table);
}
