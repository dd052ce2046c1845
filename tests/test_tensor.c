/* test_tensor.c - leaf tensors: creation, shapes 0..8-dim, accessors, bad shapes, freeing. */
#include "testutil.h"

#include <stdio.h>

/* ---- creation ---- */

static void test_new_with_data(void **state)
{
    (void)state;
    int64_t shape[2] = { 2, 3 };
    float src[6] = { 1, 2, 3, 4, 5, 6 };
    ag_tensor *x = ag_tensor_new(2, shape, src, false);
    assert_non_null(x);
    assert_shape(x, 2, shape);
    assert_int_equal(ag_numel(x), 6);
    for (int i = 0; i < 6; i++)
        assert_float_eq(ag_data(x)[i], src[i]);
    /* the data was copied: changing the source does not change the tensor */
    src[0] = 100.0f;
    assert_float_eq(ag_data(x)[0], 1.0f);
    /* the caller's shape array is copied too */
    shape[0] = 7;
    assert_int_equal(ag_shape(x)[0], 2);
    assert_ptr_not_equal(ag_shape(x), shape);
    assert_false(ag_requires_grad(x));
    assert_true(ag_is_leaf(x));
    assert_null(ag_grad(x));
    /* data is writable and item/data agree */
    ag_data(x)[5] = -1.5f;
    assert_float_eq(ag_data(x)[5], -1.5f);
    ag_tensor_free(x);
}

static void test_new_null_data_is_zeros(void **state)
{
    (void)state;
    int64_t shape[3] = { 2, 3, 4 };
    ag_tensor *x = ag_tensor_new(3, shape, NULL, true);
    assert_non_null(x);
    assert_shape(x, 3, shape);
    assert_int_equal(ag_numel(x), 24);
    for (int i = 0; i < 24; i++)
        assert_float_eq(ag_data(x)[i], 0.0f);
    assert_true(ag_requires_grad(x));
    assert_true(ag_is_leaf(x));
    assert_null(ag_grad(x));
    ag_tensor_free(x);
}

static void test_zeros_ones_full_scalar(void **state)
{
    (void)state;
    int64_t shape[2] = { 3, 5 };
    ag_tensor *z = ag_zeros(2, shape, false);
    ag_tensor *o = ag_ones(2, shape, true);
    ag_tensor *f = ag_full(2, shape, -2.5f, false);
    assert_non_null(z);
    assert_non_null(o);
    assert_non_null(f);
    assert_shape(z, 2, shape);
    assert_shape(o, 2, shape);
    assert_shape(f, 2, shape);
    for (int i = 0; i < 15; i++) {
        assert_float_eq(ag_data(z)[i], 0.0f);
        assert_float_eq(ag_data(o)[i], 1.0f);
        assert_float_eq(ag_data(f)[i], -2.5f);
    }
    assert_false(ag_requires_grad(z));
    assert_true(ag_requires_grad(o));
    assert_false(ag_requires_grad(f));

    ag_tensor *s = ag_scalar(3.25f, true);
    assert_non_null(s);
    assert_int_equal(ag_ndim(s), 0);
    assert_int_equal(ag_numel(s), 1);
    assert_float_eq(ag_item(s), 3.25f);
    assert_float_eq(ag_data(s)[0], 3.25f);
    assert_true(ag_requires_grad(s));
    assert_true(ag_is_leaf(s));
    assert_null(ag_grad(s));

    /* 0-dim with a NULL shape through every constructor */
    ag_tensor *z0 = ag_zeros(0, NULL, false);
    ag_tensor *o0 = ag_ones(0, NULL, false);
    ag_tensor *f0 = ag_full(0, NULL, 7.0f, false);
    float v = 4.0f;
    ag_tensor *n0 = ag_tensor_new(0, NULL, &v, false);
    assert_float_eq(ag_item(z0), 0.0f);
    assert_float_eq(ag_item(o0), 1.0f);
    assert_float_eq(ag_item(f0), 7.0f);
    assert_float_eq(ag_item(n0), 4.0f);
    assert_int_equal(ag_ndim(n0), 0);
    assert_int_equal(ag_numel(n0), 1);
    /* full with special values */
    ag_tensor *fn = ag_full(1, shape, NAN, false);
    ag_tensor *fi = ag_full(1, shape, -INFINITY, false);
    for (int i = 0; i < 3; i++) {
        assert_true(isnan(ag_data(fn)[i]));
        assert_true(isinf(ag_data(fi)[i]) && ag_data(fi)[i] < 0);
    }
    ag_tensor *all[] = { z, o, f, s, z0, o0, f0, n0, fn, fi };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ag_tensor_free(all[i]);
}

