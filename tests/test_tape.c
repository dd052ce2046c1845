/* test_tape.c - PyTorch gradient semantics: accumulation, retain_grad, seeds,
 * no-grad mode, detach, broadcasting, long chains, tapes on threads.
 * Expected values are worked out by hand or by the formulas in the comments. */
#include "testutil.h"

#include <stdio.h>
#include <threads.h>

/* ---- y = w*x + b ---- */

/* The tutorial's first example: x = 1, w = 2, b = 2; y = 4, dy/dx = w = 2,
 * dy/dw = x = 1, dy/db = 1. */
static void test_linear_scalar(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(1.0f, true);
    ag_tensor *w = ag_scalar(2.0f, true);
    ag_tensor *b = ag_scalar(2.0f, true);
    ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);
    assert_non_null(y);
    assert_float_eq(ag_item(y), 4.0f);
    assert_int_equal(ag_ndim(y), 0);
    assert_true(ag_requires_grad(y));
    assert_false(ag_is_leaf(y));
    assert_null(ag_grad(x));
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_string_equal(ag_tape_error(t), "");
    assert_int_equal(ag_ndim(ag_grad(x)), 0);
    assert_float_eq(ag_item(ag_grad(x)), 2.0f);
    assert_float_eq(ag_item(ag_grad(w)), 1.0f);
    assert_float_eq(ag_item(ag_grad(b)), 1.0f);
    /* a non-leaf keeps no grad */
    assert_null(ag_grad(y));
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(b);
}

/* Gradients accumulate in leaves: backward twice on one recording, then again
 * after a reset, until ag_zero_grad. */
static void test_accumulation(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(1.0f, true);
    ag_tensor *w = ag_scalar(2.0f, true);
    ag_tensor *b = ag_scalar(2.0f, true);
    ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);
    assert_int_equal(ag_backward(t, y), AG_OK);
    ag_tensor *gx = ag_grad(x);
    assert_int_equal(ag_backward(t, y), AG_OK);     /* retain_graph=True */
    assert_float_eq(ag_item(ag_grad(x)), 4.0f);
    assert_float_eq(ag_item(ag_grad(w)), 2.0f);
    assert_float_eq(ag_item(ag_grad(b)), 2.0f);
    assert_ptr_equal(ag_grad(x), gx);               /* same tensor, accumulated */

    ag_tape_reset(t);
    y = ag_add(t, ag_mul(t, w, x), b);
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 6.0f);
    assert_float_eq(ag_item(ag_grad(w)), 3.0f);
    assert_float_eq(ag_item(ag_grad(b)), 3.0f);

    ag_zero_grad(x);
    ag_zero_grad(w);
    ag_zero_grad(b);
    assert_ptr_equal(ag_grad(x), gx);               /* zeroed in place */
    assert_float_eq(ag_item(ag_grad(x)), 0.0f);
    assert_float_eq(ag_item(ag_grad(w)), 0.0f);
    ag_tape_reset(t);
    y = ag_add(t, ag_mul(t, w, x), b);
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 2.0f);
    assert_float_eq(ag_item(ag_grad(w)), 1.0f);
    assert_float_eq(ag_item(ag_grad(b)), 1.0f);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(b);
}

/* A tensor used twice receives both contributions. */
static void test_used_twice(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(3.0f, true);
    assert_int_equal(ag_backward(t, ag_mul(t, x, x)), AG_OK);  /* d(x*x) = 2x = 6 */
    assert_float_eq(ag_item(ag_grad(x)), 6.0f);
    ag_zero_grad(x);
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_add(t, x, x)), AG_OK);  /* d(x+x) = 2 */
    assert_float_eq(ag_item(ag_grad(x)), 2.0f);
    ag_zero_grad(x);
    ag_tape_reset(t);
    /* x - x: 1 - 1 = 0; and an intermediate used twice: u = x*x, u*u = x^4,
     * d = 4x^3 = 108 */
    assert_int_equal(ag_backward(t, ag_sub(t, x, x)), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 0.0f);
    ag_zero_grad(x);
    ag_tensor *u = ag_mul(t, x, x);
    assert_int_equal(ag_backward(t, ag_mul(t, u, u)), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 108.0f);
    /* elementwise, vector x: d(sum of x*x) with ones seed = 2x */
    float v[3] = { -1.0f, 0.5f, 2.0f }, ones[3] = { 1, 1, 1 };
    ag_tensor *xv = tu_vec(3, v, true), *seed = tu_vec(3, ones, false);
    ag_tape_reset(t);
    assert_int_equal(ag_backward_seed(t, ag_mul(t, xv, xv), seed), AG_OK);
    for (int i = 0; i < 3; i++)
        assert_float_eq(ag_data(ag_grad(xv))[i], 2.0f * v[i]);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(xv);
    ag_tensor_free(seed);
}

