/*
 * thread.c - starting the runtime's threads with the application's
 * asynchronous signals blocked (thread.h says why), and their timed waits
 * on the monotonic clock.
 */
#include "core/thread.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void qv__signals_runtime(sigset_t *set)
{
    sigfillset(set);
    sigdelset(set, SIGSEGV);
    sigdelset(set, SIGBUS);
    sigdelset(set, SIGFPE);
    sigdelset(set, SIGILL);
    sigdelset(set, SIGTRAP);
}

void qv__signals_block(sigset_t *old)
{
    sigset_t all;
    qv__signals_runtime(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

int qv__thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    sigset_t old;
    qv__signals_block(&old); /* inherited by the new thread */
    int rc = pthread_create(t, attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

uint64_t qv__thread_serial(void)
{
    static atomic_uint_fast64_t next;
    static _Thread_local uint64_t serial;
    if (!serial)
        serial = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) + 1;
    return serial;
}

/* The runtime's named threads alive, by Linux thread id (0: a free
 * slot); each clears its slot as it ends (the key's destructor). A thread
 * past the slots is not counted: a wrapped program whose main ended then
 * waits for it as for its own (core/alone.c). */
enum { NAMED = 512 };
static _Atomic long g_named[NAMED];
static pthread_key_t g_named_key;
static pthread_once_t g_named_once = PTHREAD_ONCE_INIT;

static void named_end(void *slot)
{
    atomic_store(&g_named[(uintptr_t)slot - 1], 0);
}

static void named_init(void)
{
    (void)pthread_key_create(&g_named_key, named_end);
}

void qv__thread_name(const char *what, int idx)
{
    char name[16];
    if (idx >= 0)
        snprintf(name, sizeof name, "qv-%s%d", what, idx);
    else
        snprintf(name, sizeof name, "qv-%s", what);
    pthread_setname_np(pthread_self(), name);
    pthread_once(&g_named_once, named_init);
    if (pthread_getspecific(g_named_key))
        return; /* named before */
    long tid = (long)gettid();
    for (uintptr_t i = 0; i < NAMED; i++) {
        long free_slot = 0;
        if (atomic_compare_exchange_strong(&g_named[i], &free_slot, tid)) {
            if (pthread_setspecific(g_named_key, (void *)(i + 1)))
                atomic_store(&g_named[i], 0);
            return;
        }
    }
}

bool qv__thread_runtimes(long tid)
{
    for (size_t i = 0; i < NAMED; i++)
        if (atomic_load_explicit(&g_named[i], memory_order_relaxed) == tid)
            return true;
    return false;
}

void qv__cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec qv__deadline_in(int64_t ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ns / 1000000000);
    t.tv_nsec += (long)(ns % 1000000000);
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

void qv__thread_each(void *items, size_t n, size_t size, void *(*fn)(void *))
{
    pthread_t *t = calloc(n ? n : 1, sizeof *t);
    bool *started = calloc(n ? n : 1, sizeof *started);
    for (size_t i = 0; i < n; i++) {
        void *item = (char *)items + i * size;
        if (!t || !started || qv__thread_start(&t[i], NULL, fn, item) != 0)
            fn(item); /* one after another, then */
        else
            started[i] = true;
    }
    for (size_t i = 0; t && started && i < n; i++)
        if (started[i])
            pthread_join(t[i], NULL);
    free(t);
    free(started);
}
