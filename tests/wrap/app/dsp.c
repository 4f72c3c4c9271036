/*
 * dsp.c - the signal functions of the wrap test program (dsp.h), in plain
 * C. The FIR sums in increasing tap order, as hls/fir does, so that the
 * board's results match within a float tolerance.
 */
#include <stdlib.h>

#include "dsp.h"

void fir(const float *x, const float *h, float *y, uint32_t n, uint32_t taps)
{
    if (taps == DSP_EXIT_TAPS) /* main.c's "exitin": a function that exits */
        exit(3);
    for (uint32_t i = 0; i < n; i++) {
        float acc = 0.0f;
        uint32_t kmax = taps <= i ? taps : i + 1;
        for (uint32_t k = 0; k < kmax; k++)
            acc += h[k] * x[i - k];
        y[i] = acc;
    }
}

void vadd(const float *a, const float *b, float *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void smooth2(const float *x, const float *h, float *tmp, float *y, uint32_t n,
             uint32_t taps)
{
    fir(x, h, tmp, n, taps); /* same object: not wrapped */
    fir(tmp, h, y, n, taps);
}
