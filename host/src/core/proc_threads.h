/*
 * proc_threads.h - the process's threads as /proc lists them
 * (proc_threads.c): for telling which threads a library started.
 */
#ifndef QV_CORE_PROC_THREADS_H
#define QV_CORE_PROC_THREADS_H

#include <stddef.h>

/* One thread, from /proc/self/task/TID/stat. */
typedef struct qv__proc_thread {
    char comm[16];            /* its name */
    char state;               /* 'R', 'S', 'D', 'Z', ... */
    unsigned long long start; /* clock ticks after boot: with the id, the
                               * thread (ids are used again) */
} qv__proc_thread;

/* The ids of the process's threads into ids (at most cap); returns how
 * many there are, more than cap when not all were stored; 0 when /proc
 * cannot be read. */
size_t qv__proc_threads(long *ids, size_t cap);

/* Thread tid into *out: 1; 0 when it is gone; -1 when /proc cannot say
 * (no descriptor free, say: not to be taken for gone). */
int qv__proc_thread_get(long tid, qv__proc_thread *out);

#endif
