/* test_errors.c - bad input as a new user would pass it: NULL tapes and
 * tensors, shapes that do not broadcast, tensors from another tape; the sticky
 * first error, reset, and inputs left unchanged by every failed call. */
#include "testutil.h"

#include "internal.h"

#include <stdio.h>

/* ---- the public ops, by signature ---- */

typedef ag_tensor *(*op2_fn)(ag_tape *, ag_tensor *, ag_tensor *);
typedef ag_tensor *(*op1_fn)(ag_tape *, ag_tensor *);
typedef ag_tensor *(*op1s_fn)(ag_tape *, ag_tensor *, float);

static const struct { const char *name; op2_fn f; } binary_ops[] = {
    { "ag_add", ag_add }, { "ag_sub", ag_sub }, { "ag_mul", ag_mul },
};
static const struct { const char *name; op1_fn f; } unary_ops[] = {
    { "ag_neg", ag_neg }, { "ag_exp", ag_exp }, { "ag_sin", ag_sin },
    { "ag_sqrt", ag_sqrt }, { "ag_detach", ag_detach },
};
static const struct { const char *name; op1s_fn f; } scalar_ops[] = {
    { "ag_add_scalar", ag_add_scalar }, { "ag_sub_scalar", ag_sub_scalar },
    { "ag_rsub_scalar", ag_rsub_scalar }, { "ag_mul_scalar", ag_mul_scalar },
    { "ag_pow", ag_pow },
};
#define COUNT(a) (sizeof (a) / sizeof (a)[0])

/* ---- snapshots: a failed call must leave every tensor as it was ---- */

#define SNAP_MAX 32

typedef struct snap {
    const ag_tensor *x;
    int64_t numel;
    float data[SNAP_MAX];
    const ag_tensor *grad;
    float gdata[SNAP_MAX];
} snap;

static void take(snap *s, ag_tensor *x)
{
    s->x = x;
    s->numel = ag_numel(x);
    assert_true(s->numel <= SNAP_MAX);
    memcpy(s->data, ag_data(x), (size_t)s->numel * sizeof(float));
    s->grad = ag_grad(x);
    if (s->grad)
        memcpy(s->gdata, ag_data(ag_grad(x)), (size_t)s->numel * sizeof(float));
}

#define assert_unchanged(s)                                                        \
    do {                                                                           \
        const snap *s_ = (s);                                                      \
        ag_tensor *x_ = (ag_tensor *)s_->x;                                        \
        assert_int_equal(ag_numel(x_), s_->numel);                                 \
        assert_memory_equal(ag_data(x_), s_->data, (size_t)s_->numel * sizeof(float)); \
        assert_ptr_equal(ag_grad(x_), s_->grad);                                   \
        if (s_->grad)                                                              \
            assert_memory_equal(ag_data(ag_grad(x_)), s_->gdata,                   \
                                (size_t)s_->numel * sizeof(float));                \
    } while (0)

/* Two leaves a (2,3), b (2,3) with gradients from one backward, c (2,3)
 * without, and r (4,5). */
typedef struct fixture {
    ag_tensor *a, *b, *c, *r;
    snap sa, sb, sc, sr;
} fixture;

