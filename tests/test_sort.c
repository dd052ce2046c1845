/* test_sort.c - the ops that produce indices (src/ops/sort.c): argmax,
 * argmin, max/min with indices, sort, argsort and topk.
 *
 * Their values are checked against PyTorch in test_reference; here, against
 * a plain C model of PyTorch's rules over many random shapes and dtypes (a
 * qsort on (value, index) with NaN above every number and -0 equal to 0,
 * the order of PyTorch's stable sort; a scan for argmax's first extremum),
 * with ties, NaN and infinities mixed in, long rows (the radix sort) and
 * short ones (insertion sort), every dim. Also: the gradient lands where the
 * indices say, writing into the returned indices changes no gradient, the
 * results are bit-identical for 1, 2 and 3 threads, rows of 2^18
 * elements in adversarial orders sort quickly (no quadratic case), the
 * errors and their messages, and allocation failures at every point. */
#include "testutil.h"
#include "internal.h"

#include <time.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rnd_int(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

/* A value for a float tensor: mostly few distinct values (ties), some NaN,
 * infinities and zeros of both signs, some spread out. */
static float rnd_float(void)
{
    switch (rnd_int(0, 15)) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0f;
    case 4: return -0.0f;
    case 5: case 6: return (float)((double)(rnd() >> 11) * 0x1.0p-53 * 200.0 - 100.0);
    case 7: return -NAN;
    default: return (float)rnd_int(-3, 3);
    }
}

static int64_t rnd_i64(void)
{
    switch (rnd_int(0, 7)) {
    case 0: return INT64_MIN;
    case 1: return INT64_MAX;
    case 2: return (int64_t)rnd();
    default: return rnd_int(-3, 3);
    }
}

/* A random leaf of dtype dt and shape s (float32 ones require grad). */
static ag_tensor *rnd_leaf(int dt, int nd, const int64_t *s)
{
    ag_tensor *x = dt == AG_FLOAT32 ? ag_tensor_new(nd, s, NULL, true)
                 : dt == AG_INT64 ? ag_tensor_i64(nd, s, NULL) : ag_tensor_bool(nd, s, NULL);
    assert_non_null(x);
    for (int64_t i = 0; i < ag_numel(x); i++) {
        if (dt == AG_FLOAT32)
            ag_data(x)[i] = rnd_float();
        else if (dt == AG_INT64)
            ag_data_i64(x)[i] = rnd_i64();
        else
            ag_data_bool(x)[i] = rnd_int(0, 1);
    }
    return x;
}

/* element i of x as a double (int64 exactly enough to compare: see cmp_elem) */
typedef struct elem {
    int dt;
    float f;
    int64_t i;
    int64_t idx;
    bool desc;
} elem;

static elem elem_at(const ag_tensor *x, int64_t i)
{
    elem e = { x->dtype, 0.0f, 0, 0, false };
    if (x->dtype == AG_FLOAT32)
        e.f = x->data[i];
    else if (x->dtype == AG_INT64)
        e.i = agi_i64(x)[i];
    else
        e.i = agi_b8(x)[i];
    return e;
}

/* PyTorch's order of values: -1, 0 or 1 (NaN above everything, NaNs equal,
 * -0 equal to 0). */
