/* kernels/gemm.c - single-precision matrix product C (+)= op(A) op(B), row-major, no allocation.
 *
 * The shape of the computation (GotoBLAS/BLIS, with blocks small enough for
 * the stack):
 *
 *   for each block of kb along the inner dimension (pc)
 *     for each block of mb rows of C (ic)
 *       pack op(A)[ic.., pc..] (mb x kb) into slivers of MR rows     -> ap (L2)
 *       for each block of NC columns of C (jc)
 *         pack op(B)[pc.., jc..] (kb x NC) into slivers of NR columns -> bp
 *         for each sliver of NR columns in the block (jr: stays in L1)
 *           for each sliver of MR rows in the block (ir: streams from L2)
 *             micro-kernel: an MR x NR tile of C (+)= ap[ir] * bp[jr]
 *
 * A is packed once per element; B once per block of mb rows. If all of
 * op(A)'s rows fit in the buffer beside a B panel with K blocks of at least
 * KC_MIN (m up to ~410: an MLP's batch), mb is all of them, so B, often a
 * weight matrix read from memory, is packed only once, with K blocks of
 * kb <= KC as long as fit; else mb = MC and kb <= KC (see plan_blocks).
 * The micro-kernel keeps its MR x NR accumulators in registers; its inner
 * loop is MR broadcasts of A times one NR-wide row of B. Packing pads the
 * edges with zeros, so the kernel always computes a full tile and only the
 * stores are clipped. Accumulation is in float, as in BLAS. The K blocks
 * depend on m and k alone (k split evenly into blocks), and every element of
 * C sums them in order in one kernel: results do not depend on how C is cut
 * into tiles (see the threads section). Stack use is one buffer of
 * (MC * KC + KC * NC) floats, 224 KB, and a list of PF_LINES pointers
 * (6 KB): the cache lines of the next B panel, which the AVX-512 kernel
 * prefetches while it runs (B is often a weight matrix coming from memory),
 * and 72 KB more for an accumulating product over several K blocks (see
 * gemm_blocked). Accumulating (C += op(A) op(B)) always adds C's old value
 * once to the product a non-accumulating call would compute, never to its
 * partial sums: the rounding of PyTorch's grad += new_grad.
 *
 * Kernels (tile MR x NR): plain C, 6 x 16 (any compiler; GCC 12 keeps its
 * accumulator array in memory, so it is slow there); GCC/Clang vector
 * extensions, 6 x 16 (SSE2, NEON); AVX2+FMA intrinsics, 6 x 16; AVX-512F
 * intrinsics, 12 x 32 (24 zmm accumulators); the x86 ones are chosen at run
 * time if the CPU has them (valgrind hides AVX-512 from the program, which
 * then takes AVX2). AGI_GEMM_AUTO takes the best available, unless the
 * environment variable AG_GEMM_KERNEL (read once) names an available one of
 * avx512, avx2, vector, portable (for comparisons); tests run them all
 * (agi_sgemm_with). Thin or small products (a vector, a few rows) skip the
 * packing: see gemm_unblocked. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define MR 6                   /* rows of the 6 x 16 register tile */
#define NR 16                  /* columns of the 6 x 16 register tile */
#define MR_X 12                /* rows of the AVX-512 register tile */
#define NR_X 32                /* columns of the AVX-512 register tile */
#define KC 256                 /* inner-dimension block (at most) */
#define MC 192                 /* rows of the packed A block (a multiple of MR and MR_X) */
#define NC 32                  /* columns of the packed B block (a multiple of NR and NR_X) */
#define PACK_FLOATS (MC * KC + KC * NC)   /* the packing buffer (224 KB of stack) */
#define PF_LINES 800           /* prefetch list: lines of one B panel (<= KC * 3, NC * 17) */
#define PF_B_MIN (512.0 * 1024)   /* op(B) of at least this many floats (2 MB): prefetched,
                                     * else it is likely in cache already */
#define KC_MIN 128             /* shortest K block worth packing all of A's rows at once */
#define PF_B 8                 /* packing B: prefetch the row this far ahead */
#define SMALL_FLOPS 4096       /* m * n * k below this: no packing (gemm_unblocked) */
#define ACC_ROW 256            /* accumulating unblocked products sum this many columns apart */
#define ACC_MR 96              /* accumulating blocked products over several K blocks: */
#define ACC_NC 192             /*   C's tiles of ACC_MR x ACC_NC are summed apart (72 KB) */

