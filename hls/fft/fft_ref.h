/*
 * Plain C reference of the fft kernel: a forward radix-2 FFT of complex float
 * data held as separate real and imaginary arrays. The CPU implementation of
 * the "fft" function and the oracle for the HLS and OpenCL variants.
 */
#ifndef QV_HLS_FFT_REF_H
#define QV_HLS_FFT_REF_H

#include <stdint.h>

/*
 * out[k] = sum_{j<n} in[j] * exp(-2*pi*i*j*k/n) for 0 <= k < n, unscaled, with
 * in[j] = in_re[j] + i*in_im[j] and the same split for out. in_re, in_im: n
 * floats read; out_re, out_im: n floats written; out may alias in (the
 * transform then runs in place). n must be a power of two >= 1 (no upper
 * limit here; the HLS kernel stops at FFT_MAX_N).
 * Returns 0, or -EINVAL (nothing written) when n is not a power of two.
 * Decimation in time; the twiddle for index k is (float)cos(2*pi*k/n) -
 * i*(float)sin(2*pi*k/n) computed in double, which the HLS kernel repeats.
 */
int qv_hls_fft_ref(const float *in_re, const float *in_im, float *out_re, float *out_im,
                   uint32_t n);

#endif
