/*
 * error.c - error names, the per-thread last-error detail and logging.
 * Detail lives in a thread-local buffer so that concurrent callers never see
 * each other's messages and no call needs a runtime to report an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "qv_escape.h"
#include "core/fork.h"

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
    /* Formatted apart: callers pass qv_last_error() to say what went wrong
     * below them, and vsnprintf into the buffer it reads loses it. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return err;
}

static atomic_int log_level = -1;

/* The log goes to stderr, or to the file the policy names (log.file),
 * opened for appending by the runtime that names it and closed by it. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;
static unsigned log_fp_users;

void qv__log_fork_lock(bool lock)
{
    qv__fork_hold(&log_mu, lock);
}

void qv__log_set_level(int l)
{
    atomic_store_explicit(&log_level, l, memory_order_relaxed);
}

int qv__log_level_parse(const char *s)
{
    static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "warning"))
        return 1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i]))
            return i;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < 0 || v > 4 ? -1 : (int)v; /* 5 or 1e11 was taken as 4 */
}

bool qv__log_env(void)
{
    return qv__log_level_parse(getenv("QV_LOG")) >= 0;
}

int qv__log_threshold(void)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l < 0) {
        const char *e = getenv("QV_LOG");
        l = qv__log_level_parse(e);
        if (l < 0) {
            if (e && *e)
                fprintf(stderr, "quiver: warning: QV_LOG=%s is not a level (error, warn, "
                        "info, debug, trace or 0 to 4); using warn\n", e);
            l = 1;
        }
        atomic_store_explicit(&log_level, l, memory_order_relaxed);
    }
    return l;
}

int qv__log_open(const char *path)
{
    /* Non-blocking open: a FIFO with no reader fails at once (ENXIO)
     * instead of hanging the runtime's creation. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return qv__fail(-errno, "log.file %s: %s", path, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "a");
    if (!f) {
        int e = errno;
        close(fd);
        return qv__fail(-e, "log.file %s: %s", path, strerror(e));
    }
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp); /* the latest runtime's file wins */
    log_fp = f;
    log_fp_users++;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

void qv__log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (log_fp_users && --log_fp_users == 0 && log_fp) {
        fclose(log_fp);
        log_fp = NULL;
    }
    pthread_mutex_unlock(&log_mu);
}

void qv__log(int level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warning", "info", "debug", "trace" };
    if (level > qv__log_threshold())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Names come from programs and files (a region's, a board's, a
     * kernel's): control characters are escaped, a newline too, so that a
     * name cannot forge a log line of its own nor an escape sequence drive
     * the terminal (adversarial testing). One message, one line. */
    char out[4 * sizeof line];
    const char *msg = qv__escape_needed(line) ? qv__escape(line, out, sizeof out) : line;
    pthread_mutex_lock(&log_mu);
    fprintf(log_fp ? log_fp : stderr, "quiver: %s: %s\n",
            names[level < 0 ? 0 : level > 4 ? 4 : level], msg);
    pthread_mutex_unlock(&log_mu);
}

QV_API const char *qv_class_name(qv_class c)
{
    static const char *names[QV_CLASS_COUNT] = { "cpu", "gpu", "fpga", "remote" };
    return (unsigned)c < QV_CLASS_COUNT ? names[c] : NULL;
}