#if defined(__GNUC__) || defined(__clang__)
#define AGI_ALWAYS_INLINE inline __attribute__((always_inline))
#define AGI_NOINLINE __attribute__((noinline))
#else
#define AGI_ALWAYS_INLINE inline
#define AGI_NOINLINE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_X86_DISPATCH 1
#else
#define HAVE_X86_DISPATCH 0
#endif
/* SSE (in every x86-64 CPU): 4 x 4 transposes when packing A */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__SSE__)
#include <xmmintrin.h>
#define HAVE_SSE_TRANSPOSE 1
#else
#define HAVE_SSE_TRANSPOSE 0
#endif
/* (the 12 x 32 tile needs 32 vector registers: 64-bit mode) */
#if HAVE_X86_DISPATCH && defined(__x86_64__)
#define HAVE_AVX512 1
#else
#define HAVE_AVX512 0
#endif

/* cn: the tile of C the next call will update (its first MR rows, 2 lines
 * each), and pf[0..npf): cache lines of the next B panel's source, for the
 * kernel to prefetch while it runs; NULL and 0 if none */
typedef void (*kernel_fn)(int64_t kc, const float *restrict ap, const float *restrict bp,
                          float *restrict c, int64_t ldc, int mr, int nr, bool add,
                          const float *cn, const char *const *pf, int npf);

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
                            float *restrict c, int64_t ldc, int mr, int nr, bool add,
                            const float *cn, const char *const *pf, int npf)
{
    (void)cn;
    (void)pf;
    (void)npf;
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
                          float *restrict c, int64_t ldc, int mr, int nr, bool add,
                          const float *cn, const char *const *pf, int npf)
{
    (void)cn;
    (void)pf;
    (void)npf;
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
            int64_t ldc, int mr, int nr, bool add, const float *cn, const char *const *pf,
            int npf)
{
    (void)cn;
    (void)pf;
    (void)npf;
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

#if HAVE_AVX512
/* AVX-512F: the 12 x 32 tile is 24 zmm accumulators (of 32 registers), two
 * loads of B and 12 broadcasts of A per step of p. Edge tiles take a
 * smaller tile that covers them (kernel_avx512_edge), clipped with masked
 * loads and stores. While it runs, the kernel prefetches the tile of C the
 * next call will update and its share of the next B panel's source lines
 * (gemm_blocked passes them), spread over the steps of p. */
#define XACC(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
#define XROW(i)                                                                  \
    {                                                                            \
        const __m512 a = _mm512_set1_ps(ar[i]);                                  \
        c##i##_0 = _mm512_fmadd_ps(a, b0, c##i##_0);                             \
        c##i##_1 = _mm512_fmadd_ps(a, b1, c##i##_1);                             \
    }
#define XSTORE(i)                                                                \
    if ((i) < mr) {                                                              \
        float *ci = c + (i) * ldc;                                               \
        if (add) {                                                               \
            c##i##_0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), c##i##_0);   \
            if (nr > 16)                                                         \
                c##i##_1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), c##i##_1); \
        }                                                                        \
        _mm512_mask_storeu_ps(ci, m0, c##i##_0);                                 \
        if (nr > 16)                                                             \
            _mm512_mask_storeu_ps(ci + 16, m1, c##i##_1);                        \
    }
/* Edge tiles: R rows (4, 8 or 12) and NB vectors of 16 columns (1 or 2),
 * enough for mr x nr, so that the padding is not computed (M = 256 is 21
 * tiles of 12 rows and one of 4). Each element of C is the same chain of
 * FMAs as in the full tile, and the same final add. */
__attribute__((target("avx512f"))) static AGI_ALWAYS_INLINE void
kernel_avx512_edge(int64_t kc, const float *restrict ap, const float *restrict bp,
                   float *restrict c, int64_t ldc, int mr, int nr, bool add, const int R,
                   const int NB)
{
    __m512 acc[MR_X][2];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < NB; j++)
            acc[i][j] = _mm512_setzero_ps();
    const float *ar = ap, *br = bp;
    for (int i = 0; i < mr; i++) {        /* the tile of C, for the stores */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + nr - 1), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < kc; p++, ar += MR_X, br += NR_X) {
        __m512 b[2];
        for (int j = 0; j < NB; j++)
            b[j] = _mm512_loadu_ps(br + 16 * j);
        for (int i = 0; i < R; i++) {
            const __m512 a = _mm512_set1_ps(ar[i]);
            for (int j = 0; j < NB; j++)
                acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    const __mmask16 m[2] = {
        (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u),
        (__mmask16)(nr >= 32 ? 0xFFFFu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u)
    };
    for (int i = 0; i < R && i < mr; i++)
        for (int j = 0; j < NB; j++) {
            float *cij = c + i * ldc + 16 * j;
            __m512 v = acc[i][j];
            if (add)
                v = _mm512_add_ps(_mm512_maskz_loadu_ps(m[j], cij), v);
            _mm512_mask_storeu_ps(cij, m[j], v);
        }
}

__attribute__((target("avx512f"))) static void
kernel_avx512(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
              int64_t ldc, int mr, int nr, bool add, const float *cn, const char *const *pf,
              int npf)
{
    if (nr <= 16) {
        if (mr <= 4)
            kernel_avx512_edge(kc, ap, bp, c, ldc, mr, nr, add, 4, 1);
        else if (mr <= 8)
            kernel_avx512_edge(kc, ap, bp, c, ldc, mr, nr, add, 8, 1);
        else
            kernel_avx512_edge(kc, ap, bp, c, ldc, mr, nr, add, 12, 1);
        return;
    }
    if (mr <= 8) {
        if (mr <= 4)
            kernel_avx512_edge(kc, ap, bp, c, ldc, mr, nr, add, 4, 2);
        else
            kernel_avx512_edge(kc, ap, bp, c, ldc, mr, nr, add, 8, 2);
        return;
    }
    XACC(0) XACC(1) XACC(2) XACC(3) XACC(4) XACC(5)
    XACC(6) XACC(7) XACC(8) XACC(9) XACC(10) XACC(11)
    const float *ar = ap, *br = bp;
    int64_t p = 0;
    if (cn && kc >= 2 * MR_X) {
        /* the next tile of C, a line every kc / 24 steps (it may come from
         * memory: a burst would hold every fill buffer at once); this one
         * was fetched by the previous call */
        const int64_t step = kc / (2 * MR_X);
        for (int q = 0; q < 2 * MR_X; q++) {
            _mm_prefetch((const char *)(cn + (q >> 1) * ldc + (q & 1) * (NR_X - 1)), _MM_HINT_T0);
            for (int r = q * npf / (2 * MR_X); r < (q + 1) * npf / (2 * MR_X); r++)
                _mm_prefetch(pf[r], _MM_HINT_T1);
            for (const int64_t pe = p + step; p < pe; p++, ar += MR_X, br += NR_X) {
                const __m512 b0 = _mm512_loadu_ps(br), b1 = _mm512_loadu_ps(br + 16);
                XROW(0) XROW(1) XROW(2) XROW(3) XROW(4) XROW(5)
                XROW(6) XROW(7) XROW(8) XROW(9) XROW(10) XROW(11)
            }
        }
    } else {
        for (int i = 0; i < mr; i++) {    /* the tile of C, for the stores */
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + nr - 1), _MM_HINT_T0);
        }
    }
    for (; p < kc; p++, ar += MR_X, br += NR_X) {
        const __m512 b0 = _mm512_loadu_ps(br), b1 = _mm512_loadu_ps(br + 16);
        XROW(0) XROW(1) XROW(2) XROW(3) XROW(4) XROW(5)
        XROW(6) XROW(7) XROW(8) XROW(9) XROW(10) XROW(11)
    }
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFFu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
    XSTORE(0) XSTORE(1) XSTORE(2) XSTORE(3) XSTORE(4) XSTORE(5)
    XSTORE(6) XSTORE(7) XSTORE(8) XSTORE(9) XSTORE(10) XSTORE(11)
}
#undef XACC
#undef XROW
#undef XSTORE
#endif

/* A kernel and the shape of its tile, which the packing follows. */
typedef struct kernel {
    kernel_fn fn;
    int mr, nr;
} kernel;

static const kernel K_PORTABLE = { kernel_portable, MR, NR };
#if HAVE_VECTOR
static const kernel K_VECTOR = { kernel_vector, MR, NR };
#endif
#if HAVE_X86_DISPATCH
static const kernel K_AVX2 = { kernel_avx2, MR, NR };
#endif
#if HAVE_AVX512
static const kernel K_AVX512 = { kernel_avx512, MR_X, NR_X };
#endif

/* ap: the rows [i0, i0 + mc) of op(A), columns [p0, p0 + kc), as slivers of
 * MRP rows (sliver s at s * MRP * kc), element (i, p) of a sliver at
 * p * MRP + i, rows past mc zero. */
static AGI_ALWAYS_INLINE void pack_a_mr(float *restrict ap, const float *restrict a,
                                        int64_t lda, bool ta, int64_t i0, int64_t mc,
                                        int64_t p0, int64_t kc, const int MRP)
{
    for (int64_t s = 0; s < mc; s += MRP) {
        float *restrict dst = ap + s * kc;
        const int rows = mc - s < MRP ? (int)(mc - s) : MRP;
        if (ta) {              /* op(A)(i, p) = A[p][i]: rows of A are contiguous in i */
            for (int64_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + s;
                float *d = dst + p * MRP;
                if (rows == MRP) {
                    for (int i = 0; i < MRP; i++)
                        d[i] = src[i];
                } else {
                    int i = 0;
                    for (; i < rows; i++)
                        d[i] = src[i];
                    for (; i < MRP; i++)
                        d[i] = 0.0f;
                }
            }
            continue;
        }
        const float *src = a + (i0 + s) * lda + p0;
        if (rows == MRP) {
            int64_t p = 0;
#if HAVE_SSE_TRANSPOSE
            /* 4 x 4 blocks: four rows of A, four steps of p, transposed */
            for (; p + 4 <= kc; p += 4) {
                int i = 0;
                for (; i + 4 <= MRP; i += 4) {
                    __m128 r0 = _mm_loadu_ps(src + i * lda + p);
                    __m128 r1 = _mm_loadu_ps(src + (i + 1) * lda + p);
                    __m128 r2 = _mm_loadu_ps(src + (i + 2) * lda + p);
                    __m128 r3 = _mm_loadu_ps(src + (i + 3) * lda + p);
                    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                    _mm_storeu_ps(dst + p * MRP + i, r0);
                    _mm_storeu_ps(dst + (p + 1) * MRP + i, r1);
                    _mm_storeu_ps(dst + (p + 2) * MRP + i, r2);
                    _mm_storeu_ps(dst + (p + 3) * MRP + i, r3);
                }
                for (; i < MRP; i++)
                    for (int q = 0; q < 4; q++)
                        dst[(p + q) * MRP + i] = src[i * lda + p + q];
            }
#endif
            for (; p < kc; p++)
                for (int i = 0; i < MRP; i++)
                    dst[p * MRP + i] = src[i * lda + p];
        } else {
            for (int64_t p = 0; p < kc; p++) {
                int i = 0;
                for (; i < rows; i++)
                    dst[p * MRP + i] = src[i * lda + p];
                for (; i < MRP; i++)
                    dst[p * MRP + i] = 0.0f;
            }
        }
    }
}

/* bp: the columns [j0, j0 + nc) of op(B), rows [p0, p0 + kc), as slivers of
 * NRP columns (sliver s at s * NRP * kc), element (p, j) of a sliver at
 * p * NRP + j, columns past nc zero. */
static AGI_ALWAYS_INLINE void pack_b_nr(float *restrict bp, const float *restrict b,
                                        int64_t ldb, bool tb, int64_t p0, int64_t kc,
                                        int64_t j0, int64_t nc, const int NRP)
{
    for (int64_t s = 0; s < nc; s += NRP) {
        float *restrict dst = bp + s * kc;
        const int cols = nc - s < NRP ? (int)(nc - s) : NRP;
        if (!tb) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + s;
                float *d = dst + p * NRP;
                if (p + PF_B < kc) {
                    PREFETCH(src + PF_B * ldb);
                    PREFETCH(src + PF_B * ldb + cols - 1);
                }
                if (cols == NRP) {
                    for (int j = 0; j < NRP; j++)
                        d[j] = src[j];
                } else {
                    int j = 0;
                    for (; j < cols; j++)
                        d[j] = src[j];
                    for (; j < NRP; j++)
                        d[j] = 0.0f;
                }
            }
            continue;
        }
        /* op(B)(p, j) = B[j][p]: walk B's rows */
        if (cols == NRP) {
            const float *src = b + (j0 + s) * ldb + p0;
            int64_t p = 0;
#if HAVE_SSE_TRANSPOSE
            /* 4 x 4 blocks: four rows of B, four steps of p, transposed (as
             * pack_a); four rows at a time from end to end (four streams
             * for the prefetchers, not NRP) */
            const int64_t kc4 = kc / 4 * 4;
            for (int jj = 0; jj < NRP; jj += 4)
                for (p = 0; p < kc4; p += 4) {
                    __m128 r0 = _mm_loadu_ps(src + jj * ldb + p);
                    __m128 r1 = _mm_loadu_ps(src + (jj + 1) * ldb + p);
                    __m128 r2 = _mm_loadu_ps(src + (jj + 2) * ldb + p);
                    __m128 r3 = _mm_loadu_ps(src + (jj + 3) * ldb + p);
                    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                    _mm_storeu_ps(dst + p * NRP + jj, r0);
                    _mm_storeu_ps(dst + (p + 1) * NRP + jj, r1);
                    _mm_storeu_ps(dst + (p + 2) * NRP + jj, r2);
                    _mm_storeu_ps(dst + (p + 3) * NRP + jj, r3);
                }
#endif
            for (; p < kc; p++)
                for (int jj = 0; jj < NRP; jj++)
                    dst[p * NRP + jj] = src[jj * ldb + p];
            continue;
        }
        int j = 0;
        for (; j < cols; j++) {
            const float *src = b + (j0 + s + j) * ldb + p0;
            for (int64_t p = 0; p < kc; p++)
                dst[p * NRP + j] = src[p];
        }
        for (; j < NRP; j++)
            for (int64_t p = 0; p < kc; p++)
                dst[p * NRP + j] = 0.0f;
    }
}

