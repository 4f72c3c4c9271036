/*
 * test_hang.c - board kernels past their deadline (tests/devices/kernels/
 * spin.c, built for the emulated U250 with quiver_add_emu_kernel). The
 * emulator runs a kernel on the board's driver thread, and a watchdog
 * hands a run past its deadline (the least, 30 s, shortened to 2 s here)
 * over to the runtime:
 * the board is taken out of service and the call, and those queued behind
 * it, run on the CPU. One that never ends: the buffer it updates in place,
 * whose only copy was on the board, keeps the host's older data (the call
 * is not run again and says so); unregistering buffers and destroying the
 * runtime return although it still goes on (they waited for it forever:
 * adversarial testing). One that ends after all: the
 * board gets a probe and is back in service. A copy ahead to the board
 * during a hand-over is dropped. Each test takes a few seconds; ctest runs
 * them as three tests, side by side.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "devices/device.h"
#include "helper.h"
#include "quiver.h"
#include "spin.h"

static void cpu_spin(const qv_call *c)
{
    float *y = c->ptr[0];
    for (uint32_t i = 0; i < *(const uint32_t *)c->ptr[1]; i++)
        y[i] = 42.0f + (float)i;
}

/* One CPU worker and the emulated board of policy config, no models. */
static qv_runtime *board_runtime(const char *config)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    o.config = config;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    return rt;
}

static qv_runtime *spin_runtime(qv_func **f)
{
    qv_runtime *rt = board_runtime(QV_SPIN_POLICY);
    qv_arg_desc d[] = { QV_ARG_BUF("y", QV_RW), QV_ARG_SCALAR("n", uint32_t) };
    assert_int_equal(qv_func_create(rt, "spin", d, 2, f), 0);
    assert_int_equal(qv_func_set_cpu(*f, cpu_spin), 0);
    assert_int_equal(qv_func_set_fpga(*f, "spin"), 0);
    assert_int_equal(qv_func_set_where(*f, 1u << QV_CLASS_FPGA), 0);
    return rt;
}

static void check_y(const float *y, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        assert_true(y[i] == 42.0f + (float)i);
}

static void a_run_that_never_ends(void **state)
{
    (void)state;
    qv_func *f;
    qv_runtime *rt = spin_runtime(&f);
    static float y[64], y3[64];
    uint32_t n = 7, n2 = 8;
    qv_buf *by, *by3;
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, y3, sizeof y3, &by3), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_VAL(n2) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* y's only copy on the board */
    /* The run that hangs updates y in place there. */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_VAL(n) }, 2), 0);
    /* Queued behind it, on its board. */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by3), QV_VAL(n2) }, 2), 0);
    /* Timed out there; y's copy there may be half-written: the call is
     * not run again, and says so. */
    assert_int_equal(qv_wait_all(rt), QV_EIO);
    qv_device_info di, cpu;
    assert_int_equal(qv_device_get(rt, 1, &di), 0);
    assert_int_equal(qv_device_get(rt, 0, &cpu), 0);
    assert_false(di.healthy);
    assert_int_equal(di.tasks, 1); /* y's first */
    assert_int_equal(di.failed, 1);
    assert_int_equal(cpu.tasks, 1); /* y3's, run on the CPU */
    /* y: the error at every read until it is written; taken as it is
     * (QV_RW), the host's older data, never the board's copy (it was,
     * after the error: adversarial testing), which the run still going on
     * may write. */
    assert_int_equal(qv_buf_acquire(by, QV_R), QV_EIO);
    assert_int_equal(qv_buf_wait(by), QV_EIO);
    assert_int_equal(qv_buf_acquire(by, QV_RW), 0);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == 0.0f);
    assert_int_equal(qv_buf_release(by), 0);
    assert_int_equal(qv_buf_unregister(by), 0);
    assert_int_equal(qv_buf_unregister(by3), 0);
    check_y(y3, 8);
    qv_runtime_destroy(rt); /* returns: the hung run is left behind */
}

/* A run past its deadline that ends after all: its driver thread comes
 * back to the board, which gets a probe and is back in service. Beside
 * it, the same on a second runtime shut down before the run ends: its
 * destroy, after the end, frees the device the shutdown had to leave to
 * the driver thread (LeakSanitizer, in the sanitizer build, saw them
 * lost: adversarial testing). */
static void a_run_that_ends_late(void **state)
{
    (void)state;
    qv_func *f, *f2;
    qv_runtime *rt = spin_runtime(&f), *rt2 = spin_runtime(&f2);
    static float y[64], y2[64], z[64];
    uint32_t n = 9, n2 = 8;
    qv_buf *by, *by2, *bz;
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, y2, sizeof y2, &by2), 0);
    assert_int_equal(qv_buf_register(rt2, z, sizeof z, &bz), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_VAL(n) }, 2), 0);
    assert_int_equal(qv_submit(rt2, f2, (qv_arg[]){ QV_BUF(bz), QV_VAL(n) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* timed out there, done on the CPU */
    assert_int_equal(qv_wait_all(rt2), 0);
    assert_int_equal(qv_runtime_shutdown(rt2), 0); /* its run still goes on */
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, 1, &di), 0);
    assert_false(di.healthy);
    assert_int_equal(qv_buf_acquire(by, QV_R), 0);
    check_y(y, 9);
    assert_int_equal(qv_buf_release(by), 0);
    /* Its end, 5 s after its start: then a call is the board's probe. */
    for (int i = 0; i < 1000 && !di.healthy; i++) {
        usleep(10000);
        memset(y2, 0, sizeof y2);
        assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by2), QV_VAL(n2) }, 2), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        assert_int_equal(qv_device_get(rt, 1, &di), 0);
    }
    assert_true(di.healthy);
    assert_int_equal(di.tasks, 1); /* the probe */
    assert_int_equal(qv_buf_unregister(by2), 0);
    check_y(y2, 8);
    assert_int_equal(qv_buf_unregister(by), 0);
    qv_runtime_destroy(rt);
    sleep(1); /* rt2's run, started with rt's, ended too */
    check_y(z, 9);
    qv_runtime_destroy(rt2);
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Slow: B, planned on the board, waits for A run here, and meanwhile
 * its input x1 is copied ahead to the board. */
