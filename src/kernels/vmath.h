/* kernels/vmath.h - float32 exp, log, sin, cos, sincos, tanh and sigmoid that
 * compilers vectorise: static inline, branch-free (selects, no table
 * lookups), no libm call, no float-to-int conversion of an out-of-range
 * value. A loop over an array calling them is vectorised (plain SSE2, no
 * -march needed) by gcc -O3 (the library's Release build), gcc -O2 with
 * -fvect-cost-model=dynamic (CMakeLists.txt adds it) and clang -O2; the
 * elementwise kernels in ops/math.c and ops/act.c are such loops.
 *
 * Accuracy (tests/test_vmath.c sweeps the float range against libm's double
 * functions, and checks the special values; the figures are from a sweep of
 * all 2^32 floats):
 *   agi_vexpf, agi_vlogf              <= 1 ulp, whole range (denormals, inf, NaN)
 *   agi_vsinf_r, agi_vcosf_r,
 *   agi_vsincosf_r                    <= 1 ulp, except for the "bad" arguments
 *                                     (|x| > AGI_VTRIG_MAX, inf, NaN, and 64 floats
 *                                     within 2^-22 of a multiple of pi/2), for which
 *                                     they return garbage (no UB, no trap) and say
 *                                     so: callers give those libm's value in a
 *                                     second, scalar pass (agi_vsinf, agi_vcosf do
 *                                     it for one value)
 *   agi_vtanhf, agi_vsigmoidf         <= 2 ulp, whole range
 * sigmoid is e^x / (1 + e^x) below 0, so unlike PyTorch's 1 / (1 + exp(-x))
 * it does not flush to 0 where exp(-x) overflows (x < -88.7).
 *
 * Compile with -fno-trapping-math (gcc will not if-convert a float compare
 * otherwise; CMakeLists.txt sets it for the library). No FMA contraction is
 * assumed (C11 mode: -ffp-contract=off), so results are the same on every
 * x86-64 and with any vector width.
 *
 * How: exp reduces x = n ln2 + r (Cody-Waite), a degree-7 polynomial gives
 * e^r, and 2^n is applied in two exact halves so results that overflow or
 * fall into the denormals round once. log splits x = 2^e m with m in
 * [sqrt(1/2), sqrt(2)) by bit arithmetic (denormals scaled first), then a
 * polynomial in m - 1. sin and cos: see below. tanh uses an odd polynomial
 * for |x| < 0.55 and 1 - 2 / (e^2|x| + 1) above. */
#ifndef AG_VMATH_H
#define AG_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t agi_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float agi_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- exp ---- */
static inline float agi_vexpf(float x)
{
    /* beyond these e^x is inf or 0 anyway; NaN passes the comparisons */
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    /* n = round(x / ln2) by the 1.5 * 2^23 shifter: its low mantissa bits are n */
    const float shift = 0x1.8p23f;
    const float z = x * 1.44269504088896341f + shift;
    const int32_t n = (int32_t)(agi_f2u(z) - agi_f2u(shift));
    const float fn = z - shift;
    /* r = x - n ln2; ln2's head has 9 bits, so fn * head is exact */
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    const float r2 = r * r;
    const float p = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                        4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r2 + r) +
                    1.0f;
    /* 2^n as 2^n1 * 2^n2, both normal for n in [-150, 129] */
    const int32_t n1 = n / 2, n2 = n - n1;
    const float s1 = agi_u2f((uint32_t)(n1 + 127) << 23);
    const float s2 = agi_u2f((uint32_t)(n2 + 127) << 23);
    return p * s1 * s2;
}