#if HAVE_AVX512
/* the AVX-512 kernel's packing, compiled for AVX-512 (wider copies) */
__attribute__((target("avx512f"))) static void
pack_a_x(float *restrict ap, const float *restrict a, int64_t lda, bool ta, int64_t i0,
         int64_t mc, int64_t p0, int64_t kc)
{
    pack_a_mr(ap, a, lda, ta, i0, mc, p0, kc, MR_X);
}

__attribute__((target("avx512f"))) static void
pack_b_x(float *restrict bp, const float *restrict b, int64_t ldb, bool tb, int64_t p0,
         int64_t kc, int64_t j0, int64_t nc)
{
    pack_b_nr(bp, b, ldb, tb, p0, kc, j0, nc, NR_X);
}
#endif

/* the tile shapes in use, so that the compiler sees constant sliver sizes */
static void pack_a(const kernel *kr, float *restrict ap, const float *restrict a, int64_t lda,
                   bool ta, int64_t i0, int64_t mc, int64_t p0, int64_t kc)
{
#if HAVE_AVX512
    if (kr->fn == kernel_avx512) {
        pack_a_x(ap, a, lda, ta, i0, mc, p0, kc);
        return;
    }
#endif
    if (kr->mr == MR_X)
        pack_a_mr(ap, a, lda, ta, i0, mc, p0, kc, MR_X);
    else
        pack_a_mr(ap, a, lda, ta, i0, mc, p0, kc, MR);
}

