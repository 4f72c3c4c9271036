/*
 * test_devices.c - the runtime's one list of devices (core/devq.c on
 * discovery/pool.c): qv_device_get names the devices as `quiver devices`
 * does, in the pool's order; a rescan that finds a board gone or back
 * reaches the runtime as an event, and a gone board takes no task; the
 * policy's discovery.rescan_interval_ms drives the rescans; an FPGA board
 * whose catalog has no build of a kernel gets no task of it; copies are
 * costed by the board file's link; an emulated board's runs are learnt at
 * the board model's time, not the host's, and a slowdown set on the board
 * (qv__emu_set_slowdown) multiplies that time.
 *
 * Links the static library: it reads the runtime's pool and models.
 */
#include "helper.h"

#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <math.h>
#include <stdatomic.h>

#include "config/board.h"
#include "config/policy.h"
#include "core/internal.h"
#include "devices/device.h"
#include "discovery/discovery.h"
#include "platform.h"
#include "quiver.h"
#include "quiver/config.h"
#include "qvpart.h"
#include "trace/graph.h"
#include "trace/perfmodel.h"

enum { N = 4096 };

static float a[N], b[N], out[N];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A runtime on a policy written to dir/name: the CPU and the emulated
 * boards listed, a catalog whose vadd has one build, for board `built_for`
 * (a stand-in xclbin: the board is never meant to load it). */
static qv_runtime *board_runtime(const char *name, const char *board_file,
                                 const char *built_for, unsigned rescan_ms)
{
    const char *dir = qv_test_scratch(), *src = getenv("QV_SOURCE_DIR");
    char path[1024], text[4096];
    snprintf(path, sizeof path, "%s/stand-in.xclbin", dir);
    write_text(path, "not an xclbin\n");
    snprintf(path, sizeof path, "%s/%s-kernels.yaml", dir, name);
    snprintf(text, sizeof text,
             "boards: [%s/boards/emu]\n"
             "kernels:\n"
             "  - name: vadd\n    implements: vadd\n    args:\n"
             "      - {name: a, dir: in, type: float, size: n}\n"
             "      - {name: b, dir: in, type: float, size: n}\n"
             "      - {name: out, dir: out, type: float, size: n}\n"
             "      - {name: n, dir: scalar, type: uint32}\n"
             "    builds: [{board: %s, xclbin: stand-in.xclbin}]\n"
             "    perf: {ii: 1, latency_cycles: 70, trip_count: n}\n",
             src, built_for);
    write_text(path, text);
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    snprintf(text, sizeof text,
             "devices: [cpu, fpga]\ncatalog: %s-kernels.yaml\n"
             "discovery: {rescan_interval_ms: %u, opencl: false, xrt: false, "
             "boards: [%s]}\n",
             name, rescan_ms, board_file);
    write_text(path, text);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.config = path;
    o.perfmodel_dir = "";
    qv_runtime *rt = NULL;
    if (qv_runtime_create(&o, &rt))
        fail_msg("runtime: %s", qv_last_error());
    return rt;
}

static qv_func *vadd_func(qv_runtime *rt, bool cpu)
{
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd", qv_test_vadd_sig, 4, &f), 0);
    if (cpu)
        assert_int_equal(qv_func_set_cpu(f, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    return f;
}

static void submit_vadd(qv_runtime *rt, qv_func *f, unsigned times)
{
    qv_buf *ba, *bb, *bo;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, out, sizeof out, &bo), 0);
    uint32_t n = N;
    for (unsigned i = 0; i < times; i++)
        assert_int_equal(
            qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)},
                      4),
            0);
    qv_wait_all(rt);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_buf_unregister(bo);
}

/* The device of rt named name; fails the test when there is none. */
static unsigned device_named(qv_runtime *rt, const char *name, qv_device_info *di)
{
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        assert_int_equal(qv_device_get(rt, d, di), 0);
        if (!strcmp(di->name, name))
            return d;
    }
    fail_msg("no device named %s", name);
    return 0;
}

/* A pool of the runtime's own policy, scanned once, as `quiver devices` and
 * `quiver plan` make it (host/tools/quiver/machine.c). */
static qv_pool *pool_like(const qv_runtime *rt)
{
    qv_pool_options o;
    qv__policy_pool_options(rt->policy, &o);
    o.rescan_ms = 0;
    qv_pool *pool = NULL;
    assert_int_equal(qv_pool_create(&o, &pool, NULL), 0);
    return pool;
}

/* qv_device_get and `quiver devices` (a pool made from the same policy, as
 * cmd_devices.c makes it) name the same devices the same way and in the
 * same order: the CPU first, named by its hwloc resources, then every
 * accelerator the runtime opened. */
static void names_agree_with_discovery(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime(&have);
    assert_non_null(rt);
    qv_pool *pool = pool_like(rt);
    char cpu[256] = "";
    unsigned dev = 1;
    qv_resource r;
    for (size_t i = 0; qv_pool_get(pool, i, &r) == 0; i++) {
        if (!strcmp(r.backend, "hwloc")) {
            size_t len = strlen(cpu);
            snprintf(cpu + len, sizeof cpu - len, "%s%s", len ? "+" : "", r.name);
            continue;
        }
        if (!strcmp(r.backend, "opencl") && r.type != QV_CLASS_GPU)
            continue; /* an FPGA behind OpenCL is XRT's */
        if (!strcmp(r.backend, "xrt") || !strcmp(r.backend, "remote"))
            continue; /* no card here; no remote backend */
        qv_device_info di;
        assert_int_equal(qv_device_get(rt, dev, &di), 0);
        assert_string_equal(di.name, r.name);
        assert_int_equal(di.cls, r.type);
        dev++;
    }
    assert_int_equal(dev, qv_device_count(rt));
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, 0, &di), 0);
    assert_string_equal(di.name, cpu[0] ? cpu : "cpu");
    /* The embedded default has the emulated U250 under its board name. */
    if (have & (1u << QV_CLASS_FPGA))
        device_named(rt, "alveo-u250-emu", &di);
    qv_pool_destroy(pool);
    qv_runtime_destroy(rt);
}

/* The planner's view of this machine (qv_plat_from_pool, `quiver plan`
 * without a platform) has exactly the runtime's devices: the same names,
 * classes and order, the CPU with a unit per core, each accelerator one
 * unit with its board file's link and cost; the emulated board holds the
 * catalog's vadd by the catalog's one rule. */
