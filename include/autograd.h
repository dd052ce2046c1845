/* autograd.h - libautograd: reverse-mode automatic differentiation for C11.
 *
 * OVERVIEW
 *
 *   libautograd computes gradients the way PyTorch's autograd does. Tensors are
 *   contiguous, row-major, with 0 to AG_MAX_DIMS dimensions, of dtype float32
 *   (the default, and the only one that carries gradients), int64 or bool. Operations
 *   are recorded onto a *tape* (a Wengert list); ag_backward() walks the tape in
 *   reverse creation order and accumulates gradients into the leaf tensors that
 *   asked for them (requires_grad), exactly as `loss.backward()` does.
 *
 * CONTENTS (in this order below)
 *
 *   the version; status and errors, the allocator, tapes, tensors (leaves) and
 *   accessors; ops: arithmetic and elementwise math, activations, shapes and
 *   indexing, reductions and softmax, sorting and indices, matmul; losses
 *   (mse_loss, cross_entropy); the random generator; nn.Linear; optimizers
 *   (SGD, Adam, AdamW); backward; ag_gradcheck; printing in PyTorch's format.
 *   Each op is named after its PyTorch counterpart (ag_log_softmax is
 *   torch.log_softmax) and follows its semantics: broadcasting, negative dims,
 *   NaN/inf, gradients at kinks.
 *
 * EXAMPLE  (built and run by the test suite, so it cannot go stale)
 *
 * @example-begin
 *   #include <stdio.h>
 *   #include "autograd.h"
 *
 *   int main(void) {
 *       ag_tape *t = ag_tape_new();
 *       ag_tensor *x = ag_scalar(1.0f, true);      // leaves: the caller owns them
 *       ag_tensor *w = ag_scalar(2.0f, true);
 *       ag_tensor *b = ag_scalar(2.0f, true);
 *       ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);   // y = w*x + b, owned by t
 *       ag_backward(t, y);
 *       if (ag_tape_status(t) != AG_OK) {               // one check for the chain
 *           fprintf(stderr, "%s\n", ag_tape_error(t));
 *           return 1;
 *       }
 *       ag_print(ag_grad(x));                      // tensor(2.)
 *       ag_print(ag_grad(w));                      // tensor(1.)
 *       ag_print(ag_grad(b));                      // tensor(1.)
 *       ag_tape_free(t);
 *       ag_tensor_free(x); ag_tensor_free(w); ag_tensor_free(b);
 *       return 0;
 *   }
 * @example-end
 *
 * OWNERSHIP (the one rule)
 *
 *   - Every tensor an op returns is owned by the tape that recorded it. It lives
 *     until ag_tape_reset() or ag_tape_free(); never pass it to ag_tensor_free().
 *     ag_tape_reset() drops the recorded step but keeps the memory (an arena), so
 *     a loop that records the same graph every step makes no heap allocation
 *     after the first step.
 *   - Leaves (inputs, parameters) come from ag_tensor_new(), ag_zeros(), ag_ones(),
 *     ag_full() and ag_scalar(); the caller frees them with ag_tensor_free(). A
 *     leaf's gradient belongs to the leaf: it survives tape resets and accumulates
 *     across backward calls until ag_zero_grad(), as in PyTorch. A leaf must
 *     outlive every tape step that uses it.
 *   - Pointers returned by ag_data(), ag_shape() and ag_grad() are views into the
 *     tensor and are valid as long as the tensor is.
 *   - Every allocation goes through one allocator (ag_set_allocator); malloc and
 *     free by default. A tape or leaf remembers the allocator it was created with.
 *     (The worker threads' stacks are the C library's: thrd_create takes no
 *     allocator.)
 *
 * ERRORS (the other rule)
 *
 *   - Ops take a tape and return a tensor. The first error on a tape is sticky:
 *     after it, every op on that tape returns NULL and does nothing, and an op
 *     given a NULL input records an error and returns NULL. So expressions chain
 *     safely and the caller checks ag_tape_status() once. The message names the
 *     function and the shapes, e.g. "ag_add: shapes (2,3) and (4,5) cannot be
 *     broadcast". ag_tape_reset() clears it.
 *   - Functions without a tape return NULL or a status, and describe their last
 *     failure on the calling thread in ag_last_error().
 *   - No function exits, aborts or asserts on anything a caller passes, and a
 *     failed call leaves every existing tensor as it was.
 *   - NaN and inf are values, not errors: sqrt(-1) is NaN, as in PyTorch.
 *
 * THREADS
 *
 *   There is no hidden global state: the only globals are the allocator, the
 *   thread count the caller sets, and the settings read once from the
 *   environment (AG_NUM_THREADS, AG_GEMM_KERNEL, AG_SIMD, AG_SPIN_US; see below). Different tapes can be used on different
 *   threads without locks; one tape, and a leaf that receives gradients, must be
 *   used by one thread at a time. Large kernels (matmul, elementwise ops on
 *   long tensors) can use worker threads: see ag_set_num_threads(). A matrix
 *   product keeps its packing buffers on the stack (about 230 KB), so a thread
 *   that records ops needs a stack of at least 512 KB (glibc's default is 8 MB).
 */
#ifndef AUTOGRAD_H
#define AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------- */

/* The version of this header, in semantic versioning (semver.org): a PATCH
 * release fixes bugs only, a MINOR one adds API, a MAJOR one may break it;
 * while MAJOR is 0, a MINOR release may break it too. AG_VERSION is
 * MAJOR * 10000 + MINOR * 100 + PATCH, for `#if AG_VERSION >= 200`. CMake reads
 * the version of the build and of the installed package from these lines. */
#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 2
#define AG_VERSION_PATCH 0
#define AG_VERSION_STRING "0.2.0"
#define AG_VERSION (AG_VERSION_MAJOR * 10000 + AG_VERSION_MINOR * 100 + AG_VERSION_PATCH)

/* The version of the compiled library ("0.2.0"), a constant string: compare it
 * with AG_VERSION_STRING to detect a header that does not match the library. */
const char *ag_version(void);

#define AG_MAX_DIMS 8

typedef enum ag_status {
    AG_OK = 0,
    AG_ERR_ARG,     /* NULL or out-of-range argument */
    AG_ERR_SHAPE,   /* shapes that do not fit the operation */
    AG_ERR_NOMEM,   /* the allocator returned NULL, or a size overflowed */
    AG_ERR_TAPE,    /* a tensor recorded on another tape */
    AG_ERR_GRAD     /* backward asked for something autograd cannot do */
} ag_status;

typedef struct ag_tape ag_tape;
typedef struct ag_tensor ag_tensor;

/* ---- status and errors ------------------------------------------------- */

/* A constant name for a status ("AG_ERR_SHAPE"); never NULL. */
const char *ag_status_string(ag_status s);

