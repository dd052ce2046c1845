/* test_reference.c - replays the cases of tests/data/ops_reference.txt (values
 * and gradients computed by PyTorch 1.13, see tests/gen_reference.py, whose
 * header documents the format) through the public API, and checks every
 * output and every input's gradient.
 *
 * Each case is a postfix program over named inputs; the output's gradient is
 * the case's seed, given to ag_backward_seed. Outputs and gradients must match
 * within |ours - torch| <= 1e-5 + 1e-4 |torch|; NaN must be NaN and an
 * infinity the same infinity. The file's case count is checked, so a
 * truncated file fails, and every op of the table must appear in some case.
 *
 * The reader is tested too (test_reader): on a small copy of real cases it
 * passes, and on copies with one value changed, or cut short, it fails. */
#include "testutil.h"
#include "internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>

#define REF_FILE AG_TEST_DATA_DIR "/ops_reference.txt"
#define RTOL 1e-4
#define ATOL 1e-5

#define MAX_INPUTS 4
#define MAX_VALUES 1024           /* elements per tensor */
#define MAX_TOKENS 64             /* tokens per program */
#define MAX_NAME 16

/* ---- the public ops, by the names the data file uses ---- */

typedef struct api_op {
    const char *name;
    ag_tensor *(*unary)(ag_tape *, ag_tensor *);
    ag_tensor *(*binary)(ag_tape *, ag_tensor *, ag_tensor *);
    ag_tensor *(*param)(ag_tape *, ag_tensor *, float);   /* token "name:p" */
} api_op;

static const api_op API_OPS[] = {
    { "add", NULL, ag_add, NULL },
    { "sub", NULL, ag_sub, NULL },
    { "mul", NULL, ag_mul, NULL },
    { "neg", ag_neg, NULL, NULL },
    { "add_scalar", NULL, NULL, ag_add_scalar },
    { "sub_scalar", NULL, NULL, ag_sub_scalar },
    { "rsub_scalar", NULL, NULL, ag_rsub_scalar },
    { "mul_scalar", NULL, NULL, ag_mul_scalar },
    { "pow", NULL, NULL, ag_pow },
    { "exp", ag_exp, NULL, NULL },
    { "sin", ag_sin, NULL, NULL },
    { "sqrt", ag_sqrt, NULL, NULL },
};
#define N_API_OPS (sizeof API_OPS / sizeof API_OPS[0])

static const api_op *find_api_op(const char *name, size_t len)
{
    for (size_t i = 0; i < N_API_OPS; i++)
        if (strlen(API_OPS[i].name) == len && strncmp(API_OPS[i].name, name, len) == 0)
            return &API_OPS[i];
    return NULL;
}

/* ---- the op families' tokens ----
 * Tokens of ops with more than a float parameter are "name" or "name:args",
 * handled by one function per op family (tests/ref_*.inc). Each returns
 * false if name is not one of its tokens; otherwise it pops its inputs from
 * stack[0..*sp), pushes its result (NULL if the op failed) and returns true.
 * args is "" without a colon; REF_CHECK fails the test on malformed args. */
