/*
 * graph.c - builds the analysis view of the recorded graph: merged edges,
 * measured durations, the longest (critical) path and its bottlenecks.
 *
 * Node ids are submission order and every edge goes from an earlier to a
 * later submission, so id order is a topological order and the longest path
 * is one pass over the nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "trace/graph.h"

const qv__node *qv__gview_node(const qv__gview *g, uint64_t i)
{
    return qv__rec_node_at(g->rec, i);
}

const char *qv__gview_func(const qv__gview *g, uint64_t i)
{
    uint32_t f = qv__gview_node(g, i)->func;
    return f < g->rt->nfuncs ? g->rt->funcs[f]->name : "?";
}

static int cmp_edge(const void *a, const void *b)
{
    const qv__edge *x = a, *y = b;
    if (x->dst != y->dst)
        return x->dst < y->dst ? -1 : 1;
    return x->src < y->src ? -1 : x->src > y->src;
}

void qv__gview_free(qv__gview *g)
{
    free(g->e);
    free(g->dur_us);
    free(g->dist_us);
    free(g->pred);
    free(g->on_cp);
    memset(g, 0, sizeof *g);
}

int qv__gview_build(qv_runtime *rt, qv__gview *g)
{
    memset(g, 0, sizeof *g);
    if (!rt->rec)
        return qv__fail(QV_ENOENT, "this runtime does not record its graph "
                        "(qv_options.record is 0)");
    qv_wait_all(rt);
    const qv__recorder *r = rt->rec;
    g->rt = rt;
    g->rec = r;
    g->n = r->nnodes;
    uint64_t n = g->n;
    g->e = malloc((r->nedges ? r->nedges : 1) * sizeof *g->e);
    g->dur_us = calloc(n ? n : 1, sizeof *g->dur_us);
    g->dist_us = calloc(n ? n : 1, sizeof *g->dist_us);
    g->pred = malloc((n ? n : 1) * sizeof *g->pred);
    g->on_cp = calloc(n ? n : 1, 1);
    if (!g->e || !g->dur_us || !g->dist_us || !g->pred || !g->on_cp) {
        qv__gview_free(g);
        return qv__fail(QV_ENOMEM, "out of memory analysing the graph");
    }

    /* Relative ids; edges are already grouped by destination (see
     * recorder.h), so sorting is cheap, and merging duplicates sums bytes. */
    for (uint64_t i = 0; i < r->nedges; i++) {
        qv__edge e = *qv__rec_edge_at(r, i);
        if (e.src < r->base || e.dst < r->base || e.src >= e.dst ||
            e.dst - r->base >= n)
            continue;
        e.src -= r->base;
        e.dst -= r->base;
        g->e[g->m++] = e;
    }
    qsort(g->e, g->m, sizeof *g->e, cmp_edge);
    uint64_t m = 0;
    for (uint64_t i = 0; i < g->m; i++) {
        if (m && g->e[m - 1].src == g->e[i].src && g->e[m - 1].dst == g->e[i].dst)
            g->e[m - 1].bytes += g->e[i].bytes;
        else
            g->e[m++] = g->e[i];
    }
    g->m = m;

    g->t0_ns = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        const qv__node *nd = qv__gview_node(g, i);
        g->dur_us[i] = nd->end_ns > nd->start_ns ? (nd->end_ns - nd->start_ns) / 1e3 : 0;
        if (nd->start_ns && nd->start_ns < g->t0_ns)
            g->t0_ns = nd->start_ns;
        if (nd->end_ns > g->t1_ns)
            g->t1_ns = nd->end_ns;
        g->pred[i] = -1;
    }
    if (g->t0_ns == UINT64_MAX)
        g->t0_ns = g->t1_ns;

    uint64_t k = 0, best = 0;
    for (uint64_t i = 0; i < n; i++) {
        double in = 0;
        for (; k < g->m && g->e[k].dst == i; k++) {
            uint64_t s = g->e[k].src;
            if (g->pred[i] < 0 || g->dist_us[s] > in) {
                in = g->dist_us[s];
                g->pred[i] = (int64_t)s;
            }
        }
        g->dist_us[i] = in + g->dur_us[i];
        if (g->dist_us[i] > g->dist_us[best])
            best = i;
    }
    if (n) {
        g->cp_us = g->dist_us[best];
        for (int64_t v = (int64_t)best; v >= 0; v = g->pred[v]) {
            g->on_cp[v] = 1;
            g->cp_len++;
        }
    }
    return 0;
}

QV_API int qv_graph_info_get(qv_runtime *rt, qv_graph_info *info)
{
    if (!rt || !info)
        return qv__fail(QV_EINVAL, "qv_graph_info_get: NULL argument");
    memset(info, 0, sizeof *info);
    qv__gview g;
    int rc = qv__gview_build(rt, &g);
    if (rc)
        return rc;
    info->nodes = g.n;
    info->edges = g.m;
    for (uint64_t i = 0; i < g.n; i++)
        info->total_us += g.dur_us[i];
    info->span_us = g.n ? (g.t1_ns - g.t0_ns) / 1e3 : 0;
    info->critical_path_us = g.cp_us;
    info->critical_path_len = g.cp_len;
    /* Bottlenecks: the longest tasks on the critical path that each take at
     * least a tenth of it; a path of many equal small tasks has none. */
    for (unsigned b = 0; b < 4; b++) {
        int64_t best = -1;
        for (uint64_t i = 0; i < g.n; i++) {
            if (!g.on_cp[i] || g.dur_us[i] <= 0 || g.dur_us[i] < 0.1 * g.cp_us)
                continue;
            bool taken = false;
            for (unsigned j = 0; j < b; j++)
                taken |= info->bottleneck[j] == g.rec->base + i;
            if (!taken && (best < 0 || g.dur_us[i] > g.dur_us[best]))
                best = (int64_t)i;
        }
        if (best < 0)
            break;
        info->bottleneck[info->nbottlenecks++] = g.rec->base + (uint64_t)best;
    }
    qv__gview_free(&g);
    return 0;
}

QV_API int qv_graph_node(qv_runtime *rt, uint64_t id, qv_node_info *out)
{
    if (!rt || !out)
        return qv__fail(QV_EINVAL, "qv_graph_node: NULL argument");
    if (!rt->rec)
        return qv__fail(QV_ENOENT, "this runtime does not record its graph");
    qv_wait_all(rt);
    const qv__recorder *r = rt->rec;
    if (id < r->base || id - r->base >= r->nnodes)
        return qv__fail(QV_ENOENT, "no node %llu in the recorded graph",
                        (unsigned long long)id);
    const qv__node *n = qv__rec_node_at(r, id - r->base);
    uint64_t t0 = rt->created_ns;
    out->function = n->func < rt->nfuncs ? rt->funcs[n->func]->name : "?";
    out->cls = (qv_class)n->cls;
    out->worker = n->worker;
    out->start_us = (n->start_ns - t0) / 1e3;
    out->end_us = (n->end_ns - t0) / 1e3;
    out->bytes_in = n->bytes_in;
    out->bytes_out = n->bytes_out;
    return 0;
}

QV_API int qv_graph_reset(qv_runtime *rt)
{
    if (!rt)
        return qv__fail(QV_EINVAL, "qv_graph_reset: NULL runtime");
    if (!rt->rec)
        return 0;
    qv_wait_all(rt);
    pthread_mutex_lock(&rt->submit_mu);
    qv__rec_reset(rt->rec, rt->next_id);
    pthread_mutex_unlock(&rt->submit_mu);
    return 0;
}

void qv__json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
