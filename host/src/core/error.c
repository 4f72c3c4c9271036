/*
 * error.c - error names, the per-thread last-error detail and logging.
 * Detail lives in a thread-local buffer so that concurrent callers never see
 * each other's messages and no call needs a runtime to report an error.
 */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local char last_error[512];

QV_API const char *qv_strerror(int err)
{
    if (err == 0)
        return "success";
    switch (err) {
#define QV__ERR_CASE(name, val, msg)                                           \
    case (val):                                                                \
        return msg;
        QV_ERRNO_MAP(QV__ERR_CASE)
#undef QV__ERR_CASE
    default:
        break;
    }
    if (err < 0 && err > -4000)
        return strerror(-err);
    return "unknown error";
}

QV_API const char *qv_last_error(void)
{
    return last_error;
}

int qv__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

static atomic_int log_level = -1;

void qv__log_set_level(int l)
{
    atomic_store_explicit(&log_level, l, memory_order_relaxed);
}

static int log_threshold(void)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l < 0) {
        const char *e = getenv("QV_LOG");
        l = e && *e ? atoi(e) : 1;
        atomic_store_explicit(&log_level, l, memory_order_relaxed);
    }
    return l;
}

void qv__log(int level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warning", "info", "debug" };
    if (level > log_threshold())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "quiver: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level],
            line);
}

void qv__spin_lock_slow(qv__spin *s)
{
    unsigned i = 0;
    while (atomic_flag_test_and_set_explicit(&s->f, memory_order_acquire)) {
        if (++i % 64 == 0)
            sched_yield();
        else
            qv__cpu_relax();
    }
}

QV_API const char *qv_class_name(qv_class c)
{
    static const char *names[QV_CLASS_COUNT] = { "cpu", "gpu", "fpga", "remote" };
    return (unsigned)c < QV_CLASS_COUNT ? names[c] : NULL;
}
