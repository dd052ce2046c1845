/* test_vmath.c - the vectorisable float functions of src/kernels/vmath.h against
 * libm's double functions (as the exact result) over a sweep of the whole
 * float range (every STRIDE-th bit pattern, both signs) plus dense runs where
 * they are hard (near 0, around pi/2 multiples, the overflow and underflow
 * edges of exp, the tanh and sigmoid switch points, denormals), asserting the
 * ulp bounds kernels/vmath.h states; their special values (inf, NaN, signed zeros,
 * exact cases); and the ops that use them on tensors holding the arguments
 * the vectorised trig loops leave to libm; and that the ops' loops give the
 * same bits at every vector width this CPU has (src/kernels/simd.c).
 *
 * AG_VMATH_STRIDE=1 in the environment sweeps all 2^32 floats (minutes). */
#include "testutil.h"

#include "internal.h"
#include "kernels/vmath.h"

#include <stdio.h>

/* |got - ref| in units of the ulp of the float nearest ref (denormal ulp
 * 2^-149 at the bottom); a right inf or NaN is 0, a wrong one huge */
static double ulp_err(float got, double ref)
{
    if (isnan(ref))
        return isnan(got) ? 0.0 : 1e30;
    const float rf = (float)ref;
    if (isinf(rf) || isinf(got))
        return got == rf ? 0.0 : 1e30;
    int e;
    frexp(fabs(ref), &e);
    double ulp = ldexp(1.0, e - 24);
    if (ulp < 0x1p-149)
        ulp = 0x1p-149;
    return fabs((double)got - ref) / ulp;
}

enum { F_EXP, F_LOG, F_SIN, F_COS, F_TANH, F_SIGMOID, F_COUNT };
static const char *const NAMES[F_COUNT] = { "exp", "log", "sin", "cos", "tanh", "sigmoid" };
/* the bounds kernels/vmath.h promises (the brief asks for <= 2 everywhere) */
static const double BOUND[F_COUNT] = { 1.0, 1.0, 1.0, 1.0, 2.0, 2.0 };

typedef struct stats {
    double max[F_COUNT];
    float at[F_COUNT];
    long n, trig_fixups;
} stats;

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static void check_one(stats *st, float x)
{
    const double xd = x;
    double err[F_COUNT];
    err[F_EXP] = ulp_err(agi_vexpf(x), exp(xd));
    err[F_LOG] = ulp_err(agi_vlogf(x), log(xd));
    float s, c;
    const int bad = agi_vsincosf_r(x, &s, &c);
    int bs, bc;
    const float s1 = agi_vsinf_r(x, &bs), c1 = agi_vcosf_r(x, &bc);
    if (bs != bad || bc != bad || agi_vtrig_bad(x) != bad) {
        print_error("trig bad flags disagree at %a\n", (double)x);
        fail();
    }
    if (bad) {
        st->trig_fixups++;
        s = agi_vsinf(x);      /* libm's for these */
        c = agi_vcosf(x);
        if (memcmp(&s, &(float){ sinf(x) }, sizeof s) && !(isnan(s) && isnan(sinf(x)))) {
            print_error("agi_vsinf(%a) is not libm's\n", (double)x);
            fail();
        }
    } else if (memcmp(&s, &s1, sizeof s) || memcmp(&c, &c1, sizeof c)) {
        print_error("sincos and sin/cos differ at %a\n", (double)x);
        fail();
    }
    err[F_SIN] = ulp_err(s, sin(xd));
    err[F_COS] = ulp_err(c, cos(xd));
    err[F_TANH] = ulp_err(agi_vtanhf(x), tanh(xd));
    err[F_SIGMOID] = ulp_err(agi_vsigmoidf(x), ref_sigmoid(xd));
    for (int f = 0; f < F_COUNT; f++)
        if (err[f] > st->max[f]) {
            st->max[f] = err[f];
            st->at[f] = x;
        }
    st->n++;
}

static void check_range(stats *st, float lo, float hi, int n)
{
    for (int i = 0; i <= n; i++)
        check_one(st, lo + (hi - lo) * (float)i / (float)n);
}

