/*
 * test_coherence.c - the host's access to registered memory across devices
 * (core/acquire.c with core/coherence.c): random programs over several
 * buffers whose functions run forced on the CPU, on OpenCL (PoCL) and on the
 * emulated FPGA board (catalog kernel vadd), with the host reading and
 * writing buffers between submissions through qv_buf_wait and
 * qv_buf_acquire / qv_buf_release; every host read and the final state are
 * compared bit for bit with the same program run sequentially.
 *
 * Runs on the embedded default platform (config/quiver.yaml). Classes that
 * are absent here (no OpenCL platform) are replaced by the CPU.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#include "devices/device.h"
#include "quiver.h"
#include "platform.h"

enum { NBUF = 6, N = 256, STEPS = 60, SEEDS = 24 };

static const char *acc_cl =
    "__kernel void acc(__global float *x, __global const float *y, uint n) {\n"
    "    size_t i = get_global_id(0);\n"
    "    if (i < n) x[i] = x[i] + y[i];\n"
    "}\n";

static void cpu_acc(const qv_call *c)
{
    float *x = c->ptr[0];
    const float *y = c->ptr[1];
    uint32_t n = *(const uint32_t *)c->ptr[2];
    for (uint32_t i = 0; i < n; i++)
        x[i] = x[i] + y[i];
}

static unsigned range_acc(const qv_call *c, size_t g[3], size_t l[3])
{
    (void)l;
    g[0] = *(const uint32_t *)c->ptr[2];
    return 1;
}

static qv_runtime *rt;
static unsigned have;            /* classes present (mask) */
static qv_func *vadd[3], *acc[2]; /* forced: cpu, gpu, fpga / cpu, gpu */

static int setup(void **state)
{
    (void)state;
    if (!(rt = qv_test_default_runtime(&have)))
        return -1;
    qv_arg_desc da[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_BUF("y", QV_R),
                         QV_ARG_SCALAR("n", uint32_t) };
    static const qv_class cls[3] = { QV_CLASS_CPU, QV_CLASS_GPU, QV_CLASS_FPGA };
    for (unsigned i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "vadd_%s", qv_class_name(cls[i]));
        qv_class c = (have & (1u << cls[i])) ? cls[i] : QV_CLASS_CPU;
        if (qv_func_create(rt, name, qv_test_vadd_sig, 4, &vadd[i]) ||
            qv_func_set_cpu(vadd[i], qv_test_cpu_vadd) ||
            qv_func_set_opencl(vadd[i], &(qv_opencl_impl){ qv_test_vadd_cl(), "vadd", NULL, qv_test_range_vadd }) ||
            qv_func_set_fpga(vadd[i], "vadd") || qv_func_set_where(vadd[i], 1u << c)) {
            fprintf(stderr, "%s: %s\n", name, qv_last_error());
            return -1;
        }
        if (i == 2)
            break;
        snprintf(name, sizeof name, "acc_%s", qv_class_name(cls[i]));
        if (qv_func_create(rt, name, da, 3, &acc[i]) || qv_func_set_cpu(acc[i], cpu_acc) ||
            qv_func_set_opencl(acc[i], &(qv_opencl_impl){ acc_cl, "acc", NULL, range_acc }) ||
            qv_func_set_where(acc[i], 1u << c))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qv_runtime_destroy(rt);
    return 0;
}

static uint64_t rng;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static float rndf(void)
{
    return (float)(rnd() % 2001) / 1000.0f - 1.0f;
}

static void check_equal(const float *got, const float *want, int seed, int step, int buf)
{
    if (memcmp(got, want, N * sizeof(float)) != 0) {
        for (int i = 0; i < N; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                fail_msg("seed %d step %d buffer %d element %d: %g, expected %g", seed, step,
                         buf, i, (double)got[i], (double)want[i]);
            }
    }
}

/* One random program: tasks on forced devices, host reads (qv_buf_wait,
 * acquire R), host writes (acquire W, RW) between them. */