/* Non-leaves have no grad unless retain_grad; a retained grad is right and
 * accumulates like PyTorch's (z.grad 3 then 6 for z = x*x, y = 3z). */
static void test_retain_grad(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(2.0f, true);
    ag_tensor *z = ag_mul(t, x, x);
    ag_tensor *y = ag_mul_scalar(t, z, 3.0f);
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_null(ag_grad(z));
    assert_null(ag_grad(y));
    assert_float_eq(ag_item(ag_grad(x)), 12.0f);     /* 6x */

    ag_tape_reset(t);
    ag_zero_grad(x);
    z = ag_mul(t, x, x);
    ag_retain_grad(z);
    ag_retain_grad(x);                                /* no-op on a leaf */
    y = ag_mul_scalar(t, z, 3.0f);
    ag_retain_grad(y);                                /* the root itself */
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_non_null(ag_grad(z));
    assert_int_equal(ag_ndim(ag_grad(z)), 0);
    assert_float_eq(ag_item(ag_grad(z)), 3.0f);
    assert_float_eq(ag_item(ag_grad(y)), 1.0f);
    assert_float_eq(ag_item(ag_grad(x)), 12.0f);
    assert_true(ag_is_leaf(x));
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_float_eq(ag_item(ag_grad(z)), 6.0f);
    assert_float_eq(ag_item(ag_grad(y)), 2.0f);
    assert_float_eq(ag_item(ag_grad(x)), 24.0f);

    /* vector: z = x * c, y = z*z seeded with s: dz = 2 z s */
    ag_tape_reset(t);
    float xv[4] = { 1, -2, 3, 0.5f }, sv[4] = { 1, 2, -1, 4 };
    ag_tensor *x4 = tu_vec(4, xv, true), *s4 = tu_vec(4, sv, false);
    ag_tensor *z4 = ag_mul_scalar(t, x4, 2.0f);
    ag_retain_grad(z4);
    assert_int_equal(ag_backward_seed(t, ag_mul(t, z4, z4), s4), AG_OK);
    assert_int_equal(ag_numel(ag_grad(z4)), 4);
    for (int i = 0; i < 4; i++) {
        assert_float_eq(ag_data(ag_grad(z4))[i], 2.0f * (2.0f * xv[i]) * sv[i]);
        assert_float_eq(ag_data(ag_grad(x4))[i], 2.0f * (2.0f * xv[i]) * sv[i] * 2.0f);
    }
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(x4);
    ag_tensor_free(s4);
}

/* ---- backward of non-scalar roots ---- */

static void test_backward_nonscalar_root(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float v[6] = { 1, 2, 3, 4, 5, 6 };
    ag_tensor *x = tu_mat(2, 3, v, true);
    ag_tensor *y = ag_mul(t, x, x);
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);
    assert_int_equal(ag_tape_status(t), AG_ERR_GRAD);
    assert_contains(ag_tape_error(t), "ag_backward");
    assert_contains(ag_tape_error(t), "(2,3)");
    assert_contains(ag_tape_error(t), "scalar");
    assert_null(ag_grad(x));

    /* with a seed: x.grad = 2 x seed */
    ag_tape_reset(t);
    float sv[6] = { 1, -1, 0.5f, 2, 0, 3 };
    ag_tensor *seed = tu_mat(2, 3, sv, false);
    y = ag_mul(t, x, x);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    for (int i = 0; i < 6; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], 2.0f * v[i] * sv[i]);
    /* the seed is not modified and got no grad */
    for (int i = 0; i < 6; i++)
        assert_float_eq(ag_data(seed)[i], sv[i]);
    assert_null(ag_grad(seed));

    /* a seed of another shape: (6,) for (2,3), (3,2), (1,2,3), 0-dim */
    int64_t s6[1] = { 6 }, s32[2] = { 3, 2 }, s123[3] = { 1, 2, 3 };
    ag_tensor *bad[4] = { ag_ones(1, s6, false), ag_ones(2, s32, false),
                          ag_ones(3, s123, false), ag_scalar(1.0f, false) };
    for (int k = 0; k < 4; k++) {
        ag_tape_reset(t);
        y = ag_mul(t, x, x);
        assert_int_equal(ag_backward_seed(t, y, bad[k]), AG_ERR_SHAPE);
        assert_contains(ag_tape_error(t), "ag_backward_seed");
        assert_contains(ag_tape_error(t), "(2,3)");
        for (int i = 0; i < 6; i++)    /* unchanged */
            assert_float_eq(ag_data(ag_grad(x))[i], 2.0f * v[i] * sv[i]);
        ag_tensor_free(bad[k]);
    }
    /* ag_backward on a one-element non-0-dim root is fine: shape (1,1) */
    ag_tape_reset(t);
    ag_zero_grad(x);
    float one = 5.0f;
    int64_t s11[2] = { 1, 1 };
    ag_tensor *c = ag_tensor_new(2, s11, &one, true);
    assert_int_equal(ag_backward(t, ag_mul(t, c, c)), AG_OK);
    assert_float_eq(ag_item(ag_grad(c)), 10.0f);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(seed);
    ag_tensor_free(c);
}

