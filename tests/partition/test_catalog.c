/*
 * test_catalog.c - the kernel catalog, one type for the runtime and the
 * planner: qv_catalog_load runs the runtime's loader (a bad catalog gives
 * the message qv_config_check gives, at the same line:col), the runtime's
 * devices and the planner agree on which board holds which kernel of the
 * shipped config/kernels.yaml, and planning under a catalog
 * (qv_plan_make with a catalog): an FPGA runs a function only if it holds a kernel for
 * it, which moves nodes off the faster FPGA that lacks the kernel; a chain
 * fir -> fft -> mag runs as one task of a fused kernel when that is cheaper,
 * and not when it is dearer or when an intermediate result has a second
 * reader; a remote board fuses by the board its daemon serves; the
 * simulator accepts fused chains and still rejects every other shared
 * slot. Catalogs are YAML files written into a temporary directory
 * with their board files.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/board.h"
#include "config/catalog.h"
#include "quiver/config.h"
#include "qvpart.h"

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g", got, want);
}

static const qv_algo algos[] = {QV_ALGO_QUIVER, QV_ALGO_HEFT, QV_ALGO_PEFT,
                                QV_ALGO_METIS};

static qv_plat_res res_of(const char *name, const char *cls, double speed,
                          const char *board)
{
    qv_plat_res r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.cls, sizeof r.cls, "%s", cls);
    r.units = 1;
    r.speed = speed;
    r.host_memory = !strcmp(cls, "cpu");
    if (!r.host_memory) {
        r.bandwidth_gbs = 10;
        r.latency_us = 1;
    }
    snprintf(r.board_name, sizeof r.board_name, "%s", board ? board : "");
    return r;
}

/* cores (cpu), fpgaA (board-a, twice as fast), fpgaB (board-b). */
static qv_plat *two_fpgas(void)
{
    qv_plat_res r[3] = {res_of("cores", "cpu", 1, NULL),
                        res_of("fpgaA", "fpga", 2, "board-a"),
                        res_of("fpgaB", "fpga", 1, "board-b")};
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("two-fpgas", r, 3, &p), 0);
    return p;
}

static uint32_t node(qv_dag *g, int64_t id, const char *f, double cpu, double fpga)
{
    uint32_t i;
    assert_int_equal(qv_dag_add_node(g, id, f, &i), 0);
    g->cost[(size_t)i * g->nclass + (uint32_t)qv_dag_class(g, "cpu")] = cpu;
    if (fpga >= 0)
        g->cost[(size_t)i * g->nclass + (uint32_t)qv_dag_class(g, "fpga")] = fpga;
    return i;
}

static qv_dag *new_graph(void)
{
    qv_dag *g = NULL;
    assert_int_equal(qv_dag_create("t", &g), 0);
    assert_true(qv_dag_class(g, "cpu") >= 0);
    assert_true(qv_dag_class(g, "fpga") >= 0);
    return g;
}

static const char *res_name(const qv_plat *p, const qv_plan *pl, uint32_t i)
{
    return p->res[p->unit_res[pl->unit[i]]].name;
}

/* ---- catalogs as files --------------------------------------------------- */

static char tmpdir[] = "/tmp/qv_test_catalog_XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Boards board-a, board-b, b0..b8 (real, each its own platform), card (real,
 * platform xplat) and its emulated twin card-emu; a placeholder xclbin. */
static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/boards", tmpdir);
    if (mkdir(dir, 0700))
        return -1;
    static const char *const names[] = {"board-a", "board-b", "b0", "b1", "b2", "b3",
                                        "b4",      "b5",      "b6", "b7", "b8"};
    char file[64], text[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0] + 2; i++) {
        int twin = i == sizeof names / sizeof names[0] + 1;
        const char *n = i < sizeof names / sizeof names[0] ? names[i] : twin ? "card-emu" : "card";
        const char *plat = i < sizeof names / sizeof names[0] ? n : "xplat";
        snprintf(file, sizeof file, "boards/%s.yaml", n);
        snprintf(text, sizeof text,
                 "name: %s\nkind: fpga\nplatform: p_%s\nemulation: %s\nclock_mhz: 300\n"
                 "memory: [{type: DDR4, size: 1 GiB}]\n"
                 "link: {bandwidth_gbs: 10, latency_us: 1}\n",
                 n, plat, twin ? "true" : "false");
        write_file(file, text);
    }
    /* A board whose name takes 100 of the 127 bytes a board name may have. */
    char longname[101];
    memset(longname, 'l', 100);
    longname[100] = 0;
    snprintf(text, sizeof text,
             "name: %s\nkind: fpga\nplatform: p_long\nemulation: false\nclock_mhz: 300\n"
             "memory: [{type: DDR4, size: 1 GiB}]\nlink: {bandwidth_gbs: 10, latency_us: 1}\n",
             longname);
    write_file("boards/long.yaml", text);
    write_file("k.xclbin", "placeholder");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d;
    char path[300];
    snprintf(path, sizeof path, "%s/boards", tmpdir);
    if ((d = opendir(path))) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                char f[600];
                snprintf(f, sizeof f, "%s/%s", path, e->d_name);
                unlink(f);
            }
        closedir(d);
    }
    rmdir(path);
    static const char *const files[] = {"k.xclbin", "cat.yaml", "plat.yaml"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

/* One kernel's YAML, appended to buf: functions "f1" or "[f1, f2, f3]",
 * builds "board: b" or "platform: p" (several joined by ';'), and a table
 * "{bytes: 4096, us: 50}, ..." or NULL for a cycle model. */
static void kernel(char *buf, size_t size, const char *name, const char *funcs,
                   const char *builds, const char *table)
{
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, size - len,
                            "  - name: %s\n    implements: %s\n"
                            "    args: [{name: x, dir: in, type: float, size: n},"
                            " {name: n, dir: scalar, type: uint32}]\n    builds: [",
                            name, funcs);
    char b[256];
    snprintf(b, sizeof b, "%s", builds);
    int first = 1;
    for (char *save, *t = strtok_r(b, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        len += (size_t)snprintf(buf + len, size - len, "%s{%s, xclbin: k.xclbin}",
                                first ? "" : ", ", t);
        first = 0;
    }
    if (table)
        snprintf(buf + len, size - len, "]\n    perf: {table: [%s]}\n", table);
    else
        snprintf(buf + len, size - len,
                 "]\n    perf: {ii: 1, latency_cycles: 10, trip_count: n}\n");
}

/* Loads the catalog of the kernels' YAML (kernel()), asserting success. */
static qv_catalog *load(const char *kernels)
{
    char text[8192];
    snprintf(text, sizeof text, "boards: [boards]\nkernels:\n%s", kernels);
    write_file("cat.yaml", text);
    char path[300];
    snprintf(path, sizeof path, "%s/cat.yaml", tmpdir);
    qv_catalog *c = NULL;
    qv_diag d = {0};
    int rc = qv_catalog_load(path, &c, &d);
    if (rc)
        fail_msg("%s:%u:%u: %s", d.file, d.line, d.column, d.message);
    return c;
}

/* A catalog of single-function kernels name -> function, each built for
 * board; (name, function, board) triples end with NULL. */
static qv_catalog *singles(const char *name, ...)
{
    char k[8192] = "";
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n; n = va_arg(ap, const char *)) {
        const char *f = va_arg(ap, const char *), *b = va_arg(ap, const char *);
        char build[80];
        snprintf(build, sizeof build, "board: %s", b);
        kernel(k, sizeof k, n, f, build, NULL);
    }
    va_end(ap);
    return load(k);
}