static void pack_b(const kernel *kr, float *restrict bp, const float *restrict b, int64_t ldb,
                   bool tb, int64_t p0, int64_t kc, int64_t j0, int64_t nc)
{
#if HAVE_AVX512
    if (kr->fn == kernel_avx512) {
        pack_b_x(bp, b, ldb, tb, p0, kc, j0, nc);
        return;
    }
#endif
    if (kr->nr == NR_X)
        pack_b_nr(bp, b, ldb, tb, p0, kc, j0, nc, NR_X);
    else
        pack_b_nr(bp, b, ldb, tb, p0, kc, j0, nc, NR);
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
        if (!accumulate) {
            for (int64_t j = 0; j < n; j++)
                ci[j] = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const float aip = ai[p * inca];
                const float *restrict bp = b + p * ldb;
                for (int64_t j = 0; j < n; j++)
                    ci[j] += aip * bp[j];
            }
            continue;
        }
        /* C + (the row above), the row summed apart in chunks: C's old value
         * is added once, as PyTorch adds a computed gradient */
        for (int64_t j0 = 0; j0 < n; j0 += ACC_ROW) {
            const int64_t nj = n - j0 < ACC_ROW ? n - j0 : ACC_ROW;
            float s[ACC_ROW];
            for (int64_t j = 0; j < nj; j++)
                s[j] = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const float aip = ai[p * inca];
                const float *restrict bp = b + p * ldb + j0;
                for (int64_t j = 0; j < nj; j++)
                    s[j] += aip * bp[j];
            }
            for (int64_t j = 0; j < nj; j++)
                ci[j0 + j] += s[j];
        }
    }
}

