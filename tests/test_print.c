/* test_print.c - ag_snprint/ag_fprint/ag_print against str(tensor) from PyTorch 1.13.
 *
 * Every case of tests/data/print_reference.txt (written by
 * tests/gen_print_reference.py, whose docstring describes the format) is rebuilt
 * through the public API - a leaf, or an op recorded on a tape so the grad_fn
 * suffix is the real one - and printed; the text must equal PyTorch's byte for
 * byte. The same cases then check the snprintf contract (return value,
 * truncation), ag_fprint's output and the error returns. */
#include "testutil.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>

#include "internal.h"

#define REF_PATH AG_TEST_DATA_DIR "/print_reference.txt"

/* ---- the reference file ---------------------------------------------------- */

typedef struct ref_case {
    char name[64];
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    bool is_op;               /* an op result, else a leaf */
    char op[32];              /* ag_* op name without the prefix */
    float param;
    bool requires_grad;       /* the leaf's */
    bool grad_enabled;        /* false: recorded under no_grad */
    int dtype;                /* the leaf's: AG_FLOAT32, or AG_INT64 / AG_BOOL (a dtype line) */
    int64_t n;
    float *data;              /* the leaf's elements (float32) */
    int64_t *ints;            /* the leaf's elements (int64, and bool as 0 or 1) */
    float *result;            /* is_op: the op's elements, per PyTorch */
    char *text;               /* str(tensor) */
} ref_case;

typedef struct ref_file {
    char *buf;                /* the whole file; parsing walks it line by line */
    char *pos;
    int line;
    int count;                /* the header's count */
    int n;                    /* cases parsed */
    ref_case *cases;
} ref_file;

static ref_file REF;

/* The next line (NUL-terminated in place), or NULL at the end. */
static char *next_line(ref_file *r)
{
    if (!r->pos || !*r->pos)
        return NULL;
    char *s = r->pos;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        r->pos = nl + 1;
    } else {
        r->pos = s + strlen(s);
    }
    r->line++;
    return s;
}

/* The next line that is not a comment, which must start with key; returns
 * what follows the key. */
