/*
 * gen.c - graph generators for planning benchmarks and tests.
 *
 * Tiled Cholesky, LU (no pivoting) and QR follow the right-looking tile
 * algorithms; a task depends on the last writer of every tile it reads or
 * writes (RAW and WAW; the tile kernels' write-after-read hazards touch
 * disjoint halves of a tile and are not dependencies). Costs per class are
 * StarPU's measurements on "mirage" for nb = 960 (shared/dagsets/
 * tiled_la_starpu/kernel_times_cpu_cuda.csv): Cholesky in single precision,
 * LU in double. QR has no measurement: its kernels are scaled from the
 * Cholesky GEMM (updates) and TRSM (panels) by flop count. No FPGA was
 * measured; as a stated assumption, GEMM-like updates (GEMM, SYRK, TSMQR)
 * get an FPGA cost of 2.5x the GPU time and the other kernels none.
 *
 * FFT: the recursive-call tree and butterfly graph of Topcuoglu et al. 2002.
 * Random: layered DAGs with DAGGEN's parameters (see docs/partition.md for
 * the exact sampling). FFT and random costs follow Topcuoglu: a mean w_i
 * uniform in [0, 2 w_dag], then per class uniform in
 * [w_i (1 - beta/2), w_i (1 + beta/2)]; edges carry bytes that take
 * ccr * w_dag on a 12 GB/s link.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"

#define W_DAG_US         100.0   /* mean task time of random/FFT graphs */
#define REF_BYTES_PER_US 12000.0 /* 12 GB/s */

void qv_gen_defaults(qv_gen_kind kind, qv_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->nt = 10;
    o->points = 64;
    o->n = 100;
    o->fat = 0.5;
    o->density = 0.5;
    o->regularity = 0.5;
    o->jump = 2;
    o->ccr = 1;
    o->heterogeneity = 1;
    o->seed = 1;
}

/* ---- tiled linear algebra ---- */

typedef struct kern {
    const char *name;
    double cpu, gpu, fpga;
} kern;

/* µs, mirage, nb = 960 */
static const kern CHOL[] = {
    {"potrf", 18849.69, 5366.74, INFINITY},
    {"trsm", 45646.76, 6393.638, INFINITY},
    {"syrk", 43890.1, 1402.745, 2.5 * 1402.745},
    {"gemm", 87780.2, 2805.491, 2.5 * 2805.491},
};
static const kern LU[] = {
    {"getrf", 232197.1, 85330.07, INFINITY},
    {"trsm_ll", 91437.55, 7209.283, INFINITY},
    {"trsm_ru", 90685.91, 7299.043, INFINITY},
    {"gemm", 174755.6, 5825.821, 2.5 * 5825.821},
};
/* QR in b³/3 flop units: GEQRT 4, UNMQR 6, TSQRT 6, TSMQR 12 (GEMM = 6). */
#define GEMM_CPU (87780.2 / 6)
#define GEMM_GPU (2805.491 / 6)
#define TRSM_GPU (6393.638 / 3)
static const kern QR[] = {
    {"geqrt", 4 * GEMM_CPU, 4 * TRSM_GPU, INFINITY},
    {"unmqr", 6 * GEMM_CPU, 6 * GEMM_GPU, INFINITY},
    {"tsqrt", 6 * GEMM_CPU, 6 * TRSM_GPU, INFINITY},
    {"tsmqr", 12 * GEMM_CPU, 12 * GEMM_GPU, 2.5 * 12 * GEMM_GPU},
};

typedef struct tiles {
    qv_dag *g;
    uint32_t nt;
    uint32_t *last; /* nt*nt: last writer + 1, 0 = none */
    uint64_t bytes;
    int cls[3];
} tiles;

