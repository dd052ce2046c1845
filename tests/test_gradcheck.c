/* test_gradcheck.c - walks the op table: every row is filled in, and every
 * op's backward kernel agrees with central differences of its forward kernel
 * over random shapes (0-dim to 3-D, and broadcast pairs for binary ops).
 *
 * Ops are recorded through agi_record(t, op, inputs, params), so the test is
 * generic over the table: a new row is checked without editing this file.
 * Inputs are sampled from the row's domain; an op that reads its float
 * parameter (found by running it with two parameters) is checked at every
 * value in PARAMS. The loss is L = sum(seed * out) with a random seed, so
 * ag_backward_seed(out, seed) gives dL/din, and the numeric gradient is
 * (L(x + h) - L(x - h)) / 2h per input element, in double.
 * All randomness comes from one fixed-seed splitmix64 generator. */
#include "testutil.h"
#include "internal.h"

#include <stdio.h>

/* ---- a small deterministic PRNG (splitmix64) ---- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double rng_uniform(double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next() >> 11) * 0x1.0p-53);
}

/* Uniform integer in [lo, hi]. */
static int rng_int(int lo, int hi)
{
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* ---- shapes ---- */

typedef struct shape {
    int ndim;
    int64_t d[AG_MAX_DIMS];
} shape;

static const char *shape_str(char *buf, size_t n, const shape *s)
{
    return agi_shape_str(buf, n, s->ndim, s->d);
}

/* A random shape of ndim dimensions, each of size 1..maxd. */
static shape random_shape(int ndim, int maxd)
{
    shape s = { ndim, { 0 } };
    for (int i = 0; i < ndim; i++)
        s.d[i] = rng_int(1, maxd);
    return s;
}

/* The shapes every unary op is checked on (and binary ops, as same-shape pairs). */
#define N_UNARY_SHAPES 9
#define N_ROUNDS 3          /* the shape list is drawn this many times per parameter */
static void unary_shapes(shape *out)
{
    out[0] = (shape){ 0, { 0 } };          /* 0-dim */
    out[1] = (shape){ 1, { 1 } };
    out[2] = random_shape(1, 7);
    out[3] = random_shape(1, 7);
    out[4] = random_shape(2, 4);
    out[5] = random_shape(2, 4);
    out[6] = random_shape(3, 3);
    out[7] = random_shape(3, 3);
    out[8] = (shape){ 3, { 2, 1, 3 } };
}

/* Two shapes that broadcast together: a random output shape, from which each
 * operand drops some leading dimensions and turns some sizes into 1. */
static void random_bcast_pair(shape *a, shape *b)
{
    shape o = random_shape(rng_int(1, 3), 4);
    shape *ab[2] = { a, b };
    for (int k = 0; k < 2; k++) {
        int drop = rng_int(0, o.ndim);
        ab[k]->ndim = o.ndim - drop;
        for (int i = 0; i < ab[k]->ndim; i++)
            ab[k]->d[i] = rng_int(0, 2) == 0 ? 1 : o.d[drop + i];
    }
}

/* Fixed broadcast pairs (each also checked with its operands swapped). */
static const shape BCAST_PAIRS[][2] = {
    { { 2, { 3, 1 } }, { 2, { 1, 4 } } },
    { { 3, { 2, 3, 4 } }, { 1, { 4 } } },
    { { 3, { 2, 1, 4 } }, { 2, { 3, 1 } } },
    { { 0, { 0 } }, { 2, { 2, 3 } } },
    { { 1, { 1 } }, { 1, { 5 } } },
    { { 2, { 1, 1 } }, { 3, { 2, 3, 2 } } },
    { { 3, { 2, 3, 1 } }, { 3, { 1, 3, 4 } } },
    { { 0, { 0 } }, { 0, { 0 } } },
};
#define N_BCAST_PAIRS (sizeof BCAST_PAIRS / sizeof BCAST_PAIRS[0])
#define N_RANDOM_PAIRS 12

/* The broadcast of a and b, worked out here independently of the library. */
static shape bcast_shape(const shape *a, const shape *b)
{
    shape o = { a->ndim > b->ndim ? a->ndim : b->ndim, { 0 } };
    for (int i = 0; i < o.ndim; i++) {
        int ia = a->ndim - o.ndim + i, ib = b->ndim - o.ndim + i;
        int64_t sa = ia >= 0 ? a->d[ia] : 1, sb = ib >= 0 ? b->d[ib] : 1;
        o.d[i] = sa == 1 ? sb : sa;
    }
    return o;
}

/* ---- parameters, domains, tolerances ---- */

/* pow's exponents and the scalar ops' operands. */
static const float PARAMS[] = { 2.0f, 3.0f, 0.5f, -1.0f, -0.5f, 1.7f, 0.0f, 4.0f, -2.5f, 1.0f };
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])

