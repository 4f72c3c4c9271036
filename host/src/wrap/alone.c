/*
 * alone.c - whether the program's own threads have all ended, the threads
 * left being the runtime's and its libraries'. A wrapped program's main
 * that ends with pthread_exit leaves the process to its last thread, and
 * the runtime's threads never end: without this the process never exited
 * (and those threads block SIGTERM; adversarial testing).
 *
 * The runtime's own threads are named "qv-..." (qv__thread_name). The
 * threads its libraries make (PoCL's, ZeroMQ's, XRT's) are not: they are
 * told by being made while the runtime was, from a thread whose
 * asynchronous signals were all blocked (qv__alone_begin), which they
 * inherit. A thread of the program's made in that moment by another of
 * its threads, with every signal blocked too, would pass for one of
 * theirs; nothing else does, and a thread this cannot place counts as the
 * program's: the process then waits, as it did.
 */
#include "wrap/alone.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/proc_threads.h"
#include "core/thread.h"

enum { MAX_LIB = 64, MAX_THREADS = 4096 };

/* A thread, by its id and its start time (ids are used again). */
struct tid {
    long tid;
    unsigned long long start;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by g_mu: the libraries' threads, and room to list them all. */
static struct tid g_lib[MAX_LIB];
static size_t g_nlib;
static long g_now[MAX_THREADS];

/* Whether thread tid has every asynchronous signal blocked, as the
 * runtime's threads and those they make have (qv__signals_block). */
static bool all_blocked(long tid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    unsigned long long blk = 0;
    bool seen = false;
    while (!seen && fgets(line, sizeof line, f))
        seen = sscanf(line, "SigBlk: %llx", &blk) == 1;
    fclose(f);
    static const int async[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2,
                                SIGPIPE, SIGALRM, SIGTERM, SIGCHLD, SIGWINCH};
    for (size_t i = 0; seen && i < sizeof async / sizeof *async; i++)
        seen = (blk >> (async[i] - 1)) & 1;
    return seen;
}

static bool named_ours(const qv__proc_thread *t)
{
    return !strncmp(t->comm, "qv-", 3);
}

void qv__alone_begin(qv__alone_before *b, sigset_t *old)
{
    size_t cap = sizeof b->tid / sizeof *b->tid;
    b->n = qv__proc_threads(b->tid, cap);
    b->full = b->n > cap || !b->n;
    qv__signals_block(old); /* what this thread makes now inherits it */
}

void qv__alone_end(const qv__alone_before *b, const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
    if (b->full) /* who was there before is not known: adopt none */
        return;
    pthread_mutex_lock(&g_mu);
    size_t n = qv__proc_threads(g_now, MAX_THREADS);
    for (size_t i = 0; i < n && i < MAX_THREADS && g_nlib < MAX_LIB; i++) {
        bool before = false;
        for (size_t k = 0; k < b->n && !before; k++)
            before = b->tid[k] == g_now[i];
        qv__proc_thread t;
        if (!before && qv__proc_thread_get(g_now[i], &t) && !named_ours(&t) && t.start &&
            all_blocked(g_now[i]))
            g_lib[g_nlib++] = (struct tid){g_now[i], t.start};
    }
    pthread_mutex_unlock(&g_mu);
}

bool qv__alone(void)
{
    long self = (long)gettid();
    pthread_mutex_lock(&g_mu);
    size_t n = qv__proc_threads(g_now, MAX_THREADS);
    bool alone = n && n <= MAX_THREADS;
    for (size_t i = 0; alone && i < n; i++) {
        qv__proc_thread t;
        if (g_now[i] == self || !qv__proc_thread_get(g_now[i], &t) || named_ours(&t))
            continue; /* this one, one gone since, or the runtime's */
        bool lib = false;
        for (size_t k = 0; k < g_nlib && !lib; k++)
            lib = g_lib[k].tid == g_now[i] && g_lib[k].start == t.start;
        alone = lib;
    }
    pthread_mutex_unlock(&g_mu);
    return alone;
}
