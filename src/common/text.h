/* Making outside text safe to show: request paths, header values and body fields end up
 * in error messages and log lines, which must always be valid UTF-8 and one line (a JSON
 * encoder refuses invalid UTF-8, so an unescaped byte would lose the whole message, and a
 * newline in a path would forge a log line). Every place that builds an error message or
 * a log line from outside text passes it through text_escape. */
#ifndef TLSWARD_COMMON_TEXT_H
#define TLSWARD_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* What text_escape changes (flags may add to it):
 *   - a byte that does not start a valid UTF-8 sequence (stray continuation bytes, overlong
 *     forms, surrogates, code points above U+10FFFF, truncated sequences) → \xNN, one byte
 *     at a time, so the next valid character is kept;
 *   - ASCII control characters (0x00-0x1f, 0x7f) → \xNN;
 *   - C1 controls (U+0080-U+009F), the Unicode line and paragraph separators and the
 *     bidirectional overrides/isolates (U+202A-U+202E, U+2066-U+2069) → \uXXXX;
 *   - the backslash → \\ (so an escape in the output always means an escape);
 * everything else (printable ASCII, other valid UTF-8) is copied. */
#define TEXT_ESCAPE_SPACE 1u /* also write ' ' as \x20 (space-separated log fields) */

/* The worst case growth: one input byte becomes at most 4 output bytes. */
#define TEXT_ESCAPED_MAX(n) ((n)*4 + 1)

/* Escapes in[0..len) into out (size bytes, NUL-terminated, size >= 1). Output is cut before
 * the first character or escape that does not fit, never inside one. Returns the output
 * length. */
size_t text_escape(const char *in, size_t len, char *out, size_t size, unsigned flags);

/* A heap copy of text_escape of the NUL-terminated s (caller xfree's). */
char *text_escape_dup(const char *s, unsigned flags);

/* True when text_escape would copy s[0..len) unchanged (with flags 0). */
bool text_is_safe(const char *s, size_t len);

/* Quoting a value seen on the network (a DNS TXT or CAA value, a CAA tag) inside a message,
 * where its exact bytes matter and it may be anything: text_quote writes in[0..len) between
 * double quotes, '"' and '\' as \" and \\, every byte outside printable ASCII (0x20-0x7e)
 * as \xNN, and shows at most `shown` bytes, then "..." before the closing quote. Byte by
 * byte, not UTF-8 aware: the output is plain ASCII. */

/* The worst case output size for a given `shown`, NUL included. */
#define TEXT_QUOTED_MAX(shown) ((shown)*4 + 6)

/* Quotes in[0..len) into out (size bytes, NUL-terminated, size >= 1), cut like text_escape
 * (never inside an escape). Returns the output length. */
size_t text_quote(const char *in, size_t len, size_t shown, char *out, size_t size);

#endif