static void planner_sees_the_runtimes_devices(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime(&have);
    assert_non_null(rt);
    qv_pool *pool = pool_like(rt);
    qv_plat *p;
    assert_int_equal(qv_plat_from_pool(pool, NULL, &p), 0);
    assert_int_equal(p->nres, qv_device_count(rt));
    /* A unit per core hwloc found, not per worker of this runtime (it has
     * 2): `quiver plan` plans for the machine (equal only on 2 cores). */
    unsigned cores = 0;
    qv_resource r;
    for (size_t i = 0; qv_pool_get(pool, i, &r) == 0; i++)
        if (r.type == QV_CLASS_CPU)
            cores += r.units ? r.units : 1;
    for (unsigned i = 0; i < p->nres; i++) {
        qv_device_info di;
        assert_int_equal(qv_device_get(rt, i, &di), 0);
        assert_string_equal(p->res[i].name, di.name);
        assert_string_equal(p->res[i].cls, qv_class_name(di.cls));
        if (di.cls == QV_CLASS_CPU) {
            assert_true(p->res[i].host_memory);
            assert_int_equal(p->res[i].units, cores ? cores : 1);
            continue;
        }
        assert_int_equal(p->res[i].units, 1);
        assert_true(p->res[i].bandwidth_gbs > 0);
    }
    if (have & (1u << QV_CLASS_FPGA)) {
        unsigned k = 0;
        while (k < p->nres && strcmp(p->res[k].name, "alveo-u250-emu"))
            k++;
        assert_true(k < p->nres);
        assert_true(p->res[k].board_emulation);
        assert_string_equal(p->res[k].board_name, "alveo-u250-emu");
        /* The emulator's kernels run on the host's cores: the planner
         * counts the board's tasks against the CPU's units. */
        assert_int_equal(p->res[k].shares_cpu, 1);
        /* The board file's link and price, as the runtime's placement uses. */
        qv__board *brd = NULL;
        for (size_t j = 0; j < rt->nboards; j++)
            if (!strcmp(rt->boards[j]->name, "alveo-u250-emu"))
                brd = rt->boards[j];
        assert_non_null(brd);
        assert_true(p->res[k].bandwidth_gbs == brd->bandwidth_gbs);
        assert_true(p->res[k].latency_us == brd->latency_us);
        assert_true(p->res[k].cost_per_hour == brd->cost_per_hour);
        const qv_catalog *cat = rt->catalog;
        int held = 0;
        for (uint32_t j = 0; j < qv_catalog_kernel_count(cat); j++)
            if (!strcmp(qv_catalog_kernel_name(cat, j), "vadd"))
                held = qv_catalog_holds(cat, j, &p->res[k]);
        assert_true(held);
    }
    qv_plat_destroy(p);
    qv_pool_destroy(pool);
    qv_runtime_destroy(rt);
}

/* A rescan that finds the board file gone reports it to the runtime: an
 * event, the device out of service and given no task; the file back, the
 * board is back. */
static void rescan_events_reach_the_runtime(void **state)
{
    (void)state;
    const char *dir = qv_test_scratch(), *src = getenv("QV_SOURCE_DIR");
    char board[1024], moved[1024], from[1024];
    snprintf(from, sizeof from, "%s/boards/emu/u250-emu.yaml", src);
    snprintf(board, sizeof board, "%s/u250-copy.yaml", dir);
    snprintf(moved, sizeof moved, "%s/u250-copy.yaml.away", dir);
    char *text = qv_test_slurp(from, NULL);
    assert_non_null(text);
    write_text(board, text);
    free(text);
    qv_runtime *rt = board_runtime("events", board, "alveo-u250-emu", 0);
    qv_device_info di;
    unsigned dev = device_named(rt, "alveo-u250-emu", &di);
    assert_true(dev > 0);
    assert_true(di.healthy);
    qv__dev_event ev[4];
    uint64_t up = 9, down = 9;
    assert_int_equal(qv__devq_events(rt, ev, 4, &up, &down), 0);
    assert_int_equal(up + down, 0);

    /* A rescan with nothing changed: no event. */
    assert_int_equal(qv__devq_rescan(rt), 0);
    assert_int_equal(qv__devq_events(rt, ev, 4, &up, &down), 0);

    assert_int_equal(rename(board, moved), 0);
    assert_int_equal(qv__devq_rescan(rt), 0);
    assert_int_equal(qv__devq_events(rt, ev, 4, &up, &down), 1);
    assert_false(ev[0].appeared);
    assert_int_equal(ev[0].dev, dev);
    assert_string_equal(ev[0].name, "alveo-u250-emu");
    assert_int_equal(down, 1);
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    assert_false(di.healthy);
    /* Gone: its tasks run on the CPU, none is even tried on the board. */
    qv_func *f = vadd_func(rt, true);
    for (unsigned i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 1;
    }
    submit_vadd(rt, f, 5);
    assert_true(out[N - 1] == (float)N);
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    assert_int_equal(di.tasks + di.failed, 0);

    assert_int_equal(rename(moved, board), 0);
    assert_int_equal(qv__devq_rescan(rt), 0);
    assert_int_equal(qv__devq_events(rt, ev, 4, &up, &down), 1);
    assert_true(ev[0].appeared);
    assert_int_equal(ev[0].dev, dev);
    assert_int_equal(up, 1);
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    assert_true(di.healthy);
    /* Back in service: the board is tried again (and fails to load the
     * stand-in xclbin, so the CPU runs the task). */
    submit_vadd(rt, f, 1);
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    assert_true(di.tasks + di.failed > 0);
    qv_runtime_destroy(rt);
}

/* discovery.rescan_interval_ms: the runtime's pool rescans by itself. */
static void rescan_interval_drives_the_rescans(void **state)
{
    (void)state;
    const char *dir = qv_test_scratch(), *src = getenv("QV_SOURCE_DIR");
    char board[1024], from[1024];
    snprintf(from, sizeof from, "%s/boards/emu/u50-emu.yaml", src);
    snprintf(board, sizeof board, "%s/u50-copy.yaml", dir);
    char *text = qv_test_slurp(from, NULL);
    assert_non_null(text);
    write_text(board, text);
    free(text);
    qv_runtime *rt = board_runtime("periodic", board, "alveo-u50-emu", 100);
    assert_int_equal(unlink(board), 0);
    qv__dev_event ev[4];
    uint64_t down = 0;
    for (int i = 0; i < 300 && !down; i++) {
        qv__devq_events(rt, ev, 4, NULL, &down);
        usleep(10000);
    }
    assert_int_equal(down, 1);
    qv_runtime_destroy(rt);
}

/* The planner gives a board no task of a kernel it has no build for; nor
 * does the runtime. Here vadd is built for the U50 only: the U250 never
 * sees it, while the U50 (the control) is tried. */
static void no_build_no_task(void **state)
{
    (void)state;
    const char *src = getenv("QV_SOURCE_DIR");
    char u250[1024], u50[1024];
    snprintf(u250, sizeof u250, "%s/boards/emu/u250-emu.yaml", src);
    snprintf(u50, sizeof u50, "%s/boards/emu/u50-emu.yaml", src);
    const char *boards[2] = {u250, u50};
    const char *names[2] = {"alveo-u250-emu", "alveo-u50-emu"};
    for (int k = 0; k < 2; k++) {
        qv_runtime *rt =
            board_runtime(k ? "with" : "without", boards[k], "alveo-u50-emu", 0);
        qv_func *f = vadd_func(rt, true);
        submit_vadd(rt, f, 20);
        qv_device_info di;
        unsigned dev = device_named(rt, names[k], &di);
        if (k == 0)
            assert_int_equal(di.tasks + di.failed, 0);
        else
            assert_true(di.tasks + di.failed > 0);
        /* Copies are costed by the board file's link, as the planner's
         * platform costs them; an emulated board's copies (made for the
         * U50) are modelled, so no measurement replaces it. */
        qv__board *bf;
        assert_int_equal(qv__board_load(boards[k], &bf, NULL), 0);
        double bytes = 12e6;
        double want = bf->latency_us + bytes / (bf->bandwidth_gbs * 1e9) * 1e6;
        assert_true(fabs(qv__devq_transfer_us(rt, dev, (size_t)bytes) - want) <
                    1e-3 * want);
        qv__board_free(bf);
        qv_runtime_destroy(rt);
    }
}

