/* Unit tests for core/pack_state: every status x every event against a table written out
 * here, timeouts exactly at their boundary, the back-off sequence and its cap, the renewal
 * window (two thirds, 30 days left), pending_expiration and expired, the API permissions,
 * the verification mapping, names, and a whole life cycle driven like the worker does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/pack_state.h"

#define S PACK_STATE_SECOND_US
#define MIN (60 * S)
#define HOUR (3600 * S)
#define DAY PACK_STATE_DAY_US
#define T0 (INT64_C(1700000000) * S) /* "now" of the base facts */
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Base facts: a 90-day certificate 10 days into its life (renewal window not reached), one
 * earlier failure, the status entered a second ago (no deadline near), default timeouts. */
static struct pack_facts base(enum pack_status status)
{
    return (struct pack_facts){
        .status = status,
        .now_us = T0,
        .entered_us = T0 - S,
        .failures = 1,
        .not_before_us = T0 - 10 * DAY,
        .not_after_us = T0 + 80 * DAY,
        .reissue = false,
        .timeouts = pack_timeouts_default(),
    };
}

static struct pack_step next_ok(const struct pack_facts *f, enum pack_event ev)
{
    struct pack_step step;
    memset(&step, 0, sizeof step);
    if (pack_state_next(f, ev, &step) != 0)
        fail_msg("%s in %s was refused", pack_event_name(ev), pack_status_name(f->status));
    return step;
}

/* ---- the exhaustive table ---------------------------------------------------------- */

enum when { W_NOW = 1, W_NEVER, W_BACKOFF2, W_RENEW };

struct expect {
    bool allowed;
    enum pack_status status;
    enum pack_action action;
    enum when next;
    bool entered;
    int failures;
};

/* With the base facts (failures 1): a stay keeps 1, a retry makes it 2 (2 s back-off), a
 * move resets it to 0. */
/* clang-format off */
#define STAY(st, act, w) {true, PACK_##st, PACK_ACT_##act, W_##w, false, 1}
#define MOVE(st, act, w) {true, PACK_##st, PACK_ACT_##act, W_##w, true, 0}
#define RETRIED(st) {true, PACK_##st, PACK_ACT_NONE, W_BACKOFF2, false, 2}
#define IDLE(st) STAY(st, NONE, NEVER)
#define NUDGED(st) STAY(st, NONE, NOW)
#define TO_DELETION MOVE(PENDING_DELETION, NONE, NOW)
/* A status at rest: TICK does nothing, DELETE works, everything else is refused. */
#define AT_REST(st) {[PACK_EV_TICK] = IDLE(st), [PACK_EV_DELETE] = TO_DELETION}

