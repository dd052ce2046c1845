/* test_arena.c - the arena's promise (internal.h): every block it hands out
 * is 64-byte aligned, blocks never overlap, and a reset replays the same
 * requests from the same memory. And what relies on it: every tensor a tape
 * records has its header and its data on a 64-byte boundary (a cache line;
 * the vector kernels and the header's hot first line assume it), for odd
 * sizes, views, backward's buffers, after a reset and once the first block
 * has overflowed into others. */
#include "testutil.h"
#include "internal.h"

#define ALIGNED(p) (((uintptr_t)(const void *)(p) & (uintptr_t)63) == 0)

/* ---- agi_arena_alloc directly ---- */

#define N_REQ 400

/* Odd sizes, small to larger than a block (the first block is 64 KiB). */
static size_t request_size(int i)
{
    static const size_t sizes[] = { 1, 3, 17, 63, 64, 65, 100, 127, 129, 1000, 4000, 4097,
                                    8, 24, 40, 200, 333, 70000, 5, 150000 };
    return sizes[i % (int)(sizeof sizes / sizeof sizes[0])];
}

static void test_arena_alloc(void **state)
{
    (void)state;
    tu_alloc counter;
    tu_alloc_use(&counter);
    agi_arena ar;
    agi_arena_init(&ar, agi_current_alloc());
    static unsigned char *p[N_REQ];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N_REQ; i++) {
            unsigned char *q = agi_arena_alloc(&ar, request_size(i));
            assert_non_null(q);
            if (!ALIGNED(q))
                print_error("request %d (%zu bytes): %p is not 64-byte aligned\n", i,
                            request_size(i), (void *)q);
            assert_true(ALIGNED(q));
            if (round == 0)
                p[i] = q;
            else       /* after the reset: the same memory, no new block */
                assert_ptr_equal(q, p[i]);
            memset(q, i & 0xff, request_size(i));
        }
        /* no two requests share a byte: each still holds its own pattern */
        for (int i = 0; i < N_REQ; i++)
            for (size_t b = 0; b < request_size(i); b++)
                if (p[i][b] != (unsigned char)(i & 0xff)) {
                    print_error("request %d byte %zu was overwritten\n", i, b);
                    fail();
                }
        const uint64_t allocs = counter.allocs;
        assert_true(allocs > 3);        /* several blocks, one per large request at least */
        agi_arena_reset(&ar);
        if (round == 1)
            assert_int_equal(counter.allocs, allocs);
    }
    /* a zero-byte request is still an aligned, distinct block */
    void *z1 = agi_arena_alloc(&ar, 0), *z2 = agi_arena_alloc(&ar, 0);
    assert_non_null(z1);
    assert_non_null(z2);
    assert_true(ALIGNED(z1) && ALIGNED(z2));
    assert_ptr_not_equal(z1, z2);
    /* impossible sizes fail cleanly */
    assert_null(agi_arena_alloc(&ar, SIZE_MAX));
    assert_null(agi_arena_alloc(&ar, SIZE_MAX - 32));
    agi_arena_free(&ar);
    tu_alloc_restore();
    assert_int_equal(counter.outstanding, 0);
    assert_int_equal(counter.bad_frees, 0);
}

/* ---- recorded tensors ---- */

static long n_headers, n_data;

static void expect_aligned(const void *p, const char *what, const ag_tensor *x)
{
    if (!ALIGNED(p))
        print_error("%s of a \"%s\" result: %p is not 64-byte aligned\n", what,
                    x->op >= 0 ? agi_ops[x->op].name : "leaf", p);
    assert_true(ALIGNED(p));
}

/* A tape-owned tensor: its header, and its data unless it shares the data
 * of its first input (a view), which is then checked as that input. */
static void check_tensor(const ag_tensor *x)
{
    expect_aligned(x, "header", x);
    n_headers++;
    if (x->op >= 0 && x->nin >= 1 && x->data == x->in[0]->data)
        return;
    expect_aligned(x->data, "data", x);
    n_data++;
}

/* Every tensor recorded on t, what each keeps on the arena, and (after a
 * backward) the gradient buffers and grads on the tape. */
static void check_tape(const ag_tape *t)
{
    int seen = 0;
    for (const ag_tensor *x = t->last; x; x = x->prev, seen++) {
        check_tensor(x);
        if (x->nin > AGI_INLINE_INPUTS)
            expect_aligned(x->in, "input list", x);
        if (x->save)
            expect_aligned(x->save, "saved data", x);
        if (x->aux)
            expect_aligned(x->aux, "aux data", x);
        if (x->dinv)
            expect_aligned(x->dinv, "input gradient list", x);
        if (x->mark == t->epoch && x->gbuf)
            expect_aligned(x->gbuf, "gradient buffer", x);
        if (x->grad && x->grad->tape == t)
            check_tensor(x->grad);
    }
    assert_true(seen > 0);
}

