/* gemm.c - single-precision matrix product C (+)= op(A) op(B), row-major, no allocation.
 *
 * The shape of the computation (GotoBLAS/BLIS, simplified so that every
 * buffer fits on the stack):
 *
 *   for each block of NC columns of C (jc)
 *     for each block of KC along the inner dimension (pc)
 *       pack op(B)[pc.., jc..] (KC x NC) into slivers of NR columns  -> bp
 *       for each sliver of MR rows of C (ic)
 *         pack op(A)[ic.., pc..] (MR x KC), element (i, p) at p*MR+i  -> ap
 *         for each sliver of NR columns in the block (jr)
 *           micro-kernel: an MR x NR tile of C += ap * bp[jr]
 *
 * The micro-kernel keeps its MR x NR accumulators in registers; its inner
 * loop is MR broadcasts of A times one NR-wide row of B, which compilers
 * vectorise. Packing pads the edges with zeros, so the kernel always computes
 * a full tile and only the stores are clipped. Accumulation is in float, as
 * in BLAS. Stack use is (KC * NC + MR * KC) floats, about 67 KB.
 *
 * Kernels: plain C (any compiler; GCC 12 keeps its accumulator array in
 * memory, so it is slow there), GCC/Clang vector extensions (SSE2, NEON), and
 * AVX2+FMA intrinsics on x86, chosen at run time if the CPU has them.
 * AGI_GEMM_AUTO takes the best available; tests run them all (agi_sgemm_with).
 * Thin or small products (a vector, a few rows) skip the packing: see
 * gemm_unblocked. */
#include "internal.h"

#include <string.h>

#define MR 6                   /* rows of the register tile */
#define NR 16                  /* columns of the register tile */
#define KC 128                 /* inner-dimension block */
#define NC 128                 /* columns of the packed B block (a multiple of NR) */
#define SMALL_FLOPS 4096       /* m * n * k below this: no packing (gemm_unblocked) */

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_X86_DISPATCH 1
#else
#define HAVE_X86_DISPATCH 0
#endif

typedef void (*kernel_fn)(int64_t kc, const float *restrict ap, const float *restrict bp,
                          float *restrict c, int64_t ldc, int mr, int nr, bool add);

/* One MR x NR tile: c[0..mr)[0..nr) (+)= sum_p ap[p][0..MR) x bp[p][0..NR).
 * MADD(x, y, z) is x * y + z. */
#define MICRO_KERNEL(MADD)                                                       \
    float acc[MR][NR];                                                           \
    for (int i = 0; i < MR; i++)                                                 \
        for (int j = 0; j < NR; j++)                                             \
            acc[i][j] = 0.0f;                                                    \
    for (int64_t p = 0; p < kc; p++) {                                           \
        const float *ar = ap + p * MR, *br = bp + p * NR;                        \
        for (int i = 0; i < MR; i++) {                                           \
            const float ai = ar[i];                                              \
            for (int j = 0; j < NR; j++)                                         \
                acc[i][j] = MADD(ai, br[j], acc[i][j]);                          \
        }                                                                        \
    }                                                                            \
    if (mr == MR && nr == NR) {                                                  \
        if (add) {                                                               \
            for (int i = 0; i < MR; i++)                                         \
                for (int j = 0; j < NR; j++)                                     \
                    c[i * ldc + j] += acc[i][j];                                 \
        } else {                                                                 \
            for (int i = 0; i < MR; i++)                                         \
                for (int j = 0; j < NR; j++)                                     \
                    c[i * ldc + j] = acc[i][j];                                  \
        }                                                                        \
    } else {                                                                     \
        for (int i = 0; i < mr; i++)                                             \
            for (int j = 0; j < nr; j++)                                         \
                c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];   \
    }

#define MUL_ADD(x, y, z) ((x) * (y) + (z))

static void kernel_portable(int64_t kc, const float *restrict ap, const float *restrict bp,
                            float *restrict c, int64_t ldc, int mr, int nr, bool add)
{
    MICRO_KERNEL(MUL_ADD)
}

