/* Unit tests of common/log's request-line buffer: request lines reach stderr without an
 * explicit flush (the flusher thread), every line arrives once and whole, a non-request line
 * is written after the request lines logged before it, and a burst larger than the buffer
 * loses nothing. stderr is redirected to a temporary file for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static char path[] = "/tmp/tlsward-test-log.XXXXXX";

static int redirect_stderr(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    close(fd);
    return 0;
}

static int drop_file(void **state)
{
    (void)state;
    unlink(path);
    memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    return 0;
}

/* The log file's contents (caller frees). */
static char *read_log(void)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void request_line(int i)
{
    char path_buf[64];
    snprintf(path_buf, sizeof path_buf, "/client/v4/zones/n%d", i);
    struct log_request r = {.method = "GET",
                            .route = "/client/v4/zones/:zone_id",
                            .path = path_buf,
                            .status = 200,
                            .micros = i,
                            .request_id = "0123456789abcdef0123456789abcdef",
                            .token_id = NULL};
    log_request(&r);
}

static void test_flusher_writes_without_flush(void **state)
{
    (void)state;
    request_line(1);
    char *log = NULL;
    for (int tries = 0; tries < 500; tries++) { /* up to 5 s: the flusher waits 50 ms */
        free(log);
        log = read_log();
        if (strstr(log, "/client/v4/zones/n1 "))
            break;
        usleep(10000);
    }
    assert_non_null(
        strstr(log, " info request GET /client/v4/zones/n1 route=/client/v4/zones/:zone_id "
                    "status=200 us=1 id=0123456789abcdef0123456789abcdef token=-\n"));
    free(log);
}

static void test_message_after_pending_requests(void **state)
{
    (void)state;
    for (int i = 0; i < 10; i++)
        request_line(100 + i);
    log_msg(LOG_WARN, "the marker line");
    char *log = read_log(); /* no flush: the warning wrote what was pending before it */
    const char *marker = strstr(log, "warn the marker line");
    assert_non_null(marker);
    for (int i = 0; i < 10; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "/client/v4/zones/n%d ", 100 + i);
        const char *at = strstr(log, needle);
        assert_non_null(at);
        assert_true(at < marker);
    }
    free(log);
}

static void test_burst_loses_nothing(void **state)
{
    (void)state;
    enum { BURST = 5000 }; /* ~150 bytes each: several times the buffer */
    for (int i = 0; i < BURST; i++)
        request_line(1000000 + i);
    log_flush();
    char *log = read_log();
    assert_int_equal(count(log, " info request GET /client/v4/zones/n1"), BURST);
    /* Whole lines only: every line starts with a timestamp and ends with the token field. */
    int lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        assert_true(strncmp(line, "20", 2) == 0);
        assert_non_null(strstr(line, " token=-"));
    }
    assert_int_equal(lines, BURST);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flusher_writes_without_flush, redirect_stderr,
                                        drop_file),
        cmocka_unit_test_setup_teardown(test_message_after_pending_requests, redirect_stderr,
                                        drop_file),
        cmocka_unit_test_setup_teardown(test_burst_loses_nothing, redirect_stderr, drop_file),
    };
    /* cmocka reports on stdout; stderr belongs to the tests. */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