static void domain_range(int dom, double *lo, double *hi)
{
    switch (dom) {
    case AGI_DOM_POS:
        *lo = 0.5;
        *hi = 2.0;
        break;
    default:
        assert_int_equal(dom, AGI_DOM_REAL);
        *lo = -2.0;
        *hi = 2.0;
        break;
    }
}

/* The step: h = 1e-3 keeps the truncation error (h^2/6 * |f'''|) below 1e-4
 * relative for every op here on its domain (worst: x ** -2.5 at 0.5, where
 * f''' / f' = 4.5 * 5.5 / x^2 = 99, so 1.7e-5 relative).
 *
 * Tolerances, |num - ana| <= atol + rtol * |num|:
 * - atol covers the rounding of the float32 forward: each output term of the
 *   loss carries about |seed * out| * 2^-24 of error, divided by 2h = 2e-3, so
 *   ~3e-5 per term for |out| <= 1 and ~5e-4 for |out| = 16 (x ** 4 at 2);
 *   a broadcast input feeds several terms (up to 6 here). The largest error
 *   seen is below 2.5e-4 (add, with (4,) broadcast to (2,3,4)), so the default
 *   atol of 1e-3 leaves a margin of 4 or more.
 * - rtol covers the truncation error and the float32 rounding of the analytic
 *   gradient itself (a few ulp); 1e-3 is far below what a wrong derivative
 *   (a factor, a sign, a missed term) produces.
 * exp (e^2 = 7.4, expf within ~1 ulp) and pow (|x ** 4| <= 16, derivatives up
 * to 28 for x ** -2.5, powf within ~1 ulp) reach larger values, so their
 * rounding noise is larger: atol 2e-3. */
typedef struct tol {
    double atol, rtol;
} tol;

static tol op_tol(int op)
{
    switch (op) {
    case AGI_OP_EXP:
    case AGI_OP_POW:
        return (tol){ 2e-3, 1e-3 };
    default:
        return (tol){ 1e-3, 1e-3 };
    }
}

#define STEP 1e-3

/* ---- recording helpers ---- */

static ag_tensor *random_leaf(const shape *s, int dom, bool rg)
{
    double lo, hi;
    domain_range(dom, &lo, &hi);
    ag_tensor *x = ag_tensor_new(s->ndim, s->d, NULL, rg);
    assert_non_null(x);
    for (int64_t i = 0; i < ag_numel(x); i++)
        ag_data(x)[i] = (float)rng_uniform(lo, hi);
    return x;
}

static ag_tensor *record(ag_tape *t, int op, ag_tensor **in, float p)
{
    agi_call c = { .nin = agi_ops[op].n_inputs, .in = in, .param = { p } };
    ag_tensor *out = agi_record(t, op, &c);
    if (!out)
        print_error("%s: %s\n", agi_ops[op].name, ag_tape_error(t));
    assert_non_null(out);
    assert_int_equal(ag_tape_status(t), AG_OK);
    return out;
}

/* sum(seed * out) in double */
static double loss_of(const ag_tensor *out, const ag_tensor *seed)
{
    double s = 0.0;
    const float *o = out->data, *g = seed->data;
    for (int64_t i = 0; i < out->numel; i++)
        s += (double)g[i] * (double)o[i];
    return s;
}

/* Does op read its float parameter? Runs it on fixed inputs of its domain
 * with every parameter of PARAMS and compares the outputs with the first. */