#if defined(__GNUC__) || defined(__clang__)
#define HAVE_VECTOR 1
/* GCC's vector extension (also Clang's): 4 floats, SSE2 or NEON. GCC keeps a
 * float array accumulator in memory, so the tile is named vectors: two passes
 * of 6 x 8 (12 accumulators, fitting SSE2's 16 registers) per 6 x 16 tile. */
typedef float vf4 __attribute__((vector_size(16)));

static inline vf4 vload4(const float *p)
{
    vf4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void kernel_vector(int64_t kc, const float *restrict ap, const float *restrict bp,
                          float *restrict c, int64_t ldc, int mr, int nr, bool add)
{
    for (int half = 0; half < NR; half += 8) {
        vf4 c00 = { 0 }, c01 = { 0 }, c10 = { 0 }, c11 = { 0 }, c20 = { 0 }, c21 = { 0 };
        vf4 c30 = { 0 }, c31 = { 0 }, c40 = { 0 }, c41 = { 0 }, c50 = { 0 }, c51 = { 0 };
        const float *ar = ap, *br = bp + half;
        for (int64_t p = 0; p < kc; p++, ar += MR, br += NR) {
            const vf4 b0 = vload4(br), b1 = vload4(br + 4);
#define VROW(i)                                                                  \
            {                                                                    \
                const vf4 a = { ar[i], ar[i], ar[i], ar[i] };                    \
                c##i##0 += a * b0;                                               \
                c##i##1 += a * b1;                                               \
            }
            VROW(0) VROW(1) VROW(2) VROW(3) VROW(4) VROW(5)
#undef VROW
        }
        float acc[MR][8];
        const vf4 rows[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 },
                                  { c30, c31 }, { c40, c41 }, { c50, c51 } };
        memcpy(acc, rows, sizeof acc);
        const int nh = nr - half < 8 ? nr - half : 8;
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nh; j++) {
                float *cij = c + i * ldc + half + j;
                *cij = add ? *cij + acc[i][j] : acc[i][j];
            }
    }
}
#else
#define HAVE_VECTOR 0
#endif

#if HAVE_X86_DISPATCH
#include <immintrin.h>
/* AVX2 + FMA: the 6 x 16 tile is 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static void
kernel_avx2(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
            int64_t ldc, int mr, int nr, bool add)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *ar = ap, *br = bp;
    for (int64_t p = 0; p < kc; p++, ar += MR, br += NR) {
        const __m256 b0 = _mm256_loadu_ps(br), b1 = _mm256_loadu_ps(br + 8);
#define AROW(i)                                                                  \
        {                                                                        \
            const __m256 a = _mm256_broadcast_ss(ar + i);                        \
            c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);                           \
            c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);                           \
        }
        AROW(0) AROW(1) AROW(2) AROW(3) AROW(4) AROW(5)
#undef AROW
    }
    const __m256 rows[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 },
                                 { c30, c31 }, { c40, c41 }, { c50, c51 } };
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            if (add) {
                _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), rows[i][0]));
                _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), rows[i][1]));
            } else {
                _mm256_storeu_ps(ci, rows[i][0]);
                _mm256_storeu_ps(ci + 8, rows[i][1]);
            }
        }
        return;
    }
    float acc[MR][NR];
    memcpy(acc, rows, sizeof acc);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
#endif

/* op(X)(i, j) of a row-major X with row stride ld, transposed if t */
#define OP(x, t, ld, i, j) ((t) ? (x)[(int64_t)(j) * (ld) + (i)] : (x)[(int64_t)(i) * (ld) + (j)])

/* ap[p * MR + i] = op(A)(i0 + i, p0 + p) for i < mr, 0 for mr <= i < MR */
static void pack_a(float *restrict ap, const float *restrict a, int64_t lda, bool ta,
                   int64_t i0, int mr, int64_t p0, int64_t kc)
{
    if (ta) {                  /* op(A)(i, p) = A[p][i]: rows of A are contiguous in i */
        for (int64_t p = 0; p < kc; p++) {
            const float *src = a + (p0 + p) * lda + i0;
            float *dst = ap + p * MR;
            int i = 0;
            for (; i < mr; i++)
                dst[i] = src[i];
            for (; i < MR; i++)
                dst[i] = 0.0f;
        }
        return;
    }
    int i = 0;
    for (; i < mr; i++) {
        const float *src = a + (i0 + i) * lda + p0;
        for (int64_t p = 0; p < kc; p++)
            ap[p * MR + i] = src[p];
    }
    for (; i < MR; i++)
        for (int64_t p = 0; p < kc; p++)
            ap[p * MR + i] = 0.0f;
}

