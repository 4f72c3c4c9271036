/*
 * metis_part.c - k-way partitioning of a task graph with METIS, and the
 * repair that makes the graph of parts acyclic.
 *
 * METIS sees the DAG as an undirected graph: vertex weight = mean compute
 * time, edge weight = bytes (parallel edges merged), both scaled so that
 * their sums fit idx_t (see WEIGHT_BUDGET). METIS minimizes the cut under
 * a balance constraint, but it knows nothing of direction, so two parts may
 * feed each other. Such parts cannot be dispatched as units. The repair orders parts by
 * the mean topological position of their nodes and then, in topological order, moves a
 * node whose part comes before a predecessor's part into that (latest) predecessor's
 * part. Afterwards every edge goes from a part to itself or to a later part,
 * so the quotient graph is acyclic; nodes only move into a neighbour's part,
 * which keeps most of METIS's cut.
 */
#include <metis.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"

/*
 * Scales that make weights integers METIS can add up. METIS sums vertex
 * weights and edge weights over whole graphs in idx_t (32 bits here), also
 * while coarsening, where merged edges carry the sum of their parts; the
 * totals must fit with room to spare. Σ vertex weights is scaled to at most
 * WEIGHT_BUDGET and Σ edge weights over the CSR (each edge twice) too;
 * rounding every weight up to at least 1 adds at most n (< 2^24) and
 * 2m (< 2^27), so both totals stay below 2^29, a quarter of idx_t's range.
 * Scaling to the sum, not only to the largest weight, is what a dense graph
 * needs: a complete DAG of 500 nodes has 124 750 edges, which at 2^20 each
 * overflowed. Graphs whose sums fit keep the scales they always had.
 */
#define WEIGHT_BUDGET ((double)(1 << 28))

static double vertex_scale(double wsum)
{
    double s = wsum > 0 ? WEIGHT_BUDGET / wsum : 1;
    return s > 1e6 ? 1e6 : s;
}

/* bsum: Σ of the weights over the CSR; bmax: the largest single weight. */
static double edge_scale(double bsum, double bmax)
{
    double s = bmax > 0 ? (double)(1 << 20) / bmax : 1;
    if (bsum > 0 && WEIGHT_BUDGET / bsum < s)
        s = WEIGHT_BUDGET / bsum;
    return s;
}

/* Undirected CSR with merged parallel edges; weights as METIS wants them. */
static int build_csr(const qv__ctx *c, idx_t **xadj_o, idx_t **adj_o, idx_t **vw_o,
                     idx_t **ew_o)
{
    const qv_dag *g = c->g;
    uint32_t n = g->n;
    idx_t *xadj = malloc(((size_t)n + 1) * sizeof *xadj);
    idx_t *adj = malloc(((size_t)2 * g->m + 1) * sizeof *adj);
    idx_t *ew = malloc(((size_t)2 * g->m + 1) * sizeof *ew);
    idx_t *vw = malloc(((size_t)n + 1) * sizeof *vw);
    int64_t *slot = malloc(((size_t)n + 1) * sizeof *slot);
    if (!xadj || !adj || !ew || !vw || !slot) {
        free(xadj);
        free(adj);
        free(ew);
        free(vw);
        free(slot);
        return QV_ENOMEM;
    }
    double wsum = 0, bsum = 0, bmax = 0;
    for (uint32_t i = 0; i < n; i++)
        wsum += c->wavg[i];
    for (uint32_t e = 0; e < g->m; e++) {
        bsum += 2.0 * (double)g->ebytes[e]; /* each edge is in two rows */
        if ((double)g->ebytes[e] > bmax)
            bmax = (double)g->ebytes[e];
    }
    double vscale = vertex_scale(wsum), escale = edge_scale(bsum, bmax);
    for (uint32_t i = 0; i < n; i++) {
        double v = c->wavg[i] * vscale;
        vw[i] = v < 1 ? 1 : (idx_t)v;
        slot[i] = -1;
    }
    idx_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        xadj[i] = k;
        idx_t row = k;
        for (int dir = 0; dir < 2; dir++) {
            const uint32_t *off = dir ? g->pred_off : g->succ_off;
            const uint32_t *lst = dir ? g->pred_edge : g->succ_edge;
            for (uint32_t j = off[i]; j < off[i + 1]; j++) {
                uint32_t e = lst[j];
                uint32_t nb = dir ? g->esrc[e] : g->edst[e];
                double wv = (double)g->ebytes[e] * escale;
                idx_t w = wv < 1 ? 1 : (idx_t)wv;
                if (slot[nb] >= row) {
                    ew[slot[nb]] += w;
                } else {
                    slot[nb] = k;
                    adj[k] = (idx_t)nb;
                    ew[k++] = w;
                }
            }
        }
    }
    xadj[n] = k;
    free(slot);
    *xadj_o = xadj;
    *adj_o = adj;
    *vw_o = vw;
    *ew_o = ew;
    return 0;
}