/* The message of the last failed tape-less call on this thread ("" if none).
 * Valid until the next failing call on the same thread. */
const char *ag_last_error(void);

/* ---- allocator ---------------------------------------------------------- */

/* One allocator for everything, in Lua's style: called as f(ud, NULL, 0, n) to
 * allocate n bytes (return NULL on failure) and f(ud, p, n, 0) to free p, whose
 * size was n. It is never asked to resize. */
typedef void *(*ag_alloc_fn)(void *ud, void *ptr, size_t old_size, size_t new_size);

/* Sets the allocator used by tapes and leaves created from now on; NULL
 * restores malloc/free. Not thread-safe: set it before creating anything. */
void ag_set_allocator(ag_alloc_fn f, void *ud);

/* ---- tapes ---------------------------------------------------------------- */

/* A new empty tape, or NULL if allocation failed (see ag_last_error). */
ag_tape *ag_tape_new(void);

/* Frees the tape and every tensor it owns. NULL is ignored. */
void ag_tape_free(ag_tape *t);

/* Drops every tensor the tape recorded and clears its error; keeps the memory
 * for the next step. Leaves and their gradients are untouched. */
void ag_tape_reset(ag_tape *t);

/* The tape's first error since creation or the last reset (AG_OK if none);
 * AG_ERR_ARG for a NULL tape. */
ag_status ag_tape_status(const ag_tape *t);

/* The message of the tape's first error, "" if none. Owned by the tape.
 * For a NULL tape, a static "ag_tape_error: tape is NULL". */
const char *ag_tape_error(const ag_tape *t);

/* Grad mode (torch.no_grad): while disabled, ops on this tape compute values
 * but their results do not require grad. Returns the previous mode. */
bool ag_tape_set_grad_enabled(ag_tape *t, bool enabled);

/* ---- leaf tensors (owned by the caller) ---------------------------------- */

/* A new leaf of ndim dimensions (0..AG_MAX_DIMS; 0 is a scalar and shape may
 * then be NULL), copying numel floats from data, or zeros if data is NULL.
 * Returns NULL on a bad shape or allocation failure (see ag_last_error).
 * An empty leaf may have sizes whose non-zero ones multiply past what any
 * tensor can hold, e.g. (0, 2^62, 2^62), as in PyTorch; ops refuse such a
 * tensor (AG_ERR_NOMEM), and it can only be printed and freed. */
ag_tensor *ag_tensor_new(int ndim, const int64_t *shape, const float *data, bool requires_grad);
ag_tensor *ag_zeros(int ndim, const int64_t *shape, bool requires_grad);
ag_tensor *ag_ones(int ndim, const int64_t *shape, bool requires_grad);
ag_tensor *ag_full(int ndim, const int64_t *shape, float value, bool requires_grad);
/* A 0-dim leaf holding v: torch.tensor(v). */
ag_tensor *ag_scalar(float v, bool requires_grad);

/* Frees a leaf and its gradient (and the gradient's own, if it was made to
 * require grad). NULL, tape-owned tensors (the tape frees those) and
 * gradients (their leaf frees them) are ignored. */
void ag_tensor_free(ag_tensor *x);

/* ---- dtypes ------------------------------------------------------------------
 * Every tensor has one: float32 (what every function above makes), int64
 * (indices, class targets, counts) or bool (masks, comparisons). Only float32
 * tensors can require grad. Ops take float32 unless their contract says
 * otherwise; as in PyTorch, an int64 or bool input is promoted to float32 by
 * the ops whose PyTorch result is float32 (a float scalar operand: x * 0.5;
 * a float32 other operand: x + y; true division; exp, log, sin, cos, tan,
 * sqrt, pow, tanh, sigmoid). Any other op given an int64 or bool input is an
 * AG_ERR_ARG naming the op and the dtypes (convert with ag_to_dtype). */
typedef enum ag_dtype {
    AG_FLOAT32 = 0,
    AG_INT64,
    AG_BOOL
} ag_dtype;

/* "float32", "int64", "bool" ("unknown" for another value). */
const char *ag_dtype_name(ag_dtype d);
/* x.dtype (AG_FLOAT32 for NULL). */
ag_dtype ag_dtype_of(const ag_tensor *x);

/* Leaves of int64 and bool (they never require grad), caller-owned as every
 * leaf: torch.tensor(data, dtype=...), copying numel values, or zeros/False
 * if data is NULL. Any non-zero byte in a bool array is True. */
ag_tensor *ag_tensor_i64(int ndim, const int64_t *shape, const int64_t *data);
ag_tensor *ag_tensor_bool(int ndim, const int64_t *shape, const bool *data);
/* torch.zeros / torch.ones(shape, dtype=dt); AG_ERR_ARG for an unknown dt. */
ag_tensor *ag_zeros_dtype(int ndim, const int64_t *shape, ag_dtype dt);
ag_tensor *ag_ones_dtype(int ndim, const int64_t *shape, ag_dtype dt);
/* torch.full(shape, v) for int64 and bool, and their 0-dim torch.tensor(v). */
ag_tensor *ag_full_i64(int ndim, const int64_t *shape, int64_t v);
ag_tensor *ag_full_bool(int ndim, const int64_t *shape, bool v);
ag_tensor *ag_scalar_i64(int64_t v);
ag_tensor *ag_scalar_bool(bool v);
/* torch.arange(start, end, step, dtype=dt) for float32 or int64: the
 * ceil((end - start) / step) values start + i * step (computed in double);
 * for int64, start, end and step are first truncated to integers (as PyTorch
 * does; |values| < 9e15). AG_ERR_ARG (ag_last_error) for a
 * zero or non-finite step, a step whose sign points away from end, or
 * non-finite bounds, as PyTorch. A 1-dim leaf. */
ag_tensor *ag_arange(double start, double end, double step, ag_dtype dt);
/* torch.linspace(start, end, steps): steps float32 values from start to end
 * inclusive: both ends exact, inner values within 2 ulp of PyTorch's
 * (whose vectorised kernel rounds a few of them differently). */
ag_tensor *ag_linspace(double start, double end, int64_t steps);

/* Constants inside an expression (torch.full(...), torch.arange(...) in a
 * model's forward): tensors owned by t, freed with its reset like op results,
 * that never require grad, so a training loop creates and frees no leaf for
 * them. Errors (bad shape, ag_arange's) go on the tape; NULL then. */
ag_tensor *ag_const_full(ag_tape *t, int ndim, const int64_t *shape, float value);
ag_tensor *ag_const_full_i64(ag_tape *t, int ndim, const int64_t *shape, int64_t value);
ag_tensor *ag_const_arange(ag_tape *t, double start, double end, double step, ag_dtype dt);

