/* test_random.c - ag_rand, ag_randn, ag_randint, ag_randperm, ag_bernoulli and
 * ag_multinomial: exact properties (ranges, shapes, dtypes, permutations,
 * no repeats without replacement, zero-probability categories never drawn,
 * same seed same tensor, errors that draw nothing) and statistical checks.
 *
 * The statistical checks run from fixed seeds, so they are deterministic;
 * each bound is at least 6 standard deviations of the statistic under the
 * right distribution (a correct generator fails one with probability below
 * 2e-9 per seed), and each is far tighter than the error it is there to
 * catch (a biased modulo, an off-by-one range, a wrong permutation
 * algorithm, a sampler that ignores the weights). */
#include "testutil.h"

static bool same_rng(const ag_rng *a, const ag_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0;
}

/* ---- rand / randn ---- */

static void test_rand(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 1);
    const int64_t n = 100000;
    ag_tensor *x = ag_rand(1, &n, false, &r);
    assert_non_null(x);
    assert_int_equal(ag_dtype_of(x), AG_FLOAT32);
    assert_false(ag_requires_grad(x));
    const float *d = ag_data(x);
    double s = 0, s2 = 0;
    int64_t bins[10] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        assert_true(d[i] >= 0.0f && d[i] < 1.0f);
        s += d[i];
        s2 += (double)d[i] * d[i];
        bins[(int)(d[i] * 10.0f)]++;
    }
    const double mean = s / (double)n, var = s2 / (double)n - mean * mean;
    /* sd of the mean sqrt(1/12/n) = 0.00091; of the variance
     * sqrt((1/80 - 1/144)/n) = 0.00024; of a bin count sqrt(n 0.1 0.9) = 95 */
    assert_close(mean, 0.5, 0.006);
    assert_close(var, 1.0 / 12.0, 0.0015);
    for (int b = 0; b < 10; b++)
        assert_true(llabs((long long)(bins[b] - n / 10)) < 600);
    ag_tensor_free(x);

    /* shapes, requires_grad, 0-dim and empty */
    const int64_t s23[2] = { 2, 3 }, s0[2] = { 4, 0 };
    x = ag_rand(2, s23, true, &r);
    assert_non_null(x);
    assert_true(ag_requires_grad(x));
    assert_int_equal(ag_numel(x), 6);
    ag_tensor_free(x);
    x = ag_rand(0, NULL, false, &r);
    assert_non_null(x);
    assert_int_equal(ag_ndim(x), 0);
    assert_true(ag_item(x) >= 0.0f && ag_item(x) < 1.0f);
    ag_tensor_free(x);
    ag_rng before = r;
    x = ag_rand(2, s0, false, &r);          /* nothing to draw */
    assert_non_null(x);
    assert_int_equal(ag_numel(x), 0);
    assert_true(same_rng(&before, &r));
    ag_tensor_free(x);
}

static void test_randn(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 2);
    const int64_t n = 100000;
    ag_tensor *x = ag_randn(1, &n, true, &r);
    assert_non_null(x);
    assert_true(ag_requires_grad(x));
    const float *d = ag_data(x);
    double s = 0, s2 = 0;
    int64_t within1 = 0, pos = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(d[i]));
        s += d[i];
        s2 += (double)d[i] * d[i];
        within1 += fabsf(d[i]) < 1.0f;
        pos += d[i] > 0.0f;
    }
    const double mean = s / (double)n, var = s2 / (double)n - mean * mean;
    /* sd of the mean 1/sqrt(n) = 0.0032, of the variance sqrt(2/n) = 0.0045,
     * of P(|x| < 1) = 0.6827 sqrt(p(1-p)/n) = 0.0015, of P(x > 0) 0.0016 */
    assert_close(mean, 0.0, 0.02);
    assert_close(var, 1.0, 0.03);
    assert_close((double)within1 / (double)n, 0.6827, 0.01);
    assert_close((double)pos / (double)n, 0.5, 0.01);
    ag_tensor_free(x);
}

/* ---- randint ---- */

