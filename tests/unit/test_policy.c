/*
 * test_policy.c - qv_options.config: the runtime reads its policy file, a
 * wrong one stops creation with the file, line and column, and what it
 * sets (devices, model directory, trace at exit) takes effect. Every key
 * does something (config/policy.c) and loads without a warning: the
 * run-time loop's keys (hot_threshold, implicit_regions, replan.*) are
 * read by core/region.c and core/loop.c; the set of top-level keys is
 * pinned, so that a new key comes with its reader. (discovery.rescan_interval_ms
 * driving the rescans: tests/devices/test_devices.c.)
 */
#include "helper.h"

#include "config/policy.h"
#include "core/internal.h"
#include "quiver.h"
#include "quiver/config.h"

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

static const char *write_policy(const char *name, const char *text)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", qv_test_scratch(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void loop_keys_load(void **state)
{
    (void)state;
    qv__policy p;
    const char *path = write_policy("loop.yaml", "hot_threshold: 5\n"
                                                 "replan:\n"
                                                 "  drift: 0.1\n"
                                                 "  min_interval_ms: 250\n"
                                                 "  eager_slack: 1.2\n"
                                                 "  eager_retry_ms: 0\n");
    assert_int_equal(qv__policy_load(path, &p, NULL), 0);
    assert_int_equal(p.hot_threshold, 5);
    assert_true(p.replan_drift == 0.1);
    assert_int_equal(p.replan_min_interval_ms, 250);
    assert_true(p.replan_eager_slack == 1.2);
    assert_int_equal(p.replan_eager_retry_ms, 0);
    qv__policy_fini(&p);
    assert_true(p.replan_eager_slack == 1.05); /* the default */
    assert_int_equal(p.replan_eager_retry_ms, 10000);
    path = write_policy("never.yaml", "replan: {eager_slack: 0}\n");
    assert_int_equal(qv__policy_load(path, &p, NULL), 0);
    assert_true(p.replan_eager_slack == 0);
    qv__policy_fini(&p);

    path = write_policy("active.yaml", "scheduler: eager\nmax_inflight: 100\n"
                                       "hot_threshold: 2\nimplicit_regions: false\n");
    assert_int_equal(qv__policy_load(path, &p, NULL), 0);
    assert_int_equal(p.hot_threshold, 2);
    assert_int_equal(p.implicit_regions, 0);
    qv__policy_fini(&p);
    assert_int_equal(p.implicit_regions, 1); /* the default */
    qv_diag d;
    path = write_policy("bad-implicit.yaml", "implicit_regions: 3\n");
    assert_int_equal(qv__policy_load(path, &p, &d), QV_EFORMAT);
    assert_non_null(strstr(d.message, "implicit_regions"));
}

/* objective: time, cost or a weight; deadline_ms: a time; neither warns
 * (the region compiler plans with them). */
static void objective_keys(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double w, deadline;
    } good[] = {
        {"objective: time\n", 0, 0},
        {"objective: cost\ndeadline_ms: 2.5\n", 1, 2.5},
        {"objective: 0.3\n", 0.3, 0},
        {"objective: 1\ndeadline_ms: 0\n", 1, 0},
        {"objective: \"cost\"\n", 1, 0},
        {"deadline_ms: 86400000\n", 0, 86400000},
    };
    qv__policy p;
    qv_diag d;
    for (size_t k = 0; k < sizeof good / sizeof *good; k++) {
        const char *path = write_policy("objective.yaml", good[k].text);
        assert_int_equal(qv__policy_load(path, &p, &d), 0);
        assert_true(p.objective == good[k].w);
        assert_true(p.deadline_ms == good[k].deadline);
        qv__policy_fini(&p);
        assert_true(p.objective == 0 && p.deadline_ms == 0);
    }
    static const struct {
        const char *text, *message;
    } bad[] = {
        {"objective: -0.5\n", "1:12: error: objective: -0.5 is out of range; expected time, "
                              "cost, or a weight from 0 (time) to 1 (cost)"},
        {"objective: \"0.5\"\n", "1:12: error: objective: unknown value '0.5'; expected"},
        {"objective: money\n", "1:12: error: objective: unknown value 'money'; expected"},
        {"objective: cots\n", "did you mean 'cost'?"},
        {"objective: {w: 1}\n", "1:12: error: objective: expected time, cost, or a weight "
                                "from 0 (time) to 1 (cost), got a mapping"},
        {"deadline_ms: 1e9\n", "1:14: error: deadline_ms: 1e9 is out of range"},
        {"deadline_ms: soon\n", "1:14: error: deadline_ms: expected a number, got 'soon'"},
        {"deadline_ms: .nan\n", "1:14: error: deadline_ms: expected a number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const char *path = write_policy("objective-bad.yaml", bad[k].text);
        assert_int_equal(qv__policy_load(path, &p, &d), QV_EFORMAT);
        char msg[2048];
        qv_diag_format(&d, msg, sizeof msg);
        if (!strstr(msg, bad[k].message))
            fail_msg("%s: got '%s', expected '%s'", bad[k].text, msg, bad[k].message);
        assert_true(p.objective == 0); /* the defaults */
    }
}

