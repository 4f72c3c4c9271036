/*
 * alone.c - whether the program's own threads have all ended, the threads
 * left being the runtime's and its libraries'. A wrapped program's main
 * that ends with pthread_exit leaves the process to its last thread, and
 * the runtime's threads never end: without this the process never exited
 * (and those threads block SIGTERM; adversarial testing).
 *
 * The runtime's own threads are named "qv-..." (qv__thread_name). The
 * threads its libraries make (PoCL's, ZeroMQ's, XRT's) are not: they are
 * told by being made while the runtime was, from a thread whose signal
 * mask was then exactly the runtime's (qv__signals_block: the
 * asynchronous signals blocked, SIGSEGV and the other synchronous ones
 * not), which they inherit. A program that blocks every signal in main
 * before it makes its threads (sigfillset, the sigwait pattern) gives
 * them SIGSEGV blocked too, as glibc's pthread_create does to each new
 * thread for a moment: a mask that merely blocks all the asynchronous
 * signals took such threads for the libraries', and the process exited
 * while they still worked (adversarial testing). Only a thread of the
 * program's made at that moment by another of its threads with exactly
 * that mask would pass for one of theirs; a thread this cannot place
 * (/proc unreadable, no descriptor free) counts as the program's: the
 * process then waits.
 */
#include "wrap/alone.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/thread.h"

enum { MAX_LIB = 64 };

/* A thread, by its id and its start time (ids are used again). */
struct tid {
    long tid;
    unsigned long long start;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tid g_lib[MAX_LIB]; /* the libraries' threads; guarded by g_mu */
static size_t g_nlib;

/* The start time of thread tid (clock ticks since boot) into *start:
 * 1, or 0 when the thread is gone, -1 when that cannot be told (no
 * descriptor free: taken for gone, every thread of a program at its limit
 * of descriptors was, and the process exited under them; adversarial
 * testing). */
static int start_of(long tid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* After the name, which may hold anything, ")": the state is field 3,
     * the start time field 22. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return n ? -1 : 0; /* nothing read: it ended while being read */
    *start = strtoull(p + 1, NULL, 10);
    return 1;
}

/* The signal mask (SigBlk) in a thread's status file at path, as /proc says
 * it; 0 when it cannot be read. */
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

/* Whether thread tid is named as the runtime's threads are. */
static bool named_ours(long tid)
{
    char path[64], name[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ours = fgets(name, sizeof name, f) && !strncmp(name, "qv-", 3);
    fclose(f);
    return ours;
}

/* The threads of the process into *tid (the caller frees it), *n of them;
 * false when /proc cannot be read. */
static bool list_threads(long **tid, size_t *n)
{
    *tid = NULL;
    *n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;
    size_t cap = 0;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        char *end;
        long t = strtol(e->d_name, &end, 10);
        if (e->d_name[0] == '.' || *end)
            continue;
        if (*n == cap) {
            long *more = realloc(*tid, (cap = cap ? 2 * cap : 64) * sizeof **tid);
            if (!more)
                ok = false;
            else
                *tid = more;
        }
        if (ok)
            (*tid)[(*n)++] = t;
    }
    closedir(d);
    if (!ok) {
        free(*tid);
        *tid = NULL;
    }
    return ok;
}

/* Calls fn(tid, arg) for each thread of the process until it returns
 * false; false when /proc cannot be read or fn said so. The list is read
 * whole and closed first, so that fn needs one descriptor, not two: a
 * program with one descriptor free could never be told alone. */
static bool each_thread(bool (*fn)(long, void *), void *arg)
{
    long *tid;
    size_t n;
    bool ok = list_threads(&tid, &n);
    for (size_t i = 0; ok && i < n; i++)
        ok = fn(tid[i], arg);
    free(tid);
    return ok;
}

static bool note_tid(long tid, void *arg)
{
    qv__alone_before *b = arg;
    if (b->n < sizeof b->tid / sizeof *b->tid)
        b->tid[b->n++] = tid;
    else
        b->full = true;
    return true;
}

void qv__alone_begin(qv__alone_before *b, sigset_t *old)
{
    b->n = 0;
    b->full = false;
    b->mask = 0;
    /* The runtime's mask exactly, not this thread's own plus it: all
     * blocked in a program that blocks all, the libraries' threads would
     * look like its. What this thread makes now inherits it. */
    sigset_t mask;
    qv__signals_runtime(&mask);
    pthread_sigmask(SIG_SETMASK, &mask, old);
    if (!each_thread(note_tid, b))
        b->full = true;
    b->mask = mask_of("/proc/thread-self/status");
}

/* The threads made meanwhile whose mask blocks more than the runtime's,
 * looked at again (qv__alone_end). */
struct adopting {
    const qv__alone_before *b;
    long later[MAX_LIB];
    size_t nlater;
};

/* Adopts tid when its mask is the runtime's. One that blocks that and
 * more may be a thread just made: glibc blocks every signal in a new
 * thread until it starts; it is looked at again. g_mu held. */
static void adopt_one(struct adopting *a, long tid, bool first)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    unsigned long long mask = mask_of(path), want = a->b->mask;
    unsigned long long start;
    if (mask == want) {
        if (start_of(tid, &start) == 1 && g_nlib < MAX_LIB)
            g_lib[g_nlib++] = (struct tid){tid, start};
    } else if (first && (mask & want) == want && a->nlater < MAX_LIB) {
        a->later[a->nlater++] = tid;
    }
}

static bool adopt(long tid, void *arg)
{
    struct adopting *a = arg;
    for (size_t i = 0; i < a->b->n; i++)
        if (a->b->tid[i] == tid)
            return true;
    if (!named_ours(tid))
        adopt_one(a, tid, true);
    return true;
}

void qv__alone_end(const qv__alone_before *b, const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
    /* Who was there before, or the mask, not known: adopt none. */
    if (b->full || !b->mask)
        return;
    struct adopting a = {.b = b};
    pthread_mutex_lock(&g_mu);
    each_thread(adopt, &a);
    /* Those blocking more, once more after a moment: a thread just made
     * has its own mask by then, one of the program's that blocks every
     * signal (with SIGSEGV) still blocks them. */
    if (a.nlater) {
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
        for (size_t i = 0; i < a.nlater; i++)
            adopt_one(&a, a.later[i], false);
    }
    pthread_mutex_unlock(&g_mu);
}

static bool not_the_programs(long tid, void *arg)
{
    if (tid == *(long *)arg || named_ours(tid))
        return true;
    unsigned long long start;
    int known = start_of(tid, &start);
    if (known <= 0) /* gone since it was listed, or cannot be told */
        return known == 0;
    for (size_t i = 0; i < g_nlib; i++)
        if (g_lib[i].tid == tid && g_lib[i].start == start)
            return true;
    return false;
}

bool qv__alone(void)
{
    long self = (long)gettid(), *tid, *now;
    size_t n, m;
    pthread_mutex_lock(&g_mu);
    bool alone = list_threads(&tid, &n);
    for (size_t i = 0; alone && i < n; i++)
        alone = not_the_programs(tid[i], &self);
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
