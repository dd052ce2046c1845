/* tsan_shim.h - C11 <threads.h> calls routed to POSIX threads, for the
 * ThreadSanitizer build only (.ci/run step 5; never part of the library).
 *
 * glibc implements thrd_create, mtx_lock, cnd_wait, call_once ... by calling
 * its internal pthread functions directly, past the symbols ThreadSanitizer
 * intercepts, so under TSan a C11-threads program sees no happens-before
 * edges at all (and gcc's and clang's TSan runtimes crash at thread start).
 * The build force-includes this header first in every translation unit
 * (-include tests/tsan_shim.h): it includes <threads.h> itself, so the
 * sources' own #include <threads.h> is then a no-op, and renames each C11
 * call to a static function that does the same through the intercepted
 * pthread_* symbols. The library's code is compiled unchanged otherwise.
 *
 * Relies on glibc's layout: thrd_t is a pthread_t, and mtx_t, cnd_t and
 * once_flag have the size and alignment of pthread_mutex_t, pthread_cond_t
 * and pthread_once_t (glibc's own C11 functions cast them the same way). */
#ifndef AG_TSAN_SHIM_H
#define AG_TSAN_SHIM_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread mutex");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread cond");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread once");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

typedef struct ag_tsan_start {
    thrd_start_t fn;
    void *arg;
} ag_tsan_start;

static void *ag_tsan_trampoline(void *p)
{
    ag_tsan_start s = *(ag_tsan_start *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

static inline int ag_tsan_thrd_create(thrd_t *t, thrd_start_t fn, void *arg)
{
    ag_tsan_start *s = malloc(sizeof *s);
    if (!s)
        return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    pthread_t p;
    const int rc = pthread_create(&p, NULL, ag_tsan_trampoline, s);
    if (rc) {
        free(s);
        return rc == ENOMEM || rc == EAGAIN ? thrd_nomem : thrd_error;
    }
    *t = (thrd_t)p;
    return thrd_success;
}

static inline int ag_tsan_thrd_join(thrd_t t, int *res)
{
    void *r;
    if (pthread_join((pthread_t)t, &r))
        return thrd_error;
    if (res)
        *res = (int)(intptr_t)r;
    return thrd_success;
}

static inline void ag_tsan_thrd_yield(void) { sched_yield(); }

static inline int ag_tsan_mtx_init(mtx_t *m, int type)
{
    if (type != mtx_plain)
        return thrd_error;     /* the library uses plain mutexes only */
    return pthread_mutex_init((pthread_mutex_t *)m, NULL) ? thrd_error : thrd_success;
}
static inline void ag_tsan_mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }
static inline int ag_tsan_mtx_lock(mtx_t *m)
{
    return pthread_mutex_lock((pthread_mutex_t *)m) ? thrd_error : thrd_success;
}
static inline int ag_tsan_mtx_trylock(mtx_t *m)
{
    const int rc = pthread_mutex_trylock((pthread_mutex_t *)m);
    return rc == 0 ? thrd_success : rc == EBUSY ? thrd_busy : thrd_error;
}
static inline int ag_tsan_mtx_unlock(mtx_t *m)
{
    return pthread_mutex_unlock((pthread_mutex_t *)m) ? thrd_error : thrd_success;
}

static inline int ag_tsan_cnd_init(cnd_t *c)
{
    return pthread_cond_init((pthread_cond_t *)c, NULL) ? thrd_error : thrd_success;
}
static inline void ag_tsan_cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }
static inline int ag_tsan_cnd_signal(cnd_t *c)
{
    return pthread_cond_signal((pthread_cond_t *)c) ? thrd_error : thrd_success;
}
static inline int ag_tsan_cnd_broadcast(cnd_t *c)
{
    return pthread_cond_broadcast((pthread_cond_t *)c) ? thrd_error : thrd_success;
}
static inline int ag_tsan_cnd_wait(cnd_t *c, mtx_t *m)
{
    return pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m) ? thrd_error
                                                                          : thrd_success;
}

static inline void ag_tsan_call_once(once_flag *f, void (*fn)(void))
{
    pthread_once((pthread_once_t *)f, fn);
}

#define thrd_create ag_tsan_thrd_create
#define thrd_join ag_tsan_thrd_join
#define thrd_yield ag_tsan_thrd_yield
#define mtx_init ag_tsan_mtx_init
#define mtx_destroy ag_tsan_mtx_destroy
#define mtx_lock ag_tsan_mtx_lock
#define mtx_trylock ag_tsan_mtx_trylock
#define mtx_unlock ag_tsan_mtx_unlock
#define cnd_init ag_tsan_cnd_init
#define cnd_destroy ag_tsan_cnd_destroy
#define cnd_signal ag_tsan_cnd_signal
#define cnd_broadcast ag_tsan_cnd_broadcast
#define cnd_wait ag_tsan_cnd_wait
#define call_once ag_tsan_call_once

#endif /* AG_TSAN_SHIM_H */