typedef struct prank {
    double key;
    uint32_t p;
} prank;
static int cmp_prank(const void *a, const void *b)
{
    const prank *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->p > y->p) - (x->p < y->p);
}

int qv__part_repair_acyclic(const qv_dag *g, uint32_t k, uint32_t *part)
{
    prank *pr = calloc(k, sizeof *pr);
    uint32_t *cnt = calloc(k, sizeof *cnt), *pos = malloc(k * sizeof *pos);
    if (!pr || !cnt || !pos) {
        free(pr);
        free(cnt);
        free(pos);
        return QV_ENOMEM;
    }
    for (uint32_t t = 0; t < g->n; t++) {
        pr[part[g->topo[t]]].key += t;
        cnt[part[g->topo[t]]]++;
    }
    for (uint32_t q = 0; q < k; q++) {
        pr[q].key = cnt[q] ? pr[q].key / cnt[q] : 0;
        pr[q].p = q;
    }
    qsort(pr, k, sizeof *pr, cmp_prank);
    for (uint32_t r = 0; r < k; r++)
        pos[pr[r].p] = r;
    /* Work in ranks, then renumber parts by rank (part id = dispatch order). */
    for (uint32_t t = 0; t < g->n; t++) {
        uint32_t i = g->topo[t], best = pos[part[i]];
        for (uint32_t j = g->pred_off[i]; j < g->pred_off[i + 1]; j++) {
            uint32_t s = g->esrc[g->pred_edge[j]];
            if (part[s] > best) /* preds already hold ranks */
                best = part[s];
        }
        part[i] = best;
    }
    free(pr);
    free(cnt);
    free(pos);
    return 0;
}

/* Part q's share as asked: tpw[q] (nothing for a negative one, or NaN),
 * or equal shares without tpw. */
static double share(const double *tpw, uint32_t q)
{
    return !tpw ? 1 : tpw[q] > 0 ? tpw[q] : 0;
}

/* The parts METIS is asked for (keep[q]) and their shares of the weight
 * (tp, in the order of the kept parts); returns how many are kept, at
 * least 1. Each kept part gets at least a tenth of an equal share (METIS
 * cannot aim at an empty part). A part whose share, so raised, is still
 * under two nodes' worth (2/nv) is left out, empty: METIS's recursive
 * bisections meet a side with no node at all for it, and say so on
 * stdout (where `quiver plan --json` writes the plan, and a program
 * planning at run time its own output: adversarial testing); and a part
 * forced to two nodes would put them on a resource the shares say is
 * not worth using. For nv >= 20k nothing is left out. */
