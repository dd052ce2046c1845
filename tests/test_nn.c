/* test_nn.c - nn.Linear and whole training steps against PyTorch: replays
 * tests/data/nn_reference.txt (tests/gen_nn_reference.py documents the
 * format): Linear's forward and every gradient, and several steps of small
 * models (Linear, ReLU, MSELoss or CrossEntropyLoss, SGD/Adam/AdamW) compared
 * parameter by parameter. Also Linear's initialisation, its errors, the
 * generator, and that a training step allocates nothing after the first.
 * The reader is tested too (test_reader). */
#include "testutil.h"

#include <stdio.h>

#define REF_FILE AG_TEST_DATA_DIR "/nn_reference.txt"
#define RTOL 1e-4
#define ATOL 1e-5
#define MAXV 2048


/* The next line of *pos (NUL-terminated in place), skipping comments and
 * blank lines; at the end an empty line, which no check accepts. */
static char *next_line(char **pos)
{
    static char none[1];
    while (**pos) {
        char *line = *pos, *nl = strchr(line, '\n');
        *pos = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        if (line[0] != '#' && line[0] != '\0')
            return line;
    }
    none[0] = '\0';
    return none;
}

/* Line "key v1 v2 ...": the number of floats after key, read into v (at most
 * max), or -1 if the key differs or a token is not a number. */
static int64_t read_floats(const char *line, const char *key, float *v, int64_t max)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != '\0'))
        return -1;
    const char *s = line + kl;
    int64_t n = 0;
    for (;;) {
        while (*s == ' ')
            s++;
        if (*s == '\0')
            return n;
        char *end;
        float x = strtof(s, &end);
        if (end == s || (*end != ' ' && *end != '\0') || n >= max)
            return -1;
        v[n++] = x;
        s = end;
    }
}

/* "key ndim d1 .. dn values": shape into shp, values into v; the ndim, or
 * -1 if malformed. */
static int read_tensor(const char *line, const char *key, int64_t *shp, float *v)
{
    float all[MAXV + AG_MAX_DIMS + 1];
    int64_t n = read_floats(line, key, all, MAXV + AG_MAX_DIMS + 1);
    if (n < 1 || !(all[0] >= 0 && all[0] <= AG_MAX_DIMS) || n < 1 + (int64_t)all[0])
        return -1;
    const int nd = (int)all[0];
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        shp[d] = (int64_t)all[1 + d];
        numel *= shp[d];
    }
    if (n != 1 + nd + numel)
        return -1;
    memcpy(v, all + 1 + nd, (size_t)numel * sizeof(float));
    return nd;
}

static long compared;

static void expect_values(const char *label, const char *what, const float *got, const float *want,
                          int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(fabsf(got[i] - want[i]) <= ATOL + RTOL * fabsf(want[i])))
            TU_REF_FAIL(TU_REF_MISMATCH, "%s: %s[%lld] = %.9g, PyTorch gives %.9g", label, what,
                        (long long)i, (double)got[i], (double)want[i]);
        compared++;
    }
}

/* A malformed line: fails the test, or while the reader is tested ends the
 * reading of the case (ok = false; what the case holds is freed at done). */
#define need(cond, what)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            TU_REF_FAIL(TU_REF_MALFORMED, "%s: %s", label, (what));                       \
            ok = false;                                                                   \
            goto done;                                                                    \
        }                                                                                 \
    } while (0)

static float va[MAXV], vb[MAXV];

