/*
 * test_log.c - logging is real: QV_LOG takes the policy's level names and
 * wins over the policy's log.level; log.file receives the log; info and
 * debug say where each function went and why, and which devices opened;
 * a name with control characters cannot forge a line or reach the terminal
 * raw; a QV_LOG that names no level is said. (One process: the level is read from the environment once.)
 */
#include <sys/stat.h>

#include "helper.h"
#include "quiver.h"

static void cpu_nop(const qv_call *c)
{
    (void)c;
}

static void cpu_inc(const qv_call *c)
{
    *(double *)c->ptr[0] += 1;
}

static void log_file_and_levels(void **state)
{
    (void)state;
    setenv("QV_LOG", "debug", 1);
    char pol[512], log[512];
    snprintf(pol, sizeof pol, "%s/log.yaml", qv_test_scratch());
    snprintf(log, sizeof log, "%s/quiver.log", qv_test_scratch());
    FILE *f = fopen(pol, "w");
    assert_non_null(f);
    /* The policy says error; the environment's debug wins. */
    fprintf(f, "log: {level: error, file: %s}\ndevices: [cpu]\n", log);
    fclose(f);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.config = pol;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *fn;
    assert_int_equal(qv_func_create(rt, "noop", NULL, 0, &fn), 0);
    qv_func_set_cpu(fn, cpu_nop);
    for (int i = 0; i < 3; i++)
        assert_int_equal(qv_submit(rt, fn, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    qv_runtime_destroy(rt);
    char *text = qv_test_slurp(log, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "quiver: info: runtime policy"));
    assert_non_null(strstr(text, "log level debug (QV_LOG)")); /* the level in force */
    assert_non_null(strstr(text, "'noop' -> the CPU: no other device can run it"));
    free(text);

    /* A log file that cannot be opened (a FIFO without a reader) fails the
     * runtime's creation at once instead of hanging it. */
    snprintf(log, sizeof log, "%s/fifo", qv_test_scratch());
    assert_int_equal(mkfifo(log, 0600), 0);
    f = fopen(pol, "w");
    fprintf(f, "log: {file: %s}\n", log);
    fclose(f);
    assert_true(qv_runtime_create(&o, &rt) < 0);
    assert_non_null(strstr(qv_last_error(), "log.file"));

    /* A region's name, which the log repeats, with a newline and an escape
     * sequence: the log keeps one line per message and no raw ESC. */
    snprintf(log, sizeof log, "%s/names.log", qv_test_scratch());
    f = fopen(pol, "w");
    fprintf(f, "log: {file: %s}\ndevices: [cpu]\nhot_threshold: 2\n", log);
    fclose(f);
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_arg_desc inc_args[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", inc_args, 1, &fn), 0);
    qv_func_set_cpu(fn, cpu_inc);
    double x = 0;
    qv_buf *xb;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &xb), 0);
    qv_arg xa[] = { QV_BUF(xb) };
    const char *evil = "step\nquiver: error: forged\x1b[2J";
    for (int e = 0; e < 40; e++) {
        assert_int_equal(qv_region_begin(rt, evil), 0);
        for (int i = 0; i < 4; i++)
            assert_int_equal(qv_submit(rt, fn, xa, 1), 0);
        assert_int_equal(qv_region_end(rt), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        usleep(2000); /* the run-time loop's thread compiles meanwhile */
    }
    assert_int_equal(qv_buf_unregister(xb), 0);
    assert_true(x == 160);
    qv_runtime_destroy(rt);
    text = qv_test_slurp(log, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "step\\nquiver: error: forged\\x1B[2J"));
    assert_null(strstr(text, "\nquiver: error: forged"));
    assert_null(strchr(text, 0x1b));
    free(text);

    /* QV_LOG that names no level: the policy's level holds, and the log
     * says so (it was dropped without a word), even where that level is
     * errors only. */
    setenv("QV_LOG", "verbose", 1);
    snprintf(log, sizeof log, "%s/bad-env.log", qv_test_scratch());
    f = fopen(pol, "w");
    fprintf(f, "log: {level: error, file: %s}\ndevices: [cpu]\n", log);
    fclose(f);
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_runtime_destroy(rt);
    text = qv_test_slurp(log, NULL);
    assert_non_null(text);
    if (!strstr(text, "warning: QV_LOG=verbose is not a level") ||
        !strstr(text, "the policy's error holds"))
        fail_msg("no word of the bad QV_LOG: %s", text);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_file_and_levels),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