/* x.to(dt), x.float(), x.long(), x.bool(), recorded on t: float32 -> int64
 * truncates toward zero (NaN, inf and out-of-range values give INT64_MIN, as
 * PyTorch on x86), anything -> bool is x != 0 (NaN is True), bool -> 0 or 1.
 * Converting to x's own dtype returns x itself, as PyTorch does. The result
 * does not require grad (no gradient flows through a conversion from or to
 * an integer dtype). */
ag_tensor *ag_to_dtype(ag_tape *t, ag_tensor *x, ag_dtype dt);
ag_tensor *ag_float(ag_tape *t, ag_tensor *x);
ag_tensor *ag_long(ag_tape *t, ag_tensor *x);
ag_tensor *ag_bool(ag_tape *t, ag_tensor *x);

/* ---- accessors (all accept NULL) ------------------------------------------ */

/* The elements of a float32 tensor, row-major; writable. NULL for NULL, and
 * NULL with ag_last_error set for an int64 or bool tensor (never a
 * reinterpretation): use the accessor of its dtype. */
float *ag_data(ag_tensor *x);
/* The elements of an int64 / a bool tensor; NULL (and ag_last_error) for
 * another dtype. */
int64_t *ag_data_i64(ag_tensor *x);
bool *ag_data_bool(ag_tensor *x);
/* ag_ndim(x) sizes; NULL for NULL (and may be non-NULL for a 0-dim tensor). */
const int64_t *ag_shape(const ag_tensor *x);
/* Number of dimensions, -1 for NULL. */
int ag_ndim(const ag_tensor *x);
/* Number of elements (1 for a 0-dim tensor), -1 for NULL. */
int64_t ag_numel(const ag_tensor *x);
/* The single element of a one-element tensor as a float (of any dtype, as
 * float(x.item()): an int64 beyond 2^24 rounds); NaN if x is NULL or does not
 * have exactly one element. */
float ag_item(const ag_tensor *x);
/* The single element as an int64 (x.item() of an int64 or bool tensor; a
 * float32 one truncated toward zero); 0 if x is NULL or not one element. */
int64_t ag_item_i64(const ag_tensor *x);

/* x.grad: NULL until a backward pass reaches x. A leaf's grad is owned by the
 * leaf; a non-leaf has one only after ag_retain_grad(), owned by its tape. */
ag_tensor *ag_grad(const ag_tensor *x);
bool ag_requires_grad(const ag_tensor *x);
/* x.is_leaf: true for tensors made by the caller, ag_detach() results and,
 * as in PyTorch, every tensor that does not require grad. */
bool ag_is_leaf(const ag_tensor *x);
/* Sets requires_grad on a tensor the caller made or an ag_detach() result.
 * AG_ERR_ARG for NULL or any other op's result, even one ag_is_leaf() calls a
 * leaf because it does not require grad (PyTorch allows that one; here,
 * ag_detach it first), and for requiring grad on an int64 or bool tensor
 * (only floating point tensors can require gradients). */
ag_status ag_set_requires_grad(ag_tensor *x, bool requires_grad);
/* x.grad = g: copies g (float32, x's shape; any tensor, a leaf or a recorded
 * result, only read) into x's grad, creating it from x's allocator if x has
 * none and reusing its memory if it has one. x.grad = None for g == NULL: the
 * grad is freed (pointers ag_grad returned for it become invalid) and the
 * next backward starts a new one from zeros. The grad then behaves as one
 * backward made: ag_backward accumulates into it, optimizers step with it,
 * ag_zero_grad zeroes it. Unlike PyTorch, which makes x.grad the tensor g
 * itself, x.grad is a copy: later changes to g do not reach it, and it does
 * not require grad. x must be a float32 leaf made by the caller (it need not
 * require grad). AG_ERR_ARG (ag_last_error) for a NULL x, an op's result or
 * an ag_detach result, an int64 or bool x or g, or a g of another shape;
 * AG_ERR_NOMEM if the grad cannot be allocated. On error x.grad is as it was. */
ag_status ag_set_grad(ag_tensor *x, const ag_tensor *g);
/* Sets x.grad to zeros, keeping its memory (x.grad.zero_()). NULL-safe. */
void ag_zero_grad(ag_tensor *x);
/* Asks backward to keep the gradient of a non-leaf x (x.retain_grad()).
 * A no-op for leaves, NULL, and (where PyTorch raises) a tensor that does
 * not require grad. */
void ag_retain_grad(ag_tensor *x);

/* ---- ops (results owned by the tape; NULL on error, see ERRORS) -----------
 * Binary ops broadcast their operands like PyTorch. */

ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b);     /* a + b */
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b);     /* a - b */
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b);     /* a * b */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *a);                   /* -a */
ag_tensor *ag_add_scalar(ag_tape *t, ag_tensor *a, float s);   /* a + s */
ag_tensor *ag_sub_scalar(ag_tape *t, ag_tensor *a, float s);   /* a - s */
ag_tensor *ag_rsub_scalar(ag_tape *t, ag_tensor *a, float s);  /* s - a (torch.rsub) */
ag_tensor *ag_mul_scalar(ag_tape *t, ag_tensor *a, float s);   /* a * s */
/* a / b, true division (torch.div): x / 0 is +-inf, 0 / 0 NaN; no error. */
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_div_scalar(ag_tape *t, ag_tensor *a, float s);   /* a / s */
/* s / a (Python's s / x, computed as PyTorch does, a.reciprocal() * s, so a
 * zero in a gives +-inf; grad_fn MulBackward0). The tensor comes first, as in
 * ag_rsub_scalar. */
ag_tensor *ag_rdiv_scalar(ag_tape *t, ag_tensor *a, float s);
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, float p);          /* a ** p */
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sin(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a);
/* torch.pow(a, b), a and b tensors, broadcasting. The gradients are PyTorch's:
 * d/da is 0 where b == 0; d/db is 0 where a == 0 and b >= 0, and
 * a ** b * log(a) elsewhere (NaN for a < 0). */
ag_tensor *ag_pow_tensor(ag_tape *t, ag_tensor *a, ag_tensor *b);
/* Natural log: log(0) = -inf with gradient inf, log of a negative is NaN
 * (its gradient g / a stays finite, as in PyTorch). */
ag_tensor *ag_log(ag_tape *t, ag_tensor *a);
ag_tensor *ag_cos(ag_tape *t, ag_tensor *a);
ag_tensor *ag_tan(ag_tape *t, ag_tensor *a);
/* |a|; its gradient is g * sign(a), 0 at 0 (and at NaN), as torch.abs. */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *a);
/* torch.reciprocal: 1 / a (+-inf at +-0); gradient -g / a^2, as -g * out^2. */
ag_tensor *ag_reciprocal(ag_tape *t, ag_tensor *a);
/* torch.rsqrt: 1 / sqrt(a): inf at 0, NaN below 0 (gradient -inf at 0). */
ag_tensor *ag_rsqrt(ag_tape *t, ag_tensor *a);
/* torch.square: a * a, recorded as ag_pow(a, 2) (PowBackward0), as PyTorch. */
ag_tensor *ag_square(ag_tape *t, ag_tensor *a);
/* torch.log1p: log(1 + a), accurate near 0; -inf at -1, NaN below, and inf
 * above 1e38 as PyTorch's CPU kernel (Sleef) gives. */
