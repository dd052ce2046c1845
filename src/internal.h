/* internal.h - what the src/ files share: tensor and tape layout, arena, op table. */
#ifndef AG_INTERNAL_H
#define AG_INTERNAL_H

#include "autograd.h"

#include <stdarg.h>

/* ---- allocation (core/alloc.c) ---------------------------------------------------
 * Every byte goes through one allocator hook. Sizes are checked for overflow. */

typedef struct agi_alloc {
    ag_alloc_fn f;
    void *ud;
} agi_alloc;

agi_alloc agi_current_alloc(void);
void *agi_malloc(agi_alloc a, size_t n);           /* NULL on failure or n == 0 */
void agi_free(agi_alloc a, void *p, size_t n);     /* NULL-safe */
/* *out = a * b; false on overflow of size_t. */
bool agi_mul_size(size_t a, size_t b, size_t *out);

/* The thread's last tape-less error (ag_last_error). Returns NULL always, so
 * `return agi_fail_last(...)` reads well in pointer-returning functions. */
void *agi_fail_last(const char *fmt, ...);

/* ---- arena (core/arena.c) ----------------------------------------------------------
 * A chain of blocks. Reset rewinds to the first block and keeps them all, so
 * the same sequence of requests after a reset is served from the same blocks
 * without touching the allocator. */

typedef struct agi_block agi_block;
typedef struct agi_arena {
    agi_alloc alloc;
    agi_block *first, *cur;
    size_t used;                /* bytes used in cur */
} agi_arena;

void agi_arena_init(agi_arena *ar, agi_alloc alloc);
void *agi_arena_alloc(agi_arena *ar, size_t n);    /* 64-byte aligned; NULL on failure */
void agi_arena_reset(agi_arena *ar);
void agi_arena_free(agi_arena *ar);

/* ---- tensors and tapes ---------------------------------------------------- */

#define AGI_INLINE_INPUTS 2     /* inputs stored in the tensor; more go on the arena */
#define AGI_MAX_PARAMS 2        /* float parameters of an op (a scalar, clamp's bounds) */
#define AGI_MAX_IPARAMS 4       /* integer parameters (a dim, a dim mask, keepdim, ...) */

enum {
    AGI_LEAF = 1u << 0,        /* made by the caller or by ag_detach */
    AGI_REQ_GRAD = 1u << 1,    /* requires_grad */
    AGI_RETAIN = 1u << 2,      /* non-leaf: keep .grad (ag_retain_grad) */
    AGI_OWN_DATA = 1u << 3,    /* heap leaf: data block belongs to the tensor */
    AGI_NEW_GRAD = 1u << 4,    /* grad (leaf's or retained) created by the running backward */
    AGI_IS_GRAD = 1u << 5      /* x.grad of a leaf: freed with its leaf, never alone */
};

/* The fields the backward walk reads for every node and its inputs come
 * first, in the header's first 64 bytes (one cache line: tape tensors start
 * on one); the rest follows. */
struct ag_tensor {
    /* hot: the walk */
    unsigned flags;
    int op;                    /* index in the op table; -1 for leaves */
    int nin;                   /* number of inputs */
    ag_tensor **in;            /* in_buf, or an arena array for more inputs */
    ag_tensor *in_buf[AGI_INLINE_INPUTS];
    ag_tensor *prev;           /* previous recorded op: the tape's list */
    uint64_t mark;             /* backward scratch below is valid while mark == tape->epoch */
    float *gbuf;               /* d(root)/d(this), numel floats */

    float *data;               /* the elements; of another dtype: agi_i64, agi_b8 */
    int64_t numel;
    int dtype;                 /* ag_dtype: float32 (0, what zeroing gives), int64, bool */
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    ag_tape *tape;             /* owning tape; NULL for caller-owned leaves */
    ag_tensor *grad;           /* x.grad (see ag_grad) */
    agi_alloc alloc;           /* heap leaves: how to free them */

    /* the rest of the recording (non-leaves only) */
    float param[AGI_MAX_PARAMS];
    int64_t ip[AGI_MAX_IPARAMS];
    void *aux;                 /* op-specific data copied to the arena (index lists) */
    void *save;                /* scratch the forward keeps for the backward */
    float **dinv;              /* din array of an op with > AGI_INLINE_INPUTS inputs */
    uint64_t zmark;            /* == tape->epoch once gbuf is initialised (zeroed or written) */
};

struct ag_tape {
    agi_arena arena;
    ag_tensor *last;           /* most recent recorded op */
    uint64_t epoch;            /* bumped by every backward pass */
    uint64_t new_grads;        /* grads the running backward created (pass 1) */
    unsigned din_zero;         /* while a backward kernel runs: bit k set if its din[k] is
                                * known to hold zeros (a non-leaf buffer's first write), so
                                * it may assign instead of add (matmul, affine) */
    ag_status status;
    bool grad_enabled;
    char msg[256];
};

/* ---- dtypes (core/dtype.c) ----
 * One row per dtype: what printing, messages and allocation need. Kernels stay
 * typed: an op checks dtypes once (agi_record, or its shape function) and runs
 * a loop of one element type. bool is stored as C bool, one byte. */
