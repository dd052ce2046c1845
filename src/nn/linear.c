/* nn/linear.c - torch.nn.Linear, built on the public ops. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- Linear ---- */

struct ag_linear {
    agi_alloc alloc;
    int64_t in, out;
    ag_tensor *weight;         /* (out, in) */
    ag_tensor *bias;           /* (out) or NULL */
};

ag_linear *ag_linear_new(int64_t in_features, int64_t out_features, bool bias, ag_rng *rng)
{
    const char *fn = "ag_linear_new";
    /* sizes are named, in the call's order, in every message */
    if (in_features < 0 || out_features < 0)
        return agi_fail_last("%s: in_features %lld and out_features %lld must be non-negative",
                             fn, (long long)in_features, (long long)out_features);
    if (!rng)
        return agi_fail_last("%s: generator is NULL", fn);
    const int64_t ws[2] = { out_features, in_features }, bs[1] = { out_features };
    int64_t wn;
    if (!agi_numel(2, ws, &wn))
        return agi_fail_last("%s: in_features %lld and out_features %lld make a weight too large "
                             "for a tensor (its %lld x %lld elements overflow)", fn,
                             (long long)in_features, (long long)out_features,
                             (long long)out_features, (long long)in_features);
    agi_alloc a = agi_current_alloc();
    ag_linear *l = agi_malloc(a, sizeof *l);
    if (!l)
        return agi_fail_last("%s: out of memory", fn);
    memset(l, 0, sizeof *l);
    l->alloc = a;
    l->in = in_features;
    l->out = out_features;
    l->weight = ag_tensor_new(2, ws, NULL, true);
    l->bias = bias ? ag_tensor_new(1, bs, NULL, true) : NULL;
    if (!l->weight || (bias && !l->bias)) {
        ag_linear_free(l);
        return agi_fail_last("%s: out of memory for in_features %lld and out_features %lld", fn,
                             (long long)in_features, (long long)out_features);
    }
    /* PyTorch's reset_parameters: kaiming_uniform_(a = sqrt(5)) gives a bound
     * of 1 / sqrt(in) for the weight, and the bias uses the same bound */
    const float bound = in_features > 0 ? (float)(1.0 / sqrt((double)in_features)) : 0.0f;
    ag_fill_uniform(l->weight, rng, -bound, bound);
    if (l->bias)
        ag_fill_uniform(l->bias, rng, -bound, bound);
    return l;
}

void ag_linear_free(ag_linear *l)
{
    if (!l)
        return;
    ag_tensor_free(l->weight);
    ag_tensor_free(l->bias);
    agi_free(l->alloc, l, sizeof *l);
}

ag_tensor *ag_linear_weight(const ag_linear *l) { return l ? l->weight : NULL; }
ag_tensor *ag_linear_bias(const ag_linear *l) { return l ? l->bias : NULL; }

int ag_linear_params(const ag_linear *l, ag_tensor **out)
{
    if (!l)
        return 0;
    if (out) {
        out[0] = l->weight;
        if (l->bias)
            out[1] = l->bias;
    }
    return l->bias ? 2 : 1;
}

ag_tensor *ag_linear_forward(ag_tape *t, ag_linear *l, ag_tensor *x)
{
    /* every error is named after this function, not the ag_affine op it
     * records (agi_call.api) */
    const char *fn = "ag_linear_forward";
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (!l)
        return agi_fail(t, AG_ERR_ARG, "%s: layer is NULL", fn);
    if (!agi_usable(t, fn, 0, 1, x))
        return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) {
        char sb[160];
        return agi_fail(t, AG_ERR_SHAPE, "%s: input of shape %s does not end in the layer's "
                        "%lld input features", fn, agi_shape_str(sb, sizeof sb, x->ndim,
                        x->shape), (long long)l->in);
    }
    /* x @ W^T + b for x of shape (..., in): ag_affine's op, under this name */
    ag_tensor *in[3] = { x, l->weight, l->bias };
    agi_call c = { .api = fn, .nin = l->bias ? 3 : 2, .in = in };
    return agi_record(t, AGI_OP_AFFINE, &c);
}
