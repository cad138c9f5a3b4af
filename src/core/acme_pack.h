/* Certificate packs served by an ACME upstream: the pure decisions between a pack and an
 * ACME order. No I/O, no clock: the worker (worker/acme_jobs) talks to the upstream and
 * the store, and asks this module what the answers mean.
 *
 * - which validation methods an ACME CA can take (no e-mail: ACME has no such challenge);
 * - the pack's validation_records built from the order's challenges (dns-01 for txt,
 *   http-01 for http), with the real values the upstream will check;
 * - an ACME problem document as one validation_errors message;
 * - what to do with an order stored before a crash or a restart of the upstream. */
#ifndef TLSWARD_CORE_ACME_PACK_H
#define TLSWARD_CORE_ACME_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acme/acme.h"
#include "core/pack_rules.h"
#include "store/store.h"

#define ACME_PACK_MSG_SIZE 512

/* The message of the 1004 an order (or a method switch) gets when it asks an ACME CA for a
 * method ACME cannot validate; NULL when the method is fine. */
const char *acme_pack_method_refusal(enum pack_method method);

/* One challenge of an order, as the worker read it from an authorization. `identifier` is
 * the authorization's DNS name (without "*."; `wildcard` says whether it was one). For
 * dns-01 `key_authorization` is the token "." account-key thumbprint; the record holds
 * base64url(SHA-256(key authorization)) as RFC 8555 §8.4 says. */
struct acme_pack_challenge {
    const char *identifier;
    bool wildcard;
    const char *token;
    const char *key_authorization;
    const char *status; /* the challenge's ACME status: pending, processing, valid, invalid */
};

/* The dns-01 TXT value of a key authorization (43 characters + NUL). */
void acme_pack_dns01_value(const char *key_authorization, char out[44]);

/* validation_records for `method` (txt, cname or http) from n challenges of that type: one
 * record per challenge, sorted by identifier (a wildcard after its base name), then token,
 * whatever order the CA listed them in; txt and cname: {txt_name "_acme-challenge.<identifier>",
 * txt_value, status}; http: {http_url "http://<identifier>/.well-known/acme-challenge/<token>",
 * http_body = key authorization, status}. status is "active" for a valid challenge,
 * "pending" otherwise. Replaces out's validation records and returns 0, or -1 (msg says
 * why; out unchanged) for a method ACME cannot validate, a challenge missing a field, or
 * more challenges or longer values than a pack's records hold. */
int acme_pack_records(enum pack_method method, const struct acme_pack_challenge *ch, size_t n,
                      struct store_pack *out, char *msg, size_t msg_size);

/* The ACME challenge type that answers a pack method ("dns-01", "http-01"; NULL for email). */
const char *acme_pack_challenge_type(enum pack_method method);

/* An ACME problem document as one message for validation_errors: "ACME: <what it means>:
 * <detail>" followed by each subproblem as "; <identifier>: <detail>", truncated to fit,
 * control characters blanked. A type tlsward does not know keeps its name. `problem` may be
 * NULL (no document): `fallback` is used. */
void acme_pack_problem_message(const struct acme_problem *problem, const char *fallback, char *out,
                               size_t size);

/* What a problem type asks of the worker. */
enum acme_pack_reaction {
    ACME_REACT_FAIL,       /* the order cannot succeed: validation ends with the message */
    ACME_REACT_BACK_OFF,   /* rateLimited, serverInternal, 5xx: wait (Retry-After) and retry */
    ACME_REACT_REREGISTER, /* the upstream forgot the account: register again, new order */
    ACME_REACT_NEW_ORDER,  /* the upstream forgot or dropped the order: open a new one */
};
/* The reaction to an answer: HTTP status and the problem's type (NULL when none). */
enum acme_pack_reaction acme_pack_reaction(int http_status, const char *problem_type);

/* What a worker does with the order stored for a pack when its job runs. */
enum acme_pack_resume {
    ACME_RESUME_NEW_ORDER, /* nothing stored (or unusable): open a new order */
    ACME_RESUME_POLL,      /* keep polling the stored order (pending, ready, processing) */
    ACME_RESUME_FINALIZE,  /* the stored order is ready: finalize it */
    ACME_RESUME_DOWNLOAD,  /* the stored order is valid: download its certificate */
    ACME_RESUME_FAILED,    /* the stored order is invalid: validation ends */
};
/* From the stored order's URL (NULL or "" = none) and the status the upstream reports now
 * (NULL: not asked yet, which means "resume from the stored status" `stored_status`). An
 * order past its `expires` (expires_us, 0 = unknown) at `now_us` is replaced by a new one. */
enum acme_pack_resume acme_pack_resume(const char *order_url, const char *stored_status,
                                       const char *upstream_status, int64_t expires_us,
                                       int64_t now_us);

/* When a certificate with an ARI suggested window [start_us, end_us) renews: a point of the
 * window fixed per pack (spread by a hash of pack_id, so every worker and every tick agree
 * and a fleet of packs does not renew at one instant). An empty or reversed window gives
 * start_us. */
int64_t acme_pack_ari_renew_at(int64_t start_us, int64_t end_us, const char *pack_id);

#endif
