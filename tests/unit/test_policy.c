/*
 * test_policy.c - qv_options.config: the runtime reads its policy file, a
 * wrong one stops creation with the file, line and column, and what it
 * sets (devices, model directory, trace at exit) takes effect.
 */
#include "helper.h"
#include "quiver.h"

static void bad_policy_is_refused(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/config/bad/policy-devices.yaml",
             getenv("QV_SOURCE_DIR"));
    qv_options o;
    qv_options_init(&o);
    o.config = path;
    o.perfmodel_dir = "";
    qv_runtime *rt = (qv_runtime *)1;
    int rc = qv_runtime_create(&o, &rt);
    assert_true(rc < 0);
    assert_null(rt);
    assert_non_null(strstr(qv_last_error(), "policy-devices.yaml:2:10: error: devices:"));
    o.config = "/nonexistent/quiver.yaml";
    assert_true(qv_runtime_create(&o, &rt) < 0);
    assert_non_null(strstr(qv_last_error(), "/nonexistent/quiver.yaml"));
}

static void cpu_nop(const qv_call *c)
{
    (void)c;
}

static void policy_takes_effect(void **state)
{
    (void)state;
    char path[512], trace[512], models[512];
    snprintf(path, sizeof path, "%s/quiver.yaml", qv_test_scratch());
    snprintf(trace, sizeof trace, "%s/exit.trace.json", qv_test_scratch());
    snprintf(models, sizeof models, "%s/models", qv_test_scratch());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* Relative paths resolve against the policy file. */
    fprintf(f, "devices: [cpu]\nperfmodel: {dir: models}\ntrace: {path: exit.trace.json}\n");
    fclose(f);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.config = path;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(qv_device_count(rt), 1); /* no gpu class: no OpenCL */
    assert_non_null(strstr(qv_perfmodel_path(rt), models));
    qv_func *nop;
    assert_int_equal(qv_func_create(rt, "nop", NULL, 0, &nop), 0);
    qv_func_set_cpu(nop, cpu_nop);
    assert_int_equal(qv_submit(rt, nop, NULL, 0), 0);
    qv_runtime_destroy(rt);
    char *s = qv_test_slurp(trace, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"traceEvents\""));
    free(s);
}

int main(void)
{
    if (!getenv("QV_SOURCE_DIR"))
        return QV_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_policy_is_refused),
        cmocka_unit_test(policy_takes_effect),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
