/*
 * spin.c - the slow path of the spin lock of internal.h (qv__spin): taken
 * when the first test-and-set finds the lock held; it spins with the CPU's
 * pause hint and yields the core every 64 tries, so that a holder that was
 * preempted gets to run; the spin of a thread before it sleeps; and
 * whether it spins at all (qv__idle).
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

/* Two idles in a row past the spin stop it: one long idle is the end of a
 * burst of work, the next one says the work comes slower than a wake-up.
 * The probe brings the spin back within 16 idles when the work speeds up
 * while the sleeps stay longer than the spin (a wake-up costs tens of
 * microseconds on a loaded machine). */
enum { IDLE_LONGS = 2, IDLE_PROBE = 16 };

unsigned qv__idle_spin(qv__idle *s, unsigned spin_us)
{
    if (s->longs < IDLE_LONGS)
        return spin_us;
    return ++s->turn % IDLE_PROBE == 0 ? spin_us : 0;
}

void qv__idle_end(qv__idle *s, uint64_t ns, unsigned spin_us)
{
    /* A sleep's length includes its wake-up, about a spin's worth. */
    if (ns <= 2u * (uint64_t)spin_us * 1000u)
        s->longs = 0;
    else if (s->longs < UINT8_MAX)
        s->longs++;
}
