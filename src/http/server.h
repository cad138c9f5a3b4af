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

/* Graceful stop: stops accepting, lets in-flight requests finish (up to 30 s), then
 * closes every connection and frees the server. */
void http_server_stop(struct http_server *s);

#endif
