/* ops/sort.c - the ops that produce indices: argmax/argmin, sort (and
 * argsort, its indices), topk; and torch.max/min over a dim with their
 * indices (the MAX and MIN rows of ops/reduce.c, whose forward saves them).
 *
 * Shapes: x (= in[0]) is viewed as (outer, D, inner) around the op's dim, as
 * in ops/reduce.c: slice (o, j), o < outer and j < inner, is the D elements
 * x[(o*D + d)*inner + j]. A 0-dim x is one slice of one element. argmax's
 * out has x's shape without dim (size 1 under keepdim); sort's has x's
 * shape; topk's x's shape with size k along dim (a 0-dim x gives a 0-dim
 * out for k 0 and 1, as PyTorch). Element (o, i, j) of a sort or topk
 * result is out[(o*m + i)*inner + j], m = D or k.
 *
 * call.ip: argmax/argmin: ip[0] the dim, ip[1] keepdim, ip[2] 1 for every
 * element (dim=None; D = numel, one slice). sort: ip[0] the dim, ip[1]
 * descending, ip[2] stable. topk: ip[0] the dim, ip[1] k, ip[2] largest.
 *
 * Indices: sort and topk save the index of each result element along dim
 * (int64, out's numel) at the start of out->save, where their backward reads
 * them: dx[(o*D + index)*inner + j] += dout at (o, i, j). Within a slice the
 * indices are distinct, so every dx element gets at most one term. The
 * indices tensor the caller receives is a copy (a tape-owned int64 leaf):
 * writing into it changes no gradient.
 *
 * Order: sort and topk order the elements of a slice by a key that is
 * increasing in the value (decreasing for descending / largest), with NaN
 * above every number (every NaN equal), -0 equal to 0, and ties broken by
 * the lower index: the order of a stable sort, PyTorch's for stable=True.
 * Two elements never compare equal (the index breaks every tie), so the
 * result does not depend on the algorithm: an LSD radix sort over the key's
 * bytes (stable, O(D) per pass; insertion sort below SORT_SMALL elements),
 * or for a topk of k <= D / 16, the k least kept in a heap, then sorted.
 * The keys sort with their index packed into one uint64 (key << 32 | index)
 * when D < 2^32 and the key has 32 bits (float32, bool), else as
 * (key, index) pairs. Slices are sorted in parallel, each whole by one task,
 * into its own scratch (the rest of out->save): the same bits for any
 * thread count. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- dims and slices ---- */



/* x's dtype is float32 or int64 (or bool, if allowed); else AG_ERR_ARG. */
static bool dtype_ok(ag_tape *t, const char *fn, const ag_tensor *x, bool allow_bool)
{
    if (x->dtype == AG_FLOAT32 || x->dtype == AG_INT64 || (allow_bool && x->dtype == AG_BOOL))
        return true;
    agi_fail(t, AG_ERR_ARG, "%s: expected a float32%s int64 input, got %s (as PyTorch, which "
             "does not implement it for %s)", fn, allow_bool ? ", bool or" : " or",
             agi_dtype_str(x->dtype), agi_dtype_str(x->dtype));
    return false;
}

/* The indices a sort, topk, max or min saved at the start of values->save,
 * as a new tape-owned int64 leaf of values's shape in *indices (if not
 * NULL). Returns values, or NULL if values is NULL or allocation fails. */
static ag_tensor *with_indices(ag_tape *t, const char *fn, ag_tensor *values,
                               ag_tensor **indices)
{
    if (!values || !indices)
        return values;
    ag_tensor *ix = agi_tape_alloc_dt(t, fn, values->ndim, values->shape, true, AG_INT64);
    if (!ix)
        return NULL;
    ix->flags = AGI_LEAF;
    if (ix->numel > 0)
        memcpy(ix->data, values->save, (size_t)ix->numel * sizeof(int64_t));
    *indices = ix;
    return values;
}

/* ---- argmax, argmin ----
 * The index of the first maximum (minimum) along the dim; a NaN counts as
 * larger (smaller) than every number, so the first NaN wins: PyTorch's CPU
 * kernel. Each block of up to ARG_BLOCK neighbouring slices walks its D rows
 * of contiguous elements, so a reduction over an outer dim streams. */

#define ARG_BLOCK 256

