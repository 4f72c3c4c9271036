/*
 * test_default_path.c - which policy a runtime reads when the program names
 * none (host/src/config/default_path.c): the caller's file, $QV_CONFIG ("" =
 * none), the default installed next to the library (found relative to it,
 * so a moved install still finds its own), the build tree's copy, nothing.
 * The last tests create runtimes and look at the devices they open: the
 * build tree's default has the emulated U250, QV_CONFIG="" has no board.
 */
#include <sys/stat.h>

#include "config/default_path.h"
#include "helper.h"
#include "quiver.h"

static void make_file(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("scheduler: heft\n", f);
    fclose(f);
}

/* mkdir -p for a path under the scratch directory. */
static void make_dirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* realpath, so that a scratch directory behind a symbolic link compares. */
static void assert_same_path(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_string_equal(ra, rb);
    free(ra);
    free(rb);
}

static void given_then_environment(void **state)
{
    (void)state;
    setenv("QV_CONFIG", "/nonexistent/q.yaml", 1);
    assert_string_equal(qv__config_path("mine.yaml"), "mine.yaml");
    assert_string_equal(qv__config_path(NULL), "/nonexistent/q.yaml");
    setenv("QV_CONFIG", "", 1);
    assert_null(qv__config_path(NULL));
    assert_string_equal(qv__config_path("mine.yaml"), "mine.yaml");
    /* qv_options.config = "" is no file whatever the environment says. */
    setenv("QV_CONFIG", "/nonexistent/q.yaml", 1);
    assert_null(qv__config_path(""));
    setenv("QV_CONFIG", "", 1);
}

/* A prefix laid out as `cmake --install` lays it out: the library finds
 * <prefix>/<datadir>/quiver/quiver.yaml from <prefix>/<libdir>, and from
 * <prefix>/<bindir> (a program that linked the static library). */
static void installed_tree_relative_to_library(void **state)
{
    (void)state;
    char prefix[512], data[1024], lib[1024], bin[1024], yaml[1200], out[2048];
    snprintf(prefix, sizeof prefix, "%s/prefix", qv_test_scratch());
    snprintf(data, sizeof data, "%s/%s/quiver", prefix, QV_TEST_DATADIR);
    snprintf(lib, sizeof lib, "%s/%s/libquiver.so.0", prefix, QV_TEST_LIBDIR);
    snprintf(bin, sizeof bin, "%s/%s/quiver-signal", prefix, QV_TEST_BINDIR);
    snprintf(yaml, sizeof yaml, "%s/quiver.yaml", data);
    make_dirs(data);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", prefix, QV_TEST_LIBDIR);
    make_dirs(dir);
    snprintf(dir, sizeof dir, "%s/%s", prefix, QV_TEST_BINDIR);
    make_dirs(dir);

    /* Nothing there yet: not found (unless Quiver is installed at the
     * configured datadir of this build, which is then the answer). */
    int rc = qv__config_default_find(lib, out, sizeof out);
    if (rc == 0)
        assert_string_equal(out, QV_TEST_FULL_DATADIR "/quiver/quiver.yaml");
    else
        assert_int_equal(rc, QV_ENOENT);

    make_file(yaml);
    assert_int_equal(qv__config_default_find(lib, out, sizeof out), 0);
    assert_same_path(out, yaml);
    assert_int_equal(qv__config_default_find(bin, out, sizeof out), 0);
    assert_same_path(out, yaml);

    /* Moved: the new place, not the old. */
    char moved[600], moved_lib[1200], moved_yaml[1200];
    snprintf(moved, sizeof moved, "%s/moved", qv_test_scratch());
    assert_int_equal(rename(prefix, moved), 0);
    snprintf(moved_lib, sizeof moved_lib, "%s/%s/libquiver.so.0", moved, QV_TEST_LIBDIR);
    snprintf(moved_yaml, sizeof moved_yaml, "%s/%s/quiver/quiver.yaml", moved,
             QV_TEST_DATADIR);
    assert_int_equal(qv__config_default_find(moved_lib, out, sizeof out), 0);
    assert_same_path(out, moved_yaml);

    /* Relative or missing names find nothing relative to them. */
    rc = qv__config_default_find("libquiver.so", out, sizeof out);
    assert_true(rc == QV_ENOENT ||
                !strcmp(out, QV_TEST_FULL_DATADIR "/quiver/quiver.yaml"));
    rc = qv__config_default_find(NULL, out, sizeof out);
    assert_true(rc == QV_ENOENT ||
                !strcmp(out, QV_TEST_FULL_DATADIR "/quiver/quiver.yaml"));
}

/* A program anywhere in the build tree reads the build tree's copy. */
static void build_tree(void **state)
{
    (void)state;
    char prog[1024], want[1024], out[2048];
    char *tree = realpath(getenv("QV_BINARY_DIR"), NULL);
    assert_non_null(tree);
    snprintf(prog, sizeof prog, "%s/tests/config/test_default_path", tree);
    snprintf(want, sizeof want, "%s/share/quiver/quiver.yaml", tree);
    assert_int_equal(qv__config_default_find(prog, out, sizeof out), 0);
    assert_same_path(out, want);
    /* A name that only starts like the build tree is not in it. */
    snprintf(prog, sizeof prog, "%s-other/bin/prog", tree);
    free(tree);
    int rc = qv__config_default_find(prog, out, sizeof out);
    assert_true(rc == QV_ENOENT || strcmp(out, want) != 0);
}

static unsigned count_class(qv_runtime *rt, qv_class cls, char *name, size_t size)
{
    unsigned n = 0;
    for (unsigned i = 0; i < qv_device_count(rt); i++) {
        qv_device_info d;
        assert_int_equal(qv_device_get(rt, i, &d), 0);
        if (d.cls == cls) {
            n++;
            snprintf(name, size, "%s", d.name);
        }
    }
    return n;
}

/* No options, no QV_CONFIG: the build tree's default policy, so the
 * embedded default platform with its emulated U250 and catalog. Then
 * QV_CONFIG="" (no file: no board) and a QV_CONFIG that names a missing
 * file (an error that names it). Runs last: it fixes the default path. */
static void runtime_reads_the_default(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    qv_runtime *rt;
    char name[128] = "";

    /* What qv_test() gives every test: a runtime without a config reads no
     * file, whatever is installed (tests/CMakeLists.txt). */
    assert_non_null(getenv("QV_CONFIG"));
    assert_string_equal(getenv("QV_CONFIG"), "");

    unsetenv("QV_CONFIG");
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(count_class(rt, QV_CLASS_FPGA, name, sizeof name), 1);
    assert_non_null(strstr(name, "u250"));
    qv_func *f;
    qv_arg_desc d[] = {QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                       QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, "vadd", d, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0); /* the catalog is there */
    qv_runtime_destroy(rt);

    setenv("QV_CONFIG", "", 1);
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(count_class(rt, QV_CLASS_FPGA, name, sizeof name), 0);
    assert_int_equal(qv_func_create(rt, "vadd", d, 4, &f), 0);
    assert_int_not_equal(qv_func_set_fpga(f, "vadd"), 0); /* no catalog */
    qv_runtime_destroy(rt);

    setenv("QV_CONFIG", "/nonexistent/quiver.yaml", 1);
    assert_int_not_equal(qv_runtime_create(&o, &rt), 0);
    assert_null(rt);
    assert_non_null(strstr(qv_last_error(), "/nonexistent/quiver.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(given_then_environment),
        cmocka_unit_test(installed_tree_relative_to_library),
        cmocka_unit_test(build_tree),
        cmocka_unit_test(runtime_reads_the_default),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
