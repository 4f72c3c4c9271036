/*
 * quiver.c - Quiver's planner. It builds several plans and keeps the one the
 * simulator says finishes first:
 *   - METIS partitions for several k (k = r, 2r, 4r, 8r for r usable
 *     resources; up to 4r past 5 000 nodes): one METIS run at the largest
 *     k, the smaller k by partitioning its graph of parts (target weights
 *     by capacity when k = r), each repaired to be acyclic and its parts
 *     placed by the cost model (place.c), with per-part refinement on
 *     graphs small enough to afford it;
 *   - the two list schedulers HEFT and PEFT, which it must never lose to,
 *     and the same insertion-based EFT list scheduling with two other
 *     rank functions (fastest-unit and throughput-weighted node weights);
 *   - then, from the best so far, rank refinement: upward ranks recomputed
 *     with the costs of the current placement (actual execution time and
 *     actual transfers rather than means), and a new EFT list schedule in
 *     that order, once free and once keeping each node's resource;
 *   - finally a compaction: replaying the plan with each unit's tasks in
 *     start order, which can only move tasks earlier.
 * Planning time is the sum of all of these (measured by qv_plan_make).
 * With a cost objective (qv_plan_opts.cost_weight > 0) every candidate also
 * goes to objective.c, which runs this on smaller sets of resources too and
 * chooses by time and money.
 */
#include <stdlib.h>
#include <string.h>

#include "part.h"

typedef struct cand {
    uint32_t *unit;
    double *start, *end;
    double ms;
} cand;

static double makespan(uint32_t n, const double *end)
{
    double m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (end[i] > m)
            m = end[i];
    return m;
}

/* Keeps (u,s,e) in best when it finishes strictly earlier. */
static int offer(uint32_t n, cand *best, const uint32_t *u, const double *s,
                 const double *e)
{
    double m = makespan(n, e);
    if (!(m < best->ms))
        return 0;
    memcpy(best->unit, u, n * sizeof *u);
    memcpy(best->start, s, n * sizeof *s);
    memcpy(best->end, e, n * sizeof *e);
    best->ms = m;
    return 1;
}

/* Upward ranks under a fixed placement: the node's own time on its
 * resource, the real transfer to each successor's resource. */
static void rank_placed(const qv__ctx *c, const uint32_t *unit, double *rank)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    for (uint32_t t = g->n; t-- > 0;) {
        uint32_t i = g->topo[t], ri = p->unit_res[unit[i]];
        double b = 0;
        for (uint32_t j = g->succ_off[i]; j < g->succ_off[i + 1]; j++) {
            uint32_t e = g->succ_edge[j], d = g->edst[e];
            double v = qv_plat_comm(p, ri, p->unit_res[unit[d]], g->ebytes[e]) + rank[d];
            if (v > b)
                b = v;
        }
        rank[i] = qv__w(c, i, ri) + b;
    }
}

/* Upward ranks with other node weights than HEFT's mean (Zhao and
 * Sakellariou 2003 show the choice moves HEFT's makespan either way):
 * mode 0 the fastest unit's time, mode 1 the time a node takes when units
 * are drawn in proportion to their throughput (Σ units / Σ units/w). */
static void rank_variant(const qv__ctx *c, int mode, double *rank)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    for (uint32_t t = g->n; t-- > 0;) {
        uint32_t i = g->topo[t];
        double w = INFINITY, num = 0, den = 0;
        for (uint32_t r = 0; r < p->nres; r++) {
            double x = qv__w(c, i, r);
            if (isinf(x))
                continue;
            if (x < w)
                w = x;
            num += p->res[r].units;
            den += p->res[r].units / (x > 0 ? x : 1e-12);
        }
        if (mode == 1)
            w = den > 0 ? num / den : 0;
        double b = 0;
        for (uint32_t j = g->succ_off[i]; j < g->succ_off[i + 1]; j++) {
            uint32_t e = g->succ_edge[j];
            double v = qv__mean_comm(c, g->ebytes[e]) + rank[g->edst[e]];
            if (v > b)
                b = v;
        }
        rank[i] = w + b;
    }
}

