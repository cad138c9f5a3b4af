/* libFuzzer target for common/text: text_escape of any bytes must give well-formed UTF-8
 * without control characters (C0, DEL, C1, U+2028/2029, bidi overrides), fit its bound,
 * agree with text_is_safe, and unescape back to the input; a short output buffer cuts it
 * between escapes, never inside one. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes one UTF-8 character at s (RFC 3629); its length, or 0 when malformed. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const struct {
        unsigned char lead_min, lead_max;
        size_t len;
        uint32_t min;
    } forms[] = {{0xc2, 0xdf, 2, 0x80}, {0xe0, 0xef, 3, 0x800}, {0xf0, 0xf4, 4, 0x10000}};
    for (size_t f = 0; f < 3; f++) {
        if (s[0] < forms[f].lead_min || s[0] > forms[f].lead_max)
            continue;
        if (n < forms[f].len)
            return 0;
        uint32_t c = s[0] & (0x7fu >> forms[f].len);
        for (size_t i = 1; i < forms[f].len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i] & 0x3fu);
        }
        if (c < forms[f].min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        *cp = c;
        return forms[f].len;
    }
    return 0;
}

static bool forbidden(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

static void assert_clean(const char *out, size_t len)
{
    const unsigned char *s = (const unsigned char *)out;
    for (size_t i = 0; i < len;) {
        uint32_t c = s[i];
        size_t n = c < 0x80 ? 1 : decode(s + i, len - i, &c);
        assert(n > 0 && !forbidden(c));
        i += n;
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reverses \\ \xNN \uXXXX; the decoded length. */
static size_t unescape(const char *s, size_t len, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '\\') {
            out[n++] = (unsigned char)s[i++];
        } else if (s[i + 1] == '\\') {
            out[n++] = '\\';
            i += 2;
        } else if (s[i + 1] == 'x') {
            assert(hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0);
            out[n++] = (unsigned char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
            i += 4;
        } else {
            assert(s[i + 1] == 'u');
            unsigned c = 0;
            for (int k = 2; k < 6; k++) {
                assert(hexval(s[i + k]) >= 0);
                c = c * 16 + (unsigned)hexval(s[i + k]);
            }
            if (c < 0x800) {
                out[n++] = (unsigned char)(0xc0 | (c >> 6));
                out[n++] = (unsigned char)(0x80 | (c & 0x3f));
            } else {
                out[n++] = (unsigned char)(0xe0 | (c >> 12));
                out[n++] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
                out[n++] = (unsigned char)(0x80 | (c & 0x3f));
            }
            i += 6;
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    size_t cap = TEXT_ESCAPED_MAX(size);
    char *out = malloc(cap);
    unsigned char *back = malloc(size + 1);
    size_t len = text_escape((const char *)data, size, out, cap, 0);
    assert(len == strlen(out) && len < cap);
    assert_clean(out, len);
    assert(unescape(out, len, back) == size && memcmp(back, data, size) == 0);
    assert(text_is_safe((const char *)data, size) == (len == size && memcmp(out, data, size) == 0));

    /* A short buffer: a prefix of the full output, ending on an escape boundary. */
    size_t small = size % 23 + 1;
    char cut[24];
    size_t clen = text_escape((const char *)data, size, cut, small, 0);
    assert(clen < small && memcmp(cut, out, clen) == 0);
    assert_clean(cut, clen);
    unescape(cut, clen, back); /* asserts every escape in it is whole */

    /* The space flag changes only spaces. */
    char *spaced = malloc(cap);
    size_t slen = text_escape((const char *)data, size, spaced, cap, TEXT_ESCAPE_SPACE);
    assert(!memchr(spaced, ' ', slen) && unescape(spaced, slen, back) == size &&
           memcmp(back, data, size) == 0);
    free(spaced);
    free(back);
    free(out);
    return 0;
}
