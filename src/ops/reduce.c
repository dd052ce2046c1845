/* ops/reduce.c - reductions (sum, mean, max/min, amax/amin, var/std,
 * logsumexp) and softmax/log_softmax.
 *
 * Shapes: x (= in[0]) is the input. A reduction's out has x's shape with the
 * reduced dims removed, or kept with size 1 under keepdim (the same elements
 * in the same order either way); dout has out's shape and dx has x's.
 * Single-dim ops (max/min over a dim, softmax, log_softmax) view x as
 * (outer, D, inner) around their dim: slice (o, j) is the D elements
 * x[(o*D + d)*inner + j], and its output element (for max/min) is
 * out[o*inner + j].
 *
 * call.ip: ip[0] the reduced dims as a bitmask (single-dim ops: the wrapped
 * dim), ip[1] keepdim, ip[2] the correction (var, std), ip[3] the number of
 * dims in the caller's list. The list itself reaches the shape function as
 * call.aux with aux_size 0 (read there, not copied); the shape function
 * turns it into ip[0] and clears aux.
 *
 * Multi-dim reductions walk x in memory order (rplan below), so reducing
 * inner dims (contiguous runs into one output) and outer dims (contiguous
 * runs into contiguous outputs) both stream through memory; partial sums
 * are kept in double in out->save. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- dims ---- */


/* The caller's dims list (c->aux, c->ip[3] entries) as a bitmask in c->ip[0];
 * an empty list means every dim. False after agi_fail on a bad list. */
static bool parse_dims(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    const int *dims = c->aux;
    const int64_t nd = c->ip[3];
    c->aux = NULL;
    if (nd < 0) {
        agi_fail(t, AG_ERR_ARG, "%s: ndims is %lld", fn, (long long)nd);
        return false;
    }
    if (nd > 0 && !dims) {
        agi_fail(t, AG_ERR_ARG, "%s: dims is NULL with ndims %lld", fn, (long long)nd);
        return false;
    }
    unsigned mask = 0;
    for (int64_t i = 0; i < nd; i++) {
        int d;
        if (!agi_wrap_dim(t, fn, x, dims[i], &d))
            return false;
        if (mask & (1u << d)) {
            agi_fail(t, AG_ERR_ARG, "%s: dim %d appears multiple times in the list of dims", fn, d);
            return false;
        }
        mask |= 1u << d;
    }
    if (nd == 0)
        mask = (1u << x->ndim) - 1u;
    c->ip[0] = (int64_t)mask;
    return true;
}

/* out shape for reducing the dims of mask (bits beyond x's dims ignored). */
static void reduced_shape(agi_call *c, unsigned mask)
{
    const ag_tensor *x = c->in[0];
    const bool keep = c->ip[1] != 0;
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!(mask & (1u << i)))
            c->shape[nd++] = x->shape[i];
        else if (keep)
            c->shape[nd++] = 1;
    }
    c->ndim = nd;
}

static int64_t shape_numel(const agi_call *c)
{
    int64_t n = 1;
    for (int i = 0; i < c->ndim; i++)
        n *= c->shape[i];
    return n;
}

