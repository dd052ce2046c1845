/* core/gradcheck.c - ag_gradcheck: analytic gradients against central differences. */
#include "internal.h"

#include <float.h>

#include <math.h>
#include <string.h>

/* sum(v * y) in double */
static double project(const ag_tensor *y, const float *v)
{
    double s = 0.0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)v[i] * (double)y->data[i];
    return s;
}

static bool same_shape(const ag_tensor *y, int ndim, const int64_t *shape)
{
    return y->ndim == ndim && memcmp(y->shape, shape, (size_t)ndim * sizeof shape[0]) == 0;
}

/* f on the copies, recorded on a freshly reset tape; NULL after setting
 * ag_last_error if f fails. */
static ag_tensor *run(ag_tape *t, ag_fn f, void *ud, ag_tensor *const *in)
{
    ag_tape_reset(t);
    ag_tensor *y = f(t, in, ud);
    if (ag_tape_status(t) != AG_OK)
        return agi_fail_last("ag_gradcheck: the function failed: %s", ag_tape_error(t));
    if (!y)
        return agi_fail_last("ag_gradcheck: the function returned NULL");
    if (y->tape && y->tape != t)
        return agi_fail_last("ag_gradcheck: the function returned a tensor of another tape");
    return y;
}

static ag_status check(ag_tape *t, ag_fn f, void *ud, int n, ag_tensor **in,
                       const ag_gradcheck_opts *o, ag_gradcheck_report *rep)
{
    ag_tensor *y = run(t, f, ud, in);
    if (!y)
        return ag_tape_status(t) != AG_OK ? ag_tape_status(t) : AG_ERR_ARG;
    int64_t shape1[AG_MAX_DIMS];
    memcpy(shape1, y->shape, sizeof shape1);
    const int ndim1 = y->ndim;
    const int64_t m = y->numel;
    ag_tensor *seed = ag_tensor_new(y->ndim, y->shape, NULL, false);
    if (!seed) {
        agi_fail_last("ag_gradcheck: out of memory");
        return AG_ERR_NOMEM;
    }
    uint64_t s = o->seed ? o->seed : 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < m; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;          /* xorshift64 */
        seed->data[i] = m == 1 ? 1.0f : (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    ag_status st = AG_OK;
    if (ag_requires_grad(y))
        st = ag_backward_seed(t, y, seed);
    if (st != AG_OK) {
        agi_fail_last("ag_gradcheck: backward failed: %s", ag_tape_error(t));
        ag_tensor_free(seed);
        return st;
    }
    for (int k = 0; k < n && st == AG_OK; k++) {
        if (!ag_requires_grad(in[k]))
            continue;
        const ag_tensor *g = ag_grad(in[k]);
        for (int64_t j = 0; j < in[k]->numel; j++) {
            float *x = &in[k]->data[j];
            const float x0 = *x;
            double lp = 0, lm = 0, h = 0;
            *x = (float)(x0 + o->eps);
            h += (double)*x - x0;
            /* the projection reads seed (y's shape): check each output's
             * shape before projecting it */
            bool same = true;
            ag_tensor *yp = run(t, f, ud, in);
            if (yp && (same = same_shape(yp, ndim1, shape1)))
                lp = project(yp, seed->data);
            *x = (float)(x0 - o->eps);
            h += x0 - (double)*x;
            ag_tensor *ym = yp && same ? run(t, f, ud, in) : NULL;
            if (ym && (same = same_shape(ym, ndim1, shape1)))
                lm = project(ym, seed->data);
            *x = x0;
            if (!same) {
                agi_fail_last("ag_gradcheck: the function's output changed shape");
                st = AG_ERR_ARG;
                break;
            }
            if (!ym) {
                st = ag_tape_status(t) != AG_OK ? ag_tape_status(t) : AG_ERR_ARG;
                break;
            }
            const double num = (lp - lm) / h;
            const double ana = g ? g->data[j] : 0.0;
            double r = fabs(ana - num) / (o->atol + o->rtol * fabs(num));
            if (isnan(r))
                r = (isnan(ana) && isnan(num)) ? 0.0 : INFINITY;
            rep->checked++;
            if (rep->input < 0 || r > rep->ratio) {
                rep->input = k;
                rep->index = j;
                rep->analytic = ana;
                rep->numeric = num;
                rep->ratio = r;
            }
        }
    }
    ag_tensor_free(seed);
    if (st == AG_OK && rep->input >= 0 && rep->ratio > 1.0) {
        agi_fail_last("ag_gradcheck: input %d element %lld: backward gives %.9g, central "
                      "differences %.9g (%.3g times the tolerance)",
                      rep->input, (long long)rep->index, rep->analytic, rep->numeric, rep->ratio);
        st = AG_ERR_GRAD;
    }
    return st;
}

ag_status ag_gradcheck(ag_fn f, void *ud, int n, ag_tensor *const *inputs,
                       const ag_gradcheck_opts *opts, ag_gradcheck_report *report)
{
    ag_gradcheck_report rep_local;
    ag_gradcheck_report *rep = report ? report : &rep_local;
    memset(rep, 0, sizeof *rep);
    rep->input = -1;
    if (!f || n < 1 || !inputs) {
        agi_fail_last("ag_gradcheck: %s", !f ? "the function is NULL"
                                       : n < 1 ? "needs at least one input"
                                               : "the list of inputs is NULL");
        return AG_ERR_ARG;
    }
    for (int k = 0; k < n; k++)
        if (!inputs[k]) {
            agi_fail_last("ag_gradcheck: input %d is NULL", k);
            return AG_ERR_ARG;
        }
    ag_gradcheck_opts o = opts ? *opts : (ag_gradcheck_opts){ 0 };
    /* 0 asks for the default; a NaN, negative or infinite value is the
     * caller's mistake, never silently replaced (an infinite atol would pass
     * any gradient) */
    const struct { const char *name; double *v, def; } tol[3] = {
        { "eps", &o.eps, 1e-3 }, { "atol", &o.atol, 1e-3 }, { "rtol", &o.rtol, 1e-2 } };
    for (int i = 0; i < 3; i++) {
        const double v = *tol[i].v;
        if (v == 0.0) {
            *tol[i].v = tol[i].def;
        } else if (!(v > 0.0 && v <= DBL_MAX)) {
            agi_fail_last("ag_gradcheck: %s is %g; it must be positive and finite "
                          "(or 0 for the default %g)", tol[i].name, v, tol[i].def);
            return AG_ERR_ARG;
        }
    }

    agi_alloc a = agi_current_alloc();
    ag_tensor **in = agi_malloc(a, (size_t)n * sizeof *in);
    ag_tape *t = ag_tape_new();
    ag_status st = (in && t) ? AG_OK : AG_ERR_NOMEM;
    int made = 0;
    for (; st == AG_OK && made < n; made++) {
        const ag_tensor *x = inputs[made];
        in[made] = agi_leaf_new("ag_gradcheck", x->ndim, x->shape, x->dtype);
        if (!in[made]) {
            st = AG_ERR_NOMEM;
            break;
        }
        memcpy(in[made]->data, x->data, (size_t)x->numel * agi_dtypes[x->dtype].size);
        if (ag_requires_grad(x))
            in[made]->flags |= AGI_REQ_GRAD;
    }
    if (st == AG_OK)
        st = check(t, f, ud, n, in, &o, rep);
    else
        agi_fail_last("ag_gradcheck: out of memory");
    for (int k = 0; in && k < made; k++)
        ag_tensor_free(in[k]);
    agi_free(a, in, (size_t)n * sizeof *in);
    ag_tape_free(t);
    return st;
}
