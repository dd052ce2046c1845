/* ops_arith.c - add, sub, mul (broadcasting), neg, and ops with a scalar operand.
 *
 * Shapes: a, b are the inputs, out the broadcast result; dout has out's shape,
 * da and db have the shapes of a and b (broadcast dimensions are summed). */
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

/* ---- add: out = a + b ---- */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_ADD, a, b); }
void agi_add_fwd(ag_tensor *out) { BINARY_FORWARD(out, a + b); }
/* da = g, db = g */
void agi_add_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g, g);
}

/* ---- sub: out = a - b ---- */
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_SUB, a, b); }
void agi_sub_fwd(ag_tensor *out) { BINARY_FORWARD(out, a - b); }
/* da = g, db = -g */
void agi_sub_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g, -g);
}

/* ---- mul: out = a * b ---- */
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return agi_binary(t, AGI_OP_MUL, a, b); }
void agi_mul_fwd(ag_tensor *out) { BINARY_FORWARD(out, a * b); }
/* da = g * b, db = g * a */
void agi_mul_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    BINARY_BACKWARD(out, dout, din, g * b, g * a);
}

/* ---- neg: out = -a ---- */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *a) { return agi_unary(t, AGI_OP_NEG, a, 0.0f); }
void agi_neg_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = -x[i];
}
/* da = -g  (also rsub_scalar's backward) */
void agi_neg_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] -= dout[i];
}

/* ---- add_scalar: out = a + s;  sub_scalar: out = a - s ---- */
ag_tensor *ag_add_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_ADD_SCALAR, a, s); }
ag_tensor *ag_sub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_SUB_SCALAR, a, s); }
void agi_adds_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] + s;
}
void agi_subs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] - s;
}
/* da = g  (for a + s and a - s alike) */
void agi_adds_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i];
}

/* ---- rsub_scalar: out = s - a;  backward is neg's: da = -g ---- */
ag_tensor *ag_rsub_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_RSUB_SCALAR, a, s); }
void agi_rsubs_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = s - x[i];
}

/* ---- mul_scalar: out = a * s ---- */
ag_tensor *ag_mul_scalar(ag_tape *t, ag_tensor *a, float s) { return agi_unary(t, AGI_OP_MUL_SCALAR, a, s); }
void agi_muls_fwd(ag_tensor *out)
{
    const float *x = out->in[0]->data;
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        out->data[i] = x[i] * s;
}
/* da = g * s */
void agi_muls_bwd(const ag_tensor *out, const float *dout, float *const *din)
{
    const float s = out->param[0];
    for (int64_t i = 0; i < out->numel; i++)
        din[0][i] += dout[i] * s;
}