/* The models learn an emulated board's runs at the board model's time:
 * vadd's (latency + ii * (trips - 1)) cycles at 300 MHz, with trips
 * 2n + 80 * ceil(n / 1024) (config/kernels.yaml), not the host's time. */
static void emulated_runs_cost_the_modelled_time(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    qv_device_info d0, d1;
    unsigned dev = device_named(rt, "alveo-u250-emu", &d0);
    submit_vadd(rt, f, 5);
    assert_int_equal(qv_device_get(rt, dev, &d1), 0);
    assert_int_equal(d1.tasks, 5);
    double trips = 2.0 * N + 80.0 * ((N + 1023) / 1024);
    double model = (70.0 + (trips - 1)) / 300.0; /* µs */
    double med = 0;
    uint64_t n = 0;
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_FPGA], 3 * sizeof a, &med, NULL, &n),
                     0);
    assert_int_equal(n, 5);
    assert_true(fabs(med - model) < 0.01);
    /* The board's clock counts the runs (and the copies). */
    assert_true(d1.board_us - d0.board_us >= 5 * model);
    qv_runtime_destroy(rt);
}

/* A task that writes part of a QV_W buffer on the board: the bytes it
 * leaves alone are undefined (docs/runtime.md), but never another
 * buffer's: the board's copy of a freed output was handed to the next
 * allocation as it was, and its data came home in the new output. */
static void partial_write_leaks_no_other_buffer(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    for (unsigned i = 0; i < N; i++) {
        a[i] = 1000.0f + (float)i;
        b[i] = 1.0f;
    }
    static float first[N], second[N];
    qv_buf *ba, *bb, *bo;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    uint32_t n = N;
    assert_int_equal(qv_buf_register(rt, first, sizeof first, &bo), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)},
                               4),
                     0);
    assert_int_equal(qv_buf_unregister(bo), 0); /* its board copy is freed */
    assert_true(first[N - 1] == a[N - 1] + 1.0f);
    for (unsigned i = 0; i < N; i++)
        second[i] = 7.0f;
    n = 100;
    assert_int_equal(qv_buf_register(rt, second, sizeof second, &bo), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)},
                               4),
                     0);
    assert_int_equal(qv_buf_unregister(bo), 0);
    assert_true(second[99] == a[99] + 1.0f);
    for (unsigned i = 100; i < N; i++)
        if (second[i] == first[i])
            fail_msg("element %u came from the freed buffer: %g", i, (double)second[i]);
    assert_int_equal(qv_buf_unregister(ba), 0);
    assert_int_equal(qv_buf_unregister(bb), 0);
    qv_runtime_destroy(rt);
}

/* A failed copy home (a fault that retries do not get past): the
 * acquire's error says what failed below it (it once formatted its
 * message into the buffer it quoted, and lost it). */
static void failed_copy_home_says_why(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    qv_buf *ba, *bb, *bo;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, out, sizeof out, &bo), 0);
    uint32_t n = N;
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)},
                               4),
                     0);
    assert_int_equal(qv_wait_all(rt), 0); /* out is current on the board only */
    qv__fault_set_n("emu", QV_FAULT_READ, 0, QV_FAULT_ALWAYS, QV_EIO);
    assert_int_equal(qv_buf_acquire(bo, QV_R), QV_EIO);
    qv__fault_set(NULL, 0, 0, 0);
    /* Named: the device whose copy could not be read, and how often it was tried. */
    if (!strstr(qv_last_error(), "cannot be brought up to date: ") ||
        !strstr(qv_last_error(),
                "emu holds the only valid copy (16384 bytes), which cannot "
                "be read (3 tries): injected read failure"))
        fail_msg("acquire's error: %s", qv_last_error());
    assert_int_equal(qv_buf_acquire(bo, QV_R), 0); /* the copy is still there */
    assert_true(out[N - 1] == a[N - 1] + b[N - 1]);
    assert_int_equal(qv_buf_release(bo), 0);
    assert_int_equal(qv_buf_unregister(ba), 0);
    assert_int_equal(qv_buf_unregister(bb), 0);
    assert_int_equal(qv_buf_unregister(bo), 0);
    qv_runtime_destroy(rt);
}

/* A runtime with the emulated board and vadd on it and on the CPU (cpu);
 * the board's index into *dev, its info into *di. */
static qv_runtime *vadd_runtime(qv_cpu_fn cpu, qv_func **f, unsigned *dev, qv_device_info *di)
{
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    assert_int_equal(qv_func_create(rt, "vadd", qv_test_vadd_sig, 4, f), 0);
    assert_int_equal(qv_func_set_cpu(*f, cpu), 0);
    assert_int_equal(qv_func_set_fpga(*f, "vadd"), 0);
    *dev = device_named(rt, "alveo-u250-emu", di);
    return rt;
}

/* vadd(in0, in1, dst) of n floats; waits. */
static void vadd_on(qv_runtime *rt, qv_func *f, qv_buf *in0, qv_buf *in1, qv_buf *dst,
                    uint32_t n)
{
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(in0), QV_BUF(in1), QV_BUF(dst), QV_VAL(n)},
                               4),
                     0);
    assert_int_equal(qv_wait_all(rt), 0);
}

/* An emulated board's model is the card's: eager placement prices a run
 * there at the emulation's wall time. Here the board's model is made 1000x
 * faster than its runs take (its slowdown 0.001), and a chain of calls
 * starts on data the board wrote: before, the board took every call (no
 * copy, a run modelled at 0.01 us, against the CPU's copy of the input);
 * the signal chain of bench/loop --pays ran 3-4x slower eagerly so, its
 * data left on the board by a plan. Now the CPU takes them. */
