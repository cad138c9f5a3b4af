/* Tests of common/dburl: recognising PostgreSQL URIs and redacting their passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/dburl.h"

static void expect(const char *in, const char *want)
{
    char out[256];
    dburl_redact(in, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_is_postgres(void **state)
{
    (void)state;
    assert_true(dburl_is_postgres("postgres://h/db"));
    assert_true(dburl_is_postgres("postgresql://u@h/db"));
    assert_true(dburl_is_postgres("PostgreSQL://h"));
    assert_false(dburl_is_postgres("/var/lib/tlsward/shared.db"));
    assert_false(dburl_is_postgres("postgres.db"));
    assert_false(dburl_is_postgres("postgres:/x"));
    assert_false(dburl_is_postgres(NULL));
}

static void test_redact(void **state)
{
    (void)state;
    expect("postgres://tlsward:s3cret@db.example:5432/tlsward",
           "postgres://tlsward:***@db.example:5432/tlsward");
    expect("postgresql://u:p@ss:w@rd@h/db", "postgresql://u:***@h/db"); /* the last '@' */
    expect("postgres://u@h/db", "postgres://u@h/db");                   /* no password */
    expect("postgres://h:5432/db?sslmode=require", "postgres://h:5432/db?sslmode=require");
    expect("postgres://h/db?user=u&password=hunter2&sslmode=require",
           "postgres://h/db?user=u&password=***&sslmode=require");
    expect("postgres://u:pw@h/db?password=x#frag", "postgres://u:***@h/db?password=***#frag");
    expect("postgres://h/a@b", "postgres://h/a@b"); /* an '@' in the path is not user info */
    expect("/tmp/x/shared.db", "/tmp/x/shared.db");
}

static void test_redact_bounds(void **state)
{
    (void)state;
    char out[12];
    dburl_redact("postgres://user:secret@host/db", out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
    assert_null(strstr(out, "secret"));
    char one[1] = {'x'};
    dburl_redact("postgres://u:p@h", one, sizeof one);
    assert_int_equal(one[0], '\0');
    char small[30];
    dburl_redact("postgres://user:secret@host/db", small, sizeof small);
    assert_null(strstr(small, "sec"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_postgres),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_redact_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