static void test_randint(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 3);
    const int64_t n = 70000;
    ag_tensor *x = ag_randint(-3, 4, 1, &n, &r);
    assert_non_null(x);
    assert_int_equal(ag_dtype_of(x), AG_INT64);
    assert_false(ag_requires_grad(x));
    const int64_t *d = ag_data_i64(x);
    int64_t count[7] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        assert_true(d[i] >= -3 && d[i] < 4);
        count[d[i] + 3]++;
    }
    for (int v = 0; v < 7; v++)      /* 10000 each, sd sqrt(n (1/7)(6/7)) = 93 */
        assert_true(llabs((long long)(count[v] - 10000)) < 600);
    ag_tensor_free(x);

    /* one value possible */
    const int64_t m = 50;
    x = ag_randint(5, 6, 1, &m, &r);
    assert_non_null(x);
    for (int64_t i = 0; i < m; i++)
        assert_int_equal(ag_data_i64(x)[i], 5);
    ag_tensor_free(x);
    x = ag_randint(INT64_MAX - 1, INT64_MAX, 1, &m, &r);
    assert_non_null(x);
    for (int64_t i = 0; i < m; i++)
        assert_true(ag_data_i64(x)[i] == INT64_MAX - 1);
    ag_tensor_free(x);

    /* the whole int64 range: about half negative (sd 50 of 10000) */
    const int64_t k = 10000;
    x = ag_randint(INT64_MIN, INT64_MAX, 1, &k, &r);
    assert_non_null(x);
    int64_t neg = 0;
    for (int64_t i = 0; i < k; i++) {
        assert_true(ag_data_i64(x)[i] < INT64_MAX);
        neg += ag_data_i64(x)[i] < 0;
    }
    assert_true(llabs((long long)(neg - k / 2)) < 300);
    ag_tensor_free(x);

    /* no modulo bias: for a range of 3 * 2^62, v % range of a 64-bit v lands
     * in the first third half the time; uniform is a third (sd 82 of 10000) */
    const int64_t t3 = 30000;
    const int64_t lo = INT64_MIN, hi = (int64_t)1 << 62;     /* hi - lo = 3 * 2^62 */
    x = ag_randint(lo, hi, 1, &t3, &r);
    assert_non_null(x);
    int64_t first = 0;
    for (int64_t i = 0; i < t3; i++) {
        assert_true(ag_data_i64(x)[i] >= lo && ag_data_i64(x)[i] < hi);
        first += ag_data_i64(x)[i] < lo + ((int64_t)1 << 62);
    }
    assert_true(llabs((long long)(first - 10000)) < 500);
    ag_tensor_free(x);

    /* shapes: 0-dim and empty */
    x = ag_randint(0, 10, 0, NULL, &r);
    assert_non_null(x);
    assert_int_equal(ag_ndim(x), 0);
    assert_true(ag_item_i64(x) >= 0 && ag_item_i64(x) < 10);
    ag_tensor_free(x);
    const int64_t e[2] = { 0, 3 };
    x = ag_randint(0, 10, 2, e, &r);
    assert_non_null(x);
    assert_int_equal(ag_numel(x), 0);
    ag_tensor_free(x);
}

/* ---- randperm ---- */

static void assert_permutation(const ag_tensor *x, int64_t n)
{
    assert_int_equal(ag_dtype_of(x), AG_INT64);
    assert_int_equal(ag_ndim(x), 1);
    assert_int_equal(ag_shape(x)[0], n);
    bool *seen = calloc((size_t)(n > 0 ? n : 1), 1);
    assert_non_null(seen);
    const int64_t *d = ag_data_i64((ag_tensor *)x);
    for (int64_t i = 0; i < n; i++) {
        assert_true(d[i] >= 0 && d[i] < n);
        assert_false(seen[d[i]]);
        seen[d[i]] = true;
    }
    free(seen);
}

