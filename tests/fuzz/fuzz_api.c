/* fuzz_api.c - libFuzzer harness for libautograd's public API.
 *
 * The input bytes are a small program: an allocator mode, six leaves (shapes
 * of 0..4 dims with sizes 0..6, sometimes a bad shape; values including NaN,
 * inf and -0), then up to MAX_STEPS ops picked by byte from a table covering
 * include/autograd.h, on two tapes (or NULL), with NULL, foreign and odd
 * arguments mixed in. After every step it checks the library's promises and
 * abort()s (so libFuzzer reports) when one is broken:
 *   - a failed call returns NULL / a status and leaves an error naming the
 *     function ("ag_..."), on the tape (sticky) or in ag_last_error();
 *   - no call that failed, and no forward op at all, changes a caller's
 *     tensor: data, requires_grad, grad pointer and grad data (bit-compared);
 *   - every result's numel is the product of its shape, its data readable;
 *   - the allocator is given back exactly what it handed out (same size, same
 *     allocator), and nothing leaks (ASan's leak checker, and our count).
 * Build and run (see README.md; the seeds are written by make_corpus.py):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_FUZZ=ON
 *   cmake --build build-fuzz -j2 --target fuzz_api
 *   mkdir -p build-fuzz/corpus && cp tests/fuzz/corpus/[a-z]* build-fuzz/corpus/
 *   build-fuzz/tests/fuzz/fuzz_api -max_total_time=60 build-fuzz/corpus
 * libFuzzer adds inputs to the corpus directory it runs on: never the source tree.
 */
#include "autograd.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the harness may abort (that is how libFuzzer learns of a finding); the library may not */
#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "fuzz_api: CHECK failed at line %d: %s\n", \
                                           __LINE__, #c), abort()))
#ifdef FUZZ_TRACE                               /* -DFUZZ_TRACE: what each step did */
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

/* leaves hold <= MAXN elements, or BIGN (enough for backward's tiled runs);
 * a Linear's weight <= 100 x 6 */
enum { NLEAF = 6, NRES = 16, NWATCH = NLEAF + 4, MAXN = 256, BIGN = 2 * 2111, MAX_STEPS = 40 };

