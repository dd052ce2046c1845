/* blas_sgemm.c - the yardstick for the matmul workload: cblas_sgemm (OpenBLAS)
 * on square float32 matrices, C = A B, row-major, the same sizes and timing
 * rule as ag_bench's matmul. bench/run.py runs it with OPENBLAS_NUM_THREADS=1.
 *
 *   usage: blas_sgemm [--quick]
 *
 * Prints "result case=matmul_N value=GFLOP/s unit=GFLOP/s maxrss_kb=K" lines.
 * Benchmark-only dependency: apt-get install libopenblas-dev. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set of this process image, in KiB: VmHWM from
 * /proc/self/status (Linux), else getrusage's ru_maxrss. Not ru_maxrss first:
 * Linux carries ru_maxrss across exec, so a child of a big runner would
 * report the runner's size. */
static long maxrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long kb = -1;
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                kb = strtol(line + 6, NULL, 10);
                break;
            }
        fclose(f);
        if (kb >= 0)
            return kb;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    static const int ns[] = { 64, 128, 256, 512, 1024, 2048 };
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        const int n = ns[i];
        if (quick && n > 1024)
            break;
        float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
        float *c = malloc((size_t)n * n * sizeof *c);
        for (long k = 0; k < (long)n * n; k++) {
            s = s * 1103515245u + 12345u;
            a[k] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
            s = s * 1103515245u + 12345u;
            b[k] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
        }
        /* the same rule as ag_bench's measure(): warm-up, batches >= 20 ms */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double one = now() - t0;
        if (one < 1e-9)
            one = 1e-9;
        long inner = (long)ceil(0.02 / one);
        if (inner < 1)
            inner = 1;
        const double budget = quick ? 0.3 : (n >= 2048 ? 1.2 : 0.4);
        int batches = (int)(budget / (one * (double)inner));
        const int maxb = quick ? 7 : 15;
        batches = batches < 3 ? 3 : batches > maxb ? maxb : batches;
        double per[64];
        for (int k = 0; k < batches; k++) {
            t0 = now();
            for (long j = 0; j < inner; j++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                            0.0f, c, n);
            per[k] = (now() - t0) / (double)inner;
        }
        qsort(per, (size_t)batches, sizeof *per, cmp_double);
        const double med = batches % 2 ? per[batches / 2] : 0.5 * (per[batches / 2 - 1] + per[batches / 2]);
        printf("result case=matmul_%d value=%.6g unit=GFLOP/s maxrss_kb=%ld\n", n,
               2.0 * n * (double)n * n / med * 1e-9, maxrss_kb());
        fflush(stdout);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
