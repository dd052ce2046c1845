/* core/broadcast.c - NumPy/PyTorch broadcasting: output shapes and strided iteration. */
#include "internal.h"

bool agi_shape_same(ag_tape *t, const char *fn, agi_call *c)
{
    (void)t;
    (void)fn;
    c->ndim = c->in[0]->ndim;
    for (int i = 0; i < c->ndim; i++)
        c->shape[i] = c->in[0]->shape[i];
    return true;
}

/* Shapes are aligned at their last dimension; each pair of sizes must be equal
 * or contain a 1, and the result takes the larger. */
bool agi_shape_bcast(ag_tape *t, const char *fn, agi_call *c)
{
    const ag_tensor *a = c->in[0], *b = c->in[1];
    int64_t *shape = c->shape;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t sa = ia >= 0 ? a->shape[ia] : 1;
        int64_t sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[160], s2[160];
            agi_fail(t, AG_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast", fn,
                     agi_shape_str(s1, sizeof s1, a->ndim, a->shape),
                     agi_shape_str(s2, sizeof s2, b->ndim, b->shape));
            return false;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    c->ndim = nd;
    return true;
}

void agi_bcast_init(agi_bcast *bc, const ag_tensor *out, const ag_tensor *a, const ag_tensor *b)
{
    const ag_tensor *src[2] = { a, b };
    int64_t st[2][AG_MAX_DIMS];
    int nd = out->ndim;
    for (int s = 0; s < 2; s++) {
        int64_t stride = 1;
        for (int i = nd - 1; i >= 0; i--) {
            int j = src[s]->ndim - nd + i;
            int64_t size = j >= 0 ? src[s]->shape[j] : 1;
            st[s][i] = (size == 1 && out->shape[i] != 1) ? 0 : stride;
            stride *= size;
        }
    }
    /* Merge neighbouring dimensions that both operands walk the same way,
     * dropping size-1 dimensions, so the inner loop is as long as possible. */
    int m = 0;
    for (int i = 0; i < nd; i++) {
        if (out->shape[i] == 1)
            continue;
        /* (n_prev, n_i) walked with strides (s_i * n_i, s_i) is one dimension
         * of n_prev * n_i with stride s_i; this also merges two broadcast
         * (stride 0) dimensions. */
        if (m > 0 && st[0][i] * out->shape[i] == bc->sa[m - 1] &&
            st[1][i] * out->shape[i] == bc->sb[m - 1]) {
            bc->n[m - 1] *= out->shape[i];
            bc->sa[m - 1] = st[0][i];
            bc->sb[m - 1] = st[1][i];
            continue;
        }
        bc->n[m] = out->shape[i];
        bc->sa[m] = st[0][i];
        bc->sb[m] = st[1][i];
        m++;
    }
    if (m == 0) {
        bc->n[0] = 1;
        bc->sa[0] = bc->sb[0] = 0;
        m = 1;
    }
    bc->nd = m;
}
