/* ops/act.c - activations (tanh, sigmoid, relu, leaky_relu, gelu, clamp,
 * softplus, silu, elu, hardtanh, mish) and elementwise comparisons (maximum,
 * minimum).
 *
 * Shapes: for the unary ops out, dout and da all have the input's shape; for
 * maximum and minimum, a and b are the inputs, out their broadcast, and da,
 * db have the shapes of a and b (broadcast dimensions are summed).
 * Formulas and their evaluation order follow PyTorch 1.13's CPU kernels, so
 * values round alike and edge values (inf, NaN, kinks) come out the same. */
#include "internal.h"
#include "kernels/binary.h"
#include "kernels/unary.h"
#include "kernels/vmath.h"

#include <math.h>

/* ---- tanh: out = tanh(a) ---- */
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_TANH, a, 0.0f); }
static AGI_EW_INLINE void tanh_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = agi_vtanhf(x[i]);
}
AGI_EW_WIDE(tanh_fwd_r)
void agi_tanh_fwd(ag_tensor *out) { agi_ew_fwd(out, tanh_fwd_r); }
/* da = g * (1 - out * out)  (tanh_backward) */
static void tanh_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * (1.0f - y[i] * y[i]);
}
AGI_EW_BWD(agi_tanh_bwd, tanh_bwd_r)

/* ---- sigmoid: out = 1 / (1 + exp(-a)) (agi_vsigmoidf: e^a / (1 + e^a) for
 * a < 0, so tiny results are not flushed to 0 where exp(-a) overflows) ---- */
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SIGMOID, a, 0.0f); }
static AGI_EW_INLINE void sigmoid_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = agi_vsigmoidf(x[i]);
}
AGI_EW_WIDE(sigmoid_fwd_r)
void agi_sigmoid_fwd(ag_tensor *out) { agi_ew_fwd(out, sigmoid_fwd_r); }
/* da = g * (1 - out) * out  (sigmoid_backward) */
static void sigmoid_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * (1.0f - y[i]) * y[i];
}
AGI_EW_BWD(agi_sigmoid_bwd, sigmoid_bwd_r)

/* ---- relu: out = max(a, 0), NaN stays NaN ---- */
ag_tensor *ag_relu(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_RELU, a, 0.0f); }
static void relu_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}
void agi_relu_fwd(ag_tensor *out) { agi_ew_fwd(out, relu_fwd_r); }
/* da = out > 0 ? g : 0  (threshold_backward on the result: 0 at a == 0, g at NaN) */
static void relu_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++) {
        const float gi = g[i];   /* loaded unconditionally: the loop vectorises */
        d[i] += y[i] <= 0.0f ? 0.0f : gi;
    }
}
AGI_EW_BWD(agi_relu_bwd, relu_bwd_r)

/* ---- leaky_relu: out = a > 0 ? a : a * slope ---- */
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *a, float negative_slope)
{
    return agi_unary(t, AGI_OP_LEAKY_RELU, a, negative_slope);
}
static void lrelu_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] > 0.0f ? x[i] : x[i] * s;
}
void agi_lrelu_fwd(ag_tensor *out) { agi_ew_fwd(out, lrelu_fwd_r); }
/* da = a > 0 ? g : g * slope  (slope at a == 0 and at NaN, as PyTorch's) */
static void lrelu_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        d[i] += x[i] > 0.0f ? g[i] : g[i] * s;
}
AGI_EW_BWD(agi_lrelu_bwd, lrelu_bwd_r)

/* ---- gelu: out = a * Phi(a), exact (erf) or with the tanh approximation ---- */

#define GELU_SQRT1_2 0.70710678118654752440f    /* 1 / sqrt(2) */
#define GELU_ALPHA 0.39894228040143267794f      /* 1 / sqrt(2 pi) */
#define GELU_BETA 0.79788456080286535588f       /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715f