static void test_randperm(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 4);
    const int64_t sizes[] = { 0, 1, 2, 3, 10, 1000, 100003 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ag_tensor *x = ag_randperm(sizes[k], &r);
        assert_non_null(x);
        assert_permutation(x, sizes[k]);
        ag_tensor_free(x);
    }
    /* a large one is not the identity, nor its reverse */
    ag_tensor *x = ag_randperm(1000, &r);
    int64_t fixed = 0;
    for (int64_t i = 0; i < 1000; i++)
        fixed += ag_data_i64(x)[i] == i;
    assert_true(fixed < 10);     /* fixed points of a uniform permutation: Poisson(1) */
    ag_tensor_free(x);

    /* uniform over the 24 permutations of 4: 2000 each of 48000 (sd 44);
     * the naive "swap with any position" shuffle is off by 25% for some */
    int64_t count[256] = { 0 };
    const int trials = 48000;
    for (int t = 0; t < trials; t++) {
        x = ag_randperm(4, &r);
        assert_non_null(x);
        const int64_t *d = ag_data_i64(x);
        count[d[0] * 64 + d[1] * 16 + d[2] * 4 + d[3]]++;
        ag_tensor_free(x);
    }
    int perms = 0;
    for (int c = 0; c < 256; c++) {
        if (!count[c])
            continue;
        perms++;
        assert_true(llabs((long long)(count[c] - 2000)) < 300);
    }
    assert_int_equal(perms, 24);
}

/* ---- bernoulli ---- */

static void test_bernoulli(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 5);
    const int64_t n = 100000;
    ag_tensor *p = ag_full(1, &n, 0.3f, true);
    ag_tensor *x = ag_bernoulli(p, &r);
    assert_non_null(x);
    assert_int_equal(ag_dtype_of(x), AG_FLOAT32);
    assert_false(ag_requires_grad(x));
    int64_t ones = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = ag_data(x)[i];
        assert_true(v == 0.0f || v == 1.0f);
        ones += v == 1.0f;
        assert_float_eq(ag_data(p)[i], 0.3f);        /* p only read */
    }
    /* sd of the frequency sqrt(0.21 / n) = 0.0014 */
    assert_close((double)ones / (double)n, 0.3, 0.009);
    ag_tensor_free(x);
    ag_tensor_free(p);

    /* exact ends, a tiny p, one p per element, shape kept */
    const int64_t s = 4000;
    float *pv = malloc(sizeof(float) * (size_t)s);
    assert_non_null(pv);
    for (int64_t i = 0; i < s; i++)
        pv[i] = (float[]){ 0.0f, 1.0f, 1e-30f, 0.9f }[i % 4];
    const int64_t s2[2] = { 1000, 4 };
    p = ag_tensor_new(2, s2, pv, false);
    x = ag_bernoulli(p, &r);
    assert_non_null(x);
    assert_int_equal(ag_ndim(x), 2);
    assert_int_equal(ag_shape(x)[0], 1000);
    assert_int_equal(ag_shape(x)[1], 4);
    int64_t c9 = 0;
    for (int64_t i = 0; i < s; i += 4) {
        assert_float_eq(ag_data(x)[i], 0.0f);
        assert_float_eq(ag_data(x)[i + 1], 1.0f);
        assert_float_eq(ag_data(x)[i + 2], 0.0f);   /* 1e-30: 1 with chance 1e-27 */
        c9 += ag_data(x)[i + 3] == 1.0f;
    }
    assert_true(llabs((long long)(c9 - 900)) < 60);  /* sd sqrt(1000 .09) = 9.5 */
    ag_tensor_free(x);
    ag_tensor_free(p);
    free(pv);

    /* a recorded result as p; 0-dim; empty */
    ag_tape *t = ag_tape_new();
    ag_tensor *h = ag_full(1, &s, 0.5f, false);
    x = ag_bernoulli(ag_mul_scalar(t, h, 2.0f), &r);      /* all 1 */
    assert_non_null(x);
    for (int64_t i = 0; i < s; i++)
        assert_float_eq(ag_data(x)[i], 1.0f);
    ag_tensor_free(x);
    ag_tape_free(t);
    ag_tensor_free(h);
    p = ag_scalar(1.0f, false);
    x = ag_bernoulli(p, &r);
    assert_int_equal(ag_ndim(x), 0);
    assert_float_eq(ag_item(x), 1.0f);
    ag_tensor_free(x);
    ag_tensor_free(p);
    const int64_t e[2] = { 2, 0 };
    p = ag_zeros(2, e, false);
    x = ag_bernoulli(p, &r);
    assert_non_null(x);
    assert_int_equal(ag_numel(x), 0);
    assert_int_equal(ag_ndim(x), 2);
    ag_tensor_free(x);
    ag_tensor_free(p);
}

