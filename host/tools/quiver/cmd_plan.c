/*
 * cmd_plan.c - `quiver plan`: load a graph and a platform, plan with one
 * algorithm, print a summary and a table per resource (tasks, busy time,
 * utilisation, money) in human units, or the plan JSON (docs/formats.md), and
 * optionally a Graphviz view. The planner lives in partition/ (qvpart.h);
 * with --catalog, qv_catalog_load reads config/kernels.yaml with the
 * runtime's catalog loader. Planning that takes over a second says so on
 * stderr.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "quiver/config.h"
#include "qv_escape.h"
#include "qv_text.h"
#include "qvpart.h"

#define PROG "quiver plan"

static void plan_usage(FILE *f)
{
    fprintf(f, "usage: quiver plan --graph G.qvg.json [--platform P.yaml] [OPTIONS]\n"
               "Plans the graph on the platform under the cost model of docs/model.md and\n"
               "prints makespan, lower bound and their ratio, bytes cut, parts, planning\n"
               "time and a table per resource: tasks, busy time, utilisation (busy time\n"
               "over units x makespan) and money (cost_per_hour over the makespan, for\n"
               "each resource that runs a task).\n"
               "  --graph=G           the task graph (.qvg.json)\n"
               "  --platform=P        the platform (YAML); without it, this machine as\n"
               "                      the runtime opens it: the devices `quiver devices`\n"
               "                      lists (remote boards whose daemon answers), and\n"
               "                      the policy's catalog unless --catalog\n"
               "  --config=POLICY     the runtime policy for that (default: $QV_CONFIG,\n"
               "                      else the installed default policy)\n"
               "  --algo=A            quiver (default), heft, peft or metis\n"
               "  --catalog=K         a kernel catalog: FPGAs run only the functions whose\n"
               "                      kernels they hold, and fused kernels replace the\n"
               "                      chains they implement where cheaper\n"
               "  --objective=O       time (default: the shortest makespan), cost (the\n"
               "                      least money), or a weight W from 0 (time) to 1\n"
               "                      (cost) between them\n"
               "  --deadline=US       with a cost objective, only plans that finish\n"
               "                      within US µs (else the fastest, said so)\n"
               "  --json[=FILE]       the plan as JSON, on standard output without FILE\n"
               "                      or with '-' (`--json -` works too)\n"
               "  --dot=FILE          the plan as Graphviz; '-' is standard output\n"
               "  -h, --help          this text\n"
               "The summary goes to standard output unless the JSON or the DOT does.\n");
}


/* ---- human units ----------------------------------------------------------- */

/* µs as "850.0 µs", "12.35 ms", "3.20 s"; minutes and hours past 100 s. */
static const char *fmt_time(double us, char *buf, size_t n)
{
    if (!isfinite(us))
        snprintf(buf, n, "-");
    else if (us < 1e3)
        snprintf(buf, n, "%.1f µs", us);
    else if (us < 1e6)
        snprintf(buf, n, "%.2f ms", us / 1e3);
    else if (us < 1e8)
        snprintf(buf, n, "%.2f s", us / 1e6);
    else if (us < 36e8)
        snprintf(buf, n, "%.1f min", us / 6e7);
    else if (us < 36e8 * 1e6)
        snprintf(buf, n, "%.1f h", us / 36e8);
    else /* past a million hours: in full it would not fit buf */
        snprintf(buf, n, "%.3g h", us / 36e8);
    return buf;
}

/* Money with two decimals, or two significant digits below a cent. */
static const char *fmt_money(double m, char *buf, size_t n)
{
    if (m == 0)
        snprintf(buf, n, "$0");
    else if (m >= 0.01)
        snprintf(buf, n, "$%.2f", m);
    else
        snprintf(buf, n, "$%.2g", m);
    return buf;
}

/* ---- the per-resource table ------------------------------------------------- */

typedef struct res_use {
    uint32_t tasks;
    double busy; /* µs, over all units */
} res_use;

/* 1 when node i is not the first node of its fused chain: the chain runs as
 * one task, counted once (its nodes share unit, start and end). */
static int fused_follower(const qv_dag *g, const qv_plan *pl, uint32_t i)
{
    if (!pl->fused || pl->fused[i] == UINT32_MAX)
        return 0;
    for (uint32_t j = g->pred_off[i]; j < g->pred_off[i + 1]; j++) {
        uint32_t s = g->esrc[g->pred_edge[j]];
        if (pl->fused[s] == pl->fused[i] && pl->unit[s] == pl->unit[i] &&
            pl->start[s] == pl->start[i] && pl->end[s] == pl->end[i])
            return 1;
    }
    return 0;
}

