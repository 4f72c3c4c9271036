/*
 * cmd_profile_report.c - the report of `quiver profile`: the hot functions
 * of a profile (cmd_profile.h), the catalog kernels that implement them, and
 * for each board the predicted time of the whole program with them
 * offloaded. Each call of a function is planned by the planner (qvpart.h)
 * as a graph host -> function -> host, the function costed with its
 * measured CPU time and the kernel's catalog model on the board, the edges
 * with the bytes the kernel's arguments take over the board's link; the
 * program's prediction is Amdahl's: the run less what the offloaded calls
 * save. Every hot function gets a reason, offloaded or not. Writes
 * report.txt, report.json, callgraph.dot and offload.dot.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd_profile.h"
#include "commands.h"
#include "config/board.h"
#include "config/catalog.h"
#include "config/default_path.h"
#include "config/policy.h"
#include "qvpart.h"
#include "qv_escape.h"

#define PROG "quiver profile"
#define MIN_SHARE 0.05  /* under it Amdahl caps the gain at 1.05x */
#define MIN_GAIN 0.8    /* board time with copies at most this x the CPU's */
#define MIN_FIXED 10.0  /* CPU time per call at least this x the board's fixed cost */

typedef struct dec {
    int offload;
    int nobuild; /* the board has no build of its kernel */
    char reason[320];
    double cpu_us, dev_us; /* per call; dev_us NAN when not computed */
} dec;

typedef struct brd {
    const qv__board *b;
    dec *d;           /* one per hot function */
    double pred_ns;   /* the program with the offloaded functions */
    unsigned noff;
    char skip[256];   /* why the board is not predicted at all, or "" */
} brd;

typedef struct rep {
    const pf_opts *o;
    const pf_prof *p;
    size_t nhot;
    qv__catalog *cat;
    char catpath[PATH_MAX];
    char nocat[512];  /* why there is no catalog, or "" */
    qv__board **own;  /* boards read from --boards */
    size_t nown;
    brd *boards;
    size_t nboards;
} rep;

static const char *esc(const char *s, char *buf, size_t n)
{
    return qv__escape(s, buf, n);
}

/* The single-function kernels that implement f, or are named f. */
static size_t kernels_of(const rep *r, const char *f, const qv__kernel **out, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; r->cat && k < r->cat->nkernels && n < max; k++) {
        const qv__kernel *kn = &r->cat->kernels[k];
        if ((kn->nfuncs == 1 && !strcmp(kn->funcs[0], f)) || !strcmp(kn->name, f))
            out[n++] = kn;
    }
    return n;
}

/* The value of scalar name for a call noted with `notes` (may be NULL):
 * the notes first, then --size. 0, or -1 when neither has it. */
static int scalar(const rep *r, const pf_sizes *notes, const char *name, uint64_t *v)
{
    const pf_sizes *s[2] = {notes, &r->o->size};
    for (int j = 0; j < 2; j++)
        for (unsigned k = 0; s[j] && k < s[j]->n; k++)
            if (!strcmp(s[j]->names[k], name) && s[j]->values[k] >= 1) {
                *v = (uint64_t)s[j]->values[k];
                return 0;
            }
    return -1;
}

/* Whether one of the nk kernels ks takes a scalar called name. */
static bool takes_scalar(const qv__kernel *const *ks, size_t nk, const char *name)
{
    for (size_t k = 0; k < nk; k++)
        for (size_t a = 0; a < ks[k]->nargs; a++)
            if (ks[k]->args[a].dir == QV__KDIR_SCALAR &&
                !strcmp(ks[k]->args[a].name, name))
                return true;
    return false;
}

/* The first scalar of kernel k that neither notes nor --size give, or
 * NULL when they give every one. */
static const char *missing_scalar(const rep *r, const pf_sizes *notes,
                                  const qv__kernel *k)
{
    uint64_t v;
    for (size_t a = 0; a < k->nargs; a++)
        if (k->args[a].dir == QV__KDIR_SCALAR && scalar(r, notes, k->args[a].name, &v))
            return k->args[a].name;
    return NULL;
}

/* One call of kernel k on board b with the sizes `notes` gives (NULL:
 * --size's): the kernel's µs by its model and the bytes in and out. 0, or
 * -1 with why. */
static int kernel_call(const rep *r, const pf_sizes *notes, const qv__kernel *k,
                       const qv__board *b, double *us, uint64_t *bin, uint64_t *bout,
                       char *why, size_t nwhy)
{
    const char *names[64];
    uint64_t vals[64];
    size_t n = 0;
    for (size_t a = 0; a < k->nargs && n < 64; a++) {
        if (k->args[a].dir != QV__KDIR_SCALAR)
            continue;
        if (scalar(r, notes, k->args[a].name, &vals[n])) {
            snprintf(why, nwhy,
                     "no size: kernel %s needs scalar '%s' (record the calls with quiver wrap "
                     "--record, or give --size %s=VALUE)",
                     k->name, k->args[a].name, k->args[a].name);
            return -1;
        }
        names[n++] = k->args[a].name;
    }
    *bin = *bout = 0;
    uint64_t all = 0;
    for (size_t a = 0; a < k->nargs; a++) {
        const qv__karg *g = &k->args[a];
        uint64_t e;
        if (g->dir == QV__KDIR_SCALAR)
            continue;
        if (qv__expr_eval(g->size, names, vals, n, &e) || e > UINT64_MAX / (g->elem ? g->elem : 1)) {
            snprintf(why, nwhy, "the size of %s.%s (%s) cannot be computed with these values",
                     k->name, g->name, g->size);
            return -1;
        }
        e *= g->elem;
        all += e;
        if (g->dir != QV__KDIR_OUT)
            *bin += e;
        if (g->dir != QV__KDIR_IN)
            *bout += e;
    }
    if (k->ntable) {
        *us = qv__kernel_table_us(k, all);
        return 0;
    }
    uint64_t trips = 1;
    if (k->trip_count && qv__expr_eval(k->trip_count, names, vals, n, &trips)) {
        snprintf(why, nwhy, "the trip count of %s (%s) cannot be computed with these values",
                 k->name, k->trip_count);
        return -1;
    }
    double mhz = k->clock_mhz > 0 ? k->clock_mhz : b->clock_mhz;
    if (mhz <= 0) {
        snprintf(why, nwhy, "neither kernel %s nor board %s gives a clock", k->name, b->name);
        return -1;
    }
    *us = ((double)k->latency_cycles + (double)k->ii * (double)(trips ? trips - 1 : 0)) / mhz;
    return 0;
}

