/*
 * Plain C reference of the fir kernel: a causal FIR filter with zero initial
 * state. The CPU implementation of the "fir" function and the oracle for the
 * HLS and OpenCL variants.
 */
#ifndef QV_HLS_FIR_REF_H
#define QV_HLS_FIR_REF_H

#include <stdint.h>

/*
 * y[i] = sum_{k=0}^{taps-1} h[k] * x[i-k] for 0 <= i < n, with x[j] = 0 for
 * j < 0 (the filter starts from rest). x: n floats read; h: taps floats read;
 * y: n floats written, must not alias x. taps = 0 gives y = 0. Any n and taps
 * are valid here; the HLS kernel is limited to FIR_MAX_TAPS taps. The sum is
 * taken in increasing k, which the other variants follow.
 */
void qv_hls_fir_ref(const float *x, const float *h, float *y, uint32_t n, uint32_t taps);

#endif
