/* test_index.c - the ops taking an int64 index tensor: ag_index_select_tensor,
 * ag_gather_tensor, ag_cross_entropy_tensor. Values and gradients as PyTorch
 * 1.13 gives them (repeated indices accumulate), and every error PyTorch
 * raises: wrong dtype, index out of range (negative included), bad dim,
 * index or target of the wrong shape, each naming the function and leaving
 * every input unchanged. */
#include "testutil.h"
#include "internal.h"

static const float X23[6] = { 0, 1, 2, 3, 4, 5 };   /* torch.arange(6.).reshape(2, 3) */

static ag_tensor *idx(int nd, const int64_t *shape, const int64_t *v)
{
    ag_tensor *i = ag_tensor_i64(nd, shape, v);
    assert_non_null(i);
    return i;
}

/* Expects call to fail with st on a fresh tape, the message starting with
 * fn and containing want (if not NULL). */
#define REJECT(st, fn, want, call)                                                \
    do {                                                                          \
        ag_tape_reset(t);                                                         \
        assert_null(call);                                                        \
        assert_int_equal(ag_tape_status(t), (st));                                \
        assert_int_equal(strncmp(ag_tape_error(t), fn ": ", strlen(fn) + 2), 0);  \
        if (want)                                                                 \
            assert_contains(ag_tape_error(t), (const char *)(want));              \
    } while (0)

static void test_index_select_values_grads(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = tu_mat(2, 3, X23, true);
    ag_tensor *i = idx(1, (const int64_t[]){ 3 }, (const int64_t[]){ 0, 0, 2 });
    ag_tensor *y = ag_index_select_tensor(t, x, -1, i);
    assert_non_null(y);
    assert_shape(y, 2, ((const int64_t[]){ 2, 3 }));
    const float want[6] = { 0, 0, 2, 3, 3, 5 };
    assert_memory_equal(ag_data(y), want, sizeof want);
    assert_true(ag_requires_grad(y));
    assert_int_equal(ag_backward(t, ag_sum(t, y, 0, NULL, false)), AG_OK);
    const float g[6] = { 2, 0, 1, 2, 0, 1 };             /* x.grad in PyTorch */
    assert_memory_equal(ag_data(ag_grad(x)), g, sizeof g);
    /* a 0-dim index selects one slice, keeping the dim: (2, 1) */
    ag_tape_reset(t);
    ag_tensor *i0 = ag_scalar_i64(2);
    y = ag_index_select_tensor(t, x, 1, i0);
    assert_shape(y, 2, ((const int64_t[]){ 2, 1 }));
    assert_float_eq(ag_data(y)[0], 2.0f);
    assert_float_eq(ag_data(y)[1], 5.0f);
    /* an empty index, and an int64 x (the result is int64 and no grad) */
    ag_tape_reset(t);
    ag_tensor *ie = idx(1, (const int64_t[]){ 0 }, NULL);
    y = ag_index_select_tensor(t, x, 0, ie);
    assert_shape(y, 2, ((const int64_t[]){ 0, 3 }));
    ag_tensor *xl = idx(1, (const int64_t[]){ 3 }, (const int64_t[]){ 7, 8, 9 });
    y = ag_index_select_tensor(t, xl, 0, i);
    assert_int_equal(ag_dtype_of(y), AG_INT64);
    assert_false(ag_requires_grad(y));
    assert_int_equal(ag_data_i64(y)[0], 7);
    assert_int_equal(ag_data_i64(y)[2], 9);
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(x), ag_tensor_free(i), ag_tensor_free(i0), ag_tensor_free(ie);
    ag_tensor_free(xl);
}