static void fixture_make(fixture *f)
{
    float v[20];
    for (int i = 0; i < 20; i++)
        v[i] = (float)i * 0.25f + 0.5f;
    f->a = tu_mat(2, 3, v, true);
    f->b = tu_mat(2, 3, v + 6, true);
    f->c = tu_mat(2, 3, v + 3, false);
    f->r = tu_mat(4, 5, v, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *ones = ag_ones(2, ag_shape(f->a), false);
    assert_int_equal(ag_backward_seed(t, ag_mul(t, f->a, f->b), ones), AG_OK);
    ag_tensor_free(ones);
    ag_tape_free(t);
    assert_non_null(ag_grad(f->a));
    take(&f->sa, f->a);
    take(&f->sb, f->b);
    take(&f->sc, f->c);
    take(&f->sr, f->r);
}

static void fixture_check(const fixture *f)
{
    assert_unchanged(&f->sa);
    assert_unchanged(&f->sb);
    assert_unchanged(&f->sc);
    assert_unchanged(&f->sr);
}

static void fixture_free(fixture *f)
{
    ag_tensor_free(f->a);
    ag_tensor_free(f->b);
    ag_tensor_free(f->c);
    ag_tensor_free(f->r);
}

/* ---- NULL tape ---- */

static void test_null_tape(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    /* with no tape to hold the message, it goes to ag_last_error() */
    for (size_t k = 0; k < COUNT(binary_ops); k++) {
        assert_null(binary_ops[k].f(NULL, f.a, f.b));
        assert_contains(ag_last_error(), binary_ops[k].name);
        assert_contains(ag_last_error(), "tape is NULL");
    }
    for (size_t k = 0; k < COUNT(unary_ops); k++) {
        assert_null(unary_ops[k].f(NULL, f.a));
        assert_contains(ag_last_error(), unary_ops[k].name);
    }
    for (size_t k = 0; k < COUNT(scalar_ops); k++) {
        assert_null(scalar_ops[k].f(NULL, f.a, 2.0f));
        assert_contains(ag_last_error(), scalar_ops[k].name);
    }
    assert_null(ag_detach(NULL, f.a));
    assert_contains(ag_last_error(), "ag_detach: tape is NULL");
    assert_int_equal(ag_backward(NULL, f.a), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_backward: tape is NULL");
    assert_int_equal(ag_backward(NULL, NULL), AG_ERR_ARG);
    assert_int_equal(ag_backward_seed(NULL, f.a, f.b), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_backward_seed: tape is NULL");
    assert_int_equal(ag_tape_status(NULL), AG_ERR_ARG);
    assert_non_null(ag_tape_error(NULL));
    assert_contains(ag_tape_error(NULL), "NULL");
    assert_false(ag_tape_set_grad_enabled(NULL, false));
    ag_tape_reset(NULL);
    ag_tape_free(NULL);
    fixture_check(&f);
    fixture_free(&f);
}

/* ---- NULL tensors ---- */

static void test_null_inputs(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    for (size_t k = 0; k < COUNT(binary_ops); k++) {
        const char *which[3] = { "first input", "second input", "first input" };
        ag_tensor *lhs[3] = { NULL, f.a, NULL }, *rhs[3] = { f.b, NULL, NULL };
        for (int j = 0; j < 3; j++) {
            ag_tape_reset(t);
            assert_null(binary_ops[k].f(t, lhs[j], rhs[j]));
            assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
            assert_contains(ag_tape_error(t), binary_ops[k].name);
            assert_contains(ag_tape_error(t), which[j]);
            assert_contains(ag_tape_error(t), "NULL");
            fixture_check(&f);
        }
    }
    for (size_t k = 0; k < COUNT(unary_ops); k++) {
        ag_tape_reset(t);
        assert_null(unary_ops[k].f(t, NULL));
        assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
        assert_contains(ag_tape_error(t), unary_ops[k].name);
        assert_contains(ag_tape_error(t), "NULL");
    }
    for (size_t k = 0; k < COUNT(scalar_ops); k++) {
        ag_tape_reset(t);
        assert_null(scalar_ops[k].f(t, NULL, 1.0f));
        assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
        assert_contains(ag_tape_error(t), scalar_ops[k].name);
        assert_contains(ag_tape_error(t), "NULL");
    }
    /* the message starts with the op's name, e.g. "ag_mul: ..." */
    ag_tape_reset(t);
    assert_null(ag_mul(t, f.a, NULL));
    assert_int_equal(strncmp(ag_tape_error(t), "ag_mul: ", 8), 0);
    fixture_check(&f);
    ag_tape_free(t);
    fixture_free(&f);
}

/* Every row of the op table, through agi_record: NULL inputs are an
 * AG_ERR_ARG naming the public function (covers ops added later too). */
static void test_null_inputs_op_table(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        ag_tensor *in[AGI_INLINE_INPUTS] = { NULL };
        agi_call c = { .nin = agi_ops[op].n_inputs < 0 ? 2 : agi_ops[op].n_inputs, .in = in };
        ag_tape_reset(t);
        assert_null(agi_record(t, op, &c));
        assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
        char name[64];
        snprintf(name, sizeof name, "%s: ", agi_ops[op].api);
        assert_int_equal(strncmp(ag_tape_error(t), name, strlen(name)), 0);
        assert_contains(ag_tape_error(t), "NULL");
    }
    ag_tape_free(t);
}

static void test_backward_bad_args(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    assert_int_equal(ag_backward(t, NULL), AG_ERR_ARG);
    assert_string_equal(ag_tape_error(t), "ag_backward: root is NULL");
    ag_tape_reset(t);
    assert_int_equal(ag_backward_seed(t, NULL, f.c), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_backward_seed");
    ag_tape_reset(t);
    ag_tensor *y = ag_mul(t, f.a, f.b);
    assert_int_equal(ag_backward_seed(t, y, NULL), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_backward_seed");
    assert_contains(ag_tape_error(t), "seed");
    ag_tape_reset(t);
    y = ag_mul(t, f.a, f.b);
    assert_int_equal(ag_backward_seed(t, y, f.r), AG_ERR_SHAPE);
    assert_contains(ag_tape_error(t), "(4,5)");
    assert_contains(ag_tape_error(t), "(2,3)");
    ag_tape_reset(t);
    y = ag_mul(t, f.a, f.b);
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);       /* 6 elements, no seed */
    assert_contains(ag_tape_error(t), "(2,3)");
    fixture_check(&f);
    ag_tape_free(t);
    fixture_free(&f);
}

/* ---- shapes ---- */

static void test_shape_mismatch(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    assert_null(ag_add(t, f.a, f.r));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), "ag_add: shapes (2,3) and (4,5) cannot be broadcast");
    fixture_check(&f);
    for (size_t k = 0; k < COUNT(binary_ops); k++) {
        ag_tape_reset(t);
        assert_null(binary_ops[k].f(t, f.r, f.b));
        assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
        char want[128];
        snprintf(want, sizeof want, "%s: shapes (4,5) and (2,3) cannot be broadcast",
                 binary_ops[k].name);
        assert_string_equal(ag_tape_error(t), want);
        fixture_check(&f);
    }
    /* trailing dimensions must match or be 1: (2,3) and (2,) do not broadcast,
     * (3,1,5) and (4,1) do, (2,3,4) and (3,5) do not */
    ag_tape_reset(t);
    int64_t s2[1] = { 2 };
    ag_tensor *v2 = ag_ones(1, s2, false);
    assert_null(ag_mul(t, f.a, v2));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_contains(ag_tape_error(t), "(2,3)");
    ag_tape_reset(t);
    int64_t s315[3] = { 3, 1, 5 }, s41[2] = { 4, 1 }, s234[3] = { 2, 3, 4 }, s35[2] = { 3, 5 };
    ag_tensor *x = ag_ones(3, s315, false), *y = ag_ones(2, s41, false);
    ag_tensor *z = ag_ones(3, s234, false), *w = ag_ones(2, s35, false);
    ag_tensor *ok = ag_add(t, x, y);
    int64_t s345[3] = { 3, 4, 5 };
    assert_shape(ok, 3, s345);
    assert_null(ag_sub(t, z, w));
    assert_string_equal(ag_tape_error(t), "ag_sub: shapes (2,3,4) and (3,5) cannot be broadcast");
    ag_tensor_free(v2);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(z);
    ag_tensor_free(w);
    ag_tape_free(t);
    fixture_check(&f);
    fixture_free(&f);
}

/* ---- tensors from another tape ---- */

static void test_other_tape(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t1 = ag_tape_new(), *t2 = ag_tape_new();
    ag_tensor *y1 = ag_mul(t1, f.a, f.b);          /* owned by t1 */
    assert_non_null(y1);
    /* leaves can be used on any tape */
    ag_tensor *y2 = ag_add(t2, f.a, f.c);
    assert_non_null(y2);
    assert_null(ag_add(t2, y2, y1));
    assert_int_equal(ag_tape_status(t2), AG_ERR_TAPE);
    assert_contains(ag_tape_error(t2), "ag_add");
    assert_contains(ag_tape_error(t2), "second input");
    assert_contains(ag_tape_error(t2), "another tape");
    assert_int_equal(ag_tape_status(t1), AG_OK);    /* the other tape is not affected */
    fixture_check(&f);
    for (size_t k = 0; k < COUNT(unary_ops); k++) {
        ag_tape_reset(t2);
        assert_null(unary_ops[k].f(t2, y1));
        assert_int_equal(ag_tape_status(t2), AG_ERR_TAPE);
        assert_contains(ag_tape_error(t2), unary_ops[k].name);
    }
    for (size_t k = 0; k < COUNT(scalar_ops); k++) {
        ag_tape_reset(t2);
        assert_null(scalar_ops[k].f(t2, y1, 2.0f));
        assert_int_equal(ag_tape_status(t2), AG_ERR_TAPE);
        assert_contains(ag_tape_error(t2), scalar_ops[k].name);
    }
    /* backward of a root recorded on t1, on t2 */
    ag_tape_reset(t2);
    ag_tensor *ones = ag_ones(2, ag_shape(f.a), false);
    assert_int_equal(ag_backward_seed(t2, y1, ones), AG_ERR_TAPE);
    assert_contains(ag_tape_error(t2), "another tape");
    ag_tape_reset(t2);
    ag_tensor *k = ag_scalar(2.0f, true);
    ag_tensor *s1 = ag_mul(t1, k, k);
    assert_int_equal(ag_backward(t2, s1), AG_ERR_TAPE);
    assert_contains(ag_tape_error(t2), "ag_backward");
    assert_null(ag_grad(k));
    /* ag_detach of another tape's tensor */
    ag_tape_reset(t2);
    assert_null(ag_detach(t2, y1));
    assert_int_equal(ag_tape_status(t2), AG_ERR_TAPE);
    /* t1 is still fine and its recording still works */
    assert_int_equal(ag_tape_status(t1), AG_OK);
    assert_int_equal(ag_backward(t1, s1), AG_OK);
    assert_float_eq(ag_item(ag_grad(k)), 4.0f);
    fixture_check(&f);
    ag_tensor_free(k);
    ag_tensor_free(ones);
    ag_tape_free(t1);
    ag_tape_free(t2);
    fixture_free(&f);
}

/* ---- the sticky first error ---- */

static void test_sticky_first_error(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    ag_tensor *good = ag_mul(t, f.a, f.b);              /* recorded before the error */
    assert_non_null(good);
    float before[6];
    memcpy(before, ag_data(good), sizeof before);
    assert_null(ag_add(t, f.a, f.r));                  /* first error: shapes */
    const char *first = "ag_add: shapes (2,3) and (4,5) cannot be broadcast";
    assert_string_equal(ag_tape_error(t), first);
    /* a later, different error does not replace it */
    assert_null(ag_mul(t, f.a, NULL));
    assert_null(ag_exp(t, NULL));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), first);
    /* and valid ops now return NULL and do nothing */
    assert_null(ag_mul(t, f.a, f.b));
    assert_null(ag_add_scalar(t, f.a, 1.0f));
    assert_null(ag_detach(t, f.a));
    assert_null(ag_neg(t, good));
    assert_int_equal(ag_backward(t, NULL), AG_ERR_SHAPE);
    ag_tensor *ones = ag_ones(2, ag_shape(f.a), false);
    assert_int_equal(ag_backward_seed(t, good, ones), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), first);
    /* a tape-less error elsewhere does not touch the tape's message */
    assert_null(ag_zeros(-1, NULL, false));
    assert_string_equal(ag_tape_error(t), first);
    assert_memory_equal(ag_data(good), before, sizeof before);
    fixture_check(&f);

    /* reset clears the error; the tape works again */
    ag_tape_reset(t);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_string_equal(ag_tape_error(t), "");
    ag_tensor *y = ag_mul(t, f.a, f.b);
    assert_non_null(y);
    assert_int_equal(ag_backward_seed(t, y, ones), AG_OK);
    /* the grads accumulated once more: a.grad = 2 b, b.grad = 2 a */
    for (int i = 0; i < 6; i++) {
        assert_float_eq(ag_data(ag_grad(f.a))[i], 2.0f * ag_data(f.b)[i]);
        assert_float_eq(ag_data(ag_grad(f.b))[i], 2.0f * ag_data(f.a)[i]);
    }
    ag_tensor_free(ones);
    ag_tape_free(t);
    fixture_free(&f);
}

