/* ops/arith.c - add, sub, mul, div (broadcasting), neg, and ops with a scalar
 * operand (a + s, a - s, s - a, a * s, a / s, s / a).
 *
 * Shapes: a, b are the inputs, out the broadcast result; dout has out's shape,
 * da and db have the shapes of a and b (broadcast dimensions are summed). */
#include "internal.h"
#include "kernels/binary.h"
#include "kernels/unary.h"

/* ---- add: out = a + b ---- */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_ADD, a, b); }
BINARY_FORWARD_FN(agi_add_fwd, a + b)
/* da = g, db = g */
BINARY_BACKWARD_FN(agi_add_bwd, g, g)

/* ---- sub: out = a - b ---- */
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_SUB, a, b); }
BINARY_FORWARD_FN(agi_sub_fwd, a - b)
/* da = g, db = -g */
BINARY_BACKWARD_FN(agi_sub_bwd, g, -g)

/* ---- mul: out = a * b ---- */
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MUL, a, b); }
BINARY_FORWARD_FN(agi_mul_fwd, a * b)
/* da = g * b, db = g * a */
BINARY_BACKWARD_FN(agi_mul_bwd, g * b, g * a)

/* ---- neg: out = -a ---- */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_NEG, a, 0.0f); }
static void neg_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = -x[i];
}
void agi_neg_fwd(ag_tensor *out) { agi_ew_fwd(out, neg_fwd_r); }
/* da = -g  (also rsub_scalar's backward) */
static void neg_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] -= g[i];
}
AGI_EW_BWD(agi_neg_bwd, neg_bwd_r)

/* ---- add_scalar: out = a + s;  sub_scalar: out = a - s ---- */
ag_tensor *ag_add_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_ADD_SCALAR, a, s); }
ag_tensor *ag_sub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_SUB_SCALAR, a, s); }
static void adds_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] + s;
}
void agi_adds_fwd(ag_tensor *out) { agi_ew_fwd(out, adds_fwd_r); }
static void subs_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] - s;
}
void agi_subs_fwd(ag_tensor *out) { agi_ew_fwd(out, subs_fwd_r); }
/* da = g  (for a + s and a - s alike) */
static void adds_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i];
}
AGI_EW_BWD(agi_adds_bwd, adds_bwd_r)

/* ---- rsub_scalar: out = s - a;  backward is neg's: da = -g ---- */
ag_tensor *ag_rsub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_RSUB_SCALAR, a, s); }
static void rsubs_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = s - x[i];
}
void agi_rsubs_fwd(ag_tensor *out) { agi_ew_fwd(out, rsubs_fwd_r); }

/* ---- mul_scalar: out = a * s ---- */
ag_tensor *ag_mul_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_MUL_SCALAR, a, s); }
static void muls_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] * s;
}
void agi_muls_fwd(ag_tensor *out) { agi_ew_fwd(out, muls_fwd_r); }
/* da = g * s */
static void muls_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *g = e->g;
    float *d = e->d;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * s;
}
AGI_EW_BWD(agi_muls_bwd, muls_bwd_r)

/* ---- div: out = a / b (true division; x / 0 is +-inf or NaN, as in PyTorch) ---- */
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_DIV, a, b); }
BINARY_FORWARD_FN(agi_div_fwd, a / b)
/* da = g / b,  db = -g * ((a / b) / b)  (PyTorch's div_tensor_*_backward, same rounding) */
BINARY_BACKWARD_FN(agi_div_bwd, g / b, -g * ((a / b) / b))

/* ---- div_scalar: out = a / s (a true division, not a * (1/s), as PyTorch's) ---- */
ag_tensor *ag_div_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_DIV_SCALAR, a, s); }
static void divs_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = x[i] / s;
}
void agi_divs_fwd(ag_tensor *out) { agi_ew_fwd(out, divs_fwd_r); }
/* da = g / s */
static void divs_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *g = e->g;
    float *d = e->d;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] / s;
}
AGI_EW_BWD(agi_divs_bwd, divs_bwd_r)

/* ---- rdiv_scalar: out = s / a, computed as PyTorch's s / x is,
 * x.reciprocal() * s (one node here, its grad_fn MulBackward0) ---- */
ag_tensor *ag_rdiv_scalar(ag_tape *t, ag_tensor *a, float s)
{
    return agi_unary(t, AGI_OP_RDIV_SCALAR, a, s);
}
static void rdivs_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++)
        y[i] = (1.0f / x[i]) * s;
}
void agi_rdivs_fwd(ag_tensor *out) { agi_ew_fwd(out, rdivs_fwd_r); }
/* r = 1 / a;  da = -(g * s) * (r * r)  (MulBackward0 then ReciprocalBackward0,
 * with their rounding) */
static void rdivs_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float s = e->p0;
    for (int64_t i = lo; i < hi; i++) {
        const float r = 1.0f / x[i];
        d[i] += -(g[i] * s) * (r * r);
    }
}
AGI_EW_BWD(agi_rdivs_bwd, rdivs_bwd_r)
