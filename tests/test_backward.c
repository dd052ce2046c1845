/* test_backward.c - the backward walk's fast paths (src/core/backward.c) against
 * the plain op-by-op walk, bit for bit:
 *   - runs of elementwise ops done in tiles with scratch gradients: a graph
 *     on n elements (tiled) against the same graph on chunks of n too small
 *     to tile; with an input used twice, a leaf without grad, pow with
 *     exponent 0 (writes no gradient), retained intermediates, an
 *     intermediate also used outside the run, a chain longer than one run,
 *     uneven tiles; at 1 and 2 threads; and every op with a tile kernel
 *     (the op table's ew rows), in a run with a mul;
 *   - a seed that is the backward's gradient buffer: ag_backward_seed with a
 *     leaf's own .grad as the seed, which the same backward accumulates into,
 *     against a copy of it, for elementwise roots (tiled and not) and for a
 *     matmul root (which must copy). */
#include "testutil.h"
#include "internal.h"

#define N_BIG (3 * 4096 + 123)  /* above core/backward.c's RUN_MIN, tiles of 1024 and a tail */
#define N_PAR (70000 + 77)     /* above AGI_PAR_MIN: tiles spread over threads */
#define CHUNK 1000              /* below RUN_MIN: op by op */

/* The graph's results: y (the elementwise root), m and v (retained). */
typedef struct graph {
    ag_tensor *root, *m, *v;
} graph;

/* An elementwise graph of x, w (leaves with grad) and c (without); with
 * sum_root, the root is sum(u) + sum(b): b = sin(x) is then also used by an
 * op outside the run (its first gradient comes from there). */
static graph build(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *c, bool sum_root)
{
    graph g;
    ag_tensor *a = ag_exp(t, x), *b = ag_sin(t, x);
    g.m = ag_mul(t, a, b);
    ag_retain_grad(g.m);
    ag_tensor *q = ag_sqrt(t, ag_abs(t, x));
    ag_tensor *y = ag_add(t, g.m, q);
    ag_tensor *z = ag_mul(t, y, w);
    ag_tensor *xx = ag_mul(t, x, x);                     /* one input twice */
    ag_tensor *p0 = ag_pow(t, x, 0.0f);                  /* writes no gradient */
    ag_tensor *u = ag_div(t, z, ag_add_scalar(t, ag_add(t, xx, p0), 1.0f));
    u = ag_mul(t, u, c);                                 /* c needs no grad */
    g.v = u;
    ag_retain_grad(g.v);
    for (int i = 0; i < 40; i++)                         /* longer than a run */
        u = (i % 2) ? ag_tanh(t, u) : ag_add(t, ag_mul_scalar(t, u, 0.9f), w);
    if (sum_root)
        u = ag_add(t, ag_sum(t, u, 0, NULL, false), ag_sum(t, b, 0, NULL, false));
    g.root = u;
    return g;
}

typedef struct grads {
    float *dx, *dw, *dm, *dv;
} grads;

static float *grab(const ag_tensor *gt, int64_t n)
{
    assert_non_null(gt);
    assert_int_equal(ag_numel(gt), n);
    float *p = malloc((size_t)n * sizeof(float));
    assert_non_null(p);
    memcpy(p, ag_data((ag_tensor *)gt), (size_t)n * sizeof(float));
    return p;
}

/* The gradients of the graph over data[lo, lo + n) of x, w, c and seed. */
static void run_graph(const float *xd, const float *wd, const float *cd, const float *sd,
                      int64_t n, bool sum_root, grads *out, int64_t at)
{
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, &n, xd, true), *w = ag_tensor_new(1, &n, wd, true);
    ag_tensor *c = ag_tensor_new(1, &n, cd, false), *s = ag_tensor_new(1, &n, sd, false);
    graph g = build(t, x, w, c, sum_root);
    assert_int_equal(sum_root ? ag_backward(t, g.root) : ag_backward_seed(t, g.root, s), AG_OK);
    float *p[4] = { grab(ag_grad(x), n), grab(ag_grad(w), n), grab(ag_grad(g.m), n),
                    grab(ag_grad(g.v), n) };
    float *dst[4] = { out->dx, out->dw, out->dm, out->dv };
    for (int k = 0; k < 4; k++) {
        memcpy(dst[k] + at, p[k], (size_t)n * sizeof(float));
        free(p[k]);
    }
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(c);
    ag_tensor_free(s);
    ag_tape_free(t);
}

static void grads_alloc(grads *g, int64_t n)
{
    float **p[4] = { &g->dx, &g->dw, &g->dm, &g->dv };
    for (int k = 0; k < 4; k++) {
        *p[k] = malloc((size_t)n * sizeof(float));
        assert_non_null(*p[k]);
    }
}

static void grads_free(grads *g)
{
    free(g->dx);
    free(g->dw);
    free(g->dm);
    free(g->dv);
}

