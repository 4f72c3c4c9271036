/*
 * lib_spin.c - a function in a shared library, for test_profile: the
 * library is found through a relative LD_LIBRARY_PATH, or opened in many
 * copies, and its function must still be named in the report.
 */
#include <time.h>

#define NOI __attribute__((no_instrument_function))

NOI static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void lib_spin(double ms);

__attribute__((noinline)) void lib_spin(double ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
    }
}
