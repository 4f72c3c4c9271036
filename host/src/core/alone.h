/*
 * alone.h - whether the program's own threads have all ended (alone.c).
 */
#ifndef QV_CORE_ALONE_H
#define QV_CORE_ALONE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* The threads there when a window opened (alone.c). */
typedef struct qv__alone_before {
    long *tid; /* malloc'd; NULL: not known, none is adopted */
    size_t n;
    unsigned long long mask; /* the opening thread's signal mask meanwhile,
                              * as /proc says it (SigBlk); 0: not known,
                              * none is adopted */
} qv__alone_before;

/* Around the runtime's making, on the thread making it: the threads made
 * between the two with exactly the signal mask this thread has meanwhile
 * (the runtime's: every asynchronous signal blocked, the synchronous ones
 * not) are its libraries'. The first such window also says that the
 * process waits for its program's threads: the windows below open only
 * after it. */
void qv__alone_begin(qv__alone_before *b, sigset_t *old);
void qv__alone_end(qv__alone_before *b, const sigset_t *old);

/* Around a call of the runtime's into a library that may make threads
 * after the runtime was made (a remote board's connection, made again
 * after its daemon restarted, starts ZeroMQ's threads anew), on the
 * thread making the call, whose mask they inherit: those made between
 * the two are the libraries'. Nothing unless a window of
 * qv__alone_begin's was open before. */
void qv__alone_window_begin(qv__alone_before *b);
void qv__alone_window_end(qv__alone_before *b);

/* Whether every thread but the caller is the runtime's or its libraries';
 * false when /proc cannot tell. */
bool qv__alone(void);

#endif
