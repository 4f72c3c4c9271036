/*
 * Vitis HLS top function of the histogram kernel and the sizes its hardware
 * is built for. Shared by histogram.c and its testbench.
 */
#ifndef QV_HLS_HISTOGRAM_H
#define QV_HLS_HISTOGRAM_H

/* Bins held on chip (one BRAM18 per 512). */
#define HISTOGRAM_MAX_BINS 4096u
/* Largest n the co-simulation depth covers; the hardware streams any n. */
#define HISTOGRAM_MAX_N 1048576u

/* Does nothing unless 1 <= nbins <= HISTOGRAM_MAX_BINS. */
void histogram(const unsigned int *data, unsigned int *bins, unsigned int n,
               unsigned int nbins);

#endif
