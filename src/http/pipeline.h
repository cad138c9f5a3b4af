/* The request pipeline shared by every route: route → (failed-authentication limit of the
 * client address) → authenticate → rate limit → permission, all from the request line and
 * headers, then body limit → handler once the body is read. Independent of the HTTP
 * library, so unit tests drive it with fake requests. */
#ifndef TLSWARD_HTTP_PIPELINE_H
#define TLSWARD_HTTP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "http/router.h"

/* The checks made before any body is read: route (7000/10405), authentication (9106,
 * 6003, 9109, 9103, 1000, or 971 when the client address has no failed authentication
 * left), rate limit (971), permission (9109). 0: admitted, the body may be read; -1:
 * refused, the outcome is in req. */
int pipeline_admit(struct request *req, const struct route *routes, size_t route_count);

/* For an admitted request whose body has been read: 413 when it exceeded REQUEST_BODY_MAX
 * (body_too_large; it was not kept), else the route's handler. */
void pipeline_handle(struct request *req, bool body_too_large);

/* pipeline_admit, then pipeline_handle if admitted (for callers that hold the whole
 * request, such as unit tests). */
void pipeline_run(struct request *req, const struct route *routes, size_t route_count,
                  bool body_too_large);

#endif
