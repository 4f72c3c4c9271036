/*
 * test_failures.c - what the caller sees when work fails (core/task.c,
 * core/devq.c, core/bind.c, devices/opencl.c): a task that ran nowhere makes
 * the waits return a negative code naming the function and the cause; the
 * log says why a device refused a function and never promises a CPU that is
 * not there; FPGA bindings are checked against the catalog at
 * qv_func_set_fpga and calls that do not fit the kernel's sizes never reach
 * a board; an OpenCL kernel of the wrong arity is refused.
 *
 * Runs on the embedded default platform (config/quiver.yaml): CPU, PoCL and
 * the emulated U250. Parts that need an absent class are skipped.
 */
#include <stdatomic.h>

#include "helper.h"

#include <fcntl.h>

#include "devices/device.h"
#include "fft/fft_ref.h"
#include "fir/fir_ref.h"
#include "quiver.h"
#include "platform.h"

enum { N = 64 };

/* The N-float arrays of a vadd call, registered on rt. */
static void register3(qv_runtime *rt, float *a, float *b, float *out, qv_buf **ba,
                      qv_buf **bb, qv_buf **bo)
{
    assert_int_equal(qv_buf_register(rt, a, N * sizeof *a, ba), 0);
    assert_int_equal(qv_buf_register(rt, b, N * sizeof *b, bb), 0);
    assert_int_equal(qv_buf_register(rt, out, N * sizeof *out, bo), 0);
}

static void unregister3(qv_buf *ba, qv_buf *bb, qv_buf *bo)
{
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_buf_unregister(bo);
}

/* Runs what stderr receives during fn into a buffer (for log checks). */
static char captured[8192];
static void capture_begin(int *saved, char *path, size_t n)
{
    snprintf(path, n, "%s/stderr.XXXXXX", qv_test_scratch());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    *saved = dup(2);
    dup2(fd, 2);
    close(fd);
}
static void capture_end(int saved, const char *path)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *s = qv_test_slurp(path, NULL);
    snprintf(captured, sizeof captured, "%s", s ? s : "");
    free(s);
    unlink(path);
}

/* The emulated board fails the only implementation of a function: the
 * task ran nowhere, and every wait that covers it says so, once. */
static void task_that_ran_nowhere_is_reported(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd_fpga_only", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = 1;
        b[i] = 2;
        out[i] = -7;
    }
    qv_buf *ba, *bb, *bo;
    register3(rt, a, b, out, &ba, &bb, &bo);
    uint32_t n = N;
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    int saved;
    char path[512];
    capture_begin(&saved, path, sizeof path);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    int rc = qv_wait_all(rt);
    capture_end(saved, path);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    assert_non_null(strstr(qv_last_error(), "vadd_fpga_only"));
    assert_non_null(strstr(qv_last_error(), "injected launch failure"));
    assert_null(strstr(captured, "runs on the CPU"));
    assert_int_equal(qv_wait_all(rt), 0); /* reported once */
    /* The output buffer's waits say it too: it kept its old data. */
    rc = qv_buf_wait(bo);
    assert_true(rc < 0);
    assert_non_null(strstr(qv_last_error(), "vadd_fpga_only"));
    assert_true(out[0] == -7.0f);
    /* And every later read, until it is written (a second wait returned 0,
     * and the older data read as the result: adversarial testing). */
    assert_true(qv_buf_wait(bo) < 0);
    assert_non_null(strstr(qv_last_error(), "holds no valid data"));
    assert_true(qv_buf_acquire(bo, QV_R) < 0);
    assert_int_equal(qv_buf_wait(ba), 0); /* only read: nothing lost there */

    /* The board is out of service now: a further call runs nowhere, and
     * unregistering its output reports that. (Armed again: past its wait,
     * the board gets the call as its probe, which must fail too.) */
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    rc = qv_buf_unregister(bo);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    assert_non_null(strstr(qv_last_error(), "vadd_fpga_only"));
    assert_true(qv_wait_all(rt) < 0); /* the runtime-wide report too */
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_runtime_destroy(rt);
}

static void cpu_twice(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    for (size_t i = 0; i < c->size[1] / sizeof *y; i++)
        y[i] = 2 * x[i];
}

/* A task that reads what a task that ran nowhere should have written
 * fails too, and its outputs' waits say so (adversarial finding: it ran on
 * the old data, and qv_buf_wait of its output said all was well); once
 * the host writes the input again, tasks on it run. */
static void a_task_on_a_never_written_input_fails_too(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f, *twice;
    assert_int_equal(qv_func_create(rt, "vadd_fpga_only", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    qv_arg_desc d[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_W)};
    assert_int_equal(qv_func_create(rt, "twice", d, 2, &twice), 0);
    assert_int_equal(qv_func_set_cpu(twice, cpu_twice), 0);
    static float a[N], b[N], out[N], y[N];
    for (int i = 0; i < N; i++) {
        a[i] = 1;
        b[i] = 2;
        out[i] = -7;
        y[i] = 5;
    }
    qv_buf *ba, *bb, *bo, *by;
    register3(rt, a, b, out, &ba, &bb, &bo);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    uint32_t n = N;
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    int saved;
    char path[512];
    capture_begin(&saved, path, sizeof path);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)}, 4), 0);
    assert_int_equal(qv_submit(rt, twice, (qv_arg[]){QV_BUF(bo), QV_BUF(by)}, 2), 0);
    int rc = qv_wait_all(rt);
    capture_end(saved, path);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    assert_true(qv_buf_wait(by) < 0);
    assert_non_null(strstr(qv_last_error(), "twice"));
    assert_non_null(strstr(qv_last_error(), "holds no valid data"));
    assert_true(y[0] == 5.0f && y[N - 1] == 5.0f);
    /* Written again by the host: the next call runs. */
    assert_true(qv_buf_acquire(bo, QV_W) < 0); /* the failure, reported to it */
    assert_int_equal(qv_buf_acquire(bo, QV_W), 0);
    for (int i = 0; i < N; i++)
        out[i] = (float)i;
    assert_int_equal(qv_buf_release(bo), 0);
    assert_int_equal(qv_submit(rt, twice, (qv_arg[]){QV_BUF(bo), QV_BUF(by)}, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(by), 0);
    assert_true(y[0] == 0.0f && y[N - 1] == 2.0f * (float)(N - 1));
    assert_int_equal(qv_buf_unregister(by), 0);
    unregister3(ba, bb, bo);
    qv_runtime_destroy(rt);
}

/* vadd `name` with a CPU implementation, kept to the board while it can
 * take it. */
