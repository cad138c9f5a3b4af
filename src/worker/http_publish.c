/* Publication of HTTP-01 challenges: store rows for the responder, files for --webroot
 * (http_publish.h). */
#include "worker/http_publish.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "core/dcv_records.h"

/* The token of an http_url: what follows /.well-known/acme-challenge/ (NULL if absent). */
static const char *url_token(const char *url)
{
    const char *p = strstr(url, DCV_HTTP_PATH);
    return p ? p + strlen(DCV_HTTP_PATH) : NULL;
}

/* A body is served as text/plain as it is: printable ASCII only, bounded. */
static bool body_valid(const char *body)
{
    size_t n = strlen(body);
    if (n == 0 || n > STORE_HTTP_BODY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (body[i] < 0x21 || body[i] > 0x7e)
            return false;
    return true;
}

void http_publish_records(const struct store_pack *p, struct store_http_challenge **out, int *count)
{
    *out = NULL;
    *count = 0;
    for (int i = 0; p && i < p->validation_record_count; i++) {
        const struct store_validation_record *rec = &p->validation_records[i];
        const char *token = rec->http_url[0] ? url_token(rec->http_url) : NULL;
        const char *body = rec->http_body;
        if (!token || !body[0])
            continue; /* not an http record */
        if (!dcv_token_valid(token) || !body_valid(body)) {
            log_msg(LOG_WARN,
                    "an http validation record is not fit to publish (token of %zu "
                    "characters); skipped",
                    strlen(token));
            continue;
        }
        if (!*out)
            *out = xcalloc((size_t)p->validation_record_count, sizeof **out);
        snprintf((*out)[*count].token, sizeof(*out)[*count].token, "%s", token);
        snprintf((*out)[*count].body, sizeof(*out)[*count].body, "%s", body);
        (*count)++;
    }
}

static const struct store_http_challenge *find(const struct store_http_challenge *list, int n,
                                               const char *token)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].token, token) == 0)
            return &list[i];
    return NULL;
}

/* ---- the webroot ---- */

/* mkdir with exactly `mode` when it creates the directory (mkdir applies the umask, and a
 * web server running as another user must traverse it); an existing one is left as is. */
static int make_dir(const char *path)
{
    if (mkdir(path, HTTP_PUBLISH_DIR_MODE) == 0)
        return chmod(path, HTTP_PUBLISH_DIR_MODE);
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return -1;
}

/* Writes DIR/.well-known/acme-challenge/<token> atomically (0644), unless it already holds
 * the body. */
static int write_file(const char *webroot, const struct store_http_challenge *h)
{
    char *wk = xasprintf("%s/.well-known", webroot);
    char *dir = xasprintf("%s/" HTTP_PUBLISH_DIR, webroot);
    char *path = xasprintf("%s/%s", dir, h->token), *have = NULL;
    size_t len = 0, want = strlen(h->body);
    int rc = 0;
    bool same = fsutil_read_file(path, STORE_HTTP_BODY_MAX, &have, &len) == 0 && len == want &&
                memcmp(have, h->body, len) == 0;
    if (!same && (make_dir(wk) < 0 || make_dir(dir) < 0 ||
                  fsutil_write_atomic(path, h->body, want, HTTP_PUBLISH_FILE_MODE, 0) < 0)) {
        log_msg(LOG_WARN, "--webroot: cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    xfree(have);
    xfree(path);
    xfree(dir);
    xfree(wk);
    return rc;
}

static int remove_file(const char *webroot, const struct store_http_challenge *h)
{
    char *path = xasprintf("%s/" HTTP_PUBLISH_DIR "/%s", webroot, h->token);
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    if (rc < 0)
        log_msg(LOG_WARN, "--webroot: cannot remove %s: %s", path, strerror(errno));
    else
        (void)fsutil_fsync_dir(path);
    xfree(path);
    return rc;
}

/* ---- sync ---- */

int http_publish_sync(struct app *app, const char *pack_id, const struct store_pack *p)
{
    const char *webroot = app->config.webroot;
    struct store_http_challenge *want = NULL, *have = NULL, *gone = NULL;
    int nwant = 0, nhave = 0, ngone = 0, rc = -1;
    http_publish_records(p, &want, &nwant);
    if (store_http_challenges_of(app->store, pack_id, &have, &nhave) != STORE_OK)
        goto out;
    /* Rows first, so they cover every file written below. */
    bool missing = false;
    for (int i = 0; i < nwant && !missing; i++) {
        const struct store_http_challenge *h = find(have, nhave, want[i].token);
        missing = !h || strcmp(h->body, want[i].body) != 0;
    }
    if (missing && store_http_challenges_put(app->store, pack_id, want, nwant) != STORE_OK)
        goto out;
    for (int i = 0; webroot && i < nwant; i++)
        if (write_file(webroot, &want[i]) < 0)
            goto out;
    /* What was published and is no more: files removed first, then their rows. */
    gone = nhave ? xcalloc((size_t)nhave, sizeof *gone) : NULL;
    for (int i = 0; i < nhave; i++) {
        if (find(want, nwant, have[i].token))
            continue;
        if (webroot && remove_file(webroot, &have[i]) < 0)
            goto out;
        gone[ngone++] = have[i];
    }
    if (store_http_challenges_drop(app->store, pack_id, gone, ngone) != STORE_OK)
        goto out;
    if (missing || ngone)
        log_msg(LOG_INFO, "pack %s: %d http challenge(s) published, %d withdrawn", pack_id, nwant,
                ngone);
    rc = 0;
out:
    if (rc < 0)
        log_msg(LOG_WARN, "pack %s: publishing its http challenges failed", pack_id);
    xfree(gone);
    xfree(have);
    xfree(want);
    return rc;
}

int http_publish_clear(struct app *app, const char *pack_id)
{
    return http_publish_sync(app, pack_id, NULL);
}
