/*
 * fuse.c - the planner's catalog rewriting, its one job: planning and
 * validation under a kernel catalog (the runtime's, loaded by
 * host/src/config/catalog.c). A catalog changes the problem, not the
 * schedulers: the graph and the platform are rewritten so that (a) each
 * group of boards of one class holding the same kernels gets a class of
 * its own ("fpga.0", "remote.1", ...) on which a node costs its time in
 * that class only if the group holds a kernel for its function, and (b)
 * each chain to fuse is contracted into one node that costs the fused
 * kernel's time on the groups holding it, and elsewhere the sum of its
 * nodes' costs (the chain run unfused, node after node; unfuse maps such
 * a placement back). The boards are the fpga resources and the remote
 * ones that name the board they serve (a remote board runs the catalog's
 * kernels for that board); a remote resource without a board keeps the
 * graph's remote costs. Every algorithm, the bounds and the simulator run
 * unchanged on the rewritten problem; the plan is then mapped back node by
 * node.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "json.h" /* qv__part_diag */
#include "part.h"

#define NONE      UINT32_MAX
#define MAX_CHAIN QV__KERNEL_MAX_FUNCS /* functions of a fused chain */

/* ---- a catalog bound to a graph and a platform ----------------------------- */

typedef struct catx {
    const qv_dag *g;
    const qv_plat *p;
    const qv_catalog *cat;
    int fpga;          /* g's class "fpga", -1 if none */
    int remote;        /* g's class "remote", -1 if none */
    int *res_class;    /* resource -> g's class, -1 if none */
    uint32_t ngrp;     /* groups of boards of one class holding the same kernels */
    uint32_t *res_grp; /* resource -> group, NONE if not a board */
    int *grp_col;      /* group -> g's class its costs come from (-1: none) */
    uint8_t *grp_rem;  /* group -> 1 for remote boards */
    double *grp_lat;   /* group -> its boards' link latency (us), remote ones */
    bool remote_kept;  /* a remote resource names no board: class remote stays */
    uint8_t *held;     /* ngrp * nkernels */
    uint8_t *func_ok;  /* ngrp * g->nfunc: holds a kernel for that function */
    uint32_t *kfunc;   /* per kernel, its functions as g's indices (NONE) */
    uint32_t *kfunc_off;
    double fused_scale; /* multiplies a table's time (qv_plan_opts) */
} catx;

static void catx_fini(catx *x)
{
    free(x->res_class);
    free(x->res_grp);
    free(x->grp_col);
    free(x->grp_rem);
    free(x->grp_lat);
    free(x->held);
    free(x->func_ok);
    free(x->kfunc);
    free(x->kfunc_off);
}

static uint32_t func_index(const qv_dag *g, const char *name)
{
    for (uint32_t f = 0; f < g->nfunc; f++)
        if (!strcmp(g->func_name[f], name))
            return f;
    return NONE;
}

