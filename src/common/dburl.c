/* Recognising and redacting --database values (see dburl.h). */
#include "common/dburl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool dburl_is_postgres(const char *value)
{
    return value && (strncasecmp(value, "postgres://", 11) == 0 ||
                     strncasecmp(value, "postgresql://", 13) == 0);
}

/* Appends n bytes of s to out at *len, keeping room for the NUL (cut when full). */
static void put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + 1 >= size)
        return;
    if (n > size - 1 - *len)
        n = size - 1 - *len;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
}

void dburl_redact(const char *value, char *out, size_t size)
{
    size_t len = 0;
    if (!size)
        return;
    out[0] = '\0';
    if (!value)
        return;
    if (!dburl_is_postgres(value)) {
        put(out, size, &len, value, strlen(value));
        return;
    }
    const char *p = strstr(value, "://") + 3;
    put(out, size, &len, value, (size_t)(p - value));
    /* The authority ends at the path, the query or the fragment; its user info ends at
     * the last '@' (a password may itself contain '@' when not percent-encoded). */
    size_t auth_len = strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < p + auth_len; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            put(out, size, &len, p, (size_t)(colon - p));
            put(out, size, &len, ":***", 4);
        } else {
            put(out, size, &len, p, (size_t)(at - p));
        }
        p = at;
    }
    /* The rest, with the value of each password= parameter hidden. */
    while (*p) {
        bool param_start = p[-1] == '?' || p[-1] == '&';
        if (param_start && strncasecmp(p, "password=", 9) == 0) {
            put(out, size, &len, p, 9);
            put(out, size, &len, "***", 3);
            p += 9 + strcspn(p + 9, "&#");
            continue;
        }
        put(out, size, &len, p, 1);
        p++;
    }
}