static char *expect(ref_file *r, const char *key)
{
    char *s;
    do {
        s = next_line(r);
    } while (s && s[0] == '#');
    if (!s || strncmp(s, key, strlen(key)) != 0) {
        print_error("%s:%d: expected '%s', got '%s'\n", REF_PATH, r->line, key, s ? s : "EOF");
        fail();
    }
    return s + strlen(key);
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* "key N" then N hex bit patterns spread over lines; returns a malloc'd array
 * (at least one element, so an empty tensor still gets a pointer). */
static float *read_values(ref_file *r, const char *key, int64_t expect_n)
{
    char *s = expect(r, key);
    long long n = strtoll(s, NULL, 10);
    assert_int_equal(n, expect_n);
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    assert_non_null(v);
    int64_t got = 0;
    while (got < n) {
        char *p = next_line(r);
        assert_non_null(p);
        char *end;
        for (;;) {
            unsigned long u = strtoul(p, &end, 16);
            if (end == p)
                break;
            assert_true(got < n);
            v[got++] = from_bits((uint32_t)u);
            p = end;
        }
    }
    return v;
}

/* "data N" then N decimal integers spread over lines (int64 and bool
 * leaves); a malloc'd array of at least one element. */
static int64_t *read_ints(ref_file *r, int64_t expect_n, bool is_bool)
{
    char *s = expect(r, "data ");
    long long n = strtoll(s, NULL, 10);
    assert_int_equal(n, expect_n);
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    assert_non_null(v);
    int64_t got = 0;
    while (got < n) {
        char *p = next_line(r);
        assert_non_null(p);
        char *end;
        for (;;) {
            errno = 0;
            long long u = strtoll(p, &end, 10);
            if (end == p)
                break;
            assert_int_equal(errno, 0);
            assert_true(got < n);
            if (is_bool)
                assert_true(u == 0 || u == 1);
            v[got++] = (int64_t)u;
            p = end;
        }
    }
    return v;
}

static void parse_case(ref_file *r, ref_case *c)
{
    memset(c, 0, sizeof *c);
    char *s = expect(r, "case ");
    assert_true(strlen(s) < sizeof c->name);
    strcpy(c->name, s);

    char *end;
    s = expect(r, "shape ");
    c->ndim = (int)strtol(s, &end, 10);
    assert_in_range(c->ndim, 0, AG_MAX_DIMS);
    int64_t numel = 1;
    bool empty = false;   /* a 0 anywhere; the other sizes may then be huge */
    for (int i = 0; i < c->ndim; i++) {
        c->shape[i] = strtoll(end, &end, 10);
        assert_true(c->shape[i] >= 0);
        empty = empty || c->shape[i] == 0;
    }
    for (int i = 0; i < c->ndim && !empty; i++)
        numel *= c->shape[i];
    if (empty)
        numel = 0;
    c->n = numel;

    s = next_line(r);
    assert_non_null(s);
    if (strncmp(s, "leaf ", 5) == 0) {
        c->requires_grad = atoi(s + 5) != 0;
        c->grad_enabled = true;
    } else {
        unsigned long pbits;
        int rg, ge;
        assert_int_equal(sscanf(s, "op %31s %lx %d %d", c->op, &pbits, &rg, &ge), 4);
        c->is_op = true;
        c->param = from_bits((uint32_t)pbits);
        c->requires_grad = rg != 0;
        c->grad_enabled = ge != 0;
    }
    if (strncmp(r->pos, "dtype ", 6) == 0) {  /* an int64 or bool leaf */
        s = next_line(r) + 6;
        assert_false(c->is_op || c->requires_grad);
        if (!strcmp(s, "int64"))
            c->dtype = AG_INT64;
        else if (!strcmp(s, "bool"))
            c->dtype = AG_BOOL;
        else {
            print_error("%s:%d: unknown dtype '%s'\n", REF_PATH, r->line, s);
            fail();
        }
        c->ints = read_ints(r, numel, c->dtype == AG_BOOL);
    } else {
        c->dtype = AG_FLOAT32;
        c->data = read_values(r, "data ", numel);
    }
    if (c->is_op)
        c->result = read_values(r, "result ", numel);

    /* text: L lines, each behind a '|', joined back with '\n' */
    int nlines = atoi(expect(r, "text "));
    assert_true(nlines >= 1);
    char *lines[4096];
    size_t total = 0;
    assert_true(nlines <= 4096);
    for (int i = 0; i < nlines; i++) {
        lines[i] = next_line(r);
        assert_non_null(lines[i]);
        assert_int_equal(lines[i][0], '|');
        total += strlen(lines[i]);   /* the '|' pays for the '\n' or the NUL */
    }
    c->text = malloc(total);
    assert_non_null(c->text);
    size_t len = 0;
    for (int i = 0; i < nlines; i++) {
        size_t l = strlen(lines[i] + 1);
        memcpy(c->text + len, lines[i] + 1, l);
        len += l;
        c->text[len++] = i + 1 < nlines ? '\n' : '\0';
    }
    expect(r, "end");
}

/* Reads and parses the whole file once; every test starts with it, so a
 * malformed file fails a test (with the line) instead of the group setup. */
static void ref_load(void)
{
    if (REF.buf)
        return;
    FILE *f = fopen(REF_PATH, "rb");
    if (!f) {
        print_error("cannot open %s\n", REF_PATH);
        fail();
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    REF.buf = malloc((size_t)size + 1);
    assert_non_null(REF.buf);
    assert_int_equal(fread(REF.buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    REF.buf[size] = '\0';
    REF.pos = REF.buf;
    REF.count = atoi(expect(&REF, "count "));
    assert_true(REF.count > 0);
    REF.cases = calloc((size_t)REF.count, sizeof *REF.cases);
    assert_non_null(REF.cases);
    while (REF.n < REF.count)
        parse_case(&REF, &REF.cases[REF.n++]);
    /* and no case after the count: only blank or comment lines remain */
    char *rest;
    while ((rest = next_line(&REF)) != NULL)
        if (rest[0] != '\0' && rest[0] != '#') {
            print_error("%s:%d: more cases than the header's count %d\n", REF_PATH, REF.line,
                        REF.count);
            fail();
        }
}

static int ref_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < REF.n; i++) {
        free(REF.cases[i].data);
        free(REF.cases[i].ints);
        free(REF.cases[i].result);
        free(REF.cases[i].text);
    }
    free(REF.cases);
    free(REF.buf);
    return 0;
}

static const ref_case *ref_find(const char *name)
{
    ref_load();
    for (int i = 0; i < REF.n; i++)
        if (strcmp(REF.cases[i].name, name) == 0)
            return &REF.cases[i];
    print_error("no reference case '%s'\n", name);
    fail();
    return NULL;
}

/* ---- building a case through the public API --------------------------------- */

typedef struct built {
    ag_tape *tape;            /* op cases */
    ag_tensor *leaf, *other;  /* caller-owned */
    ag_tensor *x;             /* the tensor to print */
} built;

static void build(built *b, const ref_case *c)
{
    memset(b, 0, sizeof *b);
    if (c->dtype == AG_INT64) {
        b->leaf = ag_tensor_i64(c->ndim, c->shape, c->ints);
    } else if (c->dtype == AG_BOOL) {
        bool *v = malloc((size_t)(c->n > 0 ? c->n : 1));
        assert_non_null(v);
        for (int64_t i = 0; i < c->n; i++)
            v[i] = c->ints[i] != 0;
        b->leaf = ag_tensor_bool(c->ndim, c->shape, v);
        free(v);
    } else {
        b->leaf = ag_tensor_new(c->ndim, c->shape, c->data, c->requires_grad);
    }
    assert_non_null(b->leaf);
    if (!c->is_op) {
        b->x = b->leaf;
        return;
    }
    b->tape = ag_tape_new();
    assert_non_null(b->tape);
    ag_tape_set_grad_enabled(b->tape, c->grad_enabled);
    ag_tape *t = b->tape;
    const char *op = c->op;
    if (!strcmp(op, "mul_scalar"))
        b->x = ag_mul_scalar(t, b->leaf, c->param);
    else if (!strcmp(op, "add_scalar"))
        b->x = ag_add_scalar(t, b->leaf, c->param);
    else if (!strcmp(op, "sub_scalar"))
        b->x = ag_sub_scalar(t, b->leaf, c->param);
    else if (!strcmp(op, "rsub_scalar"))
        b->x = ag_rsub_scalar(t, b->leaf, c->param);
    else if (!strcmp(op, "pow"))
        b->x = ag_pow(t, b->leaf, c->param);
    else if (!strcmp(op, "neg"))
        b->x = ag_neg(t, b->leaf);
    else if (!strcmp(op, "mul")) {
        b->other = ag_ones(c->ndim, c->shape, false);
        b->x = ag_mul(t, b->leaf, b->other);
    } else if (!strcmp(op, "add")) {
        b->other = ag_zeros(c->ndim, c->shape, false);
        b->x = ag_add(t, b->leaf, b->other);
    } else {
        print_error("%s: unknown op '%s'\n", c->name, op);
        fail();
    }
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_non_null(b->x);
    /* the op computed the very elements PyTorch printed */
    for (int64_t i = 0; i < c->n; i++)
        if (to_bits(ag_data(b->x)[i]) != to_bits(c->result[i])) {
            print_error("%s: element %lld is %08x, PyTorch's is %08x\n", c->name, (long long)i,
                        (unsigned)to_bits(ag_data(b->x)[i]), (unsigned)to_bits(c->result[i]));
            fail();
        }
}

static void unbuild(built *b)
{
    ag_tape_free(b->tape);
    ag_tensor_free(b->leaf);
    ag_tensor_free(b->other);
}

/* The whole text of x, malloc'd. */
static char *print_all(const ag_tensor *x, int *len)
{
    *len = ag_snprint(NULL, 0, x);
    assert_true(*len >= 0);
    char *s = malloc((size_t)*len + 1);
    assert_non_null(s);
    assert_int_equal(ag_snprint(s, (size_t)*len + 1, x), *len);
    return s;
}

/* ---- tests ------------------------------------------------------------------------ */

/* The file holds exactly the number of cases its header announces. */
static void test_case_count(void **state)
{
    (void)state;
    ref_load();
    assert_true(REF.count >= 200);
    assert_int_equal(REF.n, REF.count);
    int ops = 0, suffix_wraps = 0;
    for (int i = 0; i < REF.n; i++) {
        ops += REF.cases[i].is_op;
        const char *last = strrchr(REF.cases[i].text, '\n');
        suffix_wraps += last && (strstr(last, "\n       grad_fn=") == last ||
                                 strstr(last, "\n       requires_grad=") == last);
    }
    assert_true(ops >= 20);
    assert_true(suffix_wraps >= 5);
    int ints = 0, bools = 0;
    for (int i = 0; i < REF.n; i++) {
        ints += REF.cases[i].dtype == AG_INT64;
        bools += REF.cases[i].dtype == AG_BOOL;
    }
    assert_true(ints >= 50);
    assert_true(bools >= 30);
}

/* Every case prints exactly as PyTorch does; all mismatches are listed before
 * the test fails. */
static void test_matches_pytorch(void **state)
{
    (void)state;
    ref_load();
    int bad = 0;
    for (int i = 0; i < REF.n; i++) {
        const ref_case *c = &REF.cases[i];
        built b;
        build(&b, c);
        int len;
        char *s = print_all(b.x, &len);
        if (strcmp(s, c->text) != 0) {
            print_error("case %s:\n--- PyTorch\n%s\n--- ag_snprint\n%s\n", c->name, c->text, s);
            bad++;
        }
        assert_int_equal((size_t)len, strlen(s));
        free(s);
        unbuild(&b);
    }
    assert_int_equal(bad, 0);
}

/* ag_snprint into buffers of every interesting size behaves as snprintf("%s"). */
static void test_snprintf_contract(void **state)
{
    (void)state;
    ref_load();
    for (int i = 0; i < REF.n; i++) {
        const ref_case *c = &REF.cases[i];
        built b;
        build(&b, c);
        const size_t len = strlen(c->text);
        size_t sizes[] = { 0, 1, 2, 7, 8, len / 2, len - 1, len, len + 1, len + 100 };
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t size = sizes[k];
            char *got = malloc(size + 1), *want = malloc(size + 1);
            assert_non_null(got);
            assert_non_null(want);
            memset(got, 'Z', size + 1);
            memset(want, 'Z', size + 1);
            int r = ag_snprint(size ? got : NULL, size, b.x);
            int w = snprintf(size ? want : NULL, size, "%s", c->text);
            if (r != w || memcmp(got, want, size + 1) != 0)
                print_error("case %s, buffer of %zu bytes\n", c->name, size);
            assert_int_equal(r, w);
            assert_int_equal(r, (int)len);
            /* same bytes, a NUL-terminated prefix, nothing written past size */
            assert_memory_equal(got, want, size + 1);
            if (size)
                assert_int_equal(strlen(got), size - 1 < len ? size - 1 : len);
            free(got);
            free(want);
        }
        unbuild(&b);
    }
}

/* ag_fprint writes the text and a newline and returns the count written. */
static void test_fprint(void **state)
{
    (void)state;
    ref_load();
    for (int i = 0; i < REF.n; i++) {
        const ref_case *c = &REF.cases[i];
        built b;
        build(&b, c);
        FILE *f = tmpfile();
        assert_non_null(f);
        const size_t len = strlen(c->text);
        int r = ag_fprint(f, b.x);
        if (r != (int)len + 1)
            print_error("case %s\n", c->name);
        assert_int_equal(r, (int)len + 1);
        assert_int_equal(ftell(f), (long)len + 1);
        rewind(f);
        char *s = malloc(len + 2);
        assert_non_null(s);
        assert_int_equal(fread(s, 1, len + 1, f), len + 1);
        assert_memory_equal(s, c->text, len);
        assert_int_equal(s[len], '\n');
        assert_int_equal(fgetc(f), EOF);
        free(s);
        fclose(f);
        unbuild(&b);
    }
}

/* ag_fprint needs the allocator only for long texts; when it refuses, the
 * call fails without writing anything or leaking. */
static void test_fprint_out_of_memory(void **state)
{
    (void)state;
    const ref_case *c = ref_find("sum_t3_10x10x11");   /* longer than fprint's stack buffer */
    assert_true(strlen(c->text) > 2000);
    static tu_alloc a;   /* static: stays valid if an assertion leaves it installed */
    tu_alloc_use(&a);
    ag_tensor *x = ag_tensor_new(c->ndim, c->shape, c->data, false);
    assert_non_null(x);
    a.fail_at = a.requests + 1;
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ag_fprint(f, x), -1);
    assert_non_null(strstr(ag_last_error(), "ag_fprint: out of memory"));
    assert_int_equal(ftell(f), 0);
    assert_int_equal(a.failed, 1);
    /* with memory it works, and frees what it took */
    a.fail_at = 0;
    assert_int_equal(ag_fprint(f, x), (int)strlen(c->text) + 1);
    ag_tensor_free(x);
    assert_int_equal(a.outstanding, 0);
    assert_int_equal(a.bad_frees, 0);
    fclose(f);
    tu_alloc_restore();
}