static void one_program(int seed)
{
    static float mem[NBUF][N], model[NBUF][N];
    rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)seed * 0x2545F4914F6CDD1Dull;
    qv_buf *b[NBUF];
    for (int k = 0; k < NBUF; k++) {
        for (int i = 0; i < N; i++)
            model[k][i] = mem[k][i] = rndf();
        assert_int_equal(qv_buf_register(rt, mem[k], sizeof mem[k], &b[k]), 0);
    }
    uint32_t n = N;
    for (int step = 0; step < STEPS; step++) {
        unsigned op = rnd() % 10;
        int x = (int)(rnd() % NBUF), y = (int)(rnd() % NBUF), z = (int)(rnd() % NBUF);
        while (z == x || z == y)
            z = (z + 1) % NBUF;
        if (op < 4) { /* z = x + y on a forced device */
            qv_func *f = vadd[rnd() % 3];
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[y]), QV_BUF(b[z]), QV_VAL(n) };
            assert_int_equal(qv_submit(rt, f, a, 4), 0);
            for (int i = 0; i < N; i++)
                model[z][i] = model[x][i] + model[y][i];
        } else if (op < 6) { /* x += y (read-write on a device) */
            if (x == y)
                y = (y + 1) % NBUF;
            qv_func *f = acc[rnd() % 2];
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[y]), QV_VAL(n) };
            assert_int_equal(qv_submit(rt, f, a, 3), 0);
            for (int i = 0; i < N; i++)
                model[x][i] = model[x][i] + model[y][i];
        } else if (op == 6) { /* host read through qv_buf_wait */
            assert_int_equal(qv_buf_wait(b[x]), 0);
            check_equal(mem[x], model[x], seed, step, x);
        } else if (op == 7) { /* host read through acquire R */
            assert_int_equal(qv_buf_acquire(b[x], QV_R), 0);
            check_equal(mem[x], model[x], seed, step, x);
            assert_int_equal(qv_buf_release(b[x]), 0);
        } else if (op == 8) { /* host read-modify-write */
            assert_int_equal(qv_buf_acquire(b[x], QV_RW), 0);
            check_equal(mem[x], model[x], seed, step, x);
            for (int i = 0; i < N; i += 3) {
                mem[x][i] = -mem[x][i];
                model[x][i] = -model[x][i];
            }
            assert_int_equal(qv_buf_release(b[x]), 0);
        } else { /* host overwrite */
            assert_int_equal(qv_buf_acquire(b[x], QV_W), 0);
            for (int i = 0; i < N; i++)
                model[x][i] = mem[x][i] = rndf();
            assert_int_equal(qv_buf_release(b[x]), 0);
        }
    }
    assert_int_equal(qv_wait_all(rt), 0);
    for (int k = 0; k < NBUF; k++) {
        assert_int_equal(qv_buf_unregister(b[k]), 0);
        check_equal(mem[k], model[k], seed, STEPS, k);
    }
}

static void random_programs_across_devices(void **state)
{
    (void)state;
    for (int s = 0; s < SEEDS; s++)
        one_program(s);
    /* Every forced class that exists here ran tasks. */
    for (unsigned d = 1; d < qv_device_count(rt); d++) {
        qv_device_info di;
        assert_int_equal(qv_device_get(rt, d, &di), 0);
        assert_true(di.tasks > 0);
        assert_int_equal(di.failed, 0);
    }
}

/* The defect this guards against: the host writes a buffer whose valid copy
 * also sits on a device; the next task there must see the host's data. */
static void host_write_reaches_the_device(void **state)
{
    (void)state;
    unsigned dev_cls = (have & (1u << QV_CLASS_FPGA)) ? 2 : (have & (1u << QV_CLASS_GPU)) ? 1 : 0;
    if (!dev_cls)
        skip();
    static float a[N], c[N], out[N];
    for (int i = 0; i < N; i++) {
        a[i] = 1.0f;
        c[i] = 0.0f;
    }
    qv_buf *ba, *bc, *bo;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, c, sizeof c, &bc), 0);
    assert_int_equal(qv_buf_register(rt, out, sizeof out, &bo), 0);
    uint32_t n = N;
    qv_arg args[] = { QV_BUF(ba), QV_BUF(bc), QV_BUF(bo), QV_VAL(n) };
    assert_int_equal(qv_submit(rt, vadd[dev_cls], args, 4), 0); /* a, c now on the device */
    assert_int_equal(qv_buf_acquire(ba, QV_RW), 0);
    for (int i = 0; i < N; i++)
        a[i] = 5.0f;
    assert_int_equal(qv_buf_release(ba), 0);
    assert_int_equal(qv_submit(rt, vadd[dev_cls], args, 4), 0);
    assert_int_equal(qv_buf_wait(bo), 0);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == 5.0f);
    qv_buf_unregister(ba);
    qv_buf_unregister(bc);
    qv_buf_unregister(bo);
}