static void cpu_spin2(const qv_call *c)
{
    float *y = c->ptr[0];
    const float *x = c->ptr[1];
    for (uint32_t i = 0; i < *(const uint32_t *)c->ptr[2]; i++)
        y[i] += x[i] + 1.0f;
    usleep(20000);
}

enum { N2 = 1024 };
static float y0_[N2], x0_[N2], x1_[N2];

/* An entry: A on y and x0 (hangs for n == 7), then B on y and x1, on the
 * board as the plan has it: B waits for A, x1 is copied ahead while A
 * runs. */
static void two_stages(qv_runtime *rt, qv_func *f, qv_buf *const b[3], uint32_t n)
{
    uint32_t m = N2;
    assert_int_equal(qv_region_begin(rt, "stages"), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b[0]), QV_BUF(b[1]), QV_VAL(n) }, 3), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b[0]), QV_BUF(b[2]), QV_VAL(m) }, 3), 0);
    assert_int_equal(qv_region_end(rt), 0);
}

/* A replayed entry comes while the board's hung run is handed over (the
 * board still in service for 3 s, a delay of the tests): its copy ahead to
 * the board is dropped, not left to a driver thread that may never come
 * back (unregistering its buffer then waited for ever), and its tasks run
 * on the CPU (adversarial testing). */
static void a_prefetch_meets_a_hand_over(void **state)
{
    (void)state;
    const char *bin = getenv("QV_BINARY_DIR");
    if (!bin)
        skip();
    char policy[4096];
    snprintf(policy, sizeof policy, "%s/spin2-policy.yaml", qv_test_scratch());
    FILE *pf = fopen(policy, "w");
    assert_non_null(pf);
    fprintf(pf, "catalog: %s\n"
                "discovery: {rescan_interval_ms: 0, xrt: false, boards: "
                "[%s/share/quiver/boards/emu/u250-emu.yaml]}\n"
                "hot_threshold: 2\nreplan: {eager_slack: 0}\n",
            QV_SPIN2_CATALOG, bin);
    assert_int_equal(fclose(pf), 0);
    qv_runtime *rt = board_runtime(policy);
    qv_func *f = qv_test_spin2(rt, cpu_spin2);
    qv_buf *b[3];
    assert_int_equal(qv_buf_register(rt, y0_, sizeof y0_, &b[0]), 0);
    assert_int_equal(qv_buf_register(rt, x0_, sizeof x0_, &b[1]), 0);
    assert_int_equal(qv_buf_register(rt, x1_, sizeof x1_, &b[2]), 0);
    unsigned dev = 1;
    qv_region_info ri = { .size = sizeof ri };
    /* Until replayed: by time, not entries (a planner slowed by a loaded
     * machine may take more of them). */
    for (double t0 = secs(); secs() - t0 < 60;) {
        two_stages(rt, f, b, N2);
        assert_int_equal(qv_buf_acquire(b[2], QV_RW), 0); /* x1 changes */
        x1_[0] += 1;
        assert_int_equal(qv_buf_release(b[2]), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        assert_int_equal(qv_region_get(rt, "stages", &ri), 0);
        if (ri.replayed >= 3)
            break;
    }
    assert_true(ri.replayed >= 3);
    /* y home too: the hung run writes it in place, so its board copy is
     * not to be trusted after the hand-over (QV_EIO, were it the only one) */
    assert_int_equal(qv_buf_acquire(b[0], QV_R), 0);
    assert_int_equal(qv_buf_release(b[0]), 0);
    qv__fault_delay_set("handover", QV_FAULT_WAIT, 3000000);
    double t0 = secs();
    two_stages(rt, f, b, 7); /* A hangs: handed over 2 s on (its model: 100x 20 ms) */
    while (secs() - t0 < 3.5)
        usleep(10000);
    two_stages(rt, f, b, N2); /* during the hand-over */
    assert_int_equal(qv_wait_all(rt), 0);
    qv__fault_delay_set(NULL, 0, 0);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    assert_false(di.healthy);
    assert_int_equal(qv_buf_unregister(b[2]), 0); /* returns */
    assert_int_equal(qv_buf_unregister(b[1]), 0);
    assert_int_equal(qv_buf_unregister(b[0]), 0);
    qv_runtime_destroy(rt);
}

int main(int argc, char **argv)
{
    setenv("QV_LOG", "0", 1);
    qv__devq_least_limit_ns = 2000000000; /* 30 s in a program */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_run_that_never_ends),
        cmocka_unit_test(a_run_that_ends_late),
        cmocka_unit_test(a_prefetch_meets_a_hand_over),
    };
    if (argc > 1) /* a test name: that one only */
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