/* Chained expressions: an inner failure makes the whole expression NULL, and
 * the message is the inner (first) one. */
static void test_chained_expression(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    ag_tensor *r = ag_add(t, ag_mul(t, f.a, NULL), f.c);
    assert_null(r);
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_mul");
    assert_null(strstr(ag_tape_error(t), "ag_add"));
    assert_int_equal(ag_backward(t, r), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_mul");
    fixture_check(&f);

    /* a deeper chain, the error in the middle: shape */
    ag_tape_reset(t);
    r = ag_exp(t, ag_mul_scalar(t, ag_sub(t, ag_add(t, f.a, f.r), f.b), 2.0f));
    assert_null(r);
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), "ag_add: shapes (2,3) and (4,5) cannot be broadcast");
    assert_int_equal(ag_backward(t, r), AG_ERR_SHAPE);
    fixture_check(&f);

    /* the tutorial's linear model with the bias forgotten (NULL) */
    ag_tape_reset(t);
    ag_tensor *w = ag_scalar(2.0f, true), *x = ag_scalar(1.0f, true);
    ag_tensor *y = ag_add(t, ag_mul(t, w, x), NULL);
    assert_null(y);
    assert_int_equal(ag_backward(t, y), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_add: second input is NULL");
    assert_null(ag_grad(w));
    assert_null(ag_grad(x));
    ag_tensor_free(w);
    ag_tensor_free(x);
    ag_tape_free(t);
    fixture_free(&f);
}