/* An empty reduction (a reduced dim of size 0) is an error for max/min/amax/amin. */
static bool nonempty(ag_tape *t, const char *fn, const ag_tensor *x, unsigned mask)
{
    for (int i = 0; i < x->ndim; i++) {
        if ((mask & (1u << i)) && x->shape[i] == 0) {
            char sb[160];
            agi_fail(t, AG_ERR_SHAPE, "%s: reduction dim %d of input of shape %s has size 0",
                     fn, i, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
            return false;
        }
    }
    return true;
}

/* ---- walking a reduction ----
 * x's dims, with size-1 dims dropped and neighbours of the same kind
 * (reduced or kept) merged, walked in memory order one innermost row at a
 * time. Along a kept dim the output index moves with the input's; along a
 * reduced one it stays. */
typedef struct rplan {
    int nd;                    /* merged dims, >= 1 */
    int64_t n[AG_MAX_DIMS];    /* their sizes */
    int64_t so[AG_MAX_DIMS];   /* output stride per merged dim, 0 if reduced */
    int64_t numel;             /* x's elements */
    int64_t inner;             /* n[nd - 1]: the row length */
    bool inner_red;            /* the row reduces into one output */
    int64_t count;             /* elements reduced into each output */
} rplan;

static void plan_init(rplan *p, const ag_tensor *x, unsigned mask)
{
    bool red[AG_MAX_DIMS];
    int nd = 0;
    p->count = 1;
    for (int i = 0; i < x->ndim; i++) {
        const bool r = (mask >> i) & 1u;
        if (r)
            p->count *= x->shape[i];
        if (x->shape[i] == 1)
            continue;
        if (nd > 0 && red[nd - 1] == r) {
            p->n[nd - 1] *= x->shape[i];
            continue;
        }
        red[nd] = r;
        p->n[nd++] = x->shape[i];
    }
    if (nd == 0) {
        red[0] = true;
        p->n[nd++] = 1;
    }
    int64_t stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        p->so[d] = red[d] ? 0 : stride;
        if (!red[d])
            stride *= p->n[d];
    }
    p->nd = nd;
    p->numel = x->numel;
    p->inner = p->n[nd - 1];
    p->inner_red = red[nd - 1];
}

/* Runs BODY once per row: ix is the row's first input index, io the output
 * index of its first element (of all of it if p->inner_red). */
#define RWALK_ROWS(p, ix, io, ...)                                             \
    do {                                                                       \
        int64_t ridx_[AG_MAX_DIMS] = { 0 };                                    \
        int64_t io = 0;                                                        \
        for (int64_t ix = 0; ix < (p)->numel; ix += (p)->inner) {              \
            __VA_ARGS__                                                        \
            for (int rd_ = (p)->nd - 2; rd_ >= 0; rd_--) {                     \
                if (++ridx_[rd_] < (p)->n[rd_]) {                              \
                    io += (p)->so[rd_];                                        \
                    break;                                                     \
                }                                                              \
                io -= (p)->so[rd_] * ((p)->n[rd_] - 1);                        \
                ridx_[rd_] = 0;                                                \
            }                                                                  \
        }                                                                      \
    } while (0)

/* Runs BODY once per input element i with o its output index. */
#define RWALK(p, i, o, ...)                                                    \
    RWALK_ROWS(p, rx_, ro_, {                                                  \
        const int64_t rn_ = (p)->inner;                                        \
        if ((p)->inner_red) {                                                  \
            const int64_t o = ro_;                                             \
            for (int64_t i = rx_; i < rx_ + rn_; i++) {                        \
                __VA_ARGS__                                                    \
            }                                                                  \
        } else {                                                               \
            for (int64_t rk_ = 0; rk_ < rn_; rk_++) {                          \
                const int64_t i = rx_ + rk_, o = ro_ + rk_;                    \
                __VA_ARGS__                                                    \
            }                                                                  \
        }                                                                      \
    })

/* acc[o] += sum of x over o's elements (acc zeroed by the caller). */
static void sum_into(const rplan *p, const float *x, double *acc)
{
    RWALK_ROWS(p, ix, io, {
        const float *xr = x + ix;
        if (p->inner_red) {
            /* four partial sums: independent additions pipeline */
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            int64_t k = 0;
            for (; k + 4 <= p->inner; k += 4) {
                s0 += xr[k];
                s1 += xr[k + 1];
                s2 += xr[k + 2];
                s3 += xr[k + 3];
            }
            for (; k < p->inner; k++)
                s0 += xr[k];
            acc[io] += (s0 + s1) + (s2 + s3);
        } else {
            double *ar = acc + io;
            for (int64_t k = 0; k < p->inner; k++)
                ar[k] += xr[k];
        }
    });
}

