/* libFuzzer target for core/hostname: every input is normalised under each flag set; an
 * accepted name must be short, lower-case LDH, re-normalise to itself, lie in its own
 * zone, and stay accepted when the flags are loosened. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int flag_sets[] = {
    0,
    HOSTNAME_REQUIRE_DOT,
    HOSTNAME_ALLOW_WILDCARD,
    HOSTNAME_ALLOW_WILDCARD | HOSTNAME_REQUIRE_DOT,
};

static void check_output(const char *out, int flags)
{
    size_t len = strlen(out);
    assert(len > 0 && len <= HOSTNAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = out[i];
        assert((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
               (c == '*' && i == 0 && (flags & HOSTNAME_ALLOW_WILDCARD)));
    }
    assert(out[len - 1] != '.');

    char again[HOSTNAME_SIZE];
    const char *why = NULL;
    int rc = hostname_normalize(out, flags, again, &why);
    assert(rc == 0);
    assert(strcmp(again, out) == 0);
    assert(hostname_in_zone(out, out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';

    int rc[4];
    for (size_t i = 0; i < 4; i++) {
        char out[HOSTNAME_SIZE];
        const char *why = NULL;
        rc[i] = hostname_normalize(in, flag_sets[i], out, &why);
        if (rc[i] == 0)
            check_output(out, flag_sets[i]);
        else
            assert(rc[i] == -1 && why && *why && out[0] == '\0');
    }
    /* Dropping REQUIRE_DOT or adding ALLOW_WILDCARD never turns an accept into a reject. */
    assert(!(rc[1] == 0) || rc[0] == 0);
    assert(!(rc[3] == 0) || rc[2] == 0);
    assert(!(rc[0] == 0) || rc[2] == 0);
    assert(!(rc[1] == 0) || rc[3] == 0);

    /* A normalised name is in the zone of its parent, and gluing bytes onto its front
     * without a dot never puts it in its own zone ("badexample.com"). */
    char out[HOSTNAME_SIZE];
    if (hostname_normalize(in, HOSTNAME_ALLOW_WILDCARD, out, NULL) == 0) {
        const char *dot = strchr(out, '.');
        if (dot)
            assert(hostname_in_zone(out, dot + 1));
        char glued[HOSTNAME_SIZE + 1];
        glued[0] = 'x';
        memcpy(glued + 1, out, strlen(out) + 1);
        assert(!hostname_in_zone(glued, out));
    }
    free(in);
    return 0;
}
