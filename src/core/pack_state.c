/* The certificate-pack lifecycle: a table of (status, event) cells, each naming a rule
 * kind, and one function per kind that turns the facts into a step. Pure logic, no I/O.
 * See pack_state.h for how the worker and the API use it. */
#include "core/pack_state.h"

#include <assert.h>
#include <string.h>

/* How a cell decides. REJECT (zero) is every cell the table leaves out. */
enum kind {
    K_REJECT = 0,
    K_IDLE,         /* nothing to do: stay, no job */
    K_GO,           /* move to `to` (re-entering it if the same), run `action`, look again now */
    K_NUDGE,        /* stay and look again now (the next TICK does the work) */
    K_WORK,         /* TICK in a working status: time out, or do `action` now */
    K_RETRY,        /* a failed attempt: time out, or back off (never past the deadline) */
    K_SETTLE,       /* a certificate was deployed: `to` (active) until its renewal window */
    K_WATCH,        /* TICK while a certificate is live: expire, renew, or wait for the window */
    K_RENEW_FAILED, /* a failed renewal: maybe pending_expiration, maybe expired */
};

struct cell {
    enum kind kind;
    enum pack_status to;
    enum pack_action action;
};

/* clang-format off */
#define IDLE {K_IDLE, 0, PACK_ACT_NONE}
#define GO(st) {K_GO, PACK_##st, PACK_ACT_NONE}
#define GO_RECORDS(st) {K_GO, PACK_##st, PACK_ACT_CREATE_RECORDS}
#define NUDGE {K_NUDGE, 0, PACK_ACT_NONE}
#define WORK(act) {K_WORK, 0, PACK_ACT_##act}
#define RETRY {K_RETRY, 0, PACK_ACT_NONE}
#define SETTLE {K_SETTLE, PACK_ACTIVE, PACK_ACT_NONE}
#define WATCH {K_WATCH, 0, PACK_ACT_NONE}
#define RENEW_FAILED {K_RENEW_FAILED, 0, PACK_ACT_NONE}
/* DELETE is allowed everywhere but in pending_deletion and deleted. */
#define DELETABLE [PACK_EV_DELETE] = GO(PENDING_DELETION)
/* A status tlsward never enters: it rests there until deleted. */
#define AT_REST {[PACK_EV_TICK] = IDLE, DELETABLE}
/* clang-format on */

static const struct cell table[PACK_STATUS_COUNT][PACK_EV_COUNT] = {
    [PACK_INITIALIZING] =
        {
            [PACK_EV_TICK] = GO_RECORDS(PENDING_VALIDATION),
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_PENDING_VALIDATION] =
        {
            [PACK_EV_TICK] = WORK(CHECK_VALIDATION),
            [PACK_EV_VALIDATED] = GO(PENDING_ISSUANCE),
            [PACK_EV_VALIDATION_FAILED] = RETRY,
            [PACK_EV_SWITCH_METHOD] = GO_RECORDS(PENDING_VALIDATION),
            [PACK_EV_RETRY] = NUDGE,
            [PACK_EV_APPROVE] = NUDGE,
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_PENDING_ISSUANCE] =
        {
            [PACK_EV_TICK] = WORK(ISSUE),
            [PACK_EV_ISSUED] = GO(PENDING_DEPLOYMENT),
            [PACK_EV_ISSUE_FAILED] = RETRY,
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_PENDING_DEPLOYMENT] =
        {
            [PACK_EV_TICK] = WORK(DEPLOY),
            [PACK_EV_DEPLOYED] = SETTLE,
            [PACK_EV_DEPLOY_FAILED] = RETRY,
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_ACTIVE] =
        {
            [PACK_EV_TICK] = WATCH,
            [PACK_EV_RENEWED] = SETTLE,
            [PACK_EV_RENEW_FAILED] = RENEW_FAILED,
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_PENDING_EXPIRATION] =
        {
            [PACK_EV_TICK] = WATCH,
            [PACK_EV_RENEWED] = SETTLE,
            [PACK_EV_RENEW_FAILED] = RENEW_FAILED,
            [PACK_EV_REBRAND] = NUDGE,
            DELETABLE,
        },
    [PACK_EXPIRED] = AT_REST,
    [PACK_PENDING_DELETION] =
        {
            [PACK_EV_TICK] = WORK(REMOVE_DEPLOYMENT),
            [PACK_EV_REMOVED] = GO(DELETED),
            [PACK_EV_REMOVE_FAILED] = RETRY,
        },
    [PACK_DELETED] = {[PACK_EV_TICK] = IDLE},
    [PACK_VALIDATION_TIMED_OUT] =
        {
            [PACK_EV_TICK] = IDLE,
            [PACK_EV_RESTART] = GO_RECORDS(PENDING_VALIDATION),
            [PACK_EV_SWITCH_METHOD] = GO_RECORDS(PENDING_VALIDATION),
            DELETABLE,
        },
    [PACK_INITIALIZING_TIMED_OUT] = AT_REST,
    [PACK_ISSUANCE_TIMED_OUT] = AT_REST,
    [PACK_DEPLOYMENT_TIMED_OUT] = AT_REST,
    [PACK_DELETION_TIMED_OUT] = AT_REST, /* DELETE again retries the removal */
    [PACK_PENDING_CLEANUP] = AT_REST,
    [PACK_STAGING_DEPLOYMENT] = AT_REST,
    [PACK_STAGING_ACTIVE] = AT_REST,
    [PACK_DEACTIVATING] = AT_REST,
    [PACK_INACTIVE] = AT_REST,
    [PACK_BACKUP_ISSUED] = AT_REST,
    [PACK_HOLDING_DEPLOYMENT] = AT_REST,
};

