/*
 * Plain C reference of the fused fir_fft_mag kernel, and of its last step,
 * the complex magnitude. The fused kernel implements the chain
 *   fir(x, h) -> y;  fft(y, 0) -> (re, im);  mag(re, im) -> out
 * and qv_hls_fir_fft_mag_ref runs exactly that chain with the fir and fft
 * references, so it is both the CPU implementation of the fused kernel and
 * the statement of what "equal to the chain" means.
 */
#ifndef QV_HLS_FIR_FFT_MAG_REF_H
#define QV_HLS_FIR_FFT_MAG_REF_H

#include <stdint.h>

/*
 * out[i] = sqrtf(re[i]*re[i] + im[i]*im[i]) for 0 <= i < n. re, im: n floats
 * read; out: n floats written (may alias re or im). Every n is valid.
 */
void qv_hls_mag_ref(const float *re, const float *im, float *out, uint32_t n);

/*
 * mag[k] = |FFT(FIR(x, h))[k]| for 0 <= k < n: the FIR of qv_hls_fir_ref
 * (n outputs, taps coefficients, zero initial state), its forward FFT as a
 * complex signal with zero imaginary part (qv_hls_fft_ref), then
 * qv_hls_mag_ref. x: n floats read; h: taps floats read; mag: n floats
 * written, must not alias x. n must be a power of two.
 * Returns 0; -EINVAL when n is not a power of two; -ENOMEM when the 2*n
 * floats of scratch cannot be allocated (nothing written in either case).
 */
int qv_hls_fir_fft_mag_ref(const float *x, const float *h, float *mag, uint32_t n,
                           uint32_t taps);

#endif