static int catx_init(catx *x, const qv_dag *g, const qv_plat *p, const qv_catalog *cat)
{
    memset(x, 0, sizeof *x);
    x->g = g;
    x->p = p;
    x->cat = cat;
    uint32_t nk = cat->nkernels, total = 0;
    for (uint32_t k = 0; k < nk; k++)
        total += cat->kernels[k].nfuncs;
    x->res_class = malloc(p->nres * sizeof *x->res_class);
    x->res_grp = malloc(p->nres * sizeof *x->res_grp);
    x->grp_col = malloc((p->nres + 1) * sizeof *x->grp_col);
    x->grp_rem = calloc(p->nres + 1, 1);
    x->grp_lat = calloc(p->nres + 1, sizeof *x->grp_lat);
    x->held = calloc((size_t)p->nres * nk + 1, 1);
    x->func_ok = calloc((size_t)p->nres * g->nfunc + 1, 1);
    x->kfunc = malloc(((size_t)total + 1) * sizeof *x->kfunc);
    x->kfunc_off = malloc(((size_t)nk + 1) * sizeof *x->kfunc_off);
    if (!x->res_class || !x->res_grp || !x->grp_col || !x->grp_rem || !x->grp_lat ||
        !x->held ||
        !x->func_ok || !x->kfunc || !x->kfunc_off) {
        catx_fini(x);
        return QV_ENOMEM;
    }
    x->fpga = x->remote = -1;
    for (uint32_t k = 0; k < g->nclass; k++) {
        if (!strcmp(g->class_name[k], "fpga"))
            x->fpga = (int)k;
        if (!strcmp(g->class_name[k], "remote"))
            x->remote = (int)k;
    }
    x->kfunc_off[0] = 0;
    for (uint32_t k = 0; k < nk; k++) {
        const qv__kernel *kn = &cat->kernels[k];
        for (uint32_t f = 0; f < kn->nfuncs; f++)
            x->kfunc[x->kfunc_off[k] + f] = func_index(g, kn->funcs[f]);
        x->kfunc_off[k + 1] = x->kfunc_off[k] + kn->nfuncs;
    }
    for (uint32_t r = 0; r < p->nres; r++) {
        x->res_class[r] = -1;
        for (uint32_t k = 0; k < g->nclass; k++)
            if (!strcmp(g->class_name[k], p->res[r].cls))
                x->res_class[r] = (int)k;
        x->res_grp[r] = NONE;
        bool remote = !strcmp(p->res[r].cls, "remote") && p->res[r].board_name[0];
        if (!remote && !strcmp(p->res[r].cls, "remote"))
            x->remote_kept = true;
        if (strcmp(p->res[r].cls, "fpga") && !remote)
            continue;
        int col = remote ? x->remote : x->fpga;
        uint8_t *h = x->held + (size_t)x->ngrp * nk;
        for (uint32_t k = 0; k < nk; k++)
            h[k] = (uint8_t)qv_catalog_holds(cat, k, &p->res[r]);
        uint32_t q = 0;
        /* Remote boards group by their link's latency too: a fused
         * launch there costs its round trip (chain_cost). */
        double lat = remote ? p->res[r].latency_us : 0;
        while (q < x->ngrp && (x->grp_rem[q] != remote || x->grp_col[q] != col ||
                               x->grp_lat[q] != lat ||
                               (nk && memcmp(x->held + (size_t)q * nk, h, nk))))
            q++;
        x->res_grp[r] = q;
        if (q == x->ngrp) {
            x->grp_col[q] = col;
            x->grp_rem[q] = remote;
            x->grp_lat[q] = lat;
            for (uint32_t k = 0; k < nk; k++) {
                uint32_t f = x->kfunc[x->kfunc_off[k]];
                if (h[k] && cat->kernels[k].nfuncs == 1 && f != NONE)
                    x->func_ok[(size_t)q * g->nfunc + f] = 1;
            }
            /* A chain the runtime launched fused is a node of its own in a
             * recorded graph, function `fused:K` (`fused:K#2`, ... for
             * other wirings): the boards holding K run it, at its recorded
             * cost there. (Left off, a graph of the signal demo had nodes
             * that no device could run: `quiver plan` refused it; a
             * user's test.) */
            for (uint32_t f = 0; f < g->nfunc; f++) {
                const char *fn = g->func_name[f];
                if (strncmp(fn, "fused:", 6))
                    continue;
                size_t len = strcspn(fn + 6, "#");
                for (uint32_t k = 0; k < nk; k++)
                    if (h[k] && strlen(cat->kernels[k].name) == len &&
                        !strncmp(cat->kernels[k].name, fn + 6, len))
                        x->func_ok[(size_t)q * g->nfunc + f] = 1;
            }
            x->ngrp++;
        }
    }
    return 0;
}

static int grp_holds(const catx *x, uint32_t q, uint32_t k)
{
    return x->held[(size_t)q * x->cat->nkernels + k];
}

/* µs of node i alone on one unit of resource r under the catalog. */
static double node_time(const catx *x, uint32_t i, uint32_t r)
{
    const qv_dag *g = x->g;
    uint32_t q = x->res_grp[r];
    int k = x->res_class[r];
    if (q != NONE && (x->grp_col[q] < 0 || !x->func_ok[(size_t)q * g->nfunc + g->func[i]]))
        return INFINITY;
    if (k < 0)
        return INFINITY;
    return g->cost[(size_t)i * g->nclass + (uint32_t)k] / x->p->res[r].speed;
}