#define REF_CHECK(cond)                                                          \
    do {                                                                         \
        if (!(cond)) {                                                           \
            print_error("bad token %s:%s (%s)\n", name, args, #cond);            \
            fail();                                                              \
        }                                                                        \
    } while (0)

typedef bool (*ref_family_fn)(ag_tape *t, const char *name, const char *args,
                              ag_tensor **stack, int *sp);

/* Parses "1,-2,3" into v (at most max values); returns the count. */
static inline int parse_ints(const char *s, int64_t *v, int max)
{
    int n = 0;
    if (!*s)
        return 0;
    for (;;) {
        char *end;
        long long x = strtoll(s, &end, 10);
        assert_true(end != s && n < max);
        v[n++] = x;
        if (*end != ',') {
            assert_true(*end == '\0' || *end == ':');
            return n;
        }
        s = end + 1;
    }
}

/* The i-th colon-separated field of args (from 0), or "" if there are fewer. */
static inline const char *arg_field(const char *args, int i)
{
    while (i-- > 0) {
        args = strchr(args, ':');
        if (!args)
            return "";
        args++;
    }
    return args;
}

#include "ref_act.inc"
#include "ref_shape.inc"
#include "ref_reduce.inc"
#include "ref_linalg.inc"
#include "ref_loss.inc"
#include "ref_ew.inc"
#include "ref_dtype.inc"
#include "ref_index.inc"
#include "ref_sort.inc"

static const ref_family_fn FAMILIES[] = { ref_act, ref_shape, ref_reduce, ref_linalg, ref_loss,
                                          ref_ew, ref_dtype, ref_index, ref_sort };

/* ---- the data file ---- */

typedef struct ref_tensor {
    int dtype;                 /* AG_FLOAT32 (values in v), AG_INT64 or AG_BOOL (in iv) */
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t n;
    float v[MAX_VALUES];
    int64_t iv[MAX_VALUES];
} ref_tensor;

typedef struct ref_input {
    char name[MAX_NAME];
    ref_tensor x;
    float grad[MAX_VALUES];
    bool has_grad;
} ref_input;

typedef struct ref_case {
    const char *file;          /* for messages */
    int line;                  /* of the "case" line */
    char label[160];
    char prog[MAX_TOKENS][96];
    int n_tokens;
    ref_input in[MAX_INPUTS];
    int n_in;
    ref_tensor out;
    float seed[MAX_VALUES];
    int64_t n_seed;
    bool has_out;
    bool expect_error;         /* PyTorch raised: we must report an error */
} ref_case;

typedef struct reader {
    const char *name;          /* of the file, for messages */
    char *text;                /* the whole file, NUL-terminated */
    char *pos;
    int line;
} reader;

/* Where a malformed text ends the reading when the reader is being tested
 * (tu_ref_try_begin); otherwise a malformed line fails the test. */
static jmp_buf parse_stop;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        print_error("cannot open %s: %s\n", path, strerror(errno));
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* The next line that is neither blank nor a comment, NUL-terminated in
 * place; NULL at the end of the file. */
static char *next_line(reader *r)
{
    while (*r->pos) {
        char *s = r->pos;
        char *nl = strchr(s, '\n');
        if (nl) {
            *nl = '\0';
            r->pos = nl + 1;
        } else {
            r->pos = s + strlen(s);
        }
        r->line++;
        size_t len = strlen(s);
        if (len > 0 && s[len - 1] == '\r')
            s[len - 1] = '\0';
        if (s[0] != '\0' && s[0] != '#')
            return s;
    }
    return NULL;
}

#define parse_check(r, cond, what)                                                 \
    do {                                                                           \
        if (!(cond)) {                                                             \
            TU_REF_FAIL(TU_REF_MALFORMED, "%s:%d: %s", (r)->name, (r)->line, (what)); \
            longjmp(parse_stop, 1);                                                \
        }                                                                          \
    } while (0)

/* The next space-separated token of *s, NUL-terminated in place; NULL if none. */
static char *next_token(char **s)
{
    char *p = *s;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return NULL;
    char *start = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = '\0';
    *s = p;
    return start;
}

static int64_t parse_int(reader *r, char **s)
{
    char *tok = next_token(s), *end;
    parse_check(r, tok != NULL, "expected an integer");
    errno = 0;
    long long v = strtoll(tok, &end, 10);
    parse_check(r, *end == '\0' && errno == 0, "bad integer");
    return (int64_t)v;
}

static float parse_float_tok(reader *r, const char *tok)
{
    char *end;
    errno = 0;
    float v = strtof(tok, &end);
    /* ERANGE only for values that underflow to subnormals or zero: keep them */
    parse_check(r, end != tok && *end == '\0', "bad number");
    return v;
}

/* Exactly n floats, to the end of the line. */
static void parse_values(reader *r, char **s, float *v, int64_t n)
{
    parse_check(r, n <= MAX_VALUES, "tensor too large for this reader");
    for (int64_t i = 0; i < n; i++) {
        char *tok = next_token(s);
        parse_check(r, tok != NULL, "too few values");
        v[i] = parse_float_tok(r, tok);
    }
    parse_check(r, next_token(s) == NULL, "too many values");
}

/* Exactly n integers (0 or 1 for bool), to the end of the line. */
static void parse_int_values(reader *r, char **s, int64_t *v, int64_t n, bool is_bool)
{
    parse_check(r, n <= MAX_VALUES, "tensor too large for this reader");
    for (int64_t i = 0; i < n; i++) {
        char *tok = next_token(s), *end;
        parse_check(r, tok != NULL, "too few values");
        errno = 0;
        long long x = strtoll(tok, &end, 10);
        parse_check(r, end != tok && *end == '\0' && errno == 0, "bad integer value");
        parse_check(r, !is_bool || x == 0 || x == 1, "a bool value is not 0 or 1");
        v[i] = (int64_t)x;
    }
    parse_check(r, next_token(s) == NULL, "too many values");
}

/* The dtype of a line key "input", "input:int64", "output:bool", ...; -1 if
 * the suffix is not a dtype. */
static int key_dtype(const char *key)
{
    const char *colon = strchr(key, ':');
    if (!colon)
        return AG_FLOAT32;
    for (int d = AG_FLOAT32; d <= AG_BOOL; d++)
        if (strcmp(colon + 1, ag_dtype_name((ag_dtype)d)) == 0)
            return d;
    return -1;
}

/* "<ndim> <dims...> <values...>", x->dtype already set */
static void parse_tensor(reader *r, char **s, ref_tensor *x)
{
    int64_t nd = parse_int(r, s);
    parse_check(r, nd >= 0 && nd <= AG_MAX_DIMS, "bad ndim");
    x->ndim = (int)nd;
    x->n = 1;
    for (int i = 0; i < x->ndim; i++) {
        x->shape[i] = parse_int(r, s);
        parse_check(r, x->shape[i] >= 0 && x->shape[i] <= MAX_VALUES, "bad dimension");
        x->n *= x->shape[i];
    }
    if (x->dtype == AG_FLOAT32)
        parse_values(r, s, x->v, x->n);
    else
        parse_int_values(r, s, x->iv, x->n, x->dtype == AG_BOOL);
}

static ref_input *find_input(ref_case *c, const char *name)
{
    for (int k = 0; k < c->n_in; k++)
        if (strcmp(c->in[k].name, name) == 0)
            return &c->in[k];
    return NULL;
}

/* Parses the lines after "case <label>" up to "end". */
static void parse_case(reader *r, ref_case *c)
{
    bool has_prog = false;
    for (;;) {
        char *s = next_line(r);
        parse_check(r, s != NULL, "file ends inside a case");
        char *key = next_token(&s);
        parse_check(r, key != NULL, "a line of spaces");
        const int kd = key_dtype(key);
        parse_check(r, kd >= 0, "unknown dtype");
        if (strchr(key, ':')) {        /* input:<dtype>, output:<dtype> */
            parse_check(r, strncmp(key, "input:", 6) == 0 || strncmp(key, "output:", 7) == 0,
                        "a dtype on a line that takes none");
            key[strchr(key, ':') - key] = '\0';
        }
        if (strcmp(key, "end") == 0) {
            break;
        } else if (strcmp(key, "prog") == 0) {
            char *tok;
            while ((tok = next_token(&s)) != NULL) {
                parse_check(r, c->n_tokens < MAX_TOKENS, "program too long");
                parse_check(r, strlen(tok) < sizeof c->prog[0], "token too long");
                strcpy(c->prog[c->n_tokens++], tok);
            }
            has_prog = true;
        } else if (strcmp(key, "input") == 0) {
            parse_check(r, c->n_in < MAX_INPUTS, "too many inputs");
            ref_input *in = &c->in[c->n_in];
            char *name = next_token(&s);
            parse_check(r, name && strlen(name) < MAX_NAME, "bad input name");
            parse_check(r, !find_input(c, name), "input defined twice");
            strcpy(in->name, name);
            in->x.dtype = kd;
            parse_tensor(r, &s, &in->x);
            c->n_in++;
        } else if (strcmp(key, "output") == 0) {
            c->out.dtype = kd;
            parse_tensor(r, &s, &c->out);
            c->has_out = true;
        } else if (strcmp(key, "seed") == 0) {
            parse_check(r, c->has_out, "seed before output");
            parse_check(r, c->out.dtype == AG_FLOAT32, "a seed for an output that is not float");
            parse_values(r, &s, c->seed, c->out.n);
            c->n_seed = c->out.n;
        } else if (strcmp(key, "error") == 0) {
            c->expect_error = true;
        } else if (strcmp(key, "grad") == 0) {
            char *name = next_token(&s);
            ref_input *in = name ? find_input(c, name) : NULL;
            parse_check(r, in != NULL, "grad of an unknown input");
            parse_check(r, in->x.dtype == AG_FLOAT32, "a grad for an input that is not float");
            parse_values(r, &s, in->grad, in->x.n);
            in->has_grad = true;
        } else {
            parse_check(r, false, "unknown line");
        }
    }
    if (c->expect_error) {
        parse_check(r, has_prog && !c->has_out && c->n_in > 0, "bad error case");
        return;
    }
    /* a float output has a seed and a grad for every float input; an int64
     * or bool output has neither (nothing can require grad through it) */
    const bool float_out = c->out.dtype == AG_FLOAT32;
    parse_check(r, has_prog && c->has_out && c->n_in > 0 &&
                       (float_out ? c->n_seed == c->out.n : c->n_seed == 0),
                "incomplete case");
    for (int k = 0; k < c->n_in; k++)
        parse_check(r, c->in[k].has_grad == (float_out && c->in[k].x.dtype == AG_FLOAT32),
                    float_out ? "an input has no grad line" : "a grad line without backward");
}

/* ---- checking ---- */

/* PyTorch's value e against ours a: NaN for NaN, the same infinity, else
 * within ATOL + RTOL |e|. */
static bool matches(float a, float e)
{
    if (isnan(e))
        return isnan(a);
    if (isinf(e))
        return a == e;
    return fabs((double)a - (double)e) <= ATOL + RTOL * fabs((double)e);
}

static void check_values(const ref_case *c, const char *what, const float *got,
                         const float *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!matches(got[i], want[i]))
            TU_REF_FAIL(TU_REF_MISMATCH,
                        "%s:%d: case \"%s\": %s element %lld is %.9g, PyTorch gives %.9g",
                        c->file, c->line, c->label, what, (long long)i, (double)got[i],
                        (double)want[i]);
    }
}

