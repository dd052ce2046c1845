/* ops/linalg.c - matmul with torch.matmul's cases: dot, matrix-vector, matrix
 * products and batched products with broadcast batch dimensions.
 *
 * Shapes: a is (..., n, k) or (k,), b is (..., k, m) or (k,); out is
 * (batch..., n, m) without n if a is 1-D and without m if b is 1-D, where
 * batch is the broadcast of a's and b's leading dimensions. A 1-D a is the
 * matrix (1, k), a 1-D b the matrix (k, 1). da, db have a's and b's shapes:
 * broadcast batch dimensions are summed. Every matrix product is agi_sgemm
 * (kernels/gemm.c). */
#include "internal.h"

#include <string.h>

/* ---- the batch walk ----
 * The output's batches in row-major order, with the offsets (in elements) of
 * the a and b matrices each one multiplies. */
typedef struct mm_plan {
    int64_t n, k, m;           /* op sizes: (n, k) @ (k, m) */
    int nb;                    /* batch dimensions of out */
    int64_t bshape[AG_MAX_DIMS];
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];   /* matrix strides, 0 if broadcast */
    int64_t batches;           /* product of bshape */
    bool fold;                 /* b has no batch: a's batches are rows of one (batches * n, k) */
} mm_plan;

/* Batch dimensions of x (all but its last two; none for 1-D and 2-D). */
static int batch_dims(const ag_tensor *x)
{
    return x->ndim > 2 ? x->ndim - 2 : 0;
}

static void plan_init(mm_plan *p, const ag_tensor *a, const ag_tensor *b)
{
    p->n = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    p->k = a->shape[a->ndim - 1];
    p->m = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    const int na = batch_dims(a), nbb = batch_dims(b);
    p->nb = na > nbb ? na : nbb;
    p->batches = 1;
    int64_t stra = p->n * p->k, strb = p->k * p->m;
    for (int i = p->nb - 1; i >= 0; i--) {
        const int ia = na - p->nb + i, ib = nbb - p->nb + i;
        const int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        p->bshape[i] = da == 1 ? db : da;
        p->sa[i] = da == 1 ? 0 : stra;
        p->sb[i] = db == 1 ? 0 : strb;
        stra *= da;
        strb *= db;
        p->batches *= p->bshape[i];
    }
    p->fold = nbb == 0;
}

/* Runs the body with ob (output batch), oa, obb (offsets of its a and b matrices)
 * for every batch of the plan, in order. */
#define MM_BATCHES(p, ob, oa, obb, ...)                                          \
    do {                                                                         \
        int64_t idx_[AG_MAX_DIMS] = { 0 };                                       \
        int64_t oa = 0, obb = 0;                                                 \
        for (int64_t ob = 0; ob < (p)->batches; ob++) {                          \
            __VA_ARGS__                                                          \
            for (int d_ = (p)->nb - 1; d_ >= 0; d_--) {                          \
                oa += (p)->sa[d_];                                               \
                obb += (p)->sb[d_];                                              \
                if (++idx_[d_] < (p)->bshape[d_])                                \
                    break;                                                       \
                oa -= (p)->sa[d_] * (p)->bshape[d_];                             \
                obb -= (p)->sb[d_] * (p)->bshape[d_];                            \
                idx_[d_] = 0;                                                    \
            }                                                                    \
        }                                                                        \
    } while (0)

/* ---- matmul: out = a @ b ---- */
ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b)
{
    return agi_binary(t, AGI_OP_MATMUL, a, b);
}

