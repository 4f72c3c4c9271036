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
    qv__recorder   *rec;     /* non-NULL while the view holds rec->read_mu */
    uint64_t        base;    /* id of node 0 of the view */
    uint64_t        n;       /* nodes; node i has id base + i */
    uint64_t        off;     /* node i is item off + i of `nodes` */
    uint64_t        m;       /* merged edges */
    void          **nodes;   /* the recorder's node chunks, as of the build */
    qv__node       *own;     /* after qv__gview_detach: the nodes' copy */
    qv_func       **funcs;   /* rt->funcs as of the build */
    size_t          nfuncs;
    bool            wait;    /* the build waited for the nodes' tasks */
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

/* Builds the view of the nodes recorded when it is called, once the tasks
 * of those nodes are done: later submissions are not waited for, so a
 * thread that keeps submitting cannot hold a reader up for ever. It does
 * not wait from inside a task, nor while tasks wait for a buffer the host
 * holds (qv_wait_all's QV_EDEADLK); nodes that have not run show zero
 * times then. Holds the recorder's read_mu until qv__gview_free, so a
 * reset waits for the view. QV_ENOENT when the runtime does not record. */
int  qv__gview_build(qv_runtime *rt, qv__gview *g);
/* The same for the nodes with ids in [lo, hi) only (clipped to what is
 * recorded), and the edges between them: edges from earlier nodes are left
 * out. Costs O(hi - lo) plus the edges' chunk pointers, not the whole
 * graph (a region's entry, run-time loop). */
int  qv__gview_build_range(qv_runtime *rt, uint64_t lo, uint64_t hi, qv__gview *g);
/* Of the recorded nodes with ids in [lo, hi): the earliest start and the
 * latest end (ns), without waiting. 1 when every one of them is done and
 * recorded, 0 when one is not done yet, QV_ENOENT when some are not in
 * the recorded graph (slid out of the window, forgotten by a reset) or
 * the runtime does not record, QV_ENOMEM without memory to look. */
int  qv__gview_span(qv_runtime *rt, uint64_t lo, uint64_t hi, uint64_t *t0, uint64_t *t1);
/* Waits until the recorded nodes with ids in [lo, hi) are done, then calls
 * fn(arg, i, node) for each, i counted from lo: no edges, no analysis (the
 * run-time loop's measuring of an entry). 1 when all of [lo, hi) is
 * recorded, 0 when it is not (or a reset forgot it), QV_ENOENT when the
 * runtime does not record. Never from a thread that runs tasks. */
int  qv__gview_each(qv_runtime *rt, uint64_t lo, uint64_t hi,
                    void (*fn)(void *arg, uint64_t i, const qv__node *nd), void *arg);
void qv__gview_free(qv__gview *g);
/* Copies the view's nodes and lets go of the recorder's read_mu, for a
 * reader that takes its time (an export writing to a pipe): held, it kept
 * a reset waiting and the window's old chunks from being reused for as
 * long. 0, or QV_ENOMEM with the view unchanged. */
int  qv__gview_detach(qv__gview *g);

/* A recorded range kept apart from the recorder: the run-time loop's plan
 * keeps the entry it was compiled from, which the window (recorder.h) may
 * forget while the plan lives. Nodes copied (done ones with their times),
 * edges merged, ids relative to the range. */
typedef struct qv__frozen {
    qv__node *nodes;
    qv__edge *e;
    uint64_t  n, m;
} qv__frozen;
/* Copies view g into *f (empty first); 0 or QV_ENOMEM. */
int  qv__gview_freeze(const qv__gview *g, qv__frozen *f);
int  qv__frozen_dup(const qv__frozen *from, qv__frozen *to);
void qv__frozen_free(qv__frozen *f);
/* A view of f, as qv__gview_build_range gives of the range it was taken
 * from (no lock held; f must outlive the view). 0 or QV_ENOMEM. */
int  qv__gview_build_frozen(qv_runtime *rt, const qv__frozen *f, qv__gview *g);

/* Node i of the view, copied: its times, worker, class and board time are
 * zero unless it is done (no copy races with the worker finishing it). */
qv__node        qv__gview_node(const qv__gview *g, uint64_t i);
/* qv_graph_node, and how node id's task ended: *err 0 when it ran, else
 * the error it failed with (it ran nowhere). QV_EBUSY while it is not done
 * (the caller is a task, which does not wait), QV_ENOENT when it is not
 * recorded. Node by node, where the errors a failed task leaves on its
 * buffers may be another task's by the time they are read (quiverd's run
 * replies). */
int qv__graph_node_err(qv_runtime *rt, uint64_t id, qv_node_info *out, int *err);

/* The function of node i, or NULL when unknown. */
qv_func        *qv__gview_fn(const qv__gview *g, uint64_t i);
const char     *qv__gview_func(const qv__gview *g, uint64_t i);


#endif
