/* core/tensor.c - tensor objects: shapes, leaf creation and freeing, accessors. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *agi_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = 0;
    int w = snprintf(buf, n, "(");
    if (w > 0)
        len = (size_t)w;
    for (int i = 0; i < ndim && len < n; i++) {
        w = snprintf(buf + len, n - len, i ? ",%lld" : "%lld", (long long)shape[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len < n)
        snprintf(buf + len, n - len, ")");
    return buf;
}

bool agi_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    /* The limit keeps numel * sizeof(float) (plus headers) in size_t and int64. */
    const int64_t limit = (int64_t)((SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) / 8);
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        empty |= shape[i] == 0;
    }
    if (empty) {               /* whatever the other sizes (agi_shape_fits checks them) */
        *numel = 0;
        return true;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (n > limit / shape[i])
            return false;
        n *= shape[i];
    }
    *numel = n;
    return true;
}

bool agi_wrap_dim(ag_tape *t, const char *fn, const ag_tensor *x, int64_t dim, int *out)
{
    const int n = x->ndim > 0 ? x->ndim : 1;
    if (dim < -n || dim >= n) {
        char sb[160];
        agi_fail(t, AG_ERR_ARG,
                 "%s: dimension %lld is out of range for input of shape %s "
                 "(expected to be in range of [%d, %d])",
                 fn, (long long)dim, agi_shape_str(sb, sizeof sb, x->ndim, x->shape), -n, n - 1);
        return false;
    }
    *out = (int)(dim < 0 ? dim + n : dim);
    return true;
}

bool agi_shape_fits(int ndim, const int64_t *shape)
{
    const int64_t limit = (int64_t)((SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) / 8);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            continue;
        if (shape[i] < 0 || n > limit / shape[i])
            return false;
        n *= shape[i];
    }
    return true;
}

/* Leaves are one allocation: the struct, then 64-byte aligned data. */
static size_t leaf_offset(void)
{
    return (sizeof(ag_tensor) + 63) & ~(size_t)63;
}

/* A heap tensor of dtype from allocator a; NULL if allocation fails. shape is
 * valid. The data starts at the first 64-byte boundary after the struct (the
 * allocator's block is only as aligned as malloc's, 16 bytes): the 64 spare
 * bytes leave room for it. */
static ag_tensor *heap_tensor(agi_alloc a, int ndim, const int64_t *shape, int64_t numel,
                              int dtype)
{
    size_t bytes = leaf_offset() + 64 + (size_t)numel * agi_dtypes[dtype].size;
    unsigned char *raw = agi_malloc(a, bytes);
    if (!raw)
        return NULL;
    ag_tensor *x = (ag_tensor *)raw;
    memset(x, 0, sizeof *x);
    uintptr_t d = (uintptr_t)(raw + leaf_offset());
    x->data = (float *)(void *)(raw + leaf_offset() + (size_t)((64 - d % 64) % 64));
    x->dtype = dtype;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        x->shape[i] = shape[i];
    x->numel = numel;
    x->flags = AGI_LEAF | AGI_OWN_DATA;
    x->alloc = a;
    x->op = -1;
    x->in = x->in_buf;
    return x;
}

ag_tensor *agi_leaf_new(const char *fn, int ndim, const int64_t *shape, int dtype)
{
    char sb[160];
    if (ndim < 0 || ndim > AG_MAX_DIMS)
        return agi_fail_last("%s: ndim %d is out of range 0..%d", fn, ndim, AG_MAX_DIMS);
    if (ndim > 0 && !shape)
        return agi_fail_last("%s: shape is NULL for ndim %d", fn, ndim);
    int64_t numel;
    if (!agi_numel(ndim, shape, &numel))
        return agi_fail_last("%s: shape %s has a negative size or is too large", fn,
                             agi_shape_str(sb, sizeof sb, ndim, shape));
    ag_tensor *x = heap_tensor(agi_current_alloc(), ndim, shape, numel, dtype);
    if (!x)
        return agi_fail_last("%s: out of memory for shape %s", fn,
                             agi_shape_str(sb, sizeof sb, ndim, shape));
    return x;
}

static size_t leaf_bytes(const ag_tensor *x)
{
    return leaf_offset() + 64 + (size_t)x->numel * agi_dtypes[x->dtype].size;
}

static ag_tensor *leaf_filled(const char *fn, int ndim, const int64_t *shape, float v, bool rg)
{
    ag_tensor *x = agi_leaf_new(fn, ndim, shape, AG_FLOAT32);
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = v;
    if (rg)
        x->flags |= AGI_REQ_GRAD;
    return x;
}