static void test_null_and_bad_arguments(void **state)
{
    (void)state;
    char buf[16] = "unchanged";
    /* each failure says why in ag_last_error() */
    assert_int_equal(ag_snprint(buf, sizeof buf, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "ag_snprint: tensor is NULL"));
    assert_int_equal(ag_snprint(NULL, 0, NULL), -1);
    assert_int_equal(ag_print(NULL), -1);
    assert_string_equal(ag_last_error(), "ag_print: tensor is NULL");   /* not ag_fprint */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ag_fprint(f, NULL), -1);
    assert_string_equal(ag_last_error(), "ag_fprint: tensor is NULL");
    assert_int_equal(ftell(f), 0);
    fclose(f);
    ag_tensor *x = ag_scalar(1.0f, false);
    assert_non_null(x);
    assert_int_equal(ag_fprint(NULL, x), -1);
    assert_non_null(strstr(ag_last_error(), "ag_fprint: stream is NULL"));
    /* ag_print goes to stdout: "tensor(1.)\n" */
    assert_int_equal(ag_print(x), (int)strlen("tensor(1.)") + 1);
    ag_tensor_free(x);
}

/* The tutorial's first example end to end: y = w*x + b, y.backward(), and the
 * printed gradients are PyTorch's (x.grad = tensor([2.]), the others [1.]). */