/* a, c and out of N floats (a = va, c = vc, out = 0) registered, and one
 * vadd submitted on class index dev_cls (out = a + c there). */
typedef struct vbufs {
    float a[N], c[N], out[N];
    qv_buf *ba, *bc, *bo;
} vbufs;

static void vbufs_vadd(vbufs *v, unsigned dev_cls, float va, float vc)
{
    for (int i = 0; i < N; i++) {
        v->a[i] = va;
        v->c[i] = vc;
        v->out[i] = 0.0f;
    }
    assert_int_equal(qv_buf_register(rt, v->a, sizeof v->a, &v->ba), 0);
    assert_int_equal(qv_buf_register(rt, v->c, sizeof v->c, &v->bc), 0);
    assert_int_equal(qv_buf_register(rt, v->out, sizeof v->out, &v->bo), 0);
    uint32_t n = N;
    qv_arg args[] = { QV_BUF(v->ba), QV_BUF(v->bc), QV_BUF(v->bo), QV_VAL(n) };
    assert_int_equal(qv_submit(rt, vadd[dev_cls], args, 4), 0);
}

static void vbufs_close(vbufs *v)
{
    qv_buf_unregister(v->ba);
    qv_buf_unregister(v->bc);
    qv_buf_unregister(v->bo);
}

/* qv_buf_try_acquire waits for no device either: while only the board
 * holds a task's output, a read gets QV_EBUSY (bringing it home could
 * queue behind the board's runs) and a write-only access does not need
 * it; once home, a read gets it at once. */
static void try_acquire_waits_for_no_device(void **state)
{
    (void)state;
    unsigned dev_cls = (have & (1u << QV_CLASS_FPGA)) ? 2 : (have & (1u << QV_CLASS_GPU)) ? 1 : 0;
    if (!dev_cls)
        skip();
    static vbufs v;
    vbufs_vadd(&v, dev_cls, 2.0f, 1.0f);
    assert_int_equal(qv_wait_all(rt), 0); /* done; out is on the device only */
    assert_int_equal(qv_buf_try_acquire(v.bo, QV_R), QV_EBUSY);
    assert_int_equal(qv_buf_try_acquire(v.bo, QV_RW), QV_EBUSY);
    assert_int_equal(qv_buf_wait(v.bo), 0); /* home */
    assert_int_equal(qv_buf_try_acquire(v.bo, QV_R), 0);
    for (int i = 0; i < N; i++)
        assert_true(v.out[i] == 3.0f);
    assert_int_equal(qv_buf_release(v.bo), 0);
    /* a and c are current on the host too: a write-only access is free */
    assert_int_equal(qv_buf_try_acquire(v.ba, QV_W), 0);
    assert_int_equal(qv_buf_release(v.ba), 0);
    vbufs_close(&v);
}

/* An acquire that cannot bring the device's copy home fails and holds
 * nothing, and the device's copy stays the valid one: a failed QV_RW
 * acquire used to release as a write, declaring the stale host copy the
 * only valid one (review finding), and the result was lost. */
static void failed_acquire_keeps_the_device_copy(void **state)
{
    (void)state;
    if (!(have & (1u << QV_CLASS_FPGA)))
        skip();
    static vbufs v;
    vbufs_vadd(&v, 2, 2.0f, 5.0f);
    assert_int_equal(qv_wait_all(rt), 0); /* out: on the board only */
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    int rc = qv_buf_acquire(v.bo, QV_RW);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(rc < 0);
    assert_int_equal(qv_buf_release(v.bo), QV_EINVAL); /* nothing held */
    assert_int_equal(qv_buf_wait(v.bo), 0);
    for (int i = 0; i < N; i++)
        if (v.out[i] != 7.0f)
            fail_msg("out[%d] = %g after a failed acquire, expected the board's 7", i,
                     (double)v.out[i]);
    vbufs_close(&v);
}

/* Tasks submitted while the host holds a buffer wait for the release; a
 * read acquire lets readers through but holds writers back. */
