/* io/print.c - printing tensors exactly as PyTorch 1.13's print(tensor) does.
 *
 * A port of torch/_tensor_str.py for float32, int64 and bool with the default
 * print options: precision 4, threshold 1000 elements (then summarize with
 * edgeitems 3), linewidth 80, sci_mode chosen automatically. Python's names are kept in the
 * comments (_Formatter, _vector_str, _add_suffixes, ...) so the two can be
 * read side by side. tests/test_print.c checks the output byte for byte
 * against str(tensor) from PyTorch (tests/gen_print_reference.py). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { PRECISION = 4, THRESHOLD = 1000, EDGEITEMS = 3, LINEWIDTH = 80 };

/* ---- an snprintf-like writer: counts everything, stores what fits ---- */

typedef struct out {
    char *buf;
    size_t cap;
    size_t len;        /* everything written, stored or not */
    long last_nl;      /* position of the last '\n' written, -1 if none */
} out;

static void put(out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n')
            o->last_nl = (long)(o->len + i);
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}
static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }
static void spaces(out *o, int n)
{
    for (int i = 0; i < n; i++)
        put(o, " ", 1);
}

/* ---- the formatter (_Formatter) ---- */

/* An element is read through its index in the tensor's data, by functions of
 * its dtype (one pointer call per element: printing is not a hot loop). */
typedef struct fmt fmt;
typedef int (*format_fn)(char *b, size_t n, const fmt *F, const ag_tensor *x, int64_t i);

struct fmt {
    format_fn format;  /* the element's text before padding (_Formatter.format) */
    bool int_mode, sci_mode;
    int max_width;
    /* float32: gathered over the non-zero finite elements shown */
    bool any;
    double min_abs, max_abs;
};

/* The elements print shows: all of them, or with summarize only the first and
 * last EDGEITEMS along every dimension longer than 2 * EDGEITEMS. f gets each
 * one's index in x's data. */
typedef void (*visit_fn)(void *ctx, const ag_tensor *x, int64_t i);

static void visit(const ag_tensor *x, int64_t at, const int64_t *shape, const int64_t *stride,
                  int ndim, bool summarize, visit_fn f, void *ctx)
{
    if (ndim == 0) {
        f(ctx, x, at);
        return;
    }
    int64_t n = shape[0];
    for (int64_t i = 0; i < n; i++) {
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS)
            i = n - EDGEITEMS;
        visit(x, at + i * stride[0], shape + 1, stride + 1, ndim - 1, summarize, f, ctx);
    }
}

static void gather_range(void *ctx, const ag_tensor *x, int64_t i)
{
    fmt *F = ctx;
    const float v = x->data[i];
    if (!isfinite(v) || v == 0.0f)
        return;
    double a = fabs((double)v);
    if (!F->any || a < F->min_abs)
        F->min_abs = a;
    if (!F->any || a > F->max_abs)
        F->max_abs = a;
    F->any = true;
    if ((double)v != ceil((double)v))
        F->int_mode = false;
}

/* printf writes LC_NUMERIC's decimal point (',' in de_DE, even several bytes
 * in some locales); Python always writes '.'. A finite number printed with
 * %.Nf or %.Ne holds only digits, signs, 'e' and that point, so any other run
 * of bytes is the point: replace it with '.'. Returns the new length. */
static int c_point(char *b, int n)
{
    int j = 0;
    for (int i = 0; i < n;) {
        char c = b[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e') {
            b[j++] = b[i++];
            continue;
        }
        while (i < n && !(b[i] >= '0' && b[i] <= '9'))
            i++;
        b[j++] = '.';
    }
    b[j] = '\0';
    return j;
}

/* Clamps snprintf's return to what b holds (cannot happen with n = 64: the
 * widest float is "%.4f" of FLT_MAX, 44 bytes; an int64 20). */
static int written(int w, size_t n)
{
    return w < 0 ? 0 : (size_t)w >= n ? (int)n - 1 : w;
}

/* A float32 element as _Formatter.format writes it, before padding: "{:.4e}"
 * in sci mode, "{:.0f}" plus a '.' for finite values in int mode, else
 * "{:.4f}". Writes at most n - 1 characters (n <= INT_MAX) and returns how
 * many. */
static int format_f32(char *b, size_t n, const fmt *F, const ag_tensor *x, int64_t i)
{
    const double v = (double)x->data[i];
    int w;
    if (isnan(v))
        w = snprintf(b, n, "nan");      /* Python never prints "-nan" */
    else if (isinf(v))
        w = snprintf(b, n, "%s", v < 0 ? "-inf" : "inf");
    else if (F->sci_mode)
        w = snprintf(b, n, "%.*e", PRECISION, v);
    else if (F->int_mode)
        w = snprintf(b, n, "%.0f.", v);
    else
        w = snprintf(b, n, "%.*f", PRECISION, v);
    w = written(w, n);
    return isfinite(v) ? c_point(b, w) : w;
}

