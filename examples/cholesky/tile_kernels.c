/*
 * tile_kernels.c - plain C tile kernels for the Cholesky demo. Loops are
 * ordered for unit stride on column-major tiles.
 */
#include <math.h>
#include <stddef.h>

#include "tile_kernels.h"

#define AT(m, i, j) (m)[(size_t)(j) * (size_t)nb + (size_t)(i)]

int tile_potrf(double *a, int nb)
{
    for (int j = 0; j < nb; j++) {
        double d = AT(a, j, j);
        for (int k = 0; k < j; k++)
            d -= AT(a, j, k) * AT(a, j, k);
        if (!(d > 0))
            return j + 1;
        d = sqrt(d);
        AT(a, j, j) = d;
        for (int i = j + 1; i < nb; i++) {
            double s = AT(a, i, j);
            for (int k = 0; k < j; k++)
                s -= AT(a, i, k) * AT(a, j, k);
            AT(a, i, j) = s / d;
        }
        for (int i = 0; i < j; i++)
            AT(a, i, j) = 0;
    }
    return 0;
}

void tile_trsm(const double *l, double *b, int nb)
{
    /* Solve X L^T = B column by column of X: X(:,j) = (B(:,j) - sum_k<j
     * X(:,k) L(j,k)) / L(j,j). */
    for (int j = 0; j < nb; j++) {
        for (int k = 0; k < j; k++) {
            double ljk = AT(l, j, k);
            for (int i = 0; i < nb; i++)
                AT(b, i, j) -= AT(b, i, k) * ljk;
        }
        double inv = 1.0 / AT(l, j, j);
        for (int i = 0; i < nb; i++)
            AT(b, i, j) *= inv;
    }
}

void tile_syrk(const double *a, double *c, int nb)
{
    for (int j = 0; j < nb; j++)
        for (int k = 0; k < nb; k++) {
            double ajk = AT(a, j, k);
            for (int i = j; i < nb; i++)
                AT(c, i, j) -= AT(a, i, k) * ajk;
        }
}

void tile_gemm(const double *a, const double *b, double *c, int nb)
{
    for (int j = 0; j < nb; j++)
        for (int k = 0; k < nb; k++) {
            double bjk = AT(b, j, k);
            for (int i = 0; i < nb; i++)
                AT(c, i, j) -= AT(a, i, k) * bjk;
        }
}