static bool uses_param(int op)
{
    const agi_op_def *def = &agi_ops[op];
    double lo, hi;
    domain_range(def->domain, &lo, &hi);
    int64_t n = 4;
    float v[4];
    for (int i = 0; i < 4; i++)
        v[i] = (float)(lo + (hi - lo) * (0.2 + 0.2 * i));
    ag_tensor *in[AGI_INLINE_INPUTS] = { NULL };
    for (int k = 0; k < def->n_inputs; k++)
        in[k] = ag_tensor_new(1, &n, v, false);
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *first = record(t, op, in, PARAMS[0]);
    bool differ = false;
    for (size_t i = 1; i < N_PARAMS && !differ; i++)
        differ = memcmp(ag_data(first), ag_data(record(t, op, in, PARAMS[i])), sizeof v) != 0;
    ag_tape_free(t);
    for (int k = 0; k < def->n_inputs; k++)
        ag_tensor_free(in[k]);
    return differ;
}

/* ---- the check ---- */

typedef struct stats {
    long checked, skipped;
    double worst;              /* largest |num - ana| / (atol + rtol |num|) */
} stats;

/* Two computations of one gradient element that must agree to rounding. */
static void expect_close(const char *op, float p, const char *when, const char *shp,
                         int64_t j, float got, float want)
{
    if (!(fabs((double)got - want) <= 1e-6 * fmax(1.0, fabs((double)want)))) {
        print_error("%s (param %g) %s: input of shape %s, gradient element %lld is %.9g, "
                    "expected %.9g\n", op, (double)p, when, shp, (long long)j, (double)got,
                    (double)want);
        fail();
    }
}

/* Checks op with parameter p on inputs of the given shapes: forward shape,
 * then every input element's analytic gradient against central differences.
 * Elements where the one-sided differences disagree (a kink) are counted in
 * st->skipped rather than compared. */
