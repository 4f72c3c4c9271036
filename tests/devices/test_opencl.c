/*
 * test_opencl.c - the OpenCL backend and what the core does around it:
 * results equal the CPU's, data moves only when needed and comes home on
 * unregister, placement tries each device and learns, and every fault (a
 * build error, a failed allocation, a failed launch) ends with the task
 * done on the CPU and the right result, and the program's signal handlers
 * stay its own. Runs on PoCL in CI; exits 77 where no OpenCL device
 * exists.
 */
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>

#include "core/internal.h"
#include "devices/device.h"
#include "helper.h"
#include "quiver.h"

#define N 4096

static const char *src =
    "__kernel void vadd(__global const float *a, __global const float *b,\n"
    "                   __global float *c, uint n)\n"
    "{ size_t i = get_global_id(0); if (i < n) c[i] = a[i] + b[i]; }\n"
    "__kernel void scale(__global float *x, float k, uint n)\n"
    "{ size_t i = get_global_id(0); if (i < n) x[i] = x[i] * k + 1.0f; }\n";

static const char *broken_src = "__kernel void vadd(__global float *a) { a[0] = oops; }\n";

static unsigned range_arg3(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const unsigned *)c->ptr[3];
    return 1;
}
static unsigned range_arg2(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const unsigned *)c->ptr[2];
    return 1;
}

static void cpu_vadd(const qv_call *c)
{
    const float *a = c->ptr[0], *b = c->ptr[1];
    float *o = c->ptr[2];
    unsigned n = *(const unsigned *)c->ptr[3];
    for (unsigned i = 0; i < n; i++)
        o[i] = a[i] + b[i];
}
static void cpu_scale(const qv_call *c)
{
    float *x = c->ptr[0];
    float k = *(const float *)c->ptr[1];
    unsigned n = *(const unsigned *)c->ptr[2];
    for (unsigned i = 0; i < n; i++)
        x[i] = x[i] * k + 1.0f;
}

static qv_runtime *rt;
static qv_func *vadd, *scale;

static int setup(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    if (qv_runtime_create(&o, &rt))
        return -1;
    qv_arg_desc dv[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("c", QV_W), QV_ARG_SCALAR("n", unsigned) };
    qv_arg_desc ds[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("k", float),
                         QV_ARG_SCALAR("n", unsigned) };
    qv_opencl_impl iv = { src, "vadd", NULL, range_arg3 };
    qv_opencl_impl is = { src, "scale", "-cl-fast-relaxed-math", range_arg2 };
    if (qv_func_create(rt, "vadd", dv, 4, &vadd) || qv_func_set_cpu(vadd, cpu_vadd) ||
        qv_func_set_opencl(vadd, &iv) || qv_func_create(rt, "scale", ds, 3, &scale) ||
        qv_func_set_cpu(scale, cpu_scale) || qv_func_set_opencl(scale, &is))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qv__fault_set(NULL, 0, 0, 0);
    qv_runtime_destroy(rt);
    return 0;
}

static void device_info(unsigned idx, qv_device_info *di)
{
    assert_int_equal(qv_device_get(rt, idx, di), 0);
}

static void fill(float *v, float base)
{
    for (int i = 0; i < N; i++)
        v[i] = base + (float)(i % 97);
}

/* Runs vadd restricted by `where`; checks the sum. */
static void vadd_on(unsigned where)
{
    static float a[N], b[N], c[N];
    fill(a, 1);
    fill(b, 2);
    memset(c, 0, sizeof c);
    qv_buf *ba, *bb, *bc;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, c, sizeof c, &bc), 0);
    assert_int_equal(qv_func_set_where(vadd, where), 0);
    unsigned n = N;
    assert_int_equal(qv_submit(rt, vadd, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb), QV_BUF(bc),
                                                     QV_VAL(n) }, 4), 0);
    assert_int_equal(qv_buf_unregister(bc), 0); /* brings c home */
    for (int i = 0; i < N; i++)
        assert_true(c[i] == a[i] + b[i]);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_func_set_where(vadd, 0);
}

static void runs_on_the_device(void **state)
{
    (void)state;
    qv_device_info di;
    device_info(1, &di);
    assert_int_equal(di.cls, QV_CLASS_GPU);
    assert_string_equal(di.backend, "opencl");
    assert_true(di.healthy);
    vadd_on(1u << QV_CLASS_GPU);
    device_info(1, &di);
    assert_int_equal(di.tasks, 1);
    assert_int_equal(di.bytes_to, 2 * N * sizeof(float));   /* a and b, not c */
    assert_int_equal(di.bytes_from, N * sizeof(float));     /* c, on unregister */
    device_info(0, &di);
    assert_int_equal(di.tasks, 0);
}

/* A chain on the device copies in once and out once; switching between the
 * CPU and the device moves the data each time, and the result is right. */
