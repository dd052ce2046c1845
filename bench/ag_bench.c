/* ag_bench.c - libautograd's side of the benchmark suite (bench/run.py runs it
 * beside bench/torch_bench.py, which does the same work with PyTorch).
 *
 *   usage: ag_bench CASE [--quick] [--data DIR] [--only NAME] [--threads T]
 *
 * --only NAME runs just that measurement of a case (matmul_512,
 * elementwise_1M): for profiling with perf.
 *
 * CASE is one of scalar_chain, seed_step, mlp_small, mlp_large, matmul,
 * elementwise, fashion_mnist_epoch (run.py runs these beside PyTorch), or
 * ew_math (ours only: exp, sin, cos, sqrt, abs on L1-resident data, the cost
 * of the arithmetic alone). Each run prints one line per measurement:
 *
 *   result case=NAME value=V unit=U allocs_per_iter=A maxrss_kb=K [extra=...]
 *
 * V is the median over timed batches (each batch long enough for the clock);
 * allocs_per_iter counts the allocator calls (ag_set_allocator with a counting
 * allocator) per iteration once the first iteration is done; maxrss_kb is the
 * process's peak resident set (VmHWM, see maxrss_kb) when the line is printed.
 * --threads T sets the library's thread count with ag_set_num_threads(T)
 * (default 1, whatever AG_NUM_THREADS says). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "autograd.h"

/* ---- timing, the counting allocator, output ------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long n_alloc, n_free;

static void *counting_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        if (ptr)
            n_free++;
        free(ptr);
        return NULL;
    }
    n_alloc++;
    return malloc(new_size);
}

/* Peak resident set of this process image, in KiB: VmHWM from
 * /proc/self/status (Linux), else getrusage's ru_maxrss. Not ru_maxrss first:
 * Linux carries ru_maxrss across exec, so a child of a big runner would
 * report the runner's size. */
static long maxrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long kb = -1;
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                kb = strtol(line + 6, NULL, 10);
                break;
            }
        fclose(f);
        if (kb >= 0)
            return kb;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int quick;
static const char *only;       /* --only NAME: just that measurement (for perf) */

static bool skip(const char *name)
{
    return only && strcmp(only, name) != 0;
}

typedef void (*iter_fn)(void *ctx);

typedef struct measurement {
    double seconds;            /* median seconds per iteration */
    double allocs_per_iter;    /* allocator requests per iteration after the first */
} measurement;

/* Runs fn once (warm-up, and the first iteration that may allocate), then
 * batches of `inner` iterations (each batch >= min_batch seconds) until about
 * `budget` seconds or max_batches batches have run (at least 3). Returns the
 * median per-iteration time over the batches. */
static measurement measure(iter_fn fn, void *ctx, double budget)
{
    const double min_batch = 0.02;
    fn(ctx);
    const long long a0 = n_alloc;
    double t0 = now();
    fn(ctx);
    double one = now() - t0;
    long long iters = 1;
    if (one < 1e-9)
        one = 1e-9;
    long long inner = (long long)ceil(min_batch / one);
    if (inner < 1)
        inner = 1;
    int batches = (int)(budget / (one * (double)inner));
    const int max_batches = quick ? 7 : 15;
    if (batches < 3)
        batches = 3;
    if (batches > max_batches)
        batches = max_batches;
    double per[64];
    for (int b = 0; b < batches; b++) {
        t0 = now();
        for (long long i = 0; i < inner; i++)
            fn(ctx);
        per[b] = (now() - t0) / (double)inner;
        iters += inner;
    }
    measurement m = { median(per, batches), (double)(n_alloc - a0) / (double)iters };
    return m;
}

