/*
 * sim.c - the discrete-event replay of a plan under the cost model, and the
 * validity check that every plan passes before it leaves qv_plan_make. The
 * replay is what the runtime uses for predictions: given where each task
 * runs and each unit's queue order, tasks start as soon as their unit is
 * free and all inputs have arrived (links without contention); a task of
 * a device on the host's cores (qv_plat_res.shares_cpu) also waits for and
 * holds the CPU units (as many as shares_cpu says) that free up first.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "part.h"

static int res_class(const qv_dag *g, const qv_plat *p, uint32_t r)
{
    for (uint32_t k = 0; k < g->nclass; k++)
        if (!strcmp(g->class_name[k], p->res[r].cls))
            return (int)k;
    return -1;
}

static double exec_time(const qv_dag *g, const qv_plat *p, const int *rc, uint32_t i,
                        uint32_t u)
{
    uint32_t r = p->unit_res[u];
    if (rc[r] < 0)
        return INFINITY;
    return g->cost[(size_t)i * g->nclass + (uint32_t)rc[r]] / p->res[r].speed;
}

int qv_sim_replay(const qv_dag *g, const qv_plat *p, const uint32_t *unit,
                  const uint32_t *order, double *start, double *end, double *ms)
{
    if (!g->topo)
        return QV_EINVAL;
    int *rc = malloc(p->nres * sizeof *rc);
    double *avail = calloc(p->nunits, sizeof *avail);
    uint8_t *done = calloc((size_t)g->n + 1, 1);
    /* A task on the host's cores takes a CPU unit that no task placed on
     * that unit waits for sooner: for each position of order, the next
     * position of a task on the same unit (nxt), and per unit the next
     * one still to come (due). */
    uint32_t *nxt = malloc(((size_t)g->n + 1) * sizeof *nxt);
    uint32_t *due = malloc(((size_t)p->nunits + 1) * sizeof *due);
    uint32_t *held = calloc((size_t)p->nunits + 1, sizeof *held); /* k + 1: by task k */
    int err = 0;
    if (!rc || !avail || !done || !nxt || !due || !held) {
        err = QV_ENOMEM;
        goto out;
    }
    for (uint32_t r = 0; r < p->nres; r++)
        rc[r] = res_class(g, p, r);
    for (uint32_t u = 0; u < p->nunits; u++)
        due[u] = g->n;
    for (uint32_t k = g->n; k-- > 0;) {
        uint32_t u = order[k] < g->n ? unit[order[k]] : UINT32_MAX;
        nxt[k] = u < p->nunits ? due[u] : g->n;
        if (u < p->nunits)
            due[u] = k;
    }
    double mk = 0;
    for (uint32_t k = 0; k < g->n; k++) {
        uint32_t i = order[k];
        if (i >= g->n || done[i] || unit[i] >= p->nunits) {
            err = QV_EINVAL;
            goto out;
        }
        due[unit[i]] = nxt[k];
        double w = exec_time(g, p, rc, i, unit[i]);
        if (isinf(w)) {
            err = QV_EINVAL;
            goto out;
        }
        uint32_t r = p->unit_res[unit[i]];
        double t = avail[unit[i]];
        for (uint32_t j = g->pred_off[i]; j < g->pred_off[i + 1]; j++) {
            uint32_t e = g->pred_edge[j], s = g->esrc[e];
            if (!done[s]) { /* order is not topological */
                err = QV_EINVAL;
                goto out;
            }
            double a = end[s] + qv_plat_comm(p, p->unit_res[unit[s]], r, g->ebytes[e]);
            if (a > t)
                t = a;
        }
        /* A device on the host's cores also waits for, and holds, the CPU
         * units it takes (qv__shared_units), those free the soonest (of
         * those, the ones whose own next task comes last): taken one by
         * one, each marked held (held[u] = k + 1) so the next picks
         * another. */
        uint32_t nk = qv__shared_units(p, r);
        if (nk) {
            const qv_plat_res *h = &p->res[p->host_res];
            double ts = t;
            for (uint32_t j = 0; j < nk; j++) {
                uint32_t hu = UINT32_MAX;
                double hs = 0;
                for (uint32_t u = h->first_unit; u < h->first_unit + h->units; u++) {
                    if (held[u] == k + 1)
                        continue;
                    double s = avail[u] > t ? avail[u] : t;
                    if (hu == UINT32_MAX || s < hs || (s == hs && due[u] > due[hu])) {
                        hs = s;
                        hu = u;
                    }
                }
                held[hu] = k + 1;
                if (hs > ts)
                    ts = hs;
            }
            t = ts;
        }
        start[i] = t;
        end[i] = t + w;
        avail[unit[i]] = end[i];
        if (nk)
            for (uint32_t u = p->res[p->host_res].first_unit;
                 u < p->res[p->host_res].first_unit + p->res[p->host_res].units; u++)
                if (held[u] == k + 1)
                    avail[u] = end[i];
        done[i] = 1;
        if (end[i] > mk)
            mk = end[i];
    }
    *ms = mk;