static qv_plan *plan(const qv_dag *g, const qv_plat *p, const qv_catalog *c, qv_algo a)
{
    qv_plan *pl = NULL;
    qv_diag d = {0};
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.algo = a;
    o.catalog = c;
    int rc = qv_plan_make(g, p, &o, &pl, &d);
    if (rc)
        fprintf(stderr, "%s: %s\n", qv_algo_name(a), d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(qv_sim_validate(g, p, c, pl, &d), 0);
    return pl;
}

/* The handle: names and count, the build rule, the table. */
static void test_catalog_api(void **state)
{
    (void)state;
    char k[4096] = "";
    kernel(k, sizeof k, "fir", "fir", "platform: p_xplat", NULL);
    kernel(k, sizeof k, "fir_card", "fir", "platform: p_xplat;board: card-emu",
           "{bytes: 1000, us: 10}");
    kernel(k, sizeof k, "fir2", "fir", "board: card", "{bytes: 1000, us: 10}, {bytes: 3000, us: 30}");
    qv_catalog *c = load(k);
    assert_int_equal(qv_catalog_kernel_count(c), 3);
    assert_string_equal(qv_catalog_kernel_name(c, 1), "fir_card");
    assert_null(qv_catalog_kernel_name(c, 3));
    /* a platform build serves real boards of that platform, not twins */
    qv_plat_res r = res_of("f", "fpga", 1, "card");
    snprintf(r.board_platform, sizeof r.board_platform, "p_xplat");
    assert_int_equal(qv_catalog_holds(c, 0, &r), 1);
    qv_plat_res twin = r;
    snprintf(twin.board_name, sizeof twin.board_name, "card-emu");
    twin.board_emulation = 1;
    assert_int_equal(qv_catalog_holds(c, 0, &twin), 0);
    assert_int_equal(qv_catalog_holds(c, 1, &twin), 1);
    assert_int_equal(qv_catalog_holds(c, 2, &twin), 0);
    assert_int_equal(qv_catalog_holds(c, 2, &r), 1);
    assert_int_equal(qv_catalog_holds(c, 3, &r), 0);
    qv_plat_res cpu = res_of("c", "cpu", 1, "card");
    assert_int_equal(qv_catalog_holds(c, 2, &cpu), 0);
    /* the table: clamped below, linear between, extended above */
    assert_true(isnan(qv_catalog_table_us(c, 0, 10)));
    assert_true(isnan(qv_catalog_table_us(c, 3, 10)));
    assert_near(qv_catalog_table_us(c, 1, 500), 10, 1e-9);
    assert_near(qv_catalog_table_us(c, 1, 3000), 30, 1e-9);
    assert_near(qv_catalog_table_us(c, 2, 2000), 20, 1e-9);
    assert_near(qv_catalog_table_us(c, 2, 4000), 40, 1e-9);
    qv_catalog_destroy(c);
    qv_catalog_destroy(NULL);
    /* a file that is not there */
    qv_diag d = {0};
    assert_int_not_equal(qv_catalog_load("/nonexistent/kernels.yaml", &c, &d), 0);
    assert_null(c);
    assert_non_null(strstr(d.message, "kernels.yaml") ? d.message : d.file);
}

/* (a): fir runs 5 us on fpgaA, 10 us on fpgaB, 100 us on the cores. Without
 * a catalog every algorithm takes fpgaA; the catalog builds fir for board-b
 * only, so it runs on fpgaB; vadd has no kernel and leaves the FPGAs. */
static void test_kernel_placement(void **state)
{
    (void)state;
    qv_plat *p = two_fpgas();
    qv_dag *g = new_graph();
    uint32_t fir = node(g, 1, "fir", 100, 10);
    uint32_t vadd = node(g, 2, "vadd", 30, 1);
    assert_int_equal(qv_dag_finalize(g, NULL), 0);
    qv_catalog *c = singles("fir_k", "fir", "board-b", NULL);
    for (unsigned a = 0; a < 4; a++) {
        /* METIS-only places parts without the cost model: it only has to
         * keep fir off the FPGA without its kernel */
        int metis = algos[a] == QV_ALGO_METIS;
        qv_plan *pl = plan(g, p, NULL, algos[a]);
        if (!metis) {
            assert_string_equal(res_name(p, pl, fir), "fpgaA");
            assert_string_not_equal(res_name(p, pl, vadd), "cores");
        }
        qv_plan_destroy(pl);
        pl = plan(g, p, c, algos[a]);
        assert_string_equal(res_name(p, pl, fir), metis ? res_name(p, pl, fir) : "fpgaB");
        assert_string_not_equal(res_name(p, pl, fir), "fpgaA");
        assert_string_equal(res_name(p, pl, vadd), "cores");
        assert_null(pl->fused);
        /* the simulator holds the catalog's rule: fir on fpgaA is refused */
        qv_diag d = {0};
        pl->unit[fir] = p->res[1].first_unit;
        pl->end[fir] = pl->start[fir] + 5;
        assert_int_equal(qv_sim_validate(g, p, NULL, pl, &d), 0);
        assert_int_equal(qv_sim_validate(g, p, c, pl, &d), -EINVAL);
        assert_non_null(strstr(d.message, "holds no catalog kernel for function 'fir'"));
        qv_plan_destroy(pl);
    }
    qv_catalog_destroy(c);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
}

/* load -> fir -> fft -> mag -> store, 4096 bytes on each edge; fir, fft, mag
 * take 40 us on an FPGA, 100 on the cores; load and store only on the
 * cores. Every kernel is built for board-b (one FPGA resource here). */
typedef struct chain_graph {
    qv_dag *g;
    uint32_t load, fir, fft, mag, store;
} chain_graph;

static chain_graph chain(int second_reader)
{
    chain_graph t;
    t.g = new_graph();
    t.load = node(t.g, 10, "load", 5, -1);
    t.fir = node(t.g, 11, "fir", 100, 40);
    t.fft = node(t.g, 12, "fft", 100, 40);
    t.mag = node(t.g, 13, "mag", 100, 40);
    t.store = node(t.g, 14, "store", 5, -1);
    assert_int_equal(qv_dag_add_edge(t.g, t.load, t.fir, 4096), 0);
    assert_int_equal(qv_dag_add_edge(t.g, t.fir, t.fft, 4096), 0);
    assert_int_equal(qv_dag_add_edge(t.g, t.fft, t.mag, 4096), 0);
    assert_int_equal(qv_dag_add_edge(t.g, t.mag, t.store, 4096), 0);
    if (second_reader) {
        uint32_t tap = node(t.g, 15, "tap", 5, -1);
        assert_int_equal(qv_dag_add_edge(t.g, t.fft, tap, 4096), 0);
    }
    assert_int_equal(qv_dag_finalize(t.g, NULL), 0);
    return t;
}

static qv_plat *one_fpga(void)
{
    qv_plat_res r[2] = {res_of("cores", "cpu", 1, NULL),
                        res_of("fpgaB", "fpga", 1, "board-b")};
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("one-fpga", r, 2, &p), 0);
    return p;
}