static void test_gather_values_grads(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = tu_mat(2, 3, X23, true);
    ag_tensor *i = idx(2, (const int64_t[]){ 2, 2 }, (const int64_t[]){ 0, 0, 2, 1 });
    ag_tensor *y = ag_gather_tensor(t, x, 1, i);
    assert_shape(y, 2, ((const int64_t[]){ 2, 2 }));
    const float want[4] = { 0, 0, 5, 4 };
    assert_memory_equal(ag_data(y), want, sizeof want);
    assert_int_equal(ag_backward(t, ag_sum(t, y, 0, NULL, false)), AG_OK);
    const float g[6] = { 2, 0, 0, 0, 1, 1 };
    assert_memory_equal(ag_data(ag_grad(x)), g, sizeof g);
    /* the pointer form gives the same */
    ag_tape_reset(t);
    ag_tensor *yp = ag_gather(t, x, 1, (const int64_t[]){ 2, 2 }, ag_data_i64(i));
    assert_memory_equal(ag_data(yp), want, sizeof want);
    /* 0-dim and 1-dim count as one: x (2) with a 0-dim index, a 0-dim x
     * with a (2) index; an empty index of any shape */
    ag_tape_reset(t);
    ag_tensor *v = tu_vec(2, (const float[]){ 3, 4 }, true), *s = ag_scalar(3.0f, true);
    ag_tensor *i0 = ag_scalar_i64(1), *i2 = idx(1, (const int64_t[]){ 2 }, NULL);
    ag_tensor *ie = idx(3, (const int64_t[]){ 1, 1, 0 }, NULL);
    y = ag_gather_tensor(t, v, 0, i0);
    assert_int_equal(ag_ndim(y), 0);
    assert_float_eq(ag_item(y), 4.0f);
    y = ag_gather_tensor(t, s, 0, i2);
    assert_shape(y, 1, ((const int64_t[]){ 2 }));
    assert_float_eq(ag_data(y)[1], 3.0f);
    assert_int_equal(ag_backward(t, ag_sum(t, y, 0, NULL, false)), AG_OK);
    assert_float_eq(ag_item(ag_grad(s)), 2.0f);
    y = ag_gather_tensor(t, x, 1, ie);
    assert_shape(y, 3, ((const int64_t[]){ 1, 1, 0 }));
    /* a bool x gives bool */
    bool bv[3] = { true, false, true };
    ag_tensor *xb = ag_tensor_bool(1, (const int64_t[]){ 3 }, bv);
    ag_tensor *ib = idx(1, (const int64_t[]){ 2 }, (const int64_t[]){ 1, 2 });
    y = ag_gather_tensor(t, xb, 0, ib);
    assert_int_equal(ag_dtype_of(y), AG_BOOL);
    assert_false(ag_data_bool(y)[0]);
    assert_true(ag_data_bool(y)[1]);
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(x), ag_tensor_free(i), ag_tensor_free(v), ag_tensor_free(s);
    ag_tensor_free(i0), ag_tensor_free(i2), ag_tensor_free(ie), ag_tensor_free(xb);
    ag_tensor_free(ib);
}

