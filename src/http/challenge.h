/* tlsward's HTTP-01 responder (--http-challenge-listen): a second, minimal libmicrohttpd
 * daemon, apart from the API, that answers GET/HEAD /.well-known/acme-challenge/<token>
 * with the body of the pending http validation record of that token (text/plain), 404 for
 * any other path or token, 405 for any other method. No authentication: an ACME server, or
 * tlsward's own HTTP check, fetches it. Tokens are looked up in the store per request
 * (store_http_challenge_body), so packs ordered after it started are served. */
#ifndef TLSWARD_HTTP_CHALLENGE_H
#define TLSWARD_HTTP_CHALLENGE_H

struct store;
struct http_challenge_server;

#define HTTP_CHALLENGE_CONNECTIONS 256u /* at once; more wait in the listen backlog */
#define HTTP_CHALLENGE_TIMEOUT_S 10u    /* an idle connection is closed after */

/* Binds `listen_on` (ADDR:PORT; port 0 picks a free one), starts serving from `store`
 * (borrowed; must outlive the server) and logs "challenge responder listening on
 * http://ADDR:PORT". Returns 0, or -1 with a logged reason. */
int http_challenge_start(struct store *store, const char *listen_on,
                         struct http_challenge_server **out);
int http_challenge_port(const struct http_challenge_server *s);
/* Stops accepting, lets requests in progress finish, and frees the server. NULL: no-op. */
void http_challenge_stop(struct http_challenge_server *s);

#endif
