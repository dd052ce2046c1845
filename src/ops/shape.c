/* ops/shape.c - shapes and indexing: views, permutes, expand, cat/stack, narrow/select, index_select, gather.
 *
 * Shapes: x is the input, out the result, dout out's gradient, dx x's.
 * Tensors are contiguous, so only the views (reshape, view, flatten, squeeze,
 * unsqueeze) share x's data; every other op copies. Dims wrap like PyTorch's
 * (a negative dim counts from the end; a 0-dim tensor accepts dims 0 and -1
 * where PyTorch does). Copies walk their source with strides (agi_bcast and
 * AGI_BCAST_LOOP with dimensions merged), never dividing per element. */
#include "internal.h"

#include <string.h>

/* ---- helpers ---- */

/* dim wrapped into [0, range) (range 0 counts as 1, like PyTorch's
 * maybe_wrap_dim for 0-dim tensors); false after an error naming x's shape. */
static bool wrap_dim(ag_tape *t, const char *fn, int64_t dim, int range, const ag_tensor *x,
                     int *out)
{
    const int r = range > 0 ? range : 1;
    if (dim < -r || dim >= r) {
        char sb[160];
        agi_fail(t, AG_ERR_ARG, "%s: dimension %lld is out of range for shape %s "
                 "(expected to be in range of [%d, %d])", fn, (long long)dim,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape), -r, r - 1);
        return false;
    }
    *out = (int)(dim < 0 ? dim + r : dim);
    return true;
}

static bool check_ndim(ag_tape *t, const char *fn, int64_t ndim, const void *sizes)
{
    if (ndim < 0 || ndim > AG_MAX_DIMS) {
        agi_fail(t, AG_ERR_ARG, "%s: %lld dimensions requested (0 to %d allowed)", fn,
                 (long long)ndim, AG_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !sizes) {
        agi_fail(t, AG_ERR_ARG, "%s: the list of %lld sizes is NULL", fn, (long long)ndim);
        return false;
    }
    return true;
}

/* Row-major element strides of a shape. */
static void strides_of(int nd, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

/* x viewed as (outer, size, inner) around dim: the sizes before dim, at dim
 * and after it (a 0-dim x is (1, 1, 1)). */
static void split3(const ag_tensor *x, int dim, int64_t *outer, int64_t *size, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int i = 0; i < dim && i < x->ndim; i++)
        o *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++)
        in *= x->shape[i];
    *outer = o;
    *size = dim < x->ndim ? x->shape[dim] : 1;
    *inner = in;
}

/* A walk over a contiguous output of shape n[nd] reading a source with
 * strides sa (sb is all zero): the loop of AGI_BCAST_LOOP, with size-1
 * dimensions dropped and neighbours that walk like one dimension merged. */
static void walk_init(agi_bcast *w, int nd, const int64_t *n, const int64_t *sa)
{
    int m = 0;
    for (int i = 0; i < nd; i++) {
        if (n[i] == 1)
            continue;
        if (m > 0 && w->sa[m - 1] == sa[i] * n[i]) {
            w->n[m - 1] *= n[i];
            w->sa[m - 1] = sa[i];
            continue;
        }
        w->n[m] = n[i];
        w->sa[m] = sa[i];
        w->sb[m] = 0;
        m++;
    }
    if (m == 0) {
        w->n[0] = 1;
        w->sa[0] = w->sb[0] = 0;
        m = 1;
    }
    w->nd = m;
}

/* ---- views: reshape, view, flatten, squeeze, squeeze_all, unsqueeze ----
 * out shares x's data (c->alias); the forward has nothing to do. */

void agi_view_fwd(ag_tensor *out) { (void)out; }
/* dx = dout (the same elements in the same order) */
void agi_view_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i];
}