/* ---- log ---- */
static inline float agi_vlogf(float x)
{
    /* denormals: scale into the normals */
    const int tiny = x < 0x1p-126f;
    const float xs = tiny ? x * 0x1p23f : x;
    const uint32_t ix = agi_f2u(xs);
    /* e = floor(log2(x / sqrt(1/2))), m = x / 2^e in [sqrt(1/2), sqrt(2)) (for
     * positive finite x; other inputs are replaced below). The bias keeps the
     * unsigned subtraction from wrapping for ix >= 0x00800000. */
    const uint32_t t = ix - 0x3f3504f3u + 0x40000000u;
    const int32_t e = (int32_t)(t >> 23) - 128 - (tiny ? 23 : 0);
    const uint32_t mi = ix - ((t >> 23) - 128u) * 0x00800000u;
    const float f = agi_u2f(mi) - 1.0f;
    const float fe = (float)e;
    const float z = f * f;
    float y = ((((((((7.0376836292e-2f * f - 1.1514610310e-1f) * f + 1.1676998740e-1f) * f -
                    1.2420140846e-1f) * f + 1.4249322787e-1f) * f - 1.6668057665e-1f) * f +
                 2.0000714765e-1f) * f - 2.4999993993e-1f) * f + 3.3333331174e-1f) * f * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    float r = f + y;
    r += 0.693359375f * fe;
    /* special values: log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays */
    r = x == 0.0f ? -INFINITY : r;
    r = x < 0.0f ? NAN : r;
    r = x == INFINITY ? x : r;
    r = x != x ? x : r;
    return r;
}

/* ---- sin, cos ----
 * x = j pi/2 + r in float: pi/2 = C1 + C2 + C3 + C4 where C1..C3 have so
 * few bits that j C1, j C2, j C3 are exact for |j| < 2^11 and x - j C1 - j C2
 * is exact too; the last steps keep r's rounding error in rl (TwoSum), so
 * r + rl is x - j pi/2 to ~2^-50 absolute. That is within 2^-28 relative
 * unless |r| < 2^-22 (x within 2^-22 of a nonzero multiple of pi/2: a handful
 * of floats), and those, with |x| > AGI_VTRIG_MAX, inf and NaN, are the
 * "bad" arguments the _r functions get wrong (with no UB and no trap), which
 * callers give libm's value (agi_vtrig_bad says which). Then degree-9 odd /
 * degree-8 even polynomials on [-pi/4, pi/4] (musl's __sindf, __cosdf
 * coefficients), with rl's first-order term. */
#define AGI_VTRIG_MAX 3200.0f   /* |j| <= 2037 < 2^11 */

/* r + rl = x - j pi/2, q = j mod 4; returns whether x is bad */
static inline int agi_vtrig_reduce(float x, float *r, float *rl, int32_t *q)
{
    /* The tests are integer arithmetic on the bits, sign bits of differences
     * (gcc turns compares combined by | and & into bool selects it cannot
     * vectorise): big = |x| > 3200 or NaN; near = |x| >= 1/2 and |r| < 2^-22
     * (j != 0 with a tiny r). */
    const uint32_t ax = agi_f2u(x) & 0x7fffffffu;
    const uint32_t big = (0x45480000u - ax) >> 31;             /* 3200.0f */
    const float xc = agi_u2f(agi_f2u(x) & (big - 1u));         /* 0 if big */
    const float shift = 0x1.8p23f;
    const float z = xc * 0x1.45f306p-1f + shift;               /* 2/pi */
    const float j = z - shift;
    *q = (int32_t)((agi_f2u(z) - agi_f2u(shift)) & 3u);
    const float r2 = (xc - j * 0x1.92p+0f) - j * 0x1.fb5p-12f;   /* exact */
    const float p3 = j * 0x1.11p-26f;                           /* exact */
    const float r3 = r2 - p3;                                   /* TwoSum(r2, -p3) */
    const float bb = r3 - r2, aa = r3 - bb;
    const float e3 = (r2 - aa) + (-p3 - bb);
    *r = r3;
    *rl = e3 - j * 0x1.68c234p-39f;
    const uint32_t ar = agi_f2u(r3) & 0x7fffffffu;
    const uint32_t near = (1u - ((ax - 0x3f000000u) >> 31)) & ((ar - 0x34800000u) >> 31);
    return (int)(big | near);
}
static inline float agi_vsin_kernel(float r, float rl)
{
    const float z = r * r, w = z * z, s = z * r;
    const float p = -0x1.a00f9ep-13f + z * 0x1.6cd878p-19f;
    return r + ((s * (-0x1.555556p-3f + z * 0x1.111108p-7f) + s * w * p) + rl);
}
static inline float agi_vcos_kernel(float r, float rl)
{
    const float z = r * r, w = z * z;
    const float hz = 0.5f * z, v = 1.0f - hz;
    const float t = w * (0x1.55553ep-5f + z * (-0x1.6c087ep-10f + z * 0x1.99342ep-16f));
    return v + (((1.0f - v) - hz) + (t - r * rl));
}