/* A root that does not require grad is an error (PyTorch: "element 0 of
 * tensors does not require grad"); a leaf root that does is fine. */
static void test_backward_root_without_grad(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_scalar(2.0f, false), *b = ag_scalar(3.0f, false);
    ag_tensor *y = ag_mul(t, a, b);
    assert_false(ag_requires_grad(y));
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);
    assert_contains(ag_tape_error(t), "ag_backward");
    assert_contains(ag_tape_error(t), "require");
    assert_null(ag_grad(a));
    assert_null(ag_grad(b));
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, a), AG_ERR_GRAD);      /* a leaf without grad */
    ag_tape_reset(t);
    /* leaf root: x.backward() gives x.grad = 1 */
    ag_tensor *x = ag_scalar(7.0f, true);
    assert_int_equal(ag_backward(t, x), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 1.0f);
    assert_int_equal(ag_backward(t, x), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 2.0f);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(x);
}

/* Leaves that do not require grad get no grad, even when their partner does. */
static void test_leaf_without_requires_grad(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar(2.0f, true), *x = ag_scalar(5.0f, false);
    ag_tensor *xx = ag_mul(t, x, x);
    assert_false(ag_requires_grad(xx));
    assert_true(ag_is_leaf(xx));
    assert_int_equal(ag_backward(t, ag_add(t, ag_mul(t, w, x), x)), AG_OK);
    assert_float_eq(ag_item(ag_grad(w)), 5.0f);
    assert_null(ag_grad(x));
    ag_tape_free(t);
    ag_tensor_free(w);
    ag_tensor_free(x);
}

/* ---- no-grad mode and detach ---- */

static void test_no_grad(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(3.0f, true);
    assert_true(ag_tape_set_grad_enabled(t, false));     /* previous: enabled */
    assert_false(ag_tape_set_grad_enabled(t, false));    /* previous: disabled */
    ag_tensor *y = ag_mul_scalar(t, ag_mul(t, x, x), 2.0f);
    assert_non_null(y);
    assert_float_eq(ag_item(y), 18.0f);                  /* values still computed */
    assert_false(ag_requires_grad(y));
    assert_true(ag_is_leaf(y));       /* PyTorch: no requires_grad means a leaf */
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);
    assert_null(ag_grad(x));
    ag_tape_reset(t);
    assert_false(ag_tape_set_grad_enabled(t, true));     /* previous: disabled */
    y = ag_mul(t, x, x);
    assert_true(ag_requires_grad(y));
    /* mixed: part recorded with grad, part without */
    ag_tape_set_grad_enabled(t, false);
    ag_tensor *k = ag_mul(t, x, x);                       /* constant 9 */
    ag_tape_set_grad_enabled(t, true);
    ag_tensor *r = ag_mul(t, y, k);                       /* x^2 * 9: d = 18x = 54 */
    assert_int_equal(ag_backward(t, r), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 54.0f);
    assert_false(ag_tape_set_grad_enabled(NULL, true));
    ag_tape_free(t);
    ag_tensor_free(x);
}

