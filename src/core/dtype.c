/* core/dtype.c - dtypes: their traits, typed leaves and accessors, arange and
 * linspace, conversions (x.float(), x.long(), x.bool()) and which float ops
 * promote integer inputs.
 *
 * Shapes: a conversion's result has its input's shape. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(bool) == 1, "bool tensors are stored one byte per element, as PyTorch's");

const agi_dtype_traits agi_dtypes[3] = {
    [AG_FLOAT32] = { "float32", "torch.float32", sizeof(float) },
    [AG_INT64] = { "int64", "torch.int64", sizeof(int64_t) },
    [AG_BOOL] = { "bool", "torch.bool", sizeof(bool) },
};

static bool valid(int d)
{
    return d >= AG_FLOAT32 && d <= AG_BOOL;
}

const char *agi_dtype_str(int d)
{
    return valid(d) ? agi_dtypes[d].name : "unknown";
}

const char *ag_dtype_name(ag_dtype d)
{
    return agi_dtype_str((int)d);
}

ag_dtype ag_dtype_of(const ag_tensor *x)
{
    return x ? (ag_dtype)x->dtype : AG_FLOAT32;
}

/* Whether op computes in float32 on these int64 or bool inputs, as PyTorch
 * promotes them: the scalar-operand arithmetic (its scalar is a float: int64 *
 * 0.5 is float32), true division, the floating-point math functions, and the
 * other binary ops when an operand is float32 (int64 + float32). Ops whose
 * PyTorch result for integer inputs stays integral (neg, abs, relu, int64 +
 * int64, ...) are not here: they refuse integer inputs, naming the dtypes,
 * rather than return another dtype than PyTorch's. Subtraction with a bool
 * operand is refused (PyTorch raises). */
bool agi_promotes(int op, int nin, ag_tensor *const *in)
{
    bool any_float = false, any_bool = false;
    for (int k = 0; k < nin; k++) {
        any_float = any_float || in[k]->dtype == AG_FLOAT32;
        any_bool = any_bool || in[k]->dtype == AG_BOOL;
    }
    switch (op) {
    case AGI_OP_SUB_SCALAR: case AGI_OP_RSUB_SCALAR:
        return !any_bool;
    case AGI_OP_SUB:
        return any_float && !any_bool;
    case AGI_OP_ADD: case AGI_OP_MUL: case AGI_OP_MAXIMUM: case AGI_OP_MINIMUM:
    case AGI_OP_POW_TENSOR:
        return any_float;
    case AGI_OP_ADD_SCALAR: case AGI_OP_MUL_SCALAR: case AGI_OP_DIV_SCALAR: case AGI_OP_DIV:
    case AGI_OP_POW: case AGI_OP_EXP: case AGI_OP_LOG: case AGI_OP_SIN: case AGI_OP_COS:
    case AGI_OP_TAN: case AGI_OP_SQRT: case AGI_OP_TANH: case AGI_OP_SIGMOID:
        return true;
    default:
        return false;
    }
}

bool agi_keeps_dtype(int op)
{
    switch (op) {
    case AGI_OP_RESHAPE: case AGI_OP_VIEW: case AGI_OP_FLATTEN: case AGI_OP_SQUEEZE:
    case AGI_OP_SQUEEZE_ALL: case AGI_OP_UNSQUEEZE:
        return true;
    default:
        return false;
    }
}

/* ---- typed leaves ---- */

ag_tensor *ag_tensor_i64(int ndim, const int64_t *shape, const int64_t *data)
{
    ag_tensor *x = agi_leaf_new("ag_tensor_i64", ndim, shape, AG_INT64);
    if (!x)
        return NULL;
    if (data)
        memcpy(x->data, data, (size_t)x->numel * sizeof(int64_t));
    else
        memset(x->data, 0, (size_t)x->numel * sizeof(int64_t));
    return x;
}

ag_tensor *ag_tensor_bool(int ndim, const int64_t *shape, const bool *data)
{
    ag_tensor *x = agi_leaf_new("ag_tensor_bool", ndim, shape, AG_BOOL);
    if (!x)
        return NULL;
    bool *d = agi_b8(x);
    for (int64_t i = 0; i < x->numel; i++)  /* (any non-zero byte is true) */
        d[i] = data ? data[i] : false;
    return x;
}

