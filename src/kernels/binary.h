/* kernels/binary.h - the broadcasting binary-op loops (BINARY_FORWARD, BINARY_BACKWARD)
 * shared by the ops_*.c files with two-tensor elementwise ops. */
#ifndef AG_BINARY_H
#define AG_BINARY_H

#include "internal.h"

/* ---- the binary-op loops ----
 * Each op writes its element formula once; these macros expand it into a
 * same-shape loop, two scalar-operand loops and the general broadcast loop, so
 * no hot loop calls through a function pointer. In the formulas, a and b are
 * the operands' elements and g is dout's element. */

#define BINARY_FORWARD(out, EXPR)                                                 \
    do {                                                                          \
        const ag_tensor *A_ = (out)->in[0], *B_ = (out)->in[1];                   \
        const float *pa_ = A_->data, *pb_ = B_->data;                             \
        float *po_ = (out)->data;                                                 \
        const int64_t n_ = (out)->numel;                                          \
        if (n_ == 0)                                                              \
            break;                                                                \
        if (A_->numel == n_ && B_->numel == n_) {                                 \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float a = pa_[i_], b = pb_[i_];                             \
                po_[i_] = (EXPR);                                                 \
            }                                                                     \
        } else if (A_->numel == 1 && B_->numel == n_) {                           \
            const float a = pa_[0];                                               \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float b = pb_[i_];                                          \
                po_[i_] = (EXPR);                                                 \
            }                                                                     \
        } else if (B_->numel == 1 && A_->numel == n_) {                           \
            const float b = pb_[0];                                               \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float a = pa_[i_];                                          \
                po_[i_] = (EXPR);                                                 \
            }                                                                     \
        } else {                                                                  \
            agi_bcast bc_;                                                        \
            agi_bcast_init(&bc_, (out), A_, B_);                                  \
            AGI_BCAST_LOOP(&bc_, io_, ia_, ib_, {                                 \
                const float a = pa_[ia_], b = pb_[ib_];                           \
                po_[io_] = (EXPR);                                                \
            });                                                                   \
        }                                                                         \
    } while (0)

/* da += reduce(DA), db += reduce(DB), each only if that input needs a grad.
 * A scalar operand's gradient is summed in double. */
#define BINARY_BACKWARD(out, dout, din, DA, DB)                                   \
    do {                                                                          \
        const ag_tensor *A_ = (out)->in[0], *B_ = (out)->in[1];                   \
        const float *pa_ = A_->data, *pb_ = B_->data;                             \
        float *da_ = (din)[0], *db_ = (din)[1];                                   \
        const int64_t n_ = (out)->numel;                                          \
        (void)pa_;                                                                \
        (void)pb_;                                                                \
        if (n_ == 0)                                                              \
            break;                                                                \
        if (A_->numel == n_ && B_->numel == n_) {                                 \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float a = pa_[i_], b = pb_[i_], g = (dout)[i_];             \
                (void)a;                                                          \
                (void)b;                                                          \
                if (da_)                                                          \
                    da_[i_] += (DA);                                              \
                if (db_)                                                          \
                    db_[i_] += (DB);                                              \
            }                                                                     \
        } else if (A_->numel == 1 && B_->numel == n_) {                           \
            const float a = pa_[0];                                               \
            double sa_ = 0.0;                                                     \
            (void)a;                                                              \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float b = pb_[i_], g = (dout)[i_];                          \
                (void)b;                                                          \
                sa_ += (DA);                                                      \
                if (db_)                                                          \
                    db_[i_] += (DB);                                              \
            }                                                                     \
            if (da_)                                                              \
                da_[0] += (float)sa_;                                             \
        } else if (B_->numel == 1 && A_->numel == n_) {                           \
            const float b = pb_[0];                                               \
            double sb_ = 0.0;                                                     \
            (void)b;                                                              \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                 \
                const float a = pa_[i_], g = (dout)[i_];                          \
                (void)a;                                                          \
                if (da_)                                                          \
                    da_[i_] += (DA);                                              \
                sb_ += (DB);                                                      \
            }                                                                     \
            if (db_)                                                              \
                db_[0] += (float)sb_;                                             \
        } else {                                                                  \
            agi_bcast bc_;                                                        \
            agi_bcast_init(&bc_, (out), A_, B_);                                  \
            AGI_BCAST_LOOP(&bc_, io_, ia_, ib_, {                                 \
                const float a = pa_[ia_], b = pb_[ib_], g = (dout)[io_];          \
                (void)a;                                                          \
                (void)b;                                                          \
                if (da_)                                                          \
                    da_[ia_] += (DA);                                             \
                if (db_)                                                          \
                    db_[ib_] += (DB);                                             \
            });                                                                   \
        }                                                                         \
    } while (0)