/* Cells left out are refused. */
static const struct expect expected[PACK_STATUS_COUNT][PACK_EV_COUNT] = {
    [PACK_INITIALIZING] =
        {
            [PACK_EV_TICK] = MOVE(PENDING_VALIDATION, CREATE_RECORDS, NOW),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_REBRAND] = NUDGED(INITIALIZING),
        },
    [PACK_PENDING_VALIDATION] =
        {
            [PACK_EV_TICK] = STAY(PENDING_VALIDATION, CHECK_VALIDATION, NOW),
            [PACK_EV_VALIDATED] = MOVE(PENDING_ISSUANCE, NONE, NOW),
            [PACK_EV_VALIDATION_FAILED] = RETRIED(PENDING_VALIDATION),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_SWITCH_METHOD] = MOVE(PENDING_VALIDATION, CREATE_RECORDS, NOW),
            [PACK_EV_RETRY] = NUDGED(PENDING_VALIDATION),
            [PACK_EV_REBRAND] = NUDGED(PENDING_VALIDATION),
            [PACK_EV_APPROVE] = NUDGED(PENDING_VALIDATION),
        },
    [PACK_DELETED] = {[PACK_EV_TICK] = IDLE(DELETED)},
    [PACK_PENDING_ISSUANCE] =
        {
            [PACK_EV_TICK] = STAY(PENDING_ISSUANCE, ISSUE, NOW),
            [PACK_EV_ISSUED] = MOVE(PENDING_DEPLOYMENT, NONE, NOW),
            [PACK_EV_ISSUE_FAILED] = RETRIED(PENDING_ISSUANCE),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_REBRAND] = NUDGED(PENDING_ISSUANCE),
        },
    [PACK_PENDING_DEPLOYMENT] =
        {
            [PACK_EV_TICK] = STAY(PENDING_DEPLOYMENT, DEPLOY, NOW),
            [PACK_EV_DEPLOYED] = MOVE(ACTIVE, NONE, RENEW),
            [PACK_EV_DEPLOY_FAILED] = RETRIED(PENDING_DEPLOYMENT),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_REBRAND] = NUDGED(PENDING_DEPLOYMENT),
        },
    [PACK_PENDING_DELETION] =
        {
            [PACK_EV_TICK] = STAY(PENDING_DELETION, REMOVE_DEPLOYMENT, NOW),
            [PACK_EV_REMOVED] = MOVE(DELETED, NONE, NEVER),
            [PACK_EV_REMOVE_FAILED] = RETRIED(PENDING_DELETION),
        },
    [PACK_PENDING_EXPIRATION] =
        {
            [PACK_EV_TICK] = STAY(PENDING_EXPIRATION, RENEW, NOW),
            [PACK_EV_RENEWED] = MOVE(ACTIVE, NONE, RENEW),
            [PACK_EV_RENEW_FAILED] = RETRIED(PENDING_EXPIRATION),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_REBRAND] = NUDGED(PENDING_EXPIRATION),
        },
    [PACK_EXPIRED] = AT_REST(EXPIRED),
    [PACK_ACTIVE] =
        {
            [PACK_EV_TICK] = STAY(ACTIVE, NONE, RENEW),
            /* Renewed in place: still active, not re-entered, failures cleared. */
            [PACK_EV_RENEWED] = {true, PACK_ACTIVE, PACK_ACT_NONE, W_RENEW, false, 0},
            [PACK_EV_RENEW_FAILED] = RETRIED(ACTIVE),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_REBRAND] = NUDGED(ACTIVE),
        },
    [PACK_INITIALIZING_TIMED_OUT] = AT_REST(INITIALIZING_TIMED_OUT),
    [PACK_VALIDATION_TIMED_OUT] =
        {
            [PACK_EV_TICK] = IDLE(VALIDATION_TIMED_OUT),
            [PACK_EV_DELETE] = TO_DELETION,
            [PACK_EV_RESTART] = MOVE(PENDING_VALIDATION, CREATE_RECORDS, NOW),
            [PACK_EV_SWITCH_METHOD] = MOVE(PENDING_VALIDATION, CREATE_RECORDS, NOW),
        },
    [PACK_ISSUANCE_TIMED_OUT] = AT_REST(ISSUANCE_TIMED_OUT),
    [PACK_DEPLOYMENT_TIMED_OUT] = AT_REST(DEPLOYMENT_TIMED_OUT),
    [PACK_DELETION_TIMED_OUT] = AT_REST(DELETION_TIMED_OUT),
    [PACK_PENDING_CLEANUP] = AT_REST(PENDING_CLEANUP),
    [PACK_STAGING_DEPLOYMENT] = AT_REST(STAGING_DEPLOYMENT),
    [PACK_STAGING_ACTIVE] = AT_REST(STAGING_ACTIVE),
    [PACK_DEACTIVATING] = AT_REST(DEACTIVATING),
    [PACK_INACTIVE] = AT_REST(INACTIVE),
    [PACK_BACKUP_ISSUED] = AT_REST(BACKUP_ISSUED),
    [PACK_HOLDING_DEPLOYMENT] = AT_REST(HOLDING_DEPLOYMENT),
};
/* clang-format on */

static int64_t when_us(enum when w, const struct pack_facts *f)
{
    switch (w) {
    case W_NOW:
        return f->now_us;
    case W_NEVER:
        return PACK_STATE_NEVER;
    case W_BACKOFF2:
        return f->now_us + 2 * S;
    case W_RENEW:
        return f->not_before_us + 60 * DAY; /* 90-day certificate: two thirds */
    }
    fail();
    return 0;
}

static void test_every_status_every_event(void **state)
{
    int allowed = 0;
    for (int s = 0; s < PACK_STATUS_COUNT; s++) {
        for (int e = 0; e < PACK_EV_COUNT; e++) {
            const struct expect *x = &expected[s][e];
            struct pack_facts f = base((enum pack_status)s);
            struct pack_step step;
            memset(&step, 0xa5, sizeof step);
            struct pack_step untouched = step;
            int rc = pack_state_next(&f, (enum pack_event)e, &step);
            const char *sn = pack_status_name((enum pack_status)s);
            const char *en = pack_event_name((enum pack_event)e);
            assert_int_equal(pack_state_allows((enum pack_status)s, (enum pack_event)e),
                             x->allowed);
            if (!x->allowed) {
                if (rc != -1)
                    fail_msg("%s in %s: expected refusal", en, sn);
                assert_memory_equal(&step, &untouched, sizeof step);
                continue;
            }
            allowed++;
            if (rc != 0)
                fail_msg("%s in %s: refused", en, sn);
            if (step.status != x->status || step.action != x->action)
                fail_msg("%s in %s: got %s/%s, expected %s/%s", en, sn,
                         pack_status_name(step.status), pack_action_name(step.action),
                         pack_status_name(x->status), pack_action_name(x->action));
            if (step.next_us != when_us(x->next, &f))
                fail_msg("%s in %s: next %lld, expected %lld", en, sn, (long long)step.next_us,
                         (long long)when_us(x->next, &f));
            if (step.entered != x->entered || step.failures != x->failures)
                fail_msg("%s in %s: entered %d failures %d, expected %d %d", en, sn, step.entered,
                         step.failures, x->entered, x->failures);
        }
    }
    /* 21 statuses x TICK; DELETE in 19; 23 more specific cells. */
    assert_int_equal(allowed, 21 + 19 + 23);
}

/* ---- timeouts ---------------------------------------------------------------------- */