typedef struct agi_dtype_traits {
    const char *name;          /* "int64" (ag_dtype_name) */
    const char *torch;         /* "torch.int64" (printing) */
    size_t size;               /* bytes per element */
} agi_dtype_traits;
extern const agi_dtype_traits agi_dtypes[3];
static inline int64_t *agi_i64(const ag_tensor *x) { return (int64_t *)(void *)x->data; }
static inline bool *agi_b8(const ag_tensor *x) { return (bool *)(void *)x->data; }
/* The name of dtype d for a message ("float32"; "unknown" out of range). */
const char *agi_dtype_str(int d);
/* Whether op, given these inputs (some int64 or bool), converts them to
 * float32 first, as PyTorch promotes them (int64 * 0.5 and int64 + float32
 * are float32, exp of an int64 is float32); else it refuses them. */
bool agi_promotes(int op, int nin, ag_tensor *const *in);
/* Whether op is a view (reshape, view, flatten, squeeze, unsqueeze): any
 * dtype, the result's is its input's. */
bool agi_keeps_dtype(int op);

/* Records an error on t unless it already failed (first error wins) and
 * returns NULL. The one function every error passes through. */
void *agi_fail(ag_tape *t, ag_status s, const char *fmt, ...);

/* Writes "(2,3)" for a shape into buf (always NUL-terminated). */
const char *agi_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* numel of a shape, false if a size is negative or the product overflows the
 * byte count of a float array. */
bool agi_numel(int ndim, const int64_t *shape, int64_t *numel);
/* Wraps dim as PyTorch does for x (a 0-dim tensor accepts 0 and -1) into
 * *out; false after agi_fail naming fn, x's shape and the range otherwise. */
bool agi_wrap_dim(ag_tape *t, const char *fn, const ag_tensor *x, int64_t dim, int *out);
/* x seen as (outer, d, inner) around dim: the products of the sizes before
 * and after it, and its own size (dim must be valid, or 0 for a 0-dim x). */
typedef struct agi_slices {
    int64_t outer, d, inner;
} agi_slices;
static inline agi_slices agi_slices_of(const ag_tensor *x, int dim)
{
    agi_slices s = { 1, 1, 1 };
    for (int i = 0; i < x->ndim; i++) {
        if (i < dim)
            s.outer *= x->shape[i];
        else if (i == dim)
            s.d = x->shape[i];
        else
            s.inner *= x->shape[i];
    }
    return s;
}
/* Whether the product of the non-zero sizes stays within agi_numel's limit.
 * An empty leaf may have sizes such as (0, 2^62, 2^62) (PyTorch allows it, and
 * prints it); ops refuse them as inputs and results (agi_record,
 * agi_tape_alloc), so kernels may multiply any of their sizes. */
bool agi_shape_fits(int ndim, const int64_t *shape);

/* A tape-owned tensor of the given shape, uninitialised data; NULL (with an
 * error on t naming fn) on failure. Without data, data is NULL (a view). */
ag_tensor *agi_tape_tensor(ag_tape *t, const char *fn, int ndim, const int64_t *shape);
ag_tensor *agi_tape_alloc(ag_tape *t, const char *fn, int ndim, const int64_t *shape,
                          bool with_data);
/* agi_tape_alloc of a tensor of dtype (its data dtype's size per element). */
ag_tensor *agi_tape_alloc_dt(ag_tape *t, const char *fn, int ndim, const int64_t *shape,
                             bool with_data, int dtype);
/* A caller-owned leaf of dtype, uninitialised data (64-byte aligned); NULL with
 * ag_last_error naming fn on a bad shape or allocation failure. */
ag_tensor *agi_leaf_new(const char *fn, int ndim, const int64_t *shape, int dtype);

/* Creates x.grad as zeros if x (a leaf) has none, from x's allocator, or on
 * x's tape for a tape-owned leaf. False if allocation fails (no error set). */
bool agi_leaf_grad(ag_tensor *x);
/* Frees a grad made by agi_leaf_grad and sets x.grad to NULL. */
void agi_leaf_grad_drop(ag_tensor *x);

/* ---- threads (core/pool.c) ----
 * Runs fn(ctx, 0..ntasks-1) on the pool: the caller and the workers take the
 * tasks in order from a shared counter; returns when all are done. The
 * tasks must be independent; to keep results bit-identical for any thread
 * count, each output element must be computed by one task in a fixed order. */
typedef void (*agi_task_fn)(void *ctx, int task);
void agi_parallel_for(int ntasks, agi_task_fn fn, void *ctx);

/* Runs fn(ctx, lo, hi) over [0, n) in contiguous ranges: one call for
 * [0, n) below AGI_PAR_MIN elements, else chunks of AGI_PAR_CHUNK elements
 * (the last one shorter) on the pool. The boundaries depend on n alone, never
 * on the thread count, so a kernel that only writes elements of its own range
 * (each in a fixed order) gives bit-identical results for any thread count. */
