/* dcv/delegated: the TXT check of delegated DCV follows exactly one CNAME, from the
 * _acme-challenge owner to the expected target, against a real Knot DNS (tu_knot.h) serving
 * the customer's zone and the DCV zone (an authoritative server that does not chase the
 * CNAME into the other zone, so the check asks the target itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "dcv/dcv.h"
#include "tu_dnsmasq.h"
#include "tu_knot.h"

#define TARGET "www.site.test.0123456789abcdef0123456789abcdef.dcv.test"
#define OWNER "_acme-challenge.www.site.test"

static const char *const zones[] = {"site.test", "dcv.test", NULL};
static const char *const records[] = {
    "site.test _acme-challenge.www CNAME " TARGET ".",
    "dcv.test www.site.test.0123456789abcdef0123456789abcdef TXT \"good-value\"",
    "dcv.test www.site.test.0123456789abcdef0123456789abcdef TXT \"other-value\"",
    "site.test _acme-challenge.plain TXT \"good-value\"",
    "site.test _acme-challenge.elsewhere CNAME somewhere.dcv.test.",
    "site.test _acme-challenge.chain CNAME chain.dcv.test.",
    "dcv.test chain CNAME final.dcv.test.",
    "dcv.test final TXT \"good-value\"",
    NULL};

struct fixture {
    struct tu_knot knot;
    struct dcv_resolver r;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    tu_knot_start_or_fail(&f->knot, zones, records, f);
    const char *why = NULL;
    dcv_resolver_init(&f->r);
    assert_int_equal(dcv_resolver_set_dns(&f->r, f->knot.server, &why), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_knot_stop(&f->knot);
    xfree(f);
    return 0;
}

static void expect(struct fixture *f, const char *name, const char *target, const char *value,
                   enum dcv_status status, const char *message)
{
    char *why = NULL;
    assert_int_equal(dcv_check_txt_delegated(&f->r, name, target, value, &why), status);
    if (message)
        assert_string_equal(why, message);
    else
        assert_null(why);
    xfree(why);
}

static void test_one_cname_to_the_target(void **state)
{
    struct fixture *f = *state;
    expect(f, OWNER, TARGET, "good-value", DCV_OK, NULL);
    expect(f, OWNER, TARGET, "other-value", DCV_OK, NULL); /* any of the values at the target */
    expect(f, OWNER, TARGET, "missing", DCV_FAILED,
           "TXT record not found at " TARGET " (the CNAME target of " OWNER
           "); saw \"good-value\", \"other-value\"");
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    /* A TXT at the owner itself is not delegation. */
    expect(f, "_acme-challenge.plain.site.test", TARGET, "good-value", DCV_FAILED,
           "no CNAME at _acme-challenge.plain.site.test: delegated validation needs "
           "_acme-challenge.plain.site.test CNAME " TARGET);
    expect(f, "_acme-challenge.elsewhere.site.test", TARGET, "good-value", DCV_FAILED,
           "CNAME at _acme-challenge.elsewhere.site.test points to somewhere.dcv.test., not "
           "to " TARGET);
    /* Exactly one CNAME: a target that is a CNAME again is refused, though the chain ends in
     * the right value. */
    expect(f, "_acme-challenge.chain.site.test", "chain.dcv.test", "good-value", DCV_FAILED,
           "chain.dcv.test is itself a CNAME: delegated validation follows exactly one CNAME "
           "(from _acme-challenge.chain.site.test)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_cname_to_the_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