/* The size of the K blocks: k cut into ceil(k / kmax) equal blocks (the
 * last one shorter). */
static int64_t k_block(int64_t k, int64_t kmax)
{
    const int64_t nkb = (k + kmax - 1) / kmax;
    return (k + nkb - 1) / nkb;
}

/* How a product is cut: K blocks of kb (at most KC), and blocks of mb rows
 * of op(A) packed at once. Both come from the whole product's m and k (and
 * the kernel), never from a thread's tile of it, so that every tile sums the
 * same K blocks. If all of op(A)'s rows fit in the packing buffer beside a B
 * panel with K blocks of at least KC_MIN, they are packed as one block and B
 * is packed once (for M up to ~400: the MLP's batches); else blocks of MC
 * rows with K blocks of up to KC. */
typedef struct blocking {
    int64_t kb, mb;
    bool pfb;                  /* prefetch the next B panel: op(B) larger than PF_B_MIN */
} blocking;

static blocking plan_blocks(const kernel *kr, int64_t m, int64_t n, int64_t k)
{
    const int64_t mall = (m + kr->mr - 1) / kr->mr * kr->mr;
    const int64_t kmax = (PACK_FLOATS - 16) / (mall + NC);
    const bool pfb = (double)k * (double)n >= PF_B_MIN;
    if (mall > MC && kmax >= KC_MIN)
        return (blocking){ k_block(k, kmax < KC ? kmax : KC), mall, pfb };
    return (blocking){ k_block(k, KC), MC, pfb };
}