#define AGI_PAR_MIN ((int64_t)1 << 16)
#define AGI_PAR_CHUNK ((int64_t)1 << 15)
typedef void (*agi_range_fn)(void *ctx, int64_t lo, int64_t hi);
void agi_parallel_range(int64_t n, agi_range_fn fn, void *ctx);

/* ---- vector width of the math-heavy elementwise loops (kernels/simd.c, kernels/unary.h) ----
 * agi_simd() is the level to run (the best available, or AG_SIMD's);
 * agi_simd_force(level) makes every thread use that level (-1: back to
 * normal; ignored if unavailable), for tests comparing the widths. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define AGI_SIMD_CLONES 1
#else
#define AGI_SIMD_CLONES 0
#endif
enum { AGI_SIMD_BASE, AGI_SIMD_AVX2, AGI_SIMD_AVX512 };
int agi_simd(void);
bool agi_simd_available(int level);
void agi_simd_force(int level);

/* ---- the op table --------------------------------------------------------------
 * One row per op, in one list (AGI_OPS, made of one sub-list per op family
 * so families can grow apart), expanded into the enum and the table.
 * Adding an op: its row here, its forward/backward in the family's ops_*.c
 * file, its public function in autograd.h, and its tests (a gradient check
 * and PyTorch reference cases; test_gradcheck and test_reference fail for a
 * row without them).
 *
 *   shape(t, api, call):    checks the inputs and parameters of call, sets
 *                           call->ndim/shape (and save_size, alias); false
 *                           after agi_fail on bad input
 *   forward(out):           out->data = f(out->in[..]->data, out->param, ...)
 *   backward(out, dout, d): d[k] += dout * d(out)/d(in[k]) for each d[k] != NULL
 *
 * n_inputs is -1 for a variadic op (cat). domain tells the generic gradient
 * test where to sample inputs (AGI_DOM_*); AGI_DOM_NONE ops have their own
 * gradient test cases (tests/gc_*.inc).
 * The shape function is named in full (agi_shape_same, agi_shape_bcast, or
 * the family's agi_<op>_shape); kernels without their agi_ prefix.
 * tile is ew for an elementwise op whose backward also exists as a tile
 * kernel, agi_<backward>_tile (see agi_tile_fn), and no otherwise.
 * X(ENUM, name, grad_fn, n_inputs, shape, forward, backward, domain, tile) */
#define AGI_OPS_ARITH(X)                                                                          \
    X(ADD,         "add",         "AddBackward0",  2, agi_shape_bcast, add_fwd,     add_bwd,     AGI_DOM_REAL, ew) \
    X(SUB,         "sub",         "SubBackward0",  2, agi_shape_bcast, sub_fwd,     sub_bwd,     AGI_DOM_REAL, ew) \
    X(MUL,         "mul",         "MulBackward0",  2, agi_shape_bcast, mul_fwd,     mul_bwd,     AGI_DOM_REAL, ew) \
    X(NEG,         "neg",         "NegBackward0",  1, agi_shape_same,  neg_fwd,     neg_bwd,     AGI_DOM_REAL, ew) \
    X(ADD_SCALAR,  "add_scalar",  "AddBackward0",  1, agi_shape_same,  adds_fwd,    adds_bwd,    AGI_DOM_REAL, ew) \
    X(SUB_SCALAR,  "sub_scalar",  "SubBackward0",  1, agi_shape_same,  subs_fwd,    adds_bwd,    AGI_DOM_REAL, ew) \
    X(RSUB_SCALAR, "rsub_scalar", "RsubBackward1", 1, agi_shape_same,  rsubs_fwd,   neg_bwd,     AGI_DOM_REAL, ew) \
    X(MUL_SCALAR,  "mul_scalar",  "MulBackward0",  1, agi_shape_same,  muls_fwd,    muls_bwd,    AGI_DOM_REAL, ew) \
    X(DIV,         "div",         "DivBackward0",  2, agi_shape_bcast, div_fwd,     div_bwd,     AGI_DOM_POS, ew)  \
    X(DIV_SCALAR,  "div_scalar",  "DivBackward0",  1, agi_shape_same,  divs_fwd,    divs_bwd,    AGI_DOM_NONE, ew) \
    X(RDIV_SCALAR, "rdiv_scalar", "MulBackward0",  1, agi_shape_same,  rdivs_fwd,   rdivs_bwd,   AGI_DOM_POS, ew)

/* elementwise math (ops/math.c); ag_square records a POW row (PyTorch's
 * square is pow(x, 2)) */
