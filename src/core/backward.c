/* core/backward.c - the backward walk: gradient buffers, the kernels in tape order,
 * runs of elementwise ops in cache-sized tiles, accumulation into .grad. */
#include "internal.h"

#include <string.h>

/* The tape is a list in creation order, so walking it from the root towards
 * older ops is a topological order: every consumer of a tensor is visited
 * before the tensor itself. Two passes:
 *   1. mark what the root depends on and allocate every gradient buffer
 *      (non-leaf buffers on the arena, leaf grads on first use); this is the
 *      only part that can fail, and on failure it undoes what it created, so a
 *      failed backward changes no gradient;
 *   2. run each marked op's backward kernel, which accumulates (+=) into the
 *      buffers of its inputs. A non-leaf's buffer is zeroed just before its
 *      first write (zmark), not in pass 1, so that a buffer a tiled run keeps
 *      in scratch (below) is never touched at all.
 * No recursion: a chain of any length needs no stack.
 *
 * Runs of elementwise ops. Consecutive (in tape order, skipping ops the root
 * does not depend on) elementwise ops of one size without broadcasting, such
 * as exp(x) * sin(x) + sqrt(abs(x)), have backward kernels that read and
 * write element i only. Such a run (at least two ops of at least RUN_MIN
 * elements) is done tile by tile: for each tile of TILE elements, every op
 * of the run in tape order over that tile, so the tile's saved values and
 * gradients stay in the L1 cache instead of each op streaming whole arrays
 * through memory. The gradient of a tensor made and used only inside the run
 * (all its contributions come from the run's ops, and its own op is in the
 * run) lives in a tile-sized scratch slot on the stack: its full buffer is
 * never zeroed, written or read. Each element sees the same float operations
 * in the same order as in the op-by-op walk, so results are bit-identical to
 * it, and tiles split over the pool (agi_parallel_range) as any kernel's
 * ranges do, bit-identical for any thread count. */

#define TILE 1024              /* elements per tile: a run's arrays of one tile fit in L1 */
#define RUN_MIN 4096           /* smaller ops are walked one by one */
#define RUN_MAX 32             /* ops per run (a longer chain makes several runs) */
#define RUN_SLOTS 8            /* scratch gradients per run: 32 KB of stack */

static bool needs_grad(const ag_tensor *x)
{
    return x->flags & AGI_REQ_GRAD;
}

/* The buffer backward accumulates x's gradient into, NULL if x needs none. */
static float *grad_buffer(const ag_tape *t, ag_tensor *x)
{
    if (!needs_grad(x))
        return NULL;
    if (x->flags & AGI_LEAF)
        return x->grad ? x->grad->data : NULL;
    return x->mark == t->epoch ? x->gbuf : NULL;
}

/* Pass 1 for one tensor: make sure it has a zeroed buffer this epoch. */
static bool prepare(ag_tape *t, ag_tensor *x)
{
    if (!needs_grad(x))
        return true;
    if (x->flags & AGI_LEAF) {
        if (x->grad)
            return true;
        if (!agi_leaf_grad(x))
            return false;
        x->flags |= AGI_NEW_GRAD;   /* so a failure can drop it again */
        t->new_grads++;
        return true;
    }
    if (x->mark == t->epoch)
        return true;
    float *g = agi_arena_alloc(&t->arena, (size_t)x->numel * sizeof(float));
    if (!g)
        return false;
    x->gbuf = g;               /* zeroed at its first write (init_gbuf) */
    x->mark = t->epoch;
    return true;
}

/* Pass 2: zeroes x's buffer before its first write in this backward. */
static void init_gbuf(const ag_tape *t, ag_tensor *x)
{
    if (x->zmark != t->epoch) {
        memset(x->gbuf, 0, (size_t)x->numel * sizeof(float));
        x->zmark = t->epoch;
    }
}

static void clear_new(ag_tensor *x, bool drop)
{
    if (x->flags & AGI_NEW_GRAD) {
        x->flags &= ~(unsigned)AGI_NEW_GRAD;
        if (drop)
            agi_leaf_grad_drop(x);
    }
}

/* Clears the AGI_NEW_GRAD marks pass 1 left on leaves and retained non-leaves;
 * with drop, also frees those fresh grads, undoing pass 1. */