static int print_table(const qv_dag *g, const qv_plat *p, const qv_plan *pl)
{
    res_use *u = calloc((size_t)p->nres + 1, sizeof *u);
    if (!u)
        return 1;
    for (uint32_t i = 0; i < g->n; i++) {
        if (fused_follower(g, pl, i))
            continue;
        res_use *r = &u[p->unit_res[pl->unit[i]]];
        r->tasks++;
        r->busy += pl->end[i] - pl->start[i];
    }
    static const char *const head[] = {"resource", "class", "units", "tasks",
                                       "busy",     "util",  "money"};
    /* The name column fits the longest name (device names from discovery
     * run long), up to 48 columns; longer names are cut. */
    int width[] = {16, 6, 6, 7, 11, 7, 10};
    for (uint32_t r = 0; r < p->nres; r++) {
        char e[256];
        int cols = qv_cli_cols(qv__escape(p->res[r].name, e, 49));
        if (cols > width[0])
            width[0] = cols;
    }
    for (int k = 0; k < 7; k++) {
        qv_cli_put_col(head[k], width[k], k < 2);
        putchar(k < 6 ? ' ' : '\n');
    }
    double *money_res = calloc((size_t)p->nres + 1, sizeof *money_res);
    if (!money_res) {
        free(u);
        return 1;
    }
    double money_all = qv_plan_money(pl, p, money_res), busy_all = 0;
    uint32_t tasks_all = 0;
    for (uint32_t r = 0; r < p->nres + 1; r++) {
        const int total = r == p->nres;
        char c[7][80];
        double busy = total ? busy_all : u[r].busy;
        uint32_t units = total ? p->nunits : p->res[r].units;
        double money = total ? money_all : money_res[r];
        if (total) {
            snprintf(c[0], sizeof c[0], "total");
            c[1][0] = 0;
        } else {
            qv__escape(p->res[r].name, c[0], 49);
            qv__escape(p->res[r].cls, c[1], sizeof c[1]);
        }
        snprintf(c[2], sizeof c[2], "%u", units);
        snprintf(c[3], sizeof c[3], "%u", total ? tasks_all : u[r].tasks);
        fmt_time(busy, c[4], sizeof c[4]);
        if (pl->makespan > 0 && units)
            snprintf(c[5], sizeof c[5], "%.1f%%", 100 * busy / (units * pl->makespan));
        else
            snprintf(c[5], sizeof c[5], "-");
        fmt_money(money, c[6], sizeof c[6]);
        for (int k = 0; k < 7; k++) {
            qv_cli_put_col(c[k], width[k], k < 2);
            putchar(k < 6 ? ' ' : '\n');
        }
        if (!total) {
            busy_all += u[r].busy;
            tasks_all += u[r].tasks;
        }
    }
    free(u);
    free(money_res);
    return 0;
}

static int print_summary(const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                         const qv_bounds *b, const qv_plan_opts *po)
{
    char t1[80], t2[80], t3[80], e1[400], e2[400];
    printf("graph       %s: %u nodes, %u edges\n", qv__escape(g->name, e1, sizeof e1),
           g->n, g->m);
    printf("platform    %s: %u resources, %u units\n", qv__escape(p->name, e2, sizeof e2),
           p->nres, p->nunits);
    printf("algorithm   %s%s%s\n", qv_algo_name(pl->algo),
           pl->algo == QV_ALGO_QUIVER ? ", kept " : "",
           pl->algo == QV_ALGO_QUIVER ? pl->variant : "");
    if (po->cost_weight == 0)
        printf("objective   time");
    else if (po->cost_weight == 1)
        printf("objective   cost");
    else
        printf("objective   %g x time + %g x money", 1 - po->cost_weight, po->cost_weight);
    if (po->deadline_us > 0)
        printf(", deadline %s: %s", fmt_time(po->deadline_us, t1, sizeof t1),
               pl->deadline_missed ? "missed (no plan meets it; the fastest kept)" : "met");
    printf("\nmakespan    %s\n", fmt_time(pl->makespan, t1, sizeof t1));
    printf("money       %s per run\n", fmt_money(qv_plan_money(pl, p, NULL), t1, sizeof t1));
    printf("lower bound %s (critical path %s, area %s); ratio %.3f\n",
           fmt_time(pl->lower_bound, t1, sizeof t1), fmt_time(b->lb_cp, t2, sizeof t2),
           fmt_time(b->lb_area, t3, sizeof t3),
           pl->lower_bound > 0 ? pl->makespan / pl->lower_bound : 1.0);
    if (pl->makespan > 0 && !isinf(b->seq_best))
        printf("SLR         %.3f; speedup %.2f over the best single unit\n",
               b->lb_cp > 0 ? pl->makespan / b->lb_cp : 1.0, b->seq_best / pl->makespan);
    else if (isinf(b->seq_best))
        printf("SLR         %.3f; no single unit can run every task\n",
               b->lb_cp > 0 ? pl->makespan / b->lb_cp : 1.0);
    else /* a makespan of 0: no task, or tasks that cost nothing (adversarial) */
        printf("SLR         %.3f; no speedup to tell: the plan takes no time\n",
               b->lb_cp > 0 ? pl->makespan / b->lb_cp : 1.0);
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
    printf("plan time   %s\n\n", fmt_time(pl->plan_time_us, t1, sizeof t1));
    return print_table(g, p, pl);
}

