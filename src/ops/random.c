/* ops/random.c - random tensors from an ag_rng: rand, randn, randint, randperm,
 * bernoulli and multinomial (torch's functions of those names), as caller-
 * owned leaves.
 *
 * Every function checks all of its arguments before it draws a number, so a
 * failed call leaves the generator where it was. The streams are this
 * library's (core/rng.c), not PyTorch's: the same seed gives the same tensor here
 * on every platform, but not torch.manual_seed's values.
 *
 * Shapes: probs (C) or (R, C) for multinomial, result (k) or (R, k). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A double in [0, 1) with 53 random bits. */
static double unit53(ag_rng *r)
{
    return (double)(ag_rng_next(r) >> 11) * 0x1.0p-53;
}

/* An integer uniform in [0, range), range >= 1, without modulo bias: draws
 * below 2^64 mod range are rejected (at most half of them, for any range). */
static uint64_t below(ag_rng *r, uint64_t range)
{
    const uint64_t threshold = (0 - range) % range;   /* 2^64 mod range */
    for (;;) {
        const uint64_t v = ag_rng_next(r);
        if (v >= threshold)
            return v % range;
    }
}

static bool no_rng(const char *fn, const ag_rng *r)
{
    if (r)
        return false;
    agi_fail_last("%s: the generator is NULL", fn);
    return true;
}

/* ---- torch.rand, torch.randn ---- */

ag_tensor *ag_rand(int ndim, const int64_t *shape, bool requires_grad, ag_rng *r)
{
    const char *fn = "ag_rand";
    if (no_rng(fn, r))
        return NULL;
    ag_tensor *x = agi_leaf_new(fn, ndim, shape, AG_FLOAT32);
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = ag_rng_uniform(r, 0.0f, 1.0f);
    if (requires_grad)
        x->flags |= AGI_REQ_GRAD;
    return x;
}

ag_tensor *ag_randn(int ndim, const int64_t *shape, bool requires_grad, ag_rng *r)
{
    const char *fn = "ag_randn";
    if (no_rng(fn, r))
        return NULL;
    ag_tensor *x = agi_leaf_new(fn, ndim, shape, AG_FLOAT32);
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = ag_rng_normal(r);
    if (requires_grad)
        x->flags |= AGI_REQ_GRAD;
    return x;
}

/* ---- torch.randint(low, high, shape): int64 uniform in [low, high) ---- */

ag_tensor *ag_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, ag_rng *r)
{
    const char *fn = "ag_randint";
    if (no_rng(fn, r))
        return NULL;
    if (low >= high)
        return agi_fail_last("%s: expects 'low' to be less than 'high', but got low=%lld >= "
                             "high=%lld", fn, (long long)low, (long long)high);
    ag_tensor *x = agi_leaf_new(fn, ndim, shape, AG_INT64);
    if (!x)
        return NULL;
    /* high - low as uint64 is exact: it is at most 2^64 - 1 */
    const uint64_t range = (uint64_t)high - (uint64_t)low;
    int64_t *d = agi_i64(x);
    for (int64_t i = 0; i < x->numel; i++)
        d[i] = (int64_t)((uint64_t)low + below(r, range));   /* wraps back into range */
    return x;
}

/* ---- torch.randperm(n): a uniform permutation of 0..n-1 (Fisher-Yates) ---- */

ag_tensor *ag_randperm(int64_t n, ag_rng *r)
{
    const char *fn = "ag_randperm";
    if (no_rng(fn, r))
        return NULL;
    if (n < 0)
        return agi_fail_last("%s: n must be non-negative, got %lld", fn, (long long)n);
    ag_tensor *x = agi_leaf_new(fn, 1, &n, AG_INT64);
    if (!x)
        return NULL;
    int64_t *d = agi_i64(x);
    for (int64_t i = 0; i < n; i++)
        d[i] = i;
    /* each step picks d[i] uniformly from the i + 1 not yet placed */
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)below(r, (uint64_t)i + 1);
        const int64_t t = d[i];
        d[i] = d[j];
        d[j] = t;
    }
    return x;
}

/* ---- torch.bernoulli(p): 1 with probability p, else 0, in float32 ---- */

ag_tensor *ag_bernoulli(const ag_tensor *p, ag_rng *r)
{
    const char *fn = "ag_bernoulli";
    char sb[160];
    if (!p)
        return agi_fail_last("%s: p is NULL", fn);
    if (no_rng(fn, r))
        return NULL;
    if (p->dtype != AG_FLOAT32)
        return agi_fail_last("%s: p is %s; only float32 probabilities are supported", fn,
                             agi_dtype_str(p->dtype));
    if (p->numel > 0 && !p->data)
        return agi_fail_last("%s: p of shape %s has no data", fn,
                             agi_shape_str(sb, sizeof sb, p->ndim, p->shape));
    for (int64_t i = 0; i < p->numel; i++)
        if (!(p->data[i] >= 0.0f && p->data[i] <= 1.0f))      /* NaN fails too */
            return agi_fail_last("%s: expects every p in [0, 1], but element %lld of p %s "
                                 "is %g", fn, (long long)i,
                                 agi_shape_str(sb, sizeof sb, p->ndim, p->shape),
                                 (double)p->data[i]);
    ag_tensor *x = agi_leaf_new(fn, p->ndim, p->shape, AG_FLOAT32);
    if (!x)
        return NULL;
    /* u in [0, 1) with 53 bits: p == 0 never gives 1, p == 1 always does,
     * and a tiny p (1e-30) is not rounded to 0 */
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = unit53(r) < (double)p->data[i] ? 1.0f : 0.0f;
    return x;
}

