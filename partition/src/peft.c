/*
 * peft.c - PEFT (Arabnejad and Barbosa, IEEE TPDS 25(3), 2014). The
 * optimistic cost table OCT(t, p) is the longest path from t's successors to
 * the exit when each successor takes its best processor, paying the mean
 * communication cost only when that processor differs from p:
 *   OCT(t,p) = max_{s in succ(t)} min_{p'} [OCT(s,p') + w(s,p') + (p'!=p)c̄(t,s)]
 * Priority rank_oct(t) = mean over processors of OCT(t,p); the ready task of
 * highest rank goes to the processor minimizing EFT(t,p) + OCT(t,p), with
 * insertion. Units of one resource are interchangeable, so the table is kept
 * per resource: for p' on p's resource but another unit the c̄ term applies,
 * which the min over resources below covers since c̄ >= 0.
 */
#include <stdlib.h>

#include "part.h"

int qv__part_peft(const qv__ctx *c, uint32_t *unit, double *start, double *end)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    uint32_t n = g->n, R = p->nres;
    double *oct = calloc((size_t)n * R + 1, sizeof *oct);
    double *rank = malloc(((size_t)n + 1) * sizeof *rank);
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    int rc = QV_ENOMEM;
    if (!oct || !rank || !order)
        goto out;
    for (uint32_t t = n; t-- > 0;) {
        uint32_t i = g->topo[t];
        double *oi = &oct[(size_t)i * R];
        for (uint32_t j = g->succ_off[i]; j < g->succ_off[i + 1]; j++) {
            uint32_t e = g->succ_edge[j], s = g->edst[e];
            const double *os = &oct[(size_t)s * R];
            /* best over all processors, paying c̄ */
            double any = INFINITY;
            for (uint32_t r = 0; r < R; r++) {
                double v = os[r] + qv__w(c, s, r);
                if (v < any)
                    any = v;
            }
            any += qv__mean_comm(c, g->ebytes[e]);
            for (uint32_t r = 0; r < R; r++) {
                double same = os[r] + qv__w(c, s, r);
                double v = same < any ? same : any;
                if (v > oi[r])
                    oi[r] = v;
            }
        }
        double sum = 0;
        for (uint32_t r = 0; r < R; r++)
            if (!c->keep || c->keep[r])
                sum += oi[r] * p->res[r].units;
        rank[i] = sum / c->nunits;
    }
    rc = qv__part_priority_order(g, rank, order);
    if (!rc)
        rc = qv__part_list_schedule(c, order, NULL, oct, unit, start, end);
out:
    free(oct);
    free(rank);
    free(order);
    return rc;
}
