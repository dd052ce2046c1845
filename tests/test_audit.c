/* test_audit.c - regressions of the public-API audit's "fix first" findings
 * (issue 11): each test failed (or, for the NULL + 0 one, failed under
 * UBSan; or hung) before its fix. */
#define _POSIX_C_SOURCE 200809L   /* alarm, signal: a hang fails the test */

#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "autograd.h"
#include "internal.h"
#include "testutil.h"

/* ---- a watchdog: an op on an empty tensor must cost O(1), so any of these
 * taking seconds is a failure, not a slow pass (before the fix, the softmax
 * of a (2^40, 1, 0) tensor ran for hours) ---- */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_audit: an op on an empty tensor did not return within "
                              "the watchdog's time (it loops over the other sizes)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(3);
}

static void watchdog(unsigned seconds)
{
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

/* sum(y) backward with every input's grad checked: y is empty, so its
 * gradient flows nowhere and the inputs' grads are zeros of their shapes */
static void backward_through(ag_tape *t, ag_tensor *y)
{
    assert_non_null(y);
    ag_tensor *s = ag_sum(t, y, 0, NULL, false);
    assert_non_null(s);
    assert_float_eq(ag_item(s), 0.0f);
    assert_int_equal(ag_backward(t, s), AG_OK);
}

static void test_empty_ops_cost_nothing(void **state)
{
    (void)state;
    watchdog(60);               /* all of them together; after the fix, well under 1 s */
    ag_tape *t = ag_tape_new();

    /* matmul of (2^30, 0, 0) batches: ~6 s before */
    const int64_t s1[3] = { (int64_t)1 << 30, 0, 0 };
    ag_tensor *a = ag_zeros(3, s1, true);
    ag_tensor *y = ag_matmul(t, a, a);
    assert_shape(y, 3, s1);
    backward_through(t, y);
    assert_shape(ag_grad(a), 3, s1);
    ag_tape_reset(t);

    /* softmax / log_softmax of (2^40, 1, 0) along every dim: hours before */
    const int64_t s2[3] = { (int64_t)1 << 40, 1, 0 };
    ag_tensor *b = ag_zeros(3, s2, true);
    for (int d = -3; d < 3; d++) {
        y = ag_softmax(t, b, d);
        assert_shape(y, 3, s2);
        backward_through(t, y);
        y = ag_log_softmax(t, b, d);
        assert_shape(y, 3, s2);
        backward_through(t, y);
        ag_tape_reset(t);
    }

    /* cat and stack of such pieces, along every dim */
    ag_tensor *xs[3] = { b, b, b };
    for (int d = 0; d < 3; d++) {
        y = ag_cat(t, 3, xs, d);
        assert_non_null(y);
        assert_int_equal(ag_shape(y)[d], 3 * s2[d]);
        backward_through(t, y);
        ag_tape_reset(t);
    }
    for (int d = 0; d <= 3; d++) {
        y = ag_stack(t, 3, xs, d);
        assert_non_null(y);
        assert_int_equal(ag_ndim(y), 4);
        assert_int_equal(ag_shape(y)[d], 3);
        backward_through(t, y);
        ag_tape_reset(t);
    }

    /* cross_entropy of (2^40, 3, 0): no positions. mean is 0 / 0 = nan and
     * sum is 0, as in PyTorch; reduction none gives a (2^40, 0) result */
    const int64_t s3[3] = { (int64_t)1 << 40, 3, 0 };
    ag_tensor *x = ag_zeros(3, s3, true);
    const int64_t dummy = 0;    /* no positions: no target is read */
    ag_ce_opts o = ag_ce_defaults();
    for (int r = 0; r < 3; r++) {
        o.reduction = (ag_reduction)r;
        ag_tensor *l1 = ag_cross_entropy(t, x, &dummy, &o);
        ag_tensor *l2 = ag_cross_entropy_prob(t, x, x, &o);
        assert_non_null(l1);
        assert_non_null(l2);
        if (o.reduction == AG_REDUCTION_NONE) {
            const int64_t ls[2] = { (int64_t)1 << 40, 0 };
            assert_shape(l1, 2, ls);
            assert_shape(l2, 2, ls);
            backward_through(t, l1);
        } else {
            assert_int_equal(ag_ndim(l1), 0);
            if (o.reduction == AG_REDUCTION_MEAN) {
                assert_true(ag_item(l1) != ag_item(l1));    /* nan */
                assert_true(ag_item(l2) != ag_item(l2));
            } else {
                assert_float_eq(ag_item(l1), 0.0f);
                assert_float_eq(ag_item(l2), 0.0f);
            }
            assert_int_equal(ag_backward(t, ag_add(t, l1, l2)), AG_OK);
        }
        assert_int_equal(ag_tape_status(t), AG_OK);
        ag_tape_reset(t);
    }
    alarm(0);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* ag_linear_new(in, 0, true): forward and backward through an affine op
 * with no output features called memset(NULL, 0, 0) (UB; the fuzz build
 * aborts on it). The result and every gradient are empty or zero. */
static void test_linear_zero_out_features(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_linear *l = ag_linear_new(3, 0, true, &r);
    assert_non_null(l);
    const int64_t xs[2] = { 4, 3 };
    ag_tensor *x = ag_ones(2, xs, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_linear_forward(t, l, x);
    const int64_t ys[2] = { 4, 0 };
    assert_shape(y, 2, ys);
    backward_through(t, y);
    const int64_t ws[2] = { 0, 3 }, bs[1] = { 0 };
    assert_shape(ag_grad(ag_linear_weight(l)), 2, ws);
    assert_shape(ag_grad(ag_linear_bias(l)), 1, bs);
    assert_shape(ag_grad(x), 2, xs);
    for (int i = 0; i < 12; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], 0.0f);
    ag_tape_reset(t);
    /* and ag_affine itself, with a 0-dim-batch input too */
    ag_tensor *e = ag_zeros(2, ws, true);
    y = ag_affine(t, e, ag_linear_weight(l), ag_linear_bias(l));
    const int64_t zs[2] = { 0, 0 };
    assert_shape(y, 2, zs);     /* (0,3) input, (0,3) weight: in = 3 fits, out = 0 */
    backward_through(t, y);
    ag_tape_reset(t);
    y = ag_affine(t, x, ag_linear_weight(l), ag_linear_bias(l));
    assert_shape(y, 2, ys);
    backward_through(t, y);
    ag_tensor_free(e);
    ag_tensor_free(x);
    ag_linear_free(l);
    ag_tape_free(t);
}

/* ---- messages that named the wrong thing ---- */

static ag_tensor *f_sin(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_sin(t, in[0]);
}

static void test_gradcheck_bad_tolerance_messages(void **state)
{
    (void)state;
    ag_tensor *x = ag_scalar(0.5f, true);
    ag_tensor *in[1] = { x };
    const double bad[] = { NAN, -1e-3, INFINITY };
    const char *names[] = { "eps", "atol", "rtol" };
    for (int which = 0; which < 3; which++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ag_gradcheck_opts o = { 0 };
            double *field = which == 0 ? &o.eps : which == 1 ? &o.atol : &o.rtol;
            *field = bad[i];
            ag_gradcheck_report rep;
            assert_int_equal(ag_gradcheck(f_sin, NULL, 1, in, &o, &rep), AG_ERR_ARG);
            char want[32];
            snprintf(want, sizeof want, "ag_gradcheck: %s is ", names[which]);
            assert_contains(ag_last_error(), want);
            assert_contains(ag_last_error(), "positive and finite");
            assert_int_equal(rep.checked, 0);
            assert_null(ag_grad(x));            /* the caller's tensor untouched */
        }
    /* 0 still means the default, and a good value works */
    ag_gradcheck_opts o = { 0 };
    assert_int_equal(ag_gradcheck(f_sin, NULL, 1, in, &o, NULL), AG_OK);
    o.eps = 1e-2;
    o.atol = 1e-4;
    o.rtol = 1e-3;
    assert_int_equal(ag_gradcheck(f_sin, NULL, 1, in, &o, NULL), AG_OK);
    ag_tensor_free(x);
}

static void test_messages(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 2);

    /* ag_linear_new: a size overflow is not "out of memory", and both
     * messages give the sizes in the call's order, named */
    assert_null(ag_linear_new((int64_t)1 << 40, (int64_t)1 << 40, true, &r));
    assert_contains(ag_last_error(), "ag_linear_new: in_features 1099511627776 and "
                                     "out_features 1099511627776");
    assert_contains(ag_last_error(), "too large");
    assert_true(strstr(ag_last_error(), "out of memory") == NULL);
    tu_alloc al;
    tu_alloc_use(&al);
    al.fail_at = 2;             /* the layer's struct succeeds, its weight fails */
    assert_null(ag_linear_new(5, 7, true, &r));
    tu_alloc_restore();
    assert_string_equal(ag_last_error(),
                        "ag_linear_new: out of memory for in_features 5 and out_features 7");
    assert_int_equal(al.outstanding, 0);
    assert_null(ag_linear_new(5, -7, true, &r));
    assert_string_equal(ag_last_error(),
                        "ag_linear_new: in_features 5 and out_features -7 must be non-negative");

    /* a reduction of -1 is "-1", not 4294967295 */
    ag_tensor *x = ag_ones(1, (const int64_t[]){ 3 }, true);
    ag_tape *t = ag_tape_new();
    assert_null(ag_mse_loss(t, x, x, (ag_reduction)-1));
    assert_string_equal(ag_tape_error(t), "ag_mse_loss: unknown reduction -1");
    ag_tape_reset(t);
    ag_ce_opts o = ag_ce_defaults();
    o.reduction = (ag_reduction)-1;
    const int64_t tg[1] = { 0 };
    assert_null(ag_cross_entropy(t, x, tg, &o));
    assert_string_equal(ag_tape_error(t), "ag_cross_entropy: unknown reduction -1");
    ag_tape_reset(t);

    /* a negative narrow length is not "exceeds" */
    assert_null(ag_narrow(t, x, 0, 1, -1));
    assert_contains(ag_tape_error(t), "ag_narrow: length -1 must be non-negative");
    assert_true(strstr(ag_tape_error(t), "exceeds") == NULL);
    ag_tape_reset(t);
    assert_null(ag_narrow(t, x, 0, 1, 3));
    assert_contains(ag_tape_error(t), "exceeds");
    assert_null(ag_grad(x));
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* ---- accumulation into an existing grad rounds as PyTorch's does: the new
 * gradient is computed, then added (grad += new_grad), never added term by
 * term or K block by K block ---- */

/* C_old + (A B) against agi_sgemm's accumulate, bit for bit, for one kernel */
static void check_accumulate(int impl, bool ta, bool tb, int64_t m, int64_t n, int64_t k)
{
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
    float *a = test_malloc((size_t)(m * k) * sizeof *a);
    float *b = test_malloc((size_t)(k * n) * sizeof *b);
    float *c = test_malloc((size_t)(m * n) * sizeof *c);
    float *p = test_malloc((size_t)(m * n) * sizeof *p);
    tu_fill(a, m * k, 11 + (uint64_t)m, -1.0f, 1.0f);
    tu_fill(b, k * n, 12 + (uint64_t)n, -1.0f, 1.0f);
    tu_fill(c, m * n, 13 + (uint64_t)k, -3.0f, 3.0f);
    if (!agi_sgemm_with(impl, ta, tb, m, n, k, a, lda, b, ldb, p, n, false)) {
        test_free(a), test_free(b), test_free(c), test_free(p);
        return;                 /* this CPU or build has not this kernel */
    }
    for (int64_t i = 0; i < m * n; i++)
        p[i] = c[i] + p[i];     /* what PyTorch's grad += new_grad gives */
    assert_true(agi_sgemm_with(impl, ta, tb, m, n, k, a, lda, b, ldb, c, n, true));
    char what[96];
    snprintf(what, sizeof what, "impl %d ta %d tb %d m %lld n %lld k %lld", impl, ta, tb,
             (long long)m, (long long)n, (long long)k);
    tu_assert_same_bits(c, p, m * n, what);
    test_free(a), test_free(b), test_free(c), test_free(p);
}

static void test_gemm_accumulate_adds_once(void **state)
{
    (void)state;
    /* small (unblocked, term by term before), thin, one K block, several
     * K blocks (k > 256), and a C wider than the accumulation tiles */
    const int64_t sizes[][3] = { { 3, 4, 5 }, { 2, 300, 7 }, { 1, 40, 600 }, { 17, 33, 64 },
                                 { 50, 70, 600 }, { 130, 250, 530 }, { 7, 5, 1000 } };
    const int impls[] = { AGI_GEMM_AUTO, AGI_GEMM_UNBLOCKED, AGI_GEMM_PORTABLE,
                          AGI_GEMM_VECTOR, AGI_GEMM_AVX2, AGI_GEMM_AVX512 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
            for (int tr = 0; tr < 4; tr++)
                check_accumulate(impls[i], tr & 1, tr & 2, sizes[s][0], sizes[s][1],
                                 sizes[s][2]);
    /* the same with worker threads cutting C into tiles */
    ag_set_num_threads(2);
    check_accumulate(AGI_GEMM_AUTO, false, false, 200, 180, 700);
    check_accumulate(AGI_GEMM_AUTO, true, false, 200, 180, 700);
    ag_set_num_threads(1);
}

/* A second backward through matmul, affine and linear: the leaves' grads are
 * exactly g_first + g_second, each as a backward into fresh leaves gives it. */
typedef ag_tensor *(*two_in)(ag_tape *t, ag_tensor *a, ag_tensor *b, ag_tensor *seedw);

static ag_tensor *via_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b, ag_tensor *v)
{
    return ag_sum(t, ag_mul(t, ag_matmul(t, a, b), v), 0, NULL, false);
}

static ag_tensor *via_affine(ag_tape *t, ag_tensor *a, ag_tensor *b, ag_tensor *v)
{
    /* b is the weight (out, in): a (m, in) -> (m, out) */
    return ag_sum(t, ag_mul(t, ag_affine(t, a, b, NULL), v), 0, NULL, false);
}

static void grads_of(two_in f, const float *ad, const float *bd, const float *vd, int64_t m,
                     int64_t k, int64_t n, bool affine, float *ga, float *gb)
{
    const int64_t as[2] = { m, k }, bs[2] = { affine ? n : k, affine ? k : n }, vs[2] = { m, n };
    ag_tensor *a = ag_tensor_new(2, as, ad, true), *b = ag_tensor_new(2, bs, bd, true);
    ag_tensor *v = ag_tensor_new(2, vs, vd, false);
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_backward(t, f(t, a, b, v)), AG_OK);
    memcpy(ga, ag_data(ag_grad(a)), (size_t)(m * k) * sizeof *ga);
    memcpy(gb, ag_data(ag_grad(b)), (size_t)(k * n) * sizeof *gb);
    ag_tape_free(t);
    ag_tensor_free(a), ag_tensor_free(b), ag_tensor_free(v);
}

static void check_second_backward(two_in f, bool affine, int64_t m, int64_t k, int64_t n)
{
    const size_t na = (size_t)(m * k), nb = (size_t)(k * n), nv = (size_t)(m * n);
    float *ad = test_malloc(na * sizeof *ad), *bd = test_malloc(nb * sizeof *bd);
    float *v1 = test_malloc(nv * sizeof *v1), *v2 = test_malloc(nv * sizeof *v2);
    float *ga1 = test_malloc(na * sizeof *ga1), *gb1 = test_malloc(nb * sizeof *gb1);
    float *ga2 = test_malloc(na * sizeof *ga2), *gb2 = test_malloc(nb * sizeof *gb2);
    tu_fill(ad, (int64_t)na, 21, -1.0f, 1.0f);
    tu_fill(bd, (int64_t)nb, 22, -1.0f, 1.0f);
    tu_fill(v1, (int64_t)nv, 23, -1.0f, 1.0f);
    tu_fill(v2, (int64_t)nv, 24, -0.01f, 0.01f);    /* a much smaller second gradient */
    grads_of(f, ad, bd, v1, m, k, n, affine, ga1, gb1);
    grads_of(f, ad, bd, v2, m, k, n, affine, ga2, gb2);
    for (size_t i = 0; i < na; i++)
        ga1[i] += ga2[i];
    for (size_t i = 0; i < nb; i++)
        gb1[i] += gb2[i];
    /* both backwards into the same leaves */
    const int64_t as[2] = { m, k }, bs[2] = { affine ? n : k, affine ? k : n }, vs[2] = { m, n };
    ag_tensor *a = ag_tensor_new(2, as, ad, true), *b = ag_tensor_new(2, bs, bd, true);
    ag_tensor *w1 = ag_tensor_new(2, vs, v1, false), *w2 = ag_tensor_new(2, vs, v2, false);
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_backward(t, f(t, a, b, w1)), AG_OK);
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, f(t, a, b, w2)), AG_OK);
    char what[64];
    snprintf(what, sizeof what, "%s (%lld,%lld,%lld) da", affine ? "affine" : "matmul",
             (long long)m, (long long)k, (long long)n);
    tu_assert_same_bits(ag_data(ag_grad(a)), ga1, (int64_t)na, what);
    what[strlen(what) - 1] = 'b';
    tu_assert_same_bits(ag_data(ag_grad(b)), gb1, (int64_t)nb, what);
    ag_tape_free(t);
    ag_tensor_free(a), ag_tensor_free(b), ag_tensor_free(w1), ag_tensor_free(w2);
    test_free(ad), test_free(bd), test_free(v1), test_free(v2);
    test_free(ga1), test_free(gb1), test_free(ga2), test_free(gb2);
}