/* One linear case; false if it is malformed. */
static bool run_linear(char **pos, const char *label)
{
    bool ok = true;
    ag_linear *l = NULL;
    ag_tensor *x = NULL, *seed = NULL;
    ag_tape *t = NULL;
    long long in, out;
    int bias;
    need(sscanf(next_line(pos), "layer %lld %lld %d", &in, &out, &bias) == 3, "bad layer line");
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    l = ag_linear_new(in, out, bias != 0, &rng);
    assert_non_null(l);
    ag_tensor *w = ag_linear_weight(l), *b = ag_linear_bias(l);
    need(read_floats(next_line(pos), "weight", ag_data(w), MAXV) == ag_numel(w), "bad weight line");
    if (bias)
        need(read_floats(next_line(pos), "bias", ag_data(b), MAXV) == ag_numel(b), "bad bias line");
    else
        assert_null(b);
    int64_t xs[AG_MAX_DIMS], ys[AG_MAX_DIMS];
    int xnd = read_tensor(next_line(pos), "input", xs, va);
    need(xnd >= 0, "bad input line");
    x = ag_tensor_new(xnd, xs, va, true);
    int ynd = read_tensor(next_line(pos), "output", ys, vb);
    need(ynd >= 0, "bad output line");
    t = ag_tape_new();
    ag_tensor *y = ag_linear_forward(t, l, x);
    if (!y)
        print_error("%s: %s\n", label, ag_tape_error(t));
    assert_non_null(y);
    assert_shape(y, ynd, ys);
    expect_values(label, "output", ag_data(y), vb, ag_numel(y));
    seed = ag_tensor_new(ynd, ys, NULL, false);
    need(read_floats(next_line(pos), "seed", ag_data(seed), MAXV) == ag_numel(seed),
         "bad seed line");
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    need(read_floats(next_line(pos), "grad_input", va, MAXV) == ag_numel(x), "bad grad_input line");
    expect_values(label, "grad_input", ag_data(ag_grad(x)), va, ag_numel(x));
    need(read_floats(next_line(pos), "grad_weight", va, MAXV) == ag_numel(w),
         "bad grad_weight line");
    expect_values(label, "grad_weight", ag_data(ag_grad(w)), va, ag_numel(w));
    if (bias) {
        need(read_floats(next_line(pos), "grad_bias", va, MAXV) == ag_numel(b),
             "bad grad_bias line");
        expect_values(label, "grad_bias", ag_data(ag_grad(b)), va, ag_numel(b));
    }
    need(strcmp(next_line(pos), "end") == 0, "expected end");
done:
    ag_tensor_free(seed);
    ag_tensor_free(x);
    ag_tape_free(t);
    ag_linear_free(l);
    return ok;
}

/* One training case; false if it is malformed. */
static bool run_train(char **pos, const char *label)
{
    bool ok = true;
    ag_linear *l1 = NULL, *l2 = NULL;
    ag_optim *opt = NULL;
    ag_tensor *x = NULL, *y = NULL;
    ag_tape *t = NULL;
    long long in, h, out;
    char loss[8];
    need(sscanf(next_line(pos), "model %lld %lld %lld", &in, &h, &out) == 3, "bad model line");
    need(sscanf(next_line(pos), "loss %7s", loss) == 1, "bad loss line");
    const bool ce = strcmp(loss, "ce") == 0;
    char *optline = next_line(pos);
    need(strncmp(optline, "opt ", 4) == 0, "expected an opt line");
    ag_rng rng;
    ag_rng_seed(&rng, 2);
    l1 = ag_linear_new(in, h ? h : out, true, &rng);
    l2 = h ? ag_linear_new(h, out, true, &rng) : NULL;
    ag_tensor *ps[4];
    int np = ag_linear_params(l1, ps);
    if (l2)
        np += ag_linear_params(l2, ps + np);
    for (int k = 0; k < np; k++) {
        char key[32];
        snprintf(key, sizeof key, "param %d", k);
        need(read_floats(next_line(pos), key, ag_data(ps[k]), MAXV) == ag_numel(ps[k]),
             "bad param line");
    }
    opt = tu_make_optim(optline, np, ps);
    assert_non_null(opt);
    char *xl = next_line(pos), *after_n;
    need(strncmp(xl, "x ", 2) == 0, "expected an x line");
    long long n = strtoll(xl + 2, &after_n, 10);
    need(after_n != xl + 2 && n > 0 && n * in <= MAXV && n * out <= MAXV, "bad x line");
    const int64_t xs[2] = { n, in }, ys[2] = { n, out };
    x = ag_tensor_new(2, xs, NULL, false);
    y = ag_tensor_new(2, ys, NULL, false);
    need(read_floats(after_n, "", ag_data(x), MAXV) == n * in, "bad x line");
    int64_t cls[MAXV];
    float yv[MAXV];
    int64_t ny = read_floats(next_line(pos), "y", yv, MAXV);
    if (ce) {
        need(ny == n, "bad y line");
        for (int64_t i = 0; i < n; i++)
            cls[i] = (int64_t)yv[i];
    } else {
        need(ny == n * out, "bad y line");
        memcpy(ag_data(y), yv, (size_t)ny * sizeof(float));
    }
    t = ag_tape_new();
    for (int last = 0;; last++) {
        char *line = next_line(pos);
        if (strcmp(line, "end") == 0) {
            need(last > 0, "a case without steps");
            break;
        }
        int s;
        float want;
        need(sscanf(line, "step %d loss %f", &s, &want) == 2 && s == last + 1,
             "expected step <next step> loss <value>, or end");
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
            need(read_floats(next_line(pos), key, va, MAXV) == ag_numel(ps[k]), "bad after line");
            expect_values(label, key, ag_data(ps[k]), va, ag_numel(ps[k]));
        }
    }
