/* test_gradcheck_api.c - ag_gradcheck finds a gradient that is wrong at a
 * single element, and reports the worst element: its input, index, both
 * gradients and the ratio to the tolerance.
 *
 * The wrong gradients are made with detach: for a constant c,
 *     y = x*x + (detach(x) - x) * c
 * has the value x*x exactly (detach(x) - x is exactly 0 in float), but
 * backward sees d(y)/dx = 2x - c, so the analytic gradient of sum(y) is wrong
 * by exactly c_j at element j and right wherever c is 0. The expected report
 * is worked out from that formula, not from the library. */
#include "testutil.h"

#define N 7
static const float X[N] = { 0.3f, -1.2f, 0.8f, 1.5f, -0.4f, 0.9f, -0.7f };

/* ag_gradcheck's default tolerances (include/autograd.h) */
#define ATOL 1e-3
#define RTOL 1e-2

/* x*x + (detach(x) - x) * c: the value of x*x, the gradient 2x - c */
static ag_tensor *wrong_by(ag_tape *t, ag_tensor *x, ag_tensor *c)
{
    ag_tensor *zero = ag_sub(t, ag_detach(t, x), x);
    return ag_add(t, ag_mul(t, x, x), ag_mul(t, zero, c));
}

/* sum(x*x) with the analytic gradient off by c[j] at element j; ud is c */
static ag_tensor *f_one(ag_tape *t, ag_tensor *const *in, void *ud)
{
    return ag_sum(t, wrong_by(t, in[0], ud), 0, NULL, false);
}

/* the same, not summed: the output is projected on a random vector */
static ag_tensor *f_one_vec(ag_tape *t, ag_tensor *const *in, void *ud)
{
    return wrong_by(t, in[0], ud);
}

/* sum(x*x) + sum(w*w) with errors c[0] in x's gradient and c[1] in w's;
 * ud is c[2] */
static ag_tensor *f_two(ag_tape *t, ag_tensor *const *in, void *ud)
{
    ag_tensor **c = ud;
    return ag_add(t, ag_sum(t, wrong_by(t, in[0], c[0]), 0, NULL, false),
                  ag_sum(t, wrong_by(t, in[1], c[1]), 0, NULL, false));
}

static ag_tensor *f_relu_sum(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_sum(t, ag_relu(t, in[0]), 0, NULL, false);
}

static ag_tensor *f_abs_sum(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_sum(t, ag_abs(t, in[0]), 0, NULL, false);
}

/* A constant (no grad) of n elements, 0 except err[k] at idx[k]. */
static ag_tensor *errors_at(int64_t n, int m, const int *idx, const float *err)
{
    ag_tensor *c = ag_zeros(1, &n, false);
    assert_non_null(c);
    for (int k = 0; k < m; k++)
        ag_data(c)[idx[k]] = err[k];
    return c;
}

/* The report of a gradient off by err at element j of x (a summed output):
 * numeric 2x, analytic 2x - err, ratio err / (atol + rtol |2x|). The float32
 * forward makes the numeric gradient good to about 1e-3 here. */
static void expect_report(const ag_gradcheck_report *rep, int input, int64_t j, float x,
                          float err)
{
    assert_int_equal(rep->input, input);
    assert_int_equal(rep->index, j);
    assert_close(rep->numeric, 2.0 * x, 2e-3);
    assert_close(rep->analytic, 2.0 * x - err, 2e-3);
    const double ratio = fabs((double)err) / (ATOL + RTOL * fabs(2.0 * x));
    assert_true(ratio > 1.0);
    assert_close(rep->ratio, ratio, 2e-2);
    char where[64];
    snprintf(where, sizeof where, "ag_gradcheck: input %d element %lld:", input, (long long)j);
    assert_contains(ag_last_error(), where);
}

/* Wrong at exactly one element, at each position in turn (first, middle,
 * last): gradcheck fails and names that element. */
static void test_one_wrong_element(void **state)
{
    (void)state;
    const int64_t n = N;
    ag_tensor *x = ag_tensor_new(1, &n, X, true);
    assert_non_null(x);
    /* right everywhere: passes */
    ag_tensor *c0 = ag_zeros(1, &n, false);
    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(f_one, c0, 1, &x, NULL, &rep), AG_OK);
    assert_int_equal(rep.checked, N);
    assert_true(rep.ratio <= 1.0);
    ag_tensor_free(c0);

    for (int j = 0; j < N; j++) {
        const float err = 0.25f;
        ag_tensor *c = errors_at(n, 1, &j, &err);
        assert_int_equal(ag_gradcheck(f_one, c, 1, &x, NULL, &rep), AG_ERR_GRAD);
        assert_int_equal(rep.checked, N);
        expect_report(&rep, 0, j, X[j], err);
        /* an output that is not a scalar: sum(v * y) for a random v, so the
         * errors scale with v_j, but their ratio to the gradient does not */
        ag_gradcheck_opts o = { .seed = 12345 };
        assert_int_equal(ag_gradcheck(f_one_vec, c, 1, &x, &o, &rep), AG_ERR_GRAD);
        assert_int_equal(rep.input, 0);
        assert_int_equal(rep.index, j);
        assert_close(rep.analytic / rep.numeric, 1.0 - err / (2.0 * X[j]), 1e-2);
        assert_true(rep.ratio > 1.0);
        ag_tensor_free(c);
    }
    /* an error below the tolerance passes (atol + rtol |2x| at x = 0.3 is 7e-3) */
    const int j = 0;
    const float small = 2e-3f;
    ag_tensor *c = errors_at(n, 1, &j, &small);
    assert_int_equal(ag_gradcheck(f_one, c, 1, &x, NULL, &rep), AG_OK);
    assert_int_equal(rep.index, 0);
    assert_true(rep.ratio > 0.1 && rep.ratio <= 1.0);
    ag_tensor_free(c);
    ag_tensor_free(x);
}

