/* Unit tests for core/caa: the CAA decision over record sets (RFC 8659 tree climbing,
 * issue/issuewild, critical tags, empty issuers), issue-value parsing, RFC 8657
 * validationmethods and accounturi, malformed records, and the exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/caa.h"

/* A record from C strings. */
#define REC(flags, tag, value)                                                                     \
    {                                                                                              \
        (flags), (tag), sizeof(tag) - 1, (value), sizeof(value) - 1                                \
    }

/* The sets for host as caa_climb names them; `at` names which index gets records. */
struct tree {
    const char *names[CAA_NAMES_MAX];
    struct caa_set sets[CAA_NAMES_MAX];
    size_t n;
};

static void tree_init(struct tree *t, const char *host)
{
    memset(t, 0, sizeof *t);
    t->n = caa_climb(host, t->names, CAA_NAMES_MAX);
    for (size_t i = 0; i < t->n; i++)
        t->sets[i].name = t->names[i];
}

/* Puts records at the set whose name is `name` (must be on the path). */
static void tree_put(struct tree *t, const char *name, const struct caa_record *recs, size_t n)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->names[i], name) == 0) {
            t->sets[i].records = recs;
            t->sets[i].count = n;
            return;
        }
    }
    fail_msg("%s is not on the path", name);
}

static struct caa_request request(const char *ca, bool wildcard, enum caa_method m)
{
    struct caa_request r = {.ca = ca, .wildcard = wildcard, .method = m};
    r.identities[r.identity_count++] = caa_ca_identity(ca);
    r.identities[r.identity_count++] = "tlsward.local";
    return r;
}

static void assert_allowed(const struct tree *t, const struct caa_request *req)
{
    char why[CAA_REASON_SIZE];
    if (caa_decide(t->sets, t->n, req, why) != 0)
        fail_msg("expected allowed, got: %s", why);
    assert_string_equal(why, "");
}

static void assert_forbidden(const struct tree *t, const struct caa_request *req, const char *msg)
{
    char why[CAA_REASON_SIZE];
    assert_int_equal(caa_decide(t->sets, t->n, req, why), -1);
    if (strcmp(why, msg) != 0)
        fail_msg("message\n  got:  %s\n  want: %s", why, msg);
}

/* The decision for req on host when the only records on its path are recs (n of them), at
 * the name `at`: allowed when msg is NULL, else forbidden with exactly msg. */
static void expect_decision(const char *host, const char *at, const struct caa_record *recs,
                            size_t n, const struct caa_request *req, const char *msg)
{
    struct tree t;
    tree_init(&t, host);
    tree_put(&t, at, recs, n);
    if (msg)
        assert_forbidden(&t, req, msg);
    else
        assert_allowed(&t, req);
}

/* ---- tables and climbing ---- */

static void test_identities_and_methods(void **state)
{
    (void)state;
    assert_string_equal(caa_ca_identity("lets_encrypt"), "letsencrypt.org");
    assert_string_equal(caa_ca_identity("google"), "pki.goog");
    assert_string_equal(caa_ca_identity("ssl_com"), "ssl.com");
    assert_null(caa_ca_identity("digicert"));
    assert_null(caa_ca_identity(""));
    assert_null(caa_ca_identity(NULL));
    enum caa_method m;
    assert_int_equal(caa_method_parse("txt", &m), 0);
    assert_int_equal(m, CAA_METHOD_DNS01);
    assert_int_equal(caa_method_parse("cname", &m), 0);
    assert_int_equal(m, CAA_METHOD_DNS01);
    assert_int_equal(caa_method_parse("http", &m), 0);
    assert_int_equal(m, CAA_METHOD_HTTP01);
    assert_int_equal(caa_method_parse("email", &m), 0);
    assert_int_equal(m, CAA_METHOD_EMAIL);
    assert_int_equal(caa_method_parse("TXT", &m), -1);
    assert_int_equal(caa_method_parse(NULL, &m), -1);
    assert_string_equal(caa_method_label(CAA_METHOD_DNS01), "dns-01");
    assert_string_equal(caa_method_label(CAA_METHOD_HTTP01), "http-01");
    assert_string_equal(caa_method_label(CAA_METHOD_EMAIL), "ca-email");
}

