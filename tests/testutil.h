/* testutil.h - static helpers shared by the cmocka tests: a counting,
 * failure-injecting allocator for ag_set_allocator, and assertion macros.
 *
 * Include after <stdarg.h>, <stddef.h>, <setjmp.h> and <cmocka.h> (cmocka's
 * own requirement); this header includes them itself in that order. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"

/* ---- assertions ------------------------------------------------------------ */

/* s contains sub (s may be NULL, which fails). */
#define assert_contains(s, sub)                                                   \
    do {                                                                          \
        const char *tu_s_ = (s), *tu_sub_ = (sub);                                \
        if (!tu_s_ || !strstr(tu_s_, tu_sub_)) {                                  \
            print_error("\"%s\" does not contain \"%s\"\n",                       \
                        tu_s_ ? tu_s_ : "(null)", tu_sub_);                       \
            fail();                                                               \
        }                                                                         \
    } while (0)

/* |actual - expected| <= tol * max(1, |expected|): relative for large values,
 * absolute near zero. NaN never passes. */
#define assert_close(actual, expected, tol)                                       \
    do {                                                                          \
        double tu_a_ = (double)(actual), tu_e_ = (double)(expected);              \
        double tu_m_ = fabs(tu_e_) > 1.0 ? fabs(tu_e_) : 1.0;                     \
        if (!(fabs(tu_a_ - tu_e_) <= (double)(tol) * tu_m_)) {                    \
            print_error("%s = %.9g, expected %.9g (tol %g)\n", #actual, tu_a_,    \
                        tu_e_, (double)(tol));                                    \
            fail();                                                               \
        }                                                                         \
    } while (0)

/* Exact float equality, with the values printed on failure. */
#define assert_float_eq(actual, expected)                                         \
    do {                                                                          \
        double tu_a_ = (double)(actual), tu_e_ = (double)(expected);              \
        if (!(tu_a_ == tu_e_)) {                                                  \
            print_error("%s = %.9g, expected %.9g\n", #actual, tu_a_, tu_e_);     \
            fail();                                                               \
        }                                                                         \
    } while (0)

/* x has the given shape (ndim values in the array literal / pointer). */
#define assert_shape(x, nd, shp)                                                  \
    do {                                                                          \
        const ag_tensor *tu_x_ = (x);                                             \
        const int64_t *tu_shp_ = (shp);                                           \
        assert_non_null(tu_x_);                                                   \
        assert_int_equal(ag_ndim(tu_x_), (nd));                                   \
        for (int tu_i_ = 0; tu_i_ < (nd); tu_i_++)                                \
            assert_int_equal(ag_shape(tu_x_)[tu_i_], tu_shp_[tu_i_]);             \
    } while (0)

/* a[0..n) and b[0..n) hold the same bits (what names them in the failure) */
static inline void tu_assert_same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t ua, ub;
        memcpy(&ua, &a[i], sizeof ua);
        memcpy(&ub, &b[i], sizeof ub);
        if (ua != ub) {
            print_error("%s[%ld]: %.9g (0x%08x) vs %.9g (0x%08x)\n", what, (long)i, (double)a[i],
                        (unsigned)ua, (double)b[i], (unsigned)ub);
            fail();
        }
    }
}

/* p[0..n) uniform in [lo, hi) from a 64-bit LCG started at seed (reproducible) */
static inline void tu_fill(float *p, int64_t n, uint64_t seed, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = lo + (hi - lo) * (float)((double)(seed >> 40) / 16777216.0);
    }
}

/* ---- a counting, failure-injecting allocator ----------------------------------
 * Each block carries a header with its size and a magic word, so a free with
 * the wrong size (or of a pointer we did not allocate) is counted in bad_frees
 * instead of crashing. Counters are plain fields: one allocator per thread. */

typedef struct tu_alloc {
    uint64_t requests;      /* allocation requests, including refused ones */
    uint64_t allocs;        /* allocations that succeeded */
    uint64_t frees;         /* frees */
    uint64_t failed;        /* requests refused (fail_at or max_bytes) */
    uint64_t bad_frees;     /* frees with a wrong size or an unknown pointer */
    uint64_t resizes;       /* calls asking to resize (the API says never) */
    size_t outstanding;     /* bytes allocated and not yet freed */
    size_t peak;            /* largest outstanding */
    uint64_t fail_at;       /* refuse the fail_at-th request (1-based); 0: never */
    size_t max_bytes;       /* refuse any single request above this; 0: no limit */
} tu_alloc;

