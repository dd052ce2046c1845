/* test_dtype.c - dtypes: int64 and bool leaves, typed accessors, requires_grad,
 * conversions, promotion and its errors, arange and linspace against PyTorch
 * (tests/data/dtype_reference.txt, from tests/gen_dtype_reference.py). Values
 * of conversions and promoted ops are checked against PyTorch in
 * test_reference (tests/refgen_dtype.py). */
#include "testutil.h"
#include "internal.h"

#include <errno.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>

#define REF_FILE AG_TEST_DATA_DIR "/dtype_reference.txt"

static void test_leaves_and_accessors(void **state)
{
    (void)state;
    const int64_t s[2] = { 2, 3 };
    const int64_t iv[6] = { 1, -2, 3, INT64_MAX, INT64_MIN, 0 };
    ag_tensor *a = ag_tensor_i64(2, s, iv);
    assert_int_equal(ag_dtype_of(a), AG_INT64);
    assert_string_equal(ag_dtype_name(ag_dtype_of(a)), "int64");
    assert_memory_equal(ag_data_i64(a), iv, sizeof iv);
    assert_false(ag_requires_grad(a));
    /* a float accessor on an int64 tensor is an error, not a reinterpretation */
    assert_null(ag_data(a));
    assert_string_equal(ag_last_error(), "ag_data: the tensor is int64, not float32 (use ag_data_i64)");
    assert_null(ag_data_bool(a));
    assert_contains(ag_last_error(), "ag_data_bool: the tensor is int64, not bool");
    /* only float tensors can require grad */
    assert_int_equal(ag_set_requires_grad(a, true), AG_ERR_ARG);
    assert_contains(ag_last_error(), "only tensors of floating point dtype can require gradients");
    assert_false(ag_requires_grad(a));
    assert_int_equal(ag_set_requires_grad(a, false), AG_OK);

    const bool bv[3] = { true, false, true };
    ag_tensor *m = ag_tensor_bool(1, (const int64_t[]){ 3 }, bv);
    assert_int_equal(ag_dtype_of(m), AG_BOOL);
    assert_memory_equal(ag_data_bool(m), bv, sizeof bv);
    assert_null(ag_data_i64(m));
    assert_null(ag_data(m));

    ag_tensor *z = ag_zeros_dtype(2, s, AG_INT64), *o = ag_ones_dtype(2, s, AG_BOOL);
    ag_tensor *f = ag_full_i64(1, (const int64_t[]){ 4 }, -7), *fb = ag_full_bool(0, NULL, true);
    ag_tensor *si = ag_scalar_i64(INT64_MIN), *sb = ag_scalar_bool(false);
    ag_tensor *zf = ag_zeros_dtype(1, (const int64_t[]){ 2 }, AG_FLOAT32);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ag_data_i64(z)[i], 0);
        assert_true(ag_data_bool(o)[i]);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(ag_data_i64(f)[i], -7);
    assert_true(ag_data_bool(fb)[0]);
    assert_int_equal(ag_ndim(fb), 0);
    assert_true(ag_item_i64(si) == INT64_MIN);
    assert_int_equal(ag_item_i64(sb), 0);
    assert_float_eq(ag_item(si), (float)INT64_MIN);
    assert_float_eq(ag_item(fb), 1.0f);
    assert_int_equal(ag_dtype_of(zf), AG_FLOAT32);
    assert_null(ag_zeros_dtype(2, s, (ag_dtype)7));
    assert_contains(ag_last_error(), "ag_zeros_dtype: unknown dtype 7");
    /* leaf data, of every dtype, starts on a cache line */
    ag_tensor *all[] = { a, m, z, o, f, fb, si, sb, zf };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        assert_int_equal((uintptr_t)all[i]->data % 64, 0);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ag_tensor_free(all[i]);
}

