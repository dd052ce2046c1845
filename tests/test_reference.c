/* test_reference.c - replays the cases of tests/data/ops_reference.txt (values
 * and gradients computed by PyTorch 1.13, see tests/gen_reference.py, whose
 * header documents the format) through the public API, and checks every
 * output and every input's gradient.
 *
 * Each case is a postfix program over named inputs; the output's gradient is
 * the case's seed, given to ag_backward_seed. Outputs and gradients must match
 * within |ours - torch| <= 1e-5 + 1e-4 |torch|; NaN must be NaN and an
 * infinity the same infinity. The file's case count is checked, so a
 * truncated file fails, and every op of the table must appear in some case. */
#include "testutil.h"
#include "internal.h"

#include <errno.h>
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

static const ref_family_fn FAMILIES[] = { ref_act, ref_shape, ref_reduce, ref_linalg, ref_loss,
                                          ref_ew };

/* ---- the data file ---- */

typedef struct ref_tensor {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t n;
    float v[MAX_VALUES];
} ref_tensor;

typedef struct ref_input {
    char name[MAX_NAME];
    ref_tensor x;
    float grad[MAX_VALUES];
    bool has_grad;
} ref_input;

typedef struct ref_case {
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
    char *text;                /* the whole file, NUL-terminated */
    char *pos;
    int line;
} reader;

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
            print_error("%s:%d: %s\n", REF_FILE, (r)->line, (what));               \
            fail();                                                                \
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

/* "<ndim> <dims...> <values...>" */
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
    parse_values(r, s, x->v, x->n);
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
            parse_tensor(r, &s, &in->x);
            c->n_in++;
        } else if (strcmp(key, "output") == 0) {
            parse_tensor(r, &s, &c->out);
            c->has_out = true;
        } else if (strcmp(key, "seed") == 0) {
            parse_check(r, c->has_out, "seed before output");
            parse_values(r, &s, c->seed, c->out.n);
            c->n_seed = c->out.n;
        } else if (strcmp(key, "error") == 0) {
            c->expect_error = true;
        } else if (strcmp(key, "grad") == 0) {
            char *name = next_token(&s);
            ref_input *in = name ? find_input(c, name) : NULL;
            parse_check(r, in != NULL, "grad of an unknown input");
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
    parse_check(r, has_prog && c->has_out && c->n_seed == c->out.n && c->n_in > 0,
                "incomplete case");
    for (int k = 0; k < c->n_in; k++)
        parse_check(r, c->in[k].has_grad, "an input has no grad line");
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
        if (!matches(got[i], want[i])) {
            print_error("%s:%d: case \"%s\": %s element %lld is %.9g, PyTorch gives %.9g\n",
                        REF_FILE, c->line, c->label, what, (long long)i, (double)got[i],
                        (double)want[i]);
            fail();
        }
    }
}

static void check_shape(const ref_case *c, const char *what, const ag_tensor *x,
                        const ref_tensor *want)
{
    bool same = ag_ndim(x) == want->ndim;
    for (int i = 0; same && i < want->ndim; i++)
        same = ag_shape(x)[i] == want->shape[i];
    if (!same) {
        char s1[160], s2[160];
        print_error("%s:%d: case \"%s\": %s has shape %s, PyTorch gives %s\n", REF_FILE,
                    c->line, c->label, what, agi_shape_str(s1, sizeof s1, ag_ndim(x), ag_shape(x)),
                    agi_shape_str(s2, sizeof s2, want->ndim, want->shape));
        fail();
    }
}

/* Runs c's program through the public API and checks the output and grads.
 * Marks the table ops the program uses in used[]. */
static void run_case(const ref_case *c, bool *used)
{
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *leaf[MAX_INPUTS];
    for (int k = 0; k < c->n_in; k++) {
        leaf[k] = ag_tensor_new(c->in[k].x.ndim, c->in[k].x.shape, c->in[k].x.v, true);
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
            print_error("%s:%d: case \"%s\": PyTorch raised an error, we did not\n",
                        REF_FILE, c->line, c->label);
        assert_int_not_equal(ag_tape_status(t), AG_OK);
        assert_true(strlen(ag_tape_error(t)) > 0);
        for (int k = 0; k < c->n_in; k++) {   /* inputs intact */
            for (int64_t j = 0; j < c->in[k].x.n; j++)
                assert_memory_equal(&ag_data(leaf[k])[j], &c->in[k].x.v[j], sizeof(float));
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
    check_shape(c, "output", out, &c->out);
    check_values(c, "output", ag_data(out), c->out.v, c->out.n);

    ag_tensor *seed = ag_tensor_new(c->out.ndim, c->out.shape, c->seed, false);
    assert_non_null(seed);
    if (ag_backward_seed(t, out, seed) != AG_OK)
        print_error("case \"%s\": %s\n", c->label, ag_tape_error(t));
    assert_int_equal(ag_tape_status(t), AG_OK);
    for (int k = 0; k < c->n_in; k++) {
        char what[64];
        snprintf(what, sizeof what, "grad of %s", c->in[k].name);
        ag_tensor *g = ag_grad(leaf[k]);
        if (!g)
            print_error("case \"%s\": %s is missing\n", c->label, what);
        assert_non_null(g);
        check_shape(c, what, g, &c->in[k].x);
        check_values(c, what, ag_data(g), c->in[k].grad, c->in[k].x.n);
    }

    ag_tensor_free(seed);
    for (int k = 0; k < c->n_in; k++)
        ag_tensor_free(leaf[k]);
    ag_tape_free(t);
}

/* ---- tests ---- */

static void test_reference(void **state)
{
    (void)state;
    reader r = { read_file(REF_FILE), NULL, 0 };
    r.pos = r.text;
    bool used[AGI_OP_COUNT] = { false };

    char *s = next_line(&r);
    parse_check(&r, s != NULL, "empty file");
    char *magic = next_token(&s);
    parse_check(&r, magic && strcmp(magic, "ops_reference") == 0, "not an ops_reference file");
    parse_check(&r, parse_int(&r, &s) == 1, "unknown format version");
    int64_t expected = parse_int(&r, &s);
    parse_check(&r, expected > 0, "bad case count");

    ref_case *c = malloc(sizeof *c);
    assert_non_null(c);
    int64_t count = 0;
    while ((s = next_line(&r)) != NULL) {
        char *key = next_token(&s);
        parse_check(&r, key && strcmp(key, "case") == 0, "expected a case line");
        memset(c, 0, sizeof *c);
        c->line = r.line;
        while (*s == ' ')
            s++;
        snprintf(c->label, sizeof c->label, "%s", s);
        parse_case(&r, c);
        run_case(c, used);
        count++;
    }
    /* a truncated (or padded) file fails here */
    assert_int_equal(count, expected);
    for (int o = 0; o < AGI_OP_COUNT; o++) {
        if (!used[o])
            print_error("op \"%s\" appears in no case of %s\n", agi_ops[o].name, REF_FILE);
        assert_true(used[o]);
    }
    printf("# %lld reference cases passed\n", (long long)count);
    free(c);
    free(r.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