/* A fused chain: kernel and nodes in order. */
typedef struct chain {
    uint32_t kernel, head, tail, len;
    uint32_t nodes[MAX_CHAIN];
} chain;

/* The fused kernel's time for nodes[0..len-1] at speed 1 on group q: its
 * table at the chain's input bytes (bytes_in of the head, else the bytes of
 * its input edges), else the slowest node's time in q's class (the stages
 * run as a pipeline); INFINITY when neither applies. */
static double chain_cost(const catx *x, uint32_t k, const uint32_t *nodes, uint32_t len,
                         uint32_t q)
{
    const qv_dag *g = x->g;
    if (x->cat->kernels[k].ntable) {
        /* A table is by the bytes the kernel moves: what the chain reads
         * from outside (the head's inputs) and what it leaves (the tail's
         * outputs), as a launch of it on a board counts them. */
        uint32_t h = nodes[0], t = nodes[len - 1];
        uint64_t b = g->bytes_in[h];
        /* Held at UINT64_MAX: 2048 edges of 2^53 bytes wrapped to 0, the
         * table's cheapest point (qv__sat_add). */
        for (uint32_t j = g->pred_off[h]; !g->bytes_in[h] && j < g->pred_off[h + 1]; j++)
            b = qv__sat_add(b, g->ebytes[g->pred_edge[j]]);
        b = qv__sat_add(b, g->bytes_out[t]);
        /* On a remote board the launch is a request and its reply over
         * the board's link: the table has the kernel's time only. */
        double rtt = x->grp_rem[q] ? 2 * x->grp_lat[q] : 0;
        return qv_catalog_table_us(x->cat, k, b) * x->fused_scale + rtt;
    }
    int col = x->grp_col[q];
    if (col < 0)
        return INFINITY;
    double w = 0;
    for (uint32_t j = 0; j < len; j++) {
        double c = g->cost[(size_t)nodes[j] * g->nclass + (uint32_t)col];
        w = c > w ? c : w;
    }
    return w;
}

/* Walks the path from node i that kernel k implements: each node before
 * the last has exactly one outgoing edge, to the next node; nodes must be
 * free (group NONE) and, with `want`, marked with k in want[]. Fills nodes
 * and returns 1 on a match. */
static int match_chain(const catx *x, uint32_t k, uint32_t i, const uint32_t *group,
                       const uint32_t *want, uint32_t *nodes)
{
    const qv_dag *g = x->g;
    const qv__kernel *kn = &x->cat->kernels[k];
    const uint32_t *kf = x->kfunc + x->kfunc_off[k];
    if (kn->nfuncs < 2)
        return 0;
    for (uint32_t j = 0; j < kn->nfuncs; j++) {
        if (j) {
            uint32_t prev = nodes[j - 1];
            if (g->succ_off[prev + 1] - g->succ_off[prev] != 1)
                return 0;
            i = g->edst[g->succ_edge[g->succ_off[prev]]];
        }
        if (group[i] != NONE || g->func[i] != kf[j] || (want && want[i] != k))
            return 0;
        nodes[j] = i;
    }
    return 1;
}

/* Fastest time of the fused kernel on nodes[0..len-1] on a resource
 * holding it. */
static double fused_time(const catx *x, uint32_t k, const uint32_t *nodes, uint32_t len)
{
    double best = INFINITY;
    for (uint32_t r = 0; r < x->p->nres; r++) {
        uint32_t q = x->res_grp[r];
        if (q == NONE || !grp_holds(x, q, k))
            continue;
        double c = chain_cost(x, k, nodes, len, q) / x->p->res[r].speed;
        best = c < best ? c : best;
    }
    return best;
}

static int add_chain(chain **v, uint32_t *nc, uint32_t *group, const uint32_t *nodes,
                     uint32_t len, uint32_t k)
{
    chain *w = *v;
    if (!(*nc & (*nc - 1))) { /* 0, 1, 2, 4...: capacity doubles */
        if (!(w = realloc(*v, (*nc < 4 ? 8 : 2 * (size_t)*nc) * sizeof *w)))
            return QV_ENOMEM;
        *v = w;
    }
    w[*nc] = (chain){k, nodes[0], nodes[len - 1], len, {0}};
    for (uint32_t j = 0; j < len; j++) {
        w[*nc].nodes[j] = nodes[j];
        group[nodes[j]] = *nc;
    }
    (*nc)++;
    return 0;
}

