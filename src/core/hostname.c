/* Hostname validation and normalisation (RFC 1123 LDH labels, A-label IDNs, leftmost
 * wildcard) and the zone-membership test built on it. Pure logic, no I/O. */
#include "core/hostname.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <string.h>

#define HOSTNAME_LABEL_MAX 63

static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* True when name (lower-cased, no trailing dot) is written like an IP address: only
 * digits and dots (the dotted forms inet_aton accepts, "127.1" included), or an IPv6
 * literal. Checked before the label rules so the caller is told why. */
static bool looks_like_ip(const char *name)
{
    /* Digits and single dots, starting and ending with a digit: "1..2" is not an address
     * but a name with an empty label, and is reported as that. */
    bool dotted = is_digit(name[0]);
    for (const char *p = name; *p && dotted; p++)
        dotted = is_digit(*p) || (*p == '.' && is_digit(p[1]));
    if (dotted)
        return true;
    if (strchr(name, ':')) {
        unsigned char addr[sizeof(struct in6_addr)];
        return inet_pton(AF_INET6, name, addr) == 1;
    }
    return false;
}

/* Checks one label of `len` bytes at `label` (already lower-cased). Returns NULL when it
 * is a valid LDH label, else the reason. Wildcards are handled by the caller. */
static const char *check_label(const char *label, size_t len)
{
    if (len == 0)
        return "empty label";
    if (len > HOSTNAME_LABEL_MAX)
        return "label longer than 63 characters";
    for (size_t i = 0; i < len; i++) {
        if (!is_ldh(label[i]))
            return "invalid character";
    }
    if (label[0] == '-' || label[len - 1] == '-')
        return "label starts or ends with a hyphen";
    /* "??--" is reserved for R-LDH labels (RFC 5891 §4.2.3.1); of those only the IDNA
     * A-labels ("xn--") are allowed. "xn--" alone ends with a hyphen, caught above. */
    if (len >= 4 && label[2] == '-' && label[3] == '-' && !(label[0] == 'x' && label[1] == 'n'))
        return "reserved label (\"--\" in positions 3 and 4)";
    return NULL;
}

static int fail(char out[HOSTNAME_SIZE], const char **why, const char *reason)
{
    out[0] = '\0';
    if (why)
        *why = reason;
    return -1;
}

int hostname_normalize(const char *in, int flags, char out[HOSTNAME_SIZE], const char **why)
{
    if (!in)
        return fail(out, why, "empty name");
    size_t len = strlen(in);
    if (len > 0 && in[len - 1] == '.')
        len--; /* one trailing dot: the fully-qualified form of the same name */
    if (len == 0)
        return fail(out, why, "empty name");
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)in[i] >= 0x80)
            return fail(out, why, "IDNs must be given as A-labels (xn--)");
    }
    if (len > HOSTNAME_MAX)
        return fail(out, why, "name longer than 253 characters");
    for (size_t i = 0; i < len; i++)
        out[i] = to_lower(in[i]);
    out[len] = '\0';

    if (looks_like_ip(out))
        return fail(out, why, "IP addresses are not hostnames");

    size_t labels = 0;
    bool wildcard = false;
    const char *last = out;
    for (const char *label = out;; labels++) {
        const char *dot = strchr(label, '.');
        size_t llen = dot ? (size_t)(dot - label) : strlen(label);
        if (memchr(label, '*', llen)) {
            if (!(flags & HOSTNAME_ALLOW_WILDCARD))
                return fail(out, why, "wildcard not allowed here");
            if (labels != 0 || llen != 1)
                return fail(out, why, "wildcard only allowed as the whole leftmost label");
            wildcard = true;
        } else {
            const char *reason = check_label(label, llen);
            if (reason)
                return fail(out, why, reason);
        }
        last = label;
        if (!dot)
            break;
        label = dot + 1;
    }
    labels++;

    /* An all-digit top-level label is either an IP in disguise or a TLD that cannot exist. */
    bool numeric = true;
    for (const char *p = last; *p; p++)
        numeric = numeric && is_digit(*p);
    if (numeric)
        return fail(out, why, "last label must not be all digits");

    size_t base = labels - (wildcard ? 1 : 0); /* labels the name (or wildcard) stands on */
    if (base == 0)
        return fail(out, why, "wildcard needs a name after it");
    if ((flags & HOSTNAME_REQUIRE_DOT) && base < 2)
        return fail(out, why,
                    wildcard ? "needs at least two labels after the wildcard"
                             : "needs at least two labels");
    assert(strlen(out) == len);
    return 0;
}

bool hostname_in_zone(const char *host, const char *apex)
{
    if (!host || !apex || !*apex)
        return false;
    size_t hl = strlen(host), al = strlen(apex);
    if (hl == al)
        return strcmp(host, apex) == 0;
    /* A suffix match only counts on a label boundary: "badexample.com" is not in
     * "example.com". */
    return hl > al && host[hl - al - 1] == '.' && strcmp(host + hl - al, apex) == 0;
}
