/*
 * Vitis HLS top function of the fft kernel and the sizes its hardware is
 * built for. Shared by fft.c and its testbench.
 */
#ifndef QV_HLS_FFT_H
#define QV_HLS_FFT_H

/* Largest transform: the ping-pong buffers and the twiddle table are sized by it. */
#define FFT_MAX_LOG2 12u
#define FFT_MAX_N    (1u << FFT_MAX_LOG2) /* = QV_HLS_FFT_MAX_N of common/fft_core.h */

/* Does nothing unless n is a power of two with 1 <= n <= FFT_MAX_N. */
void fft(const float *in_re, const float *in_im, float *out_re, float *out_im,
         unsigned int n);

#endif
