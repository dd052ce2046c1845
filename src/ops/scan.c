/* ops/scan.c - scans and triangles: cumsum and cumprod over a dim, triu and
 * tril over the last two dims.
 *
 * Shapes: out, dout and dx have x's shape. A scan over dim d sees x as
 * (outer, n, inner): outer the product of the sizes before d, n = size(d),
 * inner the product after (1, 1, 1 for a 0-dim x). triu/tril see x as
 * (batch, rows, cols). An empty x costs nothing beyond the shape check, so
 * none of these loops runs over the sizes of an empty tensor.
 * Scans accumulate in double and round each result to float, as PyTorch's
 * CPU kernels do (their accumulator is acc_type<float> = double). */
#include "internal.h"

#include <string.h>

#define SCAN_BLOCK 256         /* inner positions scanned together (the double accumulators) */


bool agi_scan_shape(ag_tape *t, const char *fn, agi_call *c)
{
    int d;
    if (!agi_wrap_dim(t, fn, c->in[0], c->ip[0], &d))
        return false;
    c->ip[0] = d;
    return agi_shape_same(t, fn, c);
}

/* (outer, n, inner) of x for the scan dim */
static void scan_split(const ag_tensor *x, int d, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    *n = x->ndim > 0 ? x->shape[d] : 1;
    for (int i = 0; i < d && i < x->ndim; i++)
        *outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        *inner *= x->shape[i];
}

static ag_tensor *scan_call(ag_tape *t, int op, ag_tensor *x, int dim)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { dim } };
    return agi_record(t, op, &c);
}

/* y = scan of x along the middle axis of (outer, n, inner), sums or
 * products, each y the double accumulator rounded to float; or, with rev,
 * the reversed scan (from the end) added to y: the cumsum backward. */
static void scan_run(float *y, const float *x, int64_t outer, int64_t n, int64_t inner,
                     bool prod, bool rev)
{
    double acc[SCAN_BLOCK];
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *yo = y + o * n * inner;
        for (int64_t i0 = 0; i0 < inner; i0 += SCAN_BLOCK) {
            const int64_t w = inner - i0 < SCAN_BLOCK ? inner - i0 : SCAN_BLOCK;
            for (int64_t i = 0; i < w; i++)
                acc[i] = prod ? 1.0 : 0.0;
            for (int64_t kk = 0; kk < n; kk++) {
                const int64_t k = rev ? n - 1 - kk : kk;
                const float *xr = xo + k * inner + i0;
                float *yr = yo + k * inner + i0;
                if (prod) {
                    for (int64_t i = 0; i < w; i++) {
                        acc[i] *= xr[i];
                        yr[i] = (float)acc[i];
                    }
                } else if (rev) {
                    for (int64_t i = 0; i < w; i++) {
                        acc[i] += xr[i];
                        yr[i] += (float)acc[i];
                    }
                } else {
                    for (int64_t i = 0; i < w; i++) {
                        acc[i] += xr[i];
                        yr[i] = (float)acc[i];
                    }
                }
            }
        }
    }
}

/* ---- cumsum: out[.., k, ..] = sum_{j <= k} x[.., j, ..] along dim ---- */
ag_tensor *ag_cumsum(ag_tape *t, ag_tensor *x, int dim) { return scan_call(t, AGI_OP_CUMSUM, x, dim); }
void agi_cumsum_fwd(ag_tensor *out)
{
    int64_t outer, n, inner;
    if (out->numel == 0)
        return;
    scan_split(out, (int)out->ip[0], &outer, &n, &inner);
    scan_run(out->data, out->in[0]->data, outer, n, inner, false, false);
}
/* dx[k] += sum_{j >= k} g[j]: the reversed cumsum of g (cumsum_backward:
 * flip, cumsum, flip), accumulated in double and rounded once per element */
void agi_cumsum_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    int64_t outer, n, inner;
    if (!din[0] || out->numel == 0)
        return;
    scan_split(out, (int)out->ip[0], &outer, &n, &inner);
    scan_run(din[0], dout, outer, n, inner, false, true);
}