static int cmp_value(const elem *a, const elem *b)
{
    if (a->dt == AG_FLOAT32) {
        const bool na = isnan(a->f), nb = isnan(b->f);
        if (na || nb)
            return na && nb ? 0 : na ? 1 : -1;
        return a->f < b->f ? -1 : a->f > b->f;
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

/* the stable sort's order: by value (reversed if descending), then index */
static int cmp_elem(const void *pa, const void *pb)
{
    const elem *a = pa, *b = pb;
    int c = cmp_value(a, b);
    if (a->desc)
        c = -c;
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

typedef struct slices {
    int64_t outer, d, inner;
} slices;

static slices slices_of(int nd, const int64_t *s, int dim)
{
    slices r = { 1, 1, 1 };
    for (int i = 0; i < nd; i++) {
        if (i < dim)
            r.outer *= s[i];
        else if (i == dim)
            r.d = s[i];
        else
            r.inner *= s[i];
    }
    return r;
}

/* Whether out's element o equals x's element i, bit for bit. */
static bool same_elem(const ag_tensor *out, int64_t o, const ag_tensor *x, int64_t i)
{
    if (x->dtype == AG_FLOAT32)
        return memcmp(&out->data[o], &x->data[i], sizeof(float)) == 0;
    if (x->dtype == AG_INT64)
        return agi_i64(out)[o] == agi_i64(x)[i];
    return agi_b8(out)[o] == agi_b8(x)[i];
}

/* Checks values (m per slice along dim) and indices against the model:
 * the first m of each slice sorted by cmp_elem. */
static void check_sorted(const ag_tensor *x, int dim, bool desc, int64_t m,
                         const ag_tensor *vals, const ag_tensor *ix, const char *what)
{
    const slices s = slices_of(x->ndim, x->shape, dim);
    elem *e = malloc((size_t)(s.d > 0 ? s.d : 1) * sizeof *e);
    assert_non_null(e);
    assert_int_equal(ag_dtype_of(ix), AG_INT64);
    assert_int_equal(ag_dtype_of(vals), ag_dtype_of(x));
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t j = 0; j < s.inner; j++) {
            for (int64_t d = 0; d < s.d; d++) {
                e[d] = elem_at(x, (o * s.d + d) * s.inner + j);
                e[d].idx = d;
                e[d].desc = desc;
            }
            qsort(e, (size_t)s.d, sizeof *e, cmp_elem);
            for (int64_t i = 0; i < m; i++) {
                const int64_t r = (o * m + i) * s.inner + j;
                if (agi_i64(ix)[r] != e[i].idx)
                    print_error("%s: slice (%lld,%lld) element %lld: index %lld, expected %lld\n",
                                what, (long long)o, (long long)j, (long long)i,
                                (long long)agi_i64(ix)[r], (long long)e[i].idx);
                assert_int_equal(agi_i64(ix)[r], e[i].idx);
                assert_true(same_elem(vals, r, x, (o * s.d + e[i].idx) * s.inner + j));
            }
        }
    free(e);
}

/* A random shape of 0..3 dims with at most about 3000 elements; one dim may
 * be long (up to 200: past the insertion sort's 32). */
static int rnd_shape(int64_t *s)
{
    const int nd = rnd_int(0, 3);
    const int longdim = rnd_int(0, 3);
    for (int i = 0; i < nd; i++)
        s[i] = i == longdim ? rnd_int(0, 200) : rnd_int(1, 6);
    return nd;
}

static const int DTYPES[3] = { AG_FLOAT32, AG_INT64, AG_BOOL };

static void test_sort_model(void **state)
{
    (void)state;
    for (int r = 0; r < 600; r++) {
        int64_t s[AG_MAX_DIMS];
        const int nd = rnd_shape(s);
        const int dt = DTYPES[r % 3];
        ag_tensor *x = rnd_leaf(dt, nd, s);
        const int range = nd > 0 ? nd : 1, dim = rnd_int(0, range - 1);
        const int adim = rnd_int(0, 1) ? dim - range : dim;
        const bool desc = rnd_int(0, 1), stable = rnd_int(0, 1);
        char what[128], sb[64];
        snprintf(what, sizeof what, "sort %s %s dim %d desc %d", ag_dtype_name((ag_dtype)dt),
                 agi_shape_str(sb, sizeof sb, nd, s), adim, (int)desc);
        ag_tape *t = ag_tape_new();
        ag_tensor *ix = NULL;
        ag_tensor *v = ag_sort(t, x, adim, desc, stable, &ix);
        ag_tensor *as = ag_argsort(t, x, adim, desc, !stable);
        assert_int_equal(ag_tape_status(t), AG_OK);
        assert_non_null(v);
        assert_non_null(ix);
        assert_int_equal(ag_ndim(v), nd);
        assert_int_equal(ag_ndim(ix), nd);
        assert_memory_equal(ag_shape(v), s, (size_t)nd * sizeof(int64_t));
        assert_memory_equal(ag_shape(ix), s, (size_t)nd * sizeof(int64_t));
        assert_true(ag_requires_grad(v) == (dt == AG_FLOAT32));
        assert_false(ag_requires_grad(ix));
        assert_true(ag_is_leaf(ix));
        check_sorted(x, dim, desc, slices_of(nd, s, dim).d, v, ix, what);
        /* argsort: the same indices, whatever stable says */
        assert_int_equal(ag_dtype_of(as), AG_INT64);
        assert_false(ag_requires_grad(as));
        if (ag_numel(ix) > 0)
            assert_memory_equal(agi_i64(as), agi_i64(ix), (size_t)ag_numel(ix) * sizeof(int64_t));
        if (dt != AG_BOOL) {   /* topk: the first k of the sort */
            const int64_t size = nd > 0 ? s[dim] : 1;
            const int64_t k = nd > 0 ? rnd_int(0, (int)size) : rnd_int(0, 1);
            const bool largest = rnd_int(0, 1);
            ag_tensor *kix = NULL;
            ag_tensor *kv = ag_topk(t, x, k, adim, largest, rnd_int(0, 1), &kix);
            assert_int_equal(ag_tape_status(t), AG_OK);
            int64_t ks[AG_MAX_DIMS];
            memcpy(ks, s, sizeof ks);
            if (nd > 0)
                ks[dim] = k;
            assert_int_equal(ag_ndim(kv), nd);
            assert_memory_equal(ag_shape(kv), ks, (size_t)nd * sizeof(int64_t));
            assert_memory_equal(ag_shape(kix), ks, (size_t)nd * sizeof(int64_t));
            snprintf(what, sizeof what, "topk %s %s k %lld dim %d largest %d",
                     ag_dtype_name((ag_dtype)dt), agi_shape_str(sb, sizeof sb, nd, s),
                     (long long)k, adim, (int)largest);
            check_sorted(x, dim, largest, nd > 0 ? k : 1, kv, kix, what);
        }
        ag_tape_free(t);
        ag_tensor_free(x);
    }
}

/* argmax/argmin and max/min with indices against a scan for the first
 * extremum (NaN first of all). */
static void test_argmax_model(void **state)
{
    (void)state;
    for (int r = 0; r < 600; r++) {
        int64_t s[AG_MAX_DIMS];
        const int nd = rnd_shape(s);
        const int dt = DTYPES[r % 3];
        ag_tensor *x = rnd_leaf(dt, nd, s);
        const int range = nd > 0 ? nd : 1, dim = rnd_int(0, range - 1);
        const bool keep = rnd_int(0, 1), is_max = rnd_int(0, 1);
        ag_tape *t = ag_tape_new();
        const slices sl = slices_of(nd, s, dim);
        const bool empty_dim = nd > 0 && s[dim] == 0;
        ag_tensor *mix = NULL;
        ag_tensor *mv = (is_max ? ag_max_with_indices : ag_min_with_indices)(t, x, dim, keep, &mix);
        if (empty_dim) {
            assert_null(mv);
            assert_null(mix);
            assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
            assert_contains(ag_tape_error(t), is_max ? "ag_max_with_indices: " : "ag_min_with_indices: ");
            ag_tape_reset(t);
        } else {
            assert_int_equal(ag_tape_status(t), AG_OK);
            assert_int_equal(ag_dtype_of(mv), ag_dtype_of(x));
            assert_true(ag_requires_grad(mv) == (dt == AG_FLOAT32));
        }
        ag_tensor *am = dt == AG_BOOL ? NULL
                      : (is_max ? ag_argmax : ag_argmin)(t, x, rnd_int(0, 1) ? dim - range : dim, keep);
        if (dt != AG_BOOL && empty_dim) {
            assert_null(am);
            assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
            ag_tape_reset(t);
            am = NULL;
        }
        /* the model, slice by slice */
        for (int64_t o = 0; !empty_dim && o < sl.outer; o++)
            for (int64_t j = 0; j < sl.inner; j++) {
                int64_t best = 0;
                for (int64_t d = 1; d < sl.d; d++) {
                    elem e = elem_at(x, (o * sl.d + d) * sl.inner + j);
                    elem b = elem_at(x, (o * sl.d + best) * sl.inner + j);
                    const bool bn = dt == AG_FLOAT32 && isnan(b.f);
                    const bool en = dt == AG_FLOAT32 && isnan(e.f);
                    const int c = cmp_value(&e, &b);
                    if (!bn && (en || (is_max ? c > 0 : c < 0)))
                        best = d;
                }
                const int64_t ro = o * sl.inner + j;
                assert_int_equal(agi_i64(mix)[ro], best);
                assert_true(same_elem(mv, ro, x, (o * sl.d + best) * sl.inner + j));
                if (am)
                    assert_int_equal(agi_i64(am)[ro], best);
            }
        if (am) {
            assert_int_equal(ag_dtype_of(am), AG_INT64);
            assert_int_equal(ag_ndim(am), nd > 0 && !keep ? nd - 1 : nd);
        }
        /* over every element: the flat index of the first extremum */
        if (dt != AG_BOOL) {
            ag_tensor *aa = (is_max ? ag_argmax_all : ag_argmin_all)(t, x, keep);
            if (ag_numel(x) == 0) {
                assert_null(aa);
                assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
                assert_contains(ag_tape_error(t), is_max ? "ag_argmax_all: " : "ag_argmin_all: ");
            } else {
                int64_t best = 0;
                for (int64_t i = 1; i < ag_numel(x); i++) {
                    elem e = elem_at(x, i), b = elem_at(x, best);
                    const bool bn = dt == AG_FLOAT32 && isnan(b.f);
                    const bool en = dt == AG_FLOAT32 && isnan(e.f);
                    const int c = cmp_value(&e, &b);
                    if (!bn && (en || (is_max ? c > 0 : c < 0)))
                        best = i;
                }
                assert_int_equal(ag_ndim(aa), keep ? nd : 0);
                for (int i = 0; keep && i < nd; i++)
                    assert_int_equal(ag_shape(aa)[i], 1);
                assert_int_equal(ag_item_i64(aa), best);
            }
        }
        ag_tape_free(t);
        ag_tensor_free(x);
    }
}

/* The gradient of sort, topk and max values goes to the elements the
 * indices name (ties included), and the returned indices are a copy:
 * writing into them changes nothing. */
static void test_gradient_scatter(void **state)
{
    (void)state;
    const int64_t s[2] = { 3, 40 };
    for (int which = 0; which < 3; which++)
        for (int dim = 0; dim < 2; dim++) {
            ag_tensor *x = ag_tensor_new(2, s, NULL, true);
            for (int64_t i = 0; i < ag_numel(x); i++)
                ag_data(x)[i] = (float)rnd_int(0, 2);          /* ties everywhere */
            ag_data(x)[5] = NAN;
            ag_tape *t = ag_tape_new();
            ag_tensor *ix = NULL, *v;
            if (which == 0)
                v = ag_sort(t, x, dim, dim == 1, false, &ix);
            else if (which == 1)
                v = ag_topk(t, x, 2, dim, dim == 0, true, &ix);
            else
                v = ag_max_with_indices(t, x, dim, true, &ix);
            assert_non_null(v);
            ag_tensor *seed = ag_tensor_new(ag_ndim(v), ag_shape(v), NULL, false);
            for (int64_t i = 0; i < ag_numel(seed); i++)
                ag_data(seed)[i] = (float)(i + 1);
            /* the indices before any change, then scribbled over */
            int64_t *keep = malloc((size_t)ag_numel(ix) * sizeof *keep);
            memcpy(keep, ag_data_i64(ix), (size_t)ag_numel(ix) * sizeof *keep);
            for (int64_t i = 0; i < ag_numel(ix); i++)
                ag_data_i64(ix)[i] = INT64_MIN + i;
            assert_int_equal(ag_backward_seed(t, v, seed), AG_OK);
            float *want = calloc((size_t)ag_numel(x), sizeof *want);
            const slices sl = slices_of(2, s, dim);
            const int64_t m = ag_shape(v)[dim];
            for (int64_t o = 0; o < sl.outer; o++)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < sl.inner; j++) {
                        const int64_t r = (o * m + i) * sl.inner + j;
                        want[(o * sl.d + keep[r]) * sl.inner + j] += ag_data(seed)[r];
                    }
            tu_assert_same_bits(ag_data(ag_grad(x)), want, ag_numel(x), "scattered gradient");
            free(want);
            free(keep);
            ag_tensor_free(seed);
            ag_tape_free(t);
            ag_tensor_free(x);
        }
}

/* Values and indices only where asked; no grad in no-grad mode; argsort
 * leaves the tape's grad mode as it was; the grad_fn names. */
static void test_options(void **state)
{
    (void)state;
    const float d[5] = { 3, 1, 2, 1, 5 };
    ag_tensor *x = tu_vec(5, d, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *v = ag_sort(t, x, 0, false, false, NULL);
    assert_non_null(v);
    char buf[160];
    ag_snprint(buf, sizeof buf, v);
    assert_string_equal(buf, "tensor([1., 1., 2., 3., 5.], grad_fn=<SortBackward0>)");
    ag_snprint(buf, sizeof buf, ag_sort(t, x, -1, true, true, NULL));
    assert_string_equal(buf, "tensor([5., 3., 2., 1., 1.], grad_fn=<SortBackward1>)");
    ag_snprint(buf, sizeof buf, ag_topk(t, x, 2, 0, true, false, NULL));
    assert_string_equal(buf, "tensor([5., 3.], grad_fn=<TopkBackward0>)");
    ag_snprint(buf, sizeof buf, ag_max_with_indices(t, x, 0, false, NULL));
    assert_string_equal(buf, "tensor(5., grad_fn=<MaxBackward0>)");
    ag_snprint(buf, sizeof buf, ag_min_with_indices(t, x, 0, true, NULL));
    assert_string_equal(buf, "tensor([1.], grad_fn=<MinBackward0>)");
    /* topk smallest: ties by the lower index */
    ag_tensor *ix = NULL;
    ag_topk(t, x, 2, 0, false, true, &ix);
    assert_int_equal(ag_data_i64(ix)[0], 1);
    assert_int_equal(ag_data_i64(ix)[1], 3);
    /* argsort in both grad modes */
    ag_tensor *as = ag_argsort(t, x, 0, true, false);
    assert_non_null(as);
    const int64_t want[5] = { 4, 0, 2, 1, 3 };
    assert_memory_equal(ag_data_i64(as), want, sizeof want);
    assert_true(ag_tape_set_grad_enabled(t, false));
    assert_non_null(ag_argsort(t, x, 0, true, false));
    v = ag_sort(t, x, 0, false, false, &ix);
    assert_false(ag_requires_grad(v));
    assert_false(ag_tape_set_grad_enabled(t, true));
    assert_true(ag_requires_grad(ag_topk(t, x, 1, 0, true, true, NULL)));
    /* the indices belong to the tape: ag_tensor_free ignores them */
    ag_tensor_free(ix);
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(x);
}

/* Errors: a message naming the function, *indices NULL, nothing changed. */
static void test_errors(void **state)
{
    (void)state;
    const int64_t s23[2] = { 2, 3 }, s20[2] = { 2, 0 };
    ag_tensor *x = ag_ones(2, s23, true), *e = ag_zeros(2, s20, false);
    ag_tensor *b = ag_tensor_bool(2, s23, NULL);
    ag_tape *t = ag_tape_new(), *other = ag_tape_new();
    ag_tensor *ix = x;

    assert_null(ag_sort(NULL, x, 0, false, false, &ix));
    assert_null(ix);
    assert_contains(ag_last_error(), "ag_sort: tape is NULL");
    assert_null(ag_argsort(NULL, x, 0, false, false));
    assert_contains(ag_last_error(), "ag_argsort: tape is NULL");
    assert_null(ag_argmax_all(NULL, x, false));
    assert_contains(ag_last_error(), "ag_argmax_all: tape is NULL");

    struct { ag_status st; const char *msg; } cases[] = {
        { AG_ERR_ARG, "ag_topk: k 4 is out of range [0, 3] of dim 1 of input of shape (2,3)" },
        { AG_ERR_ARG, "ag_topk: k -1 is out of range [0, 3] of dim 1 of input of shape (2,3)" },
        { AG_ERR_ARG, "ag_topk: expected a float32 or int64 input, got bool" },
        { AG_ERR_ARG, "ag_sort: dimension 2 is out of range for input of shape (2,3) "
                      "(expected to be in range of [-2, 1])" },
        { AG_ERR_ARG, "ag_argsort: dimension -3 is out of range" },
        { AG_ERR_ARG, "ag_argmax: expected a float32 or int64 input, got bool" },
        { AG_ERR_ARG, "ag_argmin_all: expected a float32 or int64 input, got bool" },
        { AG_ERR_SHAPE, "ag_argmin: reduction dim 1 of input of shape (2,0) has size 0" },
        { AG_ERR_SHAPE, "ag_argmax_all: the input of shape (2,0) is empty" },
        { AG_ERR_SHAPE, "ag_max_with_indices: reduction dim 1 of input of shape (2,0) has size 0" },
        { AG_ERR_ARG, "ag_min_with_indices: input is NULL" },
        { AG_ERR_TAPE, "ag_topk: input was recorded on another tape" },
        { AG_ERR_ARG, "ag_argmax: dimension 5 is out of range" },
    };
    ag_tensor *foreign = ag_exp(other, x);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ag_tape_reset(t);
        ix = x;
        ag_tensor *y = NULL;
        switch (k) {
        case 0: y = ag_topk(t, x, 4, 1, true, true, &ix); break;
        case 1: y = ag_topk(t, x, -1, -1, true, true, &ix); break;
        case 2: y = ag_topk(t, b, 1, 0, true, true, &ix); break;
        case 3: y = ag_sort(t, x, 2, false, false, &ix); break;
        case 4: ix = NULL; y = ag_argsort(t, x, -3, false, false); break;
        case 5: ix = NULL; y = ag_argmax(t, b, 0, false); break;
        case 6: ix = NULL; y = ag_argmin_all(t, b, true); break;
        case 7: ix = NULL; y = ag_argmin(t, e, 1, false); break;
        case 8: ix = NULL; y = ag_argmax_all(t, e, false); break;
        case 9: y = ag_max_with_indices(t, e, -1, false, &ix); break;
        case 10: y = ag_min_with_indices(t, NULL, 0, false, &ix); break;
        case 11: y = ag_topk(t, foreign, 1, 0, true, true, &ix); break;
        default: ix = NULL; y = ag_argmax(t, x, 5, false); break;
        }
        assert_null(y);
        assert_null(ix);
        assert_int_equal(ag_tape_status(t), cases[k].st);
        assert_contains(ag_tape_error(t), cases[k].msg);
        /* sticky: the next call fails too, and says nothing new */
        ix = x;
        assert_null(ag_sort(t, x, 0, false, false, &ix));
        assert_null(ix);
        assert_contains(ag_tape_error(t), cases[k].msg);
    }
    /* NULL indices is fine; x unchanged and without a grad */
    ag_tape_reset(t);
    assert_non_null(ag_topk(t, x, 3, 1, false, false, NULL));
    for (int64_t i = 0; i < 6; i++)
        assert_float_eq(ag_data(x)[i], 1.0f);
    assert_null(ag_grad(x));
    ag_tape_free(t);
    ag_tape_free(other);
    ag_tensor_free(x);
    ag_tensor_free(e);
    ag_tensor_free(b);
}

/* Every allocation of a sort, topk or max with indices refused in turn:
 * either the call succeeds or it fails with AG_ERR_NOMEM and NULLs; no leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    tu_alloc a;
    for (int op = 0; op < 3; op++) {
        int failures = 0;
        for (uint64_t fail = 1; fail < 40; fail++) {
            tu_alloc_use(&a);
            const int64_t s[2] = { 70, 300 };
            ag_tensor *x = ag_tensor_new(2, s, NULL, true);
            ag_tape *t = ag_tape_new();
            bool ok = false;
            if (x && t) {
                a.fail_at = a.requests + fail;
                ag_tensor *ix = x, *v;
                if (op == 0)
                    v = ag_sort(t, x, 1, false, true, &ix);
                else if (op == 1)
                    v = ag_topk(t, x, 5, 0, true, true, &ix);
                else
                    v = ag_max_with_indices(t, x, 0, true, &ix);
                ok = v != NULL;
                if (ok) {
                    assert_non_null(ix);
                    assert_int_equal(ag_tape_status(t), AG_OK);
                } else {
                    assert_null(ix);
                    assert_int_equal(ag_tape_status(t), AG_ERR_NOMEM);
                    assert_contains(ag_tape_error(t), "out of memory");
                    failures++;
                }
            }
            ag_tape_free(t);
            ag_tensor_free(x);
            tu_alloc_restore();
            assert_int_equal(a.outstanding, 0);
            assert_int_equal(a.bad_frees, 0);
            if (ok && a.failed == 0)
                break;              /* past the last allocation */
        }
        assert_true(failures >= 1);
    }
}

