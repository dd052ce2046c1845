/* test_set_grad.c - ag_set_grad (p.grad = g; p.grad = None): copies, errors that
 * leave the grad as it was, backward accumulating onto an assigned grad, and
 * SGD and Adam stepping with assigned grads as PyTorch 1.13 does (expected
 * values from torch.optim, printed with %.9g). */
#include "testutil.h"

static const float P0[4] = { 1.0f, -2.0f, 3.0f, 0.5f };
static const float G1[4] = { 0.5f, -0.25f, 1.0f, 2.0f };
static const float G2[4] = { -1.0f, 0.75f, 0.125f, 0.0f };

static void test_copy_and_clear(void **state)
{
    (void)state;
    ag_tensor *p = tu_vec(4, P0, true), *g = tu_vec(4, G1, false);
    assert_null(ag_grad(p));
    assert_int_equal(ag_set_grad(p, g), AG_OK);
    ag_tensor *pg = ag_grad(p);
    assert_non_null(pg);
    assert_memory_equal(ag_data(pg), G1, sizeof G1);
    assert_false(ag_requires_grad(pg));
    ag_data(g)[0] = 99.0f;                       /* a copy: g's later changes stay out */
    assert_float_eq(ag_data(pg)[0], 0.5f);
    ag_tensor *g2 = tu_vec(4, G2, false);
    assert_int_equal(ag_set_grad(p, g2), AG_OK);  /* the same memory, new values */
    assert_ptr_equal(ag_grad(p), pg);
    assert_memory_equal(ag_data(pg), G2, sizeof G2);
    assert_int_equal(ag_set_grad(p, ag_grad(p)), AG_OK);   /* onto itself */
    assert_memory_equal(ag_data(pg), G2, sizeof G2);
    /* a recorded result as g */
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_set_grad(p, ag_mul_scalar(t, g2, 2.0f)), AG_OK);
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(ag_grad(p))[i], 2.0f * G2[i]);
    ag_tape_free(t);
    /* None, twice */
    assert_int_equal(ag_set_grad(p, NULL), AG_OK);
    assert_null(ag_grad(p));
    assert_int_equal(ag_set_grad(p, NULL), AG_OK);
    /* a leaf that does not require grad may have one too (as PyTorch) */
    ag_tensor *q = tu_vec(4, P0, false);
    assert_int_equal(ag_set_grad(q, g2), AG_OK);
    assert_memory_equal(ag_data(ag_grad(q)), G2, sizeof G2);
    /* 0-dim and empty */
    ag_tensor *s = ag_scalar(1.0f, true), *sg = ag_scalar(-3.0f, false);
    assert_int_equal(ag_set_grad(s, sg), AG_OK);
    assert_float_eq(ag_item(ag_grad(s)), -3.0f);
    const int64_t e[2] = { 2, 0 };
    ag_tensor *z = ag_zeros(2, e, true), *zg = ag_zeros(2, e, false);
    assert_int_equal(ag_set_grad(z, zg), AG_OK);
    assert_int_equal(ag_numel(ag_grad(z)), 0);
    ag_tensor_free(z);
    ag_tensor_free(zg);
    ag_tensor_free(s);
    ag_tensor_free(sg);
    ag_tensor_free(q);
    ag_tensor_free(p);
    ag_tensor_free(g);
    ag_tensor_free(g2);
}