/* Per status: which timeout bounds it and where it leads, and its verification name. */
enum timeout_kind { T_NONE = 0, T_VALIDATION, T_ISSUANCE, T_DEPLOYMENT, T_DELETION };

static const struct status_info {
    enum timeout_kind timeout;
    enum pack_status timed_out;
    const char *verification;
} status_info[PACK_STATUS_COUNT] = {
    [PACK_INITIALIZING] = {T_NONE, 0, "initializing"},
    [PACK_PENDING_VALIDATION] = {T_VALIDATION, PACK_VALIDATION_TIMED_OUT, "authorizing"},
    [PACK_PENDING_ISSUANCE] = {T_ISSUANCE, PACK_ISSUANCE_TIMED_OUT, "issuing"},
    [PACK_PENDING_DEPLOYMENT] = {T_DEPLOYMENT, PACK_DEPLOYMENT_TIMED_OUT, "pending_deployment"},
    [PACK_PENDING_DELETION] = {T_DELETION, PACK_DELETION_TIMED_OUT, NULL},
    [PACK_ACTIVE] = {T_NONE, 0, "active"},
    /* Still serving its certificate while renewal keeps failing. */
    [PACK_PENDING_EXPIRATION] = {T_NONE, 0, "active"},
    [PACK_EXPIRED] = {T_NONE, 0, "expired"},
    [PACK_INITIALIZING_TIMED_OUT] = {T_NONE, 0, "timing_out"},
    [PACK_VALIDATION_TIMED_OUT] = {T_NONE, 0, "timing_out"},
    [PACK_ISSUANCE_TIMED_OUT] = {T_NONE, 0, "timing_out"},
    [PACK_DEPLOYMENT_TIMED_OUT] = {T_NONE, 0, "timing_out"},
    [PACK_DELETION_TIMED_OUT] = {T_NONE, 0, "timing_out"},
    /* deleted and the statuses tlsward never enters: no verification entry (NULL). */
};

const char *const pack_status_names[] = {
#define PACK_STATUS_NAME(e, n) n,
    PACK_STATUS_MAP(PACK_STATUS_NAME)
#undef PACK_STATUS_NAME
        NULL};

static const char *const event_names[] = {
#define PACK_EVENT_NAME(e, n) n,
    PACK_EVENT_MAP(PACK_EVENT_NAME)
#undef PACK_EVENT_NAME
};

static const char *const action_names[] = {
#define PACK_ACTION_NAME(e, n) n,
    PACK_ACTION_MAP(PACK_ACTION_NAME)
#undef PACK_ACTION_NAME
};

_Static_assert(sizeof pack_status_names / sizeof pack_status_names[0] == PACK_STATUS_COUNT + 1,
               "one name per status");
_Static_assert(sizeof event_names / sizeof event_names[0] == PACK_EV_COUNT, "one name per event");
_Static_assert(sizeof action_names / sizeof action_names[0] == PACK_ACT_COUNT,
               "one name per action");

struct pack_timeouts pack_timeouts_default(void)
{
    return (struct pack_timeouts){
        .validation_us = 24 * 3600 * PACK_STATE_SECOND_US,
        .issuance_us = 3600 * PACK_STATE_SECOND_US,
        .deployment_us = 3600 * PACK_STATE_SECOND_US,
        .deletion_us = 3600 * PACK_STATE_SECOND_US,
    };
}