static void test_index_errors(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new(), *other = ag_tape_new();
    ag_tensor *x = tu_mat(2, 3, X23, true);
    ag_tensor *neg = idx(1, (const int64_t[]){ 1 }, (const int64_t[]){ -1 });
    ag_tensor *big = idx(1, (const int64_t[]){ 1 }, (const int64_t[]){ 3 });
    ag_tensor *m = idx(2, (const int64_t[]){ 1, 1 }, (const int64_t[]){ 0 });
    ag_tensor *m3 = idx(2, (const int64_t[]){ 1, 1 }, (const int64_t[]){ 3 });
    ag_tensor *mneg = idx(2, (const int64_t[]){ 1, 1 }, (const int64_t[]){ -1 });
    ag_tensor *wide = idx(2, (const int64_t[]){ 1, 4 }, (const int64_t[]){ 0, 1, 2, 0 });
    ag_tensor *tall = idx(2, (const int64_t[]){ 3, 1 }, (const int64_t[]){ 0, 0, 0 });
    ag_tensor *fl = tu_vec(1, (const float[]){ 0 }, false);
    ag_tensor *bo = ag_tensor_bool(1, (const int64_t[]){ 1 }, (const bool[]){ false });
    ag_tensor *other_ix = ag_long(other, fl);
    assert_non_null(other_ix);
    const int64_t i0[1] = { 0 };
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "index -1", ag_index_select_tensor(t, x, 1, neg));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "index 3", ag_index_select_tensor(t, x, 1, big));
    REJECT(AG_ERR_SHAPE, "ag_index_select_tensor", "vector", ag_index_select_tensor(t, x, 1, m));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "float32", ag_index_select_tensor(t, x, 1, fl));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "bool", ag_index_select_tensor(t, x, 1, bo));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "dimension 2", ag_index_select_tensor(t, x, 2, big));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "index is NULL", ag_index_select_tensor(t, x, 0, NULL));
    REJECT(AG_ERR_ARG, "ag_index_select_tensor", "NULL", ag_index_select_tensor(t, NULL, 0, neg));
    REJECT(AG_ERR_TAPE, "ag_index_select_tensor", "another tape",
           ag_index_select_tensor(t, x, 0, other_ix));
    REJECT(AG_ERR_ARG, "ag_gather_tensor", "index -1 ", ag_gather_tensor(t, x, 1, mneg));
    REJECT(AG_ERR_ARG, "ag_gather_tensor", "index 3 ", ag_gather_tensor(t, x, 1, m3));
    REJECT(AG_ERR_SHAPE, "ag_gather_tensor", "dimensions", ag_gather_tensor(t, x, 1, neg));
    REJECT(AG_ERR_SHAPE, "ag_gather_tensor", "(1,4)", ag_gather_tensor(t, x, 0, wide));
    REJECT(AG_ERR_SHAPE, "ag_gather_tensor", "(3,1)", ag_gather_tensor(t, x, 1, tall));
    REJECT(AG_ERR_ARG, "ag_gather_tensor", "bool", ag_gather_tensor(t, x, 1, bo));
    REJECT(AG_ERR_ARG, "ag_gather_tensor", "dimension 2", ag_gather_tensor(t, x, 2, m));
    REJECT(AG_ERR_ARG, "ag_gather_tensor", "index is NULL", ag_gather_tensor(t, x, 0, NULL));
    /* the pointer form still refuses a negative index too */
    REJECT(AG_ERR_ARG, "ag_index_select", "index -1",
           ag_index_select(t, x, 1, 1, (const int64_t[]){ -1 }));
    /* the first error wins; a NULL tape is ag_last_error's */
    ag_tape_reset(t);
    assert_null(ag_index_select_tensor(t, x, 1, neg));
    assert_null(ag_gather_tensor(t, x, 1, m));
    assert_contains(ag_tape_error(t), "ag_index_select_tensor");
    assert_null(ag_gather_tensor(NULL, x, 1, m));
    assert_contains(ag_last_error(), "ag_gather_tensor");
    /* every input unchanged */
    assert_memory_equal(ag_data(x), X23, sizeof X23);
    assert_null(ag_grad(x));
    assert_int_equal(ag_data_i64(neg)[0], -1);
    assert_int_equal(ag_data_i64(m3)[0], 3);
    (void)i0;
    ag_tape_free(t);
    ag_tape_free(other);
    ag_tensor *all[] = { x, neg, big, m, m3, mneg, wide, tall, fl, bo };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ag_tensor_free(all[k]);
}