ag_tensor *ag_log1p(ag_tape *t, ag_tensor *a);
/* torch.expm1: exp(a) - 1, accurate near 0. */
ag_tensor *ag_expm1(ag_tape *t, ag_tensor *a);
/* torch.erf: the error function; gradient 2/sqrt(pi) exp(-a^2). */
ag_tensor *ag_erf(ag_tape *t, ag_tensor *a);
/* torch.sign (1, -1, and 0 for +-0 and for NaN, as PyTorch 1.13's CPU
 * kernel), torch.floor, torch.ceil, torch.round (half to even: 0.5 -> 0,
 * 1.5 -> 2, -0.5 -> -0). Their gradient is exactly 0 everywhere. */
ag_tensor *ag_sign(ag_tape *t, ag_tensor *a);
ag_tensor *ag_floor(ag_tape *t, ag_tensor *a);
ag_tensor *ag_ceil(ag_tape *t, ag_tensor *a);
ag_tensor *ag_round(ag_tape *t, ag_tensor *a);

/* x.detach(): a tape-owned leaf that shares x's elements and does not require
 * grad. Valid until the tape resets and while x lives. */
ag_tensor *ag_detach(ag_tape *t, ag_tensor *x);

/* ---- activations and elementwise comparisons ----------------------------- */

ag_tensor *ag_tanh(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *a);       /* 1 / (1 + exp(-a)) */
/* max(a, 0) (torch.relu); gradient 0 at a == 0, and NaN stays NaN. */
ag_tensor *ag_relu(ag_tape *t, ag_tensor *a);
/* F.leaky_relu(a, negative_slope) (PyTorch's default slope is 0.01): a for
 * a > 0, else a * negative_slope; at a == 0 the gradient is negative_slope. */
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *a, float negative_slope);
/* F.gelu(a): a * Phi(a) with the exact normal CDF (approximate='none'), or
 * with PyTorch's tanh approximation if tanh_approximate (approximate='tanh'). */
ag_tensor *ag_gelu(ag_tape *t, ag_tensor *a, bool tanh_approximate);
/* torch.clamp(a, min, max); -INFINITY / INFINITY mean no bound (None). The
 * gradient passes where min <= a <= max (bounds included). min > max gives
 * max everywhere with gradient 0; a NaN element or bound gives NaN. */
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *a, float min, float max);
/* torch.maximum / torch.minimum, broadcasting. A NaN operand gives NaN (and
 * both operands the gradient); ties give each operand half the gradient. */
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b);
/* F.softplus(a, beta, threshold) (PyTorch's defaults: 1, 20): a where
 * beta * a > threshold, else log1p(exp(beta * a)) / beta; the gradient
 * switches at the same point (g there, else g * sigmoid(beta * a)).
 * Where PyTorch's short-tensor (scalar) and long-tensor (vector) loops
 * differ, these activations give the long-tensor result: softplus is inf
 * where exp(beta * a) > 1e38 (a threshold above 87.5), elu's gradient at NaN
 * is NaN, hardtanh's 0. */
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *a, float beta, float threshold);
/* F.silu(a): a * sigmoid(a), computed as a / (1 + exp(-a)). */
ag_tensor *ag_silu(ag_tape *t, ag_tensor *a);
/* F.elu(a, alpha) (PyTorch's default alpha is 1): a for a > 0, else
 * alpha * (exp(a) - 1); at a == 0 the gradient is alpha, at NaN NaN. */
ag_tensor *ag_elu(ag_tape *t, ag_tensor *a, float alpha);
/* F.hardtanh(a, min_val, max_val) (defaults -1, 1): torch.clamp's values,
 * but the gradient passes only strictly inside (min_val, max_val): 0 at the
 * bounds (unlike ag_clamp) and at NaN. min_val > max_val gives max_val. */
ag_tensor *ag_hardtanh(ag_tape *t, ag_tensor *a, float min_val, float max_val);
/* F.mish(a): a * tanh(softplus(a)) (softplus with beta 1, no threshold). */
ag_tensor *ag_mish(ag_tape *t, ag_tensor *a);

/* ---- shapes and indexing ------------------------------------------------- *
 * Dims are ints; a negative dim counts from the end as in PyTorch (a 0-dim
 * tensor accepts dim 0 and -1 where PyTorch does). Bad dims, sizes and
 * indices are errors on the tape (AG_ERR_ARG for a dim or index out of range,
 * AG_ERR_SHAPE for sizes that do not fit). Views share x's elements (writing
 * through ag_data of one changes the other, as in PyTorch); the other ops
 * copy. Where PyTorch returns x itself (flatten or squeeze that changes
 * nothing), these record a view, so the result is always the tape's. */

/* x.reshape(shape): the same elements in a shape of ndim sizes; one size may
 * be -1 (inferred), and the element count must match. A view of x. */
ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape);
/* x.view(shape): as ag_reshape (our tensors are contiguous). A view of x. */
ag_tensor *ag_view(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape);
/* x.flatten(start_dim, end_dim): those dims and the ones between merged into
 * one (a 0-dim x gives shape (1)). A view of x. */
ag_tensor *ag_flatten(ag_tape *t, ag_tensor *x, int start_dim, int end_dim);
/* x.squeeze(dim): x without dim if its size is 1, else x's shape. A view. */
ag_tensor *ag_squeeze(ag_tape *t, ag_tensor *x, int dim);
/* x.squeeze(): x without every size-1 dim. A view of x. */
ag_tensor *ag_squeeze_all(ag_tape *t, ag_tensor *x);
/* x.unsqueeze(dim): a size-1 dim inserted at dim, in [-ndim-1, ndim]. A view. */
ag_tensor *ag_unsqueeze(ag_tape *t, ag_tensor *x, int dim);

/* x.transpose(dim0, dim1): dims dim0 and dim1 swapped (a copy). */
ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x, int dim0, int dim1);
/* x.t(): the transpose of a matrix; 0-D and 1-D x come back as they are.
 * AG_ERR_SHAPE for more than 2 dims. */
ag_tensor *ag_t(ag_tape *t, ag_tensor *x);
/* x.permute(dims): out.shape[i] = x.shape[dims[i]]; dims is a permutation of
 * x's ndim dims (a copy). */
ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, int ndim, const int *dims);
/* x.expand(shape): x broadcast to a shape of ndim >= x's ndim sizes; new dims
 * lead, only size-1 dims grow, -1 keeps a size (a copy; the gradient sums
 * over the expanded dims). */