static qv_func *board_vadd(qv_runtime *rt, const char *name)
{
    qv_func *f;
    assert_int_equal(qv_func_create(rt, name, qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    return f;
}

/* The default platform's runtime, with its emulated board and its GPU;
 * the test is skipped where either is missing. */
static qv_runtime *board_and_gpu_runtime(void)
{
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime(&have);
    assert_non_null(rt);
    if (!(have & (1u << QV_CLASS_FPGA)) || !(have & (1u << QV_CLASS_GPU))) {
        qv_runtime_destroy(rt);
        skip();
    }
    return rt;
}

/* Two vadds' buffers, a + b -> out (0..N-1 plus 2), the first run on the
 * board already: out's only valid copy is the board's. */
typedef struct two_sets {
    float a[N], b[N], out[N], a2[N], b2[N], o2[N];
    qv_buf *ba, *bb, *bo, *ba2, *bb2, *bo2;
} two_sets;

static void two_sets_open(qv_runtime *rt, qv_func *f, two_sets *t)
{
    for (int i = 0; i < N; i++) {
        t->a[i] = t->a2[i] = (float)i;
        t->b[i] = t->b2[i] = 2;
        t->out[i] = t->o2[i] = -1;
    }
    register3(rt, t->a, t->b, t->out, &t->ba, &t->bb, &t->bo);
    register3(rt, t->a2, t->b2, t->o2, &t->ba2, &t->bb2, &t->bo2);
    uint32_t n = N;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(t->ba), QV_BUF(t->bb),
                                                  QV_BUF(t->bo), QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
}

/* One vadd of f on the board's class or the CPU; returns the board's task
 * count after it, its health in *healthy. The result is checked. */
static uint64_t vadd_once(qv_runtime *rt, qv_func *f, unsigned dev, int *healthy)
{
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 0.5f;
        out[i] = -1;
    }
    qv_buf *ba, *bb, *bo;
    register3(rt, a, b, out, &ba, &bb, &bo);
    uint32_t n = N;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    unregister3(ba, bb, bo);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 0.5f);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    *healthy = di.healthy;
    return di.tasks;
}

/* A board out of service after a fault gets a task again after a wait (a
 * probe): back in service when it runs it; the wait doubles at each fault
 * that comes soon after (1 s, 2 s, 4 s). Meanwhile its calls run on the
 * CPU. */
static void board_returns_to_service(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_back");
    int healthy;
    uint64_t n0 = vadd_once(rt, f, dev, &healthy);
    assert_true(healthy);
    assert_true(n0 >= 1);

    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0); /* ran on the CPU */
    assert_false(healthy);
    qv__fault_set(NULL, 0, 0, 0);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0); /* out of service */
    assert_false(healthy);
    usleep(1100 * 1000);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 1); /* the probe */
    assert_true(healthy);

    /* Back only a moment, it fails again: the wait does not start from 1 s
     * again but is 2 s (a device that fails every few tasks waits longer
     * each time, up to 60 s). */
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 1);
    assert_false(healthy);
    qv__fault_set(NULL, 0, 0, 0);
    usleep(1100 * 1000);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 1); /* 1.1 of 2 s */
    assert_false(healthy);
    usleep(1100 * 1000);
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 1); /* the probe failed */
    qv__fault_set(NULL, 0, 0, 0);
    assert_false(healthy);
    usleep(2200 * 1000);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 1); /* 2.2 of 4 s */
    assert_false(healthy);
    qv_runtime_destroy(rt);
}

/* A run past its deadline that ends after all (a long run, not a hung
 * one): once it ends, the board gets a probe and is back in service. (It
 * stayed out for good: quiverd's board failed every client's runs after
 * one run past 30 s, adversarial testing.) The deadline is an injected
 * wait fault; the run itself ends at once. */
static void board_back_after_a_long_run_ends(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_long");
    int healthy;
    uint64_t n0 = vadd_once(rt, f, dev, &healthy);
    assert_true(healthy);
    qv__fault_set("emu", QV_FAULT_WAIT, 0, QV_ETIMEDOUT);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0); /* timed out: the CPU ran it */
    qv__fault_set(NULL, 0, 0, 0);
    assert_false(healthy);
    uint64_t n = n0;
    for (int i = 0; i < 100 && n == n0; i++) { /* until the run's end is seen */
        usleep(10000);
        n = vadd_once(rt, f, dev, &healthy);
    }
    assert_int_equal(n, n0 + 1); /* the probe, there */
    assert_true(healthy);
    assert_int_equal(vadd_once(rt, f, dev, &healthy), n0 + 2);
    qv_runtime_destroy(rt);
}

/* A board that failed may come back without what it held (a reset): its
 * copies go when it fails, those only it held brought home first, and
 * after its probe it gets every input again. */
static void failed_board_keeps_no_copies(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_kept");
    static two_sets t;
    two_sets_open(rt, f, &t); /* out's only copy is on the board */
    float *a = t.a, *b = t.b, *out = t.out;
    uint32_t n = N;
    qv_arg args[] = { QV_BUF(t.ba), QV_BUF(t.bb), QV_BUF(t.bo), QV_VAL(n) };
    qv_device_info before, after;
    assert_int_equal(qv_device_get(rt, dev, &before), 0);
    assert_int_equal(before.tasks, 1);
    int healthy;
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    vadd_once(rt, f, dev, &healthy); /* another call fails there */
    qv__fault_set(NULL, 0, 0, 0);
    assert_false(healthy);
    assert_int_equal(qv_device_get(rt, dev, &after), 0);
    assert_true(after.bytes_from >= before.bytes_from + N * sizeof *out); /* out came home */
    assert_int_equal(qv_buf_wait(t.bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 2);
    usleep(1100 * 1000);
    uint64_t to = after.bytes_to;
    assert_int_equal(qv_submit(rt, f, args, 4), 0); /* the probe, on a and b */
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_device_get(rt, dev, &after), 0);
    assert_true(after.healthy);
    assert_int_equal(after.tasks, before.tasks + 1);
    assert_true(after.bytes_to >= to + N * sizeof *a + N * sizeof *b); /* copied again */
    assert_int_equal(qv_buf_wait(t.bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 2);
    unregister3(t.ba, t.bb, t.bo);
    unregister3(t.ba2, t.bb2, t.bo2);
    qv_runtime_destroy(rt);
}

/* A kernel that does not build: the caller learns the compiler's first
 * error, and the log never promises the CPU to a function without one. */
static void build_error_keeps_its_cause(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_GPU);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd_broken", qv_test_vadd_sig, 4, &f), 0);
    const char *src = "__kernel void vadd(__global const float *a, __global const float *b,\n"
                      "  __global float *out, uint n) { out[get_global_id(0)] = a[0] + undeclared; }\n";
    assert_int_equal(qv_func_set_opencl(f, &(qv_opencl_impl){ src, "vadd", NULL, qv_test_range_vadd }), 0);
    static float a[N], b[N], out[N];
    qv_buf *ba, *bb, *bo;
    register3(rt, a, b, out, &ba, &bb, &bo);
    uint32_t n = N;
    int saved;
    char path[512];
    capture_begin(&saved, path, sizeof path);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    int rc = qv_wait_all(rt);
    capture_end(saved, path);
    assert_true(rc < 0);
    const char *e = qv_last_error();
    assert_non_null(strstr(e, "vadd_broken"));
    if (!strstr(e, "undeclared"))
        fail_msg("error: %s\nlog: %s", e, captured);
    assert_null(strstr(captured, "runs on the CPU"));
    assert_non_null(strstr(captured, "undeclared"));
    unregister3(ba, bb, bo);
    qv_runtime_destroy(rt);
}