static void test_detach(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float v[3] = { 1, 2, 3 }, ones[3] = { 1, 1, 1 };
    ag_tensor *x = tu_vec(3, v, true), *seed = tu_vec(3, ones, false);
    ag_tensor *d = ag_detach(t, x);
    assert_non_null(d);
    assert_ptr_equal(ag_data(d), ag_data(x));             /* shares the data */
    assert_true(ag_is_leaf(d));
    assert_false(ag_requires_grad(d));
    assert_int_equal(ag_ndim(d), 1);
    assert_int_equal(ag_numel(d), 3);
    assert_int_equal(ag_shape(d)[0], 3);
    /* y = d * x: the gradient flows only through x: dy/dx = d = x */
    assert_int_equal(ag_backward_seed(t, ag_mul(t, d, x), seed), AG_OK);
    for (int i = 0; i < 3; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], v[i]);
    assert_null(ag_grad(d));

    /* detach of a non-leaf: z = x*x, y = detach(z) * x: dy/dx = x^2 */
    ag_tape_reset(t);
    ag_zero_grad(x);
    ag_tensor *z = ag_mul(t, x, x);
    ag_tensor *dz = ag_detach(t, z);
    assert_ptr_equal(ag_data(dz), ag_data(z));
    assert_int_equal(ag_backward_seed(t, ag_mul(t, dz, x), seed), AG_OK);
    for (int i = 0; i < 3; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], v[i] * v[i]);
    /* an op on detached tensors only does not require grad */
    ag_tensor *only = ag_mul(t, dz, dz);
    assert_false(ag_requires_grad(only));
    /* writes through the shared data are visible (z.detach() aliases z) */
    ag_data(dz)[0] = 42.0f;
    assert_float_eq(ag_data(z)[0], 42.0f);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(seed);
}

/* ---- broadcasting: gradients summed back to each input's shape ---- */

static void test_broadcast_outer(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float av[3] = { 1, 2, 3 }, bv[4] = { 1, 10, 100, 1000 };
    ag_tensor *a = tu_mat(3, 1, av, true), *b = tu_mat(1, 4, bv, true);
    ag_tensor *y = ag_mul(t, a, b);
    int64_t s34[2] = { 3, 4 };
    assert_shape(y, 2, s34);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            assert_float_eq(ag_data(y)[i * 4 + j], av[i] * bv[j]);
    ag_tensor *ones = ag_ones(2, s34, false);
    assert_int_equal(ag_backward_seed(t, y, ones), AG_OK);
    /* with a ones seed: da_i = sum_j b_j = 1111, db_j = sum_i a_i = 6 */
    int64_t s31[2] = { 3, 1 }, s14[2] = { 1, 4 };
    assert_shape(ag_grad(a), 2, s31);
    assert_shape(ag_grad(b), 2, s14);
    for (int i = 0; i < 3; i++)
        assert_float_eq(ag_data(ag_grad(a))[i], 1111.0f);
    for (int j = 0; j < 4; j++)
        assert_float_eq(ag_data(ag_grad(b))[j], 6.0f);

    /* a general seed S: da_i = sum_j S_ij b_j, db_j = sum_i S_ij a_i */
    ag_zero_grad(a);
    ag_zero_grad(b);
    float sv[12];
    for (int k = 0; k < 12; k++)
        sv[k] = (float)(k % 5) - 2.0f;
    ag_tensor *seed = tu_mat(3, 4, sv, false);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    for (int i = 0; i < 3; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++)
            s += sv[i * 4 + j] * bv[j];
        assert_float_eq(ag_data(ag_grad(a))[i], s);
    }
    for (int j = 0; j < 4; j++) {
        double s = 0;
        for (int i = 0; i < 3; i++)
            s += sv[i * 4 + j] * av[i];
        assert_float_eq(ag_data(ag_grad(b))[j], s);
    }
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(ones);
    ag_tensor_free(seed);
}

