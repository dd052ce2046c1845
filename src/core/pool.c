/* core/pool.c - the worker threads (C11 <threads.h>) that large kernels split
 * their work over, and the thread count the user sets.
 *
 * One process-wide pool: the thread count is what the caller set with
 * ag_set_num_threads(), or the AG_NUM_THREADS environment variable read once
 * on first use, else 1 (no workers). A parallel loop's threads (the caller
 * and the workers) take its tasks in order from a shared counter, so a
 * thread slowed down (by the hypervisor, say) takes fewer; which thread runs
 * a task then depends on timing, but what a task computes does not: kernels
 * split work so that each output element is computed by one task in a fixed
 * order, and results are bit-identical for any thread count. One loop runs on the pool at a
 * time; a loop started while another runs (from another thread) simply runs
 * on its caller's thread alone. ag_set_num_threads waits for a loop in
 * progress; an exit handler joins the workers. Idle workers, and a caller
 * waiting for its workers, poll for up to 200 us before they sleep (see
 * spin): waking a sleeping thread is what a small loop would cost. */
#include "internal.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

#define MAX_THREADS 64
#define SPIN_NS 200000         /* how long a thread polls before it sleeps (200 us) */
/* SPIN_NS, or AG_SPIN_US (read at init) in nanoseconds; written before any
 * worker starts, so read without a lock */
static long spin_ns = SPIN_NS;

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

static struct {
    once_flag once;
    mtx_t busy;                /* held by the thread running a loop on the pool */
    mtx_t m;                   /* guards everything below */
    cnd_t work, done;
    int nthreads;              /* including the caller: nthreads - 1 workers */
    thrd_t th[MAX_THREADS];
    /* generation, quit and pending are written under m; atomic so that
     * threads may also poll them without it (see spin) */
    _Atomic uint64_t generation;   /* bumped for every loop */
    atomic_bool quit;
    atomic_int pending;        /* workers still running the current loop */
    atomic_int next;           /* the current loop's next task to take */
    agi_task_fn fn;
    void *ctx;
    int ntasks;
    bool ok;                   /* mutexes and condition variables were made */
} P = { .once = ONCE_FLAG_INIT };

typedef struct worker_arg {
    int id;
    uint64_t generation;       /* P.generation when the worker was made */
} worker_arg;

static worker_arg ids[MAX_THREADS];

/* Waiting costs: a thread asleep on a condition variable takes tens of
 * microseconds to wake on a VM (an idle virtual CPU is woken through the
 * hypervisor), and a training step posts a dozen loops back to back. So
 * a thread about to wait first polls done(arg) for up to SPIN_NS (or
 * AG_SPIN_US microseconds: 0 sleeps at once, e.g. under valgrind, whose
 * serialised threads make polling slow), and
 * sleeps only if it stays false, yielding its CPU between polls. */
static bool spin(bool (*done)(const void *), const void *arg)
{
    struct timespec t0, t;
    if (!timespec_get(&t0, TIME_UTC))
        return done(arg);
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (done(arg))
                return true;
            CPU_RELAX();
        }
        if (!timespec_get(&t, TIME_UTC) ||
            (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > spin_ns)
            return done(arg);
        thrd_yield();          /* (more threads than CPUs: let the others run) */
    }
}

static bool new_loop(const void *seen)
{
    return atomic_load(&P.generation) != *(const uint64_t *)seen || atomic_load(&P.quit);
}

static bool loop_done(const void *unused)
{
    (void)unused;
    return atomic_load(&P.pending) == 0;
}

static int worker(void *arg)
{
    /* not P.generation now: a loop may have been posted before this thread
     * first ran, and it must take part in it */
    uint64_t seen = ((worker_arg *)arg)->generation;
    for (;;) {
        spin(new_loop, &seen);
        mtx_lock(&P.m);
        while (P.generation == seen && !P.quit)
            cnd_wait(&P.work, &P.m);
        if (P.quit)
            break;
        seen = P.generation;
        const agi_task_fn fn = P.fn;
        void *ctx = P.ctx;
        const int ntasks = P.ntasks;
        mtx_unlock(&P.m);
        for (int t; (t = atomic_fetch_add(&P.next, 1)) < ntasks;)
            fn(ctx, t);
        mtx_lock(&P.m);
        if (atomic_fetch_sub(&P.pending, 1) == 1)
            cnd_signal(&P.done);
        mtx_unlock(&P.m);
    }
    mtx_unlock(&P.m);
    return 0;
}

/* Stops the workers (the caller holds P.busy). */
static void stop_workers(void)
{
    mtx_lock(&P.m);
    P.quit = true;
    cnd_broadcast(&P.work);
    mtx_unlock(&P.m);
    for (int i = 1; i < P.nthreads; i++)
        thrd_join(P.th[i], NULL);
    mtx_lock(&P.m);
    P.quit = false;
    P.nthreads = 1;
    mtx_unlock(&P.m);
}

/* Starts n - 1 workers (the caller holds P.busy); fewer if the system
 * refuses threads. Returns the count reached, the caller included. */