static uint32_t shares(uint32_t k, idx_t nv, const double *tpw, bool *keep, real_t *tp)
{
    uint32_t kept = k, big = 0;
    for (uint32_t q = 0; q < k; q++) {
        keep[q] = true;
        if (share(tpw, q) > share(tpw, big))
            big = q;
    }
    for (bool again = true; again;) {
        double want = 0, tsum = 0;
        for (uint32_t q = 0; q < k; q++)
            want += keep[q] ? share(tpw, q) : 0;
        uint32_t i = 0;
        for (uint32_t q = 0; q < k; q++)
            if (keep[q]) {
                double t = want > 0 ? share(tpw, q) / want : 1.0 / kept;
                tp[i] = (real_t)(t < 0.1 / kept ? 0.1 / kept : t);
                tsum += tp[i++];
            }
        again = false;
        i = 0;
        for (uint32_t q = 0; q < k; q++)
            if (keep[q]) {
                tp[i] = (real_t)(tp[i] / tsum);
                if (kept > 1 && q != big && tp[i] < 2.0 / (double)nv) {
                    keep[q] = false; /* the others' shares grow: looked at again */
                    kept--;
                    again = true;
                }
                i++;
            }
    }
    if (kept == 1) /* the part asked the most of */
        for (uint32_t q = 0; q < k; q++)
            keep[q] = q == big;
    return kept;
}

/* METIS k-way on a CSR graph (weights may be changed: clamped). */
static int kway(idx_t nv, idx_t *xadj, idx_t *adj, idx_t *vw, idx_t *ew, uint32_t k,
                const double *tpw, uint32_t *part)
{
    if (k <= 1 || (uint32_t)nv < 2 * k) {
        for (idx_t i = 0; i < nv; i++)
            part[i] = 0;
        return 0;
    }
    idx_t ncon = 1, nparts, objval;
    idx_t *mp = malloc(((size_t)nv + 1) * sizeof *mp);
    real_t *tp = malloc(k * sizeof *tp);
    bool *keep = malloc(k * sizeof *keep);
    uint32_t *which = malloc(k * sizeof *which); /* kept part i: part which[i] */
    idx_t opts[METIS_NOPTIONS];
    METIS_SetDefaultOptions(opts);
    opts[METIS_OPTION_SEED] = 1; /* plans must be reproducible */
    opts[METIS_OPTION_UFACTOR] = 50;
    int rc = 0;
    if (!mp || !tp || !keep || !which) {
        rc = QV_ENOMEM;
        goto out;
    }
    nparts = (idx_t)shares(k, nv, tpw, keep, tp);
    for (uint32_t q = 0, i = 0; q < k; q++)
        if (keep[q])
            which[i++] = q;
    if (nparts == 1) {
        for (idx_t i = 0; i < nv; i++)
            part[i] = which[0];
        goto out;
    }
    /* A node heavier than half the smallest part's target makes METIS's
     * initial bisections leave a side empty (it then complains on stdout
     * and balances badly). Such a node fills a part by itself anyway, so
     * its weight is clamped; the schedulers use the true costs. */
    double tmin = 1;
    for (idx_t q = 0; q < nparts; q++)
        if (tp[q] < tmin)
            tmin = tp[q];
    /* clamping lowers the total, so repeat until no weight changes */
    for (int pass = 0, changed = 1; changed && pass < 32; pass++) {
        double vtot = 0;
        for (uint32_t i = 0; i < (uint32_t)nv; i++)
            vtot += (double)vw[i];
        idx_t vcap = (idx_t)(vtot * tmin / 2);
        changed = 0;
        for (uint32_t i = 0; i < (uint32_t)nv; i++)
            if (vw[i] > vcap && vcap >= 1) {
                vw[i] = vcap;
                changed = 1;
            }
    }
    int mr = METIS_PartGraphKway(&nv, &ncon, xadj, adj, vw, NULL, ew, &nparts, tp, NULL,
                                 opts, &objval, mp);
    if (mr != METIS_OK) {
        rc = mr == METIS_ERROR_MEMORY ? QV_ENOMEM : QV_EINVAL;
        goto out;
    }
    for (idx_t i = 0; i < nv; i++)
        part[i] = which[mp[i]];
out:
    free(mp);
    free(tp);
    free(keep);
    free(which);
    return rc;
}