/* every float in [x - k ulp, x + k ulp] */
static void check_around(stats *st, float x, int k)
{
    uint32_t u = agi_f2u(x);
    for (int i = -k; i <= k; i++)
        check_one(st, agi_u2f(u + (uint32_t)i));
}

static void test_accuracy(void **state)
{
    (void)state;
    stats st = { 0 };
    uint64_t stride = 4099;   /* ~1M floats over the whole range */
    const char *env = getenv("AG_VMATH_STRIDE");
    if (env && strtoull(env, NULL, 10) > 0)
        stride = strtoull(env, NULL, 10);
    for (uint64_t u = 0; u <= 0xffffffffu; u += stride)
        check_one(&st, agi_u2f((uint32_t)u));
    /* dense where it is hard */
    check_range(&st, -10.0f, 10.0f, 200000);
    check_range(&st, -0.01f, 0.01f, 20000);
    check_range(&st, 80.0f, 89.0f, 20000);          /* exp overflow */
    check_range(&st, -104.0f, -85.0f, 20000);       /* exp into the denormals */
    check_range(&st, 0.5f, 0.6f, 20000);            /* tanh's switch */
    check_range(&st, 0.99f, 1.01f, 20000);          /* log near 1 */
    for (int k = 1; k <= 2037; k += (k < 64 ? 1 : 37))
        check_around(&st, (float)(k * 1.57079632679489661923), 40);   /* pi/2 multiples */
    check_around(&st, 3200.0f, 40);                 /* the reduction's bound */
    check_around(&st, 0x1p-126f, 40);               /* the smallest normal */
    check_around(&st, 0x1p-149f, 40);               /* the smallest denormal */
    check_around(&st, 0x1.62e42ep+6f, 40);      /* largest exp without overflow */
    print_message("vmath: %ld arguments (sweep stride %llu), %ld trig fix-ups\n", st.n,
                  (unsigned long long)stride, st.trig_fixups);
    for (int f = 0; f < F_COUNT; f++) {
        print_message("  %-8s max %.3f ulp at %a\n", NAMES[f], st.max[f], (double)st.at[f]);
        if (!(st.max[f] <= BOUND[f])) {
            print_error("%s: %.3f ulp at %a exceeds %.1f\n", NAMES[f], st.max[f],
                        (double)st.at[f], BOUND[f]);
            fail();
        }
    }
}