bool agi_argmax_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    char sb[160];
    if (!dtype_ok(t, fn, x, false))
        return false;
    const bool keep = c->ip[1] != 0;
    c->dtype = AG_INT64;
    if (c->ip[2]) {            /* every element: dim=None */
        if (x->numel == 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: the input of shape %s is empty (give a dim to reduce "
                     "over)", fn, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
            return false;
        }
        c->ip[0] = 0;
        c->ndim = keep ? x->ndim : 0;
        for (int i = 0; i < c->ndim; i++)
            c->shape[i] = 1;
        return true;
    }
    int d;
    if (!agi_wrap_dim(t, fn, x, c->ip[0], &d))
        return false;
    if (x->ndim > 0 && x->shape[d] == 0) {
        agi_fail(t, AG_ERR_SHAPE, "%s: reduction dim %d of input of shape %s has size 0", fn, d,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    c->ip[0] = d;
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d || keep)
            c->shape[nd++] = i == d ? 1 : x->shape[i];
    c->ndim = nd;
    return true;
}

/* better(v, best): v replaces the best so far (NaN wins, then is kept). */
#define ARG_SCAN(T, BETTER)                                                        \
    do {                                                                           \
        const T *xd = (const T *)(const void *)x->data;                            \
        for (int64_t o = 0; o < s.outer; o++) {                                    \
            for (int64_t j0 = 0; j0 < s.inner; j0 += ARG_BLOCK) {                  \
                const int64_t w = s.inner - j0 < ARG_BLOCK ? s.inner - j0 : ARG_BLOCK; \
                const T *x0 = xd + o * s.d * s.inner + j0;                         \
                T best[ARG_BLOCK];                                                 \
                int64_t bi[ARG_BLOCK];                                             \
                for (int64_t j = 0; j < w; j++) {                                  \
                    best[j] = x0[j];                                               \
                    bi[j] = 0;                                                     \
                }                                                                  \
                for (int64_t d = 1; d < s.d; d++) {                                \
                    const T *xr = x0 + d * s.inner;                                \
                    for (int64_t j = 0; j < w; j++) {                              \
                        const T v = xr[j], b = best[j];                            \
                        if (BETTER) {                                              \
                            best[j] = v;                                           \
                            bi[j] = d;                                             \
                        }                                                          \
                    }                                                              \
                }                                                                  \
                for (int64_t j = 0; j < w; j++)                                    \
                    y[o * s.inner + j0 + j] = bi[j];                               \
            }                                                                      \
        }                                                                          \
    } while (0)

static void arg_fwd(ag_tensor *out, bool is_max)
{
    const ag_tensor *x = out->in[0];
    const agi_slices s = out->ip[2] ? (agi_slices){ 1, x->numel, 1 } : agi_slices_of(x, (int)out->ip[0]);
    int64_t *y = agi_i64(out);
    if (x->dtype == AG_INT64) {
        if (is_max)
            ARG_SCAN(int64_t, v > b);
        else
            ARG_SCAN(int64_t, v < b);
    } else if (is_max) {
        ARG_SCAN(float, !isnan(b) && (isnan(v) || v > b));
    } else {
        ARG_SCAN(float, !isnan(b) && (isnan(v) || v < b));
    }
}

static ag_tensor *arg_call(ag_tape *t, int op, const char *api, ag_tensor *x, int dim,
                           bool keepdim, bool all)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .api = api, .nin = 1, .in = in, .ip = { dim, keepdim, all },
                   .any_dtype = true };
    return agi_record(t, op, &c);
}

ag_tensor *ag_argmax(ag_tape *t, ag_tensor *x, int dim, bool keepdim)
{
    return arg_call(t, AGI_OP_ARGMAX, NULL, x, dim, keepdim, false);
}
ag_tensor *ag_argmin(ag_tape *t, ag_tensor *x, int dim, bool keepdim)
{
    return arg_call(t, AGI_OP_ARGMIN, NULL, x, dim, keepdim, false);
}
ag_tensor *ag_argmax_all(ag_tape *t, ag_tensor *x, bool keepdim)
{
    return arg_call(t, AGI_OP_ARGMAX, "ag_argmax_all", x, 0, keepdim, true);
}
ag_tensor *ag_argmin_all(ag_tape *t, ag_tensor *x, bool keepdim)
{
    return arg_call(t, AGI_OP_ARGMIN, "ag_argmin_all", x, 0, keepdim, true);
}
void agi_argmax_fwd(ag_tensor *out) { arg_fwd(out, true); }
void agi_argmin_fwd(ag_tensor *out) { arg_fwd(out, false); }
/* An int64 result never requires grad: nothing to do. */
void agi_arg_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    (void)out, (void)dout, (void)din;
}

