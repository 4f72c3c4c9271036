/*
 * bench_plan.c - planning quality and speed of Quiver's planner against
 * HEFT, PEFT and METIS-only, all in one process on the same graphs:
 *   1. for each family (tiled Cholesky, LU, QR, FFT, random DAGs with CCR
 *      0.1, 1 and 10, and each public workflow of shared/dagsets) on each
 *      platform, the mean of makespan / max(LB_cp, LB_area) per algorithm,
 *      and Quiver's mean makespan relative to the better of HEFT and PEFT;
 *   2. planning time for random graphs of 1 000, 10 000 and 100 000 nodes.
 * Every plan passes the simulator's validity check inside qv_plan_make.
 * Prints Markdown. Usage: bench_plan [--quick] [--dagsets DIR]
 * [--platforms DIR]; --quick skips the 100 000-node timing. Planning
 * times are wall-clock medians, since the machine may be shared.
 * bench_plan --shapes [--n N] prints only the planning time of every
 * algorithm on graphs of N nodes (default 100 000) of extreme shapes (a
 * star, a fan-in, a fork-join, a chain, layers and a random DAG), on both
 * platforms.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qvpart.h"

/* qv_plan_make with algorithm a and no catalog. */
static int plan_algo(const qv_dag *g, const qv_plat *p, qv_algo a, qv_plan **out,
                     qv_diag *d)
{
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.algo = a;
    return qv_plan_make(g, p, &o, out, d);
}

#define NALGO 4

typedef struct acc {
    double ratio[NALGO]; /* Σ makespan / LB */
    double ms[NALGO];    /* Σ makespan */
    double vs_best;      /* Σ quiver / min(heft, peft) */
    int wins, losses, n;
    int kept[5]; /* which candidate quiver kept */
} acc;

static const char *const variants[5] = {"heft", "peft", "ranks", "metis", "refined"};

static int plan_one(const qv_dag *g, const qv_plat *p, acc *a)
{
    double ms[NALGO], lb = 0;
    for (int k = 0; k < NALGO; k++) {
        qv_plan *pl;
        qv_diag d = {0};
        int rc = plan_algo(g, p, (qv_algo)k, &pl, &d);
        if (rc) {
            fprintf(stderr, "bench_plan: %s on %s with %s: %s\n", g->name, p->name,
                    qv_algo_name((qv_algo)k), d.message);
            return rc;
        }
        ms[k] = pl->makespan;
        lb = pl->lower_bound;
        if (k == QV_ALGO_QUIVER)
            for (int v = 0; v < 5; v++)
                a->kept[v] += !strcmp(pl->variant, variants[v]);
        qv_plan_destroy(pl);
    }
    for (int k = 0; k < NALGO; k++) {
        a->ratio[k] += lb > 0 ? ms[k] / lb : 1;
        a->ms[k] += ms[k];
    }
    double best = fmin(ms[QV_ALGO_HEFT], ms[QV_ALGO_PEFT]);
    a->vs_best += best > 0 ? ms[QV_ALGO_QUIVER] / best : 1;
    a->wins += ms[QV_ALGO_QUIVER] < best * (1 - 1e-9);
    a->losses += ms[QV_ALGO_QUIVER] > best * (1 + 1e-9);
    a->n++;
    return 0;
}

static void row(const char *family, const char *plat, const acc *a)
{
    if (!a->n)
        return;
    printf("| %s | %s | %d |", family, plat, a->n);
    for (int k = 0; k < NALGO; k++)
        printf(" %.3f |", a->ratio[k] / a->n);
    printf(" %.3f | %d / %d | %d/%d/%d/%d/%d |\n", a->vs_best / a->n, a->wins, a->losses,
           a->kept[0], a->kept[1], a->kept[2], a->kept[3], a->kept[4]);
}