/* bp[s][p][j] (sliver s at s * kc * NR) = op(B)(p0 + p, j0 + s * NR + j), 0 past nc */
static void pack_b(float *restrict bp, const float *restrict b, int64_t ldb, bool tb,
                   int64_t p0, int64_t kc, int64_t j0, int64_t nc)
{
    for (int64_t s = 0; s * NR < nc; s++) {
        float *dst = bp + s * kc * NR;
        const int64_t jb = j0 + s * NR;
        const int nr = nc - s * NR < NR ? (int)(nc - s * NR) : NR;
        if (!tb) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + jb;
                int j = 0;
                for (; j < nr; j++)
                    dst[p * NR + j] = src[j];
                for (; j < NR; j++)
                    dst[p * NR + j] = 0.0f;
            }
        } else {               /* op(B)(p, j) = B[j][p]: walk B's rows */
            int j = 0;
            for (; j < nr; j++) {
                const float *src = b + (jb + j) * ldb + p0;
                for (int64_t p = 0; p < kc; p++)
                    dst[p * NR + j] = src[p];
            }
            for (; j < NR; j++)
                for (int64_t p = 0; p < kc; p++)
                    dst[p * NR + j] = 0.0f;
        }
    }
}

/* sum_p x[p * incx] * y[p * incy]; contiguous vectors in 16 independent
 * lanes, which the compiler vectorises (a single float accumulator is a
 * serial chain it may not reorder). */
static float dot(const float *x, int64_t incx, const float *y, int64_t incy, int64_t k)
{
    float s = 0.0f;
    int64_t p = 0;
    if (incx == 1 && incy == 1) {
        float acc[16] = { 0.0f };
        for (; p + 16 <= k; p += 16)
            for (int j = 0; j < 16; j++)
                acc[j] += x[p + j] * y[p + j];
        for (int j = 0; j < 16; j++)
            s += acc[j];
    }
    for (; p < k; p++)
        s += x[p * incx] * y[p * incy];
    return s;
}

/* Small or thin products (a vector, a few rows or columns), where register
 * tiles would be mostly padding: C (+)= op(A) op(B) row by row of C, as
 * dot products with B's rows if tb, else as sums of B's rows scaled by A. */
static void gemm_unblocked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                           int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                           bool accumulate)
{
    for (int64_t i = 0; i < m; i++) {
        float *restrict ci = c + i * ldc;
        const float *ai = ta ? a + i : a + i * lda;     /* op(A)(i, p) = ai[p * inca] */
        const int64_t inca = ta ? lda : 1;
        if (tb) {
            for (int64_t j = 0; j < n; j++) {
                const float s = dot(ai, inca, b + j * ldb, 1, k);
                ci[j] = accumulate ? ci[j] + s : s;
            }
            continue;
        }
        if (!accumulate)
            for (int64_t j = 0; j < n; j++)
                ci[j] = 0.0f;
        for (int64_t p = 0; p < k; p++) {
            const float aip = ai[p * inca];
            const float *restrict bp = b + p * ldb;
            for (int64_t j = 0; j < n; j++)
                ci[j] += aip * bp[j];
        }
    }
}

static void gemm_blocked(kernel_fn kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                         int64_t ldc, bool accumulate)
{
    /* 64-byte aligned so the packed rows start on cache lines */
    _Alignas(64) float bp[KC * NC];
    _Alignas(64) float ap[MR * KC];
    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = k - pc < KC ? k - pc : KC;
            const bool add = accumulate || pc > 0;
            pack_b(bp, b, ldb, tb, pc, kc, jc, nc);
            for (int64_t ic = 0; ic < m; ic += MR) {
                const int mr = m - ic < MR ? (int)(m - ic) : MR;
                pack_a(ap, a, lda, ta, ic, mr, pc, kc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? (int)(nc - jr) : NR;
                    kernel(kc, ap, bp + jr * kc, c + ic * ldc + jc + jr, ldc, mr, nr, add);
                }
            }
        }
    }
}