static void check_tiled(int64_t n, bool sum_root, int threads)
{
    float *xd = malloc(n * sizeof(float)), *wd = malloc(n * sizeof(float));
    float *cd = malloc(n * sizeof(float)), *sd = malloc(n * sizeof(float));
    assert_true(xd && wd && cd && sd);
    tu_fill(xd, n, 1, -2.0f, 2.0f);
    xd[5] = 0.0f;              /* abs's kink, sqrt(0) */
    xd[4096] = -0.0f;
    tu_fill(wd, n, 2, -1.0f, 1.0f);
    tu_fill(cd, n, 3, 0.5f, 1.5f);
    tu_fill(sd, n, 4, -1.0f, 1.0f);
    grads tiled, chunked;
    grads_alloc(&tiled, n);
    grads_alloc(&chunked, n);

    assert_int_equal(ag_set_num_threads(threads), AG_OK);
    run_graph(xd, wd, cd, sd, n, sum_root, &tiled, 0);
    for (int64_t lo = 0; lo < n; lo += CHUNK) {
        const int64_t len = n - lo < CHUNK ? n - lo : CHUNK;
        run_graph(xd + lo, wd + lo, cd + lo, sd + lo, len, sum_root, &chunked, lo);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);

    tu_assert_same_bits(tiled.dx, chunked.dx, n, "x.grad");
    tu_assert_same_bits(tiled.dw, chunked.dw, n, "w.grad");
    tu_assert_same_bits(tiled.dm, chunked.dm, n, "m.grad (retained)");
    tu_assert_same_bits(tiled.dv, chunked.dv, n, "v.grad (retained)");
    /* and the gradients are not all zero (the graph does reach x and w) */
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++)
        nonzero += tiled.dx[i] != 0.0f && tiled.dw[i] != 0.0f;
    assert_true(nonzero > n / 2);
    grads_free(&tiled);
    grads_free(&chunked);
    free(xd);
    free(wd);
    free(cd);
    free(sd);
}

static void tiled_seeded_root(void **state)
{
    (void)state;
    check_tiled(N_BIG, false, 1);
}

static void tiled_sum_root(void **state)
{
    (void)state;
    check_tiled(N_BIG, true, 1);
}

static void tiled_two_threads(void **state)
{
    (void)state;
    check_tiled(N_PAR, false, 2);   /* split over the pool in chunks */
    check_tiled(N_PAR, true, 2);
}

/* mul(op(x[, x2]), w) for op = the row (params 0.7 and 1.6: clamp's bounds,
 * pow's exponent, leaky_relu's slope, gelu's tanh flag, the scalar), the
 * gradients of x, x2 and w over data[0, n). */
static void run_row(int op, const float *xd, const float *x2d, const float *wd, const float *sd,
                    int64_t n, float *dx, float *dx2, float *dw)
{
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, &n, xd, true), *x2 = ag_tensor_new(1, &n, x2d, true);
    ag_tensor *w = ag_tensor_new(1, &n, wd, true), *s = ag_tensor_new(1, &n, sd, false);
    ag_tensor *in[2] = { x, x2 };
    agi_call c = { .nin = agi_ops[op].n_inputs, .in = in, .param = { 0.7f, 1.6f } };
    ag_tensor *y = agi_record(t, op, &c);
    assert_non_null(y);
    assert_int_equal(ag_backward_seed(t, ag_mul(t, y, w), s), AG_OK);
    memcpy(dx, ag_data(ag_grad(x)), (size_t)n * sizeof(float));
    memcpy(dw, ag_data(ag_grad(w)), (size_t)n * sizeof(float));
    if (c.nin == 2)
        memcpy(dx2, ag_data(ag_grad(x2)), (size_t)n * sizeof(float));
    ag_tensor_free(x);
    ag_tensor_free(x2);
    ag_tensor_free(w);
    ag_tensor_free(s);
    ag_tape_free(t);
}

