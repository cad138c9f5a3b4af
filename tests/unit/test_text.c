/* Unit tests of common/text: every byte 0x00-0xff alone and every pair of bytes escape to
 * valid UTF-8 without control characters that unescapes back to the input; overlong,
 * surrogate, out-of-range and truncated UTF-8 sequences are escaped byte by byte while the
 * valid characters around them are kept; C1 controls, line separators and bidirectional
 * overrides are escaped; the output is cut between characters, never inside one. The
 * validator and the unescaper below are written independently of the implementation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/text.h"

/* RFC 3629 well-formed byte sequences (its table 3-7 equivalent), and no C0/C1 control,
 * DEL, U+2028/2029 or bidi override: what an error message or log line may contain. */
static bool clean_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            if (b < 0x20 || b == 0x7f)
                return false;
            i++;
            continue;
        }
        unsigned lo = 0x80, hi = 0xbf;
        size_t len;
        if (b >= 0xc2 && b <= 0xdf)
            len = 2;
        else if (b == 0xe0)
            len = 3, lo = 0xa0;
        else if (b == 0xed)
            len = 3, hi = 0x9f;
        else if (b >= 0xe1 && b <= 0xef)
            len = 3;
        else if (b == 0xf0)
            len = 4, lo = 0x90;
        else if (b == 0xf4)
            len = 4, hi = 0x8f;
        else if (b >= 0xf1 && b <= 0xf3)
            len = 4;
        else
            return false;
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        if (b == 0xc2 && s[i + 1] <= 0x9f) /* U+0080-U+009F */
            return false;
        if (b == 0xe2 && s[i + 1] == 0x80 &&
            (s[i + 2] == 0xa8 || s[i + 2] == 0xa9 || (s[i + 2] >= 0xaa && s[i + 2] <= 0xae)))
            return false;
        if (b == 0xe2 && s[i + 1] == 0x81 && s[i + 2] >= 0xa6 && s[i + 2] <= 0xa9)
            return false;
        i += len;
    }
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reverses the escaping: \\ \xNN \uXXXX. Returns the length, or -1 on a malformed escape. */
static long unescape(const char *s, unsigned char *out)
{
    long n = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] != '\\') {
            out[n++] = (unsigned char)s[i++];
            continue;
        }
        if (s[i + 1] == '\\') {
            out[n++] = '\\';
            i += 2;
        } else if (s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
            out[n++] = (unsigned char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
            i += 4;
        } else if (s[i + 1] == 'u') {
            unsigned cp = 0;
            for (int k = 2; k < 6; k++) {
                if (hexval(s[i + k]) < 0)
                    return -1;
                cp = cp * 16 + (unsigned)hexval(s[i + k]);
            }
            if (cp < 0x800) {
                out[n++] = (unsigned char)(0xc0 | (cp >> 6));
                out[n++] = (unsigned char)(0x80 | (cp & 0x3f));
            } else {
                out[n++] = (unsigned char)(0xe0 | (cp >> 12));
                out[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                out[n++] = (unsigned char)(0x80 | (cp & 0x3f));
            }
            i += 6;
        } else {
            return -1;
        }
    }
    return n;
}

/* Escapes in[0..n), asserts the output is clean and unescapes back to the input. */
static void check_round_trip(const unsigned char *in, size_t n)
{
    char out[TEXT_ESCAPED_MAX(16)];
    unsigned char back[16];
    assert_true(n <= 16);
    size_t len = text_escape((const char *)in, n, out, sizeof out, 0);
    assert_int_equal(len, strlen(out));
    if (!clean_utf8((const unsigned char *)out, len))
        fail_msg("escape of %zu bytes starting 0x%02x is not clean: %s", n, in[0], out);
    long m = unescape(out, back);
    if (m != (long)n || memcmp(back, in, n) != 0)
        fail_msg("escape of %zu bytes starting 0x%02x does not round-trip: %s", n, in[0], out);
}

/* Asserts text_escape(in) == want (in is NUL-terminated unless n is given). */
static void expect(const char *in, size_t n, const char *want)
{
    char out[256];
    text_escape(in, n, out, sizeof out, 0);
    assert_string_equal(out, want);
}
#define EXPECT(lit, want) expect(lit, sizeof(lit) - 1, want)

static void test_every_single_byte(void **state)
{
    (void)state;
    for (unsigned b = 0; b <= 0xff; b++) {
        unsigned char in[1] = {(unsigned char)b};
        check_round_trip(in, 1);
        char out[8], want[8];
        text_escape((const char *)in, 1, out, sizeof out, 0);
        if (b == '\\')
            snprintf(want, sizeof want, "\\\\");
        else if (b >= 0x20 && b < 0x7f)
            snprintf(want, sizeof want, "%c", (char)b);
        else /* controls, DEL, and every non-ASCII byte alone (never a whole character) */
            snprintf(want, sizeof want, "\\x%02x", b);
        assert_string_equal(out, want);
    }
}