static void test_climb(void **state)
{
    (void)state;
    const char *names[CAA_NAMES_MAX];
    size_t n = caa_climb("a.shop.example.test", names, CAA_NAMES_MAX);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "a.shop.example.test");
    assert_string_equal(names[1], "shop.example.test");
    assert_string_equal(names[2], "example.test");
    assert_string_equal(names[3], "test");
    /* The wildcard label is not a name to look up. */
    n = caa_climb("*.example.com", names, CAA_NAMES_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "example.com");
    assert_string_equal(names[1], "com");
    /* Bounded by max. */
    assert_int_equal(caa_climb("a.b.c.d", names, 2), 2);
    assert_int_equal(caa_climb("", names, CAA_NAMES_MAX), 0);
}

/* ---- tree climbing ---- */

static void test_no_records_anywhere(void **state)
{
    (void)state;
    struct tree t;
    tree_init(&t, "www.shop.example.test");
    struct caa_request req = request("lets_encrypt", false, CAA_METHOD_DNS01);
    assert_allowed(&t, &req);
}

static void test_parent_above_apex_rules(void **state)
{
    (void)state;
    /* The zone is shop.example.test; the record is at its parent. */
    static const struct caa_record parent[] = {REC(0, "issue", "otherca.example")};
    struct caa_request req = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("www.shop.example.test", "example.test", parent, 1, &req,
                    "CAA record at example.test forbids lets_encrypt (letsencrypt.org, "
                    "tlsward.local): 0 issue \"otherca.example\"");
    /* Even at the TLD. */
    expect_decision("shop.example.test", "test", parent, 1, &req,
                    "CAA record at test forbids lets_encrypt (letsencrypt.org, tlsward.local): "
                    "0 issue \"otherca.example\"");
}

static void test_closest_set_wins(void **state)
{
    (void)state;
    static const struct caa_record parent[] = {REC(0, "issue", "otherca.example")};
    static const struct caa_record child[] = {REC(0, "issue", "letsencrypt.org")};
    struct tree t;
    tree_init(&t, "a.www.example.org");
    tree_put(&t, "example.org", parent, 1);
    tree_put(&t, "www.example.org", child, 1);
    struct caa_request le = request("lets_encrypt", false, CAA_METHOD_DNS01);
    assert_allowed(&t, &le);
    struct caa_request goog = request("google", false, CAA_METHOD_DNS01);
    assert_forbidden(&t, &goog,
                     "CAA record at www.example.org forbids google (pki.goog, tlsward.local): "
                     "0 issue \"letsencrypt.org\"");
    /* A closer set with only iodef is still the relevant set: no issue property, so no
     * restriction, whatever the parent says. */
    static const struct caa_record iodef[] = {REC(0, "iodef", "mailto:sec@example.org")};
    tree_put(&t, "www.example.org", iodef, 1);
    assert_allowed(&t, &goog);
}

/* ---- issue / issuewild ---- */

static void test_issue_matches_any_identity(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "issue", "digicert.com"),
        REC(0, "ISSUE", " LetsEncrypt.ORG "),
    };
    struct caa_request le = request("lets_encrypt", false, CAA_METHOD_HTTP01);
    /* Tag and issuer compared case-insensitively, blanks ignored. */
    expect_decision("example.com", "example.com", recs, 2, &le, NULL);
    struct caa_request ssl = request("ssl_com", false, CAA_METHOD_DNS01);
    expect_decision("example.com", "example.com", recs, 2, &ssl,
                    "CAA record at example.com forbids ssl_com (ssl.com, tlsward.local): "
                    "0 ISSUE \" LetsEncrypt.ORG \", 0 issue \"digicert.com\"");
    /* Our own identity authorizes every CA we issue as. */
    static const struct caa_record own[] = {REC(0, "issue", "tlsward.local")};
    expect_decision("example.com", "example.com", own, 1, &ssl, NULL);
    /* ...and only when listed among the identities. */
    ssl.identity_count = 1;
    expect_decision("example.com", "example.com", own, 1, &ssl,
                    "CAA record at example.com forbids ssl_com (ssl.com): 0 issue "
                    "\"tlsward.local\"");
}