/* int64 and bool elements: "{}".format(value), Python's str of an int or a bool */
static int format_i64(char *b, size_t n, const fmt *F, const ag_tensor *x, int64_t i)
{
    (void)F;
    return written(snprintf(b, n, "%lld", (long long)agi_i64(x)[i]), n);
}

static int format_bool(char *b, size_t n, const fmt *F, const ag_tensor *x, int64_t i)
{
    (void)F;
    return written(snprintf(b, n, "%s", agi_b8(x)[i] ? "True" : "False"), n);
}

/* max_width over the elements shown: float32 ones count unless zero or not
 * finite (_Formatter looks at nonzero_finite_vals only); int64 and bool ones
 * all count */
static void gather_width(void *ctx, const ag_tensor *x, int64_t i)
{
    fmt *F = ctx;
    char b[64];
    int w = F->format(b, sizeof b, F, x, i);
    if (w > F->max_width)
        F->max_width = w;
}

static void gather_width_f32(void *ctx, const ag_tensor *x, int64_t i)
{
    if (isfinite(x->data[i]) && x->data[i] != 0.0f)
        gather_width(ctx, x, i);
}

static void fmt_init(fmt *F, const ag_tensor *x, const int64_t *stride, bool summarize)
{
    memset(F, 0, sizeof *F);
    F->int_mode = true;
    F->max_width = 1;
    if (x->dtype != AG_FLOAT32) {       /* not floating_dtype: widths only */
        F->format = x->dtype == AG_INT64 ? format_i64 : format_bool;
        visit(x, 0, x->shape, stride, x->ndim, summarize, gather_width, F);
        return;
    }
    F->format = format_f32;
    visit(x, 0, x->shape, stride, x->ndim, summarize, gather_range, F);
    if (!F->any)
        return;
    if (F->int_mode)
        F->sci_mode = F->max_abs / F->min_abs > 1000.0 || F->max_abs > 1e8;
    else
        F->sci_mode = F->max_abs / F->min_abs > 1000.0 || F->max_abs > 1e8 || F->min_abs < 1e-4;
    /* widths: in int mode "{:.0f}" plus the '.', else the formatted text */
    visit(x, 0, x->shape, stride, x->ndim, summarize, gather_width_f32, F);
}

/* Element i of x, right-aligned to the formatter's width. */
static void element(out *o, const fmt *F, const ag_tensor *x, int64_t i)
{
    char b[64];
    int w = F->format(b, sizeof b, F, x, i);
    spaces(o, F->max_width - w);
    put(o, b, (size_t)w);
}

/* ---- layout (_tensor_str_with_formatter) ---- */

