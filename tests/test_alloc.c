/* test_alloc.c - the allocator hook: no heap allocation per step after the
 * first, no leak, and every allocation failure reported cleanly with every
 * existing tensor left as it was (the failing-allocator loop of Lua's ltests). */
#include "testutil.h"

#include <stdio.h>

/* ---- the workload ----
 * Leaves: w (3,1) and b (4,) parameters, x (1,4) input, tgt (3,4) target,
 * B (BIG,3,4) a large parameter that forces new arena blocks and a large grad.
 *   step A:  p = w*x + b;  l = (p - tgt)^2;  backward(l, ones), twice
 *   step B:  (after a reset) p = w*x + b;  r = B * p + Bd;  q = r * 0.5;
 *            Bd = detach(B) requiring grad; p and r retained;  backward(q, ones)
 * Expected gradients are computed here from the formulas:
 *   step A: dl/dp = 2 (p - tgt);  dw_i = sum_j dl/dp_ij x_j;  db_j = sum_i dl/dp_ij
 *   step B: dr = dBd = 0.5;  dB = 0.5 p (broadcast);  dp_ij = 0.5 sum_k B_kij;
 *           dw, db from dp as in step A */
#define BIG 2048

static const float W0[3] = { 0.5f, -1.0f, 2.0f };
static const float X0[4] = { 1.0f, 2.0f, -0.5f, 0.25f };
static const float B0[4] = { 0.1f, 0.2f, 0.3f, -0.4f };

static float tgt_at(int k) { return (float)(k % 3) - 1.0f; }
static float big_at(int64_t k) { return (float)((k * 37) % 11) * 0.125f - 0.5f; }

typedef struct world {
    ag_tape *t;
    ag_tensor *w, *x, *b, *tgt, *B, *seed_small, *seed_big;
} world;

static void world_free(world *wd)
{
    ag_tape_free(wd->t);
    ag_tensor *leaves[] = { wd->w, wd->x, wd->b, wd->tgt, wd->B, wd->seed_small, wd->seed_big };
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        ag_tensor_free(leaves[i]);
    memset(wd, 0, sizeof *wd);
}

/* Creates the leaves; false (with the out-of-memory message checked) if one
 * creation failed. */
static bool world_make(world *wd, const tu_alloc *a)
{
    memset(wd, 0, sizeof *wd);
    int64_t s31[2] = { 3, 1 }, s14[2] = { 1, 4 }, s4[1] = { 4 }, s34[2] = { 3, 4 };
    int64_t sbig[3] = { BIG, 3, 4 };
    float tv[12];
    for (int k = 0; k < 12; k++)
        tv[k] = tgt_at(k);
    wd->t = ag_tape_new();
    if (!wd->t) {
        assert_contains(ag_last_error(), "ag_tape_new: out of memory");
        goto fail;
    }
#define MAKE(field, expr, fn)                                                      \
    if (!(wd->field = (expr))) {                                                   \
        assert_contains(ag_last_error(), fn ": out of memory");                    \
        goto fail;                                                                 \
    }
    MAKE(w, ag_tensor_new(2, s31, W0, true), "ag_tensor_new");
    MAKE(x, ag_tensor_new(2, s14, X0, false), "ag_tensor_new");
    MAKE(b, ag_tensor_new(1, s4, B0, true), "ag_tensor_new");
    MAKE(tgt, ag_tensor_new(2, s34, tv, false), "ag_tensor_new");
    MAKE(B, ag_zeros(3, sbig, true), "ag_zeros");
    MAKE(seed_small, ag_ones(2, s34, false), "ag_ones");
    MAKE(seed_big, ag_full(3, sbig, 1.0f, false), "ag_full");
#undef MAKE
    for (int64_t k = 0; k < BIG * 12; k++)
        ag_data(wd->B)[k] = big_at(k);
    return true;
fail:
    assert_int_equal(a->failed, 1);
    return false;
}