static const struct {
    enum pack_status status, timed_out;
    enum pack_action work;
    enum pack_event failed, succeeded;
    int64_t timeout; /* the default */
} timed[] = {
    {PACK_PENDING_VALIDATION, PACK_VALIDATION_TIMED_OUT, PACK_ACT_CHECK_VALIDATION,
     PACK_EV_VALIDATION_FAILED, PACK_EV_VALIDATED, 24 * HOUR},
    {PACK_PENDING_ISSUANCE, PACK_ISSUANCE_TIMED_OUT, PACK_ACT_ISSUE, PACK_EV_ISSUE_FAILED,
     PACK_EV_ISSUED, HOUR},
    {PACK_PENDING_DEPLOYMENT, PACK_DEPLOYMENT_TIMED_OUT, PACK_ACT_DEPLOY, PACK_EV_DEPLOY_FAILED,
     PACK_EV_DEPLOYED, HOUR},
    {PACK_PENDING_DELETION, PACK_DELETION_TIMED_OUT, PACK_ACT_REMOVE_DEPLOYMENT,
     PACK_EV_REMOVE_FAILED, PACK_EV_REMOVED, HOUR},
};

static void test_default_timeouts(void **state)
{
    struct pack_timeouts t = pack_timeouts_default();
    assert_int_equal(t.validation_us, 24 * HOUR);
    assert_int_equal(t.issuance_us, HOUR);
    assert_int_equal(t.deployment_us, HOUR);
    assert_int_equal(t.deletion_us, HOUR);
}

static void test_timeout_boundary_on_tick(void **state)
{
    for (size_t i = 0; i < N(timed); i++) {
        struct pack_facts f = base(timed[i].status);
        /* One microsecond before the deadline: the work goes on. */
        f.entered_us = f.now_us - timed[i].timeout + 1;
        struct pack_step step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, timed[i].status);
        assert_int_equal(step.action, timed[i].work);
        assert_int_equal(step.next_us, f.now_us);
        /* Exactly at the deadline: timed out, at rest, failures cleared. */
        f.entered_us = f.now_us - timed[i].timeout;
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, timed[i].timed_out);
        assert_int_equal(step.action, PACK_ACT_NONE);
        assert_true(step.entered);
        assert_int_equal(step.failures, 0);
        assert_int_equal(step.next_us, PACK_STATE_NEVER);
        /* Long after it too. */
        f.entered_us = f.now_us - 10 * timed[i].timeout;
        assert_int_equal(next_ok(&f, PACK_EV_TICK).status, timed[i].timed_out);
    }
}

static void test_timeout_boundary_on_failure(void **state)
{
    for (size_t i = 0; i < N(timed); i++) {
        struct pack_facts f = base(timed[i].status);
        f.failures = 5; /* the sixth failure backs off 32 s */
        /* Well before the deadline: back off. */
        struct pack_step step = next_ok(&f, timed[i].failed);
        assert_int_equal(step.status, timed[i].status);
        assert_int_equal(step.failures, 6);
        assert_int_equal(step.next_us, f.now_us + 32 * S);
        /* 10 s before the deadline: the retry is pulled in to the deadline itself. */
        f.entered_us = f.now_us - timed[i].timeout + 10 * S;
        step = next_ok(&f, timed[i].failed);
        assert_int_equal(step.status, timed[i].status);
        assert_int_equal(step.next_us, f.entered_us + timed[i].timeout);
        /* 1 µs before: still a retry, at the deadline. */
        f.entered_us = f.now_us - timed[i].timeout + 1;
        step = next_ok(&f, timed[i].failed);
        assert_int_equal(step.status, timed[i].status);
        assert_int_equal(step.next_us, f.now_us + 1);
        /* At the deadline: a failure times out. */
        f.entered_us = f.now_us - timed[i].timeout;
        step = next_ok(&f, timed[i].failed);
        assert_int_equal(step.status, timed[i].timed_out);
        assert_int_equal(step.failures, 0);
        assert_int_equal(step.next_us, PACK_STATE_NEVER);
        /* But a success at the deadline still counts. */
        step = next_ok(&f, timed[i].succeeded);
        assert_int_not_equal(step.status, timed[i].timed_out);
        assert_int_not_equal(step.status, timed[i].status);
    }
}

static void test_custom_and_disabled_timeouts(void **state)
{
    struct pack_facts f = base(PACK_PENDING_VALIDATION);
    f.timeouts.validation_us = 10 * S;
    f.entered_us = f.now_us - 10 * S + 1;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_CHECK_VALIDATION);
    f.entered_us = f.now_us - 10 * S;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).status, PACK_VALIDATION_TIMED_OUT);
    /* Other timeouts do not apply to this status. */
    f = base(PACK_PENDING_VALIDATION);
    f.timeouts.issuance_us = 1;
    f.timeouts.deployment_us = 1;
    f.timeouts.deletion_us = 1;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).status, PACK_PENDING_VALIDATION);
    /* A timeout <= 0 never fires, and a failure then just backs off. */
    f = base(PACK_PENDING_ISSUANCE);
    f.timeouts.issuance_us = 0;
    f.entered_us = 0;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_ISSUE);
    struct pack_step step = next_ok(&f, PACK_EV_ISSUE_FAILED);
    assert_int_equal(step.status, PACK_PENDING_ISSUANCE);
    assert_int_equal(step.next_us, f.now_us + 2 * S);
    f.timeouts.issuance_us = -5;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_ISSUE);
    /* A huge timeout does not overflow into the past. */
    f.timeouts.issuance_us = INT64_MAX;
    f.entered_us = f.now_us;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_ISSUE);
}

