/* libFuzzer target: request body decoding (depth scan, jansson parse, typed getters). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "http/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > REQUEST_BODY_MAX)
        return 0;
    struct request req;
    request_init(&req, NULL, "POST", "/client/v4/zones", NULL, NULL);
    req.body = xmalloc(size + 1);
    memcpy(req.body, data, size);
    req.body[size] = '\0';
    req.body_len = size;
    json_t *body = NULL;
    if (input_json_object(&req, true, &body) == 0) {
        const char *name = NULL, *id = NULL, *type = NULL;
        json_t *account = NULL;
        long long n = 0;
        bool flag = false;
        static const char *const types[] = {"full", "partial", NULL};
        input_string(&req, body, "name", "name", INPUT_OPTIONAL, &name);
        if (input_object(&req, body, "account", "account", INPUT_OPTIONAL, &account) == 0 &&
            account)
            input_string(&req, account, "id", "account.id", INPUT_REQUIRED, &id);
        input_enum(&req, body, "type", "type", INPUT_OPTIONAL, types, &type);
        input_int(&req, body, "validity_days", "validity_days", INPUT_OPTIONAL, 1, 3650, &n);
        input_bool(&req, body, "enabled", "enabled", INPUT_OPTIONAL, &flag);
    }
    char *out;
    size_t len;
    const char *content_type;
    request_render(&req, &out, &len, &content_type);
    xfree(out);
    json_decref(body);
    request_free(&req);
    return 0;
}
