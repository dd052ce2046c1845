/* unary.h - the loop of a unary elementwise kernel, split over the worker
 * pool (agi_parallel_range) when it is large. A kernel is written as a range
 * function over [lo, hi) of an agi_ew (its arrays and parameters); the
 * public kernel is one call of agi_ew_fwd or agi_ew_bwd. */
#ifndef AG_UNARY_H
#define AG_UNARY_H

#include "internal.h"

typedef struct agi_ew {
    const float *x;            /* the input's data (in[0]) */
    float *y;                  /* the result's data: written by forward, read by backward */
    const float *g;            /* backward: dout */
    float *d;                  /* backward: din[0] (accumulated into) */
    float p0, p1;              /* out->param */
} agi_ew;

typedef void (*agi_ew_fn)(const agi_ew *e, int64_t lo, int64_t hi);

typedef struct agi_ew_job {
    agi_ew e;
    agi_ew_fn fn;
} agi_ew_job;

static inline void agi_ew_range(void *p, int64_t lo, int64_t hi)
{
    const agi_ew_job *j = p;
    j->fn(&j->e, lo, hi);
}

static inline void agi_ew_fwd(ag_tensor *out, agi_ew_fn fn)
{
    agi_ew_job j = { { out->in[0]->data, out->data, NULL, NULL, out->param[0], out->param[1] }, fn };
    agi_parallel_range(out->numel, agi_ew_range, &j);
}

static inline void agi_ew_bwd(const ag_tensor *out, const float *dout, float *const *din,
                              agi_ew_fn fn)
{
    agi_ew_job j = { { out->in[0]->data, out->data, dout, din[0], out->param[0], out->param[1] }, fn };
    agi_parallel_range(out->numel, agi_ew_range, &j);
}

#endif /* AG_UNARY_H */