static void test_cross_entropy_tensor(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    float v[24];
    tu_fill(v, 24, 7, -2, 2);
    ag_tensor *x43 = tu_mat(4, 3, v, true);
    ag_tensor *x234 = ag_tensor_new(3, (const int64_t[]){ 2, 3, 4 }, v, true);
    ag_tensor *x3 = tu_vec(3, v, true);
    const int64_t tv[8] = { 0, 2, 1, 1, 0, 2, 2, 1 };
    ag_tensor *t4 = idx(1, (const int64_t[]){ 4 }, tv);
    ag_tensor *t5 = idx(1, (const int64_t[]){ 5 }, tv);
    ag_tensor *t24 = idx(2, (const int64_t[]){ 2, 4 }, tv);
    ag_tensor *t25 = idx(2, (const int64_t[]){ 2, 5 }, NULL);
    ag_tensor *t8 = idx(1, (const int64_t[]){ 8 }, tv);
    ag_tensor *t41 = idx(2, (const int64_t[]){ 4, 1 }, tv);
    ag_tensor *s1 = ag_scalar_i64(1), *v1 = idx(1, (const int64_t[]){ 1 }, tv);
    ag_tensor *bad = idx(1, (const int64_t[]){ 4 }, (const int64_t[]){ 0, 3, 1, 1 });
    ag_tensor *fl = tu_vec(4, (const float[]){ 0, 1, 2, 0 }, false);
    ag_tensor *bo = ag_tensor_bool(1, (const int64_t[]){ 4 }, NULL);
    /* the same values and gradients as the pointer form */
    ag_tensor *a = ag_cross_entropy_tensor(t, x43, t4, NULL);
    ag_tensor *b = ag_cross_entropy(t, x43, tv, NULL);
    assert_non_null(a);
    assert_float_eq(ag_item(a), ag_item(b));
    a = ag_cross_entropy_tensor(t, x234, t24, NULL);
    b = ag_cross_entropy(t, x234, tv, NULL);
    assert_float_eq(ag_item(a), ag_item(b));
    ag_ce_opts o = ag_ce_defaults();
    o.reduction = AG_REDUCTION_NONE;
    a = ag_cross_entropy_tensor(t, x3, s1, &o);
    assert_int_equal(ag_ndim(a), 0);
    assert_int_equal(ag_backward(t, a), AG_OK);
    assert_non_null(ag_grad(x3));
    /* an empty batch */
    ag_tensor *x03 = ag_zeros(2, (const int64_t[]){ 0, 3 }, true);
    ag_tensor *t0 = idx(1, (const int64_t[]){ 0 }, NULL);
    assert_non_null(ag_cross_entropy_tensor(t, x03, t0, &o));
    assert_int_equal(ag_tape_status(t), AG_OK);
    /* PyTorch's shape errors, which the pointer form cannot see */
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "got (5)",
           ag_cross_entropy_tensor(t, x43, t5, NULL));
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "expected target of shape (2,4)",
           ag_cross_entropy_tensor(t, x234, t25, NULL));
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "(2,3,4)",
           ag_cross_entropy_tensor(t, x234, t8, NULL));
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "(4,1)",
           ag_cross_entropy_tensor(t, x43, t41, NULL));
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "shape ()",
           ag_cross_entropy_tensor(t, x3, v1, NULL));
    REJECT(AG_ERR_SHAPE, "ag_cross_entropy_tensor", "got ()",
           ag_cross_entropy_tensor(t, x43, s1, NULL));
    REJECT(AG_ERR_ARG, "ag_cross_entropy_tensor", "target 3",
           ag_cross_entropy_tensor(t, x43, bad, NULL));
    REJECT(AG_ERR_ARG, "ag_cross_entropy_tensor", "float32",
           ag_cross_entropy_tensor(t, x43, fl, NULL));
    REJECT(AG_ERR_ARG, "ag_cross_entropy_tensor", "bool",
           ag_cross_entropy_tensor(t, x43, bo, NULL));
    REJECT(AG_ERR_ARG, "ag_cross_entropy_tensor", "target is NULL",
           ag_cross_entropy_tensor(t, x43, NULL, NULL));
    REJECT(AG_ERR_ARG, "ag_cross_entropy_tensor", "input is NULL",
           ag_cross_entropy_tensor(t, NULL, t4, NULL));
    assert_memory_equal(ag_data(x43), v, 12 * sizeof(float));
    assert_null(ag_grad(x43));
    assert_int_equal(ag_data_i64(bad)[1], 3);
    ag_tape_free(t);
    ag_tensor *all[] = { x43, x234, x3, t4, t5, t24, t25, t8, t41, s1, v1, bad, fl, bo, x03, t0 };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ag_tensor_free(all[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_select_values_grads),
        cmocka_unit_test(test_gather_values_grads),
        cmocka_unit_test(test_index_errors),
        cmocka_unit_test(test_cross_entropy_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
