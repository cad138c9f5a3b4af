/* Lookups into the API error table of api_error.h. */
#include "http/api_error.h"

static const struct {
    int status;
    int code;
    const char *message;
} api_errors[API_E_COUNT] = {
#define X(name, st, cd, msg) [API_E_##name] = {st, cd, msg},
    API_ERROR_MAP(X)
#undef X
};

int api_error_status(enum api_error e)
{
    return api_errors[e].status;
}

int api_error_code(enum api_error e)
{
    return api_errors[e].code;
}

const char *api_error_message(enum api_error e)
{
    return api_errors[e].message;
}