/* dx[i] += dout[o] * scale: the backward of sum (scale 1) and mean. */
static void spread(const rplan *p, const float *dout, float *dx, float scale)
{
    RWALK_ROWS(p, ix, io, {
        float *dr = dx + ix;
        if (p->inner_red) {
            const float g = dout[io] * scale;
            for (int64_t k = 0; k < p->inner; k++)
                dr[k] += g;
        } else {
            const float *gr = dout + io;
            for (int64_t k = 0; k < p->inner; k++)
                dr[k] += gr[k] * scale;
        }
    });
}

/* Shape of sum, mean and logsumexp: partial sums in save (double per output). */
bool agi_shape_reduce(ag_tape *t, const char *fn, agi_call *c)
{
    if (!parse_dims(t, fn, c))
        return false;
    reduced_shape(c, (unsigned)c->ip[0]);
    c->save_size = (size_t)shape_numel(c) * sizeof(double);
    return true;
}

static ag_tensor *reduce_call(ag_tape *t, int op, ag_tensor *x, int ndims, const int *dims,
                              bool keepdim, int64_t correction)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { 0, keepdim, correction, ndims }, .aux = dims };
    return agi_record(t, op, &c);
}

/* ---- sum: out = sum of x over dims ---- */
ag_tensor *ag_sum(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return reduce_call(t, AGI_OP_SUM, x, ndims, dims, keepdim, 0);
}
void agi_sum_fwd(ag_tensor *out)
{
    rplan p;
    plan_init(&p, out->in[0], (unsigned)out->ip[0]);
    double *acc = out->save;
    sum_into(&p, out->in[0]->data, acc);
    for (int64_t o = 0; o < out->numel; o++)
        out->data[o] = (float)acc[o];
}
/* dx = g (broadcast over the reduced dims) */
void agi_sum_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    rplan p;
    plan_init(&p, out->in[0], (unsigned)out->ip[0]);
    spread(&p, dout, din[0], 1.0f);
}

/* ---- mean: out = sum / N, N the number of reduced elements (NaN if 0) ---- */
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return reduce_call(t, AGI_OP_MEAN, x, ndims, dims, keepdim, 0);
}
void agi_mean_fwd(ag_tensor *out)
{
    rplan p;
    plan_init(&p, out->in[0], (unsigned)out->ip[0]);
    double *acc = out->save;
    sum_into(&p, out->in[0]->data, acc);
    const double n = (double)p.count;
    for (int64_t o = 0; o < out->numel; o++)
        out->data[o] = (float)(acc[o] / n);
}
/* dx = g / N */
void agi_mean_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    rplan p;
    plan_init(&p, out->in[0], (unsigned)out->ip[0]);
    spread(&p, dout, din[0], (float)(1.0 / (double)p.count));
}

/* ---- max, min over one dim: torch.max(x, dim).values ----
 * The first maximum along the dim wins, and a NaN beats any number (the
 * first NaN), as PyTorch's CPU kernel picks its index; the index is saved
 * (ag_max_with_indices, in ops/sort.c, returns it). Any dtype, as PyTorch:
 * the values have x's (only float32 ones carry a gradient). */


/* Shape of the single-dim reductions; the index (int64 per output) in save. */
bool agi_shape_extreme_dim(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    int d;
    if (!agi_wrap_dim(t, fn, x, c->ip[0], &d))
        return false;
    if (x->ndim > 0 && !nonempty(t, fn, x, 1u << d))
        return false;
    c->ip[0] = d;
    c->dtype = x->dtype;       /* (the call has any_dtype: every dtype is valid) */
    reduced_shape(c, x->ndim > 0 ? 1u << d : 0u);
    c->save_size = (size_t)shape_numel(c) * sizeof(int64_t);
    return true;
}

static ag_tensor *extreme_dim_call(ag_tape *t, int op, ag_tensor *x, int dim, bool keepdim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim, keepdim }, .any_dtype = true };
    return agi_record(t, op, &c);
}

