/* core/alloc.c - the allocator hook, checked size arithmetic, and the thread's last error. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static void *default_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return malloc(new_size);   /* never asked to resize: ptr is NULL here */
}

/* The one global: set explicitly by the caller (ag_set_allocator). */
static agi_alloc current = { default_alloc, NULL };

void ag_set_allocator(ag_alloc_fn f, void *ud)
{
    current.f = f ? f : default_alloc;
    current.ud = f ? ud : NULL;
}

agi_alloc agi_current_alloc(void)
{
    return current;
}

void *agi_malloc(agi_alloc a, size_t n)
{
    if (n == 0)
        return NULL;
    return a.f(a.ud, NULL, 0, n);
}

void agi_free(agi_alloc a, void *p, size_t n)
{
    if (p)
        a.f(a.ud, p, n, 0);
}

bool agi_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* Per thread, like errno: no locks and no sharing between threads. The
 * message is formatted into a fixed buffer, so reporting out-of-memory needs
 * no memory. */
static _Thread_local char last_error[256];

const char *ag_last_error(void)
{
    return last_error;
}

void *agi_fail_last(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return NULL;
}

const char *ag_status_string(ag_status s)
{
    switch (s) {
    case AG_OK: return "AG_OK";
    case AG_ERR_ARG: return "AG_ERR_ARG";
    case AG_ERR_SHAPE: return "AG_ERR_SHAPE";
    case AG_ERR_NOMEM: return "AG_ERR_NOMEM";
    case AG_ERR_TAPE: return "AG_ERR_TAPE";
    case AG_ERR_GRAD: return "AG_ERR_GRAD";
    }
    return "AG_ERR_UNKNOWN";
}
