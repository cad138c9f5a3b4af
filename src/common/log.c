/* Logging: one line per event on stderr, as text or as JSON objects (--log-format). Every
 * message and every field that may carry outside text (a request path, a method) is
 * escaped (common/text.h) before it is written, so a line is always valid UTF-8 and one
 * line: a JSON line is never dropped and a newline in a path never starts a forged line. */
#include "common/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/text.h"
#include "common/util.h"

static enum log_format log_format = LOG_FORMAT_TEXT;
static enum log_level log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_format(enum log_format format)
{
    log_format = format;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

/* Writes one finished line; the lock keeps lines from interleaving across threads. */
static void emit(const char *line)
{
    pthread_mutex_lock(&log_lock);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

static void emit_json(json_t *obj)
{
    char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (line) {
        emit(line);
        free(line);
    } else { /* out of memory: say so rather than drop the line silently */
        emit("{\"level\":\"error\",\"msg\":\"a log line could not be encoded\"}");
    }
    json_decref(obj);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char raw[1024], msg[TEXT_ESCAPED_MAX(1024)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    text_escape(raw, strlen(raw), msg, sizeof msg, 0);
    char ts[40];
    util_format_time(util_now_us(), ts);
    if (log_format == LOG_FORMAT_JSON) {
        emit_json(json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level], "msg",
                            msg));
        return;
    }
    char line[sizeof msg + 64];
    snprintf(line, sizeof line, "%s %s %s", ts, level_names[level], msg);
    emit(line);
}

void log_request(const struct log_request *r)
{
    if (LOG_INFO < log_level)
        return;
    char ts[40];
    util_format_time(util_now_us(), ts);
    const char *token = r->token_id ? r->token_id : "-";
    /* Text lines are space-separated fields, so a space in the path is escaped there too. */
    unsigned flags = log_format == LOG_FORMAT_TEXT ? TEXT_ESCAPE_SPACE : 0;
    char method[TEXT_ESCAPED_MAX(32)], path[TEXT_ESCAPED_MAX(1024)];
    text_escape(r->method, strnlen(r->method, 32), method, sizeof method, flags);
    text_escape(r->path, strnlen(r->path, 1024), path, sizeof path, flags);
    if (log_format == LOG_FORMAT_JSON) {
        emit_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:s}", "time", ts, "level",
                            "info", "method", method, "route", r->route, "path", path, "status",
                            r->status, "us", (json_int_t)r->micros, "request_id", r->request_id,
                            "token_id", token));
        return;
    }
    char line[sizeof path + sizeof method + 256];
    snprintf(line, sizeof line, "%s info request %s %s route=%s status=%d us=%lld id=%s token=%s",
             ts, method, path, r->route, r->status, r->micros, r->request_id, token);
    emit(line);
}