static void test_empty_issuer_forbids_all(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {REC(0, "issue", ";")};
    struct caa_request req = request("google", false, CAA_METHOD_DNS01);
    expect_decision("www.example.com", "example.com", recs, 1, &req,
                    "CAA record at example.com forbids google (pki.goog, tlsward.local): 0 issue "
                    "\";\"");
    /* Beside an authorizing record, the empty one changes nothing. */
    static const struct caa_record both[] = {REC(0, "issue", ";"), REC(0, "issue", "pki.goog")};
    expect_decision("www.example.com", "example.com", both, 2, &req, NULL);
}

static void test_issuewild(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "issue", "letsencrypt.org"),
        REC(0, "issuewild", ";"),
    };
    struct caa_request wild = request("lets_encrypt", true, CAA_METHOD_DNS01);
    expect_decision("*.example.com", "example.com", recs, 2, &wild,
                    "CAA record at example.com forbids lets_encrypt (letsencrypt.org, "
                    "tlsward.local): 0 issuewild \";\"");
    /* The plain name is ruled by issue alone. */
    struct caa_request plain = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("example.com", "example.com", recs, 2, &plain, NULL);
    /* issuewild naming the CA overrides an issue that does not. */
    static const struct caa_record over[] = {
        REC(0, "issue", "digicert.com"),
        REC(0, "issuewild", "pki.goog"),
    };
    struct caa_request goog = request("google", true, CAA_METHOD_DNS01);
    expect_decision("*.example.com", "example.com", over, 2, &goog, NULL);
    /* Without issuewild, a wildcard falls back to issue. */
    static const struct caa_record issue_only[] = {REC(0, "issue", "pki.goog")};
    expect_decision("*.example.com", "example.com", issue_only, 1, &goog, NULL);
    expect_decision("*.example.com", "example.com", issue_only, 1, &wild,
                    "CAA record at example.com forbids lets_encrypt (letsencrypt.org, "
                    "tlsward.local): 0 issue \"pki.goog\"");
}

static void test_no_issue_property_no_restriction(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "iodef", "mailto:security@example.com"), REC(0, "issuemail", ";"),
        REC(0, "unknowntag", "whatever"), /* not critical: ignored */
    };
    struct caa_request req = request("ssl_com", false, CAA_METHOD_EMAIL);
    expect_decision("example.com", "example.com", recs, 3, &req, NULL);
    /* A wildcard with only issue records elsewhere: issuewild absent, no issue: allowed. */
    req.wildcard = true;
    expect_decision("*.example.com", "example.com", recs, 3, &req, NULL);
}

/* ---- critical tags ---- */

static void test_critical_unknown_tag(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "issue", "letsencrypt.org"),
        REC(128, "tbs", "unknown"),
    };
    struct caa_request req = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("www.example.com", "www.example.com", recs, 2, &req,
                    "CAA record at www.example.com has an unknown critical property: 128 tbs "
                    "\"unknown\"");
    /* Other flag bits do not make it critical; a known tag marked critical is fine. */
    static const struct caa_record soft[] = {
        REC(1, "tbs", "unknown"),
        REC(128, "issue", "letsencrypt.org"),
        REC(128, "iodef", "mailto:x@example.com"),
    };
    expect_decision("www.example.com", "www.example.com", soft, 3, &req, NULL);
    /* A critical tag in a set that is not the relevant one is never seen. */
    static const struct caa_record near[] = {REC(0, "issue", "letsencrypt.org")};
    static const struct caa_record far[] = {REC(128, "tbs", "x")};
    struct tree t;
    tree_init(&t, "www.example.com");
    tree_put(&t, "www.example.com", near, 1);
    tree_put(&t, "example.com", far, 1);
    assert_allowed(&t, &req);
    /* Odd bytes in a tag are escaped in the message. */
    static const struct caa_record odd[] = {REC(128, "x\"y\n", "v")};
    tree_put(&t, "www.example.com", odd, 1);
    assert_forbidden(&t, &req,
                     "CAA record at www.example.com has an unknown critical property: 128 "
                     "\"x\\\"y\\x0a\" \"v\"");
}