bool agi_matmul_shape(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *a = c->in[0], *b = c->in[1];
    char s1[160], s2[160];
    if (a->ndim == 0 || b->ndim == 0) {
        agi_fail(t, AG_ERR_SHAPE,
                 "%s: both arguments to matmul need to be at least 1D, got shapes %s and %s", fn,
                 agi_shape_str(s1, sizeof s1, a->ndim, a->shape),
                 agi_shape_str(s2, sizeof s2, b->ndim, b->shape));
        return false;
    }
    const int64_t ka = a->shape[a->ndim - 1];
    const int64_t kb = b->ndim >= 2 ? b->shape[b->ndim - 2] : b->shape[0];
    if (ka != kb) {
        agi_fail(t, AG_ERR_SHAPE, "%s: shapes %s and %s cannot be multiplied (%lld != %lld)", fn,
                 agi_shape_str(s1, sizeof s1, a->ndim, a->shape),
                 agi_shape_str(s2, sizeof s2, b->ndim, b->shape), (long long)ka, (long long)kb);
        return false;
    }
    const int na = batch_dims(a), nbb = batch_dims(b);
    const int nb = na > nbb ? na : nbb;
    for (int i = 0; i < nb; i++) {
        const int ia = na - nb + i, ib = nbb - nb + i;
        const int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s3[160], s4[160];
            agi_fail(t, AG_ERR_SHAPE,
                     "%s: shapes %s and %s cannot be multiplied: batch dimensions %s and %s "
                     "cannot be broadcast", fn,
                     agi_shape_str(s1, sizeof s1, a->ndim, a->shape),
                     agi_shape_str(s2, sizeof s2, b->ndim, b->shape),
                     agi_shape_str(s3, sizeof s3, na, a->shape),
                     agi_shape_str(s4, sizeof s4, nbb, b->shape));
            return false;
        }
        c->shape[i] = da == 1 ? db : da;
    }
    int nd = nb;
    if (a->ndim >= 2)
        c->shape[nd++] = a->shape[a->ndim - 2];
    if (b->ndim >= 2)
        c->shape[nd++] = b->shape[b->ndim - 1];
    c->ndim = nd;
    return true;
}

/* out[ob] = a[oa] @ b[ob]; with b unbatched, a's batches fold into the rows
 * of one product (batches * n, k) @ (k, m). */
void agi_matmul_fwd(ag_tensor *out)
{
    const ag_tensor *a = out->in[0], *b = out->in[1];
    mm_plan p;
    plan_init(&p, a, b);
    const int64_t n = p.n, k = p.k, m = p.m;
    if (p.fold) {
        agi_sgemm(false, false, p.batches * n, m, k, a->data, k, b->data, m, out->data, m, false);
        return;
    }
    MM_BATCHES(&p, ob, oa, obb, {
        agi_sgemm(false, false, n, m, k, a->data + oa, k, b->data + obb, m,
                  out->data + ob * n * m, m, false);
    });
}

/* da[oa] += g[ob] @ b[ob]^T,  db[ob] += a[oa]^T @ g[ob]
 * (summed over the batches a broadcast input takes part in; with b unbatched
 * the batches fold into rows as in the forward) */
void agi_matmul_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const ag_tensor *a = out->in[0], *b = out->in[1];
    float *da = din[0], *db = din[1];
    mm_plan p;
    plan_init(&p, a, b);
    const int64_t n = p.n, k = p.k, m = p.m;
    if (p.fold) {              /* (into a buffer of zeros, assigning is the same, and faster) */
        const unsigned zero = out->tape->din_zero;
        const int64_t rows = p.batches * n;
        if (da)
            agi_sgemm(false, true, rows, k, m, dout, m, b->data, m, da, k, !(zero & 1u));
        if (db)
            agi_sgemm(true, false, k, m, rows, a->data, k, dout, m, db, m, !(zero & 2u));
        return;
    }
    /* (a broadcast input's batches are added to its gradient one by one;
     * PyTorch sums them first, so those may differ in the last bits) */
    MM_BATCHES(&p, ob, oa, obb, {
        const float *g = dout + ob * n * m;
        if (da)
            agi_sgemm(false, true, n, k, m, g, m, b->data + obb, m, da + oa, k, true);
        if (db)
            agi_sgemm(true, false, k, m, n, a->data + oa, k, g, m, db + obb, m, true);
    });
}
