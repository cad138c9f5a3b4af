/* The certificate-pack lifecycle (SPEC §4.3) as one pure function, and the table it reads:
 * (facts about a pack, event) -> (next status, action for the worker, when to look again).
 * The same table answers which API operations a status allows, so every 1406 comes from
 * here. Pure logic, no I/O, no clock: the caller passes `now`.
 *
 *   initializing -> pending_validation -> pending_issuance -> pending_deployment -> active
 *   (each pending_* times out into its *_timed_out; active renews in place, failing renewals
 *   go pending_expiration, a certificate past not_after makes the pack expired;
 *   DELETE: any -> pending_deletion -> deleted)
 *
 * How the worker drives it, for one pack whose job is due:
 *
 *   step = pack_state_next(&facts, PACK_EV_TICK)          -- what now?
 *   CREATE_RECORDS: generate records (core/dcv_records), commit them with step.status
 *   CHECK_VALIDATION / ISSUE / DEPLOY / RENEW / REMOVE_DEPLOYMENT: commit step (if it
 *       changed anything), do the work, then feed the outcome back as an event:
 *       step = pack_state_next(&facts_after, PACK_EV_VALIDATED or …_FAILED, …)
 *   commit step.status (entered_at = now when step.entered; failures = step.failures) and
 *   schedule the pack's job at step.next_us (PACK_STATE_NEVER: no job).
 *
 * Only TICK yields work actions; outcome and API events yield NONE or CREATE_RECORDS and a
 * next_us (usually now) at which the next TICK picks up the work. An event the table does
 * not allow in the current status is refused (-1): for an API event that is the 1406, for
 * an outcome it means the pack moved on meanwhile (e.g. deleted during issuance) and the
 * worker drops the result. */
#ifndef TLSWARD_CORE_PACK_STATE_H
#define TLSWARD_CORE_PACK_STATE_H

#include <stdbool.h>
#include <stdint.h>

/* Every status of the SDK enum, in its order. tlsward enters only some of them; the rest
 * are accepted from the store and can only be deleted. X(ENUM, "api name"). */
#define PACK_STATUS_MAP(X)                                                                         \
    X(INITIALIZING, "initializing")                                                                \
    X(PENDING_VALIDATION, "pending_validation")                                                    \
    X(DELETED, "deleted")                                                                          \
    X(PENDING_ISSUANCE, "pending_issuance")                                                        \
    X(PENDING_DEPLOYMENT, "pending_deployment")                                                    \
    X(PENDING_DELETION, "pending_deletion")                                                        \
    X(PENDING_EXPIRATION, "pending_expiration")                                                    \
    X(EXPIRED, "expired")                                                                          \
    X(ACTIVE, "active")                                                                            \
    X(INITIALIZING_TIMED_OUT, "initializing_timed_out")                                            \
    X(VALIDATION_TIMED_OUT, "validation_timed_out")                                                \
    X(ISSUANCE_TIMED_OUT, "issuance_timed_out")                                                    \
    X(DEPLOYMENT_TIMED_OUT, "deployment_timed_out")                                                \
    X(DELETION_TIMED_OUT, "deletion_timed_out")                                                    \
    X(PENDING_CLEANUP, "pending_cleanup")                                                          \
    X(STAGING_DEPLOYMENT, "staging_deployment")                                                    \
    X(STAGING_ACTIVE, "staging_active")                                                            \
    X(DEACTIVATING, "deactivating")                                                                \
    X(INACTIVE, "inactive")                                                                        \
    X(BACKUP_ISSUED, "backup_issued")                                                              \
    X(HOLDING_DEPLOYMENT, "holding_deployment")

/* PACK_STATUS_INVALID: a name no table knows (read from a newer or damaged store); it has
 * no name, no transition and is never stored. */
enum pack_status {
    PACK_STATUS_INVALID = -1,
#define PACK_STATUS_ENUM(e, n) PACK_##e,
    PACK_STATUS_MAP(PACK_STATUS_ENUM)
#undef PACK_STATUS_ENUM
        PACK_STATUS_COUNT
};