/* A leaf of dtype with every element v (converted as PyTorch's fill_ does:
 * to int64 by truncation toward zero, to bool as v != 0). */
static ag_tensor *filled(const char *fn, int ndim, const int64_t *shape, ag_dtype dt, double v)
{
    if (!valid((int)dt))
        return agi_fail_last("%s: unknown dtype %d", fn, (int)dt);
    if (dt == AG_INT64 && !(v > -9223372036854775808.0 && v < 9223372036854775808.0))
        return agi_fail_last("%s: value %g does not fit int64", fn, v);
    ag_tensor *x = agi_leaf_new(fn, ndim, shape, (int)dt);
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        if (dt == AG_FLOAT32)
            x->data[i] = (float)v;
        else if (dt == AG_INT64)
            agi_i64(x)[i] = (int64_t)v;
        else
            agi_b8(x)[i] = v != 0.0;
    }
    return x;
}

ag_tensor *ag_zeros_dtype(int ndim, const int64_t *shape, ag_dtype dt)
{
    return filled("ag_zeros_dtype", ndim, shape, dt, 0.0);
}

ag_tensor *ag_ones_dtype(int ndim, const int64_t *shape, ag_dtype dt)
{
    return filled("ag_ones_dtype", ndim, shape, dt, 1.0);
}

ag_tensor *ag_full_i64(int ndim, const int64_t *shape, int64_t v)
{
    ag_tensor *x = agi_leaf_new("ag_full_i64", ndim, shape, AG_INT64);
    if (!x)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        agi_i64(x)[i] = v;
    return x;
}

ag_tensor *ag_full_bool(int ndim, const int64_t *shape, bool v)
{
    return filled("ag_full_bool", ndim, shape, AG_BOOL, v ? 1.0 : 0.0);
}

ag_tensor *ag_scalar_i64(int64_t v)
{
    return ag_full_i64(0, NULL, v);
}

ag_tensor *ag_scalar_bool(bool v)
{
    return filled("ag_scalar_bool", 0, NULL, AG_BOOL, v ? 1.0 : 0.0);
}

/* torch.arange(start, end, step, dtype): ceil((end - start) / step) values
 * start + i * step, computed in double (PyTorch's accumulate type for float32
 * on the CPU) and then converted; for int64, PyTorch first truncates start,
 * end and step to integers (arange(3, 3.5, 1) is empty), and then every value
 * is exact. arange_size checks the arguments (false with the reason in err,
 * PyTorch's words) and gives the size; arange_fill writes the values. */
static bool arange_size(double *start, double *end, double *step, ag_dtype dt, int64_t *n,
                        char *err, size_t errsize)
{
    if (dt != AG_FLOAT32 && dt != AG_INT64) {
        snprintf(err, errsize, "dtype %s is not float32 or int64", ag_dtype_name(dt));
        return false;
    }
    if (!isfinite(*start) || !isfinite(*end)) {
        snprintf(err, errsize, "unsupported range: %g -> %g", *start, *end);
        return false;
    }
    if (!(*step != 0.0) || !isfinite(*step)) {
        snprintf(err, errsize, "step must be nonzero and finite, got %g", *step);
        return false;
    }
    if (dt == AG_INT64) {      /* PyTorch converts the bounds and the step first */
        if (!(fabs(*start) < 9.0e15 && fabs(*end) < 9.0e15 && fabs(*step) < 9.0e15)) {
            snprintf(err, errsize, "bounds or step beyond 9e15 for int64");
            return false;
        }
        *start = trunc(*start), *end = trunc(*end), *step = trunc(*step);
        if (*step == 0.0) {
            snprintf(err, errsize, "step must be nonzero (it truncates to 0 for int64)");
            return false;
        }
    }
    if ((*step > 0 && *end < *start) || (*step < 0 && *end > *start)) {
        snprintf(err, errsize, "upper bound and larger bound inconsistent with step sign "
                 "(start %g, end %g, step %g)", *start, *end, *step);
        return false;
    }
    const double size = ceil((*end - *start) / *step);
    if (!(size < 9.0e15)) {
        snprintf(err, errsize, "%g elements (start %g, end %g, step %g) are too many", size,
                 *start, *end, *step);
        return false;
    }
    *n = (int64_t)size;
    return true;
}