/* ip[0] sizes from aux, one of them may be -1 (inferred). */
bool agi_shape_reshape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const int64_t *s = c->aux;
    char s1[160], s2[160];
    if (!check_ndim(t, fn, c->ip[0], s))
        return false;
    const int nd = (int)c->ip[0];
    int infer = -1;
    int64_t known = 1;         /* product of the given sizes */
    bool zero = false, big = false;
    for (int i = 0; i < nd; i++) {
        if (s[i] == -1 && infer >= 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: only one dimension can be inferred (shape %s)", fn,
                     agi_shape_str(s1, sizeof s1, nd, s));
            return false;
        } else if (s[i] == -1) {
            infer = i;
        } else if (s[i] < 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: invalid shape dimension %lld in %s", fn,
                     (long long)s[i], agi_shape_str(s1, sizeof s1, nd, s));
            return false;
        } else if (s[i] == 0) {
            zero = true;
        } else if (known > INT64_MAX / s[i]) {
            big = true;         /* more than any tensor holds */
        } else {
            known *= s[i];
        }
    }
    if (zero) {
        known = 0;
        big = false;
    }
    for (int i = 0; i < nd; i++)
        c->shape[i] = s[i];
    c->ndim = nd;
    if (infer >= 0 && known == 0) {
        agi_fail(t, AG_ERR_SHAPE, "%s: cannot reshape a tensor of 0 elements into shape %s: "
                 "the size of the -1 is ambiguous", fn, agi_shape_str(s1, sizeof s1, nd, s));
        return false;
    }
    if (infer >= 0 && !big && x->numel % known == 0) {
        c->shape[infer] = x->numel / known;
        known = x->numel;
    }
    if (big || known != x->numel) {
        agi_fail(t, AG_ERR_SHAPE, "%s: shape %s is invalid for an input of shape %s "
                 "(%lld elements)", fn, agi_shape_str(s1, sizeof s1, nd, s),
                 agi_shape_str(s2, sizeof s2, x->ndim, x->shape), (long long)x->numel);
        return false;
    }
    c->alias = true;
    return true;
}

ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { ndim }, .aux = shape };
    return agi_record(t, AGI_OP_RESHAPE, &c);
}

ag_tensor *ag_view(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { ndim }, .aux = shape };
    return agi_record(t, AGI_OP_VIEW, &c);
}

/* ip[0] start_dim, ip[1] end_dim: those dims and the ones between become one. */
bool agi_shape_flatten(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int s, e;
    if (!wrap_dim(t, fn, c->ip[0], x->ndim, x, &s) || !wrap_dim(t, fn, c->ip[1], x->ndim, x, &e))
        return false;
    if (s > e) {
        agi_fail(t, AG_ERR_ARG, "%s: start_dim %lld comes after end_dim %lld", fn,
                 (long long)c->ip[0], (long long)c->ip[1]);
        return false;
    }
    c->alias = true;
    if (x->ndim == 0) {
        c->ndim = 1;
        c->shape[0] = 1;
        return true;
    }
    int m = 0;
    for (int i = 0; i < s; i++)
        c->shape[m++] = x->shape[i];
    int64_t p = 1;
    for (int i = s; i <= e; i++)
        p *= x->shape[i];
    c->shape[m++] = p;
    for (int i = e + 1; i < x->ndim; i++)
        c->shape[m++] = x->shape[i];
    c->ndim = m;
    return true;
}

ag_tensor *ag_flatten(ag_tape *t, ag_tensor *x, int start_dim, int end_dim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { start_dim, end_dim } };
    return agi_record(t, AGI_OP_FLATTEN, &c);
}

/* ip[0] dim: removed if its size is 1. */
bool agi_shape_squeeze(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x->ndim, x, &d))
        return false;
    c->ndim = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d || x->shape[i] != 1)
            c->shape[c->ndim++] = x->shape[i];
    c->alias = true;
    return true;
}

ag_tensor *ag_squeeze(ag_tape *t, ag_tensor *x, int dim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim } };
    return agi_record(t, AGI_OP_SQUEEZE, &c);
}

bool agi_shape_squeeze_all(ag_tape *t, const char *fn, agi_call *c)
{
    (void)t;
    (void)fn;
    const ag_tensor *x = c->in[0];
    c->ndim = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != 1)
            c->shape[c->ndim++] = x->shape[i];
    c->alias = true;
    return true;
}

ag_tensor *ag_squeeze_all(ag_tape *t, ag_tensor *x)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in };
    return agi_record(t, AGI_OP_SQUEEZE_ALL, &c);
}

/* ip[0] dim in [-ndim-1, ndim]: a size-1 dim inserted there. */
bool agi_shape_unsqueeze(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x->ndim + 1, x, &d))
        return false;
    if (x->ndim == AG_MAX_DIMS) {
        agi_fail(t, AG_ERR_SHAPE, "%s: the input has %d dimensions, the most a tensor can have",
                 fn, AG_MAX_DIMS);
        return false;
    }
    c->ndim = x->ndim + 1;
    for (int i = 0, j = 0; i < c->ndim; i++)
        c->shape[i] = i == d ? 1 : x->shape[j++];
    c->alias = true;
    return true;
}