/* The chains to fuse: in topological order of their first node, the fused
 * kernel saving the most over the sum of its nodes' fastest times, when it
 * saves anything. group[i] gets node i's chain or NONE. */
static int find_chains(const catx *x, uint32_t *group, chain **out, uint32_t *nout)
{
    const qv_dag *g = x->g;
    uint32_t nodes[MAX_CHAIN], best[MAX_CHAIN];
    for (uint32_t i = 0; i < g->n; i++)
        group[i] = NONE;
    for (uint32_t t = 0; t < g->n; t++) {
        uint32_t i = g->topo[t], bk = NONE, blen = 0;
        double bsave = 0;
        for (uint32_t k = 0; k < x->cat->nkernels; k++) {
            if (!match_chain(x, k, i, group, NULL, nodes))
                continue;
            uint32_t len = x->cat->kernels[k].nfuncs;
            double fused = fused_time(x, k, nodes, len);
            if (isinf(fused))
                continue;
            double unfused = 0;
            for (uint32_t j = 0; j < len; j++) {
                double m = INFINITY;
                for (uint32_t r = 0; r < x->p->nres; r++) {
                    double w = node_time(x, nodes[j], r);
                    m = w < m ? w : m;
                }
                unfused += m;
            }
            if (unfused - fused > bsave) {
                bsave = unfused - fused;
                bk = k;
                blen = len;
                memcpy(best, nodes, len * sizeof *nodes);
            }
        }
        int rc;
        if (bk != NONE && (rc = add_chain(out, nout, group, best, blen, bk)))
            return rc;
    }
    return 0;
}

/* The chains a plan says it fused (pl->fused), checked to be paths that
 * their kernels implement. */
static int plan_chains(const catx *x, const qv_plan *pl, uint32_t *group, chain **out,
                       uint32_t *nout, qv_diag *diag)
{
    const qv_dag *g = x->g;
    uint32_t nodes[MAX_CHAIN];
    for (uint32_t i = 0; i < g->n; i++)
        group[i] = NONE;
    for (uint32_t t = 0; pl->fused && t < g->n; t++) {
        uint32_t i = g->topo[t], k = pl->fused[i];
        if (k == NONE || group[i] != NONE)
            continue;
        if (k >= x->cat->nkernels || !match_chain(x, k, i, group, pl->fused, nodes)) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld does not start a chain that fused kernel "
                          "'%s' implements",
                          (long long)g->ids[i],
                          k < x->cat->nkernels ? x->cat->kernels[k].name : "?");
            return QV_EINVAL;
        }
        uint32_t len = x->cat->kernels[k].nfuncs;
        int rc = add_chain(out, nout, group, nodes, len, k);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the rewritten problem ------------------------------------------------ */

typedef struct rw {
    qv_dag *g;
    qv_plat *p;
    uint32_t *map; /* original node -> rewritten node */
} rw;

/* Group q's class name; more groups than classes fail the rewrite. */
static void grp_class(const catx *x, uint32_t q, char name[QV_CLASS_NAME_MAX])
{
    snprintf(name, QV_CLASS_NAME_MAX, "%s.%u", x->grp_rem[q] ? "remote" : "fpga",
             q % 100000u);
}

/* Whether g's class k is left out of the rewritten graph: fpga always
 * (every fpga resource is in a group), remote when every remote resource
 * is (a class with no resource would only take one of the 8). */
static bool col_dropped(const catx *x, uint32_t k)
{
    return (int)k == x->fpga || ((int)k == x->remote && !x->remote_kept);
}

static void rw_fini(rw *w)
{
    qv_dag_destroy(w->g);
    qv_plat_destroy(w->p);
    free(w->map);
}

/* The chain's nodes run one by one in the graph's class col (-1: none) on
 * one unit, of board group q if not NONE: the sum of their costs, or
 * INFINITY when one of them cannot run there. */