/* An OpenCL kernel with more arguments than the function: refused at its
 * build with QV_EMISMATCH, and the call runs on the CPU. */
static void opencl_arity_is_checked(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_GPU);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd_arity", qv_test_vadd_sig, 4, &f), 0);
    const char *src = "__kernel void vadd(__global const float *a, __global const float *b,\n"
                      "  __global float *out, uint n, uint extra) {\n"
                      "  size_t i = get_global_id(0); out[i] = a[i] + b[i] + extra; }\n";
    assert_int_equal(qv_func_set_opencl(f, &(qv_opencl_impl){ src, "vadd", NULL, qv_test_range_vadd }), 0);
    assert_int_equal(qv_func_set_cpu(f, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 1;
    }
    qv_buf *ba, *bb, *bo;
    register3(rt, a, b, out, &ba, &bb, &bo);
    uint32_t n = N;
    int saved;
    char path[512];
    capture_begin(&saved, path, sizeof path);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    capture_end(saved, path);
    assert_non_null(strstr(captured, "takes 5 arguments"));
    assert_int_equal(qv_buf_unregister(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 1.0f);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_runtime_destroy(rt);
}

/* qv_func_set_fpga against the catalog's entry for vadd
 * (a: in, b: in, out: out, n: uint32). */
static void fpga_binding_is_checked(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime(&have);
    assert_non_null(rt);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "good", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    assert_int_equal(qv_func_set_fpga(f, "no_such_kernel"), QV_ENOENT);
    assert_non_null(strstr(qv_last_error(), "no_such_kernel"));

    assert_int_equal(qv_func_create(rt, "three", qv_test_vadd_sig, 3, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "4 arguments"));

    qv_arg_desc kind[] = { QV_ARG_BUF("a", QV_R), QV_ARG_SCALAR("bee", float),
                           QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t) };
    assert_int_equal(qv_func_create(rt, "kind", kind, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "'bee'"));

    qv_arg_desc size[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                           QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("count", uint64_t) };
    assert_int_equal(qv_func_create(rt, "size", size, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "'count'"));

    qv_arg_desc mode[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                           QV_ARG_BUF("result", QV_RW), QV_ARG_SCALAR("n", uint32_t) };
    assert_int_equal(qv_func_create(rt, "mode", mode, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "'result'"));
    qv_runtime_destroy(rt);

    /* Without a catalog there is no kernel to bind. */
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(qv_func_create(rt, "lonely", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), QV_ENOENT);
    qv_runtime_destroy(rt);
}

/* A CPU vadd that never reads past its buffers, whatever n says. */
static void cpu_vadd_clamped(const qv_call *c)
{
    const float *a = c->ptr[0], *b = c->ptr[1];
    float *o = c->ptr[2];
    uint32_t n = *(const uint32_t *)c->ptr[3];
    if (n > c->size[2] / sizeof(float))
        n = (uint32_t)(c->size[2] / sizeof(float));
    for (uint32_t i = 0; i < n; i++)
        o[i] = a[i] + b[i];
}

/* A call whose buffers are smaller than the kernel's sizes (n elements of
 * each) must never reach the board: it crashed the process inside the
 * emulated kernel. With a CPU implementation it runs there; without one,
 * qv_submit refuses it. */
static void short_buffers_stay_off_the_board(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned board = 0;
    for (unsigned d = 1; d < qv_device_count(rt); d++) {
        qv_device_info di;
        qv_device_get(rt, d, &di);
        if (di.cls == QV_CLASS_FPGA)
            board = d;
    }
    qv_func *f, *g;
    assert_int_equal(qv_func_create(rt, "vadd_board", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_fpga(g, "vadd"), 0);
    assert_int_equal(qv_func_create(rt, "vadd_both", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_vadd_clamped), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    static float a[N], b[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = 1;
        b[i] = 2;
        out[i] = 0;
    }
    qv_buf *ba, *bb, *bo;
    register3(rt, a, b, out, &ba, &bb, &bo);
    qv_device_info before, after;
    assert_int_equal(qv_device_get(rt, board, &before), 0);
    uint32_t over = N + 1, n = N;
    qv_arg too_long[] = { QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(over) };
    /* Only the board could run it: refused, naming the argument. */
    assert_int_equal(qv_submit(rt, g, too_long, 4), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "argument 0 ('a')"));
    assert_non_null(strstr(qv_last_error(), "vadd_board"));
    /* With a CPU implementation it runs there, never on the board. */
    for (int r = 0; r < 10; r++)
        assert_int_equal(qv_submit(rt, f, too_long, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_device_get(rt, board, &after), 0);
    assert_int_equal(after.tasks, before.tasks);
    assert_int_equal(after.failed, before.failed);
    assert_int_equal(qv_buf_wait(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == 3.0f);
    /* A call that fits goes to the board as before. */
    assert_int_equal(qv_submit(rt, g, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_device_get(rt, board, &after), 0);
    assert_int_equal(after.tasks, before.tasks + 1);
    unregister3(ba, bb, bo);
    qv_runtime_destroy(rt);
}


/* ---- the kernels' limits, and a board failing mid-run --------------------- */

static void c_fir(const qv_call *c)
{
    qv_hls_fir_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3],
                   *(const uint32_t *)c->ptr[4]);
}
static void c_fft(const qv_call *c)
{
    qv_hls_fft_ref(c->ptr[0], c->ptr[1], c->ptr[2], c->ptr[3], *(const uint32_t *)c->ptr[4]);
}

static unsigned board_of(qv_runtime *rt)
{
    for (unsigned d = 1; d < qv_device_count(rt); d++) {
        qv_device_info di;
        qv_device_get(rt, d, &di);
        if (di.cls == QV_CLASS_FPGA)
            return d;
    }
    fail_msg("no FPGA board");
    return 0;
}

/* Scalars past the catalog's limits (fir's taps <= 128; fft's n a power
 * of two <= 4096): the HLS kernels return at once on them, and the board
 * handed back unwritten outputs as results. Such calls never reach the
 * board: they run on the CPU (right results), or are refused. */
static void calls_past_the_limits_stay_off_the_board(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned board = board_of(rt);
    qv_func *fir, *fft, *fir_board;
    qv_arg_desc d_fir[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("h", QV_R), QV_ARG_BUF("y", QV_W),
                           QV_ARG_SCALAR("n", uint32_t), QV_ARG_SCALAR("taps", uint32_t)};
    qv_arg_desc d_fft[] = {QV_ARG_BUF("in_re", QV_R), QV_ARG_BUF("in_im", QV_R),
                           QV_ARG_BUF("out_re", QV_W), QV_ARG_BUF("out_im", QV_W),
                           QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, "fir", d_fir, 5, &fir), 0);
    assert_int_equal(qv_func_set_cpu(fir, c_fir), 0);
    assert_int_equal(qv_func_set_fpga(fir, "fir"), 0);
    assert_int_equal(qv_func_set_where(fir, 1u << QV_CLASS_FPGA | 1u << QV_CLASS_CPU), 0);
    assert_int_equal(qv_func_create(rt, "fft", d_fft, 5, &fft), 0);
    assert_int_equal(qv_func_set_cpu(fft, c_fft), 0);
    assert_int_equal(qv_func_set_fpga(fft, "fft"), 0);
    assert_int_equal(qv_func_create(rt, "fir_board", d_fir, 5, &fir_board), 0);
    assert_int_equal(qv_func_set_fpga(fir_board, "fir"), 0);
    enum { L = 8192 };
    static float x[L], h[200], y[L], ref[L], re[L], im[L], ore[L], oim[L], rre[L], rim[L];
    for (int i = 0; i < L; i++) {
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        re[i] = x[i];
        im[i] = 0;
    }
    for (int i = 0; i < 200; i++)
        h[i] = 1.0f / (float)(i + 1);
    qv_buf *bx, *bh, *by, *bre, *bim, *bore, *boim;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, h, sizeof h, &bh), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, re, sizeof re, &bre), 0);
    assert_int_equal(qv_buf_register(rt, im, sizeof im, &bim), 0);
    assert_int_equal(qv_buf_register(rt, ore, sizeof ore, &bore), 0);
    assert_int_equal(qv_buf_register(rt, oim, sizeof oim, &boim), 0);
    qv_device_info before, after;
    assert_int_equal(qv_device_get(rt, board, &before), 0);
    uint32_t n = 1024, taps = 200, big = 8192, odd = 1000;
    qv_arg afir[] = { QV_BUF(bx), QV_BUF(bh), QV_BUF(by), QV_VAL(n), QV_VAL(taps) };
    /* Only the board could run it: refused, naming the limit. */
    assert_int_equal(qv_submit(rt, fir_board, afir, 5), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "'taps' = 200 of kernel 'fir' is above its maximum 128"));
    for (int r = 0; r < 4; r++) /* the first calls would calibrate the board */
        assert_int_equal(qv_submit(rt, fir, afir, 5), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(by), 0);
    qv_hls_fir_ref(x, h, ref, n, taps);
    for (uint32_t i = 0; i < n; i++)
        assert_true(y[i] == ref[i]);
    uint32_t sizes[2] = { big, odd };
    for (int k = 0; k < 2; k++) {
        qv_arg afft[] = { QV_BUF(bre), QV_BUF(bim), QV_BUF(bore), QV_BUF(boim), QV_VAL(sizes[k]) };
        assert_int_equal(qv_submit(rt, fft, afft, 5), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        assert_int_equal(qv_buf_wait(bore), 0);
        assert_int_equal(qv_buf_wait(boim), 0);
        qv_hls_fft_ref(re, im, rre, rim, sizes[k]);
        for (uint32_t i = 0; i < sizes[k]; i++)
            assert_true(ore[i] == rre[i] && oim[i] == rim[i]);
    }
    assert_int_equal(qv_device_get(rt, board, &after), 0);
    assert_int_equal(after.tasks, before.tasks);
    assert_int_equal(after.failed, before.failed);
    qv_buf *all[] = { bx, bh, by, bre, bim, bore, boim };
    for (int i = 0; i < 7; i++)
        qv_buf_unregister(all[i]);
    qv_runtime_destroy(rt);
}

