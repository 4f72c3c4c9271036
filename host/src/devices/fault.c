/*
 * fault.c - fault injection for tests: make the n-th call of one backend
 * operation fail, to prove that every fault ends with the task done
 * elsewhere and the right result. One armed fault at a time; free when
 * none is armed (a relaxed load).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

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

int qv__fault_hit(const char *backend, int op)
{
    if (!atomic_load_explicit(&armed, memory_order_acquire))
        return 0;
    if (op != f_op || strcmp(backend, f_backend))
        return 0;
    if (atomic_fetch_sub(&f_after, 1) != 0)
        return 0;
    atomic_store(&armed, 0);
    return f_err;
}
