/*
 * xwait.c - waits of one runtime's tasks for another runtime's work.
 *
 * A task may use another runtime, and wait for it (qv_wait_all). Two such
 * waits can close a cycle: a task of A waits for all of B's work, which
 * holds a task of B that waits for all of A's, which holds the first. No
 * thread of either runtime can end it, so the wait that would close the
 * cycle is refused with QV_EDEADLK instead (two runtimes hung for ever:
 * adversarial testing).
 *
 * Each wait in progress is an edge: the waiting task (its runtime and
 * epoch) and what it waits for (a runtime, up to an epoch). A new edge
 * closes a cycle when, following from its target the edges whose waiting
 * task it covers (epoch at most its bound), one comes back to a wait
 * that covers the new edge's own task. Tasks submitted after a wait
 * began are not covered by it: such waits end, and are not refused.
 */
#include <pthread.h>
#include <stdbool.h>

#include "core/internal.h"

enum { XWAIT_MAX = 256 }; /* waits tracked at once; past it, not checked */

static struct xwait {
    const qv_runtime *from, *to;
    uint64_t from_epoch; /* the waiting task's */
    uint64_t upto;       /* the last epoch of `to` it waits for */
    bool used;
} edges[XWAIT_MAX];
static pthread_mutex_t xwait_mu = PTHREAD_MUTEX_INITIALIZER;

/* Whether the waits from edge e on come back to one that covers the task
 * (rt, epoch). Under xwait_mu; seen marks the edges on the way. */
static bool cycles(unsigned e, const qv_runtime *rt, uint64_t epoch, bool *seen)
{
    const struct xwait *w = &edges[e];
    if (w->to == rt && w->upto >= epoch)
        return true;
    seen[e] = true;
    for (unsigned i = 0; i < XWAIT_MAX; i++)
        if (edges[i].used && !seen[i] && edges[i].from == w->to &&
            edges[i].from_epoch <= w->upto && cycles(i, rt, epoch, seen))
            return true;
    return false;
}

int qv__xwait_enter(const qv_runtime *to, uint64_t upto, int *slot)
{
    *slot = -1;
    uint64_t epoch;
    const qv_runtime *from = qv__task_runtime(&epoch);
    if (!from || from == to)
        return 0;
    pthread_mutex_lock(&xwait_mu);
    unsigned e = 0;
    while (e < XWAIT_MAX && edges[e].used)
        e++;
    if (e == XWAIT_MAX) { /* too many to track: this one goes unchecked */
        pthread_mutex_unlock(&xwait_mu);
        return 0;
    }
    edges[e] = (struct xwait){from, to, epoch, upto, true};
    bool seen[XWAIT_MAX] = {false};
    seen[e] = true;
    bool cycle = false;
    for (unsigned i = 0; i < XWAIT_MAX && !cycle; i++)
        if (edges[i].used && !seen[i] && edges[i].from == to &&
            edges[i].from_epoch <= upto)
            cycle = cycles(i, from, epoch, seen);
    if (cycle)
        edges[e].used = false;
    else
        *slot = (int)e;
    pthread_mutex_unlock(&xwait_mu);
    return cycle ? qv__fail(QV_EDEADLK,
                            "qv_wait_all from a task of one runtime waits for "
                            "another runtime whose tasks wait for this task's runtime: "
                            "neither wait could end")
                 : 0;
}

void qv__xwait_leave(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&xwait_mu);
    edges[slot].used = false;
    pthread_mutex_unlock(&xwait_mu);
}
