/* core/tape.c - tapes, recording ops (agi_record), errors. The backward walk is in core/backward.c. */
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

bool agi_usable(ag_tape *t, const char *fn, int k, int n, const ag_tensor *x)
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
    const char *fn = c->api ? c->api : def->api;
    if (!t)
        return agi_fail_last("%s: tape is NULL", fn);
    if (t->status != AG_OK)
        return NULL;
    if (def->n_inputs >= 0 ? c->nin != def->n_inputs : c->nin < 1)
        return agi_fail(t, AG_ERR_ARG, "%s: %d inputs given", fn, c->nin);
    if (!c->in)
        return agi_fail(t, AG_ERR_ARG, "%s: the list of inputs is NULL", fn);
    for (int k = 0; k < c->nin; k++)
        if (!agi_usable(t, fn, k, c->nin, c->in[k]))
            return NULL;
    /* dtypes: float32 in, float32 out, unless the op checks them itself */
    ag_tensor *conv[AGI_INLINE_INPUTS];
    if (!c->any_dtype && agi_keeps_dtype(op)) {
        c->dtype = c->in[0]->dtype;   /* a view of any dtype is of that dtype */
    } else if (!c->any_dtype) {
        c->dtype = AG_FLOAT32;
        int bad = -1;
        for (int k = 0; k < c->nin && bad < 0; k++)
            if (c->in[k]->dtype != AG_FLOAT32)
                bad = k;
        if (bad >= 0 && (c->nin > AGI_INLINE_INPUTS || !agi_promotes(op, c->nin, c->in))) {
            bool any_bool = false;
            for (int k = 0; k < c->nin; k++)
                any_bool = any_bool || c->in[k]->dtype == AG_BOOL;
            if (any_bool && (op == AGI_OP_SUB || op == AGI_OP_SUB_SCALAR ||
                             op == AGI_OP_RSUB_SCALAR || op == AGI_OP_NEG))
                return agi_fail(t, AG_ERR_ARG, "%s: subtraction or negation of a bool tensor is "
                                "not supported (as in PyTorch; use ag_logical_not to invert a "
                                "mask)", fn);
            if (c->nin == 2)
                return agi_fail(t, AG_ERR_ARG, "%s: expected float32 inputs, got %s and %s "
                                "(convert with ag_to_dtype)", fn,
                                agi_dtype_str(c->in[0]->dtype), agi_dtype_str(c->in[1]->dtype));
            return agi_fail(t, AG_ERR_ARG, "%s: expected float32 input%s, got %s for input %d "
                            "(convert with ag_to_dtype)", fn, c->nin > 1 ? "s" : "",
                            agi_dtype_str(c->in[bad]->dtype), bad);
        }
        if (bad >= 0) {        /* PyTorch's promotion: compute in float32 */
            for (int k = 0; k < c->nin; k++) {
                conv[k] = c->in[k];
                if (conv[k]->dtype != AG_FLOAT32) {
                    ag_tensor *in1[1] = { conv[k] };
                    agi_call cc = { .api = fn, .nin = 1, .in = in1, .ip = { AG_FLOAT32 },
                                    .any_dtype = true };
                    conv[k] = agi_record(t, AGI_OP_TO_DTYPE, &cc);
                    if (!conv[k])
                        return NULL;
                }
            }
            c->in = conv;
        }
    }
    bool rg = false;
    for (int k = 0; k < c->nin; k++)
        rg = rg || (c->in[k]->flags & AGI_REQ_GRAD);
    c->save_size = 0;
    c->alias = false;
    if (!def->shape(t, fn, c))
        return NULL;
    ag_tensor *out = agi_tape_alloc_dt(t, fn, c->ndim, c->shape, !c->alias, c->dtype);
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
    if (rg && t->grad_enabled && out->dtype == AG_FLOAT32)   /* only floats carry grads */
        out->flags |= AGI_REQ_GRAD;
    /* an empty result has nothing to compute, whatever its inputs' other
     * sizes (a (2^40, 1, 0) softmax must not walk 2^40 rows) */
    if (out->numel > 0)
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
    if (!agi_usable(t, "ag_detach", 0, 1, x))
        return NULL;
    ag_tensor *d = agi_tape_tensor(t, "ag_detach", 0, NULL);
    if (!d)
        return NULL;
    d->ndim = x->ndim;
    memcpy(d->shape, x->shape, sizeof d->shape);
    d->numel = x->numel;
    d->data = x->data;         /* shared, as in PyTorch */
    d->dtype = x->dtype;
    d->flags = AGI_LEAF;
    return d;
}
