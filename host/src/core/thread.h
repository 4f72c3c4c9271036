/*
 * thread.h - the runtime's own threads (workers, device drivers, the
 * compiler, discovery, remote links) start with the application's
 * asynchronous signals blocked: a process-directed signal then runs its
 * handler on one of the application's threads, never on one the runtime
 * needs to finish a task (a handler that waits for a task, directly or by
 * touching a deferred output, would wait for itself).
 */
#ifndef QV_CORE_THREAD_H
#define QV_CORE_THREAD_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The signals the runtime's threads block into *set: every one but the
 * synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP). */
void qv__signals_runtime(sigset_t *set);

/* Blocks every signal but the synchronous ones (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP) in the calling thread; *old gets the mask before. */
void qv__signals_block(sigset_t *old);

/* pthread_create with every signal but the synchronous ones (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGTRAP) blocked in the new thread; attr may be
 * NULL. Returns pthread_create's result. */
int qv__thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* The calling thread's number, never given to another thread of the
 * process (from 1): a pthread_t is unique only while its thread lives,
 * and a new thread often gets the one of a thread that ended. */
uint64_t qv__thread_serial(void);

/* Names the calling thread "qv-<what>" (cut to the 15 characters Linux
 * keeps), so that top -H, perf and gdb tell the runtime's threads apart,
 * and counts it as the runtime's until it ends (qv__thread_runtimes). */
void qv__thread_name(const char *what, int idx);

/* Whether thread tid (a Linux thread id) is one of the runtime's that
 * qv__thread_name named and that has not ended: not a thread that a
 * function's code made from a worker, which has the worker's name too. */
bool qv__thread_runtimes(long tid);

/* fn on each of the n items of size bytes at items, a thread each (with
 * qv__thread_start), returning once all are done: for waits that overlap,
 * as hellos to daemons that may not answer. An item whose thread cannot
 * start runs on the caller's. */
void qv__thread_each(void *items, size_t n, size_t size, void *(*fn)(void *));

/* A condition variable whose timed waits run on the monotonic clock: a
 * jump of the wall clock must not time a wait out, nor stretch it. */
void qv__cond_init_monotonic(pthread_cond_t *cv);

/* The monotonic time ns nanoseconds from now, for those waits. */
struct timespec qv__deadline_in(int64_t ns);

#endif
