/* The --database value (also TLSWARD_DATABASE): a libpq URI (postgres://, postgresql://)
 * or a path to an SQLite file. A URI may carry a password, which must never reach a log
 * line or a message: everything that shows a --database value shows dburl_redact's copy. */
#ifndef TLSWARD_COMMON_DBURL_H
#define TLSWARD_COMMON_DBURL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest --database value accepted (a URI with host list and parameters fits easily). */
#define DBURL_MAX 4096

/* True when value is a PostgreSQL URI (postgres:// or postgresql://, case-insensitive). */
bool dburl_is_postgres(const char *value);

/* Copies value into out (size >= 1, NUL-terminated, cut to fit) with any password
 * replaced by "***": the one in the authority ("user:secret@host" -> "user:***@host") and
 * the value of a "password=" query parameter. Other values (SQLite paths) are copied
 * unchanged. */
void dburl_redact(const char *value, char *out, size_t size);

#endif