/* ---- back-off ---------------------------------------------------------------------- */

static void test_backoff_sequence(void **state)
{
    static const int64_t want[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300};
    for (size_t i = 0; i < N(want); i++)
        assert_int_equal(pack_state_backoff_us((int)i + 1), want[i] * S);
    assert_int_equal(pack_state_backoff_us(0), S);
    assert_int_equal(pack_state_backoff_us(-3), S);
    assert_int_equal(pack_state_backoff_us(1000000), PACK_STATE_BACKOFF_CAP_US);
    assert_int_equal(PACK_STATE_BACKOFF_CAP_US, 5 * MIN);

    /* Driven through the machine: consecutive failed checks, each from the step before. */
    struct pack_facts f = base(PACK_PENDING_VALIDATION);
    f.failures = 0;
    for (size_t i = 0; i < N(want); i++) {
        struct pack_step step = next_ok(&f, PACK_EV_VALIDATION_FAILED);
        assert_int_equal(step.status, PACK_PENDING_VALIDATION);
        assert_int_equal(step.failures, (int)i + 1);
        assert_int_equal(step.next_us - f.now_us, want[i] * S);
        f.failures = step.failures;
        f.now_us = step.next_us;
        /* The tick at that time checks again, keeping the count. */
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.action, PACK_ACT_CHECK_VALIDATION);
        assert_int_equal(step.failures, f.failures);
    }
    /* A success starts over. */
    struct pack_step step = next_ok(&f, PACK_EV_VALIDATED);
    assert_int_equal(step.failures, 0);
}

/* ---- renewal ----------------------------------------------------------------------- */

static void test_renew_at(void **state)
{
    static const struct {
        int64_t validity, renew_after; /* renew_after: from not_before */
    } cases[] = {
        {14 * DAY, 14 * DAY - (14 * DAY) / 3}, /* two thirds: 9 d 8 h */
        {30 * DAY, 20 * DAY},
        {60 * DAY, 40 * DAY}, /* exactly 60 days: the 30-day rule does not apply */
        {61 * DAY, 31 * DAY}, /* 30 days left (day 31) comes before two thirds (40.67) */
        {75 * DAY, 45 * DAY}, /* 30 days left */
        {90 * DAY, 60 * DAY}, /* both rules agree */
        {365 * DAY, 365 * DAY - (365 * DAY) / 3}, /* two thirds (day 243.3) */
        {3 * S, 2 * S},
    };
    for (size_t i = 0; i < N(cases); i++) {
        int64_t nb = T0 - 5 * DAY;
        assert_int_equal(pack_state_renew_at_us(nb, nb + cases[i].validity),
                         nb + cases[i].renew_after);
    }
    assert_int_equal(14 * DAY - (14 * DAY) / 3, 9 * DAY + 8 * HOUR);
}

/* TICK in active just before and exactly at the renewal point, for each validity. */
static void test_renewal_window_boundary(void **state)
{
    static const int64_t validities[] = {14 * DAY, 30 * DAY, 75 * DAY, 90 * DAY, 365 * DAY};
    for (size_t i = 0; i < N(validities); i++) {
        struct pack_facts f = base(PACK_ACTIVE);
        f.failures = 0;
        f.not_before_us = T0;
        f.not_after_us = T0 + validities[i];
        int64_t at = pack_state_renew_at_us(f.not_before_us, f.not_after_us);

        /* Just issued: nothing to do, look again at the window. */
        f.now_us = f.not_before_us;
        struct pack_step step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, PACK_ACTIVE);
        assert_int_equal(step.action, PACK_ACT_NONE);
        assert_int_equal(step.next_us, at);

        f.now_us = at - 1;
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.action, PACK_ACT_NONE);
        assert_int_equal(step.next_us, at);

        /* In the window: renew now, staying active. */
        f.now_us = at;
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, PACK_ACTIVE);
        assert_int_equal(step.action, PACK_ACT_RENEW);
        assert_false(step.entered);
        assert_int_equal(step.next_us, at);
    }
}

static void test_renewal_two_thirds_and_30_days(void **state)
{
    /* 90 days: day 60 is both two thirds and 30 days left. */
    struct pack_facts f = base(PACK_ACTIVE);
    f.not_before_us = T0 - 60 * DAY;
    f.not_after_us = T0 + 30 * DAY;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_RENEW);
    f.now_us -= 1;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_NONE);

    /* 75 days: 30 days left (day 45) before two thirds (day 50). */
    f = base(PACK_ACTIVE);
    f.not_before_us = T0 - 45 * DAY;
    f.not_after_us = T0 + 30 * DAY;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_RENEW);
    f.now_us -= 1; /* 30 days + 1 µs left, 45 days elapsed: not yet */
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_NONE);

    /* 365 days: two thirds elapsed with 121.7 days left. */
    f = base(PACK_ACTIVE);
    f.not_before_us = T0 - (365 * DAY - (365 * DAY) / 3);
    f.not_after_us = f.not_before_us + 365 * DAY;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_RENEW);
    f.now_us -= 1;
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_NONE);
}