/* ---- progress ------------------------------------------------------------------ */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* "planning N tasks with A..." goes to stderr from a SIGALRM handler once
 * planning has taken a second, so that fast runs (and tests) print nothing;
 * progress_end then says how long it took. */
static char progress_msg[128];
static size_t progress_len;
static volatile sig_atomic_t progress_shown;

static void on_alarm(int sig)
{
    (void)sig;
    progress_shown = 1;
    ssize_t w = write(STDERR_FILENO, progress_msg, progress_len); /* best effort */
    (void)w;
}

static void progress_begin(const qv_dag *g, qv_algo a, struct sigaction *old)
{
    snprintf(progress_msg, sizeof progress_msg, PROG ": planning %u tasks with %s...\n",
             g->n, qv_algo_name(a));
    progress_len = strlen(progress_msg);
    progress_shown = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, old);
    alarm(1);
}

static void progress_end(const struct sigaction *old, double t0_us)
{
    alarm(0);
    sigaction(SIGALRM, old, NULL);
    if (progress_shown) {
        char t[80];
        fprintf(stderr, PROG ": done in %s\n", fmt_time(now_us() - t0_us, t, sizeof t));
    }
}

/* ---- the command ------------------------------------------------------------- */

/* --objective: time (0), cost (1) or a weight in [0, 1]. 0, or
 * qv__parse_real's -1 or -2, or -3 for a number out of [0, 1]. */
static int parse_objective(const char *s, double *w)
{
    if (!strcmp(s, "time"))
        *w = 0;
    else if (!strcmp(s, "cost"))
        *w = 1;
    else {
        int rc = qv__parse_real(s, w);
        if (rc)
            return rc;
        if (*w < 0 || *w > 1)
            return -3;
    }
    return 0;
}

/* Option opt's value s, refused with rc (qv__parse_real's, or -3: out of
 * the option's range), and what the option expects. Returns the usage
 * exit status. */
static int bad_number(const char *opt, const char *s, int rc, const char *expect)
{
    if (rc == -3)
        fprintf(stderr, PROG ": %s '%s': expected %s\n", opt, qv_cli_esc(s), expect);
    else
        fprintf(stderr, PROG ": %s '%s': %s; expected %s\n", opt, qv_cli_esc(s),
                qv__real_why(rc), expect);
    return QV_CLI_USAGE;
}

/* Writes what `write` makes to path ("-": standard output). 0 or 1. */
static int write_to(const char *path, const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                    int (*write)(const qv_dag *, const qv_plat *, const qv_plan *, FILE *))
{
    FILE *f = qv_cli_out_open(PROG, path, "w");
    if (!f)
        return 1;
    int bad = write(g, p, pl, f) != 0;
    return qv_cli_out_close(PROG, f, path, bad);
}