/* A catalog with fir, fft, mag and the fused fir_fft_mag; us > 0 gives the
 * fused kernel a table point at 4096 bytes, else it has no table. */
static qv_catalog *chain_catalog(double us, uint32_t *fused)
{
    char k[8192] = "", t[64];
    kernel(k, sizeof k, "fir", "fir", "board: board-b", NULL);
    kernel(k, sizeof k, "fft", "fft", "board: board-b", NULL);
    kernel(k, sizeof k, "mag", "mag", "board: board-b", NULL);
    snprintf(t, sizeof t, "{bytes: 4096, us: %g}", us);
    kernel(k, sizeof k, "fir_fft_mag", "[fir, fft, mag]", "board: board-b", us > 0 ? t : NULL);
    *fused = 3;
    return load(k);
}

/* The chain planned on one FPGA, its tail writing `tail` bytes, under a
 * catalog whose fused kernel's table says 50 us at 4096 bytes and 100 us
 * at 8192 (the two tests below). */
typedef struct two_points {
    qv_plat *p;
    chain_graph t;
    qv_catalog *c;
    qv_plan *pl;
} two_points;

static two_points plan_two_points(uint64_t tail)
{
    two_points x;
    x.p = one_fpga();
    x.t = chain(0);
    x.t.g->bytes_out[x.t.mag] = tail;
    char k[8192] = "";
    kernel(k, sizeof k, "fir", "fir", "board: board-b", NULL);
    kernel(k, sizeof k, "fft", "fft", "board: board-b", NULL);
    kernel(k, sizeof k, "mag", "mag", "board: board-b", NULL);
    kernel(k, sizeof k, "fir_fft_mag", "[fir, fft, mag]", "board: board-b",
           "{bytes: 4096, us: 50}, {bytes: 8192, us: 100}");
    x.c = load(k);
    x.pl = plan(x.t.g, x.p, x.c, QV_ALGO_QUIVER);
    return x;
}

static void two_points_free(two_points *x)
{
    qv_plan_destroy(x->pl);
    qv_catalog_destroy(x->c);
    qv_dag_destroy(x->t.g);
    qv_plat_destroy(x->p);
}

/* A fused kernel's table is read at the bytes it moves, as a board's launch
 * counts them: the chain's inputs (the head's) and its outputs (the
 * tail's), 4096 + 4096 bytes here; not at the head's alone. */
static void test_fused_table_by_bytes_moved(void **state)
{
    (void)state;
    two_points x = plan_two_points(4096);
    assert_non_null(x.pl->fused);
    assert_int_equal(x.pl->fused[x.t.fir], 3);
    assert_near(x.pl->end[x.t.fir] - x.pl->start[x.t.fir], 100, 1e-9);
    /* the validator with the catalog looks at the lower bound too */
    qv_diag d;
    assert_int_equal(qv_sim_validate(x.t.g, x.p, x.c, x.pl, &d), 0);
    x.pl->lower_bound = NAN;
    assert_int_equal(qv_sim_validate(x.t.g, x.p, x.c, x.pl, &d), QV_EINVAL);
    assert_non_null(strstr(d.message, "lower bound"));
    two_points_free(&x);
}

/* Bytes moved past 2^64 are held there, not wrapped: a sum wrapped to 0
 * read the table's cheapest point and fused a chain that moves more than
 * any board could (2048 edges of 2^53 bytes, each within the graph's
 * limits, did it through the file reader). */
static void test_fused_bytes_held(void **state)
{
    (void)state;
    two_points x = plan_two_points(UINT64_MAX - 4095); /* + the head's 4096: 2^64 */
    assert_true(!x.pl->fused || x.pl->fused[x.t.fir] == 0);
    two_points_free(&x);
}