/* A backward that fails (here: root without grad) changes no gradient. */
static void test_failed_backward_changes_nothing(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    ag_tape *t = ag_tape_new();
    ag_tensor *ones = ag_ones(2, ag_shape(f.a), false);
    ag_tensor *y = ag_mul(t, f.c, f.c);                  /* c does not require grad */
    assert_int_equal(ag_backward_seed(t, y, ones), AG_ERR_GRAD);
    fixture_check(&f);
    ag_tape_reset(t);
    y = ag_mul(t, f.a, f.c);
    assert_int_equal(ag_backward(t, y), AG_ERR_GRAD);    /* not one element */
    fixture_check(&f);
    ag_tensor_free(ones);
    ag_tape_free(t);
    fixture_free(&f);
}

/* The one function every error passes through keeps the first error, and
 * truncates a long message instead of overflowing. */
static void test_agi_fail_first_wins(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    assert_null(agi_fail(t, AG_ERR_SHAPE, "first %d", 1));
    assert_null(agi_fail(t, AG_ERR_NOMEM, "second %d", 2));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), "first 1");
    assert_null(agi_fail(NULL, AG_ERR_ARG, "no tape"));
    ag_tape_reset(t);
    char longmsg[1000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    agi_fail(t, AG_ERR_ARG, "ag_add: %s", longmsg);
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    assert_int_equal(strncmp(ag_tape_error(t), "ag_add: xxx", 11), 0);
    assert_true(strlen(ag_tape_error(t)) < sizeof longmsg - 1);
    ag_tape_free(t);
}

