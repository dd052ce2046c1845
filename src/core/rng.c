/* core/rng.c - the seedable random generator (xoshiro256**) and tensor fills. */
#include "internal.h"

#include <math.h>

/* ---- ag_rng: xoshiro256** seeded through splitmix64 ---- */

void ag_rng_seed(ag_rng *r, uint64_t seed)
{
    if (!r)
        return;
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        r->s[i] = z ^ (z >> 31);
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ag_rng_next(ag_rng *r)
{
    if (!r)
        return 0;
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float ag_rng_uniform(ag_rng *r, float lo, float hi)
{
    if (!r)
        return NAN;
    const float u = (float)(ag_rng_next(r) >> 40) * 0x1.0p-24f;   /* [0, 1), 24 bits */
    const float v = lo + (hi - lo) * u;
    return v < hi ? v : lo;    /* rounding could reach hi */
}

float ag_rng_normal(ag_rng *r)
{
    if (!r)
        return NAN;
    /* Box-Muller with u1 in (0, 1] */
    const double u1 = ((double)(ag_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = (double)(ag_rng_next(r) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

ag_status ag_fill_uniform(ag_tensor *x, ag_rng *r, float lo, float hi)
{
    if (!x || !r) {
        agi_fail_last("ag_fill_uniform: %s is NULL", !x ? "tensor" : "generator");
        return AG_ERR_ARG;
    }
    if (x->dtype != AG_FLOAT32) {
        agi_fail_last("ag_fill_uniform: the tensor is %s, not float32", agi_dtype_str(x->dtype));
        return AG_ERR_ARG;
    }
    /* PyTorch's uniform_ checks: finite bounds, lo <= hi, hi - lo finite */
    if (!(isfinite(lo) && isfinite(hi) && lo <= hi && isfinite(hi - lo))) {
        agi_fail_last("ag_fill_uniform: expects a [lo, hi) range of finite floats, "
                      "but found lo=%g, hi=%g", (double)lo, (double)hi);
        return AG_ERR_ARG;
    }
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = ag_rng_uniform(r, lo, hi);
    return AG_OK;
}

ag_status ag_fill_normal(ag_tensor *x, ag_rng *r, float mean, float std)
{
    if (!x || !r) {
        agi_fail_last("ag_fill_normal: %s is NULL", !x ? "tensor" : "generator");
        return AG_ERR_ARG;
    }
    if (x->dtype != AG_FLOAT32) {
        agi_fail_last("ag_fill_normal: the tensor is %s, not float32", agi_dtype_str(x->dtype));
        return AG_ERR_ARG;
    }
    if (!(std >= 0.0f)) {      /* PyTorch's normal_ check (NaN fails too) */
        agi_fail_last("ag_fill_normal: expects std >= 0, but found std %g", (double)std);
        return AG_ERR_ARG;
    }
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = mean + std * ag_rng_normal(r);
    return AG_OK;
}
