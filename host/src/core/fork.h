/*
 * fork.h - the library's process-wide locks across fork().
 */
#ifndef QV_CORE_FORK_H
#define QV_CORE_FORK_H

#include <pthread.h>
#include <stdbool.h>

/* Takes (lock true) or lets go of mu: what each module's fork lock does. */
static inline void qv__fork_hold(pthread_mutex_t *mu, bool lock)
{
    if (lock)
        pthread_mutex_lock(mu);
    else
        pthread_mutex_unlock(mu);
}

/* The process-wide locks of a module, taken (lock true) before a fork()
 * and let go after it in both processes (runtime.c fork_*): a child forked
 * while another thread held one (a worker logging) found it held by no
 * one, and its own runtime's first log line hung (adversarial testing). */
void qv__log_fork_lock(bool lock);
void qv__disc_fork_lock(bool lock);
void qv__sigkeep_fork_lock(bool lock);
void qv__fuse_fork_lock(bool lock);
void qv__part_fork_lock(bool lock);
void qv__xrt_fork_lock(bool lock);
/* Registers the fork handlers that take those locks, once. A module with
 * fork handlers of its own that wait for tasks (wrap/pending.c lands the
 * deferred outputs) calls it before registering them, so that its prepare
 * runs first (the last registered runs first): run after, it waited for
 * tasks that waited for the log's lock. */
void qv__fork_watch(void);
/* Whether the calling thread is inside fork(), between the prepare and
 * the parent's or child's handler of those locks: it holds them all then,
 * and a fork handler of the program's that runs meanwhile (one registered
 * before the runtime was made) must not go through the runtime (wrap.c
 * sends its wrapped calls to __real_). */
bool qv__forking(void);

#endif