static void data_moves_only_when_needed(void **state)
{
    (void)state;
    static float x[N];
    fill(x, 0);
    float ref[N];
    memcpy(ref, x, sizeof x);
    qv_buf *bx;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
    qv_device_info d0, d1;
    device_info(1, &d0);
    float k = 0.5f;
    unsigned n = N;
    for (int step = 0; step < 12; step++) {
        /* Four on the device, two on the CPU, and so on. */
        unsigned where = (step % 6) < 4 ? 1u << QV_CLASS_GPU : 1u << QV_CLASS_CPU;
        assert_int_equal(qv_func_set_where(scale, where), 0);
        assert_int_equal(qv_submit(rt, scale, (qv_arg[]){ QV_BUF(bx), QV_VAL(k), QV_VAL(n) },
                                   3), 0);
        assert_int_equal(qv_buf_wait(bx), 0);
        for (int i = 0; i < N; i++)
            ref[i] = ref[i] * k + 1.0f;
    }
    assert_int_equal(qv_buf_unregister(bx), 0);
    qv_func_set_where(scale, 0);
    for (int i = 0; i < N; i++)
        assert_true(fabsf(x[i] - ref[i]) <= 1e-5f * fabsf(ref[i]) + 1e-6f);
    device_info(1, &d1);
    assert_int_equal(d1.tasks - d0.tasks, 8);
    /* In: before steps 0 and 6 (the device copy stays valid while only the
     * host reads). Out: at each wait after a device step, so 8 times. */
    assert_int_equal(d1.bytes_to - d0.bytes_to, 2 * sizeof x);
    assert_int_equal(d1.bytes_from - d0.bytes_from, 8 * sizeof x);
}

static void placement_learns_both(void **state)
{
    (void)state;
    static float a[N], b[N], c[64][N];
    fill(a, 1);
    fill(b, 3);
    qv_buf *ba, *bb, *bc[64];
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    unsigned n = N;
    qv_device_info g0, c0, g1, c1;
    device_info(1, &g0);
    device_info(0, &c0);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(qv_buf_register(rt, c[i], sizeof c[i], &bc[i]), 0);
        assert_int_equal(qv_submit(rt, vadd, (qv_arg[]){ QV_BUF(ba), QV_BUF(bb),
                                                         QV_BUF(bc[i]), QV_VAL(n) }, 4), 0);
    }
    for (int i = 0; i < 64; i++)
        assert_int_equal(qv_buf_unregister(bc[i]), 0);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < N; j++)
            assert_true(c[i][j] == a[j] + b[j]);
    device_info(1, &g1);
    device_info(0, &c1);
    assert_int_equal((g1.tasks - g0.tasks) + (c1.tasks - c0.tasks), 64);
    /* Both were tried, so both have models now. */
    assert_true(g1.tasks > g0.tasks);
    assert_true(c1.tasks > c0.tasks);
    double est;
    assert_int_equal(qv_perfmodel_estimate(vadd, QV_CLASS_GPU, 3 * sizeof a, &est), 0);
    assert_int_equal(qv_perfmodel_estimate(vadd, QV_CLASS_CPU, 3 * sizeof a, &est), 0);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
}

/* Injected faults: each ends with the task done on the CPU, right result. */
static void fault(int op, int err, int healthy_after)
{
    qv_device_info d0, d1;
    device_info(1, &d0);
    qv__fault_set("opencl", op, 0, err);
    vadd_on(1u << QV_CLASS_GPU);
    device_info(1, &d1);
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_int_equal(d1.healthy, healthy_after);
}

static void alloc_failure(void **state)
{
    (void)state;
    fault(QV_FAULT_ALLOC, QV_ENOMEM, 1);
    /* The device still works afterwards. */
    qv_device_info d0, d1;
    device_info(1, &d0);
    vadd_on(1u << QV_CLASS_GPU);
    device_info(1, &d1);
    assert_int_equal(d1.tasks - d0.tasks, 1);
}

static void write_failure(void **state)
{
    (void)state;
    fault(QV_FAULT_WRITE, QV_EIO, 0);
}

static void launch_failure(void **state)
{
    (void)state;
    fault(QV_FAULT_LAUNCH, QV_EIO, 0);
    /* Out of service: the next task goes to the CPU straight away. */
    qv_device_info d0, d1;
    device_info(1, &d0);
    vadd_on(0);
    device_info(1, &d1);
    assert_int_equal(d1.tasks, d0.tasks);
}

static void build_error(void **state)
{
    (void)state;
    qv_func *bad;
    qv_arg_desc dv[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("c", QV_W), QV_ARG_SCALAR("n", unsigned) };
    qv_opencl_impl ib = { broken_src, "vadd", NULL, range_arg3 };
    assert_int_equal(qv_func_create(rt, "bad_vadd", dv, 4, &bad), 0);
    qv_func_set_cpu(bad, cpu_vadd);
    assert_int_equal(qv_func_set_opencl(bad, &ib), 0);
    qv_func *keep = vadd;
    vadd = bad;
    qv_device_info d0, d1;
    device_info(1, &d0);
    vadd_on(1u << QV_CLASS_GPU);
    vadd_on(1u << QV_CLASS_GPU);
    device_info(1, &d1);
    vadd = keep;
    /* The first try failed to build; the pair is never tried again. */
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_true(d1.healthy);
}

