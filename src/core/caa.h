/* CAA authorization (RFC 8659, with the RFC 8657 parameters): given the CAA record sets
 * found at each name from a host up to its top-level domain, may our CA issue for the
 * host? Pure logic, no DNS and no I/O: dcv/dcv.c does the lookups and asks here.
 *
 * The rules, in our words:
 * - The relevant record set is the first non-empty one climbing from the host (without its
 *   "*.") towards the TLD; it does not stop at the zone apex. No set anywhere: allowed.
 * - Any record of the relevant set with the critical flag (128) and a tag we do not
 *   understand forbids issuance outright.
 * - For a wildcard host the `issuewild` records rule when the set has any, the `issue`
 *   records otherwise; no record of the ruling tag: allowed.
 * - A ruling record authorizes when its issuer domain name equals (case-insensitively) one
 *   of the CA's identities and its parameters permit: `validationmethods` (comma-separated
 *   labels) must list the pack's method, `accounturi` must equal the account in use (the
 *   local CA has none, so such a record never authorizes it). Unknown parameters are
 *   ignored. An empty issuer (";") or a value that does not parse authorizes nobody.
 * - Method labels: txt is ACME's "dns-01", http is "http-01". E-mail validation has no ACME
 *   label; RFC 8657 lets a CA name its own methods with a "ca-" prefix, so a record with
 *   validationmethods authorizes e-mail validation only when it lists "ca-email". */
#ifndef TLSWARD_CORE_CAA_H
#define TLSWARD_CORE_CAA_H

#include <stdbool.h>
#include <stddef.h>

#define CAA_FLAG_CRITICAL 0x80 /* bit 0 of the flags octet */
#define CAA_PARAMS_MAX 16      /* parameters read from one value; more is malformed */
#define CAA_NAMES_MAX 127      /* names climbed from a 253-byte host */
#define CAA_IDENTITIES_MAX 4
#define CAA_REASON_SIZE 512

/* One CAA record as found in DNS (borrowed bytes, not NUL-terminated). */
struct caa_record {
    unsigned flags;
    const char *tag;
    size_t tag_len;
    const char *value;
    size_t value_len;
};

/* The records found at one name; count 0 when it has none (NODATA or NXDOMAIN). */
struct caa_set {
    const char *name;
    const struct caa_record *records;
    size_t count;
};

enum caa_method { CAA_METHOD_DNS01, CAA_METHOD_HTTP01, CAA_METHOD_EMAIL };

/* Who asks, for what. */
struct caa_request {
    const char *ca;                             /* certificate_authority, for messages */
    const char *identities[CAA_IDENTITIES_MAX]; /* issuer domain names meaning this CA */
    size_t identity_count;
    bool wildcard; /* the host starts with "*." */
    enum caa_method method;
    const char *account_uri; /* ACME account in use; NULL for none */
};

/* A parsed issue/issuewild value: `[issuer] [; key=value [; key=value ...]]`. */
struct caa_param {
    const char *key, *value;
    size_t key_len, value_len;
};
struct caa_issue_value {
    const char *issuer; /* NULL (len 0) for an empty issuer: nobody may issue */
    size_t issuer_len;
    struct caa_param params[CAA_PARAMS_MAX];
    size_t nparams;
};

/* Parses an issue/issuewild value. Returns 0, or -1 when it does not follow the grammar
 * (bad issuer domain name, a parameter without "=", a bad tag or value byte, too many
 * parameters). */
int caa_parse_issue(const char *value, size_t len, struct caa_issue_value *out);

/* The names to look up for host (normalised; a leading "*." is skipped): host, its
 * parent, … the TLD. Pointers into host, in that order; returns how many (<= max). */
size_t caa_climb(const char *host, const char **names, size_t max);

/* The decision. sets[] as caa_climb gave the names (sets[0] the host). Returns 0 when
 * allowed, -1 when forbidden with a message naming the record(s) in reason, e.g.
 *   CAA record at example.com forbids lets_encrypt (letsencrypt.org, tlsward.local):
 *   0 issue "digicert.com" */
int caa_decide(const struct caa_set *sets, size_t nsets, const struct caa_request *req,
               char reason[CAA_REASON_SIZE]);

/* The issuer domain name of a certificate_authority ("lets_encrypt" -> "letsencrypt.org",
 * "google" -> "pki.goog", "ssl_com" -> "ssl.com"), or NULL. */
const char *caa_ca_identity(const char *ca);

/* The method of a pack's validation_method ("txt", "http", "email"; the delegated "cname"
 * is a TXT record too); -1 for an unknown name. */
int caa_method_parse(const char *validation_method, enum caa_method *out);

/* The RFC 8657 label of a method ("dns-01", "http-01", "ca-email"). */
const char *caa_method_label(enum caa_method m);

#endif