static void check_op(int op, float p, const shape *shapes, stats *st)
{
    const agi_op_def *def = &agi_ops[op];
    const int n = def->n_inputs;
    const tol tl = op_tol(op);
    char sb[AGI_INLINE_INPUTS][64], so[64];
    ag_tensor *in[AGI_INLINE_INPUTS] = { NULL };
    for (int k = 0; k < n; k++) {
        in[k] = random_leaf(&shapes[k], def->domain, true);
        shape_str(sb[k], sizeof sb[k], &shapes[k]);
    }
    shape os = n == 2 ? bcast_shape(&shapes[0], &shapes[1]) : shapes[0];
    shape_str(so, sizeof so, &os);

    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *out = record(t, op, in, p);
    assert_true(ag_requires_grad(out));
    assert_false(ag_is_leaf(out));
    if (def->shape == agi_shape_same || def->shape == agi_shape_bcast)
        assert_shape(out, os.ndim, os.d);
    ag_tensor *seed = ag_tensor_new(out->ndim, out->shape, NULL, false);
    assert_non_null(seed);
    for (int64_t i = 0; i < seed->numel; i++)
        seed->data[i] = (float)rng_uniform(-1.0, 1.0);
    const double l0 = loss_of(out, seed);
    assert_int_equal(ag_backward_seed(t, out, seed), AG_OK);

    /* backward kernels accumulate: a second pass on the same recording
     * doubles every gradient (retain_graph=True) */
    float *first[AGI_INLINE_INPUTS];
    for (int k = 0; k < n; k++) {
        assert_non_null(ag_grad(in[k]));
        first[k] = malloc((size_t)(in[k]->numel + 1) * sizeof(float));
        assert_non_null(first[k]);
        memcpy(first[k], ag_grad(in[k])->data, (size_t)in[k]->numel * sizeof(float));
    }
    assert_int_equal(ag_backward_seed(t, out, seed), AG_OK);
    for (int k = 0; k < n; k++) {
        for (int64_t j = 0; j < in[k]->numel; j++)
            expect_close(def->name, p, "after a second backward", sb[k], j,
                         ag_grad(in[k])->data[j], 2.0f * first[k][j]);
        memcpy(ag_grad(in[k])->data, first[k], (size_t)in[k]->numel * sizeof(float));
        free(first[k]);
    }

    for (int k = 0; k < n; k++) {
        ag_tensor *g = ag_grad(in[k]);
        assert_non_null(g);
        assert_shape(g, in[k]->ndim, in[k]->shape);
        for (int64_t j = 0; j < in[k]->numel; j++) {
            float *px = &in[k]->data[j];
            const float x0 = *px;
            const float xp = (float)(x0 + STEP), xm = (float)(x0 - STEP);
            *px = xp;
            ag_tape_reset(t);
            const double lp = loss_of(record(t, op, in, p), seed);
            *px = xm;
            ag_tape_reset(t);
            const double lm = loss_of(record(t, op, in, p), seed);
            *px = x0;
            const double num = (lp - lm) / ((double)xp - (double)xm);
            const double ana = g->data[j];
            const double dplus = (lp - l0) / ((double)xp - x0);
            const double dminus = (l0 - lm) / ((double)x0 - xm);
            const double bound = tl.atol + tl.rtol * fabs(num);
            const double err = fabs(num - ana);
            /* A kink between x - h and x + h: the one-sided slopes differ
             * clearly, or (with a small seed element, so a small jump) they
             * differ by more than the tolerance and the analytic gradient is
             * one of them, as at a kink, but not their mean. */
            const bool jump = fabs(dplus - dminus) > 0.1 * (fabs(dplus) + fabs(dminus)) + 0.05;
            const bool one_side = err > bound && fabs(dplus - dminus) > bound &&
                                  (fabs(dplus - ana) <= bound || fabs(dminus - ana) <= bound);
            if (jump || one_side) {
                st->skipped++;     /* the derivative jumps here */
                continue;
            }
            st->checked++;
            if (err / bound > st->worst)
                st->worst = err / bound;
            if (!(err <= bound)) {
                print_error("%s (param %g): input %d of shapes %s%s%s -> %s, element %lld "
                            "(x = %.9g): analytic %.9g, numeric %.9g (|diff| %.3g > %.3g)\n",
                            def->name, (double)p, k, sb[0], n == 2 ? " & " : "",
                            n == 2 ? sb[1] : "", so, (long long)j, (double)x0, ana, num,
                            err, bound);
                fail();
            }
        }
    }

    /* A binary op with only one input requiring grad: its backward kernel is
     * called with the other gradient NULL and must give the same gradient. */
    if (n == 2) {
        for (int k = 0; k < 2; k++) {
            ag_tensor *copy[2];
            for (int q = 0; q < 2; q++) {
                copy[q] = ag_tensor_new(in[q]->ndim, in[q]->shape, in[q]->data, q == k);
                assert_non_null(copy[q]);
            }
            ag_tape_reset(t);
            assert_int_equal(ag_backward_seed(t, record(t, op, copy, p), seed), AG_OK);
            assert_null(ag_grad(copy[1 - k]));
            assert_non_null(ag_grad(copy[k]));
            for (int64_t j = 0; j < copy[k]->numel; j++)
                expect_close(def->name, p, "with one input requiring grad", sb[k], j,
                             ag_grad(copy[k])->data[j], ag_grad(in[k])->data[j]);
            ag_tensor_free(copy[0]);
            ag_tensor_free(copy[1]);
        }
    }

    ag_tape_free(t);
    ag_tensor_free(seed);
    for (int k = 0; k < n; k++)
        ag_tensor_free(in[k]);
}

/* A binary op that broadcasts is elementwise: each output element equals the
 * op on the two 0-dim operands its indices select. Checks the forward
 * broadcast indexing, independently of the library's broadcast walk. */
