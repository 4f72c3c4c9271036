/*
 * cmd_plan.c - `quiver plan`: load a graph and a platform, plan with one
 * algorithm, print a summary or the plan JSON of DESIGN.md, optionally a
 * Graphviz view. The planner lives in partition/ (qvpart.h); with
 * --catalog, qv_catalog_load reads config/kernels.yaml with the runtime's
 * catalog loader.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "quiver/config.h"
#include "qvpart.h"

static void plan_usage(FILE *f)
{
    fprintf(f, "usage: quiver plan --graph G.qvg.json --platform P.yaml\n"
               "                   [--algo quiver|heft|peft|metis] [--json] "
               "[--dot FILE]\n"
               "                   [--catalog kernels.yaml]\n"
               "Plans the graph on the platform under the cost model of "
               "DESIGN.md.\n"
               "With --catalog, FPGAs run only the functions whose kernels they "
               "hold,\nand fused kernels replace the chains they implement "
               "where cheaper.\n"
               "Prints makespan, lower bound and their ratio, bytes cut, parts "
               "and\nplanning time; --json prints the plan itself.\n");
}

static void print_diag(const char *what, int rc, const qv_diag *d)
{
    if (d->message[0] && d->line)
        fprintf(stderr, "quiver plan: %s:%u:%u: %s\n", d->file, d->line, d->column, d->message);
    else if (d->message[0])
        fprintf(stderr, "quiver plan: %s: %s\n", d->file, d->message);
    else
        fprintf(stderr, "quiver plan: %s: %s\n", what, strerror(-rc));
}

int qv_cmd_plan(int argc, char **argv)
{
    const char *gpath = NULL, *ppath = NULL, *dot = NULL, *cpath = NULL;
    qv_algo algo = QV_ALGO_QUIVER;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            plan_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (i + 1 < argc && !strcmp(a, "--graph")) {
            gpath = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--platform")) {
            ppath = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--catalog")) {
            cpath = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--dot")) {
            dot = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--algo")) {
            if (qv_algo_parse(argv[++i], &algo)) {
                fprintf(stderr,
                        "quiver plan: unknown algorithm '%s' "
                        "(quiver, heft, peft, metis)\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "quiver plan: unexpected argument '%s'\n", a);
            plan_usage(stderr);
            return 2;
        }
    }
    if (!gpath || !ppath) {
        plan_usage(stderr);
        return 2;
    }
    qv_diag d = {0};
    qv_dag *g = NULL;
    qv_plat *p = NULL;
    qv_plan *pl = NULL;
    qv_catalog *cat = NULL;
    int ret = 1, rc;
    if ((rc = qv_dag_load(gpath, &g, &d))) {
        print_diag(gpath, rc, &d);
        goto out;
    }
    if ((rc = qv_plat_load(ppath, &p, &d))) {
        print_diag(ppath, rc, &d);
        goto out;
    }
    if (cpath && qv_catalog_load(cpath, &cat, &d)) {
        char buf[2200]; /* as quiver check and the runtime say it */
        qv_diag_format(&d, buf, sizeof buf);
        fprintf(stderr, "quiver plan: %s\n", buf);
        goto out;
    }
    if ((rc = qv_plan_make_cat(g, p, cat, algo, &pl, &d))) {
        print_diag(gpath, rc, &d);
        goto out;
    }
    if (dot) {
        FILE *f = fopen(dot, "w");
        if (!f || qv_plan_write_dot(g, p, pl, f)) {
            fprintf(stderr, "quiver plan: cannot write %s\n", dot);
            if (f)
                fclose(f);
            goto out;
        }
        if (fclose(f)) {
            fprintf(stderr, "quiver plan: cannot write %s\n", dot);
            goto out;
        }
    }
    if (json) {
        qv_plan_write_json(g, p, pl, stdout);
    } else {
        qv_bounds b;
        if ((rc = qv_bounds_compute_cat(g, p, cat, &b))) {
            print_diag(gpath, rc, &d);
            goto out;
        }
        printf("graph       %s: %u nodes, %u edges\n", g->name, g->n, g->m);
        printf("platform    %s: %u resources, %u units\n", p->name, p->nres, p->nunits);
        printf("algorithm   %s%s%s\n", qv_algo_name(pl->algo),
               algo == QV_ALGO_QUIVER ? ", kept " : "",
               algo == QV_ALGO_QUIVER ? pl->variant : "");
        printf("makespan    %.1f us\n", pl->makespan);
        printf("lower bound %.1f us (critical path %.1f, area %.1f); "
               "ratio %.3f\n",
               pl->lower_bound, b.lb_cp, b.lb_area,
               pl->lower_bound > 0 ? pl->makespan / pl->lower_bound : 1.0);
        printf("SLR         %.3f; speedup %.2f over the best single unit\n",
               b.lb_cp > 0 ? pl->makespan / b.lb_cp : 1.0,
               pl->makespan > 0 && !isinf(b.seq_best) ? b.seq_best / pl->makespan : 0.0);
        printf("bytes cut   %llu\n", (unsigned long long)pl->bytes_cut);
        if (pl->nparts)
            printf("parts       %u\n", pl->nparts);
        else
            printf("parts       - (list scheduling, no partition)\n");
        if (pl->fused) {
            uint32_t nf = 0;
            for (uint32_t i = 0; i < g->n; i++)
                nf += pl->fused[i] != UINT32_MAX;
            printf("fused       %u nodes run in fused catalog kernels\n", nf);
        }
        printf("plan time   %.3f ms\n", pl->plan_time_us / 1000);
    }
    ret = 0;
out:
    qv_plan_destroy(pl);
    qv_catalog_destroy(cat);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
    return ret;
}