/* Plans one call of function f (cpu_us on the CPU, kern_us on the board)
 * with the planner: *on_board says where the plan puts it, *dev_us the
 * call's time on the board with its copies (the simulator's replay of the
 * call placed there), *fixed_us the board's link latency both ways. 0, or
 * -1 with why. */
static int plan_call(const rep *r, const qv__board *b, const char *f, double cpu_us,
                     double kern_us, uint64_t bin, uint64_t bout, int *on_board, double *dev_us,
                     double *fixed_us, char *why, size_t nwhy)
{
    qv_dag *g = NULL;
    qv_plat *p = NULL;
    qv_plan *pl = NULL;
    qv_diag d = { 0 };
    int ret = -1, rc;
    const char *cls = qv_class_name(b->kind);
    qv_plat_res res[2];
    memset(res, 0, sizeof res);
    snprintf(res[0].name, sizeof res[0].name, "cpu");
    snprintf(res[0].cls, sizeof res[0].cls, "cpu");
    res[0].units = 1;
    res[0].speed = 1;
    res[0].host_memory = 1;
    snprintf(res[1].name, sizeof res[1].name, "%s", b->name);
    snprintf(res[1].cls, sizeof res[1].cls, "%s", cls);
    res[1].units = 1;
    res[1].speed = 1;
    res[1].bandwidth_gbs = b->bandwidth_gbs;
    res[1].latency_us = b->latency_us;
    snprintf(res[1].board_name, sizeof res[1].board_name, "%s", b->name);
    snprintf(res[1].board_platform, sizeof res[1].board_platform, "%s",
             b->platform ? b->platform : "");
    res[1].board_emulation = b->emulation;
    uint32_t n1, n2;
    if ((rc = qv_plat_create(b->name, res, 2, &p)) || (rc = qv_dag_create(f, &g)) ||
        qv_dag_class(g, "cpu") != 0 || qv_dag_class(g, cls) != 1 ||
        (rc = qv_dag_add_node(g, 0, "host_in", NULL)) || (rc = qv_dag_add_node(g, 1, f, &n1)) ||
        (rc = qv_dag_add_node(g, 2, "host_out", &n2))) {
        snprintf(why, nwhy, "the planner refused the call: %s", qv_strerror(rc ? rc : QV_EINVAL));
        goto out;
    }
    g->cost[0 * 2 + 0] = 0;
    g->cost[1 * 2 + 0] = cpu_us;
    g->cost[1 * 2 + 1] = kern_us;
    g->cost[2 * 2 + 0] = 0;
    if ((rc = qv_dag_add_edge(g, 0, n1, bin)) || (rc = qv_dag_add_edge(g, n1, n2, bout)) ||
        (rc = qv_dag_finalize(g, &d))) {
        snprintf(why, nwhy, "the planner refused the call: %s", qv_strerror(rc));
        goto out;
    }
    qv_plan_opts po;
    qv_plan_opts_init(&po);
    po.catalog = (const qv_catalog *)r->cat;
    po.no_fuse = 1;
    if ((rc = qv_plan_make(g, p, &po, &pl, &d))) {
        snprintf(why, nwhy, "the planner failed: %.200s", d.message[0] ? d.message : qv_strerror(rc));
        goto out;
    }
    *on_board = p->unit_res[pl->unit[n1]] == 1;
    uint32_t unit[3] = { 0, p->res[1].first_unit, 0 }, order[3] = { 0, n1, n2 };
    double st[3], en[3], ms;
    if ((rc = qv_sim_replay(g, p, unit, order, st, en, &ms))) {
        snprintf(why, nwhy, "the simulator failed: %s", qv_strerror(rc));
        goto out;
    }
    *dev_us = ms;
    *fixed_us = qv_plat_comm(p, 0, 1, 0) + qv_plat_comm(p, 1, 0, 0);
    ret = 0;
out:
    qv_plan_destroy(pl);
    qv_dag_destroy(g);
    qv_plat_destroy(p);
    return ret;
}

/* A call of f on board b as the mean of its noted sizes, each weighed by
 * its calls: the kernel's µs, the bytes in and out (rounded), and the
 * call's time on the board with its copies. 0, or -1 with why (a size
 * the kernel cannot take). */