/* Whether x has want's shape (a mismatch otherwise). */
static bool check_shape(const ref_case *c, const char *what, const ag_tensor *x,
                        const ref_tensor *want)
{
    bool same = ag_ndim(x) == want->ndim;
    for (int i = 0; same && i < want->ndim; i++)
        same = ag_shape(x)[i] == want->shape[i];
    if (!same) {
        char s1[160], s2[160];
        TU_REF_FAIL(TU_REF_MISMATCH, "%s:%d: case \"%s\": %s has shape %s, PyTorch gives %s",
                    c->file, c->line, c->label, what,
                    agi_shape_str(s1, sizeof s1, ag_ndim(x), ag_shape(x)),
                    agi_shape_str(s2, sizeof s2, want->ndim, want->shape));
    }
    return same;
}

/* Runs c's program through the public API and checks the output and grads.
 * Marks the table ops the program uses in used[]. */
static void run_case(const ref_case *c, bool *used)
{
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *leaf[MAX_INPUTS];
    for (int k = 0; k < c->n_in; k++) {
        const ref_tensor *x = &c->in[k].x;
        if (x->dtype == AG_FLOAT32) {
            leaf[k] = ag_tensor_new(x->ndim, x->shape, x->v, true);
        } else if (x->dtype == AG_INT64) {
            leaf[k] = ag_tensor_i64(x->ndim, x->shape, x->iv);
        } else {
            bool b[MAX_VALUES];
            for (int64_t i = 0; i < x->n; i++)
                b[i] = x->iv[i] != 0;
            leaf[k] = ag_tensor_bool(x->ndim, x->shape, b);
        }
        assert_non_null(leaf[k]);
    }

    ag_tensor *stack[MAX_TOKENS];
    int sp = 0;
    for (int i = 0; i < c->n_tokens; i++) {
        const char *tok = c->prog[i];
        int k;
        for (k = 0; k < c->n_in && strcmp(c->in[k].name, tok) != 0; k++)
            ;
        if (k < c->n_in) {
            stack[sp++] = leaf[k];
            continue;
        }
        if (strcmp(tok, "dup") == 0) {
            assert_true(sp >= 1);
            stack[sp] = stack[sp - 1];
            sp++;
            continue;
        }
        if (strcmp(tok, "swap") == 0) {
            assert_true(sp >= 2);
            ag_tensor *tmp = stack[sp - 1];
            stack[sp - 1] = stack[sp - 2];
            stack[sp - 2] = tmp;
            continue;
        }
        const char *colon = strchr(tok, ':');
        size_t len = colon ? (size_t)(colon - tok) : strlen(tok);
        const api_op *op = find_api_op(tok, len);
        if (!op) {
            char name[96];
            snprintf(name, sizeof name, "%.*s", (int)len, tok);
            bool done = false;
            for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0] && !done; f++)
                done = FAMILIES[f](t, name, colon ? colon + 1 : "", stack, &sp);
            if (!done)
                print_error("case \"%s\": unknown token \"%s\"\n", c->label, tok);
            assert_true(done);
            assert_true(sp >= 1 && sp <= MAX_TOKENS);
            continue;
        }
        if (op->param) {
            assert_non_null(colon);
            char *end;
            float p = strtof(colon + 1, &end);
            assert_true(end != colon + 1 && *end == '\0');
            assert_true(sp >= 1);
            stack[sp - 1] = op->param(t, stack[sp - 1], p);
        } else if (op->unary) {
            assert_null(colon);
            assert_true(sp >= 1);
            stack[sp - 1] = op->unary(t, stack[sp - 1]);
        } else {
            assert_null(colon);
            assert_true(sp >= 2);
            stack[sp - 2] = op->binary(t, stack[sp - 2], stack[sp - 1]);
            sp--;
        }
    }
    /* the ops the case used, from the tape itself */
    for (ag_tensor *x = t->last; x; x = x->prev)
        if (x->op >= 0)
            used[x->op] = true;
    if (c->expect_error) {
        if (ag_tape_status(t) == AG_OK)
            TU_REF_FAIL(TU_REF_MISMATCH, "%s:%d: case \"%s\": PyTorch raised an error, we did not",
                        c->file, c->line, c->label);
        else
            assert_true(strlen(ag_tape_error(t)) > 0);
        for (int k = 0; k < c->n_in; k++) {   /* inputs intact */
            const ref_tensor *x = &c->in[k].x;
            for (int64_t j = 0; j < x->n; j++) {
                if (x->dtype == AG_FLOAT32)
                    assert_memory_equal(&ag_data(leaf[k])[j], &x->v[j], sizeof(float));
                else if (x->dtype == AG_INT64)
                    assert_true(ag_data_i64(leaf[k])[j] == x->iv[j]);
                else
                    assert_true(ag_data_bool(leaf[k])[j] == (x->iv[j] != 0));
            }
            assert_null(ag_grad(leaf[k]));
            ag_tensor_free(leaf[k]);
        }
        ag_tape_free(t);
        return;
    }
    assert_int_equal(sp, 1);
    if (ag_tape_status(t) != AG_OK)
        print_error("case \"%s\": %s\n", c->label, ag_tape_error(t));
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tensor *out = stack[0];
    assert_non_null(out);
    /* (while the reader is tested, a mismatch goes on to the next check) */
    ag_tensor *seed = NULL;
    if (!check_shape(c, "output", out, &c->out))
        goto done;
    if ((int)ag_dtype_of(out) != c->out.dtype) {
        TU_REF_FAIL(TU_REF_MISMATCH, "%s:%d: case \"%s\": output is %s, PyTorch gives %s",
                    c->file, c->line, c->label, ag_dtype_name(ag_dtype_of(out)),
                    ag_dtype_name((ag_dtype)c->out.dtype));
        goto done;
    }
    if (c->out.dtype != AG_FLOAT32) {   /* indices and masks: exactly */
        for (int64_t i = 0; i < c->out.n; i++) {
            const int64_t got = c->out.dtype == AG_INT64 ? ag_data_i64(out)[i]
                                                         : (int64_t)ag_data_bool(out)[i];
            if (got != c->out.iv[i])
                TU_REF_FAIL(TU_REF_MISMATCH,
                            "%s:%d: case \"%s\": output element %lld is %lld, PyTorch gives %lld",
                            c->file, c->line, c->label, (long long)i, (long long)got,
                            (long long)c->out.iv[i]);
        }
        assert_false(ag_requires_grad(out));
        goto done;
    }
    check_values(c, "output", ag_data(out), c->out.v, c->out.n);

    bool any_float = false;
    for (int k = 0; k < c->n_in; k++)
        any_float = any_float || c->in[k].x.dtype == AG_FLOAT32;
    if (!any_float) {          /* a float result of int64/bool inputs: nothing to backward */
        assert_false(ag_requires_grad(out));
        goto done;
    }
    seed = ag_tensor_new(c->out.ndim, c->out.shape, c->seed, false);
    assert_non_null(seed);
    if (ag_backward_seed(t, out, seed) != AG_OK)
        print_error("case \"%s\": %s\n", c->label, ag_tape_error(t));
    assert_int_equal(ag_tape_status(t), AG_OK);
    for (int k = 0; k < c->n_in; k++) {
        char what[64];
        snprintf(what, sizeof what, "grad of %s", c->in[k].name);
        ag_tensor *g = ag_grad(leaf[k]);
        if (c->in[k].x.dtype != AG_FLOAT32) {
            assert_null(g);    /* an int64 or bool input gets none */
            continue;
        }
        if (!g)
            print_error("case \"%s\": %s is missing\n", c->label, what);
        assert_non_null(g);
        if (check_shape(c, what, g, &c->in[k].x))
            check_values(c, what, ag_data(g), c->in[k].grad, c->in[k].x.n);
    }