static void test_tutorial_grads(void **state)
{
    (void)state;
    int64_t one = 1;
    float v1 = 1.0f, v2 = 2.0f;
    ag_tensor *x = ag_tensor_new(1, &one, &v1, true);
    ag_tensor *w = ag_tensor_new(1, &one, &v2, true);
    ag_tensor *b = ag_tensor_new(1, &one, &v2, true);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);
    assert_int_equal(ag_backward(t, y), AG_OK);
    char s[64];
    assert_true(ag_snprint(s, sizeof s, ag_grad(x)) > 0);
    assert_string_equal(s, ref_find("tut_x_grad_2")->text);
    assert_true(ag_snprint(s, sizeof s, ag_grad(w)) > 0);
    assert_string_equal(s, ref_find("tut_grad_1")->text);
    assert_true(ag_snprint(s, sizeof s, ag_grad(b)) > 0);
    assert_string_equal(s, ref_find("tut_grad_1")->text);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(b);
}

/* PyTorch writes '.' whatever the C locale: a program that calls setlocale
 * with a locale whose decimal point is ',' (or, in ps_AF, a two-byte
 * character) still prints the reference text. Skipped when no such locale is
 * installed (e.g. build one: localedef -i de_DE -f UTF-8 DIR/de_DE.UTF-8 and
 * run with LOCPATH=DIR). */