static void emulated_board_priced_at_its_wall_time(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info d0, d1;
    unsigned dev;
    qv_runtime *rt = vadd_runtime(qv_test_cpu_vadd, &f, &dev, &d0);
    rt->policy->implicit_regions = 0; /* placed eagerly, not by a plan */
    assert_int_equal(qv__emu_set_slowdown(rt, d0.name, 0.001), 0);
    /* Each board run 50 us longer (a sleep before it): the emulator runs
     * the kernel on its driver thread, as fast as the CPU's vadd, and the
     * premise below needs a board slower in wall time than the CPU. */
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 50);
    enum { LEN = 4096, CALLS = 40, WARM = 6 };
    static float xa[LEN], xb[LEN], xc[2][LEN];
    qv_buf *ba, *bb, *bc[2];
    assert_int_equal(qv_buf_register(rt, xa, sizeof xa, &ba), 0);
    assert_int_equal(qv_buf_register(rt, xb, sizeof xb, &bb), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_register(rt, xc[k], sizeof xc[k], &bc[k]), 0);
    /* The models: the CPU's on xa, the board's (and its wall time) there
     * only, which leaves xc[0] on the board. */
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_CPU), 0);
    for (int i = 0; i < WARM; i++)
        vadd_on(rt, f, ba, bb, bc[1], LEN);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    for (int i = 0; i < WARM; i++)
        vadd_on(rt, f, ba, bb, bc[0], LEN);
    assert_int_equal(qv_func_set_where(f, 0), 0);
    double x = qv__func_emu_x(f, QV_CLASS_FPGA, qv__now_ns());
    if (!(x > 10))
        fail_msg("the board's runs took %.2fx their modelled time", x);
    /* The premise: on the models, the CPU with its copy of the input runs
     * a call sooner than the board runs it in wall time (under a sanitizer
     * the CPU's vadd may not). */
    double cpu_us = 0, board_us = 0;
    size_t bytes = 3 * sizeof xa;
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_CPU], bytes, &cpu_us, NULL, NULL), 0);
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_FPGA], bytes, &board_us, NULL, NULL), 0);
    cpu_us += qv__devq_transfer_us(rt, dev, sizeof xa);
    if (cpu_us >= board_us * x) {
        print_message("the CPU takes %.1f us a call here, the board %.1f: nothing to "
                      "test\n", cpu_us, board_us * x);
        qv__fault_delay_set(NULL, 0, 0);
        qv_runtime_destroy(rt);
        skip();
    }
    assert_int_equal(qv_device_get(rt, dev, &d0), 0);
    for (int i = 0; i < CALLS; i++)
        vadd_on(rt, f, bc[i % 2], bb, bc[(i + 1) % 2], LEN);
    assert_int_equal(qv_device_get(rt, dev, &d1), 0);
    if (d1.tasks - d0.tasks > CALLS / 4)
        fail_msg("%llu of %d calls on the board, which runs them in %.1f us (its model "
                 "%.3f), the CPU in %.1f", (unsigned long long)(d1.tasks - d0.tasks), CALLS,
                 board_us * x, board_us, cpu_us);
    qv__fault_delay_set(NULL, 0, 0);
    assert_int_equal(qv_buf_unregister(ba), 0);
    assert_int_equal(qv_buf_unregister(bb), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_unregister(bc[k]), 0);
    qv_runtime_destroy(rt);
}

/* vadd on the CPU after 10 us of busy work: faster than on the emulated
 * board, whose call costs the copies of its two inputs (the board file's
 * 10 us of link latency each) and the model. */
static void cpu_vadd_after(const qv_call *c, long ns)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < ns);
    qv_test_cpu_vadd(c);
}

static void cpu_vadd_10us(const qv_call *c)
{
    cpu_vadd_after(c, 10000);
}

/* The same after 1 ms: slower than the emulated board's wall time. */
static void cpu_vadd_1ms(const qv_call *c)
{
    cpu_vadd_after(c, 1000000);
}

/* Calls of a chain c[i % 2] -> c[(i + 1) % 2] of LEN floats that ran on
 * the board (device dev). */
static unsigned long long chain_on_board(qv_runtime *rt, qv_func *f, unsigned dev, qv_buf *in,
                                         qv_buf *c[2], uint32_t len, int calls)
{
    qv_device_info d0, d1;
    assert_int_equal(qv_device_get(rt, dev, &d0), 0);
    for (int i = 0; i < calls; i++)
        vadd_on(rt, f, c[i % 2], in, c[(i + 1) % 2], len);
    assert_int_equal(qv_device_get(rt, dev, &d1), 0);
    return d1.tasks - d0.tasks;
}

/* A board that the wall time of its runs priced out of eager placement
 * (here five runs that took 1000x their model, as a preempted emulator
 * thread's may) is priced at its model again once that is older than
 * 1 s: its next runs measure it anew. Before, nothing sent it another
 * run, and its price never moved (a review: a board 5-10x faster than the
 * CPU took none of 40 calls after a busy moment in its warm-up). */
static void board_priced_out_by_a_spike_comes_back(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info di;
    unsigned dev;
    qv_runtime *rt = vadd_runtime(cpu_vadd_1ms, &f, &dev, &di);
    rt->policy->implicit_regions = 0; /* placed eagerly, not by a plan */
    enum { LEN = 4096, CALLS = 20 };
    static float xb[LEN], xc[2][LEN];
    qv_buf *bb, *bc[2];
    assert_int_equal(qv_buf_register(rt, xb, sizeof xb, &bb), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_register(rt, xc[k], sizeof xc[k], &bc[k]), 0);
    for (unsigned cls = QV_CLASS_CPU; cls <= QV_CLASS_FPGA; cls += QV_CLASS_FPGA) {
        assert_int_equal(qv_func_set_where(f, 1u << cls), 0); /* the models' tries */
        for (int i = 0; i < 4; i++)
            vadd_on(rt, f, bc[0], bb, bc[1], LEN);
    }
    assert_int_equal(qv_func_set_where(f, 0), 0);
    /* The premise: the board runs the calls faster than the CPU. */
    unsigned long long n = chain_on_board(rt, f, dev, bb, bc, LEN, CALLS);
    if (n < CALLS / 2) {
        print_message("the board took %llu of %d calls: nothing to test\n", n, CALLS);
        qv_runtime_destroy(rt);
        skip();
    }
    for (int k = 0; k < QV__EMU_RUNS; k++)
        qv__func_emu_wall(f, QV_CLASS_FPGA, 1000, qv__now_ns(), false);
    n = chain_on_board(rt, f, dev, bb, bc, LEN, CALLS);
    if (n > 2)
        fail_msg("%llu of %d calls on a board priced at 1000x its model", n, CALLS);
    /* Measured anew: its next QV__EMU_MIN runs priced at its model (what
     * they measure then decides the rest: on a loaded machine a woken
     * emulator thread may well take longer than the CPU's 1 ms) */
    usleep(1200 * 1000);
    n = chain_on_board(rt, f, dev, bb, bc, LEN, CALLS);
    if (n < QV__EMU_MIN)
        fail_msg("%llu of %d calls on the board 1.2 s after its spike", n, CALLS);
    assert_int_equal(qv_buf_unregister(bb), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_unregister(bc[k]), 0);
    qv_runtime_destroy(rt);
}

/* A runtime whose CPU runs vadd of REFRESH_LEN floats faster than the
 * board (its model 100x the card's, about 220 us, and its runs 100 us
 * longer, a sleep before each: faster under a sanitizer too, and after a
 * pause, when the board is priced at its model), the models calibrated on
 * the chain's buffers (the CPU's unless calibrate_cpu is false). */