static uint64_t cut_bytes(const qv_dag *g, const uint32_t *part)
{
    uint64_t cb = 0;
    for (uint32_t e = 0; e < g->m; e++)
        if (part[g->esrc[e]] != part[g->edst[e]])
            cb = qv__sat_add(cb, g->ebytes[e]);
    return cb;
}

int qv__part_metis_partition(const qv__ctx *c, uint32_t k, const double *tpw, int repair,
                             uint32_t *part, uint64_t *cut)
{
    /* METIS itself cannot be stopped (0.35 s at 100 000 nodes): asked
     * before it starts. */
    if (qv__part_cancelled(c))
        return QV_ECANCELED;
    const qv_dag *g = c->g;
    idx_t *xadj, *adj, *vw, *ew;
    int rc = build_csr(c, &xadj, &adj, &vw, &ew);
    if (rc)
        return rc;
    rc = kway((idx_t)g->n, xadj, adj, vw, ew, k, tpw, part);
    if (!rc && repair)
        rc = qv__part_repair_acyclic(g, k, part);
    *cut = cut_bytes(g, part);
    free(xadj);
    free(adj);
    free(vw);
    free(ew);
    return rc;
}

int qv__part_metis_coarsen(const qv__ctx *c, const uint32_t *fine, uint32_t kf,
                           uint32_t k, const double *tpw, uint32_t *part, uint64_t *cut)
{
    const qv_dag *g = c->g;
    double *wq = calloc(kf, sizeof *wq);
    double *bq = calloc((size_t)kf * kf, sizeof *bq);
    idx_t *xadj = malloc(((size_t)kf + 1) * sizeof *xadj);
    idx_t *adj = malloc(((size_t)kf * kf + 1) * sizeof *adj);
    idx_t *ew = malloc(((size_t)kf * kf + 1) * sizeof *ew);
    idx_t *vw = malloc(((size_t)kf + 1) * sizeof *vw);
    uint32_t *map = malloc(((size_t)kf + 1) * sizeof *map);
    int rc = QV_ENOMEM;
    if (!wq || !bq || !xadj || !adj || !ew || !vw || !map)
        goto out;
    double wsum = 0, bsum = 0, bmax = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        wq[fine[i]] += c->wavg[i];
        wsum += c->wavg[i];
    }
    for (uint32_t e = 0; e < g->m; e++) {
        uint32_t a = fine[g->esrc[e]], b = fine[g->edst[e]];
        if (a == b)
            continue;
        bq[(size_t)a * kf + b] += (double)g->ebytes[e];
        bq[(size_t)b * kf + a] += (double)g->ebytes[e];
    }
    for (size_t i = 0; i < (size_t)kf * kf; i++) {
        bsum += bq[i]; /* bq is symmetric: each pair twice, like the CSR */
        if (bq[i] > bmax)
            bmax = bq[i];
    }
    double vscale = vertex_scale(wsum), escale = edge_scale(bsum, bmax);
    idx_t nz = 0;
    for (uint32_t a = 0; a < kf; a++) {
        double v = wq[a] * vscale;
        vw[a] = v < 1 ? 1 : (idx_t)v;
        xadj[a] = nz;
        for (uint32_t b = 0; b < kf; b++)
            if (b != a && bq[(size_t)a * kf + b] > 0) {
                double w = bq[(size_t)a * kf + b] * escale;
                adj[nz] = (idx_t)b;
                ew[nz++] = w < 1 ? 1 : (idx_t)w;
            }
    }
    xadj[kf] = nz;
    if ((rc = kway((idx_t)kf, xadj, adj, vw, ew, k, tpw, map)))
        goto out;
    for (uint32_t i = 0; i < g->n; i++)
        part[i] = map[fine[i]];
    if ((rc = qv__part_repair_acyclic(g, k, part)))
        goto out;
    *cut = cut_bytes(g, part);
out:
    free(wq);
    free(bq);
    free(xadj);
    free(adj);
    free(ew);
    free(vw);
    free(map);
    return rc;
}
