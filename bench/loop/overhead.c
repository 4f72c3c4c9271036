/*
 * overhead.c - bench_loop --overhead: per-task overhead of a replayed
 * region against eager submission and against StarPU, on the shapes of
 * bench/overhead (independent, chain, Cholesky) and a random DAG, with
 * empty task bodies on 2 CPU workers.
 *
 * One entry is the whole program followed by a wait; every runtime runs
 * the same entries. Quiver eager: no region calls, implicit_regions off
 * (a policy file). Quiver replayed: each entry inside qv_region_begin/end,
 * warmed up until the region replays; only replayed entries are timed,
 * and a run whose `replayed` did not grow by the timed entries is marked
 * NOT REPLAYED. StarPU: eager, lws and dmda, the best of them per shape.
 * Each round runs every cell once, one process after the other; the last
 * column pairs the replayed run with the best StarPU run of its round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

typedef enum { OV_INDEP, OV_CHAIN, OV_CHOL, OV_RANDOM, OV_COUNT } ov_shape;
static const char *shape_names[] = { "indep", "chain", "chol", "random" };

/* Quiver eager, Quiver replayed, then the StarPU schedulers. */
enum { RT_EAGER, RT_REPLAY, RT_SP_EAGER, RT_SP_LWS, RT_SP_DMDA, RT_COUNT };
static const char *rt_names[] = { "quiver eager", "quiver replayed", "starpu eager",
                                  "starpu lws", "starpu dmda" };

/* Kind 4: a task without buffers. */
#define KIND_NONE 4

typedef struct ov_cfg {
    ov_shape         shape;
    int              rt;
    int              ncpu;
    int              timed;      /* entries timed */
    int              warm;       /* eager, StarPU: entries before timing */
    int              max_warm;   /* replayed: cap on warm-up entries */
    double           max_warm_s; /* replayed: cap on warm-up time */
    const char      *policy;     /* quiver: the policy file */
    const loop_prog *prog;
} ov_cfg;

/* The random DAG: n tasks over `tiles` tiles, each reading up to two
 * tiles and writing a third (a fixed seed, so every run has the same). */
static bench_task *random_dag(int n, int tiles, unsigned seed)
{
    bench_task *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return NULL;
    for (int k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        int nbuf = 1 + (int)((seed >> 16) % 3);
        t[k].nbuf = (unsigned char)nbuf;
        t[k].kind = (unsigned char)(nbuf == 1 ? 0 : nbuf == 2 ? 1 : 3);
        for (int j = 0; j < nbuf; j++) {
            int b, dup;
            do {
                seed = seed * 1103515245u + 12345u;
                b = (int)((seed >> 16) % (unsigned)tiles);
                dup = 0;
                for (int i = 0; i < j; i++)
                    dup |= t[k].buf[i] == b;
            } while (dup);
            t[k].buf[j] = b;
            t[k].mode[j] = j + 1 == nbuf ? 3 : 1;
        }
    }
    return t;
}

static int make_prog(ov_shape s, int smoke, loop_prog *p)
{
    memset(p, 0, sizeof *p);
    p->name = shape_names[s];
    if (s == OV_INDEP || s == OV_CHAIN) {
        int n = smoke ? 50 : 2000;
        p->t = calloc((size_t)n, sizeof *p->t);
        if (!p->t)
            return -1;
        for (int k = 0; k < n; k++)
            p->t[k] = s == OV_INDEP ? (bench_task){ KIND_NONE, 0, { 0 }, { 0 } }
                                    : (bench_task){ 0, 1, { 0 }, { 3 } };
        p->n = (size_t)n;
        p->ntiles = s == OV_CHAIN;
    } else if (s == OV_CHOL) {
        p->t = bench_chol_tasks(smoke ? 3 : 12, &p->n, &p->ntiles);
    } else {
        int n = smoke ? 40 : 1000;
        p->ntiles = smoke ? 8 : 64;
        p->t = random_dag(n, p->ntiles, 42);
        p->n = (size_t)n;
    }
    return p->t ? 0 : -1;
}

/* ---- Quiver ------------------------------------------------------------ */

static void body(const qv_call *c)
{
    (void)c;
}

typedef struct qv_ctx {
    qv_runtime      *rt;
    qv_func         *f[5];
    qv_buf         **h;
    const loop_prog *p;
    const char      *region;
} qv_ctx;

