/*
 * bounds.c - lower bounds on any schedule's makespan (the "physical limit"
 * of shared/dagsets/README.md) and the reference times for SLR and speedup.
 *
 * LB_cp: longest path where each node takes its fastest unit's time and
 * transfers are free. LB_area: the LP "split the work fractionally over the
 * device classes, class k having capacity cap_k = Σ units × speed" solved
 * through its dual: for any y >= 0 with Σ_k cap_k y_k = 1,
 *   Σ_i min_k y_k c_ik  <=  T*,
 * so every y gives a valid bound. We maximize this concave function by
 * exact-enough line searches between pairs of classes; with two classes
 * one search along the only direction reaches the LP optimum.
 */
#include <stdlib.h>
#include <string.h>

#include "part.h"

typedef struct area {
    uint32_t n, K;
    const double *c; /* n * K base costs, INFINITY = absent */
    double cap[QV_DAG_MAX_CLASSES];
} area;

static double dual(const area *a, const double *y)
{
    double sum = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        double m = INFINITY;
        for (uint32_t k = 0; k < a->K; k++) {
            double c = a->c[(size_t)i * a->K + k];
            if (!isinf(c) && y[k] * c < m)
                m = y[k] * c;
        }
        sum += m;
    }
    return sum;
}

/* Moves capacity-weighted mass t from class b to class a:
 * y_a += t / cap_a, y_b -= t / cap_b, keeping Σ cap_k y_k = 1. */
static double along(const area *a, const double *y0, uint32_t ka, uint32_t kb, double t,
                    double *y)
{
    memcpy(y, y0, a->K * sizeof *y);
    y[ka] += t / a->cap[ka];
    y[kb] -= t / a->cap[kb];
    if (y[ka] < 0)
        y[ka] = 0;
    if (y[kb] < 0)
        y[kb] = 0;
    return dual(a, y);
}

static double lb_area(const area *a)
{
    double y[QV_DAG_MAX_CLASSES], t1[QV_DAG_MAX_CLASSES], t2[QV_DAG_MAX_CLASSES];
    for (uint32_t k = 0; k < a->K; k++)
        y[k] = 1.0 / (a->K * a->cap[k]);
    double best = dual(a, y);
    if (a->K < 2)
        return best;
    int sweeps = a->K == 2 ? 1 : 4;
    for (int s = 0; s < sweeps; s++)
        for (uint32_t ka = 0; ka < a->K; ka++)
            for (uint32_t kb = ka + 1; kb < a->K; kb++) {
                /* t in [-y_a cap_a, y_b cap_b]; the function is concave in
                 * t, so golden-section search converges to its maximum. */
                double lo = -y[ka] * a->cap[ka], hi = y[kb] * a->cap[kb];
                const double g = 0.6180339887498949;
                double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
                double f1 = along(a, y, ka, kb, x1, t1);
                double f2 = along(a, y, ka, kb, x2, t2);
                for (int it = 0; it < 60 && hi - lo > 1e-12; it++) {
                    if (f1 < f2) {
                        lo = x1;
                        x1 = x2;
                        f1 = f2;
                        x2 = lo + g * (hi - lo);
                        f2 = along(a, y, ka, kb, x2, t2);
                    } else {
                        hi = x2;
                        x2 = x1;
                        f2 = f1;
                        x1 = hi - g * (hi - lo);
                        f1 = along(a, y, ka, kb, x1, t1);
                    }
                }
                double f = along(a, y, ka, kb, f1 > f2 ? x1 : x2, t1);
                if (f > best) {
                    best = f;
                    memcpy(y, t1, a->K * sizeof *y);
                }
            }
    return best;
}

int qv_bounds_compute(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                      qv_bounds *out)
{
    if (!g->topo)
        return QV_EINVAL;
    return cat ? qv__part_bounds_cat(g, p, cat, out) : qv__part_bounds(g, p, out);
}

int qv__part_bounds(const qv_dag *g, const qv_plat *p, qv_bounds *out)
{
    qv__ctx c;
    int rc = qv__part_ctx_init(&c, g, p, NULL);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    double *fin = malloc(((size_t)g->n + 1) * sizeof *fin);
    area a = {g->n, 0, NULL, {0}};
    int cls_of[QV_DAG_MAX_CLASSES]; /* area class -> graph class */
    double *ac = NULL;
    if (!fin) {
        rc = QV_ENOMEM;
        goto out;
    }
    /* LB_cp */
    double cp = 0;
    for (uint32_t t = 0; t < g->n; t++) {
        uint32_t i = g->topo[t];
        double m = INFINITY, ready = 0;
        for (uint32_t r = 0; r < p->nres; r++)
            if (qv__w(&c, i, r) < m)
                m = qv__w(&c, i, r);
        for (uint32_t j = g->pred_off[i]; j < g->pred_off[i + 1]; j++) {
            uint32_t s = g->esrc[g->pred_edge[j]];
            if (fin[s] > ready)
                ready = fin[s];
        }
        fin[i] = ready + m;
        if (fin[i] > cp)
            cp = fin[i];
    }
    out->lb_cp = cp;
    /* best sequential time on one unit */
    out->seq_best = INFINITY;
    for (uint32_t r = 0; r < p->nres; r++) {
        double s = 0;
        for (uint32_t i = 0; i < g->n; i++)
            s += qv__w(&c, i, r);
        if (s < out->seq_best)
            out->seq_best = s;
    }
    /* LB_area over the graph classes present on the platform */
    for (uint32_t r = 0; r < p->nres; r++) {
        int k = c.res_class[r];
        if (k < 0)
            continue;
        uint32_t j = 0;
        while (j < a.K && cls_of[j] != k)
            j++;
        if (j == a.K)
            cls_of[a.K++] = k;
        a.cap[j] += p->res[r].units * p->res[r].speed;
    }
    ac = malloc(((size_t)g->n * a.K + 1) * sizeof *ac);
    if (!ac) {
        rc = QV_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < g->n; i++)
        for (uint32_t k = 0; k < a.K; k++)
            ac[(size_t)i * a.K + k] =
                g->cost[(size_t)i * g->nclass + (uint32_t)cls_of[k]];
    a.c = ac;
    out->lb_area = lb_area(&a);
out:
    free(fin);
    free(ac);
    qv__part_ctx_fini(&c);
    return rc;
}