static void test_status_string(void **state)
{
    (void)state;
    assert_string_equal(ag_status_string(AG_OK), "AG_OK");
    assert_string_equal(ag_status_string(AG_ERR_ARG), "AG_ERR_ARG");
    assert_string_equal(ag_status_string(AG_ERR_SHAPE), "AG_ERR_SHAPE");
    assert_string_equal(ag_status_string(AG_ERR_NOMEM), "AG_ERR_NOMEM");
    assert_string_equal(ag_status_string(AG_ERR_TAPE), "AG_ERR_TAPE");
    assert_string_equal(ag_status_string(AG_ERR_GRAD), "AG_ERR_GRAD");
    /* never NULL, even for a value outside the enum */
    const char *u = ag_status_string((ag_status)99);
    assert_non_null(u);
    assert_true(strlen(u) > 0);
    const char *m = ag_status_string((ag_status)-1);
    assert_non_null(m);
    /* distinct names */
    for (int i = AG_OK; i <= AG_ERR_GRAD; i++)
        for (int j = i + 1; j <= AG_ERR_GRAD; j++)
            assert_string_not_equal(ag_status_string((ag_status)i), ag_status_string((ag_status)j));
}

/* ---- hostile sizes and arguments outside the ops ---- */

static ag_tensor *ag_softmax_last(ag_tape *t, ag_tensor *x) { return ag_softmax(t, x, -1); }
static ag_tensor *ag_sum_all(ag_tape *t, ag_tensor *x) { return ag_sum(t, x, 0, NULL, false); }

/* Sizes whose product is 0 but whose non-zero sizes multiply past int64: a
 * leaf may have them (PyTorch allows and prints it), but ops refuse them as
 * inputs and results, since kernels multiply sizes. */