static void c_saxpy(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    float a = *(const float *)c->ptr[2];
    for (uint32_t i = 0; i < *(const uint32_t *)c->ptr[3]; i++)
        y[i] = a * x[i] + y[i];
}

/* A board failing after it started a task (here: a run that outlived its
 * deadline, injected) may have changed the copies there that the task
 * writes. The example's saxpy updates y in place (inout). When the host
 * also held a valid y, the task runs again from it: 102. When the board
 * held the only copy, running it again would start from what the failed
 * run left (it gave 103): the task fails, and the wait says why. */
static void board_failing_mid_run_is_not_applied_twice(void **state)
{
    (void)state;
    char policy[600];
    const char *bin = getenv("QV_BINARY_DIR");
    snprintf(policy, sizeof policy, "%s/examples/emu-kernel/saxpy-policy.yaml", bin ? bin : ".");
    if (access(policy, R_OK) != 0)
        skip(); /* examples not built */
    for (int host_too = 0; host_too < 2; host_too++) {
        qv_options o;
        qv_options_init(&o);
        o.ncpu = 1;
        o.perfmodel_dir = "";
        o.opencl = 0;
        o.config = policy;
        qv_runtime *rt;
        assert_int_equal(qv_runtime_create(&o, &rt), 0);
        qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_RW),
                            QV_ARG_SCALAR("a", float), QV_ARG_SCALAR("n", uint32_t) };
        qv_func *f;
        assert_int_equal(qv_func_create(rt, "saxpy", d, 4, &f), 0);
        assert_int_equal(qv_func_set_cpu(f, c_saxpy), 0);
        assert_int_equal(qv_func_set_fpga(f, "saxpy"), 0);
        assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
        static float x[N], y[N];
        for (int i = 0; i < N; i++) {
            x[i] = 1;
            y[i] = 100;
        }
        qv_buf *bx, *by;
        assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
        assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
        float a = 1;
        uint32_t n = N;
        qv_arg args[] = { QV_BUF(bx), QV_BUF(by), QV_VAL(a), QV_VAL(n) };
        assert_int_equal(qv_submit(rt, f, args, 4), 0);
        assert_int_equal(qv_wait_all(rt), 0); /* y = 101, on the board */
        if (host_too) { /* the host reads y: valid there too */
            assert_int_equal(qv_buf_acquire(by, QV_R), 0);
            assert_true(y[0] == 101.0f);
            assert_int_equal(qv_buf_release(by), 0);
        }
        qv__fault_set("emu", QV_FAULT_WAIT, 0, QV_ETIMEDOUT);
        assert_int_equal(qv_submit(rt, f, args, 4), 0);
        int rc = qv_wait_all(rt);
        qv__fault_set(NULL, 0, 0, 0);
        if (host_too) {
            assert_int_equal(rc, 0);
            assert_int_equal(qv_buf_wait(by), 0);
            for (int i = 0; i < N; i++)
                assert_true(y[i] == 102.0f);
        } else {
            assert_int_equal(rc, QV_EIO);
            assert_non_null(strstr(qv_last_error(), "half-written"));
        }
        qv_buf_unregister(bx);
        qv_buf_unregister(by);
        qv_runtime_destroy(rt);
    }
}