static double chain_sum(const catx *x, const chain *c, int col, uint32_t q)
{
    const qv_dag *g = x->g;
    double sum = 0;
    for (uint32_t j = 0; j < c->len; j++) {
        uint32_t i = c->nodes[j];
        if (col < 0 || (q != NONE && !x->func_ok[(size_t)q * g->nfunc + g->func[i]]))
            return INFINITY;
        sum += g->cost[(size_t)i * g->nclass + (uint32_t)col];
    }
    return sum;
}

static int rewrite(const catx *x, const uint32_t *group, const chain *ch, uint32_t nch,
                   bool board_only, rw *w, qv_diag *diag)
{
    const qv_dag *g = x->g;
    const qv_plat *p = x->p;
    memset(w, 0, sizeof *w);
    qv_plat_res *res = malloc(p->nres * sizeof *res);
    uint32_t *cnode = malloc(((size_t)nch + 1) * sizeof *cnode);
    int newcls[QV_DAG_MAX_CLASSES], gcls[QV_DAG_MAX_CLASSES];
    int rc = QV_ENOMEM;
    w->map = malloc(((size_t)g->n + 1) * sizeof *w->map);
    if (!res || !cnode || !w->map || (rc = qv_dag_create(g->name, &w->g)))
        goto out;
    memcpy(res, p->res, p->nres * sizeof *res);
    for (uint32_t r = 0; r < p->nres; r++)
        if (x->res_grp[r] != NONE)
            grp_class(x, x->res_grp[r], res[r].cls);
    if ((rc = qv_plat_create(p->name, res, p->nres, &w->p)))
        goto out;
    /* The graph's classes but fpga (and remote, unless a remote resource
     * names no board), then one per group; a group's class must be new (a
     * graph could already name a class fpga.0). */
    for (uint32_t k = 0; k < g->nclass && rc >= 0; k++)
        if (!col_dropped(x, k))
            rc = newcls[k] = qv_dag_class(w->g, g->class_name[k]);
    uint32_t kept = w->g->nclass;
    if (x->ngrp > QV_DAG_MAX_CLASSES)
        rc = QV_EINVAL;
    for (uint32_t q = 0; q < x->ngrp && rc >= 0; q++) {
        char name[QV_CLASS_NAME_MAX];
        grp_class(x, q, name);
        if ((rc = gcls[q] = qv_dag_class(w->g, name)) >= 0 && (uint32_t)rc < kept)
            rc = QV_EINVAL;
    }
    rc = rc < 0 ? rc : 0;
    if (rc) {
        qv__part_diag(diag, g->name, 0, 0,
                      "with a kernel catalog, the graph's classes and one class per "
                      "group of boards holding the same kernels (%u) exceed %d classes "
                      "or clash with a class named fpga.N or remote.N",
                      x->ngrp, QV_DAG_MAX_CLASSES);
        goto out;
    }
    for (uint32_t c = 0; c < nch; c++)
        cnode[c] = NONE;
    qv_dag *h = w->g;
    for (uint32_t i = 0; i < g->n && !rc; i++) {
        uint32_t c = group[i], v;
        if (c != NONE && cnode[c] != NONE) {
            w->map[i] = cnode[c];
            if (g->memory[i] > h->memory[cnode[c]])
                h->memory[cnode[c]] = g->memory[i];
            if (i == ch[c].tail)
                h->bytes_out[cnode[c]] = g->bytes_out[i];
            continue;
        }
        if (c == NONE) {
            if ((rc = qv_dag_add_node(h, g->ids[i], g->func_name[g->func[i]], &v)))
                break;
            for (uint32_t k = 0; k < g->nclass; k++)
                if (!col_dropped(x, k))
                    h->cost[(size_t)v * h->nclass + (uint32_t)newcls[k]] =
                        g->cost[(size_t)i * g->nclass + k];
            for (uint32_t q = 0; q < x->ngrp; q++)
                if (x->grp_col[q] >= 0 && x->func_ok[(size_t)q * g->nfunc + g->func[i]])
                    h->cost[(size_t)v * h->nclass + (uint32_t)gcls[q]] =
                        g->cost[(size_t)i * g->nclass + (uint32_t)x->grp_col[q]];
            h->bytes_in[v] = g->bytes_in[i];
            h->bytes_out[v] = g->bytes_out[i];
        } else {
            uint32_t hd = ch[c].head;
            if ((rc = qv_dag_add_node(h, g->ids[hd], x->cat->kernels[ch[c].kernel].name,
                                      &v)))
                break;
            for (uint32_t q = 0; q < x->ngrp; q++)
                if (grp_holds(x, q, ch[c].kernel))
                    h->cost[(size_t)v * h->nclass + (uint32_t)gcls[q]] =
                        chain_cost(x, ch[c].kernel, ch[c].nodes, ch[c].len, q);
            /* Elsewhere the chain runs unfused, its nodes one after
             * another on one unit, wherever each of them can: contracted
             * onto the boards alone, four chains of bench/loop --pays's
             * signal entry queued on one board (473 us predicted) while
             * the CPU idled (3 fused and 1 on the cores: 355 us). But
             * for METIS alone (board_only), which places parts by their
             * resources' capacities, never by costs: the chain is work
             * like any other there, and it put the fixture chain of
             * tests/partition/catalog on the cores, 3.8x slower than
             * fused; the chain's verdict (find_chains) stands for it. */
            if (!board_only) {
                for (uint32_t k = 0; k < g->nclass; k++)
                    if (!col_dropped(x, k))
                        h->cost[(size_t)v * h->nclass + (uint32_t)newcls[k]] =
                            chain_sum(x, &ch[c], (int)k, NONE);
                for (uint32_t q = 0; q < x->ngrp; q++)
                    if (!grp_holds(x, q, ch[c].kernel))
                        h->cost[(size_t)v * h->nclass + (uint32_t)gcls[q]] =
                            chain_sum(x, &ch[c], x->grp_col[q], q);
            }
            h->bytes_in[v] = g->bytes_in[hd];
            h->bytes_out[v] = g->bytes_out[ch[c].tail];
            cnode[c] = v;
        }
        h->memory[v] = g->memory[i];
        w->map[i] = v;
    }
    for (uint32_t e = 0; e < g->m && !rc; e++) {
        uint32_t s = w->map[g->esrc[e]], d = w->map[g->edst[e]];
        if (s != d)
            rc = qv_dag_add_edge(h, s, d, g->ebytes[e]);
    }
    if (!rc)
        rc = qv_dag_finalize(h, diag);
out:
    free(res);
    free(cnode);
    if (rc)
        rw_fini(w);
    return rc;
}