static void test_reissue_skips_the_window(void **state)
{
    struct pack_facts f = base(PACK_ACTIVE);
    f.reissue = true;
    struct pack_step step = next_ok(&f, PACK_EV_TICK);
    assert_int_equal(step.status, PACK_ACTIVE);
    assert_int_equal(step.action, PACK_ACT_RENEW);
    assert_int_equal(step.next_us, f.now_us);
    /* A deployment that leaves a re-issue pending looks again at once. */
    f = base(PACK_PENDING_DEPLOYMENT);
    f.reissue = true;
    step = next_ok(&f, PACK_EV_DEPLOYED);
    assert_int_equal(step.status, PACK_ACTIVE);
    assert_int_equal(step.next_us, f.now_us);
    /* REBRAND on an active pack: wake now; with the flag stored, the tick renews. */
    f = base(PACK_ACTIVE);
    step = next_ok(&f, PACK_EV_REBRAND);
    assert_int_equal(step.status, PACK_ACTIVE);
    assert_int_equal(step.next_us, f.now_us);
}

static void test_renewal_failures_to_pending_expiration(void **state)
{
    /* 90-day certificate in its window, 29 days left: failures count up. */
    struct pack_facts f = base(PACK_ACTIVE);
    f.not_before_us = T0 - 61 * DAY;
    f.not_after_us = T0 + 29 * DAY;
    f.failures = 0;
    static const struct {
        enum pack_status status;
        bool entered;
        int64_t backoff;
    } seq[] = {
        {PACK_ACTIVE, false, 1 * S},
        {PACK_ACTIVE, false, 2 * S},
        {PACK_PENDING_EXPIRATION, true, 4 * S}, /* the third consecutive failure */
        {PACK_PENDING_EXPIRATION, false, 8 * S},
        {PACK_PENDING_EXPIRATION, false, 16 * S},
    };
    for (size_t i = 0; i < N(seq); i++) {
        struct pack_step tick = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(tick.action, PACK_ACT_RENEW);
        struct pack_step step = next_ok(&f, PACK_EV_RENEW_FAILED);
        assert_int_equal(step.status, seq[i].status);
        assert_int_equal(step.entered, seq[i].entered);
        assert_int_equal(step.action, PACK_ACT_NONE);
        /* The count carries over into pending_expiration. */
        assert_int_equal(step.failures, (int)i + 1);
        assert_int_equal(step.next_us, f.now_us + seq[i].backoff);
        f.status = step.status;
        f.failures = step.failures;
        f.now_us = step.next_us;
    }
    assert_int_equal(PACK_STATE_RENEW_FAILURES_MAX, 3);

    /* A success brings it back to active with the new certificate's window. */
    f.not_before_us = f.now_us;
    f.not_after_us = f.now_us + 90 * DAY;
    struct pack_step step = next_ok(&f, PACK_EV_RENEWED);
    assert_int_equal(step.status, PACK_ACTIVE);
    assert_true(step.entered);
    assert_int_equal(step.failures, 0);
    assert_int_equal(step.next_us, f.not_before_us + 60 * DAY);
}

static void test_renewal_failure_near_expiry(void **state)
{
    /* A first failure with exactly 7 days left stays active; with less, warns. */
    struct pack_facts f = base(PACK_ACTIVE);
    f.failures = 0;
    f.not_before_us = T0 - 83 * DAY;
    f.not_after_us = T0 + 7 * DAY;
    struct pack_step step = next_ok(&f, PACK_EV_RENEW_FAILED);
    assert_int_equal(step.status, PACK_ACTIVE);
    assert_int_equal(step.failures, 1);
    f.now_us += 1;
    step = next_ok(&f, PACK_EV_RENEW_FAILED);
    assert_int_equal(step.status, PACK_PENDING_EXPIRATION);
    assert_true(step.entered);
    assert_int_equal(step.failures, 1);
    assert_int_equal(PACK_STATE_EXPIRY_WARNING_US, 7 * DAY);

    /* The retry never waits past not_after. */
    f = base(PACK_PENDING_EXPIRATION);
    f.failures = 20;
    f.not_before_us = T0 - 90 * DAY + 10 * S;
    f.not_after_us = T0 + 10 * S;
    step = next_ok(&f, PACK_EV_RENEW_FAILED);
    assert_int_equal(step.status, PACK_PENDING_EXPIRATION);
    assert_int_equal(step.next_us, f.not_after_us);
    assert_int_equal(step.failures, 21);
}

