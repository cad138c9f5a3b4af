/* Publication of a pack's HTTP-01 challenges by tlsward itself: the store's
 * http_challenges rows (what the responder of --http-challenge-listen serves, whichever
 * process runs it) and, with --webroot DIR, one file per token under
 * DIR/.well-known/acme-challenge/ for a web server that serves that directory.
 *
 * The worker calls http_publish_sync whenever a pack's records may have changed while it
 * validates (records created, before each check) and http_publish_clear once validation is
 * over (validated, timed out, deleted). Both are idempotent, so a step that fails or runs
 * again simply repeats them. The rows always cover the files on disk (added before the
 * files are written, dropped after they are removed), so a crash never leaves a file that
 * no later clear knows about. */
#ifndef TLSWARD_WORKER_HTTP_PUBLISH_H
#define TLSWARD_WORKER_HTTP_PUBLISH_H

#include "store/store.h"

struct app;

#define HTTP_PUBLISH_DIR ".well-known/acme-challenge"
#define HTTP_PUBLISH_FILE_MODE 0644
#define HTTP_PUBLISH_DIR_MODE 0755

/* The http records of p's validation records (http_url ending in
 * /.well-known/acme-challenge/<token>, http_body) as challenges, in order; records of
 * other methods, and any whose token or body is not fit to serve, are left out. *out:
 * xfree (NULL when *count is 0). */
void http_publish_records(const struct store_pack *p, struct store_http_challenge **out,
                          int *count);

/* Makes what is published for pack_id exactly the http records of p (NULL: nothing). 0,
 * or -1 (logged) when the store or the webroot failed. */
int http_publish_sync(struct app *app, const char *pack_id, const struct store_pack *p);
/* Publishes nothing more for pack_id: http_publish_sync(app, pack_id, NULL). */
int http_publish_clear(struct app *app, const char *pack_id);

#endif
