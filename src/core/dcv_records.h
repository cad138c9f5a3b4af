/* Domain-control validation records of a certificate pack (SPEC §4.2): the TXT, HTTP and
 * e-mail records shown in validation_records[], and the CNAMEs of dcv_delegation_records[].
 * Pure logic apart from reading the CSPRNG (util_random_bytes) for fresh values; no I/O.
 *
 * Random values are 32 CSPRNG bytes in base64url without padding (43 characters), the form
 * of ACME dns-01 values and http-01 tokens (RFC 8555 §8.1). The encoder is a small
 * table-driven RFC 4648 §5 encoder (dcv_base64url), not OpenSSL's EVP_EncodeBlock, so core/
 * needs no OpenSSL and there is no padding or alphabet translation to get wrong. */
#ifndef TLSWARD_CORE_DCV_RECORDS_H
#define TLSWARD_CORE_DCV_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "core/hostname.h"
#include "core/pack_rules.h"

#define DCV_DOMAIN_DEFAULT "dcv.tlsward.local" /* --dcv-domain */
#define DCV_TXT_PREFIX "_acme-challenge."
#define DCV_HTTP_PATH "/.well-known/acme-challenge/"

#define DCV_RANDOM_BYTES 32
#define DCV_TOKEN_LEN 43 /* base64url of 32 bytes, unpadded */
#define DCV_TOKEN_SIZE (DCV_TOKEN_LEN + 1)
#define DCV_EMAIL_COUNT 5

/* Buffer sizes, each large enough for a host of HOSTNAME_MAX bytes. Names built from a very
 * long host can exceed DNS's 253-byte limit; they are still produced (the check then fails
 * and says so) rather than silently dropped. */
#define DCV_NAME_SIZE (sizeof DCV_TXT_PREFIX - 1 + HOSTNAME_MAX + 1)
#define DCV_HTTP_URL_SIZE                                                                          \
    (sizeof "http://" - 1 + HOSTNAME_MAX + sizeof DCV_HTTP_PATH - 1 + DCV_TOKEN_LEN + 1)
#define DCV_HTTP_BODY_SIZE (2 * DCV_TOKEN_LEN + 2)
#define DCV_EMAIL_SIZE (sizeof "administrator@" - 1 + HOSTNAME_MAX + 1)
#define DCV_DOMAIN_MAX HOSTNAME_MAX
#define DCV_CNAME_TARGET_SIZE (HOSTNAME_MAX + 1 + UTIL_ID_LEN + 1 + DCV_DOMAIN_MAX + 1)

/* The validation record of one host; only the fields of `method` are set, the others are
 * empty strings. */
struct dcv_record {
    enum pack_method method;
    char host[HOSTNAME_SIZE];
    /* txt: "_acme-challenge.<host without *.>" and a fresh 43-character value. The apex and
     * its wildcard get the same txt_name and two different values. */
    char txt_name[DCV_NAME_SIZE];
    char txt_value[DCV_TOKEN_SIZE];
    /* http: "http://<host>/.well-known/acme-challenge/<token>" and "<token>.<43 chars>". */
    char http_url[DCV_HTTP_URL_SIZE];
    char http_body[DCV_HTTP_BODY_SIZE];
    /* email: admin@, administrator@, hostmaster@, postmaster@, webmaster@ the apex. */
    char emails[DCV_EMAIL_COUNT][DCV_EMAIL_SIZE];
};

/* A dcv_delegation_records[] entry: cname "_acme-challenge.<host without *.>" ->
 * cname_target "<host without *.>.<zone id>.<dcv domain>" (--dcv-domain, default
 * dcv.tlsward.local). */
struct dcv_delegation {
    char cname[DCV_NAME_SIZE];
    char cname_target[DCV_CNAME_TARGET_SIZE];
};

/* Base64url (RFC 4648 §5) of n bytes without padding into out, which needs
 * (4 * n + 2) / 3 + 1 bytes. Returns the length written (without the NUL). */
size_t dcv_base64url(const void *in, size_t n, char *out);

/* A fresh value: 32 CSPRNG bytes, base64url (43 characters + NUL). */
void dcv_random_token(char out[DCV_TOKEN_SIZE]);

/* "_acme-challenge." + host with a leading "*." removed. */
void dcv_txt_name(const char *host, char out[DCV_NAME_SIZE]);

/* The e-mail addresses of a zone apex, in the order listed above. */
void dcv_emails(const char *apex, char out[DCV_EMAIL_COUNT][DCV_EMAIL_SIZE]);

/* Fills *r for `host` (normalised, in the zone of `apex`) with fresh random values.
 * Returns 0, or -1 for http on a wildcard host (pack_rules refuses such an order). */
int dcv_record_init(struct dcv_record *r, enum pack_method method, const char *host,
                    const char *apex);

/* Records for every host of a pack, in order, into out[0..n). Returns 0, or -1 (as
 * dcv_record_init) with out partly filled. */
int dcv_records_build(struct dcv_record *out, enum pack_method method, const char *const *hosts,
                      size_t n, const char *apex);

/* The delegation record of `host` for zone `zone_id` (32 hex) under `dcv_domain` (NULL for
 * DCV_DOMAIN_DEFAULT; at most DCV_DOMAIN_MAX bytes, normally validated configuration). */
void dcv_delegation_init(struct dcv_delegation *d, const char *host, const char *zone_id,
                         const char *dcv_domain);

/* An HTTP-01 token as tlsward serves or writes it: 1 to DCV_TOKEN_MAX base64url
 * characters, so it is safe as a file name and in a URL path as it is. */
#define DCV_TOKEN_MAX 128
bool dcv_token_valid(const char *token);

#endif
