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
 * theirs; nothing else does, and a thread this cannot place counts as the
 * program's: the process then waits, as it did.
 */
#include "wrap/alone.h"

#include <dirent.h>
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

/* The start time of thread tid (clock ticks since boot); 0 if gone. */
static unsigned long long start_of(long tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* After the name, which may hold anything, ")": the state is field 3,
     * the start time field 22. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long start = 0;
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p)
        start = strtoull(p + 1, NULL, 10);
    return start;
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

/* Calls fn(tid, arg) for each thread of the process until it returns
 * false; false when /proc cannot be read or fn said so. */
static bool each_thread(bool (*fn)(long, void *), void *arg)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (e->d_name[0] != '.' && !*end)
            ok = fn(tid, arg);
    }
    closedir(d);
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
    unsigned long long start = start_of(tid);
    if (start && g_nlib < MAX_LIB)
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
    unsigned long long start = start_of(tid);
    if (!start) /* gone since it was listed */
        return true;
    for (size_t i = 0; i < g_nlib; i++)
        if (g_lib[i].tid == tid && g_lib[i].start == start)
            return true;
    return false;
}

bool qv__alone(void)
{
    long self = (long)gettid();
    pthread_mutex_lock(&g_mu);
    bool alone = each_thread(not_the_programs, &self);
    pthread_mutex_unlock(&g_mu);
    return alone;
}
