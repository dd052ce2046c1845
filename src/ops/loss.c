/* ops/loss.c - fused losses: mse_loss, cross_entropy (class indices and class
 * probabilities), as torch.nn.functional computes them.
 *
 * Shapes: input (N, C, d1..dK) or (C,) unbatched; P = N * d1 * .. * dK
 * positions, S = d1 * .. * dK, so element (n, c, s) sits at n*C*S + c*S + s.
 * Index targets have input's shape without dim 1 (P int64 values); probability
 * targets have input's shape. Reductions: out is 0-dim for mean and sum, the
 * target's shape for none.
 *
 * Cross entropy in one form. With logp = log_softmax(input, dim 1), every
 * variant is
 *     loss_i = -sum_c q_ic * logp_ic            (position i)
 * for coefficients q that do not depend on the input:
 *   index targets y, class weights w (1 without), label smoothing e:
 *     q_ic = ((1 - e) w_y(i) [c == y(i)] + (e / C) w_c) / D,   0 if y(i) is ignored,
 *     D = sum of w_y(i) over non-ignored i for mean, else 1
 *     (this is PyTorch's (1 - e) nll_loss + e smooth_loss / C, both normalised
 *     by the same weight sum);
 *   probability targets t:
 *     q_ic = w_c ((1 - e) t_ic + e / C) / D,   D = P for mean, else 1.
 * so d loss_i / d input_ic = p_ic Q_i - q_ic with p = softmax and
 * Q_i = sum_c q_ic, and d loss_i / d t_ic = -w_c (1 - e) logp_ic / D. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- mse_loss: out = reduce((a - b) ** 2) ---- */

/* ip[0]: the reduction */
bool agi_mse_shape(ag_tape *t, const char *fn, agi_call *c)
{
    if (c->ip[0] < AG_REDUCTION_MEAN || c->ip[0] > AG_REDUCTION_NONE) {
        agi_fail(t, AG_ERR_ARG, "%s: unknown reduction %lld", fn, (long long)c->ip[0]);
        return false;
    }
    if (!agi_shape_bcast(t, fn, c))
        return false;
    if (c->ip[0] != AG_REDUCTION_NONE)
        c->ndim = 0;
    return true;
}

ag_tensor *ag_mse_loss(ag_tape *t, ag_tensor *input, ag_tensor *target, ag_reduction r)
{
    ag_tensor *in[2] = { input, target };
    agi_call c = { .nin = 2, .in = in, .ip = { (int)r } };   /* (int): -1 stays -1 */
    return agi_record(t, AGI_OP_MSE_LOSS, &c);
}

/* The broadcast walk over input and target; same shapes are one flat loop. */
#define MSE_LOOP(out, a, b, BODY)                                                 \
    do {                                                                          \
        int64_t shp_[AG_MAX_DIMS];                                                \
        ag_tensor full_ = *(out);                                                 \
        if ((a)->numel == (b)->numel && (a)->ndim == (b)->ndim &&                 \
            memcmp((a)->shape, (b)->shape, (size_t)(a)->ndim * sizeof shp_[0]) == 0) { \
            for (int64_t i_ = 0; i_ < (a)->numel; i_++) {                         \
                const int64_t io = i_, ia = i_, ib = i_;                          \
                BODY                                                              \
            }                                                                     \
            break;                                                                \
        }                                                                         \
        agi_call cc_ = { .nin = 2, .in = (out)->in };                             \
        agi_shape_bcast(NULL, "", &cc_);                                          \
        full_.ndim = cc_.ndim;                                                    \
        memcpy(full_.shape, cc_.shape, sizeof full_.shape);                       \
        agi_numel(cc_.ndim, cc_.shape, &full_.numel);                             \
        if (full_.numel == 0)                                                     \
            break;                                                                \
        agi_bcast bc_;                                                            \
        agi_bcast_init(&bc_, &full_, (a), (b));                                   \
        AGI_BCAST_LOOP(&bc_, io, ia, ib, BODY);                                   \
    } while (0)

