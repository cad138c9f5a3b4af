/* Ordering rules for advanced certificate packs: the per-CA table (validity periods and
 * validation methods, SPEC §4.2 and research/cf-facts.md §2) and the order check built on
 * it and on core/hostname. Pure logic, no I/O. */
#include "core/pack_rules.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define METHOD_BIT(m) (1u << (m))

/* What each certificate authority issues. Let's Encrypt: 90 days only (the documented
 * table, not the SDK examples). Google: 14/30/90. SSL.com: 14/30/90 and 365 (Enterprise on
 * Cloudflare). txt and http are ACME challenges every CA accepts; email validation is
 * SSL.com's alone (Let's Encrypt and Google only speak ACME). */
static const struct ca_rule {
    int validity[4];  /* allowed periods, ascending, 0-terminated when fewer than 4 */
    unsigned methods; /* METHOD_BIT set */
} ca_rules[PACK_CA_COUNT] = {
    [PACK_CA_GOOGLE] = {{14, 30, 90, 0},
                        METHOD_BIT(PACK_METHOD_TXT) | METHOD_BIT(PACK_METHOD_HTTP)},
    [PACK_CA_LETS_ENCRYPT] = {{90, 0, 0, 0},
                              METHOD_BIT(PACK_METHOD_TXT) | METHOD_BIT(PACK_METHOD_HTTP)},
    [PACK_CA_SSL_COM] = {{14, 30, 90, 365},
                         METHOD_BIT(PACK_METHOD_TXT) | METHOD_BIT(PACK_METHOD_HTTP) |
                             METHOD_BIT(PACK_METHOD_EMAIL)},
};

#define CA_VALIDITY_SLOTS (sizeof ca_rules[0].validity / sizeof ca_rules[0].validity[0])

const char *const pack_ca_names[] = {
#define PACK_CA_NAME(e, n) n,
    PACK_CA_MAP(PACK_CA_NAME)
#undef PACK_CA_NAME
        NULL};

const char *const pack_method_names[] = {
#define PACK_METHOD_NAME(e, n) n,
    PACK_METHOD_MAP(PACK_METHOD_NAME)
#undef PACK_METHOD_NAME
        NULL};

const char *const pack_order_type_names[] = {"advanced", NULL};

const char *const pack_order_method_names[] = {"txt", "http", "email", NULL};

const int pack_validity_days[] = {14, 30, 90, 365, 0};

_Static_assert(sizeof pack_ca_names / sizeof pack_ca_names[0] == PACK_CA_COUNT + 1,
               "one name per CA");
_Static_assert(sizeof pack_method_names / sizeof pack_method_names[0] == PACK_METHOD_COUNT + 1,
               "one name per method");