/* BETTER(v, best): v replaces the best so far */
#define EXTREME_SCAN(T, BETTER)                                                    \
    do {                                                                           \
        const T *xd = (const T *)(const void *)x->data;                            \
        T *y = (T *)(void *)out->data;                                             \
        for (int64_t o = 0; o < s.outer; o++) {                                    \
            for (int64_t j = 0; j < s.inner; j++) {                                \
                const T *xs = xd + o * s.d * s.inner + j;                          \
                T best = xs[0];                                                    \
                int64_t bi = 0;                                                    \
                for (int64_t d = 1; d < s.d; d++) {                                \
                    const T v = xs[d * s.inner];                                   \
                    if (BETTER) {                                                  \
                        best = v;                                                  \
                        bi = d;                                                    \
                    }                                                              \
                }                                                                  \
                y[o * s.inner + j] = best;                                         \
                arg[o * s.inner + j] = bi;                                         \
            }                                                                      \
        }                                                                          \
    } while (0)

static void extreme_dim_fwd(ag_tensor *out, bool is_max)
{
    const ag_tensor *x = out->in[0];
    const agi_slices s = agi_slices_of(x, (int)out->ip[0]);
    int64_t *arg = out->save;
    if (x->dtype == AG_INT64)
        EXTREME_SCAN(int64_t, is_max ? v > best : v < best);
    else if (x->dtype == AG_BOOL)
        EXTREME_SCAN(bool, is_max ? v > best : v < best);
    else
        EXTREME_SCAN(float, !isnan(best) && (isnan(v) || (is_max ? v > best : v < best)));
}

/* dx[index of the chosen element] = g */
static void extreme_dim_bwd(const ag_tensor *out, const float *dout, float *dx)
{
    const agi_slices s = agi_slices_of(out->in[0], (int)out->ip[0]);
    const int64_t *arg = out->save;
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t j = 0; j < s.inner; j++)
            dx[(o * s.d + arg[o * s.inner + j]) * s.inner + j] += dout[o * s.inner + j];
}

ag_tensor *ag_max(ag_tape *t, ag_tensor *x, int dim, bool keepdim)
{
    return extreme_dim_call(t, AGI_OP_MAX, x, dim, keepdim);
}
void agi_max_fwd(ag_tensor *out) { extreme_dim_fwd(out, true); }
/* dx[argmax] = g */
void agi_max_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    extreme_dim_bwd(out, dout, din[0]);
}

ag_tensor *ag_min(ag_tape *t, ag_tensor *x, int dim, bool keepdim)
{
    return extreme_dim_call(t, AGI_OP_MIN, x, dim, keepdim);
}
void agi_min_fwd(ag_tensor *out) { extreme_dim_fwd(out, false); }
/* dx[argmin] = g */
void agi_min_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    extreme_dim_bwd(out, dout, din[0]);
}

/* ---- max_all, min_all: torch.max(x), a 0-dim result ----
 * NaN if x holds one. The gradient is shared evenly by every element equal
 * to the result (every NaN for a NaN result), as PyTorch 1.13 does. */