done:
    ag_tensor_free(seed);
    for (int k = 0; k < c->n_in; k++)
        ag_tensor_free(leaf[k]);
    ag_tape_free(t);
}

/* ---- the whole text ---- */

/* Reads every case of text (the contents of the file name; modified in
 * place), runs it and checks it, marking the table ops the cases use in
 * used[]. Returns the number of cases, which must be the count the text
 * declares. A malformed text fails the test, or while the reader is being
 * tested returns -1 (with TU_REF_MALFORMED counted). */
static int64_t run_reference(char *text, const char *name, bool *used)
{
    static ref_case c;         /* large; nothing on the heap to free on a longjmp */
    reader r = { name, text, text, 0 };
    if (setjmp(parse_stop) != 0)
        return -1;
    char *s = next_line(&r);
    parse_check(&r, s != NULL, "empty file");
    char *magic = next_token(&s);
    parse_check(&r, magic && strcmp(magic, "ops_reference") == 0, "not an ops_reference file");
    parse_check(&r, parse_int(&r, &s) == 1, "unknown format version");
    int64_t expected = parse_int(&r, &s);
    parse_check(&r, expected > 0, "bad case count");

    int64_t count = 0;
    while ((s = next_line(&r)) != NULL) {
        char *key = next_token(&s);
        parse_check(&r, key && strcmp(key, "case") == 0, "expected a case line");
        memset(&c, 0, sizeof c);
        c.file = name;
        c.line = r.line;
        while (*s == ' ')
            s++;
        snprintf(c.label, sizeof c.label, "%s", s);
        parse_case(&r, &c);
        run_case(&c, used);
        count++;
    }
    /* a truncated (or padded) file fails here */
    parse_check(&r, count == expected, "the number of cases is not the declared count");
    return count;
}