static void report(const char *name, double value, const char *unit, double allocs,
                   const char *extra)
{
    printf("result case=%s value=%.6g unit=%s allocs_per_iter=%.3g maxrss_kb=%ld%s%s\n", name,
           value, unit, allocs, maxrss_kb(), extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

static void check(ag_tape *t, const char *what)
{
    if (ag_tape_status(t) != AG_OK) {
        fprintf(stderr, "ag_bench %s: %s\n", what, ag_tape_error(t));
        exit(2);
    }
}

static void fill(ag_tensor *x, ag_rng *r, float lo, float hi)
{
    ag_fill_uniform(x, r, lo, hi);
}

/* ---- scalar_chain: 10,000 ops on one-element tensors, record + backward --- */

#define CHAIN_OPS 10000

typedef struct chain_ctx {
    ag_tape *t;
    ag_tensor *x, *w;
} chain_ctx;

static void chain_iter(void *p)
{
    chain_ctx *c = p;
    ag_tape *t = c->t;
    ag_tape_reset(t);
    ag_zero_grad(c->x);
    ag_zero_grad(c->w);
    /* a cycle of six ops that keeps values in [0.2, 1.4]: sin, mul, add, pow, exp, sqrt */
    ag_tensor *y = c->x;
    for (int i = 0; i < CHAIN_OPS; i++) {
        switch (i % 6) {
        case 0: y = ag_sin(t, y); break;
        case 1: y = ag_mul(t, y, c->w); break;
        case 2: y = ag_add(t, y, c->x); break;
        case 3: y = ag_pow(t, y, 2.0f); break;
        case 4: y = ag_exp(t, y); break;
        default: y = ag_sqrt(t, y); break;
        }
    }
    ag_backward(t, y);
}

static void bench_scalar_chain(void)
{
    chain_ctx c = { ag_tape_new(), ag_scalar(0.3f, true), ag_scalar(0.5f, true) };
    chain_iter(&c);
    check(c.t, "scalar_chain");
    measurement m = measure(chain_iter, &c, quick ? 0.3 : 0.5);
    report("scalar_chain", m.seconds / CHAIN_OPS * 1e9, "ns/op", m.allocs_per_iter, NULL);
    ag_tape_free(c.t);
    ag_tensor_free(c.x);
    ag_tensor_free(c.w);
}

/* ---- training steps: seed_step, mlp_small, mlp_large --------------------- */

typedef struct train_ctx {
    ag_tape *t;
    int nlayers;
    ag_linear *l[4];
    ag_optim *opt;
    ag_tensor *x, *target;     /* target: MSE only */
    int64_t *labels;           /* cross-entropy only */
} train_ctx;

static void train_iter(void *p)
{
    train_ctx *c = p;
    ag_tape *t = c->t;
    ag_tape_reset(t);
    ag_optim_zero_grad(c->opt);
    ag_tensor *h = c->x;
    for (int i = 0; i < c->nlayers; i++) {
        h = ag_linear_forward(t, c->l[i], h);
        if (i + 1 < c->nlayers)
            h = ag_relu(t, h);
    }
    ag_tensor *loss = c->labels ? ag_cross_entropy(t, h, c->labels, NULL)
                                : ag_mse_loss(t, h, c->target, AG_REDUCTION_MEAN);
    ag_backward(t, loss);
    ag_optim_step(c->opt);
}

static void train_setup(train_ctx *c, int nlayers, const int64_t *sizes, int64_t batch, bool ce,
                        ag_rng *r)
{
    memset(c, 0, sizeof *c);
    c->t = ag_tape_new();
    c->nlayers = nlayers;
    ag_tensor *params[8];
    int np = 0;
    for (int i = 0; i < nlayers; i++) {
        c->l[i] = ag_linear_new(sizes[i], sizes[i + 1], true, r);
        np += ag_linear_params(c->l[i], params + np);
    }
    ag_sgd_opts o = ag_sgd_defaults(0.01f);
    c->opt = ag_sgd_new(np, params, &o);
    const int64_t xs[2] = { batch, sizes[0] };
    c->x = ag_zeros(2, xs, false);
    fill(c->x, r, -1.0f, 1.0f);
    if (ce) {
        c->labels = malloc((size_t)batch * sizeof *c->labels);
        for (int64_t i = 0; i < batch; i++)
            c->labels[i] = (int64_t)(ag_rng_next(r) % (uint64_t)sizes[nlayers]);
    } else {
        const int64_t ts[2] = { batch, sizes[nlayers] };
        c->target = ag_zeros(2, ts, false);
        fill(c->target, r, -1.0f, 1.0f);
    }
}

static void train_free(train_ctx *c)
{
    ag_tape_free(c->t);
    for (int i = 0; i < c->nlayers; i++)
        ag_linear_free(c->l[i]);
    ag_optim_free(c->opt);
    ag_tensor_free(c->x);
    ag_tensor_free(c->target);
    free(c->labels);
}

static void bench_seed_step(void)
{
    ag_rng r;
    ag_rng_seed(&r, 1);
    const int64_t sizes[2] = { 3, 2 };
    train_ctx c;
    train_setup(&c, 1, sizes, 5, false, &r);
    train_iter(&c);
    check(c.t, "seed_step");
    measurement m = measure(train_iter, &c, quick ? 0.3 : 0.5);
    report("seed_step", m.seconds * 1e6, "us/step", m.allocs_per_iter, NULL);
    train_free(&c);
}

/* Matmul flops of a training step of an MLP: forward, weight gradients, and
 * input gradients for every layer but the first (x does not require grad). */
static double mlp_flops(int nlayers, const int64_t *sizes, int64_t batch)
{
    double f = 0.0;
    for (int i = 0; i < nlayers; i++)
        f += 2.0 * (double)batch * (double)sizes[i] * (double)sizes[i + 1] * (i == 0 ? 2 : 3);
    return f;
}

static void bench_mlp(const char *name, int nlayers, const int64_t *sizes, int64_t batch,
                      bool gflops)
{
    ag_rng r;
    ag_rng_seed(&r, 2);
    train_ctx c;
    train_setup(&c, nlayers, sizes, batch, true, &r);
    train_iter(&c);
    check(c.t, name);
    measurement m = measure(train_iter, &c, quick ? 0.5 : 0.8);
    report(name, m.seconds * 1e3, "ms/step", m.allocs_per_iter, NULL);
    if (gflops) {
        char n2[64];
        snprintf(n2, sizeof n2, "%s_gflops", name);
        report(n2, mlp_flops(nlayers, sizes, batch) / m.seconds * 1e-9, "GFLOP/s",
               m.allocs_per_iter, NULL);
    }
    train_free(&c);
}

/* ---- matmul: ag_matmul forward only ------------------------------------- */

typedef struct mm_ctx {
    ag_tape *t;
    ag_tensor *a, *b;
} mm_ctx;

static void mm_iter(void *p)
{
    mm_ctx *c = p;
    ag_tape_reset(c->t);
    ag_matmul(c->t, c->a, c->b);
}

static void bench_matmul(void)
{
    static const int64_t ns[] = { 64, 128, 256, 512, 1024, 2048 };
    ag_rng r;
    ag_rng_seed(&r, 3);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        const int64_t n = ns[i], s[2] = { n, n };
        char name[64];
        snprintf(name, sizeof name, "matmul_%lld", (long long)n);
        if ((quick && n > 1024) || skip(name))
            continue;
        mm_ctx c = { ag_tape_new(), ag_zeros(2, s, false), ag_zeros(2, s, false) };
        fill(c.a, &r, -1.0f, 1.0f);
        fill(c.b, &r, -1.0f, 1.0f);
        mm_iter(&c);
        check(c.t, "matmul");
        measurement m = measure(mm_iter, &c, quick ? 0.3 : (n >= 2048 ? 1.2 : 0.4));
        report(name, 2.0 * (double)n * (double)n * (double)n / m.seconds * 1e-9, "GFLOP/s",
               m.allocs_per_iter, NULL);
        ag_tape_free(c.t);
        ag_tensor_free(c.a);
        ag_tensor_free(c.b);
    }
}

/* ---- elementwise: exp(x)*sin(x) + sqrt(abs(x)), forward + backward ------- */

typedef struct ew_ctx {
    ag_tape *t;
    ag_tensor *x, *seed;
} ew_ctx;

static void ew_iter(void *p)
{
    ew_ctx *c = p;
    ag_tape *t = c->t;
    ag_tape_reset(t);
    ag_zero_grad(c->x);
    ag_tensor *y = ag_add(t, ag_mul(t, ag_exp(t, c->x), ag_sin(t, c->x)),
                          ag_sqrt(t, ag_abs(t, c->x)));
    ag_backward_seed(t, y, c->seed);   /* y.backward(torch.ones_like(y)) */
}

static void bench_elementwise(void)
{
    static const int64_t ns[] = { 1 << 20, 1 << 24 };
    static const char *names[] = { "elementwise_1M", "elementwise_16M" };
    ag_rng r;
    ag_rng_seed(&r, 4);
    for (int i = 0; i < 2; i++) {
        const int64_t n = ns[i];
        if (skip(names[i]))
            continue;
        ew_ctx c = { ag_tape_new(), ag_zeros(1, &n, true), ag_ones(1, &n, false) };
        fill(c.x, &r, -2.0f, 2.0f);
        ew_iter(&c);
        check(c.t, "elementwise");
        measurement m = measure(ew_iter, &c, quick ? 0.3 : 0.5);
        report(names[i], m.seconds / (double)n * 1e9, "ns/elem", m.allocs_per_iter, NULL);
        ag_tape_free(c.t);
        ag_tensor_free(c.x);
        ag_tensor_free(c.seed);
    }
}

/* ---- ew_math: each math op forward-only on 4096 cache-resident elements ---
 * Not a PyTorch comparison (run.py does not run it): the arithmetic cost of
 * our exp, sin, cos, sqrt per element once memory is out of the way, which
 * bounds what the elementwise case can gain from cheaper math. */

typedef struct math_ctx {
    ag_tape *t;
    ag_tensor *x;
    ag_tensor *(*op)(ag_tape *, ag_tensor *);
} math_ctx;

static void math_iter(void *p)
{
    math_ctx *c = p;
    ag_tape_reset(c->t);
    c->op(c->t, c->x);
}

static void bench_ew_math(void)
{
    static const struct {
        const char *name;
        ag_tensor *(*op)(ag_tape *, ag_tensor *);
    } ops[] = { { "ew_math_exp", ag_exp }, { "ew_math_sin", ag_sin }, { "ew_math_cos", ag_cos },
                { "ew_math_sqrt", ag_sqrt }, { "ew_math_abs", ag_abs } };
    const int64_t n = 4096;   /* 16 KB in, 16 KB out: L1 */
    ag_rng r;
    ag_rng_seed(&r, 5);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (skip(ops[i].name))
            continue;
        math_ctx c = { ag_tape_new(), ag_zeros(1, &n, false), ops[i].op };
        fill(c.x, &r, -2.0f, 2.0f);
        math_iter(&c);
        check(c.t, "ew_math");
        measurement m = measure(math_iter, &c, quick ? 0.2 : 0.4);
        report(ops[i].name, m.seconds / (double)n * 1e9, "ns/elem", m.allocs_per_iter, NULL);
        ag_tape_free(c.t);
        ag_tensor_free(c.x);
    }
}

