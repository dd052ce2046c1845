/* ops/nn.c - affine: y = x @ w^T + b (torch.nn.functional.linear) as one op
 * on the sgemm, with no transposed copy of w and no broadcast add.
 *
 * Shapes: x (..., in) viewed as (M, in), M the product of its leading dims
 * (1 for a 1-D x); w (out, in); b (out) or absent; y (..., out), i.e. x's
 * shape with the last size replaced. */
#include "internal.h"

#include <string.h>

bool agi_affine_shape(ag_tape *t, const char *fn, agi_call *c)
{
    char s1[160], s2[160], s3[160];
    const ag_tensor *x = c->in[0], *w = c->in[1], *b = c->nin > 2 ? c->in[2] : NULL;
    if (c->nin > 3) {
        agi_fail(t, AG_ERR_ARG, "%s: %d inputs given", fn, c->nin);
        return false;
    }
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1]) {
        agi_fail(t, AG_ERR_SHAPE, "%s: input of shape %s and weight of shape %s do not fit "
                 "(the weight must be (out, in) with in the input's last size)", fn,
                 agi_shape_str(s1, sizeof s1, x->ndim, x->shape),
                 agi_shape_str(s2, sizeof s2, w->ndim, w->shape));
        return false;
    }
    if (b && !(b->ndim == 1 && b->shape[0] == w->shape[0])) {
        agi_fail(t, AG_ERR_SHAPE, "%s: bias of shape %s does not fit weight of shape %s "
                 "(input %s)", fn, agi_shape_str(s1, sizeof s1, b->ndim, b->shape),
                 agi_shape_str(s2, sizeof s2, w->ndim, w->shape),
                 agi_shape_str(s3, sizeof s3, x->ndim, x->shape));
        return false;
    }
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    c->shape[x->ndim - 1] = w->shape[0];
    if (b)                     /* the bias gradient's row sums, in double */
        c->save_size = (size_t)w->shape[0] * sizeof(double);
    return true;
}

ag_tensor *ag_affine(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b)
{
    ag_tensor *in[3] = { x, w, b };
    agi_call c = { .nin = b ? 3 : 2, .in = in };
    return agi_record(t, AGI_OP_AFFINE, &c);
}

/* y = x w^T (+ b, row by row) */
void agi_affine_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0], *w = out->in[1];
    const int64_t n_out = w->shape[0], n_in = w->shape[1];
    const int64_t m = n_out ? out->numel / n_out : 0;
    agi_sgemm(false, true, m, n_out, n_in, x->data, n_in, w->data, n_in, out->data, n_out, false);
    if (out->nin > 2) {
        const float *b = out->in[2]->data;
        for (int64_t i = 0; i < m; i++) {
            float *y = out->data + i * n_out;
            for (int64_t j = 0; j < n_out; j++)
                y[j] += b[j];
        }
    }
}

/* dx = g w,  dw = g^T x,  db = sum of g's rows (in double) */
void agi_affine_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0], *w = out->in[1];
    const int64_t n_out = w->shape[0], n_in = w->shape[1];
    const int64_t m = n_out ? out->numel / n_out : 0;
    const unsigned zero = out->tape->din_zero;   /* into zeros: assign (the same, faster) */
    if (din[0])
        agi_sgemm(false, false, m, n_in, n_out, dout, n_out, w->data, n_in, din[0], n_in,
                  !(zero & 1u));
    if (din[1])
        agi_sgemm(true, false, n_out, n_in, m, dout, n_out, x->data, n_in, din[1], n_in,
                  !(zero & 2u));
    if (out->nin > 2 && din[2]) {
        double *acc = out->save;
        memset(acc, 0, (size_t)n_out * sizeof(double));
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n_out; j++)
                acc[j] += dout[i * n_out + j];
        for (int64_t j = 0; j < n_out; j++)
            din[2][j] += (float)acc[j];
    }
}
