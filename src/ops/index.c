/* ops/index.c - ops taking an int64 index tensor: index_select and gather
 * (their kernels and shape functions are ops/shape.c's, shared with the
 * pointer forms); the check of an index tensor argument.
 *
 * The index's values are copied at the call (into the result's aux, as the
 * pointer forms do), so changing the index tensor afterwards changes
 * neither the result nor its gradient. */
#include "internal.h"

bool agi_index_arg(ag_tape *t, const char *fn, const char *what, const ag_tensor *ix)
{
    if (!ix) {
        agi_fail(t, AG_ERR_ARG, "%s: %s is NULL", fn, what);
        return false;
    }
    if (ix->tape && ix->tape != t) {
        agi_fail(t, AG_ERR_TAPE, "%s: %s was recorded on another tape", fn, what);
        return false;
    }
    if (ix->dtype != AG_INT64) {
        agi_fail(t, AG_ERR_ARG, "%s: expected dtype int64 for %s, got %s", fn, what,
                 agi_dtype_str(ix->dtype));
        return false;
    }
    if (ix->numel == 0 && !agi_shape_fits(ix->ndim, ix->shape)) {
        char sb[160];
        agi_fail(t, AG_ERR_NOMEM, "%s: %s of shape %s is too large", fn, what,
                 agi_shape_str(sb, sizeof sb, ix->ndim, ix->shape));
        return false;
    }
    return true;
}

/* The values of an index (never NULL, so an empty one is not "NULL"). */
static const int64_t *values(const ag_tensor *ix)
{
    static const int64_t none[1] = { 0 };
    return ix->numel > 0 ? agi_i64(ix) : none;
}

ag_tensor *ag_index_select_tensor(ag_tape *t, ag_tensor *x, int dim, const ag_tensor *index)
{
    const char *fn = "ag_index_select_tensor";
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK || !agi_index_arg(t, fn, "index", index))
        return NULL;
    if (index->ndim > 1) {
        char sb[160];
        return agi_fail(t, AG_ERR_SHAPE, "%s: index of shape %s is supposed to be a vector "
                        "(0 or 1 dimensions)", fn,
                        agi_shape_str(sb, sizeof sb, index->ndim, index->shape));
    }
    ag_tensor *in[1] = { x };
    agi_call c = { .api = fn, .nin = 1, .in = in, .ip = { dim, index->numel },
                   .aux = values(index), .any_dtype = true };
    return agi_record(t, AGI_OP_INDEX_SELECT, &c);
}

ag_tensor *ag_gather_tensor(ag_tape *t, ag_tensor *x, int dim, const ag_tensor *index)
{
    const char *fn = "ag_gather_tensor";
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK || !agi_index_arg(t, fn, "index", index))
        return NULL;
    ag_tensor *in[1] = { x };
    agi_gather_args a = { index->ndim, index->shape, values(index) };
    agi_call c = { .api = fn, .nin = 1, .in = in, .ip = { dim }, .aux = &a, .any_dtype = true };
    return agi_record(t, AGI_OP_GATHER, &c);
}