/* ---- max, min over a dim with indices: the MAX and MIN rows ---- */

static ag_tensor *extreme_call(ag_tape *t, int op, const char *api, ag_tensor *x, int dim,
                               bool keepdim, ag_tensor **indices)
{
    if (indices)
        *indices = NULL;
    ag_tensor *in[1] = { x };
    agi_call c = { .api = api, .nin = 1, .in = in, .ip = { dim, keepdim }, .any_dtype = true };
    return with_indices(t, api, agi_record(t, op, &c), indices);
}

ag_tensor *ag_max_with_indices(ag_tape *t, ag_tensor *x, int dim, bool keepdim,
                               ag_tensor **indices)
{
    return extreme_call(t, AGI_OP_MAX, "ag_max_with_indices", x, dim, keepdim, indices);
}

ag_tensor *ag_min_with_indices(ag_tape *t, ag_tensor *x, int dim, bool keepdim,
                               ag_tensor **indices)
{
    return extreme_call(t, AGI_OP_MIN, "ag_min_with_indices", x, dim, keepdim, indices);
}

/* ---- sorting slices ---- */

#define SORT_SMALL 32          /* insertion sort up to this many elements */
#define SORT_MAX_TASKS 64      /* slices are split into at most this many tasks */

typedef struct kv {
    uint64_t key;
    uint64_t idx;
} kv;

/* The key of a float32 (32 bits, as unsigned): increasing in the value, -0
 * as 0, every NaN above +inf. */
static inline uint64_t fkey(float v)
{
    if (isnan(v))
        return 0xFFFFFFFFu;
    if (v == 0.0f)
        return 0x80000000u;    /* +0's key, for -0 too */
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The key of x's element i, for ascending order (descending: the key's
 * complement within its bits). */
static inline uint64_t elem_key(const ag_tensor *x, int64_t i, bool desc)
{
    uint64_t k;
    switch (x->dtype) {
    case AG_INT64:
        k = (uint64_t)agi_i64(x)[i] ^ ((uint64_t)1 << 63);
        return desc ? ~k : k;
    case AG_BOOL:
        k = agi_b8(x)[i] ? 1u : 0u;
        return desc ? 1u - k : k;
    default:
        k = fkey(x->data[i]);
        return desc ? 0xFFFFFFFFu - k : k;
    }
}

/* How the slices are split into tasks, and each task's scratch. */
typedef struct splan {
    agi_slices s;
    int64_t rows;              /* slices: outer * inner */
    int64_t per;               /* slices per task */
    int ntasks;
    bool packed;               /* uint64 elements (key << 32 | index), else kv pairs */
    size_t esize;              /* bytes per scratch element */
    int key_lo, key_hi;        /* the key's bytes in an element's sort word */
} splan;

static splan sort_plan(const ag_tensor *x, int dim)
{
    splan p;
    p.s = agi_slices_of(x, dim);
    p.rows = p.s.outer * p.s.inner;
    const int64_t d = p.s.d > 0 ? p.s.d : 1;
    if (p.rows <= 1 || x->numel < AGI_PAR_MIN) {
        p.per = p.rows > 0 ? p.rows : 1;
    } else {
        p.per = AGI_PAR_CHUNK / d > 0 ? AGI_PAR_CHUNK / d : 1;
        if ((p.rows + p.per - 1) / p.per > SORT_MAX_TASKS)
            p.per = (p.rows + SORT_MAX_TASKS - 1) / SORT_MAX_TASKS;
    }
    p.ntasks = (int)((p.rows + p.per - 1) / p.per);
    p.packed = x->dtype != AG_INT64 && p.s.d <= (int64_t)0xFFFFFFFF;
    p.esize = p.packed ? sizeof(uint64_t) : sizeof(kv);
    const int kbytes = x->dtype == AG_INT64 ? 8 : x->dtype == AG_BOOL ? 1 : 4;
    p.key_lo = p.packed ? 4 : 0;
    p.key_hi = p.key_lo + kbytes;
    return p;
}

