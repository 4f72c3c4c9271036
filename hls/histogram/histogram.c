/*
 * histogram: bins[b] = count of data[i] with floor(data[i] * nbins / 2^32)
 * == b, as a Vitis HLS kernel written in C.
 *
 * The counts live in an on-chip array. A plain read-modify-write of it per
 * value cannot run at II=1: the next value may hit the bin whose update is
 * still in flight. The loop therefore keeps the current bin's count in a
 * register and only writes it back when the bin changes (runs of equal bins
 * never touch the memory). The write-back of bin `prev` and the read of the
 * new bin happen in the same iteration to different addresses, so the
 * intra-iteration dependence is declared false; the dependence from one
 * iteration's write to the next one's read (bins A B A) is real and left to
 * the tool, which orders the write before the next read. This is the
 * register-cached histogram of the HLS literature (Kastner et al.,
 * "Parallel Programming for FPGAs"), written in C. Input is read in
 * one sequential burst; the counts are written back in one burst.
 */

/* Not clang-formatted: it would rewrite the HLS pragmas ("port=a" becomes
 * "port = a", long ones get split with backslashes) and Vitis wants them as
 * written. Lines are kept to the house style by hand. */
/* clang-format off */
#include "histogram.h"

void histogram(const unsigned int *data, unsigned int *bins, unsigned int n,
               unsigned int nbins)
{
#pragma HLS INTERFACE m_axi port=data bundle=gmem0 offset=slave depth=1048576 max_read_burst_length=256
#pragma HLS INTERFACE m_axi port=bins bundle=gmem1 offset=slave depth=4096 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=data
#pragma HLS INTERFACE s_axilite port=bins
#pragma HLS INTERFACE s_axilite port=n
#pragma HLS INTERFACE s_axilite port=nbins
#pragma HLS INTERFACE s_axilite port=return

    unsigned int hist[HISTOGRAM_MAX_BINS];
#pragma HLS BIND_STORAGE variable=hist type=ram_t2p impl=bram

    if (nbins == 0 || nbins > HISTOGRAM_MAX_BINS)
        return;

    for (unsigned int b = 0; b < nbins; b++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        hist[b] = 0;
    }

    unsigned int prev = 0;  /* bin whose count is held in acc */
    unsigned int acc = hist[0];
    for (unsigned int i = 0; i < n; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=1048576
#pragma HLS DEPENDENCE variable=hist type=intra direction=RAW false
        unsigned int b = (unsigned int)(((unsigned long long)data[i] * nbins) >> 32);
        if (b == prev) {
            acc++;
        } else {
            hist[prev] = acc;
            acc = hist[b] + 1;
            prev = b;
        }
    }
    hist[prev] = acc;

    for (unsigned int b = 0; b < nbins; b++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
        bins[b] = hist[b];
    }
}