static void tasks_wait_for_release(void **state)
{
    (void)state;
    static float x[N], y[N], z[N];
    for (int i = 0; i < N; i++)
        x[i] = y[i] = 1.0f;
    qv_buf *bx, *by, *bz;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, z, sizeof z, &bz), 0);
    uint32_t n = N;
    assert_int_equal(qv_buf_acquire(bx, QV_W), 0);
    qv_arg a[] = { QV_BUF(bx), QV_BUF(by), QV_VAL(n) };
    assert_int_equal(qv_submit(rt, acc[0], a, 3), 0); /* x += y: must wait */
    usleep(20000);
    for (int i = 0; i < N; i++)
        x[i] = 10.0f; /* the task must not have run yet, nor see old data */
    /* Waiting for that task while holding x would never end. */
    assert_int_equal(qv_wait_all(rt), QV_EDEADLK);
    assert_int_equal(qv_buf_unregister(bx), QV_EBUSY);
    assert_int_equal(qv_buf_release(bx), 0);
    assert_int_equal(qv_buf_wait(bx), 0);
    for (int i = 0; i < N; i++)
        assert_true(x[i] == 11.0f);

    /* Acquire R: readers of x run, a writer of x waits. */
    assert_int_equal(qv_buf_acquire(bx, QV_R), 0);
    qv_arg r[] = { QV_BUF(bx), QV_BUF(by), QV_BUF(bz), QV_VAL(n) };
    assert_int_equal(qv_submit(rt, vadd[0], r, 4), 0); /* z = x + y: reads x */
    assert_int_equal(qv_buf_wait(bz), 0);
    for (int i = 0; i < N; i++)
        assert_true(z[i] == 12.0f);
    assert_int_equal(qv_submit(rt, acc[0], a, 3), 0); /* writes x: waits */
    usleep(20000);
    for (int i = 0; i < N; i++)
        assert_true(x[i] == 11.0f);
    assert_int_equal(qv_buf_release(bx), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_wait(bx), 0);
    for (int i = 0; i < N; i++)
        assert_true(x[i] == 12.0f);
    qv_buf_unregister(bx);
    qv_buf_unregister(by);
    qv_buf_unregister(bz);
}

/* Misuse gets its documented code, never a hang. */
static qv_buf *g_buf;
static int g_rc;
/* Another thread holds x, and a task waits for it: this thread's
 * qv_wait_all waits for that release (a hold is like a mutex another
 * thread holds), while the holder's own qv_wait_all would never end and
 * says so. */
struct holder {
    qv_buf *bx;
    atomic_int step; /* 1: holding; 2: its own wait returned; 3: release */
    int own_wait;
};

static void *hold_then_release(void *arg)
{
    struct holder *h = arg;
    assert_int_equal(qv_buf_acquire(h->bx, QV_RW), 0);
    atomic_store(&h->step, 1);
    while (atomic_load(&h->step) < 2) /* until the task waits for x */
        usleep(1000);
    h->own_wait = qv_wait_all(rt);
    usleep(50 * 1000); /* the other thread is in qv_wait_all by now */
    ((float *)qv_buf_data(h->bx))[0] = 5.0f;
    atomic_store(&h->step, 3);
    assert_int_equal(qv_buf_release(h->bx), 0);
    return NULL;
}

static void wait_all_waits_for_another_threads_release(void **state)
{
    (void)state;
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = y[i] = 1.0f;
    qv_buf *bx, *by;
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, y, sizeof y, &by), 0);
    struct holder h = {bx, 0, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_then_release, &h), 0);
    while (atomic_load(&h.step) < 1)
        usleep(1000);
    uint32_t n = N;
    qv_arg a[] = { QV_BUF(bx), QV_BUF(by), QV_VAL(n) };
    assert_int_equal(qv_submit(rt, acc[0], a, 3), 0); /* x += y: waits for x */
    atomic_store(&h.step, 2);
    assert_int_equal(qv_wait_all(rt), 0); /* returns once x is released */
    assert_int_equal(atomic_load(&h.step), 3);
    pthread_join(t, NULL);
    assert_int_equal(h.own_wait, QV_EDEADLK);
    assert_int_equal(qv_buf_wait(bx), 0);
    assert_true(x[0] == 6.0f && x[1] == 2.0f);
    assert_int_equal(qv_buf_unregister(bx), 0);
    assert_int_equal(qv_buf_unregister(by), 0);
}

static void cpu_acquire_inside(const qv_call *c)
{
    (void)c;
    g_rc = qv_buf_acquire(g_buf, QV_R);
}

