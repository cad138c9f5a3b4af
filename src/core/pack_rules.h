/* Ordering rules for advanced certificate packs (SPEC §4.2): the certificate authorities
 * and validation methods as data, and the check of a whole order against the zone apex.
 * Pure logic, no I/O. Hostname rules are core/hostname's; this module only applies them.
 *
 * Every failure is a message naming the field or host at fault, in the same style as
 * http/input ("validity_days: lets_encrypt issues only 90-day certificates"), meant to be
 * sent unchanged as a 400/1004. */
#ifndef TLSWARD_CORE_PACK_RULES_H
#define TLSWARD_CORE_PACK_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/hostname.h"

#define PACK_HOSTS_MAX 50       /* hosts per pack (Cloudflare: "may not contain more than 50") */
#define PACK_RULES_MSG_SIZE 512 /* a message buffer always large enough for any failure */

/* Certificate authorities, in the order of the SDK enum. X(ENUM, "api name"). */
#define PACK_CA_MAP(X)                                                                             \
    X(GOOGLE, "google")                                                                            \
    X(LETS_ENCRYPT, "lets_encrypt")                                                                \
    X(SSL_COM, "ssl_com")

/* Validation methods of a pack, in the order of the SDK enum. */
#define PACK_METHOD_MAP(X)                                                                         \
    X(TXT, "txt")                                                                                  \
    X(HTTP, "http")                                                                                \
    X(EMAIL, "email")                                                                              \
    X(CNAME, "cname")

/* *_INVALID: a name no table knows (read from a newer or damaged store). */
enum pack_ca {
    PACK_CA_INVALID = -1,
#define PACK_CA_ENUM(e, n) PACK_CA_##e,
    PACK_CA_MAP(PACK_CA_ENUM)
#undef PACK_CA_ENUM
        PACK_CA_COUNT
};

enum pack_method {
    PACK_METHOD_INVALID = -1,
#define PACK_METHOD_ENUM(e, n) PACK_METHOD_##e,
    PACK_METHOD_MAP(PACK_METHOD_ENUM)
#undef PACK_METHOD_ENUM
        PACK_METHOD_COUNT
};

/* The valid names of each order field, NULL-terminated (for input_enum and 1004 messages):
 * certificate_authority, validation_method, type (only "advanced" can be ordered). */
extern const char *const pack_ca_names[];
extern const char *const pack_method_names[];
extern const char *const pack_order_type_names[];
/* The methods an order may name: txt, http, email (cname, delegated DCV, is reached only
 * by switching a pending pack through PATCH /ssl/verification). */
extern const char *const pack_order_method_names[];
/* Every validity period any CA offers, ascending, 0-terminated: 14, 30, 90, 365. */
extern const int pack_validity_days[];

/* Name <-> enum. The _parse functions return 0, or -1 for an unknown name (NULL included);
 * the _name functions return the API name (a static string). */
int pack_ca_parse(const char *name, enum pack_ca *out);
const char *pack_ca_name(enum pack_ca ca);
int pack_method_parse(const char *name, enum pack_method *out);
const char *pack_method_name(enum pack_method method);

/* The CA table, as questions. */
bool pack_ca_allows_validity(enum pack_ca ca, int days);
bool pack_ca_allows_method(enum pack_ca ca, enum pack_method method);

/* An order as decoded from POST …/certificate_packs/order. Strings are borrowed; a NULL
 * string means the field was absent. hosts[i] may be NULL for an element that was not a
 * JSON string (reported as "hosts[i]: must be a string"). */
struct pack_order {
    const char *certificate_authority;
    const char *type;
    const char *validation_method;
    int validity_days;
    const char *const *hosts;
    size_t host_count;
};

/* The normalised hosts of a valid order: the apex first, then the others in the order
 * given. Large (about 13 KiB): on a pool thread's stack (8 MiB), on the heap, or in an
 * arena; not in a small-stacked thread. */
struct pack_hosts {
    size_t count;
    char name[PACK_HOSTS_MAX][HOSTNAME_SIZE];
};

/* Checks `order` against the zone `apex` (already normalised): type "advanced"; known CA,
 * method and validity; the CA's validity and method rules; hosts non-empty, at most 50,
 * each a valid hostname (wildcards allowed) at or below the apex, unique after
 * normalisation, the apex among them; http never for a wildcard host.
 * Returns 0 and fills *hosts, or -1 with a message naming the field or host
 * ("hosts[2]: \"a.other.com\" is not in zone example.com") in msg (hosts->count is then 0).
 * The first problem found is reported, in this order: type, certificate_authority,
 * validation_method (known name, allowed by the CA), validity_days (known, allowed by the
 * CA), hosts (count, then each host in turn), the apex, http on a wildcard. */
int pack_rules_check_order(const struct pack_order *order, const char *apex,
                           struct pack_hosts *hosts, char *msg, size_t msg_size);

/* The part of the rules that depends on the method alone, for switching the method of an
 * existing pack (PATCH …/ssl/verification/{id}): the CA must allow `method`, and http
 * cannot validate a wildcard among hosts (normalised). Returns 0, or -1 with a message
 * naming validation_method. */
int pack_rules_check_method(enum pack_ca ca, enum pack_method method, const char *const *hosts,
                            size_t host_count, char *msg, size_t msg_size);

/* A new pack's id (32 lowercase hex characters, as every id): the milliseconds since the
 * epoch at `now_us` in the first 12 characters, then the 10 bytes of `random` (which the
 * caller draws from the CSPRNG) in the last 20. 80 random bits keep an id as unguessable
 * as ever; the time in front makes the ids of successive orders ascend, so an order's rows
 * in every index keyed on the pack id (the packs' primary key, its job's key) land on the
 * index's last page instead of a random one: a group commit writes one page for a batch
 * of orders there, not one page per order. Times before the epoch count as 0. */
#define PACK_ID_RANDOM_BYTES 10
void pack_rules_new_id(char out[33], long long now_us,
                       const unsigned char random[PACK_ID_RANDOM_BYTES]);

#endif
