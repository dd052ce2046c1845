/* ops_math.c - elementwise math: pow (float exponent), exp, sin, sqrt.
 *
 * Shapes: out, dout and da all have the input's shape. */
#include "internal.h"

#include <math.h>

/* x ** p with PyTorch's special cases (its pow kernel computes these
 * exponents by multiplication or sqrt, so they round as PyTorch's do). */
static float powp(float x, float p)
{
    if (p == 2.0f) return x * x;
    if (p == 3.0f) return x * x * x;
    if (p == 0.5f) return sqrtf(x);
    if (p == -0.5f) return 1.0f / sqrtf(x);
    if (p == -1.0f) return 1.0f / x;
    if (p == -2.0f) return 1.0f / (x * x);
    if (p == 1.0f) return x;
    if (p == 0.0f) return 1.0f;
    return powf(x, p);
}

/* ---- pow: out = a ** p ---- */
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, float p) { return agi_unary(t, AGI_OP_POW, a, p); }
void agi_pow_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float p = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = powp(x[i], p);
}
/* da = g * (p * a ** (p - 1));  0 when p == 0 (PyTorch's pow_backward) */
void agi_pow_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    const float p = out->param[0];
    if (p == 0.0f)
        return;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * (p * powp(x[i], p - 1.0f));
}

/* ---- exp: out = e ** a ---- */
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_EXP, a, 0.0f); }
void agi_exp_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = expf(x[i]);
}
/* da = g * out */
void agi_exp_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * out->data[i];
}

/* ---- sin: out = sin(a) ---- */
ag_tensor *ag_sin(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SIN, a, 0.0f); }
void agi_sin_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = sinf(x[i]);
}
/* da = g * cos(a) */
void agi_sin_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * cosf(x[i]);
}

/* ---- sqrt: out = sqrt(a);  NaN for a < 0, as in PyTorch ---- */
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SQRT, a, 0.0f); }
void agi_sqrt_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = sqrtf(x[i]);
}
/* da = g / (2 * out);  inf at a == 0, NaN for a < 0 */
void agi_sqrt_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] / (2.0f * out->data[i]);
}
