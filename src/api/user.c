/* GET /user/tokens/verify: tells a client whether its API token is usable. */
#include "api/api.h"

void user_token_verify(struct request *req)
{
    /* The pipeline already authenticated the bearer token (401/1000 when invalid). */
    json_t *result = json_pack("{s:s, s:s}", "id", req->principal.id, "status", "active");
    if (req->principal.expires_on)
        json_object_set_new(result, "expires_on", api_time(req->principal.expires_on));
    request_ok(req, result);
    req->messages = json_pack("[{s:i, s:s}]", "code", 10000, "message",
                              "This API Token is valid and active");
}