/* ---- multinomial ---- */

static void test_multinomial_replacement(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 6);
    const int64_t c = 4;
    const float w[2][4] = { { 0.1f, 0.0f, 0.6f, 0.3f }, { 2.0f, 0.0f, 12.0f, 6.0f } };
    for (int k = 0; k < 2; k++) {    /* weights need not sum to 1 */
        ag_tensor *p = tu_vec(c, w[k], false);
        const int64_t n = 100000;
        ag_tensor *x = ag_multinomial(p, n, true, &r);
        assert_non_null(x);
        assert_int_equal(ag_dtype_of(x), AG_INT64);
        assert_int_equal(ag_ndim(x), 1);
        assert_int_equal(ag_shape(x)[0], n);
        int64_t count[4] = { 0 };
        for (int64_t i = 0; i < n; i++) {
            const int64_t v = ag_data_i64(x)[i];
            assert_true(v >= 0 && v < c);
            count[v]++;
        }
        assert_int_equal(count[1], 0);                   /* probability 0: never */
        /* sd of each frequency at most sqrt(0.25 / n) = 0.0016 */
        assert_close((double)count[0] / (double)n, 0.1, 0.008);
        assert_close((double)count[2] / (double)n, 0.6, 0.01);
        assert_close((double)count[3] / (double)n, 0.3, 0.01);
        ag_tensor_free(x);
        ag_tensor_free(p);
    }

    /* 2-D: one row of samples per row of weights; zeros at both ends */
    const float w2[4][3] = { { 1, 0, 0 }, { 0, 0, 1 }, { 1, 1, 0 }, { 0, 5, 0 } };
    ag_tensor *p = tu_mat(4, 3, &w2[0][0], false);
    const int64_t n = 1000;
    ag_tensor *x = ag_multinomial(p, n, true, &r);
    assert_non_null(x);
    assert_int_equal(ag_ndim(x), 2);
    assert_int_equal(ag_shape(x)[0], 4);
    assert_int_equal(ag_shape(x)[1], n);
    const int64_t *d = ag_data_i64(x);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(d[i], 0);
        assert_int_equal(d[n + i], 2);
        assert_true(d[2 * n + i] == 0 || d[2 * n + i] == 1);
        zeros += d[2 * n + i] == 0;
        assert_int_equal(d[3 * n + i], 1);
    }
    assert_true(llabs((long long)(zeros - 500)) < 100);   /* sd 16 */
    ag_tensor_free(x);
    ag_tensor_free(p);

    /* more samples than categories; weights of very different sizes */
    const float tiny[3] = { 1e-30f, 3e38f, 3e38f };     /* the sum overflows float */
    p = tu_vec(3, tiny, false);
    x = ag_multinomial(p, 2000, true, &r);
    assert_non_null(x);
    int64_t one = 0;
    for (int64_t i = 0; i < 2000; i++) {
        assert_true(ag_data_i64(x)[i] == 1 || ag_data_i64(x)[i] == 2);
        one += ag_data_i64(x)[i] == 1;
    }
    assert_true(llabs((long long)(one - 1000)) < 150);    /* sd 22 */
    ag_tensor_free(x);
    ag_tensor_free(p);
}