ag_tensor *ag_gelu(ag_tape *t, ag_tensor *a, bool tanh_approximate)
{
    return agi_unary(t, AGI_OP_GELU, a, tanh_approximate ? 1.0f : 0.0f);
}
/* erf:  out = a * 0.5 * (1 + erf(a / sqrt(2)))
 * tanh: out = 0.5 * a * (1 + tanh(inner)),  inner = sqrt(2/pi) * (a + 0.044715 a^3) */
static AGI_EW_INLINE void gelu_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    if (e->p0 != 0.0f) {
        for (int64_t i = lo; i < hi; i++) {
            const float v = x[i], cube = v * v * v;
            const float inner = GELU_BETA * (v + GELU_KAPPA * cube);
            y[i] = 0.5f * v * (1.0f + agi_vtanhf(inner));
        }
    } else {
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * GELU_SQRT1_2));
    }
}
AGI_EW_WIDE(gelu_fwd_r)
void agi_gelu_fwd(ag_tensor *out) { agi_ew_fwd(out, gelu_fwd_r); }
/* erf:  da = g * (cdf + a * pdf),  cdf = 0.5 (1 + erf(a / sqrt(2))),
 *                                  pdf = exp(-a^2 / 2) / sqrt(2 pi)
 * tanh: da = g * (0.5 (1 + th) + 0.5 a (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2)),
 *       th = tanh(inner)   (GeluBackward's formulas, NaN at +-inf as there) */
static AGI_EW_INLINE void gelu_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    if (e->p0 != 0.0f) {
        for (int64_t i = lo; i < hi; i++) {
            const float v = x[i], sq = v * v, cube = sq * v;
            const float th = agi_vtanhf(GELU_BETA * (v + GELU_KAPPA * cube));
            const float left = 0.5f * v, right = 1.0f + th;
            const float dleft = 0.5f * right;
            const float dtanh = 1.0f - th * th;
            const float dinner = GELU_BETA * (1.0f + 3.0f * GELU_KAPPA * sq);
            const float dright = left * dtanh * dinner;
            d[i] += g[i] * (dleft + dright);
        }
    } else {
        for (int64_t i = lo; i < hi; i++) {
            const float v = x[i];
            const float cdf = 0.5f * (1.0f + erff(v * GELU_SQRT1_2));
            const float pdf = GELU_ALPHA * agi_vexpf(v * v * -0.5f);
            d[i] += g[i] * (cdf + v * pdf);
        }
    }
}
AGI_EW_WIDE(gelu_bwd_r)
AGI_EW_BWD(agi_gelu_bwd, gelu_bwd_r)

/* ---- clamp: out = min(max(a, lo), hi); NaN in a or in a bound gives NaN ---- */
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *a, float min, float max)
{
    ag_tensor *in[1] = { a };
    agi_call c = { .nin = 1, .in = in, .param = { min, max } };
    return agi_record(t, AGI_OP_CLAMP, &c);
}
/* lo > hi gives hi everywhere, as torch.clamp */
static float clampf(float x, float lo, float hi)
{
    if (isnan(x))
        return x;
    if (isnan(lo))
        return lo;
    if (isnan(hi))
        return hi;
    const float r = x < lo ? lo : x;
    return r > hi ? hi : r;
}
static void clamp_fwd_r(const agi_ew *e, int64_t i0, int64_t i1)
{
    const float *x = e->x;
    float *y = e->y;
    const float lo = e->p0, hi = e->p1;
    for (int64_t i = i0; i < i1; i++)
        y[i] = clampf(x[i], lo, hi);
}
void agi_clamp_fwd(ag_tensor *out) { agi_ew_fwd(out, clamp_fwd_r); }
/* da = lo <= a <= hi ? g : 0  (g at the bounds; 0 at NaN, and everywhere if lo > hi) */
static void clamp_bwd_r(const agi_ew *e, int64_t i0, int64_t i1)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float lo = e->p0, hi = e->p1;
    for (int64_t i = i0; i < i1; i++) {
        const float gi = g[i];
        d[i] += (x[i] >= lo && x[i] <= hi) ? gi : 0.0f;
    }
}
AGI_EW_BWD(agi_clamp_bwd, clamp_bwd_r)