/* ---- parameters ---- */

static void test_parse_issue(void **state)
{
    (void)state;
    struct caa_issue_value v;
    const char *s = "ca.example.net; account=230123; policy=ev";
    assert_int_equal(caa_parse_issue(s, strlen(s), &v), 0);
    assert_int_equal(v.issuer_len, strlen("ca.example.net"));
    assert_memory_equal(v.issuer, "ca.example.net", v.issuer_len);
    assert_int_equal(v.nparams, 2);
    assert_int_equal(v.params[0].key_len, 7);
    assert_memory_equal(v.params[0].key, "account", 7);
    assert_int_equal(v.params[0].value_len, 6);
    assert_memory_equal(v.params[0].value, "230123", 6);
    assert_memory_equal(v.params[1].key, "policy", 6);
    assert_memory_equal(v.params[1].value, "ev", 2);

    s = "  letsencrypt.org \t;\tvalidationmethods = dns-01,http-01  ";
    assert_int_equal(caa_parse_issue(s, strlen(s), &v), 0);
    assert_memory_equal(v.issuer, "letsencrypt.org", v.issuer_len);
    assert_int_equal(v.nparams, 1);
    assert_int_equal(v.params[0].value_len, strlen("dns-01,http-01"));

    /* Empty issuer, with or without parameters; an empty parameter list. */
    assert_int_equal(caa_parse_issue(";", 1, &v), 0);
    assert_null(v.issuer);
    assert_int_equal(v.nparams, 0);
    assert_int_equal(caa_parse_issue("", 0, &v), 0);
    assert_null(v.issuer);
    s = "; key=v";
    assert_int_equal(caa_parse_issue(s, strlen(s), &v), 0);
    assert_null(v.issuer);
    assert_int_equal(v.nparams, 1);
    s = "pki.goog;";
    assert_int_equal(caa_parse_issue(s, strlen(s), &v), 0);
    assert_int_equal(v.nparams, 0);

    /* Malformed. */
    static const char *const bad[] = {
        "-bad.example",         /* label starts with a hyphen */
        "bad-.example",         /* ends with one */
        "bad..example",         /* empty label */
        "letsencrypt.org.",     /* a trailing dot is not in the grammar */
        "lets encrypt.org",     /* a space inside the name */
        "ca_x.example",         /* underscore */
        "pki.goog; novalue",    /* parameter without "=" */
        "pki.goog; =v",         /* empty tag */
        "pki.goog; k=v;; k2=v", /* empty parameter between semicolons */
        "pki.goog; k=v;",       /* trailing semicolon after a parameter */
        "pki.goog; k=a b",      /* space inside a value */
        "pki.goog; k_x=v",      /* underscore in a tag */
        "pki.goog; k=\x7f",     /* DEL in a value */
        "\xc3\xa9.example",     /* not ASCII */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (caa_parse_issue(bad[i], strlen(bad[i]), &v) != -1)
            fail_msg("accepted malformed value \"%s\"", bad[i]);
    }
    /* Too many parameters. */
    char many[512] = "pki.goog";
    for (int i = 0; i <= CAA_PARAMS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "; k%d=v", i);
    assert_int_equal(caa_parse_issue(many, strlen(many), &v), -1);
    /* A value may hold "=" and ","; a NUL inside is not a value byte. */
    s = "pki.goog; k=a=b,c";
    assert_int_equal(caa_parse_issue(s, strlen(s), &v), 0);
    assert_int_equal(caa_parse_issue("pki.goog; k=\0", 13, &v), -1);
}