/* A copy of a leaf's data and grad, to show a failed call changed nothing. */
typedef struct snap {
    ag_tensor *x;
    ag_tensor *grad;
    float *data, *gdata;
    int64_t n;
} snap;

static void snap_take(snap *s, ag_tensor *x)
{
    s->x = x;
    s->n = ag_numel(x);
    s->grad = ag_grad(x);
    s->data = malloc((size_t)s->n * sizeof(float));
    s->gdata = malloc((size_t)s->n * sizeof(float));
    assert_non_null(s->data);
    assert_non_null(s->gdata);
    memcpy(s->data, ag_data(x), (size_t)s->n * sizeof(float));
    if (s->grad)
        memcpy(s->gdata, ag_data(s->grad), (size_t)s->n * sizeof(float));
}

static void snap_check_free(snap *s)
{
    assert_ptr_equal(ag_grad(s->x), s->grad);
    assert_memory_equal(ag_data(s->x), s->data, (size_t)s->n * sizeof(float));
    if (s->grad)
        assert_memory_equal(ag_data(s->grad), s->gdata, (size_t)s->n * sizeof(float));
    free(s->data);
    free(s->gdata);
}

static void snap_drop(snap *s)
{
    free(s->data);
    free(s->gdata);
}

/* Expected w.grad (3) and b.grad (4) after step A's backward run `times` times. */
static void expect_step_a(float gw[3], float gb[4], int times)
{
    double dw[3] = { 0 }, db[4] = { 0 };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            float p = W0[i] * X0[j] + B0[j];
            double g = 2.0 * (double)(p - tgt_at(i * 4 + j));
            dw[i] += g * X0[j];
            db[j] += g;
        }
    for (int i = 0; i < 3; i++)
        gw[i] = (float)(dw[i] * times);
    for (int j = 0; j < 4; j++)
        gb[j] = (float)(db[j] * times);
}

/* Records step A on wd->t; returns the loss l (3,4), NULL on error. */
static ag_tensor *record_a(world *wd)
{
    ag_tape *t = wd->t;
    ag_tensor *p = ag_add(t, ag_mul(t, wd->w, wd->x), wd->b);
    return ag_pow(t, ag_sub(t, p, wd->tgt), 2.0f);
}

/* A backward that may fail: on failure it must be AG_ERR_NOMEM from the
 * injected failure, w, b, B must be as they were, and the tape tensors in the
 * NULL-terminated list fresh (retained non-leaves, a detached leaf) must still
 * have no grad. Returns the status. */
static ag_status checked_backward(world *wd, ag_tensor *root, ag_tensor *seed,
                                  ag_tensor *const *fresh, const tu_alloc *a)
{
    snap sw, sb, sB;
    snap_take(&sw, wd->w);
    snap_take(&sb, wd->b);
    snap_take(&sB, wd->B);
    uint64_t failed_before = a->failed;
    ag_status st = ag_backward_seed(wd->t, root, seed);
    if (st == AG_OK) {
        assert_int_equal(a->failed, failed_before);
        snap_drop(&sw);
        snap_drop(&sb);
        snap_drop(&sB);
        return st;
    }
    assert_int_equal(st, AG_ERR_NOMEM);
    assert_int_equal(ag_tape_status(wd->t), AG_ERR_NOMEM);
    assert_int_equal(a->failed, 1);
    assert_contains(ag_tape_error(wd->t), "out of memory");
    snap_check_free(&sw);
    snap_check_free(&sb);
    snap_check_free(&sB);
    for (int k = 0; fresh && fresh[k]; k++)   /* no grad appeared on tape tensors */
        assert_null(ag_grad(fresh[k]));
    return st;
}

/* After any failure the tape is usable again once reset. */
static void check_recovers(world *wd)
{
    ag_tape_reset(wd->t);
    assert_int_equal(ag_tape_status(wd->t), AG_OK);
    ag_tensor *y = ag_add(wd->t, ag_mul(wd->t, wd->w, wd->x), wd->b);
    assert_non_null(y);
    assert_int_equal(ag_backward_seed(wd->t, y, wd->seed_small), AG_OK);
}

