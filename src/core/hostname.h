/* Hostname validation and normalisation, the one place every API input hostname goes
 * through (zone names now; pack hosts and AOP hostnames later). Pure logic, no I/O.
 *
 * Rules: RFC 1123 labels (letters, digits, hyphen; no leading/trailing hyphen), each label
 * 1..63 bytes, whole name <= 253 bytes (without a trailing dot), lower-cased on output,
 * one optional trailing dot dropped, IDNs only as A-labels ("xn--" + valid punycode
 * characters, i.e. plain LDH; no raw UTF-8), a wildcard only as a whole leftmost "*" label
 * and only when the caller allows it, and not a bare IPv4 address. */
#ifndef TLSWARD_CORE_HOSTNAME_H
#define TLSWARD_CORE_HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>

#define HOSTNAME_MAX 253
#define HOSTNAME_SIZE (HOSTNAME_MAX + 1)

enum hostname_flags {
    HOSTNAME_ALLOW_WILDCARD = 1 << 0, /* "*.example.com" accepted */
    HOSTNAME_REQUIRE_DOT = 1 << 1,    /* at least two labels (zone names, pack hosts) */
};

/* Validates `in` and writes its normalised form into out. Returns 0, or -1 with a short
 * human reason in *why (a static string, e.g. "label longer than 63 characters"). */
int hostname_normalize(const char *in, int flags, char out[HOSTNAME_SIZE], const char **why);

/* True when host (normalised) equals apex or is below it ("a.b.example.com" under
 * "example.com"; "*.example.com" is below "example.com"). */
bool hostname_in_zone(const char *host, const char *apex);

#endif
