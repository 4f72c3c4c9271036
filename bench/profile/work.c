/*
 * work.c - the workloads of bench_profile, built twice: with
 * -finstrument-functions and without.
 *
 *   tiny N   N rounds of three nested calls of ~2 ns functions (as
 *            uftrace's misc/bench.c): the worst case, the probe's cost per
 *            call;
 *   hot N    N calls of a filter over 2048 samples (about 10-20 us each)
 *            through two small helpers per call: a program whose hot
 *            functions run >= 10 us, where the goal is <= 1.10x.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP __attribute__((noinline))

KEEP int c(int x);
KEEP int b(int x);
KEEP int a(int x);
KEEP float tap(const float *x, const float *h, unsigned taps);
KEEP void filter(const float *x, const float *h, float *y, unsigned n, unsigned taps);
KEEP float checksum(const float *y, unsigned n);

KEEP int c(int x) { return x + 1; }
KEEP int b(int x) { return c(x) ^ 3; }
KEEP int a(int x) { return b(x) + 1; }

KEEP float tap(const float *x, const float *h, unsigned taps)
{
    float s = 0;
    for (unsigned k = 0; k < taps; k++)
        s += x[k] * h[k];
    return s;
}

/* One tap() per 64 samples, so that most work is in filter itself. */
KEEP void filter(const float *x, const float *h, float *y, unsigned n, unsigned taps)
{
    for (unsigned i = 0; i < n; i++) {
        float s = 0;
        for (unsigned k = 0; k < taps; k++)
            s += x[i + k] * h[k];
        y[i] = s + ((i & 63) == 0 ? tap(x + i, h, 4) : 0);
    }
}

KEEP float checksum(const float *y, unsigned n)
{
    float s = 0;
    for (unsigned i = 0; i < n; i++)
        s += y[i];
    return s;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "tiny";
    long n = argc > 2 ? atol(argv[2]) : 1000;
    if (!strcmp(mode, "tiny")) {
        int s = 0;
        for (long i = 0; i < n; i++)
            s += a((int)i);
        printf("%d\n", s);
        return 0;
    }
    enum { N = 2048, TAPS = 16 };
    static float x[N + TAPS], h[TAPS], y[N];
    for (unsigned i = 0; i < N + TAPS; i++)
        x[i] = (float)(i % 17) * 0.25f;
    for (unsigned k = 0; k < TAPS; k++)
        h[k] = 1.0f / (float)(k + 1);
    float s = 0;
    for (long i = 0; i < n; i++) {
        filter(x, h, y, N, TAPS);
        s += checksum(y, N);
    }
    printf("%g\n", (double)s);
    return 0;
}
