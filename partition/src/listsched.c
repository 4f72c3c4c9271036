/*
 * listsched.c - what every list scheduler here shares: binding a graph to a
 * platform (execution time per resource, mean costs for ranks), upward
 * ranks, per-unit timelines with the insertion policy of HEFT, and the
 * earliest-finish-time placement loop that HEFT, PEFT and the part-aware
 * schedulers of place.c all run.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "part.h"

int qv__part_ctx_init(qv__ctx *c, const qv_dag *g, const qv_plat *p, qv_diag *diag)
{
    return qv__part_ctx_init_keep(c, g, p, NULL, diag);
}

int qv__part_ctx_init_keep(qv__ctx *c, const qv_dag *g, const qv_plat *p,
                           const uint8_t *keep, qv_diag *diag)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->p = p;
    c->keep = keep;
    c->res_class = malloc(p->nres * sizeof *c->res_class);
    c->w = malloc(((size_t)g->n * p->nres + 1) * sizeof *c->w);
    c->wavg = malloc(((size_t)g->n + 1) * sizeof *c->wavg);
    if (!c->res_class || !c->w || !c->wavg) {
        qv__part_ctx_fini(c);
        return QV_ENOMEM;
    }
    for (uint32_t r = 0; r < p->nres; r++) {
        c->res_class[r] = -1;
        for (uint32_t k = 0; k < g->nclass; k++)
            if (!strcmp(g->class_name[k], p->res[r].cls))
                c->res_class[r] = (int)k;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        double sum = 0, cnt = 0;
        for (uint32_t r = 0; r < p->nres; r++) {
            double w = INFINITY;
            if (c->res_class[r] >= 0 && (!keep || keep[r]))
                w = g->cost[(size_t)i * g->nclass + (uint32_t)c->res_class[r]] /
                    p->res[r].speed;
            c->w[(size_t)i * p->nres + r] = w;
            if (!isinf(w)) {
                sum += w * p->res[r].units;
                cnt += p->res[r].units;
            }
        }
        if (!cnt) {
            qv__part_diag(diag, g->name, 0, 0,
                          "node %lld (%.64s) has a cost for no device class of "
                          "platform '%s'",
                          (long long)g->ids[i], g->func_name[g->func[i]], p->name);
            qv__part_ctx_fini(c);
            return QV_EINVAL;
        }
        c->wavg[i] = sum / cnt;
    }
    /* Mean transfer cost over ordered pairs of distinct units (HEFT's c̄):
     * two units of one resource share its memory, so their pair costs 0. */
    double U = p->nunits, sl = 0, sb = 0;
    if (keep) {
        U = 0;
        for (uint32_t r = 0; r < p->nres; r++)
            U += keep[r] ? p->res[r].units : 0;
    }
    c->nunits = (uint32_t)U;
    if (U > 1) {
        for (uint32_t a = 0; a < p->nres; a++)
            for (uint32_t b = 0; b < p->nres; b++) {
                if (keep && (!keep[a] || !keep[b]))
                    continue;
                double ua = p->res[a].units, ub = p->res[b].units;
                double pairs = a == b ? ua * (ua - 1) : ua * ub;
                sl += pairs * p->lat[(size_t)a * p->nres + b];
                sb += pairs * p->inv_bw[(size_t)a * p->nres + b];
            }
        c->mean_lat = sl / (U * (U - 1));
        c->mean_inv_bw = sb / (U * (U - 1));
    }
    return 0;
}

void qv__part_ctx_fini(qv__ctx *c)
{
    free(c->res_class);
    free(c->w);
    free(c->wavg);
    memset(c, 0, sizeof *c);
}

void qv__part_rank_upward(const qv__ctx *c, double *rank)
{
    const qv_dag *g = c->g;
    for (uint32_t t = g->n; t-- > 0;) {
        uint32_t i = g->topo[t];
        double best = 0;
        for (uint32_t j = g->succ_off[i]; j < g->succ_off[i + 1]; j++) {
            uint32_t e = g->succ_edge[j];
            double v = qv__mean_comm(c, g->ebytes[e]) + rank[g->edst[e]];
            if (v > best)
                best = v;
        }
        rank[i] = c->wavg[i] + best;
    }
}

