/*
 * clock.c - calibrates the time-stamp counter against CLOCK_MONOTONIC
 * (clock.h).
 *
 * The TSC is used only where the kernel uses it for its own clock
 * (current_clocksource "tsc"): the kernel then found it invariant and in
 * step on every CPU, which is what lets a duration start on one core and
 * end on another. Its rate is measured, not read from CPUID (VMs often hide
 * it): the first reading after qv__clock_init notes a pair (TSC,
 * CLOCK_MONOTONIC), and the first reading 50 ms later notes a second one;
 * the rate is the ratio of the two spans. Until then, and on any machine
 * where the TSC is not the kernel's clock, every reading is
 * clock_gettime's.
 *
 * Accuracy: each pair is read within ~100 ns (the best of a few tries), so
 * the rate is right to ~2e-6: the two clocks drift apart by up to ~7 ms an
 * hour. The runtime compares its readings only with each other, so that
 * is harmless; where a reading meets the kernel's clock (a timed wait's
 * deadline) the kernel's clock is read instead.
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

#define CALIBRATE_NS (50u * 1000000u)

qv__clock qv__clk;

/* 0: not armed (clock_gettime only); 1: first pair taken, measuring;
 * 2: calibrating or done; 3: never (no TSC, or not the kernel's clock). */
static atomic_int state;
static uint64_t tsc_a, ns_a;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef QV__CLOCK_TSC
/* A pair (TSC, CLOCK_MONOTONIC) read as close together as a few tries
 * allow: the TSC half-way between the two counter reads around the
 * clock's. */
static void pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t a = __builtin_ia32_rdtsc();
        uint64_t n = mono_ns();
        uint64_t b = __builtin_ia32_rdtsc();
        if (b > a && b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
    if (best == UINT64_MAX) { /* the counter did not move forward */
        *tsc = 0;
        *ns = mono_ns();
    }
}

/* Whether the kernel's clock is the TSC. */
static bool kernel_on_tsc(void)
{
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[16] = { 0 };
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 3 && memcmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

/* The second pair: the rate, then the mapping goes live. */
static void calibrate(void)
{
    uint64_t tsc_b, ns_b;
    pair(&tsc_b, &ns_b);
    if (!tsc_b || tsc_b <= tsc_a || ns_b <= ns_a) {
        atomic_store(&state, 3);
        return;
    }
    uint64_t mult = qv__clock_rate(tsc_b - tsc_a, ns_b - ns_a);
    if (!mult) {
        atomic_store(&state, 3);
        return;
    }
    qv__clk.tsc0 = tsc_b;
    /* One microsecond ahead: a reading of clock_gettime taken just before
     * the switch is never later than the first TSC readings after it. */
    qv__clk.ns0 = ns_b + 1000;
    qv__clk.mult = mult;
    atomic_store_explicit(&qv__clk.on, true, memory_order_release);
}
#endif

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128; /* GCC and Clang, 64-bit targets */
#endif

uint64_t qv__clock_rate(uint64_t ticks, uint64_t ns)
{
    /* Nanoseconds per tick in 32.32 fixed point, in 128 bits: the span
     * may be long (the first reading after the 50 ms may come seconds
     * later, from an idle runtime), and ns << 32 overflowed 64 bits past
     * 4.3 s, which slowed the clock for good (code review). A counter
     * slower than 1 GHz (mult >= 2^32) is left alone: the mapping assumes
     * less than a nanosecond a tick. */
    if (!ticks)
        return 0;
#ifdef __SIZEOF_INT128__
    u128 m = ((u128)ns << 32) / ticks;
    return m == 0 || m >= ((u128)1 << 32) ? 0 : (uint64_t)m;
#else
    long double m = (long double)ns * 4294967296.0L / (long double)ticks;
    return m < 1 || m >= 4294967296.0L ? 0 : (uint64_t)m;
#endif
}

uint64_t qv__clock_slow(void)
{
    uint64_t now = mono_ns();
#ifdef QV__CLOCK_TSC
    int s = atomic_load_explicit(&state, memory_order_acquire);
    int one = 1;
    if (s == 1 && now - ns_a >= CALIBRATE_NS &&
        atomic_compare_exchange_strong(&state, &one, 2))
        calibrate();
#endif
    return now;
}

static void init_once(void)
{
#ifdef QV__CLOCK_TSC
    if (!kernel_on_tsc()) {
        atomic_store(&state, 3);
        return;
    }
    pair(&tsc_a, &ns_a);
    atomic_store_explicit(&state, tsc_a ? 1 : 3, memory_order_release);
#else
    atomic_store(&state, 3);
#endif
}

void qv__clock_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
}
