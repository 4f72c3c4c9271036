/*
 * Reference matrix product (see mmult_ref.h): the textbook triple loop. Its
 * summation order (increasing p, starting from 0) is the one the tiled HLS
 * kernel keeps, which is why it is written this way rather than blocked.
 */
#include "mmult_ref.h"

#include <stddef.h>

void qv_hls_mmult_ref(const float *a, const float *b, float *c, uint32_t m, uint32_t n,
                      uint32_t k)
{
    for (uint32_t i = 0; i < m; i++) {
        for (uint32_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (uint32_t p = 0; p < k; p++)
                acc += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = acc;
        }
    }
}