static void c_saxpy_swapped(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    uint32_t n = *(const uint32_t *)c->ptr[2];
    float a = *(const float *)c->ptr[3];
    for (uint32_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
}

/* A catalog that lists the example's saxpy scalars as (n, a) while its
 * xclbin has (a, n): every size and kind agrees, and the kernel crashed
 * the process reading n as a. The board refuses the build when it loads
 * it (the argument names differ); the call runs on the CPU. */
static void catalog_unlike_its_xclbin_is_refused(void **state)
{
    (void)state;
    const char *bin = getenv("QV_BINARY_DIR");
    char dir[600], xclbin[700], boards[700], cat[700], pol[700];
    snprintf(dir, sizeof dir, "%s/examples/emu-kernel", bin ? bin : ".");
    snprintf(xclbin, sizeof xclbin, "%s/saxpy.xclbin", dir);
    if (access(xclbin, R_OK) != 0)
        skip(); /* examples not built */
    snprintf(boards, sizeof boards, "%s/share/quiver/boards/emu", bin);
    snprintf(cat, sizeof cat, "%s/swapped-catalog.yaml", qv_test_scratch());
    snprintf(pol, sizeof pol, "%s/swapped-policy.yaml", qv_test_scratch());
    FILE *f = fopen(cat, "w");
    assert_non_null(f);
    fprintf(f, "boards: [%s]\nkernels:\n  - name: saxpy\n    implements: saxpy\n    args:\n"
               "      - {name: x, dir: in, type: float, size: n}\n"
               "      - {name: y, dir: inout, type: float, size: n}\n"
               "      - {name: n, dir: scalar, type: uint32}\n"
               "      - {name: a, dir: scalar, type: float}\n"
               "    builds: [{board: alveo-u250-emu, xclbin: %s}]\n"
               "    perf: {ii: 1, latency_cycles: 60, trip_count: n}\n", boards, xclbin);
    fclose(f);
    f = fopen(pol, "w");
    assert_non_null(f);
    fprintf(f, "catalog: %s\ndevices: [cpu, fpga]\ndiscovery: {opencl: false, xrt: false, "
               "boards: [%s/u250-emu.yaml]}\n", cat, boards);
    fclose(f);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.config = pol;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_RW),
                        QV_ARG_SCALAR("n", uint32_t), QV_ARG_SCALAR("a", float) };
    qv_func *fn;
    assert_int_equal(qv_func_create(rt, "saxpy", d, 4, &fn), 0);
    assert_int_equal(qv_func_set_cpu(fn, c_saxpy_swapped), 0);
    assert_int_equal(qv_func_set_fpga(fn, "saxpy"), 0);
    static float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = 1;
    }
    qv_buf *bx, *by;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    uint32_t n = N;
    float a = 2;
    assert_int_equal(qv_func_set_where(fn, 1u << QV_CLASS_FPGA | 1u << QV_CLASS_CPU), 0);
    for (int r = 0; r < 3; r++)
        assert_int_equal(qv_submit(rt, fn, (qv_arg[]){ QV_BUF(bx), QV_BUF(by), QV_VAL(n),
                                                       QV_VAL(a) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_unregister(by), 0);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == 1.0f + 6.0f * (float)i);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, 1, &di), 0);
    assert_int_equal(di.tasks, 0);
    assert_true(di.healthy);
    qv_buf_unregister(bx);
    qv_runtime_destroy(rt);
}

/* A board fails while its copy of `out`, the only valid one, is being
 * brought home (slowly), and that copy home fails too; `out`, unregistered
 * meanwhile, waits for the attempt and reports the loss (before, it
 * returned 0 with the host's older data: the error was set after the
 * unregister had looked for one). */
static void unregister_while_a_failed_board_loses_the_copy(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_lost");
    static two_sets t;
    two_sets_open(rt, f, &t);
    float *out = t.out, *o2 = t.o2;
    qv_buf *ba = t.ba, *bb = t.bb, *bo = t.bo, *ba2 = t.ba2, *bb2 = t.bb2, *bo2 = t.bo2;
    uint32_t n = N; /* out's only copy is on the board */
    qv__fault_delay_set("emu", QV_FAULT_READ, 800 * 1000);
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO); /* the board fails */
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba2), QV_BUF(bb2), QV_BUF(bo2),
                                                  QV_VAL(n) }, 4), 0);
    for (int ms = 0; ms < 5000 && !qv__fault_delaying(); ms++)
        usleep(1000);
    assert_int_equal(qv__fault_delaying(), 1); /* out on its way home */
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS,
                    QV_EIO); /* and that read fails */
    assert_int_equal(qv_buf_unregister(bo), QV_EIO);
    assert_true(out[3] == -1.0f); /* the host's older data */
    qv__fault_delay_set(NULL, 0, 0);
    qv__fault_set(NULL, 0, 0, 0);
    assert_int_equal(qv_wait_all(rt), 0);
    for (int i = 0; i < N; i++) /* the second task ran elsewhere */
        assert_true(o2[i] == (float)i + 2);
    assert_int_equal(qv_buf_unregister(ba), 0);
    assert_int_equal(qv_buf_unregister(bb), 0);
    unregister3(ba2, bb2, bo2);
    qv_runtime_destroy(rt);
}

static void vadd_submit(qv_runtime *rt, qv_func *f, qv_buf *a, qv_buf *b, qv_buf *out)
{
    uint32_t n = N;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(a), QV_BUF(b), QV_BUF(out),
                                                  QV_VAL(n) }, 4), 0);
}

static void two_sets_close(two_sets *t)
{
    assert_int_equal(qv_buf_unregister(t->ba), 0);
    assert_int_equal(qv_buf_unregister(t->bb), 0);
    unregister3(t->ba2, t->bb2, t->bo2);
}

/* Until an operation that qv__fault_delay_set holds back is under way. */
static void until_delaying(void)
{
    for (int ms = 0; ms < 5000 && !qv__fault_delaying(); ms++)
        usleep(1000);
    assert_int_equal(qv__fault_delaying(), 1);
}

/* f(a, b, out) on the board, whose launch fails (the board leaves
 * service), and then the copy home of a buffer whose only copy is there
 * fails too (held back until it is on its way, then failed). Returns
 * qv_wait_all's code; the faults are off again. */
static int launch_and_copy_home_fail(qv_runtime *rt, qv_func *f, qv_buf *a, qv_buf *b,
                                     qv_buf *out)
{
    qv__fault_delay_set("emu", QV_FAULT_READ, 300 * 1000);
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    vadd_submit(rt, f, a, b, out);
    until_delaying();
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    int rc = qv_wait_all(rt);
    qv__fault_delay_set(NULL, 0, 0);
    qv__fault_set(NULL, 0, 0, 0);
    return rc;
}

/* A read of a device's only valid copy that fails once is made again: the
 * CPU task reading it runs, and the board stays in service. (One failed
 * read failed the task for good, its output and everything after it
 * lost, though the board's copy was intact: adversarial testing.) */
static void transient_read_failure_loses_nothing(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_read_once"), *g;
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only */
    assert_int_equal(qv_func_create(rt, "vadd_host", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_cpu(g, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_where(g, 1u << QV_CLASS_CPU), 0);
    qv__fault_set("emu", QV_FAULT_READ, 0, QV_EIO); /* the copy home fails once */
    uint32_t n = N;
    assert_int_equal(
        qv_submit(rt, g,
                  (qv_arg[]){QV_BUF(t.bo), QV_BUF(t.bb2), QV_BUF(t.bo2), QV_VAL(n)}, 4),
        0);
    int rc = qv_wait_all(rt);
    qv__fault_set(NULL, 0, 0, 0);
    if (rc)
        fail_msg("one failed read lost the task: %s", qv_last_error());
    assert_int_equal(qv_buf_wait(t.bo2), 0);
    for (int i = 0; i < N; i++)
        assert_true(t.o2[i] == (float)i + 4);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, qv_test_device_of(rt, QV_CLASS_FPGA), &di), 0);
    assert_int_equal(di.healthy, 1);
    two_sets_close(&t);
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    qv_runtime_destroy(rt);
}