ag_tensor *ag_unsqueeze(ag_tape *t, ag_tensor *x, int dim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim } };
    return agi_record(t, AGI_OP_UNSQUEEZE, &c);
}

/* ---- permutes: transpose, t, permute ----
 * out.shape[i] = x.shape[perm[i]], with perm packed 4 bits a dim in ip[3]. */

static void set_perm(agi_call *c, const int *perm, int nd)
{
    const ag_tensor *x = c->in[0];
    int64_t packed = 0;
    for (int i = 0; i < nd; i++) {
        packed |= (int64_t)perm[i] << (4 * i);
        c->shape[i] = x->shape[perm[i]];
    }
    c->ndim = nd;
    c->ip[3] = packed;
}

/* The walk over out reading x: out element io is x element ia. */
static void perm_walk(const ag_tensor *out, agi_bcast *w)
{
    const ag_tensor *x = out->in[0];
    int64_t xs[AG_MAX_DIMS], sa[AG_MAX_DIMS];
    strides_of(x->ndim, x->shape, xs);
    for (int i = 0; i < out->ndim; i++)
        sa[i] = xs[(out->ip[3] >> (4 * i)) & 15];
    walk_init(w, out->ndim, out->shape, sa);
}

#define PERM_TILE 32

/* One PERM_TILE square of a 2-D transpose inside a permute: rows i of out
 * (stride ok) are columns of x (stride sj). Forward: out = x; backward:
 * dx += dout, walked along dx's contiguous rows. */
static void perm_tile(const int64_t *r, int64_t ok, int64_t sj, float *out, const float *x,
                      const float *dout, float *dx)
{
    if (out) {
        for (int64_t i = r[0]; i < r[1]; i++) {
            float *po = out + i * ok;
            const float *px = x + i;
            for (int64_t j = r[2]; j < r[3]; j++)
                po[j] = px[j * sj];
        }
    } else {
        for (int64_t j = r[2]; j < r[3]; j++) {
            const float *pg = dout + j;
            float *pd = dx + j * sj;
            for (int64_t i = r[0]; i < r[1]; i++)
                pd[i] += pg[i * ok];
        }
    }
}

/* out = x permuted (forward, out != NULL) or dx += dout permuted back. When
 * the walk's last dim is strided in x and another dim has stride 1 there (a
 * transpose), those two dims go in square tiles so reads and writes both stay
 * in cache; otherwise the plain walk. */
static void perm_copy(const ag_tensor *o, float *out, const float *x, const float *dout, float *dx)
{
    if (o->numel == 0)
        return;
    agi_bcast w;
    perm_walk(o, &w);
    const int m = w.nd;
    int k = -1;
    for (int i = 0; i < m - 1 && w.sa[m - 1] != 1; i++)
        if (w.sa[i] == 1)
            k = i;
    if (k < 0) {
        if (out)
            AGI_BCAST_LOOP(&w, io, ia, ib, { (void)ib; out[io] = x[ia]; });
        else
            AGI_BCAST_LOOP(&w, io, ia, ib, { (void)ib; dx[ia] += dout[io]; });
        return;
    }
    int64_t os[AG_MAX_DIMS], idx[AG_MAX_DIMS] = { 0 }, bo = 0, bx = 0;
    strides_of(m, w.n, os);
    const int64_t nk = w.n[k], nj = w.n[m - 1];
    for (;;) {
        for (int64_t i0 = 0; i0 < nk; i0 += PERM_TILE)
            for (int64_t j0 = 0; j0 < nj; j0 += PERM_TILE) {
                const int64_t r[4] = { i0, i0 + PERM_TILE < nk ? i0 + PERM_TILE : nk,
                                       j0, j0 + PERM_TILE < nj ? j0 + PERM_TILE : nj };
                perm_tile(r, os[k], w.sa[m - 1], out ? out + bo : NULL, out ? x + bx : NULL,
                          out ? NULL : dout + bo, out ? NULL : dx + bx);
            }
        int d = m - 2;         /* the next block: an odometer over the other dims */
        for (; d >= 0; d--) {
            if (d == k)
                continue;
            if (++idx[d] < w.n[d]) {
                bo += os[d];
                bx += w.sa[d];
                break;
            }
            bo -= os[d] * (w.n[d] - 1);
            bx -= w.sa[d] * (w.n[d] - 1);
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}

void agi_perm_fwd(ag_tensor *out) { perm_copy(out, out->data, out->in[0]->data, NULL, NULL); }
/* dx = dout permuted back: dx[x index of out element i] += dout[i] */
void agi_perm_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    perm_copy(out, NULL, NULL, dout, din[0]);
}

/* ip[0], ip[1]: the dims swapped */
bool agi_shape_transpose(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d0, d1, perm[AG_MAX_DIMS];
    if (!wrap_dim(t, fn, c->ip[0], x->ndim, x, &d0) || !wrap_dim(t, fn, c->ip[1], x->ndim, x, &d1))
        return false;
    for (int i = 0; i < x->ndim; i++)
        perm[i] = i == d0 ? d1 : i == d1 ? d0 : i;
    set_perm(c, perm, x->ndim);
    return true;
}

ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x, int dim0, int dim1)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim0, dim1 } };
    return agi_record(t, AGI_OP_TRANSPOSE, &c);
}