static int gen_family(const char *family, const qv_plat *p, qv_gen_kind kind,
                      const unsigned *sizes, int nsizes, double ccr, int seeds)
{
    acc a = {0};
    for (int s = 0; s < nsizes; s++)
        for (int seed = 1; seed <= seeds; seed++) {
            qv_gen_opts o;
            qv_gen_defaults(kind, &o);
            o.nt = sizes[s];
            o.points = sizes[s];
            o.n = sizes[s];
            o.ccr = ccr;
            o.seed = (uint64_t)seed;
            qv_dag *g;
            if (qv_dag_generate(&o, &g))
                return -1;
            int rc = plan_one(g, p, &a);
            qv_dag_destroy(g);
            if (rc)
                return rc;
        }
    row(family, p->name, &a);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int workflows(const char *dir, const qv_plat *p)
{
    static const char *sub[] = {"wfinstances", "pegasus_dax"};
    for (int s = 0; s < 2; s++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, sub[s]);
        DIR *d = opendir(path);
        if (!d) {
            fprintf(stderr, "bench_plan: no %s; workflow rows skipped\n", path);
            continue;
        }
        char *names[64];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 64)
            if (e->d_name[0] != '.' &&
                (strstr(e->d_name, ".json") || strstr(e->d_name, ".xml")))
                names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        for (int i = 0; i < n; i++) {
            char f[1200];
            snprintf(f, sizeof f, "%s/%s", path, names[i]);
            qv_dag *g;
            qv_diag dg = {0};
            acc a = {0};
            if (qv_dag_import(f, NULL, &g, &dg)) {
                fprintf(stderr, "bench_plan: %s:%u:%u: %s\n", dg.file, dg.line, dg.column,
                        dg.message);
            } else {
                char fam[160];
                snprintf(fam, sizeof fam, "%s (%u)", names[i], g->n);
                if (!plan_one(g, p, &a))
                    row(fam, p->name, &a);
                qv_dag_destroy(g);
            }
            free(names[i]);
        }
    }
    return 0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median planning time of `reps` runs: the machine may be shared. */
static void timing(const qv_plat *p, unsigned n, int reps)
{
    qv_gen_opts o;
    qv_gen_defaults(QV_GEN_RANDOM, &o);
    o.n = n;
    o.ccr = 1;
    qv_dag *g;
    if (qv_dag_generate(&o, &g))
        return;
    printf("| %u | %u |", g->n, g->m);
    double ratio[NALGO] = {0};
    for (int k = 0; k < NALGO; k++) {
        double t[16];
        const char *variant = "";
        for (int r = 0; r < reps && r < 16; r++) {
            qv_plan *pl;
            qv_diag d = {0};
            if (plan_algo(g, p, (qv_algo)k, &pl, &d)) {
                fprintf(stderr, "bench_plan: %s\n", d.message);
                qv_dag_destroy(g);
                return;
            }
            t[r] = pl->plan_time_us / 1000;
            ratio[k] = pl->makespan / pl->lower_bound;
            variant = pl->variant;
            qv_plan_destroy(pl);
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_dbl);
        if (k == QV_ALGO_QUIVER)
            printf(" %.1f (%s) |", t[reps / 2], variant);
        else
            printf(" %.1f |", t[reps / 2]);
    }
    printf(" %.3f / %.3f / %.3f / %.3f |\n", ratio[0], ratio[1], ratio[2], ratio[3]);
    qv_dag_destroy(g);
}

/* The shapes of --shapes, all with costs on cpu and gpu (cpu 100-106 µs,
 * gpu 40-44) and 1 MB on every edge. */
typedef enum shape { STAR, FANIN, FORKJOIN, CHAIN, LAYERED, RANDOM, NSHAPES } shape;
static const char *const shape_names[NSHAPES] = {
    "star (0 -> all)", "fan-in (all -> n-1)",        "fork-join (0 -> all -> n-1)",
    "chain",           "layers of 64, 3 edges each", "random DAG (CCR 1)"};

