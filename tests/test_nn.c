/* test_nn.c - nn.Linear and whole training steps against PyTorch: replays
 * tests/data/nn_reference.txt (tests/gen_nn_reference.py documents the
 * format): Linear's forward and every gradient, and several steps of small
 * models (Linear, ReLU, MSELoss or CrossEntropyLoss, SGD/Adam/AdamW) compared
 * parameter by parameter. Also Linear's initialisation, its errors, the
 * generator, and that a training step allocates nothing after the first. */
#include "testutil.h"

#include <stdio.h>

#define REF_FILE AG_TEST_DATA_DIR "/nn_reference.txt"
#define RTOL 1e-4
#define ATOL 1e-5
#define MAXV 2048


/* The next line of *pos (NUL-terminated in place), skipping comments and
 * blank lines; NULL at the end. */
static char *next_line(char **pos)
{
    while (**pos) {
        char *line = *pos, *nl = strchr(line, '\n');
        *pos = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        if (line[0] != '#' && line[0] != '\0')
            return line;
    }
    return NULL;
}

/* Line "key v1 v2 ...": checks the key, reads up to max floats; returns the count. */
static int64_t read_floats(char *line, const char *key, float *v, int64_t max)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != '\0')) {
        print_error("expected \"%s\", got \"%.40s\"\n", key, line);
        fail();
    }
    char *s = line + kl;
    int64_t n = 0;
    for (;;) {
        char *end;
        float x = strtof(s, &end);
        if (end == s)
            break;
        assert_true(n < max);
        v[n++] = x;
        s = end;
    }
    return n;
}

/* "key ndim d1 .. dn values": shape into shp, values into v. */
static int read_tensor(char *line, const char *key, int64_t *shp, float *v)
{
    float all[MAXV + AG_MAX_DIMS + 1];
    int64_t n = read_floats(line, key, all, MAXV + AG_MAX_DIMS + 1);
    const int nd = (int)all[0];
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        shp[d] = (int64_t)all[1 + d];
        numel *= shp[d];
    }
    assert_int_equal(n, 1 + nd + numel);
    memcpy(v, all + 1 + nd, (size_t)numel * sizeof(float));
    return nd;
}

static long compared;

static void expect_values(const char *label, const char *what, const float *got, const float *want,
                          int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(fabsf(got[i] - want[i]) <= ATOL + RTOL * fabsf(want[i]))) {
            print_error("%s: %s[%lld] = %.9g, PyTorch gives %.9g\n", label, what, (long long)i,
                        (double)got[i], (double)want[i]);
            fail();
        }
        compared++;
    }
}

static float va[MAXV], vb[MAXV];

static void run_linear(char **pos, const char *label)
{
    int64_t in, out;
    int bias;
    char *line = next_line(pos);
    assert_int_equal(sscanf(line, "layer %lld %lld %d", (long long *)&in, (long long *)&out, &bias), 3);
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    ag_linear *l = ag_linear_new(in, out, bias != 0, &rng);
    assert_non_null(l);
    ag_tensor *w = ag_linear_weight(l), *b = ag_linear_bias(l);
    assert_int_equal(read_floats(next_line(pos), "weight", ag_data(w), MAXV), ag_numel(w));
    if (bias)
        assert_int_equal(read_floats(next_line(pos), "bias", ag_data(b), MAXV), ag_numel(b));
    else
        assert_null(b);
    int64_t xs[AG_MAX_DIMS], ys[AG_MAX_DIMS];
    int xnd = read_tensor(next_line(pos), "input", xs, va);
    ag_tensor *x = ag_tensor_new(xnd, xs, va, true);
    int ynd = read_tensor(next_line(pos), "output", ys, vb);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_linear_forward(t, l, x);
    if (!y)
        print_error("%s: %s\n", label, ag_tape_error(t));
    assert_non_null(y);
    assert_shape(y, ynd, ys);
    expect_values(label, "output", ag_data(y), vb, ag_numel(y));
    ag_tensor *seed = ag_tensor_new(ynd, ys, NULL, false);
    read_floats(next_line(pos), "seed", ag_data(seed), ag_numel(seed));
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    read_floats(next_line(pos), "grad_input", va, MAXV);
    expect_values(label, "grad_input", ag_data(ag_grad(x)), va, ag_numel(x));
    read_floats(next_line(pos), "grad_weight", va, MAXV);
    expect_values(label, "grad_weight", ag_data(ag_grad(w)), va, ag_numel(w));
    if (bias) {
        read_floats(next_line(pos), "grad_bias", va, MAXV);
        expect_values(label, "grad_bias", ag_data(ag_grad(b)), va, ag_numel(b));
    }
    assert_string_equal(next_line(pos), "end");
    ag_tensor_free(seed);
    ag_tensor_free(x);
    ag_tape_free(t);
    ag_linear_free(l);
}



