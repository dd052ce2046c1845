/* nn/optim.c - optimizers: SGD (momentum, dampening, weight decay, Nesterov,
 * maximize), Adam and AdamW (amsgrad), with torch.optim 1.13's update rules.
 *
 * State lives in one block allocated at creation (momentum buffers, moment
 * estimates), so a step never allocates. Scalars such as Adam's bias
 * corrections are computed in double as PyTorch computes them in Python;
 * elementwise updates are float32, in PyTorch's order of operations. */
#include "internal.h"

#include <math.h>
#include <string.h>

enum { SGD, ADAM, ADAMW };

struct ag_optim {
    agi_alloc alloc;
    int kind;
    int n;
    ag_tensor **params;        /* n caller-owned leaves */
    float **buf;               /* per param: SGD momentum buffer, or Adam exp_avg */
    float **buf2;              /* Adam: exp_avg_sq */
    float **buf3;              /* Adam with amsgrad: max_exp_avg_sq */
    int64_t *step;             /* per param: steps taken (PyTorch's state['step']) */
    ag_sgd_opts sgd;
    ag_adam_opts adam;
    size_t bytes;              /* of the whole block */
};

ag_sgd_opts ag_sgd_defaults(float lr)
{
    return (ag_sgd_opts){ .lr = lr };
}

