/* Allocation wrappers used everywhere in tlsward.
 *
 * Out-of-memory policy (as redis' zmalloc): an allocation that fails logs one line and
 * aborts the process. Callers therefore never check for NULL. jansson is routed through
 * these too (alloc_install_json). */
#ifndef TLSWARD_COMMON_ALLOC_H
#define TLSWARD_COMMON_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void xfree(void *p);

/* Makes jansson allocate through xmalloc/xfree. Call once at start-up. */
void alloc_install_json(void);

/* Tells glibc's malloc to keep up to ALLOC_HEAP_KEEP of freed memory per arena instead of
 * handing it back to the kernel at once. Call once at start-up, before any thread. */
#define ALLOC_HEAP_KEEP (1024 * 1024)
void alloc_tune_heap(void);

#endif
