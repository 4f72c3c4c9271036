/*
 * thread.h - the runtime's own threads (workers, device drivers, the
 * compiler, discovery, remote links) start with the application's
 * asynchronous signals blocked: a process-directed signal then runs its
 * handler on one of the application's threads, never on one the runtime
 * needs to finish a task (a handler that waits for a task, directly or by
 * touching a deferred output, would wait for itself).
 *
 * All but SIGCHLD, while the program takes no handler for it. Libraries
 * start programs from the runtime's threads (PoCL runs ld from the
 * thread that launches a kernel it has not linked yet), and the kernel
 * drops an ignored SIGCHLD only when the thread that started the child
 * does not block it: blocked, it went to a thread of the program
 * instead. There it is harmless but in one place: a thread waiting inside
 * a system call for a deferred output (write(2) from it) cannot sleep
 * while a signal is pending, and retries its page fault at once until the
 * output lands, a core burnt all along. A thread that blocks SIGCHLD
 * (a program reading it with signalfd) starts runtime threads that block
 * it too, and a program that installs a SIGCHLD handler before the
 * runtime starts keeps it off the runtime's threads; one installed later
 * may run on them.
 */
#ifndef QV_CORE_THREAD_H
#define QV_CORE_THREAD_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

/* Blocks every signal but the synchronous ones (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP) in the calling thread; *old gets the mask before. */
void qv__signals_block(sigset_t *old);

/* The runtime's threads' mask: as qv__signals_block, but SIGCHLD left as
 * the calling thread has it while the program has no handler for it. */
void qv__signals_block_runtime(sigset_t *old);

/* pthread_create with the runtime's threads' mask (qv__signals_block_runtime)
 * in the new thread; attr may be NULL. Returns pthread_create's result. */
int qv__thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* Names the calling thread "qv-<what>" (cut to the 15 characters Linux
 * keeps), so that top -H, perf and gdb tell the runtime's threads apart. */
void qv__thread_name(const char *what, int idx);

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