static int parse_name(const char *const *names, const char *name, int *out)
{
    if (!name)
        return -1;
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int pack_ca_parse(const char *name, enum pack_ca *out)
{
    int i;
    if (parse_name(pack_ca_names, name, &i) < 0)
        return -1;
    *out = (enum pack_ca)i;
    return 0;
}

const char *pack_ca_name(enum pack_ca ca)
{
    assert(ca >= 0 && ca < PACK_CA_COUNT);
    return pack_ca_names[ca];
}

int pack_method_parse(const char *name, enum pack_method *out)
{
    int i;
    if (parse_name(pack_method_names, name, &i) < 0)
        return -1;
    *out = (enum pack_method)i;
    return 0;
}

const char *pack_method_name(enum pack_method method)
{
    assert(method >= 0 && method < PACK_METHOD_COUNT);
    return pack_method_names[method];
}

bool pack_ca_allows_validity(enum pack_ca ca, int days)
{
    assert(ca >= 0 && ca < PACK_CA_COUNT);
    for (size_t i = 0; i < CA_VALIDITY_SLOTS && ca_rules[ca].validity[i]; i++)
        if (ca_rules[ca].validity[i] == days)
            return true;
    return false;
}

bool pack_ca_allows_method(enum pack_ca ca, enum pack_method method)
{
    assert(ca >= 0 && ca < PACK_CA_COUNT);
    assert(method >= 0 && method < PACK_METHOD_COUNT);
    /* Delegated DCV is a DNS TXT record at another name, which every CA accepts. */
    if (method == PACK_METHOD_CNAME)
        return true;
    return (ca_rules[ca].methods & METHOD_BIT(method)) != 0;
}

/* Writes the message and returns -1, so every failure is one `return fail(…)`. */
__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t size, const char *fmt, ...)
{
    if (size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "a, b or c" into out; items are the strings or, when strings is NULL, the ints. */
static void join_choices(const char *const *strings, const int *ints, size_t n, char *out,
                         size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = strings ? snprintf(out + used, size - used, "%s%s", sep, strings[i])
                        : snprintf(out + used, size - used, "%s%d", sep, ints[i]);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

static size_t count_names(const char *const *names)
{
    size_t n = 0;
    while (names[n])
        n++;
    return n;
}

static int fail_enum(char *msg, size_t size, const char *field, const char *const *names)
{
    char list[128];
    join_choices(names, NULL, count_names(names), list, sizeof list);
    return fail(msg, size, "%s: must be one of %s", field, list);
}

static int check_validity(enum pack_ca ca, int days, char *msg, size_t size)
{
    bool known = false;
    size_t all = 0;
    for (; pack_validity_days[all]; all++)
        known = known || pack_validity_days[all] == days;
    char list[64];
    if (!known) {
        join_choices(NULL, pack_validity_days, all, list, sizeof list);
        return fail(msg, size, "validity_days: must be one of %s", list);
    }
    if (!pack_ca_allows_validity(ca, days)) {
        size_t n = 0;
        while (n < CA_VALIDITY_SLOTS && ca_rules[ca].validity[n])
            n++;
        join_choices(NULL, ca_rules[ca].validity, n, list, sizeof list);
        return fail(msg, size, "validity_days: %s issues only %s-day certificates",
                    pack_ca_name(ca), list);
    }
    return 0;
}

/* The CA's side of the method rule, naming what the CA does offer. */
static int check_ca_method(enum pack_ca ca, enum pack_method method, char *msg, size_t size)
{
    if (pack_ca_allows_method(ca, method))
        return 0;
    const char *allowed[PACK_METHOD_COUNT];
    size_t n = 0;
    for (int m = 0; m < PACK_METHOD_COUNT; m++)
        if (m != PACK_METHOD_CNAME && pack_ca_allows_method(ca, (enum pack_method)m))
            allowed[n++] = pack_method_name((enum pack_method)m);
    char list[64];
    join_choices(allowed, NULL, n, list, sizeof list);
    return fail(msg, size, "validation_method: %s does not offer %s validation (only %s)",
                pack_ca_name(ca), pack_method_name(method), list);
}

int pack_rules_check_method(enum pack_ca ca, enum pack_method method, const char *const *hosts,
                            size_t host_count, char *msg, size_t msg_size)
{
    if (check_ca_method(ca, method, msg, msg_size) < 0)
        return -1;
    /* ACME forbids http-01 for wildcard identifiers (RFC 8555 §8.3): a file on one host
     * cannot prove control of every name below it. */
    if (method == PACK_METHOD_HTTP) {
        for (size_t i = 0; i < host_count; i++)
            if (hosts[i] && strncmp(hosts[i], "*.", 2) == 0)
                return fail(msg, msg_size,
                            "validation_method: http cannot validate the wildcard host %s",
                            hosts[i]);
    }
    return 0;
}

/* Normalises and checks every host into out->name[0..n), then moves the apex to the front. */
static int check_hosts(const struct pack_order *order, const char *apex, struct pack_hosts *out,
                       char *msg, size_t size)
{
    size_t n = order->host_count;
    if (n == 0 || !order->hosts)
        return fail(msg, size, "hosts: must not be empty");
    if (n > PACK_HOSTS_MAX)
        return fail(msg, size, "hosts: at most %d hosts (got %zu)", PACK_HOSTS_MAX, n);

    size_t apex_at = n;
    for (size_t i = 0; i < n; i++) {
        const char *in = order->hosts[i];
        if (!in)
            return fail(msg, size, "hosts[%zu]: must be a string", i);
        const char *why = NULL;
        if (hostname_normalize(in, HOSTNAME_ALLOW_WILDCARD | HOSTNAME_REQUIRE_DOT, out->name[i],
                               &why) < 0)
            return fail(msg, size, "hosts[%zu]: \"%.253s\" is not a valid hostname: %s", i, in,
                        why);
        if (!hostname_in_zone(out->name[i], apex))
            return fail(msg, size, "hosts[%zu]: \"%.253s\" is not in zone %s", i, in, apex);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->name[j], out->name[i]) == 0)
                return fail(msg, size, "hosts[%zu]: \"%.253s\" duplicates hosts[%zu] (%s)", i, in,
                            j, out->name[j]);
        }
        if (strcmp(out->name[i], apex) == 0)
            apex_at = i;
    }
    if (apex_at == n)
        return fail(msg, size, "hosts: must include the zone apex %s", apex);

    /* Apex first, the rest keeping the order given. */
    char apex_name[HOSTNAME_SIZE];
    memcpy(apex_name, out->name[apex_at], sizeof apex_name);
    memmove(out->name[1], out->name[0], apex_at * sizeof out->name[0]);
    memcpy(out->name[0], apex_name, sizeof apex_name);
    out->count = n;
    return 0;
}