static void test_multinomial_no_replacement(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 7);
    /* 30000 rows of the same weights, 2 draws each: the first in proportion
     * to p, the second to sum_i p_i p_j / (1 - p_i) over i != j */
    const int64_t rows = 30000, c = 3;
    const float pr[3] = { 0.5f, 0.3f, 0.2f };
    float *w = malloc(sizeof(float) * (size_t)(rows * c));
    assert_non_null(w);
    for (int64_t i = 0; i < rows * c; i++)
        w[i] = pr[i % c];
    ag_tensor *p = tu_mat(rows, c, w, false);
    ag_tensor *x = ag_multinomial(p, 2, false, &r);
    assert_non_null(x);
    assert_int_equal(ag_shape(x)[0], rows);
    assert_int_equal(ag_shape(x)[1], 2);
    int64_t first[3] = { 0 }, second[3] = { 0 };
    for (int64_t i = 0; i < rows; i++) {
        const int64_t a = ag_data_i64(x)[2 * i], b = ag_data_i64(x)[2 * i + 1];
        assert_true(a >= 0 && a < c && b >= 0 && b < c);
        assert_true(a != b);
        first[a]++;
        second[b]++;
    }
    const double want2[3] = { 0.5 * (0.3 / 0.7 + 0.2 / 0.8), 0.3 * (0.5 / 0.5 + 0.2 / 0.8),
                              0.2 * (0.5 / 0.5 + 0.3 / 0.7) };
    for (int j = 0; j < 3; j++) {    /* sd at most sqrt(0.25 / rows) = 0.0029 */
        assert_close((double)first[j] / (double)rows, pr[j], 0.02);
        assert_close((double)second[j] / (double)rows, want2[j], 0.02);
    }
    ag_tensor_free(x);
    ag_tensor_free(p);
    free(w);

    /* all categories: a permutation per row; zero-probability ones last, in
     * increasing index order, after every other one */
    const float z[5] = { 0, 1, 0, 1, 0 };
    p = tu_vec(5, z, false);
    for (int t = 0; t < 50; t++) {
        x = ag_multinomial(p, 5, false, &r);
        assert_non_null(x);
        const int64_t *d = ag_data_i64(x);
        assert_true((d[0] == 1 && d[1] == 3) || (d[0] == 3 && d[1] == 1));
        assert_int_equal(d[2], 0);
        assert_int_equal(d[3], 2);
        assert_int_equal(d[4], 4);
        ag_tensor_free(x);
        /* as many as the non-zero ones: only those */
        x = ag_multinomial(p, 2, false, &r);
        assert_true(ag_data_i64(x)[0] % 2 == 1 && ag_data_i64(x)[1] % 2 == 1);
        assert_true(ag_data_i64(x)[0] != ag_data_i64(x)[1]);
        ag_tensor_free(x);
    }
    ag_tensor_free(p);

    /* 1000 of 1000 uniform categories: a permutation */
    const int64_t big = 1000;
    p = ag_ones(1, &big, false);
    x = ag_multinomial(p, big, false, &r);
    assert_non_null(x);
    assert_permutation(x, big);
    ag_tensor_free(x);
    ag_tensor_free(p);
}

static void test_multinomial_shapes(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 8);
    /* (0, 3): (0, k) with or without replacement; (0, 0) with it: (0, 1) */
    const int64_t s03[2] = { 0, 3 }, s00[2] = { 0, 0 };
    ag_tensor *p = ag_zeros(2, s03, false);
    ag_tensor *x = ag_multinomial(p, 3, false, &r);
    assert_non_null(x);
    assert_int_equal(ag_shape(x)[0], 0);
    assert_int_equal(ag_shape(x)[1], 3);
    ag_tensor_free(x);
    x = ag_multinomial(p, 7, true, &r);
    assert_non_null(x);
    assert_int_equal(ag_shape(x)[1], 7);
    ag_tensor_free(x);
    ag_tensor_free(p);
    p = ag_zeros(2, s00, false);
    x = ag_multinomial(p, 1, true, &r);
    assert_non_null(x);
    assert_int_equal(ag_ndim(x), 2);
    assert_int_equal(ag_numel(x), 0);
    ag_tensor_free(x);
    ag_tensor_free(p);
    /* a recorded result as probs */
    ag_tape *t = ag_tape_new();
    const float w[3] = { 0, 0, 2 };
    ag_tensor *l = tu_vec(3, w, true);
    x = ag_multinomial(ag_mul_scalar(t, l, 3.0f), 4, true, &r);
    assert_non_null(x);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ag_data_i64(x)[i], 2);
    ag_tensor_free(x);
    ag_tape_free(t);
    ag_tensor_free(l);
}

/* ---- seeds ---- */

