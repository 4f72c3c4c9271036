/*
 * dsp.h - the signal processing steps of the offload example: a FIR filter,
 * a radix-2 FFT and the complex magnitude. Plain C, no Quiver: the kind of
 * functions an existing program has. They are defined in dsp.c, apart from
 * their caller, so that the linker can interpose them (-Wl,--wrap=fir),
 * and their arguments follow the catalog kernels fir and fft and the mag
 * step of fir_fft_mag (config/kernels.yaml): buffers first, then the sizes.
 */
#ifndef OFFLOAD_DSP_H
#define OFFLOAD_DSP_H

/* y[i] = sum_{k<taps, k<=i} h[k] * x[i-k] for i < n: the filter starts from
 * rest. x: n samples; h: taps coefficients; y: n samples, not aliasing x. */
void fir(const float *x, const float *h, float *y, unsigned int n, unsigned int taps);

/* The forward FFT of the n complex values (in_re, in_im) into (out_re,
 * out_im), unscaled; the output does not alias the input. n must be a
 * power of two (nothing is written otherwise). */
void fft(const float *in_re, const float *in_im, float *out_re, float *out_im,
         unsigned int n);

/* out[i] = sqrt(re[i]^2 + im[i]^2) for i < n. */
void mag(const float *re, const float *im, float *out, unsigned int n);

#endif