static qv_dag *shape_graph(shape sh, uint32_t n)
{
    qv_dag *g;
    if (sh == RANDOM) {
        qv_gen_opts o;
        qv_gen_defaults(QV_GEN_RANDOM, &o);
        o.n = n;
        o.ccr = 1;
        return qv_dag_generate(&o, &g) ? NULL : g;
    }
    if (qv_dag_create(shape_names[sh], &g))
        return NULL;
    int cpu = qv_dag_class(g, "cpu"), gpu = qv_dag_class(g, "gpu");
    int rc = 0;
    const uint64_t mb = 1000000;
    for (uint32_t i = 0; i < n && !rc; i++) {
        uint32_t ni;
        rc = qv_dag_add_node(g, i, i % 3 ? "f" : "h", &ni);
        if (!rc) {
            g->cost[(size_t)ni * g->nclass + (uint32_t)cpu] = 100 + i % 7;
            g->cost[(size_t)ni * g->nclass + (uint32_t)gpu] = 40 + i % 5;
        }
    }
    const uint32_t w = 64;
    for (uint32_t i = 0; i < n && !rc; i++) {
        if ((sh == STAR || sh == FORKJOIN) && i && i + 1 < n)
            rc = qv_dag_add_edge(g, 0, i, mb);
        if (sh == STAR && i && i + 1 == n)
            rc = qv_dag_add_edge(g, 0, i, mb);
        if ((sh == FANIN || (sh == FORKJOIN && i)) && i + 1 < n && !rc)
            rc = qv_dag_add_edge(g, i, n - 1, mb);
        if (sh == CHAIN && i + 1 < n)
            rc = qv_dag_add_edge(g, i, i + 1, mb);
        if (sh == LAYERED && i / w + 1 < (n + w - 1) / w) {
            static const uint32_t off[] = {0, 1, 3};
            for (int k = 0; k < 3 && !rc; k++) {
                uint32_t j = (i / w + 1) * w + (i % w + off[k]) % w;
                if (j < n)
                    rc = qv_dag_add_edge(g, i, j, mb);
            }
        }
    }
    if (rc || qv_dag_finalize(g, NULL)) {
        qv_dag_destroy(g);
        return NULL;
    }
    return g;
}