/* ---- the input ---- */
typedef struct rd { const uint8_t *p; size_t n, i; } rd;
static uint8_t u8(rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static float fval(rd *r)
{
    static const float sp[] = { 0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, NAN, INFINITY, -INFINITY,
                                1e30f, -1e-30f, 1000.0f, -1000.0f, 3.4e38f, 1e-45f, 0.999f };
    uint8_t b = u8(r);
    return b < 208 ? (float)((int)b - 104) / 16.0f : sp[(b - 208) % 16];
}
static int ival(rd *r)              /* dims: mostly small, sometimes extreme */
{
    uint8_t b = u8(r);
    return b < 240 ? (int)(b % 21) - 10 : (b & 1) ? 2147483647 : -2147483647 - 1;
}
static int64_t lval(rd *r)          /* sizes, indices, counts */
{
    static const int64_t sp[] = { INT64_MAX, INT64_MIN, (int64_t)1 << 62, -((int64_t)1 << 62),
                                  (int64_t)1 << 32, -100, 100, 7 };
    uint8_t b = u8(r);
    return b < 232 ? (int64_t)(b % 17) - 8 : sp[b % 8];
}

/* ---- a counting allocator that can fail and that checks every free ---- */
typedef struct hdr { size_t size; const void *owner; uint64_t pad; } hdr;
typedef struct counter { size_t live, nalloc, fail_at, cap; int persist; } counter;
static counter acc[2];              /* [0] may inject failures; [1] never does */

static void *fz_alloc(void *ud, void *ptr, size_t old, size_t n)
{
    counter *c = ud;
    if (n == 0) {
        CHECK(ptr != NULL);         /* the library frees only what it got */
        hdr *h = (hdr *)ptr - 1;
        CHECK(h->owner == c && h->size == old && c->live >= old);
        c->live -= old;
        free(h);
        return NULL;
    }
    CHECK(ptr == NULL && old == 0);
    c->nalloc++;
    if (c->fail_at && (c->nalloc == c->fail_at || (c->persist && c->nalloc > c->fail_at)))
        return NULL;
    if (n > ((size_t)1 << 20) || c->live + n > (c->cap ? c->cap : (size_t)32 << 20))
        return NULL;                /* a real allocator's limit; keeps each input fast */
    hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    h->owner = c;
    c->live += n;
    return h + 1;
}

/* ---- the state ---- */
typedef struct fz {
    rd r;
    ag_tape *tape[2];
    bool grad_on[2];
    ag_tensor *leaf[NLEAF];
    ag_tensor *res[2][NRES];
    int nres[2];
    ag_linear *lin[2];
    ag_optim *opt[2];
    ag_rng rng;
} fz;

/* caller-owned tensors whose bits a failed call must not change */
typedef struct snap {
    const ag_tensor *x, *g;
    int64_t n;
    bool rg;
    float d[BIGN], gd[BIGN];
} snap;
static snap watch[NWATCH];

static ag_tensor *watched(fz *f, int k)
{
    return k < NLEAF ? f->leaf[k] : (k - NLEAF) % 2 ? ag_linear_bias(f->lin[(k - NLEAF) / 2])
                                                     : ag_linear_weight(f->lin[(k - NLEAF) / 2]);
}

static void snap_all(fz *f)
{
    for (int k = 0; k < NWATCH; k++) {
        snap *s = &watch[k];
        ag_tensor *x = watched(f, k);
        s->x = x;
        if (!x)
            continue;
        s->n = ag_numel(x);
        CHECK(s->n >= 0 && s->n <= BIGN);
        s->rg = ag_requires_grad(x);
        s->g = ag_grad(x);
        memcpy(s->d, ag_data(x), (size_t)s->n * sizeof(float));
        if (s->g)
            memcpy(s->gd, ag_data((ag_tensor *)s->g), (size_t)s->n * sizeof(float));
    }
}

enum { MAY_DATA = 1, MAY_GRAD = 2, MAY_RG = 4 };   /* what a successful call may change */
static void snap_check(fz *f, int may)
{
    for (int k = 0; k < NWATCH; k++) {
        snap *s = &watch[k];
        ag_tensor *x = (ag_tensor *)s->x;
        CHECK(x == watched(f, k));
        if (!x)
            continue;
        CHECK(ag_numel(x) == s->n);
        if (!(may & MAY_DATA))
            CHECK(memcmp(ag_data(x), s->d, (size_t)s->n * sizeof(float)) == 0);
        if (!(may & MAY_RG))
            CHECK(ag_requires_grad(x) == s->rg);
        if (may & MAY_GRAD)
            continue;
        CHECK(ag_grad(x) == s->g);
        if (s->g)
            CHECK(memcmp(ag_data(ag_grad(x)), s->gd, (size_t)s->n * sizeof(float)) == 0);
    }
}

static volatile uint32_t sink;
static void check_tensor(const ag_tensor *x)
{
    const int nd = ag_ndim(x);
    CHECK(nd >= 0 && nd <= AG_MAX_DIMS);
    int64_t n = 1;
    bool big = false;                           /* (0, 2^62, 2^62) is a valid empty leaf */
    for (int i = 0; i < nd; i++) {
        const int64_t d = ag_shape(x)[i];
        CHECK(d >= 0);
        big = big || (d && n > INT64_MAX / d);
        n = big ? n : n * d;
    }
    CHECK(ag_numel(x) == (big ? 0 : n));
    const float *p = ag_data((ag_tensor *)x);
    if (ag_numel(x) > 0)                            /* ASan: the buffer is all there */
        sink = (uint32_t)(p[0] == p[ag_numel(x) - 1]);
}

static bool has(const char *s, const char *sub)
{
    if (s && s[0] && strstr(s, sub))
        return true;
    fprintf(stderr, "fuzz_api: error message \"%s\" does not name %s\n", s ? s : "(null)", sub);
    return false;
}

/* the result of a tape op (a its first input): the error rule, the result's
 * shape, is_leaf and (for views) shared elements; then into the pool */
static void after_op(fz *f, int ti, ag_tape *t, bool ok_before, const char *name,
                     ag_tensor *a, ag_tensor *y)
{
    TRACE("%s on tape %d: %s\n", name, ti, y ? "ok" : t ? ag_tape_error(t) : ag_last_error());
    if (!t) {
        CHECK(y == NULL && has(ag_last_error(), name));
    } else if (!y) {
        CHECK(ag_tape_status(t) != AG_OK && has(ag_tape_error(t), "ag_"));
        if (ok_before)
            CHECK(has(ag_tape_error(t), name));
    } else {
        CHECK(ok_before && ag_tape_status(t) == AG_OK && ag_tape_error(t)[0] == '\0');
        check_tensor(y);
        if (!f->grad_on[ti])
            CHECK(!ag_requires_grad(y));
        const bool detach = !strcmp(name, "ag_detach");
        CHECK(ag_is_leaf(y) == (detach || !ag_requires_grad(y)) && !(detach && ag_requires_grad(y)));
        static const char *const views[] = { "ag_reshape", "ag_view", "ag_flatten", "ag_squeeze",
                                             "ag_squeeze_all", "ag_unsqueeze", "ag_detach" };
        for (size_t k = 0; k < sizeof views / sizeof views[0]; k++)
            if (!strcmp(name, views[k]) && ag_numel(y) > 0)
                CHECK(ag_data(y) == ag_data(a));
        f->res[ti][f->nres[ti]++ % NRES] = y;
    }
    snap_check(f, 0);                           /* no forward op changes a leaf */
}

/* a tensor argument: a leaf, a linear parameter, a grad, NULL, or a result:
 * the latest (b >= 248), any, rarely one from the other tape */
static ag_tensor *pick(fz *f, int ti)
{
    uint8_t b = u8(&f->r);
    if (b < 64) {
        ag_tensor *x = watched(f, b % NWATCH);
        return b >= 56 ? ag_grad(x) : x;
    }
    if (b < 68)
        return NULL;
    int u = ti < 0 ? 0 : (b < 76 ? 1 - ti : ti);
    int n = f->nres[u] < NRES ? f->nres[u] : NRES;
    return !n ? f->leaf[b % NLEAF] : b >= 248 ? f->res[u][(f->nres[u] - 1) % NRES] : f->res[u][b % n];
}

static int make_shape(rd *r, int64_t *shape, int *ndim)
{
    uint8_t b = u8(r);
    int nd = b % 5;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = u8(r) % 7;
        if (n * shape[i] > MAXN)
            shape[i] = 1;
        n *= shape[i];
    }
    if (b >= 248) {                             /* a bad shape, or a huge empty one */
        switch (b & 7) {
        case 0: nd = 9; break;
        case 1: nd = -1; break;
        case 2: shape[0] = -1; nd = nd ? nd : 1; break;
        case 3:                                 /* (0, 2^62, 2^62) and the like: valid */
            nd = 3;
            shape[0] = shape[1] = shape[2] = (int64_t)1 << 62;
            shape[u8(r) % 3] = 0;
            break;
        case 4: nd = 2; shape[0] = 2; shape[1] = 2048 + u8(r) % 64; n = 2 * (int)shape[1]; break;
        default: break;
        }
    }
    *ndim = nd;
    return (int)n;
}

