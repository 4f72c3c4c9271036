/*
 * Vitis HLS top function of the mmult kernel and the sizes its hardware is
 * built for. Shared by mmult.c and its testbench.
 */
#ifndef QV_HLS_MMULT_H
#define QV_HLS_MMULT_H

/* Tile edge: one TS x TS tile of a, b and c each sits on chip. */
#define MMULT_TS 32u
/* Largest m, n and k: the co-simulation depths and the 32-bit index range. */
#define MMULT_MAX_DIM 4096u

/* Does nothing when a dimension exceeds MMULT_MAX_DIM. */
void mmult(const float *a, const float *b, float *c, unsigned int m, unsigned int n,
           unsigned int k);

#endif
