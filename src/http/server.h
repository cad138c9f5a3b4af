/* The HTTP listener: libmicrohttpd with an internal thread pool over epoll, feeding every
 * request through the pipeline. */
#ifndef TLSWARD_HTTP_SERVER_H
#define TLSWARD_HTTP_SERVER_H

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

/* Graceful stop: stops accepting, lets in-flight requests finish (up to 30 s), then
 * closes every connection and frees the server. */
void http_server_stop(struct http_server *s);

#endif