/* The cache lines of the B panel that follows (pc, ic, jc) in
 * gemm_blocked's loops into pf (at most PF_LINES); returns their count. */
static int next_panel_lines(const char **pf, const float *b, int64_t ldb, bool tb, int64_t m,
                            int64_t n, int64_t k, int64_t kb, int64_t mb, int64_t pc, int64_t ic,
                            int64_t jc)
{
    int64_t p0 = pc, j0 = jc + NC;
    if (j0 >= n) {             /* the first panel of the next block of rows, or of K */
        j0 = 0;
        if (ic + mb >= m)
            p0 = pc + kb;
    }
    if (p0 >= k)
        return 0;
    const int64_t kc = k - p0 < kb ? k - p0 : kb, nc = n - j0 < NC ? n - j0 : NC;
    /* op(B)[p0.., j0..] is kc rows of nc floats, or (tb) nc rows of kc floats */
    const int64_t rows = tb ? nc : kc, len = (tb ? kc : nc) * (int64_t)sizeof(float);
    const float *first = tb ? b + j0 * ldb + p0 : b + p0 * ldb + j0;
    int cnt = 0;
    for (int64_t i = 0; i < rows && cnt < PF_LINES; i++) {
        const char *r = (const char *)(first + i * ldb);
        for (int64_t o = 0; o < len && cnt < PF_LINES; o += 64)
            pf[cnt++] = r + o;
        if (cnt < PF_LINES && (len % 64 || (uintptr_t)r % 64))
            pf[cnt++] = r + len - 1;
    }
    return cnt;
}

/* never inlined: its 230 KB of packing buffer and prefetch list must not pile up in a
 * caller's frame */