/* Every rank 0..AG_MAX_DIMS, with distinct sizes, through every constructor. */
static void test_all_ranks(void **state)
{
    (void)state;
    assert_int_equal(AG_MAX_DIMS, 8);
    const int64_t sizes[AG_MAX_DIMS] = { 2, 1, 3, 2, 1, 2, 2, 3 };
    float data[2 * 3 * 2 * 2 * 2 * 3];
    for (int nd = 0; nd <= AG_MAX_DIMS; nd++) {
        int64_t numel = 1;
        for (int i = 0; i < nd; i++)
            numel *= sizes[i];
        for (int64_t i = 0; i < numel; i++)
            data[i] = (float)i * 0.5f - 3.0f;
        ag_tensor *x = ag_tensor_new(nd, sizes, data, nd % 2 == 0);
        ag_tensor *z = ag_zeros(nd, sizes, false);
        ag_tensor *o = ag_ones(nd, sizes, false);
        ag_tensor *f = ag_full(nd, sizes, 0.25f, false);
        ag_tensor *list[4] = { x, z, o, f };
        for (int k = 0; k < 4; k++) {
            assert_non_null(list[k]);
            assert_int_equal(ag_ndim(list[k]), nd);
            assert_int_equal(ag_numel(list[k]), numel);
            for (int i = 0; i < nd; i++)
                assert_int_equal(ag_shape(list[k])[i], sizes[i]);
            assert_true(ag_is_leaf(list[k]));
            assert_null(ag_grad(list[k]));
        }
        assert_int_equal(ag_requires_grad(x), nd % 2 == 0);
        for (int64_t i = 0; i < numel; i++) {
            assert_float_eq(ag_data(x)[i], data[i]);
            assert_float_eq(ag_data(z)[i], 0.0f);
            assert_float_eq(ag_data(o)[i], 1.0f);
            assert_float_eq(ag_data(f)[i], 0.25f);
        }
        if (numel == 1)
            assert_float_eq(ag_item(x), data[0]);
        else
            assert_true(isnan(ag_item(x)));
        for (int k = 0; k < 4; k++)
            ag_tensor_free(list[k]);
    }
}

/* A size of 0 is allowed (an empty tensor), as in torch.zeros(0, 3). */
static void test_empty_tensor(void **state)
{
    (void)state;
    int64_t shape[2] = { 0, 3 };
    ag_tensor *x = ag_tensor_new(2, shape, NULL, true);
    assert_non_null(x);
    assert_int_equal(ag_numel(x), 0);
    assert_shape(x, 2, shape);
    assert_true(isnan(ag_item(x)));
    ag_tensor *f = ag_full(2, shape, 1.0f, false);
    assert_non_null(f);
    assert_int_equal(ag_numel(f), 0);
    ag_tensor_free(x);
    ag_tensor_free(f);
    /* an empty leaf may have any other sizes, as torch.empty(2**61, 0): in
     * whichever order the zero comes (a size past the limit before the zero
     * was once refused) */
    const int64_t big = (int64_t)1 << 61;
    const int64_t orders[3][3] = { { big, 0, big }, { 0, big, big }, { big, big, 0 } };
    for (int k = 0; k < 3; k++) {
        ag_tensor *e = ag_zeros(3, orders[k], false);
        assert_non_null(e);
        assert_int_equal(ag_numel(e), 0);
        assert_shape(e, 3, orders[k]);
        ag_tensor_free(e);
    }
}

/* ---- bad shapes: NULL, a message naming the function and the shape ---- */