enum { REFRESH_LEN = 256, REFRESH_CALLS = 20 };
static qv_runtime *refresh_runtime(qv_func **f, unsigned *dev, qv_buf **in, qv_buf *c[2],
                                   bool calibrate_cpu)
{
    static float xb[REFRESH_LEN], xc[2][REFRESH_LEN];
    qv_device_info di;
    qv_runtime *rt = vadd_runtime(qv_test_cpu_vadd, f, dev, &di);
    rt->policy->implicit_regions = 0; /* placed eagerly, not by a plan */
    rt->policy->perfmodel_refresh_ms = 300;
    assert_int_equal(qv__emu_set_slowdown(rt, di.name, 100), 0);
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 100);
    assert_int_equal(qv_buf_register(rt, xb, sizeof xb, in), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_register(rt, xc[k], sizeof xc[k], &c[k]), 0);
    for (unsigned cls = QV_CLASS_CPU; cls <= QV_CLASS_FPGA; cls += QV_CLASS_FPGA) {
        if (cls == QV_CLASS_CPU && !calibrate_cpu)
            continue;
        assert_int_equal(qv_func_set_where(*f, 1u << cls), 0); /* the models' tries */
        for (int i = 0; i < 4; i++)
            vadd_on(rt, *f, c[0], *in, c[1], REFRESH_LEN);
    }
    assert_int_equal(qv_func_set_where(*f, 0), 0);
    return rt;
}

static void refresh_runtime_destroy(qv_runtime *rt, qv_buf *in, qv_buf *c[2])
{
    qv__fault_delay_set(NULL, 0, 0);
    assert_int_equal(qv_buf_unregister(in), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(qv_buf_unregister(c[k]), 0);
    qv_runtime_destroy(rt);
}

/* A model that a bad moment inflated (here the CPU's, its window filled
 * with 5 ms runs of a call that takes a few us, as runs beside a busy core
 * may) is refreshed: once it was not measured for perfmodel.refresh_ms (or
 * 100 times its price, 500 ms here) while 16 calls went elsewhere, one
 * call goes there, and a refresh that fast starts its window over, so the
 * CPU takes the calls again. Before, the board took every call for ever,
 * as nothing sent the CPU another (a planned run of bench/loop --pays
 * ended with fft's CPU model at 771 us, its runs 29). */
static void inflated_model_is_refreshed(void **state)
{
    (void)state;
    qv_func *f;
    qv_buf *in, *c[2];
    unsigned dev;
    qv_runtime *rt = refresh_runtime(&f, &dev, &in, c, true);
    size_t bytes = 3 * REFRESH_LEN * sizeof(float); /* the bucket of the chain's calls */
    /* The premise: the CPU runs the calls faster than the board. */
    unsigned long long n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    if (n > REFRESH_CALLS / 2) {
        double cpu = -1, board = -1;
        qv_perfmodel_estimate(f, QV_CLASS_CPU, bytes, &cpu);
        qv_perfmodel_estimate(f, QV_CLASS_FPGA, bytes, &board);
        print_message(
            "the board took %llu of %d calls (the CPU's model %.1f us, the board's "
            "%.1f and %.2fx that in wall time): nothing to test\n",
            n, REFRESH_CALLS, cpu, board, qv__func_emu_x(f, QV_CLASS_FPGA, qv__now_ns()));
        refresh_runtime_destroy(rt, in, c);
        skip();
    }
    for (int k = 0; k < QV__PERF_WINDOW; k++)
        qv__perf_add(f, QV_CLASS_CPU, bytes, 5000);
    n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    if (n < REFRESH_CALLS - 2)
        fail_msg("%llu of %d calls on the board beside a CPU priced at 5 ms", n,
                 REFRESH_CALLS);
    usleep(600 * 1000);
    n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    if (n > REFRESH_CALLS / 2)
        fail_msg("%llu of %d calls on the board %d ms after the CPU's last run", n,
                 REFRESH_CALLS, 600);
    double est = 0;
    assert_int_equal(qv_perfmodel_estimate(f, QV_CLASS_CPU, bytes, &est), 0);
    refresh_runtime_destroy(rt, in, c);
    if (est > 100)
        fail_msg("the CPU's model is %.1f us after its refresh", est);
}

/* Calls that come once in a while, each after perfmodel.refresh_ms: they
 * stay on the faster device but one, since refreshes wait for calls that
 * went elsewhere too (a review: 6 of 6 calls 400 ms apart went to the
 * slower board, each a refresh). */
static void sparse_calls_stay_on_the_faster_device(void **state)
{
    (void)state;
    qv_func *f;
    qv_buf *in, *c[2];
    unsigned dev;
    qv_runtime *rt = refresh_runtime(&f, &dev, &in, c, true);
    unsigned long long n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    if (n > REFRESH_CALLS / 2) {
        print_message("the board took %llu of %d calls: nothing to test\n", n,
                      REFRESH_CALLS);
        refresh_runtime_destroy(rt, in, c);
        skip();
    }
    n = 0;
    for (int i = 0; i < 5; i++) {
        usleep(350 * 1000);
        n += chain_on_board(rt, f, dev, in, c, REFRESH_LEN, 1);
    }
    size_t bytes = 3 * REFRESH_LEN * sizeof(float);
    double cpu = -1, board = -1;
    qv_perfmodel_estimate(f, QV_CLASS_CPU, bytes, &cpu);
    qv_perfmodel_estimate(f, QV_CLASS_FPGA, bytes, &board);
    double x = qv__func_emu_x(f, QV_CLASS_FPGA, qv__now_ns());
    refresh_runtime_destroy(rt, in, c);
    if (n > 1) /* the first may be a refresh: the chain above passed the board by */
        fail_msg("%llu of 5 calls 350 ms apart went to the slower board (the CPU's model "
                 "%.1f us, the board's %.1f and %.2fx that in wall time)",
                 n, cpu, board, x);
}

/* A bucket of fewer than perfmodel.min_samples (the function's tries were
 * spent on another size) is refreshed too: here one slow first run on the
 * CPU. Before, the board took every call for ever (a review: 40 of 40,
 * the CPU's model still at 1 ms). */
static void thin_bucket_is_refreshed(void **state)
{
    (void)state;
    enum { SMALL = 64 };
    static float xs[3][SMALL];
    qv_func *f;
    qv_buf *in, *c[2], *s[3];
    unsigned dev;
    qv_runtime *rt = refresh_runtime(&f, &dev, &in, c, false);
    for (int k = 0; k < 3; k++)
        assert_int_equal(qv_buf_register(rt, xs[k], sizeof xs[k], &s[k]), 0);
    for (int i = 0; i < 8; i++) /* the CPU's tries, at another size */
        vadd_on(rt, f, s[0], s[1], s[2], SMALL);
    for (int k = 0; k < 3; k++)
        assert_int_equal(qv_buf_unregister(s[k]), 0);
    size_t bytes = 3 * REFRESH_LEN * sizeof(float);
    qv__perf_add(f, QV_CLASS_CPU, bytes, 1000);
    usleep(350 * 1000);
    unsigned long long n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    n += chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    double est = -1;
    qv_perfmodel_estimate(f, QV_CLASS_CPU, bytes, &est);
    refresh_runtime_destroy(rt, in, c);
    /* The first 16 calls pass the CPU by; the 17th refreshes it. */
    if (n > REFRESH_CALLS)
        fail_msg("%llu of %d calls on the board, the CPU's model at %.1f us", n,
                 2 * REFRESH_CALLS, est);
}

/* A model loaded from the file (here the CPU's, saved inflated at 5 ms by
 * an earlier run) is refreshed in a run shorter than perfmodel.refresh_ms,
 * once 16 calls passed it by. Before, its age counted from the run's first
 * look, and runs that short never measured it again: each saved it as it
 * was (adversarial testing). */
static void loaded_model_is_refreshed_in_a_short_run(void **state)
{
    (void)state;
    qv_func *f;
    qv_buf *in, *c[2];
    unsigned dev;
    qv_runtime *rt = refresh_runtime(&f, &dev, &in, c, false);
    rt->policy->perfmodel_refresh_ms = 60000;
    size_t bytes = 3 * REFRESH_LEN * sizeof(float);
    for (int k = 0; k < QV__PERF_WINDOW; k++)
        qv__perf_add(f, QV_CLASS_CPU, bytes, 5000);
    qv__perf *p = f->perf[QV_CLASS_CPU];
    p->b[qv__perf_bucket_of(bytes)]->last_ns = 0; /* as loaded: not measured here */
    p->b[qv__perf_bucket_of(bytes)]->measured = 0;
    unsigned long long n = chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    n += chain_on_board(rt, f, dev, in, c, REFRESH_LEN, REFRESH_CALLS);
    double est = -1;
    qv_perfmodel_estimate(f, QV_CLASS_CPU, bytes, &est);
    refresh_runtime_destroy(rt, in, c);
    /* 16 calls pass the CPU by; the 17th refreshes it. */
    if (n > REFRESH_CALLS || est > 100)
        fail_msg("%llu of %d calls on the board, the CPU's model at %.1f us", n,
                 2 * REFRESH_CALLS, est);
}

/* Two models due a refresh at one call (here the GPU's and the board's,
 * both loaded inflated at 5 ms beside a CPU measured at 10 us): the call
 * refreshes one, and the next call the other. Before, the one not sent
 * was counted as sent too (its passes and its age started over), so that
 * with calls too sparse to come between the two ages the first class
 * took every refresh and the other's model was never measured again
 * (review). Placed directly: no task runs. */
static void two_due_models_both_get_a_refresh(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = qv_test_default_runtime(&have);
    assert_non_null(rt);
    unsigned want = 1u << QV_CLASS_GPU | 1u << QV_CLASS_FPGA;
    if ((have & want) != want) {
        qv_runtime_destroy(rt);
        skip();
    }
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, qv_test_cpu_vadd), 0);
    qv_opencl_impl cl = {qv_test_vadd_cl(), "vadd", NULL, qv_test_range_vadd};
    assert_int_equal(qv_func_set_opencl(f, &cl), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    size_t bytes = 3 * 4096 * sizeof(float);
    for (int k = 0; k < QV__PERF_WINDOW; k++) {
        qv__perf_add(f, QV_CLASS_CPU, bytes, 10);
        qv__perf_add(f, QV_CLASS_GPU, bytes, 5000);
        qv__perf_add(f, QV_CLASS_FPGA, bytes, 5000);
    }
    for (unsigned c = QV_CLASS_GPU; c <= QV_CLASS_FPGA; c++) {
        qv__perf_bucket *bk = f->perf[c]->b[qv__perf_bucket_of(bytes)];
        bk->last_ns = 0; /* as loaded: not measured here */
        bk->measured = 0;
    }
    static qv__task t;
    memset(&t, 0, sizeof t);
    t.func = f;
    t.bytes = bytes;
    unsigned refreshed = 0, calls = 0;
    for (unsigned i = 0; i < QV__PERF_REFRESH_PASSED + 1; i++) {
        unsigned d = qv__place(rt, &t);
        if (t.refresh)
            refreshed |= 1u << qv__devq_class(rt, d);
        calls += d != 0;
    }
    qv_runtime_destroy(rt);
    if (refreshed != want)
        fail_msg("%u calls of %u refreshed %s%s%s", calls, QV__PERF_REFRESH_PASSED + 1,
                 refreshed & 1u << QV_CLASS_GPU ? "the GPU's model" : "",
                 refreshed & 1u << QV_CLASS_FPGA ? "the board's model" : "",
                 refreshed ? " alone" : "no model");
}