static void check_bcast_forward(int op, const shape *a, const shape *b)
{
    const agi_op_def *def = &agi_ops[op];
    ag_tensor *in[2] = { random_leaf(a, def->domain, false), random_leaf(b, def->domain, false) };
    shape os = bcast_shape(a, b);
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *out = record(t, op, in, 0.0f);
    ag_tensor *sa = ag_scalar(0.0f, false), *sc = ag_scalar(0.0f, false);
    ag_tensor *pair[2] = { sa, sc };
    int64_t idx[AG_MAX_DIMS] = { 0 };
    for (int64_t i = 0; i < out->numel; i++) {
        /* idx: the multi-index of output element i */
        int64_t r = i;
        for (int d = os.ndim - 1; d >= 0; d--) {
            idx[d] = r % os.d[d];
            r /= os.d[d];
        }
        const shape *s[2] = { a, b };
        for (int q = 0; q < 2; q++) {
            int64_t off = 0;
            for (int d = 0; d < s[q]->ndim; d++) {
                int64_t id = s[q]->d[d] == 1 ? 0 : idx[os.ndim - s[q]->ndim + d];
                off = off * s[q]->d[d] + id;
            }
            pair[q]->data[0] = in[q]->data[off];
        }
        float expect = record(t, op, pair, 0.0f)->data[0];
        if (!(out->data[i] == expect || (isnan(out->data[i]) && isnan(expect)))) {
            char s1[64], s2[64];
            print_error("%s: shapes %s & %s, output element %lld = %.9g, expected %.9g\n",
                        def->name, shape_str(s1, sizeof s1, a), shape_str(s2, sizeof s2, b),
                        (long long)i, (double)out->data[i], (double)expect);
            fail();
        }
    }
    ag_tape_free(t);
    ag_tensor_free(sa);
    ag_tensor_free(sc);
    ag_tensor_free(in[0]);
    ag_tensor_free(in[1]);
}

/* ---- the op families' own cases ----
 * Ops that are not generic elementwise ops (domain AGI_DOM_NONE: reductions,
 * shape ops, matmul, ops with several parameters) are checked by cases in
 * tests/gc_*.inc, one file per op family. Each file defines an array of
 * gc_case ending with { -1, NULL, NULL }; a case's run() checks its op
 * through the public ag_gradcheck (gc_expect) over random shapes from
 * rng_*, including 0-dim and broadcast shapes where the op allows them.
 * test_family_cases runs them all and fails if an AGI_DOM_NONE row has no
 * case. Inputs from gc_leaf are freed by gc_expect. */
typedef struct gc_case {
    int op;                    /* the table row the case checks */
    const char *what;
    void (*run)(void);
} gc_case;

/* A leaf of the given shape, uniform in [lo, hi), requiring grad. */
static ag_tensor *gc_leaf(int ndim, const int64_t *dims, double lo, double hi)
{
    ag_tensor *x = ag_tensor_new(ndim, dims, NULL, true);
    assert_non_null(x);
    for (int64_t i = 0; i < ag_numel(x); i++)
        ag_data(x)[i] = (float)rng_uniform(lo, hi);
    return x;
}

static long gc_checked;        /* elements compared by all family cases */

/* Asserts that f's gradients pass ag_gradcheck with the default tolerances
 * (atol 1e-3, rtol 1e-2 at step 1e-3), then frees the n inputs. */
static inline void gc_expect(ag_fn f, void *ud, int n, ag_tensor **in, const char *what)
{
    ag_gradcheck_report rep;
    ag_status st = ag_gradcheck(f, ud, n, in, NULL, &rep);
    if (st != AG_OK)
        print_error("%s: %s\n", what, ag_last_error());
    assert_int_equal(st, AG_OK);
    gc_checked += (long)rep.checked;
    for (int k = 0; k < n; k++)
        ag_tensor_free(in[k]);
}

#include "gc_act.inc"
#include "gc_shape.inc"
#include "gc_reduce.inc"
#include "gc_linalg.inc"
#include "gc_loss.inc"
#include "gc_ew.inc"

#include "gc_sort.inc"

static const gc_case *const GC_FAMILIES[] = { GC_ACT, GC_SHAPE, GC_REDUCE, GC_LINALG, GC_LOSS,
                                              GC_EW, GC_SCAN, GC_INDEX };

/* ---- tests ---- */