#define TU_MAGIC 0x61676c6f63ULL   /* "agloc" */

typedef union tu_head {
    struct {
        size_t size;
        uint64_t magic;
    } h;
    max_align_t align;
} tu_head;

static inline void *tu_alloc_fn(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    tu_alloc *a = ud;
    if (ptr && new_size != 0) {          /* a resize: not part of the contract */
        a->resizes++;
        return NULL;
    }
    if (new_size == 0) {                 /* free */
        if (!ptr)
            return NULL;
        tu_head *h = (tu_head *)ptr - 1;
        if (h->h.magic != TU_MAGIC || h->h.size != old_size) {
            a->bad_frees++;
            return NULL;                 /* leak rather than corrupt the heap */
        }
        h->h.magic = 0;
        a->frees++;
        a->outstanding -= old_size;
        free(h);
        return NULL;
    }
    a->requests++;
    if ((a->fail_at && a->requests == a->fail_at) || (a->max_bytes && new_size > a->max_bytes)) {
        a->failed++;
        return NULL;
    }
    if (new_size > SIZE_MAX - sizeof(tu_head)) {
        a->failed++;
        return NULL;
    }
    tu_head *h = malloc(sizeof *h + new_size);
    if (!h) {
        a->failed++;
        return NULL;
    }
    h->h.size = new_size;
    h->h.magic = TU_MAGIC;
    a->allocs++;
    a->outstanding += new_size;
    if (a->outstanding > a->peak)
        a->peak = a->outstanding;
    return h + 1;
}

/* Zeroes the counters and makes a the allocator for everything created next. */
static inline void tu_alloc_use(tu_alloc *a)
{
    memset(a, 0, sizeof *a);
    ag_set_allocator(tu_alloc_fn, a);
}

/* Back to malloc/free. */
static inline void tu_alloc_restore(void)
{
    ag_set_allocator(NULL, NULL);
}

/* ---- small tensor helpers ------------------------------------------------------ */

/* A 1-dim leaf of n elements copied from data. */
static inline ag_tensor *tu_vec(int64_t n, const float *data, bool requires_grad)
{
    return ag_tensor_new(1, &n, data, requires_grad);
}

/* A 2-dim leaf (r, c) copied from data (row-major). */
static inline ag_tensor *tu_mat(int64_t r, int64_t c, const float *data, bool requires_grad)
{
    int64_t shape[2] = { r, c };
    return ag_tensor_new(2, shape, data, requires_grad);
}

/* ---- reference data files ------------------------------------------------------ */

/* The whole file at path, NUL-terminated (free it); fails the test if unreadable. */
static inline char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The value of " key=" in an "opt ..." line of the generated data (a number,
 * or Python's True/False), or dflt if the key is absent. */
static inline float tu_opt_value(const char *line, const char *key, float dflt)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p)
        return dflt;
    p += strlen(pat);
    return strncmp(p, "True", 4) == 0 ? 1.0f : strncmp(p, "False", 5) == 0 ? 0.0f : strtof(p, NULL);
}

/* The optimizer an "opt <sgd|adam|adamw> key=value ..." line describes, over
 * the n parameters ps (the format of tests/gen_optim_reference.py and
 * tests/gen_nn_reference.py); absent keys take PyTorch's defaults. */
