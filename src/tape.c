/* tape.c - recording ops, the backward walk, gradient accumulation, reset. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

ag_tape *ag_tape_new(void)
{
    agi_alloc a = agi_current_alloc();
    ag_tape *t = agi_malloc(a, sizeof *t);
    if (!t)
        return agi_fail_last("ag_tape_new: out of memory");
    memset(t, 0, sizeof *t);
    agi_arena_init(&t->arena, a);
    t->grad_enabled = true;
    return t;
}

void ag_tape_free(ag_tape *t)
{
    if (!t)
        return;
    agi_arena_free(&t->arena);
    agi_free(t->arena.alloc, t, sizeof *t);
}

void ag_tape_reset(ag_tape *t)
{
    if (!t)
        return;
    agi_arena_reset(&t->arena);
    t->last = NULL;
    t->status = AG_OK;
    t->msg[0] = '\0';
}

ag_status ag_tape_status(const ag_tape *t)
{
    return t ? t->status : AG_ERR_ARG;
}

const char *ag_tape_error(const ag_tape *t)
{
    return t ? t->msg : "ag_tape_error: tape is NULL";
}

bool ag_tape_set_grad_enabled(ag_tape *t, bool enabled)
{
    if (!t)
        return false;
    bool old = t->grad_enabled;
    t->grad_enabled = enabled;
    return old;
}

void *agi_fail(ag_tape *t, ag_status s, const char *fmt, ...)
{
    if (!t || t->status != AG_OK)
        return NULL;           /* the first error wins */
    t->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

/* ---- recording ---- */

/* Checks that x may be used on t: not NULL, not from another tape. */
static const char *input_name(char *buf, size_t size, int k, int n)
{
    if (n == 1)
        snprintf(buf, size, "input");
    else if (n == 2)
        snprintf(buf, size, "%s input", k == 0 ? "first" : "second");
    else
        snprintf(buf, size, "input %d", k);
    return buf;
}

