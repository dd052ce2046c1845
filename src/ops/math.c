/* ops/math.c - elementwise math: pow (float or tensor exponent), exp, log,
 * sin, cos, tan, sqrt, abs, reciprocal, rsqrt, square (pow 2), log1p, expm1,
 * erf, and the piecewise constant sign, floor, ceil, round (zero gradient).
 *
 * Shapes: for the unary ops out, dout and da all have the input's shape; for
 * pow_tensor, a and b are the inputs, out their broadcast, and da, db have
 * the shapes of a and b (broadcast dimensions are summed). */
#include "internal.h"
#include "kernels/binary.h"
#include "kernels/unary.h"
#include "kernels/vmath.h"

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
static void pow_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        e->y[i] = powp(e->x[i], e->p0);
}
void agi_pow_fwd(ag_tensor *out) { agi_ew_fwd(out, pow_fwd_r); }
/* da = g * (p * a ** (p - 1));  0 when p == 0 (PyTorch's pow_backward) */
static void pow_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float p = e->p0;
    for (int64_t i = lo; i < hi; i++)
        e->d[i] += e->g[i] * (p * powp(e->x[i], p - 1.0f));
}
void agi_pow_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    if (out->param[0] != 0.0f)
        agi_ew_bwd(out, dout, din, pow_bwd_r);
}
void agi_pow_bwd_tile(const ag_tensor *out, const float *dout, float *const *din, int64_t lo,
                      int64_t hi)
{
    if (out->param[0] != 0.0f)
        agi_ew_tile(out, dout, din, lo, hi, pow_bwd_r);
}

/* ---- exp: out = e ** a ---- */
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_EXP, a, 0.0f); }
static AGI_EW_INLINE void exp_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = agi_vexpf(x[i]);
}
AGI_EW_WIDE(exp_fwd_r)
void agi_exp_fwd(ag_tensor *out) { agi_ew_fwd(out, exp_fwd_r); }
/* da = g * out */
static void exp_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * y[i];
}
AGI_EW_BWD(agi_exp_bwd, exp_bwd_r)

/* ---- sin: out = sin(a) ---- */
ag_tensor *ag_sin(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SIN, a, 0.0f); }
/* The vectorised loops leave the rare arguments agi_vsinf_r / agi_vcosf_r
 * get wrong (|a| > AGI_VTRIG_MAX, inf, NaN, a few floats right next to a
 * multiple of pi/2) alone, and a scalar pass over a block that had any gives
 * them libm's value. */
#define TRIG_BLOCK 1024

/* y = VF(x) over [lo, hi), then LIBM(x) for the elements VF flagged */
#define TRIG_FWD(name, VF, LIBM)                                                 \
    static AGI_EW_INLINE void name##_body(const agi_ew *e, int64_t lo, int64_t hi) \
    {                                                                            \
        const float *x = e->x;                                                   \
        float *y = e->y;                                                         \
        for (int64_t b0 = lo; b0 < hi; b0 += TRIG_BLOCK) {                       \
            const int64_t b1 = hi - b0 < TRIG_BLOCK ? hi : b0 + TRIG_BLOCK;      \
            int bad = 0;                                                         \
            for (int64_t i = b0; i < b1; i++) {                                  \
                int b;                                                           \
                y[i] = VF(x[i], &b);                                             \
                bad |= b;                                                        \
            }                                                                    \
            if (bad)                                                             \
                for (int64_t i = b0; i < b1; i++)                                \
                    if (agi_vtrig_bad(x[i]))                                     \
                        y[i] = LIBM(x[i]);                                       \
        }                                                                        \
    }                                                                            \
    AGI_EW_WIDE(name)

/* d += g * SIGN VF(x) over [lo, hi), the flagged elements with LIBM(x) */
#define TRIG_BWD(name, VF, SIGN, LIBM)                                           \
    static AGI_EW_INLINE void name##_body(const agi_ew *e, int64_t lo, int64_t hi) \
    {                                                                            \
        const float *x = e->x, *g = e->g;                                        \
        float *d = e->d;                                                         \
        for (int64_t b0 = lo; b0 < hi; b0 += TRIG_BLOCK) {                       \
            const int64_t b1 = hi - b0 < TRIG_BLOCK ? hi : b0 + TRIG_BLOCK;      \
            int bad = 0;                                                         \
            for (int64_t i = b0; i < b1; i++) {                                  \
                int b;                                                           \
                const float v = d[i] + g[i] * SIGN VF(x[i], &b);                 \
                d[i] = b ? d[i] : v;                                             \
                bad |= b;                                                        \
            }                                                                    \
            if (bad)                                                             \
                for (int64_t i = b0; i < b1; i++)                                \
                    if (agi_vtrig_bad(x[i]))                                     \
                        d[i] += g[i] * SIGN LIBM(x[i]);                          \
        }                                                                        \
    }                                                                            \
    AGI_EW_WIDE(name)