static void test_bad_ndim(void **state)
{
    (void)state;
    int64_t shape[AG_MAX_DIMS + 1] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    int bad[] = { -1, AG_MAX_DIMS + 1, -1000, 1000 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char num[32];
        snprintf(num, sizeof num, "%d", bad[k]);
        assert_null(ag_tensor_new(bad[k], shape, NULL, false));
        assert_contains(ag_last_error(), "ag_tensor_new");
        assert_contains(ag_last_error(), "ndim");
        assert_contains(ag_last_error(), num);
        assert_null(ag_zeros(bad[k], shape, false));
        assert_contains(ag_last_error(), "ag_zeros");
        assert_null(ag_ones(bad[k], shape, false));
        assert_contains(ag_last_error(), "ag_ones");
        assert_null(ag_full(bad[k], shape, 1.0f, true));
        assert_contains(ag_last_error(), "ag_full");
    }
}

static void test_null_shape(void **state)
{
    (void)state;
    float v[4] = { 1, 2, 3, 4 };
    assert_null(ag_tensor_new(1, NULL, v, false));
    assert_contains(ag_last_error(), "ag_tensor_new");
    assert_contains(ag_last_error(), "shape is NULL");
    assert_null(ag_zeros(2, NULL, false));
    assert_contains(ag_last_error(), "ag_zeros");
    assert_null(ag_ones(3, NULL, false));
    assert_contains(ag_last_error(), "ag_ones");
    assert_null(ag_full(AG_MAX_DIMS, NULL, 0.0f, false));
    assert_contains(ag_last_error(), "ag_full");
}

static void test_negative_size(void **state)
{
    (void)state;
    int64_t shape[3] = { 2, -3, 4 };
    assert_null(ag_tensor_new(3, shape, NULL, false));
    assert_contains(ag_last_error(), "ag_tensor_new");
    assert_contains(ag_last_error(), "(2,-3,4)");
    assert_null(ag_zeros(3, shape, false));
    assert_contains(ag_last_error(), "ag_zeros");
    assert_contains(ag_last_error(), "(2,-3,4)");
    assert_null(ag_ones(3, shape, false));
    assert_contains(ag_last_error(), "ag_ones");
    assert_null(ag_full(3, shape, 1.0f, false));
    assert_contains(ag_last_error(), "ag_full");
    int64_t neg0[1] = { INT64_MIN };
    assert_null(ag_tensor_new(1, neg0, NULL, false));
    assert_contains(ag_last_error(), "-9223372036854775808");
    /* a negative size is an error even when another size is 0 */
    int64_t zneg[2] = { 0, -1 };
    assert_null(ag_zeros(2, zneg, false));
    assert_contains(ag_last_error(), "(0,-1)");
}

/* Element counts whose byte size overflows int64 or size_t: rejected up front,
 * before any allocation. */
static void test_overflowing_shape(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    const int64_t big = (int64_t)1 << 40;
    int64_t s2[2] = { big, big };
    assert_null(ag_tensor_new(2, s2, NULL, false));
    assert_contains(ag_last_error(), "ag_tensor_new");
    assert_contains(ag_last_error(), "(1099511627776,1099511627776)");
    assert_null(ag_ones(2, s2, true));
    assert_contains(ag_last_error(), "ag_ones");
    assert_contains(ag_last_error(), "(1099511627776,1099511627776)");
    /* numel fits int64 but numel * sizeof(float) does not */
    int64_t s1[1] = { INT64_MAX / 2 };
    assert_null(ag_zeros(1, s1, false));
    assert_contains(ag_last_error(), "ag_zeros");
    int64_t smax[1] = { INT64_MAX };
    assert_null(ag_full(1, smax, 0.0f, false));
    assert_contains(ag_last_error(), "ag_full");
    /* 8 dims of 2^8 = 2^64 elements: overflows only in the last product */
    int64_t s8[AG_MAX_DIMS] = { 256, 256, 256, 256, 256, 256, 256, 256 };
    assert_null(ag_tensor_new(AG_MAX_DIMS, s8, NULL, false));
    assert_contains(ag_last_error(), "(256,256,256,256,256,256,256,256)");
    /* an overflowing product that a 0 later would bring back to 0 is still
     * accepted only if it is really empty: torch.zeros(2**40, 2**40, 0) is legal */
    int64_t s0[3] = { big, big, 0 };
    ag_tensor *e = ag_zeros(3, s0, false);
    if (e) {
        assert_int_equal(ag_numel(e), 0);
        ag_tensor_free(e);
    } else {
        assert_contains(ag_last_error(), "ag_zeros");
    }
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.bad_frees, 0);
    tu_alloc_restore();
}