/* ---- maximum, minimum: elementwise, broadcasting; NaN wins ---- */
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MAXIMUM, a, b); }
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MINIMUM, a, b); }
BINARY_FORWARD_FN(agi_maximum_fwd, isnan(a) ? a : isnan(b) ? b : a > b ? a : b)
BINARY_FORWARD_FN(agi_minimum_fwd, isnan(a) ? a : isnan(b) ? b : a < b ? a : b)
/* maximum: da = a == b ? g / 2 : a < b ? 0 : g,  db = a == b ? g / 2 : a > b ? 0 : g
 * (ties split the gradient; with a NaN operand both get g, as in PyTorch) */
BINARY_BACKWARD_FN(agi_maximum_bwd,
                   a == b ? g / 2.0f : a < b ? 0.0f : g,
                   a == b ? g / 2.0f : a > b ? 0.0f : g)
/* minimum: da = a == b ? g / 2 : a > b ? 0 : g,  db = a == b ? g / 2 : a < b ? 0 : g */
BINARY_BACKWARD_FN(agi_minimum_bwd,
                   a == b ? g / 2.0f : a > b ? 0.0f : g,
                   a == b ? g / 2.0f : a < b ? 0.0f : g)

/* ---- softplus: out = beta * a > threshold ? a : log1p(exp(beta * a)) / beta
 *
 * Where PyTorch's kernels give different values for short and long tensors
 * (its scalar loop runs below 16 contiguous elements, or 32 with AVX-512,
 * and its vector loop above), the ops here follow the vector loop, what
 * tensors of any size get: softplus's log1p is Sleef's (inf for
 * exp(beta * a) > 1e38, seen only with a threshold above 87.5); elu's
 * gradient at NaN is NaN and hardtanh's is 0. ---- */
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *a, float beta, float threshold)
{
    ag_tensor *in[1] = { a };
    agi_call c = { .nin = 1, .in = in, .param = { beta, threshold } };
    return agi_record(t, AGI_OP_SOFTPLUS, &c);
}
static void softplus_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float beta = e->p0, th = e->p1;
    for (int64_t i = lo; i < hi; i++) {
        const float bx = x[i] * beta;
        y[i] = bx > th ? x[i] : agi_log1pf(agi_vexpf(bx)) / beta;
    }
}
void agi_softplus_fwd(ag_tensor *out) { agi_ew_fwd(out, softplus_fwd_r); }
/* z = exp(beta * a);  da = beta * a > threshold ? g : g * z / (z + 1)
 * (softplus_backward, the same switch as the forward; (g * z) / (z + 1) in
 * its order, so NaN where z overflows below the threshold, as there) */
static AGI_EW_INLINE void softplus_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float beta = e->p0, th = e->p1;
    for (int64_t i = lo; i < hi; i++) {
        const float bx = x[i] * beta, z = agi_vexpf(bx);
        const float gi = g[i], v = gi * z / (z + 1.0f);
        d[i] += bx > th ? gi : v;
    }
}
AGI_EW_WIDE(softplus_bwd_r)
AGI_EW_BWD(agi_softplus_bwd, softplus_bwd_r)