static int mean_call(const rep *r, const pf_func *f, const qv__kernel *k,
                     const qv__board *b, double *kus, uint64_t *bin, uint64_t *bout,
                     double *dev_us, double *fixed_us, char *why, size_t nwhy)
{
    double calls = 0, sk = 0, sin = 0, sout = 0, sdev = 0;
    for (size_t j = 0; j < f->nsets; j++) {
        const pf_sizes *s = &f->sets[j];
        double us, dev;
        uint64_t in, out;
        int on_board;
        if (kernel_call(r, s, k, b, &us, &in, &out, why, nwhy) ||
            plan_call(r, b, f->name, 0, us, in, out, &on_board, &dev, fixed_us, why,
                      nwhy))
            return -1;
        double c = (double)s->count;
        calls += c;
        sk += c * us;
        sin += c * (double)in;
        sout += c * (double)out;
        sdev += c * dev;
    }
    if (calls <= 0) {
        snprintf(why, nwhy, "no noted call");
        return -1;
    }
    *kus = sk / calls;
    *bin = (uint64_t)(sin / calls + 0.5);
    *bout = (uint64_t)(sout / calls + 0.5);
    *dev_us = sdev / calls;
    return 0;
}

static double share(const rep *r, size_t i)
{
    return r->p->wall_ns > 0 ? r->p->funcs[i].incl_ns / r->p->wall_ns : 0;
}

/* Is hot function i called directly by an offloaded function of board x? */
static const char *inside_offloaded(const rep *r, const brd *x, size_t i)
{
    for (size_t j = 0; j < r->p->narcs; j++) {
        const pf_arc *a = &r->p->arcs[j];
        if (a->callee == i && a->caller < r->nhot && a->caller != i && x->d[a->caller].offload)
            return r->p->funcs[a->caller].name;
    }
    return NULL;
}

static void decide(rep *r, brd *x, size_t i)
{
    const pf_prof *p = r->p;
    const pf_func *f = &p->funcs[i];
    dec *d = &x->d[i];
    char *why = d->reason;
    size_t nwhy = sizeof d->reason;
    d->dev_us = NAN;
    d->cpu_us = f->outer ? f->incl_ns / (double)f->outer / 1000.0 : 0;
    const qv__kernel *ks[8];
    size_t nk = kernels_of(r, f->name, ks, 8), k;
    if (!nk) {
        snprintf(why, nwhy, "no catalog kernel implements it");
        return;
    }
    for (k = 0; k < nk; k++)
        if (qv__kernel_build(ks[k], x->b->name, x->b->platform, x->b->emulation))
            break;
    if (k == nk) {
        d->nobuild = 1;
        snprintf(why, nwhy, "the catalog has no build of kernel %s for %s", ks[0]->name,
                 x->b->name);
        return;
    }
    const qv__kernel *kn = ks[k];
    if (share(r, i) < MIN_SHARE) {
        snprintf(why, nwhy, "under 5%% of the run (%.1f%%): offloading it gains at most 1.05x",
                 100 * share(r, i));
        return;
    }
    const char *host = inside_offloaded(r, x, i);
    if (host) {
        snprintf(why, nwhy, "it runs inside %s, which is offloaded", host);
        return;
    }
    double kus, fixed;
    uint64_t bin, bout;
    int on_board;
    if (f->nsets > 1) {
        /* Calls of several sizes: the CPU's time per call is the mean over
         * all of them, so the board's is too, each noted size planned and
         * weighed by its calls. Costed at the most frequent size alone, 20
         * calls of 48 MiB and 21 of 192 B were "36x faster" on a board. */
        if (mean_call(r, f, kn, x->b, &kus, &bin, &bout, &d->dev_us, &fixed, why, nwhy))
            return;
        on_board = d->dev_us < d->cpu_us;
    } else {
        if (kernel_call(r, f->notes.n ? &f->notes : NULL, kn, x->b, &kus, &bin, &bout,
                        why, nwhy))
            return;
        if (plan_call(r, x->b, f->name, d->cpu_us, kus, bin, bout, &on_board, &d->dev_us,
                      &fixed, why, nwhy))
            return;
    }
    if (!on_board) {
        snprintf(why, nwhy,
                 "the planner keeps it on the CPU: %.1f us per call there, %.1f us on the board "
                 "with its copies",
                 d->cpu_us, d->dev_us);
    } else if (d->dev_us > MIN_GAIN * d->cpu_us) {
        snprintf(why, nwhy,
                 "the gain is too small: %.1f us per call on the board with copies, over 0.8x "
                 "the CPU's %.1f us",
                 d->dev_us, d->cpu_us);
    } else if (d->cpu_us < MIN_FIXED * fixed) {
        snprintf(why, nwhy,
                 "too short per call to pay the launch and copies: %.1f us on the CPU, under "
                 "10x the board's %.1f us of link latency per call",
                 d->cpu_us, fixed);
    } else {
        d->offload = 1;
        snprintf(why, nwhy, "offloaded as kernel %s: %.1f us per call on the CPU, %.1f us on "
                            "the board (%.1f us kernel, %llu B in, %llu B out)",
                 kn->name, d->cpu_us, d->dev_us, kus, (unsigned long long)bin,
                 (unsigned long long)bout);
    }
}

