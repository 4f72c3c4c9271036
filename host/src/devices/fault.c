/*
 * fault.c - fault injection for tests: make the n-th call of one backend
 * operation fail, to prove that every fault ends with the task done
 * elsewhere and the right result. One armed fault at a time; free when
 * none is armed (a relaxed load). A delay that makes one operation slow
 * (qv__fault_delay_set), and a pause that widens one race window of the
 * core (qv__fault_pause), for the tests that must lose a race.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "devices/device.h"

static atomic_int armed;
static char       f_backend[16];
static int        f_op, f_err;
static atomic_int f_after;

void qv__fault_set(const char *backend, int op, unsigned after, int err)
{
    atomic_store(&armed, 0);
    if (!backend)
        return;
    snprintf(f_backend, sizeof f_backend, "%s", backend);
    f_op = op;
    f_err = err;
    atomic_store(&f_after, (int)after);
    atomic_store(&armed, 1);
}

static atomic_uint d_us; /* 0: no delay */
static char         d_backend[16];
static int          d_op;
static atomic_uint  d_in; /* threads in a delay now */

void qv__fault_delay_set(const char *backend, int op, unsigned us)
{
    atomic_store(&d_us, 0);
    if (!backend || !us)
        return;
    snprintf(d_backend, sizeof d_backend, "%s", backend);
    d_op = op;
    atomic_store(&d_us, us);
}

static void delay(const char *backend, int op)
{
    unsigned us = atomic_load_explicit(&d_us, memory_order_acquire);
    if (us && op == d_op && !strcmp(backend, d_backend)) {
        atomic_fetch_add(&d_in, 1);
        nanosleep(&(struct timespec){us / 1000000, (long)(us % 1000000) * 1000}, NULL);
        atomic_fetch_sub(&d_in, 1);
    }
}

unsigned qv__fault_delaying(void)
{
    return atomic_load(&d_in);
}

int qv__fault_hit(const char *backend, int op)
{
    delay(backend, op);
    if (!atomic_load_explicit(&armed, memory_order_acquire))
        return 0;
    if (op != f_op || strcmp(backend, f_backend))
        return 0;
    if (atomic_fetch_sub(&f_after, 1) != 0)
        return 0;
    atomic_store(&armed, 0);
    return f_err;
}

static atomic_uint pause_us;

void qv__fault_pause_set(unsigned us)
{
    atomic_store(&pause_us, us);
}

bool qv__fault_pausing(void)
{
    return atomic_load_explicit(&pause_us, memory_order_relaxed) != 0;
}

void qv__fault_pause(void)
{
    unsigned us = atomic_load_explicit(&pause_us, memory_order_relaxed);
    if (us)
        nanosleep(&(struct timespec){us / 1000000, (long)(us % 1000000) * 1000}, NULL);
}