int pack_rules_check_order(const struct pack_order *order, const char *apex,
                           struct pack_hosts *hosts, char *msg, size_t msg_size)
{
    assert(order && apex && hosts);
    hosts->count = 0;

    if (!order->type)
        return fail(msg, msg_size, "type: is required");
    if (strcmp(order->type, "advanced") != 0)
        return fail_enum(msg, msg_size, "type", pack_order_type_names);

    enum pack_ca ca;
    if (!order->certificate_authority)
        return fail(msg, msg_size, "certificate_authority: is required");
    if (pack_ca_parse(order->certificate_authority, &ca) < 0)
        return fail_enum(msg, msg_size, "certificate_authority", pack_ca_names);

    enum pack_method method;
    if (!order->validation_method)
        return fail(msg, msg_size, "validation_method: is required");
    if (pack_method_parse(order->validation_method, &method) < 0 || method == PACK_METHOD_CNAME)
        return fail_enum(msg, msg_size, "validation_method", pack_order_method_names);
    if (check_ca_method(ca, method, msg, msg_size) < 0)
        return -1;

    if (check_validity(ca, order->validity_days, msg, msg_size) < 0)
        return -1;

    if (check_hosts(order, apex, hosts, msg, msg_size) < 0) {
        hosts->count = 0;
        return -1;
    }

    const char *names[PACK_HOSTS_MAX];
    for (size_t i = 0; i < hosts->count; i++)
        names[i] = hosts->name[i];
    if (pack_rules_check_method(ca, method, names, hosts->count, msg, msg_size) < 0) {
        hosts->count = 0;
        return -1;
    }
    return 0;
}

void pack_rules_new_id(char out[33], long long now_us,
                       const unsigned char random[PACK_ID_RANDOM_BYTES])
{
    static const char digits[] = "0123456789abcdef";
    /* 48 bits of milliseconds: enough until the year 10889. */
    unsigned long long ms = now_us > 0 ? (unsigned long long)now_us / 1000 : 0;
    for (int i = 11; i >= 0; i--, ms >>= 4)
        out[i] = digits[ms & 15];
    for (int i = 0; i < PACK_ID_RANDOM_BYTES; i++) {
        out[12 + 2 * i] = digits[random[i] >> 4];
        out[13 + 2 * i] = digits[random[i] & 15];
    }
    out[32] = '\0';
}