static void clear_new_grads(ag_tape *t, ag_tensor *root, bool drop)
{
    clear_new(root, drop);
    if (root->flags & AGI_LEAF)
        return;
    for (ag_tensor *x = root; x; x = x->prev)
        if (x->mark == t->epoch)
            for (int k = 0; k < x->nin; k++)
                clear_new(x->in[k], drop);
}

/* ---- runs of elementwise ops, in tiles ---- */

typedef struct run_op {
    ag_tensor *x;
    agi_tile_fn fn;
    float *din[2];             /* full buffers of the inputs' grads (NULL: none, or a slot) */
    signed char dslot[2];      /* scratch slot of din[k], or -1 */
    signed char gslot;         /* scratch slot of x's own gradient, or -1 (x->gbuf) */
    bool dzero[2];             /* din[k]'s first write: zero its tile first */
    bool zero_self;            /* nothing wrote x's gradient: zero its tile first */
    bool any;                  /* some input needs a grad */
} run_op;

typedef struct run {
    run_op op[RUN_MAX];
    int len;
} run;

static bool tileable(const ag_tensor *x, int64_t numel)
{
    if (!agi_ops[x->op].tile || x->numel != numel || x->nin > 2)
        return false;
    for (int k = 0; k < x->nin; k++)
        if (x->in[k]->numel != numel)
            return false;
    return true;
}

static void run_range(void *ctx, int64_t lo, int64_t hi)
{
    const run *r = ctx;
    _Alignas(64) float slot[RUN_SLOTS][TILE];
    for (int64_t t0 = lo; t0 < hi; t0 += TILE) {
        const int64_t t1 = hi - t0 < TILE ? hi : t0 + TILE;
        const size_t bytes = (size_t)(t1 - t0) * sizeof(float);
        for (int j = 0; j < r->len; j++) {
            const run_op *o = &r->op[j];
            float *g = o->gslot >= 0 ? slot[o->gslot] : o->x->gbuf + t0;
            if (o->zero_self)
                memset(g, 0, bytes);
            float *d[2] = { NULL, NULL };
            for (int k = 0; k < o->x->nin; k++) {
                d[k] = o->dslot[k] >= 0 ? slot[o->dslot[k]] : o->din[k] ? o->din[k] + t0 : NULL;
                if (o->dzero[k])
                    memset(d[k], 0, bytes);
            }
            if (o->any)
                o->fn(o->x, g, d, t0, t1);
            if (o->x->flags & AGI_RETAIN) {
                float *rg = o->x->grad->data + t0;
                for (int64_t i = 0; i < t1 - t0; i++)
                    rg[i] += g[i];
            }
        }
    }
}

/* If a run of elementwise ops starts at x (see the top of the file), runs it
 * and returns the op before it; else returns x. */
static ag_tensor *run_tiled(ag_tape *t, ag_tensor *x)
{
    const int64_t numel = x->numel;
    if (numel < RUN_MIN || !tileable(x, numel))
        return x;
    run r;
    r.len = 0;
    ag_tensor *y = x;
    for (; y && r.len < RUN_MAX; y = y->prev) {
        if (y->mark != t->epoch)
            continue;
        if (!tileable(y, numel))
            break;
        r.op[r.len].x = y;
        r.op[r.len++].gslot = -1;
    }
    if (r.len < 2)
        return x;

    /* Plan the run in its order, as the op-by-op walk would go: which grads
     * each op writes, which write is a buffer's first (zero its tile), and
     * which buffers can live in scratch. */
    int nslots = 0;
    for (int j = 0; j < r.len; j++) {
        run_op *o = &r.op[j];
        ag_tensor *xj = o->x;
        o->fn = agi_ops[xj->op].tile;
        o->zero_self = false;
        if (o->gslot < 0 && xj->zmark != t->epoch) {
            o->zero_self = true;
            xj->zmark = t->epoch;
        }
        o->any = false;
        for (int k = 0; k < 2; k++) {
            o->din[k] = NULL;
            o->dslot[k] = -1;
            o->dzero[k] = false;
        }
        for (int k = 0; k < xj->nin; k++) {
            ag_tensor *in = xj->in[k];
            float *buf = grad_buffer(t, in);
            if (!buf)
                continue;
            o->any = true;
            if (in->flags & AGI_LEAF) {
                o->din[k] = buf;
                continue;
            }
            int p = -1;        /* in's own op, if it is in the run (after j) */
            for (int q = j + 1; q < r.len && p < 0; q++)
                if (r.op[q].x == in)
                    p = q;
            if (p >= 0 && r.op[p].gslot >= 0) {
                o->dslot[k] = r.op[p].gslot;
            } else if (in->zmark == t->epoch) {
                o->din[k] = buf;
            } else if (p >= 0 && nslots < RUN_SLOTS) {
                /* first write, and every write and the read are in the run */
                r.op[p].gslot = (signed char)nslots;
                o->dslot[k] = (signed char)nslots++;
                o->dzero[k] = true;
                in->zmark = t->epoch;
            } else {
                o->din[k] = buf;
                o->dzero[k] = true;
                in->zmark = t->epoch;
            }
        }
    }
    agi_parallel_range(numel, run_range, &r);
    return y;
}