bool agi_shape_t(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    if (x->ndim > 2) {
        char sb[160];
        agi_fail(t, AG_ERR_SHAPE, "%s: expects a tensor with <= 2 dimensions, got shape %s", fn,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    const int perm[2] = { x->ndim == 2 ? 1 : 0, 0 };
    set_perm(c, perm, x->ndim);
    return true;
}

ag_tensor *ag_t(ag_tape *t, ag_tensor *x)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in };
    return agi_record(t, AGI_OP_T, &c);
}

/* ip[0] dims from aux (int) */
bool agi_shape_permute(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const int *dims = c->aux;
    char sb[160];
    if (!check_ndim(t, fn, c->ip[0], dims))
        return false;
    if (c->ip[0] != x->ndim) {
        agi_fail(t, AG_ERR_SHAPE, "%s: %lld dims given for an input of shape %s", fn,
                 (long long)c->ip[0], agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    int perm[AG_MAX_DIMS];
    bool seen[AG_MAX_DIMS] = { false };
    for (int i = 0; i < x->ndim; i++) {
        if (!wrap_dim(t, fn, dims[i], x->ndim, x, &perm[i]))
            return false;
        if (seen[perm[i]]) {
            agi_fail(t, AG_ERR_ARG, "%s: dim %d appears twice", fn, dims[i]);
            return false;
        }
        seen[perm[i]] = true;
    }
    set_perm(c, perm, x->ndim);
    return true;
}

ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, int ndim, const int *dims)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { ndim }, .aux = dims };
    return agi_record(t, AGI_OP_PERMUTE, &c);
}

/* ---- expand: out = x broadcast to a shape ---- */

/* The walk over out reading x, with stride 0 along expanded dims. */
static void expand_walk(const ag_tensor *out, agi_bcast *w)
{
    const ag_tensor *x = out->in[0];
    int64_t xs[AG_MAX_DIMS], sa[AG_MAX_DIMS];
    strides_of(x->ndim, x->shape, xs);
    const int lead = out->ndim - x->ndim;
    for (int i = 0; i < out->ndim; i++)
        sa[i] = (i < lead || x->shape[i - lead] != out->shape[i]) ? 0 : xs[i - lead];
    walk_init(w, out->ndim, out->shape, sa);
}

/* ip[0] sizes from aux; -1 keeps a size; save: x.numel doubles for backward */
bool agi_shape_expand(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const int64_t *s = c->aux;
    char s1[160], s2[160];
    if (!check_ndim(t, fn, c->ip[0], s))
        return false;
    const int nd = (int)c->ip[0], lead = nd - x->ndim;
    if (lead < 0) {
        agi_fail(t, AG_ERR_SHAPE, "%s: %d sizes given for an input of shape %s (at least %d needed)",
                 fn, nd, agi_shape_str(s1, sizeof s1, x->ndim, x->shape), x->ndim);
        return false;
    }
    for (int i = 0; i < nd; i++) {
        const int64_t xsz = i < lead ? -1 : x->shape[i - lead];
        if (i < lead && s[i] < 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: size %lld is not allowed in a new leading dimension "
                     "(dimension %d of %s)", fn, (long long)s[i], i,
                     agi_shape_str(s1, sizeof s1, nd, s));
            return false;
        }
        if (i >= lead && s[i] != -1 && s[i] != xsz && (xsz != 1 || s[i] < 0)) {
            agi_fail(t, AG_ERR_SHAPE, "%s: the expanded size %lld must match the existing size "
                     "%lld at non-singleton dimension %d: target %s, input %s", fn,
                     (long long)s[i], (long long)xsz, i, agi_shape_str(s1, sizeof s1, nd, s),
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
            return false;
        }
        c->shape[i] = s[i] == -1 ? xsz : s[i];
    }
    c->ndim = nd;
    c->save_size = (size_t)x->numel * sizeof(double);
    return true;
}