/* save: the indices (int64 per result element), then each task's scratch:
 * two arrays of D elements. False after agi_fail if the sizes overflow. */
static bool sort_save(ag_tape *t, const char *fn, agi_call *c, int dim, int64_t out_numel)
{
    const splan p = sort_plan(c->in[0], dim);
    size_t scratch = 0, idx = 0;
    bool ok = agi_mul_size((size_t)out_numel, sizeof(int64_t), &idx);
    if (out_numel > 0 && p.s.d > 0)
        ok = ok && agi_mul_size((size_t)p.ntasks * 2, (size_t)p.s.d, &scratch) &&
             agi_mul_size(scratch, p.esize, &scratch);
    if (!ok || scratch > SIZE_MAX - idx) {
        agi_fail(t, AG_ERR_NOMEM, "%s: the sort's scratch for %lld slices of %lld is too large",
                 fn, (long long)p.rows, (long long)p.s.d);
        return false;
    }
    c->save_size = idx + scratch;
    return true;
}

/* a[0..n) sorted ascending (all distinct); b is scratch of n. Returns the
 * array holding the result (a or b). DIGIT(e, byte) is byte of e's key. */
#define RADIX_SORT(T, LESS, DIGIT)                                                 \
    do {                                                                           \
        if (n <= SORT_SMALL) {                                                     \
            for (int64_t i = 1; i < n; i++) {                                      \
                const T e = a[i];                                                  \
                int64_t k = i;                                                     \
                for (; k > 0 && LESS(e, a[k - 1]); k--)                            \
                    a[k] = a[k - 1];                                               \
                a[k] = e;                                                          \
            }                                                                      \
            return a;                                                              \
        }                                                                          \
        int64_t cnt[8][256];                                                       \
        memset(cnt, 0, sizeof cnt);                                                \
        for (int64_t i = 0; i < n; i++)                                            \
            for (int by = lo; by < hi; by++)                                       \
                cnt[by - lo][DIGIT(a[i], by)]++;                                   \
        for (int by = lo; by < hi; by++) {                                         \
            int64_t *c = cnt[by - lo];                                             \
            if (c[DIGIT(a[0], by)] == n)                                           \
                continue;              /* every key has this byte: no move */      \
            int64_t sum = 0;                                                       \
            for (int v = 0; v < 256; v++) {                                        \
                const int64_t cv = c[v];                                           \
                c[v] = sum;                                                        \
                sum += cv;                                                         \
            }                                                                      \
            for (int64_t i = 0; i < n; i++)                                        \
                b[c[DIGIT(a[i], by)]++] = a[i];                                    \
            T *tmp = a;                                                            \
            a = b;                                                                 \
            b = tmp;                                                               \
        }                                                                          \
        return a;                                                                  \
    } while (0)

#define U64_LESS(e, f) ((e) < (f))
#define U64_DIGIT(e, by) ((unsigned)((e) >> (8 * (by))) & 255u)
#define KV_LESS(e, f) ((e).key < (f).key || ((e).key == (f).key && (e).idx < (f).idx))
#define KV_DIGIT(e, by) ((unsigned)((e).key >> (8 * (by))) & 255u)

static uint64_t *sort_u64(uint64_t *a, uint64_t *b, int64_t n, int lo, int hi)
{
    RADIX_SORT(uint64_t, U64_LESS, U64_DIGIT);
}

static kv *sort_kv(kv *a, kv *b, int64_t n, int lo, int hi)
{
    RADIX_SORT(kv, KV_LESS, KV_DIGIT);
}

/* topk with k small against D: the k least elements kept in a max-heap
 * h[0..k) while the slice's elements arrive one by one (MAKE(d, e) sets e to
 * element d), O(D log k); h is then unordered (the caller sorts it). The
 * elements are distinct, so the k kept are the k least, as a sort's. */
