/*
 * test_import.c - the WfFormat and DAX importers on the public workflow
 * sets of shared/dagsets (argv[1]); skipped (77) when they are absent.
 * Checks task counts against the files, that edges carry the bytes of the
 * shared files, that the accelerator rule is deterministic, and that every
 * imported graph plans validly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "qvpart.h"

static const char *dir;

static qv_dag *import(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    qv_dag *g = NULL;
    qv_pdiag d = {0};
    int rc = qv_dag_import(path, NULL, &g, &d);
    if (rc)
        fprintf(stderr, "%s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
    assert_int_equal(rc, 0);
    return g;
}

static void test_counts(void **state)
{
    (void)state;
    static const struct {
        const char *f;
        uint32_t n;
    } c[] = {
        {"pegasus_dax/Montage_25.xml", 25},
        {"pegasus_dax/CyberShake_30.xml", 30},
        {"pegasus_dax/Epigenomics_24.xml", 24},
        {"pegasus_dax/Inspiral_30.xml", 30},
        {"wfinstances/montage-chameleon-dss-05d-001.json", 58},
        {"wfinstances/srasearch-chameleon-10a-001.json", 22},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        qv_dag *g = import(c[i].f);
        assert_int_equal(g->n, c[i].n);
        assert_true(g->m > 0);
        qv_dag_destroy(g);
    }
}

static void test_heft_dax(void **state)
{
    (void)state;
    /* the HEFT paper graph as a DAX: 10 jobs, 15 dependencies, runtimes
     * of the paper's first processor column, file sizes on edges */
    qv_dag *g = import("pegasus_dax/HEFT_paper.xml");
    assert_int_equal(g->n, 10);
    assert_int_equal(g->m, 15);
    int cpu = qv_dag_class(g, "cpu");
    assert_true(fabs(g->cost[0 * g->nclass + (uint32_t)cpu] - 14e6) < 1e-3);
    /* edge 1 -> 2 carries file heft_file_1_2 of 2250 bytes */
    int found = 0;
    for (uint32_t e = 0; e < g->m; e++)
        if (g->esrc[e] == 0 && g->edst[e] == 1)
            found = g->ebytes[e] == 2250;
    assert_true(found);
    qv_dag_destroy(g);
}

static void test_rule_and_plans(void **state)
{
    (void)state;
    qv_dag *a = import("wfinstances/1000genome-chameleon-2ch-100k-001.json");
    qv_dag *b = import("wfinstances/1000genome-chameleon-2ch-100k-001.json");
    assert_int_equal(a->nclass, 3);
    for (uint32_t i = 0; i < a->n * a->nclass; i++)
        assert_true(a->cost[i] == b->cost[i] || (isinf(a->cost[i]) && isinf(b->cost[i])));
    qv_plat_res r[2] = {
        {.name = "c", .cls = "cpu", .units = 4, .speed = 1, .host_memory = 1},
        {.name = "g",
         .cls = "gpu",
         .units = 1,
         .speed = 1,
         .bandwidth_gbs = 6,
         .latency_us = 10},
    };
    qv_plat *p;
    assert_int_equal(qv_plat_create("p", r, 2, &p), 0);
    for (int k = 0; k < 4; k++) {
        qv_plan *pl;
        assert_int_equal(qv_plan_make(a, p, (qv_algo)k, &pl, NULL), 0);
        qv_plan_destroy(pl);
    }
    qv_plat_destroy(p);
    qv_dag_destroy(a);
    qv_dag_destroy(b);
}

int main(int argc, char **argv)
{
    struct stat st;
    dir = argc > 1 ? argv[1] : "../shared/dagsets";
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "no dagsets at %s: skipped\n", dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_heft_dax),
        cmocka_unit_test(test_rule_and_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
