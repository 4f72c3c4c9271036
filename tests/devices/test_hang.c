/*
 * test_hang.c - board kernels past their deadline (tests/devices/kernels/
 * spin.c, built for the emulated U250 with quiver_add_emu_kernel). The
 * emulator runs a kernel on the board's driver thread, and a watchdog
 * hands a run past its deadline (30 s, the least) over to the runtime:
 * the board is taken out of service and the call, and those queued behind
 * it, run on the CPU. One that never ends: unregistering buffers and
 * destroying the runtime return although it still goes on (they waited
 * for it forever: adversarial testing). One that ends after all: the
 * board gets a probe and is back in service. Each test takes 30 s; ctest
 * runs them as two tests, side by side.
 */
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "quiver.h"

static void cpu_spin(const qv_call *c)
{
    float *y = c->ptr[0];
    for (uint32_t i = 0; i < *(const uint32_t *)c->ptr[1]; i++)
        y[i] = 42.0f + (float)i;
}

static qv_runtime *spin_runtime(qv_func **f)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    o.config = QV_SPIN_POLICY;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
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
    static float y[64], y2[64], y3[64];
    uint32_t n = 7, n2 = 8;
    qv_buf *by, *by2, *by3;
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, y2, sizeof y2, &by2), 0);
    assert_int_equal(qv_buf_register(rt, y3, sizeof y3, &by3), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by2), QV_VAL(n2) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* y2's only copy on the board */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_VAL(n) }, 2), 0);
    /* Queued behind the run that hangs, on its board. */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by3), QV_VAL(n2) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* timed out there, done on the CPU */
    qv_device_info di, cpu;
    assert_int_equal(qv_device_get(rt, 1, &di), 0);
    assert_int_equal(qv_device_get(rt, 0, &cpu), 0);
    assert_false(di.healthy);
    assert_int_equal(di.tasks, 1); /* y2's */
    assert_int_equal(di.failed, 1);
    assert_int_equal(cpu.tasks, 2);
    assert_int_equal(qv_buf_unregister(by), 0);
    check_y(y, 7);
    assert_int_equal(qv_buf_unregister(by3), 0);
    check_y(y3, 8);
    assert_int_equal(qv_buf_unregister(by2), 0);
    check_y(y2, 8);
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
    /* Its end, 31 s after its start: then a call is the board's probe. */
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

int main(int argc, char **argv)
{
    setenv("QV_LOG", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_run_that_never_ends),
        cmocka_unit_test(a_run_that_ends_late),
    };
    if (argc > 1) /* a test name: that one only */
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
