/*
 * cmd_graph.c - `quiver graph gen KIND ... -o FILE` (generators) and
 * `quiver graph import FILE -o FILE` (WfFormat JSON and DAX XML), both
 * writing .qvg.json graphs for `quiver plan`.
 */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "qv_escape.h"
#include "qv_text.h"
#include "qvpart.h"

#define PROG "quiver graph"

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
               "-o FILE, --output=FILE: '-' is standard output. Options and "
               "operands\ncome in any order; --opt=V and --opt V are the same.\n");
}

/* Option opt's value s into *out: a number in [lo, hi]; whole: a decimal
 * integer (2.5 and 0x10 were taken as 2 and 16 without a word:
 * adversarial testing); else a decimal real, whole string (' 0.5' and hex
 * were taken, and 1e-400 as 0: qv__parse_real). */
static int num(const char *opt, const char *s, double lo, double hi, bool whole, double *out)
{
    char esc[256];
    unsigned long w = 0;
    double v = NAN;
    int rc = 0;
    if (whole)
        v = qv__parse_dec(s, (unsigned long)hi, &w) ? (double)w : NAN;
    else
        rc = qv__parse_real(s, &v);
    if (!(v >= lo && v <= hi)) {
        if (whole)
            fprintf(stderr, PROG ": --%s wants a whole number from %.0f to %.0f, not '%s'\n",
                    opt, lo, hi, qv__escape(s, esc, sizeof esc));
        else
            fprintf(stderr, PROG ": --%s wants a number in [%g, %g], not '%s'%s%s\n", opt,
                    lo, hi, qv__escape(s, esc, sizeof esc), rc ? ": " : "",
                    rc ? qv__real_why(rc) : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* Writes g as .qvg.json, after checking it by the rules of the graph reader
 * (qv_dag_check), so that `quiver plan` reads every file written here. */
static int write_out(const qv_dag *g, const char *path)
{
    qv_diag d;
    memset(&d, 0, sizeof d);
    int rc = qv_dag_check(g, &d);
    if (rc) {
        qv_cli_diag(PROG, g->name ? g->name : "graph", rc, &d);
        return 1;
    }
    FILE *f = qv_cli_out_open(PROG, path, "w");
    if (!f)
        return 1;
    rc = qv_dag_write(g, f);
    /* What the reader would refuse is not written: `gen lu --nt 200` wrote
     * 933 MB that `quiver plan` then refused (adversarial testing). A pipe
     * has no position to tell; its reader finds out. */
    long end = rc ? -1 : ftell(f);
    if (end > 0 && (unsigned long)end > QV_JSON_MAX_FILE) {
        fprintf(stderr,
                PROG ": the graph takes %ld MiB, past the %zu MiB that quiver plan and the "
                     "other readers take: smaller parameters, please\n",
                end >> 20, QV_JSON_MAX_FILE >> 20);
        rc = -1; /* said: no "error writing" after it (adversarial testing) */
    } else if (rc) {
        rc = 1;
    }
    return qv_cli_out_close(PROG, f, path, rc);
}

/* Long options of `gen` whose value is a number: name, range, where. */
enum { G_NT = 256, G_POINTS, G_N, G_FAT, G_DENSITY, G_REGULARITY, G_JUMP, G_CCR, G_HET,
       G_SEED };

/* Which options each generator reads, a bit per option (1 << (opt - G_NT)),
 * in the order of qv_gen_kind. */
#define GB(opt) (1u << ((opt)-G_NT))
static const unsigned gen_takes[] = {
    GB(G_NT),
    GB(G_NT),
    GB(G_NT),
    GB(G_POINTS) | GB(G_CCR) | GB(G_HET) | GB(G_SEED),
    GB(G_N) | GB(G_FAT) | GB(G_DENSITY) | GB(G_REGULARITY) | GB(G_JUMP) | GB(G_CCR) |
        GB(G_HET) | GB(G_SEED),
};
_Static_assert(sizeof gen_takes / sizeof gen_takes[0] == QV_GEN_RANDOM + 1,
               "a row of gen_takes per qv_gen_kind");

/* Refuses an option given that kind does not read, naming the options it
 * does: `gen cholesky --points 8` wrote the default Cholesky graph and
 * exited 0, as if the option had been used (adversarial testing). opts[k]
 * is the long option of G_NT + k. */
static int refuse_foreign(int kind, const char *name, const int *set,
                          const struct option *opts)
{
    for (int k = 0; k <= G_SEED - G_NT; k++) {
        if (!set[k] || (gen_takes[kind] & (1u << k)))
            continue;
        fprintf(stderr, PROG " gen: %s takes no --%s; it takes", name, opts[k].name);
        const char *sep = " ";
        for (int t = 0; t <= G_SEED - G_NT; t++)
            if (gen_takes[kind] & (1u << t)) {
                fprintf(stderr, "%s--%s", sep, opts[t].name);
                sep = ", ";
            }
        fprintf(stderr, "\nTry '" PROG " gen --help'.\n");
        return -1;
    }
    return 0;
}

static int cmd_gen(int argc, char **argv)
{
    static const char *kinds[] = {"cholesky", "lu", "qr", "fft", "random"};
    /* After "output", in the order of G_NT..G_SEED: refuse_foreign names
     * option G_NT + k as longopts[1 + k]. */
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"nt", required_argument, NULL, G_NT},
        {"points", required_argument, NULL, G_POINTS},
        {"n", required_argument, NULL, G_N},
        {"fat", required_argument, NULL, G_FAT},
        {"density", required_argument, NULL, G_DENSITY},
        {"regularity", required_argument, NULL, G_REGULARITY},
        {"jump", required_argument, NULL, G_JUMP},
        {"ccr", required_argument, NULL, G_CCR},
        {"heterogeneity", required_argument, NULL, G_HET},
        {"seed", required_argument, NULL, G_SEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* The options are read before the kind is known: keep them, apply after. */
    double val[G_SEED - G_NT + 1];
    int set[G_SEED - G_NT + 1] = {0};
    static const double lo[] = {1, 2, 1, 0, 0, 0, 1, 0, 0, 0};
    static const double hi[] = {200, 65536, 8000000, 1, 1, 1, 1000, 1e6, 1.999, 9e15};
    static const bool whole[] = {true, true, true, false, false, false, true, false, false,
                                 true};
    const char *outp = NULL;
    int c;
    while ((c = qv_cli_getopt(argc, argv, PROG " gen", "o:h", longopts)) != -1) {
        if (c == 'h') {
            graph_usage(stdout);
            return 0;
        }
        if (c == 'o') {
            outp = optarg;
            continue;
        }
        if (c < G_NT || c > G_SEED)
            return QV_CLI_USAGE;
        int k = c - G_NT;
        if (num(longopts[k + 1].name, optarg, lo[k], hi[k], whole[k], &val[k]))
            return QV_CLI_USAGE;
        set[k] = 1;
    }
    if (optind != argc - 1 || !outp) {
        if (optind < argc - 1)
            fprintf(stderr, PROG " gen: one KIND, not '%s' and '%s'\n",
                    qv_cli_esc(argv[optind]), qv_cli_esc(argv[optind + 1]));
        else if (optind == argc)
            fprintf(stderr, PROG " gen: no KIND given\n");
        else
            fprintf(stderr, PROG " gen: -o FILE is required\n");
        fprintf(stderr, "Try '" PROG " gen --help'.\n");
        return QV_CLI_USAGE;
    }
    int kind = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(argv[optind], kinds[k]))
            kind = k;
    if (kind < 0) {
        fprintf(stderr, PROG ": unknown generator '%s' (cholesky, lu, qr, fft, random)\n",
                qv_cli_esc(argv[optind]));
        return QV_CLI_USAGE;
    }
    if (refuse_foreign(kind, kinds[kind], set, longopts + 1))
        return QV_CLI_USAGE;
    qv_gen_opts o;
    qv_gen_defaults((qv_gen_kind)kind, &o);
    if (set[G_NT - G_NT])
        o.nt = (unsigned)val[G_NT - G_NT];
    if (set[G_POINTS - G_NT])
        o.points = (unsigned)val[G_POINTS - G_NT];
    if (set[G_N - G_NT])
        o.n = (unsigned)val[G_N - G_NT];
    if (set[G_FAT - G_NT])
        o.fat = val[G_FAT - G_NT];
    if (set[G_DENSITY - G_NT])
        o.density = val[G_DENSITY - G_NT];
    if (set[G_REGULARITY - G_NT])
        o.regularity = val[G_REGULARITY - G_NT];
    if (set[G_JUMP - G_NT])
        o.jump = (unsigned)val[G_JUMP - G_NT];
    if (set[G_CCR - G_NT])
        o.ccr = val[G_CCR - G_NT];
    if (set[G_HET - G_NT])
        o.heterogeneity = val[G_HET - G_NT];
    if (set[G_SEED - G_NT])
        o.seed = (uint64_t)val[G_SEED - G_NT];
    qv_dag *g;
    int rc = qv_dag_generate(&o, &g);
    if (rc) {
        /* A value out of its range is a usage error: exit 2, as a wrong
         * option (docs/cli.md; `--points 3` exited 1). */
        bool fft = !strcmp(kinds[kind], "fft");
        fprintf(stderr, PROG ": cannot generate %s: %s%s\n%s", kinds[kind], qv_strerror(rc),
                rc == QV_EINVAL && fft ? " (FFT points must be a power of two)" : "",
                rc == QV_EINVAL ? "Try 'quiver graph --help'.\n" : "");
        return rc == QV_EINVAL ? 2 : 1;
    }
    int ret = write_out(g, outp);
    qv_dag_destroy(g);
    return ret;
}

/* CLASS:LO:HI:SHARE split, each number read by qv__parse_real (sscanf's
 * %lf took ' 0.5', hex, and a SHARE of 1e-400 as 0: adversarial testing).
 * CLASS: 1 to 15 of [a-z0-9_], into name (n bytes). */
static bool accel_fields(const char *s, char *name, size_t n, double *lo, double *hi,
                         double *share)
{
    char buf[256], *f[4];
    size_t len = strlen(s), k = 0;
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len + 1);
    for (char *p = buf;;) { /* fields may be empty: refused below */
        if (k == 4)
            return false;
        f[k++] = p;
        char *colon = strchr(p, ':');
        if (!colon)
            break;
        *colon = 0;
        p = colon + 1;
    }
    size_t nl = strlen(f[0]);
    if (k != 4 || nl == 0 || nl > 15 || nl >= n ||
        f[0][strspn(f[0], "abcdefghijklmnopqrstuvwxyz0123456789_")])
        return false;
    memcpy(name, f[0], nl + 1);
    return !qv__parse_real(f[1], lo) && !qv__parse_real(f[2], hi) &&
           !qv__parse_real(f[3], share);
}

/* One --accel CLASS:LO:HI:SHARE into o. */
static int parse_accel(const char *s, qv_import_opts *o)
{
    char name[QV_CLASS_NAME_MAX];
    double alo, ahi, share;
    char esc[512];
    if (o->naccel == 4) {
        fprintf(stderr, PROG ": at most 4 --accel rules\n");
        return -1;
    }
    /* Bounded as the importer's rule (finite speed-ups: HI inf made every
     * cost 0, and the refusal came later naming the workflow file, not
     * the option: adversarial testing). */
    if (!accel_fields(s, name, sizeof name, &alo, &ahi, &share) || !strcmp(name, "cpu") ||
        !(alo >= 1e-6) || !(ahi >= alo) || !(ahi <= 1e6) || !(share >= 0 && share <= 1)) {
        fprintf(stderr,
                PROG ": --accel wants CLASS:LO:HI:SHARE, a class other than cpu (the "
                     "base), speed-ups 1e-6 <= LO <= HI <= 1e6 and 0 <= SHARE <= 1, not "
                     "'%s'\n",
                qv__escape(s, esc, sizeof esc));
        return -1;
    }
    /* A class twice: the second rule replaced the first, silently. */
    for (unsigned i = 0; i < o->naccel; i++)
        if (!strcmp(o->accel[i].name, name)) {
            fprintf(stderr, PROG ": --accel gives class '%s' twice\n", qv_cli_esc(name));
            return -1;
        }
    strcpy(o->accel[o->naccel].name, name);
    o->accel[o->naccel].lo = alo;
    o->accel[o->naccel].hi = ahi;
    o->accel[o->naccel].share = share;
    o->naccel++;
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"accel", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *outp = NULL;
    qv_import_opts o;
    memset(&o, 0, sizeof o);
    int c;
    while ((c = qv_cli_getopt(argc, argv, PROG " import", "o:h", longopts)) != -1) {
        if (c == 'h') {
            graph_usage(stdout);
            return 0;
        } else if (c == 'o') {
            outp = optarg;
        } else if (c == 'a') {
            if (parse_accel(optarg, &o))
                return QV_CLI_USAGE;
        } else {
            return QV_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || !outp) {
        if (optind < argc - 1)
            fprintf(stderr, PROG " import: one WORKFLOW, not '%s' and '%s'\n",
                    qv_cli_esc(argv[optind]), qv_cli_esc(argv[optind + 1]));
        else if (optind == argc)
            fprintf(stderr, PROG " import: no WORKFLOW given\n");
        else
            fprintf(stderr, PROG " import: -o FILE is required\n");
        fprintf(stderr, "Try '" PROG " import --help'.\n");
        return QV_CLI_USAGE;
    }
    const char *in = argv[optind];
    if (qv_cli_overwrites(PROG " import", "-o", outp, "WORKFLOW", in))
        return QV_CLI_USAGE;
    qv_diag d;
    memset(&d, 0, sizeof d);
    qv_dag *g;
    int rc = qv_dag_import(in, &o, &g, &d);
    if (rc) {
        qv_cli_diag(PROG, in, rc, &d);
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
        return argc < 2 ? QV_CLI_USAGE : 0;
    }
    if (!strcmp(argv[1], "gen"))
        return cmd_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import"))
        return cmd_import(argc - 1, argv + 1);
    fprintf(stderr, PROG ": unknown subcommand '%s' (gen, import)\n",
            qv_cli_esc(argv[1]));
    return QV_CLI_USAGE;
}