ag_tensor *ag_expand(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { ndim }, .aux = shape };
    return agi_record(t, AGI_OP_EXPAND, &c);
}

void agi_expand_fwd(ag_tensor *out)
{
    if (out->numel == 0)
        return;
    agi_bcast w;
    expand_walk(out, &w);
    const float *x = out->in[0]->data;
    float *o = out->data;
    AGI_BCAST_LOOP(&w, io, ia, ib, {
        (void)ib;
        o[io] = x[ia];
    });
}
/* dx = dout summed over the expanded dims (in double, in out->save) */
void agi_expand_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0];
    if (out->numel == 0)
        return;
    double *acc = out->save;
    memset(acc, 0, (size_t)x->numel * sizeof *acc);
    agi_bcast w;
    expand_walk(out, &w);
    AGI_BCAST_LOOP(&w, io, ia, ib, {
        (void)ib;
        acc[ia] += dout[io];
    });
    for (int64_t i = 0; i < x->numel; i++)
        din[0][i] += (float)acc[i];
}

/* ---- cat and stack ----
 * ip[0] is the dim of the inputs at which out's blocks are joined: out is
 * outer blocks (the sizes before that dim), each the concatenation of one
 * block of every input (its sizes from that dim on). */

static int64_t block_of(const ag_tensor *x, int dim)
{
    int64_t b = 1;
    for (int i = dim; i < x->ndim; i++)
        b *= x->shape[i];
    return b;
}

void agi_cat_fwd(ag_tensor *out)
{
    const int dim = (int)out->ip[0];
    int64_t outer, size, inner;
    split3(out->in[0], dim, &outer, &size, &inner);
    float *o = out->data;
    for (int64_t b = 0; b < outer; b++)
        for (int k = 0; k < out->nin; k++) {
            const ag_tensor *x = out->in[k];
            const int64_t n = block_of(x, dim);
            if (n > 0)
                memcpy(o, x->data + b * n, (size_t)n * sizeof(float));
            o += n;
        }
}
/* dx_k = the blocks of dout that came from x_k */
void agi_cat_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const int dim = (int)out->ip[0];
    int64_t outer, size, inner;
    split3(out->in[0], dim, &outer, &size, &inner);
    for (int64_t b = 0; b < outer; b++)
        for (int k = 0; k < out->nin; k++) {
            const int64_t n = block_of(out->in[k], dim);
            if (din[k]) {
                float *dx = din[k] + b * n;
                for (int64_t i = 0; i < n; i++)
                    dx[i] += dout[i];
            }
            dout += n;
        }
}

/* ip[0] dim; inputs of one ndim, equal sizes except along dim */
bool agi_shape_cat(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x0 = c->in[0];
    char s1[160], s2[160];
    for (int k = 0; k < c->nin; k++)
        if (c->in[k]->ndim == 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: input %d is 0-dim and cannot be concatenated", fn, k);
            return false;
        }
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x0->ndim, x0, &d))
        return false;
    int64_t total = 0;
    for (int k = 0; k < c->nin; k++) {
        const ag_tensor *x = c->in[k];
        bool ok = x->ndim == x0->ndim;
        if (!ok) {
            agi_fail(t, AG_ERR_SHAPE, "%s: inputs must have the same number of dimensions: "
                     "input 0 has shape %s, input %d has shape %s", fn,
                     agi_shape_str(s1, sizeof s1, x0->ndim, x0->shape), k,
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
            return false;
        }
        for (int i = 0; ok && i < x->ndim; i++)
            ok = i == d || x->shape[i] == x0->shape[i];
        if (!ok) {
            agi_fail(t, AG_ERR_SHAPE, "%s: sizes must match except in dimension %d: "
                     "input 0 has shape %s, input %d has shape %s", fn, d,
                     agi_shape_str(s1, sizeof s1, x0->ndim, x0->shape), k,
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
            return false;
        }
        if (x->shape[d] > INT64_MAX - total) {
            agi_fail(t, AG_ERR_NOMEM, "%s: the result is too large", fn);
            return false;
        }
        total += x->shape[d];
    }
    c->ndim = x0->ndim;
    memcpy(c->shape, x0->shape, sizeof c->shape);
    c->shape[d] = total;
    c->ip[0] = d;
    return true;
}

ag_tensor *ag_cat(ag_tape *t, int n, ag_tensor *const *xs, int dim)
{
    agi_call c = { .nin = n, .in = xs, .ip = { dim } };
    return agi_record(t, AGI_OP_CAT, &c);
}

/* ip[0] dim in [-ndim-1, ndim]; inputs of one shape */
bool agi_shape_stack(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x0 = c->in[0];
    char s1[160], s2[160];
    for (int k = 1; k < c->nin; k++) {
        const ag_tensor *x = c->in[k];
        bool ok = x->ndim == x0->ndim;
        for (int i = 0; ok && i < x->ndim; i++)
            ok = x->shape[i] == x0->shape[i];
        if (!ok) {
            agi_fail(t, AG_ERR_SHAPE, "%s: inputs must have equal shapes: input 0 has shape %s, "
                     "input %d has shape %s", fn,
                     agi_shape_str(s1, sizeof s1, x0->ndim, x0->shape), k,
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
            return false;
        }
    }
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x0->ndim + 1, x0, &d))
        return false;
    if (x0->ndim == AG_MAX_DIMS) {
        agi_fail(t, AG_ERR_SHAPE, "%s: the inputs have %d dimensions, the most a tensor can have",
                 fn, AG_MAX_DIMS);
        return false;
    }
    c->ndim = x0->ndim + 1;
    for (int i = 0, j = 0; i < c->ndim; i++)
        c->shape[i] = i == d ? c->nin : x0->shape[j++];
    c->ip[0] = d;
    return true;
}