static void arange_fill(ag_tensor *x, double start, double step)
{
    for (int64_t i = 0; i < x->numel; i++) {
        const double v = start + (double)i * step;
        if (x->dtype == AG_FLOAT32)
            x->data[i] = (float)v;
        else
            agi_i64(x)[i] = (int64_t)v;
    }
}

ag_tensor *ag_arange(double start, double end, double step, ag_dtype dt)
{
    char err[160];
    int64_t shape[1];
    if (!arange_size(&start, &end, &step, dt, shape, err, sizeof err))
        return agi_fail_last("ag_arange: %s", err);
    ag_tensor *x = agi_leaf_new("ag_arange", 1, shape, (int)dt);
    if (x)
        arange_fill(x, start, step);
    return x;
}

/* torch.linspace(start, end, steps) in float32: PyTorch's CPU kernel computes
 * step = (end - start) / (steps - 1) in float and fills the first half from
 * start (start + i * step) and the second from end (end - (steps - 1 - i) *
 * step), so both ends are exact. Its vectorised loop computes some inner
 * values as base + j * step from a vector's first element instead, which
 * rounds differently (by up to an ulp) depending on the build's vector width;
 * this is the scalar formula, equal to PyTorch's at both ends and for short
 * ranges, within 2 ulp elsewhere (tests/test_dtype.c). */
ag_tensor *ag_linspace(double start, double end, int64_t steps)
{
    const char *fn = "ag_linspace";
    if (steps < 0)
        return agi_fail_last("%s: number of steps must be non-negative, got %lld", fn,
                             (long long)steps);
    const int64_t shape[1] = { steps };
    ag_tensor *x = agi_leaf_new(fn, 1, shape, AG_FLOAT32);
    if (!x)
        return NULL;
    const float a = (float)start, b = (float)end;
    if (steps == 1)
        x->data[0] = a;
    if (steps > 1) {
        const float step = (b - a) / (float)(steps - 1);
        const int64_t half = steps / 2;
        for (int64_t i = 0; i < steps; i++)
            x->data[i] = i < half ? a + step * (float)i : b - step * (float)(steps - i - 1);
    }
    return x;
}

/* ---- constants on the tape ----
 * torch.full / torch.arange inside an expression: a leaf owned by the tape
 * (freed by its reset, as an op's result), never requiring grad, so a loop
 * does not create and free a leaf per step. Made like ag_detach's results. */

static ag_tensor *tape_const(ag_tape *t, const char *fn, int ndim, const int64_t *shape, int dt)
{
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (ndim < 0 || ndim > AG_MAX_DIMS)
        return agi_fail(t, AG_ERR_ARG, "%s: ndim %d is out of range 0..%d", fn, ndim, AG_MAX_DIMS);
    if (ndim > 0 && !shape)
        return agi_fail(t, AG_ERR_ARG, "%s: shape is NULL for ndim %d", fn, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            char sb[160];
            return agi_fail(t, AG_ERR_SHAPE, "%s: shape %s has a negative size", fn,
                            agi_shape_str(sb, sizeof sb, ndim, shape));
        }
    ag_tensor *x = agi_tape_alloc_dt(t, fn, ndim, shape, true, dt);
    if (x)
        x->flags = AGI_LEAF;
    return x;
}

ag_tensor *ag_const_full(ag_tape *t, int ndim, const int64_t *shape, float value)
{
    ag_tensor *x = tape_const(t, "ag_const_full", ndim, shape, AG_FLOAT32);
    for (int64_t i = 0; x && i < x->numel; i++)
        x->data[i] = value;
    return x;
}

ag_tensor *ag_const_full_i64(ag_tape *t, int ndim, const int64_t *shape, int64_t value)
{
    ag_tensor *x = tape_const(t, "ag_const_full_i64", ndim, shape, AG_INT64);
    for (int64_t i = 0; x && i < x->numel; i++)
        agi_i64(x)[i] = value;
    return x;
}

ag_tensor *ag_const_arange(ag_tape *t, double start, double end, double step, ag_dtype dt)
{
    if (!t)
        return agi_fail_last("ag_const_arange: tape is NULL");
    if (t->status != AG_OK)
        return NULL;
    char err[160];
    int64_t shape[1];
    if (!arange_size(&start, &end, &step, dt, shape, err, sizeof err))
        return agi_fail(t, AG_ERR_ARG, "ag_const_arange: %s", err);
    ag_tensor *x = tape_const(t, "ag_const_arange", 1, shape, (int)dt);
    if (x)
        arange_fill(x, start, step);
    return x;
}