ag_tensor *ag_expand(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape);

/* torch.cat(xs[0..n), dim): the n >= 1 tensors joined along dim; they must
 * have one ndim (>= 1) and equal sizes except along dim. */
ag_tensor *ag_cat(ag_tape *t, int n, ag_tensor *const *xs, int dim);
/* torch.stack(xs[0..n), dim): the n >= 1 tensors, all of one shape, joined
 * along a new dim, in [-ndim-1, ndim]. */
ag_tensor *ag_stack(ag_tape *t, int n, ag_tensor *const *xs, int dim);
/* x.narrow(dim, start, length): x[..., start:start+length, ...] along dim (a
 * copy); start may be negative (counts from the end). Not for 0-dim x. */
ag_tensor *ag_narrow(ag_tape *t, ag_tensor *x, int dim, int64_t start, int64_t length);
/* x.select(dim, index): x[..., index, ...] with dim removed (a copy); a
 * negative index counts from the end. Not for 0-dim x. */
ag_tensor *ag_select(ag_tape *t, ag_tensor *x, int dim, int64_t index);
/* x.index_select(dim, index): the slices index[0..n) of x along dim, in that
 * order (repeats allowed: their gradients add up; an embedding lookup).
 * Indices must be in [0, size); a 0-dim x takes exactly one index, 0. */
ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int dim, int64_t n, const int64_t *index);
/* torch.gather(x, dim, index): out[i] = x[i with i[dim] = index[i]], where the
 * index has x's ndim, shape index_shape (no larger than x's except along
 * dim) and values in [0, x.shape[dim]), row-major. out has index_shape. */
ag_tensor *ag_gather(ag_tape *t, ag_tensor *x, int dim, const int64_t *index_shape,
                     const int64_t *index);
/* The same two with an int64 index tensor, as PyTorch takes it (its values
 * are copied at the call). x may be of any dtype; the result has x's (and
 * requires grad only for float32). index_select's index has 0 or 1 dims;
 * gather's has x's ndim (0-dim and 1-dim count as one, and an empty index
 * is not compared with x) and gives the result its shape. Negative indices
 * are out of range (AG_ERR_ARG), as in PyTorch; a non-int64 index is an
 * AG_ERR_ARG naming its dtype, an index of the wrong ndim AG_ERR_SHAPE. */
ag_tensor *ag_index_select_tensor(ag_tape *t, ag_tensor *x, int dim, const ag_tensor *index);
ag_tensor *ag_gather_tensor(ag_tape *t, ag_tensor *x, int dim, const ag_tensor *index);

/* ---- reductions and softmax ---------------------------------------------- */

/* Dims lists: dims[0..ndims) name the dims to reduce; negative dims count
 * from the end as in PyTorch (a 0-dim tensor accepts 0 and -1), a dim out of
 * range or given twice is an AG_ERR_ARG, and ndims == 0 (dims may be NULL)
 * reduces every dim, as torch.sum(x) does. keepdim keeps reduced dims with
 * size 1. The result holds the same elements either way. */

/* torch.sum(x, dims, keepdim): accumulated in double; 0 for an empty sum. */
ag_tensor *ag_sum(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim);
/* torch.mean(x, dims, keepdim): NaN for an empty reduction. */
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim);

/* torch.max(x, dim, keepdim).values (torch.min for ag_min). The gradient
 * goes to the one element PyTorch's index names: the first extremum along
 * dim, or the first NaN (NaN wins). AG_ERR_SHAPE if dim has size 0. x may
 * be int64 or bool too (the values have its dtype, without a gradient). The
 * indices too: ag_max_with_indices. */
ag_tensor *ag_max(ag_tape *t, ag_tensor *x, int dim, bool keepdim);
ag_tensor *ag_min(ag_tape *t, ag_tensor *x, int dim, bool keepdim);
/* torch.max(x), torch.min(x): a 0-dim result, NaN if x holds a NaN. The
 * gradient is shared evenly by every element equal to the result (every NaN
 * for NaN), as in PyTorch 1.13. AG_ERR_SHAPE for an empty x. */
ag_tensor *ag_max_all(ag_tape *t, ag_tensor *x);
ag_tensor *ag_min_all(ag_tape *t, ag_tensor *x);
/* torch.amax(x, dims, keepdim), torch.amin: NaN propagates; ties share the
 * gradient evenly (a NaN result gives its slice NaN gradients, as PyTorch).
 * AG_ERR_SHAPE for an empty reduction. */
ag_tensor *ag_amax(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim);
ag_tensor *ag_amin(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim);

/* torch.var(x, dims, correction=correction, keepdim) (1: unbiased), and
 * torch.std: sum((x - mean)^2) / max(N - correction, 0), so inf or NaN when
 * N <= correction, as PyTorch. std's gradient is 0 where std is 0. */
ag_tensor *ag_var(ag_tape *t, ag_tensor *x, int ndims, const int *dims, int64_t correction,
                  bool keepdim);
ag_tensor *ag_std(ag_tape *t, ag_tensor *x, int ndims, const int *dims, int64_t correction,
                  bool keepdim);

/* torch.softmax(x, dim), torch.log_softmax(x, dim): max-subtracted, so
 * inputs of +-1000 stay finite; a slice holding NaN or +inf, or all -inf,
 * gives NaN as in PyTorch. A 0-dim x accepts dim 0 or -1. */
ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int dim);
ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int dim);
/* torch.logsumexp(x, dims, keepdim): log(sum(exp(x))) without overflow; an
 * all -inf (or empty) slice gives -inf, one with +inf gives inf. */
ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *x, int ndims, const int *dims, bool keepdim);

/* ---- scans and triangles ------------------------------------------------- */

/* torch.cumsum(x, dim), torch.cumprod(x, dim): running sums / products along
 * dim (negative counts from the end; a 0-dim x takes 0 or -1), accumulated
 * in double and rounded per element, as PyTorch's CPU kernels. cumprod's
 * gradient is PyTorch's, correct where x holds zeros (one or several). */
ag_tensor *ag_cumsum(ag_tape *t, ag_tensor *x, int dim);
ag_tensor *ag_cumprod(ag_tape *t, ag_tensor *x, int dim);
/* torch.triu(x, diagonal), torch.tril(x, diagonal): x (2 dims or more) with
 * the elements of each matrix of the last two dims below (triu) or above
 * (tril) the diagonal-th diagonal set to 0 (0: the main one, > 0 above it,
 * < 0 below); the gradient is masked the same way. AG_ERR_SHAPE for fewer
 * than 2 dims. */