/* qv_plan_opts.fused_scale: the table's 50 us times 3 is more than the
 * chain's 3 x 40 us unfused, so nothing is fused; times 2 (100 us) still
 * fuses, timed at 100 us, and the plan validates with its scale. */
static void test_fused_scale(void **state)
{
    (void)state;
    qv_plat *p = one_fpga();
    chain_graph t = chain(0);
    uint32_t k;
    qv_catalog *c = chain_catalog(50, &k);
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.catalog = c;
    qv_plan *pl = NULL;
    o.fused_scale = 3;
    assert_int_equal(qv_plan_make(t.g, p, &o, &pl, NULL), 0);
    assert_null(pl->fused);
    qv_plan_destroy(pl);
    o.fused_scale = 2;
    assert_int_equal(qv_plan_make(t.g, p, &o, &pl, NULL), 0);
    assert_non_null(pl->fused);
    assert_int_equal(pl->fused[t.fir], k);
    assert_near(pl->end[t.fir] - pl->start[t.fir], 100, 1e-9);
    assert_near(pl->fused_scale, 2, 0);
    qv_diag d = {0};
    assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), 0);
    qv_plan_destroy(pl);
    o.fused_scale = -1;
    assert_int_equal(qv_plan_make(t.g, p, &o, &pl, &d), QV_EINVAL);
    assert_non_null(strstr(d.message, "fused_scale"));
    qv_catalog_destroy(c);
    qv_dag_destroy(t.g);
    qv_plat_destroy(p);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = strstr(hay, needle); s; s = strstr(s + 1, needle))
        n++;
    return n;
}

static char *plan_json(const qv_dag *g, const qv_plat *p, const qv_plan *pl)
{
    static char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    assert_int_equal(qv_plan_write_json(g, p, pl, f), 0);
    fclose(f);
    return buf;
}

/* The chain nodes[0..n-1] of plan pl run unfused, one after another on one
 * unit of the cores, each its cost there. */
static void assert_unfused_in_turn(const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                                   const uint32_t *nodes, uint32_t n)
{
    uint32_t cpu = 0;
    while (cpu < g->nclass && strcmp(g->class_name[cpu], "cpu"))
        cpu++;
    assert_true(cpu < g->nclass);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = nodes[j];
        assert_true(!pl->fused || pl->fused[i] == UINT32_MAX);
        assert_string_equal(res_name(p, pl, i), "cores");
        assert_int_equal(pl->unit[i], pl->unit[nodes[0]]);
        assert_near(pl->end[i] - pl->start[i], g->cost[(size_t)i * g->nclass + cpu],
                    1e-9);
        if (j)
            assert_near(pl->start[i], pl->end[nodes[j - 1]], 1e-9);
    }
}

/* (b): the fused kernel costs 50 us (table) or 40 us (no table: the slowest
 * stage), less than 3 x 40 us: one task on fpgaB for the three nodes. */
static void test_fused_when_cheaper(void **state)
{
    (void)state;
    qv_plat *p = one_fpga();
    chain_graph t = chain(0);
    const double cost[2] = {50, 0};
    for (unsigned v = 0; v < 2; v++) {
        uint32_t k;
        qv_catalog *c = chain_catalog(cost[v], &k);
        for (unsigned a = 0; a < 4; a++) {
            qv_plan *pl = plan(t.g, p, c, algos[a]);
            assert_non_null(pl->fused);
            assert_int_equal(pl->fused[t.fir], k);
            assert_int_equal(pl->fused[t.fft], k);
            assert_int_equal(pl->fused[t.mag], k);
            assert_int_equal(pl->fused[t.load], UINT32_MAX);
            assert_int_equal(pl->fused[t.store], UINT32_MAX);
            assert_string_equal(res_name(p, pl, t.fir), "fpgaB");
            for (uint32_t i = t.fft; i <= t.mag; i++) {
                assert_int_equal(pl->unit[i], pl->unit[t.fir]);
                assert_near(pl->start[i], pl->start[t.fir], 0);
                assert_near(pl->end[i], pl->end[t.fir], 0);
            }
            assert_near(pl->end[t.fir] - pl->start[t.fir], v ? 40 : 50, 1e-9);
            /* load 5, two transfers of 1 + 4096 / 10^4 us, store 5 */
            assert_near(pl->makespan, 5 + (v ? 40 : 50) + 5 + 2 * 1.4096, 1e-9);
            const char *js = plan_json(t.g, p, pl);
            assert_int_equal(count(js, "\"fused\": \"fir_fft_mag\""), 3);
            assert_int_equal(count(js, "\"id\": "), 5);
            qv_diag d = {0};
            /* without the catalog the shared slot is not accepted */
            assert_int_equal(qv_sim_validate(t.g, p, NULL, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "fused kernel"));
            /* a node of the chain that leaves the shared task is refused */
            pl->start[t.mag] += 1;
            pl->end[t.mag] += 1;
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "does not share"));
            pl->start[t.mag] -= 1;
            pl->end[t.mag] -= 1;
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), 0);
            /* a chain cut short is not what the kernel implements */
            pl->fused[t.mag] = UINT32_MAX;
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "does not start a chain"));
            qv_plan_destroy(pl);
            /* no_fuse: the same catalog, every node its own task; the
             * chain's functions still run only where a kernel is held */
            qv_plan_opts o;
            qv_plan_opts_init(&o);
            o.algo = algos[a];
            o.catalog = c;
            o.no_fuse = 1;
            assert_int_equal(qv_plan_make(t.g, p, &o, &pl, &d), 0);
            assert_null(pl->fused);
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), 0);
            assert_true(pl->makespan > 5 + (v ? 40 : 50) + 5 + 2 * 1.4096);
            qv_plan_destroy(pl);
        }
        qv_catalog_destroy(c);
    }
    qv_dag_destroy(t.g);
    qv_plat_destroy(p);
}

/* Four chains fir -> fft -> mag on two cores and one board holding
 * fir_fft_mag (118 us at the chain's 4096 bytes, less than the 36 + 117 +
 * 5 us of its fastest stages): fused, all four queued on the board take
 * 472 us, where two run fused there and two unfused on the cores (205 us
 * each) in 236. The list schedulers place each chain where it ends
 * first: the board for some, the cores for others. (The chains were
 * contracted onto the boards alone: the runtime's plan of bench/loop
 * --pays's 4 x 4096 signal entry queued them all on the emulated board,
 * slower than eager placement.) */
