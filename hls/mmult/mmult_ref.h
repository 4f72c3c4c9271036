/*
 * Plain C reference of the mmult kernel: a single-precision matrix product.
 * The CPU implementation of the "mmult" function and the oracle for the HLS
 * and OpenCL variants.
 */
#ifndef QV_HLS_MMULT_REF_H
#define QV_HLS_MMULT_REF_H

#include <stdint.h>

/*
 * c = a * b with row-major a (m x k), b (k x n) and c (m x n):
 * c[i*n + j] = sum_{p<k} a[i*k + p] * b[p*n + j], summed in increasing p.
 * a: m*k floats read; b: k*n floats read; c: m*n floats written, must not
 * alias a or b. Every size is valid; k = 0 gives c = 0.
 */
void qv_hls_mmult_ref(const float *a, const float *b, float *c, uint32_t m, uint32_t n,
                      uint32_t k);

#endif
