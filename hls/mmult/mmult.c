/*
 * mmult: c (m x n) = a (m x k) * b (k x n), row-major floats, as a tiled
 * Vitis HLS kernel written in C.
 *
 * For each TS x TS tile of c, the matching tiles of a and b are burst-read
 * (a on gmem0 and b on gmem1, in one pipelined loop) for every step along k,
 * and multiplied into an on-chip accumulator tile. The multiply loop runs
 * over (kk, i) with j unrolled: TS multiply-adds per cycle at II=1. Putting
 * the row i innermost means consecutive iterations update different rows of
 * the accumulator, so the float-add latency is not a loop-carried dependency
 * (a row comes back only every TS iterations, which the DEPENDENCE pragma
 * tells the tool). Tiles past the matrix edge are
 * padded with zeros, which leave every sum unchanged: each c element is still
 * summed in increasing p, as in qv_hls_mmult_ref.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "mmult.h"

void mmult(const float *a, const float *b, float *c, unsigned int m, unsigned int n,
           unsigned int k)
{
#pragma HLS INTERFACE m_axi port=a bundle=gmem0 offset=slave depth=1048576 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=b bundle=gmem1 offset=slave depth=1048576 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=c bundle=gmem2 offset=slave depth=1048576 max_write_burst_length=64
#pragma HLS INTERFACE s_axilite port=a
#pragma HLS INTERFACE s_axilite port=b
#pragma HLS INTERFACE s_axilite port=c
#pragma HLS INTERFACE s_axilite port=m
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=k
#pragma HLS INTERFACE s_axilite port=return

    float at[MMULT_TS][MMULT_TS];
    float bt[MMULT_TS][MMULT_TS];
    float ct[MMULT_TS][MMULT_TS];
    /* Each cycle reads one a value, a whole row of bt and updates a whole row
     * of ct: rows of bt and ct are split into registers/LUTRAM banks by column. */
#pragma HLS ARRAY_PARTITION variable=bt complete dim=2
#pragma HLS ARRAY_PARTITION variable=ct complete dim=2

    if (m > MMULT_MAX_DIM || n > MMULT_MAX_DIM || k > MMULT_MAX_DIM)
        return;

    for (unsigned int i0 = 0; i0 < m; i0 += MMULT_TS) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=128
        for (unsigned int j0 = 0; j0 < n; j0 += MMULT_TS) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=128
            for (unsigned int i = 0; i < MMULT_TS; i++) {
#pragma HLS PIPELINE II=1
                for (unsigned int j = 0; j < MMULT_TS; j++) {
#pragma HLS UNROLL
                    ct[i][j] = 0.0f;
                }
            }
            for (unsigned int p0 = 0; p0 < k; p0 += MMULT_TS) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=128
                /* One element of each tile per cycle; both bursts in parallel. */
                for (unsigned int t = 0; t < MMULT_TS * MMULT_TS; t++) {
#pragma HLS PIPELINE II=1
                    unsigned int r = t / MMULT_TS, q = t % MMULT_TS;
                    unsigned int ia = (i0 + r) * k + p0 + q, ib = (p0 + r) * n + j0 + q;
                    at[r][q] = (i0 + r < m && p0 + q < k) ? a[ia] : 0.0f;
                    bt[r][q] = (p0 + r < k && j0 + q < n) ? b[ib] : 0.0f;
                }
                for (unsigned int kk = 0; kk < MMULT_TS; kk++) {
                    for (unsigned int i = 0; i < MMULT_TS; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS DEPENDENCE variable=ct type=inter direction=RAW distance=32 true
                        float av = at[i][kk];
                        for (unsigned int j = 0; j < MMULT_TS; j++) {
#pragma HLS UNROLL
                            ct[i][j] += av * bt[kk][j];
                        }
                    }
                }
            }
            for (unsigned int t = 0; t < MMULT_TS * MMULT_TS; t++) {
#pragma HLS PIPELINE II=1
                unsigned int r = t / MMULT_TS, q = t % MMULT_TS;
                if (i0 + r < m && j0 + q < n)
                    c[(i0 + r) * n + j0 + q] = ct[r][q];
            }
        }
    }
}