static void test_chains_fused_where_it_pays(void **state)
{
    (void)state;
    qv_plat_res r[2] = {res_of("cores", "cpu", 1, NULL),
                        res_of("fpgaB", "fpga", 1, "board-b")};
    r[0].units = 2;
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("two-cores", r, 2, &p), 0);
    qv_dag *g = new_graph();
    uint32_t nodes[4][3];
    for (int64_t c = 0; c < 4; c++) {
        nodes[c][0] = node(g, 10 * c, "fir", 70, 36);
        nodes[c][1] = node(g, 10 * c + 1, "fft", 130, 117);
        nodes[c][2] = node(g, 10 * c + 2, "mag", 5, -1);
        g->bytes_in[nodes[c][0]] = 4096;
        assert_int_equal(qv_dag_add_edge(g, nodes[c][0], nodes[c][1], 16384), 0);
        assert_int_equal(qv_dag_add_edge(g, nodes[c][1], nodes[c][2], 16384), 0);
    }
    assert_int_equal(qv_dag_finalize(g, NULL), 0);
    uint32_t k;
    qv_catalog *cat = chain_catalog(118, &k);
    qv_bounds b;
    assert_int_equal(qv_bounds_compute(g, p, cat, &b), 0);
    for (unsigned a = 0; a < 4; a++) {
        qv_plan *pl = plan(g, p, cat, algos[a]);
        /* the graph's bound whatever the algorithm (METIS's own problem
         * said 472, its makespan) */
        assert_near(pl->lower_bound, fmax(b.lb_cp, b.lb_area), 1e-9);
        assert_true(pl->lower_bound <= 236);
        if (algos[a] == QV_ALGO_METIS) { /* it weighs no cost: all fused */
            assert_non_null(pl->fused);
            assert_near(pl->makespan, 472, 1e-9);
            qv_plan_destroy(pl);
            continue;
        }
        unsigned fused = 0, cores = 0;
        for (int c = 0; c < 4; c++) {
            if (pl->fused && pl->fused[nodes[c][0]] == k) {
                fused++;
                assert_string_equal(res_name(p, pl, nodes[c][0]), "fpgaB");
                assert_near(pl->end[nodes[c][0]] - pl->start[nodes[c][0]], 118, 1e-9);
            } else {
                cores++;
                assert_unfused_in_turn(g, p, pl, nodes[c], 3);
            }
        }
        assert_int_equal(fused, 2);
        assert_int_equal(cores, 2);
        assert_near(pl->makespan, 236, 1e-9);
        assert_int_equal(count(plan_json(g, p, pl), "\"fused\": \"fir_fft_mag\""), 6);
        qv_plan_destroy(pl);
    }
    qv_catalog_destroy(cat);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
}

/* A chain w -> [a -> b -> c] -> x whose fused kernel is cheap (0.001 us)
 * but whose copies to the board and back are not (1.41 us each): it runs
 * unfused on the cores, c (cost 0) last, right before x on the one unit.
 * Its nodes' times summed in turn (0.1 + 0.2 + 0.3) passed the chain's
 * end as the scheduler summed it (0.1 + 0.5) by an ulp: c started after x
 * and the planner refused its own plan as an overlap (adversarial
 * testing). METIS alone keeps the chain fused, on the board. */
static void test_unfused_tail_of_cost_zero(void **state)
{
    (void)state;
    qv_plat *p = one_fpga();
    qv_dag *g = new_graph();
    uint32_t n[5];
    const char *f[5] = {"w", "a", "b", "c", "x"};
    const double cpu[5] = {0.1, 0.2, 0.3, 0, 5};
    for (unsigned i = 0; i < 5; i++) {
        n[i] = node(g, i, f[i], cpu[i], -1);
        if (i)
            assert_int_equal(qv_dag_add_edge(g, n[i - 1], n[i], 4096), 0);
    }
    assert_int_equal(qv_dag_finalize(g, NULL), 0);
    char k[2048] = "";
    kernel(k, sizeof k, "kabc", "[a, b, c]", "board: board-b",
           "{bytes: 1024, us: 0.001}");
    qv_catalog *c = load(k);
    for (unsigned a = 0; a < 4; a++) {
        qv_plan *pl = plan(g, p, c, algos[a]); /* made and validated */
        if (algos[a] == QV_ALGO_METIS) {
            assert_non_null(pl->fused);
            assert_string_equal(res_name(p, pl, n[1]), "fpgaB");
        } else {
            assert_unfused_in_turn(g, p, pl, n + 1, 3);
            assert_true(pl->start[n[3]] <= pl->end[n[3]]);
            assert_true(pl->end[n[3]] <= pl->start[n[4]]);
            assert_near(pl->makespan, 5.6, 1e-9);
        }
        qv_plan_destroy(pl);
    }
    qv_catalog_destroy(c);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
}

/* A remote board is a board by the board its daemon serves: with
 * board-b named, the chain fuses onto it at the table's 50 us plus the
 * round trip of the launch (2 x the link's 1 us latency; its remote costs
 * are 60 us a stage, so that is cheaper than 3 x 60 and than the cores'
 * 300); a remote resource that names no served board keeps its remote
 * costs (60 us a stage there) and fuses nothing. */