typedef struct by_start {
    double s;
    uint32_t topo_pos, i;
} by_start;
static int cmp_start(const void *a, const void *b)
{
    const by_start *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->topo_pos > y->topo_pos) - (x->topo_pos < y->topo_pos);
}

/* Offers the candidate in (u,s,e) to best (by makespan) and to k, the
 * objective's candidates, when there is one. 1 when best took it, 0,
 * QV_ENOMEM (k's copy), or QV_ECANCELED when the caller asked planning to
 * stop (the next candidate is not made). */
static int offer2(const qv__ctx *c, uint32_t n, cand *best, qv__pick *k,
                  const uint32_t *u, const double *s, const double *e,
                  const char *variant, uint32_t nparts)
{
    if (qv__part_cancelled(c))
        return QV_ECANCELED;
    if (k) {
        int rc = qv__pick_offer(k, u, s, e, variant, nparts);
        if (rc)
            return rc;
    }
    return offer(n, best, u, s, e);
}

int qv__part_quiver(const qv__ctx *c, uint32_t *unit, double *start, double *end,
                    uint32_t *nparts, const char **variant)
{
    int rc = qv__part_quiver_cands(c, NULL, unit, start, end, nparts, variant);
    return rc ? rc : qv__part_compact(c, unit, start, end);
}