static void run_train(char **pos, const char *label)
{
    int64_t in, h, out;
    char loss[8];
    assert_int_equal(sscanf(next_line(pos), "model %lld %lld %lld", (long long *)&in,
                            (long long *)&h, (long long *)&out), 3);
    assert_int_equal(sscanf(next_line(pos), "loss %7s", loss), 1);
    const bool ce = strcmp(loss, "ce") == 0;
    char *optline = next_line(pos);
    ag_rng rng;
    ag_rng_seed(&rng, 2);
    ag_linear *l1 = ag_linear_new(in, h ? h : out, true, &rng);
    ag_linear *l2 = h ? ag_linear_new(h, out, true, &rng) : NULL;
    ag_tensor *ps[4];
    int np = ag_linear_params(l1, ps);
    if (l2)
        np += ag_linear_params(l2, ps + np);
    for (int k = 0; k < np; k++) {
        char key[32];
        snprintf(key, sizeof key, "param %d", k);
        assert_int_equal(read_floats(next_line(pos), key, ag_data(ps[k]), MAXV), ag_numel(ps[k]));
    }
    ag_optim *opt = tu_make_optim(optline, np, ps);
    assert_non_null(opt);
    char *xl = next_line(pos);
    int64_t n = strtoll(xl + 2, NULL, 10);
    char *after_n = strchr(xl + 2, ' ');
    const int64_t xs[2] = { n, in }, ys[2] = { n, out };
    ag_tensor *x = ag_tensor_new(2, xs, NULL, false), *y = ag_tensor_new(2, ys, NULL, false);
    assert_int_equal(read_floats(after_n, "", ag_data(x), MAXV), n * in);
    int64_t cls[MAXV];
    float yv[MAXV];
    int64_t ny = read_floats(next_line(pos), "y", yv, MAXV);
    if (ce) {
        assert_int_equal(ny, n);
        for (int64_t i = 0; i < n; i++)
            cls[i] = (int64_t)yv[i];
    } else {
        assert_int_equal(ny, n * out);
        memcpy(ag_data(y), yv, (size_t)ny * sizeof(float));
    }
    ag_tape *t = ag_tape_new();
    for (;;) {
        char *line = next_line(pos);
        if (strcmp(line, "end") == 0)
            break;
        int s;
        float want;
        assert_int_equal(sscanf(line, "step %d loss %f", &s, &want), 2);
        ag_tape_reset(t);
        ag_optim_zero_grad(opt);
        ag_tensor *z = ag_linear_forward(t, l1, x);
        if (l2)
            z = ag_linear_forward(t, l2, ag_relu(t, z));
        ag_tensor *lv = ce ? ag_cross_entropy(t, z, cls, NULL) : ag_mse_loss(t, z, y, AG_REDUCTION_MEAN);
        assert_int_equal(ag_backward(t, lv), AG_OK);
        assert_int_equal(ag_optim_step(opt), AG_OK);
        const float got = ag_item(lv);
        expect_values(label, "loss", &got, &want, 1);
        for (int k = 0; k < np; k++) {
            char key[32];
            snprintf(key, sizeof key, "after %d %d", s, k);
            assert_int_equal(read_floats(next_line(pos), key, va, MAXV), ag_numel(ps[k]));
            expect_values(label, key, ag_data(ps[k]), va, ag_numel(ps[k]));
        }
    }
    ag_tape_free(t);
    ag_optim_free(opt);
    ag_linear_free(l1);
    ag_linear_free(l2);
    ag_tensor_free(x);
    ag_tensor_free(y);
}