static AGI_NOINLINE void gemm_blocked_run(const kernel *kr, blocking bl, bool ta, bool tb,
                                          int64_t m, int64_t n, int64_t k, const float *a,
                                          int64_t lda, const float *b, int64_t ldb, float *c,
                                          int64_t ldc, bool accumulate)
{
    /* 64-byte aligned so the packed rows start on cache lines: ap (mb x kb),
     * then bp (kb x NC) on the next cache line */
    _Alignas(64) float buf[PACK_FLOATS];
    const int mr = kr->mr, nr = kr->nr;
    const int64_t kb = bl.kb, mb = bl.mb;
    float *const ap = buf, *const bp = buf + (mb * kb + 15) / 16 * 16;
    const char *bl_lines[PF_LINES];
    for (int64_t pc = 0; pc < k; pc += kb) {
        const int64_t kc = k - pc < kb ? k - pc : kb;
        const bool add = accumulate || pc > 0;
        for (int64_t ic = 0; ic < m; ic += mb) {
            const int64_t mc = m - ic < mb ? m - ic : mb;
            pack_a(kr, ap, a, lda, ta, ic, mc, pc, kc);
            for (int64_t jc = 0; jc < n; jc += NC) {
                const int64_t nc = n - jc < NC ? n - jc : NC;
                pack_b(kr, bp, b, ldb, tb, pc, kc, jc, nc);
                const int nbl = bl.pfb ? next_panel_lines(bl_lines, b, ldb, tb, m, n, k, kb, mb,
                                                          pc, ic, jc)
                                       : 0;
                const int calls = (int)((nc + nr - 1) / nr * ((mc + mr - 1) / mr));
                const int per = (nbl + calls - 1) / calls;
                int q = 0;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int nrr = nc - jr < nr ? (int)(nc - jr) : nr;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        const int mrr = mc - ir < mr ? (int)(mc - ir) : mr;
                        /* the next call's tile if it is a full one further down */
                        const float *cn = mc - ir >= 2 * mr && nrr == nr
                                              ? c + (ic + ir + mr) * ldc + jc + jr : NULL;
                        if (ir == 0 && cn)  /* (then the kernel does not fetch its own) */
                            for (int i = 0; i < mrr; i++) {
                                PREFETCH(c + (ic + i) * ldc + jc + jr);
                                PREFETCH(c + (ic + i) * ldc + jc + jr + nrr - 1);
                            }
                        const int nq = nbl - q < per ? nbl - q : per;
                        kr->fn(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * ldc + jc + jr,
                               ldc, mrr, nrr, add, cn, bl_lines + q, cn ? nq : 0);
                        q += cn ? nq : 0;
                    }
                }
            }
        }
    }
}

/* gemm_blocked_run, where accumulating means C + (op(A) op(B)) with the
 * product exactly as a non-accumulating call computes it. With one K block
 * the kernels do that already (their sum starts from 0 and is added to C
 * once). Over several K blocks, adding each block's sum to C would round
 * C_old + s1 + s2 instead of C_old + (s1 + s2), unlike PyTorch, which
 * computes a gradient and then adds it to .grad: then C is done in tiles
 * of ACC_MR x ACC_NC, each product summed apart (the same K blocks, so the
 * same sums) and added to C. Packing is repeated per tile: about 1/ACC_MR
 * (A) and 1/ACC_NC (B) more memory traffic than the product's flops, and
 * only for accumulating products over K > bl.kb. */