static int load_boards(rep *r)
{
    const char *dir = r->o->boards;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, PROG ": --boards %s: %s\n", qv_cli_esc(dir), strerror(errno));
        return 1;
    }
    /* in name order, so that the report's order does not depend on the
     * directory's */
    struct dirent **ents;
    int ne = scandir(dir, &ents, NULL, alphasort);
    closedir(d);
    for (int i = 0; i < ne; i++) {
        const struct dirent *e = ents[i];
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml"))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        qv__board *b;
        qv_diag dg = { 0 };
        if (qv__board_load(path, &b, &dg)) {
            qv_cli_diag(PROG ": warning", path, QV_EFORMAT, &dg);
            continue;
        }
        qv__board **g = realloc(r->own, (r->nown + 1) * sizeof *g);
        if (!g) {
            qv__board_free(b);
            break;
        }
        r->own = g;
        r->own[r->nown++] = b;
    }
    for (int i = 0; i < ne; i++)
        free(ents[i]);
    free(ents);
    return 0;
}

static int load_catalog(rep *r)
{
    const char *path = r->o->catalog;
    qv__policy pol;
    int have_pol = 0;
    if (!path) {
        const char *cfg = qv__config_path(NULL);
        qv_diag dg = { 0 };
        qv__policy_defaults(&pol);
        if (!cfg) {
            snprintf(r->nocat, sizeof r->nocat, "no policy file names a kernel catalog; give "
                                                "--catalog");
            return 0;
        }
        if (qv__policy_load(cfg, &pol, &dg)) {
            qv_cli_diag(PROG, cfg, QV_EFORMAT, &dg);
            qv__policy_fini(&pol);
            return 1;
        }
        have_pol = 1;
        if (!pol.catalog) {
            snprintf(r->nocat, sizeof r->nocat, "the policy %s names no kernel catalog; give "
                                                "--catalog", cfg);
            qv__policy_fini(&pol);
            return 0;
        }
        path = pol.catalog;
    }
    snprintf(r->catpath, sizeof r->catpath, "%s", path);
    qv_diag dg = { 0 };
    int rc = qv__catalog_load(r->catpath, &r->cat, &dg);
    if (have_pol)
        qv__policy_fini(&pol);
    if (rc) {
        qv_cli_diag(PROG, r->catpath, rc, &dg);
        return 1;
    }
    return 0;
}

static void predict(rep *r)
{
    const qv__board *const *bs = (const qv__board *const *)r->own;
    size_t nb = r->nown;
    if (!r->o->boards && r->cat) {
        bs = (const qv__board *const *)r->cat->boards;
        nb = r->cat->nboards;
    }
    r->boards = calloc(nb ? nb : 1, sizeof *r->boards);
    if (!r->boards)
        return;
    for (size_t j = 0; j < nb; j++) {
        brd *x = &r->boards[r->nboards++];
        x->b = bs[j];
        x->pred_ns = r->p->wall_ns;
        x->d = calloc(r->nhot ? r->nhot : 1, sizeof *x->d);
        if (!x->d)
            continue;
        if (x->b->kind != QV_CLASS_FPGA && x->b->kind != QV_CLASS_GPU) {
            snprintf(x->skip, sizeof x->skip, "a %s board: only FPGA and GPU boards are "
                     "predicted", qv_class_name(x->b->kind));
            continue;
        }
        if (x->b->bandwidth_gbs <= 0) {
            snprintf(x->skip, sizeof x->skip, "its board file gives no link bandwidth");
            continue;
        }
        /* Callers first, so that a callee of an offloaded function says so. */
        for (size_t i = 0; i < r->nhot; i++) {
            decide(r, x, i);
            if (x->d[i].offload) {
                const pf_func *f = &r->p->funcs[i];
                x->pred_ns -= f->incl_ns - (double)f->outer * x->d[i].dev_us * 1000.0;
                x->noff++;
            }
        }
    }
}

/* ---- writing ------------------------------------------------------------- */

static double ms(double ns)
{
    return ns / 1e6;
}

/* The --size part of a function's sizes line, for its nk kernels ks: the
 * values they take, whether that makes a prediction, and the names that
 * none of them takes. `--size nn=1000` for a kernel of scalar n printed
 * "nn=1000 (--size: the prediction is for this size)" above "no size"
 * (adversarial testing). */
static void size_row(const rep *r, const qv__kernel *const *ks, size_t nk, FILE *f)
{
    const pf_sizes *z = &r->o->size;
    char b1[256];
    unsigned used = 0, foreign = 0;
    for (unsigned k = 0; k < z->n; k++)
        if (takes_scalar(ks, nk, z->names[k])) {
            fprintf(f, " %s=%lld", esc(z->names[k], b1, sizeof b1), z->values[k]);
            used++;
        }
    const char *miss = NULL;
    for (size_t k = 0; k < nk && (!k || miss); k++)
        miss = missing_scalar(r, NULL, ks[k]);
    if (!used)
        fprintf(f, " unknown:");
    else if (!miss)
        fprintf(f, "  (--size: the prediction is for this size)");
    else
        fprintf(f, "  (--size: no prediction: scalar '%s' has no value)", miss);
    for (unsigned k = 0; k < z->n; k++)
        if (!takes_scalar(ks, nk, z->names[k]))
            fprintf(f, "%s%s",
                    foreign++ ? ", "
                    : used    ? "; --size "
                              : " --size ",
                    esc(z->names[k], b1, sizeof b1));
    if (foreign) {
        fprintf(f, " %s no scalar of kernel%s", foreign > 1 ? "name" : "names",
                nk > 1 ? "s" : "");
        for (size_t k = 0; k < nk; k++) {
            fprintf(f, "%s %s (scalars:", k ? "," : "", esc(ks[k]->name, b1, sizeof b1));
            const char *sep = " ";
            for (size_t a = 0; a < ks[k]->nargs; a++)
                if (ks[k]->args[a].dir == QV__KDIR_SCALAR) {
                    fprintf(f, "%s%s", sep, esc(ks[k]->args[a].name, b1, sizeof b1));
                    sep = ", ";
                }
            fprintf(f, "%s)", *sep == ' ' ? " none" : "");
        }
    }
    fprintf(f, "\n");
}

