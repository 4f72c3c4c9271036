/*
 * test_sched.c - the worker pool: worker counts, pinning on and off, no
 * spinning at all, and idle workers that park instead of burning cores.
 */
#include <sys/resource.h>

#include "helper.h"
#include "quiver.h"

static void cpu_inc(const qv_call *c)
{
    (*(uint64_t *)c->ptr[0])++;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Runs n increments on one buffer with the given options; checks the sum. */
static void run_chain(qv_options *o, int n)
{
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    uint64_t x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    for (int i = 0; i < n; i++) {
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
        if (i % 1000 == 999) /* let workers go idle and park now and then */
            assert_int_equal(qv_buf_wait(b), 0);
    }
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(x, (uint64_t)n);
    qv_runtime_destroy(rt);
}

static void worker_counts(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    /* One per core (hwloc counts cores, sysconf hardware threads). */
    assert_true(qv_runtime_ncpu(rt) >= 1);
    assert_true((long)qv_runtime_ncpu(rt) <= ncores);
    qv_runtime_destroy(rt);
    o.ncpu = 5; /* more workers than cores is allowed */
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(qv_runtime_ncpu(rt), 5);
    qv_runtime_destroy(rt);
}

static void pinning_and_spinning(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.ncpu = 3;
    run_chain(&o, 5000);
    o.pin = 0;
    run_chain(&o, 5000);
    o.spin_us = 0; /* park at once: every hand-off goes through a wake-up */
    run_chain(&o, 3000);
    o.record = 0;
    o.spin_us = 1000;
    run_chain(&o, 5000);
}

/* After a burst, an idle runtime uses (almost) no CPU: workers park. */
static void idle_workers_park(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.ncpu = 2;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    uint64_t x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    for (int i = 0; i < 2000; i++)
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    usleep(20000); /* past the spin window */
    double c0 = cpu_seconds();
    usleep(400000);
    double burnt = cpu_seconds() - c0;
    /* Two spinning workers would burn 0.8 s here. */
    assert_true(burnt < 0.05);
    /* Parked workers wake up for new work. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(x, 2010);
    qv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worker_counts),
        cmocka_unit_test(pinning_and_spinning),
        cmocka_unit_test(idle_workers_park),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
