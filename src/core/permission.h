/* Token permissions: ssl:read ssl:write zone:read zone:write, as bits. "write" implies
 * "read" of the same family. Pure logic, no I/O. */
#ifndef TLSWARD_CORE_PERMISSION_H
#define TLSWARD_CORE_PERMISSION_H

#include <stdbool.h>
#include <stddef.h>

enum permission {
    PERM_NONE = 0,
    PERM_SSL_READ = 1u << 0,
    PERM_SSL_WRITE = 1u << 1,
    PERM_ZONE_READ = 1u << 2,
    PERM_ZONE_WRITE = 1u << 3,
    PERM_ALL = PERM_SSL_READ | PERM_SSL_WRITE | PERM_ZONE_READ | PERM_ZONE_WRITE,
};

/* Parses one name ("ssl:write") into its bits, write adding read. Returns 0 or -1. */
int permission_parse(const char *name, unsigned *bits);
/* True when `granted` includes every bit of `required`. */
bool permission_allows(unsigned granted, unsigned required);
/* Writes the names of the granted permissions, comma-separated, into out. */
void permission_format(unsigned bits, char *out, size_t size);

#endif
