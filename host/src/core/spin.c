/*
 * spin.c - the slow path of the spin lock of internal.h (qv__spin): taken
 * when the first test-and-set finds the lock held; it spins with the CPU's
 * pause hint and yields the core every 64 tries, so that a holder that was
 * preempted gets to run.
 */
#include <sched.h>

#include "core/internal.h"

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
