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
 * asynchronous signals were all blocked (qv__alone_adopt), which they
 * inherit. A thread of the program's made in that moment by another of
 * its threads, with every signal blocked too, would pass for one of
 * theirs; nothing else does, and a thread this cannot place (/proc
 * unreadable, no descriptor free) counts as the program's: the process
 * then waits, as it did.
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
    each_thread(note_tid, b);
    qv__signals_block(old); /* what this thread makes now inherits it */
}

static bool adopt(long tid, void *arg)
{
    const qv__alone_before *b = arg;
    for (size_t i = 0; i < b->n; i++)
        if (b->tid[i] == tid)
            return true;
    if (named_ours(tid) || !all_blocked(tid))
        return true;
    unsigned long long start;
    if (start_of(tid, &start) == 1 && g_nlib < MAX_LIB)
        g_lib[g_nlib++] = (struct tid){tid, start};
    return true;
}

void qv__alone_end(const qv__alone_before *b, const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
    if (b->full) /* who was there before is not known: adopt none */
        return;
    pthread_mutex_lock(&g_mu);
    each_thread(adopt, (void *)b);
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