void agi_mse_fwd(ag_tensor *out)
{
    const ag_tensor *a = out->in[0], *b = out->in[1];
    const float *pa = a->data, *pb = b->data;
    if (out->ip[0] == AG_REDUCTION_NONE) {
        float *po = out->data;
        MSE_LOOP(out, a, b, {
            const float d = pa[ia] - pb[ib];
            po[io] = d * d;
        });
        return;
    }
    double s = 0.0;
    int64_t n = 0;
    MSE_LOOP(out, a, b, {
        const float d = pa[ia] - pb[ib];
        s += (double)(d * d);
        n = io + 1;
    });
    out->data[0] = (float)(out->ip[0] == AG_REDUCTION_MEAN ? s / (double)n : s);
}

/* da = g * 2 (a - b) [/ n for mean],  db = -da */
void agi_mse_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *a = out->in[0], *b = out->in[1];
    const float *pa = a->data, *pb = b->data;
    float *da = din[0], *db = din[1];
    const bool none = out->ip[0] == AG_REDUCTION_NONE;
    float scale = 2.0f;
    if (out->ip[0] == AG_REDUCTION_MEAN) {
        int64_t n = 0;
        MSE_LOOP(out, a, b, { (void)ia; (void)ib; n = io + 1; });
        scale = (float)(2.0 / (double)n);
    }
    MSE_LOOP(out, a, b, {
        const float g = (none ? dout[io] : dout[0]) * scale * (pa[ia] - pb[ib]);
        if (da)
            da[ia] += g;
        if (db)
            db[ib] -= g;
    });
}

/* ---- cross_entropy ----
 * in[0] input, in[1] probability target (prob variant only).
 * ip: [0] reduction, [1] ignore_index, [2] has weights, [3] probability targets
 * param[0]: label smoothing. aux: C float weights (if any), then P int64
 * targets (index variant). save: P floats of per-position Q_i, then logp. */

typedef struct ce_geom {
    int64_t n, c, s, p;        /* batch, classes, positions per sample, positions */
} ce_geom;

static ce_geom ce_geometry(const ag_tensor *x)
{
    ce_geom g;
    if (x->ndim == 1) {
        g.n = 1, g.c = x->shape[0], g.s = 1;
    } else {
        g.n = x->shape[0], g.c = x->shape[1], g.s = 1;
        for (int d = 2; d < x->ndim; d++)
            g.s *= x->shape[d];
    }
    g.p = g.n * g.s;
    return g;
}

static const float *ce_weights(const ag_tensor *out)
{
    return out->ip[2] ? (const float *)out->aux : NULL;
}

/* The bytes aux gives the class weights: C floats, rounded up to 8. */
static size_t ce_weight_bytes(bool has_weights, int64_t c)
{
    return has_weights ? (((size_t)c * sizeof(float) + 7) & ~(size_t)7) : 0;
}

static const int64_t *ce_targets(const void *aux, bool has_weights, const ce_geom *g)
{
    if (!aux)                  /* no weights and no targets (P == 0): nothing to offset */
        return NULL;
    return (const int64_t *)((const char *)aux + ce_weight_bytes(has_weights, g->c));
}