/* A runtime on a policy that sets every key away from its default: the
 * log goes to log.file (which works) with no warning about any key, the
 * limits and device choices are the policy's. */
static void keys_reach_the_runtime(void **state)
{
    (void)state;
    const char *dir = qv_test_scratch();
    char text[4096], log[1024], models[1024];
    snprintf(log, sizeof log, "%s/quiver.log", dir);
    snprintf(models, sizeof models, "%s/models", dir);
    snprintf(
        text, sizeof text,
        "scheduler: eager\n"
        "hot_threshold: 7\n"
        "devices: [cpu, fpga]\n"
        "replan: {drift: 0.5, min_interval_ms: 10}\n"
        "discovery: {rescan_interval_ms: 0, hwloc: true, opencl: false, xrt: false}\n"
        "log: {level: warn, file: %s}\n"
        "perfmodel: {dir: %s, min_samples: 2, refresh_ms: 250}\n"
        "max_inflight: 32\n",
        log, models);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.config = write_policy("every.yaml", text);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(rt->max_inflight, 32);
    assert_int_equal(rt->policy->scheduler, QV__SCHED_EAGER);
    assert_int_equal(rt->policy->perfmodel_min_samples, 2);
    assert_int_equal(rt->policy->perfmodel_refresh_ms, 250);
    /* devices leaves out gpu and discovery.opencl is off: no OpenCL
     * device, and the pool never listed OpenCL. */
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        assert_int_equal(qv_device_get(rt, d, &di), 0);
        assert_int_not_equal(di.cls, QV_CLASS_GPU);
    }
    qv_backend_report rep;
    for (size_t i = 0; qv_pool_backend(rt->pool, i, &rep) == 0; i++)
        assert_string_not_equal(rep.name, "opencl");
    qv_runtime_destroy(rt);

    char *s = qv_test_slurp(log, NULL);
    assert_non_null(s);
    assert_null(strstr(s, "no effect yet")); /* every key is read */
    free(s);
}

/* The policy's top-level keys, each with what reads it. A key added to the
 * loader without a reader fails here first. */
static void every_top_key_is_known(void **state)
{
    (void)state;
    static const char *const read[] = {
        "scheduler",        /* placement.c: eager or heft */
        "hot_threshold",    /* region.c: entries before a region compiles */
        "devices",          /* devq.c, runtime.c: classes opened */
        "replan",           /* loop.c: drift and interval of re-plans */
        "discovery",        /* devq.c: the pool's backends, boards, rescans */
        "log",              /* runtime.c: level and file */
        "perfmodel",        /* runtime.c (dir), placement.c (min_samples, refresh_ms) */
        "trace",            /* runtime.c: the trace written at destroy */
        "catalog",          /* runtime.c: the FPGA kernels */
        "max_inflight",     /* sched.c: backpressure */
        "implicit_regions", /* region.c: regions between qv_wait_all */
        "objective",        /* loop.c: the plan's qv_plan_opts.cost_weight */
        "deadline_ms",      /* loop.c: the plan's qv_plan_opts.deadline_us */
        "remote",           /* devices/remote.c: heartbeat and timeout */
        NULL,
    };
    size_t n = 0;
    for (; qv__policy_top_keys[n]; n++) {
        size_t j = 0;
        while (read[j] && strcmp(read[j], qv__policy_top_keys[n]))
            j++;
        if (!read[j])
            fail_msg("policy key '%s' has no reader listed here", qv__policy_top_keys[n]);
    }
    assert_int_equal(n, sizeof read / sizeof read[0] - 1);
}

/* QV_LOG's values: the level names, or 0 to 4; anything else is no level
 * (then a warning and warn), 5 and 99999999999 included (they were taken
 * as 4). */
static void log_levels_of_the_environment(void **state)
{
    (void)state;
    assert_int_equal(qv__log_level_parse("debug"), 3);
    assert_int_equal(qv__log_level_parse("warning"), 1);
    assert_int_equal(qv__log_level_parse("0"), 0);
    assert_int_equal(qv__log_level_parse("4"), 4);
    assert_int_equal(qv__log_level_parse("5"), -1);
    assert_int_equal(qv__log_level_parse("99999999999"), -1);
    assert_int_equal(qv__log_level_parse("-1"), -1);
    assert_int_equal(qv__log_level_parse("3x"), -1);
}

int main(void)
{
    if (!getenv("QV_SOURCE_DIR"))
        return QV_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_policy_is_refused),
        cmocka_unit_test(policy_takes_effect),
        cmocka_unit_test(loop_keys_load),
        cmocka_unit_test(keys_reach_the_runtime),
        cmocka_unit_test(objective_keys),
        cmocka_unit_test(every_top_key_is_known),
        cmocka_unit_test(log_levels_of_the_environment),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
