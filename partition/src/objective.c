/*
 * objective.c - planning for money as well as time (qv_plan_opts.cost_weight
 * and deadline_us; docs/partition.md, "Objective"). With cost_weight w > 0,
 * an algorithm runs on the whole platform and again without its most
 * expensive resources, one more left out each time (decreasing
 * cost_per_hour) while every node can still run somewhere: the "lowest cost
 * resource that meets the requirements" is among the candidates only if
 * some candidate avoids the dearer ones. Every candidate (for quiver, each
 * of heft, peft, ranks, metis and refined on each set of resources) goes to
 * a qv__pick, which keeps those that no other beats on both makespan and
 * money, and chooses the one minimising
 *     (1-w) makespan / best makespan + w money / most money
 * among the candidates that meet the deadline (best and most over those
 * too); when none does, the fastest. w = 0 never comes here: plan.c runs
 * the algorithm alone, so time-only plans stay what they were.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"

typedef struct pick_cand {
    uint32_t *unit;
    double *start, *end;
    double ms, money;
    const char *variant;
    uint32_t nparts;
} pick_cand;

struct qv__pick {
    const qv__ctx *c;   /* the whole platform */
    uint32_t n;         /* nodes */
    double deadline_us; /* 0: none */
    int compact;        /* compact each candidate first (quiver) */
    pick_cand *v;       /* the non-dominated candidates, in offer order */
    uint32_t nv, cap;
    pick_cand spare;    /* arrays of a candidate not kept, for the next */
    double best_ms, most_money; /* over the candidates meeting the deadline */
    int any_meets;
};

static void cand_free(pick_cand *x)
{
    free(x->unit);
    free(x->start);
    free(x->end);
}

static int meets(const qv__pick *k, double ms)
{
    return k->deadline_us <= 0 || ms <= k->deadline_us;
}

/* Room for one candidate: k's spare (left by a candidate not kept), else
 * new arrays. 0 or QV_ENOMEM. */
static int cand_alloc(qv__pick *k, pick_cand *x)
{
    if (k->spare.unit) {
        *x = k->spare;
        memset(&k->spare, 0, sizeof k->spare);
        return 0;
    }
    size_t n = (size_t)k->n + 1;
    *x = (pick_cand){malloc(n * sizeof *x->unit), malloc(n * sizeof *x->start),
                     malloc(n * sizeof *x->end), 0, 0, NULL, 0};
    if (x->unit && x->start && x->end)
        return 0;
    cand_free(x);
    return QV_ENOMEM;
}

int qv__pick_offer(qv__pick *k, const uint32_t *unit, const double *start,
                   const double *end, const char *variant, uint32_t nparts)
{
    uint32_t n = k->n;
    pick_cand x;
    int rc = cand_alloc(k, &x);
    if (rc)
        return rc;
    memcpy(x.unit, unit, n * sizeof *unit);
    memcpy(x.start, start, n * sizeof *start);
    memcpy(x.end, end, n * sizeof *end);
    /* quiver's plans are compacted before they are weighed, so that the
     * makespan and money weighed are those of the plan returned */
    if (k->compact && (rc = qv__part_compact(k->c, x.unit, x.start, x.end))) {
        cand_free(&x);
        return rc;
    }
    x.variant = variant;
    x.nparts = nparts;
    x.ms = 0;
    for (uint32_t i = 0; i < n; i++)
        if (x.end[i] > x.ms)
            x.ms = x.end[i];
    x.money = qv__part_money(k->c->p, n, x.unit, x.ms, NULL);
    if (meets(k, x.ms)) {
        if (!k->any_meets || x.ms < k->best_ms)
            k->best_ms = x.ms;
        if (!k->any_meets || x.money > k->most_money)
            k->most_money = x.money;
        k->any_meets = 1;
    }
    /* A candidate as slow and as dear as one kept is never chosen: the
     * objective grows with both, and the one kept meets a deadline
     * whenever this one does. Of two equal ones the first stays. */
    for (uint32_t j = 0; j < k->nv; j++)
        if (k->v[j].ms <= x.ms && k->v[j].money <= x.money) {
            k->spare = x;
            return 0;
        }
    uint32_t kept = 0;
    for (uint32_t j = 0; j < k->nv; j++) {
        if (x.ms <= k->v[j].ms && x.money <= k->v[j].money)
            cand_free(&k->v[j]);
        else
            k->v[kept++] = k->v[j];
    }
    k->nv = kept;
    if (k->nv == k->cap) {
        uint32_t nc = k->cap ? 2 * k->cap : 8;
        pick_cand *nv = realloc(k->v, nc * sizeof *nv);
        if (!nv) {
            cand_free(&x);
            return QV_ENOMEM;
        }
        k->v = nv;
        k->cap = nc;
    }
    k->v[k->nv++] = x;
    return 0;
}

/* The candidate the objective chooses (k has at least one). Ties go to the
 * faster, then the cheaper, then the first offered. */