static void test_locale_independent(void **state)
{
    (void)state;
    ref_load();
    static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8",
                                         "fr_FR.utf8", "ps_AF.UTF-8", "ps_AF.utf8" };
    int tried = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (!setlocale(LC_NUMERIC, names[k]))
            continue;
        char probe[16];
        snprintf(probe, sizeof probe, "%.1f", 0.5);
        if (strcmp(probe, "0.5") == 0) {
            setlocale(LC_NUMERIC, "C");
            continue;
        }
        tried++;
        int bad = 0;
        for (int i = 0; i < REF.n; i++) {
            const ref_case *c = &REF.cases[i];
            built b;
            build(&b, c);
            int len;
            char *s = print_all(b.x, &len);
            if (strcmp(s, c->text) != 0) {
                print_error("locale %s, case %s:\n--- PyTorch\n%s\n--- ag_snprint\n%s\n",
                            names[k], c->name, c->text, s);
                bad++;
            }
            free(s);
            unbuild(&b);
        }
        setlocale(LC_NUMERIC, "C");
        assert_int_equal(bad, 0);
    }
    if (!tried)
        skip();
}

/* grad_fn names that depend on how the op ran, as PyTorch 1.13 prints them
 * (each checked there: e.g. (torch.ones(2,3, requires_grad=True) @
 * torch.ones(3)).grad_fn is MvBackward0). */