/* ---- silu: out = a / (1 + exp(-a))  (a * sigmoid(a)) ---- */
ag_tensor *ag_silu(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SILU, a, 0.0f); }
static AGI_EW_INLINE void silu_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] / (1.0f + agi_vexpf(-x[i]));
}
AGI_EW_WIDE(silu_fwd_r)
void agi_silu_fwd(ag_tensor *out) { agi_ew_fwd(out, silu_fwd_r); }
/* s = 1 / (1 + exp(-a));  da = g * s * (1 + a * (1 - s))  (silu_backward) */
static AGI_EW_INLINE void silu_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++) {
        const float s = 1.0f / (1.0f + agi_vexpf(-x[i]));
        d[i] += g[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}
AGI_EW_WIDE(silu_bwd_r)
AGI_EW_BWD(agi_silu_bwd, silu_bwd_r)

/* ---- elu: out = a > 0 ? a : alpha * (exp(a) - 1)  (exp - 1, not expm1, as
 * PyTorch 1.13's kernel: a = -1e-7 gives -1.19e-7; NaN gives NaN) ---- */
ag_tensor *ag_elu(ag_tape *t, ag_tensor *a, float alpha)
{
    return agi_unary(t, AGI_OP_ELU, a, alpha);
}
static AGI_EW_INLINE void elu_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float alpha = e->p0;
    for (int64_t i = lo; i < hi; i++) {
        const float neg = (agi_vexpf(x[i]) - 1.0f) * alpha;
        y[i] = x[i] <= 0.0f ? neg : x[i];
    }
}
AGI_EW_WIDE(elu_fwd_r)
void agi_elu_fwd(ag_tensor *out) { agi_ew_fwd(out, elu_fwd_r); }
/* da = a > 0 ? g : g * alpha * exp(a)  (elu_backward on the input, as F.elu
 * records it: alpha * g at 0, NaN at NaN as its vector loop gives) */
static AGI_EW_INLINE void elu_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float alpha = e->p0;
    for (int64_t i = lo; i < hi; i++) {
        const float gi = g[i], neg = gi * alpha * agi_vexpf(x[i]);
        d[i] += x[i] > 0.0f ? gi : neg;
    }
}
AGI_EW_WIDE(elu_bwd_r)
AGI_EW_BWD(agi_elu_bwd, elu_bwd_r)

/* ---- hardtanh: out = clamp(a, min_val, max_val) (PyTorch computes it with
 * clamp: NaN stays NaN, min_val > max_val gives max_val) ---- */
ag_tensor *ag_hardtanh(ag_tape *t, ag_tensor *a, float min_val, float max_val)
{
    ag_tensor *in[1] = { a };
    agi_call c = { .nin = 1, .in = in, .param = { min_val, max_val } };
    return agi_record(t, AGI_OP_HARDTANH, &c);
}
void agi_hardtanh_fwd(ag_tensor *out) { agi_ew_fwd(out, clamp_fwd_r); }
/* da = min_val < a < max_val ? g : 0  (hardtanh_backward: 0 at the bounds,
 * unlike clamp's, and 0 at NaN as its vector loop gives) */
static void hardtanh_bwd_r(const agi_ew *e, int64_t i0, int64_t i1)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float lo = e->p0, hi = e->p1;
    for (int64_t i = i0; i < i1; i++) {
        const float gi = g[i];
        d[i] += (x[i] > lo && x[i] < hi) ? gi : 0.0f;
    }
}
AGI_EW_BWD(agi_hardtanh_bwd, hardtanh_bwd_r)

/* ---- mish: out = a * tanh(softplus(a)) = a * tanh(log1p(exp(a))) ---- */
ag_tensor *ag_mish(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_MISH, a, 0.0f); }
static void mish_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] * agi_vtanhf(log1pf(agi_vexpf(x[i])));
}
void agi_mish_fwd(ag_tensor *out) { agi_ew_fwd(out, mish_fwd_r); }
/* s = 1 / (1 + exp(-a)), tsp = tanh(softplus(a));
 * da = g * (tsp + a * s * (1 - tsp * tsp))  (mish_backward) */
static void mish_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++) {
        const float s = 1.0f / (1.0f + agi_vexpf(-x[i]));
        const float tsp = agi_vtanhf(log1pf(agi_vexpf(x[i])));
        d[i] += g[i] * (tsp + x[i] * s * (1.0f - tsp * tsp));
    }
}
AGI_EW_BWD(agi_mish_bwd, mish_bwd_r)
