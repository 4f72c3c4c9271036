/*
 * Reference vector add (see vadd_ref.h). Kept as the obvious loop so that it
 * is the specification the HLS and OpenCL variants are checked against.
 */
#include "vadd_ref.h"

void qv_hls_vadd_ref(const float *a, const float *b, float *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}