ag_tensor *ag_triu(ag_tape *t, ag_tensor *x, int64_t diagonal);
ag_tensor *ag_tril(ag_tape *t, ag_tensor *x, int64_t diagonal);

/* ---- sorting and indices ------------------------------------------------
 * Indices are int64 positions along dim (over all elements, row-major, for
 * the _all forms). The ops returning values and indices return the values
 * and, if indices is not NULL, set *indices to the indices, of the values'
 * shape. Both are owned by the tape, as every result; the indices tensor is
 * a leaf that does not require grad (writing into it changes no gradient).
 * On error both are NULL (*indices is set to NULL first). Float32 values
 * carry x's gradient, which backward scatters to the elements they came
 * from; int64 (and for sort, bool) inputs give values of their dtype, as in
 * PyTorch, without a gradient. NaN counts as larger than every number
 * throughout, as PyTorch's CPU kernels. Results are the same for any
 * number of threads. */

/* torch.argmax(x, dim, keepdim), torch.argmin: the index of the first
 * maximum (minimum) along dim; a NaN counts as larger (smaller) than any
 * number, so the first NaN wins, as PyTorch. x is float32 or int64 (a bool
 * x is an AG_ERR_ARG: PyTorch does not implement it); AG_ERR_SHAPE if dim
 * has size 0. */
ag_tensor *ag_argmax(ag_tape *t, ag_tensor *x, int dim, bool keepdim);
ag_tensor *ag_argmin(ag_tape *t, ag_tensor *x, int dim, bool keepdim);
/* torch.argmax(x, keepdim=keepdim) (dim=None), torch.argmin: the flat index
 * of the first maximum (minimum) over every element, 0-dim (keepdim: every
 * dim kept with size 1). AG_ERR_SHAPE for an empty x. */
ag_tensor *ag_argmax_all(ag_tape *t, ag_tensor *x, bool keepdim);
ag_tensor *ag_argmin_all(ag_tape *t, ag_tensor *x, bool keepdim);

/* torch.max(x, dim, keepdim) (torch.min): the values ag_max (ag_min) returns,
 * with the gradient there described, and the indices of those elements. */
ag_tensor *ag_max_with_indices(ag_tape *t, ag_tensor *x, int dim, bool keepdim,
                               ag_tensor **indices);
ag_tensor *ag_min_with_indices(ag_tape *t, ag_tensor *x, int dim, bool keepdim,
                               ag_tensor **indices);

/* torch.sort(x, dim, descending, stable): the slices along dim in
 * ascending (descending) order, and where each element came from. NaN
 * sorts above +inf (every NaN equal), -0 equals 0. Equal elements keep the
 * order of their indices whether or not stable is set: the order of
 * PyTorch's stable sort. (With stable false, PyTorch's order of equal
 * elements is unspecified: it differs for slices of more than 16.) O(n)
 * per slice (a radix sort). x is float32, int64 or bool. */
ag_tensor *ag_sort(ag_tape *t, ag_tensor *x, int dim, bool descending, bool stable,
                   ag_tensor **indices);
/* torch.argsort(x, dim, descending, stable): ag_sort's indices alone (the
 * values are not kept for a gradient). */
ag_tensor *ag_argsort(ag_tape *t, ag_tensor *x, int dim, bool descending, bool stable);
/* torch.topk(x, k, dim, largest, sorted): the k largest (smallest) elements
 * along dim, in ag_sort's descending (ascending) order (NaN counts as the
 * largest), and their indices: size k along dim. Among equal elements the
 * lower index comes first (PyTorch's CPU choice among ties is unspecified),
 * and the result is sorted whatever sorted says (PyTorch's order is
 * unspecified without it). k in [0, size of dim], else AG_ERR_ARG; a 0-dim
 * x takes k 0 or 1 and gives a 0-dim result either way, as PyTorch. x is
 * float32 or int64 (bool: AG_ERR_ARG, as PyTorch). */
ag_tensor *ag_topk(ag_tape *t, ag_tensor *x, int64_t k, int dim, bool largest, bool sorted,
                   ag_tensor **indices);

/* ---- matrix products ----------------------------------------------------- */

/* torch.matmul(a, b): 1-D @ 1-D is the dot product (0-dim result); 2-D @ 2-D
 * the matrix product; a 1-D a is (1, k) and a 1-D b is (k, 1), that dimension
 * removed from the result; N-D operands are batches of matrices whose batch
 * dimensions broadcast. AG_ERR_SHAPE for a 0-dim operand, inner sizes that
 * differ ("shapes (2,3) and (4,5) cannot be multiplied (3 != 4)") or batch
 * dimensions that do not broadcast. */
ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b);
/* torch.nn.functional.linear(x, w, b): x @ w^T + b in one op, for x of shape
 * (..., in), w (out, in) and b (out) or NULL (no bias); the result is x's
 * shape with the last size out. AG_ERR_SHAPE if the sizes do not fit. */
ag_tensor *ag_affine(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b);

/* ---- losses (torch.nn.functional) --------------------------------------- */

/* How a loss reduces its per-element values: mean (PyTorch's default), sum,
 * or none (the unreduced tensor). */
typedef enum ag_reduction {
    AG_REDUCTION_MEAN,
    AG_REDUCTION_SUM,
    AG_REDUCTION_NONE
} ag_reduction;

/* F.mse_loss(input, target, reduction): (input - target) ** 2, reduced.
 * Shapes broadcast (PyTorch warns when they differ; so should you). The
 * target may require grad. 0-dim result for mean and sum. */
ag_tensor *ag_mse_loss(ag_tape *t, ag_tensor *input, ag_tensor *target, ag_reduction r);

/* The options of F.cross_entropy; get PyTorch's defaults from
 * ag_ce_defaults() (no weights, ignore_index -100, mean, no smoothing). */
typedef struct ag_ce_opts {
    const ag_tensor *weight;   /* (C) class weights, copied at the call; or NULL */
    int64_t ignore_index;      /* index targets equal to it add nothing (-100) */
    ag_reduction reduction;
    float label_smoothing;     /* in [0, 1] */
} ag_ce_opts;
ag_ce_opts ag_ce_defaults(void);

/* F.cross_entropy(input, target, ...) with class-index targets: input is
 * (N, C), (N, C, d1, ..., dK) or (C,) unbatched, target holds one class per
 * position (N * d1 * ... * dK int64 values in row-major order, 1 for (C,)),
 * copied at the call. Result: 0-dim, or (N, d1, ..., dK) for reduction none.
 * Mean divides by the summed weights of the non-ignored targets. A target
 * outside [0, C) other than ignore_index is AG_ERR_ARG. opts may be NULL. */
ag_tensor *ag_cross_entropy(ag_tape *t, ag_tensor *input, const int64_t *target,
                            const ag_ce_opts *opts);