done:
    ag_tape_free(t);
    ag_optim_free(opt);
    ag_linear_free(l1);
    ag_linear_free(l2);
    ag_tensor_free(x);
    ag_tensor_free(y);
    return ok;
}

/* Replays every case of text (modified in place); returns the number of
 * cases, which must be the declared count, or -1 for a malformed text while
 * the reader is tested (a malformed text fails the test otherwise). */
static int run_nn_reference(char *text)
{
    char *pos = text;
    int expected = -1, cases = 0;
    bool ok = true;
    const char *label = "the header";
    need(sscanf(next_line(&pos), "nn_reference 1 %d", &expected) == 1 && expected > 0,
         "expected \"nn_reference 1 <count>\"");
    for (char *line; (line = next_line(&pos))[0] != '\0'; cases++) {
        char lab[200];
        const char *sp = strchr(line, ' ');
        snprintf(lab, sizeof lab, "%s", sp ? sp + 1 : "");
        if (strncmp(line, "linear ", 7) == 0)
            ok = run_linear(&pos, lab);
        else if (strncmp(line, "train ", 6) == 0)
            ok = run_train(&pos, lab);
        else
            need(false, "unknown case line");
        if (!ok)
            return -1;
    }
    label = "the file";
    /* a truncated (or padded) file fails here */
    need(cases == expected, "the number of cases is not the declared count");
done:
    return ok ? cases : -1;
}
#undef need

static void test_reference(void **state)
{
    (void)state;
    char *text = tu_slurp(REF_FILE);
    compared = 0;
    const int cases = run_nn_reference(text);
    assert_true(cases > 0);
    printf("# %d nn cases, %ld values match PyTorch\n", cases, compared);
    free(text);
}

/* ---- the reader itself: a copy of two real cases passes, wrong copies fail ---- */
#define NN_LINEAR                                                                                 \
    "linear Linear(1,1,bias=True) on (1, 1)\n"                                                    \
    "layer 1 1 1\n"                                                                               \
    "weight -0.647673488\n"                                                                       \
    "bias -0.419151306\n"                                                                         \
    "input 2 1 1 -1.15017378\n"                                                                   \
    "output 2 1 1 0.325785756\n"                                                                  \
    "seed 0.705593705\n"                                                                          \
    "grad_input -0.456994325\n"                                                                   \
    "grad_weight -0.811555386\n"                                                                  \
    "grad_bias 0.705593705\n"                                                                     \
    "end\n"
#define NN_TRAIN                                                                                  \
    "train the tutorial's step: Linear(3,2), MSELoss, SGD lr 0.01\n"                              \
    "model 3 0 2\n"                                                                               \
    "loss mse\n"                                                                                  \
    "opt sgd lr=0.01\n"                                                                           \
    "param 0 0.0131630171 0.0671995133 -0.522749245 0.307937115 -0.0943564102 0.563768029\n"      \
    "param 1 -0.296009928 -0.465566605\n"                                                         \
    "x 5 -1.2491039 0.159345478 -1.38819253 1.44286227 -0.764740586 0.171834067 0.442778498 "     \
    "-0.160857573 1.30443358 -0.195562735 -2.05735993 -1.40155923 -0.298565388 0.222102478 "      \
    "0.984158754\n"                                                                               \
    "y 1.21067643 1.04822779 0.496152818 0.733313799 -2.47831607 0.556671023 -1.05313897 "        \
    "-0.16180712 -0.232363299 -2.73492599\n"                                                      \
    "step 1 loss 2.17355776\n"                                                                    \
    "after 1 0 0.0127009144 0.0723353401 -0.523623109 0.30425477 -0.0995908305 0.548809171\n"     \
    "after 1 1 -0.297162235 -0.462235302\n"                                                       \
    "step 2 loss 2.14337015\n"                                                                    \
    "after 2 0 0.012257902 0.0774181336 -0.524509966 0.300665796 -0.104688093 0.534094989\n"      \
    "after 2 1 -0.298276722 -0.458973348\n"                                                       \
    "end\n"