static ag_status run_backward(ag_tape *t, ag_tensor *root, const float *seed, const char *fn)
{
    char sb[160];
    if (!needs_grad(root)) {
        agi_fail(t, AG_ERR_GRAD, "%s: the root does not require grad and has no grad_fn", fn);
        return t->status;
    }
    t->epoch++;
    t->new_grads = 0;
    /* An elementwise root without broadcasting reads its gradient (the seed)
     * at element i only before anything writes element i of any gradient
     * (it runs first, or first in each tile), so the seed itself can be its
     * buffer even if the seed is some leaf's .grad that this backward
     * accumulates into. Not a retained root: its .grad is read from the
     * buffer after its kernel, which may have added into the seed by then.
     * Other roots get a copy, 0 + seed (so a -0 seed reaches the leaves as
     * -0 through an elementwise root, as in PyTorch, and as +0 through
     * others, whose intermediate buffers start from +0). */
    const bool seed_is_gbuf = seed && !(root->flags & (AGI_LEAF | AGI_RETAIN)) &&
                              tileable(root, root->numel);
    bool ok = true;
    if (seed_is_gbuf) {
        root->gbuf = (float *)seed; /* only read */
        root->mark = root->zmark = t->epoch;
    } else {
        ok = prepare(t, root);
    }
    for (ag_tensor *x = (root->flags & AGI_LEAF) ? NULL : root; ok && x; x = x->prev) {
        if (x->mark != t->epoch)
            continue;          /* root does not depend on x */
        for (int k = 0; ok && k < x->nin; k++)
            ok = prepare(t, x->in[k]);
        if (ok && x->nin > AGI_INLINE_INPUTS) {
            x->dinv = agi_arena_alloc(&t->arena, (size_t)x->nin * sizeof *x->dinv);
            ok = x->dinv != NULL;
        }
        if (ok && (x->flags & AGI_RETAIN) && !x->grad) {
            x->grad = agi_tape_tensor(t, fn, x->ndim, x->shape);
            if (x->grad) {
                x->grad->flags = AGI_LEAF;
                memset(x->grad->data, 0, (size_t)x->numel * sizeof(float));
                x->flags |= AGI_NEW_GRAD;   /* dropped again if pass 1 fails */
                t->new_grads++;
            }
            ok = x->grad != NULL;
        }
    }
    if (t->new_grads)          /* else no walk: the steady state makes no new grads */
        clear_new_grads(t, root, !ok);
    if (!ok) {
        t->epoch++;            /* invalidate the half-made buffers */
        agi_fail(t, AG_ERR_NOMEM, "%s: out of memory for the gradients of a root of shape %s",
                 fn, agi_shape_str(sb, sizeof sb, root->ndim, root->shape));
        return t->status;
    }

    float *groot = grad_buffer(t, root);
    if (root->flags & AGI_LEAF)
        for (int64_t i = 0; i < root->numel; i++)
            groot[i] += seed ? seed[i] : 1.0f;
    else if (!seed_is_gbuf)
        for (int64_t i = 0; i < root->numel; i++)
            groot[i] = 0.0f + (seed ? seed[i] : 1.0f);   /* as zeroing, then += */
    root->zmark = t->epoch;
    if (root->flags & AGI_LEAF)
        return AG_OK;          /* a leaf root: its grad is the seed */

    for (ag_tensor *x = root; x;) {
        if (x->mark != t->epoch) {
            x = x->prev;
            continue;
        }
        ag_tensor *next = run_tiled(t, x);
        if (next != x) {
            x = next;
            continue;
        }
        const agi_op_def *def = &agi_ops[x->op];
        float *dbuf[AGI_INLINE_INPUTS] = { NULL };
        float **din = x->nin > AGI_INLINE_INPUTS ? x->dinv : dbuf;
        bool any = false;
        unsigned zero = 0;
        for (int k = 0; k < x->nin; k++) {
            din[k] = grad_buffer(t, x->in[k]);
            if (din[k] && !(x->in[k]->flags & AGI_LEAF)) {
                if (x->in[k]->zmark != t->epoch && k < 32)
                    zero |= 1u << k;
                init_gbuf(t, x->in[k]);
            }
            any = any || din[k];
        }
        t->din_zero = zero;
        init_gbuf(t, x);       /* in case no consumer wrote it (pow with p == 0) */
        /* kernels may assume a unary op's din[0] is set; an input can lose
         * requires_grad after recording (ag_set_requires_grad). An empty
         * result contributes nothing to its inputs' gradients: no kernel,
         * so none loops over the other sizes of an empty shape. */
        if (any && x->numel > 0)
            def->backward(x, x->gbuf, din);
        if (x->flags & AGI_RETAIN)
            for (int64_t i = 0; i < x->numel; i++)
                x->grad->data[i] += x->gbuf[i];
        x = x->prev;
    }
    return AG_OK;
}