static void test_every_pair_of_bytes(void **state)
{
    (void)state;
    for (unsigned a = 0; a <= 0xff; a++)
        for (unsigned b = 0; b <= 0xff; b++) {
            unsigned char in[2] = {(unsigned char)a, (unsigned char)b};
            check_round_trip(in, 2);
        }
}

static void test_three_and_four_byte_sequences(void **state)
{
    (void)state;
    /* Every lead byte from 0xe0 with a sample of continuation/other bytes. */
    static const unsigned char tails[] = {0x00, 0x0a, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xa8, 0xbf, 0xc0, 0xe2, 0xff};
    for (unsigned lead = 0xe0; lead <= 0xff; lead++)
        for (size_t i = 0; i < sizeof tails; i++)
            for (size_t j = 0; j < sizeof tails; j++)
                for (size_t k = 0; k < sizeof tails; k++) {
                    unsigned char in[4] = {(unsigned char)lead, tails[i], tails[j], tails[k]};
                    check_round_trip(in, 3);
                    check_round_trip(in, 4);
                }
}

static void test_valid_text_is_kept(void **state)
{
    (void)state;
    EXPECT("zone example.com: not found", "zone example.com: not found");
    EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT("\xc2\xa0", "\xc2\xa0");                 /* U+00A0, first after the C1 block */
    EXPECT("\xef\xbf\xbd", "\xef\xbf\xbd");         /* U+FFFD */
    EXPECT("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
    EXPECT("\xed\x9f\xbf", "\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
    char big[TEXT_ESCAPED_MAX(3)];
    assert_true(text_is_safe("caf\xc3\xa9", 5));
    assert_int_equal(text_escape("abc", 3, big, sizeof big, 0), 3);
}

static void test_controls_and_backslash(void **state)
{
    (void)state;
    EXPECT("a\nb", "a\\x0ab");
    EXPECT("a\r\n2026-12-05T00:00:00Z info request GET /",
           "a\\x0d\\x0a2026-12-05T00:00:00Z info request GET /");
    EXPECT("tab\there", "tab\\x09here");
    EXPECT("\x1b[31mred", "\\x1b[31mred");
    EXPECT("del\x7f", "del\\x7f");
    expect("nul\0after", 9, "nul\\x00after");
    EXPECT("back\\slash \\x41", "back\\\\slash \\\\x41"); /* a literal "\x41" stays literal */
    assert_false(text_is_safe("a\nb", 3));
    assert_false(text_is_safe("a\\b", 3));
}

static void test_invisible_unicode_controls(void **state)
{
    (void)state;
    EXPECT("\xc2\x85", "\\u0085"); /* NEL */
    EXPECT("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
    EXPECT("a\xe2\x80\xa8"
           "b",
           "a\\u2028b");
    EXPECT("\xe2\x80\xa9", "\\u2029");
    EXPECT("\xe2\x80\xae"
           "cba",
           "\\u202ecba"); /* right-to-left override */
    EXPECT("\xe2\x81\xa6", "\\u2066");
    EXPECT("\xe2\x81\xa9", "\\u2069");
    EXPECT("\xe2\x81\xaa", "\xe2\x81\xaa"); /* U+206A is not one of them */
    assert_false(text_is_safe("\xc2\x85", 2));
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    /* Overlong forms of '/' and of NUL. */
    EXPECT("\xc0\xaf", "\\xc0\\xaf");
    EXPECT("\xc1\xbf", "\\xc1\\xbf");
    EXPECT("\xe0\x80\xaf", "\\xe0\\x80\\xaf");
    EXPECT("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
    EXPECT("\xe0\x9f\xbf", "\\xe0\\x9f\\xbf");          /* U+07FF in 3 bytes */
    EXPECT("\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf"); /* U+FFFF in 4 bytes */
    /* Surrogates (CESU-8 halves). */
    EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80");
    EXPECT("\xed\xbf\xbf", "\\xed\\xbf\\xbf");
    EXPECT("\xed\xa0\xbd\xed\xb8\x80", "\\xed\\xa0\\xbd\\xed\\xb8\\x80");
    /* Beyond U+10FFFF, and bytes that never occur. */
    EXPECT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    EXPECT("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
    EXPECT("\xfe\xff", "\\xfe\\xff");
    /* Truncated sequences: the valid character right after is kept. */
    EXPECT("\xe2\x82"
           "A",
           "\\xe2\\x82A");
    EXPECT("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
    EXPECT("\xc3", "\\xc3");
    EXPECT("\xe2\x82\xc3\xa9", "\\xe2\\x82\xc3\xa9");
    /* Stray continuation bytes. */
    EXPECT("\x80\xbf"
           "x",
           "\\x80\\xbfx");
    /* A length that cuts a character short counts as truncated. */
    expect("\xc3\xa9", 1, "\\xc3");
    assert_false(text_is_safe("\xff", 1));
    assert_false(text_is_safe("\xed\xa0\x80", 3));
    assert_false(text_is_safe("\xc3\xa9", 1));
}

static void test_space_flag(void **state)
{
    (void)state;
    char out[64];
    text_escape("/a b\n", 5, out, sizeof out, TEXT_ESCAPE_SPACE);
    assert_string_equal(out, "/a\\x20b\\x0a");
    text_escape("/a b", 4, out, sizeof out, 0);
    assert_string_equal(out, "/a b");
}

static void test_truncation_never_splits(void **state)
{
    (void)state;
    char out[8];
    /* "\xff\xff" needs 8 bytes + NUL: only the first escape fits in 6. */
    assert_int_equal(text_escape("\xff\xff", 2, out, 6, 0), 4);
    assert_string_equal(out, "\\xff");
    /* An escape that does not fit whole is left out whole. */
    assert_int_equal(text_escape("ab\n", 3, out, 5, 0), 2);
    assert_string_equal(out, "ab");
    /* A character that does not fit whole is left out whole. */
    assert_int_equal(text_escape("a\xe2\x82\xac", 4, out, 4, 0), 1);
    assert_string_equal(out, "a");
    assert_int_equal(text_escape("abc", 3, out, 1, 0), 0);
    assert_string_equal(out, "");
    /* The worst case fits TEXT_ESCAPED_MAX. */
    char all[TEXT_ESCAPED_MAX(4)];
    assert_int_equal(text_escape("\x01\x02\x03\x04", 4, all, sizeof all, 0), 16);
}

static void test_escape_dup(void **state)
{
    (void)state;
    char *s = text_escape_dup("/zones/\xff\n", 0);
    assert_string_equal(s, "/zones/\\xff\\x0a");
    xfree(s);
    s = text_escape_dup("", 0);
    assert_string_equal(s, "");
    xfree(s);
}

/* text_quote: every byte alone, against the rule written out here independently. */
static void test_quote_every_byte(void **state)
{
    (void)state;
    for (unsigned b = 0; b <= 0xff; b++) {
        char in[1] = {(char)b}, out[TEXT_QUOTED_MAX(1)], want[8];
        if (b == '"' || b == '\\')
            snprintf(want, sizeof want, "\"\\%c\"", (char)b);
        else if (b >= 0x20 && b <= 0x7e)
            snprintf(want, sizeof want, "\"%c\"", (char)b);
        else /* controls, DEL and every non-ASCII byte, even in valid UTF-8 */
            snprintf(want, sizeof want, "\"\\x%02x\"", b);
        assert_int_equal(text_quote(in, 1, 1, out, sizeof out), strlen(want));
        assert_string_equal(out, want);
    }
}

static void test_quote_values(void **state)
{
    (void)state;
    char out[TEXT_QUOTED_MAX(16)];
    text_quote("", 0, 16, out, sizeof out);
    assert_string_equal(out, "\"\"");
    text_quote("letsencrypt.org; validationmethods=dns-01", 15, 16, out, sizeof out);
    assert_string_equal(out, "\"letsencrypt.org\"");
    text_quote("say \"hi\"\\n\n", 11, 16, out, sizeof out);
    assert_string_equal(out, "\"say \\\"hi\\\"\\\\n\\x0a\"");
    text_quote("caf\xc3\xa9\0", 6, 16, out, sizeof out);
    assert_string_equal(out, "\"caf\\xc3\\xa9\\x00\"");
    /* Exactly `shown` bytes are shown whole; one more is cut with "...". */
    text_quote("0123456789abcdef", 16, 16, out, sizeof out);
    assert_string_equal(out, "\"0123456789abcdef\"");
    text_quote("0123456789abcdefg", 17, 16, out, sizeof out);
    assert_string_equal(out, "\"0123456789abcdef...\"");
    /* The worst case fills TEXT_QUOTED_MAX exactly. */
    char all[TEXT_QUOTED_MAX(4)];
    assert_int_equal(text_quote("\x01\x02\x03\x04\x05", 5, 4, all, sizeof all), sizeof all - 1);
    assert_string_equal(all, "\"\\x01\\x02\\x03\\x04...\"");
}

static void test_quote_truncation_never_splits(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(text_quote("\xff\xff", 2, 8, out, 7), 5); /* "\xff fits, \xff does not */
    assert_string_equal(out, "\"\\xff");
    assert_int_equal(text_quote("a\"", 2, 8, out, 4), 2);
    assert_string_equal(out, "\"a");
    assert_int_equal(text_quote("ab", 2, 1, out, 6), 2); /* "a, then "..." does not fit */
    assert_string_equal(out, "\"a");
    assert_int_equal(text_quote("ab", 2, 8, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_single_byte),
        cmocka_unit_test(test_every_pair_of_bytes),
        cmocka_unit_test(test_three_and_four_byte_sequences),
        cmocka_unit_test(test_valid_text_is_kept),
        cmocka_unit_test(test_controls_and_backslash),
        cmocka_unit_test(test_invisible_unicode_controls),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_space_flag),
        cmocka_unit_test(test_truncation_never_splits),
        cmocka_unit_test(test_escape_dup),
        cmocka_unit_test(test_quote_every_byte),
        cmocka_unit_test(test_quote_values),
        cmocka_unit_test(test_quote_truncation_never_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