static ag_tensor *new_leaf(rd *r)
{
    int64_t shape[16] = { 0 };
    int nd;
    int n = make_shape(r, shape, &nd);
    const uint8_t how = u8(r);
    const int kind = (how >> 1) % 6;
    const bool rg = how & 1;
    static float v[BIGN];
    float pat[8];
    for (int i = 0; i < 8; i++)
        pat[i] = fval(r);
    for (int i = 0; i < n; i++)
        v[i] = pat[(i * 3 + i / 8) % 8];
    ag_tensor *x;
    switch (kind) {
    case 0: x = ag_zeros(nd, shape, rg); break;
    case 1: x = ag_ones(nd, shape, rg); break;
    case 2: x = ag_full(nd, shape, pat[0], rg); break;
    case 3: x = ag_scalar(pat[1], rg); break;
    case 4: x = ag_tensor_new(nd, (how & 64) ? NULL : shape, NULL, rg); break;
    default: x = ag_tensor_new(nd, shape, v, rg); break;
    }
    bool valid = nd >= 0 && nd <= AG_MAX_DIMS && (kind != 4 || !(how & 64) || !nd);
    for (int i = 0; valid && i < nd; i++)
        valid = shape[i] >= 0;
    valid = valid || kind == 3;                 /* ag_scalar takes no shape */
    if (!x)                                     /* a valid shape fails only for memory */
        CHECK(has(ag_last_error(), valid ? "out of memory" : "ag_"));
    else
        check_tensor(x);
    return x;
}