static bool backward_args(ag_tape *t, const char *fn, const ag_tensor *root)
{
    if (!root) {
        agi_fail(t, AG_ERR_ARG, "%s: root is NULL", fn);
        return false;
    }
    if (root->tape && root->tape != t) {
        agi_fail(t, AG_ERR_TAPE, "%s: root was recorded on another tape", fn);
        return false;
    }
    return true;
}

ag_status ag_backward(ag_tape *t, ag_tensor *root)
{
    if (!t) {
        agi_fail_last("ag_backward: tape is NULL");
        return AG_ERR_ARG;
    }
    if (t->status != AG_OK)
        return t->status;
    if (!backward_args(t, "ag_backward", root))
        return t->status;
    if (root->numel != 1) {
        char sb[160];
        agi_fail(t, AG_ERR_GRAD,
                 "ag_backward: grad can be implicitly created only for scalar outputs; "
                 "root has shape %s (use ag_backward_seed)",
                 agi_shape_str(sb, sizeof sb, root->ndim, root->shape));
        return t->status;
    }
    return run_backward(t, root, NULL, "ag_backward");
}

ag_status ag_backward_seed(ag_tape *t, ag_tensor *root, const ag_tensor *seed)
{
    if (!t) {
        agi_fail_last("ag_backward_seed: tape is NULL");
        return AG_ERR_ARG;
    }
    if (t->status != AG_OK)
        return t->status;
    if (!backward_args(t, "ag_backward_seed", root))
        return t->status;
    if (!seed) {
        agi_fail(t, AG_ERR_ARG, "ag_backward_seed: seed is NULL");
        return t->status;
    }
    if (seed->dtype != AG_FLOAT32) {
        agi_fail(t, AG_ERR_ARG, "ag_backward_seed: seed is %s, not float32",
                 agi_dtype_str(seed->dtype));
        return t->status;
    }
    bool same = seed->ndim == root->ndim;
    for (int i = 0; same && i < root->ndim; i++)
        same = seed->shape[i] == root->shape[i];
    if (!same) {
        char s1[160], s2[160];
        agi_fail(t, AG_ERR_SHAPE, "ag_backward_seed: seed shape %s does not match root shape %s",
                 agi_shape_str(s1, sizeof s1, seed->ndim, seed->shape),
                 agi_shape_str(s2, sizeof s2, root->ndim, root->shape));
        return t->status;
    }
    return run_backward(t, root, seed->data, "ag_backward_seed");
}
