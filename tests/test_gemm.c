/* test_gemm.c - agi_sgemm (src/kernels/gemm.c) against a naive double-accumulating
 * product: every implementation (portable blocked, vector extensions, AVX2
 * and AVX-512 blocked where the CPU has them, unblocked, and the automatic
 * choice), all four transposition flags, assign and accumulate, over sizes
 * that cross the register tiles (6 x 16, 12 x 32) and the blocks (KC = 256,
 * MC = 192, NC = 32, and all rows at once up to ~410) by one either way,
 * including 0 and 1, with row strides
 * larger than the matrices. Elements of C outside the product
 * must stay untouched, and C's old contents must not be read when assigning
 * (they are NaN). Also ag_matmul's error messages and its result shapes
 * (its values and gradients are checked against PyTorch by test_reference
 * and by central differences in test_gradcheck). */
#include "testutil.h"
#include "internal.h"

#include <stdio.h>

static uint64_t rng_state = 0x853C49E6748FEA9BULL;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static float rng_float(void)
{
    return (float)((double)(rng_next() >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static int rng_int(int lo, int hi)
{
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

static const int IMPLS[] = { AGI_GEMM_AUTO, AGI_GEMM_PORTABLE, AGI_GEMM_VECTOR, AGI_GEMM_AVX2,
                             AGI_GEMM_AVX512, AGI_GEMM_UNBLOCKED };
static const char *const IMPL_NAMES[] = { "auto", "portable", "vector", "avx2", "avx512",
                                          "unblocked" };
#define N_IMPLS 6

static long n_products, n_skipped_impl;
static bool skipped[N_IMPLS];  /* kernels this CPU or build does not have */

/* One product with every implementation, flag pair and mode. */
static void check_size(int64_t m, int64_t n, int64_t k)
{
    for (int flags = 0; flags < 4; flags++) {
        const bool ta = flags & 1, tb = flags & 2;
        /* stored shapes, with a few columns of padding in every row */
        const int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        const int64_t lda = ac + rng_int(0, 3), ldb = bc + rng_int(0, 3), ldc = n + rng_int(0, 3);
        float *a = malloc((size_t)(ar * lda + 1) * sizeof(float));
        float *b = malloc((size_t)(br * ldb + 1) * sizeof(float));
        float *c0 = malloc((size_t)(m * ldc + 1) * sizeof(float));
        float *c = malloc((size_t)(m * ldc + 1) * sizeof(float));
        double *ref = malloc((size_t)(m * n + 1) * sizeof(double));
        double *mag = malloc((size_t)(m * n + 1) * sizeof(double));
        assert_true(a && b && c0 && c && ref && mag);
        for (int64_t i = 0; i < ar * lda; i++)
            a[i] = rng_float();
        for (int64_t i = 0; i < br * ldb; i++)
            b[i] = rng_float();
        for (int64_t i = 0; i < m * ldc; i++)
            c0[i] = rng_float();
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0.0, s_abs = 0.0;
                for (int64_t p = 0; p < k; p++) {
                    const double x = ta ? a[p * lda + i] : a[i * lda + p];
                    const double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    s += x * y;
                    s_abs += fabs(x * y);
                }
                ref[i * n + j] = s;
                mag[i * n + j] = s_abs;
            }
        for (int q = 0; q < N_IMPLS; q++) {
            for (int acc = 0; acc < 2; acc++) {
                for (int64_t i = 0; i < m * ldc; i++)
                    c[i] = c0[i];
                if (!acc)      /* assigning must not read C */
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++)
                            c[i * ldc + j] = NAN;
                if (!agi_sgemm_with(IMPLS[q], ta, tb, m, n, k, a, lda, b, ldb, c, ldc, acc)) {
                    /* only the compiler- and CPU-specific kernels may be missing */
                    assert_true(IMPLS[q] == AGI_GEMM_AVX2 || IMPLS[q] == AGI_GEMM_AVX512 ||
                                IMPLS[q] == AGI_GEMM_VECTOR);
                    skipped[q] = true;
                    n_skipped_impl++;
                    continue;
                }
                n_products++;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < ldc; j++) {
                        const float got = c[i * ldc + j];
                        if (j >= n) {  /* padding: untouched */
                            assert_memory_equal(&got, &c0[i * ldc + j], sizeof got);
                            continue;
                        }
                        const double want = ref[i * n + j] + (acc ? c0[i * ldc + j] : 0.0);
                        /* float accumulation: |error| <= k u sum|x y| (+ the add) */
                        const double bound = (double)(k + 2) * 0x1.0p-24 *
                                             (mag[i * n + j] + (acc ? fabs(c0[i * ldc + j]) : 0.0)) +
                                             1e-30;
                        if (!(fabs(got - want) <= bound)) {
                            print_error("%s ta=%d tb=%d acc=%d m=%lld n=%lld k=%lld: C[%lld][%lld] "
                                        "= %.9g, expected %.9g (bound %.3g)\n",
                                        IMPL_NAMES[q], ta, tb, acc, (long long)m, (long long)n,
                                        (long long)k, (long long)i, (long long)j, (double)got,
                                        want, bound);
                            fail();
                        }
                    }
            }
        }
        free(a);
        free(b);
        free(c0);
        free(c);
        free(ref);
        free(mag);
    }
}

static void test_edges(void **state)
{
    (void)state;
    /* around the tiles (6 x 16, 12 x 32) and the blocks (KC = 256, MC = 192,
     * NC = 32) */
    /* (AVX-512 edge tiles: up to 4, 8 or 12 rows, 16 or 32 columns) */
    static const int64_t ms[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 25 };
    static const int64_t ns[] = { 0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 65 };
    static const int64_t ks[] = { 0, 1, 2, 255, 257 };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t p = 0; p < sizeof ks / sizeof ks[0]; p++)
                check_size(ms[i], ns[j], ks[p]);
    check_size(191, 33, 20);           /* MC - 1, MC, MC + 1 rows */
    check_size(192, 17, 3);
    check_size(193, 64, 513);          /* and three K blocks */
    /* all rows packed as one block, with shorter K blocks (up to ~410 rows),
     * then blocks of MC rows again */
    check_size(256, 40, 300);
    check_size(409, 17, 260);
    check_size(421, 33, 129);
    check_size(25, 700, 760);          /* op(B) over 2 MB: the kernel prefetches its panels */
    check_size(13, 130, 257);
    check_size(31, 129, 300);
    printf("# %ld products checked, %ld skipped (kernel not available here)\n", n_products, n_skipped_impl);
    for (int q = 0; q < N_IMPLS; q++)
        if (skipped[q])
            printf("# note: the %s kernel is not available on this CPU or build: not tested\n",
                   IMPL_NAMES[q]);
}

