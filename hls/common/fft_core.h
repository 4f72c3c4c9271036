/*
 * fft_core.h - the radix-2 FFT building blocks that the fft kernel and the
 * fused fir_fft_mag kernel share: bit reversal and one pipelined stage of
 * butterflies. Static functions in a header, so that each kernel's top
 * function (compiled alone by v++ or by gcc) gets its own copy, as HLS
 * wants; the pragmas travel with them.
 */
/* clang-format off */
#ifndef QV_HLS_FFT_CORE_H
#define QV_HLS_FFT_CORE_H

#include <math.h>

#define QV_HLS_FFT_MAX_LOG2 12u
#define QV_HLS_FFT_MAX_N    (1u << QV_HLS_FFT_MAX_LOG2)

static unsigned int qv_hls_fft_bitrev(unsigned int v, unsigned int bits)
{
#pragma HLS INLINE
    unsigned int r = 0;
    for (unsigned int b = 0; b < QV_HLS_FFT_MAX_LOG2; b++) {
#pragma HLS UNROLL
        if (b < bits)
            r |= ((v >> b) & 1u) << (bits - 1 - b);
    }
    return r;
}

/* One stage: butterflies of span 2^(s+1) from (sr, si) into (dr, di). */
static void qv_hls_fft_stage(const float sr[QV_HLS_FFT_MAX_N], const float si[QV_HLS_FFT_MAX_N],
                      float dr[QV_HLS_FFT_MAX_N], float di[QV_HLS_FFT_MAX_N],
                      const float twr[QV_HLS_FFT_MAX_N / 2], const float twi[QV_HLS_FFT_MAX_N / 2],
                      unsigned int n, unsigned int log2n, unsigned int s)
{
    unsigned int h = 1u << s;
    for (unsigned int j = 0; j < n / 2; j++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
#pragma HLS DEPENDENCE variable=dr type=inter false
#pragma HLS DEPENDENCE variable=di type=inter false
        unsigned int p = j & (h - 1);
        unsigned int a = ((j >> s) << (s + 1)) | p;
        unsigned int b = a + h;
        unsigned int k = p << (log2n - 1 - s);
        float wr = twr[k], wi = twi[k];
        float tr = wr * sr[b] - wi * si[b];
        float ti = wr * si[b] + wi * sr[b];
        float ar = sr[a], ai = si[a];
        dr[a] = ar + tr;
        di[a] = ai + ti;
        dr[b] = ar - tr;
        di[b] = ai - ti;
    }
}


/* The twiddle factors of an n-point transform: e^(-2 pi i k / n), k < n/2. */
static void qv_hls_fft_twiddles_of(float twr[QV_HLS_FFT_MAX_N / 2],
                                   float twi[QV_HLS_FFT_MAX_N / 2], unsigned int n)
{
    for (unsigned int k = 0; k < n / 2; k++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
        double ang = 6.283185307179586 * (double)k / (double)n;
        twr[k] = (float)cos(ang);
        twi[k] = -(float)sin(ang);
    }
}

/* The same, for a call of the kernel. In a C run (the emulated board, a
 * csim testbench) each thread keeps the table of the last n it computed,
 * and copies it: the cos and sin took a quarter of an emulated fft (6 of
 * 21 us at n = 1024), the values are the same. The hardware computes them
 * at each call, a pipelined loop of n/2 cycles beside the stages'
 * n/2 log2(n). */
static void qv_hls_fft_twiddles(float twr[QV_HLS_FFT_MAX_N / 2],
                                float twi[QV_HLS_FFT_MAX_N / 2], unsigned int n)
{
#ifdef __SYNTHESIS__
    qv_hls_fft_twiddles_of(twr, twi, n);
#else
    static _Thread_local float kr[QV_HLS_FFT_MAX_N / 2], ki[QV_HLS_FFT_MAX_N / 2];
    static _Thread_local unsigned int kn;
    if (kn != n) {
        qv_hls_fft_twiddles_of(kr, ki, n);
        kn = n;
    }
    for (unsigned int k = 0; k < n / 2; k++) {
        twr[k] = kr[k];
        twi[k] = ki[k];
    }
#endif
}

/* All log2n stages over the bit-reversed input in (re0, im0). Even stages
 * go 0 -> 1, odd ones 1 -> 0: two call sites keep the buffers' roles
 * static, so the tool sees no read/write overlap. Returns 1 when the
 * result is in (re1, im1) (an odd number of stages), else 0. */
static unsigned int qv_hls_fft_stages(float re0[QV_HLS_FFT_MAX_N], float im0[QV_HLS_FFT_MAX_N],
                                      float re1[QV_HLS_FFT_MAX_N], float im1[QV_HLS_FFT_MAX_N],
                                      const float twr[QV_HLS_FFT_MAX_N / 2],
                                      const float twi[QV_HLS_FFT_MAX_N / 2],
                                      unsigned int n, unsigned int log2n)
{
    for (unsigned int s = 0; s < log2n; s++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=12
        if ((s & 1u) == 0)
            qv_hls_fft_stage(re0, im0, re1, im1, twr, twi, n, log2n, s);
        else
            qv_hls_fft_stage(re1, im1, re0, im0, twr, twi, n, log2n, s);
    }
    return log2n & 1u;
}

#endif
