/* What the ACME client's files share and nothing else may use: the HTTP exchange (acme.c)
 * for ari.c, and the key-authorization helpers (jws.c) for acme.c. */
#ifndef TLSWARD_ACME_ACME_INTERNAL_H
#define TLSWARD_ACME_ACME_INTERNAL_H

#include "acme/acme.h"

#define ACME__BODY_MAX (1024 * 1024) /* a certificate chain is a few KiB; a directory less */
#define ACME__LINKS_MAX 8

/* One HTTP response, the parts the client reads. */
struct acme__resp {
    long status;
    char *body; /* NUL-terminated, at most ACME__BODY_MAX bytes */
    size_t len;
    size_t cap;
    char *location;         /* Location header, or NULL */
    int64_t retry_after_us; /* absolute, 0 if none or unparsable */
    size_t n_links;         /* rel="alternate" Link URLs */
    char *links[ACME__LINKS_MAX];
};
void acme__resp_free(struct acme__resp *r);

/* A plain GET (the directory, renewalInfo). 0 for a 2xx answer; otherwise the error
 * mapped from the answer (acme_problem_parse) or the transport. */
int acme__get(struct acme_client *c, enum acme_endpoint ep, const char *url,
              struct acme__resp *resp, struct acme_error *err);

char *acme__key_authorization(const char *thumbprint, const char *token);
int acme__dns01_value(const char *keyauth, char out[44]);

/* Copies a JSON string member that must be an http(s) URL of at most 2048 bytes, or NULL. */
char *acme__url_member(json_t *obj, const char *name);
/* Fills err with a code and a printf message (no problem document). Returns code. */
int acme__fail(struct acme_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A problem document object into *p (strings escaped and cut; see acme.h). */
void acme__problem_from_json(json_t *doc, int http_status, struct acme_problem *p);

#endif
