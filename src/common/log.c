/* Logging: one line per event on stderr, as text or as JSON objects (--log-format). Every
 * message and every field that may carry outside text (a request path, a method) is
 * escaped (common/text.h) before it is written, so a line is always valid UTF-8 and one
 * line: a JSON line is never dropped and a newline in a path never starts a forged line.
 *
 * Request lines (one per HTTP request, the hot path) are buffered: appended to a memory
 * buffer that a background thread writes out ACCESS_FLUSH_MS after its first line, or the
 * appending thread writes when it is full (so a slow stderr slows requests down instead of
 * dropping lines). Every other line is written at once, after whatever request lines are
 * pending, so lines keep their order and a warning is never held back. log_flush writes
 * what is pending; it runs at exit too. Text request lines are assembled with plain copies,
 * not a formatted print per field. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "common/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/text.h"
#include "common/util.h"

static enum log_format log_format = LOG_FORMAT_TEXT;
static enum log_level log_level = LOG_INFO;
/* Held while writing to stderr: by the flusher, a full-buffer writer or a direct line. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

#define ACCESS_BUFFER_SIZE (64 * 1024)
#define ACCESS_FLUSH_MS 50
/* Pending request lines. `pending` is appended to under `lock`; a writer (holding log_lock)
 * swaps it with `spare` and writes the swapped-out text without holding `lock`. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the flusher: a first line is pending */
    char bufs[2][ACCESS_BUFFER_SIZE];
    char *pending, *spare;
    size_t len;
    bool flusher; /* the flusher thread runs; without it every line is written at once */
    pthread_once_t once;
} access_log = {.lock = PTHREAD_MUTEX_INITIALIZER,
                .wake = PTHREAD_COND_INITIALIZER,
                /* set here, not when the flusher starts: any log line may swap them first */
                .pending = access_log.bufs[0],
                .spare = access_log.bufs[1],
                .once = PTHREAD_ONCE_INIT};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_format(enum log_format format)
{
    log_format = format;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

/* Writes the pending request lines; the caller holds log_lock. */
static void write_pending_locked(void)
{
    pthread_mutex_lock(&access_log.lock);
    char *out = access_log.pending;
    size_t len = access_log.len;
    access_log.pending = access_log.spare;
    access_log.spare = out;
    access_log.len = 0;
    pthread_mutex_unlock(&access_log.lock);
    if (len)
        fwrite(out, 1, len, stderr);
}

void log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    write_pending_locked();
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

/* Writes one finished line after the pending request lines; the lock keeps lines from
 * interleaving across threads. */
static void emit(const char *line)
{
    pthread_mutex_lock(&log_lock);
    write_pending_locked();
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

/* The flusher: waits for a first pending line, lets more gather, writes them all. */
static void *access_flusher(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&access_log.lock);
        while (access_log.len == 0)
            pthread_cond_wait(&access_log.wake, &access_log.lock);
        pthread_mutex_unlock(&access_log.lock);
        usleep(ACCESS_FLUSH_MS * 1000);
        log_flush();
    }
    return NULL;
}

static void access_log_start(void)
{
    pthread_t flusher;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&flusher, &attr, access_flusher, NULL) == 0) {
        pthread_setname_np(flusher, "log-flush");
        access_log.flusher = true;
    }
    pthread_attr_destroy(&attr);
    atexit(log_flush);
}

/* Queues one request line (text, with its newline). Without a flusher thread (it could not
 * start), or when the buffer is full, the caller writes. */
static void emit_buffered(const char *line, size_t n)
{
    pthread_once(&access_log.once, access_log_start);
    for (;;) {
        pthread_mutex_lock(&access_log.lock);
        if (access_log.len + n <= ACCESS_BUFFER_SIZE) {
            memcpy(access_log.pending + access_log.len, line, n);
            if (access_log.len == 0)
                pthread_cond_signal(&access_log.wake);
            access_log.len += n;
            pthread_mutex_unlock(&access_log.lock);
            if (!access_log.flusher)
                log_flush();
            return;
        }
        pthread_mutex_unlock(&access_log.lock);
        log_flush();
    }
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
        emit_json(
            json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level], "msg", msg));
        return;
    }
    char line[sizeof msg + 64];
    snprintf(line, sizeof line, "%s %s %s", ts, level_names[level], msg);
    emit(line);
}

