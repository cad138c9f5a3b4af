/* The API's error vocabulary, defined once: HTTP status, Cloudflare error code, default
 * message. Statuses and codes follow what Cloudflare has been observed to return (SPEC §3,
 * research/cf-facts.md §1), including its 400s where other APIs would say 401/404/409. */
#ifndef TLSWARD_HTTP_API_ERROR_H
#define TLSWARD_HTTP_API_ERROR_H

#define API_ERROR_MAP(X)                                                                           \
    X(MISSING_AUTH, 400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")        \
    X(BAD_HEADERS, 400, 6003, "Invalid request headers")                                          \
    X(BAD_AUTH_FORMAT, 400, 6111, "Invalid format for Authorization header")                      \
    X(INVALID_TOKEN, 403, 9109, "Invalid access token")                                           \
    X(VERIFY_INVALID, 401, 1000, "Invalid API Token")                                             \
    X(UNKNOWN_KEY, 403, 9103, "Unknown X-Auth-Key or X-Auth-Email")                               \
    X(FORBIDDEN, 403, 9109, "Unauthorized to access requested resource")                          \
    X(ZONE_ROUTE, 400, 7003, "Could not route to the zone, perhaps your object identifier is invalid?") \
    X(NO_ROUTE, 400, 7000, "No route for that URI")                                               \
    X(METHOD, 405, 10405, "Method not allowed")                                                   \
    X(NOT_FOUND, 404, 1472, "Not found")                                                          \
    X(INVALID, 400, 1004, "Invalid request")                                                      \
    X(ZONE_EXISTS, 400, 1061, "Zone already exists")                                              \
    X(BAD_STATUS, 400, 1406, "Operation not allowed in the object's current status")              \
    X(QUOTA, 400, 1450, "Advanced Certificate Manager required")                                  \
    X(TOO_LARGE, 413, 10413, "Request body too large")                                            \
    X(RATE_LIMITED, 429, 971, "Please wait and consider throttling your request speed")           \
    X(INTERNAL, 500, 10500, "Internal server error")                                              \
    X(UNAVAILABLE, 503, 10503, "Service unavailable")

enum api_error {
#define X(name, status, code, message) API_E_##name,
    API_ERROR_MAP(X)
#undef X
        API_E_COUNT
};

int api_error_status(enum api_error e);
int api_error_code(enum api_error e);
const char *api_error_message(enum api_error e);

#endif
