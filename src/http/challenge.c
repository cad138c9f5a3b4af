/* The HTTP-01 responder (challenge.h). One thread per connection, as the API server
 * (a lookup is one indexed store read), with a small connection limit, short timeouts and
 * little memory per connection: all it ever reads is a request line and headers. */
#include "http/challenge.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "core/dcv_records.h"
#include "http/server.h"
#include "store/store.h"

struct http_challenge_server {
    struct store *store;
    struct MHD_Daemon *daemon;
    int listen_fd;
    char host[256];
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             bool allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Per-request state, in *con_cls: SEEN after the headers, ANSWERED once a response is queued. */
static char seen, answered;

/* A GET or HEAD is answered once its (empty) request is complete, so the connection can stay
 * open for the next one; anything else is refused at the headers, so its upload is never
 * read (libmicrohttpd then closes the connection), and a GET that sends a body is dropped. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_challenge_server *srv = cls;
    bool readable =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (*con_cls == &answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!*con_cls && readable) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size)
        return MHD_NO; /* a body on a GET: nothing here reads one */
    *con_cls = &answered;
    unsigned status;
    enum MHD_Result rc;
    char body[STORE_HTTP_BODY_MAX + 1];
    const char *token = strncmp(url, DCV_HTTP_PATH, strlen(DCV_HTTP_PATH)) == 0
                            ? url + strlen(DCV_HTTP_PATH)
                            : NULL;
    if (!readable) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        rc = reply(conn, status, "method not allowed: GET or HEAD only\n", true);
    } else if (!token || !dcv_token_valid(token)) {
        status = MHD_HTTP_NOT_FOUND;
        rc = reply(conn, status, "not found\n", false);
    } else {
        int found = store_http_challenge_body(srv->store, token, body);
        status = found == STORE_OK          ? MHD_HTTP_OK
                 : found == STORE_NOT_FOUND ? MHD_HTTP_NOT_FOUND
                                            : MHD_HTTP_SERVICE_UNAVAILABLE;
        rc = reply(conn, status,
                   status == MHD_HTTP_OK          ? body
                   : status == MHD_HTTP_NOT_FOUND ? "not found\n"
                                                  : "store unavailable\n",
                   false);
    }
    /* The token is public (it is in the URL the CA fetches); the body is never logged, nor a
     * path or method that is not ours (they could carry anything, newlines included). */
    bool ours = token && dcv_token_valid(token);
    log_msg(LOG_INFO, "challenge responder: %s %s%s %u",
            status == MHD_HTTP_METHOD_NOT_ALLOWED ? "(method)" : method,
            ours ? DCV_HTTP_PATH : "(other path)", ours ? token : "", status);
    return rc;
}

int http_challenge_start(struct store *store, const char *listen_on,
                         struct http_challenge_server **out)
{
    struct http_challenge_server *srv = xcalloc(1, sizeof *srv);
    srv->store = store;
    srv->listen_fd =
        http_listen_socket("--http-challenge-listen", listen_on, srv->host, &srv->port);
    if (srv->listen_fd < 0) {
        xfree(srv);
        return -1;
    }
    const struct MHD_OptionItem options[] = {
        {MHD_OPTION_CONNECTION_LIMIT, HTTP_CHALLENGE_CONNECTIONS, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, 32, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CHALLENGE_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = http_mhd_start("challenge responder", srv->listen_fd,
                                 MHD_USE_THREAD_PER_CONNECTION, on_request, srv, options);
    if (!srv->daemon) {
        log_msg(LOG_ERROR, "cannot start the challenge responder on %s", listen_on);
        close(srv->listen_fd);
        xfree(srv);
        return -1;
    }
    http_log_listening("challenge responder ", "http", srv->host, srv->port);
    *out = srv;
    return 0;
}

int http_challenge_port(const struct http_challenge_server *s)
{
    return s->port;
}

void http_challenge_stop(struct http_challenge_server *srv)
{
    if (!srv)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    MHD_stop_daemon(srv->daemon); /* waits for the connection threads */
    if (fd != MHD_INVALID_SOCKET) /* quiesced: the socket is ours again (else MHD closed it) */
        close(fd);
    xfree(srv);
}