static void test_fused_on_a_remote_board(void **state)
{
    (void)state;
    chain_graph t = chain(0);
    int rem = qv_dag_class(t.g, "remote");
    assert_true(rem >= 0);
    uint32_t stages[3] = {t.fir, t.fft, t.mag};
    for (unsigned j = 0; j < 3; j++)
        t.g->cost[(size_t)stages[j] * t.g->nclass + (uint32_t)rem] = 60;
    uint32_t k;
    qv_catalog *c = chain_catalog(50, &k);
    for (int served = 1; served >= 0; served--) {
        qv_plat_res r[2] = {res_of("cores", "cpu", 1, NULL),
                            res_of("far", "remote", 1, served ? "board-b" : NULL)};
        qv_plat *p = NULL;
        assert_int_equal(qv_plat_create("remote", r, 2, &p), 0);
        for (unsigned a = 0; a < 4; a++) {
            qv_plan *pl = plan(t.g, p, c, algos[a]);
            if (served) {
                assert_non_null(pl->fused);
                for (unsigned j = 0; j < 3; j++) {
                    assert_int_equal(pl->fused[stages[j]], k);
                    assert_string_equal(res_name(p, pl, stages[j]), "far");
                }
                assert_near(pl->end[t.fir] - pl->start[t.fir], 52, 1e-9);
            } else {
                assert_null(pl->fused);
                unsigned far = 0;
                for (unsigned j = 0; j < 3; j++) {
                    bool there = !strcmp(res_name(p, pl, stages[j]), "far");
                    far += there;
                    assert_near(pl->end[stages[j]] - pl->start[stages[j]], there ? 60 : 100,
                                1e-9);
                }
                if (algos[a] != QV_ALGO_METIS) /* list schedulers take the faster */
                    assert_int_equal(far, 3);
            }
            qv_diag d = {0};
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), 0);
            qv_plan_destroy(pl);
        }
        qv_plat_destroy(p);
    }
    qv_catalog_destroy(c);
    qv_dag_destroy(t.g);
}

/* Not fused: a table of 500 us (dearer than 3 x 40), or fft's result also
 * read by another node. Nodes then run one by one, and two of them given
 * one slot are refused. */
static void test_not_fused(void **state)
{
    (void)state;
    qv_plat *p = one_fpga();
    for (unsigned v = 0; v < 2; v++) {
        chain_graph t = chain(v == 1);
        uint32_t k;
        qv_catalog *c = chain_catalog(v == 0 ? 500 : 50, &k);
        for (unsigned a = 0; a < 4; a++) {
            qv_plan *pl = plan(t.g, p, c, algos[a]);
            assert_null(pl->fused);
            for (uint32_t i = t.fir; i <= t.mag; i++) {
                double w = pl->end[i] - pl->start[i];
                assert_true(fabs(w - 40) < 1e-9 || fabs(w - 100) < 1e-9);
            }
            assert_true(pl->start[t.fft] >= pl->end[t.fir]);
            assert_null(strstr(plan_json(t.g, p, pl), "fused"));
            qv_diag d = {0};
            pl->unit[t.fft] = pl->unit[t.fir];
            pl->start[t.fft] = pl->start[t.fir];
            pl->end[t.fft] = pl->end[t.fir];
            assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), -EINVAL);
            /* and claiming the fusion the planner refused, with a second
             * reader of fft, is refused too */
            if (v == 1) {
                pl->fused = malloc(t.g->n * sizeof *pl->fused);
                assert_non_null(pl->fused);
                pl->catalog = c;
                for (uint32_t i = 0; i < t.g->n; i++)
                    pl->fused[i] = UINT32_MAX;
                pl->fused[t.fir] = pl->fused[t.fft] = pl->fused[t.mag] = k;
                pl->unit[t.mag] = pl->unit[t.fir];
                pl->start[t.mag] = pl->start[t.fir];
                pl->end[t.mag] = pl->end[t.fir];
                assert_int_equal(qv_sim_validate(t.g, p, c, pl, &d), -EINVAL);
                assert_non_null(strstr(d.message, "does not start a chain"));
            }
            qv_plan_destroy(pl);
        }
        qv_catalog_destroy(c);
        qv_dag_destroy(t.g);
    }
    qv_plat_destroy(p);
}

/* A recorded graph where the runtime launched chains fused: their nodes
 * are functions `fused:fir_fft_mag` (and `fused:fir_fft_mag#2` for another
 * wiring), costed on the FPGA only. The boards holding the kernel run
 * them; without a board that holds it, nothing can, and the planner says
 * so. (`quiver plan` refused the signal demo's graph on the machine that
 * recorded it: a user's test.) */
static void test_recorded_fused_nodes(void **state)
{
    (void)state;
    qv_plat *p = one_fpga();
    uint32_t k;
    qv_catalog *c = chain_catalog(0, &k);
    qv_dag *g = new_graph();
    uint32_t a = node(g, 1, "prep", 10, -1), f1, f2;
    int fpga = qv_dag_class(g, "fpga");
    assert_int_equal(qv_dag_add_node(g, 2, "fused:fir_fft_mag", &f1), 0);
    assert_int_equal(qv_dag_add_node(g, 3, "fused:fir_fft_mag#2", &f2), 0);
    g->cost[(size_t)f1 * g->nclass + (uint32_t)fpga] = 30;
    g->cost[(size_t)f2 * g->nclass + (uint32_t)fpga] = 30;
    assert_int_equal(qv_dag_add_edge(g, a, f1, 4096), 0);
    assert_int_equal(qv_dag_add_edge(g, a, f2, 4096), 0);
    qv_diag d = {0};
    assert_int_equal(qv_dag_finalize(g, &d), 0);
    for (unsigned i = 0; i < 4; i++) {
        qv_plan *pl = plan(g, p, c, algos[i]);
        assert_int_equal(pl->unit[f1], pl->unit[f2]); /* the board's one unit */
        assert_true(fabs(pl->end[f1] - pl->start[f1] - 30) < 1e-9);
        qv_plan_destroy(pl);
    }
    qv_catalog_destroy(c);
    /* No board holds it: nothing runs the node. */
    c = singles("fir", "fir", "board-b", NULL);
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.catalog = c;
    qv_plan *pl = NULL;
    assert_int_equal(qv_plan_make(g, p, &o, &pl, &d), QV_EINVAL);
    assert_non_null(strstr(d.message, "fused:fir_fft_mag"));
    qv_catalog_destroy(c);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
}

/* Each FPGA holding a different kernel set needs a class of its own:
 * with nine FPGAs the graph's 8 classes are not enough, and the planner
 * says so instead of planning. */