/* ag_cross_entropy with an int64 target tensor, whose shape is checked as
 * PyTorch does: a 0-dim target for input (C), (N) for (N, C), (N, d1..dK)
 * for (N, C, d1..dK); any other shape is AG_ERR_SHAPE, a bool or float32
 * target AG_ERR_ARG (class probabilities: ag_cross_entropy_prob). The
 * values are copied at the call. */
ag_tensor *ag_cross_entropy_tensor(ag_tape *t, ag_tensor *input, const ag_tensor *target,
                                   const ag_ce_opts *opts);
/* F.cross_entropy with class-probability targets: target has input's shape
 * (and gets a gradient if it requires grad); ignore_index does not apply and
 * mean divides by the number of positions (N * d1 * ... * dK). */
ag_tensor *ag_cross_entropy_prob(ag_tape *t, ag_tensor *input, ag_tensor *target,
                                 const ag_ce_opts *opts);

/* ---- random numbers ------------------------------------------------------ */

/* A seedable generator: xoshiro256** seeded through splitmix64, so a seed
 * gives the same numbers on every platform. Treat the state as opaque; a
 * zero-initialised ag_rng must be seeded before use. Not PyTorch's stream:
 * the same seed does not give torch.manual_seed's numbers. */
typedef struct ag_rng {
    uint64_t s[4];
} ag_rng;
void ag_rng_seed(ag_rng *r, uint64_t seed);
uint64_t ag_rng_next(ag_rng *r);                        /* 64 random bits (0 for NULL) */
float ag_rng_uniform(ag_rng *r, float lo, float hi);    /* in [lo, hi) (NaN for NULL) */
float ag_rng_normal(ag_rng *r);                         /* mean 0, std 1 (NaN for NULL) */
/* Fill x's elements (torch.nn.init.uniform_ / normal_). AG_ERR_ARG for NULL,
 * and, as PyTorch, for bounds that are not finite, lo > hi or hi - lo that
 * overflows (uniform), and std < 0 or NaN (normal); x is then unchanged. */
ag_status ag_fill_uniform(ag_tensor *x, ag_rng *r, float lo, float hi);
ag_status ag_fill_normal(ag_tensor *x, ag_rng *r, float mean, float std);

/* Random tensors, new caller-owned leaves (free with ag_tensor_free), drawn
 * from r. On error (ag_last_error: a NULL r, a bad shape, what PyTorch
 * rejects) they return NULL having drawn nothing, so r is unchanged. */
/* torch.rand / torch.randn(shape, requires_grad=): float32 uniform in [0, 1)
 * (24 random bits each, as ag_rng_uniform) / standard normal (ag_rng_normal). */
ag_tensor *ag_rand(int ndim, const int64_t *shape, bool requires_grad, ag_rng *r);
ag_tensor *ag_randn(int ndim, const int64_t *shape, bool requires_grad, ag_rng *r);
/* torch.randint(low, high, shape): int64 uniform in [low, high), without
 * modulo bias, for any low < high (AG_ERR_ARG otherwise), INT64_MIN and
 * INT64_MAX included. */
ag_tensor *ag_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, ag_rng *r);
/* torch.randperm(n): a 1-dim int64 tensor holding 0..n-1 in a uniformly random
 * order (Fisher-Yates); empty for n == 0, AG_ERR_ARG for n < 0. */
ag_tensor *ag_randperm(int64_t n, ag_rng *r);
/* torch.bernoulli(p): a float32 tensor of p's shape, element i 1 with
 * probability p[i] and 0 otherwise (p == 0 never gives 1, p == 1 always).
 * p is a float32 tensor (a leaf or a recorded result, only read) with every
 * element in [0, 1] (NaN fails, as PyTorch). Unlike PyTorch's, the result
 * never requires grad (there its gradient is zero). */
ag_tensor *ag_bernoulli(const ag_tensor *p, ag_rng *r);
/* torch.multinomial(probs, num_samples, replacement): int64 category indices
 * drawn in proportion to the weights in probs, of shape (num_samples) for
 * probs (C), or (R, num_samples) for probs (R, C), one row per row of probs
 * (weights need not sum to 1). A category of probability 0 is never drawn
 * with replacement; without it every index appears at most once per row,
 * the ones of non-zero probability drawn first in proportion to their
 * weights (each from what is left), then, if num_samples asks for more,
 * those of probability 0 in increasing index order (PyTorch's order there
 * is its topk's). AG_ERR_ARG, as PyTorch: probs not float32 or not 1- or
 * 2-dim, num_samples <= 0, num_samples > C without replacement, C > 2^24,
 * an element that is negative, inf or NaN, a row whose sum is 0 (an empty
 * row included). */
ag_tensor *ag_multinomial(const ag_tensor *probs, int64_t num_samples, bool replacement,
                          ag_rng *r);

/* ---- nn.Linear ------------------------------------------------------------ */

typedef struct ag_linear ag_linear;

/* torch.nn.Linear(in, out, bias): weight (out, in) and bias (out), caller-
 * owned leaves that require grad, initialised as PyTorch does: uniform in
 * +/- 1/sqrt(in) (kaiming_uniform_ with a = sqrt(5)), drawn from rng (weight
 * first, row-major, then bias). NULL on error (ag_last_error). */
ag_linear *ag_linear_new(int64_t in_features, int64_t out_features, bool bias, ag_rng *rng);
/* Frees the layer and its weight and bias. NULL-safe. */
void ag_linear_free(ag_linear *l);
/* The layer's parameters, owned by the layer: read or write their data
 * (ag_data) to load values trained elsewhere. bias is NULL without one. */
ag_tensor *ag_linear_weight(const ag_linear *l);
ag_tensor *ag_linear_bias(const ag_linear *l);
/* Writes the layer's parameters (weight, then bias) to out if out is not
 * NULL, and returns how many there are (1 or 2; 0 for a NULL layer): for an
 * optimizer's list. */
int ag_linear_params(const ag_linear *l, ag_tensor **out);
/* linear(x) = x @ weight^T + bias for x of shape (..., in), recorded on t. */
ag_tensor *ag_linear_forward(ag_tape *t, ag_linear *l, ag_tensor *x);

/* ---- optimizers (torch.optim) ---------------------------------------------- */

typedef struct ag_optim ag_optim;

/* torch.optim.SGD's options; ag_sgd_defaults(lr) gives PyTorch's defaults
 * (no momentum, dampening, weight decay, Nesterov or maximize). */
typedef struct ag_sgd_opts {
    float lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
} ag_sgd_opts;
ag_sgd_opts ag_sgd_defaults(float lr);

/* torch.optim.Adam / AdamW's options; ag_adam_defaults(): lr 1e-3, betas
 * (0.9, 0.999), eps 1e-8, weight_decay 0; ag_adamw_defaults(): the same
 * with weight_decay 1e-2. */