/* ---- planning and validation ------------------------------------------------ */

/* Binds the catalog, finds the chains (planning) or takes them from a plan
 * (validation), and rewrites the problem. On success the caller frees x, w
 * and *fused (node -> fused kernel or NONE; NULL when no chain). */
static int prepare(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                   const qv_plan *from, bool no_fuse, bool board_only, double scale,
                   catx *x, rw *w, uint32_t **fused, qv_diag *diag)
{
    uint32_t *group = malloc(((size_t)g->n + 1) * sizeof *group);
    chain *ch = NULL;
    uint32_t nch = 0;
    *fused = NULL;
    int rc = group ? catx_init(x, g, p, cat) : QV_ENOMEM;
    if (rc) {
        free(group);
        return rc;
    }
    x->fused_scale = scale > 0 ? scale : 1;
    if (from)
        rc = plan_chains(x, from, group, &ch, &nch, diag);
    else if (no_fuse) /* no chain: every node its own group */
        for (uint32_t i = 0; i < g->n; i++)
            group[i] = NONE;
    else
        rc = find_chains(x, group, &ch, &nch);
    if (!rc)
        rc = rewrite(x, group, ch, nch, board_only, w, diag);
    if (!rc && nch) {
        /* group becomes the node -> kernel map */
        for (uint32_t i = 0; i < g->n; i++)
            group[i] = group[i] == NONE ? NONE : ch[group[i]].kernel;
        *fused = group;
        group = NULL;
    }
    free(group);
    free(ch);
    if (rc)
        catx_fini(x);
    return rc;
}

/* Maps the plan sub of the rewritten problem back onto x's graph into pl
 * (its unit, start and end; fused, the node -> kernel map of the chains).
 * A chain placed where its kernel is not held runs unfused: its nodes
 * take the chain's task in turn, each its own time there, and leave
 * fused (NULL once no chain is left). */