/* ---- tests ---- */

static void test_reference(void **state)
{
    (void)state;
    char *text = read_file(REF_FILE);
    bool used[AGI_OP_COUNT] = { false };
    int64_t count = run_reference(text, REF_FILE, used);
    assert_true(count > 0);
    for (int o = 0; o < AGI_OP_COUNT; o++) {
        if (!used[o])
            print_error("op \"%s\" appears in no case of %s\n", agi_ops[o].name, REF_FILE);
        assert_true(used[o]);
    }
    printf("# %lld reference cases passed\n", (long long)count);
    free(text);
}

/* ---- the reader itself ----
 * Four cases copied from ops_reference.txt: broadcasting (a 0-dim input's
 * gradient is a sum), non-finite values, a plain product and an error. */
#define CASE_ADD                                                                              \
    "case add () & (2,3)\n"                                                                   \
    "prog a b add\n"                                                                          \
    "input a 0 -1.26854253\n"                                                                 \
    "input b 2 2 3 0.737320662 2.87861156 -0.472866535 1.53621578 1.77108669 1.64410591\n"    \
    "output 2 2 3 -0.531221867 1.61006904 -1.74140906 0.267673254 0.502544165 0.375563383\n"  \
    "seed -0.571226716 -0.370232791 0.0744524747 -1.21216679 -0.63700068 2.14635062\n"        \
    "grad a -0.569823921\n"                                                                   \
    "grad b -0.571226716 -0.370232791 0.0744524747 -1.21216679 -0.63700068 2.14635062\n"      \
    "end\n"