static int qv_entry(void *arg)
{
    qv_ctx *c = arg;
    if (c->region)
        LOOP_CHECK(qv_region_begin(c->rt, c->region));
    for (size_t k = 0; k < c->p->n; k++) {
        const bench_task *t = &c->p->t[k];
        qv_arg a[3];
        for (int j = 0; j < t->nbuf; j++)
            a[j] = QV_BUF(c->h[t->buf[j]]);
        LOOP_CHECK(qv_submit(c->rt, c->f[t->kind], a, t->nbuf));
    }
    if (c->region)
        LOOP_CHECK(qv_region_end(c->rt));
    LOOP_CHECK(qv_wait_all(c->rt));
    return 0;
}

/* out: 0 us/task, 1 replayed during the timed entries, 2 timed entries,
 * 3 warm-up entries, 4 compiles, 5 guard misses. */
static int ov_quiver(const void *arg, void *out_, size_t size)
{
    const ov_cfg *c = arg;
    double *out = out_;
    (void)size;
    qv_options opts;
    qv_options_init(&opts);
    opts.ncpu = c->ncpu;
    opts.perfmodel_dir = "";
    opts.opencl = 0;          /* CPU workers only, as StarPU here */
    opts.config = c->policy;  /* implicit_regions: false; no boards */
    qv_runtime *rt;
    LOOP_CHECK(qv_runtime_create(&opts, &rt));
    qv_arg_desc d1[] = { QV_ARG_BUF("a", QV_RW) };
    qv_arg_desc d2[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_RW) };
    qv_arg_desc d3[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                         QV_ARG_BUF("c", QV_RW) };
    qv_ctx x = { rt, { 0 }, NULL, c->prog, c->rt == RT_REPLAY ? c->prog->name : NULL };
    LOOP_CHECK(qv_func_create(rt, "potrf", d1, 1, &x.f[0]));
    LOOP_CHECK(qv_func_create(rt, "trsm", d2, 2, &x.f[1]));
    LOOP_CHECK(qv_func_create(rt, "syrk", d2, 2, &x.f[2]));
    LOOP_CHECK(qv_func_create(rt, "gemm", d3, 3, &x.f[3]));
    LOOP_CHECK(qv_func_create(rt, "empty", NULL, 0, &x.f[KIND_NONE]));
    for (int i = 0; i < 5; i++)
        LOOP_CHECK(qv_func_set_cpu(x.f[i], body));
    int nt = c->prog->ntiles;
    double *tiles = calloc((size_t)(nt ? nt : 1) * 8, sizeof *tiles);
    x.h = calloc((size_t)(nt ? nt : 1), sizeof *x.h);
    if (!tiles || !x.h)
        return QV_ENOMEM;
    for (int i = 0; i < nt; i++)
        LOOP_CHECK(qv_buf_register(rt, tiles + 8 * i, 8 * sizeof *tiles, &x.h[i]));

    int replaying = 0, warm;
    if (x.region) {
        warm = loop_warm(rt, x.region, qv_entry, &x, c->max_warm, c->max_warm_s, 2,
                         &replaying);
        if (warm < 0)
            return warm;
    } else {
        for (warm = 0; warm < c->warm; warm++)
            if (qv_entry(&x))
                return -1;
    }
    qv_region_info r0 = { 0 }, r1 = { 0 };
    if (x.region)
        LOOP_CHECK(loop_region(rt, x.region, &r0));
    double t0 = bench_now();
    for (int e = 0; e < c->timed; e++)
        if (qv_entry(&x))
            return -1;
    double wall = bench_now() - t0;
    if (x.region)
        LOOP_CHECK(loop_region(rt, x.region, &r1));
    out[0] = wall * 1e6 / ((double)c->timed * (double)c->prog->n);
    out[1] = (double)(r1.replayed - r0.replayed);
    out[2] = c->timed;
    out[3] = warm;
    out[4] = (double)r1.compiles;
    out[5] = (double)r1.guard_misses;
    if (x.region && r1.last_error[0])
        fprintf(stderr, "bench_loop: %s: %s\n", x.region, r1.last_error);
    for (int i = 0; i < nt; i++)
        LOOP_CHECK(qv_buf_unregister(x.h[i]));
    qv_runtime_destroy(rt);
    free(tiles);
    free(x.h);
    return 0;
}

static int run_starpu_cell(const void *arg, void *out_, size_t size)
{
    const ov_cfg *c = arg;
    double *out = out_;
    (void)size;
    static const char *sched[] = { "eager", "lws", "dmda" };
    double us;
    if (loop_starpu(c->prog, sched[c->rt - RT_SP_EAGER], c->ncpu, c->warm, c->timed, &us))
        return -1;
    out[0] = us;
    out[2] = c->timed;
    return 0;
}

