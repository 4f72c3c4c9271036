/*
 * fir: y[i] = sum_{k<taps} h[k] * x[i-k], a direct-form FIR filter as a Vitis
 * HLS kernel written in C.
 *
 * The coefficients and a shift register of the last FIR_MAX_TAPS samples are
 * partitioned into registers, so one pipelined iteration shifts one sample in
 * and computes one output with FIR_MAX_TAPS multipliers: II=1. Unused taps
 * add nothing (FIR_SUM_TAPS), so the unrolled sum in increasing k gives the
 * reference's bits, infinite samples included. Direct form rather
 * than transposed: the transposed form carries each partial sum from one
 * sample to the next through a float add, which would force II to the adder
 * latency. Samples are read in a burst per FIR_CHUNK by the filtering loop itself and
 * written back from a local buffer by a second burst loop.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "fir.h"

/* The taps one output sums. In hardware all MAX_TAPS: the unrolled sum
 * needs a constant bound, and an unused tap is a multiplexer that adds
 * nothing (not 0 * x, which an infinite sample would turn into NaN). In a C
 * run (emulated boards, C simulation) only `taps`: the same terms in the
 * same order, without the 5x of the time it spent passing unused taps by. */
#ifdef __SYNTHESIS__
#define FIR_SUM_TAPS(taps) FIR_MAX_TAPS
#else
#define FIR_SUM_TAPS(taps) (taps)
#endif

void fir(const float *x, const float *h, float *y, unsigned int n, unsigned int taps)
{
#pragma HLS INTERFACE m_axi port=x bundle=gmem0 offset=slave depth=1048576 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=h bundle=gmem1 offset=slave depth=128
#pragma HLS INTERFACE m_axi port=y bundle=gmem2 offset=slave depth=1048576 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=x
#pragma HLS INTERFACE s_axilite port=h
#pragma HLS INTERFACE s_axilite port=y
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=taps
#pragma HLS INTERFACE s_axilite port=return

    float coef[FIR_MAX_TAPS];
    float shift[FIR_MAX_TAPS];
    float ybuf[FIR_CHUNK];
#pragma HLS ARRAY_PARTITION variable=coef complete dim=1
#pragma HLS ARRAY_PARTITION variable=shift complete dim=1

    if (taps > FIR_MAX_TAPS)
        return;

    for (unsigned int k = 0; k < FIR_MAX_TAPS; k++) {
#pragma HLS PIPELINE II=1
        coef[k] = k < taps ? h[k] : 0.0f;
        shift[k] = 0.0f;
    }

    unsigned int nchunks = n / FIR_CHUNK + (n % FIR_CHUNK != 0);
    for (unsigned int c = 0; c < nchunks; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
        unsigned int base = c * FIR_CHUNK;
        unsigned int len = n - base < FIR_CHUNK ? n - base : FIR_CHUNK;

        for (unsigned int i = 0; i < len; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
            for (unsigned int k = FIR_MAX_TAPS - 1; k > 0; k--) {
#pragma HLS UNROLL
                shift[k] = shift[k - 1];
            }
            shift[0] = x[base + i]; /* sequential: the tool infers one burst per chunk */
            float acc = 0.0f;
            for (unsigned int k = 0; k < FIR_SUM_TAPS(taps); k++) {
#pragma HLS UNROLL
                if (k < taps)
                    acc += coef[k] * shift[k];
            }
            ybuf[i] = acc;
        }
        for (unsigned int i = 0; i < len; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
            y[base + i] = ybuf[i];
        }
    }
}