static const pick_cand *pick_choose(const qv__pick *k, double w)
{
    const double tiny = 1e-300;
    const pick_cand *best = NULL;
    double bf = INFINITY;
    for (uint32_t j = 0; j < k->nv; j++) {
        const pick_cand *x = &k->v[j];
        double f;
        if (k->any_meets) {
            if (!meets(k, x->ms))
                continue;
            f = (1 - w) * x->ms / (k->best_ms > tiny ? k->best_ms : tiny) +
                w * x->money / (k->most_money > tiny ? k->most_money : tiny);
        } else {
            f = x->ms; /* no candidate meets the deadline: the fastest */
        }
        if (!best || f < bf ||
            (f == bf && (x->ms < best->ms || (x->ms == best->ms && x->money < best->money)))) {
            best = x;
            bf = f;
        }
    }
    return best;
}

/* Runs algorithm a on c and offers what it makes to k. */
static int run_algo(const qv__ctx *c, qv_algo a, qv__pick *k, uint32_t *u, double *s,
                    double *e)
{
    uint32_t nparts = 0;
    const char *variant = qv_algo_name(a);
    int rc;
    switch (a) {
    case QV_ALGO_QUIVER:
        return qv__part_quiver_cands(c, k, u, s, e, &nparts, &variant);
    case QV_ALGO_HEFT:
        rc = qv__part_heft(c, u, s, e);
        break;
    case QV_ALGO_PEFT:
        rc = qv__part_peft(c, u, s, e);
        break;
    case QV_ALGO_METIS:
        rc = qv__part_metis_only(c, u, s, e, &nparts);
        break;
    default:
        return QV_EINVAL;
    }
    return rc ? rc : qv__pick_offer(k, u, s, e, variant, nparts);
}

/* The next resource to leave out: the dearest kept one (cost_per_hour > 0;
 * the first of equal ones) whose nodes can all run on the rest; one that
 * cannot go is marked in tried and stays. UINT32_MAX when none can go. The
 * host's CPU stays while a kept device runs on its cores (shares_cpu):
 * those devices' tasks hold its units. */
static uint32_t next_to_drop(const qv__ctx *c, const uint8_t *keep, uint8_t *tried)
{
    const qv_plat *p = c->p;
    const qv_dag *g = c->g;
    bool host_held = false;
    for (uint32_t r = 0; r < p->nres; r++)
        host_held |= keep[r] && p->res[r].shares_cpu && p->host_res != UINT32_MAX;
    for (;;) {
        uint32_t d = UINT32_MAX;
        for (uint32_t r = 0; r < p->nres; r++)
            if (keep[r] && !tried[r] && p->res[r].cost_per_hour > 0 &&
                !(host_held && r == p->host_res) &&
                (d == UINT32_MAX || p->res[r].cost_per_hour > p->res[d].cost_per_hour))
                d = r;
        if (d == UINT32_MAX)
            return d;
        uint32_t i = 0;
        for (; i < g->n; i++) {
            uint32_t r = 0;
            while (r < p->nres && (r == d || !keep[r] || isinf(qv__w(c, i, r))))
                r++;
            if (r == p->nres)
                break; /* node i runs only on d (among the kept) */
        }
        if (i == g->n)
            return d;
        /* d must stay; try the next dearest */
        tried[d] = 1;
    }
}

int qv__part_objective(const qv__ctx *c, qv_algo a, double w, double deadline_us,
                       uint32_t *unit, double *start, double *end, uint32_t *nparts,
                       const char **variant)
{
    const qv_plat *p = c->p;
    uint32_t n = c->g->n;
    qv__pick k;
    memset(&k, 0, sizeof k);
    k.c = c;
    k.n = n;
    k.deadline_us = deadline_us;
    k.compact = a == QV_ALGO_QUIVER;
    uint8_t *keep = malloc((size_t)p->nres + 1);
    uint8_t *tried = calloc((size_t)p->nres + 1, 1);
    int rc = QV_ENOMEM;
    if (!keep || !tried)
        goto out;
    memset(keep, 1, p->nres);
    /* the whole platform (c itself), then one resource fewer each time */
    if ((rc = run_algo(c, a, &k, unit, start, end)))
        goto out;
    for (uint32_t d; (d = next_to_drop(c, keep, tried)) != UINT32_MAX;) {
        keep[d] = 0;
        qv__ctx sub;
        if (qv__part_cancelled(c)) {
            rc = QV_ECANCELED;
            goto out;
        }
        if ((rc = qv__part_ctx_init_keep(&sub, c->g, p, keep, NULL)))
            goto out;
        sub.cancel = c->cancel;
        sub.cancel_arg = c->cancel_arg;
        rc = run_algo(&sub, a, &k, unit, start, end);
        qv__part_ctx_fini(&sub);
        if (rc)
            goto out;
    }
    const pick_cand *x = pick_choose(&k, w);
    if (!x) {
        rc = QV_EINVAL; /* nothing offered: cannot happen */
        goto out;
    }
    memcpy(unit, x->unit, n * sizeof *unit);
    memcpy(start, x->start, n * sizeof *start);
    memcpy(end, x->end, n * sizeof *end);
    *nparts = x->nparts;
    *variant = x->variant;
    rc = 0;
out:
    for (uint32_t j = 0; j < k.nv; j++)
        cand_free(&k.v[j]);
    cand_free(&k.spare);
    free(k.v);
    free(keep);
    free(tried);
    return rc;
}
