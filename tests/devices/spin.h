/*
 * spin.h - the test kernel spin2 of kernels/spin.c (y += x + 1, y updated
 * in place; n == 7 never ends) as a function of a runtime, bound to its
 * catalog entry (QV_SPIN2_CATALOG), with cpu as its CPU implementation.
 * Include after helper.h and quiver.h.
 */
#ifndef QV_TESTS_DEVICES_SPIN_H
#define QV_TESTS_DEVICES_SPIN_H

static inline qv_func *qv_test_spin2(qv_runtime *rt, qv_cpu_fn cpu)
{
    qv_arg_desc d[] = { QV_ARG_BUF("y", QV_RW), QV_ARG_BUF("x", QV_R),
                        QV_ARG_SCALAR("n", uint32_t) };
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "spin2", d, 3, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu), 0);
    assert_int_equal(qv_func_set_fpga(f, "spin2"), 0);
    return f;
}

#endif