/* Two wrong elements: the one with the larger error is reported, wherever
 * it comes, in one input or across two. */
static void test_worst_element_wins(void **state)
{
    (void)state;
    const int64_t n = N;
    ag_tensor *x = ag_tensor_new(1, &n, X, true);
    assert_non_null(x);
    ag_gradcheck_report rep;
    const int idx[2] = { 1, 5 };
    const float small_first[2] = { 0.1f, 0.6f }, big_first[2] = { 0.6f, 0.1f };
    ag_tensor *c = errors_at(n, 2, idx, small_first);
    assert_int_equal(ag_gradcheck(f_one, c, 1, &x, NULL, &rep), AG_ERR_GRAD);
    expect_report(&rep, 0, 5, X[5], 0.6f);
    ag_tensor_free(c);
    c = errors_at(n, 2, idx, big_first);
    assert_int_equal(ag_gradcheck(f_one, c, 1, &x, NULL, &rep), AG_ERR_GRAD);
    expect_report(&rep, 0, 1, X[1], 0.6f);
    ag_tensor_free(c);
    /* the same error at two elements: the ratio is larger where |x| is smaller
     * (x[4] = -0.4 against x[1] = -1.2) */
    const int same_idx[2] = { 1, 4 };
    const float same[2] = { 0.5f, 0.5f };
    c = errors_at(n, 2, same_idx, same);
    assert_int_equal(ag_gradcheck(f_one, c, 1, &x, NULL, &rep), AG_ERR_GRAD);
    expect_report(&rep, 0, 4, X[4], 0.5f);
    ag_tensor_free(c);

    /* across inputs: x (7 elements) and w (3) */
    const float W[3] = { 0.6f, -1.1f, 1.3f };
    const int64_t nw = 3;
    ag_tensor *in[2] = { x, ag_tensor_new(1, &nw, W, true) };
    assert_non_null(in[1]);
    const int jx = 3, jw = 2;
    const float lo = 0.2f, hi = 0.9f;
    ag_tensor *cs[2] = { errors_at(n, 1, &jx, &lo), errors_at(nw, 1, &jw, &hi) };
    assert_int_equal(ag_gradcheck(f_two, cs, 2, in, NULL, &rep), AG_ERR_GRAD);
    assert_int_equal(rep.checked, N + 3);
    expect_report(&rep, 1, jw, W[jw], hi);
    ag_tensor_free(cs[0]);
    ag_tensor_free(cs[1]);
    cs[0] = errors_at(n, 1, &jx, &hi);
    cs[1] = errors_at(nw, 1, &jw, &lo);
    assert_int_equal(ag_gradcheck(f_two, cs, 2, in, NULL, &rep), AG_ERR_GRAD);
    expect_report(&rep, 0, jx, X[jx], hi);
    ag_tensor_free(cs[1]);
    /* only the second input wrong, at its first element */
    const int j0 = 0;
    cs[1] = errors_at(nw, 1, &j0, &lo);
    ag_tensor_free(cs[0]);
    cs[0] = ag_zeros(1, &n, false);
    assert_int_equal(ag_gradcheck(f_two, cs, 2, in, NULL, &rep), AG_ERR_GRAD);
    expect_report(&rep, 1, 0, W[0], lo);
    /* ... and not checked at all if it does not require grad */
    ag_set_requires_grad(in[1], false);
    assert_int_equal(ag_gradcheck(f_two, cs, 2, in, NULL, &rep), AG_OK);
    assert_int_equal(rep.checked, N);
    ag_tensor_free(cs[0]);
    ag_tensor_free(cs[1]);
    ag_tensor_free(in[1]);
    ag_tensor_free(x);
}

/* A function right everywhere but at a kink: ag_gradcheck does not skip
 * kinks (the header says to avoid them), so relu at exactly 0 fails, with
 * PyTorch's gradient there (0) against the central difference
 * (relu(h) - relu(-h)) / 2h = 1/2, and that element is reported. abs at 0
 * is a symmetric kink: the difference is 0, as is its gradient, so it passes. */
static void test_kink(void **state)
{
    (void)state;
    const float v[6] = { 0.7f, -1.3f, 0.4f, 0.0f, 1.1f, -0.6f };
    const int64_t n = 6;
    ag_tensor *x = ag_tensor_new(1, &n, v, true);
    assert_non_null(x);
    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(f_relu_sum, NULL, 1, &x, NULL, &rep), AG_ERR_GRAD);
    assert_int_equal(rep.checked, 6);
    assert_int_equal(rep.input, 0);
    assert_int_equal(rep.index, 3);
    assert_float_eq(rep.analytic, 0.0);
    assert_close(rep.numeric, 0.5, 1e-3);
    assert_close(rep.ratio, 0.5 / (ATOL + RTOL * 0.5), 1e-2);
    assert_contains(ag_last_error(), "ag_gradcheck: input 0 element 3:");
    assert_int_equal(ag_gradcheck(f_abs_sum, NULL, 1, &x, NULL, &rep), AG_OK);
    assert_int_equal(rep.checked, 6);
    /* away from the kink relu passes */
    ag_data(x)[3] = 0.2f;
    assert_int_equal(ag_gradcheck(f_relu_sum, NULL, 1, &x, NULL, &rep), AG_OK);
    ag_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_wrong_element),
        cmocka_unit_test(test_worst_element_wins),
        cmocka_unit_test(test_kink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