int loop_overhead(const loop_args *a)
{
    const char *policy = loop_policy(a, 0, "cpu-only.yaml",
                                     "# Written by bench_loop: no boards, no implicit "
                                     "regions, plans kept (this measures the replay, "
                                     "not whether it pays).\nimplicit_regions: false\n"
                                     "replan: {eager_slack: 0}\n");
    if (!policy) {
        fprintf(stderr, "bench_loop: cannot write a policy under %s\n", a->tmpdir);
        return 1;
    }
    int runs = a->runs, failed = 0, have_starpu = loop_starpu_built();
    printf("### --overhead: us per task, empty bodies, 2 CPU workers, median of %d "
           "process%s per cell\n\n", runs, runs > 1 ? "es" : "");
    printf("| shape | tasks/entry | timed entries | quiver eager | quiver replayed | "
           "starpu eager | starpu lws | starpu dmda | replayed / best starpu | "
           "replayed / eager | replayed / best starpu of the same round, median "
           "[min-max] |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    int shapes = 0;
    for (int s = 0; s < OV_COUNT; s++) {
        if (a->shape && strcmp(a->shape, shape_names[s]))
            continue;
        shapes++;
        loop_prog p;
        if (make_prog((ov_shape)s, a->smoke, &p)) {
            fprintf(stderr, "bench_loop: out of memory\n");
            return 1;
        }
        int timed = a->smoke ? 3 : (int)(100000 / p.n) + 1;
        if (timed > 200)
            timed = 200;
        double us[RT_COUNT][100], paired[100];
        int ok[RT_COUNT] = { 0 }, replayed_all = 1, npaired = 0;
        for (int r = 0; r < runs; r++) {
            double rep = 0, best_r = 0; /* this round's */
            for (int k = 0; k < RT_COUNT; k++) {
                if ((k >= RT_SP_EAGER && !have_starpu) || (a->replayed && k != RT_REPLAY))
                    continue;
                ov_cfg c = { (ov_shape)s, k, 2, timed, 5, a->smoke ? 12 : 200,
                             a->smoke ? 3.0 : 60.0, policy, &p };
                double out[6];
                if (loop_child(k <= RT_REPLAY ? ov_quiver : run_starpu_cell, &c, out, sizeof out)) {
                    fprintf(stderr, "bench_loop: %s on %s failed\n", rt_names[k],
                            shape_names[s]);
                    failed = 1;
                    continue;
                }
                us[k][ok[k]++] = out[0];
                if (k == RT_REPLAY && out[1] < out[2])
                    replayed_all = 0;
                if (k == RT_REPLAY)
                    rep = out[0];
                else if (k >= RT_SP_EAGER && (best_r == 0 || out[0] < best_r))
                    best_r = out[0];
            }
            /* The round's processes ran one after the other: their ratio
             * shares the machine's pace of the moment, which on this VM
             * drifts by 30-50 % within minutes. */
            if (rep > 0 && best_r > 0)
                paired[npaired++] = rep / best_r;
        }
        double med[RT_COUNT];
        printf("| %s | %zu | %d |", shape_names[s], p.n, timed);
        for (int k = 0; k < RT_COUNT; k++) {
            med[k] = loop_median(us[k], ok[k]);
            if (!ok[k])
                printf(" - |");
            else if (k == RT_REPLAY && !replayed_all)
                printf(" %.3f NOT REPLAYED |", med[k]);
            else
                printf(" %.3f |", med[k]);
        }
        double best = 0;
        for (int k = RT_SP_EAGER; k < RT_COUNT; k++)
            if (ok[k] && (best == 0 || med[k] < best))
                best = med[k];
        if (best > 0 && ok[RT_REPLAY])
            printf(" %.3f |", med[RT_REPLAY] / best);
        else
            printf(" - |");
        if (ok[RT_EAGER] && ok[RT_REPLAY] && med[RT_EAGER] > 0)
            printf(" %.2f |", med[RT_REPLAY] / med[RT_EAGER]);
        else
            printf(" - |");
        if (npaired) {
            double lo = paired[0], hi = paired[0];
            for (int i = 1; i < npaired; i++) {
                lo = paired[i] < lo ? paired[i] : lo;
                hi = paired[i] > hi ? paired[i] : hi;
            }
            printf(" %.3f [%.3f-%.3f] |\n", loop_median(paired, npaired), lo, hi);
        } else {
            printf(" - |\n");
        }
        fflush(stdout);
        free(p.t);
    }
    printf("\n");
    if (!shapes) {
        fprintf(stderr, "bench_loop: --shape %s: expected indep, chain, chol or random\n",
                a->shape);
        return 1;
    }
    return failed;
}