ag_tensor *ag_stack(ag_tape *t, int n, ag_tensor *const *xs, int dim)
{
    agi_call c = { .nin = n, .in = xs, .ip = { dim } };
    return agi_record(t, AGI_OP_STACK, &c);
}

/* ---- narrow and select: ip[0] dim, ip[1] start, ip[2] length ----
 * out = x[..., start:start+length, ...] (select drops the dim, length 1). */

void agi_slice_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0];
    int64_t outer, size, inner;
    split3(x, (int)out->ip[0], &outer, &size, &inner);
    const int64_t n = out->ip[2] * inner;
    if (n == 0)
        return;
    for (int64_t b = 0; b < outer; b++)
        memcpy(out->data + b * n, x->data + (b * size + out->ip[1]) * inner,
               (size_t)n * sizeof(float));
}
/* dx[..., start:start+length, ...] += dout */
void agi_slice_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0];
    int64_t outer, size, inner;
    split3(x, (int)out->ip[0], &outer, &size, &inner);
    const int64_t n = out->ip[2] * inner;
    for (int64_t b = 0; b < outer; b++) {
        float *dx = din[0] + (b * size + out->ip[1]) * inner;
        const float *g = dout + b * n;
        for (int64_t i = 0; i < n; i++)
            dx[i] += g[i];
    }
}

static bool not_0dim(ag_tape *t, const char *fn, const ag_tensor *x)
{
    if (x->ndim == 0) {
        agi_fail(t, AG_ERR_SHAPE, "%s: cannot be applied to a 0-dim tensor", fn);
        return false;
    }
    return true;
}

bool agi_shape_narrow(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    char sb[160];
    int d;
    if (!not_0dim(t, fn, x) || !wrap_dim(t, fn, c->ip[0], x->ndim, x, &d))
        return false;
    const int64_t size = x->shape[d];
    int64_t start = c->ip[1], len = c->ip[2];
    if (start < -size || start > size) {
        agi_fail(t, AG_ERR_ARG, "%s: start %lld is out of range for dimension %d of shape %s "
                 "(expected to be in range of [%lld, %lld])", fn, (long long)start, d,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)-size,
                 (long long)size);
        return false;
    }
    if (start < 0)
        start += size;
    if (len < 0) {             /* PyTorch: "narrow(): length must be non-negative." */
        agi_fail(t, AG_ERR_ARG, "%s: length %lld must be non-negative (dimension %d of shape %s)",
                 fn, (long long)len, d, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    if (len > size - start) {
        agi_fail(t, AG_ERR_ARG, "%s: start %lld + length %lld exceeds the size %lld of "
                 "dimension %d (shape %s)", fn, (long long)start, (long long)len, (long long)size,
                 d, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    c->shape[d] = len;
    c->ip[0] = d;
    c->ip[1] = start;
    c->ip[2] = len;
    return true;
}

ag_tensor *ag_narrow(ag_tape *t, ag_tensor *x, int dim, int64_t start, int64_t length)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim, start, length } };
    return agi_record(t, AGI_OP_NARROW, &c);
}

