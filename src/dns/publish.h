/* Publication of DCV TXT records in DNS: RFC 2136 dynamic updates signed with TSIG
 * (--dns-update, --dns-tsig), built and parsed with ldns, or the operator's --dns-hook.
 *
 * An update goes to the zone that holds the name, found by asking the update server for
 * the SOA of the name and of each parent in turn (the answer's SOA when the name is a zone
 * apex, the authority section's SOA on NXDOMAIN/NODATA; a REFUSED or empty answer moves one
 * label up). Adding puts one TXT record in place; deleting removes exactly that record
 * (RFC 2136 §2.5.4, class NONE), never the whole set, since an apex and its wildcard keep
 * two values at one name. Every request carries a TSIG (hmac-sha256) and every response
 * must carry one that verifies, so a forged answer is never taken for success.
 *
 * Calls are synchronous (TCP, one connection per message, bounded by timeout_ms) and
 * independent across threads. The TSIG secret is never part of a message or log line.
 * Functions return 0 or -1; on -1 a one-line reason is in why. */
#ifndef TLSWARD_DNS_PUBLISH_H
#define TLSWARD_DNS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define DNS_PUBLISH_SERVER_SIZE 64 /* "[IPv6]:PORT" fits */
#define DNS_PUBLISH_NAME_SIZE 256  /* a domain name in text, with its final dot */
#define DNS_PUBLISH_SECRET_MAX 256 /* base64 of a TSIG key */
#define DNS_PUBLISH_TIMEOUT_MS 5000
#define DNS_PUBLISH_TTL 60
#define DNS_PUBLISH_HOOK_TIMEOUT_S 60
#define DNS_PUBLISH_VALUE_MAX 255 /* one TXT string */

enum dns_publish_event { DNS_PUBLISH_PRESENT, DNS_PUBLISH_CLEANUP };

/* Where and how records are published. Fill with dns_publish_init, then the setters. */
struct dns_publish {
    char server[DNS_PUBLISH_SERVER_SIZE]; /* --dns-update as given; "" = none */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char tsig_name[DNS_PUBLISH_NAME_SIZE];        /* with its final dot; "" = no --dns-tsig */
    char tsig_secret[DNS_PUBLISH_SECRET_MAX + 1]; /* base64; never logged */
    const char *hook;                             /* --dns-hook; NULL = none */
    int timeout_ms;
    int ttl;
    int hook_timeout_s; /* the hook is killed after this (60 s) */
};

/* No server, no key, no hook; 5 s timeout, TTL 60, hook limit 60 s. */
void dns_publish_init(struct dns_publish *d);

/* --dns-update "IPv4:PORT", "[IPv6]:PORT" or a bare address (port 53). Host names are
 * refused. 0, or -1 with a static reason in *why and d unchanged. */
int dns_publish_set_server(struct dns_publish *d, const char *arg, const char **why);

/* --dns-tsig "NAME:hmac-sha256:BASE64". 0, or -1 with a static reason in *why (which never
 * repeats the secret) and d unchanged. */
int dns_publish_set_tsig(struct dns_publish *d, const char *arg, const char **why);

/* A configuration that makes sense: --dns-update needs --dns-tsig and the other way round.
 * 0, or -1 with a static reason. */
int dns_publish_check(const struct dns_publish *d, const char **why);

/* True when records are published by tlsward (--dns-update or --dns-hook). */
bool dns_publish_enabled(const struct dns_publish *d);

/* The zone (with its final dot) that holds name on the update server, by SOA queries. */
int dns_publish_zone_of(const struct dns_publish *d, const char *name,
                        char zone[DNS_PUBLISH_NAME_SIZE], char *why, size_t why_size);

/* Adds `name TTL IN TXT "value"` to zone / deletes exactly that record, by a signed
 * RFC 2136 update. Deleting a record that is not there succeeds (the update is a no-op). */
int dns_publish_txt_add(const struct dns_publish *d, const char *zone, const char *name,
                        const char *value, char *why, size_t why_size);
int dns_publish_txt_delete(const struct dns_publish *d, const char *zone, const char *name,
                           const char *value, char *why, size_t why_size);

/* Publishes (present) or removes (cleanup) one TXT record by the first that applies:
 * --dns-update (zone found by SOA), else --dns-hook (run with TLSWARD_EVENT,
 * TLSWARD_RECORD_NAME, TLSWARD_RECORD_VALUE, TLSWARD_ZONE = zone_name, TLSWARD_PACK_ID).
 * Nothing configured is success. */
int dns_publish_record(const struct dns_publish *d, enum dns_publish_event event,
                       const char *zone_name, const char *name, const char *value,
                       const char *pack_id, char *why, size_t why_size);

#endif