static const char NN_COPY[] = "nn_reference 1 2\n\n" NN_LINEAR "\n" NN_TRAIN;

/* Reads NN_COPY with old replaced by new: the outcome (TU_REF_*), the first
 * failure message containing msg (if not NULL). */
static void expect_nn_read(const char *old, const char *new_text, int outcome, const char *msg)
{
    static const char *const names[] = { "no failure", "a mismatch", "a malformed text" };
    char *text = tu_replace(NN_COPY, old, new_text);
    compared = 0;
    tu_ref_try_begin();
    const int cases = run_nn_reference(text);
    const int got = tu_ref_try_end();
    if (got != outcome)
        print_error("reading gives %s, expected %s (first failure: %s)\n", names[got],
                    names[outcome], tu_ref_state()->msg);
    assert_int_equal(got, outcome);
    assert_int_equal(cases, outcome == TU_REF_MALFORMED ? -1 : 2);
    if (outcome != TU_REF_MALFORMED)
        assert_int_equal(compared, 4 + 2 * (1 + 6 + 2));
    if (msg)
        assert_contains(tu_ref_state()->msg, msg);
    free(text);
}

static void test_reader(void **state)
{
    (void)state;
    expect_nn_read("nn_reference 1 2", "nn_reference 1 2", TU_REF_OK, NULL);
    /* a value beyond the tolerance, in each kind of line */
    expect_nn_read("output 2 1 1 0.325785756", "output 2 1 1 0.325885756", TU_REF_MISMATCH,
                   "Linear(1,1,bias=True) on (1, 1): output[0] = ");
    expect_nn_read("grad_input -0.456994325", "grad_input -0.456894325", TU_REF_MISMATCH,
                   "grad_input[0] = ");
    expect_nn_read("grad_weight -0.811555386", "grad_weight -0.811455386", TU_REF_MISMATCH,
                   "grad_weight[0] = ");
    expect_nn_read("grad_bias 0.705593705", "grad_bias 0.705693705", TU_REF_MISMATCH,
                   "grad_bias[0] = ");
    expect_nn_read("step 2 loss 2.14337015", "step 2 loss 2.14437015", TU_REF_MISMATCH,
                   "SGD lr 0.01: loss[0] = ");
    expect_nn_read("-0.298276722 -0.458973348", "-0.298276722 -0.458873348", TU_REF_MISMATCH,
                   "after 2 1[1] = ");
    expect_nn_read("0.984158754", "0.985158754", TU_REF_MISMATCH, "loss[0] = ");
    /* within the tolerance passes */
    expect_nn_read("-0.298276722 -0.458973348", "-0.298276722 -0.458963348", TU_REF_OK, NULL);
    /* malformed: cut short, a case missing, a wrong count, too few or too
     * many values, a step missing */
    expect_nn_read("after 2 1 -0.298276722 -0.458973348\nend\n", "", TU_REF_MALFORMED,
                   "bad after line");
    expect_nn_read("after 2 1 -0.298276722 -0.458973348\nend\n",
                   "after 2 1 -0.298276722 -0.458973348\n", TU_REF_MALFORMED,
                   "expected step <next step> loss <value>, or end");
    expect_nn_read("\n" NN_TRAIN, "", TU_REF_MALFORMED, "not the declared count");
    expect_nn_read("nn_reference 1 2", "nn_reference 1 3", TU_REF_MALFORMED,
                   "not the declared count");
    expect_nn_read("grad_weight -0.811555386", "grad_weight -0.811555386 1", TU_REF_MALFORMED,
                   "bad grad_weight line");
    expect_nn_read("seed 0.705593705", "seed", TU_REF_MALFORMED, "bad seed line");
    expect_nn_read("-0.232363299 -2.73492599", "-0.232363299", TU_REF_MALFORMED, "bad y line");
    expect_nn_read("step 2 loss", "step 3 loss", TU_REF_MALFORMED, "expected step <next step>");
    expect_nn_read("grad_input -0.456994325", "grad_input -0.45699x", TU_REF_MALFORMED,
                   "bad grad_input line");
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
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_linear_init),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_step_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
