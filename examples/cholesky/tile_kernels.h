/*
 * tile_kernels.h - the four tile kernels of a right-looking tiled Cholesky
 * factorisation A = L L^T on nb x nb column-major double tiles.
 */
#ifndef QV_EXAMPLE_TILE_KERNELS_H
#define QV_EXAMPLE_TILE_KERNELS_H

/* A = chol(A), lower triangle; the upper triangle is zeroed. Returns 0, or
 * the 1-based column where A is not positive definite. */
int  tile_potrf(double *a, int nb);
/* B = B L^-T, L the lower triangle of l. */
void tile_trsm(const double *l, double *b, int nb);
/* C = C - A A^T (lower triangle of C). */
void tile_syrk(const double *a, double *c, int nb);
/* C = C - A B^T. */
void tile_gemm(const double *a, const double *b, double *c, int nb);

#endif