static void misuse(void **state)
{
    (void)state;
    float v[4] = { 0 };
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, v, sizeof v, &b), 0);
    assert_int_equal(qv_buf_release(b), QV_EINVAL);      /* never acquired */
    assert_int_equal(qv_buf_acquire(b, (qv_mode)0), QV_EINVAL);
    assert_int_equal(qv_buf_acquire(b, (qv_mode)7), QV_EINVAL);
    assert_int_equal(qv_buf_acquire(b, QV_RW), 0);
    assert_int_equal(qv_buf_acquire(b, QV_R), QV_EBUSY); /* twice */
    assert_int_equal(qv_buf_wait(b), 0);                 /* the host has it */
    assert_int_equal(qv_buf_release(b), 0);
    assert_int_equal(qv_buf_release(b), QV_EINVAL);      /* released twice */
    assert_int_equal(qv_buf_acquire(NULL, QV_R), QV_EINVAL);
    assert_int_equal(qv_buf_release(NULL), QV_EINVAL);

    qv_func *f;
    assert_int_equal(qv_func_create(rt, "acquire_inside", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_acquire_inside);
    g_buf = b;
    g_rc = 1;
    assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(g_rc, QV_EDEADLK);
    assert_int_equal(qv_buf_unregister(b), 0);
}

/* A runtime with the CPU and an emulated board of 1 MiB, and vadd_small
 * (a board kernel) allowed only there; NULL without the build tree. */