/* ---- torch.multinomial(probs, num_samples, replacement) ---- */

typedef struct keyed {
    double key;                /* smaller first; +inf for a zero probability */
    int64_t idx;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* With replacement: each draw is the first category whose cumulative sum
 * exceeds u * total, u in [0, 1): a category of probability 0 adds nothing
 * to the sum, so it is never the first to exceed it. */
static void draw_with(int64_t *out, int64_t k, const float *p, int64_t c, double *cdf, ag_rng *r)
{
    double s = 0.0;
    int64_t last = 0;          /* the last category of non-zero probability */
    for (int64_t j = 0; j < c; j++) {
        s += (double)p[j];
        cdf[j] = s;
        if (p[j] > 0.0f)
            last = j;
    }
    for (int64_t i = 0; i < k; i++) {
        const double u = unit53(r) * s;
        int64_t lo = 0, hi = c;    /* the first j with u < cdf[j], in [lo, hi] */
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (u < cdf[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        out[i] = lo < c ? lo : last;   /* u * s rounded up to s itself */
    }
}

/* Without replacement: Efraimidis and Spirakis' race, which PyTorch runs too
 * (the top k of p / E, E ~ Exp(1)): the k smallest keys E / p are a sample
 * drawn one by one, each from what is left in proportion to p. Categories of
 * probability 0 come only after all the others, by increasing index. */
static void draw_without(int64_t *out, int64_t k, const float *p, int64_t c, keyed *keys,
                         ag_rng *r)
{
    for (int64_t j = 0; j < c; j++) {
        double key = INFINITY;
        if (p[j] > 0.0f) {
            const double e = -log1p(-unit53(r));          /* Exp(1); 1 - u is in (0, 1] */
            key = e / (double)p[j];
        }
        keys[j] = (keyed){ key, j };
    }
    qsort(keys, (size_t)c, sizeof *keys, by_key);
    for (int64_t i = 0; i < k; i++)
        out[i] = keys[i].idx;
}

ag_tensor *ag_multinomial(const ag_tensor *probs, int64_t num_samples, bool replacement,
                          ag_rng *r)
{
    const char *fn = "ag_multinomial";
    char sb[160];
    if (!probs)
        return agi_fail_last("%s: probs is NULL", fn);
    if (no_rng(fn, r))
        return NULL;
    const char *shp = agi_shape_str(sb, sizeof sb, probs->ndim, probs->shape);
    if (probs->dtype != AG_FLOAT32)
        return agi_fail_last("%s: only supports float32 probabilities, got %s", fn,
                             agi_dtype_str(probs->dtype));
    if (probs->ndim != 1 && probs->ndim != 2)
        return agi_fail_last("%s: probs must be 1 or 2 dim, got shape %s", fn, shp);
    if (num_samples <= 0)
        return agi_fail_last("%s: cannot sample num_samples <= 0 samples (got %lld)", fn,
                             (long long)num_samples);
    const int64_t c = probs->shape[probs->ndim - 1];
    const int64_t rows = probs->ndim == 2 ? probs->shape[0] : 1;
    if (!replacement && num_samples > c)
        return agi_fail_last("%s: cannot sample %lld > %lld samples (probs %s) without "
                             "replacement", fn, (long long)num_samples, (long long)c, shp);
    if (c > ((int64_t)1 << 24))
        return agi_fail_last("%s: number of categories cannot exceed 2^24 (probs %s)", fn, shp);
    if (!agi_shape_fits(probs->ndim, probs->shape))
        return agi_fail_last("%s: probs of shape %s is too large", fn, shp);
    if (probs->numel > 0 && !probs->data)
        return agi_fail_last("%s: probs of shape %s has no data", fn, shp);
    for (int64_t i = 0; i < probs->numel; i++)
        if (!(probs->data[i] >= 0.0f && probs->data[i] < INFINITY))
            return agi_fail_last("%s: probability tensor contains either inf, nan or element "
                                 "< 0 (element %lld of probs %s is %g)", fn, (long long)i, shp,
                                 (double)probs->data[i]);
    for (int64_t i = 0; i < rows; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < c; j++)
            s += (double)probs->data[i * c + j];
        if (!(s > 0.0))
            return agi_fail_last("%s: invalid multinomial distribution (sum of probabilities "
                                 "<= 0) in row %lld of probs %s", fn, (long long)i, shp);
    }
    int64_t shape[2] = { rows, num_samples };
    ag_tensor *x = agi_leaf_new(fn, probs->ndim, probs->ndim == 2 ? shape : shape + 1, AG_INT64);
    if (!x)
        return NULL;
    if (rows == 0)
        return x;
    /* scratch for one row: c <= 2^24, so the size cannot overflow */
    agi_alloc a = agi_current_alloc();
    const size_t bytes = (size_t)c * (replacement ? sizeof(double) : sizeof(keyed));
    void *scratch = agi_malloc(a, bytes);
    if (!scratch) {
        ag_tensor_free(x);
        return agi_fail_last("%s: out of memory (%zu bytes of scratch for probs %s)", fn, bytes,
                             shp);
    }
    for (int64_t i = 0; i < rows; i++) {
        int64_t *out = agi_i64(x) + i * num_samples;
        const float *p = probs->data + i * c;
        if (replacement)
            draw_with(out, num_samples, p, c, scratch, r);
        else
            draw_without(out, num_samples, p, c, scratch, r);
    }
    agi_free(a, scratch, bytes);
    return x;
}
