/*
 * clock.h - the runtime's clock: CLOCK_MONOTONIC in nanoseconds, read
 * from the CPU's time-stamp counter where the kernel keeps its own clock
 * on it (clock.c says when and how it is calibrated).
 *
 * Every task reads the clock twice on its worker; on the development VM,
 * clock_gettime through the vDSO costs ~24 ns a read and an ordered TSC
 * read ~17 ns (docs/runtime.md, "Timing").
 * Durations and timestamps of the runtime all come from here; deadlines
 * for timed waits do not (qv__deadline_in reads CLOCK_MONOTONIC itself),
 * since the two may drift apart by a few microseconds an hour.
 */
#ifndef QV_CORE_CLOCK_H
#define QV_CORE_CLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QV__CLOCK_TSC 1
#endif

/* The TSC's mapping to nanoseconds, set once (clock.c): ns = ns0 +
 * (tsc - tsc0) * mult / 2^32. */
typedef struct qv__clock {
    atomic_bool on;
    uint64_t tsc0, ns0, mult;
} qv__clock;

extern qv__clock qv__clk;

uint64_t qv__clock_slow(void);
/* ns per tick in 32.32 fixed point for ticks ticks in ns nanoseconds; 0
 * when the counter is slower than 1 GHz or did not move. */
uint64_t qv__clock_rate(uint64_t ticks, uint64_t ns);
/* Decides whether the TSC can be used (once per process; cheap after). */
void qv__clock_init(void);

static inline uint64_t qv__now_ns(void)
{
#ifdef QV__CLOCK_TSC
    if (atomic_load_explicit(&qv__clk.on, memory_order_acquire)) {
        /* lfence: the counter is read after what came before it, as
         * clock_gettime reads it (times taken under a lock follow the
         * lock's order). */
        __builtin_ia32_lfence();
        uint64_t d = __builtin_ia32_rdtsc() - qv__clk.tsc0;
        if ((int64_t)d < 0) /* another core's counter a few ticks behind */
            d = 0;
        uint64_t m = qv__clk.mult;
        return qv__clk.ns0 + (d >> 32) * m + (((d & 0xffffffffu) * m) >> 32);
    }
#endif
    return qv__clock_slow();
}

#endif