/* Appends text to a line being built; the line's buffer is sized for its worst case. */
struct line {
    char *p;
    size_t n;
};

/* At most max bytes of s. */
static void put_max(struct line *l, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    memcpy(l->p + l->n, s, n);
    l->n += n;
}

static void put(struct line *l, const char *s)
{
    put_max(l, s, SIZE_MAX);
}

static void put_int(struct line *l, long long v)
{
    char digits[24];
    size_t i = sizeof digits;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        digits[--i] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        digits[--i] = '-';
    memcpy(l->p + l->n, digits + i, sizeof digits - i);
    l->n += sizeof digits - i;
}

/* The current time as util_format_time writes it; the date and time of day are formatted
 * once a second per thread. */
static void format_now(char out[UTIL_TIME_LEN])
{
    static _Thread_local int64_t cached_second = -1;
    static _Thread_local char cached[UTIL_TIME_LEN];
    int64_t us = util_now_us();
    int64_t second = us / 1000000;
    if (second != cached_second) {
        util_format_time(second * 1000000, cached); /* "...:SSZ" */
        cached[strlen(cached) - 1] = '\0';          /* drop the Z */
        cached_second = second;
    }
    long frac = (long)(us % 1000000);
    struct line l = {out, 0};
    put(&l, cached);
    if (frac) {
        char six[7];
        for (int i = 5; i >= 0; i--, frac /= 10)
            six[i] = (char)('0' + frac % 10);
        six[6] = '\0';
        put(&l, ".");
        put(&l, six);
    }
    put(&l, "Z");
    out[l.n] = '\0';
}

void log_request(const struct log_request *r)
{
    if (LOG_INFO < log_level)
        return;
    char ts[UTIL_TIME_LEN];
    format_now(ts);
    const char *token = r->token_id ? r->token_id : "-";
    /* Text lines are space-separated fields, so a space in the path is escaped there too. */
    unsigned flags = log_format == LOG_FORMAT_TEXT ? TEXT_ESCAPE_SPACE : 0;
    char method[TEXT_ESCAPED_MAX(32)], path[TEXT_ESCAPED_MAX(1024)];
    text_escape(r->method, strnlen(r->method, 32), method, sizeof method, flags);
    text_escape(r->path, strnlen(r->path, 1024), path, sizeof path, flags);
    if (log_format == LOG_FORMAT_JSON) {
        json_t *obj =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:s}", "time", ts, "level", "info",
                      "method", method, "route", r->route, "path", path, "status", r->status, "us",
                      (json_int_t)r->micros, "request_id", r->request_id, "token_id", token);
        char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!line) { /* out of memory: say so rather than drop the line silently */
            emit_json(NULL);
            return;
        }
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL: emit_buffered takes a length */
        emit_buffered(line, n + 1);
        free(line);
        return;
    }
    /* The route, request id and token id are ours (patterns, hex ids): copied as they are,
     * each within the room the line has for it. */
    enum { ROUTE_MAX = 256, ID_MAX = 64 };
    char buf[sizeof ts + sizeof method + sizeof path + ROUTE_MAX + 2 * ID_MAX + 128];
    struct line l = {buf, 0};
    put(&l, ts);
    put(&l, " info request ");
    put(&l, method);
    put(&l, " ");
    put(&l, path);
    put(&l, " route=");
    put_max(&l, r->route, ROUTE_MAX);
    put(&l, " status=");
    put_int(&l, r->status);
    put(&l, " us=");
    put_int(&l, r->micros);
    put(&l, " id=");
    put_max(&l, r->request_id, ID_MAX);
    put(&l, " token=");
    put_max(&l, token, ID_MAX);
    put(&l, "\n");
    emit_buffered(buf, l.n);
}