static void test_too_many_groups(void **state)
{
    (void)state;
    qv_plat_res r[10];
    r[0] = res_of("cores", "cpu", 1, NULL);
    char k[8192] = "";
    for (unsigned j = 0; j < 9; j++) {
        char name[16], board[16];
        snprintf(name, sizeof name, "f%u", j);
        snprintf(board, sizeof board, "b%u", j);
        r[j + 1] = res_of(name, "fpga", 1, board);
        snprintf(board, sizeof board, "board: b%u", j);
        kernel(k, sizeof k, name, "fir", board, NULL);
    }
    qv_catalog *c = load(k);
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("nine", r, 10, &p), 0);
    qv_dag *g = new_graph();
    node(g, 1, "fir", 100, 10);
    assert_int_equal(qv_dag_finalize(g, NULL), 0);
    qv_plan *pl = NULL;
    qv_diag d = {0};
    assert_int_equal(qv_plan_make(g, p, &(qv_plan_opts){.size = sizeof(qv_plan_opts), .algo = QV_ALGO_HEFT, .catalog = c}, &pl, &d), -EINVAL);
    assert_null(pl);
    assert_non_null(strstr(d.message, "exceed 8 classes"));
    /* seven FPGAs and the cores: eight classes, which fit */
    qv_plat *p7 = NULL;
    assert_int_equal(qv_plat_create("eight", r, 8, &p7), 0);
    pl = plan(g, p7, c, QV_ALGO_HEFT);
    assert_int_equal(p7->res[p7->unit_res[pl->unit[0]]].cls[0], 'f');
    qv_plat_destroy(p7);
    qv_plan_destroy(pl);
    qv_catalog_destroy(c);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
}

/* g with its nodes' functions renamed "a" (even index) and "b" (odd), so
 * that a fused kernel [a, b] has chains to match. */
static qv_dag *relabel(const qv_dag *g)
{
    qv_dag *h = NULL;
    assert_int_equal(qv_dag_create(g->name, &h), 0);
    for (uint32_t k = 0; k < g->nclass; k++)
        assert_int_equal(qv_dag_class(h, g->class_name[k]), (int)k);
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t v;
        assert_int_equal(qv_dag_add_node(h, g->ids[i], i % 2 ? "b" : "a", &v), 0);
        memcpy(&h->cost[(size_t)v * h->nclass], &g->cost[(size_t)i * g->nclass],
               g->nclass * sizeof *g->cost);
        h->bytes_in[v] = g->bytes_in[i];
        h->bytes_out[v] = g->bytes_out[i];
        h->memory[v] = g->memory[i];
    }
    for (uint32_t e = 0; e < g->m; e++)
        assert_int_equal(qv_dag_add_edge(h, g->esrc[e], g->edst[e], g->ebytes[e]), 0);
    assert_int_equal(qv_dag_finalize(h, NULL), 0);
    return h;
}

/* Random layered DAGs (functions a and b; half of the nodes with an fpga
 * cost) on cores, a GPU and two FPGAs, with a catalog where only fpgaA
 * holds the single kernels and both hold a fused [a, b]: every algorithm's
 * plan passes the catalog-aware check, nothing but the kernels' holder runs
 * single FPGA tasks, and some chains are fused. */
static void test_random_valid(void **state)
{
    (void)state;
    qv_plat_res r[4] = {res_of("cores", "cpu", 1, NULL), res_of("gpu", "gpu", 2, "g"),
                        res_of("fpgaA", "fpga", 1, "board-a"),
                        res_of("fpgaB", "fpga", 1.5, "board-b")};
    r[0].units = 4;
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("mixed", r, 4, &p), 0);
    char k[4096] = "";
    kernel(k, sizeof k, "ka", "a", "board: board-a", NULL);
    kernel(k, sizeof k, "kb", "b", "board: board-a", NULL);
    kernel(k, sizeof k, "kab", "[a, b]", "board: board-a;board: board-b", NULL);
    qv_catalog *c = load(k);
    unsigned nfused = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        qv_gen_opts o;
        qv_gen_defaults(QV_GEN_RANDOM, &o);
        o.n = 60;
        o.seed = seed;
        o.density = 0.2;
        qv_dag *g0 = NULL;
        assert_int_equal(qv_dag_generate(&o, &g0), 0);
        qv_dag *g = relabel(g0);
        qv_dag_destroy(g0);
        for (unsigned a = 0; a < 4; a++) {
            qv_plan *pl = plan(g, p, c, algos[a]);
            for (uint32_t i = 0; i < g->n; i++) {
                int fused = pl->fused && pl->fused[i] != UINT32_MAX;
                nfused += fused;
                if (!fused)
                    assert_string_not_equal(res_name(p, pl, i), "fpgaB");
            }
            qv_plan_destroy(pl);
        }
        qv_dag_destroy(g);
    }
    assert_true(nfused > 0);
    qv_catalog_destroy(c);
    qv_plat_destroy(p);
}

/* ---- one loader, one rule ---------------------------------------------------- */

