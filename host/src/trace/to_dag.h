/*
 * to_dag.h - the recorded execution graph as the planner's graph type.
 */
#ifndef QV_TRACE_TO_DAG_H
#define QV_TRACE_TO_DAG_H

#include "core/internal.h"
#include "qvpart.h"
#include "trace/graph.h"

/*
 * The nodes recorded so far (waited for as qv__gview_build waits) as a
 * finalized qv_dag named `name` (NULL: "quiver"): ids 0..n-1 in recording
 * order; cost_us the measured time on the class a node ran on and the perf
 * model's estimate on every other class its function has an implementation
 * for; bytes, memory and the merged edges as recorded; g->run and the
 * graph's span and critical path as measured. *out is the caller's
 * (qv_dag_destroy). 0, QV_ENOENT when the runtime does not record, QV_E2BIG
 * past the qv_dag limits or QV_ENOMEM, with qv_last_error set. Any thread
 * that may call qv_graph_write may call it.
 */
int qv__graph_to_dag(qv_runtime *rt, const char *name, qv_dag **out);

/* The same for view v (freed here: a region's entry, built with
 * qv__gview_build_range or from a kept copy), for the planner: node i of
 * the graph is the view's node i; edges from nodes before it are left out,
 * and the span is that of these nodes; a function bound to a catalog
 * kernel is named as the function the kernel implements (the catalog's
 * name for it, which the planner matches kernels by). live: the classes
 * (1 << qv_class) of the devices to plan on; a task with a cost on none of
 * them gets a guess on the CPU (to_dag.c). keep: NULL, or where the view
 * is kept as it was read (the plan's source, for re-plans after the
 * recorder's window forgot it). */
int qv__gview_plan_dag(qv__gview *v, const char *name, unsigned live, qv__frozen *keep,
                       qv_dag **out);

#endif