/* ---- cumprod: out[.., k, ..] = prod_{j <= k} x[.., j, ..] along dim ---- */
ag_tensor *ag_cumprod(ag_tape *t, ag_tensor *x, int dim) { return scan_call(t, AGI_OP_CUMPROD, x, dim); }
void agi_cumprod_fwd(ag_tensor *out)
{
    int64_t outer, n, inner;
    if (out->numel == 0)
        return;
    scan_split(out, (int)out->ip[0], &outer, &n, &inner);
    scan_run(out->data, out->in[0]->data, outer, n, inner, true, false);
}
/* PyTorch's cumprod_backward (its O(n) path, first-order), per slice x[0..n)
 * with result y, g = dout, w[j] = y[j] * g[j] (float), z the first k with
 * x[k] == 0 (n if none):
 *   k < z:   dx[k] += (sum_{k <= j < z} w[j]) / x[k]   (the sum in double from
 *            the end, rounded to float, as its reversed cumsum)
 *   k == z:  dx[z] += (sum_{z <= j < z2} c[j] * g[j]) * (z > 0 ? y[z-1] : 1),
 *            z2 the second zero (or n), c[j] = prod_{z < i <= j} x[i]
 *            (d y[j] / d x[z] with x[z] = 0: the product without it)
 *   k > z:   nothing (every y[j], j >= k, holds the factor x[z] = 0)
 * A dim of size 1 (or a one-element x) passes g through: dx += g. */
static void cumprod_slice(float *dx, const float *x, const float *y, const float *g, int64_t n,
                          int64_t s)
{
    int64_t z = 0;
    while (z < n && x[z * s] != 0.0f)
        z++;
    double acc = 0.0;
    for (int64_t k = z - 1; k >= 0; k--) {
        acc += (double)(y[k * s] * g[k * s]);
        dx[k * s] += (float)acc / x[k * s];
    }
    if (z == n)
        return;
    double c = 1.0, sum = (double)g[z * s];
    for (int64_t j = z + 1; j < n && x[j * s] != 0.0f; j++) {
        c *= x[j * s];
        sum += (double)((float)c * g[j * s]);
    }
    dx[z * s] += (float)sum * (z > 0 ? y[(z - 1) * s] : 1.0f);
}
void agi_cumprod_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    int64_t outer, n, inner;
    if (!din[0] || out->numel == 0)
        return;
    scan_split(out, (int)out->ip[0], &outer, &n, &inner);
    float *dx = din[0];
    if (n == 1 || out->numel == 1) {
        for (int64_t i = 0; i < out->numel; i++)
            dx[i] += dout[i];
        return;
    }
    const float *x = out->in[0]->data, *y = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t off = o * n * inner + i;
            cumprod_slice(dx + off, x + off, y + off, dout + off, n, inner);
        }
}

/* ---- triu, tril: x with the elements below (triu) or above (tril) the
 * diagonal-th diagonal zeroed: triu keeps col - row >= diagonal, tril keeps
 * col - row <= diagonal, over the last two dims ---- */
bool agi_tri_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    if (x->ndim < 2) {
        char sb[160];
        agi_fail(t, AG_ERR_SHAPE, "%s: input of shape %s must have at least 2 dimensions", fn,
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    return agi_shape_same(t, fn, c);
}

static ag_tensor *tri_call(ag_tape *t, int op, ag_tensor *x, int64_t diagonal)
{
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { diagonal } };
    return agi_record(t, op, &c);
}
ag_tensor *ag_triu(ag_tape *t, ag_tensor *x, int64_t diagonal) { return tri_call(t, AGI_OP_TRIU, x, diagonal); }
ag_tensor *ag_tril(ag_tape *t, ag_tensor *x, int64_t diagonal) { return tri_call(t, AGI_OP_TRIL, x, diagonal); }

/* y (=, or += with acc) x where kept, y = 0 (or unchanged) elsewhere */
static void tri_run(float *y, const float *x, const ag_tensor *out, bool upper, bool acc)
{
    if (out->numel == 0)
        return;
    const int64_t rows = out->shape[out->ndim - 2], cols = out->shape[out->ndim - 1];
    const int64_t batch = out->numel / (rows * cols), k = out->ip[0];
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + (b * rows + r) * cols;
            float *yr = y + (b * rows + r) * cols;
            for (int64_t c = 0; c < cols; c++) {
                const bool keep = upper ? c - r >= k : c - r <= k;
                if (acc) {
                    if (keep)
                        yr[c] += xr[c];
                } else {
                    yr[c] = keep ? xr[c] : 0.0f;
                }
            }
        }
}
void agi_triu_fwd(ag_tensor *out) { tri_run(out->data, out->in[0]->data, out, true, false); }
void agi_tril_fwd(ag_tensor *out) { tri_run(out->data, out->in[0]->data, out, false, false); }
/* dx += triu(g, diagonal) (TriuBackward0), tril(g, diagonal) for tril */
void agi_triu_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    if (din[0])
        tri_run(din[0], dout, out, true, true);
}
void agi_tril_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    if (din[0])
        tri_run(din[0], dout, out, false, true);
}
