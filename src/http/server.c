/* libmicrohttpd glue.
 *
 * Threads: a few event threads (libmicrohttpd's epoll mode with its own thread pool, one
 * thread per core) read requests and write answers for every connection; they never block.
 * A request that may block (a write waiting for its group commit, a signature, a query
 * that crosses the network to PostgreSQL) is handed to a pool of blocking threads: the
 * connection is suspended, the handler runs there, and the connection is resumed to send
 * the answer. A read-only request on SQLite runs on the event thread itself: it takes tens
 * of microseconds, and handing it over would cost more than running it. With one thread per
 * connection (the previous design), 32 busy keep-alive clients on 2 cores spent a fifth of
 * the CPU switching between threads.
 *
 * Bodies: the first call of the access handler sees only the request line and headers, and
 * that is where the pipeline routes, authenticates, rate-limits and checks permissions
 * (pipeline_admit). A refused request with a body is answered right there, so its upload is
 * never read (libmicrohttpd then closes the connection); one without a body is answered at
 * the usual point, keeping the connection alive. An admitted request's body is accumulated
 * up to REQUEST_BODY_MAX; a larger one is read and dropped (bounded) and answered 413, so
 * the client gets a proper answer instead of a reset. On a store across the network,
 * admission is a round trip too (the token lookup), so it runs on a blocking thread: the
 * connection is suspended in that first call, before any body is read, and libmicrohttpd
 * repeats the call once it is resumed; a request without a body has its handler run in the
 * same hand-off. On SQLite admission stays on the event thread. In-flight requests are
 * counted so shutdown can wait for them (and for every suspended connection to be resumed,
 * which libmicrohttpd requires before it stops). */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "common/work_pool.h"
#include "http/metrics.h"
#include "http/pipeline.h"
#include "http/ratelimit.h"

_Static_assert(sizeof((struct request){0}.client_key) == RATELIMIT_ADDRESS_KEY_SIZE,
               "request.client_key holds a ratelimit_address_key");

/* Bodies beyond this are not even drained: the connection is closed. */
#define DISCARD_MAX (64u * 1024 * 1024)
#define SHUTDOWN_GRACE_US (30 * 1000000LL)
/* Blocking threads: enough for every request a group commit can batch to wait at once. */
#define BLOCKING_THREADS 64
#define EVENT_THREADS_MAX 64

struct http_server {
    struct app *app;
    struct MHD_Daemon *daemon;
    int listen_fd;
    char host[256];
    int port;
    atomic_int in_flight;
    atomic_int deferred; /* deferred outcomes not finished yet (request_defer) */
    char *tls_cert, *tls_key;
    struct work_pool *blocking; /* handlers that may block */
    bool reads_block;           /* the store is across a network: reads block too */
};

/* Where an admitted request's handler is in its life. */
enum exchange_stage {
    STAGE_RECEIVING, /* headers admitted, body (if any) arriving */
    STAGE_BLOCKING,  /* the handler runs on a blocking thread; the connection is suspended */
    STAGE_HANDLED,   /* the outcome is in req, ready to be queued */
};

struct exchange {
    struct http_server *srv;
    struct request req;
    struct work_item work; /* for the blocking pool */
    struct MHD_Connection *conn;
    char *method, *url;
    bool too_large;
    bool refused;   /* pipeline_admit said no: the outcome waits in req */
    bool admitting; /* pipeline_admit runs on a blocking thread, the connection suspended */
    size_t body_cap;
    size_t discarded;
    int64_t started_us;
    bool responded;
    _Atomic enum exchange_stage stage;
    /* Parties still to finish before a blocking handler's answer goes: its thread, and
     * whoever finishes a deferred outcome (request_defer). The last one resumes. */
    atomic_int holds;
};

static const char *lookup(void *ctx, enum request_lookup_kind kind, const char *key)
{
    return MHD_lookup_connection_value(
        ctx, kind == REQUEST_HEADER ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND, key);
}