/* ---- typed accessors ---- */

int64_t *ag_data_i64(ag_tensor *x)
{
    if (x && x->dtype != AG_INT64)
        return agi_fail_last("ag_data_i64: the tensor is %s, not int64", agi_dtype_str(x->dtype));
    return x ? agi_i64(x) : NULL;
}

bool *ag_data_bool(ag_tensor *x)
{
    if (x && x->dtype != AG_BOOL)
        return agi_fail_last("ag_data_bool: the tensor is %s, not bool", agi_dtype_str(x->dtype));
    return x ? agi_b8(x) : NULL;
}

int64_t ag_item_i64(const ag_tensor *x)
{
    if (!x || x->numel != 1)
        return 0;
    if (x->dtype == AG_INT64)
        return agi_i64(x)[0];
    if (x->dtype == AG_BOOL)
        return agi_b8(x)[0];
    const float v = x->data[0];
    return v > -9223372036854775808.0f && v < 9223372036854775808.0f ? (int64_t)v : INT64_MIN;
}

/* ---- conversion: out = x.to(dtype) ---- */

ag_tensor *ag_to_dtype(ag_tape *t, ag_tensor *x, ag_dtype dt)
{
    if (t && t->status == AG_OK && x && (!x->tape || x->tape == t) && x->dtype == (int)dt &&
        valid((int)dt))
        return x;              /* as PyTorch: the same tensor, no copy, no new node */
    ag_tensor *in[1] = { x };
    agi_call c = { .nin = 1, .in = in, .ip = { (int)dt }, .any_dtype = true };   /* -1 stays -1 */
    return agi_record(t, AGI_OP_TO_DTYPE, &c);
}

ag_tensor *ag_float(ag_tape *t, ag_tensor *x) { return ag_to_dtype(t, x, AG_FLOAT32); }
ag_tensor *ag_long(ag_tape *t, ag_tensor *x) { return ag_to_dtype(t, x, AG_INT64); }
ag_tensor *ag_bool(ag_tape *t, ag_tensor *x) { return ag_to_dtype(t, x, AG_BOOL); }

bool agi_to_dtype_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *x = c->in[0];
    if (!valid((int)c->ip[0])) {
        agi_fail(t, AG_ERR_ARG, "%s: unknown dtype %lld", fn, (long long)c->ip[0]);
        return false;
    }
    c->dtype = (int)c->ip[0];
    c->ndim = x->ndim;
    memcpy(c->shape, x->shape, sizeof c->shape);
    return true;
}

/* float -> int64 truncates toward zero; NaN, inf and values out of range
 * give INT64_MIN, as x86's conversion (and so PyTorch there) does, where C
 * leaves it undefined. */
static int64_t f2i(float v)
{
    return v > -9223372036854775808.0f && v < 9223372036854775808.0f ? (int64_t)v : INT64_MIN;
}

void agi_to_dtype_fwd(ag_tensor *out)
{
    const ag_tensor *x = out->in[0];
    const int64_t n = out->numel;
    const int from = x->dtype, to = out->dtype;
    if (from == to) {
        memcpy(out->data, x->data, (size_t)n * agi_dtypes[to].size);
        return;
    }
    if (to == AG_FLOAT32) {
        float *y = out->data;
        if (from == AG_INT64)
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)agi_i64(x)[i];
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = agi_b8(x)[i] ? 1.0f : 0.0f;
    } else if (to == AG_INT64) {
        int64_t *y = agi_i64(out);
        if (from == AG_FLOAT32)
            for (int64_t i = 0; i < n; i++)
                y[i] = f2i(x->data[i]);
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = agi_b8(x)[i];
    } else {
        bool *y = agi_b8(out);
        if (from == AG_FLOAT32)
            for (int64_t i = 0; i < n; i++)
                y[i] = x->data[i] != 0.0f;      /* NaN is true */
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = agi_i64(x)[i] != 0;
    }
}

/* A conversion's result never requires grad: from float32 it is int64 or
 * bool, and an int64 or bool input never requires grad. Nothing to do. */
void agi_to_dtype_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    (void)out, (void)dout, (void)din;
}