static bool usable(ag_tape *t, const char *fn, int k, int n, const ag_tensor *x)
{
    char which[32];            /* named only on error: no printf on the record path */
    if (!x) {
        agi_fail(t, AG_ERR_ARG, "%s: %s is NULL", fn, input_name(which, sizeof which, k, n));
        return false;
    }
    if (x->tape && x->tape != t) {
        agi_fail(t, AG_ERR_TAPE, "%s: %s was recorded on another tape", fn,
                 input_name(which, sizeof which, k, n));
        return false;
    }
    /* a tensor with elements passed this check when it was made; only an
     * empty one can have sizes whose product overflows */
    if (x->numel == 0 && !agi_shape_fits(x->ndim, x->shape)) {
        char sb[160];
        agi_fail(t, AG_ERR_NOMEM, "%s: %s of shape %s is too large (its sizes multiply "
                 "past the largest tensor)", fn, input_name(which, sizeof which, k, n),
                 agi_shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    return true;
}

ag_tensor *agi_record(ag_tape *t, int op, agi_call *c)
{
    const agi_op_def *def = &agi_ops[op];
    const char *fn = def->api;
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (def->n_inputs >= 0 ? c->nin != def->n_inputs : c->nin < 1)
        return agi_fail(t, AG_ERR_ARG, "%s: %d inputs given", fn, c->nin);
    if (!c->in)
        return agi_fail(t, AG_ERR_ARG, "%s: the list of inputs is NULL", fn);
    bool rg = false;
    for (int k = 0; k < c->nin; k++) {
        if (!usable(t, fn, k, c->nin, c->in[k]))
            return NULL;
        rg = rg || (c->in[k]->flags & AGI_REQ_GRAD);
    }
    c->save_size = 0;
    c->alias = false;
    if (!def->shape(t, fn, c))
        return NULL;
    ag_tensor *out = agi_tape_alloc(t, fn, c->ndim, c->shape, !c->alias);
    if (!out)
        return NULL;
    if (c->nin > AGI_INLINE_INPUTS) {
        out->in = agi_arena_alloc(&t->arena, (size_t)c->nin * sizeof *out->in);
        if (!out->in)
            return agi_fail(t, AG_ERR_NOMEM, "%s: out of memory for %d inputs", fn, c->nin);
    }
    if (c->aux_size) {
        out->aux = agi_arena_alloc(&t->arena, c->aux_size);
        if (!out->aux)
            return agi_fail(t, AG_ERR_NOMEM, "%s: out of memory", fn);
        memcpy(out->aux, c->aux, c->aux_size);
    }
    if (c->save_size) {
        out->save = agi_arena_alloc(&t->arena, c->save_size);
        if (!out->save)
            return agi_fail(t, AG_ERR_NOMEM, "%s: out of memory", fn);
        memset(out->save, 0, c->save_size);
    }
    out->op = op;
    out->nin = c->nin;
    for (int k = 0; k < c->nin; k++)
        out->in[k] = c->in[k];
    memcpy(out->param, c->param, sizeof out->param);
    memcpy(out->ip, c->ip, sizeof out->ip);
    if (c->alias)
        out->data = c->in[0]->data;
    if (rg && t->grad_enabled)
        out->flags |= AGI_REQ_GRAD;
    def->forward(out);
    out->prev = t->last;
    t->last = out;
    return out;
}

ag_tensor *ag_detach(ag_tape *t, ag_tensor *x)
{
    if (!t)
        return agi_fail_last("ag_detach: tape is NULL");
    if (t->status != AG_OK)
        return NULL;
    if (!usable(t, "ag_detach", 0, 1, x))
        return NULL;
    ag_tensor *d = agi_tape_tensor(t, "ag_detach", 0, NULL);
    if (!d)
        return NULL;
    d->ndim = x->ndim;
    memcpy(d->shape, x->shape, sizeof d->shape);
    d->numel = x->numel;
    d->data = x->data;         /* shared, as in PyTorch */
    d->flags = AGI_LEAF;
    return d;
}

/* ---- backward ----
 *
 * The tape is a list in creation order, so walking it from the root towards
 * older ops is a topological order: every consumer of a tensor is visited
 * before the tensor itself. Two passes:
 *   1. mark what the root depends on and allocate every gradient buffer
 *      (non-leaf buffers on the arena, leaf grads on first use); this is the
 *      only part that can fail, and on failure it undoes what it created, so a
 *      failed backward changes no gradient;
 *   2. run each marked op's backward kernel, which accumulates (+=) into the
 *      buffers of its inputs.
 * No recursion: a chain of any length needs no stack. */

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
    memset(g, 0, (size_t)x->numel * sizeof(float));
    x->gbuf = g;
    x->mark = t->epoch;
    return true;
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

static ag_status run_backward(ag_tape *t, ag_tensor *root, const float *seed, const char *fn)
{
    char sb[160];
    if (!needs_grad(root)) {
        agi_fail(t, AG_ERR_GRAD, "%s: the root does not require grad and has no grad_fn", fn);
        return t->status;
    }
    t->epoch++;
    t->new_grads = 0;
    bool ok = prepare(t, root);
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
    for (int64_t i = 0; i < root->numel; i++)
        groot[i] += seed ? seed[i] : 1.0f;
    if (root->flags & AGI_LEAF)
        return AG_OK;          /* a leaf root: its grad is the seed */

    for (ag_tensor *x = root; x; x = x->prev) {
        if (x->mark != t->epoch)
            continue;
        const agi_op_def *def = &agi_ops[x->op];
        float *dbuf[AGI_INLINE_INPUTS] = { NULL };
        float **din = x->nin > AGI_INLINE_INPUTS ? x->dinv : dbuf;
        bool any = false;
        for (int k = 0; k < x->nin; k++) {
            din[k] = grad_buffer(t, x->in[k]);
            any = any || din[k];
        }
        /* kernels may assume a unary op's din[0] is set; an input can lose
         * requires_grad after recording (ag_set_requires_grad) */
        if (any)
            def->backward(x, x->gbuf, din);
        if (x->flags & AGI_RETAIN)
            for (int64_t i = 0; i < x->numel; i++)
                x->grad->data[i] += x->gbuf[i];
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