ag_tensor *ag_tensor_new(int ndim, const int64_t *shape, const float *data, bool requires_grad)
{
    ag_tensor *x = agi_leaf_new("ag_tensor_new", ndim, shape, AG_FLOAT32);
    if (!x)
        return NULL;
    if (data)
        memcpy(x->data, data, (size_t)x->numel * sizeof(float));
    else
        memset(x->data, 0, (size_t)x->numel * sizeof(float));
    if (requires_grad)
        x->flags |= AGI_REQ_GRAD;
    return x;
}

ag_tensor *ag_zeros(int ndim, const int64_t *shape, bool requires_grad)
{
    return leaf_filled("ag_zeros", ndim, shape, 0.0f, requires_grad);
}

ag_tensor *ag_ones(int ndim, const int64_t *shape, bool requires_grad)
{
    return leaf_filled("ag_ones", ndim, shape, 1.0f, requires_grad);
}

ag_tensor *ag_full(int ndim, const int64_t *shape, float value, bool requires_grad)
{
    return leaf_filled("ag_full", ndim, shape, value, requires_grad);
}

ag_tensor *ag_scalar(float v, bool requires_grad)
{
    return leaf_filled("ag_scalar", 0, NULL, v, requires_grad);
}

void ag_tensor_free(ag_tensor *x)
{
    if (!x || !(x->flags & AGI_OWN_DATA) || (x->flags & AGI_IS_GRAD))
        return;                 /* NULL, owned by a tape, or owned by its leaf */
    /* a grad may have a grad of its own (ag_set_requires_grad on x.grad):
     * the whole chain belongs to x */
    for (ag_tensor *g = x->grad, *next; g; g = next) {
        next = g->grad;
        agi_free(g->alloc, g, leaf_bytes(g));
    }
    agi_free(x->alloc, x, leaf_bytes(x));
}

bool agi_leaf_grad(ag_tensor *x)
{
    if (x->grad)
        return true;
    ag_tensor *g;
    if (x->tape) {              /* a tape-owned leaf (ag_detach): grad on the tape */
        g = agi_tape_tensor(x->tape, "ag_backward", x->ndim, x->shape);
        if (g)
            g->flags = AGI_LEAF;
    } else {
        g = heap_tensor(x->alloc, x->ndim, x->shape, x->numel, AG_FLOAT32);
    }
    if (!g)
        return false;
    g->flags |= AGI_IS_GRAD;
    memset(g->data, 0, (size_t)g->numel * sizeof(float));
    x->grad = g;
    return true;
}

/* Undoes agi_leaf_grad for a grad that a failed backward created. */
void agi_leaf_grad_drop(ag_tensor *x)
{
    if (x->grad && !x->tape)
        agi_free(x->grad->alloc, x->grad, leaf_bytes(x->grad));
    x->grad = NULL;
}

ag_tensor *agi_tape_alloc(ag_tape *t, const char *fn, int ndim, const int64_t *shape,
                          bool with_data)
{
    return agi_tape_alloc_dt(t, fn, ndim, shape, with_data, AG_FLOAT32);
}

ag_tensor *agi_tape_alloc_dt(ag_tape *t, const char *fn, int ndim, const int64_t *shape,
                             bool with_data, int dtype)
{
    char sb[160];
    int64_t numel;
    if (!agi_numel(ndim, shape, &numel) || (numel == 0 && !agi_shape_fits(ndim, shape)))
        return agi_fail(t, AG_ERR_NOMEM, "%s: shape %s is too large", fn,
                        agi_shape_str(sb, sizeof sb, ndim, shape));
    size_t head = leaf_offset();
    size_t body = with_data ? (size_t)numel * agi_dtypes[dtype].size : 0;
    unsigned char *raw = agi_arena_alloc(&t->arena, head + body);
    if (!raw)
        return agi_fail(t, AG_ERR_NOMEM, "%s: out of memory for shape %s", fn,
                        agi_shape_str(sb, sizeof sb, ndim, shape));
    ag_tensor *x = (ag_tensor *)raw;
    memset(x, 0, sizeof *x);
    x->data = with_data ? (float *)(void *)(raw + head) : NULL;
    x->dtype = dtype;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        x->shape[i] = shape[i];
    x->numel = numel;
    x->tape = t;
    x->op = -1;
    x->in = x->in_buf;
    return x;
}

ag_tensor *agi_tape_tensor(ag_tape *t, const char *fn, int ndim, const int64_t *shape)
{
    return agi_tape_alloc(t, fn, ndim, shape, true);
}

/* ---- accessors ---- */

