/* Escaping outside text for error messages and log lines (see text.h for the rules). */
#include "common/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* Length (2-4) of the well-formed UTF-8 sequence of a non-ASCII character at s (at most
 * len bytes), its code point in *cp; 0 when it is not one (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n;
    uint32_t c, min;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2, c = s[0] & 0x1fu, min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3, c = s[0] & 0x0fu, min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4, c = s[0] & 0x07u, min = 0x10000;
    } else {
        return 0; /* ASCII, a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5-0xff */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Valid characters that still must not reach a line as they are: C1 controls (NEL ends a
 * line for some readers), line/paragraph separators, bidirectional overrides. */
static bool invisible_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool ascii_passes(unsigned char c, unsigned flags)
{
    if (c < 0x20 || c == 0x7f || c == '\\')
        return false;
    return !(c == ' ' && (flags & TEXT_ESCAPE_SPACE));
}

size_t text_escape(const char *in, size_t len, char *out, size_t size, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        char piece[8];
        size_t take = 1, plen;
        uint32_t cp = 0;
        if (s[i] < 0x80) {
            if (ascii_passes(s[i], flags)) {
                piece[0] = (char)s[i];
                plen = 1;
            } else if (s[i] == '\\') {
                memcpy(piece, "\\\\", 2);
                plen = 2;
            } else {
                plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
            }
        } else if ((take = utf8_sequence(s + i, len - i, &cp)) == 0) {
            take = 1;
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
        } else if (invisible_control(cp)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)cp);
        } else {
            memcpy(piece, s + i, take);
            plen = take;
        }
        if (used + plen + 1 > size)
            break;
        memcpy(out + used, piece, plen);
        used += plen;
        i += take;
    }
    if (size)
        out[used] = '\0';
    return used;
}

char *text_escape_dup(const char *s, unsigned flags)
{
    size_t len = strlen(s);
    char *out = xmalloc(TEXT_ESCAPED_MAX(len));
    text_escape(s, len, out, TEXT_ESCAPED_MAX(len), flags);
    return out;
}

bool text_is_safe(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (u[i] < 0x80) {
            if (!ascii_passes(u[i], 0))
                return false;
            i++;
        } else if ((n = utf8_sequence(u + i, len - i, &cp)) == 0 || invisible_control(cp)) {
            return false;
        } else {
            i += n;
        }
    }
    return true;
}

/* Appends piece (plen bytes) at *used when it fits whole with the NUL; false when not. */
static bool put(char *out, size_t size, size_t *used, const char *piece, size_t plen)
{
    if (*used + plen + 1 > size)
        return false;
    memcpy(out + *used, piece, plen);
    *used += plen;
    return true;
}

size_t text_quote(const char *in, size_t len, size_t shown, char *out, size_t size)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t used = 0;
    bool room = put(out, size, &used, "\"", 1);
    for (size_t i = 0; room && i < len && i < shown; i++) {
        char piece[8];
        size_t plen;
        if (s[i] == '"' || s[i] == '\\') {
            piece[0] = '\\', piece[1] = (char)s[i];
            plen = 2;
        } else if (s[i] < 0x20 || s[i] > 0x7e) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
        } else {
            piece[0] = (char)s[i];
            plen = 1;
        }
        room = put(out, size, &used, piece, plen);
    }
    const char *end = len > shown ? "...\"" : "\"";
    if (room)
        put(out, size, &used, end, strlen(end));
    if (size)
        out[used] = '\0';
    return used;
}