static void text(const rep *r, FILE *f)
{
    const pf_prof *p = r->p;
    const pf_opts *o = r->o;
    char b1[1024], b2[1024];
    fprintf(f, "quiver profile: %s", esc(o->argv[0], b1, sizeof b1));
    for (size_t i = 1; o->argv[i]; i++)
        fprintf(f, " %s", esc(o->argv[i], b1, sizeof b1));
    fprintf(f, "\n  exit status %d%s, %.3f ms, %u process%s, %u thread%s", o->status,
            o->signaled ? " (killed by a signal)" : "", ms(p->main_wall_ns), p->processes,
            p->processes == 1 ? "" : "es", p->threads, p->threads == 1 ? "" : "s");
    if (o->left_running)
        fprintf(f, "; %u process%s it started still running, not counted",
                o->left_running, o->left_running == 1 ? "" : "es");
    fputc('\n', f);
    fprintf(f, "  probe cost %.1f ns per call, subtracted; '~' marks functions under 10x that "
               "per call, not measured well\n",
            p->probe_pair_ns);
    if (p->open_at_exit || p->unpaired || p->skipped || p->dropped)
        fprintf(f, "  %llu calls open at exit, %llu calls left without their exit (longjmp), %llu hooks "
                   "re-entered, %llu calls past the tables or deeper than 1024 frames (counted in "
                   "their callers)\n",
                (unsigned long long)p->open_at_exit, (unsigned long long)p->unpaired,
                (unsigned long long)p->skipped, (unsigned long long)p->dropped);
    for (size_t i = 0; i < p->nstripped; i++)
        fprintf(f, "  note: %s is stripped (no .symtab): its functions are named only where "
                   "exported, else shown as module+offset; profile an unstripped build\n",
                esc(p->stripped[i], b1, sizeof b1));

    fprintf(f, "\nPredicted time of the whole program with offload (Amdahl%s):\n",
            p->processes > 1 ? "; the processes' runs added" : "");
    if (!r->cat)
        fprintf(f, "  none: %s\n", r->nocat);
    else if (!r->nboards)
        fprintf(f, "  none: no boards (the catalog names none%s)\n",
                o->boards ? ", nor --boards" : "");
    for (size_t j = 0; j < r->nboards; j++) {
        const brd *x = &r->boards[j];
        fprintf(f, "  %-24s ", esc(x->b->name, b1, sizeof b1));
        if (x->skip[0]) {
            fprintf(f, "not predicted: %s\n", x->skip);
            continue;
        }
        fprintf(f, "%10.3f ms -> %10.3f ms  %5.2fx", ms(p->wall_ns), ms(x->pred_ns),
                x->pred_ns > 0 ? p->wall_ns / x->pred_ns : 0);
        if (x->noff) {
            fprintf(f, "  offloads");
            for (size_t i = 0; i < r->nhot; i++)
                if (x->d[i].offload)
                    fprintf(f, " %s", esc(p->funcs[i].name, b1, sizeof b1));
        } else {
            fprintf(f, "  nothing offloaded");
        }
        fprintf(f, "%s\n", x->b->emulation ? " (emulated board: model only)" : "");
    }

    fprintf(f, "\nHot functions (share of the run = inclusive time / %.3f ms%s):\n",
            ms(p->wall_ns), p->processes > 1 ? ", the runs of every process added" : "");
    fprintf(f, "  %7s %11s %11s %10s  %-24s %s\n", "share", "incl ms", "self ms", "calls",
            "function", "catalog kernels");
    for (size_t i = 0; i < r->nhot && i < o->top; i++) {
        const pf_func *fn = &p->funcs[i];
        fprintf(f, "  %6.1f%% %11.3f %11.3f %10llu %s%-23s", 100 * share(r, i), ms(fn->incl_ns),
                ms(fn->self_ns), (unsigned long long)fn->calls, fn->too_short ? "~" : " ",
                esc(fn->name, b1, sizeof b1));
        const qv__kernel *ks[8];
        size_t nk = kernels_of(r, fn->name, ks, 8);
        if (!nk)
            fprintf(f, " -");
        for (size_t k = 0; k < nk; k++)
            fprintf(f, " %s (implements %s)", esc(ks[k]->name, b1, sizeof b1),
                    esc(ks[k]->funcs[0], b2, sizeof b2));
        fprintf(f, "\n");
    }
    if (r->nhot > o->top)
        fprintf(f, "  ... %zu more in report.json\n", r->nhot - o->top);

    int any = 0;
    for (size_t i = 0; i < r->nhot && i < o->top; i++) {
        const pf_func *fn = &p->funcs[i];
        const pf_sizes *s = fn->notes.n ? &fn->notes : NULL;
        const qv__kernel *ks[8];
        size_t nk = kernels_of(r, fn->name, ks, 8);
        if (!nk)
            continue;
        if (!any++)
            fprintf(f, "\nSizes of the calls of functions with a kernel:\n");
        fprintf(f, "  %-24s", esc(fn->name, b1, sizeof b1));
        if (s) {
            for (unsigned k = 0; k < s->n; k++)
                fprintf(f, " %s=%lld", s->names[k], s->values[k]);
            fprintf(f, "  (qv_profile_note: %llu of %llu noted calls%s)\n",
                    (unsigned long long)s->count, (unsigned long long)s->total,
                    s->kinds > 1 ? "; sizes vary: the board's time per call is the mean "
                                   "over every size, as the CPU's"
                                 : "");
        } else if (o->size.n) {
            size_row(r, ks, nk, f);
        } else {
            fprintf(f, " unknown: no qv_profile_note calls and no --size\n");
        }
    }

    /* Per board, the functions with a kernel; the boards with no build of
     * any of their kernels in one line; the functions without one once. */
    int with_kernel = 0, nobuild = 0;
    for (size_t i = 0; i < r->nhot && i < o->top; i++) {
        const qv__kernel *ks[8];
        with_kernel += kernels_of(r, p->funcs[i].name, ks, 8) > 0;
    }
    for (size_t j = 0; j < r->nboards && with_kernel; j++) {
        const brd *x = &r->boards[j];
        if (x->skip[0])
            continue;
        int all_nobuild = 1;
        for (size_t i = 0; i < r->nhot && i < o->top; i++) {
            const qv__kernel *ks[8];
            if (kernels_of(r, p->funcs[i].name, ks, 8) && !x->d[i].nobuild)
                all_nobuild = 0;
        }
        if (all_nobuild) {
            nobuild++;
            continue;
        }
        fprintf(f, "\nOn %s (%s%s):\n", esc(x->b->name, b1, sizeof b1), qv_class_name(x->b->kind),
                x->b->emulation ? ", emulated: model only" : "");
        for (size_t i = 0; i < r->nhot && i < o->top; i++) {
            const qv__kernel *ks[8];
            if (!kernels_of(r, p->funcs[i].name, ks, 8))
                continue;
            fprintf(f, "  %-24s %s%s\n", esc(p->funcs[i].name, b1, sizeof b1),
                    x->d[i].offload ? "" : "not offloaded: ", x->d[i].reason);
        }
    }
    if (nobuild) {
        fprintf(f, "\nNot offloaded on these boards, the catalog has no build of the functions' "
                   "kernels for them:\n ");
        int k = 0;
        for (size_t j = 0; j < r->nboards; j++) {
            const brd *x = &r->boards[j];
            int all_nobuild = !x->skip[0];
            for (size_t i = 0; i < r->nhot && i < o->top && all_nobuild; i++) {
                const qv__kernel *ks[8];
                if (kernels_of(r, p->funcs[i].name, ks, 8) && !x->d[i].nobuild)
                    all_nobuild = 0;
            }
            if (all_nobuild)
                fprintf(f, "%s %s", k++ ? "," : "", esc(x->b->name, b1, sizeof b1));
        }
        fprintf(f, "\n");
    }
    int other = 0;
    for (size_t i = 0; i < r->nhot && i < o->top; i++) {
        const qv__kernel *ks[8];
        if (kernels_of(r, p->funcs[i].name, ks, 8))
            continue;
        fprintf(f, "%s %s", other++ ? "," : "\nNot offloaded on any board, no catalog kernel "
                                            "implements them:\n ",
                esc(p->funcs[i].name, b1, sizeof b1));
    }
    if (other)
        fprintf(f, "\n");

    fprintf(f, "\nCall paths (caller -> callee: calls, inclusive ms):\n");
    for (size_t i = 0; i < r->nhot && i < o->top; i++)
        for (size_t j = 0; j < p->narcs; j++) {
            const pf_arc *a = &p->arcs[j];
            if (a->callee != i)
                continue;
            fprintf(f, "  %-24s -> %-24s %10llu %11.3f\n",
                    a->caller == UINT32_MAX ? "(uninstrumented)"
                                            : esc(p->funcs[a->caller].name, b1, sizeof b1),
                    esc(p->funcs[i].name, b2, sizeof b2), (unsigned long long)a->calls,
                    ms(a->incl_ns));
        }
}

