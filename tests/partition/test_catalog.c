/*
 * test_catalog.c - planning with a kernel catalog (qv_plan_make_cat): an
 * FPGA runs a function only if it holds a kernel for it, which moves nodes
 * off the faster FPGA that lacks the kernel; a chain fir -> fft -> mag runs
 * as one task of a fused kernel when that is cheaper, and not when it is
 * dearer or when an intermediate result has a second reader; the simulator
 * accepts fused chains and still rejects every other shared slot.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

static uint32_t add_kernel(qv_catalog *c, const char *name, const char *f0,
                           const char *f1, const char *f2, const char *board)
{
    const char *f[3] = {f0, f1, f2};
    uint32_t n = f2 ? 3 : f1 ? 2 : 1, k;
    assert_int_equal(qv_catalog_add_kernel(c, name, f, n, &k), 0);
    assert_int_equal(qv_catalog_add_build(c, k, board, NULL), 0);
    return k;
}

static qv_plan *plan(const qv_dag *g, const qv_plat *p, const qv_catalog *c, qv_algo a)
{
    qv_plan *pl = NULL;
    qv_diag d = {0};
    int rc = qv_plan_make_cat(g, p, c, a, &pl, &d);
    if (rc)
        fprintf(stderr, "%s: %s\n", qv_algo_name(a), d.message);
    assert_int_equal(rc, 0);
    assert_int_equal(qv_sim_validate_cat(g, p, c, pl, &d), 0);
    return pl;
}

static void test_catalog_api(void **state)
{
    (void)state;
    qv_catalog *c = NULL;
    assert_int_equal(qv_catalog_create(&c), 0);
    const char *f[] = {"fir"};
    uint32_t k;
    assert_int_equal(qv_catalog_add_kernel(c, "fir", f, 1, &k), 0);
    assert_int_equal(qv_catalog_add_kernel(c, "fir", f, 1, NULL), -EINVAL);
    assert_int_equal(qv_catalog_add_kernel(c, "a\"b", f, 1, NULL), -EINVAL);
    assert_int_equal(qv_catalog_add_kernel(c, "x", f, 0, NULL), -EINVAL);
    assert_int_equal(qv_catalog_add_build(c, k, NULL, NULL), -EINVAL);
    assert_int_equal(qv_catalog_add_build(c, 7, "b", NULL), -EINVAL);
    assert_int_equal(qv_catalog_add_build(c, k, NULL, "xplat"), 0);
    /* a platform build serves real boards of that platform, not twins */
    qv_plat_res r = res_of("f", "fpga", 1, "card");
    snprintf(r.board_platform, sizeof r.board_platform, "xplat");
    assert_int_equal(qv_catalog_holds(c, k, &r), 1);
    r.board_emulation = 1;
    assert_int_equal(qv_catalog_holds(c, k, &r), 0);
    assert_int_equal(qv_catalog_add_build(c, k, "card", NULL), 0);
    assert_int_equal(qv_catalog_holds(c, k, &r), 1);
    qv_plat_res cpu = res_of("c", "cpu", 1, "card");
    assert_int_equal(qv_catalog_holds(c, k, &cpu), 0);
    /* the table: clamped below, linear between, extended above */
    assert_true(isnan(qv_catalog_table_us(c, k, 10)));
    assert_int_equal(qv_catalog_add_point(c, k, 1000, 10), 0);
    assert_int_equal(qv_catalog_add_point(c, k, 1000, 12), -EINVAL);
    assert_int_equal(qv_catalog_add_point(c, k, 2000, 0), -EINVAL);
    assert_near(qv_catalog_table_us(c, k, 500), 10, 1e-9);
    assert_near(qv_catalog_table_us(c, k, 3000), 30, 1e-9);
    assert_int_equal(qv_catalog_add_point(c, k, 3000, 30), 0);
    assert_near(qv_catalog_table_us(c, k, 2000), 20, 1e-9);
    assert_near(qv_catalog_table_us(c, k, 4000), 40, 1e-9);
    qv_catalog_destroy(c);
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
    qv_catalog *c = NULL;
    assert_int_equal(qv_catalog_create(&c), 0);
    add_kernel(c, "fir_k", "fir", NULL, NULL, "board-b");
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
        assert_int_equal(qv_sim_validate(g, p, pl, &d), 0);
        assert_int_equal(qv_sim_validate_cat(g, p, c, pl, &d), -EINVAL);
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
    qv_catalog *c = NULL;
    assert_int_equal(qv_catalog_create(&c), 0);
    add_kernel(c, "fir", "fir", NULL, NULL, "board-b");
    add_kernel(c, "fft", "fft", NULL, NULL, "board-b");
    add_kernel(c, "mag", "mag", NULL, NULL, "board-b");
    *fused = add_kernel(c, "fir_fft_mag", "fir", "fft", "mag", "board-b");
    if (us > 0)
        assert_int_equal(qv_catalog_add_point(c, *fused, 4096, us), 0);
    return c;
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
            assert_int_equal(qv_sim_validate(t.g, p, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "fused kernel"));
            /* a node of the chain that leaves the shared task is refused */
            pl->start[t.mag] += 1;
            pl->end[t.mag] += 1;
            assert_int_equal(qv_sim_validate_cat(t.g, p, c, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "does not share"));
            pl->start[t.mag] -= 1;
            pl->end[t.mag] -= 1;
            assert_int_equal(qv_sim_validate_cat(t.g, p, c, pl, &d), 0);
            /* a chain cut short is not what the kernel implements */
            pl->fused[t.mag] = UINT32_MAX;
            assert_int_equal(qv_sim_validate_cat(t.g, p, c, pl, &d), -EINVAL);
            assert_non_null(strstr(d.message, "does not start a chain"));
            qv_plan_destroy(pl);
        }
        qv_catalog_destroy(c);
    }
    qv_dag_destroy(t.g);
    qv_plat_destroy(p);
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
            assert_int_equal(qv_sim_validate_cat(t.g, p, c, pl, &d), -EINVAL);
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
                assert_int_equal(qv_sim_validate_cat(t.g, p, c, pl, &d), -EINVAL);
                assert_non_null(strstr(d.message, "does not start a chain"));
            }
            qv_plan_destroy(pl);
        }
        qv_catalog_destroy(c);
        qv_dag_destroy(t.g);
    }
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
    qv_catalog *c = NULL;
    assert_int_equal(qv_catalog_create(&c), 0);
    for (unsigned j = 0; j < 9; j++) {
        char name[16], board[16];
        snprintf(name, sizeof name, "f%u", j);
        snprintf(board, sizeof board, "b%u", j);
        r[j + 1] = res_of(name, "fpga", 1, board);
        add_kernel(c, name, "fir", NULL, NULL, board);
    }
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("nine", r, 10, &p), 0);
    qv_dag *g = new_graph();
    node(g, 1, "fir", 100, 10);
    assert_int_equal(qv_dag_finalize(g, NULL), 0);
    qv_plan *pl = NULL;
    qv_diag d = {0};
    assert_int_equal(qv_plan_make_cat(g, p, c, QV_ALGO_HEFT, &pl, &d), -EINVAL);
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