#define assert_same_float(got, want)                                                  \
    do {                                                                              \
        const float tv_g_ = (got), tv_w_ = (want);                                    \
        if (!(isnan(tv_g_) && isnan(tv_w_)) && memcmp(&tv_g_, &tv_w_, sizeof tv_g_)) { \
            print_error("%s = %a, want %a\n", #got, (double)tv_g_, (double)tv_w_);    \
            fail();                                                                   \
        }                                                                             \
    } while (0)

static void test_special_values(void **state)
{
    (void)state;
    const float inf = INFINITY, nan = NAN;
    assert_same_float(agi_vexpf(0.0f), 1.0f);
    assert_same_float(agi_vexpf(-0.0f), 1.0f);
    assert_same_float(agi_vexpf(inf), inf);
    assert_same_float(agi_vexpf(-inf), 0.0f);
    assert_same_float(agi_vexpf(nan), nan);
    assert_same_float(agi_vexpf(88.8f), inf);
    assert_same_float(agi_vexpf(1000.0f), inf);
    assert_same_float(agi_vexpf(-1000.0f), 0.0f);
    assert_same_float(agi_vexpf(-103.2f), 0x1p-149f);    /* the smallest denormal */
    assert_same_float(agi_vexpf(-104.0f), 0.0f);
    assert_true(isfinite(agi_vexpf(0x1.62e42ep+6f)));

    assert_same_float(agi_vlogf(1.0f), 0.0f);
    assert_same_float(agi_vlogf(0.0f), -inf);
    assert_same_float(agi_vlogf(-0.0f), -inf);
    assert_same_float(agi_vlogf(inf), inf);
    assert_same_float(agi_vlogf(-inf), nan);
    assert_same_float(agi_vlogf(-1.0f), nan);
    assert_same_float(agi_vlogf(-0x1p-149f), nan);
    assert_same_float(agi_vlogf(nan), nan);
    assert_same_float(agi_vlogf(0x1p-149f), logf(0x1p-149f));
    assert_same_float(agi_vlogf(0x1p100f), logf(0x1p100f));

    assert_same_float(agi_vsinf(0.0f), 0.0f);
    assert_same_float(agi_vsinf(-0.0f), -0.0f);
    assert_same_float(agi_vsinf(0x1p-149f), 0x1p-149f);
    assert_same_float(agi_vsinf(-0x1p-140f), -0x1p-140f);
    assert_same_float(agi_vcosf(0.0f), 1.0f);
    assert_same_float(agi_vcosf(-0.0f), 1.0f);
    assert_same_float(agi_vsinf(inf), nan);
    assert_same_float(agi_vcosf(-inf), nan);
    assert_same_float(agi_vsinf(nan), nan);
    assert_same_float(agi_vsinf(1e30f), sinf(1e30f));
    assert_same_float(agi_vcosf(-1e30f), cosf(-1e30f));
    float s, c;
    assert_true(agi_vsincosf_r(inf, &s, &c));
    assert_true(agi_vsincosf_r(nan, &s, &c));
    assert_true(agi_vsincosf_r(3200.5f, &s, &c));
    assert_false(agi_vsincosf_r(3200.0f, &s, &c));
    assert_false(agi_vsincosf_r(1.0f, &s, &c));

    assert_same_float(agi_vtanhf(0.0f), 0.0f);
    assert_same_float(agi_vtanhf(-0.0f), -0.0f);
    assert_same_float(agi_vtanhf(inf), 1.0f);
    assert_same_float(agi_vtanhf(-inf), -1.0f);
    assert_same_float(agi_vtanhf(20.0f), 1.0f);
    assert_same_float(agi_vtanhf(-20.0f), -1.0f);
    assert_same_float(agi_vtanhf(nan), nan);
    assert_same_float(agi_vtanhf(0x1p-149f), 0x1p-149f);

    assert_same_float(agi_vsigmoidf(0.0f), 0.5f);
    assert_same_float(agi_vsigmoidf(-0.0f), 0.5f);
    assert_same_float(agi_vsigmoidf(inf), 1.0f);
    assert_same_float(agi_vsigmoidf(-inf), 0.0f);
    assert_same_float(agi_vsigmoidf(50.0f), 1.0f);
    assert_same_float(agi_vsigmoidf(nan), nan);
    assert_true(agi_vsigmoidf(-100.0f) > 0.0f);   /* e^-100, not flushed */
}

/* The ops on tensors with the arguments the trig loops hand to libm, among
 * ordinary ones (several blocks, so some blocks have none): each element is
 * libm's for those, and within 1 ulp elsewhere; gradients likewise. */
static void test_ops_fixups(void **state)
{
    (void)state;
    const int64_t n = 5000;
    ag_tensor *x = ag_tensor_new(1, &n, NULL, true);
    float *p = ag_data(x);
    static const float special[] = { INFINITY, -INFINITY, NAN, 1e30f, -3200.5f, 4e5f, 1e-45f, -0.0f };
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(i - n / 2) * 0.0123f;
    for (int k = 0; k < 8; k++)
        p[1500 + 7 * k] = special[k];
    p[4999] = 1e20f;
    ag_tape *t = ag_tape_new();
    ag_tensor *ys = ag_sin(t, x), *yc = ag_cos(t, x);
    ag_tensor *y = ag_add(t, ys, yc);
    ag_tensor *seed = ag_ones(1, &n, false);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    const float *g = ag_data(ag_grad(x));
    for (int64_t i = 0; i < n; i++) {
        const float v = p[i];
        const float ws = sinf(v), wc = cosf(v);
        if (agi_vtrig_bad(v)) {
            assert_same_float(ag_data(ys)[i], ws);
            assert_same_float(ag_data(yc)[i], wc);
            assert_same_float(g[i], 0.0f + 1.0f * wc + 1.0f * -ws);
        } else {
            assert_true(ulp_err(ag_data(ys)[i], sin((double)v)) <= 1.0);
            assert_true(ulp_err(ag_data(yc)[i], cos((double)v)) <= 1.0);
        }
    }
    ag_tape_free(t);
    ag_tensor_free(seed);
    ag_tensor_free(x);
}

/* Every op whose loops are compiled at several vector widths (AGI_EW_WIDE):
 * forward values and gradients over a sweep of float bit patterns and the
 * special values, at each available width, bit for bit against the
 * baseline's (a NaN may differ only in payload). */
enum { N_OPS = 9 };
static ag_tensor *wide_op(ag_tape *t, int k, ag_tensor *x)
{
    switch (k) {
    case 0: return ag_exp(t, x);
    case 1: return ag_log(t, x);
    case 2: return ag_sin(t, x);
    case 3: return ag_cos(t, x);
    case 4: return ag_sqrt(t, x);
    case 5: return ag_tanh(t, x);
    case 6: return ag_sigmoid(t, x);
    case 7: return ag_gelu(t, x, true);
    default: return ag_gelu(t, x, false);
    }
}

static void test_widths(void **state)
{
    (void)state;
    const int64_t n = 200000;
    static const float special[] = { INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-45f, -1e-45f,
                                     88.7f, 89.0f, -87.4f, -104.0f, 3200.5f, 1.5707964f };
    ag_tensor *x = ag_tensor_new(1, &n, NULL, true);
    ag_tensor *seed = ag_tensor_new(1, &n, NULL, false);
    float *p = ag_data(x);
    for (int64_t i = 0; i < n; i++) {   /* every 21475th bit pattern: the whole range */
        p[i] = agi_u2f((uint32_t)(i * 21475));
        ag_data(seed)[i] = (float)(i % 17) * 0.125f - 1.0f;
    }
    for (int k = 0; k < (int)(sizeof special / sizeof special[0]); k++)
        p[1000 + 3 * k] = special[k];
    float *ref_y = malloc((size_t)n * sizeof(float)), *ref_g = malloc((size_t)n * sizeof(float));
    assert_true(ref_y && ref_g);
    int compared = 0;
    for (int k = 0; k < N_OPS; k++) {
        for (int level = AGI_SIMD_BASE; level <= AGI_SIMD_AVX512; level++) {
            if (!agi_simd_available(level))
                continue;
            agi_simd_force(level);
            assert_int_equal(agi_simd(), level);
            ag_zero_grad(x);
            ag_tape *t = ag_tape_new();
            ag_tensor *y = wide_op(t, k, x);
            assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
            const float *yd = ag_data(y), *gd = ag_data(ag_grad(x));
            if (level == AGI_SIMD_BASE) {
                memcpy(ref_y, yd, (size_t)n * sizeof(float));
                memcpy(ref_g, gd, (size_t)n * sizeof(float));
            } else {
                for (int64_t i = 0; i < n; i++) {
                    const bool same_y = isnan(yd[i]) ? isnan(ref_y[i])
                                                     : !memcmp(&yd[i], &ref_y[i], sizeof(float));
                    const bool same_g = isnan(gd[i]) ? isnan(ref_g[i])
                                                     : !memcmp(&gd[i], &ref_g[i], sizeof(float));
                    if (!same_y || !same_g) {
                        print_error("op %d, width %d, x = %a: %a %a vs baseline %a %a\n", k, level,
                                    (double)p[i], (double)yd[i], (double)gd[i],
                                    (double)ref_y[i], (double)ref_g[i]);
                        fail();
                    }
                }
                compared++;
            }
            ag_tape_free(t);
        }
    }
    agi_simd_force(-1);
    printf("# %d op x width comparisons with the baseline (widths available: avx2 %d, avx512 %d)\n",
           compared, agi_simd_available(AGI_SIMD_AVX2), agi_simd_available(AGI_SIMD_AVX512));
    free(ref_y);
    free(ref_g);
    ag_tensor_free(seed);
    ag_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_ops_fixups),
        cmocka_unit_test(test_widths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