static struct exchange *exchange_create(struct http_server *srv, struct MHD_Connection *conn,
                                        const char *method, const char *url)
{
    struct exchange *ex = xcalloc(1, sizeof *ex);
    ex->srv = srv;
    ex->conn = conn;
    ex->method = xstrdup(method);
    ex->url = xstrdup(url);
    ex->started_us = util_mono_us();
    request_init(&ex->req, srv->app, ex->method, ex->url, lookup, conn);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr)
        ratelimit_address_key(info->client_addr, ex->req.client_key);
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long declared;
    if (length && util_parse_int(length, 0, INT64_MAX, &declared) == 0 &&
        declared > REQUEST_BODY_MAX)
        ex->too_large = true;
    atomic_fetch_add(&srv->in_flight, 1);
    return ex;
}

/* Appends an upload chunk; returns false when the connection should be dropped. */
static bool take_upload(struct exchange *ex, const char *data, size_t n)
{
    struct request *req = &ex->req;
    if (!ex->too_large && req->body_len + n > REQUEST_BODY_MAX) {
        ex->too_large = true;
        ex->discarded = req->body_len;
        xfree(req->body);
        req->body = NULL;
        req->body_len = 0;
    }
    if (ex->too_large) {
        ex->discarded += n;
        return ex->discarded <= DISCARD_MAX;
    }
    if (req->body_len + n + 1 > ex->body_cap) {
        ex->body_cap = (req->body_len + n + 1) * 2;
        if (ex->body_cap > REQUEST_BODY_MAX + 1)
            ex->body_cap = REQUEST_BODY_MAX + 1;
        req->body = xrealloc(req->body, ex->body_cap);
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return true;
}

/* Whether the request announces a body (libmicrohttpd refuses a malformed length). */
static bool announces_body(struct MHD_Connection *conn)
{
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    long long n;
    return length && !(util_parse_int(length, 0, INT64_MAX, &n) == 0 && n == 0);
}

/* Queues the outcome recorded in the request. */
static enum MHD_Result respond(struct http_server *srv, struct exchange *ex)
{
    struct request *req = &ex->req;
    /* Counted before the response leaves, so a scrape right after it includes it. */
    metrics_record(srv->app->metrics, req->route, req->status, util_mono_us() - ex->started_us);
    char *body;
    size_t len;
    const char *type;
    request_render(req, &body, &len, &type);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (req->allow[0] && req->status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
    if (req->retry_after > 0) {
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%ld", req->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    enum MHD_Result rc = MHD_queue_response(ex->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    ex->responded = true;
    return rc;
}

/* Whether the handler may block the thread it runs on. Quick reads on SQLite do not: WAL
 * readers never wait for writers. */
static bool handler_may_block(const struct http_server *srv, const struct request *req)
{
    return srv->reads_block || api_route_may_block(req->route);
}

/* One party has finished; the last wakes the connection up to answer (and may not touch
 * the exchange after: the answer's completion frees it). */
static void release_answer(struct exchange *ex)
{
    if (atomic_fetch_sub(&ex->holds, 1) != 1)
        return;
    atomic_store(&ex->stage, STAGE_HANDLED);
    MHD_resume_connection(ex->conn);
}

/* request_defer and request_finish (the deferral hooks of a blocking handler). */
static void defer_answer(void *ctx)
{
    struct exchange *ex = ctx;
    atomic_fetch_add(&ex->srv->deferred, 1);
    atomic_fetch_add(&ex->holds, 1);
}

static void finish_deferred(void *ctx)
{
    struct exchange *ex = ctx;
    struct http_server *srv = ex->srv; /* ex may be gone once released */
    release_answer(ex);
    atomic_fetch_sub(&srv->deferred, 1);
}

/* On a blocking thread: runs the handler, then wakes the connection up to answer, unless
 * the handler deferred its outcome and that is not finished yet (its finisher does it). */
static void handle_blocking(struct work_item *item)
{
    struct exchange *ex = (struct exchange *)((char *)item - offsetof(struct exchange, work));
    atomic_store(&ex->holds, 1);
    ex->req.deferral = (struct request_deferral){defer_answer, finish_deferred, ex};
    pipeline_handle(&ex->req, ex->too_large);
    release_answer(ex);
}

/* On a blocking thread: admits the request and, when no body is to come, handles it too;
 * then wakes the connection up, which libmicrohttpd resumes into the headers call again. */
static void admit_blocking(struct work_item *item)
{
    struct exchange *ex = (struct exchange *)((char *)item - offsetof(struct exchange, work));
    ex->refused = pipeline_admit(&ex->req, api_routes, api_route_count) != 0;
    if (!ex->refused && !announces_body(ex->conn)) {
        pipeline_handle(&ex->req, ex->too_large);
        atomic_store(&ex->stage, STAGE_HANDLED);
    }
    MHD_resume_connection(ex->conn);
}

/* The headers call once admission is decided: a refused request with a body is answered
 * before its upload is read; any other waits for the call that ends the request. */
static enum MHD_Result admitted(struct http_server *srv, struct exchange *ex)
{
    return ex->refused && announces_body(ex->conn) ? respond(srv, ex) : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct exchange *ex = *con_cls;
    if (!ex) {
        *con_cls = ex = exchange_create(srv, conn, method, url);
        if (srv->reads_block) {
            ex->admitting = true;
            MHD_suspend_connection(conn);
            work_pool_submit(srv->blocking, &ex->work, admit_blocking);
            return MHD_YES;
        }
        ex->refused = pipeline_admit(&ex->req, api_routes, api_route_count) != 0;
        return admitted(srv, ex);
    }
    if (ex->admitting) { /* resumed: libmicrohttpd repeats the headers call */
        ex->admitting = false;
        return admitted(srv, ex);
    }
    if (*upload_data_size) {
        /* A refused request's upload is never kept (libmicrohttpd does not deliver it). */
        bool keep = ex->refused || take_upload(ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (ex->responded)
        return MHD_YES;
    if (!ex->refused && atomic_load(&ex->stage) == STAGE_RECEIVING) {
        if (handler_may_block(srv, &ex->req)) {
            atomic_store(&ex->stage, STAGE_BLOCKING);
            MHD_suspend_connection(conn);
            work_pool_submit(srv->blocking, &ex->work, handle_blocking);
            return MHD_YES;
        }
        pipeline_handle(&ex->req, ex->too_large);
    }
    return respond(srv, ex);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    struct http_server *srv = cls;
    struct exchange *ex = *con_cls;
    if (!ex)
        return;
    struct request *req = &ex->req;
    int64_t micros = util_mono_us() - ex->started_us;
    int status = ex->responded ? req->status : 499; /* 499: client went away first */
    struct log_request line = {
        .method = ex->method,
        .route = req->route ? req->route->pattern : "unmatched",
        .path = ex->url,
        .status = status,
        .micros = micros,
        .request_id = req->request_id,
        .token_id = req->principal.kind != PRINCIPAL_NONE ? req->principal.id : NULL,
    };
    log_request(&line);
    request_free(req);
    xfree(ex->method);
    xfree(ex->url);
    xfree(ex);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decoding of the path and query arguments, in place: as libmicrohttpd's own
 * (malformed escapes stay as they are), except that "%00" stays "%00". A decoded NUL would
 * silently cut the string short: "/zones/%00" would be served as "/zones/", the list. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_digit(r[1])) >= 0 && (lo = hex_digit(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* libmicrohttpd's own error lines; cls is the prefix that names the listener. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(LOG_WARN, "%s: %s", (const char *)cls, msg);
}

struct MHD_Daemon *http_mhd_start(const char *log_prefix, int listen_fd, unsigned extra_flags,
                                  MHD_AccessHandlerCallback handler, void *handler_cls,
                                  const struct MHD_OptionItem *options)
{
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | extra_flags;
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_cls, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, (void *)log_prefix, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

void http_log_listening(const char *what, const char *scheme, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    log_msg(LOG_INFO, "%slistening on %s://%s%s%s:%d", what, scheme, v6 ? "[" : "", host,
            v6 ? "]" : "", port);
}

/* Splits "host:port" or "[v6]:port". */
static int split_listen(const char *listen_on, char *host, size_t host_size, char *port,
                        size_t port_size)
{
    const char *colon = strrchr(listen_on, ':');
    if (!colon || colon == listen_on || !colon[1])
        return -1;
    const char *h = listen_on;
    size_t hlen = (size_t)(colon - listen_on);
    if (h[0] == '[') {
        if (hlen < 2 || h[hlen - 1] != ']')
            return -1;
        h++;
        hlen -= 2;
    }
    if (hlen >= host_size || strlen(colon + 1) >= port_size)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, port_size, "%s", colon + 1);
    return 0;
}

int http_listen_socket(const char *flag, const char *listen_on, char host[256], int *port_out)
{
    char port[16];
    if (split_listen(listen_on, host, 256, port, sizeof port) < 0) {
        log_msg(LOG_ERROR, "%s %s: expected HOST:PORT", flag, listen_on);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        log_msg(LOG_ERROR, "%s %s: %s", flag, listen_on, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
        log_msg(LOG_ERROR, "%s %s: %s", flag, listen_on, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    *port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static int load_tls(struct http_server *srv, const struct app_config *cfg)
{
    size_t len;
    if (!cfg->tls_cert_file && !cfg->tls_key_file)
        return 0;
    if (!cfg->tls_cert_file || !cfg->tls_key_file) {
        log_msg(LOG_ERROR, "--tls-cert and --tls-key go together");
        return -1;
    }
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        log_msg(LOG_ERROR, "this libmicrohttpd has no TLS support");
        return -1;
    }
    if (fsutil_read_file(cfg->tls_cert_file, 1 << 20, &srv->tls_cert, &len) < 0 ||
        fsutil_read_file(cfg->tls_key_file, 1 << 20, &srv->tls_key, &len) < 0) {
        log_msg(LOG_ERROR, "cannot read --tls-cert/--tls-key: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* One event thread per core the process may run on. */
static intptr_t event_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > EVENT_THREADS_MAX ? EVENT_THREADS_MAX : n;
}

static void server_free(struct http_server *srv)
{
    work_pool_stop(srv->blocking);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->tls_key)
        OPENSSL_cleanse(srv->tls_key, strlen(srv->tls_key));
    xfree(srv->tls_cert);
    xfree(srv->tls_key);
    xfree(srv);
}

int http_server_start(struct app *app, struct http_server **out)
{
    struct http_server *srv = xcalloc(1, sizeof *srv);
    srv->app = app;
    srv->listen_fd = -1;
    if (load_tls(srv, &app->config) < 0 ||
        (srv->listen_fd =
             http_listen_socket("--listen", app->config.listen, srv->host, &srv->port)) < 0) {
        server_free(srv);
        return -1;
    }
    srv->reads_block = store_is_remote(app->store);
    srv->blocking = work_pool_start(BLOCKING_THREADS, "http-block");
    if (!srv->blocking) {
        server_free(srv);
        return -1;
    }
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, event_threads(), NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 1024, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, srv},
        {srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {srv->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     (srv->tls_cert ? MHD_USE_TLS : 0);
    srv->daemon = http_mhd_start("http", srv->listen_fd, flags, on_request, srv, options);
    if (!srv->daemon) {
        log_msg(LOG_ERROR, "cannot start the HTTP server on %s", app->config.listen);
        server_free(srv);
        return -1;
    }
    http_log_listening("", srv->tls_cert ? "https" : "http", srv->host, srv->port);
    *out = srv;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
        srv->listen_fd = -1;
    }
    int64_t deadline = util_mono_us() + SHUTDOWN_GRACE_US;
    while (atomic_load(&srv->in_flight) > 0 && util_mono_us() < deadline)
        usleep(10000);
    /* libmicrohttpd must not stop with a connection suspended: finish every handler on a
     * blocking thread first (each resumes its connection), then every deferred outcome
     * (their writes' commits resume theirs). */
    work_pool_stop(srv->blocking);
    srv->blocking = NULL;
    /* As long as it takes, as work_pool_stop waits for its handlers: a commit still to
     * come resumes a connection of this daemon. Said once if it takes long. */
    deadline = util_mono_us() + SHUTDOWN_GRACE_US;
    bool said = false;
    while (atomic_load(&srv->deferred) > 0) {
        if (!said && util_mono_us() >= deadline) {
            log_msg(LOG_WARN, "http: %d answers still wait for their commits at shutdown",
                    atomic_load(&srv->deferred));
            said = true;
        }
        usleep(1000);
    }
    MHD_stop_daemon(srv->daemon);
    server_free(srv);
}