bool agi_shape_extreme_all(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    if (x->numel == 0) {
        char sb[160];
        agi_fail(t, AG_ERR_SHAPE, "%s: input of shape %s is empty (use ag_amax/ag_max with dims)",
                 fn, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    c->ndim = 0;
    return true;
}

static void extreme_all_fwd(ag_tensor *out, bool is_max)
{
    const ag_tensor *x = out->in[0];
    float best = x->data[0];
    for (int64_t i = 1; i < x->numel && !isnan(best); i++) {
        const float v = x->data[i];
        if (isnan(v) || (is_max ? v > best : v < best))
            best = v;
    }
    out->data[0] = best;
}

/* dx = g / k at the k elements equal to the result, 0 elsewhere */
static void extreme_all_bwd(const ag_tensor *out, const float *dout, float *dx)
{
    const ag_tensor *x = out->in[0];
    const float m = out->data[0];
    const bool nan = isnan(m);
    int64_t k = 0;
    for (int64_t i = 0; i < x->numel; i++)
        k += nan ? isnan(x->data[i]) : x->data[i] == m;
    const float g = dout[0] / (float)k;
    for (int64_t i = 0; i < x->numel; i++)
        if (nan ? isnan(x->data[i]) : x->data[i] == m)
            dx[i] += g;
}

ag_tensor *ag_max_all(ag_tape *t, ag_tensor *x) { return agi_unary(t, AGI_OP_MAX_ALL, x, 0.0f); }
void agi_max_all_fwd(ag_tensor *out) { extreme_all_fwd(out, true); }
/* dx = g / (number of maxima) at each maximum */
void agi_max_all_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    extreme_all_bwd(out, dout, din[0]);
}

ag_tensor *ag_min_all(ag_tape *t, ag_tensor *x) { return agi_unary(t, AGI_OP_MIN_ALL, x, 0.0f); }
void agi_min_all_fwd(ag_tensor *out) { extreme_all_fwd(out, false); }
/* dx = g / (number of minima) at each minimum */
void agi_min_all_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    extreme_all_bwd(out, dout, din[0]);
}

/* ---- amax, amin over dims ----
 * NaN propagates. Ties share the gradient evenly; the count of elements
 * equal to each result is kept in save (double per output). A NaN result
 * has no equal element, so its whole slice gets NaN gradients, as
 * PyTorch's (g / count) * mask gives. */

bool agi_shape_amax(ag_tape *t, const char *fn, agi_call *c)
{
    if (!parse_dims(t, fn, c))
        return false;
    const ag_tensor *x = c->in[0];
    const unsigned mask = (unsigned)c->ip[0];
    if (c->ip[3] == 0 && x->numel == 0) {
        char sb[160];
        agi_fail(t, AG_ERR_SHAPE, "%s: reduction over all dims of the empty input of shape %s",
                 fn, agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    if (!nonempty(t, fn, x, mask))
        return false;
    reduced_shape(c, mask);
    c->save_size = (size_t)shape_numel(c) * sizeof(double);
    return true;
}

static void amax_fwd(ag_tensor *out, bool is_max)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data;
    float *m = out->data;
    double *cnt = out->save;
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    for (int64_t o = 0; o < out->numel; o++)
        m[o] = is_max ? -INFINITY : INFINITY;
    RWALK(&p, i, o, {
        const float v = xd[i];
        if (!isnan(m[o]) && (isnan(v) || (is_max ? v > m[o] : v < m[o])))
            m[o] = v;
    });
    RWALK(&p, i, o, { cnt[o] += xd[i] == m[o]; });
}

/* dx = (g / count) * (x == out) */
static void amax_bwd(const ag_tensor *out, const float *dout, float *dx)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data, *m = out->data;
    const double *cnt = out->save;
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    RWALK(&p, i, o, {
        const float r = dout[o] / (float)cnt[o];
        dx[i] += r * (xd[i] == m[o] ? 1.0f : 0.0f);
    });
}

ag_tensor *ag_amax(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return reduce_call(t, AGI_OP_AMAX, x, ndims, dims, keepdim, 0);
}
void agi_amax_fwd(ag_tensor *out) { amax_fwd(out, true); }
/* dx = (g / count) * (x == out) */
void agi_amax_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    amax_bwd(out, dout, din[0]);
}

ag_tensor *ag_amin(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return reduce_call(t, AGI_OP_AMIN, x, ndims, dims, keepdim, 0);
}
void agi_amin_fwd(ag_tensor *out) { amax_fwd(out, false); }
/* dx = (g / count) * (x == out) */
void agi_amin_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    amax_bwd(out, dout, din[0]);
}