bool agi_ce_shape(ag_tape *t, const char *fn, agi_call *c)
{
    char s1[160], s2[160];
    const ag_tensor *x = c->in[0];
    if (x->ndim < 1) {
        agi_fail(t, AG_ERR_SHAPE, "%s: input of shape %s needs at least 1 dimension", fn,
                 agi_shape_str(s1, sizeof s1, x->ndim, x->shape));
        return false;
    }
    if (c->ip[0] < AG_REDUCTION_MEAN || c->ip[0] > AG_REDUCTION_NONE) {
        agi_fail(t, AG_ERR_ARG, "%s: unknown reduction %lld", fn, (long long)c->ip[0]);
        return false;
    }
    const float e = c->param[0];
    if (!(e >= 0.0f && e <= 1.0f)) {
        agi_fail(t, AG_ERR_ARG, "%s: label_smoothing %g is not in [0, 1]", fn, (double)e);
        return false;
    }
    ce_geom g = ce_geometry(x);
    /* the target's (or loss's) shape: input's without dim 1 */
    int nd = 0;
    int64_t tshape[AG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        if (d != (x->ndim == 1 ? 0 : 1))
            tshape[nd++] = x->shape[d];
    if (c->ip[3]) {
        const ag_tensor *y = c->in[1];
        if (y->ndim != x->ndim ||
            memcmp(y->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0) {
            agi_fail(t, AG_ERR_SHAPE, "%s: probability target of shape %s does not match "
                     "input of shape %s", fn, agi_shape_str(s1, sizeof s1, y->ndim, y->shape),
                     agi_shape_str(s2, sizeof s2, x->ndim, x->shape));
            return false;
        }
    } else {
        const int64_t *tg = ce_targets(c->aux, c->ip[2], &g);
        for (int64_t i = 0; i < g.p; i++)
            if (tg[i] != c->ip[1] && (tg[i] < 0 || tg[i] >= g.c)) {
                agi_fail(t, AG_ERR_ARG, "%s: target %lld at position %lld is out of range for "
                         "%lld classes (input of shape %s)", fn, (long long)tg[i], (long long)i,
                         (long long)g.c, agi_shape_str(s1, sizeof s1, x->ndim, x->shape));
                return false;
            }
    }
    if (c->ip[0] == AG_REDUCTION_NONE) {
        c->ndim = nd;
        memcpy(c->shape, tshape, sizeof tshape);
    } else {
        c->ndim = 0;
    }
    size_t need;
    if (!agi_mul_size((size_t)(g.p + x->numel), sizeof(float), &need)) {
        agi_fail(t, AG_ERR_NOMEM, "%s: input of shape %s is too large", fn,
                 agi_shape_str(s1, sizeof s1, x->ndim, x->shape));
        return false;
    }
    c->save_size = need ? need : sizeof(float);   /* never NULL: the kernels offset into it */
    return true;
}

/* The public entry for both variants: checks the options, packs weights and
 * targets into aux. */
static ag_tensor *ce_record(ag_tape *t, const char *fn, ag_tensor *input, ag_tensor *ptarget,
                            const int64_t *target, const ag_ce_opts *opts)
{
    ag_ce_opts o = opts ? *opts : ag_ce_defaults();
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (!input)
        return agi_fail(t, AG_ERR_ARG, "%s: input is NULL", fn);
    if (!ptarget && !target)
        return agi_fail(t, AG_ERR_ARG, "%s: target is NULL", fn);
    char s1[160], s2[160];
    if (!agi_shape_fits(input->ndim, input->shape))   /* before multiplying its sizes */
        return agi_fail(t, AG_ERR_NOMEM, "%s: input of shape %s is too large", fn,
                        agi_shape_str(s1, sizeof s1, input->ndim, input->shape));
    ce_geom g = ce_geometry(input);
    if (input->ndim < 1)
        g.c = g.p = 0;
    if (o.weight && o.weight->dtype != AG_FLOAT32)
        return agi_fail(t, AG_ERR_ARG, "%s: weight is %s, not float32", fn,
                        agi_dtype_str(o.weight->dtype));
    if (o.weight && (o.weight->ndim != 1 || o.weight->shape[0] != g.c))
        return agi_fail(t, AG_ERR_SHAPE, "%s: weight of shape %s does not have one value per "
                        "class of input of shape %s", fn,
                        agi_shape_str(s1, sizeof s1, o.weight->ndim, o.weight->shape),
                        agi_shape_str(s2, sizeof s2, input->ndim, input->shape));
    size_t wbytes = ce_weight_bytes(o.weight != NULL, g.c);
    size_t tbytes = target ? (size_t)g.p * sizeof(int64_t) : 0;
    size_t bytes = wbytes + tbytes;
    /* staged on the tape's arena (agi_record copies it there again), so a
     * training step allocates nothing once the arena has grown */
    void *aux = bytes ? agi_arena_alloc(&t->arena, bytes) : NULL;
    if (bytes && !aux)
        return agi_fail(t, AG_ERR_NOMEM, "%s: out of memory", fn);
    if (o.weight && g.c > 0)
        memcpy(aux, o.weight->data, (size_t)g.c * sizeof(float));
    if (target && tbytes > 0)
        memcpy((char *)aux + wbytes, target, tbytes);
    ag_tensor *in[2] = { input, ptarget };
    agi_call c = { .api = fn, .nin = ptarget ? 2 : 1, .in = in,
                   .param = { o.label_smoothing },
                   .ip = { (int)o.reduction, o.ignore_index, o.weight != NULL, ptarget != NULL },
                   .aux = aux, .aux_size = bytes };
    return agi_record(t, ptarget ? AGI_OP_CROSS_ENTROPY_PROB : AGI_OP_CROSS_ENTROPY, &c);
}

ag_ce_opts ag_ce_defaults(void)
{
    return (ag_ce_opts){ .weight = NULL, .ignore_index = -100,
                         .reduction = AG_REDUCTION_MEAN, .label_smoothing = 0.0f };
}

ag_tensor *ag_cross_entropy(ag_tape *t, ag_tensor *input, const int64_t *target,
                            const ag_ce_opts *opts)
{
    return ce_record(t, "ag_cross_entropy", input, NULL, target, opts);
}

ag_tensor *ag_cross_entropy_tensor(ag_tape *t, ag_tensor *input, const ag_tensor *target,
                                   const ag_ce_opts *opts)
{
    const char *fn = "ag_cross_entropy_tensor";
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (!input)
        return agi_fail(t, AG_ERR_ARG, "%s: input is NULL", fn);
    if (!agi_index_arg(t, fn, "target", target))
        return NULL;
    /* PyTorch's rule: (C) takes a 0-dim target, (N, C, d1..dK) one of (N, d1..dK) */
    if (input->ndim >= 1) {
        int nd = 0;
        int64_t want[AG_MAX_DIMS];
        for (int d = 0; d < input->ndim; d++)
            if (d != (input->ndim == 1 ? 0 : 1))
                want[nd++] = input->shape[d];
        bool ok = target->ndim == nd;
        for (int d = 0; ok && d < nd; d++)
            ok = target->shape[d] == want[d];
        if (!ok) {
            char s1[160], s2[160], s3[160];
            return agi_fail(t, AG_ERR_SHAPE, "%s: expected target of shape %s for input of "
                            "shape %s, got %s", fn, agi_shape_str(s1, sizeof s1, nd, want),
                            agi_shape_str(s2, sizeof s2, input->ndim, input->shape),
                            agi_shape_str(s3, sizeof s3, target->ndim, target->shape));
        }
    }
    static const int64_t none[1] = { 0 };      /* an empty target is not "NULL" */
    return ce_record(t, fn, input, NULL, target->numel > 0 ? agi_i64(target) : none, opts);
}

ag_tensor *ag_cross_entropy_prob(ag_tape *t, ag_tensor *input, ag_tensor *target,
                                 const ag_ce_opts *opts)
{
    if (!target && t && t->status == AG_OK)
        return agi_fail(t, AG_ERR_ARG, "ag_cross_entropy_prob: target is NULL");
    return ce_record(t, "ag_cross_entropy_prob", input, target, NULL, opts);
}

/* q_ic for position i = (n, s) and class c, before dividing by D. */
static inline double ce_q(const ag_tensor *out, const ce_geom *g, const float *w,
                          const int64_t *tg, const float *pt, int64_t n, int64_t s, int64_t c)
{
    const double e = out->param[0];
    const double wc = w ? w[c] : 1.0;
    if (pt)
        return wc * ((1.0 - e) * pt[(n * g->c + c) * g->s + s] + e / (double)g->c);
    const int64_t y = tg[n * g->s + s];
    if (y == out->ip[1])
        return 0.0;
    return (c == y ? (1.0 - e) * (w ? w[y] : 1.0) : 0.0) + e / (double)g->c * wc;
}

/* D: the mean's denominator (1 for sum and none). */
static double ce_denominator(const ag_tensor *out, const ce_geom *g, const float *w,
                             const int64_t *tg)
{
    if (out->ip[0] != AG_REDUCTION_MEAN)
        return 1.0;
    if (out->ip[3])
        return (double)g->p;
    double d = 0.0;
    for (int64_t i = 0; i < g->p; i++)
        if (tg[i] != out->ip[1])
            d += w ? w[tg[i]] : 1.0;
    return d;
}

void agi_ce_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0];
    const ce_geom g = ce_geometry(x);
    const float *w = ce_weights(out);
    const int64_t *tg = out->ip[3] ? NULL : ce_targets(out->aux, out->ip[2], &g);
    const float *pt = out->ip[3] ? out->in[1]->data : NULL;
    float *qsum = out->save, *logp = qsum + g.p;
    const double D = ce_denominator(out, &g, w, tg);
    double total = 0.0;
    if (g.p == 0) {            /* no positions: O(1) whatever N or the other sizes */
        out->data[0] = (float)(total / D);   /* mean: 0 / 0 = nan, as PyTorch */
        return;
    }
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t s = 0; s < g.s; s++) {
            const float *xi = x->data + n * g.c * g.s + s;
            float *li = logp + n * g.c * g.s + s;
            /* logp = x - max - log(sum(exp(x - max))) */
            float m = -INFINITY;
            for (int64_t c = 0; c < g.c; c++)
                m = xi[c * g.s] > m ? xi[c * g.s] : m;
            if (isinf(m))
                m = 0.0f;      /* all -inf (or +inf present): PyTorch's nan/inf follow */
            double se = 0.0;
            for (int64_t c = 0; c < g.c; c++)
                se += exp((double)xi[c * g.s] - m);
            const double lse = log(se);
            double loss = 0.0, q = 0.0;
            for (int64_t c = 0; c < g.c; c++) {
                li[c * g.s] = (float)((double)xi[c * g.s] - m - lse);
                const double qc = ce_q(out, &g, w, tg, pt, n, s, c);
                if (qc != 0.0)
                    loss -= qc * li[c * g.s];
                q += qc;
            }
            qsum[n * g.s + s] = q != 0.0 ? (float)(q / D) : 0.0f;   /* ignored: no gradient, even if D is 0 */
            if (out->ip[0] == AG_REDUCTION_NONE)
                out->data[n * g.s + s] = (float)(loss / D);
            else
                total += loss;
        }
    if (out->ip[0] != AG_REDUCTION_NONE)
        out->data[0] = (float)(total / D);
}

