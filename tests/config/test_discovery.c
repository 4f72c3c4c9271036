/*
 * test_discovery.c - the resource pool: discovery finds the CPU through
 * hwloc and the PoCL device through OpenCL (where PoCL is registered), XRT
 * without a card reports none and why instead of aborting, requests honour
 * type, memory, cost and emulation, and a board whose file goes away is
 * reported gone by the rescan, from qv_pool_rescan and from the thread.
 * The accelerator cards on PCI are counted from a sysfs tree, one per
 * device whatever its functions.
 *
 * With the argument "xrt-noop" (and QV_XRT_SHIM=noop) it checks instead
 * that the XRT path reports the noop shim's fake card.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "quiver.h"
#include "quiver/config.h"

#include "discovery/discovery.h"

static char src[1024];

static const char *path_of(const char *rel)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", src, rel);
    return buf[k];
}

static int find_backend(qv_pool *pool, const char *name, qv_backend_report *out)
{
    for (size_t i = 0; qv_pool_backend(pool, i, out) == 0; i++)
        if (!strcmp(out->name, name))
            return 1;
    return 0;
}

static void test_default_scan(void **state)
{
    (void)state;
    qv_pool *pool;
    qv_diag diag;
    assert_int_equal(qv_pool_create(NULL, &pool, &diag), 0);
    size_t n = qv_pool_count(pool);
    int cpu = 0, ocl = 0;
    qv_resource r;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(qv_pool_get(pool, i, &r), 0);
        if (!strcmp(r.backend, "hwloc")) {
            assert_int_equal(r.type, QV_CLASS_CPU);
            assert_true(r.units >= 1);
            assert_true(r.memory > 0);
            assert_true(r.free_memory <= r.memory);
            assert_true(r.busy >= 0 && r.busy <= 1);
            cpu++;
        }
        if (!strcmp(r.backend, "opencl")) {
            assert_true(r.memory > 0 && r.max_alloc > 0);
            /* PoCL's device is the host's cores (its pthread driver) */
            if (strstr(r.detail, "Portable Computing Language"))
                assert_int_equal(r.on_host, 1);
            ocl++;
        }
        if (!strcmp(r.backend, "hwloc"))
            assert_int_equal(r.on_host, 0);
    }
    assert_int_equal(qv_pool_get(pool, n, &r), QV_ENOENT);
    assert_true(cpu >= 1);
    struct stat st;
    if (stat("/etc/OpenCL/vendors/pocl.icd", &st) == 0 && !getenv("OCL_ICD_VENDORS"))
        assert_true(ocl >= 1);
    qv_backend_report rep;
    assert_true(find_backend(pool, "hwloc", &rep));
    assert_int_equal(rep.count, (unsigned)cpu);
    assert_true(find_backend(pool, "opencl", &rep));
    assert_true(rep.why[0] != 0);
    /* Without a card XRT reports none and says why; with one, it lists
     * it. Either way the process is still here. */
    assert_true(find_backend(pool, "xrt", &rep));
    assert_true(rep.why[0] != 0);
    if (rep.count == 0)
        assert_true(strstr(rep.why, "XRT") != NULL);
    assert_true(find_backend(pool, "boards", &rep));
    assert_int_equal(rep.count, 0);
    qv_pool_destroy(pool);
    qv_pool_destroy(NULL);
}