static inline ag_optim *tu_make_optim(const char *line, int n, ag_tensor **ps)
{
    char kind[16];
    assert_int_equal(sscanf(line, "opt %15s", kind), 1);
    if (strcmp(kind, "sgd") == 0) {
        ag_sgd_opts o = ag_sgd_defaults(tu_opt_value(line, "lr", 0));
        o.momentum = tu_opt_value(line, "momentum", 0);
        o.dampening = tu_opt_value(line, "dampening", 0);
        o.weight_decay = tu_opt_value(line, "weight_decay", 0);
        o.nesterov = tu_opt_value(line, "nesterov", 0) != 0;
        o.maximize = tu_opt_value(line, "maximize", 0) != 0;
        return ag_sgd_new(n, ps, &o);
    }
    const bool w = strcmp(kind, "adamw") == 0;
    assert_true(w || strcmp(kind, "adam") == 0);
    ag_adam_opts o = w ? ag_adamw_defaults() : ag_adam_defaults();
    o.lr = tu_opt_value(line, "lr", o.lr);
    o.beta1 = tu_opt_value(line, "beta1", o.beta1);
    o.beta2 = tu_opt_value(line, "beta2", o.beta2);
    o.eps = tu_opt_value(line, "eps", o.eps);
    o.weight_decay = tu_opt_value(line, "weight_decay", o.weight_decay);
    o.amsgrad = tu_opt_value(line, "amsgrad", 0) != 0;
    o.maximize = tu_opt_value(line, "maximize", 0) != 0;
    return (w ? ag_adamw_new : ag_adam_new)(n, ps, &o);
}

/* ---- failures of the reference readers, and testing the readers ----------------
 * The readers of tests/data report a value that differs from PyTorch's with
 * TU_REF_FAIL(TU_REF_MISMATCH, ...) and a malformed file with
 * TU_REF_FAIL(TU_REF_MALFORMED, ...), printf-style messages naming the place.
 * Normally both print the message and fail the test. Between
 * tu_ref_try_begin() and tu_ref_try_end() (a reader's own test, run on a small
 * copy of its data) nothing fails: the first message is kept and each kind is
 * counted, and the reader goes on after a mismatch but must stop reading (and
 * free what it holds) after a malformed line. */
enum { TU_REF_OK, TU_REF_MISMATCH, TU_REF_MALFORMED };

typedef struct tu_ref {
    bool trying;
    int count[3];           /* by kind */
    char msg[512];          /* the first failure while trying */
} tu_ref;

static inline tu_ref *tu_ref_state(void)
{
    static tu_ref r;
    return &r;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void tu_ref_report(int kind, const char *fmt, ...)
{
    tu_ref *r = tu_ref_state();
    char buf[sizeof r->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!r->trying) {
        print_error("%s\n", buf);
        return;
    }
    if (r->count[TU_REF_MISMATCH] + r->count[TU_REF_MALFORMED] == 0)
        snprintf(r->msg, sizeof r->msg, "%s", buf);
    r->count[kind]++;
}

#define TU_REF_FAIL(kind, ...)                                                    \
    do {                                                                          \
        tu_ref_report((kind), __VA_ARGS__);                                       \
        if (!tu_ref_state()->trying)                                              \
            fail();                                                               \
    } while (0)

static inline void tu_ref_try_begin(void)
{
    tu_ref *r = tu_ref_state();
    memset(r, 0, sizeof *r);
    r->trying = true;
}

/* TU_REF_MALFORMED if anything was malformed, else TU_REF_MISMATCH if a value
 * differed, else TU_REF_OK; back to failing normally. */
static inline int tu_ref_try_end(void)
{
    tu_ref *r = tu_ref_state();
    r->trying = false;
    return r->count[TU_REF_MALFORMED] ? TU_REF_MALFORMED
           : r->count[TU_REF_MISMATCH] ? TU_REF_MISMATCH : TU_REF_OK;
}

/* A copy of s (free it) with its only occurrence of old replaced by new; the
 * readers' tests make wrong copies of correct data with it. */
static inline char *tu_replace(const char *s, const char *old, const char *new_text)
{
    const char *p = strstr(s, old);
    if (!p || strstr(p + 1, old))
        print_error("\"%s\" is not in the text exactly once\n", old);
    assert_true(p && !strstr(p + 1, old));
    const size_t n = strlen(s), lo = strlen(old), ln = strlen(new_text);
    char *out = malloc(n - lo + ln + 1);
    assert_non_null(out);
    memcpy(out, s, (size_t)(p - s));
    memcpy(out + (p - s), new_text, ln);
    memcpy(out + (p - s) + ln, p + lo, n - (size_t)(p - s) - lo + 1);
    return out;
}

#endif /* AG_TESTUTIL_H */
