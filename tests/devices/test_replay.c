/*
 * test_replay.c - the run-time loop on devices (core/region.c, core/loop.c):
 * random programs replayed on CPU + PoCL + the emulated board equal a
 * sequential run; an entry whose calls cannot go to the plan's device is
 * no replay; a board that fails in the middle of a replay has its task
 * run elsewhere and its region re-planned without it; a board made slower
 * is measured, and its region re-planned off it.
 *
 * Runs on the embedded default platform's devices (its board file and
 * catalog, with a policy of its own for the loop's settings). Parts that
 * need an absent class are skipped.
 */
#include "helper.h"

#include <time.h>

#include "core/internal.h"
#include "devices/device.h"
#include "quiver.h"
#include "platform.h"

enum { N = 4096, NB = 6 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* vadd on the CPU, taking cpu_us longer than it needs: a CPU that loses to
 * the board, so that plans put work there. */
static double cpu_us;
static void slow_cpu_vadd(const qv_call *c)
{
    double t0 = now_s();
    qv_test_cpu_vadd(c);
    while ((now_s() - t0) * 1e6 < cpu_us)
        ;
}

static uint32_t entry_n = N; /* elements a call adds (run_entry) */

/* A runtime on the default platform's devices with the loop's policy. */
static qv_runtime *open_rt(const char *extra, unsigned *have)
{
    static int seq;
    const char *bin = getenv("QV_BINARY_DIR");
    char path[512], text[2048];
    snprintf(text, sizeof text,
             "catalog: %s/share/quiver/kernels.yaml\n"
             "discovery: {rescan_interval_ms: 0, xrt: false,\n"
             "            boards: [%s/share/quiver/boards/emu/u250-emu.yaml]}\n"
             "hot_threshold: 2\n%s%s",
             bin, bin, extra,
             /* plans kept unless the test says: these test the replay, not
              * whether it beats eager placement on a loaded machine */
             strstr(extra, "replan:") ? "" : "replan: {eager_slack: 0}\n");
    snprintf(path, sizeof path, "%s/replay%d.yaml", qv_test_scratch(), seq++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    entry_n = N; /* (a test that failed with another) */
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.pin = 0;
    o.config = path;
    o.perfmodel_dir = "";
    qv_runtime *rt;
    if (qv_runtime_create(&o, &rt)) {
        fprintf(stderr, "runtime: %s\n", qv_last_error());
        fail();
    }
    *have = 0;
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        qv_device_info di;
        qv_device_get(rt, d, &di);
        *have |= 1u << di.cls;
    }
    return rt;
}

/* vadd with the CPU's implementation and those of the classes in have
 * (a bit per qv_class) there are: OpenCL, the catalog's FPGA kernel. */
static qv_func *vadd_on(qv_runtime *rt, unsigned have)
{
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, qv_test_cpu_vadd), 0);
    if (have & (1u << QV_CLASS_GPU))
        assert_int_equal(qv_func_set_opencl(f, &(qv_opencl_impl){qv_test_vadd_cl(), "vadd",
                                                                  NULL, qv_test_range_vadd}),
                         0);
    if (have & (1u << QV_CLASS_FPGA))
        assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    return f;
}

/* The device of class cls: its index, name and tasks so far. */
static unsigned device_of(qv_runtime *rt, qv_class cls, qv_device_info *out)
{
    for (unsigned d = 0; d < qv_device_count(rt); d++) {
        if (qv_device_get(rt, d, out) == 0 && out->cls == cls)
            return d;
    }
    fail_msg("no %s device", qv_class_name(cls));
    return 0;
}

static qv_region_info info_of(qv_runtime *rt, const char *name)
{
    qv_region_info ri;
    ri.size = sizeof ri;
    assert_int_equal(qv_region_get(rt, name, &ri), 0);
    return ri;
}

typedef struct prog {
    int n;
    int a[40], b[40], o[40];
} prog;

typedef struct arrays {
    float mem[NB][N];
    float ref[NB][N];
    qv_buf *b[NB];
} arrays;

static void arrays_open(qv_runtime *rt, arrays *A)
{
    for (int i = 0; i < NB; i++) {
        for (int e = 0; e < N; e++)
            A->mem[i][e] = A->ref[i][e] = (float)((i * 7 + e) % 13);
        assert_int_equal(
            qv_buf_register(rt, A->mem[i], entry_n * sizeof(float), &A->b[i]), 0);
    }
}

static void arrays_check(arrays *A)
{
    for (int i = 0; i < NB; i++) {
        assert_int_equal(qv_buf_wait(A->b[i]), 0);
        if (memcmp(A->mem[i], A->ref[i], sizeof A->mem[i]))
            fail_msg("buffer %d differs from the sequential run", i);
    }
}

static void arrays_close(arrays *A)
{
    for (int i = 0; i < NB; i++)
        assert_int_equal(qv_buf_unregister(A->b[i]), 0);
}

/* Submits p as one entry of region name and runs it sequentially too.
 * Sums of floats are the same IEEE operation on every device, so results
 * compare bit for bit (values that grow past 2^24 round, and past FLT_MAX
 * become inf, the same way everywhere). */
static void run_entry(qv_runtime *rt, qv_func *f, arrays *A, const prog *p, const char *name)
{
    uint32_t n = entry_n;
    assert_int_equal(qv_region_begin(rt, name), 0);
    for (int i = 0; i < p->n; i++) {
        qv_arg args[] = {QV_BUF(A->b[p->a[i]]), QV_BUF(A->b[p->b[i]]), QV_BUF(A->b[p->o[i]]),
                         QV_VAL(n)};
        assert_int_equal(qv_submit(rt, f, args, 4), 0);
        for (uint32_t e = 0; e < n; e++) {
            float v = A->ref[p->a[i]][e] + A->ref[p->b[i]][e];
            A->ref[p->o[i]][e] = v;
        }
    }
    assert_int_equal(qv_region_end(rt), 0);
}

static void prog_random(prog *p, int n, unsigned *seed)
{
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->o[i] = (int)(rand_r(seed) % NB);
        do
            p->a[i] = (int)(rand_r(seed) % NB);
        while (p->a[i] == p->o[i]);
        do
            p->b[i] = (int)(rand_r(seed) % NB);
        while (p->b[i] == p->o[i]);
    }
}

