/*
 * listsched.c - what every list scheduler here shares: binding a graph to a
 * platform (execution time per resource, mean costs for ranks), upward
 * ranks, per-unit timelines with the insertion policy of HEFT, and the
 * earliest-finish-time placement loop that HEFT, PEFT and the part-aware
 * schedulers of place.c all run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "part.h"

int qv__part_ctx_init(qv__ctx *c, const qv_dag *g, const qv_plat *p, qv_pdiag *diag)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->p = p;
    c->res_class = malloc(p->nres * sizeof *c->res_class);
    c->w = malloc(((size_t)g->n * p->nres + 1) * sizeof *c->w);
    c->wavg = malloc(((size_t)g->n + 1) * sizeof *c->wavg);
    if (!c->res_class || !c->w || !c->wavg) {
        qv__part_ctx_fini(c);
        return -ENOMEM;
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
            if (c->res_class[r] >= 0)
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
            return -EINVAL;
        }
        c->wavg[i] = sum / cnt;
    }
    /* Mean transfer cost over ordered pairs of distinct units (HEFT's c̄):
     * two units of one resource share its memory, so their pair costs 0. */
    double U = p->nunits, sl = 0, sb = 0;
    if (U > 1) {
        for (uint32_t a = 0; a < p->nres; a++)
            for (uint32_t b = 0; b < p->nres; b++) {
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
        return -ENOMEM;
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

double qv__part_tl_find(const qv__timeline *t, double ready, double dur, uint32_t *pos)
{
    /* No gap can hold the task: it goes after the last slot. This keeps
     * insertion cheap on long, tightly packed timelines. */
    if (t->n && (t->maxgap < dur || t->v[t->n - 1].e <= ready)) {
        *pos = t->n;
        return ready > t->v[t->n - 1].e ? ready : t->v[t->n - 1].e;
    }
    /* Slots do not overlap, so their ends are sorted too: skip every slot
     * that ends by `ready`, then take the first gap that is long enough. */
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->v[mid].e <= ready)
            lo = mid + 1;
        else
            hi = mid;
    }
    double s = ready;
    for (uint32_t j = lo; j < t->n; j++) {
        if (s + dur <= t->v[j].s) {
            *pos = j;
            return s;
        }
        if (t->v[j].e > s)
            s = t->v[j].e;
    }
    *pos = t->n;
    return s;
}

int qv__part_tl_insert(qv__timeline *t, uint32_t pos, double s, double e)
{
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 16;
        qv__slot *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        t->v = nv;
        t->cap = nc;
    }
    double before = pos ? t->v[pos - 1].e : 0;
    int split_max = pos < t->n && t->v[pos].s - before >= t->maxgap;
    memmove(t->v + pos + 1, t->v + pos, (t->n - pos) * sizeof *t->v);
    t->v[pos] = (qv__slot){s, e};
    t->n++;
    if (pos == t->n - 1) {
        if (s - before > t->maxgap)
            t->maxgap = s - before;
    } else if (split_max) {
        /* the longest gap was cut in two: find the new longest */
        double m = t->v[0].s;
        for (uint32_t j = 1; j < t->n; j++)
            if (t->v[j].s - t->v[j - 1].e > m)
                m = t->v[j].s - t->v[j - 1].e;
        t->maxgap = m;
    }
    return 0;
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

int qv__part_list_schedule(const qv__ctx *c, const uint32_t *order,
                           const uint32_t *allowed_res, const double *oct, uint32_t *unit,
                           double *start, double *end)
{
    const qv_dag *g = c->g;
    const qv_plat *p = c->p;
    qv__timeline *tl = calloc(p->nunits, sizeof *tl);
    if (!tl)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t k = 0; k < g->n && !rc; k++) {
        uint32_t i = order[k];
        uint32_t only = allowed_res ? allowed_res[i] : UINT32_MAX;
        double best = INFINITY, best_eft = INFINITY, best_s = 0;
        uint32_t best_u = UINT32_MAX, best_pos = 0;
        for (uint32_t r = 0; r < p->nres; r++) {
            double w = qv__w(c, i, r);
            if (isinf(w) || (only != UINT32_MAX && only != r))
                continue;
            double drt = qv__part_ready(c, i, r, unit, end);
            double extra = oct ? oct[(size_t)i * p->nres + r] : 0;
            const qv_plat_res *res = &p->res[r];
            for (uint32_t u = res->first_unit; u < res->first_unit + res->units; u++) {
                uint32_t pos;
                double s = qv__part_tl_find(&tl[u], drt, w, &pos);
                double eft = s + w;
                if (eft + extra < best || (eft + extra == best && eft < best_eft)) {
                    best = eft + extra;
                    best_eft = eft;
                    best_s = s;
                    best_u = u;
                    best_pos = pos;
                }
                /* Identical idle units: the first one is as good as any. */
                if (tl[u].n == 0)
                    break;
            }
        }
        if (best_u == UINT32_MAX) {
            rc = -EINVAL;
            break;
        }
        unit[i] = best_u;
        start[i] = best_s;
        end[i] = best_eft;
        rc = qv__part_tl_insert(&tl[best_u], best_pos, best_s, best_eft);
    }
    for (uint32_t u = 0; u < p->nunits; u++)
        free(tl[u].v);
    free(tl);
    return rc;
}