out:
    free(rc);
    free(avail);
    free(done);
    free(nxt);
    free(due);
    free(held);
    return err;
}

/* Relative tolerance: plans are sums of doubles computed in another order. */
static double tol(double x)
{
    return 1e-9 * (fabs(x) > 1 ? fabs(x) : 1) + 1e-9;
}

typedef struct sl {
    double s, e;
    uint32_t i;
} sl;
/* By start, then end: a zero-length task at the instant another starts
 * sits before it, which is no overlap. */
static int cmp_sl(const void *a, const void *b)
{
    const sl *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    if (x->e != y->e)
        return x->e < y->e ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int qv_sim_validate(const qv_dag *g, const qv_plat *p, const qv_catalog *cat,
                    const qv_plan *pl, qv_diag *diag)
{
    if (!g->topo) {
        qv__part_diag(diag, g->name, 0, 0, "graph is not finalized");
        return QV_EINVAL;
    }
    return cat ? qv__part_sim_validate_cat(g, p, cat, pl, diag)
               : qv__part_sim_validate(g, p, pl, diag);
}

typedef struct ev {
    double t;
    int d; /* + the units a task holds as it starts, - as it ends */
} ev;
/* By time, ends first: a task that starts as another ends runs after it. */
static int cmp_ev(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->d - y->d;
}

/* 0, or QV_EINVAL when the tasks of the host's CPU and of devices on its
 * cores (shares_cpu, each holding qv__shared_units of its units) hold more
 * at one instant than the CPU has units. */
static int host_overbooked(const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                           qv_diag *diag)
{
    uint32_t h = p->host_res, k = 0;
    bool shared = false;
    for (uint32_t r = 0; r < p->nres; r++)
        shared |= p->res[r].shares_cpu != 0;
    if (h == UINT32_MAX || !shared)
        return 0;
    ev *e = malloc(((size_t)g->n * 2 + 1) * sizeof *e);
    if (!e)
        return QV_ENOMEM;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t r = p->unit_res[pl->unit[i]];
        int units = r == h ? 1 : (int)qv__shared_units(p, r);
        if (!units || !(pl->end[i] > pl->start[i]))
            continue;
        e[k++] = (ev){pl->start[i], units};
        /* rounding: ends a few ulps late overlap nothing */
        e[k++] = (ev){pl->end[i] - tol(pl->end[i]), -units};
    }
    qsort(e, k, sizeof *e, cmp_ev);
    int err = 0, busy = 0;
    for (uint32_t j = 0; j < k && !err; j++)
        if ((busy += e[j].d) > (int)p->res[h].units) {
            qv__part_diag(diag, g->name, 0, 0,
                          "%d units of the host's cores held at %.6g us (by its "
                          "CPU's tasks and the devices that run on them), but %s "
                          "has %u units",
                          busy, e[j].t, p->res[h].name, p->res[h].units);
            err = QV_EINVAL;
        }
    free(e);
    return err;
}