/* --shapes: median of 3 planning times per algorithm and shape. */
static int shapes(const qv_plat *p, uint32_t n)
{
    printf("### Planning time (ms, median of 3 runs) by graph shape, %u nodes, on %s\n\n",
           n, p->name);
    printf("| shape | nodes | edges | quiver (kept) | HEFT | PEFT | METIS-only |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int sh = 0; sh < NSHAPES; sh++) {
        qv_dag *g = shape_graph((shape)sh, n);
        if (!g) {
            fprintf(stderr, "bench_plan: cannot build the %s graph\n", shape_names[sh]);
            return 1;
        }
        printf("| %s | %u | %u |", shape_names[sh], g->n, g->m);
        for (int k = 0; k < NALGO; k++) {
            double t[3];
            const char *variant = "";
            for (int r = 0; r < 3; r++) {
                qv_plan *pl;
                qv_diag d = {0};
                if (plan_algo(g, p, (qv_algo)k, &pl, &d)) {
                    fprintf(stderr, "bench_plan: %s with %s: %s\n", shape_names[sh],
                            qv_algo_name((qv_algo)k), d.message);
                    qv_dag_destroy(g);
                    return 1;
                }
                t[r] = pl->plan_time_us / 1000;
                variant = pl->variant;
                qv_plan_destroy(pl);
            }
            qsort(t, 3, sizeof *t, cmp_dbl);
            if (k == QV_ALGO_QUIVER)
                printf(" %.1f (%s) |", t[1], variant);
            else
                printf(" %.1f |", t[1]);
        }
        printf("\n");
        fflush(stdout);
        qv_dag_destroy(g);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dagsets = QV_DAGSETS_DIR, *pdir = QV_PLATFORM_DIR;
    int quick = 0, only_shapes = 0;
    uint32_t shape_n = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--shapes"))
            only_shapes = 1;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            shape_n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dagsets") && i + 1 < argc)
            dagsets = argv[++i];
        else if (!strcmp(argv[i], "--platforms") && i + 1 < argc)
            pdir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_plan [--quick] [--dagsets DIR] "
                            "[--platforms DIR]\n"
                            "       bench_plan --shapes [--n NODES] [--platforms DIR]\n");
            return 2;
        }
    }
    if (shape_n < 3 || shape_n > QV_DAG_MAX_NODES) {
        fprintf(stderr, "bench_plan: --n wants 3 to %u nodes\n", QV_DAG_MAX_NODES);
        return 2;
    }
    static const char *pnames[] = {"ws16-gpu.yaml", "ws8-gpu-2fpga.yaml"};
    qv_plat *plats[2];
    for (int i = 0; i < 2; i++) {
        char path[1024];
        qv_diag d = {0};
        snprintf(path, sizeof path, "%s/%s", pdir, pnames[i]);
        if (qv_plat_load(path, &plats[i], &d)) {
            fprintf(stderr, "bench_plan: %s:%u:%u: %s\n", d.file, d.line, d.column, d.message);
            return 1;
        }
    }
    if (only_shapes) {
        int rc = shapes(plats[0], shape_n);
        if (!rc) {
            printf("\n");
            rc = shapes(plats[1], shape_n);
        }
        for (int i = 0; i < 2; i++)
            qv_plat_destroy(plats[i]);
        return rc;
    }
    printf("### Makespan / lower bound (mean; lower is better, 1.0 is the "
           "bound)\n\n");
    printf("| family | platform | graphs | quiver | HEFT | PEFT | METIS-only "
           "| quiver / min(HEFT,PEFT) | quiver wins / losses | kept "
           "heft/peft/ranks/metis/refined |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    static const unsigned nts[] = {6, 10, 14}, pts[] = {16, 64}, rnd[] = {50, 200, 500};
    for (int i = 0; i < 2; i++) {
        const qv_plat *p = plats[i];
        if (gen_family("Cholesky nt 6,10,14", p, QV_GEN_CHOLESKY, nts, 3, 0, 1) ||
            gen_family("LU nt 6,10,14", p, QV_GEN_LU, nts, 3, 0, 1) ||
            gen_family("QR nt 6,10,14", p, QV_GEN_QR, nts, 3, 0, 1) ||
            gen_family("FFT 16,64 pts, CCR 1, 5 seeds", p, QV_GEN_FFT, pts, 2, 1, 5) ||
            gen_family("random CCR 0.1, n 50-500, 10 seeds", p, QV_GEN_RANDOM, rnd, 3,
                       0.1, 10) ||
            gen_family("random CCR 1, n 50-500, 10 seeds", p, QV_GEN_RANDOM, rnd, 3, 1,
                       10) ||
            gen_family("random CCR 10, n 50-500, 10 seeds", p, QV_GEN_RANDOM, rnd, 3, 10,
                       10))
            return 1;
        workflows(dagsets, p);
    }
    printf("\n### Planning time (ms, median of 7 runs, 3 for 100 000 nodes), "
           "random DAG, CCR 1, on %s\n\n",
           plats[0]->name);
    printf("| nodes | edges | quiver (kept) | HEFT | PEFT | METIS-only | "
           "makespan / LB: quiver / HEFT / PEFT / METIS-only |\n");
    printf("|---|---|---|---|---|---|---|\n");
    timing(plats[0], 1000, 7);
    timing(plats[0], 10000, 7);
    if (!quick)
        timing(plats[0], 100000, 3);
    for (int i = 0; i < 2; i++)
        qv_plat_destroy(plats[i]);
    return 0;
}