/* Every int64 and bool leaf's allocation can fail, and fails cleanly. */
static void test_allocation_failure(void **state)
{
    (void)state;
    tu_alloc al;
    tu_alloc_use(&al);
    al.fail_at = 1;
    assert_null(ag_tensor_i64(1, (const int64_t[]){ 3 }, NULL));
    assert_contains(ag_last_error(), "ag_tensor_i64: out of memory");
    tu_alloc_use(&al);
    al.fail_at = 1;
    assert_null(ag_arange(0, 10, 1, AG_INT64));
    assert_contains(ag_last_error(), "ag_arange: out of memory");
    tu_alloc_use(&al);
    ag_tensor *x = ag_tensor_bool(2, (const int64_t[]){ 2, 2 }, NULL);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_to_dtype(t, x, AG_FLOAT32);
    assert_non_null(y);
    ag_tape_free(t);
    ag_tensor_free(x);
    tu_alloc_restore();
    assert_int_equal(al.outstanding, 0);
    assert_int_equal(al.bad_frees, 0);
}

static void test_conversions_on_the_tape(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    const float xv[4] = { -1.5f, 0.0f, 2.7f, NAN };
    ag_tensor *x = ag_tensor_new(1, (const int64_t[]){ 4 }, xv, true);
    ag_tensor *l = ag_long(t, x), *b = ag_bool(t, x);
    assert_int_equal(ag_dtype_of(l), AG_INT64);
    assert_int_equal(ag_dtype_of(b), AG_BOOL);
    assert_false(ag_requires_grad(l));  /* no gradient through an integer dtype */
    assert_int_equal(ag_data_i64(l)[0], -1);
    assert_int_equal(ag_data_i64(l)[2], 2);
    assert_true(ag_data_i64(l)[3] == INT64_MIN);
    assert_false(ag_data_bool(b)[1]);
    assert_true(ag_data_bool(b)[3]);
    /* to its own dtype: the same tensor, as PyTorch's x.float() */
    assert_ptr_equal(ag_float(t, x), x);
    assert_ptr_equal(ag_long(t, l), l);
    ag_tensor *f = ag_float(t, l);
    assert_false(ag_requires_grad(f));
    assert_float_eq(ag_data(f)[2], 2.0f);
    /* a view of an int64 tensor stays int64 */
    ag_tensor *v = ag_reshape(t, l, 2, (const int64_t[]){ 2, 2 });
    assert_non_null(v);
    assert_int_equal(ag_dtype_of(v), AG_INT64);
    assert_int_equal(ag_data_i64(v)[2], 2);
    ag_tensor *u = ag_unsqueeze(t, b, 0);
    assert_int_equal(ag_dtype_of(u), AG_BOOL);
    /* a bad dtype */
    assert_null(ag_to_dtype(t, x, (ag_dtype)-1));
    assert_contains(ag_tape_error(t), "ag_to_dtype: unknown dtype -1");
    ag_tape_free(t);
    ag_tensor_free(x);
}

/* int64 / bool inputs: promoted where PyTorch computes in float32, refused
 * (naming the op and the dtypes) where PyTorch keeps an integer dtype or
 * raises; the inputs are untouched either way. */