/* A device on the host's cores (the emulated board; PoCL alike) adds no
 * capacity beside the CPU: eager placement gives it a call only where it
 * runs the call sooner than a CPU worker would once one is free. Before,
 * a burst of calls that the CPU runs faster went to the board as the
 * CPU's queue grew, and its emulator took a core from the workers (the
 * signal chain of bench/loop --pays ran 2x slower eagerly than on the CPU
 * alone). 64 independent calls, each on buffers of its own: none on the
 * board. */
static void host_core_device_is_no_extra_capacity(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info d0, d1;
    unsigned dev;
    qv_runtime *rt = vadd_runtime(cpu_vadd_10us, &f, &dev, &d0);
    /* Each board run 20 us longer (a sleep before it): the emulator runs
     * the kernel on its driver thread in 3 us, a third of the CPU's call,
     * and a board that fast legitimately takes a share of a burst (23 of
     * 64 in a fresh clone's run of 2026-12-03); a card's launch and wait
     * cost as much. */
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 20);
    enum { CALLS = 64, WARM = 12, SMALL = 256 };
    static float x[CALLS + WARM][3][SMALL];
    qv_buf *bufs[CALLS + WARM][3];
    uint32_t n = SMALL;
    for (int i = 0; i < CALLS + WARM; i++)
        for (int k = 0; k < 3; k++)
            assert_int_equal(qv_buf_register(rt, x[i][k], sizeof x[i][k], &bufs[i][k]), 0);
    /* the models' tries, one call at a time, on buffers of their own (the
     * burst's are on the host only: each call on the board copies two) */
    for (int i = CALLS; i < CALLS + WARM; i++) {
        assert_int_equal(qv_submit(rt, f,
                                   (qv_arg[]){QV_BUF(bufs[i][0]), QV_BUF(bufs[i][1]),
                                              QV_BUF(bufs[i][2]), QV_VAL(n)},
                                   4),
                         0);
        assert_int_equal(qv_wait_all(rt), 0);
    }
    /* The premise, from the models: the CPU runs a call sooner than the
     * board with its two copies (not so under ThreadSanitizer, which makes
     * the CPU's vadd slow and leaves the board's model as it is). */
    double cpu_us = 0, board_us = 0;
    size_t bytes = 3 * sizeof x[0][0];
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_CPU], bytes, &cpu_us, NULL, NULL), 0);
    assert_int_equal(qv__perf_get(f->perf[QV_CLASS_FPGA], bytes, &board_us, NULL, NULL), 0);
    board_us += 2 * qv__devq_transfer_us(rt, dev, sizeof x[0][0]);
    if (cpu_us >= board_us) {
        print_message("the CPU takes %.1f us a call here, the board %.1f: nothing to "
                      "test\n", cpu_us, board_us);
        qv__fault_delay_set(NULL, 0, 0);
        qv_runtime_destroy(rt);
        skip();
    }
    /* Up to 5 bursts, one with at most an eighth on the board: a worker
     * preempted on a loaded machine (a sanitizer build beside other tests)
     * makes the CPU free later than its model says, and the board, priced
     * at its modelled time, then legitimately runs some (35 of 64 once, in
     * 1 of 26 CI-like runs; 28 in each of 3 bursts once, in a fresh
     * clone's sanitizer pass); before the fix every burst sent the board
     * its share. */
    unsigned long long on_board = 0;
    for (int k = 0; k < 5; k++) {
        assert_int_equal(qv_device_get(rt, dev, &d0), 0);
        /* a region of its own: placed eagerly, not by the plan of the
         * warm-up's implicit region (its one call, replayed, would match
         * the burst's first), nor by a plan of the bursts before */
        char name[16];
        snprintf(name, sizeof name, "burst%d", k);
        assert_int_equal(qv_region_begin(rt, name), 0);
        for (int i = 0; i < CALLS; i++)
            assert_int_equal(qv_submit(rt, f,
                                       (qv_arg[]){QV_BUF(bufs[i][0]), QV_BUF(bufs[i][1]),
                                                  QV_BUF(bufs[i][2]), QV_VAL(n)},
                                       4),
                             0);
        assert_int_equal(qv_region_end(rt), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        assert_int_equal(qv_device_get(rt, dev, &d1), 0);
        on_board = d1.tasks - d0.tasks;
        if (on_board <= CALLS / 8)
            break;
    }
    qv__fault_delay_set(NULL, 0, 0);
    if (on_board > CALLS / 8)
        fail_msg("%llu of %d calls on the board, which runs them slower than the CPU",
                 on_board, CALLS);
    for (int i = 0; i < CALLS + WARM; i++)
        for (int k = 0; k < 3; k++)
            assert_int_equal(qv_buf_unregister(bufs[i][k]), 0);
    qv_runtime_destroy(rt);
}

