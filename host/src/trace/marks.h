/*
 * marks.h - named moments of a run (a re-plan and its reason) kept for the
 * Chrome/Perfetto trace, where qv_trace_write draws each as a global
 * instant event on the tasks' time line.
 *
 * A mark is rare (the run-time loop marks a few per second at most, never
 * per task), so one mutex of its own guards the list; it is taken by no
 * other path. Only the last QV__MARKS_MAX marks are kept: past that each
 * new mark drops the oldest, and the trace says how many were dropped.
 * Nothing is kept while the runtime does not record (qv_options.record 0):
 * there is no trace to write them to. qv_graph_reset forgets them with the
 * graph; qv_runtime_destroy frees them.
 */
#ifndef QV_TRACE_MARKS_H
#define QV_TRACE_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#define QV__MARKS_MAX 4096
/* Longest name and detail kept, in bytes; longer ones are cut at a whole
 * UTF-8 character, so that 4096 marks hold under 5 MiB. */
#define QV__MARK_NAME_MAX   127
#define QV__MARK_DETAIL_MAX 1023

typedef struct qv__mark {
    uint64_t    ns;     /* monotonic, as the recorded tasks' times */
    const char *name;
    const char *detail; /* "" when none was given */
} qv__mark;

typedef struct qv__marks qv__marks;

/* Sets up rt->marks (at create); QV_ENOMEM. */
int  qv__marks_init(qv_runtime *rt);
/* Frees rt->marks (at destroy, when nothing marks any more). */
void qv__marks_free(qv_runtime *rt);

/* Records (now, name, detail) for the trace; both strings are copied,
 * detail may be NULL. Any thread; never from the submit path (it takes a
 * mutex and may allocate). Does nothing when rt does not record, name is
 * NULL, or memory runs out. */
void qv__trace_mark(qv_runtime *rt, const char *name, const char *detail);
/* Forgets every mark (qv_graph_reset). Any thread. */
void qv__marks_clear(qv_runtime *rt);
/* Copies the marks kept, oldest first, into one allocation: *out (free it
 * with free(); NULL when there are none), *n of them; *dropped (may be
 * NULL) gets how many older ones were dropped since the last reset.
 * 0 or QV_ENOMEM. Any thread. */
int  qv__marks_copy(qv_runtime *rt, qv__mark **out, size_t *n, uint64_t *dropped);

#endif
