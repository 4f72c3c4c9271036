/*
 * Vitis HLS top function of the vadd kernel, and the sizes its hardware is
 * built for. Shared by vadd.c and its testbench.
 */
#ifndef QV_HLS_VADD_H
#define QV_HLS_VADD_H

/* Elements moved per burst into the kernel's local buffers (one BRAM each). */
#define VADD_CHUNK 1024u
/* Largest n the co-simulation depth covers; the hardware itself takes any n. */
#define VADD_MAX_N 1048576u

void vadd(const float *a, const float *b, float *out, unsigned int n);

#endif
