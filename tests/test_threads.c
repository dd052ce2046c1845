/* test_threads.c - the worker pool: matmul's forward and backward give
 * bit-identical results for 1, 2 and 3 threads over sizes on both sides of
 * the parallel threshold and every transposition the backward uses; tapes on
 * two threads use the pool at once; the thread count's argument checks. */
#include "testutil.h"

#include <threads.h>

typedef struct result {
    float *y, *da, *db;
    int64_t ny, na, nb;
} result;

static void fill(ag_tensor *x, uint64_t seed)
{
    for (int64_t i = 0; i < ag_numel(x); i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ag_data(x)[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5);
    }
}

static float *copy(const ag_tensor *x)
{
    float *p = malloc((size_t)(ag_numel(x) + 1) * sizeof(float));
    assert_non_null(p);
    memcpy(p, ag_data((ag_tensor *)x), (size_t)ag_numel(x) * sizeof(float));
    return p;
}

/* y = a @ b and both gradients for a seed of ones-ish values. */
static result run(int nda, const int64_t *sa, int ndb, const int64_t *sb)
{
    ag_tensor *a = ag_tensor_new(nda, sa, NULL, true), *b = ag_tensor_new(ndb, sb, NULL, true);
    fill(a, 1);
    fill(b, 2);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_matmul(t, a, b);
    assert_non_null(y);
    ag_tensor *seed = ag_tensor_new(ag_ndim(y), ag_shape(y), NULL, false);
    fill(seed, 3);
    assert_int_equal(ag_backward_seed(t, y, seed), AG_OK);
    result r = { copy(y), copy(ag_grad(a)), copy(ag_grad(b)), ag_numel(y), ag_numel(a), ag_numel(b) };
    ag_tensor_free(seed);
    ag_tape_free(t);
    ag_tensor_free(a);
    ag_tensor_free(b);
    return r;
}

static void result_free(result *r)
{
    free(r->y);
    free(r->da);
    free(r->db);
}

static void expect_same(const result *x, const result *y)
{
    assert_int_equal(x->ny, y->ny);
    assert_memory_equal(x->y, y->y, (size_t)x->ny * sizeof(float));
    assert_memory_equal(x->da, y->da, (size_t)x->na * sizeof(float));
    assert_memory_equal(x->db, y->db, (size_t)x->nb * sizeof(float));
}

static const struct {
    int nda, ndb;
    int64_t sa[3], sb[3];
} CASES[] = {
    { 2, 2, { 8, 8 }, { 8, 8 } },                 /* below the threshold */
    { 2, 2, { 128, 784 }, { 784, 256 } },         /* an MLP layer */
    { 2, 2, { 300, 257 }, { 257, 131 } },         /* odd sizes: partial tiles */
    { 2, 2, { 7, 1000 }, { 1000, 1400 } },        /* few rows, many columns */
    { 2, 2, { 2000, 300 }, { 300, 20 } },         /* many rows, few columns */
    { 3, 3, { 3, 100, 90 }, { 3, 90, 110 } },     /* batched */
    { 3, 2, { 4, 64, 300 }, { 300, 200 } },       /* batches merged into rows */
};

static void test_bit_identical(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        assert_int_equal(ag_set_num_threads(1), AG_OK);
        result one = run(CASES[c].nda, CASES[c].sa, CASES[c].ndb, CASES[c].sb);
        for (int n = 2; n <= 3; n++) {
            assert_int_equal(ag_set_num_threads(n), AG_OK);
            assert_int_equal(ag_num_threads(), n);
            result many = run(CASES[c].nda, CASES[c].sa, CASES[c].ndb, CASES[c].sb);
            expect_same(&one, &many);
            result_free(&many);
        }
        result_free(&one);
    }
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    assert_int_equal(ag_num_threads(), 1);
}

static result thread_results[2];

static int tape_thread(void *arg)
{
    const int i = *(int *)arg;
    thread_results[i] = run(2, CASES[1].sa, 2, CASES[1].sb);
    return 0;
}

/* Two tapes on two threads share the pool (one of them may find it busy and
 * run alone): both get the serial results. */
static void test_two_tapes(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(1), AG_OK);
    result one = run(2, CASES[1].sa, 2, CASES[1].sb);
    assert_int_equal(ag_set_num_threads(2), AG_OK);
    for (int round = 0; round < 3; round++) {
        thrd_t th[2];
        int ids[2] = { 0, 1 };
        for (int i = 0; i < 2; i++)
            assert_int_equal(thrd_create(&th[i], tape_thread, &ids[i]), thrd_success);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(thrd_join(th[i], NULL), thrd_success);
            expect_same(&one, &thread_results[i]);
            result_free(&thread_results[i]);
        }
    }
    result_free(&one);
    assert_int_equal(ag_set_num_threads(1), AG_OK);
}

static void test_bad_counts(void **state)
{
    (void)state;
    assert_int_equal(ag_set_num_threads(0), AG_ERR_ARG);
    assert_contains(ag_last_error(), "ag_set_num_threads: 0 threads");
    assert_int_equal(ag_set_num_threads(-3), AG_ERR_ARG);
    assert_int_equal(ag_set_num_threads(65), AG_ERR_ARG);
    assert_int_equal(ag_num_threads(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_bit_identical),
        cmocka_unit_test(test_two_tapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