/* A leaf (on the heap) of n elements, 0.1 * (i % 7) - 0.3. */
static ag_tensor *leaf(int ndim, const int64_t *shape)
{
    ag_tensor *x = ag_tensor_new(ndim, shape, NULL, true);
    assert_non_null(x);
    for (int64_t i = 0; i < ag_numel(x); i++)
        ag_data(x)[i] = 0.1f * (float)(i % 7) - 0.3f;
    return x;
}

/* Records ops of every kind on x (n elements, shape (n)) and its detached
 * copy, backward included; views of tape results are checked to share
 * aligned data. */
static void record_all(ag_tape *t, ag_tensor *x, int64_t n)
{
    ag_tensor *d = ag_detach(t, x);
    assert_non_null(d);
    expect_aligned(d, "header", d);
    assert_int_equal(ag_set_requires_grad(d, true), AG_OK);
    ag_tensor *a = ag_exp(t, ag_mul(t, x, d));
    ag_tensor *b = ag_add_scalar(t, ag_sin(t, a), 0.5f);
    ag_tensor *c = ag_relu(t, ag_sub(t, b, x));
    ag_retain_grad(c);
    const int64_t shape2[2] = { 1, n };
    ag_tensor *v = ag_reshape(t, c, 2, shape2);              /* a view of c */
    assert_non_null(v);
    assert_ptr_equal(ag_data(v), ag_data(c));
    assert_true(ALIGNED(ag_data(v)));
    ag_tensor *u = ag_unsqueeze(t, ag_squeeze(t, v, 0), 1);  /* (n, 1), views */
    assert_true(ALIGNED(ag_data(u)));
    ag_tensor *tr = ag_transpose(t, u, 0, 1);                /* (1, n), copied */
    ag_tensor *parts[3] = { tr, v, tr };
    ag_tensor *cat = ag_cat(t, 3, parts, 0);                 /* 3 inputs: arena list */
    const int64_t idx[2] = { 0, n - 1 };
    ag_tensor *sel = ag_index_select(t, cat, 1, 2, idx);     /* aux on the arena */
    ag_tensor *mm = ag_matmul(t, u, tr);                     /* (n, n) */
    ag_tensor *sm = ag_softmax(t, mm, 1);
    ag_tensor *nar = ag_narrow(t, sm, 1, n / 2, n - n / 2);
    const int64_t target[1] = { 0 };
    ag_tensor *ce = ag_cross_entropy(t, v, target, NULL);
    ag_tensor *loss = ag_add(t, ag_add(t, ag_sum(t, nar, 0, NULL, false),
                                       ag_mean(t, sel, 0, NULL, false)),
                             ag_add(t, ce, ag_mse_loss(t, a, b, AG_REDUCTION_MEAN)));
    assert_int_equal(ag_tape_status(t), AG_OK);
    check_tape(t);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    check_tape(t);
    assert_non_null(ag_grad(c));
    check_tensor(ag_grad(c));                                /* retained: on the tape */
    assert_non_null(ag_grad(d));
    check_tensor(ag_grad(d));                                /* a tape leaf's grad */
}

static void test_recorded_alignment(void **state)
{
    (void)state;
    /* the fields the backward walk reads fit the header's first cache line */
    assert_true(offsetof(ag_tensor, gbuf) + sizeof(float *) <= 64);
    static const int64_t sizes[] = { 1, 3, 17, 5, 64, 1000, 2 };
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    n_headers = n_data = 0;
    for (int step = 0; step < 3; step++) {         /* the same steps again after resets */
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            ag_tensor *x = leaf(1, &sizes[s]);
            record_all(t, x, sizes[s]);
            ag_tape_reset(t);
            ag_tensor_free(x);
        }
    }
    assert_true(n_headers > 300 && n_data > 200);

    /* enough at once to fill many blocks: 1000-element results, a tensor
     * larger than a block (its own block) and small ones after it */
    const int64_t n = 1000, big = 40000, odd = 3;
    ag_tensor *x = leaf(1, &n), *y = leaf(1, &big), *z = leaf(1, &odd);
    ag_tensor *acc = x;
    for (int i = 0; i < 100; i++) {
        acc = ag_mul_scalar(t, ag_add(t, acc, x), 0.5f);
        if (i % 10 == 0) {
            assert_non_null(ag_exp(t, y));
            assert_non_null(ag_sin(t, z));
        }
    }
    ag_tensor *loss = ag_sum(t, acc, 0, NULL, false);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    assert_true(t->arena.first && t->arena.cur && t->arena.first != t->arena.cur);
    check_tape(t);
    ag_tape_reset(t);
    ag_tensor *w = ag_neg(t, z);                   /* back in the first block */
    assert_non_null(w);
    check_tensor(w);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(z);
    ag_tape_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc),
        cmocka_unit_test(test_recorded_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