/* Random programs on every device class there is: replayed entries equal
 * the sequential run. */
static void replay_on_devices_equals_sequential(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    qv_func *f = vadd_on(rt, have);
    static arrays A;
    arrays_open(rt, &A);
    uint64_t replayed = 0;
    for (unsigned seed = 1; seed <= 6; seed++) {
        unsigned rs = seed * 7919;
        prog p;
        prog_random(&p, 3 + (int)(rand_r(&rs) % 10), &rs);
        char name[32];
        snprintf(name, sizeof name, "dev%u", seed);
        qv_region_info ri;
        double t0 = now_s();
        do {
            run_entry(rt, f, &A, &p, name);
            assert_int_equal(qv_wait_all(rt), 0);
            arrays_check(&A);
            ri = info_of(rt, name);
        } while (ri.replayed < 3 && now_s() - t0 < 60);
        assert_string_equal(ri.last_error, "");
        assert_true(ri.replayed >= 3);
        assert_int_equal(ri.guard_misses, 0);
        replayed += ri.replayed;
    }
    assert_true(replayed >= 18);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A chain the plan puts on the board (its CPU implementation is slow). */
static qv_runtime *board_setup(const char *extra, qv_func **f, qv_device_info *board,
                               unsigned *bdev)
{
    unsigned have;
    qv_runtime *rt = open_rt(extra, &have);
    if (!(have & (1u << QV_CLASS_FPGA))) {
        qv_runtime_destroy(rt);
        skip();
    }
    *bdev = device_of(rt, QV_CLASS_FPGA, board);
    assert_int_equal(qv_func_create(rt, "vadd_slow_cpu", qv_test_vadd_sig, 4, f), 0);
    assert_int_equal(qv_func_set_cpu(*f, slow_cpu_vadd), 0);
    assert_int_equal(qv_func_set_fpga(*f, "vadd"), 0);
    return rt;
}

static uint64_t tasks_on(qv_runtime *rt, unsigned dev)
{
    qv_device_info di;
    assert_int_equal(qv_device_get(rt, dev, &di), 0);
    return di.tasks;
}

/* Enters region "chain" until it has replayed `replayed` entries. */
static qv_region_info replay_until(qv_runtime *rt, qv_func *f, arrays *A, const prog *p,
                                   uint64_t replayed)
{
    qv_region_info ri;
    double t0 = now_s();
    do {
        run_entry(rt, f, A, p, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        ri = info_of(rt, "chain");
    } while (ri.replayed < replayed && now_s() - t0 < 60);
    assert_true(ri.replayed >= replayed);
    return ri;
}

/* Enters region "chain" with p n times, each entry waited for and 20 ms
 * after the one before (time for the loop's thread); its info after. */
static qv_region_info entries_apart(qv_runtime *rt, qv_func *f, arrays *A, const prog *p,
                                    int n)
{
    struct timespec gap = {0, 20 * 1000 * 1000};
    for (int i = 0; i < n; i++) {
        run_entry(rt, f, A, p, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        nanosleep(&gap, NULL);
    }
    return info_of(rt, "chain");
}

static const prog chain = {4, {0, 3, 4, 5}, {1, 2, 2, 1}, {3, 4, 5, 0}};

/* The chain on a board its CPU implementation loses to, replayed twice. */
static qv_runtime *chain_replaying(qv_func **f, qv_device_info *board, unsigned *bdev,
                                   arrays *A)
{
    cpu_us = 300;
    qv_runtime *rt = board_setup("", f, board, bdev);
    arrays_open(rt, A);
    replay_until(rt, *f, A, &chain, 2);
    return rt;
}

/* The board fails during a replay: that task runs on the CPU, nothing is
 * lost, and the region is re-planned without the board. */
static void board_failing_mid_replay(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    static arrays A;
    qv_runtime *rt = chain_replaying(&f, &board, &bdev, &A);
    qv_region_info ri = info_of(rt, "chain");
    arrays_check(&A);
    assert_int_equal(ri.replans, 0);
    uint64_t on_board = tasks_on(rt, bdev);
    assert_true(on_board > 0);
    /* Its second launch from now fails: the middle of an entry. */
    qv__fault_set("emu", QV_FAULT_LAUNCH, 1, QV_EIO);
    run_entry(rt, f, &A, &chain, "chain");
    assert_int_equal(qv_wait_all(rt), 0); /* it ran elsewhere: no error */
    qv__fault_set(NULL, 0, 0, 0);
    arrays_check(&A);
    /* The next entry asks for the re-plan; entries after it replay it. */
    double t0 = now_s();
    do {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        ri = info_of(rt, "chain");
    } while (ri.replans < 1 && now_s() - t0 < 60);
    assert_int_equal(ri.replans, 1);
    assert_non_null(strstr(ri.last_replan_reason, "failed"));
    assert_non_null(strstr(ri.last_replan_reason, board.name));
    uint64_t replayed = ri.replayed;
    on_board = tasks_on(rt, bdev);
    ri = replay_until(rt, f, &A, &chain, replayed + 2);
    arrays_check(&A);
    assert_int_equal(tasks_on(rt, bdev), on_board);
    assert_string_equal(ri.last_error, "");
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* The places of the plan's function change between entries (the loop's
 * thread plans meanwhile: ThreadSanitizer checks the fields it reads): an
 * entry whose calls cannot go to the plan's device is a guard miss, run
 * eagerly and counted as recorded, not replayed; results stay equal. */
static void places_changed_between_entries(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    static arrays A;
    qv_runtime *rt = chain_replaying(&f, &board, &bdev, &A);
    qv_region_info ri = info_of(rt, "chain");
    uint64_t on_board = tasks_on(rt, bdev);
    assert_true(on_board > 0);
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_CPU), 0);
    run_entry(rt, f, &A, &chain, "chain");
    assert_int_equal(qv_wait_all(rt), 0);
    qv_region_info now = info_of(rt, "chain");
    assert_int_equal(now.replayed, ri.replayed);
    assert_int_equal(now.recorded, ri.recorded + 1);
    assert_int_equal(now.guard_misses, ri.guard_misses + 1);
    assert_int_equal(tasks_on(rt, bdev), on_board);
    arrays_check(&A);
    /* Places and kernel toggled while re-plans come and go. */
    for (int i = 0; i < 12; i++) {
        assert_int_equal(qv_func_set_where(f, i % 3 ? 0 : 1u << QV_CLASS_CPU), 0);
        assert_int_equal(qv_func_set_fpga(f, i % 4 == 1 ? NULL : "vadd"), 0);
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
    }
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* The board becomes 40x slower: replayed entries measure it, and the
 * region is re-planned with its work moved to the CPU. (Never dropped for
 * eager placement: this plan and eager's are much the same, and on a
 * loaded machine either can look the faster before the board slows.) */
static void slow_board_replanned(const prog *pg, uint32_t n)
{
    entry_n = n;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    cpu_us = 100;
    qv_runtime *rt =
        board_setup("replan: {drift: 0.5, min_interval_ms: 0, eager_slack: 0}\n", &f, &board, &bdev);
    static arrays A;
    arrays_open(rt, &A);
    qv_region_info ri = replay_until(rt, f, &A, pg, 3);
    assert_int_equal(ri.replans, 0);
    uint64_t before = tasks_on(rt, bdev);
    /* Entries spaced out, so that the loop measures each of them (it
     * measures one at a time, in the background) and has calibrated the
     * plan before the board changes, however slow this build is. */
    ri = entries_apart(rt, f, &A, pg, 6);
    assert_true(tasks_on(rt, bdev) > before); /* the plan uses the board */
    assert_int_equal(ri.replans, 0);
    assert_int_equal(qv__emu_set_slowdown(rt, board.name, 40), 0);
    double t0 = now_s();
    uint64_t entries = ri.entries;
    do {
        ri = entries_apart(rt, f, &A, pg, 1);
    } while (ri.replans < 1 && now_s() - t0 < 60);
    assert_int_equal(ri.replans, 1);
    assert_non_null(strstr(ri.last_replan_reason, "drift"));
    assert_non_null(strstr(ri.last_replan_reason, board.name));
    print_message("re-planned %llu entries after the slowdown: %s\n",
                  (unsigned long long)(ri.entries - entries), ri.last_replan_reason);
    /* The re-plan is marked on the trace's time line. */
    char path[512];
    snprintf(path, sizeof path, "%s/replan.trace.json", qv_test_scratch());
    assert_int_equal(qv_trace_write(rt, path), 0);
    char *trace = qv_test_slurp(path, NULL);
    assert_non_null(trace);
    assert_non_null(strstr(trace, "\"re-plan\""));
    assert_non_null(strstr(trace, "region chain: drift: "));
    free(trace);
    ri = replay_until(rt, f, &A, pg, ri.replayed + 1);
    before = tasks_on(rt, bdev);
    ri = replay_until(rt, f, &A, pg, ri.replayed + 3);
    assert_int_equal(tasks_on(rt, bdev), before); /* moved off the board */
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
    entry_n = N;
}

static void slow_board_is_replanned(void **state)
{
    (void)state;
    slow_board_replanned(&chain, N);
}

/* The same with one call of 16 elements an entry, whose inputs stay on
 * the board: its time in an entry is the kernel's alone, predicted under
 * the 20 us from which a device's ratio was judged, and its 40x went
 * unnoticed (the plan kept the board, every entry 40x slower there). */
static void slow_small_board_is_replanned(void **state)
{
    (void)state;
    static const prog one = {1, {0}, {1}, {3}};
    slow_board_replanned(&one, 16);
}

/* (A slack of 2: the slowdown is 100x and more, and at 1.05 a loaded
 * machine's noise made the plan lose before it, 2 runs in 8: review.)
 * The CPU that a plan uses slows 300x within replan.min_interval_ms of
 * the compile: the drift cannot re-plan yet, and eager placement (which
 * measures the CPU's new times and takes the board) is faster. The plan
 * is weighed against it meanwhile and gives way; without that, it ran the
 * slow CPU until the interval passed. Eager placement then lasts until
 * the interval ends, not for good: the region is planned again. */
static void drifting_plan_weighed_against_eager(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    cpu_us = 10;
    qv_runtime *rt = board_setup("replan: {drift: 0.5, min_interval_ms: 4000, "
                                 "eager_slack: 2}\n",
                                 &f, &board, &bdev);
    static arrays A;
    arrays_open(rt, &A);
    qv_region_info ri = replay_until(rt, f, &A, &chain, 2);
    ri = entries_apart(rt, f, &A, &chain, 16);
    print_message("before: %llu entries, %llu replayed, board %llu tasks, reason '%s'\n",
                  (unsigned long long)ri.entries, (unsigned long long)ri.replayed,
                  (unsigned long long)tasks_on(rt, bdev), ri.last_replan_reason);
    /* The plan must use the CPU: a build whose CPU runs vadd slower than
     * the board's model (a sanitizer's) plans it there, and this CPU's
     * slowdown means nothing to it. */
    uint64_t on_board = tasks_on(rt, bdev), replayed = ri.replayed;
    run_entry(rt, f, &A, &chain, "chain");
    assert_int_equal(qv_wait_all(rt), 0);
    ri = info_of(rt, "chain");
    /* (or a plan already given up for eager placement: under
     * AddressSanitizer the board plan measured 3.6x eager's entries) */
    if (tasks_on(rt, bdev) != on_board || ri.replayed == replayed ||
        strstr(ri.last_replan_reason, "slower than eager")) {
        print_message("no CPU plan replays in this build (%s): skipped\n",
                      ri.last_replan_reason);
        arrays_close(&A);
        qv_runtime_destroy(rt);
        skip();
    }
    cpu_us = 3000;
    double t0 = now_s();
    uint64_t entries = ri.entries;
    do {
        ri = entries_apart(rt, f, &A, &chain, 1);
    } while (!strstr(ri.last_replan_reason, "slower than eager") && now_s() - t0 < 60);
    print_message("after %llu entries (%.1f s): %s\n",
                  (unsigned long long)(ri.entries - entries), now_s() - t0,
                  ri.last_replan_reason);
    assert_non_null(strstr(ri.last_replan_reason, "slower than eager"));
    /* Within the interval: far sooner than its 4 s (it lost after 5 or so
     * entries of 32 ms). */
    assert_true(now_s() - t0 < 3.5);
    arrays_check(&A);
    /* The CPU back to its pace; past the interval the region is planned
     * and replayed again. */
    cpu_us = 10;
    uint64_t compiles = ri.compiles;
    replayed = ri.replayed;
    t0 = now_s();
    do {
        ri = entries_apart(rt, f, &A, &chain, 1);
    } while ((ri.compiles == compiles || ri.replayed < replayed + 2) &&
             now_s() - t0 < 60);
    print_message("planned again after %.1f s: %s\n", now_s() - t0,
                  ri.last_replan_reason);
    assert_true(ri.compiles > compiles);
    assert_true(ri.replayed >= replayed + 2);
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A plan puts vadd on the OpenCL device; then its OpenCL code is set
 * again, to code that does not build there. The device refuses the
 * function from then on: the region is planned again without it and
 * replays, where every later entry missed its guard, for good, without a
 * re-plan or a word (adversarial testing), and then, re-planned, was put
 * on the GPU again, which its models still said was the faster
 * (ThreadSanitizer's slow CPU). */
static void function_refused_by_its_planned_device(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    if (!(have & (1u << QV_CLASS_GPU))) {
        qv_runtime_destroy(rt);
        skip();
    }
    qv_device_info gpu;
    unsigned gdev = device_of(rt, QV_CLASS_GPU, &gpu);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd_cl", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, slow_cpu_vadd), 0);
    qv_opencl_impl im = {qv_test_vadd_cl(), "vadd", NULL, qv_test_range_vadd};
    assert_int_equal(qv_func_set_opencl(f, &im), 0);
    cpu_us = 3000; /* OpenCL wins */
    static arrays A;
    arrays_open(rt, &A);
    qv_region_info ri = replay_until(rt, f, &A, &chain, 3);
    assert_true(tasks_on(rt, gdev) > 0);
    assert_int_equal(ri.replans, 0);
    uint64_t replayed = ri.replayed;
    qv_opencl_impl bad = {"__kernel void vadd(__global const float *a, __global const "
                          "float *b, __global float *o, uint n) { undeclared_y; }\n",
                          "vadd", NULL, qv_test_range_vadd};
    assert_int_equal(qv_func_set_opencl(f, &bad), 0);
    /* The CPU still the slower (its models say the GPU wins): the new
     * plan must know that the GPU refuses the function now. */
    double t0 = now_s();
    do {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0); /* the CPU ran them */
        ri = info_of(rt, "chain");
    } while ((ri.replans < 1 || ri.replayed < replayed + 3) && now_s() - t0 < 60);
    print_message("%llu guard misses; %s\n", (unsigned long long)ri.guard_misses,
                  ri.last_replan_reason);
    assert_true(ri.replans >= 1);
    assert_non_null(strstr(ri.last_replan_reason, "cannot run 'vadd_cl'"));
    assert_true(ri.replayed >= replayed + 3);
    arrays_check(&A);
    /* Kept to the GPU that refuses it: no plan may place it (the plan
     * made for the change put it on the CPU, where it ran in the recorded
     * entry, and the guard, which holds the mask, missed at every entry
     * after: 4929 in 60 s), and the region says why; its calls run on the
     * CPU eagerly, as qv_func_set_where says of a device that cannot
     * take them. */
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    uint64_t recorded = ri.recorded, misses = ri.guard_misses;
    t0 = now_s();
    do {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        ri = info_of(rt, "chain");
    } while ((!strstr(ri.last_error, "no device in service may run 'vadd_cl'") ||
              ri.recorded < recorded + 5) &&
             now_s() - t0 < 60);
    print_message("%llu more guard misses; %s\n",
                  (unsigned long long)(ri.guard_misses - misses), ri.last_error);
    assert_non_null(strstr(ri.last_error, "no device in service may run 'vadd_cl'"));
    assert_true(ri.recorded >= recorded + 5);
    /* the entries that came while the re-plan was made in the background */
    assert_true(ri.guard_misses <= misses + 4);
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* out[i] = a[i] + 1, on the CPU only, slowly: the board's task after it
 * must wait, and its other input is copied to the board meanwhile. */
static void cpu_inc(const qv_call *c)
{
    const float *a = c->ptr[0];
    float *o = c->ptr[1];
    uint32_t n = *(const uint32_t *)c->ptr[2];
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++)
        o[i] = a[i] + 1;
    while ((now_s() - t0) * 1e6 < 300)
        ;
}

/* CPU stage -> board stage: a replayed board task that waits for the CPU
 * has its other input prefetched; the results are those of a sequential
 * run. */
static void inputs_prefetched_while_waiting(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    cpu_us = 2000; /* the board wins vadd by far */
    qv_runtime *rt = board_setup("", &f, &board, &bdev);
    qv_func *inc;
    qv_arg_desc di[] = {QV_ARG_BUF("a", QV_R), QV_ARG_BUF("out", QV_W),
                        QV_ARG_SCALAR("n", uint32_t)};
    assert_int_equal(qv_func_create(rt, "inc", di, 3, &inc), 0);
    assert_int_equal(qv_func_set_cpu(inc, cpu_inc), 0);
    static arrays A;
    arrays_open(rt, &A);
    uint32_t n = N;
    qv_region_info ri;
    double t0 = now_s();
    do {
        assert_int_equal(qv_region_begin(rt, "stages"), 0);
        /* b1 = b0 + 1 (CPU); b3 = b1 + b2 (board); b4 = b3 + b2 (board) */
        qv_arg ia[] = {QV_BUF(A.b[0]), QV_BUF(A.b[1]), QV_VAL(n)};
        assert_int_equal(qv_submit(rt, inc, ia, 3), 0);
        qv_arg va[] = {QV_BUF(A.b[1]), QV_BUF(A.b[2]), QV_BUF(A.b[3]), QV_VAL(n)};
        assert_int_equal(qv_submit(rt, f, va, 4), 0);
        qv_arg vb[] = {QV_BUF(A.b[3]), QV_BUF(A.b[2]), QV_BUF(A.b[4]), QV_VAL(n)};
        assert_int_equal(qv_submit(rt, f, vb, 4), 0);
        assert_int_equal(qv_region_end(rt), 0);
        for (int e = 0; e < N; e++) {
            A.ref[1][e] = A.ref[0][e] + 1;
            A.ref[3][e] = A.ref[1][e] + A.ref[2][e];
            A.ref[4][e] = A.ref[3][e] + A.ref[2][e];
        }
        /* The host writes b2 between entries: every entry's prefetch must
         * copy it again, and never an old copy be used. */
        assert_int_equal(qv_buf_acquire(A.b[2], QV_RW), 0);
        for (int e = 0; e < N; e++)
            A.mem[2][e] = A.ref[2][e] = A.ref[2][e] + 1;
        assert_int_equal(qv_buf_release(A.b[2]), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        arrays_check(&A);
        ri = info_of(rt, "stages");
    } while ((ri.replayed < 5 || !qv__devq_prefetched(rt, bdev)) && now_s() - t0 < 60);
    assert_true(ri.replayed >= 5);
    assert_true(qv__devq_prefetched(rt, bdev) > 0);
    assert_int_equal(ri.guard_misses, 0);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A scalar that the kernel's sizes name (vadd's n) enters the signature:
 * another n is another program, whose first call misses the plan's guard;
 * the same n replays. */
static void kernel_size_scalars_enter_the_signature(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    qv_func *f = vadd_on(rt, have & ~(1u << QV_CLASS_GPU));
    static arrays A;
    arrays_open(rt, &A);
    qv_region_info ri;
    double t0 = now_s();
    for (int round = 0; round < 2; round++) {
        uint32_t n = round ? N / 2 : N;
        uint64_t misses = round ? ri.guard_misses : 0;
        for (int e = 0;; e++) {
            assert_int_equal(qv_region_begin(rt, "sized"), 0);
            qv_arg a[] = {QV_BUF(A.b[0]), QV_BUF(A.b[1]), QV_BUF(A.b[2]), QV_VAL(n)};
            assert_int_equal(qv_submit(rt, f, a, 4), 0);
            assert_int_equal(qv_region_end(rt), 0);
            for (uint32_t i = 0; i < n; i++)
                A.ref[2][i] = A.ref[0][i] + A.ref[1][i];
            assert_int_equal(qv_wait_all(rt), 0);
            arrays_check(&A);
            ri = info_of(rt, "sized");
            if (round && e == 0) /* the new n: the old plan's guard missed */
                assert_int_equal(ri.guard_misses, misses + 1);
            if (ri.replayed >= (uint64_t)(round ? 4 : 2) || now_s() - t0 > 60)
                break;
        }
        assert_true(ri.replayed >= (uint64_t)(round ? 4 : 2));
    }
    assert_int_equal(ri.signatures, 2);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* Entries of region `name`, one vadd of n elements each (on A's first
 * three arrays, as far as they go), until 3 replayed or 60 s; *entries
 * counts them. */
static qv_region_info vadd_until_replayed(qv_runtime *rt, qv_func *f, arrays *A, uint32_t n,
                                          const char *name, int *entries)
{
    qv_region_info ri;
    double t0 = now_s();
    *entries = 0;
    do {
        assert_int_equal(qv_region_begin(rt, name), 0);
        qv_arg a[] = {QV_BUF(A->b[0]), QV_BUF(A->b[1]), QV_BUF(A->b[2]), QV_VAL(n)};
        assert_int_equal(qv_submit(rt, f, a, 4), 0);
        assert_int_equal(qv_region_end(rt), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        for (uint32_t i = 0; i < n && i < N; i++)
            A->ref[2][i] = A->ref[0][i] + A->ref[1][i];
        ri = info_of(rt, name);
        ++*entries;
    } while (ri.replayed < 3 && now_s() - t0 < 60);
    return ri;
}

/* A region is compiled only once the scheduler has measured its calls on
 * every device that can run them: its first entries go wherever the
 * calibration sends them (here all to the one device it tries first), and
 * a plan made from those alone would replay them there for ever, the other
 * devices never measured (the offload demo's wrapped calls ran 100x slower
 * on PoCL). */
static void compiled_once_every_device_is_measured(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    if ((have & (1u << QV_CLASS_GPU | 1u << QV_CLASS_FPGA)) !=
        (1u << QV_CLASS_GPU | 1u << QV_CLASS_FPGA)) {
        qv_runtime_destroy(rt);
        skip();
    }
    qv_func *f = vadd_on(rt, have);
    static arrays A;
    arrays_open(rt, &A);
    size_t bytes = 3 * (size_t)N * sizeof(float);
    int e;
    qv_region_info ri = vadd_until_replayed(rt, f, &A, N, "calib", &e);
    arrays_check(&A);
    assert_true(ri.replayed >= 3);
    assert_string_equal(ri.last_error, "");
    double us;
    for (qv_class c = QV_CLASS_CPU; c <= QV_CLASS_FPGA; c++)
        if (qv_perfmodel_estimate(f, c, bytes, &us) != 0)
            fail_msg("vadd has no model on the %s class: the plan was made before it "
                     "was measured there", qv_class_name(c));
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* vadd of n elements on buffers that may be shorter: as far as they go. */
static void cpu_vadd_clamped(const qv_call *c)
{
    const float *a = c->ptr[0], *b = c->ptr[1];
    float *o = c->ptr[2];
    uint32_t n = *(const uint32_t *)c->ptr[3];
    for (uint32_t i = 0; i < n && i < c->size[2] / sizeof *o; i++)
        o[i] = a[i] + b[i];
}

/* Calls that never fit the board's kernel (n past the buffers) never
 * calibrate the board: the region is compiled all the same after a
 * bounded wait, not never. */
static void compiled_even_where_a_board_never_fits(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    if (!(have & (1u << QV_CLASS_FPGA))) {
        qv_runtime_destroy(rt);
        skip();
    }
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "vadd", qv_test_vadd_sig, 4, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_vadd_clamped), 0);
    assert_int_equal(qv_func_set_fpga(f, "vadd"), 0);
    static arrays A;
    arrays_open(rt, &A);
    int e;
    qv_region_info ri = vadd_until_replayed(rt, f, &A, 2 * N, "unfit", &e);
    print_message("%d entries: compiles %llu, replayed %llu, guard misses %llu (%s)\n", e,
                  (unsigned long long)ri.compiles, (unsigned long long)ri.replayed,
                  (unsigned long long)ri.guard_misses, ri.last_replan_reason);
    arrays_check(&A);
    assert_true(ri.replayed >= 3);
    assert_string_equal(ri.last_error, "");
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* The policy's objective reaches the plans: the board (1.65 an hour in its
 * file) does the chain 10x faster than the CPU, so a time plan puts it
 * there; a cost plan leaves the board, whose money buys nothing the free
 * CPU cannot do, out. */
static void objective_cost_leaves_the_board_out(void **state)
{
    (void)state;
    for (int cost = 0; cost < 2; cost++) {
        qv_func *f;
        qv_device_info board;
        unsigned bdev;
        cpu_us = 300;
        qv_runtime *rt = board_setup(cost ? "objective: cost\n" : "objective: time\n", &f,
                                     &board, &bdev);
        static arrays A;
        arrays_open(rt, &A);
        qv_region_info ri = replay_until(rt, f, &A, &chain, 2);
        uint64_t before = tasks_on(rt, bdev);
        ri = replay_until(rt, f, &A, &chain, ri.replayed + 3);
        arrays_check(&A);
        if (cost)
            assert_int_equal(tasks_on(rt, bdev), before);
        else
            assert_true(tasks_on(rt, bdev) >= before + 3 * 4);
        arrays_close(&A);
        qv_runtime_destroy(rt);
    }
}

/* The chain replayed `replayed` times with each launch of the board
 * sleeping 3 ms (far longer than its model says), the CPU at 0.3 ms a
 * call: plans keep the chain on the CPU. */
static qv_runtime *slow_board_replaying(const char *extra, qv_func **f, unsigned *bdev,
                                        arrays *A, uint64_t replayed, qv_region_info *ri)
{
    qv_device_info board;
    cpu_us = 300;
    qv_runtime *rt = board_setup(extra, f, &board, bdev);
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 3000);
    arrays_open(rt, A);
    *ri = replay_until(rt, *f, A, &chain, replayed);
    return rt;
}

/* An emulated board whose runs take far longer than its model says (a
 * 3 ms sleep in each launch here; a kernel whose C code is slow on this
 * host, in a real program) is planned at that pace, as eager placement
 * weighs it: the plan keeps the chain on the CPU, which finishes a call
 * in 0.3 ms. Planned at the model alone, the chain went to the board,
 * each call 10 times as long as on the CPU. */
static void board_slower_than_its_model_is_planned_at_its_pace(void **state)
{
    (void)state;
    qv_func *f;
    unsigned bdev;
    static arrays A;
    qv_region_info ri;
    qv_runtime *rt = slow_board_replaying("", &f, &bdev, &A, 1, &ri);
    double x = qv__func_emu_pace(f, QV_CLASS_FPGA);
    print_message("the board's pace: %.1fx its model; %llu calls there while recording\n",
                  x, (unsigned long long)tasks_on(rt, bdev));
    assert_true(x > 10); /* the premise: the calibration's runs measured it */
    uint64_t before = tasks_on(rt, bdev);
    ri = replay_until(rt, f, &A, &chain, ri.replayed + 3);
    qv__fault_delay_set(NULL, 0, 0);
    assert_int_equal(tasks_on(rt, bdev), before);
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A board planned at its pace (a 1 ms sleep in each launch) and measured
 * in its model's time: with the pace in the plan's per-task predictions,
 * a re-plan made from a replayed entry, which takes the board's
 * calibration afresh, read every entry after as a drift of 1/pace, and
 * the region re-planned every 2 entries for good (review: 20 re-plans in
 * 40 entries). */
static void paced_board_replans_once(void **state)
{
    (void)state;
    qv_func *f;
    qv_device_info board;
    unsigned bdev;
    cpu_us = 20000;
    qv_runtime *rt = board_setup(
        "replan: {drift: 0.5, min_interval_ms: 0, eager_slack: 0}\n", &f, &board, &bdev);
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 1000);
    static arrays A;
    arrays_open(rt, &A);
    qv_region_info ri = replay_until(rt, f, &A, &chain, 3);
    ri = entries_apart(rt, f, &A, &chain, 6);
    assert_true(qv__func_emu_pace(f, QV_CLASS_FPGA) > 2); /* the premise */
    qv__region_devices_changed(rt, "test: a re-plan from a replayed entry");
    uint64_t replans = ri.replans;
    ri = entries_apart(rt, f, &A, &chain, 40);
    qv__fault_delay_set(NULL, 0, 0);
    print_message("%llu re-plans in 40 entries: %s\n",
                  (unsigned long long)(ri.replans - replans), ri.last_replan_reason);
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
    assert_true(ri.replans - replans <= 2);
}

/* slow_board_replaying with perfmodel.refresh_ms at ms, re-plans at any
 * time and plans kept against eager placement; replayed twice. No re-plan
 * for drift: a loaded machine's (the CPU's 300 us measured at 3x under
 * ctest -j2 beside a build) moved the chain before or without a refresh,
 * and these tests are about what refreshes do. */
static qv_runtime *refreshing_slow_board(unsigned ms, qv_func **f, unsigned *bdev,
                                         arrays *A, qv_region_info *ri)
{
    char policy[128];
    snprintf(policy, sizeof policy,
             "perfmodel: {refresh_ms: %u}\n"
             "replan: {min_interval_ms: 0, eager_slack: 0, drift: 100}\n",
             ms);
    return slow_board_replaying(policy, f, bdev, A, 2, ri);
}

/* A board that ran slowly while the region was planned (a 3 ms sleep in
 * each launch) and at its model's pace after: the plan keeps the chain on
 * the CPU, and its replays send one call to the board once a
 * perfmodel.refresh_ms (a refresh), which measures the board fast again
 * and re-plans the chain onto it. Before, a replayed plan sent nothing to
 * what it left out, and the board was never measured again (a review: no
 * board task in 240 entries). */
static void avoided_board_is_measured_again(void **state)
{
    (void)state;
    qv_func *f;
    unsigned bdev;
    static arrays A;
    qv_region_info ri;
    qv_runtime *rt = refreshing_slow_board(50, &f, &bdev, &A, &ri);
    qv__fault_delay_set(NULL, 0, 0);
    assert_true(qv__func_emu_pace(f, QV_CLASS_FPGA) > 5); /* the premise */
    uint64_t before = tasks_on(rt, bdev), replans = ri.replans, seen = replans;
    int64_t planned = 0; /* calls on the board that were no refresh */
    char reason[128] = "";
    double t0 = now_s();
    do {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        ri = info_of(rt, "chain");
        if (ri.replans > seen) {
            seen = ri.replans;
            snprintf(reason, sizeof reason, "%s", ri.last_replan_reason);
        }
        planned = (int64_t)(tasks_on(rt, bdev) - before) - (int64_t)ri.refreshes;
    } while (planned < 5 * 4 && now_s() - t0 < 20);
    print_message("%llu refreshes, %llu re-plans (the last: %s), %lld planned calls on "
                  "the board\n",
                  (unsigned long long)ri.refreshes,
                  (unsigned long long)(ri.replans - replans), reason, (long long)planned);
    arrays_check(&A);
    /* The re-plan that moves the chain back is the refresh's own, or, on a
     * loaded machine, one for drift that came after the refresh had
     * measured the board fast: either way the board's calls were planned
     * there only once a refresh had run on it. */
    assert_true(ri.refreshes >= 1);
    assert_true(ri.replans > replans);
    assert_true(planned >= 5 * 4);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* The same board slow for good: its refreshes measure it as slow as the
 * plan took it, and the plan stays (a re-plan for drift on a loaded
 * machine may come, and keeps the board out). A refresh joins the board's pace (the
 * ring of its last runs) however old, instead of starting it over, which
 * left too few runs to price the board by, and a re-plan would have put
 * the chain on it at its model's time. */
static void slow_board_refreshed_stays_out(void **state)
{
    (void)state;
    qv_func *f;
    unsigned bdev;
    static arrays A;
    qv_region_info ri;
    qv_runtime *rt = refreshing_slow_board(1100, &f, &bdev, &A, &ri);
    uint64_t before = tasks_on(rt, bdev), replans = ri.replans;
    bool for_refresh = false;
    double t0 = now_s();
    for (int after = 0; after < 5 && now_s() - t0 < 20;) {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        ri = info_of(rt, "chain");
        for_refresh |= strstr(ri.last_replan_reason, "refresh") != NULL;
        after += ri.refreshes >= 2; /* the last refresh measured, and after */
    }
    double pace = qv__func_emu_pace(f, QV_CLASS_FPGA);
    qv__fault_delay_set(NULL, 0, 0);
    print_message("%llu refreshes, %llu re-plans, %llu calls on the board, its pace "
                  "%.0fx\n",
                  (unsigned long long)ri.refreshes,
                  (unsigned long long)(ri.replans - replans),
                  (unsigned long long)(tasks_on(rt, bdev) - before), pace);
    arrays_check(&A);
    assert_true(ri.refreshes >= 2);
    assert_false(for_refresh);
    assert_true(pace > 5);
    /* Without a re-plan, the board ran the refreshes alone. A re-plan for
     * drift on a loaded machine (a CPU measured many times slower than
     * calibrated: 5 under ctest -j2 beside a busy build) may rightly
     * move the chain to the board; the pace above is what it was priced
     * at. */
    if (ri.replans == replans)
        assert_int_equal(tasks_on(rt, bdev), before + ri.refreshes);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* One call of g (vadd_fast_cpu: a CPU that wins) on arrays 2 + 3 -> 1. */
static void fast_call(qv_runtime *rt, qv_func *g, arrays *A)
{
    uint32_t n = entry_n;
    qv_arg args[] = {QV_BUF(A->b[2]), QV_BUF(A->b[3]), QV_BUF(A->b[1]), QV_VAL(n)};
    assert_int_equal(qv_submit(rt, g, args, 4), 0);
    for (uint32_t e = 0; e < n; e++)
        A->ref[1][e] = A->ref[2][e] + A->ref[3][e];
}

/* An entry of region "chain": the chain of f, then one call of g. */
static void chain_then_fast(qv_runtime *rt, qv_func *f, qv_func *g, arrays *A)
{
    uint32_t n = entry_n;
    assert_int_equal(qv_region_begin(rt, "chain"), 0);
    for (int i = 0; i < chain.n; i++) {
        qv_arg args[] = {QV_BUF(A->b[chain.a[i]]), QV_BUF(A->b[chain.b[i]]),
                         QV_BUF(A->b[chain.o[i]]), QV_VAL(n)};
        assert_int_equal(qv_submit(rt, f, args, 4), 0);
        for (uint32_t e = 0; e < n; e++)
            A->ref[chain.o[i]][e] = A->ref[chain.a[i]][e] + A->ref[chain.b[i]][e];
    }
    fast_call(rt, g, A);
    assert_int_equal(qv_region_end(rt), 0);
    assert_int_equal(qv_wait_all(rt), 0);
}

/* Two functions the plan keeps off the board, measured there at one time,
 * whose refreshes come due in the same entries: the chain's (the board
 * sped up since the plan) and, later in the entry, one call of a function
 * whose CPU wins at its true price. Each refresh is weighed: with the
 * last alone (one slot in the measure), the chain's never was, and the
 * plan kept it off a board 0.2x its model (review: 0 re-plans in 5 s). */
static void two_refreshes_in_one_entry_both_weighed(void **state)
{
    (void)state;
    qv_func *f, *g;
    qv_device_info board;
    unsigned bdev;
    cpu_us = 300;
    qv_runtime *rt =
        board_setup("perfmodel: {refresh_ms: 1000}\n"
                    "replan: {min_interval_ms: 0, eager_slack: 0, drift: 100}\n",
                    &f, &board, &bdev);
    assert_int_equal(qv_func_create(rt, "vadd_fast_cpu", qv_test_vadd_sig, 4, &g), 0);
    assert_int_equal(qv_func_set_cpu(g, qv_test_cpu_vadd), 0);
    assert_int_equal(qv_func_set_fpga(g, "vadd"), 0);
    static arrays A;
    arrays_open(rt, &A);
    for (int i = 0; i < 12; i++) { /* g measured on the board at its pace */
        fast_call(rt, g, &A);
        assert_int_equal(qv_wait_all(rt), 0);
    }
    qv__fault_delay_set("emu", QV_FAULT_LAUNCH, 3000); /* planned while slow */
    qv_region_info ri;
    double t0 = now_s();
    do {
        chain_then_fast(rt, f, g, &A);
        ri = info_of(rt, "chain");
    } while (ri.replayed < 2 && now_s() - t0 < 60);
    qv__fault_delay_set(NULL, 0, 0);
    assert_true(ri.replayed >= 2);
    assert_true(qv__func_emu_pace(f, QV_CLASS_FPGA) > 5); /* the premise */
    uint64_t replans = ri.replans;
    bool moved = false;
    struct timespec gap = {0, 20 * 1000 * 1000};
    t0 = now_s();
    do {
        chain_then_fast(rt, f, g, &A);
        ri = info_of(rt, "chain");
        moved |= ri.replans > replans &&
                 strstr(ri.last_replan_reason, "refresh: 'vadd_slow_cpu'") != NULL;
        nanosleep(&gap, NULL);
    } while (!moved && now_s() - t0 < 10);
    print_message("%llu refreshes, %llu re-plans (the last: %s)\n",
                  (unsigned long long)ri.refreshes,
                  (unsigned long long)(ri.replans - replans), ri.last_replan_reason);
    arrays_check(&A);
    assert_true(moved);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A refresh whose board fails its launch: the call runs elsewhere, the
 * entry's results are right and its wait reports no error. */
static void refresh_whose_board_fails_runs_elsewhere(void **state)
{
    (void)state;
    qv_func *f;
    unsigned bdev;
    static arrays A;
    qv_region_info ri;
    qv_runtime *rt = refreshing_slow_board(50, &f, &bdev, &A, &ri);
    qv__fault_delay_set(NULL, 0, 0);
    uint64_t refreshes = ri.refreshes, before = tasks_on(rt, bdev);
    qv__fault_set("emu", QV_FAULT_LAUNCH, 0, QV_EIO); /* its next launch fails */
    double t0 = now_s();
    do {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
        arrays_check(&A);
        ri = info_of(rt, "chain");
    } while (ri.refreshes == refreshes && now_s() - t0 < 20);
    qv__fault_set(NULL, 0, 0, 0);
    assert_true(ri.refreshes > refreshes);
    /* The failed one ran elsewhere; a later refresh, the board back in
     * service, may have run there (an entry longer than refresh_ms on a
     * loaded machine sends two). */
    assert_true(tasks_on(rt, bdev) - before <= ri.refreshes - refreshes - 1);
    for (int i = 0; i < 5; i++) {
        run_entry(rt, f, &A, &chain, "chain");
        assert_int_equal(qv_wait_all(rt), 0);
    }
    arrays_check(&A);
    arrays_close(&A);
    qv_runtime_destroy(rt);
}

/* A hot region whose function is not measured on every device yet says
 * so in last_error while it waits, instead of nothing (adversarial
 * testing: a hot region's 8 entries, compiles 0, last_error empty). */
static void hot_region_waiting_says_why(void **state)
{
    (void)state;
    unsigned have;
    qv_runtime *rt = open_rt("", &have);
    qv_func *f = vadd_on(rt, have);
    enum { LEN = 64 };
    static float a[LEN], b[LEN], out[LEN];
    qv_buf *ba, *bb, *bo;
    assert_int_equal(qv_buf_register(rt, a, sizeof a, &ba), 0);
    assert_int_equal(qv_buf_register(rt, b, sizeof b, &bb), 0);
    assert_int_equal(qv_buf_register(rt, out, sizeof out, &bo), 0);
    uint32_t n = LEN;
    for (int e = 0; e < 2; e++) { /* hot_threshold: 2; one call an entry */
        assert_int_equal(qv_region_begin(rt, "waits"), 0);
        assert_int_equal(
            qv_submit(rt, f, (qv_arg[]){QV_BUF(ba), QV_BUF(bb), QV_BUF(bo), QV_VAL(n)},
                      4),
            0);
        assert_int_equal(qv_region_end(rt), 0);
        assert_int_equal(qv_wait_all(rt), 0);
    }
    /* Two calls cannot measure vadd 3 times on each device: the compile
     * waits (in the background), and says why. */
    double t0 = now_s();
    qv_region_info ri = info_of(rt, "waits");
    while ((!ri.last_error[0] || strstr(ri.last_error, "yet: compiling")) &&
           !ri.compiles && now_s() - t0 < 30) {
        usleep(2000);
        ri = info_of(rt, "waits");
    }
    if (ri.compiles ||
        !strstr(ri.last_error, "not compiled yet: 'vadd' is still being measured"))
        fail_msg("compiles %llu, last_error '%s'", (unsigned long long)ri.compiles,
                 ri.last_error);
    qv_buf_unregister(ba);
    qv_buf_unregister(bb);
    qv_buf_unregister(bo);
    qv_runtime_destroy(rt);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_on_devices_equals_sequential),
        cmocka_unit_test(hot_region_waiting_says_why),
        cmocka_unit_test(board_failing_mid_replay),
        cmocka_unit_test(places_changed_between_entries),
        cmocka_unit_test(slow_board_is_replanned),
        cmocka_unit_test(slow_small_board_is_replanned),
        cmocka_unit_test(drifting_plan_weighed_against_eager),
        cmocka_unit_test(function_refused_by_its_planned_device),
        cmocka_unit_test(inputs_prefetched_while_waiting),
        cmocka_unit_test(kernel_size_scalars_enter_the_signature),
        cmocka_unit_test(objective_cost_leaves_the_board_out),
        cmocka_unit_test(board_slower_than_its_model_is_planned_at_its_pace),
        cmocka_unit_test(paced_board_replans_once),
        cmocka_unit_test(avoided_board_is_measured_again),
        cmocka_unit_test(slow_board_refreshed_stays_out),
        cmocka_unit_test(two_refreshes_in_one_entry_both_weighed),
        cmocka_unit_test(refresh_whose_board_fails_runs_elsewhere),
        cmocka_unit_test(compiled_once_every_device_is_measured),
        cmocka_unit_test(compiled_even_where_a_board_never_fits),
    };
    if (argc > 1) /* a test name (or glob) to run only that */
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
