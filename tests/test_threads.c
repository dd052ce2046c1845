/* test_threads.c - the worker pool: matmul's forward and backward give
 * bit-identical results for 1, 2 and 3 threads over sizes on both sides of
 * the parallel threshold and every transposition the backward uses; so do the
 * elementwise ops (split in fixed ranges); so do affine and every gemm kernel
 * (agi_sgemm_with) cut into grids for 2 to 5 threads; so do the optimizers'
 * steps and zero_grad (one pass over all parameters); tapes on two threads
 * use the pool at once, also while a third changes the thread count; the
 * thread count's argument checks; workers left running at exit (valgrind in
 * .ci/run checks that they are joined). */
#include "testutil.h"
#include "internal.h"

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
    { 2, 2, { 256, 1024 }, { 1024, 10 } },        /* just above the threshold (m n k = 2.6M) */
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
static ag_tensor *ew_subs(ag_tape *t, ag_tensor *a) { return ag_sub_scalar(t, a, 0.3f); }
static ag_tensor *ew_rsubs(ag_tape *t, ag_tensor *a) { return ag_rsub_scalar(t, a, 0.3f); }

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
    { "div_scalar", EW_UNARY, ew_divs, NULL }, { "sub_scalar", EW_UNARY, ew_subs, NULL },
    { "rsub_scalar", EW_UNARY, ew_rsubs, NULL },
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

/* y = affine(x, w, b) and its three gradients (x: 2-D or 3-D) */
static void affine_run(int ndx, const int64_t *sx, int64_t n_out, float **out)
{
    const int64_t sw[2] = { n_out, sx[ndx - 1] };
    ag_tensor *x = ag_tensor_new(ndx, sx, NULL, true), *w = ag_tensor_new(2, sw, NULL, true);
    ag_tensor *b = ag_tensor_new(1, &n_out, NULL, true);
    fill(x, 4);
    fill(w, 5);
    fill(b, 6);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_affine(t, x, w, b);
    assert_non_null(y);
    ag_tensor *seed = ag_tensor_new(ag_ndim(y), ag_shape(y), NULL, false);
    fill(seed, 7);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    /* the bias: added to each row of x w^T; db: the columns' sums of the
     * seed, in double */
    ag_tensor *y0 = ag_affine(t, x, w, NULL);
    assert_non_null(y0);
    const int64_t m = ag_numel(y) / n_out;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n_out; j++)
            assert_true(ag_data(y)[i * n_out + j] == ag_data(y0)[i * n_out + j] + ag_data(b)[j]);
    for (int64_t j = 0; j < n_out; j++) {
        double sum = 0.0;
        for (int64_t i = 0; i < m; i++)
            sum += ag_data(seed)[i * n_out + j];
        assert_true(ag_data(ag_grad(b))[j] == (float)sum);
    }
    out[0] = copy(y);
    out[1] = copy(ag_grad(x));
    out[2] = copy(ag_grad(w));
    out[3] = copy(ag_grad(b));
    ag_tensor_free(seed);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(b);
}

/* affine (nn.Linear): forward, dx, dw (a transposed A) and db, above the
 * parallel threshold, for 1 to 4 threads (4: a 2 x 2 grid) */