static void test_same_seed_same_tensor(void **state)
{
    (void)state;
    const int64_t n = 257;
    const float w[4] = { 0.25f, 0.0f, 1.0f, 0.5f };
    for (int f = 0; f < 7; f++) {
        ag_tensor *x[3];
        for (int k = 0; k < 3; k++) {
            ag_rng r;
            ag_rng_seed(&r, k < 2 ? 42 : 43);
            ag_tensor *p = tu_vec(4, w, false), *h = ag_full(1, &n, 0.5f, false);
            switch (f) {
            case 0: x[k] = ag_rand(1, &n, false, &r); break;
            case 1: x[k] = ag_randn(1, &n, false, &r); break;
            case 2: x[k] = ag_randint(-1000000, 1000000, 1, &n, &r); break;
            case 3: x[k] = ag_randperm(n, &r); break;
            case 4: x[k] = ag_bernoulli(h, &r); break;
            case 5: x[k] = ag_multinomial(p, n, true, &r); break;
            default: x[k] = ag_multinomial(p, 3, false, &r); break;
            }
            assert_non_null(x[k]);
            ag_tensor_free(p);
            ag_tensor_free(h);
        }
        const size_t bytes = (size_t)ag_numel(x[0]) * (f == 2 || f == 3 || f >= 5 ? 8 : 4);
        const void *d[3];
        for (int k = 0; k < 3; k++)
            d[k] = ag_dtype_of(x[k]) == AG_INT64 ? (void *)ag_data_i64(x[k])
                                                  : (void *)ag_data(x[k]);
        assert_memory_equal(d[0], d[1], bytes);
        if (f != 6) {   /* 3 of 3 weighted draws may well agree across seeds */
            assert_memory_not_equal(d[0], d[2], bytes);
        }
        for (int k = 0; k < 3; k++)
            ag_tensor_free(x[k]);
    }
}

/* ---- errors: NULL, an error message naming the function, r not advanced,
 * inputs unchanged ---- */

#define EXPECT_FAIL(call, msg)                                  \
    do {                                                        \
        ag_rng before_ = r;                                     \
        assert_null(call);                                      \
        assert_contains(ag_last_error(), msg);                  \
        assert_true(same_rng(&before_, &r));                    \
    } while (0)