/* Events. TICK: the pack's job is due. The next ten: outcomes of the work actions. The last
 * six: API/CLI operations (DELETE pack; PATCH pack restarting validation; PATCH
 * verification switching the method; GET verification?retry=true; PATCH pack changing
 * cloudflare_branding; `tlsward dcv approve`). X(ENUM, "name used in messages"). */
#define PACK_EVENT_MAP(X)                                                                          \
    X(TICK, "tick")                                                                                \
    X(VALIDATED, "validated")                                                                      \
    X(VALIDATION_FAILED, "validation failed")                                                      \
    X(ISSUED, "issued")                                                                            \
    X(ISSUE_FAILED, "issuance failed")                                                             \
    X(DEPLOYED, "deployed")                                                                        \
    X(DEPLOY_FAILED, "deployment failed")                                                          \
    X(RENEWED, "renewed")                                                                          \
    X(RENEW_FAILED, "renewal failed")                                                              \
    X(REMOVED, "deployment removed")                                                               \
    X(REMOVE_FAILED, "deployment removal failed")                                                  \
    X(DELETE, "delete")                                                                            \
    X(RESTART, "restart validation")                                                               \
    X(SWITCH_METHOD, "change the validation method")                                               \
    X(RETRY, "retry validation")                                                                   \
    X(REBRAND, "change cloudflare_branding")                                                       \
    X(APPROVE, "approve validation")

enum pack_event {
#define PACK_EVENT_ENUM(e, n) PACK_EV_##e,
    PACK_EVENT_MAP(PACK_EVENT_ENUM)
#undef PACK_EVENT_ENUM
        PACK_EV_COUNT
};

/* What the worker does. CREATE_RECORDS is an effect committed together with the new status
 * (new validation records, replacing any old ones); the others are work whose outcome comes
 * back as an event: CHECK_VALIDATION -> VALIDATED | VALIDATION_FAILED, ISSUE -> ISSUED |
 * ISSUE_FAILED, DEPLOY -> DEPLOYED | DEPLOY_FAILED, RENEW (re-validate if needed, issue,
 * deploy; the old certificate stays deployed until the new one is) -> RENEWED |
 * RENEW_FAILED, REMOVE_DEPLOYMENT (files and deploy hook with TLSWARD_EVENT=delete) ->
 * REMOVED | REMOVE_FAILED. */
#define PACK_ACTION_MAP(X)                                                                         \
    X(NONE, "none")                                                                                \
    X(CREATE_RECORDS, "create_records")                                                            \
    X(CHECK_VALIDATION, "check_validation")                                                        \
    X(ISSUE, "issue")                                                                              \
    X(DEPLOY, "deploy")                                                                            \
    X(RENEW, "renew")                                                                              \
    X(REMOVE_DEPLOYMENT, "remove_deployment")

enum pack_action {
#define PACK_ACTION_ENUM(e, n) PACK_ACT_##e,
    PACK_ACTION_MAP(PACK_ACTION_ENUM)
#undef PACK_ACTION_ENUM
        PACK_ACT_COUNT
};

#define PACK_STATE_SECOND_US INT64_C(1000000)
#define PACK_STATE_DAY_US (86400 * PACK_STATE_SECOND_US)
/* "No need to look again": a pack at rest in a final or timed-out status. */
#define PACK_STATE_NEVER INT64_MAX

/* Back-off of re-checks and retries: 1 s, 2 s, 4 s … capped at 5 minutes. */
#define PACK_STATE_BACKOFF_CAP_US (300 * PACK_STATE_SECOND_US)
/* Renewal: consecutive failures, or fewer days left than this, make it pending_expiration. */
#define PACK_STATE_RENEW_FAILURES_MAX 3
#define PACK_STATE_EXPIRY_WARNING_US (7 * PACK_STATE_DAY_US)

/* How long a pack may stay in each working status; <= 0 means no limit. Defaults: validation
 * 24 h, issuance 1 h (SPEC's --validation-timeout/--issuance-timeout), deployment 1 h,
 * deletion 1 h. The deadline is entered_us + timeout: at exactly that instant it has passed. */
struct pack_timeouts {
    int64_t validation_us, issuance_us, deployment_us, deletion_us;
};
struct pack_timeouts pack_timeouts_default(void);