static void program_cache_on_disk(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/quiver/opencl/*.bin >/dev/null 2>&1", qv_test_scratch());
    assert_int_equal(system(cmd), 0);
}

static void bad_impls(void **state)
{
    (void)state;
    qv_opencl_impl none = { NULL, "k", NULL, range_arg2 };
    assert_int_equal(qv_func_set_opencl(scale, &none), QV_EINVAL);
    assert_int_equal(qv_func_set_where(scale, 1u << 9), QV_EINVAL);
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, 99, &di), QV_ENOENT);
    /* Restricted to a class nothing here has: refused at submission. */
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "fpga_only", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_vadd);
    qv_func_set_where(f, 1u << QV_CLASS_FPGA);
    assert_int_equal(qv_submit(rt, f, NULL, 0), QV_ENODEV);
}


/* ---- what the adversarial review of the backend found ------------------ */

static unsigned range_n(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const unsigned *)c->ptr[1];
    return 1;
}
static void cpu_add1(const qv_call *c)
{
    float *x = c->ptr[0];
    for (unsigned i = 0; i < *(const unsigned *)c->ptr[1]; i++)
        x[i] += 1.0f;
}

/* f(x, n) on the GPU only, once, on 256 floats of 0; returns x[0] and
 * x[255] summed (or -1 when the wait failed). */
static float run_x(qv_runtime *r, qv_func *f, unsigned where)
{
    static float x[256];
    memset(x, 0, sizeof x);
    qv_buf *b;
    assert_int_equal(qv_buf_register(r, x, sizeof x, &b), 0);
    assert_int_equal(qv_func_set_where(f, where), 0);
    unsigned n = 256;
    assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(b), QV_VAL(n) }, 2), 0);
    int rc = qv_wait_all(r);
    qv_buf_unregister(b);
    return rc ? -1.0f : x[0] + x[255];
}

static qv_func *func_x(qv_runtime *r, const char *name, const char *source, const char *kernel,
                       const char *options, bool cpu)
{
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", unsigned) };
    qv_func *f;
    assert_int_equal(qv_func_create(r, name, d, 2, &f), 0);
    if (cpu)
        assert_int_equal(qv_func_set_cpu(f, cpu_add1), 0);
    qv_opencl_impl im = { source, kernel, options, range_n };
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    return f;
}

/* A kernel taking a value where the function passes a buffer, or a
 * pointer where it passes a value: refused when built (the driver took the
 * cl_mem for a number, or crashed in clSetKernelArg), run on the CPU. */
static void arguments_of_another_kind(void **state)
{
    (void)state;
    static const char *ptr_for_scalar =
        "__kernel void k(__global float *x, __global float *n) { x[get_global_id(0)] += 1.0f; }\n";
    static const char *scalar_for_buf =
        "__kernel void k(ulong x, uint n) { }\n";
    /* An image is global memory too, but no buffer: bound as one, PoCL
     * crashed in the launch. */
    static const char *image_for_buf = "__kernel void k(image2d_t x, uint n) { }\n";
    const char *srcs[3] = {ptr_for_scalar, scalar_for_buf, image_for_buf};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "kind%d", i);
        qv_func *f = func_x(rt, name, srcs[i], "k", NULL, true);
        qv_device_info d0, d1;
        device_info(1, &d0);
        assert_true(run_x(rt, f, 1u << QV_CLASS_GPU | 1u << QV_CLASS_CPU) == 2.0f);
        assert_true(run_x(rt, f, 1u << QV_CLASS_GPU | 1u << QV_CLASS_CPU) == 2.0f);
        device_info(1, &d1);
        assert_int_equal(d1.failed - d0.failed, 1); /* refused once, never sent again */
        assert_int_equal(d1.tasks, d0.tasks);
        assert_true(d1.healthy);
    }
}

/* qv_func_set_opencl again: the next call runs the new code, also after
 * the old one failed to build there. */
static void set_again_builds_the_new_code(void **state)
{
    (void)state;
#define ADD(v) "__kernel void k(__global float *x, uint n) " \
               "{ size_t i = get_global_id(0); if (i < n) x[i] += " v "; }\n"
    static const char *s1 = ADD("1.0f"), *s100 = ADD("100.0f");
    unsigned gpu = 1u << QV_CLASS_GPU;
    qv_func *f = func_x(rt, "again", s1, "k", NULL, false);
    assert_true(run_x(rt, f, gpu) == 2.0f);
    qv_opencl_impl im = { s100, "k", NULL, range_n };
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    assert_true(run_x(rt, f, gpu) == 200.0f);

    qv_func *g = func_x(rt, "fixed", broken_src, "k", NULL, false);
    assert_true(run_x(rt, g, gpu) == -1.0f); /* no build, no CPU: QV_ENODEV */
    assert_non_null(strstr(qv_last_error(), "oops"));
    assert_int_equal(qv_func_set_opencl(g, &im), 0);
    assert_true(run_x(rt, g, gpu) == 200.0f);
    qv_device_info di;
    device_info(1, &di);
    assert_true(di.healthy);
}

