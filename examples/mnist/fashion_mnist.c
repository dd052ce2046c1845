/* fashion_mnist.c - trains a 784-256-10 ReLU MLP on Fashion-MNIST with
 * cross-entropy and Adam (cosine-decayed learning rate), printing loss,
 * accuracy and time per epoch. The real-data workload of libautograd.
 *
 *   usage: fashion_mnist DATA_DIR [EPOCHS] [SEED]
 *
 * DATA_DIR holds the four uncompressed IDX files (train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte).
 * scripts/fashion_mnist.sh installs Debian's dataset-fashion-mnist package
 * (gzipped files in /usr/share/datasets/fashion-mnist), unpacks them and runs
 * this program. The model, in PyTorch terms:
 *
 *   model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
 *   opt = torch.optim.Adam(model.parameters(), lr=1e-3)   # lr * (1 + cos(pi t / T)) / 2
 *   for each batch of 128: loss = F.cross_entropy(model(x), y); zero_grad; backward; step
 *
 * Pixels are scaled to [0, 1] and standardised with the training set's mean
 * and standard deviation. Exits 0 if the final test accuracy is at least
 * 88%, 1 if not, 2 if the data cannot be read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "autograd.h"

#define BATCH 128
#define HIDDEN 256
#define PIXELS 784
#define CLASSES 10

typedef struct dataset {
    int64_t n;
    float *x;                  /* (n, 784), standardised */
    int64_t *y;                /* (n) */
} dataset;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX file whose magic is `magic`; returns its bytes after the header
 * and sets *count to its first dimension. NULL (with a message) on failure. */
static unsigned char *read_idx(const char *dir, const char *name, uint32_t magic, int64_t *count,
                               size_t item)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: run scripts/fashion_mnist.sh, which installs Debian's "
                        "dataset-fashion-mnist package and unpacks it\n", path);
        return NULL;
    }
    unsigned char head[16];
    const size_t hlen = magic == 0x803 ? 16 : 8;
    unsigned char *data = NULL;
    if (fread(head, 1, hlen, f) == hlen && be32(head) == magic) {
        *count = be32(head + 4);
        if (magic == 0x803 && (be32(head + 8) != 28 || be32(head + 12) != 28))
            *count = -1;
        if (*count > 0 && (data = malloc((size_t)*count * item)) != NULL &&
            fread(data, item, (size_t)*count, f) != (size_t)*count) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data)
        fprintf(stderr, "%s: not an IDX file of the expected kind, or truncated\n", path);
    return data;
}

static int load(const char *dir, const char *images, const char *labels, dataset *d)
{
    int64_t ni = 0, nl = 0;
    unsigned char *px = read_idx(dir, images, 0x803, &ni, PIXELS);
    unsigned char *lb = px ? read_idx(dir, labels, 0x801, &nl, 1) : NULL;
    if (!px || !lb || ni != nl) {
        if (px && lb)
            fprintf(stderr, "%s and %s disagree on the number of items\n", images, labels);
        free(px);
        free(lb);
        return -1;
    }
    d->n = ni;
    d->x = malloc((size_t)ni * PIXELS * sizeof(float));
    d->y = malloc((size_t)ni * sizeof(int64_t));
    if (!d->x || !d->y) {
        fprintf(stderr, "out of memory\n");
        free(px);
        free(lb);
        return -1;
    }
    for (int64_t i = 0; i < ni * PIXELS; i++)
        d->x[i] = px[i] / 255.0f;
    for (int64_t i = 0; i < ni; i++)
        d->y[i] = lb[i] < CLASSES ? lb[i] : 0;
    free(px);
    free(lb);
    return 0;
}

