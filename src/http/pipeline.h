/* The request pipeline shared by every route: body limit → route → authenticate → rate
 * limit → permission → handler. Independent of the HTTP library, so unit tests drive it
 * with fake requests. */
#ifndef TLSWARD_HTTP_PIPELINE_H
#define TLSWARD_HTTP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "http/router.h"

/* Runs req through the pipeline against the route table. body_too_large: the body
 * exceeded REQUEST_BODY_MAX (it was not kept). The outcome is left in req. */
void pipeline_run(struct request *req, const struct route *routes, size_t route_count,
                  bool body_too_large);

#endif