static void test_broadcast_row(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float mv[6] = { 1, 2, 3, 4, 5, 6 }, rv[3] = { 10, 20, 30 };
    float sv[6] = { 1, 2, 3, 4, 5, 6 };
    ag_tensor *m = tu_mat(2, 3, mv, true), *r = tu_vec(3, rv, true);
    ag_tensor *seed = tu_mat(2, 3, sv, false);
    ag_tensor *y = ag_add(t, m, r);
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(y)[k], mv[k] + rv[k % 3]);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    /* dm = S; dr_j = S_0j + S_1j = (5, 7, 9) */
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(ag_grad(m))[k], sv[k]);
    int64_t s3[1] = { 3 };
    assert_shape(ag_grad(r), 1, s3);
    assert_float_eq(ag_data(ag_grad(r))[0], 5.0f);
    assert_float_eq(ag_data(ag_grad(r))[1], 7.0f);
    assert_float_eq(ag_data(ag_grad(r))[2], 9.0f);
    /* and with the operands swapped, and sub: d(r - m) = (-S for m, colsum for r) */
    ag_zero_grad(m);
    ag_zero_grad(r);
    ag_tape_reset(t);
    assert_int_equal(ag_backward_seed(t, ag_sub(t, r, m), seed), AG_OK);
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(ag_grad(m))[k], -sv[k]);
    assert_float_eq(ag_data(ag_grad(r))[0], 5.0f);
    assert_float_eq(ag_data(ag_grad(r))[2], 9.0f);
    ag_tape_free(t);
    ag_tensor_free(m);
    ag_tensor_free(r);
    ag_tensor_free(seed);
}

static void test_broadcast_scalar(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float mv[6] = { 1, 2, 3, 4, 5, 6 }, sv[6] = { 1, 0, -1, 2, 0.5f, 1 };
    ag_tensor *s = ag_scalar(2.0f, true), *m = tu_mat(2, 3, mv, true);
    ag_tensor *seed = tu_mat(2, 3, sv, false);
    ag_tensor *y = ag_mul(t, s, m);
    int64_t s23[2] = { 2, 3 };
    assert_shape(y, 2, s23);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    /* ds = sum S_ij m_ij = 1 + 0 - 3 + 8 + 2.5 + 6 = 14.5 (0-dim); dm = s S */
    assert_int_equal(ag_ndim(ag_grad(s)), 0);
    assert_float_eq(ag_item(ag_grad(s)), 14.5f);
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(ag_grad(m))[k], 2.0f * sv[k]);
    /* the other order, and add: ds = sum S = 3.5 */
    ag_zero_grad(s);
    ag_zero_grad(m);
    ag_tape_reset(t);
    assert_int_equal(ag_backward_seed(t, ag_add(t, m, s), seed), AG_OK);
    assert_float_eq(ag_item(ag_grad(s)), 3.5f);
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(ag_grad(m))[k], sv[k]);
    ag_tape_free(t);
    ag_tensor_free(s);
    ag_tensor_free(m);
    ag_tensor_free(seed);
}

/* Both operands broadcast in different dimensions: (2,1,3) * (4,1) -> (2,4,3). */
static void test_broadcast_both(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float av[6], bv[4];
    for (int k = 0; k < 6; k++)
        av[k] = (float)(k + 1);
    for (int k = 0; k < 4; k++)
        bv[k] = (float)(k + 1) * 0.5f;
    int64_t sa[3] = { 2, 1, 3 }, sb[2] = { 4, 1 }, sy[3] = { 2, 4, 3 };
    ag_tensor *a = ag_tensor_new(3, sa, av, true), *b = ag_tensor_new(2, sb, bv, true);
    ag_tensor *y = ag_mul(t, a, b);
    assert_shape(y, 3, sy);
    float sv[24];
    for (int k = 0; k < 24; k++)
        sv[k] = (float)((k * 7) % 5) - 1.0f;
    ag_tensor *seed = ag_tensor_new(3, sy, sv, false);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    /* y[i][j][k] = a[i][0][k] b[j][0]; da[i][k] = sum_j S b_j, db[j] = sum_ik S a_ik */
    double da[6] = { 0 }, db[4] = { 0 };
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++) {
                float s = sv[(i * 4 + j) * 3 + k];
                assert_float_eq(ag_data(y)[(i * 4 + j) * 3 + k], av[i * 3 + k] * bv[j]);
                da[i * 3 + k] += s * bv[j];
                db[j] += s * av[i * 3 + k];
            }
    assert_shape(ag_grad(a), 3, sa);
    assert_shape(ag_grad(b), 2, sb);
    for (int k = 0; k < 6; k++)
        assert_float_eq(ag_data(ag_grad(a))[k], da[k]);
    for (int k = 0; k < 4; k++)
        assert_float_eq(ag_data(ag_grad(b))[k], db[k]);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(seed);
}