static void test_expiry(void **state)
{
    static const enum pack_status live[] = {PACK_ACTIVE, PACK_PENDING_EXPIRATION};
    for (size_t i = 0; i < N(live); i++) {
        struct pack_facts f = base(live[i]);
        f.not_before_us = T0 - 90 * DAY;
        f.not_after_us = T0;
        /* At not_after without a new certificate: expired, at rest. */
        struct pack_step step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, PACK_EXPIRED);
        assert_int_equal(step.action, PACK_ACT_NONE);
        assert_true(step.entered);
        assert_int_equal(step.failures, 0);
        assert_int_equal(step.next_us, PACK_STATE_NEVER);
        step = next_ok(&f, PACK_EV_RENEW_FAILED);
        assert_int_equal(step.status, PACK_EXPIRED);
        assert_int_equal(step.next_us, PACK_STATE_NEVER);
        /* One microsecond earlier it is still renewing. */
        f.now_us = T0 - 1;
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.status, live[i]);
        assert_int_equal(step.action, PACK_ACT_RENEW);
    }
    /* Expired is at rest: ticks do nothing; only DELETE is allowed. */
    struct pack_facts f = base(PACK_EXPIRED);
    struct pack_step step = next_ok(&f, PACK_EV_TICK);
    assert_int_equal(step.status, PACK_EXPIRED);
    assert_int_equal(step.next_us, PACK_STATE_NEVER);
    assert_int_equal(pack_state_next(&f, PACK_EV_RENEWED, &step), -1);
    assert_true(pack_state_can_delete(PACK_EXPIRED));
}

/* ---- API permissions --------------------------------------------------------------- */

static bool in(enum pack_status s, const enum pack_status *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == s)
            return true;
    return false;
}

static void test_permissions(void **state)
{
    static const enum pack_status undeletable[] = {PACK_PENDING_DELETION, PACK_DELETED};
    static const enum pack_status restartable[] = {PACK_VALIDATION_TIMED_OUT};
    static const enum pack_status switchable[] = {PACK_PENDING_VALIDATION,
                                                  PACK_VALIDATION_TIMED_OUT};
    static const enum pack_status retryable[] = {PACK_PENDING_VALIDATION};
    static const enum pack_status rebrandable[] = {PACK_INITIALIZING,     PACK_PENDING_VALIDATION,
                                                   PACK_PENDING_ISSUANCE, PACK_PENDING_DEPLOYMENT,
                                                   PACK_ACTIVE,           PACK_PENDING_EXPIRATION};
    for (int i = 0; i < PACK_STATUS_COUNT; i++) {
        enum pack_status s = (enum pack_status)i;
        assert_int_equal(pack_state_can_delete(s), !in(s, undeletable, N(undeletable)));
        assert_int_equal(pack_state_can_restart(s), in(s, restartable, N(restartable)));
        assert_int_equal(pack_state_can_switch_method(s), in(s, switchable, N(switchable)));
        assert_int_equal(pack_state_can_retry(s), in(s, retryable, N(retryable)));
        assert_int_equal(pack_state_can_rebrand(s), in(s, rebrandable, N(rebrandable)));
        assert_int_equal(pack_state_allows(s, PACK_EV_APPROVE), s == PACK_PENDING_VALIDATION);
        assert_true(pack_state_allows(s, PACK_EV_TICK));
        /* The answers are the table's: the function agrees with them. */
        struct pack_facts f = base(s);
        struct pack_step step;
        assert_int_equal(pack_state_next(&f, PACK_EV_DELETE, &step) == 0, pack_state_can_delete(s));
        assert_int_equal(pack_state_next(&f, PACK_EV_RESTART, &step) == 0,
                         pack_state_can_restart(s));
    }
    /* PATCH restart of an active pack, DELETE of a pack being deleted: refused (1406). */
    assert_false(pack_state_can_restart(PACK_ACTIVE));
    assert_false(pack_state_can_delete(PACK_PENDING_DELETION));
}

static void test_restart_and_switch_restart_the_clock(void **state)
{
    struct pack_facts f = base(PACK_VALIDATION_TIMED_OUT);
    f.entered_us = T0 - 30 * DAY;
    f.failures = 9;
    struct pack_step step = next_ok(&f, PACK_EV_RESTART);
    assert_int_equal(step.status, PACK_PENDING_VALIDATION);
    assert_int_equal(step.action, PACK_ACT_CREATE_RECORDS);
    assert_true(step.entered);
    assert_int_equal(step.failures, 0);
    assert_int_equal(step.next_us, T0);
    /* Switching the method while pending re-enters pending_validation: new records, a new
     * 24 h. */
    f = base(PACK_PENDING_VALIDATION);
    f.entered_us = T0 - 23 * HOUR;
    f.failures = 7;
    step = next_ok(&f, PACK_EV_SWITCH_METHOD);
    assert_int_equal(step.status, PACK_PENDING_VALIDATION);
    assert_int_equal(step.action, PACK_ACT_CREATE_RECORDS);
    assert_true(step.entered);
    assert_int_equal(step.failures, 0);
    /* retry=true checks now without resetting the back-off count. */
    step = next_ok(&f, PACK_EV_RETRY);
    assert_int_equal(step.next_us, T0);
    assert_int_equal(step.failures, 7);
    assert_false(step.entered);
}

