/* optable.c - the op table: one row per op, expanded from AGI_OPS in internal.h. */
#include "internal.h"

const agi_op_def agi_ops[AGI_OP_COUNT] = {
#define AGI_ROW(E, name, gf, n, shp, fwd, bwd, dom) \
    [AGI_OP_##E] = { name, "ag_" name, gf, n, shp, agi_##fwd, agi_##bwd, dom },
    AGI_OPS(AGI_ROW)
#undef AGI_ROW
};

const char *agi_grad_fn(const ag_tensor *x)
{
    if (x->op == AGI_OP_CROSS_ENTROPY || x->op == AGI_OP_CROSS_ENTROPY_PROB)
        return agi_ce_grad_fn(x);
    return agi_ops[x->op].grad_fn;
}
