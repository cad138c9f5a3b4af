/* libFuzzer target for the ACME client's parsers of server text: problem documents (and
 * the one-line message made from them), Retry-After, Link headers and renewalInfo bodies.
 * Every message must be one NUL-terminated line within its buffer; every Link URL short and
 * free of '<' and '>'; every parsed renewal window non-empty. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "common/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        alloc_install_json();
        once = 1;
    }
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    struct acme_error err;
    int status = size ? 400 + data[0] % 200 : 400;
    int code = acme_problem_parse(text, size, status, &err);
    assert(code < 0 && code == err.code);
    char line[300];
    size_t n = acme_error_format(&err, line, sizeof line);
    assert(n < sizeof line && strlen(line) == n && !strchr(line, '\n'));

    int64_t at = 0;
    if (acme_retry_after_parse(text, 0, &at) == 0)
        assert(at >= 0);

    const char *values[] = {text};
    char *urls[8];
    size_t k = acme_link_alternates(values, 1, urls, 8);
    assert(k <= 8);
    for (size_t i = 0; i < k; i++) {
        assert(strlen(urls[i]) <= 2048 && !strchr(urls[i], '>'));
        xfree(urls[i]);
    }

    struct acme_renewal r;
    if (acme_ari_parse(text, size, &r) == 0) {
        assert(r.start_us < r.end_us);
        int64_t pick = acme_ari_pick(&r, r.start_us);
        assert(pick >= r.start_us && pick < r.end_us);
        acme_renewal_free(&r);
    }
    xfree(text);
    return 0;
}
