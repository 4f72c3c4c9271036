/*
 * dsp.c - the example's FIR filter, FFT and magnitude (dsp.h), written as
 * anyone would, without Quiver. The FFT is the textbook decimation in time
 * (bit reversal, then log2(n) stages of butterflies), its twiddles computed
 * in double.
 */
#include "dsp.h"

#include <math.h>

void fir(const float *x, const float *h, float *y, unsigned int n, unsigned int taps)
{
    for (unsigned int i = 0; i < n; i++) {
        float acc = 0.0f;
        unsigned int kmax = taps <= i ? taps : i + 1;
        for (unsigned int k = 0; k < kmax; k++)
            acc += h[k] * x[i - k];
        y[i] = acc;
    }
}

static unsigned int bit_reverse(unsigned int v, unsigned int bits)
{
    unsigned int r = 0;
    for (unsigned int b = 0; b < bits; b++)
        r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

void fft(const float *in_re, const float *in_im, float *out_re, float *out_im,
         unsigned int n)
{
    if (n == 0 || (n & (n - 1)) != 0)
        return;
    unsigned int log2n = 0;
    while ((1u << log2n) < n)
        log2n++;
    for (unsigned int i = 0; i < n; i++) {
        unsigned int j = bit_reverse(i, log2n);
        out_re[j] = in_re[i];
        out_im[j] = in_im[i];
    }
    for (unsigned int s = 0; s < log2n; s++) {
        unsigned int half = 1u << s;
        for (unsigned int p = 0; p < half; p++) {
            unsigned int k = p << (log2n - 1 - s);
            double ang = 6.283185307179586 * (double)k / (double)n;
            float wr = (float)cos(ang), wi = -(float)sin(ang);
            for (unsigned int a = p; a < n; a += 2 * half) {
                unsigned int b = a + half;
                float tr = wr * out_re[b] - wi * out_im[b];
                float ti = wr * out_im[b] + wi * out_re[b];
                float ar = out_re[a], ai = out_im[a];
                out_re[a] = ar + tr;
                out_im[a] = ai + ti;
                out_re[b] = ar - tr;
                out_im[b] = ai - ti;
            }
        }
    }
}

void mag(const float *re, const float *im, float *out, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++)
        out[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
}