static void test_random(void **state)
{
    (void)state;
    for (int r = 0; r < 40; r++)
        check_size(rng_int(1, 40), rng_int(1, 90), rng_int(1, 150));
    printf("# %ld products checked\n", n_products);
}

/* Non-finite values propagate as in a plain sum of products, including
 * through the packed (zero-padded) edges: a partial tile (7 x 17) and full
 * tiles with edges (13 x 33). */
static void test_nonfinite(void **state)
{
    (void)state;
    static const int64_t sizes[][2] = { { 7, 17 }, { 13, 33 } };
    const int64_t k = 5;
    float a[13 * 5], b[5 * 33], c[13 * 33];
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        const int64_t m = sizes[z][0], n = sizes[z][1];
        for (int q = 0; q < N_IMPLS; q++) {
            for (int i = 0; i < m * k; i++)
                a[i] = 1.0f;
            for (int i = 0; i < k * n; i++)
                b[i] = 1.0f;
            a[2 * k + 1] = INFINITY;       /* row 2: inf, and inf * 0 = NaN in column 3 */
            b[1 * n + 3] = 0.0f;
            b[4 * n + 16] = NAN;           /* column 16: NaN in every row */
            if (!agi_sgemm_with(IMPLS[q], false, false, m, n, k, a, k, b, n, c, n, false))
                continue;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    const float v = c[i * n + j];
                    if (j == 16 || (i == 2 && j == 3))
                        assert_true(isnan(v));
                    else if (i == 2)
                        assert_true(isinf(v) && v > 0);
                    else
                        assert_float_eq(v, j == 3 ? 4.0f : 5.0f);
                }
        }
    }
}

