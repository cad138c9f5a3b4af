/* The HTTP listener: libmicrohttpd with an internal thread pool over epoll, feeding every
 * request through the pipeline. */
#ifndef TLSWARD_HTTP_SERVER_H
#define TLSWARD_HTTP_SERVER_H

#include <microhttpd.h>

struct app;
struct http_server;

/* Binds app->config.listen (port 0 picks a free port), starts serving and logs
 * "listening on http(s)://HOST:PORT". Returns 0, or -1 with a logged reason. */
int http_server_start(struct app *app, struct http_server **out);
int http_server_port(const struct http_server *s);

/* Binds and listens on "host:port" or "[v6]:port" (port 0 picks a free one), so the
 * caller can report the port; `flag` names the option in error lines. Returns the
 * non-blocking socket with *port_out and host filled, or -1 with a logged reason. */
int http_listen_socket(const char *flag, const char *listen_on, char host[256], int *port_out);

/* Starts libmicrohttpd on the bound listen_fd the way every listener here runs it: with its
 * own internal thread(s), its error lines logged as warnings "<log_prefix>: ...", plus the
 * caller's threading and other flags (MHD_USE_THREAD_PER_CONNECTION, or epoll with a
 * thread pool) and options (an array ended by {MHD_OPTION_END, 0, NULL};
 * options taking a function pointer carry it cast to intptr_t). NULL on failure (listen_fd
 * stays the caller's). */
struct MHD_Daemon *http_mhd_start(const char *log_prefix, int listen_fd, unsigned extra_flags,
                                  MHD_AccessHandlerCallback handler, void *handler_cls,
                                  const struct MHD_OptionItem *options);

/* Logs "<what>listening on <scheme>://HOST:PORT" (an IPv6 host in brackets). */
void http_log_listening(const char *what, const char *scheme, const char *host, int port);

/* Graceful stop: stops accepting, lets in-flight requests finish (up to 30 s), then
 * closes every connection and frees the server. */
void http_server_stop(struct http_server *s);

#endif
