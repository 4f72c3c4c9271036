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

#endif