/* A build log of many kilobytes still names the first error. */
static void long_build_log(void **state)
{
    (void)state;
    char *s = malloc(64 * 1024);
    assert_non_null(s);
    size_t n = (size_t)sprintf(s, "__kernel void k(__global float *x, uint n) {\n");
    for (int i = 0; i < 400; i++)
        n += (size_t)sprintf(s + n, "  x[%d] = undeclared_%d;\n", i, i);
    sprintf(s + n, "}\n");
    qv_func *f = func_x(rt, "noisy", s, "k", NULL, false);
    assert_true(run_x(rt, f, 1u << QV_CLASS_GPU) == -1.0f);
    assert_null(strstr(qv_last_error(), "(no build log)"));
    assert_non_null(strstr(qv_last_error(), "undeclared_0"));
    free(s);
}

/* What the range function gives is the function's doing, for one call:
 * the device stays in service, the function's other calls still run
 * there, and a partial local size is refused, not handed to the driver
 * (PoCL aborted the process). */
static unsigned range_dims(const qv_call *c, size_t g[3], size_t l[3])
{
    unsigned how = *(const unsigned *)c->ptr[1];
    g[0] = g[1] = 16;
    l[0] = 4;
    l[1] = 0;
    return how; /* 0 or 4: no such range; 2: local sizes half set */
}

static void bad_ranges_leave_the_device_in_service(void **state)
{
    (void)state;
    static const char *src2 = "__kernel void k(__global float *x, uint n) { }\n";
    unsigned hows[3] = { 0, 4, 2 };
    for (int i = 0; i < 3; i++) {
        qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", unsigned) };
        qv_func *f;
        char name[16];
        snprintf(name, sizeof name, "range%d", i);
        assert_int_equal(qv_func_create(rt, name, d, 2, &f), 0);
        qv_opencl_impl im = { src2, "k", NULL, range_dims };
        assert_int_equal(qv_func_set_opencl(f, &im), 0);
        float x[4];
        qv_buf *b;
        assert_int_equal(qv_buf_register(rt, x, sizeof x, &b), 0);
        assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b), QV_VAL(hows[i]) }, 2), 0);
        assert_int_equal(qv_wait_all(rt), QV_ENODEV);
        assert_non_null(strstr(qv_last_error(), i < 2 ? "dimensions" : "local sizes"));
        /* A call whose range is right runs there (it has no other place;
         * b holds nothing valid now: its writer did not run) */
        float y[4] = {0};
        qv_buf *yb;
        assert_int_equal(qv_buf_register(rt, y, sizeof y, &yb), 0);
        unsigned one = 1;
        assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(yb), QV_VAL(one)}, 2), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        qv_buf_unregister(yb);
        qv_buf_unregister(b);
        qv_device_info di;
        device_info(1, &di);
        assert_true(di.healthy);
    }
    vadd_on(1u << QV_CLASS_GPU); /* still runs there */
}

/* More local memory than the device has: refused when built (PoCL
 * aborted the process at launch), run on the CPU. */
static void too_much_local_memory(void **state)
{
    (void)state;
    static const char *big =
        "__kernel void k(__global float *x, uint n) { __local float big[1 << 24];\n"
        "  size_t i = get_global_id(0); big[get_local_id(0)] = x[i];\n"
        "  barrier(CLK_LOCAL_MEM_FENCE); x[i] = big[get_local_id(0)] + 1.0f; }\n";
    qv_func *f = func_x(rt, "biglocal", big, "k", NULL, true);
    qv_device_info d0, d1;
    device_info(1, &d0);
    assert_true(run_x(rt, f, 1u << QV_CLASS_GPU | 1u << QV_CLASS_CPU) == 2.0f);
    device_info(1, &d1);
    assert_int_equal(d1.tasks, d0.tasks);
    assert_true(d1.healthy);
}

/* One run of f (its source from a header under dir) in a runtime of its
 * own: x[0] + x[255]. */
static float run_fresh(const char *source, const char *options)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    qv_func *f = func_x(r, "fresh", source, "k", options, false);
    float v = run_x(r, f, 1u << QV_CLASS_GPU);
    qv_runtime_destroy(r);
    return v;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The disk cache: a source that #includes a header is not served from it
 * after the header changed; a damaged or foreign file in it is rebuilt,
 * not handed to the driver (PoCL crashed on a truncated one). */