float *ag_data(ag_tensor *x)
{
    if (x && x->dtype != AG_FLOAT32)
        return agi_fail_last("ag_data: the tensor is %s, not float32 (use ag_data_%s)",
                             agi_dtype_str(x->dtype), x->dtype == AG_INT64 ? "i64" : "bool");
    return x ? x->data : NULL;
}
const int64_t *ag_shape(const ag_tensor *x) { return x ? x->shape : NULL; }
int ag_ndim(const ag_tensor *x) { return x ? x->ndim : -1; }
int64_t ag_numel(const ag_tensor *x) { return x ? x->numel : -1; }
ag_tensor *ag_grad(const ag_tensor *x) { return x ? x->grad : NULL; }
bool ag_requires_grad(const ag_tensor *x) { return x && (x->flags & AGI_REQ_GRAD); }
/* PyTorch's rule: every tensor that does not require grad is a leaf, as is
 * every tensor made by the caller or by ag_detach. */
bool ag_is_leaf(const ag_tensor *x)
{
    return x && ((x->flags & AGI_LEAF) || !(x->flags & AGI_REQ_GRAD));
}

float ag_item(const ag_tensor *x)
{
    if (!x || x->numel != 1)
        return NAN;
    if (x->dtype == AG_INT64)
        return (float)agi_i64(x)[0];
    if (x->dtype == AG_BOOL)
        return agi_b8(x)[0] ? 1.0f : 0.0f;
    return x->data[0];
}

ag_status ag_set_requires_grad(ag_tensor *x, bool requires_grad)
{
    if (!x) {
        agi_fail_last("ag_set_requires_grad: tensor is NULL");
        return AG_ERR_ARG;
    }
    if (!(x->flags & AGI_LEAF)) {
        agi_fail_last("ag_set_requires_grad: only leaves can change requires_grad "
                      "(use ag_detach for a non-leaf)");
        return AG_ERR_ARG;
    }
    if (requires_grad && x->dtype != AG_FLOAT32) {
        agi_fail_last("ag_set_requires_grad: only tensors of floating point dtype can require "
                      "gradients (this one is %s)", agi_dtype_str(x->dtype));
        return AG_ERR_ARG;
    }
    if (requires_grad)
        x->flags |= AGI_REQ_GRAD;
    else
        x->flags &= ~(unsigned)AGI_REQ_GRAD;
    return AG_OK;
}

/* x.grad = g (a copy) or, for g == NULL, x.grad = None. */
ag_status ag_set_grad(ag_tensor *x, const ag_tensor *g)
{
    const char *fn = "ag_set_grad";
    char sa[160], sb[160];
    if (!x) {
        agi_fail_last("%s: tensor is NULL", fn);
        return AG_ERR_ARG;
    }
    if (!(x->flags & AGI_LEAF) || x->tape) {
        agi_fail_last("%s: the tensor is %s; only a leaf made by the caller can have its grad "
                      "set", fn, x->tape && (x->flags & AGI_LEAF) ? "an ag_detach result owned "
                      "by a tape" : "the result of an op");
        return AG_ERR_ARG;
    }
    if (x->dtype != AG_FLOAT32) {
        agi_fail_last("%s: the tensor is %s; only float32 tensors have grads", fn,
                      agi_dtype_str(x->dtype));
        return AG_ERR_ARG;
    }
    if (!g) {                  /* x.grad = None: the grad and any grad of its own */
        for (ag_tensor *q = x->grad, *next; q; q = next) {
            next = q->grad;
            agi_free(q->alloc, q, leaf_bytes(q));
        }
        x->grad = NULL;
        return AG_OK;
    }
    if (g->dtype != AG_FLOAT32) {
        agi_fail_last("%s: assigned grad has data of a different type: %s for a float32 tensor",
                      fn, agi_dtype_str(g->dtype));
        return AG_ERR_ARG;
    }
    bool same = g->ndim == x->ndim;
    for (int i = 0; same && i < x->ndim; i++)
        same = g->shape[i] == x->shape[i];
    if (!same) {
        agi_fail_last("%s: assigned grad has data of a different size: %s for a tensor of "
                      "shape %s", fn, agi_shape_str(sa, sizeof sa, g->ndim, g->shape),
                      agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return AG_ERR_ARG;
    }
    if (x->numel > 0 && !g->data) {
        agi_fail_last("%s: the assigned grad of shape %s has no data", fn,
                      agi_shape_str(sa, sizeof sa, g->ndim, g->shape));
        return AG_ERR_ARG;
    }
    if (!agi_leaf_grad(x)) {   /* zeros of x's allocator, unless x has a grad already */
        agi_fail_last("%s: out of memory for a grad of shape %s", fn,
                      agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return AG_ERR_NOMEM;
    }
    if (x->numel > 0 && x->grad->data != g->data)
        memcpy(x->grad->data, g->data, (size_t)x->numel * sizeof(float));
    return AG_OK;
}

void ag_zero_grad(ag_tensor *x)
{
    if (x && x->grad)
        memset(x->grad->data, 0, (size_t)x->grad->numel * sizeof(float));
}

void ag_retain_grad(ag_tensor *x)
{
    if (x && !(x->flags & AGI_LEAF))
        x->flags |= AGI_RETAIN;
}