typedef struct ag_adam_opts {
    float lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize;
} ag_adam_opts;
ag_adam_opts ag_adam_defaults(void);
ag_adam_opts ag_adamw_defaults(void);

/* An optimizer over n parameters: caller-made leaves that require grad,
 * which must outlive it. Its state (momentum buffers, moments) is allocated
 * here, so steps never allocate. NULL on bad options (PyTorch's checks) or
 * parameters, with ag_last_error() saying which. Unlike PyTorch, which
 * raises for an empty parameter list, n == 0 (params may then be NULL) makes
 * an optimizer whose step does nothing. */
ag_optim *ag_sgd_new(int n, ag_tensor *const *params, const ag_sgd_opts *opts);
ag_optim *ag_adam_new(int n, ag_tensor *const *params, const ag_adam_opts *opts);
ag_optim *ag_adamw_new(int n, ag_tensor *const *params, const ag_adam_opts *opts);
void ag_optim_free(ag_optim *o);                 /* NULL-safe */
/* optimizer.step(): updates every parameter that has a grad, with PyTorch
 * 1.13's rule for the optimizer (parameters without a grad are skipped). */
ag_status ag_optim_step(ag_optim *o);
/* optimizer.zero_grad(set_to_none=False): zeroes every parameter's grad. */
void ag_optim_zero_grad(ag_optim *o);
/* Forgets the state: momentum buffers and step counts start again. */
void ag_optim_reset(ag_optim *o);
float ag_optim_lr(const ag_optim *o);            /* NaN for NULL */
ag_status ag_optim_set_lr(ag_optim *o, float lr);  /* for schedules */

/* ---- backward ------------------------------------------------------------ */

/* root.backward(): accumulates d(root)/d(leaf) into the grad of every leaf that
 * requires grad and that root depends on. root must be a one-element tensor
 * recorded on t (or a leaf) that requires grad. Returns the tape's status; on
 * error no gradient has changed. May be called again on the same recording
 * (as with retain_graph=True): gradients accumulate. */
ag_status ag_backward(ag_tape *t, ag_tensor *root);

/* root.backward(seed): as ag_backward, for a root of any shape, with the
 * gradient of the output given by seed (same shape as root). */
ag_status ag_backward_seed(ag_tape *t, ag_tensor *root, const ag_tensor *seed);

/* ---- threads ------------------------------------------------------------- */

/* The number of threads that matrix products, long elementwise ops and
 * their backward, and optimizer steps use, this caller included: 1 (the
 * default) to 64. The environment variable AG_NUM_THREADS sets it at first
 * use (clamped: above 64 gives 64; 0, negative or not a number gives 1). Results are bit-identical for any count. Called while ops run
 * on other threads, it waits for the parallel loop in progress. The workers
 * are joined at exit (or when the count is set back to 1). AG_ERR_ARG for a
 * count out of range; AG_ERR_NOMEM if the system gave fewer threads (then
 * that many are used). Workers do not survive fork(): a process that forks a
 * child which goes on using the library (or calls exit(), which joins them)
 * sets the count to 1 before forking, or the child waits forever for threads
 * it does not have. */
ag_status ag_set_num_threads(int n);
int ag_num_threads(void);

/* Other environment variables, read once, for comparisons and tests:
 * AG_GEMM_KERNEL=avx512|avx2|vector|portable forces the kernel of blocked
 * matrix products (small or thin ones always take the unblocked loop;
 * results may differ in the last bits); AG_SIMD=avx512|avx2|base forces the
 * vector width of the elementwise math loops (same bits at every width).
 * Both default to the best the CPU has; an unknown or unavailable value is
 * ignored. AG_SPIN_US (default 200) is how long idle worker threads, and a
 * caller waiting for them, poll before they sleep: waking a sleeping thread
 * costs tens of microseconds on a VM; 0 (or a value that is not a number)
 * polls only a few dozen times, values above 1000000 are taken as 1000000
 * (less CPU burnt between loops on a shared machine, slower small loops). */

/* ---- gradient checking ---------------------------------------------------- */

/* A function of n input tensors, recorded on t; ud is the caller's. */
typedef ag_tensor *(*ag_fn)(ag_tape *t, ag_tensor *const *in, void *ud);

typedef struct ag_gradcheck_opts {
    double eps;         /* central-difference step; 0 means 1e-3 */
    double atol, rtol;  /* pass if |analytic - numeric| <= atol + rtol * |numeric|;
                           0 means 1e-3 and 1e-2 (float32 differences are noisy) */
    uint64_t seed;      /* for the random projection of a non-scalar output */
} ag_gradcheck_opts;

typedef struct ag_gradcheck_report {
    int64_t checked;    /* gradient elements compared */
    int input;          /* the worst element: its input (-1 if none checked) */
    int64_t index;      /*   and its flat index in that input */
    double analytic, numeric;
    double ratio;       /* |analytic - numeric| / (atol + rtol |numeric|): <= 1 passes */
} ag_gradcheck_report;

/* torch.autograd.gradcheck in float32: compares the gradient backward
 * computes for every element of every input that requires grad with central
 * differences of f. A non-scalar output y is reduced to sum(v * y) for a
 * fixed pseudo-random v (from opts->seed). f runs on copies of the inputs, so
 * the caller's tensors and grads are untouched; it is called 1 + 2 * (number
 * of checked elements) times. opts and report may be NULL. Returns AG_OK if
 * every element passes, AG_ERR_GRAD (ag_last_error() names the worst
 * element) if one does not, or the error f's tape reported (AG_ERR_ARG if f
 * returned NULL without one). Avoid points where f has a kink. */
ag_status ag_gradcheck(ag_fn f, void *ud, int n, ag_tensor *const *inputs,
                       const ag_gradcheck_opts *opts, ag_gradcheck_report *report);

/* ---- printing in PyTorch's format ---------------------------------------- */

/* Writes x as print(x) does in PyTorch 1.13, e.g. "tensor([2.])",
 * "tensor(1.2442)", "tensor([1., 2.], requires_grad=True)", and for int64 and
 * bool "tensor([  1, -20, 300])", "tensor([ True, False])" (an empty one names
 * its dtype: "tensor([], dtype=torch.int64)"), followed by a newline. Returns the number of characters written, or -1 on error (NULL x
 * or f, a failed write or allocation; ag_last_error() says which). */
int ag_print(const ag_tensor *x);
int ag_fprint(FILE *f, const ag_tensor *x);
/* As ag_print without the newline, into buf like snprintf: returns the length
 * the full text needs (excluding the NUL), or -1 on error. A NULL buf only
 * measures, whatever size says. */
int ag_snprint(char *buf, size_t size, const ag_tensor *x);

#ifdef __cplusplus
}
#endif
#endif /* AUTOGRAD_H */
