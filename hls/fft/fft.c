/*
 * fft: forward radix-2 decimation-in-time FFT of n complex floats (split
 * real/imaginary arrays), as a Vitis HLS kernel written in C.
 *
 * The input is burst-read into on-chip buffers in bit-reversed order and the
 * twiddle table for this n is computed once. Each of the log2(n) stages is one
 * pipelined loop of n/2 butterflies at II=1: it reads two points from one
 * buffer of a ping-pong pair and writes two to the other, so every BRAM sees
 * at most two accesses per cycle (its two ports) and no stage reads what it
 * writes. The result is burst-written from the buffer of the last stage.
 * The arithmetic is that of qv_hls_fft_ref, term for term.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "fft.h"
#include "../common/fft_core.h"

#include <math.h>

void fft(const float *in_re, const float *in_im, float *out_re, float *out_im,
         unsigned int n)
{
#pragma HLS INTERFACE m_axi port=in_re bundle=gmem0 offset=slave depth=4096 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=in_im bundle=gmem1 offset=slave depth=4096 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=out_re bundle=gmem2 offset=slave depth=4096 max_write_burst_length=256
#pragma HLS INTERFACE m_axi port=out_im bundle=gmem3 offset=slave depth=4096 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=in_re
#pragma HLS INTERFACE s_axilite port=in_im
#pragma HLS INTERFACE s_axilite port=out_re
#pragma HLS INTERFACE s_axilite port=out_im
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=return

    float re0[FFT_MAX_N], im0[FFT_MAX_N], re1[FFT_MAX_N], im1[FFT_MAX_N];
    float twr[FFT_MAX_N / 2], twi[FFT_MAX_N / 2];
#pragma HLS BIND_STORAGE variable=re0 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=im0 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=re1 type=ram_t2p impl=bram
#pragma HLS BIND_STORAGE variable=im1 type=ram_t2p impl=bram

    if (n == 0 || n > FFT_MAX_N || (n & (n - 1)) != 0)
        return;
    unsigned int log2n = 0;
    for (unsigned int b = 0; b < FFT_MAX_LOG2; b++) {
#pragma HLS UNROLL
        if ((1u << b) < n)
            log2n = b + 1;
    }

    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        unsigned int j = qv_hls_fft_bitrev(i, log2n);
        re0[j] = in_re[i];
        im0[j] = in_im[i];
    }
    qv_hls_fft_twiddles(twr, twi, n);

    unsigned int odd = qv_hls_fft_stages(re0, im0, re1, im1, twr, twi, n, log2n);
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        out_re[i] = odd ? re1[i] : re0[i];
        out_im[i] = odd ? im1[i] : im0[i];
    }
}
