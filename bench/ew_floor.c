/* ew_floor.c - the memory traffic any eager implementation of the elementwise
 * workload must do, with the math taken out: a floor for elementwise_1M/16M.
 *
 * exp(x) * sin(x) + sqrt(abs(x)) evaluated op by op (as PyTorch's semantics
 * require: every result is a tensor the caller may read) writes six arrays
 * of n floats and reads eight; its backward must read the seed and the saved
 * values and update x.grad. This program does exactly those passes with a
 * multiply or an add in place of each function (the backward in L1-sized
 * tiles, as the library's, the cheapest order), compiled for this CPU's widest
 * vectors (bench/CMakeLists.txt), so its time is what memory alone costs on
 * this machine; bench/run.py prints torch / floor as the
 * largest ratio to PyTorch any eager library could reach here.
 *
 *   usage: ew_floor [--quick] [--threads T]
 * With T threads (1 or more) each thread does every pass on its own 1/T of
 * the arrays with no synchronisation at all: cheaper than any real
 * parallel implementation, so still a floor. Prints "result case=elementwise_1M value=V unit=ns/elem" lines (median of
 * the timed repetitions), as ag_bench does. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define TILE 1024
enum { X, E, S, M, A, Q, Y, SEED, GX, NARR };

/* the passes over elements [0, n) of the arrays at p */
static void step(float *const *p, long n)
{
    const float *x = p[X];
    float *e = p[E], *s = p[S], *m = p[M], *a = p[A], *q = p[Q], *y = p[Y];
    for (long i = 0; i < n; i++) e[i] = x[i] * 1.5f;         /* exp(x)  */
    for (long i = 0; i < n; i++) s[i] = x[i] * 0.5f;         /* sin(x)  */
    for (long i = 0; i < n; i++) m[i] = e[i] * s[i];         /* mul     */
    for (long i = 0; i < n; i++) a[i] = x[i] < 0.0f ? -x[i] : x[i];   /* abs */
    for (long i = 0; i < n; i++) q[i] = a[i] * 0.25f;        /* sqrt    */
    for (long i = 0; i < n; i++) y[i] = m[i] + q[i];         /* add     */
    const float *g = p[SEED];
    float *gx = p[GX];
    memset(gx, 0, (size_t)n * sizeof(float));               /* x.grad = 0 */
    for (long t = 0; t < n; t += TILE)                      /* backward */
        for (long i = t; i < t + TILE && i < n; i++)
            gx[i] += g[i] * s[i] * e[i] + g[i] * e[i] * s[i] + g[i] * x[i] + g[i] * q[i];
}

/* one thread's share: `inner` steps over its slice [lo, hi) */
typedef struct slice {
    float *const *p;
    long lo, hi;
    int inner;
} slice;

static int run_slice(void *arg)
{
    const slice *sl = arg;
    float *q[NARR];
    for (int k = 0; k < NARR; k++)
        q[k] = sl->p[k] + sl->lo;
    for (int r = 0; r < sl->inner; r++)
        step(q, sl->hi - sl->lo);
    return 0;
}

enum { MAX_THREADS = 64 };

/* `inner` steps over all n elements with nt threads; returns 0 on success */
static int steps(float *const *p, long n, int inner, int nt)
{
    slice sl[MAX_THREADS];
    thrd_t th[MAX_THREADS];
    for (int i = 0; i < nt; i++)
        sl[i] = (slice){ p, n * i / nt, n * (i + 1) / nt, inner };
    for (int i = 1; i < nt; i++)
        if (thrd_create(&th[i], run_slice, &sl[i]) != thrd_success)
            return -1;
    run_slice(&sl[0]);
    for (int i = 1; i < nt; i++)
        thrd_join(th[i], NULL);
    return 0;
}

int main(int argc, char **argv)
{
    int quick = 0, nt = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            nt = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: ew_floor [--quick] [--threads T]\n");
            return 2;
        }
    }
    if (nt < 1 || nt > MAX_THREADS) {
        fprintf(stderr, "ew_floor: --threads must be 1..%d\n", MAX_THREADS);
        return 2;
    }
    static const long ns[] = { 1L << 20, 1L << 24 };
    static const char *names[] = { "elementwise_1M", "elementwise_16M" };
    for (int c = 0; c < 2; c++) {
        const long n = ns[c];
        float *p[NARR];
        for (int k = 0; k < NARR; k++) {
            p[k] = aligned_alloc(64, (size_t)n * sizeof(float));
            if (!p[k]) {
                fprintf(stderr, "ew_floor: out of memory\n");
                return 1;
            }
            for (long i = 0; i < n; i++)
                p[k][i] = (float)(i % 97) * 0.01f - 0.3f;
        }
        if (steps(p, n, 1, nt)) {                            /* warm: pages, caches */
            fprintf(stderr, "ew_floor: cannot start threads\n");
            return 1;
        }
        enum { REPS = 15 };
        double t[REPS];
        const int reps = quick ? 5 : REPS;
        for (int r = 0; r < reps; r++) {
            const int inner = n < (1L << 22) ? 20 : 2;
            const double t0 = now();
            steps(p, n, inner, nt);
            t[r] = (now() - t0) / inner;
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp);
        printf("result case=%s value=%.4g unit=ns/elem check=%g\n", names[c],
               t[reps / 2] / (double)n * 1e9, (double)p[GX][7]);
        for (int k = 0; k < NARR; k++)
            free(p[k]);
    }
    return 0;
}