/* Runs the whole workload. Returns true if it met (and handled) an error,
 * which must happen exactly when the allocator refused a request. */
static bool workload(const tu_alloc *a)
{
    world wd;
    bool err = true;
    if (!world_make(&wd, a))
        goto done;

    /* step A, backward twice on one recording */
    ag_tensor *l = record_a(&wd);
    if (!l)
        assert_int_equal(ag_tape_status(wd.t), AG_ERR_NOMEM);
    if (checked_backward(&wd, l, wd.seed_small, NULL, a) != AG_OK)
        goto recover;
    if (checked_backward(&wd, l, wd.seed_small, NULL, a) != AG_OK)
        goto recover;
    float gw[3], gb[4];
    expect_step_a(gw, gb, 2);
    for (int i = 0; i < 3; i++)
        assert_close(ag_data(ag_grad(wd.w))[i], gw[i], 1e-6);
    for (int j = 0; j < 4; j++)
        assert_close(ag_data(ag_grad(wd.b))[j], gb[j], 1e-6);
    assert_null(ag_grad(wd.B));

    /* step B, with large tensors and a retained non-leaf grad */
    ag_tape_reset(wd.t);
    ag_tape *t = wd.t;
    ag_tensor *p = ag_add(t, ag_mul(t, wd.w, wd.x), wd.b);
    ag_retain_grad(p);
    ag_tensor *Bd = ag_detach(t, wd.B);            /* a tape-owned leaf ... */
    if (Bd)
        assert_int_equal(ag_set_requires_grad(Bd, true), AG_OK);   /* ... with a grad */
    ag_tensor *r = ag_add(t, ag_mul(t, wd.B, p), Bd);
    ag_retain_grad(r);
    ag_tensor *q = ag_mul_scalar(t, r, 0.5f);
    if (!q) {
        assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
        assert_contains(ag_tape_error(t), "out of memory for shape (2048,3,4)");
    }
    ag_tensor *fresh[4] = { p, r, Bd, NULL };
    if (checked_backward(&wd, q, wd.seed_big, fresh, a) != AG_OK)
        goto recover;
    for (int64_t k = 0; k < BIG * 12; k += 101) {
        assert_float_eq(ag_data(ag_grad(r))[k], 0.5f);
        assert_float_eq(ag_data(ag_grad(Bd))[k], 0.5f);
    }

    /* success: no failure was injected; check step B's gradients */
    assert_int_equal(a->failed, 0);
    double dp[12] = { 0 };
    for (int64_t k = 0; k < BIG; k++)
        for (int m = 0; m < 12; m++)
            dp[m] += 0.5 * big_at(k * 12 + m);
    for (int m = 0; m < 12; m++)
        assert_close(ag_data(ag_grad(p))[m], dp[m], 1e-5);
    for (int i = 0; i < 3; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++)
            s += dp[i * 4 + j] * X0[j];
        assert_close(ag_data(ag_grad(wd.w))[i], gw[i] + s, 1e-5);
    }
    for (int j = 0; j < 4; j++) {
        double s = 0;
        for (int i = 0; i < 3; i++)
            s += dp[i * 4 + j];
        assert_close(ag_data(ag_grad(wd.b))[j], gb[j] + s, 1e-5);
    }
    for (int64_t k = 0; k < BIG * 12; k += 997) {
        int m = (int)(k % 12);
        float pv = W0[m / 4] * X0[m % 4] + B0[m % 4];
        assert_close(ag_data(ag_grad(wd.B))[k], 0.5f * pv, 1e-6);
    }
    err = false;
    goto done;
recover:
    check_recovers(&wd);
done:
    world_free(&wd);
    return err;
}