/* Every family case; every AGI_DOM_NONE op has at least one. */
static void test_family_cases(void **state)
{
    (void)state;
    rng_state = 0x5851F42D4C957F2DULL;
    bool covered[AGI_OP_COUNT] = { false };
    for (size_t f = 0; f < sizeof GC_FAMILIES / sizeof GC_FAMILIES[0]; f++)
        for (const gc_case *c = GC_FAMILIES[f]; c->run; c++) {
            assert_true(c->op >= 0 && c->op < AGI_OP_COUNT);
            long before = gc_checked;
            c->run();
            printf("# %-14s %-40s %6ld elements checked\n", agi_ops[c->op].name, c->what,
                   gc_checked - before);
            assert_true(gc_checked > before);
            covered[c->op] = true;
        }
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        if (agi_ops[op].domain == AGI_DOM_NONE && !covered[op])
            print_error("op \"%s\" has no case in tests/gc_*.inc\n", agi_ops[op].name);
        assert_true(agi_ops[op].domain != AGI_DOM_NONE || covered[op]);
    }
}

/* ---- ag_gradcheck itself ---- */

static ag_tensor *f_sin_mul(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_mul(t, ag_sin(t, in[0]), in[1]);          /* sin(a) * b, broadcast */
}

/* x * detach(x): backward sees x, the differences 2x */
static ag_tensor *f_wrong(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_mul(t, in[0], ag_detach(t, in[0]));
}

static ag_tensor *f_null(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)t;
    (void)in;
    (void)ud;
    return NULL;
}

/* An output whose shape depends on the input's value: (1) at the point
 * checked, (1000) once x0 + eps passes 1. */
static ag_tensor *f_grows(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    const int64_t one = 1, n = ag_data(in[0])[0] > 1.0f ? 1000 : 1;
    return ag_expand(t, ag_reshape(t, in[0], 1, &one), 1, &n);
}

static ag_tensor *f_bad_shape(ag_tape *t, ag_tensor *const *in, void *ud)
{
    (void)ud;
    return ag_add(t, in[0], in[1]);
}