static int unfuse(const catx *x, const rw *w, const qv_plan *sub, qv_plan *pl)
{
    const qv_dag *g = x->g;
    double *at = malloc(((size_t)w->g->n + 1) * sizeof *at);
    uint32_t *left = calloc((size_t)w->g->n + 1, sizeof *left);
    if (!at || !left) {
        free(at);
        free(left);
        return QV_ENOMEM;
    }
    for (uint32_t v = 0; v < w->g->n; v++)
        at[v] = sub->start[v];
    for (uint32_t i = 0; i < g->n; i++)
        left[w->map[i]]++;
    bool any = false;
    for (uint32_t t = 0; t < g->n; t++) {
        uint32_t i = g->topo[t], v = w->map[i], r = x->p->unit_res[sub->unit[v]];
        uint32_t q = x->res_grp[r];
        pl->unit[i] = sub->unit[v];
        pl->start[i] = sub->start[v];
        pl->end[i] = sub->end[v];
        if (!pl->fused || pl->fused[i] == NONE)
            continue;
        if (q != NONE && grp_holds(x, q, pl->fused[i])) {
            any = true;
            continue;
        }
        /* A chain is a path: the topological order takes its nodes in
         * turn; the last ends where the chain's task does. Their times
         * summed in another order than the scheduler's may pass its end
         * by an ulp: held there (a last node of cost 0 started after the
         * task that followed it on the unit, and the plan was refused as
         * an overlap: adversarial testing). */
        double end = sub->end[v];
        pl->fused[i] = NONE;
        pl->start[i] = fmin(at[v], end);
        pl->end[i] = --left[v] ? fmin(at[v] + node_time(x, i, r), end) : end;
        at[v] = pl->end[i];
    }
    if (!any) {
        free(pl->fused);
        pl->fused = NULL;
    }
    free(at);
    free(left);
    return 0;
}

/* The bounds of g on p under cat, the fused kernels' tables times
 * scale; every chain to fuse may run unfused elsewhere too. */
static int bounds_at(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                     double scale, qv_bounds *out)
{
    catx x;
    rw w;
    uint32_t *fused;
    int rc = prepare(g, p, cat, NULL, false, false, scale, &x, &w, &fused, NULL);
    if (rc)
        return rc;
    rc = qv__part_bounds(w.g, w.p, out);
    free(fused);
    rw_fini(&w);
    catx_fini(&x);
    return rc;
}

