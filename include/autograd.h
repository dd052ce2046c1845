/* autograd.h - libautograd: reverse-mode automatic differentiation for C11.
 *
 * OVERVIEW
 *
 *   libautograd computes gradients the way PyTorch's autograd does. Tensors are
 *   float32, contiguous, row-major, with 0 to AG_MAX_DIMS dimensions. Operations
 *   are recorded onto a *tape* (a Wengert list); ag_backward() walks the tape in
 *   reverse creation order and accumulates gradients into the leaf tensors that
 *   asked for them (requires_grad), exactly as `loss.backward()` does.
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
 *   There is no hidden global state: the only global is the allocator the caller
 *   sets. Different tapes can be used on different threads without locks; one
 *   tape, and a leaf that receives gradients, must be used by one thread at a
 *   time.
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

#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 1
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

/* The message of the tape's first error, "" if none. Owned by the tape. */
const char *ag_tape_error(const ag_tape *t);

/* Grad mode (torch.no_grad): while disabled, ops on this tape compute values
 * but their results do not require grad. Returns the previous mode. */
bool ag_tape_set_grad_enabled(ag_tape *t, bool enabled);

/* ---- leaf tensors (owned by the caller) ---------------------------------- */

/* A new leaf of ndim dimensions (0..AG_MAX_DIMS; 0 is a scalar and shape may
 * then be NULL), copying numel floats from data, or zeros if data is NULL.
 * Returns NULL on a bad shape or allocation failure (see ag_last_error). */
ag_tensor *ag_tensor_new(int ndim, const int64_t *shape, const float *data, bool requires_grad);
ag_tensor *ag_zeros(int ndim, const int64_t *shape, bool requires_grad);
ag_tensor *ag_ones(int ndim, const int64_t *shape, bool requires_grad);
ag_tensor *ag_full(int ndim, const int64_t *shape, float value, bool requires_grad);
/* A 0-dim leaf holding v: torch.tensor(v). */
ag_tensor *ag_scalar(float v, bool requires_grad);

/* Frees a leaf and its gradient. NULL, tape-owned tensors (the tape frees
 * those) and gradients (their leaf frees them) are ignored. */
void ag_tensor_free(ag_tensor *x);

/* ---- accessors (all accept NULL) ------------------------------------------ */

/* The elements, row-major; writable. NULL for NULL. */
float *ag_data(ag_tensor *x);
/* ag_ndim(x) sizes; NULL for NULL (and may be non-NULL for a 0-dim tensor). */
const int64_t *ag_shape(const ag_tensor *x);
/* Number of dimensions, -1 for NULL. */
int ag_ndim(const ag_tensor *x);
/* Number of elements (1 for a 0-dim tensor), -1 for NULL. */
int64_t ag_numel(const ag_tensor *x);
/* The single element of a one-element tensor; NaN if x is NULL or has more
 * than one element. */
float ag_item(const ag_tensor *x);

/* x.grad: NULL until a backward pass reaches x. A leaf's grad is owned by the
 * leaf; a non-leaf has one only after ag_retain_grad(), owned by its tape. */
ag_tensor *ag_grad(const ag_tensor *x);
bool ag_requires_grad(const ag_tensor *x);
/* x.is_leaf: true for tensors made by the caller, ag_detach() results and,
 * as in PyTorch, every tensor that does not require grad. */
bool ag_is_leaf(const ag_tensor *x);
/* Sets requires_grad on a leaf. AG_ERR_ARG for NULL or a non-leaf. */
ag_status ag_set_requires_grad(ag_tensor *x, bool requires_grad);
/* Sets x.grad to zeros, keeping its memory (x.grad.zero_()). NULL-safe. */
void ag_zero_grad(ag_tensor *x);
/* Asks backward to keep the gradient of a non-leaf x (x.retain_grad()).
 * A no-op for leaves and NULL. */
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
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, float p);          /* a ** p */
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sin(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a);

/* x.detach(): a tape-owned leaf that shares x's elements and does not require
 * grad. Valid until the tape resets and while x lives. */
ag_tensor *ag_detach(ag_tape *t, ag_tensor *x);

/* ---- activations and elementwise comparisons ----------------------------- */

/* ---- shapes and indexing ------------------------------------------------- */

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
 * dim, or the first NaN (NaN wins). AG_ERR_SHAPE if dim has size 0. */
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

/* ---- matrix products ----------------------------------------------------- */

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
 * "tensor(1.2442)", "tensor([1., 2.], requires_grad=True)", followed by a
 * newline. Returns the number of characters written, or -1 on error. */
int ag_print(const ag_tensor *x);
int ag_fprint(FILE *f, const ag_tensor *x);
/* As ag_print without the newline, into buf like snprintf: returns the length
 * the full text needs (excluding the NUL), or -1 on error. */
int ag_snprint(char *buf, size_t size, const ag_tensor *x);

#ifdef __cplusplus
}
#endif
#endif /* AUTOGRAD_H */