/* Fail the 1st, 2nd, ... allocation until a run makes no failing request. */
static void test_fail_every_allocation(void **state)
{
    (void)state;
    tu_alloc a;
    uint64_t runs = 0, total = 0;
    for (uint64_t n = 1;; n++) {
        tu_alloc_use(&a);
        a.fail_at = n;
        bool err = workload(&a);
        tu_alloc_restore();
        runs++;
        assert_int_equal(a.bad_frees, 0);
        assert_int_equal(a.resizes, 0);
        assert_int_equal(a.outstanding, 0);
        assert_int_equal(a.allocs, a.frees);
        if (a.failed == 0) {
            assert_false(err);
            total = a.requests;
            break;
        }
        assert_true(err);
        assert_true(n < 10000);   /* the loop ends */
    }
    /* one run per allocation the workload makes, plus the clean one */
    assert_true(total >= 10);
    assert_int_equal(runs, total + 1);
}

/* ---- steady state: zero heap allocations per step after the first ---- */

static void test_no_allocation_per_step(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    world wd;
    assert_true(world_make(&wd, &a));
    uint64_t requests_after_first = 0, frees_after_first = 0;
    float first_loss = 0, last_loss = 0;
    for (int step = 0; step < 11; step++) {
        ag_tape_reset(wd.t);
        ag_tensor *l = record_a(&wd);
        assert_non_null(l);
        double loss = 0;
        for (int k = 0; k < 12; k++)
            loss += ag_data(l)[k];
        assert_int_equal(ag_backward_seed(wd.t, l, wd.seed_small), AG_OK);
        /* a large broadcast op and its backward too */
        ag_tensor *q = ag_mul_scalar(wd.t, ag_mul(wd.t, wd.B, ag_detach(wd.t, wd.b)), 0.5f);
        assert_int_equal(ag_backward_seed(wd.t, q, wd.seed_big), AG_OK);
        /* SGD by hand, then zero the grads, as a training loop does */
        for (int i = 0; i < 3; i++)
            ag_data(wd.w)[i] -= 0.01f * ag_data(ag_grad(wd.w))[i];
        for (int j = 0; j < 4; j++)
            ag_data(wd.b)[j] -= 0.01f * ag_data(ag_grad(wd.b))[j];
        ag_zero_grad(wd.w);
        ag_zero_grad(wd.b);
        ag_zero_grad(wd.B);
        if (step == 0) {
            requests_after_first = a.requests;
            frees_after_first = a.frees;
            first_loss = (float)loss;
        }
        last_loss = (float)loss;
    }
    assert_int_equal(a.requests, requests_after_first);
    assert_int_equal(a.frees, frees_after_first);
    assert_true(last_loss < first_loss);
    world_free(&wd);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.allocs, a.frees);
    assert_int_equal(a.bad_frees, 0);
    assert_int_equal(a.resizes, 0);
    tu_alloc_restore();
}

/* A tape or leaf frees through the allocator it was created with, even after
 * the current allocator changed. */
static void test_remembers_allocator(void **state)
{
    (void)state;
    tu_alloc a1, a2;
    tu_alloc_use(&a1);
    ag_tensor *x = ag_scalar(2.0f, true);
    ag_tape *t1 = ag_tape_new();
    tu_alloc_use(&a2);
    ag_tape *t2 = ag_tape_new();
    ag_tensor *y = ag_scalar(3.0f, true);
    tu_alloc_restore();
    ag_tensor *z = ag_scalar(4.0f, true);       /* malloc */
    assert_true(a1.allocs == 2 && a2.allocs == 2);
    /* x.grad comes from x's allocator (a1), whatever tape the backward runs on */
    assert_int_equal(ag_backward(t2, ag_mul(t2, ag_mul(t2, x, y), z)), AG_OK);
    assert_float_eq(ag_item(ag_grad(x)), 12.0f);
    assert_float_eq(ag_item(ag_grad(y)), 8.0f);
    assert_float_eq(ag_item(ag_grad(z)), 6.0f);
    assert_int_equal(a1.allocs, 3);
    assert_true(a2.allocs >= 4);                 /* y.grad and t2's arena */
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(z);
    ag_tape_free(t1);
    ag_tape_free(t2);
    assert_int_equal(a1.outstanding, 0);
    assert_int_equal(a2.outstanding, 0);
    assert_int_equal(a1.bad_frees + a2.bad_frees, 0);
}