/* A device copy that cannot be read (a fault that stays): the GPU task
 * that needs it fails, saying which device holds the copy, and neither
 * device leaves service; the copy stays valid on the board, and once it
 * reads again nothing is lost. (The GPU, the reader, was blamed and taken
 * out of service, the board left alone: adversarial testing.) */
static void unreadable_copy_fails_the_reader_not_its_device(void **state)
{
    (void)state;
    qv_runtime *rt = board_and_gpu_runtime();
    qv_func *f = board_vadd(rt, "vadd_on_board"), *g;
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only */
    assert_int_equal(qv_func_create(rt, "vadd_on_gpu", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_opencl(g, &(qv_opencl_impl){qv_test_vadd_cl(), "vadd",
                                                             NULL, qv_test_range_vadd}),
                     0);
    assert_int_equal(qv_func_set_where(g, 1u << QV_CLASS_GPU), 0);
    uint32_t n = N;
    qv_arg args[] = {QV_BUF(t.bo), QV_BUF(t.bb2), QV_BUF(t.bo2), QV_VAL(n)};
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    assert_int_equal(qv_submit(rt, g, args, 4), 0);
    int rc = qv_wait_all(rt);
    char why[512];
    snprintf(why, sizeof why, "%s", qv_last_error());
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    if (!strstr(why, "emu holds the only valid copy (") ||
        !strstr(why, "which cannot be read (3 tries): injected read failure"))
        fail_msg("the error does not name the board: %s", why);
    qv_device_info gpu, board;
    assert_int_equal(qv_device_get(rt, qv_test_device_of(rt, QV_CLASS_GPU), &gpu), 0);
    assert_int_equal(qv_device_get(rt, qv_test_device_of(rt, QV_CLASS_FPGA), &board), 0);
    if (!gpu.healthy)
        fail_msg("the GPU, which only read the board's copy, was taken out of service");
    assert_int_equal(board.healthy, 1);
    assert_true(qv_buf_wait(t.bo2) < 0);    /* the failed task's output says so */
    assert_int_equal(qv_buf_wait(t.bo), 0); /* the board's copy, intact */
    for (int i = 0; i < N; i++)
        assert_true(t.out[i] == (float)i + 2);
    assert_int_equal(qv_submit(rt, g, args, 4), 0); /* and it runs now */
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(t.bo2), 0);
    for (int i = 0; i < N; i++)
        assert_true(t.o2[i] == (float)i + 4);
    two_sets_close(&t);
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    qv_runtime_destroy(rt);
}

/* A task T reads `out`, whose only valid copy is the board's; T's launch
 * fails, the board leaves service, and `out`'s copy home fails too: `out`
 * is lost. T, re-run on the CPU, fails (it read the host's older data and
 * returned 0 before: adversarial testing), as every later reader does,
 * until the host writes `out` again. */
static void readers_of_a_lost_copy_fail(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_reads_lost");
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only */
    int rc = launch_and_copy_home_fail(rt, f, t.bo, t.bb2, t.bo2); /* T */
    assert_true(rc < 0);
    assert_true(qv_buf_wait(t.bo2) < 0);
    assert_non_null(strstr(qv_last_error(), "holds no valid data"));
    for (int i = 0; i < N; i++)
        assert_true(t.o2[i] == -1.0f); /* not -1 + 2 */
    /* A later reader fails too; once the host writes out, one runs. */
    vadd_submit(rt, f, t.bo, t.bb2, t.bo2);
    assert_true(qv_wait_all(rt) < 0);
    assert_true(qv_buf_acquire(t.bo, QV_W) < 0); /* out's loss, reported to it */
    assert_int_equal(qv_buf_acquire(t.bo, QV_W), 0);
    for (int i = 0; i < N; i++)
        t.out[i] = 10;
    assert_int_equal(qv_buf_release(t.bo), 0);
    (void)qv_buf_wait(t.bo2); /* the second reader's failure, once */
    vadd_submit(rt, f, t.bo, t.bb2, t.bo2);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(t.bo2), 0);
    for (int i = 0; i < N; i++)
        assert_true(t.o2[i] == 12.0f);
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    two_sets_close(&t);
    qv_runtime_destroy(rt);
}

/* After a writer of `out` ran nowhere: its wait says so once, and `out`
 * holds its last result, the board's (i + 2); then every buffer goes. */
static void out_kept_its_last_result(two_sets *t)
{
    assert_true(qv_buf_wait(t->bo) < 0); /* the failure, once */
    assert_int_equal(qv_buf_unregister(t->bo), 0);
    for (int i = 0; i < N; i++)
        if (t->out[i] != (float)i + 2)
            fail_msg("out[%d] = %g, not its last result %g", i, t->out[i], (float)i + 2);
    two_sets_close(t);
}

/* `out`'s only copy is the board's when a writer of it (write-only, on
 * the board alone: no CPU implementation) fails there, taking the board
 * out of service: it runs nowhere, and `out` keeps its last result, the
 * board's, brought home (it was dropped unread, as if the failed writer
 * had replaced it, and the host's data from before stood: adversarial
 * testing). */
static void writer_that_runs_nowhere_keeps_the_boards_copy(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_before_g");
    qv_func *g;
    assert_int_equal(qv_func_create(rt, "vadd_board_only", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_fpga(g, "vadd"), 0);
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only; host -1 */
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    vadd_submit(rt, g, t.ba2, t.bb2, t.bo);
    int rc = qv_wait_all(rt);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    out_kept_its_last_result(&t);
    qv_runtime_destroy(rt);
}

/* The same writer queued on the board behind a task whose launch fails:
 * it has not started either, so `out`'s copy comes home first, and `out`
 * keeps it when the writer runs nowhere (the copy was dropped unread as
 * if the writer ran elsewhere: review). */
static void writer_queued_behind_a_failure_keeps_the_boards_copy(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_ahead");
    qv_func *g;
    assert_int_equal(qv_func_create(rt, "vadd_queued", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_fpga(g, "vadd"), 0);
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only; host -1 */
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 300 * 1000);
    vadd_submit(rt, f, t.ba2, t.bb2, t.bo2);
    until_delaying(); /* the first launch, held back */
    vadd_submit(rt, g, t.ba, t.bb, t.bo);
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO); /* it fails: the board out */
    int rc = qv_wait_all(rt);
    qv__fault_delay_set(NULL, 0, 0);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0); /* g ran nowhere */
    for (int i = 0; i < N; i++) /* the first task ran again on the CPU */
        assert_true(t.o2[i] == (float)i + 2);
    out_kept_its_last_result(&t);
    qv_runtime_destroy(rt);
}

/* The same writer with a CPU implementation, and `out`'s copy home fails
 * too: the writer, run again on the CPU, makes `out` anew, and nothing
 * reports a loss (the failed copy home marked `out` lost, and its wait
 * failed after the writer had written it). */
