/* core/optable.c - the op table: one row per op, expanded from AGI_OPS in internal.h. */
#include "internal.h"

const agi_op_def agi_ops[AGI_OP_COUNT] = {
#define AGI_TILE_ew(bwd) agi_##bwd##_tile
#define AGI_TILE_no(bwd) NULL
#define AGI_ROW(E, name, gf, n, shp, fwd, bwd, dom, tile) \
    [AGI_OP_##E] = { name, "ag_" name, gf, n, shp, agi_##fwd, agi_##bwd, dom, AGI_TILE_##tile(bwd) },
    AGI_OPS(AGI_ROW)
#undef AGI_ROW
};

/* PyTorch names some backward nodes after the overload or kernel that ran:
 * sum(x) is SumBackward0 but sum(x, dims) SumBackward1; matmul is Dot, Mv,
 * Mm or a batched UnsafeView. */
const char *agi_grad_fn(const ag_tensor *x)
{
    switch (x->op) {
    case AGI_OP_CROSS_ENTROPY:
    case AGI_OP_CROSS_ENTROPY_PROB:
        return agi_ce_grad_fn(x);
    case AGI_OP_SUM:
        return x->ip[3] > 0 ? "SumBackward1" : "SumBackward0";
    case AGI_OP_SORT:          /* sort(stable=True) is another overload */
        return x->ip[2] ? "SortBackward1" : "SortBackward0";
    case AGI_OP_MEAN:
        return x->ip[3] > 0 ? "MeanBackward1" : "MeanBackward0";
    case AGI_OP_MATMUL: {
        const int na = x->in[0]->ndim, nb = x->in[1]->ndim;
        if (na == 1 && nb == 1)
            return "DotBackward0";
        if (na == 2 && nb == 1)
            return "MvBackward0";
        if (na == 1 && nb == 2)
            return "SqueezeBackward3";
        if (na == 2 && nb == 2)
            return "MmBackward0";
        if (na == 2) {
            /* 2-D @ N-D: PyTorch computes (b^T @ a^T)^T, then .contiguous(),
             * a copy unless that transpose is already contiguous */
            const int64_t m = x->in[0]->shape[0], n = x->in[1]->shape[nb - 1];
            return m == 1 || n == 1 || x->numel == 0 ? "TransposeBackward0" : "CloneBackward0";
        }
        return "UnsafeViewBackward0";
    }
    case AGI_OP_AFFINE: {       /* F.linear: addmm, or matmul then add */
        const bool bias = x->nin > 2;
        const int nd = x->in[0]->ndim;
        if (nd == 2)
            return bias ? "AddmmBackward0" : "MmBackward0";
        if (nd == 1)
            return bias ? "AddBackward0" : "SqueezeBackward3";
        /* 3-D input with bias: addmm on the flattened rows, then a view;
         * 4-D and up: matmul, then add (PyTorch 1.13's F.linear) */
        if (bias)
            return nd == 3 ? "ViewBackward0" : "AddBackward0";
        return "UnsafeViewBackward0";
    }
    default:
        return agi_ops[x->op].grad_fn;
    }
}