bool agi_shape_select(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    char sb[160];
    int d;
    if (!not_0dim(t, fn, x) || !wrap_dim(t, fn, c->ip[0], x->ndim, x, &d))
        return false;
    const int64_t size = x->shape[d], index = c->ip[1];
    if (index < -size || index >= size) {
        agi_fail(t, AG_ERR_ARG, "%s: index %lld is out of range for dimension %d of shape %s",
                 fn, (long long)index, d, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    c->ndim = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d)
            c->shape[c->ndim++] = x->shape[i];
    c->ip[0] = d;
    c->ip[1] = index < 0 ? index + size : index;
    c->ip[2] = 1;
    return true;
}

ag_tensor *ag_select(ag_tape *t, ag_tensor *x, int dim, int64_t index)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim, index } };
    return agi_record(t, AGI_OP_SELECT, &c);
}

/* ---- index_select: ip[0] dim, ip[1] n, aux the n indices ----
 * out[..., j, ...] = x[..., index[j], ...]; x of any dtype (out has it) */

void agi_isel_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0];
    const int64_t *idx = out->aux;
    const size_t es = agi_dtypes[x->dtype].size;
    int64_t n = out->ip[1], outer, size, inner;
    split3(x, (int)out->ip[0], &outer, &size, &inner);
    const char *xd = (const char *)x->data;
    char *o = (char *)out->data;
    const size_t row = (size_t)inner * es;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t j = 0; j < n; j++, o += row)
            memcpy(o, xd + (size_t)(b * size + idx[j]) * row, row);
}
/* dx[..., index[j], ...] += dout[..., j, ...]  (repeated indices accumulate) */
void agi_isel_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0];
    const int64_t *idx = out->aux;
    int64_t n = out->ip[1], outer, size, inner;
    split3(x, (int)out->ip[0], &outer, &size, &inner);
    for (int64_t b = 0; b < outer; b++)
        for (int64_t j = 0; j < n; j++, dout += inner) {
            float *dx = din[0] + (b * size + idx[j]) * inner;
            for (int64_t i = 0; i < inner; i++)
                dx[i] += dout[i];
        }
}

bool agi_shape_index_select(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const int64_t *idx = c->aux, n = c->ip[1];
    char sb[160];
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x->ndim, x, &d))
        return false;
    if (n < 0 || (n > 0 && !idx)) {
        agi_fail(t, AG_ERR_ARG, n < 0 ? "%s: %lld indices" : "%s: the list of %lld indices is NULL",
                 fn, (long long)n);
        return false;
    }
    if (x->ndim == 0 && n != 1) {
        agi_fail(t, AG_ERR_SHAPE, "%s: a 0-dim input takes exactly one index, %lld given", fn,
                 (long long)n);
        return false;
    }
    const int64_t size = x->ndim ? x->shape[d] : 1;
    for (int64_t j = 0; j < n; j++)
        if (idx[j] < 0 || idx[j] >= size) {
            agi_fail(t, AG_ERR_ARG, "%s: index %lld (at position %lld) is out of range for "
                     "dimension %d of shape %s", fn, (long long)idx[j], (long long)j, d,
                     agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
            return false;
        }
    if (!agi_mul_size((size_t)n, sizeof *idx, &c->aux_size)) {
        agi_fail(t, AG_ERR_NOMEM, "%s: %lld indices are too many", fn, (long long)n);
        return false;
    }
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    if (x->ndim)
        c->shape[d] = n;
    c->ip[0] = d;
    c->dtype = x->dtype;       /* (float32 unless the call is any_dtype) */
    return true;
}

ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int dim, int64_t n, const int64_t *index)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim, n }, .aux = index };
    return agi_record(t, AGI_OP_INDEX_SELECT, &c);
}

/* ---- gather: ip[0] dim, aux the index (out's shape) ----
 * out[i...] = x[i with i[dim] replaced by index[i...]] */

/* The walk over out reading x without the dim (stride 0 there); the step of
 * x along dim in *sdim. */
static void gather_walk(const ag_tensor *out, agi_bcast *w, int64_t *sdim)
{
    const ag_tensor *x = out->in[0];
    const int d = (int)out->ip[0];
    int64_t xs[AG_MAX_DIMS] = { 0 };   /* a 0-dim x under a 1-dim index: stride 0 */
    strides_of(x->ndim, x->shape, xs);
    *sdim = x->ndim ? xs[d] : 0;
    if (x->ndim)
        xs[d] = 0;
    walk_init(w, out->ndim, out->shape, xs);
}