static void test_empty_shape_overflow(void **state)
{
    (void)state;
    const int64_t huge[3] = { (int64_t)1 << 40, 0, (int64_t)1 << 40 };
    ag_tensor *h = ag_zeros(3, huge, true);
    assert_non_null(h);
    assert_int_equal(ag_numel(h), 0);
    ag_tape *t = ag_tape_new();
    ag_tensor *(*const ops[])(ag_tape *, ag_tensor *) = { ag_exp, ag_neg, ag_detach,
                                                          ag_softmax_last, ag_sum_all };
    for (size_t k = 0; k < COUNT(ops); k++) {
        assert_null(ops[k](t, h));
        assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
        assert_contains(ag_tape_error(t), "input of shape (1099511627776,0,1099511627776) "
                        "is too large");
        ag_tape_reset(t);
    }
    const int64_t tg[1] = { 0 };
    assert_null(ag_cross_entropy(t, h, tg, NULL));
    assert_contains(ag_tape_error(t), "ag_cross_entropy: input of shape (1099511627776,0,");
    ag_tape_reset(t);
    assert_null(ag_cross_entropy_prob(t, h, h, NULL));
    assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
    ag_tape_reset(t);
    /* nor can an op make such a result */
    const int64_t n0 = 0;
    ag_tensor *e = ag_zeros(1, &n0, true);
    assert_null(ag_reshape(t, e, 3, huge));
    assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
    assert_contains(ag_tape_error(t), "ag_reshape: shape (1099511627776,0,1099511627776)");
    ag_tape_reset(t);
    assert_null(ag_expand(t, e, 3, huge));
    assert_contains(ag_tape_error(t), "ag_expand");
    ag_tape_reset(t);
    char buf[128];
    assert_true(ag_snprint(buf, sizeof buf, h) > 0);
    assert_contains(buf, "size=(1099511627776, 0, 1099511627776)");
    ag_tensor_free(h);
    /* wherever the 0 is (a leading huge size was refused: found by
     * tests/fuzz/fuzz_api), and through every leaf constructor */
    const int64_t p62 = (int64_t)1 << 62;
    const int64_t zeros_at[3][3] = { { 0, p62, p62 }, { p62, 0, p62 }, { p62, p62, 0 } };
    for (int k = 0; k < 3; k++) {
        ag_tensor *z[4] = { ag_zeros(3, zeros_at[k], false), ag_ones(3, zeros_at[k], true),
                            ag_full(3, zeros_at[k], 2.0f, false),
                            ag_tensor_new(3, zeros_at[k], NULL, false) };
        for (int j = 0; j < 4; j++) {
            assert_non_null(z[j]);
            assert_int_equal(ag_numel(z[j]), 0);
        }
        assert_null(ag_sum(t, z[1], 0, NULL, false));
        assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
        assert_contains(ag_tape_error(t), "ag_sum: input of shape");
        ag_tape_reset(t);
        assert_null(ag_reshape(t, e, 3, zeros_at[k]));
        assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
        ag_tape_reset(t);
        for (int j = 0; j < 4; j++)
            ag_tensor_free(z[j]);
    }
    /* an empty tensor with large sizes that do fit still works everywhere */
    const int64_t big[3] = { 0, (int64_t)1 << 20, (int64_t)1 << 20 };
    ag_tensor *b = ag_zeros(3, big, true);
    assert_non_null(b);
    ag_tensor *l = ag_cross_entropy(t, b, tg, NULL);   /* no targets are read */
    assert_non_null(l);
    assert_true(isnan(ag_item(l)));   /* mean over no targets */
    const int dims[2] = { 1, 2 };
    ag_tensor *m = ag_mean(t, ag_var(t, b, 2, dims, 1, false), 0, NULL, false);
    assert_int_equal(ag_backward(t, ag_add(t, ag_sum(t, l, 0, NULL, false), m)), AG_OK);
    assert_int_equal(ag_numel(ag_grad(b)), 0);
    ag_tensor_free(b);
    ag_tensor_free(e);
    ag_tape_free(t);
}

/* Cross entropy of an empty batch (0, C), and var/std with an empty result:
 * nothing for the op to keep; found by tests/fuzz/fuzz_api (clang's UBSan:
 * the kernels offset a NULL save or target pointer by 0, which gcc's UBSan
 * does not report). As PyTorch: mean NaN, sum 0, none an empty (0) loss;
 * backward gives an empty grad. */