int64_t pack_state_backoff_us(int failures)
{
    int64_t us = PACK_STATE_SECOND_US;
    for (int i = 1; i < failures && us < PACK_STATE_BACKOFF_CAP_US; i++)
        us *= 2;
    return us < PACK_STATE_BACKOFF_CAP_US ? us : PACK_STATE_BACKOFF_CAP_US;
}

int64_t pack_state_renew_at_us(int64_t not_before_us, int64_t not_after_us)
{
    assert(not_after_us > not_before_us);
    int64_t validity = not_after_us - not_before_us;
    int64_t at = not_before_us + validity - validity / 3; /* two thirds elapsed */
    if (validity > 60 * PACK_STATE_DAY_US && not_after_us - 30 * PACK_STATE_DAY_US < at)
        at = not_after_us - 30 * PACK_STATE_DAY_US;
    return at;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The instant the pack's current status times out, or PACK_STATE_NEVER. */
static int64_t deadline(const struct pack_facts *f)
{
    int64_t limit = 0;
    switch (status_info[f->status].timeout) {
    case T_NONE:
        return PACK_STATE_NEVER;
    case T_VALIDATION:
        limit = f->timeouts.validation_us;
        break;
    case T_ISSUANCE:
        limit = f->timeouts.issuance_us;
        break;
    case T_DEPLOYMENT:
        limit = f->timeouts.deployment_us;
        break;
    case T_DELETION:
        limit = f->timeouts.deletion_us;
        break;
    }
    if (limit <= 0 || f->entered_us > PACK_STATE_NEVER - limit)
        return PACK_STATE_NEVER;
    return f->entered_us + limit;
}

static bool has_work(enum pack_status s)
{
    return table[s][PACK_EV_TICK].kind != K_IDLE;
}

/* Moving to `to` (or re-entering it): failures start over, the clock restarts. */
static void enter(const struct pack_facts *f, enum pack_status to, enum pack_action action,
                  struct pack_step *out)
{
    *out = (struct pack_step){
        .status = to,
        .action = action,
        .entered = true,
        .failures = 0,
        .next_us = has_work(to) ? f->now_us : PACK_STATE_NEVER,
    };
}

static void stay(const struct pack_facts *f, enum pack_action action, int failures, int64_t next_us,
                 struct pack_step *out)
{
    *out = (struct pack_step){
        .status = f->status,
        .action = action,
        .entered = false,
        .failures = failures,
        .next_us = next_us,
    };
}

static void time_out(const struct pack_facts *f, struct pack_step *out)
{
    enter(f, status_info[f->status].timed_out, PACK_ACT_NONE, out);
}

static void work(const struct pack_facts *f, enum pack_action action, struct pack_step *out)
{
    if (f->now_us >= deadline(f))
        time_out(f, out);
    else
        stay(f, action, f->failures, f->now_us, out);
}

static void retry(const struct pack_facts *f, struct pack_step *out)
{
    int64_t end = deadline(f);
    if (f->now_us >= end) {
        time_out(f, out);
        return;
    }
    int failures = f->failures + 1;
    stay(f, PACK_ACT_NONE, failures, min64(f->now_us + pack_state_backoff_us(failures), end), out);
}

static void settle(const struct pack_facts *f, struct pack_step *out)
{
    int64_t next =
        f->reissue ? f->now_us : pack_state_renew_at_us(f->not_before_us, f->not_after_us);
    *out = (struct pack_step){
        .status = PACK_ACTIVE,
        .action = PACK_ACT_NONE,
        .entered = f->status != PACK_ACTIVE,
        .failures = 0,
        .next_us = next,
    };
}

static void watch(const struct pack_facts *f, struct pack_step *out)
{
    if (f->now_us >= f->not_after_us) {
        enter(f, PACK_EXPIRED, PACK_ACT_NONE, out);
        return;
    }
    int64_t renew_at = pack_state_renew_at_us(f->not_before_us, f->not_after_us);
    if (f->reissue || f->status == PACK_PENDING_EXPIRATION || f->now_us >= renew_at)
        stay(f, PACK_ACT_RENEW, f->failures, f->now_us, out);
    else
        stay(f, PACK_ACT_NONE, f->failures, renew_at, out);
}

/* A failed renewal keeps counting across active -> pending_expiration: the count is what
 * tells an operator how long renewal has been failing. The retry never waits past
 * not_after, so expiry is noticed on time. */
static void renew_failed(const struct pack_facts *f, struct pack_step *out)
{
    if (f->now_us >= f->not_after_us) {
        enter(f, PACK_EXPIRED, PACK_ACT_NONE, out);
        return;
    }
    int failures = f->failures + 1;
    int64_t next = min64(f->now_us + pack_state_backoff_us(failures), f->not_after_us);
    bool warn = failures >= PACK_STATE_RENEW_FAILURES_MAX ||
                f->not_after_us - f->now_us < PACK_STATE_EXPIRY_WARNING_US;
    stay(f, PACK_ACT_NONE, failures, next, out);
    if (warn && f->status != PACK_PENDING_EXPIRATION) {
        out->status = PACK_PENDING_EXPIRATION;
        out->entered = true;
    }
}

int pack_state_next(const struct pack_facts *f, enum pack_event ev, struct pack_step *out)
{
    assert(f && out);
    assert(f->status >= 0 && f->status < PACK_STATUS_COUNT);
    assert(ev >= 0 && ev < PACK_EV_COUNT);
    const struct cell *c = &table[f->status][ev];
    if (c->kind == K_SETTLE || c->kind == K_WATCH || c->kind == K_RENEW_FAILED)
        assert(f->not_after_us > f->not_before_us); /* a live certificate is known */

    switch (c->kind) {
    case K_REJECT:
        return -1;
    case K_IDLE:
        stay(f, PACK_ACT_NONE, f->failures, PACK_STATE_NEVER, out);
        break;
    case K_GO:
        enter(f, c->to, c->action, out);
        break;
    case K_NUDGE:
        stay(f, PACK_ACT_NONE, f->failures, f->now_us, out);
        break;
    case K_WORK:
        work(f, c->action, out);
        break;
    case K_RETRY:
        retry(f, out);
        break;
    case K_SETTLE:
        settle(f, out);
        break;
    case K_WATCH:
        watch(f, out);
        break;
    case K_RENEW_FAILED:
        renew_failed(f, out);
        break;
    }
    return 0;
}

bool pack_state_allows(enum pack_status status, enum pack_event ev)
{
    assert(status >= 0 && status < PACK_STATUS_COUNT);
    assert(ev >= 0 && ev < PACK_EV_COUNT);
    return table[status][ev].kind != K_REJECT;
}

bool pack_state_can_delete(enum pack_status status)
{
    return pack_state_allows(status, PACK_EV_DELETE);
}

bool pack_state_can_restart(enum pack_status status)
{
    return pack_state_allows(status, PACK_EV_RESTART);
}

bool pack_state_can_switch_method(enum pack_status status)
{
    return pack_state_allows(status, PACK_EV_SWITCH_METHOD);
}

bool pack_state_can_retry(enum pack_status status)
{
    return pack_state_allows(status, PACK_EV_RETRY);
}

bool pack_state_can_rebrand(enum pack_status status)
{
    return pack_state_allows(status, PACK_EV_REBRAND);
}

const char *pack_state_verification_status(enum pack_status status)
{
    assert(status >= 0 && status < PACK_STATUS_COUNT);
    return status_info[status].verification;
}

const char *pack_state_certificate_status(enum pack_status pack_status, int64_t not_after_us,
                                          int64_t now_us)
{
    if (now_us >= not_after_us)
        return "expired";
    switch (pack_status) {
    case PACK_PENDING_DEPLOYMENT:
    case PACK_DEPLOYMENT_TIMED_OUT: return "pending_deployment";
    case PACK_PENDING_DELETION:
    case PACK_DELETION_TIMED_OUT:
    case PACK_DELETED: return "pending_deletion";
    default: return "active";
    }
}

bool pack_state_shows_records(enum pack_status status)
{
    return status == PACK_PENDING_VALIDATION || status == PACK_VALIDATION_TIMED_OUT;
}

const char *pack_status_name(enum pack_status status)
{
    assert(status >= 0 && status < PACK_STATUS_COUNT);
    return pack_status_names[status];
}

int pack_status_parse(const char *name, enum pack_status *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < PACK_STATUS_COUNT; i++) {
        if (strcmp(pack_status_names[i], name) == 0) {
            *out = (enum pack_status)i;
            return 0;
        }
    }
    return -1;
}

const char *pack_event_name(enum pack_event ev)
{
    assert(ev >= 0 && ev < PACK_EV_COUNT);
    return event_names[ev];
}

const char *pack_action_name(enum pack_action action)
{
    assert(action >= 0 && action < PACK_ACT_COUNT);
    return action_names[action];
}