int qv__part_sim_validate(const qv_dag *g, const qv_plat *p, const qv_plan *pl,
                          qv_diag *diag)
{
    if (pl->n != g->n) {
        qv__part_diag(diag, g->name, 0, 0, "plan has %u tasks, graph %u nodes", pl->n,
                      g->n);
        return QV_EINVAL;
    }
    for (uint32_t i = 0; pl->fused && i < g->n; i++)
        if (pl->fused[i] != UINT32_MAX) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld runs in a fused kernel: the plan needs its "
                          "catalog",
                          (long long)g->ids[i]);
            return QV_EINVAL;
        }
    int *rc = malloc(p->nres * sizeof *rc);
    sl *v = malloc(((size_t)g->n + 1) * sizeof *v);
    uint32_t *cnt = calloc((size_t)p->nunits + 1, sizeof *cnt);
    int err = QV_EINVAL;
    if (!rc || !v || !cnt) {
        err = QV_ENOMEM;
        goto out;
    }
    for (uint32_t r = 0; r < p->nres; r++)
        rc[r] = res_class(g, p, r);
    double mk = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        long long id = (long long)g->ids[i];
        if (pl->unit[i] >= p->nunits) {
            qv__part_diag(diag, g->name, 0, 0, "node %lld: no such unit %u", id,
                          pl->unit[i]);
            goto out;
        }
        double w = exec_time(g, p, rc, i, pl->unit[i]);
        const qv_plat_res *res = &p->res[p->unit_res[pl->unit[i]]];
        if (isinf(w)) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld placed on %s (class %s), for which it has no "
                          "cost",
                          id, res->name, res->cls);
            goto out;
        }
        /* Written so that NaN and infinite times fail every test (a plan
         * of +inf starts and ends passed: adversarial testing). */
        if (!(pl->start[i] >= 0) || !isfinite(pl->end[i]) ||
            !(fabs(pl->end[i] - pl->start[i] - w) <= tol(pl->end[i]))) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld: runs %.6g us from %.6g, but takes %.6g us on "
                          "%s",
                          id, pl->end[i] - pl->start[i], pl->start[i], w, res->name);
            goto out;
        }
        if (pl->end[i] > mk)
            mk = pl->end[i];
        cnt[pl->unit[i] + 1]++;
    }
    if (!(pl->lower_bound >= 0 && pl->lower_bound <= mk + tol(mk))) {
        qv__part_diag(diag, g->name, 0, 0,
                      "lower bound %.6g us; expected 0 to the makespan, %.6g us",
                      pl->lower_bound, mk);
        goto out;
    }
    if (!(fabs(mk - pl->makespan) <= tol(mk))) {
        qv__part_diag(diag, g->name, 0, 0, "makespan %.6g us, last task ends at %.6g",
                      pl->makespan, mk);
        goto out;
    }
    for (uint32_t e = 0; e < g->m; e++) {
        uint32_t s = g->esrc[e], d = g->edst[e];
        double arrive = pl->end[s] + qv_plat_comm(p, p->unit_res[pl->unit[s]],
                                                  p->unit_res[pl->unit[d]], g->ebytes[e]);
        if (pl->start[d] + tol(arrive) < arrive) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld starts at %.6g us, before its input from node "
                          "%lld arrives at %.6g us",
                          (long long)g->ids[d], pl->start[d], (long long)g->ids[s],
                          arrive);
            goto out;
        }
    }
    /* Bucket the tasks by unit, sort each unit by start, check overlaps. */
    for (uint32_t u = 0; u < p->nunits; u++)
        cnt[u + 1] += cnt[u];
    for (uint32_t i = 0; i < g->n; i++)
        v[cnt[pl->unit[i]]++] = (sl){pl->start[i], pl->end[i], i};
    for (uint32_t u = p->nunits; u > 0; u--)
        cnt[u] = cnt[u - 1];
    cnt[0] = 0;
    for (uint32_t u = 0; u < p->nunits; u++) {
        sl *b = v + cnt[u];
        uint32_t k = cnt[u + 1] - cnt[u];
        qsort(b, k, sizeof *b, cmp_sl);
        for (uint32_t j = 1; j < k; j++)
            if (b[j].s + tol(b[j - 1].e) < b[j - 1].e) {
                qv__part_diag(
                    diag, g->name, 0, 0, "nodes %lld and %lld overlap on unit %u",
                    (long long)g->ids[b[j - 1].i], (long long)g->ids[b[j].i], u);
                goto out;
            }
    }
    err = host_overbooked(g, p, pl, diag);
out:
    free(rc);
    free(v);
    free(cnt);
    return err;
}