static void every_tile_kernel(void **state)
{
    (void)state;
    const int64_t n = N_BIG;
    float *buf = malloc(10 * (size_t)n * sizeof(float));
    assert_non_null(buf);
    float *xd = buf, *x2d = buf + n, *wd = buf + 2 * n, *sd = buf + 3 * n;
    float *r[2][3] = { { buf + 4 * n, buf + 5 * n, buf + 6 * n },
                       { buf + 7 * n, buf + 8 * n, buf + 9 * n } };
    tu_fill(xd, n, 11, 0.5f, 2.0f);     /* in every row's domain (log, sqrt, pow, div) */
    tu_fill(x2d, n, 12, 0.5f, 2.0f);
    tu_fill(wd, n, 13, -1.0f, 1.0f);
    tu_fill(sd, n, 14, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i += 97)   /* ties for maximum/minimum, clamp's bounds */
        x2d[i] = xd[i], xd[i + 1 < n ? i + 1 : i] = 0.7f;
    int rows = 0;
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        if (!agi_ops[op].tile)
            continue;
        rows++;
        memset(r[0][1], 0, (size_t)n * sizeof(float));
        memset(r[1][1], 0, (size_t)n * sizeof(float));
        run_row(op, xd, x2d, wd, sd, n, r[0][0], r[0][1], r[0][2]);
        for (int64_t lo = 0; lo < n; lo += CHUNK) {
            const int64_t len = n - lo < CHUNK ? n - lo : CHUNK;
            run_row(op, xd + lo, x2d + lo, wd + lo, sd + lo, len, r[1][0] + lo, r[1][1] + lo,
                    r[1][2] + lo);
        }
        char what[64];
        snprintf(what, sizeof what, "%s: x.grad", agi_ops[op].name);
        tu_assert_same_bits(r[0][0], r[1][0], n, what);
        snprintf(what, sizeof what, "%s: x2.grad", agi_ops[op].name);
        tu_assert_same_bits(r[0][1], r[1][1], n, what);
        snprintf(what, sizeof what, "%s: w.grad", agi_ops[op].name);
        tu_assert_same_bits(r[0][2], r[1][2], n, what);
    }
    assert_true(rows >= 27);   /* the arith, math and activation families */
    free(buf);
}

/* y = exp(x) * x + x (elementwise) with seed = x.grad, which backward adds
 * to: the same as with a copy of x.grad as the seed. */
static void seed_is_leaf_grad_elementwise(void **state)
{
    (void)state;
    const int64_t sizes[] = { 7, N_BIG };
    for (int s = 0; s < 2; s++) {
        const int64_t n = sizes[s];
        float *xd = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
        assert_true(xd && g0);
        tu_fill(xd, n, 5, -2.0f, 2.0f);
        tu_fill(g0, n, 6, -1.0f, 1.0f);
        float *res[2];
        for (int alias = 0; alias < 2; alias++) {
            ag_tape *t = ag_tape_new();
            ag_tensor *x = ag_tensor_new(1, &n, xd, true);
            ag_tensor *y = ag_add(t, ag_mul(t, ag_exp(t, x), x), x);
            assert_int_equal(ag_backward_seed(t, y, x), AG_OK);   /* makes x.grad */
            memcpy(ag_data(ag_grad(x)), g0, (size_t)n * sizeof(float));
            ag_tensor *copy = ag_tensor_new(1, &n, g0, false);
            assert_int_equal(ag_backward_seed(t, y, alias ? ag_grad(x) : copy), AG_OK);
            res[alias] = grab(ag_grad(x), n);
            ag_tensor_free(copy);
            ag_tensor_free(x);
            ag_tape_free(t);
        }
        tu_assert_same_bits(res[1], res[0], n, "x.grad with its own grad as the seed");
        for (int64_t i = 0; i < n; i++) {   /* g0 + g0 * (exp(x) * (x + 1) + 1), roughly */
            const double d = exp(xd[i]) * (xd[i] + 1.0) + 1.0;
            assert_close(res[0][i], g0[i] + g0[i] * d, 1e-4);
        }
        free(res[0]);
        free(res[1]);
        free(xd);
        free(g0);
    }
}

/* y = a @ a with seed = a.grad (a is 64 x 64): matmul's backward writes a.grad
 * while reading its dout, so the seed must be copied. */
static void seed_is_leaf_grad_matmul(void **state)
{
    (void)state;
    const int64_t sh[2] = { 64, 64 }, n = 64 * 64;
    float *ad = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
    assert_true(ad && g0);
    tu_fill(ad, n, 7, -1.0f, 1.0f);
    tu_fill(g0, n, 8, -1.0f, 1.0f);
    float *res[2];
    for (int alias = 0; alias < 2; alias++) {
        ag_tape *t = ag_tape_new();
        ag_tensor *a = ag_tensor_new(2, sh, ad, true);
        ag_tensor *y = ag_matmul(t, a, a);
        ag_tensor *copy = ag_tensor_new(2, sh, g0, false);
        assert_int_equal(ag_backward_seed(t, y, copy), AG_OK);   /* makes a.grad */
        memcpy(ag_data(ag_grad(a)), g0, (size_t)n * sizeof(float));
        assert_int_equal(ag_backward_seed(t, y, alias ? ag_grad(a) : copy), AG_OK);
        res[alias] = grab(ag_grad(a), n);
        ag_tensor_free(copy);
        ag_tensor_free(a);
        ag_tape_free(t);
    }
    tu_assert_same_bits(res[1], res[0], n, "a.grad with its own grad as the seed");
    free(res[0]);
    free(res[1]);
    free(ad);
    free(g0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiled_seeded_root),
        cmocka_unit_test(tiled_sum_root),
        cmocka_unit_test(tiled_two_threads),
        cmocka_unit_test(every_tile_kernel),
        cmocka_unit_test(seed_is_leaf_grad_elementwise),
        cmocka_unit_test(seed_is_leaf_grad_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