static void disk_cache_stays_right(void **state)
{
    (void)state;
    char dir[512], hdr[600], opts[600], cmd[1400];
    snprintf(dir, sizeof dir, "%s/inc", qv_test_scratch());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(hdr, sizeof hdr, "%s/val.h", dir);
    snprintf(opts, sizeof opts, "-I %s", dir);
    static const char *inc = "#include \"val.h\"\n"
                             "__kernel void k(__global float *x, uint n) "
                             "{ size_t i = get_global_id(0); if (i < n) x[i] = VAL; }\n";
    write_file(hdr, "#define VAL 1.0f\n");
    assert_true(run_fresh(inc, opts) == 2.0f);
    write_file(hdr, "#define VAL 7.0f\n");
    assert_true(run_fresh(inc, opts) == 14.0f);

    static const char *plain = "__kernel void k(__global float *x, uint n) "
                               "{ size_t i = get_global_id(0); if (i < n) x[i] = 3.0f; }\n";
    assert_true(run_fresh(plain, NULL) == 6.0f); /* now cached */
    const char *damage[] = {
        "truncate -s 2000 \"$f\"",
        "head -c 100 /dev/urandom > \"$f\"",
        "truncate -s $(($(stat -c %s \"$f\") / 2)) \"$f\"",
    };
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "for f in '%s'/quiver/opencl/*.bin; do %s; done",
                 qv_test_scratch(), damage[i]);
        assert_int_equal(system(cmd), 0);
        assert_true(run_fresh(plain, NULL) == 6.0f);
    }
    /* A FIFO where a cached file was: rebuilt, not waited on (it held the
     * device's thread for ever). */
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/quiver/opencl/*.bin; do rm -f \"$f\" && mkfifo \"$f\"; done",
             qv_test_scratch());
    assert_int_equal(system(cmd), 0);
    assert_true(run_fresh(plain, NULL) == 6.0f);
    /* An #include the directive parse missed (a BOM before it, here): the
     * header's change is seen all the same (the stale binary ran). */
    static const char *inc_bom =
        "\xef\xbb\xbf#include \"val.h\"\n"
        "__kernel void k(__global float *x, uint n) "
        "{ size_t i = get_global_id(0); if (i < n) x[i] = VAL; }\n";
    write_file(hdr, "#define VAL 3.0f\n");
    assert_true(run_fresh(inc_bom, opts) == 6.0f);
    write_file(hdr, "#define VAL 5.0f\n");
    assert_true(run_fresh(inc_bom, opts) == 10.0f);
    /* Build options past 4 KiB, whole (a -D at their end was cut off). */
    static const char *ifndef =
        "#ifndef VAL\n#define VAL 1.0f\n#endif\n"
        "__kernel void k(__global float *x, uint n) "
        "{ size_t i = get_global_id(0); if (i < n) x[i] = VAL; }\n";
    char *longopts = malloc(4200);
    assert_non_null(longopts);
    memset(longopts, ' ', 4100);
    strcpy(longopts + 4100, "-DVAL=7777.0f");
    assert_true(run_fresh(ifndef, longopts) == 15554.0f);
    free(longopts);
}

/* A range of 2^32 work-groups or more: this call runs elsewhere (PoCL
 * died of a division by zero); the device stays in service. */
static unsigned range_huge(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    g[0] = (size_t)1 << 32;
    l[0] = 1;
    return 1;
}

static void too_many_work_groups(void **state)
{
    (void)state;
    static const char *s1 = "__kernel void k(__global float *x, uint n) { }\n";
    qv_arg_desc d[] = {QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", unsigned)};
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "huge", d, 2, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_add1), 0);
    qv_opencl_impl im = {s1, "k", NULL, range_huge};
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    qv_device_info d0, d1;
    device_info(1, &d0);
    assert_true(run_x(rt, f, 1u << QV_CLASS_GPU) == 2.0f); /* on the CPU */
    device_info(1, &d1);
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_true(d1.healthy);
}

/* A range of no work items for a call with an output (QV_W) to write: the
 * call runs elsewhere, as its CPU implementation has it, and the device
 * stays in service. Run there, the output's never written device copy
 * came home, and the call succeeded: 1023 of 1024 values wrong
 * (adversarial testing). A call with nothing to write may be empty. */
static unsigned range_none(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    (void)l;
    g[0] = 0;
    return 1;
}

static void cpu_fill7(const qv_call *c)
{
    float *y = c->ptr[0];
    for (size_t i = 0; i < c->size[0] / sizeof *y; i++)
        y[i] = 7.0f;
}

static void empty_range_with_an_output_runs_elsewhere(void **state)
{
    (void)state;
    static const char *s1 = "__kernel void k(__global float *y) { y[0] = 7.0f; }\n";
    qv_arg_desc d[] = {QV_ARG_BUF("y", QV_W)};
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "empty_out", d, 1, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_fill7), 0);
    qv_opencl_impl im = {s1, "k", NULL, range_none};
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    static float y[1024];
    memset(y, 0, sizeof y);
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &b), 0);
    qv_device_info d0, d1;
    device_info(1, &d0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(b)}, 1), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(b), 0);
    for (int i = 0; i < 1024; i++)
        if (y[i] != 7.0f)
            fail_msg("y[%d] = %g: the empty run's output came home", i, (double)y[i]);
    device_info(1, &d1);
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_true(d1.healthy);
    assert_int_equal(qv_buf_unregister(b), 0);
}

/* A run whose wait fails: the task is done on the CPU, the device leaves
 * service (the fault could not be injected into OpenCL before). */
static void wait_failure(void **state)
{
    (void)state;
    fault(QV_FAULT_WAIT, QV_EIO, 0);
}