static void test_errors(void **state)
{
    (void)state;
    ag_tensor *p = tu_vec(4, P0, true), *g = tu_vec(4, G1, false), *g2 = tu_vec(4, G2, false);
    assert_int_equal(ag_set_grad(p, g), AG_OK);
    const int64_t s22[2] = { 2, 2 }, s3[1] = { 3 };
    ag_tensor *wrong_ndim = ag_ones(2, s22, false), *wrong_size = ag_ones(1, s3, false);
    ag_tensor *gi = ag_zeros_dtype(1, (const int64_t[]){ 4 }, AG_INT64);
    ag_tensor *gb = ag_zeros_dtype(1, (const int64_t[]){ 4 }, AG_BOOL);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_mul_scalar(t, p, 2.0f), *d = ag_detach(t, p);
    assert_int_equal(ag_set_grad(NULL, g), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_grad: tensor is NULL");
    assert_int_equal(ag_set_grad(p, wrong_ndim), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_grad: assigned grad has data of a different size: "
                                     "(2,2) for a tensor of shape (4)");
    assert_int_equal(ag_set_grad(p, wrong_size), AG_ERR_ARG);
    assert_contains(ag_last_error(), "(3) for a tensor of shape (4)");
    assert_int_equal(ag_set_grad(p, gi), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_grad: assigned grad has data of a different type: "
                                     "int64 for a float32 tensor");
    assert_int_equal(ag_set_grad(p, gb), AG_ERR_ARG);
    assert_contains(ag_last_error(), "bool for a float32 tensor");
    assert_int_equal(ag_set_grad(y, g2), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_grad: the tensor is the result of an op");
    assert_int_equal(ag_set_grad(y, NULL), AG_ERR_ARG);
    assert_int_equal(ag_set_grad(d, g2), AG_ERR_ARG);
    assert_contains(ag_last_error(), "an ag_detach result owned by a tape");
    assert_int_equal(ag_set_grad(gi, NULL), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_grad: the tensor is int64");
    /* every failure left p.grad, p and g as they were */
    assert_memory_equal(ag_data(ag_grad(p)), G1, sizeof G1);
    assert_memory_equal(ag_data(p), P0, sizeof P0);
    assert_memory_equal(ag_data(g2), G2, sizeof G2);
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(wrong_ndim);
    ag_tensor_free(wrong_size);
    ag_tensor_free(gi);
    ag_tensor_free(gb);
    ag_tensor_free(p);
    ag_tensor_free(g);
    ag_tensor_free(g2);
}

/* p.grad = [0.5, -0.25, 1, 2]; (p * p).sum().backward() adds 2p: [2.5, -4.25, 7, 3];
 * SGD(lr 0.1).step(); then p.grad = None and a step leaves p alone */
static void test_backward_accumulates(void **state)
{
    (void)state;
    ag_tensor *p = tu_vec(4, P0, true), *g = tu_vec(4, G1, false);
    ag_sgd_opts so = ag_sgd_defaults(0.1f);
    ag_optim *o = ag_sgd_new(1, &p, &so);
    assert_non_null(o);
    assert_int_equal(ag_set_grad(p, g), AG_OK);
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_backward(t, ag_sum(t, ag_mul(t, p, p), 0, NULL, false)), AG_OK);
    const float want[4] = { 2.5f, -4.25f, 7.0f, 3.0f };
    assert_memory_equal(ag_data(ag_grad(p)), want, sizeof want);
    assert_int_equal(ag_optim_step(o), AG_OK);
    const float after[4] = { 0.75f, -1.57500005f, 2.29999995f, 0.199999988f };
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(p)[i], after[i]);
    assert_int_equal(ag_set_grad(p, NULL), AG_OK);
    assert_int_equal(ag_optim_step(o), AG_OK);
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(p)[i], after[i]);
    /* after None, backward starts again from zeros */
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_sum(t, p, 0, NULL, false)), AG_OK);
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(ag_grad(p))[i], 1.0f);
    ag_tape_free(t);
    ag_optim_free(o);
    ag_tensor_free(p);
    ag_tensor_free(g);
}

/* torch.optim.SGD(lr 0.1, momentum 0.9) and Adam(lr 0.01), two steps each with
 * p.grad = G1, then G2 */
static void test_optimizers(void **state)
{
    (void)state;
    static const float sgd[2][4] = { { 0.949999988f, -1.97500002f, 2.9000001f, 0.300000012f },
                                     { 1.005f, -2.02749991f, 2.79750013f, 0.120000012f } };
    static const float adam[2][4] = { { 0.99000001f, -1.99000001f, 2.99000001f, 0.49000001f },
                                      { 0.993661046f, -1.99494195f, 2.98242784f,
                                        0.483299434f } };
    for (int k = 0; k < 2; k++) {
        ag_tensor *p = tu_vec(4, P0, true);
        ag_tensor *g[2] = { tu_vec(4, G1, false), tu_vec(4, G2, false) };
        ag_sgd_opts so = ag_sgd_defaults(0.1f);
        so.momentum = 0.9f;
        ag_adam_opts ao = ag_adam_defaults();
        ao.lr = 0.01f;
        ag_optim *o = k == 0 ? ag_sgd_new(1, &p, &so) : ag_adam_new(1, &p, &ao);
        assert_non_null(o);
        for (int s = 0; s < 2; s++) {
            assert_int_equal(ag_set_grad(p, g[s]), AG_OK);
            assert_int_equal(ag_optim_step(o), AG_OK);
            for (int i = 0; i < 4; i++)
                assert_close(ag_data(p)[i], (k == 0 ? sgd : adam)[s][i], 1e-6);
        }
        ag_optim_free(o);
        ag_tensor_free(p);
        ag_tensor_free(g[0]);
        ag_tensor_free(g[1]);
    }
}

/* Out of memory: an error, no grad, nothing leaked; None frees the grad and
 * a grad of its own. */
static void test_memory(void **state)
{
    (void)state;
    static tu_alloc a;
    tu_alloc_use(&a);
    ag_tensor *p = tu_vec(4, P0, true), *g = tu_vec(4, G1, false);
    const size_t base = a.outstanding;
    a.fail_at = a.requests + 1;
    assert_int_equal(ag_set_grad(p, g), AG_ERR_NOMEM);
    assert_contains(ag_last_error(), "ag_set_grad: out of memory");
    assert_null(ag_grad(p));
    assert_int_equal(a.outstanding, base);
    a.fail_at = 0;
    assert_int_equal(ag_set_grad(p, g), AG_OK);
    assert_int_equal(ag_set_requires_grad(ag_grad(p), true), AG_OK);
    assert_int_equal(ag_set_grad(ag_grad(p), g), AG_OK);     /* p.grad.grad */
    assert_non_null(ag_grad(ag_grad(p)));
    assert_int_equal(ag_set_grad(p, NULL), AG_OK);
    assert_int_equal(a.outstanding, base);
    ag_tensor_free(p);
    ag_tensor_free(g);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.bad_frees, 0);
    tu_alloc_restore();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_and_clear),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