/* ---- var, std over dims with a correction ----
 * var = sum((x - mean)^2) / max(N - c, 0): inf or NaN when N <= c, as in
 * PyTorch. save holds the mean and the sum of squares (double per output). */

bool agi_shape_var(ag_tape *t, const char *fn, agi_call *c)
{
    if (!parse_dims(t, fn, c))
        return false;
    reduced_shape(c, (unsigned)c->ip[0]);
    /* never 0 (a NULL save): var_fwd offsets into it even for an empty result */
    c->save_size = (2 * (size_t)shape_numel(c) + 1) * sizeof(double);
    return true;
}

static void var_fwd(ag_tensor *out, bool is_std)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data;
    const int64_t no = out->numel;
    double *mean = out->save, *m2 = mean + no;
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    sum_into(&p, xd, mean);
    for (int64_t o = 0; o < no; o++)
        mean[o] /= (double)p.count;
    RWALK(&p, i, o, {
        const double dv = (double)xd[i] - mean[o];
        m2[o] += dv * dv;
    });
    const double dof = (double)p.count - (double)out->ip[2];   /* no int64 overflow */
    const double div = dof > 0.0 ? dof : 0.0;
    for (int64_t o = 0; o < no; o++) {
        const double v = m2[o] / div;
        out->data[o] = (float)(is_std ? sqrt(v) : v);
    }
}

/* var: dx = (2 / (N - c)) * g * (x - mean)
 * std: the same with g replaced by g / (2 * std), and by 0 where std == 0 */
static void var_bwd(const ag_tensor *out, const float *dout, float *dx, bool is_std)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data, *y = out->data;
    const double *mean = out->save;
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    const float k = (float)(2.0 / ((double)p.count - (double)out->ip[2]));
    RWALK(&p, i, o, {
        float g = dout[o];
        if (is_std)
            g = y[o] == 0.0f ? 0.0f : g / (y[o] * 2.0f);
        dx[i] += (k * g) * (float)((double)xd[i] - mean[o]);
    });
}

ag_tensor *ag_var(ag_tape *t, ag_tensor *x, int ndims, const int *dims, int64_t correction,
                  bool keepdim)
{
    return reduce_call(t, AGI_OP_VAR, x, ndims, dims, keepdim, correction);
}
void agi_var_fwd(ag_tensor *out) { var_fwd(out, false); }
/* dx = (2 / (N - c)) * g * (x - mean) */
void agi_var_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    var_bwd(out, dout, din[0], false);
}

ag_tensor *ag_std(ag_tape *t, ag_tensor *x, int ndims, const int *dims, int64_t correction,
                  bool keepdim)
{
    return reduce_call(t, AGI_OP_STD, x, ndims, dims, keepdim, correction);
}
void agi_std_fwd(ag_tensor *out) { var_fwd(out, true); }
/* dx = (2 / (N - c)) * (g / (2 * out)) * (x - mean);  0 where out == 0 */
void agi_std_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    var_bwd(out, dout, din[0], true);
}

/* ---- logsumexp over dims: out = log(sum(exp(x - m))) + m ----
 * m is the slice's max, replaced by 0 when infinite (PyTorch's rule: an
 * all -inf slice gives -inf, a +inf gives inf); an empty slice gives -inf.
 * The max is kept in out->data until the sum is done. */
ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return reduce_call(t, AGI_OP_LOGSUMEXP, x, ndims, dims, keepdim, 0);
}
void agi_lse_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data;
    float *m = out->data;
    double *acc = out->save;
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    for (int64_t o = 0; o < out->numel; o++)
        m[o] = -INFINITY;
    RWALK(&p, i, o, {
        const float v = xd[i];
        if (!isnan(m[o]) && (isnan(v) || v > m[o]))
            m[o] = v;
    });
    for (int64_t o = 0; o < out->numel; o++)
        if (isinf(m[o]))
            m[o] = 0.0f;
    RWALK(&p, i, o, { acc[o] += expf(xd[i] - m[o]); });
    for (int64_t o = 0; o < out->numel; o++)
        out->data[o] = (float)log(acc[o]) + m[o];
}
/* dx = g * exp(x - out) */
void agi_lse_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0];
    const float *xd = x->data, *y = out->data;
    float *dx = din[0];
    rplan p;
    plan_init(&p, x, (unsigned)out->ip[0]);
    RWALK(&p, i, o, { dx[i] += dout[o] * expf(xd[i] - y[o]); });
}