static void test_empty_batch_cross_entropy(void **state)
{
    (void)state;
    const int64_t sh[2] = { 0, 3 }, c = 3;
    const float wv[3] = { 1.0f, 2.0f, 0.5f };
    ag_tensor *x = ag_zeros(2, sh, true), *p = ag_zeros(2, sh, false);
    ag_tensor *w = ag_tensor_new(1, &c, wv, false);
    const int64_t tg[1] = { 0 };   /* never read: there are no positions */
    ag_tape *t = ag_tape_new();
    for (int weighted = 0; weighted < 2; weighted++) {
        ag_ce_opts o = ag_ce_defaults();
        o.weight = weighted ? w : NULL;
        o.label_smoothing = 0.25f;
        ag_tensor *m = ag_cross_entropy(t, x, tg, &o);
        ag_tensor *mp = ag_cross_entropy_prob(t, x, p, &o);
        o.reduction = AG_REDUCTION_SUM;
        ag_tensor *s = ag_cross_entropy(t, x, tg, &o);
        ag_tensor *sp = ag_cross_entropy_prob(t, x, p, &o);
        o.reduction = AG_REDUCTION_NONE;
        ag_tensor *n = ag_cross_entropy(t, x, tg, &o);
        assert_int_equal(ag_tape_status(t), AG_OK);
        assert_true(isnan(ag_item(m)) && isnan(ag_item(mp)));
        assert_float_eq(ag_item(s), 0.0f);
        assert_float_eq(ag_item(sp), 0.0f);
        assert_int_equal(ag_ndim(n), 1);
        assert_int_equal(ag_numel(n), 0);
        assert_int_equal(ag_backward(t, ag_add(t, s, sp)), AG_OK);
        assert_int_equal(ag_backward_seed(t, n, n), AG_OK);
        assert_int_equal(ag_numel(ag_grad(x)), 0);
        ag_tape_reset(t);
    }
    const int one = 1;
    ag_tensor *v = ag_var(t, x, 1, &one, 1, false), *sd = ag_std(t, x, 1, &one, 0, true);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_int_equal(ag_numel(v), 0);
    assert_int_equal(ag_numel(sd), 0);
    assert_int_equal(ag_backward_seed(t, ag_add(t, v, ag_squeeze(t, sd, 1)), v), AG_OK);
    ag_tensor_free(x);
    ag_tensor_free(p);
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* var/std with corrections at the ends of int64: N - correction in double,
 * as PyTorch (no overflow): inf for N < correction, ~0 for a huge negative. */
static void test_var_extreme_correction(void **state)
{
    (void)state;
    const float d[3] = { 1.0f, 2.0f, 4.0f };
    const int64_t n = 3;
    ag_tensor *x = ag_tensor_new(1, &n, d, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *v = ag_var(t, x, 0, NULL, INT64_MAX, false);
    assert_true(isinf(ag_item(v)) && ag_item(v) > 0);
    assert_int_equal(ag_backward(t, v), AG_OK);
    assert_true(fabsf(ag_data(ag_grad(x))[0]) < 1e-15f);   /* 2 / (3 - c) * ... */
    ag_tape_reset(t);
    ag_zero_grad(x);
    ag_tensor *s = ag_std(t, x, 0, NULL, INT64_MIN, false);
    assert_true(ag_item(s) >= 0.0f && ag_item(s) < 1e-8f);
    assert_int_equal(ag_backward(t, s), AG_OK);
    for (int i = 0; i < 3; i++)
        assert_true(isfinite(ag_data(ag_grad(x))[i]));
    ag_tensor_free(x);
    ag_tape_free(t);
}

/* ag_snprint with a NULL buffer only measures, whatever the size given. */
static void test_snprint_null_buf(void **state)
{
    (void)state;
    ag_tensor *x = ag_scalar(2.0f, true);
    const int n = ag_snprint(NULL, 0, x);
    assert_int_equal(n, (int)strlen("tensor(2., requires_grad=True)"));
    assert_int_equal(ag_snprint(NULL, 100, x), n);
    char one[1] = { 'x' };
    assert_int_equal(ag_snprint(one, 1, x), n);
    assert_int_equal(one[0], '\0');
    assert_int_equal(ag_snprint(NULL, 100, NULL), -1);
    ag_tensor_free(x);
}

/* The generator and fills: NULL generators, and PyTorch's range checks. */
static void test_rng_bad_args(void **state)
{
    (void)state;
    assert_int_equal(ag_rng_next(NULL), 0);
    assert_true(isnan(ag_rng_uniform(NULL, 0.0f, 1.0f)));
    assert_true(isnan(ag_rng_normal(NULL)));
    ag_rng_seed(NULL, 1);
    ag_rng r;
    ag_rng_seed(&r, 1);
    const int64_t n = 4;
    ag_tensor *x = ag_full(1, &n, 7.0f, false);
    const float lohi[][2] = { { 2.0f, 1.0f }, { NAN, 1.0f }, { 0.0f, INFINITY },
                              { -3e38f, 3e38f } };
    for (size_t k = 0; k < COUNT(lohi); k++) {
        assert_int_equal(ag_fill_uniform(x, &r, lohi[k][0], lohi[k][1]), AG_ERR_ARG);
        assert_contains(ag_last_error(), "ag_fill_uniform: expects a [lo, hi) range");
    }
    assert_int_equal(ag_fill_normal(x, &r, 0.0f, -1.0f), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_fill_normal: expects std >= 0");
    assert_int_equal(ag_fill_normal(x, &r, 0.0f, NAN), AG_ERR_ARG);
    for (int i = 0; i < 4; i++)
        assert_float_eq(ag_data(x)[i], 7.0f);   /* a failed fill changes nothing */
    assert_int_equal(ag_fill_uniform(x, &r, 1.0f, 1.0f), AG_OK);   /* as PyTorch: all lo */
    assert_float_eq(ag_data(x)[3], 1.0f);
    assert_int_equal(ag_fill_normal(x, &r, 5.0f, 0.0f), AG_OK);
    assert_float_eq(ag_data(x)[0], 5.0f);
    ag_tensor_free(x);
}

/* ---- issue #12's elementwise ops and scans: NULL, a foreign tape, a dim out
 * of range, too few dims; the error names the function and nothing changes */
static void test_ew_scan_errors(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    static const struct { const char *name; op1_fn f; } ops[] = {
        { "ag_reciprocal", ag_reciprocal }, { "ag_rsqrt", ag_rsqrt }, { "ag_square", ag_square },
        { "ag_log1p", ag_log1p }, { "ag_expm1", ag_expm1 }, { "ag_erf", ag_erf },
        { "ag_sign", ag_sign }, { "ag_floor", ag_floor }, { "ag_ceil", ag_ceil },
        { "ag_round", ag_round }, { "ag_silu", ag_silu }, { "ag_mish", ag_mish },
    };
    ag_tape *t = ag_tape_new(), *other = ag_tape_new();
    ag_tensor *foreign = ag_exp(other, f.a);
    assert_non_null(foreign);
    char want[64];
    for (size_t i = 0; i < COUNT(ops); i++) {
        snprintf(want, sizeof want, "%s: input is NULL", ops[i].name);
        ag_tape_reset(t);
        assert_null(ops[i].f(t, NULL));
        assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
        assert_string_equal(ag_tape_error(t), want);
        snprintf(want, sizeof want, "%s: input was recorded on another tape", ops[i].name);
        ag_tape_reset(t);
        assert_null(ops[i].f(t, foreign));
        assert_int_equal(ag_tape_status(t), AG_ERR_TAPE);
        assert_string_equal(ag_tape_error(t), want);
    }
    ag_tape_reset(t);
    assert_null(ag_rdiv_scalar(t, NULL, 2.0f));
    assert_string_equal(ag_tape_error(t), "ag_rdiv_scalar: input is NULL");
    ag_tape_reset(t);
    assert_null(ag_softplus(t, foreign, 1.0f, 20.0f));
    assert_string_equal(ag_tape_error(t), "ag_softplus: input was recorded on another tape");
    ag_tape_reset(t);
    assert_null(ag_elu(t, NULL, 1.0f));
    assert_string_equal(ag_tape_error(t), "ag_elu: input is NULL");
    ag_tape_reset(t);
    assert_null(ag_hardtanh(t, NULL, -1.0f, 1.0f));
    assert_string_equal(ag_tape_error(t), "ag_hardtanh: input is NULL");
    /* dims out of range, with the shape */
    ag_tape_reset(t);
    assert_null(ag_cumsum(t, f.a, 2));
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    assert_string_equal(ag_tape_error(t), "ag_cumsum: dimension 2 is out of range for input "
                        "of shape (2,3) (expected to be in range of [-2, 1])");
    ag_tape_reset(t);
    assert_null(ag_cumprod(t, f.a, -3));
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_cumprod: dimension -3 is out of range");
    ag_tape_reset(t);
    assert_null(ag_cumprod(t, foreign, 0));
    assert_int_equal(ag_tape_status(t), AG_ERR_TAPE);
    ag_tensor *v = ag_zeros(1, (const int64_t[]){ 3 }, true);
    ag_tape_reset(t);
    assert_null(ag_triu(t, v, 0));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_string_equal(ag_tape_error(t), "ag_triu: input of shape (3) must have at least 2 dimensions");
    ag_tape_reset(t);
    assert_null(ag_tril(t, NULL, 0));
    assert_string_equal(ag_tape_error(t), "ag_tril: input is NULL");
    /* an empty input with huge sizes: refused, or O(1) */
    ag_tensor *e = ag_zeros(2, (const int64_t[]){ (int64_t)1 << 40, 0 }, true);
    assert_non_null(e);
    ag_tape_reset(t);
    assert_int_equal(ag_numel(ag_cumsum(t, e, 0)), 0);
    assert_int_equal(ag_numel(ag_cumprod(t, e, 1)), 0);
    assert_int_equal(ag_numel(ag_triu(t, e, 1)), 0);
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tensor_free(e);
    ag_tensor_free(v);
    fixture_check(&f);
    ag_tape_free(t);
    ag_tape_free(other);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_tape),
        cmocka_unit_test(test_null_inputs),
        cmocka_unit_test(test_null_inputs_op_table),
        cmocka_unit_test(test_backward_bad_args),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_other_tape),
        cmocka_unit_test(test_sticky_first_error),
        cmocka_unit_test(test_chained_expression),
        cmocka_unit_test(test_failed_backward_changes_nothing),
        cmocka_unit_test(test_agi_fail_first_wins),
        cmocka_unit_test(test_status_string),
        cmocka_unit_test(test_empty_shape_overflow),
        cmocka_unit_test(test_empty_batch_cross_entropy),
        cmocka_unit_test(test_var_extreme_correction),
        cmocka_unit_test(test_snprint_null_buf),
        cmocka_unit_test(test_rng_bad_args),
        cmocka_unit_test(test_ew_scan_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
