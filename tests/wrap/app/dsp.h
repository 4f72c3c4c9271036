/*
 * dsp.h - the signal functions of the wrap test program, written without
 * Quiver: fir and vadd with the argument conventions of the catalog's
 * kernels (config/kernels.yaml), and smooth2, which calls fir inside the
 * file that defines it (a call --wrap cannot catch).
 */
#ifndef WRAP_APP_DSP_H
#define WRAP_APP_DSP_H

#include <stdint.h>

/* fir with this many taps calls exit(3) (main.c's mode exitin). */
#define DSP_EXIT_TAPS 7

/* y[i] = sum over k < taps, k <= i of h[k] * x[i - k]. */
void fir(const float *x, const float *h, float *y, uint32_t n, uint32_t taps);
/* out[i] = a[i] + b[i]. */
void vadd(const float *a, const float *b, float *out, uint32_t n);
/* fir twice: tmp = fir(x), y = fir(tmp). */
void smooth2(const float *x, const float *h, float *tmp, float *y, uint32_t n,
             uint32_t taps);

#endif