/* The largest rank: (2,1,2,1,2,1,2,1) * (1,2,1,2,1,2,1,2) is an outer product
 * of 16 by 16 elements; with a ones seed da_i = sum b, db_j = sum a. */
static void test_broadcast_max_rank(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS], sy[AG_MAX_DIMS];
    for (int d = 0; d < AG_MAX_DIMS; d++) {
        sa[d] = d % 2 == 0 ? 2 : 1;
        sb[d] = d % 2 == 0 ? 1 : 2;
        sy[d] = 2;
    }
    float av[16], bv[16];
    double suma = 0, sumb = 0;
    for (int k = 0; k < 16; k++) {
        av[k] = (float)k * 0.5f - 2.0f;
        bv[k] = (float)(k % 5) + 1.0f;
        suma += av[k];
        sumb += bv[k];
    }
    ag_tensor *a = ag_tensor_new(AG_MAX_DIMS, sa, av, true);
    ag_tensor *b = ag_tensor_new(AG_MAX_DIMS, sb, bv, true);
    ag_tensor *y = ag_mul(t, a, b);
    assert_shape(y, AG_MAX_DIMS, sy);
    /* y[i0..i7] = a[i0,i2,i4,i6] * b[i1,i3,i5,i7] */
    for (int o = 0; o < 256; o++) {
        int ia = 0, ib = 0;
        for (int d = 0; d < AG_MAX_DIMS; d++) {
            int bit = (o >> (AG_MAX_DIMS - 1 - d)) & 1;
            if (d % 2 == 0)
                ia = ia * 2 + bit;
            else
                ib = ib * 2 + bit;
        }
        assert_float_eq(ag_data(y)[o], av[ia] * bv[ib]);
    }
    ag_tensor *ones = ag_ones(AG_MAX_DIMS, sy, false);
    assert_int_equal(ag_backward_seed(t, y, ones), AG_OK);
    assert_shape(ag_grad(a), AG_MAX_DIMS, sa);
    assert_shape(ag_grad(b), AG_MAX_DIMS, sb);
    for (int k = 0; k < 16; k++) {
        assert_float_eq(ag_data(ag_grad(a))[k], sumb);
        assert_float_eq(ag_data(ag_grad(b))[k], suma);
    }
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(ones);
}

/* Empty tensors flow through ops and backward: (0,3) + (3,) is (0,3); the
 * (3,) operand's grad is zeros, as torch gives. */
static void test_empty_tensors(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    int64_t s03[2] = { 0, 3 };
    float bv[3] = { 1, 2, 3 };
    ag_tensor *a = ag_zeros(2, s03, true), *b = tu_vec(3, bv, true);
    ag_tensor *y = ag_mul(t, ag_exp(t, ag_add(t, a, b)), b);
    assert_shape(y, 2, s03);
    assert_int_equal(ag_numel(y), 0);
    ag_tensor *seed = ag_zeros(2, s03, false);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    assert_shape(ag_grad(a), 2, s03);
    assert_int_equal(ag_numel(ag_grad(a)), 0);
    for (int j = 0; j < 3; j++)
        assert_float_eq(ag_data(ag_grad(b))[j], 0.0f);
    /* an empty tensor cannot be the root of ag_backward (not one element) */
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(seed);
}

/* ---- a chain of 1,000,000 ops: no recursion, no stack overflow ----
 * y = (((x + 1) * s_1 + 1) * s_2 ...), s alternating 2 and -0.5, then * 3:
 * dy/dx = 3 * prod s_i, exactly representable. */
#define CHAIN_OPS 1000000

static void test_long_chain(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(0.75f, true);
    ag_tensor *y = x;
    float ref = 0.75f;
    double dref = 1.0;
    for (int i = 0; i < CHAIN_OPS; i++) {
        if (i % 2 == 0) {
            y = ag_add_scalar(t, y, 1.0f);
            ref = ref + 1.0f;
        } else {
            float s = (i / 2) % 2 == 0 ? 2.0f : -0.5f;
            y = ag_mul_scalar(t, y, s);
            ref = ref * s;
            dref *= s;
        }
    }
    y = ag_mul_scalar(t, y, 3.0f);
    ref *= 3.0f;
    dref *= 3.0;
    assert_non_null(y);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_float_eq(ag_item(y), ref);
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), dref);
    /* the second pass over the same recording accumulates */
    assert_int_equal(ag_backward(t, y), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 2.0 * dref);
    ag_tape_free(t);
    ag_tensor_free(x);
}