static int dep(tiles *t, uint32_t task, uint32_t tile)
{
    uint32_t w = t->last[tile];
    if (!w)
        return 0;
    qv_dag *g = t->g;
    /* a task has at most three inputs: look for a duplicate among them */
    for (uint32_t e = g->m; e-- > 0 && g->edst[e] == task;)
        if (g->esrc[e] == w - 1)
            return 0;
    return qv_dag_add_edge(g, w - 1, task, t->bytes);
}

/* One task: reads r[0..nr), writes wr[0..nw). */
static int task(tiles *t, const kern *k, const uint32_t *r, int nr, const uint32_t *wr,
                int nw)
{
    qv_dag *g = t->g;
    uint32_t id;
    int rc = qv_dag_add_node(g, g->n, k->name, &id);
    if (rc)
        return rc;
    double c[3] = {k->cpu, k->gpu, k->fpga};
    for (int j = 0; j < 3; j++)
        g->cost[(size_t)id * g->nclass + (uint32_t)t->cls[j]] = c[j];
    g->bytes_in[id] = (uint64_t)(nr + nw) * t->bytes;
    g->bytes_out[id] = (uint64_t)nw * t->bytes;
    g->memory[id] = (uint64_t)(nr + nw) * t->bytes;
    for (int j = 0; j < nr; j++)
        if ((rc = dep(t, id, r[j])))
            return rc;
    for (int j = 0; j < nw; j++)
        if ((rc = dep(t, id, wr[j])))
            return rc;
    for (int j = 0; j < nw; j++)
        t->last[wr[j]] = id + 1;
    return 0;
}

#define T(i, j) ((i)*nt + (j))

static int gen_tiled(const qv_gen_opts *o, qv_dag *g)
{
    uint32_t nt = o->nt;
    if (nt < 1 || nt > 200)
        return QV_EINVAL;
    tiles t = {g,
               nt,
               calloc((size_t)nt * nt, sizeof(uint32_t)),
               o->kind == QV_GEN_LU ? 7372800u : 3686400u,
               {0, 0, 0}};
    if (!t.last)
        return QV_ENOMEM;
    t.cls[0] = qv_dag_class(g, "cpu");
    t.cls[1] = qv_dag_class(g, "gpu");
    t.cls[2] = qv_dag_class(g, "fpga");
    int rc = 0;
    for (uint32_t k = 0; k < nt && !rc; k++) {
        uint32_t kk = T(k, k);
        if (o->kind == QV_GEN_CHOLESKY) {
            rc = task(&t, &CHOL[0], NULL, 0, &kk, 1);
            for (uint32_t i = k + 1; i < nt && !rc; i++) {
                uint32_t w = T(i, k);
                rc = task(&t, &CHOL[1], &kk, 1, &w, 1);
            }
            for (uint32_t i = k + 1; i < nt && !rc; i++) {
                uint32_t r = T(i, k), w = T(i, i);
                rc = task(&t, &CHOL[2], &r, 1, &w, 1);
                for (uint32_t j = k + 1; j < i && !rc; j++) {
                    uint32_t rr[2] = {T(i, k), T(j, k)}, ww = T(i, j);
                    rc = task(&t, &CHOL[3], rr, 2, &ww, 1);
                }
            }
        } else if (o->kind == QV_GEN_LU) {
            rc = task(&t, &LU[0], NULL, 0, &kk, 1);
            for (uint32_t j = k + 1; j < nt && !rc; j++) {
                uint32_t w = T(k, j);
                rc = task(&t, &LU[1], &kk, 1, &w, 1);
            }
            for (uint32_t i = k + 1; i < nt && !rc; i++) {
                uint32_t w = T(i, k);
                rc = task(&t, &LU[2], &kk, 1, &w, 1);
            }
            for (uint32_t i = k + 1; i < nt && !rc; i++)
                for (uint32_t j = k + 1; j < nt && !rc; j++) {
                    uint32_t rr[2] = {T(i, k), T(k, j)}, ww = T(i, j);
                    rc = task(&t, &LU[3], rr, 2, &ww, 1);
                }
        } else {
            rc = task(&t, &QR[0], NULL, 0, &kk, 1);
            for (uint32_t j = k + 1; j < nt && !rc; j++) {
                uint32_t w = T(k, j);
                rc = task(&t, &QR[1], &kk, 1, &w, 1);
            }
            for (uint32_t i = k + 1; i < nt && !rc; i++) {
                uint32_t ww[2] = {kk, T(i, k)};
                rc = task(&t, &QR[2], NULL, 0, ww, 2);
                for (uint32_t j = k + 1; j < nt && !rc; j++) {
                    uint32_t r = T(i, k), w2[2] = {T(k, j), T(i, j)};
                    rc = task(&t, &QR[3], &r, 1, w2, 2);
                }
            }
        }
    }
    free(t.last);
    return rc;
}

