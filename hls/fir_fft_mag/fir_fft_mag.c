/*
 * fir_fft_mag: mag = |FFT(FIR(x, h))|, the fir -> fft -> magnitude chain fused
 * into one Vitis HLS kernel written in C.
 *
 * Fusing keeps the two intermediate signals on chip: the FIR loop (the same
 * register shift-line and unrolled sum as the fir kernel, II=1) writes each
 * output straight into the FFT buffer at its bit-reversed address with a zero
 * imaginary part, which also saves the FFT's own load pass; the log2(n) FFT
 * stages run between ping-pong buffers as in the fft kernel (II=1 per
 * butterfly); the last loop takes the magnitude while it burst-writes the
 * result. Three host transfers and two kernel launches of the unfused chain
 * disappear. Every arithmetic step is the one of qv_hls_fir_ref,
 * qv_hls_fft_ref and qv_hls_mag_ref, in the same order, so the result equals
 * the chain's.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "fir_fft_mag.h"
#include "../common/fft_core.h"

#include <math.h>

/* The taps one output sums. In hardware all MAX_TAPS: the unrolled sum
 * needs a constant bound, and an unused tap is a multiplexer that adds
 * nothing (not 0 * x, which an infinite sample would turn into NaN). In a C
 * run (emulated boards, C simulation) only `taps`: the same terms in the
 * same order, without the 5x of the time it spent passing unused taps by. */
#ifdef __SYNTHESIS__
#define FFM_SUM_TAPS(taps) FFM_MAX_TAPS
#else
#define FFM_SUM_TAPS(taps) (taps)
#endif

void fir_fft_mag(const float *x, const float *h, float *mag, unsigned int n,
                 unsigned int taps)
{
#pragma HLS INTERFACE m_axi port=x bundle=gmem0 offset=slave depth=4096 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=h bundle=gmem1 offset=slave depth=128
#pragma HLS INTERFACE m_axi port=mag bundle=gmem2 offset=slave depth=4096 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=x
#pragma HLS INTERFACE s_axilite port=h
#pragma HLS INTERFACE s_axilite port=mag
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=taps
#pragma HLS INTERFACE s_axilite port=return

    float coef[FFM_MAX_TAPS];
    float shift[FFM_MAX_TAPS];
#pragma HLS ARRAY_PARTITION variable=coef complete dim=1
#pragma HLS ARRAY_PARTITION variable=shift complete dim=1
    float re0[FFM_MAX_N], im0[FFM_MAX_N], re1[FFM_MAX_N], im1[FFM_MAX_N];
    float twr[FFM_MAX_N / 2], twi[FFM_MAX_N / 2];
#pragma HLS BIND_STORAGE variable=re0 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=im0 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=re1 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=im1 type=ram_t2p impl=bram

    if (n == 0 || n > FFM_MAX_N || (n & (n - 1)) != 0 || taps > FFM_MAX_TAPS)
        return;
    unsigned int log2n = 0;
    for (unsigned int b = 0; b < FFM_MAX_LOG2; b++) {
#pragma HLS UNROLL
        if ((1u << b) < n)
            log2n = b + 1;
    }

    for (unsigned int k = 0; k < FFM_MAX_TAPS; k++) {
#pragma HLS PIPELINE II=1
        coef[k] = k < taps ? h[k] : 0.0f;
        shift[k] = 0.0f;
    }

    /* FIR, written in bit-reversed order: the FFT's input permutation for free. */
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        for (unsigned int k = FFM_MAX_TAPS - 1; k > 0; k--) {
#pragma HLS UNROLL
            shift[k] = shift[k - 1];
        }
        shift[0] = x[i];
        float acc = 0.0f;
        for (unsigned int k = 0; k < FFM_SUM_TAPS(taps); k++) {
#pragma HLS UNROLL
            if (k < taps)
                acc += coef[k] * shift[k];
        }
        unsigned int j = qv_hls_fft_bitrev(i, log2n);
        re0[j] = acc;
        im0[j] = 0.0f;
    }

    qv_hls_fft_twiddles(twr, twi, n);

    unsigned int odd = qv_hls_fft_stages(re0, im0, re1, im1, twr, twi, n, log2n);
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        float r = odd ? re1[i] : re0[i];
        float m = odd ? im1[i] : im0[i];
        mag[i] = sqrtf(r * r + m * m);
    }
}
