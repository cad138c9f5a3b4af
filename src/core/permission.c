/* Token permission names and checks. */
#include "core/permission.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
    unsigned implies;
} permission_table[] = {
    {"ssl:read", PERM_SSL_READ, 0},
    {"ssl:write", PERM_SSL_WRITE, PERM_SSL_READ},
    {"zone:read", PERM_ZONE_READ, 0},
    {"zone:write", PERM_ZONE_WRITE, PERM_ZONE_READ},
};

#define PERMISSION_COUNT (sizeof permission_table / sizeof permission_table[0])

int permission_parse(const char *name, unsigned *bits)
{
    for (size_t i = 0; i < PERMISSION_COUNT; i++) {
        if (strcmp(name, permission_table[i].name) == 0) {
            *bits |= permission_table[i].bit | permission_table[i].implies;
            return 0;
        }
    }
    return -1;
}

bool permission_allows(unsigned granted, unsigned required)
{
    return (granted & required) == required;
}

void permission_format(unsigned bits, char *out, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < PERMISSION_COUNT; i++) {
        if (!(bits & permission_table[i].bit))
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? "," : "",
                         permission_table[i].name);
        if (n < 0 || (size_t)n >= size - used) {
            out[used] = '\0'; /* drop the half-written name: a list of whole names only */
            return;
        }
        used += (size_t)n;
    }
}