TRIG_FWD(sin_fwd_r, agi_vsinf_r, sinf)
void agi_sin_fwd(ag_tensor *out) { agi_ew_fwd(out, sin_fwd_r); }
/* da = g * cos(a) */
TRIG_BWD(sin_bwd_r, agi_vcosf_r, +, cosf)
AGI_EW_BWD(agi_sin_bwd, sin_bwd_r)

/* ---- sqrt: out = sqrt(a);  NaN for a < 0, as in PyTorch ---- */
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SQRT, a, 0.0f); }
static AGI_EW_INLINE void sqrt_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = sqrtf(x[i]);
}
AGI_EW_WIDE(sqrt_fwd_r)
void agi_sqrt_fwd(ag_tensor *out) { agi_ew_fwd(out, sqrt_fwd_r); }
/* da = g / (2 * out);  inf at a == 0, NaN for a < 0 */
static AGI_EW_INLINE void sqrt_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] / (2.0f * y[i]);
}
AGI_EW_WIDE(sqrt_bwd_r)
AGI_EW_BWD(agi_sqrt_bwd, sqrt_bwd_r)

/* ---- pow_tensor: out = a ** b, both tensors (torch.pow(a, b)) ---- */
ag_tensor *ag_pow_tensor(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    return agi_binary(t, AGI_OP_POW_TENSOR, a, b);
}
BINARY_FORWARD_FN(agi_powt_fwd, powf(a, b))
/* da = g * (b * a ** (b - 1)), 0 where b == 0           (pow_backward_self)
 * db = g * (a ** b * log(a)), 0 where a == 0 and b >= 0  (pow_backward_exponent) */
BINARY_BACKWARD_FN(agi_powt_bwd,
                   b == 0.0f ? 0.0f : g * (b * powf(a, b - 1.0f)),
                   g * ((a == 0.0f && b >= 0.0f) ? 0.0f : powf(a, b) * logf(a)))

/* ---- log: out = ln(a);  -inf at 0, NaN below 0 ---- */
ag_tensor *ag_log(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_LOG, a, 0.0f); }
static AGI_EW_INLINE void log_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = agi_vlogf(x[i]);
}
AGI_EW_WIDE(log_fwd_r)
void agi_log_fwd(ag_tensor *out) { agi_ew_fwd(out, log_fwd_r); }
/* da = g / a  (inf at 0; finite, not NaN, below 0, as in PyTorch) */
static void log_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] / x[i];
}
AGI_EW_BWD(agi_log_bwd, log_bwd_r)

/* ---- cos: out = cos(a) ---- */
ag_tensor *ag_cos(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_COS, a, 0.0f); }
TRIG_FWD(cos_fwd_r, agi_vcosf_r, cosf)
void agi_cos_fwd(ag_tensor *out) { agi_ew_fwd(out, cos_fwd_r); }
/* da = g * -sin(a) */
TRIG_BWD(cos_bwd_r, agi_vsinf_r, -, sinf)
AGI_EW_BWD(agi_cos_bwd, cos_bwd_r)

/* ---- tan: out = tan(a) ---- */
ag_tensor *ag_tan(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_TAN, a, 0.0f); }
static void tan_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        e->y[i] = tanf(e->x[i]);
}
void agi_tan_fwd(ag_tensor *out) { agi_ew_fwd(out, tan_fwd_r); }
/* da = g * (1 + out ** 2) */
static void tan_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * (1.0f + y[i] * y[i]);
}
AGI_EW_BWD(agi_tan_bwd, tan_bwd_r)

/* ---- abs: out = |a| ---- */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_ABS, a, 0.0f); }
static void abs_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = fabsf(x[i]);
}
void agi_abs_fwd(ag_tensor *out) { agi_ew_fwd(out, abs_fwd_r); }
/* da = g * sgn(a), where sgn is 0 at +-0 and at NaN (PyTorch's sgn) */
static void abs_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * (float)((x[i] > 0.0f) - (x[i] < 0.0f));
}
AGI_EW_BWD(agi_abs_bwd, abs_bwd_r)

/* ---- reciprocal: out = 1 / a;  +-inf at +-0 ---- */
ag_tensor *ag_reciprocal(ag_tape *t, ag_tensor *a)
{
    return agi_unary(t, AGI_OP_RECIPROCAL, a, 0.0f);
}
static void recip_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = 1.0f / x[i];
}
void agi_recip_fwd(ag_tensor *out) { agi_ew_fwd(out, recip_fwd_r); }
/* da = -g * (out * out)  (PyTorch's reciprocal formula, same rounding) */
static void recip_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += -g[i] * (y[i] * y[i]);
}
AGI_EW_BWD(agi_recip_bwd, recip_bwd_r)