static void test_affine_bit_identical(void **state)
{
    (void)state;
    static const struct {
        int ndx;
        int64_t sx[3], n_out;
    } cases[] = { { 2, { 256, 300 }, 200 }, { 3, { 3, 70, 301 }, 333 }, { 2, { 100, 30 }, 1000 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t m = cases[c].ndx == 2 ? cases[c].sx[0] : cases[c].sx[0] * cases[c].sx[1];
        const int64_t n_in = cases[c].sx[cases[c].ndx - 1], n_out = cases[c].n_out;
        const size_t bytes[4] = { (size_t)(m * n_out) * sizeof(float),
                                  (size_t)(m * n_in) * sizeof(float),
                                  (size_t)(n_out * n_in) * sizeof(float),
                                  (size_t)n_out * sizeof(float) };
        float *one[4], *many[4];
        assert_int_equal(ag_set_num_threads(1), AG_OK);
        affine_run(cases[c].ndx, cases[c].sx, n_out, one);
        for (int n = 2; n <= 4; n++) {
            assert_int_equal(ag_set_num_threads(n), AG_OK);
            affine_run(cases[c].ndx, cases[c].sx, n_out, many);
            for (int i = 0; i < 4; i++) {
                assert_memory_equal(one[i], many[i], bytes[i]);
                free(many[i]);
            }
        }
        for (int i = 0; i < 4; i++)
            free(one[i]);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

/* Every gemm kernel through the thread grid (matmul uses only the automatic
 * choice): products above the parallel threshold, every transposition,
 * assign and accumulate, 2 to 5 threads against 1, with row strides larger
 * than the matrices. */
static void test_gemm_kernels_bit_identical(void **state)
{
    (void)state;
    static const int IMPLS[] = { AGI_GEMM_PORTABLE, AGI_GEMM_VECTOR, AGI_GEMM_AVX2,
                                 AGI_GEMM_AVX512 };
    /* all rows packed at once (one and three K blocks), blocks of MC rows, few rows */
    static const int64_t sizes[][3] = { { 205, 211, 200 }, { 260, 100, 520 }, { 430, 40, 600 },
                                        { 13, 1100, 600 } };
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int flags = 0; flags < 4; flags++) {
            const int64_t m = sizes[z][0], n = sizes[z][1], k = sizes[z][2];
            const bool ta = flags & 1, tb = flags & 2;
            const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
            const int64_t na = (ta ? k : m) * lda, nb = (tb ? n : k) * ldb, nc = m * ldc;
            float *a = malloc((size_t)na * sizeof(float)), *b = malloc((size_t)nb * sizeof(float));
            float *c1 = malloc((size_t)nc * sizeof(float)), *c2 = malloc((size_t)nc * sizeof(float));
            assert_true(a && b && c1 && c2);
            for (int64_t i = 0; i < na; i++)
                a[i] = (float)((i * 7919) % 1999) / 1999.0f - 0.5f;
            for (int64_t i = 0; i < nb; i++)
                b[i] = (float)((i * 104729) % 2003) / 2003.0f - 0.5f;
            for (size_t q = 0; q < sizeof IMPLS / sizeof IMPLS[0]; q++)
                for (int acc = 0; acc < 2; acc++) {
                    assert_int_equal(ag_set_num_threads(1), AG_OK);
                    for (int64_t i = 0; i < nc; i++)
                        c1[i] = (float)(i % 13);
                    if (!agi_sgemm_with(IMPLS[q], ta, tb, m, n, k, a, lda, b, ldb, c1, ldc, acc))
                        continue;      /* not on this CPU or build */
                    for (int nt = 2; nt <= 5; nt++) {
                        assert_int_equal(ag_set_num_threads(nt), AG_OK);
                        for (int64_t i = 0; i < nc; i++)
                            c2[i] = (float)(i % 13);
                        assert_true(agi_sgemm_with(IMPLS[q], ta, tb, m, n, k, a, lda, b, ldb,
                                                   c2, ldc, acc));
                        if (memcmp(c1, c2, (size_t)nc * sizeof(float))) {
                            print_error("kernel %d, %lld x %lld x %lld, ta=%d tb=%d acc=%d: "
                                        "%d threads differ from 1\n", IMPLS[q], (long long)m,
                                        (long long)n, (long long)k, ta, tb, acc, nt);
                            fail();
                        }
                    }
                }
            free(a);
            free(b);
            free(c1);
            free(c2);
        }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

/* Optimizer steps and zero_grad, which walk all parameters as one range
 * split over the pool: parameters above and below the parallel threshold
 * (chunks that straddle two parameters), one that never gets a gradient,
 * for SGD (plain; momentum, Nesterov, weight decay), Adam and AdamW with
 * amsgrad; three steps (loss sum(p * p * c)) at 1 thread against 2 to 4. */
#define OPT_NP 5
static const int64_t OPT_SIZES[OPT_NP] = { 70001, 5, 100003, 40000, 3 };

static float *optim_run(int variant)
{
    ag_tensor *ps[OPT_NP], *cs[OPT_NP];
    int64_t total = 0;
    for (int k = 0; k < OPT_NP; k++) {
        ps[k] = ag_zeros(1, &OPT_SIZES[k], true);
        cs[k] = ag_zeros(1, &OPT_SIZES[k], false);
        assert_true(ps[k] && cs[k]);
        for (int64_t i = 0; i < OPT_SIZES[k]; i++) {
            ag_data(ps[k])[i] = (float)(((i + 31 * k) * 7919) % 2003) / 1001.0f - 1.0f;
            ag_data(cs[k])[i] = (float)(((i + 17 * k) * 104729) % 1999) / 999.0f - 1.0f;
        }
        total += OPT_SIZES[k];
    }
    ag_optim *o;
    if (variant == 0) {
        const ag_sgd_opts so = ag_sgd_defaults(0.1f);
        o = ag_sgd_new(OPT_NP, ps, &so);
    } else if (variant == 1) {
        ag_sgd_opts so = ag_sgd_defaults(0.05f);
        so.momentum = 0.9f;
        so.nesterov = true;
        so.weight_decay = 0.01f;
        o = ag_sgd_new(OPT_NP, ps, &so);
    } else {
        ag_adam_opts ao = variant == 2 ? ag_adam_defaults() : ag_adamw_defaults();
        ao.amsgrad = true;
        ao.weight_decay = 0.02f;
        o = (variant == 2 ? ag_adam_new : ag_adamw_new)(OPT_NP, ps, &ao);
    }
    assert_non_null(o);
    ag_tape *t = ag_tape_new();
    for (int step = 0; step < 3; step++) {
        ag_tape_reset(t);
        ag_optim_zero_grad(o);
        ag_tensor *loss = NULL;
        for (int k = 0; k < OPT_NP; k++) {
            if (k == 1)
                continue;      /* parameter 1: no gradient, never updated */
            ag_tensor *term = ag_sum(t, ag_mul(t, ag_mul(t, ps[k], ps[k]), cs[k]), 0, NULL, false);
            loss = loss ? ag_add(t, loss, term) : term;
        }
        assert_int_equal(ag_backward(t, loss), AG_OK);
        float *before = NULL;
        if (variant == 0) {    /* plain SGD: every element takes x + (-lr) g once */
            before = malloc((size_t)(2 * total) * sizeof(float));
            assert_non_null(before);
            int64_t at = 0;
            for (int k = 0; k < OPT_NP; k++, at += OPT_SIZES[k - 1])
                for (int64_t i = 0; i < OPT_SIZES[k]; i++) {
                    before[at + i] = ag_data(ps[k])[i];
                    before[total + at + i] = k == 1 ? 0.0f : ag_data(ag_grad(ps[k]))[i];
                }
        }
        assert_int_equal(ag_optim_step(o), AG_OK);
        if (before) {
            int64_t at = 0;
            for (int k = 0; k < OPT_NP; k++, at += OPT_SIZES[k - 1])
                for (int64_t i = 0; i < OPT_SIZES[k]; i++)
                    assert_true(ag_data(ps[k])[i] ==
                                before[at + i] + -0.1f * before[total + at + i]);
            free(before);
        }
    }
    ag_optim_zero_grad(o);
    float *out = malloc((size_t)(2 * total) * sizeof(float));
    assert_non_null(out);
    int64_t at = 0;
    for (int k = 0; k < OPT_NP; k++) {
        memcpy(out + at, ag_data(ps[k]), (size_t)OPT_SIZES[k] * sizeof(float));
        at += OPT_SIZES[k];
        /* the gradients after zero_grad: zeros (none for parameter 1) */
        if (k == 1)
            assert_null(ag_grad(ps[k]));
        for (int64_t i = 0; i < OPT_SIZES[k]; i++)
            out[total + at - OPT_SIZES[k] + i] = k == 1 ? 0.0f : ag_data(ag_grad(ps[k]))[i];
    }
    for (int64_t i = total; i < 2 * total; i++)
        assert_true(out[i] == 0.0f);
    ag_tape_free(t);
    ag_optim_free(o);
    for (int k = 0; k < OPT_NP; k++) {
        ag_tensor_free(ps[k]);
        ag_tensor_free(cs[k]);
    }
    return out;
}

static void test_optim_bit_identical(void **state)
{
    (void)state;
    int64_t total = 0;
    for (int k = 0; k < OPT_NP; k++)
        total += OPT_SIZES[k];
    for (int variant = 0; variant < 4; variant++) {
        assert_int_equal(ag_set_num_threads(1), AG_OK);
        float *one = optim_run(variant);
        /* parameter 1 (no gradient) kept its values */
        assert_float_eq(one[OPT_SIZES[0]], (float)((31 * 7919) % 2003) / 1001.0f - 1.0f);
        for (int n = 2; n <= 4; n++) {
            assert_int_equal(ag_set_num_threads(n), AG_OK);
            float *many = optim_run(variant);
            assert_memory_equal(one, many, (size_t)total * sizeof(float));
            free(many);
        }
        free(one);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

static int count_setter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++)
        (void)ag_set_num_threads(1 + i % 4);
    return 0;
}

static int busy_tape_thread(void *arg)
{
    const result *want = arg;
    for (int round = 0; round < 3; round++) {
        result r = run(2, CASES[1].sa, 2, CASES[1].sb);
        expect_same(want, &r);
        result_free(&r);
    }
    return 0;
}

/* ag_set_num_threads while tapes on two other threads run products: it waits
 * for the loop in progress, the others run alone or on the pool, and all get
 * the serial results. (Under ThreadSanitizer this caught an unlocked read of
 * the thread count in agi_parallel_for.) */
static void test_set_while_running(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    result one = run(2, CASES[1].sa, 2, CASES[1].sb);
    thrd_t th[3];
    for (int i = 0; i < 2; i++)
        assert_int_equal(thrd_create(&th[i], busy_tape_thread, &one), thrd_success);
    assert_int_equal(thrd_create(&th[2], count_setter, NULL), thrd_success);
    for (int i = 0; i < 3; i++)
        assert_int_equal(thrd_join(th[i], NULL), thrd_success);
    result_free(&one);
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

static void test_bad_counts(void **state)
{
    (void)state;
    const int before = ag_num_threads();     /* AG_NUM_THREADS may have set it */
    assert_int_equal(ag_set_num_threads(0), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_num_threads: 0 threads");
    assert_int_equal(ag_set_num_threads(-3), AG_ERR_ARG);
    assert_int_equal(ag_set_num_threads(65), AG_ERR_ARG);
    assert_int_equal(ag_num_threads(), before);
}

/* Last: the workers are left running. The library joins them at exit, which
 * the valgrind step of .ci/run checks (a thread alive at exit holds memory
 * valgrind reports as possibly lost). */
static void test_exit_with_workers(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(3), AG_OK);
    result r = run(2, CASES[1].sa, 2, CASES[1].sb);
    result_free(&r);
    assert_int_equal(ag_num_threads(), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_bit_identical),
        cmocka_unit_test(test_elementwise_bit_identical),
        cmocka_unit_test(test_affine_bit_identical),
        cmocka_unit_test(test_gemm_kernels_bit_identical),
        cmocka_unit_test(test_optim_bit_identical),
        cmocka_unit_test(test_two_tapes),
        cmocka_unit_test(test_set_while_running),
        cmocka_unit_test(test_exit_with_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