static qv_runtime *small_board(qv_func **f, unsigned *dev)
{
    const char *bin = getenv("QV_BINARY_DIR");
    if (!bin)
        return NULL;
    char board[512], policy[512], text[2048];
    snprintf(board, sizeof board, "%s/small-emu.yaml", qv_test_scratch());
    snprintf(policy, sizeof policy, "%s/small-policy.yaml", qv_test_scratch());
    FILE *fp = fopen(board, "w");
    assert_non_null(fp);
    fputs("name: alveo-u250-emu\nkind: fpga\nplatform: xilinx_u250_gen3x16_xdma_4_1_202210_1\n"
          "emulation: true\nclock_mhz: 300\n"
          "memory:\n  - {type: DDR4, size: 1 MiB, count: 1, bandwidth_gbs: 19.25}\n"
          "link: {bandwidth_gbs: 12.0, latency_us: 10}\n",
          fp);
    fclose(fp);
    snprintf(text, sizeof text,
             "devices: [cpu, fpga]\nimplicit_regions: false\ncatalog: %s/share/quiver/kernels.yaml\n"
             "discovery: {rescan_interval_ms: 0, opencl: false, xrt: false, boards: [%s]}\n",
             bin, board);
    fp = fopen(policy, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.config = policy;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    *dev = qv_test_device_of(r, QV_CLASS_FPGA);
    assert_int_equal(qv_func_create(r, "vadd_small", qv_test_vadd_sig, 4, f), 0);
    assert_int_equal(qv_func_set_cpu(*f, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_fpga(*f, "vadd"), 0);
    assert_int_equal(qv_func_set_where(*f, 1u << QV_CLASS_FPGA), 0);
    return r;
}

/* A board whose memory holds one task's buffers at a time: each next task
 * frees the copies of the buffers no task uses any more, the least
 * recently used first, bringing home the outputs whose only copy was
 * there; every task runs on the board, none fails, every result is right. */
static void full_board_frees_idle_copies(void **state)
{
    (void)state;
    enum { TASKS = 6, NF = 64 * 1024 }; /* 3 x 256 KiB a task; the board has 1 MiB */
    qv_func *f;
    unsigned dev;
    qv_runtime *r = small_board(&f, &dev);
    if (!r)
        skip();
    float *mem = malloc((size_t)TASKS * 3 * NF * sizeof(float));
    assert_non_null(mem);
    qv_buf *bufs[TASKS][3];
    uint32_t n = NF;
    for (unsigned t = 0; t < TASKS; t++) {
        float *a = mem + (size_t)(3 * t) * NF, *b = a + NF, *out = b + NF;
        for (unsigned i = 0; i < NF; i++) {
            a[i] = (float)(t * 1000 + i % 1000);
            b[i] = 0.25f;
            out[i] = -1;
        }
        for (unsigned k = 0; k < 3; k++)
            assert_int_equal(qv_buf_register(r, mem + (size_t)(3 * t + k) * NF,
                                             NF * sizeof(float), &bufs[t][k]),
                             0);
        assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(bufs[t][0]), QV_BUF(bufs[t][1]),
                                                     QV_BUF(bufs[t][2]), QV_VAL(n) }, 4),
                         0);
    }
    assert_int_equal(qv_wait_all(r), 0);
    qv_device_info di;
    assert_int_equal(qv_device_get(r, dev, &di), 0);
    assert_int_equal(di.tasks, TASKS);
    assert_int_equal(di.failed, 0);
    /* Least recently used first: task k's output goes (home) when task
     * k + 2 needs room, so those of the first TASKS - 2 came home before
     * any wait asked for them. */
    assert_true(di.bytes_from >= (uint64_t)(TASKS - 2) * NF * sizeof(float));
    /* A call whose buffers can never fit (2 MiB each) evicts nothing: it
     * runs on the CPU, and the last output stays on the board. */
    {
        enum { BIG = 512 * 1024 };
        float *big = calloc(3 * (size_t)BIG, sizeof(float));
        assert_non_null(big);
        qv_buf *bb[3];
        for (unsigned k = 0; k < 3; k++)
            assert_int_equal(qv_buf_register(r, big + (size_t)k * BIG, BIG * sizeof(float),
                                             &bb[k]),
                             0);
        uint32_t nb = BIG;
        assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(bb[0]), QV_BUF(bb[1]),
                                                     QV_BUF(bb[2]), QV_VAL(nb) }, 4),
                         0);
        assert_int_equal(qv_wait_all(r), 0);
        qv_device_info d2;
        assert_int_equal(qv_device_get(r, dev, &d2), 0);
        assert_int_equal(d2.tasks, TASKS);
        assert_int_equal(d2.bytes_from, di.bytes_from);
        for (unsigned k = 0; k < 3; k++)
            assert_int_equal(qv_buf_unregister(bb[k]), 0);
        free(big);
    }
    /* Nor one whose buffers fit alone (400 KiB each) but never together:
     * nothing is copied there nor brought home for it (each buffer was
     * let in by itself, evicting the others' copies for nothing). */
    {
        enum { MID = 100 * 1024 };
        float *mid = calloc(3 * (size_t)MID, sizeof(float));
        assert_non_null(mid);
        for (unsigned i = 0; i < MID; i++)
            mid[i] = (float)i;
        qv_buf *bm[3];
        for (unsigned k = 0; k < 3; k++)
            assert_int_equal(
                qv_buf_register(r, mid + (size_t)k * MID, MID * sizeof(float), &bm[k]),
                0);
        qv_device_info d1, d2;
        assert_int_equal(qv_device_get(r, dev, &d1), 0);
        uint32_t nm = MID;
        assert_int_equal(
            qv_submit(r, f,
                      (qv_arg[]){QV_BUF(bm[0]), QV_BUF(bm[1]), QV_BUF(bm[2]), QV_VAL(nm)},
                      4),
            0);
        assert_int_equal(qv_wait_all(r), 0);
        assert_int_equal(qv_device_get(r, dev, &d2), 0);
        assert_int_equal(d2.tasks, d1.tasks);
        if (d2.bytes_to != d1.bytes_to || d2.bytes_from != d1.bytes_from)
            fail_msg("a call that never fits moved %llu bytes there and %llu home",
                     (unsigned long long)(d2.bytes_to - d1.bytes_to),
                     (unsigned long long)(d2.bytes_from - d1.bytes_from));
        assert_int_equal(qv_buf_unregister(bm[2]), 0);
        for (unsigned i = 0; i < MID; i++)
            if (mid[2 * (size_t)MID + i] != mid[i])
                fail_msg("out[%u] = %g, expected %g", i, (double)mid[2 * (size_t)MID + i],
                         (double)mid[i]);
        assert_int_equal(qv_buf_unregister(bm[0]), 0);
        assert_int_equal(qv_buf_unregister(bm[1]), 0);
        free(mid);
    }
    for (unsigned t = 0; t < TASKS; t++) {
        assert_int_equal(qv_buf_wait(bufs[t][2]), 0);
        const float *a = mem + (size_t)(3 * t) * NF, *out = a + 2 * NF;
        for (unsigned i = 0; i < NF; i++)
            if (out[i] != a[i] + 0.25f)
                fail_msg("task %u: out[%u] = %g, expected %g", t, i, (double)out[i],
                         (double)(a[i] + 0.25f));
        for (unsigned k = 0; k < 3; k++)
            assert_int_equal(qv_buf_unregister(bufs[t][k]), 0);
    }
    qv_runtime_destroy(r);
    free(mem);
}

/* A board-only function (no CPU implementation) whose calls' buffers fit
 * the board one call at a time, all submitted before any runs: the copies
 * that queued calls will read go (home) to make room, and are copied back
 * when those calls run. Only the copies of the call being launched stay.
 * (Copies of buffers that a queued call used were kept: the board filled
 * with them, and the calls after failed, "131072 bytes do not fit":
 * adversarial testing.) */