#define AGI_OPS_MATH(X)                                                                           \
    X(POW,         "pow",         "PowBackward0",  1, agi_shape_same,  pow_fwd,     pow_bwd,     AGI_DOM_POS, ew)  \
    X(EXP,         "exp",         "ExpBackward0",  1, agi_shape_same,  exp_fwd,     exp_bwd,     AGI_DOM_REAL, ew) \
    X(SIN,         "sin",         "SinBackward0",  1, agi_shape_same,  sin_fwd,     sin_bwd,     AGI_DOM_REAL, ew) \
    X(SQRT,        "sqrt",        "SqrtBackward0", 1, agi_shape_same,  sqrt_fwd,    sqrt_bwd,    AGI_DOM_POS, ew)  \
    X(POW_TENSOR,  "pow_tensor",  "PowBackward1",  2, agi_shape_bcast, powt_fwd,    powt_bwd,    AGI_DOM_POS, ew)  \
    X(LOG,         "log",         "LogBackward0",  1, agi_shape_same,  log_fwd,     log_bwd,     AGI_DOM_POS, ew)  \
    X(COS,         "cos",         "CosBackward0",  1, agi_shape_same,  cos_fwd,     cos_bwd,     AGI_DOM_REAL, ew) \
    X(TAN,         "tan",         "TanBackward0",  1, agi_shape_same,  tan_fwd,     tan_bwd,     AGI_DOM_NONE, ew) \
    X(ABS,         "abs",         "AbsBackward0",  1, agi_shape_same,  abs_fwd,     abs_bwd,     AGI_DOM_REAL, ew) \
    X(RECIPROCAL,  "reciprocal",  "ReciprocalBackward0", 1, agi_shape_same, recip_fwd, recip_bwd, AGI_DOM_POS, ew)  \
    X(RSQRT,       "rsqrt",       "RsqrtBackward0", 1, agi_shape_same, rsqrt_fwd,   rsqrt_bwd,   AGI_DOM_POS, ew)  \
    X(LOG1P,       "log1p",       "Log1PBackward0", 1, agi_shape_same, log1p_fwd,   log1p_bwd,   AGI_DOM_POS, ew)  \
    X(EXPM1,       "expm1",       "Expm1Backward0", 1, agi_shape_same, expm1_fwd,   expm1_bwd,   AGI_DOM_REAL, ew) \
    X(ERF,         "erf",         "ErfBackward0",   1, agi_shape_same, erf_fwd,     erf_bwd,     AGI_DOM_REAL, ew) \
    X(SIGN,        "sign",        "SignBackward0",  1, agi_shape_same, sign_fwd,    zero_bwd,    AGI_DOM_REAL, ew) \
    X(FLOOR,       "floor",       "FloorBackward0", 1, agi_shape_same, floor_fwd,   zero_bwd,    AGI_DOM_REAL, ew) \
    X(CEIL,        "ceil",        "CeilBackward0",  1, agi_shape_same, ceil_fwd,    zero_bwd,    AGI_DOM_REAL, ew) \
    X(ROUND,       "round",       "RoundBackward0", 1, agi_shape_same, round_fwd,   zero_bwd,    AGI_DOM_REAL, ew)

/* activations and elementwise comparisons (ops/act.c); gelu's param[0] is 1
 * for the tanh approximation, clamp's and hardtanh's param[0..1] are their
 * bounds, softplus's are beta and threshold, elu's param[0] is alpha */
#define AGI_OPS_ACT(X)                                                                            \
    X(TANH,        "tanh",        "TanhBackward0",      1, agi_shape_same,  tanh_fwd,    tanh_bwd,    AGI_DOM_REAL, ew) \
    X(SIGMOID,     "sigmoid",     "SigmoidBackward0",   1, agi_shape_same,  sigmoid_fwd, sigmoid_bwd, AGI_DOM_REAL, ew) \
    X(RELU,        "relu",        "ReluBackward0",      1, agi_shape_same,  relu_fwd,    relu_bwd,    AGI_DOM_REAL, ew) \
    X(LEAKY_RELU,  "leaky_relu",  "LeakyReluBackward0", 1, agi_shape_same,  lrelu_fwd,   lrelu_bwd,   AGI_DOM_REAL, ew) \
    X(GELU,        "gelu",        "GeluBackward0",      1, agi_shape_same,  gelu_fwd,    gelu_bwd,    AGI_DOM_REAL, ew) \
    X(CLAMP,       "clamp",       "ClampBackward1",     1, agi_shape_same,  clamp_fwd,   clamp_bwd,   AGI_DOM_NONE, ew) \
    X(MAXIMUM,     "maximum",     "MaximumBackward0",   2, agi_shape_bcast, maximum_fwd, maximum_bwd,    AGI_DOM_NONE, ew) \
    X(MINIMUM,     "minimum",     "MinimumBackward0",   2, agi_shape_bcast, minimum_fwd, minimum_bwd,    AGI_DOM_NONE, ew) \
    X(SOFTPLUS,    "softplus",    "SoftplusBackward0",  1, agi_shape_same,  softplus_fwd, softplus_bwd, AGI_DOM_NONE, ew) \
    X(SILU,        "silu",        "SiluBackward0",      1, agi_shape_same,  silu_fwd,    silu_bwd,    AGI_DOM_REAL, ew) \
    X(ELU,         "elu",         "EluBackward0",       1, agi_shape_same,  elu_fwd,     elu_bwd,     AGI_DOM_REAL, ew) \
    X(HARDTANH,    "hardtanh",    "HardtanhBackward0",  1, agi_shape_same,  hardtanh_fwd, hardtanh_bwd, AGI_DOM_NONE, ew) \
    X(MISH,        "mish",        "MishBackward0",      1, agi_shape_same,  mish_fwd,    mish_bwd,    AGI_DOM_REAL, ew)