/* A copy home that keeps failing: unregister says which device holds the
 * copy and why (it said "the device ... failed" of a device in service). */
static void unregister_names_the_unreadable_copy(void **state)
{
    (void)state;
    static float a[N], b[N], c[N];
    fill(a, 1);
    fill(b, 2);
    qv_buf *ba, *bb, *bc;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, c, sizeof c, &bc), 0);
    assert_int_equal(qv_func_set_where(vadd, 1u << QV_CLASS_GPU), 0);
    unsigned n = N;
    assert_int_equal(
        qv_submit(rt, vadd, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bc), QV_VAL(n)}, 4),
        0);
    assert_int_equal(qv_wait_all(rt), 0); /* c's only copy on the GPU */
    qv__fault_set_n("opencl", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    int rc = qv_buf_unregister(bc);
    char why[512];
    snprintf(why, sizeof why, "%s", qv_last_error());
    qv__fault_set(NULL, 0, 0, 0);
    assert_int_equal(rc, QV_EIO);
    if (!strstr(why, "holds the only valid copy") || !strstr(why, "(3 tries)"))
        fail_msg("unregister's error: %s", why);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_func_set_where(vadd, 0);
}

/* A call whose work-group does not fit (global 100, local 64) runs
 * elsewhere; the function's other calls still go to the device (one such
 * call took the function off the device for good). */
static unsigned range_local64(const qv_call *c, size_t g[3], size_t l[3])
{
    g[0] = *(const unsigned *)c->ptr[1];
    l[0] = 64;
    return 1;
}

static void work_group_misfit_is_per_call(void **state)
{
    (void)state;
    static const char *src64 = "__kernel void k(__global float *x, uint n) "
                               "{ size_t i = get_global_id(0); if (i < n) x[i] += 1.0f; }\n";
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", unsigned) };
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "wg", d, 2, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_add1), 0);
    qv_opencl_impl im = { src64, "k", NULL, range_local64 };
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU | 1u << QV_CLASS_CPU), 0);
    static float x[256];
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &b), 0);
    qv_device_info d0, d1, d2;
    device_info(1, &d0);
    unsigned n100 = 100, n128 = 128;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b), QV_VAL(n100) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    device_info(1, &d1);
    if (d1.failed == d0.failed) { /* the driver took it (non-uniform work-groups) */
        qv_buf_unregister(b);
        skip();
    }
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b), QV_VAL(n128) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    device_info(1, &d2);
    assert_int_equal(d2.tasks - d1.tasks, 1);
    assert_true(d2.healthy);
    assert_int_equal(qv_buf_unregister(b), 0);
    for (int i = 0; i < 256; i++)
        assert_true(x[i] == (i < 100 ? 2.0f : i < 128 ? 1.0f : 0.0f));
}

/* Runtimes created at once from several threads each see the OpenCL
 * device (PoCL's first listing answered CL_DEVICE_NOT_FOUND to all but
 * one): done first in main, before anything else listed the devices. */
#define AT_ONCE 3
static unsigned at_once[AT_ONCE];
static pthread_barrier_t at_once_bar;
static sem_t at_once_done;

static void *create_at_once(void *arg)
{
    unsigned *out = arg;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *r;
    pthread_barrier_wait(&at_once_bar);
    if (qv_runtime_create(&o, &r) == 0) {
        *out = qv_device_count(r);
        qv_runtime_destroy(r);
    }
    /* Never exits: the thread that first listed PoCL's devices got an
     * alternate signal stack from the LLVM inside it, which AddressSanitizer
     * fails to unmap when the thread ends. The process's exit ends it. */
    sem_post(&at_once_done);
    for (;;)
        pause();
    return NULL;
}

static unsigned ndev_probe;

static void runtimes_created_at_once(void **state)
{
    (void)state;
    for (int i = 0; i < AT_ONCE; i++)
        assert_int_equal(at_once[i], ndev_probe);
}

/* The program's signal dispositions, set before any runtime exists: PoCL's
 * LLVM installs handlers of its own on 15 signals when PoCL first probes
 * a device or builds a kernel; the runtime puts the program's back. */
static void on_term(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
}

static void on_usr2(int sig) { (void)sig; }

static void set_program_handlers(void)
{
    struct sigaction t = {0}, u = {0}, h = {0};
    t.sa_sigaction = on_term;
    t.sa_flags = SA_SIGINFO | SA_RESTART;
    u.sa_handler = on_usr2;
    h.sa_handler = SIG_IGN;
    if (sigaction(SIGTERM, &t, NULL) || sigaction(SIGUSR2, &u, NULL) ||
        sigaction(SIGHUP, &h, NULL) || signal(SIGINT, SIG_DFL) == SIG_ERR)
        abort();
}