static void writer_run_elsewhere_replaces_a_lost_copy(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_rewrites_lost");
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2, on the board only; host -1 */
    for (int i = 0; i < N; i++)
        t.a2[i] = 100;
    int rc = launch_and_copy_home_fail(rt, f, t.ba2, t.bb2, t.bo); /* the writer */
    if (rc)
        fail_msg("the writer's re-run was reported failed: %s", qv_last_error());
    if (qv_buf_wait(t.bo) != 0)
        fail_msg("out, written by the re-run, reported a loss: %s", qv_last_error());
    for (int i = 0; i < N; i++)
        assert_true(t.out[i] == 102.0f);
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    two_sets_close(&t);
    qv_runtime_destroy(rt);
}

/* vadd with the board's kernel and an OpenCL one and no CPU implementation,
 * on a[i] = i, b[i] = 2, out[i] = -1 (N floats each), registered. */
static qv_func *vadd_fpga_or_gpu(qv_runtime *rt, float *a, float *b, float *out,
                                 qv_buf **ba, qv_buf **bb, qv_buf **bo)
{
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd_fpga_or_gpu", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    assert_int_equal(qv_func_set_opencl(f, &(qv_opencl_impl){qv_test_vadd_cl(), "vadd",
                                                             NULL, qv_test_range_vadd}),
                     0);
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 2;
        out[i] = -1;
    }
    register3(rt, a, b, out, ba, bb, bo);
    return f;
}

/* A function kept on the board by its mask, with an OpenCL kernel too and
 * no CPU implementation: when the board fails its call, the call runs on
 * the GPU rather than nowhere (the mask says where to place work, not
 * where to lose it; it was lost: adversarial testing). */
static void failed_call_leaves_its_mask_for_another_accelerator(void **state)
{
    (void)state;
    qv_runtime *rt = board_and_gpu_runtime();
    static float a[N], b[N], out[N];
    qv_buf *ba, *bb, *bo;
    qv_func *f = vadd_fpga_or_gpu(rt, a, b, out, &ba, &bb, &bo);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    uint32_t n = N;
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo),
                                                  QV_VAL(n) }, 4), 0);
    int rc = qv_wait_all(rt);
    qv__fault_set(NULL, 0, 0, 0);
    if (rc)
        fail_msg("the call was lost: %s", qv_last_error());
    assert_int_equal(qv_buf_wait(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 2);
    /* A call made while the board is out of service runs there too (it
     * was lost, QV_ENODEV, though the GPU could run it: review). */
    assert_int_equal(qv_buf_acquire(ba, QV_W), 0);
    for (int i = 0; i < N; i++)
        a[i] = 10;
    assert_int_equal(qv_buf_release(ba), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bo),
                                                  QV_VAL(n) }, 4), 0);
    if ((rc = qv_wait_all(rt)) != 0)
        fail_msg("a call during the board's outage was lost: %s", qv_last_error());
    assert_int_equal(qv_buf_wait(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == 12.0f);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, qv_test_device_of(rt, QV_CLASS_GPU), &di), 0);
    assert_int_equal(di.tasks, 2);
    unregister3(ba, bb, bo);
    qv_runtime_destroy(rt);
}

/* A call that waits (the host holds its input) while its function's mask
 * is changed to the CPU alone, which has no implementation of it: it runs
 * on an accelerator that has one, as calls that no allowed device can take
 * do. It ran nowhere, QV_ENODEV, though the board and the GPU could run it
 * (adversarial testing). */
static void mask_set_under_a_waiting_call_loses_nothing(void **state)
{
    (void)state;
    qv_runtime *rt = board_and_gpu_runtime();
    static float a[N], b[N], out[N];
    qv_buf *ba, *bb, *bo;
    qv_func *f = vadd_fpga_or_gpu(rt, a, b, out, &ba, &bb, &bo);
    uint32_t n = N;
    assert_int_equal(qv_buf_acquire(ba, QV_RW), 0);
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)}, 4),
        0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_CPU), 0);
    assert_int_equal(qv_buf_release(ba), 0);
    int rc = qv_wait_all(rt);
    if (rc)
        fail_msg("the call was lost: %s", qv_last_error());
    assert_int_equal(qv_buf_wait(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == (float)i + 2);
    /* A call made after it is refused at once, as documented. */
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)}, 4),
        QV_ENODEV);
    unregister3(ba, bb, bo);
    qv_runtime_destroy(rt);
}

/* A board fails while its copy of `out` is the only valid one and a task
 * on the CPU is writing `out` anew (write-only, its predecessors done):
 * the board's old copy must not be brought home over what that task
 * writes (ThreadSanitizer saw it, a fused chain re-run on the CPU). */
static atomic_int g_wrote, g_go;

static void cpu_fill7(const qv_call *c)
{
    float *o = c->ptr[0];
    for (size_t i = 0; i < c->size[0] / sizeof *o; i++)
        o[i] = 7;
    atomic_store(&g_wrote, 1);
    while (!atomic_load(&g_go))
        usleep(1000);
}

/* Starts fill7 on buffer b (its only copy on the board) and waits until
 * it wrote 7 there: it then waits for g_go. */
static void start_fill7(qv_runtime *rt, qv_func *fill, qv_buf *b)
{
    atomic_store(&g_wrote, 0);
    atomic_store(&g_go, 0);
    assert_int_equal(qv_submit(rt, fill, (qv_arg[]){ QV_BUF(b) }, 1), 0);
    for (int ms = 0; ms < 10000 && !atomic_load(&g_wrote); ms++)
        usleep(1000);
    assert_true(atomic_load(&g_wrote));
}

/* The board fails now (a vadd of t's second set on it, its launch made to
 * fail); once it is out of service and its copies are dropped, the
 * writer blocked in cpu_fill7 goes on, and everything ends. */
static void fail_board_then_go(qv_runtime *rt, unsigned dev, qv_func *f, two_sets *t)
{
    uint32_t n = N;
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(t->ba2), QV_BUF(t->bb2),
                                                  QV_BUF(t->bo2), QV_VAL(n) }, 4), 0);
    qv_device_info di;
    for (int ms = 0; ms < 10000; ms++) {
        assert_int_equal(qv_device_get(rt, dev, &di), 0);
        if (!di.healthy)
            break;
        usleep(1000);
    }
    assert_false(di.healthy);
    usleep(100 * 1000); /* its copies dropped meanwhile */
    atomic_store(&g_go, 1);
    assert_int_equal(qv_wait_all(rt), 0);
    qv__fault_set(NULL, 0, 0, 0);
}