static void test_bad_impl(void **state)
{
    (void)state;
    float x = 1.0f;
    assert_false(agi_sgemm_with(-1, false, false, 1, 1, 1, &x, 1, &x, 1, &x, 1, false));
    assert_false(agi_sgemm_with(99, false, false, 1, 1, 1, &x, 1, &x, 1, &x, 1, false));
    assert_float_eq(x, 1.0f);
}

/* ag_matmul's errors: the message, a NULL result, inputs untouched. */
static void expect_matmul_error(int na, const int64_t *sa, int nb, const int64_t *sb,
                                const char *msg)
{
    ag_tensor *a = ag_ones(na, sa, true), *b = ag_ones(nb, sb, true);
    assert_true(a && b);
    ag_tape *t = ag_tape_new();
    assert_null(ag_matmul(t, a, b));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), msg);
    for (int64_t i = 0; i < ag_numel(a); i++)
        assert_float_eq(ag_data(a)[i], 1.0f);
    assert_null(ag_grad(a));
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
}

static void test_matmul_errors(void **state)
{
    (void)state;
    expect_matmul_error(2, (const int64_t[]){ 2, 3 }, 2, (const int64_t[]){ 4, 5 },
                        "ag_matmul: shapes (2,3) and (4,5) cannot be multiplied (3 != 4)");
    expect_matmul_error(1, (const int64_t[]){ 3 }, 1, (const int64_t[]){ 4 },
                        "ag_matmul: shapes (3) and (4) cannot be multiplied (3 != 4)");
    expect_matmul_error(0, NULL, 1, (const int64_t[]){ 3 },
                        "ag_matmul: both arguments to matmul need to be at least 1D, "
                        "got shapes () and (3)");
    expect_matmul_error(2, (const int64_t[]){ 2, 3 }, 0, NULL,
                        "ag_matmul: both arguments to matmul need to be at least 1D, "
                        "got shapes (2,3) and ()");
    expect_matmul_error(3, (const int64_t[]){ 2, 3, 4 }, 3, (const int64_t[]){ 5, 4, 2 },
                        "ag_matmul: shapes (2,3,4) and (5,4,2) cannot be multiplied: "
                        "batch dimensions (2) and (5) cannot be broadcast");
    /* NULL operands and a NULL tape are errors too */
    ag_tape *t = ag_tape_new();
    assert_null(ag_matmul(t, NULL, NULL));
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
    assert_null(ag_matmul(NULL, NULL, NULL));
    assert_contains(ag_last_error(), "ag_matmul");
}

/* Result shapes of every torch.matmul case, and k = 0 giving zeros. */
static void test_matmul_shapes(void **state)
{
    (void)state;
    static const struct {
        int na, nb, nout;
        int64_t a[4], b[4], out[4];
    } cases[] = {
        { 1, 1, 0, { 3 }, { 3 }, { 0 } },
        { 2, 2, 2, { 2, 3 }, { 3, 4 }, { 2, 4 } },
        { 1, 2, 1, { 3 }, { 3, 4 }, { 4 } },
        { 2, 1, 1, { 2, 3 }, { 3 }, { 2 } },
        { 3, 3, 3, { 5, 2, 3 }, { 5, 3, 4 }, { 5, 2, 4 } },
        { 4, 3, 4, { 2, 1, 2, 3 }, { 3, 3, 4 }, { 2, 3, 2, 4 } },
        { 3, 1, 2, { 5, 2, 3 }, { 3 }, { 5, 2 } },
        { 1, 3, 2, { 3 }, { 5, 3, 4 }, { 5, 4 } },
        { 2, 2, 2, { 2, 0 }, { 0, 3 }, { 2, 3 } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ag_tensor *a = ag_full(cases[c].na, cases[c].a, 2.0f, true);
        ag_tensor *b = ag_full(cases[c].nb, cases[c].b, 3.0f, true);
        ag_tape *t = ag_tape_new();
        ag_tensor *y = ag_matmul(t, a, b);
        assert_int_equal(ag_tape_status(t), AG_OK);
        assert_shape(y, cases[c].nout, cases[c].out);
        const float k = (float)cases[c].a[cases[c].na - 1];
        for (int64_t i = 0; i < ag_numel(y); i++)
            assert_float_eq(ag_data(y)[i], 6.0f * k);
        ag_tape_free(t);
        ag_tensor_free(a);
        ag_tensor_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_bad_impl),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_matmul_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