/* out = x gathered, for x's element type T (one loop per dtype) */
#define GATHER_LOOP(T, optr, xptr)                                                \
    do {                                                                          \
        const T *x_ = (const T *)(xptr);                                          \
        T *o_ = (T *)(optr);                                                      \
        AGI_BCAST_LOOP(&w, io, ia, ib, {                                          \
            (void)ib;                                                             \
            o_[io] = x_[ia + idx[io] * sd];                                       \
        });                                                                       \
    } while (0)

void agi_gather_fwd(ag_tensor *out)
{
    if (out->numel == 0)
        return;
    const ag_tensor *x = out->in[0];
    const int64_t *idx = out->aux;
    int64_t sd;
    agi_bcast w;
    gather_walk(out, &w, &sd);
    if (x->dtype == AG_INT64)
        GATHER_LOOP(int64_t, out->data, x->data);
    else if (x->dtype == AG_BOOL)
        GATHER_LOOP(bool, out->data, x->data);
    else
        GATHER_LOOP(float, out->data, x->data);
}
/* dx[i with i[dim] = index[i...]] += dout[i...]  (a scatter-add) */
void agi_gather_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    if (out->numel == 0)
        return;
    const int64_t *idx = out->aux;
    float *dx = din[0];
    int64_t sd;
    agi_bcast w;
    gather_walk(out, &w, &sd);
    AGI_BCAST_LOOP(&w, io, ia, ib, {
        (void)ib;
        dx[ia + idx[io] * sd] += dout[io];
    });
}

/* aux an agi_gather_args, replaced by the index itself. As PyTorch: a 0-dim
 * index or x counts as 1-dim, and an empty index is not compared with x. */
bool agi_shape_gather(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const agi_gather_args *a = c->aux;
    const int ind = a->ndim < 0 ? x->ndim : a->ndim;
    char s1[160], s2[160];
    int d;
    if (!wrap_dim(t, fn, c->ip[0], x->ndim, x, &d) || !check_ndim(t, fn, ind, a->shape))
        return false;
    int64_t n;
    if (!agi_numel(ind, a->shape, &n)) {
        agi_fail(t, AG_ERR_SHAPE, "%s: index shape %s has a negative size or is too large", fn,
                 agi_shape_str(s1, sizeof s1, ind, a->shape));
        return false;
    }
    if (n > 0 && (ind > 1 ? ind : 1) != (x->ndim > 1 ? x->ndim : 1)) {
        agi_fail(t, AG_ERR_SHAPE, "%s: index of shape %s must have as many dimensions as the "
                 "input of shape %s", fn, agi_shape_str(s1, sizeof s1, ind, a->shape),
                 agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
        return false;
    }
    for (int i = 0; n > 0 && i < ind; i++)
        if (i != d && a->shape[i] > x->shape[i]) {
            agi_fail(t, AG_ERR_SHAPE, "%s: index shape %s must not be larger than the input's "
                     "shape %s apart from dimension %d", fn,
                     agi_shape_str(s1, sizeof s1, ind, a->shape),
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape), d);
            return false;
        }
    if (n > 0 && !a->index) {
        agi_fail(t, AG_ERR_ARG, "%s: the index is NULL", fn);
        return false;
    }
    const int64_t size = x->ndim ? x->shape[d] : 1;
    for (int64_t j = 0; j < n; j++)
        if (a->index[j] < 0 || a->index[j] >= size) {
            agi_fail(t, AG_ERR_ARG, "%s: index %lld (at position %lld) is out of bounds for "
                     "dimension %d with size %lld", fn, (long long)a->index[j], (long long)j,
                     d, (long long)size);
            return false;
        }
    c->ndim = ind;
    for (int i = 0; i < ind; i++)
        c->shape[i] = a->shape[i];
    c->ip[0] = d;
    c->dtype = x->dtype;       /* (float32 unless the call is any_dtype) */
    c->aux = a->index;
    c->aux_size = (size_t)n * sizeof(int64_t);    /* n is below SIZE_MAX / 8 (agi_numel) */
    return true;
}

ag_tensor *ag_gather(ag_tape *t, ag_tensor *x, int dim, const int64_t *index_shape,
                     const int64_t *index)
{
    ag_tensor *in[1] = { x };
    agi_gather_args a = { -1, index_shape, index };
    agi_call c = { .nin = 1, .in = in, .ip = { dim }, .aux = &a };
    return agi_record(t, AGI_OP_GATHER, &c);
}