static void expect_grad_fn(const ag_tensor *x, const char *name)
{
    char buf[512], want[64];
    assert_true(ag_snprint(buf, sizeof buf, x) > 0);
    snprintf(want, sizeof want, "grad_fn=<%s>)", name);
    assert_contains(buf, want);
}

static void test_grad_fn_variants(void **state)
{
    (void)state;
    const int64_t s3[1] = { 3 }, s23[2] = { 2, 3 }, s34[2] = { 3, 4 }, s523[3] = { 5, 2, 3 };
    const int64_t s234[3] = { 2, 3, 4 };
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_ones(1, s3, true), *m = ag_ones(2, s23, true), *n = ag_ones(2, s34, true);
    ag_tensor *b = ag_ones(3, s523, true), *k = ag_ones(3, s234, true);
    const int d0 = 0;
    const int64_t tg[8] = { 0, 1, 2, 0, 1, 2, 0, 1 };
    expect_grad_fn(ag_matmul(t, a, a), "DotBackward0");
    expect_grad_fn(ag_matmul(t, m, a), "MvBackward0");
    expect_grad_fn(ag_matmul(t, a, n), "SqueezeBackward3");
    expect_grad_fn(ag_matmul(t, m, n), "MmBackward0");
    expect_grad_fn(ag_matmul(t, b, n), "UnsafeViewBackward0");
    expect_grad_fn(ag_matmul(t, a, k), "UnsafeViewBackward0");       /* (3) @ (2,3,4) */
    /* 2-D @ N-D is (b^T @ a^T)^T made contiguous: a clone, or the transpose
     * when that is contiguous already ((1,3) @ (2,3,4), (2,3) @ (2,3,1)) */
    const int64_t s13[2] = { 1, 3 }, s231[3] = { 2, 3, 1 };
    ag_tensor *r1 = ag_ones(2, s13, true), *c1 = ag_ones(3, s231, true);
    expect_grad_fn(ag_matmul(t, m, k), "CloneBackward0");            /* (2,3) @ (2,3,4) */
    expect_grad_fn(ag_matmul(t, r1, k), "TransposeBackward0");
    expect_grad_fn(ag_matmul(t, m, c1), "TransposeBackward0");
    expect_grad_fn(ag_sum(t, m, 0, NULL, false), "SumBackward0");
    expect_grad_fn(ag_sum(t, m, 1, &d0, false), "SumBackward1");
    expect_grad_fn(ag_mean(t, m, 0, NULL, false), "MeanBackward0");
    expect_grad_fn(ag_mean(t, m, 1, &d0, false), "MeanBackward1");
    ag_ce_opts o = ag_ce_defaults();
    expect_grad_fn(ag_cross_entropy(t, m, tg, &o), "NllLossBackward0");
    expect_grad_fn(ag_cross_entropy(t, k, tg, &o), "NllLoss2DBackward0");
    o.reduction = AG_REDUCTION_NONE;
    expect_grad_fn(ag_cross_entropy(t, k, tg, &o), "ViewBackward0");
    o.label_smoothing = 0.1f;
    expect_grad_fn(ag_cross_entropy(t, m, tg, &o), "AddBackward0");
    expect_grad_fn(ag_cross_entropy_prob(t, m, m, &o), "NegBackward0");
    o.reduction = AG_REDUCTION_MEAN;
    expect_grad_fn(ag_cross_entropy_prob(t, m, m, &o), "DivBackward1");
    expect_grad_fn(ag_mse_loss(t, m, m, AG_REDUCTION_MEAN), "MseLossBackward0");
    /* F.linear(x, w, b) with w (2, 3): addmm for 2-D x, else matmul then add */
    const int d1 = 1;
    ag_tensor *bias2 = ag_sum(t, m, 1, &d1, false);        /* (2) */
    expect_grad_fn(ag_affine(t, m, m, bias2), "AddmmBackward0");
    expect_grad_fn(ag_affine(t, m, m, NULL), "MmBackward0");
    expect_grad_fn(ag_affine(t, a, m, bias2), "AddBackward0");
    expect_grad_fn(ag_affine(t, a, m, NULL), "SqueezeBackward3");
    expect_grad_fn(ag_affine(t, k, n, NULL), "UnsafeViewBackward0");
    /* with bias: addmm then view for 3-D x, matmul then add from 4-D on */
    const int64_t s2223[4] = { 2, 2, 2, 3 };
    ag_tensor *x4 = ag_ones(4, s2223, true);
    expect_grad_fn(ag_affine(t, b, m, bias2), "ViewBackward0");
    expect_grad_fn(ag_affine(t, x4, m, bias2), "AddBackward0");
    expect_grad_fn(ag_affine(t, x4, m, NULL), "UnsafeViewBackward0");
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(x4);
    ag_tensor_free(a);
    ag_tensor_free(m);
    ag_tensor_free(n);
    ag_tensor_free(b);
    ag_tensor_free(k);
    ag_tensor_free(r1);
    ag_tensor_free(c1);
}

