/*
 * cmd_graph.c - `quiver graph gen KIND ... -o FILE` (generators) and
 * `quiver graph import FILE -o FILE` (WfFormat JSON and DAX XML), both
 * writing .qvg.json graphs for `quiver plan`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "qvpart.h"

static void graph_usage(FILE *f)
{
    fprintf(f, "usage: quiver graph gen KIND [OPTIONS] -o FILE\n"
               "       quiver graph import WORKFLOW [--accel CLASS:LO:HI:SHARE]... "
               "-o FILE\n"
               "KIND: cholesky, lu, qr (--nt N), fft (--points P, --ccr, "
               "--heterogeneity, --seed),\n"
               "      random (--n N --fat F --density D --regularity R --jump J "
               "--ccr C\n"
               "              --heterogeneity B --seed S)\n"
               "WORKFLOW: WfFormat JSON or Pegasus DAX; --accel replaces the default\n"
               "accelerator rule (gpu:0.5:16:1 and fpga:0.5:8:0.5, "
               "docs/partition.md).\n"
               "FILE '-' is standard output.\n");
}

static int num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "quiver graph: %s wants a number in [%g, %g], not '%s'\n", opt,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Writes g as .qvg.json, after checking it by the rules of the graph reader
 * (qv_dag_check), so that `quiver plan` reads every file written here. */
static int write_out(const qv_dag *g, const char *path)
{
    qv_diag d = {0};
    if (qv_dag_check(g, &d)) {
        fprintf(stderr, "quiver graph: %s: %s\n", d.file, d.message);
        return 1;
    }
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "quiver graph: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = qv_dag_write(g, f);
    if (f != stdout && fclose(f))
        rc = -EIO;
    if (rc) {
        fprintf(stderr, "quiver graph: error writing %s\n", path);
        return 1;
    }
    return 0;
}

static int cmd_gen(int argc, char **argv)
{
    static const char *kinds[] = {"cholesky", "lu", "qr", "fft", "random"};
    if (argc < 2) {
        graph_usage(stderr);
        return 2;
    }
    int kind = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(argv[1], kinds[k]))
            kind = k;
    if (kind < 0) {
        fprintf(stderr, "quiver graph: unknown generator '%s'\n", argv[1]);
        return 2;
    }
    qv_gen_opts o;
    qv_gen_defaults((qv_gen_kind)kind, &o);
    const char *outp = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        double v;
        if (i + 1 >= argc) {
            fprintf(stderr, "quiver graph: '%s' needs a value\n", a);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "-o")) {
            outp = val;
        } else if (!strcmp(a, "--nt")) {
            if (num(a, val, 1, 200, &v))
                return 2;
            o.nt = (unsigned)v;
        } else if (!strcmp(a, "--points")) {
            if (num(a, val, 2, 65536, &v))
                return 2;
            o.points = (unsigned)v;
        } else if (!strcmp(a, "--n")) {
            if (num(a, val, 1, 8000000, &v))
                return 2;
            o.n = (unsigned)v;
        } else if (!strcmp(a, "--fat")) {
            if (num(a, val, 0, 1, &o.fat))
                return 2;
        } else if (!strcmp(a, "--density")) {
            if (num(a, val, 0, 1, &o.density))
                return 2;
        } else if (!strcmp(a, "--regularity")) {
            if (num(a, val, 0, 1, &o.regularity))
                return 2;
        } else if (!strcmp(a, "--jump")) {
            if (num(a, val, 1, 1000, &v))
                return 2;
            o.jump = (unsigned)v;
        } else if (!strcmp(a, "--ccr")) {
            if (num(a, val, 0, 1e6, &o.ccr))
                return 2;
        } else if (!strcmp(a, "--heterogeneity")) {
            if (num(a, val, 0, 1.999, &o.heterogeneity))
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (num(a, val, 0, 9e15, &v))
                return 2;
            o.seed = (uint64_t)v;
        } else {
            fprintf(stderr, "quiver graph: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!outp) {
        graph_usage(stderr);
        return 2;
    }
    qv_dag *g;
    int rc = qv_dag_generate(&o, &g);
    if (rc) {
        fprintf(stderr,
                "quiver graph: cannot generate %s: %s (FFT points must "
                "be a power of two)\n",
                kinds[kind], strerror(-rc));
        return 1;
    }
    int ret = write_out(g, outp);
    qv_dag_destroy(g);
    return ret;
}

static int cmd_import(int argc, char **argv)
{
    const char *in = NULL, *outp = NULL;
    qv_import_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            outp = argv[++i];
        } else if (!strcmp(argv[i], "--accel") && i + 1 < argc) {
            const char *s = argv[++i];
            char name[QV_CLASS_NAME_MAX];
            double lo, hi, share;
            int used = 0;
            if (o.naccel == 4 ||
                sscanf(s, "%15[a-z0-9_]:%lf:%lf:%lf%n", name, &lo, &hi, &share, &used) !=
                    4 ||
                s[used] || !(lo > 0) || !(hi >= lo) || !(share >= 0 && share <= 1)) {
                fprintf(stderr,
                        "quiver graph: --accel wants CLASS:LO:HI:SHARE "
                        "with 0 < LO <= HI, 0 <= SHARE <= 1 (at most "
                        "4), not '%s'\n",
                        s);
                return 2;
            }
            strcpy(o.accel[o.naccel].name, name);
            o.accel[o.naccel].lo = lo;
            o.accel[o.naccel].hi = hi;
            o.accel[o.naccel].share = share;
            o.naccel++;
        } else if (!in && argv[i][0] != '-') {
            in = argv[i];
        } else {
            fprintf(stderr, "quiver graph: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!in || !outp) {
        graph_usage(stderr);
        return 2;
    }
    qv_diag d = {0};
    qv_dag *g;
    int rc = qv_dag_import(in, &o, &g, &d);
    if (rc) {
        if (d.line)
            fprintf(stderr, "quiver graph: %s:%u:%u: %s\n", d.file, d.line, d.column, d.message);
        else
            fprintf(stderr, "quiver graph: %s: %s\n", d.file[0] ? d.file : in,
                    d.message[0] ? d.message : strerror(-rc));
        return 1;
    }
    int ret = write_out(g, outp);
    qv_dag_destroy(g);
    return ret;
}

int qv_cmd_graph(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        graph_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gen"))
        return cmd_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import"))
        return cmd_import(argc - 1, argv + 1);
    fprintf(stderr, "quiver graph: unknown subcommand '%s' (gen, import)\n", argv[1]);
    return 2;
}