#define CASE_NONFINITE                                                                        \
    "case add non-finite\n"                                                                   \
    "prog a b add\n"                                                                          \
    "input a 1 6 inf -inf nan 1 inf 0\n"                                                      \
    "input b 1 6 1 inf 2 -inf inf inf\n"                                                      \
    "output 1 6 inf nan nan -inf inf inf\n"                                                   \
    "seed -0.142895475 -1.53238022 0.601742506 0.718474269 -1.67601824 0.644836605\n"         \
    "grad a -0.142895475 -1.53238022 0.601742506 0.718474269 -1.67601824 0.644836605\n"       \
    "grad b -0.142895475 -1.53238022 0.601742506 0.718474269 -1.67601824 0.644836605\n"       \
    "end\n"
#define CASE_ERROR                                                                            \
    "case div (3) & (2)\n"                                                                    \
    "prog a b div\n"                                                                          \
    "input a 1 3 1.09298182 0.810903311 0.165489435\n"                                        \
    "input b 1 2 0.669844031 2.0708003\n"                                                     \
    "# PyTorch: The size of tensor a (3) must match the size of tensor b (2)\n"               \
    "error\n"                                                                                 \
    "end\n"
#define CASE_MUL                                                                              \
    "case mul (3) & (3)\n"                                                                    \
    "prog a b mul\n"                                                                          \
    "input a 1 3 0.415729523 -0.201288223 -1.44179463\n"                                      \
    "input b 1 3 2.50043869 -0.858696938 -1.62796426\n"                                       \
    "output 1 3 1.0395062 0.172845587 2.34719014\n"                                           \
    "seed -0.875477612 -0.441192895 -0.678599894\n"                                           \
    "grad a -2.18907809 0.378850996 1.10473633\n"                                             \
    "grad b -0.363961875 0.0888069347 0.978401661\n"                                          \
    "end\n"