static void program_handlers_stay(void **state)
{
    (void)state;
    vadd_on(1u << QV_CLASS_GPU); /* a build on PoCL */
    struct sigaction a;
    assert_int_equal(sigaction(SIGTERM, NULL, &a), 0);
    assert_true((a.sa_flags & SA_SIGINFO) && a.sa_sigaction == on_term);
    assert_true(a.sa_flags & SA_RESTART);
    assert_int_equal(sigaction(SIGUSR2, NULL, &a), 0);
    assert_true(!(a.sa_flags & SA_SIGINFO) && a.sa_handler == on_usr2);
    assert_int_equal(sigaction(SIGHUP, NULL, &a), 0);
    assert_true(a.sa_handler == SIG_IGN);
    assert_int_equal(sigaction(SIGINT, NULL, &a), 0);
    assert_true(a.sa_handler == SIG_DFL);
}

static int range_waits_rc[3];
static qv_buf *range_waits_buf;

/* A range function that waits: qv_wait_all, qv_buf_wait on the task's own
 * buffer, qv_buf_acquire. */
static unsigned range_waits(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const unsigned *)c->ptr[1];
    range_waits_rc[0] = qv_wait_all(rt);
    range_waits_rc[1] = qv_buf_wait(range_waits_buf);
    range_waits_rc[2] = qv_buf_acquire(range_waits_buf, QV_R);
    return 1;
}

/* The range function runs on the device's thread for the task: a wait
 * there is refused with QV_EDEADLK as from a task's body (adversarial
 * finding: it hung), and the task runs. */
static void waits_in_a_range_function_are_refused(void **state)
{
    (void)state;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", unsigned) };
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "range_waits", d, 2, &f), 0);
    qv_opencl_impl im = { "__kernel void k(__global float *x, uint n) "
                          "{ x[get_global_id(0)] += 1.0f; }\n", "k", NULL, range_waits };
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    static float x[64];
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &range_waits_buf), 0);
    unsigned n = 64;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(range_waits_buf), QV_VAL(n) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(range_waits_rc[i], QV_EDEADLK);
    assert_int_equal(qv_buf_unregister(range_waits_buf), 0);
    assert_true(x[0] == 1.0f && x[63] == 1.0f);
}

/* Kernels past their deadline (shortened from 30 s to 300 ms). spin adds
 * 1 to each of 16 floats, after a loop of n steps, or for ever. */
static const char *spin_src =
    "__kernel void spin(__global const float *a, __global float *y, uint n, uint "
    "forever)\n"
    "{ volatile __global float *v = y; float s = a[0];\n"
    "  if (forever) for (;;) v[16] = s;\n"
    "  for (uint i = 0; i < n; i++) s = s * 0.999999f + a[i & 15];\n"
    "  v[16] = s; for (int i = 0; i < 16; i++) y[i] = a[i] + 1.0f; }\n";

static void cpu_spin(const qv_call *c)
{
    const float *a = c->ptr[0];
    float *y = c->ptr[1];
    for (int i = 0; i < 16; i++)
        y[i] = a[i] + 1.0f;
}

static unsigned range_one(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)c;
    (void)l;
    g[0] = 1;
    return 1;
}

static qv_func *spin_func(void)
{
    qv_arg_desc d[] = {QV_ARG_BUF("a", QV_R), QV_ARG_BUF("y", QV_W),
                       QV_ARG_SCALAR("n", unsigned), QV_ARG_SCALAR("forever", unsigned)};
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "spin", d, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_spin), 0);
    qv_opencl_impl im = {spin_src, "spin", NULL, range_one};
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    return f;
}

/* c = a + b on the GPU, left there (its only copy). */
static void vadd_on_gpu(qv_buf *ba, qv_buf *bb, qv_buf *bc)
{
    unsigned n = N;
    assert_int_equal(qv_func_set_where(vadd, 1u << QV_CLASS_GPU), 0);
    assert_int_equal(
        qv_submit(rt, vadd, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bc), QV_VAL(n)}, 4),
        0);
    assert_int_equal(qv_wait_all(rt), 0);
    qv_func_set_where(vadd, 0);
}

/* spin(c, y, n, forever) past its deadline: the call runs on the CPU,
 * reading c, whose only copy is on the GPU, while the kernel goes on
 * there (the copy waited behind it, for ever for one that never ends),
 * and the GPU leaves service. */
static void spin_past_deadline(unsigned n, unsigned forever)
{
    static float a[N], b[N], c[N], y[17];
    fill(a, 1);
    fill(b, 2);
    qv_buf *ba, *bb, *bc, *by;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, c, sizeof c, &bc), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    vadd_on_gpu(ba, bb, bc);
    qv_func *f = spin_func();
    qv_device_info d0, d1;
    device_info(1, &d0);
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(bc), QV_BUF(by), QV_VAL(n), QV_VAL(forever)},
                  4),
        0);
    assert_int_equal(qv_wait_all(rt), 0);
    device_info(1, &d1);
    assert_int_equal(d1.failed - d0.failed, 1);
    assert_int_equal(d1.healthy, 0);
    assert_int_equal(qv_buf_unregister(by), 0);
    for (int i = 0; i < 16; i++)
        assert_true(y[i] == a[i] + b[i] + 1.0f);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_buf_unregister(bc);
}

/* The runtime of setup, whose runs' deadlines are 300 ms at least. */
static int setup_short(void **state)
{
    qv__devq_least_limit_ns = 300000000;
    return setup(state);
}