static void test_reference(void **state)
{
    (void)state;
    char *text = tu_slurp(REF_FILE), *pos = text;
    int expected = -1, cases = 0;
    assert_int_equal(sscanf(next_line(&pos), "nn_reference 1 %d", &expected), 1);
    for (char *line; (line = next_line(&pos)) != NULL; cases++) {
        char label[200];
        snprintf(label, sizeof label, "%s", strchr(line, ' ') + 1);
        if (strncmp(line, "linear ", 7) == 0)
            run_linear(&pos, label);
        else if (strncmp(line, "train ", 6) == 0)
            run_train(&pos, label);
        else
            fail_msg("unknown case line: %s", line);
    }
    assert_int_equal(cases, expected);
    printf("# %d nn cases, %ld values match PyTorch\n", cases, compared);
    free(text);
}

/* PyTorch's init bounds, determinism by seed, and the generator's ranges. */
static void test_linear_init(void **state)
{
    (void)state;
    ag_rng r1, r2;
    ag_rng_seed(&r1, 42);
    ag_rng_seed(&r2, 42);
    ag_linear *a = ag_linear_new(100, 30, true, &r1), *b = ag_linear_new(100, 30, true, &r2);
    assert_non_null(a);
    const float bound = 0.1f;                     /* 1 / sqrt(100) */
    double mean = 0.0;
    float lo = 1.0f, hi = -1.0f;
    for (int64_t i = 0; i < 3000; i++) {
        const float v = ag_data(ag_linear_weight(a))[i];
        assert_true(v >= -bound && v < bound);
        mean += v / 3000.0;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(fabs(mean) < 0.01);               /* uniform: mean 0, spread to the bounds */
    assert_true(lo < -0.09f && hi > 0.09f);
    for (int64_t i = 0; i < 30; i++)
        assert_true(fabsf(ag_data(ag_linear_bias(a))[i]) < bound);
    assert_memory_equal(ag_data(ag_linear_weight(a)), ag_data(ag_linear_weight(b)), 3000 * sizeof(float));
    assert_true(ag_requires_grad(ag_linear_weight(a)) && ag_is_leaf(ag_linear_weight(a)));
    ag_tensor *ps[2];
    assert_int_equal(ag_linear_params(a, ps), 2);
    assert_ptr_equal(ps[0], ag_linear_weight(a));
    assert_ptr_equal(ps[1], ag_linear_bias(a));
    ag_linear *nb = ag_linear_new(4, 2, false, &r1);
    assert_int_equal(ag_linear_params(nb, NULL), 1);
    assert_null(ag_linear_bias(nb));
    ag_linear_free(nb);
    ag_linear_free(a);
    ag_linear_free(b);
    /* the generator: uniform in [lo, hi), normal with mean 0 and std 1 */
    double s = 0.0, sq = 0.0;
    for (int i = 0; i < 20000; i++) {
        const float u = ag_rng_uniform(&r1, -2.0f, 3.0f);
        assert_true(u >= -2.0f && u < 3.0f);
        const double z = ag_rng_normal(&r1);
        s += z;
        sq += z * z;
    }
    assert_true(fabs(s / 20000) < 0.05 && fabs(sq / 20000 - 1.0) < 0.05);
}

static void test_linear_errors(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 3);
    assert_null(ag_linear_new(-1, 2, true, &r));
    assert_string_equal(ag_last_error(),
                        "ag_linear_new: in_features -1 and out_features 2 must be non-negative");
    assert_null(ag_linear_new(2, 2, true, NULL));
    ag_linear *l = ag_linear_new(3, 2, true, &r);
    const int64_t xs[2] = { 4, 5 };
    ag_tensor *x = ag_zeros(2, xs, false);
    float before[2 * 3];
    memcpy(before, ag_data(ag_linear_weight(l)), sizeof before);
    ag_tape *t = ag_tape_new();
    assert_null(ag_linear_forward(t, l, x));
    assert_int_equal(ag_tape_status(t), AG_ERR_SHAPE);
    assert_contains(ag_tape_error(t), "ag_linear_forward: input of shape (4,5)");
    assert_memory_equal(before, ag_data(ag_linear_weight(l)), sizeof before);
    ag_tape_reset(t);
    assert_null(ag_linear_forward(t, NULL, x));
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_reset(t);
    /* the caller's mistakes are named after the function called, not after
     * the ag_affine it records (found by tests/fuzz/fuzz_api) */
    assert_null(ag_linear_forward(t, l, NULL));
    assert_int_equal(ag_tape_status(t), AG_ERR_ARG);
    assert_contains(ag_tape_error(t), "ag_linear_forward: input is NULL");
    ag_tape_reset(t);
    ag_tape *t2 = ag_tape_new();
    const int64_t x3s[2] = { 4, 3 };
    ag_tensor *x3 = ag_zeros(2, x3s, false);
    assert_null(ag_linear_forward(t, l, ag_exp(t2, x3)));
    assert_int_equal(ag_tape_status(t), AG_ERR_TAPE);
    assert_contains(ag_tape_error(t), "ag_linear_forward: input was recorded on another tape");
    ag_tape_free(t2);
    /* so is running out of memory while recording it: fail each allocation
     * in turn until the call succeeds */
    static tu_alloc fa;   /* static: stays valid if an assertion leaves it installed */
    tu_alloc_use(&fa);
    int failures = 0;
    for (uint64_t k = 1;; k++) {
        ag_tape *t3 = ag_tape_new();
        assert_non_null(t3);
        fa.fail_at = fa.requests + k;
        ag_tensor *y = ag_linear_forward(t3, l, x3);
        fa.fail_at = 0;
        if (!y) {
            failures++;
            assert_int_equal(fa.failed, (uint64_t)failures);
            assert_int_equal(ag_tape_status(t3), AG_ERR_NOMEM);
            assert_contains(ag_tape_error(t3), "ag_linear_forward: ");
        }
        ag_tape_free(t3);
        if (y)
            break;
    }
    assert_true(failures > 0);
    tu_alloc_restore();
    ag_tensor_free(x3);
    assert_null(ag_linear_forward(NULL, l, x));
    assert_contains(ag_last_error(), "ag_linear_forward: tape is NULL");
    assert_null(ag_linear_weight(NULL));
    assert_int_equal(ag_linear_params(NULL, NULL), 0);
    ag_linear_free(NULL);
    assert_int_equal(ag_fill_uniform(NULL, &r, 0, 1), AG_ERR_ARG);
    assert_int_equal(ag_fill_normal(x, NULL, 0, 1), AG_ERR_ARG);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_linear_free(l);
    /* every allocation of a layer can fail without a leak */
    for (int k = 1; k <= 3; k++) {
        tu_alloc a;
        tu_alloc_use(&a);
        a.fail_at = (uint64_t)k;
        ag_linear *f = ag_linear_new(3, 2, true, &r);
        ag_linear_free(f);
        tu_alloc_restore();
        assert_int_equal(a.outstanding, 0);
    }
}

