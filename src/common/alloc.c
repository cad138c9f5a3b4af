/* Allocation wrappers: abort on out-of-memory so no caller has to handle NULL. */
#include "common/alloc.h"

#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "tlsward: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        oom(0);
    char *p = xmalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return p;
}

void xfree(void *p)
{
    free(p);
}

void alloc_install_json(void)
{
    json_set_alloc_funcs(xmalloc, xfree);
}

/* Every write in a group commit runs in a SAVEPOINT, whose statement journal SQLite keeps
 * in a 64 KiB buffer it allocates and frees per statement. With glibc's defaults (give
 * back a free top of heap over 128 KiB) each such free shrank a thread's arena with
 * madvise, whose TLB shoot-down interrupts every core, and the next write faulted the
 * pages in again: a tenth of the server's CPU under an order load, all of it inside the
 * commit's critical section. Keeping 1 MiB per arena (and serving blocks up to 1 MiB from
 * the heap rather than mmap, which a fixed trim threshold would otherwise do from 128
 * KiB) makes those buffers plain reuse. */
void alloc_tune_heap(void)
{
    mallopt(M_TRIM_THRESHOLD, ALLOC_HEAP_KEEP);
    mallopt(M_MMAP_THRESHOLD, ALLOC_HEAP_KEEP);
}