/* Random layered DAGs (every node a "task"; half of them with an fpga
 * cost) on cores, a GPU and two FPGAs, with a catalog where only fpgaA
 * holds the single kernel and both hold a fused [task, task]: every
 * algorithm's plan passes the catalog-aware check, nothing but the kernel
 * holder runs single FPGA tasks, and some chains are fused. */
static void test_random_valid(void **state)
{
    (void)state;
    qv_plat_res r[4] = {res_of("cores", "cpu", 1, NULL), res_of("gpu", "gpu", 2, "g"),
                        res_of("fpgaA", "fpga", 1, "board-a"),
                        res_of("fpgaB", "fpga", 1.5, "board-b")};
    r[0].units = 4;
    qv_plat *p = NULL;
    assert_int_equal(qv_plat_create("mixed", r, 4, &p), 0);
    qv_catalog *c = NULL;
    assert_int_equal(qv_catalog_create(&c), 0);
    add_kernel(c, "task_k", "task", NULL, NULL, "board-a");
    uint32_t k2 = add_kernel(c, "task2", "task", "task", NULL, "board-a");
    assert_int_equal(qv_catalog_add_build(c, k2, "board-b", NULL), 0);
    unsigned nfused = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        qv_gen_opts o;
        qv_gen_defaults(QV_GEN_RANDOM, &o);
        o.n = 60;
        o.seed = seed;
        o.density = 0.2;
        qv_dag *g = NULL;
        assert_int_equal(qv_dag_generate(&o, &g), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_api),
        cmocka_unit_test(test_kernel_placement),
        cmocka_unit_test(test_fused_when_cheaper),
        cmocka_unit_test(test_not_fused),
        cmocka_unit_test(test_too_many_groups),
        cmocka_unit_test(test_random_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
