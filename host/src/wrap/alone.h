/*
 * alone.h - whether the program's own threads have all ended (alone.c).
 */
#ifndef QV_WRAP_ALONE_H
#define QV_WRAP_ALONE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* The threads there before the runtime is made. */
typedef struct qv__alone_before {
    long tid[256];
    size_t n;
    bool full;               /* more than tid holds: none is adopted */
    unsigned long long mask; /* this thread's signal mask meanwhile, as
                              * /proc says it (SigBlk); 0: not known, none
                              * is adopted */
} qv__alone_before;

/* Around the runtime's making, on the thread making it: the threads made
 * between the two with exactly the signal mask this thread has meanwhile
 * (the runtime's: every asynchronous signal blocked, the synchronous ones
 * not) are its libraries'. */
void qv__alone_begin(qv__alone_before *b, sigset_t *old);
void qv__alone_end(const qv__alone_before *b, const sigset_t *old);

/* Whether every thread but the caller is the runtime's or its libraries';
 * false when /proc cannot tell. */
bool qv__alone(void);

#endif