#define HEAP_SELECT(T, LESS, MAKE)                                                 \
    do {                                                                           \
        for (int64_t d = 0; d < D; d++) {                                          \
            T e;                                                                   \
            MAKE(d, e);                                                            \
            int64_t i;                                                             \
            if (d < k) {               /* sift up */                               \
                for (i = d; i > 0 && LESS(h[(i - 1) / 2], e); i = (i - 1) / 2)     \
                    h[i] = h[(i - 1) / 2];                                         \
                h[i] = e;                                                          \
                continue;                                                          \
            }                                                                      \
            if (!LESS(e, h[0]))                                                    \
                continue;                                                          \
            for (i = 0;;) {            /* e replaces the root: sift down */        \
                int64_t ch = 2 * i + 1;                                            \
                if (ch >= k)                                                       \
                    break;                                                         \
                if (ch + 1 < k && LESS(h[ch], h[ch + 1]))                          \
                    ch++;                                                          \
                if (!LESS(e, h[ch]))                                               \
                    break;                                                         \
                h[i] = h[ch];                                                      \
                i = ch;                                                            \
            }                                                                      \
            h[i] = e;                                                              \
        }                                                                          \
    } while (0)

typedef struct sort_ctx {
    const ag_tensor *x;
    ag_tensor *out;
    splan p;
    int64_t m;                 /* result elements per slice: D (sort) or k (topk) */
    bool desc;
} sort_ctx;

/* Copies x's element i to out's element o (any dtype). */
static inline void copy_elem(ag_tensor *out, int64_t o, const ag_tensor *x, int64_t i)
{
    if (x->dtype == AG_INT64)
        agi_i64(out)[o] = agi_i64(x)[i];
    else if (x->dtype == AG_BOOL)
        agi_b8(out)[o] = agi_b8(x)[i];
    else
        out->data[o] = x->data[i];
}

/* Task k: the slices [k * per, (k + 1) * per), each sorted whole. */
static void sort_task(void *vctx, int task)
{
    const sort_ctx *c = vctx;
    const ag_tensor *x = c->x;
    ag_tensor *out = c->out;
    const splan *p = &c->p;
    const int64_t D = p->s.d, inner = p->s.inner, m = c->m;
    int64_t *saved = out->save;
    unsigned char *scratch = (unsigned char *)out->save + (size_t)out->numel * sizeof(int64_t);
    void *bufa = scratch + (size_t)task * 2 * (size_t)D * p->esize;
    void *bufb = (unsigned char *)bufa + (size_t)D * p->esize;
    const int64_t r1 = (int64_t)(task + 1) * p->per < p->rows ? (int64_t)(task + 1) * p->per
                                                                 : p->rows;
    for (int64_t r = (int64_t)task * p->per; r < r1; r++) {
        const int64_t o = r / inner, j = r % inner;
        const int64_t base = o * D * inner + j, obase = o * m * inner + j;
        /* a few of many: select them, then sort those (the same result) */
        const bool select = m > 0 && m <= D / 16;
        const int64_t n = select ? m : D, k = m;
        if (p->packed) {
            uint64_t *a = bufa, *h = bufa;
#define MAKE_U64(d, e) (e) = elem_key(x, base + (d) * inner, c->desc) << 32 | (uint64_t)(d)
            if (select)
                HEAP_SELECT(uint64_t, U64_LESS, MAKE_U64);
            else
                for (int64_t d = 0; d < D; d++)
                    MAKE_U64(d, a[d]);
#undef MAKE_U64
            a = sort_u64(a, bufb, n, p->key_lo, p->key_hi);
            for (int64_t i = 0; i < m; i++) {
                const int64_t d = (int64_t)(a[i] & 0xFFFFFFFFu);
                saved[obase + i * inner] = d;
                copy_elem(out, obase + i * inner, x, base + d * inner);
            }
        } else {
            kv *a = bufa, *h = bufa;
#define MAKE_KV(d, e) ((e).key = elem_key(x, base + (d) * inner, c->desc), (e).idx = (uint64_t)(d))
            if (select)
                HEAP_SELECT(kv, KV_LESS, MAKE_KV);
            else
                for (int64_t d = 0; d < D; d++)
                    MAKE_KV(d, a[d]);
#undef MAKE_KV
            a = sort_kv(a, bufb, n, p->key_lo, p->key_hi);
            for (int64_t i = 0; i < m; i++) {
                const int64_t d = (int64_t)a[i].idx;
                saved[obase + i * inner] = d;
                copy_elem(out, obase + i * inner, x, base + d * inner);
            }
        }
    }
}

static void sort_run(ag_tensor *out, int64_t m, bool desc)
{
    sort_ctx c = { out->in[0], out, sort_plan(out->in[0], (int)out->ip[0]), m, desc };
    if (c.p.ntasks == 1)
        sort_task(&c, 0);
    else
        agi_parallel_for(c.p.ntasks, sort_task, &c);
}