/* ---- fashion_mnist_epoch: one epoch of examples/mnist/fashion_mnist.c ---- */

#define FM_PIXELS 784
#define FM_BATCH 128

static unsigned char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ag_bench: cannot open %s (bench/run.py unpacks the data)\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*len);
    if (!d || fread(d, 1, *len, f) != *len) {
        fprintf(stderr, "ag_bench: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return d;
}

static void bench_fashion(const char *dir)
{
    size_t li, ll;
    unsigned char *img = read_file(dir, "train-images-idx3-ubyte", &li);
    unsigned char *lab = read_file(dir, "train-labels-idx1-ubyte", &ll);
    const int64_t n = (int64_t)(ll - 8);
    if ((int64_t)(li - 16) != n * FM_PIXELS) {
        fprintf(stderr, "ag_bench: unexpected IDX sizes\n");
        exit(2);
    }
    /* scaled to [0, 1] and standardised with the training set's mean and std,
     * as the example does */
    float *xs = malloc((size_t)n * FM_PIXELS * sizeof *xs);
    int64_t *ys = malloc((size_t)n * sizeof *ys);
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n * FM_PIXELS; i++) {
        xs[i] = img[16 + i] / 255.0f;
        sum += xs[i];
        sq += (double)xs[i] * xs[i];
    }
    const double cnt = (double)n * FM_PIXELS, mean = sum / cnt;
    const double sd = sqrt((sq - cnt * mean * mean) / (cnt - 1));
    for (int64_t i = 0; i < n * FM_PIXELS; i++)
        xs[i] = (float)((xs[i] - mean) / sd);
    for (int64_t i = 0; i < n; i++)
        ys[i] = lab[8 + i];
    free(img);
    free(lab);

    ag_rng rng;
    ag_rng_seed(&rng, 1);
    ag_linear *l1 = ag_linear_new(FM_PIXELS, 256, true, &rng);
    ag_linear *l2 = ag_linear_new(256, 10, true, &rng);
    ag_tensor *params[4];
    int np = ag_linear_params(l1, params);
    np += ag_linear_params(l2, params + np);
    ag_adam_opts ao = ag_adam_defaults();
    ag_optim *opt = ag_adam_new(np, params, &ao);
    const int64_t xshape[2] = { FM_BATCH, FM_PIXELS };
    ag_tensor *xb = ag_tensor_new(2, xshape, NULL, false);
    int64_t *order = malloc((size_t)n * sizeof *order);
    int64_t yb[FM_BATCH];
    ag_tape *t = ag_tape_new();
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    const int64_t steps = n / FM_BATCH;

    /* warm-up: 5 steps, not timed (the first step sizes the tape's arena) */
    long long a0 = 0;
    double t0 = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        const int64_t nsteps = pass == 0 ? 5 : steps;
        if (pass == 1) {
            t0 = now();
            a0 = n_alloc;
        }
        for (int64_t i = n - 1; i > 0; i--) {      /* Fisher-Yates shuffle */
            const int64_t j = (int64_t)(ag_rng_next(&rng) % (uint64_t)(i + 1));
            const int64_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        double loss_sum = 0.0;
        int64_t correct = 0;
        for (int64_t s = 0; s < nsteps; s++) {
            for (int r = 0; r < FM_BATCH; r++) {
                const int64_t k = order[s * FM_BATCH + r];
                memcpy(ag_data(xb) + r * FM_PIXELS, xs + k * FM_PIXELS, FM_PIXELS * sizeof(float));
                yb[r] = ys[k];
            }
            ag_optim_set_lr(opt, (float)(ao.lr * 0.5 *
                                         (1.0 + cos(3.14159265358979323846 * (double)s / (double)steps))));
            ag_tape_reset(t);
            ag_tensor *logits =
                ag_linear_forward(t, l2, ag_relu(t, ag_linear_forward(t, l1, xb)));
            ag_tensor *loss = ag_cross_entropy(t, logits, yb, NULL);
            ag_optim_zero_grad(opt);
            ag_backward(t, loss);
            ag_optim_step(opt);
            loss_sum += ag_item(loss);
            const float *z = ag_data(logits);
            for (int r = 0; r < FM_BATCH; r++) {
                int best = 0;
                for (int k = 1; k < 10; k++)
                    if (z[r * 10 + k] > z[r * 10 + best])
                        best = k;
                correct += best == yb[r];
            }
        }
        check(t, "fashion_mnist_epoch");
        if (pass == 1) {
            const double secs = now() - t0;
            char extra[128];
            snprintf(extra, sizeof extra, "loss=%.4f train_acc=%.4f", loss_sum / (double)steps,
                     (double)correct / (double)(steps * FM_BATCH));
            report("fashion_mnist_epoch", secs, "s", (double)(n_alloc - a0) / (double)steps,
                   extra);
        }
    }
    ag_tape_free(t);
    ag_optim_free(opt);
    ag_linear_free(l1);
    ag_linear_free(l2);
    ag_tensor_free(xb);
    free(order);
    free(xs);
    free(ys);
}