/* ---- the kernels ----
 * BINARY_FORWARD_FN(name, EXPR) and BINARY_BACKWARD_FN(name, DA, DB) define
 * an op's forward and backward kernels (and the backward's tile kernel,
 * name_tile, for same-shape operands): the same-shape case (the common one)
 * is split over the worker pool (agi_parallel_range: fixed ranges, each
 * element written by one task, so bit-identical for any thread count); the
 * scalar-operand cases (whose gradient is a sum) and broadcasting run the
 * loops above on the caller's thread. */

#define BINARY_FORWARD_FN(fname, EXPR)                                            \
    static void fname##_same_(void *p_, int64_t lo_, int64_t hi_)                 \
    {                                                                             \
        const ag_tensor *o_ = p_;                                                 \
        const float *pa_ = o_->in[0]->data, *pb_ = o_->in[1]->data;               \
        float *po_ = o_->data;                                                    \
        for (int64_t i_ = lo_; i_ < hi_; i_++) {                                  \
            const float a = pa_[i_], b = pb_[i_];                                 \
            po_[i_] = (EXPR);                                                     \
        }                                                                         \
    }                                                                             \
    void fname(ag_tensor *out)                                                    \
    {                                                                             \
        if (out->in[0]->numel == out->numel && out->in[1]->numel == out->numel)   \
            agi_parallel_range(out->numel, fname##_same_, out);                   \
        else                                                                      \
            BINARY_FORWARD(out, EXPR);                                            \
    }

/* The same-shape backward's arrays: the operands, dout and the two grads
 * (either may be NULL), all indexed alike. */
typedef struct agi_binary_job {
    const float *a, *b, *g;
    float *da, *db;
} agi_binary_job;

#define BINARY_BACKWARD_FN(fname, DA, DB)                                         \
    static void fname##_same_(void *p_, int64_t lo_, int64_t hi_)                 \
    {                                                                             \
        const agi_binary_job *j_ = p_;                                            \
        const float *pa_ = j_->a, *pb_ = j_->b, *pg_ = j_->g;                     \
        float *da_ = j_->da, *db_ = j_->db;                                       \
        if (da_ && db_) {                                                         \
            for (int64_t i_ = lo_; i_ < hi_; i_++) {                              \
                const float a = pa_[i_], b = pb_[i_], g = pg_[i_];                \
                (void)a;                                                          \
                (void)b;                                                          \
                da_[i_] += (DA);                                                  \
                db_[i_] += (DB);                                                  \
            }                                                                     \
        } else if (da_) {                                                         \
            for (int64_t i_ = lo_; i_ < hi_; i_++) {                              \
                const float a = pa_[i_], b = pb_[i_], g = pg_[i_];                \
                (void)a;                                                          \
                (void)b;                                                          \
                da_[i_] += (DA);                                                  \
            }                                                                     \
        } else if (db_) {                                                         \
            for (int64_t i_ = lo_; i_ < hi_; i_++) {                              \
                const float a = pa_[i_], b = pb_[i_], g = pg_[i_];                \
                (void)a;                                                          \
                (void)b;                                                          \
                db_[i_] += (DB);                                                  \
            }                                                                     \
        }                                                                         \
    }                                                                             \
    void fname(const ag_tensor *out, const float *dout, float *const *din)        \
    {                                                                             \
        if (out->in[0]->numel == out->numel && out->in[1]->numel == out->numel) { \
            agi_binary_job j_ = { out->in[0]->data, out->in[1]->data, dout,       \
                                  din[0], din[1] };                               \
            agi_parallel_range(out->numel, fname##_same_, &j_);                   \
        } else {                                                                  \
            BINARY_BACKWARD(out, dout, din, DA, DB);                              \
        }                                                                         \
    }                                                                             \
    void fname##_tile(const ag_tensor *out, const float *dout, float *const *din, \
                      int64_t lo_, int64_t hi_)                                   \
    {                                                                             \
        agi_binary_job j_ = { out->in[0]->data + lo_, out->in[1]->data + lo_,     \
                              dout, din[0], din[1] };                             \
        fname##_same_(&j_, 0, hi_ - lo_);                                         \
    }

#endif /* AG_BINARY_H */
