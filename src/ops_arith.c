/* ops_arith.c - add, sub, mul, div (broadcasting), neg, and ops with a scalar operand.
 *
 * Shapes: a, b are the inputs, out the broadcast result; dout has out's shape,
 * da and db have the shapes of a and b (broadcast dimensions are summed). */
#include "internal.h"
#include "binary.h"

/* ---- add: out = a + b ---- */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_ADD, a, b); }
void agi_add_fwd(ag_tensor *out) { BINARY_FORWARD(out, a + b); }
/* da = g, db = g */
void agi_add_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g, g);
}

/* ---- sub: out = a - b ---- */
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_SUB, a, b); }
void agi_sub_fwd(ag_tensor *out) { BINARY_FORWARD(out, a - b); }
/* da = g, db = -g */
void agi_sub_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g, -g);
}

/* ---- mul: out = a * b ---- */
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MUL, a, b); }
void agi_mul_fwd(ag_tensor *out) { BINARY_FORWARD(out, a * b); }
/* da = g * b, db = g * a */
void agi_mul_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g * b, g * a);
}

/* ---- neg: out = -a ---- */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_NEG, a, 0.0f); }
void agi_neg_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = -x[i];
}
/* da = -g  (also rsub_scalar's backward) */
void agi_neg_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] -= dout[i];
}

/* ---- add_scalar: out = a + s;  sub_scalar: out = a - s ---- */
ag_tensor *ag_add_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_ADD_SCALAR, a, s); }
ag_tensor *ag_sub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_SUB_SCALAR, a, s); }
void agi_adds_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] + s;
}
void agi_subs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] - s;
}
/* da = g  (for a + s and a - s alike) */
void agi_adds_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i];
}

/* ---- rsub_scalar: out = s - a;  backward is neg's: da = -g ---- */
ag_tensor *ag_rsub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_RSUB_SCALAR, a, s); }
void agi_rsubs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = s - x[i];
}

/* ---- mul_scalar: out = a * s ---- */
ag_tensor *ag_mul_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_MUL_SCALAR, a, s); }
void agi_muls_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] * s;
}
/* da = g * s */
void agi_muls_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * s;
}

/* ---- div: out = a / b (true division; x / 0 is +-inf or NaN, as in PyTorch) ---- */
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_DIV, a, b); }
void agi_div_fwd(ag_tensor *out) { BINARY_FORWARD(out, a / b); }
/* da = g / b,  db = -g * ((a / b) / b)  (PyTorch's div_tensor_*_backward, same rounding) */
void agi_div_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g / b, -g * ((a / b) / b));
}

/* ---- div_scalar: out = a / s (a true division, not a * (1/s), as PyTorch's) ---- */
ag_tensor *ag_div_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_DIV_SCALAR, a, s); }
void agi_divs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] / s;
}
/* da = g / s */
void agi_divs_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] / s;
}