/* dx_ic = g_i (p_ic Q_i - q_ic),  dt_ic = -g_i w_c (1 - e) logp_ic  (each / D) */
void agi_ce_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *x = out->in[0];
    const ce_geom g = ce_geometry(x);
    const float *w = ce_weights(out);
    const int64_t *tg = out->ip[3] ? NULL : ce_targets(out->aux, out->ip[2], &g);
    const float *pt = out->ip[3] ? out->in[1]->data : NULL;
    const float *qsum = out->save, *logp = qsum + g.p;
    const double D = ce_denominator(out, &g, w, tg);
    const double e = out->param[0];
    float *dx = din[0], *dt = out->nin > 1 ? din[1] : NULL;
    if (g.p == 0)              /* (an empty batch of (N, C, 0) can have a huge N) */
        return;
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t s = 0; s < g.s; s++) {
            const int64_t i = n * g.s + s;
            const double gi = out->ip[0] == AG_REDUCTION_NONE ? dout[i] : dout[0];
            for (int64_t c = 0; c < g.c; c++) {
                const int64_t k = (n * g.c + c) * g.s + s;
                if (dx) {
                    const double q = ce_q(out, &g, w, tg, pt, n, s, c);
                    dx[k] += (float)(gi * (exp((double)logp[k]) * qsum[i] - (q != 0.0 ? q / D : 0.0)));
                }
                if (dt)
                    dt[k] -= (float)(gi * (w ? w[c] : 1.0) * (1.0 - e) * logp[k] / D);
            }
        }
}

/* The grad_fn PyTorch's composite cross_entropy leaves on its result, for
 * printing: it depends on the variant that ran. */
const char *agi_ce_grad_fn(const ag_tensor *out)
{
    if (out->ip[3])
        return out->ip[0] == AG_REDUCTION_MEAN ? "DivBackward1" : "NegBackward0";
    if (out->param[0] > 0.0f)
        return "AddBackward0";
    const int nd = out->in[0]->ndim;
    if (nd >= 3)
        return out->ip[0] == AG_REDUCTION_NONE && nd != 4 ? "ViewBackward0" : "NllLoss2DBackward0";
    return "NllLossBackward0";
}