/* An allocator that cannot satisfy a large (valid) request: NULL, out of memory. */
static void test_large_shape_out_of_memory(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    a.max_bytes = (size_t)1 << 20;
    int64_t shape[2] = { 1 << 20, 1 << 10 };   /* 4 GiB: refused by the allocator */
    assert_null(ag_zeros(2, shape, true));
    assert_contains(ag_last_error(), "ag_zeros");
    assert_contains(ag_last_error(), "out of memory");
    assert_contains(ag_last_error(), "(1048576,1024)");
    assert_int_equal(a.failed, 1);
    assert_int_equal(a.outstanding, 0);
    tu_alloc_restore();
}

/* A successful call does not need to clear ag_last_error, but a later error
 * replaces the message of an earlier one. */
static void test_last_error_replaced(void **state)
{
    (void)state;
    assert_null(ag_zeros(-1, NULL, false));
    assert_contains(ag_last_error(), "ag_zeros");
    int64_t s[1] = { -5 };
    assert_null(ag_ones(1, s, false));
    assert_contains(ag_last_error(), "ag_ones");
    assert_null(strstr(ag_last_error(), "ag_zeros"));
}

/* ---- accessors ---- */

static void test_null_accessors(void **state)
{
    (void)state;
    assert_null(ag_data(NULL));
    assert_null(ag_shape(NULL));
    assert_int_equal(ag_ndim(NULL), -1);
    assert_int_equal(ag_numel(NULL), -1);
    assert_true(isnan(ag_item(NULL)));
    assert_null(ag_grad(NULL));
    assert_false(ag_requires_grad(NULL));
    assert_false(ag_is_leaf(NULL));
    assert_int_equal(ag_set_requires_grad(NULL, true), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_requires_grad");
    ag_zero_grad(NULL);
    ag_retain_grad(NULL);
    ag_tensor_free(NULL);
    char buf[16];
    assert_int_equal(ag_snprint(buf, sizeof buf, NULL), -1);
}

static void test_set_requires_grad(void **state)
{
    (void)state;
    ag_tensor *x = ag_scalar(2.0f, false);
    assert_false(ag_requires_grad(x));
    assert_int_equal(ag_set_requires_grad(x, true), AG_OK);
    assert_true(ag_requires_grad(x));
    assert_int_equal(ag_set_requires_grad(x, true), AG_OK);   /* idempotent */
    assert_true(ag_requires_grad(x));
    assert_int_equal(ag_set_requires_grad(x, false), AG_OK);
    assert_false(ag_requires_grad(x));
    assert_true(ag_is_leaf(x));

    /* a non-leaf (an op result) cannot change requires_grad */
    ag_set_requires_grad(x, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_mul_scalar(t, x, 3.0f);
    assert_non_null(y);
    assert_false(ag_is_leaf(y));
    assert_true(ag_requires_grad(y));
    assert_int_equal(ag_set_requires_grad(y, false), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_requires_grad");
    assert_contains(ag_last_error(), "lea");
    assert_true(ag_requires_grad(y));
    /* that error is not a tape error */
    assert_int_equal(ag_tape_status(t), AG_OK);
    /* a detached tensor is a leaf and can be made to require grad */
    ag_tensor *d = ag_detach(t, y);
    assert_non_null(d);
    assert_true(ag_is_leaf(d));
    assert_false(ag_requires_grad(d));
    assert_int_equal(ag_set_requires_grad(d, true), AG_OK);
    assert_true(ag_requires_grad(d));
    ag_tape_free(t);
    ag_tensor_free(x);
}

static void test_item(void **state)
{
    (void)state;
    float v[3] = { 1, 2, 3 };
    ag_tensor *one = tu_vec(1, v + 1, false);
    ag_tensor *three = tu_vec(3, v, false);
    int64_t s111[3] = { 1, 1, 1 };
    ag_tensor *cube = ag_full(3, s111, 9.0f, false);
    assert_float_eq(ag_item(one), 2.0f);
    assert_true(isnan(ag_item(three)));
    assert_float_eq(ag_item(cube), 9.0f);
    ag_tensor_free(one);
    ag_tensor_free(three);
    ag_tensor_free(cube);
}

/* ---- freeing ---- */

/* ag_tensor_free on tensors it does not own (op results, detached tensors,
 * gradients) is a no-op; ASan/valgrind catch a double free if it is not. */
static void test_free_not_owned_is_noop(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *x = ag_scalar(3.0f, true);
    ag_tensor *y = ag_mul(t, x, x);
    ag_tensor *d = ag_detach(t, y);
    assert_non_null(y);
    assert_non_null(d);
    ag_retain_grad(y);
    assert_int_equal(ag_backward(t, y), AG_OK);
    ag_tensor *gx = ag_grad(x), *gy = ag_grad(y);
    assert_non_null(gx);
    assert_non_null(gy);
    assert_float_eq(ag_item(gx), 6.0f);

    ag_tensor_free(y);
    ag_tensor_free(d);
    ag_tensor_free(gx);
    ag_tensor_free(gy);
    ag_tensor_free(ag_grad(gx));
    /* everything is still there */
    assert_float_eq(ag_item(y), 9.0f);
    assert_float_eq(ag_item(d), 9.0f);
    assert_ptr_equal(ag_grad(x), gx);
    assert_float_eq(ag_item(gx), 6.0f);
    assert_float_eq(ag_item(gy), 1.0f);
    /* a gradient is a leaf that does not require grad */
    assert_true(ag_is_leaf(gx));
    assert_false(ag_requires_grad(gx));
    assert_null(ag_grad(gx));

    ag_tape_free(t);
    ag_tensor_free(x);      /* frees x and its grad exactly once */
}

/* Leaves live across tape frees, and a tape can be freed before or after them. */
static void test_free_order(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    ag_tensor *x = ag_scalar(1.0f, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_exp(t, x);
    assert_int_equal(ag_backward(t, y), AG_OK);
    ag_tensor_free(x);       /* leaf first (allowed: the tape step is over) */
    ag_tape_free(t);
    ag_tape_free(NULL);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.bad_frees, 0);
    assert_int_equal(a.allocs, a.frees);
    tu_alloc_restore();
}

/* Whatever a failed test left behind, the next one starts with malloc/free. */
static int restore_allocator(void **state)
{
    (void)state;
    tu_alloc_restore();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_new_with_data, restore_allocator),
        cmocka_unit_test_teardown(test_new_null_data_is_zeros, restore_allocator),
        cmocka_unit_test_teardown(test_zeros_ones_full_scalar, restore_allocator),
        cmocka_unit_test_teardown(test_all_ranks, restore_allocator),
        cmocka_unit_test_teardown(test_empty_tensor, restore_allocator),
        cmocka_unit_test_teardown(test_bad_ndim, restore_allocator),
        cmocka_unit_test_teardown(test_null_shape, restore_allocator),
        cmocka_unit_test_teardown(test_negative_size, restore_allocator),
        cmocka_unit_test_teardown(test_overflowing_shape, restore_allocator),
        cmocka_unit_test_teardown(test_large_shape_out_of_memory, restore_allocator),
        cmocka_unit_test_teardown(test_last_error_replaced, restore_allocator),
        cmocka_unit_test_teardown(test_null_accessors, restore_allocator),
        cmocka_unit_test_teardown(test_set_requires_grad, restore_allocator),
        cmocka_unit_test_teardown(test_item, restore_allocator),
        cmocka_unit_test_teardown(test_free_not_owned_is_noop, restore_allocator),
        cmocka_unit_test_teardown(test_free_order, restore_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
