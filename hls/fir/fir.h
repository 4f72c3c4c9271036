/*
 * Vitis HLS top function of the fir kernel and the sizes its hardware is
 * built for. Shared by fir.c and its testbench.
 */
#ifndef QV_HLS_FIR_H
#define QV_HLS_FIR_H

/* Taps held in registers (the shift register and the coefficients). */
#define FIR_MAX_TAPS 128u
/* Largest n the co-simulation depth covers; the hardware streams any n. */
#define FIR_MAX_N 1048576u
/* Samples per burst through the local input and output buffers. */
#define FIR_CHUNK 1024u

/* Does nothing when taps > FIR_MAX_TAPS (a kernel has no error return). */
void fir(const float *x, const float *h, float *y, unsigned int n, unsigned int taps);

#endif