static void full_board_frees_copies_queued_calls_use(void **state)
{
    (void)state;
    enum { K = 8, NF = 32 * 1024 }; /* 128 KiB buffers; the board has 1 MiB */
    qv_func *f;
    unsigned dev;
    qv_runtime *r = small_board(&f, &dev);
    if (!r)
        skip();
    qv_func *g;
    assert_int_equal(qv_func_create(r, "vadd_board_only", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_fpga(g, "vadd"), 0);
    float *mem = malloc((size_t)(3 * K + 1) * NF * sizeof(float));
    assert_non_null(mem);
    float *b = mem + (size_t)3 * K * NF;
    qv_buf *bb, *ba[K], *bo[K], *bc[K];
    for (unsigned i = 0; i < NF; i++)
        b[i] = 0.5f;
    assert_int_equal(qv_buf_register(r, b, NF * sizeof(float), &bb), 0);
    for (unsigned k = 0; k < K; k++) {
        float *a = mem + (size_t)(3 * k) * NF;
        for (unsigned i = 0; i < 3 * NF; i++)
            a[i] = i < NF ? (float)(k * 100 + i % 100) : -1;
        assert_int_equal(qv_buf_register(r, a, NF * sizeof(float), &ba[k]), 0);
        assert_int_equal(qv_buf_register(r, a + NF, NF * sizeof(float), &bo[k]), 0);
        assert_int_equal(qv_buf_register(r, a + 2 * NF, NF * sizeof(float), &bc[k]), 0);
    }
    uint32_t n = NF;
    for (unsigned k = 0; k < K; k++) /* out_k = a_k + b */
        assert_int_equal(
            qv_submit(r, g,
                      (qv_arg[]){QV_BUF(ba[k]), QV_BUF(bb), QV_BUF(bo[k]), QV_VAL(n)}, 4),
            0);
    int rc = qv_wait_all(r);
    if (rc)
        fail_msg("calls failed: %s", qv_last_error());
    /* The board is full now of the last calls' a_k and out_k (out_k's
     * only copies), which the next calls read. */
    for (unsigned k = 0; k < K; k++) /* c_k = out_k + a_k */
        assert_int_equal(
            qv_submit(r, g,
                      (qv_arg[]){QV_BUF(bo[k]), QV_BUF(ba[k]), QV_BUF(bc[k]), QV_VAL(n)},
                      4),
            0);
    rc = qv_wait_all(r);
    if (rc)
        fail_msg("calls failed: %s", qv_last_error());
    for (unsigned k = 0; k < K; k++) {
        assert_int_equal(qv_buf_wait(bc[k]), 0);
        const float *a = mem + (size_t)(3 * k) * NF, *c = a + 2 * NF;
        for (unsigned i = 0; i < NF; i++)
            if (c[i] != 2 * a[i] + 0.5f)
                fail_msg("c_%u[%u] = %g, expected %g", k, i, (double)c[i],
                         (double)(2 * a[i] + 0.5f));
    }
    qv_device_info di;
    assert_int_equal(qv_device_get(r, dev, &di), 0);
    assert_int_equal(di.tasks, 2 * K);
    for (unsigned k = 0; k < K; k++) {
        assert_int_equal(qv_buf_unregister(ba[k]), 0);
        assert_int_equal(qv_buf_unregister(bo[k]), 0);
        assert_int_equal(qv_buf_unregister(bc[k]), 0);
    }
    assert_int_equal(qv_buf_unregister(bb), 0);
    qv_runtime_destroy(r);
    free(mem);
}

/* A buffer still held at shutdown is released, so shutdown ends. */
static void held_at_shutdown(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    qv_func *f;
    qv_arg_desc da[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_BUF("y", QV_R),
                         QV_ARG_SCALAR("n", uint32_t) };
    assert_int_equal(qv_func_create(r, "acc", da, 3, &f), 0);
    qv_func_set_cpu(f, cpu_acc);
    float x[4] = { 1, 1, 1, 1 }, y[4] = { 1, 1, 1, 1 };
    qv_buf *bx, *by;
    assert_int_equal(qv_buf_register(r, x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(r, y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_acquire(bx, QV_RW), 0);
    uint32_t n = 4;
    assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(bx), QV_BUF(by), QV_VAL(n) }, 3), 0);
    qv_runtime_destroy(r); /* must not hang */
    assert_true(x[0] == 2.0f);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A full board's eviction brings an only copy home (slowly here: a read
 * of the board takes 1.5 s) without holding the registry: a registration
 * meanwhile returns at once, and the buffer being evicted may be
 * unregistered meanwhile. The second task's buffers (340 KiB each) take
 * the three copies of the first's out, the output last. */