static void test_second_backward_rounds_as_pytorch(void **state)
{
    (void)state;
    /* (m, k, n): tiny (unblocked), the tutorial's Linear(3, 2), and inner
     * sizes past one K block in each of the backward's two products */
    const int64_t sizes[][3] = { { 2, 3, 2 }, { 4, 3, 2 }, { 8, 5, 300 }, { 300, 20, 30 },
                                 { 64, 600, 48 }, { 520, 40, 24 } };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        check_second_backward(via_matmul, false, sizes[s][0], sizes[s][1], sizes[s][2]);
        check_second_backward(via_affine, true, sizes[s][0], sizes[s][1], sizes[s][2]);
    }
}

/* Within one backward, a non-leaf used by an elementwise op and by a matmul
 * gets g_elementwise + g_matmul, the matmul's gradient computed apart. */
static void test_matmul_into_a_written_buffer(void **state)
{
    (void)state;
    const int64_t m = 6, k = 700, n = 5;
    const int64_t as[2] = { m, k }, bs[2] = { k, n };
    float *ad = test_malloc((size_t)(m * k) * sizeof *ad), *bd = test_malloc((size_t)(k * n) * sizeof *bd);
    tu_fill(ad, m * k, 31, -1.0f, 1.0f);
    tu_fill(bd, k * n, 32, -1.0f, 1.0f);
    ag_tensor *a = ag_tensor_new(2, as, ad, true), *b = ag_tensor_new(2, bs, bd, true);
    ag_tape *t = ag_tape_new();
    /* h = b * 3 (non-leaf); loss = sum(a @ h) + sum(h * 0.5) */
    ag_tensor *h = ag_mul_scalar(t, b, 3.0f);
    ag_retain_grad(h);
    ag_tensor *l2 = ag_sum(t, ag_matmul(t, a, h), 0, NULL, false);
    /* recorded after the matmul, so its backward writes h's gradient first */
    ag_tensor *l1 = ag_sum(t, ag_mul_scalar(t, h, 0.5f), 0, NULL, false);
    assert_int_equal(ag_backward(t, ag_add(t, l2, l1)), AG_OK);
    /* h.grad = 0.5 + (a^T @ ones): the matmul's part as a fresh product */
    float *want = test_malloc((size_t)(k * n) * sizeof *want);
    float *ones = test_malloc((size_t)(m * n) * sizeof *ones);
    for (int64_t i = 0; i < m * n; i++)
        ones[i] = 1.0f;
    agi_sgemm(true, false, k, n, m, ad, k, ones, n, want, n, false);
    for (int64_t i = 0; i < k * n; i++)
        want[i] = 0.5f + want[i];
    tu_assert_same_bits(ag_data(ag_grad(h)), want, k * n, "h.grad");
    ag_tape_free(t);
    ag_tensor_free(a), ag_tensor_free(b);
    test_free(ad), test_free(bd), test_free(want), test_free(ones);
}

int main(void)
{
    const char *only = getenv("AG_TEST_FILTER");   /* e.g. "test_messages" */
    if (only)
        cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_ops_cost_nothing),
        cmocka_unit_test(test_linear_zero_out_features),
        cmocka_unit_test(test_gradcheck_bad_tolerance_messages),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_gemm_accumulate_adds_once),
        cmocka_unit_test(test_second_backward_rounds_as_pytorch),
        cmocka_unit_test(test_matmul_into_a_written_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
