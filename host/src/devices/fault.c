/*
 * fault.c - fault injection for tests: make the n-th call of one backend
 * operation fail, to prove that every fault ends with the task done
 * elsewhere and the right result (or the n calls from there on: a fault
 * that retries do not clear). One armed fault at a time; free when
 * none is armed (a relaxed load). A delay that makes one operation slow
 * (qv__fault_delay_set), and a pause that widens one race window of the
 * core (qv__fault_pause), for the tests that must lose a race.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "devices/device.h"

/* What is armed is read by the runtime's threads while a test may arm
 * something else: the backend's name packed into atomic words, and the
 * operation and error atomic, so that a reader sees either setting, never
 * a torn one (ThreadSanitizer flagged the plain string once the loop's
 * thread, busy in every runtime, passed a fault point). */
typedef struct fault_name {
    _Atomic uint64_t w[2];
} fault_name;

/* backend's name as the two words a fault_name holds. */
static void pack(const char *backend, uint64_t w[2])
{
    char b[16] = { 0 };
    snprintf(b, sizeof b, "%s", backend);
    memcpy(w, b, sizeof b);
}

static void name_set(fault_name *n, const char *backend)
{
    uint64_t w[2];
    pack(backend, w);
    atomic_store_explicit(&n->w[0], w[0], memory_order_relaxed);
    atomic_store_explicit(&n->w[1], w[1], memory_order_relaxed);
}

static bool name_is(fault_name *n, const char *backend)
{
    uint64_t w[2];
    pack(backend, w);
    return atomic_load_explicit(&n->w[0], memory_order_relaxed) == w[0] &&
           atomic_load_explicit(&n->w[1], memory_order_relaxed) == w[1];
}

static atomic_int armed;
static fault_name f_backend;
static atomic_int f_op, f_err;
static atomic_int f_after;
static atomic_uint f_times;

void qv__fault_set_n(const char *backend, int op, unsigned after, unsigned times, int err)
{
    atomic_store(&armed, 0);
    if (!backend || !times)
        return;
    name_set(&f_backend, backend);
    atomic_store(&f_op, op);
    atomic_store(&f_err, err);
    atomic_store(&f_after, (int)after);
    atomic_store(&f_times, times);
    atomic_store(&armed, 1);
}

void qv__fault_set(const char *backend, int op, unsigned after, int err)
{
    qv__fault_set_n(backend, op, after, 1, err);
}

static atomic_uint d_us; /* 0: no delay */
static fault_name   d_backend;
static atomic_int   d_op;
static atomic_uint  d_in; /* threads in a delay now */
static atomic_uint d_done; /* delays served, ever */

void qv__fault_delay_set(const char *backend, int op, unsigned us)
{
    atomic_store(&d_us, 0);
    if (!backend || !us)
        return;
    name_set(&d_backend, backend);
    atomic_store(&d_op, op);
    atomic_store(&d_us, us);
}

static void delay(const char *backend, int op)
{
    unsigned us = atomic_load_explicit(&d_us, memory_order_acquire);
    if (us && op == atomic_load_explicit(&d_op, memory_order_relaxed) &&
        name_is(&d_backend, backend)) {
        atomic_fetch_add(&d_in, 1);
        nanosleep(&(struct timespec){us / 1000000, (long)(us % 1000000) * 1000}, NULL);
        atomic_fetch_add(&d_done, 1);
        atomic_fetch_sub(&d_in, 1);
    }
}

unsigned qv__fault_delaying(void)
{
    return atomic_load(&d_in);
}

unsigned qv__fault_delays(void)
{
    return atomic_load(&d_done);
}

int qv__fault_hit(const char *backend, int op)
{
    delay(backend, op);
    if (!atomic_load_explicit(&armed, memory_order_acquire))
        return 0;
    if (op != atomic_load_explicit(&f_op, memory_order_relaxed) ||
        !name_is(&f_backend, backend))
        return 0;
    int left = atomic_fetch_sub(&f_after, 1); /* 0: this call fails, -k: the k-th after */
    if (left > 0)
        return 0;
    unsigned times = atomic_load_explicit(&f_times, memory_order_relaxed);
    if (times != QV_FAULT_ALWAYS && (unsigned)-left + 1 >= times)
        atomic_store(&armed, 0);
    return atomic_load_explicit(&f_err, memory_order_relaxed);
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
