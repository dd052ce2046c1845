/* test_backward_more.c - adversarial tests of the backward walk's fast paths
 * (src/core/backward.c: tiled runs of elementwise ops, scratch gradients, zeroing
 * at first write, the seed used in place as an elementwise root's gradient)
 * and of the elementwise loops' vector widths (src/kernels/simd.c), bit for bit
 * against the same graph evaluated on chunks too small to tile (op by op).
 * Cases: views and detached leaves inside runs, broadcasting neighbours,
 * tensors used twice and across runs, more scratch candidates than slots,
 * retained intermediates and roots, requires_grad changed after recording,
 * backward twice on one tape, failed backwards (allocation failure injected
 * at every request) followed by a good one, zero-size tensors, 1-3 threads,
 * every vector width; and a retained elementwise root whose seed is its input
 * leaf's grad (a bug the review found: the seed must then be copied). */
#include "testutil.h"
#include "internal.h"

#define N_BIG (5 * 4096 + 321) /* above RUN_MIN (4096), several tiles and a tail */
#define N_PAR (70000 + 13)     /* above AGI_PAR_MIN: tiles spread over the pool */
#define CHUNK 997              /* below RUN_MIN: op by op */
#define MAXL 4                 /* leaves per graph */

/* ---- a harness: a graph of MAXL leaves of n elements, seeded root of n ---- */

typedef struct leaves {
    ag_tensor *l[MAXL];
    ag_tensor *keep[4];        /* retained intermediates whose grads are compared */
    int nkeep;
    ag_tensor *own[2];         /* other leaves the graph made (freed after the tape) */
    int nown;
} leaves;

/* builds the graph and returns its root (n elements, elementwise in the leaves) */
typedef ag_tensor *(*build_fn)(ag_tape *t, leaves *lv, int64_t n);

typedef struct result {
    float *g[MAXL + 4];        /* leaves' grads (NULL: none), then retained grads */
} result;

static const bool leaf_rg[MAXL] = { true, true, false, true };

/* Runs the graph over data[lo, lo + n) and stores grads at out[.] + at. */
static void run_one(build_fn build, float *const *data, const float *seed, int64_t n,
                    result *out, int64_t at, int64_t total)
{
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    leaves lv;
    memset(&lv, 0, sizeof lv);
    for (int k = 0; k < MAXL; k++)
        lv.l[k] = ag_tensor_new(1, &n, data[k], leaf_rg[k]);
    ag_tensor *s = ag_tensor_new(1, &n, seed, false);
    ag_tensor *root = build(t, &lv, n);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_int_equal(ag_numel(root), n);
    assert_int_equal(ag_backward_seed(t, root, s), AG_OK);
    for (int k = 0; k < MAXL + lv.nkeep; k++) {
        ag_tensor *src = k < MAXL ? lv.l[k] : lv.keep[k - MAXL];
        ag_tensor *g = ag_grad(src);
        if (!g)
            continue;
        if (!out->g[k]) {
            out->g[k] = calloc((size_t)total, sizeof(float));
            assert_non_null(out->g[k]);
        }
        assert_int_equal(ag_numel(g), n);
        memcpy(out->g[k] + at, ag_data(g), (size_t)n * sizeof(float));
    }
    ag_tape_free(t);
    for (int k = 0; k < MAXL; k++)
        ag_tensor_free(lv.l[k]);
    for (int k = 0; k < lv.nown; k++)
        ag_tensor_free(lv.own[k]);
    ag_tensor_free(s);
}

static void result_free(result *r)
{
    for (int k = 0; k < MAXL + 4; k++)
        free(r->g[k]);
}