static void test_errors(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 9);
    const int64_t s3[1] = { 3 }, neg[1] = { -2 };
    EXPECT_FAIL(ag_rand(1, s3, false, NULL), "ag_rand: the generator is NULL");
    EXPECT_FAIL(ag_rand(1, neg, false, &r), "ag_rand: shape (-2) has a negative size");
    EXPECT_FAIL(ag_rand(AG_MAX_DIMS + 1, s3, false, &r), "ag_rand: ndim");
    EXPECT_FAIL(ag_randn(1, s3, false, NULL), "ag_randn: the generator is NULL");
    EXPECT_FAIL(ag_randn(1, NULL, false, &r), "ag_randn: shape is NULL");
    EXPECT_FAIL(ag_randint(0, 5, 1, s3, NULL), "ag_randint: the generator is NULL");
    EXPECT_FAIL(ag_randint(5, 5, 1, s3, &r),
                "ag_randint: expects 'low' to be less than 'high', but got low=5 >= high=5");
    EXPECT_FAIL(ag_randint(6, 5, 1, s3, &r), "low=6 >= high=5");
    EXPECT_FAIL(ag_randint(INT64_MAX, INT64_MIN, 1, s3, &r), "ag_randint");
    EXPECT_FAIL(ag_randint(0, 5, 1, neg, &r), "ag_randint: shape (-2)");
    EXPECT_FAIL(ag_randperm(-1, &r), "ag_randperm: n must be non-negative, got -1");
    EXPECT_FAIL(ag_randperm(3, NULL), "ag_randperm: the generator is NULL");
    EXPECT_FAIL(ag_randperm(INT64_MAX, &r), "ag_randperm: shape");

    /* bernoulli: p outside [0, 1] (NaN too), not float32, NULL */
    const float bad[4][3] = { { 0.5f, 1.5f, 0.0f }, { -0.1f, 0.5f, 0.5f },
                              { 0.5f, 0.5f, NAN }, { INFINITY, 0, 0 } };
    const int at[4] = { 1, 0, 2, 0 };
    for (int k = 0; k < 4; k++) {
        ag_tensor *p = tu_vec(3, bad[k], false);
        char want[64];
        snprintf(want, sizeof want, "element %d of p (3) is", at[k]);
        EXPECT_FAIL(ag_bernoulli(p, &r), want);
        assert_contains(ag_last_error(), "ag_bernoulli: expects every p in [0, 1]");
        assert_memory_equal(ag_data(p), bad[k], sizeof bad[k]);
        ag_tensor_free(p);
    }
    EXPECT_FAIL(ag_bernoulli(NULL, &r), "ag_bernoulli: p is NULL");
    ag_tensor *pi = ag_zeros_dtype(1, s3, AG_INT64), *pb = ag_zeros_dtype(1, s3, AG_BOOL);
    ag_tensor *ok = ag_full(1, s3, 0.5f, false);
    EXPECT_FAIL(ag_bernoulli(pi, &r), "ag_bernoulli: p is int64");
    EXPECT_FAIL(ag_bernoulli(pb, &r), "ag_bernoulli: p is bool");
    EXPECT_FAIL(ag_bernoulli(ok, NULL), "ag_bernoulli: the generator is NULL");

    /* multinomial: PyTorch's checks, in its order */
    EXPECT_FAIL(ag_multinomial(NULL, 1, true, &r), "ag_multinomial: probs is NULL");
    EXPECT_FAIL(ag_multinomial(ok, 1, true, NULL), "ag_multinomial: the generator is NULL");
    EXPECT_FAIL(ag_multinomial(pi, 1, true, &r),
                "ag_multinomial: only supports float32 probabilities, got int64");
    EXPECT_FAIL(ag_multinomial(pb, 1, true, &r), "got bool");
    ag_tensor *s0 = ag_scalar(1.0f, false);
    const int64_t s222[3] = { 2, 2, 2 };
    ag_tensor *p3 = ag_ones(3, s222, false);
    EXPECT_FAIL(ag_multinomial(s0, 1, true, &r),
                "ag_multinomial: probs must be 1 or 2 dim, got shape ()");
    EXPECT_FAIL(ag_multinomial(p3, 1, true, &r), "must be 1 or 2 dim, got shape (2,2,2)");
    EXPECT_FAIL(ag_multinomial(ok, 0, true, &r),
                "ag_multinomial: cannot sample num_samples <= 0 samples (got 0)");
    EXPECT_FAIL(ag_multinomial(ok, -1, false, &r), "(got -1)");
    EXPECT_FAIL(ag_multinomial(ok, 4, false, &r),
                "ag_multinomial: cannot sample 4 > 3 samples (probs (3)) without replacement");
    const int64_t s03[2] = { 0, 3 };
    ag_tensor *e03 = ag_zeros(2, s03, false);
    EXPECT_FAIL(ag_multinomial(e03, 4, false, &r), "cannot sample 4 > 3 samples");
    const int64_t many = ((int64_t)1 << 24) + 1;
    ag_tensor *wide = ag_ones(1, &many, false);
    EXPECT_FAIL(ag_multinomial(wide, 1, true, &r),
                "ag_multinomial: number of categories cannot exceed 2^24");
    ag_tensor_free(wide);
    const float badp[4][3] = { { 1, -1, 0 }, { 1, INFINITY, 0 }, { NAN, 1, 1 }, { 1, 1, -0.0f } };
    for (int k = 0; k < 3; k++) {
        ag_tensor *p = tu_vec(3, badp[k], false);
        EXPECT_FAIL(ag_multinomial(p, 1, true, &r),
                    "ag_multinomial: probability tensor contains either inf, nan or element < 0");
        EXPECT_FAIL(ag_multinomial(p, 2, false, &r), "element < 0");
        assert_memory_equal(ag_data(p), badp[k], sizeof badp[k]);
        ag_tensor_free(p);
    }
    ag_tensor *negzero = tu_vec(3, badp[3], false);   /* -0 is a zero, not negative */
    ag_tensor *x = ag_multinomial(negzero, 5, true, &r);
    assert_non_null(x);
    for (int i = 0; i < 5; i++)
        assert_true(ag_data_i64(x)[i] < 2);
    ag_tensor_free(x);
    ag_tensor_free(negzero);
    const float zrow[2][2] = { { 1, 1 }, { 0, 0 } };
    ag_tensor *pz = tu_mat(2, 2, &zrow[0][0], false);
    EXPECT_FAIL(ag_multinomial(pz, 1, true, &r),
                "ag_multinomial: invalid multinomial distribution (sum of probabilities <= 0) "
                "in row 1 of probs (2,2)");
    EXPECT_FAIL(ag_multinomial(pz, 2, false, &r), "row 1");
    const int64_t z0 = 0, s20[2] = { 2, 0 };
    ag_tensor *e0 = ag_zeros(1, &z0, false), *e20 = ag_zeros(2, s20, false);
    EXPECT_FAIL(ag_multinomial(e0, 1, true, &r), "sum of probabilities <= 0");
    EXPECT_FAIL(ag_multinomial(e0, 1, false, &r), "cannot sample 1 > 0 samples");
    EXPECT_FAIL(ag_multinomial(e20, 1, true, &r), "in row 0 of probs (2,0)");
    /* a too-large empty probs is refused, in O(1) */
    const int64_t huge[2] = { (int64_t)1 << 62, 0 };
    ag_tensor *eh = ag_zeros(2, huge, false);
    assert_non_null(eh);
    EXPECT_FAIL(ag_multinomial(eh, 1, true, &r), "is too large");
    ag_tensor_free(eh);
    const int64_t big_rows[2] = { (int64_t)1 << 58, 0 };
    eh = ag_zeros(2, big_rows, false);
    EXPECT_FAIL(ag_multinomial(eh, 1, true, &r), "in row 0");
    ag_tensor_free(eh);
    ag_tensor_free(e0);
    ag_tensor_free(e20);
    ag_tensor_free(pz);
    ag_tensor_free(e03);
    ag_tensor_free(s0);
    ag_tensor_free(p3);
    ag_tensor_free(pi);
    ag_tensor_free(pb);
    ag_tensor_free(ok);
}