/* ---- softmax, log_softmax over one dim ----
 * Max-subtracted: y = exp(x - m) / sum(exp(x - m)). A slice holding NaN or
 * +inf, or all -inf, gives NaN, as in PyTorch. A 0-dim input is its own
 * slice. With inner == 1 each slice is a contiguous row; otherwise a block
 * of up to SM_BLOCK neighbouring slices is processed together, walking its
 * D rows of contiguous elements (so a softmax over dim 0 streams through
 * memory instead of striding across it). */

#define SM_BLOCK 256

bool agi_shape_softmax(ag_tape *t, const char *fn, agi_call *c)
{
    int d;
    if (!agi_wrap_dim(t, fn, c->in[0], c->ip[0], &d))
        return false;
    c->ip[0] = d;
    return agi_shape_same(t, fn, c);
}

static ag_tensor *softmax_call(ag_tape *t, int op, ag_tensor *x, int dim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim } };
    return agi_record(t, op, &c);
}

/* One contiguous slice of n: y = softmax(x), or log_softmax(x) with logp. */
static void softmax_row(float *y, const float *x, int64_t n, bool logp)
{
    float m = -INFINITY;
    for (int64_t d = 0; d < n; d++)
        m = x[d] > m ? x[d] : m;
    double s = 0.0;
    if (logp) {
        for (int64_t d = 0; d < n; d++)
            s += expf(x[d] - m);
        const float ls = (float)log(s);
        for (int64_t d = 0; d < n; d++)
            y[d] = (x[d] - m) - ls;
    } else {
        for (int64_t d = 0; d < n; d++) {
            y[d] = expf(x[d] - m);
            s += y[d];
        }
        const float r = (float)(1.0 / s);
        for (int64_t d = 0; d < n; d++)
            y[d] *= r;
    }
}

/* w neighbouring slices of n elements at stride st (w <= SM_BLOCK). */
static void softmax_block(float *y, const float *x, int64_t n, int64_t st, int64_t w, bool logp)
{
    float m[SM_BLOCK], r[SM_BLOCK];
    double s[SM_BLOCK];
    for (int64_t j = 0; j < w; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0;
    }
    for (int64_t d = 0; d < n; d++) {
        const float *xr = x + d * st;
        for (int64_t j = 0; j < w; j++)
            m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t d = 0; d < n; d++) {
        const float *xr = x + d * st;
        float *yr = y + d * st;
        for (int64_t j = 0; j < w; j++) {
            const float e = expf(xr[j] - m[j]);
            if (!logp)
                yr[j] = e;
            s[j] += e;
        }
    }
    for (int64_t j = 0; j < w; j++)
        r[j] = logp ? (float)log(s[j]) : (float)(1.0 / s[j]);
    for (int64_t d = 0; d < n; d++) {
        const float *xr = x + d * st;
        float *yr = y + d * st;
        if (logp)
            for (int64_t j = 0; j < w; j++)
                yr[j] = (xr[j] - m[j]) - r[j];
        else
            for (int64_t j = 0; j < w; j++)
                yr[j] *= r[j];
    }
}

