/*
 * heft.c - HEFT (Topcuoglu, Hariri and Wu, IEEE TPDS 13(3), 2002): nodes by
 * decreasing upward rank (mean computation and mean communication costs),
 * each placed on the unit that gives it the earliest finish time, with the
 * insertion policy (a task may fill an idle gap between two scheduled
 * tasks). The ready-list order equals the paper's sort by rank whenever
 * ranks strictly decrease along edges, and stays topological when zero
 * costs make them tie.
 */
#include <stdlib.h>

#include "part.h"

int qv__part_heft(const qv__ctx *c, uint32_t *unit, double *start, double *end)
{
    uint32_t n = c->g->n;
    double *rank = malloc(((size_t)n + 1) * sizeof *rank);
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    int rc = QV_ENOMEM;
    if (rank && order) {
        qv__part_rank_upward(c, rank);
        rc = qv__part_priority_order(c->g, rank, order);
        if (!rc)
            rc = qv__part_list_schedule(c, order, NULL, NULL, unit, start, end);
    }
    free(rank);
    free(order);
    return rc;
}