static AGI_NOINLINE void gemm_blocked(const kernel *kr, blocking bl, bool ta, bool tb, int64_t m,
                                      int64_t n, int64_t k, const float *a, int64_t lda,
                                      const float *b, int64_t ldb, float *c, int64_t ldc,
                                      bool accumulate)
{
    if (!accumulate || k <= bl.kb) {
        gemm_blocked_run(kr, bl, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    _Alignas(64) float tmp[ACC_MR * ACC_NC];
    for (int64_t i0 = 0; i0 < m; i0 += ACC_MR) {
        const int64_t mi = m - i0 < ACC_MR ? m - i0 : ACC_MR;
        for (int64_t j0 = 0; j0 < n; j0 += ACC_NC) {
            const int64_t nj = n - j0 < ACC_NC ? n - j0 : ACC_NC;
            gemm_blocked_run(kr, bl, ta, tb, mi, nj, k, a + (ta ? i0 : i0 * lda), lda,
                             b + (tb ? j0 * ldb : j0), ldb, tmp, nj, false);
            for (int64_t i = 0; i < mi; i++) {
                float *restrict ci = c + (i0 + i) * ldc + j0;
                const float *restrict ti = tmp + i * nj;
                for (int64_t j = 0; j < nj; j++)
                    ci[j] += ti[j];
            }
        }
    }
}

/* ---- threads ----
 * A large product is cut into a grid of nt tiles of C (nt threads: one task
 * each, with its own packing buffers), rows in multiples of MR and columns in
 * multiples of NR, the grid's shape chosen for the smallest largest tile.
 * Every element of C is computed by one task, in one kernel call per K block,
 * the K blocks in order and fixed by k alone: the result is bit-identical for
 * any thread count and any cut. */

#define PARALLEL_MIN 2000000   /* m * n * k below this: one thread. Waking a sleeping worker
                                  * costs ~50 us on a 2-core VM, but workers poll for 200 us
                                  * after each loop (core/pool.c), so the loops of a training step
                                  * cost ~1 us each; a product after a long pause pays the wake */

typedef struct gemm_job {
    const kernel *kr;
    blocking bl;
    bool ta, tb, accumulate;
    int64_t m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    int64_t rows, cols;        /* rows and columns per task (multiples of MR, NR) */
    int64_t gc;                /* tiles per row of the grid */
} gemm_job;

static void gemm_task(void *ctx, int t)
{
    const gemm_job *g = ctx;
    const int64_t i0 = (t / g->gc) * g->rows, j0 = (t % g->gc) * g->cols;
    const int64_t mi = g->m - i0 < g->rows ? g->m - i0 : g->rows;
    const int64_t nj = g->n - j0 < g->cols ? g->n - j0 : g->cols;
    if (mi <= 0 || nj <= 0)
        return;
    gemm_blocked(g->kr, g->bl, g->ta, g->tb, mi, nj, g->k, g->a + (g->ta ? i0 : i0 * g->lda), g->lda,
                 g->b + (g->tb ? j0 * g->ldb : j0), g->ldb, g->c + i0 * g->ldc + j0, g->ldc,
                 g->accumulate);
}

static void gemm_parallel(const kernel *kr, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                          int64_t ldc, bool accumulate)
{
    const int nt = ag_num_threads();
    gemm_job g = { kr, plan_blocks(kr, m, n, k), ta, tb, accumulate, m, n, k, lda, ldb, ldc, a, b,
                   c, 0, 0, 0 };
    if (nt > 1 && (double)m * (double)n * (double)k >= PARALLEL_MIN) {
        const int64_t ms = (m + kr->mr - 1) / kr->mr, ns = (n + kr->nr - 1) / kr->nr;
        double best = 0.0;
        for (int gr = 1; gr <= nt; gr++) {
            const int gc = nt / gr;
            if (gr * gc != nt || gr > ms || gc > ns)
                continue;
            const int64_t rows = (ms + gr - 1) / gr * kr->mr, cols = (ns + gc - 1) / gc * kr->nr;
            const double size = (double)rows * (double)cols;
            if (g.gc == 0 || size < best) {
                best = size;
                g.rows = rows;
                g.cols = cols;
                g.gc = gc;
            }
        }
    }
    if (g.gc == 0) {           /* one thread, or too small to cut */
        gemm_blocked(kr, g.bl, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    agi_parallel_for(nt, gemm_task, &g);
}

/* AG_GEMM_KERNEL, read once: the kernel AGI_GEMM_AUTO uses for blocked products */
static once_flag env_once = ONCE_FLAG_INIT;
static int env_impl = AGI_GEMM_AUTO;

static void read_env(void)
{
    const char *e = getenv("AG_GEMM_KERNEL");
    if (!e)
        return;
    if (!strcmp(e, "avx512"))
        env_impl = AGI_GEMM_AVX512;
    else if (!strcmp(e, "avx2"))
        env_impl = AGI_GEMM_AVX2;
    else if (!strcmp(e, "vector"))
        env_impl = AGI_GEMM_VECTOR;
    else if (!strcmp(e, "portable"))
        env_impl = AGI_GEMM_PORTABLE;
}

/* The kernel of impl, or NULL if this CPU or build lacks it. */
static const kernel *find_kernel(int impl)
{
    switch (impl) {
    case AGI_GEMM_PORTABLE:
    case AGI_GEMM_UNBLOCKED:
        return &K_PORTABLE;
    case AGI_GEMM_VECTOR:
#if HAVE_VECTOR
        return &K_VECTOR;
#else
        return NULL;
#endif
    case AGI_GEMM_AVX2:
#if HAVE_X86_DISPATCH
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &K_AVX2 : NULL;
#else
        return NULL;
#endif
    case AGI_GEMM_AVX512:
#if HAVE_AVX512
        return __builtin_cpu_supports("avx512f") ? &K_AVX512 : NULL;
#else
        return NULL;
#endif
    default:
        return NULL;
    }
}

bool agi_sgemm_with(int impl, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                    int64_t ldc, bool accumulate)
{
    const kernel *kr;
    if (impl == AGI_GEMM_AUTO) {
        call_once(&env_once, read_env);
        kr = env_impl != AGI_GEMM_AUTO ? find_kernel(env_impl) : NULL;
        if (!kr)
            kr = find_kernel(AGI_GEMM_AVX512);
        if (!kr)
            kr = find_kernel(AGI_GEMM_AVX2);
        if (!kr)
            kr = find_kernel(AGI_GEMM_VECTOR);
        if (!kr)
            kr = &K_PORTABLE;
    } else if (!(kr = find_kernel(impl)))
        return false;
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
        gemm_parallel(kr, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return true;
}

void agi_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate)
{
    (void)agi_sgemm_with(AGI_GEMM_AUTO, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
