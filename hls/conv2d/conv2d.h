/*
 * Vitis HLS top function of the conv2d kernel and the sizes its hardware is
 * built for. Shared by conv2d.c and its testbench.
 */
#ifndef QV_HLS_CONV2D_H
#define QV_HLS_CONV2D_H

/* Largest filter edge: the window and coefficient registers are MAX_K x MAX_K. */
#define CONV2D_MAX_K 7u
/* Longest image row the line buffer holds. */
#define CONV2D_MAX_W 2048u
/* Largest height the co-simulation depth covers; rows stream, so hardware takes more. */
#define CONV2D_MAX_H 2048u

/* Does nothing unless ksize is odd and <= CONV2D_MAX_K and width <= CONV2D_MAX_W. */
void conv2d(const float *in, const float *filt, float *out, unsigned int width,
            unsigned int height, unsigned int ksize);

#endif
