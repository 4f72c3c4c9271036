/*
 * test_heft_paper.c - the 10-task, 3-processor example of Topcuoglu, Hariri
 * and Wu (IEEE TPDS 2002, Fig. 2): insertion-based HEFT must give makespan
 * 80, with the paper's cost table and communication costs. Each processor is
 * its own device class and memory; a link of 1 GB/s and no latency makes
 * an edge of c*500 bytes cost exactly c between two processors
 * (device -> host -> device: 2 * c*500 / 1000 µs).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qvpart.h"
/* internals: the rank function, to compare with the paper's Table */
#include "../../partition/src/part.h"

static const double W[10][3] = {
    {14, 16, 9}, {13, 19, 18}, {11, 13, 19}, {13, 8, 17},  {12, 13, 10},
    {13, 16, 9}, {7, 15, 11},  {5, 11, 14},  {18, 12, 20}, {21, 7, 16},
};
static const int E[15][3] = {
    {1, 2, 18}, {1, 3, 12}, {1, 4, 9},   {1, 5, 11},  {1, 6, 14},
    {2, 8, 19}, {2, 9, 16}, {3, 7, 23},  {4, 8, 27},  {4, 9, 23},
    {5, 9, 13}, {6, 8, 15}, {7, 10, 17}, {8, 10, 11}, {9, 10, 13},
};

static void build(qv_dag **g, qv_plat **p)
{
    assert_int_equal(qv_dag_create("heft-paper", g), 0);
    int c[3] = {qv_dag_class(*g, "p1"), qv_dag_class(*g, "p2"), qv_dag_class(*g, "p3")};
    for (int i = 0; i < 10; i++) {
        uint32_t id;
        assert_int_equal(qv_dag_add_node(*g, i + 1, "t", &id), 0);
        for (int k = 0; k < 3; k++)
            (*g)->cost[id * (*g)->nclass + (uint32_t)c[k]] = W[i][k];
    }
    for (int e = 0; e < 15; e++)
        assert_int_equal(qv_dag_add_edge(*g, (uint32_t)E[e][0] - 1, (uint32_t)E[e][1] - 1,
                                         (uint64_t)E[e][2] * 500),
                         0);
    assert_int_equal(qv_dag_finalize(*g, NULL), 0);
    qv_plat_res r[3] = {
        {.name = "P1", .cls = "p1", .units = 1, .speed = 1, .bandwidth_gbs = 1},
        {.name = "P2", .cls = "p2", .units = 1, .speed = 1, .bandwidth_gbs = 1},
        {.name = "P3", .cls = "p3", .units = 1, .speed = 1, .bandwidth_gbs = 1}};
    assert_int_equal(qv_plat_create("heft3", r, 3, p), 0);
}

static void test_heft_80(void **state)
{
    (void)state;
    qv_dag *g;
    qv_plat *p;
    build(&g, &p);
    qv_plan *pl;
    qv_pdiag d = {0};
    assert_int_equal(qv_plan_make(g, p, QV_ALGO_HEFT, &pl, &d), 0);
    assert_true(fabs(pl->makespan - 80.0) < 1e-9);
    /* the paper's schedule: n1 on P3 at 0-9, exit n10 on P2 at 73-80 */
    assert_int_equal(pl->unit[0], 2);
    assert_true(fabs(pl->start[0]) < 1e-9 && fabs(pl->end[0] - 9) < 1e-9);
    assert_int_equal(pl->unit[9], 1);
    assert_true(fabs(pl->start[9] - 73) < 1e-9);
    /* and n8 on P1 at 57-62, as in the paper's Fig. 3 */
    assert_int_equal(pl->unit[7], 0);
    assert_true(fabs(pl->start[7] - 57) < 1e-9);
    qv_plan_destroy(pl);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
}

static void test_ranks(void **state)
{
    (void)state;
    qv_dag *g;
    qv_plat *p;
    build(&g, &p);
    qv__ctx c;
    assert_int_equal(qv__part_ctx_init(&c, g, p, NULL), 0);
    double rank[10];
    qv__part_rank_upward(&c, rank);
    /* rank_u of the paper: n1 108, n2 77, n3 80, n4 80, n5 69, n6 63.333,
     * n7 42.667, n8 35.667, n9 44.333, n10 14.667 */
    static const double want[10] = {
        108,          77,           80,           80,           69,
        63 + 1 / 3.0, 42 + 2 / 3.0, 35 + 2 / 3.0, 44 + 1 / 3.0, 14 + 2 / 3.0};
    for (int i = 0; i < 10; i++)
        assert_true(fabs(rank[i] - want[i]) < 1e-9);
    qv__part_ctx_fini(&c);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
}

static void test_others_valid(void **state)
{
    (void)state;
    qv_dag *g;
    qv_plat *p;
    build(&g, &p);
    qv_bounds b;
    assert_int_equal(qv_bounds_compute(g, p, &b), 0);
    /* CP_MIN of the paper's graph: n1 n2 n9 n10 at min costs 9+13+12+7 = 41,
     * or n1 n3 n7 n10 = 9+11+7+7 = 34, n1 n4 n8 n10 = 9+8+5+7 = 29 */
    assert_true(fabs(b.lb_cp - 41) < 1e-9);
    for (int a = 0; a < 4; a++) {
        qv_plan *pl;
        qv_pdiag d = {0};
        assert_int_equal(qv_plan_make(g, p, (qv_algo)a, &pl, &d), 0);
        assert_true(pl->makespan >= b.lb_cp - 1e-9);
        assert_true(pl->makespan >= b.lb_area - 1e-9);
        if (a == QV_ALGO_QUIVER)
            assert_true(pl->makespan <= 80 + 1e-9);
        qv_plan_destroy(pl);
    }
    qv_plat_destroy(p);
    qv_dag_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heft_80),
        cmocka_unit_test(test_ranks),
        cmocka_unit_test(test_others_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
