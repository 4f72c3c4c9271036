/*
 * test_api.c - the public conventions of quiver.h: qv_version() answers the
 * project version CMake builds (QV_TEST_PROJECT_VERSION) and agrees with the
 * QV_VERSION_* macros; qv_options carries its size, so that a runtime
 * reads only the fields an older caller's struct has and refuses a size it
 * does not know.
 */
#include <stdlib.h>

#include "helper.h"
#include "quiver.h"

static void version_is_the_projects(void **state)
{
    (void)state;
    assert_string_equal(qv_version(), QV_TEST_PROJECT_VERSION);
    unsigned major, minor, patch;
    assert_int_equal(sscanf(QV_TEST_PROJECT_VERSION, "%u.%u.%u", &major, &minor, &patch),
                     3);
    assert_int_equal(major, QV_VERSION_MAJOR);
    assert_int_equal(minor, QV_VERSION_MINOR);
    assert_int_equal(patch, QV_VERSION_PATCH);
    assert_int_equal(qv_version_number(), QV_VERSION_NUMBER);
    assert_int_equal(qv_version_number(), major * 10000 + minor * 100 + patch);
}

static qv_options quiet_options(void)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.pin = 0;
    o.opencl = 0;
    o.perfmodel_dir = "";
    return o;
}

static void options_init_sets_size(void **state)
{
    (void)state;
    qv_options o;
    memset(&o, 0xa5, sizeof o);
    qv_options_init(&o);
    assert_int_equal(o.size, sizeof o);
    assert_int_equal(o.ncpu, 0);
    assert_int_equal(o.pin, 1);
    assert_int_equal(o.record, 1);
    assert_true(o.record_window == QV_RECORD_WINDOW_DEFAULT);
    assert_null(o.config);
    assert_null(o.perfmodel_dir);
    qv_options_init(NULL); /* no crash */
}

static void options_unknown_size_refused(void **state)
{
    (void)state;
    qv_runtime *rt = (qv_runtime *)&rt;
    qv_options o = quiet_options();
    o.size = 0; /* a struct not set up by qv_options_init */
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    assert_null(rt);
    assert_non_null(strstr(qv_last_error(), "qv_options.size is 0"));
    assert_non_null(strstr(qv_last_error(), "qv_options_init"));
    o.size = offsetof(qv_options, opencl); /* ends before the first version */
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    o.size = offsetof(qv_options, opencl) + sizeof(int) + 1; /* no version's */
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "the size of no version"));
    o.size = sizeof o - 1;
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    o.size = sizeof o + 8; /* from a newer header */
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    assert_null(rt);
    assert_non_null(strstr(qv_last_error(), "newer quiver.h"));
    assert_non_null(strstr(qv_last_error(), qv_version()));
}

/* A caller whose struct is the first version, exactly as long as its last
 * field: the runtime reads nothing past it (ASan would tell) and takes its
 * fields. */
static void options_first_version_read(void **state)
{
    (void)state;
    const size_t first = offsetof(qv_options, opencl) + sizeof(int);
    qv_options full = quiet_options();
    full.record = 0;
    full.size = first;
    unsigned char *old = malloc(first);
    assert_non_null(old);
    memcpy(old, &full, first);
    qv_runtime *rt = NULL;
    assert_int_equal(qv_runtime_create((const qv_options *)(void *)old, &rt), 0);
    free(old);
    /* record = 0 was read: the runtime keeps no graph. */
    assert_int_equal(qv_graph_write(rt, "g", "/dev/null"), QV_ENOENT);
    qv_runtime_destroy(rt);
}

static void options_null_is_defaults(void **state)
{
    (void)state;
    setenv("XDG_CACHE_HOME", qv_test_scratch(), 1);
    qv_runtime *rt = NULL;
    assert_int_equal(qv_runtime_create(NULL, &rt), 0);
    qv_runtime_destroy(rt);
    qv_test_scratch_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_is_the_projects),
        cmocka_unit_test(options_init_sets_size),
        cmocka_unit_test(options_unknown_size_refused),
        cmocka_unit_test(options_first_version_read),
        cmocka_unit_test(options_null_is_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