int main(int argc, char **argv)
{
    const char *cs = NULL, *data = "build/fashion-mnist";
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            cs = argv[i];
    }
    if (!cs) {
        fprintf(stderr, "usage: %s CASE [--quick] [--data DIR] [--threads T]\n", argv[0]);
        return 2;
    }
    if (ag_set_num_threads(threads) != AG_OK) {
        fprintf(stderr, "ag_bench: %s\n", ag_last_error());
        return 2;
    }
    ag_set_allocator(counting_alloc, NULL);
    if (!strcmp(cs, "scalar_chain"))
        bench_scalar_chain();
    else if (!strcmp(cs, "seed_step"))
        bench_seed_step();
    else if (!strcmp(cs, "mlp_small")) {
        const int64_t sizes[3] = { 784, 256, 10 };
        bench_mlp("mlp_small", 2, sizes, 128, false);
    } else if (!strcmp(cs, "mlp_large")) {
        const int64_t sizes[4] = { 784, 1024, 1024, 10 };
        bench_mlp("mlp_large", 3, sizes, 256, true);
    } else if (!strcmp(cs, "matmul"))
        bench_matmul();
    else if (!strcmp(cs, "elementwise"))
        bench_elementwise();
    else if (!strcmp(cs, "ew_math"))
        bench_ew_math();
    else if (!strcmp(cs, "fashion_mnist_epoch"))
        bench_fashion(data);
    else {
        fprintf(stderr, "ag_bench: unknown case %s\n", cs);
        return 2;
    }
    return 0;
}
