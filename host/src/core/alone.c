/*
 * alone.c - whether the program's own threads have all ended, the threads
 * left being the runtime's and its libraries'. A wrapped program's main
 * that ends with pthread_exit leaves the process to its last thread, and
 * the runtime's threads never end: without this the process never exited
 * (and those threads block SIGTERM; adversarial testing).
 *
 * The runtime's own threads are those qv__thread_name counts, not any
 * thread of their name: one that a wrapped function's code makes on a
 * worker has the worker's name too. The threads its libraries make
 * (PoCL's, ZeroMQ's, XRT's) are told by being made while the runtime
 * was, from a thread whose signal mask was then exactly the runtime's
 * (qv__signals_runtime: the asynchronous signals blocked, SIGSEGV and the
 * other synchronous ones not), which they inherit. A program that blocks
 * every signal in main before it makes its threads (sigfillset, the
 * sigwait pattern) gives them SIGSEGV blocked too, as glibc's
 * pthread_create does to each new thread for a moment: a mask that merely
 * blocked all the asynchronous signals took such threads for the
 * libraries', and the process exited while they still worked
 * (adversarial testing). ZeroMQ's own threads block every signal; they
 * are told by their names ("ZMQbg/..."). Only a thread of the program's
 * made at that moment by another of its threads with exactly that mask
 * would pass for one of theirs; a thread this cannot place (/proc
 * unreadable, no descriptor free) counts as the program's: the process
 * then waits. Threads the libraries make later, on the runtime's calls
 * (ZeroMQ's, a remote board's connection made again), are told by windows
 * of the same kind around those calls (qv__alone_window_begin): before
 * them such a process waited for ever.
 */
#include "core/alone.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/proc_threads.h"
#include "core/thread.h"

/* A thread that blocks more than the window's mask is looked at again
 * every LOOK_MS, LOOKS times at most: one just made may not have its own
 * mask or name yet; one of the program's that blocks every signal keeps
 * it, and costs the window LOOKS x LOOK_MS. */
enum { LOOK_MS = 10, LOOKS = 5 };