/* dx[(o*D + index)*inner + j] += dout at (o, i, j), for i < m */
static void scatter_bwd(const ag_tensor *out, const float *dout, float *dx, int64_t m)
{
    const agi_slices s = agi_slices_of(out->in[0], (int)out->ip[0]);
    const int64_t *idx = out->save;
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t i = 0; i < m; i++) {
            const int64_t r = (o * m + i) * s.inner;
            for (int64_t j = 0; j < s.inner; j++)
                dx[(o * s.d + idx[r + j]) * s.inner + j] += dout[r + j];
        }
}

/* ---- sort: torch.sort(x, dim, descending, stable) ---- */

bool agi_sort_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d;
    if (!dtype_ok(t, fn, x, true) || !agi_wrap_dim(t, fn, x, c->ip[0], &d))
        return false;
    c->ip[0] = d;
    c->dtype = x->dtype;
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    return sort_save(t, fn, c, d, x->numel);
}

static ag_tensor *sort_call(ag_tape *t, const char *api, ag_tensor *x, int dim, bool descending,
                            bool stable)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .api = api, .nin = 1, .in = in, .ip = { dim, descending, stable },
                   .any_dtype = true };
    return agi_record(t, AGI_OP_SORT, &c);
}

ag_tensor *ag_sort(ag_tape *t, ag_tensor *x, int dim, bool descending, bool stable,
                   ag_tensor **indices)
{
    if (indices)
        *indices = NULL;
    return with_indices(t, "ag_sort", sort_call(t, NULL, x, dim, descending, stable), indices);
}

ag_tensor *ag_argsort(ag_tape *t, ag_tensor *x, int dim, bool descending, bool stable)
{
    /* the sort's values are not returned: recorded without grad, no
     * backward node waits on them */
    const bool g = ag_tape_set_grad_enabled(t, false);
    ag_tensor *ix = NULL;
    with_indices(t, "ag_argsort", sort_call(t, "ag_argsort", x, dim, descending, stable), &ix);
    ag_tape_set_grad_enabled(t, g);
    return ix;
}

void agi_sort_fwd(ag_tensor *out)
{
    sort_run(out, agi_slices_of(out->in[0], (int)out->ip[0]).d, out->ip[1] != 0);
}

/* dx[index] += g, along the dim */
void agi_sort_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    scatter_bwd(out, dout, din[0], agi_slices_of(out->in[0], (int)out->ip[0]).d);
}

/* ---- topk: torch.topk(x, k, dim, largest, sorted) ----
 * The first k of the slice sorted descending (largest) or ascending: NaN
 * counts as the largest, as in PyTorch. */

bool agi_topk_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d;
    if (!dtype_ok(t, fn, x, false) || !agi_wrap_dim(t, fn, x, c->ip[0], &d))
        return false;
    const int64_t size = x->ndim > 0 ? x->shape[d] : 1, k = c->ip[1];
    if (k < 0 || k > size) {
        char sb[160];
        agi_fail(t, AG_ERR_ARG, "%s: k %lld is out of range [0, %lld] of dim %d of input of "
                 "shape %s", fn, (long long)k, (long long)size, d,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    c->ip[0] = d;
    c->dtype = x->dtype;
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    int64_t n = 1;
    if (x->ndim > 0) {
        c->shape[d] = k;
        for (int i = 0; i < x->ndim; i++)
            n *= c->shape[i];
    }
    return sort_save(t, fn, c, d, n);
}

ag_tensor *ag_topk(ag_tape *t, ag_tensor *x, int64_t k, int dim, bool largest, bool sorted,
                   ag_tensor **indices)
{
    (void)sorted;              /* always sorted: see autograd.h */
    if (indices)
        *indices = NULL;
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim, k, largest }, .any_dtype = true };
    return with_indices(t, "ag_topk", agi_record(t, AGI_OP_TOPK, &c), indices);
}

/* result elements per slice: k (1 for a 0-dim x, whatever k) */
static int64_t topk_m(const ag_tensor *out)
{
    return out->in[0]->ndim > 0 ? out->ip[1] : 1;
}

void agi_topk_fwd(ag_tensor *out)
{
    sort_run(out, topk_m(out), out->ip[2] != 0);
}

/* dx[index] += g, along the dim */
void agi_topk_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    scatter_bwd(out, dout, din[0], topk_m(out));
}