/* A training step (forward, loss, backward, optimizer) allocates nothing
 * once the tape has seen it. */
static void test_step_allocates_nothing(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 4);
    ag_linear *l1 = ag_linear_new(20, 16, true, &r), *l2 = ag_linear_new(16, 5, true, &r);
    ag_tensor *ps[4];
    int np = ag_linear_params(l1, ps);
    np += ag_linear_params(l2, ps + np);
    ag_adam_opts o = ag_adam_defaults();
    o.lr = 0.02f;
    ag_optim *opt = ag_adam_new(np, ps, &o);
    const int64_t xs[2] = { 80, 20 };            /* more targets than fit any small buffer */
    ag_tensor *x = ag_zeros(2, xs, false);
    ag_fill_normal(x, &r, 0, 1);
    int64_t y[80];
    for (int i = 0; i < 80; i++)
        y[i] = i % 5;
    ag_tape *t = ag_tape_new();
    tu_alloc a;
    float first = 0.0f, last = 0.0f;
    for (int step = 0; step < 30; step++) {
        if (step == 2)
            tu_alloc_use(&a);
        ag_tape_reset(t);
        ag_optim_zero_grad(opt);
        ag_tensor *loss = ag_cross_entropy(
            t, ag_linear_forward(t, l2, ag_relu(t, ag_linear_forward(t, l1, x))), y, NULL);
        assert_int_equal(ag_backward(t, loss), AG_OK);
        ag_optim_step(opt);
        if (step == 0)
            first = ag_item(loss);
        last = ag_item(loss);
    }
    tu_alloc_restore();
    assert_int_equal(a.requests, 0);
    assert_true(last < 0.5f * first);            /* and it learns */
    ag_tape_free(t);
    ag_optim_free(opt);
    ag_linear_free(l1);
    ag_linear_free(l2);
    ag_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_linear_init),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_step_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