/* A thread, by its id and its start time (ids are used again). */
struct tid {
    long tid;
    unsigned long long start;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
/* The libraries' threads (PoCL makes one a core: a fixed 64 left most of
 * a large machine's out); guarded by g_mu. */
static struct tid *g_lib;
static size_t g_nlib, g_libcap;
static atomic_bool g_windows; /* qv__alone_begin's window was opened */
/* Threads made in a window that still blocked more than its mask after
 * its looks, with that mask: looked at again by qv__alone. A library's
 * thread that a loaded machine kept from setting its own mask or name for
 * LOOKS x LOOK_MS counted as the program's for good, and such a process
 * never exited (test_remote under load, 1 run in 10). Guarded by g_mu;
 * at most PEND_MAX (past it, one counts as the program's: it waits). */
enum { PEND_MAX = 256 };
static struct pend {
    long tid;
    unsigned long long start, mask;
} g_pend[PEND_MAX];
static size_t g_npend;

/* The signal mask (SigBlk) in a thread's status file at path, as /proc
 * says it; 0 when it cannot be read. */
static unsigned long long mask_of(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long long blk = 0;
    bool seen = false;
    while (!seen && fgets(line, sizeof line, f))
        seen = sscanf(line, "SigBlk: %llx", &blk) == 1;
    fclose(f);
    return seen ? blk : 0;
}

/* The threads of the process into *tid (the caller frees it), *n of them;
 * false when /proc cannot be read. The list is read whole and its
 * directory closed before any thread is looked at: each look then needs
 * one descriptor, not two (a program with one free could never be told
 * alone). */
static bool list_threads(long **tid, size_t *n)
{
    for (size_t cap = 64;;) {
        long *t = malloc(cap * sizeof *t);
        size_t k = t ? qv__proc_threads(t, cap) : 0;
        if (k && k <= cap) {
            *tid = t;
            *n = k;
            return true;
        }
        free(t);
        if (!k) /* /proc unreadable, or no memory */
            return false;
        cap = k + 16;
    }
}

/* Lists the threads there as the window opens, and the opening thread's
 * mask as /proc says it. */
static void open_window(qv__alone_before *b)
{
    b->tid = NULL;
    b->n = 0;
    b->mask = mask_of("/proc/thread-self/status");
    if (b->mask && !list_threads(&b->tid, &b->n))
        b->tid = NULL;
}

void qv__alone_begin(qv__alone_before *b, sigset_t *old)
{
    /* The runtime's mask exactly, not this thread's own plus it: all
     * blocked in a program that blocks all, the libraries' threads would
     * look like its. What this thread makes now inherits it. */
    sigset_t mask;
    qv__signals_runtime(&mask);
    pthread_sigmask(SIG_SETMASK, &mask, old);
    open_window(b);
}

void qv__alone_window_begin(qv__alone_before *b)
{
    b->tid = NULL;
    if (atomic_load(&g_windows))
        open_window(b);
}

/* Remembers a library's thread; when the list is full, first forgets
 * those that have ended (each connection made again makes two), then
 * grows it. g_mu held. */
static void remember(long tid, unsigned long long start)
{
    for (size_t i = 0; i < g_nlib; i++)
        if (g_lib[i].tid == tid && g_lib[i].start == start)
            return;
    if (g_nlib == g_libcap) {
        size_t k = 0;
        for (size_t i = 0; i < g_nlib; i++) {
            qv__proc_thread t;
            int known = qv__proc_thread_get(g_lib[i].tid, &t);
            if (known < 0 || (known == 1 && t.start == g_lib[i].start))
                g_lib[k++] = g_lib[i];
        }
        g_nlib = k;
    }
    if (g_nlib == g_libcap) {
        size_t cap = g_libcap ? 2 * g_libcap : 64;
        struct tid *l = realloc(g_lib, cap * sizeof *l);
        if (!l) /* not adopted: the process waits for it */
            return;
        g_lib = l;
        g_libcap = cap;
    }
    g_lib[g_nlib++] = (struct tid){tid, start};
}

/* Adopts thread tid, made while a window was open, when its mask is the
 * window's (or it is ZeroMQ's). One that blocks that and more may be a
 * thread just made (glibc blocks every signal in a new thread until it
 * starts): true, to be looked at again. g_mu held. */
static bool adopt(long tid, unsigned long long want)
{
    qv__proc_thread t;
    if (qv__thread_runtimes(tid) || qv__proc_thread_get(tid, &t) != 1)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    unsigned long long mask = mask_of(path);
    if (mask == want || (!strncmp(t.comm, "ZMQbg/", 6) && (mask & want) == want)) {
        remember(tid, t.start);
        return false;
    }
    return (mask & want) == want;
}

/* Adopts the threads made since b was opened; frees b's list. */
static void close_window(qv__alone_before *b)
{
    long *tid;
    size_t n;
    /* Who was there before, or the mask, not known: adopt none. */
    if (!b->tid || !list_threads(&tid, &n)) {
        free(b->tid);
        b->tid = NULL;
        return;
    }
    pthread_mutex_lock(&g_mu);
    size_t later = 0;
    for (size_t i = 0; i < n; i++) {
        bool before = false;
        for (size_t k = 0; k < b->n && !before; k++)
            before = b->tid[k] == tid[i];
        if (!before && adopt(tid[i], b->mask))
            tid[later++] = tid[i];
    }
    /* Those blocking more, again after a moment: a thread just made has
     * its own mask and name by then, one of the program's that blocks
     * every signal (with SIGSEGV) still blocks them. */
    for (int look = 0; later && look < LOOKS; look++) {
        nanosleep(&(struct timespec){0, LOOK_MS * 1000000L}, NULL);
        size_t still = 0;
        for (size_t i = 0; i < later; i++)
            if (adopt(tid[i], b->mask))
                tid[still++] = tid[i];
        later = still;
    }
    for (size_t i = 0; i < later && g_npend < PEND_MAX; i++) {
        qv__proc_thread t;
        if (qv__proc_thread_get(tid[i], &t) == 1)
            g_pend[g_npend++] = (struct pend){tid[i], t.start, b->mask};
    }
    pthread_mutex_unlock(&g_mu);
    free(tid);
    free(b->tid);
    b->tid = NULL;
}

/* The pending threads looked at again: adopted, or dropped when gone or
 * not the window's (adopt false), kept while they still block more.
 * g_mu held. */
static void look_again(void)
{
    size_t k = 0;
    for (size_t i = 0; i < g_npend; i++) {
        qv__proc_thread t;
        if (qv__proc_thread_get(g_pend[i].tid, &t) == 1 && t.start == g_pend[i].start &&
            adopt(g_pend[i].tid, g_pend[i].mask))
            g_pend[k++] = g_pend[i];
    }
    g_npend = k;
}

void qv__alone_end(qv__alone_before *b, const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
    close_window(b);
    /* Only now: the runtime's calls while it was made are this window's. */
    atomic_store(&g_windows, true);
}

void qv__alone_window_end(qv__alone_before *b)
{
    close_window(b);
}

/* Whether thread tid is not one of the program's: the caller, the
 * runtime's, a library's, or gone since it was listed. g_mu held. */
static bool not_the_programs(long tid, long self)
{
    if (tid == self || qv__thread_runtimes(tid))
        return true;
    qv__proc_thread t;
    int known = qv__proc_thread_get(tid, &t);
    if (known <= 0) /* gone, or cannot be told (no descriptor free) */
        return known == 0;
    for (size_t i = 0; i < g_nlib; i++)
        if (g_lib[i].tid == tid && g_lib[i].start == t.start)
            return true;
    return false;
}

bool qv__alone(void)
{
    long self = (long)gettid(), *tid = NULL, *now;
    size_t n = 0, m;
    pthread_mutex_lock(&g_mu);
    look_again();
    bool alone = list_threads(&tid, &n);
    for (size_t i = 0; alone && i < n; i++)
        alone = not_the_programs(tid[i], self);
    /* And no thread that was not listed: one made after the list by a
     * thread that has ended since it was looked at (a worker that starts
     * its successor) was seen by nobody. Any of the program's alive now
     * and listed before was alive when it was looked at. */
    if (alone && (alone = list_threads(&now, &m))) {
        for (size_t j = 0; alone && j < m; j++) {
            size_t i = 0;
            while (i < n && tid[i] != now[j])
                i++;
            alone = i < n;
        }
        free(now);
    }
    free(tid);
    pthread_mutex_unlock(&g_mu);
    return alone;
}