/* A binary max-heap of node ids keyed by prio, for ready lists. */
typedef struct heap {
    uint32_t *v;
    uint32_t n;
    const double *key;
} heap;

static int higher(const heap *h, uint32_t a, uint32_t b)
{
    double ka = h->key[a], kb = h->key[b];
    return ka > kb || (ka == kb && a < b);
}

static void heap_push(heap *h, uint32_t x)
{
    uint32_t i = h->n++;
    while (i && higher(h, x, h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static uint32_t heap_pop(heap *h)
{
    uint32_t top = h->v[0], x = h->v[--h->n], i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, b = i;
        uint32_t bv = x;
        if (l < h->n && higher(h, h->v[l], bv)) {
            b = l;
            bv = h->v[l];
        }
        if (r < h->n && higher(h, h->v[r], bv))
            b = r;
        if (b == i)
            break;
        h->v[i] = h->v[b];
        i = b;
    }
    if (h->n)
        h->v[i] = x;
    return top;
}

int qv__part_priority_order(const qv_dag *g, const double *prio, uint32_t *order)
{
    uint32_t *left = malloc(((size_t)g->n + 1) * sizeof *left);
    heap h = {malloc(((size_t)g->n + 1) * sizeof(uint32_t)), 0, prio};
    if (!left || !h.v) {
        free(left);
        free(h.v);
        return QV_ENOMEM;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        left[i] = g->pred_off[i + 1] - g->pred_off[i];
        if (!left[i])
            heap_push(&h, i);
    }
    uint32_t k = 0;
    while (h.n) {
        uint32_t v = heap_pop(&h);
        order[k++] = v;
        for (uint32_t j = g->succ_off[v]; j < g->succ_off[v + 1]; j++) {
            uint32_t d = g->edst[g->succ_edge[j]];
            if (--left[d] == 0)
                heap_push(&h, d);
        }
    }
    free(left);
    free(h.v);
    return 0;
}

/* ---- timelines: a treap of slots (part.h) ---- */

/* The gap before x's slot, as the subtree maxima count it: the first slot's
 * gap (idle from time 0, often the longest, e.g. every unit waiting for a
 * star's hub) is left out of them and tried on its own by
 * qv__part_tl_find, so that it does not draw every search to the left. */
static double tl_gap(const qv__timeline *t, uint32_t x)
{
    return x == t->first ? -INFINITY : t->v[x].s - t->v[x].pe;
}

static void tl_pull(const qv__timeline *t, uint32_t x)
{
    qv__tlnode *v = t->v, *n = &v[x];
    double m = tl_gap(t, x);
    if (n->l && v[n->l].maxgap > m)
        m = v[n->l].maxgap;
    if (n->r && v[n->r].maxgap > m)
        m = v[n->r].maxgap;
    n->maxgap = m;
    n->size = 1 + v[n->l].size + v[n->r].size;
}

/* Splits x into the first k slots (*a) and the rest (*b). */
static void tl_split(const qv__timeline *t, uint32_t x, uint32_t k, uint32_t *a,
                     uint32_t *b)
{
    qv__tlnode *v = t->v;
    if (!x) {
        *a = *b = 0;
        return;
    }
    if (v[v[x].l].size >= k) {
        tl_split(t, v[x].l, k, a, &v[x].l);
        *b = x;
    } else {
        tl_split(t, v[x].r, k - v[v[x].l].size - 1, &v[x].r, b);
        *a = x;
    }
    tl_pull(t, x);
}

/* All slots of a, then all of b. */
static uint32_t tl_merge(const qv__timeline *t, uint32_t a, uint32_t b)
{
    qv__tlnode *v = t->v;
    if (!a || !b)
        return a ? a : b;
    if (v[a].prio > v[b].prio) {
        v[a].r = tl_merge(t, v[a].r, b);
        tl_pull(t, a);
        return a;
    }
    v[b].l = tl_merge(t, a, v[b].l);
    tl_pull(t, b);
    return b;
}

/* Sets the first slot's pe (the gap before it changed); returns the old. */
static double tl_set_first_pe(const qv__timeline *t, uint32_t x, double pe)
{
    qv__tlnode *v = t->v;
    double old;
    if (v[x].l) {
        old = tl_set_first_pe(t, v[x].l, pe);
    } else {
        old = v[x].pe;
        v[x].pe = pe;
    }
    tl_pull(t, x);
    return old;
}

/*
 * The first slot j, in order, before which a task of length dur that is
 * ready at `ready` fits: e_j > ready and max(ready, pe_j) + dur <= s_j,
 * the test of a scan over the slots, computed the same way so that plans
 * do not change with the data structure. The test implies s_j >= ready +
 * dur; both that and e_j > ready hold from some rank on (starts and ends
 * both increase with rank), so the walk goes right of the slots before
 * that rank. Subtrees whose largest gap is too short are pruned; gaps are
 * differences, rounded, so the pruning allows `slack` (a few ulps of the
 * latest time) and only the exact test accepts a slot. *rank gets j's
 * rank; 0 when no slot fits.
 */
static uint32_t tl_first_fit(qv__timeline *t, uint32_t x, uint32_t base, double ready,
                             double dur, double slack, uint32_t *rank)
{
    const qv__tlnode *v = t->v;
    while (x && v[x].maxgap >= dur - slack) {
        t->visits++;
        uint32_t left = v[v[x].l].size;
        if (v[x].s < ready + dur || v[x].e <= ready) {
            base += left + 1;
            x = v[x].r;
            continue;
        }
        uint32_t j = tl_first_fit(t, v[x].l, base, ready, dur, slack, rank);
        if (j)
            return j;
        if (x != t->first && (ready > v[x].pe ? ready : v[x].pe) + dur <= v[x].s) {
            *rank = base + left;
            return x;
        }
        base += left + 1;
        x = v[x].r;
    }
    return 0;
}

double qv__part_tl_find(qv__timeline *t, double ready, double dur, uint32_t *pos)
{
    *pos = t->n;
    if (!t->n || t->last_e <= ready) /* idle from `ready` on */
        return ready > t->last_e ? ready : t->last_e;
    const qv__tlnode *f = &t->v[t->first]; /* idle from 0 until f->s */
    /* No gap is long enough, by the gaps' rounded lengths: after the last
     * slot, as the scan this replaces decided it (plans stay the same). */
    if ((f->s > t->v[t->root].maxgap ? f->s : t->v[t->root].maxgap) < dur)
        return ready > t->last_e ? ready : t->last_e;
    if (f->s >= ready + dur && f->e > ready) {
        *pos = 0;
        return ready;
    }
    double top = t->last_e > ready + dur ? t->last_e : ready + dur;
    uint32_t rank;
    uint32_t j = tl_first_fit(t, t->root, 0, ready, dur, 4 * DBL_EPSILON * top, &rank);
    if (j) {
        *pos = rank;
        return ready > t->v[j].pe ? ready : t->v[j].pe;
    }
    return ready > t->last_e ? ready : t->last_e;
}

int qv__part_tl_insert(qv__timeline *t, uint32_t pos, double s, double e)
{
    if (t->n + 1 >= t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 16;
        qv__tlnode *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return QV_ENOMEM;
        if (!t->cap)
            memset(&nv[0], 0, sizeof nv[0]);
        t->v = nv;
        t->cap = nc;
    }
    uint32_t x = ++t->n; /* node ids 1..n; 0 is the empty tree */
    uint32_t a, b;
    tl_split(t, t->root, pos, &a, &b);
    t->v[x] = (qv__tlnode){s, e, 0, 0, 0, 0, 1, (uint32_t)qv__part_rng(&t->rng)};
    if (pos == 0)
        t->first = x; /* before b's first slot gets its gap back */
    /* the new slot takes over the gap before b's first slot, up to s */
    t->v[x].pe = b ? tl_set_first_pe(t, b, e) : t->last_e;
    if (!b)
        t->last_e = e;
    tl_pull(t, x);
    t->root = tl_merge(t, tl_merge(t, a, x), b);
    return 0;
}

void qv__part_tl_fini(qv__timeline *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

double qv__part_ready(const qv__ctx *c, uint32_t i, uint32_t r, const uint32_t *unit,
                      const double *end)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    double t = 0;
    for (uint32_t j = g->pred_off[i]; j < g->pred_off[i + 1]; j++) {
        uint32_t e = g->pred_edge[j], s = g->esrc[e];
        double a = end[s] + qv_plat_comm(p, p->unit_res[unit[s]], r, g->ebytes[e]);
        if (a > t)
            t = a;
    }
    return t;
}

/* The earliest start >= ready at which unit u and unit h of the host's
 * CPU are both idle for dur (u's device runs on the host's cores, so it
 * holds one of them while it runs); the slots' ranks in *pu and *ph. Each
 * round moves t to a later gap of one of the two timelines, or ends: both
 * are idle after their last slot. */
static double joint_find(qv__timeline *tl, uint32_t u, uint32_t h, double ready, double dur,
                         uint32_t *pu, uint32_t *ph)
{
    double t = ready;
    for (;;) {
        double a = qv__part_tl_find(&tl[u], t, dur, pu);
        double b = qv__part_tl_find(&tl[h], a, dur, ph);
        if (b == a)
            return a;
        t = b;
    }
}

typedef struct hgap {
    double b; /* the gap's start on that unit */
    uint32_t u, pos;
} hgap;

static int cmp_hgap(const void *x, const void *y)
{
    const hgap *a = x, *b = y;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->u < b->u ? -1 : a->u > b->u;
}

/* As joint_find, for a device whose task holds nk >= 2 of the host's CPU
 * units (an OpenCL device on the host's cores spreads one kernel over
 * several of them: PoCL takes 1.7 cores for a 64 x 64 tile's kernel on 2):
 * the earliest start >= ready at which u and nk of units h0..h0+nh-1 are
 * idle for dur; the nk units and their slots' ranks first in g (nh
 * entries, scratch). Each round moves t to the latest of u's gap and the
 * nk earliest of the host's from there, or ends when those all start at
 * t. After JOINT_ROUNDS rounds, after the last slots of the nk units that
 * end first: gaps of the CPU's units that never line up (two chains that
 * keep them busy in turn) took a round per slot, and planning 9001 nodes
 * took 634 ms instead of 3 (review). */
#define JOINT_ROUNDS 16
static double joint_find_many(qv__timeline *tl, uint32_t u, uint32_t h0, uint32_t nh,
                              uint32_t nk, double ready, double dur, uint32_t *pu,
                              hgap *g)
{
    double t = ready;
    for (unsigned round = 0;; round++) {
        if (round == JOINT_ROUNDS) {
            for (uint32_t j = 0; j < nh; j++)
                g[j] = (hgap){tl[h0 + j].last_e, h0 + j, tl[h0 + j].n};
            qsort(g, nh, sizeof *g, cmp_hgap);
            return qv__part_tl_find(&tl[u], g[nk - 1].b > t ? g[nk - 1].b : t, dur, pu);
        }
        double a = qv__part_tl_find(&tl[u], t, dur, pu);
        for (uint32_t j = 0; j < nh; j++) {
            g[j].u = h0 + j;
            g[j].b = qv__part_tl_find(&tl[h0 + j], a, dur, &g[j].pos);
        }
        qsort(g, nh, sizeof *g, cmp_hgap);
        double m = g[nk - 1].b > a ? g[nk - 1].b : a;
        if (m == a)
            return a;
        t = m;
    }
}

/* The list scheduler's choice for a node so far: its unit u (slot rank
 * pos), start s and finish eft (key: eft plus the lookahead), and the
 * host's CPU units it holds too: one (h at rank hpos; UINT32_MAX none),
 * or nk of them (joint_find_many's, kept by the caller). */
typedef struct pick {
    double key, eft, s;
    uint32_t u, pos, h, hpos, nk;
} pick;

/* Takes start s on unit u (rank pos) for a node of w us, extra us of
 * lookahead after it, as b's choice when it finishes first (ties: the
 * earlier finish itself); it then holds no CPU unit, until the caller
 * says which. */
static bool offer(pick *b, double s, double w, double extra, uint32_t u, uint32_t pos)
{
    double eft = s + w;
    if (!(eft + extra < b->key || (eft + extra == b->key && eft < b->eft)))
        return false;
    *b = (pick){eft + extra, eft, s, u, pos, UINT32_MAX, 0, 0};
    return true;
}

int qv__part_list_schedule(const qv__ctx *c, const uint32_t *order,
                           const uint32_t *allowed_res, const double *oct, uint32_t *unit,
                           double *start, double *end)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    qv__timeline *tl = calloc(p->nunits, sizeof *tl);
    /* Scratch of joint_find_many, and the best candidate's host units. */
    hgap *hg = malloc(((size_t)p->nunits + 1) * sizeof *hg);
    hgap *best_hg = malloc(((size_t)p->nunits + 1) * sizeof *best_hg);
    if (!tl || !hg || !best_hg) {
        free(tl);
        free(hg);
        free(best_hg);
        return QV_ENOMEM;
    }
    int rc = 0;
    for (uint32_t k = 0; k < g->n && !rc; k++) {
        if ((k & 1023) == 0 && qv__part_cancelled(c)) { /* the first too */
            rc = QV_ECANCELED;
            break;
        }
        uint32_t i = order[k];
        uint32_t only = allowed_res ? allowed_res[i] : UINT32_MAX;
        pick b = {INFINITY, INFINITY, 0, UINT32_MAX, 0, UINT32_MAX, 0, 0};
        for (uint32_t r = 0; r < p->nres; r++) {
            double w = qv__w(c, i, r);
            if (isinf(w) || (only != UINT32_MAX && only != r))
                continue;
            double drt = qv__part_ready(c, i, r, unit, end);
            double extra = oct ? oct[(size_t)i * p->nres + r] : 0;
            const qv_plat_res *res = &p->res[r];
            uint32_t hr = qv__shared_host(c, r);
            const qv_plat_res *host = hr != UINT32_MAX ? &p->res[hr] : NULL;
            uint32_t nk = host ? qv__shared_units(p, r) : 0;
            for (uint32_t u = res->first_unit; u < res->first_unit + res->units; u++) {
                uint32_t pos = 0;
                if (nk >= 2) {
                    double s = joint_find_many(tl, u, host->first_unit, host->units, nk,
                                               drt, w, &pos, hg);
                    if (offer(&b, s, w, extra, u, pos)) {
                        b.nk = nk;
                        memcpy(best_hg, hg, nk * sizeof *hg);
                    }
                } else if (!host) {
                    double s = qv__part_tl_find(&tl[u], drt, w, &pos);
                    offer(&b, s, w, extra, u, pos);
                } else {
                    /* h: the host's CPU unit it holds too; none starts it
                     * before u alone would (lb) */
                    uint32_t lbpos, hpos;
                    double lb = qv__part_tl_find(&tl[u], drt, w, &lbpos);
                    for (uint32_t h = host->first_unit;
                         h < host->first_unit + host->units; h++) {
                        double s = joint_find(tl, u, h, lb, w, &pos, &hpos);
                        if (offer(&b, s, w, extra, u, pos)) {
                            b.h = h;
                            b.hpos = hpos;
                        }
                        if (tl[h].n == 0 || s == lb)
                            break; /* no other CPU unit does better */
                    }
                }
                /* Identical idle units: the first one is as good as any. */
                if (tl[u].n == 0)
                    break;
            }
        }
        if (b.u == UINT32_MAX) {
            rc = QV_EINVAL;
            break;
        }
        unit[i] = b.u;
        start[i] = b.s;
        end[i] = b.eft;
        rc = qv__part_tl_insert(&tl[b.u], b.pos, b.s, b.eft);
        if (!rc && b.h != UINT32_MAX)
            rc = qv__part_tl_insert(&tl[b.h], b.hpos, b.s, b.eft);
        for (uint32_t j = 0; !rc && j < b.nk; j++)
            rc = qv__part_tl_insert(&tl[best_hg[j].u], best_hg[j].pos, b.s, b.eft);
    }
    for (uint32_t u = 0; u < p->nunits; u++)
        qv__part_tl_fini(&tl[u]);
    free(tl);
    free(hg);
    free(best_hg);
    return rc;
}