/* gradcheck's function: one of a few compositions of its inputs */
typedef struct gc_ud { int op, n; } gc_ud;
static ag_tensor *gc_fn(ag_tape *t, ag_tensor *const *in, void *ud)
{
    const gc_ud *g = ud;
    ag_tensor *x = in[0], *y = g->n > 1 ? in[1] : in[0];
    int d = -1;
    switch (g->op % 6) {
    case 0: return ag_sum(t, ag_mul(t, x, y), 0, NULL, false);
    case 1: return ag_tanh(t, ag_add(t, x, y));
    case 2: return ag_log_softmax(t, x, -1);
    case 3: return ag_matmul(t, x, y);
    case 4: return ag_logsumexp(t, ag_mse_loss(t, x, y, AG_REDUCTION_NONE), 1, &d, true);
    default: return NULL;
    }
}

static void step(fz *f)
{
    rd *r = &f->r;
    const int op = u8(r), tb = u8(r);
    const int ti = (tb & 15) == 15 ? -1 : (tb & 3) == 3 ? 1 : 0;
    ag_tape *t = ti < 0 ? NULL : f->tape[ti];
    const bool ok_before = t && ag_tape_status(t) == AG_OK;
    ag_tensor *a = pick(f, ti), *b = pick(f, ti), *y = NULL;
    int64_t s64[16] = { 0 }, idx[16] = { 0 }, ix[16] = { 0 };   /* read 8; room for 16 */
    int dims[16] = { 0 };
    for (int i = 0; i < 8; i++) {
        s64[i] = (tb & 128) ? lval(r) : (int64_t)(u8(r) % 7) - (i == 1);
        dims[i] = i < 4 && (tb & 64) ? i : ival(r);
        idx[i] = lval(r);
    }
    for (int i = 0; i < 8; i++)                 /* indices: mostly 0..2 */
        ix[i] = idx[i] < -6 || idx[i] > 6 ? idx[i] : (idx[i] < 0 ? -idx[i] : idx[i]) % 3;
    const int nd = (int)(u8(r) % 12) - 2, d0 = ival(r), d1 = ival(r);
    const float s = fval(r), s2 = fval(r);
    const bool kd = tb & 32;
    const char *name = NULL;
    snap_all(f);
#define T1(k, fn) case k: name = #fn; y = fn(t, a); break;
#define T2(k, fn) case k: name = #fn; y = fn(t, a, b); break;
#define TS(k, fn) case k: name = #fn; y = fn(t, a, s); break;
#define TR(k, fn) case k: name = #fn; y = fn(t, a, nd, dims, kd); break;
    switch (op % 86) {
    T2(0, ag_add) T2(1, ag_sub) T2(2, ag_mul) T2(3, ag_div) T2(4, ag_pow_tensor)
    T2(5, ag_maximum) T2(6, ag_minimum) T2(7, ag_matmul) T2(8, ag_add) T2(9, ag_mul)
    T1(10, ag_neg) T1(11, ag_exp) T1(12, ag_sin) T1(13, ag_sqrt) T1(14, ag_log) T1(15, ag_cos)
    T1(16, ag_tan) T1(17, ag_abs) T1(18, ag_tanh) T1(19, ag_sigmoid) T1(20, ag_relu)
    T1(21, ag_detach) T1(22, ag_squeeze_all) T1(23, ag_t) T1(24, ag_max_all) T1(25, ag_min_all)
    TS(26, ag_add_scalar) TS(27, ag_sub_scalar) TS(28, ag_rsub_scalar) TS(29, ag_mul_scalar)
    TS(30, ag_div_scalar) TS(31, ag_pow) TS(32, ag_leaky_relu)
    TR(33, ag_sum) TR(34, ag_mean) TR(35, ag_amax) TR(36, ag_amin) TR(37, ag_logsumexp)
    case 38: name = "ag_gelu"; y = ag_gelu(t, a, kd); break;
    case 39: name = "ag_clamp"; y = ag_clamp(t, a, s, s2); break;
    case 40: name = "ag_reshape"; y = ag_reshape(t, a, nd, s64); break;
    case 41: name = "ag_view"; y = ag_view(t, a, nd, s64); break;
    case 42: name = "ag_flatten"; y = ag_flatten(t, a, d0, d1); break;
    case 43: name = "ag_squeeze"; y = ag_squeeze(t, a, d0); break;
    case 44: name = "ag_unsqueeze"; y = ag_unsqueeze(t, a, d0); break;
    case 45: name = "ag_transpose"; y = ag_transpose(t, a, d0, d1); break;
    case 46: name = "ag_permute"; y = ag_permute(t, a, nd, dims); break;
    case 47: name = "ag_expand"; y = ag_expand(t, a, nd, s64); break;
    case 48: case 49: {
        ag_tensor *xs[8] = { a, b, pick(f, ti), pick(f, ti), a, b, a, b };
        int n = (int)(u8(r) % 7) - 1;
        ag_tensor *const *p = n == 5 ? NULL : xs;
        name = op % 86 == 48 ? "ag_cat" : "ag_stack";
        y = op % 86 == 48 ? ag_cat(t, n, p, d0) : ag_stack(t, n, p, d0);
        break;
    }
    case 50: name = "ag_narrow"; y = ag_narrow(t, a, d0, idx[0], idx[1]); break;
    case 51: name = "ag_select"; y = ag_select(t, a, d0, idx[0]); break;
    case 52: name = "ag_index_select";
        y = ag_index_select(t, a, d0, nd, (tb & 16) ? NULL : ix);
        break;
    case 53: case 54: {
        /* index_shape has a's ndim sizes; the index holds their product */
        int64_t ish[AG_MAX_DIMS], cnt = 1;
        int xd = a ? ag_ndim(a) : 0;
        for (int i = 0; i < AG_MAX_DIMS; i++) {
            ish[i] = i < 4 ? s64[i] % 4 : 1;
            cnt *= ish[i] > 0 ? ish[i] : 1;
        }
        int64_t gi[81];
        for (int i = 0; i < cnt; i++)
            gi[i] = ix[i % 8];
        name = "ag_gather";
        y = ag_gather(t, a, d0 % (xd + 2), (tb & 16) ? NULL : ish, gi);
        break;
    }
    case 55: name = "ag_var"; y = ag_var(t, a, nd, dims, idx[0], kd); break;
    case 56: name = "ag_std"; y = ag_std(t, a, nd, dims, idx[0], kd); break;
    case 57: name = "ag_max"; y = ag_max(t, a, d0, kd); break;
    case 58: name = "ag_min"; y = ag_min(t, a, d0, kd); break;
    case 59: name = "ag_softmax"; y = ag_softmax(t, a, d0); break;
    case 60: name = "ag_log_softmax"; y = ag_log_softmax(t, a, d0); break;
    case 61: name = "ag_affine"; y = ag_affine(t, a, b, kd ? pick(f, ti) : NULL); break;
    case 62: name = "ag_mse_loss"; y = ag_mse_loss(t, a, b, (ag_reduction)(nd % 4)); break;
    case 63: case 64: {
        ag_ce_opts o = ag_ce_defaults();
        o.weight = (tb & 16) ? b : NULL;
        o.ignore_index = idx[0];
        o.reduction = (ag_reduction)(nd % 4);
        o.label_smoothing = s;
        /* index targets: one per position, a's shape without dim 1 */
        int64_t cnt = 1, *tg = NULL;
        for (int i = 0; a && ag_ndim(a) >= 2 && i < ag_ndim(a); i++)
            if (i != 1)
                cnt = cnt > 4096 || ag_shape(a)[i] > 4096 ? 4097 : cnt * ag_shape(a)[i];
        if (op % 86 == 64 && cnt <= 4096 && (tg = malloc((size_t)cnt * sizeof *tg)))
            for (int64_t i = 0; i < cnt; i++)
                tg[i] = ix[i % 8];
        name = op % 86 == 63 ? "ag_cross_entropy_prob" : "ag_cross_entropy";
        y = op % 86 == 63 ? ag_cross_entropy_prob(t, a, b, (tb & 8) ? NULL : &o)
                          : ag_cross_entropy(t, a, tg, (tb & 8) ? NULL : &o);
        free(tg);
        break;
    }
    case 65: case 66: {                         /* nn.Linear: new, forward, free */
        ag_linear **l = &f->lin[op % 86 - 65];
        if (!*l || (tb & 16)) {
            ag_linear *n = ag_linear_new(d0 < 0 ? idx[0] : d0 % 7, d1 % 7, kd,
                                         (tb & 8) ? NULL : &f->rng);
            CHECK(n || has(ag_last_error(), "ag_linear_new"));
            snap_check(f, 0);
            if (*l)
                ag_linear_free(n);      /* slot taken: its params may be in an optimizer */
            else
                *l = n;
            return;
        }
        ag_tensor *p[2] = { NULL, NULL };
        CHECK(ag_linear_params(*l, p) == (p[1] ? 2 : 1) && p[0] == ag_linear_weight(*l));
        name = "ag_linear_forward";
        y = ag_linear_forward(t, (tb & 8) ? NULL : *l, a);
        break;
    }
    default:
        break;
    }
    if (name) {
        after_op(f, ti, t, ok_before, name, a, y);
        return;
    }
    ag_status st = AG_OK;
    int may = 0;
    switch (op % 86) {
    case 67: case 68: case 69: {                /* backward, backward_seed */
        ag_tensor *seed = NULL;
        if (op % 86 == 69 && a && (tb & 16))    /* a seed of the root's shape */
            seed = ag_full(ag_ndim(a), ag_shape(a), s, false);
        st = op % 86 == 67 ? ag_backward(t, a) : ag_backward_seed(t, a, seed ? seed : b);
        ag_tensor_free(seed);
        if (t)
            CHECK(st == ag_tape_status(t));
        if (st == AG_OK)                        /* a root that requires grad (one element) */
            CHECK(ag_requires_grad(a) && (op % 86 != 67 || ag_numel(a) == 1) && (may = MAY_GRAD));
        else
            CHECK(t ? has(ag_tape_error(t), ok_before ? "ag_backward" : "ag_")
                    : has(ag_last_error(), "ag_backward"));
        break;
    }
    case 70: case 71:                           /* a reset mid-sequence, a new tape */
        if (ti < 0)
            break;
        if (op % 86 == 70) {
            ag_tape_reset(t);
            CHECK(t == NULL || (ag_tape_status(t) == AG_OK && ag_tape_error(t)[0] == '\0'));
        } else {
            ag_tape_free(t);
            f->tape[ti] = t = ag_tape_new();
            CHECK(f->tape[ti] || has(ag_last_error(), "ag_tape_new"));
            f->grad_on[ti] = true;
        }
        f->nres[ti] = 0;
        break;
    case 72:
        if (ti >= 0) {
            bool was = ag_tape_set_grad_enabled(t, kd);
            CHECK(t ? was == f->grad_on[ti] : !was);
            f->grad_on[ti] = t ? kd : f->grad_on[ti];
        }
        break;
    case 73: {                                  /* optimizers */
        ag_tensor *ps[4];                       /* mostly caller leaves */
        for (int i = 0; i < 4; i++) {
            uint8_t k = u8(r);
            ps[i] = k < 200 ? watched(f, k % NWATCH) : k < 240 ? ag_grad(a) : b;
        }
        ag_sgd_opts so = ag_sgd_defaults(s);
        ag_adam_opts ao = (tb & 4) ? ag_adamw_defaults() : ag_adam_defaults();
        if (tb & 64) {                          /* else PyTorch's defaults */
            const float o1 = fval(r), o2 = fval(r), o3 = fval(r);
            so = (ag_sgd_opts){ s, s2, o1, o2, tb & 8, tb & 16 };
            ao = (ag_adam_opts){ s, o1, o2, s2, o3, tb & 8, tb & 16 };
        }
        int n = (int)(u8(r) % 6) - 1;
        ag_optim *o = op & 128 ? ag_sgd_new(n, (tb & 32) ? ps : NULL, (tb & 4) ? NULL : &so)
                    : (tb & 4) ? ag_adamw_new(n, ps, &ao) : ag_adam_new(n, ps, &ao);
        CHECK(o || has(ag_last_error(), "ag_"));
        ag_optim_free(f->opt[op >> 7 & 1]);
        f->opt[op >> 7 & 1] = o;
        break;
    }
    case 74: {
        ag_optim *o = f->opt[tb & 1];
        float lr = ag_optim_lr(o);
        switch (tb >> 1 & 3) {
        case 0: st = ag_optim_step(o); may = MAY_DATA; break;
        case 1: ag_optim_zero_grad(o); may = MAY_GRAD; break;
        case 2: ag_optim_reset(o); break;
        default:
            st = ag_optim_set_lr(o, s);
            CHECK(st == AG_OK ? ag_optim_lr(o) == s : memcmp(&lr, &(float){ ag_optim_lr(o) }, 4) == 0);
            break;
        }
        if ((tb >> 1 & 3) != 1 && (tb >> 1 & 3) != 2)
            CHECK(st == AG_OK ? o != NULL : has(ag_last_error(), "ag_optim"));
        break;
    }
    case 75: ag_zero_grad(a); may = MAY_GRAD; break;
    case 76: ag_retain_grad(a); break;
    case 77:
        st = ag_set_requires_grad(a, kd);
        may = MAY_RG;
        CHECK(st == AG_OK ? ag_requires_grad(a) == kd : has(ag_last_error(), "ag_set_requires_grad"));
        break;
    case 78: {
        ag_rng *g = (tb & 8) ? NULL : &f->rng;
        st = kd ? ag_fill_uniform(a, g, s, s2) : ag_fill_normal(a, g, s, s2);
        float u = ag_rng_uniform(g, s, s2), z = ag_rng_normal(g);
        CHECK(g ? !isnan(z) : isnan(u) && isnan(z) && ag_rng_next(g) == 0);
        may = MAY_DATA | MAY_GRAD;              /* a grad is a tensor too */
        CHECK(st == AG_OK || has(ag_last_error(), "ag_fill_"));
        break;
    }
    case 79: {                                  /* printing: truncated, then in full */
        int64_t shown = 1;                      /* print shows 3 + 3 per dim past 1000 */
        for (int i = 0; ag_numel(a) > 0 && i < ag_ndim(a); i++)
            shown *= ag_numel(a) > 1000 && ag_shape(a)[i] > 6 ? 6 : ag_shape(a)[i];
        if (shown > 256)
            break;                              /* slow to format, and nothing new */
        char buf[64];
        size_t size = u8(r) % 65;
        int n = ag_snprint((tb & 8) ? NULL : buf, size, a);
        CHECK((n < 0) == (a == NULL) && ag_fprint(NULL, a) == -1);
        if (n >= 0 && !(tb & 8) && size)
            CHECK(strlen(buf) == ((size_t)n < size ? (size_t)n : size - 1));
        char *full = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (full) {
            CHECK(ag_snprint(full, (size_t)n + 1, a) == n && strlen(full) == (size_t)n);
            CHECK((tb & 8) || !size || strncmp(buf, full, size - 1) == 0);
        }
        free(full);
        break;
    }
    case 80: {                                  /* ag_gradcheck on small inputs */
        gc_ud g = { d0 & 7, kd ? nd % 3 : 1 + (tb & 1) };   /* n may be bad: -2..2 */
        ag_tensor *in[2] = { a, b };
        if (ag_numel(a) + ag_numel(b) > 16)
            break;
        ag_gradcheck_opts go = { 0, 0, 0, (uint64_t)idx[0] };
        ag_gradcheck_report rep;
        st = ag_gradcheck((tb & 4) ? NULL : gc_fn, &g, g.n, in, (tb & 8) ? NULL : &go,
                          (tb & 16) ? NULL : &rep);
        CHECK(st == AG_OK || has(ag_last_error(), "ag_gradcheck"));
        break;                                  /* changes nothing, whatever the outcome */
    }
    case 81: {                                  /* accessors, on anything */
        int64_t n = ag_numel(a);
        if (!a)
            CHECK(n == -1 && ag_ndim(a) == -1 && !ag_data(a) && !ag_shape(a) && !ag_grad(a) &&
                  isnan(ag_item(a)) && !ag_requires_grad(a) && !ag_is_leaf(a));
        else
            check_tensor(a);
        if (n != 1)
            CHECK(isnan(ag_item(a)));
        if (ag_grad(a))
            check_tensor(ag_grad(a));
        CHECK(ag_status_string((ag_status)(op + tb)) != NULL);
        break;
    }
    case 82: {                                  /* must ignore NULL, results, grads */
        ag_tensor *x = (tb & 8) ? ag_grad(a) : b;
        for (int k = 0; k < NWATCH; k++)
            x = x == watched(f, k) ? NULL : x;  /* but it would free a caller's leaf */
        ag_tensor_free(x);
        break;
    }
    case 83:                                    /* leaves made and freed again */
        ag_tensor_free(new_leaf(r));
        break;
    default:
        break;
    }
    TRACE("op %d on tape %d: %s %s\n", op % 86, ti, ag_status_string(st),
          t && ag_tape_status(t) ? ag_tape_error(t) : st ? ag_last_error() : "");
    snap_check(f, st == AG_OK ? may : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    memset(&f, 0, sizeof f);
    memset(acc, 0, sizeof acc);
    f.r = (rd){ data, size, 0 };
    const uint8_t mode = u8(&f.r), nth = u8(&f.r);
    if (mode & 1) {                             /* fail the nth allocation (and after) */
        acc[0].fail_at = nth + 1u;
        acc[0].persist = mode & 2;
    } else if (mode & 2) {                      /* or a budget of 16 KB .. 4 MB */
        acc[0].cap = ((size_t)nth + 1) << 14;
    }
    ag_set_allocator(fz_alloc, &acc[mode & 4 ? 1 : 0]);
    ag_rng_seed(&f.rng, mode);
    for (int i = 0; i < 2; i++) {
        f.tape[i] = ag_tape_new();
        CHECK(f.tape[i] || has(ag_last_error(), "ag_tape_new"));
        f.grad_on[i] = true;
    }
    for (int i = 0; i < NLEAF; i++)
        f.leaf[i] = new_leaf(&f.r);
    for (int n = 0; n < MAX_STEPS && f.r.i < f.r.n; n++) {
        if (u8(&f.r) == 0xA5)                   /* switch allocators mid-sequence */
            ag_set_allocator(fz_alloc, &acc[f.r.i & 1]);
        step(&f);
    }
    /* everything freed: optimizers and tapes before the leaves they use */
    for (int i = 0; i < 2; i++) {
        ag_optim_free(f.opt[i]);
        ag_tape_free(f.tape[i]);
    }
    ag_linear_free(f.lin[0]);
    ag_linear_free(f.lin[1]);
    for (int i = 0; i < NLEAF; i++)
        ag_tensor_free(f.leaf[i]);
    CHECK(acc[0].live == 0 && acc[1].live == 0);
    ag_set_allocator(NULL, NULL);               /* restored: malloc again */
    size_t before = acc[0].nalloc + acc[1].nalloc;
    ag_tensor *x = ag_scalar(1.0f, true);
    CHECK(x && acc[0].nalloc + acc[1].nalloc == before);
    ag_tensor_free(x);
    return 0;
}