int qv__part_quiver_cands(const qv__ctx *c, qv__pick *k_obj, uint32_t *unit, double *start,
                          double *end, uint32_t *nparts, const char **variant)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    uint32_t n = g->n, R = p->nres;
    cand best = {unit, start, end, INFINITY};
    uint32_t *u = malloc(((size_t)n + 1) * sizeof *u);
    double *s = malloc(((size_t)n + 1) * sizeof *s);
    double *e = malloc(((size_t)n + 1) * sizeof *e);
    uint32_t *part = malloc(((size_t)n + 1) * sizeof *part);
    uint32_t *fine = malloc(((size_t)n + 1) * sizeof *fine);
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    uint32_t *allowed = malloc(((size_t)n + 1) * sizeof *allowed);
    double *rank = malloc(((size_t)n + 1) * sizeof *rank);
    double *tpw = malloc(((size_t)8 * R + 1) * sizeof *tpw);
    int rc = QV_ENOMEM;
    if (!u || !s || !e || !part || !fine || !order || !allowed || !rank || !tpw)
        goto out;
    *nparts = 0;
    if ((rc = qv__part_heft(c, u, s, e)) ||
        (rc = offer2(c, n, &best, k_obj, u, s, e, "heft", 0)) < 0)
        goto out;
    *variant = "heft";
    if ((rc = qv__part_peft(c, u, s, e)) ||
        (rc = offer2(c, n, &best, k_obj, u, s, e, "peft", 0)) < 0)
        goto out;
    if (rc)
        *variant = "peft";

    for (int mode = 0; mode < 2; mode++) {
        rank_variant(c, mode, rank);
        if ((rc = qv__part_priority_order(g, rank, order)) ||
            (rc = qv__part_list_schedule(c, order, NULL, NULL, u, s, e)) ||
            (rc = offer2(c, n, &best, k_obj, u, s, e, "ranks", 0)) < 0)
            goto out;
        if (rc)
            *variant = "ranks";
    }

    /* usable resources and their capacities */
    uint32_t usable = 0;
    double tot = 0;
    for (uint32_t r = 0; r < R; r++) {
        double wa = 0, wr = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!isinf(qv__w(c, i, r))) {
                wa += c->wavg[i];
                wr += qv__w(c, i, r);
            }
        tpw[r] = wr > 0 ? p->res[r].units * wa / wr : 0;
        tot += tpw[r];
        usable += wr > 0;
    }
    /* One METIS run at the finest k; the coarser partitions come from
     * partitioning its graph of parts (a few dozen vertices). */
    int refine = n <= 2000;
    uint32_t kmax = 0;
    /* k up to 8r; 4r past 5 000 nodes, where METIS's time grows with k and
     * the planning-time goal (10 000 nodes in 100 ms) binds */
    uint32_t mmax = n > 5000 ? 4 : 8;
    for (uint32_t mult = 1; mult <= mmax && usable > 1 && n >= 4 * usable * mult;
         mult *= 2)
        kmax = usable * mult;
    uint64_t cut;
    if (kmax && (rc = qv__part_metis_partition(c, kmax, NULL, 0, fine, &cut)))
        goto out;
    for (uint32_t k = usable; kmax && k <= kmax; k *= 2) {
        const double *tw = NULL;
        if (k == usable) {
            /* one part per usable resource, sized by its capacity */
            uint32_t q = 0;
            for (uint32_t r = 0; r < R; r++)
                if (tpw[r] > 0)
                    tpw[R + q++] = tpw[r] / tot;
            tw = tpw + R;
        }
        if (k == kmax) {
            memcpy(part, fine, n * sizeof *part);
            rc = qv__part_repair_acyclic(g, k, part);
        } else {
            rc = qv__part_metis_coarsen(c, fine, kmax, k, tw, part, &cut);
        }
        if (rc || (rc = qv__part_place_parts(c, part, k, refine, u, s, e)) ||
            (rc = offer2(c, n, &best, k_obj, u, s, e, "metis", k)) < 0)
            goto out;
        if (rc) {
            *variant = "metis";
            *nparts = k;
        }
    }

    /* rank refinement from the best plan so far */
    for (int it = 0; it < 2; it++) {
        rank_placed(c, best.unit, rank);
        if ((rc = qv__part_priority_order(g, rank, order)))
            goto out;
        if ((rc = qv__part_list_schedule(c, order, NULL, NULL, u, s, e)) ||
            (rc = offer2(c, n, &best, k_obj, u, s, e, "refined", 0)) < 0)
            goto out;
        int better = rc;
        if (better)
            *nparts = 0; /* placed node by node: no partition any more */
        for (uint32_t i = 0; i < n; i++)
            allowed[i] = p->unit_res[best.unit[i]];
        if ((rc = qv__part_list_schedule(c, order, allowed, NULL, u, s, e)) ||
            (rc = offer2(c, n, &best, k_obj, u, s, e, "refined", 0)) < 0)
            goto out;
        better |= rc;
        if (!better)
            break;
        *variant = "refined";
    }

    rc = 0;
out:
    free(u);
    free(s);
    free(e);
    free(part);
    free(fine);
    free(order);
    free(allowed);
    free(rank);
    free(tpw);
    return rc;
}

int qv__part_compact(const qv__ctx *c, const uint32_t *unit, double *start, double *end)
{
    const qv_dag *g = c->g;
    uint32_t n = g->n;
    by_start *bs = malloc(((size_t)n + 1) * sizeof *bs);
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    double *s = malloc(((size_t)n + 1) * sizeof *s);
    double *e = malloc(((size_t)n + 1) * sizeof *e);
    int rc = QV_ENOMEM;
    if (!bs || !order || !s || !e)
        goto out;
    for (uint32_t t = 0; t < n; t++) {
        uint32_t i = g->topo[t];
        bs[i] = (by_start){start[i], t, i};
    }
    qsort(bs, n, sizeof *bs, cmp_start);
    for (uint32_t k = 0; k < n; k++)
        order[k] = bs[k].i;
    double ms;
    if ((rc = qv_sim_replay(g, c->p, unit, order, s, e, &ms)))
        goto out;
    if (ms <= makespan(n, end)) {
        memcpy(start, s, n * sizeof *s);
        memcpy(end, e, n * sizeof *e);
    }
out:
    free(bs);
    free(order);
    free(s);
    free(e);
    return rc;
}
