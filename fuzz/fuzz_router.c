/* libFuzzer target: the router over the real route table. Input: "METHOD PATH". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "common/alloc.h"
#include "http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *text = xstrndup((const char *)data, size);
    char *space = strchr(text, ' ');
    const char *method = "GET", *path = text;
    if (space) {
        *space = '\0';
        method = text;
        path = space + 1;
    }
    struct request req;
    request_init(&req, NULL, method, path, NULL, NULL);
    if (router_match(api_routes, api_route_count, method, path, &req) == ROUTER_MATCH) {
        for (int i = 0; i < req.param_count; i++)
            if (strlen(req.params[i]) >= REQUEST_PARAM_SIZE)
                __builtin_trap();
    }
    request_free(&req);
    xfree(text);
    return 0;
}
