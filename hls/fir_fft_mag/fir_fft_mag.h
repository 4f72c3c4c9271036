/*
 * Vitis HLS top function of the fused fir_fft_mag kernel and the sizes its
 * hardware is built for. Shared by fir_fft_mag.c and its testbench.
 */
#ifndef QV_HLS_FIR_FFT_MAG_H
#define QV_HLS_FIR_FFT_MAG_H

/* Same limits as the fir and fft kernels it fuses. */
#define FFM_MAX_TAPS 128u
#define FFM_MAX_LOG2 12u
#define FFM_MAX_N    (1u << FFM_MAX_LOG2)

/* Does nothing unless n is a power of two <= FFM_MAX_N and taps <= FFM_MAX_TAPS. */
void fir_fft_mag(const float *x, const float *h, float *mag, unsigned int n,
                 unsigned int taps);

#endif