#define COPY_HEAD "# a copy\nops_reference 1 4\n\n"
static const char COPY[] = COPY_HEAD CASE_ADD "\n" CASE_NONFINITE "\n" CASE_ERROR "\n" CASE_MUL;

/* A copy of s to read (the reader writes into its text). */
static char *dup_text(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    assert_non_null(d);
    return strcpy(d, s);
}

/* Reads a copy of text, expecting the outcome (TU_REF_*) and a first failure
 * message containing msg (if not NULL). */
static void expect_read(const char *text, int outcome, const char *msg)
{
    char *copy = dup_text(text);
    bool used[AGI_OP_COUNT] = { false };
    tu_ref_try_begin();
    const int64_t n = run_reference(copy, "copy", used);
    const int got = tu_ref_try_end();
    static const char *const names[] = { "no failure", "a mismatch", "a malformed text" };
    if (got != outcome)
        print_error("reading gives %s, expected %s; first failure: %s\n", names[got],
                    names[outcome], tu_ref_state()->msg);
    assert_int_equal(got, outcome);
    if (outcome == TU_REF_MALFORMED)
        assert_int_equal(n, -1);
    else
        assert_int_equal(n, 4);
    if (msg)
        assert_contains(tu_ref_state()->msg, msg);
    free(copy);
}

/* expect_read on COPY with old replaced by new */
static void expect_variant(const char *old, const char *new_text, int outcome, const char *msg)
{
    char *v = tu_replace(COPY, old, new_text);
    expect_read(v, outcome, msg);
    free(v);
}