/* ---- rsqrt: out = 1 / sqrt(a);  inf at 0, NaN below 0 ---- */
ag_tensor *ag_rsqrt(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_RSQRT, a, 0.0f); }
static AGI_EW_INLINE void rsqrt_fwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = 1.0f / sqrtf(x[i]);
}
AGI_EW_WIDE(rsqrt_fwd_r)
void agi_rsqrt_fwd(ag_tensor *out) { agi_ew_fwd(out, rsqrt_fwd_r); }
/* da = (-0.5 * g) * out ** 3, out ** 3 as (out * out) * out  (PyTorch's
 * -0.5 * grad * result.pow(3)) */
static void rsqrt_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += (-0.5f * g[i]) * (y[i] * y[i] * y[i]);
}
AGI_EW_BWD(agi_rsqrt_bwd, rsqrt_bwd_r)

/* ---- square: a * a, recorded as pow(a, 2) as PyTorch does (PowBackward0) ---- */
ag_tensor *ag_square(ag_tape *t, ag_tensor *a)
{
    ag_tensor *in[1] = { a };
    agi_call c = { .api = "ag_square", .nin = 1, .in = in, .param = { 2.0f } };
    return agi_record(t, AGI_OP_POW, &c);
}

/* ---- log1p: out = ln(1 + a);  -inf at -1, NaN below, and inf above 1e38
 * (PyTorch's CPU kernel is Sleef's log1pf, which returns inf there) ---- */
ag_tensor *ag_log1p(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_LOG1P, a, 0.0f); }
static void log1p_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = agi_log1pf(x[i]);
}
void agi_log1p_fwd(ag_tensor *out) { agi_ew_fwd(out, log1p_fwd_r); }
/* da = g / (a + 1)  (log1p_backward; finite below -1, as in PyTorch) */
static void log1p_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] / (x[i] + 1.0f);
}
AGI_EW_BWD(agi_log1p_bwd, log1p_bwd_r)

/* ---- expm1: out = e ** a - 1, exact near 0 ---- */
ag_tensor *ag_expm1(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_EXPM1, a, 0.0f); }
static void expm1_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = expm1f(x[i]);
}
void agi_expm1_fwd(ag_tensor *out) { agi_ew_fwd(out, expm1_fwd_r); }
/* da = g * (out + 1) */
static void expm1_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *y = e->y, *g = e->g;
    float *d = e->d;
    for (int64_t i = lo; i < hi; i++)
        d[i] += g[i] * (y[i] + 1.0f);
}
AGI_EW_BWD(agi_expm1_bwd, expm1_bwd_r)

/* ---- erf: out = erf(a) ---- */
ag_tensor *ag_erf(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_ERF, a, 0.0f); }
static void erf_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = erff(x[i]);
}
void agi_erf_fwd(ag_tensor *out) { agi_ew_fwd(out, erf_fwd_r); }
/* da = (2 / sqrt(pi)) * exp(-(a * a)) * g  (PyTorch's order; the constant in float) */
static AGI_EW_INLINE void erf_bwd_r_body(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x, *g = e->g;
    float *d = e->d;
    const float c = 1.12837916709551257390f;
    for (int64_t i = lo; i < hi; i++)
        d[i] += c * agi_vexpf(-(x[i] * x[i])) * g[i];
}
AGI_EW_WIDE(erf_bwd_r)
AGI_EW_BWD(agi_erf_bwd, erf_bwd_r)

/* ---- sign, floor, ceil, round: piecewise constant, gradient exactly 0 ---- */
ag_tensor *ag_sign(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_SIGN, a, 0.0f); }
ag_tensor *ag_floor(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_FLOOR, a, 0.0f); }
ag_tensor *ag_ceil(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_CEIL, a, 0.0f); }
ag_tensor *ag_round(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_ROUND, a, 0.0f); }
/* sign: 1, -1, or 0 for +-0 and NaN (torch.sign's (0 < a) - (a < 0)) */
static void sign_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = (float)((x[i] > 0.0f) - (x[i] < 0.0f));
}
void agi_sign_fwd(ag_tensor *out) { agi_ew_fwd(out, sign_fwd_r); }
static void floor_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = floorf(x[i]);
}
void agi_floor_fwd(ag_tensor *out) { agi_ew_fwd(out, floor_fwd_r); }
static void ceil_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = ceilf(x[i]);
}
void agi_ceil_fwd(ag_tensor *out) { agi_ew_fwd(out, ceil_fwd_r); }
/* round half to even (torch.round is std::nearbyint in the default rounding
 * mode; the library never changes it) */
static void round_fwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    const float *x = e->x;
    float *y = e->y;
    for (int64_t i = lo; i < hi; i++)
        y[i] = nearbyintf(x[i]);
}
void agi_round_fwd(ag_tensor *out) { agi_ew_fwd(out, round_fwd_r); }
/* da += 0: nothing to add (PyTorch's zeros_like(grad)); the input's gradient
 * buffer is zeroed by the backward walk before anything is added to it */
static void zero_bwd_r(const agi_ew *e, int64_t lo, int64_t hi)
{
    (void)e;
    (void)lo;
    (void)hi;
}
AGI_EW_BWD(agi_zero_bwd, zero_bwd_r)
