/*
 * C-simulation testbench of the mmult kernel: random matrices of several
 * shapes (square, tall, wide, sizes that are and are not multiples of the
 * tile, k = 0), the HLS kernel against the reference and the reference
 * against a double-precision product.
 * Tolerance, per element: |got - want| <= 1e-5 * sum_p |a[i][p] * b[p][j]|,
 * the float dot-product bound for k up to a few hundred terms, and kept
 * for larger k since random-sign rounding errors grow only like sqrt(k).
 * Returns 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/qv_hls_tb.h"
#include "mmult.h"
#include "mmult_ref.h"

#define TOL 1e-5

int main(void)
{
    static const unsigned shapes[][3] = {{1, 1, 1},    {5, 7, 3},     {32, 32, 32},
                                         {33, 31, 65}, {64, 100, 17}, {3, 4, 0},
                                         {1, 70, 300}, {96, 1, 40}};
    qv_hls_rng rng;
    int fail = 0;

    qv_hls_rng_seed(&rng, 0x5eed0004);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        unsigned m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        size_t na = (size_t)m * k + 1, nb = (size_t)k * n + 1, nc = (size_t)m * n;
        float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
        float *got = malloc(nc * sizeof *got), *want = malloc(nc * sizeof *want);
        float *oracle = malloc(nc * sizeof *oracle);
        double *bound = malloc(nc * sizeof *bound);
        if (!a || !b || !got || !want || !oracle || !bound) {
            fprintf(stderr, "mmult_tb: out of memory\n");
            return 1;
        }
        qv_hls_fill_f32(&rng, a, na);
        qv_hls_fill_f32(&rng, b, nb);
        for (unsigned i = 0; i < m; i++)
            for (unsigned j = 0; j < n; j++) {
                double sum = 0.0, mag = 0.0;
                for (unsigned p = 0; p < k; p++) {
                    double t = (double)a[(size_t)i * k + p] * b[(size_t)p * n + j];
                    sum += t;
                    mag += fabs(t);
                }
                oracle[(size_t)i * n + j] = (float)sum;
                bound[(size_t)i * n + j] = TOL * mag + 1e-30;
                got[(size_t)i * n + j] = -1e30f;
            }
        mmult(a, b, got, m, n, k);
        qv_hls_mmult_ref(a, b, want, m, n, k);
        char what[80];
        snprintf(what, sizeof what, "mmult %ux%u * %ux%u ref", m, k, k, n);
        fail |= qv_hls_check_bound(what, want, oracle, bound, nc) != 0;
        snprintf(what, sizeof what, "mmult %ux%u * %ux%u hls", m, k, k, n);
        fail |= qv_hls_check_bound(what, got, want, bound, nc) != 0;
        free(a), free(b), free(got), free(want), free(oracle), free(bound);
    }

    /* A dimension over the limit: the kernel must not touch c. */
    {
        float a = 1, b = 1, c = 7;
        mmult(&a, &b, &c, 1, 1, MMULT_MAX_DIM + 1);
        if (c != 7.0f) {
            fprintf(stderr, "mmult: k > MMULT_MAX_DIM was not refused\n");
            fail = 1;
        }
    }
    puts(fail ? "mmult csim: FAIL" : "mmult csim: PASS");
    return fail;
}