/* Recorded int64 and bool results (x.long(), x.bool() of a float leaf that
 * requires grad) print as PyTorch prints them: no dtype, no grad_fn (they do
 * not require grad), and the size and dtype suffixes when empty. */
static void test_typed_results(void **state)
{
    (void)state;
    const int64_t s3[1] = { 3 }, s20[2] = { 2, 0 };
    const float v[3] = { 1.0f, -20.0f, 300.0f };
    ag_tensor *x = ag_tensor_new(1, s3, v, true), *e = ag_zeros(2, s20, true);
    ag_tape *t = ag_tape_new();
    char buf[128];
    assert_true(ag_snprint(buf, sizeof buf, ag_long(t, x)) > 0);
    assert_string_equal(buf, "tensor([  1, -20, 300])");
    assert_true(ag_snprint(buf, sizeof buf, ag_bool(t, x)) > 0);
    assert_string_equal(buf, "tensor([True, True, True])");
    assert_true(ag_snprint(buf, sizeof buf, ag_float(t, ag_long(t, x))) > 0);
    assert_string_equal(buf, "tensor([  1., -20., 300.])");
    assert_true(ag_snprint(buf, sizeof buf, ag_long(t, e)) > 0);
    assert_string_equal(buf, "tensor([], size=(2, 0), dtype=torch.int64)");
    assert_int_equal(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_count),
        cmocka_unit_test(test_matches_pytorch),
        cmocka_unit_test(test_snprintf_contract),
        cmocka_unit_test(test_fprint),
        cmocka_unit_test(test_fprint_out_of_memory),
        cmocka_unit_test(test_null_and_bad_arguments),
        cmocka_unit_test(test_tutorial_grads),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_grad_fn_variants),
        cmocka_unit_test(test_typed_results),
    };
    return cmocka_run_group_tests(tests, NULL, ref_teardown);
}
