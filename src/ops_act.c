/* ops_act.c - activations (tanh, sigmoid, relu, leaky_relu, gelu, clamp) and
 * elementwise comparisons (maximum, minimum).
 *
 * Shapes: for the unary ops out, dout and da all have the input's shape; for
 * maximum and minimum, a and b are the inputs, out their broadcast, and da,
 * db have the shapes of a and b (broadcast dimensions are summed).
 * Formulas and their evaluation order follow PyTorch 1.13's CPU kernels, so
 * values round alike and edge values (inf, NaN, kinks) come out the same. */
#include "internal.h"
#include "binary.h"

#include <math.h>

/* ---- tanh: out = tanh(a) ---- */
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_TANH, a, 0.0f); }
void agi_tanh_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = tanhf(x[i]);
}
/* da = g * (1 - out * out)  (tanh_backward) */
void agi_tanh_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *y = out->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * (1.0f - y[i] * y[i]);
}

/* ---- sigmoid: out = 1 / (1 + exp(-a)) ---- */
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SIGMOID, a, 0.0f); }
void agi_sigmoid_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = 1.0f / (1.0f + expf(-x[i]));
}
/* da = g * (1 - out) * out  (sigmoid_backward) */
void agi_sigmoid_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *y = out->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * (1.0f - y[i]) * y[i];
}

/* ---- relu: out = max(a, 0), NaN stays NaN ---- */
ag_tensor *ag_relu(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_RELU, a, 0.0f); }
void agi_relu_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] < 0.0f ? 0.0f : x[i];
}
/* da = out > 0 ? g : 0  (threshold_backward on the result: 0 at a == 0, g at NaN) */
void agi_relu_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *restrict y = out->data, *restrict g = dout;
    float *restrict d = din[0];              /* distinct buffers: lets it vectorise */
    const int64_t n = out->numel;
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];               /* loaded unconditionally: no branch, so gcc vectorises */
        d[i] = d[i] + (y[i] <= 0.0f ? 0.0f : gi);
    }
}

/* ---- leaky_relu: out = a > 0 ? a : a * slope ---- */
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *a, float negative_slope)
{
    return agi_unary(t, AGI_OP_LEAKY_RELU, a, negative_slope);
}
void agi_lrelu_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] > 0.0f ? x[i] : x[i] * s;
}
/* da = a > 0 ? g : g * slope  (slope at a == 0 and at NaN, as PyTorch's) */
void agi_lrelu_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += x[i] > 0.0f ? dout[i] : dout[i] * s;
}

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
void agi_gelu_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    if (out->param[0] != 0.0f) {
        for (int64_t i = 0; i < out->numel; i++) {
            const float v = x[i], cube = v * v * v;
            const float inner = GELU_BETA * (v + GELU_KAPPA * cube);
            out->data[i] = 0.5f * v * (1.0f + tanhf(inner));
        }
    } else {
        for (int64_t i = 0; i < out->numel; i++)
            out->data[i] = x[i] * 0.5f * (1.0f + erff(x[i] * GELU_SQRT1_2));
    }
}
/* erf:  da = g * (cdf + a * pdf),  cdf = 0.5 (1 + erf(a / sqrt(2))),
 *                                  pdf = exp(-a^2 / 2) / sqrt(2 pi)
 * tanh: da = g * (0.5 (1 + th) + 0.5 a (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2)),
 *       th = tanh(inner)   (GeluBackward's formulas, NaN at +-inf as there) */
void agi_gelu_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    if (out->param[0] != 0.0f) {
        for (int64_t i = 0; i < out->numel; i++) {
            const float v = x[i], sq = v * v, cube = sq * v;
            const float th = tanhf(GELU_BETA * (v + GELU_KAPPA * cube));
            const float left = 0.5f * v, right = 1.0f + th;
            const float dleft = 0.5f * right;
            const float dtanh = 1.0f - th * th;
            const float dinner = GELU_BETA * (1.0f + 3.0f * GELU_KAPPA * sq);
            const float dright = left * dtanh * dinner;
            din[0][i] += dout[i] * (dleft + dright);
        }
    } else {
        for (int64_t i = 0; i < out->numel; i++) {
            const float v = x[i];
            const float cdf = 0.5f * (1.0f + erff(v * GELU_SQRT1_2));
            const float pdf = GELU_ALPHA * expf(v * v * -0.5f);
            din[0][i] += dout[i] * (cdf + v * pdf);
        }
    }
}

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
void agi_clamp_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float lo = out->param[0], hi = out->param[1];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = clampf(x[i], lo, hi);
}
/* da = lo <= a <= hi ? g : 0  (g at the bounds; 0 at NaN, and everywhere if lo > hi) */
void agi_clamp_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    const float lo = out->param[0], hi = out->param[1];
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += (x[i] >= lo && x[i] <= hi) ? dout[i] : 0.0f;
}

/* ---- maximum, minimum: elementwise, broadcasting; NaN wins ---- */
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MAXIMUM, a, b); }
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MINIMUM, a, b); }
void agi_maximum_fwd(ag_tensor *out)
{
    BINARY_FORWARD(out, isnan(a) ? a : isnan(b) ? b : a > b ? a : b);
}
void agi_minimum_fwd(ag_tensor *out)
{
    BINARY_FORWARD(out, isnan(a) ? a : isnan(b) ? b : a < b ? a : b);
}
/* maximum: da = a == b ? g / 2 : a < b ? 0 : g,  db = a == b ? g / 2 : a > b ? 0 : g
 * (ties split the gradient; with a NaN operand both get g, as in PyTorch) */
void agi_maximum_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din,
                    a == b ? g / 2.0f : a < b ? 0.0f : g,
                    a == b ? g / 2.0f : a > b ? 0.0f : g);
}
/* minimum: da = a == b ? g / 2 : a > b ? 0 : g,  db = a == b ? g / 2 : a < b ? 0 : g */
void agi_minimum_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din,
                    a == b ? g / 2.0f : a > b ? 0.0f : g,
                    a == b ? g / 2.0f : a < b ? 0.0f : g);
}
