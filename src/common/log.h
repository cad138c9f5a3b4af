/* One logging function with levels (as redis' serverLog), text or JSON lines on stderr.
 * Never pass a secret (token, key, password) to these functions. */
#ifndef TLSWARD_COMMON_LOG_H
#define TLSWARD_COMMON_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_set_format(enum log_format format);
void log_set_level(enum log_level level);
/* Free-form message. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per HTTP request. token_id may be NULL (unauthenticated). */
struct log_request {
    const char *method;
    const char *route; /* the route pattern, not the raw path (no ids in metrics) */
    const char *path;
    int status;
    long long micros;
    const char *request_id;
    const char *token_id;
};
/* Buffered: written within ACCESS_FLUSH_MS (log.c), before any later non-request line. */
void log_request(const struct log_request *r);
/* Writes the buffered request lines now (also run at exit). */
void log_flush(void);

#endif