/* An op whose result cannot be allocated: AG_ERR_NOMEM naming the op and the
 * shape; the inputs are untouched; after a reset the tape works. */
static void test_op_out_of_memory(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    int64_t s[2] = { 512, 1024 };                   /* 2 MiB of floats */
    ag_tensor *m = ag_full(2, s, 2.0f, true);
    ag_tape *t = ag_tape_new();
    assert_non_null(m);
    assert_non_null(t);
    a.max_bytes = (size_t)1 << 20;                 /* nothing above 1 MiB now */
    ag_tensor *y = ag_exp(t, m);
    assert_null(y);
    assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
    assert_string_equal(ag_tape_error(t), "ag_exp: out of memory for shape (512,1024)");
    for (int64_t k = 0; k < 512 * 1024; k += 4099)
        assert_float_eq(ag_data(m)[k], 2.0f);
    assert_null(ag_grad(m));
    /* a leaf root whose grad cannot be allocated */
    ag_tape_reset(t);
    ag_tensor *ones = NULL;
    a.max_bytes = 0;
    ones = ag_ones(2, s, false);
    assert_non_null(ones);
    a.max_bytes = (size_t)1 << 20;
    assert_int_equal(ag_backward_seed(t, m, ones), AG_ERR_NOMEM);
    assert_contains(ag_tape_error(t), "ag_backward_seed");
    assert_contains(ag_tape_error(t), "(512,1024)");
    assert_null(ag_grad(m));
    a.max_bytes = 0;
    ag_tape_reset(t);
    assert_int_equal(ag_backward_seed(t, m, ones), AG_OK);
    assert_float_eq(ag_data(ag_grad(m))[12345], 1.0f);
    ag_tensor_free(m);
    ag_tensor_free(ones);
    ag_tape_free(t);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.bad_frees, 0);
    tu_alloc_restore();
}

/* x.grad.requires_grad_(True): the grad gets a grad of its own, which is
 * freed with x (the whole chain is x's). */
static void test_grad_of_grad_freed(void **state)
{
    (void)state;
    tu_alloc a;
    tu_alloc_use(&a);
    ag_tensor *x = ag_scalar(3.0f, true);
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_backward(t, ag_mul(t, x, x)), AG_OK);
    ag_tensor *g = ag_grad(x);
    assert_float_eq(ag_item(g), 6.0f);
    assert_int_equal(ag_set_requires_grad(g, true), AG_OK);
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_mul(t, g, g)), AG_OK);
    assert_float_eq(ag_item(ag_grad(g)), 12.0f);
    ag_set_requires_grad(ag_grad(g), true);        /* and one level deeper */
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_mul_scalar(t, ag_grad(g), 2.0f)), AG_OK);
    assert_float_eq(ag_item(ag_grad(ag_grad(g))), 2.0f);
    ag_tensor_free(g);                             /* ignored: x owns it */
    ag_tensor_free(x);
    ag_tape_free(t);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.allocs, a.frees);
    assert_int_equal(a.bad_frees, 0);
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
        cmocka_unit_test_teardown(test_no_allocation_per_step, restore_allocator),
        cmocka_unit_test_teardown(test_remembers_allocator, restore_allocator),
        cmocka_unit_test_teardown(test_op_out_of_memory, restore_allocator),
        cmocka_unit_test_teardown(test_grad_of_grad_freed, restore_allocator),
        cmocka_unit_test_teardown(test_fail_every_allocation, restore_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