static void test_requests(void **state)
{
    (void)state;
    const char *boards[] = {path_of("boards/emu/u250-emu.yaml"),
                            path_of("boards/emu/u50-emu.yaml"),
                            path_of("boards/remote-u250.yaml")};
    qv_pool_options o;
    qv_pool_options_init(&o);
    o.opencl = 0;
    o.xrt = 0;
    o.boards = boards;
    o.nboards = 3;
    qv_pool *pool;
    qv_diag diag;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), 0);
    qv_resource_request req;
    memset(&req, 0, sizeof req);
    unsigned a, b, c;
    qv_resource r;
    /* Only emulated FPGAs are present: refused unless allowed. */
    req.type = QV_CLASS_FPGA;
    assert_int_equal(qv_pool_request(pool, &req, &a), QV_ENODEV);
    req.allow_emulated = 1;
    /* The cheapest first: the U50 twin (0.50/h) before the U250 (1.65/h). */
    assert_int_equal(qv_pool_request(pool, &req, &a), 0);
    assert_int_equal(qv_pool_find(pool, a, &r), 0);
    assert_string_equal(r.name, "alveo-u50-emu");
    assert_int_equal(r.allocated, 1);
    assert_int_equal(r.emulated, 1);
    assert_int_equal(r.on_host, 1); /* the emulator runs on the host */
    assert_int_equal(qv_pool_request(pool, &req, &b), 0);
    assert_int_equal(qv_pool_find(pool, b, &r), 0);
    assert_string_equal(r.name, "alveo-u250-emu");
    assert_int_equal(qv_pool_request(pool, &req, &c), QV_EBUSY);
    assert_int_equal(qv_pool_release(pool, a), 0);
    assert_int_equal(qv_pool_release(pool, a), QV_ENOENT);
    /* Memory: only the U250 twin has 64 GiB, and it is taken. */
    req.min_memory = UINT64_C(32) << 30;
    assert_int_equal(qv_pool_request(pool, &req, &c), QV_EBUSY);
    assert_int_equal(qv_pool_release(pool, b), 0);
    assert_int_equal(qv_pool_request(pool, &req, &c), 0);
    assert_int_equal(c, b);
    assert_int_equal(qv_pool_release(pool, c), 0);
    /* Cost ceiling below every board. */
    req.min_memory = 0;
    req.max_cost_per_hour = 0.10;
    assert_int_equal(qv_pool_request(pool, &req, &c), QV_ENODEV);
    /* Remote boards and the CPU. */
    memset(&req, 0, sizeof req);
    req.type = QV_CLASS_REMOTE;
    assert_int_equal(qv_pool_request(pool, &req, &c), 0);
    assert_int_equal(qv_pool_find(pool, c, &r), 0);
    assert_string_equal(r.backend, "remote");
    assert_true(r.link_latency_us == 100);
    req.type = QV_CLASS_CPU;
    assert_int_equal(qv_pool_request(pool, &req, &c), 0);
    req.type = QV_CLASS_GPU;
    assert_int_equal(qv_pool_request(pool, &req, &c), QV_ENODEV);
    req.type = (qv_class)42;
    assert_int_equal(qv_pool_request(pool, &req, &c), QV_EINVAL);
    qv_pool_destroy(pool);
}

static void test_bad_board(void **state)
{
    (void)state;
    const char *boards[] = {path_of("tests/config/bad/missing-key.yaml")};
    qv_pool_options o;
    qv_pool_options_init(&o);
    o.opencl = o.xrt = 0;
    o.boards = boards;
    o.nboards = 1;
    qv_pool *pool = (qv_pool *)&o;
    qv_diag diag;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), QV_EFORMAT);
    assert_null(pool);
    assert_int_equal(diag.line, 2);
    const char *twice[] = {path_of("boards/emu/u50-emu.yaml"),
                           path_of("boards/emu/u50-emu.yaml")};
    o.boards = twice;
    o.nboards = 2;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), QV_EEXIST);
    assert_null(pool);
}

typedef struct events {
    pthread_mutex_t mu;
    int appeared, disappeared;
    char last[128];
} events;

