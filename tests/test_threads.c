/* test_threads.c - the worker pool: matmul's forward and backward give
 * bit-identical results for 1, 2 and 3 threads over sizes on both sides of
 * the parallel threshold and every transposition the backward uses; so do the
 * elementwise ops (split in fixed ranges); tapes on two threads use the pool
 * at once; the thread count's argument checks. */
#include "testutil.h"

#include <threads.h>

typedef struct result {
    float *y, *da, *db;
    int64_t ny, na, nb;
} result;

static void fill(ag_tensor *x, uint64_t seed)
{
    for (int64_t i = 0; i < ag_numel(x); i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ag_data(x)[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5);
    }
}

static float *copy(const ag_tensor *x)
{
    float *p = malloc((size_t)(ag_numel(x) + 1) * sizeof(float));
    assert_non_null(p);
    memcpy(p, ag_data((ag_tensor *)x), (size_t)ag_numel(x) * sizeof(float));
    return p;
}

/* y = a @ b and both gradients for a seed of ones-ish values. */
static result run(int nda, const int64_t *sa, int ndb, const int64_t *sb)
{
    ag_tensor *a = ag_tensor_new(nda, sa, NULL, true), *b = ag_tensor_new(ndb, sb, NULL, true);
    fill(a, 1);
    fill(b, 2);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_matmul(t, a, b);
    assert_non_null(y);
    ag_tensor *seed = ag_tensor_new(ag_ndim(y), ag_shape(y), NULL, false);
    fill(seed, 3);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    result r = { copy(y), copy(ag_grad(a)), copy(ag_grad(b)), ag_numel(y), ag_numel(a), ag_numel(b) };
    ag_tensor_free(seed);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    return r;
}

static void result_free(result *r)
{
    free(r->y);
    free(r->da);
    free(r->db);
}

static void expect_same(const result *x, const result *y)
{
    assert_int_equal(x->ny, y->ny);
    assert_memory_equal(x->y, y->y, (size_t)x->ny * sizeof(float));
    assert_memory_equal(x->da, y->da, (size_t)x->na * sizeof(float));
    assert_memory_equal(x->db, y->db, (size_t)x->nb * sizeof(float));
}

static const struct {
    int nda, ndb;
    int64_t sa[3], sb[3];
} CASES[] = {
    { 2, 2, { 8, 8 }, { 8, 8 } },                 /* below the threshold */
    { 2, 2, { 128, 784 }, { 784, 256 } },         /* an MLP layer */
    { 2, 2, { 300, 257 }, { 257, 131 } },         /* odd sizes: partial tiles */
    { 2, 2, { 7, 1000 }, { 1000, 1400 } },        /* few rows, many columns */
    { 2, 2, { 2000, 300 }, { 300, 20 } },         /* many rows, few columns */
    { 3, 3, { 3, 100, 90 }, { 3, 90, 110 } },     /* batched */
    { 3, 2, { 4, 64, 300 }, { 300, 200 } },       /* batches merged into rows */
};

static void test_bit_identical(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        assert_int_equal(ag_set_num_threads(1), AG_OK);
        result one = run(CASES[c].nda, CASES[c].sa, CASES[c].ndb, CASES[c].sb);
        for (int n = 2; n <= 3; n++) {
            assert_int_equal(ag_set_num_threads(n), AG_OK);
            assert_int_equal(ag_num_threads(), n);
            result many = run(CASES[c].nda, CASES[c].sa, CASES[c].ndb, CASES[c].sb);
            expect_same(&one, &many);
            result_free(&many);
        }
        result_free(&one);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    assert_int_equal(ag_num_threads(), 1);
}

/* ---- elementwise ops: every unary and binary kernel split over the pool,
 * forward and backward, at sizes below and above AGI_PAR_MIN (2^16) with a
 * partial last chunk; inputs include inf, NaN and huge values (the trig
 * kernels' scalar fix-up pass) ---- */

enum { EW_UNARY, EW_BINARY, EW_BSCALAR };

typedef struct ew_case {
    const char *name;
    int kind;
    ag_tensor *(*u)(ag_tape *, ag_tensor *);
    ag_tensor *(*b)(ag_tape *, ag_tensor *, ag_tensor *);
} ew_case;

static ag_tensor *ew_gelu_erf(ag_tape *t, ag_tensor *a) { return ag_gelu(t, a, false); }
static ag_tensor *ew_gelu_tanh(ag_tape *t, ag_tensor *a) { return ag_gelu(t, a, true); }
static ag_tensor *ew_lrelu(ag_tape *t, ag_tensor *a) { return ag_leaky_relu(t, a, 0.1f); }
static ag_tensor *ew_clamp(ag_tape *t, ag_tensor *a) { return ag_clamp(t, a, -0.5f, 0.7f); }
static ag_tensor *ew_pow(ag_tape *t, ag_tensor *a) { return ag_pow(t, a, 1.7f); }
static ag_tensor *ew_adds(ag_tape *t, ag_tensor *a) { return ag_add_scalar(t, a, 0.3f); }
static ag_tensor *ew_muls(ag_tape *t, ag_tensor *a) { return ag_mul_scalar(t, a, -1.3f); }
static ag_tensor *ew_divs(ag_tape *t, ag_tensor *a) { return ag_div_scalar(t, a, 3.0f); }

