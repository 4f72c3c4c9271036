/*
 * place.c - from parts to a schedule. find_best_resource places the parts of
 * an acyclic partition, in dispatch order, each on the resource where it
 * would finish first under the cost model (its work spread over the
 * resource's units, after the resource is free and the part's cut inputs
 * have crossed the links); money breaks near-ties. Nodes are then ordered
 * by upward rank and list-scheduled with insertion on the units of their
 * part's resource. An optional refinement moves one part at a time to
 * another resource and keeps the move when the simulated makespan drops.
 */
#include <stdlib.h>
#include <string.h>

#include "part.h"

static double makespan(uint32_t n, const double *end)
{
    double m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (end[i] > m)
            m = end[i];
    return m;
}

/* Resource for each part (parts numbered in dispatch order). */
static int find_best_resource(const qv__ctx *c, const uint32_t *part, uint32_t k,
                              uint32_t *part_res)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    uint32_t R = p->nres;
    double *work = calloc((size_t)k * R, sizeof *work);
    double *fin = calloc(k, sizeof *fin);
    double *avail = calloc(R, sizeof *avail);
    uint32_t *in_off = calloc((size_t)k + 1, sizeof *in_off);
    uint32_t *in_e = malloc(((size_t)g->m + 1) * sizeof *in_e);
    int rc = QV_ENOMEM;
    if (!work || !fin || !avail || !in_off || !in_e)
        goto out;
    /* parts are placed in order; one not placed yet reads as "none" */
    for (uint32_t q = 0; q < k; q++)
        part_res[q] = UINT32_MAX;
    for (uint32_t i = 0; i < g->n; i++)
        for (uint32_t r = 0; r < R; r++)
            work[(size_t)part[i] * R + r] += qv__w(c, i, r);
    /* incoming cut edges grouped by destination part */
    for (uint32_t e = 0; e < g->m; e++)
        if (part[g->esrc[e]] != part[g->edst[e]])
            in_off[part[g->edst[e]] + 1]++;
    for (uint32_t q = 0; q < k; q++)
        in_off[q + 1] += in_off[q];
    for (uint32_t e = 0; e < g->m; e++)
        if (part[g->esrc[e]] != part[g->edst[e]])
            in_e[in_off[part[g->edst[e]]]++] = e;
    for (uint32_t q = k; q > 0; q--)
        in_off[q] = in_off[q - 1];
    in_off[0] = 0;
    for (uint32_t q = 0; q < k; q++) {
        double best = INFINITY, best_cost = INFINITY;
        uint32_t br = UINT32_MAX;
        for (uint32_t r = 0; r < R; r++) {
            double wk = work[(size_t)q * R + r];
            if (isinf(wk))
                continue;
            double st = avail[r];
            for (uint32_t j = in_off[q]; j < in_off[q + 1]; j++) {
                uint32_t e = in_e[j], sq = part[g->esrc[e]];
                /* a part no single resource can run (its nodes' classes do
                 * not meet) is scheduled node by node: assume a mean
                 * transfer from it */
                double a = part_res[sq] == UINT32_MAX
                               ? fin[sq] + qv__mean_comm(c, g->ebytes[e])
                               : fin[sq] + qv_plat_comm(p, part_res[sq], r, g->ebytes[e]);
                if (a > st)
                    st = a;
            }
            double f = st + wk / p->res[r].units;
            /* money: cost of the part's busy time, breaking near-ties */
            double money = wk * p->res[r].cost_per_hour;
            if (f < best * (1 - 1e-3) || (f <= best * (1 + 1e-3) && money < best_cost)) {
                best = f < best ? f : best;
                best_cost = money;
                br = r;
            }
        }
        if (br == UINT32_MAX) {
            /* Some node of the part has no common resource with the rest:
             * the caller falls back to per-node placement for it. */
            part_res[q] = UINT32_MAX;
            fin[q] = 0;
            continue;
        }
        part_res[q] = br;
        fin[q] = avail[br] = best;
    }
    rc = 0;
out:
    free(work);
    free(fin);
    free(avail);
    free(in_off);
    free(in_e);
    return rc;
}

/* allowed[i] = the part's resource when the node can run there, else any. */
static void allowed_from(const qv__ctx *c, const uint32_t *part, const uint32_t *part_res,
                         uint32_t *allowed)
{
    for (uint32_t i = 0; i < c->g->n; i++) {
        uint32_t r = part_res[part[i]];
        allowed[i] = r != UINT32_MAX && !isinf(qv__w(c, i, r)) ? r : UINT32_MAX;
    }
}

