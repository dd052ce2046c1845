/* test_version.c - the version macros agree with each other, with ag_version()
 * (the compiled library) and with the version CMake read for the build and the
 * installed package (AG_TEST_PROJECT_VERSION, from tests/CMakeLists.txt). */
#include "testutil.h"

static void test_library_matches_header(void **state)
{
    (void)state;
    const char *v = ag_version();
    assert_non_null(v);
    assert_string_equal(v, AG_VERSION_STRING);
    assert_ptr_equal(ag_version(), v);             /* a constant string */
}

static void test_macros_agree(void **state)
{
    (void)state;
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", AG_VERSION_MAJOR, AG_VERSION_MINOR, AG_VERSION_PATCH);
    assert_string_equal(buf, AG_VERSION_STRING);
    /* MINOR and PATCH below 100, so AG_VERSION orders versions correctly */
    assert_in_range(AG_VERSION_MINOR, 0, 99);
    assert_in_range(AG_VERSION_PATCH, 0, 99);
    assert_int_equal(AG_VERSION, AG_VERSION_MAJOR * 10000 + AG_VERSION_MINOR * 100 + AG_VERSION_PATCH);
#if AG_VERSION < 200
    fail_msg("AG_VERSION %d is not usable in #if, or older than 0.2.0", AG_VERSION);
#endif
}

static void test_cmake_project_version(void **state)
{
    (void)state;
    assert_string_equal(AG_TEST_PROJECT_VERSION, AG_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_matches_header),
        cmocka_unit_test(test_macros_agree),
        cmocka_unit_test(test_cmake_project_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