static inline int agi_vtrig_bad(float x)
{
    float r, rl;
    int32_t q;
    return agi_vtrig_reduce(x, &r, &rl, &q);
}

/* sin and cos at once (the reduction is shared); returns agi_vtrig_bad(x) */
static inline int agi_vsincosf_r(float x, float *sn, float *cs)
{
    float r, rl;
    int32_t q;
    const int bad = agi_vtrig_reduce(x, &r, &rl, &q);
    const float s = agi_vsin_kernel(r, rl), c = agi_vcos_kernel(r, rl);
    /* quadrant q: sin = s, c, -s, -c;  cos = c, -s, -c, s */
    const float s1 = (q & 1) ? c : s, c1 = (q & 1) ? s : c;
    const float sv = (q & 2) ? -s1 : s1;
    const float cv = ((q + 1) & 2) ? -c1 : c1;
    *sn = x == 0.0f ? x : sv;   /* sin(-0) = -0 */
    *cs = cv;
    return bad;
}
/* sin alone; *bad = agi_vtrig_bad(x) */
static inline float agi_vsinf_r(float x, int *bad)
{
    float r, rl;
    int32_t q;
    *bad = agi_vtrig_reduce(x, &r, &rl, &q);
    const float s = agi_vsin_kernel(r, rl), c = agi_vcos_kernel(r, rl);
    const float v = (q & 1) ? c : s;
    const float sv = (q & 2) ? -v : v;
    return x == 0.0f ? x : sv;
}
static inline float agi_vcosf_r(float x, int *bad)
{
    float r, rl;
    int32_t q;
    *bad = agi_vtrig_reduce(x, &r, &rl, &q);
    const float s = agi_vsin_kernel(r, rl), c = agi_vcos_kernel(r, rl);
    const float v = (q & 1) ? s : c;
    return ((q + 1) & 2) ? -v : v;
}
/* one value, any x (not for hot loops: the branch stops vectorisation) */
static inline float agi_vsinf(float x)
{
    int bad;
    const float v = agi_vsinf_r(x, &bad);
    return bad ? sinf(x) : v;
}
static inline float agi_vcosf(float x)
{
    int bad;
    const float v = agi_vcosf_r(x, &bad);
    return bad ? cosf(x) : v;
}

/* ---- tanh ---- */
static inline float agi_vtanhf(float x)
{
    const float ax = fabsf(x);
    /* small: odd polynomial (cephes tanhf) */
    const float z = x * x;
    const float ps = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                       1.33314422036e-1f) * z - 3.33332819422e-1f) * z * ax + ax;
    /* large: 1 - 2 / (e^2|x| + 1) (e^2|x| = inf gives 1) */
    const float e = agi_vexpf(2.0f * ax);
    const float pl = 1.0f - 2.0f / (e + 1.0f);
    /* tanh is odd: the sign of x (so tanh(-0) = -0); NaN takes pl: NaN */
    return copysignf(ax < 0.55f ? ps : pl, x);
}

/* ---- sigmoid: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below, the
 * division in double (in float, the rounding of 1 + e^-x near 2 alone costs
 * up to 2 ulp just below 1/2) ---- */
static inline float agi_vsigmoidf(float x)
{
    const double e = (double)agi_vexpf(-fabsf(x)), d = 1.0 + e;
    return (float)((x < 0.0f ? e : 1.0) / d);    /* NaN: NaN / NaN */
}

/* ---- log1p as PyTorch's CPU kernels compute it: Sleef's log1pf, which
 * returns inf above 1e38 (libm's log1pf gives 87.5 to 88.7 there); libm's
 * elsewhere (scalar: not for the vectorised loops) ---- */
static inline float agi_log1pf(float x)
{
    return x > 1e38f ? INFINITY : log1pf(x);
}

#endif /* AG_VMATH_H */