int qv_cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"graph", required_argument, NULL, 'g'},
        {"platform", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'C'},
        {"algo", required_argument, NULL, 'a'},
        {"catalog", required_argument, NULL, 'c'},
        {"objective", required_argument, NULL, 'o'},
        {"deadline", required_argument, NULL, 'D'},
        {"json", optional_argument, NULL, 'j'},
        {"dot", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *gpath = NULL, *ppath = NULL, *dot = NULL, *cpath = NULL, *json = NULL;
    const char *config = NULL;
    qv_algo algo = QV_ALGO_QUIVER;
    double weight = 0, deadline = 0;
    int c;
    while ((c = qv_cli_getopt(argc, argv, PROG, "h", longopts)) != -1) {
        switch (c) {
        case 'h':
            plan_usage(stdout);
            return 0;
        case 'g':
            gpath = optarg;
            break;
        case 'p':
            ppath = optarg;
            break;
        case 'c':
            cpath = optarg;
            break;
        case 'C':
            config = optarg;
            break;
        case 'd':
            dot = optarg;
            break;
        case 'j':
            /* `--json=FILE`, `--json FILE` (plan takes no operand, so a
             * word after --json is its path; '-' included), or `--json`. */
            if (optarg)
                json = optarg;
            else if (optind < argc && (!strcmp(argv[optind], "-") || argv[optind][0] != '-'))
                json = argv[optind++];
            else
                json = "-";
            break;
        case 'o': {
            int rc = parse_objective(optarg, &weight);
            if (rc)
                return bad_number("--objective", optarg, rc,
                                  "time, cost or a weight from 0 (time) to 1 (cost)");
            break;
        }
        case 'D': {
            int rc = qv__parse_real(optarg, &deadline);
            if (rc || deadline < 0)
                return bad_number("--deadline", optarg, rc ? rc : -3,
                                  "a time in µs, 0 or more (0: none)");
            break;
        }
        case 'a':
            if (qv_algo_parse(optarg, &algo)) {
                fprintf(stderr,
                        PROG ": unknown algorithm '%s' (quiver, heft, peft, metis)\n",
                        qv_cli_esc(optarg));
                return QV_CLI_USAGE;
            }
            break;
        default:
            return QV_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return qv_cli_unexpected(PROG, argv[optind]);
    }
    if (!gpath) {
        fprintf(stderr, PROG ": --graph is required\nTry '" PROG " --help'.\n");
        return QV_CLI_USAGE;
    }
    if (json && dot && qv_cli_is_stdout(json) && qv_cli_is_stdout(dot)) {
        fprintf(stderr, PROG ": the JSON and the DOT cannot both go to standard output\n");
        return QV_CLI_USAGE;
    }
    if (json && dot && qv_cli_same_file(json, dot)) {
        char e[1024];
        fprintf(stderr, PROG ": --json and --dot name one file (%s): the second would "
                             "overwrite the first\n", qv__escape(dot, e, sizeof e));
        return QV_CLI_USAGE;
    }
    /* An output over an input: --json g.json --graph g.json wrote the plan
     * over the graph it was made from (adversarial testing). */
    const char *outs[2][2] = {{"--json", json}, {"--dot", dot}};
    const char *ins[3][2] = {{"--graph", gpath}, {"--platform", ppath}, {"--catalog", cpath}};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 3; i++) {
            const char *out = outs[o][1], *in = ins[i][1];
            if (qv_cli_overwrites(PROG, outs[o][0], out, ins[i][0], in))
                return QV_CLI_USAGE;
        }
    /* And over one it reads unnamed: --json pol.yaml --config pol.yaml
     * replaced the policy, --json u50.yaml a platform's board file. */
    for (int o = 0; o < 2; o++)
        if (qv_cli_overwrites_read(PROG, outs[o][0], outs[o][1], config, ppath))
            return QV_CLI_USAGE;
    qv_diag d = {0};
    qv_dag *g = NULL;
    qv_plat *p = NULL;
    qv_plan *pl = NULL;
    qv_catalog *cat = NULL;
    int ret = 1, rc;
    if ((rc = qv_dag_load(gpath, &g, &d))) {
        qv_cli_diag(PROG, gpath, rc, &d);
        goto out;
    }
    if (ppath && (rc = qv_plat_load(ppath, &p, &d))) {
        qv_cli_diag(PROG, ppath, rc, &d);
        goto out;
    }
    if (!ppath) {
        /* This machine: the runtime's devices, and its catalog by default,
         * so that the plan places what the runtime would run. */
        qv_pool *pool;
        if (qv_cli_machine(PROG, config, NULL, 0, &pool, cpath ? NULL : &cat))
            goto out;
        rc = qv_plat_from_pool(pool, "this machine", &p);
        qv_pool_destroy(pool);
        if (rc) {
            fprintf(stderr, PROG ": cannot plan on this machine: %s\n", qv_strerror(rc));
            goto out;
        }
    }
    if (cpath && qv_catalog_load(cpath, &cat, &d)) {
        char buf[2200]; /* as quiver check and the runtime say it */
        qv_diag_format(&d, buf, sizeof buf);
        fprintf(stderr, "quiver plan: %s\n", buf);
        goto out;
    }
    qv_plan_opts po;
    qv_plan_opts_init(&po);
    po.algo = algo;
    po.catalog = cat;
    po.cost_weight = weight;
    po.deadline_us = deadline;
    struct sigaction old_alarm;
    double t0 = now_us();
    progress_begin(g, algo, &old_alarm);
    qv_bounds b;
    rc = qv_plan_make(g, p, &po, &pl, &d);
    if (!rc)
        rc = qv_bounds_compute(g, p, cat, &b);
    progress_end(&old_alarm, t0);
    if (rc) {
        /* The planner names the graph by its name: here it is a file. */
        if (!d.line)
            d.file[0] = 0;
        qv_cli_diag(PROG, gpath, rc, &d);
        goto out;
    }
    if (dot && write_to(dot, g, p, pl, qv_plan_write_dot))
        goto out;
    if (json && write_to(json, g, p, pl, qv_plan_write_json))
        goto out;
    int to_stdout = qv_cli_is_stdout(json) || qv_cli_is_stdout(dot);
    if (!to_stdout && print_summary(g, p, pl, &b, &po))
        goto out;
    ret = 0;
out:
    qv_plan_destroy(pl);
    qv_catalog_destroy(cat);
    qv_plat_destroy(p);
    qv_dag_destroy(g);
    return ret;
}
