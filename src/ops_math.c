/* ops_math.c - elementwise math: pow (float or tensor exponent), exp, log,
 * sin, cos, tan, sqrt, abs.
 *
 * Shapes: for the unary ops out, dout and da all have the input's shape; for
 * pow_tensor, a and b are the inputs, out their broadcast, and da, db have
 * the shapes of a and b (broadcast dimensions are summed). */
#include "internal.h"
#include "binary.h"

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

/* ---- pow_tensor: out = a ** b, both tensors (torch.pow(a, b)) ---- */
ag_tensor *ag_pow_tensor(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    return agi_binary(t, AGI_OP_POW_TENSOR, a, b);
}
void agi_powt_fwd(ag_tensor *out) { BINARY_FORWARD(out, powf(a, b)); }
/* da = g * (b * a ** (b - 1)), 0 where b == 0           (pow_backward_self)
 * db = g * (a ** b * log(a)), 0 where a == 0 and b >= 0  (pow_backward_exponent) */
void agi_powt_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din,
                    b == 0.0f ? 0.0f : g * (b * powf(a, b - 1.0f)),
                    g * ((a == 0.0f && b >= 0.0f) ? 0.0f : powf(a, b) * logf(a)));
}

/* ---- log: out = ln(a);  -inf at 0, NaN below 0 ---- */
ag_tensor *ag_log(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_LOG, a, 0.0f); }
void agi_log_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = logf(x[i]);
}
/* da = g / a  (inf at 0; finite, not NaN, below 0, as in PyTorch) */
void agi_log_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] / x[i];
}

/* ---- cos: out = cos(a) ---- */
ag_tensor *ag_cos(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_COS, a, 0.0f); }
void agi_cos_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = cosf(x[i]);
}
/* da = g * -sin(a) */
void agi_cos_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * -sinf(x[i]);
}

/* ---- tan: out = tan(a) ---- */
ag_tensor *ag_tan(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_TAN, a, 0.0f); }
void agi_tan_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = tanf(x[i]);
}
/* da = g * (1 + out ** 2) */
void agi_tan_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *y = out->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * (1.0f + y[i] * y[i]);
}

/* ---- abs: out = |a| ---- */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_ABS, a, 0.0f); }
void agi_abs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = fabsf(x[i]);
}
/* da = g * sgn(a), where sgn is 0 at +-0 and at NaN (PyTorch's sgn) */
void agi_abs_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * (float)((x[i] > 0.0f) - (x[i] < 0.0f));
}