/* Everything the decision depends on. Times in microseconds since the epoch. */
struct pack_facts {
    enum pack_status status;
    int64_t now_us;
    int64_t entered_us; /* when the pack entered `status` */
    int failures;       /* consecutive failed attempts so far (checks, issuance, deployment,
                           removal, renewal); 0 after any success */
    /* The current certificate (0/0 before the first issuance). With DEPLOYED and RENEWED,
     * pass the certificate that was just deployed. Required in active and
     * pending_expiration. */
    int64_t not_before_us, not_after_us;
    bool reissue; /* the certificate no longer matches the pack (cloudflare_branding changed):
                     re-issue without waiting for the renewal window */
    struct pack_timeouts timeouts;
};

/* The decision. */
struct pack_step {
    enum pack_status status; /* status after the step (may equal facts.status) */
    enum pack_action action;
    bool entered;    /* status (re)entered: set entered_at = now (timeouts restart) */
    int failures;    /* the new consecutive-failure count to store */
    int64_t next_us; /* when to run the pack's job again; PACK_STATE_NEVER for no job */
};

/* The state machine. Returns 0 and fills *out, or -1 (out untouched) when `ev` is not
 * allowed in facts->status. TICK is allowed in every status. */
int pack_state_next(const struct pack_facts *facts, enum pack_event ev, struct pack_step *out);

/* Whether the table allows `ev` in `status` at all (the facts only shape the outcome). */
bool pack_state_allows(enum pack_status status, enum pack_event ev);
/* The API's questions, answered from the same table (false -> 400/1406). */
bool pack_state_can_delete(enum pack_status status);        /* all but pending_deletion, deleted */
bool pack_state_can_restart(enum pack_status status);       /* validation_timed_out */
bool pack_state_can_switch_method(enum pack_status status); /* pending_validation, v._timed_out */
bool pack_state_can_retry(enum pack_status status);         /* pending_validation */
bool pack_state_can_rebrand(enum pack_status status);       /* initializing … pending_deployment,
                                                                active, pending_expiration */

/* Back-off after `failures` consecutive failures (1 -> 1 s, 2 -> 2 s, … capped at 5 min). */
int64_t pack_state_backoff_us(int failures);
/* When a certificate valid [not_before, not_after) enters its renewal window: after two
 * thirds of its validity, or 30 days before not_after if that is earlier, the 30-day rule
 * applying only to certificates valid for more than 60 days (for 14- and 30-day
 * certificates "30 days left" is true from the start and would renew them at once). */
int64_t pack_state_renew_at_us(int64_t not_before_us, int64_t not_after_us);

/* certificate_status of GET /ssl/verification (SPEC §4.4): initializing, authorizing,
 * issuing, pending_deployment, active (pending_expiration too: its certificate is still
 * served), expired, timing_out (every *_timed_out); NULL for a status without a
 * verification entry: pending_deletion, deleted, and pending_cleanup, staging_*,
 * deactivating, inactive, backup_issued, holding_deployment (never entered by tlsward). */
const char *pack_state_verification_status(enum pack_status status);

/* The status of one of a pack's visible certificates (certificates[].status): "expired"
 * once now_us reaches its not_after_us, whatever the pack does; "pending_deployment" while
 * the pack waits to deploy it (pending_deployment, deployment_timed_out: a first issuance
 * is visible before it is deployed, a renewal only after); "pending_deletion" while the
 * pack is being removed; "active" otherwise (it is the certificate being served). */
const char *pack_state_certificate_status(enum pack_status pack_status, int64_t not_after_us,
                                          int64_t now_us);
/* Whether a pack in `status` shows its validation records: only while validation is
 * pending or timed out (the records may be kept afterwards, for renewals). */
bool pack_state_shows_records(enum pack_status status);

/* Names. _parse returns 0 or -1 for an unknown name (NULL included). pack_status_names is
 * NULL-terminated, in enum order. */
extern const char *const pack_status_names[];
const char *pack_status_name(enum pack_status status);
int pack_status_parse(const char *name, enum pack_status *out);
const char *pack_event_name(enum pack_event ev);
const char *pack_action_name(enum pack_action action);

#endif