static void vector_str(out *o, const ag_tensor *x, int64_t at, int64_t n, int64_t stride,
                       int indent, bool summarize, const fmt *F)
{
    int element_length = F->max_width + 2;
    int per_line = (LINEWIDTH - indent) / element_length;
    if (per_line < 1)
        per_line = 1;
    put(o, "[", 1);
    int64_t k = 0;   /* position in the list of printed items, "..." included */
    for (int64_t i = 0; i < n; i++, k++) {
        if (k > 0) {
            if (k % per_line == 0) {
                put(o, ",\n", 2);
                spaces(o, indent + 1);
            } else {
                put(o, ", ", 2);
            }
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            puts_(o, " ...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        element(o, F, x, at + i * stride);
    }
    put(o, "]", 1);
}

static void tensor_str(out *o, const ag_tensor *x, int64_t at, const int64_t *shape,
                       const int64_t *stride, int ndim, int indent, bool summarize, const fmt *F)
{
    if (ndim == 0) {
        element(o, F, x, at);
        return;
    }
    if (ndim == 1) {
        vector_str(o, x, at, shape[0], stride[0], indent, summarize, F);
        return;
    }
    put(o, "[", 1);
    int64_t n = shape[0];
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) {
            put(o, ",", 1);
            for (int j = 0; j < ndim - 1; j++)
                put(o, "\n", 1);
            spaces(o, indent + 1);
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            puts_(o, "...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        tensor_str(o, x, at + i * stride[0], shape + 1, stride + 1, ndim - 1, indent + 1,
                   summarize, F);
    }
    put(o, "]", 1);
}

/* _add_suffixes: ", suffix" or a new line when the line would pass 80. */
static void suffixes(out *o, size_t start, const char **sfx, int n, int indent)
{
    /* len(s) - s.rfind('\n') + 1, as torch computes it */
    long total = (long)(o->len - start);
    long last_nl = o->last_nl >= (long)start ? o->last_nl - (long)start : -1;
    long last_line_len = total - last_nl + 1;
    for (int i = 0; i < n; i++) {
        long sl = (long)strlen(sfx[i]);
        if (last_line_len + sl + 2 > LINEWIDTH) {
            put(o, ",\n", 2);
            spaces(o, indent);
            last_line_len = indent + sl;
        } else {
            put(o, ", ", 2);
            last_line_len += sl + 2;
        }
        puts_(o, sfx[i]);
    }
    put(o, ")", 1);
}

/* _str_intern for a plain CPU tensor: "tensor(" + _tensor_str + suffixes.
 * An empty tensor prints "[]" and, unless it is 1-dim, its size as the first
 * suffix: ", size=(0, 3)" (str of a Python tuple), then its dtype unless it
 * is float32. A non-empty one never names its dtype: float32 is the default,
 * and int64 and bool are among those _str_intern's has_default_dtype omits
 * (their elements show it). */
static int render(out *o, const ag_tensor *x)
{
    if (!x)
        return -1;
    const int indent = 7;   /* strlen("tensor(") */
    size_t start = o->len;
    puts_(o, "tensor(");
    char size[32 + AG_MAX_DIMS * 24];   /* "size=(" + ", %lld" per dimension + ")" */
    char gf[64], dt[32];
    const char *sfx[3];
    int ns = 0;
    if (x->numel == 0) {
        puts_(o, "[]");
        if (x->ndim != 1) {
            size_t len = (size_t)snprintf(size, sizeof size, "size=(");
            for (int i = 0; i < x->ndim; i++)
                len += (size_t)snprintf(size + len, sizeof size - len, i ? ", %lld" : "%lld",
                                        (long long)x->shape[i]);
            snprintf(size + len, sizeof size - len, ")");
            sfx[ns++] = size;
        }
        /* no element shows the dtype of an empty tensor: named unless float32 */
        if (x->dtype != AG_FLOAT32) {
            snprintf(dt, sizeof dt, "dtype=%s", agi_dtypes[x->dtype].torch);
            sfx[ns++] = dt;
        }
    } else {
        int64_t stride[AG_MAX_DIMS];
        int64_t s = 1;
        for (int i = x->ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= x->shape[i];
        }
        bool summarize = x->numel > THRESHOLD;
        fmt F;
        fmt_init(&F, x, stride, summarize);
        tensor_str(o, x, 0, x->shape, stride, x->ndim, indent, summarize, &F);
    }
    /* grad_fn for a recorded result that requires grad, else requires_grad */
    if (!(x->flags & AGI_LEAF) && x->op >= 0 && (x->flags & AGI_REQ_GRAD)) {
        snprintf(gf, sizeof gf, "grad_fn=<%s>", agi_grad_fn(x));
        sfx[ns++] = gf;
    } else if (x->flags & AGI_REQ_GRAD) {
        sfx[ns++] = "requires_grad=True";
    }
    suffixes(o, start, sfx, ns, indent);
    return 0;
}

/* ag_snprint, with errors named after fn (the public function called) */
static int snprint_as(char *buf, size_t size, const ag_tensor *x, const char *fn)
{
    if (!buf)
        size = 0;              /* a NULL buf only measures, whatever the size */
    out o = { buf, size, 0, -1 };
    if (render(&o, x) < 0) {
        agi_fail_last("%s: tensor is NULL", fn);
        return -1;
    }
    if (size > 0)
        buf[o.len < size ? o.len : size - 1] = '\0';
    if (o.len > (size_t)INT32_MAX) {
        agi_fail_last("%s: the text (%zu characters) is longer than an int can count", fn,
                      o.len);
        return -1;
    }
    return (int)o.len;
}

int ag_snprint(char *buf, size_t size, const ag_tensor *x)
{
    return snprint_as(buf, size, x, "ag_snprint");
}

/* ag_fprint, with errors named after fn (ag_print or ag_fprint) */
static int fprint_as(FILE *f, const ag_tensor *x, const char *fn)
{
    if (!f || !x) {
        agi_fail_last("%s: %s is NULL", fn, f ? "tensor" : "stream");
        return -1;
    }
    char small[512];
    int n = snprint_as(small, sizeof small, x, fn);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small) {
        if (fprintf(f, "%s\n", small) < 0) {
            agi_fail_last("%s: writing to the stream failed", fn);
            return -1;
        }
        return n + 1;
    }
    /* too long for the stack buffer: render into a temporary from the allocator */
    agi_alloc a = agi_current_alloc();
    char *big = agi_malloc(a, (size_t)n + 1);
    if (!big) {
        agi_fail_last("%s: out of memory (%d bytes for the text)", fn, n + 1);
        return -1;
    }
    snprint_as(big, (size_t)n + 1, x, fn);
    int r = fprintf(f, "%s\n", big) < 0 ? -1 : n + 1;
    if (r < 0)
        agi_fail_last("%s: writing to the stream failed", fn);
    agi_free(a, big, (size_t)n + 1);
    return r;
}

int ag_fprint(FILE *f, const ag_tensor *x)
{
    return fprint_as(f, x, "ag_fprint");
}

int ag_print(const ag_tensor *x)
{
    return fprint_as(stdout, x, "ag_print");
}