/* ---- two tapes on two threads ----
 * Each thread trains its own scalar model y = w*x + b towards a target with
 * plain SGD on loss (y - target)^2 for a few hundred steps, recording on its
 * own tape and resetting it every step. The assertions run on the main thread
 * against the same recurrence computed here in float. */

typedef struct job {
    float x, target, lr;
    int steps;
    float w, b;               /* results */
    int status;               /* first non-OK status, or 0 */
    char msg[64];
} job;

static int train(void *arg)
{
    job *jb = arg;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar(0.5f, true), *b = ag_scalar(-0.25f, true);
    ag_tensor *x = ag_scalar(jb->x, false);
    if (!t || !w || !b || !x) {
        jb->status = AG_ERR_NOMEM;
        goto done;
    }
    for (int s = 0; s < jb->steps; s++) {
        ag_tape_reset(t);
        ag_zero_grad(w);
        ag_zero_grad(b);
        ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);
        ag_tensor *l = ag_pow(t, ag_sub_scalar(t, y, jb->target), 2.0f);
        ag_status st = ag_backward(t, l);
        if (st != AG_OK) {
            jb->status = (int)st;
            goto done;
        }
        ag_data(w)[0] -= jb->lr * ag_item(ag_grad(w));
        ag_data(b)[0] -= jb->lr * ag_item(ag_grad(b));
    }
    jb->w = ag_item(w);
    jb->b = ag_item(b);
    /* a tape-less error on this thread: the message stays on this thread */
    (void)ag_zeros(-1, NULL, false);
    snprintf(jb->msg, sizeof jb->msg, "%s", ag_last_error());
done:
    ag_tape_free(t);
    ag_tensor_free(w);
    ag_tensor_free(b);
    ag_tensor_free(x);
    return 0;
}

/* The same SGD recurrence, by hand: y = w x + b, dl/dy = 2 (y - target). */
static void train_ref(const job *jb, float *w_out, float *b_out)
{
    float w = 0.5f, b = -0.25f;
    for (int s = 0; s < jb->steps; s++) {
        float y = w * jb->x + b;
        float d = y - jb->target;
        float gy = 2.0f * d;
        float gw = gy * jb->x, gb = gy;
        w -= jb->lr * gw;
        b -= jb->lr * gb;
    }
    *w_out = w;
    *b_out = b;
}

static void test_two_threads(void **state)
{
    (void)state;
    job jobs[2] = {
        { .x = 2.0f, .target = 3.0f, .lr = 0.05f, .steps = 500 },
        { .x = -1.5f, .target = -7.0f, .lr = 0.02f, .steps = 700 },
    };
    /* a message set on the main thread is not visible to, nor changed by, the workers */
    (void)ag_ones(1, NULL, false);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", ag_last_error());
    assert_contains(mine, "ag_ones");
    thrd_t th[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(thrd_create(&th[k], train, &jobs[k]), thrd_success);
    for (int k = 0; k < 2; k++)
        assert_int_equal(thrd_join(th[k], NULL), thrd_success);
    assert_string_equal(ag_last_error(), mine);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(jobs[k].status, 0);
        float w, b;
        train_ref(&jobs[k], &w, &b);
        assert_close(jobs[k].w, w, 1e-5);
        assert_close(jobs[k].b, b, 1e-5);
        /* converged: w x + b = target */
        assert_close(jobs[k].w * jobs[k].x + jobs[k].b, jobs[k].target, 1e-3);
        assert_contains(jobs[k].msg, "ag_zeros");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_scalar),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_used_twice),
        cmocka_unit_test(test_retain_grad),
        cmocka_unit_test(test_backward_nonscalar_root),
        cmocka_unit_test(test_backward_root_without_grad),
        cmocka_unit_test(test_leaf_without_requires_grad),
        cmocka_unit_test(test_no_grad),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_broadcast_outer),
        cmocka_unit_test(test_broadcast_row),
        cmocka_unit_test(test_broadcast_scalar),
        cmocka_unit_test(test_broadcast_both),
        cmocka_unit_test(test_broadcast_max_rank),
        cmocka_unit_test(test_empty_tensors),
        cmocka_unit_test(test_long_chain),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