/* Every allocation failure is an error with nothing leaked and r unchanged:
 * the result, and multinomial's scratch. */
static void test_out_of_memory(void **state)
{
    (void)state;
    static tu_alloc a;
    ag_rng r;
    ag_rng_seed(&r, 10);
    const float w[3] = { 0.25f, 0.5f, 1.0f };   /* weights, and p for bernoulli */
    for (int f = 0; f < 6; f++) {
        for (uint64_t k = 1;; k++) {
            tu_alloc_use(&a);
            ag_tensor *p = tu_vec(3, w, false);
            assert_non_null(p);
            a.fail_at = a.requests + k;
            ag_rng before = r;
            const int64_t s3[1] = { 3 };
            ag_tensor *x;
            switch (f) {
            case 0: x = ag_rand(1, s3, false, &r); break;
            case 1: x = ag_randn(1, s3, false, &r); break;
            case 2: x = ag_randint(0, 9, 1, s3, &r); break;
            case 3: x = ag_randperm(3, &r); break;
            case 4: x = ag_bernoulli(p, &r); break;
            default: x = ag_multinomial(p, 2, f == 5 && k % 2, &r); break;
            }
            const bool failed = a.failed > 0;
            if (failed) {
                assert_null(x);
                assert_contains(ag_last_error(), "out of memory");
                assert_true(same_rng(&before, &r));
            } else {

                assert_non_null(x);
            }
            ag_tensor_free(x);
            ag_tensor_free(p);
            assert_int_equal(a.outstanding, 0);
            assert_int_equal(a.bad_frees, 0);
            tu_alloc_restore();
            if (!failed)
                break;
        }
    }
    /* without replacement's scratch too */
    for (uint64_t k = 1;; k++) {
        tu_alloc_use(&a);
        ag_tensor *p = tu_vec(3, w, false);
        a.fail_at = a.requests + k;
        ag_rng before = r;
        ag_tensor *x = ag_multinomial(p, 3, false, &r);
        const bool failed = a.failed > 0;
        if (failed) {
            assert_null(x);
            assert_true(same_rng(&before, &r));
        } else {
            assert_permutation(x, 3);
        }
        ag_tensor_free(x);
        ag_tensor_free(p);
        assert_int_equal(a.outstanding, 0);
        tu_alloc_restore();
        if (!failed)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rand),
        cmocka_unit_test(test_randn),
        cmocka_unit_test(test_randint),
        cmocka_unit_test(test_randperm),
        cmocka_unit_test(test_bernoulli),
        cmocka_unit_test(test_multinomial_replacement),
        cmocka_unit_test(test_multinomial_no_replacement),
        cmocka_unit_test(test_multinomial_shapes),
        cmocka_unit_test(test_same_seed_same_tensor),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