/* shape and indexing: views, permutes, cat, narrow, index_select (ops/shape.c) */
#define AGI_OPS_SHAPE(X)                                                                                                  \
    X(RESHAPE,      "reshape",      "ReshapeAliasBackward0", 1, agi_shape_reshape,      view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(VIEW,         "view",         "ViewBackward0",         1, agi_shape_reshape,      view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(FLATTEN,      "flatten",      "ReshapeAliasBackward0", 1, agi_shape_flatten,      view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(SQUEEZE,      "squeeze",      "SqueezeBackward1",      1, agi_shape_squeeze,      view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(SQUEEZE_ALL,  "squeeze_all",  "SqueezeBackward0",      1, agi_shape_squeeze_all,  view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(UNSQUEEZE,    "unsqueeze",    "UnsqueezeBackward0",    1, agi_shape_unsqueeze,    view_fwd,    view_bwd,    AGI_DOM_NONE, no) \
    X(TRANSPOSE,    "transpose",    "TransposeBackward0",    1, agi_shape_transpose,    perm_fwd,    perm_bwd,    AGI_DOM_NONE, no) \
    X(T,            "t",            "TBackward0",            1, agi_shape_t,            perm_fwd,    perm_bwd,    AGI_DOM_NONE, no) \
    X(PERMUTE,      "permute",      "PermuteBackward0",      1, agi_shape_permute,      perm_fwd,    perm_bwd,    AGI_DOM_NONE, no) \
    X(EXPAND,       "expand",       "ExpandBackward0",       1, agi_shape_expand,       expand_fwd,  expand_bwd,  AGI_DOM_NONE, no) \
    X(CAT,          "cat",          "CatBackward0",         -1, agi_shape_cat,          cat_fwd,     cat_bwd,     AGI_DOM_NONE, no) \
    X(STACK,        "stack",        "StackBackward0",       -1, agi_shape_stack,        cat_fwd,     cat_bwd,     AGI_DOM_NONE, no) \
    X(NARROW,       "narrow",       "SliceBackward0",        1, agi_shape_narrow,       slice_fwd,   slice_bwd,   AGI_DOM_NONE, no) \
    X(SELECT,       "select",       "SelectBackward0",       1, agi_shape_select,       slice_fwd,   slice_bwd,   AGI_DOM_NONE, no) \
    X(INDEX_SELECT, "index_select", "IndexSelectBackward0",  1, agi_shape_index_select, isel_fwd,    isel_bwd,    AGI_DOM_NONE, no) \
    X(GATHER,       "gather",       "GatherBackward0",       1, agi_shape_gather,       gather_fwd,  gather_bwd,  AGI_DOM_NONE, no)
/* their shape functions (ops/shape.c) */
struct agi_call;
bool agi_shape_reshape(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_flatten(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_squeeze(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_squeeze_all(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_unsqueeze(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_transpose(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_t(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_permute(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_expand(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_cat(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_stack(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_narrow(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_select(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_index_select(ag_tape *t, const char *fn, struct agi_call *c);
bool agi_shape_gather(ag_tape *t, const char *fn, struct agi_call *c);
/* gather's aux while recording (replaced by the index values): the index's
 * ndim (-1: x's), its sizes and its values, row-major */
typedef struct agi_gather_args {
    int ndim;
    const int64_t *shape;
    const int64_t *index;
} agi_gather_args;
/* Checks an index tensor argument of fn (what: "index", "target"): not NULL,
 * not from another tape, int64, sizes that fit. On failure records the error
 * and returns false (ops/index.c). */
bool agi_index_arg(ag_tape *t, const char *fn, const char *what, const ag_tensor *ix);

/* reductions and softmax (ops/reduce.c): dims lists as bitmasks in ip[0],
 * keepdim in ip[1], var/std's correction in ip[2]; see the file's header */
struct agi_call;
bool agi_shape_reduce(ag_tape *t, const char *fn, struct agi_call *c);      /* sum, mean, logsumexp */
bool agi_shape_extreme_dim(ag_tape *t, const char *fn, struct agi_call *c); /* max, min over a dim */
bool agi_shape_extreme_all(ag_tape *t, const char *fn, struct agi_call *c); /* max_all, min_all */
bool agi_shape_amax(ag_tape *t, const char *fn, struct agi_call *c);        /* amax, amin */
bool agi_shape_var(ag_tape *t, const char *fn, struct agi_call *c);         /* var, std */
bool agi_shape_softmax(ag_tape *t, const char *fn, struct agi_call *c);     /* softmax, log_softmax */
#define AGI_OPS_REDUCE(X)                                                                         \
    X(SUM,         "sum",         "SumBackward0",        1, agi_shape_reduce,      sum_fwd,         sum_bwd,         AGI_DOM_NONE, no) \
    X(MEAN,        "mean",        "MeanBackward0",       1, agi_shape_reduce,      mean_fwd,        mean_bwd,        AGI_DOM_NONE, no) \
    X(MAX,         "max",         "MaxBackward0",        1, agi_shape_extreme_dim, max_fwd,         max_bwd,         AGI_DOM_NONE, no) \
    X(MIN,         "min",         "MinBackward0",        1, agi_shape_extreme_dim, min_fwd,         min_bwd,         AGI_DOM_NONE, no) \
    X(MAX_ALL,     "max_all",     "MaxBackward1",        1, agi_shape_extreme_all, max_all_fwd,     max_all_bwd,     AGI_DOM_NONE, no) \
    X(MIN_ALL,     "min_all",     "MinBackward1",        1, agi_shape_extreme_all, min_all_fwd,     min_all_bwd,     AGI_DOM_NONE, no) \
    X(AMAX,        "amax",        "AmaxBackward0",       1, agi_shape_amax,        amax_fwd,        amax_bwd,        AGI_DOM_NONE, no) \
    X(AMIN,        "amin",        "AminBackward0",       1, agi_shape_amax,        amin_fwd,        amin_bwd,        AGI_DOM_NONE, no) \
    X(VAR,         "var",         "VarBackward0",        1, agi_shape_var,         var_fwd,         var_bwd,         AGI_DOM_NONE, no) \
    X(STD,         "std",         "StdBackward0",        1, agi_shape_var,         std_fwd,         std_bwd,         AGI_DOM_NONE, no) \
    X(LOGSUMEXP,   "logsumexp",   "LogsumexpBackward0",  1, agi_shape_reduce,      lse_fwd,         lse_bwd,         AGI_DOM_NONE, no) \
    X(SOFTMAX,     "softmax",     "SoftmaxBackward0",    1, agi_shape_softmax,     softmax_fwd,     softmax_bwd,     AGI_DOM_NONE, no) \
    X(LOG_SOFTMAX, "log_softmax", "LogSoftmaxBackward0", 1, agi_shape_softmax,     log_softmax_fwd, log_softmax_bwd, AGI_DOM_NONE, no)

/* matmul (ops/linalg.c) */
#define AGI_OPS_LINALG(X)                                                                         \
    X(MATMUL,      "matmul",      "MmBackward0",   2, agi_matmul_shape, matmul_fwd,  matmul_bwd,  AGI_DOM_NONE, no)

/* fused losses (ops/loss.c) */
#define AGI_OPS_LOSS(X)                                                                           \
    X(MSE_LOSS,           "mse_loss",           "MseLossBackward0",  2,  agi_mse_shape, mse_fwd, mse_bwd, AGI_DOM_NONE, no) \
    X(CROSS_ENTROPY,      "cross_entropy",      "NllLossBackward0",  1,  agi_ce_shape,  ce_fwd,  ce_bwd,  AGI_DOM_NONE, no) \
    X(CROSS_ENTROPY_PROB, "cross_entropy_prob", "CrossEntropyProbBackward", 2, agi_ce_shape, ce_fwd, ce_bwd, AGI_DOM_NONE, no)

/* nn building blocks (ops/nn.c) */
#define AGI_OPS_NN(X)                                                                             \
    X(AFFINE,      "affine",      "AddmmBackward0", -1, agi_affine_shape, affine_fwd, affine_bwd, AGI_DOM_NONE, no)

/* scans and triangles (ops/scan.c): the dim (cumsum, cumprod) or the
 * diagonal (triu, tril) in ip[0] */
#define AGI_OPS_SCAN(X)                                                                           \
    X(CUMSUM,      "cumsum",      "CumsumBackward0",  1, agi_scan_shape, cumsum_fwd,  cumsum_bwd,  AGI_DOM_NONE, no) \
    X(CUMPROD,     "cumprod",     "CumprodBackward0", 1, agi_scan_shape, cumprod_fwd, cumprod_bwd, AGI_DOM_NONE, no) \
    X(TRIU,        "triu",        "TriuBackward0",    1, agi_tri_shape,  triu_fwd,    triu_bwd,    AGI_DOM_NONE, no) \
    X(TRIL,        "tril",        "TrilBackward0",    1, agi_tri_shape,  tril_fwd,    tril_bwd,    AGI_DOM_NONE, no)

/* dtype conversion (core/dtype.c): ip[0] is the target dtype */
#define AGI_OPS_DTYPE(X)                                                                          \
    X(TO_DTYPE,    "to_dtype",    "ToCopyBackward0", 1, agi_to_dtype_shape, to_dtype_fwd, to_dtype_bwd, AGI_DOM_NOGRAD, no)

/* ops that produce indices (ops/sort.c): argmax/argmin (int64 results:
 * no gradient, so no grad_fn is ever printed), sort (argsort is its
 * indices) and topk, whose values have gradients; see the file's header for
 * ip. torch.max/min over a dim with indices are the MAX/MIN rows. */
#define AGI_OPS_INDEX(X)                                                                          \
    X(ARGMAX,      "argmax",      "NotDifferentiable", 1, agi_argmax_shape, argmax_fwd, arg_bwd,  AGI_DOM_NOGRAD, no) \
    X(ARGMIN,      "argmin",      "NotDifferentiable", 1, agi_argmax_shape, argmin_fwd, arg_bwd,  AGI_DOM_NOGRAD, no) \
    X(SORT,        "sort",        "SortBackward0",     1, agi_sort_shape,   sort_fwd,   sort_bwd, AGI_DOM_NONE, no)   \
    X(TOPK,        "topk",        "TopkBackward0",     1, agi_topk_shape,   topk_fwd,   topk_bwd, AGI_DOM_NONE, no)

#define AGI_OPS(X) AGI_OPS_ARITH(X) AGI_OPS_MATH(X) AGI_OPS_ACT(X) AGI_OPS_SHAPE(X) \
    AGI_OPS_REDUCE(X) AGI_OPS_LINALG(X) AGI_OPS_LOSS(X) AGI_OPS_NN(X) AGI_OPS_SCAN(X) \
    AGI_OPS_DTYPE(X) AGI_OPS_INDEX(X)

enum agi_domain {
    AGI_DOM_REAL,   /* any value in [-2, 2] */
    AGI_DOM_POS,    /* values in [0.5, 2] */
    AGI_DOM_NONE,   /* not a generic elementwise op: has its own gradient cases */
    AGI_DOM_NOGRAD  /* its result never requires grad (an int64 or bool result): no
                       gradient to check, only reference values */
};

enum agi_op {
#define AGI_ENUM(E, ...) AGI_OP_##E,
    AGI_OPS(AGI_ENUM)
#undef AGI_ENUM
    AGI_OP_COUNT
};

/* An op call being recorded: what the shape function checks and completes,
 * and what agi_record copies into the result. */
typedef struct agi_call {
    const char *api;           /* the function errors name; NULL: the op's own (its api) */
    int nin;
    ag_tensor *const *in;
    float param[AGI_MAX_PARAMS];
    int64_t ip[AGI_MAX_IPARAMS];
    const void *aux;           /* copied to the arena (aux_size bytes) as out->aux */
    size_t aux_size;
    /* set by the shape function */
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    size_t save_size;          /* bytes of out->save, zeroed before forward */
    bool alias;                /* out shares in[0]'s data (a view): no data allocated */
    /* dtypes: without any_dtype, agi_record lets only float32 inputs through
     * (converting int64 and bool ones where agi_promotes) and the result is
     * float32; with it, the shape function checks the dtypes and sets dtype */
    bool any_dtype;
    int dtype;                 /* the result's (set by the shape function if any_dtype) */
} agi_call;

typedef void (*agi_forward_fn)(ag_tensor *out);
typedef void (*agi_backward_fn)(const ag_tensor *out, const float *dout, float *const *din);
/* An elementwise op's backward over the elements [lo, hi) of a result whose
 * inputs all have its numel (no broadcasting), on the caller's thread:
 * d[k][i - lo] += dout[i - lo] * d(out)/d(in[k]) at element i. dout and d[k]
 * point at element lo of their arrays (which may be tile-sized scratch: see
 * the backward in core/backward.c); the inputs' and the result's data are read at
 * element i of their own arrays. Per element it computes exactly what the
 * backward kernel computes. */
typedef void (*agi_tile_fn)(const ag_tensor *out, const float *dout, float *const *din,
                            int64_t lo, int64_t hi);
typedef bool (*agi_shape_fn)(ag_tape *t, const char *fn, agi_call *c);

typedef struct agi_op_def {
    const char *name;          /* "add" */
    const char *api;           /* "ag_add": the public function, for messages */
    const char *grad_fn;       /* PyTorch's grad_fn name, for printing */
    int n_inputs;              /* -1: any number >= 1 */
    agi_shape_fn shape;
    agi_forward_fn forward;
    agi_backward_fn backward;
    int domain;
    agi_tile_fn tile;          /* NULL unless the row's tile is ew */
} agi_op_def;

extern const agi_op_def agi_ops[AGI_OP_COUNT];

/* Declarations of every kernel the table names (defined in ops_*.c, with an
 * agi_ prefix: the row's add_fwd is agi_add_fwd). */
#define AGI_TILE_DECL_ew(bwd) \
    void agi_##bwd##_tile(const ag_tensor *out, const float *dout, float *const *din, \
                          int64_t lo, int64_t hi);
#define AGI_TILE_DECL_no(bwd)
#define AGI_DECL(E, name, gf, n, shp, fwd, bwd, dom, tile) \
    bool shp(ag_tape *t, const char *fn, agi_call *c); \
    void agi_##fwd(ag_tensor *out);                  \
    void agi_##bwd(const ag_tensor *out, const float *dout, float *const *din); \
    AGI_TILE_DECL_##tile(bwd)
AGI_OPS(AGI_DECL)
#undef AGI_DECL

/* The grad_fn name print shows for a recorded result: the row's, except for
 * ops whose PyTorch counterpart is a composite with variant-dependent names. */
const char *agi_grad_fn(const ag_tensor *x);
const char *agi_ce_grad_fn(const ag_tensor *out);

bool agi_shape_same(ag_tape *t, const char *fn, agi_call *c);
bool agi_shape_bcast(ag_tape *t, const char *fn, agi_call *c);

/* ---- matrix products (kernels/gemm.c, ops/linalg.c) ----
 * agi_sgemm: C (+)= op(A) op(B) for row-major float matrices, where op(X) is
 * X, or X^T if its flag is set. op(A) is m x k, op(B) k x n, C m x n; lda, ldb
 * and ldc are the row strides of A, B and C as stored (A is m x k, or k x m
 * if ta). With accumulate, C += op(A) op(B), C's old value added once to the
 * product exactly as computed without accumulate (PyTorch's rounding of
 * grad += new_grad); else C = op(A) op(B) and C's old contents are never read. k == 0 gives zeros. Accumulates in float like
 * BLAS; allocates nothing (packing buffers are on the stack, about 230 KB).
 * agi_sgemm_with runs a given implementation (for tests); false if this CPU
 * or build does not have it. */
enum { AGI_GEMM_AUTO, AGI_GEMM_PORTABLE, AGI_GEMM_VECTOR, AGI_GEMM_AVX2, AGI_GEMM_UNBLOCKED,
       AGI_GEMM_AVX512 };
void agi_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const float *b, int64_t ldb, float *c, int64_t ldc, bool accumulate);
bool agi_sgemm_with(int impl, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                    int64_t ldc, bool accumulate);
bool agi_matmul_shape(ag_tape *t, const char *fn, agi_call *c);

/* ---- broadcasting (core/broadcast.c) ----
 * A binary op's output walked in row-major order, with the element strides of
 * its two inputs (0 along broadcast dimensions). Dimensions are merged where
 * possible; nd >= 1 and every n[i] >= 1. */
typedef struct agi_bcast {
    int nd;
    int64_t n[AG_MAX_DIMS];
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
} agi_bcast;

void agi_bcast_init(agi_bcast *bc, const ag_tensor *out, const ag_tensor *a, const ag_tensor *b);

/* Runs BODY once per output element, in order, with io (output index), ia and
 * ib (input indices) set. The output must have at least one element. */
#define AGI_BCAST_LOOP(bc, io, ia, ib, ...)                                          \
    do {                                                                             \
        int64_t bidx_[AG_MAX_DIMS] = { 0 };                                           \
        int64_t io = 0, ia = 0, ib = 0;                                              \
        const int bnd_ = (bc)->nd;                                                    \
        const int64_t bn_ = (bc)->n[bnd_ - 1];                                         \
        const int64_t bsa_ = (bc)->sa[bnd_ - 1], bsb_ = (bc)->sb[bnd_ - 1];              \
        for (;;) {                                                                   \
            for (int64_t bj_ = 0; bj_ < bn_; bj_++, io++, ia += bsa_, ib += bsb_) {        \
                __VA_ARGS__                                                          \
            }                                                                        \
            ia -= bsa_ * bn_;                                                          \
            ib -= bsb_ * bn_;                                                          \
            int bd_ = bnd_ - 2;                                                        \
            for (; bd_ >= 0; bd_--) {                                                  \
                if (++bidx_[bd_] < (bc)->n[bd_]) {                                      \
                    ia += (bc)->sa[bd_];                                              \
                    ib += (bc)->sb[bd_];                                              \
                    break;                                                           \
                }                                                                    \
                ia -= (bc)->sa[bd_] * ((bc)->n[bd_] - 1);                              \
                ib -= (bc)->sb[bd_] * ((bc)->n[bd_] - 1);                              \
                bidx_[bd_] = 0;                                                        \
            }                                                                        \
            if (bd_ < 0)                                                              \
                break;                                                               \
        }                                                                            \
    } while (0)

/* Records op on t: checks the tape and the inputs, calls the op's shape
 * function, allocates the result, runs the forward kernel and links it into
 * the tape. The public op functions are one call to this. NULL on error. */
ag_tensor *agi_record(ag_tape *t, int op, agi_call *c);
/* agi_record's check of input k of n (named "input" when n is 1) on t, for a
 * public function that checks its caller's input before recording through
 * another op: not NULL, not from another tape, sizes that fit. On failure
 * records the error, named after fn, and returns false. */
bool agi_usable(ag_tape *t, const char *fn, int k, int n, const ag_tensor *x);

static inline ag_tensor *agi_unary(ag_tape *t, int op, ag_tensor *a, float p)
{
    ag_tensor *in[1] = { a };
    agi_call c = { .nin = 1, .in = in, .param = { p } };
    return agi_record(t, op, &c);
}

static inline ag_tensor *agi_binary(ag_tape *t, int op, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[2] = { a, b };
    agi_call c = { .nin = 2, .in = in };
    return agi_record(t, op, &c);
}

#endif /* AG_INTERNAL_H */