static const ew_case EW_CASES[] = {
    { "exp", EW_UNARY, ag_exp, NULL },         { "log", EW_UNARY, ag_log, NULL },
    { "sin", EW_UNARY, ag_sin, NULL },         { "cos", EW_UNARY, ag_cos, NULL },
    { "tan", EW_UNARY, ag_tan, NULL },         { "sqrt", EW_UNARY, ag_sqrt, NULL },
    { "abs", EW_UNARY, ag_abs, NULL },         { "neg", EW_UNARY, ag_neg, NULL },
    { "tanh", EW_UNARY, ag_tanh, NULL },       { "sigmoid", EW_UNARY, ag_sigmoid, NULL },
    { "relu", EW_UNARY, ag_relu, NULL },       { "leaky_relu", EW_UNARY, ew_lrelu, NULL },
    { "gelu", EW_UNARY, ew_gelu_erf, NULL },   { "gelu_tanh", EW_UNARY, ew_gelu_tanh, NULL },
    { "clamp", EW_UNARY, ew_clamp, NULL },     { "pow", EW_UNARY, ew_pow, NULL },
    { "add_scalar", EW_UNARY, ew_adds, NULL }, { "mul_scalar", EW_UNARY, ew_muls, NULL },
    { "div_scalar", EW_UNARY, ew_divs, NULL },
    { "add", EW_BINARY, NULL, ag_add },        { "sub", EW_BINARY, NULL, ag_sub },
    { "mul", EW_BINARY, NULL, ag_mul },        { "div", EW_BINARY, NULL, ag_div },
    { "maximum", EW_BINARY, NULL, ag_maximum }, { "minimum", EW_BINARY, NULL, ag_minimum },
    { "pow_tensor", EW_BINARY, NULL, ag_pow_tensor },
    { "mul by a 0-dim", EW_BSCALAR, NULL, ag_mul }, { "div by a 0-dim", EW_BSCALAR, NULL, ag_div },
};

/* values in [-3, 3] with specials sprinkled in (every 1000th element) */
static void ew_fill(ag_tensor *x, uint64_t seed)
{
    static const float special[] = { INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e7f, -4e5f,
                                     3200.5f, 1e-40f, 88.8f, -104.0f, 1.5707964f };
    fill(x, seed);
    float *p = ag_data(x);
    for (int64_t i = 0; i < ag_numel(x); i++)
        p[i] *= 6.0f;
    for (int64_t i = 7, k = 0; i < ag_numel(x); i += 1000, k++)
        p[i] = special[k % (sizeof special / sizeof special[0])];
}

static result ew_run(const ew_case *c, int64_t n)
{
    ag_tensor *a = ag_tensor_new(1, &n, NULL, true);
    ag_tensor *b = c->kind == EW_BSCALAR ? ag_tensor_new(0, NULL, NULL, true)
                                         : ag_tensor_new(1, &n, NULL, true);
    ew_fill(a, 11);
    ew_fill(b, 12);
    if (c->kind == EW_BSCALAR)
        ag_data(b)[0] = 0.75f;
    ag_tape *t = ag_tape_new();
    ag_tensor *y = c->kind == EW_UNARY ? c->u(t, a) : c->b(t, a, b);
    assert_non_null(y);
    ag_tensor *seed = ag_tensor_new(1, &n, NULL, false);
    fill(seed, 13);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    result r = { copy(y), copy(ag_grad(a)), c->kind == EW_UNARY ? NULL : copy(ag_grad(b)), n,
                 n, c->kind == EW_UNARY ? 0 : ag_numel(b) };
    ag_tensor_free(seed);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    return r;
}

static void test_elementwise_bit_identical(void **state)
{
    (void)state;
    static const int64_t sizes[] = { 1000, 3 * 32768 + 123 };
    for (size_t c = 0; c < sizeof EW_CASES / sizeof EW_CASES[0]; c++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            assert_int_equal(ag_set_num_threads(1), AG_OK);
            result one = ew_run(&EW_CASES[c], sizes[s]);
            for (int n = 2; n <= 3; n++) {
                assert_int_equal(ag_set_num_threads(n), AG_OK);
                result many = ew_run(&EW_CASES[c], sizes[s]);
                if (memcmp(one.y, many.y, (size_t)one.ny * sizeof(float)) ||
                    memcmp(one.da, many.da, (size_t)one.na * sizeof(float)) ||
                    (one.nb && memcmp(one.db, many.db, (size_t)one.nb * sizeof(float)))) {
                    print_error("%s, n = %lld: %d threads differ from 1\n", EW_CASES[c].name,
                                (long long)sizes[s], n);
                    fail();
                }
                result_free(&many);
            }
            result_free(&one);
        }
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

static result thread_results[2];

static int tape_thread(void *arg)
{
    const int i = *(int *)arg;
    thread_results[i] = run(2, CASES[1].sa, 2, CASES[1].sb);
    return 0;
}

/* Two tapes on two threads share the pool (one of them may find it busy and
 * run alone): both get the serial results. */
static void test_two_tapes(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    result one = run(2, CASES[1].sa, 2, CASES[1].sb);
    assert_int_equal(ag_set_num_threads(2), AG_OK);
    for (int round = 0; round < 3; round++) {
        thrd_t th[2];
        int ids[2] = { 0, 1 };
        for (int i = 0; i < 2; i++)
            assert_int_equal(thrd_create(&th[i], tape_thread, &ids[i]), thrd_success);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(thrd_join(th[i], NULL), thrd_success);
            expect_same(&one, &thread_results[i]);
            result_free(&thread_results[i]);
        }
    }
    result_free(&one);
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

static void test_bad_counts(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(0), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_num_threads: 0 threads");
    assert_int_equal(ag_set_num_threads(-3), AG_ERR_ARG);
    assert_int_equal(ag_set_num_threads(65), AG_ERR_ARG);
    assert_int_equal(ag_num_threads(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_bit_identical),
        cmocka_unit_test(test_elementwise_bit_identical),
        cmocka_unit_test(test_two_tapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
