/*
 * test_heft_paper.c - the 10-task, 3-processor example of Topcuoglu, Hariri
 * and Wu (IEEE TPDS 2002, Fig. 2): insertion-based HEFT must give makespan
 * 80, with the paper's cost table and communication costs. Each processor is
 * its own device class and memory; a link of 1 GB/s and no latency makes
 * an edge of c*500 bytes cost exactly c between two processors
 * (device -> host -> device: 2 * c*500 / 1000 µs). Also the per-unit
 * timelines of insertion scheduling: same answers as a plain scan, and
 * O(log n) work per placement where a scan was quadratic (a star).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plan_algo.h"
#include "qvpart.h"
/* internals: the rank function, to compare with the paper's Table, and the
 * timelines */
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
    qv_diag d = {0};
    assert_int_equal(plan_algo(g, p, QV_ALGO_HEFT, &pl, &d), 0);
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
    assert_int_equal(qv_bounds_compute(g, p, NULL, &b), 0);
    /* CP_MIN of the paper's graph: n1 n2 n9 n10 at min costs 9+13+12+7 = 41,
     * or n1 n3 n7 n10 = 9+11+7+7 = 34, n1 n4 n8 n10 = 9+8+5+7 = 29 */
    assert_true(fabs(b.lb_cp - 41) < 1e-9);
    for (int a = 0; a < 4; a++) {
        qv_plan *pl;
        qv_diag d = {0};
        assert_int_equal(plan_algo(g, p, (qv_algo)a, &pl, &d), 0);
        assert_true(pl->makespan >= b.lb_cp - 1e-9);
        assert_true(pl->makespan >= b.lb_area - 1e-9);
        if (a == QV_ALGO_QUIVER)
            assert_true(pl->makespan <= 80 + 1e-9);
        qv_plan_destroy(pl);
    }
    qv_plat_destroy(p);
    qv_dag_destroy(g);
}

/* The insertion policy as a plain scan over slots sorted by start, the way
 * listsched.c did it before the timeline was a tree: the reference the
 * timeline must agree with. When no gap is long enough by the difference
 * of its ends, the task goes after the last slot. */
static double ref_find(const double *s, const double *e, uint32_t n, double ready,
                       double dur, uint32_t *pos)
{
    double t = ready, maxgap = n ? s[0] : 0;
    for (uint32_t j = 1; j < n; j++)
        if (s[j] - e[j - 1] > maxgap)
            maxgap = s[j] - e[j - 1];
    if (n && maxgap < dur) {
        *pos = n;
        return ready > e[n - 1] ? ready : e[n - 1];
    }
    for (uint32_t j = 0; j < n; j++) {
        if (e[j] <= ready)
            continue;
        if (t + dur <= s[j]) {
            *pos = j;
            return t;
        }
        if (e[j] > t)
            t = e[j];
    }
    *pos = n;
    return t;
}

/* Random tasks (lengths 0-9.9 µs, some zero, ready times spread so that
 * gaps open and fill; tenths, which binary fractions round, so that a task
 * may fit a gap exactly by the scan's sum but not by the difference of the
 * gap's ends) placed by the timeline and by the scan: same start, same
 * position, every time. */
static void test_timeline_matches_scan(void **state)
{
    (void)state;
    enum { N = 6000 };
    static double s[N], e[N];
    uint32_t n = 0;
    qv__timeline t = {0};
    uint64_t rng = 7;
    for (uint32_t k = 0; k < N; k++) {
        double ready = (double)(qv__part_rng(&rng) % 40000) * 0.1 + 1e5;
        double dur = (double)(qv__part_rng(&rng) % 100) * 0.1;
        uint32_t p1, p2;
        double a = qv__part_tl_find(&t, ready, dur, &p1);
        double b = ref_find(s, e, n, ready, dur, &p2);
        assert_true(a == b);
        assert_int_equal(p1, p2);
        assert_int_equal(qv__part_tl_insert(&t, p1, a, a + dur), 0);
        memmove(s + p2 + 1, s + p2, (n - p2) * sizeof *s);
        memmove(e + p2 + 1, e + p2, (n - p2) * sizeof *e);
        s[p2] = a;
        e[p2] = a + dur;
        n++;
    }
    qv__part_tl_fini(&t);
}

/* A star's leaves on one unit that ran a task at time 0: the hub's output
 * arrives at 1000 µs, so the unit idles until then and every leaf lands
 * after the previous one. A scan from the long gap walked past every placed
 * leaf for each new one (quadratic: a 100 000-node star took HEFT 3.6 s);
 * the timeline looks at O(log n) nodes per placement. */
static void test_timeline_star_is_not_quadratic(void **state)
{
    (void)state;
    enum { N = 50000 };
    qv__timeline t = {0};
    assert_int_equal(qv__part_tl_insert(&t, 0, 0, 1), 0);
    for (uint32_t k = 0; k < N; k++) {
        uint32_t pos;
        double st = qv__part_tl_find(&t, 1000, 2, &pos);
        assert_true(st == 1000 + 2.0 * k);
        assert_int_equal(pos, k + 1);
        assert_int_equal(qv__part_tl_insert(&t, pos, st, st + 2), 0);
    }
    /* about 2 log2(N) = 32 per call here; a scan needs N^2 / 2 in all */
    printf("timeline: %llu nodes visited for %d placements\n",
           (unsigned long long)t.visits, N);
    assert_true(t.visits < (uint64_t)200 * N);
    qv__part_tl_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heft_80),
        cmocka_unit_test(test_ranks),
        cmocka_unit_test(test_others_valid),
        cmocka_unit_test(test_timeline_matches_scan),
        cmocka_unit_test(test_timeline_star_is_not_quadratic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