/* qv__emu_set_slowdown (the adaptation tests' knob): after a slowdown of
 * 4 the runtime records 4 times the modelled time for the same call (the
 * recorded node's board_us, which the models learn), and the board's clock
 * advances by as much more; 1 restores the model. A name that is no
 * emulated board of the runtime, and a factor that is not a finite number
 * above 0, are refused. */
static void slowdown_scales_the_modelled_time(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with(QV_CLASS_FPGA);
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    qv_device_info d[4], cpu;
    unsigned dev = device_named(rt, "alveo-u250-emu", &d[0]);
    assert_int_equal(qv_device_get(rt, 0, &cpu), 0);
    assert_int_equal(qv_graph_reset(rt), 0);
    const double factor[3] = { 1, 4, 1 };
    for (int k = 0; k < 3; k++) {
        assert_int_equal(qv__emu_set_slowdown(rt, "alveo-u250-emu", factor[k]), 0);
        submit_vadd(rt, f, 3);
        assert_int_equal(qv_device_get(rt, dev, &d[k + 1]), 0);
    }
    assert_int_equal(d[3].tasks - d[0].tasks, 9);
    double trips = 2.0 * N + 80.0 * ((N + 1023) / 1024);
    double model = (70.0 + (trips - 1)) / 300.0; /* µs, as above */
    qv__gview g;
    assert_int_equal(qv__gview_build(rt, &g), 0);
    assert_int_equal(g.n, 9);
    for (uint64_t i = 0; i < g.n; i++) {
        double want = model * factor[i / 3];
        assert_true(fabs(qv__gview_node(&g, i).board_us - want) < 1e-4 * want);
    }
    qv__gview_free(&g);
    /* The same copies in each batch: the clock differs by the runs alone. */
    double batch[3];
    for (int k = 0; k < 3; k++)
        batch[k] = d[k + 1].board_us - d[k].board_us;
    assert_true(fabs(batch[1] - batch[0] - 3 * 3 * model) < 1e-6 * batch[1]);
    assert_true(fabs(batch[2] - batch[0]) < 1e-6 * batch[1]);

    assert_int_equal(qv__emu_set_slowdown(rt, "alveo-u250", 2), QV_ENOENT);
    assert_non_null(strstr(qv_last_error(), "alveo-u250"));
    assert_int_equal(qv__emu_set_slowdown(rt, cpu.name, 2), QV_ENOENT);
    assert_int_equal(qv__emu_set_slowdown(rt, NULL, 2), QV_EINVAL);
    const double bad[] = { 0, -1, NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(qv__emu_set_slowdown(rt, "alveo-u250-emu", bad[i]), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "finite"));
    qv_runtime_destroy(rt);
    assert_int_equal(qv__emu_set_slowdown(rt, "alveo-u250-emu", 2), QV_EINVAL);
}

/* The short CPU tasks a board's task readies (qv__func_on_driver) run on
 * the board's driver thread: qv_call.worker is the driver's graph track,
 * and the CPU's count has them. Past QV__ON_DRIVER_BYTES, a worker. */
enum { BIG = (QV__ON_DRIVER_BYTES / sizeof(float)) + 1024 };
static float big_a[BIG], big_b[BIG], big_out[BIG];
static _Atomic unsigned seen_worker[2];
static _Atomic unsigned seen_sum_ok;

static void check_sum(const qv_call *c)
{
    const float *o = c->ptr[0];
    unsigned which = *(const unsigned *)c->ptr[1];
    uint32_t n = *(const uint32_t *)c->ptr[2];
    atomic_store(&seen_worker[which], c->worker);
    bool ok = true;
    for (uint32_t i = 0; i < n; i += 97)
        ok &= o[i] == (float)i + 2.0f;
    if (ok)
        atomic_fetch_add(&seen_sum_ok, 1);
}

