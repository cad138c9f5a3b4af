/* dns/publish: RFC 2136 updates with TSIG against a real Knot DNS (tu_knot.h), zone
 * discovery by SOA, the option parsers, and the --dns-hook environment and time limit. */
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
#include "common/util.h"
#include "dns/publish.h"
#include "tu_dnsmasq.h"
#include "tu_knot.h"

static const char *const zones[] = {"example.test", "dcv.tlsward.test", NULL};

struct fixture {
    struct tu_knot knot;
    struct dns_publish d;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    tu_knot_start_or_fail(&f->knot, zones, NULL, f);
    tu_knot_publish_to(&f->knot, &f->d);
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

static bool has(char values[][128], int n, const char *v)
{
    for (int i = 0; i < n; i++)
        if (strcmp(values[i], v) == 0)
            return true;
    return false;
}

/* Two values at one name (an apex and its wildcard); deleting one leaves exactly the other. */
static void test_add_two_delete_one(void **state)
{
    struct fixture *f = *state;
    const char *name = "_acme-challenge.example.test";
    char why[512] = "", values[8][128];
    assert_int_equal(
        dns_publish_txt_add(&f->d, "example.test.", name, "value-apex", why, sizeof why), 0);
    assert_int_equal(
        dns_publish_txt_add(&f->d, "example.test.", name, "value-wildcard", why, sizeof why), 0);
    int n = tu_knot_txt(&f->knot, name, values, 8);
    assert_int_equal(n, 2);
    assert_true(has(values, n, "value-apex") && has(values, n, "value-wildcard"));

    assert_int_equal(
        dns_publish_txt_delete(&f->d, "example.test.", name, "value-apex", why, sizeof why), 0);
    n = tu_knot_txt(&f->knot, name, values, 8);
    assert_int_equal(n, 1);
    assert_string_equal(values[0], "value-wildcard");
    /* Deleting what is not there is a no-op, not an error; the other value stays. */
    assert_int_equal(
        dns_publish_txt_delete(&f->d, "example.test.", name, "value-apex", why, sizeof why), 0);
    assert_int_equal(tu_knot_txt(&f->knot, name, values, 8), 1);
    assert_int_equal(
        dns_publish_txt_delete(&f->d, "example.test.", name, "value-wildcard", why, sizeof why), 0);
    assert_int_equal(tu_knot_txt(&f->knot, name, values, 8), 0);
}

/* dns_publish_record finds the zone itself (here the second zone). */
static void test_record_finds_zone(void **state)
{
    struct fixture *f = *state;
    const char *name = "www.example.test.0123456789abcdef0123456789abcdef.dcv.tlsward.test";
    char why[512] = "", values[4][128];
    assert_int_equal(dns_publish_record(&f->d, DNS_PUBLISH_PRESENT, "example.test", name, "v1",
                                        "pack", why, sizeof why),
                     0);
    assert_int_equal(tu_knot_txt(&f->knot, name, values, 4), 1);
    assert_string_equal(values[0], "v1");
    assert_int_equal(dns_publish_record(&f->d, DNS_PUBLISH_CLEANUP, "example.test", name, "v1",
                                        "pack", why, sizeof why),
                     0);
    assert_int_equal(tu_knot_txt(&f->knot, name, values, 4), 0);
}

static void test_wrong_tsig_refused(void **state)
{
    struct fixture *f = *state;
    struct dns_publish bad = f->d;
    const char *swhy = NULL;
    char why[512] = "", values[4][128];
    assert_int_equal(
        dns_publish_set_tsig(
            &bad, TU_KNOT_KEY ":hmac-sha256:d3JvbmctdHNpZy1rZXktb2YtMzItYnl0ZXMhIQ==", &swhy),
        0);
    assert_int_equal(dns_publish_txt_add(&bad, "example.test.", "_acme-challenge.www.example.test",
                                         "nope", why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "refused the update"));
    assert_non_null(strstr(why, "TSIG key " TU_KNOT_KEY ". not accepted"));
    assert_null(strstr(why, "d3JvbmctdHNpZy1rZXkt")); /* never the secret */
    assert_int_equal(tu_knot_txt(&f->knot, "_acme-challenge.www.example.test", values, 4), 0);

    /* An unknown key name is refused the same way. */
    assert_int_equal(dns_publish_set_tsig(&bad, "other-key:hmac-sha256:" TU_KNOT_SECRET, &swhy), 0);
    assert_int_equal(dns_publish_txt_add(&bad, "example.test.", "_acme-challenge.www.example.test",
                                         "nope", why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "TSIG key other-key. not accepted"));
}

static void test_zone_of_deep_names(void **state)
{
    struct fixture *f = *state;
    char zone[DNS_PUBLISH_NAME_SIZE], why[512] = "";
    assert_int_equal(dns_publish_zone_of(&f->d, "example.test", zone, why, sizeof why), 0);
    assert_string_equal(zone, "example.test.");
    assert_int_equal(dns_publish_zone_of(&f->d, "a.b.c.d._acme-challenge.www.example.test", zone,
                                         why, sizeof why),
                     0);
    assert_string_equal(zone, "example.test.");
    /* www exists (an A record): NODATA for SOA, the SOA in the authority section. */
    assert_int_equal(dns_publish_zone_of(&f->d, "www.example.test.", zone, why, sizeof why), 0);
    assert_string_equal(zone, "example.test.");
    assert_int_equal(dns_publish_zone_of(&f->d, "x.y.dcv.tlsward.test", zone, why, sizeof why), 0);
    assert_string_equal(zone, "dcv.tlsward.test.");
    /* Knot answers REFUSED outside its zones: the walk climbs to the root and gives up. */
    assert_int_equal(dns_publish_zone_of(&f->d, "www.elsewhere.example", zone, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "no zone on DNS server"));
    assert_non_null(strstr(why, "www.elsewhere.example"));
}

static void test_option_parsers(void **state)
{
    (void)state;
    struct dns_publish d;
    const char *why = NULL;
    dns_publish_init(&d);
    assert_int_equal(dns_publish_set_server(&d, "dns.example:53", &why), -1);
    assert_non_null(strstr(why, "host names"));
    assert_int_equal(dns_publish_set_server(&d, "127.0.0.1:0", &why), -1);
    assert_int_equal(dns_publish_set_server(&d, "[::1]:5353", &why), 0);
    assert_string_equal(d.server, "[::1]:5353");
    assert_int_equal(dns_publish_set_server(&d, "192.0.2.1", &why), 0);
    assert_int_equal(dns_publish_check(&d, &why), -1); /* no key */
    assert_int_equal(dns_publish_set_tsig(&d, "key:hmac-md5:c2VjcmV0", &why), -1);
    assert_non_null(strstr(why, "hmac-sha256"));
    assert_int_equal(dns_publish_set_tsig(&d, "key:hmac-sha256:not base64!", &why), -1);
    assert_null(strstr(why, "not base64!"));
    assert_int_equal(dns_publish_set_tsig(&d, "key:hmac-sha256", &why), -1);
    assert_int_equal(dns_publish_set_tsig(&d, "bad key:hmac-sha256:c2VjcmV0", &why), -1);
    assert_int_equal(dns_publish_set_tsig(&d, "key:HMAC-SHA256:c2VjcmV0", &why), 0);
    assert_string_equal(d.tsig_name, "key.");
    assert_int_equal(dns_publish_check(&d, &why), 0);
    assert_true(dns_publish_enabled(&d));
    dns_publish_init(&d);
    assert_false(dns_publish_enabled(&d));
}

/* A value that could smuggle another record or a quote onto the wire is refused. */
static void test_refuses_malformed_records(void **state)
{
    struct fixture *f = *state;
    char why[512] = "";
    assert_int_equal(dns_publish_txt_add(&f->d, "example.test.", "_acme-challenge.example.test",
                                         "a\" b", why, sizeof why),
                     -1);
    assert_int_equal(
        dns_publish_txt_add(&f->d, "example.test.", "bad name.example.test", "v", why, sizeof why),
        -1);
    assert_non_null(strstr(why, "malformed"));
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* --dns-hook: the record, the zone and the pack reach the hook as its environment. */
static void test_hook_environment(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw-dnshook-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *out = xasprintf("%s/env", dir);
    char *cmd = xasprintf("env | grep ^TLSWARD_ | sort >> '%s'", out);
    struct dns_publish d;
    dns_publish_init(&d);
    d.hook = cmd;
    assert_true(dns_publish_enabled(&d));
    char why[512] = "";
    assert_int_equal(dns_publish_record(&d, DNS_PUBLISH_PRESENT, "example.test",
                                        "_acme-challenge.www.example.test", "VALUE1", "PACK1", why,
                                        sizeof why),
                     0);
    assert_int_equal(dns_publish_record(&d, DNS_PUBLISH_CLEANUP, "example.test",
                                        "_acme-challenge.www.example.test", "VALUE1", "PACK1", why,
                                        sizeof why),
                     0);
    char *text = read_file(out);
    assert_string_equal(text, "TLSWARD_EVENT=present\n"
                              "TLSWARD_PACK_ID=PACK1\n"
                              "TLSWARD_RECORD_NAME=_acme-challenge.www.example.test\n"
                              "TLSWARD_RECORD_VALUE=VALUE1\n"
                              "TLSWARD_ZONE=example.test\n"
                              "TLSWARD_EVENT=cleanup\n"
                              "TLSWARD_PACK_ID=PACK1\n"
                              "TLSWARD_RECORD_NAME=_acme-challenge.www.example.test\n"
                              "TLSWARD_RECORD_VALUE=VALUE1\n"
                              "TLSWARD_ZONE=example.test\n");
    xfree(text);

    /* A failing hook is an error with its exit status and output. */
    d.hook = "echo no DNS for you; exit 3";
    assert_int_equal(dns_publish_record(&d, DNS_PUBLISH_PRESENT, "example.test", "n.example.test",
                                        "v", "p", why, sizeof why),
                     -1);
    assert_string_equal(why, "dns hook exited with status 3; output: no DNS for you");

    /* A hook that hangs is killed at its limit. */
    d.hook = "sleep 30";
    d.hook_timeout_s = 1;
    int64_t started = util_mono_us();
    assert_int_equal(dns_publish_record(&d, DNS_PUBLISH_PRESENT, "example.test", "n.example.test",
                                        "v", "p", why, sizeof why),
                     -1);
    assert_true(util_mono_us() - started < 10 * 1000000LL);
    assert_non_null(strstr(why, "dns hook timed out after 1 s and was killed"));
    unlink(out);
    rmdir(dir);
    xfree(out);
    xfree(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_two_delete_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_finds_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_tsig_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_of_deep_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_malformed_records, setup, teardown),
        cmocka_unit_test(test_option_parsers),
        cmocka_unit_test(test_hook_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
