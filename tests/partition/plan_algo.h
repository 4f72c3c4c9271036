/*
 * plan_algo.h - what the planner's tests call most: qv_plan_make with one
 * algorithm and otherwise the default options (no catalog).
 */
#ifndef QV_TESTS_PLAN_ALGO_H
#define QV_TESTS_PLAN_ALGO_H

#include "qvpart.h"

static inline int plan_algo(const qv_dag *g, const qv_plat *p, qv_algo a, qv_plan **out,
                            qv_diag *d)
{
    qv_plan_opts o;
    qv_plan_opts_init(&o);
    o.algo = a;
    return qv_plan_make(g, p, &o, out, d);
}

#endif