static void test_promotion_and_its_errors(void **state)
{
    (void)state;
    const int64_t kv[3] = { 3, -2, 5 };
    ag_tensor *k = ag_tensor_i64(1, (const int64_t[]){ 3 }, kv);
    ag_tensor *m = ag_tensor_bool(1, (const int64_t[]){ 3 }, (const bool[]){ true, false, true });
    ag_tensor *x = ag_ones(1, (const int64_t[]){ 3 }, true);
    ag_tape *t = ag_tape_new();
    /* float32 + int64: float32, and x gets its gradient */
    ag_tensor *y = ag_add(t, x, k);
    assert_int_equal(ag_dtype_of(y), AG_FLOAT32);
    assert_true(ag_requires_grad(y));
    assert_float_eq(ag_data(y)[1], -1.0f);
    assert_int_equal(ag_backward(t, ag_sum(t, ag_mul(t, y, k), 0, NULL, false)), AG_OK);
    for (int i = 0; i < 3; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], (float)kv[i]);
    assert_null(ag_grad(k));
    ag_tape_reset(t);

    struct { ag_tensor *(*f)(ag_tape *, ag_tensor *); const char *msg; } un[] = {
        { ag_neg, "ag_neg: expected float32 input, got int64 for input 0" },
        { ag_abs, "ag_abs: expected float32 input, got int64 for input 0" },
        { ag_relu, "ag_relu: expected float32 input, got int64 for input 0" },
    };
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
        assert_null(un[i].f(t, k));
        assert_contains(ag_tape_error(t), un[i].msg);
        ag_tape_reset(t);
    }
    assert_null(ag_add(t, k, k));      /* PyTorch: int64; not supported here, and said so */
    assert_contains(ag_tape_error(t), "ag_add: expected float32 inputs, got int64 and int64");
    ag_tape_reset(t);
    assert_null(ag_matmul(t, x, k));
    assert_contains(ag_tape_error(t), "ag_matmul: expected float32 inputs, got float32 and int64");
    ag_tape_reset(t);
    /* PyTorch raises for subtraction with a bool tensor */
    assert_null(ag_sub(t, x, m));
    assert_contains(ag_tape_error(t), "ag_sub: subtraction or negation of a bool tensor");
    ag_tape_reset(t);
    assert_null(ag_rsub_scalar(t, m, 1.0f));
    assert_contains(ag_tape_error(t), "ag_rsub_scalar: subtraction or negation of a bool");
    ag_tape_reset(t);
    assert_null(ag_neg(t, m));
    assert_contains(ag_tape_error(t), "ag_neg: subtraction or negation of a bool tensor");
    ag_tape_reset(t);
    /* ... and an int64 seed or root is no float */
    ag_tensor *c = ag_cat(t, 2, (ag_tensor *[]){ k, k }, 0);
    assert_null(c);
    assert_contains(ag_tape_error(t), "ag_cat: expected float32 inputs, got int64 and int64");
    ag_tape_reset(t);
    /* tape-less functions that read floats refuse other dtypes too */
    ag_rng r;
    ag_rng_seed(&r, 1);
    assert_int_equal(ag_fill_uniform(k, &r, 0.0f, 1.0f), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_fill_uniform: the tensor is int64, not float32");
    assert_int_equal(ag_fill_normal(m, &r, 0.0f, 1.0f), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_fill_normal: the tensor is bool, not float32");
    y = ag_mul(t, x, x);
    assert_int_equal(ag_backward_seed(t, y, k), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_backward_seed: seed is int64, not float32");
    ag_tape_reset(t);
    ag_tensor *logits = ag_zeros(2, (const int64_t[]){ 1, 3 }, true);
    ag_ce_opts o = ag_ce_defaults();
    o.weight = k;
    assert_null(ag_cross_entropy(t, logits, (const int64_t[]){ 0 }, &o));
    assert_contains(ag_tape_error(t), "ag_cross_entropy: weight is int64, not float32");
    ag_tensor_free(logits);
    assert_memory_equal(ag_data_i64(k), kv, sizeof kv);
    ag_tape_free(t);
    ag_tensor_free(k);
    ag_tensor_free(m);
    ag_tensor_free(x);
}

/* Constants on the tape: usable in an expression, never requiring grad,
 * freed with the tape, and no allocation per step once the arena has grown. */
static ag_status const_step(ag_tape *t, ag_tensor *x)
{
    ag_tape_reset(t);
    ag_tensor *r = ag_const_arange(t, 0, 4, 1, AG_FLOAT32);      /* 0 1 2 3 */
    ag_tensor *c = ag_const_full(t, 1, (const int64_t[]){ 4 }, 0.5f);
    ag_tensor *k = ag_const_full_i64(t, 0, NULL, 3);
    ag_tensor *y = ag_sum(t, ag_mul(t, ag_mul(t, x, r), c), 0, NULL, false);
    assert_false(ag_requires_grad(r));
    assert_int_equal(ag_dtype_of(k), AG_INT64);
    assert_int_equal(ag_item_i64(k), 3);
    return ag_backward(t, y);
}

static void test_constants_on_the_tape(void **state)
{
    (void)state;
    tu_alloc al;
    tu_alloc_use(&al);
    ag_tensor *x = ag_ones(1, (const int64_t[]){ 4 }, true);
    ag_tape *t = ag_tape_new();
    assert_int_equal(const_step(t, x), AG_OK);
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(ag_grad(x))[i], 0.5f * (float)i);   /* d/dx sum(x * r * c) */
    ag_zero_grad(x);
    const uint64_t before = al.requests;
    assert_int_equal(const_step(t, x), AG_OK);
    assert_int_equal(al.requests, before);   /* the second step allocates nothing */
    ag_tensor *i = ag_const_arange(t, 5, 0, -2, AG_INT64);
    assert_int_equal(ag_numel(i), 3);
    assert_int_equal(ag_data_i64(i)[2], 1);
    /* errors go on the tape */
    ag_tape_reset(t);
    assert_null(ag_const_arange(t, 0, 1, 0, AG_FLOAT32));
    assert_contains(ag_tape_error(t), "ag_const_arange: step must be nonzero");
    ag_tape_reset(t);
    assert_null(ag_const_full(t, 1, (const int64_t[]){ -1 }, 0.0f));
    assert_contains(ag_tape_error(t), "ag_const_full: shape (-1) has a negative size");
    assert_null(ag_const_full(NULL, 0, NULL, 1.0f));
    assert_contains(ag_last_error(), "ag_const_full: tape is NULL");
    ag_tape_free(t);
    ag_tensor_free(x);
    tu_alloc_restore();
    assert_int_equal(al.outstanding, 0);
}

/* ---- arange and linspace against PyTorch ---- */

static double num(char **s)
{
    char *end;
    double v = strtod(*s, &end);
    assert_true(end != *s);
    *s = end;
    return v;
}

static void test_arange_linspace_match_pytorch(void **state)
{
    (void)state;
    char *text = tu_slurp(REF_FILE);
    assert_non_null(text);
    int64_t declared = -1, seen = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *s = line;
        if (strncmp(s, "dtype_reference 1 ", 18) == 0) {
            declared = strtoll(s + 18, NULL, 10);
            continue;
        }
        seen++;
        const bool err = strncmp(s, "error ", 6) == 0;
        if (err)
            s += 6;
        ag_tensor *x;
        ag_dtype dt = AG_FLOAT32;
        const bool is_arange = strncmp(s, "arange ", 7) == 0;
        if (is_arange) {
            s += 7;
            double a = num(&s), b = num(&s), st = num(&s);
            while (*s == ' ')
                s++;
            dt = strncmp(s, "int64", 5) == 0 ? AG_INT64 : AG_FLOAT32;
            s += dt == AG_INT64 ? 5 : 7;
            x = ag_arange(a, b, st, dt);
        } else {
            assert_true(strncmp(s, "linspace ", 9) == 0);
            s += 9;
            double a = num(&s), b = num(&s), n = num(&s);
            x = ag_linspace(a, b, (int64_t)n);
        }
        if (err) {
            if (x)
                print_error("%s: PyTorch raises, we did not\n", line);
            assert_null(x);
            assert_true(strlen(ag_last_error()) > 0);
            continue;
        }
        if (!x)
            print_error("%s: %s\n", line, ag_last_error());
        assert_non_null(x);
        int64_t n = (int64_t)num(&s);
        assert_int_equal(ag_ndim(x), 1);
        assert_int_equal(ag_numel(x), n);
        assert_int_equal(ag_dtype_of(x), dt);
        for (int64_t i = 0; i < n; i++) {
            double want = num(&s);
            double got = dt == AG_INT64 ? (double)ag_data_i64(x)[i] : (double)ag_data(x)[i];
            /* arange exactly (PyTorch's algorithm); linspace's ends exactly
             * and its inner values within 2 ulp: PyTorch's vectorised kernel
             * rounds some inner values differently with the vector width of
             * the build (src/core/dtype.c) */
            const bool exact = is_arange || i == 0 || i == n - 1;
            const double tol = exact ? 0.0 : 2.4e-7 * fabs(want) + 1e-30;
            if (fabs(got - (dt == AG_INT64 ? want : (double)(float)want)) > tol)
                print_error("%s: element %lld is %.9g\n", line, (long long)i, got);
            assert_true(fabs(got - (dt == AG_INT64 ? want : (double)(float)want)) <= tol);
        }
        ag_tensor_free(x);
    }
    assert_int_equal(seen, declared);
    assert_true(seen > 20);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaves_and_accessors),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_conversions_on_the_tape),
        cmocka_unit_test(test_promotion_and_its_errors),
        cmocka_unit_test(test_constants_on_the_tape),
        cmocka_unit_test(test_arange_linspace_match_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