static void failed_board_copy_stays_off_a_written_buffer(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_then_fill");
    qv_func *fill;
    qv_arg_desc d[] = {QV_ARG_BUF("out", QV_W)};
    assert_int_equal(qv_func_create(rt, "fill7", d, 1, &fill), 0);
    assert_int_equal(qv_func_set_cpu(fill, cpu_fill7), 0);
    static two_sets t;
    two_sets_open(rt, f, &t);
    float *out = t.out, *o2 = t.o2;
    qv_buf *ba = t.ba, *bb = t.bb, *bo = t.bo, *ba2 = t.ba2, *bb2 = t.bb2, *bo2 = t.bo2;
    start_fill7(rt, fill, bo); /* out's only copy is on the board */
    fail_board_then_go(rt, dev, f, &t);
    assert_int_equal(qv_buf_unregister(bo), 0);
    for (int i = 0; i < N; i++)
        if (out[i] != 7)
            fail_msg("out[%d] = %g: the failed board's old copy came home over the "
                     "task that wrote 7", i, out[i]);
    assert_int_equal(qv_buf_unregister(ba), 0);
    assert_int_equal(qv_buf_unregister(bb), 0);
    unregister3(ba2, bb2, bo2);
    for (int i = 0; i < N; i++)
        assert_true(o2[i] == (float)i + 2);
    qv_runtime_destroy(rt);
}

static void cpu_look(const qv_call *c)
{
    memcpy(c->ptr[1], c->ptr[0], c->size[0] < c->size[1] ? c->size[0] : c->size[1]);
}

/* The same while later calls wait behind the writer: a reader of what it
 * writes, then another writer, the buffer's last. Its last writer waits,
 * so it did not supersede the board's copy, which came home over what the
 * running writer had written, and the reader saw the board's old data
 * (adversarial review: ThreadSanitizer saw it in test_fuse). A writer on
 * the host makes the host's copy the valid one as it starts. */
static void failed_board_copy_stays_off_a_buffer_being_written(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_then_fill_and_look");
    qv_func *fill, *look;
    qv_arg_desc d[] = {QV_ARG_BUF("out", QV_W)};
    qv_arg_desc dl[] = {QV_ARG_BUF("in", QV_R), QV_ARG_BUF("out", QV_W)};
    assert_int_equal(qv_func_create(rt, "fill7", d, 1, &fill), 0);
    assert_int_equal(qv_func_set_cpu(fill, cpu_fill7), 0);
    assert_int_equal(qv_func_create(rt, "look", dl, 2, &look), 0);
    assert_int_equal(qv_func_set_cpu(look, cpu_look), 0);
    static two_sets t;
    two_sets_open(rt, f, &t);
    static float seen[N];
    qv_buf *bs;
    assert_int_equal(qv_buf_register(rt, seen, sizeof seen, &bs), 0);
    start_fill7(rt, fill, t.bo); /* out's only copy is on the board */
    assert_int_equal(qv_submit(rt, look, (qv_arg[]){ QV_BUF(t.bo), QV_BUF(bs) }, 2), 0);
    assert_int_equal(qv_submit(rt, fill, (qv_arg[]){ QV_BUF(t.bo) }, 1), 0);
    fail_board_then_go(rt, dev, f, &t);
    assert_int_equal(qv_buf_unregister(bs), 0);
    for (int i = 0; i < N; i++)
        if (seen[i] != 7)
            fail_msg("seen[%d] = %g: the failed board's old copy came home over the "
                     "task that wrote 7, before the task that read it", i, seen[i]);
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    assert_int_equal(qv_buf_unregister(t.ba), 0);
    assert_int_equal(qv_buf_unregister(t.bb), 0);
    unregister3(t.ba2, t.bb2, t.bo2);
    qv_runtime_destroy(rt);
}


static void cpu_w_then_r(const qv_call *c)
{
    float *o = c->ptr[0];
    const float *x = c->ptr[1];
    for (size_t i = 0; i < c->size[0] / sizeof *o; i++)
        o[i] = 100 + x[i];
}

/* A CPU task writes out (its only copy on the board) and reads x (on the
 * board only too), which cannot come home: the task fails after out's
 * acquire, and out keeps its data, the board's. (Review finding: with the
 * host's copy made the valid one at the acquire, out fell back to the
 * host's older data.) */
static void failed_cpu_writer_keeps_the_boards_copy(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = board_vadd(rt, "vadd_then_fail");
    static two_sets t;
    two_sets_open(rt, f, &t); /* out = i + 2 on the board only; host -1 */
    uint32_t n = N;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(t.ba2), QV_BUF(t.bb2),
                                                  QV_BUF(t.bo2), QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_wait_all(rt), 0); /* o2 on the board only */
    qv_func *w;
    qv_arg_desc d[] = {QV_ARG_BUF("o", QV_W), QV_ARG_BUF("x", QV_R)};
    assert_int_equal(qv_func_create(rt, "w_then_r", d, 2, &w), 0);
    assert_int_equal(qv_func_set_cpu(w, cpu_w_then_r), 0);
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    assert_int_equal(qv_submit(rt, w, (qv_arg[]){ QV_BUF(t.bo), QV_BUF(t.bo2) }, 2), 0);
    int rc = qv_wait_all(rt);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    assert_true(qv_buf_wait(t.bo) < 0); /* the failure, once */
    assert_int_equal(qv_buf_unregister(t.bo), 0);
    for (int i = 0; i < N; i++)
        if (t.out[i] != (float)i + 2)
            fail_msg("out[%d] = %g, not its old data %g: the failed writer's buffer lost "
                     "the board's copy", i, t.out[i], (float)i + 2);
    qv_buf_unregister(t.ba);
    qv_buf_unregister(t.bb);
    unregister3(t.ba2, t.bb2, t.bo2);
    qv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_that_ran_nowhere_is_reported),
        cmocka_unit_test(a_task_on_a_never_written_input_fails_too),
        cmocka_unit_test(board_returns_to_service),
        cmocka_unit_test(board_back_after_a_long_run_ends),
        cmocka_unit_test(failed_board_keeps_no_copies),
        cmocka_unit_test(transient_read_failure_loses_nothing),
        cmocka_unit_test(unreadable_copy_fails_the_reader_not_its_device),
        cmocka_unit_test(unregister_while_a_failed_board_loses_the_copy),
        cmocka_unit_test(readers_of_a_lost_copy_fail),
        cmocka_unit_test(writer_that_runs_nowhere_keeps_the_boards_copy),
        cmocka_unit_test(writer_run_elsewhere_replaces_a_lost_copy),
        cmocka_unit_test(writer_queued_behind_a_failure_keeps_the_boards_copy),
        cmocka_unit_test(failed_call_leaves_its_mask_for_another_accelerator),
        cmocka_unit_test(mask_set_under_a_waiting_call_loses_nothing),
        cmocka_unit_test(failed_board_copy_stays_off_a_written_buffer),
        cmocka_unit_test(failed_board_copy_stays_off_a_buffer_being_written),
        cmocka_unit_test(failed_cpu_writer_keeps_the_boards_copy),
        cmocka_unit_test(build_error_keeps_its_cause),
        cmocka_unit_test(opencl_arity_is_checked),
        cmocka_unit_test(fpga_binding_is_checked),
        cmocka_unit_test(short_buffers_stay_off_the_board),
        cmocka_unit_test(calls_past_the_limits_stay_off_the_board),
        cmocka_unit_test(board_failing_mid_run_is_not_applied_twice),
        cmocka_unit_test(catalog_unlike_its_xclbin_is_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