static void test_public_gradcheck(void **state)
{
    (void)state;
    const int64_t sa[2] = { 2, 3 }, sb[1] = { 3 };
    ag_tensor *in[2] = { gc_leaf(2, sa, -2, 2), gc_leaf(1, sb, -2, 2) };
    float before[6];
    memcpy(before, ag_data(in[0]), sizeof before);
    ag_gradcheck_report rep;
    assert_int_equal(ag_gradcheck(f_sin_mul, NULL, 2, in, NULL, &rep), AG_OK);
    assert_int_equal(rep.checked, 9);
    assert_true(rep.ratio <= 1.0);
    /* the caller's tensors are untouched: same data, no grad */
    assert_memory_equal(before, ag_data(in[0]), sizeof before);
    assert_null(ag_grad(in[0]));
    assert_null(ag_grad(in[1]));
    /* inputs that do not require grad are not checked */
    ag_set_requires_grad(in[1], false);
    assert_int_equal(ag_gradcheck(f_sin_mul, NULL, 2, in, NULL, &rep), AG_OK);
    assert_int_equal(rep.checked, 6);
    ag_set_requires_grad(in[1], true);

    /* a wrong gradient is found, with the worst element reported */
    ag_tensor *x = gc_leaf(1, sb, 0.5, 2);
    assert_int_equal(ag_gradcheck(f_wrong, NULL, 1, &x, NULL, &rep), AG_ERR_GRAD);
    assert_int_equal(rep.input, 0);
    assert_true(rep.index >= 0 && rep.index < 3);
    assert_close(rep.numeric, 2.0 * rep.analytic, 1e-2);
    assert_true(rep.ratio > 1.0);
    assert_contains(ag_last_error(), "ag_gradcheck: input 0 element");
    /* ... unless the tolerance is loose enough */
    ag_gradcheck_opts loose = { .rtol = 0.9, .atol = 1e-3 };
    assert_int_equal(ag_gradcheck(f_wrong, NULL, 1, &x, &loose, &rep), AG_OK);

    /* bad arguments and failing functions are errors, not crashes */
    assert_int_equal(ag_gradcheck(NULL, NULL, 1, &x, NULL, &rep), AG_ERR_ARG);
    assert_int_equal(ag_gradcheck(f_wrong, NULL, 0, &x, NULL, &rep), AG_ERR_ARG);
    assert_int_equal(ag_gradcheck(f_wrong, NULL, 1, NULL, NULL, NULL), AG_ERR_ARG);
    ag_tensor *nul[1] = { NULL };
    assert_int_equal(ag_gradcheck(f_wrong, NULL, 1, nul, NULL, NULL), AG_ERR_ARG);
    assert_int_equal(ag_gradcheck(f_null, NULL, 1, &x, NULL, NULL), AG_ERR_ARG);
    assert_contains(ag_last_error(), "returned NULL");
    const int64_t s4[1] = { 4 };
    ag_tensor *bad[2] = { x, gc_leaf(1, s4, -1, 1) };
    assert_int_equal(ag_gradcheck(f_bad_shape, NULL, 2, bad, NULL, NULL), AG_ERR_SHAPE);
    assert_contains(ag_last_error(), "ag_add: shapes (3) and (4) cannot be broadcast");
    ag_tensor_free(bad[1]);
    /* an output that changes shape is reported before it is projected (the
     * projection reads a vector of the first output's size) */
    ag_tensor *g = ag_scalar(0.9995f, true);
    assert_int_equal(ag_gradcheck(f_grows, NULL, 1, &g, NULL, &rep), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_gradcheck: the function's output changed shape");
    ag_tensor_free(g);
    ag_tensor_free(x);

    /* every allocation gradcheck makes can fail: AG_ERR_NOMEM with a message
     * naming ag_gradcheck (the seed's failure named ag_tensor_new, found by
     * tests/fuzz/fuzz_api), nothing leaked, the inputs untouched */
    ag_status st = AG_ERR_NOMEM;
    for (uint64_t k = 1; st != AG_OK; k++) {
        assert_true(k < 100);
        tu_alloc a;
        tu_alloc_use(&a);
        a.fail_at = k;
        st = ag_gradcheck(f_sin_mul, NULL, 2, in, NULL, &rep);
        tu_alloc_restore();
        if (st != AG_OK) {
            assert_int_equal(st, AG_ERR_NOMEM);
            assert_contains(ag_last_error(), "ag_gradcheck: ");
        }
        assert_int_equal(a.outstanding, 0);
        assert_int_equal(a.bad_frees, 0);
        assert_memory_equal(before, ag_data(in[0]), sizeof before);
        assert_null(ag_grad(in[0]));
    }
    ag_tensor_free(in[0]);
    ag_tensor_free(in[1]);
}

/* No row of the table is half filled, and names are unique. */
static void test_table_complete(void **state)
{
    (void)state;
    assert_true(AGI_OP_COUNT > 0);
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        const agi_op_def *def = &agi_ops[op];
        assert_non_null(def->name);
        assert_non_null(def->api);
        assert_non_null(def->grad_fn);
        assert_non_null(def->shape);
        assert_non_null(def->forward);
        assert_non_null(def->backward);
        assert_true(def->n_inputs == -1 || def->n_inputs == 1 || def->n_inputs == 2);
        assert_true(def->domain == AGI_DOM_REAL || def->domain == AGI_DOM_POS ||
                    def->domain == AGI_DOM_NONE || def->domain == AGI_DOM_NOGRAD);
        /* the generic checks below drive ops through agi_record with one
         * float parameter and inputs of one shape or broadcast shapes */
        if (def->domain < AGI_DOM_NONE)
            assert_true(def->shape == agi_shape_same || def->shape == agi_shape_bcast);
        assert_true(strlen(def->name) > 0);
        assert_true(strlen(def->grad_fn) > 0);
        assert_true(strncmp(def->api, "ag_", 3) == 0);
        assert_string_equal(def->api + 3, def->name);
        for (int o = 0; o < op; o++)
            assert_string_not_equal(agi_ops[o].name, def->name);
    }
}