static void test_delete_from_timed_out_and_deletion_timeout(void **state)
{
    /* A deletion that timed out can be asked for again. */
    struct pack_facts f = base(PACK_DELETION_TIMED_OUT);
    struct pack_step step = next_ok(&f, PACK_EV_DELETE);
    assert_int_equal(step.status, PACK_PENDING_DELETION);
    assert_true(step.entered);
    f = base(PACK_PENDING_DELETION);
    step = next_ok(&f, PACK_EV_TICK);
    assert_int_equal(step.action, PACK_ACT_REMOVE_DEPLOYMENT);
    step = next_ok(&f, PACK_EV_REMOVED);
    assert_int_equal(step.status, PACK_DELETED);
    assert_int_equal(step.next_us, PACK_STATE_NEVER);
}

/* ---- verification mapping and names ------------------------------------------------ */

static void test_verification_status(void **state)
{
    static const char *const want[PACK_STATUS_COUNT] = {
        [PACK_INITIALIZING] = "initializing",
        [PACK_PENDING_VALIDATION] = "authorizing",
        [PACK_PENDING_ISSUANCE] = "issuing",
        [PACK_PENDING_DEPLOYMENT] = "pending_deployment",
        [PACK_ACTIVE] = "active",
        [PACK_PENDING_EXPIRATION] = "active",
        [PACK_EXPIRED] = "expired",
        [PACK_INITIALIZING_TIMED_OUT] = "timing_out",
        [PACK_VALIDATION_TIMED_OUT] = "timing_out",
        [PACK_ISSUANCE_TIMED_OUT] = "timing_out",
        [PACK_DEPLOYMENT_TIMED_OUT] = "timing_out",
        [PACK_DELETION_TIMED_OUT] = "timing_out",
    };
    for (int i = 0; i < PACK_STATUS_COUNT; i++) {
        const char *got = pack_state_verification_status((enum pack_status)i);
        if (want[i])
            assert_string_equal(got, want[i]);
        else
            assert_null(got);
    }
}

static void test_status_names(void **state)
{
    /* The SDK enum, in its order (seed 000). */
    static const char *const sdk[] = {
        "initializing",
        "pending_validation",
        "deleted",
        "pending_issuance",
        "pending_deployment",
        "pending_deletion",
        "pending_expiration",
        "expired",
        "active",
        "initializing_timed_out",
        "validation_timed_out",
        "issuance_timed_out",
        "deployment_timed_out",
        "deletion_timed_out",
        "pending_cleanup",
        "staging_deployment",
        "staging_active",
        "deactivating",
        "inactive",
        "backup_issued",
        "holding_deployment",
    };
    assert_int_equal(N(sdk), PACK_STATUS_COUNT);
    for (size_t i = 0; i < N(sdk); i++) {
        assert_string_equal(pack_status_name((enum pack_status)i), sdk[i]);
        assert_string_equal(pack_status_names[i], sdk[i]);
        enum pack_status s;
        assert_int_equal(pack_status_parse(sdk[i], &s), 0);
        assert_int_equal(s, (int)i);
    }
    assert_null(pack_status_names[PACK_STATUS_COUNT]);
    assert_int_equal(PACK_ACTIVE, 8);
    enum pack_status s = PACK_ACTIVE;
    assert_int_equal(pack_status_parse("Active", &s), -1);
    assert_int_equal(pack_status_parse("all", &s), -1);
    assert_int_equal(pack_status_parse("", &s), -1);
    assert_int_equal(pack_status_parse(NULL, &s), -1);
    assert_int_equal(s, PACK_ACTIVE);

    /* Event and action names: present and distinct. */
    for (int a = 0; a < PACK_EV_COUNT; a++) {
        assert_true(strlen(pack_event_name((enum pack_event)a)) > 0);
        for (int b = 0; b < a; b++)
            assert_string_not_equal(pack_event_name((enum pack_event)a),
                                    pack_event_name((enum pack_event)b));
    }
    for (int a = 0; a < PACK_ACT_COUNT; a++) {
        assert_true(strlen(pack_action_name((enum pack_action)a)) > 0);
        for (int b = 0; b < a; b++)
            assert_string_not_equal(pack_action_name((enum pack_action)a),
                                    pack_action_name((enum pack_action)b));
    }
    assert_string_equal(pack_event_name(PACK_EV_DELETE), "delete");
    assert_string_equal(pack_action_name(PACK_ACT_REMOVE_DEPLOYMENT), "remove_deployment");
}

/* ---- a whole life, driven as the worker would -------------------------------------- */

/* Applies step to the facts as the worker's commit would. */
static void commit(struct pack_facts *f, const struct pack_step *step)
{
    if (step->entered)
        f->entered_us = f->now_us;
    f->status = step->status;
    f->failures = step->failures;
}