static void eviction_lets_registrations_go(void **state)
{
    (void)state;
    enum { NF = 64 * 1024, NF2 = 85 * 1024 };
    qv_func *f;
    unsigned dev;
    qv_runtime *r = small_board(&f, &dev);
    if (!r)
        skip();
    float *mem = malloc((3 * NF + 3 * NF2) * sizeof(float));
    assert_non_null(mem);
    float *v[6] = {mem, mem + NF, mem + 2 * NF, mem + 3 * NF, mem + 3 * NF + NF2,
                   mem + 3 * NF + 2 * NF2};
    qv_buf *b[6];
    for (unsigned k = 0; k < 6; k++) {
        unsigned n = k < 3 ? NF : NF2;
        for (unsigned i = 0; i < n; i++)
            v[k][i] = k % 3 == 0 ? (float)(i % 1000) : k % 3 == 1 ? 0.5f : -1.0f;
        assert_int_equal(qv_buf_register(r, v[k], n * sizeof(float), &b[k]), 0);
    }
    uint32_t n1 = NF, n2 = NF2;
    assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(b[0]), QV_BUF(b[1]), QV_BUF(b[2]),
                                                 QV_VAL(n1) }, 4), 0);
    assert_int_equal(qv_wait_all(r), 0); /* its output's only copy: the board's */
    qv__fault_delay_set("emu", QV_FAULT_READ, 1500 * 1000);
    assert_int_equal(qv_submit(r, f, (qv_arg[]){ QV_BUF(b[3]), QV_BUF(b[4]), QV_BUF(b[5]),
                                                 QV_VAL(n2) }, 4), 0);
    for (int ms = 0; ms < 5000 && !qv__fault_delaying(); ms++)
        usleep(1000);
    assert_int_equal(qv__fault_delaying(), 1); /* out of the first task goes home */
    static float other[256];
    qv_buf *ob;
    uint64_t t0 = now_ns();
    assert_int_equal(qv_buf_register(r, other, sizeof other, &ob), 0);
    uint64_t took = now_ns() - t0;
    assert_int_equal(qv_buf_unregister(ob), 0);
    assert_true(took < 500u * 1000 * 1000); /* not the read's 1.5 s */
    /* The output being brought home is pinned: a try does not wait. */
    assert_int_equal(qv_buf_try_unregister(b[2]), QV_EBUSY);
    /* The output being evicted, unregistered meanwhile: it waits for the
     * copy home, which it then has. */
    assert_int_equal(qv_buf_unregister(b[2]), 0);
    for (unsigned i = 0; i < NF; i++)
        assert_true(v[2][i] == (float)(i % 1000) + 0.5f);
    assert_int_equal(qv_wait_all(r), 0);
    qv__fault_delay_set(NULL, 0, 0);
    qv_device_info di;
    assert_int_equal(qv_device_get(r, dev, &di), 0);
    assert_int_equal(di.tasks, 2);
    assert_true(di.bytes_from >= NF * sizeof(float)); /* the first output came home */
    for (unsigned k = 0; k < 6; k++)
        if (k != 2)
            assert_int_equal(qv_buf_unregister(b[k]), 0);
    for (unsigned i = 0; i < NF2; i++)
        assert_true(v[5][i] == (float)(i % 1000) + 0.5f);
    free(mem);
    qv_runtime_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_programs_across_devices),
        cmocka_unit_test(host_write_reaches_the_device),
        cmocka_unit_test(try_acquire_waits_for_no_device),
        cmocka_unit_test(failed_acquire_keeps_the_device_copy),
        cmocka_unit_test(tasks_wait_for_release),
        cmocka_unit_test(wait_all_waits_for_another_threads_release),
        cmocka_unit_test(misuse),
        cmocka_unit_test(held_at_shutdown),
        cmocka_unit_test(full_board_frees_idle_copies),
        cmocka_unit_test(eviction_lets_registrations_go),
        cmocka_unit_test(full_board_frees_copies_queued_calls_use),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    qv_test_scratch_remove(); /* its board and policy files */
    return rc;
}