ag_adam_opts ag_adam_defaults(void)
{
    return (ag_adam_opts){ .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
}

ag_adam_opts ag_adamw_defaults(void)
{
    ag_adam_opts o = ag_adam_defaults();
    o.weight_decay = 1e-2f;
    return o;
}

/* One block: the struct, the pointer arrays, the step counters, then the
 * nbuf float buffers of every parameter, each 64-byte aligned. */
static ag_optim *optim_new(const char *fn, int kind, int n, ag_tensor *const *params, int nbuf)
{
    if (n < 0 || (n > 0 && !params))
        return agi_fail_last("%s: %s", fn, n < 0 ? "negative parameter count"
                                                 : "the list of parameters is NULL");
    size_t head = sizeof(ag_optim) + (size_t)n * (sizeof(ag_tensor *) + 3 * sizeof(float *) +
                                                  sizeof(int64_t));
    head = (head + 63) & ~(size_t)63;
    size_t total = head;
    for (int k = 0; k < n; k++) {
        const ag_tensor *p = params[k];
        if (!p)
            return agi_fail_last("%s: parameter %d is NULL", fn, k);
        if (!(p->flags & AGI_LEAF) || p->tape)
            return agi_fail_last("%s: parameter %d is not a leaf made by the caller", fn, k);
        if (!(p->flags & AGI_REQ_GRAD))
            return agi_fail_last("%s: parameter %d does not require grad", fn, k);
        for (int j = 0; j < k; j++)
            if (params[j] == p)
                return agi_fail_last("%s: parameter %d appears twice", fn, k);
        size_t b = (((size_t)p->numel * sizeof(float)) + 63) & ~(size_t)63;
        if (!agi_mul_size(b, (size_t)nbuf, &b) || total + b < total)
            return agi_fail_last("%s: parameters too large", fn);
        total += b;
    }
    agi_alloc a = agi_current_alloc();
    unsigned char *raw = agi_malloc(a, total);
    if (!raw)
        return agi_fail_last("%s: out of memory", fn);
    memset(raw, 0, total);
    ag_optim *o = (ag_optim *)raw;
    o->alloc = a;
    o->kind = kind;
    o->n = n;
    o->bytes = total;
    unsigned char *q = raw + sizeof *o;
    o->params = (ag_tensor **)q;
    q += (size_t)n * sizeof(ag_tensor *);
    o->buf = (float **)q;
    q += (size_t)n * sizeof(float *);
    o->buf2 = (float **)q;
    q += (size_t)n * sizeof(float *);
    o->buf3 = (float **)q;
    q += (size_t)n * sizeof(float *);
    o->step = (int64_t *)q;
    q = raw + head;
    for (int k = 0; k < n; k++) {
        o->params[k] = params[k];
        size_t b = (((size_t)params[k]->numel * sizeof(float)) + 63) & ~(size_t)63;
        float **slots[3] = { o->buf, o->buf2, o->buf3 };
        for (int i = 0; i < nbuf; i++, q += b)
            slots[i][k] = (float *)q;
    }
    return o;
}

ag_optim *ag_sgd_new(int n, ag_tensor *const *params, const ag_sgd_opts *opts)
{
    const char *fn = "ag_sgd_new";
    if (!opts)
        return agi_fail_last("%s: options are NULL", fn);
    const ag_sgd_opts s = *opts;
    if (!(s.lr >= 0.0f))
        return agi_fail_last("%s: invalid learning rate %g", fn, (double)s.lr);
    if (!(s.momentum >= 0.0f))
        return agi_fail_last("%s: invalid momentum %g", fn, (double)s.momentum);
    if (!(s.weight_decay >= 0.0f))
        return agi_fail_last("%s: invalid weight_decay %g", fn, (double)s.weight_decay);
    if (s.nesterov && (s.momentum <= 0.0f || s.dampening != 0.0f))
        return agi_fail_last("%s: Nesterov momentum requires a momentum and zero dampening", fn);
    ag_optim *o = optim_new(fn, SGD, n, params, s.momentum != 0.0f ? 1 : 0);
    if (o)
        o->sgd = s;
    return o;
}

static ag_optim *adam_new(const char *fn, int kind, int n, ag_tensor *const *params,
                          const ag_adam_opts *opts)
{
    if (!opts)
        return agi_fail_last("%s: options are NULL", fn);
    const ag_adam_opts s = *opts;
    if (!(s.lr >= 0.0f))
        return agi_fail_last("%s: invalid learning rate %g", fn, (double)s.lr);
    if (!(s.eps >= 0.0f))
        return agi_fail_last("%s: invalid epsilon value %g", fn, (double)s.eps);
    if (!(s.beta1 >= 0.0f && s.beta1 < 1.0f) || !(s.beta2 >= 0.0f && s.beta2 < 1.0f))
        return agi_fail_last("%s: invalid beta parameters (%g, %g)", fn, (double)s.beta1,
                             (double)s.beta2);
    if (!(s.weight_decay >= 0.0f))
        return agi_fail_last("%s: invalid weight_decay value %g", fn, (double)s.weight_decay);
    ag_optim *o = optim_new(fn, kind, n, params, s.amsgrad ? 3 : 2);
    if (o)
        o->adam = s;
    return o;
}

ag_optim *ag_adam_new(int n, ag_tensor *const *params, const ag_adam_opts *opts)
{
    return adam_new("ag_adam_new", ADAM, n, params, opts);
}

ag_optim *ag_adamw_new(int n, ag_tensor *const *params, const ag_adam_opts *opts)
{
    return adam_new("ag_adamw_new", ADAMW, n, params, opts);
}

void ag_optim_free(ag_optim *o)
{
    if (o)
        agi_free(o->alloc, o, o->bytes);
}

/* ---- one pass over every parameter ----
 * A step (or zero_grad) is elementwise, so the gradients of all parameters
 * are walked as one range [0, total): their concatenation in order, split
 * over the worker pool by agi_parallel_range (one wake-up per step, however
 * many parameters). Each element is updated by one task in PyTorch's order
 * of operations, so results are the same for any thread count. fn(o, k, lo,
 * hi) handles elements [lo, hi) of parameter k. */
typedef void (*param_fn)(ag_optim *o, int k, int64_t lo, int64_t hi);

typedef struct pass {
    ag_optim *o;
    param_fn fn;
} pass;

static void pass_range(void *ctx, int64_t lo, int64_t hi)
{
    const pass *ps = ctx;
    int64_t base = 0;                     /* of parameter k in the concatenation */
    for (int k = 0; k < ps->o->n && base < hi; k++) {
        const ag_tensor *p = ps->o->params[k];
        if (!p->grad)
            continue;
        const int64_t n = p->grad->numel;
        const int64_t a = lo > base ? lo - base : 0, b = hi - base < n ? hi - base : n;
        if (a < b)
            ps->fn(ps->o, k, a, b);
        base += n;
    }
}

static void for_all_params(ag_optim *o, param_fn fn)
{
    int64_t total = 0;
    for (int k = 0; k < o->n; k++)
        if (o->params[k]->grad)
            total += o->params[k]->grad->numel;
    pass ps = { o, fn };
    agi_parallel_range(total, pass_range, &ps);
}

static void zero_range(ag_optim *o, int k, int64_t lo, int64_t hi)
{
    memset(o->params[k]->grad->data + lo, 0, (size_t)(hi - lo) * sizeof(float));
}

/* ag_zero_grad on every parameter */
void ag_optim_zero_grad(ag_optim *o)
{
    if (o)
        for_all_params(o, zero_range);
}

void ag_optim_reset(ag_optim *o)
{
    if (!o)
        return;
    for (int k = 0; k < o->n; k++) {
        const size_t b = (size_t)o->params[k]->numel * sizeof(float);
        float *bufs[3] = { o->buf[k], o->buf2[k], o->buf3[k] };
        for (int i = 0; i < 3; i++)
            if (bufs[i])
                memset(bufs[i], 0, b);
        o->step[k] = 0;
    }
}

float ag_optim_lr(const ag_optim *o)
{
    return !o ? NAN : o->kind == SGD ? o->sgd.lr : o->adam.lr;
}

ag_status ag_optim_set_lr(ag_optim *o, float lr)
{
    if (!o || !(lr >= 0.0f)) {
        agi_fail_last("ag_optim_set_lr: %s", !o ? "optimizer is NULL" : "invalid learning rate");
        return AG_ERR_ARG;
    }
    if (o->kind == SGD)
        o->sgd.lr = lr;
    else
        o->adam.lr = lr;
    return AG_OK;
}

/* SGD for elements [lo, hi) of parameter k (torch.optim.sgd._single_tensor_sgd),
 * o->step[k] steps taken before this one:
 *   d = maximize ? -g : g;   d = d + wd * p
 *   momentum: buf = first step ? d : momentum * buf + (1 - dampening) * d
 *             d = nesterov ? d + momentum * buf : buf
 *   p = p - lr * d */
static void sgd_range(ag_optim *o, int k, int64_t lo, int64_t hi)
{
    const ag_sgd_opts s = o->sgd;
    ag_tensor *p = o->params[k];
    const float *restrict g = p->grad->data;
    float *restrict x = p->data, *restrict buf = o->buf[k];
    const bool first = o->step[k] == 0;
    if (s.momentum == 0.0f && s.weight_decay == 0.0f) {     /* plain SGD: one vector loop */
        const float lr = s.maximize ? s.lr : -s.lr;
        for (int64_t i = lo; i < hi; i++)
            x[i] = x[i] + lr * g[i];
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        float d = s.maximize ? -g[i] : g[i];
        if (s.weight_decay != 0.0f)
            d = d + s.weight_decay * x[i];
        if (s.momentum != 0.0f) {
            buf[i] = first ? d : s.momentum * buf[i] + (1.0f - s.dampening) * d;
            d = s.nesterov ? d + s.momentum * buf[i] : buf[i];
        }
        x[i] = x[i] + -s.lr * d;
    }
}

/* Adam / AdamW for elements [lo, hi) of parameter k, step t = o->step[k] + 1
 * (torch.optim.adam._single_tensor_adam):
 *   g = maximize ? -g : g
 *   AdamW: p = p * (1 - lr * wd);  Adam: g = g + wd * p
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
 *   vmax = max(vmax, v) (amsgrad, used in place of v below)
 *   denom = sqrt(v) / sqrt(1 - beta2 ** t) + eps
 *   p = p - lr / (1 - beta1 ** t) * m / denom */
static void adam_range(ag_optim *o, int k, int64_t lo, int64_t hi)
{
    const ag_adam_opts s = o->adam;
    ag_tensor *p = o->params[k];
    const float *g = p->grad->data;
    float *x = p->data, *m = o->buf[k], *v = o->buf2[k], *vmax = o->buf3[k];
    const double t = (double)(o->step[k] + 1);
    const double bc1 = 1.0 - pow((double)s.beta1, t);
    const double bc2 = 1.0 - pow((double)s.beta2, t);
    const float step_size = (float)((double)s.lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)s.lr * (double)s.weight_decay);
    for (int64_t i = lo; i < hi; i++) {
        float gi = s.maximize ? -g[i] : g[i];
        if (o->kind == ADAMW)
            x[i] = x[i] * decay;
        else if (s.weight_decay != 0.0f)
            gi = gi + s.weight_decay * x[i];
        m[i] = m[i] * s.beta1 + (1.0f - s.beta1) * gi;
        v[i] = v[i] * s.beta2 + (1.0f - s.beta2) * gi * gi;
        float vi = v[i];
        if (s.amsgrad) {
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            vi = vmax[i];
        }
        const float denom = sqrtf(vi) / bc2_sqrt + s.eps;
        x[i] = x[i] + -step_size * (m[i] / denom);
    }
}

ag_status ag_optim_step(ag_optim *o)
{
    if (!o) {
        agi_fail_last("ag_optim_step: optimizer is NULL");
        return AG_ERR_ARG;
    }
    /* parameters without a gradient yet are skipped, as PyTorch does */
    for_all_params(o, o->kind == SGD ? sgd_range : adam_range);
    for (int k = 0; k < o->n; k++)
        if (o->params[k]->grad)
            o->step[k]++;
    return AG_OK;
}