static void standardise(dataset *d, double mean, double std)
{
    for (int64_t i = 0; i < d->n * PIXELS; i++)
        d->x[i] = (float)((d->x[i] - mean) / std);
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct model {
    ag_linear *l1, *l2;
} model;

static ag_tensor *forward(ag_tape *t, model *m, ag_tensor *x)
{
    return ag_linear_forward(t, m->l2, ag_relu(t, ag_linear_forward(t, m->l1, x)));
}

/* Test accuracy, in batches, without recording gradients. */
static double accuracy(ag_tape *t, model *m, const dataset *d)
{
    int64_t correct = 0;
    bool old = ag_tape_set_grad_enabled(t, false);
    for (int64_t i = 0; i < d->n; i += BATCH) {
        const int64_t b = d->n - i < BATCH ? d->n - i : BATCH;
        const int64_t shape[2] = { b, PIXELS };
        ag_tensor *x = ag_tensor_new(2, shape, d->x + i * PIXELS, false);
        ag_tape_reset(t);
        ag_tensor *logits = forward(t, m, x);
        if (logits) {
            const float *z = ag_data(logits);
            for (int64_t r = 0; r < b; r++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (z[r * CLASSES + c] > z[r * CLASSES + best])
                        best = c;
                correct += best == d->y[i + r];
            }
        }
        ag_tensor_free(x);
    }
    ag_tape_set_grad_enabled(t, old);
    return (double)correct / (double)d->n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [EPOCHS] [SEED]\n", argv[0]);
        return 2;
    }
    const int epochs = argc > 2 ? atoi(argv[2]) : 10;
    const uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    dataset train = { 0 }, test = { 0 };
    if (load(argv[1], "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &train) ||
        load(argv[1], "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &test))
        return 2;
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < train.n * PIXELS; i++) {
        sum += train.x[i];
        sq += (double)train.x[i] * train.x[i];
    }
    const double cnt = (double)train.n * PIXELS, mean = sum / cnt;
    const double std = sqrt((sq - cnt * mean * mean) / (cnt - 1));
    standardise(&train, mean, std);
    standardise(&test, mean, std);
    printf("Fashion-MNIST: %lld training and %lld test images; 784-256-10 ReLU MLP, batch %d, "
           "Adam lr 1e-3 with cosine decay, %d epochs, seed %llu\n",
           (long long)train.n, (long long)test.n, BATCH, epochs, (unsigned long long)seed);

    ag_rng rng;
    ag_rng_seed(&rng, seed);
    model m = { ag_linear_new(PIXELS, HIDDEN, true, &rng), ag_linear_new(HIDDEN, CLASSES, true, &rng) };
    ag_tensor *params[4];
    int np = ag_linear_params(m.l1, params);
    np += ag_linear_params(m.l2, params + np);
    ag_adam_opts ao = ag_adam_defaults();
    ag_optim *opt = ag_adam_new(np, params, &ao);
    const int64_t xshape[2] = { BATCH, PIXELS };
    ag_tensor *xb = ag_tensor_new(2, xshape, NULL, false);
    int64_t *order = malloc((size_t)train.n * sizeof *order);
    int64_t yb[BATCH];
    ag_tape *t = ag_tape_new();
    if (!m.l1 || !m.l2 || !opt || !xb || !order || !t) {
        fprintf(stderr, "setup failed: %s\n", ag_last_error());
        return 2;
    }
    for (int64_t i = 0; i < train.n; i++)
        order[i] = i;

    const int64_t steps_per_epoch = train.n / BATCH;    /* the last partial batch is dropped */
    const int64_t total = steps_per_epoch * epochs;
    int64_t step = 0;
    double acc = 0.0;
    for (int e = 1; e <= epochs; e++) {
        const double t0 = now();
        for (int64_t i = train.n - 1; i > 0; i--) {      /* Fisher-Yates shuffle */
            const int64_t j = (int64_t)(ag_rng_next(&rng) % (uint64_t)(i + 1));
            const int64_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        double loss_sum = 0.0;
        int64_t correct = 0;
        for (int64_t s = 0; s < steps_per_epoch; s++, step++) {
            for (int r = 0; r < BATCH; r++) {
                const int64_t k = order[s * BATCH + r];
                memcpy(ag_data(xb) + r * PIXELS, train.x + k * PIXELS, PIXELS * sizeof(float));
                yb[r] = train.y[k];
            }
            ag_optim_set_lr(opt, (float)(ao.lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)step / (double)total))));
            ag_tape_reset(t);
            ag_tensor *logits = forward(t, &m, xb);
            ag_tensor *loss = ag_cross_entropy(t, logits, yb, NULL);
            ag_optim_zero_grad(opt);
            if (ag_backward(t, loss) != AG_OK) {
                fprintf(stderr, "step %lld: %s\n", (long long)step, ag_tape_error(t));
                return 2;
            }
            ag_optim_step(opt);
            loss_sum += ag_item(loss);
            const float *z = ag_data(logits);
            for (int r = 0; r < BATCH; r++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (z[r * CLASSES + c] > z[r * CLASSES + best])
                        best = c;
                correct += best == yb[r];
            }
        }
        const double train_time = now() - t0;
        acc = accuracy(t, &m, &test);
        printf("epoch %2d  loss %.4f  train accuracy %.2f%%  test accuracy %.2f%%  %.1f s\n", e,
               loss_sum / (double)steps_per_epoch,
               100.0 * (double)correct / (double)(steps_per_epoch * BATCH), 100.0 * acc, train_time);
        fflush(stdout);
    }
    printf("final test accuracy %.2f%% (%s 88%%)\n", 100.0 * acc, acc >= 0.88 ? ">=" : "<");
    ag_tape_free(t);
    ag_optim_free(opt);
    ag_linear_free(m.l1);
    ag_linear_free(m.l2);
    ag_tensor_free(xb);
    free(order);
    free(train.x);
    free(train.y);
    free(test.x);
    free(test.y);
    return acc >= 0.88 ? 0 : 1;
}