static int teardown_short(void **state)
{
    int rc = teardown(state); /* first: the runtime's threads read it */
    qv__devq_least_limit_ns = 30000000000ll; /* (also after a failed check) */
    return rc;
}

/* One that ends after all: the GPU gets a probe and is back in service. */
static void a_run_that_ends_late(void **state)
{
    (void)state;
    spin_past_deadline(1500000000u, 0); /* about 2 s on PoCL here */
    for (int i = 0; i < 600; i++) {     /* up to a minute */
        qv_device_info di;
        device_info(1, &di);
        if (di.healthy)
            return;
        vadd_on(1u << QV_CLASS_GPU); /* the probe, once due */
        struct timespec ms100 = {0, 100000000};
        nanosleep(&ms100, NULL);
    }
    fail_msg("the GPU did not come back after its late run ended");
}

/* One that never ends: the runtime's destruction returns all the same
 * (clFinish waited for it for ever); the device is left behind. Last:
 * the kernel keeps a core until the process ends. */
static void a_run_that_never_ends(void **state)
{
    (void)state;
    spin_past_deadline(0, 1);
}

/* A function of the GPU only writes y whole; its first call leaves y's
 * only copy there, its second never ends: it runs nowhere, and y is not
 * read from the GPU, where that run may still write it (the copy queue
 * beside the kernels' would read it half-written): the host's older data
 * stands, and waiting for y fails. */
static void a_hung_run_writes_nothing_home(void **state)
{
    (void)state;
    qv_arg_desc d[] = {QV_ARG_BUF("a", QV_R), QV_ARG_BUF("y", QV_W),
                       QV_ARG_SCALAR("n", unsigned), QV_ARG_SCALAR("forever", unsigned)};
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "spin_gpu", d, 4, &f), 0);
    qv_opencl_impl im = {spin_src, "spin", NULL, range_one};
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    static float a[16], y[17];
    for (int i = 0; i < 16; i++)
        a[i] = (float)i;
    qv_buf *ba, *by;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    unsigned n = 0, once = 0, forever = 1;
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(by), QV_VAL(n), QV_VAL(once)}, 4),
        0);
    assert_int_equal(qv_wait_all(rt), 0); /* y's only copy on the GPU */
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(by), QV_VAL(n), QV_VAL(forever)},
                  4),
        0);
    assert_int_not_equal(qv_wait_all(rt), 0); /* ran nowhere */
    assert_int_not_equal(qv_buf_wait(by), 0);
    for (int i = 0; i < 17; i++)
        assert_true(y[i] == 0.0f); /* the host's, not the GPU's copy */
    qv_buf_unregister(by);
    qv_buf_unregister(ba);
}

int main(void)
{
    set_program_handlers();
    setenv("XDG_CACHE_HOME", qv_test_scratch(), 1);
    setenv("QV_LOG", "0", 1); /* the injected faults warn */
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    pthread_t th[AT_ONCE];
    pthread_barrier_init(&at_once_bar, NULL, AT_ONCE);
    sem_init(&at_once_done, 0, 0);
    for (int i = 0; i < AT_ONCE; i++)
        pthread_create(&th[i], NULL, create_at_once, &at_once[i]);
    for (int i = 0; i < AT_ONCE; i++)
        sem_wait(&at_once_done);
    qv_runtime *probe;
    if (qv_runtime_create(&o, &probe) != 0)
        return 1;
    unsigned ndev = ndev_probe = qv_device_count(probe);
    qv_runtime_destroy(probe);
    if (ndev < 2) {
        printf("no OpenCL device: skipped\n");
        return QV_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(runs_on_the_device, setup, teardown),
        cmocka_unit_test_setup_teardown(program_handlers_stay, setup, teardown),
        cmocka_unit_test_setup_teardown(data_moves_only_when_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(placement_learns_both, setup, teardown),
        cmocka_unit_test_setup_teardown(alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(launch_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(build_error, setup, teardown),
        cmocka_unit_test(program_cache_on_disk),
        cmocka_unit_test_setup_teardown(bad_impls, setup, teardown),
        cmocka_unit_test(runtimes_created_at_once),
        cmocka_unit_test_setup_teardown(arguments_of_another_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(set_again_builds_the_new_code, setup, teardown),
        cmocka_unit_test_setup_teardown(long_build_log, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_ranges_leave_the_device_in_service, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(too_much_local_memory, setup, teardown),
        cmocka_unit_test(disk_cache_stays_right),
        cmocka_unit_test_setup_teardown(work_group_misfit_is_per_call, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_work_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_range_with_an_output_runs_elsewhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wait_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(unregister_names_the_unreadable_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(waits_in_a_range_function_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_run_that_ends_late, setup_short,
                                        teardown_short),
        cmocka_unit_test_setup_teardown(a_run_that_never_ends, setup_short,
                                        teardown_short),
        cmocka_unit_test_setup_teardown(a_hung_run_writes_nothing_home, setup_short,
                                        teardown_short),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