/* Results (values, indices, gradients) for 1, 2 and 3 threads, bit for bit,
 * over shapes on both sides of the parallel threshold: many short rows,
 * a few long ones, one very long, a sort over dim 0. */
typedef struct run_out {
    float *v, *g;
    int64_t *ix, nv, ng;
} run_out;

static run_out run_one(int op, int nd, const int64_t *s, int dim)
{
    ag_tensor *x = ag_tensor_new(nd, s, NULL, true);
    rng_state = 12345;
    for (int64_t i = 0; i < ag_numel(x); i++)
        ag_data(x)[i] = rnd_float();
    ag_tape *t = ag_tape_new();
    ag_tensor *ix = NULL;
    ag_tensor *v = op == 0 ? ag_sort(t, x, dim, true, false, &ix)
                           : ag_topk(t, x, 3, dim, false, true, &ix);
    assert_non_null(v);
    ag_tensor *seed = ag_tensor_new(ag_ndim(v), ag_shape(v), NULL, false);
    tu_fill(ag_data(seed), ag_numel(seed), 7, -1.0f, 1.0f);
    assert_int_equal(ag_backward_seed(t, v, seed), AG_OK);
    run_out r = { malloc((size_t)ag_numel(v) * sizeof(float)),
                  malloc((size_t)ag_numel(x) * sizeof(float)),
                  malloc((size_t)ag_numel(v) * sizeof(int64_t)), ag_numel(v), ag_numel(x) };
    memcpy(r.v, ag_data(v), (size_t)r.nv * sizeof(float));
    memcpy(r.g, ag_data(ag_grad(x)), (size_t)r.ng * sizeof(float));
    memcpy(r.ix, ag_data_i64(ix), (size_t)r.nv * sizeof(int64_t));
    ag_tensor_free(seed);
    ag_tape_free(t);
    ag_tensor_free(x);
    return r;
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    static const struct { int nd; int64_t s[3]; int dim; } shapes[] = {
        { 2, { 4096, 40 }, 1 }, { 2, { 6, 30000 }, 1 }, { 1, { 300000 }, 0 },
        { 2, { 3000, 50 }, 0 }, { 3, { 8, 100, 90 }, 1 }, { 2, { 100, 10 }, 1 },
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int op = 0; op < 2; op++) {
            run_out r[3];
            for (int n = 1; n <= 3; n++) {
                assert_int_equal(ag_set_num_threads(n), AG_OK);
                r[n - 1] = run_one(op, shapes[k].nd, shapes[k].s, shapes[k].dim);
            }
            for (int n = 1; n < 3; n++) {
                tu_assert_same_bits(r[0].v, r[n].v, r[0].nv, "values");
                tu_assert_same_bits(r[0].g, r[n].g, r[0].ng, "gradient");
                assert_memory_equal(r[0].ix, r[n].ix, (size_t)r[0].nv * sizeof(int64_t));
            }
            for (int n = 0; n < 3; n++) {
                free(r[n].v);
                free(r[n].g);
                free(r[n].ix);
            }
        }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

/* A row of 2^18 elements in orders that make naive quicksorts quadratic
 * (sorted, reversed, all equal, organ pipe, few values), float32 and int64:
 * sorted and stable, within a time no quadratic sort could meet. */
static void test_long_rows(void **state)
{
    (void)state;
    const int64_t n = (int64_t)1 << 18;
    const clock_t start = clock();
    for (int pattern = 0; pattern < 5; pattern++)
        for (int dt = 0; dt < 2; dt++) {
            ag_tensor *x = dt == 0 ? ag_tensor_new(1, &n, NULL, false) : ag_tensor_i64(1, &n, NULL);
            for (int64_t i = 0; i < n; i++) {
                int64_t v = pattern == 0 ? i : pattern == 1 ? n - i : pattern == 2 ? 7
                          : pattern == 3 ? (i < n / 2 ? i : n - i) : (int64_t)(rnd() % 5);
                if (dt == 0)
                    ag_data(x)[i] = (float)v;
                else
                    ag_data_i64(x)[i] = v * 1000003;
            }
            ag_tape *t = ag_tape_new();
            ag_tensor *ix = NULL;
            ag_tensor *v = ag_sort(t, x, 0, pattern & 1, false, &ix);
            assert_non_null(v);
            const int64_t *id = ag_data_i64(ix);
            for (int64_t i = 1; i < n; i++) {
                const elem a = elem_at(v, i - 1), b = elem_at(v, i);
                int c = cmp_value(&a, &b);
                if (pattern & 1)
                    c = -c;
                assert_true(c < 0 || (c == 0 && id[i - 1] < id[i]));
            }
            ag_tape_free(t);
            ag_tensor_free(x);
        }
    const double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
    printf("# 10 sorts of 2^18 elements: %.2f s of CPU\n", secs);
    assert_true(secs < 600.0);   /* (even under valgrind; a quadratic sort: hours) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_model),
        cmocka_unit_test(test_argmax_model),
        cmocka_unit_test(test_gradient_scatter),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_long_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