/* ---- threads ----
 * A large product is cut into tiles of C: blocks of NC columns times chunks
 * of rows (a multiple of MR), one task each, with its own packing buffers.
 * A tile starts on the same MR-row and NR-column boundaries as in the serial
 * loop and every element sums its K blocks in the same order, so the result
 * is bit-identical for any thread count and any cut. */

#define PARALLEL_MIN 1000000   /* m * n * k below this: one thread (the hand-off costs ~10 us) */

typedef struct gemm_job {
    kernel_fn kernel;
    bool ta, tb, accumulate;
    int64_t m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    int64_t rows;              /* rows per task, a multiple of MR */
    int64_t ncb;               /* column blocks */
} gemm_job;

static void gemm_task(void *ctx, int t)
{
    const gemm_job *g = ctx;
    const int64_t i0 = (t / g->ncb) * g->rows, j0 = (t % g->ncb) * NC;
    const int64_t mi = g->m - i0 < g->rows ? g->m - i0 : g->rows;
    const int64_t nj = g->n - j0 < NC ? g->n - j0 : NC;
    if (mi <= 0)
        return;
    gemm_blocked(g->kernel, g->ta, g->tb, mi, nj, g->k, g->a + (g->ta ? i0 : i0 * g->lda), g->lda,
                 g->b + (g->tb ? j0 * g->ldb : j0), g->ldb, g->c + i0 * g->ldc + j0, g->ldc,
                 g->accumulate);
}

static void gemm_parallel(kernel_fn kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                          int64_t ldc, bool accumulate)
{
    const int nt = ag_num_threads();
    if (nt <= 1 || (double)m * (double)n * (double)k < PARALLEL_MIN) {
        gemm_blocked(kernel, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    gemm_job g = { kernel, ta, tb, accumulate, m, n, k, lda, ldb, ldc, a, b, c, 0, 0 };
    g.ncb = (n + NC - 1) / NC;
    /* about four tasks per thread, so static round-robin balances */
    int64_t nrb = (4 * nt + g.ncb - 1) / g.ncb;
    const int64_t slivers = (m + MR - 1) / MR;
    nrb = nrb < 1 ? 1 : nrb > slivers ? slivers : nrb;
    g.rows = ((slivers + nrb - 1) / nrb) * MR;
    nrb = (m + g.rows - 1) / g.rows;
    if (nrb * g.ncb > INT32_MAX) {
        gemm_blocked(kernel, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    agi_parallel_for((int)(nrb * g.ncb), gemm_task, &g);
}

bool agi_sgemm_with(int impl, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                    int64_t ldc, bool accumulate)
{
    kernel_fn kernel = kernel_portable;
    switch (impl) {
    case AGI_GEMM_AUTO:
#if HAVE_VECTOR
        kernel = kernel_vector;
#endif
#if HAVE_X86_DISPATCH
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            kernel = kernel_avx2;
#endif
        break;
    case AGI_GEMM_VECTOR:
#if HAVE_VECTOR
        kernel = kernel_vector;
        break;
#else
        return false;
#endif
    case AGI_GEMM_PORTABLE:
    case AGI_GEMM_UNBLOCKED:
        break;
    case AGI_GEMM_AVX2:
#if HAVE_X86_DISPATCH
        if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
            return false;
        kernel = kernel_avx2;
        break;
#else
        return false;
#endif
    default:
        return false;
    }
    if (m <= 0 || n <= 0)
        return true;
    if (k <= 0) {              /* an empty sum: zeros */
        if (!accumulate)
            for (int64_t i = 0; i < m; i++)
                memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        return true;
    }
    const bool small = m < SMALL_FLOPS && n < SMALL_FLOPS && k < SMALL_FLOPS &&
                       m * n * k < SMALL_FLOPS;         /* (no overflow) */
    const bool thin = m < MR / 2 || n < NR / 2 || small;
    if (impl == AGI_GEMM_UNBLOCKED || (impl == AGI_GEMM_AUTO && thin))
        gemm_unblocked(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else
        gemm_parallel(kernel, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return true;
}

void agi_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate)
{
    (void)agi_sgemm_with(AGI_GEMM_AUTO, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