/* The directory of the source tree (ctest sets QV_SOURCE_DIR). */
static const char *source_dir(void)
{
    const char *s = getenv("QV_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* Every bad catalog of tests/config/bad gives the same code and the same
 * formatted message, line and column through qv_catalog_load (the planner,
 * quiver plan --catalog) as through qv_config_check (quiver check, and the
 * runtime, which loads its policy's catalog by the same loader and quotes
 * that message whole); the good one loads through both. */
static void test_same_verdict(void **state)
{
    (void)state;
    char dir[600], path[900];
    snprintf(dir, sizeof dir, "%s/tests/config/bad", source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "catalog-", 8))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        qv_diag d1 = {0}, d2 = {0};
        qv_config_kind kind;
        qv_catalog *c = NULL;
        int r1 = qv_config_check(path, &kind, &d1);
        int r2 = qv_catalog_load(path, &c, &d2);
        char m1[2200], m2[2200];
        qv_diag_format(&d1, m1, sizeof m1);
        qv_diag_format(&d2, m2, sizeof m2);
        if (kind != QV_CONFIG_CATALOG || !r1 || r1 != r2 || strcmp(m1, m2) || c)
            fail_msg("%s: check %d '%s', load %d '%s'", e->d_name, r1, m1, r2, m2);
        assert_true(d2.line > 0);
        /* the runtime's path: a policy naming the catalog quotes it whole */
        char policy[1200], ppath[300], m3[4600];
        snprintf(policy, sizeof policy, "catalog: %s\n", path);
        write_file("policy.yaml", policy);
        snprintf(ppath, sizeof ppath, "%s/policy.yaml", tmpdir);
        qv_diag d3 = {0};
        assert_int_equal(qv_config_check(ppath, &kind, &d3), r1);
        assert_int_equal(kind, QV_CONFIG_POLICY);
        qv_diag_format(&d3, m3, sizeof m3);
        if (!strstr(m3, m1))
            fail_msg("%s: policy says '%s'", e->d_name, m3);
        unlink(ppath);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
    snprintf(path, sizeof path, "%s/tests/config/good/catalog.yaml", source_dir());
    qv_catalog *c = NULL;
    qv_diag dg = {0};
    assert_int_equal(qv_config_check(path, NULL, &dg), 0);
    assert_int_equal(qv_catalog_load(path, &c, &dg), 0);
    assert_true(qv_catalog_kernel_count(c) > 0);
    qv_catalog_destroy(c);
}

/* The shipped catalog: the one in <build>/share/quiver when the build made
 * it, else config/kernels.yaml. */
static qv_catalog *shipped(void)
{
    char path[700];
    const char *b = getenv("QV_BINARY_DIR");
    snprintf(path, sizeof path, "%s/share/quiver/kernels.yaml", b ? b : ".");
    if (access(path, R_OK))
        snprintf(path, sizeof path, "%s/config/kernels.yaml", source_dir());
    qv_catalog *c = NULL;
    qv_diag d = {0};
    if (qv_catalog_load(path, &c, &d))
        fail_msg("%s:%u:%u: %s", d.file, d.line, d.column, d.message);
    return c;
}

/* For every board file the shipped catalog names (boards/ and boards/emu)
 * and every kernel, the planner (qv_catalog_holds on the resource its
 * platform reader makes of the board file) and the runtime (the build its
 * devices load, qv__kernel_build on the board as the runtime reads it)
 * agree; the emulated U250 holds every kernel, no other board any. */
/* A board name is matched whole, up to the 127 bytes the board reader
 * allows: a platform resource on a board with a 100-byte name holds the
 * kernel built for that name (it was cut at 63 bytes and held nothing). */
static void test_long_board_name(void **state)
{
    (void)state;
    char longname[101], k[2048] = "", build[160];
    memset(longname, 'l', 100);
    longname[100] = 0;
    snprintf(build, sizeof build, "board: %s", longname);
    kernel(k, sizeof k, "kf", "f", build, NULL);
    qv_catalog *c = load(k);
    write_file("plat.yaml", "platform: long\nresources:\n"
                            "  - {name: cpu, class: cpu, units: 1}\n"
                            "  - {name: fpga0, class: fpga, board: boards/long.yaml}\n");
    char path[300];
    snprintf(path, sizeof path, "%s/plat.yaml", tmpdir);
    qv_plat *p = NULL;
    qv_diag d = {0};
    int rc = qv_plat_load(path, &p, &d);
    if (rc)
        fail_msg("%s:%u:%u: %s", d.file, d.line, d.column, d.message);
    assert_string_equal(p->res[1].board_name, longname);
    assert_int_equal(qv_catalog_holds(c, 0, &p->res[1]), 1);
    qv_plat_destroy(p);
    qv_catalog_destroy(c);
}

static void test_runtime_and_planner_agree(void **state)
{
    (void)state;
    qv_catalog *c = shipped();
    const qv__catalog *rc = c; /* the same object, as the runtime sees it */
    assert_true(rc->nboards >= 6);
    assert_true(qv_catalog_kernel_count(c) >= 5);
    unsigned fpgas = 0;
    for (size_t i = 0; i < rc->nboards; i++) {
        const qv__board *b = rc->boards[i];
        if (b->kind != QV_CLASS_FPGA)
            continue;
        fpgas++;
        char text[1200];
        snprintf(text, sizeof text,
                 "platform: one\nresources:\n  - {name: cores, class: cpu, units: 1}\n"
                 "  - {name: f, class: fpga, units: 1, board: %s}\n",
                 b->path);
        write_file("plat.yaml", text);
        char path[300];
        snprintf(path, sizeof path, "%s/plat.yaml", tmpdir);
        qv_plat *p = NULL;
        qv_diag d = {0};
        if (qv_plat_load(path, &p, &d))
            fail_msg("%s: %s:%u:%u: %s", b->path, d.file, d.line, d.column, d.message);
        unlink(path);
        const qv_plat_res *r = &p->res[1];
        assert_string_equal(r->board_name, b->name);
        /* an emulated board computes on the host's cores */
        assert_int_equal(r->shares_cpu, b->emulation ? 1 : 0);
        for (uint32_t k = 0; k < qv_catalog_kernel_count(c); k++) {
            int runtime = qv__kernel_build(&rc->kernels[k], b->name, b->platform,
                                           b->emulation) != NULL;
            int planner = qv_catalog_holds(c, k, r);
            if (runtime != planner || runtime != !strcmp(b->name, "alveo-u250-emu"))
                fail_msg("board %s, kernel %s: runtime %d, planner %d", b->name,
                         qv_catalog_kernel_name(c, k), runtime, planner);
        }
        qv_plat_destroy(p);
    }
    assert_true(fpgas >= 6);
    qv_catalog_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_api),
        cmocka_unit_test(test_kernel_placement),
        cmocka_unit_test(test_fused_when_cheaper),
        cmocka_unit_test(test_fused_table_by_bytes_moved),
        cmocka_unit_test(test_fused_bytes_held),
        cmocka_unit_test(test_fused_scale),
        cmocka_unit_test(test_not_fused),
        cmocka_unit_test(test_recorded_fused_nodes),
        cmocka_unit_test(test_fused_on_a_remote_board),
        cmocka_unit_test(test_chains_fused_where_it_pays),
        cmocka_unit_test(test_unfused_tail_of_cost_zero),
        cmocka_unit_test(test_too_many_groups),
        cmocka_unit_test(test_random_valid),
        cmocka_unit_test(test_same_verdict),
        cmocka_unit_test(test_runtime_and_planner_agree),
        cmocka_unit_test(test_long_board_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
