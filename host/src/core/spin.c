/*
 * spin.c - the slow path of the spin lock of internal.h (qv__spin): taken
 * when the first test-and-set finds the lock held; it spins with the CPU's
 * pause hint and yields the core every 64 tries, so that a holder that was
 * preempted gets to run; and the spin of a thread before it sleeps.
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

bool qv__spin_change(const atomic_uint *v, unsigned old, unsigned spin_us)
{
    if (atomic_load_explicit(v, memory_order_acquire) != old)
        return true;
    if (!spin_us)
        return false;
    uint64_t deadline = qv__now_ns() + (uint64_t)spin_us * 1000u;
    for (unsigned i = 1; atomic_load_explicit(v, memory_order_acquire) == old; i++) {
        if (i % 256 == 0) {
            if (qv__now_ns() >= deadline)
                return false;
            sched_yield();
        } else {
            qv__cpu_relax();
        }
    }
    return true;
}