static void test_validationmethods(void **state)
{
    (void)state;
    static const struct caa_record http_only[] = {
        REC(0, "issue", "letsencrypt.org; validationmethods=http-01"),
    };
    struct caa_request txt = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("www.example.com", "example.com", http_only, 1, &txt,
                    "CAA record at example.com forbids lets_encrypt with validation method "
                    "dns-01: 0 issue \"letsencrypt.org; validationmethods=http-01\"");
    struct caa_request http = request("lets_encrypt", false, CAA_METHOD_HTTP01);
    expect_decision("www.example.com", "example.com", http_only, 1, &http, NULL);
    /* E-mail has no ACME label: only "ca-email" lets it through. */
    struct caa_request email = request("lets_encrypt", false, CAA_METHOD_EMAIL);
    expect_decision("www.example.com", "example.com", http_only, 1, &email,
                    "CAA record at example.com forbids lets_encrypt with validation method "
                    "ca-email: 0 issue \"letsencrypt.org; validationmethods=http-01\"");
    static const struct caa_record lists[] = {
        REC(0, "issue", "letsencrypt.org; ValidationMethods=DNS-01,ca-email,tls-alpn-01"),
    };
    /* Key and labels compared case-insensitively. */
    expect_decision("www.example.com", "example.com", lists, 1, &txt, NULL);
    expect_decision("www.example.com", "example.com", lists, 1, &email, NULL);
    expect_decision("www.example.com", "example.com", lists, 1, &http,
                    "CAA record at example.com forbids lets_encrypt with validation method "
                    "http-01: 0 issue \"letsencrypt.org; "
                    "ValidationMethods=DNS-01,ca-email,tls-alpn-01\"");
    /* One record per method: either authorizes its own. */
    static const struct caa_record split[] = {
        REC(0, "issue", "letsencrypt.org; validationmethods=http-01"),
        REC(0, "issue", "letsencrypt.org; validationmethods=dns-01"),
    };
    expect_decision("www.example.com", "example.com", split, 2, &txt, NULL);
    expect_decision("www.example.com", "example.com", split, 2, &http, NULL);
    /* A method restriction on another CA's record does not concern us. */
    static const struct caa_record other[] = {
        REC(0, "issue", "pki.goog; validationmethods=http-01"),
        REC(0, "issue", "letsencrypt.org"),
    };
    expect_decision("www.example.com", "example.com", other, 2, &txt, NULL);
    /* Malformed method lists authorize nobody. */
    static const struct caa_record bad[] = {
        REC(0, "issue", "letsencrypt.org; validationmethods=dns-01,,http-01"),
    };
    expect_decision("www.example.com", "example.com", bad, 1, &txt,
                    "CAA record at example.com forbids lets_encrypt (malformed parameters): 0 "
                    "issue \"letsencrypt.org; validationmethods=dns-01,,http-01\"");
    static const struct caa_record empty[] = {
        REC(0, "issue", "letsencrypt.org; validationmethods="),
    };
    expect_decision("www.example.com", "example.com", empty, 1, &txt,
                    "CAA record at example.com forbids lets_encrypt (malformed parameters): 0 "
                    "issue \"letsencrypt.org; validationmethods=\"");
}

static void test_accounturi_and_unknown_params(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/1"),
    };
    struct caa_request req = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("example.com", "example.com", recs, 1, &req,
                    "CAA record at example.com forbids lets_encrypt without the ACME account it "
                    "names: 0 issue \"letsencrypt.org; accounturi=https://acme.example/acct/1\"");
    req.account_uri = "https://acme.example/acct/2";
    expect_decision("example.com", "example.com", recs, 1, &req,
                    "CAA record at example.com forbids lets_encrypt without the ACME account it "
                    "names: 0 issue \"letsencrypt.org; accounturi=https://acme.example/acct/1\"");
    req.account_uri = "https://acme.example/acct/1";
    expect_decision("example.com", "example.com", recs, 1, &req, NULL);
    /* Unknown parameters are the issuer's own business. */
    static const struct caa_record policy[] = {REC(0, "issue", "letsencrypt.org; policy=ev")};
    req.account_uri = NULL;
    expect_decision("example.com", "example.com", policy, 1, &req, NULL);
}

/* ---- malformed records ---- */

