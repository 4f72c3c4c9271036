/*
 * test_hang.c - a board kernel that never ends (tests/devices/kernels/
 * spin.c, built for the emulated U250 with quiver_add_emu_kernel): its run
 * times out (30 s, the least deadline), the board is taken out of service
 * and the call runs on the CPU; then unregistering buffers and destroying
 * the runtime return, although the run still goes on (they waited for it
 * forever: adversarial testing).
 */
#include "helper.h"
#include "quiver.h"

static void cpu_spin(const qv_call *c)
{
    float *y = c->ptr[0];
    for (uint32_t i = 0; i < *(const uint32_t *)c->ptr[1]; i++)
        y[i] = 42.0f + (float)i;
}

static void a_run_that_never_ends(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    o.config = QV_SPIN_POLICY;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_arg_desc d[] = { QV_ARG_BUF("y", QV_RW), QV_ARG_SCALAR("n", uint32_t) };
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "spin", d, 2, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_spin), 0);
    assert_int_equal(qv_func_set_fpga(f, "spin"), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    static float y[64], y2[64];
    uint32_t n = 7, n2 = 8;
    qv_buf *by, *by2;
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, y2, sizeof y2, &by2), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by2), QV_VAL(n2) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* y2's only copy on the board */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_VAL(n) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* timed out there, done on the CPU */
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, 1, &di), 0);
    assert_false(di.healthy);
    assert_int_equal(qv_buf_unregister(by), 0);
    for (int i = 0; i < 7; i++)
        assert_true(y[i] == 42.0f + (float)i);
    assert_int_equal(qv_buf_unregister(by2), 0);
    for (int i = 0; i < 8; i++)
        assert_true(y2[i] == 42.0f + (float)i);
    qv_runtime_destroy(rt); /* returns: the hung run is left behind */
}

int main(void)
{
    setenv("QV_LOG", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_run_that_never_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
