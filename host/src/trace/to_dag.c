/*
 * to_dag.c - converts the recorded graph into a qv_dag: qv_graph_write
 * writes it with the one .qvg.json writer (qv_dag_write), and a planner can
 * plan the live graph with it.
 */
#include "trace/to_dag.h"

#include <stdlib.h>

#include "trace/graph.h"
#include "config/catalog.h"
#include "trace/perfmodel.h"

/* Node i's function as the planner is to know it: for planning (by_kernel),
 * a function bound to a catalog kernel is the function that kernel
 * implements, so that the planner finds the kernel and the fused chains
 * that contain it whatever the application named it; else its name. */
static const char *func_name(const qv__gview *v, uint64_t i, bool by_kernel)
{
    qv_func *fn = by_kernel ? qv__gview_fn(v, i) : NULL;
    const struct qv__kernel *k = fn ? fn->kernel : NULL;
    if (k && k->nfuncs == 1)
        return k->funcs[0];
    return qv__gview_func(v, i);
}

static int fill(const qv__gview *v, qv_dag *g, bool by_kernel, unsigned live)
{
    int cls[QV_CLASS_COUNT];
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++)
        cls[c] = -1;
    if (v->n > QV_DAG_MAX_NODES || v->m > QV_DAG_MAX_EDGES)
        return qv__fail(QV_E2BIG,
                        "graph export: %llu nodes and %llu edges; a graph holds at most "
                        "%u and %u",
                        (unsigned long long)v->n, (unsigned long long)v->m,
                        QV_DAG_MAX_NODES, QV_DAG_MAX_EDGES);
    /* Classes in the order met, as the reader numbers them. */
    for (uint64_t i = 0; i < v->n; i++) {
        const qv__node nd = qv__gview_node(v, i);
        qv_func *fn = qv__gview_fn(v, i);
        uint32_t ni;
        int rc = qv_dag_add_node(g, (int64_t)i, func_name(v, i, by_kernel), &ni);
        if (rc)
            return qv__fail(rc, "graph export: %s", qv_strerror(rc));
        /* What it took where it ran (an emulated board's run: what the
         * board took), and the models' estimates elsewhere. */
        double own = nd.board_us > 0 ? (double)nd.board_us : v->dur_us[i];
        double us[QV_CLASS_COUNT];
        unsigned have = 0;
        for (unsigned c = 0; c < QV_CLASS_COUNT; c++) {
            us[c] = own;
            if (c == nd.cls ||
                (fn && qv__func_can(fn, (qv_class)c) &&
                 qv__perf_get(fn->perf[c], nd.memory, &us[c], NULL, NULL) == 0))
                have |= 1u << c;
        }
        /* For planning on the classes `live` (qv__gview_plan_dag), a
         * task with a cost on none of them (it always ran on a board that
         * has failed since, and the CPU has no model at its size) gets on
         * the CPU, when it runs there, the time it took where it ran: a
         * guess the next entries correct; else the region could not be
         * planned again. Never while a live class has a cost: a guess
         * could draw work onto a much slower device, and the plan's first
         * entries there would calibrate that as normal. Exports show only
         * what was measured. */
        if (live && !(have & live) && (live & 1u << QV_CLASS_CPU) && own > 0 && fn &&
            qv__func_can(fn, QV_CLASS_CPU)) {
            us[QV_CLASS_CPU] = own;
            have |= 1u << QV_CLASS_CPU;
        }
        for (unsigned c = 0; c < QV_CLASS_COUNT; c++) {
            if (!(have & 1u << c))
                continue;
            if (cls[c] < 0 && (cls[c] = qv_dag_class(g, qv_class_name((qv_class)c))) < 0)
                return qv__fail(cls[c], "graph export: %s", qv_strerror(cls[c]));
            g->cost[(size_t)ni * g->nclass + (uint32_t)cls[c]] = us[c];
        }
        g->bytes_in[ni] = nd.bytes_in;
        g->bytes_out[ni] = nd.bytes_out;
        g->memory[ni] = nd.memory;
    }
    for (uint64_t e = 0; e < v->m; e++) {
        int rc = qv_dag_add_edge(g, (uint32_t)v->e[e].src, (uint32_t)v->e[e].dst,
                                 v->e[e].bytes);
        if (rc)
            return qv__fail(rc, "graph export: %s", qv_strerror(rc));
    }
    if (!(g->run = calloc((size_t)v->n + 1, sizeof *g->run)))
        return qv__fail(QV_ENOMEM, "graph export: out of memory");
    for (uint64_t i = 0; i < v->n; i++) {
        const qv__node nd = qv__gview_node(v, i);
        qv_dag_run *r = &g->run[i];
        r->device = cls[nd.cls];
        r->worker = nd.worker;
        r->start_us =
            nd.start_ns >= v->t0_ns ? (double)(nd.start_ns - v->t0_ns) / 1e3 : 0;
        r->board_us = nd.board_us > 0 ? (double)nd.board_us : 0;
        r->critical = v->on_cp[i] != 0;
    }
    g->span_us = v->n ? (double)(v->t1_ns - v->t0_ns) / 1e3 : 0;
    g->critical_path_us = v->cp_us;
    qv_diag d;
    d.message[0] = 0;
    int rc = qv_dag_finalize(g, &d);
    return rc ? qv__fail(rc, "graph export: %s",
                         d.message[0] ? d.message : qv_strerror(rc))
              : 0;
}

/* The dag of view v (freed here); *keep, when asked, the view frozen. */
static int convert(qv__gview *v, const char *name, bool by_kernel, unsigned live,
                   qv__frozen *keep, qv_dag **out)
{
    qv_dag *g = NULL;
    int rc = keep ? qv__gview_freeze(v, keep) : 0;
    if (!rc)
        rc = qv_dag_create(name ? name : "quiver", &g);
    rc = rc ? qv__fail(rc, "graph export: out of memory") : fill(v, g, by_kernel, live);
    qv__gview_free(v);
    if (rc) {
        qv_dag_destroy(g);
        if (keep)
            qv__frozen_free(keep); /* empty already when freezing failed */
        return rc;
    }
    *out = g;
    return 0;
}

int qv__graph_to_dag(qv_runtime *rt, const char *name, qv_dag **out)
{
    *out = NULL;
    qv__gview v;
    int rc = qv__gview_build_range(rt, 0, UINT64_MAX, &v);
    return rc ? rc : convert(&v, name, false, 0, NULL, out);
}

int qv__gview_plan_dag(qv__gview *v, const char *name, unsigned live, qv__frozen *keep,
                       qv_dag **out)
{
    *out = NULL;
    return convert(v, name, true, live, keep, out);
}