int qv__part_plan_make_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                           const qv_plan_opts *o, qv_plan **out, qv_diag *diag)
{
    if (!cat)
        return qv__part_plan_make(g, p, o, out, diag);
    *out = NULL;
    if (!g->topo) {
        qv__part_diag(diag, g->name, 0, 0, "graph is not finalized");
        return QV_EINVAL;
    }
    double t0 = qv__part_now_us();
    catx x;
    rw w;
    uint32_t *fused;
    double scale = o && o->fused_scale > 0 ? o->fused_scale : 1;
    bool board_only = o && o->algo == QV_ALGO_METIS; /* (rewrite) */
    int rc = prepare(g, p, cat, NULL, o && o->no_fuse, board_only, scale, &x, &w, &fused,
                     diag);
    if (rc)
        return rc;
    double t_rw = qv__part_now_us() - t0;
    qv_plan *sub = NULL, *pl = NULL;
    if ((rc = qv__part_plan_make(w.g, w.p, o, &sub, diag)))
        goto out;
    rc = QV_ENOMEM;
    if (!(pl = calloc(1, sizeof *pl)))
        goto out;
    *pl = *sub;
    pl->n = g->n;
    pl->unit = malloc(((size_t)g->n + 1) * sizeof *pl->unit);
    pl->start = malloc(((size_t)g->n + 1) * sizeof *pl->start);
    pl->end = malloc(((size_t)g->n + 1) * sizeof *pl->end);
    pl->fused = fused;
    pl->catalog = cat;
    pl->fused_scale = scale;
    fused = NULL;
    if (!pl->unit || !pl->start || !pl->end)
        goto out;
    if ((rc = unfuse(&x, &w, sub, pl)) != 0)
        goto out;
    /* METIS alone planned chains that could run on the boards only: its
     * problem's bound is not the graph's (it said 472 us of a graph that
     * the others planned in 236, and called the plan optimal). */
    if (board_only && pl->fused) {
        qv_bounds b;
        if ((rc = bounds_at(g, p, cat, scale, &b)) != 0)
            goto out;
        pl->lower_bound = b.lb_cp > b.lb_area ? b.lb_cp : b.lb_area;
    }
    pl->plan_time_us += t_rw;
    rc = 0;
out:
    free(fused);
    rw_fini(&w);
    catx_fini(&x);
    qv_plan_destroy(sub);
    if (!rc)
        rc = qv__part_sim_validate_cat(g, p, cat, pl, diag);
    if (rc) {
        qv_plan_destroy(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

int qv__part_bounds_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                        qv_bounds *out)
{
    if (!cat)
        return qv__part_bounds(g, p, out);
    if (!g->topo)
        return QV_EINVAL;
    return bounds_at(g, p, cat, 1, out);
}

int qv__part_sim_validate_cat(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                              const qv_plan *pl, qv_diag *diag)
{
    if (!cat)
        return qv__part_sim_validate(g, p, pl, diag);
    if (pl->n != g->n) {
        qv__part_diag(diag, g->name, 0, 0, "plan has %u tasks, graph %u nodes", pl->n,
                      g->n);
        return QV_EINVAL;
    }
    if (!g->topo) {
        qv__part_diag(diag, g->name, 0, 0, "graph is not finalized");
        return QV_EINVAL;
    }
    for (uint32_t i = 0; i < g->n; i++)
        if (pl->unit[i] >= p->nunits) {
            qv__part_diag(diag, g->name, 0, 0, "node %lld: no such unit %u",
                          (long long)g->ids[i], pl->unit[i]);
            return QV_EINVAL;
        }
    catx x;
    rw w;
    uint32_t *fused;
    int rc = prepare(g, p, cat, pl, false, false, pl->fused_scale, &x, &w, &fused, diag);
    if (rc)
        return rc;
    qv_plan sub = {0};
    sub.n = w.g->n;
    sub.makespan = pl->makespan;
    sub.lower_bound = pl->lower_bound; /* checked there too (review) */
    sub.unit = malloc(((size_t)sub.n + 1) * sizeof *sub.unit);
    sub.start = malloc(((size_t)sub.n + 1) * sizeof *sub.start);
    sub.end = malloc(((size_t)sub.n + 1) * sizeof *sub.end);
    uint8_t *set = calloc((size_t)sub.n + 1, 1);
    rc = QV_ENOMEM;
    if (!sub.unit || !sub.start || !sub.end || !set)
        goto out;
    rc = QV_EINVAL;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t v = w.map[i], r = p->unit_res[pl->unit[i]];
        long long id = (long long)g->ids[i];
        if (fused && fused[i] != NONE) {
            if (!qv_catalog_holds(cat, fused[i], &p->res[r])) {
                qv__part_diag(diag, g->name, 0, 0,
                              "node %lld runs in fused kernel '%s' on %s, which "
                              "holds no build of it",
                              id, cat->kernels[fused[i]].name, p->res[r].name);
                goto out;
            }
        } else if (x.res_grp[r] != NONE &&
                   !x.func_ok[(size_t)x.res_grp[r] * g->nfunc + g->func[i]]) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld placed on %s, which holds no catalog kernel "
                          "for function '%s'",
                          id, p->res[r].name, g->func_name[g->func[i]]);
            goto out;
        }
        /* The nodes of a fused chain map to one rewritten node: the
         * first sets its task, the others must repeat it exactly. */
        if (!set[v]) {
            set[v] = 1;
            sub.unit[v] = pl->unit[i];
            sub.start[v] = pl->start[i];
            sub.end[v] = pl->end[i];
        } else if (sub.unit[v] != pl->unit[i] || sub.start[v] != pl->start[i] ||
                   sub.end[v] != pl->end[i]) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld does not share the one task of its fused "
                          "chain ('%s')",
                          id, cat->kernels[fused[i]].name);
            goto out;
        }
    }
    rc = qv__part_sim_validate(w.g, w.p, &sub, diag);
out:
    free(set);
    free(sub.unit);
    free(sub.start);
    free(sub.end);
    free(fused);
    rw_fini(&w);
    catx_fini(&x);
    return rc;
}