static void softmax_fwd(ag_tensor *out, bool logp)
{
    const agi_slices s = agi_slices_of(out->in[0], (int)out->ip[0]);
    for (int64_t o = 0; o < s.outer; o++) {
        const int64_t base = o * s.d * s.inner;
        const float *x = out->in[0]->data + base;
        float *y = out->data + base;
        if (s.inner == 1) {
            softmax_row(y, x, s.d, logp);
            continue;
        }
        for (int64_t j = 0; j < s.inner; j += SM_BLOCK) {
            const int64_t w = s.inner - j < SM_BLOCK ? s.inner - j : SM_BLOCK;
            softmax_block(y + j, x + j, s.d, s.inner, w, logp);
        }
    }
}

/* softmax:     dx = y * (g - sum(g * y))
 * log_softmax: dx = g - exp(y) * sum(g)
 * over w neighbouring slices of n elements at stride st (w <= SM_BLOCK). */
static void softmax_back_block(float *dx, const float *y, const float *g, int64_t n, int64_t st,
                               int64_t w, bool logp)
{
    double acc[SM_BLOCK];
    float a[SM_BLOCK];
    for (int64_t j = 0; j < w; j++)
        acc[j] = 0.0;
    for (int64_t d = 0; d < n; d++) {
        const float *yr = y + d * st, *gr = g + d * st;
        if (logp)
            for (int64_t j = 0; j < w; j++)
                acc[j] += gr[j];
        else
            for (int64_t j = 0; j < w; j++)
                acc[j] += (double)gr[j] * yr[j];
    }
    for (int64_t j = 0; j < w; j++)
        a[j] = (float)acc[j];
    for (int64_t d = 0; d < n; d++) {
        const float *yr = y + d * st, *gr = g + d * st;
        float *dr = dx + d * st;
        if (logp)
            for (int64_t j = 0; j < w; j++)
                dr[j] += gr[j] - expf(yr[j]) * a[j];
        else
            for (int64_t j = 0; j < w; j++)
                dr[j] += yr[j] * (gr[j] - a[j]);
    }
}

/* The same for one contiguous slice. */
static void softmax_back_row(float *dx, const float *y, const float *g, int64_t n, bool logp)
{
    double acc = 0.0;
    if (logp) {
        for (int64_t d = 0; d < n; d++)
            acc += g[d];
        const float a = (float)acc;
        for (int64_t d = 0; d < n; d++)
            dx[d] += g[d] - expf(y[d]) * a;
    } else {
        for (int64_t d = 0; d < n; d++)
            acc += (double)g[d] * y[d];
        const float a = (float)acc;
        for (int64_t d = 0; d < n; d++)
            dx[d] += y[d] * (g[d] - a);
    }
}

static void softmax_bwd(const ag_tensor *out, const float *dout, float *dx, bool logp)
{
    const agi_slices s = agi_slices_of(out->in[0], (int)out->ip[0]);
    for (int64_t o = 0; o < s.outer; o++) {
        const int64_t base = o * s.d * s.inner;
        if (s.inner == 1) {
            softmax_back_row(dx + base, out->data + base, dout + base, s.d, logp);
            continue;
        }
        for (int64_t j = 0; j < s.inner; j += SM_BLOCK) {
            const int64_t w = s.inner - j < SM_BLOCK ? s.inner - j : SM_BLOCK;
            softmax_back_block(dx + base + j, out->data + base + j, dout + base + j, s.d,
                               s.inner, w, logp);
        }
    }
}

ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int dim)
{
    return softmax_call(t, AGI_OP_SOFTMAX, x, dim);
}
void agi_softmax_fwd(ag_tensor *out) { softmax_fwd(out, false); }
/* dx = y * (g - sum(g * y)) */
void agi_softmax_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    softmax_bwd(out, dout, din[0], false);
}

ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int dim)
{
    return softmax_call(t, AGI_OP_LOG_SOFTMAX, x, dim);
}
/* y = (x - m) - log(sum(exp(x - m))) */
void agi_log_softmax_fwd(ag_tensor *out) { softmax_fwd(out, true); }
/* dx = g - exp(y) * sum(g) */
void agi_log_softmax_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    softmax_bwd(out, dout, din[0], true);
}