static void jstr(FILE *f, const char *s)
{
    qv__json_fputs(f, s);
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fprintf(f, "null");
}

static void json(const rep *r, FILE *f)
{
    const pf_prof *p = r->p;
    const pf_opts *o = r->o;
    fprintf(f, "{\n  \"program\": [");
    for (size_t i = 0; o->argv[i]; i++) {
        fprintf(f, i ? ", " : "");
        jstr(f, o->argv[i]);
    }
    fprintf(f, "],\n  \"exit_status\": %d,\n  \"signaled\": %s,\n  \"wall_ms\": ", o->status,
            o->signaled ? "true" : "false");
    jnum(f, ms(p->main_wall_ns));
    fprintf(f, ",\n  \"run_ms\": ");
    jnum(f, ms(p->wall_ns));
    fprintf(f, ",\n  \"processes\": %u,\n  \"left_running\": %u", p->processes,
            o->left_running);
    fprintf(f, ",\n  \"threads\": %u,\n  \"probe_ns\": ", p->threads);
    jnum(f, p->probe_pair_ns);
    fprintf(f, ",\n  \"probe_inner_ns\": ");
    jnum(f, p->probe_in_ns);
    fprintf(f, ",\n  \"open_at_exit\": %llu,\n  \"unpaired\": %llu,\n  \"reentered\": %llu,\n"
               "  \"dropped\": %llu,\n  \"stripped\": [",
            (unsigned long long)p->open_at_exit, (unsigned long long)p->unpaired,
            (unsigned long long)p->skipped, (unsigned long long)p->dropped);
    for (size_t i = 0; i < p->nstripped; i++) {
        fprintf(f, i ? ", " : "");
        jstr(f, p->stripped[i]);
    }
    fprintf(f, "],\n  \"catalog\": ");
    if (r->cat)
        jstr(f, r->catpath);
    else
        fprintf(f, "null");
    fprintf(f, ",\n  \"functions\": [");
    for (size_t i = 0; i < p->nfuncs; i++) {
        const pf_func *fn = &p->funcs[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        jstr(f, fn->name);
        fprintf(f, ", \"module\": ");
        jstr(f, fn->module);
        fprintf(f, ", \"named\": %s, \"calls\": %llu, \"incl_ms\": ", fn->named ? "true" : "false",
                (unsigned long long)fn->calls);
        jnum(f, ms(fn->incl_ns));
        fprintf(f, ", \"self_ms\": ");
        jnum(f, ms(fn->self_ns));
        fprintf(f, ", \"share\": ");
        jnum(f, share(r, i));
        fprintf(f, ", \"too_short\": %s, \"kernels\": [", fn->too_short ? "true" : "false");
        const qv__kernel *ks[8];
        size_t nk = kernels_of(r, fn->name, ks, 8);
        for (size_t k = 0; k < nk; k++) {
            fprintf(f, "%s{\"name\": ", k ? ", " : "");
            jstr(f, ks[k]->name);
            fprintf(f, ", \"implements\": ");
            jstr(f, ks[k]->funcs[0]);
            fprintf(f, "}");
        }
        fprintf(f, "], \"sizes\": ");
        const pf_sizes *s = fn->notes.n ? &fn->notes : nk && o->size.n ? &o->size : NULL;
        if (!s) {
            fprintf(f, "null");
        } else {
            /* From --size, only what the kernels take in values; the other
             * names in unmatched (they made no prediction). */
            bool sz = s == &o->size;
            fprintf(f, "{\"source\": \"%s\", \"values\": {", sz ? "--size" : "notes");
            for (unsigned k = 0, m = 0; k < s->n; k++) {
                if (sz && !takes_scalar(ks, nk, s->names[k]))
                    continue;
                fprintf(f, m++ ? ", " : "");
                jstr(f, s->names[k]);
                fprintf(f, ": %lld", s->values[k]);
            }
            fprintf(f, "}, ");
            if (sz) {
                fprintf(f, "\"unmatched\": [");
                for (unsigned k = 0, m = 0; k < s->n; k++)
                    if (!takes_scalar(ks, nk, s->names[k])) {
                        fprintf(f, m++ ? ", " : "");
                        jstr(f, s->names[k]);
                    }
                fprintf(f, "], ");
            }
            fprintf(f, "\"noted_calls\": %llu}", (unsigned long long)fn->notes.total);
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"arcs\": [");
    for (size_t j = 0; j < p->narcs; j++) {
        const pf_arc *a = &p->arcs[j];
        fprintf(f, "%s\n    {\"caller\": ", j ? "," : "");
        if (a->caller == UINT32_MAX)
            fprintf(f, "null");
        else
            jstr(f, p->funcs[a->caller].name);
        fprintf(f, ", \"callee\": ");
        jstr(f, p->funcs[a->callee].name);
        fprintf(f, ", \"calls\": %llu, \"incl_ms\": ", (unsigned long long)a->calls);
        jnum(f, ms(a->incl_ns));
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"boards\": [");
    for (size_t j = 0; j < r->nboards; j++) {
        const brd *x = &r->boards[j];
        fprintf(f, "%s\n    {\"name\": ", j ? "," : "");
        jstr(f, x->b->name);
        fprintf(f, ", \"class\": \"%s\", \"model_only\": %s, ", qv_class_name(x->b->kind),
                x->b->emulation ? "true" : "false");
        if (x->skip[0]) {
            fprintf(f, "\"predicted\": false, \"reason\": ");
            jstr(f, x->skip);
            fprintf(f, "}");
            continue;
        }
        fprintf(f, "\"predicted\": true, \"predicted_ms\": ");
        jnum(f, ms(x->pred_ns));
        fprintf(f, ", \"speedup\": ");
        jnum(f, x->pred_ns > 0 ? p->wall_ns / x->pred_ns : NAN);
        fprintf(f, ", \"functions\": [");
        for (size_t i = 0; i < r->nhot; i++) {
            fprintf(f, "%s\n      {\"name\": ", i ? "," : "");
            jstr(f, p->funcs[i].name);
            fprintf(f, ", \"offloaded\": %s, \"cpu_us_per_call\": ",
                    x->d[i].offload ? "true" : "false");
            jnum(f, x->d[i].cpu_us);
            fprintf(f, ", \"board_us_per_call\": ");
            jnum(f, x->d[i].dev_us);
            fprintf(f, ", \"reason\": ");
            jstr(f, x->d[i].reason);
            fprintf(f, "}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ]\n}\n");
}

/* A DOT string: the name with " and \ escaped. */
static void dstr(FILE *f, const char *s)
{
    fputc('"', f);
    qv__dot_fputs(f, s);
    fputc('"', f);
}

static void callgraph(const rep *r, FILE *f)
{
    const pf_prof *p = r->p;
    fprintf(f, "digraph callgraph {\n  node [shape=box];\n");
    for (size_t i = 0; i < p->nfuncs; i++) {
        /* The name escaped whole, then DOT's own line breaks. */
        fprintf(f, "  f%zu [label=\"", i);
        qv__dot_fputs(f, p->funcs[i].name);
        fprintf(f, "\\n%.1f%% incl, %.3f ms self\\n%llu calls\"%s];\n", 100 * share(r, i),
                ms(p->funcs[i].self_ns), (unsigned long long)p->funcs[i].calls,
                i < r->nhot && share(r, i) >= MIN_SHARE ? ", style=bold" : "");
    }
    for (size_t j = 0; j < p->narcs; j++) {
        const pf_arc *a = &p->arcs[j];
        if (a->caller == UINT32_MAX)
            continue;
        fprintf(f, "  f%u -> f%u [label=\"%llu calls\\n%.3f ms\"];\n", a->caller, a->callee,
                (unsigned long long)a->calls, ms(a->incl_ns));
    }
    fprintf(f, "}\n");
}

static void offload_dot(const rep *r, FILE *f)
{
    const pf_prof *p = r->p;
    fprintf(f, "digraph offload {\n  rankdir=LR;\n  node [shape=box];\n");
    for (size_t j = 0; j < r->nboards; j++) {
        const brd *x = &r->boards[j];
        fprintf(f, "  subgraph cluster_%zu {\n    label=", j);
        char lab[400];
        if (x->skip[0])
            snprintf(lab, sizeof lab, "%s: not predicted", x->b->name);
        else
            snprintf(lab, sizeof lab, "%s: %.3f ms -> %.3f ms%s", x->b->name, ms(p->wall_ns),
                     ms(x->pred_ns), x->b->emulation ? " (model only)" : "");
        dstr(f, lab);
        fprintf(f, ";\n");
        for (size_t i = 0; i < r->nhot && i < r->o->top && !x->skip[0]; i++) {
            fprintf(f, "    b%zu_f%zu [label=", j, i);
            dstr(f, p->funcs[i].name);
            fprintf(f, ", tooltip=");
            dstr(f, x->d[i].reason);
            fprintf(f, "%s];\n", x->d[i].offload ? ", style=filled, fillcolor=palegreen" : "");
        }
        fprintf(f, "  }\n");
    }
    fprintf(f, "}\n");
}

/* Writes one file of the report into the output directory. */
static int write_file(const rep *r, const char *name, void (*fn)(const rep *, FILE *))
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", r->o->out, name);
    /* The report's own files, not the user's -o: what stands at their
     * names in --out and is not a regular file is refused, not written
     * through (a FIFO there hung the report, a symbolic link overwrote
     * its target: adversarial testing). */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        char shown[PATH_MAX + 64];
        fprintf(stderr,
                PROG ": %s is not a regular file; the report does not write "
                     "through it (remove it, or choose another --out)\n",
                qv__escape(path, shown, sizeof shown));
        return 1;
    }
    FILE *f = qv_cli_out_open(PROG, path, "w");
    if (!f)
        return 1;
    fn(r, f);
    return qv_cli_out_close(PROG, f, path, 0);
}

/* Graphviz lays out a call graph of 4 000 functions in seconds and one of
 * 20 000 in minutes: bigger ones are left as DOT. */
#define SVG_MAX_NODES 1000

/* SVGs of the DOT files when Graphviz is installed (not required). */
static void svgs(const rep *r)
{
    static const char *const names[] = { "callgraph", "offload" };
    for (int i = 0; i < 2; i++) {
        if (i == 0 && r->p->nfuncs > SVG_MAX_NODES) {
            fprintf(stderr, PROG ": note: callgraph.dot has %zu functions, more than %d: "
                            "not drawn as SVG (Graphviz would take minutes)\n",
                    r->p->nfuncs, SVG_MAX_NODES);
            continue;
        }
        char dot[PATH_MAX], svg[PATH_MAX];
        snprintf(dot, sizeof dot, "%s/%s.dot", r->o->out, names[i]);
        snprintf(svg, sizeof svg, "%s/%s.svg", r->o->out, names[i]);
        pid_t pid = fork();
        if (pid == 0) {
            int nul = open("/dev/null", O_WRONLY);
            if (nul >= 0) {
                dup2(nul, 1);
                dup2(nul, 2);
            }
            execlp("dot", "dot", "-Tsvg", "-o", svg, dot, (char *)NULL);
            _exit(127);
        }
        int st;
        if (pid > 0)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
    }
}

int qv__profile_report(const pf_opts *o, const pf_prof *p)
{
    rep r = { .o = o, .p = p, .nhot = p->nfuncs };
    int ret = 1;
    if (load_catalog(&r) || (o->boards && load_boards(&r)))
        goto out;
    predict(&r);
    if (write_file(&r, "report.txt", text) || write_file(&r, "report.json", json) ||
        write_file(&r, "callgraph.dot", callgraph) || write_file(&r, "offload.dot", offload_dot))
        goto out;
    svgs(&r);
    if (o->json)
        json(&r, stdout);
    else
        text(&r, stdout);
    ret = 0;
out:
    for (size_t j = 0; j < r.nboards; j++)
        free(r.boards[j].d);
    free(r.boards);
    for (size_t i = 0; i < r.nown; i++)
        qv__board_free(r.own[i]);
    free(r.own);
    qv__catalog_free(r.cat);
    return ret;
}