/* The graph on n elements (tiled) against the same graph on chunks (op by op). */
static void check_graph(build_fn build, int64_t n, int threads, const char *name)
{
    float *data[MAXL], *seed = malloc((size_t)n * sizeof(float));
    assert_non_null(seed);
    for (int k = 0; k < MAXL; k++) {
        data[k] = malloc((size_t)n * sizeof(float));
        assert_non_null(data[k]);
        tu_fill(data[k], n, 100 + (uint64_t)k, k == 2 ? 0.5f : -2.0f, 2.0f);
    }
    tu_fill(seed, n, 99, -1.0f, 1.0f);
    data[0][3] = 0.0f;
    if (n > 4100)
        data[0][4097] = -0.0f;
    result tiled, chunked;
    memset(&tiled, 0, sizeof tiled);
    memset(&chunked, 0, sizeof chunked);
    assert_int_equal(ag_set_num_threads(threads), AG_OK);
    run_one(build, data, seed, n, &tiled, 0, n);
    for (int64_t lo = 0; lo < n; lo += CHUNK) {
        const int64_t len = n - lo < CHUNK ? n - lo : CHUNK;
        float *d[MAXL];
        for (int k = 0; k < MAXL; k++)
            d[k] = data[k] + lo;
        run_one(build, d, seed + lo, len, &chunked, lo, n);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    int compared = 0;
    for (int k = 0; k < MAXL + 4; k++) {
        assert_true((tiled.g[k] == NULL) == (chunked.g[k] == NULL));
        if (!tiled.g[k])
            continue;
        char what[96];
        snprintf(what, sizeof what, "%s (%d threads): grad %d", name, threads, k);
        tu_assert_same_bits(tiled.g[k], chunked.g[k], n, what);
        compared++;
    }
    assert_true(compared >= 2);
    result_free(&tiled);
    result_free(&chunked);
    for (int k = 0; k < MAXL; k++)
        free(data[k]);
    free(seed);
}

static void check_all_threads(build_fn build, const char *name)
{
    for (int th = 1; th <= 3; th++)
        check_graph(build, N_BIG, th, name);
    check_graph(build, N_PAR, 3, name);
}

/* ---- graphs ---- */

/* A view (reshape to (n, 1) and back) of a run member between run members:
 * the view breaks the run; y's gradient comes from inside and outside it. */
static ag_tensor *g_view(ag_tape *t, leaves *lv, int64_t n)
{
    ag_tensor *x = lv->l[0], *w = lv->l[1];
    ag_tensor *y = ag_exp(t, x);
    const int64_t sh[2] = { n, 1 };
    ag_tensor *v = ag_reshape(t, y, 2, sh);
    ag_tensor *z = ag_sin(t, ag_view(t, v, 1, &n));
    ag_tensor *u = ag_mul(t, z, y);                 /* y: in the run and through v */
    ag_tensor *r = ag_add(t, ag_tanh(t, u), ag_mul(t, u, w));
    lv->keep[lv->nkeep++] = y;
    ag_retain_grad(y);
    return r;
}

/* The root itself is a view of an elementwise result (not tileable: copied seed). */
static ag_tensor *g_view_root(ag_tape *t, leaves *lv, int64_t n)
{
    ag_tensor *x = lv->l[0], *w = lv->l[1];
    ag_tensor *u = ag_mul(t, ag_sigmoid(t, ag_mul(t, x, w)), ag_cos(t, x));
    const int64_t sh[2] = { 1, n };
    return ag_view(t, ag_reshape(t, u, 2, sh), 1, &n);
}

/* Broadcasting neighbours: a (1,)-shaped leaf and a (1, n) result mixed in. */
static ag_tensor *g_bcast(ag_tape *t, leaves *lv, int64_t n)
{
    ag_tensor *x = lv->l[0], *w = lv->l[1];
    const int64_t one = 1;
    const float sv = 0.75f;
    ag_tensor *s = ag_tensor_new(1, &one, &sv, false);   /* no grad: chunks agree */
    ag_tensor *a = ag_mul(t, ag_exp(t, x), s);            /* broadcast: not tileable */
    ag_tensor *b = ag_add(t, ag_sqrt(t, ag_abs(t, a)), w);
    const int64_t sh[2] = { 1, n };
    ag_tensor *c = ag_add(t, b, ag_reshape(t, x, 2, sh)); /* (n) + (1, n): same numel */
    ag_tensor *r = ag_mul(t, ag_view(t, c, 1, &n), ag_sin(t, b));
    lv->own[lv->nown++] = s;
    return r;
}

/* A leaf made by ag_detach of a run member, given requires_grad; and w loses
 * requires_grad after recording. */
static ag_tensor *g_detach(ag_tape *t, leaves *lv, int64_t n)
{
    (void)n;
    ag_tensor *x = lv->l[0], *w = lv->l[1], *c = lv->l[2];
    ag_tensor *y = ag_exp(t, ag_mul(t, x, c));
    ag_tensor *d = ag_detach(t, y);
    assert_int_equal(ag_set_requires_grad(d, true), AG_OK);
    ag_tensor *z = ag_mul(t, ag_tanh(t, y), ag_add(t, d, w));
    ag_tensor *r = ag_sub(t, ag_mul(t, z, d), ag_log(t, ag_add_scalar(t, ag_abs(t, w), 1.0f)));
    assert_int_equal(ag_set_requires_grad(w, false), AG_OK);  /* after recording */
    assert_int_equal(ag_set_requires_grad(c, true), AG_OK);   /* gains it: no effect */
    lv->keep[lv->nkeep++] = d;
    return r;
}

/* More single-use intermediates than scratch slots (8), each used twice,
 * consumers interleaved so several are live at once. */
static ag_tensor *g_slots(ag_tape *t, leaves *lv, int64_t n)
{
    (void)n;
    ag_tensor *x = lv->l[0], *w = lv->l[1];
    ag_tensor *a[12];
    for (int i = 0; i < 12; i++)
        a[i] = ag_mul_scalar(t, ag_add(t, x, w), 1.0f + 0.125f * (float)i);
    ag_tensor *acc = ag_mul(t, a[0], a[11]);
    for (int i = 1; i < 12; i++)
        acc = ag_add(t, acc, ag_mul(t, a[i], a[11 - i]));
    ag_retain_grad(a[5]);
    lv->keep[lv->nkeep++] = a[5];
    return acc;
}

/* A tensor used at both ends of a chain longer than one run (RUN_MAX 32),
 * and by itself twice; a retained tensor in the middle of a run. */
static ag_tensor *g_long(ag_tape *t, leaves *lv, int64_t n)
{
    (void)n;
    ag_tensor *x = lv->l[0], *w = lv->l[1], *c = lv->l[2];
    ag_tensor *h = ag_mul(t, ag_sin(t, x), c);
    ag_tensor *u = ag_mul(t, h, h);
    for (int i = 0; i < 75; i++) {
        u = (i % 3 == 0) ? ag_tanh(t, u) : (i % 3 == 1) ? ag_add(t, u, w) : ag_mul_scalar(t, u, 0.5f);
        if (i == 40) {
            ag_retain_grad(u);
            lv->keep[lv->nkeep++] = u;
        }
    }
    return ag_div(t, ag_add(t, u, h), ag_add_scalar(t, ag_mul(t, c, c), 1.0f));
}

/* An op whose result nothing uses between run members (not marked), an op
 * on a no-grad leaf only, pow 0, and the root's input is a leaf directly. */
static ag_tensor *g_unmarked(ag_tape *t, leaves *lv, int64_t n)
{
    (void)n;
    ag_tensor *x = lv->l[0], *w = lv->l[1], *c = lv->l[2];
    ag_tensor *y = ag_exp(t, x);
    (void)ag_sin(t, y);                       /* unused */
    ag_tensor *k = ag_cos(t, c);              /* needs no grad */
    ag_tensor *p0 = ag_pow(t, y, 0.0f);
    (void)ag_mul(t, y, w);                    /* unused */
    ag_tensor *z = ag_mul(t, ag_add(t, y, p0), k);
    return ag_maximum(t, ag_minimum(t, z, x), w);
}

/* Everything at once, with the leaves' grads pre-existing (accumulation). */
static ag_tensor *g_mix(ag_tape *t, leaves *lv, int64_t n)
{
    (void)n;
    ag_tensor *x = lv->l[0], *w = lv->l[1], *v = lv->l[3];
    ag_tensor *e = ag_gelu(t, ag_mul(t, x, v), true);
    ag_tensor *f = ag_leaky_relu(t, ag_sub(t, e, ag_relu(t, w)), 0.1f);
    ag_tensor *g = ag_clamp(t, ag_mul(t, f, e), -0.5f, 0.9f);
    ag_tensor *h = ag_pow_tensor(t, ag_add_scalar(t, ag_abs(t, g), 0.5f), ag_sigmoid(t, v));
    ag_retain_grad(e);
    lv->keep[lv->nkeep++] = e;
    return ag_neg(t, ag_rsub_scalar(t, ag_div_scalar(t, ag_mul(t, h, ag_tan(t, ag_mul_scalar(t, x, 0.3f))), 3.0f), 1.0f));
}

static void tiled_view(void **s) { (void)s; check_all_threads(g_view, "view"); }
static void tiled_view_root(void **s) { (void)s; check_all_threads(g_view_root, "view_root"); }
static void tiled_bcast(void **s) { (void)s; check_all_threads(g_bcast, "bcast"); }
static void tiled_detach(void **s) { (void)s; check_all_threads(g_detach, "detach"); }
static void tiled_slots(void **s) { (void)s; check_all_threads(g_slots, "slots"); }
static void tiled_long(void **s) { (void)s; check_all_threads(g_long, "long"); }
static void tiled_unmarked(void **s) { (void)s; check_all_threads(g_unmarked, "unmarked"); }
static void tiled_mix(void **s) { (void)s; check_all_threads(g_mix, "mix"); }

/* Every vector width the CPU has gives the same gradients (the mix graph and
 * the trig/exp/sqrt loops), and the same as the chunked walk at that width. */
static void every_width(void **s)
{
    (void)s;
    for (int l = AGI_SIMD_BASE; l <= AGI_SIMD_AVX512; l++) {
        if (!agi_simd_available(l))
            continue;
        agi_simd_force(l);
        assert_int_equal(agi_simd(), l);
        check_graph(g_mix, N_BIG, 2, "mix at a forced width");
        check_graph(g_view, N_BIG, 1, "view at a forced width");
    }
    agi_simd_force(-1);
    /* and the widths against each other */
    const int64_t n = N_BIG;
    float *xd = malloc((size_t)n * sizeof(float)), *ref = NULL;
    assert_non_null(xd);
    tu_fill(xd, n, 7, -30.0f, 30.0f);
    xd[0] = 1e30f, xd[1] = -INFINITY, xd[2] = NAN, xd[3] = 1.5707964f, xd[4] = -0.0f;
    for (int l = AGI_SIMD_BASE; l <= AGI_SIMD_AVX512; l++) {
        if (!agi_simd_available(l))
            continue;
        agi_simd_force(l);
        ag_tape *t = ag_tape_new();
        ag_tensor *x = ag_tensor_new(1, &n, xd, true);
        ag_tensor *y = ag_add(t, ag_mul(t, ag_sin(t, x), ag_cos(t, x)),
                              ag_add(t, ag_sqrt(t, ag_abs(t, x)),
                                     ag_mul(t, ag_tanh(t, x), ag_sigmoid(t, ag_exp(t, ag_mul_scalar(t, x, 0.1f))))));
        y = ag_add(t, y, ag_gelu(t, x, false));
        y = ag_add(t, y, ag_log(t, ag_add_scalar(t, ag_abs(t, x), 1.0f)));
        assert_int_equal(ag_backward_seed(t, y, x), AG_OK);
        float *out = malloc(2 * (size_t)n * sizeof(float));
        assert_non_null(out);
        memcpy(out, ag_data(y), (size_t)n * sizeof(float));
        memcpy(out + n, ag_data(ag_grad(x)), (size_t)n * sizeof(float));
        if (!ref) {
            ref = out;
        } else {
            tu_assert_same_bits(out, ref, 2 * n, "forward and x.grad at a forced width vs base");
            free(out);
        }
        ag_tensor_free(x);
        ag_tape_free(t);
    }
    agi_simd_force(-1);
    free(ref);
    free(xd);
}

/* ---- backward twice on one tape; zero-size ---- */

static void twice_on_one_tape(void **s)
{
    (void)s;
    const int64_t n = N_BIG;
    float *xd = malloc((size_t)n * sizeof(float)), *sd = malloc((size_t)n * sizeof(float));
    assert_true(xd && sd);
    tu_fill(xd, n, 1, -1.0f, 1.0f);
    tu_fill(sd, n, 2, -1.0f, 1.0f);
    float *res[2][2];
    for (int big = 0; big < 2; big++) {
        const int64_t m = big ? n : CHUNK;   /* compare the first CHUNK elements */
        float *acc = calloc((size_t)CHUNK, 2 * sizeof(float));
        assert_non_null(acc);
        {                      /* big: tiled; else op by op */
            const int64_t lo = 0, len = m;
            ag_tape *t = ag_tape_new();
            ag_tensor *x = ag_tensor_new(1, &len, xd + lo, true);
            ag_tensor *sg = ag_tensor_new(1, &len, sd + lo, false);
            ag_tensor *y = ag_mul(t, ag_exp(t, x), ag_sin(t, x));
            ag_retain_grad(y);
            ag_tensor *z = ag_mul(t, ag_tanh(t, y), y);
            assert_int_equal(ag_backward_seed(t, z, sg), AG_OK);
            assert_int_equal(ag_backward_seed(t, y, sg), AG_OK);   /* an intermediate as root */
            assert_int_equal(ag_backward_seed(t, z, sg), AG_OK);   /* the first root again */
            if (lo == 0) {
                memcpy(acc, ag_data(ag_grad(x)), CHUNK * sizeof(float));
                memcpy(acc + CHUNK, ag_data(ag_grad(y)), CHUNK * sizeof(float));
            }
            ag_tensor_free(x);
            ag_tensor_free(sg);
            ag_tape_free(t);
        }
        res[big][0] = acc;
        res[big][1] = acc + CHUNK;
    }
    tu_assert_same_bits(res[1][0], res[0][0], CHUNK, "x.grad after three backwards");
    tu_assert_same_bits(res[1][1], res[0][1], CHUNK, "y.grad (retained) after three backwards");
    free(res[0][0]);
    free(res[1][0]);
    free(xd);
    free(sd);
}

static void zero_size(void **s)
{
    (void)s;
    const int64_t sh[2] = { 0, 5000 };
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(2, sh, NULL, true), *sd = ag_tensor_new(2, sh, NULL, false);
    assert_non_null(x);
    ag_tensor *y = ag_mul(t, ag_exp(t, x), ag_sin(t, x));
    y = ag_add(t, y, x);
    assert_int_equal(ag_backward_seed(t, y, sd), AG_OK);
    assert_int_equal(ag_backward_seed(t, y, sd), AG_OK);
    assert_int_equal(ag_numel(ag_grad(x)), 0);
    ag_tensor_free(x);
    ag_tensor_free(sd);
    ag_tape_free(t);
}

/* ---- a failed backward (the k-th allocation refused, for every k) leaves
 * the leaves' grads as they were, and a backward on a fresh tape then gives
 * the same as without the failure ---- */

static ag_tensor *g_fail(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *v)
{
    ag_tensor *y = ag_mul(t, ag_exp(t, x), ag_sin(t, w));
    ag_retain_grad(y);
    ag_tensor *z = ag_mul(t, ag_tanh(t, y), ag_add(t, y, v));
    const int64_t sh[2] = { 2, ag_numel(x) / 2 };
    ag_tensor *r = ag_reshape(t, z, 2, sh);        /* not tileable: a copied seed */
    return ag_add(t, ag_view(t, r, 1, ag_shape(x)), ag_mul(t, z, w));
}

static void failed_backward(void **s)
{
    (void)s;
    const int64_t n = 2 * 4096 + 64;
    float *xd = malloc((size_t)n * sizeof(float)), *wd = malloc((size_t)n * sizeof(float));
    float *sd = malloc((size_t)n * sizeof(float)), *g0 = malloc((size_t)n * sizeof(float));
    float *ref = malloc(2 * (size_t)n * sizeof(float));
    assert_true(xd && wd && sd && g0 && ref);
    tu_fill(xd, n, 1, -1.0f, 1.0f);
    tu_fill(wd, n, 2, -1.0f, 1.0f);
    tu_fill(sd, n, 3, -1.0f, 1.0f);
    tu_fill(g0, n, 4, -1.0f, 1.0f);
    /* the reference: x.grad starts at g0, w has none, v has none (but needs one) */
    tu_alloc a;
    bool failed_once = false;
    for (uint64_t k = 0;; k++) {
        tu_alloc_use(&a);
        ag_tensor *x = ag_tensor_new(1, &n, xd, true), *w = ag_tensor_new(1, &n, wd, true);
        ag_tensor *v = ag_tensor_new(1, &n, wd, true), *sg = ag_tensor_new(1, &n, sd, false);
        ag_tape *t = ag_tape_new();
        ag_tensor *root = g_fail(t, x, w, v);
        assert_int_equal(ag_tape_status(t), AG_OK);
        /* x.grad = g0 from a first backward */
        assert_int_equal(ag_backward_seed(t, root, sg), AG_OK);
        memcpy(ag_data(ag_grad(x)), g0, (size_t)n * sizeof(float));
        ag_tensor_free(w);         /* w's grad dropped: remade below */
        w = ag_tensor_new(1, &n, wd, true);
        ag_tape_free(t);
        t = ag_tape_new();
        root = g_fail(t, x, w, v);
        ag_zero_grad(v);
        assert_int_equal(ag_tape_status(t), AG_OK);
        if (k)
            a.fail_at = a.requests + k;
        ag_status st = ag_backward_seed(t, root, sg);
        if (st == AG_OK) {
            if (k == 0) {
                memcpy(ref, ag_data(ag_grad(x)), (size_t)n * sizeof(float));
                memcpy(ref + n, ag_data(ag_grad(w)), (size_t)n * sizeof(float));
            } else {
                tu_assert_same_bits(ag_data(ag_grad(x)), ref, n, "x.grad (no failure)");
                tu_assert_same_bits(ag_data(ag_grad(w)), ref + n, n, "w.grad (no failure)");
            }
        } else {
            failed_once = true;
            assert_int_equal(st, AG_ERR_NOMEM);
            /* nothing changed */
            tu_assert_same_bits(ag_data(ag_grad(x)), g0, n, "x.grad after a failed backward");
            assert_null(ag_grad(w));
            for (int64_t i = 0; i < n; i++)
                assert_true(ag_data(ag_grad(v))[i] == 0.0f);
            /* the same graph on a fresh tape now works and gives the reference */
            a.fail_at = 0;
            ag_tape_free(t);
            t = ag_tape_new();
            root = g_fail(t, x, w, v);
            assert_int_equal(ag_backward_seed(t, root, sg), AG_OK);
            tu_assert_same_bits(ag_data(ag_grad(x)), ref, n, "x.grad after failure then success");
            tu_assert_same_bits(ag_data(ag_grad(w)), ref + n, n, "w.grad after failure then success");
        }
        ag_tape_free(t);
        ag_tensor_free(x);
        ag_tensor_free(w);
        ag_tensor_free(v);
        ag_tensor_free(sg);
        tu_alloc_restore();
        assert_int_equal(a.bad_frees, 0);
        assert_int_equal(a.outstanding, 0);
        if (k && st == AG_OK)
            break;             /* k past the last allocation backward makes */
    }
    assert_true(failed_once);
    free(xd);
    free(wd);
    free(sd);
    free(g0);
    free(ref);
}

/* ---- the seed used in place ---- */

/* A leaf's grad as the seed, the leaf used by a later (older) op of the run,
 * not by the root: the root reads the seed tile before anything writes it. */
static void seed_is_grad_of_deeper_leaf(void **s)
{
    (void)s;
    const int64_t sizes[] = { 100, N_BIG, N_PAR };
    for (int si = 0; si < 3; si++) {
        const int64_t n = sizes[si];
        float *xd = malloc((size_t)n * sizeof(float)), *g0 = malloc((size_t)n * sizeof(float));
        assert_true(xd && g0);
        tu_fill(xd, n, 5, -2.0f, 2.0f);
        tu_fill(g0, n, 6, -1.0f, 1.0f);
        float *res[2];
        for (int alias = 0; alias < 2; alias++) {
            assert_int_equal(ag_set_num_threads(alias + 1), AG_OK);
            ag_tape *t = ag_tape_new();
            ag_tensor *x = ag_tensor_new(1, &n, xd, true);
            ag_tensor *y = ag_tanh(t, ag_sin(t, ag_exp(t, x)));
            assert_int_equal(ag_backward_seed(t, y, x), AG_OK);   /* makes x.grad */
            memcpy(ag_data(ag_grad(x)), g0, (size_t)n * sizeof(float));
            ag_tensor *copy = ag_tensor_new(1, &n, g0, false);
            assert_int_equal(ag_backward_seed(t, y, alias ? ag_grad(x) : copy), AG_OK);
            res[alias] = malloc((size_t)n * sizeof(float));
            assert_non_null(res[alias]);
            memcpy(res[alias], ag_data(ag_grad(x)), (size_t)n * sizeof(float));
            ag_tensor_free(copy);
            ag_tensor_free(x);
            ag_tape_free(t);
        }
        assert_int_equal(ag_set_num_threads(1), AG_OK);
        tu_assert_same_bits(res[1], res[0], n, "x.grad, seed = x.grad, x deep in the run");
        free(res[0]);
        free(res[1]);
        free(xd);
        free(g0);
    }
}

/* The root's own retained grad as its seed (a second backward): the same as a copy. */
static void seed_is_roots_retained_grad(void **s)
{
    (void)s;
    const int64_t sizes[] = { 100, N_BIG };
    for (int si = 0; si < 2; si++) {
        const int64_t n = sizes[si];
        float *xd = malloc((size_t)n * sizeof(float)), *g0 = malloc((size_t)n * sizeof(float));
        assert_true(xd && g0);
        tu_fill(xd, n, 5, -2.0f, 2.0f);
        tu_fill(g0, n, 6, -1.0f, 1.0f);
        float *res[2][2];
        for (int alias = 0; alias < 2; alias++) {
            ag_tape *t = ag_tape_new();
            ag_tensor *x = ag_tensor_new(1, &n, xd, true);
            ag_tensor *g0t = ag_tensor_new(1, &n, g0, false);
            ag_tensor *y = ag_mul(t, ag_exp(t, x), x);
            ag_retain_grad(y);
            assert_int_equal(ag_backward_seed(t, y, g0t), AG_OK);   /* y.grad = g0 */
            ag_tensor *copy = ag_tensor_new(1, &n, ag_data(ag_grad(y)), false);
            assert_int_equal(ag_backward_seed(t, y, alias ? ag_grad(y) : copy), AG_OK);
            res[alias][0] = malloc((size_t)n * sizeof(float));
            res[alias][1] = malloc((size_t)n * sizeof(float));
            memcpy(res[alias][0], ag_data(ag_grad(x)), (size_t)n * sizeof(float));
            memcpy(res[alias][1], ag_data(ag_grad(y)), (size_t)n * sizeof(float));
            ag_tensor_free(copy);
            ag_tensor_free(g0t);
            ag_tensor_free(x);
            ag_tape_free(t);
        }
        tu_assert_same_bits(res[1][0], res[0][0], n, "x.grad, seed = y.grad");
        tu_assert_same_bits(res[1][1], res[0][1], n, "y.grad, seed = y.grad");
        for (int a = 0; a < 2; a++)
            for (int k = 0; k < 2; k++)
                free(res[a][k]);
        free(xd);
        free(g0);
    }
}

/* A retained elementwise root whose seed is the grad of one of its input
 * leaves: the root's backward adds into that leaf's grad, so had the seed
 * been used in place as the root's gradient buffer, y.grad would receive the
 * updated x.grad (g0 + g0 * exp(x)) instead of the seed g0 (a bug review
 * found; retained roots now copy the seed). PyTorch gives y.grad == seed. */
static void retained_root_seed_is_input_grad(void **s)
{
    (void)s;
    const int64_t sizes[] = { 100, N_BIG };
    for (int si = 0; si < 2; si++) {
        const int64_t n = sizes[si];
        float *xd = malloc((size_t)n * sizeof(float)), *g0 = malloc((size_t)n * sizeof(float));
        assert_true(xd && g0);
        tu_fill(xd, n, 5, -2.0f, 2.0f);
        tu_fill(g0, n, 6, -1.0f, 1.0f);
        float *res[2];
        for (int alias = 0; alias < 2; alias++) {
            ag_tape *t = ag_tape_new();
            ag_tensor *x = ag_tensor_new(1, &n, xd, true);
            ag_tensor *y = ag_exp(t, x);
            ag_retain_grad(y);
            if (si == 1)                      /* and in a tiled run */
                y = ag_mul(t, ag_sin(t, y), x), ag_retain_grad(y);
            assert_int_equal(ag_backward_seed(t, y, x), AG_OK);   /* makes x.grad, y.grad */
            memcpy(ag_data(ag_grad(x)), g0, (size_t)n * sizeof(float));
            ag_zero_grad(y);
            ag_tensor *copy = ag_tensor_new(1, &n, g0, false);
            assert_int_equal(ag_backward_seed(t, y, alias ? ag_grad(x) : copy), AG_OK);
            res[alias] = malloc((size_t)n * sizeof(float));
            assert_non_null(res[alias]);
            memcpy(res[alias], ag_data(ag_grad(y)), (size_t)n * sizeof(float));
            ag_tensor_free(copy);
            ag_tensor_free(x);
            ag_tape_free(t);
        }
        tu_assert_same_bits(res[0], g0, n, "y.grad with a copied seed");
        tu_assert_same_bits(res[1], g0, n, "y.grad with seed = x.grad");
        free(res[0]);
        free(res[1]);
        free(xd);
        free(g0);
    }
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiled_view),
        cmocka_unit_test(tiled_view_root),
        cmocka_unit_test(tiled_bcast),
        cmocka_unit_test(tiled_detach),
        cmocka_unit_test(tiled_slots),
        cmocka_unit_test(tiled_long),
        cmocka_unit_test(tiled_unmarked),
        cmocka_unit_test(tiled_mix),
        cmocka_unit_test(every_width),
        cmocka_unit_test(twice_on_one_tape),
        cmocka_unit_test(zero_size),
        cmocka_unit_test(failed_backward),
        cmocka_unit_test(seed_is_grad_of_deeper_leaf),
        cmocka_unit_test(seed_is_roots_retained_grad),
        cmocka_unit_test(retained_root_seed_is_input_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