/* ---- random costs (Topcuoglu) ---- */

static int rand_costs(qv_dag *g, uint32_t i, double beta, uint64_t *s)
{
    static const char *cls[] = {"cpu", "gpu", "fpga"};
    double w = 2 * W_DAG_US * qv__part_rng_unit(s);
    for (int k = 0; k < 3; k++) {
        int c = qv_dag_class(g, cls[k]);
        if (c < 0)
            return c;
        /* every node runs on cpu and gpu; half of them on the FPGA */
        if (k == 2 && qv__part_rng_unit(s) < 0.5)
            continue;
        double v = w * (1 - beta / 2 + beta * qv__part_rng_unit(s));
        g->cost[(size_t)i * g->nclass + (uint32_t)c] = v;
    }
    return 0;
}

static uint64_t rand_bytes(double ccr, uint64_t *s)
{
    return (uint64_t)(ccr * W_DAG_US * REF_BYTES_PER_US * (0.5 + qv__part_rng_unit(s)));
}

static int gen_fft(const qv_gen_opts *o, qv_dag *g)
{
    uint32_t P = o->points;
    if (P < 2 || P > (1u << 16) || (P & (P - 1)))
        return QV_EINVAL;
    uint64_t s = o->seed;
    uint32_t lg = 0;
    while ((1u << lg) < P)
        lg++;
    int rc = 0;
    /* recursive calls: a heap-shaped binary tree of 2P - 1 nodes */
    for (uint32_t i = 0; i < 2 * P - 1 && !rc; i++) {
        uint32_t id;
        if (!(rc = qv_dag_add_node(g, g->n, "fft_call", &id)))
            rc = rand_costs(g, id, o->heterogeneity, &s);
        if (!rc && i)
            rc = qv_dag_add_edge(g, (i - 1) / 2, i, rand_bytes(o->ccr, &s));
    }
    /* butterflies: lg levels of P; level 0 fed by the leaves */
    uint32_t base = 2 * P - 1;
    for (uint32_t l = 0; l < lg && !rc; l++)
        for (uint32_t j = 0; j < P && !rc; j++) {
            uint32_t id;
            if ((rc = qv_dag_add_node(g, g->n, "butterfly", &id)) ||
                (rc = rand_costs(g, id, o->heterogeneity, &s)))
                break;
            if (l == 0) {
                uint32_t leaf = P - 1 + j, mate = P - 1 + (j ^ 1);
                rc = qv_dag_add_edge(g, leaf, id, rand_bytes(o->ccr, &s));
                if (!rc)
                    rc = qv_dag_add_edge(g, mate, id, rand_bytes(o->ccr, &s));
            } else {
                uint32_t prev = base + (l - 1) * P;
                rc = qv_dag_add_edge(g, prev + j, id, rand_bytes(o->ccr, &s));
                if (!rc)
                    rc = qv_dag_add_edge(g, prev + (j ^ (1u << l)), id,
                                         rand_bytes(o->ccr, &s));
            }
        }
    return rc;
}