static void short_cpu_task_runs_on_the_driver_that_readies_it(void **state)
{
    (void)state;
    /* Workers that never spin: a spinning one takes the task without a
     * wake-up, and the driver leaves it to it. */
    qv_runtime *rt = qv_test_runtime_with_spin(QV_CLASS_FPGA, 0);
    unsigned dev = qv_test_device_of(rt, QV_CLASS_FPGA);
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    qv_func *chk;
    qv_arg_desc d[] = {QV_ARG_BUF("out", QV_R), QV_ARG_SCALAR("which", unsigned),
                       QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, "check_sum", d, 3, &chk), 0);
    assert_int_equal(qv_func_set_cpu(chk, check_sum), 0);
    qv__func_on_driver(chk);
    float *in_a[2] = {a, big_a}, *in_b[2] = {b, big_b}, *res[2] = {out, big_out};
    uint32_t n[2] = {N, BIG};
    qv_device_info c0, c1;
    assert_int_equal(qv_device_get(rt, 0, &c0), 0);
    for (unsigned k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < n[k]; i++) {
            in_a[k][i] = (float)i;
            in_b[k][i] = 2.0f;
        }
        qv_buf *ba, *bb, *bo;
        size_t bytes = n[k] * sizeof(float);
        assert_int_equal(qv_buf_register(rt, in_a[k], bytes, &ba), 0);
        assert_int_equal(qv_buf_register(rt, in_b[k], bytes, &bb), 0);
        assert_int_equal(qv_buf_register(rt, res[k], bytes, &bo), 0);
        atomic_store(&seen_worker[k], UINT_MAX);
        /* a held: the board's run waits until both calls are in, so that
         * its end readies check_sum (not the submission, had it ended). */
        assert_int_equal(qv_buf_acquire(ba, QV_W), 0);
        assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo),
                                                     QV_VAL(n[k])}, 4), 0);
        assert_int_equal(qv_submit(rt, chk, (qv_arg[]){QV_BUF(bo), QV_VAL(k), QV_VAL(n[k])},
                                   3), 0);
        assert_int_equal(qv_buf_release(ba), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        qv_buf_unregister(ba);
        qv_buf_unregister(bb);
        qv_buf_unregister(bo);
    }
    assert_int_equal(atomic_load(&seen_sum_ok), 2); /* the board's result, home */
    assert_int_equal(atomic_load(&seen_worker[0]), 2 + dev - 1); /* the driver's */
    assert_true(atomic_load(&seen_worker[1]) < 2);                /* a worker */
    assert_int_equal(qv_device_get(rt, 0, &c1), 0);
    assert_int_equal(c1.tasks - c0.tasks, 2);
    qv_runtime_destroy(rt);
}

/* Between qv__devq_hold_begin and _end (quiverd's socket thread around a
 * RUN), a short run placed on a board whose driver sleeps waits, and the
 * thread runs it itself at the end, with what it readies: here two vadds
 * in a chain and the check that reads the second's output, all on the
 * calling thread (pthread_self in the check) and done when hold_end
 * returns. Past QV__ON_DRIVER_BYTES of buffers a run is not held: the
 * driver takes it, and a worker the check. */
static _Atomic(pthread_t) seen_thread;
static _Atomic unsigned held_checks;

static void check_where(const qv_call *c)
{
    const float *o = c->ptr[0];
    uint32_t n = *(const uint32_t *)c->ptr[1];
    atomic_store(&seen_thread, pthread_self());
    bool ok = true;
    for (uint32_t i = 0; i < n; i += 61)
        ok &= o[i] == (float)i + 4.0f;
    if (ok)
        atomic_fetch_add(&held_checks, 1);
}

static void short_run_runs_on_the_thread_that_holds(void **state)
{
    (void)state;
    qv_runtime *rt = qv_test_runtime_with_spin(QV_CLASS_FPGA, 0); /* drivers sleep */
    qv_func *f = vadd_func(rt, false);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_FPGA), 0);
    qv_func *chk;
    qv_arg_desc d[] = {QV_ARG_BUF("out", QV_R), QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, "check_where", d, 2, &chk), 0);
    assert_int_equal(qv_func_set_cpu(chk, check_where), 0);
    qv__func_on_driver(chk);
    float *in_a[2] = {a, big_a}, *in_b[2] = {b, big_b}, *res[2] = {out, big_out};
    static float mid[BIG];
    uint32_t n[2] = {N, BIG};
    for (unsigned k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < n[k]; i++) {
            in_a[k][i] = (float)i;
            in_b[k][i] = 2.0f;
        }
        qv_buf *ba, *bb, *bm, *bo;
        size_t bytes = n[k] * sizeof(float);
        assert_int_equal(qv_buf_register(rt, in_a[k], bytes, &ba), 0);
        assert_int_equal(qv_buf_register(rt, in_b[k], bytes, &bb), 0);
        assert_int_equal(qv_buf_register(rt, mid, bytes, &bm), 0);
        assert_int_equal(qv_buf_register(rt, res[k], bytes, &bo), 0);
        for (int i = 0; i < 12; i++) /* the board's models, and its pace */
            vadd_on(rt, f, ba, bb, bm, n[k]);
        /* The driver may still be on its way to sleep: a few tries. */
        bool here = false;
        for (int tries = 0; tries < 20 && !here; tries++) {
            struct timespec ms = {0, 20 * 1000000};
            nanosleep(&ms, NULL);
            memset(res[k], 0, bytes);
            unsigned checks = atomic_load(&held_checks);
            atomic_store(&seen_thread, (pthread_t)0);
            qv__devq_hold_begin(rt);
            assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bm),
                                                         QV_VAL(n[k])}, 4), 0);
            assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(bm), QV_BUF(bb), QV_BUF(bo),
                                                         QV_VAL(n[k])}, 4), 0);
            assert_int_equal(qv_submit(rt, chk, (qv_arg[]){QV_BUF(bo), QV_VAL(n[k])}, 2), 0);
            qv__devq_hold_end(rt);
            here = atomic_load(&held_checks) == checks + 1 &&
                   pthread_equal(atomic_load(&seen_thread), pthread_self());
            assert_int_equal(qv_wait_all(rt), 0);
            assert_int_equal(atomic_load(&held_checks), checks + 1);
            if (k == 1)
                break; /* one try: never here */
        }
        assert_true(here == (k == 0));
        if (k == 0) {
            /* More kept than the runtime lets be in flight: a thread that
             * keeps tasks is not held back (they would never run). */
            alarm(60);
            size_t was = rt->max_inflight;
            rt->max_inflight = 2;
            qv__devq_hold_begin(rt);
            for (int i = 0; i < 6; i++)
                assert_int_equal(qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bm),
                                                             QV_VAL(n[k])}, 4), 0);
            qv__devq_hold_end(rt);
            assert_int_equal(qv_wait_all(rt), 0);
            rt->max_inflight = was;
            alarm(0);
        }
        qv_buf_unregister(ba);
        qv_buf_unregister(bb);
        qv_buf_unregister(bm);
        qv_buf_unregister(bo);
    }
    qv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_agree_with_discovery),
        cmocka_unit_test(planner_sees_the_runtimes_devices),
        cmocka_unit_test(rescan_events_reach_the_runtime),
        cmocka_unit_test(rescan_interval_drives_the_rescans),
        cmocka_unit_test(no_build_no_task),
        cmocka_unit_test(emulated_runs_cost_the_modelled_time),
        cmocka_unit_test(partial_write_leaks_no_other_buffer),
        cmocka_unit_test(failed_copy_home_says_why),
        cmocka_unit_test(slowdown_scales_the_modelled_time),
        cmocka_unit_test(host_core_device_is_no_extra_capacity),
        cmocka_unit_test(emulated_board_priced_at_its_wall_time),
        cmocka_unit_test(board_priced_out_by_a_spike_comes_back),
        cmocka_unit_test(inflated_model_is_refreshed),
        cmocka_unit_test(sparse_calls_stay_on_the_faster_device),
        cmocka_unit_test(thin_bucket_is_refreshed),
        cmocka_unit_test(loaded_model_is_refreshed_in_a_short_run),
        cmocka_unit_test(two_due_models_both_get_a_refresh),
        cmocka_unit_test(short_cpu_task_runs_on_the_driver_that_readies_it),
        cmocka_unit_test(short_run_runs_on_the_thread_that_holds),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