static int start_workers(int n)
{
    for (int i = 1; i < n; i++) {
        ids[i].id = i;
        mtx_lock(&P.m);
        ids[i].generation = P.generation;
        if (thrd_create(&P.th[i], worker, &ids[i]) != thrd_success) {
            mtx_unlock(&P.m);
            break;
        }
        P.nthreads = i + 1;
        mtx_unlock(&P.m);
    }
    return P.nthreads;
}

/* At exit: joins the workers, so that no thread is left holding what the C
 * library gave it (valgrind reports a thread's TLS as possibly lost), unless
 * a loop is running on another thread. */
static void stop_at_exit(void)
{
    if (mtx_trylock(&P.busy) != thrd_success)
        return;
    if (P.nthreads > 1)
        stop_workers();
    mtx_unlock(&P.busy);
}

static void init(void)
{
    P.nthreads = 1;
    P.ok = mtx_init(&P.busy, mtx_plain) == thrd_success &&
           mtx_init(&P.m, mtx_plain) == thrd_success &&
           cnd_init(&P.work) == thrd_success && cnd_init(&P.done) == thrd_success;
    if (P.ok)
        atexit(stop_at_exit);  /* (if it cannot register, workers are left as before) */
    const char *spin = getenv("AG_SPIN_US");
    if (spin) {
        const long us = strtol(spin, NULL, 10);
        spin_ns = us < 0 ? 0 : us > 1000000 ? 1000000000L : us * 1000L;
    }
    const char *env = getenv("AG_NUM_THREADS");
    if (P.ok && env) {
        const long n = strtol(env, NULL, 10);
        if (n > 1)
            start_workers(n < MAX_THREADS ? (int)n : MAX_THREADS);
    }
}

ag_status ag_set_num_threads(int n)
{
    call_once(&P.once, init);
    if (n < 1 || n > MAX_THREADS) {
        agi_fail_last("ag_set_num_threads: %d threads is not in [1, %d]", n, MAX_THREADS);
        return AG_ERR_ARG;
    }
    if (!P.ok) {
        agi_fail_last("ag_set_num_threads: the C library cannot make threads");
        return n == 1 ? AG_OK : AG_ERR_NOMEM;
    }
    mtx_lock(&P.busy);
    if (n != P.nthreads) {
        stop_workers();
        start_workers(n);
    }
    const int got = P.nthreads;
    mtx_unlock(&P.busy);
    if (got != n) {
        agi_fail_last("ag_set_num_threads: only %d of %d threads could be started", got, n);
        return AG_ERR_NOMEM;
    }
    return AG_OK;
}

int ag_num_threads(void)
{
    call_once(&P.once, init);
    if (!P.ok)
        return 1;
    mtx_lock(&P.m);
    const int n = P.nthreads;
    mtx_unlock(&P.m);
    return n;
}

void agi_parallel_for(int ntasks, agi_task_fn fn, void *ctx)
{
    call_once(&P.once, init);
    /* P.nthreads is read only under P.busy: ag_set_num_threads, on another
     * thread, writes it holding P.busy */
    /* (P.next may pass ntasks by one per thread: keep it from wrapping) */
    if (ntasks > 1 && ntasks < INT_MAX - MAX_THREADS && P.ok &&
        mtx_trylock(&P.busy) == thrd_success) {
        const int n = P.nthreads;
        if (n > 1) {
            mtx_lock(&P.m);
            P.fn = fn;
            P.ctx = ctx;
            P.ntasks = ntasks;
            P.pending = n - 1;
            atomic_store(&P.next, 0);
            P.generation++;
            cnd_broadcast(&P.work);
            mtx_unlock(&P.m);
            for (int t; (t = atomic_fetch_add(&P.next, 1)) < ntasks;)
                fn(ctx, t);
            spin(loop_done, NULL);
            mtx_lock(&P.m);
            while (P.pending > 0)
                cnd_wait(&P.done, &P.m);
            mtx_unlock(&P.m);
            mtx_unlock(&P.busy);
            return;
        }
        mtx_unlock(&P.busy);
    }
    for (int t = 0; t < ntasks; t++)
        fn(ctx, t);
}

typedef struct range_ctx {
    agi_range_fn fn;
    void *ctx;
    int64_t n, chunk;
} range_ctx;

static void range_task(void *p, int task)
{
    const range_ctx *r = p;
    const int64_t lo = (int64_t)task * r->chunk;
    const int64_t hi = r->n - lo < r->chunk ? r->n : lo + r->chunk;
    r->fn(r->ctx, lo, hi);
}

void agi_parallel_range(int64_t n, agi_range_fn fn, void *ctx)
{
    if (n < AGI_PAR_MIN) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    range_ctx r = { fn, ctx, n, AGI_PAR_CHUNK };
    /* more than INT_MAX chunks (2^46 elements) cannot be allocated; still, stay in int */
    while ((n + r.chunk - 1) / r.chunk > INT_MAX)
        r.chunk *= 2;
    agi_parallel_for((int)((n + r.chunk - 1) / r.chunk), range_task, &r);
}