static void test_malformed_values_authorize_nobody(void **state)
{
    (void)state;
    static const struct caa_record recs[] = {
        REC(0, "issue", "letsencrypt.org."),
        REC(0, "issue", "letsencrypt.org; broken"),
    };
    struct caa_request req = request("lets_encrypt", false, CAA_METHOD_DNS01);
    expect_decision("example.com", "example.com", recs, 2, &req,
                    "CAA record at example.com forbids lets_encrypt (letsencrypt.org, "
                    "tlsward.local): 0 issue \"letsencrypt.org.\", 0 issue \"letsencrypt.org; "
                    "broken\"");
    /* An empty tag or value, binary bytes: never a crash, escaped in messages. */
    static const struct caa_record odd[] = {
        {0, "issue", 5, "\x00\x01", 2},
        {0, "", 0, "", 0},
    };
    expect_decision("example.com", "example.com", odd, 2, &req,
                    "CAA record at example.com forbids lets_encrypt (letsencrypt.org, "
                    "tlsward.local): 0 issue \"\\x00\\x01\"");
}

static void test_message_bounds(void **state)
{
    (void)state;
    /* Many long records: the list is capped, the message stays within its buffer. */
    static char value[300];
    memset(value, 'a', sizeof value - 1);
    struct caa_record recs[12];
    for (size_t i = 0; i < 12; i++)
        recs[i] = (struct caa_record){0, "issue", 5, value, sizeof value - 1};
    struct tree t;
    tree_init(&t, "example.com");
    tree_put(&t, "example.com", recs, 12);
    struct caa_request req = request("google", false, CAA_METHOD_DNS01);
    char why[CAA_REASON_SIZE];
    assert_int_equal(caa_decide(t.sets, t.n, &req, why), -1);
    assert_true(strlen(why) < CAA_REASON_SIZE);
    assert_non_null(strstr(why, "aaaa...\""));
    /* Sorted, so a rotated RRset gives the same message. */
    static const struct caa_record ab[] = {REC(0, "issue", "b.example"),
                                           REC(0, "issue", "a.example")};
    static const struct caa_record ba[] = {REC(0, "issue", "a.example"),
                                           REC(0, "issue", "b.example")};
    char one[CAA_REASON_SIZE], two[CAA_REASON_SIZE];
    tree_put(&t, "example.com", ab, 2);
    assert_int_equal(caa_decide(t.sets, t.n, &req, one), -1);
    tree_put(&t, "example.com", ba, 2);
    assert_int_equal(caa_decide(t.sets, t.n, &req, two), -1);
    assert_string_equal(one, two);
    /* More than five records: "and N more". */
    static const struct caa_record seven[] = {
        REC(0, "issue", "a.example"), REC(0, "issue", "b.example"), REC(0, "issue", "c.example"),
        REC(0, "issue", "d.example"), REC(0, "issue", "e.example"), REC(0, "issue", "f.example"),
        REC(0, "issue", "g.example"),
    };
    tree_put(&t, "example.com", seven, 7);
    assert_forbidden(&t, &req,
                     "CAA record at example.com forbids google (pki.goog, tlsward.local): 0 issue "
                     "\"a.example\", 0 issue \"b.example\", 0 issue \"c.example\", 0 issue "
                     "\"d.example\", 0 issue \"e.example\" and 2 more");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identities_and_methods),
        cmocka_unit_test(test_climb),
        cmocka_unit_test(test_no_records_anywhere),
        cmocka_unit_test(test_parent_above_apex_rules),
        cmocka_unit_test(test_closest_set_wins),
        cmocka_unit_test(test_issue_matches_any_identity),
        cmocka_unit_test(test_empty_issuer_forbids_all),
        cmocka_unit_test(test_issuewild),
        cmocka_unit_test(test_no_issue_property_no_restriction),
        cmocka_unit_test(test_critical_unknown_tag),
        cmocka_unit_test(test_parse_issue),
        cmocka_unit_test(test_validationmethods),
        cmocka_unit_test(test_accounturi_and_unknown_params),
        cmocka_unit_test(test_malformed_values_authorize_nobody),
        cmocka_unit_test(test_message_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