/* Every op, every parameter it reads, every shape. */
static void test_gradients(void **state)
{
    (void)state;
    rng_state = 0x2545F4914F6CDD1DULL;
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        const agi_op_def *def = &agi_ops[op];
        if (def->domain >= AGI_DOM_NONE)
            continue;          /* checked by its own cases (gc_*.inc) */
        const bool param = uses_param(op);
        const size_t np = param ? N_PARAMS : 1;
        stats st = { 0, 0, 0.0 };
        for (size_t pi = 0; pi < np; pi++) {
            const float p = param ? PARAMS[pi] : 0.0f;
            for (int round = 0; round < N_ROUNDS; round++) {
                shape us[N_UNARY_SHAPES];
                unary_shapes(us);
                for (int s = 0; s < N_UNARY_SHAPES; s++) {
                    shape pair[2] = { us[s], us[s] };
                    check_op(op, p, pair, &st);
                }
            }
            if (def->n_inputs != 2)
                continue;
            for (size_t s = 0; s < N_BCAST_PAIRS; s++) {
                shape pair[2] = { BCAST_PAIRS[s][0], BCAST_PAIRS[s][1] };
                check_op(op, p, pair, &st);
                shape swapped[2] = { pair[1], pair[0] };
                check_op(op, p, swapped, &st);
            }
            for (int s = 0; s < N_RANDOM_PAIRS; s++) {
                shape pair[2];
                random_bcast_pair(&pair[0], &pair[1]);
                check_op(op, p, pair, &st);
            }
        }
        printf("# %-12s params %-3s %5ld elements checked, %ld kinks skipped, "
               "worst error %.2f of tolerance\n",
               def->name, param ? "yes" : "no", st.checked, st.skipped, st.worst);
        assert_true(st.checked > 0);
        /* the domains avoid kinks: skipping must stay rare, or the check is empty */
        assert_true(st.skipped * 50 <= st.checked);
    }
}

/* The forward of every broadcasting op, element by element. */
static void test_bcast_forward(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15ULL;
    int n_bcast = 0;
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        if (agi_ops[op].shape != agi_shape_bcast || agi_ops[op].domain >= AGI_DOM_NONE)
            continue;
        n_bcast++;
        for (size_t s = 0; s < N_BCAST_PAIRS; s++) {
            check_bcast_forward(op, &BCAST_PAIRS[s][0], &BCAST_PAIRS[s][1]);
            check_bcast_forward(op, &BCAST_PAIRS[s][1], &BCAST_PAIRS[s][0]);
        }
        for (int s = 0; s < 4 * N_RANDOM_PAIRS; s++) {
            shape a, b;
            random_bcast_pair(&a, &b);
            check_bcast_forward(op, &a, &b);
        }
    }
    assert_true(n_bcast > 0);
}

/* Empty tensors: every op records, and backward gives empty gradients. */
static void test_empty(void **state)
{
    (void)state;
    const shape shapes[][2] = {
        { { 1, { 0 } }, { 1, { 0 } } },
        { { 2, { 2, 0 } }, { 2, { 1, 0 } } },
        { { 2, { 0, 3 } }, { 0, { 0 } } },
    };
    for (int op = 0; op < AGI_OP_COUNT; op++) {
        const agi_op_def *def = &agi_ops[op];
        if (def->domain >= AGI_DOM_NONE)
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            ag_tensor *in[2] = { NULL };
            for (int k = 0; k < def->n_inputs; k++)
                in[k] = random_leaf(&shapes[s][k], def->domain, true);
            ag_tape *t = ag_tape_new();
            ag_tensor *out = record(t, op, in, 2.0f);
            assert_int_equal(ag_numel(out), 0);
            ag_tensor *seed = ag_tensor_new(out->ndim, out->shape, NULL, false);
            assert_int_equal(ag_backward_seed(t, out, seed), AG_OK);
            for (int k = 0; k < def->n_inputs; k++) {
                assert_non_null(ag_grad(in[k]));
                assert_shape(ag_grad(in[k]), in[k]->ndim, in[k]->shape);
                for (int64_t j = 0; j < in[k]->numel; j++)
                    assert_float_eq(ag_grad(in[k])->data[j], 0.0f);
                ag_tensor_free(in[k]);
            }
            ag_tensor_free(seed);
            ag_tape_free(t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_bcast_forward),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_public_gradcheck),
        cmocka_unit_test(test_family_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
