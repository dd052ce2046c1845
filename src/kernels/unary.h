/* kernels/unary.h - the loop of a unary elementwise kernel, split over the worker
 * pool (agi_parallel_range) when it is large. A kernel is written as a range
 * function over [lo, hi) of an agi_ew (its arrays and parameters); the
 * forward kernel is one call of agi_ew_fwd, the backward and tile kernels
 * come from AGI_EW_BWD. */
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

/* The same range function over [lo, hi) of out, with dout and din[0] pointing
 * at element lo (an agi_tile_fn's body). */
static inline void agi_ew_tile(const ag_tensor *out, const float *dout, float *const *din,
                               int64_t lo, int64_t hi, agi_ew_fn fn)
{
    agi_ew e = { out->in[0]->data + lo, out->data + lo, dout, din[0], out->param[0],
                 out->param[1] };
    fn(&e, 0, hi - lo);
}

/* Defines the backward kernel NAME (the whole tensor, over the pool) and its
 * tile kernel NAME_tile from one range function. */
#define AGI_EW_BWD(name, fn)                                                        \
    void name(const ag_tensor *out, const float *dout, float *const *din)           \
    {                                                                               \
        agi_ew_bwd(out, dout, din, fn);                                             \
    }                                                                               \
    void name##_tile(const ag_tensor *out, const float *dout, float *const *din,    \
                     int64_t lo, int64_t hi)                                        \
    {                                                                               \
        agi_ew_tile(out, dout, din, lo, hi, fn);                                    \
    }

/* AGI_EW_WIDE(name) defines the range function name from an always-inline
 * name_body with the same parameters, compiled at each vector width kernels/simd.c
 * knows and dispatched by agi_simd(). For loops worth it (exp, sin, ...,
 * compute-bound); memory-bound ones are plain range functions. */
#if defined(__GNUC__) || defined(__clang__)
#define AGI_EW_INLINE inline __attribute__((always_inline))
#else
#define AGI_EW_INLINE inline
#endif
#if AGI_SIMD_CLONES
#define AGI_EW_WIDE(name)                                                            \
    __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static void        \
    name##_x512(const agi_ew *e, int64_t lo, int64_t hi)                             \
    {                                                                                \
        name##_body(e, lo, hi);                                                      \
    }                                                                                \
    __attribute__((target("avx2"))) static void name##_x256(const agi_ew *e,         \
                                                            int64_t lo, int64_t hi)  \
    {                                                                                \
        name##_body(e, lo, hi);                                                      \
    }                                                                                \
    static void name(const agi_ew *e, int64_t lo, int64_t hi)                        \
    {                                                                                \
        switch (agi_simd()) {                                                        \
        case AGI_SIMD_AVX512:                                                        \
            name##_x512(e, lo, hi);                                                  \
            break;                                                                   \
        case AGI_SIMD_AVX2:                                                          \
            name##_x256(e, lo, hi);                                                  \
            break;                                                                   \
        default:                                                                     \
            name##_body(e, lo, hi);                                                  \
        }                                                                            \
    }
#else
#define AGI_EW_WIDE(name)                                                            \
    static void name(const agi_ew *e, int64_t lo, int64_t hi)                        \
    {                                                                                \
        name##_body(e, lo, hi);                                                      \
    }
#endif

#endif /* AG_UNARY_H */
