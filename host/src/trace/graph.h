/*
 * graph.h - a read-only view of the recorded execution graph for analysis
 * and export: flat arrays, duplicate edges merged, the critical path on
 * measured times marked.
 */
#ifndef QV_TRACE_GRAPH_H
#define QV_TRACE_GRAPH_H

#include <stdio.h>

#include "core/internal.h"
#include "trace/recorder.h"

typedef struct qv__gview {
    qv_runtime     *rt;
    const qv__recorder *rec;
    uint64_t        n;       /* nodes; node i has id rec->base + i */
    uint64_t        m;       /* merged edges */
    qv__edge       *e;       /* sorted by (dst, src); ids relative to base */
    double         *dur_us;  /* measured time of each node */
    double         *dist_us; /* longest path ending at each node */
    int64_t        *pred;    /* previous node on that path, or -1 */
    unsigned char  *on_cp;
    uint64_t        t0_ns;   /* earliest start */
    uint64_t        t1_ns;   /* latest end */
    double          cp_us;
    uint64_t        cp_len;
} qv__gview;

/* Waits for the runtime's work and builds the view. QV_ENOENT when the
 * runtime does not record. */
int  qv__gview_build(qv_runtime *rt, qv__gview *g);
void qv__gview_free(qv__gview *g);

const qv__node *qv__gview_node(const qv__gview *g, uint64_t i);
const char     *qv__gview_func(const qv__gview *g, uint64_t i);

/* Writes s as a JSON string, quotes included. */
void qv__json_string(FILE *f, const char *s);

#endif