static int gen_random(const qv_gen_opts *o, qv_dag *g)
{
    uint32_t n = o->n;
    if (n < 1 || n > QV_DAG_MAX_NODES / 2 || !(o->fat >= 0 && o->fat <= 1) ||
        !(o->density >= 0 && o->density <= 1) ||
        !(o->regularity >= 0 && o->regularity <= 1) || o->jump < 1 ||
        !(o->ccr >= 0 && o->ccr <= 1e6) ||
        !(o->heterogeneity >= 0 && o->heterogeneity < 2))
        return QV_EINVAL;
    uint64_t s = o->seed;
    double width = exp(o->fat * log((double)n));
    uint32_t *lvl_start = malloc(((size_t)n + 2) * sizeof *lvl_start);
    if (!lvl_start)
        return QV_ENOMEM;
    uint32_t nl = 0, made = 0;
    int rc = 0;
    while (made < n && !rc) {
        double wv = width * (1 + (1 - o->regularity) * (2 * qv__part_rng_unit(&s) - 1));
        uint32_t w = wv < 1 ? 1 : (uint32_t)(wv + 0.5);
        if (w > n - made)
            w = n - made;
        lvl_start[nl++] = made;
        for (uint32_t j = 0; j < w && !rc; j++) {
            uint32_t id;
            if ((rc = qv_dag_add_node(g, g->n, "task", &id)) ||
                (rc = rand_costs(g, id, o->heterogeneity, &s)))
                break;
            if (nl == 1)
                continue;
            /* one parent on the level above, then up to 4 more with
             * probability `density` each, from up to `jump` levels above */
            uint32_t np = 1;
            for (int t = 0; t < 4; t++)
                np += qv__part_rng_unit(&s) < o->density;
            uint32_t par[5];
            uint32_t got = 0;
            for (uint32_t t = 0; t < np; t++) {
                uint32_t back =
                    t == 0 ? 1 : 1 + (uint32_t)(qv__part_rng_unit(&s) * o->jump);
                if (back > nl - 1)
                    back = nl - 1;
                uint32_t L = nl - 1 - back;
                uint32_t lo = lvl_start[L], hi = lvl_start[L + 1];
                uint32_t pick = lo + (uint32_t)(qv__part_rng_unit(&s) * (hi - lo));
                int dup = 0;
                for (uint32_t q = 0; q < got; q++)
                    dup |= par[q] == pick;
                if (dup)
                    continue;
                par[got++] = pick;
                rc = qv_dag_add_edge(g, pick, id, rand_bytes(o->ccr, &s));
            }
        }
        made = g->n;
        lvl_start[nl] = made;
    }
    free(lvl_start);
    return rc;
}

int qv_dag_generate(const qv_gen_opts *o, qv_dag **out)
{
    static const char *kn[] = {"cholesky", "lu", "qr", "fft", "random"};
    char name[96];
    *out = NULL;
    if ((unsigned)o->kind > QV_GEN_RANDOM)
        return QV_EINVAL;
    switch (o->kind) {
    case QV_GEN_FFT:
        snprintf(name, sizeof name, "fft-p%u-ccr%g", o->points, o->ccr);
        break;
    case QV_GEN_RANDOM:
        snprintf(name, sizeof name, "random-n%u-ccr%g-s%llu", o->n, o->ccr,
                 (unsigned long long)o->seed);
        break;
    default:
        snprintf(name, sizeof name, "%s-nt%u", kn[o->kind], o->nt);
    }
    qv_dag *g;
    int rc = qv_dag_create(name, &g);
    if (rc)
        return rc;
    if (o->kind == QV_GEN_FFT)
        rc = gen_fft(o, g);
    else if (o->kind == QV_GEN_RANDOM)
        rc = gen_random(o, g);
    else
        rc = gen_tiled(o, g);
    if (!rc)
        rc = qv_dag_finalize(g, NULL);
    if (rc) {
        qv_dag_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}