static void test_reader(void **state)
{
    (void)state;
    /* the faithful copy passes, and every case ran */
    bool used[AGI_OP_COUNT] = { false };
    char *copy = dup_text(COPY);
    tu_ref_try_begin();
    assert_int_equal(run_reference(copy, "copy", used), 4);
    assert_int_equal(tu_ref_try_end(), TU_REF_OK);
    assert_true(used[AGI_OP_ADD] && used[AGI_OP_MUL]);
    free(copy);

    /* matches(): the tolerance, NaN and infinities */
    assert_true(matches(1.0f, 1.0f) && matches(1.0001f, 1.0f) && matches(-4e-6f, 4e-6f));
    assert_false(matches(1.0003f, 1.0f) || matches(2e-5f, 0.0f) || matches(-1000.2f, -1000.0f));
    assert_true(matches(NAN, NAN) && matches(INFINITY, INFINITY) && matches(-INFINITY, -INFINITY));
    assert_false(matches(1.0f, NAN) || matches(NAN, 1.0f) || matches(INFINITY, 1e30f));
    assert_false(matches(-INFINITY, INFINITY) || matches(INFINITY, NAN) || matches(1e30f, INFINITY));

    /* one value changed beyond the tolerance (1e-5 + 1e-4 |v|) fails, at the
     * element changed: in an output, a gradient, the last element, a 0-dim
     * input's gradient */
    expect_variant("-1.74140906 0.267673254", "-1.74180906 0.267673254", TU_REF_MISMATCH,
                   "case \"add () & (2,3)\": output element 2 is");
    expect_variant("output 2 2 3 -0.531221867", "output 2 2 3 -0.531121867", TU_REF_MISMATCH,
                   "output element 0 is");
    expect_variant("0.375563383\n", "0.375663383\n", TU_REF_MISMATCH, "output element 5 is");
    expect_variant("grad b -0.571226716 -0.370232791 0.0744524747 -1.21216679 -0.63700068 2.14635062",
                   "grad b -0.571226716 -0.370232791 0.0744524747 -1.21216679 -0.63700068 2.14665062",
                   TU_REF_MISMATCH, "grad of b element 5 is");
    expect_variant("grad a -0.569823921", "grad a -0.569723921", TU_REF_MISMATCH,
                   "grad of a element 0 is");
    expect_variant("0.0888069347 0.978401661", "0.0888069347 0.978601661", TU_REF_MISMATCH,
                   "case \"mul (3) & (3)\": grad of b element 2 is");
    expect_variant("grad a -2.18907809", "grad a -2.18807809", TU_REF_MISMATCH,
                   "case \"mul (3) & (3)\": grad of a element 0 is");
    expect_variant("output 1 3 1.0395062", "output 1 3 1.0397062", TU_REF_MISMATCH,
                   "case \"mul (3) & (3)\": output element 0 is");
    /* ... but a change within the tolerance passes */
    expect_variant("-1.74140906 0.267673254", "-1.74150906 0.267673254", TU_REF_OK, NULL);
    expect_variant("0.0888069347 0.978401661", "0.0888069347 0.978451661", TU_REF_OK, NULL);
    /* NaN, infinities */
    expect_variant("output 1 6 inf nan nan", "output 1 6 inf nan 3", TU_REF_MISMATCH,
                   "output element 2 is");
    expect_variant("output 1 6 inf nan", "output 1 6 inf 0", TU_REF_MISMATCH,
                   "output element 1 is");
    expect_variant("output 1 6 inf", "output 1 6 -inf", TU_REF_MISMATCH,
                   "output element 0 is inf");
    expect_variant("nan -inf inf inf\n", "nan inf inf inf\n", TU_REF_MISMATCH,
                   "output element 3 is -inf");
    /* a shape, not the values, differs */
    expect_variant("output 2 2 3", "output 2 3 2", TU_REF_MISMATCH,
                   "output has shape (2,3), PyTorch gives (3,2)");
    /* PyTorch raised and we do not */
    expect_variant("output 1 3 1.0395062 0.172845587 2.34719014\n"
                   "seed -0.875477612 -0.441192895 -0.678599894\n"
                   "grad a -2.18907809 0.378850996 1.10473633\n"
                   "grad b -0.363961875 0.0888069347 0.978401661\n", "error\n", TU_REF_MISMATCH,
                   "case \"mul (3) & (3)\": PyTorch raised an error, we did not");

    /* malformed copies: cut inside a case, a case missing, a wrong count,
     * too few or too many values, a missing grad, a bad number */
    char *cut = tu_replace(COPY, "grad b -0.363961875 0.0888069347 0.978401661\nend\n", "");
    expect_read(cut, TU_REF_MALFORMED, "file ends inside a case");
    free(cut);
    expect_variant("\n" CASE_MUL, "", TU_REF_MALFORMED,
                   "the number of cases is not the declared count");
    expect_variant("ops_reference 1 4", "ops_reference 1 5", TU_REF_MALFORMED,
                   "the number of cases is not the declared count");
    expect_variant("ops_reference 1 4", "ops_reference 1 3", TU_REF_MALFORMED,
                   "the number of cases is not the declared count");
    expect_variant("0.0888069347 0.978401661", "0.0888069347", TU_REF_MALFORMED,
                   "too few values");
    expect_variant("-0.441192895 -0.678599894", "-0.441192895 -0.678599894 7", TU_REF_MALFORMED,
                   "too many values");
    expect_variant("grad a -2.18907809 0.378850996 1.10473633\n", "", TU_REF_MALFORMED,
                   "an input has no grad line");
    expect_variant("2.50043869 -0.858696938", "2.50043869 -0.85869x", TU_REF_MALFORMED,
                   "bad number");
    expect_variant("ops_reference 1 4", "ops_reference 2 4", TU_REF_MALFORMED,
                   "unknown format version");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