int qv__part_place_parts(const qv__ctx *c, const uint32_t *part, uint32_t k, int refine,
                         uint32_t *unit, double *start, double *end)
{
    const qv_dag *g = c->g;
    uint32_t n = g->n, R = c->p->nres;
    uint32_t *part_res = malloc(k * sizeof *part_res);
    uint32_t *allowed = malloc(((size_t)n + 1) * sizeof *allowed);
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    double *rank = malloc(((size_t)n + 1) * sizeof *rank);
    uint32_t *u2 = malloc(((size_t)n + 1) * sizeof *u2);
    double *s2 = malloc(((size_t)n + 1) * sizeof *s2);
    double *e2 = malloc(((size_t)n + 1) * sizeof *e2);
    int rc = QV_ENOMEM;
    if (!part_res || !allowed || !order || !rank || !u2 || !s2 || !e2)
        goto out;
    if ((rc = find_best_resource(c, part, k, part_res)))
        goto out;
    qv__part_rank_upward(c, rank);
    if ((rc = qv__part_priority_order(g, rank, order)))
        goto out;
    allowed_from(c, part, part_res, allowed);
    if ((rc = qv__part_list_schedule(c, order, allowed, NULL, unit, start, end)))
        goto out;
    if (!refine)
        goto out;
    double best = makespan(n, end);
    for (uint32_t q = 0; q < k; q++) {
        uint32_t keep = part_res[q];
        if (keep == UINT32_MAX)
            continue;
        for (uint32_t r = 0; r < R; r++) {
            if (r == keep)
                continue;
            part_res[q] = r;
            allowed_from(c, part, part_res, allowed);
            if ((rc = qv__part_list_schedule(c, order, allowed, NULL, u2, s2, e2)))
                goto out;
            double m = makespan(n, e2);
            if (m < best) {
                best = m;
                keep = r;
                memcpy(unit, u2, n * sizeof *unit);
                memcpy(start, s2, n * sizeof *start);
                memcpy(end, e2, n * sizeof *end);
            }
        }
        part_res[q] = keep;
    }
out:
    free(part_res);
    free(allowed);
    free(order);
    free(rank);
    free(u2);
    free(s2);
    free(e2);
    return rc;
}

/* Throughput of each resource in "mean-cost work" per µs, over the nodes it
 * can run: the target part weights of METIS. */
static void capacities(const qv__ctx *c, double *cap)
{
    const qv_plat *p = c->p;
    double tot = 0;
    for (uint32_t r = 0; r < p->nres; r++) {
        double wa = 0, wr = 0;
        for (uint32_t i = 0; i < c->g->n; i++)
            if (!isinf(qv__w(c, i, r))) {
                wa += c->wavg[i];
                wr += qv__w(c, i, r);
            }
        cap[r] = wr > 0 ? p->res[r].units * wa / wr : 0;
        tot += cap[r];
    }
    for (uint32_t r = 0; r < p->nres; r++)
        cap[r] = tot > 0 ? cap[r] / tot : 1.0 / p->nres;
}

int qv__part_metis_only(const qv__ctx *c, uint32_t *unit, double *start, double *end,
                        uint32_t *nparts)
{
    const qv_dag *g = c->g;
    uint32_t R = c->p->nres;
    double *cap = malloc(2 * (size_t)R * sizeof *cap);
    uint32_t *use = malloc(R * sizeof *use);
    uint32_t *part = malloc(((size_t)g->n + 1) * sizeof *part);
    uint32_t *allowed = malloc(((size_t)g->n + 1) * sizeof *allowed);
    uint32_t *order = malloc(((size_t)g->n + 1) * sizeof *order);
    double *rank = malloc(((size_t)g->n + 1) * sizeof *rank);
    uint64_t cut;
    int rc = QV_ENOMEM;
    if (!cap || !use || !part || !allowed || !order || !rank)
        goto out;
    capacities(c, cap);
    /* One part per resource that can run something, sized by its capacity,
     * part q on resource use[q]: plain METIS, no repair, no cost model. */
    uint32_t k = 0;
    for (uint32_t r = 0; r < R; r++)
        if (cap[r] > 0) {
            cap[R + k] = cap[r];
            use[k++] = r;
        }
    if ((rc = qv__part_metis_partition(c, k, cap + R, 0, part, &cut)))
        goto out;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t r = use[part[i]];
        allowed[i] = !isinf(qv__w(c, i, r)) ? r : UINT32_MAX;
    }
    qv__part_rank_upward(c, rank);
    if (!(rc = qv__part_priority_order(g, rank, order)))
        rc = qv__part_list_schedule(c, order, allowed, NULL, unit, start, end);
    *nparts = k;
out:
    free(cap);
    free(use);
    free(part);
    free(allowed);
    free(order);
    free(rank);
    return rc;
}