static void on_event(void *arg, qv_pool_event ev, const qv_resource *r)
{
    events *e = arg;
    pthread_mutex_lock(&e->mu);
    if (ev == QV_POOL_APPEARED)
        e->appeared++;
    else
        e->disappeared++;
    snprintf(e->last, sizeof e->last, "%s", r->name);
    pthread_mutex_unlock(&e->mu);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static int wait_for(events *e, int *field, int want)
{
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&e->mu);
        int v = *field;
        pthread_mutex_unlock(&e->mu);
        if (v >= want)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_rescan(void **state)
{
    (void)state;
    char dir[] = "/tmp/qv-discovery-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char board[256];
    snprintf(board, sizeof board, "%s/twin.yaml", dir);
    copy_file(path_of("boards/emu/u250-emu.yaml"), board);
    const char *boards[] = {board};
    qv_pool_options o;
    qv_pool_options_init(&o);
    o.opencl = o.xrt = 0;
    o.boards = boards;
    o.nboards = 1;
    o.rescan_ms = 100;
    events e = {.appeared = 0};
    pthread_mutex_init(&e.mu, NULL);
    qv_pool *pool;
    qv_diag diag;
    assert_int_equal(qv_pool_create(&o, &pool, &diag), 0);
    assert_int_equal(qv_pool_set_callback(pool, on_event, &e), 0);
    size_t before = qv_pool_count(pool);
    qv_resource r;
    assert_int_equal(qv_pool_get(pool, before - 1, &r), 0);
    assert_string_equal(r.name, "alveo-u250-emu");
    unsigned old_id = r.id;

    /* The thread notices the file going away, then coming back. */
    assert_int_equal(unlink(board), 0);
    assert_true(wait_for(&e, &e.disappeared, 1));
    assert_string_equal(e.last, "alveo-u250-emu");
    assert_int_equal(qv_pool_count(pool), before - 1);
    assert_int_equal(qv_pool_find(pool, old_id, &r), QV_ENOENT);
    qv_backend_report rep;
    assert_true(find_backend(pool, "boards", &rep));
    assert_non_null(strstr(rep.why, "failed to load"));
    copy_file(path_of("boards/emu/u250-emu.yaml"), board);
    assert_true(wait_for(&e, &e.appeared, 1));
    assert_int_equal(qv_pool_count(pool), before);

    /* An explicit rescan reports nothing new when nothing changed. */
    assert_int_equal(qv_pool_rescan(pool), 0);
    pthread_mutex_lock(&e.mu);
    assert_int_equal(e.appeared, 1);
    assert_int_equal(e.disappeared, 1);
    pthread_mutex_unlock(&e.mu);
    qv_pool_destroy(pool);
    unlink(board);
    rmdir(dir);
    pthread_mutex_destroy(&e.mu);
}

static int xrt_noop(void)
{
    const char *shim = getenv("QV_XRT_SHIM");
    if (!shim || strcmp(shim, "noop")) {
        printf("run with QV_XRT_SHIM=noop\n");
        return 2;
    }
    qv_pool_options o;
    qv_pool_options_init(&o);
    o.hwloc = o.opencl = 0;
    qv_pool *pool;
    qv_diag diag;
    if (qv_pool_create(&o, &pool, &diag))
        return 1;
    qv_backend_report rep;
    if (find_backend(pool, "xrt", &rep) && strstr(rep.why, "no XRT")) {
        printf("%s: skipped\n", rep.why);
        qv_pool_destroy(pool);
        return 77;
    }
    int ok = find_backend(pool, "xrt", &rep) && rep.count == 1;
    qv_resource r;
    ok = ok && qv_pool_get(pool, 0, &r) == 0 && r.type == QV_CLASS_FPGA &&
         !strcmp(r.backend, "xrt") && strstr(r.detail, "noop") != NULL && r.emulated;
    printf("xrt: %u found: %s\n", rep.count, rep.why);
    qv_pool_destroy(pool);
    return ok ? 0 : 1;
}

/* Writes text to dir/dev/attr, making dir/dev. */
static void sysfs_put(const char *dir, const char *dev, const char *attr, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, dev);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, dev, attr);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", text);
    fclose(f);
}

/* A sysfs tree of PCI devices: an Alveo card's two functions count once,
 * a GPU and a processing accelerator count, a bridge, a device without a
 * class file and one with garbage do not; an empty one (a machine without
 * PCI) counts none, known; a directory that cannot be listed leaves the
 * count unknown. */
static void test_pci_count(void **state)
{
    (void)state;
    char dir[] = "/tmp/qv-pci-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const struct {
        const char *dev, *vendor, *cls; /* NULL: no such file */
    } devs[] = {
        {"0000:3b:00.1", "0x10ee", "0x058000"}, {"0000:3b:00.0", "0x10ee", "0x120000"},
        {"0000:5e:00.0", "0x10de", "0x030200"}, {"0000:af:00.0", "0x1002", "0x120000"},
        {"0000:00:00.0", "0x8086", "0x060000"}, {"0000:00:01.0", "0x10de", NULL},
        {"0000:00:02.0", "0x10ee", "zzz"},
    };
    qv__scan s;
    memset(&s, 0, sizeof s);
    qv__pci_count(&s, dir);
    assert_int_equal(s.pci_known, 1);
    assert_int_equal(s.pci_xilinx + s.pci_gpu, 0);
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        sysfs_put(dir, devs[i].dev, "vendor", devs[i].vendor);
        if (devs[i].cls)
            sysfs_put(dir, devs[i].dev, "class", devs[i].cls);
    }
    memset(&s, 0, sizeof s);
    qv__pci_count(&s, dir);
    assert_int_equal(s.pci_known, 1);
    assert_int_equal(s.pci_xilinx, 1);
    assert_int_equal(s.pci_gpu, 2);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    memset(&s, 0, sizeof s);
    qv__pci_count(&s, dir);
    assert_int_equal(s.pci_known, 0);
    assert_int_equal(s.pci_xilinx + s.pci_gpu, 0);
}

int main(int argc, char **argv)
{
    const char *s = getenv("QV_SOURCE_DIR");
    snprintf(src, sizeof src, "%s", s ? s : ".");
    if (argc > 1 && !strcmp(argv[1], "xrt-noop"))
        return xrt_noop();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_scan),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_bad_board),
        cmocka_unit_test(test_rescan),
        cmocka_unit_test(test_pci_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