static void test_life_cycle(void **state)
{
    struct pack_facts f = {
        .status = PACK_INITIALIZING,
        .now_us = T0,
        .entered_us = T0,
        .timeouts = pack_timeouts_default(),
    };
    /* Order -> records. */
    struct pack_step step = next_ok(&f, PACK_EV_TICK);
    assert_int_equal(step.action, PACK_ACT_CREATE_RECORDS);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_PENDING_VALIDATION);
    /* Two failed checks, then success. */
    for (int i = 0; i < 2; i++) {
        step = next_ok(&f, PACK_EV_TICK);
        assert_int_equal(step.action, PACK_ACT_CHECK_VALIDATION);
        step = next_ok(&f, PACK_EV_VALIDATION_FAILED);
        commit(&f, &step);
        f.now_us = step.next_us;
    }
    assert_int_equal(f.now_us, T0 + 3 * S);
    step = next_ok(&f, PACK_EV_VALIDATED);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_PENDING_ISSUANCE);
    assert_int_equal(f.failures, 0);
    /* Issue, deploy. */
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_ISSUE);
    step = next_ok(&f, PACK_EV_ISSUED);
    commit(&f, &step);
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_DEPLOY);
    f.not_before_us = f.now_us;
    f.not_after_us = f.now_us + 90 * DAY;
    step = next_ok(&f, PACK_EV_DEPLOYED);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_ACTIVE);
    /* Sleep until the window, renew in place. */
    f.now_us = step.next_us;
    assert_int_equal(f.now_us, f.not_before_us + 60 * DAY);
    step = next_ok(&f, PACK_EV_TICK);
    assert_int_equal(step.action, PACK_ACT_RENEW);
    assert_int_equal(step.status, PACK_ACTIVE);
    f.not_before_us = f.now_us;
    f.not_after_us = f.now_us + 90 * DAY;
    step = next_ok(&f, PACK_EV_RENEWED);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_ACTIVE);
    assert_int_equal(step.next_us, f.now_us + 60 * DAY);
    /* Delete: the removal fails once, then succeeds. */
    step = next_ok(&f, PACK_EV_DELETE);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_PENDING_DELETION);
    assert_int_equal(next_ok(&f, PACK_EV_TICK).action, PACK_ACT_REMOVE_DEPLOYMENT);
    step = next_ok(&f, PACK_EV_REMOVE_FAILED);
    commit(&f, &step);
    f.now_us = step.next_us;
    step = next_ok(&f, PACK_EV_REMOVED);
    commit(&f, &step);
    assert_int_equal(f.status, PACK_DELETED);
    assert_false(pack_state_can_delete(f.status));
    /* A late outcome for a pack that moved on is refused. */
    assert_int_equal(pack_state_next(&f, PACK_EV_ISSUED, &step), -1);
}

static void test_certificate_status(void **state)
{
    (void)state;
    const int64_t now = 1000 * PACK_STATE_DAY_US, later = now + PACK_STATE_DAY_US;
    /* Expired after notAfter whatever the pack's status, and at exactly notAfter too. */
    for (int s = 0; s < PACK_STATUS_COUNT; s++) {
        assert_string_equal(pack_state_certificate_status(s, now - 1, now), "expired");
        assert_string_equal(pack_state_certificate_status(s, now, now), "expired");
    }
    assert_string_equal(pack_state_certificate_status(PACK_ACTIVE, later, now), "active");
    assert_string_equal(pack_state_certificate_status(PACK_PENDING_EXPIRATION, later, now),
                        "active");
    assert_string_equal(pack_state_certificate_status(PACK_EXPIRED, now - 1, now), "expired");
    assert_string_equal(pack_state_certificate_status(PACK_PENDING_DEPLOYMENT, later, now),
                        "pending_deployment");
    assert_string_equal(pack_state_certificate_status(PACK_DEPLOYMENT_TIMED_OUT, later, now),
                        "pending_deployment");
    assert_string_equal(pack_state_certificate_status(PACK_PENDING_DELETION, later, now),
                        "pending_deletion");
}

static void test_shows_records(void **state)
{
    (void)state;
    for (int s = 0; s < PACK_STATUS_COUNT; s++)
        assert_int_equal(pack_state_shows_records(s),
                         s == PACK_PENDING_VALIDATION || s == PACK_VALIDATION_TIMED_OUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_every_event),
        cmocka_unit_test(test_default_timeouts),
        cmocka_unit_test(test_timeout_boundary_on_tick),
        cmocka_unit_test(test_timeout_boundary_on_failure),
        cmocka_unit_test(test_custom_and_disabled_timeouts),
        cmocka_unit_test(test_backoff_sequence),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_renewal_window_boundary),
        cmocka_unit_test(test_renewal_two_thirds_and_30_days),
        cmocka_unit_test(test_reissue_skips_the_window),
        cmocka_unit_test(test_renewal_failures_to_pending_expiration),
        cmocka_unit_test(test_renewal_failure_near_expiry),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_restart_and_switch_restart_the_clock),
        cmocka_unit_test(test_delete_from_timed_out_and_deletion_timeout),
        cmocka_unit_test(test_verification_status),
        cmocka_unit_test(test_certificate_status),
        cmocka_unit_test(test_shows_records),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_life_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
